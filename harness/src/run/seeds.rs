//! The seeds' workloads as operations: a bank's transfers and reads, a counter's adds and reads,
//! a set's adds and reads, unique ids. Each is carried out by an operation the drivers already
//! speak — a transaction or a read — and recorded as the workload's own (`transfer`, `add`,
//! `generate`, …), the shape [`checker::workloads`] and Jepsen's checkers read:
//!
//! | workload | recorded | sent |
//! |---|---|---|
//! | bank | `transfer {from, to, amount}` | `[["add", from, -amount], ["add", to, amount]]`: one transaction |
//! | bank | `read` → `{account: balance}` | `[["r", a0, nil], …]`: one transaction reading every account |
//! | counter | `add d` / `read` → n | `[["add", counter, d]]` / a read of the key |
//! | set | `add e` / `read` → `[e, …]` | `[["append", set, e]]` / a read of the key |
//! | unique-ids | `generate` → id | `[["id", ids, nil]]`: the next value of a counter, through the log (`--unsafe snowflake-ids`: made by the node asked from its clock) |
//! | queue | `enqueue m` / `dequeue` → m | `[["append", q, m]]` / `[["pop", q, nil]]` |
//! | queue | `drain` → `[m, …]` (at the end) | a read of the queue from one node's own copy, once the nodes agree: what is left |
//! | lock | `acquire` / `release` | `[["acquire", lock, {owner, lease_ms}]]`, then by the same client `[["release", lock, {owner}]]` |
//!
//! A lock's owner is a token drawn for each acquire (not the process, which changes after an
//! operation with no answer), and the client that was told it acquired owes the release: its
//! next operation.
//!
//! A reply that does not fit (a set read that is not a list, an id with no version) is no
//! answer at all: the operation ends as a write with no answer does, never with a made-up value.
//!
//! A bank's accounts open at 0 (an absent key) and may be overdrawn, so it needs no set-up
//! before the load — nothing outside the history that a fault could replay later — and its
//! total is 0: every read must sum to it (Jepsen's bank with `:negative-balances? true`).

use super::driver::{Completion, Driver};
use super::recorder::Recorder;
use super::workload::{Micro, Op, Workload};
use checker::generate::Rng;
use checker::Outcome;
use serde_json::{json, Map, Value};

/// A bank's accounts.
pub const ACCOUNTS: usize = 5;
/// A lock's lease, and how long a holder keeps it before its release (its critical section;
/// `--lock-hold` in real runs): the lease is well beyond the hold, so a safe lock's holder
/// releases in time unless a fault stalls it.
pub const LEASE_MS: u64 = 500;
pub const HOLD: std::time::Duration = std::time::Duration::from_millis(100);
/// How long an acquire waits for a lock that blocks (etcd's, ZooKeeper's recipe): long enough
/// for every other client to hold it in turn, and for a node to come back from a pause or a
/// partition of the nemesis's length.
pub const WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// What a seed workload's operation is, for recording it and reading its answer.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    Transfer,
    BankRead,
    Add,
    CounterRead,
    SetAdd,
    SetRead,
    Generate,
    Enqueue,
    Dequeue,
    Drain,
    /// A lock's acquire for this owner token; its release.
    Acquire(String),
    Release(String),
}

/// One operation of a seed workload: what the history records (`f`, `value`) and the operation
/// that carries it out.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedOp {
    pub kind: Kind,
    pub value: Value,
    pub op: Box<Op>,
}

