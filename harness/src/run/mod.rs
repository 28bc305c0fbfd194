//! `faultline run`: one test of a cluster — the bundled raftkv (default), a service described in
//! a file (`--target http:FILE`) or a local etcd (`--target etcd`) — start to verdict.
//!
//! Data flows one way: the [`workload`] generator hands operations to clients, the [`driver`]
//! performs them against the nodes, the [`recorder`] streams every invocation and completion to
//! `history.jsonl`, and at the end the checker judges that file — the same file `faultline check`
//! reads, so every verdict can be re-derived. Beside the clients, the [`supervisor`] owns the
//! nodes and the nemesis, which applies the seeded fault schedule.
//!
//! Phases, each a function of its own that [`run`] calls in order: `prepare` (flags fitted to
//! the target), the schedule and `config.json` (a typed `RunConfig`), `setup` (network, clocks,
//! nodes, a leader, the nodes' setup commands), `main_phase` (clients as tokio tasks; the
//! nemesis worker applying the schedule), `heal` (every fault undone, killed nodes restarted),
//! `recover_and_read` (quiet until the nodes agree on what is applied, then every key from every
//! node's own state, `phase: final`), teardown (the supervisor dropped: nodes stopped, network
//! removed), `check`, and `finish` (a typed `RunResults` as `results.json`, the report, JUnit,
//! the summary, the exit code).

pub mod amqp_driver;
pub mod config;
pub mod driver;
pub mod etcd_driver;
pub mod etcd_lock;
pub mod hosts;
pub mod recorder;
pub mod remote;
pub mod results;
pub mod seeds;
pub mod sql_driver;
pub mod store;
pub mod supervisor;
pub mod workload;
pub mod zk_driver;

mod args;
mod clients;
mod host_fit;
mod nemesis_worker;
mod outages;
mod target;
mod verdict;
use args::positive;
pub(crate) use args::{parse_faults, parse_shapes, plural};
pub use args::{KeepData, RunArgs};
use clients::*;
pub(crate) use clients::{final_read_process, sticky, Seat};
use host_fit::*;
use nemesis_worker::*;
use outages::*;
use target::*;
pub(crate) use verdict::Judged;
use verdict::*;

use crate::signals;
use checker::generate::Rng;
use checker::Outcome;
use clap::Args;
use clap::ValueEnum;
use nemesis::schedule::{self, Action};
use nemesis::FaultKind;
use recorder::Recorder;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use supervisor::{NetKind, OnHosts, Setup, Supervisor, System};
use workload::{Generator, Workload};

/// Exit code when the run was interrupted (as shells report SIGINT).
pub const EXIT_INTERRUPTED: u8 = 130;

/// What went wrong before the test could run: bad flags or a broken environment.
fn usage(message: impl std::fmt::Display) -> u8 {
    eprintln!("error: {message}");
    crate::EXIT_BAD_INPUT
}

/// Every fault kind, the default of `--nemesis` (for `run` and `sim`).
pub(crate) const DEFAULT_FAULTS: &str = "partition,pause,kill,clock";

/// Every partition shape, the default of `--shapes`.
pub(crate) const DEFAULT_SHAPES: &str =
    "halves,random-halves,isolate-one,majorities-ring,bridge,isolate-leader,isolate-follower";

/// What `run` settled before anything starts: the flags, fitted to the target, and what they
/// mean.
struct Prepared {
    args: RunArgs,
    kinds: Vec<FaultKind>,
    shapes: Vec<nemesis::Shape>,
    notes: Vec<String>,
    target: Target,
    name: String,
    faketime: Option<PathBuf>,
    seed: u64,
    /// The hosts of a run on remote hosts, with what each was found to have.
    on: Option<OnHosts>,
}

/// A run while its cluster lives: the supervisor (which heals and stops everything when
/// dropped), the recorder, the nemesis log, and the clients' runtime, endpoints and generator.
struct Live {
    sup: Supervisor,
    recorder: Arc<Recorder>,
    nemesis_log: std::fs::File,
    runtime: tokio::runtime::Runtime,
    endpoints: Arc<dyn driver::Driver>,
    generator: Arc<Generator>,
}

/// What the main phase did.
struct MainOutcome {
    interrupted: bool,
    elapsed: Duration,
    fault_counts: BTreeMap<&'static str, u64>,
    nemesis_errors: Vec<String>,
    /// The first error of each fault kind that failed to start.
    first_errors: BTreeMap<&'static str, String>,
}

