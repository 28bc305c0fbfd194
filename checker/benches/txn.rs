//! The transactional checker at scale (issue 28): list-append histories in Jepsen EDN, written
//! by this bench from a seed — 1–4 micro-ops a transaction, keys retired after 32 appends,
//! every transaction taking effect at an instant between its invocation and its completion
//! (so the history is strict-serializable), with write skews added at the end — read from a
//! file and checked for the whole isolation ladder, as `faultline check FILE` does. Prints the
//! time of each phase and the peak memory; asserts the write skews, and nothing else, are found.
//!
//! Three tables: growth (10 k, 100 k, 1 M transactions, 100 processes), concurrency (100 k
//! transactions from 10 and from 1,000 processes), and explanation (100 k transactions with
//! 1,000 write skews: what explaining every cycle costs beyond finding them).
//!
//! `cargo bench -p faultline-checker --bench txn` (`-- --quick`: 10 k only; under
//! `cargo test --all-targets` it runs once in quick mode).

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use checker::generate::Rng;
use checker::txn::{check_transactions, read, Isolation};
use common::{peak_rss_mib, reset_peak};
use std::fmt::Write as _;
use std::time::Instant;

/// The shape of one generated history.
struct Shape {
    transactions: usize,
    processes: usize,
    skews: usize,
}

/// The history as Jepsen EDN: at each step a random process either invokes a transaction or
/// completes the one it has in flight, which takes effect at its completion.
fn history(shape: &Shape, seed: u64) -> String {
    let mut rng = Rng::new(seed);
    let mut lists: Vec<Vec<u64>> = vec![Vec::new(); 100];
    let mut live: Vec<usize> = (0..100).collect();
    let mut in_flight: Vec<Option<Vec<(bool, usize, u64)>>> = vec![None; shape.processes];
    let mut text = String::with_capacity(shape.transactions * 300);
    let (mut started, mut time) = (0usize, 0u64);
    while started < shape.transactions || in_flight.iter().any(Option::is_some) {
        let p = rng.below(shape.processes as u64) as usize;
        time += 1;
        match in_flight[p].take() {
            None if started < shape.transactions => {
                let ops: Vec<(bool, usize, u64)> = (0..1 + rng.below(4))
                    .map(|_| (rng.chance(0.5), rng.below(live.len() as u64) as usize, 0))
                    .collect();
                let value: Vec<String> = ops
                    .iter()
                    .map(|&(append, slot, _)| match append {
                        true => format!("[:append {} ?]", live[slot]),
                        false => format!("[:r {} nil]", live[slot]),
                    })
                    .collect();
                // The elements are drawn at completion; the invocation says which keys.
                let _ = writeln!(
                    text,
                    "{{:type :invoke, :f :txn, :value [{}], :time {time}, :process {p}}}",
                    value.join(" ")
                );
                in_flight[p] = Some(ops);
                started += 1;
            }
            None => {}
            Some(ops) => complete(&mut text, &mut lists, &mut live, ops, p, time),
        }
    }
    fill_invocations(&text).to_string() + &skews(lists.len(), shape.skews, time)
}

/// The completion of `ops` by process `p`: each append adds the key's next element (a key
/// full after 32 is retired for a fresh one), each read sees the list as it is.
fn complete(
    text: &mut String,
    lists: &mut Vec<Vec<u64>>,
    live: &mut [usize],
    ops: Vec<(bool, usize, u64)>,
    p: usize,
    time: u64,
) {
    let mut done = Vec::new();
    for (append, slot, _) in ops {
        let k = live[slot];
        if append {
            if lists[k].len() >= 32 {
                live[slot] = lists.len();
                lists.push(Vec::new());
            }
            let k = live[slot];
            let e = lists[k].len() as u64 + 1;
            lists[k].push(e);
            done.push(format!("[:append {k} {e}]"));
        } else {
            let l: Vec<String> = lists[k].iter().map(u64::to_string).collect();
            done.push(format!("[:r {k} [{}]]", l.join(" ")));
        }
    }
    let _ = writeln!(
        text,
        "{{:type :ok, :f :txn, :value [{}], :time {time}, :process {p}}}",
        done.join(" ")
    );
}

/// The invocations were written before their elements were known: each invocation gets the
/// value its completion has, with reads of nil — as Jepsen writes them.
fn fill_invocations(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::with_capacity(text.len() + text.len() / 4);
    let mut open: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    let mut invocation_of: Vec<Option<usize>> = vec![None; lines.len()];
    for (i, l) in lines.iter().enumerate() {
        let p = &l[l.rfind(":process ").unwrap()..];
        if l.starts_with("{:type :invoke") {
            open.insert(p, i);
        } else {
            invocation_of[open.remove(p).unwrap()] = Some(i);
        }
    }
    for (i, l) in lines.iter().enumerate() {
        match invocation_of[i] {
            Some(c) => {
                let done = lines[c];
                let value = &done[done.find(":value ").unwrap()..done.find(", :time").unwrap()];
                let mut v = String::new();
                let mut rest = value;
                while let Some(at) = rest.find("[:r ") {
                    v += &rest[..at];
                    let after = &rest[at + 4..];
                    let key_end = after.find(' ').unwrap();
                    v += &format!("[:r {} nil]", &after[..key_end]);
                    let close = after.find(']').unwrap() + 1;
                    rest = &after[close + 1..];
                }
                v += rest;
                let _ = writeln!(
                    out,
                    "{{:type :invoke, :f :txn, {v}{}",
                    &l[l.find(", :time").unwrap()..]
                );
            }
            None if l.starts_with("{:type :invoke") => {
                // Never completed: cannot happen, every process completes before the end.
                unreachable!("every invocation completes");
            }
            None => {
                out += l;
                out.push('\n');
            }
        }
    }
    out
}

