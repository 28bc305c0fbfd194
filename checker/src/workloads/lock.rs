//! A lock: `acquire` and `release` (also spelled `lock`/`unlock`), one holder at a time — the
//! mutex of Knossos's `mutex` model, with holders named by process.
//!
//! The checker proves double holding from what the clients were told, never from guesses: a
//! process that was told its `acquire` succeeded held the lock from that acknowledgement until
//! it invoked its next `release` (a release takes effect no earlier than its invocation). Two
//! such intervals that overlap are two holders at once — a violation of the mutex, whatever
//! order the operations are put in. Sorting the intervals and sweeping is `n log n`.
//!
//! What ends a hold depends on the lock:
//! - a plain mutex (Knossos's model, the default): a release that failed did not happen, so the
//!   hold goes on to the next release that succeeded or may have; one never released is held to
//!   the end of the history;
//! - a lock with a lease ([`super::Options::leased_locks`], as etcd's and faultline's `/lock`
//!   are): the lease may run out at any time the server decides, so only a release the server
//!   *acknowledged* proves the lock was held until then; a failed or unknown release proves
//!   nothing beyond the acquire.
//!
//! A process told it acquired a lock it already held, or released one it did not hold, is a
//! violation of the plain mutex too.

use super::{only, Judgement, Options, Say, Workload};
use crate::faults::Fault;
use crate::history::{History, Operation, Outcome};
use serde_json::Value;

/// One proven hold: from the acquire's acknowledgement to the release's invocation, as event
/// places (`to` is `usize::MAX` for a hold to the end) and times.
#[derive(Clone, Copy, Debug)]
struct Hold {
    from: usize,
    to: usize,
    until: Option<u64>,
    acquire: usize,
    release: Option<usize>,
}

impl Hold {
    fn new(
        history: &History,
        acquire: usize,
        end: Option<(usize, u64)>,
        release: Option<usize>,
    ) -> Hold {
        let a = &history.ops[acquire];
        let from = a.complete_event.unwrap_or(0);
        Hold {
            from,
            to: end.map_or(usize::MAX, |e| e.0),
            until: end.map(|e| e.1),
            acquire,
            release,
        }
    }
}

pub fn check(history: &History, opts: &Options) -> Result<Judgement, String> {
    only(
        history,
        Workload::Lock,
        &["acquire", "release", "lock", "unlock"],
    )?;
    let mut j = Judgement::new(Workload::Lock);
    let say = Say::new(history);
    let holds = holds(history, opts, &say, &mut j);
    j.counts.insert("holds".into(), holds.len() as u64);
    lost_before_release(history, opts, &mut j);
    let faults = history.faults();
    overlaps(
        history,
        holds.clone(),
        &Context {
            say: &say,
            faults: &faults,
        },
        &mut j,
    );
    Ok(match holds.is_empty() {
        true => j.untested("no acquire succeeded, so mutual exclusion was never tested"),
        false => j,
    })
}

/// With leases, a release that failed proves nothing, and a holder may have lost its lock
/// without knowing (a lease that ran out while it was stalled): said in a note with how many,
/// and the first such release's error when it has one.
fn lost_before_release(history: &History, opts: &Options, j: &mut Judgement) {
    if !opts.leased_locks {
        return;
    }
    let failed: Vec<&Operation> = history
        .ops
        .iter()
        .filter(|o| !is_acquire(o) && o.outcome != Outcome::Ok && o.phase.is_none())
        .collect();
    let Some(first) = failed.first() else {
        return;
    };
    j.counts
        .insert("releases-not-acknowledged".into(), failed.len() as u64);
    let said = match &first.error {
        Some(e) => format!(" (the first, p{}'s: {e})", first.process),
        None => String::new(),
    };
    j.notes.push(format!(
        "{} release(s) not acknowledged{said}: such a holder may have lost the lock before it let go, when its lease ran out; only acknowledged releases prove a hold",
        failed.len()
    ));
}

fn is_acquire(o: &Operation) -> bool {
    matches!(o.f.as_str(), "acquire" | "lock")
}

