//! Runs on remote hosts: node *i* on host *i*, launched, signalled and cut off through SSH
//! ([`super::hosts::Ssh`]), with no agent on the hosts.
//!
//! - [`RunHosts`]: the run's side of every host — its connections, its directory there
//!   (`/tmp/faultline-<run>`, or under the host's `dir`), faultline's binary copied in when a
//!   node needs it (the same architecture checked first), libfaketime's control files, and the clean-up that leaves
//!   nothing of the run behind (also what `faultline heal` runs after a killed harness).
//! - [`RemoteCluster`]: the bundled raftkv, run there as `faultline raftkv`, with its status and
//!   membership API. Its nodes, like a described system's (etcd, `http:` files), are run by
//!   [`targets::launched`], their commands on the node's host.
//! - [`SshNet`]: partitions as nftables rules on each host (the same `inet faultline` table and
//!   grudge rules as `--net netns`), confirmed by listing them back; latency and loss through
//!   `tc netem` where the host has it.
//!
//! Pause and kill are signals, confirmed by reading the process state back
//! ([`targets::host`]). Every process a run starts on a host carries `FAULTLINE_RUN=<dir>` in its
//! environment, which is how the clean-up finds what a start command forked.

use super::hosts::{Host, Ssh};
use nemesis::clock::Clocks;
use nemesis::{Grudge, Net};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use targets::host::{self, quote};
use targets::launched::{LaunchedNodes, Placement};

/// raftkv's ports on every host (one node a host).
const CLIENT_PORT: u16 = 7001;
const PEER_PORT: u16 = 7101;

/// Where a harness keeps its SSH control sockets (short: a socket path is limited to about
/// 100 bytes); named by the harness's pid, so that `faultline heal` can end a killed one's.
pub fn control_dir(harness_pid: u32) -> PathBuf {
    std::env::temp_dir().join(format!("fl-ssh-{harness_pid}"))
}

/// The run's side of its hosts.
pub struct RunHosts {
    pub ssh: Vec<Arc<Ssh>>,
    /// The run's directory on each host.
    pub dirs: Vec<String>,
    cleaned: bool,
}

impl RunHosts {
    /// Connections to the first `n` hosts (opened on first use).
    pub fn new(hosts: &[Host], n: usize, control: &Path, run_id: &str) -> RunHosts {
        RunHosts {
            ssh: hosts[..n]
                .iter()
                .map(|h| Arc::new(Ssh::new(h.clone(), control)))
                .collect(),
            dirs: hosts[..n]
                .iter()
                .map(|h| RunHosts::dir_for(h, run_id))
                .collect(),
            cleaned: false,
        }
    }

    /// The run's directory on `host`: under its `dir` (default `/tmp`).
    pub fn dir_for(host: &Host, run_id: &str) -> String {
        format!("{}/faultline-{run_id}", host.base_dir())
    }

    /// The environment every process of the run gets on host `i`.
    pub fn mark(&self, i: usize) -> (String, String) {
        ("FAULTLINE_RUN".into(), self.dirs[i].clone())
    }

    /// Makes the run's directory on every host and copies faultline's own binary into it (the
    /// probe checked that each host has this machine's architecture); its path on each host.
    pub fn copy_faultline(&self) -> Result<Vec<String>, String> {
        let program = std::env::current_exe().map_err(|e| format!("faultline's binary: {e}"))?;
        let binary = std::fs::read(&program).map_err(|e| format!("{}: {e}", program.display()))?;
        for (s, dir) in self.ssh.iter().zip(&self.dirs) {
            s.run_with(
                &format!("mkdir -p {dir} && cat > {dir}/faultline && chmod +x {dir}/faultline"),
                Some(&binary),
            )?;
        }
        Ok(self.dirs.iter().map(|d| format!("{d}/faultline")).collect())
    }

    /// Makes the run's directory on every host (when nothing was copied there).
    pub fn make_dir(&self) -> Result<(), String> {
        self.ssh
            .iter()
            .zip(&self.dirs)
            .try_for_each(|(s, d)| s.run(&format!("mkdir -p {d}")).map(|_| ()))
    }

