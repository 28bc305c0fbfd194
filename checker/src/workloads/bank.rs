//! A bank: `transfer` moves `amount` from one account to another (`{from, to, amount}`), and
//! `read` returns every account's balance (`{account: balance}`). Money is neither made nor
//! destroyed, so every `ok` read must see balances that sum to the bank's total, none negative,
//! none missing (`nil`) and no account the bank does not have — whatever transfers ran around it.
//! That is what a transfer done as a serializable transaction keeps, and what a read that sees
//! half a transfer (read committed, a torn snapshot) breaks.
//!
//! The total and the accounts come from the test (Jepsen's test map; `faultline run` stores
//! them); a history on its own gets the total most reads saw and the accounts the reads and
//! acknowledged transfers name, and the judgement says so.

use super::{only, shape_error, Judgement, Options, Say, Workload};
use crate::history::{History, Operation, Outcome};
use serde_json::{Map, Value};
use std::collections::{BTreeSet, HashMap};

/// An `ok` read and the balances it returned.
type Read<'h> = (&'h Operation, &'h Map<String, Value>);

pub fn check(history: &History, opts: &Options) -> Result<Judgement, String> {
    only(history, Workload::Bank, &["transfer", "read"])?;
    let mut j = Judgement::new(Workload::Bank);
    let reads = balances(history)?;
    j.counts.insert("reads".into(), reads.len() as u64);
    j.counts.insert(
        "transfers".into(),
        history.ops.iter().filter(|o| o.f == "transfer").count() as u64,
    );
    if reads.is_empty() {
        return Ok(j.untested("no read of the balances completed, so the total was never checked"));
    }
    let total = total(&reads, opts, &mut j);
    let accounts = accounts(history, &reads, opts, &mut j)?;
    let say = Say::new(history);
    let mut wrong: Vec<(i128, usize)> = Vec::new();
    for (o, map) in &reads {
        judge_read(
            opts.negative_balances,
            o,
            map,
            total,
            &accounts,
            &say,
            &mut j,
            &mut wrong,
        );
    }
    summarise(history, &wrong, total, &say, &mut j);
    Ok(j)
}

/// The `ok` reads with their balances; a read that is not a map is an error.
fn balances(history: &History) -> Result<Vec<Read<'_>>, String> {
    let mut reads = Vec::new();
    for o in &history.ops {
        if o.f == "transfer" {
            transfer(history, o)?;
        } else if o.outcome == Outcome::Ok {
            let map = o.output.as_object().ok_or_else(|| {
                shape_error(
                    history,
                    o,
                    &format!(
                        "an ok read of a bank returns {{account: balance}}, found {}",
                        o.output
                    ),
                )
            })?;
            reads.push((o, map));
        }
    }
    Ok(reads)
}

/// A transfer's `(from, to)`, checked for shape.
fn transfer(history: &History, o: &Operation) -> Result<(String, String), String> {
    let field = |k: &str| o.input.get(k).filter(|v| !v.is_null());
    match (
        field("from"),
        field("to"),
        field("amount").and_then(Value::as_i64),
    ) {
        (Some(from), Some(to), Some(_)) => Ok((key(from), key(to))),
        _ => Err(shape_error(
            history,
            o,
            &format!("a transfer is {{from, to, amount}}, found {}", o.input),
        )),
    }
}

