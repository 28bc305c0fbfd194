//! raftkv on remote hosts: node *i* on host *i*, launched, signalled and cut off through SSH
//! ([`super::hosts::Ssh`]), with no agent on the hosts. faultline's own binary is copied to
//! each host (the same architecture is checked first) and runs there as `faultline raftkv`; node
//! logs come back into the run's store at teardown; partitions are nftables rules on each host
//! (the same `inet faultline` table and grudge rules as `--net netns`), confirmed by listing them
//! back; pause and kill are signals, confirmed by reading the process state back.

use super::hosts::{Host, Ssh};
use nemesis::{Grudge, Net};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// raftkv's ports on every host (one node a host).
const CLIENT_PORT: u16 = 7001;
const PEER_PORT: u16 = 7101;

pub struct RemoteNode {
    pub id: u64,
    pub client_addr: String,
    pub log_path: PathBuf,
    pid: Option<u32>,
}

pub struct RemoteCluster {
    pub ssh: Vec<Ssh>,
    pub nodes: Vec<RemoteNode>,
    /// The run's directory on every host.
    dir: String,
    flags: Vec<String>,
    peers: String,
    clients: String,
    /// Teardown ran (it runs once: the logs it copied must not be copied again, emptied).
    torn_down: bool,
}

/// Where a harness keeps its SSH control sockets (short: a socket path is limited to about
/// 100 bytes); named by the harness's pid, so that `faultline heal` can end a killed one's.
pub fn control_dir(harness_pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("fl-ssh-{harness_pid}"))
}

/// A shell word, quoted.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

impl RemoteCluster {
    /// Copies faultline to the first `n` hosts and starts a node on each.
    pub fn launch(
        hosts: &[Host],
        n: usize,
        control_dir: &Path,
        nodes_dir: &Path,
        flags: Vec<String>,
        run_id: &str,
    ) -> Result<RemoteCluster, String> {
        if hosts.len() < n {
            return Err(format!(
                "--hosts names {} hosts for {n} nodes: node i runs on host i",
                hosts.len()
            ));
        }
        let dir = RemoteCluster::dir_for(run_id);
        let ssh: Vec<Ssh> = hosts[..n]
            .iter()
            .map(|h| Ssh::new(h.clone(), control_dir))
            .collect();
        let program = std::env::current_exe().map_err(|e| format!("faultline's binary: {e}"))?;
        let binary = std::fs::read(&program).map_err(|e| format!("{}: {e}", program.display()))?;
        for s in &ssh {
            let arch = s.run("uname -m")?;
            if arch.trim() != std::env::consts::ARCH {
                return Err(format!(
                    "{} ({}) is {}, this machine {}: faultline's binary cannot run there",
                    s.host.name,
                    s.host.address,
                    arch.trim(),
                    std::env::consts::ARCH
                ));
            }
            s.run_with(
                &format!("mkdir -p {dir} && cat > {dir}/faultline && chmod +x {dir}/faultline"),
                Some(&binary),
            )?;
        }
        let addr = |i: usize, port: u16| format!("{}:{port}", hosts[i].address);
        let list = |port: u16| {
            (0..n)
                .map(|i| format!("{}={}", i + 1, addr(i, port)))
                .collect::<Vec<_>>()
                .join(",")
        };
        std::fs::create_dir_all(nodes_dir).map_err(|e| format!("{}: {e}", nodes_dir.display()))?;
        let mut cluster = RemoteCluster {
            nodes: (0..n)
                .map(|i| RemoteNode {
                    id: i as u64 + 1,
                    client_addr: addr(i, CLIENT_PORT),
                    log_path: nodes_dir.join(format!("n{}.log", i + 1)),
                    pid: None,
                })
                .collect(),
            ssh,
            dir,
            flags,
            peers: list(PEER_PORT),
            clients: list(CLIENT_PORT),
            torn_down: false,
        };
        // On a failure the cluster is dropped, which stops what was started.
        for i in 0..n {
            cluster.start_node(i)?;
        }
        Ok(cluster)
    }

