//! A string-valued key: `get` returns the string (`""` when absent), `put` replaces it, `append`
//! concatenates to it. This is the data type of Porcupine's and Jepsen's kv test histories.

use crate::history::Operation;
use crate::model::{known_output, Interner, Model};
use serde_json::Value;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

#[derive(Clone, Copy, Debug, Default)]
pub struct KvAppend;

/// A string with its polynomial hash. Appending combines hashes in O(1)
/// (`h(a ++ b) = h(a)·B^|b| + h(b)`), so the search hashes states without reading them, and
/// states are shared, so taking a step that keeps the state copies nothing.
#[derive(Clone, Debug)]
pub struct KvState {
    hash: u64,
    text: Arc<str>,
}

impl KvState {
    fn new(text: &str) -> KvState {
        KvState {
            hash: poly_hash(text).0,
            text: text.into(),
        }
    }
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for KvState {
    fn eq(&self, other: &KvState) -> bool {
        self.hash == other.hash && (Arc::ptr_eq(&self.text, &other.text) || self.text == other.text)
    }
}
impl Eq for KvState {}

impl Hash for KvState {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash)
    }
}

const BASE: u64 = 0x100_0000_01b3;

/// (hash, BASE^len), wrapping.
fn poly_hash(s: &str) -> (u64, u64) {
    s.bytes().fold((0u64, 1u64), |(h, p), b| {
        (
            h.wrapping_mul(BASE).wrapping_add(b as u64 + 1),
            p.wrapping_mul(BASE),
        )
    })
}

#[derive(Clone, Debug)]
pub enum KvOp {
    /// A get that returned this string.
    Get(KvState),
    GetUnknown,
    Put(KvState),
    Append {
        text: String,
        hash: u64,
        pow: u64,
    },
}

fn string_of(v: &Value, what: &str) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Null => Ok(String::new()),
        other => Err(format!("{what} must be a string, found {other}")),
    }
}

impl Model for KvAppend {
    type State = KvState;
    type Op = KvOp;

    fn name(&self) -> &'static str {
        "kv-append"
    }

    fn init(&self) -> KvState {
        KvState::new("")
    }

    fn compile(&self, op: &Operation, _: &mut Interner) -> Result<KvOp, String> {
        match op.f.as_str() {
            "get" | "read" => Ok(match known_output(op) {
                Some(v) => KvOp::Get(KvState::new(&string_of(v, "a get's result")?)),
                None => KvOp::GetUnknown,
            }),
            "put" | "write" => Ok(KvOp::Put(KvState::new(&string_of(
                &op.input,
                "a put's value",
            )?))),
            "append" => {
                let text = string_of(&op.input, "an append's value")?;
                let (hash, pow) = poly_hash(&text);
                Ok(KvOp::Append { text, hash, pow })
            }
            other => Err(format!(
                "the kv-append model knows get, put and append; found {other:?}"
            )),
        }
    }

    #[inline]
    fn step(&self, state: &KvState, op: &KvOp) -> Option<KvState> {
        match op {
            KvOp::Get(v) => (v == state).then(|| state.clone()),
            KvOp::GetUnknown => Some(state.clone()),
            KvOp::Put(v) => Some(v.clone()),
            KvOp::Append { text, hash, pow } => {
                let mut s = String::with_capacity(state.text.len() + text.len());
                s.push_str(&state.text);
                s.push_str(text);
                Some(KvState {
                    hash: state.hash.wrapping_mul(*pow).wrapping_add(*hash),
                    text: s.into(),
                })
            }
        }
    }

    fn is_read_only(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Get(_) | KvOp::GetUnknown)
    }

    /// Appends only extend the string, so a later get must return an extension of it.
    fn may_reach(&self, state: &KvState, read: &KvOp) -> bool {
        match read {
            KvOp::Get(v) => v.text.starts_with(&*state.text),
            _ => true,
        }
    }

    fn resets(&self, op: &KvOp) -> bool {
        matches!(op, KvOp::Put(_))
    }

    fn describe_op(&self, op: &KvOp, _: &Interner) -> String {
        match op {
            KvOp::Get(v) => format!("get → {:?}", v.as_str()),
            KvOp::GetUnknown => "get → ?".into(),
            KvOp::Put(v) => format!("put {:?}", v.as_str()),
            KvOp::Append { text, .. } => format!("append {text:?}"),
        }
    }

    fn describe_state(&self, state: &KvState, _: &Interner) -> String {
        format!("{:?}", state.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn appended_hash_equals_hash_of_whole_string() {
        let m = KvAppend;
        let a = KvState::new("x 1 0 y");
        let (hash, pow) = poly_hash("x 2 0 y");
        let op = KvOp::Append {
            text: "x 2 0 y".into(),
            hash,
            pow,
        };
        let joined = m.step(&a, &op).unwrap();
        assert_eq!(joined, KvState::new("x 1 0 yx 2 0 y"));
        assert_eq!(joined.hash, KvState::new("x 1 0 yx 2 0 y").hash);
        assert!(m
            .step(&joined, &KvOp::Get(KvState::new("x 1 0 y")))
            .is_none());
    }
}
