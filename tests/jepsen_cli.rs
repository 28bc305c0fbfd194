//! What a Jepsen or Knossos user meets first: `faultline check` on Jepsen store directories,
//! `history.txt`, `jepsen.log` and Knossos-style files with no flags, Knossos's conventions by
//! name, and `faultline export` back to Jepsen's EDN. The files under `tests/data/` were
//! written for these tests in the shapes Jepsen and Knossos write.

mod support;

use std::path::{Path, PathBuf};
use std::process::Output;
use support::{faultline, Scratch};

fn data(rel: &str) -> String {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/data")
        .join(rel);
    assert!(p.exists(), "test data {} missing", p.display());
    p.to_string_lossy().into_owned()
}

const GOOD_RUN: &str = "jepsen-store/etcd-register/20240305T102030.000Z";
const BAD_RUN: &str = "jepsen-store/etcd-register/20240305T110000.000Z";

fn out(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

#[test]
fn a_jepsen_store_is_checked_run_by_run_beside_jepsens_own_verdict() {
    let o = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        &data("jepsen-store"),
    ]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "the bad run decides: {text}");
    let good = text
        .find("20240305T102030.000Z/history.edn")
        .unwrap_or_else(|| panic!("{text}"));
    let bad = text
        .find("20240305T110000.000Z/history.edn")
        .unwrap_or_else(|| panic!("{text}"));
    assert!(good < bad, "runs in name order");
    let (good_part, bad_part) = text.split_at(bad);
    assert!(good_part.contains("✓ linearizable  holds"), "{good_part}");
    assert!(
        good_part.contains("Jepsen: valid? true — faultline: linearizable holds: faultline agrees"),
        "{good_part}"
    );
    assert!(
        bad_part.contains("lost write on 0"),
        "the key is named: {bad_part}"
    );
    assert!(
        bad_part.contains(
            "Jepsen: valid? false (linear) — faultline: linearizable violated: faultline agrees"
        ),
        "{bad_part}"
    );
    assert!(text.contains("split into 3 keys"), "{text}");
    assert!(text.contains("the file's order is used"), "{text}");
}

#[test]
fn jepsens_latest_link_is_not_checked_twice() {
    let store = Scratch::new("jepsen-latest");
    let run = Path::new(store.path()).join("etcd/20240305T102030.000Z");
    copy_dir(Path::new(&data(GOOD_RUN)), &run);
    std::os::unix::fs::symlink(&run, Path::new(store.path()).join("etcd/latest")).unwrap();
    std::os::unix::fs::symlink(
        Path::new(store.path()).join("etcd"),
        Path::new(store.path()).join("latest"),
    )
    .unwrap();
    let o = faultline(&["check", "--consistency", "linearizable", store.path()]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert_eq!(out(&o).matches("consistency (").count(), 1, "{}", out(&o));
}

#[test]
fn every_file_of_a_jepsen_run_gives_the_same_verdict() {
    for (run, code) in [(GOOD_RUN, 0), (BAD_RUN, 1)] {
        for file in ["history.edn", "history.txt", "jepsen.log"] {
            let path = data(&format!("{run}/{file}"));
            let o = faultline(&["check", "--consistency", "linearizable", &path]);
            assert_eq!(o.status.code(), Some(code), "{path}: {}", out(&o));
            assert!(out(&o).contains("split into 3 keys"), "{path}: {}", out(&o));
        }
    }
    // A run directory with only history.txt (older Jepsen stores) is found by it.
    let scratch = Scratch::new("jepsen-txt-only");
    let run = PathBuf::from(scratch.path()).join("run");
    std::fs::create_dir_all(&run).unwrap();
    std::fs::copy(
        data(&format!("{BAD_RUN}/history.txt")),
        run.join("history.txt"),
    )
    .unwrap();
    let o = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        run.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("run/history.txt"), "{}", out(&o));
}

#[test]
fn json_output_carries_jepsens_verdict_and_the_notes() {
    let o = faultline(&[
        "check",
        "--json",
        "--consistency",
        "linearizable",
        &data(BAD_RUN),
    ]);
    assert_eq!(o.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["jepsen"]["valid"], false);
    assert_eq!(doc["jepsen"]["failing"], serde_json::json!(["linear"]));
    assert_eq!(doc["jepsen"]["agree"], true);
    assert!(
        doc["notes"][0].as_str().unwrap().contains("tuples"),
        "{doc}"
    );
}

