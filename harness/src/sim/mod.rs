//! `faultline sim`: the bundled raftkv under a deterministic simulator, checked like a real run.
//!
//! Real runs find what wall-clock time happens to interleave; the interleavings that break Raft
//! are rare there. The simulator runs the same Raft core, the same rules that answer clients,
//! the same clients, generator, recorder, fault schedule and checker as `faultline run`, around a
//! simulated network, disks and clocks ([`world`]), so thousands of seeded executions take a
//! minute, and any one replays exactly from its seed.
//!
//! What it is not: a model of raftkv. Nothing the server decides is reimplemented here; what is
//! simulated is only what lies between processes (time, messages, disks, signals).
//!
//! Each seed's history is checked for the required model (linearizable by default), and the
//! cluster must serve again within `--liveness` seconds of the faults healing. On the first seed
//! that fails either, the schedule is shrunk to the fewest segments that still fail, and the seed,
//! the anomaly in words, the shrunk faults and a command that replays them are printed (exit 1).
//! Exit 0 when every seed holds; 2 when the checker could not decide a seed (never taken for a
//! pass); 3 for bad flags.
//!
//! Run it: `cargo run --release -- sim --seeds 2000` (safe), or with a knob:
//! `cargo run --release -- sim --read-mode lease --nemesis clock,partition`.

mod world;

use crate::commands::check::Required;
use crate::run::driver::Endpoints;
use crate::run::workload::Workload;
use crate::run::Judged as Verdicts;
use crate::EXIT_BAD_INPUT;
use checker::consistency::{Level, Standing};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use targets::raftkv::cli::Knobs;
use targets::raftkv::service::{ReadMode, WriteAck};

#[derive(Args, Clone, Debug)]
pub struct SimArgs {
    /// How many seeds, from `--first-seed` on.
    #[arg(long, default_value_t = 1000)]
    pub seeds: u64,
    #[arg(long, default_value_t = 1)]
    pub first_seed: u64,
    /// Run this one seed (with `--segments`, a shrunk schedule) and print its faults.
    #[arg(long, conflicts_with_all = ["seeds", "first_seed"])]
    pub seed: Option<u64>,
    /// Keep only these segments of the seed's fault schedule (0-based, comma-separated), as
    /// the replay command of a shrunk failure gives them.
    #[arg(long, requires = "seed", value_name = "LIST")]
    pub segments: Option<String>,
    #[arg(long, default_value_t = 3)]
    pub nodes: usize,
    /// consistent, lease or stale (raftkv's `--read-mode`).
    #[arg(long, default_value = "consistent")]
    pub read_mode: String,
    /// quorum or leader (raftkv's `--write-ack`).
    #[arg(long, default_value = "quorum")]
    pub write_ack: String,
    /// serializable, snapshot, read-committed or read-uncommitted (raftkv's `--isolation` for
    /// transactions).
    #[arg(long, default_value = "serializable")]
    pub isolation: String,
    /// raftkv's unsafe knobs, comma-separated: no-fsync, no-election-restriction,
    /// commit-old-term, membership-without-noop, concurrent-membership, fail-pending-on-stepdown,
    /// redeliver, lock-lease-local.
    #[arg(long = "unsafe", value_name = "KNOBS")]
    pub unsafe_knobs: Option<String>,
    /// Fault kinds, as `faultline run --nemesis`.
    #[arg(long, default_value = crate::run::DEFAULT_FAULTS)]
    pub nemesis: String,
    /// Partition shapes, as `faultline run --shapes`.
    #[arg(long, default_value = crate::run::DEFAULT_SHAPES)]
    pub shapes: String,
    /// Simulated seconds of load and faults per seed.
    #[arg(long, default_value_t = 8.0)]
    pub time_limit: f64,
    /// About how long a round of faults lasts, in simulated seconds.
    #[arg(long, default_value_t = 2.0)]
    pub nemesis_interval: f64,
    /// After the faults heal, the cluster must acknowledge a write within this many simulated
    /// seconds.
    #[arg(long, default_value_t = 5.0)]
    pub liveness: f64,
    #[arg(long, default_value_t = 6)]
    pub concurrency: usize,
    /// Operations per second over all clients.
    #[arg(long, default_value_t = 300.0)]
    pub rate: f64,
    #[arg(long, default_value_t = 4)]
    pub keys: usize,
    #[arg(long, value_enum, default_value = "cas-register")]
    pub workload: Workload,
    /// The model a seed must satisfy: a consistency model for registers (default
    /// linearizable), an isolation level for transactions (default serializable).
    #[arg(long, value_name = "MODEL")]
    pub require: Option<Required>,
    /// Go on after a failing seed, and count how many of the seeds fail (detection power);
    /// the first failure is shrunk and printed as without it.
    #[arg(long)]
    pub all: bool,
    /// Seeds simulated at once.
    #[arg(long, default_value_t = 2)]
    pub threads: usize,
    /// Where a failing seed's history is written (`sim-seed-N.jsonl`), for `faultline check`.
    #[arg(long, default_value = "store/sim")]
    pub out: PathBuf,
}