/// `count` write skews on fresh keys after `first_key`: each pair reads the other's key empty
/// and appends to its own; a last transaction reads both.
fn skews(first_key: usize, count: usize, mut time: u64) -> String {
    let mut text = String::new();
    for i in 0..count {
        let (a, b) = (first_key + 2 * i, first_key + 2 * i + 1);
        let line = |t: &str, p: usize, v: String, time: u64| {
            format!("{{:type :{t}, :f :txn, :value {v}, :time {time}, :process {p}}}\n")
        };
        for (t, ra, rb) in [("invoke", "nil", "nil"), ("ok", "[]", "[]")] {
            time += 1;
            text += &line(t, 100_000, format!("[[:r {a} {ra}] [:append {b} 1]]"), time);
            time += 1;
            text += &line(t, 100_001, format!("[[:r {b} {rb}] [:append {a} 1]]"), time);
        }
        time += 1;
        text += &line(
            "invoke",
            100_002,
            format!("[[:r {a} nil] [:r {b} nil]]"),
            time,
        );
        time += 1;
        text += &line("ok", 100_002, format!("[[:r {a} [1]] [:r {b} [1]]]"), time);
    }
    text
}

/// Writes the history to a file, then reads and checks it as `faultline check` does; prints a
/// row. The peak memory is the process's after the history was written (the writing's own
/// memory given back first).
fn run(shape: &Shape, label: &str) {
    let path = std::env::temp_dir().join(format!("faultline-txn-bench-{}.edn", std::process::id()));
    std::fs::write(&path, history(shape, 28)).unwrap();
    reset_peak();
    let started = Instant::now();
    let text = std::fs::read_to_string(&path).unwrap();
    let size = text.len();
    let txns = read::fast(&text).expect("a clean history of transactions");
    drop(text);
    let read = started.elapsed().as_secs_f64();
    let report = check_transactions("bench", &txns).unwrap();
    let total = started.elapsed().as_secs_f64();
    std::fs::remove_file(&path).unwrap();
    let g2 = report
        .anomalies
        .iter()
        .filter(|a| a.name() == "G2-item")
        .count();
    assert_eq!(g2, shape.skews, "every write skew found");
    assert_eq!(report.anomalies.len(), shape.skews, "and nothing else");
    assert_eq!(
        report.standing(Isolation::SnapshotIsolation),
        checker::consistency::Standing::Holds
    );
    let phases: Vec<String> = report
        .phases
        .iter()
        .map(|(_, s)| format!("{s:.2}"))
        .collect();
    println!(
        "{label} | {:.0} MB | {read:.2} s | {} | {total:.2} s | {:.0} | {:.0} MiB",
        size as f64 / 1e6,
        phases.join(" | "),
        shape.transactions as f64 / total,
        peak_rss_mib()
    );
}

/// Runs one case in a child process of this bench, so that each peak memory is its own.
fn case(transactions: usize, processes: usize, skews: usize, label: &str) {
    let me = std::env::current_exe().unwrap();
    let status = std::process::Command::new(me)
        .args([
            "--case",
            &transactions.to_string(),
            &processes.to_string(),
            &skews.to_string(),
            label,
        ])
        .status()
        .unwrap();
    assert!(status.success(), "case {label} failed");
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    // `--write FILE N`: only write the history of N transactions (100 processes, one write
    // skew), to time `faultline check FILE` on it.
    if let Some(at) = args.iter().position(|a| a == "--write") {
        let shape = Shape {
            transactions: args[at + 2].parse().unwrap(),
            processes: 100,
            skews: 1,
        };
        std::fs::write(&args[at + 1], history(&shape, 28)).unwrap();
        return;
    }
    if let Some(at) = args.iter().position(|a| a == "--case") {
        let n = |i: usize| args[at + i].parse().unwrap();
        let shape = Shape {
            transactions: n(1),
            processes: n(2),
            skews: n(3),
        };
        return run(&shape, &args[at + 4]);
    }
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let header = "| EDN | read | infer | graph | cycles | explain | total | txn/s | peak memory";
    println!("transactions (100 processes, 1 write skew) {header}");
    let sizes: &[usize] = if quick {
        &[10_000]
    } else {
        &[10_000, 100_000, 1_000_000]
    };
    for &n in sizes {
        case(n, 100, 1, &n.to_string());
    }
    if quick {
        return;
    }
    println!("\nprocesses (100 k transactions, 1 write skew) {header}");
    for processes in [10, 1_000] {
        case(100_000, processes, 1, &processes.to_string());
    }
    println!("\nwrite skews (100 k transactions, 100 processes) {header}");
    for skews in [1, 1_000] {
        case(100_000, 100, skews, &skews.to_string());
    }
}
