//! When faults start and stop. A schedule is computed up front from the seed, so it is part of a
//! run's record and the same seed replays the same faults at the same moments.
//!
//! Faults alternate with quiet: a round of faults for about `interval`, then about half that
//! of quiet for the cluster to recover (long enough for an election and a catch-up, short
//! enough that a 30 s run sees three or four rounds), each period jittered by ±25%. Kinds are dealt like cards: every listed kind once,
//! in a shuffled order, then a new shuffle — so a run long enough for k rounds sees every one of
//! k kinds. A round is one of:
//! - a single fault; a kill round is kills one after another (`kill-restart`), since what a
//!   kill tests is the restart;
//! - two faults of different kinds in force together (`together`), when two or more kinds are
//!   asked for. With a clock and partitions among them the pair is aimed (`deposed-clock`): the
//!   leader is cut off first, and then its clock goes back 2–30 s — a deposed leader
//!   whose clock says its lease still runs — a few times over while the round lasts. A clock
//!   round is always aimed so when partitions are allowed;
//! - when both partition and kill are asked for (a pair of them is always a stale candidate), a
//!   sequence known to break Raft, dealt from a deck of four in which the stale candidate is
//!   twice: the paper's
//!   Figure 8 (`figure-8`: the leader isolated, a new one elected, that one killed, the old one
//!   back and isolated again), leader churn (`leader-churn`: the leader killed, and its successor
//!   killed the moment it is back, several times in a row), or a stale candidate
//!   (`stale-candidate`: a follower cut off while the others commit, then back as the leader is
//!   killed, so that the node that missed the commits stands for election), each step a fraction
//!   of a second to seconds.
//!
//! The last round stops before the time limit, so the main phase always ends healed.

use crate::fault::{ClockChange, FaultKind, Plan, Shape, Who};
use base::Rng;
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
    /// The round's pattern, when it is not a single fault: `together`, `kill-restart`,
    /// `figure-8`, `leader-churn`, `stale-candidate`.
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
    let quiet = |rng: &mut Rng| jittered(rng) / 2;
    let mut t = quiet(rng);
    // The first deal: every kind once, its rounds (and the quiet between them) squeezed to fit
    // the run when they would not — never below half their length: a shorter fault tests
    // little, and a kind left without a round is said by [`unscheduled`].
    let mut first: Vec<(Duration, Duration)> = (0..kinds.len())
        .map(|_| (jittered(rng), quiet(rng)))
        .collect();
    let wanted: Duration = first.iter().map(|(l, q)| *l + *q).sum::<Duration>()
        - first.last().map_or(Duration::ZERO, |f| f.1);
    let room = time_limit.saturating_sub(t + Duration::from_millis(500));
    if wanted > room {
        // A hair under, so that rounding never pushes the last round out.
        let squeeze = (0.999 * room.as_secs_f64() / wanted.as_secs_f64()).max(0.5);
        for (l, q) in &mut first {
            *l = l.mul_f64(squeeze);
            *q = q.mul_f64(squeeze);
        }
    }
    first.reverse();
    let mut deck: Vec<FaultKind> = Vec::new();
    // The Raft sequences are dealt like the kinds, so a run sees each of them.
    let mut raft_deck: Vec<u64> = Vec::new();
    loop {
        let (length, pause) = first.pop().unwrap_or_else(|| (jittered(rng), quiet(rng)));
        // Leave a moment after the stop so the last fault's healing is inside the main phase.
        if t + length + Duration::from_millis(500) > time_limit {
            break;
        }
        if deck.is_empty() {
            deck = kinds.to_vec();
            rng.shuffle(&mut deck);
        }
        let kind = deck.pop().expect("refilled");
        steps.extend(round(&draw, kind, t, length, rng, &mut raft_deck));
        t += length + pause;
    }
    steps
}

