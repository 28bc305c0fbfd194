//! Checking a whole history for linearizability: split it by key (linearizability is
//! compositional, so each key is checked on its own), compile each key's operations for the
//! model, and search all keys on all cores.
//!
//! Keys are searched in slices, round-robin, smallest first: a key that fails in a millisecond is
//! decided in a millisecond even when other keys need a long search, and once one key fails the
//! others are abandoned (unless every failure is wanted). A time budget turns whatever is not
//! decided by then into `unknown`.

use crate::history::{History, HistoryError, Operation, Outcome};
use crate::model::{Interner, Model, ModelKind};
use crate::models::{KvAppend, Register};
use crate::result::{Counterexample, DecidedBy, KeyReport, OpView, Report, Verdict};
use crate::search::{Progress, Search, SearchOp};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How to check.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// Give up after this long; undecided keys are `unknown`.
    pub timeout: Option<Duration>,
    /// Keep checking the other keys after one fails.
    pub all_failures: bool,
    /// Worker threads; 0 means one per core.
    pub threads: usize,
    /// Updated while the check runs, for progress displays.
    pub progress: Option<Arc<Counters>>,
    /// Search every key, even where an exact check applies (to compare the two).
    pub search_only: bool,
    /// Time for shrinking each anomaly's witness (default
    /// [`crate::consistency::WITNESS_BUDGET`]); a witness not shrunk to the end in time says so.
    pub witness_budget: Option<Duration>,
    /// Skip shrinking: anomalies keep the operations their search started from.
    pub no_witness: bool,
    /// Fewer ok operations than this make every model that would hold `unknown` (the ladder's
    /// gate against passing on nothing; a history with no successful write or read is unknown
    /// anyway).
    pub min_ok: Option<usize>,
}

/// Live figures of a running check.
#[derive(Debug, Default)]
pub struct Counters {
    pub keys_total: AtomicUsize,
    pub keys_done: AtomicUsize,
    pub steps: AtomicU64,
}

/// Steps in a key's first slice; each further slice of the same key is twice as long, up to
/// [`MAX_SLICE`]. Keys that fail fast are decided after little work on the others; long searches
/// soon run in slices long enough (about a millisecond) to amortise the queue.
const FIRST_SLICE: u64 = 256;
const MAX_SLICE: u64 = 1 << 15;

/// Checks `history` against the named model.
pub fn check(history: &History, model: ModelKind, opts: &Options) -> Result<Report, HistoryError> {
    match model {
        ModelKind::Register => check_with(&Register::plain(), history, opts),
        ModelKind::CasRegister => check_with(&Register::with_cas(), history, opts),
        ModelKind::KvAppend => check_with(&KvAppend, history, opts),
    }
}

/// One key's search and what is needed to explain its result.
struct KeyJob<'m, M: Model> {
    /// Position of the key in the report.
    slot: usize,
    search: Search<'m, M>,
    /// The history operation behind each search operation.
    op_ids: Vec<usize>,
    values: Interner,
    progress: Progress,
}

/// Search steps for explaining an exact violation from its core (a handful of operations).
const CORE_STEPS: u64 = 1_000_000;

/// Checks `history` against `model`.
pub fn check_with<M: Model>(
    model: &M,
    history: &History,
    opts: &Options,
) -> Result<Report, HistoryError> {
    let started = Instant::now();
    let deadline = opts.timeout.map(|t| started + t);

    let groups = history.by_key();

    let mut keys: Vec<KeyReport> = Vec::with_capacity(groups.len());
    let mut jobs: Vec<KeyJob<M>> = Vec::with_capacity(groups.len());
    let mut ops_checked = 0;
    let mut exact_failure = None;
    for (slot, (key, ops)) in groups.into_iter().enumerate() {
        let mut report = KeyReport {
            key,
            verdict: Verdict::Unknown,
            decided_by: DecidedBy::Search,
            core: Vec::new(),
            ops: ops.len(),
            steps: 0,
            configurations: 0,
            reason: None,
            counterexample: None,
        };
        let exact = if opts.search_only {
            None
        } else {
            model.exact(&ops)
        };
        if let Some(d) = exact {
            if let Some(cx) = explain_exact(model, history, slot, &d)? {
                ops_checked += ops.iter().filter(|o| o.says_something()).count();
                report.decided_by = DecidedBy::UniqueValues;
                report.verdict = if d.linearizable {
                    Verdict::Linearizable
                } else {
                    exact_failure.get_or_insert_with(|| key_name(&report.key));
                    Verdict::NotLinearizable
                };
                report.counterexample = cx;
                report.core = d.core;
                if let Some(c) = &opts.progress {
                    c.keys_done.fetch_add(1, Ordering::Relaxed);
                }
                keys.push(report);
                continue;
            }
        }
        let job = compile_key(model, history, slot, &ops)?;
        ops_checked += job.op_ids.len();
        keys.push(report);
        jobs.push(job);
    }
    jobs.sort_by_key(|j| j.op_ids.len());
    if let Some(c) = &opts.progress {
        c.keys_total.store(keys.len(), Ordering::Relaxed);
    }

    let stopped = exact_failure.is_some() && !opts.all_failures;
    let finished = run_jobs(jobs, deadline, opts, stopped);
    let first_slot = finished
        .iter()
        .filter(|j| j.progress == Progress::NotLinearizable)
        .map(|j| j.slot)
        .min();
    let first_failure: Option<String> =
        exact_failure.or_else(|| first_slot.map(|s| key_name(&keys[s].key)));
    let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
    for job in finished {
        let k = &mut keys[job.slot];
        k.steps = job.search.steps();
        k.configurations = job.search.configurations();
        match job.progress {
            Progress::Linearizable => k.verdict = Verdict::Linearizable,
            Progress::NotLinearizable => {
                k.verdict = Verdict::NotLinearizable;
                k.counterexample = Some(counterexample(model, history, &job));
            }
            Progress::Unfinished => {
                k.verdict = Verdict::Unknown;
                k.reason = Some(match (&first_failure, timed_out) {
                    (_, true) => format!(
                        "the time budget of {:.1} s ran out after {} search steps",
                        opts.timeout.unwrap_or_default().as_secs_f64(),
                        k.steps
                    ),
                    (Some(f), false) => {
                        format!("not decided: the check stopped when key {f} failed")
                    }
                    (None, false) => "not decided".into(),
                });
            }
        }
    }
    let verdict = keys
        .iter()
        .fold(Verdict::Linearizable, |v, k| v.and(k.verdict));
    Ok(Report {
        source: history.source_name.clone(),
        model: model.name(),
        verdict,
        ops: history.ops.len(),
        ops_checked,
        elapsed_ms: started.elapsed(),
        keys,
    })
}

