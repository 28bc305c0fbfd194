//! A queue: `enqueue` a message, `dequeue` one (`nil` or a failure when the queue is empty),
//! `drain` what is left (a list). Every message must come out once:
//! - **lost** — its enqueue was acknowledged, a drain that began after that acknowledgement
//!   emptied the queue, and nobody ever received it (without such a drain a message never
//!   received may still be queued: the judgement says so instead of guessing);
//! - **duplicated** — received more than once (Jepsen's total-queue lists these and passes;
//!   here exactly-once is violated and the judgement says at-least-once still held);
//! - **unexpected** — received, but never enqueued (or only by enqueues that failed);
//! - **reordered** (FIFO queues, [`super::Options::fifo`]) — `a` was enqueued before `b` was
//!   even invoked, yet `b` was received before `a`'s dequeue began.
//!
//! With [`super::Options::at_least_once`] (the promise of RabbitMQ and of Jepsen's total-queue)
//! a duplicate is reported in the notes and is no violation; only a lost message is.
//!
//! The verdict names which delivery guarantee held: exactly-once, at-least-once (duplicates,
//! nothing lost), at-most-once (losses, no duplicates), or neither.

use super::{completed, only, shape_error, Judgement, Options, Say, Workload};
use crate::history::{History, Operation, Outcome};
use std::collections::HashMap;

#[derive(Default)]
struct Message {
    /// The enqueue that sent it (acknowledged if any was), and whether one was acknowledged.
    enqueue: Option<usize>,
    acked: bool,
    /// Operations that received it.
    received: Vec<usize>,
}

pub fn check(history: &History, opts: &Options) -> Result<Judgement, String> {
    only(history, Workload::Queue, &["enqueue", "dequeue", "drain"])?;
    let mut j = Judgement::new(Workload::Queue);
    let say = Say::new(history);
    let messages = gather(history, &mut j)?;
    let drained = last_drain(history);
    let mut received = 0u64;
    let mut duplicated = 0;
    let mut missing: Vec<(&str, usize)> = Vec::new();
    for (text, m) in &messages {
        received += m.received.len() as u64;
        match (m.enqueue, m.received.as_slice()) {
            (None, [first, ..]) => unexpected(history, text, *first, &say, &mut j),
            (Some(e), []) if m.acked => {
                match drained.filter(|&(at, _)| at > completed(&history.ops[e])) {
                    Some(_) => missing.push((text, e)),
                    None => j.count("unreceived-undrained"),
                }
            }
            (Some(_), [a, b, ..]) => {
                duplicated += 1;
                let (oa, ob) = (&history.ops[*a], &history.ops[*b]);
                let sentence = || {
                    format!(
                        "{text} was received {} times: by {} at {} and by {} at {}",
                        m.received.len(),
                        Say::who(oa),
                        say.completed(oa),
                        Say::who(ob),
                        say.completed(ob)
                    )
                };
                match opts.at_least_once {
                    true => j.allowed("duplicated", sentence),
                    false => j.violation("duplicated", vec![oa.id, ob.id], sentence),
                }
            }
            _ => {}
        }
    }
    j.counts.insert("received".into(), received);
    let lost = match drained {
        Some((_, d)) => lost(history, missing, d, &say, &mut j),
        None => 0,
    };
    if opts.fifo {
        reordered(history, &messages, &say, &mut j);
    }
    guarantees(&mut j, drained.is_some(), lost, duplicated);
    Ok(match received {
        0 if drained.is_none() => j.untested(
            "no message was received and the queue was never drained, so nothing was tested",
        ),
        _ => j,
    })
}

/// Every message: who sent it and who received it.
fn gather(history: &History, j: &mut Judgement) -> Result<HashMap<String, Message>, String> {
    let mut messages: HashMap<String, Message> = HashMap::new();
    for (i, o) in history.ops.iter().enumerate() {
        j.count(match o.f.as_str() {
            "enqueue" => "enqueues",
            "dequeue" => "dequeues",
            _ => "drains",
        });
        match (o.f.as_str(), o.outcome) {
            ("enqueue", Outcome::Fail) => {}
            ("enqueue", outcome) => {
                let m = messages.entry(o.input.to_string()).or_default();
                if m.enqueue.is_none() || (outcome == Outcome::Ok && !m.acked) {
                    m.enqueue = Some(i);
                    m.acked = outcome == Outcome::Ok;
                }
            }
            ("dequeue", Outcome::Ok) if !o.output.is_null() => {
                messages
                    .entry(o.output.to_string())
                    .or_default()
                    .received
                    .push(i);
            }
            ("drain", Outcome::Ok) => {
                let items = o.output.as_array().ok_or_else(|| {
                    shape_error(
                        history,
                        o,
                        &format!("an ok drain returns a list, found {}", o.output),
                    )
                })?;
                for v in items.iter().filter(|v| !v.is_null()) {
                    messages.entry(v.to_string()).or_default().received.push(i);
                }
            }
            _ => {}
        }
    }
    for m in messages.values_mut() {
        m.received.sort_by_key(|&r| completed(&history.ops[r]));
    }
    Ok(messages)
}

/// The `ok` drain that began last (its invocation's event place and its op).
fn last_drain(history: &History) -> Option<(usize, usize)> {
    history
        .ops
        .iter()
        .enumerate()
        .filter(|(_, o)| o.f == "drain" && o.outcome == Outcome::Ok)
        .map(|(i, o)| (o.invoke_event, i))
        .max()
}

fn unexpected(history: &History, text: &str, first: usize, say: &Say, j: &mut Judgement) {
    let o = &history.ops[first];
    j.violation("unexpected", vec![o.id], || {
        format!(
            "{} received {text} at {}, which no enqueue sent (or every enqueue of it failed)",
            Say::who(o),
            say.completed(o)
        )
    });
}

