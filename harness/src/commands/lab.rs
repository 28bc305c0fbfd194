//! `faultline lab up|down`: a lab of "hosts" on this one machine, to try remote runs on. Each
//! host is a network namespace on a bridge (the same kind `--net netns` builds) running its own
//! OpenSSH server on a generated host key; one generated client key logs in as root. `up`
//! writes `DIR/hosts.toml` (the hosts file remote runs read) and `DIR/lab.json` (what `down`
//! removes); `down` stops every sshd and deletes the namespaces and the bridge.
//!
//! Needs root, iproute2, nftables and Debian's `openssh-server` (for `/usr/sbin/sshd`).

use crate::run::hosts::{self, Host, Ssh};
use nemesis::netns::{self, NamespaceNet};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(clap::Args)]
pub struct LabArgs {
    #[command(subcommand)]
    pub action: LabAction,
}

#[derive(clap::Subcommand)]
pub enum LabAction {
    /// Make N hosts: namespaces on a bridge, each with its own sshd; writes DIR/hosts.toml.
    Up {
        /// How many hosts.
        #[arg(long, default_value_t = 3)]
        hosts: usize,
        /// Where the keys, the hosts file and the lab's record go.
        #[arg(long, default_value = "lab")]
        dir: PathBuf,
    },
    /// Remove the lab in DIR: every sshd stopped, the namespaces and the bridge deleted.
    Down {
        #[arg(long, default_value = "lab")]
        dir: PathBuf,
    },
}

/// What a lab is made of, for `down`.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Lab {
    pub namespaces: Vec<String>,
    pub bridge: Option<String>,
    pub addresses: Vec<String>,
    /// sshd's process ids, one per host.
    pub sshd: Vec<u32>,
}

const SSHD: &str = "/usr/sbin/sshd";

pub fn run(args: LabArgs) -> u8 {
    let done = match args.action {
        LabAction::Up { hosts, dir } => up(hosts, &dir).map(|file| {
            println!(
                "faultline lab: {hosts} hosts up; hosts file {}",
                file.display()
            );
        }),
        LabAction::Down { dir } => down(&dir).map(|n| {
            println!("faultline lab: {n} hosts down; nothing left running");
        }),
    };
    match done {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("faultline lab: {e}");
            crate::EXIT_BAD_INPUT
        }
    }
}

/// Root, the network tools, sshd and ssh-keygen.
fn check_tools() -> Result<(), String> {
    netns::check_available().map_err(|e| e.replace("--net netns", "faultline lab"))?;
    if !Path::new(SSHD).exists() {
        return Err(format!(
            "{SSHD} not found: install Debian's openssh-server (as root: apt-get install openssh-server)"
        ));
    }
    for tool in ["ssh-keygen", "ssh"] {
        if !netns::has_tool(tool) {
            return Err(format!("{tool} not found: install Debian's openssh-client"));
        }
    }
    Ok(())
}

/// Runs a command; its stderr in the error.
fn sh(cmd: &mut Command, what: &str) -> Result<(), String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{what}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{what}: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn keygen(path: &Path) -> Result<(), String> {
    sh(
        Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", "faultline-lab", "-f"])
            .arg(path),
        &format!("ssh-keygen {}", path.display()),
    )
}