/// An account as a read's map names it: `0` and `"0"` are the same account.
fn key(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Σ of a read's balances, or `None` when one is nil or not a number.
pub fn sum(map: &Map<String, Value>) -> Option<i128> {
    map.values().map(|v| v.as_i64().map(i128::from)).sum()
}

/// The total every read must see: the test's, or the one most reads saw.
fn total(reads: &[Read<'_>], opts: &Options, j: &mut Judgement) -> i128 {
    if let Some(t) = opts.bank_total {
        return t as i128;
    }
    let mut seen: HashMap<i128, usize> = HashMap::new();
    for (_, m) in reads {
        if let Some(s) = sum(m) {
            *seen.entry(s).or_default() += 1;
        }
    }
    let first = reads.iter().find_map(|(_, m)| sum(m)).unwrap_or(0);
    let (&t, &n) = seen
        .iter()
        .max_by_key(|(t, n)| (**n, **t == first))
        .unwrap_or((&first, &0));
    j.notes.push(format!(
        "the history does not say the bank's total; taken as {t}, what {n} of {} reads summed to (name it with --bank-total)",
        reads.len()
    ));
    t
}

/// The bank's accounts: the test's, or those the reads and acknowledged transfers name.
fn accounts(
    history: &History,
    reads: &[Read<'_>],
    opts: &Options,
    j: &mut Judgement,
) -> Result<BTreeSet<String>, String> {
    if let Some(a) = &opts.accounts {
        return Ok(a.iter().cloned().collect());
    }
    let mut all: BTreeSet<String> = reads.iter().flat_map(|(_, m)| m.keys().cloned()).collect();
    for o in history
        .ops
        .iter()
        .filter(|o| o.f == "transfer" && o.outcome == Outcome::Ok)
    {
        let (from, to) = transfer(history, o)?;
        all.extend([from, to]);
    }
    j.notes.push(format!(
        "accounts taken from the reads and transfers: {}",
        all.iter().cloned().collect::<Vec<_>>().join(", ")
    ));
    Ok(all)
}

#[allow(clippy::too_many_arguments)]
fn judge_read(
    negative_ok: bool,
    o: &Operation,
    map: &Map<String, Value>,
    total: i128,
    accounts: &BTreeSet<String>,
    say: &Say,
    j: &mut Judgement,
    wrong: &mut Vec<(i128, usize)>,
) {
    let at = || format!("{} read at {}", Say::who(o), say.completed(o));
    for (account, balance) in map {
        if !accounts.contains(account) {
            j.violation("unexpected-account", vec![o.id], || {
                format!(
                    "{}: account {account} (balance {balance}), which the bank does not have",
                    at()
                )
            });
        }
        match balance.as_i64() {
            None => j.violation("missing-balance", vec![o.id], || {
                format!("{}: account {account} has no balance ({balance})", at())
            }),
            Some(b) if b < 0 && !negative_ok => j.violation("negative-balance", vec![o.id], || {
                format!("{}: account {account} at {b}", at())
            }),
            Some(_) => {}
        }
    }
    for account in accounts.iter().filter(|a| !map.contains_key(*a)) {
        j.violation("missing-balance", vec![o.id], || {
            format!("{}: no balance for account {account}", at())
        });
    }
    if let Some(s) = sum(map).filter(|&s| s != total) {
        wrong.push((s, o.id));
        j.violation("wrong-total", vec![o.id], || {
            format!(
                "{}: balances sum to {s}, not {total} ({})",
                at(),
                shown(map)
            )
        });
    }
}

/// `{a: 10, b: 5}` in a sentence.
fn shown(map: &Map<String, Value>) -> String {
    let parts: Vec<String> = map.iter().map(|(k, v)| format!("{k}: {v}")).collect();
    format!("{{{}}}", parts.join(", "))
}

/// Jepsen's summary of wrong totals: the first, the worst and the last.
fn summarise(
    history: &History,
    wrong: &[(i128, usize)],
    total: i128,
    say: &Say,
    j: &mut Judgement,
) {
    let (Some(first), Some(last)) = (wrong.first(), wrong.last()) else {
        return;
    };
    let worst = wrong
        .iter()
        .max_by_key(|(s, _)| (s - total).abs())
        .expect("non-empty");
    let at = |&(s, id): &(i128, usize)| {
        let o = &history.ops[id];
        format!("{s} at {}", say.completed(o))
    };
    j.notes.push(format!(
        "{} of {} reads saw a wrong total: first {}, worst {}, last {}",
        wrong.len(),
        j.counts["reads"],
        at(first),
        at(worst),
        at(last)
    ));
}