/// The acknowledged messages never received that the drain `d` did not list either. A dequeue
/// whose outcome is unknown may have taken one (if it began after that message was sent), so
/// a message is lost for certain only when no such dequeue could have taken it; past those, the
/// unknown dequeues can account for at most one message each, and any more are lost too — as a
/// count, since which ones cannot be told. Returns how many are lost at least.
fn lost(
    history: &History,
    mut missing: Vec<(&str, usize)>,
    d: usize,
    say: &Say,
    j: &mut Judgement,
) -> u64 {
    let mut unknown: Vec<usize> = history
        .ops
        .iter()
        .filter(|o| o.f == "dequeue" && o.outcome == Outcome::Info)
        .map(|o| o.invoke_event)
        .collect();
    unknown.sort_unstable();
    let drain = &history.ops[d];
    let takers =
        |e: usize| unknown.len() - unknown.partition_point(|&at| at <= history.ops[e].invoke_event);
    let mut certain = 0;
    for &(text, e) in missing.iter().filter(|(_, e)| takers(*e) == 0) {
        certain += 1;
        let sent = &history.ops[e];
        j.violation("lost", vec![sent.id, drain.id], || {
            format!(
                "{text} was enqueued by {} (acknowledged at {}), never received, and not in the drain {} began at {}; no dequeue with an unknown outcome could have taken it",
                Say::who(sent),
                say.completed(sent),
                Say::who(drain),
                say.invoked(drain)
            )
        });
    }
    missing.retain(|(_, e)| takers(*e) > 0);
    // Each message may be taken by any unknown dequeue begun after it was sent (a suffix of
    // `unknown`): matching the latest-sent first is a maximum matching.
    missing.sort_by_key(|&(_, e)| std::cmp::Reverse(history.ops[e].invoke_event));
    let mut used = 0;
    for &(_, e) in &missing {
        used += usize::from(takers(e) > used);
    }
    let beyond = missing.len() - used;
    if beyond > 0 {
        let some: Vec<&str> = missing.iter().rev().take(5).map(|(t, _)| *t).collect();
        j.violation("lost", vec![drain.id], || {
            format!(
                "{} acknowledged messages were never received nor left for the drain {} began at {}, and the {} dequeues with an unknown outcome could have taken at most {used}: at least {beyond} were lost (among them some of {})",
                missing.len(),
                Say::who(drain),
                say.invoked(drain),
                unknown.len(),
                some.join(", ")
            )
        });
    } else if !missing.is_empty() {
        j.notes.push(format!(
            "{} acknowledged messages were never received; dequeues with an unknown outcome may have taken them",
            missing.len()
        ));
    }
    certain + beyond as u64
}

/// FIFO: for each message in order of its dequeue's start, is there one received earlier that
/// was enqueued strictly after this one was acknowledged? Two sorted lists and a running
/// maximum: `n log n`.
fn reordered(history: &History, messages: &HashMap<String, Message>, say: &Say, j: &mut Judgement) {
    let pairs: Vec<(&str, &Operation, &Operation)> = messages
        .iter()
        .filter_map(|(t, m)| {
            Some((
                t.as_str(),
                &history.ops[m.enqueue?],
                &history.ops[*m.received.first()?],
            ))
        })
        .filter(|(_, e, _)| e.outcome == Outcome::Ok)
        .collect();
    let mut by_received: Vec<usize> = (0..pairs.len()).collect();
    by_received.sort_by_key(|&k| completed(pairs[k].2));
    let mut by_start: Vec<usize> = (0..pairs.len()).collect();
    by_start.sort_by_key(|&k| pairs[k].2.invoke_event);
    let (mut next, mut latest): (usize, Option<usize>) = (0, None);
    for &a in &by_start {
        while next < by_received.len()
            && completed(pairs[by_received[next]].2) < pairs[a].2.invoke_event
        {
            let b = by_received[next];
            if latest.is_none_or(|l| pairs[b].1.invoke_event > pairs[l].1.invoke_event) {
                latest = Some(b);
            }
            next += 1;
        }
        let Some(b) = latest.filter(|&b| pairs[b].1.invoke_event > completed(pairs[a].1)) else {
            continue;
        };
        let ((ta, ea, _), (tb, eb, db)) = (pairs[a], pairs[b]);
        j.violation("reordered", vec![ea.id, eb.id, db.id], || {
            format!("{ta} was enqueued (acknowledged at {}) before {tb} was sent (at {}), yet {tb} was received first, at {}", say.completed(ea), say.invoked(eb), say.completed(db))
        });
    }
}

/// Which delivery guarantee held, as a note (and a count for reports).
fn guarantees(j: &mut Judgement, drained: bool, lost: u64, duplicated: u64) {
    let held = match (lost, duplicated, drained) {
        (0, 0, true) => "exactly-once delivery held",
        (0, _, true) => {
            "exactly-once violated (duplicates); at-least-once held: nothing acknowledged was lost"
        }
        (0, 0, false) => {
            "at-most-once held (nothing received twice); loss untested: the queue was never drained"
        }
        (0, _, false) => {
            "exactly-once violated (duplicates); loss untested: the queue was never drained"
        }
        (_, 0, _) => {
            "at-least-once violated (lost messages); at-most-once held: nothing was received twice"
        }
        _ => "neither at-least-once nor at-most-once held",
    };
    j.notes.insert(0, held.to_string());
    if let Some(&n) = j.counts.get("unreceived-undrained") {
        j.notes.push(format!(
            "{n} acknowledged messages were never received and no drain began after they were acknowledged: they may still be queued"
        ));
    }
}
