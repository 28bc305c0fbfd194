//! Transactions: which isolation level a history of list-append transactions keeps, and for each
//! broken one the anomalies that prove it — Adya's phenomena, found the way Elle finds them.
//!
//! A **list-append** transaction is a list of micro-operations: `[:append k v]` adds `v` to the
//! end of the list at key `k`, and `[:r k [v …]]` reads the whole list. Because every appended
//! element is unique and a read returns every element before the last, each read reveals a
//! prefix of its key's **version order**. The reads of a key must be prefixes of one another
//! (else `incompatible-order`); the longest gives the order of everything read, and an element
//! appended but never read comes after all of them.
//!
//! From the orders come the **dependencies** between transactions ([`graph`]):
//! - `ww`: T1 appended the element right before T2's (T2 overwrote T1's version);
//! - `wr`: T2 read a list whose last element T1 appended;
//! - `rw`: T1 read a list that T2's next append was not yet in (T2 came after what T1 saw);
//! - `process`: a process's transactions in the order it ran them;
//! - `realtime`: T1 completed before T2 began (kept as a transitive reduction).
//!
//! A cycle is an anomaly, named by its edges (Adya; Elle's names): `G0` (ww only, a dirty
//! write), `G1c` (ww and wr: circular information flow), `G-single` (exactly one rw: read skew),
//! `G2-item` (more rw: write skew), each `-process` or `-realtime` when it needs those edges.
//! Beside cycles ([`infer`]): `G1a` (a read of an element whose transaction aborted — a dirty
//! read), `G1b` (a read of an intermediate version: the writer appended more to the key later),
//! `duplicate-elements`, `incompatible-order`, `garbage` (an element nobody appended), and
//! `internal` (a transaction's read that does not show its own earlier appends and reads).
//!
//! The **isolation ladder** ([`Isolation`]) judges each model by the anomalies it forbids:
//!
//! ```text
//! strict-serializable → serializable → snapshot-isolation → read-committed → read-uncommitted
//!                    ↘ strong-session-serializable ↗   repeatable-read ↗
//! ```
//!
//! **rw-register** transactions (`[:w k v]`, `[:r k v]`) are judged the same way once their
//! version order is known ([`register`]): from the initial value, from each transaction's own
//! read-then-write, and — what none of the field's checkers has — from the versions a target
//! recorded (`[:w k v 17]`). Beside the cycles: `lost-update` (two transactions read the same
//! version of a key and both wrote it, Adya's P4), `cyclic-versions`, and `G-nonadjacent` (a
//! cycle whose anti-dependencies are never adjacent, which snapshot isolation forbids too).
//!
//! A model "holds" when no forbidden anomaly was found, as Elle's "valid" — sound (every
//! anomaly named is real) but not complete where an order is unknown (elements appended and
//! never read, blind writes with no version): a note says how many, never silence.

pub mod graph;
pub mod infer;
pub mod parse;
pub mod read;
pub mod register;

use crate::history::{History, Outcome};
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

pub use parse::{Micro, Txn};

/// An isolation level, strongest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    StrictSerializable,
    StrongSessionSerializable,
    Serializable,
    SnapshotIsolation,
    RepeatableRead,
    ReadCommitted,
    ReadUncommitted,
}