/// Why a seed failed.
#[derive(Clone, Debug)]
enum Failure {
    /// The history breaks the required model.
    Violated,
    /// No write succeeded within the liveness bound after the faults healed.
    NoRecovery,
    /// The checker could not decide the required model (never taken for "holds").
    Undecided,
}

impl Failure {
    fn exit_code(&self) -> u8 {
        match self {
            Failure::Violated | Failure::NoRecovery => 1,
            Failure::Undecided => 2,
        }
    }
}

/// One seed's result.
struct Judged {
    seed: u64,
    failure: Option<Failure>,
    outcome: world::Outcome,
}

pub fn run(args: SimArgs) -> u8 {
    let base = match spec_of(&args) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("faultline sim: {e}");
            return EXIT_BAD_INPUT;
        }
    };
    world::quiet_node_panics();
    let addrs: Vec<String> = (1..=args.nodes)
        .map(|i| format!("10.77.0.{i}:26001"))
        .collect();
    let endpoints = Endpoints::raftkv(&addrs, Duration::from_millis(world::CLIENT_TIMEOUT_MS));
    if let Some(seed) = args.seed {
        return replay(&args, &base, &endpoints, seed);
    }
    let started = Instant::now();
    let seeds = args.first_seed..args.first_seed + args.seeds;
    let (done, failed, first) = sweep(&args, &base, &endpoints, seeds);
    let secs = started.elapsed().as_secs_f64();
    if args.all {
        println!(
            "faultline sim: {failed} of {done} seeds failed ({secs:.1} s, {:.0} seeds/s)",
            done as f64 / secs
        );
    }
    match first {
        Some(j) => report_failure(&args, &base, &endpoints, j, done, secs),
        None => {
            let kept = match args.workload.seed() {
                Some(w) => format!("keeping the {w}'s promise"),
                None => required(&args),
            };
            println!(
                "faultline sim: {done} seeds, every one {kept} and serving again within {} s of the faults healing ({:.1} s, {:.0} seeds/s)",
                args.liveness,
                secs,
                done as f64 / secs
            );
            0
        }
    }
}

/// The flags as a simulation spec (seed 0, the whole schedule).
fn spec_of(args: &SimArgs) -> Result<world::Spec, String> {
    let read_mode: ReadMode = args
        .read_mode
        .parse()
        .map_err(|e| format!("--read-mode: {e}"))?;
    let write_ack: WriteAck = args
        .write_ack
        .parse()
        .map_err(|e| format!("--write-ack: {e}"))?;
    let txn_isolation: targets::raftkv::service::Isolation = args
        .isolation
        .parse()
        .map_err(|e| format!("--isolation: {e}"))?;
    let Knobs {
        unsafe_,
        no_fsync,
        service: service_knobs,
    } = args
        .unsafe_knobs
        .as_deref()
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("--unsafe: {e}"))?;
    let positive = |name: &str, v: f64| {
        if v.is_finite() && v > 0.0 {
            Ok(Duration::from_secs_f64(v))
        } else {
            Err(format!(
                "--{name} must be a positive number of seconds, found {v}"
            ))
        }
    };
    if !(1..=9).contains(&args.nodes) {
        return Err(format!("--nodes must be 1 to 9, found {}", args.nodes));
    }
    if let (Some(Required::Isolation(i)), false) = (args.require, args.workload.transactional()) {
        return Err(format!("--require {i} is an isolation level, for transactional workloads (--workload list-append or rw-register)"));
    }
    if args.concurrency == 0
        || args.keys == 0
        || args.threads == 0
        || !args.rate.is_finite()
        || args.rate <= 0.0
    {
        return Err("--concurrency, --keys, --threads and --rate must be positive".into());
    }
    let segments = match &args.segments {
        None => None,
        Some(list) => Some(
            list.split(',')
                .filter(|s| !s.trim().is_empty())
                .map(|s| {
                    s.trim()
                        .parse::<usize>()
                        .map_err(|_| format!("--segments {list:?}: expected numbers like 0,3"))
                })
                .collect::<Result<Vec<_>, _>>()?,
        ),
    };
    Ok(world::Spec {
        seed: 0,
        nodes: args.nodes,
        read_mode,
        write_ack,
        txn_isolation,
        unsafe_,
        no_fsync,
        service_knobs,
        kinds: crate::run::parse_faults(&args.nemesis)?,
        shapes: crate::run::parse_shapes(&args.shapes)?,
        time_limit: positive("time-limit", args.time_limit)?,
        interval: positive("nemesis-interval", args.nemesis_interval)?,
        liveness: positive("liveness", args.liveness)?,
        clients: args.concurrency,
        keys: args.keys,
        workload: args.workload,
        isolation: match args.workload.transactional() {
            true => Required::isolation(args.require)?,
            false => checker::txn::Isolation::Serializable,
        },
        rate: args.rate,
        segments,
    })
}

