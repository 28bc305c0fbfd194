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

pub mod config;
pub mod driver;
pub mod etcd_driver;
pub mod hosts;
pub mod recorder;
pub mod remote;
pub mod results;
pub mod sql_driver;
pub mod store;
pub mod supervisor;
pub mod workload;

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

#[derive(Args, Debug, serde::Serialize)]
pub struct RunArgs {
    /// The system to test: raftkv (the bundled cluster), etcd (a local etcd 3.4 cluster from
    /// Debian's etcd-server), postgres (a PostgreSQL server from Debian's postgresql, started in
    /// the run's directory) or postgres:URL (one somebody else runs), or http:FILE (any HTTP
    /// key-value service, or with [sql] any database speaking PostgreSQL's protocol, described
    /// in a TOML file; see examples/targets/).
    #[arg(long, default_value = "raftkv", value_name = "TARGET")]
    pub target: String,
    /// With --target etcd: linearizable reads (etcd's default), or serializable ones, served
    /// from the contacted member's own state (may be stale).
    #[arg(long, default_value = "linearizable", value_parser = ["linearizable", "serializable"])]
    pub etcd_read: String,
    /// Number of nodes (raftkv, etcd; an http target has the nodes its file lists).
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=9))]
    pub nodes: u64,
    /// Seconds of load and faults (the main phase).
    #[arg(long, default_value_t = 30.0, value_name = "SECS")]
    pub time_limit: f64,
    /// Concurrent clients.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=1000))]
    pub concurrency: u64,
    /// Target operations per second over all clients; 0 runs them as fast as they go.
    #[arg(long, default_value_t = 500.0, value_name = "N")]
    pub rate: f64,
    /// Keys in use at once.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub keys: u64,
    /// Operations on a key before it is retired for a fresh one (micro-ops, for transactions).
    /// Written values are unique, so the checker decides a register key of any length exactly (a
    /// million operations on one key in about half a second; the default), and long keys find
    /// bugs short ones cannot. Transactions default to 64, as a list read returns the whole
    /// list: a key that lived all run would make every read, and the history, grow with it.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    pub ops_per_key: Option<u64>,
    /// The data type the clients exercise.
    #[arg(long, value_enum, default_value = "cas-register")]
    pub workload: Workload,
    /// Faults to inject, comma-separated (partition, pause, kill, clock, membership), or `none`.
    /// `membership` (raftkv only) removes nodes from the configuration one at a time and adds
    /// them back.
    #[arg(
        long,
        default_value = DEFAULT_FAULTS,
        value_name = "FAULTS"
    )]
    pub nemesis: String,
    /// Partition shapes to choose from, comma-separated: halves, random-halves, isolate-one,
    /// majorities-ring, bridge, isolate-leader, isolate-follower.
    #[arg(
        long,
        default_value = DEFAULT_SHAPES,
        value_name = "SHAPES"
    )]
    pub shapes: String,
    /// Seconds between fault changes (each fault and each quiet spell lasts about this long).
    #[arg(long, default_value_t = 5.0, value_name = "SECS")]
    pub nemesis_interval: f64,
    /// Seed for the workload and the fault schedule; random when not given.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Directory that keeps every run.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
    /// How partitions are made: a TCP proxy per link, or network namespaces with nftables (root).
    #[arg(long, value_enum, default_value = "proxy")]
    pub net: NetKind,
    /// Run node i on host i of this hosts file (TOML `[[hosts]]`: name, address, user, port,
    /// identity, ssh_options), through OpenSSH: raftkv (faultline's binary copied there), etcd
    /// (the host's own) or a target file's commands; partitions are nftables rules on the
    /// hosts, latency and loss tc netem there.
    #[arg(long, value_name = "FILE")]
    pub hosts: Option<PathBuf>,
    /// Delay every message between nodes by this many milliseconds (`--net proxy`; with
    /// `--hosts`, every packet a host sends, through tc netem).
    #[arg(long, default_value_t = 0, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=10_000))]
    pub net_latency: u64,
    /// With `--net proxy`: tear a connection between nodes down with this probability per
    /// message batch forwarded (loss on a byte stream), 0 to 1. With `--hosts`: the share of
    /// the packets each host sends that tc netem drops.
    #[arg(long, default_value_t = 0.0, value_name = "P")]
    pub net_loss: f64,
    /// Seconds of quiet after healing, before the final reads.
    #[arg(long, default_value_t = 3.0, value_name = "SECS")]
    pub recovery: f64,
    /// raftkv read mode: consistent, lease or stale.
    #[arg(long, default_value = "consistent", value_parser = ["consistent", "lease", "stale"])]
    pub read_mode: String,
    /// raftkv write acknowledgement: quorum or leader.
    #[arg(long, default_value = "quorum", value_parser = ["quorum", "leader"])]
    pub write_ack: String,
    /// raftkv's isolation level for transactions: serializable (one log entry each), snapshot,
    /// read-committed or read-uncommitted (run on the leader a micro-op at a time; see
    /// docs/transactions.md for the anomalies each lets through).
    #[arg(long, default_value = "serializable", value_parser = ["serializable", "snapshot", "read-committed", "read-uncommitted"])]
    pub isolation: String,
    /// With --target postgres: the isolation level every transaction asks for.
    #[arg(long, default_value = "serializable", value_parser = ["read-committed", "repeatable-read", "serializable"])]
    pub pg_isolation: String,
    /// raftkv unsafe knobs, comma-separated: no-fsync, no-election-restriction, commit-old-term,
    /// membership-without-noop, concurrent-membership.
    #[arg(long = "unsafe", value_name = "KNOBS")]
    pub unsafe_knobs: Option<String>,
    /// Keep every client on its own node even when that node cannot serve (as Jepsen's clients
    /// are bound to theirs); by default half are bound and half move on.
    #[arg(long)]
    pub sticky_clients: bool,
    /// Move every client on to the next node when its node cannot serve. By default half the
    /// clients (the even-numbered) stay bound to their node and half move on: bound clients
    /// keep talking to a deposed leader or a cut-off node, which is where stale reads and lost
    /// writes show; moving clients keep the load on whoever serves.
    #[arg(long, conflicts_with = "sticky_clients")]
    pub moving_clients: bool,
    /// Client timeout per request, in milliseconds (nodes give up at two thirds of it).
    #[arg(long, default_value_t = 1500, value_name = "MS", value_parser = clap::value_parser!(u64).range(50..=60_000))]
    pub timeout_ms: u64,
    /// Test name: the store's subdirectory (default: the target's name).
    #[arg(long)]
    pub name: Option<String>,
    /// The model whose verdict decides the exit code (0 holds, 1 violated, 2 unknown): for
    /// registers a consistency model — linearizable (default), sequential, pram,
    /// monotonic-reads, monotonic-writes, read-your-writes, writes-follow-reads or eventual; for
    /// transactions an isolation level — serializable (default), strict-serializable,
    /// snapshot-isolation, repeatable-read, read-committed, … Every model is checked and
    /// reported.
    #[arg(long, value_name = "MODEL")]
    pub require: Option<crate::commands::check::Required>,
    /// Print the results as one JSON object on stdout instead of text.
    #[arg(long)]
    pub json: bool,
    /// Also write the verdicts as JUnit XML to FILE: a test case per model and per failing key.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
    /// The nodes' data directories after the run (etcd's are hundreds of MB): kept always,
    /// only when the required model did not hold, or never. Histories, node logs and reports
    /// are always kept. With `--hosts`, the data directories are copied back unless `never`.
    #[arg(long, value_enum, default_value = "on-failure")]
    pub keep_data: KeepData,
    #[command(flatten)]
    pub ladder: crate::commands::check::LadderArgs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum KeepData {
    Always,
    OnFailure,
    Never,
}

impl KeepData {
    /// Whether a run that ended `standing` keeps its data.
    fn keeps(self, standing: checker::consistency::Standing) -> bool {
        match self {
            KeepData::Always => true,
            KeepData::OnFailure => standing != checker::consistency::Standing::Holds,
            KeepData::Never => false,
        }
    }
}

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