/// The phases, in order: prepare (flags, target), plan (the schedule, `config.json`), setup
/// (network, clocks, nodes, a leader), main (load and faults), heal, recovery and final reads,
/// teardown (the supervisor dropped), check, and the results (`results.json`, the report,
/// JUnit, the summary, the exit code).
pub fn run(args: RunArgs) -> u8 {
    let p = match prepare(args) {
        Ok(p) => p,
        Err(e) => return usage(e),
    };
    for note in &p.notes {
        eprintln!("faultline: {note}");
    }
    signals::install();
    let run_dir = match store::new_run_dir(&p.args.store, &p.name) {
        Ok(d) => d,
        Err(e) => {
            return usage(format!(
                "cannot create a run under {}: {e}",
                p.args.store.display()
            ))
        }
    };
    let mut rng = Rng::new(p.seed);
    let steps = fault_schedule(&p, &mut rng);
    let config = config_of(&p, &steps);
    if let Err(e) = config.write(&run_dir) {
        return usage(e);
    }
    announce(&p, &run_dir);
    let (args, target, faketime) = (p.args, p.target, p.faketime);
    let keys_prefix = format!("{}-", config.run_id);
    let mut live = match setup(
        &args,
        target.system,
        faketime,
        (p.seed, &keys_prefix),
        &run_dir,
        p.on,
    ) {
        Ok(l) => l,
        Err(e) => return usage(e),
    };
    let main = main_phase(&mut live, &args, &steps, &mut rng);
    heal(&mut live, main.interrupted);
    let converged = (!main.interrupted).then(|| recover_and_read(&live, &args));
    // Teardown: the nodes stop, the network mechanism goes (data on remote hosts may wait for
    // the verdict).
    let remote_data = live.sup.defer_data();
    drop(live);
    let (history, judged) = match check(&run_dir, &args, config.workload_options.as_ref()) {
        Ok(checked) => checked,
        Err(e) => return usage(e),
    };
    let unapplied = unapplied(&p.kinds, &main, &steps, &args);
    // A fault test that injected nothing of a kind it asked for passes nothing.
    let standing = match judged.standing(args.level()) {
        checker::consistency::Standing::Holds if !unapplied.is_empty() && !main.interrupted => {
            checker::consistency::Standing::Unknown
        }
        s => s,
    };
    let data_kept = match remote_data {
        Some(data) => data.resolve(args.keep_data.keeps(standing)),
        None => keep_or_drop_data(&run_dir, args.keep_data, standing),
    };
    let results = results::RunResults {
        run_dir: run_dir.display().to_string(),
        seed: p.seed,
        interrupted: main.interrupted,
        require: args.level(),
        verdict: standing,
        strongest: judged.strongest(),
        isolation: judged.isolation_json(),
        workload: judged.workload_json(),
        main_phase_s: main.elapsed.as_secs_f64(),
        main_phase: figures(&history, main.elapsed),
        outages: outages(
            &history,
            Duration::from_secs_f64((3.0 * args.nemesis_interval).max(2.0)),
        ),
        final_reads: history
            .ops
            .iter()
            .filter(|o| o.phase.as_deref() == Some("final"))
            .count(),
        faults: main
            .fault_counts
            .into_iter()
            .map(|(k, n)| (k.to_string(), n))
            .collect(),
        nemesis_errors: main.nemesis_errors,
        unapplied,
        converged,
        data_kept,
        notes: p.notes,
        report: run_dir.join("report.html").display().to_string(),
        ladder: judged.ladder_json(),
    };
    finish(&run_dir, &args, &config, &results, &history, &judged)
}

/// The run's fault schedule, drawn from its seed; the kinds that got no round said at once.
fn fault_schedule(p: &Prepared, rng: &mut Rng) -> Vec<nemesis::schedule::Step> {
    let steps = schedule::schedule(
        &p.kinds,
        &p.shapes,
        p.args.nodes as usize,
        Duration::from_secs_f64(p.args.nemesis_interval),
        Duration::from_secs_f64(p.args.time_limit),
        &mut rng.fork(),
    );
    let left_out = schedule::unscheduled(&p.kinds, &steps);
    if !left_out.is_empty() {
        let names: Vec<&str> = left_out.iter().map(|k| k.name()).collect();
        eprintln!(
            "faultline: {} get{} {}; the verdict will be unknown",
            names.join(" and "),
            if names.len() == 1 { "s" } else { "" },
            no_round(p.kinds.len(), &p.args)
        );
    }
    steps
}

