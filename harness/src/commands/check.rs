//! `faultline check`: judge stored histories.

use crate::report::{self, junit};
use crate::EXIT_BAD_INPUT;
use checker::check::Counters;
use checker::consistency::Standing;
use checker::consistency::{self, Ladder, Level, LevelSet};
use checker::conventions;
use checker::history::{History, Outcome};
use checker::import::store::{self, Found, JepsenVerdict};
use checker::import::{self, Format};
use checker::{ModelKind, Options};
use clap::Args;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod jepsen;
mod registers;
mod starts;
mod transactions;
mod workload;

use jepsen::Comparison;
use registers::registers_checked;
use starts::{initial_ambiguity, knossos_rule_note};
use transactions::{fast_transactions, phases_line, transactions_checked};

/// What `--require` names: a consistency model (registers) or an isolation level
/// (transactions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Required {
    Consistency(Level),
    Isolation(checker::txn::Isolation),
}

impl Required {
    /// The consistency model that decides a register history (linearizable unless one is named).
    pub fn level(required: Option<Required>) -> Level {
        match required {
            Some(Required::Consistency(l)) => l,
            _ => Level::Linearizable,
        }
    }

    /// The isolation level that decides a transactional history (serializable unless one is
    /// named); a consistency model named instead is an error saying what to name.
    pub fn isolation(required: Option<Required>) -> Result<checker::txn::Isolation, String> {
        match required {
            Some(Required::Isolation(i)) => Ok(i),
            None => Ok(checker::txn::Isolation::Serializable),
            Some(Required::Consistency(l)) => Err(format!(
                "--require {l} names a consistency model for registers; transactions are judged by an isolation level: name one (strict-serializable, serializable, snapshot-isolation, …)"
            )),
        }
    }
}

impl std::fmt::Display for Required {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Required::Consistency(l) => write!(f, "{l}"),
            Required::Isolation(i) => write!(f, "{i}"),
        }
    }
}

impl serde::Serialize for Required {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::str::FromStr for Required {
    type Err = String;
    fn from_str(s: &str) -> Result<Required, String> {
        match (s.parse::<Level>(), s.parse::<checker::txn::Isolation>()) {
            (Ok(l), _) => Ok(Required::Consistency(l)),
            (_, Ok(i)) => Ok(Required::Isolation(i)),
            (Err(e), _) => Err(format!("{e}; or an isolation level for transactions: strict-serializable, serializable, snapshot-isolation, …")),
        }
    }
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// History files, run directories (faultline's store/latest, a Jepsen run with
    /// history.edn, history.txt or jepsen.log), or whole stores of runs; each history gets its
    /// own verdict.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// The data type: cas-register (read/write/cas), register (read/write) or kv-append
    /// (get/put/append). Default: what the operations are.
    #[arg(long, value_name = "MODEL")]
    pub model: Option<ModelKind>,
    /// Every key starts at this value (EDN or JSON, e.g. 0), as Knossos's (cas-register 0)
    /// does; `none`: every key starts absent (nil). Without it, a history whose reads return a
    /// value nothing wrote gets both readings, and is unknown when they disagree.
    #[arg(long, value_name = "VALUE", value_parser = parse_initial)]
    pub initial: Option<Initial>,
    /// What an ok read of nil means: strict (the key was absent) or any (Knossos's rule: it
    /// matches any state).
    #[arg(long, default_value = "strict", value_name = "RULE")]
    pub nil_reads: NilReads,
    /// Consistency models to check: all, or a comma-separated list of linearizable,
    /// sequential, pram, monotonic-reads, monotonic-writes, read-your-writes,
    /// writes-follow-reads, eventual.
    #[arg(long, default_value = "all", value_name = "MODELS")]
    pub consistency: LevelSet,
    /// The model whose verdict decides the exit code: 0 holds, 1 violated, 2 unknown (3 is bad
    /// input). A consistency model for registers (default linearizable), or an isolation level
    /// for transactions (default serializable).
    #[arg(long, value_name = "MODEL")]
    pub require: Option<Required>,
    /// For a transactional history: the isolation level whose verdict decides the exit code —
    /// strict-serializable, strong-session-serializable, serializable, snapshot-isolation,
    /// repeatable-read, read-committed or read-uncommitted (`--require` takes these too).
    #[arg(long, value_name = "MODEL")]
    pub isolation: Option<checker::txn::Isolation>,
    /// Keep checking other keys after one is not linearizable, to report every failing key
    /// (slower on large histories).
    #[arg(long)]
    pub all_failures: bool,
    /// History format: auto, jsonl, jepsen-edn, jepsen-txt (history.txt) or jepsen-log.
    #[arg(long, default_value = "auto", value_name = "FORMAT")]
    pub format: Format,
    /// Give up after this many seconds per file; the verdict is then `unknown`.
    #[arg(long, value_name = "SECS")]
    pub timeout: Option<f64>,
    /// Print one JSON object per file instead of text.
    #[arg(long)]
    pub json: bool,
    /// Print every anomaly and every witness operation (the terminal shows the first 10
    /// anomalies and 24 operations of a witness; the JSON and the report always hold all).
    #[arg(long)]
    pub all: bool,
    #[command(flatten)]
    pub ladder: LadderArgs,
    #[command(flatten)]
    pub workloads: workload::WorkloadArgs,
    /// Write a self-contained HTML report of the history to OUT (one FILE only).
    #[arg(long, value_name = "OUT")]
    pub html: Option<PathBuf>,
    /// Write the verdicts as JUnit XML to FILE: a suite per history, a test case per model and
    /// per failing key.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}

impl CheckArgs {
    /// The consistency model that decides a register history's exit code.
    pub fn level(&self) -> Level {
        Required::level(self.require)
    }