/// Every process's proven holds, walking its operations in order.
fn holds(history: &History, opts: &Options, say: &Say, j: &mut Judgement) -> Vec<Hold> {
    let mut by_process: std::collections::BTreeMap<u64, Vec<usize>> = Default::default();
    for (i, o) in history.ops.iter().enumerate() {
        by_process.entry(o.process).or_default().push(i);
    }
    let mut out = Vec::new();
    for ops in by_process.values() {
        let mut open: Option<usize> = None;
        for &i in ops {
            let o = &history.ops[i];
            match (is_acquire(o), o.outcome, open) {
                (true, Outcome::Ok, Some(a)) if !opts.leased_locks => {
                    j.violation("reacquired", vec![history.ops[a].id, o.id], || {
                        format!(
                            "{} was told it acquired the lock at {} while it still held it from {}",
                            Say::who(o),
                            say.completed(o),
                            say.completed(&history.ops[a])
                        )
                    });
                }
                (true, Outcome::Ok, _) => open = Some(i),
                (true, _, _) => {}
                (false, Outcome::Fail, Some(_)) if !opts.leased_locks => {}
                (false, Outcome::Ok, None) if !opts.leased_locks => {
                    j.violation("released-unheld", vec![o.id], || {
                        format!(
                            "{} was told it released the lock at {} but held none",
                            Say::who(o),
                            say.completed(o)
                        )
                    });
                }
                (false, outcome, Some(a)) => {
                    let acquired = &history.ops[a];
                    let end = match outcome == Outcome::Ok || !opts.leased_locks {
                        true => (o.invoke_event, o.invoke_time),
                        false => (
                            acquired.complete_event.unwrap_or(0),
                            acquired.complete_time.unwrap_or(0),
                        ),
                    };
                    out.push(Hold::new(history, a, Some(end), Some(i)));
                    open = None;
                }
                (false, _, None) => {}
            }
        }
        if let Some(a) = open {
            let acquired = &history.ops[a];
            let end = opts.leased_locks.then(|| {
                (
                    acquired.complete_event.unwrap_or(0),
                    acquired.complete_time.unwrap_or(0),
                )
            });
            out.push(Hold::new(history, a, end, None));
        }
    }
    out
}

/// Sorts holds by start and sweeps, keeping the hold that reaches furthest: any hold that
/// starts before it ends overlaps it.
fn overlaps(history: &History, mut holds: Vec<Hold>, cx: &Context, j: &mut Judgement) {
    holds.sort_by_key(|h| h.from);
    let mut reach: Option<Hold> = None;
    for h in holds {
        if let Some(r) = reach.filter(|r| h.from < r.to) {
            report(history, r, h, cx, j);
        }
        if reach.is_none_or(|r| h.to > r.to) {
            reach = Some(h);
        }
    }
}

/// What a violation's words draw on: the clock, and the faults the history records.
struct Context<'a> {
    say: &'a Say,
    faults: &'a [Fault],
}

fn report(history: &History, a: Hold, b: Hold, cx: &Context, j: &mut Judgement) {
    let say = cx.say;
    let (oa, ob) = (&history.ops[a.acquire], &history.ops[b.acquire]);
    let mut ops = vec![oa.id, ob.id];
    ops.extend(
        a.release
            .iter()
            .chain(b.release.iter())
            .map(|&r| history.ops[r].id),
    );
    let end = match if a.to <= b.to { a.until } else { b.until } {
        Some(t) => say.at(t),
        None => "the end of the history".into(),
    };
    let stalls: Vec<Stall> = [(oa, ob), (ob, oa)]
        .into_iter()
        .filter_map(|(holder, other)| stalled(holder, other, cx))
        .collect();
    let behind = explain(history, &stalls, cx).or_else(|| meanwhile(oa, ob, cx));
    j.violation("double-holder", ops, || {
        let mut s = format!(
            "held by {} and {} at once from {} to {end}: {} was told it acquired the lock at {}, and {} at {}, before the first let it go",
            Say::who(oa),
            Say::who(ob),
            say.completed(ob),
            Say::who(oa),
            say.completed(oa),
            Say::who(ob),
            say.completed(ob)
        );
        if let Some(b) = &behind {
            s.push_str("; ");
            s.push_str(b);
        }
        s
    });
}