    /// Clocks for the nodes, whose control files live in the run's directory on each host and
    /// are written through SSH; `libs[i]` is libfaketime on host `i`.
    pub fn clocks(&self, libs: Vec<String>) -> Result<Clocks, String> {
        let dirs: Vec<String> = self.dirs.iter().map(|d| format!("{d}/clocks")).collect();
        let files: Vec<PathBuf> = (1..=self.ssh.len())
            .map(|i| PathBuf::from(format!("{}/n{i}.faketime", dirs[i - 1])))
            .collect();
        let ssh = self.ssh.clone();
        let paths = files.clone();
        let write = move |i: usize, text: &str| {
            let f = quote(&paths[i].display().to_string());
            // Renamed into place: libfaketime never reads a half-written file.
            ssh[i]
                .run_script(
                    &format!("mkdir -p {} && cat > {f}.tmp && mv {f}.tmp {f}", dirs[i]),
                    text.trim_end(),
                )
                .map(|_| ())
                .map_err(std::io::Error::other)
        };
        Clocks::elsewhere(
            libs.into_iter().map(PathBuf::from).collect(),
            files,
            Box::new(write),
        )
        .map_err(|e| format!("clocks on the hosts: {e}"))
    }

    /// What `faultline heal` runs on a host to remove everything of the run whose directory
    /// there is `dir`: every process marked with it (or naming it; the bracket keeps pkill from
    /// matching its own shell), its rules, netem on the interface of `address`, and (with
    /// `remove_dir`) its directory.
    pub fn cleanup_command(dir: &str, address: &str, remove_dir: bool) -> String {
        let rm = if remove_dir {
            format!("rm -rf {dir}; ")
        } else {
            String::new()
        };
        format!(
            "for p in /proc/[0-9]*; do if grep -qzx 'FAULTLINE_RUN={dir}' $p/environ 2>/dev/null; \
             then kill -9 ${{p#/proc/}} 2>/dev/null; fi; done; pkill -9 -f '[{}]{}/'; \
             nft delete table inet faultline 2>/dev/null; \
             d=$({}); if [ -n \"$d\" ] && tc qdisc show dev $d 2>/dev/null | grep -q netem; then \
             tc qdisc del dev $d root; fi; {rm}true",
            &dir[..1],
            &dir[1..],
            device_of(address)
        )
    }

    /// Runs the clean-up on every host and closes the connections; once. With `keep_dir`,
    /// the run's directory stays (its data directories wait for a [`RemoteData`]).
    pub fn cleanup(&mut self, keep_dir: bool) -> Vec<String> {
        if std::mem::replace(&mut self.cleaned, true) {
            return Vec::new();
        }
        let mut errors = Vec::new();
        for (s, dir) in self.ssh.iter().zip(&self.dirs) {
            let c = RunHosts::cleanup_command(dir, &s.host.address, !keep_dir);
            if let Err(e) = s.run(&c) {
                errors.push(e);
            }
            s.close();
        }
        errors
    }
}

impl Drop for RunHosts {
    fn drop(&mut self) {
        for e in self.cleanup(false) {
            eprintln!("faultline: cleaning up on the hosts: {e}");
        }
    }
}

/// The nodes' data directories, left in the run's directory on the hosts at teardown until the
/// verdict says whether to keep them (`--keep-data on-failure`): brought back into the run's
/// `nodes/` or not, then the directories removed. Dropped unresolved (an error before the
/// verdict), it removes them; either way the run's `state.json` goes last.
pub struct RemoteData {
    ssh: Vec<Ssh>,
    control: PathBuf,
    /// The run's directory on each host.
    dirs: Vec<String>,
    /// Each host's node directory name under its run directory.
    names: Vec<String>,
    nodes_dir: PathBuf,
    state_path: PathBuf,
    done: bool,
}

impl RemoteData {
    pub fn new(
        hosts: &RunHosts,
        names: Vec<String>,
        nodes_dir: PathBuf,
        state_path: PathBuf,
    ) -> RemoteData {
        // Connections of its own: the run's end when the supervisor goes.
        let control = std::env::temp_dir().join(format!("fl-data-{}", std::process::id()));
        RemoteData {
            ssh: hosts
                .ssh
                .iter()
                .map(|s| Ssh::new(s.host.clone(), &control))
                .collect(),
            control,
            dirs: hosts.dirs.clone(),
            names,
            nodes_dir,
            state_path,
            done: false,
        }
    }

