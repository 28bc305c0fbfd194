//! The transactional checker at scale (issue 28): list-append histories of 10 k, 100 k and
//! 1 M transactions, written by this bench from a seed — 1–4 micro-ops each, 100 processes,
//! keys retired after 32 appends, executed one at a time (so serializable) with one write skew
//! added — and checked for the whole isolation ladder. Prints the time to read (JSON Lines),
//! to check, and the peak memory; asserts the write skew is found and nothing else.
//!
//! `cargo bench -p faultline-checker --bench txn` (`-- --quick`: 10 k only; under
//! `cargo test --all-targets` it runs once in quick mode).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use checker::generate::Rng;
use checker::import::{parse_str, Format};
use checker::txn::{check, Isolation};
use common::{peak_rss_mib, reset_peak};
use std::fmt::Write as _;
use std::time::Instant;

/// `n` transactions as JSON Lines, and a write skew between two extra ones at the end.
fn history(n: usize, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut lists: Vec<Vec<u64>> = Vec::new();
    let mut live: Vec<usize> = (0..100).collect();
    lists.resize(100, Vec::new());
    let mut next_key = 100;
    let mut text = String::with_capacity(n * 200);
    let mut t = 0u64;
    for i in 0..n {
        let p = i % 100;
        let mut ops = Vec::new();
        for _ in 0..1 + rng.below(4) {
            let slot = rng.below(live.len() as u64) as usize;
            let k = live[slot];
            if rng.chance(0.5) {
                if lists[k].len() >= 32 {
                    live[slot] = next_key;
                    lists.push(Vec::new());
                    next_key += 1;
                    continue;
                }
                let e = lists[k].len() as u64 + 1;
                lists[k].push(e);
                ops.push(format!("[\"append\",{k},{e}]"));
            } else {
                let l: Vec<String> = lists[k].iter().map(u64::to_string).collect();
                ops.push(format!("[\"r\",{k},[{}]]", l.join(",")));
            }
        }
        if ops.is_empty() {
            continue;
        }
        let value = format!("[{}]", ops.join(","));
        t += 1;
        let _ = writeln!(
            text,
            "{{\"time\":{t},\"process\":{p},\"type\":\"invoke\",\"f\":\"txn\",\"value\":{value}}}"
        );
        t += 1;
        let _ = writeln!(
            text,
            "{{\"time\":{t},\"process\":{p},\"type\":\"ok\",\"f\":\"txn\",\"value\":{value}}}"
        );
    }
    // A write skew on two fresh keys: each reads the other's key empty and appends to its own.
    let (a, b) = (next_key, next_key + 1);
    for (p, r, w) in [(100, a, b), (101, b, a)] {
        t += 1;
        let _ = writeln!(text, "{{\"time\":{t},\"process\":{p},\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",{r},[]],[\"append\",{w},1]]}}");
    }
    for (p, r, w) in [(100, a, b), (101, b, a)] {
        t += 1;
        let _ = writeln!(text, "{{\"time\":{t},\"process\":{p},\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",{r},[]],[\"append\",{w},1]]}}");
    }
    t += 1;
    let _ = writeln!(text, "{{\"time\":{t},\"process\":102,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",{a},[]],[\"r\",{b},[]]]}}");
    t += 1;
    let _ = writeln!(text, "{{\"time\":{t},\"process\":102,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",{a},[1]],[\"r\",{b},[1]]]}}");
    text
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let sizes: &[usize] = if quick {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    println!("transactions | JSON Lines | read | check (whole ladder) | txn/s | peak memory");
    for &n in sizes {
        let text = history(n, 28);
        reset_peak();
        let started = Instant::now();
        let h = parse_str("txn-bench", &text, Format::Jsonl).unwrap();
        let read = started.elapsed();
        let started = Instant::now();
        let report = check(&h).unwrap();
        let checked = started.elapsed();
        let names: Vec<String> = report.anomalies.iter().map(|a| a.name()).collect();
        assert_eq!(names, ["G2-item"], "only the write skew");
        assert_eq!(
            report.standing(Isolation::SnapshotIsolation),
            checker::consistency::Standing::Holds
        );
        println!(
            "{n} | {:.0} MB | {:.2} s | {:.2} s | {:.0} | {} MiB",
            text.len() as f64 / 1e6,
            read.as_secs_f64(),
            checked.as_secs_f64(),
            n as f64 / checked.as_secs_f64(),
            peak_rss_mib()
        );
    }
}
