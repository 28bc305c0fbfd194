//! Deliberately awkward HTTP servers in front of a correct in-memory key-value store, each run
//! through `faultline run --target http:FILE` as a new user would. A correct server must give
//! *holds* however it frames its replies (chunked, close-delimited, trickled byte by byte, an
//! idle keep-alive connection closed, `100 Continue` first, a host-name URL, a relative
//! redirect); a target file that misreads a server (errors sent with 200, values sent as text,
//! form bodies) must give the failure it deserves; and a reply that cannot be read is never
//! made a value.
//!
//! The servers are written here with the standard library only, so that every byte they send
//! is the test's choice. No root, no system packages.

use serde_json::{json, Value};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod support;
use support::{faultline, Scratch};

/// How a server is awkward. The store behind it is always correct (one lock, applied in order).
#[derive(Clone, Copy, Default)]
struct Quirks {
    chunked: bool,
    close_delimited: bool,
    /// Send every reply a byte at a time, 1 ms apart.
    trickle: bool,
    /// Close a keep-alive connection idle this long.
    idle_close_ms: Option<u64>,
    /// Send `100 Continue` before every reply to a request with a body.
    continue_first: bool,
    /// Refuse every third write with `200 Error: database is locked`, not applying it.
    errors_with_200: bool,
    /// Return values as JSON strings (`"5"`).
    string_values: bool,
    /// Take writes as form bodies (`value=5`); a JSON body is stored as "" (as sloppy servers do).
    form_bodies: bool,
    /// Answer `/old/...` with `307 Location: /...` (relative).
    relative_redirect: bool,
    /// Answer every read with a 200 page that is not JSON.
    garbage_reads: bool,
}

struct Server {
    port: u16,
    stop: Arc<AtomicBool>,
    members: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

struct Shared {
    quirks: Quirks,
    store: Mutex<HashMap<String, Value>>,
    writes: AtomicU64,
    /// The member list `/members` keeps: `a`, `b` and `c` to begin with.
    members: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

fn serve(quirks: Quirks) -> Server {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let stop = Arc::new(AtomicBool::new(false));
    let members = Arc::new(Mutex::new(
        ["a", "b", "c"].iter().map(|s| s.to_string()).collect(),
    ));
    let shared = Arc::new(Shared {
        quirks,
        store: Mutex::new(HashMap::new()),
        writes: AtomicU64::new(0),
        members: members.clone(),
    });
    let halt = stop.clone();
    std::thread::spawn(move || {
        for conn in l.incoming() {
            if halt.load(Ordering::SeqCst) {
                return;
            }
            let Ok(conn) = conn else { continue };
            let shared = shared.clone();
            std::thread::spawn(move || connection(conn, &shared));
        }
    });
    Server {
        port,
        stop,
        members,
    }
}

/// One request: method, path, headers (lower-cased names), body.
struct Request {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: String,
}

fn read_request(r: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut line = String::new();
    if r.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let (method, path) = (parts.next()?.to_string(), parts.next()?.to_string());
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':')?;
        headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
    }
    let n: usize = headers
        .get("content-length")
        .map_or(Some(0), |v| v.parse().ok())?;
    let mut body = vec![0; n];
    r.read_exact(&mut body).ok()?;
    Some(Request {
        method,
        path,
        headers,
        body: String::from_utf8(body).ok()?,
    })
}

