//! Unique ids: `generate` returns an id, and no two acknowledged operations may get the same one
//! (Jepsen's `unique-ids` checker). Beyond that promise, two facts that explain how an id scheme
//! behaves, as notes: per node (or per process, when the history names no nodes), ids that go
//! *back* — the signature of a time-based id whose clock was turned back, the seeds' snowflake
//! lesson — and, for integer ids, how many values between the smallest and the largest were
//! never handed out (gaps).

use super::{only, Judgement, Say, Workload};
use crate::history::{History, Outcome};
use std::collections::HashMap;

pub fn check(history: &History) -> Result<Judgement, String> {
    only(history, Workload::UniqueIds, &["generate"])?;
    let mut j = Judgement::new(Workload::UniqueIds);
    let say = Say::new(history);
    let mut first_owner: HashMap<String, usize> = HashMap::new();
    let mut ok = 0u64;
    for o in history.ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        ok += 1;
        let id = o.output.to_string();
        if let Some(&prev) = first_owner.get(&id) {
            let p = &history.ops[prev];
            j.violation("duplicate", vec![p.id, o.id], || {
                format!(
                    "id {id} was handed out twice: to {} at {} and to {} at {}",
                    Say::who(p),
                    say.completed(p),
                    Say::who(o),
                    say.completed(o)
                )
            });
        } else {
            first_owner.insert(id, o.id);
        }
    }
    j.counts.insert("generated".into(), ok);
    if ok == 0 {
        return Ok(j.untested("no generate succeeded, so no id was checked"));
    }
    backwards(history, &say, &mut j);
    gaps(history, &mut j);
    Ok(j)
}

/// Per node (or process), the ids that came after a larger one, in completion order.
fn backwards(history: &History, say: &Say, j: &mut Judgement) {
    let mut ok: Vec<usize> = (0..history.ops.len())
        .filter(|&i| history.ops[i].outcome == Outcome::Ok && history.ops[i].output.is_i64())
        .collect();
    ok.sort_by_key(|&i| history.ops[i].complete_event);
    let mut last: HashMap<String, (i64, usize)> = HashMap::new();
    let mut back = 0u64;
    let mut first = None;
    for i in ok {
        let o = &history.ops[i];
        let source = match &o.node {
            Some(n) => n.to_string(),
            None => format!("p{}", o.process),
        };
        let id = o.output.as_i64().expect("filtered");
        if let Some(&(prev, p)) = last.get(&source) {
            if id < prev && o.invoke_event > history.ops[p].complete_event.unwrap_or(0) {
                back += 1;
                first.get_or_insert((source.clone(), prev, id, i));
            }
        }
        last.insert(source, (id, i));
    }
    if let Some((source, prev, id, i)) = first {
        j.counts.insert("went-back".into(), back);
        j.notes.push(format!(
            "ids went back {back} times on one source; the first on {source}: {id} after {prev}, at {}",
            say.completed(&history.ops[i])
        ));
    }
}

/// For integer ids: how many values between the least and the greatest nobody got.
fn gaps(history: &History, j: &mut Judgement) {
    let mut ids: Vec<i64> = history
        .ops
        .iter()
        .filter(|o| o.outcome == Outcome::Ok)
        .filter_map(|o| o.output.as_i64())
        .collect();
    if ids.is_empty() {
        return;
    }
    ids.sort_unstable();
    ids.dedup();
    let span = (ids[ids.len() - 1] as i128 - ids[0] as i128 + 1) as u128;
    let missing = span - ids.len() as u128;
    j.counts
        .insert("gaps".into(), missing.min(u64::MAX as u128) as u64);
    if missing > 0 {
        j.notes.push(format!(
            "{missing} integers between {} and {} were never handed out (gaps: allowed, ids need only be unique)",
            ids[0],
            ids[ids.len() - 1]
        ));
    }
}
