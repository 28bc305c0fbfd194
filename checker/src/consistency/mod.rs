//! The consistency ladder: which promises a history keeps, from linearizability down to eventual
//! consistency, and for each broken one a named anomaly with a witness.
//!
//! ```text
//! linearizable → sequential → PRAM → monotonic reads, monotonic writes, read-your-writes
//!                           ↘ writes-follow-reads                                  eventual
//! ```
//!
//! - **linearizable**: [`crate::check()`], per key (linearizability is compositional).
//! - **sequential**: one order of all operations that keeps each process's own order, real time
//!   ignored ([`sequential`]). It is implied by linearizability; otherwise it is searched per key
//!   and then, because it is not compositional, over all keys together.
//! - **session guarantees** and **PRAM** (= monotonic reads + monotonic writes +
//!   read-your-writes), per process and key, over each key's version order ([`session`],
//!   [`versions`]). These are judged against the order the *target* reported (or, without
//!   versions, real time), while sequential consistency may choose any order — so a history can
//!   be sequential and still break a session guarantee against the target's own versions.
//! - **eventual**: after the faults were healed and the cluster recovered, the final reads of a
//!   key (`phase: final`) agree on every node, and nothing was read that nobody wrote.
//!
//! A value read that nobody wrote breaks every model; it is reported once and counted against
//! each. Every anomaly carries a witness: the operations that prove it, shrunk ([`shrink`]) until
//! removing any one more (by the shrinking rules) makes the violation disappear.

pub mod sequential;
pub mod session;
pub mod shrink;
pub mod versions;
pub mod words;

use crate::check::{check_with, fails_by_search, fails_linearizability, Options};
use crate::history::{History, HistoryError, Operation, Outcome};
use crate::model::{Model, ModelKind};
use crate::models::{KvAppend, Register};
use crate::result::{OpView, Report, Verdict};
use crate::search::Progress;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};
use versions::{consumed, produced, text, KeyVersions, Source};

/// A consistency model of the ladder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Level {
    Linearizable,
    Sequential,
    Pram,
    MonotonicReads,
    MonotonicWrites,
    ReadYourWrites,
    WritesFollowReads,
    Eventual,
}

impl Level {
    /// Strongest first.
    pub const ALL: [Level; 8] = [
        Level::Linearizable,
        Level::Sequential,
        Level::Pram,
        Level::MonotonicReads,
        Level::MonotonicWrites,
        Level::ReadYourWrites,
        Level::WritesFollowReads,
        Level::Eventual,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Level::Linearizable => "linearizable",
            Level::Sequential => "sequential",
            Level::Pram => "pram",
            Level::MonotonicReads => "monotonic-reads",
            Level::MonotonicWrites => "monotonic-writes",
            Level::ReadYourWrites => "read-your-writes",
            Level::WritesFollowReads => "writes-follow-reads",
            Level::Eventual => "eventual",
        }
    }

    /// The models this one directly implies.
    pub fn implies(self) -> &'static [Level] {
        match self {
            Level::Linearizable => &[Level::Sequential],
            Level::Sequential => &[Level::Pram, Level::WritesFollowReads],
            Level::Pram => &[
                Level::MonotonicReads,
                Level::MonotonicWrites,
                Level::ReadYourWrites,
            ],
            _ => &[],
        }
    }

    /// Whether this model implies `other` (directly or through others).
    pub fn stronger_than(self, other: Level) -> bool {
        self.implies()
            .iter()
            .any(|&l| l == other || l.stronger_than(other))
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::str::FromStr for Level {
    type Err = String;
    fn from_str(s: &str) -> Result<Level, String> {
        Level::ALL
            .into_iter()
            .find(|l| l.name() == s)
            .ok_or_else(|| {
                format!(
                    "unknown consistency model {s:?}; expected one of {}",
                    Level::ALL.map(Level::name).join(", ")
                )
            })
    }
}

/// A set of models as the command line names them: `all`, or names separated by commas.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct LevelSet(pub Vec<Level>);

impl std::str::FromStr for LevelSet {
    type Err = String;
    fn from_str(s: &str) -> Result<LevelSet, String> {
        if s == "all" {
            return Ok(LevelSet(Level::ALL.to_vec()));
        }
        let mut levels: Vec<Level> = s
            .split(',')
            .map(|p| p.trim().parse())
            .collect::<Result<_, _>>()?;
        levels.sort();
        levels.dedup();
        Ok(LevelSet(levels))
    }
}

/// Whether a history keeps a model's promise. Ordered by severity, so the worse of two is the
/// greater.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Standing {
    Holds,
    /// Could not be decided; the reason says why. Never a guess.
    Unknown,
    Violated,
}

impl Standing {
    /// The worse of two.
    pub fn and(self, other: Standing) -> Standing {
        self.max(other)
    }

    /// 0 holds, 1 violated, 2 unknown.
    pub fn exit_code(self) -> i32 {
        match self {
            Standing::Holds => 0,
            Standing::Violated => 1,
            Standing::Unknown => 2,
        }
    }

    pub fn words(self) -> &'static str {
        match self {
            Standing::Holds => "holds",
            Standing::Violated => "violated",
            Standing::Unknown => "unknown",
        }
    }
}

impl From<Verdict> for Standing {
    fn from(v: Verdict) -> Standing {
        match v {
            Verdict::Linearizable => Standing::Holds,
            Verdict::NotLinearizable => Standing::Violated,
            Verdict::Unknown => Standing::Unknown,
        }
    }
}

/// A named kind of anomaly.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AnomalyKind {
    /// A read returned a value already overwritten by an acknowledged write.
    StaleRead,
    /// An acknowledged write that no later read ever saw, nor anything written after it.
    LostWrite,
    /// No order respecting real time explains these operations (none of the above shapes).
    NotLinearizable,
    /// No order keeping each process's own order explains these operations.
    NotSequential,
    NonMonotonicRead,
    NonMonotonicWrite,
    ReadYourWritesViolation,
    WritesFollowReadsViolation,
    /// A value nobody wrote.
    PhantomRead,
    /// A value whose only write failed.
    ReadOfFailedWrite,
    /// The nodes disagree after the heal and the recovery wait.
    DivergenceAfterHeal,
}

impl AnomalyKind {
    pub fn words(self) -> &'static str {
        match self {
            AnomalyKind::StaleRead => "stale read",
            AnomalyKind::LostWrite => "lost write",
            AnomalyKind::NotLinearizable => "not linearizable",
            AnomalyKind::NotSequential => "not sequentially consistent",
            AnomalyKind::NonMonotonicRead => "non-monotonic read",
            AnomalyKind::NonMonotonicWrite => "non-monotonic write",
            AnomalyKind::ReadYourWritesViolation => "read-your-writes violation",
            AnomalyKind::WritesFollowReadsViolation => "writes-follow-reads violation",
            AnomalyKind::PhantomRead => "phantom read",
            AnomalyKind::ReadOfFailedWrite => "read of a failed write",
            AnomalyKind::DivergenceAfterHeal => "divergence after heal",
        }
    }
}

