//! A grow-only set: `add` an element, `read` them all (once at the end, as Jepsen's `set`, or
//! over and over, as its `set-full`). One algorithm judges both.
//!
//! An element is *known* from the moment it must be in the set: its add was acknowledged, or a
//! read returned it, whichever completed first. Every `ok` read that *began* after that moment
//! must contain it. For each element:
//! - **lost** — the last such read lacks it (it was there, or acknowledged, and is gone);
//! - **stale** — some such reads lacked it, but a later one had it: reported with how long it
//!   stayed invisible (a violation only when the set promises linearizable reads);
//! - **never read** — no read began after it was known: untested, not lost;
//! - **unexpected** — a read returned something no add attempted (or whose add failed);
//! - **duplicated** — one read returned it twice (Jepsen's set-full reads a set, so its duplicate
//!   check cannot fire; a faultline read is a list and can show one).
//!
//! Cost: one pass over every element of every read, plus `n log n` to sort; an element's absent
//! reads are found by walking back from the last read past the reads that hold it, so the work
//! is bounded by the reads' sizes.

use super::{completed, only, shape_error, Judgement, Options, Say, Workload};
use crate::history::{History, Operation, Outcome};
use std::collections::HashMap;

/// What the history says about one element.
#[derive(Default)]
struct Element {
    /// The add that attempted it (the first, when several did).
    add: Option<usize>,
    /// When it became known (event place), and which op made it so.
    known: Option<(usize, usize)>,
    /// Indices (into `reads`, ascending) of the reads that returned it.
    seen_in: Vec<u32>,
}

pub fn check(history: &History, opts: &Options) -> Result<Judgement, String> {
    only(history, Workload::Set, &["add", "read"])?;
    let mut j = Judgement::new(Workload::Set);
    let (mut elements, reads) = gather(history, &mut j)?;
    if reads.is_empty() {
        return Ok(j.untested("the set was never read, so no add was ever checked"));
    }
    let say = Say::new(history);
    let mut tested = 0u64;
    for (text, e) in elements.iter_mut() {
        let Some(add) = e.add else {
            unexpected(history, &reads, text, e, &mut j);
            continue;
        };
        let Some((known_at, _)) = e.known else {
            continue;
        };
        let first = reads.partition_point(|&r| history.ops[r].invoke_event < known_at);
        if first == reads.len() {
            j.count("never-read");
            continue;
        }
        tested += 1;
        judge(history, &reads, first, text, add, e, opts, &say, &mut j);
    }
    j.counts.insert("elements-tested".into(), tested);
    Ok(match tested {
        0 => j.untested("no read began after any add was acknowledged, so nothing was tested"),
        _ => j,
    })
}

/// The elements, and the `ok` reads in invocation order; counts adds and reads, and flags
/// duplicates within a read.
fn gather(
    history: &History,
    j: &mut Judgement,
) -> Result<(HashMap<String, Element>, Vec<usize>), String> {
    let mut elements: HashMap<String, Element> = HashMap::new();
    let mut reads = Vec::new();
    for (i, o) in history.ops.iter().enumerate() {
        match o.f.as_str() {
            "add" => {
                j.count("adds");
                let e = elements.entry(o.input.to_string()).or_default();
                if o.outcome == Outcome::Fail {
                    continue;
                }
                e.add.get_or_insert(i);
                if o.outcome == Outcome::Ok {
                    e.known = earliest(e.known, (completed(o), i));
                }
            }
            _ if o.outcome == Outcome::Ok => {
                j.count("reads");
                reads.push(i);
            }
            _ => {}
        }
    }
    reads.sort_by_key(|&r| history.ops[r].invoke_event);
    for (n, &r) in reads.iter().enumerate() {
        let o = &history.ops[r];
        let items = o.output.as_array().ok_or_else(|| {
            shape_error(
                history,
                o,
                &format!("an ok read of a set returns a list, found {}", o.output),
            )
        })?;
        let mut here: HashMap<String, u32> = HashMap::with_capacity(items.len());
        for v in items {
            *here.entry(v.to_string()).or_default() += 1;
        }
        for (text, times) in here {
            if times > 1 {
                j.violation("duplicated", vec![o.id], || {
                    format!(
                        "{} read {text} {times} times in one read at {}",
                        Say::who(o),
                        Say::new(history).completed(o)
                    )
                });
            }
            let e = elements.entry(text).or_default();
            e.seen_in.push(n as u32);
            e.known = earliest(e.known, (completed(o), r));
        }
    }
    Ok((elements, reads))
}

