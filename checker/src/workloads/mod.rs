//! # The seeds' other promises: banks, sets, counters, locks, unique ids and queues
//!
//! Registers and transactions are judged by searching for an order ([`crate::search`],
//! [`crate::txn`]). The workloads here promise something narrower, and each has a direct
//! decision that needs no search — which is why they run in one pass over the history:
//!
//! | workload | the promise | what breaks it |
//! |---|---|---|
//! | [`bank`] | transfers move money; the total never changes | a read whose balances do not sum to the total, a negative or missing balance, an account nobody opened |
//! | [`set`] | an acknowledged add is in every read that begins after it | an add lost (absent from the last reads), a value nobody added, a value read twice; stale reads are reported with how long they lasted |
//! | [`counter`] | a read is at least every acknowledged add before it and at most every attempted add by its end | a read outside those bounds |
//! | [`lock`] | at most one holder at a time | two holders at once, proven by each holder's acknowledged acquire and release |
//! | [`ids`] | no id is handed out twice | the same id to two operations; per node, ids that go back, and the gaps between ids |
//! | [`queue`] | every acknowledged message is delivered, once | a message lost, delivered twice, never sent, or (FIFO) out of order |
//!
//! Every checker reads faultline's histories and what Jepsen writes for the same workload (the
//! functions `:transfer`/`:read`, `:add`/`:read`, `:acquire`/`:release`, `:generate`,
//! `:enqueue`/`:dequeue`/`:drain`), decides in linear or `n log n` time, and never invents a
//! verdict: a history that tested nothing (a set never read, a bank never read) is `unknown` with
//! the reason; an operation of the wrong shape is one error naming its line.
//!
//! Time: an operation's invocation and completion are its places in the history's event order,
//! so the checks hold for histories without clocks too; sentences print seconds when the
//! history has them.

pub mod bank;
pub mod counter;
pub mod ids;
pub mod lock;
pub mod queue;
pub mod set;

use crate::consistency::words::Clock;
use crate::consistency::Standing;
use crate::history::{History, Operation, Outcome};
use serde::Serialize;

/// The workloads this module judges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    Bank,
    Set,
    Counter,
    Lock,
    UniqueIds,
    Queue,
}

impl Workload {
    pub const ALL: [Workload; 6] = [
        Workload::Bank,
        Workload::Set,
        Workload::Counter,
        Workload::Lock,
        Workload::UniqueIds,
        Workload::Queue,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Workload::Bank => "bank",
            Workload::Set => "set",
            Workload::Counter => "counter",
            Workload::Lock => "lock",
            Workload::UniqueIds => "unique-ids",
            Workload::Queue => "queue",
        }
    }

    /// The workload a name from [`crate::model::other_workload`] or the command line means.
    pub fn named(name: &str) -> Option<Workload> {
        Workload::ALL.into_iter().find(|w| w.name() == name)
    }

    /// Judges `history` as this workload.
    pub fn check(self, history: &History, opts: &Options) -> Result<Judgement, String> {
        match self {
            Workload::Bank => bank::check(history, opts),
            Workload::Set => set::check(history, opts),
            Workload::Counter => counter::check(history),
            Workload::Lock => lock::check(history, opts),
            Workload::UniqueIds => ids::check(history),
            Workload::Queue => queue::check(history, opts),
        }
    }
}

impl std::fmt::Display for Workload {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What a history cannot say about itself: the test's parameters, as Jepsen's checkers take
/// them from the test map.
#[derive(Clone, Debug, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct Options {
    /// The bank's total; `None` takes the total most reads saw, and says so.
    pub bank_total: Option<i64>,
    /// The bank's accounts; `None` takes every account a transfer or read names.
    pub accounts: Option<Vec<String>>,
    /// The bank lets accounts be overdrawn (Jepsen's `:negative-balances?`): a negative
    /// balance is no violation.
    pub negative_balances: bool,
    /// Sets: a stale read is a violation (Jepsen's set-full `:linearizable? true`).
    pub set_linearizable: bool,
    /// Locks carry leases: a release that fails means the lease had run out, not that the lock
    /// is still held.
    pub leased_locks: bool,
    /// Queues deliver in the order messages were enqueued.
    pub fifo: bool,
    /// Queues promise at-least-once delivery (RabbitMQ's, Jepsen's total-queue): a message
    /// received twice is reported, not a violation; only a lost one is.
    #[serde(default)]
    pub at_least_once: bool,
}

/// One violation, or one fact worth a person's attention, in words, with the operations that
/// prove it (their ids in the history).
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Finding {
    /// A short name: `wrong-total`, `lost`, `double-holder`, `duplicate`, …
    pub kind: &'static str,
    pub sentence: String,
    pub ops: Vec<usize>,
}

/// A workload checker's answer.
#[derive(Clone, Debug, Serialize)]
pub struct Judgement {
    pub workload: Workload,
    pub standing: Standing,
    /// Why it is unknown, when it is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// What breaks the promise, at most [`SHOWN`] of each kind (the counts have them all).
    pub violations: Vec<Finding>,
    /// What a person should know and does not break it (stale reads, gaps, assumptions).
    pub notes: Vec<String>,
    /// Figures: operations of each kind, anomalies of each kind.
    pub counts: std::collections::BTreeMap<String, u64>,
}