    /// (Re)starts node `i` from its data directory on its host; its log is appended to.
    pub fn start_node(&mut self, i: usize) -> Result<(), String> {
        let (id, dir) = (self.nodes[i].id, &self.dir);
        let host = &self.ssh[i].host.address;
        let flags: Vec<String> = self.flags.iter().map(|f| quote(f)).collect();
        let command = format!(
            "cd {dir} || exit 1; setsid ./faultline raftkv --id {id} --listen {host}:{CLIENT_PORT} \
             --peer-listen {host}:{PEER_PORT} --peers {} --clients {} --data-dir {dir}/n{id} {} \
             >> {dir}/n{id}.log 2>&1 < /dev/null & echo $!",
            self.peers,
            self.clients,
            flags.join(" ")
        );
        let out = self.ssh[i].run(&command)?;
        let pid = out.trim().parse().map_err(|_| {
            format!(
                "{}: no pid from the start command: {out:?}",
                self.ssh[i].host.name
            )
        })?;
        self.nodes[i].pid = Some(pid);
        Ok(())
    }

    pub fn pid(&self, i: usize) -> Option<u32> {
        self.nodes[i].pid
    }

    /// The process state letter of node `i` (`R`, `S`, `T`, …), none when it is gone; an
    /// error when the host could not be asked.
    fn state(&self, i: usize) -> Result<Option<char>, String> {
        let Some(pid) = self.nodes[i].pid else {
            return Ok(None);
        };
        let out = self.ssh[i].run(&format!("cat /proc/{pid}/stat 2>/dev/null || true"))?;
        Ok(out
            .rsplit_once(") ")
            .and_then(|(_, after)| after.chars().next())
            .filter(|&c| c != 'Z' && c != 'X'))
    }

    /// SIGKILL node `i`, confirmed once the process is gone.
    pub fn kill(&mut self, i: usize) -> Result<(), String> {
        let Some(pid) = self.nodes[i].pid.take() else {
            return Ok(());
        };
        self.ssh[i].run(&format!(
            "kill -9 {pid} 2>/dev/null; for _ in $(seq 300); do \
             s=$(cut -d')' -f2 /proc/{pid}/stat 2>/dev/null | cut -c2); \
             if [ -z \"$s\" ] || [ \"$s\" = Z ]; then exit 0; fi; sleep 0.01; done; exit 1"
        ))?;
        Ok(())
    }

    /// SIGSTOP (`stop`) or SIGCONT node `i`, confirmed by its state read back.
    pub fn signal_stop(&self, i: usize, stop: bool) -> Result<(), String> {
        let pid = self.nodes[i]
            .pid
            .ok_or_else(|| format!("n{} is not running", i + 1))?;
        let sig = if stop { "STOP" } else { "CONT" };
        self.ssh[i].run(&format!("kill -{sig} {pid}"))?;
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if (self.state(i)? == Some('T')) == stop {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(format!(
            "n{} (pid {pid}): SIG{sig} not confirmed within 2 s",
            i + 1
        ))
    }

    pub fn is_paused(&self, i: usize) -> bool {
        self.state(i) == Ok(Some('T'))
    }

    /// Whether node `i` exited on its own (a host that cannot be asked is no evidence).
    pub fn exited(&mut self, i: usize) -> bool {
        if self.nodes[i].pid.is_some() && self.state(i) == Ok(None) {
            self.nodes[i].pid = None;
            return true;
        }
        false
    }

    /// Node `i`'s `/status`, if it answers within 500 ms.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        self.nodes[i].pid?;
        targets::raftkv::cluster::status_at(&self.nodes[i].client_addr)
    }