    /// Brings the data directories back when `keep`, then removes them on the hosts; whether
    /// they were kept. What failed is said on stderr.
    pub fn resolve(mut self, keep: bool) -> bool {
        let _ = std::fs::create_dir_all(&self.control);
        let mut kept = keep;
        if keep {
            for ((s, name), dir) in self.ssh.iter().zip(&self.names).zip(&self.dirs) {
                if let Err(e) = host::fetch_tree(s, dir, name, &self.nodes_dir) {
                    eprintln!("faultline: bringing back {name}'s data directory: {e}");
                    kept = false;
                }
            }
        } else {
            eprintln!(
                "faultline: removed the nodes' data directories on the hosts without copying \
                 them (--keep-data on-failure, and the run holds)"
            );
        }
        self.remove();
        kept
    }

    fn remove(&mut self) {
        if std::mem::replace(&mut self.done, true) {
            return;
        }
        let _ = std::fs::create_dir_all(&self.control);
        let mut left = false;
        for (s, dir) in self.ssh.iter().zip(&self.dirs) {
            if let Err(e) = s.run(&format!("rm -rf {}", quote(dir))) {
                eprintln!("faultline: removing the run's directory on the hosts: {e}");
                left = true;
            }
            s.close();
        }
        let _ = std::fs::remove_dir_all(&self.control);
        // A directory that could not be removed stays in the record, for `faultline heal`.
        if !left {
            let _ = std::fs::remove_file(&self.state_path);
        }
    }
}

impl Drop for RemoteData {
    fn drop(&mut self) {
        self.remove();
    }
}

/// A shell command printing the network interface that carries `address` on a host.
fn device_of(address: &str) -> String {
    format!(
        "ip -o addr show 2>/dev/null | awk '{{split($4, a, \"/\"); if (a[1] == \"{address}\") \
         {{print $2; exit}}}}'"
    )
}

/// raftkv on the hosts: faultline's own binary, copied there, run by [`LaunchedNodes`] like
/// any described service (its start command built here), with raftkv's own status and
/// membership API beside.
pub struct RemoteCluster {
    pub launched: LaunchedNodes,
    /// Each node's peer address, for membership changes.
    peer_addrs: Vec<String>,
}

impl RemoteCluster {
    /// Starts node `i` at `placements[i]` (on its host, whose run directory holds faultline's
    /// binary), with `flags` for every node.
    pub fn launch(
        placements: Vec<Placement>,
        nodes_dir: &Path,
        flags: &[String],
    ) -> Result<RemoteCluster, String> {
        let at = |port: u16| -> Vec<String> {
            placements
                .iter()
                .map(|p| format!("{}:{port}", p.ip))
                .collect()
        };
        let (clients, peer_addrs) = (at(CLIENT_PORT), at(PEER_PORT));
        let list = |addrs: &[String]| {
            addrs
                .iter()
                .enumerate()
                .map(|(i, a)| format!("{}={a}", i + 1))
                .collect::<Vec<_>>()
                .join(",")
        };
        let flags: Vec<String> = flags.iter().map(|f| quote(f)).collect();
        let mut desc = targets::raftkv::described(&clients);
        for (i, node) in desc.nodes.iter_mut().enumerate() {
            node.start = Some(format!(
                "exec {{faultline}} raftkv --id {} --listen {{ip}}:{CLIENT_PORT} \
                 --peer-listen {{ip}}:{PEER_PORT} --peers {} --clients {} --data-dir {{data_dir}} {}",
                i + 1,
                list(&peer_addrs),
                list(&clients),
                flags.join(" ")
            ));
        }
        // Every `{faultline}` names the copy on a host.
        let here = Path::new("faultline");
        let launched = LaunchedNodes::launch(desc, placements, nodes_dir, here)
            .map_err(|e| format!("starting raftkv on the hosts: {e}"))?;
        Ok(RemoteCluster {
            launched,
            peer_addrs,
        })
    }

    /// The nodes as membership changes see them.
    pub fn member_nodes(&self) -> Vec<targets::raftkv::cluster::MemberNode> {
        (0..self.launched.len())
            .map(|i| targets::raftkv::cluster::MemberNode {
                id: i as u64 + 1,
                peer_addr: self.peer_addrs[i].clone(),
                client_addr: self.launched.nodes[i].base.authority(),
                running: self.launched.pid(i).is_some(),
            })
            .collect()
    }

    /// Node `i`'s `/status`, if it runs and answers within 500 ms.
    pub fn status(&self, i: usize) -> Option<serde_json::Value> {
        self.launched.pid(i)?;
        targets::raftkv::cluster::status_at(&self.launched.nodes[i].base.authority())
    }

    /// Waits until some node says it leads.
    pub fn wait_for_leader(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if (0..self.launched.len())
                .any(|i| self.status(i).is_some_and(|s| s["role"] == "leader"))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }
}

