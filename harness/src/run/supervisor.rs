//! The supervisor: owns the cluster under test and everything done to it — node processes, the
//! network mechanism, the clocks, the nemesis — and undoes all of it when dropped, whether the run
//! ends normally, is interrupted, or panics. While it lives, `state.json` in the run directory
//! names every process and namespace, for `faultline heal` should the harness itself be killed.

use super::remote::RemoteCluster;
use checker::generate::Rng;
use nemesis::cleanup::Leftovers;
use nemesis::clock::Clocks;
use nemesis::netns::NamespaceNet;
use nemesis::proxy::ProxyNet;
use nemesis::{Cluster, Nemesis, Net, Uncut};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use targets::described::{BaseUrl, Described};
use targets::launched::{LaunchedNodes, Placement};
use targets::raftkv::cluster::{free_port, ClusterSpec, LocalCluster, MemberChange, NodeSpec};

mod cluster;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetKind {
    /// A TCP proxy per directed link (no privileges).
    Proxy,
    /// Network namespaces, a bridge and nftables rules (root).
    Netns,
}

/// Which system to launch.
pub enum System {
    /// The bundled raftkv, with these flags for every node.
    Raftkv { node_flags: Vec<String> },
    /// A described service (an http target file, or etcd): its nodes' own commands.
    Described(Box<Described>),
}

/// What to launch.
pub struct Setup<'a> {
    pub nodes: usize,
    pub net: NetKind,
    pub run_dir: &'a Path,
    pub system: System,
    /// libfaketime, when clock faults are wanted and available.
    pub faketime: Option<PathBuf>,
    pub seed: u64,
    /// Proxy only: latency added to every message, and connection loss per chunk.
    pub latency: Duration,
    pub loss: f64,
    /// Remote hosts (`--hosts`): node i on host i, over SSH.
    pub hosts: Option<OnHosts>,
    /// What becomes of the nodes' data directories on remote hosts: brought back at teardown
    /// (`always`), left there until the verdict says (`on-failure`: see
    /// [`Supervisor::defer_data`]), or removed (`never`). The logs always come back.
    pub keep_data: super::KeepData,
}

/// The hosts of a run, and what each was found to have.
pub struct OnHosts {
    pub hosts: Vec<super::hosts::Host>,
    pub facts: Vec<super::hosts::Facts>,
}

/// The running nodes, of whichever system.
pub enum Fleet {
    Raftkv(LocalCluster),
    Described(Box<LaunchedNodes>),
    /// raftkv on remote hosts, through SSH.
    Remote(Box<RemoteCluster>),
}

impl Fleet {
    /// The nodes [`LaunchedNodes`] runs: a described system's, or raftkv's on remote hosts.
    fn launched(&self) -> Option<&LaunchedNodes> {
        match self {
            Fleet::Remote(c) => Some(&c.launched),
            Fleet::Described(d) => Some(d),
            Fleet::Raftkv(_) => None,
        }
    }

    fn launched_mut(&mut self) -> Option<&mut LaunchedNodes> {
        match self {
            Fleet::Remote(c) => Some(&mut c.launched),
            Fleet::Described(d) => Some(d),
            Fleet::Raftkv(_) => None,
        }
    }
}

/// The nodes as the nemesis sees them.
pub struct Nodes {
    cluster: Fleet,
    clocks: Option<Arc<Clocks>>,
    leftovers: Leftovers,
    state_path: PathBuf,
    /// The run's hosts, when it runs on remote hosts.
    remote: Option<Remote>,
}

/// What a run on remote hosts brings back and cleans up at teardown.
struct Remote {
    hosts: super::remote::RunHosts,
    nodes_dir: PathBuf,
    keep_data: super::KeepData,
    /// The data directories stay on the hosts for a [`super::remote::RemoteData`].
    deferred: bool,
}

pub struct Supervisor {
    pub nodes: Nodes,
    pub nemesis: Nemesis,
}

impl Nodes {
    /// Node `i`'s process (re)started: libfaketime measures rates from a process's start.
    fn clock_started(&self, node: usize) -> std::io::Result<()> {
        let (Some(c), Some(pid)) = (&self.clocks, self.pid(node)) else {
            return Ok(());
        };
        match self.host(node) {
            Some(h) => c.started_at(node, targets::host::start_ms(h, pid)),
            None => c.started(node, pid),
        }
    }

