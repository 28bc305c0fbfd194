//! The rules by which a raftkv node answers its clients, apart from any I/O: what a read is served
//! from in each read mode, when a write is acknowledged in each write-ack mode, and when a write's
//! outcome is known, refused or unknown.
//!
//! The process (`server.rs`) turns each [`Answer`] into an HTTP reply; the simulator
//! (`faultline sim`) turns it into a completion in a history. One set of rules for both, so what
//! the simulator finds is a bug of the real server, not of a model of it.
//!
//! A [`Service`] owns the Raft [`Node`] and the state machine ([`Kv`]). Its driver feeds it
//! requests, ticks and messages, makes each [`Ready`] durable and sends its messages, and then
//! calls [`Service::settle`], which applies what committed and says who gets which answer.
//! `R` is whatever the driver needs to deliver an answer (a reply channel, a client's id).

use super::kv::{Applied, Kv, TxnResult};
use super::log::{Command, TxnOp};
use super::node::{Node, NodeId, Ready, Refused, Role};
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadMode {
    /// ReadIndex: confirm leadership with a quorum round, wait for apply. Linearizable.
    Consistent,
    /// Serve on the leader while its lease lasts on its own clock. Unsafe under clock faults.
    Lease,
    /// Serve from any node's local state. Stale reads.
    Stale,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteAck {
    /// Answer once committed and applied. Safe.
    Quorum,
    /// Answer once on the leader's disk, before commit. Failover loses acknowledged writes.
    Leader,
}

impl std::str::FromStr for ReadMode {
    type Err = String;
    fn from_str(s: &str) -> Result<ReadMode, String> {
        match s {
            "consistent" => Ok(ReadMode::Consistent),
            "lease" => Ok(ReadMode::Lease),
            "stale" => Ok(ReadMode::Stale),
            other => Err(format!("{other:?} is not consistent, lease or stale")),
        }
    }
}

impl std::str::FromStr for WriteAck {
    type Err = String;
    fn from_str(s: &str) -> Result<WriteAck, String> {
        match s {
            "quorum" => Ok(WriteAck::Quorum),
            "leader" => Ok(WriteAck::Leader),
            other => Err(format!("{other:?} is not quorum or leader")),
        }
    }
}

/// How transactions are isolated (`--isolation`). `Serializable` runs a transaction as one log
/// entry; the others run it on the leader a micro-op at a time, interleaved with everything
/// else the leader does, and send only its writes through the log at commit — as a real
/// database at that level would, so the anomalies each level allows are real ones.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Isolation {
    /// One log entry, applied at once: strict-serializable.
    Serializable,
    /// Reads from the committed state of its keys when the transaction began; at commit,
    /// aborts if another transaction committed a write to a key it writes since (first
    /// committer wins). Write skew (G2-item) gets through; lost updates and read skew do not.
    Snapshot,
    /// Each read sees the latest committed state when it runs; writes apply at commit without
    /// validation. Non-repeatable reads, read skew (G-single) and lost updates get through.
    ReadCommitted,
    /// As read committed, but a transaction's writes are visible to others as it makes them,
    /// before it commits; what others read stays read if it then aborts (and its values are
    /// rolled back): dirty reads — aborted reads (G1a) and intermediate reads (G1b) — get
    /// through. Writes still take the key's row lock, so there are no dirty writes (G0).
    ReadUncommitted,
}

impl Isolation {
    /// Whether a write takes the key's row lock (the levels that run a micro-op at a time and
    /// commit unvalidated).
    fn locks(self) -> bool {
        matches!(self, Isolation::ReadCommitted | Isolation::ReadUncommitted)
    }
}

impl std::str::FromStr for Isolation {
    type Err = String;
    fn from_str(s: &str) -> Result<Isolation, String> {
        match s {
            "serializable" => Ok(Isolation::Serializable),
            "snapshot" => Ok(Isolation::Snapshot),
            "read-committed" => Ok(Isolation::ReadCommitted),
            "read-uncommitted" => Ok(Isolation::ReadUncommitted),
            other => Err(format!(
                "{other:?} is not serializable, snapshot, read-committed or read-uncommitted"
            )),
        }
    }
}

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

