//! Shrinking a failing set of operations to a witness: the smallest subset that still fails.
//!
//! Only removals that cannot turn a passing history into a failing one are tried, so every
//! subset the shrinker keeps fails for the same reason the whole did:
//! - a **read** may be dropped on its own (a read constrains, it never enables);
//! - a **write** is dropped together with every operation that read its value, and every cas
//!   that replaced its value together with *that* cas's value, and so on (a *value group*). What
//!   is left never observes a value whose writer is gone.
//!
//! Other operations (appends, puts) are never dropped. The search over removals is delta
//! debugging: try dropping large chunks of groups, then smaller ones, down to one at a time. The
//! last pass tries every remaining group alone, and because the removals are monotone, a group
//! kept then is needed in the end too: the result is *1-minimal* — removing any one more group
//! makes it pass — unless a check could not decide in its budget, which the result says.

use super::versions::{consumed, effect, produced, text};
use crate::history::{Operation, Outcome};
use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

/// The removal units of `ops`: each a set of positions in `ops`, closed under the rules above.
pub fn units(ops: &[&Operation]) -> Vec<Vec<usize>> {
    let mut by_key: HashMap<Option<&str>, Vec<usize>> = HashMap::new();
    for (i, op) in ops.iter().enumerate() {
        by_key.entry(op.key.as_deref()).or_default().push(i);
    }
    let mut keys: Vec<_> = by_key.into_iter().collect();
    keys.sort_by_key(|(_, members)| members[0]);
    let mut out: Vec<Vec<usize>> = Vec::new();
    let mut seen: BTreeSet<Vec<usize>> = BTreeSet::new();
    for (_, members) in keys {
        // Who writes and who reads each value, and which values a cas from it leads to.
        let mut producers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut consumers: HashMap<String, Vec<usize>> = HashMap::new();
        let mut leads_to: HashMap<String, Vec<String>> = HashMap::new();
        for &i in &members {
            let op = ops[i];
            if op.f == "read" {
                out.push(vec![i]);
            }
            let made = (op.outcome != Outcome::Fail)
                .then(|| produced(op))
                .flatten()
                .map(|v| text(&v));
            if let Some(v) = &made {
                producers.entry(v.clone()).or_default().push(i);
            }
            // An indeterminate cas needs its expected value just as an `ok` one does, if it
            // happened: dropping the write of that value must drop the cas too (and whoever saw
            // the cas's value), or the rest could fail only because the cas lost its writer.
            let needs = consumed(op).or_else(|| {
                (op.outcome == Outcome::Info)
                    .then(|| effect(op).cas_from().cloned())
                    .flatten()
            });
            if let Some(seen_value) = needs {
                let t = text(&seen_value);
                consumers.entry(t.clone()).or_default().push(i);
                if let Some(v) = made {
                    leads_to.entry(t).or_default().push(v);
                }
            }
        }
        let mut values: Vec<&String> = producers.keys().collect();
        values.sort_by_key(|v| producers[*v][0]);
        for v in values {
            if v == "null" {
                continue;
            }
            let mut group: BTreeSet<usize> = BTreeSet::new();
            let mut todo = vec![v.clone()];
            let mut done: BTreeSet<String> = BTreeSet::new();
            while let Some(x) = todo.pop() {
                if x == "null" || !done.insert(x.clone()) {
                    continue;
                }
                group.extend(producers.get(&x).into_iter().flatten());
                group.extend(consumers.get(&x).into_iter().flatten());
                todo.extend(leads_to.get(&x).into_iter().flatten().cloned());
            }
            let group: Vec<usize> = group.into_iter().collect();
            if seen.insert(group.clone()) {
                out.push(group);
            }
        }
    }
    out
}

/// A shrunk witness.
pub struct Shrunk<'h> {
    /// In the order they were given.
    pub ops: Vec<&'h Operation>,
    /// Removing any one more unit makes it pass (every check was decided in time).
    pub minimal: bool,
    /// Checks run while shrinking.
    pub checks: usize,
}

/// Shrinks `ops`, which must fail, keeping only subsets for which `fails` says `Some(true)`
/// (`None`: could not decide in its budget). Stops trying at `deadline`.
pub fn shrink<'h>(
    ops: Vec<&'h Operation>,
    fails: &mut dyn FnMut(&[&'h Operation]) -> Option<bool>,
    deadline: Instant,
) -> Shrunk<'h> {
    let units = units(&ops);
    let mut alive = vec![true; ops.len()];
    let mut minimal = true;
    let mut checks = 0;
    let mut chunk = units.len().div_ceil(2).max(1);
    'levels: loop {
        let mut i = 0;
        while i < units.len() {
            let group: Vec<usize> = units[i..(i + chunk).min(units.len())]
                .iter()
                .flatten()
                .copied()
                .filter(|&j| alive[j])
                .collect();
            i += chunk;
            if group.is_empty() {
                continue;
            }
            if Instant::now() >= deadline {
                minimal = false;
                break 'levels;
            }
            let mut candidate = alive.clone();
            for &j in &group {
                candidate[j] = false;
            }
            let subset: Vec<&Operation> = ops
                .iter()
                .zip(&candidate)
                .filter(|(_, &a)| a)
                .map(|(o, _)| *o)
                .collect();
            checks += 1;
            match fails(&subset) {
                Some(true) => alive = candidate,
                Some(false) => {}
                // Only the last pass decides minimality: a unit kept there was tried alone.
                None if chunk == 1 => minimal = false,
                None => {}
            }
        }
        if chunk == 1 {
            break;
        }
        chunk = chunk.div_ceil(2);
    }
    Shrunk {
        ops: ops
            .into_iter()
            .zip(alive)
            .filter(|(_, a)| *a)
            .map(|(o, _)| o)
            .collect(),
        minimal,
        checks,
    }
}
