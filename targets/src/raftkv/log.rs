//! The replicated log in memory, with a snapshot at its base (Raft §5.3, §7).
//!
//! Indices start at 1. Everything up to `snapshot_index` has been compacted into a snapshot whose
//! last entry had `snapshot_term`; the entries after it are kept here.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};

/// A state-machine command carried by a log entry.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Command {
    /// Appended by every new leader (§8): committing it commits everything before it.
    Noop,
    Put {
        key: String,
        value: Value,
    },
    Cas {
        key: String,
        from: Value,
        to: Value,
    },
    /// A new configuration (§6 of the dissertation, one server at a time): in force on every
    /// node from the moment it is in its log, committed or not.
    Config(Members),
    /// A transaction: its micro-operations, applied together at the entry's index (so at one
    /// point of the log: strict-serializable).
    Txn {
        ops: Vec<TxnOp>,
    },
    /// The writes of a transaction the leader ran step by step at a weaker isolation level,
    /// applied at commit. With `snapshot` (its start: the index its reads saw), it aborts if a
    /// key it writes was written after that (first committer wins).
    TxnCommit {
        writes: Vec<TxnOp>,
        snapshot: Option<u64>,
    },
}

/// One micro-operation of a transaction, as Elle's workloads have them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "f", rename_all = "lowercase")]
pub enum TxnOp {
    /// Adds `element` to the end of the list at `key` (an absent key is the empty list).
    Append { key: String, element: Value },
    /// Sets `key` to `value`.
    W { key: String, value: Value },
    /// Reads `key`.
    R { key: String },
    /// Adds `delta` to the integer at `key` (an absent key is 0) — a counter's increment, one
    /// leg of a bank transfer. With `floor`, the transaction aborts rather than take the key
    /// below it (a balance never goes negative: Jepsen's bank refuses such transfers too).
    Add {
        key: String,
        delta: i64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        floor: Option<i64>,
    },
    /// Takes the first element off the list at `key` (a queue's dequeue): the transaction is
    /// answered with it, or with nothing when the list is empty or absent.
    Pop { key: String },
    /// Issues the next id from the counter at `key` (absent is 0): the transaction is answered
    /// with the counter's new value, unique because the log orders every issue.
    Id { key: String },
    /// Takes the lock at `key` for `owner` for `lease_ms` from `at_ms` — the wall clock of the
    /// node that proposed it, stamped there, so that every replica decides alike. Free when
    /// absent, when its lease ran out by `at_ms`, or already `owner`'s (a renewal); else the
    /// transaction aborts.
    Acquire {
        key: String,
        owner: String,
        lease_ms: u64,
        #[serde(default)]
        at_ms: u64,
    },
    /// Lets the lock at `key` go, if `owner` still holds it at `at_ms`; else the transaction
    /// aborts (the lease ran out, and the lock may be another's).
    Release {
        key: String,
        owner: String,
        #[serde(default)]
        at_ms: u64,
    },
}

impl TxnOp {
    pub fn key(&self) -> &str {
        match self {
            TxnOp::Append { key, .. }
            | TxnOp::W { key, .. }
            | TxnOp::R { key }
            | TxnOp::Add { key, .. }
            | TxnOp::Pop { key }
            | TxnOp::Id { key }
            | TxnOp::Acquire { key, .. }
            | TxnOp::Release { key, .. } => key,
        }
    }

    /// Whether it changes its key.
    pub fn writes(&self) -> bool {
        !matches!(self, TxnOp::R { .. })
    }

    /// Whether its answer is known before it applies (a write, an append, an add: "done");
    /// a read and a pop answer with what they found.
    pub fn blind(&self) -> bool {
        matches!(
            self,
            TxnOp::W { .. } | TxnOp::Append { .. } | TxnOp::Add { .. }
        )
    }

    /// What a pop takes from `current`: its first element, if it holds a non-empty list.
    pub fn head(current: Option<&Value>) -> Option<Value> {
        current?.as_array()?.first().cloned()
    }

