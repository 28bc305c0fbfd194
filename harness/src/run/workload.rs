//! The generator: which operation each client issues next. Reads, writes and compare-and-sets on a
//! rotating set of keys, every written value unique per key (so a read names the write it saw),
//! all drawn from the run's seed.
//!
//! The transactional workloads (`list-append`, `rw-register`, Elle's) hand out transactions of
//! 1–4 micro-ops over the same rotating keys: appends of an element unique to its key, writes of a
//! value unique to its key, and reads — read-only and write-only transactions among them.
//!
//! A key is retired after `ops_per_key` operations and a fresh one takes its place, as Jepsen's
//! independent keys do. Because written values are unique, the checker decides a key of any
//! length exactly, in `O(n log n)` (`checker::unique`), so keys can live long: long per-key
//! histories find bugs that short ones cannot (a stale read needs the overwritten value to still
//! be read).

use checker::generate::Rng;
use serde_json::{json, Value};
use std::sync::Mutex;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Workload {
    /// Reads, writes and compare-and-set.
    CasRegister,
    /// Reads and writes.
    Register,
    /// Transactions of appends to lists and reads of them (Elle's list-append).
    ListAppend,
    /// Transactions of writes and reads of registers (Elle's rw-register).
    RwRegister,
    /// Transfers between accounts, each a transaction; reads of every balance (the seeds'
    /// 转账: the total must not change).
    Bank,
    /// Adds to a grow-only set; reads of the whole set.
    Set,
    /// Increments of a counter; reads of it.
    Counter,
    /// Requests for an id that no one else may get.
    UniqueIds,
    /// Enqueues and dequeues of unique messages, and what is left at the end.
    Queue,
    /// Acquires of one lock with a lease, each followed by its release.
    Lock,
}

impl Workload {
    /// As `--workload` spells it (`cas-register`, `list-append`, …).
    pub fn name(self) -> String {
        clap::ValueEnum::to_possible_value(&self)
            .map(|v| v.get_name().to_string())
            .unwrap_or_default()
    }

    /// The register model its history is checked with; `None` for the transactional workloads,
    /// which get the isolation ladder, and for the seeds' workloads, which get their own checker.
    pub fn model(self) -> Option<checker::ModelKind> {
        match self {
            Workload::CasRegister => Some(checker::ModelKind::CasRegister),
            Workload::Register => Some(checker::ModelKind::Register),
            _ => None,
        }
    }

    /// Whether its operations are Elle's transactions (judged by the isolation ladder).
    pub fn transactional(self) -> bool {
        matches!(self, Workload::ListAppend | Workload::RwRegister)
    }

    /// The seeds' workload it is (bank, set, counter, unique ids), judged by its own checker
    /// ([`checker::workloads`]).
    pub fn seed(self) -> Option<checker::workloads::Workload> {
        use checker::workloads::Workload as W;
        match self {
            Workload::Bank => Some(W::Bank),
            Workload::Set => Some(W::Set),
            Workload::Counter => Some(W::Counter),
            Workload::UniqueIds => Some(W::UniqueIds),
            Workload::Queue => Some(W::Queue),
            Workload::Lock => Some(W::Lock),
            _ => None,
        }
    }
}

/// One operation to perform.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Read {
        key: String,
    },
    Write {
        key: String,
        value: u64,
    },
    Cas {
        key: String,
        from: u64,
        to: u64,
    },
    /// A transaction of micro-ops.
    Txn(Vec<Micro>),
    /// An operation of the seeds' workloads (a transfer, an add to a set, …): what the history
    /// records, and the operation above that carries it out.
    Seed(super::seeds::SeedOp),
}

/// One micro-op of a transaction.
#[derive(Clone, Debug, PartialEq)]
pub enum Micro {
    Append {
        key: String,
        element: u64,
    },
    Write {
        key: String,
        value: u64,
    },
    Read {
        key: String,
    },
    /// Adds `delta` to an integer (an absent key is 0).
    Add {
        key: String,
        delta: i64,
    },
    /// Takes the first element off a list (a queue's dequeue).
    Pop {
        key: String,
    },
    /// The next id from a counter.
    Id {
        key: String,
    },
    /// Takes a lock for `owner` for a lease of `lease_ms`.
    Acquire {
        key: String,
        owner: String,
        lease_ms: u64,
    },
    /// Lets a lock go, if `owner` still holds it.
    Release {
        key: String,
        owner: String,
    },
}

