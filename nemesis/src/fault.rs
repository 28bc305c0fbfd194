//! Faults as nouns: what a partition, a pause, a kill or a clock change is, before any mechanism
//! applies it. A [`Plan`] is what the schedule decided (which shape, which node, how far); the
//! nemesis resolves what only the running cluster knows (who leads) when it applies the plan.

use base::Rng;
use serde::Serialize;
use std::collections::BTreeSet;
use std::fmt;

/// The kinds of fault `--nemesis` can list.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum FaultKind {
    Partition,
    Pause,
    Kill,
    Clock,
    /// Nodes leave the configuration one at a time and come back (one server at a time).
    Membership,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Partition,
        FaultKind::Pause,
        FaultKind::Kill,
        FaultKind::Clock,
        FaultKind::Membership,
    ];

    pub fn name(self) -> &'static str {
        match self {
            FaultKind::Partition => "partition",
            FaultKind::Pause => "pause",
            FaultKind::Kill => "kill",
            FaultKind::Clock => "clock",
            FaultKind::Membership => "membership",
        }
    }
}

impl std::str::FromStr for FaultKind {
    type Err = String;
    fn from_str(s: &str) -> Result<FaultKind, String> {
        FaultKind::ALL
            .into_iter()
            .find(|k| k.name() == s)
            .ok_or_else(|| {
                format!("unknown fault {s:?}; expected partition, pause, kill, clock or membership")
            })
    }
}

impl fmt::Display for FaultKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Partition shapes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Shape {
    /// The first ⌊n/2⌋ nodes against the rest.
    Halves,
    /// Halves of a random permutation.
    RandomHalves,
    /// One random node alone.
    IsolateOne,
    /// Every node sees a majority, and no two nodes see the same one.
    MajoritiesRing,
    /// Two halves that cannot see each other, joined by one node that sees both.
    Bridge,
    /// Whoever leads right now, alone.
    IsolateLeader,
    /// One node that does not lead, alone: it falls behind, and its term climbs as it stands
    /// for election again and again.
    IsolateFollower,
}

impl Shape {
    pub const ALL: [Shape; 7] = [
        Shape::Halves,
        Shape::RandomHalves,
        Shape::IsolateOne,
        Shape::MajoritiesRing,
        Shape::Bridge,
        Shape::IsolateLeader,
        Shape::IsolateFollower,
    ];
}

impl Shape {
    pub fn name(self) -> &'static str {
        match self {
            Shape::Halves => "halves",
            Shape::RandomHalves => "random-halves",
            Shape::IsolateOne => "isolate-one",
            Shape::MajoritiesRing => "majorities-ring",
            Shape::Bridge => "bridge",
            Shape::IsolateLeader => "isolate-leader",
            Shape::IsolateFollower => "isolate-follower",
        }
    }
}

impl std::str::FromStr for Shape {
    type Err = String;
    fn from_str(s: &str) -> Result<Shape, String> {
        Shape::ALL.into_iter().find(|k| k.name() == s).ok_or_else(|| {
            format!("unknown partition shape {s:?}; expected halves, random-halves, isolate-one, majorities-ring, bridge, isolate-leader or isolate-follower")
        })
    }
}

/// Who refuses to hear from whom: `hears_not[i]` holds the nodes whose traffic node `i` drops.
/// Grudges are directed; the symmetric shapes simply list both directions.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Grudge {
    hears_not: Vec<BTreeSet<usize>>,
}

impl Grudge {
    /// No grudges among `n` nodes.
    pub fn none(n: usize) -> Grudge {
        Grudge {
            hears_not: vec![BTreeSet::new(); n],
        }
    }

    /// Node `i` hears node `j` exactly when some component holds both.
    pub fn from_components(n: usize, components: &[Vec<usize>]) -> Grudge {
        let mut g = Grudge::none(n);
        for i in 0..n {
            for j in 0..n {
                let together = components.iter().any(|c| c.contains(&i) && c.contains(&j));
                if i != j && !together {
                    g.hears_not[i].insert(j);
                }
            }
        }
        g
    }

    /// Node `i` hears only the nodes in `sees[i]` (itself always).
    pub fn from_views(sees: &[BTreeSet<usize>]) -> Grudge {
        let n = sees.len();
        let mut g = Grudge::none(n);
        for (i, view) in sees.iter().enumerate() {
            for j in (0..n).filter(|j| *j != i && !view.contains(j)) {
                g.hears_not[i].insert(j);
            }
        }
        g
    }

