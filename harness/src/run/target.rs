//! `--target`: the system under test, chosen from its flags. Each kind of target is one
//! [`TargetKind`]: it says whether `--target` names it, fits the run to itself (its nodes,
//! the network mechanism its partitions need), and takes out the faults it cannot take, each
//! with the sentence a user sees.

use super::*;

/// The system under test, as `--target` chose it.
pub(super) struct Target {
    /// `raftkv`, `etcd` or `http`.
    pub(super) kind: &'static str,
    /// For people: `raftkv, 3 nodes`, `etcd 3.4.23, 3 members (serializable reads)`.
    pub(super) description: String,
    /// The description file of an http target.
    pub(super) file: Option<String>,
    /// The store's default subdirectory.
    pub(super) test_name: String,
    pub(super) system: System,
    /// The flags of [`TARGET_FLAGS`] that are this target's own (`config.json` keeps only
    /// these of them).
    pub(super) flags: &'static [&'static str],
}

impl Target {
    /// A seed workload's options as this target makes them: a broker's queue promises FIFO
    /// only for messages never given back, and gives back what a lost channel had taken (at a
    /// position nearer the head), so its order is not judged.
    /// A broker promises at-least-once delivery, so that is what its runs ask of it unless
    /// `--queue-delivery` says otherwise.
    pub(super) fn fitted(
        &self,
        mut options: checker::workloads::Options,
        delivery: Option<&str>,
    ) -> checker::workloads::Options {
        let broker = matches!(&self.system, System::Described(d) if d.amqp.is_some());
        if broker {
            options.fifo = false;
        }
        options.at_least_once = match delivery {
            Some(d) => d == "at-least-once",
            None => broker,
        };
        options
    }
}

/// The flags that belong to one kind of target or another.
pub(super) const TARGET_FLAGS: &[&str] = &[
    "etcd_read",
    "read_mode",
    "write_ack",
    "isolation",
    "unsafe_knobs",
    "pg_isolation",
    "rmq_queue",
    "zk_read",
];

/// A transactional workload needs a target that can run transactions: raftkv, or a target
/// file with a `[txn]` request. Said before anything starts.
pub(super) fn transactions_possible(args: &RunArgs, target: &Target) -> Result<(), String> {
    use crate::commands::check::Required;
    if args.workload.seed().is_some() {
        return seed_workload_possible(args, target);
    }
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
            args.workload.name()
        )),
    }
}

/// The seeds' workloads (bank, set, counter, unique ids) are carried by transactions with
/// raftkv's `add` and `take` micro-ops and by reads of lists and integers: raftkv, or a target
/// file whose `[txn]` speaks them. PostgreSQL's and etcd's drivers have no add yet; etcd takes
/// the lock workload with its own lock API, and a broker the queue workload.
fn seed_workload_possible(args: &RunArgs, target: &Target) -> Result<(), String> {
    use crate::commands::check::Required;
    if args
        .require
        .is_some_and(|r| !matches!(r, Required::Consistency(_)))
    {
        return Err("--require names a consistency model or an isolation level; a seed workload is judged by its own checker (its verdict is the exit code)".into());
    }
    let name = args.workload.name();
    match &target.system {
        System::Raftkv { .. } => Ok(()),
        System::Described(d) if d.txn.is_some() && d.sql.is_none() && d.transactions.is_none() => Ok(()),
        System::Described(d) if d.amqp.is_some() && args.workload == Workload::Queue => Ok(()),
        // etcd's own lock API (grant, keep-alive, lock, unlock); ZooKeeper's lock recipe.
        System::Described(d)
            if (d.transactions == Some(targets::described::TxnProtocol::Etcd)
                || d.zookeeper.is_some())
                && args.workload == Workload::Lock =>
        {
            Ok(())
        }
        System::Described(_) => Err(format!(
            "--workload {name} runs on raftkv, or on a target file whose [txn] request takes raftkv's micro-ops (\"add\" and \"take\" beside \"append\", \"r\" and \"w\"); {} has none, and faultline's PostgreSQL and etcd drivers have no add micro-op yet (etcd and ZooKeeper take --workload lock, with their own locks)",
            target.file.as_deref().unwrap_or(target.kind)
        )),
    }
}

/// A message broker takes the queue workload and nothing else: said before anything starts.
fn broker_workload(args: &RunArgs, what: &str) -> Result<(), String> {
    if args.workload == Workload::Queue {
        return Ok(());
    }
    let name = args.workload.name();
    Err(format!(
        "--workload {name}: {what} is a message broker, and faultline drives a broker with the queue workload only (--workload queue)"
    ))
}

