//! End-to-end tests of `--target zookeeper`: a real three-server ZooKeeper ensemble (Debian's
//! zookeeper), each server in its own network namespace, partitioned by nftables. What
//! ZooKeeper promises, seen with one's own eyes: plain reads are served by whichever server a
//! session is on, so a server cut off from the leader answers stale — not linearizable, yet
//! sequentially consistent; a `sync` before each read makes reads linearizable.
//!
//! Its lock recipe keeps one holder under pauses and partitions.
//!
//! Needs zookeeper (`scripts/test.sh` installs it), root and nftables; without them these tests
//! fail saying so.

mod support;
use support::targets::*;
use support::{faultline, one_cluster_at_a_time, Store};

fn need_zookeeper() {
    assert!(
        std::path::Path::new("/usr/share/zookeeper/bin/zkServer.sh").is_file(),
        "ZooKeeper not found: install Debian's zookeeper (as root: apt-get install zookeeper; scripts/test.sh does)"
    );
}

/// A 20 s run on one key under partitions, reads as `read` says.
fn partitioned(name: &str, read: &str) -> (Ran, Vec<(String, String)>) {
    need_zookeeper();
    need_netns();
    let _one = one_cluster_at_a_time();
    let store = Store::new(name);
    let ran = run(
        &store,
        &[
            "--target",
            "zookeeper",
            "--zk-read",
            read,
            "--keys",
            "1",
            "--nemesis",
            "partition",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "20",
            "--seed",
            "1",
        ],
    );
    no_namespaces_left();
    let left = processes_mentioning(store.path());
    assert!(left.is_empty(), "ZooKeeper servers left behind: {left:?}");
    let levels = standings(&ran.results);
    (ran, levels)
}

fn standing<'a>(levels: &'a [(String, String)], model: &str) -> &'a str {
    &levels.iter().find(|(m, _)| m == model).expect("a model").1
}

#[test]
fn plain_reads_are_stale_under_partitions_yet_sequential() {
    let (ran, levels) = partitioned("zk-plain", "plain");
    let said = format!("{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(standing(&levels, "linearizable"), "violated", "{said}");
    assert_eq!(standing(&levels, "sequential"), "holds", "{said}");
    assert_eq!(ran.code, 1, "{said}");
    assert!(said.contains("faultline: ZooKeeper 3."), "{said}");
    assert!(
        ran.results["faults"].to_string().contains("partition"),
        "{said}"
    );
}

#[test]
fn sync_reads_are_linearizable_under_partitions() {
    let (ran, levels) = partitioned("zk-sync", "sync");
    let said = format!("{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(standing(&levels, "linearizable"), "holds", "{said}");
    assert_eq!(ran.code, 0, "{said}");
    assert!(said.contains("(sync reads)"), "{said}");
}

#[test]
fn the_lock_recipe_keeps_one_holder_under_pauses_and_partitions() {
    // A lock is an ephemeral sequential znode on a session of its own: a session that expires
    // while its server is paused or cut off takes its znode with it, and the waiting client
    // learns of the expiry instead of being told it acquired.
    need_zookeeper();
    need_netns();
    let _one = one_cluster_at_a_time();
    let store = Store::new("zk-lock");
    let ran = run(
        &store,
        &[
            "--target",
            "zookeeper",
            "--workload",
            "lock",
            "--nemesis",
            "pause,partition",
            "--nemesis-interval",
            "3",
            "--time-limit",
            "20",
            "--seed",
            "1",
        ],
    );
    let said = format!("{}\n{}", ran.stdout, ran.stderr);
    assert_eq!(ran.code, 0, "{said}");
    assert!(said.contains("lock holds"), "{said}");
    let faults = ran.results["faults"].to_string();
    assert!(
        faults.contains("pause") || faults.contains("partition"),
        "{said}"
    );
    assert!(
        ran.results["main_phase"]["ok"].as_u64().unwrap() > 20,
        "{said}"
    );
    no_namespaces_left();
    let left = processes_mentioning(store.path());
    assert!(left.is_empty(), "ZooKeeper servers left behind: {left:?}");
}

#[test]
fn zookeeper_takes_registers_and_locks_only_and_says_so() {
    let store = Store::new("zk-refuse");
    let out = faultline(&[
        "run",
        "--store",
        store.path(),
        "--target",
        "zookeeper",
        "--workload",
        "list-append",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--workload list-append: faultline drives ZooKeeper as a register store (--workload register or cas-register) and with its lock recipe (--workload lock)"),
        "{err}"
    );
}
