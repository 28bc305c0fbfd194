//! Scale benchmark (issue 14): time to verdict, peak memory, and which path decided each key, on
//! the known-answer suites and on generated histories far larger than a search can handle.
//! Prints figures, asserts verdicts only.
//!
//! `cargo bench -p faultline-checker --bench scale` (`-- --quick`: small sizes; under
//! `cargo test --all-targets` it runs once in quick mode, as a smoke test). Rows:
//! - Porcupine's etcd suite (every `etcd/*.log` of the known-answer data): linearizability
//!   alone, and the default whole ladder;
//! - kv/c50-ok and kv/c50-bad (kv-append: always the search);
//! - generated with [`checker::generate`] (seeded, so anyone can reproduce them): 1,000,000 ops
//!   on 1,000 keys by 64 processes; 100,000 ops on one key by 16 processes with 5% indeterminate;
//!   1,000,000 ops on one key.
//!
//! Peak memory is the process's peak resident set while the row ran (reset before each row, the
//! history included), from `/proc/self/status`.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use checker::consistency::{assess, Level};
use checker::generate::{self, Spec};
use checker::import::{self, Format};
use checker::result::DecidedBy;
use checker::{check, History, ModelKind, Options, Report, Verdict};
use common::{data_dir, peak_rss_mib, reset_peak};
use std::time::Instant;

fn paths(reports: &[&Report]) -> String {
    let (mut exact, mut search) = (0, 0);
    for r in reports {
        for k in &r.keys {
            match k.decided_by {
                DecidedBy::UniqueValues => exact += 1,
                DecidedBy::Search => search += 1,
            }
        }
    }
    format!("keys: {exact} unique values: exact, {search} search")
}

fn row(name: &str, secs: f64, mib: f64, note: &str) {
    println!("{name:<44} {:>9.3} s {:>8.0} MiB   {note}", secs, mib);
}

fn files(prefix: &str) -> Vec<(String, History)> {
    let dir = data_dir().join(prefix);
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e} (set FAULTLINE_TESTDATA)", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|p| {
            let h = import::read_file(&p, Format::Auto).unwrap_or_else(|e| panic!("{e}"));
            (p.display().to_string(), h)
        })
        .collect()
}

fn suite(name: &str, hs: &[(String, History)], model: ModelKind) {
    let opts = Options::default();
    reset_peak();
    let t = Instant::now();
    let reports: Vec<Report> = hs
        .iter()
        .map(|(_, h)| check(h, model, &opts).unwrap())
        .collect();
    let lin = t.elapsed().as_secs_f64();
    let refs: Vec<&Report> = reports.iter().collect();
    let bad = reports
        .iter()
        .filter(|r| r.verdict == Verdict::NotLinearizable)
        .count();
    row(
        &format!("{name} ({} files), linearizability", hs.len()),
        lin,
        peak_rss_mib(),
        &format!("{bad} not linearizable; {}", paths(&refs)),
    );
    reset_peak();
    let t = Instant::now();
    let mut unknown = 0;
    for (_, h) in hs {
        let l = assess(h, model, &Level::ALL, &opts).unwrap();
        unknown += l
            .levels
            .iter()
            .filter(|r| {
                r.standing == checker::consistency::Standing::Unknown && r.model != Level::Eventual
            })
            .count();
    }
    row(
        &format!("{name} ({} files), whole ladder", hs.len()),
        t.elapsed().as_secs_f64(),
        peak_rss_mib(),
        &format!("{unknown} model verdicts unknown (eventual aside)"),
    );
}

/// `h` (one key) with one stale read: its last ok read returns the value of the first ok write,
/// long overwritten.
fn with_stale_read(h: &History) -> History {
    let mut events: Vec<checker::history::Event> = h.events().collect();
    let ok = |o: &&checker::Operation| o.outcome == checker::Outcome::Ok;
    let first = h
        .ops
        .iter()
        .filter(ok)
        .find(|o| o.f == "write")
        .expect("a write");
    let read = h
        .ops
        .iter()
        .rev()
        .filter(ok)
        .find(|o| o.f == "read")
        .expect("a read");
    let done = read.complete_event.expect("completed");
    events[done].value = first.input.clone();
    History::from_events("generated, one stale read", events).expect("well formed")
}

