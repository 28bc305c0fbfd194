//! The session guarantees (Terry et al., 1994), per process and per key, over each key's version
//! order ([`super::versions`]):
//! - **monotonic reads**: a process never reads an older version than one it read before;
//! - **read-your-writes**: a process never reads an older version than one it wrote;
//! - **monotonic writes**: a process's writes take effect in the order it issued them;
//! - **writes-follow-reads**: a process's write takes effect after the version it read before.
//!
//! Only acknowledged (`ok`) operations take part: a failed one did not happen, and an
//! indeterminate one told the process nothing. A successful cas counts as a write of its new
//! value. A comparison the version order cannot make is *not known*; a guarantee with no
//! violation but some unknown comparison is `unknown`, never `holds`.

use super::versions::{effect, Cmp, Effect, KeyVersions};
use super::Level;
use crate::history::{Operation, Outcome};
use serde_json::Value;
use std::collections::HashMap;

/// One violation: the earlier operation and the later one that contradicts it.
#[derive(Clone, Debug)]
pub struct Violation<'h> {
    pub earlier: &'h Operation,
    pub later: &'h Operation,
}

/// What one guarantee's check found.
#[derive(Debug, Default)]
pub struct Findings<'h> {
    pub violations: Vec<Violation<'h>>,
    /// Comparisons that could not be made: how many, and the first one in words.
    pub not_known: usize,
    pub first_not_known: Option<String>,
}

/// Checks `level` (one of the four session guarantees) on `ops`, whose keys' version orders
/// are `versions`.
pub fn check<'h>(
    level: Level,
    ops: &[&'h Operation],
    versions: &HashMap<Option<String>, KeyVersions>,
) -> Findings<'h> {
    // Each process's acknowledged operations on each key, in the order it issued them.
    let mut sessions: HashMap<(u64, Option<&str>), Vec<&'h Operation>> = HashMap::new();
    let mut order: Vec<(u64, Option<&str>)> = Vec::new();
    let mut sorted: Vec<&'h Operation> = ops.to_vec();
    sorted.sort_by_key(|o| o.invoke_event);
    for op in sorted {
        if op.outcome != Outcome::Ok {
            continue;
        }
        let id = (op.process, op.key.as_deref());
        sessions
            .entry(id)
            .or_insert_with(|| {
                order.push(id);
                Vec::new()
            })
            .push(op);
    }
    let mut findings = Findings::default();
    for id in order {
        let Some(kv) = versions.get(&id.1.map(str::to_string)) else {
            continue;
        };
        session(level, &sessions[&id], kv, &mut findings);
    }
    findings
}

/// What an operation means to a guarantee: an observation it is checked against later, a new
/// event checked against earlier observations, or both.
fn roles(level: Level, e: &Effect) -> (Option<Value>, Option<Value>) {
    // (remembered as `earlier`, checked as `later`)
    match (level, e) {
        (Level::MonotonicReads, Effect::Read(v)) => (Some(v.clone()), Some(v.clone())),
        (Level::ReadYourWrites, Effect::Read(v)) => (None, Some(v.clone())),
        (Level::ReadYourWrites, Effect::Write(v) | Effect::Cas { to: v, .. }) => {
            (Some(v.clone()), None)
        }
        (Level::MonotonicWrites, Effect::Write(v) | Effect::Cas { to: v, .. }) => {
            (Some(v.clone()), Some(v.clone()))
        }
        (Level::WritesFollowReads, Effect::Read(v)) => (Some(v.clone()), None),
        (Level::WritesFollowReads, Effect::Write(v) | Effect::Cas { to: v, .. }) => {
            (None, Some(v.clone()))
        }
        _ => (None, None),
    }
}

/// Whether `later` may stand as it does after `earlier` (`cmp` is later versus earlier).
fn allowed(level: Level, cmp: &Cmp) -> bool {
    match level {
        // A read may see the same version again.
        Level::MonotonicReads | Level::ReadYourWrites => !matches!(cmp, Cmp::Older),
        // A write must come strictly after.
        _ => !matches!(cmp, Cmp::Older | Cmp::Same),
    }
}

fn session<'h>(level: Level, ops: &[&'h Operation], kv: &KeyVersions, findings: &mut Findings<'h>) {
    // The observations so far that no later observation is known to supersede.
    let mut frontier: Vec<(&'h Operation, Value)> = Vec::new();
    for &op in ops {
        let (remember, checked) = roles(level, &effect(op));
        if let Some(v) = &checked {
            for (earlier, ev) in &frontier {
                let cmp = kv.compare(v, ev);
                if let Cmp::NotKnown(why) = &cmp {
                    findings.not_known += 1;
                    findings.first_not_known.get_or_insert_with(|| {
                        format!(
                            "process {} on {}: {why}",
                            op.process,
                            super::words::key_name(op.key.as_deref())
                        )
                    });
                } else if !allowed(level, &cmp) {
                    findings.violations.push(Violation { earlier, later: op });
                }
            }
        }
        if let Some(v) = remember {
            if frontier
                .iter()
                .any(|(_, ev)| kv.compare(ev, &v) == Cmp::Newer)
            {
                continue;
            }
            frontier.retain(|(_, ev)| !matches!(kv.compare(ev, &v), Cmp::Older | Cmp::Same));
            frontier.push((op, v));
        }
    }
}