fn connection(conn: TcpStream, shared: &Shared) {
    let q = shared.quirks;
    let _ = conn.set_read_timeout(q.idle_close_ms.map(Duration::from_millis));
    let mut r = BufReader::new(conn.try_clone().unwrap());
    let mut w = conn;
    // A read timeout is the idle close: the connection just ends.
    while let Some(req) = read_request(&mut r) {
        let (status, extra, body) = answer(&req, shared);
        let mut out = Vec::new();
        if q.continue_first && !req.body.is_empty() {
            out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
        }
        out.extend_from_slice(format!("HTTP/1.1 {status} X\r\n{extra}").as_bytes());
        if q.chunked {
            out.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
            for piece in body.as_bytes().chunks(3) {
                out.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
                out.extend_from_slice(piece);
                out.extend_from_slice(b"\r\n");
            }
            out.extend_from_slice(b"0\r\n\r\n");
        } else if q.close_delimited {
            out.extend_from_slice(b"Connection: close\r\n\r\n");
            out.extend_from_slice(body.as_bytes());
        } else {
            out.extend_from_slice(
                format!("Content-Length: {}\r\n\r\n{body}", body.len()).as_bytes(),
            );
        }
        let sent = if q.trickle {
            out.iter().try_for_each(|b| {
                std::thread::sleep(Duration::from_millis(1));
                w.write_all(std::slice::from_ref(b))
            })
        } else {
            w.write_all(&out)
        };
        if sent.is_err() || q.close_delimited {
            return;
        }
    }
}

/// The store's answer: status, extra header lines, body.
fn answer(req: &Request, shared: &Shared) -> (u16, String, String) {
    let q = shared.quirks;
    let path = match req.path.strip_prefix("/old") {
        Some(rest) if q.relative_redirect => {
            return (307, format!("Location: {rest}\r\n"), String::new())
        }
        _ => req.path.as_str(),
    };
    if let Some(rest) = path.strip_prefix("/members") {
        let mut members = shared.members.lock().unwrap();
        let name = rest.trim_start_matches('/').to_string();
        return match req.method.as_str() {
            "GET" => {
                let list: Vec<Value> = members.iter().map(|m| json!({ "name": m })).collect();
                (200, String::new(), json!({ "members": list }).to_string())
            }
            "PUT" if !name.is_empty() => {
                members.insert(name);
                (200, String::new(), "{}".into())
            }
            "DELETE" if members.remove(&name) => (200, String::new(), "{}".into()),
            _ => (404, String::new(), "{}".into()),
        };
    }
    let Some(rest) = path.strip_prefix("/kv/") else {
        return (404, String::new(), "{}".into());
    };
    let (key, cas) = match rest.strip_suffix("/cas") {
        Some(k) => (k.to_string(), true),
        None => (rest.to_string(), false),
    };
    let mut store = shared.store.lock().unwrap();
    let shown = |v: &Value| {
        if q.string_values {
            json!({ "value": v.to_string() })
        } else {
            json!({ "value": v })
        }
    };
    match (req.method.as_str(), cas) {
        ("GET", false) if q.garbage_reads => (200, String::new(), "<html>busy</html>".into()),
        ("GET", false) => match store.get(&key) {
            Some(v) => (200, String::new(), shown(v).to_string()),
            None => (404, String::new(), "{}".into()),
        },
        ("PUT", false) => {
            if q.errors_with_200 && shared.writes.fetch_add(1, Ordering::SeqCst) % 3 == 2 {
                return (200, String::new(), "Error: database is locked".into());
            }
            let value = if q.form_bodies {
                let form = req
                    .headers
                    .get("content-type")
                    .is_some_and(|c| c == "application/x-www-form-urlencoded");
                match req.body.strip_prefix("value=") {
                    Some(v) if form => v.parse::<i64>().map_or(json!(""), |n| json!(n)),
                    _ => json!(""),
                }
            } else {
                serde_json::from_str::<Value>(&req.body).unwrap_or_default()["value"].clone()
            };
            store.insert(key, value);
            (200, String::new(), "{}".into())
        }
        ("POST", true) => {
            let body: Value = serde_json::from_str(&req.body).unwrap_or_default();
            if store.get(&key) == Some(&body["from"]) {
                store.insert(key, body["to"].clone());
                (200, String::new(), "{}".into())
            } else {
                (409, String::new(), "{}".into())
            }
        }
        _ => (400, String::new(), "{}".into()),
    }
}

