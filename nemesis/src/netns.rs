//! Partitions in the kernel: every node in its own network namespace, all joined by a bridge, and
//! nftables rules inside each namespace dropping what arrives from the nodes it holds a grudge
//! against (as Jepsen does with iptables on real hosts). It works for any program, since nothing
//! is asked of the node but to listen on its namespace's address. It needs root, `ip` (iproute2)
//! and `nft` (nftables).
//!
//! Names carry a per-run prefix (`fl<hex>`): namespaces `<prefix>n1…`, a bridge `<prefix>br` with
//! veth pairs `<prefix>v1…` whose inner ends are `eth0`. Addresses come from `10.231.X.0/24`, with
//! `X` chosen so that no existing interface uses it; the host side of the bridge is `.254`, node
//! `i` (0-based) is `.i+1`. Each namespace has one table, `inet faultline`, whose `input` chain
//! holds the drops; healing flushes it. Deleting a namespace deletes its veth end and its table.

use crate::fault::Grudge;
use crate::Net;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The namespaces, bridge and rules of one run.
pub struct NamespaceNet {
    prefix: String,
    subnet: u8,
    namespaces: Vec<String>,
    bridge: Option<String>,
}

/// Runs a command, turning a failure into an error that names the command and its stderr.
fn run(args: &[&str], stdin: Option<&str>) -> std::io::Result<()> {
    let mut cmd = Command::new(args[0]);
    cmd.args(&args[1..])
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| {
        std::io::Error::new(
            e.kind(),
            format!(
                "cannot run {}: {e} (install iproute2 and nftables)",
                args[0]
            ),
        )
    })?;
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .expect("piped")
            .write_all(text.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "`{}` failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// Whether this process can build namespaces: root, with `ip` and `nft` on the path.
pub fn check_available() -> Result<(), String> {
    if !nix::unistd::geteuid().is_root() {
        return Err("--net netns needs root (network namespaces and nftables)".into());
    }
    for (tool, package) in [("ip", "iproute2"), ("nft", "nftables")] {
        if !has_tool(tool) {
            return Err(format!(
                "--net netns needs `{tool}`: install it with `apt-get install {package}`"
            ));
        }
    }
    Ok(())
}

/// Whether `tool` runs (as `tool -V`) from the path.
pub fn has_tool(tool: &str) -> bool {
    Command::new(tool)
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok()
}

/// Existing namespace names (`ip netns list`).
pub fn list_namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output();
    match out {
        Ok(o) => String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Whether a network interface exists on the host.
pub fn link_exists(name: &str) -> bool {
    std::path::Path::new("/sys/class/net").join(name).exists()
}

/// A /24 under 10.231.0.0/16 that no interface on the host uses.
fn free_subnet() -> std::io::Result<u8> {
    let out = Command::new("ip").args(["-o", "-4", "addr"]).output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    (1..=250u8)
        .find(|x| !text.contains(&format!("10.231.{x}.")))
        .ok_or_else(|| std::io::Error::other("no free 10.231.X.0/24 subnet"))
}

impl NamespaceNet {
    /// Builds namespaces for `n` nodes. On failure, whatever was built is torn down again.
    pub fn create(prefix: &str, n: usize) -> std::io::Result<NamespaceNet> {
        check_available().map_err(std::io::Error::other)?;
        assert!(
            prefix.len() <= 10,
            "interface names must stay under 16 bytes"
        );
        // Two harnesses (or labs) starting at once must not pick the same subnet: the choice
        // and the address that claims it are made under one machine-wide lock.
        let lock = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open("/run/faultline-netns.lock")?;
        lock.lock()?;
        let mut net = NamespaceNet {
            prefix: prefix.to_string(),
            subnet: free_subnet()?,
            namespaces: Vec::new(),
            bridge: None,
        };
        let bridge = format!("{prefix}br");
        let host = format!("10.231.{}.254/24", net.subnet);
        run(&["ip", "link", "add", &bridge, "type", "bridge"], None)?;
        net.bridge = Some(bridge.clone());
        run(&["ip", "addr", "add", &host, "dev", &bridge], None)?;
        drop(lock);
        run(&["ip", "link", "set", &bridge, "up"], None)?;
        for i in 0..n {
            let ns = format!("{prefix}n{}", i + 1);
            let veth = format!("{prefix}v{}", i + 1);
            let addr = format!("{}/24", net.addr(i));
            run(&["ip", "netns", "add", &ns], None)?;
            net.namespaces.push(ns.clone());
            run(
                &[
                    "ip", "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns",
                    &ns,
                ],
                None,
            )?;
            run(&["ip", "link", "set", &veth, "master", &bridge, "up"], None)?;
            run(
                &["ip", "-n", &ns, "addr", "add", &addr, "dev", "eth0"],
                None,
            )?;
            run(&["ip", "-n", &ns, "link", "set", "eth0", "up"], None)?;
            run(&["ip", "-n", &ns, "link", "set", "lo", "up"], None)?;
            run(&["ip", "netns", "exec", &ns, "nft", "-f", "-"], Some(TABLE))?;
        }
        Ok(net)
    }

    /// Node `i`'s address (0-based).
    pub fn addr(&self, i: usize) -> Ipv4Addr {
        Ipv4Addr::new(10, 231, self.subnet, i as u8 + 1)
    }

    /// The namespace file a process enters to run as node `i`.
    pub fn path(&self, i: usize) -> PathBuf {
        PathBuf::from("/run/netns").join(&self.namespaces[i])
    }

    pub fn namespaces(&self) -> &[String] {
        &self.namespaces
    }

    pub fn bridge(&self) -> Option<&str> {
        self.bridge.as_deref()
    }

    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// Leaves the namespaces and the bridge in place when this is dropped: for a lab, which
    /// outlives the command that made it and is removed by name later ([`remove`]).
    pub fn keep(&mut self) {
        self.namespaces.clear();
        self.bridge = None;
    }

    fn rules(&self, i: usize, grudge: Option<&Grudge>) -> std::io::Result<()> {
        let from: Vec<String> = grudge
            .map(|g| {
                g.hears_not(i)
                    .iter()
                    .map(|&j| self.addr(j).to_string())
                    .collect()
            })
            .unwrap_or_default();
        run(
            &["ip", "netns", "exec", &self.namespaces[i], "nft", "-f", "-"],
            Some(&grudge_rules(&from)),
        )
    }

    /// The rules in node `i`'s namespace, as `nft list` prints them.
    pub fn ruleset(&self, i: usize) -> std::io::Result<String> {
        let out = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.namespaces[i],
                "nft",
                "list",
                "ruleset",
            ])
            .output()?;
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

/// The nftables table every node's machine (a namespace, a remote host) gets: an input chain
/// that accepts everything until a grudge says otherwise.
pub const TABLE: &str = "table inet faultline {\n  chain input {\n    type filter hook input priority 0; policy accept;\n  }\n}\n";

/// The script that makes a node's input chain drop what comes from the addresses `from`
/// (nothing dropped when it is empty).
pub fn grudge_rules<S: AsRef<str>>(from: &[S]) -> String {
    let mut script = String::from("flush chain inet faultline input\n");
    if !from.is_empty() {
        let list: Vec<&str> = from.iter().map(AsRef::as_ref).collect();
        script.push_str(&format!(
            "add rule inet faultline input ip saddr {{ {} }} drop\n",
            list.join(", ")
        ));
    }
    script
}

/// Deletes namespaces and a bridge by name (used by teardown and by `faultline heal`).
/// Missing ones are fine; the first other failure is returned after trying everything.
pub fn remove(namespaces: &[String], bridge: Option<&str>) -> std::io::Result<()> {
    let mut first_error = None;
    let existing = list_namespaces();
    for ns in namespaces.iter().filter(|ns| existing.contains(ns)) {
        if let Err(e) = run(&["ip", "netns", "del", ns], None) {
            first_error.get_or_insert(e);
        }
    }
    if let Some(b) = bridge.filter(|b| link_exists(b)) {
        if let Err(e) = run(&["ip", "link", "del", b], None) {
            first_error.get_or_insert(e);
        }
    }
    first_error.map_or(Ok(()), Err)
}

impl Net for NamespaceNet {
    fn mechanism(&self) -> &'static str {
        "netns"
    }

    fn partition(&mut self, grudge: &Grudge) -> std::io::Result<()> {
        for i in 0..self.namespaces.len() {
            self.rules(i, Some(grudge))?;
        }
        Ok(())
    }

    fn heal(&mut self) -> std::io::Result<()> {
        for i in 0..self.namespaces.len() {
            self.rules(i, None)?;
        }
        Ok(())
    }
}

impl Drop for NamespaceNet {
    fn drop(&mut self) {
        if let Err(e) = remove(&self.namespaces, self.bridge.as_deref()) {
            eprintln!("faultline: tearing down network namespaces: {e}");
        }
    }
}
