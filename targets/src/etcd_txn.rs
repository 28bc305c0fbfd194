//! etcd v3's multi-key transactions through the JSON gateway, as Jepsen's etcd test runs them:
//! optimistic, on revisions. A transaction of micro-ops is
//! 1. one `Txn` that ranges over every key it touches — a linearizable read of all of them at
//!    one revision, with the revision that last wrote each (`mod_revision`, 0 for a key never
//!    written);
//! 2. the micro-ops worked out against what was read (a read after the transaction's own append
//!    sees it), and, if anything is written,
//! 3. one `Txn` that compares every touched key's `mod_revision` with what step 1 saw and, only
//!    if none changed, puts the new values. A compare that fails puts nothing: the transaction
//!    certainly did not happen.
//!
//! So every committed transaction took effect at one revision with exactly the state it read:
//! strict serializability, if etcd keeps its promises. Lists are stored as JSON text
//! (`[1,2,3]`), registers as a number; rw-register's reads carry the `mod_revision` of the value
//! read and its writes the revision that committed them, as version evidence for the checker.
//!
//! This module is I/O-free: request bodies and the reading of answers. The harness sends them.

use crate::base64;
use crate::txn::{Shape, Step};
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Where both transactions go.
pub const PATH: &str = "/v3/kv/txn";

/// What a key held when it was read.
#[derive(Clone, Debug, PartialEq)]
pub struct Held {
    /// A list (`[]` when absent) or a register (null when absent).
    pub value: Value,
    /// The revision that last wrote it; 0 for a key never written.
    pub mod_revision: u64,
}

/// The keys a transaction touches, each once, in the order it first touches them.
pub fn keys<'a>(steps: &[Step<'a>]) -> Vec<&'a str> {
    let mut keys: Vec<&str> = Vec::new();
    for s in steps {
        let k = match *s {
            Step::Append(k, _) | Step::Write(k, _) | Step::Read(k) => k,
        };
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    keys
}

/// The body of the transaction that reads `keys` at one revision.
pub fn read_body(keys: &[&str]) -> String {
    let ranges: Vec<Value> = keys
        .iter()
        .map(|k| json!({"request_range": {"key": base64::encode(k.as_bytes())}}))
        .collect();
    json!({ "success": ranges }).to_string()
}