    /// Node `i`'s host, when it runs on another machine.
    fn host(&self, node: usize) -> Option<&dyn targets::host::HostShell> {
        self.cluster.launched()?.host(node)
    }

    fn save(&self) {
        if let Err(e) = self.leftovers.save(&self.state_path) {
            eprintln!("faultline: cannot write {}: {e}", self.state_path.display());
        }
    }

    fn record_pid(&mut self, node: usize) {
        let pid = self.pid(node);
        // A remote pid is recorded with its host (node i runs on host i).
        match self.leftovers.remote.get_mut(node) {
            Some(r) => r.pid = pid,
            None => self.leftovers.set_process(node, pid),
        }
        self.save();
    }

    /// How clients reach the nodes, with requests that time out after `timeout`.
    pub fn endpoints(&self, timeout: Duration) -> Result<super::driver::Endpoints, String> {
        let d = match &self.cluster {
            Fleet::Raftkv(c) => {
                let addrs: Vec<String> = c.nodes.iter().map(|n| n.client_addr.clone()).collect();
                return Ok(super::driver::Endpoints::raftkv(&addrs, timeout));
            }
            Fleet::Remote(c) => &c.launched,
            Fleet::Described(d) => d,
        };
        super::driver::Endpoints::new(
            d.desc.clone(),
            d.nodes
                .iter()
                .map(|n| (n.name.clone(), n.base.clone(), n.resolved)),
            timeout,
        )
    }

    /// A database driven in SQL: how to log in, and its nodes' names and URLs.
    pub fn sql(&self) -> Option<(targets::sql::SqlDesc, Vec<(String, BaseUrl)>)> {
        let d = self.cluster.launched()?;
        Some((d.desc.sql.clone()?, self.urls()))
    }

    /// A message broker driven over AMQP: its `[amqp]` section, and its nodes' names and URLs.
    pub fn amqp(&self) -> Option<(targets::amqp::AmqpDesc, Vec<(String, BaseUrl)>)> {
        let d = self.cluster.launched()?;
        Some((d.desc.amqp.clone()?, self.urls()))
    }

    /// ZooKeeper: its `[zookeeper]` section, and its servers' names and URLs.
    pub fn zookeeper(&self) -> Option<(targets::zk::ZkDesc, Vec<(String, BaseUrl)>)> {
        let d = self.cluster.launched()?;
        Some((d.desc.zookeeper.clone()?, self.urls()))
    }

    fn urls(&self) -> Vec<(String, BaseUrl)> {
        let nodes = self.cluster.launched().map(|d| &d.nodes[..]).unwrap_or(&[]);
        nodes
            .iter()
            .map(|n| (n.name.clone(), n.base.clone()))
            .collect()
    }

    /// Runs every node's `setup` command (described targets that give one).
    pub fn setup(&self) -> Result<(), String> {
        match &self.cluster {
            Fleet::Raftkv(_) | Fleet::Remote(_) => Ok(()),
            Fleet::Described(d) => (0..d.len()).try_for_each(|i| d.setup(i)),
        }
    }

    /// "n1: localhost:8080 is 127.0.0.1:8080", for every node whose URL names a host.
    pub fn resolutions(&self) -> Vec<String> {
        let Fleet::Described(d) = &self.cluster else {
            return Vec::new();
        };
        d.nodes
            .iter()
            .filter(|n| n.base.domain().is_some())
            .map(|n| format!("{}: {} is {}", n.name, n.base.authority(), n.resolved))
            .collect()
    }

    /// Every running raftkv node's `/status`, in node order (None for a node that did not
    /// answer); nothing for other systems, which have no common status to read.
    pub fn statuses(&self) -> Option<Vec<Option<serde_json::Value>>> {
        match &self.cluster {
            Fleet::Raftkv(c) => Some((0..self.size()).map(|i| c.status(i)).collect()),
            Fleet::Remote(c) => Some((0..self.size()).map(|i| c.status(i)).collect()),
            Fleet::Described(_) => None,
        }
    }
}

/// How long one membership change may take to be confirmed (a removed leader's successor must
/// be elected; a node added back must catch up before it is promoted).
const MEMBERSHIP_TIMEOUT: Duration = Duration::from_secs(15);