/// One anomaly, in words, with the operations that prove it.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Anomaly {
    pub kind: AnomalyKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// One sentence a person can read.
    pub sentence: String,
    /// The smallest set of operations found that still shows the anomaly, in invocation order.
    pub witness: Vec<OpView>,
    /// Removing any one more operation the shrinking rules allow makes it pass.
    pub minimal: bool,
    /// The models it breaks.
    pub breaks: Vec<Level>,
    /// Set when the witness, checked again on its own by an independent method (the search
    /// rather than the exact shortcut, or the session check on the witness alone), did not
    /// fail: the two checks disagree, which is a bug in faultline. The witness is then not
    /// shown, and a model resting on this anomaly alone is unknown, not violated.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unconfirmed: Option<String>,
}

/// One model's verdict.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct LevelResult {
    pub model: Level,
    pub standing: Standing,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// How many violations were found (each anomaly below stands for one or more).
    pub violations: usize,
    /// Indices into [`Ladder::anomalies`].
    pub anomalies: Vec<usize>,
}

/// Where the keys' version orders came from.
#[derive(Clone, Debug, Default, Serialize)]
pub struct VersionSummary {
    /// Keys ordered by versions the target recorded.
    pub recorded: usize,
    /// Keys ordered from the history (unique values, writes in real time).
    pub derived: usize,
    /// Why recorded versions were not used, for the first few keys.
    pub notes: Vec<String>,
}

/// Every model's verdict for one history.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct Ladder {
    pub source: String,
    /// The data type.
    pub model: &'static str,
    /// Strongest first; only the models asked for.
    pub levels: Vec<LevelResult>,
    /// The strongest models that hold: every model that holds and is not implied by another
    /// that holds.
    pub strongest: Vec<Level>,
    pub anomalies: Vec<Anomaly>,
    pub versions: VersionSummary,
    /// The linearizability check's own report, when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linearizability: Option<Report>,
    /// Whether the history's times are real (else they are event positions).
    pub timed: bool,
    #[serde(serialize_with = "as_millis")]
    pub elapsed_ms: Duration,
    /// Of that, the time to every verdict, and then the time spent shrinking witnesses.
    #[serde(serialize_with = "as_millis")]
    pub verdict_ms: Duration,
    #[serde(serialize_with = "as_millis")]
    pub witness_ms: Duration,
    /// Whether witnesses were shrunk (not with [`Options::no_witness`]).
    pub witnesses_shrunk: bool,
}

impl Ladder {
    pub fn get(&self, level: Level) -> Option<&LevelResult> {
        self.levels.iter().find(|l| l.model == level)
    }

    /// The standing of `level`, `Unknown` if it was not checked.
    pub fn standing(&self, level: Level) -> Standing {
        self.get(level).map_or(Standing::Unknown, |l| l.standing)
    }
}

fn as_millis<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1e6).round() / 1e3)
}

/// Witnesses built per model; further violations are counted, not shrunk.
const WITNESSES_PER_MODEL: usize = 3;
/// Search steps for one sequential-consistency question (a key, or the whole history).
const SEQUENTIAL_STEPS: u64 = 20_000;
/// Search steps for all sequential-consistency questions of one history, shrinking included.
const SEQUENTIAL_TOTAL: u64 = 80_000;
/// Search steps for one check while shrinking.
const SHRINK_STEPS: u64 = 100_000;
/// Search steps for confirming one shrunk witness by an independent check.
const CONFIRM_STEPS: u64 = 200_000;
/// Witnesses larger than this are not confirmed again (they were not shrunk).
const CONFIRM_MAX_OPS: usize = 200;
/// Witnesses larger than this get the general sentence, not a classification: naming the
/// stale read or the lost write inside thousands of operations costs more than it explains.
const CLASSIFY_MAX_OPS: usize = 64;
/// Wall-clock time for shrinking one witness, unless [`Options::witness_budget`] says otherwise.
pub const WITNESS_BUDGET: Duration = Duration::from_millis(20);

/// Checks `history` against every model in `levels` (the data type is `model`).
pub fn assess(
    history: &History,
    model: ModelKind,
    levels: &[Level],
    opts: &Options,
) -> Result<Ladder, HistoryError> {
    match model {
        ModelKind::Register => Assessor::new(&Register::plain(), history, levels, opts).run(),
        ModelKind::CasRegister => Assessor::new(&Register::with_cas(), history, levels, opts).run(),
        ModelKind::KvAppend => Assessor::new(&KvAppend, history, levels, opts).run(),
    }
}

struct Assessor<'a, M: Model> {
    model: &'a M,
    history: &'a History,
    opts: &'a Options,
    /// The models asked for.
    asked: BTreeSet<Level>,
    /// Those and the ones they are made of.
    wanted: BTreeSet<Level>,
    started: Instant,
    deadline: Option<Instant>,
    /// Each key's operations, in order of first appearance.
    keys: Vec<(Option<String>, Vec<&'a Operation>)>,
    /// Register histories have a version order; others (kv-append) do not.
    registers: bool,
    versions: HashMap<Option<String>, KeyVersions>,
    anomalies: Vec<Anomaly>,
    clock: words::Clock,
    /// What is left of [`SEQUENTIAL_TOTAL`].
    sequential_steps_left: AtomicU64,
    /// Witnesses to shrink once every verdict is known, each into its reserved anomaly slot.
    tasks: Vec<Task<'a>>,
}