/// The kinds asked for that no round of `steps` starts, in the order asked.
pub fn unscheduled(kinds: &[FaultKind], steps: &[Step]) -> Vec<FaultKind> {
    kinds
        .iter()
        .copied()
        .filter(|&k| {
            !steps
                .iter()
                .any(|s| matches!(&s.action, Action::Start { plan } if plan.kind() == k))
        })
        .collect()
}

/// The shortest `--time-limit`, in whole seconds, whose schedule deals each of `kinds` a round
/// at `interval` (the first deal squeezed to half length at most, with room for jitter).
pub fn time_for_every_kind(kinds: usize, interval: Duration) -> u64 {
    // A round and its quiet take at most 1.875 intervals (±25% jitter), half that once
    // squeezed; the quiet before the first at most 0.625 intervals; 0.5 s is left after the
    // last.
    let per_round = 1.875 * 0.5;
    (interval.as_secs_f64() * (0.625 + per_round * kinds as f64) + 0.5).ceil() as u64
}

/// A step applying `plan` at `at`.
fn start(at: Duration, plan: Plan, pattern: Option<&'static str>) -> Step {
    Step {
        at,
        action: Action::Start { plan },
        pattern,
    }
}

/// A step undoing every fault in force at `at`.
fn stop(at: Duration, pattern: Option<&'static str>) -> Step {
    Step {
        at,
        action: Action::Stop,
        pattern,
    }
}

/// One round of faults of `kind` starting at `t` and healed by `t + length`: a pattern when one
/// is drawn and has room for a fault of `kind` in the round, else the plain fault — so that no
/// kind dealt is lost to a pattern too long for a short round.
fn round(
    d: &Draw,
    kind: FaultKind,
    t: Duration,
    length: Duration,
    rng: &mut Rng,
    raft_deck: &mut Vec<u64>,
) -> Vec<Step> {
    let steps = pattern_round(d, kind, t, length, rng, raft_deck);
    let has_kind = steps
        .iter()
        .any(|s| matches!(&s.action, Action::Start { plan } if plan.kind() == kind));
    if has_kind {
        return steps;
    }
    plain(d, kind, t, length, rng)
}

/// The fault of `kind` alone for the round (a kill round: kills one after another).
fn plain(d: &Draw, kind: FaultKind, t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    if kind == FaultKind::Kill {
        return kill_restart(d, t, length, rng);
    }
    if kind == FaultKind::Membership {
        return membership_churn(d, t, length, rng);
    }
    let plan = Plan::random(kind, d.shapes, d.nodes, rng);
    vec![start(t, plan, None), stop(t + length, None)]
}

