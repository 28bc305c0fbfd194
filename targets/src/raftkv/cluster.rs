//! Launching a raftkv cluster as local processes, each node with its own data directory and log.
//!
//! [`LocalCluster::start`] is the quick form for tests: `n` nodes on loopback that reach each
//! other directly. [`LocalCluster::launch`] takes a [`ClusterSpec`] saying, per node, where it
//! listens, how it reaches each peer (directly, or through a fault-injecting proxy), which network
//! namespace it runs in and which environment it gets (libfaketime's, for clock faults).
//!
//! Every node runs in its own process group, so a Ctrl-C typed at the harness reaches the harness
//! only, and the harness decides how the nodes end. Dropping a [`LocalCluster`] kills and reaps
//! every node, and removes the directory unless the spec asks to keep it.

use crate::client::Client;
use std::collections::BTreeMap;
use std::fs::File;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How to launch one node.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// The address clients use (and the node listens on).
    pub client_addr: String,
    /// The address the node listens on for peers.
    pub peer_listen: String,
    /// How this node reaches every member's peer port, its own included: `id → addr`.
    pub peers: BTreeMap<u64, String>,
    /// A network namespace to run in (a path such as `/run/netns/NAME`).
    pub netns: Option<PathBuf>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
}

/// How to launch a cluster.
#[derive(Clone, Debug)]
pub struct ClusterSpec {
    /// The program, and the arguments that come before the node's flags (for a program that
    /// runs raftkv as a subcommand).
    pub program: PathBuf,
    pub program_args: Vec<String>,
    /// Directory for node data (`n{id}/`) and logs (`n{id}.log`).
    pub dir: PathBuf,
    /// Flags for every node (modes, knobs).
    pub extra: Vec<String>,
    pub nodes: Vec<NodeSpec>,
    /// Keep `dir` when the cluster is dropped (stored runs keep their node logs).
    pub keep_dir: bool,
}

pub struct LocalNode {
    pub id: u64,
    pub client_addr: String,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    pub child: Option<Child>,
    spec: NodeSpec,
    /// Started with `--join`: it came after the launch, as a learner.
    joined: bool,
}

pub struct LocalCluster {
    spec: ClusterSpec,
    pub dir: PathBuf,
    pub nodes: Vec<LocalNode>,
}

/// Makes `cmd` run in the network namespace at `netns` (a path such as `/run/netns/NAME`).
/// The namespace is opened here and entered in the child between fork and exec (setns is
/// async-signal-safe); keep the returned file open until the command is spawned.
pub fn in_namespace(cmd: &mut Command, netns: Option<&Path>) -> std::io::Result<Option<File>> {
    let Some(path) = netns else {
        return Ok(None);
    };
    let ns = File::open(path)?;
    let fd = ns.as_raw_fd();
    // SAFETY: the closure only calls setns, which is async-signal-safe; `fd` stays open until
    // the command is spawned (the caller keeps the returned file).
    unsafe {
        cmd.pre_exec(move || {
            let fd = std::os::fd::BorrowedFd::borrow_raw(fd);
            nix::sched::setns(fd, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(std::io::Error::from)
        });
    }
    Ok(Some(ns))
}

/// The lowest port [`free_port`] takes below the ephemeral range.
const PORT_FLOOR: u16 = 10_000;

/// A free loopback port for a node to listen on: bound and released, and taken below the
/// kernel's ephemeral range where it can, because a port in that range can be taken between our
/// release and the node's bind by any outgoing connection on the machine (the proxy's, another
/// test's) — which shows as a node that cannot start ("Address already in use").
///
/// Ports handed out by one process are distinct: the sequence is drawn from one seed per process
/// (a fixed stride through the range), and every port handed out is remembered.
pub fn free_port() -> std::io::Result<u16> {
    use std::collections::HashSet;
    use std::sync::{Mutex, OnceLock};
    struct Ports {
        seed: u64,
        next: u64,
        given: HashSet<u16>,
    }
    static PORTS: OnceLock<Mutex<Ports>> = OnceLock::new();
    let ports = PORTS.get_or_init(|| {
        // Spread over processes, so parallel harnesses rarely try the same port.
        let seed = u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15)
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
        Mutex::new(Ports {
            seed,
            next: 0,
            given: HashSet::new(),
        })
    });
    let mut p = ports.lock().unwrap_or_else(|e| e.into_inner());
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    if low > PORT_FLOOR + 1_000 {
        let span = u64::from(low - PORT_FLOOR);
        for _ in 0..256 {
            let k = p.next;
            p.next += 1;
            // 7919 is prime and no span here is a multiple of it: one lap visits every port.
            let port = PORT_FLOOR + ((p.seed.wrapping_add(k.wrapping_mul(7919))) % span) as u16;
            if !p.given.contains(&port) && TcpListener::bind(("127.0.0.1", port)).is_ok() {
                p.given.insert(port);
                return Ok(port);
            }
        }
    }
    loop {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if p.given.insert(port) {
            return Ok(port);
        }
    }
}