fn up(hosts: usize, dir: &Path) -> Result<PathBuf, String> {
    if !(1..=20).contains(&hosts) {
        return Err(format!("--hosts {hosts}: give 1 to 20 hosts"));
    }
    check_tools()?;
    let record = dir.join("lab.json");
    if record.exists() {
        return Err(format!(
            "a lab is already up in {} (faultline lab down --dir {} first)",
            dir.display(),
            dir.display()
        ));
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let mut lab = Lab::default();
    match build(hosts, &dir, &mut lab) {
        Ok(file) => Ok(file),
        Err(e) => {
            // Leave nothing half built.
            teardown(&dir, &lab);
            let _ = std::fs::remove_file(&record);
            Err(e)
        }
    }
}

fn build(hosts: usize, dir: &Path, lab: &mut Lab) -> Result<PathBuf, String> {
    let (client, host_key) = (dir.join("client_key"), dir.join("host_key"));
    for key in [&client, &host_key] {
        let _ = std::fs::remove_file(key);
        let _ = std::fs::remove_file(key.with_extension("pub"));
        keygen(key)?;
    }
    let pubkey = |k: &Path| {
        std::fs::read_to_string(k.with_extension("pub"))
            .map_err(|e| format!("{}: {e}", k.display()))
    };
    std::fs::write(dir.join("authorized_keys"), pubkey(&client)?)
        .map_err(|e| format!("authorized_keys: {e}"))?;
    let me = std::process::id();
    let prefix = format!("fl{:04x}l", (me ^ (me >> 16)) & 0xffff);
    let mut net = NamespaceNet::create(&prefix, hosts).map_err(|e| format!("namespaces: {e}"))?;
    lab.namespaces = net.namespaces().to_vec();
    lab.bridge = net.bridge().map(String::from);
    lab.addresses = (0..hosts).map(|i| net.addr(i).to_string()).collect();
    // The namespaces outlive this process: `down` removes them.
    net.keep();
    save(dir, lab)?;
    std::fs::create_dir_all("/run/sshd").map_err(|e| format!("/run/sshd: {e}"))?;
    let host_pub = pubkey(&host_key)?;
    let mut known = String::new();
    for i in 0..hosts {
        let pid = start_sshd(dir, lab, i, &host_key)?;
        lab.sshd.push(pid);
        save(dir, lab)?;
        known.push_str(&format!("{} {}", lab.addresses[i], host_pub));
    }
    let known_hosts = dir.join("known_hosts");
    std::fs::write(&known_hosts, known).map_err(|e| format!("known_hosts: {e}"))?;
    for i in 0..hosts {
        wait_for_login(dir, lab, i)?;
    }
    let file = dir.join("hosts.toml");
    std::fs::write(&file, hosts_file(dir, lab)).map_err(|e| format!("{}: {e}", file.display()))?;
    Ok(file)
}

/// Starts host `i`'s sshd in its namespace; its pid (read from its pid file).
fn start_sshd(dir: &Path, lab: &Lab, i: usize, host_key: &Path) -> Result<u32, String> {
    let home = dir.join(format!("h{}", i + 1));
    std::fs::create_dir_all(&home).map_err(|e| format!("{}: {e}", home.display()))?;
    let pid_file = home.join("sshd.pid");
    let config = format!(
        "ListenAddress {addr}\nPort 22\nHostKey {key}\nAuthorizedKeysFile {auth}\nPidFile {pid}\n\
         PermitRootLogin prohibit-password\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n\
         UsePAM no\nStrictModes no\nLogLevel ERROR\nMaxStartups 100\nMaxSessions 100\n\
         ClientAliveInterval 5\nClientAliveCountMax 2\n",
        addr = lab.addresses[i],
        key = host_key.display(),
        auth = dir.join("authorized_keys").display(),
        pid = pid_file.display(),
    );
    let config_file = home.join("sshd_config");
    std::fs::write(&config_file, config).map_err(|e| format!("sshd_config: {e}"))?;
    let _ = std::fs::remove_file(&pid_file);
    sh(
        Command::new("ip")
            .args(["netns", "exec", &lab.namespaces[i], SSHD, "-f"])
            .arg(&config_file)
            .arg("-E")
            .arg(home.join("sshd.log")),
        &format!("sshd for h{}", i + 1),
    )?;
    // sshd forks into the background and writes its pid file once it listens.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(pid) = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse().ok())
        {
            return Ok(pid);
        }
        if Instant::now() > deadline {
            return Err(format!(
                "sshd for h{} wrote no pid file; see {}",
                i + 1,
                home.join("sshd.log").display()
            ));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Host `i` of the lab as a hosts file gives it: root, the lab's client key, and its
/// `known_hosts` strictly checked.
fn lab_host(dir: &Path, lab: &Lab, i: usize) -> Host {
    Host {
        name: format!("h{}", i + 1),
        address: lab.addresses[i].clone(),
        user: Some("root".into()),
        port: Some(22),
        identity: Some(dir.join("client_key")),
        ssh_options: vec![
            "-o".into(),
            format!("UserKnownHostsFile={}", dir.join("known_hosts").display()),
            "-o".into(),
            "StrictHostKeyChecking=yes".into(),
        ],
        dir: None,
    }
}

/// Waits until host `i` can be logged in to, through the same SSH remote runs use.
fn wait_for_login(dir: &Path, lab: &Lab, i: usize) -> Result<(), String> {
    let control = crate::run::remote::control_dir(std::process::id());
    std::fs::create_dir_all(&control).map_err(|e| format!("{}: {e}", control.display()))?;
    let ssh = Ssh::new(lab_host(dir, lab, i), &control);
    let deadline = Instant::now() + Duration::from_secs(10);
    let logged_in = loop {
        match ssh.run("true") {
            Ok(_) => break Ok(()),
            Err(e) if Instant::now() > deadline => break Err(format!("cannot log in: {e}")),
            Err(_) => std::thread::sleep(Duration::from_millis(100)),
        }
    };
    ssh.close();
    let _ = std::fs::remove_dir_all(&control);
    logged_in
}

/// `DIR/hosts.toml`: one `[[hosts]]` per host, with the keys to reach it.
fn hosts_file(dir: &Path, lab: &Lab) -> String {
    let hosts = (0..lab.addresses.len())
        .map(|i| lab_host(dir, lab, i))
        .collect();
    format!(
        "# Written by `faultline lab up`: the lab's hosts, each an OpenSSH server in its own\n\
         # network namespace on this machine.\n\n{}",
        hosts::to_toml(hosts)
    )
}

fn save(dir: &Path, lab: &Lab) -> Result<(), String> {
    let text = serde_json::to_string_pretty(lab).expect("a lab serializes");
    std::fs::write(dir.join("lab.json"), text).map_err(|e| format!("lab.json: {e}"))
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| nemesis::process::parent(p) == Some(pid))
        .collect()
}

/// Whether process `pid` is host `i`'s sshd (the pid may have been reused since).
fn is_our_sshd(dir: &Path, i: usize, pid: u32) -> bool {
    let config = dir.join(format!("h{}", i + 1)).join("sshd_config");
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&config.display().to_string()))
}