impl<'a, M: Model> Assessor<'a, M> {
    fn new(
        model: &'a M,
        history: &'a History,
        levels: &[Level],
        opts: &'a Options,
    ) -> Assessor<'a, M> {
        let started = Instant::now();
        let keys = history.by_key();
        let registers = history
            .ops
            .iter()
            .all(|o| matches!(o.f.as_str(), "read" | "write" | "cas"));
        let asked: BTreeSet<Level> = levels.iter().copied().collect();
        let mut wanted = asked.clone();
        if wanted.contains(&Level::Pram) {
            wanted.extend([
                Level::MonotonicReads,
                Level::MonotonicWrites,
                Level::ReadYourWrites,
            ]);
        }
        Assessor {
            model,
            history,
            opts,
            asked,
            wanted,
            started,
            deadline: opts.timeout.map(|t| started + t),
            keys,
            registers,
            versions: HashMap::new(),
            anomalies: Vec::new(),
            clock: words::Clock {
                timed: history.timed,
            },
            sequential_steps_left: AtomicU64::new(SEQUENTIAL_TOTAL),
            tasks: Vec::new(),
        }
    }

    fn out_of_time(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// When to stop shrinking one witness: after its budget, and not after the check's deadline.
    fn shrink_deadline(&self) -> Instant {
        let own = Instant::now() + self.opts.witness_budget.unwrap_or(WITNESS_BUDGET);
        self.deadline.map_or(own, |d| d.min(own))
    }

    fn run(mut self) -> Result<Ladder, HistoryError> {
        let mut results: BTreeMap<Level, LevelResult> = BTreeMap::new();
        let needs_lin =
            self.wanted.contains(&Level::Linearizable) || self.wanted.contains(&Level::Sequential);
        let lin = if needs_lin {
            Some(check_with(self.model, self.history, self.opts)?)
        } else {
            None
        };
        // A linearizable history satisfies every model linearizability implies: those are
        // decided by implication, with no version order to build and nothing to search. Not
        // when the target recorded versions: its version order is evidence of its own, which a
        // linearization of the values alone does not account for (a violation there makes
        // linearizability violated too, by implication).
        let recorded = self.history.ops.iter().any(|o| o.version.is_some());
        let lin_holds = !recorded
            && lin
                .as_ref()
                .is_some_and(|r| r.verdict == Verdict::Linearizable);
        let mut summary = VersionSummary::default();
        let data = if lin_holds {
            Vec::new()
        } else {
            summary = self.derive_versions();
            self.data_anomalies()
        };
        if let Some(report) = &lin {
            // Always in the results, so that what it implies follows from it (it is left out
            // of the ladder below when it was not asked for).
            let r = if self.wanted.contains(&Level::Linearizable) {
                self.linearizable(report)
            } else {
                undecided(Level::Linearizable, report.verdict.into())
            };
            results.insert(Level::Linearizable, r);
            // What linearizability implies is left to `implications`, not computed: sequential
            // consistency always (it judges values, as linearizability does), the rest when the
            // target recorded no versions of its own.
            if report.verdict == Verdict::Linearizable {
                for level in Level::ALL.into_iter().filter(|&l| {
                    self.wanted.contains(&l)
                        && Level::Linearizable.stronger_than(l)
                        && (l == Level::Sequential || lin_holds)
                }) {
                    results.insert(level, undecided(level, Standing::Unknown));
                }
            }
        }
        if self.wanted.contains(&Level::Sequential) && !results.contains_key(&Level::Sequential) {
            let r = self.sequential();
            results.insert(Level::Sequential, r);
        }
        for level in [
            Level::MonotonicReads,
            Level::MonotonicWrites,
            Level::ReadYourWrites,
            Level::WritesFollowReads,
        ] {
            if self.wanted.contains(&level) && !results.contains_key(&level) {
                let r = self.session(level);
                results.insert(level, r);
            }
        }
        if self.wanted.contains(&Level::Pram) && !results.contains_key(&Level::Pram) {
            let parts = [
                Level::MonotonicReads,
                Level::MonotonicWrites,
                Level::ReadYourWrites,
            ];
            let mut r = LevelResult {
                model: Level::Pram,
                standing: Standing::Holds,
                reason: None,
                violations: 0,
                anomalies: Vec::new(),
            };
            let mut reasons = Vec::new();
            for part in parts {
                let p = &results[&part];
                r.standing = r.standing.and(p.standing);
                r.violations += p.violations;
                r.anomalies.extend(&p.anomalies);
                if p.standing != Standing::Holds {
                    reasons.push(format!("{} {}", part.name(), p.standing.words()));
                }
            }
            if !reasons.is_empty() {
                r.reason = Some(words::list(&reasons));
            }
            results.insert(Level::Pram, r);
        }
        if self.wanted.contains(&Level::Eventual) {
            let r = self.eventual();
            results.insert(Level::Eventual, r);
        }

        // A value from thin air breaks every model.
        for (level, r) in results.iter_mut() {
            if data.is_empty() {
                break;
            }
            if r.standing != Standing::Violated {
                r.reason = Some(format!(
                    "a value nobody wrote was read ({})",
                    self.anomalies[data[0]].kind.words()
                ));
            }
            r.standing = Standing::Violated;
            r.violations += data.len();
            r.anomalies.extend(&data);
            r.anomalies.sort_unstable();
            r.anomalies.dedup();
            for &a in &data {
                if !self.anomalies[a].breaks.contains(level) {
                    self.anomalies[a].breaks.push(*level);
                }
            }
        }
        implications(&mut results, &mut self.anomalies);
        if let Some(why) = vacuous(self.history, self.opts.min_ok) {
            // Nothing was tested: what holds is unknown; a violation still stands.
            for r in results
                .values_mut()
                .filter(|r| r.standing == Standing::Holds)
            {
                r.standing = Standing::Unknown;
                r.reason = Some(why.clone());
            }
        }
        let verdict_ms = self.started.elapsed();
        let witnessed = Instant::now();
        self.shrink_witnesses();
        withdraw_unconfirmed(&mut results, &self.anomalies);
        let witness_ms = witnessed.elapsed();
        for a in &mut self.anomalies {
            a.breaks.retain(|l| self.asked.contains(l));
            a.breaks.sort();
        }

        let levels: Vec<LevelResult> = results
            .into_values()
            .filter(|r| self.asked.contains(&r.model))
            .collect();
        let holding: Vec<Level> = levels
            .iter()
            .filter(|l| l.standing == Standing::Holds)
            .map(|l| l.model)
            .collect();
        let strongest = holding
            .iter()
            .copied()
            .filter(|&l| !holding.iter().any(|&h| h.stronger_than(l)))
            .collect();
        Ok(Ladder {
            source: self.history.source_name.clone(),
            model: self.model.name(),
            levels,
            strongest,
            anomalies: self.anomalies,
            versions: summary,
            linearizability: lin,
            timed: self.history.timed,
            elapsed_ms: self.started.elapsed(),
            verdict_ms,
            witness_ms,
            witnesses_shrunk: !self.opts.no_witness,
        })
    }
}