impl Micro {
    /// As the targets' transaction drivers take it; an add is raftkv's alone (the run refuses
    /// the workloads that need it elsewhere before anything starts).
    pub fn step(&self) -> Result<targets::txn::Step<'_>, String> {
        Ok(match self {
            Micro::Append { key, element } => targets::txn::Step::Append(key, *element),
            Micro::Write { key, value } => targets::txn::Step::Write(key, *value),
            Micro::Read { key } => targets::txn::Step::Read(key),
            Micro::Add { .. }
            | Micro::Pop { .. }
            | Micro::Id { .. }
            | Micro::Acquire { .. }
            | Micro::Release { .. } => {
                return Err("this target's driver has no add, pop, id or lock micro-op".into())
            }
        })
    }

    /// Whether the target fills in its value (a read, a pop, an id); the others come back with
    /// the value they were sent.
    pub fn answered(&self) -> bool {
        matches!(
            self,
            Micro::Read { .. } | Micro::Pop { .. } | Micro::Id { .. }
        )
    }

    /// `["append", k, v]`, `["w", k, v]`, `["r", k, null]`, `["add", k, d]`: as the history
    /// and raftkv write it.
    pub fn json(&self) -> Value {
        match self {
            Micro::Append { key, element } => json!(["append", key, element]),
            Micro::Write { key, value } => json!(["w", key, value]),
            Micro::Read { key } => json!(["r", key, null]),
            Micro::Add { key, delta } => json!(["add", key, delta]),
            Micro::Pop { key } => json!(["pop", key, null]),
            Micro::Id { key } => json!(["id", key, null]),
            Micro::Acquire {
                key,
                owner,
                lease_ms,
            } => json!(["acquire", key, {"owner": owner, "lease_ms": lease_ms}]),
            Micro::Release { key, owner } => json!(["release", key, {"owner": owner}]),
        }
    }
}

impl Op {
    pub fn f(&self) -> &'static str {
        match self {
            Op::Read { .. } => "read",
            Op::Write { .. } => "write",
            Op::Cas { .. } => "cas",
            Op::Txn(_) => "txn",
            Op::Seed(s) => s.f(),
        }
    }

    /// What is sent: the operation itself, or the one that carries out a seed workload's.
    pub fn primitive(&self) -> &Op {
        match self {
            Op::Seed(s) => &s.op,
            op => op,
        }
    }

    /// What the operation counts as when no definite answer came: a write or cas may have
    /// happened (`info`); a read has no effect, so it simply failed.
    pub fn unanswered(&self) -> checker::Outcome {
        match self {
            Op::Seed(s) => s.op.unanswered(),
            Op::Read { .. } => checker::Outcome::Fail,
            Op::Txn(micro) if micro.iter().all(|m| matches!(m, Micro::Read { .. })) => {
                checker::Outcome::Fail
            }
            _ => checker::Outcome::Info,
        }
    }

    /// Whether it may change something: a write, a cas, a transaction with an append or a write.
    pub fn writes(&self) -> bool {
        match self {
            Op::Read { .. } => false,
            Op::Write { .. } | Op::Cas { .. } => true,
            Op::Txn(micro) => micro.iter().any(|m| !matches!(m, Micro::Read { .. })),
            Op::Seed(s) => s.op.writes(),
        }
    }

    /// The key it is about; a transaction has none of its own (its micro-ops name theirs).
    pub fn key(&self) -> Option<&str> {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } => Some(key),
            Op::Txn(_) | Op::Seed(_) => None,
        }
    }

    /// The invocation's value in the history.
    pub fn value(&self) -> Value {
        match self {
            Op::Read { .. } => Value::Null,
            Op::Write { value, .. } => json!(value),
            Op::Cas { from, to, .. } => json!([from, to]),
            Op::Txn(micro) => Value::Array(micro.iter().map(Micro::json).collect()),
            Op::Seed(s) => s.value.clone(),
        }
    }
}