/// The counterexample of an exact decision: `Some(None)` when it holds, `Some(Some(cx))` when
/// the search over its core explains the violation, and `None` when the core does not fail on
/// its own (then the exact verdict is not used, and the search decides the whole key).
fn explain_exact<M: Model>(
    model: &M,
    history: &History,
    slot: usize,
    d: &crate::unique::Decision,
) -> Result<Option<Option<Counterexample>>, HistoryError> {
    if d.linearizable {
        return Ok(Some(None));
    }
    let core: Vec<&Operation> = d.core.iter().map(|&id| &history.ops[id]).collect();
    let mut job = compile_key(model, history, slot, &core)?;
    job.progress = job.search.run(CORE_STEPS);
    Ok((job.progress == Progress::NotLinearizable)
        .then(|| Some(counterexample(model, history, &job))))
}

/// Compiles one key's operations for the search.
fn compile_key<'m, M: Model>(
    model: &'m M,
    history: &History,
    slot: usize,
    ops: &[&Operation],
) -> Result<KeyJob<'m, M>, HistoryError> {
    let (search_ops, op_ids, values) = compile_ops(model, ops)
        .map_err(|(line, msg)| HistoryError::new(&history.source_name, line, msg))?;
    Ok(KeyJob {
        slot,
        search: Search::new(model, search_ops),
        op_ids,
        values,
        progress: Progress::Unfinished,
    })
}

/// The search operations of one key's `ops`, the history operation behind each, and the
/// values they name. Failed operations are dropped (they did not happen), and so are
/// indeterminate read-only ones (they constrain nothing). An error is the source line and what
/// is wrong there.
#[allow(clippy::type_complexity)]
pub(crate) fn compile_ops<M: Model>(
    model: &M,
    ops: &[&Operation],
) -> Result<(Vec<SearchOp<M::Op>>, Vec<usize>, Interner), (usize, String)> {
    let mut values = Interner::new();
    let mut search_ops = Vec::with_capacity(ops.len());
    let mut op_ids = Vec::with_capacity(ops.len());
    for op in ops {
        if op.outcome == Outcome::Fail {
            continue;
        }
        let compiled = model
            .compile(op, &mut values)
            .map_err(|msg| (op.value_line(), msg))?;
        let ret = match op.outcome {
            Outcome::Ok => op.complete_event,
            _ => None,
        };
        if ret.is_none() && model.is_read_only(&compiled) {
            continue;
        }
        search_ops.push(SearchOp {
            op: compiled,
            call: op.invoke_event,
            ret,
        });
        op_ids.push(op.id);
    }
    Ok((search_ops, op_ids, values))
}

/// Whether `ops` (one key's, or a subset of them) are not linearizable: `None` when the search
/// does not decide within `budget` steps or the operations do not fit the model.
pub(crate) fn fails_linearizability<M: Model>(
    model: &M,
    ops: &[&Operation],
    budget: u64,
) -> Option<bool> {
    if let Some(d) = model.exact(ops) {
        return Some(!d.linearizable);
    }
    let (search_ops, _, _) = compile_ops(model, ops).ok()?;
    match Search::new(model, search_ops).run(budget) {
        Progress::Linearizable => Some(false),
        Progress::NotLinearizable => Some(true),
        Progress::Unfinished => None,
    }
}