/// Why a history tested nothing, if it did not: it has no client operation, no write or no read
/// succeeded, or fewer operations than `min_ok` did. A model "holding" on such a history would pass a gate on
/// nothing (a broken target file, a cluster that refused everything).
fn vacuous(history: &History, min_ok: Option<usize>) -> Option<String> {
    if history.ops.is_empty() {
        return Some(NO_OPERATIONS.into());
    }
    let is_write = |f: &str| matches!(f, "write" | "cas" | "put" | "append");
    let is_read = |f: &str| matches!(f, "read" | "get");
    let ok = |o: &&Operation| o.outcome == Outcome::Ok;
    let writes = history.ops.iter().filter(|o| is_write(&o.f)).count();
    let reads = history.ops.iter().filter(|o| is_read(&o.f)).count();
    // A successful cas observed the state as surely as a read did (it found the value it
    // expected): a history with no reads but such a cas tested something. Reads that were
    // tried and all failed still leave it untested — a read path that never works is no pass.
    let observed_by_cas = history.ops.iter().filter(ok).any(|o| o.f == "cas");
    let ok_total = history.ops.iter().filter(ok).count();
    if let Some(n) = min_ok.filter(|&n| ok_total < n) {
        return Some(format!(
            "only {ok_total} of {} operations succeeded, fewer than --min-ok {n}",
            history.ops.len()
        ));
    }
    if writes > 0 && !history.ops.iter().filter(ok).any(|o| is_write(&o.f)) {
        return Some(format!(
            "no successful write: none of the {writes} writes succeeded, so nothing was tested"
        ));
    }
    if reads > 0 && !history.ops.iter().filter(ok).any(|o| is_read(&o.f)) {
        return Some(format!(
            "no successful read: none of the {reads} reads succeeded, so nothing was tested"
        ));
    }
    if writes == 0 || (reads == 0 && !observed_by_cas) {
        let missing = if writes == 0 { "write" } else { "read" };
        return Some(format!(
            "no {missing} in the history, so no model can be tested on it"
        ));
    }
    None
}

/// A model's result before it is decided by implication: `standing` and no reason, no
/// anomalies.
fn undecided(level: Level, standing: Standing) -> LevelResult {
    LevelResult {
        model: level,
        standing,
        reason: None,
        violations: 0,
        anomalies: Vec::new(),
    }
}

impl<M: Model> Assessor<'_, M> {
    /// Every register key's version order, and where it came from.
    fn derive_versions(&mut self) -> VersionSummary {
        let mut summary = VersionSummary::default();
        if !self.registers {
            return summary;
        }
        for (key, ops) in &self.keys {
            let kv = KeyVersions::of(ops);
            match kv.source {
                Source::Recorded => summary.recorded += 1,
                Source::Derived => summary.derived += 1,
            }
            if let Some(note) = &kv.note {
                if summary.notes.len() < 3 {
                    summary
                        .notes
                        .push(format!("{}: {note}", words::key_name(key.as_deref())));
                }
            }
            self.versions.insert(key.clone(), kv);
        }
        summary
    }
}

/// A witness to shrink once every verdict is known: where its anomaly goes, the operations it
/// starts from, and what it must keep showing.
struct Task<'a> {
    slot: usize,
    key: Option<String>,
    start: Vec<&'a Operation>,
    what: What<'a>,
}

enum What<'a> {
    Linearizable,
    Sequential,
    Session {
        level: Level,
        earlier: &'a Operation,
        later: &'a Operation,
    },
}

fn session_kind(level: Level) -> AnomalyKind {
    match level {
        Level::MonotonicReads => AnomalyKind::NonMonotonicRead,
        Level::ReadYourWrites => AnomalyKind::ReadYourWritesViolation,
        Level::MonotonicWrites => AnomalyKind::NonMonotonicWrite,
        _ => AnomalyKind::WritesFollowReadsViolation,
    }
}

/// Implication, both ways: a model that holds makes every weaker one that was not decided hold,
/// and a violated model makes every stronger one violated, with the anomalies that show it. So a
/// weaker model never stands worse than a stronger one; where the two directions meet, the
/// violation wins (a pass is never invented).
fn implications(results: &mut BTreeMap<Level, LevelResult>, anomalies: &mut [Anomaly]) {
    let levels: Vec<Level> = results.keys().copied().collect();
    for &strong in &levels {
        if results[&strong].standing != Standing::Holds {
            continue;
        }
        for &weak in levels.iter().filter(|&&w| strong.stronger_than(w)) {
            let r = results.get_mut(&weak).expect("listed");
            if r.standing == Standing::Unknown {
                r.standing = Standing::Holds;
                r.reason = Some(format!("implied: {} holds", strong.name()));
            }
        }
    }
    for &weak in &levels {
        if results[&weak].standing != Standing::Violated {
            continue;
        }
        let shown = results[&weak].anomalies.clone();
        for &strong in levels.iter().filter(|&&s| s.stronger_than(weak)) {
            let r = results.get_mut(&strong).expect("listed");
            if r.standing == Standing::Violated {
                continue;
            }
            r.standing = Standing::Violated;
            r.reason = Some(format!("implied: {} is violated", weak.name()));
            r.violations = r.violations.max(1);
            r.anomalies.extend(&shown);
            r.anomalies.sort_unstable();
            r.anomalies.dedup();
            for &a in &shown {
                if !anomalies[a].breaks.contains(&strong) {
                    anomalies[a].breaks.push(strong);
                }
            }
        }
    }
}

impl<'a, M: Model> Assessor<'a, M> {
    /// Reserves an anomaly for a witness still to be shrunk; [`Assessor::shrink_witnesses`]
    /// fills it in.
    fn reserve(&mut self, kind: AnomalyKind, key: &Option<String>, level: Level) -> usize {
        self.anomalies.push(Anomaly {
            kind,
            key: key.clone(),
            sentence: String::new(),
            witness: Vec::new(),
            minimal: false,
            breaks: vec![level],
            unconfirmed: None,
        });
        self.anomalies.len() - 1
    }

