//! The nodes of a [described](crate::described) service, started, found, stopped and asked
//! questions through the commands and probes its description gives.
//!
//! A node with a `start` command is faultline's: it runs under `sh -c` in its own process
//! group (and network namespace, when one is given), its output goes to `<dir>/<name>.log`, its
//! data to `<dir>/<name>/`, and dropping [`LaunchedNodes`] stops it (the `stop` command, then
//! SIGKILL to its group) and reaps it. A node without one is somebody else's: faultline talks to
//! it and leaves it running. A node's host name is resolved once, when the nodes are launched,
//! and every request goes to that address.
//!
//! A node placed on another machine ([`OnHost`]) has its `start`, `stop`, `pid`, `health` and
//! `setup` commands run there through a [`HostShell`]; its data directory and log live in the
//! run's directory on that host, and [`LaunchedNodes::bring_back`] copies them into the run's
//! store at teardown.

use crate::client::{Client, Http};
use crate::described::{fill_node, BaseUrl, Described, Probe};
use crate::host::{self, HostShell};
use serde_json::Value;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where and how one node runs.
#[derive(Clone)]
pub struct Placement {
    /// The node's address for `{ip}`.
    pub ip: String,
    /// A network namespace to run in (a path such as `/run/netns/NAME`).
    pub netns: Option<PathBuf>,
    /// Extra environment (libfaketime's, for clock faults).
    pub env: Vec<(String, String)>,
    /// Another machine to run on, instead of this one.
    pub host: Option<OnHost>,
}

/// A node's machine, when it is not this one.
#[derive(Clone)]
pub struct OnHost {
    pub shell: Arc<dyn HostShell>,
    /// The run's directory there: data directories and logs go in it.
    pub dir: String,
    /// What `{faultline}` names there.
    pub program: String,
}

/// A started node's process.
enum Process {
    /// A child of this process.
    Here(Child),
    /// A process on the node's host (the leader of its own session).
    There(u32),
}

pub struct LaunchedNode {
    pub name: String,
    pub base: BaseUrl,
    /// Where the base URL's host resolved to when the nodes were launched.
    pub resolved: SocketAddr,
    pub data_dir: PathBuf,
    pub log_path: PathBuf,
    start: Option<String>,
    stop: Option<String>,
    health: Option<String>,
    pid_command: Option<String>,
    setup: Option<String>,
    process: Option<Process>,
    placement: Placement,
}

impl LaunchedNode {
    /// The node's log on its host, when it runs on one.
    fn remote_log(&self) -> Option<String> {
        let on = self.placement.host.as_ref()?;
        Some(format!("{}/{}.log", on.dir, self.name))
    }
}

pub struct LaunchedNodes {
    pub desc: Described,
    pub nodes: Vec<LaunchedNode>,
    /// For probes: short timeouts, the file's certificates, host names pinned.
    probe: Http,
}

