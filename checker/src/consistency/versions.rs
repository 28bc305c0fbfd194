//! The version order of one key: which of two values the key held later.
//!
//! The session guarantees are statements about this order. It comes from one of two places:
//! - **Recorded**: the target returned a version with each completion (raftkv's log index, etcd's
//!   `mod_revision`). Usable when every value the checks compare has one version and no two values
//!   share one.
//! - **Derived** from the history alone, when written values are unique: the write of `a` comes
//!   before the write of `b` when it took effect before `b`'s write was invoked (it completed, or
//!   a read that saw `a` completed, before that), or when `b` was written by a cas chain starting
//!   from `a`. Anything else — overlapping writes, a value written twice — is *not known*, and a
//!   comparison says so instead of guessing.

use crate::history::{Operation, Outcome};
use serde_json::Value;
use std::collections::HashMap;

/// How two values of a key compare in the version order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cmp {
    Older,
    Same,
    Newer,
    /// The order cannot be determined from what was recorded; the reason in words.
    NotKnown(String),
}

/// Where a key's version order comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    Recorded,
    Derived,
}

/// A value as the checks compare it: canonical JSON text (`null` for absent).
pub fn text(v: &Value) -> String {
    v.to_string()
}

/// What an operation does to its key, for the version order and the session checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Effect {
    /// A read that returned this value.
    Read(Value),
    /// A blind write of this value.
    Write(Value),
    /// A compare-and-set: it saw `from` and wrote `to`.
    Cas { from: Value, to: Value },
    /// Something the version order does not cover (an indeterminate read, an append, …).
    Other,
}

impl Effect {
    /// The value a cas expected.
    pub fn cas_from(&self) -> Option<&Value> {
        match self {
            Effect::Cas { from, .. } => Some(from),
            _ => None,
        }
    }
}

/// The effect of `op` as far as it is known: a failed or indeterminate read, and anything that is
/// not a register operation, are `Other`.
pub fn effect(op: &Operation) -> Effect {
    match op.f.as_str() {
        "read" if op.outcome == Outcome::Ok => Effect::Read(op.output.clone()),
        "write" => Effect::Write(op.input.clone()),
        "cas" => match &op.input {
            Value::Array(pair) if pair.len() == 2 => Effect::Cas {
                from: pair[0].clone(),
                to: pair[1].clone(),
            },
            _ => Effect::Other,
        },
        _ => Effect::Other,
    }
}

/// The value `op` leaves in its key when it takes effect.
pub fn produced(op: &Operation) -> Option<Value> {
    match effect(op) {
        Effect::Write(v) | Effect::Cas { to: v, .. } => Some(v),
        _ => None,
    }
}

/// The value `op` saw in its key (a read's result, a cas's expected value), when it is `ok`.
pub fn consumed(op: &Operation) -> Option<Value> {
    if op.outcome != Outcome::Ok {
        return None;
    }
    match effect(op) {
        Effect::Read(v) | Effect::Cas { from: v, .. } => Some(v),
        _ => None,
    }
}

/// One write (or cas) that may have produced a value, as the derived order sees it.
#[derive(Clone, Debug)]
struct Producer {
    /// Event position of the invocation.
    lo: usize,
    /// Event position by which it had certainly taken effect: its completion, or the completion
    /// of the first operation that saw its value; `usize::MAX` if neither.
    hi: usize,
    /// For a cas, the value it replaced.
    parent: Option<String>,
}

/// The version order of one key.
#[derive(Clone, Debug)]
pub struct KeyVersions {
    pub source: Source,
    /// Why versions recorded by the target were not used, when they were not.
    pub note: Option<String>,
    recorded: HashMap<String, u64>,
    producers: HashMap<String, Vec<Producer>>,
}

/// How many cas links a comparison follows before giving up.
const CHAIN_LIMIT: usize = 100_000;

impl KeyVersions {
    /// The order of one key's operations (all outcomes; failed ones are ignored).
    pub fn of(ops: &[&Operation]) -> KeyVersions {
        let mut kv = KeyVersions {
            source: Source::Derived,
            note: None,
            recorded: HashMap::new(),
            producers: HashMap::new(),
        };
        match recorded(ops) {
            Ok(Some(map)) => {
                kv.source = Source::Recorded;
                kv.recorded = map;
            }
            Ok(None) => {}
            Err(why) => kv.note = Some(why),
        }
        for op in ops.iter().filter(|o| o.outcome != Outcome::Fail) {
            let Some(v) = produced(op) else { continue };
            let parent = match effect(op) {
                Effect::Cas { from, .. } => Some(text(&from)),
                _ => None,
            };
            let hi = match (op.outcome, op.complete_event) {
                (Outcome::Ok, Some(c)) => c,
                _ => usize::MAX,
            };
            kv.producers.entry(text(&v)).or_default().push(Producer {
                lo: op.invoke_event,
                hi,
                parent,
            });
        }
        // A value's write had taken effect by the time an operation that saw it completed.
        for op in ops {
            let (Some(v), Some(done)) = (consumed(op), op.complete_event) else {
                continue;
            };
            if let Some(ps) = kv.producers.get_mut(&text(&v)) {
                if let [p] = ps.as_mut_slice() {
                    p.hi = p.hi.min(done);
                }
            }
        }
        kv
    }