/// The run as `config.json` records it.
fn config_of(p: &Prepared, steps: &[nemesis::schedule::Step]) -> config::RunConfig {
    let mut config = config::RunConfig::new(
        args_for(&p.args, &p.target),
        config::TargetInfo {
            kind: p.target.kind.to_string(),
            description: p.target.description.clone(),
            file: p.target.file.clone(),
        },
        p.seed,
        p.kinds.iter().map(|k| k.name().to_string()).collect(),
        serde_json::to_value(steps).expect("the schedule serializes"),
        node_flags(&p.args),
        p.notes.clone(),
        p.faketime.as_ref().map(|f| f.display().to_string()),
    );
    config.workload_options = p.args.workload.seed().map(|_| {
        let seeds = seeds::Seeds::new(p.args.workload, &format!("{}-", config.run_id));
        p.target
            .fitted(seeds.options(), p.args.queue_delivery.as_deref())
    });
    config
}

/// The fault kinds asked for that were never applied, each with why: no round in the schedule
/// (the run is too short for every kind), or every attempt failed (the first error).
fn unapplied(
    kinds: &[FaultKind],
    main: &MainOutcome,
    steps: &[schedule::Step],
    args: &RunArgs,
) -> Vec<(String, String)> {
    let unscheduled = schedule::unscheduled(kinds, steps);
    kinds
        .iter()
        .filter(|k| !main.fault_counts.contains_key(k.name()))
        .map(|k| {
            let why = if unscheduled.contains(k) {
                no_round(kinds.len(), args)
            } else if let Some(e) = main.first_errors.get(k.name()) {
                format!("every attempt failed; the first: {e}")
            } else {
                "its rounds were cut short before it was applied".to_string()
            };
            (k.name().to_string(), why)
        })
        .collect()
}

/// Why a kind got no round, and the time limit that gives every kind one.
fn no_round(kinds: usize, args: &RunArgs) -> String {
    let enough =
        schedule::time_for_every_kind(kinds, Duration::from_secs_f64(args.nemesis_interval));
    format!(
        "no round: a {} s run with --nemesis-interval {} has room for fewer rounds than the {kinds} kinds asked for; --time-limit {enough} gives each a round",
        args.time_limit, args.nemesis_interval
    )
}

/// Checks the flags and fits them to the target; the one error says what is wrong.
fn prepare(mut args: RunArgs) -> Result<Prepared, String> {
    args.nodes = args.nodes_asked.unwrap_or(3);
    let checks = [
        positive("time-limit", args.time_limit, false),
        positive("rate", args.rate, true),
        positive("nemesis-interval", args.nemesis_interval, false),
        positive("recovery", args.recovery, true),
    ];
    if let Some(Err(e)) = checks.into_iter().find(Result::is_err) {
        return Err(e);
    }
    if !(0.0..=1.0).contains(&args.net_loss) {
        return Err(format!(
            "--net-loss must be a probability from 0 to 1, found {}",
            args.net_loss
        ));
    }
    if args.net == NetKind::Netns && (args.net_latency > 0 || args.net_loss > 0.0) {
        return Err(
            "--net-latency and --net-loss need --net proxy (this kernel has no netem)".into(),
        );
    }
    let mut kinds = parse_faults(&args.nemesis)?;
    // A bad hosts file, or a host that cannot serve, is an error before anything is made.
    let on = match &args.hosts {
        Some(file) => Some(on_hosts(&args, file)?),
        None => None,
    };
    let mut notes = Vec::new();
    let target = choose_target(&mut args, &mut kinds, &mut notes, on.as_ref())?;
    transactions_possible(&args, &target)?;
    let name = args
        .name
        .clone()
        .unwrap_or_else(|| target.test_name.clone());
    if name.is_empty() || name.contains('/') || name.starts_with('.') {
        return Err(format!("--name {name:?} must be a plain directory name"));
    }
    if let Some(knobs) = &args.unsafe_knobs {
        knobs
            .parse::<targets::raftkv::cli::Knobs>()
            .map_err(|e| format!("--unsafe: {e}"))?;
    }
    let shapes = parse_shapes(&args.shapes)?;
    let faketime = if let (true, Some(on)) = (kinds.contains(&FaultKind::Clock), &on) {
        // Every host has it (else clock faults were dropped): the first host's, for the record.
        on.facts[0].libfaketime.as_ref().map(PathBuf::from)
    } else if kinds.contains(&FaultKind::Clock) {
        let lib = nemesis::clock::find_libfaketime();
        if lib.is_none() {
            kinds.retain(|k| *k != FaultKind::Clock);
            notes.push("clock faults unavailable: install libfaketime (apt-get install libfaketime); running without them".to_string());
        }
        lib
    } else {
        None
    };
    if args.nodes < 2 {
        kinds.retain(|k| *k != FaultKind::Partition);
    }
    let seed = args.seed.unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(1)
            ^ u64::from(std::process::id())
    });
    Ok(Prepared {
        args,
        kinds,
        shapes,
        notes,
        target,
        name,
        faketime,
        seed,
        on,
    })
}

