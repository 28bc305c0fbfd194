//! The simulated nemesis: the fault schedule's steps applied to simulated nodes (partitions,
//! pauses, kills, clocks, membership) and healed, recorded as the real nemesis records them.

use super::*;

impl World<'_> {
    /// The node that leads now, as the nodes say: a running, unpaused leader of the highest term.
    pub(super) fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].paused)
            .filter_map(|i| self.nodes[i].up.as_ref().map(|s| (i, &s.node)))
            .filter(|(_, n)| n.role() == Role::Leader)
            .max_by_key(|(_, n)| n.term())
            .map(|(i, _)| i)
    }

    /// The leader a majority of the voters of its configuration name as leader in its term: a
    /// leader deposed without knowing it (cut off while the others elected) does not count, and
    /// its configuration is not the cluster's; nodes that campaign in ever higher terms without
    /// winning do not unseat it. As `faultline run` finds the leader to confirm a change with.
    pub(super) fn current_leader(&self) -> Option<usize> {
        let l = self.leader()?;
        let node = &self.nodes[l].up.as_ref()?.node;
        let voters = &node.members().voters;
        let backers = voters
            .iter()
            .filter_map(|&v| self.nodes[v as usize - 1].up.as_ref())
            .filter(|s| s.node.term() == node.term() && s.node.leader() == Some(node.id()))
            .count();
        (backers > voters.len() / 2).then_some(l)
    }

    pub(super) fn nemesis(&mut self, step: &Step) {
        let (f, plan) = match &step.action {
            Action::Start { plan } => (format!("start-{}", plan.kind()), Some(plan.clone())),
            Action::Stop => ("stop".to_string(), None),
        };
        let Some(plan) = plan else {
            self.stop_faults(&f);
            self.healed();
            return;
        };
        self.recorder
            .nemesis("invoke", &f, json!(plan.to_string()), Map::new());
        if self.active.iter().any(|a| active_kind(a) == plan.kind()) {
            self.stop_faults("stop");
        }
        match self.start(&plan) {
            Ok((description, nodes)) => self.record(&f, &description, &nodes, step.pattern),
            Err(e) => {
                let mut extra = Map::new();
                extra.insert("error".into(), json!(e));
                self.recorder
                    .nemesis("info", &f, json!("not applied"), extra);
                self.fault_log.push(format!(
                    "{:>8.3} s  not applied: {plan}: {e}",
                    self.now as f64 / 1e6
                ));
            }
        }
    }

    pub(super) fn record(
        &mut self,
        f: &str,
        description: &str,
        nodes: &[usize],
        pattern: Option<&str>,
    ) {
        let names: Vec<String> = nodes.iter().map(|i| format!("n{}", i + 1)).collect();
        let mut extra = Map::new();
        extra.insert("nodes".into(), json!(names));
        self.recorder.nemesis("info", f, json!(description), extra);
        let pattern = pattern.map(|p| format!(" [{p}]")).unwrap_or_default();
        self.fault_log.push(format!(
            "{:>8.3} s  {description}{pattern}",
            self.now as f64 / 1e6
        ));
    }

    /// Applies `plan`; what it did, in words, and the nodes it touched.
    pub(super) fn start(&mut self, plan: &Plan) -> Result<(String, Vec<usize>), String> {
        let n = self.spec.nodes;
        let leader = self.leader();
        match *plan {
            Plan::Partition { shape } => {
                // As the nemesis does: the leader, or a node at random when none is known.
                let l = Who::Leader
                    .victims(n, leader, None, &mut self.nemesis_rng)
                    .0[0];
                if shape == Shape::IsolateLeader {
                    self.deposed = Some(l);
                }
                let grudge = Grudge::of_shape(shape, n, &mut self.nemesis_rng, l);
                let cut: Vec<usize> = (0..n)
                    .filter(|&i| !grudge.hears_not(i).is_empty())
                    .collect();
                let said = format!("partition ({}): {grudge}", shape.name());
                self.grudge = Some(grudge);
                self.active.push(Active::Partition);
                Ok((said, cut))
            }
            Plan::Pause { who } => {
                let (nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                if let Some(&down) = nodes.iter().find(|&&i| self.nodes[i].up.is_none()) {
                    return Err(format!("pause: n{} is not running", down + 1));
                }
                if who == Who::Leader {
                    self.deposed = nodes.first().copied();
                }
                for &i in &nodes {
                    self.nodes[i].paused = true;
                }
                self.active.push(Active::Paused(nodes.clone()));
                Ok((format!("pause {how}{}", names(&nodes)), nodes))
            }
            Plan::Kill { who } => {
                let (nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                if let Some(&down) = nodes.iter().find(|&&i| self.nodes[i].up.is_none()) {
                    return Err(format!("kill: n{} is not running", down + 1));
                }
                for &i in &nodes {
                    self.crash(i);
                }
                self.active.push(Active::Killed(nodes.clone()));
                Ok((format!("kill {how}{}", names(&nodes)), nodes))
            }
            Plan::Clock { who, change } => {
                let (nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                let down = |i: usize| self.nodes[i].up.is_none() || self.nodes[i].paused;
                let (node, moved) = Who::clock_node(nodes[0], n, down);
                let how = moved.unwrap_or(how);
                self.change_clock(node, change);
                self.active.push(Active::Clock(node));
                Ok((format!("clock {how}n{} {change}", node + 1), vec![node]))
            }
            Plan::Membership { who } => {
                let (mut nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                nodes.truncate(Who::minority(n));
                self.want_voters((0..n).filter(|i| !nodes.contains(i)).collect());
                self.active.push(Active::Removed(nodes.clone()));
                Ok((
                    format!("remove {how}{} from the configuration", names(&nodes)),
                    nodes,
                ))
            }
        }
    }

    pub(super) fn want_voters(&mut self, voters: Vec<usize>) {
        let idle = self.wanted_voters.is_none();
        self.wanted_voters = Some(voters);
        if idle {
            self.after(1_000, Ev::Admin);
        }
    }

    /// The operator's turn, every millisecond until the leader's configuration is the one wanted and
    /// committed: the next change toward it — a node too many removed, a node missing added as
    /// a learner (the leader promotes it once caught up) — asked of whichever node leads now.
    /// Like an automated operator it asks again as soon as a change is accepted, so a leader
    /// that accepts changes it should refuse (the membership knobs) is caught doing so.
    pub(super) fn admin(&mut self) {
        let Some(wanted) = self.wanted_voters.clone() else {
            return;
        };
        let Some(l) = self.current_leader() else {
            self.after(1_000, Ev::Admin);
            return;
        };
        let svc = self.nodes[l].up.as_mut().expect("a leader runs");
        let m = svc.node.members().clone();
        let id = |i: usize| i as NodeId + 1;
        let extra = m.all().find(|v| !wanted.iter().any(|&w| id(w) == *v));
        let missing = wanted.iter().copied().find(|&w| !m.contains(id(w)));
        let change = match (extra, missing) {
            (Some(v), _) => Some(Change::Remove(v)),
            (None, Some(w)) => Some(Change::AddLearner(id(w))),
            (None, None) => None,
        };
        let committed = svc.node.members_index() <= svc.node.commit_index();
        match change {
            Some(c) if svc.node.propose_change(c).is_ok() => self.process(l),
            Some(_) => {}
            None if committed && m.learners.is_empty() => {
                self.wanted_voters = None;
                self.fault_log.push(format!(
                    "{:>8.3} s  configuration now voters {} (confirmed by n{}'s)",
                    self.now as f64 / 1e6,
                    names(&wanted),
                    l + 1
                ));
                return;
            }
            None => {}
        }
        self.after(1_000, Ev::Admin);
    }

    pub(super) fn change_clock(&mut self, i: usize, change: ClockChange) {
        let now = self.now;
        let clock = &mut self.nodes[i].clock;
        match change {
            ClockChange::Bump { ms } => clock.offset_ms += ms as f64,
            ClockChange::Drift { rate } => clock.set_rate(now, rate),
            ClockChange::Strobe {
                delta_ms,
                period_ms,
            } => {
                clock.generation += 1;
                clock.strobe = Some((delta_ms as f64, true, period_ms));
                let generation = clock.generation;
                self.after(
                    period_ms * 1000,
                    Ev::Strobe {
                        node: i,
                        generation,
                    },
                );
            }
        }
    }

    pub(super) fn strobe(&mut self, i: usize, generation: u64) {
        let clock = &mut self.nodes[i].clock;
        let Some((delta, on, period)) = clock.strobe.filter(|_| clock.generation == generation)
        else {
            return;
        };
        clock.strobe = Some((delta, !on, period));
        self.after(
            period * 1000,
            Ev::Strobe {
                node: i,
                generation,
            },
        );
    }

    /// Undoes every fault in force, the last first.
    pub(super) fn stop_faults(&mut self, f: &str) {
        if self.active.is_empty() {
            return;
        }
        self.recorder
            .nemesis("invoke", f, json!("heal"), Map::new());
        self.deposed = None;
        let mut said = Vec::new();
        let mut touched = Vec::new();
        while let Some(active) = self.active.pop() {
            match active {
                Active::Partition => {
                    self.grudge = None;
                    said.push("heal the network".to_string());
                }
                Active::Paused(nodes) => {
                    for &i in &nodes {
                        self.resume(i);
                    }
                    said.push(format!("resume {}", names(&nodes)));
                    touched.extend(nodes);
                }
                Active::Killed(nodes) => {
                    for &i in &nodes {
                        self.boot(i);
                    }
                    said.push(format!("restart {}", names(&nodes)));
                    touched.extend(nodes);
                }
                Active::Removed(nodes) => {
                    self.want_voters((0..self.spec.nodes).collect());
                    said.push(format!("add back {}", names(&nodes)));
                    touched.extend(nodes);
                }
                Active::Clock(i) => {
                    let now = self.now;
                    let clock = &mut self.nodes[i].clock;
                    clock.set_rate(now, 1.0);
                    clock.offset_ms = 0.0;
                    clock.strobe = None;
                    clock.generation += 1;
                    said.push(format!("reset n{}'s clock", i + 1));
                    touched.push(i);
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        self.record(f, &said.join("; "), &touched, None);
    }

    pub(super) fn resume(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if !node.paused {
            return;
        }
        node.paused = false;
        node.timer += 1;
        let held = std::mem::take(&mut node.held);
        let (timer, tick) = (node.timer, node.clock.tick_us());
        for ev in held {
            self.after(1, ev);
        }
        self.after(tick, Ev::Tick { node: i, timer });
    }
}