/// Simulates and judges one spec.
fn judge(spec: &world::Spec, endpoints: &Endpoints, require: Level) -> Judged {
    let outcome = world::run(spec, endpoints);
    let failure = match standing(&outcome, spec, require, &[require]) {
        Standing::Violated => Some(Failure::Violated),
        Standing::Unknown => Some(Failure::Undecided),
        Standing::Holds => None,
    };
    let failure = if failure.is_some() {
        failure
    } else if outcome.recovered_after.is_none() {
        Some(Failure::NoRecovery)
    } else {
        None
    };
    Judged {
        seed: spec.seed,
        failure,
        outcome,
    }
}

/// The history's standing on `require` (or, for transactions, the spec's isolation level),
/// checked for `levels`.
fn standing(
    outcome: &world::Outcome,
    spec: &world::Spec,
    require: Level,
    levels: &[Level],
) -> Standing {
    match ladder(outcome, spec, levels) {
        Ok((_, judged)) => judged.standing(require),
        Err(_) => Standing::Unknown,
    }
}

/// The simulated history read back as `faultline check` reads one, and checked for `levels` —
/// or, for a transactional workload, for the isolation ladder.
fn ladder(
    outcome: &world::Outcome,
    spec: &world::Spec,
    levels: &[Level],
) -> Result<(checker::History, Verdicts), String> {
    let history =
        checker::import::parse_str("sim", &outcome.history, checker::import::Format::Jsonl)
            .map_err(|e| format!("the simulated history does not read back: {e}"))?;
    if let Some(w) = spec.workload.seed() {
        let options = crate::run::seeds::Seeds::new(spec.workload, "").options();
        let judgement = w.check(&history, &options)?;
        return Ok((history, Verdicts::Workload(judgement)));
    }
    let Some(model) = spec.workload.model() else {
        let report = checker::txn::check(&history)?;
        let require = spec.isolation;
        return Ok((history, Verdicts::Isolation { report, require }));
    };
    let ladder =
        checker::consistency::assess(&history, model, levels, &checker::Options::default())
            .map_err(|e| e.to_string())?;
    Ok((history, Verdicts::Consistency(ladder)))
}

/// Seeds in order over `--threads` threads until one fails (with `--all`, every seed): how many
/// were judged, how many failed, and the failing seed with the lowest number (every lower seed
/// was judged too).
fn sweep(
    args: &SimArgs,
    base: &world::Spec,
    endpoints: &Endpoints,
    seeds: std::ops::Range<u64>,
) -> (u64, u64, Option<Judged>) {
    let next = AtomicU64::new(seeds.start);
    let stop = AtomicBool::new(false);
    let judged = AtomicU64::new(0);
    let failures = AtomicU64::new(0);
    let failed: Mutex<Option<Judged>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..args.threads {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::SeqCst);
                if seed >= seeds.end || stop.load(Ordering::SeqCst) {
                    return;
                }
                let spec = world::Spec {
                    seed,
                    ..base.clone()
                };
                let j = judge(&spec, endpoints, Required::level(args.require));
                judged.fetch_add(1, Ordering::SeqCst);
                if j.failure.is_some() {
                    failures.fetch_add(1, Ordering::SeqCst);
                    stop.store(!args.all, Ordering::SeqCst);
                    let mut f = failed.lock().expect("lock");
                    if f.as_ref().is_none_or(|prev| j.seed < prev.seed) {
                        *f = Some(j);
                    }
                }
            });
        }
    });
    (
        judged.into_inner(),
        failures.into_inner(),
        failed.into_inner().expect("lock"),
    )
}