/// Violations of one kind kept in full; the rest are counted.
pub const SHOWN: usize = 10;

impl Judgement {
    fn new(workload: Workload) -> Judgement {
        Judgement {
            workload,
            standing: Standing::Holds,
            why: None,
            violations: Vec::new(),
            notes: Vec::new(),
            counts: Default::default(),
        }
    }

    /// Adds one to the count called `what`.
    fn count(&mut self, what: &str) {
        *self.counts.entry(what.to_string()).or_default() += 1;
    }

    /// Records a violation; the first [`SHOWN`] of each kind keep their sentence.
    fn violation(
        &mut self,
        kind: &'static str,
        ops: Vec<usize>,
        sentence: impl FnOnce() -> String,
    ) {
        self.standing = Standing::Violated;
        self.count(kind);
        if self.counts[kind] as usize <= SHOWN {
            self.violations.push(Finding {
                kind,
                sentence: sentence(),
                ops,
            });
        }
    }

    /// Records what the test allows but a person should see (a redelivery under at-least-once):
    /// counted, the first [`SHOWN`] of each kind in the notes.
    fn allowed(&mut self, kind: &'static str, sentence: impl FnOnce() -> String) {
        self.count(kind);
        if self.counts[kind] as usize <= SHOWN {
            self.notes.push(format!("{kind} (allowed): {}", sentence()));
        }
    }

    /// Nothing was violated, and nothing was tested either: unknown, with why.
    fn untested(mut self, why: impl Into<String>) -> Judgement {
        if self.standing == Standing::Holds {
            self.standing = Standing::Unknown;
            self.why = Some(why.into());
        }
        self
    }

    /// The judgement in words, one line per violation and note, as `faultline check` prints it.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        for v in &self.violations {
            out.push(format!("✗ {}: {}", v.kind, v.sentence));
        }
        for (kind, &n) in &self.counts {
            let shown = self.violations.iter().filter(|v| v.kind == kind).count();
            if n as usize > shown && shown > 0 {
                out.push(format!("  … and {} more {kind}", n as usize - shown));
            }
        }
        out.extend(self.notes.iter().map(|n| format!("· {n}")));
        out
    }
}

/// One edge of an operation on the history's time line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Edge {
    Invoke,
    Complete,
}

/// Every operation's invocation and completion (operations still open have none) in the
/// history's event order: `(op index, edge)`. `n log n` in the operations.
pub fn timeline(history: &History) -> Vec<(usize, Edge)> {
    let mut edges: Vec<(usize, usize, Edge)> = Vec::with_capacity(history.ops.len() * 2);
    for (i, o) in history.ops.iter().enumerate() {
        edges.push((o.invoke_event, i, Edge::Invoke));
        if let Some(c) = o.complete_event {
            edges.push((c, i, Edge::Complete));
        }
    }
    edges.sort_unstable_by_key(|e| e.0);
    edges.into_iter().map(|(_, i, e)| (i, e)).collect()
}

/// The place of an operation's completion in event order (`usize::MAX` when it never completed).
pub fn completed(o: &Operation) -> usize {
    o.complete_event.unwrap_or(usize::MAX)
}

/// `p3` and how to say when: shared by every checker's sentences.
pub struct Say {
    clock: Clock,
}

impl Say {
    pub fn new(history: &History) -> Say {
        Say {
            clock: Clock {
                timed: history.timed,
            },
        }
    }

    pub fn invoked(&self, o: &Operation) -> String {
        self.clock.at(o.invoke_time)
    }

    pub fn completed(&self, o: &Operation) -> String {
        match o.complete_time {
            Some(t) => self.clock.at(t),
            None => "the end (never completed)".into(),
        }
    }

    pub fn at(&self, t: u64) -> String {
        self.clock.at(t)
    }

    /// `p3` (and `via n2` when the history names the node).
    pub fn who(o: &Operation) -> String {
        match &o.node {
            Some(n) => format!("p{} (via {n})", o.process),
            None => format!("p{}", o.process),
        }
    }
}

/// One error for an operation of the wrong shape: where it is and what it should have been.
pub fn shape_error(history: &History, o: &Operation, what: &str) -> String {
    let line = match o.outcome {
        Outcome::Ok => o.complete_line.unwrap_or(o.invoke_line),
        _ => o.invoke_line,
    };
    format!("{}:{line}: {what}", history.source_name)
}

/// Operations whose function is none of `known`, as one error naming the first.
pub fn only(history: &History, workload: Workload, known: &[&str]) -> Result<(), String> {
    match history.ops.iter().find(|o| !known.contains(&o.f.as_str())) {
        None => Ok(()),
        Some(o) => Err(shape_error(
            history,
            o,
            &format!(
                "a {workload} history has only {} operations; this one is {:?}",
                known.join("/"),
                o.f.as_str()
            ),
        )),
    }
}

#[cfg(test)]
mod tests;
