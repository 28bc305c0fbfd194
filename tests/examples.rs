//! Every example target file loads, and each whose service Debian provides is run for real
//! (issue 25: files users can start from, each tried). `scripts/test.sh` installs the services;
//! elsewhere a missing one fails naming the package.

mod support;

use serde_json::Value;
use std::path::{Path, PathBuf};
use support::{faultline, one_cluster_at_a_time, Store};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets")
}

#[test]
fn every_example_target_file_loads() {
    let mut loaded = 0;
    for entry in std::fs::read_dir(examples()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            targets::described::Described::load(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            loaded += 1;
        }
    }
    assert!(loaded >= 7, "only {loaded} example files");
}

/// Fails naming the package when `program` is not installed.
fn need(program: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "{program} not found: install Debian's {package} (as root: apt-get install {package}; scripts/test.sh does)"
    );
}

/// A short fault-free run of an example file; its results.
fn run_example(name: &str, extra: &[&str]) -> (i32, Value, String) {
    let store = Store::new(&format!("example-{name}"));
    let target = format!("http:{}", examples().join(name).display());
    let mut args = vec![
        "run",
        "--target",
        &target,
        "--store",
        store.path(),
        "--recovery",
        "0.5",
        "--seed",
        "4",
        "--json",
    ];
    if !extra.contains(&"--time-limit") {
        args.extend(["--time-limit", "3"]);
    }
    args.extend_from_slice(extra);
    let out = faultline(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let results: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{name}: no results; stderr:\n{stderr}"));
    (out.status.code().unwrap(), results, stderr)
}

fn standing(results: &Value, model: &str) -> String {
    results["ladder"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["model"] == model)
        .map(|l| l["standing"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[test]
fn the_etcd_v2_example_holds_with_quorum_reads() {
    need("etcd", "etcd-server");
    let _one = one_cluster_at_a_time();
    let (code, results, stderr) = run_example("etcd-v2.toml", &["--nemesis", "none"]);
    assert_eq!(code, 0, "{stderr}\n{results}");
    assert!(
        results["main_phase"]["ok"].as_u64().unwrap() > 100,
        "{results}"
    );
    assert_eq!(standing(&results, "eventual"), "holds", "{results}");
}

#[test]
fn the_webdis_example_reads_lagging_replicas_and_still_converges() {
    need("redis-server", "redis-server");
    need("webdis", "webdis");
    let _one = one_cluster_at_a_time();
    let (code, results, stderr) = run_example(
        "webdis-redis.toml",
        &["--nemesis", "none", "--workload", "register"],
    );
    // Replication is asynchronous: stale reads may or may not land in three seconds, but the
    // run decides (never unknown for linearizability), refuses writes to the replica, and the
    // copies agree after it.
    assert!(code == 0 || code == 1, "exit {code}: {stderr}\n{results}");
    assert_ne!(standing(&results, "linearizable"), "unknown", "{results}");
    assert_eq!(standing(&results, "eventual"), "holds", "{results}");
    assert!(
        results["main_phase"]["fail"].as_u64().unwrap() > 0,
        "the replica refuses writes: {results}"
    );
}

#[test]
fn the_nginx_webdav_example_holds_across_kills() {
    // PUT and DELETE come from nginx's own http_dav_module, built into Debian's nginx.
    need("nginx", "nginx");
    let _one = one_cluster_at_a_time();
    let (code, results, stderr) = run_example(
        "nginx-webdav.toml",
        &[
            "--workload",
            "register",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "0.8",
        ],
    );
    assert_eq!(code, 0, "{stderr}\n{results}");
    assert!(
        results["faults"]["kill"].as_u64().unwrap_or(0) >= 1,
        "{results}"
    );
    assert_eq!(standing(&results, "eventual"), "holds", "{results}");
}

#[test]
fn the_moto_s3_example_holds_and_loses_everything_a_kill_takes() {
    need(
        "moto_server",
        "moto[server] from PyPI (pip install 'moto[server]')",
    );
    let _one = one_cluster_at_a_time();
    let (code, results, stderr) = run_example(
        "moto-s3.toml",
        &["--workload", "register", "--nemesis", "none"],
    );
    assert_eq!(code, 0, "{stderr}\n{results}");
    // moto keeps objects in memory: a kill loses them, and faultline says so in those words.
    let (code, results, stderr) = run_example(
        "moto-s3.toml",
        &[
            "--workload",
            "register",
            "--nemesis",
            "kill",
            "--time-limit",
            "5",
            "--nemesis-interval",
            "1.2",
        ],
    );
    assert_eq!(code, 1, "{stderr}\n{results}");
    let anomalies = results["ladder"]["anomalies"].as_array().unwrap();
    assert!(
        anomalies.iter().any(|a| a["kind"] == "lost-write"
            && a["sentence"]
                .as_str()
                .unwrap()
                .contains("was lost in the crash")),
        "{results}"
    );
}
