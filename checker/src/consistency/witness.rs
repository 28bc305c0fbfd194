//! Witnesses: for each anomaly the fewest operations that prove it, shrunk within a budget,
//! confirmed by an independent check, and named (a stale read, a lost write, a read of a
//! failed write) in words.

use super::*;

impl<'a, M: Model> Assessor<'a, M> {
    /// Reserves an anomaly for a witness still to be shrunk; [`Assessor::shrink_witnesses`]
    /// fills it in.
    pub(super) fn reserve(
        &mut self,
        kind: AnomalyKind,
        key: &Option<String>,
        level: Level,
    ) -> usize {
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
    pub(super) fn shrink_witnesses(&mut self) {
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
    pub(super) fn witness(&self, task: &Task<'a>) -> Anomaly {
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
    pub(super) fn confirm(&self, what: &What<'a>, ops: &[&Operation]) -> bool {
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

    pub(super) fn describe(&self, task: &Task<'a>, ops: &[&Operation]) -> (AnomalyKind, String) {
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
pub(super) fn withdraw_unconfirmed(
    results: &mut BTreeMap<Level, LevelResult>,
    anomalies: &[Anomaly],
) {
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

/// The writes that order the values `ops` saw or wrote: their producers, and for a cas chain
/// the producers of every value before it.
pub(super) fn support<'h>(key_ops: &[&'h Operation], ops: &[&'h Operation]) -> Vec<&'h Operation> {
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
pub(super) fn classify_linearizability(
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