/// A round as drawn: a Raft sequence, an aimed or random pair, or the plain fault.
fn pattern_round(
    d: &Draw,
    kind: FaultKind,
    t: Duration,
    length: Duration,
    rng: &mut Rng,
    raft_deck: &mut Vec<u64>,
) -> Vec<Step> {
    let raft_breaker = d.kinds.contains(&FaultKind::Partition)
        && d.kinds.contains(&FaultKind::Kill)
        && d.nodes >= 3;
    let others: Vec<FaultKind> = d.kinds.iter().copied().filter(|k| *k != kind).collect();
    if kind == FaultKind::Membership
        && d.kinds.contains(&FaultKind::Partition)
        && d.shapes.contains(&Shape::IsolateLeader)
        && rng.chance(0.6)
    {
        return change_in_flight(d, t, length, rng);
    }
    if raft_breaker && matches!(kind, FaultKind::Partition | FaultKind::Kill) && rng.chance(0.6) {
        if raft_deck.is_empty() {
            // The stale candidate twice: it is the sequence whose every repetition gives a stale
            // log its best chance to win, and leader churn rarely does (the node just restarted
            // has the lowest term).
            *raft_deck = vec![0, 1, 2, 2];
            rng.shuffle(raft_deck);
        }
        return match raft_deck.pop().expect("refilled") {
            0 => figure_eight(t, length, rng),
            1 => leader_churn(t, length, rng),
            _ => stale_candidate(t, length, rng),
        };
    }
    // Only a partition deposes a leader that can still answer (a paused one answers nothing).
    let can_depose = d.kinds.contains(&FaultKind::Partition);
    let clock_pair = kind == FaultKind::Clock && can_depose;
    let to_clock = kind != FaultKind::Clock && can_depose && others.contains(&FaultKind::Clock);
    let p = if clock_pair {
        1.0
    } else if (to_clock && kind == FaultKind::Partition) || raft_breaker {
        0.5
    } else {
        0.3
    };
    // Two process or clock faults could meet on one node (a pause of a killed node, a clock
    // read from a paused one): a pair always has a partition in it.
    let partners: Vec<FaultKind> = if kind == FaultKind::Partition {
        others.clone()
    } else {
        others
            .iter()
            .copied()
            .filter(|k| *k == FaultKind::Partition)
            .collect()
    };
    if !partners.is_empty() && rng.chance(p) {
        // A partition round may become the aimed clock pair; a pause or kill round keeps its
        // own kind (or every pause could be dealt away).
        if clock_pair || (to_clock && kind == FaultKind::Partition && rng.chance(0.5)) {
            return deposed_clock(d, t, length, rng);
        }
        let other = *rng.pick(&partners);
        // A partition and a kill together are aimed too: at a stale log standing for election.
        if raft_breaker
            && matches!(
                (kind, other),
                (FaultKind::Partition, FaultKind::Kill) | (FaultKind::Kill, FaultKind::Partition)
            )
        {
            return stale_candidate(t, length, rng);
        }
        let a = Plan::random(kind, d.shapes, d.nodes, rng);
        let b = Plan::random(other, d.shapes, d.nodes, rng);
        let tag = Some("together");
        let second = t + (length / 4).min(Duration::from_millis(500));
        return vec![
            start(t, a, tag),
            start(second, b, tag),
            stop(t + length, tag),
        ];
    }
    plain(d, kind, t, length, rng)
}

/// Kills one after another while the round lasts, the victims drawn afresh each time: down for
/// 0.5–1.5 s, then up for 1–2 s — time for an election and for clients to write again, so the
/// next kill has something to lose. What a kill tests is the restart, so a round holds several.
fn kill_restart(d: &Draw, t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let pace = Pace {
        on: (500, 1_500),
        off: (1_000, 2_000),
    };
    let plan = |rng: &mut Rng| Plan::random(FaultKind::Kill, d.shapes, d.nodes, rng);
    let steps = sequence(t, length, rng, "kill-restart", pace, |_, rng| plan(rng));
    if !steps.is_empty() {
        return steps;
    }
    // A round too short for the pace: one kill for all of it.
    vec![start(t, plan(rng), None), stop(t + length, None)]
}

/// The leader cut off and, 50 ms later — while its lease, a fraction of a second, still runs —
/// its clock turned back, for 4–6 s, then healed for 0.5–1 s; and again while the round lasts,
/// each time on whoever leads then, so that a leader elected a moment before (with no lease yet)
/// is not the round's only chance. Seconds, because a stale read needs all of it: the others
/// elect a leader, clients give up on the deposed one (a write there hangs until it times out)
/// and write through the new one, and a client still bound to the deposed leader reads there —
/// between its own writes, each of which waits a second for its timeout.
fn deposed_clock(d: &Draw, t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let tag = Some("deposed-clock");
    let ms = Duration::from_millis;
    let end = t + length;
    let mut steps = Vec::new();
    let mut at = t;
    loop {
        let on = ms(4_000 + rng.below(2_000)).min(end - at);
        // The first always fits, however short the round.
        if !steps.is_empty() && on < ms(3_000) {
            break;
        }
        let (cut, clock) = deposed_leader_clock(d, rng);
        steps.push(start(at, cut, tag));
        steps.push(start(at + (on / 4).min(ms(50)), clock, tag));
        steps.push(stop(at + on, tag));
        at += on + ms(500 + rng.below(500));
        if at >= end {
            break;
        }
    }
    steps
}

