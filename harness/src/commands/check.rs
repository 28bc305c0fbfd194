//! `faultline check`: judge stored histories.

use crate::report::{self, junit};
use crate::EXIT_BAD_INPUT;
use checker::check::Counters;
use checker::consistency::{self, Ladder, Level, LevelSet};
use checker::history::{History, Outcome};
use checker::import::{self, Format};
use checker::{ModelKind, Options};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// History files or stored run directories (such as store/latest) to check; each gets its
    /// own verdict.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The data type: cas-register (read/write/cas), register (read/write) or kv-append
    /// (get/put/append). Default: kv-append for Jepsen EDN files, cas-register otherwise.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<ModelKind>,
    /// Consistency models to check: all, or a comma-separated list of linearizable,
    /// sequential, pram, monotonic-reads, monotonic-writes, read-your-writes,
    /// writes-follow-reads, eventual.
    #[arg(long, default_value = "all", value_name = "MODELS")]
    pub consistency: LevelSet,
    /// The consistency model whose verdict decides the exit code: 0 holds, 1 violated,
    /// 2 unknown (3 is bad input).
    #[arg(long, default_value = "linearizable", value_name = "MODEL")]
    pub require: Level,
    /// Keep checking other keys after one is not linearizable, to report every failing key
    /// (slower on large histories).
    #[arg(long)]
    pub all_failures: bool,
    /// History format: auto, jsonl, jepsen-edn or jepsen-log.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub format: Format,
    /// Give up after this many seconds per file; the verdict is then `unknown`.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Print one JSON object per file instead of text.
    #[arg(long)]
    pub json: bool,
    /// Write a self-contained HTML report of the history to OUT (one FILE only).
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Write the verdicts as JUnit XML to FILE: a suite per history, a test case per model and
    /// per failing key.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

/// Exit-code severity: bad input, then violated, then unknown, then holds.
fn severity(code: u8) -> u8 {
    match code {
        EXIT_BAD_INPUT => 3,
        1 => 2,
        2 => 1,
        _ => 0,
    }
}

