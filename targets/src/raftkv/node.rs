//! The Raft core: a deterministic state machine driven by messages, ticks and client proposals.
//!
//! It does no I/O. Each input changes the node and queues outputs in a [`Ready`]: what must be
//! made durable (term, vote, log changes, a received snapshot), the messages to send — only after
//! the durable part is on disk — the committed entries to apply, and the reads that may be served.
//! The process driver (`server.rs`) and the simulation (`sim.rs`) both drive it this way.

use super::log::{Address, Command, Entry, Log, Members};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, VecDeque};

mod membership;
mod reads;
mod snapshots;

pub type NodeId = u64;

mod types;
pub use types::*;

struct PendingRead {
    id: u64,
    index: u64,
    round: u64,
}

/// One Raft participant.
pub struct Node {
    cfg: Config,
    // Persistent state (§5.1, Figure 2), made durable through `Ready::hard_state` and the log.
    term: u64,
    voted_for: Option<NodeId>,
    log: Log,
    // Volatile state.
    role: Role,
    leader: Option<NodeId>,
    commit: u64,
    /// Highest index handed to the driver to apply.
    applied: u64,
    election_elapsed: u64,
    election_timeout: u64,
    heartbeat_elapsed: u64,
    votes: BTreeSet<NodeId>,
    next_index: BTreeMap<NodeId, u64>,
    match_index: BTreeMap<NodeId, u64>,
    /// Latest confirmation round each follower answered.
    acked_round: BTreeMap<NodeId, u64>,
    round: u64,
    /// Time (driver's clock, ms) each recent round was started, for leases.
    round_started: VecDeque<(u64, u64)>,
    lease_until: u64,
    /// Reads are waiting for a round that has not started; `flush` starts it.
    round_wanted: bool,
    pending_reads: VecDeque<PendingRead>,
    /// Reads waiting for this leader's first commit in its term.
    reads_waiting_for_commit: Vec<u64>,
    snapshot_data: Option<String>,
    /// The configuration in force: the latest in the log, committed or not (dissertation §4.1),
    /// else `members_base`; and the index of the entry that set it.
    members: Members,
    members_index: u64,
    /// The configuration as of the snapshot (or the one the node started with).
    members_base: Members,
    rng: u64,
    ready: Ready,
}

impl Node {
    /// A node restarted from durable state: term, vote, log and the snapshot it starts from.
    pub fn new(
        cfg: Config,
        term: u64,
        voted_for: Option<NodeId>,
        log: Log,
        snapshot: Option<String>,
    ) -> Node {
        let members_base = Members {
            voters: cfg.members.iter().copied().collect(),
            learners: cfg.learners.iter().copied().collect(),
            addrs: Default::default(),
        };
        // A node need not be a member: one removed from the cluster may restart, and stays
        // outside (it neither stands nor votes) unless it is added back.
        let commit = log.snapshot_index();
        let mut node = Node {
            rng: cfg.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1,
            cfg,
            term,
            voted_for,
            log,
            role: Role::Follower,
            leader: None,
            commit,
            applied: commit,
            election_elapsed: 0,
            election_timeout: 0,
            heartbeat_elapsed: 0,
            votes: BTreeSet::new(),
            next_index: BTreeMap::new(),
            match_index: BTreeMap::new(),
            acked_round: BTreeMap::new(),
            round: 0,
            round_started: VecDeque::new(),
            lease_until: 0,
            round_wanted: false,
            pending_reads: VecDeque::new(),
            reads_waiting_for_commit: Vec::new(),
            snapshot_data: snapshot,
            members: members_base.clone(),
            members_index: 0,
            members_base,
            ready: Ready::default(),
        };
        node.refresh_members();
        node.reset_election_timer();
        node
    }

    /// The configuration in force.
    pub fn members(&self) -> &Members {
        &self.members
    }

    fn is_voter(&self) -> bool {
        self.members.voters.contains(&self.cfg.id)
    }

