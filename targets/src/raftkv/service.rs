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

mod knobs;
mod stepwise;

pub use knobs::Knobs;
use stepwise::OpenTxn;

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
