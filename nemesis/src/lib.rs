//! # faultline's nemesis
//!
//! The faults faultline injects, when it injects them, and the real mechanisms that apply and
//! heal them. A fault is recorded as applied only once it is confirmed: a paused process shows
//! `T` in `/proc`, a killed one has been reaped, a partitioned link drops traffic the moment the
//! rule or proxy changes, a node's clock reports the new time through its own status endpoint.
//!
//! It is **not** a launcher of clusters nor a judge of histories: it acts on a running cluster
//! through the small [`Cluster`] trait (pids, kill, restart, who leads, what a node's clock says),
//! and the harness records what it did.
//!
//! ## Rooms
//! - [`fault`]: faults as data — partition shapes and the [`Grudge`] each yields, pause and kill
//!   targets, clock changes (bump, strobe, drift), and the [`Plan`] a schedule holds.
//! - [`schedule`]: start/stop steps drawn from a seed, alternating with quiet.
//! - Mechanisms: [`proxy`] (a TCP proxy per directed link, no privileges), [`netns`] (network
//!   namespaces, a bridge and nftables, as root), [`process`] (signals, `/proc`), [`clock`]
//!   (libfaketime, per node, changeable while the node runs).
//! - [`Nemesis`] turns a plan into mechanism calls and undoes the active fault; [`cleanup`]
//!   records what a killed harness would leave behind so `faultline heal` can remove it.
//!
//! ## Running its tests
//! `cargo test --release -p faultline-nemesis`. The namespace tests need root, `ip` and `nft`;
//! the clock tests need libfaketime. Without them they fail and say what to install.

pub mod cleanup;
pub mod clock;
pub mod fault;
pub mod netns;
pub mod process;
pub mod proxy;
pub mod schedule;

pub use fault::{ClockChange, FaultKind, Grudge, Plan, Shape, Who};

use base::Rng;
use clock::Clocks;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A way of cutting the network between nodes.
pub trait Net: Send {
    /// `proxy` or `netns`.
    fn mechanism(&self) -> &'static str;
    /// Replaces whatever partition is in place by `grudge`.
    fn partition(&mut self, grudge: &Grudge) -> std::io::Result<()>;
    /// Lets all traffic through again.
    fn heal(&mut self) -> std::io::Result<()>;
}

/// What the nemesis needs from a running cluster. Nodes are 0-based.
pub trait Cluster {
    fn size(&self) -> usize;
    /// The node's process id while it runs.
    fn pid(&self, node: usize) -> Option<u32>;
    /// The process id a signal fault is aimed at, or why there is none, in words naming the
    /// node ("n2 is not running", "n2's pid command printed nothing").
    fn pid_or_why(&self, node: usize) -> Result<u32, String> {
        self.pid(node)
            .ok_or_else(|| format!("n{} is not running", node + 1))
    }
    /// Starts every node of `nodes` again, then waits for them together: a service that needs
    /// a quorum to serve cannot come back one node at a time.
    fn restart_all(&mut self, nodes: &[usize]) -> Result<(), String> {
        restart_each(self, nodes)
    }
    /// SIGKILL the node and reap it.
    fn kill(&mut self, node: usize) -> std::io::Result<()>;
    /// Start the node again from its data directory.
    fn restart(&mut self, node: usize) -> std::io::Result<()>;
    /// The node that leads now, as the nodes themselves say.
    fn leader(&self) -> Option<usize>;
    /// The node's wall clock as it reports it, in ms since the epoch.
    fn wall_clock_ms(&self, node: usize) -> Option<f64>;
    /// SIGSTOP the node's process `pid`, confirmed once it shows stopped (locally by default;
    /// on a remote host through the cluster's own channel).
    fn pause(&mut self, node: usize, pid: u32) -> Result<(), String> {
        let _ = node;
        process::pause(pid).map_err(|e| e.to_string())
    }
    /// SIGCONT, confirmed once it no longer shows stopped.
    fn resume(&mut self, node: usize, pid: u32) -> Result<(), String> {
        let _ = node;
        process::resume(pid).map_err(|e| e.to_string())
    }
    /// Whether the node's process `pid` is stopped.
    fn is_paused(&self, node: usize, pid: u32) -> bool {
        let _ = node;
        process::is_stopped(pid)
    }
    /// Removes the node from the configuration through the target's own membership API, and
    /// returns once its member list shows the change committed: how it was confirmed, in words.
    /// The node keeps running, outside the cluster. Unsupported by default.
    fn remove_member(&mut self, node: usize) -> Result<String, String> {
        let _ = node;
        Err("this target has no membership changes".into())
    }
    /// Adds the node back (as a learner, promoted once caught up where the target does so), and
    /// returns once its member list shows it a voter.
    fn add_member(&mut self, node: usize) -> Result<String, String> {
        let _ = node;
        Err("this target has no membership changes".into())
    }
}

