//! End-to-end tests of `--target rabbitmq`: a real RabbitMQ broker (Debian's rabbitmq-server)
//! started in the run's directory beside its own epmd, driven over AMQP with publisher confirms
//! and manual acks under kill -9 and pause. What RabbitMQ promises is at-least-once delivery:
//! nothing confirmed may be lost; a message whose ack died with the broker comes back, and the
//! checker must call that a duplicate (exactly-once violated) while saying at-least-once held.
//!
//! With `--nodes 3` the brokers form one cluster in network namespaces, and a quorum queue keeps
//! every confirmed message under partitions and kills.
//!
//! Needs rabbitmq-server (`scripts/test.sh` installs it); without it these tests fail saying so.

use serde_json::Value;

mod support;
use support::targets::processes_mentioning;
use support::{faultline, one_cluster_at_a_time, Store};

fn need_rabbitmq() {
    assert!(
        std::path::Path::new("/usr/lib/rabbitmq/bin/rabbitmq-server").is_file(),
        "RabbitMQ not found: install Debian's rabbitmq-server (as root: apt-get install rabbitmq-server; scripts/test.sh does)"
    );
}

/// A short queue run; its exit code, what it printed, and results.json.
fn run(store: &Store, extra: &[&str]) -> (i32, String, Value) {
    let mut args = vec![
        "run",
        "--store",
        store.path(),
        "--target",
        "rabbitmq",
        "--workload",
        "queue",
        "--recovery",
        "1",
    ];
    args.extend_from_slice(extra);
    let out = faultline(&args);
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let code = out.status.code().expect("exited");
    assert!((0..=1).contains(&code), "exited {code}\n{said}");
    let dir = std::fs::canonicalize(store.join("latest")).expect("store/latest links the run");
    let results =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    (code, said, results)
}

/// The kinds of the queue checker's violations.
fn violations(results: &Value) -> Vec<String> {
    results["workload"]["violations"]
        .as_array()
        .expect("a queue judgement")
        .iter()
        .map(|v| v["kind"].as_str().unwrap().to_string())
        .collect()
}

/// No process of this test's store is left running: no broker (its command line names the
/// store) and no epmd (it carries the broker's environment, whose HOME is in the store).
fn no_broker_left(store: &Store) {
    let ours = processes_mentioning(store.path());
    assert!(
        ours.is_empty(),
        "processes of the run left behind: {ours:?}"
    );
}

#[test]
fn nothing_confirmed_is_lost_across_kill_and_pause() {
    need_rabbitmq();
    let _one = one_cluster_at_a_time();
    let store = Store::new("rmq-kill");
    let (code, said, results) = run(
        &store,
        &[
            "--nemesis",
            "kill,pause",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "12",
            "--seed",
            "3",
        ],
    );
    // A broker's promise is at-least-once: a redelivery is reported, not a violation, and the
    // run passes unless a confirmed message was lost.
    let kinds = violations(&results);
    assert!(kinds.is_empty(), "{kinds:?}\n{said}");
    assert_eq!(code, 0, "{said}");
    let notes = results["workload"]["notes"].to_string();
    assert!(
        notes.contains("at-least-once held") || notes.contains("exactly-once delivery held"),
        "{notes}"
    );
    // The faults were applied, and the drain at the end read the broker after its restarts.
    let faults = &results["faults"];
    assert!(faults.to_string().contains("kill"), "{faults}\n{said}");
    assert_eq!(results["workload"]["counts"]["drains"], 1, "{said}");
    assert!(said.contains("faultline: RabbitMQ 3."), "{said}");
    no_broker_left(&store);
}

#[test]
fn a_three_node_cluster_keeps_every_confirmed_message_of_a_quorum_queue_under_partitions() {
    need_rabbitmq();
    support::targets::need_netns();
    let _one = one_cluster_at_a_time();
    let store = Store::new("rmq-cluster");
    let (code, said, results) = run(
        &store,
        &[
            "--nodes",
            "3",
            "--rmq-queue",
            "quorum",
            "--nemesis",
            "partition,kill",
            "--nemesis-interval",
            "2",
            "--time-limit",
            "15",
            "--seed",
            "1",
        ],
    );
    let kinds = violations(&results);
    assert!(kinds.is_empty(), "{kinds:?}\n{said}");
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("(quorum queue, 3 nodes)"), "{said}");
    assert!(
        said.contains(
            "a RabbitMQ cluster's nodes each need an address of their own: using --net netns"
        ),
        "{said}"
    );
    assert!(
        results["faults"].to_string().contains("partition"),
        "{said}"
    );
    // Clients enqueue through every node and the drain takes from one: three brokers that had
    // not formed one cluster would leave most messages where the drain never looks, "lost".
    assert!(
        results["workload"]["counts"]["received"].as_u64().unwrap() > 100,
        "{said}"
    );
    support::targets::no_namespaces_left();
    no_broker_left(&store);
}

#[test]
fn a_quorum_queue_without_faults_delivers_exactly_once() {
    need_rabbitmq();
    let _one = one_cluster_at_a_time();
    let store = Store::new("rmq-quorum");
    let (code, said, results) = run(
        &store,
        &[
            "--rmq-queue",
            "quorum",
            "--queue-delivery",
            "exactly-once",
            "--nemesis",
            "none",
            "--time-limit",
            "4",
        ],
    );
    assert_eq!(code, 0, "{said}");
    assert!(said.contains("(quorum queue)"), "{said}");
    let counts = &results["workload"]["counts"];
    assert!(counts["received"].as_u64().unwrap() > 100, "{counts}");
    assert_eq!(
        results["workload"]["notes"][0], "exactly-once delivery held",
        "{said}"
    );
    no_broker_left(&store);
}

#[test]
fn a_broker_takes_only_the_queue_workload_and_says_so() {
    let store = Store::new("rmq-refuse");
    let out = faultline(&[
        "run",
        "--store",
        store.path(),
        "--target",
        "rabbitmq",
        "--workload",
        "bank",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(
        err.contains("--workload bank: RabbitMQ is a message broker")
            && err.contains("--workload queue"),
        "{err}"
    );
}

#[test]
fn heal_takes_down_a_broker_and_its_epmd_after_a_killed_harness() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    need_rabbitmq();
    let _one = one_cluster_at_a_time();
    let store = Store::new("rmq-heal");
    let mut harness = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--store", store.path(), "--target", "rabbitmq"])
        .args([
            "--workload",
            "queue",
            "--nemesis",
            "pause",
            "--nemesis-interval",
            "1",
        ])
        .args(["--time-limit", "60"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until clients are at work (the broker is up and its epmd beside it).
    let deadline = Instant::now() + Duration::from_secs(60);
    let dir = loop {
        if Instant::now() >= deadline {
            let _ = harness.kill();
            let _ = harness.wait();
            panic!("the broker served nothing in 60 s");
        }
        if let Ok(dir) = std::fs::canonicalize(store.join("latest")) {
            let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap_or_default();
            if history.lines().count() > 200 {
                break dir;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let running = processes_mentioning(store.path());
    assert!(
        running.iter().any(|c| c.contains("epmd")),
        "the broker's own epmd runs: {running:?}"
    );
    harness.kill().unwrap();
    harness.wait().unwrap();
    let out = faultline(&["heal", dir.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    no_broker_left(&store);
}