/// Takes `kind` out of the run, with a note saying why.
pub(super) fn drop_fault(
    kinds: &mut Vec<FaultKind>,
    notes: &mut Vec<String>,
    kind: FaultKind,
    why: &str,
) {
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
pub(super) fn postgres_target(
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
        flags: &["pg_isolation"],
        description: desc.name.clone(),
        file,
        test_name: "postgres".into(),
        system: System::Described(Box::new(desc)),
    })
}

/// The server runs as `user`, who must reach the run's directory under `store`: every
/// existing directory on the way must be searchable by others.
pub(super) fn reachable_by_others(store: &std::path::Path, user: &str) -> Result<(), String> {
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

pub(super) fn choose_target(
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
    let Some(kind) = KINDS.iter().find(|k| k.names(&args.target)) else {
        let spellings: Vec<&str> = KINDS.iter().flat_map(|k| k.spellings()).copied().collect();
        let (last, rest) = spellings.split_last().expect("there are kinds");
        return Err(format!(
            "--target {:?}: expected {} or {last}",
            args.target,
            rest.join(", ")
        ));
    };
    kind.choose(&mut Fit {
        args,
        kinds,
        notes,
        on,
    })
}

/// What choosing a target works on: the flags it may fit to itself, the faults asked for (it
/// takes out those it cannot take, each with why) and the notes that say so.
pub(super) struct Fit<'a> {
    pub args: &'a mut RunArgs,
    pub kinds: &'a mut Vec<FaultKind>,
    pub notes: &'a mut Vec<String>,
    pub on: Option<&'a OnHosts>,
}

/// A kind of system `--target` names. Adding a target is one of these (and its launcher and
/// driver in the targets crate), listed in [`KINDS`].
pub(super) trait TargetKind: Sync {
    /// How `--target` spells it, for the error that lists them.
    fn spellings(&self) -> &'static [&'static str];
    /// Whether `--target TEXT` names this kind.
    fn names(&self, target: &str) -> bool;
    /// The target, the run fitted to it.
    fn choose(&self, fit: &mut Fit) -> Result<Target, String>;
}

/// Every kind of target, in the order `--target` is tried against them.
const KINDS: [&dyn TargetKind; 6] = [&Raftkv, &Etcd, &Postgres, &Zookeeper, &Rabbitmq, &File];

/// The bundled cluster.
struct Raftkv;
/// A local etcd cluster, or each host's own.
struct Etcd;
/// A PostgreSQL server faultline starts, or one at a URL.
struct Postgres;
/// A ZooKeeper ensemble faultline starts.
struct Zookeeper;
/// A RabbitMQ broker faultline starts.
struct Rabbitmq;
/// Any service a target file describes.
struct File;

impl TargetKind for Raftkv {
    fn spellings(&self) -> &'static [&'static str] {
        &["raftkv"]
    }
    fn names(&self, target: &str) -> bool {
        target == "raftkv"
    }
    fn choose(&self, fit: &mut Fit) -> Result<Target, String> {
        let args = &mut *fit.args;
        Ok(Target {
            kind: "raftkv",
            flags: &["read_mode", "write_ack", "isolation", "unsafe_knobs"],
            description: plural(args.nodes as usize, "raftkv node"),
            file: None,
            test_name: "raftkv".into(),
            system: System::Raftkv {
                node_flags: node_flags(args),
            },
        })
    }
}

impl TargetKind for Etcd {
    fn spellings(&self) -> &'static [&'static str] {
        &["etcd"]
    }
    fn names(&self, target: &str) -> bool {
        target == "etcd"
    }
    fn choose(&self, fit: &mut Fit) -> Result<Target, String> {
        let (args, kinds, notes, on) = (&mut *fit.args, &mut *fit.kinds, &mut *fit.notes, fit.on);
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
            flags: &["etcd_read"],
            description: match on {
                Some(on) => format!("{} on {}", desc.name, plural(on.hosts.len(), "host")),
                None => desc.name.clone(),
            },
            file: None,
            test_name: "etcd".into(),
            system: System::Described(Box::new(desc)),
        })
    }
}

