//! raftkv throughput and latency: a 3-node cluster on loopback with fsync on, driven by 1 and by
//! 16 concurrent clients, half puts and half (linearizable) gets on 100 keys, each client with a
//! keep-alive connection to the leader. Prints requests per second and p50/p99 latency.
//!
//! `cargo bench -p faultline-targets` (default 10 s per load; `-- --seconds N`). Under
//! `cargo test --all-targets` it runs for one second per load as a smoke test.

use serde_json::json;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use targets::client::Client;
use targets::raftkv::cluster::LocalCluster;

fn binary() -> std::path::PathBuf {
    // Benches have no CARGO_BIN_EXE_*; the binary sits next to the bench's own directory.
    let exe = std::env::current_exe().expect("own path");
    let dir = exe.parent().and_then(Path::parent).expect("target/release");
    let bin = dir.join("raftkv");
    assert!(
        bin.is_file(),
        "build raftkv first: cargo build --release -p faultline-targets ({})",
        bin.display()
    );
    bin
}

/// `host:port` of an `http://host:port/...` URL.
fn authority(url: &str) -> Option<String> {
    let rest = url.strip_prefix("http://")?;
    Some(rest.split('/').next()?.to_string())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn run_load(leader: &str, clients: usize, seconds: f64) -> (f64, Duration, Duration, usize) {
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handles: Vec<_> = (0..clients)
        .map(|c| {
            let leader = leader.to_string();
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut client = Client::new(&leader, Duration::from_secs(5));
                let mut latencies = Vec::new();
                let mut errors = 0;
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let key = format!("/kv/b{}", (i * 31 + c as u64) % 100);
                    let t = Instant::now();
                    let r = if i.is_multiple_of(2) {
                        client.request("PUT", &key, Some(&json!({"value": i})))
                    } else {
                        client.request("GET", &key, None)
                    };
                    match r {
                        Ok(r) if r.status == 200 || r.status == 404 => latencies.push(t.elapsed()),
                        // Leadership moved (a loaded machine can miss a heartbeat): follow it.
                        Ok(r) if r.status == 307 => {
                            errors += 1;
                            if let Some(addr) = r.location.as_deref().and_then(authority) {
                                client = Client::new(&addr, Duration::from_secs(5));
                            }
                        }
                        _ => errors += 1,
                    }
                }
                (latencies, errors)
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    let mut errors = 0;
    for h in handles {
        let (l, e) = h.join().expect("client thread");
        all.extend(l);
        errors += e;
    }
    let elapsed = started.elapsed().as_secs_f64();
    all.sort();
    (
        all.len() as f64 / elapsed,
        percentile(&all, 0.5),
        percentile(&all, 0.99),
        errors,
    )
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bench = args.iter().any(|a| a == "--bench");
    let seconds: f64 = args
        .iter()
        .position(|a| a == "--seconds")
        .and_then(|i| args.get(i + 1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(if bench { 10.0 } else { 1.0 });
    let dir = std::env::temp_dir().join(format!("raftkv-bench-{}", std::process::id()));
    let cluster = LocalCluster::start(&binary(), 3, &dir, &[]).expect("cluster starts");
    let leader = cluster
        .wait_for_leader(Duration::from_secs(10))
        .expect("a leader");
    println!(
        "raftkv benchmark: 3 nodes, fsync on, 50% put / 50% linearizable get, {seconds} s per load"
    );
    for clients in [1, 16] {
        let (rps, p50, p99, errors) = run_load(&leader, clients, seconds);
        println!(
            "{clients:>2} client{}: {rps:8.0} req/s   p50 {:6.2} ms   p99 {:6.2} ms   errors {errors}",
            if clients == 1 { " " } else { "s" },
            p50.as_secs_f64() * 1e3,
            p99.as_secs_f64() * 1e3
        );
    }
    drop(cluster);
}