impl Isolation {
    pub const ALL: [Isolation; 7] = [
        Isolation::StrictSerializable,
        Isolation::StrongSessionSerializable,
        Isolation::Serializable,
        Isolation::SnapshotIsolation,
        Isolation::RepeatableRead,
        Isolation::ReadCommitted,
        Isolation::ReadUncommitted,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Isolation::StrictSerializable => "strict-serializable",
            Isolation::StrongSessionSerializable => "strong-session-serializable",
            Isolation::Serializable => "serializable",
            Isolation::SnapshotIsolation => "snapshot-isolation",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::ReadCommitted => "read-committed",
            Isolation::ReadUncommitted => "read-uncommitted",
        }
    }

    /// Whether an anomaly of `kind` breaks this model.
    pub fn forbids(self, kind: Kind) -> bool {
        use Kind::*;
        match kind {
            // A history that breaks the inference's own assumptions breaks every model.
            Garbage | DuplicateElements | IncompatibleOrder | CyclicVersions | Internal | G0 => {
                true
            }
            G1a | G1b | G1c | DirtyUpdate => self != Isolation::ReadUncommitted,
            // Repeatable read (Adya's PL-2.99) forbids every item anti-dependency cycle;
            // snapshot isolation forbids only those with a single anti-dependency.
            GSingle | LostUpdate | GNonadjacent | NonRepeatableRead => {
                self <= Isolation::SnapshotIsolation || self == Isolation::RepeatableRead
            }
            G2Item => self <= Isolation::Serializable || self == Isolation::RepeatableRead,
        }
    }

    /// Which extra orders a cycle may use and still count against this model.
    fn orders(self) -> (bool, bool) {
        match self {
            Isolation::StrictSerializable => (true, true),
            Isolation::StrongSessionSerializable => (true, false),
            _ => (false, false),
        }
    }
}

impl fmt::Display for Isolation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Isolation, String> {
        Isolation::ALL
            .into_iter()
            .find(|i| i.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Isolation::ALL.iter().map(|i| i.name()).collect();
                format!(
                    "unknown isolation level {s:?}; expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// An anomaly's class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum Kind {
    #[serde(rename = "garbage-read")]
    Garbage,
    #[serde(rename = "duplicate-elements")]
    DuplicateElements,
    #[serde(rename = "incompatible-order")]
    IncompatibleOrder,
    /// A register key whose version steps go round.
    #[serde(rename = "cyclic-versions")]
    CyclicVersions,
    /// A transaction's read that does not show its own earlier appends or reads.
    #[serde(rename = "internal")]
    Internal,
    G0,
    G1a,
    /// A write right after one whose transaction aborted, in a key's order.
    #[serde(rename = "dirty-update")]
    DirtyUpdate,
    G1b,
    G1c,
    #[serde(rename = "G-single")]
    GSingle,
    /// A transaction read a key twice and saw another transaction's write the second time.
    #[serde(rename = "non-repeatable-read")]
    NonRepeatableRead,
    /// Two transactions read the same version of a key and both wrote it (Adya's P4).
    #[serde(rename = "lost-update")]
    LostUpdate,
    /// A cycle with more than one anti-dependency, no two of them adjacent: snapshot isolation
    /// forbids it too.
    #[serde(rename = "G-nonadjacent")]
    GNonadjacent,
    #[serde(rename = "G2-item")]
    G2Item,
}

impl Kind {
    /// Adya's name, and the seeds' words beside it.
    pub fn words(self) -> &'static str {
        match self {
            Kind::Garbage => "garbage read (an element nobody appended)",
            Kind::DuplicateElements => "duplicate elements",
            Kind::IncompatibleOrder => "incompatible order",
            Kind::CyclicVersions => "cyclic versions (no one order of a key's writes)",
            Kind::Internal => "internal inconsistency (a transaction does not see its own appends)",
            Kind::G0 => "G0 (dirty write)",
            Kind::G1a => "G1a (aborted read: a dirty read)",
            Kind::DirtyUpdate => "dirty update (a write on top of an aborted one)",
            Kind::G1b => "G1b (intermediate read)",
            Kind::G1c => "G1c (circular information flow)",
            Kind::GSingle => "G-single (read skew: a non-repeatable read)",
            Kind::LostUpdate => "lost update (P4)",
            Kind::NonRepeatableRead => "non-repeatable read (a fuzzy read, P2)",
            Kind::GNonadjacent => "G-nonadjacent (non-adjacent anti-dependencies)",
            Kind::G2Item => "G2-item (write skew)",
        }
    }
}

/// One anomaly: its class, whether the cycle needed process or realtime order, a sentence, and
/// for a cycle its steps in words.
#[derive(Clone, Debug, Serialize)]
pub struct Anomaly {
    pub kind: Kind,
    /// `process` or `realtime` when the cycle needs that order (`G-single-realtime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<&'static str>,
    pub sentence: String,
    /// For a cycle: each step, `T1 < T2 because …`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<String>,
    /// For a cycle: each step's dependency (`ww`, `wr`, `rw`, `process`, `realtime`), from
    /// `txns[i]` to `txns[i + 1]` (the last back to the first).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deps: Vec<&'static str>,
    /// The transactions involved (history operation ids).
    pub txns: Vec<usize>,
}

impl Anomaly {
    /// `G-single`, `G2-item-realtime`, …
    pub fn name(&self) -> String {
        let base = match self.kind {
            Kind::Garbage => "garbage-read",
            Kind::DuplicateElements => "duplicate-elements",
            Kind::IncompatibleOrder => "incompatible-order",
            Kind::CyclicVersions => "cyclic-versions",
            Kind::Internal => "internal",
            Kind::G0 => "G0",
            Kind::G1a => "G1a",
            Kind::DirtyUpdate => "dirty-update",
            Kind::G1b => "G1b",
            Kind::G1c => "G1c",
            Kind::GSingle => "G-single",
            Kind::LostUpdate => "lost-update",
            Kind::NonRepeatableRead => "non-repeatable-read",
            Kind::GNonadjacent => "G-nonadjacent",
            Kind::G2Item => "G2-item",
        };
        match self.order {
            Some(o) => format!("{base}-{o}"),
            None => base.to_string(),
        }
    }