    pub fn len(&self) -> usize {
        self.hears_not.len()
    }

    pub fn is_empty(&self) -> bool {
        self.hears_not.iter().all(BTreeSet::is_empty)
    }

    /// Whether traffic from `from` to `to` is dropped.
    pub fn cuts(&self, from: usize, to: usize) -> bool {
        self.hears_not[to].contains(&from)
    }

    /// The nodes whose traffic node `i` drops.
    pub fn hears_not(&self, i: usize) -> &BTreeSet<usize> {
        &self.hears_not[i]
    }

    /// The grudge of a shape among `n` nodes, random choices drawn from `rng`. `leader` is needed
    /// (and only used) for [`Shape::IsolateLeader`], and avoided by [`Shape::IsolateFollower`].
    pub fn of_shape(shape: Shape, n: usize, rng: &mut Rng, leader: usize) -> Grudge {
        assert!(n >= 2, "a partition needs at least two nodes");
        let mut order: Vec<usize> = (0..n).collect();
        match shape {
            Shape::Halves => {
                let (a, b) = order.split_at(n / 2);
                Grudge::from_components(n, &[a.to_vec(), b.to_vec()])
            }
            Shape::RandomHalves => {
                rng.shuffle(&mut order);
                let (a, b) = order.split_at(n / 2);
                Grudge::from_components(n, &[a.to_vec(), b.to_vec()])
            }
            Shape::IsolateOne | Shape::IsolateLeader | Shape::IsolateFollower => {
                let alone = match shape {
                    Shape::IsolateLeader => leader,
                    Shape::IsolateFollower => (leader + 1 + rng.below(n as u64 - 1) as usize) % n,
                    _ => rng.below(n as u64) as usize,
                };
                let rest = (0..n).filter(|&i| i != alone).collect();
                Grudge::from_components(n, &[vec![alone], rest])
            }
            Shape::MajoritiesRing => {
                rng.shuffle(&mut order);
                let majority = n / 2 + 1;
                // With an even number of others to see, a symmetric ring: each node sees its
                // neighbours on both sides. Otherwise each sees the next `majority - 1` nodes
                // around the ring (a directed grudge).
                let others = majority - 1;
                let mut sees = vec![BTreeSet::new(); n];
                for pos in 0..n {
                    let me = order[pos];
                    sees[me].insert(me);
                    for k in 1..=others {
                        let next = if others.is_multiple_of(2) {
                            let step = k.div_ceil(2);
                            if k % 2 == 1 {
                                (pos + step) % n
                            } else {
                                (pos + n - step) % n
                            }
                        } else {
                            (pos + k) % n
                        };
                        sees[me].insert(order[next]);
                    }
                }
                Grudge::from_views(&sees)
            }
            Shape::Bridge => {
                rng.shuffle(&mut order);
                let bridge = order[0];
                let rest = &order[1..];
                let (a, b) = rest.split_at(rest.len() / 2);
                let mut a = a.to_vec();
                let mut b = b.to_vec();
                a.push(bridge);
                b.push(bridge);
                Grudge::from_components(n, &[a, b])
            }
        }
    }
}

impl fmt::Display for Grudge {
    /// `n1 drops n2,n3; n2 drops n1; …` with 1-based node names, or `none`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .hears_not
            .iter()
            .enumerate()
            .filter(|(_, s)| !s.is_empty())
            .map(|(i, s)| {
                let from: Vec<String> = s.iter().map(|j| format!("n{}", j + 1)).collect();
                format!("n{} drops {}", i + 1, from.join(","))
            })
            .collect();
        if parts.is_empty() {
            f.write_str("none")
        } else {
            f.write_str(&parts.join("; "))
        }
    }
}

/// Which nodes a fault hits. The sets are drawn when the fault starts, from the nemesis's own
/// seeded source, and recorded with what was applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Who {
    Node(usize),
    /// Whoever leads when the fault starts.
    Leader,
    /// A minority (at least one node); the leader is among them half the time.
    Minority,
    /// A majority; the leader is among them half the time it is known (more often than not,
    /// since a majority is most nodes).
    Majority,
    /// Every node: a power loss when killed.
    All,
    /// The leader a fault in force has just cut off or paused (the leader now, if none): the
    /// node that may still believe it leads.
    Deposed,
}

