//! Reads: ReadIndex (§6.4 of the dissertation, §8 of the paper) — the commit index noted,
//! leadership confirmed by a quorum round, served once applied — and lease reads, served on the
//! leader's own clock while a quorum confirmed it recently.

use super::*;

impl Node {
    /// Has this leader committed an entry of its own term (so its commit index is current)?
    /// Always yes under `--unsafe no-election-noop`, which serves reads without knowing.
    pub(super) fn committed_in_term(&self) -> bool {
        self.cfg.unsafe_.no_election_noop || self.log.term_at(self.commit) == Some(self.term)
    }

    /// ReadIndex (§6.4 of the dissertation, §8 of the paper): note the commit index, confirm
    /// leadership with a quorum round, then serve once applied up to that index.
    pub fn read_index(&mut self, id: u64) -> Result<(), Refused> {
        if self.role != Role::Leader {
            return Err(Refused::NotLeader(self.leader));
        }
        if !self.committed_in_term() {
            self.reads_waiting_for_commit.push(id);
            return Ok(());
        }
        self.queue_read(id);
        Ok(())
    }

    pub(super) fn queue_read(&mut self, id: u64) {
        if self.quorum() == 1 {
            self.ready.reads.push((id, self.commit));
            return;
        }
        // The read waits for a round that starts after it arrived.
        self.pending_reads.push_back(PendingRead {
            id,
            index: self.commit,
            round: self.round + 1,
        });
        self.round_wanted = true;
    }

    pub(super) fn release_reads_waiting_for_commit(&mut self) {
        if self.reads_waiting_for_commit.is_empty() || !self.committed_in_term() {
            return;
        }
        let ids: Vec<u64> = self.reads_waiting_for_commit.drain(..).collect();
        for id in ids {
            self.queue_read(id);
        }
    }

    /// A lease read: served locally while a quorum confirmed leadership recently enough, by this
    /// node's own clock. Unsafe when clocks jump or the leader is paused past its lease.
    pub fn lease_read(&mut self, id: u64, now_ms: u64) -> Result<(), Refused> {
        if self.role != Role::Leader {
            return Err(Refused::NotLeader(self.leader));
        }
        if self.committed_in_term() && now_ms < self.lease_until {
            self.ready.reads.push((id, self.commit));
            Ok(())
        } else {
            self.read_index(id)
        }
    }

    /// Releases reads whose round a quorum has acknowledged, and extends the lease.
    pub(super) fn check_rounds(&mut self) {
        if self.role != Role::Leader {
            return;
        }
        let own = if self.is_voter() { self.round } else { 0 };
        let Some(confirmed) =
            self.quorum_value(|p| self.acked_round.get(&p).copied().unwrap_or(0), own)
        else {
            return;
        };
        while let Some(r) = self.pending_reads.front() {
            if r.round > confirmed {
                break;
            }
            let r = self.pending_reads.pop_front().expect("front exists");
            self.ready.reads.push((r.id, r.index));
        }
        if let Some(&(_, started)) = self
            .round_started
            .iter()
            .rev()
            .find(|(r, _)| *r <= confirmed)
        {
            let lease = started.saturating_add(self.cfg.lease_ms);
            self.lease_until = self.lease_until.max(lease);
        }
    }
}