    /// Whether this anomaly breaks `model`.
    pub fn breaks(&self, model: Isolation) -> bool {
        let (process, realtime) = model.orders();
        let order_ok = match self.order {
            None => true,
            Some("process") => process,
            Some(_) => realtime,
        };
        order_ok && model.forbids(self.kind)
    }
}

/// One model's verdict.
#[derive(Clone, Debug, Serialize)]
pub struct LevelResult {
    pub model: Isolation,
    /// `holds` or `violated`.
    pub standing: crate::consistency::Standing,
    /// The anomalies that break it (indices into [`Report::anomalies`]).
    pub anomalies: Vec<usize>,
}

/// The isolation ladder of one history.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    pub source: String,
    pub workload: &'static str,
    pub transactions: usize,
    pub levels: Vec<LevelResult>,
    /// The strongest models that hold.
    pub strongest: Vec<Isolation>,
    pub anomalies: Vec<Anomaly>,
    /// What the check could not see, in words.
    pub notes: Vec<String>,
    /// How long each phase took, in seconds (not serialized: a report is the same every time).
    #[serde(skip)]
    pub phases: Vec<(&'static str, f64)>,
}

impl Report {
    pub fn standing(&self, model: Isolation) -> crate::consistency::Standing {
        self.levels
            .iter()
            .find(|l| l.model == model)
            .map_or(crate::consistency::Standing::Unknown, |l| l.standing)
    }
}

/// Checks a transactional history: the anomalies, then the ladder. An error names the
/// operation that breaks an assumption the inference needs (an element or value written twice,
/// a micro-op of the wrong shape, list and register micro-ops mixed).
pub fn check(history: &History) -> Result<Report, String> {
    let started = std::time::Instant::now();
    let txns = parse::transactions(history)?;
    let mut report = check_transactions(&history.source_name, &txns)?;
    report
        .phases
        .insert(0, ("transactions", started.elapsed().as_secs_f64()));
    Ok(report)
}

/// How long each phase took, as [`Report::phases`] keeps it.
struct Clock(std::time::Instant, Vec<(&'static str, f64)>);

impl Clock {
    fn lap(&mut self, phase: &'static str) {
        let now = std::time::Instant::now();
        self.1.push((phase, (now - self.0).as_secs_f64()));
        self.0 = now;
    }
}

/// `1 write was`, `3 writes were`.
fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// `; 4 of them by transactions whose outcome is unknown (which most likely never happened)`.
fn unknown_share(unknown: usize, of: usize) -> String {
    match unknown {
        0 => String::new(),
        n if n == of => "; all by transactions whose outcome is unknown (which most likely never happened)".into(),
        n => format!("; {n} of them by transactions whose outcome is unknown (which most likely never happened)"),
    }
}

/// The cycles of the dependency graph, in words.
fn cycles(txns: &[Txn], data: graph::Data, clock: &mut Clock) -> Vec<Anomaly> {
    let g = graph::Graph::build(txns, data);
    clock.lap("graph");
    let found = g.find_cycles();
    clock.lap("cycles");
    let explained = g.explain(txns, &found);
    clock.lap("explain");
    explained
}

/// [`check`], on transactions already read (by [`read::fast`] or [`parse::transactions`]).
pub fn check_transactions(source: &str, txns: &[Txn]) -> Result<Report, String> {
    let mut clock = Clock(std::time::Instant::now(), Vec::new());
    let workload = parse::workload(txns)?;
    let mut notes = Vec::new();
    let (mut anomalies, unseen) = match workload {
        "list-append" => {
            let inferred = infer::list_append(txns)?;
            clock.lap("infer");
            let cycles = cycles(txns, graph::Data::Lists(&inferred), &mut clock);
            let unread = inferred.unread_count();
            let by_unknown = inferred.unread_by(txns, Outcome::Info);
            let note = (unread > 0).then(|| {
                format!(
                    "{} never read: their order after the last read is not known, so a cycle through them may go unseen",
                    plural(unread, "appended element was", "appended elements were"),
                ) + &unknown_share(by_unknown, unread)
            });
            (
                inferred
                    .anomalies
                    .into_iter()
                    .chain(cycles)
                    .collect::<Vec<_>>(),
                note,
            )
        }
        _ => {
            let regs = register::rw_register(txns)?;
            clock.lap("infer");
            let cycles = cycles(txns, graph::Data::Registers(&regs), &mut clock);
            let note = (regs.unordered > 0).then(|| {
                format!(
                    "{}{}: {} order among the key's other writes is not known, so a cycle through {} may go unseen",
                    plural(regs.unordered, "write was", "writes were"),
                    " placed only after the initial value (no version recorded, no transaction read or wrote the key before)",
                    if regs.unordered == 1 { "its" } else { "their" },
                    if regs.unordered == 1 { "it" } else { "them" },
                ) + &unknown_share(regs.unordered_unknown, regs.unordered)
            });
            (
                regs.anomalies.into_iter().chain(cycles).collect::<Vec<_>>(),
                note,
            )
        }
    };
    anomalies.sort_by_key(|a| a.kind);
    notes.extend(unseen);
    let levels: Vec<LevelResult> = Isolation::ALL
        .into_iter()
        .map(|model| {
            let breaking: Vec<usize> = (0..anomalies.len())
                .filter(|&i| anomalies[i].breaks(model))
                .collect();
            LevelResult {
                model,
                standing: if breaking.is_empty() {
                    crate::consistency::Standing::Holds
                } else {
                    crate::consistency::Standing::Violated
                },
                anomalies: breaking,
            }
        })
        .collect();
    let holding: BTreeSet<Isolation> = levels
        .iter()
        .filter(|l| l.standing == crate::consistency::Standing::Holds)
        .map(|l| l.model)
        .collect();
    // The strongest that hold: those no stronger holding model implies.
    let strongest = holding
        .iter()
        .copied()
        .filter(|&m| !holding.iter().any(|&h| implies(h, m)))
        .collect();
    Ok(Report {
        source: source.to_string(),
        workload,
        transactions: txns.len(),
        phases: clock.1,
        levels,
        strongest,
        anomalies,
        notes,
    })
}

/// Lost updates (Adya's P4): two transactions that read the same version of a key and both
/// wrote it. `reads` gives `(transaction index, key, version)` for each read an ok transaction
/// made of a key before it wrote that key; `show` puts a key's version in words.
pub(crate) fn lost_updates<V: std::hash::Hash + Eq>(
    txns: &[Txn],
    reads: Vec<(usize, &str, V)>,
    show: impl Fn(&str, &V) -> String,
) -> Vec<Anomaly> {
    let mut by_version: std::collections::HashMap<(&str, V), Vec<usize>> =
        std::collections::HashMap::new();
    for (t, key, v) in reads {
        by_version.entry((key, v)).or_default().push(t);
    }
    let mut found: Vec<Anomaly> = by_version
        .into_iter()
        .filter(|(_, ts)| ts.len() > 1)
        .map(|((key, v), ts)| {
            let names: Vec<String> = ts.iter().map(|&t| txns[t].name()).collect();
            Anomaly {
                kind: Kind::LostUpdate,
                order: None,
                sentence: format!(
                    "lost update: {} all read key {key} as {} and all wrote it: each overwrote the others' updates without seeing them",
                    names.join(", "),
                    show(key, &v)
                ),
                steps: Vec::new(),
                deps: Vec::new(),
                txns: ts.iter().map(|&t| txns[t].id).collect(),
            }
        })
        .collect();
    found.sort_by_key(|a| a.txns.clone());
    found
}

/// Whether `strong` implies `weak` (and is not the same model).
pub fn implies(strong: Isolation, weak: Isolation) -> bool {
    use Isolation::*;
    if strong == weak {
        return false;
    }
    match strong {
        StrictSerializable => true,
        StrongSessionSerializable => weak != StrictSerializable,
        Serializable => matches!(
            weak,
            SnapshotIsolation | RepeatableRead | ReadCommitted | ReadUncommitted
        ),
        SnapshotIsolation | RepeatableRead => matches!(weak, ReadCommitted | ReadUncommitted),
        ReadCommitted => weak == ReadUncommitted,
        ReadUncommitted => false,
    }
}

/// The ladder and the anomalies in words, for the terminal.
pub fn render(r: &Report, shown: usize) -> String {
    use fmt::Write as _;
    let mut out = format!(
        "{}: isolation ({} of {} transaction{})\n",
        r.source,
        r.workload,
        r.transactions,
        if r.transactions == 1 { "" } else { "s" }
    );
    for l in &r.levels {
        let mark = match l.standing {
            crate::consistency::Standing::Holds => "✓",
            crate::consistency::Standing::Violated => "✗",
            crate::consistency::Standing::Unknown => "?",
        };
        let names: BTreeSet<String> = l.anomalies.iter().map(|&i| r.anomalies[i].name()).collect();
        let _ = writeln!(
            out,
            "  {mark} {:<28} {}{}",
            l.model.name(),
            l.standing.words(),
            if names.is_empty() {
                String::new()
            } else {
                format!("  {}", names.into_iter().collect::<Vec<_>>().join(", "))
            }
        );
    }
    let strongest: Vec<&str> = r.strongest.iter().map(|m| m.name()).collect();
    let _ = writeln!(
        out,
        "  strongest model that holds: {}",
        if strongest.is_empty() {
            "none".into()
        } else {
            strongest.join(", ")
        }
    );
    for n in &r.notes {
        let _ = writeln!(out, "  note: {n}");
    }
    for (i, a) in r.anomalies.iter().enumerate().take(shown) {
        let title = match a.order {
            Some(_) => format!("{} — {}", a.name(), a.kind.words()),
            None => a.kind.words().to_string(),
        };
        let _ = writeln!(out, "\n  {}. {title}", i + 1);
        let _ = writeln!(out, "     {}", a.sentence);
        for (j, step) in a.steps.iter().enumerate() {
            let _ = writeln!(out, "     {}. {step}", j + 1);
        }
    }
    if r.anomalies.len() > shown {
        let _ = writeln!(
            out,
            "\n  … and {} more anomalies — `--all` lists them",
            r.anomalies.len() - shown
        );
    }
    out
}

#[cfg(test)]
mod register_tests;
#[cfg(test)]
mod tests;
