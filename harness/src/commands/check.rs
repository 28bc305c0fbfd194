//! `faultline check`: judge stored histories.

use crate::EXIT_BAD_INPUT;
use checker::check::Counters;
use checker::consistency::{self, Ladder, Level, LevelSet};
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
    let mut worst = 0u8;
    for file in &args.files {
        let code = check_one(file, &args);
        if severity(code) > severity(worst) {
            worst = code;
        }
    }
    worst
}

fn check_one(file: &std::path::Path, args: &CheckArgs) -> u8 {
    // A stored run's directory stands for its history.
    let stored = file.join("history.jsonl");
    let file = if file.is_dir() {
        stored.as_path()
    } else {
        file
    };
    let history = match import::read_file(file, args.format) {
        Ok(h) => h,
        Err(e) => return bad_input(args, &file.display().to_string(), &e.to_string()),
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
            ladder.standing(args.require).exit_code() as u8
        }
        Err(e) => bad_input(args, &label, &e.to_string()),
    }
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