/// A target file for one node at `url`, with `extra` TOML fields for the file, the read and
/// the write.
fn target_file(url: &str, file: &str, read: &str, write: &str, prefix: &str) -> String {
    format!(
        r#"name = "awkward"
{file}
[[nodes]]
name = "a"
url = "{url}"

[read]
method = "GET"
path = "{prefix}/kv/{{key}}"
value = "/value"
ok = [200]
absent = [404]
{read}

[write]
method = "PUT"
path = "{prefix}/kv/{{key}}"
body = '{{"value": {{value}}}}'
ok = [200]
{write}

[cas]
method = "POST"
path = "{prefix}/kv/{{key}}/cas"
body = '{{"from": {{from}}, "to": {{to}}}}'
ok = [200]
mismatch = [409]
"#
    )
}

/// What a run said.
struct Ran {
    code: i32,
    stderr: String,
    results: Value,
    history: Vec<Value>,
}

/// Three clients at 60 operations a second in all.
const LOAD: &[&str] = &["--rate", "60", "--concurrency", "3"];

fn run(name: &str, target: &str) -> Ran {
    run_with(name, target, LOAD)
}

fn run_with(name: &str, target: &str, load: &[&str]) -> Ran {
    let scratch = Scratch::new(&format!("awkward-{name}"));
    let file = scratch.file("target.toml", target);
    let store = scratch.0.join("store");
    let target_arg = format!("http:{file}");
    let mut args = vec![
        "run",
        "--target",
        &target_arg,
        "--store",
        store.to_str().unwrap(),
        "--keys",
        "3",
        "--recovery",
        "0",
        "--json",
        "--seed",
        "7",
    ];
    // Defaults `load` may override: no faults, two seconds.
    for (flag, value) in [("--nemesis", "none"), ("--time-limit", "2")] {
        if !load.contains(&flag) {
            args.extend([flag, value]);
        }
    }
    args.extend_from_slice(load);
    let out = faultline(&args);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().expect("exited");
    let results: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("{name}: exit {code}, no JSON; stderr:\n{stderr}"));
    let dir = results["run_dir"].as_str().unwrap();
    let history = std::fs::read_to_string(std::path::Path::new(dir).join("history.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    Ran {
        code,
        stderr,
        results,
        history,
    }
}

/// Every value an ok read returned is a number this harness wrote, or null (absent).
fn no_fabricated_values(name: &str, ran: &Ran) {
    for e in &ran.history {
        if e["type"] == "ok" && e["f"] == "read" {
            let v = &e["value"];
            assert!(v.is_null() || v.is_i64(), "{name}: a read returned {v}");
        }
    }
}

fn holds(name: &str, quirks: Quirks, target: impl Fn(&str) -> String) {
    holds_with(name, quirks, LOAD, &[], target)
}

/// The run holds, and every main-phase operation was decided: ok, a cas that did not match, or
/// one of the `refusals` the server is known to give (each of which must have been seen).
fn holds_with(
    name: &str,
    quirks: Quirks,
    load: &[&str],
    refusals: &[&str],
    target: impl Fn(&str) -> String,
) {
    let server = serve(quirks);
    let url = format!("http://127.0.0.1:{}", server.port);
    let ran = run_with(name, &target(&url), load);
    let main = &ran.results["main_phase"];
    assert_eq!(
        (ran.code, ran.results["verdict"].as_str()),
        (0, Some("holds")),
        "{name}: {main}\n{}",
        ran.stderr
    );
    assert!(main["ok"].as_u64().unwrap() > 20, "{name}: {main}");
    let errors: std::collections::BTreeSet<&str> = ran
        .history
        .iter()
        .filter(|e| e["phase"].is_null() && (e["type"] == "info" || e["type"] == "fail"))
        .filter_map(|e| e["error"].as_str())
        .filter(|e| *e != "cas mismatch")
        .collect();
    assert_eq!(
        errors,
        refusals.iter().copied().collect(),
        "{name}: a correct server's answers were lost: {main}"
    );
    no_fabricated_values(name, &ran);
}

