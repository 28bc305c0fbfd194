//! The supervisor: owns the cluster under test and everything done to it — node processes, the
//! network mechanism, the clocks, the nemesis — and undoes all of it when dropped, whether the run
//! ends normally, is interrupted, or panics. While it lives, `state.json` in the run directory
//! names every process and namespace, for `faultline heal` should the harness itself be killed.

use checker::generate::Rng;
use nemesis::cleanup::Leftovers;
use nemesis::clock::Clocks;
use nemesis::netns::NamespaceNet;
use nemesis::proxy::ProxyNet;
use nemesis::{Cluster, Nemesis, Net};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use targets::raftkv::cluster::{free_port, ClusterSpec, LocalCluster, NodeSpec};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum NetKind {
    /// A TCP proxy per directed link (no privileges).
    Proxy,
    /// Network namespaces, a bridge and nftables rules (root).
    Netns,
}

/// What to launch.
pub struct Setup<'a> {
    pub nodes: usize,
    pub net: NetKind,
    pub run_dir: &'a Path,
    /// Flags for every raftkv node.
    pub node_flags: Vec<String>,
    /// libfaketime, when clock faults are wanted and available.
    pub faketime: Option<PathBuf>,
    pub seed: u64,
    /// Proxy only: latency added to every message, and connection loss per chunk.
    pub latency: Duration,
    pub loss: f64,
}

/// The nodes as the nemesis sees them.
pub struct Nodes {
    cluster: LocalCluster,
    clocks: Option<Arc<Clocks>>,
    leftovers: Leftovers,
    state_path: PathBuf,
}

pub struct Supervisor {
    pub nodes: Nodes,
    pub nemesis: Nemesis,
}

impl Nodes {
    fn save(&self) {
        if let Err(e) = self.leftovers.save(&self.state_path) {
            eprintln!("faultline: cannot write {}: {e}", self.state_path.display());
        }
    }

    fn record_pid(&mut self, node: usize) {
        let pid = self.cluster.pid(node);
        self.leftovers.set_process(node, pid);
        self.save();
    }

    pub fn client_addrs(&self) -> Vec<String> {
        self.cluster
            .nodes
            .iter()
            .map(|n| n.client_addr.clone())
            .collect()
    }

    /// Every running node's `/status`, in node order (None for a node that did not answer).
    pub fn statuses(&self) -> Vec<Option<serde_json::Value>> {
        (0..self.size()).map(|i| self.cluster.status(i)).collect()
    }
}

impl Cluster for Nodes {
    fn size(&self) -> usize {
        self.cluster.nodes.len()
    }

    fn pid(&self, node: usize) -> Option<u32> {
        self.cluster.pid(node)
    }

    fn kill(&mut self, node: usize) -> std::io::Result<()> {
        self.cluster.kill(node);
        self.record_pid(node);
        Ok(())
    }

    fn restart(&mut self, node: usize) -> std::io::Result<()> {
        self.cluster.start_node(node)?;
        if let (Some(c), Some(pid)) = (&self.clocks, self.cluster.pid(node)) {
            c.started(node, pid)?;
        }
        self.record_pid(node);
        Ok(())
    }