impl Who {
    /// How the target reads in a plan: `n2`, `the leader`, `a minority`.
    pub fn words(self) -> String {
        match self {
            Who::Node(i) => format!("n{}", i + 1),
            Who::Leader => "the leader".into(),
            Who::Minority => "a minority".into(),
            Who::Majority => "a majority".into(),
            Who::All => "every node".into(),
            Who::Deposed => "the deposed leader".into(),
        }
    }

    /// Whom a kill takes: one node, a minority, a majority or every node — each of the sizes
    /// that differ in a cluster of `n` equally likely (for three nodes: one, two or all three),
    /// the one node being the leader three times in five. A kill of every node is a power loss,
    /// the only crash an unsynced disk does not survive; a majority's restart is an election
    /// among nodes that were all down.
    fn kill_victims(n: usize, rng: &mut Rng) -> Who {
        let mut sizes = vec![Who::Leader];
        if (n - 1) / 2 > 1 {
            sizes.push(Who::Minority);
        }
        if n / 2 + 1 < n {
            sizes.push(Who::Majority);
        }
        if n > 1 {
            sizes.push(Who::All);
        }
        match *rng.pick(&sizes) {
            Who::Leader if !rng.chance(0.6) => Who::Node(rng.below(n as u64) as usize),
            who => who,
        }
    }

    /// How many nodes of `n` are a minority (at least one): the most a fault may take while
    /// the rest can still elect and commit.
    pub fn minority(n: usize) -> usize {
        ((n - 1) / 2).max(1)
    }

    /// The nodes this names in a cluster of `n` whose leader (as the nodes say) is `leader` and
    /// whose deposed leader, if a fault in force cut one off, is `deposed`; and how to say why
    /// (`the leader, `). A minority or majority takes the leader half the time it is known.
    pub fn victims(
        self,
        n: usize,
        leader: Option<usize>,
        deposed: Option<usize>,
        rng: &mut Rng,
    ) -> (Vec<usize>, &'static str) {
        // One node is not a minority of anything: say what it is.
        if n == 1 && !matches!(self, Who::Node(_)) {
            return (vec![0], "the only node: ");
        }
        let size = match self {
            Who::Node(i) => return (vec![i % n], ""),
            Who::Leader => {
                return match leader {
                    Some(l) => (vec![l], "the leader, "),
                    None => (vec![rng.below(n as u64) as usize], "no leader known, so "),
                }
            }
            Who::All => return ((0..n).collect(), "every node: "),
            Who::Deposed => {
                return match deposed {
                    Some(d) => (vec![d], "the deposed leader, "),
                    None => Who::Leader.victims(n, leader, None, rng),
                }
            }
            Who::Minority => Who::minority(n),
            Who::Majority => n / 2 + 1,
        };
        let mut order: Vec<usize> = (0..n).collect();
        rng.shuffle(&mut order);
        if let Some(l) = leader.filter(|_| rng.chance(0.5)) {
            order.retain(|&i| i != l);
            order.insert(0, l);
        }
        order.truncate(size);
        order.sort_unstable();
        let led = leader.is_some_and(|l| order.contains(&l));
        let how = match (self, led) {
            (Who::Minority, true) => "a minority with the leader: ",
            (Who::Minority, false) => "a minority: ",
            (_, true) => "a majority with the leader: ",
            (_, false) => "a majority: ",
        };
        (order, how)
    }

    /// The node a clock fault aimed at `chosen` goes to, among `n` of which `down` says which
    /// are paused or not running (a node that cannot answer cannot report its clock): `chosen`,
    /// else the first node that runs; and how to say so when it moved.
    pub fn clock_node(
        chosen: usize,
        n: usize,
        down: impl Fn(usize) -> bool,
    ) -> (usize, Option<&'static str>) {
        if !down(chosen) {
            return (chosen, None);
        }
        match (0..n).find(|&i| !down(i)) {
            Some(i) => (i, Some("the chosen node is paused or down, so ")),
            None => (chosen, None),
        }
    }

    /// A target drawn with these weights: leader, one node, minority, majority, all.
    fn draw(weights: [f64; 5], n: usize, rng: &mut Rng) -> Who {
        let total: f64 = weights.iter().sum();
        let mut x = rng.unit() * total;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return match i {
                    0 => Who::Leader,
                    1 => Who::Node(rng.below(n as u64) as usize),
                    2 => Who::Minority,
                    3 => Who::Majority,
                    _ => Who::All,
                };
            }
            x -= w;
        }
        Who::Leader
    }
}

