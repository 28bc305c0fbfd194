//! A seeded simulation of a raftkv cluster with no sockets and no clocks: the network drops,
//! delays, duplicates and reorders messages and partitions nodes; nodes crash and restart from
//! what they had made durable. After every step it checks Raft's safety properties (Figure 3):
//! election safety, log matching, leader completeness and state-machine safety. With
//! `membership` on, leaders also change the configuration one server at a time — removing a
//! member, adding a removed node back as a learner, promoting it once caught up — and the same
//! properties are checked across configurations (at most one leader per term, whichever
//! configuration elected it).

use super::kv::Kv;
use super::log::{Command, Entry};
use super::node::{Change, Config, Envelope, Node, NodeId, Ready, Role, Unsafe};
use super::storage::MemoryDisk;
use std::collections::{BTreeMap, BTreeSet};

/// What the simulation does and how hostile it is.
#[derive(Clone, Debug)]
pub struct SimSpec {
    pub nodes: u64,
    pub steps: u64,
    pub seed: u64,
    pub drop: f64,
    pub duplicate: f64,
    pub max_delay: u64,
    /// Chance per step of a crash, a restart, a new partition or a heal.
    pub crash: f64,
    pub partition: f64,
    pub unsafe_: Unsafe,
    /// Persist lazily, so a crash loses what was acknowledged (the `no-fsync` knob).
    pub no_fsync: bool,
    /// Chance per step that the leader asks for a change of configuration.
    pub membership: f64,
}

impl SimSpec {
    pub fn new(seed: u64) -> SimSpec {
        SimSpec {
            nodes: 3 + 2 * (seed % 2),
            steps: 1500,
            seed,
            drop: 0.05,
            duplicate: 0.02,
            max_delay: 6,
            crash: 0.004,
            partition: 0.006,
            unsafe_: Unsafe::default(),
            no_fsync: false,
            membership: 0.0,
        }
    }
}

struct Sim {
    spec: SimSpec,
    rng: u64,
    now: u64,
    nodes: BTreeMap<NodeId, Option<(Node, Kv)>>,
    disks: BTreeMap<NodeId, MemoryDisk>,
    /// With no-fsync: what was written but not yet synced.
    unsynced: BTreeMap<NodeId, Vec<Ready>>,
    network: Vec<(u64, Envelope)>,
    blocked: BTreeSet<(NodeId, NodeId)>,
    leaders: BTreeMap<u64, NodeId>,
    /// index → (entry, highest term anywhere when it was first applied)
    committed: BTreeMap<u64, (Entry, u64)>,
    next_value: u64,
}