    /// Shrinks every reserved witness, in parallel, each within its budget; with
    /// [`Options::no_witness`], describes each from where it would have started instead.
    fn shrink_witnesses(&mut self) {
        let tasks = std::mem::take(&mut self.tasks);
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(tasks.len().max(1));
        let next = AtomicUsize::new(0);
        let done: std::sync::Mutex<Vec<(usize, Anomaly)>> = std::sync::Mutex::new(Vec::new());
        let this = &*self;
        let work = || loop {
            let i = next.fetch_add(1, Relaxed);
            let Some(task) = tasks.get(i) else { return };
            let anomaly = this.witness(task);
            done.lock()
                .expect("witness lock")
                .push((task.slot, anomaly));
        };
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(work);
            }
            work();
        });
        for (slot, mut a) in done.into_inner().expect("witness lock") {
            a.breaks = std::mem::take(&mut self.anomalies[slot].breaks);
            self.anomalies[slot] = a;
        }
    }

    /// One task's anomaly: its witness shrunk (unless witnesses are off), and the sentence the
    /// witness itself shows.
    fn witness(&self, task: &Task<'a>) -> Anomaly {
        let model = self.model;
        let registers = self.registers;
        let start = task.start.clone();
        let shrunk = if self.opts.no_witness {
            shrink::Shrunk {
                ops: start,
                minimal: false,
                checks: 0,
            }
        } else {
            let deadline = self.shrink_deadline();
            match &task.what {
                What::Linearizable => shrink::shrink(
                    start,
                    &mut |sub| fails_linearizability(model, sub, SHRINK_STEPS),
                    deadline,
                ),
                What::Sequential => shrink::shrink(
                    start,
                    &mut |sub| {
                        let one_key = sub.iter().all(|o| o.key == sub[0].key);
                        let exact = (registers && one_key)
                            .then(|| sequential::register_key(sub))
                            .flatten();
                        exact.or_else(|| self.sequential_search(sub, SHRINK_STEPS, false))
                    },
                    deadline,
                ),
                What::Session { level, .. } => shrink::shrink(
                    start,
                    &mut |sub| {
                        let vs = versions_of(sub);
                        Some(!session::check(*level, sub, &vs).violations.is_empty())
                    },
                    deadline,
                ),
            }
        };
        let (kind, sentence) = self.describe(task, &shrunk.ops);
        let confirmed = self.opts.no_witness || self.confirm(&task.what, &shrunk.ops);
        let unconfirmed = (!confirmed).then(|| {
            format!(
                "faultline's checks disagree: the {} operations found to show this pass an independent check on their own, so they prove nothing and are not shown. This is a bug in faultline; please report it with the history",
                shrunk.ops.len()
            )
        });
        Anomaly {
            kind,
            key: task.key.clone(),
            sentence,
            witness: if confirmed {
                views(&shrunk.ops)
            } else {
                Vec::new()
            },
            minimal: shrunk.minimal && confirmed,
            breaks: Vec::new(),
            unconfirmed,
        }
    }

    /// Whether a witness fails on its own by a check independent of the one that found it: the
    /// plain searches, never the exact shortcuts for unique values, and the session check on
    /// the witness alone. Undecided within the budget counts as confirmed (nothing disagrees).
    fn confirm(&self, what: &What<'a>, ops: &[&Operation]) -> bool {
        if ops.len() > CONFIRM_MAX_OPS {
            // A witness this large was not shrunk; a second search of it would cost more than
            // it tells (its verdict came from the whole key's check).
            return true;
        }
        let fails = match what {
            What::Linearizable => fails_by_search(self.model, ops, CONFIRM_STEPS),
            What::Sequential => self.sequential_search(ops, CONFIRM_STEPS, false),
            What::Session { level, .. } => {
                let vs = versions_of(ops);
                Some(!session::check(*level, ops, &vs).violations.is_empty())
            }
        };
        fails != Some(false)
    }

    fn describe(&self, task: &Task<'a>, ops: &[&Operation]) -> (AnomalyKind, String) {
        match &task.what {
            What::Linearizable => {
                let crashes = crashes(self.history);
                classify_linearizability(
                    self.clock,
                    (ops, self.key_ops(&task.key)),
                    &task.key,
                    &crashes,
                )
            }
            What::Sequential => {
                let keys: BTreeSet<String> = ops
                    .iter()
                    .map(|o| words::key_name(o.key.as_deref()))
                    .collect();
                let keys: Vec<String> = keys.into_iter().collect();
                (
                    AnomalyKind::NotSequential,
                    format!(
                        "no single order of these {} operations on {} keeps each process's operations in the order it issued them and explains what each returned",
                        ops.len(),
                        words::list(&keys)
                    ),
                )
            }
            What::Session {
                level,
                earlier,
                later,
            } => {
                // Describe the violation the witness itself shows.
                let vs = versions_of(ops);
                let own = session::check(*level, ops, &vs);
                let (e, l) = own
                    .violations
                    .first()
                    .map_or((*earlier, *later), |v| (v.earlier, v.later));
                let kv = &self.versions[&later.key_string()];
                let sentence = match level {
                    Level::MonotonicReads => words::non_monotonic_read(self.clock, kv, e, l),
                    Level::ReadYourWrites => words::read_your_writes(self.clock, kv, e, l),
                    Level::MonotonicWrites => words::non_monotonic_write(self.clock, kv, e, l),
                    _ => words::writes_follow_reads(self.clock, kv, e, l),
                };
                (session_kind(*level), sentence)
            }
        }
    }
}

/// A model whose every anomaly is unconfirmed ([`Anomaly::unconfirmed`]) is unknown: its
/// violation rests on a check another check contradicts.
fn withdraw_unconfirmed(results: &mut BTreeMap<Level, LevelResult>, anomalies: &[Anomaly]) {
    for r in results.values_mut() {
        let shown = &r.anomalies;
        if r.standing != Standing::Violated
            || shown.is_empty()
            || shown.iter().any(|&a| anomalies[a].unconfirmed.is_none())
        {
            continue;
        }
        r.standing = Standing::Unknown;
        r.reason = anomalies[shown[0]].unconfirmed.clone();
    }
}

/// The node a final read asked, as the words name it.
fn final_node(o: &Operation) -> String {
    o.node
        .as_ref()
        .map_or_else(|| format!("process {}", o.process), |n| n.to_string())
}

/// What the final reads can show: the nodes that answered, and the first node asked that
/// answered none of its own (agreement is then not shown for it) — or why they show nothing:
/// there are none, or none succeeded (agreement among no observations is not agreement).
fn final_observers(finals: &[&Operation]) -> Result<(BTreeSet<String>, Option<String>), String> {
    if finals.is_empty() {
        return Err("the history has no final reads (reads with phase \"final\", which `faultline run` makes on every node after the heal and the recovery wait)".into());
    }
    let answered: BTreeSet<String> = finals
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .map(|o| final_node(o))
        .collect();
    if answered.is_empty() {
        return Err(format!(
            "none of the {} final reads succeeded, so nothing shows the nodes agree",
            finals.len()
        ));
    }
    let asked: BTreeSet<String> = finals.iter().map(|o| final_node(o)).collect();
    let silent = asked.difference(&answered).next().map(|n| {
        format!("{n} answered none of its final reads, so nothing shows it agrees with the others")
    });
    Ok((answered, silent))
}

/// The reason every model of an empty history gives.
pub const NO_OPERATIONS: &str = "no operations: the history has no client operation to judge";

/// The operations a witness may be built from: failed ones did not happen, and an indeterminate
/// read says nothing.
fn relevant<'h>(ops: &[&'h Operation]) -> Vec<&'h Operation> {
    ops.iter().copied().filter(|o| o.says_something()).collect()
}

fn views(ops: &[&Operation]) -> Vec<OpView> {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|o| o.invoke_event);
    ops.into_iter().map(words::view).collect()
}

/// The version order of each key among `ops` alone.
fn versions_of(ops: &[&Operation]) -> HashMap<Option<String>, KeyVersions> {
    crate::history::by_key(ops.iter().copied())
        .into_iter()
        .map(|(k, ops)| (k, KeyVersions::of(&ops)))
        .collect()
}

impl<'a, M: Model> Assessor<'a, M> {
    fn key_ops(&self, key: &Option<String>) -> &[&'a Operation] {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, ops)| ops.as_slice())
    }

    /// Keys whose trouble a value from thin air already explains.
    fn explained(&self, key: &Option<String>) -> bool {
        self.anomalies.iter().any(|a| {
            &a.key == key
                && matches!(
                    a.kind,
                    AnomalyKind::PhantomRead | AnomalyKind::ReadOfFailedWrite
                )
        })
    }

