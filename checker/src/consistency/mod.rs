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

mod standing;
pub use standing::{Level, LevelSet, Standing};

mod levels;
mod witness;
use levels::*;
use witness::*;

use crate::check::{check_with, fails_by_search, fails_linearizability, Options};
use crate::history::{History, HistoryError, Operation, Outcome};
use crate::model::{Model, ModelKind};
use crate::models::{KvAppend, Register};
use crate::result::{OpView, Report, Verdict};
use crate::search::Progress;
use serde::Serialize;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::time::{Duration, Instant};
use versions::{consumed, produced, text, KeyVersions, Source};

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
            self.judge_linearizable(report, lin_holds, &mut results);
        }
        self.judge_weaker(&mut results);
        self.thin_air(&data, &mut results);
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
        Ok(self.into_ladder(results, summary, lin, (verdict_ms, witness_ms)))
    }

    /// Linearizability's own result, and the models it implies left to [`implications`].
    fn judge_linearizable(
        &mut self,
        report: &Report,
        lin_holds: bool,
        results: &mut BTreeMap<Level, LevelResult>,
    ) {
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

    /// The models linearizability did not decide: sequential, the session guarantees, PRAM
    /// (their sum) and eventual consistency.
    fn judge_weaker(&mut self, results: &mut BTreeMap<Level, LevelResult>) {
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
            let r = pram(results);
            results.insert(Level::Pram, r);
        }
        if self.wanted.contains(&Level::Eventual) {
            let r = self.eventual();
            results.insert(Level::Eventual, r);
        }
    }

    /// A value from thin air (`data`, the data anomalies) breaks every model.
    fn thin_air(&mut self, data: &[usize], results: &mut BTreeMap<Level, LevelResult>) {
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
            r.anomalies.extend(data);
            r.anomalies.sort_unstable();
            r.anomalies.dedup();
            for &a in data {
                if !self.anomalies[a].breaks.contains(level) {
                    self.anomalies[a].breaks.push(*level);
                }
            }
        }
    }

    /// The ladder of the models asked for, and the strongest that hold.
    fn into_ladder(
        mut self,
        results: BTreeMap<Level, LevelResult>,
        summary: VersionSummary,
        lin: Option<Report>,
        (verdict_ms, witness_ms): (Duration, Duration),
    ) -> Ladder {
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
        Ladder {
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
        }
    }
}

/// PRAM: the sum of monotonic reads, monotonic writes and read your writes (already judged).
fn pram(results: &BTreeMap<Level, LevelResult>) -> LevelResult {
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
    r
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