/// The leader cut off, and then its clock turned back by seconds: a leader
/// deposed while its own clock says its lease is still good.
fn deposed_leader_clock(d: &Draw, rng: &mut Rng) -> (Plan, Plan) {
    let shape = if d.shapes.contains(&Shape::IsolateLeader) {
        Shape::IsolateLeader
    } else {
        *rng.pick(d.shapes)
    };
    let first = Plan::Partition { shape };
    // Always back, and by seconds: a lease is measured from when it was granted, so only a
    // clock behind that moment stretches it, and a strobe (half the time at the right time, by
    // at most its delta) stretches it too little to matter. Strobes stay among random clock
    // faults.
    let change = ClockChange::Bump {
        ms: -(2_000 + rng.below(28_000) as i64),
    };
    (
        first,
        Plan::Clock {
            who: Who::Deposed,
            change,
        },
    )
}

/// A node that does not lead cut off for 1.5–2.5 s while the rest commit (its term climbing as
/// it stands for election alone); then, together, the network healed and the leader killed
/// (5 ms apart: too soon for the leader to catch it up), and the leader restarted 1–1.5 s later.
/// The election in between is between the node that missed the commits, with the highest term,
/// and nodes that hold them; restarting the leader at once would give them its vote. Repeated
/// while the round lasts, 0.5–1 s apart. Empty when the round is too short for one (the round
/// is then the plain fault).
fn stale_candidate(t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let tag = Some("stale-candidate");
    let cut = Plan::Partition {
        shape: Shape::IsolateFollower,
    };
    let ms = Duration::from_millis;
    let end = t + length;
    let mut steps = Vec::new();
    let mut at = t;
    loop {
        let back = at + ms(1_500 + rng.below(1_000));
        let kill = back + ms(5);
        let restart = kill + ms(1_000 + rng.below(500));
        if restart > end {
            break;
        }
        steps.push(start(at, cut.clone(), tag));
        steps.push(stop(back, tag));
        steps.push(start(kill, Plan::Kill { who: Who::Leader }, tag));
        steps.push(stop(restart, tag));
        at = restart + ms(500 + rng.below(500));
    }
    steps
}

/// Nodes removed and added back, again and again while the round lasts (out 1–2 s, back for
/// 0.5–1 s): each change is one server at a time, and a cluster of 5 goes 5 → 4 → 3 and back.
fn membership_churn(d: &Draw, t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let pace = Pace {
        on: (1_000, 2_000),
        off: (500, 1_000),
    };
    let plan = |rng: &mut Rng| Plan::random(FaultKind::Membership, d.shapes, d.nodes, rng);
    let steps = sequence(t, length, rng, "membership-churn", pace, |_, rng| plan(rng));
    if !steps.is_empty() {
        return steps;
    }
    vec![start(t, plan(rng), None), stop(t + length, None)]
}

/// The trap of single-server changes (Ongaro, 2015), which a new leader's no-op closes: nodes
/// removed, then added back — the leader promotes each once it has caught up — and 1–10 ms
/// after the add, while the promotion may have reached only some nodes, the leader is cut off;
/// 1–20 ms later another removal is asked for, which the operator keeps asking of whoever leads
/// until one takes it: a leader elected without the promotion, before its no-op commits, must
/// refuse it. Healed 1–2 s after the cut, then 0.5–1 s quiet, and again while the round lasts.
fn change_in_flight(d: &Draw, t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let tag = Some("change-in-flight");
    let ms = Duration::from_millis;
    let change = |rng: &mut Rng| Plan::random(FaultKind::Membership, d.shapes, d.nodes, rng);
    let end = t + length;
    let mut steps = Vec::new();
    let mut at = t;
    loop {
        let back = at + ms(600 + rng.below(600));
        let cut = back + ms(1 + rng.below(10));
        let next = cut + ms(1 + rng.below(20));
        let heal = cut + ms(1_000 + rng.below(1_000));
        if heal > end {
            break;
        }
        steps.push(start(at, change(rng), tag));
        steps.push(stop(back, tag));
        // The leader alone, or a random cut that may leave the newcomer on the leader's side.
        let shape = if rng.chance(0.5) {
            Shape::IsolateLeader
        } else {
            Shape::RandomHalves
        };
        steps.push(start(cut, Plan::Partition { shape }, tag));
        steps.push(start(next, change(rng), tag));
        steps.push(stop(heal, tag));
        at = heal + ms(500 + rng.below(500));
    }
    steps
}

