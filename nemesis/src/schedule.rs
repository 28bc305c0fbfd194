//! When faults start and stop. A schedule is computed up front from the seed, so it is part of a
//! run's record and the same seed replays the same faults at the same moments.
//!
//! Faults alternate with quiet: about `interval` of quiet, then a fault for about `interval`,
//! each period jittered by ±25%. Kinds are dealt like cards: every listed kind once, in a shuffled
//! order, then a new shuffle — so a run long enough for k faults sees every one of k kinds. The
//! last fault stops before the time limit, so the main phase always ends healed.

use crate::fault::{FaultKind, Plan, Shape};
use checker::generate::Rng;
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    Start { plan: Plan },
    Stop,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Since the start of the main phase.
    #[serde(serialize_with = "as_secs")]
    pub at: Duration,
    #[serde(flatten)]
    pub action: Action,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// The steps of a schedule, in time order; starts and stops alternate, beginning with a start.
pub fn schedule(
    kinds: &[FaultKind],
    shapes: &[Shape],
    nodes: usize,
    interval: Duration,
    time_limit: Duration,
    rng: &mut Rng,
) -> Vec<Step> {
    let mut steps = Vec::new();
    if kinds.is_empty() || interval.is_zero() {
        return steps;
    }
    let jittered = |rng: &mut Rng| interval.mul_f64(0.75 + 0.5 * rng.unit());
    let mut t = jittered(rng);
    let mut deck: Vec<FaultKind> = Vec::new();
    loop {
        let length = jittered(rng);
        // Leave a moment after the stop so the last fault's healing is inside the main phase.
        if t + length + Duration::from_millis(500) > time_limit {
            break;
        }
        if deck.is_empty() {
            deck = kinds.to_vec();
            rng.shuffle(&mut deck);
        }
        let kind = deck.pop().expect("refilled");
        steps.push(Step {
            at: t,
            action: Action::Start {
                plan: Plan::random(kind, shapes, nodes, rng),
            },
        });
        t += length;
        steps.push(Step {
            at: t,
            action: Action::Stop,
        });
        t += jittered(rng);
    }
    steps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_and_stops_alternate_inside_the_time_limit() {
        let kinds = FaultKind::ALL;
        let limit = Duration::from_secs(60);
        let steps = schedule(
            &kinds,
            &Shape::ALL,
            3,
            Duration::from_secs(5),
            limit,
            &mut Rng::new(9),
        );
        assert!(
            steps.len() >= 8,
            "about six faults a minute: {}",
            steps.len()
        );
        for (i, s) in steps.iter().enumerate() {
            assert_eq!(matches!(s.action, Action::Start { .. }), i % 2 == 0);
            assert!(s.at < limit);
            if i > 0 {
                assert!(s.at > steps[i - 1].at);
            }
        }
        let used: std::collections::BTreeSet<FaultKind> = steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Start { plan } => Some(plan.kind()),
                Action::Stop => None,
            })
            .collect();
        assert_eq!(used.len(), 4, "every kind is dealt: {used:?}");
    }

    #[test]
    fn no_kinds_means_no_faults() {
        let steps = schedule(
            &[],
            &Shape::ALL,
            3,
            Duration::from_secs(1),
            Duration::from_secs(30),
            &mut Rng::new(1),
        );
        assert!(steps.is_empty());
    }
}