impl TargetKind for Postgres {
    fn spellings(&self) -> &'static [&'static str] {
        &["postgres", "postgres:URL"]
    }
    fn names(&self, target: &str) -> bool {
        target == "postgres" || target.starts_with("postgres:")
    }
    fn choose(&self, fit: &mut Fit) -> Result<Target, String> {
        postgres_target(fit.args, fit.kinds, fit.notes, fit.on)
    }
}

impl TargetKind for Zookeeper {
    fn spellings(&self) -> &'static [&'static str] {
        &["zookeeper"]
    }
    fn names(&self, target: &str) -> bool {
        target == "zookeeper"
    }
    fn choose(&self, fit: &mut Fit) -> Result<Target, String> {
        let (args, kinds, notes) = (&mut *fit.args, &mut *fit.kinds, &mut *fit.notes);
        if fit.on.is_some() {
            return Err("--target zookeeper runs its ensemble on this machine; --hosts places raftkv, etcd and target files' nodes".into());
        }
        if !matches!(
            args.workload,
            Workload::Register | Workload::CasRegister | Workload::Lock
        ) {
            let name = args.workload.name();
            return Err(format!("--workload {name}: faultline drives ZooKeeper as a register store (--workload register or cas-register) and with its lock recipe (--workload lock); transactions are not built yet"));
        }
        let read = targets::zk::ReadMode::parse(&args.zk_read)?;
        let script = targets::zookeeper::binary()?;
        let ports = zookeeper_ports(args, kinds, notes)?;
        let desc = targets::zookeeper::described(&script, &ports, read);
        drop_fault(
            kinds,
            notes,
            FaultKind::Clock,
            "ZooKeeper reports no wall clock to confirm a skew against",
        );
        drop_fault(
            kinds,
            notes,
            FaultKind::Membership,
            "faultline does not drive ZooKeeper's dynamic reconfiguration",
        );
        Ok(Target {
            kind: "zookeeper",
            flags: &["zk_read"],
            description: desc.name.clone(),
            file: None,
            test_name: "zookeeper".into(),
            system: System::Described(Box::new(desc)),
        })
    }
}

/// A local ensemble's ports: ZooKeeper's own when each server has an address of its own (in
/// namespaces, which partitions need: servers dial each other at the addresses in their
/// configuration), free ones on loopback otherwise.
fn zookeeper_ports(
    args: &mut RunArgs,
    kinds: &[FaultKind],
    notes: &mut Vec<String>,
) -> Result<Vec<targets::zookeeper::Ports>, String> {
    if kinds.contains(&FaultKind::Partition) && args.net == NetKind::Proxy {
        args.net = NetKind::Netns;
        notes.push("ZooKeeper partitions need network namespaces: using --net netns".into());
    }
    let n = args.nodes as usize;
    if args.net == NetKind::Netns {
        return Ok(vec![targets::zookeeper::Ports::STANDARD; n]);
    }
    let port = || targets::raftkv::cluster::free_port().map_err(|e| format!("ports: {e}"));
    (0..n)
        .map(|_| {
            Ok(targets::zookeeper::Ports {
                client: port()?,
                quorum: port()?,
                election: port()?,
            })
        })
        .collect()
}

impl TargetKind for Rabbitmq {
    fn spellings(&self) -> &'static [&'static str] {
        &["rabbitmq"]
    }
    fn names(&self, target: &str) -> bool {
        target == "rabbitmq"
    }
    fn choose(&self, fit: &mut Fit) -> Result<Target, String> {
        let (args, kinds, notes) = (&mut *fit.args, &mut *fit.kinds, &mut *fit.notes);
        if fit.on.is_some() {
            return Err("--target rabbitmq runs its broker on this machine; --hosts places raftkv, etcd and target files' nodes".into());
        }
        broker_workload(args, "RabbitMQ")?;
        let queue = targets::amqp::QueueKind::parse(&args.rmq_queue)?;
        let (server, epmd) = targets::rabbitmq::binaries()?;
        let layout = rabbitmq_layout(args, kinds, notes)?;
        let desc = targets::rabbitmq::described(&server, &epmd, layout, queue);
        drop_fault(kinds, notes, FaultKind::Clock, "RabbitMQ orders a queue without its wall clock, so a skew has nothing to disagree with");
        drop_fault(
            kinds,
            notes,
            FaultKind::Membership,
            "faultline does not drive RabbitMQ's cluster membership",
        );
        Ok(Target {
            kind: "rabbitmq",
            flags: &["rmq_queue"],
            description: desc.name.clone(),
            file: None,
            test_name: "rabbitmq".into(),
            system: System::Described(Box::new(desc)),
        })
    }
}