/// How many steps a read-committed transaction waits for another's lock before it gives up
/// (and is answered: not applied, as a database's lock timeout or deadlock victim is).
const MAX_LOCK_WAIT_STEPS: u32 = 200;

/// A transaction the leader is running step by step.
struct OpenTxn<R> {
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
    reply: R,
    deadline_ms: u64,
}

/// What a client asks.
#[derive(Clone, Debug, PartialEq)]
pub enum Request {
    /// A read, served as the read mode says.
    Get(String),
    /// This node's applied state, whatever the read mode (the harness's final reads).
    GetLocal(String),
    Put(String, Value),
    Cas {
        key: String,
        from: Value,
        to: Value,
    },
    /// A transaction, through the log like a write, read-only or not.
    Txn(Vec<TxnOp>),
}

impl Request {
    /// The HTTP path it is asked at (a redirect repeats it at the leader).
    pub fn path(&self) -> String {
        match self {
            Request::Get(k) | Request::GetLocal(k) | Request::Put(k, _) => format!("/kv/{k}"),
            Request::Cas { key, .. } => format!("/kv/{key}/cas"),
            Request::Txn(_) => "/txn".to_string(),
        }
    }
}

/// What a client is told.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// A read's value and the log index that wrote it; none when the key is absent.
    Read(Option<(Value, u64)>),
    /// A put or a successful cas, applied at this version (with write-ack leader, a put once on
    /// the leader's disk).
    Written { version: u64 },
    /// A cas whose expected value did not match; the current value.
    Mismatch(Option<Value>),
    /// A transaction applied at `version`: its micro-operations and what each saw or did.
    Txn {
        version: u64,
        ops: Vec<TxnOp>,
        results: Vec<TxnResult>,
    },
    /// A transaction that could not apply, and why. Nothing happened.
    Rejected(String),
    /// This node does not lead (the leader, if known). Nothing happened.
    NotLeader(Option<NodeId>),
    /// Certainly not applied: another leader's entry took its index. Nothing happened.
    NotApplied,
    /// May or may not have happened, and why.
    Unknown(&'static str),
    /// A read that could not be confirmed in time. Nothing happened.
    ReadTimedOut,
    /// A bug in raftkv: a client's write applied as a no-op.
    Internal(&'static str),
}

struct PendingWrite<R> {
    term: u64,
    /// Taken when answered early (a put with write-ack leader): applying it answers no one.
    reply: Option<R>,
    deadline_ms: u64,
    /// For a transaction's commit: its micro-ops and what each saw, for the answer, and its id
    /// (the owner of the locks it holds until its commit is decided).
    txn: Option<(Vec<TxnOp>, Vec<TxnResult>, u64)>,
}

struct PendingRead<R> {
    key: String,
    reply: R,
    deadline_ms: u64,
}

/// A node, its state machine, and the clients waiting on it.
pub struct Service<R> {
    pub node: Node,
    pub kv: Kv,
    read_mode: ReadMode,
    write_ack: WriteAck,
    request_timeout_ms: u64,
    /// By log index. (Ordered maps here and below: a simulation must answer in the same order
    /// every time it replays a seed.)
    writes: BTreeMap<u64, PendingWrite<R>>,
    reads: BTreeMap<u64, PendingRead<R>>,
    /// (read id, index) confirmed, waiting for apply.
    ready_reads: Vec<(u64, u64)>,
    next_read: u64,
    /// Writes answered once the next Ready is durable (write-ack leader), with their answers.
    on_disk: Vec<(u64, Answer)>,
    isolation: Isolation,
    /// Transactions running on this leader a micro-op at a time, by id.
    open: BTreeMap<u64, OpenTxn<R>>,
    next_open: u64,
    /// Read committed: the keys written by a transaction not yet decided, and its id. Another
    /// transaction's write to one waits, as a row lock makes it wait in a database: so a write
    /// always applies to the version its transaction saw.
    locks: BTreeMap<String, u64>,
    /// Read committed: keys a transaction's commit in this node's log, not yet applied, writes
    /// (the latest such index). A write to one waits until it applies: else it would build on
    /// a version that is about to change under it.
    inflight: BTreeMap<String, u64>,
    /// Read uncommitted: each key's writes by the open transaction holding its lock, and that
    /// transaction's id. Others' reads see them on top of the log as it stands, applied or not
    /// ([`Service::uncommitted`]). A transaction that aborts takes its writes back — but
    /// whoever read them has read a write that never happened.
    dirty: BTreeMap<String, (u64, Vec<TxnOp>)>,
    /// Whether this node led at the last step (a new leader learns its log's pending writes).
    leading: bool,
    /// `--unsafe snowflake-ids`: the millisecond of the last id issued, and its sequence.
    snowflake: (u64, u64),
    /// The `--unsafe` knobs that break the service's own rules.
    knobs: Knobs,
}

impl<R> Service<R> {
    pub fn new(
        node: Node,
        kv: Kv,
        read_mode: ReadMode,
        write_ack: WriteAck,
        request_timeout_ms: u64,
    ) -> Service<R> {
        Service {
            node,
            kv,
            read_mode,
            write_ack,
            request_timeout_ms,
            writes: BTreeMap::new(),
            reads: BTreeMap::new(),
            ready_reads: Vec::new(),
            next_read: 1,
            on_disk: Vec::new(),
            isolation: Isolation::Serializable,
            open: BTreeMap::new(),
            next_open: 1,
            locks: BTreeMap::new(),
            inflight: BTreeMap::new(),
            dirty: BTreeMap::new(),
            leading: false,
            knobs: Knobs::default(),
            snowflake: (0, 0),
        }
    }

    /// Breaks the rules `knobs` names, on purpose (see [`Knobs`]).
    pub fn with_knobs(mut self, knobs: Knobs) -> Service<R> {
        self.knobs = knobs;
        self
    }

    /// Runs transactions at `isolation` (serializable by default).
    pub fn with_isolation(mut self, isolation: Isolation) -> Service<R> {
        self.isolation = isolation;
        self
    }

    /// A client's request at `now_ms` (the driver's monotonic clock, for deadlines); `wall_ms` is
    /// the node's own wall clock, which a lease trusts. An answer now, or later from
    /// [`Service::settle`] or [`Service::expire`].
    pub fn request(
        &mut self,
        req: Request,
        reply: R,
        now_ms: u64,
        wall_ms: u64,
    ) -> Option<(R, Answer)> {
        let deadline_ms = now_ms + self.request_timeout_ms;
        match req {
            Request::GetLocal(key) => Some((reply, self.read_now(&key))),
            Request::Get(key) => {
                if self.read_mode == ReadMode::Stale {
                    return Some((reply, self.read_now(&key)));
                }
                let id = self.next_read;
                self.next_read += 1;
                let confirmed = if self.read_mode == ReadMode::Lease {
                    self.node.lease_read(id, wall_ms)
                } else {
                    self.node.read_index(id)
                };
                match confirmed {
                    Ok(()) => {
                        self.reads.insert(
                            id,
                            PendingRead {
                                key,
                                reply,
                                deadline_ms,
                            },
                        );
                        None
                    }
                    Err(Refused::NotLeader(l)) => Some((reply, Answer::NotLeader(l))),
                }
            }
            Request::Put(key, value) => {
                self.propose(Command::Put { key, value }, reply, deadline_ms)
            }
            Request::Cas { key, from, to } => {
                self.propose(Command::Cas { key, from, to }, reply, deadline_ms)
            }
            Request::Txn(ops) => {
                let ops: Vec<TxnOp> = ops.into_iter().map(|op| op.stamped(wall_ms)).collect();
                if let Some(answer) = self.unsafe_answer(&ops, wall_ms, deadline_ms) {
                    return Some((reply, answer));
                }
                match self.isolation {
                    Isolation::Serializable => {
                        self.propose(Command::Txn { ops }, reply, deadline_ms)
                    }
                    _ => self.begin(ops, reply, deadline_ms),
                }
            }
        }
    }

    fn propose(&mut self, cmd: Command, reply: R, deadline_ms: u64) -> Option<(R, Answer)> {
        self.propose_txn(cmd, reply, deadline_ms, None)
    }

    fn propose_txn(
        &mut self,
        cmd: Command,
        reply: R,
        deadline_ms: u64,
        txn: Option<(Vec<TxnOp>, Vec<TxnResult>, u64)>,
    ) -> Option<(R, Answer)> {
        let early = self.early_answer(&cmd);
        let keys: Vec<String> = written_keys(&cmd).map(str::to_string).collect();
        match self.node.propose(cmd) {
            Ok((index, term)) => {
                for key in keys {
                    self.inflight.insert(key, index);
                }
                self.writes.insert(
                    index,
                    PendingWrite {
                        term,
                        reply: Some(reply),
                        deadline_ms,
                        txn,
                    },
                );
                if let Some(answer) = early {
                    self.on_disk.push((index, answer(index)));
                }
                None
            }
            Err(Refused::NotLeader(l)) => Some((reply, Answer::NotLeader(l))),
        }
    }

    /// With write-ack leader, what a write is told once it is on the leader's disk, before it
    /// commits: a put, and a transaction that only writes (its answer needs nothing applying
    /// tells). A cas, or a transaction that reads, needs its outcome, which only applying tells.
    #[allow(clippy::type_complexity)]
    fn early_answer(&self, cmd: &Command) -> Option<Box<dyn FnOnce(u64) -> Answer>> {
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
    fn unsafe_answer(&mut self, ops: &[TxnOp], wall_ms: u64, deadline_ms: u64) -> Option<Answer> {
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
                let lease = super::log::Lease::of(self.kv.get(key).map(|(v, _)| v))?;
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

    /// Begins a transaction on this leader (a follower sends it to the leader): its snapshot is
    /// taken now; its micro-ops run one per [`Service::settle`].
    fn begin(&mut self, ops: Vec<TxnOp>, reply: R, deadline_ms: u64) -> Option<(R, Answer)> {
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
    fn step_open(&mut self) -> Vec<(R, Answer)> {
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
    fn release(&mut self, owner: u64) {
        if !self.locks.is_empty() {
            self.locks.retain(|_, o| *o != owner);
        }
        if !self.dirty.is_empty() {
            self.dirty.retain(|_, (o, _)| *o != owner);
        }
    }

    /// Frees the locks of the transaction whose commit `w` was, once its fate is known.
    fn settled(&mut self, w: &PendingWrite<R>) {
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

    fn read_now(&self, key: &str) -> Answer {
        Answer::Read(self.kv.get(key).cloned())
    }

    /// After `ready` (taken from the node) is durable and its messages are sent: answers the
    /// puts acknowledged on disk, installs a received snapshot, applies committed entries, and
    /// serves the reads they were waiting for. `Err` when a snapshot does not restore.
    pub fn settle(&mut self, ready: &Ready) -> Result<Vec<(R, Answer)>, String> {
        let mut out = Vec::new();
        for (index, answer) in std::mem::take(&mut self.on_disk) {
            if let Some(reply) = self.writes.get_mut(&index).and_then(|w| w.reply.take()) {
                out.push((reply, answer));
            }
        }
        if let Some(s) = &ready.snapshot {
            // Writes at indices the snapshot covers were never applied here one by one, so their
            // fate is unknown to this node: they may be in the snapshot or overwritten.
            let replaced: Vec<PendingWrite<R>> = self
                .writes
                .extract_if(..=s.last_index, |_, _| true)
                .map(|(_, w)| w)
                .collect();
            for w in replaced {
                self.settled(&w);
                if let Some(reply) = w.reply {
                    out.push((
                        reply,
                        Answer::Unknown("replaced by a snapshot from the leader"),
                    ));
                }
            }
            self.kv = Kv::restore(&s.data)?;
        }
        for e in &ready.apply {
            let applied = self.kv.apply(e);
            let Some(w) = self.writes.remove(&e.index) else {
                continue;
            };
            self.settled(&w);
            let Some(reply) = w.reply else {
                continue;
            };
            let answer = if w.term != e.term {
                Answer::NotApplied
            } else {
                match (applied, &e.command, w.txn) {
                    (
                        Applied::Txn { version, .. },
                        Command::TxnCommit { .. },
                        Some((ops, results, _)),
                    ) => Answer::Txn {
                        version,
                        ops,
                        results,
                    },
                    (Applied::Written { version }, _, _) => Answer::Written { version },
                    (Applied::CasMismatch { current }, _, _) => Answer::Mismatch(current),
                    (Applied::Txn { version, results }, Command::Txn { ops }, _) => Answer::Txn {
                        version,
                        ops: ops.clone(),
                        results,
                    },
                    (Applied::TxnRejected(why), _, _) => Answer::Rejected(why),
                    (Applied::Noop | Applied::Txn { .. }, _, _) => {
                        Answer::Internal("a client write applied as something else")
                    }
                }
            };
            out.push((reply, answer));
        }
        for id in &ready.failed_reads {
            if let Some(r) = self.reads.remove(id) {
                out.push((r.reply, Answer::NotLeader(self.node.leader())));
            }
        }
        // Commits now applied no longer hold their keys (once per Ready, not per entry).
        if !self.inflight.is_empty() {
            let applied = self.kv.applied();
            self.inflight.retain(|_, i| *i > applied);
        }
        self.ready_reads.extend(ready.reads.iter().copied());
        let applied = self.kv.applied();
        let mut waiting = Vec::new();
        for (id, index) in std::mem::take(&mut self.ready_reads) {
            if index > applied {
                waiting.push((id, index));
            } else if let Some(r) = self.reads.remove(&id) {
                let answer = self.read_now(&r.key);
                out.push((r.reply, answer));
            }
        }
        self.ready_reads = waiting;
        out.extend(self.step_open());
        Ok(out)
    }

    /// Answers the requests that waited past their deadline at `now_ms`: a write's outcome is
    /// then unknown; a read simply did not happen.
    pub fn expire(&mut self, now_ms: u64) -> Vec<(R, Answer)> {
        let mut out = Vec::new();
        let late: Vec<PendingWrite<R>> = self
            .writes
            .extract_if(.., |_, w| w.deadline_ms <= now_ms)
            .map(|(_, w)| w)
            .collect();
        for w in late {
            self.settled(&w);
            if let Some(reply) = w.reply {
                out.push((
                    reply,
                    Answer::Unknown("accepted but not known to be committed in time"),
                ));
            }
        }
        for (_, r) in self.reads.extract_if(.., |_, r| r.deadline_ms <= now_ms) {
            out.push((r.reply, Answer::ReadTimedOut));
        }
        // A transaction still running has sent nothing through the log: nothing happened.
        let late: Vec<(u64, OpenTxn<R>)> = self
            .open
            .extract_if(.., |_, t| t.deadline_ms <= now_ms)
            .collect();
        for (id, t) in late {
            self.release(id);
            out.push((t.reply, Answer::ReadTimedOut));
        }
        out
    }

    /// Everyone still waiting, when the node goes away (killed): their connections are reset.
    pub fn abandon(self) -> Vec<R> {
        let writes = self.writes.into_values().filter_map(|w| w.reply);
        writes
            .chain(self.reads.into_values().map(|r| r.reply))
            .chain(self.open.into_values().map(|t| t.reply))
            .collect()
    }
}

/// The keys a command writes, as far as transactions care.
fn written_keys(cmd: &Command) -> impl Iterator<Item = &str> {
    written_ops(cmd).map(TxnOp::key)
}

/// The writes and appends of a transaction's command.
fn written_ops(cmd: &Command) -> impl Iterator<Item = &TxnOp> {
    let ops: &[TxnOp] = match cmd {
        Command::Txn { ops } => ops,
        Command::TxnCommit { writes, .. } => writes,
        _ => &[],
    };
    ops.iter().filter(|op| op.writes())
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