    /// The version a value has, if the order is recorded (absent is 0).
    pub fn version(&self, v: &Value) -> Option<u64> {
        if v.is_null() {
            return Some(0);
        }
        match self.source {
            Source::Recorded => self.recorded.get(&text(v)).copied(),
            Source::Derived => None,
        }
    }

    /// Whether some operation (of any outcome but fail) wrote `v`.
    pub fn written(&self, v: &Value) -> bool {
        v.is_null() || self.producers.contains_key(&text(v))
    }

    /// How `a` compares with `b`: `Older` when the key held `a` before `b`.
    pub fn compare(&self, a: &Value, b: &Value) -> Cmp {
        if a == b {
            // The same value is the same version only if it was written once.
            return match (self.source, self.producers.get(&text(a)).map(Vec::len)) {
                (Source::Derived, Some(n)) if n > 1 => Cmp::NotKnown(format!(
                    "{a} was written {n} times, so the same value may stand for different versions"
                )),
                _ => Cmp::Same,
            };
        }
        if a.is_null() {
            return Cmp::Older;
        }
        if b.is_null() {
            return Cmp::Newer;
        }
        match self.source {
            Source::Recorded => {
                let (Some(x), Some(y)) = (self.version(a), self.version(b)) else {
                    return Cmp::NotKnown(format!(
                        "no version was recorded for {}",
                        if self.version(a).is_none() { a } else { b }
                    ));
                };
                if x < y {
                    Cmp::Older
                } else {
                    Cmp::Newer
                }
            }
            Source::Derived => {
                let (ta, tb) = (text(a), text(b));
                for (v, t) in [(a, &ta), (b, &tb)] {
                    match self.producers.get(t).map(Vec::len) {
                        None | Some(0) => {
                            return Cmp::NotKnown(format!("nothing wrote {v}"));
                        }
                        Some(1) => {}
                        Some(n) => {
                            return Cmp::NotKnown(format!(
                                "{v} was written {n} times, so a read of it does not say which write it saw"
                            ))
                        }
                    }
                }
                if self.before(&ta, &tb) {
                    Cmp::Older
                } else if self.before(&tb, &ta) {
                    Cmp::Newer
                } else {
                    Cmp::NotKnown(format!(
                        "the writes of {a} and {b} overlapped in time, so their order is not known"
                    ))
                }
            }
        }
    }

    /// Derived order: `x` certainly precedes `y` (both written exactly once).
    fn before(&self, x: &str, y: &str) -> bool {
        let px = &self.producers[x][0];
        let mut cur = y.to_string();
        for _ in 0..CHAIN_LIMIT {
            let Some([p]) = self.producers.get(&cur).map(Vec::as_slice) else {
                return false;
            };
            if px.hi < p.lo {
                return true;
            }
            match &p.parent {
                Some(parent) if parent == x => return true,
                Some(parent) => cur = parent.clone(),
                None => return false,
            }
        }
        false
    }
}

/// The versions the target recorded, if they are complete and consistent: `Ok(None)` when none
/// were recorded, `Err` with the reason when some were but they cannot order the key.
fn recorded(ops: &[&Operation]) -> Result<Option<HashMap<String, u64>>, String> {
    let mut by_value: HashMap<String, u64> = HashMap::new();
    let mut by_version: HashMap<u64, String> = HashMap::new();
    let mut any = false;
    for op in ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        let value = match effect(op) {
            Effect::Read(v) | Effect::Write(v) | Effect::Cas { to: v, .. } => v,
            Effect::Other => continue,
        };
        if value.is_null() {
            continue;
        }
        let Some(version) = op.version else {
            continue;
        };
        any = true;
        let t = text(&value);
        if let Some(&other) = by_value.get(&t) {
            if other != version {
                return Err(format!(
                    "the target reported versions {other} and {version} for the same value {value}"
                ));
            }
        }
        if let Some(other) = by_version.get(&version) {
            if *other != t {
                return Err(format!(
                    "the target reported version {version} for both {other} and {value}"
                ));
            }
        }
        by_value.insert(t.clone(), version);
        by_version.insert(version, t);
    }
    if !any {
        return Ok(None);
    }
    // An operation without a version is fine if another told us its value's version.
    for op in ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        if op.version.is_some() {
            continue;
        }
        if let Effect::Read(v) | Effect::Write(v) | Effect::Cas { to: v, .. } = effect(op) {
            if !v.is_null() && !by_value.contains_key(&text(&v)) {
                return Err(format!(
                    "operation #{} ({} {}) has no version",
                    op.id, op.f, v
                ));
            }
        }
    }
    Ok(Some(by_value))
}