impl Supervisor {
    /// Builds the network, starts the nodes and records them for `faultline heal`.
    pub fn start(setup: Setup) -> Result<Supervisor, String> {
        let n = setup.nodes;
        let state_path = setup.run_dir.join("state.json");
        let me = std::process::id();
        let mut leftovers = Leftovers {
            harness_pid: me,
            harness_start: nemesis::process::start_ticks(me).unwrap_or(0),
            ..Leftovers::default()
        };
        let io = |what: &str| {
            let what = what.to_string();
            move |e: std::io::Error| format!("{what}: {e}")
        };
        let (described, node_flags) = match setup.system {
            System::Described(d) => (Some(d), Vec::new()),
            System::Raftkv { node_flags } => (None, node_flags),
        };
        if let Some(on) = setup.hosts {
            let at = RemoteSetup {
                on,
                nodes: n,
                run_dir: setup.run_dir,
                seed: setup.seed,
                clocks: setup.faketime.is_some(),
                latency: setup.latency,
                loss: setup.loss,
                keep_data: setup.keep_data,
            };
            let started = remote(at, described, node_flags, leftovers, state_path);
            if started.is_err() {
                // The hosts' clean-up ran (and `state.json` stays, should it have failed on
                // one); the control sockets' directory goes.
                let _ = std::fs::remove_dir_all(super::remote::control_dir(me));
            }
            return started;
        }
        // Where each node lives: its address, its namespace, its environment.
        let (mut net, mut placements) = local_places(setup.net, n, &mut leftovers, &state_path)?;
        let clocks = match &setup.faketime {
            Some(lib) => Some(Arc::new(
                Clocks::new(lib, &setup.run_dir.join("clocks"), n).map_err(io("clocks"))?,
            )),
            None => None,
        };
        if let Some(c) = &clocks {
            for (i, p) in placements.iter_mut().enumerate() {
                p.env = c.env(i);
            }
        }
        leftovers.save(&state_path).map_err(io("state.json"))?;
        let program = std::env::current_exe().map_err(io("finding faultline's own binary"))?;
        let nodes_dir = setup.run_dir.join("nodes");
        let cluster = match described {
            Some(desc) => {
                let name = desc.name.clone();
                Fleet::Described(Box::new(
                    LaunchedNodes::launch(*desc, placements, &nodes_dir, &program)
                        .map_err(io(&format!("starting {name}")))?,
                ))
            }
            None => {
                let program = (program, nodes_dir.as_path());
                let shaping = (setup.seed, setup.latency, setup.loss);
                let cluster = launch_raftkv(
                    setup.net,
                    shaping,
                    &placements,
                    program,
                    node_flags,
                    &mut net,
                )?;
                Fleet::Raftkv(cluster)
            }
        };
        let mut nodes = Nodes {
            cluster,
            clocks: clocks.clone(),
            leftovers,
            state_path,
            remote: None,
        };
        for i in 0..n {
            nodes.leftovers.set_process(i, nodes.pid(i));
            nodes.clock_started(i).map_err(io("clocks"))?;
        }
        nodes.save();
        Ok(Supervisor {
            nodes,
            nemesis: Nemesis::new(net, clocks, Rng::new(setup.seed ^ 0x6e65_6d65)),
        })
    }

    /// Waits until the cluster is ready: raftkv's nodes agree on a leader; a described
    /// system's nodes are healthy and, when it can be asked, one leads.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        match &self.nodes.cluster {
            Fleet::Raftkv(c) => c
                .wait_for_leader(timeout)
                .map(|_| ())
                .ok_or_else(|| "the nodes elected no leader".to_string()),
            Fleet::Remote(c) => c
                .wait_for_leader(timeout)
                .then_some(())
                .ok_or_else(|| "the nodes on the hosts elected no leader".to_string()),
            Fleet::Described(d) => d.wait_ready(timeout),
        }
    }

    /// A node that exited on its own (crashed), with how it ended.
    pub fn crashed(&mut self) -> Option<(usize, String)> {
        (0..self.nodes.size()).find_map(|i| match &mut self.nodes.cluster {
            Fleet::Raftkv(c) => c.exited(i).map(|s| (i, s.to_string())),
            Fleet::Remote(c) => c.launched.exited(i).map(|s| (i, s)),
            Fleet::Described(d) => d.exited(i).map(|s| (i, s)),
        })
    }

    /// With `--keep-data on-failure` on remote hosts: the nodes' data directories are left
    /// there at teardown, for the returned handle to bring back or remove once the verdict is
    /// known (`state.json` stays until then, so `faultline heal` removes them should the harness
    /// die first). None for local runs and the other `--keep-data` settings.
    pub fn defer_data(&mut self) -> Option<super::remote::RemoteData> {
        let r = self.nodes.remote.as_mut()?;
        if r.keep_data != super::KeepData::OnFailure {
            return None;
        }
        r.deferred = true;
        let names = match self.nodes.cluster.launched() {
            Some(d) => d.nodes.iter().map(|n| n.name.clone()).collect(),
            None => Vec::new(),
        };
        Some(super::remote::RemoteData::new(
            &r.hosts,
            names,
            r.nodes_dir.clone(),
            self.nodes.state_path.clone(),
        ))
    }

    pub fn log_path(&self, node: usize) -> &Path {
        match &self.nodes.cluster {
            Fleet::Raftkv(c) => &c.nodes[node].log_path,
            Fleet::Remote(c) => &c.launched.nodes[node].log_path,
            Fleet::Described(d) => &d.nodes[node].log_path,
        }
    }
}