/// Stops every sshd of the lab and deletes its namespaces and bridge; the errors met.
fn teardown(dir: &Path, lab: &Lab) -> Vec<String> {
    let mut errors = Vec::new();
    for (i, &raw) in lab.sshd.iter().enumerate() {
        let pid = nix::unistd::Pid::from_raw(raw as i32);
        if is_our_sshd(dir, i, raw) {
            // Its sessions and what they run first: they outlive the listener, and once the
            // namespace is gone nothing would ever end them.
            let mut tree = children(raw);
            let mut k = 0;
            while k < tree.len() {
                let below = children(tree[k]);
                tree.extend(below);
                k += 1;
            }
            for p in tree {
                let p = nix::unistd::Pid::from_raw(p as i32);
                let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
            }
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(3);
            while Path::new(&format!("/proc/{pid}")).exists() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if Path::new(&format!("/proc/{pid}")).exists() {
                let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGKILL);
                std::thread::sleep(Duration::from_millis(100));
            }
            if is_our_sshd(dir, i, raw) {
                errors.push(format!("h{}'s sshd (pid {raw}) did not stop", i + 1));
            }
        }
    }
    if let Err(e) = netns::remove(&lab.namespaces, lab.bridge.as_deref()) {
        errors.push(format!("namespaces: {e}"));
    }
    errors
}

fn down(dir: &Path) -> Result<usize, String> {
    let record = dir.join("lab.json");
    let text = std::fs::read_to_string(&record)
        .map_err(|e| format!("no lab in {} ({}: {e})", dir.display(), record.display()))?;
    let lab: Lab = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", record.display()))?;
    let dir = std::path::absolute(dir).map_err(|e| e.to_string())?;
    let errors = teardown(&dir, &lab);
    if !errors.is_empty() {
        return Err(errors.join("; "));
    }
    std::fs::remove_file(&record).map_err(|e| format!("{}: {e}", record.display()))?;
    let _ = std::fs::remove_file(dir.join("hosts.toml"));
    Ok(lab.namespaces.len())
}