/// What each of `keys` held, from the answer to [`read_body`] (as JSON).
pub fn parse_read(
    answer: &Value,
    keys: &[&str],
    shape: Shape,
) -> Result<BTreeMap<String, Held>, String> {
    let responses = answer["responses"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    if responses.len() != keys.len() {
        return Err(format!(
            "{} keys read, {} ranges answered: {}",
            keys.len(),
            responses.len(),
            base::cut(&answer.to_string(), 200)
        ));
    }
    let mut held = BTreeMap::new();
    for (k, r) in keys.iter().zip(responses) {
        let kv = &r["response_range"]["kvs"][0];
        let h = match kv.is_null() {
            true => Held {
                value: absent(shape),
                mod_revision: 0,
            },
            false => Held {
                value: stored(kv, shape).map_err(|e| format!("key {k}: {e}"))?,
                mod_revision: number(&kv["mod_revision"])
                    .ok_or_else(|| format!("key {k}: no mod_revision in {kv}"))?,
            },
        };
        held.insert(k.to_string(), h);
    }
    Ok(held)
}

fn absent(shape: Shape) -> Value {
    match shape {
        Shape::Lists => json!([]),
        Shape::Registers => Value::Null,
    }
}

/// A stored value: base64 of JSON text, a list of numbers or a number.
fn stored(kv: &Value, shape: Shape) -> Result<Value, String> {
    let text = kv["value"].as_str().unwrap_or("");
    let bytes = base64::decode(text).ok_or_else(|| format!("{text:?} is not base64"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| {
        format!(
            "{:?} is not a value faultline wrote",
            String::from_utf8_lossy(&bytes)
        )
    })?;
    let fits = match shape {
        Shape::Lists => v.as_array().is_some_and(|l| l.iter().all(Value::is_u64)),
        Shape::Registers => v.is_u64(),
    };
    match fits {
        true => Ok(v),
        false => Err(format!("{v} is not a value faultline wrote")),
    }
}

/// The gateway writes 64-bit numbers as strings.
fn number(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str()?.parse().ok())
}

/// A transaction worked out against what it read.
#[derive(Clone, Debug, PartialEq)]
pub struct Planned {
    /// The completed micro-ops.
    pub done: Vec<Value>,
    /// Each key written, with its new value as stored (JSON text).
    pub puts: Vec<(String, String)>,
}

/// Works `steps` out against `held`: reads see what was read, or what this transaction wrote
/// before them; a register's read of a value it did not write carries that value's revision.
pub fn plan(steps: &[Step], held: &BTreeMap<String, Held>, shape: Shape) -> Planned {
    let mut state: BTreeMap<&str, Value> = held
        .iter()
        .map(|(k, h)| (k.as_str(), h.value.clone()))
        .collect();
    let mut written: Vec<&str> = Vec::new();
    let mut done = Vec::with_capacity(steps.len());
    for s in steps {
        match *s {
            Step::Append(k, e) => {
                let list = state.entry(k).or_insert_with(|| json!([]));
                if let Some(l) = list.as_array_mut() {
                    l.push(json!(e));
                }
                written.push(k);
                done.push(json!(["append", k, e]));
            }
            Step::Write(k, v) => {
                state.insert(k, json!(v));
                written.push(k);
                done.push(json!(["w", k, v]));
            }
            Step::Read(k) => {
                let v = state.get(k).cloned().unwrap_or_else(|| absent(shape));
                let revision = held.get(k).map_or(0, |h| h.mod_revision);
                let versioned = shape == Shape::Registers && revision > 0 && !written.contains(&k);
                done.push(match versioned {
                    true => json!(["r", k, v, revision]),
                    false => json!(["r", k, v]),
                });
            }
        }
    }
    written.sort_unstable();
    written.dedup();
    let puts = written
        .into_iter()
        .map(|k| (k.to_string(), state[k].to_string()))
        .collect();
    Planned { done, puts }
}

/// The body of the transaction that puts `puts` if no key in `held` was written since.
pub fn write_body(held: &BTreeMap<String, Held>, puts: &[(String, String)]) -> String {
    let compare: Vec<Value> = held
        .iter()
        .map(|(k, h)| {
            json!({"key": base64::encode(k.as_bytes()), "target": "MOD", "result": "EQUAL",
                   "mod_revision": h.mod_revision.to_string()})
        })
        .collect();
    let success: Vec<Value> = puts
        .iter()
        .map(|(k, v)| {
            json!({"request_put": {"key": base64::encode(k.as_bytes()),
                                   "value": base64::encode(v.as_bytes())}})
        })
        .collect();
    json!({ "compare": compare, "success": success }).to_string()
}

/// From the answer to [`write_body`] (as JSON): the revision it committed at, or `None` when a compare
/// failed and nothing was put.
pub fn parse_write(answer: &Value) -> Result<Option<u64>, String> {
    if answer["succeeded"] != json!(true) {
        return Ok(None);
    }
    number(&answer["header"]["revision"])
        .map(Some)
        .ok_or_else(|| {
            format!(
                "a commit with no revision: {}",
                base::cut(&answer.to_string(), 200)
            )
        })
}

/// Gives a register's writes the revision that committed them: each key's last write in the
/// transaction, the one stored (an earlier write to the same key was overwritten within it and
/// was never a version of its own).
pub fn stamp(done: &mut [Value], revision: u64, shape: Shape) {
    if shape != Shape::Registers {
        return;
    }
    let mut stamped: Vec<Value> = Vec::new();
    for m in done.iter_mut().rev() {
        if let Some(parts) = m.as_array_mut() {
            if parts[0] == "w" && !stamped.contains(&parts[1]) {
                stamped.push(parts[1].clone());
                parts.push(json!(revision));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> String {
        base64::encode(s.as_bytes())
    }

    #[test]
    fn a_list_append_reads_its_keys_sees_its_own_append_and_puts_with_compares() {
        let steps = [
            Step::Read("a"),
            Step::Append("a", 4),
            Step::Read("a"),
            Step::Read("b"),
        ];
        let keys = keys(&steps);
        assert_eq!(keys, ["a", "b"]);
        let body: Value = serde_json::from_str(&read_body(&keys)).unwrap();
        assert_eq!(body["success"][1]["request_range"]["key"], json!(b64("b")));
        let answer = json!({"header": {"revision": "9"}, "responses": [
            {"response_range": {"kvs": [{"key": b64("a"), "value": b64("[1,2]"), "mod_revision": "7"}], "count": "1"}},
            {"response_range": {}}]});
        let held = parse_read(&answer, &keys, Shape::Lists).unwrap();
        assert_eq!(
            held["a"],
            Held {
                value: json!([1, 2]),
                mod_revision: 7
            }
        );
        assert_eq!(
            held["b"],
            Held {
                value: json!([]),
                mod_revision: 0
            }
        );
        let p = plan(&steps, &held, Shape::Lists);
        assert_eq!(
            p.done,
            vec![
                json!(["r", "a", [1, 2]]),
                json!(["append", "a", 4]),
                json!(["r", "a", [1, 2, 4]]),
                json!(["r", "b", []])
            ]
        );
        assert_eq!(p.puts, vec![("a".to_string(), "[1,2,4]".to_string())]);
        let w: Value = serde_json::from_str(&write_body(&held, &p.puts)).unwrap();
        assert_eq!(
            w["compare"].as_array().unwrap().len(),
            2,
            "read keys are compared too"
        );
        assert_eq!(w["compare"][1]["mod_revision"], json!("0"));
        assert_eq!(
            w["success"][0]["request_put"]["value"],
            json!(b64("[1,2,4]"))
        );
        assert_eq!(
            parse_write(&json!({"header": {"revision": "10"}, "succeeded": true})),
            Ok(Some(10))
        );
        assert_eq!(
            parse_write(&json!({"header": {"revision": "10"}})),
            Ok(None)
        );
    }

    #[test]
    fn register_reads_and_writes_carry_revisions() {
        let steps = [
            Step::Read("x"),
            Step::Write("x", 6),
            Step::Write("x", 5),
            Step::Read("x"),
            Step::Read("y"),
        ];
        let held = BTreeMap::from([
            (
                "x".to_string(),
                Held {
                    value: json!(3),
                    mod_revision: 4,
                },
            ),
            (
                "y".to_string(),
                Held {
                    value: Value::Null,
                    mod_revision: 0,
                },
            ),
        ]);
        let mut p = plan(&steps, &held, Shape::Registers);
        stamp(&mut p.done, 11, Shape::Registers);
        assert_eq!(
            p.done,
            vec![
                json!(["r", "x", 3, 4]),
                json!(["w", "x", 6]),
                json!(["w", "x", 5, 11]),
                json!(["r", "x", 5]),
                json!(["r", "y", null])
            ]
        );
    }

    #[test]
    fn answers_that_do_not_fit_are_errors_never_values() {
        let keys = ["a"];
        let wrong = json!({"responses": [{"response_range": {"kvs": [{"value": b64("hello"), "mod_revision": "2"}]}}]});
        let e = parse_read(&wrong, &keys, Shape::Lists).unwrap_err();
        assert!(e.contains("not a value faultline wrote"), "{e}");
        let short = json!({"responses": []});
        let e = parse_read(&short, &keys, Shape::Lists).unwrap_err();
        assert!(e.contains("1 keys read, 0 ranges answered"), "{e}");
        let e = parse_read(&json!("<html>"), &keys, Shape::Lists).unwrap_err();
        assert!(e.contains("0 ranges answered: \"<html>\""), "{e}");
        let e = parse_write(&json!({"succeeded": true})).unwrap_err();
        assert!(e.contains("no revision"), "{e}");
    }
}