/// A change to one node's clock.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "change")]
pub enum ClockChange {
    /// Jump by this many milliseconds (either way).
    Bump { ms: i64 },
    /// Flip between now and now + `delta_ms` every `period_ms` until the fault stops.
    Strobe { delta_ms: i64, period_ms: u64 },
    /// Run at `rate` times real speed (0.5 slow, 2.0 fast).
    Drift { rate: f64 },
}

impl fmt::Display for ClockChange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClockChange::Bump { ms } => write!(f, "bump {ms:+} ms"),
            ClockChange::Strobe {
                delta_ms,
                period_ms,
            } => write!(f, "strobe {delta_ms:+} ms every {period_ms} ms"),
            ClockChange::Drift { rate } => write!(f, "drift x{rate}"),
        }
    }
}

/// A fault as the schedule planned it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "fault")]
pub enum Plan {
    Partition {
        shape: Shape,
    },
    Pause {
        who: Who,
    },
    Kill {
        who: Who,
    },
    /// A clock change on one node, or on the leader (whose lease reads trust its clock).
    Clock {
        who: Who,
        change: ClockChange,
    },
    /// The nodes `who` names leave the configuration one at a time, each removal confirmed by
    /// the target's own member list; undone by adding them back one at a time.
    Membership {
        who: Who,
    },
}

impl Plan {
    pub fn kind(&self) -> FaultKind {
        match self {
            Plan::Partition { .. } => FaultKind::Partition,
            Plan::Pause { .. } => FaultKind::Pause,
            Plan::Kill { .. } => FaultKind::Kill,
            Plan::Clock { .. } => FaultKind::Clock,
            Plan::Membership { .. } => FaultKind::Membership,
        }
    }