/// Partitions on remote hosts: a table `inet faultline` on each, whose input chain drops what
/// comes from the hosts it holds a grudge against; each change listed back to confirm it.
pub struct SshNet {
    ssh: Vec<Arc<Ssh>>,
    addrs: Vec<String>,
    /// The interface of each host that netem was put on.
    netem: Vec<String>,
}

impl SshNet {
    pub fn create(hosts: &RunHosts) -> Result<SshNet, String> {
        for s in &hosts.ssh {
            s.run_script("nft -f -", nemesis::netns::TABLE)
                .map_err(|e| format!("{e} (partitions need nftables and root on the host)"))?;
        }
        Ok(SshNet {
            addrs: hosts.ssh.iter().map(|s| s.host.address.clone()).collect(),
            ssh: hosts.ssh.clone(),
            netem: Vec::new(),
        })
    }

    /// Delays every packet each host sends by `latency` and drops a share `loss` of them,
    /// through `tc netem` on the interface that carries the host's address; confirmed by
    /// listing the qdisc back. One clear error when a host has no netem.
    pub fn set_netem(&mut self, latency: Duration, loss: f64) -> Result<(), String> {
        for (s, addr) in self.ssh.iter().zip(&self.addrs) {
            let dev = s.run(&device_of(addr))?.trim().to_string();
            if dev.is_empty() {
                return Err(format!(
                    "{}: no interface carries {addr} there, so netem has nowhere to go \
                     (give the host's own address in the hosts file)",
                    s.host.name
                ));
            }
            s.run(&netem_command(&dev, latency, loss)).map_err(|e| {
                format!("{e}: --net-latency and --net-loss need tc netem on the host (iproute2 and the sch_netem kernel module)")
            })?;
            let shown = s.run(&format!("tc qdisc show dev {dev}"))?;
            if !shown.contains("netem") {
                return Err(format!(
                    "{}: netem on {dev} is not listed back: {shown}",
                    s.host.name
                ));
            }
            self.netem.push(dev);
        }
        Ok(())
    }

    /// The interfaces netem is on, host by host.
    pub fn netem_devices(&self) -> &[String] {
        &self.netem
    }

    fn rules(&self, i: usize, grudge: Option<&Grudge>) -> std::io::Result<()> {
        let from: Vec<&str> = grudge
            .map(|g| {
                g.hears_not(i)
                    .iter()
                    .map(|&j| self.addrs[j].as_str())
                    .collect()
            })
            .unwrap_or_default();
        self.ssh[i]
            .run_script("nft -f -", &nemesis::netns::grudge_rules(&from))
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

/// The `tc` command that puts netem on `dev`.
fn netem_command(dev: &str, latency: Duration, loss: f64) -> String {
    let mut c = format!("tc qdisc replace dev {dev} root netem");
    if !latency.is_zero() {
        c.push_str(&format!(" delay {}ms", latency.as_millis()));
    }
    if loss > 0.0 {
        c.push_str(&format!(" loss {}%", loss * 100.0));
    }
    c
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
        for (i, s) in self.ssh.iter().enumerate() {
            if let Err(e) = s.run("nft delete table inet faultline") {
                eprintln!("faultline: removing the rules: {e}");
            }
            if let Some(dev) = self.netem.get(i) {
                if let Err(e) = s.run(&format!("tc qdisc del dev {dev} root")) {
                    eprintln!("faultline: removing netem: {e}");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netem_and_the_clean_up_say_what_they_should() {
        assert_eq!(
            netem_command("eth0", Duration::from_millis(20), 0.05),
            "tc qdisc replace dev eth0 root netem delay 20ms loss 5%"
        );
        // The device lookup finds loopback's address here.
        let out = std::process::Command::new("sh")
            .args(["-c", &device_of("127.0.0.1")])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "lo");
        let c = RunHosts::cleanup_command("/tmp/faultline-x", "10.0.0.1", true);
        assert!(c.contains("'FAULTLINE_RUN=/tmp/faultline-x'"), "{c}");
        assert!(c.contains("pkill -9 -f '[/]tmp/faultline-x/'"), "{c}");
        assert!(c.ends_with("rm -rf /tmp/faultline-x; true"), "{c}");
        let kept = RunHosts::cleanup_command("/tmp/faultline-x", "10.0.0.1", false);
        assert!(!kept.contains("rm -rf"), "{kept}");
    }
}