/// A run on remote hosts: what `--hosts` and the flags say.
struct RemoteSetup<'a> {
    on: OnHosts,
    nodes: usize,
    run_dir: &'a Path,
    seed: u64,
    clocks: bool,
    latency: Duration,
    loss: f64,
    keep_data: super::KeepData,
}

/// Node i on host i: raftkv as faultline's own binary copied there, a described system through
/// its commands run there; partitions by nftables on each host; clocks by control files there.
fn remote(
    setup: RemoteSetup,
    described: Option<Box<Described>>,
    node_flags: Vec<String>,
    mut leftovers: Leftovers,
    state_path: PathBuf,
) -> Result<Supervisor, String> {
    use super::remote::{RemoteCluster, RunHosts, SshNet};
    let n = setup.nodes;
    let hosts = &setup.on.hosts;
    if hosts.len() < n {
        return Err(format!(
            "--hosts names {} hosts for {n} nodes: node i runs on host i",
            hosts.len()
        ));
    }
    let run_id = setup
        .run_dir
        .file_name()
        .map_or("run".into(), |f| f.to_string_lossy().into_owned());
    // Recorded before anything is put on a host: a harness killed from here on leaves nothing
    // that `faultline heal` cannot find.
    leftovers.remote = hosts
        .iter()
        .take(n)
        .map(|h| nemesis::cleanup::RemoteRecord {
            host: serde_json::to_value(h).expect("a host serializes"),
            dir: RunHosts::dir_for(h, &run_id),
            ..Default::default()
        })
        .collect();
    leftovers
        .save(&state_path)
        .map_err(|e| format!("state.json: {e}"))?;
    let control = super::remote::control_dir(std::process::id());
    std::fs::create_dir_all(&control).map_err(|e| format!("{}: {e}", control.display()))?;
    let on = RunHosts::new(hosts, n, &control, &run_id);
    // Dropped on any error below, which cleans up whatever was started on the hosts.
    let remote = Remote {
        hosts: on,
        nodes_dir: setup.run_dir.join("nodes"),
        keep_data: setup.keep_data,
        deferred: false,
    };
    let on = &remote.hosts;
    let needs_binary = described.as_ref().is_none_or(|d| d.runs_faultline());
    let programs = if needs_binary {
        on.copy_faultline()?
    } else {
        on.make_dir()?;
        vec![String::new(); n]
    };
    let clocks = if setup.clocks {
        let libs = setup.on.facts[..n]
            .iter()
            .map(|f| f.libfaketime.clone().unwrap_or_default())
            .collect();
        Some(Arc::new(on.clocks(libs)?))
    } else {
        None
    };
    let env = |i: usize| {
        let mut env = vec![on.mark(i)];
        env.extend(clocks.as_ref().map(|c| c.env(i)).unwrap_or_default());
        env
    };
    let mut net = SshNet::create(on)?;
    leftovers.remote.iter_mut().for_each(|r| r.rules = true);
    if !setup.latency.is_zero() || setup.loss > 0.0 {
        let set = net.set_netem(setup.latency, setup.loss);
        for (r, dev) in leftovers.remote.iter_mut().zip(net.netem_devices()) {
            r.netem = Some(dev.clone());
        }
        leftovers
            .save(&state_path)
            .map_err(|e| format!("state.json: {e}"))?;
        set?;
    }
    let placements = (0..n)
        .map(|i| Placement {
            ip: hosts[i].address.clone(),
            netns: None,
            env: env(i),
            host: Some(targets::launched::OnHost {
                shell: on.ssh[i].clone(),
                dir: on.dirs[i].clone(),
                program: programs[i].clone(),
            }),
        })
        .collect();
    let cluster = match described {
        None => Fleet::Remote(Box::new(RemoteCluster::launch(
            placements,
            &remote.nodes_dir,
            &node_flags,
        )?)),
        Some(desc) => {
            let name = desc.name.clone();
            let program = std::env::current_exe().map_err(|e| format!("faultline: {e}"))?;
            Fleet::Described(Box::new(
                LaunchedNodes::launch(*desc, placements, &remote.nodes_dir, &program)
                    .map_err(|e| format!("starting {name} on the hosts: {e}"))?,
            ))
        }
    };
    let mut nodes = Nodes {
        cluster,
        clocks: clocks.clone(),
        leftovers,
        state_path,
        remote: Some(remote),
    };
    for i in 0..n {
        nodes
            .clock_started(i)
            .map_err(|e| format!("clocks on the hosts: {e}"))?;
        nodes.record_pid(i);
    }
    nodes.save();
    Ok(Supervisor {
        nodes,
        nemesis: Nemesis::new(Box::new(net), clocks, Rng::new(setup.seed ^ 0x6e65_6d65)),
    })
}