/// How long each fault of a sequence lasts and how long the cluster is healed between, as
/// ranges in milliseconds.
struct Pace {
    on: (u64, u64),
    off: (u64, u64),
}

/// The raft sequences' pace: faults of 0.4–1 s with 0.2–0.5 s healed between.
const BRISK: Pace = Pace {
    on: (400, 1_000),
    off: (200, 500),
};

/// Faults one after another from `t` until `t + length`, the `i`th being `plans(i, rng)`.
fn sequence(
    t: Duration,
    length: Duration,
    rng: &mut Rng,
    pattern: &'static str,
    pace: Pace,
    mut plans: impl FnMut(usize, &mut Rng) -> Plan,
) -> Vec<Step> {
    let within =
        |rng: &mut Rng, (lo, hi): (u64, u64)| Duration::from_millis(lo + rng.below(hi - lo));
    let mut steps = Vec::new();
    let mut at = t;
    let end = t + length;
    for i in 0.. {
        let on = within(rng, pace.on);
        if at + on > end || (i > 0 && at + on + Duration::from_millis(pace.off.0) > end) {
            break;
        }
        steps.push(start(at, plans(i, rng), Some(pattern)));
        at += on;
        steps.push(stop(at, Some(pattern)));
        at += within(rng, pace.off);
    }
    steps
}

/// The leader cut off (it keeps appending what clients send it), a new leader elected and then
/// killed, the old leader back and cut off again: the interleavings of the Raft paper's
/// Figure 8, where entries of old terms are replicated to a majority and must not count.
fn figure_eight(t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    sequence(t, length, rng, "figure-8", BRISK, |i, _| {
        if i % 2 == 0 {
            Plan::Partition {
                shape: Shape::IsolateLeader,
            }
        } else {
            Plan::Kill { who: Who::Leader }
        }
    })
}

