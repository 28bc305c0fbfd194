//! End-to-end tests of the targets beyond the bundled raftkv: a real etcd 3.4 cluster (Debian's
//! etcd-server) under real faults, and the generic HTTP driver with the example description
//! files in `examples/targets/`. Runs are short and seeded; one cluster runs at a time; every run
//! is healed (`faultline heal`) even when a test fails, and its store removed when it passes.
//!
//! Needs root, nftables and etcd-server (`scripts/test.sh` installs them); without them these
//! tests fail saying what to install.

use serde_json::Value;
use std::path::Path;
use std::process::Command;

mod support;
use support::{faultline, one_cluster_at_a_time, Store};

fn example(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/targets")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn need_etcd() {
    assert!(
        Path::new("/usr/bin/etcd").exists(),
        "etcd not found: install Debian's etcd-server (as root: apt-get install etcd-server; scripts/test.sh does)"
    );
}

fn need_netns() {
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
struct Ran {
    code: i32,
    stdout: String,
    stderr: String,
    results: Value,
}

fn run(store: &Store, args: &[&str]) -> Ran {
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
fn target_file(store: &Store, name: &str, text: &str) -> String {
    let file = store.join(name);
    std::fs::write(&file, text).unwrap();
    format!("http:{}", file.display())
}

fn standings(results: &Value) -> Vec<(String, String)> {
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

fn no_namespaces_left() {
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

#[test]
fn etcd_with_linearizable_reads_stays_linearizable_under_partitions_pauses_and_kills() {
    need_etcd();
    need_netns();
    let _one = one_cluster_at_a_time();
    let store = Store::new("etcd-lin");
    let r = run(
        &store,
        &[
            "--target",
            "etcd",
            "--time-limit",
            "10",
            "--nemesis",
            "partition,pause,kill",
            "--nemesis-interval",
            "1.2",
            "--seed",
            "3",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr
            .contains("etcd partitions need network namespaces: using --net netns"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("faults partition,pause,kill via netns"),
        "{}",
        r.stderr
    );
    let faults = r.results["faults"].as_object().unwrap();
    assert!(
        faults.len() >= 2,
        "several kinds of fault were applied: {faults:?}"
    );
    assert!(
        standings(&r.results).iter().all(|(_, s)| s == "holds"),
        "{:?}",
        standings(&r.results)
    );
    assert!(r.results["main_phase"]["ok"].as_u64().unwrap() > 1000);
    // Reads, writes and cas all happened, with etcd's revisions as versions.
    assert!(
        r.stdout.contains("version order recorded by the target"),
        "{}",
        r.stdout
    );
    no_namespaces_left();
}

/// The isolation ladder of a transactional run: each level's standing.
fn isolation_standings(results: &Value) -> Vec<(String, String)> {
    results["isolation"]["report"]["levels"]
        .as_array()
        .expect("an isolation ladder")
        .iter()
        .map(|l| {
            (
                l["model"].as_str().unwrap().to_string(),
                l["standing"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn etcd_multi_key_transactions_are_strict_serializable_under_partitions_pauses_and_kills() {
    need_etcd();
    need_netns();
    let _one = one_cluster_at_a_time();
    for (workload, seed) in [("list-append", "4"), ("rw-register", "5")] {
        let store = Store::new("etcd-txn");
        let r = run(
            &store,
            &[
                "--target",
                "etcd",
                "--workload",
                workload,
                "--time-limit",
                "10",
                "--nemesis",
                "partition,pause,kill",
                "--nemesis-interval",
                "1.5",
                "--seed",
                seed,
                "--require",
                "strict-serializable",
            ],
        );
        let said = format!("{}\n{}", r.stdout, r.stderr);
        assert_eq!(r.code, 0, "{said}");
        let levels = isolation_standings(&r.results);
        assert!(
            levels.iter().all(|(_, s)| s == "holds"),
            "{levels:?}\n{said}"
        );
        assert!(
            r.results["faults"].as_object().unwrap().len() >= 2,
            "{said}"
        );
        let dir = std::fs::canonicalize(store.join("latest")).unwrap();
        let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
        // Transactions committed, and some were refused because a key changed under them:
        // the compare on revisions did its work.
        let committed = history
            .lines()
            .filter(|l| {
                l.contains("\"ok\"")
                    && l.contains("\"txn\"")
                    && (l.contains("\"append\"") || l.contains("[\"w\""))
            })
            .count();
        assert!(
            committed > 200,
            "{committed} writing transactions committed\n{said}"
        );
        assert!(history.contains("the commit's compare failed"), "{said}");
        if workload == "rw-register" {
            // etcd's revisions are the registers' versions: `["w", k, v, revision]`.
            let versioned = history.lines().any(|l| {
                let e: Value = serde_json::from_str(l).unwrap();
                let ops = e["value"].as_array().cloned().unwrap_or_default();
                e["type"] == "ok" && ops.iter().any(|m| m[0] == "w" && m[3].is_u64())
            });
            assert!(versioned, "{said}");
        }
        no_namespaces_left();
    }
}

#[test]
fn etcd_members_are_removed_and_added_back_through_the_member_api_under_load() {
    need_etcd();
    let _one = one_cluster_at_a_time();
    let store = Store::new("etcd-members");
    let r = run(
        &store,
        &[
            "--target",
            "etcd",
            "--nodes",
            "5",
            "--time-limit",
            "12",
            "--nemesis",
            "membership",
            "--nemesis-interval",
            "2.5",
            "--seed",
            "4",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.results["faults"]["membership"].as_u64().unwrap() >= 1,
        "{}",
        r.results
    );
    assert!(
        r.results["nemesis_errors"].as_array().unwrap().is_empty(),
        "{}",
        r.results
    );
    assert!(
        standings(&r.results).iter().all(|(_, s)| s == "holds"),
        "{:?}",
        standings(&r.results)
    );
    let dir = std::fs::canonicalize(store.join("latest")).unwrap();
    let history = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let said: Vec<Value> = history
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["process"] == "nemesis" && e["type"] == "info")
        .collect();
    let text: Vec<&str> = said.iter().filter_map(|e| e["value"].as_str()).collect();
    assert!(
        text.iter()
            .any(|t| t.starts_with("remove ") && t.contains("etcd's member list")),
        "{text:?}"
    );
    // The last return leaves etcd listing all five members again.
    let back = text
        .iter()
        .rfind(|t| t.starts_with("add back "))
        .unwrap_or_else(|| panic!("no member added back: {text:?}"));
    let listed = back.rsplit("etcd's member list: ").next().unwrap();
    let members = listed
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.starts_with('n') && w[1..].parse::<u32>().is_ok())
        .count();
    assert_eq!(members, 5, "{back}");
    // Every member serves the final reads: those added back are members again.
    let finals: std::collections::BTreeSet<String> = history
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["phase"] == "final" && e["type"] == "ok")
        .filter_map(|e| e["node"].as_str().map(String::from))
        .collect();
    assert_eq!(finals.len(), 5, "{finals:?}");
    no_namespaces_left();
}

#[test]
fn etcd_serializable_reads_from_an_isolated_member_are_stale() {
    need_etcd();
    need_netns();
    let _one = one_cluster_at_a_time();
    let store = Store::new("etcd-stale");
    // The schedule makes it near-certain: one member is cut off from 3 s to 6 s while clients
    // bound to it (--sticky-clients) keep reading its own state, and the other two keep writing.
    let r = run(
        &store,
        &[
            "--target",
            "etcd",
            "--etcd-read",
            "serializable",
            "--time-limit",
            "9",
            "--nemesis",
            "partition",
            "--shapes",
            "isolate-one",
            "--nemesis-interval",
            "3",
            "--sticky-clients",
            "--seed",
            "5",
        ],
    );
    assert_eq!(r.code, 1, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stdout.contains("stale read on"), "{}", r.stdout);
    let anomalies = r.results["ladder"]["anomalies"].as_array().unwrap();
    let stale = anomalies
        .iter()
        .find(|a| a["kind"] == "stale-read")
        .expect("a stale read among the anomalies");
    let sentence = stale["sentence"].as_str().unwrap();
    assert!(
        sentence.contains(" had been written to ") && sentence.contains("acknowledged"),
        "{sentence}"
    );
    let witness = stale["witness"].as_array().unwrap();
    assert!(
        (2..=12).contains(&witness.len()),
        "a small witness (a cas chain that produced the stale value stays whole): {witness:?}"
    );
    assert!(
        witness.iter().all(|o| o["node"].is_string()),
        "every witness op names its member"
    );
    no_namespaces_left();
}

#[test]
fn the_etcd_example_file_drives_a_real_etcd_cluster() {
    need_etcd();
    let _one = one_cluster_at_a_time();
    let store = Store::new("etcd-file");
    let file = example("etcd.toml");
    let r = run(
        &store,
        &[
            "--target",
            &format!("http:{file}"),
            "--time-limit",
            "5",
            "--nemesis",
            "pause,kill",
            "--nemesis-interval",
            "1.2",
            "--seed",
            "4",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stderr.contains("etcd 3.4 (JSON gateway) (3 nodes,"),
        "{}",
        r.stderr
    );
    assert!(standings(&r.results).iter().all(|(_, s)| s == "holds"));
    no_namespaces_left();
}

/// Runs `openssl` with `args` in `dir`; panics with what it said if it fails.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl not found: install it (as root: apt-get install openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA, a server certificate for 127.0.0.1 and localhost, and a client certificate, all
/// signed by the CA, in `dir`.
fn certificates(dir: &Path) {
    let key = |name: &str| {
        openssl(
            dir,
            &[
                "genpkey",
                "-algorithm",
                "EC",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-out",
                name,
            ],
        )
    };
    key("ca-key.pem");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-new",
            "-key",
            "ca-key.pem",
            "-subj",
            "/CN=faultline test CA",
            "-days",
            "2",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
    for (name, ext) in [
        (
            "server",
            "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth",
        ),
        ("client", "extendedKeyUsage=clientAuth"),
    ] {
        key(&format!("{name}-key.pem"));
        openssl(
            dir,
            &[
                "req",
                "-new",
                "-key",
                &format!("{name}-key.pem"),
                "-subj",
                &format!("/CN={name}"),
                "-out",
                &format!("{name}.csr"),
            ],
        );
        std::fs::write(dir.join(format!("{name}.ext")), ext).unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                &format!("{name}.csr"),
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca-key.pem",
                "-CAcreateserial",
                "-days",
                "2",
                "-extfile",
                &format!("{name}.ext"),
                "-out",
                &format!("{name}.pem"),
            ],
        );
    }
}

/// The etcd example with its client URLs made https, certificates made in the store's `certs`,
/// and `etcd_flags` (with `{c}` for that directory) added to every member's start command.
fn etcd_tls_text(store: &Store, etcd_flags: &str) -> String {
    let certs = store.join("certs");
    std::fs::create_dir_all(&certs).unwrap();
    certificates(&certs);
    let mut text = std::fs::read_to_string(example("etcd.toml")).unwrap();
    let flags = etcd_flags.replace("{c}", &certs.display().to_string());
    for port in ["23791", "23792", "23793"] {
        let plain = format!("http://{{ip}}:{port}");
        let tls = format!("https://{{ip}}:{port}");
        assert!(text.contains(&plain));
        text = text.replace(&plain, &tls);
    }
    text.replace(
        "--election-timeout 500\"",
        &format!("--election-timeout 500{flags}\""),
    )
}

#[test]
fn etcd_over_tls_with_client_certificates_is_driven_end_to_end() {
    need_etcd();
    let _one = one_cluster_at_a_time();
    let store = Store::new("etcd-tls");
    // The example file, its client URLs made https, etcd asked for client certificates, and a
    // [tls] section with paths relative to the file.
    let mut text = etcd_tls_text(
        &store,
        " --cert-file {c}/server.pem --key-file {c}/server-key.pem --trusted-ca-file {c}/ca.pem --client-cert-auth",
    );
    assert_eq!(text.matches("--client-cert-auth").count(), 3, "{text}");
    text.push_str("\n[tls]\nca = \"certs/ca.pem\"\ncert = \"certs/client.pem\"\nkey = \"certs/client-key.pem\"\n");
    let target = target_file(&store, "etcd-tls.toml", &text);
    let r = run(
        &store,
        &[
            "--target",
            &target,
            "--time-limit",
            "4",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "1.2",
            "--seed",
            "5",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(
        r.results["main_phase"]["ok"].as_u64().unwrap() > 50,
        "{}",
        r.results["main_phase"]
    );
    assert!(
        r.results["faults"]["kill"].as_u64().unwrap() >= 1,
        "{}",
        r.results["faults"]
    );
}

#[test]
fn an_untrusted_certificate_is_said_at_once() {
    // Issue 25: a node whose certificate nobody trusts was reported after 20 s as "no node
    // said it leads"; the cause was only in the history.
    need_etcd();
    let _one = one_cluster_at_a_time();
    let store = Store::new("etcd-untrusted");
    let text = etcd_tls_text(
        &store,
        " --cert-file {c}/server.pem --key-file {c}/server-key.pem",
    );
    let target = target_file(&store, "etcd-untrusted.toml", &text);
    let started = std::time::Instant::now();
    let out = faultline(&[
        "run",
        "--store",
        store.path(),
        "--target",
        &target,
        "--time-limit",
        "2",
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(
        stderr.contains("TLS with") && stderr.contains("[tls]"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(15),
        "said after {:?}",
        started.elapsed()
    );
    assert!(processes_mentioning(store.path()).is_empty());
}

#[test]
fn the_generic_driver_with_the_raftkv_example_gives_the_same_verdicts_as_raftkv() {
    need_netns();
    let _one = one_cluster_at_a_time();
    let store = Store::new("generic");
    let file = example("raftkv.toml");
    // Safe settings, every fault the file makes possible.
    let common = [
        "--time-limit",
        "6",
        "--nemesis",
        "partition,pause,kill,clock",
        "--net",
        "netns",
        "--nemesis-interval",
        "1.2",
        "--seed",
        "8",
    ];
    let mut a = vec!["--target", "raftkv"];
    a.extend_from_slice(&common);
    let native = run(&store, &a);
    let target = format!("http:{file}");
    let mut b = vec!["--target", target.as_str()];
    b.extend_from_slice(&common);
    let generic = run(&store, &b);
    assert_eq!(
        (native.code, generic.code),
        (0, 0),
        "{}\n{}",
        native.stdout,
        generic.stdout
    );
    assert_eq!(standings(&native.results), standings(&generic.results));
    assert!(
        generic.results["faults"].as_object().unwrap().len() >= 2,
        "{}",
        generic.results["faults"]
    );

    // Stale reads (raftkv's unsafe knob, in a copy of the file): violated, both ways.
    let stale_file = store.join("raftkv-stale.toml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(
        &stale_file,
        text.replace(
            "--request-timeout-ms 1000",
            "--request-timeout-ms 1000 --read-mode stale",
        ),
    )
    .unwrap();
    let stale_target = format!("http:{}", stale_file.display());
    let mut verdicts = Vec::new();
    for target in [
        vec!["--target", "raftkv", "--read-mode", "stale"],
        vec!["--target", stale_target.as_str()],
    ] {
        // A timing-dependent experiment: up to three seeds, as the raftkv run tests do.
        let mut code = 0;
        for seed in ["1", "2", "3"] {
            let mut args = target.clone();
            args.extend_from_slice(&[
                "--time-limit",
                "8",
                "--nemesis",
                "partition",
                "--net",
                "netns",
                "--nemesis-interval",
                "2",
                "--seed",
                seed,
            ]);
            let r = run(&store, &args);
            code = r.code;
            if code == 1 {
                assert!(r.stdout.contains("stale read on"), "{}", r.stdout);
                break;
            }
        }
        verdicts.push(code);
    }
    assert_eq!(
        verdicts,
        vec![1, 1],
        "stale reads caught through both drivers"
    );
    no_namespaces_left();
}

#[test]
fn a_file_without_commands_drives_load_only_and_says_which_faults_it_cannot_apply() {
    let _one = one_cluster_at_a_time();
    let store = Store::new("load-only");
    // Somebody else's cluster: started here, described with URLs only.
    use targets::raftkv::cluster::{loopback_nodes, ClusterSpec, LocalCluster};
    let cluster = LocalCluster::launch(ClusterSpec {
        program: env!("CARGO_BIN_EXE_faultline").into(),
        program_args: vec!["raftkv".into()],
        dir: store.join("theirs"),
        extra: Vec::new(),
        nodes: loopback_nodes(3).unwrap(),
        keep_dir: false,
    })
    .expect("a raftkv cluster");
    cluster
        .wait_for_leader(std::time::Duration::from_secs(20))
        .expect("a leader");
    let text = std::fs::read_to_string(example("raftkv.toml")).unwrap();
    let mut described = String::new();
    let mut node = 0;
    for line in text.lines() {
        if line.starts_with("start = ") {
            continue;
        }
        if line.starts_with("url = ") {
            described.push_str(&format!(
                "url = \"http://{}\"\n",
                cluster.nodes[node].client_addr
            ));
            node += 1;
            continue;
        }
        described.push_str(line);
        described.push('\n');
    }
    let target = target_file(&store, "theirs.toml", &described);
    let r = run(
        &store,
        &["--target", &target, "--time-limit", "3", "--seed", "1"],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    for kind in ["partition", "pause", "kill", "clock"] {
        assert!(
            r.stderr.contains(&format!("{kind} faults unavailable: ")),
            "says why {kind} cannot be applied:\n{}",
            r.stderr
        );
    }
    assert!(
        r.stderr.contains("faults none via loopback"),
        "{}",
        r.stderr
    );
    assert!(r.results["main_phase"]["ok"].as_u64().unwrap() > 300);
    // Their nodes still run: faultline leaves alone what it did not start.
    assert!(cluster.leader().is_some());
}

#[test]
fn a_run_on_which_every_write_was_refused_does_not_pass_the_gate() {
    let _one = one_cluster_at_a_time();
    let store = Store::new("refused");
    // A broken target file: its writes and cas go to a path raftkv answers 404, which the file
    // counts as a certain failure. Every read then "holds", of nothing.
    let text = std::fs::read_to_string(example("raftkv.toml")).unwrap();
    let broken = text
        .replace(
            "path = \"/kv/{key}\"\nbody",
            "path = \"/nowhere/{key}\"\nbody",
        )
        .replace("path = \"/kv/{key}/cas\"", "path = \"/nowhere/{key}/cas\"");
    assert_ne!(broken, text, "the write path was replaced");
    let target = target_file(&store, "refusing.toml", &broken);
    let r = run(
        &store,
        &[
            "--target",
            &target,
            "--time-limit",
            "2",
            "--nemesis",
            "none",
        ],
    );
    assert_eq!(r.code, 2, "unknown, not a pass\n{}\n{}", r.stdout, r.stderr);
    assert!(
        r.stdout.contains("no successful write: none of the"),
        "{}",
        r.stdout
    );
}

#[test]
fn a_malformed_target_file_gets_one_error_naming_the_field() {
    let store = Store::new("malformed");
    let good = std::fs::read_to_string(example("raftkv.toml")).unwrap();
    for (broken, expected) in [
        (
            good.replace("method = \"PUT\"", "method = \"SEND\""),
            "write.method: \"SEND\" is not one of GET, PUT, POST, DELETE, PATCH",
        ),
        (
            good.replace("pointer = \"/role\"", "pointer = \"role\""),
            "leader.pointer: \"role\" is not a JSON pointer",
        ),
        (good.replace("[read]", "[reed]"), "unknown field `reed`"),
        (
            good.replace(
                "ok = [200]\nabsent = [404]",
                "ok = [\"twohundred\"]\nabsent = [404]",
            ),
            "status \"twohundred\"",
        ),
        (
            good.replace(
                "[write]",
                "[[read.classify]]\nbody_matches = \"(\"\nmeans = \"fail\"\n\n[write]",
            ),
            "read.classify[0].body_matches: \"(\" is not a regex",
        ),
        (
            good.replace("[write]", "value_type = \"float\"\n\n[write]"),
            "unknown variant `float`",
        ),
        (
            format!("{good}\n[tls]\ncert = \"client.pem\"\n"),
            "tls: a client certificate needs both cert and key",
        ),
        (
            good.replace("[write]", "headers = { \"Bad Name\" = \"x\" }\n\n[write]"),
            "read.headers.Bad Name: not a valid header",
        ),
        (
            good[..good.find("[cas]").unwrap()].to_string()
                + &good[good.find("# After the faults").unwrap()..],
            "describes no [cas] request; run with --workload register",
        ),
    ] {
        let file = store.join("broken.toml");
        std::fs::write(&file, broken).unwrap();
        let out = faultline(&[
            "run",
            "--store",
            store.path(),
            "--target",
            &format!("http:{}", file.display()),
        ]);
        assert_eq!(out.status.code(), Some(3));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(&file.display().to_string()),
            "names the file: {err}"
        );
        assert!(err.contains(expected), "expected {expected:?} in: {err}");
        assert_eq!(err.matches("error:").count(), 1, "one error: {err}");
    }
    let out = faultline(&["run", "--store", store.path(), "--target", "cassandra"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("expected raftkv, etcd, postgres, postgres:URL or http:FILE"));
    assert!(
        !store.join("raftkv").exists() && !store.join("http-broken").exists(),
        "no run was stored"
    );
}

/// One raftkv node launched through a target file of `extra` node fields, on free ports; its
/// setup command appends to `setup.log` beside the file after `cd /` (so `{data_dir}` must be
/// absolute).
fn one_node_file(store: &Store, extra: &str) -> String {
    let port = |_| targets::raftkv::cluster::free_port().unwrap();
    let (client, peer) = (port(0), port(1));
    let log = store.join("setup.log");
    let text = std::fs::read_to_string(example("raftkv.toml")).unwrap();
    let body = &text[text.find("[read]").unwrap()..];
    let node = format!(
        r#"name = "one raftkv"
follow_redirects = true
[[nodes]]
name = "n1"
url = "http://{{ip}}:{client}"
start = "exec {{faultline}} raftkv --id 1 --listen {{ip}}:{client} --peer-listen {{ip}}:{peer} --peers 1={{ip}}:{peer} --data-dir {{data_dir}}"
setup = "cd / && test -d {{data_dir}} && echo set up >> {log}"
{extra}
"#,
        log = log.display()
    );
    target_file(store, "one.toml", &(node + body))
}

fn setups(store: &Store) -> usize {
    std::fs::read_to_string(store.join("setup.log"))
        .unwrap_or_default()
        .lines()
        .count()
}

/// Processes whose command line mentions `needle`, this test's own excluded.
fn processes_mentioning(needle: &str) -> Vec<String> {
    let me = std::process::id().to_string();
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .chars()
                .all(|c| c.is_ascii_digit())
        })
        .filter(|e| e.file_name().to_string_lossy() != me)
        .filter_map(|e| {
            let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then_some(cmd)
        })
        .collect()
}

#[test]
fn a_launched_target_is_set_up_after_every_restart_and_its_data_kept_as_asked() {
    let _one = one_cluster_at_a_time();
    let store = Store::new("setup");
    // The leader is found by a command, not a probe.
    let target = one_node_file(&store, "");
    let target = {
        let path = target.strip_prefix("http:").unwrap();
        let text = std::fs::read_to_string(path).unwrap();
        let a = text.find("[leader]").unwrap();
        let b = text.find("[clock]").unwrap();
        let text = format!("{}{}", &text[..a], &text[b..]).replace(
            "follow_redirects = true",
            "follow_redirects = true\nleader_command = \"echo n1\"",
        );
        std::fs::write(path, text).unwrap();
        target
    };
    let r = run(
        &store,
        &[
            "--target",
            &target,
            "--time-limit",
            "3",
            "--nemesis",
            "kill",
            "--nemesis-interval",
            "0.6",
            "--keep-data",
            "always",
            "--seed",
            "3",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert!(r.stderr.contains("(1 node, "), "{}", r.stderr);
    let kills = r.results["faults"]["kill"].as_u64().unwrap_or(0);
    assert!(kills >= 1, "{}", r.results["faults"]);
    // Once at the start, once after every restart.
    assert_eq!(setups(&store), 1 + kills as usize, "{}", r.stderr);
    let run_dir = std::path::PathBuf::from(r.results["run_dir"].as_str().unwrap());
    let nemesis = std::fs::read_to_string(run_dir.join("nemesis.jsonl")).unwrap();
    for line in nemesis.lines().filter(|l| l.contains("restart n1")) {
        assert!(
            !line.contains("(pid 0)"),
            "the restarted process's pid: {line}"
        );
    }
    assert!(
        run_dir.join("nodes/n1").is_dir(),
        "--keep-data always keeps the data"
    );
    assert_eq!(r.results["data_kept"], true);
    let config: Value =
        serde_json::from_slice(&std::fs::read(run_dir.join("config.json")).unwrap()).unwrap();
    for raftkv_only in ["read_mode", "write_ack", "unsafe_knobs", "etcd_read"] {
        assert!(
            config["args"].get(raftkv_only).is_none(),
            "{raftkv_only} in {}",
            config["args"]
        );
    }
}

/// [`one_node_file`] whose node starts empty every time (its data directory wiped first): a
/// service that keeps nothing across a restart, so a restart nobody asked for loses data.
fn forgetful_node_file(store: &Store, extra: &str) -> String {
    let target = one_node_file(store, extra);
    let path = target.strip_prefix("http:").unwrap();
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("start = \"exec", "start = \"rm -rf {data_dir}/* && exec");
    std::fs::write(path, text).unwrap();
    target
}

#[test]
fn a_node_the_harness_did_not_kill_is_never_restarted() {
    // Issue 25: with a pid command that prints nothing and no faults, the harness took the
    // node for dead at the heal, started a new one over it (empty), and blamed the service
    // for the writes the final reads no longer found.
    let _one = one_cluster_at_a_time();
    let store = Store::new("silent-pid");
    let target = forgetful_node_file(&store, "pid = \"true\"");
    let r = run(
        &store,
        &[
            "--target",
            &target,
            "--time-limit",
            "2",
            "--nemesis",
            "none",
        ],
    );
    assert_eq!(r.code, 0, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(setups(&store), 1, "started once, never again: {}", r.stderr);
    assert!(
        standings(&r.results)
            .iter()
            .all(|(_, standing)| standing == "holds"),
        "{}",
        r.stdout
    );
    let left = processes_mentioning(store.path());
    assert!(left.is_empty(), "left running: {left:?}");
    let run_dir = std::path::PathBuf::from(r.results["run_dir"].as_str().unwrap());
    assert!(
        !run_dir.join("nodes/n1").exists(),
        "a run that holds drops its data by default"
    );
    assert!(
        run_dir.join("nodes/n1.log").is_file(),
        "logs are always kept"
    );
    assert_eq!(r.results["data_kept"], false);
}

#[test]
fn faults_asked_for_and_never_applied_make_the_verdict_unknown() {
    // Issue 25: the same file with --nemesis pause,kill applied nothing (no pid to signal) and
    // the run passed. Now each kind is named with why, and the gate does not pass.
    let _one = one_cluster_at_a_time();
    let store = Store::new("no-faults-applied");
    let target = forgetful_node_file(&store, "pid = \"true\"");
    let junit = store.join("junit.xml");
    let r = run(
        &store,
        &[
            "--target",
            &target,
            "--time-limit",
            "4",
            "--nemesis",
            "pause,kill",
            "--nemesis-interval",
            "1",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    assert_eq!(r.code, 2, "{}\n{}", r.stdout, r.stderr);
    assert_eq!(r.results["verdict"], "unknown");
    let unapplied = r.results["unapplied"].as_array().unwrap();
    assert_eq!(unapplied.len(), 2, "{unapplied:?}");
    for (kind, why) in unapplied
        .iter()
        .map(|u| (u[0].as_str().unwrap(), u[1].as_str().unwrap()))
    {
        assert!(["pause", "kill"].contains(&kind), "{kind}");
        assert!(
            why.contains("n1's pid command `true` printed nothing"),
            "{kind}: {why}"
        );
    }
    assert!(r.stdout.contains("not applied  pause: "), "{}", r.stdout);
    assert!(
        r.stdout.contains("required: linearizable unknown"),
        "{}",
        r.stdout
    );
    let xml = std::fs::read_to_string(&junit).unwrap();
    assert!(
        xml.contains("<error type=\"not-applied\" message=\"kill was asked for and never applied"),
        "{xml}"
    );
    assert_eq!(setups(&store), 1, "never restarted: {}", r.stderr);
}