pub(crate) fn parse_faults(text: &str) -> Result<Vec<FaultKind>, String> {
    if text == "none" {
        return Ok(Vec::new());
    }
    let mut kinds = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let kind: FaultKind = part.parse().map_err(|e| format!("--nemesis: {e}"))?;
        if !kinds.contains(&kind) {
            kinds.push(kind);
        }
    }
    if kinds.is_empty() {
        return Err("--nemesis: name at least one fault, or `none`".into());
    }
    Ok(kinds)
}

/// The system under test, as `--target` chose it.
struct Target {
    /// `raftkv`, `etcd` or `http`.
    kind: &'static str,
    /// For people: `raftkv, 3 nodes`, `etcd 3.4.23, 3 members (serializable reads)`.
    description: String,
    /// The description file of an http target.
    file: Option<String>,
    /// The store's default subdirectory.
    test_name: String,
    system: System,
}

/// Reads `--target`, and fits the run to what the target allows: a described service's nodes
/// count, the network mechanism its partitions need, and the faults its description makes
/// possible (the others are dropped, each with a note saying why).
impl RunArgs {
    /// The consistency model a register run requires (linearizable unless `--require` names
    /// one).
    pub fn level(&self) -> checker::consistency::Level {
        crate::commands::check::Required::level(self.require)
    }
}

/// A transactional workload needs a target that can run transactions: raftkv, or a target
/// file with a `[txn]` request. Said before anything starts.
fn transactions_possible(args: &RunArgs, target: &Target) -> Result<(), String> {
    use crate::commands::check::Required;
    if !args.workload.transactional() {
        if let Some(Required::Isolation(i)) = args.require {
            return Err(format!("--require {i} is an isolation level, for transactional workloads (--workload list-append or rw-register); registers are judged by a consistency model (linearizable, sequential, …)"));
        }
        return Ok(());
    }
    Required::isolation(args.require)?;
    match &target.system {
        System::Raftkv { .. } => Ok(()),
        System::Described(d) if d.txn.is_some() || d.sql.is_some() || d.transactions.is_some() => {
            Ok(())
        }
        System::Described(_) => Err(format!(
            "--target: {} describes no transactions, and --workload {} needs them: a [txn] request (method, path, a body with {{ops}}, and value pointing at the completed micro-ops), transactions = \"etcd\" for etcd v3, or [sql] for a database",
            target.file.as_deref().unwrap_or("the file"),
            clap::ValueEnum::to_possible_value(&args.workload).map(|v| v.get_name().to_string()).unwrap_or_default()
        )),
    }
}

/// Takes `kind` out of the run, with a note saying why.
fn drop_fault(kinds: &mut Vec<FaultKind>, notes: &mut Vec<String>, kind: FaultKind, why: &str) {
    if kinds.contains(&kind) {
        kinds.retain(|k| *k != kind);
        notes.push(format!(
            "{} faults unavailable: {why}; running without them",
            kind.name()
        ));
    }
}

/// PostgreSQL: one server faultline starts (`postgres`), or one at a URL (`postgres:URL`),
/// at `--pg-isolation`.
fn postgres_target(
    args: &mut RunArgs,
    kinds: &mut Vec<FaultKind>,
    notes: &mut Vec<String>,
    on: Option<&OnHosts>,
) -> Result<Target, String> {
    if on.is_some() {
        return Err("--target postgres runs its server on this machine; --hosts places raftkv, etcd and target files' nodes".into());
    }
    let isolation = targets::sql::Isolation::parse(&args.pg_isolation)?;
    let (desc, file) = match args.target.strip_prefix("postgres:") {
        Some(url) => {
            let d = targets::postgres::at(url, isolation).map_err(|e| format!("--target: {e}"))?;
            let why = "faultline did not start this server (postgres:URL), so it cannot restart or signal it";
            for kind in [FaultKind::Kill, FaultKind::Pause] {
                drop_fault(kinds, notes, kind, why);
            }
            (d, Some(url.to_string()))
        }
        None => {
            let bin = targets::postgres::binaries()?;
            let user = targets::postgres::server_user()?;
            if let Some(user) = &user {
                reachable_by_others(&args.store, user)?;
            }
            let port = targets::raftkv::cluster::free_port().map_err(|e| format!("ports: {e}"))?;
            (
                targets::postgres::described(&bin, port, user.as_deref(), isolation),
                None,
            )
        }
    };
    args.nodes = 1;
    drop_fault(kinds, notes, FaultKind::Partition, "PostgreSQL runs as one server here, with no peers to cut it off from (clients cut off from it are what pause shows)");
    drop_fault(kinds, notes, FaultKind::Clock, "one PostgreSQL server orders its transactions without its wall clock, so a skew has nothing to disagree with");
    drop_fault(
        kinds,
        notes,
        FaultKind::Membership,
        "one PostgreSQL server has no membership to change",
    );
    Ok(Target {
        kind: "postgres",
        description: desc.name.clone(),
        file,
        test_name: "postgres".into(),
        system: System::Described(Box::new(desc)),
    })
}

/// The server runs as `user`, who must reach the run's directory under `store`: every
/// existing directory on the way must be searchable by others.
fn reachable_by_others(store: &std::path::Path, user: &str) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    let store = std::path::absolute(store).map_err(|e| format!("--store: {e}"))?;
    for dir in store.ancestors().filter(|d| d.is_dir()) {
        let mode = std::fs::metadata(dir)
            .map(|m| m.permissions().mode())
            .unwrap_or(0);
        if mode & 0o001 == 0 {
            return Err(format!(
                "PostgreSQL will not run as root, so faultline runs it as {user}, who cannot reach the store {}: {} is not searchable by other users (chmod o+x {}, or give --store a directory {user} can reach, such as /var/tmp/faultline)",
                store.display(),
                dir.display(),
                dir.display()
            ));
        }
    }
    Ok(())
}