/// The leader killed, and the moment it is back (20–80 ms), the leader elected meanwhile killed
/// too, again and again: every restart an election in which the node just restarted, which missed
/// what its successor committed, stands against nodes that hold it.
fn leader_churn(t: Duration, length: Duration, rng: &mut Rng) -> Vec<Step> {
    let pace = Pace {
        on: BRISK.on,
        off: (20, 80),
    };
    sequence(t, length, rng, "leader-churn", pace, |_, _| Plan::Kill {
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
        let used = kinds_used(&steps);
        assert_eq!(used.len(), kinds.len(), "every kind is dealt: {used:?}");
    }

    /// The kinds of the faults a schedule starts.
    fn kinds_used(steps: &[Step]) -> std::collections::BTreeSet<FaultKind> {
        steps
            .iter()
            .filter_map(|s| match &s.action {
                Action::Start { plan } => Some(plan.kind()),
                Action::Stop => None,
            })
            .collect()
    }

    #[test]
    fn a_change_in_flight_is_a_change_healed_then_the_leader_cut_and_another_change() {
        let steps = schedule(
            &[FaultKind::Membership, FaultKind::Partition],
            &Shape::ALL,
            5,
            Duration::from_secs(5),
            Duration::from_secs(300),
            &mut Rng::new(2),
        );
        let round: Vec<String> = steps
            .iter()
            .skip_while(|s| s.pattern != Some("change-in-flight"))
            .take(5)
            .map(|s| match &s.action {
                Action::Start { plan } => plan.kind().to_string(),
                Action::Stop => "stop".into(),
            })
            .collect();
        assert_eq!(
            round,
            ["membership", "stop", "partition", "membership", "stop"]
        );
        // Changes also come alone, again and again while a round lasts.
        assert!(steps.iter().any(|s| s.pattern == Some("membership-churn")));
    }

    #[test]
    fn every_kind_dealt_is_in_the_schedule_whatever_the_seed() {
        // Ten seconds of one-second rounds: at least five rounds, so each of five kinds is
        // dealt; aiming a round must never deal a kind away.
        for seed in 0..300 {
            let steps = schedule(
                &FaultKind::ALL,
                &Shape::ALL,
                3,
                Duration::from_secs(1),
                Duration::from_secs(10),
                &mut Rng::new(seed),
            );
            let used = kinds_used(&steps);
            assert_eq!(used.len(), FaultKind::ALL.len(), "seed {seed}: {used:?}");
        }
    }

    #[test]
    fn a_run_long_enough_deals_every_kind_and_a_shorter_one_says_which_it_left_out() {
        // The default run (30 s, rounds of 5 s) with every kind: five rounds, squeezed in.
        for seed in 0..300 {
            let steps = schedule(
                &FaultKind::ALL,
                &Shape::ALL,
                5,
                Duration::from_secs(5),
                Duration::from_secs(30),
                &mut Rng::new(seed),
            );
            assert_eq!(unscheduled(&FaultKind::ALL, &steps), [], "seed {seed}");
        }
        // The time said to be enough is enough, whatever the interval and the kinds.
        for seed in 0..300u64 {
            let kinds = &FaultKind::ALL[..1 + (seed as usize % FaultKind::ALL.len())];
            let interval = Duration::from_millis(500 + 250 * (seed % 37));
            let limit = time_for_every_kind(kinds.len(), interval);
            let steps = schedule(
                kinds,
                &Shape::ALL,
                5,
                interval,
                Duration::from_secs(limit),
                &mut Rng::new(seed),
            );
            assert_eq!(unscheduled(kinds, &steps), [], "seed {seed}, {limit} s");
        }
        // Too short for five rounds: some kinds get none, and they are named.
        let steps = schedule(
            &FaultKind::ALL,
            &Shape::ALL,
            5,
            Duration::from_secs(5),
            Duration::from_secs(12),
            &mut Rng::new(1),
        );
        let left = unscheduled(&FaultKind::ALL, &steps);
        assert!(!left.is_empty());
        assert_eq!(left.len() + kinds_used(&steps).len(), FaultKind::ALL.len());
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
            [
                "change-in-flight",
                "deposed-clock",
                "figure-8",
                "kill-restart",
                "leader-churn",
                "membership-churn",
                "stale-candidate",
                "together"
            ]
        );
        // A kill round kills again after a restart, often.
        let kills = steps
            .iter()
            .filter(|s| s.pattern == Some("kill-restart"))
            .filter(|s| matches!(s.action, Action::Start { .. }))
            .count();
        let rounds = steps
            .windows(2)
            .filter(|w| {
                w[1].pattern == Some("kill-restart") && w[0].pattern != Some("kill-restart")
            })
            .count();
        assert!(
            rounds > 0 && kills > rounds,
            "{kills} kills in {rounds} rounds"
        );
        // A clock round is the leader cut off, then its clock turned back or strobing.
        for pair in steps.windows(2) {
            if let (Action::Start { plan: a }, Action::Start { plan: b }) =
                (&pair[0].action, &pair[1].action)
            {
                if b.kind() == FaultKind::Clock || a.kind() == FaultKind::Clock {
                    assert!(
                        a.kind() != FaultKind::Clock,
                        "the clock goes second: {a} / {b}"
                    );
                }
            }
        }
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
