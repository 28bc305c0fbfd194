//! The seeds' workloads end to end (issue 30): bank, set, counter, unique ids, queue and lock
//! run against real raftkv processes under faults and hold; the simulator runs each of them,
//! finds the knob that breaks each promise and holds without it; a target that cannot carry
//! them is refused before anything starts.

use serde_json::Value;
use std::path::{Path, PathBuf};

mod support;
use support::{faultline, one_cluster_at_a_time, Scratch, Store};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `faultline run` into `store`: the exit code, the run directory and what it said.
fn run(store: &Path, args: &[&str]) -> (i32, PathBuf, String) {
    let mut all = vec!["run", "--store", store.to_str().unwrap()];
    all.extend_from_slice(args);
    let out = faultline(&all);
    let said = text(&out);
    let code = out.status.code().expect("exited");
    let dir = std::fs::canonicalize(store.join("latest")).unwrap_or_default();
    (code, dir, said)
}

fn results(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap()
}

/// The functions of the history's `ok` operations, each once.
fn ok_functions(dir: &Path) -> std::collections::BTreeSet<String> {
    std::fs::read_to_string(dir.join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "ok")
        .map(|e| e["f"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_seed_workload_runs_on_raftkv_under_faults_and_keeps_its_promise() {
    let _one = one_cluster_at_a_time();
    let store = Store::new("seed-workloads");
    for (workload, functions) in [
        ("bank", &["read", "transfer"][..]),
        ("set", &["add", "read"][..]),
        ("counter", &["add", "read"][..]),
        ("unique-ids", &["generate"][..]),
        ("queue", &["dequeue", "drain", "enqueue"][..]),
        ("lock", &["acquire", "release"][..]),
    ] {
        let args = [
            "--workload",
            workload,
            "--nemesis",
            "partition,kill",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "6",
            "--seed",
            "7",
        ];
        let (code, dir, said) = run(&store, &args);
        assert_eq!(code, 0, "{workload}: {said}");
        let r = results(&dir);
        assert_eq!(r["verdict"], "holds", "{workload}: {said}");
        assert_eq!(r["workload"]["workload"], workload, "{workload}: {r}");
        assert_eq!(r["workload"]["standing"], "holds", "{workload}: {r}");
        let got = ok_functions(&dir);
        let want: std::collections::BTreeSet<String> =
            functions.iter().map(|f| f.to_string()).collect();
        assert_eq!(
            got, want,
            "{workload}: the history holds each operation, answered"
        );
        let page = std::fs::read_to_string(dir.join("report.html")).unwrap();
        assert!(
            page.contains(&format!("{workload}: <b>holds</b>")),
            "{workload}: its report page"
        );
        // What `faultline check` says of the stored history, with no flags, agrees.
        let out = faultline(&["check", dir.join("history.jsonl").to_str().unwrap()]);
        let checked = text(&out);
        assert!(
            checked.contains(&format!("a {workload} history")),
            "{checked}"
        );
    }
}

#[test]
fn read_committed_breaks_the_banks_total_and_redelivery_duplicates_messages() {
    // The two knobs that break their promise with no fault at all.
    let _one = one_cluster_at_a_time();
    let store = Store::new("seed-knobs");
    for (flags, kind) in [
        (
            &["--workload", "bank", "--isolation", "read-committed"][..],
            "wrong-total",
        ),
        (
            &["--workload", "queue", "--unsafe", "redeliver"][..],
            "duplicated",
        ),
    ] {
        let mut args = flags.to_vec();
        args.extend(["--nemesis", "none", "--time-limit", "6", "--seed", "3"]);
        let (code, dir, said) = run(&store, &args);
        assert_eq!(code, 1, "{flags:?}: {said}");
        let r = results(&dir);
        let kinds: Vec<&str> = r["workload"]["violations"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|v| v["kind"].as_str())
            .collect();
        assert!(kinds.contains(&kind), "{flags:?}: {kinds:?}");
        assert!(said.contains(&format!("✗ {kind}: ")), "{said}");
    }
}

#[test]
fn the_simulator_finds_each_knob_and_holds_without_it() {
    let dir = Scratch::new("sim-seed-workloads");
    let sim = |flags: &[&str]| {
        let mut args = vec!["sim", "--out", dir.path()];
        args.extend_from_slice(flags);
        faultline(&args)
    };
    for workload in ["bank", "set", "counter", "unique-ids", "queue", "lock"] {
        let out = sim(&["--workload", workload, "--seeds", "60"]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(0), "{workload}: {said}");
        assert!(
            said.contains(&format!("every one keeping the {workload}'s promise")),
            "{said}"
        );
    }
    for (flags, kind) in [
        (
            &["--workload", "bank", "--isolation", "read-committed"][..],
            "wrong-total",
        ),
        (
            &[
                "--workload",
                "set",
                "--read-mode",
                "stale",
                "--nemesis",
                "partition",
            ][..],
            "stale-read",
        ),
        (
            &["--workload", "counter", "--write-ack", "leader"][..],
            "read-too-low",
        ),
        (
            &[
                "--workload",
                "unique-ids",
                "--unsafe",
                "snowflake-ids",
                "--nemesis",
                "clock",
            ][..],
            "duplicate",
        ),
        (
            &["--workload", "queue", "--write-ack", "leader"][..],
            "lost",
        ),
        (
            &["--workload", "queue", "--unsafe", "redeliver"][..],
            "duplicated",
        ),
        (
            &[
                "--workload",
                "lock",
                "--unsafe",
                "lock-lease-local",
                "--nemesis",
                "clock",
            ][..],
            "double-holder",
        ),
    ] {
        let mut args = flags.to_vec();
        args.extend(["--seeds", "200"]);
        let out = sim(&args);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {said}");
        assert!(said.contains(&format!("✗ {kind}: ")), "{flags:?}: {said}");
    }
}

#[test]
fn a_target_that_cannot_carry_the_seed_workloads_is_refused_before_it_starts() {
    let dir = Scratch::new("seed-refused");
    let file = format!(
        "{}/../examples/targets/etcd.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let out = faultline(&[
        "run",
        "--store",
        dir.path(),
        "--target",
        &format!("http:{file}"),
        "--workload",
        "bank",
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(3), "{said}");
    assert!(said.contains("--workload bank runs on raftkv"), "{said}");
    let left = std::fs::read_dir(dir.path()).map_or(0, |d| d.count());
    assert_eq!(left, 0, "nothing started, nothing stored");
}

#[test]
fn a_real_zookeeper_lock_history_shows_the_instant_two_clients_held_the_lock() {
    // Recorded by `faultline run --target zookeeper --workload lock` (seed 4 of
    // examples/sweeps/zookeeper-locks.toml): the paused leader came back, sessions expired
    // together, and a follower told p11 it acquired before it applied p11's own expiry.
    let file = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data/zookeeper-lock-double-holder.jsonl");
    let out = support::faultline(&[
        "check",
        "--workload",
        "lock",
        "--leased-locks",
        file.to_str().unwrap(),
    ]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains("held by p28 (via n3) and p11 (via n1) at once from 13.859 s to 13.859 s"),
        "{said}"
    );
    assert!(said.contains("meanwhile "), "{said}");
    assert!(
        said.contains("n3 was paused from 11.626 s to 13.837 s"),
        "{said}"
    );
    // p11's release found its session gone; it is one of the two not acknowledged.
    assert!(said.contains("· 2 release(s) not acknowledged"), "{said}");
}