impl Sim {
    fn random(&mut self) -> u64 {
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        self.rng
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.random() % 1_000_000) as f64 / 1e6 < p
    }

    fn config(&self, id: NodeId) -> Config {
        let mut cfg = Config::new(id, (1..=self.spec.nodes).collect());
        cfg.max_batch = 8;
        cfg.max_in_flight = 32;
        cfg.unsafe_ = self.spec.unsafe_;
        cfg.seed = self
            .spec
            .seed
            .wrapping_mul(31)
            .wrapping_add(id * 7 + self.now);
        cfg
    }

    fn boot(&mut self, id: NodeId) {
        let disk = self.disks.entry(id).or_default().clone();
        let (log, data) = (disk.log(), disk.state_machine());
        let kv = Kv::restore(&data).expect("snapshots restore");
        let cfg = self.config(id).restarting_with(kv.members());
        let node = Node::new(cfg, disk.term, disk.vote, log, Some(data));
        self.nodes.insert(id, Some((node, kv)));
    }

    fn crash(&mut self, id: NodeId) {
        self.nodes.insert(id, None);
        self.unsynced.remove(&id); // lost with the page cache
    }

    fn process_ready(&mut self, id: NodeId) -> Result<(), String> {
        let Some(Some((node, _))) = self.nodes.get_mut(&id) else {
            return Ok(());
        };
        let ready = node.take_ready();
        // Durable first (or, without fsync, merely buffered), then messages.
        if self.spec.no_fsync {
            self.unsynced.entry(id).or_default().push(Ready {
                hard_state: ready.hard_state,
                truncate_from: ready.truncate_from,
                append: ready.append.clone(),
                snapshot: ready.snapshot.clone(),
                ..Ready::default()
            });
        } else {
            self.disks.entry(id).or_default().persist(&ready);
        }
        for m in ready.messages {
            let delay = 1 + self.random() % self.spec.max_delay;
            if self.chance(self.spec.duplicate) {
                let extra = 1 + self.random() % self.spec.max_delay;
                self.network.push((self.now + extra, m.clone()));
            }
            self.network.push((self.now + delay, m));
        }
        let max_term = self.max_term();
        let Some(Some((node, kv))) = self.nodes.get_mut(&id) else {
            unreachable!()
        };
        if let Some(s) = &ready.snapshot {
            *kv = Kv::restore(&s.data)?;
        }
        for e in &ready.apply {
            kv.apply(e);
            match self.committed.get(&e.index) {
                Some((c, _)) if c != e => {
                    return Err(format!(
                        "state machine safety: node {id} applied {e:?} at index {} where {c:?} was applied",
                        e.index
                    ))
                }
                Some(_) => {}
                None => {
                    self.committed.insert(e.index, (e.clone(), max_term));
                }
            }
        }
        // Compact now and then, so snapshots and InstallSnapshot are exercised.
        if kv.applied() > node.log().snapshot_index() + 40 {
            let (index, data) = (kv.applied(), kv.snapshot());
            node.compact(index, data.clone());
            let term = node.log().snapshot_term();
            let disk = self.disks.entry(id).or_default();
            if !self.spec.no_fsync {
                disk.entries.retain(|e| e.index > index);
                disk.snapshot = Some((index, term, data));
            }
        }
        Ok(())
    }

    fn max_term(&self) -> u64 {
        self.nodes
            .values()
            .flatten()
            .map(|(n, _)| n.term())
            .max()
            .unwrap_or(0)
    }

    fn live(&self) -> Vec<NodeId> {
        self.nodes
            .iter()
            .filter(|(_, n)| n.is_some())
            .map(|(&id, _)| id)
            .collect()
    }

    fn step(&mut self) -> Result<(), String> {
        self.now += 1;
        let ids: Vec<NodeId> = (1..=self.spec.nodes).collect();
        // Faults.
        if self.chance(self.spec.crash) {
            let id = ids[(self.random() % ids.len() as u64) as usize];
            if self.nodes[&id].is_some() {
                self.crash(id);
            }
        }
        for &id in &ids {
            if self.nodes[&id].is_none() && self.chance(0.02) {
                self.boot(id);
            }
        }
        if self.spec.no_fsync && self.now.is_multiple_of(10) {
            for (id, readies) in std::mem::take(&mut self.unsynced) {
                let disk = self.disks.entry(id).or_default();
                for r in &readies {
                    disk.persist(r);
                }
            }
        }
        if self.chance(self.spec.partition) {
            self.blocked.clear();
            let cut = ids[(self.random() % ids.len() as u64) as usize];
            for &other in &ids {
                if other != cut && !self.random().is_multiple_of(3) {
                    self.blocked.insert((cut, other));
                    self.blocked.insert((other, cut));
                }
            }
        } else if !self.blocked.is_empty() && self.chance(self.spec.partition * 2.0) {
            self.blocked.clear();
        }
        // Client load on whoever leads.
        for id in self.live() {
            let Some(Some((node, _))) = self.nodes.get_mut(&id) else {
                continue;
            };
            if node.role() == Role::Leader {
                self.next_value += 1;
                let key = format!("k{}", self.next_value % 4);
                let cmd = if self.next_value.is_multiple_of(4) {
                    Command::Cas {
                        key,
                        from: serde_json::json!(self.next_value - 4),
                        to: serde_json::json!(self.next_value),
                    }
                } else {
                    Command::Put {
                        key,
                        value: serde_json::json!(self.next_value),
                    }
                };
                let _ = node.propose(cmd);
                node.promote_caught_up();
                if self.next_value.is_multiple_of(7) {
                    let _ = node.read_index(self.next_value);
                }
                node.flush(self.now);
            }
        }
        self.change_members();
        // Ticks and deliveries.
        for id in self.live() {
            if let Some(Some((node, _))) = self.nodes.get_mut(&id) {
                node.tick(self.now);
            }
        }
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.network)
            .into_iter()
            .partition(|(t, _)| *t <= self.now);
        self.network = later;
        for (_, env) in due {
            if self.blocked.contains(&(env.from, env.to)) || self.chance(self.spec.drop) {
                continue;
            }
            if let Some(Some((node, _))) = self.nodes.get_mut(&env.to) {
                node.step(env.from, env.msg);
            }
        }
        for id in self.live() {
            self.process_ready(id)?;
        }
        self.check()
    }

    /// Now and then, a leader removes a voter (never below two) or adds a removed node back;
    /// refusals (one change at a time, the term's no-op first) are simply dropped.
    fn change_members(&mut self) {
        if self.spec.membership == 0.0 {
            return;
        }
        // A leader just elected (nothing of its term committed yet) is asked more often: that
        // is where a change from an earlier term may still be in flight unseen.
        let fresh = self.chance(0.3);
        let asked = self.chance(self.spec.membership);
        let pick = self.random();
        let coin = self.random().is_multiple_of(2);
        let n = self.spec.nodes;
        let leaders = self.nodes.values_mut().flatten();
        for (node, _) in leaders.filter(|(n, _)| n.role() == Role::Leader) {
            let new = node.log().term_at(node.commit_index()) != Some(node.term());
            if !(asked || (new && fresh)) {
                continue;
            }
            let m = node.members().clone();
            let outside: Vec<NodeId> = (1..=n).filter(|&id| !m.contains(id)).collect();
            let voters: Vec<NodeId> = m.voters.iter().copied().collect();
            let change = if !outside.is_empty() && (coin || voters.len() <= 2) {
                Change::AddLearner(outside[(pick % outside.len() as u64) as usize])
            } else if voters.len() > 2 {
                Change::Remove(voters[(pick % voters.len() as u64) as usize])
            } else {
                continue;
            };
            let _ = node.propose_change(change);
            node.flush(self.now);
        }
    }

    fn check(&mut self) -> Result<(), String> {
        let live: Vec<&Node> = self.nodes.values().flatten().map(|(n, _)| n).collect();
        for n in &live {
            if n.role() == Role::Leader {
                match self.leaders.insert(n.term(), n.id()) {
                    Some(other) if other != n.id() => {
                        return Err(format!(
                            "election safety: two leaders in term {}: {other} and {}",
                            n.term(),
                            n.id()
                        ))
                    }
                    _ => {}
                }
            }
        }
        // Log matching: where two logs agree on an index's term, they agree up to it.
        for (i, a) in live.iter().enumerate() {
            for b in &live[i + 1..] {
                let (la, lb) = (a.log(), b.log());
                let lo = la.snapshot_index().max(lb.snapshot_index()) + 1;
                let hi = la.last_index().min(lb.last_index());
                let mut agree_from = None;
                for idx in (lo..=hi).rev() {
                    if la.term_at(idx) == lb.term_at(idx) {
                        agree_from = Some(idx);
                        break;
                    }
                }
                if let Some(top) = agree_from {
                    for idx in lo..=top {
                        if la.get(idx) != lb.get(idx) {
                            return Err(format!(
                                "log matching: nodes {} and {} agree at index {top} but differ at {idx}",
                                a.id(),
                                b.id()
                            ));
                        }
                    }
                }
            }
        }
        // Leader completeness: a leader of a later term holds every committed entry.
        for n in &live {
            if n.role() != Role::Leader {
                continue;
            }
            for (&idx, (entry, seen_in_term)) in
                self.committed.range(n.log().snapshot_index() + 1..)
            {
                if n.term() > *seen_in_term && n.log().get(idx) != Some(entry) {
                    return Err(format!(
                        "leader completeness: leader {} of term {} lacks committed entry {idx}",
                        n.id(),
                        n.term()
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Runs a simulation; `Err` names the property that broke (a node's own safety assertion
/// counts too). Returns how many entries were committed.
pub fn run(spec: SimSpec) -> Result<usize, String> {
    let result = std::panic::catch_unwind(|| {
        let mut sim = Sim {
            rng: spec.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            now: 0,
            nodes: BTreeMap::new(),
            disks: BTreeMap::new(),
            unsynced: BTreeMap::new(),
            network: Vec::new(),
            blocked: BTreeSet::new(),
            leaders: BTreeMap::new(),
            committed: BTreeMap::new(),
            next_value: 0,
            spec: spec.clone(),
        };
        for id in 1..=spec.nodes {
            sim.boot(id);
        }
        for _ in 0..spec.steps {
            sim.step()?;
        }
        Ok(sim.committed.len())
    });
    match result {
        Ok(r) => r,
        Err(panic) => Err(format!(
            "node assertion: {}",
            panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn safe_configuration_keeps_every_safety_property_over_many_seeds() {
        let mut committed = 0;
        for seed in 0..300 {
            committed += run(SimSpec::new(seed)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
        assert!(
            committed > 300 * 100,
            "the cluster makes progress: {committed} entries"
        );
        // The same hostile settings the unsafe knobs are tested under break nothing when safe.
        for seed in 0..150 {
            run(hostile(seed)).unwrap_or_else(|e| panic!("hostile seed {seed}: {e}"));
        }
    }

    #[test]
    fn a_quiet_network_elects_one_leader_and_commits() {
        let spec = SimSpec {
            drop: 0.0,
            duplicate: 0.0,
            crash: 0.0,
            partition: 0.0,
            steps: 300,
            ..SimSpec::new(1)
        };
        assert!(run(spec).unwrap() > 100);
    }

    /// Runs seeds until one breaks; returns the error.
    fn first_violation_within(seeds: u64, spec: impl Fn(u64) -> SimSpec) -> String {
        for seed in 0..seeds {
            if let Err(e) = run(spec(seed)) {
                eprintln!("seed {seed} broke it: {e}");
                return e;
            }
        }
        panic!("no seed out of {seeds} broke the property");
    }

    fn hostile(seed: u64) -> SimSpec {
        SimSpec {
            crash: 0.02,
            partition: 0.02,
            steps: 1500,
            ..SimSpec::new(seed)
        }
    }

    /// The knob must break a safety property: a leader without a committed entry, two
    /// different entries applied at one index, two leaders in a term, or a node's own assertion
    /// that a committed entry is being overwritten.
    fn assert_safety_broken(knob: impl Fn(u64) -> SimSpec) {
        assert_safety_broken_within(400, knob)
    }

    fn assert_safety_broken_within(seeds: u64, knob: impl Fn(u64) -> SimSpec) {
        let e = first_violation_within(seeds, knob);
        let named = [
            "leader completeness",
            "state machine safety",
            "two leaders",
            "committed entry",
        ];
        assert!(named.iter().any(|p| e.contains(p)), "{e}");
    }

    #[test]
    fn without_the_election_restriction_committed_entries_are_lost() {
        assert_safety_broken(|seed| SimSpec {
            unsafe_: Unsafe {
                no_election_restriction: true,
                ..Unsafe::default()
            },
            ..hostile(seed)
        });
    }

    #[test]
    fn committing_old_terms_by_counting_replicas_loses_committed_entries() {
        assert_safety_broken(|seed| SimSpec {
            unsafe_: Unsafe {
                commit_old_term: true,
                ..Unsafe::default()
            },
            ..hostile(seed)
        });
    }

    #[test]
    fn without_the_election_noop_the_log_stays_safe() {
        // The no-op orders reads and lets old entries commit at once; the log's safety rests on
        // the commit rule alone (golden scenario 18).
        for seed in 0..300 {
            let spec = SimSpec {
                unsafe_: Unsafe {
                    no_election_noop: true,
                    ..Unsafe::default()
                },
                ..hostile(seed)
            };
            run(spec).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }

    #[test]
    fn without_the_election_noop_counting_old_terms_loses_committed_entries() {
        // Figure 8 with no no-op to close its window (golden scenario 17).
        assert_safety_broken_within(3_000, |seed| SimSpec {
            unsafe_: Unsafe {
                commit_old_term: true,
                no_election_noop: true,
                ..Unsafe::default()
            },
            ..hostile(seed)
        });
    }

    /// Hostile settings with the leader changing the configuration often.
    fn reconfiguring(seed: u64) -> SimSpec {
        SimSpec {
            nodes: 4 + seed % 2,
            membership: 0.2,
            crash: 0.05,
            ..hostile(seed)
        }
    }

    #[test]
    fn membership_changes_keep_every_safety_property() {
        for seed in 0..300 {
            run(reconfiguring(seed)).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
        }
    }

    #[test]
    fn a_change_before_the_terms_noop_commits_breaks_safety() {
        // Rare: 2 seeds in 3,000 (a change from an earlier term must reach one node only, its
        // leader fall, and the next change come before the new leader's no-op commits).
        assert_safety_broken_within(3_000, |seed| SimSpec {
            unsafe_: Unsafe {
                membership_without_noop: true,
                ..Unsafe::default()
            },
            ..reconfiguring(seed)
        });
    }

    #[test]
    fn concurrent_changes_break_safety() {
        assert_safety_broken(|seed| SimSpec {
            unsafe_: Unsafe {
                concurrent_membership: true,
                ..Unsafe::default()
            },
            ..reconfiguring(seed)
        });
    }

    #[test]
    fn without_fsync_a_crash_forgets_votes_and_entries() {
        assert_safety_broken(|seed| SimSpec {
            no_fsync: true,
            ..hostile(seed)
        });
    }
}
