//! A counter: `add` (by any integer, Jepsen's `:add` of 1 or more) and `read`. The counter starts
//! at 0, so every read is bounded by the adds around it:
//! - at least every acknowledged increase that completed before the read began, plus every
//!   decrease that may have happened by the time it ended;
//! - at most every increase that may have happened by its end (invoked, and not failed), plus
//!   every acknowledged decrease completed before it began.
//!
//! Jepsen's counter checker keeps the same two sums for increments; decreases swap the roles.
//! One pass over the time line with four running sums.

use super::{only, shape_error, timeline, Edge, Judgement, Say, Workload};
use crate::history::{History, Outcome};

#[derive(Default, Clone, Copy)]
struct Sums {
    /// Increases acknowledged so far / possibly applied so far.
    up_done: i128,
    up_maybe: i128,
    /// Decreases acknowledged so far / possibly applied so far (negative numbers).
    down_done: i128,
    down_maybe: i128,
}

pub fn check(history: &History) -> Result<Judgement, String> {
    only(history, Workload::Counter, &["add", "read"])?;
    let deltas = deltas(history)?;
    let say = Say::new(history);
    let mut j = Judgement::new(Workload::Counter);
    let mut sums = Sums::default();
    let mut lower_at_invoke = vec![0i128; history.ops.len()];
    let mut upper_at_invoke = vec![0i128; history.ops.len()];
    for (i, edge) in timeline(history) {
        let o = &history.ops[i];
        let d = deltas[i] as i128;
        match (o.f.as_str(), edge) {
            ("add", Edge::Invoke) if o.outcome != Outcome::Fail => match d >= 0 {
                true => sums.up_maybe += d,
                false => sums.down_maybe += d,
            },
            ("add", Edge::Complete) if o.outcome == Outcome::Ok => match d >= 0 {
                true => sums.up_done += d,
                false => sums.down_done += d,
            },
            ("read", Edge::Invoke) => {
                lower_at_invoke[i] = sums.up_done;
                upper_at_invoke[i] = sums.down_done;
            }
            ("read", Edge::Complete) if o.outcome == Outcome::Ok => {
                j.count("reads");
                let lower = lower_at_invoke[i] + sums.down_maybe;
                let upper = sums.up_maybe + upper_at_invoke[i];
                let value = read_value(history, i)?;
                if value < lower || value > upper {
                    let (kind, bound) = match value < lower {
                        true => (
                            "read-too-low",
                            format!(
                                "every add acknowledged before it began leaves at least {lower}"
                            ),
                        ),
                        false => (
                            "read-too-high",
                            format!("every add attempted by its end sums to at most {upper}"),
                        ),
                    };
                    j.violation(kind, vec![o.id], || {
                        format!(
                            "{} read {value} at {}, but {bound}",
                            Say::who(o),
                            say.completed(o)
                        )
                    });
                }
            }
            _ => {}
        }
    }
    j.counts.insert(
        "adds".into(),
        history.ops.iter().filter(|o| o.f == "add").count() as u64,
    );
    Ok(match j.counts.get("reads") {
        Some(_) => j,
        None => j.untested("no read of the counter completed, so no add was ever checked"),
    })
}

/// Each operation's delta (0 for reads); an add by something other than an integer is an error.
fn deltas(history: &History) -> Result<Vec<i64>, String> {
    history
        .ops
        .iter()
        .map(|o| match o.f.as_str() {
            "add" => o.input.as_i64().ok_or_else(|| {
                shape_error(
                    history,
                    o,
                    &format!("an add needs an integer, found {}", o.input),
                )
            }),
            _ => Ok(0),
        })
        .collect()
}

fn read_value(history: &History, i: usize) -> Result<i128, String> {
    let o = &history.ops[i];
    o.output.as_i64().map(i128::from).ok_or_else(|| {
        shape_error(
            history,
            o,
            &format!(
                "an ok read of a counter returns an integer, found {}",
                o.output
            ),
        )
    })
}
