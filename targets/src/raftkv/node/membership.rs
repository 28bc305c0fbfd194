//! Membership changes, one server at a time (§4 of the dissertation): proposed by the leader
//! only, never two in flight, never before the term's no-op commits; a learner promoted once it
//! holds the log.

use super::*;

impl Node {
    /// Proposes a change of configuration as leader; returns the index of its entry, in force
    /// on this node at once. One change at a time, and not before this term's no-op committed,
    /// unless the unsafe knobs say otherwise.
    pub fn propose_change(&mut self, change: Change) -> Result<u64, ChangeRefused> {
        self.propose_change_at(change, None)
    }

    /// The same, recording where a node being added is reached (for servers to dial).
    pub fn propose_change_at(
        &mut self,
        change: Change,
        address: Option<Address>,
    ) -> Result<u64, ChangeRefused> {
        if self.role != Role::Leader {
            return Err(ChangeRefused::NotLeader(self.leader));
        }
        if self.members_index > self.commit && !self.cfg.unsafe_.concurrent_membership {
            return Err(ChangeRefused::InFlight(self.members_index));
        }
        if !self.committed_in_term() && !self.cfg.unsafe_.membership_without_noop {
            return Err(ChangeRefused::NoopPending);
        }
        let mut m = self.members.clone();
        let invalid = |why: String| Err(ChangeRefused::Invalid(why));
        match change {
            Change::AddLearner(id) if m.contains(id) => {
                return invalid(format!("n{id} is already a member"))
            }
            Change::AddLearner(id) => {
                m.learners.insert(id);
                if let Some(a) = address {
                    m.addrs.insert(id, a);
                }
            }
            Change::Promote(id) => {
                if !m.learners.remove(&id) {
                    return invalid(format!("n{id} is not a learner"));
                }
                // A voter that lags would hold up every commit a majority needs it for.
                if !self.caught_up(id) {
                    return invalid(format!(
                        "n{id} has not caught up yet (it holds up to {} of {})",
                        self.match_index.get(&id).copied().unwrap_or(0),
                        self.commit
                    ));
                }
                m.voters.insert(id);
            }
            Change::Remove(id) => {
                if !m.voters.remove(&id) && !m.learners.remove(&id) {
                    return invalid(format!("n{id} is not a member"));
                }
                if m.voters.is_empty() {
                    return invalid("the last voter cannot be removed".into());
                }
                m.addrs.remove(&id);
            }
        }
        Ok(self.append_local(Command::Config(m)))
    }

    /// As leader, promotes the first learner that has caught up, when a change may be made now;
    /// the index of the change. Servers call it every turn, so that an added node becomes a
    /// voter as soon as it holds the log.
    pub fn promote_caught_up(&mut self) -> Option<u64> {
        if self.role != Role::Leader {
            return None;
        }
        let ready = self
            .members
            .learners
            .iter()
            .copied()
            .find(|&l| self.caught_up(l))?;
        self.propose_change(Change::Promote(ready)).ok()
    }

    /// The index of the entry that set the configuration in force (0: the launch's).
    pub fn members_index(&self) -> u64 {
        self.members_index
    }

    /// Whether learner or voter `id` holds everything committed (as far as this leader knows).
    pub(super) fn caught_up(&self, id: NodeId) -> bool {
        id == self.cfg.id || self.match_index.get(&id).is_some_and(|&m| m >= self.commit)
    }
}