    /// Values read that nobody wrote (or whose only writes failed); their anomaly indices.
    fn data_anomalies(&mut self) -> Vec<usize> {
        if !self.registers {
            return Vec::new();
        }
        let mut found = Vec::new();
        for (key, ops) in &self.keys {
            let kv = &self.versions[key];
            let mut reported: BTreeSet<String> = BTreeSet::new();
            for op in ops {
                let Some(v) = consumed(op) else { continue };
                let t = text(&v);
                if kv.written(&v) || !reported.insert(t.clone()) {
                    continue;
                }
                let failed = ops.iter().copied().find(|o| {
                    o.outcome == Outcome::Fail && produced(o).is_some_and(|p| text(&p) == t)
                });
                let mut witness = vec![*op];
                witness.extend(failed);
                found.push(self.anomalies.len());
                self.anomalies.push(Anomaly {
                    kind: if failed.is_some() {
                        AnomalyKind::ReadOfFailedWrite
                    } else {
                        AnomalyKind::PhantomRead
                    },
                    key: key.clone(),
                    sentence: words::phantom(self.clock, op, failed),
                    witness: views(&witness),
                    minimal: true,
                    breaks: Vec::new(),
                    unconfirmed: None,
                });
            }
        }
        found
    }

    fn linearizable(&mut self, report: &Report) -> LevelResult {
        let failing: Vec<Option<String>> = report.failures().map(|k| k.key.clone()).collect();
        let mut r = LevelResult {
            model: Level::Linearizable,
            standing: report.verdict.into(),
            reason: None,
            violations: failing.len(),
            anomalies: Vec::new(),
        };
        r.reason = match report.verdict {
            Verdict::Linearizable => None,
            Verdict::NotLinearizable => {
                let undecided = report
                    .keys
                    .iter()
                    .filter(|k| k.verdict == Verdict::Unknown)
                    .count();
                Some(format!(
                    "{} of {} key{} not linearizable{}{}",
                    failing.len(),
                    report.keys.len(),
                    if report.keys.len() == 1 {
                        " is"
                    } else {
                        "s are"
                    },
                    if report.keys.len() > 1 {
                        format!(": {}", words::bounded_keys(&failing))
                    } else {
                        String::new()
                    },
                    if undecided > 0 && !self.opts.all_failures {
                        format!(" ({undecided} left undecided: the check stops at the first failure unless asked for all)")
                    } else {
                        String::new()
                    }
                ))
            }
            Verdict::Unknown => report
                .keys
                .iter()
                .find_map(|k| k.reason.clone())
                .or_else(|| Some("not decided".into())),
        };
        for key in &failing {
            if r.anomalies.len() == WITNESSES_PER_MODEL {
                break;
            }
            if self.explained(key) {
                continue;
            }
            let all = self.key_ops(key);
            let core = report
                .keys
                .iter()
                .find(|k| &k.key == key)
                .map(|k| k.core.as_slice())
                .unwrap_or_default();
            let start = if core.is_empty() {
                relevant(all)
            } else {
                core.iter().map(|&id| &self.history.ops[id]).collect()
            };
            let slot = self.reserve(AnomalyKind::NotLinearizable, key, Level::Linearizable);
            r.anomalies.push(slot);
            self.tasks.push(Task {
                slot,
                key: key.clone(),
                start,
                what: What::Linearizable,
            });
        }
        r
    }

    /// Runs a sequential-consistency search over `ops` to a decision, its step budget, or the
    /// deadline.
    /// Shrinking checks (`shared == false`) have their own small budget; the questions about
    /// the history draw on [`SEQUENTIAL_TOTAL`].
    fn sequential_search(&self, ops: &[&Operation], budget: u64, shared: bool) -> Option<bool> {
        let budget = if shared {
            budget.min(self.sequential_steps_left.load(Relaxed))
        } else {
            budget
        };
        let mut search = sequential::Search::new(self.model, ops).ok()?;
        let decided = loop {
            // Slices end at the budget, so that a small budget is a small cost.
            let slice = budget.saturating_sub(search.steps()).clamp(1, 50_000);
            match search.run(slice) {
                Progress::Linearizable => break Some(false),
                Progress::NotLinearizable => break Some(true),
                Progress::Unfinished => {
                    if search.steps() >= budget || self.out_of_time() {
                        break None;
                    }
                }
            }
        };
        if shared {
            let used = search.steps();
            let _ = self
                .sequential_steps_left
                .fetch_update(Relaxed, Relaxed, |left| Some(left.saturating_sub(used)));
        }
        decided
    }

    fn sequential(&mut self) -> LevelResult {
        let mut r = LevelResult {
            model: Level::Sequential,
            standing: Standing::Holds,
            reason: None,
            violations: 0,
            anomalies: Vec::new(),
        };
        let mut failing: Vec<Option<String>> = Vec::new();
        let mut undecided: Option<String> = None;
        let mut undecided_keys = 0;
        for (key, ops) in &self.keys {
            let exact = if self.registers {
                sequential::register_key(ops)
            } else {
                None
            };
            let decided = exact.or_else(|| self.sequential_search(ops, SEQUENTIAL_STEPS, true));
            match decided {
                Some(true) => failing.push(key.clone()),
                Some(false) => {}
                None => {
                    undecided_keys += 1;
                    undecided.get_or_insert_with(|| {
                        format!(
                            "budget: {}: the search stopped undecided after its {SEQUENTIAL_STEPS} steps per key ({SEQUENTIAL_TOTAL} per history){}",
                            words::key_name(key.as_deref()),
                            if self.registers {
                                "; a value is written more than once, so the exact check for unique values does not apply"
                            } else {
                                ""
                            }
                        )
                    });
                }
            }
        }
        let whole: Vec<&Operation> = self.history.ops.iter().collect();
        if failing.is_empty() && undecided.is_none() && self.keys.len() > 1 {
            match self.sequential_search(&whole, SEQUENTIAL_STEPS, true) {
                Some(false) => {}
                Some(true) => failing.push(None),
                None => {
                    undecided = Some(format!(
                        "budget: every key is sequentially consistent on its own, but the search over all {} keys together (sequential consistency is not compositional) stopped undecided after its {SEQUENTIAL_STEPS} steps",
                        self.keys.len()
                    ))
                }
            }
        }
        if failing.is_empty() {
            if let Some(why) = undecided {
                r.standing = Standing::Unknown;
                r.reason = Some(why);
            }
            return r;
        }
        r.standing = Standing::Violated;
        r.violations = failing.len();
        let all_keys = self.keys.len() > 1 && failing == [None];
        r.reason = Some(if all_keys {
            "every key is sequentially consistent on its own, but not all of them together".into()
        } else {
            format!(
                "{} of {} key{} not sequentially consistent{}{}",
                failing.len(),
                self.keys.len(),
                if self.keys.len() == 1 { " is" } else { "s are" },
                if self.keys.len() > 1 {
                    format!(": {}", words::bounded_keys(&failing))
                } else {
                    String::new()
                },
                if undecided_keys > 0 {
                    format!(" ({undecided_keys} undecided within the search budget)")
                } else {
                    String::new()
                }
            )
        });
        for key in &failing {
            if r.anomalies.len() == WITNESSES_PER_MODEL {
                break;
            }
            let ops = if all_keys {
                relevant(&whole)
            } else {
                if self.explained(key) {
                    continue;
                }
                relevant(self.key_ops(key))
            };
            let key = if all_keys { None } else { key.clone() };
            let slot = self.reserve(AnomalyKind::NotSequential, &key, Level::Sequential);
            r.anomalies.push(slot);
            self.tasks.push(Task {
                slot,
                key,
                start: ops,
                what: What::Sequential,
            });
        }
        r
    }

