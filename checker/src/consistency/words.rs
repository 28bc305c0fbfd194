//! Operations, times and anomalies in words.

use super::versions::{consumed, effect, Effect, KeyVersions, Source};
use crate::history::{Operation, Outcome};
use crate::model::show_value;
use crate::result::OpView;
use serde_json::Value;

/// `k3`, or `the register` for a history without keys.
pub fn key_name(key: Option<&str>) -> String {
    match key {
        Some(k) => k.to_string(),
        None => "the register".into(),
    }
}

/// How a history tells time: real nanoseconds since the start, or event positions.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    pub timed: bool,
}

impl Clock {
    /// `2.310 s`, or `event 17` when the history has no times.
    pub fn at(self, t: u64) -> String {
        if self.timed {
            format!("{:.3} s", t as f64 / 1e9)
        } else {
            format!("event {}", t + 1)
        }
    }
}

/// A value in a sentence: `17`, `"abc"`, or `nothing (nil)`.
pub fn value(v: &Value) -> String {
    if v.is_null() {
        "nothing (nil)".into()
    } else {
        show_value(v)
    }
}

/// `read → 17`, `write 17`, `cas 17 → 18`, `read → ?`.
pub fn describe(op: &Operation) -> String {
    match (effect(op), op.outcome) {
        (Effect::Read(v), _) => format!("read → {}", show_value(&v)),
        (Effect::Write(v), _) => format!("write {}", show_value(&v)),
        (Effect::Cas { from, to }, _) => {
            format!("cas {} → {}", show_value(&from), show_value(&to))
        }
        (Effect::Other, Outcome::Ok) if op.input.is_null() => {
            format!("{} → {}", op.f, show_value(&op.output))
        }
        (Effect::Other, _) if op.f == "read" => "read → ?".into(),
        (Effect::Other, _) => format!("{} {}", op.f, show_value(&op.input)),
    }
}

pub fn view(op: &Operation) -> OpView {
    OpView::of(op, describe(op))
}

/// The value, with ` (version 12)` when versions were recorded.
fn versioned(kv: &KeyVersions, v: &Value) -> String {
    match (kv.source, kv.version(v)) {
        (Source::Recorded, Some(n)) if !v.is_null() => format!("{} (version {n})", value(v)),
        _ => value(v),
    }
}

/// When an operation was acknowledged (or invoked, if it never was).
fn acked(op: &Operation) -> u64 {
    op.complete_time.unwrap_or(op.invoke_time)
}

/// The process's view going back: `earlier` and `later` are reads.
pub fn non_monotonic_read(
    c: Clock,
    kv: &KeyVersions,
    earlier: &Operation,
    later: &Operation,
) -> String {
    let (b, a) = (&earlier.output, &later.output);
    format!(
        "process {} read {} from {} at {}, then read {} at {}: an older version than it had already seen{}",
        later.process,
        versioned(kv, b),
        key_name(later.key.as_deref()),
        c.at(earlier.invoke_time),
        versioned(kv, a),
        c.at(later.invoke_time),
        order_note(kv)
    )
}

pub fn read_your_writes(c: Clock, kv: &KeyVersions, write: &Operation, read: &Operation) -> String {
    let b = super::versions::produced(write).unwrap_or_default();
    let a = &read.output;
    format!(
        "process {} wrote {} to {} (acknowledged at {}), then read {} at {}: it did not see its own write{}",
        read.process,
        versioned(kv, &b),
        key_name(read.key.as_deref()),
        c.at(acked(write)),
        versioned(kv, a),
        c.at(read.invoke_time),
        order_note(kv)
    )
}

pub fn non_monotonic_write(
    c: Clock,
    kv: &KeyVersions,
    earlier: &Operation,
    later: &Operation,
) -> String {
    let a = super::versions::produced(earlier).unwrap_or_default();
    let b = super::versions::produced(later).unwrap_or_default();
    format!(
        "process {} wrote {} to {} at {} and then {} at {}, but {} took effect first: its writes were applied out of order{}",
        later.process,
        versioned(kv, &a),
        key_name(later.key.as_deref()),
        c.at(earlier.invoke_time),
        versioned(kv, &b),
        c.at(later.invoke_time),
        value(&b),
        order_note(kv)
    )
}

pub fn writes_follow_reads(
    c: Clock,
    kv: &KeyVersions,
    read: &Operation,
    write: &Operation,
) -> String {
    let b = &read.output;
    let w = super::versions::produced(write).unwrap_or_default();
    format!(
        "process {} read {} from {} at {}, then wrote {} at {}, which took effect before the write it had read{}",
        write.process,
        versioned(kv, b),
        key_name(write.key.as_deref()),
        c.at(read.invoke_time),
        versioned(kv, &w),
        c.at(write.invoke_time),
        order_note(kv)
    )
}

