//! Faults that aim at sets of nodes, and faults in force together, on real processes: each
//! "node" is a `sleep` child of this test, killed with SIGKILL, paused with SIGSTOP and read back
//! from `/proc`. No root or packages needed.

use base::Rng;
use nemesis::{process, Cluster, FaultKind, Nemesis, Plan, Uncut, Who};
use std::process::{Child, Command};

/// `n` sleeping processes; node `leader` says it leads.
struct Sleepers {
    children: Vec<Option<Child>>,
    leader: usize,
}

impl Sleepers {
    fn new(n: usize, leader: usize) -> Sleepers {
        let mut s = Sleepers {
            children: (0..n).map(|_| None).collect(),
            leader,
        };
        for i in 0..n {
            s.restart(i).unwrap();
        }
        s
    }
}

impl Drop for Sleepers {
    fn drop(&mut self) {
        for i in 0..self.children.len() {
            if let Some(pid) = self.pid(i) {
                let _ = process::signal(pid, process::Signal::SIGCONT);
            }
            let _ = self.kill(i);
        }
    }
}

impl Cluster for Sleepers {
    fn size(&self) -> usize {
        self.children.len()
    }
    fn pid(&self, node: usize) -> Option<u32> {
        self.children[node].as_ref().map(Child::id)
    }
    fn kill(&mut self, node: usize) -> std::io::Result<()> {
        if let Some(mut c) = self.children[node].take() {
            c.kill()?;
            c.wait()?;
        }
        Ok(())
    }
    fn restart(&mut self, node: usize) -> std::io::Result<()> {
        self.children[node] = Some(Command::new("sleep").arg("60").spawn()?);
        Ok(())
    }
    fn leader(&self) -> Option<usize> {
        Some(self.leader)
    }
    fn wall_clock_ms(&self, _: usize) -> Option<f64> {
        None
    }
}

fn nemesis(seed: u64) -> Nemesis {
    let net = Uncut {
        mechanism: "none",
        why: "no network in this test",
    };
    Nemesis::new(Box::new(net), None, Rng::new(seed))
}

#[test]
fn killing_every_node_is_a_power_loss_and_stopping_restarts_them_all() {
    let mut c = Sleepers::new(3, 1);
    let before: Vec<u32> = (0..3).map(|i| c.pid(i).unwrap()).collect();
    let mut n = nemesis(1);
    let applied = n.start(&Plan::Kill { who: Who::All }, &mut c).unwrap();
    assert_eq!(applied.nodes, [0, 1, 2]);
    assert!(
        applied
            .description
            .starts_with("kill every node: n1 (SIGKILL pid"),
        "{}",
        applied.description
    );
    assert!((0..3).all(|i| c.pid(i).is_none()));
    let undone = n.stop(&mut c).unwrap().unwrap();
    assert!(
        undone.description.starts_with("restart n1 (pid"),
        "{}",
        undone.description
    );
    let after: Vec<u32> = (0..3).map(|i| c.pid(i).unwrap()).collect();
    assert!(
        before.iter().zip(&after).all(|(a, b)| a != b),
        "new processes"
    );
}

#[test]
fn a_majority_and_a_minority_are_the_sizes_they_say() {
    for seed in 0..8 {
        let mut c = Sleepers::new(5, 2);
        let mut n = nemesis(seed);
        let applied = n
            .start(&Plan::Pause { who: Who::Majority }, &mut c)
            .unwrap();
        assert_eq!(applied.nodes.len(), 3, "{}", applied.description);
        for &i in &applied.nodes {
            assert!(process::is_stopped(c.pid(i).unwrap()), "n{} paused", i + 1);
        }
        n.stop(&mut c).unwrap();
        assert!((0..5).all(|i| !process::is_stopped(c.pid(i).unwrap())));
        let applied = n.start(&Plan::Kill { who: Who::Minority }, &mut c).unwrap();
        assert_eq!(applied.nodes.len(), 2, "{}", applied.description);
        n.stop(&mut c).unwrap();
    }
}

#[test]
fn the_leader_is_in_an_aimed_set_about_half_the_time_or_more() {
    let mut with_leader = 0;
    for seed in 0..40 {
        let mut c = Sleepers::new(5, 4);
        let mut n = nemesis(seed);
        let applied = n.start(&Plan::Kill { who: Who::Minority }, &mut c).unwrap();
        if applied.nodes.contains(&4) {
            assert!(applied.description.contains("with the leader"));
            with_leader += 1;
        }
        n.stop(&mut c).unwrap();
    }
    assert!((16..=34).contains(&with_leader), "{with_leader} of 40");
}

#[test]
fn two_faults_of_different_kinds_are_in_force_together_and_undone_together() {
    let mut c = Sleepers::new(3, 0);
    let mut n = nemesis(2);
    n.start(&Plan::Pause { who: Who::Node(1) }, &mut c).unwrap();
    n.start(&Plan::Kill { who: Who::Leader }, &mut c).unwrap();
    assert!(n.in_force(FaultKind::Pause) && n.in_force(FaultKind::Kill));
    assert!(process::is_stopped(c.pid(1).unwrap()));
    assert!(c.pid(0).is_none(), "the leader is down");
    let undone = n.stop(&mut c).unwrap().unwrap();
    assert_eq!(undone.nodes, [0, 1]);
    assert!(
        undone.description.starts_with("restart n1") && undone.description.contains("; resume n2"),
        "the last applied is undone first: {}",
        undone.description
    );
    assert!(!process::is_stopped(c.pid(1).unwrap()) && c.pid(0).is_some());
    assert!(n.stop(&mut c).unwrap().is_none(), "nothing left in force");
}
