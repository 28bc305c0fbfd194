//! The replicated state machine: a map from string keys to JSON values, each with the log index
//! that wrote it (its version).

use super::log::{Command, Entry, Members};
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
        }
    }

    pub fn snapshot(&self) -> String {
        serde_json::to_string(self).expect("the state machine serializes")
    }

    pub fn restore(data: &str) -> Result<Kv, String> {
        serde_json::from_str(data).map_err(|e| format!("corrupt snapshot: {e}"))
    }
}
