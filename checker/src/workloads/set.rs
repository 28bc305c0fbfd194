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
use rustc_hash::FxHashMap as HashMap;
use serde_json::Value;

/// An element as the checker keys it: integers (what generators add) without allocating, any
/// other value by its JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Key {
    Int(i64),
    Text(String),
}

impl Key {
    fn of(v: &Value) -> Key {
        match v.as_i64() {
            Some(i) => Key::Int(i),
            None => Key::Text(v.to_string()),
        }
    }
}

impl std::fmt::Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Key::Int(i) => write!(f, "{i}"),
            Key::Text(t) => f.write_str(t),
        }
    }
}

/// What the history says about one element.
#[derive(Default)]
struct Element {
    /// The add that attempted it (the first, when several did).
    add: Option<usize>,
    /// When it became known (event place), and which op made it so.
    known: Option<(usize, usize)>,
    /// The reads (indices into `reads`) that returned it, as runs of consecutive reads: the
    /// latest inline, the earlier ones (rare: an element that vanished and came back) aside.
    last_run: Option<(u32, u32)>,
    earlier_runs: Vec<(u32, u32)>,
}

impl Element {
    fn seen(&mut self, read: u32) {
        match &mut self.last_run {
            Some(run) if run.1 + 1 == read => run.1 = read,
            Some(run) => {
                self.earlier_runs.push(*run);
                *run = (read, read);
            }
            None => self.last_run = Some((read, read)),
        }
    }

    fn first_seen(&self) -> Option<u32> {
        self.earlier_runs
            .first()
            .or(self.last_run.as_ref())
            .map(|r| r.0)
    }

    fn last_seen(&self) -> Option<u32> {
        self.last_run.map(|r| r.1)
    }

    /// The last read in `first..len` that did not return it.
    fn last_absent(&self, len: usize, first: usize) -> Option<usize> {
        let mut r = len.checked_sub(1)?;
        for run in self.last_run.iter().chain(self.earlier_runs.iter().rev()) {
            let (from, to) = (run.0 as usize, run.1 as usize);
            if to < r {
                break;
            }
            if from <= r {
                r = from.checked_sub(1)?;
            }
        }
        (r >= first).then_some(r)
    }
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
) -> Result<(HashMap<Key, Element>, Vec<usize>), String> {
    let mut elements: HashMap<Key, Element> = HashMap::default();
    let mut reads = Vec::new();
    for (i, o) in history.ops.iter().enumerate() {
        match o.f.as_str() {
            "add" => {
                j.count("adds");
                let e = elements.entry(Key::of(&o.input)).or_default();
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
        let mut here: Vec<Key> = items.iter().map(Key::of).collect();
        here.sort_unstable();
        let mut k = 0;
        while k < here.len() {
            let times = here[k..].iter().take_while(|x| **x == here[k]).count();
            let text = &here[k];
            if times > 1 {
                j.violation("duplicated", vec![o.id], || {
                    format!(
                        "{} read {text} {times} times in one read at {}",
                        Say::who(o),
                        Say::new(history).completed(o)
                    )
                });
            }
            let e = elements.entry(text.clone()).or_default();
            e.seen(n as u32);
            e.known = earliest(e.known, (completed(o), r));
            k += times;
        }
    }
    Ok((elements, reads))
}

fn earliest(a: Option<(usize, usize)>, b: (usize, usize)) -> Option<(usize, usize)> {
    Some(a.map_or(b, |a| a.min(b)))
}

/// An element no add attempted (or only failed adds): a violation, proven by its first read.
fn unexpected(history: &History, reads: &[usize], text: &Key, e: &Element, j: &mut Judgement) {
    let Some(first) = e.first_seen() else {
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
    text: &Key,
    add: usize,
    e: &Element,
    opts: &Options,
    say: &Say,
    j: &mut Judgement,
) {
    let Some(last_absent) = e.last_absent(reads.len(), first) else {
        return; // present in every read since it was known
    };
    let (known_at_op, absent) = (
        &history.ops[e.known.expect("known").1],
        &history.ops[reads[last_absent]],
    );
    let add_op = &history.ops[add];
    let present_after = e.last_seen().is_some_and(|p| p as usize > last_absent);
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