    /// The isolation level that decides a transactional history's exit code; a consistency
    /// model named by `--require` is an error there, saying what to name instead.
    fn isolation(&self) -> Result<checker::txn::Isolation, String> {
        match (self.require, self.isolation) {
            (None, Some(i)) => Ok(i),
            (required, _) => Required::isolation(required),
        }
    }
}

/// How the ladder judges, for `check` and `run`: witnesses, and the gate against passing on
/// nothing.
#[derive(Args, Debug, Clone, serde::Serialize)]
pub struct LadderArgs {
    /// Milliseconds for shrinking each anomaly's witness to the fewest operations that still
    /// show it; a witness not shrunk to the end in time says so. Verdicts never wait on this.
    #[arg(long, default_value_t = 20, value_name = "MS")]
    pub witness_budget: u64,
    /// Skip shrinking witnesses: verdicts only (anomalies keep the operations their check
    /// started from).
    #[arg(long)]
    pub no_witness: bool,
    /// With fewer ok operations than N, no model holds: each is `unknown` (exit 2) with the
    /// reason. A history with no successful write, or no successful read, is unknown anyway.
    #[arg(long, value_name = "N")]
    pub min_ok: Option<usize>,
}

impl LadderArgs {
    /// `opts` judged this way.
    pub fn apply(&self, opts: Options) -> Options {
        Options {
            witness_budget: Some(Duration::from_millis(self.witness_budget)),
            no_witness: self.no_witness,
            min_ok: self.min_ok,
            ..opts
        }
    }
}

/// Knossos's rule for ok reads of nil, or faultline's strict default.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NilReads {
    Strict,
    Any,
}

/// Where every key starts, as `--initial` says.
#[derive(Clone, Debug, PartialEq)]
pub enum Initial {
    /// `--initial none`: absent.
    Absent,
    Value(serde_json::Value),
}

fn parse_initial(text: &str) -> Result<Initial, String> {
    if text == "none" {
        return Ok(Initial::Absent);
    }
    checker::import::edn::parse(text)
        .map(Initial::Value)
        .map_err(|e| format!("not an EDN or JSON value: {}", e.message))
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
    // Every history the paths stand for, in order; a path that stands for none is its error.
    let mut jobs: Vec<Result<Found, Checked>> = Vec::new();
    let mut in_dir: Vec<bool> = Vec::new();
    let mut skipped = 0;
    for path in &args.files {
        let source = path.display().to_string();
        match store::find_all(path) {
            Ok((found, _)) if args.html.is_some() && found.len() > 1 => {
                let e = format!(
                    "--html writes one report, but {source} holds {} histories: name one of them",
                    found.len()
                );
                bad_input(&args, &source, &e).print();
                return EXIT_BAD_INPUT;
            }
            Ok((found, passed_over)) => {
                for why in &passed_over {
                    eprintln!("faultline: skipped {why}");
                }
                skipped += passed_over.len();
                in_dir.extend(found.iter().map(|_| path.is_dir()));
                jobs.extend(found.into_iter().map(Ok));
            }
            Err(e) => {
                in_dir.push(false);
                jobs.push(Err(bad_input(&args, &source, &e)));
            }
        }
    }
    let mut totals = Totals {
        skipped,
        ..Totals::default()
    };
    let mut suites = Vec::new();
    check_all(jobs, &args, |i, checked| {
        checked.print();
        totals.add(&checked, in_dir[i]);
        suites.push(checked.suite);
    });
    if totals.histories() > 1 || skipped > 0 {
        if args.json {
            eprintln!("{}", totals.line());
        } else {
            println!("{}", totals.line());
        }
    }
    if let Some(path) = &args.junit {
        let xml = junit::document(&suites);
        if let Err(e) = report::write_atomically(path, xml.as_bytes()) {
            eprintln!("error: {e}");
            return EXIT_BAD_INPUT;
        }
    }
    totals.exit_code()
}

/// What a check of several histories came to: the verdicts, Jepsen's agreement, and the exit
/// code — the worst verdict among the histories read: violated (1), then unknown (2), then
/// holds (0). A history in a store or run directory that could not be read counts as unknown
/// (it passes nothing, and it does not hide another run's violation); a file named on the
/// command line that could not be read, or a check that read nothing, is bad input (3).
#[derive(Default)]
struct Totals {
    holds: usize,
    violated: usize,
    unknown: usize,
    unreadable: usize,
    named_unreadable: bool,
    agree: usize,
    disagree: usize,
    skipped: usize,
}

impl Totals {
    fn add(&mut self, checked: &Checked, in_dir: bool) {
        match checked.code {
            0 => self.holds += 1,
            1 => self.violated += 1,
            2 => self.unknown += 1,
            _ => {
                self.unreadable += 1;
                self.named_unreadable |= !in_dir;
            }
        }
        match checked.agree {
            Some(true) => self.agree += 1,
            Some(false) => self.disagree += 1,
            None => {}
        }
    }