    /// Finds the configuration in force again after the log lost entries (a truncation, a
    /// snapshot): the latest in the log, else the snapshot's.
    fn refresh_members(&mut self) {
        let latest = (self.log.snapshot_index() + 1..=self.log.last_index())
            .rev()
            .find_map(|i| match &self.log.get(i)?.command {
                Command::Config(m) => Some((i, m.clone())),
                _ => None,
            });
        let (index, members) =
            latest.unwrap_or_else(|| (self.log.snapshot_index(), self.members_base.clone()));
        self.set_members(index, members);
    }

    /// Puts `members`, set by the entry at `index`, in force; a leader starts or stops
    /// replicating to the nodes that joined or left.
    fn set_members(&mut self, index: u64, members: Members) {
        if self.role == Role::Leader {
            // A newcomer is sent the entry that adds it at once; the back-off finds the rest.
            let next = self.log.last_index().max(1);
            for p in members.all().filter(|&p| p != self.cfg.id) {
                self.next_index.entry(p).or_insert(next);
                self.match_index.entry(p).or_insert(0);
            }
            self.next_index.retain(|p, _| members.contains(*p));
            self.match_index.retain(|p, _| members.contains(*p));
        }
        self.members = members;
        self.members_index = index;
    }

    pub fn id(&self) -> NodeId {
        self.cfg.id
    }
    pub fn term(&self) -> u64 {
        self.term
    }
    pub fn role(&self) -> Role {
        self.role
    }
    pub fn leader(&self) -> Option<NodeId> {
        self.leader
    }
    pub fn commit_index(&self) -> u64 {
        self.commit
    }
    pub fn log(&self) -> &Log {
        &self.log
    }

    /// Takes the accumulated outputs.
    pub fn take_ready(&mut self) -> Ready {
        std::mem::take(&mut self.ready)
    }

    fn quorum(&self) -> usize {
        self.members.voters.len() / 2 + 1
    }