    /// What a write leaves at its key, given what the key holds (`None`: absent); a read leaves
    /// it as it is. `Err` says why the transaction cannot apply: an append to something that is
    /// not a list, an add to something that is not an integer, or below its floor. The state
    /// machine, the leader's step-by-step transactions and read-uncommitted views all apply
    /// writes through this one function.
    pub fn apply_to(&self, current: Option<Value>) -> Result<Option<Value>, String> {
        match self {
            TxnOp::R { .. } => Ok(current),
            TxnOp::W { value, .. } => Ok(Some(value.clone())),
            TxnOp::Append { key, element } => {
                let mut list = match current {
                    None => Vec::new(),
                    Some(Value::Array(items)) => items,
                    Some(other) => {
                        return Err(format!(
                            "cannot append to key {key}: it holds {other}, not a list"
                        ))
                    }
                };
                list.push(element.clone());
                Ok(Some(Value::Array(list)))
            }
            TxnOp::Add { key, delta, floor } => {
                let now = match &current {
                    None => 0,
                    Some(v) => v.as_i64().ok_or_else(|| {
                        format!("cannot add to key {key}: it holds {v}, not an integer")
                    })?,
                };
                let next = now
                    .checked_add(*delta)
                    .ok_or_else(|| format!("key {key} would overflow"))?;
                match floor {
                    Some(f) if next < *f => Err(format!(
                        "key {key} holds {now}: taking {} would leave it below {f}",
                        -delta
                    )),
                    _ => Ok(Some(Value::from(next))),
                }
            }
            TxnOp::Id { key } => TxnOp::Add {
                key: key.clone(),
                delta: 1,
                floor: None,
            }
            .apply_to(current),
            TxnOp::Pop { key } => match current {
                None => Ok(None),
                Some(Value::Array(mut items)) => {
                    if !items.is_empty() {
                        items.remove(0);
                    }
                    Ok(Some(Value::Array(items)))
                }
                Some(other) => Err(format!(
                    "cannot pop from key {key}: it holds {other}, not a list"
                )),
            },
            TxnOp::Acquire {
                key,
                owner,
                lease_ms,
                at_ms,
            } => Lease::acquire(key, current.as_ref(), owner, *lease_ms, *at_ms),
            TxnOp::Release { key, owner, at_ms } => {
                Lease::release(key, current.as_ref(), owner, *at_ms)
            }
        }
    }

    /// The same op, stamped with the proposing node's wall clock where it needs one (a lock's).
    pub fn stamped(mut self, wall_ms: u64) -> TxnOp {
        if let TxnOp::Acquire { at_ms, .. } | TxnOp::Release { at_ms, .. } = &mut self {
            *at_ms = wall_ms;
        }
        self
    }
}

/// A lock as its key holds it: `{"owner": o, "until_ms": t}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Lease {
    pub owner: String,
    pub until_ms: u64,
}

impl Lease {
    pub fn of(v: Option<&Value>) -> Option<Lease> {
        let v = v?;
        Some(Lease {
            owner: v.get("owner")?.as_str()?.to_string(),
            until_ms: v.get("until_ms")?.as_u64()?,
        })
    }

    fn value(owner: &str, until_ms: u64) -> Value {
        serde_json::json!({"owner": owner, "until_ms": until_ms})
    }

    /// The lock at `key` (holding `current`) taken by `owner` at `at_ms`: free when absent, run
    /// out by `at_ms`, or already `owner`'s. A lease stamped by a clock far ahead keeps the lock
    /// until the clocks catch up: freeing it early would let a holder whose release is judged
    /// by a slower clock be told it still held the lock — two holders, in the safe service.
    fn acquire(
        key: &str,
        current: Option<&Value>,
        owner: &str,
        lease_ms: u64,
        at_ms: u64,
    ) -> Result<Option<Value>, String> {
        match Lease::of(current) {
            Some(l) if l.owner != owner && l.until_ms > at_ms => Err(format!(
                "lock {key} is held by {} until {} ms",
                l.owner, l.until_ms
            )),
            _ => Ok(Some(Lease::value(owner, at_ms + lease_ms))),
        }
    }

    /// The lock at `key` let go by `owner` at `at_ms`, if its lease still runs.
    fn release(
        key: &str,
        current: Option<&Value>,
        owner: &str,
        at_ms: u64,
    ) -> Result<Option<Value>, String> {
        match Lease::of(current) {
            Some(l) if l.owner == owner && l.until_ms > at_ms => Ok(None),
            _ => Err(format!("lock {key} is not held by {owner} at {at_ms} ms")),
        }
    }
}

/// Who is in the cluster: voters elect leaders and count toward commitment; learners receive the
/// log and do neither (a node catching up before it may vote).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Members {
    pub voters: BTreeSet<u64>,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub learners: BTreeSet<u64>,
    /// Where members that joined after launch are reached (the Raft core only carries these; a
    /// server dials them). Members launched together know each other from their command line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty", with = "pairs")]
    pub addrs: BTreeMap<u64, Address>,
}

/// A map with number keys as a list of pairs: a configuration travels inside an internally
/// tagged [`Command`], where serde cannot read a JSON object's keys back as numbers.
mod pairs {
    use super::Address;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};
    use std::collections::BTreeMap;

    pub fn serialize<S: Serializer>(m: &BTreeMap<u64, Address>, s: S) -> Result<S::Ok, S::Error> {
        m.iter().collect::<Vec<_>>().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<u64, Address>, D::Error> {
        Ok(Vec::<(u64, Address)>::deserialize(d)?.into_iter().collect())
    }
}

/// A member's addresses: the peer port other members dial, and the client port for redirects.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Address {
    pub peer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

