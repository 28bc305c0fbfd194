//! End-to-end tests of `--target postgres`: a real PostgreSQL server (Debian's postgresql)
//! started in the run's directory, driven in SQL at each isolation level under kill -9 and
//! pause, with the anomalies each level lets through — the Hermitage result, seen with one's own
//! eyes. Runs are short and seeded; every run is healed even when a test fails.
//!
//! Needs postgresql (`scripts/test.sh` installs it); without it these tests fail saying so.

use serde_json::Value;
use std::path::Path;

mod support;
use support::{faultline, one_cluster_at_a_time, Store};

fn need_postgres() {
    let found = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .any(|v| v.path().join("bin/postgres").is_file());
    assert!(
        found,
        "PostgreSQL not found: install Debian's postgresql (as root: apt-get install postgresql; scripts/test.sh does)"
    );
}

/// A store the server can reach when it runs as the postgres user (tests run as root).
fn store(name: &str) -> Store {
    use std::os::unix::fs::PermissionsExt;
    let store = Store::new(name);
    std::fs::set_permissions(&*store, std::fs::Permissions::from_mode(0o755)).unwrap();
    store
}

/// A short run at `level`; its exit code, what it printed, and results.json.
fn run(store: &Store, level: &str, workload: &str, seed: &str) -> (i32, String, Value) {
    run_with(store, level, workload, seed, "kill,pause")
}

