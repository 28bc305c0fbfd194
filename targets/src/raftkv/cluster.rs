//! Launching a raftkv cluster as local processes on loopback, each in its own data directory.
//! Dropping a [`LocalCluster`] kills and reaps every node and removes the directory.

use crate::client::Client;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct LocalNode {
    pub id: u64,
    pub client_addr: String,
    pub peer_addr: String,
    pub data_dir: PathBuf,
    pub child: Option<Child>,
}

pub struct LocalCluster {
    binary: PathBuf,
    pub dir: PathBuf,
    pub nodes: Vec<LocalNode>,
    extra: Vec<String>,
}

/// A free loopback port (bound and released; good enough on a quiet machine).
fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl LocalCluster {
    /// Starts `n` nodes of `binary` under `dir` with extra flags (modes, knobs) for every node.
    pub fn start(
        binary: &Path,
        n: u64,
        dir: &Path,
        extra: &[&str],
    ) -> std::io::Result<LocalCluster> {
        std::fs::create_dir_all(dir)?;
        let mut nodes = Vec::new();
        for id in 1..=n {
            nodes.push(LocalNode {
                id,
                client_addr: format!("127.0.0.1:{}", free_port()?),
                peer_addr: format!("127.0.0.1:{}", free_port()?),
                data_dir: dir.join(format!("n{id}")),
                child: None,
            });
        }
        let mut cluster = LocalCluster {
            binary: binary.to_path_buf(),
            dir: dir.to_path_buf(),
            nodes,
            extra: extra.iter().map(|s| s.to_string()).collect(),
        };
        for i in 0..n as usize {
            cluster.start_node(i)?;
        }
        Ok(cluster)
    }

    fn list(&self, f: impl Fn(&LocalNode) -> &str) -> String {
        self.nodes
            .iter()
            .map(|n| format!("{}={}", n.id, f(n)))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// (Re)starts node `i` (0-based) from its data directory; its log goes to `n{id}.log`.
    pub fn start_node(&mut self, i: usize) -> std::io::Result<()> {
        let peers = self.list(|n| &n.peer_addr);
        let clients = self.list(|n| &n.client_addr);
        let n = &self.nodes[i];
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("n{}.log", n.id)))?;
        let child = Command::new(&self.binary)
            .args([
                "--id",
                &n.id.to_string(),
                "--listen",
                &n.client_addr,
                "--peer-listen",
                &n.peer_addr,
            ])
            .args(["--peers", &peers, "--clients", &clients])
            .arg("--data-dir")
            .arg(&n.data_dir)
            .args(&self.extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()?;
        self.nodes[i].child = Some(child);
        Ok(())
    }

    /// SIGKILL node `i` and reap it.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The client address of the node every live node agrees leads, waiting up to `timeout`.
    pub fn wait_for_leader(&self, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let mut seen = Vec::new();
            for n in self.nodes.iter().filter(|n| n.child.is_some()) {
                let mut c = Client::new(&n.client_addr, Duration::from_millis(300));
                if let Ok(r) = c.request("GET", "/status", None) {
                    seen.push(r.body["leader_addr"].as_str().map(str::to_string));
                }
            }
            let live = self.nodes.iter().filter(|n| n.child.is_some()).count();
            if seen.len() == live
                && !seen.is_empty()
                && seen.iter().all(|l| l.is_some() && *l == seen[0])
            {
                return seen[0].clone();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            self.kill(i);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