#[test]
fn a_2016_jepsen_log_with_stack_traces_reads_without_flags() {
    let o = faultline(&["check", &data("jepsen-2016.log")]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(out(&o).contains("cas-register"), "{}", out(&o));
}

#[test]
fn knossos_files_with_their_conventions() {
    let cas = data("knossos/cas-from-zero.edn");
    // Issue 26: with no flag, a value read that nothing wrote is weighed both ways.
    let o = faultline(&["check", "--consistency", "linearizable", &cas]);
    assert_eq!(o.status.code(), Some(2), "both readings: {}", out(&o));
    assert!(
        out(&o).contains("unknown: reads of the register return 0, which nothing wrote (1 read in all): if the registers start at 0 (Knossos's (cas-register 0)), linearizable holds — pass --initial 0; if they start empty, 0 is a phantom read and linearizable is violated — pass --initial none"),
        "{}",
        out(&o)
    );
    let o = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        "--initial",
        "none",
        &cas,
    ]);
    assert_eq!(
        o.status.code(),
        Some(1),
        "a register that starts absent: {}",
        out(&o)
    );
    let o = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        "--initial",
        "0",
        &cas,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("--initial 0: every key starts at 0"),
        "{}",
        out(&o)
    );

    let nil = data("knossos/nil-read.edn");
    let o = faultline(&["check", "--consistency", "linearizable", &nil]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("(--nil-reads any) it would be linearizable"),
        "{}",
        out(&o)
    );
    let o = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        "--nil-reads",
        "any",
        &nil,
    ]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("under faultline's strict rule"),
        "{}",
        out(&o)
    );
}

#[test]
fn empty_histories_are_unknown_not_a_pass() {
    let scratch = Scratch::new("jepsen-empty");
    for (name, text) in [
        ("empty.jsonl", ""),
        ("empty.edn", "[]\n"),
        ("comments.edn", ";; nothing but a comment\n"),
        (
            "nemesis-only.edn",
            "{:process :nemesis, :type :info, :f :start, :value nil}\n",
        ),
    ] {
        let f = scratch.file(name, text);
        let o = faultline(&["check", &f]);
        assert_eq!(o.status.code(), Some(2), "{name}: {}", out(&o));
        assert!(out(&o).contains("no operations"), "{name}: {}", out(&o));
    }
}

#[test]
fn workloads_faultline_does_not_check_are_read_and_named() {
    // Issue 28, point 5: workloads without a checker are read, named, and unknown (exit 2) —
    // not refused as bad input, and never "holds".
    let scratch = Scratch::new("jepsen-workloads");
    for (text, what) in [
        ("{:process 0, :type :invoke, :f :send, :value [[:send 1 2]]}\n", "a log history"),
        ("{:process 0, :type :invoke, :f :txn, :value [[:read 0 nil] [:write 1 2]]}\n{:process 0, :type :ok, :f :txn, :value [[:read 0 3] [:write 1 2]]}\n", "a Knossos multi-register history"),
    ] {
        let f = scratch.file("w.edn", text);
        let o = faultline(&["check", &f]);
        assert_eq!(o.status.code(), Some(2), "{what}: {}", out(&o));
        assert!(out(&o).contains(what), "{what}: {}", out(&o));
        assert!(out(&o).contains("? unknown: faultline reads this workload but has no"), "{}", out(&o));
        let o = faultline(&["check", "--json", &f]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        assert_eq!(doc["verdict"], "unknown", "{doc}");
    }
}

/// One Jepsen event: `(process, type, f, value)`.
type JepsenEvent<'a> = (u64, &'a str, &'a str, &'a str);

/// Jepsen EDN events `(process, type, f, value)`, 10 ms apart, as `jepsen.history` writes them.
fn jepsen_edn(events: &[JepsenEvent]) -> String {
    events
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            format!(
                "{{:index {i}, :time {}, :type :{t}, :process {p}, :f :{f}, :value {v}}}\n",
                (i + 1) * 10_000_000
            )
        })
        .collect()
}