    /// Waits until some node says it leads.
    pub fn wait_for_leader(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if (0..self.nodes.len()).any(|i| self.status(i).is_some_and(|s| s["role"] == "leader"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// What `faultline heal` runs on a host to remove everything of the run whose directory
    /// there is `dir`: its processes (the bracket keeps pkill from matching its own shell), its
    /// rules, its directory.
    pub fn cleanup_command(dir: &str) -> String {
        format!(
            "pkill -9 -f '[{}]{}/' ; nft delete table inet faultline 2>/dev/null; rm -rf {dir}; true",
            &dir[..1],
            &dir[1..]
        )
    }

    /// The run's directory on the hosts.
    pub fn dir_for(run_id: &str) -> String {
        format!("/tmp/faultline-{run_id}")
    }

    /// Stops every node, copies the logs back and removes the run's directory on the hosts —
    /// in that order for all nodes, since hosts may share a filesystem (the lab's do).
    pub fn teardown(&mut self) -> Vec<String> {
        let mut errors = Vec::new();
        if std::mem::replace(&mut self.torn_down, true) {
            return errors;
        }
        for i in 0..self.nodes.len() {
            if let Err(e) = self.kill(i) {
                errors.push(e);
            }
        }
        for i in 0..self.nodes.len() {
            let log = format!("cat {}/n{}.log 2>/dev/null || true", self.dir, i + 1);
            match self.ssh[i].run(&log) {
                Ok(text) => {
                    if let Err(e) = std::fs::write(&self.nodes[i].log_path, text) {
                        errors.push(format!("{}: {e}", self.nodes[i].log_path.display()));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        for i in 0..self.nodes.len() {
            // Whatever of this run still runs there (a start whose answer was lost), its rules
            // and its directory.
            let clean = RemoteCluster::cleanup_command(&self.dir);
            if let Err(e) = self.ssh[i].run(&clean) {
                errors.push(e);
            }
            self.ssh[i].close();
        }
        errors
    }
}

impl Drop for RemoteCluster {
    fn drop(&mut self) {
        for e in self.teardown() {
            eprintln!("faultline: tearing down the remote nodes: {e}");
        }
    }
}

/// Partitions on remote hosts: a table `inet faultline` on each, whose input chain drops what
/// comes from the hosts it holds a grudge against; each change listed back to confirm it.
pub struct SshNet {
    ssh: Vec<Ssh>,
    addrs: Vec<String>,
}

const TABLE: &str = "table inet faultline {\n  chain input {\n    type filter hook input priority 0; policy accept;\n  }\n}\n";

impl SshNet {
    pub fn create(hosts: &[Host], n: usize, control_dir: &Path) -> Result<SshNet, String> {
        let ssh: Vec<Ssh> = hosts[..n]
            .iter()
            .map(|h| Ssh::new(h.clone(), control_dir))
            .collect();
        for s in &ssh {
            s.run_script("nft -f -", TABLE)
                .map_err(|e| format!("{e} (partitions need nftables and root on the host)"))?;
        }
        Ok(SshNet {
            addrs: hosts[..n].iter().map(|h| h.address.clone()).collect(),
            ssh,
        })
    }

    fn rules(&self, i: usize, grudge: Option<&Grudge>) -> std::io::Result<()> {
        let mut script = String::from("flush chain inet faultline input\n");
        let from: Vec<&str> = grudge
            .map(|g| {
                g.hears_not(i)
                    .iter()
                    .map(|&j| self.addrs[j].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if !from.is_empty() {
            script.push_str(&format!(
                "add rule inet faultline input ip saddr {{ {} }} drop\n",
                from.join(", ")
            ));
        }
        self.ssh[i]
            .run_script("nft -f -", &script)
            .map_err(std::io::Error::other)?;
        // Confirmed by listing the rules back.
        let listed = self.ssh[i]
            .run("nft list chain inet faultline input")
            .map_err(std::io::Error::other)?;
        if let Some(missing) = from.iter().find(|a| !listed.contains(*a)) {
            return Err(std::io::Error::other(format!(
                "{}: the rule dropping {missing} is not listed back",
                self.ssh[i].host.name
            )));
        }
        Ok(())
    }
}

impl Net for SshNet {
    fn mechanism(&self) -> &'static str {
        "ssh+nftables"
    }

    fn partition(&mut self, grudge: &Grudge) -> std::io::Result<()> {
        (0..self.ssh.len()).try_for_each(|i| self.rules(i, Some(grudge)))
    }

    fn heal(&mut self) -> std::io::Result<()> {
        (0..self.ssh.len()).try_for_each(|i| self.rules(i, None))
    }
}

impl Drop for SshNet {
    fn drop(&mut self) {
        for s in &self.ssh {
            if let Err(e) = s.run("nft delete table inet faultline") {
                eprintln!("faultline: removing the rules: {e}");
            }
            s.close();
        }
    }
}
