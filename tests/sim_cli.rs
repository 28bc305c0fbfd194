//! `faultline sim` end to end: the safe configuration holds over many seeds, every unsafe knob
//! that clients can see is found and shrunk, a printed replay reproduces the failure, a seed
//! replays exactly, and bad flags get one clear error. No root, no network: everything is
//! simulated in the process.

use std::path::Path;

mod support;
use support::{faultline, Scratch};

fn text(out: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn sim(dir: &Path, flags: &[&str]) -> std::process::Output {
    let mut args = vec!["sim", "--out", dir.to_str().unwrap()];
    args.extend_from_slice(flags);
    faultline(&args)
}

#[test]
fn the_safe_configuration_holds_and_recovers_over_many_seeds() {
    let dir = Scratch::new("sim-safe");
    let out = sim(&dir.0, &["--seeds", "150"]);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("150 seeds, every one linearizable and serving again within 5 s"),
        "{said}"
    );
}

#[test]
fn transactions_hold_when_safe_and_an_overwritten_log_breaks_them() {
    // Issue 29: the simulator runs raftkv's transactions too, judged by the isolation ladder.
    let dir = Scratch::new("sim-txn");
    for workload in ["list-append", "rw-register"] {
        let out = sim(&dir.0, &["--workload", workload, "--seeds", "60"]);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(0), "{said}");
        assert!(
            said.contains("60 seeds, every one serializable and serving again"),
            "{said}"
        );
    }
    // raftkv's weaker isolation levels keep what they promise under faults, and let through
    // what they do not.
    for (level, keeps) in [
        ("snapshot", "snapshot-isolation"),
        ("read-committed", "read-committed"),
        ("read-uncommitted", "read-uncommitted"),
    ] {
        let flags = ["--workload", "list-append", "--isolation", level];
        let keeping: Vec<&str> = flags
            .iter()
            .copied()
            .chain(["--require", keeps, "--seeds", "60"])
            .collect();
        let out = sim(&dir.0, &keeping);
        assert_eq!(out.status.code(), Some(0), "{level}: {}", text(&out));
        let breaking: Vec<&str> = flags.iter().copied().chain(["--seeds", "20"]).collect();
        let out = sim(&dir.0, &breaking);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{level} keeps serializable?: {}",
            text(&out)
        );
    }
    // Read uncommitted lets dirty reads through: read committed is broken at once.
    let flags = [
        "--workload",
        "list-append",
        "--isolation",
        "read-uncommitted",
        "--require",
        "read-committed",
        "--seeds",
        "20",
    ];
    let out = sim(&dir.0, &flags);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains("G1a") || said.contains("G1b"), "{said}");
    let flags = [
        "--workload",
        "list-append",
        "--unsafe",
        "no-election-restriction",
        "--seeds",
        "40",
    ];
    let out = sim(&dir.0, &flags);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(
        said.contains(" violates serializable (found after "),
        "{said}"
    );
    assert!(said.contains("isolation (list-append of "), "{said}");
    assert!(said.contains("required: serializable violated"), "{said}");
    let replay = said
        .lines()
        .find_map(|l| l.strip_prefix("replay: faultline "))
        .unwrap_or_else(|| panic!("no replay command: {said}"));
    assert!(replay.contains("--workload list-append"), "{replay}");
    let history = said
        .lines()
        .find_map(|l| l.strip_prefix("history: "))
        .unwrap_or_else(|| panic!("no history path: {said}"));
    let checked = faultline(&["check", history.trim()]);
    assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
}

#[test]
fn every_knob_clients_can_see_is_found_shrunk_and_replayed() {
    let dir = Scratch::new("sim-knobs");
    let knobs: [&[&str]; 7] = [
        // Shapes other than the default: the replay must carry them too.
        &[
            "--read-mode",
            "stale",
            "--nemesis",
            "partition",
            "--shapes",
            "halves,isolate-one",
        ],
        &["--read-mode", "lease", "--nemesis", "clock,partition"],
        &["--write-ack", "leader", "--nemesis", "partition,kill"],
        &["--unsafe", "no-fsync", "--nemesis", "kill"],
        &[
            "--unsafe",
            "no-election-restriction",
            "--nemesis",
            "partition,kill",
        ],
        // The ghost: a write told "failed" read back later.
        &["--unsafe", "fail-pending-on-stepdown"],
        // No election no-op: a new leader reads at a commit index it has not caught up.
        &["--unsafe", "no-election-noop", "--nemesis", "partition"],
    ];
    for flags in knobs {
        assert_found_shrunk_and_replayed(&dir.0, "300", flags);
    }
}

#[test]
fn membership_changes_hold_when_safe_and_concurrent_changes_are_found() {
    let dir = Scratch::new("sim-members");
    let members = ["--nodes", "5", "--nemesis", "membership,partition"];
    let mut safe = vec!["--seeds", "100"];
    safe.extend_from_slice(&members);
    let out = sim(&dir.0, &safe);
    let said = text(&out);
    assert_eq!(out.status.code(), Some(0), "{said}");
    // A second change accepted before the first commits: 4 seeds in 2,000, the first at seed
    // 553 with this build's schedules (the first deal squeezed to fit).
    let mut knob = vec!["--unsafe", "concurrent-membership"];
    knob.extend_from_slice(&members);
    assert_found_shrunk_and_replayed(&dir.0, "600", &knob);
}