/// The line that says what is about to run.
fn announce(p: &Prepared, run_dir: &std::path::Path) {
    eprintln!(
        "faultline: {}, {} s, {} clients, seed {}, faults {} via {}; storing in {}",
        p.target.description,
        p.args.time_limit,
        p.args.concurrency,
        p.seed,
        if p.kinds.is_empty() {
            "none".to_string()
        } else {
            p.kinds
                .iter()
                .map(|k| k.name())
                .collect::<Vec<_>>()
                .join(",")
        },
        match (&p.target.system, p.args.net) {
            _ if p.args.hosts.is_some() => "ssh + nftables on the hosts".to_string(),
            (System::Described(_), NetKind::Proxy) => "loopback".to_string(),
            (_, net) => net
                .to_possible_value()
                .expect("no skipped values")
                .get_name()
                .to_string(),
        },
        run_dir.display()
    );
}

/// Setup: the network, clocks and nodes; a ready cluster, set up; the history and nemesis log
/// opened; the clients' endpoints and runtime.
fn setup(
    args: &RunArgs,
    system: System,
    faketime: Option<PathBuf>,
    (seed, keys_prefix): (u64, &str),
    run_dir: &std::path::Path,
    hosts: Option<OnHosts>,
) -> Result<Live, String> {
    let n = args.nodes as usize;
    let sup = Supervisor::start(Setup {
        nodes: n,
        net: args.net,
        run_dir,
        system,
        faketime,
        seed,
        latency: Duration::from_millis(args.net_latency),
        loss: args.net_loss,
        hosts,
        keep_data: args.keep_data,
    })
    .map_err(|e| format!("setup failed: {e}"))?;
    // Slow services boot one after another (a RabbitMQ cluster's nodes wait for the first):
    // 20 s, and 10 s more for each further node.
    let patience = 20 + 10 * (n as u64).saturating_sub(1);
    if let Err(e) = sup.wait_ready(Duration::from_secs(patience)) {
        if e.contains(" exited while starting; ") {
            return Err(format!("the cluster did not start: {e}"));
        }
        let logs = (0..n)
            .map(|i| sup.log_path(i).display().to_string())
            .collect::<Vec<_>>();
        return Err(format!(
            "the cluster was not ready within {patience} s ({e}); see the node logs: {}",
            logs.join(", ")
        ));
    }
    for line in sup.nodes.resolutions() {
        eprintln!("faultline: {line}");
    }
    sup.nodes
        .setup()
        .map_err(|e| format!("a node's setup failed: {e}"))?;
    let recorder = Recorder::create(&run_dir.join("history.jsonl"))
        .map_err(|e| format!("cannot write the history: {e}"))?;
    let nemesis_log = std::fs::File::create(run_dir.join("nemesis.jsonl"))
        .map_err(|e| format!("cannot write nemesis.jsonl: {e}"))?;
    // One thread drives every client: they wait on the network, and a single-threaded
    // scheduler costs the least per operation.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the client runtime: {e}"))?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let endpoints = connect_driver(&sup, &runtime, args.workload, timeout)?;
    Ok(Live {
        sup,
        recorder: Arc::new(recorder),
        nemesis_log,
        runtime,
        endpoints,
        generator: Arc::new(Generator::new(
            args.workload,
            args.keys as usize,
            args.ops_per_key
                .unwrap_or(if args.workload.transactional() {
                    64
                } else {
                    1_000_000
                }),
            keys_prefix,
        )),
    })
}

