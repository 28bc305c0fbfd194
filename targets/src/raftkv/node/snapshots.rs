//! Snapshots (§7): the log compacted into the state machine's image, and one installed when a
//! follower is too far behind for the log to catch it up.

use super::*;

impl Node {
    pub(super) fn on_install_snapshot(
        &mut self,
        from: NodeId,
        term: u64,
        snapshot: Snapshot,
        members: Members,
        round: u64,
    ) {
        let Snapshot {
            last_index,
            last_term,
            data,
        } = snapshot;
        if term < self.term {
            return;
        }
        if self.role != Role::Follower || self.leader != Some(from) {
            self.second_leader(from);
            self.become_follower(term, Some(from));
        }
        self.reset_election_timer();
        if last_index > self.commit {
            // §7: keep a matching suffix, otherwise discard the whole log.
            if self.log.term_at(last_index) == Some(last_term) {
                self.log.compact(last_index, last_term);
                // Entries after the snapshot that are not yet durable still must be written.
                self.ready.append.retain(|e| e.index > last_index);
            } else {
                self.log = Log::new(last_index, last_term, Vec::new());
                self.ready.append.clear();
                // Durable entries after the snapshot conflict with it: drop them too.
                self.ready.truncate_from = Some(last_index + 1);
            }
            self.commit = last_index;
            self.applied = last_index;
            self.ready.apply.retain(|e| e.index > last_index);
            self.snapshot_data = Some(data.clone());
            self.ready.snapshot = Some(Snapshot {
                last_index,
                last_term,
                data,
            });
            // A sender of an older version names no members: keep the ones known.
            if !members.voters.is_empty() {
                self.members_base = members;
            }
            self.refresh_members();
        }
        let msg = Message::AppendReply {
            term: self.term,
            success: true,
            match_index: self.commit.max(last_index.min(self.log.last_index())),
            conflict_index: 0,
            conflict_term: None,
            round,
        };
        self.send(from, msg);
    }

    /// The state machine's snapshot after `index` (which must be applied): the log before it is
    /// dropped (§7). `false` when `index` is no longer in the log, which only happens after a
    /// committed entry was overwritten (see [`Config::assert_safety`]): nothing is compacted.
    pub fn compact(&mut self, index: u64, data: String) -> bool {
        assert!(
            index <= self.applied,
            "only applied entries are snapshotted"
        );
        let Some(term) = self.log.term_at(index) else {
            assert!(!self.cfg.assert_safety, "index {index} is in the log");
            return false;
        };
        let base = (self.log.snapshot_index() + 1..=index).rev().find_map(|i| {
            match &self.log.get(i)?.command {
                Command::Config(m) => Some(m.clone()),
                _ => None,
            }
        });
        if let Some(m) = base {
            self.members_base = m;
        }
        self.log.compact(index, term);
        self.snapshot_data = Some(data);
        true
    }
}
