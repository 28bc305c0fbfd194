//! Transactions at the weaker isolation levels (snapshot, read committed, read uncommitted):
//! the leader runs each a micro-op per [`Service::settle`], holding row locks where the level
//! takes them, and sends its writes through the log at commit. Serializable transactions never
//! come here: each is one log entry.

use super::*;

/// How many steps a read-committed transaction waits for another's lock before it gives up
/// (and is answered: not applied, as a database's lock timeout or deadlock victim is).
const MAX_LOCK_WAIT_STEPS: u32 = 200;

/// A transaction the leader is running step by step.
pub(super) struct OpenTxn<R> {
    ops: Vec<TxnOp>,
    /// The next micro-op to run.
    at: usize,
    /// Steps it has waited for a lock.
    waited: u32,
    results: Vec<TxnResult>,
    /// What its own writes so far made of each key (its later reads see them).
    own: BTreeMap<String, Value>,
    /// Snapshot isolation: its keys' committed state when it began, and that state's index.
    snapshot: BTreeMap<String, Option<(Value, u64)>>,
    start: u64,
    pub(super) reply: R,
    pub(super) deadline_ms: u64,
}

impl<R> Service<R> {
    /// Begins a transaction on this leader (a follower sends it to the leader): its snapshot is
    /// taken now; its micro-ops run one per [`Service::settle`].
    pub(super) fn begin(
        &mut self,
        ops: Vec<TxnOp>,
        reply: R,
        deadline_ms: u64,
    ) -> Option<(R, Answer)> {
        if self.node.role() != Role::Leader {
            return Some((reply, Answer::NotLeader(self.node.leader())));
        }
        let snapshot = ops
            .iter()
            .map(|op| (op.key().to_string(), self.kv.get(op.key()).cloned()))
            .collect();
        let id = self.next_open;
        self.next_open += 1;
        self.open.insert(
            id,
            OpenTxn {
                results: Vec::with_capacity(ops.len()),
                ops,
                at: 0,
                waited: 0,
                own: BTreeMap::new(),
                snapshot,
                start: self.kv.applied(),
                reply,
                deadline_ms,
            },
        );
        None
    }

    /// One micro-op of every open transaction; those done commit (their writes through the
    /// log) or, read-only, are answered. A node no longer leading answers them all: not here,
    /// nothing happened.
    pub(super) fn step_open(&mut self) -> Vec<(R, Answer)> {
        let mut out = Vec::new();
        let leading = self.node.role() == Role::Leader;
        if leading && !self.leading {
            self.learn_inflight();
        }
        if !leading && self.leading && self.knobs.fail_pending_on_stepdown {
            // The unsafe knob: told "failed", though the entries may yet commit.
            for w in self.writes.values_mut() {
                out.extend(w.reply.take().map(|r| (r, Answer::NotApplied)));
            }
        }
        self.leading = leading;
        if !leading {
            out.extend(self.abort_open());
            return out;
        }
        let ids: Vec<u64> = self.open.keys().copied().collect();
        for id in ids {
            out.extend(self.step_one(id));
        }
        out
    }

    /// Every open transaction, on a node no longer leading: not here, nothing happened — or,
    /// read uncommitted, aborted once its writes were visible: it was acted on, and must not be
    /// sent on to the leader and run a second time under the same name.
    fn abort_open(&mut self) -> Vec<(R, Answer)> {
        self.dirty.clear();
        let leader = self.node.leader();
        let mut out = Vec::new();
        for (id, t) in std::mem::take(&mut self.open) {
            self.release(id);
            let seen = self.isolation == Isolation::ReadUncommitted
                && t.ops[..t.at]
                    .iter()
                    .any(|op| !matches!(op, TxnOp::R { .. }));
            let answer = match seen {
                true => Answer::Rejected("aborted: this node stopped leading while the transaction ran, after others could see its writes".into()),
                false => Answer::NotLeader(leader),
            };
            out.push((t.reply, answer));
        }
        out
    }

    /// One step of open transaction `id`: its commit when its micro-ops are done, else its next
    /// micro-op — once it holds the key's lock, at the levels that take one.
    fn step_one(&mut self, id: u64) -> Option<(R, Answer)> {
        let t = &self.open[&id];
        if t.at == t.ops.len() {
            let t = self.open.remove(&id).expect("listed");
            return self.commit(id, t);
        }
        let op = &t.ops[t.at];
        if self.isolation.locks() && !matches!(op, TxnOp::R { .. }) {
            let key = op.key().to_string();
            if let Err(gave_up) = self.lock(id, key) {
                return gave_up;
            }
        }
        let t = &self.open[&id];
        let op = &t.ops[t.at];
        let seen = match (self.isolation, op) {
            (Isolation::ReadUncommitted, TxnOp::R { key }) if !t.own.contains_key(key) => {
                self.uncommitted(key)
            }
            _ => None,
        };
        if self.isolation == Isolation::ReadUncommitted && !matches!(op, TxnOp::R { .. }) {
            let (key, op) = (op.key().to_string(), op.clone());
            let (owner, writes) = self.dirty.entry(key).or_insert((id, Vec::new()));
            if *owner != id {
                (*owner, *writes) = (id, Vec::new());
            }
            writes.push(op);
        }
        let t = self.open.get_mut(&id).expect("listed");
        let result = match seen {
            Some(v) => TxnResult::ReadDirty(v),
            None => run_step(&self.kv, self.isolation, t),
        };
        t.results.push(result);
        t.at += 1;
        None
    }