/// The fewest segments of `j`'s schedule that still fail as it did, found greedily: each
/// segment is dropped if the seed still fails without it.
fn shrink(base: &world::Spec, endpoints: &Endpoints, j: &Judged, require: Level) -> Vec<usize> {
    let mut keep: Vec<usize> = (0..j.outcome.segments.len()).collect();
    let mut i = 0;
    while i < keep.len() {
        let mut fewer = keep.clone();
        fewer.remove(i);
        let spec = world::Spec {
            seed: j.seed,
            segments: Some(fewer.clone()),
            ..base.clone()
        };
        let again = judge(&spec, endpoints, require);
        let same = matches!(
            (&again.failure, &j.failure),
            (Some(Failure::Violated), Some(Failure::Violated))
                | (Some(Failure::NoRecovery), Some(Failure::NoRecovery))
                | (Some(Failure::Undecided), Some(Failure::Undecided))
        );
        if same {
            keep = fewer;
        } else {
            i += 1;
        }
    }
    keep
}

fn report_failure(
    args: &SimArgs,
    base: &world::Spec,
    endpoints: &Endpoints,
    j: Judged,
    done: u64,
    secs: f64,
) -> u8 {
    let what = match j.failure {
        Some(Failure::NoRecovery) => format!(
            "did not serve again within {} s of the faults healing",
            args.liveness
        ),
        Some(Failure::Undecided) => format!("could not be decided for {}", required(args)),
        _ => format!("violates {}", required(args)),
    };
    let code = j.failure.as_ref().map_or(1, Failure::exit_code);
    println!(
        "faultline sim: seed {} {what} (found after {done} seeds, {secs:.1} s)",
        j.seed
    );
    let keep = shrink(base, endpoints, &j, Required::level(args.require));
    let spec = world::Spec {
        seed: j.seed,
        segments: Some(keep.clone()),
        ..base.clone()
    };
    let shrunk = judge(&spec, endpoints, Required::level(args.require));
    println!(
        "\nthe fault schedule shrunk from {} segments to {}:",
        j.outcome.segments.len(),
        keep.len()
    );
    describe(&shrunk, &spec, args);
    let list: Vec<String> = keep.iter().map(|k| k.to_string()).collect();
    println!(
        "\nreplay: faultline sim --seed {} --segments {} {}",
        j.seed,
        if list.is_empty() {
            "\"\"".to_string()
        } else {
            list.join(",")
        },
        flags(args)
    );
    code
}

/// A seed's faults, its verdict in words, and where its history went.
fn describe(j: &Judged, spec: &world::Spec, args: &SimArgs) {
    let (require, dir) = (Required::level(args.require), args.out.as_path());
    let mut out = std::io::stdout().lock();
    for line in &j.outcome.faults {
        let _ = writeln!(out, "  {line}");
    }
    if j.outcome.faults.is_empty() {
        let _ = writeln!(out, "  (no faults)");
    }
    for b in &j.outcome.broken {
        let _ = writeln!(out, "  safety rule broken at {b}");
    }
    match j.outcome.recovered_after {
        Some(d) => {
            let _ = writeln!(
                out,
                "  a write succeeded {:.3} s after the faults healed",
                d.as_secs_f64()
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  no write succeeded within {} s of the faults healing",
                spec.liveness.as_secs_f64()
            );
        }
    }
    let _ = writeln!(out);
    let checked = ladder(&j.outcome, spec, &Level::ALL);
    match &checked {
        Ok((_, Verdicts::Consistency(l))) => {
            let _ = write!(out, "{}", checker::render::ladder_requiring(l, require));
        }
        Ok((_, judged)) => {
            let _ = write!(out, "{}", judged.render());
            let _ = writeln!(
                out,
                "  required: {} {}",
                judged.required(require),
                judged.standing(require).words()
            );
        }
        Err(e) => {
            let _ = writeln!(out, "the history could not be checked: {e}");
        }
    }
    drop(out);
    let _ = std::fs::create_dir_all(dir);
    let path = dir.join(format!("sim-seed-{}.jsonl", spec.seed));
    match std::fs::write(&path, &j.outcome.history) {
        Ok(()) => println!("history: {}", path.display()),
        Err(e) => eprintln!("faultline sim: cannot write {}: {e}", path.display()),
    }
    if let Ok((history, l)) = &checked {
        let page = dir.join(format!("sim-seed-{}.html", spec.seed));
        match write_page(&page, j, spec, &flags(args), history, l, require) {
            Ok(()) => println!("report:  {}", page.display()),
            Err(e) => eprintln!("faultline sim: {e}"),
        }
    }
}

