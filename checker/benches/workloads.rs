//! Workload checkers at scale (issue 30): 1,000,000 operations of each of bank, set, counter,
//! lock, unique-ids and queue, generated as 10 concurrent clients would leave them (each round
//! invokes one operation per client, then completes them), correct by construction; the time to
//! judge each, and the peak memory. Asserts each verdict holds.
//!
//! `cargo bench -p faultline-checker --bench workloads` (`-- --quick`: 10,000 operations; under
//! `cargo test --all-targets` it runs once in quick mode, as a smoke test). The history is built
//! before the clock starts: the figure is the checker's.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use checker::consistency::Standing;
use checker::history::{Event, EventType, HistoryBuilder, TimeOrder};
use checker::workloads::{Options, Workload};
use checker::History;
use common::{peak_rss_mib, reset_peak};
use serde_json::{json, Value};
use std::time::Instant;

const CLIENTS: usize = 10;

/// One operation as a generator leaves it: function, invocation value, completion value.
type Op = (&'static str, Value, Value);

/// Builds a history from rounds of up to [`CLIENTS`] operations: all invoked, then all completed.
fn history(ops: impl Iterator<Item = Op>, n: usize) -> History {
    let mut b = HistoryBuilder::new("generated", TimeOrder::Strict, n * 2);
    let mut pos = 0;
    let mut round: Vec<Op> = Vec::with_capacity(CLIENTS);
    let mut flush = |round: &mut Vec<Op>, b: &mut HistoryBuilder| {
        for (p, (f, input, _)) in round.iter().enumerate() {
            b.push(Event::client(
                pos,
                p as u64,
                EventType::Invoke,
                f,
                None,
                input.clone(),
            ))
            .unwrap();
            pos += 1;
        }
        for (p, (f, _, output)) in round.drain(..).enumerate() {
            b.push(Event::client(pos, p as u64, EventType::Ok, f, None, output))
                .unwrap();
            pos += 1;
        }
    };
    for op in ops {
        round.push(op);
        if round.len() == CLIENTS {
            flush(&mut round, &mut b);
        }
    }
    flush(&mut round, &mut b);
    b.finish()
}

/// Each workload's generator. Reads are answered from the state after every earlier round, so
/// the history is correct whatever order the round's operations take effect in; a read and the
/// writes of its own round are kept apart by giving reads rounds of their own.
fn generate(w: Workload, n: usize) -> History {
    let accounts = 5;
    match w {
        Workload::Counter => history(
            (0..n).map(|i| match i % (CLIENTS * 2) < CLIENTS {
                true => ("add", json!(1), json!(1)),
                false => (
                    "read",
                    Value::Null,
                    json!((i / (CLIENTS * 2) + 1) * CLIENTS),
                ),
            }),
            n,
        ),
        Workload::Set => {
            let reads = 20;
            let every = n / reads;
            history(
                (0..n).map(move |i| match i % every == every - 1 {
                    true => (
                        "read",
                        Value::Null,
                        json!((0..i - i % CLIENTS)
                            .filter(|k| k % every != every - 1)
                            .collect::<Vec<_>>()),
                    ),
                    false => ("add", json!(i), json!(i)),
                }),
                n,
            )
        }
        Workload::Bank => history(
            (0..n).map(move |i| match i % (CLIENTS * 2) < CLIENTS {
                // Transfers in a round cancel out in pairs, so reads between rounds see the start.
                true => {
                    let (from, to) = ((i / 2) % accounts, (i / 2 + 1) % accounts);
                    let (from, to) = if i % 2 == 0 { (from, to) } else { (to, from) };
                    (
                        "transfer",
                        json!({"from": from, "to": to, "amount": 1}),
                        Value::Null,
                    )
                }
                false => (
                    "read",
                    Value::Null,
                    json!({"0": 20, "1": 20, "2": 20, "3": 20, "4": 20}),
                ),
            }),
            n,
        ),
        Workload::Lock => history(
            (0..n).map(|i| {
                (
                    if i % 2 == 0 { "acquire" } else { "release" },
                    Value::Null,
                    Value::Null,
                )
            }),
            n,
        )
        .serialised(),
        Workload::UniqueIds => history((0..n).map(|i| ("generate", Value::Null, json!(i))), n),
        Workload::Queue => history(
            (0..n).map(|i| match i % (CLIENTS * 2) < CLIENTS {
                true => ("enqueue", json!(i), Value::Null),
                false => ("dequeue", Value::Null, json!(i - CLIENTS)),
            }),
            n,
        ),
    }
}

/// A lock's history must not overlap its holds: one operation at a time, by one process per
/// acquire/release pair.
trait Serialised {
    fn serialised(self) -> History;
}

impl Serialised for History {
    fn serialised(self) -> History {
        let n = self.ops.len();
        let mut b = HistoryBuilder::new("generated", TimeOrder::Strict, n * 2);
        for (i, o) in self.ops.iter().enumerate() {
            let p = ((i / 2) % CLIENTS) as u64;
            b.push(Event::client(
                2 * i,
                p,
                EventType::Invoke,
                &o.f,
                None,
                Value::Null,
            ))
            .unwrap();
            b.push(Event::client(
                2 * i + 1,
                p,
                EventType::Ok,
                &o.f,
                None,
                Value::Null,
            ))
            .unwrap();
        }
        b.finish()
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let n = if quick { 10_000 } else { 1_000_000 };
    let options = Options {
        bank_total: Some(100),
        fifo: false,
        ..Options::default()
    };
    println!(
        "{:<12} {:>10} {:>9} {:>9}",
        "workload", "operations", "check", "peak"
    );
    for w in Workload::ALL {
        let h = generate(w, n);
        reset_peak();
        let started = Instant::now();
        let j = w.check(&h, &options).unwrap_or_else(|e| panic!("{w}: {e}"));
        let secs = started.elapsed().as_secs_f64();
        assert_eq!(j.standing, Standing::Holds, "{w}: {:?}", j.lines());
        println!(
            "{:<12} {:>10} {:>7.3} s {:>5.0} MiB",
            w.name(),
            h.ops.len(),
            secs,
            peak_rss_mib()
        );
    }
}