fn choose_target(
    args: &mut RunArgs,
    kinds: &mut Vec<FaultKind>,
    notes: &mut Vec<String>,
    on: Option<&OnHosts>,
) -> Result<Target, String> {
    if let Some(on) = on {
        let lacking: Vec<&str> = on
            .hosts
            .iter()
            .zip(&on.facts)
            .filter(|(_, f)| f.libfaketime.is_none())
            .map(|(h, _)| h.name.as_str())
            .collect();
        if !lacking.is_empty() {
            let why = format!(
                "libfaketime is not installed on {} (apt-get install libfaketime there)",
                lacking.join(", ")
            );
            drop_fault(kinds, notes, FaultKind::Clock, &why);
        }
    }
    match args.target.as_str() {
        "postgres" => postgres_target(args, kinds, notes, on),
        t if t.starts_with("postgres:") => postgres_target(args, kinds, notes, on),
        "raftkv" => Ok(Target {
            kind: "raftkv",
            description: plural(args.nodes as usize, "raftkv node"),
            file: None,
            test_name: "raftkv".into(),
            system: System::Raftkv {
                node_flags: node_flags(args),
            },
        }),
        "etcd" => {
            let (etcds, ports) = match on {
                // Each host's own etcd, on the standard ports of the host's address.
                Some(on) => {
                    let etcds: Vec<PathBuf> = on
                        .facts
                        .iter()
                        .map(|f| PathBuf::from(f.etcd.clone().unwrap_or_default()))
                        .collect();
                    (etcds, vec![targets::etcd::Ports::STANDARD; on.hosts.len()])
                }
                None => local_etcd(args, kinds, notes)?,
            };
            let desc = targets::etcd::described(&etcds, &ports, etcd_read(args));
            drop_fault(
                kinds,
                notes,
                FaultKind::Clock,
                "etcd reports no wall clock to confirm a skew against",
            );
            Ok(Target {
                kind: "etcd",
                description: match on {
                    Some(on) => format!("{} on {}", desc.name, plural(on.hosts.len(), "host")),
                    None => desc.name.clone(),
                },
                file: None,
                test_name: "etcd".into(),
                system: System::Described(Box::new(desc)),
            })
        }
        other => {
            let Some(file) = other.strip_prefix("http:") else {
                return Err(format!(
                    "--target {other:?}: expected raftkv, etcd, postgres, postgres:URL or http:FILE"
                ));
            };
            let desc = targets::described::Described::load(std::path::Path::new(file))
                .map_err(|e| format!("--target: {e}"))?;
            if desc.cas.is_none() && desc.sql.is_none() && args.workload == Workload::CasRegister {
                return Err(format!("--target: {file} describes no [cas] request; run with --workload register, or describe [cas]"));
            }
            args.nodes = desc.nodes.len() as u64;
            for (node, port, low, high) in desc.ports_in_ephemeral_range() {
                notes.push(format!(
                    "{node}'s port {port} lies in this machine's ephemeral range ({low}–{high}), where every outgoing connection (faultline's own included) takes its local port: a restart may find it taken; a port below {low} avoids that"
                ));
            }
            let launches = desc.launches();
            if !launches {
                drop_fault(kinds, notes, FaultKind::Partition, "the target file gives no start command for every node, so faultline cannot place its nodes in namespaces");
                drop_fault(kinds, notes, FaultKind::Kill, "the target file gives no start command for every node, so a killed node could not be restarted");
                drop_fault(kinds, notes, FaultKind::Clock, "the target file gives no start command for every node, so faultline cannot start them under libfaketime");
            } else if args.net == NetKind::Proxy && on.is_none() {
                drop_fault(kinds, notes, FaultKind::Partition, "an http target's nodes talk to each other directly; run with --net netns to partition them");
            }
            if desc.members.is_none() {
                drop_fault(
                    kinds,
                    notes,
                    FaultKind::Membership,
                    "the target file has no [members] requests (list, add, remove)",
                );
            }
            if desc.clock.is_none() {
                drop_fault(
                    kinds,
                    notes,
                    FaultKind::Clock,
                    "the target file has no [clock] probe to confirm a skew against",
                );
            }
            if !desc
                .nodes
                .iter()
                .all(|n| n.start.is_some() || n.pid.is_some())
            {
                drop_fault(
                    kinds,
                    notes,
                    FaultKind::Pause,
                    "the target file gives neither a start nor a pid command for every node",
                );
            }
            let stem = std::path::Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "http".into());
            Ok(Target {
                kind: "http",
                description: format!(
                    "{} ({}, {file})",
                    desc.name,
                    plural(desc.nodes.len(), "node")
                ),
                file: Some(file.to_string()),
                test_name: format!("http-{stem}"),
                system: System::Described(Box::new(desc)),
            })
        }
    }
}