struct Slot {
    key: String,
    ops: u64,
    /// The last value handed out for this key (values are 1, 2, 3, … per key).
    last_value: u64,
}

struct Keys {
    /// Every key's name starts with this: the run's id (see `store::run_id`), or nothing.
    prefix: String,
    slots: Vec<Slot>,
    next_key: u64,
    used: Vec<String>,
}

/// Hands out operations to any number of client threads.
pub struct Generator {
    workload: Workload,
    ops_per_key: u64,
    keys: Mutex<Keys>,
    /// The seeds' workloads (bank, set, counter, unique ids) draw from their own keys.
    seeds: Option<Mutex<super::seeds::Seeds>>,
}

impl Generator {
    /// Keys are named `{prefix}k0`, `{prefix}k1`, …
    pub fn new(workload: Workload, keys: usize, ops_per_key: u64, prefix: &str) -> Generator {
        assert!(keys > 0 && ops_per_key > 0);
        let slots: Vec<Slot> = (0..keys)
            .map(|i| Slot {
                key: format!("{prefix}k{i}"),
                ops: 0,
                last_value: 0,
            })
            .collect();
        let used = slots.iter().map(|s| s.key.clone()).collect();
        Generator {
            workload,
            ops_per_key,
            seeds: workload
                .seed()
                .map(|_| Mutex::new(super::seeds::Seeds::new(workload, prefix))),
            keys: Mutex::new(Keys {
                prefix: prefix.to_string(),
                slots,
                next_key: keys as u64,
                used,
            }),
        }
    }

    /// The next operation, drawn with the calling client's own `rng`.
    pub fn next(&self, rng: &mut Rng) -> Op {
        if let Some(seeds) = &self.seeds {
            return seeds.lock().expect("generator lock").next(rng);
        }
        if self.workload.transactional() {
            return self.next_txn(rng);
        }
        let mut keys = self.keys.lock().expect("generator lock");
        let slot = keys.slot(rng, self.ops_per_key);
        let key = slot.key.clone();
        let roll = rng.below(100);
        match self.workload {
            _ if roll < 50 => Op::Read { key },
            // A key's first write is a plain write: a cas needs a value to expect.
            Workload::CasRegister if roll >= 75 && slot.last_value > 0 => {
                // Expect one of the last few values, so that some cas succeed and some fail.
                let from = slot.last_value.saturating_sub(rng.below(3)).max(1);
                slot.last_value += 1;
                Op::Cas {
                    key,
                    from,
                    to: slot.last_value,
                }
            }
            _ => {
                slot.last_value += 1;
                Op::Write {
                    key,
                    value: slot.last_value,
                }
            }
        }
    }

    /// A transaction of 1–4 micro-ops, each on a key drawn as an operation's is: a read half the
    /// time, else an append (list-append) or a write (rw-register) of the key's next value.
    fn next_txn(&self, rng: &mut Rng) -> Op {
        let mut keys = self.keys.lock().expect("generator lock");
        let micro = (0..1 + rng.below(4))
            .map(|_| {
                let slot = keys.slot(rng, self.ops_per_key);
                let key = slot.key.clone();
                if rng.chance(0.5) {
                    return Micro::Read { key };
                }
                slot.last_value += 1;
                match self.workload {
                    Workload::ListAppend => Micro::Append {
                        key,
                        element: slot.last_value,
                    },
                    _ => Micro::Write {
                        key,
                        value: slot.last_value,
                    },
                }
            })
            .collect();
        Op::Txn(micro)
    }

    /// Every key handed out so far, in order of first use.
    pub fn keys_used(&self) -> Vec<String> {
        if let Some(seeds) = &self.seeds {
            return seeds.lock().expect("generator lock").keys().to_vec();
        }
        self.keys.lock().expect("generator lock").used.clone()
    }

