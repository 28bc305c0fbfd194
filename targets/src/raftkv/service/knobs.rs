//! The service's `--unsafe` knobs, and the answers they give before the log decides: each
//! breaks one promise the service keeps, on purpose, so that faultline can show its checkers
//! catching it. The safe service never takes these paths.

use super::*;

/// The service's `--unsafe` knobs: each breaks one promise the service keeps, on purpose, so
/// that faultline can show what its checkers catch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// A leader that steps down answers every write still waiting on it "not applied" — a
    /// definite failure — at once, instead of waiting to learn its fate. But its entries may be
    /// in a majority's logs already, and the next leader commits them: a client told its write
    /// failed later reads it (the ghost the seeds warn of). A safe node answers only what it
    /// knows: applied, replaced (not applied), or, at the deadline, unknown.
    pub fail_pending_on_stepdown: bool,
    /// A dequeue (a transaction that is one pop) is answered by the leader at once from its
    /// applied state, and its pop sent through the log afterwards — a broker that hands a
    /// message out before recording the delivery. Two dequeues before the pop applies get the
    /// same message, and a pop lost with its leader leaves it to be delivered again: duplicates.
    pub redeliver: bool,
    /// A release (a transaction that is one release) is answered by whichever node is asked,
    /// from its own copy of the lock and its own wall clock: "released" while it believes the
    /// holder's lease runs. A node whose copy is behind, or whose clock is, tells a holder its
    /// lease held long after the lock went to another — two holders at once.
    pub lock_lease_local: bool,
    /// An id (a transaction that is one `id`) is made by the node asked, snowflake-style, from
    /// its wall clock in milliseconds, its node id and a sequence within the millisecond — the
    /// seeds' 分布式主键. No log, so no agreement: when a node's clock goes back, it issues the
    /// ids of those milliseconds again.
    pub snowflake_ids: bool,
}

impl<R> Service<R> {
    /// With write-ack leader, what a write is told once it is on the leader's disk, before it
    /// commits: a put, and a transaction that only writes (its answer needs nothing applying
    /// tells). A cas, or a transaction that reads, needs its outcome, which only applying tells.
    #[allow(clippy::type_complexity)]
    pub(super) fn early_answer(&self, cmd: &Command) -> Option<Box<dyn FnOnce(u64) -> Answer>> {
        if self.write_ack != WriteAck::Leader {
            return None;
        }
        match cmd {
            Command::Put { .. } => Some(Box::new(|version| Answer::Written { version })),
            Command::Txn { ops } if ops.iter().all(TxnOp::blind) => {
                let ops = ops.clone();
                Some(Box::new(move |version| Answer::Txn {
                    version,
                    results: vec![TxnResult::Wrote; ops.len()],
                    ops,
                }))
            }
            _ => None,
        }
    }

    /// What `--unsafe redeliver` and `lock-lease-local` answer at once, before the log decides
    /// ([`Knobs`]); the pop or release still goes through the log when this node leads.
    pub(super) fn unsafe_answer(
        &mut self,
        ops: &[TxnOp],
        wall_ms: u64,
        deadline_ms: u64,
    ) -> Option<Answer> {
        let result = match ops {
            [TxnOp::Id { .. }] if self.knobs.snowflake_ids => {
                return Some(Answer::Txn {
                    version: self.kv.applied(),
                    ops: ops.to_vec(),
                    results: vec![TxnResult::Issued(self.snowflake_id(wall_ms))],
                })
            }
            [TxnOp::Pop { key }] if self.knobs.redeliver && self.node.role() == Role::Leader => {
                TxnResult::Popped(TxnOp::head(self.kv.get(key).map(|(v, _)| v)))
            }
            [TxnOp::Release { key, owner, .. }] if self.knobs.lock_lease_local => {
                let lease = crate::raftkv::log::Lease::of(self.kv.get(key).map(|(v, _)| v))?;
                if lease.owner != *owner || lease.until_ms <= wall_ms {
                    return None;
                }
                TxnResult::Wrote
            }
            _ => return None,
        };
        let version = self.kv.applied();
        if self.node.role() == Role::Leader {
            self.propose_unanswered(Command::Txn { ops: ops.to_vec() }, deadline_ms);
        }
        Some(Answer::Txn {
            version,
            ops: ops.to_vec(),
            results: vec![result],
        })
    }

    /// `--unsafe snowflake-ids`: 41 bits of wall-clock milliseconds, 10 of node id, 12 of
    /// sequence within the millisecond (a full millisecond borrows the next). The sequence
    /// starts again whenever the millisecond differs from the last one's — also when the clock
    /// went back, which is how a snowflake repeats itself.
    fn snowflake_id(&mut self, wall_ms: u64) -> Value {
        let (last_ms, seq) = self.snowflake;
        let (ms, seq) = match wall_ms == last_ms {
            true if seq < 4095 => (wall_ms, seq + 1),
            true => (wall_ms + 1, 0),
            false => (wall_ms, 0),
        };
        self.snowflake = (ms, seq);
        let node = self.node.id() & 0x3ff;
        Value::from(((ms & ((1 << 41) - 1)) << 22) | (node << 12) | seq)
    }

    /// Sends `cmd` through the log with nobody waiting for its answer.
    fn propose_unanswered(&mut self, cmd: Command, deadline_ms: u64) {
        if let Ok((index, term)) = self.node.propose(cmd) {
            let pending = PendingWrite {
                term,
                reply: None,
                deadline_ms,
                txn: None,
            };
            self.writes.insert(index, pending);
        }
    }
}