impl Members {
    pub fn contains(&self, id: u64) -> bool {
        self.voters.contains(&id) || self.learners.contains(&id)
    }

    /// Every member, voters and learners.
    pub fn all(&self) -> impl Iterator<Item = u64> + '_ {
        self.voters.iter().chain(&self.learners).copied()
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    pub index: u64,
    pub term: u64,
    pub command: Command,
}

#[derive(Clone, Debug, Default)]
pub struct Log {
    snapshot_index: u64,
    snapshot_term: u64,
    entries: Vec<Entry>,
}

impl Log {
    pub fn new(snapshot_index: u64, snapshot_term: u64, entries: Vec<Entry>) -> Log {
        let log = Log {
            snapshot_index,
            snapshot_term,
            entries,
        };
        for (i, e) in log.entries.iter().enumerate() {
            assert_eq!(
                e.index,
                snapshot_index + 1 + i as u64,
                "log entries are contiguous"
            );
        }
        log
    }

    pub fn snapshot_index(&self) -> u64 {
        self.snapshot_index
    }
    pub fn snapshot_term(&self) -> u64 {
        self.snapshot_term
    }

    pub fn last_index(&self) -> u64 {
        self.snapshot_index + self.entries.len() as u64
    }

    pub fn last_term(&self) -> u64 {
        self.entries.last().map_or(self.snapshot_term, |e| e.term)
    }

    /// The term of the entry at `index`, if the log still knows it (0 for index 0).
    pub fn term_at(&self, index: u64) -> Option<u64> {
        if index == self.snapshot_index {
            return Some(self.snapshot_term);
        }
        if index < self.snapshot_index || index > self.last_index() {
            return None;
        }
        Some(self.entries[(index - self.snapshot_index - 1) as usize].term)
    }

    pub fn get(&self, index: u64) -> Option<&Entry> {
        if index <= self.snapshot_index {
            return None;
        }
        self.entries.get((index - self.snapshot_index - 1) as usize)
    }

    /// Entries from `from` (inclusive), at most `max`.
    pub fn slice(&self, from: u64, max: usize) -> &[Entry] {
        if from <= self.snapshot_index || from > self.last_index() {
            return &[];
        }
        let start = (from - self.snapshot_index - 1) as usize;
        let end = start.saturating_add(max).min(self.entries.len());
        &self.entries[start..end]
    }

    pub fn append(&mut self, entry: Entry) {
        assert_eq!(entry.index, self.last_index() + 1, "appends are contiguous");
        assert!(
            entry.term >= self.last_term(),
            "terms in the log never decrease"
        );
        self.entries.push(entry);
    }

    /// Removes every entry from `index` on.
    pub fn truncate_from(&mut self, index: u64) {
        assert!(
            index > self.snapshot_index,
            "snapshotted entries are committed and never truncated"
        );
        self.entries
            .truncate((index - self.snapshot_index - 1) as usize);
    }

    /// The first index of the run of entries of `term` that contains `index` (for the
    /// conflicting-term shortcut of §5.3).
    pub fn first_index_of_term_at(&self, index: u64) -> u64 {
        let term = self.term_at(index);
        let mut i = index;
        while i > self.snapshot_index + 1 && self.term_at(i - 1) == term {
            i -= 1;
        }
        i
    }

    /// The last index holding an entry of `term`, if any.
    pub fn last_index_of_term(&self, term: u64) -> Option<u64> {
        self.entries
            .iter()
            .rev()
            .find(|e| e.term == term)
            .map(|e| e.index)
    }

    /// Drops everything up to and including `index`, now covered by a snapshot.
    pub fn compact(&mut self, index: u64, term: u64) {
        if index <= self.snapshot_index {
            return;
        }
        if index >= self.last_index() {
            self.entries.clear();
        } else {
            let keep_from = (index - self.snapshot_index) as usize;
            self.entries.drain(..keep_from);
        }
        self.snapshot_index = index;
        self.snapshot_term = term;
    }

    /// Is a log ending at (`last_term`, `last_index`) at least as up to date as this one (§5.4.1)?
    pub fn is_up_to_date(&self, last_term: u64, last_index: u64) -> bool {
        (last_term, last_index) >= (self.last_term(), self.last_index())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_configuration_with_addresses_survives_the_wire() {
        let m = Members {
            voters: [1, 2, 3].into(),
            learners: [4].into(),
            addrs: [(
                4,
                Address {
                    peer: "127.0.0.1:7104".into(),
                    client: Some("127.0.0.1:7004".into()),
                },
            )]
            .into(),
        };
        let e = Entry {
            index: 9,
            term: 2,
            command: Command::Config(m),
        };
        let text = serde_json::to_string(&e).unwrap();
        let back: Entry = serde_json::from_str(&text).unwrap();
        assert_eq!(back, e, "{text}");
    }
}
