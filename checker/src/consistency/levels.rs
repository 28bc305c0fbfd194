//! Each model of the ladder judged on its own: the data anomalies every model shares, then
//! linearizable, sequential, the session guarantees and eventual consistency.

use super::*;

/// The node a final read asked, as the words name it.
pub(super) fn final_node(o: &Operation) -> String {
    o.node
        .as_ref()
        .map_or_else(|| format!("process {}", o.process), |n| n.to_string())
}

/// What the final reads can show: the nodes that answered, and the first node asked that
/// answered none of its own (agreement is then not shown for it) — or why they show nothing:
/// there are none, or none succeeded (agreement among no observations is not agreement).
pub(super) fn final_observers(
    finals: &[&Operation],
) -> Result<(BTreeSet<String>, Option<String>), String> {
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
pub(super) fn relevant<'h>(ops: &[&'h Operation]) -> Vec<&'h Operation> {
    ops.iter().copied().filter(|o| o.says_something()).collect()
}

pub(super) fn views(ops: &[&Operation]) -> Vec<OpView> {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|o| o.invoke_event);
    ops.into_iter().map(words::view).collect()
}

/// The version order of each key among `ops` alone.
pub(super) fn versions_of(ops: &[&Operation]) -> HashMap<Option<String>, KeyVersions> {
    crate::history::by_key(ops.iter().copied())
        .into_iter()
        .map(|(k, ops)| (k, KeyVersions::of(&ops)))
        .collect()
}

impl<'a, M: Model> Assessor<'a, M> {
    pub(super) fn key_ops(&self, key: &Option<String>) -> &[&'a Operation] {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&[], |(_, ops)| ops.as_slice())
    }

    /// Keys whose trouble a value from thin air already explains.
    pub(super) fn explained(&self, key: &Option<String>) -> bool {
        self.anomalies.iter().any(|a| {
            &a.key == key
                && matches!(
                    a.kind,
                    AnomalyKind::PhantomRead | AnomalyKind::ReadOfFailedWrite
                )
        })
    }

    /// Values read that nobody wrote (or whose only writes failed); their anomaly indices.
    pub(super) fn data_anomalies(&mut self) -> Vec<usize> {
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

    pub(super) fn linearizable(&mut self, report: &Report) -> LevelResult {
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
    pub(super) fn sequential_search(
        &self,
        ops: &[&Operation],
        budget: u64,
        shared: bool,
    ) -> Option<bool> {
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

    pub(super) fn sequential(&mut self) -> LevelResult {
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

    pub(super) fn session(&mut self, level: Level) -> LevelResult {
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

    pub(super) fn eventual(&mut self) -> LevelResult {
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