/// raftkv on loopback behind its proxies, launched; a port taken between its choice and a
/// node's bind (another program's connection can land on it) is retried on fresh ports, twice.
fn proxied_cluster(
    placements: &[Placement],
    seed: u64,
    spec: impl Fn(Vec<NodeSpec>) -> ClusterSpec,
) -> Result<(ProxyNet, LocalCluster), String> {
    let mut attempt = 0;
    loop {
        attempt += 1;
        let (proxy, specs) = proxied(placements.to_vec(), seed)?;
        let spec = spec(specs);
        let dir = spec.dir.clone();
        match LocalCluster::launch(spec) {
            Ok(c) => return Ok((proxy, c)),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt < 3 => {
                eprintln!("faultline: {e}; starting the nodes again on other ports");
                // Whatever the first nodes wrote belongs to a cluster that never ran.
                for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                    if entry.path().is_dir() {
                        let _ = std::fs::remove_dir_all(entry.path());
                    }
                }
            }
            Err(e) => return Err(format!("starting raftkv nodes: {e}")),
        }
    }
}

/// raftkv on loopback behind a proxy per directed link: every node gets a client and a peer
/// port, and reaches each peer through the proxy of that link.
fn proxied(placements: Vec<Placement>, seed: u64) -> Result<(ProxyNet, Vec<NodeSpec>), String> {
    let port = || {
        free_port()
            .map(|p| format!("127.0.0.1:{p}"))
            .map_err(|e| format!("ports: {e}"))
    };
    let listen: Vec<(String, String)> = placements
        .iter()
        .map(|_| Ok((port()?, port()?)))
        .collect::<Result<_, String>>()?;
    let peer_addrs: Vec<SocketAddr> = listen
        .iter()
        .map(|(_, p)| p.parse().expect("an address we made"))
        .collect();
    let proxy = ProxyNet::start(&peer_addrs, seed).map_err(|e| format!("proxy: {e}"))?;
    let n = placements.len();
    let specs = placements
        .into_iter()
        .enumerate()
        .map(|(i, p)| NodeSpec {
            client_addr: listen[i].0.clone(),
            peer_listen: listen[i].1.clone(),
            peers: (0..n)
                .map(|j| {
                    let addr = if i == j {
                        listen[i].1.clone()
                    } else {
                        proxy.addr(i, j).to_string()
                    };
                    (j as u64 + 1, addr)
                })
                .collect(),
            netns: None,
            env: p.env,
        })
        .collect();
    Ok((proxy, specs))
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for e in self.nemesis.heal_all(&mut self.nodes, false) {
            eprintln!("faultline: while healing: {e}");
        }
        // Nodes on hosts stop, and their logs (and data) come back, before the hosts are
        // cleaned up.
        if let (Some(r), Some(d)) = (&self.nodes.remote, self.nodes.cluster.launched_mut()) {
            let data = r.keep_data == super::KeepData::Always;
            for e in d.bring_back(&r.nodes_dir, data) {
                eprintln!("faultline: bringing back from the hosts: {e}");
            }
        }
        for i in 0..self.nodes.size() {
            if let Some(d) = self.nodes.cluster.launched_mut() {
                if let Err(e) = d.stop(i) {
                    eprintln!("faultline: {e}");
                }
            } else if let Fleet::Raftkv(c) = &mut self.nodes.cluster {
                c.kill(i);
            }
        }
        // Proxies stop and namespaces go (rules on remote hosts too, and whatever of the run
        // is still on them); only then is there nothing left for `faultline heal`.
        self.nemesis.close();
        let mut deferred = false;
        if let Some(mut r) = self.nodes.remote.take() {
            deferred = r.deferred;
            for e in r.hosts.cleanup(deferred) {
                eprintln!("faultline: cleaning up on the hosts: {e}");
            }
            let _ = std::fs::remove_dir_all(super::remote::control_dir(std::process::id()));
        }
        // Data left on the hosts is still the record's business until it is fetched or removed.
        if !deferred {
            let _ = std::fs::remove_file(&self.nodes.state_path);
        }
    }
}