impl SeedOp {
    pub fn f(&self) -> &'static str {
        match self.kind {
            Kind::Transfer => "transfer",
            Kind::BankRead | Kind::CounterRead | Kind::SetRead => "read",
            Kind::Add | Kind::SetAdd => "add",
            Kind::Generate => "generate",
            Kind::Enqueue => "enqueue",
            Kind::Dequeue => "dequeue",
            Kind::Drain => "drain",
            Kind::Acquire(_) => "acquire",
            Kind::Release(_) => "release",
        }
    }

    /// The recorded value of an `ok` completion `c`, or why the answer does not fit.
    pub fn answer(&self, c: &Completion) -> Result<Value, String> {
        match self.kind {
            Kind::Transfer | Kind::Add | Kind::SetAdd | Kind::Enqueue => Ok(self.value.clone()),
            // The lease the lock was granted, when the target says (etcd rounds it up).
            Kind::Acquire(_) => Ok(match c.value.get("lease_ms") {
                Some(ms) => json!({ "lease_ms": ms }),
                None => Value::Null,
            }),
            Kind::Release(_) => Ok(Value::Null),
            Kind::CounterRead => counter_value(&c.value),
            Kind::SetRead | Kind::Drain => set_value(&c.value),
            Kind::Dequeue => only(&c.value, "pop"),
            Kind::BankRead => balances(&c.value),
            Kind::Generate => only(&c.value, "id").and_then(|id| match id.is_null() {
                true => Err("no id in the answer".into()),
                false => Ok(id),
            }),
        }
    }

    /// What the client owes after this operation ended as `c`: the release of a lock it was
    /// told it acquired.
    pub fn then(&self, c: &Completion) -> Option<Op> {
        let Kind::Acquire(owner) = &self.kind else {
            return None;
        };
        let Op::Txn(micro) = &*self.op else {
            return None;
        };
        let key = match micro.first() {
            Some(Micro::Acquire { key, .. }) => key.clone(),
            _ => return None,
        };
        (c.outcome == Outcome::Ok).then(|| {
            let release = Micro::Release {
                key,
                owner: owner.clone(),
            };
            Op::Seed(SeedOp {
                kind: Kind::Release(owner.clone()),
                value: Value::Null,
                op: Box::new(Op::Txn(vec![release])),
            })
        })
    }

    /// `c` as the history records it: an `ok` answer translated, or one that does not fit
    /// turned into no answer (as a write with none ends).
    pub fn complete(&self, mut c: Completion) -> Completion {
        if c.outcome != Outcome::Ok {
            return c;
        }
        match self.answer(&c) {
            Ok(v) => c.value = v,
            Err(why) => {
                c.outcome = self.op.unanswered();
                c.error = Some(format!("an answer that does not fit {}: {why}", self.f()));
                c.value = Value::Null;
                c.unavailable = true;
            }
        }
        c
    }
}

/// A counter's value: an integer, none (absent) being 0.
fn counter_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::Null => Ok(json!(0)),
        v if v.is_i64() => Ok(v.clone()),
        other => Err(format!("the counter holds {other}, not an integer")),
    }
}

/// A set's value: a list, none (absent) being empty.
fn set_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::Null => Ok(json!([])),
        Value::Array(_) => Ok(v.clone()),
        other => Err(format!("the set holds {other}, not a list")),
    }
}

/// What the one micro-op `f` of a transaction answered: a dequeue's `[["pop", q, m]]` → `m`
/// (nil: the queue was empty), a generate's `[["id", ids, n]]` → `n`.
fn only(v: &Value, f: &str) -> Result<Value, String> {
    match v.as_array().map(Vec::as_slice) {
        Some([m]) => match m.as_array().map(Vec::as_slice) {
            Some([g, _, got, ..]) if g == f => Ok(got.clone()),
            _ => Err(format!("{m} is not {f}")),
        },
        _ => Err(format!("{v} is not one {f}")),
    }
}

/// A read of every account, `[["r", k, v(, version)], …]`, as `{k: v}`; an account never
/// written holds 0.
fn balances(v: &Value) -> Result<Value, String> {
    let mut map = Map::new();
    for m in v.as_array().ok_or("no list of micro-ops")? {
        let (k, b) = match m.as_array().map(Vec::as_slice) {
            Some([f, k, b, ..]) if f == "r" => (k.as_str().ok_or("a key that is no string")?, b),
            _ => return Err(format!("{m} is not a read")),
        };
        map.insert(
            k.to_string(),
            if b.is_null() { json!(0) } else { b.clone() },
        );
    }
    Ok(Value::Object(map))
}

/// Each seed workload's keys and counters, shared by the clients.
pub struct Seeds {
    workload: Workload,
    keys: Vec<String>,
    next: u64,
}