    fn histories(&self) -> usize {
        self.holds + self.violated + self.unknown + self.unreadable
    }

    fn exit_code(&self) -> u8 {
        if self.named_unreadable || self.histories() == self.unreadable {
            EXIT_BAD_INPUT
        } else if self.violated > 0 {
            1
        } else if self.unknown > 0 || self.unreadable > 0 {
            2
        } else {
            0
        }
    }

    /// `checked 12 histories: 8 hold, 2 violated, 1 unknown, 1 unreadable; beside Jepsen's
    /// verdicts 9 agree, 1 disagrees; 2 run directories skipped`.
    fn line(&self) -> String {
        let mut parts = vec![format!("{} hold", self.holds)];
        for (n, what) in [
            (self.violated, "violated"),
            (self.unknown, "unknown"),
            (self.unreadable, "unreadable"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        let mut line = format!(
            "checked {} histor{}: {}",
            self.histories(),
            if self.histories() == 1 { "y" } else { "ies" },
            parts.join(", ")
        );
        if self.agree + self.disagree > 0 {
            line.push_str(&format!(
                "; beside Jepsen's verdicts {} agree, {} disagree{}",
                self.agree,
                self.disagree,
                if self.disagree == 1 { "s" } else { "" }
            ));
        }
        if self.skipped > 0 {
            line.push_str(&format!(
                "; {} run director{} skipped (named above)",
                self.skipped,
                if self.skipped == 1 { "y" } else { "ies" }
            ));
        }
        line
    }
}

/// What checking one history gave: its exit code, its JUnit suite, and what it prints.
struct Checked {
    code: u8,
    /// Whether faultline's verdict agrees with Jepsen's (`results.edn`), where both decided.
    agree: Option<bool>,
    suite: String,
    stdout: String,
    stderr: String,
}

impl Checked {
    fn print(&self) {
        print!("{}", self.stdout);
        eprint!("{}", self.stderr);
    }
}

/// Checks every job, several at once on a machine with several cores (one history's keys
/// often leave cores idle), handing each result to `done` in the jobs' order as soon as it and
/// every one before it are ready. A lone history shows its progress; several do not, since their
/// status lines would mix.
fn check_all(
    jobs: Vec<Result<Found, Checked>>,
    args: &CheckArgs,
    mut done: impl FnMut(usize, Checked),
) {
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(jobs.len());
    let progress = jobs.len() == 1;
    let queue = std::sync::Mutex::new(jobs.into_iter().enumerate());
    let (send, receive) = std::sync::mpsc::channel::<(usize, Checked)>();
    std::thread::scope(|s| {
        for _ in 0..workers {
            let (send, queue) = (send.clone(), &queue);
            s.spawn(move || loop {
                let Some((i, job)) = queue.lock().expect("job lock").next() else {
                    return;
                };
                let checked = match job {
                    Ok(found) => check_one(&found, args, progress),
                    Err(checked) => checked,
                };
                if send.send((i, checked)).is_err() {
                    return;
                }
            });
        }
        drop(send);
        let mut waiting = std::collections::BTreeMap::new();
        let mut due = 0;
        for (i, checked) in receive {
            waiting.insert(i, checked);
            while let Some(checked) = waiting.remove(&due) {
                done(due, checked);
                due += 1;
            }
        }
    });
}

fn check_one(found: &Found, args: &CheckArgs, progress: bool) -> Checked {
    let file = found.history.as_path();
    let source = file.display().to_string();
    let format = match args.format {
        Format::Auto => found.format,
        forced => forced,
    };
    if args.html.is_none() {
        if let Some(checked) = fast_checked(file, format, args, progress) {
            return checked;
        }
    }
    let history = match import::read_file(file, format) {
        Ok(h) => h,
        Err(e) => return bad_input(args, &source, &e.to_string()),
    };
    if let Some(w) = workload::of(&history, args).filter(|_| args.model.is_none()) {
        return workload::checked(&history, w, args, &source, found.results.as_deref());
    }
    if checker::model::transactional(&history).is_some() && args.model.is_none() {
        if let Some(w) = checker::model::other_workload(&history) {
            return unjudged(&history, w, args, &source);
        }
        let report = checker::txn::check(&history);
        return transactions_checked(report, Some(&history), args, &source);
    }
    if let (None, Some(w)) = (args.model, checker::model::other_workload(&history)) {
        return unjudged(&history, w, args, &source);
    }
    if let Some(Required::Isolation(i)) = args.require {
        let e = format!("--require {i} is an isolation level for transactions, and this history is of single objects: name a consistency model (linearizable, sequential, …)");
        return bad_input(args, &source, &e);
    }
    registers_checked(history, found, args, progress)
}

/// A clean file of transactions read straight from its text and judged, with the phases'
/// times on stderr when it took a while; `None` when the file is anything else.
fn fast_checked(
    file: &std::path::Path,
    format: Format,
    args: &CheckArgs,
    progress: bool,
) -> Option<Checked> {
    let started = std::time::Instant::now();
    let source = file.display().to_string();
    let txns = fast_transactions(file, format)?;
    let read = started.elapsed().as_secs_f64();
    let report = checker::txn::check_transactions(&source, &txns);
    let phases = report.as_ref().ok().map(|r| phases_line(read, &r.phases));
    let mut checked = transactions_checked(report, None, args, &source);
    if progress && started.elapsed().as_secs() >= 2 {
        checked.stderr += &phases.unwrap_or_default();
    }
    // Millions of small allocations: freed beside the report's printing, not before it.
    std::thread::spawn(move || drop(txns));
    Some(checked)
}

/// Writes a report page, said on stderr; a failure to write it is bad input.
fn write_page(out: &std::path::Path, html: &str, checked: &mut Checked) {
    match report::write_atomically(out, html.as_bytes()) {
        Ok(()) => checked.stderr = format!("report: {}\n", out.display()),
        Err(e) => {
            checked.stderr = format!("error: {e}\n");
            checked.code = EXIT_BAD_INPUT;
        }
    }
}

/// A history that could not be checked: exit 3, an errored JUnit suite, the error.
/// A history of a workload faultline reads but has no checker for yet (bank, lock, queue, …):
/// named, counted, and unknown — not bad input, and never "holds".
fn unjudged(
    history: &History,
    w: checker::model::OtherWorkload,
    args: &CheckArgs,
    source: &str,
) -> Checked {
    let why = format!(
        "faultline reads this workload but has no {} checker yet",
        w.name
    );
    let ops = history.ops.len();
    let stdout = if args.json {
        let doc = serde_json::json!({
            "source": source, "workload": w.name, "operations": ops,
            "verdict": Standing::Unknown, "why": why,
        });
        format!("{doc}\n")
    } else {
        format!(
            "{source}: {}, {ops} operations\n  ? unknown: {why}\n",
            w.words
        )
    };
    Checked {
        code: Standing::Unknown.exit_code() as u8,
        agree: None,
        suite: junit::unjudged_suite(source, &why),
        stdout,
        stderr: String::new(),
    }
}

fn bad_input(args: &CheckArgs, source: &str, message: &str) -> Checked {
    let stdout = if args.json {
        format!(
            "{}\n",
            serde_json::json!({"source": source, "verdict": "bad-input", "error": message})
        )
    } else {
        String::new()
    };
    Checked {
        code: EXIT_BAD_INPUT,
        agree: None,
        suite: junit::bad_input_suite(source, message),
        stdout,
        stderr: format!("error: {message}\n"),
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
