//! What a client costs the harness: `faultline run --nemesis none --rate 0` against a trivial
//! in-memory HTTP key-value server (tokio, in this process) at 1, 10, 100 and 1,000 clients,
//! for a few seconds each. Prints, per client count, the operations done, their throughput,
//! and the harness's CPU time per operation (user + system of the `faultline` process, read
//! from its rusage, which includes its set-up, final reads and check).
//!
//! Run: `cargo bench -p faultline --bench clients` (`FAULTLINE_BENCH_SECS` to change the
//! length of each run, default 5; `FAULTLINE_BENCH_CLIENTS=1,10` for other client counts;
//! `FAULTLINE_BENCH_BIN=path/to/faultline` to measure another build).

use std::collections::HashMap;
use std::io::Write;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

type Store = Arc<Mutex<HashMap<String, String>>>;

/// Serves GET/PUT/POST-cas on `/kv/{key}` with keep-alive, Content-Length bodies only.
async fn serve(listener: tokio::net::TcpListener, store: Store) {
    loop {
        let Ok((conn, _)) = listener.accept().await else {
            continue;
        };
        let _ = conn.set_nodelay(true);
        let store = store.clone();
        tokio::spawn(async move {
            let (r, mut w) = conn.into_split();
            let mut r = BufReader::new(r);
            while let Some((method, path, body)) = request(&mut r).await {
                let (status, reply) = answer(&store, &method, &path, &body);
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\n\r\n",
                    reply.len()
                );
                if w.write_all((head + &reply).as_bytes()).await.is_err() {
                    return;
                }
            }
        });
    }
}

async fn request(
    r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>,
) -> Option<(String, String, String)> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut length = 0;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body).await.ok()?;
    Some((method, path, String::from_utf8(body).ok()?))
}

fn answer(store: &Store, method: &str, path: &str, body: &str) -> (u16, String) {
    let rest = path.strip_prefix("/kv/").unwrap_or_default();
    let (key, cas) = match rest.strip_suffix("/cas") {
        Some(k) => (k, true),
        None => (rest, false),
    };
    let field = |name: &str| -> String {
        let v: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
        v[name].to_string()
    };
    let mut s = store.lock().unwrap();
    match (method, cas) {
        ("GET", false) => match s.get(key) {
            Some(v) => (200, format!("{{\"value\": {v}}}")),
            None => (404, "{}".into()),
        },
        ("PUT", false) => {
            s.insert(key.to_string(), field("value"));
            (200, "{}".into())
        }
        ("POST", true) if s.get(key) == Some(&field("from")) => {
            s.insert(key.to_string(), field("to"));
            (200, "{}".into())
        }
        ("POST", true) => (409, "{}".into()),
        _ => (400, "{}".into()),
    }
}

const TARGET: &str = r#"name = "in-memory"
[[nodes]]
name = "m"
url = "http://127.0.0.1:PORT"
[read]
method = "GET"
path = "/kv/{key}"
value = "/value"
ok = [200]
absent = [404]
[write]
method = "PUT"
path = "/kv/{key}"
body = '{"value": {value}}'
ok = [200]
[cas]
method = "POST"
path = "/kv/{key}/cas"
body = '{"from": {from}, "to": {to}}'
ok = [200]
mismatch = [409]
"#;

/// The CPU seconds (user + system) of children reaped so far.
fn children_cpu() -> f64 {
    use nix::sys::resource::{getrusage, UsageWho};
    let u = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage");
    let secs = |t: nix::sys::time::TimeVal| t.tv_sec() as f64 + t.tv_usec() as f64 / 1e6;
    secs(u.user_time()) + secs(u.system_time())
}

fn main() {
    let secs: f64 = std::env::var("FAULTLINE_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let port = listener.local_addr().unwrap().port();
    let store = Store::default();
    rt.spawn(serve(listener, store.clone()));
    let dir = std::env::temp_dir().join(format!("faultline-bench-clients-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("target.toml");
    std::fs::write(&file, TARGET.replace("PORT", &port.to_string())).unwrap();
    println!("faultline run --target http:(in-memory) --nemesis none --rate 0, {secs} s each");
    println!(
        "{:>8} {:>10} {:>12} {:>16}",
        "clients", "ops", "ops/s", "CPU µs per op"
    );
    // Another build to compare with (an older faultline, say): FAULTLINE_BENCH_BIN.
    let program = std::env::var("FAULTLINE_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_faultline").to_string());
    println!("binary {program}");
    let mut failed = false;
    let counts: Vec<u64> = std::env::var("FAULTLINE_BENCH_CLIENTS")
        .ok()
        .map(|s| s.split(',').filter_map(|c| c.parse().ok()).collect())
        .unwrap_or(vec![1, 10, 100, 1000]);
    for clients in counts {
        // Each run starts from an empty store, as its history assumes.
        store.lock().unwrap().clear();
        let before = children_cpu();
        let started = Instant::now();
        let out = Command::new(&program)
            .args([
                "run",
                "--nemesis",
                "none",
                "--rate",
                "0",
                "--recovery",
                "0",
                "--json",
            ])
            .args(["--keys", "100", "--time-limit", &secs.to_string()])
            .args(["--concurrency", &clients.to_string()])
            .arg("--target")
            .arg(format!("http:{}", file.display()))
            .arg("--store")
            .arg(dir.join("store"))
            .output()
            .unwrap();
        let cpu = children_cpu() - before;
        let results: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|_| {
            panic!(
                "{clients} clients: {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
        let ops = results["main_phase"]["ops"].as_f64().unwrap_or(0.0);
        println!(
            "{clients:>8} {ops:>10} {:>12.0} {:>16.1}   (wall {:.1} s, verdict {})",
            results["main_phase"]["throughput"].as_f64().unwrap_or(0.0),
            cpu / ops * 1e6,
            started.elapsed().as_secs_f64(),
            results["verdict"]
        );
        let _ = std::io::stdout().flush();
        if results["verdict"] != "holds" {
            // The server is correct: a run that does not hold is a harness bug. Keep it.
            println!("         kept {}", results["run_dir"]);
            failed = true;
        }
    }
    if !failed {
        let _ = std::fs::remove_dir_all(&dir);
    }
}