impl Seeds {
    /// The keys of `workload`, named after the run (`prefix`).
    pub fn new(workload: Workload, prefix: &str) -> Seeds {
        let keys = match workload {
            Workload::Bank => (0..ACCOUNTS).map(|i| format!("{prefix}a{i}")).collect(),
            Workload::Counter => vec![format!("{prefix}counter")],
            Workload::Set => vec![format!("{prefix}set")],
            Workload::Queue => vec![format!("{prefix}queue")],
            Workload::Lock => vec![format!("{prefix}lock")],
            _ => vec![format!("{prefix}ids")],
        };
        Seeds {
            workload,
            keys,
            next: 0,
        }
    }

    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The next operation, drawn with the calling client's `rng`.
    pub fn next(&mut self, rng: &mut Rng) -> Op {
        let read = rng.chance(0.5);
        let seed = match self.workload {
            Workload::Bank if read => self.bank_read(),
            Workload::Bank => self.transfer(rng),
            Workload::Counter if read => self.read(Kind::CounterRead),
            Workload::Counter => {
                let d = 1 + rng.below(5) as i64;
                self.txn(Kind::Add, json!(d), vec![add(&self.keys[0], d)])
            }
            Workload::Set if rng.chance(0.25) => self.read(Kind::SetRead),
            Workload::Set => {
                self.next += 1;
                let e = self.next;
                let append = Micro::Append {
                    key: self.keys[0].clone(),
                    element: e,
                };
                self.txn(Kind::SetAdd, json!(e), vec![append])
            }
            Workload::Queue if read => {
                let pop = Micro::Pop {
                    key: self.keys[0].clone(),
                };
                self.txn(Kind::Dequeue, Value::Null, vec![pop])
            }
            Workload::Queue => {
                self.next += 1;
                let append = Micro::Append {
                    key: self.keys[0].clone(),
                    element: self.next,
                };
                self.txn(Kind::Enqueue, json!(self.next), vec![append])
            }
            Workload::Lock => {
                self.next += 1;
                let owner = format!("o{}", self.next);
                let acquire = Micro::Acquire {
                    key: self.keys[0].clone(),
                    owner: owner.clone(),
                    lease_ms: LEASE_MS,
                };
                self.txn(Kind::Acquire(owner), Value::Null, vec![acquire])
            }
            _ => {
                let id = Micro::Id {
                    key: self.keys[0].clone(),
                };
                self.txn(Kind::Generate, Value::Null, vec![id])
            }
        };
        Op::Seed(seed)
    }

    fn txn(&self, kind: Kind, value: Value, micro: Vec<Micro>) -> SeedOp {
        SeedOp {
            kind,
            value,
            op: Box::new(Op::Txn(micro)),
        }
    }

    fn read(&self, kind: Kind) -> SeedOp {
        let key = self.keys[0].clone();
        SeedOp {
            kind,
            value: Value::Null,
            op: Box::new(Op::Read { key }),
        }
    }

    fn bank_read(&self) -> SeedOp {
        let reads = self
            .keys
            .iter()
            .map(|k| Micro::Read { key: k.clone() })
            .collect();
        self.txn(Kind::BankRead, Value::Null, reads)
    }

    /// Between two different accounts, 1 to 5.
    fn transfer(&self, rng: &mut Rng) -> SeedOp {
        let from = rng.below(ACCOUNTS as u64) as usize;
        let to = (from + 1 + rng.below(ACCOUNTS as u64 - 1) as usize) % ACCOUNTS;
        let amount = 1 + rng.below(5) as i64;
        let (f, t) = (&self.keys[from], &self.keys[to]);
        let value = json!({"from": f, "to": t, "amount": amount});
        self.txn(Kind::Transfer, value, vec![add(f, -amount), add(t, amount)])
    }

    /// What `faultline run` knows about the test and the history does not say.
    pub fn options(&self) -> checker::workloads::Options {
        checker::workloads::Options {
            bank_total: Some(0),
            negative_balances: true,
            accounts: (self.workload == Workload::Bank).then(|| self.keys.clone()),
            // raftkv's consistent reads promise it; a stale read mode breaks exactly this.
            set_linearizable: true,
            leased_locks: true,
            fifo: true,
            at_least_once: false,
        }
    }
}

fn add(key: &str, delta: i64) -> Micro {
    Micro::Add {
        key: key.to_string(),
        delta,
    }
}

/// The final reads of a seed workload, from every node's own copy, recorded with
/// `phase: final` in the workload's shape: each node's whole bank, counter or set (unique ids
/// have nothing to read).
pub async fn final_reads(seeds: &Seeds, recorder: &Recorder, driver: &dyn Driver, workers: u64) {
    if !seeds.reads_finally() {
        return;
    }
    for node in 0..driver.len() {
        let process = super::clients::final_read_process(workers, node);
        let inv = recorder.invoke(process, seeds.final_f(), None, Value::Null, Some("final"));
        let mut copies = Vec::new();
        for key in &seeds.keys {
            copies.push((key.clone(), driver.read_local(key, node).await));
        }
        let c = seeds.final_read(copies);
        let done = c.outcome == Outcome::Ok;
        recorder.complete(&inv, &c);
        if done && seeds.drains_once() {
            // A drain receives what it lists: one is all the queue may have.
            return;
        }
    }
}

