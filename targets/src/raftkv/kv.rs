//! The replicated state machine: a map from string keys to JSON values, each with the log index
//! that wrote it (its version).

use super::log::{Command, Entry, Members, TxnOp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// What applying one entry did.
#[derive(Clone, Debug, PartialEq)]
pub enum Applied {
    Noop,
    Written {
        version: u64,
    },
    /// A cas whose expected value was not the current one; nothing changed.
    CasMismatch {
        current: Option<Value>,
    },
    /// A transaction, applied at `version`: what each of its micro-operations saw or did.
    Txn {
        version: u64,
        results: Vec<TxnResult>,
    },
    /// A transaction that could not apply (an append to a key that holds no list); nothing
    /// changed.
    TxnRejected(String),
}

/// What one micro-operation of a transaction saw or did.
#[derive(Clone, Debug, PartialEq)]
pub enum TxnResult {
    /// A read of what another transaction committed: the value and the version that wrote it,
    /// none when the key is absent.
    Read(Option<(Value, u64)>),
    /// A read of the transaction's own earlier write (installed with it, if it commits).
    ReadOwn(Value),
    /// Read uncommitted: a read of another transaction's write before it committed (it may
    /// never commit); it has no version.
    ReadDirty(Value),
    /// An append or a write, at the transaction's version.
    Wrote,
    /// A pop, and what it took (nothing from an empty list).
    Popped(Option<Value>),
    /// An id issued from a counter.
    Issued(Value),
}

impl TxnResult {
    /// What a write tells its transaction, given what its key held before it: a pop what it
    /// took, anything else that it was done.
    pub fn of_write(op: &TxnOp, before: Option<&Value>) -> TxnResult {
        match op {
            TxnOp::Pop { .. } => TxnResult::Popped(TxnOp::head(before)),
            TxnOp::Id { .. } => {
                let next = before.and_then(Value::as_i64).unwrap_or(0) + 1;
                TxnResult::Issued(Value::from(next))
            }
            _ => TxnResult::Wrote,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Kv {
    data: BTreeMap<String, (Value, u64)>,
    applied: u64,
    /// The last configuration applied, so that a snapshot carries the cluster's membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    members: Option<Members>,
}

impl Kv {
    pub fn applied(&self) -> u64 {
        self.applied
    }

    pub fn get(&self, key: &str) -> Option<&(Value, u64)> {
        self.data.get(key)
    }

    /// The last configuration applied, if any was.
    pub fn members(&self) -> Option<&Members> {
        self.members.as_ref()
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn apply(&mut self, e: &Entry) -> Applied {
        assert_eq!(
            e.index,
            self.applied + 1,
            "entries are applied in order, once"
        );
        self.applied = e.index;
        match &e.command {
            Command::Noop => Applied::Noop,
            Command::Config(m) => {
                self.members = Some(m.clone());
                Applied::Noop
            }
            Command::Put { key, value } => {
                self.data.insert(key.clone(), (value.clone(), e.index));
                Applied::Written { version: e.index }
            }
            Command::Cas { key, from, to } => {
                let current = self.data.get(key).map(|(v, _)| v);
                // `null` as the expected value means "absent".
                let matches = match current {
                    Some(v) => v == from,
                    None => from.is_null(),
                };
                if matches {
                    self.data.insert(key.clone(), (to.clone(), e.index));
                    Applied::Written { version: e.index }
                } else {
                    Applied::CasMismatch {
                        current: current.cloned(),
                    }
                }
            }
            Command::Txn { ops } => self.txn(ops, e.index),
            Command::TxnCommit { writes, snapshot } => self.commit(writes, *snapshot, e.index),
        }
    }

    /// Runs a transaction's micro-operations in order on a copy of the keys they touch, each
    /// read seeing the ones before it; commits them all at `version`, or none.
    fn txn(&mut self, ops: &[TxnOp], version: u64) -> Applied {
        let mut touched: BTreeMap<&str, Option<(Value, u64)>> = BTreeMap::new();
        let mut results = Vec::with_capacity(ops.len());
        for op in ops {
            let key = op.key();
            let slot = touched
                .entry(key)
                .or_insert_with(|| self.data.get(key).cloned());
            match op {
                TxnOp::R { .. } => results.push(match slot {
                    // Its own write, installed with it at `version`.
                    Some((v, at)) if *at == version => TxnResult::ReadOwn(v.clone()),
                    other => TxnResult::Read(other.clone()),
                }),
                write => {
                    let before = slot.take().map(|(v, _)| v);
                    let result = TxnResult::of_write(write, before.as_ref());
                    match write.apply_to(before) {
                        Ok(v) => *slot = v.map(|v| (v, version)),
                        Err(why) => return Applied::TxnRejected(why),
                    }
                    results.push(result);
                }
            }
        }
        for (key, value) in touched {
            // A key left with nothing (a released lock) is gone; one only read is as it was.
            match value {
                Some(v) => self.data.insert(key.to_string(), v),
                None => self.data.remove(key),
            };
        }
        Applied::Txn { version, results }
    }

    /// Applies a transaction's buffered writes at `version`: each write sets its key, each
    /// append adds to the key's list as it is now. With `snapshot`, first committer wins: a key
    /// written after the snapshot aborts it all.
    fn commit(&mut self, writes: &[TxnOp], snapshot: Option<u64>, version: u64) -> Applied {
        if let Some(start) = snapshot {
            let newer = writes.iter().find_map(|w| {
                let (_, at) = self.data.get(w.key())?;
                (*at > start).then(|| (w.key(), *at))
            });
            if let Some((key, at)) = newer {
                return Applied::TxnRejected(format!(
                    "first committer wins: key {key} was written at {at}, after this transaction's snapshot at {start}"
                ));
            }
        }
        match self.txn(writes, version) {
            Applied::Txn { version, .. } => Applied::Txn {
                version,
                results: Vec::new(),
            },
            other => other,
        }
    }

    pub fn snapshot(&self) -> String {
        serde_json::to_string(self).expect("the state machine serializes")
    }

    pub fn restore(data: &str) -> Result<Kv, String> {
        serde_json::from_str(data).map_err(|e| format!("corrupt snapshot: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn entry(index: u64, command: Command) -> Entry {
        Entry {
            index,
            term: 1,
            command,
        }
    }

    fn key(k: &str) -> String {
        k.to_string()
    }

    #[test]
    fn a_transaction_applies_at_one_version_and_reads_its_own_writes() {
        let mut kv = Kv::default();
        kv.apply(&entry(
            1,
            Command::Put {
                key: key("x"),
                value: json!(5),
            },
        ));
        let ops = vec![
            TxnOp::R { key: key("x") },
            TxnOp::W {
                key: key("x"),
                value: json!(6),
            },
            TxnOp::R { key: key("x") },
            TxnOp::Append {
                key: key("l"),
                element: json!(1),
            },
            TxnOp::Append {
                key: key("l"),
                element: json!(2),
            },
            TxnOp::R { key: key("l") },
            TxnOp::R { key: key("absent") },
        ];
        let applied = kv.apply(&entry(2, Command::Txn { ops }));
        assert_eq!(
            applied,
            Applied::Txn {
                version: 2,
                results: vec![
                    TxnResult::Read(Some((json!(5), 1))),
                    TxnResult::Wrote,
                    TxnResult::ReadOwn(json!(6)),
                    TxnResult::Wrote,
                    TxnResult::Wrote,
                    TxnResult::ReadOwn(json!([1, 2])),
                    TxnResult::Read(None),
                ]
            }
        );
        assert_eq!(kv.get("x"), Some(&(json!(6), 2)));
        assert_eq!(kv.get("l"), Some(&(json!([1, 2]), 2)));
        assert_eq!(kv.get("absent"), None);
    }

    #[test]
    fn a_transaction_that_cannot_apply_changes_nothing() {
        let mut kv = Kv::default();
        kv.apply(&entry(
            1,
            Command::Put {
                key: key("x"),
                value: json!(5),
            },
        ));
        let ops = vec![
            TxnOp::W {
                key: key("y"),
                value: json!(1),
            },
            TxnOp::Append {
                key: key("x"),
                element: json!(1),
            },
        ];
        let applied = kv.apply(&entry(2, Command::Txn { ops }));
        assert_eq!(
            applied,
            Applied::TxnRejected("cannot append to key x: it holds 5, not a list".into())
        );
        assert_eq!(kv.get("y"), None, "nothing of it applied");
        assert_eq!(kv.applied(), 2);
    }

    fn txn(kv: &mut Kv, index: u64, ops: Vec<TxnOp>) -> Applied {
        kv.apply(&entry(index, Command::Txn { ops }))
    }

    fn acquire(owner: &str, at_ms: u64) -> TxnOp {
        TxnOp::Acquire {
            key: key("lock"),
            owner: owner.into(),
            lease_ms: 100,
            at_ms,
        }
    }

    fn release(owner: &str, at_ms: u64) -> TxnOp {
        TxnOp::Release {
            key: key("lock"),
            owner: owner.into(),
            at_ms,
        }
    }

    #[test]
    fn a_lock_is_one_owners_until_released_or_its_lease_runs_out() {
        let mut kv = Kv::default();
        assert!(matches!(
            txn(&mut kv, 1, vec![acquire("a", 1_000)]),
            Applied::Txn { .. }
        ));
        assert!(matches!(
            txn(&mut kv, 2, vec![acquire("b", 1_050)]),
            Applied::TxnRejected(_)
        ));
        assert!(matches!(
            txn(&mut kv, 3, vec![release("a", 1_060)]),
            Applied::Txn { .. }
        ));
        assert_eq!(kv.get("lock"), None, "released: the key is gone");
        assert!(matches!(
            txn(&mut kv, 4, vec![acquire("b", 1_070)]),
            Applied::Txn { .. }
        ));
        // b's lease ends at 1,170: after it, c may take the lock and b's release is refused.
        assert!(matches!(
            txn(&mut kv, 5, vec![acquire("c", 1_200)]),
            Applied::Txn { .. }
        ));
        assert!(matches!(
            txn(&mut kv, 6, vec![release("b", 1_210)]),
            Applied::TxnRejected(_)
        ));
        // A lease stamped by a clock far ahead holds until the clocks catch up: freed early,
        // its holder's release, judged by a slower clock, would be told the lock was still its.
        assert!(matches!(
            txn(&mut kv, 7, vec![acquire("d", 90_000)]),
            Applied::Txn { .. }
        ));
        assert!(matches!(
            txn(&mut kv, 8, vec![acquire("e", 1_400)]),
            Applied::TxnRejected(_)
        ));
        assert!(matches!(
            txn(&mut kv, 9, vec![release("d", 1_500)]),
            Applied::Txn { .. }
        ));
    }

    #[test]
    fn pops_take_the_head_and_adds_respect_their_floor() {
        let mut kv = Kv::default();
        let append = |e: u64| TxnOp::Append {
            key: key("q"),
            element: json!(e),
        };
        txn(&mut kv, 1, vec![append(1), append(2)]);
        let pop = || TxnOp::Pop { key: key("q") };
        let Applied::Txn { results, .. } = txn(&mut kv, 2, vec![pop(), pop(), pop()]) else {
            panic!("pops apply")
        };
        assert_eq!(
            results,
            vec![
                TxnResult::Popped(Some(json!(1))),
                TxnResult::Popped(Some(json!(2))),
                TxnResult::Popped(None)
            ]
        );
        let take = TxnOp::Add {
            key: key("acct"),
            delta: -5,
            floor: Some(0),
        };
        assert!(matches!(
            txn(&mut kv, 3, vec![take.clone()]),
            Applied::TxnRejected(_)
        ));
        let add = TxnOp::Add {
            key: key("acct"),
            delta: 7,
            floor: None,
        };
        txn(&mut kv, 4, vec![add, take]);
        assert_eq!(kv.get("acct"), Some(&(json!(2), 4)));
    }
}