    /// A random plan of `kind` for `n` nodes; partitions take one of `shapes`. Targets favour
    /// the leader, where faults hurt most: a kill takes one node (most often the leader), a
    /// minority, a majority or every node at once (see `Who::kill_victims`); a pause takes the leader nearly half the time, for as long as
    /// the fault lasts (seconds: elections take milliseconds); a clock change hits the leader
    /// half the time, a slow or backward clock being what stretches a lease.
    pub fn random(kind: FaultKind, shapes: &[Shape], n: usize, rng: &mut Rng) -> Plan {
        match kind {
            // Cutting the leader off is what deposes it while it still acts as leader: it gets
            // two chances in five when allowed.
            FaultKind::Partition if shapes.contains(&Shape::IsolateLeader) && rng.chance(0.4) => {
                Plan::Partition {
                    shape: Shape::IsolateLeader,
                }
            }
            FaultKind::Partition => Plan::Partition {
                shape: *rng.pick(shapes),
            },
            FaultKind::Pause => Plan::Pause {
                who: Who::draw([0.45, 0.25, 0.2, 0.1, 0.0], n, rng),
            },
            FaultKind::Kill => Plan::Kill {
                who: Who::kill_victims(n, rng),
            },
            FaultKind::Clock => {
                let who = Who::draw([0.5, 0.5, 0.0, 0.0, 0.0], n, rng);
                let sign = if rng.chance(0.5) { 1 } else { -1 };
                let change = match rng.below(3) {
                    0 => ClockChange::Bump {
                        ms: sign * (1_000 + rng.below(59_000) as i64),
                    },
                    1 => ClockChange::Strobe {
                        delta_ms: sign * (200 + rng.below(1_800) as i64),
                        period_ms: 10 + rng.below(90),
                    },
                    _ => ClockChange::Drift {
                        rate: *rng.pick(&[0.25, 0.5, 0.8, 1.25, 2.0, 4.0]),
                    },
                };
                Plan::Clock { who, change }
            }
            // The leader removed is the change that makes it step down; a minority shrinks
            // the cluster as far as it may go (5 -> 4 -> 3).
            FaultKind::Membership => Plan::Membership {
                who: Who::draw([0.4, 0.35, 0.25, 0.0, 0.0], n, rng),
            },
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Plan::Partition { shape } => write!(f, "partition ({})", shape.name()),
            Plan::Pause { who } => write!(f, "pause {}", who.words()),
            Plan::Kill { who } => write!(f, "kill {}", who.words()),
            Plan::Clock { who, change } => write!(f, "clock {} {change}", who.words()),
            Plan::Membership { who } => write!(f, "remove {} from the configuration", who.words()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sees(g: &Grudge, i: usize) -> usize {
        g.len() - g.hears_not(i).len()
    }

    #[test]
    fn halves_cut_both_ways_between_the_halves_only() {
        let g = Grudge::of_shape(Shape::Halves, 5, &mut Rng::new(1), 0);
        assert_eq!(
            g.to_string(),
            "n1 drops n3,n4,n5; n2 drops n3,n4,n5; n3 drops n1,n2; n4 drops n1,n2; n5 drops n1,n2"
        );
        assert!(g.cuts(0, 2) && g.cuts(2, 0) && !g.cuts(0, 1) && !g.cuts(3, 4));
    }

    #[test]
    fn isolating_the_leader_cuts_it_from_everyone() {
        let g = Grudge::of_shape(Shape::IsolateLeader, 3, &mut Rng::new(1), 1);
        assert_eq!(g.to_string(), "n1 drops n2; n2 drops n1,n3; n3 drops n2");
    }

    #[test]
    fn in_a_majorities_ring_every_node_sees_a_different_majority() {
        for n in [3, 4, 5, 6, 7] {
            for seed in 0..20 {
                let g = Grudge::of_shape(Shape::MajoritiesRing, n, &mut Rng::new(seed), 0);
                let views: BTreeSet<Vec<usize>> = (0..n)
                    .map(|i| (0..n).filter(|j| !g.hears_not(i).contains(j)).collect())
                    .collect();
                assert_eq!(views.len(), n, "n={n}: views differ");
                for i in 0..n {
                    assert_eq!(sees(&g, i), n / 2 + 1, "n={n}: node {i} sees a majority");
                }
            }
        }
    }

    #[test]
    fn isolating_a_follower_never_cuts_off_the_leader() {
        for n in [2, 3, 5] {
            let mut alone = BTreeSet::new();
            for seed in 0..40 {
                let g = Grudge::of_shape(Shape::IsolateFollower, n, &mut Rng::new(seed), 1);
                // The node that sees no one but itself and is not the leader's side.
                let cut: Vec<usize> = (0..n)
                    .filter(|&i| sees(&g, i) == 1 && (n > 2 || i != 1))
                    .collect();
                assert_eq!(cut.len(), 1, "n={n}: one node alone");
                assert_ne!(cut[0], 1, "n={n}: not the leader");
                assert_eq!(sees(&g, 1), n - 1, "n={n}: the leader keeps the rest");
                alone.insert(cut[0]);
            }
            assert_eq!(alone.len(), n - 1, "n={n}: any follower may be the one");
        }
    }

    #[test]
    fn a_bridge_node_sees_everyone_and_the_halves_not_each_other() {
        for n in [3, 5, 7] {
            let g = Grudge::of_shape(Shape::Bridge, n, &mut Rng::new(7), 0);
            let bridges: Vec<usize> = (0..n).filter(|&i| sees(&g, i) == n).collect();
            assert_eq!(bridges.len(), 1, "n={n}: one bridge");
            let others: Vec<usize> = (0..n).filter(|&i| i != bridges[0]).collect();
            assert!(others.iter().all(|&i| sees(&g, i) <= n.div_ceil(2)));
        }
    }

    #[test]
    fn random_plans_are_reproducible_from_the_seed() {
        let plans = |seed| {
            let mut rng = Rng::new(seed);
            (0..20)
                .map(|i| Plan::random(FaultKind::ALL[i % 5], &Shape::ALL, 5, &mut rng))
                .collect::<Vec<_>>()
        };
        assert_eq!(plans(3), plans(3));
        assert_ne!(plans(3), plans(4));
    }

    #[test]
    fn a_kill_takes_each_distinct_size_about_equally_often() {
        let share = |n: usize| {
            let mut rng = Rng::new(5);
            let mut counts = std::collections::BTreeMap::<&str, u32>::new();
            for _ in 0..3000 {
                let size = match Who::kill_victims(n, &mut rng) {
                    Who::Leader | Who::Node(_) => "one",
                    Who::Minority => "minority",
                    Who::Majority => "majority",
                    Who::All => "all",
                    Who::Deposed => unreachable!("a kill is not aimed at a deposed leader"),
                };
                *counts.entry(size).or_default() += 1;
            }
            counts
        };
        // Three nodes: a minority is one node, so one, two or three.
        let three = share(3);
        assert_eq!(three.len(), 3, "{three:?}");
        assert!(
            three.values().all(|&c| (850..1150).contains(&c)),
            "{three:?}"
        );
        let five = share(5);
        assert_eq!(five.len(), 4, "{five:?}");
        assert!(five.values().all(|&c| (600..900).contains(&c)), "{five:?}");
        assert_eq!(share(1).into_keys().collect::<Vec<_>>(), ["one"]);
    }
}
