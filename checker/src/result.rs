//! What a check found, as plain data: verdicts overall and per key, and for a violation the
//! counterexample a person can read. Reports (text, JSON, HTML) consume these types and never
//! reach into the search.

use crate::history::Outcome;
use serde::Serialize;
use std::time::Duration;

/// A verdict. Composition follows Jepsen: a violation anywhere outranks unknown, which outranks
/// valid; the variants are ordered so, and the worse of two is the greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Linearizable,
    /// The check could not decide (time budget, or stopped early); never a guess.
    Unknown,
    NotLinearizable,
}

impl Verdict {
    /// The worse of two verdicts.
    pub fn and(self, other: Verdict) -> Verdict {
        self.max(other)
    }

    /// The process exit code that stands for this verdict: 0 holds, 1 violated, 2 unknown.
    pub fn exit_code(self) -> i32 {
        crate::consistency::Standing::from(self).exit_code()
    }

    pub fn words(self) -> &'static str {
        match self {
            Verdict::Linearizable => "linearizable",
            Verdict::NotLinearizable => "not linearizable",
            Verdict::Unknown => "unknown",
        }
    }
}

/// The result of checking one history.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Where the history came from.
    pub source: String,
    /// The data type the history was checked against.
    pub model: &'static str,
    pub verdict: Verdict,
    /// Client operations in the history (all outcomes).
    pub ops: usize,
    /// Operations the search considered (failed ones and indeterminate reads are left out).
    pub ops_checked: usize,
    #[serde(serialize_with = "as_millis")]
    pub elapsed_ms: Duration,
    /// One entry per key, in order of first appearance.
    pub keys: Vec<KeyReport>,
}

impl Report {
    /// The keys that are not linearizable.
    pub fn failures(&self) -> impl Iterator<Item = &KeyReport> {
        self.keys
            .iter()
            .filter(|k| k.verdict == Verdict::NotLinearizable)
    }
}

/// What decided a key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub enum DecidedBy {
    /// The WGL search.
    #[default]
    #[serde(rename = "search")]
    Search,
    /// The exact check for registers whose written values are unique ([`crate::unique`]).
    #[serde(rename = "unique values: exact")]
    UniqueValues,
}

impl DecidedBy {
    pub fn words(self) -> &'static str {
        match self {
            DecidedBy::Search => "search",
            DecidedBy::UniqueValues => "unique values: exact",
        }
    }
}

/// The result for one key.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct KeyReport {
    /// `None` for the single register of a history without keys.
    pub key: Option<String>,
    pub verdict: Verdict,
    pub ops: usize,
    /// What decided it.
    pub decided_by: DecidedBy,
    /// When not linearizable and decided exactly: ids of a few operations that fail on their
    /// own, where a witness starts.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub core: Vec<usize>,
    /// Search steps taken and distinct configurations visited (a measure of difficulty).
    pub steps: u64,
    pub configurations: usize,
    /// Why the verdict is unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub counterexample: Option<Counterexample>,
}

/// Why a key is not linearizable: the longest prefix that could be linearized, the state after
/// it, and the operation that cannot follow.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Counterexample {
    /// Operations in the order they took effect.
    pub prefix: Vec<OpView>,
    /// The model state after the prefix.
    pub state: String,
    /// The operation that had to take effect before it returned, and could not.
    pub blocked: OpView,
    /// Other operations invoked by then that had not taken effect either.
    pub pending: Vec<OpView>,
    /// One paragraph in words.
    pub explanation: String,
}

/// An operation as reports show it.
#[derive(Clone, Debug, Serialize)]
pub struct OpView {
    /// Index among the history's operations.
    pub id: usize,
    pub process: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// e.g. `write 3`, `read → nil`, `cas 1 → 2`.
    pub description: String,
    pub outcome: Outcome,
    pub invoke_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<u64>,
    pub invoke_line: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_line: Option<usize>,
    /// The node that answered, when the history says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
}

impl OpView {
    /// `op` as reports show it, described as given.
    pub fn of(op: &crate::history::Operation, description: String) -> OpView {
        OpView {
            id: op.id,
            process: op.process,
            key: op.key_string(),
            description,
            outcome: op.outcome,
            invoke_time: op.invoke_time,
            complete_time: op.complete_time,
            invoke_line: op.invoke_line,
            complete_line: op.complete_line,
            node: op.node.as_ref().map(|n| n.to_string()),
        }
    }
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}
