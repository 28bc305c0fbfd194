//! The generator: which operation each client issues next. Reads, writes and compare-and-sets on a
//! rotating set of keys, every written value unique per key (so a read names the write it saw),
//! all drawn from the run's seed.
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
}

impl Workload {
    pub fn model(self) -> checker::ModelKind {
        match self {
            Workload::CasRegister => checker::ModelKind::CasRegister,
            Workload::Register => checker::ModelKind::Register,
        }
    }
}

/// One operation to perform.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    Read { key: String },
    Write { key: String, value: u64 },
    Cas { key: String, from: u64, to: u64 },
}

impl Op {
    pub fn f(&self) -> &'static str {
        match self {
            Op::Read { .. } => "read",
            Op::Write { .. } => "write",
            Op::Cas { .. } => "cas",
        }
    }

    /// What the operation counts as when no definite answer came: a write or cas may have
    /// happened (`info`); a read has no effect, so it simply failed.
    pub fn unanswered(&self) -> checker::Outcome {
        match self {
            Op::Read { .. } => checker::Outcome::Fail,
            _ => checker::Outcome::Info,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Op::Read { key } | Op::Write { key, .. } | Op::Cas { key, .. } => key,
        }
    }

    /// The invocation's value in the history.
    pub fn value(&self) -> Value {
        match self {
            Op::Read { .. } => Value::Null,
            Op::Write { value, .. } => json!(value),
            Op::Cas { from, to, .. } => json!([from, to]),
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
        let mut keys = self.keys.lock().expect("generator lock");
        let k = &mut *keys;
        let i = rng.below(k.slots.len() as u64) as usize;
        if k.slots[i].ops >= self.ops_per_key {
            let key = format!("{}k{}", k.prefix, k.next_key);
            k.next_key += 1;
            k.used.push(key.clone());
            k.slots[i] = Slot {
                key,
                ops: 0,
                last_value: 0,
            };
        }
        let slot = &mut k.slots[i];
        slot.ops += 1;
        let key = slot.key.clone();
        let roll = rng.below(100);
        match self.workload {
            _ if roll < 50 => Op::Read { key },
            Workload::Register => {
                slot.last_value += 1;
                Op::Write {
                    key,
                    value: slot.last_value,
                }
            }
            // A key's first write is a plain write: a cas needs a value to expect.
            Workload::CasRegister if roll < 75 || slot.last_value == 0 => {
                slot.last_value += 1;
                Op::Write {
                    key,
                    value: slot.last_value,
                }
            }
            Workload::CasRegister => {
                // Expect one of the last few values, so that some cas succeed and some fail.
                let from = slot.last_value.saturating_sub(rng.below(3)).max(1);
                slot.last_value += 1;
                Op::Cas {
                    key,
                    from,
                    to: slot.last_value,
                }
            }
        }
    }

    /// Every key handed out so far, in order of first use.
    pub fn keys_used(&self) -> Vec<String> {
        self.keys.lock().expect("generator lock").used.clone()
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
                Op::Read { .. } => None,
            };
            if let Op::Cas { from, to, .. } = &op {
                assert!(from < to, "{op:?} expects a value written before");
            }
            if let Some(v) = written {
                assert!(
                    seen.insert((op.key().to_string(), v)),
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
}
