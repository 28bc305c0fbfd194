//! `faultline lab up|down` end to end: hosts that are network namespaces on a bridge, each with
//! its own OpenSSH server, reached with the generated keys exactly as `hosts.toml` says; and
//! nothing left behind by `down` — no namespace, no bridge, no sshd. Needs root, iproute2,
//! nftables and Debian's openssh-server (`scripts/test.sh` installs them); without them the
//! tests fail saying what to install.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod support;
use support::{faultline, Scratch};

fn need_lab() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "the lab needs root (network namespaces): run the tests as root"
    );
    assert!(
        Path::new("/usr/sbin/sshd").exists(),
        "sshd not found: install Debian's openssh-server (as root: apt-get install openssh-server; scripts/test.sh does)"
    );
}

fn said(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Brings the lab in `dir` down when dropped, so a failing test leaves nothing running.
struct Down<'a>(&'a Path);

impl Drop for Down<'_> {
    fn drop(&mut self) {
        let _ = faultline(&["lab", "down", "--dir", self.0.to_str().unwrap()]);
    }
}

/// What `hosts.toml` says of each host.
fn hosts(dir: &Path) -> Vec<toml::Value> {
    let text = std::fs::read_to_string(dir.join("hosts.toml")).unwrap();
    let file: toml::Value = toml::from_str(&text).unwrap();
    file["hosts"].as_array().unwrap().clone()
}

/// Runs `command` on a host over ssh, with what `hosts.toml` gives for it.
fn over_ssh(host: &toml::Value, command: &str) -> std::process::Output {
    let mut args = vec![
        "-F".to_string(),
        "none".into(),
        "-o".into(),
        "BatchMode=yes".into(),
        "-i".into(),
        host["identity"].as_str().unwrap().into(),
        "-p".into(),
        host["port"].as_integer().unwrap().to_string(),
    ];
    for o in host["ssh_options"].as_array().unwrap() {
        args.push(o.as_str().unwrap().into());
    }
    args.push(format!(
        "{}@{}",
        host["user"].as_str().unwrap(),
        host["address"].as_str().unwrap()
    ));
    args.push(command.into());
    Command::new("ssh").args(&args).output().unwrap()
}

fn sshd_of(dir: &Path) -> Vec<String> {
    let out = Command::new("pgrep")
        .args(["-af", "sshd"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&dir.display().to_string()))
        .map(String::from)
        .collect()
}

#[test]
fn lab_hosts_answer_over_ssh_inside_their_namespaces_and_down_leaves_nothing() {
    need_lab();
    let scratch = Scratch::new("lab");
    let dir = scratch.0.join("lab");
    let d = dir.to_str().unwrap();
    let _down = Down(&dir);
    let up = faultline(&["lab", "up", "--hosts", "2", "--dir", d]);
    assert_eq!(up.status.code(), Some(0), "{}", said(&up));
    let hosts = hosts(&dir);
    assert_eq!(hosts.len(), 2);
    for h in &hosts {
        let out = over_ssh(h, "ip -4 -o addr show eth0");
        assert!(out.status.success(), "{}", said(&out));
        let addr = h["address"].as_str().unwrap();
        assert!(
            said(&out).contains(&format!("inet {addr}/24")),
            "h{addr} is not inside its namespace: {}",
            said(&out)
        );
    }
    assert_eq!(sshd_of(&dir).len(), 2, "one sshd per host");
    // A second lab in the same place is refused, and the first keeps running.
    let again = faultline(&["lab", "up", "--hosts", "2", "--dir", d]);
    assert_eq!(again.status.code(), Some(3), "{}", said(&again));
    assert!(said(&again).contains("already up"), "{}", said(&again));
    assert!(over_ssh(&hosts[0], "true").status.success());

    let lab: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("lab.json")).unwrap()).unwrap();
    let down = faultline(&["lab", "down", "--dir", d]);
    assert_eq!(down.status.code(), Some(0), "{}", said(&down));
    assert!(sshd_of(&dir).is_empty(), "sshd left: {:?}", sshd_of(&dir));
    let listed = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout);
    for ns in lab["namespaces"].as_array().unwrap() {
        assert!(!listed.contains(ns.as_str().unwrap()), "{ns} left");
    }
    let bridge = lab["bridge"].as_str().unwrap();
    assert!(
        !Path::new("/sys/class/net").join(bridge).exists(),
        "{bridge} left"
    );
    let twice = faultline(&["lab", "down", "--dir", d]);
    assert_eq!(twice.status.code(), Some(3), "{}", said(&twice));
    assert!(said(&twice).contains("no lab in"), "{}", said(&twice));
}

#[test]
fn a_lab_of_no_hosts_is_refused_with_one_clear_error() {
    let scratch = Scratch::new("lab-zero");
    let out = faultline(&["lab", "up", "--hosts", "0", "--dir", scratch.path()]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(
        said(&out).contains("--hosts 0: give 1 to 20 hosts"),
        "{}",
        said(&out)
    );
    assert!(!scratch.0.join("lab.json").exists());
}