    fn session(&mut self, level: Level) -> LevelResult {
        let mut r = LevelResult {
            model: level,
            standing: Standing::Holds,
            reason: None,
            violations: 0,
            anomalies: Vec::new(),
        };
        if !self.registers {
            r.standing = Standing::Unknown;
            r.reason = Some(
                "session guarantees are judged over each key's version order, which faultline knows for read/write/cas registers only".into(),
            );
            return r;
        }
        let all: Vec<&Operation> = self.history.ops.iter().collect();
        let findings = session::check(level, &all, &self.versions);
        r.violations = findings.violations.len();
        if findings.violations.is_empty() {
            if findings.not_known > 0 {
                r.standing = Standing::Unknown;
                r.reason = Some(format!(
                    "{} comparison{} could not be made; the first: {}",
                    findings.not_known,
                    if findings.not_known == 1 { "" } else { "s" },
                    findings.first_not_known.unwrap_or_default()
                ));
            }
            return r;
        }
        r.standing = Standing::Violated;
        let processes: BTreeSet<u64> = findings
            .violations
            .iter()
            .map(|v| v.later.process)
            .collect();
        r.reason = Some(format!(
            "{} violation{} by {} process{}",
            r.violations,
            if r.violations == 1 { "" } else { "s" },
            processes.len(),
            if processes.len() == 1 { "" } else { "es" }
        ));
        let mut done: BTreeSet<(u64, Option<String>)> = BTreeSet::new();
        for v in &findings.violations {
            if r.anomalies.len() == WITNESSES_PER_MODEL {
                break;
            }
            let later_key = v.later.key_string();
            if !done.insert((v.later.process, later_key.clone())) || self.explained(&later_key) {
                continue;
            }
            let key_ops = self.key_ops(&later_key);
            let mut start = vec![v.earlier, v.later];
            start.extend(support(key_ops, &[v.earlier, v.later]));
            start.sort_by_key(|o| o.invoke_event);
            start.dedup_by_key(|o| o.id);
            let slot = self.reserve(session_kind(level), &later_key, level);
            r.anomalies.push(slot);
            self.tasks.push(Task {
                slot,
                key: later_key,
                start,
                what: What::Session {
                    level,
                    earlier: v.earlier,
                    later: v.later,
                },
            });
        }
        r
    }

    fn eventual(&mut self) -> LevelResult {
        let mut r = LevelResult {
            model: Level::Eventual,
            standing: Standing::Holds,
            reason: None,
            violations: 0,
            anomalies: Vec::new(),
        };
        let finals: Vec<&Operation> = self
            .history
            .ops
            .iter()
            .filter(|o| o.phase.as_deref() == Some("final") && o.f == "read")
            .collect();
        let (answered, mut incomplete) = match final_observers(&finals) {
            Ok(found) => found,
            Err(why) => {
                r.standing = Standing::Unknown;
                r.reason = Some(why);
                return r;
            }
        };
        for (key, _) in &self.keys {
            let reads: Vec<&Operation> = finals
                .iter()
                .copied()
                .filter(|o| o.key.as_deref() == key.as_deref() && o.outcome == Outcome::Ok)
                .collect();
            if reads.is_empty() {
                incomplete.get_or_insert_with(|| {
                    format!(
                        "{} was read after the heal on no node",
                        words::key_name(key.as_deref())
                    )
                });
                continue;
            }
            // Each distinct value, the nodes that returned it, and one read of it.
            let mut by_value: Vec<(Value, Vec<String>, &Operation)> = Vec::new();
            for o in &reads {
                match by_value.iter_mut().find(|(v, _, _)| *v == o.output) {
                    Some((_, nodes, _)) => nodes.push(final_node(o)),
                    None => by_value.push((o.output.clone(), vec![final_node(o)], o)),
                }
            }
            let nodes: BTreeSet<String> = reads.iter().map(|o| final_node(o)).collect();
            if by_value.len() == 1 {
                if nodes.len() < answered.len() && incomplete.is_none() {
                    incomplete = Some(format!(
                        "{} was read after the heal on only {} of {} nodes",
                        words::key_name(key.as_deref()),
                        nodes.len(),
                        answered.len()
                    ));
                }
                continue;
            }
            r.violations += 1;
            by_value.sort_by_key(|(_, nodes, _)| std::cmp::Reverse(nodes.len()));
            let listed: Vec<(Value, Vec<String>)> = by_value
                .iter()
                .map(|(v, n, _)| (v.clone(), n.clone()))
                .collect();
            let witness = [by_value[0].2, by_value[1].2];
            r.anomalies.push(self.anomalies.len());
            self.anomalies.push(Anomaly {
                kind: AnomalyKind::DivergenceAfterHeal,
                key: key.clone(),
                sentence: words::divergence(key.as_deref(), &listed),
                witness: views(&witness),
                minimal: true,
                breaks: vec![Level::Eventual],
                unconfirmed: None,
            });
        }
        if r.violations > 0 {
            r.standing = Standing::Violated;
            r.reason = Some(format!(
                "{} key{} diverged after the heal",
                r.violations,
                if r.violations == 1 { "" } else { "s" }
            ));
        } else if let Some(why) = incomplete {
            r.standing = Standing::Unknown;
            r.reason = Some(why);
        }
        r
    }
}