/// The seed's report page: the timeline with its faults shaded, the anomalies, the plots.
fn write_page(
    page: &Path,
    j: &Judged,
    spec: &world::Spec,
    flags: &str,
    history: &checker::History,
    judged: &Verdicts,
    require: Level,
) -> Result<(), String> {
    let mut facts = vec![
        ("seed".to_string(), spec.seed.to_string()),
        ("flags".to_string(), flags.to_string()),
    ];
    facts.extend(
        j.outcome
            .faults
            .iter()
            .map(|f| ("fault".to_string(), f.trim().to_string())),
    );
    let context = crate::report::Context {
        title: format!("faultline sim, seed {}", spec.seed),
        require,
        facts,
        notes: j
            .outcome
            .broken
            .iter()
            .map(|b| format!("safety rule broken at {b}"))
            .collect(),
    };
    let html = match judged {
        Verdicts::Consistency(ladder) => crate::report::html(history, ladder, &context),
        Verdicts::Isolation { report, require } => crate::report::isolation::html(
            history,
            report,
            *require,
            &context.title,
            &context.facts,
            &context.notes,
        ),
        Verdicts::Workload(j) => crate::report::workload::html(
            history,
            j,
            &context.title,
            &context.facts,
            &context.notes,
        ),
    };
    crate::report::write_atomically(page, html.as_bytes())
}

/// The model a seed must satisfy, by name: `--require`'s, or for transactions the isolation
/// level.
fn required(args: &SimArgs) -> String {
    if let Some(w) = args.workload.seed() {
        return w.to_string();
    }
    match args.workload.transactional() {
        true => Required::isolation(args.require)
            .map(|i| i.to_string())
            .unwrap_or_default(),
        false => Required::level(args.require).to_string(),
    }
}

/// Every flag that shapes a seed's run, to repeat in a replay command (the shapes only when not
/// the default, which is long).
fn flags(args: &SimArgs) -> String {
    let workload = args.workload.name();
    let mut f = vec![
        format!("--nodes {}", args.nodes),
        format!("--read-mode {}", args.read_mode),
        format!("--write-ack {}", args.write_ack),
        format!("--isolation {}", args.isolation),
        format!("--nemesis {}", args.nemesis),
        format!("--time-limit {}", args.time_limit),
        format!("--nemesis-interval {}", args.nemesis_interval),
        format!("--liveness {}", args.liveness),
        format!("--concurrency {}", args.concurrency),
        format!("--rate {}", args.rate),
        format!("--keys {}", args.keys),
        format!("--workload {workload}"),
        format!("--require {}", required(args)),
    ];
    if args.shapes != crate::run::DEFAULT_SHAPES {
        f.push(format!("--shapes {}", args.shapes));
    }
    if let Some(k) = &args.unsafe_knobs {
        f.push(format!("--unsafe {k}"));
    }
    f.join(" ")
}

/// `--seed S`: one seed, its faults and its verdict; exit as a run would.
fn replay(args: &SimArgs, base: &world::Spec, endpoints: &Endpoints, seed: u64) -> u8 {
    let spec = world::Spec {
        seed,
        ..base.clone()
    };
    let j = judge(&spec, endpoints, Required::level(args.require));
    println!(
        "faultline sim: seed {seed}: {} ({} events)",
        match j.failure {
            None => "holds",
            Some(Failure::Violated) => "violated",
            Some(Failure::NoRecovery) => "no recovery",
            Some(Failure::Undecided) => "undecided",
        },
        j.outcome.events
    );
    describe(&j, &spec, args);
    j.failure.as_ref().map_or(0, Failure::exit_code)
}