/// The clients' way to the system: its own protocol when the target names one (SQL, AMQP,
/// ZooKeeper's), or HTTP as its description says (with etcd's transactions when it has them).
fn connect_driver(
    sup: &Supervisor,
    runtime: &tokio::runtime::Runtime,
    workload: Workload,
    timeout: Duration,
) -> Result<Arc<dyn driver::Driver>, String> {
    if let Some((desc, nodes)) = sup.nodes.sql() {
        let connecting = sql_driver::SqlDriver::connect(
            &desc,
            &nodes,
            workload,
            timeout,
            Duration::from_secs(10),
        );
        let driver = runtime
            .block_on(connecting)
            .map_err(|e| format!("the database: {e}"))?;
        return Ok(Arc::new(driver));
    }
    if let Some((desc, nodes)) = sup.nodes.amqp() {
        return Ok(Arc::new(amqp_driver::AmqpDriver::new(
            &desc, &nodes, timeout,
        )));
    }
    if let Some((desc, nodes)) = sup.nodes.zookeeper() {
        return Ok(Arc::new(zk_driver::ZkDriver::new(&desc, &nodes, timeout)));
    }
    let http = sup
        .nodes
        .endpoints(timeout)
        .map_err(|e| format!("the target's HTTP client: {e}"))?;
    Ok(match http.desc.transactions {
        Some(targets::described::TxnProtocol::Etcd) => {
            Arc::new(etcd_driver::EtcdDriver::new(http, workload))
        }
        None => Arc::new(http),
    })
}

/// Main: clients as tokio tasks on one thread, the progress line on another, and the nemesis
/// worker on this one, until the time limit or an interruption.
fn main_phase(
    live: &mut Live,
    args: &RunArgs,
    steps: &[schedule::Step],
    rng: &mut Rng,
) -> MainOutcome {
    let time_limit = Duration::from_secs_f64(args.time_limit);
    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients: Vec<_> = (0..args.concurrency)
        .map(|w| {
            let client = Client {
                worker: w,
                workers: args.concurrency,
                generator: live.generator.clone(),
                recorder: live.recorder.clone(),
                stop: stop.clone(),
                endpoints: live.endpoints.clone(),
                interval: (args.rate > 0.0)
                    .then(|| Duration::from_secs_f64(args.concurrency as f64 / args.rate)),
                sticky: sticky(
                    w,
                    live.endpoints.len(),
                    args.sticky_clients,
                    args.moving_clients,
                ),
                hold: Duration::from_millis(args.lock_hold_ms),
            };
            live.runtime.spawn(client.run(rng.fork()))
        })
        .collect();
    let fault_now = Mutex::new(String::from("none"));
    let mut worker = NemesisWorker {
        fault_now: &fault_now,
        fault_counts: BTreeMap::new(),
        errors: Vec::new(),
        first_errors: BTreeMap::new(),
    };
    let Live {
        sup,
        recorder,
        nemesis_log,
        runtime,
        ..
    } = live;
    let interrupted = std::thread::scope(|scope| {
        let (recorder, fault_now, stop) = (&**recorder, &fault_now, &stop);
        scope.spawn(move || progress(recorder, fault_now, stop, time_limit));
        let clients_done = scope.spawn(|| {
            runtime.block_on(async {
                for c in clients {
                    let _ = c.await;
                }
            })
        });
        let mut interrupted = false;
        for step in steps {
            if !sleep_until(started + step.at) {
                interrupted = true;
                break;
            }
            worker.step(step, sup, recorder, nemesis_log);
        }
        if !interrupted && !sleep_until(started + time_limit) {
            interrupted = true;
        }
        stop.store(true, Ordering::SeqCst);
        let _ = clients_done.join();
        interrupted
    });
    MainOutcome {
        interrupted,
        elapsed: started.elapsed(),
        fault_counts: worker.fault_counts,
        nemesis_errors: worker.errors,
        first_errors: worker.first_errors,
    }
}

/// The run's flags as `config.json` keeps them: without the settings of other targets.
fn args_for(args: &RunArgs, target: &Target) -> Value {
    let mut v = serde_json::to_value(args).expect("flags serialize");
    if let Some(map) = v.as_object_mut() {
        for k in TARGET_FLAGS.iter().filter(|k| !target.flags.contains(k)) {
            map.remove(*k);
        }
    }
    v
}

/// How long a raftkv node waits on a request before answering that its outcome is unknown: two
/// thirds of the client's timeout, so the node's answer arrives before the client gives up.
pub(crate) fn node_request_timeout_ms(client_timeout_ms: u64) -> u64 {
    (client_timeout_ms * 2 / 3).max(10)
}

/// Sleeps until `t`; false if interrupted first.
fn sleep_until(t: Instant) -> bool {
    loop {
        if signals::interrupted() {
            return false;
        }
        let now = Instant::now();
        if now >= t {
            return true;
        }
        std::thread::sleep((t - now).min(Duration::from_millis(50)));
    }
}