/// [`Cluster::restart_all`] for clusters whose nodes come up on their own: each restarted in
/// turn, the first error named.
pub fn restart_each<C: Cluster + ?Sized>(cluster: &mut C, nodes: &[usize]) -> Result<(), String> {
    for &node in nodes {
        cluster
            .restart(node)
            .map_err(|e| format!("restart n{}: {e}", node + 1))?;
    }
    Ok(())
}

/// A network that cannot be cut: the one left after [`Nemesis::close`], or that of a target
/// whose nodes faultline does not place in namespaces of its own.
pub struct Uncut {
    pub mechanism: &'static str,
    /// Why not, for the error a partition gets.
    pub why: &'static str,
}

impl Net for Uncut {
    fn mechanism(&self) -> &'static str {
        self.mechanism
    }
    fn partition(&mut self, _: &Grudge) -> std::io::Result<()> {
        Err(std::io::Error::other(self.why))
    }
    fn heal(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A fault as it was actually applied or undone, for the run's records.
#[derive(Clone, Debug)]
pub struct Applied {
    pub kind: FaultKind,
    /// One line for people: `partition (Bridge): n1 drops n3; …`.
    pub description: String,
    /// The nodes it touched (0-based).
    pub nodes: Vec<usize>,
    /// Mechanism details: grudges, pids, offsets.
    pub detail: Value,
}

/// A fault in force.
enum Active {
    Partition,
    Paused {
        nodes: Vec<(usize, u32)>,
    },
    Killed {
        nodes: Vec<usize>,
    },
    Clock {
        node: usize,
        strobe: Option<Strobe>,
    },
    /// Nodes removed from the configuration, in the order they were.
    Removed {
        nodes: Vec<usize>,
    },
}

impl Active {
    fn kind(&self) -> FaultKind {
        match self {
            Active::Partition => FaultKind::Partition,
            Active::Paused { .. } => FaultKind::Pause,
            Active::Killed { .. } => FaultKind::Kill,
            Active::Clock { .. } => FaultKind::Clock,
            Active::Removed { .. } => FaultKind::Membership,
        }
    }
}

struct Strobe {
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Applies plans to a cluster and undoes them. Faults of different kinds may be in force at
/// once (a partition while a clock is skewed); [`Nemesis::stop`] undoes them all, the last
/// applied first.
pub struct Nemesis {
    net: Box<dyn Net>,
    clocks: Option<Arc<Clocks>>,
    rng: Rng,
    active: Vec<Active>,
    /// The leader the faults in force cut off or paused, for [`Who::Deposed`].
    deposed: Option<usize>,
    /// Nodes this nemesis killed and has not yet restarted: the only ones it ever restarts.
    down: std::collections::BTreeSet<usize>,
}

impl Nemesis {
    pub fn new(net: Box<dyn Net>, clocks: Option<Arc<Clocks>>, rng: Rng) -> Nemesis {
        Nemesis {
            net,
            clocks,
            rng,
            active: Vec::new(),
            deposed: None,
            down: Default::default(),
        }
    }

    pub fn mechanism(&self) -> &'static str {
        self.net.mechanism()
    }

    /// Tears the network mechanism down now (proxies stop, namespaces are deleted) instead of
    /// when the nemesis is dropped. Further partitions fail.
    pub fn close(&mut self) {
        self.active.clear();
        self.net = Box::new(Uncut {
            mechanism: "closed",
            why: "the network mechanism is torn down",
        });
    }

    fn resolve(&mut self, who: Who, cluster: &dyn Cluster) -> (usize, &'static str) {
        let (nodes, how) = self.resolve_set(who, cluster);
        (nodes[0], how)
    }

    /// The nodes `who` names now, and how to say why (`the leader, `).
    fn resolve_set(&mut self, who: Who, cluster: &dyn Cluster) -> (Vec<usize>, &'static str) {
        let leader = match who {
            Who::Node(_) | Who::All => None,
            Who::Deposed if self.deposed.is_some() => None,
            _ => cluster.leader(),
        };
        who.victims(cluster.size(), leader, self.deposed, &mut self.rng)
    }

    /// The node whose clock `who` names, or, when a fault in force has that node paused or
    /// down (it could not report the new time), the first node that runs.
    fn clock_target(&mut self, who: Who, cluster: &dyn Cluster) -> (usize, &'static str) {
        let (node, how) = self.resolve(who, cluster);
        let out: Vec<usize> = self
            .active
            .iter()
            .flat_map(|a| match a {
                Active::Paused { nodes } => nodes.iter().map(|p| p.0).collect(),
                Active::Killed { nodes } => nodes.clone(),
                _ => Vec::new(),
            })
            .collect();
        let (node, moved) = Who::clock_node(node, cluster.size(), |i| out.contains(&i));
        (node, moved.unwrap_or(how))
    }

    /// Whether a fault of `kind` is in force.
    pub fn in_force(&self, kind: FaultKind) -> bool {
        self.active.iter().any(|a| a.kind() == kind)
    }

    /// Applies `plan` beside whatever faults of other kinds are in force (one of the same kind
    /// is undone first). Returns what was confirmed applied.
    pub fn start(&mut self, plan: &Plan, cluster: &mut dyn Cluster) -> Result<Applied, String> {
        if self.in_force(plan.kind()) {
            self.stop(cluster)?;
        }
        let n = cluster.size();
        match *plan {
            Plan::Partition { shape } => {
                let leader = match shape {
                    Shape::IsolateLeader => {
                        let l = self.resolve(Who::Leader, cluster).0;
                        self.deposed = Some(l);
                        l
                    }
                    Shape::IsolateFollower => self.resolve(Who::Leader, cluster).0,
                    _ => 0,
                };
                let grudge = Grudge::of_shape(shape, n, &mut self.rng, leader);
                self.net
                    .partition(&grudge)
                    .map_err(|e| format!("partition: {e}"))?;
                self.active.push(Active::Partition);
                let cut: Vec<usize> = (0..n)
                    .filter(|&i| !grudge.hears_not(i).is_empty())
                    .collect();
                let hears_not: Vec<Vec<usize>> = (0..n)
                    .map(|i| grudge.hears_not(i).iter().copied().collect())
                    .collect();
                Ok(Applied {
                    kind: FaultKind::Partition,
                    description: format!(
                        "partition ({}) via {}: {grudge}",
                        shape.name(),
                        self.mechanism()
                    ),
                    nodes: cut,
                    detail: json!({"shape": shape, "mechanism": self.mechanism(), "hears_not": hears_not}),
                })
            }
            Plan::Pause { who } => self.pause(who, cluster),
            Plan::Kill { who } => self.kill(who, cluster),
            Plan::Membership { who } => self.remove(who, cluster),
            Plan::Clock { who, change } => {
                let clocks = self
                    .clocks
                    .clone()
                    .ok_or("clock faults unavailable: install libfaketime")?;
                let (node, how) = self.clock_target(who, cluster);
                let io = |e: std::io::Error| format!("clock n{}: {e}", node + 1);
                let mut strobe = None;
                match change {
                    ClockChange::Bump { ms } => clocks.bump(node, ms as f64).map_err(io)?,
                    ClockChange::Drift { rate } => clocks.set_rate(node, rate).map_err(io)?,
                    ClockChange::Strobe {
                        delta_ms,
                        period_ms,
                    } => {
                        clocks.bump(node, delta_ms as f64).map_err(io)?;
                        strobe = Some(start_strobe(clocks.clone(), node, delta_ms, period_ms));
                    }
                }
                self.active.push(Active::Clock { node, strobe });
                let skew = confirm_clock(&clocks, cluster, node, change)?;
                Ok(Applied {
                    kind: FaultKind::Clock,
                    description: format!(
                        "clock {how}n{} {change} (node reports {skew:+.0} ms)",
                        node + 1
                    ),
                    nodes: vec![node],
                    detail: json!({"change": change, "reported_skew_ms": skew.round()}),
                })
            }
        }
    }

    /// SIGSTOPs the nodes `who` names; confirmed once each shows stopped.
    fn pause(&mut self, who: Who, cluster: &mut dyn Cluster) -> Result<Applied, String> {
        let (nodes, how) = self.resolve_set(who, cluster);
        if who == Who::Leader {
            self.deposed = nodes.first().copied();
        }
        let mut paused = Vec::new();
        for &node in &nodes {
            let result = cluster
                .pid_or_why(node)
                .map_err(|why| format!("pause: {why}"))
                .and_then(|pid| {
                    cluster
                        .pause(node, pid)
                        .map(|()| pid)
                        .map_err(|e| format!("pause n{}: {e}", node + 1))
                });
            match result {
                Ok(pid) => paused.push((node, pid)),
                Err(e) => {
                    // Leave nothing half done: resume what was paused.
                    for (n, pid) in &paused {
                        let _ = cluster.resume(*n, *pid);
                    }
                    return Err(e);
                }
            }
        }
        let said: Vec<String> = paused
            .iter()
            .map(|(n, pid)| format!("n{} (SIGSTOP pid {pid}, stopped)", n + 1))
            .collect();
        let pids: Vec<u32> = paused.iter().map(|p| p.1).collect();
        self.active.push(Active::Paused {
            nodes: paused.clone(),
        });
        Ok(Applied {
            kind: FaultKind::Pause,
            description: format!("pause {how}{}", said.join(", ")),
            nodes,
            detail: json!({"pids": pids, "signal": "SIGSTOP"}),
        })
    }

    /// SIGKILLs the nodes `who` names (every node at once: a power loss); confirmed once each
    /// is reaped.
    fn kill(&mut self, who: Who, cluster: &mut dyn Cluster) -> Result<Applied, String> {
        let (nodes, how) = self.resolve_set(who, cluster);
        let mut pids = Vec::new();
        for &node in &nodes {
            let pid = cluster
                .pid_or_why(node)
                .map_err(|why| format!("kill: {why}"))?;
            pids.push(pid);
        }
        let mut killed = Vec::new();
        for &node in &nodes {
            if let Err(e) = cluster.kill(node) {
                self.down.extend(&killed);
                self.active.push(Active::Killed { nodes: killed });
                return Err(format!("kill n{}: {e}", node + 1));
            }
            killed.push(node);
        }
        self.down.extend(&nodes);
        let said: Vec<String> = nodes
            .iter()
            .zip(&pids)
            .map(|(n, pid)| format!("n{} (SIGKILL pid {pid}, reaped)", n + 1))
            .collect();
        self.active.push(Active::Killed {
            nodes: nodes.clone(),
        });
        Ok(Applied {
            kind: FaultKind::Kill,
            description: format!("kill {how}{}", said.join(", ")),
            nodes,
            detail: json!({"pids": pids, "signal": "SIGKILL"}),
        })
    }

    /// Removes the nodes `who` names from the configuration, one at a time, each confirmed.
    /// Never more than a minority: the rest must still elect and commit.
    fn remove(&mut self, who: Who, cluster: &mut dyn Cluster) -> Result<Applied, String> {
        let (mut nodes, how) = self.resolve_set(who, cluster);
        nodes.truncate(Who::minority(cluster.size()));
        let mut removed = Vec::new();
        let mut said = Vec::new();
        for &node in &nodes {
            match cluster.remove_member(node) {
                Ok(words) => {
                    removed.push(node);
                    said.push(format!("n{} ({words})", node + 1));
                }
                Err(e) => {
                    // What was removed is put back at the next stop, and so is this node: its
                    // removal may have been accepted and commit later (adding back a member is
                    // confirmed at once).
                    removed.push(node);
                    self.active.push(Active::Removed { nodes: removed });
                    return Err(format!("remove n{}: {e}", node + 1));
                }
            }
        }
        self.active.push(Active::Removed {
            nodes: removed.clone(),
        });
        Ok(Applied {
            kind: FaultKind::Membership,
            description: format!("remove {how}{}", said.join(", then ")),
            nodes: removed,
            detail: json!({"removed": nodes}),
        })
    }

    /// Undoes every fault in force, the last applied first; what was undone, as one record.
    pub fn stop(&mut self, cluster: &mut dyn Cluster) -> Result<Option<Applied>, String> {
        let mut undone: Vec<Applied> = Vec::new();
        self.deposed = None;
        // Nodes come back into the configuration last, into a healed cluster where they can
        // catch up; every fault is undone even when one fails (a failed re-add stays in force,
        // for the next stop to try again).
        let (members, rest): (Vec<Active>, Vec<Active>) = std::mem::take(&mut self.active)
            .into_iter()
            .partition(|a| matches!(a, Active::Removed { .. }));
        let mut errors = Vec::new();
        for active in rest.into_iter().rev().chain(members.into_iter().rev()) {
            let retry = match &active {
                Active::Removed { nodes } => Some(nodes.clone()),
                _ => None,
            };
            match self.undo(active, cluster) {
                Ok(a) => undone.push(a),
                Err(e) => {
                    errors.push(e);
                    if let Some(nodes) = retry {
                        self.active.push(Active::Removed { nodes });
                    }
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors.join("; "));
        }
        let Some(first) = undone.first().cloned() else {
            return Ok(None);
        };
        if undone.len() == 1 {
            return Ok(Some(first));
        }
        let mut nodes: Vec<usize> = undone.iter().flat_map(|a| a.nodes.clone()).collect();
        nodes.sort_unstable();
        nodes.dedup();
        Ok(Some(Applied {
            kind: first.kind,
            description: undone
                .iter()
                .map(|a| a.description.as_str())
                .collect::<Vec<_>>()
                .join("; "),
            nodes,
            detail: Value::Array(undone.into_iter().map(|a| a.detail).collect()),
        }))
    }

    /// Undoes one fault.
    fn undo(&mut self, active: Active, cluster: &mut dyn Cluster) -> Result<Applied, String> {
        Ok(match active {
            Active::Partition => {
                self.net
                    .heal()
                    .map_err(|e| format!("heal partition: {e}"))?;
                Applied {
                    kind: FaultKind::Partition,
                    description: format!("heal the network ({})", self.mechanism()),
                    nodes: (0..cluster.size()).collect(),
                    detail: json!({"mechanism": self.mechanism()}),
                }
            }
            Active::Paused { nodes } => {
                let mut said = Vec::new();
                for (node, pid) in &nodes {
                    cluster
                        .resume(*node, *pid)
                        .map_err(|e| format!("resume n{}: {e}", node + 1))?;
                    said.push(format!("n{} (SIGCONT pid {pid}, running)", node + 1));
                }
                Applied {
                    kind: FaultKind::Pause,
                    description: format!("resume {}", said.join(", ")),
                    nodes: nodes.iter().map(|p| p.0).collect(),
                    detail: json!({"pids": nodes.iter().map(|p| p.1).collect::<Vec<_>>(), "signal": "SIGCONT"}),
                }
            }
            Active::Killed { nodes } => {
                let mut said = Vec::new();
                let mut pids = Vec::new();
                cluster.restart_all(&nodes)?;
                for &node in &nodes {
                    self.down.remove(&node);
                    let pid = cluster.pid(node).unwrap_or(0);
                    said.push(format!("n{} (pid {pid})", node + 1));
                    pids.push(pid);
                }
                Applied {
                    kind: FaultKind::Kill,
                    description: format!("restart {}", said.join(", ")),
                    nodes,
                    detail: json!({"pids": pids}),
                }
            }
            Active::Removed { nodes } => {
                let mut said = Vec::new();
                for &node in nodes.iter().rev() {
                    let words = cluster
                        .add_member(node)
                        .map_err(|e| format!("add n{} back: {e}", node + 1))?;
                    said.push(format!("n{} ({words})", node + 1));
                }
                Applied {
                    kind: FaultKind::Membership,
                    description: format!("add back {}", said.join(", then ")),
                    nodes: nodes.clone(),
                    detail: json!({"added": nodes}),
                }
            }
            Active::Clock { node, strobe } => {
                if let Some(s) = strobe {
                    s.stop.store(true, Ordering::SeqCst);
                    let _ = s.thread.join();
                }
                let clocks = self.clocks.clone().expect("clock faults had clocks");
                clocks
                    .reset(node)
                    .map_err(|e| format!("reset clock n{}: {e}", node + 1))?;
                Applied {
                    kind: FaultKind::Clock,
                    description: format!("reset n{}'s clock", node + 1),
                    nodes: vec![node],
                    detail: json!({"skew_ms": 0}),
                }
            }
        })
    }

    /// Undoes everything, whatever is recorded as active: heals the network, resumes every
    /// stopped node, restarts the nodes this nemesis killed that are still down when `restart`
    /// is set — never a node it did not kill: a node that looks down for another reason (a
    /// `pid` command that prints nothing) may be serving, and replacing it would destroy the
    /// very data the run is about to read — and resets every clock. Returns the errors met (it
    /// goes on after each).
    pub fn heal_all(&mut self, cluster: &mut dyn Cluster, restart: bool) -> Vec<String> {
        let mut errors = Vec::new();
        if let Err(e) = self.stop(cluster) {
            errors.push(e);
        }
        if let Err(e) = self.net.heal() {
            errors.push(format!("heal network: {e}"));
        }
        let mut down = Vec::new();
        for node in 0..cluster.size() {
            match cluster.pid(node) {
                Some(pid) if cluster.is_paused(node, pid) => {
                    if let Err(e) = cluster.resume(node, pid) {
                        errors.push(format!("resume n{}: {e}", node + 1));
                    }
                }
                None if restart && self.down.contains(&node) => down.push(node),
                _ => {}
            }
            if let Some(c) = &self.clocks {
                if let Err(e) = c.reset(node) {
                    errors.push(format!("reset clock n{}: {e}", node + 1));
                }
            }
        }
        if !down.is_empty() {
            match cluster.restart_all(&down) {
                Ok(()) => self.down.clear(),
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}

/// Flips node `node`'s clock by `delta_ms` every `period_ms` until stopped.
fn start_strobe(clocks: Arc<Clocks>, node: usize, delta_ms: i64, period_ms: u64) -> Strobe {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        let mut sign = -1.0;
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(period_ms));
            let _ = clocks.bump(node, sign * delta_ms as f64);
            sign = -sign;
        }
    });
    Strobe { stop, thread }
}

/// Waits (up to 2 s) until the node's own status shows the clock we set, and returns the skew it
/// reports. A strobing clock may be read in either of its two positions.
fn confirm_clock(
    clocks: &Clocks,
    cluster: &dyn Cluster,
    node: usize,
    change: ClockChange,
) -> Result<f64, String> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let tolerance = match change {
        ClockChange::Strobe { delta_ms, .. } => delta_ms.unsigned_abs() as f64 + 250.0,
        _ => 250.0,
    };
    let mut last = None;
    while Instant::now() < deadline {
        let before = clock::now_ms();
        if let Some(reported) = cluster.wall_clock_ms(node) {
            let after = clock::now_ms();
            let mid = (before + after) / 2.0;
            let expected = clocks.expected_ms(node, mid);
            if (reported - expected).abs() <= tolerance + (after - before) {
                return Ok(reported - mid);
            }
            last = Some(reported - mid);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Err(match last {
        Some(skew) => format!(
            "clock n{}: set to {:+.0} ms but the node reports {skew:+.0} ms",
            node + 1,
            clocks.skew_ms(node)
        ),
        None => format!("clock n{}: the node did not report its clock", node + 1),
    })
}