/// Local nodes' places: in network namespaces of their own (their names saved in the run's
/// state before they are made, for `faultline heal`), or on loopback.
fn local_places(
    kind: NetKind,
    n: usize,
    leftovers: &mut Leftovers,
    state_path: &Path,
) -> Result<(Box<dyn Net>, Vec<Placement>), String> {
    let me = std::process::id();
    let io = |what: &'static str| move |e: std::io::Error| format!("{what}: {e}");
    Ok(match kind {
        NetKind::Netns => {
            nemesis::netns::check_available()?;
            let prefix = format!("fl{:04x}", (me ^ (me >> 16)) & 0xffff);
            // Record the names before making them: a harness killed halfway leaves no
            // namespace that `faultline heal` does not know of.
            leftovers.namespaces = (1..=n).map(|i| format!("{prefix}n{i}")).collect();
            leftovers.bridge = Some(format!("{prefix}br"));
            leftovers.save(state_path).map_err(io("state.json"))?;
            let net = NamespaceNet::create(&prefix, n).map_err(io("network namespaces"))?;
            let placements = (0..n)
                .map(|i| Placement {
                    ip: net.addr(i).to_string(),
                    netns: Some(net.path(i)),
                    env: Vec::new(),
                    host: None,
                })
                .collect();
            (Box::new(net), placements)
        }
        // On loopback a described system's nodes reach each other as they are configured
        // to: nothing can be cut. (raftkv gets a proxy per link below.)
        NetKind::Proxy => {
            let net = Uncut {
                mechanism: "loopback",
                why: "this target's nodes talk to each other directly: partitions need --net netns",
            };
            let placements = (0..n)
                .map(|_| Placement {
                    ip: "127.0.0.1".into(),
                    netns: None,
                    env: Vec::new(),
                    host: None,
                })
                .collect();
            (Box::new(net), placements)
        }
    })
}

/// raftkv's nodes, launched at `placements` (with a proxy per link on loopback, which becomes
/// the run's network: `net`).
fn launch_raftkv(
    kind: NetKind,
    (seed, latency, loss): (u64, Duration, f64),
    placements: &[Placement],
    (program, nodes_dir): (PathBuf, &Path),
    node_flags: Vec<String>,
    net: &mut Box<dyn Net>,
) -> Result<LocalCluster, String> {
    let io = |what: &'static str| move |e: std::io::Error| format!("{what}: {e}");
    let specs = match kind {
        NetKind::Netns => {
            let peers: BTreeMap<u64, String> = placements
                .iter()
                .enumerate()
                .map(|(j, p)| (j as u64 + 1, format!("{}:7100", p.ip)))
                .collect();
            placements
                .iter()
                .map(|p| NodeSpec {
                    client_addr: format!("{}:7000", p.ip),
                    peer_listen: format!("{}:7100", p.ip),
                    peers: peers.clone(),
                    netns: p.netns.clone(),
                    env: p.env.clone(),
                })
                .collect()
        }
        NetKind::Proxy => Vec::new(),
    };
    let spec = |nodes| ClusterSpec {
        program: program.clone(),
        program_args: vec!["raftkv".into()],
        dir: nodes_dir.to_path_buf(),
        extra: node_flags.clone(),
        nodes,
        keep_dir: true,
    };
    let cluster = if kind == NetKind::Proxy {
        let (proxy, cluster) = proxied_cluster(placements, seed, spec)?;
        proxy.set_latency(latency);
        proxy.set_loss(loss);
        *net = Box::new(proxy);
        cluster
    } else {
        LocalCluster::launch(spec(specs)).map_err(io("starting raftkv nodes"))?
    };
    Ok(cluster)
}