fn generated(name: &str, spec: Spec, ladder: bool) {
    reset_peak();
    let stale = name.contains("stale");
    let h = generate::generate(&spec);
    let h = if stale { with_stale_read(&h) } else { h };
    let opts = Options::default();
    let t = Instant::now();
    let r = check(&h, ModelKind::CasRegister, &opts).unwrap();
    let secs = t.elapsed().as_secs_f64();
    let want = if stale {
        Verdict::NotLinearizable
    } else {
        Verdict::Linearizable
    };
    assert_eq!(r.verdict, want, "{name}");
    row(
        &format!("{name}, linearizability"),
        secs,
        peak_rss_mib(),
        &format!("{} operations; {}", h.ops.len(), paths(&[&r])),
    );
    if ladder {
        let t = Instant::now();
        let l = assess(&h, ModelKind::CasRegister, &Level::ALL, &opts).unwrap();
        let mut standings: Vec<String> = l
            .levels
            .iter()
            .map(|r| format!("{} {}", r.model.name(), r.standing.words()))
            .collect();
        standings.push(format!(
            "verdict {:.0} ms, witnesses {:.0} ms",
            l.verdict_ms.as_secs_f64() * 1e3,
            l.witness_ms.as_secs_f64() * 1e3
        ));
        if let Some(a) = l.anomalies.first() {
            standings.push(format!(
                "first anomaly: {} with {} operations{}",
                a.kind.words(),
                a.witness.len(),
                if a.minimal {
                    ""
                } else {
                    " (not shrunk to the end)"
                }
            ));
            if std::env::var_os("FAULTLINE_BENCH_VERBOSE").is_some() {
                println!("{}", checker::render::ladder(&l));
            }
        }
        row(
            &format!("{name}, whole ladder"),
            t.elapsed().as_secs_f64(),
            peak_rss_mib(),
            &standings.join(", "),
        );
    }
}

/// The generated rows: name, spec, and whether to run the whole ladder too.
fn generated_rows(scale: usize) -> Vec<(String, Spec)> {
    let base = Spec {
        cas: true,
        versions: false,
        seed: 14,
        ..Spec::default()
    };
    let ops = |n: usize| n / scale;
    vec![
        (
            format!("{} ops, 1,000 keys, 64 processes", ops(1_000_000)),
            Spec {
                ops: ops(1_000_000),
                keys: 1000 / scale.min(10),
                processes: 64,
                indeterminate: 0.01,
                ..base.clone()
            },
        ),
        (
            format!("{} ops, 1 key, 16 processes, 5% info", ops(100_000)),
            Spec {
                ops: ops(100_000),
                keys: 1,
                processes: 16,
                indeterminate: 0.05,
                ..base.clone()
            },
        ),
        (
            format!("{} ops, 1 key, 16 processes, 5% info", ops(1_000_000)),
            Spec {
                ops: ops(1_000_000),
                keys: 1,
                processes: 16,
                indeterminate: 0.05,
                ..base.clone()
            },
        ),
        (
            format!("{} ops, 1 key, 5% info, one stale read", ops(100_000)),
            Spec {
                ops: ops(100_000),
                keys: 1,
                processes: 16,
                indeterminate: 0.05,
                ..base
            },
        ),
    ]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let scale = if quick { 100 } else { 1 };
    // A generated row in a process of its own, so that its peak memory is its own.
    if let Some(i) = args.iter().position(|a| a == "--row") {
        let n: usize = args[i + 1].parse().expect("a row number");
        let (name, spec) = generated_rows(scale).swap_remove(n);
        generated(&name, spec, true);
        return;
    }
    println!("{:<44} {:>11} {:>12}", "history", "time", "peak RSS");
    suite("etcd suite", &files("etcd"), ModelKind::CasRegister);
    for f in ["kv/c50-ok.txt", "kv/c50-bad.txt"] {
        let h = import::read_file(&data_dir().join(f), Format::Auto).unwrap();
        suite(f, &[(f.to_string(), h)], ModelKind::KvAppend);
    }
    let me = std::env::current_exe().expect("the bench's own path");
    for n in 0..generated_rows(scale).len() {
        let mut cmd = std::process::Command::new(&me);
        cmd.args(["--row", &n.to_string()]);
        if !quick {
            cmd.arg("--bench");
        }
        let status = cmd.status().expect("the bench runs itself");
        assert!(status.success(), "row {n} failed");
    }
}