/// A holder that may have lost the lock without being told: a fault on the node it took the
/// lock through (`fault`, an index into the history's faults), in force between its acquire's
/// invocation and the later of the two acknowledgements.
struct Stall<'a> {
    process: u64,
    node: &'a str,
    fault: usize,
    acked: u64,
    /// The lease the acquire reported, in ms.
    lease_ms: Option<u64>,
}

fn stalled<'a>(holder: &'a Operation, other: &Operation, cx: &Context) -> Option<Stall<'a>> {
    let node = holder.node.as_deref()?;
    let acked = holder.complete_time?;
    let until = acked.max(other.complete_time?);
    // The latest: a waiter is told it acquired as the lock's queue moves on after the fault.
    let fault = cx.faults.iter().rposition(|f| {
        matches!(f.kind.as_str(), "pause" | "kill")
            && f.names(node)
            && f.overlaps(holder.invoke_time, until)
    })?;
    Some(Stall {
        process: holder.process,
        node,
        fault,
        acked,
        lease_ms: holder.output.get("lease_ms").and_then(Value::as_u64),
    })
}

/// The faults in force while the two holders waited and were told they acquired, when
/// neither went through a faulted node (a paused leader hands leases over too): `meanwhile n1
/// was paused from 2.804 s to 8.034 s`. None when there were none.
fn meanwhile(a: &Operation, b: &Operation, cx: &Context) -> Option<String> {
    let from = a.invoke_time.min(b.invoke_time);
    let to = a.complete_time?.max(b.complete_time?);
    let said: Vec<String> = cx
        .faults
        .iter()
        .filter(|f| f.overlaps(from, to))
        .map(|f| match f.nodes.as_slice() {
            // A partition's nodes are every node a rule names: its own words say which way.
            _ if f.kind == "partition" => format!("{} {}", f.label, span(f, cx.say)),
            [] => format!("{} {}", f.label, span(f, cx.say)),
            [one] => format!("{one} {} {}", done_to(f, false), span(f, cx.say)),
            many => format!(
                "{} {} {}",
                many.join(" and "),
                done_to(f, true),
                span(f, cx.say)
            ),
        })
        .collect();
    (!said.is_empty()).then(|| format!("meanwhile {}", said.join(", and ")))
}

/// What a fault did to the nodes it names: `was paused`, `were cut off`.
fn done_to(f: &Fault, many: bool) -> String {
    let what = match f.kind.as_str() {
        "pause" => "paused",
        "kill" => "down",
        "partition" => "cut off",
        _ => "under a fault",
    };
    format!("{} {what}", if many { "were" } else { "was" })
}

fn span(f: &Fault, say: &Say) -> String {
    match f.end {
        Some(e) => format!("from {} to {}", say.at(f.start), say.at(e)),
        None => format!("from {} on", say.at(f.start)),
    }
}

/// The stalls in words: `p9 and p0 went through n1, which was paused from 2.342 s to 8.450 s:
/// a lease of 1000 ms renewed through it could run out near 3.342 s, before they were told
/// they acquired the lock`. None when there are none.
fn explain(history: &History, stalls: &[Stall], cx: &Context) -> Option<String> {
    let first = stalls.first()?;
    let same = stalls
        .iter()
        .all(|s| s.fault == first.fault && s.node == first.node);
    if !same {
        let each: Vec<String> = stalls
            .iter()
            .filter_map(|s| explain(history, std::slice::from_ref(s), cx))
            .collect();
        return Some(each.join("; "));
    }
    let f = &cx.faults[first.fault];
    let who: Vec<String> = stalls.iter().map(|s| format!("p{}", s.process)).collect();
    let mut s = format!(
        "{} went through {}, which {} {}",
        who.join(" and "),
        first.node,
        done_to(f, false),
        span(f, cx.say)
    );
    // A stall is a pause or a kill: renewals through the node stopped when it began.
    if let (Some(ms), true) = (first.lease_ms, history.timed) {
        let out = f.start + ms * 1_000_000;
        let when = match stalls.iter().all(|s| s.acked > out) {
            true if stalls.len() > 1 => ", before they were told they acquired the lock",
            true => ", before it was told it acquired the lock",
            false => "",
        };
        s.push_str(&format!(
            ": a lease of {ms} ms renewed through it could run out near {}{when}",
            cx.say.at(out)
        ));
    }
    Some(s)
}