fn earliest(a: Option<(usize, usize)>, b: (usize, usize)) -> Option<(usize, usize)> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// An element no add attempted (or only failed adds): a violation, proven by its first read.
fn unexpected(history: &History, reads: &[usize], text: &str, e: &Element, j: &mut Judgement) {
    let Some(&first) = e.seen_in.first() else {
        return; // only failed adds, never read: fine
    };
    let o = &history.ops[reads[first as usize]];
    j.violation("unexpected", vec![o.id], || {
        format!(
            "{} read {text} at {}, and no add of it succeeded or was pending",
            Say::who(o),
            Say::new(history).completed(o)
        )
    });
}

/// Lost or stale: the reads from `first` on began after the element was known.
#[allow(clippy::too_many_arguments)]
fn judge(
    history: &History,
    reads: &[usize],
    first: usize,
    text: &str,
    add: usize,
    e: &Element,
    opts: &Options,
    say: &Say,
    j: &mut Judgement,
) {
    let Some(last_absent) = last_absent(reads.len(), first, &e.seen_in) else {
        return; // present in every read since it was known
    };
    let (known_at_op, absent) = (
        &history.ops[e.known.expect("known").1],
        &history.ops[reads[last_absent]],
    );
    let add_op = &history.ops[add];
    let present_after = e.seen_in.last().is_some_and(|&p| p as usize > last_absent);
    if !present_after {
        j.violation("lost", vec![add_op.id, known_at_op.id, absent.id], || {
            format!(
                "{} added {text} ({}, known at {}); {} read the set at {} without it, and no later read has it",
                Say::who(add_op),
                outcome(add_op),
                say.completed(known_at_op),
                Say::who(absent),
                say.invoked(absent)
            )
        });
        return;
    }
    let since = known_at_op.complete_time.unwrap_or(0);
    let for_ns = absent.invoke_time.saturating_sub(since);
    j.count("stale");
    let sentence = format!(
        "{text} was missing from a read that began {} after it was known ({} at {})",
        seconds(for_ns, history.timed),
        Say::who(absent),
        say.invoked(absent)
    );
    match opts.set_linearizable {
        true => j.violation("stale-read", vec![known_at_op.id, absent.id], || sentence),
        false if j.counts["stale"] == 1 => j.notes.push(format!(
            "stale reads (allowed: the set is not promised linearizable): {sentence}"
        )),
        false => {}
    }
}

/// The last read index in `first..len` not in `seen` (ascending), walking back from the end
/// past the reads that hold the element.
fn last_absent(len: usize, first: usize, seen: &[u32]) -> Option<usize> {
    let mut r = len;
    let mut k = seen.len();
    while r > first {
        r -= 1;
        while k > 0 && seen[k - 1] as usize > r {
            k -= 1;
        }
        if k > 0 && seen[k - 1] as usize == r {
            k -= 1;
            continue;
        }
        return Some(r);
    }
    None
}

fn outcome(o: &Operation) -> &'static str {
    match o.outcome {
        Outcome::Ok => "acknowledged",
        Outcome::Info => "outcome unknown",
        Outcome::Fail => "failed",
    }
}

fn seconds(ns: u64, timed: bool) -> String {
    match timed {
        true => format!("{:.3} s", ns as f64 / 1e9),
        false => format!("{ns} events"),
    }
}
