//! Budgets on Jepsen-shaped register histories (issue 26): what a user of Jepsen's register tests
//! checks with no flags. A corpus written here, from the seed, in the shapes Jepsen's tests give:
//! independent keys, values drawn from `(rand-int 5)` so they repeat (no exact check applies:
//! the search decides every key), reads, writes and cas, indeterminate operations, some keys
//! with a stale read injected — several failing keys per history, each needing a witness.
//!
//! For each history it prints the verdict time, the witness time, the whole ladder with
//! `--no-witness`, and checks the promises: witnesses stay within their budget (20 ms each, as
//! `--witness-budget` says, plus the one check in flight when it runs out), and `--no-witness` is
//! never slower than the default.
//!
//! `cargo bench -p faultline-checker --bench jepsen_shapes` (`-- --quick`: fewer, smaller
//! histories; under `cargo test --all-targets` it runs once in quick mode).

use checker::consistency::{assess, Level};
use checker::generate::Rng;
use checker::import::{self, Format};
use checker::{History, ModelKind, Options};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// One history: `keys` keys, `per_key` operations each, `processes` concurrent processes, values
/// 0–4, a real register per key taking each operation at a random instant of its interval; a
/// stale read injected into every `stale_every`-th key.
fn history(
    seed: u64,
    keys: usize,
    per_key: usize,
    processes: usize,
    stale_every: usize,
) -> History {
    let mut rng = Rng::new(seed);
    let mut text = String::new();
    let mut t = 0u64;
    for key in 0..keys {
        // (invoke, effect, complete, process, f, input) per operation, then events in time order.
        let mut ops = Vec::new();
        let mut free = vec![t; processes];
        for _ in 0..per_key {
            let p = rng.below(processes as u64) as usize;
            let invoke = free[p] + rng.below(5);
            let effect = invoke + 1 + rng.below(10);
            let complete = effect + 1 + rng.below(10);
            free[p] = complete + 1;
            let f = ["read", "read", "write", "cas"][rng.below(4) as usize];
            let input = match f {
                "write" => format!("{}", rng.below(5)),
                "cas" => format!("[{},{}]", rng.below(5), rng.below(5)),
                _ => "null".to_string(),
            };
            ops.push((invoke, effect, complete, p, f, input));
        }
        let mut order: Vec<usize> = (0..ops.len()).collect();
        order.sort_by_key(|&i| ops[i].1);
        let mut state: Option<u64> = None;
        let mut previous: Option<u64> = None;
        let mut results: Vec<(String, String)> = vec![(String::new(), String::new()); ops.len()];
        let mut stale_done = key % stale_every != 0;
        for &i in &order {
            let (_, _, _, _, f, input) = &ops[i];
            let indeterminate = rng.chance(0.03);
            let (kind, value) = match *f {
                "read" => {
                    let mut v = state.map_or("null".into(), |s| s.to_string());
                    if let Some(old) = previous.filter(|_| !stale_done && previous != state) {
                        if rng.chance(0.3) {
                            v = old.to_string();
                            stale_done = true;
                        }
                    }
                    ("ok", v)
                }
                "write" => {
                    if !indeterminate || rng.chance(0.5) {
                        previous = state;
                        state = input.parse().ok();
                    }
                    (if indeterminate { "info" } else { "ok" }, input.clone())
                }
                _ => {
                    let pair: Vec<u64> = input
                        .trim_matches(|c| c == '[' || c == ']')
                        .split(',')
                        .map(|x| x.parse().unwrap())
                        .collect();
                    if state == Some(pair[0]) {
                        previous = state;
                        state = Some(pair[1]);
                        ("ok", input.clone())
                    } else {
                        ("fail", input.clone())
                    }
                }
            };
            results[i] = (kind.to_string(), value);
        }
        let mut events: Vec<(u64, bool, usize)> = Vec::new();
        for (i, o) in ops.iter().enumerate() {
            events.push((o.0, false, i));
            events.push((o.2, true, i));
        }
        events.sort();
        for (time, completes, i) in events {
            let (_, _, _, p, f, input) = &ops[i];
            let process = key * processes + p;
            let (kind, value) = if completes {
                (results[i].0.as_str(), results[i].1.as_str())
            } else {
                ("invoke", input.as_str())
            };
            let _ = writeln!(
                text,
                "{{\"time\":{},\"process\":{process},\"type\":\"{kind}\",\"f\":\"{f}\",\"key\":\"k{key}\",\"value\":{value}}}",
                time * 1000
            );
            t = t.max(time);
        }
        t += 100;
    }
    import::parse_str("jepsen-shaped", &text, Format::Jsonl).expect("a well-formed history")
}

fn main() {
    // `cargo test --all-targets` runs benches without `--bench`: a quick smoke run then.
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let (count, keys, per_key) = if quick { (3, 4, 150) } else { (12, 8, 2000) };
    let budget = Duration::from_millis(20);
    println!("history | keys x ops | verdict | witnesses (n) | per witness | --no-witness whole ladder | default whole ladder");
    let (mut total_default, mut total_bare) = (Duration::ZERO, Duration::ZERO);
    for seed in 0..count {
        let h = history(seed, keys, per_key, 10, 2);
        let opts = Options::default();
        let started = Instant::now();
        let full = assess(&h, ModelKind::CasRegister, &Level::ALL, &opts).unwrap();
        let default = started.elapsed();
        let bare_opts = Options {
            no_witness: true,
            ..Options::default()
        };
        let started = Instant::now();
        let bare = assess(&h, ModelKind::CasRegister, &Level::ALL, &bare_opts).unwrap();
        let no_witness = started.elapsed();
        let witnesses = full.anomalies.len().max(1);
        let per = full.witness_ms / witnesses as u32;
        println!(
            "seed {seed} | {keys} x {per_key} | {:.1} ms | {:.1} ms ({}) | {:.1} ms | {:.1} ms | {:.1} ms",
            full.verdict_ms.as_secs_f64() * 1e3,
            full.witness_ms.as_secs_f64() * 1e3,
            full.anomalies.len(),
            per.as_secs_f64() * 1e3,
            no_witness.as_secs_f64() * 1e3,
            default.as_secs_f64() * 1e3,
        );
        for l in Level::ALL {
            assert_eq!(
                full.standing(l),
                bare.standing(l),
                "seed {seed}: witnesses never change a verdict ({l})"
            );
        }
        // The budget is per witness, witnesses shrink two at a time (two cores), and the check
        // in flight when a budget runs out finishes: allow one budget more per witness.
        assert!(
            full.witness_ms <= budget * 2 * witnesses as u32 + Duration::from_millis(50),
            "seed {seed}: witnesses took {:?} for {witnesses}",
            full.witness_ms
        );
        total_default += default;
        total_bare += no_witness;
    }
    println!(
        "all: default {:.1} ms, --no-witness {:.1} ms",
        total_default.as_secs_f64() * 1e3,
        total_bare.as_secs_f64() * 1e3
    );
    assert!(
        total_bare <= total_default + Duration::from_millis(20),
        "--no-witness must not be slower than the default"
    );
}