impl Seeds {
    /// Whether the workload reads its keys at the end (a bank, a counter, a set; a queue
    /// drains once).
    pub fn reads_finally(&self) -> bool {
        !matches!(self.workload, Workload::UniqueIds | Workload::Lock)
    }

    /// What a final read is recorded as: a queue's is its drain.
    pub fn final_f(&self) -> &'static str {
        match self.workload {
            Workload::Queue => "drain",
            _ => "read",
        }
    }

    /// Whether the final reads stop at the first node that answered (a queue's drain).
    pub fn drains_once(&self) -> bool {
        self.workload == Workload::Queue
    }

    /// One node's final read, from its own copy of each key (`copies`, in key order): the
    /// first that failed, or the whole bank, counter or set as the workload records it.
    pub fn final_read(&self, copies: Vec<(String, Completion)>) -> Completion {
        if let Some((_, failed)) = copies.iter().find(|(_, c)| c.outcome != Outcome::Ok) {
            return failed.clone();
        }
        let kind = match self.workload {
            Workload::Bank => Kind::BankRead,
            Workload::Counter => Kind::CounterRead,
            Workload::Queue => Kind::Drain,
            _ => Kind::SetRead,
        };
        let reads: Vec<Value> = copies
            .iter()
            .map(|(k, c)| json!(["r", k, c.value]))
            .collect();
        let mut c = copies
            .into_iter()
            .last()
            .expect("every seed workload has a key")
            .1;
        if kind == Kind::BankRead {
            c.value = Value::Array(reads);
        }
        let read = match kind {
            Kind::BankRead => self.bank_read(),
            kind => self.read(kind),
        };
        read.complete(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(value: Value, version: Option<u64>) -> Completion {
        Completion::answered(Some("n1".into()), Outcome::Ok, value, version)
    }

    #[test]
    fn answers_become_the_workloads_values_and_misfits_no_answer() {
        let mut seeds = Seeds::new(Workload::Bank, "r1-");
        let mut rng = Rng::new(3);
        let (mut transfers, mut reads) = (0, 0);
        for _ in 0..200 {
            let Op::Seed(s) = seeds.next(&mut rng) else {
                panic!("a seed op")
            };
            match s.kind {
                Kind::Transfer => {
                    transfers += 1;
                    let Op::Txn(m) = &*s.op else { panic!() };
                    assert!(matches!(&m[0], Micro::Add { delta, .. } if *delta < 0));
                    assert_ne!(s.value["from"], s.value["to"]);
                }
                Kind::BankRead => reads += 1,
                _ => panic!("{s:?}"),
            }
        }
        assert!(transfers > 50 && reads > 50);
        let read = seeds.bank_read();
        let c = read.complete(ok(
            json!([["r", "r1-a0", -2, 3], ["r", "r1-a1", null]]),
            Some(4),
        ));
        assert_eq!(c.value, json!({"r1-a0": -2, "r1-a1": 0}));
        let bad = read.complete(ok(json!("nonsense"), None));
        assert_eq!(
            (bad.outcome, bad.value.clone()),
            (Outcome::Fail, Value::Null),
            "a read-only transaction with no answer failed"
        );
        assert!(bad.error.unwrap().contains("does not fit read"));
        let ids = Seeds::new(Workload::UniqueIds, "").next(&mut rng);
        let Op::Seed(g) = ids else { panic!() };
        assert_eq!(
            g.complete(ok(json!([["id", "ids", 17]]), Some(3))).value,
            json!(17)
        );
        assert_eq!(
            g.complete(ok(json!([["id", "ids", null]]), None)).outcome,
            Outcome::Info
        );
        let set = Seeds::new(Workload::Set, "").read(Kind::SetRead);
        assert_eq!(set.complete(ok(Value::Null, None)).value, json!([]));
        let counter = Seeds::new(Workload::Counter, "").read(Kind::CounterRead);
        assert_eq!(counter.complete(ok(json!(7), Some(2))).value, json!(7));
        assert_eq!(
            counter.complete(ok(json!([1]), Some(2))).outcome,
            Outcome::Fail
        );
    }
}