#[test]
fn jepsen_bank_set_counter_mutex_queue_and_ids_histories_are_judged() {
    // Issue 30: Jepsen's histories of the seeds' other workloads get a verdict with no flags.
    let scratch = Scratch::new("jepsen-seed-workloads");
    let cases: [(&str, Vec<JepsenEvent>, i32, &str); 6] = [
        (
            "bank",
            vec![
                (0, "invoke", "transfer", "{:from 0, :to 1, :amount 2}"),
                (1, "invoke", "read", "nil"),
                (1, "ok", "read", "{0 8, 1 10}"),
                (0, "ok", "transfer", "{:from 0, :to 1, :amount 2}"),
                (1, "invoke", "read", "nil"),
                (1, "ok", "read", "{0 8, 1 12}"),
                (1, "invoke", "read", "nil"),
                (1, "ok", "read", "{0 8, 1 12}"),
            ],
            1,
            "wrong-total: p1 read at 0.030 s: balances sum to 18, not 20",
        ),
        (
            "set",
            vec![
                (0, "invoke", "add", "1"),
                (0, "ok", "add", "1"),
                (0, "invoke", "add", "2"),
                (0, "ok", "add", "2"),
                (1, "invoke", "read", "nil"),
                (1, "ok", "read", "#{2}"),
            ],
            1,
            "lost: p0 added 1 (acknowledged",
        ),
        (
            "counter",
            vec![
                (0, "invoke", "add", "1"),
                (0, "ok", "add", "1"),
                (1, "invoke", "read", "nil"),
                (1, "ok", "read", "1"),
            ],
            0,
            "✓ counter holds",
        ),
        (
            "mutex",
            vec![
                (0, "invoke", "acquire", "nil"),
                (0, "ok", "acquire", "nil"),
                (1, "invoke", "acquire", "nil"),
                (1, "ok", "acquire", "nil"),
            ],
            1,
            "double-holder: held by p0 and p1 at once from 0.040 s to the end of the history",
        ),
        (
            "queue",
            vec![
                (0, "invoke", "enqueue", "1"),
                (0, "ok", "enqueue", "1"),
                (1, "invoke", "dequeue", "nil"),
                (1, "ok", "dequeue", "1"),
                (1, "invoke", "drain", "nil"),
                (1, "ok", "drain", "[1]"),
            ],
            1,
            "exactly-once violated (duplicates); at-least-once held",
        ),
        (
            "ids",
            vec![
                (0, "invoke", "generate", "nil"),
                (0, "ok", "generate", "4"),
                (1, "invoke", "generate", "nil"),
                (1, "ok", "generate", "4"),
            ],
            1,
            "id 4 was handed out twice",
        ),
    ];
    for (name, events, code, words) in cases {
        let f = scratch.file(&format!("{name}.edn"), &jepsen_edn(&events));
        let o = faultline(&["check", &f]);
        assert_eq!(o.status.code(), Some(code), "{name}: {}", out(&o));
        assert!(out(&o).contains(words), "{name}: {}", out(&o));
        let o = faultline(&["check", "--json", &f]);
        let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let verdict = ["holds", "violated", "unknown"][code as usize];
        assert_eq!(doc["verdict"], verdict, "{name}: {doc}");
    }
    // The same duplicate, with the queue's promise said to be at-least-once (RabbitMQ's, Jepsen's
    // total-queue): reported, and the history holds.
    let duplicate = [
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (1, "invoke", "dequeue", "nil"),
        (1, "ok", "dequeue", "1"),
        (1, "invoke", "drain", "nil"),
        (1, "ok", "drain", "[1]"),
    ];
    let f = scratch.file("queue-at-least-once.edn", &jepsen_edn(&duplicate));
    let o = faultline(&["check", "--at-least-once", &f]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    assert!(
        out(&o).contains("duplicated (allowed): 1 was received 2 times"),
        "{}",
        out(&o)
    );
    // A bank never read tested nothing: unknown, whatever the transfers said.
    let f = scratch.file(
        "unread.edn",
        &jepsen_edn(&[
            (0, "invoke", "transfer", "{:from 0, :to 1, :amount 2}"),
            (0, "ok", "transfer", "{:from 0, :to 1, :amount 2}"),
        ]),
    );
    let o = faultline(&["check", &f]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    // The test's parameters as flags: the bank's total, a stale set read under linearizability.
    let f = scratch.file(
        "bank-total.edn",
        &jepsen_edn(&[
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "{0 5, 1 5}"),
        ]),
    );
    let o = faultline(&["check", "--bank-total", "12", &f]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("sum to 10, not 12"), "{}", out(&o));
    // A malformed operation is bad input naming its line.
    let f = scratch.file(
        "bad-bank.edn",
        &jepsen_edn(&[
            (0, "invoke", "transfer", "{:from 0, :to 1, :amount 1}"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "[5 5]"),
        ]),
    );
    let o = faultline(&["check", &f]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        out(&o).contains("bad-bank.edn:3: an ok read of a bank returns {account: balance}"),
        "{}",
        out(&o)
    );
}

#[test]
fn a_jepsen_bank_run_directory_is_compared_with_jepsens_verdict() {
    let scratch = Scratch::new("jepsen-bank-run");
    let events = [
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "{0 5, 1 5}"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "{0 4, 1 5}"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "{0 5, 1 5}"),
    ];
    scratch.file(
        "bank/20240101T000000.000Z/history.edn",
        &jepsen_edn(&events),
    );
    scratch.file(
        "bank/20240101T000000.000Z/results.edn",
        "{:valid? false, :bank {:valid? false}}\n",
    );
    let o = faultline(&[
        "check",
        &format!("{}/bank/20240101T000000.000Z", scratch.path()),
    ]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(out(&o).contains("faultline agrees"), "{}", out(&o));
}

#[test]
fn bad_paths_and_bad_edn_are_one_clear_error() {
    let scratch = Scratch::new("jepsen-bad");
    let html = format!("{}/r.html", scratch.path());
    let o = faultline(&["check", "--html", &html, &data("jepsen-store")]);
    assert_eq!(o.status.code(), Some(3));
    assert!(out(&o).contains("holds 2 histories"), "{}", out(&o));
    assert!(!Path::new(&html).exists(), "nothing written");

    let o = faultline(&["check", scratch.path()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(out(&o).contains("no history here or below"), "{}", out(&o));

    let f = scratch.file(
        "bad.edn",
        "[{:process 0, :type :invoke, :f :read, :value nil}\n {:process 0 :type}]\n",
    );
    let o = faultline(&["check", &f]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        out(&o).contains("bad.edn:2:2: this map has a key without a value"),
        "{}",
        out(&o)
    );
}

#[test]
fn export_writes_jepsen_edn_that_checks_the_same() {
    let scratch = Scratch::new("jepsen-export");
    // A Jepsen run, exported and read back.
    let edn = format!("{}/bad.edn", scratch.path());
    let o = faultline(&["export", &data(BAD_RUN), "--output", &edn]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let first = std::fs::read_to_string(&edn).unwrap();
    let line = first.lines().next().unwrap();
    assert!(
        line.starts_with("{:process 1, :type :invoke, :f :write, :value [1 0], :index 0, :time "),
        "{line}"
    );
    let ladder = |path: &str| {
        let o = faultline(&["check", "--json", path]);
        let doc: serde_json::Value =
            serde_json::from_slice(&o.stdout).unwrap_or_else(|_| panic!("{}", out(&o)));
        (
            o.status.code(),
            doc["ladder"]["levels"].clone(),
            doc["ladder"]["anomalies"].as_array().map(Vec::len),
        )
    };
    assert_eq!(
        ladder(&edn),
        ladder(&data(&format!("{BAD_RUN}/history.edn")))
    );

    // A faultline history with string keys: tuples of ["k1" v] and back.
    let jsonl = scratch.file(
        "h.jsonl",
        "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"k1\",\"value\":5}\n\
         {\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"write\",\"key\":\"k1\",\"value\":5}\n\
         {\"time\":3,\"process\":1,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k1\",\"value\":null}\n\
         {\"time\":4,\"process\":1,\"type\":\"ok\",\"f\":\"read\",\"key\":\"k1\",\"value\":4}\n",
    );
    let o = faultline(&["export", &jsonl]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let text = String::from_utf8(o.stdout).unwrap();
    assert!(text.contains(r#":value ["k1" 5]"#), "{text}");
    let back = scratch.file("h.edn", &text);
    assert_eq!(ladder(&back), ladder(&jsonl));

    let o = faultline(&["export", scratch.path()]);
    assert_eq!(o.status.code(), Some(3));
    assert!(out(&o).contains("not a run directory"), "{}", out(&o));
}

#[test]
fn a_store_gives_its_worst_verdict_names_what_it_skipped_and_ends_with_totals() {
    // Issue 26: one unreadable run made a whole store exit 3 while another run was violated,
    // and a run with a results.edn but no history was passed over without a word.
    let scratch = Scratch::new("jepsen-store-totals");
    let store = PathBuf::from(scratch.path()).join("store");
    let copy = |from: &str, to: &str| {
        let dir = store.join(to);
        std::fs::create_dir_all(&dir).unwrap();
        for f in ["history.edn", "results.edn"] {
            std::fs::copy(data(&format!("{from}/{f}")), dir.join(f)).unwrap();
        }
        dir
    };
    copy(BAD_RUN, "t/1-violated");
    let broken = copy(BAD_RUN, "t/2-broken");
    std::fs::write(
        broken.join("history.edn"),
        "{:type :invoke, :f :read, :process 0 :value",
    )
    .unwrap();
    let lonely = store.join("t/3-results-only");
    std::fs::create_dir_all(&lonely).unwrap();
    std::fs::copy(
        data(&format!("{BAD_RUN}/results.edn")),
        lonely.join("results.edn"),
    )
    .unwrap();
    let o = faultline(&[
        "check",
        "--consistency",
        "linearizable",
        store.to_str().unwrap(),
    ]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "the worst verdict read: {text}");
    assert!(
        text.contains("3-results-only has a results.edn but no history"),
        "{text}"
    );
    assert!(
        text.contains("checked 2 histories: 0 hold, 1 violated, 1 unreadable; beside Jepsen's verdicts 1 agree, 0 disagree; 1 run directory skipped"),
        "{text}"
    );
}

#[test]
fn a_list_append_history_gets_the_isolation_ladder() {
    // Issue 28 (first part): a write skew, the seeds' example — snapshot isolation holds,
    // serializability does not, and the exit code follows --isolation.
    let scratch = Scratch::new("jepsen-txn");
    let f = scratch.file(
        "skew.edn",
        "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil] [:append 2 1]]}\n\
         {:process 1, :type :invoke, :f :txn, :value [[:r 2 nil] [:append 1 2]]}\n\
         {:process 0, :type :ok, :f :txn, :value [[:r 1 []] [:append 2 1]]}\n\
         {:process 1, :type :ok, :f :txn, :value [[:r 2 []] [:append 1 2]]}\n\
         {:process 2, :type :invoke, :f :txn, :value [[:r 1 nil] [:r 2 nil]]}\n\
         {:process 2, :type :ok, :f :txn, :value [[:r 1 [2]] [:r 2 [1]]]}\n",
    );
    let o = faultline(&["check", &f]);
    let text = out(&o);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(
        text.contains("✓ snapshot-isolation           holds"),
        "{text}"
    );
    assert!(text.contains("1. G2-item (write skew)"), "{text}");
    assert!(
        text.contains("T0 < T1 because T0 read key 1 as [], without T1's append of 2"),
        "{text}"
    );
    assert!(text.contains("required: serializable violated"), "{text}");
    let o = faultline(&["check", "--isolation", "snapshot-isolation", &f]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    // --require takes isolation levels too; a consistency model there is one clear error.
    let o = faultline(&["check", "--require", "snapshot-isolation", &f]);
    assert_eq!(o.status.code(), Some(0), "{}", out(&o));
    let o = faultline(&["check", "--require", "linearizable", &f]);
    assert_eq!(o.status.code(), Some(3), "{}", out(&o));
    assert!(
        out(&o).contains("transactions are judged by an isolation level"),
        "{}",
        out(&o)
    );
    let o = faultline(&["check", "--json", &f]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["verdict"], "violated");
    assert_eq!(doc["isolation"]["anomalies"][0]["kind"], "G2-item");
    assert_eq!(
        doc["isolation"]["anomalies"][0]["deps"],
        serde_json::json!(["rw", "rw"])
    );
    // --html: the ladder, and the cycle drawn.
    let page = format!("{}/skew.html", scratch.path());
    let o = faultline(&["check", "--html", &page, &f]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(html.contains("<svg class=\"cycle\""), "{html}");
    assert!(html.contains("serializable: <b>violated</b>"));
    // An rw-register history with a value nobody wrote: a garbage read, which Elle passes
    // (elle#8) and faultline never does.
    let rw = scratch.file(
        "rw.edn",
        "{:process 0, :type :invoke, :f :txn, :value [[:w 1 1] [:r 2 nil]]}\n\
         {:process 0, :type :ok, :f :txn, :value [[:w 1 1] [:r 2 3]]}\n",
    );
    let o = faultline(&["check", &rw]);
    assert_eq!(o.status.code(), Some(1), "{}", out(&o));
    assert!(
        out(&o).contains("isolation (rw-register of 1 transaction)"),
        "{}",
        out(&o)
    );
    assert!(
        out(&o).contains("T0 read 3 from key 2, which no transaction wrote"),
        "{}",
        out(&o)
    );
}
