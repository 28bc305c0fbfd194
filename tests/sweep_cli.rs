//! `faultline sweep` end to end: real `faultline run`s of the bundled raftkv (seconds each), the
//! table, runs.jsonl, sweep.json and index.html, and going on after an interruption. No root.

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

mod support;
use support::{faultline, Scratch};

fn lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn a_sweep_tabulates_its_runs_links_their_reports_and_resumes() {
    let tmp = Scratch::new("sweep");
    let store = tmp.0.join("store");
    let safe = "--nemesis none --time-limit 1.5 --recovery 0";
    let args = [
        "sweep",
        "--seeds",
        "3",
        "--store",
        store.to_str().unwrap(),
        safe,
    ];
    // Interrupted once the first run is in: the run in flight finishes, no new one starts.
    let mut child = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut said = String::new();
    loop {
        let mut line = String::new();
        assert!(
            err.read_line(&mut line).unwrap() > 0,
            "the sweep ended early: {said}"
        );
        said += &line;
        if line.contains("seed 1:") {
            break;
        }
    }
    nemesis::process::signal(child.id(), nemesis::process::Signal::SIGINT).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(130), "{said}");
    let out = store.join("sweep");
    let first = lines(&out.join("runs.jsonl"));
    assert!((1..3).contains(&first.len()), "{first:?}");

    // The same command goes on where it stopped.
    let done = faultline(&args);
    let stderr = String::from_utf8_lossy(&done.stderr);
    let stdout = String::from_utf8_lossy(&done.stdout);
    assert!(stderr.contains("already done"), "{stderr}");
    assert_eq!(done.status.code(), Some(0), "{stdout}\n{stderr}");
    let all = lines(&out.join("runs.jsonl"));
    assert_eq!(all.len(), 3, "three seeds in all: {all:?}");
    let seeds: Vec<u64> = all.iter().map(|d| d["seed"].as_u64().unwrap()).collect();
    assert_eq!(
        seeds
            .iter()
            .collect::<std::collections::BTreeSet<_>>()
            .len(),
        3
    );
    assert!(all.iter().all(|d| d["verdict"] == "holds"), "{all:?}");
    assert!(
        stdout.contains(safe) && stdout.contains("✓ no false alarm in 3"),
        "{stdout}"
    );
    let summary: Value =
        serde_json::from_slice(&std::fs::read(out.join("sweep.json")).unwrap()).unwrap();
    assert_eq!(summary["configurations"][0]["runs"], 3);
    let page = std::fs::read_to_string(out.join("index.html")).unwrap();
    for d in &all {
        let report = std::path::Path::new(d["run_dir"].as_str().unwrap()).join("report.html");
        assert!(report.is_file(), "{}", report.display());
    }
    assert_eq!(
        page.matches("report.html\">report</a>").count(),
        3,
        "{page}"
    );
    assert!(
        page.contains("href=\"../sweep-nemesis-none-time-limit-1-5-recovery-0/"),
        "{page}"
    );
}

#[test]
fn a_bad_configuration_is_one_error_before_anything_runs() {
    let tmp = Scratch::new("sweep-bad");
    let store = tmp.0.join("store");
    let out = faultline(&[
        "sweep",
        "--store",
        store.to_str().unwrap(),
        "--nemesis none",
        "--nemesis partition --seed 4",
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("--seed is set by the sweep itself"), "{err}");
    assert_eq!(err.matches("error:").count(), 1, "{err}");
    assert!(!store.exists(), "nothing ran");
}