    /// Every other member, voters and learners: whom a leader replicates to.
    fn peers(&self) -> impl Iterator<Item = NodeId> + '_ {
        let me = self.cfg.id;
        self.members.all().filter(move |&m| m != me)
    }

    /// The highest value a majority of voters has reached, each voter's value given by `of`
    /// (this node's own by `own`); none without voters.
    fn quorum_value(&self, of: impl Fn(NodeId) -> u64, own: u64) -> Option<u64> {
        let mut values: Vec<u64> = self
            .members
            .voters
            .iter()
            .map(|&v| if v == self.cfg.id { own } else { of(v) })
            .collect();
        values.sort_unstable_by(|a, b| b.cmp(a));
        values.get(self.quorum() - 1).copied()
    }

    fn random(&mut self) -> u64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        self.rng.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// §5.2: randomized election timeouts make split votes rare.
    fn reset_election_timer(&mut self) {
        let (lo, hi) = self.cfg.election_ticks;
        self.election_elapsed = 0;
        self.election_timeout = lo + self.random() % (hi - lo + 1);
    }

    fn send(&mut self, to: NodeId, msg: Message) {
        self.ready.messages.push(Envelope {
            from: self.cfg.id,
            to,
            msg,
        });
    }

    fn persist_hard_state(&mut self) {
        self.ready.hard_state = Some((self.term, self.voted_for));
    }

    /// Moves to a newer term as a follower (§5.1: any newer term seen wins).
    fn become_follower(&mut self, term: u64, leader: Option<NodeId>) {
        assert!(term >= self.term, "the term never goes backwards");
        if term > self.term {
            self.term = term;
            // A new term has no vote yet; persisted before anything is sent in it.
            self.voted_for = None;
            self.persist_hard_state();
        }
        if self.role == Role::Leader {
            self.fail_reads();
        }
        self.role = Role::Follower;
        self.leader = leader;
        self.votes.clear();
        self.reset_election_timer();
    }

    fn fail_reads(&mut self) {
        let failed = self
            .pending_reads
            .drain(..)
            .map(|r| r.id)
            .chain(self.reads_waiting_for_commit.drain(..));
        self.ready.failed_reads.extend(failed);
        self.lease_until = 0;
    }

    /// One unit of logical time. `now_ms` is the driver's wall clock, used only for leases.
    pub fn tick(&mut self, now_ms: u64) {
        match self.role {
            Role::Leader => {
                self.heartbeat_elapsed += 1;
                if self.heartbeat_elapsed >= self.cfg.heartbeat_ticks {
                    self.heartbeat_elapsed = 0;
                    self.broadcast_round(now_ms);
                }
            }
            Role::Follower | Role::Candidate => {
                self.election_elapsed += 1;
                if self.election_elapsed >= self.election_timeout {
                    // A learner, or a node no longer in the configuration, never stands: it
                    // would only disrupt the members.
                    if self.is_voter() {
                        self.campaign();
                    } else {
                        self.reset_election_timer();
                    }
                }
            }
        }
    }

    /// §5.2: become a candidate, vote for ourselves, ask everyone else.
    fn campaign(&mut self) {
        self.term += 1;
        self.role = Role::Candidate;
        self.leader = None;
        self.voted_for = Some(self.cfg.id);
        self.persist_hard_state();
        self.votes = BTreeSet::from([self.cfg.id]);
        self.reset_election_timer();
        if self.votes.len() >= self.quorum() {
            self.become_leader();
            return;
        }
        let (last_log_index, last_log_term) = (self.log.last_index(), self.log.last_term());
        let term = self.term;
        let me = self.cfg.id;
        let voters: Vec<NodeId> = self.members.voters.iter().copied().collect();
        for p in voters.into_iter().filter(|&p| p != me) {
            self.send(
                p,
                Message::RequestVote {
                    term,
                    last_log_index,
                    last_log_term,
                },
            );
        }
    }

    fn become_leader(&mut self) {
        self.role = Role::Leader;
        self.leader = Some(self.cfg.id);
        self.heartbeat_elapsed = 0;
        let next = self.log.last_index() + 1;
        let peers: Vec<_> = self.peers().collect();
        self.next_index = peers.iter().map(|&p| (p, next)).collect();
        self.match_index = peers.iter().map(|&p| (p, 0)).collect();
        self.acked_round.clear();
        self.round_started.clear();
        self.lease_until = 0;
        // §8: a no-op entry in the new term, so that earlier entries commit with it and reads
        // can be served once it is committed.
        if !self.cfg.unsafe_.no_election_noop {
            self.append_local(Command::Noop);
        }
        self.replicate_all();
    }

    fn append_local(&mut self, command: Command) -> u64 {
        let entry = Entry {
            index: self.log.last_index() + 1,
            term: self.term,
            command,
        };
        self.log.append(entry.clone());
        if let Command::Config(m) = &entry.command {
            self.set_members(entry.index, m.clone());
        }
        self.ready.append.push(entry);
        let last = self.log.last_index();
        self.maybe_commit();
        last
    }

    /// Appends a client command as leader; returns its index. The caller learns the outcome
    /// when an entry at that index is applied: the same term means it committed.
    pub fn propose(&mut self, command: Command) -> Result<(u64, u64), Refused> {
        if self.role != Role::Leader {
            return Err(Refused::NotLeader(self.leader));
        }
        let index = self.append_local(command);
        Ok((index, self.term))
    }

    /// Sends whatever followers are missing and starts the round queued reads wait for; the
    /// driver calls it once after each batch of inputs, so a batch shares one message per peer.
    pub fn flush(&mut self, now_ms: u64) {
        if self.role != Role::Leader {
            return;
        }
        if self.round_wanted {
            self.round_wanted = false;
            self.heartbeat_elapsed = 0;
            self.broadcast_round(now_ms);
        } else {
            self.replicate_all();
        }
    }

    fn replicate_all(&mut self) {
        for p in self.peers().collect::<Vec<_>>() {
            self.replicate(p, false);
        }
    }

    /// Sends `peer` the entries after its next index, pipelining up to the in-flight window;
    /// with `heartbeat`, sends an AppendEntries even when there is nothing new.
    fn replicate(&mut self, peer: NodeId, heartbeat: bool) {
        let next = self.next_index[&peer];
        let matched = self.match_index[&peer];
        if next <= self.log.snapshot_index() {
            // §7: the entries it needs are gone; send the snapshot instead.
            if let Some(data) = self.snapshot_data.clone() {
                let msg = Message::InstallSnapshot {
                    term: self.term,
                    last_index: self.log.snapshot_index(),
                    last_term: self.log.snapshot_term(),
                    data,
                    round: self.round,
                    members: self.members_base.clone(),
                };
                self.send(peer, msg);
            }
            return;
        }
        let in_flight = next.saturating_sub(matched + 1);
        let room = self.cfg.max_in_flight.saturating_sub(in_flight) as usize;
        let entries: Vec<Entry> = self.log.slice(next, self.cfg.max_batch.min(room)).to_vec();
        if entries.is_empty() && !heartbeat {
            return;
        }
        let prev_index = next - 1;
        let prev_term = self
            .log
            .term_at(prev_index)
            .expect("prev is after the snapshot");
        // Pipelining: assume success and move on; a rejection moves next_index back.
        self.next_index.insert(peer, next + entries.len() as u64);
        let msg = Message::AppendEntries {
            term: self.term,
            prev_index,
            prev_term,
            entries,
            commit: self.commit,
            round: self.round,
        };
        self.send(peer, msg);
    }

    /// Starts a leadership-confirmation round: a heartbeat to every follower.
    fn broadcast_round(&mut self, now_ms: u64) {
        self.round += 1;
        self.round_started.push_back((self.round, now_ms));
        while self.round_started.len() > 64 {
            self.round_started.pop_front();
        }
        for p in self.peers().collect::<Vec<_>>() {
            // Resend from the last known match so lost pipelined messages are repaired.
            let m = self.match_index[&p];
            if self.next_index[&p] > m + 1 + self.cfg.max_in_flight / 2 {
                self.next_index.insert(p, m + 1);
            }
            self.replicate(p, true);
        }
        self.check_rounds();
    }

    /// Handles a message from a peer.
    pub fn step(&mut self, from: NodeId, msg: Message) {
        // Nothing from outside the configuration but a leader's entries: a removed node must
        // not disrupt the others (its votes and requests for votes are ignored), while a node
        // that joins may not know its leader yet (a leader that joined after it was launched).
        let leading = matches!(
            msg,
            Message::AppendEntries { .. } | Message::InstallSnapshot { .. }
        );
        // Nor are requests for votes heard from a learner (one re-added after its removal may
        // not know yet that it cannot stand), so it cannot force new elections on the voters.
        let standing = matches!(msg, Message::RequestVote { .. });
        if (!self.members.contains(from) && !leading)
            || (standing && !self.members.voters.contains(&from))
            || from == self.cfg.id
        {
            return;
        }
        let term = msg.term();
        if term > self.term {
            let leader = match msg {
                Message::AppendEntries { .. } | Message::InstallSnapshot { .. } => Some(from),
                _ => None,
            };
            self.become_follower(term, leader);
        }
        match msg {
            Message::RequestVote {
                term,
                last_log_index,
                last_log_term,
            } => self.on_request_vote(from, term, last_log_index, last_log_term),
            Message::Vote { term, granted } => {
                let counts = self.members.voters.contains(&from);
                if self.role == Role::Candidate && term == self.term && granted && counts {
                    self.votes.insert(from);
                    if self.votes.len() >= self.quorum() {
                        self.become_leader();
                    }
                }
            }
            Message::AppendEntries {
                term,
                prev_index,
                prev_term,
                entries,
                commit,
                round,
            } => self.on_append(from, term, prev_index, prev_term, entries, commit, round),
            Message::AppendReply {
                term,
                success,
                match_index,
                conflict_index,
                conflict_term,
                round,
            } => {
                if self.role != Role::Leader || term != self.term {
                    return;
                }
                let acked = self.acked_round.entry(from).or_insert(0);
                *acked = (*acked).max(round);
                // A follower never matches past this log — unless a rule was broken and it
                // committed entries this leader lacks (see `Config::assert_safety`).
                let match_index = match_index.min(self.log.last_index());
                if success {
                    if match_index > self.match_index[&from] {
                        self.match_index.insert(from, match_index);
                    }
                    if self.next_index[&from] <= match_index {
                        self.next_index.insert(from, match_index + 1);
                    }
                    self.maybe_commit();
                    self.replicate(from, false);
                } else {
                    if conflict_index <= self.match_index[&from] && !self.cfg.assert_safety {
                        // The follower lacks entries it acknowledged. In safe Raft that is only
                        // a reply overtaken by a later one; after a broken rule (a disk that was
                        // not synced, an overwritten entry) it is true: believe it, or the two
                        // would trade the same refusal for ever.
                        self.match_index
                            .insert(from, conflict_index.saturating_sub(1));
                    }
                    // §5.3: back off, skipping a whole conflicting term at a time.
                    let next = match conflict_term.and_then(|t| self.log.last_index_of_term(t)) {
                        Some(i) => i + 1,
                        None => conflict_index,
                    };
                    let next = next.max(self.match_index[&from] + 1).max(1);
                    self.next_index.insert(from, next);
                    self.replicate(from, true);
                }
                self.check_rounds();
            }
            Message::InstallSnapshot {
                term,
                last_index,
                last_term,
                data,
                round,
                members,
            } => {
                let snapshot = Snapshot {
                    last_index,
                    last_term,
                    data,
                };
                self.on_install_snapshot(from, term, snapshot, members, round)
            }
        }
    }

    fn on_request_vote(&mut self, from: NodeId, term: u64, last_index: u64, last_term: u64) {
        let up_to_date = self.cfg.unsafe_.no_election_restriction
            || self.log.is_up_to_date(last_term, last_index);
        // §5.2: one vote per term, first come first served; §5.4.1: only to an up-to-date log.
        let granted = term == self.term
            && up_to_date
            && (self.voted_for.is_none() || self.voted_for == Some(from));
        if granted {
            self.voted_for = Some(from);
            // The vote must be durable before the reply leaves: voting twice in one term after
            // a restart could elect two leaders.
            self.persist_hard_state();
            self.reset_election_timer();
        }
        let term = self.term;
        self.send(from, Message::Vote { term, granted });
    }

    #[allow(clippy::too_many_arguments)]
    fn on_append(
        &mut self,
        from: NodeId,
        term: u64,
        prev_index: u64,
        prev_term: u64,
        entries: Vec<Entry>,
        leader_commit: u64,
        round: u64,
    ) {
        let reply = |node: &Node, success: bool, match_index, conflict_index, conflict_term| {
            Message::AppendReply {
                term: node.term,
                success,
                match_index,
                conflict_index,
                conflict_term,
                round,
            }
        };
        if term < self.term {
            let msg = reply(self, false, 0, 0, None);
            self.send(from, msg);
            return;
        }
        // Input from the network is checked before it can reach an assertion: entries must
        // continue from prev_index with terms that never decrease and never exceed the sender's.
        let well_formed = entries.iter().enumerate().all(|(i, e)| {
            e.index == prev_index + 1 + i as u64
                && e.term <= term
                && e.term
                    >= if i == 0 {
                        prev_term
                    } else {
                        entries[i - 1].term
                    }
        });
        if !well_formed || prev_term > term {
            return;
        }
        // term == self.term: `from` is this term's leader (§5.2 allows only one).
        if self.role != Role::Follower || self.leader != Some(from) {
            self.second_leader(from);
            self.become_follower(term, Some(from));
        }
        self.reset_election_timer();

        // §5.3: the consistency check.
        if prev_index > self.log.last_index() {
            let msg = reply(self, false, 0, self.log.last_index() + 1, None);
            self.send(from, msg);
            return;
        }
        if prev_index >= self.log.snapshot_index() {
            let ours = self.log.term_at(prev_index).expect("within the log");
            if ours != prev_term {
                let first = self.log.first_index_of_term_at(prev_index);
                let msg = reply(self, false, 0, first, Some(ours));
                self.send(from, msg);
                return;
            }
        }
        let mut last_new = prev_index;
        let mut reconfigured = false;
        for entry in entries {
            last_new = entry.index;
            if entry.index <= self.log.snapshot_index() {
                continue; // already committed and compacted
            }
            match self.log.term_at(entry.index) {
                Some(t) if t == entry.term => continue,
                Some(ours) => {
                    if entry.index <= self.commit {
                        self.overwriting_committed(from, ours, &entry);
                    }
                    self.log.truncate_from(entry.index);
                    reconfigured |= entry.index <= self.members_index;
                    self.ready.append.retain(|e| e.index < entry.index);
                    self.ready.truncate_from = Some(
                        self.ready
                            .truncate_from
                            .map_or(entry.index, |t| t.min(entry.index)),
                    );
                }
                None => {}
            }
            reconfigured |= matches!(entry.command, Command::Config(_));
            self.log.append(entry.clone());
            self.ready.append.push(entry);
        }
        if reconfigured {
            self.refresh_members();
        }
        if leader_commit > self.commit {
            self.commit = leader_commit.min(last_new).max(self.commit);
            self.queue_apply();
        }
        let msg = reply(self, true, last_new, 0, None);
        self.send(from, msg);
    }

    /// `from` leads this node's term: if this node leads it too, §5.2's one leader per term is
    /// broken.
    fn second_leader(&mut self, from: NodeId) {
        if self.role != Role::Leader {
            return;
        }
        let what = format!(
            "two leaders in term {}: {} and {from}",
            self.term, self.cfg.id
        );
        assert!(!self.cfg.assert_safety, "{what}");
        self.ready.broken.push(format!("{what}; stepping down"));
    }

    /// The leader's entry replaces a committed one of term `ours`: Leader Completeness (§5.4) is
    /// broken. This node has applied the old entry and will not apply the new one.
    fn overwriting_committed(&mut self, from: NodeId, ours: u64, entry: &Entry) {
        let what = format!(
            "a committed entry is never overwritten (node {}, index {})",
            self.cfg.id, entry.index
        );
        assert!(!self.cfg.assert_safety, "{what}");
        self.ready.broken.push(format!(
            "committed entry {} of term {ours} overwritten by leader {from}'s entry of term {}",
            entry.index, entry.term
        ));
    }

    /// §5.3/§5.4.2: commit the highest index a quorum holds, if it is of the current term.
    fn maybe_commit(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        // A leader being removed is not a voter: it counts only the others (dissertation §4.2.2).
        let own = if self.is_voter() {
            self.log.last_index()
        } else {
            0
        };
        let Some(n) = self.quorum_value(|p| self.match_index.get(&p).copied().unwrap_or(0), own)
        else {
            return;
        };
        if n <= self.commit {
            return;
        }
        let current_term = self.log.term_at(n) == Some(self.term);
        if current_term || self.cfg.unsafe_.commit_old_term {
            self.commit = n;
            self.queue_apply();
            self.release_reads_waiting_for_commit();
            // Its own removal committed: it steps down, and being no voter, never stands again.
            if !self.is_voter() && self.members_index <= self.commit {
                let term = self.term;
                self.become_follower(term, None);
            }
        }
    }

    fn queue_apply(&mut self) {
        while self.applied < self.commit {
            self.applied += 1;
            let e = self
                .log
                .get(self.applied)
                .expect("committed entries after the snapshot are in the log")
                .clone();
            self.ready.apply.push(e);
        }
    }
}

#[cfg(test)]
mod tests;
