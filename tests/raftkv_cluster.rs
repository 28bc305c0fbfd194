//! raftkv as real processes: clusters started from the built binary in temporary directories,
//! over loopback TCP, with real fsync and real SIGKILL.

use serde_json::json;
use std::path::{Path, PathBuf};
use std::time::Duration;
use targets::client::Client;
use targets::raftkv::cluster::LocalCluster;

/// A fresh directory for a cluster, which removes it when dropped.
fn scratch(name: &str) -> PathBuf {
    tempfile::Builder::new()
        .prefix(&format!("raftkv-e2e-{name}-"))
        .tempdir()
        .expect("a temp directory")
        .keep()
}

fn start(name: &str, n: u64, extra: &[&str]) -> LocalCluster {
    let bin = Path::new(env!("CARGO_BIN_EXE_raftkv"));
    LocalCluster::start(bin, n, &scratch(name), extra).expect("starts the cluster")
}

fn client(addr: &str) -> Client {
    Client::new(addr, Duration::from_secs(3))
}

/// The status of `GET /status` at `addr`.
fn status_code(addr: &str) -> u16 {
    client(addr).request("GET", "/status", None).unwrap().status
}

/// Sends a request to whichever node leads, retrying (bounded) until one gives an answer in
/// `accept`; elections and restarts in between only cost retries.
fn at_leader(
    c: &LocalCluster,
    method: &str,
    path: &str,
    body: Option<serde_json::Value>,
    accept: &[u16],
) -> targets::client::Reply {
    for _ in 0..100 {
        if let Some(leader) = c.wait_for_leader(Duration::from_secs(5)) {
            if let Ok(r) = client(&leader).request(method, path, body.as_ref()) {
                if accept.contains(&r.status) {
                    return r;
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no leader answered {method} {path}");
}

/// Starts a cluster and waits (up to 10 s) for a leader; returns it with the leader's address.
fn start_led(name: &str, n: u64, extra: &[&str]) -> (LocalCluster, String) {
    let c = start(name, n, extra);
    let leader = c
        .wait_for_leader(Duration::from_secs(10))
        .expect("a leader is elected");
    (c, leader)
}

fn put(c: &LocalCluster, key: &str, value: u64) -> u64 {
    let r = at_leader(
        c,
        "PUT",
        &format!("/kv/{key}"),
        Some(json!({"value": value})),
        &[200],
    );
    r.body["version"].as_u64().expect("a version")
}

fn get(c: &LocalCluster, key: &str) -> (u16, serde_json::Value) {
    let r = at_leader(c, "GET", &format!("/kv/{key}"), None, &[200, 404]);
    (r.status, r.body)
}

#[test]
fn three_nodes_serve_reads_writes_and_cas() {
    let (c, leader) = start_led("three", 3, &[]);
    let mut l = client(&leader);
    let v1 = put(&c, "x", 1);
    assert_eq!(get(&c, "x"), (200, json!({"value": 1, "version": v1})));
    let r = l
        .request("POST", "/kv/x/cas", Some(&json!({"from": 1, "to": 2})))
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    let r = l
        .request("POST", "/kv/x/cas", Some(&json!({"from": 1, "to": 3})))
        .unwrap();
    assert_eq!((r.status, r.body.clone()), (409, json!({"value": 2})));
    assert_eq!(get(&c, "nothing").0, 404);
    let r = l
        .request(
            "PUT",
            "/kv/doc",
            Some(&json!({"value": {"any": ["json", 1, null]}})),
        )
        .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(get(&c, "doc").1["value"], json!({"any": ["json", 1, null]}));
    let status = l.request("GET", "/status", None).unwrap().body;
    assert_eq!(status["role"], "leader");
    for field in [
        "term",
        "commit_index",
        "applied_index",
        "log_length",
        "wall_clock_ms",
        "monotonic_ms",
    ] {
        assert!(status[field].is_u64(), "status has {field}: {status}");
    }
}

#[test]
fn transactions_apply_at_one_point_of_the_log() {
    // Issue 29's foundation: POST /txn, atomically through the Raft log.
    let (c, leader) = start_led("txn", 3, &[]);
    let v = put(&c, "r", 7);
    let txn = |ops: serde_json::Value| {
        at_leader(&c, "POST", "/txn", Some(json!({"ops": ops})), &[200, 409])
    };
    let r = txn(json!([
        ["r", "r", null],
        ["w", "r", 8],
        ["w", "r", 9],
        ["append", "l", 1],
        ["append", "l", 2],
        ["r", "l", null],
        ["r", "none", null]
    ]));
    assert_eq!(r.status, 200, "{r:?}");
    let at = r.body["version"].as_u64().expect("a version");
    assert!(at > v);
    // Register reads carry the version that wrote the value, a key's last write the
    // transaction's; lists carry none (their order is their own evidence).
    assert_eq!(
        r.body["ops"],
        json!([
            ["r", "r", 7, v],
            ["w", "r", 8],
            ["w", "r", 9, at],
            ["append", "l", 1],
            ["append", "l", 2],
            ["r", "l", [1, 2]],
            ["r", "none", null]
        ])
    );
    assert_eq!(get(&c, "r").1, json!({"value": 9, "version": at}));
    assert_eq!(get(&c, "l").1, json!({"value": [1, 2], "version": at}));
    // A transaction that cannot apply changes nothing and says why.
    let r = txn(json!([["w", "fresh", 1], ["append", "r", 3]]));
    assert_eq!(r.status, 409, "{r:?}");
    assert_eq!(
        r.body["error"],
        "cannot append to key r: it holds 9, not a list"
    );
    assert_eq!(r.body["indeterminate"], false);
    assert_eq!(get(&c, "fresh").0, 404);
    // Malformed transactions are 400 with the shape; GET is 405.
    let mut l = client(&leader);
    for bad in [
        json!({"ops": []}),
        json!({"ops": [["x", "k", 1]]}),
        json!({"ops": [["r", 1, null]]}),
        json!({"ops": [["r", "k", 5]]}),
        json!([1]),
    ] {
        let r = l.request("POST", "/txn", Some(&bad)).unwrap();
        assert_eq!(r.status, 400, "{bad}: {r:?}");
        assert!(
            r.body["error"].as_str().unwrap().contains("body must be"),
            "{r:?}"
        );
    }
    assert_eq!(l.request("GET", "/txn", None).unwrap().status, 405);
    // A follower redirects a transaction to the leader's /txn.
    let follower = c.nodes.iter().find(|n| n.client_addr != leader).unwrap();
    let r = client(&follower.client_addr)
        .request("POST", "/txn", Some(&json!({"ops": [["r", "r", null]]})))
        .unwrap();
    assert_eq!(r.status, 307, "{r:?}");
    assert!(r.location.as_deref().unwrap().ends_with("/txn"), "{r:?}");
}

#[test]
fn a_follower_redirects_to_the_leader() {
    let (c, leader) = start_led("redirect", 3, &[]);
    let follower = c.nodes.iter().find(|n| n.client_addr != leader).unwrap();
    let r = client(&follower.client_addr)
        .request("PUT", "/kv/k", Some(&json!({"value": 5})))
        .unwrap();
    assert_eq!(r.status, 307, "{r:?}");
    assert_eq!(
        r.location.as_deref(),
        Some(format!("http://{leader}/kv/k").as_str())
    );
    assert_eq!(r.body["leader_addr"], json!(leader));

    // `?local` is served by the follower itself, from its applied state (bounded wait for it
    // to apply the write); an unknown query is refused.
    let v = put(&c, "k", 5);
    let mut f = client(&follower.client_addr);
    let local = (0..100)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(20));
            f.request("GET", "/kv/k?local", None).unwrap()
        })
        .find(|r| r.status == 200)
        .expect("the follower applies the write");
    assert_eq!(local.body, json!({"value": 5, "version": v}));
    let bad = f.request("GET", "/kv/k?stale", None).unwrap();
    assert_eq!(bad.status, 400, "{bad:?}");
    assert!(bad.body["error"]
        .as_str()
        .unwrap()
        .contains("unknown query"));
}

#[test]
fn bad_requests_get_400_and_oversized_bodies_413() {
    let (_cluster, leader) = start_led("bad", 3, &[]);
    let mut l = client(&leader);
    let raw = |body: &str| {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(&leader).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(
            s,
            "PUT /kv/k HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    let out = raw("{not json");
    assert!(
        out.starts_with("HTTP/1.1 400") && out.contains("malformed JSON"),
        "{out}"
    );
    let r = l.request("PUT", "/kv/k", Some(&json!({"val": 1}))).unwrap();
    assert_eq!(r.status, 400);
    let r = l
        .request("POST", "/kv/k/cas", Some(&json!({"from": 1})))
        .unwrap();
    assert_eq!(r.status, 400);
    let r = l.request("GET", "/kv/a%2Fb", None).unwrap();
    assert_eq!(r.status, 400);
    let huge = json!({"value": "x".repeat(2 << 20)});
    let r = l.request("PUT", "/kv/k", Some(&huge));
    assert!(
        matches!(r, Ok(ref r) if r.status == 413) || r.is_err(),
        "{r:?}"
    );
    // The node is still healthy afterwards.
    assert_eq!(status_code(&leader), 200);
}

#[test]
fn acknowledged_writes_survive_sigkill_of_every_node() {
    let mut c = start("crash", 3, &[]);
    c.wait_for_leader(Duration::from_secs(10))
        .expect("a leader");
    let mut versions = Vec::new();
    for i in 0..50 {
        versions.push(put(&c, &format!("k{}", i % 7), i));
    }
    for i in 0..3 {
        c.kill(i);
    }
    for i in 0..3 {
        c.start_node(i).unwrap();
    }
    c.wait_for_leader(Duration::from_secs(15))
        .expect("a leader after restart");
    for key in 0..7u64 {
        let last = (0..50u64).filter(|i| i % 7 == key).max().unwrap();
        let (status, body) = get(&c, &format!("k{key}"));
        assert_eq!(status, 200);
        assert_eq!(
            body["value"],
            json!(last),
            "k{key} after every node was killed"
        );
        assert_eq!(body["version"], json!(versions[last as usize]));
    }
}

#[test]
fn five_nodes_elect_survive_two_kills_and_serve() {
    let (mut c, leader) = start_led("five", 5, &[]);
    put(&c, "a", 1);
    // Kill the leader and one more: three of five remain, a quorum.
    let li = c
        .nodes
        .iter()
        .position(|n| n.client_addr == leader)
        .unwrap();
    c.kill(li);
    c.kill((li + 1) % 5);
    let v = put(&c, "a", 2);
    assert_eq!(get(&c, "a"), (200, json!({"value": 2, "version": v})));
}

#[test]
fn snapshots_compact_the_log_and_a_lagging_node_catches_up() {
    let mut c = start("snap", 3, &["--snapshot-every", "20"]);
    c.wait_for_leader(Duration::from_secs(10))
        .expect("a leader");
    c.kill(2);
    for i in 0..120 {
        put(&c, &format!("s{}", i % 5), i);
    }
    c.start_node(2).unwrap();
    // The restarted node needs entries the others compacted away: InstallSnapshot.
    let mut n3 = client(&c.nodes[2].client_addr);
    let mut caught_up = false;
    for _ in 0..100 {
        if let Ok(r) = n3.request("GET", "/status", None) {
            if r.body["applied_index"].as_u64().unwrap_or(0) >= 120 {
                assert!(
                    r.body["log_length"].as_u64().unwrap() < 60,
                    "the log was compacted: {}",
                    r.body
                );
                caught_up = true;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(caught_up, "node 3 caught up through a snapshot");
    assert_eq!(get(&c, "s4").1["value"], json!(119));
}

#[test]
fn the_client_api_drops_stalled_clients_caps_connections_and_refuses_huge_heads() {
    let flags = [
        "--client-read-timeout-ms",
        "300",
        "--max-client-connections",
        "3",
    ];
    let (_cluster, leader) = start_led("limits", 1, &flags);
    use std::io::{Read, Write};
    let exchange = |bytes: &[u8]| {
        let mut s = std::net::TcpStream::connect(&leader).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        s.write_all(bytes).unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    };
    // Half a request, then silence: dropped within the read timeout, long before 5 s.
    let started = std::time::Instant::now();
    exchange(b"PUT /kv/k HTTP/1.1\r\nContent-Le");
    assert!(started.elapsed() < Duration::from_secs(2));
    let huge = format!(
        "GET /status HTTP/1.1\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(20 << 10)
    );
    let out = exchange(huge.as_bytes());
    assert!(out.starts_with("HTTP/1.1 431"), "{out:?}");
    // Three idle connections fill the cap; the fourth is told so; once they go, all is well.
    let idle: Vec<_> = (0..3)
        .map(|_| std::net::TcpStream::connect(&leader).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(50));
    let out = exchange(b"GET /status HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(out.starts_with("HTTP/1.1 503"), "{out:?}");
    drop(idle);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(status_code(&leader), 200);
}

#[test]
fn a_port_taken_before_the_node_binds_is_an_address_in_use_error_and_start_retries() {
    use targets::raftkv::cluster::{free_port, loopback_nodes, ClusterSpec};
    let bin = Path::new(env!("CARGO_BIN_EXE_raftkv"));
    // Another program takes node 1's client port between its choice and the node's bind.
    let nodes = loopback_nodes(1).unwrap();
    let taken = std::net::TcpListener::bind(&nodes[0].client_addr).unwrap();
    let spec = ClusterSpec {
        program: bin.to_path_buf(),
        program_args: Vec::new(),
        dir: scratch("port-taken"),
        extra: Vec::new(),
        nodes,
        keep_dir: false,
    };
    let e = LocalCluster::launch(spec)
        .err()
        .expect("the node cannot bind");
    assert_eq!(e.kind(), std::io::ErrorKind::AddrInUse, "{e}");
    assert!(e.to_string().contains("n1 exited at its start"), "{e}");
    drop(taken);
    // Ports handed out in one process never repeat.
    let ports: std::collections::HashSet<u16> = (0..500).map(|_| free_port().unwrap()).collect();
    assert_eq!(ports.len(), 500);
}