/// A local etcd: the binary, and ports on loopback (or, in namespaces, the standard ones);
/// partitions move the run into namespaces.
fn local_etcd(
    args: &mut RunArgs,
    kinds: &[FaultKind],
    notes: &mut Vec<String>,
) -> Result<(Vec<PathBuf>, Vec<targets::etcd::Ports>), String> {
    let etcd = targets::etcd::binary()?;
    if kinds.contains(&FaultKind::Partition) && args.net == NetKind::Proxy {
        // etcd's peers dial each other at the addresses they advertise: no per-link
        // proxy can sit between them, but namespaces can.
        args.net = NetKind::Netns;
        notes.push("etcd partitions need network namespaces: using --net netns".into());
    }
    let ports: Vec<targets::etcd::Ports> = match args.net {
        NetKind::Netns => vec![targets::etcd::Ports::STANDARD; args.nodes as usize],
        NetKind::Proxy => (0..args.nodes)
            .map(|_| -> Result<_, String> {
                let port =
                    || targets::raftkv::cluster::free_port().map_err(|e| format!("ports: {e}"));
                Ok(targets::etcd::Ports {
                    client: port()?,
                    peer: port()?,
                })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok((vec![etcd; ports.len()], ports))
}

fn etcd_read(args: &RunArgs) -> targets::etcd::ReadMode {
    match args.etcd_read.as_str() {
        "serializable" => targets::etcd::ReadMode::Serializable,
        _ => targets::etcd::ReadMode::Linearizable,
    }
}

/// Reads the hosts file and asks the hosts what the run needs of them (one connection each,
/// closed again): faultline's architecture for raftkv, etcd for etcd, the programs an http
/// target's start commands run, `tc` for latency and loss. One clear error for the first host
/// that cannot be reached or lacks what it needs, before anything is made.
fn on_hosts(args: &RunArgs, file: &std::path::Path) -> Result<OnHosts, String> {
    let hosts = hosts::load(file)?;
    let (nodes, programs, runs_faultline) = match args.target.strip_prefix("http:") {
        Some(f) => {
            let desc = targets::described::Described::load(std::path::Path::new(f))
                .map_err(|e| format!("--target: {e}"))?;
            let programs = desc
                .nodes
                .iter()
                .map(|n| {
                    n.start
                        .as_deref()
                        .and_then(hosts::program_of)
                        .into_iter()
                        .collect()
                })
                .collect();
            (desc.nodes.len(), programs, desc.runs_faultline())
        }
        None => (args.nodes as usize, Vec::new(), args.target == "raftkv"),
    };
    if hosts.len() < nodes {
        return Err(format!(
            "--hosts {}: {} hosts for {nodes} nodes (node i runs on host i)",
            file.display(),
            hosts.len()
        ));
    }
    let hosts: Vec<hosts::Host> = hosts.into_iter().take(nodes).collect();
    let facts = hosts::probe(&hosts, &programs)?;
    fit_hosts(args, &hosts, &facts, runs_faultline)?;
    Ok(OnHosts { hosts, facts })
}

/// Whether each host has what the run needs of it (see [`on_hosts`]); the first that does not
/// is the error.
fn fit_hosts(
    args: &RunArgs,
    hosts: &[hosts::Host],
    facts: &[hosts::Facts],
    runs_faultline: bool,
) -> Result<(), String> {
    for (i, (h, f)) in hosts.iter().zip(facts).enumerate() {
        let at = format!("{} ({})", h.name, h.address);
        let base = h.base_dir();
        let fix = "give the host a `dir` in the hosts file";
        match f.dir {
            hosts::BaseDir::Ok => {}
            hosts::BaseDir::Noexec if !runs_faultline => {}
            hosts::BaseDir::Noexec => {
                return Err(format!(
                    "{at}: programs cannot run from {base} (mounted noexec?), and faultline's binary is copied there: {fix}"
                ))
            }
            hosts::BaseDir::Missing => {
                return Err(format!("{at}: {base} does not exist there: {fix}"))
            }
            hosts::BaseDir::Unwritable => {
                return Err(format!("{at}: cannot write in {base} there: {fix}"))
            }
        }
        if let Some(p) = f.missing.first() {
            return Err(format!(
                "{at}: {p} is not installed there, and n{}'s start command runs it",
                i + 1
            ));
        }
        if runs_faultline && f.arch != std::env::consts::ARCH {
            return Err(format!(
                "{at} is {}, this machine {}: faultline's binary cannot run there",
                f.arch,
                std::env::consts::ARCH
            ));
        }
        if args.target == "etcd" && f.etcd.is_none() {
            return Err(format!(
                "{at}: etcd is not installed there (apt-get install etcd-server on the host)"
            ));
        }
        if (args.net_latency > 0 || args.net_loss > 0.0) && !f.tc {
            return Err(format!(
                "{at}: --net-latency and --net-loss need tc netem there, and tc is not installed (apt-get install iproute2 on the host)"
            ));
        }
    }
    Ok(())
}

/// "1 node", "3 nodes".
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn positive(name: &str, v: f64, zero_ok: bool) -> Result<(), String> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
        Ok(())
    } else {
        Err(format!("--{name} must be a positive number, found {v}"))
    }
}

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
    let config = config::RunConfig::new(
        args_for(&p.args, p.target.kind),
        config::TargetInfo {
            kind: p.target.kind.to_string(),
            description: p.target.description.clone(),
            file: p.target.file.clone(),
        },
        p.seed,
        p.kinds.iter().map(|k| k.name().to_string()).collect(),
        serde_json::to_value(&steps).expect("the schedule serializes"),
        node_flags(&p.args),
        p.notes.clone(),
        p.faketime.as_ref().map(|f| f.display().to_string()),
    );
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
    let (history, judged) = match check(&run_dir, &args) {
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
        strongest: match &judged {
            Judged::Consistency(ladder) => ladder.strongest.clone(),
            Judged::Isolation { .. } => Vec::new(),
        },
        isolation: match &judged {
            Judged::Consistency(_) => None,
            Judged::Isolation { report, require } => Some(json!({
                "require": require,
                "verdict": report.standing(*require),
                "strongest": report.strongest,
                "report": report,
            })),
        },
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
        ladder: match &judged {
            Judged::Consistency(ladder) => {
                serde_json::to_value(ladder).expect("the ladder serializes")
            }
            Judged::Isolation { .. } => Value::Null,
        },
    };
    finish(&run_dir, &args, &config, &results, &history, &judged)
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

/// `--shapes`, each once, at least one.
pub(crate) fn parse_shapes(text: &str) -> Result<Vec<nemesis::Shape>, String> {
    let mut shapes = Vec::new();
    for part in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match part.parse::<nemesis::Shape>() {
            Ok(s) if !shapes.contains(&s) => shapes.push(s),
            Ok(_) => {}
            Err(e) => return Err(format!("--shapes: {e}")),
        }
    }
    if shapes.is_empty() {
        return Err("--shapes: name at least one partition shape".into());
    }
    Ok(shapes)
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
    if let Err(e) = sup.wait_ready(Duration::from_secs(20)) {
        if e.contains(" exited while starting; ") {
            return Err(format!("the cluster did not start: {e}"));
        }
        let logs = (0..n)
            .map(|i| sup.log_path(i).display().to_string())
            .collect::<Vec<_>>();
        return Err(format!(
            "the cluster was not ready within 20 s ({e}); see the node logs: {}",
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
    let endpoints: Arc<dyn driver::Driver> = match sup.nodes.sql() {
        Some((desc, nodes)) => Arc::new(
            runtime
                .block_on(sql_driver::SqlDriver::connect(
                    &desc,
                    &nodes,
                    args.workload,
                    timeout,
                    Duration::from_secs(10),
                ))
                .map_err(|e| format!("the database: {e}"))?,
        ),
        None => {
            let http = sup
                .nodes
                .endpoints(timeout)
                .map_err(|e| format!("the target's HTTP client: {e}"))?;
            match http.desc.transactions {
                Some(targets::described::TxnProtocol::Etcd) => {
                    Arc::new(etcd_driver::EtcdDriver::new(http, args.workload))
                }
                None => Arc::new(http),
            }
        }
    };
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

/// The nemesis's side of the main phase: applies each step, records it in the history and in
/// `nemesis.jsonl`, and keeps what the progress line and the results say of the faults.
struct NemesisWorker<'a> {
    /// What the progress line shows as in force.
    fault_now: &'a Mutex<String>,
    fault_counts: BTreeMap<&'static str, u64>,
    errors: Vec<String>,
    first_errors: BTreeMap<&'static str, String>,
}

impl NemesisWorker<'_> {
    fn step(
        &mut self,
        step: &schedule::Step,
        sup: &mut Supervisor,
        recorder: &Recorder,
        log: &mut std::fs::File,
    ) {
        let (f, plan) = match &step.action {
            Action::Start { plan } => (format!("start-{}", plan.kind()), Some(plan)),
            Action::Stop => ("stop".to_string(), None),
        };
        let planned = plan.map(|p| p.to_string()).unwrap_or_else(|| "heal".into());
        recorder.nemesis("invoke", &f, json!(planned), Map::new());
        let result = match plan {
            Some(p) => sup.nemesis.start(p, &mut sup.nodes).map(Some),
            None => sup.nemesis.stop(&mut sup.nodes),
        };
        let time = recorder.elapsed().as_nanos() as u64;
        let action = if plan.is_some() { "start" } else { "stop" };
        match result {
            Ok(Some(applied)) => {
                self.in_force(plan.is_some(), &applied);
                let nodes: Vec<String> = applied
                    .nodes
                    .iter()
                    .map(|i| format!("n{}", i + 1))
                    .collect();
                let mut extra = Map::new();
                extra.insert("nodes".into(), json!(nodes));
                recorder.nemesis("info", &f, json!(applied.description), extra);
                let line = json!({
                    "time": time,
                    "action": action,
                    "pattern": step.pattern,
                    "fault": applied.kind.name(),
                    "plan": plan,
                    "applied": applied.description,
                    "nodes": nodes,
                    "detail": applied.detail,
                });
                let _ = writeln!(log, "{line}");
            }
            Ok(None) => recorder.nemesis("info", &f, json!("nothing to heal"), Map::new()),
            Err(e) => {
                let mut extra = Map::new();
                extra.insert("error".into(), json!(e));
                recorder.nemesis("info", &f, json!("not applied"), extra);
                let line = json!({"time": time, "action": action, "pattern": step.pattern, "plan": plan, "error": e});
                let _ = writeln!(log, "{line}");
                eprintln!("\nfaultline: nemesis: {e}");
                if let Some(p) = plan {
                    self.first_errors
                        .entry(p.kind().name())
                        .or_insert_with(|| e.clone());
                }
                self.errors.push(e);
            }
        }
        if let Some((i, status)) = sup.crashed() {
            eprintln!(
                "\nfaultline: n{} exited on its own ({status}); see {}",
                i + 1,
                sup.log_path(i).display()
            );
        }
    }

    /// Counts a started fault and says what is in force now.
    fn in_force(&mut self, started: bool, applied: &nemesis::Applied) {
        let mut now = self.fault_now.lock().expect("fault lock");
        if !started {
            *now = "none".into();
            return;
        }
        *self.fault_counts.entry(applied.kind.name()).or_default() += 1;
        *now = match now.as_str() {
            "none" => applied.description.clone(),
            // Two faults in force together.
            before => format!("{before} + {}", applied.description),
        };
    }
}

/// Heal: every fault undone (killed nodes restarted unless interrupted), recorded.
fn heal(live: &mut Live, interrupted: bool) {
    let Live {
        sup,
        recorder,
        nemesis_log,
        ..
    } = live;
    recorder.nemesis("invoke", "heal", json!("heal everything"), Map::new());
    let errors = sup.nemesis.heal_all(&mut sup.nodes, !interrupted);
    let said = if errors.is_empty() {
        "healed".to_string()
    } else {
        errors.join("; ")
    };
    recorder.nemesis("info", "heal", json!(said), Map::new());
    for e in &errors {
        eprintln!("faultline: while healing: {e}");
    }
    let line = json!({"time": recorder.elapsed().as_nanos() as u64, "action": "heal-all", "errors": errors});
    let _ = writeln!(nemesis_log, "{line}");
}

/// Recovery and final reads: a quiet spell until the nodes agree, then every key read from
/// every node. Whether they converged.
fn recover_and_read(live: &Live, args: &RunArgs) -> bool {
    let mut converged = recover(&live.sup, Duration::from_secs_f64(args.recovery));
    if !converged {
        eprintln!("faultline: the nodes did not agree on an applied index within the recovery time; final reads go ahead");
    }
    let keys = live.generator.keys_used();
    // Systems with no applied index to compare: wait until their copies agree, or a member that
    // rejoined a moment ago and is still catching up looks stale or diverged.
    if live.sup.nodes.statuses().is_none() {
        let agreed = live.runtime.block_on(agree_by_reads(
            &*live.endpoints,
            &keys,
            Duration::from_secs(10),
        ));
        if !agreed {
            eprintln!(
                "faultline: the nodes' own copies did not agree within 10 s; final reads go ahead"
            );
        }
        converged &= agreed;
    }
    live.runtime.block_on(final_reads(
        &live.recorder,
        &keys,
        &*live.endpoints,
        args.concurrency,
        args.workload.transactional(),
    ));
    converged
}

/// Reads every key from every node's own copy — probes, not recorded — until all nodes give the
/// same values twice in a row, for at most `patience`. True if they agreed.
async fn agree_by_reads(
    endpoints: &dyn driver::Driver,
    keys: &[String],
    patience: Duration,
) -> bool {
    let deadline = Instant::now() + patience;
    let mut last = None;
    loop {
        let mut seen: Vec<Vec<Option<Value>>> = Vec::new();
        for key in keys {
            let mut copies = Vec::new();
            for i in 0..endpoints.len() {
                let c = endpoints.read_local(key, i).await;
                copies.push((c.outcome == Outcome::Ok).then_some(c.value));
            }
            seen.push(copies);
        }
        let agreed = seen
            .iter()
            .all(|copies| copies.iter().all(|c| c.is_some() && *c == copies[0]));
        if agreed && last.as_ref() == Some(&seen) {
            return true;
        }
        last = Some(seen);
        if Instant::now() >= deadline || signals::interrupted() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// What a run's history was judged by: the consistency ladder (registers), or the isolation
/// ladder (transactions) with the level required.
pub(crate) enum Judged {
    Consistency(checker::consistency::Ladder),
    Isolation {
        report: checker::txn::Report,
        require: checker::txn::Isolation,
    },
}

impl Judged {
    /// The standing of the model the run requires.
    pub(crate) fn standing(
        &self,
        require: checker::consistency::Level,
    ) -> checker::consistency::Standing {
        match self {
            Judged::Consistency(ladder) => ladder.standing(require),
            Judged::Isolation { report, require } => report.standing(*require),
        }
    }

    /// The required model's name.
    pub(crate) fn required(&self, require: checker::consistency::Level) -> String {
        match self {
            Judged::Consistency(_) => require.to_string(),
            Judged::Isolation { require, .. } => require.to_string(),
        }
    }

    /// The ladder as people read it.
    pub(crate) fn render(&self) -> String {
        match self {
            Judged::Consistency(ladder) => checker::render::ladder(ladder),
            Judged::Isolation { report, .. } => {
                checker::txn::render(report, checker::render::ANOMALIES_SHOWN)
            }
        }
    }

    /// The JUnit suite of the verdicts.
    fn junit(&self) -> String {
        match self {
            Judged::Consistency(ladder) => crate::report::junit::suite(ladder),
            Judged::Isolation { report, .. } => crate::report::junit::isolation_suite(report),
        }
    }
}

/// Check: the history as stored, read back and put through the whole ladder — the consistency
/// ladder, or for a transactional workload the isolation ladder.
fn check(run_dir: &std::path::Path, args: &RunArgs) -> Result<(checker::History, Judged), String> {
    let path = run_dir.join("history.jsonl");
    let history = checker::import::read_file(&path, checker::import::Format::Jsonl)
        .map_err(|e| format!("the recorded history does not read back: {e}"))?;
    let Some(model) = args.workload.model() else {
        let report = checker::txn::check(&history)
            .map_err(|e| format!("the recorded history does not check: {e}"))?;
        let require = crate::commands::check::Required::isolation(args.require)?;
        return Ok((history, Judged::Isolation { report, require }));
    };
    let ladder = checker::consistency::assess(
        &history,
        model,
        &checker::consistency::Level::ALL,
        // Every key: run histories are checked in milliseconds, and each failing key gets a
        // witness.
        &args.ladder.apply(checker::Options {
            all_failures: true,
            ..Default::default()
        }),
    )
    .map_err(|e| format!("the recorded history does not check: {e}"))?;
    Ok((history, Judged::Consistency(ladder)))
}

/// The nodes' data directories, kept or dropped as `--keep-data` says; whether kept.
fn keep_or_drop_data(
    run_dir: &std::path::Path,
    keep: KeepData,
    standing: checker::consistency::Standing,
) -> bool {
    if keep.keeps(standing) {
        return true;
    }
    match store::drop_data(&run_dir.join("nodes")) {
        Ok(freed) => eprintln!(
            "faultline: dropped the nodes' data directories ({:.1} MB; --keep-data {})",
            freed as f64 / 1e6,
            if keep == KeepData::Never {
                "never"
            } else {
                "on-failure, and the run holds"
            }
        ),
        Err(e) => eprintln!("faultline: could not drop the nodes' data directories: {e}"),
    }
    false
}

/// The results: `results.json`, the report, JUnit, the summary; the exit code.
fn finish(
    run_dir: &std::path::Path,
    args: &RunArgs,
    config: &config::RunConfig,
    results: &results::RunResults,
    history: &checker::History,
    judged: &Judged,
) -> u8 {
    let _ = std::fs::write(
        run_dir.join("results.json"),
        serde_json::to_vec_pretty(results).expect("results serialize"),
    );
    // The report, from what is in memory: the history, the config and the results.
    let report =
        crate::report::run_page(run_dir, history, Some(config), Some(results)).and_then(|html| {
            crate::report::write_atomically(&run_dir.join("report.html"), html.as_bytes())
        });
    if let Err(e) = report {
        eprintln!("faultline: no report.html: {e}");
    }
    if let Some(path) = &args.junit {
        use crate::report::junit;
        let xml = junit::document(&[
            judged.junit(),
            junit::faults_suite(&config.faults, &results.unapplied),
        ]);
        if let Err(e) = crate::report::write_atomically(path, xml.as_bytes()) {
            eprintln!("faultline: no JUnit file: {e}");
        }
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string(results).expect("results serialize")
        );
    } else {
        print_summary(results, judged, args.level());
    }
    if results.interrupted {
        eprintln!("faultline: interrupted; everything was healed and the partial history checked");
        return EXIT_INTERRUPTED;
    }
    results.verdict.exit_code() as u8
}

/// Outcome counts, throughput and latency of the main phase's client operations, derived from
/// the history as recorded (so `results.json` agrees with any re-reading of it).
/// The run's flags as `config.json` keeps them: without the settings of other targets.
fn args_for(args: &RunArgs, kind: &str) -> Value {
    let mut v = serde_json::to_value(args).expect("flags serialize");
    let foreign: &[&str] = match kind {
        "raftkv" => &["etcd_read"],
        "etcd" => &["read_mode", "write_ack", "isolation", "unsafe_knobs"],
        _ => &[
            "etcd_read",
            "read_mode",
            "write_ack",
            "isolation",
            "unsafe_knobs",
        ],
    };
    if let Some(map) = v.as_object_mut() {
        for k in foreign {
            map.remove(*k);
        }
    }
    v
}

fn figures(history: &checker::History, elapsed: Duration) -> results::MainPhase {
    let main: Vec<&checker::Operation> = history.ops.iter().filter(|o| o.phase.is_none()).collect();
    let count = |outcome| main.iter().filter(|o| o.outcome == outcome).count();
    let mut latencies: Vec<u64> = main
        .iter()
        .filter(|o| o.outcome == checker::Outcome::Ok)
        .filter_map(|o| Some(o.complete_time? - o.invoke_time))
        .collect();
    latencies.sort_unstable();
    let quantile = |q: f64| {
        let i = ((latencies.len().max(1) - 1) as f64 * q).round() as usize;
        latencies.get(i).map(|ns| *ns as f64 / 1e6)
    };
    results::MainPhase {
        ops: main.len(),
        ok: count(checker::Outcome::Ok),
        fail: count(checker::Outcome::Fail),
        info: count(checker::Outcome::Info),
        throughput: main.len() as f64 / elapsed.as_secs_f64(),
        latency_ms: results::Latency {
            p50: quantile(0.5),
            p99: quantile(0.99),
        },
    }
}

/// Stretches of the main phase longer than `longer_than` in which nothing succeeded — on the
/// whole cluster (`node` null), or on one node that served operations at other times and was
/// asked during the stretch but answered nothing (a follower that redirects every request to
/// the leader serves nothing, and is not out) — in seconds since the history began. A run whose
/// target stopped answering says so even when the verdict holds.
fn outages(history: &checker::History, longer_than: Duration) -> Vec<results::Outage> {
    let Some((start, end)) = history.span() else {
        return Vec::new();
    };
    let main: Vec<&checker::Operation> = history.ops.iter().filter(|o| o.phase.is_none()).collect();
    let Some(main_end) = main
        .iter()
        .map(|o| o.complete_time.unwrap_or(o.invoke_time))
        .max()
    else {
        return Vec::new();
    };
    let end = main_end.min(end);
    // The node a client went through: the one it asked first (`via`, when that node redirected
    // it to another), else the one that answered. A follower that redirects is up.
    fn through(o: &checker::Operation) -> Option<&str> {
        o.extra
            .get("via")
            .and_then(|v| v.as_str())
            .or(o.node.as_deref())
    }
    let ok_times = |node: Option<&str>| -> Vec<u64> {
        let mut t: Vec<u64> = main
            .iter()
            .filter(|o| o.outcome == checker::Outcome::Ok)
            .filter(|o| node.is_none() || through(o) == node)
            .filter_map(|o| o.complete_time)
            .collect();
        t.sort_unstable();
        t
    };
    // Only nodes that answered at some time: one that never does (a follower that refuses
    // rather than redirects) is how the service works, not an outage.
    let mut nodes: Vec<&str> = main
        .iter()
        .filter(|o| o.outcome == checker::Outcome::Ok)
        .filter_map(|o| through(o))
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    // What the operations through `node` (any node: None) that got no answer between `from`
    // and `to` ran into, in words; None when there were none.
    let unanswered = |node: Option<&str>, from: u64, to: u64| {
        let failed: Vec<&&checker::Operation> = main
            .iter()
            .filter(|o| o.outcome != checker::Outcome::Ok)
            .filter(|o| node.is_none() || through(o) == node)
            .filter(|o| (from..=to).contains(&o.invoke_time))
            .collect();
        (!failed.is_empty()).then(|| causes(&failed))
    };
    let secs = |t: u64| ((t - start) as f64 / 1e9 * 10.0).round() / 10.0;
    let faults = fault_spans(history);
    let mut found = Vec::new();
    for node in std::iter::once(None).chain(nodes.iter().map(|n| Some(*n))) {
        let times = ok_times(node);
        let mut edges = vec![start];
        edges.extend(&times);
        edges.push(end);
        for w in edges.windows(2) {
            let long = w[1].saturating_sub(w[0]) as u128 > longer_than.as_nanos();
            if !long {
                continue;
            }
            let why = unanswered(node, w[0], w[1]);
            if node.is_none() || why.is_some() {
                found.push(results::Outage {
                    node: node.map(str::to_string),
                    from_s: secs(w[0]),
                    to_s: secs(w[1]),
                    why,
                    during: faults_between(&faults, w[0], w[1]),
                });
            }
        }
    }
    found
}

/// The faults the nemesis applied, each as (applied at, undone at, what it did): from the
/// history's own nemesis events (`start-…` with what was applied, then the next `stop` or
/// heal).
fn fault_spans(history: &checker::History) -> Vec<(u64, u64, String)> {
    let mut spans: Vec<(u64, u64, String)> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    for e in history.nemesis_events() {
        if e.kind == checker::history::EventType::Invoke {
            continue;
        }
        if e.f.starts_with("start-") && e.error.is_none() && e.extra.get("error").is_none() {
            let said = e.value.as_str().unwrap_or(&e.f).to_string();
            open.push(spans.len());
            spans.push((e.time, u64::MAX, said));
        } else if e.f == "stop" || e.f == "heal" {
            for i in open.drain(..) {
                spans[i].1 = e.time;
            }
        }
    }
    spans
}

/// The faults in force at some moment between `from` and `to`, in words; None when none was.
fn faults_between(spans: &[(u64, u64, String)], from: u64, to: u64) -> Option<String> {
    let during: Vec<String> = spans
        .iter()
        .filter(|(a, b, _)| *a <= to && *b >= from)
        .map(|(_, _, said)| said.clone())
        .collect();
    (!during.is_empty()).then(|| during.join("; "))
}

/// What unanswered operations ran into, most common first: `unreachable 41, timed out 3,
/// refused 2` (refused: a definite no, e.g. no leader known; timed out: sent and no complete
/// answer; unreachable: never connected).
fn causes(failed: &[&&checker::Operation]) -> String {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in failed {
        let e = o.error.as_deref().unwrap_or("");
        let cause = if e.starts_with("could not connect") {
            "unreachable"
        } else if e.starts_with("no complete reply") || e.contains("timed out") {
            "timed out"
        } else if o.outcome == checker::Outcome::Info {
            "unsure"
        } else {
            "refused"
        };
        *counts.entry(cause).or_default() += 1;
    }
    let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
    counts.sort_by_key(|(c, n)| (std::cmp::Reverse(*n), *c));
    counts
        .iter()
        .map(|(c, n)| format!("{c} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// How long a raftkv node waits on a request before answering that its outcome is unknown: two
/// thirds of the client's timeout, so the node's answer arrives before the client gives up.
pub(crate) fn node_request_timeout_ms(client_timeout_ms: u64) -> u64 {
    (client_timeout_ms * 2 / 3).max(10)
}

fn node_flags(args: &RunArgs) -> Vec<String> {
    let mut flags = vec![
        "--read-mode".to_string(),
        args.read_mode.clone(),
        "--write-ack".into(),
        args.write_ack.clone(),
        "--isolation".into(),
        args.isolation.clone(),
        "--request-timeout-ms".into(),
        node_request_timeout_ms(args.timeout_ms).to_string(),
    ];
    if let Some(k) = &args.unsafe_knobs {
        flags.push("--unsafe".into());
        flags.push(k.clone());
    }
    flags
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

/// One client: performs operations until told to stop. An indeterminate operation ends the
/// process (it may still take effect), and the client goes on as a new process, so no process
/// ever has two operations in flight.
struct Client {
    worker: u64,
    workers: u64,
    generator: Arc<Generator>,
    recorder: Arc<Recorder>,
    stop: Arc<AtomicBool>,
    endpoints: Arc<dyn driver::Driver>,
    /// The pause between operations (varied ±50%); none for a closed loop.
    interval: Option<Duration>,
    sticky: bool,
}

/// Who a client is and where it sends its next operation: its process id (a new one after an
/// indeterminate operation) and its node. The simulator's clients use the same rules.
pub(crate) struct Seat {
    pub process: u64,
    pub home: usize,
    workers: u64,
    nodes: usize,
    sticky: bool,
}

impl Seat {
    /// Worker `worker` of `workers`, starting at node `worker % nodes`; a sticky one stays there.
    pub fn new(worker: u64, workers: u64, nodes: usize, sticky: bool) -> Seat {
        Seat {
            process: worker,
            home: worker as usize % nodes,
            workers,
            nodes,
            sticky,
        }
    }

    /// After an operation ended as `c`.
    pub fn after(&mut self, c: &driver::Completion) {
        if c.outcome == Outcome::Info {
            self.process += self.workers;
        }
        // A node that could not serve (unreachable, no leader known, unsure of the outcome)
        // sends this client to the next node; a cas that simply did not match does not.
        if c.unavailable && !self.sticky {
            self.home = (self.home + 1) % self.nodes;
        }
    }
}

/// Whether worker `w` (which starts at node `w % nodes`) stays with its node: all with
/// `--sticky-clients`, none with `--moving-clients`, and by default every other worker — with
/// the parity turned over on each lap around an even number of nodes, so that every node gets
/// sticky and moving clients alike (the even workers alone sat only on n1, n3, … when the
/// count was even). With an odd count the laps alternate by themselves.
pub(crate) fn sticky(w: u64, nodes: usize, all: bool, none: bool) -> bool {
    let nodes = nodes.max(1) as u64;
    let lap = if nodes.is_multiple_of(2) {
        w / nodes
    } else {
        0
    };
    all || (!none && (w + lap).is_multiple_of(2))
}

#[cfg(test)]
mod seat_tests {
    use super::*;

    #[test]
    fn every_node_gets_sticky_clients_whatever_the_count() {
        for nodes in 1..=7usize {
            let workers = 2 * nodes as u64;
            for node in 0..nodes {
                let here: Vec<u64> = (0..workers)
                    .filter(|w| *w as usize % nodes == node)
                    .collect();
                let stay = here
                    .iter()
                    .filter(|&&w| sticky(w, nodes, false, false))
                    .count();
                assert_eq!(stay, 1, "{nodes} nodes: node {node} has {here:?}");
            }
        }
        assert!(sticky(3, 2, true, false));
        assert!(!sticky(0, 2, false, true));
    }
}

impl Client {
    async fn run(self, mut rng: Rng) {
        let mut seat = Seat::new(self.worker, self.workers, self.endpoints.len(), self.sticky);
        // Spread the clients' first operations over one interval.
        let first = self
            .interval
            .map(|i| i.mul_f64(rng.unit()))
            .unwrap_or_default();
        let mut next = tokio::time::Instant::now() + first;
        while !self.stop.load(Ordering::SeqCst) {
            if let Some(i) = self.interval {
                let now = tokio::time::Instant::now();
                if next > now {
                    tokio::time::sleep((next - now).min(Duration::from_millis(100))).await;
                    continue;
                }
                next += i.mul_f64(0.5 + rng.unit());
                // Don't build a backlog after a stall: a closed loop at most.
                next = next.max(now);
            }
            let op = self.generator.next(&mut rng);
            let inv = self
                .recorder
                .invoke(seat.process, op.f(), op.key(), op.value(), None);
            let c = self.endpoints.perform(&op, seat.home).await;
            self.recorder.complete(&inv, &c);
            seat.after(&c);
        }
    }
}

/// Waits `quiet`, then until every raftkv node reports the same applied index twice in a row
/// (at most ten more seconds). True if they converged. Other systems have no applied index to
/// compare: after the quiet spell they get up to ten seconds to have a leader, when the target
/// says how to ask.
fn recover(sup: &Supervisor, quiet: Duration) -> bool {
    std::thread::sleep(quiet);
    let patience = Duration::from_secs(10);
    if sup.nodes.statuses().is_none() {
        return sup.wait_ready(patience).is_ok();
    }
    let deadline = Instant::now() + patience;
    let mut last = None;
    while Instant::now() < deadline && !signals::interrupted() {
        let Some(statuses) = sup.nodes.statuses() else {
            return false;
        };
        let applied: Vec<Option<u64>> = statuses
            .iter()
            .map(|s| s.as_ref().and_then(|s| s["applied_index"].as_u64()))
            .collect();
        let agreed = applied.iter().all(|a| a.is_some() && *a == applied[0]);
        if agreed && last.as_ref() == Some(&applied) {
            return true;
        }
        last = Some(applied);
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// The process that reads node `i`'s own copies at the end: fresh ids, clear of any the
/// `workers` clients used.
pub(crate) fn final_read_process(workers: u64, i: usize) -> u64 {
    1_000_000_000 + workers * 1000 + i as u64
}

/// Reads every key from every node's own state, recorded with `phase: final` — as a read, or
/// for a transactional workload as a transaction of one read (`[["r", k, v]]`, with the value's
/// version where a register has one).
async fn final_reads(
    recorder: &Recorder,
    keys: &[String],
    endpoints: &dyn driver::Driver,
    workers: u64,
    transactional: bool,
) {
    for i in 0..endpoints.len() {
        let process = final_read_process(workers, i);
        for key in keys {
            let inv = match transactional {
                true => recorder.invoke(
                    process,
                    "txn",
                    None,
                    json!([["r", key, null]]),
                    Some("final"),
                ),
                false => recorder.invoke(process, "read", Some(key), Value::Null, Some("final")),
            };
            let mut c = endpoints.read_local(key, i).await;
            if transactional && c.outcome == checker::Outcome::Ok {
                c.value = match (&c.value, c.version) {
                    (v, Some(version)) if !v.is_array() && !v.is_null() => {
                        json!([["r", key, v, version]])
                    }
                    (v, _) => json!([["r", key, v]]),
                };
            }
            recorder.complete(&inv, &c);
        }
    }
}

/// The progress line on stderr, once a second: elapsed, throughput, outcomes, the fault in force.
fn progress(recorder: &Recorder, fault: &Mutex<String>, stop: &AtomicBool, limit: Duration) {
    let mut status = crate::progress::StatusLine::new();
    let started = Instant::now();
    let (mut last_count, mut last_at) = (0, Instant::now());
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        if last_at.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let s = &recorder.stats;
        let count = s.completed();
        let rate = (count - last_count) as f64 / last_at.elapsed().as_secs_f64();
        (last_count, last_at) = (count, Instant::now());
        status.show(&format!(
            "[{:>5.1}/{:.0} s] {count} ops, {rate:.0} ops/s · ok {} fail {} info {} · fault: {}",
            started.elapsed().as_secs_f64(),
            limit.as_secs_f64(),
            s.ok.load(Ordering::Relaxed),
            s.fail.load(Ordering::Relaxed),
            s.info.load(Ordering::Relaxed),
            fault.lock().expect("fault lock"),
        ));
    }
    status.clear();
}

fn print_summary(
    summary: &results::RunResults,
    judged: &Judged,
    require: checker::consistency::Level,
) {
    let main = &summary.main_phase;
    let ms = |v: Option<f64>| v.map_or("-".to_string(), |x| format!("{x:.1} ms"));
    let faults = Some(crate::report::fault_counts(&summary.faults))
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "none".into());
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "ops       {} in {:.1} s ({:.0}/s): ok {}, fail {}, info {}",
        main.ops, summary.main_phase_s, main.throughput, main.ok, main.fail, main.info
    );
    let _ = writeln!(
        out,
        "latency   p50 {}, p99 {} (ok operations)",
        ms(main.latency_ms.p50),
        ms(main.latency_ms.p99)
    );
    let _ = writeln!(out, "faults    {faults}");
    for (kind, why) in &summary.unapplied {
        let _ = writeln!(out, "not applied  {kind}: {why}");
    }
    for o in &summary.outages {
        let who = o
            .node
            .as_ref()
            .map_or("the cluster".to_string(), |n| format!("node {n}"));
        let why = o
            .why
            .as_deref()
            .map(|w| format!(" ({w})"))
            .unwrap_or_default();
        let what = match &o.node {
            Some(_) => "no answer through",
            None => "no ok operation on",
        };
        let _ = writeln!(
            out,
            "outage    {what} {who} from {:.1} s to {:.1} s{why}",
            o.from_s, o.to_s
        );
        if let Some(during) = &o.during {
            let _ = writeln!(
                out,
                "          during faultline's own faults: {}",
                base::cut(during, 160)
            );
        }
    }
    let _ = writeln!(out, "stored    {}", summary.run_dir);
    let _ = writeln!(out, "report    {}", summary.report);
    let _ = write!(out, "{}", judged.render());
    let (name, standing) = (judged.required(require), judged.standing(require));
    let _ = writeln!(out, "  required: {name} {}", summary.verdict.words());
    if summary.verdict != standing {
        let kinds: Vec<String> = summary.unapplied.iter().map(|u| u.0.clone()).collect();
        let _ = writeln!(
            out,
            "  (the history {} {name}, but {} was asked for and never applied: a fault test that injected nothing passes nothing)",
            standing.words(),
            checker::consistency::words::list(&kinds)
        );
    }
}

#[cfg(test)]
mod outage_tests {
    use super::*;

    fn op(p: u64, from_s: f64, to_s: f64, node: &str, ok: bool) -> String {
        let ns = |s: f64| (s * 1e9) as u64;
        let kind = if ok { "ok" } else { "info" };
        format!(
            "{{\"time\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}}\n\
             {{\"time\":{},\"process\":{p},\"type\":\"{kind}\",\"f\":\"read\",\"key\":\"k\",\"node\":\"{node}\"}}\n",
            ns(from_s),
            ns(to_s)
        )
    }

    #[test]
    fn stretches_without_an_ok_operation_are_found_for_the_cluster_and_each_node() {
        let mut text = String::new();
        let mut p = 0;
        // n1 answers throughout but for 6–16 s; n2 answers only until 3 s, then times out.
        for t in 0..20 {
            let t = t as f64;
            let n1_ok = !(6.0..16.0).contains(&t);
            text += &op(p, t, t + 0.1, "n1", n1_ok);
            p += 1;
            text += &op(p, t + 0.2, t + 0.3, "n2", t < 3.0);
            p += 1;
            // n3 only ever refuses (a follower): it served nothing, and is not "out".
            text += &op(p, t + 0.4, t + 0.5, "n3", false);
            p += 1;
        }
        let h =
            checker::import::parse_str("t.jsonl", &text, checker::import::Format::Jsonl).unwrap();
        let found = outages(&h, Duration::from_secs(2));
        let spans: Vec<(Option<&str>, f64, f64)> = found
            .iter()
            .map(|o| (o.node.as_deref(), o.from_s, o.to_s))
            .collect();
        assert_eq!(
            spans,
            [
                (None, 5.1, 16.1),
                (Some("n1"), 5.1, 16.1),
                (Some("n2"), 2.3, 19.5),
            ],
            "{found:?}"
        );
        assert_eq!(outages(&h, Duration::from_secs(20)), []);
    }

    #[test]
    fn a_follower_that_redirects_is_not_out_and_an_outage_says_why_and_during_what() {
        // Issue 26: n2 redirected every client to n1 from 2 s on, and was reported out.
        let ns = |s: f64| (s * 1e9) as u64;
        // One read by process `p` from `t` to `t + 0.03` s, with the completion's extra fields.
        let read = |p: u64, t: f64, kind: &str, fields: &str| {
            format!(
                "{{\"time\":{},\"process\":{p},\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k\"}}\n\
                 {{\"time\":{},\"process\":{p},\"type\":\"{kind}\",\"f\":\"read\",\"key\":\"k\"{fields}}}\n",
                ns(t),
                ns(t + 0.03)
            )
        };
        let mut text = String::new();
        for i in 0..100u64 {
            let t = i as f64 * 0.1;
            text += &read(2 * i, t, "ok", ",\"node\":\"n1\"");
            let via = if t >= 2.0 {
                ",\"node\":\"n1\",\"via\":\"n2\""
            } else {
                ",\"node\":\"n2\""
            };
            text += &read(2 * i + 1, t + 0.05, "ok", via);
        }
        let h =
            checker::import::parse_str("t.jsonl", &text, checker::import::Format::Jsonl).unwrap();
        assert_eq!(outages(&h, Duration::from_secs(2)), []);
        // n2 unreachable from 2 s on, after a kill: the outage names both.
        let mut text = String::new();
        for i in 0..100u64 {
            let t = i as f64 * 0.1;
            if i == 19 {
                text += &format!(
                    "{{\"time\":{},\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-kill\",\"value\":\"kill n2 (SIGKILL pid 9, reaped)\"}}\n",
                    ns(t)
                );
            }
            text += &read(2 * i, t, "ok", ",\"node\":\"n1\"");
            let answer = if t < 2.0 {
                ("ok", ",\"node\":\"n2\"".to_string())
            } else {
                (
                    "fail",
                    ",\"node\":\"n2\",\"error\":\"could not connect to 127.0.0.1:9: connection refused\""
                        .to_string(),
                )
            };
            text += &read(2 * i + 1, t + 0.05, answer.0, &answer.1);
        }
        let h =
            checker::import::parse_str("t.jsonl", &text, checker::import::Format::Jsonl).unwrap();
        let found = outages(&h, Duration::from_secs(2));
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].node.as_deref(), Some("n2"));
        assert_eq!(found[0].why.as_deref(), Some("unreachable 80"));
        assert_eq!(
            found[0].during.as_deref(),
            Some("kill n2 (SIGKILL pid 9, reaped)")
        );
    }
}

#[cfg(test)]
mod host_fit_tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        run: RunArgs,
    }

    fn args(flags: &[&str]) -> RunArgs {
        Cli::try_parse_from(std::iter::once("run").chain(flags.iter().copied()))
            .unwrap()
            .run
    }

    fn host(name: &str) -> hosts::Host {
        hosts::Host {
            name: name.into(),
            address: format!("{name}.example"),
            user: None,
            port: None,
            identity: None,
            ssh_options: Vec::new(),
            dir: None,
        }
    }

    #[test]
    fn a_host_that_lacks_what_the_run_needs_is_one_error_naming_it() {
        let hosts = [host("h1"), host("h2")];
        let good = hosts::Facts {
            arch: std::env::consts::ARCH.into(),
            libfaketime: Some("/usr/lib/faketime/libfaketimeMT.so.1".into()),
            etcd: Some("/usr/bin/etcd".into()),
            tc: true,
            missing: Vec::new(),
            dir: hosts::BaseDir::Ok,
        };
        let first = good.clone();
        let facts = move |bad: hosts::Facts| vec![first.clone(), bad];
        assert!(fit_hosts(&args(&[]), &hosts, &facts(good.clone()), true).is_ok());
        let other_arch = hosts::Facts {
            arch: "riscv64".into(),
            ..good.clone()
        };
        let e = fit_hosts(&args(&[]), &hosts, &facts(other_arch.clone()), true).unwrap_err();
        assert!(e.starts_with("h2 (h2.example) is riscv64"), "{e}");
        // So is a target file whose commands run the copied binary.
        let file = args(&["--target", "http:kv.toml"]);
        let e = fit_hosts(&file, &hosts, &facts(other_arch.clone()), true).unwrap_err();
        assert!(e.contains("faultline's binary cannot run there"), "{e}");
        // etcd runs the host's own binary: the architecture is the host's business.
        assert!(fit_hosts(
            &args(&["--target", "etcd"]),
            &hosts,
            &facts(other_arch),
            false
        )
        .is_ok());
        let no_etcd = hosts::Facts {
            etcd: None,
            ..good.clone()
        };
        let e =
            fit_hosts(&args(&["--target", "etcd"]), &hosts, &facts(no_etcd), false).unwrap_err();
        assert_eq!(
            e,
            "h2 (h2.example): etcd is not installed there (apt-get install etcd-server on the host)"
        );
        let no_tc = hosts::Facts {
            tc: false,
            ..good.clone()
        };
        assert!(fit_hosts(&args(&[]), &hosts, &facts(no_tc.clone()), true).is_ok());
        let e =
            fit_hosts(&args(&["--net-latency", "20"]), &hosts, &facts(no_tc), true).unwrap_err();
        assert!(e.contains("tc is not installed"), "{e}");
        let missing = hosts::Facts {
            missing: vec!["/opt/kv".into()],
            ..good.clone()
        };
        let e = fit_hosts(&args(&[]), &hosts, &facts(missing), true).unwrap_err();
        assert_eq!(
            e,
            "h2 (h2.example): /opt/kv is not installed there, and n2's start command runs it"
        );
        // The base directory for runs: programs must run from it only when faultline's binary
        // is copied there.
        let dir = |d: hosts::BaseDir| hosts::Facts {
            dir: d,
            ..good.clone()
        };
        let e = fit_hosts(
            &args(&[]),
            &hosts,
            &facts(dir(hosts::BaseDir::Noexec)),
            true,
        )
        .unwrap_err();
        assert!(
            e.contains("programs cannot run from /tmp (mounted noexec?)"),
            "{e}"
        );
        assert!(
            e.ends_with("give the host a `dir` in the hosts file"),
            "{e}"
        );
        let etcd = args(&["--target", "etcd"]);
        assert!(fit_hosts(&etcd, &hosts, &facts(dir(hosts::BaseDir::Noexec)), false).is_ok());
        let e = fit_hosts(&etcd, &hosts, &facts(dir(hosts::BaseDir::Missing)), false).unwrap_err();
        assert!(e.contains("/tmp does not exist there"), "{e}");
        let e = fit_hosts(
            &etcd,
            &hosts,
            &facts(dir(hosts::BaseDir::Unwritable)),
            false,
        )
        .unwrap_err();
        assert!(e.contains("cannot write in /tmp there"), "{e}");
    }
}