/// Whether `ops` fail linearizability by the search alone, never the model's exact shortcut: an
/// independent second opinion on a witness the shortcut produced.
pub(crate) fn fails_by_search<M: Model>(
    model: &M,
    ops: &[&Operation],
    budget: u64,
) -> Option<bool> {
    let (search_ops, _, _) = compile_ops(model, ops).ok()?;
    match Search::new(model, search_ops).run(budget) {
        Progress::Linearizable => Some(false),
        Progress::NotLinearizable => Some(true),
        Progress::Unfinished => None,
    }
}

/// Runs every job to a verdict, the deadline, or an early stop; returns them all.
///
/// The jobs advance in rounds: each live job runs one slice (its own size, from its own steps
/// so far), the threads sharing a round's jobs, and only between rounds is anything decided.
/// So the early stop is deterministic: unless every failure is asked for, the run stops after
/// the first round in which some key failed, and which keys those are does not depend on which
/// thread was faster. (Only a time budget can make two runs differ.)
fn run_jobs<'m, M: Model>(
    jobs: Vec<KeyJob<'m, M>>,
    deadline: Option<Instant>,
    opts: &Options,
    stopped: bool,
) -> Vec<KeyJob<'m, M>> {
    let total = jobs.len();
    let threads = match opts.threads {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    }
    .min(total.max(1));
    let mut finished: Vec<KeyJob<M>> = Vec::with_capacity(total);
    let mut live = jobs;
    while !live.is_empty() {
        let out_of_time = deadline.is_some_and(|d| Instant::now() >= d);
        let failed = finished
            .iter()
            .any(|j| j.progress == Progress::NotLinearizable);
        if stopped || out_of_time || (failed && !opts.all_failures) {
            finished.append(&mut live);
            break;
        }
        round(&mut live, threads, opts);
        let (done, rest): (Vec<_>, Vec<_>) = live
            .into_iter()
            .partition(|j| j.progress != Progress::Unfinished);
        if let Some(c) = &opts.progress {
            c.keys_done.fetch_add(done.len(), Ordering::Relaxed);
        }
        finished.extend(done);
        live = rest;
    }
    debug_assert_eq!(finished.len(), total, "every job comes back");
    finished
}

/// One slice of every job, on up to `threads` threads.
fn round<M: Model>(jobs: &mut [KeyJob<M>], threads: usize, opts: &Options) {
    let next = AtomicUsize::new(0);
    let threads = threads.min(jobs.len());
    let cells: Vec<Mutex<&mut KeyJob<M>>> = jobs.iter_mut().map(Mutex::new).collect();
    let worker = || loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some(cell) = cells.get(i) else { return };
        let mut job = cell.lock().expect("job lock");
        let before = job.search.steps();
        let slice = (before + FIRST_SLICE).min(MAX_SLICE);
        job.progress = job.search.run(slice);
        if let Some(c) = &opts.progress {
            c.steps
                .fetch_add(job.search.steps() - before, Ordering::Relaxed);
        }
    };
    if threads <= 1 {
        worker();
    } else {
        std::thread::scope(|s| {
            for _ in 1..threads {
                s.spawn(worker);
            }
            worker();
        });
    }
}

fn key_name(key: &Option<String>) -> String {
    match key {
        Some(k) => format!("{k:?}"),
        None => "(single register)".into(),
    }
}

fn op_view<M: Model>(model: &M, history: &History, job: &KeyJob<M>, local: usize) -> OpView {
    OpView::of(
        &history.ops[job.op_ids[local]],
        model.describe_op(&job.search.ops()[local], &job.values),
    )
}

fn counterexample<M: Model>(model: &M, history: &History, job: &KeyJob<M>) -> Counterexample {
    let stuck = job
        .search
        .stuck()
        .expect("a failed search records where it got stuck");
    let view = |i: usize| op_view(model, history, job, i);
    let prefix: Vec<OpView> = stuck.prefix.iter().map(|&i| view(i)).collect();
    let blocked = view(stuck.blocked);
    let pending: Vec<OpView> = stuck.pending.iter().map(|&i| view(i)).collect();
    let state = model.describe_state(&stuck.state, &job.values);
    let can_step = model
        .step(&stuck.state, &job.search.ops()[stuck.blocked])
        .is_some();
    let mut explanation = if prefix.is_empty() {
        format!("No operation can take effect first: the initial state is {state}, ")
    } else {
        format!(
            "The longest linearizable prefix has {} operation{}; after it the state is {state}. ",
            prefix.len(),
            if prefix.len() == 1 { "" } else { "s" }
        )
    };
    explanation.push_str(&format!(
        "Operation #{} (process {}, {}) returned before it could take effect: ",
        blocked.id, blocked.process, blocked.description
    ));
    if can_step {
        explanation.push_str(
            "it can follow this prefix, but every way of ordering the remaining operations after it fails.",
        );
    } else {
        explanation.push_str(&format!("it is impossible in state {state}"));
        if pending.is_empty() {
            explanation.push_str(", and no other operation was pending that could change that.");
        } else {
            explanation.push_str(&format!(
                ", and no order of the {} other pending operation{} makes it possible.",
                pending.len(),
                if pending.len() == 1 { "" } else { "s" }
            ));
        }
    }
    Counterexample {
        prefix,
        state,
        blocked,
        pending,
        explanation,
    }
}