/// Runs `seeds` seeds with `flags`: a failure must be found and shrunk, its printed replay
/// must fail the same way, and `faultline check` must agree with the history written.
fn assert_found_shrunk_and_replayed(dir: &Path, seeds: &str, flags: &[&str]) {
    {
        let mut args = vec!["--seeds", seeds];
        args.extend_from_slice(flags);
        let out = sim(dir, &args);
        let said = text(&out);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{flags:?} found nothing: {said}"
        );
        assert!(
            said.contains(" violates linearizable (found after "),
            "{said}"
        );
        assert!(said.contains("the fault schedule shrunk from "), "{said}");
        assert!(said.contains("required: linearizable violated"), "{said}");
        // The replay command, run as printed, fails the same way.
        let replay = said
            .lines()
            .find_map(|l| l.strip_prefix("replay: faultline "))
            .unwrap_or_else(|| panic!("no replay command: {said}"));
        let mut words: Vec<String> = replay
            .split_whitespace()
            .map(|w| w.trim_matches('"').to_string())
            .collect();
        words.extend(["--out".to_string(), dir.display().to_string()]);
        let again = faultline(&words.iter().map(String::as_str).collect::<Vec<_>>());
        let said_again = text(&again);
        assert_eq!(again.status.code(), Some(1), "{replay}: {said_again}");
        assert!(said_again.contains(": violated ("), "{said_again}");
        // The failing history is written for `faultline check`, which agrees.
        let history = said_again
            .lines()
            .find_map(|l| l.strip_prefix("history: "))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no history path: {said_again}"))
            .to_string();
        let checked = faultline(&["check", &history]);
        assert_eq!(checked.status.code(), Some(1), "{}", text(&checked));
    }
}

#[test]
fn a_seed_the_checker_cannot_decide_is_never_a_pass() {
    // Sequential consistency over several keys is a search with a budget; stale lease reads
    // make some seeds too hard for it. Seeds 4 to 6 are such seeds (found with this build; a
    // change to the schedule may move them, and this test then says so).
    let dir = Scratch::new("sim-undecided");
    let undecided: Vec<u64> = (4..=6)
        .filter(|seed| {
            let seed = seed.to_string();
            let out = sim(
                &dir.0,
                &[
                    "--seed",
                    &seed,
                    "--require",
                    "sequential",
                    "--read-mode",
                    "lease",
                    "--nemesis",
                    "clock,partition",
                ],
            );
            let said = text(&out);
            if said.contains(": undecided (") {
                assert_eq!(out.status.code(), Some(2), "{said}");
                assert!(said.contains("required: sequential unknown"), "{said}");
                true
            } else {
                false
            }
        })
        .collect();
    assert!(
        !undecided.is_empty(),
        "none of seeds 4-6 is undecided any more"
    );
}

#[test]
fn a_seed_replays_exactly() {
    let dir = Scratch::new("sim-replay");
    let run = |sub: &str| {
        let out_dir = dir.0.join(sub);
        let out = sim(
            &out_dir,
            &["--seed", "7", "--nemesis", "partition,kill,pause,clock"],
        );
        assert!(
            out.status.code() == Some(0) || out.status.code() == Some(1),
            "{}",
            text(&out)
        );
        // Everything printed but the checker's own timings.
        let said: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .replace(&*out_dir.to_string_lossy(), "DIR")
            .lines()
            .filter(|l| !l.contains(" ms, witnesses in "))
            .map(str::to_string)
            .collect();
        (
            said,
            std::fs::read_to_string(out_dir.join("sim-seed-7.jsonl")).unwrap(),
        )
    };
    let (a, b) = (run("a"), run("b"));
    assert!(a.1.lines().count() > 500, "a history of some length");
    assert_eq!(a, b, "the same seed, the same faults and the same history");
}

#[test]
fn bad_flags_get_one_clear_error() {
    let dir = Scratch::new("sim-bad");
    for (flags, says) in [
        (
            vec!["--read-mode", "fast"],
            "--read-mode: \"fast\" is not consistent, lease or stale",
        ),
        (
            vec!["--unsafe", "no-brakes"],
            "--unsafe: unknown knob \"no-brakes\"; expected no-fsync",
        ),
        (vec!["--nemesis", "flood"], "--nemesis"),
        (
            vec!["--time-limit", "0"],
            "--time-limit must be a positive number",
        ),
        (
            vec!["--seed", "1", "--segments", "x"],
            "--segments \"x\": expected numbers",
        ),
    ] {
        let out = sim(&dir.0, &flags);
        let said = text(&out);
        assert_eq!(out.status.code(), Some(3), "{flags:?}: {said}");
        assert!(said.contains(says), "{flags:?}: {said}");
        assert_eq!(said.trim().lines().count(), 1, "one line: {said}");
    }
}
