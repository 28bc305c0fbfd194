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

/// A lab of `n` hosts in `scratch`'s `lab/`, up; its directory.
fn lab_up(scratch: &Scratch, n: usize) -> std::path::PathBuf {
    let dir = scratch.0.join("lab");
    let up = faultline(&[
        "lab",
        "up",
        "--hosts",
        &n.to_string(),
        "--dir",
        dir.to_str().unwrap(),
    ]);
    assert_eq!(up.status.code(), Some(0), "{}", said(&up));
    dir
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
    let _one = support::one_cluster_at_a_time();
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

/// The SSH control directories harnesses keep in the temporary directory.
fn control_dirs() -> Vec<String> {
    let mut found: Vec<String> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("fl-ssh-") || n.starts_with("fl-probe-"))
        .collect();
    found.sort();
    found
}

/// A one-node run on the hosts of `file` fails, saying `why`, and leaves no control directory.
fn refused_with(file: &str, store: &Path, why: &str) {
    let before = control_dirs();
    let out = faultline(&[
        "run",
        "--hosts",
        file,
        "--nodes",
        "1",
        "--store",
        store.to_str().unwrap(),
        "--nemesis",
        "none",
        "--time-limit",
        "1",
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(said(&out).contains(why), "{}", said(&out));
    assert_eq!(control_dirs(), before, "a control directory was left");
}

/// Runs `faultline run --hosts` on the lab in `dir` into `store`; exit code and run directory.
fn run_on(dir: &Path, store: &Path, flags: &[&str]) -> (i32, std::path::PathBuf, String) {
    let hosts = dir.join("hosts.toml");
    let mut args = vec![
        "run",
        "--hosts",
        hosts.to_str().unwrap(),
        "--store",
        store.to_str().unwrap(),
    ];
    args.extend_from_slice(flags);
    let out = faultline(&args);
    let run_dir = std::fs::canonicalize(store.join("latest")).expect("a stored run");
    (out.status.code().unwrap(), run_dir, said(&out))
}

/// Runs as [`run_on`] does and checks that the run held, with no nemesis error and each of
/// `kinds` applied at least once; the run directory and its results.
fn held(
    dir: &Path,
    store: &Path,
    flags: &[&str],
    kinds: &[&str],
) -> (std::path::PathBuf, Value, String) {
    let (code, run_dir, text) = run_on(dir, store, flags);
    assert_eq!(code, 0, "{text}");
    let results: Value =
        serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
            .unwrap();
    assert_eq!(results["verdict"], "holds", "{results}");
    assert!(
        results["nemesis_errors"].as_array().unwrap().is_empty(),
        "{results}"
    );
    for kind in kinds {
        assert!(
            results["faults"][kind].as_u64().unwrap_or(0) >= 1,
            "no {kind}: {results}"
        );
    }
    (run_dir, results, text)
}

/// Nothing of the run in `run_dir` is left on the lab's hosts: no node, no rules, no directory.
fn nothing_left_on(hosts: &[toml::Value], run_dir: &Path) {
    let remote = format!(
        "/tmp/faultline-{}",
        run_dir.file_name().unwrap().to_string_lossy()
    );
    // raftkv nodes, and anything else started in the run's directory (etcd's data is there).
    let pattern = format!("faultline raftkv|{remote}");
    let nodes = Command::new("pgrep")
        .args(["-af", &pattern])
        .output()
        .unwrap();
    assert!(
        nodes.stdout.is_empty(),
        "nodes left: {}",
        String::from_utf8_lossy(&nodes.stdout)
    );
    for h in hosts {
        let out = over_ssh(
            h,
            &format!("nft list tables; ls -d {remote} 2>/dev/null || true"),
        );
        let text = said(&out);
        assert!(!text.contains("faultline"), "{:?}: {text}", h["name"]);
    }
}

#[test]
fn raftkv_runs_on_the_lab_over_ssh_with_every_fault_confirmed_and_leaves_nothing() {
    need_lab();
    let _one = support::one_cluster_at_a_time();
    let scratch = Scratch::new("lab-run");
    let dir = lab_up(&scratch, 3);
    let _down = Down(&dir);
    let hosts = hosts(&dir);
    let store = scratch.0.join("store");
    let (run_dir, _, text) = held(
        &dir,
        &store,
        &[
            "--time-limit",
            "12",
            "--nemesis",
            "partition,pause,kill,clock",
            "--nemesis-interval",
            "1.5",
            "--seed",
            "5",
            "--rate",
            "300",
            "--keep-data",
            "always",
        ],
        &["partition", "pause", "kill", "clock"],
    );
    assert!(text.contains("via ssh + nftables on the hosts"), "{text}");
    // The clock was set through the control file on the host, and the node's own clock
    // showed it.
    let log = std::fs::read_to_string(run_dir.join("nemesis.jsonl")).unwrap();
    let clock = log
        .lines()
        .find(|l| l.contains("\"reported_skew_ms\""))
        .expect("a confirmed clock fault");
    assert!(clock.contains("node reports"), "{clock}");
    // The node logs and (with --keep-data always) the data directories came back.
    for i in 1..=3 {
        let log = std::fs::read_to_string(run_dir.join(format!("nodes/n{i}.log"))).unwrap();
        assert!(log.contains("raftkv node"), "n{i}'s log: {log}");
        let data = run_dir.join(format!("nodes/n{i}"));
        assert!(
            std::fs::read_dir(&data).is_ok_and(|mut d| d.next().is_some()),
            "{} is empty or missing",
            data.display()
        );
    }
    nothing_left_on(&hosts, &run_dir);
}

#[test]
fn etcd_a_target_file_and_membership_run_on_the_lab_and_a_missing_program_is_named() {
    need_lab();
    assert!(
        Path::new("/usr/bin/etcd").exists(),
        "etcd not found: install Debian's etcd-server (as root: apt-get install etcd-server; scripts/test.sh does)"
    );
    let _one = support::one_cluster_at_a_time();
    let scratch = Scratch::new("lab-etcd");
    let dir = lab_up(&scratch, 3);
    let _down = Down(&dir);
    let hosts = hosts(&dir);
    let store = scratch.0.join("store");
    let (run_dir, _, text) = held(
        &dir,
        &store,
        &[
            "--target",
            "etcd",
            "--time-limit",
            "10",
            "--nemesis",
            "partition,kill",
            "--nemesis-interval",
            "2",
            "--seed",
            "3",
            "--rate",
            "200",
        ],
        &["partition", "kill"],
    );
    assert!(text.contains("on 3 hosts"), "{text}");
    // etcd ran on each host: its log says which address it served.
    for (i, h) in hosts.iter().enumerate() {
        let log = std::fs::read_to_string(run_dir.join(format!("nodes/n{}.log", i + 1))).unwrap();
        let addr = h["address"].as_str().unwrap();
        assert!(log.contains(&format!("{addr}:2379")), "n{}: {log}", i + 1);
    }
    nothing_left_on(&hosts, &run_dir);

    // The bundled example target file, its start commands run on the hosts; pause and kill
    // reach the processes there.
    let example = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/targets/raftkv.toml"
    );
    let target = format!("http:{example}");
    let (run_dir, _, _) = held(
        &dir,
        &store,
        &[
            "--target",
            &target,
            "--time-limit",
            "8",
            "--nemesis",
            "pause,kill",
            "--nemesis-interval",
            "1.5",
            "--seed",
            "2",
        ],
        &["kill"],
    );
    nothing_left_on(&hosts, &run_dir);

    // raftkv's membership changes through its admin API on the hosts, each confirmed by the
    // leader's own member list. (Seed 1's schedule removes a member while a partition cuts off
    // another, which wedges the two-member configuration until the heal — Raft as it should
    // be, but the change is never seen committed, a nemesis error; seed 2 does not.)
    let (run_dir, _, _) = held(
        &dir,
        &store,
        &[
            "--time-limit",
            "10",
            "--nemesis",
            "membership,partition",
            "--nemesis-interval",
            "2",
            "--seed",
            "2",
        ],
        &["membership"],
    );
    let log = std::fs::read_to_string(run_dir.join("nemesis.jsonl")).unwrap();
    assert!(log.contains("configuration at entry"), "{log}");
    nothing_left_on(&hosts, &run_dir);

    // A start command whose program a host does not have: one error naming the host and the
    // program, before anything is made.
    let missing = scratch.file(
        "missing.toml",
        &std::fs::read_to_string(example).unwrap().replacen(
            "exec {faultline} raftkv",
            "exec /opt/no-such-kv",
            1,
        ),
    );
    let hosts_file = dir.join("hosts.toml");
    let out = faultline(&[
        "run",
        "--hosts",
        hosts_file.to_str().unwrap(),
        "--target",
        &format!("http:{missing}"),
        "--store",
        scratch.0.join("store-missing").to_str().unwrap(),
        "--time-limit",
        "1",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", said(&out));
    assert!(
        said(&out)
            .contains("/opt/no-such-kv is not installed there, and n1's start command runs it"),
        "{}",
        said(&out)
    );
    assert!(said(&out).contains("h1 ("), "{}", said(&out));
    assert!(!scratch.0.join("store-missing").exists(), "a run was made");
}

#[test]
fn stale_reads_are_caught_over_ssh_and_a_bad_hosts_file_gets_one_clear_error() {
    need_lab();
    let _one = support::one_cluster_at_a_time();
    let scratch = Scratch::new("lab-stale");
    let dir = lab_up(&scratch, 3);
    let _down = Down(&dir);
    let hosts = hosts(&dir);
    let store = scratch.0.join("store");
    let mut last = std::path::PathBuf::new();
    let caught = (1..=3).any(|seed| {
        let seed = seed.to_string();
        let (code, run_dir, text) = run_on(
            &dir,
            &store,
            &[
                "--read-mode",
                "stale",
                "--nemesis",
                "partition",
                "--time-limit",
                "10",
                "--nemesis-interval",
                "2",
                "--seed",
                &seed,
            ],
        );
        assert!(code == 0 || code == 1, "{text}");
        last = run_dir;
        code == 1
    });
    assert!(caught, "stale reads were not caught in 3 runs over ssh");
    // The run that failed kept its data (--keep-data on-failure): brought back from the hosts
    // after the verdict, then removed there.
    for i in 1..=3 {
        let data = last.join(format!("nodes/n{i}"));
        assert!(
            std::fs::read_dir(&data).is_ok_and(|mut d| d.next().is_some()),
            "{} is empty or missing",
            data.display()
        );
    }
    nothing_left_on(&hosts, &last);

    // Latency through tc netem on the hosts: applied and felt where the kernel has netem, one
    // clear error where it has not (this project's own machine has no sch_netem).
    let (code, run_dir, text) = run_on(
        &dir,
        &store,
        &[
            "--nemesis",
            "none",
            "--time-limit",
            "3",
            "--net-latency",
            "30",
        ],
    );
    if code == 0 {
        let results: Value =
            serde_json::from_str(&std::fs::read_to_string(run_dir.join("results.json")).unwrap())
                .unwrap();
        let p50 = results["main_phase"]["latency_ms"]["p50"].as_f64().unwrap();
        assert!(p50 >= 30.0, "netem's 30 ms not felt: p50 {p50} ms");
    } else {
        assert!(
            text.contains("--net-latency and --net-loss need tc netem on the host"),
            "{text}"
        );
    }
    nothing_left_on(&hosts, &run_dir);

    // A host that is not there, and a file that is not a hosts file: one clear error each.
    let bad = scratch.file(
        "hosts.toml",
        &format!(
            "[[hosts]]\nname = \"gone\"\naddress = \"10.255.255.1\"\nidentity = \"{}\"\n",
            dir.join("client_key").display()
        ),
    );
    refused_with(&bad, &store, "gone (10.255.255.1)");
    // A key the host does not know.
    let wrong = scratch.0.join("wrong_key");
    let made = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&wrong)
        .status()
        .unwrap();
    assert!(made.success());
    let h = &hosts[0];
    let refused = scratch.file(
        "refused.toml",
        &format!(
            "[[hosts]]\nname = \"h1\"\naddress = \"{}\"\nuser = \"root\"\nidentity = \"{}\"\n\
             ssh_options = [\"-F\", \"none\", \"-o\", \"IdentitiesOnly=yes\", \"-o\", \"UserKnownHostsFile={}\"]\n",
            h["address"].as_str().unwrap(),
            wrong.display(),
            dir.join("known_hosts").display()
        ),
    );
    refused_with(&refused, &store, "Permission denied (publickey)");
    // Runs may go under another directory of each host (`dir`): used, and left empty; one
    // that cannot be written is refused, naming it.
    let lab_hosts = std::fs::read_to_string(dir.join("hosts.toml")).unwrap();
    let elsewhere = scratch.0.join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    let made = std::fs::metadata(&elsewhere).unwrap().modified().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(20));
    let with_dir =
        |d: &str| lab_hosts.replace("[[hosts]]\n", &format!("[[hosts]]\ndir = \"{d}\"\n"));
    let moved = scratch.file("moved.toml", &with_dir(elsewhere.to_str().unwrap()));
    let out = faultline(&[
        "run",
        "--hosts",
        &moved,
        "--store",
        store.to_str().unwrap(),
        "--nemesis",
        "none",
        "--time-limit",
        "2",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", said(&out));
    // Entries were made and removed there: the directory's modification time moved.
    let touched = std::fs::metadata(&elsewhere).unwrap().modified().unwrap();
    assert!(
        touched > made,
        "nothing was made under {}",
        elsewhere.display()
    );
    assert_eq!(
        std::fs::read_dir(&elsewhere).unwrap().count(),
        0,
        "the run's directory under {} was not removed",
        elsewhere.display()
    );
    refused_with(
        &scratch.file("proc.toml", &with_dir("/proc")),
        &store,
        "cannot write in /proc there",
    );
    let junk = scratch.file("junk.toml", "[[hosts]]\nname = \"h\"\n");
    let out = faultline(&["run", "--hosts", &junk, "--store", store.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        said(&out).contains("missing field `address`"),
        "{}",
        said(&out)
    );
}

/// Starts a long run on the lab in `dir` and waits until a partition is in force on the hosts;
/// the harness and its run directory. The caller waits for the harness it is given (clippy
/// cannot see past the return); on a timeout it is stopped and waited for here.
#[allow(clippy::zombie_processes)]
fn partitioned_run(
    dir: &Path,
    store: &Path,
    seed: &str,
) -> (std::process::Child, std::path::PathBuf) {
    let hosts_file = dir.join("hosts.toml");
    let mut harness = Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(["run", "--hosts", hosts_file.to_str().unwrap(), "--store"])
        .arg(store)
        .args([
            "--time-limit",
            "60",
            "--nemesis",
            "partition,pause",
            "--nemesis-interval",
            "20",
            "--seed",
            seed,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(40);
    loop {
        let partitioned = std::fs::canonicalize(store.join("latest"))
            .ok()
            .filter(|d| {
                std::fs::read_to_string(d.join("history.jsonl"))
                    .is_ok_and(|h| h.contains("\"start-partition\"") && h.contains("drops"))
            });
        if let Some(d) = partitioned {
            return (harness, d);
        }
        if std::time::Instant::now() > deadline {
            // Stopped (it heals on SIGTERM) before the test fails.
            let pid = nix::unistd::Pid::from_raw(harness.id() as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
            let _ = harness.wait();
            panic!("no partition within 40 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn sigterm_heals_the_hosts_itself_and_after_sigkill_heal_reaches_them() {
    need_lab();
    let _one = support::one_cluster_at_a_time();
    let scratch = Scratch::new("lab-heal");
    let dir = lab_up(&scratch, 3);
    let _down = Down(&dir);
    let hosts = hosts(&dir);

    // SIGTERM mid-partition: the harness heals, tears down and exits by itself.
    let store = scratch.0.join("store-term");
    let (mut harness, run_dir) = partitioned_run(&dir, &store, "2");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(harness.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let status = harness.wait().unwrap();
    assert!(status.code().is_some(), "killed by a signal: {status}");
    nothing_left_on(&hosts, &run_dir);
    assert!(!run_dir.join("state.json").exists());

    // SIGKILL mid-partition: the nodes and the rules outlive the harness...
    let store = scratch.0.join("store-kill");
    let (mut harness, run_dir) = partitioned_run(&dir, &store, "2");
    harness.kill().unwrap();
    harness.wait().unwrap();
    let nodes = Command::new("pgrep")
        .args(["-f", "faultline raftkv"])
        .output()
        .unwrap();
    assert!(!nodes.stdout.is_empty(), "the nodes went with the harness");
    let state = std::fs::read_to_string(run_dir.join("state.json")).unwrap();
    assert!(state.contains("\"remote\""), "{state}");
    assert!(
        state.contains("\"pid\""),
        "the hosts' node pids are recorded: {state}"
    );
    // ...until heal reaches every host, and says what it found there.
    let healed = faultline(&["heal", run_dir.to_str().unwrap()]);
    let text = said(&healed);
    assert_eq!(healed.status.code(), Some(0), "{text}");
    assert_eq!(
        text.matches("its table and its directory removed").count(),
        3,
        "{text}"
    );
    let killed = text
        .lines()
        .filter(|l| l.contains(": node pid ") && l.contains(" killed"))
        .count();
    assert_eq!(killed, 3, "a node process killed on each host: {text}");
    assert!(text.contains("the partition's rules deleted"), "{text}");
    nothing_left_on(&hosts, &run_dir);
    assert!(!run_dir.join("state.json").exists());
}