fn plain(url: &str) -> String {
    target_file(url, "", "", "", "")
}

#[test]
fn a_target_files_members_requests_remove_and_add_back_its_nodes() {
    let server = serve(Quirks::default());
    let url = format!("http://127.0.0.1:{}", server.port);
    // Three nodes of one store (so it stays correct), with the store's member list.
    let mut file = plain(&url);
    for name in ["b", "c"] {
        file = file.replacen(
            "\n[read]",
            &format!("[[nodes]]\nname = \"{name}\"\nurl = \"{url}\"\n\n[read]"),
            1,
        );
    }
    file.push_str(
        r#"
[members.list]
path = "/members"
pointer = "/members"
name_pointer = "/name"

[members.add]
method = "PUT"
path = "/members/{member}"

[members.remove]
method = "DELETE"
path = "/members/{member}"
"#,
    );
    let ran = run_with(
        "members",
        &file,
        &[
            "--rate",
            "60",
            "--concurrency",
            "3",
            "--nemesis",
            "membership",
            "--time-limit",
            "5",
            "--nemesis-interval",
            "1",
        ],
    );
    assert_eq!(ran.code, 0, "{}\n{}", ran.results, ran.stderr);
    assert!(
        ran.results["faults"]["membership"].as_u64().unwrap() >= 1,
        "{}",
        ran.results
    );
    let said: Vec<&str> = ran
        .history
        .iter()
        .filter(|e| e["process"] == "nemesis" && e["type"] == "info")
        .filter_map(|e| e["value"].as_str())
        .collect();
    assert!(
        said.iter()
            .any(|s| s.starts_with("remove ") && s.contains("the member list: ")),
        "{said:?}"
    );
    assert!(said.iter().any(|s| s.contains("add back ")), "{said:?}");
    let members: Vec<String> = server.members.lock().unwrap().iter().cloned().collect();
    assert_eq!(members, ["a", "b", "c"], "the run restores the membership");
}

#[test]
fn a_chunked_server_holds() {
    let q = Quirks {
        chunked: true,
        ..Quirks::default()
    };
    holds("chunked", q, plain);
}

#[test]
fn a_close_delimited_server_holds() {
    let q = Quirks {
        close_delimited: true,
        ..Quirks::default()
    };
    holds("close-delimited", q, plain);
}

#[test]
fn a_server_that_trickles_its_replies_holds() {
    let q = Quirks {
        trickle: true,
        chunked: true,
        ..Quirks::default()
    };
    holds("trickle", q, plain);
}

#[test]
fn a_server_that_closes_idle_connections_holds_with_no_unknown_outcomes() {
    // One client pausing 25 to 75 ms between operations; the server drops a connection idle
    // 10 ms, so every operation after the first finds its pooled connection closed. (Several
    // clients sharing the pool would race the close: a request written as the server closes
    // may have arrived, and is rightly unknown.)
    let q = Quirks {
        idle_close_ms: Some(10),
        ..Quirks::default()
    };
    let load = ["--rate", "20", "--concurrency", "1"];
    holds_with("idle-close", q, &load, &[], plain);
}

#[test]
fn a_server_that_sends_100_continue_first_holds() {
    let q = Quirks {
        continue_first: true,
        ..Quirks::default()
    };
    holds("continue", q, plain);
}

#[test]
fn a_host_name_url_works_and_its_address_is_shown() {
    let server = serve(Quirks::default());
    let url = format!("http://localhost:{}", server.port);
    let ran = run("host-name", &plain(&url));
    assert_eq!(ran.code, 0, "{}", ran.stderr);
    let shown = format!("a: localhost:{} is 127.0.0.1:{}", server.port, server.port);
    assert!(ran.stderr.contains(&shown), "{}", ran.stderr);
    let unknown = plain("http://no-such-host.invalid:1");
    let ran = {
        let scratch = Scratch::new("awkward-bad-host");
        let file = scratch.file("t.toml", &unknown);
        faultline(&[
            "run",
            "--target",
            &format!("http:{file}"),
            "--store",
            scratch.path(),
            "--time-limit",
            "1",
        ])
    };
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert_eq!(ran.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("cannot resolve no-such-host.invalid"),
        "{stderr}"
    );
}

