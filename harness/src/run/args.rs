//! `faultline run`'s flags ([`RunArgs`]) and the small parsers they share with `sim` and
//! `sweep`: fault kinds, partition shapes, positive numbers.

use super::*;

#[derive(Args, Debug, serde::Serialize)]
pub struct RunArgs {
    /// The system to test: raftkv (the bundled cluster), etcd (a local etcd 3.4 cluster from
    /// Debian's etcd-server), postgres (a PostgreSQL server from Debian's postgresql, started in
    /// the run's directory) or postgres:URL (one somebody else runs), zookeeper (a ZooKeeper
    /// ensemble from Debian's zookeeper, for registers), rabbitmq (a RabbitMQ
    /// broker from Debian's rabbitmq-server, for --workload queue), or http:FILE (any HTTP
    /// key-value service, with `[sql]` any database speaking PostgreSQL's protocol, with
    /// `[amqp]` any AMQP 0.9.1 broker, described in a TOML file; see examples/targets/).
    #[arg(long, default_value = "raftkv", value_name = "TARGET")]
    pub target: String,
    /// With --target etcd: linearizable reads (etcd's default), or serializable ones, served
    /// from the contacted member's own state (may be stale).
    #[arg(long, default_value = "linearizable", value_parser = ["linearizable", "serializable"])]
    pub etcd_read: String,
    /// Number of nodes (raftkv, etcd, ZooKeeper: 3 by default; RabbitMQ: one broker by
    /// default, a cluster with more; an http target has the nodes its file lists).
    #[arg(long = "nodes", value_name = "N", value_parser = clap::value_parser!(u64).range(1..=9))]
    #[serde(skip)]
    pub nodes_asked: Option<u64>,
    /// The nodes the run has: `--nodes`, or the target's own number (set as the run is fitted
    /// to its target).
    #[arg(skip = 3u64)]
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
    /// With --target zookeeper: reads as the session's server has the data (plain), or after a
    /// sync with the leader (sync).
    #[arg(long, default_value = "plain", value_parser = ["plain", "sync"])]
    pub zk_read: String,
    /// With --workload queue: the delivery the queue must keep. exactly-once makes a duplicate a
    /// violation; at-least-once (a message broker's promise, the default on one) reports it and
    /// fails only on a lost message.
    #[arg(long, value_parser = ["exactly-once", "at-least-once"])]
    pub queue_delivery: Option<String>,
    /// With --workload lock: how long a holder keeps the lock before it lets go (its critical
    /// section), in milliseconds. Longer than the lock's lease (etcd's 1 s, ZooKeeper's session
    /// timeout) shows what a holder stalled past its lease finds when it lets go.
    #[arg(long, default_value_t = 100, value_name = "MS", value_parser = clap::value_parser!(u64).range(0..=60_000))]
    pub lock_hold_ms: u64,
    /// With --target rabbitmq: the kind of durable queue the queue workload declares.
    #[arg(long, default_value = "classic", value_parser = ["classic", "quorum"])]
    pub rmq_queue: String,
    /// raftkv unsafe knobs, comma-separated: no-fsync, no-election-restriction, commit-old-term,
    /// membership-without-noop, concurrent-membership, fail-pending-on-stepdown, redeliver,
    /// lock-lease-local.
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
    pub(super) fn keeps(self, standing: checker::consistency::Standing) -> bool {
        match self {
            KeepData::Always => true,
            KeepData::OnFailure => standing != checker::consistency::Standing::Holds,
            KeepData::Never => false,
        }
    }
}

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

/// "1 node", "3 nodes".
pub fn plural(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

pub(super) fn positive(name: &str, v: f64, zero_ok: bool) -> Result<(), String> {
    if v.is_finite() && (v > 0.0 || (zero_ok && v == 0.0)) {
        Ok(())
    } else {
        Err(format!("--{name} must be a positive number, found {v}"))
    }
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