pub fn run(args: CheckArgs) -> u8 {
    if let Some(t) = args.timeout {
        if !(t.is_finite() && t > 0.0) {
            eprintln!("error: --timeout must be a positive number of seconds, found {t}");
            return EXIT_BAD_INPUT;
        }
    }
    if args.html.is_some() && args.files.len() != 1 {
        eprintln!(
            "error: --html writes one report: give one FILE, not {}",
            args.files.len()
        );
        return EXIT_BAD_INPUT;
    }
    let mut worst = 0u8;
    let mut suites = Vec::new();
    for file in &args.files {
        let code = check_one(file, &args, &mut suites);
        if severity(code) > severity(worst) {
            worst = code;
        }
    }
    if let Some(path) = &args.junit {
        let xml = junit::document(&suites);
        if let Err(e) = report::write_atomically(path, xml.as_bytes()) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    worst
}

fn check_one(file: &std::path::Path, args: &CheckArgs, suites: &mut Vec<String>) -> u8 {
    // A stored run's directory stands for its history.
    let stored = file.join("history.jsonl");
    let file = if file.is_dir() {
        stored.as_path()
    } else {
        file
    };
    let history = match import::read_file(file, args.format) {
        Ok(h) => h,
        Err(e) => {
            let source = file.display().to_string();
            suites.push(junit::bad_input_suite(&source, &e.to_string()));
            return bad_input(args, &source, &e.to_string());
        }
    };
    let model = args.model.unwrap_or_else(|| history.format.default_model());
    let counters = Arc::new(Counters::default());
    let opts = Options {
        timeout: args.timeout.map(Duration::from_secs_f64),
        all_failures: args.all_failures,
        threads: 0,
        progress: Some(counters.clone()),
    };
    let label = file.display().to_string();
    let mut levels = args.consistency.0.clone();
    if !levels.contains(&args.require) {
        levels.push(args.require);
    }
    let result = with_progress(&label, &counters, || {
        consistency::assess(&history, model, &levels, &opts)
    });
    match result {
        Ok(ladder) => {
            print_ladder(&ladder, args.require, args.json);
            suites.push(junit::suite(&ladder));
            if let Some(out) = &args.html {
                let context = report::Context {
                    title: file
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .unwrap_or_else(|| label.clone()),
                    require: args.require,
                    facts: history_facts(&history, &ladder, &label),
                    notes: Vec::new(),
                };
                let html = report::html(&history, &ladder, &context);
                if let Err(e) = report::write_atomically(out, html.as_bytes()) {
                    eprintln!("error: {e}");
                    return EXIT_BAD_INPUT;
                }
                eprintln!("report: {}", out.display());
            }
            ladder.standing(args.require).exit_code() as u8
        }
        Err(e) => {
            suites.push(junit::bad_input_suite(&label, &e.to_string()));
            bad_input(args, &label, &e.to_string())
        }
    }
}

/// The summary facts of a history checked on its own.
fn history_facts(history: &History, ladder: &Ladder, source: &str) -> Vec<(String, String)> {
    let count = |o: Outcome| history.ops.iter().filter(|op| op.outcome == o).count();
    let processes = history
        .ops
        .iter()
        .map(|o| o.process)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let keys = history.by_key().len();
    let span = match (history.events.first(), history.events.last()) {
        (Some(a), Some(b)) if history.timed => format!("{:.3} s", (b.time - a.time) as f64 / 1e9),
        _ => format!(
            "{} events (the format records no times)",
            history.events.len()
        ),
    };
    vec![
        ("history".into(), source.to_string()),
        ("format".into(), history.format.name().to_string()),
        ("data type".into(), ladder.model.to_string()),
        (
            "operations".into(),
            format!(
                "{}: ok {}, fail {}, info {}; {processes} processes, {keys} keys",
                history.ops.len(),
                count(Outcome::Ok),
                count(Outcome::Fail),
                count(Outcome::Info)
            ),
        ),
        ("duration".into(), span),
        (
            "faults recorded".into(),
            history.nemesis_events().count().to_string() + " nemesis events",
        ),
        (
            "checked in".into(),
            format!("{:.0} ms", ladder.elapsed_ms.as_secs_f64() * 1e3),
        ),
    ]
}

fn bad_input(args: &CheckArgs, source: &str, message: &str) -> u8 {
    if args.json {
        println!(
            "{}",
            serde_json::json!({"source": source, "verdict": "bad-input", "error": message})
        );
    }
    eprintln!("error: {message}");
    EXIT_BAD_INPUT
}

fn print_ladder(ladder: &Ladder, require: Level, json: bool) {
    let mut out = std::io::stdout().lock();
    let standing = ladder.standing(require);
    if json {
        let doc = serde_json::json!({
            "source": ladder.source,
            "require": require,
            "verdict": standing,
            "ladder": ladder,
        });
        let _ = writeln!(out, "{doc}");
    } else {
        let _ = write!(
            out,
            "{}",
            checker::render::ladder_requiring(ladder, require)
        );
    }
}

/// Runs `work`, showing progress on stderr once it has taken more than a second.
fn with_progress<T>(label: &str, counters: &Counters, work: impl FnOnce() -> T) -> T {
    let (finished, wait) = std::sync::mpsc::channel::<()>();
    let started = Instant::now();
    std::thread::scope(|s| {
        s.spawn(move || {
            let mut status = crate::progress::StatusLine::new();
            // Wakes every 200 ms until `finished` is dropped.
            while let Err(std::sync::mpsc::RecvTimeoutError::Timeout) =
                wait.recv_timeout(Duration::from_millis(200))
            {
                let elapsed = started.elapsed();
                if elapsed < Duration::from_secs(1) {
                    continue;
                }
                status.show(&format!(
                    "checking {label}: {}/{} keys decided, {} search steps, {:.0} s",
                    counters.keys_done.load(Ordering::Relaxed),
                    counters.keys_total.load(Ordering::Relaxed),
                    counters.steps.load(Ordering::Relaxed),
                    elapsed.as_secs_f64()
                ));
            }
            status.clear();
        });
        let result = work();
        drop(finished);
        result
    })
}
