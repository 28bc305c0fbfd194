//! What the tests of targets share: example files, the packages and privileges they need, a
//! run against a target, and the check that nothing was left behind.

use super::{faultline, Store};
use serde_json::Value;
use std::path::Path;
use std::process::Command;

pub fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/targets")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

pub fn need_etcd() {
    assert!(
        Path::new("/usr/bin/etcd").exists(),
        "etcd not found: install Debian's etcd-server (as root: apt-get install etcd-server; scripts/test.sh does)"
    );
}

pub fn need_netns() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "partitions in network namespaces need root: run the tests as root"
    );
    assert!(
        Command::new("nft").arg("--version").output().is_ok(),
        "nft not found: install nftables (as root: apt-get install nftables)"
    );
}

/// A run: its exit code, stdout, stderr and results.json.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub results: Value,
}

pub fn run(store: &Store, args: &[&str]) -> Ran {
    let mut all = vec!["run", "--store", store.path(), "--recovery", "1"];
    all.extend_from_slice(args);
    let out = faultline(&all);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let code = out.status.code().expect("exited");
    assert!(
        (0..=2).contains(&code),
        "faultline run {args:?} exited {code}\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    let dir = std::fs::canonicalize(store.join("latest")).expect("store/latest links the run");
    let results =
        serde_json::from_slice(&std::fs::read(dir.join("results.json")).unwrap()).unwrap();
    Ran {
        code,
        stdout,
        stderr,
        results,
    }
}

/// Writes `text` as the target file `name` in the store; the `--target` value for it.
pub fn target_file(store: &Store, name: &str, text: &str) -> String {
    let file = store.join(name);
    std::fs::write(&file, text).unwrap();
    format!("http:{}", file.display())
}

pub fn standings(results: &Value) -> Vec<(String, String)> {
    results["ladder"]["levels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["model"].as_str().unwrap().to_string(),
                l["standing"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn no_namespaces_left() {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    let list = String::from_utf8_lossy(&out.stdout);
    let ours: Vec<&str> = list.lines().filter(|l| l.starts_with("fl")).collect();
    assert!(ours.is_empty(), "namespaces left behind: {ours:?}");
    let etcd = Command::new("pgrep").args(["-x", "etcd"]).output().unwrap();
    assert!(
        etcd.stdout.is_empty(),
        "etcd processes left behind: {}",
        String::from_utf8_lossy(&etcd.stdout)
    );
}

/// The command lines of the live processes (this one aside) that mention `needle` in their
/// command line or their environment — a helper a node started (a broker's epmd) carries the
/// node's environment, whose paths name the run. An exited process nobody reaped (its parent
/// died first, and this container's PID 1 may not reap) holds nothing and is not counted.
pub fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: u32 = e.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let state = stat.rsplit(") ").next()?.chars().next()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            let mentions = |bytes: &[u8]| String::from_utf8_lossy(bytes).contains(needle);
            (pid != me && state != 'Z' && (mentions(&cmd) || mentions(&env)))
                .then(|| String::from_utf8_lossy(&cmd).replace('\0', " "))
        })
        .collect()
}