impl LaunchedNodes {
    /// Fills in every node's templates and starts the nodes that have a `start` command.
    pub fn launch(
        mut desc: Described,
        placements: Vec<Placement>,
        dir: &Path,
        program: &Path,
    ) -> std::io::Result<LaunchedNodes> {
        assert_eq!(placements.len(), desc.nodes.len(), "a placement per node");
        std::fs::create_dir_all(dir)?;
        // `{data_dir}` is absolute, so a start command may `cd` before using it.
        let dir = &std::path::absolute(dir)?;
        let ips: HashMap<String, String> = desc
            .nodes
            .iter()
            .zip(&placements)
            .map(|(n, p)| (n.name.clone(), p.ip.clone()))
            .collect();
        // A leader command may name the nodes' addresses too.
        if let Some(cmd) = desc.leader_command.as_mut() {
            for (name, ip) in &ips {
                *cmd = cmd.replace(&format!("{{ip:{name}}}"), ip);
            }
        }
        let mut nodes = Vec::new();
        for (i, (n, placement)) in desc.nodes.iter().zip(placements).enumerate() {
            let (data_dir, program) = match &placement.host {
                Some(on) => (
                    PathBuf::from(format!("{}/{}", on.dir, n.name)),
                    PathBuf::from(&on.program),
                ),
                None => (dir.join(&n.name), program.to_path_buf()),
            };
            let fill = |t: &str| {
                let mut s =
                    desc.fill_file_dir(&fill_node(t, n, i, &placement.ip, &data_dir, &program));
                for (name, ip) in &ips {
                    s = s.replace(&format!("{{ip:{name}}}"), ip);
                }
                s
            };
            let base = BaseUrl::parse(&fill(&n.url))
                .map_err(|e| std::io::Error::other(format!("nodes[{i}].url: {e}")))?;
            let resolved = base
                .resolve()
                .map_err(|e| std::io::Error::other(format!("nodes[{i}].url: {e}")))?;
            nodes.push(LaunchedNode {
                name: n.name.clone(),
                base,
                resolved,
                log_path: dir.join(format!("{}.log", n.name)),
                data_dir: data_dir.clone(),
                start: n.start.as_deref().map(fill),
                stop: n.stop.as_deref().map(fill),
                health: n.health.as_deref().map(fill),
                pid_command: n.pid.as_deref().map(fill),
                setup: n.setup.as_deref().map(fill),
                process: None,
                placement,
            });
        }
        let probe = Http::new(Duration::from_millis(500), &desc.tls_files(), &pins(&nodes))
            .map_err(std::io::Error::other)?;
        let mut launched = LaunchedNodes { desc, nodes, probe };
        for i in 0..launched.nodes.len() {
            launched.start(i)?;
        }
        Ok(launched)
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// Starts node `i` with its `start` command (nothing to do for a node that has none). A
    /// process group still running from an earlier start is killed first: there is never a
    /// second copy of a node.
    pub fn start(&mut self, i: usize) -> std::io::Result<()> {
        if self.nodes[i].start.is_none() {
            return Ok(());
        }
        self.kill(i).map_err(std::io::Error::other)?;
        let n = &mut self.nodes[i];
        let start = n.start.clone().expect("checked above");
        if let (Some(on), Some(log)) = (&n.placement.host, n.remote_log()) {
            let data = host::quote(&n.data_dir.display().to_string());
            let pid = on
                .shell
                .run(&format!("mkdir -p {data}"))
                .and_then(|_| host::spawn(&*on.shell, &start, &n.placement.env, &on.dir, &log))
                .map_err(std::io::Error::other)?;
            n.process = Some(Process::There(pid));
            return Ok(());
        }
        std::fs::create_dir_all(&n.data_dir)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&n.log_path)?;
        let mut cmd = Command::new("sh");
        cmd.args(["-c", &start])
            .envs(n.placement.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0);
        let _netns = crate::raftkv::cluster::in_namespace(&mut cmd, n.placement.netns.as_deref())?;
        n.process = Some(Process::Here(cmd.spawn()?));
        Ok(())
    }

