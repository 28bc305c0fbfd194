//! When faults start and stop. A schedule is computed up front from the seed, so it is part of a
//! run's record and the same seed replays the same faults at the same moments.
//!
//! Faults alternate with quiet: about `interval` of quiet, then a round of faults for about
//! `interval`, each period jittered by ±25%. Kinds are dealt like cards: every listed kind once,
//! in a shuffled order, then a new shuffle — so a run long enough for k rounds sees every one of
//! k kinds. A round is one of:
//! - a single fault;
//! - two faults of different kinds in force together (`together`: a clock skewed and then the
//!   network cut, a pause during a partition), when two or more kinds are asked for;
//! - when both partition and kill are asked for, a sequence known to break Raft: the paper's
//!   Figure 8 (`figure-8`: the leader isolated, a new one elected, that one killed, the old one
//!   back and isolated again) or leader churn (`leader-churn`: the leader killed and restarted
//!   several times in a row), each step a fraction of a second.
//!
//! The last round stops before the time limit, so the main phase always ends healed.

use crate::fault::{FaultKind, Plan, Shape, Who};
use checker::generate::Rng;
use serde::Serialize;
use std::time::Duration;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "action")]
pub enum Action {
    /// Apply a fault beside any in force.
    Start { plan: Plan },
    /// Undo every fault in force.
    Stop,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Step {
    /// Since the start of the main phase.
    #[serde(serialize_with = "as_secs")]
    pub at: Duration,
    #[serde(flatten)]
    pub action: Action,
    /// The round's pattern, when it is not a single fault: `together`, `figure-8`,
    /// `leader-churn`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pattern: Option<&'static str>,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

/// What a schedule is drawn from.
struct Draw<'a> {
    kinds: &'a [FaultKind],
    shapes: &'a [Shape],
    nodes: usize,
}

/// The steps of a schedule, in time order. Every round begins with a start and ends with a
/// stop that undoes everything it started.
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
    let draw = Draw {
        kinds,
        shapes,
        nodes,
    };
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
        steps.extend(round(&draw, kind, t, length, rng));
        t += length + jittered(rng);
    }
    steps
}

/// One round of faults starting at `t` and healed by `t + length`.
fn round(d: &Draw, kind: FaultKind, t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let raft_breaker = d.kinds.contains(&FaultKind::Partition)
        && d.kinds.contains(&FaultKind::Kill)
        && d.nodes >= 3;
    let others: Vec<FaultKind> = d.kinds.iter().copied().filter(|k| *k != kind).collect();
    if raft_breaker && matches!(kind, FaultKind::Partition | FaultKind::Kill) && rng.chance(0.4) {
        return if rng.chance(0.5) {
            figure_eight(t, length, rng)
        } else {
            leader_churn(t, length, rng)
        };
    }
    let start = |at, plan, pattern| Step {
        at,
        action: Action::Start { plan },
        pattern,
    };
    let stop = |at, pattern| Step {
        at,
        action: Action::Stop,
        pattern,
    };
    if !others.is_empty() && rng.chance(0.3) {
        let other = *rng.pick(&others);
        // A clock goes wrong first, then the network: a leader whose lease runs on a slow
        // clock, cut off while a new leader takes over.
        let (a, b) = if other == FaultKind::Clock {
            (other, kind)
        } else {
            (kind, other)
        };
        let tag = Some("together");
        let second = t + (length / 4).min(Duration::from_millis(500));
        return vec![
            start(t, Plan::random(a, d.shapes, d.nodes, rng), tag),
            start(second, Plan::random(b, d.shapes, d.nodes, rng), tag),
            stop(t + length, tag),
        ];
    }
    vec![
        start(t, Plan::random(kind, d.shapes, d.nodes, rng), None),
        stop(t + length, None),
    ]
}

/// Short faults one after another from `t` until `t + length`, each `plans(i)` lasting 0.4–1 s
/// with 0.2–0.5 s healed between.
fn sequence(
    t: Duration,
    length: Duration,
    rng: &mut Rng,
    pattern: &'static str,
    plans: impl Fn(usize) -> Plan,
) -> Vec<Step> {
    let mut steps = Vec::new();
    let mut at = t;
    let end = t + length;
    for i in 0.. {
        let on = Duration::from_millis(400 + rng.below(600));
        if at + on > end || (i > 0 && at + on + Duration::from_millis(200) > end) {
            break;
        }
        steps.push(Step {
            at,
            action: Action::Start { plan: plans(i) },
            pattern: Some(pattern),
        });
        at += on;
        steps.push(Step {
            at,
            action: Action::Stop,
            pattern: Some(pattern),
        });
        at += Duration::from_millis(200 + rng.below(300));
    }
    steps
}

/// The leader cut off (it keeps appending what clients send it), a new leader elected and then
/// killed, the old leader back and cut off again: the interleavings of the Raft paper's
/// Figure 8, where entries of old terms are replicated to a majority and must not count.
fn figure_eight(t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    sequence(t, length, rng, "figure-8", |i| {
        if i % 2 == 0 {
            Plan::Partition {
                shape: Shape::IsolateLeader,
            }
        } else {
            Plan::Kill { who: Who::Leader }
        }
    })
}

/// The leader killed and restarted again and again: every restart an election, and with it a
/// chance for a stale log to win.
fn leader_churn(t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    sequence(t, length, rng, "leader-churn", |_| Plan::Kill {
        who: Who::Leader,
    })
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
        let mut in_force = 0;
        for (i, s) in steps.iter().enumerate() {
            match s.action {
                Action::Start { .. } => in_force += 1,
                Action::Stop => {
                    assert!(in_force > 0, "a stop undoes something");
                    in_force = 0;
                }
            }
            assert!(in_force <= 2, "at most two faults at once");
            assert!(s.at < limit);
            if i > 0 {
                assert!(s.at > steps[i - 1].at);
            }
        }
        assert_eq!(in_force, 0, "the schedule ends healed");
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
    fn rounds_compose_faults_and_replay_the_sequences_that_break_raft() {
        let limit = Duration::from_secs(600);
        let steps = schedule(
            &FaultKind::ALL,
            &Shape::ALL,
            5,
            Duration::from_secs(5),
            limit,
            &mut Rng::new(3),
        );
        let patterns: std::collections::BTreeSet<&str> =
            steps.iter().filter_map(|s| s.pattern).collect();
        assert_eq!(
            patterns.into_iter().collect::<Vec<_>>(),
            ["figure-8", "leader-churn", "together"]
        );
        // Figure 8 alternates cutting the leader off and killing it.
        let fig8: Vec<String> = steps
            .iter()
            .filter(|s| s.pattern == Some("figure-8"))
            .filter_map(|s| match &s.action {
                Action::Start { plan } => Some(plan.to_string()),
                Action::Stop => None,
            })
            .take(2)
            .collect();
        assert_eq!(fig8, ["partition (isolate-leader)", "kill the leader"]);
        let again = schedule(
            &FaultKind::ALL,
            &Shape::ALL,
            5,
            Duration::from_secs(5),
            limit,
            &mut Rng::new(3),
        );
        assert_eq!(steps, again, "the seed replays the schedule");
        // Without kill, no Raft sequences; with one kind, nothing together.
        let only = schedule(
            &[FaultKind::Pause],
            &Shape::ALL,
            5,
            Duration::from_secs(5),
            limit,
            &mut Rng::new(3),
        );
        assert!(only.iter().all(|s| s.pattern.is_none()));
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
