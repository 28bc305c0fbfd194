//! End-to-end tests of `faultline report`, `faultline serve` and `--junit` on a real stored run:
//! the run writes report.html and JUnit XML, `report` rewrites the page, and `serve` lists the
//! store's runs newest first and serves each one's report and files over real HTTP, never a file
//! outside the store.

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};

mod support;
use std::time::Duration;
use support::{faultline, Scratch};

/// `faultline serve`, stopped when dropped.
struct Server {
    child: Child,
    addr: String,
}

impl Server {
    fn start(store: &Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
            .args(["serve", store.to_str().unwrap(), "--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("serve starts");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        // faultline serve: http://127.0.0.1:PORT/ showing …
        let addr = line
            .split("http://")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_else(|| panic!("no address in {line:?}"))
            .to_string();
        assert!(
            addr.starts_with("127.0.0.1:"),
            "loopback by default: {addr}"
        );
        Server { child, addr }
    }

    /// GET `path`: the status and the body.
    fn get(&self, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(&self.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
        let mut all = Vec::new();
        s.read_to_end(&mut all).unwrap();
        let text = String::from_utf8_lossy(&all).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
        let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        (status, body.to_string())
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn a_run_writes_its_report_and_junit_and_serve_shows_it() {
    let tmp = Scratch::new("serve");
    let store = tmp.0.join("store");
    let junit = tmp.0.join("run.xml");
    let out = faultline(&[
        "run",
        "--store",
        store.to_str().unwrap(),
        "--time-limit",
        "3",
        "--nemesis",
        "pause",
        "--nemesis-interval",
        "1",
        "--recovery",
        "0.5",
        "--seed",
        "5",
        "--junit",
        junit.to_str().unwrap(),
    ]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let run = store.join("latest").canonicalize().unwrap();
    let report = run.join("report.html");
    assert!(
        stdout.contains(&format!("report    {}", report.display())),
        "{stdout}"
    );
    let page = std::fs::read_to_string(&report).unwrap();
    assert!(
        page.contains("<p id=\"verdict\" class=\"verdict holds\">linearizable: <b>holds</b></p>")
    );
    assert!(page.contains("<th>seed</th><td>5</td>"));

    // JUnit: a passing case per model, and one per fault kind asked for (applied), no failures.
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert!(
        xml.contains("tests=\"8\" failures=\"0\" errors=\"0\""),
        "{xml}"
    );
    assert!(
        xml.contains("<testsuite name=\"faults\" tests=\"1\" failures=\"0\" errors=\"0\""),
        "{xml}"
    );
    assert!(xml.contains("name=\"pause applied\""), "{xml}");
    assert_eq!(xml.matches("<testcase ").count(), 9);

    // `faultline report` writes the same page again.
    std::fs::remove_file(&report).unwrap();
    let out = faultline(&["report", store.join("latest").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        report.display().to_string()
    );
    assert_eq!(
        std::fs::read_to_string(&report).unwrap(),
        page,
        "regenerated identically"
    );

    // An older run without results.json (cut short) and without a report.
    let test_dir = run.parent().unwrap();
    let older = test_dir.join("20200101T000000Z");
    std::fs::create_dir_all(&older).unwrap();
    std::fs::copy(run.join("config.json"), older.join("config.json")).unwrap();
    std::fs::copy(run.join("history.jsonl"), older.join("history.jsonl")).unwrap();

    let server = Server::start(&store);
    let (status, index) = server.get("/");
    assert_eq!(status, 200);
    let rows: Vec<&str> = index.split("<tr class=\"run\">").skip(1).collect();
    assert_eq!(rows.len(), 2, "both runs are listed: {index}");
    let newest = run.file_name().unwrap().to_str().unwrap();
    assert!(
        rows[0].contains("<span class=\"badge holds\">linearizable: holds</span>"),
        "newest first: {}",
        rows[0]
    );
    assert!(rows[0].contains("raftkv, 3 nodes"), "{}", rows[0]);
    assert!(rows[0].contains("<td>pause</td>"), "{}", rows[0]);
    assert!(rows[0].contains(&format!("/run/raftkv/{newest}/report.html")));
    assert!(
        rows[1].contains("2020-01-01 00:00:00 UTC") && rows[1].contains("incomplete"),
        "{}",
        rows[1]
    );

    let (status, runs) = server.get("/runs.json");
    assert_eq!(status, 200);
    let runs: Value = serde_json::from_str(&runs).unwrap();
    assert_eq!(runs[0]["run"], newest);
    assert_eq!(runs[0]["strongest"][0], "linearizable");
    assert!(runs[0]["ops"].as_u64().unwrap() > 100);

    // The stored report, and one built on request for the run that has none.
    let (status, served) = server.get(&format!("/run/raftkv/{newest}/report.html"));
    assert_eq!((status, served == page), (200, true));
    let (status, built) = server.get("/run/raftkv/20200101T000000Z/report.html");
    assert_eq!(status, 200);
    assert!(
        built.contains("has no results.json"),
        "the page says why it was re-checked"
    );
    assert!(
        !older.join("report.html").exists(),
        "serve never writes to the store"
    );

    // Files: the listing and a file.
    let (status, listing) = server.get(&format!("/run/raftkv/{newest}/"));
    assert_eq!(status, 200);
    for name in [
        "history.jsonl",
        "config.json",
        "results.json",
        "nemesis.jsonl",
        "nodes/",
    ] {
        assert!(
            listing.contains(&format!(">{name}<")),
            "{name} listed: {listing}"
        );
    }
    let (status, history) = server.get(&format!("/run/raftkv/{newest}/history.jsonl"));
    assert_eq!(status, 200);
    assert_eq!(
        history,
        std::fs::read_to_string(run.join("history.jsonl")).unwrap()
    );

    // Nothing outside the store.
    assert_eq!(server.get("/run/raftkv/../../../../etc/passwd").0, 400);
    assert_eq!(server.get("/run/raftkv/%2e%2e/%2e%2e/etc/passwd").0, 400);
    assert_eq!(server.get("/run/raftkv/nope/history.jsonl").0, 404);
    assert_eq!(server.get("/nope").0, 404);
}

#[test]
fn report_and_serve_reject_bad_input_with_one_clear_error() {
    let tmp = Scratch::new("serve-bad");
    let out = faultline(&["report", tmp.0.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a run directory: it has no history.jsonl"),
        "{err}"
    );

    let out = faultline(&["serve", tmp.0.join("missing").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not a directory"), "{err}");

    let out = faultline(&["serve", tmp.0.to_str().unwrap(), "--bind", "not-an-address"]);
    assert_eq!(out.status.code(), Some(3));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--bind"), "{err}");
}