    /// Runs `command` where node `i` runs (under `sh -c` here, or on its host); its output when
    /// it exits 0, else one error with its status and the end of what it said.
    fn shell(&self, i: usize, command: &str) -> Result<String, String> {
        if let Some(on) = &self.nodes[i].placement.host {
            return on.shell.run(command);
        }
        let out = Command::new("sh")
            .args(["-c", command])
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("`{command}`: {e}"))?;
        if out.status.success() {
            return Ok(String::from_utf8_lossy(&out.stdout).into_owned());
        }
        let said = String::from_utf8_lossy(&out.stderr);
        let said = said.trim();
        let tail: String = said
            .chars()
            .skip(said.chars().count().saturating_sub(300))
            .collect();
        Err(format!(
            "`{command}` {}{}",
            out.status,
            if tail.is_empty() {
                String::new()
            } else {
                format!(": {tail}")
            }
        ))
    }

    /// Node `i`'s host, when it runs on another machine.
    pub fn host(&self, i: usize) -> Option<&dyn HostShell> {
        self.nodes[i].placement.host.as_ref().map(|on| &*on.shell)
    }

    /// Node `i`'s process id: what its `pid` command prints, else the started process.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.pid_or_why(i).ok()
    }

    /// Node `i`'s process id, or why there is none, in words naming the node: not started (or
    /// killed), or its `pid` command failed or printed no number.
    pub fn pid_or_why(&self, i: usize) -> Result<u32, String> {
        let n = &self.nodes[i];
        if let Some(cmd) = &n.pid_command {
            let out = self
                .shell(i, cmd)
                .map_err(|e| format!("{}'s pid command `{cmd}` failed: {e}", n.name))?;
            let text = out.trim();
            return text.parse().map_err(|_| {
                if text.is_empty() {
                    format!("{}'s pid command `{cmd}` printed nothing", n.name)
                } else {
                    format!(
                        "{}'s pid command `{cmd}` printed {:?}, not a process id",
                        n.name,
                        base::cut(text, 60)
                    )
                }
            });
        }
        match n.process.as_ref() {
            Some(Process::Here(child)) => Ok(child.id()),
            Some(Process::There(pid)) => Ok(*pid),
            None => Err(format!("{} is not running", n.name)),
        }
    }

    /// Stops node `i` for good: its `stop` command if it has one, then SIGKILL to its process
    /// group and every process it started, and reaps it. A stopped (paused) process dies of SIGKILL too.
    pub fn kill(&mut self, i: usize) -> Result<(), String> {
        let n = &mut self.nodes[i];
        let mut child = match n.process.take() {
            None => return Ok(()),
            Some(Process::There(pid)) => {
                let on = n
                    .placement
                    .host
                    .as_ref()
                    .expect("a remote process has a host");
                return host::kill(&*on.shell, pid).map_err(|e| format!("killing {}: {e}", n.name));
            }
            Some(Process::Here(child)) => child,
        };
        // The whole group, so a service the start command forked dies too (a group that is
        // already gone is ESRCH), and every process of the tree that left the group
        // (PostgreSQL's backends): stopped first, so none forks another meanwhile.
        use nix::sys::signal::{kill, killpg, Signal};
        let pid = |p: u32| nix::unistd::Pid::from_raw(p as i32);
        let _ = kill(pid(child.id()), Signal::SIGSTOP);
        let tree = base::proc::descendants(child.id());
        let _ = killpg(pid(child.id()), Signal::SIGKILL);
        for p in tree {
            let _ = kill(pid(p), Signal::SIGKILL);
        }
        let _ = child.wait();
        Ok(())
    }

    /// Stops node `i` the polite way (its `stop` command), then makes sure.
    pub fn stop(&mut self, i: usize) -> Result<(), String> {
        if let Some(stop) = self.nodes[i].stop.clone() {
            if self.nodes[i].process.is_some() {
                let _ = self.shell(i, &stop);
            }
        }
        self.kill(i)
    }

    /// Whether node `i`'s started process has exited on its own (it is reaped if so): how it
    /// ended, in words. A host that cannot be asked is no evidence.
    pub fn exited(&mut self, i: usize) -> Option<String> {
        let n = &mut self.nodes[i];
        let ended = match n.process.as_mut()? {
            Process::Here(child) => child.try_wait().ok()??.to_string(),
            Process::There(pid) => {
                let on = n
                    .placement
                    .host
                    .as_ref()
                    .expect("a remote process has a host");
                match host::state(&*on.shell, *pid) {
                    Ok(None) => format!("pid {pid} is gone on {}", on.shell.name()),
                    _ => return None,
                }
            }
        };
        n.process = None;
        Some(ended)
    }

    /// Whether node `i` is ready: its `health` command exits 0, or (without one) its URL
    /// accepts a connection.
    pub fn healthy(&self, i: usize) -> bool {
        let n = &self.nodes[i];
        match &n.health {
            Some(cmd) => self.shell(i, cmd).is_ok(),
            None => std::net::TcpStream::connect_timeout(&n.resolved, Duration::from_millis(300))
                .is_ok(),
        }
    }

    /// Waits until node `i` is healthy.
    pub fn wait_healthy(&self, i: usize, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        while !self.healthy(i) {
            if Instant::now() >= deadline {
                return Err(format!(
                    "{} was not healthy within {} s of its start; see {}",
                    self.nodes[i].name,
                    timeout.as_secs(),
                    self.nodes[i].log_path.display()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Runs node `i`'s `setup` command, if it has one; the error has its status and output.
    pub fn setup(&self, i: usize) -> Result<(), String> {
        let n = &self.nodes[i];
        let Some(cmd) = &n.setup else {
            return Ok(());
        };
        self.shell(i, cmd)
            .map(|_| ())
            .map_err(|e| format!("{}: setup {e}", n.name))
    }

    /// One request to node `i` with the probes' client (short timeouts, the file's
    /// certificates, host names pinned).
    pub fn request(
        &self,
        i: usize,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<crate::client::Reply, crate::client::ClientError> {
        let mut c = Client::with(self.nodes[i].base.url(""), self.probe.clone());
        c.request_text(method, path, body)
    }

    /// Sends one request to each node but `skip` in turn (leaving out nodes faultline started
    /// that do not run now) until one answers 2xx; that answer, or what the last one said.
    pub fn ask_others(
        &self,
        skip: usize,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> Result<crate::client::Reply, String> {
        let mut last = "no other node runs".to_string();
        let up = |j: usize| self.nodes[j].start.is_none() || self.nodes[j].process.is_some();
        for j in (0..self.len()).filter(|&j| j != skip && up(j)) {
            match self.request(j, method, path, body) {
                Ok(r) if (200..300).contains(&r.status) => return Ok(r),
                Ok(r) => {
                    last = format!(
                        "{method} {path} on {}: {} {}",
                        self.nodes[j].name, r.status, r.text
                    )
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(last)
    }

    /// Node `i`'s start command, templates filled in.
    pub fn start_command(&self, i: usize) -> Option<&str> {
        self.nodes[i].start.as_deref()
    }

    /// Starts node `i` afresh with `start` (its templates already filled in): the process
    /// stopped, its data directory emptied, the command kept for later restarts. For a member
    /// that rejoins a cluster as a new member (etcd's `--initial-cluster-state existing`).
    pub fn start_afresh(&mut self, i: usize, start: String) -> std::io::Result<()> {
        self.kill(i).map_err(std::io::Error::other)?;
        let dir = &self.nodes[i].data_dir;
        if self.nodes[i].placement.host.is_some() {
            let rm = format!("rm -rf {}", host::quote(&dir.display().to_string()));
            self.shell(i, &rm).map_err(std::io::Error::other)?;
        } else if dir.exists() {
            std::fs::remove_dir_all(dir)?;
        }
        self.nodes[i].start = Some(start);
        self.start(i)
    }

    /// Asks node `i` a probe's question; the value at its pointer, and the whole answer.
    fn ask(&self, i: usize, probe: &Probe) -> Option<(Value, Value)> {
        let n = &self.nodes[i];
        let mut c = Client::with(n.base.url(""), self.probe.clone());
        let r = c
            .request_text(&probe.method, &probe.path, probe.body.as_deref())
            .ok()?;
        if !(200..300).contains(&r.status) {
            return None;
        }
        Some((r.body.pointer(&probe.pointer)?.clone(), r.body))
    }

    /// The node that says it leads, when a leader probe is described and exactly one does.
    pub fn leader(&self) -> Option<usize> {
        if let Some(cmd) = &self.desc.leader_command {
            return self.leader_by_command(cmd);
        }
        let probe = self.desc.leader.as_ref()?;
        let mut leaders = (0..self.len()).filter(|&i| {
            self.ask(i, probe).is_some_and(|(v, body)| {
                match (&probe.equals, &probe.equals_pointer) {
                    (Some(want), _) => &v == want,
                    (None, Some(p)) => body.pointer(p) == Some(&v),
                    (None, None) => false,
                }
            })
        });
        let first = leaders.next()?;
        leaders.next().is_none().then_some(first)
    }

    /// The node whose name `cmd` prints (its first word), if any.
    fn leader_by_command(&self, cmd: &str) -> Option<usize> {
        let out = Command::new("sh")
            .args(["-c", cmd])
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())?;
        let text = String::from_utf8_lossy(&out.stdout);
        let name = text.split_whitespace().next()?;
        self.nodes.iter().position(|n| n.name == name)
    }

    /// Whether a leader can be found (a probe or a command).
    pub fn finds_leader(&self) -> bool {
        self.desc.leader.is_some() || self.desc.leader_command.is_some()
    }

    /// Node `i`'s wall clock in ms since the epoch, when a clock probe is described.
    pub fn wall_clock_ms(&self, i: usize) -> Option<f64> {
        let probe = self.desc.clock.as_ref()?;
        let (v, _) = self.ask(i, probe)?;
        v.as_f64().or_else(|| v.as_str()?.parse().ok())
    }

    /// Why node `i`, an `https://` node that accepts connections, cannot be spoken to over
    /// TLS (its certificate is not trusted, the handshake fails), if so: a cause no waiting
    /// cures, so it is said at once rather than after the timeout.
    pub fn tls_refusal(&self, i: usize) -> Option<String> {
        let n = &self.nodes[i];
        if !n.base.url("").starts_with("https://") {
            return None;
        }
        let e = self.request(i, "GET", "/", None).err()?;
        let text = e.to_string();
        let lower = text.to_ascii_lowercase();
        let tls = ["certificate", "unknownissuer", "tls", "handshake", "x509"];
        tls.iter().any(|w| lower.contains(w)).then(|| {
            format!(
                "{}: TLS with {} failed: {text}. Give the CA that signed the node's certificate as `ca` in the file's [tls] section (and `cert` and `key` if the service asks for a client certificate)",
                n.name,
                n.base.authority()
            )
        })
    }

    /// A node started here whose process has already exited (a zombie not yet reaped, or
    /// gone): why, with the end of its log — a server that cannot start says so there. Not for
    /// a node with a `pid` command, whose start command may hand over to another process.
    fn died_starting(&self, i: usize) -> Option<String> {
        let n = &self.nodes[i];
        // With a pid command the started process may hand over to another and exit.
        let Some(Process::Here(child)) = n.process.as_ref().filter(|_| n.pid_command.is_none())
        else {
            return None;
        };
        if !matches!(base::proc::state(child.id()), None | Some('Z' | 'X')) {
            return None;
        }
        let log = std::fs::read_to_string(&n.log_path).unwrap_or_default();
        let tail: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = tail[tail.len().saturating_sub(3)..].join(" / ");
        Some(format!(
            "{} exited while starting; its log {} ends: {}",
            n.name,
            n.log_path.display(),
            if tail.is_empty() { "(nothing)" } else { &tail }
        ))
    }

    /// Waits until every node is healthy and, when a leader probe is described, one leads. A
    /// node that is up but refuses TLS, or that exited, ends the wait at once with why.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(why) = (0..self.len()).find_map(|i| self.died_starting(i)) {
                return Err(why);
            }
            let sick: Vec<&str> = (0..self.len())
                .filter(|&i| !self.healthy(i))
                .map(|i| self.nodes[i].name.as_str())
                .collect();
            if sick.is_empty() {
                if let Some(why) = (0..self.len()).find_map(|i| self.tls_refusal(i)) {
                    return Err(why);
                }
            }
            let led = !self.finds_leader() || self.leader().is_some();
            if sick.is_empty() && led {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(if sick.is_empty() {
                    "no node said it leads (the leader probe)".to_string()
                } else {
                    format!("not healthy: {}", sick.join(", "))
                });
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Each node's host name and the address it resolved to, for the HTTP client to keep to.
pub fn pins(nodes: &[LaunchedNode]) -> Vec<(String, SocketAddr)> {
    nodes
        .iter()
        .filter_map(|n| n.base.pin(n.resolved))
        .collect()
}

impl LaunchedNodes {
    /// Stops every node, then copies the logs of the nodes on other machines into the run's
    /// store (`dir`, where [`LaunchedNodes::launch`] put the local ones) and, with `data`, their
    /// data directories too. Every node is stopped before anything is copied: hosts may share a
    /// filesystem. The errors met; it goes on after each.
    pub fn bring_back(&mut self, dir: &Path, data: bool) -> Vec<String> {
        let mut errors: Vec<String> = (0..self.nodes.len())
            .filter_map(|i| self.stop(i).err())
            .collect();
        for n in &self.nodes {
            let (Some(on), Some(log)) = (&n.placement.host, n.remote_log()) else {
                continue;
            };
            let text = on
                .shell
                .run(&format!("cat {} 2>/dev/null || true", host::quote(&log)));
            match text.and_then(|t| std::fs::write(&n.log_path, t).map_err(|e| e.to_string())) {
                Ok(()) => {}
                Err(e) => errors.push(format!("{}'s log: {e}", n.name)),
            }
            if data {
                if let Err(e) = host::fetch_tree(&*on.shell, &on.dir, &n.name, dir) {
                    errors.push(format!("{}'s data directory: {e}", n.name));
                }
            }
        }
        errors
    }
}

impl Drop for LaunchedNodes {
    fn drop(&mut self) {
        for i in 0..self.nodes.len() {
            if let Err(e) = self.stop(i) {
                eprintln!("faultline: {e}");
            }
        }
    }
}
