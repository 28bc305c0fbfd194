//! Checker benchmark: prints figures, asserts nothing about time.
//!
//! `cargo bench -p faultline-checker` (or `cargo bench -p faultline-checker -- --quick`).
//! Under `cargo test --all-targets` it runs once in quick mode, as a smoke test.
//! Times every known-answer file of `../shared/data/porcupine` (override with
//! `FAULTLINE_TESTDATA`) and a generated 100,000-operation, 100-key history, and reports the
//! peak memory of the last. Each figure is the median of several in-process repetitions, with the
//! minimum beside it; the verdicts are checked against EXPECTED.tsv so a fast wrong answer
//! cannot pass for a result.

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod common;

use checker::generate::{self, Spec};
use checker::import::{self, Format};
use checker::{check, History, ModelKind, Options, Verdict};
use common::{data_dir, peak_rss_kib};
use std::time::{Duration, Instant};

fn expected() -> Vec<(String, Verdict)> {
    let path = data_dir().join("EXPECTED.tsv");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e} (set FAULTLINE_TESTDATA)",
            path.display()
        )
    });
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let (f, v) = l.split_once('\t').expect("file<TAB>verdict");
            let v = match v.trim() {
                "linearizable" => Verdict::Linearizable,
                "not-linearizable" => Verdict::NotLinearizable,
                other => panic!("unknown verdict {other}"),
            };
            (f.to_string(), v)
        })
        .collect()
}

fn model_for(file: &str) -> ModelKind {
    if file.starts_with("kv/") {
        ModelKind::KvAppend
    } else {
        ModelKind::CasRegister
    }
}

/// Median and minimum of `reps` timings of `f`.
fn time(reps: usize, mut f: impl FnMut()) -> (Duration, Duration) {
    let mut samples: Vec<Duration> = (0..reps)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed()
        })
        .collect();
    samples.sort();
    (samples[samples.len() / 2], samples[0])
}

fn ms(d: Duration) -> String {
    format!("{:8.2} ms", d.as_secs_f64() * 1e3)
}

fn main() {
    // `cargo bench` passes --bench; under `cargo test --all-targets` this runs once, quickly, as
    // a smoke test that still checks every verdict.
    let args: Vec<String> = std::env::args().collect();
    let quick = args.iter().any(|a| a == "--quick") || !args.iter().any(|a| a == "--bench");
    let reps = if quick { 3 } else { 15 };
    let opts = Options::default();
    let files = expected();
    let histories: Vec<(String, History, Verdict)> = files
        .iter()
        .map(|(f, v)| {
            let h = import::read_file(&data_dir().join(f), Format::Auto)
                .unwrap_or_else(|e| panic!("{e}"));
            (f.clone(), h, *v)
        })
        .collect();
    let verify = |name: &str, h: &History, want: Verdict| {
        let got = check(h, model_for(name), &opts).expect("checks").verdict;
        assert_eq!(got, want, "{name}: wrong verdict");
    };
    println!(
        "faultline checker benchmark ({} repetitions, median / min)",
        reps
    );
    let etcd: Vec<_> = histories
        .iter()
        .filter(|(f, _, _)| f.starts_with("etcd/"))
        .collect();
    let (med, min) = time(reps, || {
        for (f, h, v) in &etcd {
            verify(f, h, *v);
        }
    });
    println!(
        "etcd_000…049 together ({:2} files) {} {}",
        etcd.len(),
        ms(med),
        ms(min)
    );
    for name in ["etcd/etcd_002.log", "etcd/etcd_007.log"] {
        if let Some((f, h, v)) = histories.iter().find(|(f, _, _)| f == name) {
            let (med, min) = time(reps, || verify(f, h, *v));
            println!("{name:<33} {} {}", ms(med), ms(min));
        }
    }
    for (f, h, v) in histories.iter().filter(|(f, _, _)| f.starts_with("kv/")) {
        let (med, min) = time(reps, || verify(f, h, *v));
        println!("{f:<33} {} {}", ms(med), ms(min));
    }

    let spec = Spec {
        ops: 100_000,
        keys: 100,
        processes: 50,
        indeterminate: 0.01,
        cas: true,
        versions: false,
        seed: 7,
    };
    let big = generate::generate(&spec);
    // Reset the peak-RSS mark so the figure is this check's.
    common::reset_peak();
    let before = peak_rss_kib();
    let (med, min) = time(if quick { 1 } else { 5 }, || {
        let r = check(&big, ModelKind::CasRegister, &opts).expect("checks");
        assert_eq!(
            r.verdict,
            Verdict::Linearizable,
            "generated histories are linearizable"
        );
    });
    let after = peak_rss_kib();
    println!(
        "generated 100,000 ops / 100 keys     {} {}",
        ms(med),
        ms(min)
    );
    if let (Some(b), Some(a)) = (before, after) {
        println!(
            "peak RSS during the 100k check: {:.1} MiB (history itself included: {:.1} MiB before)",
            a as f64 / 1024.0,
            b as f64 / 1024.0
        );
    }
}