/// The `/status` of the raftkv node whose client address is `addr`, if it answers within
/// 500 ms.
pub fn status_at(addr: &str) -> Option<serde_json::Value> {
    let mut c = Client::new(addr, Duration::from_millis(500));
    let r = c.request("GET", "/status", None).ok()?;
    (r.status == 200).then_some(r.body)
}

/// `n` nodes on loopback on free ports, reaching each other directly.
pub fn loopback_nodes(n: u64) -> std::io::Result<Vec<NodeSpec>> {
    let mut addrs = Vec::new();
    for _ in 0..n {
        addrs.push((
            format!("127.0.0.1:{}", free_port()?),
            format!("127.0.0.1:{}", free_port()?),
        ));
    }
    let peers: BTreeMap<u64, String> = (1..=n)
        .zip(&addrs)
        .map(|(id, (_, p))| (id, p.clone()))
        .collect();
    Ok(addrs
        .into_iter()
        .map(|(client_addr, peer_listen)| NodeSpec {
            client_addr,
            peer_listen,
            peers: peers.clone(),
            netns: None,
            env: Vec::new(),
        })
        .collect())
}

impl LocalCluster {
    /// Starts `n` nodes of `binary` on loopback under `dir` with extra flags for every node.
    /// A port taken between its choice and the node's bind is retried on other ports.
    pub fn start(
        binary: &Path,
        n: u64,
        dir: &Path,
        extra: &[&str],
    ) -> std::io::Result<LocalCluster> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let launched = LocalCluster::launch(ClusterSpec {
                program: binary.to_path_buf(),
                program_args: Vec::new(),
                dir: dir.to_path_buf(),
                extra: extra.iter().map(|s| s.to_string()).collect(),
                nodes: loopback_nodes(n)?,
                keep_dir: false,
            });
            match launched {
                Err(e) if e.kind() == std::io::ErrorKind::AddrInUse && attempt < 3 => continue,
                other => return other,
            }
        }
    }

    /// Starts every node of `spec`.
    pub fn launch(spec: ClusterSpec) -> std::io::Result<LocalCluster> {
        std::fs::create_dir_all(&spec.dir)?;
        let nodes = spec
            .nodes
            .iter()
            .enumerate()
            .map(|(i, ns)| {
                let id = i as u64 + 1;
                LocalNode {
                    id,
                    client_addr: ns.client_addr.clone(),
                    data_dir: spec.dir.join(format!("n{id}")),
                    log_path: spec.dir.join(format!("n{id}.log")),
                    child: None,
                    spec: ns.clone(),
                    joined: false,
                }
            })
            .collect();
        let mut cluster = LocalCluster {
            dir: spec.dir.clone(),
            spec,
            nodes,
        };
        for i in 0..cluster.nodes.len() {
            cluster.start_node(i)?;
        }
        cluster.await_serving(Duration::from_secs(5))?;
        Ok(cluster)
    }

    /// Waits until every node answers `/status`; a node that exited because a port it was
    /// given was taken in the meantime is an [`std::io::ErrorKind::AddrInUse`] error naming it,
    /// which callers answer by trying other ports. Any other early exit is an error too.
    fn await_serving(&mut self, patience: Duration) -> std::io::Result<()> {
        let deadline = Instant::now() + patience;
        let mut waiting: Vec<usize> = (0..self.nodes.len()).collect();
        while !waiting.is_empty() {
            let mut still = Vec::new();
            for i in waiting {
                if let Some(status) = self.exited(i) {
                    let log = std::fs::read_to_string(&self.nodes[i].log_path).unwrap_or_default();
                    let last = log.lines().last().unwrap_or("").to_string();
                    let kind = if log.contains("Address already in use") || log.contains("in use") {
                        std::io::ErrorKind::AddrInUse
                    } else {
                        std::io::ErrorKind::Other
                    };
                    return Err(std::io::Error::new(
                        kind,
                        format!("n{} exited at its start ({status}): {last}", i + 1),
                    ));
                }
                if status_at(&self.nodes[i].client_addr).is_none() {
                    still.push(i);
                }
            }
            waiting = still;
            if waiting.is_empty() || Instant::now() >= deadline {
                // A node slow to answer is for the caller's own wait to judge.
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// (Re)starts node `i` (0-based) from its data directory; its log is appended to.
    pub fn start_node(&mut self, i: usize) -> std::io::Result<()> {
        let clients = self
            .nodes
            .iter()
            .map(|n| format!("{}={}", n.id, n.client_addr))
            .collect::<Vec<_>>()
            .join(",");
        let n = &self.nodes[i];
        let peers = n
            .spec
            .peers
            .iter()
            .map(|(id, a)| format!("{id}={a}"))
            .collect::<Vec<_>>()
            .join(",");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log_path)?;
        let mut cmd = Command::new(&self.spec.program);
        cmd.args(&self.spec.program_args)
            .args(["--id", &n.id.to_string(), "--listen", &n.client_addr])
            .args(["--peer-listen", &n.spec.peer_listen])
            .args(["--peers", &peers, "--clients", &clients])
            .arg("--data-dir")
            .arg(&n.data_dir)
            .args(&self.spec.extra)
            .args(n.joined.then_some("--join"))
            .envs(n.spec.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .process_group(0);
        let _netns = in_namespace(&mut cmd, n.spec.netns.as_deref())?;
        let child = cmd.spawn()?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// The process id of node `i`, while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].child.as_ref().map(Child::id)
    }

    /// SIGKILL node `i` and reap it. A stopped process dies of SIGKILL too.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Whether node `i`'s process has exited on its own (it is reaped if so).
    pub fn exited(&mut self, i: usize) -> Option<std::process::ExitStatus> {
        let status = self.nodes[i].child.as_mut()?.try_wait().ok()??;
        self.nodes[i].child = None;
        Some(status)
    }

    /// The client address of the node every live node agrees leads, waiting up to `timeout`.
    pub fn wait_for_leader(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(l) = self.leader() {
                return Some(self.nodes[l].client_addr.clone());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Node `i`'s `/status`, if it runs and answers within 500 ms.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        let n = &self.nodes[i];
        n.child.as_ref()?;
        status_at(&n.client_addr)
    }

    /// The index of the node every live node names as leader right now, if they agree.
    pub fn leader(&self) -> Option<usize> {
        let mut seen = Vec::new();
        for i in (0..self.nodes.len()).filter(|&i| self.nodes[i].child.is_some()) {
            seen.push(self.status(i)?["leader"].as_u64()?);
        }
        let first = *seen.first()?;
        if seen.iter().all(|&l| l == first) {
            self.nodes.iter().position(|n| n.id == first)
        } else {
            None
        }
    }
}

/// A node's view of the configuration, as `GET /admin/members` gives it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Deserialize)]
pub struct MembersView {
    pub id: u64,
    pub voters: Vec<u64>,
    #[serde(default)]
    pub learners: Vec<u64>,
    /// The log index of the entry that set it.
    pub index: u64,
    pub committed: bool,
    pub leader: Option<u64>,
    pub term: u64,
}

/// One change of membership, by node index (0-based).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemberChange {
    /// Added as a learner; the leader promotes it once it holds the log.
    Add(usize),
    Remove(usize),
}

impl LocalCluster {
    /// Starts one more node on loopback, joining the cluster as a learner (it is not a member
    /// until [`MemberChange::Add`]); its index.
    pub fn join(&mut self) -> std::io::Result<usize> {
        let id = self.nodes.iter().map(|n| n.id).max().unwrap_or(0) + 1;
        let client_addr = format!("127.0.0.1:{}", free_port()?);
        let peer_listen = format!("127.0.0.1:{}", free_port()?);
        let mut peers = self
            .nodes
            .first()
            .map(|n| n.spec.peers.clone())
            .unwrap_or_default();
        peers.insert(id, peer_listen.clone());
        let spec = NodeSpec {
            client_addr: client_addr.clone(),
            peer_listen,
            peers,
            netns: None,
            env: Vec::new(),
        };
        self.nodes.push(LocalNode {
            id,
            client_addr,
            data_dir: self.dir.join(format!("n{id}")),
            log_path: self.dir.join(format!("n{id}.log")),
            child: None,
            spec,
            joined: true,
        });
        let i = self.nodes.len() - 1;
        self.start_node(i)?;
        Ok(i)
    }

    /// Node `i`'s view of the configuration, if it runs and answers.
    pub fn members_view(&self, i: usize) -> Option<MembersView> {
        let n = &self.nodes[i];
        n.child.as_ref()?;
        members_view_at(&n.client_addr)
    }

    /// The nodes as membership changes see them.
    pub fn member_nodes(&self) -> Vec<MemberNode> {
        self.nodes
            .iter()
            .map(|n| MemberNode {
                id: n.id,
                peer_addr: n.spec.peer_listen.clone(),
                client_addr: n.client_addr.clone(),
                running: n.child.is_some(),
            })
            .collect()
    }

    /// See [`leader_view_of`].
    pub fn leader_view(&self) -> Option<(usize, MembersView)> {
        leader_view_of(&self.member_nodes())
    }

    /// See [`change_members_of`].
    pub fn change_members(
        &self,
        change: MemberChange,
        timeout: Duration,
    ) -> Result<MembersView, String> {
        change_members_of(&self.member_nodes(), change, timeout)
    }
}

/// A raftkv node as membership changes see it, wherever it runs.
#[derive(Clone, Debug)]
pub struct MemberNode {
    pub id: u64,
    pub peer_addr: String,
    pub client_addr: String,
    pub running: bool,
}

/// The view of the configuration of the node serving clients at `addr`, if it answers.
pub fn members_view_at(addr: &str) -> Option<MembersView> {
    let mut c = Client::new(addr, Duration::from_millis(500));
    let r = c.request("GET", "/admin/members", None).ok()?;
    (r.status == 200)
        .then(|| serde_json::from_value(r.body).ok())
        .flatten()
}

/// The view of the node that leads, with its index: one that a majority of the voters of its
/// configuration name as leader in its term. A leader cut off while the others elected another
/// (it still says it leads) does not count, and neither does its configuration; nodes that
/// campaign in ever higher terms without winning (outside the configuration, or on the
/// minority side of a partition) do not unseat it.
pub fn leader_view_of(nodes: &[MemberNode]) -> Option<(usize, MembersView)> {
    let views: Vec<(usize, MembersView)> = (0..nodes.len())
        .filter(|&i| nodes[i].running)
        .filter_map(|i| Some((i, members_view_at(&nodes[i].client_addr)?)))
        .collect();
    let backed = |v: &MembersView| {
        let backers = views
            .iter()
            .filter(|(_, o)| v.voters.contains(&o.id))
            .filter(|(_, o)| o.term == v.term && o.leader == Some(v.id))
            .count();
        backers > v.voters.len() / 2
    };
    views
        .iter()
        .filter(|(i, v)| v.leader == Some(nodes[*i].id) && backed(v))
        .max_by_key(|(_, v)| v.term)
        .cloned()
}

/// Whether `view` shows `change` made and committed (an added node already a voter).
fn change_holds(nodes: &[MemberNode], view: &MembersView, change: MemberChange) -> bool {
    let member = |i: usize| {
        let id = nodes[i].id;
        view.voters.contains(&id) || view.learners.contains(&id)
    };
    view.committed
        && match change {
            MemberChange::Add(i) => view.voters.contains(&nodes[i].id),
            MemberChange::Remove(i) => !member(i),
        }
}

/// Makes `change` through the leader and waits until the leader's own member list shows it
/// committed (an added node promoted), retrying refusals (another change in flight, a new
/// leader's first entry not committed, no leader) until `timeout`. The leader's view after.
pub fn change_members_of(
    nodes: &[MemberNode],
    change: MemberChange,
    timeout: Duration,
) -> Result<MembersView, String> {
    let deadline = Instant::now() + timeout;
    let (method, path, body, node) = match change {
        MemberChange::Add(i) => {
            let n = &nodes[i];
            let body = serde_json::json!({
                "id": n.id, "addr": n.peer_addr, "client_addr": n.client_addr,
            });
            ("POST", "/admin/members".to_string(), Some(body), n.id)
        }
        MemberChange::Remove(i) => {
            let id = nodes[i].id;
            ("DELETE", format!("/admin/members/{id}"), None, id)
        }
    };
    let mut last = String::from("no leader answered");
    // The term of the leader that accepted it: a later leader may not hold the entry, and is
    // asked again.
    let mut accepted: Option<u64> = None;
    while Instant::now() < deadline {
        if let Some((l, view)) = leader_view_of(nodes) {
            if change_holds(nodes, &view, change) {
                return Ok(view);
            }
            if accepted != Some(view.term) {
                let mut c = Client::new(&nodes[l].client_addr, Duration::from_secs(2));
                match c.request(method, &path, body.as_ref()) {
                    Ok(r) if r.status == 202 => accepted = Some(view.term),
                    Ok(r) => last = format!("{} {}", r.status, r.text),
                    Err(e) => last = e.to_string(),
                }
            }
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let verb = if matches!(change, MemberChange::Add(_)) {
        "added and promoted"
    } else {
        "removed"
    };
    Err(format!(
        "n{node} was not {verb} within {} ms ({}; last answer: {last})",
        timeout.as_millis(),
        if accepted.is_some() {
            "the change was accepted but not seen committed"
        } else {
            "no leader accepted the change"
        },
    ))
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        if !self.spec.keep_dir {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_bindable_distinct_and_clear_of_the_ephemeral_range() {
        let low: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap();
        let ports: Vec<u16> = (0..20).map(|_| free_port().unwrap()).collect();
        let distinct: std::collections::BTreeSet<u16> = ports.iter().copied().collect();
        assert_eq!(distinct.len(), ports.len(), "{ports:?}");
        for p in ports {
            // Below the ephemeral range whenever there is room for it (free_port's own rule).
            if low > PORT_FLOOR + 1_000 {
                assert!(p < low, "port {p} is in the ephemeral range from {low}");
            }
            TcpListener::bind(("127.0.0.1", p)).unwrap();
        }
    }
}