/// The writes that order the values `ops` saw or wrote: their producers, and for a cas chain
/// the producers of every value before it.
fn support<'h>(key_ops: &[&'h Operation], ops: &[&'h Operation]) -> Vec<&'h Operation> {
    let mut values: BTreeSet<String> = BTreeSet::new();
    for op in ops {
        values.extend(consumed(op).map(|v| text(&v)));
        values.extend(produced(op).map(|v| text(&v)));
        if op.f == "read" && op.outcome == Outcome::Ok {
            values.insert(text(&op.output));
        }
    }
    values.remove("null");
    let mut out: Vec<&Operation> = Vec::new();
    loop {
        let before = values.len();
        for op in key_ops.iter().filter(|o| o.outcome != Outcome::Fail) {
            let Some(v) = produced(op) else { continue };
            if values.contains(&text(&v)) && !out.iter().any(|o| o.id == op.id) {
                out.push(op);
                if let Some(from) = versions::effect(op).cas_from() {
                    if !from.is_null() {
                        values.insert(text(from));
                    }
                }
            }
        }
        if values.len() == before {
            return out;
        }
    }
}

/// Names a linearizability witness: a stale read or a lost write when it has that shape, else
/// the general case. `all` is every operation of the key.
/// The crashes the history records: the times of nemesis events that killed nodes (faultline's
/// `start-kill`, Jepsen's `:kill`, `:crash`), with what they said.
fn crashes(history: &History) -> Vec<(u64, String)> {
    history
        .nemesis_events()
        .filter(|e| e.kind != crate::history::EventType::Invoke)
        .filter(|e| ["start-kill", "kill", "crash", "kill-node"].contains(&e.f.as_str()))
        .map(|e| {
            let said = match &e.value {
                Value::String(s) => s.clone(),
                Value::Null => e.f.clone(),
                v => v.to_string(),
            };
            (e.time, said)
        })
        .collect()
}

fn classify_linearizability(
    clock: words::Clock,
    (witness, all): (&[&Operation], &[&Operation]),
    key: &Option<String>,
    crashes: &[(u64, String)],
) -> (AnomalyKind, String) {
    let k = words::key_name(key.as_deref());
    let classified = if witness.len() <= CLASSIFY_MAX_OPS {
        witness
    } else {
        &[]
    };
    for r in classified {
        let Some(a) = consumed(r) else { continue };
        let r_start = r.invoke_event;
        for wb in witness.iter().filter(|o| o.outcome == Outcome::Ok) {
            let (Some(b), Some(acked)) = (produced(wb), wb.complete_event) else {
                continue;
            };
            if b == a || acked >= r_start {
                continue;
            }
            let rewritten = witness.iter().any(|o| {
                o.outcome != Outcome::Fail
                    && produced(o).is_some_and(|p| p == a)
                    && o.invoke_event > acked
            });
            if rewritten {
                continue;
            }
            let acked_at = wb.complete_time.unwrap_or(wb.invoke_time);
            // Did anything later see b, or a value written after b?
            let newer: BTreeSet<String> = all
                .iter()
                .filter(|o| o.outcome != Outcome::Fail && o.invoke_event > acked)
                .filter_map(|o| produced(o))
                .map(|v| text(&v))
                .chain([text(&b)])
                .collect();
            let seen_later = all.iter().any(|o| {
                o.invoke_event > acked && consumed(o).is_some_and(|v| newer.contains(&text(&v)))
            });
            let what = match versions::effect(r) {
                versions::Effect::Cas { from, to } => format!(
                    "process {}'s cas {} → {} on {k} succeeded at {}",
                    r.process,
                    words::value(&from),
                    words::value(&to),
                    clock.at(r.invoke_time)
                ),
                _ => format!(
                    "process {} read {} from {k} at {}",
                    r.process,
                    words::value(&a),
                    clock.at(r.invoke_time)
                ),
            };
            let nothing_after = if a.is_null() {
                String::new()
            } else {
                format!(", and nothing wrote {} afterwards", words::value(&a))
            };
            // A crash between the acknowledgement and the read: the value was lost in it, not
            // merely read from behind.
            let crash = crashes
                .iter()
                .find(|(t, _)| *t > acked_at && *t < r.invoke_time);
            if let Some((at, said)) = crash {
                return (
                    AnomalyKind::LostWrite,
                    format!(
                        "{} was written to {k} and acknowledged at {}, then a crash ({said}, at {}), and then {what}{nothing_after}: the acknowledged write was lost in the crash",
                        words::value(&b),
                        clock.at(acked_at),
                        clock.at(*at)
                    ),
                );
            }
            if seen_later {
                return (
                    AnomalyKind::StaleRead,
                    format!(
                        "{what}, but {} had been written to {k} and acknowledged at {}{nothing_after}",
                        words::value(&b),
                        clock.at(acked_at)
                    ),
                );
            }
            let last = all
                .iter()
                .filter(|o| o.f == "read" && o.outcome == Outcome::Ok)
                .max_by_key(|o| o.invoke_event)
                .filter(|o| o.id != r.id)
                .map(|o| {
                    format!(
                        "; the last read of {k}, at {}, returned {}",
                        clock.at(o.invoke_time),
                        words::value(&o.output)
                    )
                })
                .unwrap_or_default();
            return (
                AnomalyKind::LostWrite,
                format!(
                    "{} was written to {k} and acknowledged at {}, but no later read saw it or anything written after it: {what}{nothing_after}{last}",
                    words::value(&b),
                    clock.at(acked_at)
                ),
            );
        }
    }
    (
        AnomalyKind::NotLinearizable,
        format!(
            "no order of these {} operations on {k} respects real time and explains what each returned",
            witness.len()
        ),
    )
}

#[cfg(test)]
mod unconfirmed_tests {
    use super::*;

    fn anomaly(unconfirmed: Option<&str>) -> Anomaly {
        Anomaly {
            kind: AnomalyKind::NotSequential,
            key: Some("x".into()),
            sentence: "no single order".into(),
            witness: Vec::new(),
            minimal: false,
            breaks: vec![Level::Sequential],
            unconfirmed: unconfirmed.map(str::to_string),
        }
    }

    fn violated(anomalies: Vec<usize>) -> LevelResult {
        LevelResult {
            model: Level::Sequential,
            standing: Standing::Violated,
            reason: Some("1 of 1 key is not sequentially consistent".into()),
            violations: anomalies.len(),
            anomalies,
        }
    }

    #[test]
    fn a_violation_resting_only_on_unconfirmed_witnesses_is_unknown() {
        // A witness that passes the independent check on its own proves nothing: the model is
        // unknown, and says why; one confirmed witness beside it keeps the violation.
        let anomalies = vec![anomaly(Some("faultline's checks disagree")), anomaly(None)];
        let mut results = BTreeMap::from([(Level::Sequential, violated(vec![0]))]);
        withdraw_unconfirmed(&mut results, &anomalies);
        let r = &results[&Level::Sequential];
        assert_eq!(r.standing, Standing::Unknown);
        assert_eq!(r.reason.as_deref(), Some("faultline's checks disagree"));
        let mut results = BTreeMap::from([(Level::Sequential, violated(vec![0, 1]))]);
        withdraw_unconfirmed(&mut results, &anomalies);
        assert_eq!(results[&Level::Sequential].standing, Standing::Violated);
    }
}
