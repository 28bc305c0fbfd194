//! Independent keys: Jepsen's `jepsen.independent` runs one register test per key in a single
//! history and writes every operation's value as a `[key value]` tuple — a read `[3 nil]` that
//! returns `[3 5]`, a write `[3 5]`, a cas `[3 [5 6]]`. Read as one register, those tuples are
//! values nobody wrote, and a correct history looks broken. [`split`] gives each operation its key
//! and its own value, so every key is checked as the register it is.
//!
//! Detection looks at the `read`, `write` and `cas` operations that carry no explicit key: a
//! history is independent when every one of them was invoked with a tuple (a cas's value a tuple
//! whose second element is the `[old new]` pair). A plain cas `[1 2]` is not a tuple by that
//! rule, because its second element is no pair. A history mixing tuples and plain values is an
//! error that says so, rather than a guess either way. It runs on the paired operations, so the
//! history is never held as a list of events.

use crate::history::{HistoryError, Name, Operation, Outcome};
use crate::History;
use serde_json::Value;
use std::collections::HashMap;

fn is_candidate(o: &Operation) -> bool {
    o.key.is_none()
        && matches!(o.f.as_str(), "read" | "write" | "cas")
        // A transaction of two micro-ops is no [key value] tuple.
        && crate::model::micro_ops(&o.input).is_none()
}

fn is_tuple(f: &str, v: &Value) -> bool {
    match v {
        Value::Array(pair) if pair.len() == 2 => {
            f != "cas" || matches!(&pair[1], Value::Array(inner) if inner.len() == 2)
        }
        _ => false,
    }
}

/// The key as the rest of faultline names it: a number or string as written, anything else as
/// its JSON text.
fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Splits `[key value]` tuples into keys and values, when the history is made of them. Returns a
/// note saying so, or `None` for a history of plain values.
pub fn split(history: &mut History) -> Result<Option<String>, HistoryError> {
    let name = history.source_name.clone();
    let mut first_tuple = None;
    let mut first_plain = None;
    for o in history.ops.iter().filter(|o| is_candidate(o)) {
        let slot = if is_tuple(&o.f, &o.input) {
            &mut first_tuple
        } else {
            &mut first_plain
        };
        slot.get_or_insert(o.invoke_line);
    }
    let Some(tuple_line) = first_tuple else {
        return Ok(None);
    };
    if let Some(plain_line) = first_plain {
        return Err(HistoryError::new(
            &name,
            tuple_line.max(plain_line),
            format!(
                "this history mixes [key value] tuples (jepsen.independent; the first at line \
                 {tuple_line}) with plain values (the first at line {plain_line}); in an \
                 independent-keys history every operation's value is a tuple"
            ),
        ));
    }
    // Each key's name, held once and shared by its operations.
    let mut keys: HashMap<String, Name> = HashMap::new();
    for o in history.ops.iter_mut().filter(|o| is_candidate(o)) {
        let Value::Array(mut pair) = std::mem::take(&mut o.input) else {
            unreachable!("every candidate is a tuple");
        };
        o.input = pair.pop().expect("two elements");
        let key = key_text(&pair[0]);
        if o.outcome == Outcome::Ok {
            split_output(&name, o, &key)?;
        }
        let name = keys
            .entry(key)
            .or_insert_with_key(|k| Name::from(k.as_str()))
            .clone();
        o.key = Some(name);
    }
    Ok(Some(format!(
        "values are [key value] tuples (jepsen.independent): split into {} keys, each checked as its own register",
        keys.len()
    )))
}

/// An ok completion's value, split the same way; its key must be the invocation's.
fn split_output(name: &str, o: &mut Operation, key: &str) -> Result<(), HistoryError> {
    let line = o.complete_line.unwrap_or(o.invoke_line);
    match std::mem::take(&mut o.output) {
        Value::Array(mut pair) if pair.len() == 2 => {
            let value = pair.pop().expect("two elements");
            let theirs = key_text(&pair[0]);
            if theirs != key {
                return Err(HistoryError::new(
                    name,
                    line,
                    format!(
                        "completion names key {theirs:?} but the invocation at line {} named {key:?}",
                        o.invoke_line
                    ),
                ));
            }
            o.output = value;
        }
        other if o.f == "read" => {
            return Err(HistoryError::new(
                name,
                line,
                format!(
                    "an ok read in an independent-keys history must return a [key value] \
                     tuple, found {other}"
                ),
            ))
        }
        // A write or cas completion that does not echo its tuple: its value is the invocation's.
        _ => o.output = o.input.clone(),
    }
    Ok(())
}