fn order_note(kv: &KeyVersions) -> &'static str {
    match kv.source {
        Source::Recorded => "",
        Source::Derived => " (in the order of the writes in real time)",
    }
}

pub fn phantom(c: Clock, read: &Operation, failed: Option<&Operation>) -> String {
    let v = consumed(read).unwrap_or_default();
    let head = format!(
        "process {} read {} from {} at {}, but",
        read.process,
        value(&v),
        key_name(read.key.as_deref()),
        c.at(read.invoke_time)
    );
    match failed {
        // Who said "failed", and when: a write its client was told never happened, read back
        // (a ghost, when a node answered before the entry's fate was known).
        Some(w) => format!(
            "{head} the only write of {} (process {} at {}) failed, so it never happened{}",
            value(&v),
            w.process,
            c.at(w.invoke_time),
            match (w.node.as_deref(), w.complete_time) {
                (Some(n), Some(t)) => format!(
                    ": {n} told process {} its write of {} to {} failed at {}, and process {} read it at {}",
                    w.process,
                    value(&v),
                    key_name(read.key.as_deref()),
                    c.at(t),
                    read.process,
                    c.at(read.invoke_time)
                ),
                _ => String::new(),
            }
        ),
        None => format!(
            "{head} nothing ever wrote {} to {}",
            value(&v),
            key_name(read.key.as_deref())
        ),
    }
}

/// `17 on n1 and n2 but 15 on n3`
pub fn divergence(key: Option<&str>, by_value: &[(Value, Vec<String>)]) -> String {
    let parts: Vec<String> = by_value
        .iter()
        .map(|(v, nodes)| format!("{} on {}", show_value(v), list(nodes)))
        .collect();
    format!(
        "after the faults were healed and the cluster had recovered, {} read {}",
        key_name(key),
        list_with(&parts, " but ")
    )
}

/// `a`, `a and b`, `a, b and c`.
pub fn list(items: &[String]) -> String {
    list_with(items, " and ")
}

/// How many names a bounded list shows before "and N more".
pub const LISTED: usize = 8;

/// Keys by name, at most [`LISTED`] of them, then "and N more": `k1, k2 and k3`,
/// `k1, k2, …, k8 and 12 more`.
pub fn bounded_keys(keys: &[Option<String>]) -> String {
    let names: Vec<String> = keys
        .iter()
        .take(LISTED)
        .map(|k| key_name(k.as_deref()))
        .collect();
    if keys.len() <= LISTED {
        return list(&names);
    }
    format!("{} and {} more", names.join(", "), keys.len() - LISTED)
}

fn list_with(items: &[String], last: &str) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., tail] => format!("{}{last}{tail}", init.join(", ")),
    }
}

/// The witness as a small timeline: one line per operation, its interval drawn to scale.
pub fn timeline(c: Clock, ops: &[OpView]) -> Vec<String> {
    const WIDTH: usize = 32;
    let start = ops.iter().map(|o| o.invoke_time).min().unwrap_or(0);
    let end = ops
        .iter()
        .map(|o| o.complete_time.unwrap_or(o.invoke_time))
        .max()
        .unwrap_or(start)
        .max(start + 1);
    let col = |t: u64| ((t - start) as f64 / (end - start) as f64 * (WIDTH - 1) as f64) as usize;
    let desc_width = ops.iter().map(|o| o.description.len()).max().unwrap_or(0);
    ops.iter()
        .map(|o| {
            let a = col(o.invoke_time);
            let b = o.complete_time.map_or(WIDTH - 1, col).max(a);
            let mut bar: Vec<char> = vec![' '; WIDTH];
            for c in bar.iter_mut().take(b + 1).skip(a) {
                *c = '─';
            }
            bar[a] = '├';
            bar[b] = if o.complete_time.is_some() {
                '┤'
            } else {
                '…'
            };
            let when = match o.complete_time {
                Some(done) => format!("{}–{}", c.at(o.invoke_time), c.at(done)),
                None => format!("{}–never", c.at(o.invoke_time)),
            };
            let outcome = match o.outcome {
                Outcome::Ok => "ok",
                Outcome::Fail => "fail",
                Outcome::Info => "info",
            };
            let node = o
                .node
                .as_deref()
                .map(|n| format!(" on {n}"))
                .unwrap_or_default();
            format!(
                "p{:<4} {:<dw$}  {}  {outcome:<4} {when}{node}",
                o.process,
                o.description,
                bar.into_iter().collect::<String>(),
                dw = desc_width
            )
        })
        .collect()
}