fn run_with(
    store: &Store,
    level: &str,
    workload: &str,
    seed: &str,
    nemesis: &str,
) -> (i32, String, Value) {
    let out = faultline(&[
        "run",
        "--store",
        store.path(),
        "--target",
        "postgres",
        "--pg-isolation",
        level,
        "--workload",
        workload,
        "--nemesis",
        nemesis,
        "--nemesis-interval",
        "2",
        "--time-limit",
        "8",
        "--recovery",
        "1",
        "--seed",
        seed,
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().expect("exited");
    assert!((0..=2).contains(&code), "exited {code}\n{stdout}\n{stderr}");
    let dir = std::fs::canonicalize(store.join("latest")).expect("store/latest links the run");
    let results =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    (code, format!("{stdout}\n{stderr}"), results)
}

/// Each isolation level's standing, and every anomaly named.
fn verdict(results: &Value) -> (Vec<(String, String)>, String) {
    let report = &results["isolation"]["report"];
    let levels = report["levels"].as_array().expect("an isolation ladder");
    let standings = levels
        .iter()
        .map(|l| {
            (
                l["model"].as_str().unwrap().to_string(),
                l["standing"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    (standings, report["anomalies"].to_string())
}

fn standing<'a>(standings: &'a [(String, String)], level: &str) -> &'a str {
    &standings
        .iter()
        .find(|(l, _)| l == level)
        .unwrap_or_else(|| panic!("no {level} in {standings:?}"))
        .1
}

fn no_server_left() {
    let ps = std::process::Command::new("pgrep")
        .args(["-f", "faultline-test-store-pg"])
        .output()
        .unwrap();
    assert!(
        ps.stdout.is_empty(),
        "PostgreSQL processes left behind: {}",
        String::from_utf8_lossy(&ps.stdout)
    );
}

#[test]
fn read_committed_lets_lost_updates_through() {
    need_postgres();
    let _one = one_cluster_at_a_time();
    let store = store("pg-rc");
    // No faults: a kill early in a short run can leave too few overlapping transactions to
    // show an anomaly (seen in CI); the serializable test below is the one under kill and pause.
    let (code, said, results) = run_with(&store, "read-committed", "rw-register", "1", "none");
    let (standings, anomalies) = verdict(&results);
    assert_eq!(
        code, 1,
        "serializable is violated at read committed\n{said}"
    );
    assert_eq!(standing(&standings, "read-committed"), "holds", "{said}");
    assert_eq!(
        standing(&standings, "snapshot-isolation"),
        "violated",
        "{said}"
    );
    // What read committed allows and snapshot isolation forbids: lost updates (P4), read skew
    // (G-single), write skew (G2-item), fuzzy reads — whichever this run's interleavings gave.
    let allowed = ["lost-update", "G-single", "G2-item", "non-repeatable-read"];
    assert!(allowed.iter().any(|a| anomalies.contains(a)), "{said}");
    // The run names the server's own version and the level asked for.
    let announced = said
        .split("faultline: PostgreSQL ")
        .nth(1)
        .unwrap_or_else(|| panic!("no announcement: {said}"));
    assert!(
        announced.starts_with(|c: char| c.is_ascii_digit()),
        "{said}"
    );
    assert!(announced.contains(" (read-committed), "), "{said}");
    drop(store);
    no_server_left();
}

#[test]
fn repeatable_read_is_snapshot_isolation_and_lets_write_skew_through() {
    need_postgres();
    let _one = one_cluster_at_a_time();
    let store = store("pg-rr");
    let (code, said, results) = run(&store, "repeatable-read", "list-append", "2");
    let (standings, anomalies) = verdict(&results);
    assert_eq!(code, 1, "{said}");
    assert_eq!(
        standing(&standings, "snapshot-isolation"),
        "holds",
        "{said}"
    );
    assert_eq!(standing(&standings, "serializable"), "violated", "{said}");
    assert!(anomalies.contains("G2-item"), "{said}");
    // Read skew never (a G-single found only with process or real-time order is not one).
    let plain_read_skew = results["isolation"]["report"]["anomalies"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["kind"] == "G-single" && a["order"].is_null());
    assert!(!plain_read_skew, "read skew never: {said}");
    drop(store);
    no_server_left();
}

#[test]
fn serializable_holds_strict_serializability_across_kill_and_pause() {
    need_postgres();
    let _one = one_cluster_at_a_time();
    let store = store("pg-ser");
    let (code, said, results) = run_with(
        &store,
        "serializable",
        "list-append",
        "3",
        "partition,pause,kill,clock",
    );
    for dropped in [
        "partition faults unavailable: PostgreSQL runs as one server",
        "clock faults unavailable: one PostgreSQL server orders its transactions without its wall clock",
    ] {
        assert!(said.contains(dropped), "{said}");
    }
    let (standings, _) = verdict(&results);
    assert_eq!(code, 0, "{said}");
    assert_eq!(
        standing(&standings, "strict-serializable"),
        "holds",
        "{said}"
    );
    // The faults were real: the server was killed and restarted, and paused.
    assert!(results["faults"]["kill"].as_u64() >= Some(1), "{said}");
    assert!(results["faults"]["pause"].as_u64() >= Some(1), "{said}");
    let dir = std::fs::canonicalize(store.join("latest")).unwrap();
    let nemesis = std::fs::read_to_string(dir.join("nemesis.jsonl")).unwrap();
    assert!(
        nemesis.contains("SIGKILL") && nemesis.contains("restart n1"),
        "{nemesis}"
    );
    assert!(nemesis.contains("SIGSTOP"), "{nemesis}");
    drop(store);
    no_server_left();
}

#[test]
fn a_store_the_server_user_cannot_reach_is_one_error_before_anything_starts() {
    need_postgres();
    if !nix::unistd::geteuid().is_root() {
        // Not root: the server runs as the caller, who reaches any store.
        panic!("this test needs root (the server then runs as the postgres user): run the tests as root");
    }
    use std::os::unix::fs::PermissionsExt;
    let store = Store::new("pg-closed");
    std::fs::set_permissions(&*store, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = faultline(&[
        "run",
        "--store",
        store.path(),
        "--target",
        "postgres",
        "--time-limit",
        "1",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("is not searchable by other users"),
        "{stderr}"
    );
    assert!(
        !Path::new(store.path()).join("postgres").exists(),
        "nothing was made"
    );
}