/// One broker on loopback by default; a cluster with `--nodes` N > 1, each node in a network
/// namespace of its own (Erlang nodes find each other through the epmd of the host in their
/// names, so each needs an address of its own), which partitions then cut.
fn rabbitmq_layout(
    args: &mut RunArgs,
    kinds: &mut Vec<FaultKind>,
    notes: &mut Vec<String>,
) -> Result<targets::rabbitmq::Layout, String> {
    args.nodes = args.nodes_asked.unwrap_or(1);
    if args.nodes > 1 {
        if args.net == NetKind::Proxy {
            args.net = NetKind::Netns;
            notes.push(
                "a RabbitMQ cluster's nodes each need an address of their own: using --net netns"
                    .into(),
            );
        }
        return Ok(targets::rabbitmq::Layout::Cluster(args.nodes as usize));
    }
    drop_fault(kinds, notes, FaultKind::Partition, "RabbitMQ runs as one broker here, with no peers to cut it off from (clients cut off from it are what pause shows; --nodes 3 makes a cluster)");
    let port = || targets::raftkv::cluster::free_port().map_err(|e| format!("ports: {e}"));
    Ok(targets::rabbitmq::Layout::One(targets::rabbitmq::Ports {
        amqp: port()?,
        dist: port()?,
        epmd: port()?,
    }))
}

impl TargetKind for File {
    fn spellings(&self) -> &'static [&'static str] {
        &["http:FILE"]
    }
    fn names(&self, target: &str) -> bool {
        target.starts_with("http:")
    }
    fn choose(&self, fit: &mut Fit) -> Result<Target, String> {
        let (args, kinds, notes, on) = (&mut *fit.args, &mut *fit.kinds, &mut *fit.notes, fit.on);
        let file = args
            .target
            .strip_prefix("http:")
            .expect("named http:FILE")
            .to_string();
        let file = file.as_str();
        let desc = targets::described::Described::load(std::path::Path::new(file))
            .map_err(|e| format!("--target: {e}"))?;
        if desc.amqp.is_some() {
            broker_workload(args, file)?;
        }
        let own_protocol = desc.sql.is_some() || desc.amqp.is_some() || desc.zookeeper.is_some();
        if desc.cas.is_none() && !own_protocol && args.workload == Workload::CasRegister {
            return Err(format!("--target: {file} describes no [cas] request; run with --workload register, or describe [cas]"));
        }
        args.nodes = desc.nodes.len() as u64;
        for (node, port, low, high) in desc.ports_in_ephemeral_range() {
            notes.push(format!(
            "{node}'s port {port} lies in this machine's ephemeral range ({low}–{high}), where every outgoing connection (faultline's own included) takes its local port: a restart may find it taken; a port below {low} avoids that"
        ));
        }
        leave_out_what_the_file_cannot(&desc, args.net, on.is_some(), kinds, notes);
        let stem = std::path::Path::new(file)
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "http".into());
        Ok(Target {
            kind: "http",
            flags: &[],
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

/// The faults a target file's nodes cannot take, each left out with why: what needs start
/// commands (partitions in namespaces, kill and restart, libfaketime), membership requests, a
/// clock probe, or a pid to signal.
fn leave_out_what_the_file_cannot(
    desc: &targets::described::Described,
    net: NetKind,
    remote: bool,
    kinds: &mut Vec<FaultKind>,
    notes: &mut Vec<String>,
) {
    let launches = desc.launches();
    if !launches {
        drop_fault(kinds, notes, FaultKind::Partition, "the target file gives no start command for every node, so faultline cannot place its nodes in namespaces");
        drop_fault(kinds, notes, FaultKind::Kill, "the target file gives no start command for every node, so a killed node could not be restarted");
        drop_fault(kinds, notes, FaultKind::Clock, "the target file gives no start command for every node, so faultline cannot start them under libfaketime");
    } else if net == NetKind::Proxy && !remote {
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
}

/// A local etcd: the binary, and ports on loopback (or, in namespaces, the standard ones);
/// partitions move the run into namespaces.
pub(super) fn local_etcd(
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

pub(super) fn etcd_read(args: &RunArgs) -> targets::etcd::ReadMode {
    match args.etcd_read.as_str() {
        "serializable" => targets::etcd::ReadMode::Serializable,
        _ => targets::etcd::ReadMode::Linearizable,
    }
}

pub(super) fn node_flags(args: &RunArgs) -> Vec<String> {
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