    /// The seed workload's state (its keys, its options for the checker), if it is one.
    pub fn seeds(&self) -> Option<std::sync::MutexGuard<'_, super::seeds::Seeds>> {
        self.seeds
            .as_ref()
            .map(|s| s.lock().expect("generator lock"))
    }
}

impl Keys {
    /// A slot drawn at random, its key retired for a fresh one once it has had `ops_per_key`
    /// operations; counts this one.
    fn slot(&mut self, rng: &mut Rng, ops_per_key: u64) -> &mut Slot {
        let i = rng.below(self.slots.len() as u64) as usize;
        if self.slots[i].ops >= ops_per_key {
            let key = format!("{}k{}", self.prefix, self.next_key);
            self.next_key += 1;
            self.used.push(key.clone());
            self.slots[i] = Slot {
                key,
                ops: 0,
                last_value: 0,
            };
        }
        let slot = &mut self.slots[i];
        slot.ops += 1;
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn written_values_are_unique_per_key_and_keys_rotate() {
        let g = Generator::new(Workload::CasRegister, 3, 50, "");
        let mut rng = Rng::new(5);
        let mut seen = HashSet::new();
        let mut kinds = HashSet::new();
        for _ in 0..1000 {
            let op = g.next(&mut rng);
            kinds.insert(op.f());
            let written = match &op {
                Op::Write { value, .. } => Some(*value),
                Op::Cas { to, .. } => Some(*to),
                Op::Read { .. } | Op::Txn(_) | Op::Seed(_) => None,
            };
            if let Op::Cas { from, to, .. } = &op {
                assert!(from < to, "{op:?} expects a value written before");
            }
            if let Some(v) = written {
                assert!(
                    seen.insert((op.key().unwrap().to_string(), v)),
                    "{op:?} repeats a value"
                );
            }
        }
        assert_eq!(kinds.len(), 3);
        let keys = g.keys_used().len();
        assert!(
            (18..=24).contains(&keys),
            "keys retire after 50 ops: {keys}"
        );
    }

    #[test]
    fn the_same_seed_gives_the_same_operations() {
        let ops = |seed| {
            let g = Generator::new(Workload::Register, 4, 100, "r1-");
            let mut rng = Rng::new(seed);
            (0..200).map(|_| g.next(&mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(ops(1), ops(1));
        assert!(ops(1).iter().all(|op| op.f() != "cas"));
    }

    #[test]
    fn transactions_hold_one_to_four_micro_ops_with_values_unique_per_key() {
        for workload in [Workload::ListAppend, Workload::RwRegister] {
            let g = Generator::new(workload, 4, 32, "r1-");
            let mut rng = Rng::new(29);
            let (mut seen, mut sizes, mut read_only, mut write_only) =
                (HashSet::new(), HashSet::new(), 0, 0);
            for _ in 0..2000 {
                let Op::Txn(micro) = g.next(&mut rng) else {
                    panic!("{workload:?} hands out transactions")
                };
                sizes.insert(micro.len());
                let reads = micro
                    .iter()
                    .filter(|m| matches!(m, Micro::Read { .. }))
                    .count();
                read_only += usize::from(reads == micro.len());
                write_only += usize::from(reads == 0);
                for m in &micro {
                    let written = match (m, workload) {
                        (Micro::Append { key, element }, Workload::ListAppend) => {
                            Some((key, element))
                        }
                        (Micro::Write { key, value }, Workload::RwRegister) => Some((key, value)),
                        (Micro::Read { .. }, _) => None,
                        _ => panic!("{m:?} in {workload:?}"),
                    };
                    if let Some((k, v)) = written {
                        assert!(seen.insert((k.clone(), *v)), "{m:?} repeats a value");
                    }
                }
            }
            assert_eq!(sizes, HashSet::from([1, 2, 3, 4]));
            assert!(
                read_only > 100 && write_only > 100,
                "{read_only} {write_only}"
            );
            assert!(g.keys_used().len() > 50, "keys retire after 32 micro-ops");
        }
    }
}
