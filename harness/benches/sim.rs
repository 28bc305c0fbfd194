//! How fast `faultline sim` runs and how soon it finds each raftkv knob: the safe configuration
//! over 2,000 seeds (seeds per second, the target being 2,000 in at most 60 s), then
//! every unsafe knob over up to 1,000 seeds with the faults a user would name for it (the seed
//! of the first violation and how long finding and shrinking it took).
//!
//! Run: `cargo bench -p faultline --bench sim`. Under `cargo test` (no `--bench` argument) it
//! runs a tenth of the seeds, to show it works. `FAULTLINE_BENCH_BIN=path/to/faultline` measures
//! another build.

use std::process::Command;
use std::time::Instant;

const KNOBS: [(&str, &str); 6] = [
    ("stale reads", "--read-mode stale --nemesis partition"),
    ("lease reads", "--read-mode lease --nemesis clock,partition"),
    (
        "leader-only write acks",
        "--write-ack leader --nemesis partition,kill",
    ),
    ("no fsync", "--unsafe no-fsync --nemesis kill"),
    (
        "no election restriction",
        "--unsafe no-election-restriction --nemesis partition,kill",
    ),
    (
        "commit entries of old terms",
        "--unsafe commit-old-term --nemesis partition,kill",
    ),
];

fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (safe_seeds, knob_seeds) = if full { (2000, 1000) } else { (200, 100) };
    let program = std::env::var("FAULTLINE_BENCH_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_faultline").to_string());
    let out = std::env::temp_dir().join(format!("faultline-bench-sim-{}", std::process::id()));
    let run = |flags: &str, seeds: u64| {
        let started = Instant::now();
        let o = Command::new(&program)
            .args(["sim", "--seeds", &seeds.to_string(), "--out"])
            .arg(&out)
            .args(flags.split_whitespace())
            .output()
            .expect("faultline runs");
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        (o.status.code(), text, started.elapsed().as_secs_f64())
    };
    println!(
        "binary {program}; {} cores",
        std::thread::available_parallelism().map_or(1, |n| n.get())
    );
    let (code, text, secs) = run("", safe_seeds);
    println!(
        "safe: {safe_seeds} seeds in {secs:.1} s = {:.0} seeds/s (exit {code:?})",
        safe_seeds as f64 / secs
    );
    let mut failed = code != Some(0);
    if failed {
        println!("{text}");
    }
    for (name, flags) in KNOBS {
        let (code, text, secs) = run(flags, knob_seeds);
        let found = text
            .lines()
            .find_map(|l| l.split("found after ").nth(1))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        let seed = text
            .lines()
            .find_map(|l| l.strip_prefix("faultline sim: seed "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        match (code, found, seed) {
            (Some(1), Some(n), Some(s)) => println!(
                "{name:<28} found at seed {s} (after {n} seeds), {secs:.1} s with the shrinking  [{flags}]"
            ),
            (Some(0), _, _) => println!("{name:<28} not found in {knob_seeds} seeds ({secs:.1} s)  [{flags}]"),
            _ => {
                failed = true;
                println!("{name:<28} exit {code:?}: {text}");
            }
        }
    }
    let _ = std::fs::remove_dir_all(&out);
    if failed {
        std::process::exit(1);
    }
}