    /// The node that says it leads, in the highest term any node claims leadership in.
    fn leader(&self) -> Option<usize> {
        self.statuses()
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let s = s.as_ref()?;
                (s["role"] == "leader").then(|| (s["term"].as_u64().unwrap_or(0), i))
            })
            .max()
            .map(|(_, i)| i)
    }

    fn wall_clock_ms(&self, node: usize) -> Option<f64> {
        self.cluster.status(node)?["wall_clock_ms"].as_f64()
    }
}

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
        let (net, specs): (Box<dyn Net>, Vec<NodeSpec>) = match setup.net {
            NetKind::Proxy => {
                let mut listen = Vec::new();
                for _ in 0..n {
                    listen.push((
                        format!("127.0.0.1:{}", free_port().map_err(io("ports"))?),
                        format!("127.0.0.1:{}", free_port().map_err(io("ports"))?),
                    ));
                }
                let peer_addrs: Vec<SocketAddr> = listen
                    .iter()
                    .map(|(_, p)| p.parse().expect("an address we made"))
                    .collect();
                let proxy = ProxyNet::start(&peer_addrs, setup.seed).map_err(io("proxy"))?;
                proxy.set_latency(setup.latency);
                proxy.set_loss(setup.loss);
                let specs = (0..n)
                    .map(|i| NodeSpec {
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
                        env: Vec::new(),
                    })
                    .collect();
                (Box::new(proxy), specs)
            }
            NetKind::Netns => {
                nemesis::netns::check_available()?;
                let prefix = format!("fl{:04x}", (me ^ (me >> 16)) & 0xffff);
                // Record the names before making them: a harness killed halfway leaves no
                // namespace that `faultline heal` does not know of.
                leftovers.namespaces = (1..=n).map(|i| format!("{prefix}n{i}")).collect();
                leftovers.bridge = Some(format!("{prefix}br"));
                leftovers.save(&state_path).map_err(io("state.json"))?;
                let net = NamespaceNet::create(&prefix, n).map_err(io("network namespaces"))?;
                let peers: BTreeMap<u64, String> = (0..n)
                    .map(|j| (j as u64 + 1, format!("{}:7100", net.addr(j))))
                    .collect();
                let specs = (0..n)
                    .map(|i| NodeSpec {
                        client_addr: format!("{}:7000", net.addr(i)),
                        peer_listen: format!("{}:7100", net.addr(i)),
                        peers: peers.clone(),
                        netns: Some(net.path(i)),
                        env: Vec::new(),
                    })
                    .collect();
                (Box::new(net), specs)
            }
        };
        let clocks = match &setup.faketime {
            Some(lib) => Some(Arc::new(
                Clocks::new(lib, &setup.run_dir.join("clocks"), n).map_err(io("clocks"))?,
            )),
            None => None,
        };
        let specs = specs
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                if let Some(c) = &clocks {
                    s.env = c.env(i);
                }
                s
            })
            .collect();
        leftovers.save(&state_path).map_err(io("state.json"))?;
        let program = std::env::current_exe().map_err(io("finding faultline's own binary"))?;
        let cluster = LocalCluster::launch(ClusterSpec {
            program,
            program_args: vec!["raftkv".into()],
            dir: setup.run_dir.join("nodes"),
            extra: setup.node_flags,
            nodes: specs,
            keep_dir: true,
        })
        .map_err(io("starting raftkv nodes"))?;
        let mut nodes = Nodes {
            cluster,
            clocks: clocks.clone(),
            leftovers,
            state_path,
        };
        for i in 0..n {
            nodes.leftovers.set_process(i, nodes.cluster.pid(i));
            // libfaketime measures rates from the process's start: record it.
            if let (Some(c), Some(pid)) = (&nodes.clocks, nodes.cluster.pid(i)) {
                c.started(i, pid).map_err(io("clocks"))?;
            }
        }
        nodes.save();
        Ok(Supervisor {
            nodes,
            nemesis: Nemesis::new(net, clocks, Rng::new(setup.seed ^ 0x6e65_6d65)),
        })
    }

    /// Waits until the nodes agree on a leader.
    pub fn wait_for_leader(&self, timeout: Duration) -> bool {
        self.nodes.cluster.wait_for_leader(timeout).is_some()
    }

    /// A node that exited on its own (crashed), with its status.
    pub fn crashed(&mut self) -> Option<(usize, std::process::ExitStatus)> {
        (0..self.nodes.size()).find_map(|i| self.nodes.cluster.exited(i).map(|s| (i, s)))
    }

    pub fn log_path(&self, node: usize) -> &Path {
        &self.nodes.cluster.nodes[node].log_path
    }
}

impl Drop for Supervisor {
    fn drop(&mut self) {
        for e in self.nemesis.heal_all(&mut self.nodes, false) {
            eprintln!("faultline: while healing: {e}");
        }
        for i in 0..self.nodes.size() {
            self.nodes.cluster.kill(i);
        }
        // Proxies stop and namespaces go; only then is there nothing left for `faultline heal`.
        self.nemesis.close();
        let _ = std::fs::remove_file(&self.nodes.state_path);
    }
}
