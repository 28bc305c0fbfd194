//! Independent keys: Jepsen's `jepsen.independent` runs one register test per key in a single
//! history and writes every operation's value as a `[key value]` tuple — a read `[3 nil]` that
//! returns `[3 5]`, a write `[3 5]`, a cas `[3 [5 6]]`. Read as one register, those tuples are
//! values nobody wrote, and a correct history looks broken. [`split`] gives each operation its key
//! and its own value, so every key is checked as the register it is.
//!
//! Detection looks at the invocations of `read`, `write` and `cas` that carry no explicit key: a
//! history is independent when every one of them is a tuple (a cas's value a tuple whose second
//! element is the `[old new]` pair). A plain cas `[1 2]` is not a tuple by that rule, because its
//! second element is no pair. A history mixing tuples and plain values is an error that says so,
//! rather than a guess either way.

use crate::history::{Event, EventType, HistoryError, Process};
use serde_json::Value;
use std::collections::HashSet;

fn is_candidate(e: &Event) -> bool {
    matches!(e.process, Process::Client(_))
        && e.key.is_none()
        && matches!(e.f.as_str(), "read" | "write" | "cas")
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
pub fn split(name: &str, events: &mut [Event]) -> Result<Option<String>, HistoryError> {
    let mut first_tuple = None;
    let mut first_plain = None;
    for e in events
        .iter()
        .filter(|e| is_candidate(e) && e.kind == EventType::Invoke)
    {
        let slot = if is_tuple(&e.f, &e.value) {
            &mut first_tuple
        } else {
            &mut first_plain
        };
        slot.get_or_insert(e.line);
    }
    let Some(tuple_line) = first_tuple else {
        return Ok(None);
    };
    if let Some(plain_line) = first_plain {
        return Err(HistoryError::new(
            name,
            tuple_line.max(plain_line),
            format!(
                "this history mixes [key value] tuples (jepsen.independent; the first at line \
                 {tuple_line}) with plain values (the first at line {plain_line}); in an \
                 independent-keys history every operation's value is a tuple"
            ),
        ));
    }
    let mut keys = HashSet::new();
    for e in events.iter_mut().filter(|e| is_candidate(e)) {
        match std::mem::take(&mut e.value) {
            Value::Array(mut pair) if pair.len() == 2 => {
                let value = pair.pop().expect("two elements");
                let key = key_text(&pair[0]);
                keys.insert(key.clone());
                e.key = Some(key);
                e.value = value;
            }
            other if e.kind == EventType::Ok && e.f == "read" => {
                return Err(HistoryError::new(
                    name,
                    e.line,
                    format!(
                        "an ok read in an independent-keys history must return a [key value] \
                         tuple, found {other}"
                    ),
                ))
            }
            // A completion that echoes nothing (an info or fail with no value) keeps its
            // invocation's key.
            other => e.value = other,
        }
    }
    Ok(Some(format!(
        "values are [key value] tuples (jepsen.independent): split into {} keys, each checked as its own register",
        keys.len()
    )))
}
