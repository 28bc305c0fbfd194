//! What a run leaves behind if the harness itself is killed, and how `faultline heal` removes it.
//!
//! The harness keeps a [`Leftovers`] file in the run's directory, rewritten (atomically) whenever
//! a node starts or a namespace is made, and deleted once the run has cleaned up after itself. A
//! process is named by pid *and* start time, so a pid reused by an unrelated process after the
//! run is never signalled. Proxies need no record: they are threads of the harness and die with it.

use crate::process;
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProcessRecord {
    pub node: usize,
    pub pid: u32,
    pub start: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Leftovers {
    pub harness_pid: u32,
    pub harness_start: u64,
    pub processes: Vec<ProcessRecord>,
    pub namespaces: Vec<String>,
    pub bridge: Option<String>,
    /// Remote hosts the run's nodes live on (`faultline run --hosts`): whoever heals reaches
    /// them over SSH.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remote: Vec<RemoteRecord>,
}

/// A remote host of a run: how to reach it (its entry of the hosts file, as the harness reads
/// it), the run's directory there (which names everything the run put on it), and what was done
/// on it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RemoteRecord {
    pub host: serde_json::Value,
    pub dir: String,
    /// The node process running there now, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Whether the `inet faultline` table was made there.
    #[serde(default)]
    pub rules: bool,
    /// The interface netem was put on there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub netem: Option<String>,
}

/// What healing did.
#[derive(Debug, Default)]
pub struct Healed {
    pub resumed: Vec<u32>,
    pub killed: Vec<u32>,
    pub namespaces: Vec<String>,
    pub bridge: Option<String>,
}

impl Leftovers {
    /// Writes the record: to a temporary file, then renamed over the old one.
    pub fn save(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("tmp");
        std::fs::write(
            &tmp,
            serde_json::to_vec_pretty(self).expect("records serialize"),
        )?;
        std::fs::rename(&tmp, path)
    }

    pub fn load(path: &Path) -> Result<Leftovers, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_str(&text)
            .map_err(|e| format!("{}: not a state file: {e}", path.display()))
    }

    /// Records (or replaces) node `node`'s process.
    pub fn set_process(&mut self, node: usize, pid: Option<u32>) {
        self.processes.retain(|p| p.node != node);
        if let Some(pid) = pid {
            if let Some(start) = process::start_ticks(pid) {
                self.processes.push(ProcessRecord { node, pid, start });
            }
        }
    }

    /// Whether the harness that wrote this is still running.
    pub fn harness_alive(&self) -> bool {
        process::is_alive(self.harness_pid, self.harness_start)
    }

    /// Resumes and kills every recorded process still alive, removes the namespaces and the
    /// bridge. Safe to repeat.
    pub fn heal(&self) -> Result<Healed, String> {
        let mut healed = Healed::default();
        let mut errors = Vec::new();
        for p in &self.processes {
            if !process::is_alive(p.pid, p.start) {
                continue;
            }
            if process::is_stopped(p.pid) {
                match process::signal(p.pid, process::Signal::SIGCONT) {
                    Ok(()) => healed.resumed.push(p.pid),
                    Err(e) => errors.push(format!("SIGCONT {}: {e}", p.pid)),
                }
            }
            // The node's whole tree: its process group (a node starts as the leader of its own)
            // and what left it (PostgreSQL's backends, the epmd a RabbitMQ broker runs beside
            // it), stopped first so that none forks another meanwhile.
            let tree = base::proc::descendants(p.pid);
            let _ = process::signal(p.pid, process::Signal::SIGSTOP);
            let group = nix::unistd::Pid::from_raw(p.pid as i32);
            let _ = nix::sys::signal::killpg(group, process::Signal::SIGKILL);
            for &child in &tree {
                let _ = process::signal(child, process::Signal::SIGKILL);
            }
            match process::signal(p.pid, process::Signal::SIGKILL) {
                Ok(()) => healed.killed.push(p.pid),
                Err(e) if e.raw_os_error() == Some(nix::libc::ESRCH) => healed.killed.push(p.pid),
                Err(e) => errors.push(format!("SIGKILL {}: {e}", p.pid)),
            }
        }
        // Wait (bounded) until the killed are gone; an orphan is reaped by whoever adopted it.
        let deadline = Instant::now() + Duration::from_secs(5);
        while self
            .processes
            .iter()
            .any(|p| process::is_alive(p.pid, p.start))
        {
            if Instant::now() > deadline {
                errors.push("some node processes survived SIGKILL for 5 s".into());
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let existing = crate::netns::list_namespaces();
        healed.namespaces = self
            .namespaces
            .iter()
            .filter(|n| existing.contains(n))
            .cloned()
            .collect();
        healed.bridge = self.bridge.clone().filter(|b| crate::netns::link_exists(b));
        if !self.namespaces.is_empty() || self.bridge.is_some() {
            if let Err(e) = crate::netns::remove(&self.namespaces, self.bridge.as_deref()) {
                errors.push(e.to_string());
            }
        }
        if errors.is_empty() {
            Ok(healed)
        } else {
            Err(errors.join("; "))
        }
    }
}
