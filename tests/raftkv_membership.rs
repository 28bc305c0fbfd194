//! raftkv's membership changes as real processes: nodes joining and leaving a running cluster
//! through `/admin/members`, one at a time, with load running; over loopback TCP, with real
//! fsync and real signals.

use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use targets::client::Client;
use targets::raftkv::cluster::{LocalCluster, MemberChange, MembersView};

const CHANGE: Duration = Duration::from_secs(20);

fn start(name: &str, n: u64) -> LocalCluster {
    let dir = tempfile::Builder::new()
        .prefix(&format!("raftkv-members-{name}-"))
        .tempdir()
        .expect("a temp directory")
        .keep();
    let bin = Path::new(env!("CARGO_BIN_EXE_raftkv"));
    let c = LocalCluster::start(bin, n, &dir, &["--snapshot-every", "200"]).expect("starts");
    wait_leader(&c);
    c
}

fn wait_leader(c: &LocalCluster) -> (usize, MembersView) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if let Some(l) = c.leader_view() {
            return l;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no leader within 10 s");
}

fn client(addr: &str) -> Client {
    Client::new(addr, Duration::from_secs(2))
}

/// Writes `k{i}` = i through whichever node leads until `stop`; the writes acknowledged.
fn writer(
    addrs: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<BTreeMap<String, u64>> {
    std::thread::spawn(move || {
        let mut acked = BTreeMap::new();
        let mut i = 0u64;
        let mut at = 0usize;
        while !stop.load(Ordering::SeqCst) {
            let addr = {
                let a = addrs.lock().unwrap();
                a[at % a.len()].clone()
            };
            let key = format!("k{i}");
            match client(&addr).request("PUT", &format!("/kv/{key}"), Some(&json!({"value": i}))) {
                Ok(r) if r.status == 200 => {
                    acked.insert(key, i);
                    i += 1;
                }
                Ok(r) if r.status == 307 || r.status == 503 => at += 1,
                // Unknown outcomes: the key is written again under a new name.
                _ => {
                    i += 1;
                    at += 1;
                }
            }
        }
        acked
    })
}

fn read(c: &LocalCluster, key: &str) -> serde_json::Value {
    for _ in 0..100 {
        let (l, _) = wait_leader(c);
        if let Ok(r) = client(&c.nodes[l].client_addr).request("GET", &format!("/kv/{key}"), None) {
            if r.status == 200 {
                return r.body["value"].clone();
            }
            if r.status == 404 {
                return serde_json::Value::Null;
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("no leader answered a read of {key}");
}

fn ids(c: &LocalCluster, nodes: &[usize]) -> Vec<u64> {
    nodes.iter().map(|&i| c.nodes[i].id).collect()
}

#[test]
fn three_grow_to_five_and_shrink_to_three_under_load_keeping_every_acknowledged_write() {
    let mut c = start("grow", 3);
    let addrs = Arc::new(Mutex::new(
        c.nodes
            .iter()
            .map(|n| n.client_addr.clone())
            .collect::<Vec<_>>(),
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let load = writer(addrs.clone(), stop.clone());
    std::thread::sleep(Duration::from_millis(500));

    for _ in 0..2 {
        let i = c.join().expect("a joining node starts");
        addrs.lock().unwrap().push(c.nodes[i].client_addr.clone());
        let view = c
            .change_members(MemberChange::Add(i), CHANGE)
            .expect("added");
        assert!(view.voters.contains(&c.nodes[i].id), "{view:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    let view = wait_leader(&c).1;
    assert_eq!(view.voters, vec![1, 2, 3, 4, 5], "{view:?}");

    // Shrink by two of the original nodes, the leader first when it is one of them.
    let leader = wait_leader(&c).0;
    let first = if leader < 3 { leader } else { 0 };
    let second = (0..3).find(|&i| i != first).unwrap();
    for node in [first, second] {
        let view = c
            .change_members(MemberChange::Remove(node), CHANGE)
            .expect("removed");
        assert!(!view.voters.contains(&c.nodes[node].id), "{view:?}");
        std::thread::sleep(Duration::from_millis(300));
    }
    std::thread::sleep(Duration::from_millis(500));
    stop.store(true, Ordering::SeqCst);
    let acked = load.join().unwrap();

    let (l, view) = wait_leader(&c);
    let mut expected: Vec<u64> = (0..5)
        .filter(|i| ![first, second].contains(i))
        .map(|i| i as u64 + 1)
        .collect();
    expected.sort_unstable();
    assert_eq!(view.voters, expected, "{view:?}");
    assert!(
        ![first, second].contains(&l),
        "a removed node leads: {view:?}"
    );
    assert!(
        acked.len() > 50,
        "too little load got through: {} writes",
        acked.len()
    );
    for (key, value) in &acked {
        assert_eq!(
            read(&c, key),
            json!(value),
            "acknowledged write {key} = {value} lost"
        );
    }
    // The nodes that joined hold everything: their applied index reaches the leader's commit.
    let commit = c.status(l).unwrap()["commit_index"].as_u64().unwrap();
    for joined in [3, 4] {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let applied = c.status(joined).unwrap()["applied_index"].as_u64().unwrap();
            if applied >= commit {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "n{} applied {applied} of {commit}",
                joined + 1
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    assert_eq!(ids(&c, &[3, 4]), vec![4, 5]);
}

#[test]
fn a_removed_leader_steps_down_and_stays_quiet() {
    let c = start("leader", 3);
    let (leader, before) = wait_leader(&c);
    let view = c
        .change_members(MemberChange::Remove(leader), CHANGE)
        .expect("the leader is removed");
    assert_eq!(view.voters.len(), 2, "{view:?}");
    let (now, after) = wait_leader(&c);
    assert_ne!(now, leader, "the removed node still leads");
    assert!(
        after.term > before.term,
        "a new election: {before:?} then {after:?}"
    );
    let old = c.status(leader).expect("the removed node still runs");
    assert_ne!(old["role"], "leader", "{old}");
    // It does not disrupt the members: no elections follow while it runs outside.
    std::thread::sleep(Duration::from_millis(1500));
    let (later, settled) = wait_leader(&c);
    assert_eq!(
        (later, settled.term),
        (now, after.term),
        "the leadership changed"
    );
}

#[test]
fn a_change_is_refused_while_another_is_in_flight_and_bad_requests_say_why() {
    let c = start("refused", 3);
    let (leader, _) = wait_leader(&c);
    let addr = c.nodes[leader].client_addr.clone();
    let post = |body: serde_json::Value| {
        client(&addr)
            .request("POST", "/admin/members", Some(&body))
            .unwrap()
    };
    // Malformed and misfit requests.
    let r = post(json!({"id": 9}));
    assert_eq!(r.status, 400, "{}", r.text);
    assert!(r.text.contains("addr"), "{}", r.text);
    let r = post(json!({"id": c.nodes[0].id, "addr": "127.0.0.1:1"}));
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("already a member"), "{}", r.text);
    let r = client(&addr)
        .request("DELETE", "/admin/members/77", None)
        .unwrap();
    assert_eq!(r.status, 409, "{}", r.text);
    assert!(r.text.contains("not a member"), "{}", r.text);
    // A follower points at the leader.
    let follower = (0..3).find(|&i| i != leader).unwrap();
    let r = client(&c.nodes[follower].client_addr)
        .request("DELETE", "/admin/members/1", None)
        .unwrap();
    assert_eq!(r.status, 307, "{}", r.text);
    assert_eq!(r.location, Some(format!("http://{addr}/admin/members")));

    // With both followers stopped, an accepted change cannot commit; a second is refused.
    let followers: Vec<u32> = (0..3)
        .filter(|&i| i != leader)
        .map(|i| c.pid(i).unwrap())
        .collect();
    let signal = |sig: &str| {
        for pid in &followers {
            let ok = std::process::Command::new("kill")
                .args([sig, &pid.to_string()])
                .status()
                .unwrap()
                .success();
            assert!(ok);
        }
    };
    signal("-STOP");
    let first = post(json!({"id": 4, "addr": "127.0.0.1:1"}));
    let second = post(json!({"id": 5, "addr": "127.0.0.1:2"}));
    signal("-CONT");
    assert_eq!(first.status, 202, "{}", first.text);
    assert_eq!(second.status, 409, "{}", second.text);
    assert!(second.text.contains("not committed yet"), "{}", second.text);
    // Once the followers are back the first commits, and the learner shows in the list.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, v) = wait_leader(&c);
        if v.committed && v.learners == vec![4] {
            break;
        }
        assert!(Instant::now() < deadline, "{v:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}