#[test]
fn a_relative_redirect_is_followed_when_the_file_says_so() {
    let q = Quirks {
        relative_redirect: true,
        ..Quirks::default()
    };
    holds("redirect", q, |url| {
        target_file(url, "follow_redirects = true", "", "", "/old")
    });
    // Not followed, a 307 is an answer the file does not list: reads fail, writes are unknown,
    // and with no successful operation the gate says unknown.
    let server = serve(q);
    let url = format!("http://127.0.0.1:{}", server.port);
    let ran = run(
        "redirect-unfollowed",
        &target_file(&url, "", "", "", "/old"),
    );
    assert_eq!(ran.code, 2, "{}", ran.stderr);
    assert_eq!(ran.results["main_phase"]["ok"], 0);
}

#[test]
fn errors_sent_with_200_are_refusals_when_the_file_says_how_to_see_them() {
    let q = Quirks {
        errors_with_200: true,
        ..Quirks::default()
    };
    let rule = "[[write.classify]]\nbody_matches = \"^Error\"\nmeans = \"fail\"";
    let refusal = ["200: Error: database is locked"];
    holds_with("error-200", q, LOAD, &refusal, |url| {
        target_file(url, "", "", rule, "")
    });
    // Without the rule every refused write looks done: reads then miss it.
    let server = serve(q);
    let ran = run(
        "error-200-unclassified",
        &plain(&format!("http://127.0.0.1:{}", server.port)),
    );
    assert_eq!(ran.code, 1, "refused writes taken for done: {}", ran.stderr);
}

#[test]
fn values_sent_as_text_read_as_numbers_with_value_type_string() {
    let q = Quirks {
        string_values: true,
        ..Quirks::default()
    };
    holds("string-values", q, |url| {
        target_file(url, "value_type = \"string\"", "", "", "")
    });
    // Taken as JSON, "5" is not the 5 written: never equal, a violation.
    let server = serve(q);
    let ran = run(
        "string-values-as-json",
        &plain(&format!("http://127.0.0.1:{}", server.port)),
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
}

#[test]
fn form_bodies_need_their_content_type() {
    let q = Quirks {
        form_bodies: true,
        ..Quirks::default()
    };
    let form = "content_type = \"application/x-www-form-urlencoded\"";
    holds("form", q, |url| {
        target_file(url, "", "", form, "").replace(
            r#"body = '{"value": {value}}'"#,
            r#"body = "value={value}""#,
        )
    });
    // Sent as JSON, the server stores "": a value nobody wrote.
    let server = serve(q);
    let ran = run(
        "form-as-json",
        &plain(&format!("http://127.0.0.1:{}", server.port)),
    );
    assert_eq!(ran.code, 1, "{}", ran.stderr);
}

#[test]
fn an_unreadable_reply_is_never_a_value() {
    let q = Quirks {
        garbage_reads: true,
        ..Quirks::default()
    };
    let server = serve(q);
    let url = format!("http://127.0.0.1:{}", server.port);
    let ran = run(
        "garbage",
        &target_file(&url, "value_type = \"number\"", "", "", ""),
    );
    no_fabricated_values("garbage", &ran);
    assert_eq!(
        ran.code, 2,
        "no read succeeded, so nothing is decided: {}",
        ran.stderr
    );
    let reasons: Vec<&str> = ran
        .history
        .iter()
        .filter(|e| e["f"] == "read" && e["type"] == "fail")
        .filter_map(|e| e["error"].as_str())
        .collect();
    assert!(
        reasons.iter().any(|r| r.contains("unreadable read.value")),
        "{reasons:?}"
    );
}