    /// Takes `key`'s lock for transaction `id`; `Err` while another holds it, or (unlocked) a
    /// commit to it is not applied yet — with its answer once it has waited too long.
    fn lock(&mut self, id: u64, key: String) -> Result<(), Option<(R, Answer)>> {
        let applied = self.kv.applied();
        let pending = self.inflight.get(&key).is_some_and(|&i| i > applied);
        let blocked = match self.locks.get(&key) {
            Some(owner) => *owner != id,
            None => pending,
        };
        if !blocked {
            self.locks.insert(key, id);
            return Ok(());
        }
        let t = self.open.get_mut(&id).expect("listed");
        t.waited += 1;
        if t.waited <= MAX_LOCK_WAIT_STEPS {
            return Err(None);
        }
        let t = self.open.remove(&id).expect("listed");
        self.release(id);
        let why = format!("gave up waiting for key {key}");
        Err(Some((t.reply, Answer::Rejected(why))))
    }

    /// The keys this node's log writes after what it has applied: a new leader's view of the
    /// transactions still in flight (some proposed by an earlier leader).
    fn learn_inflight(&mut self) {
        let log = self.node.log();
        for i in self.kv.applied() + 1..=log.last_index() {
            if let Some(e) = log.get(i) {
                for key in written_keys(&e.command) {
                    self.inflight.insert(key.to_string(), i);
                }
            }
        }
    }

    /// Read uncommitted: `key` as the log stands — its applied value, then the writes of the
    /// entries not applied yet, in log order — with the writes of the open transaction that
    /// holds its lock on top; `None` when nothing uncommitted touches it (a read then sees the
    /// committed value, with its version).
    fn uncommitted(&self, key: &str) -> Option<Value> {
        let log = self.node.log();
        let tail = (self.kv.applied() + 1..=log.last_index()).filter_map(|i| log.get(i));
        let mut writes = tail
            .flat_map(|e| written_ops(&e.command))
            .filter(|op| op.key() == key)
            .peekable();
        let open = self
            .dirty
            .get(key)
            .map(|(_, w)| w.as_slice())
            .unwrap_or(&[]);
        if writes.peek().is_none() && open.is_empty() {
            return None;
        }
        let mut value = self.kv.get(key).map(|(v, _)| v.clone());
        for op in writes.chain(open) {
            // A write that will not apply leaves the key as it was.
            value = op.apply_to(value.clone()).unwrap_or(value);
        }
        Some(value.unwrap_or(Value::Null))
    }

    /// Frees the locks transaction `owner` holds once its fate is decided, and (read
    /// uncommitted) takes back its uncommitted values: rolled back if it aborted, the state's
    /// own if it committed.
    pub(super) fn release(&mut self, owner: u64) {
        if !self.locks.is_empty() {
            self.locks.retain(|_, o| *o != owner);
        }
        if !self.dirty.is_empty() {
            self.dirty.retain(|_, (o, _)| *o != owner);
        }
    }

    /// Frees the locks of the transaction whose commit `w` was, once its fate is known.
    pub(super) fn settled(&mut self, w: &PendingWrite<R>) {
        if let Some((_, _, owner)) = &w.txn {
            self.release(*owner);
        }
    }

    /// A finished transaction: read-only ones are answered at once; the others send their
    /// writes through the log, answered when applied.
    fn commit(&mut self, id: u64, t: OpenTxn<R>) -> Option<(R, Answer)> {
        let writes: Vec<TxnOp> = t
            .ops
            .iter()
            .filter(|op| !matches!(op, TxnOp::R { .. }))
            .cloned()
            .collect();
        if writes.is_empty() {
            self.release(id);
            let answer = Answer::Txn {
                version: t.start,
                ops: t.ops,
                results: t.results,
            };
            return Some((t.reply, answer));
        }
        let snapshot = (self.isolation == Isolation::Snapshot).then_some(t.start);
        // Its writes are in the log from now on: read from there, not twice.
        if !self.dirty.is_empty() {
            self.dirty.retain(|_, (o, _)| *o != id);
        }
        let cmd = Command::TxnCommit { writes, snapshot };
        let answer = self.propose_txn(cmd, t.reply, t.deadline_ms, Some((t.ops, t.results, id)));
        if answer.is_some() {
            self.release(id);
        }
        answer
    }
}

/// Runs micro-op `t.at` of an open transaction: a read sees the transaction's own writes, else
/// its snapshot (snapshot isolation) or the state committed now (read committed, and read
/// uncommitted when nothing uncommitted touches the key); a write or an append is kept for
/// commit and for the transaction's own later reads.
fn run_step<R>(kv: &Kv, isolation: Isolation, t: &mut OpenTxn<R>) -> TxnResult {
    let op = &t.ops[t.at];
    let key = op.key();
    let committed = || match isolation {
        Isolation::Snapshot => t.snapshot.get(key).cloned().flatten(),
        _ => kv.get(key).cloned(),
    };
    match op {
        TxnOp::R { .. } => match t.own.get(key) {
            Some(v) => TxnResult::ReadOwn(v.clone()),
            None => TxnResult::Read(committed()),
        },
        write => {
            let current = t.own.get(key).cloned().or_else(|| committed().map(|c| c.0));
            let result = TxnResult::of_write(write, current.as_ref());
            // One that cannot apply is refused when it commits, with why.
            if let Ok(Some(v)) = write.apply_to(current) {
                t.own.insert(key.to_string(), v);
            }
            result
        }
    }
}
