//! Known answers for every workload checker, written as Jepsen writes its histories (EDN, one
//! map per event, times in nanoseconds).

use super::*;
use crate::import::{parse_str, Format};

/// `(process, type, f, value)` events, a second apart, as Jepsen EDN.
fn edn(events: &[(u64, &str, &str, &str)]) -> History {
    let text: String = events
        .iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            format!(
                "{{:index {i}, :time {}, :process {p}, :type :{t}, :f :{f}, :value {v}}}\n",
                (i as u64 + 1) * 1_000_000_000
            )
        })
        .collect();
    parse_str("probe.edn", &text, Format::JepsenEdn).unwrap_or_else(|e| panic!("{e}"))
}

fn judge(w: Workload, events: &[(u64, &str, &str, &str)], opts: &Options) -> Judgement {
    w.check(&edn(events), opts)
        .unwrap_or_else(|e| panic!("{e}"))
}

fn kinds(j: &Judgement) -> Vec<&'static str> {
    j.violations.iter().map(|v| v.kind).collect()
}

#[test]
fn counter_reads_between_the_bounds_hold() {
    let j = judge(
        Workload::Counter,
        &[
            (0, "invoke", "add", "1"),
            (1, "invoke", "read", "nil"),
            (0, "ok", "add", "1"),
            (1, "ok", "read", "1"),
            (0, "invoke", "add", "2"),
            (0, "info", "add", "2"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "3"),
        ],
        &Options::default(),
    );
    assert_eq!(j.standing, Standing::Holds, "{:?}", j.lines());
    assert_eq!(j.counts["reads"], 2);
}

#[test]
fn counter_read_too_low_and_too_high_are_named() {
    let j = judge(
        Workload::Counter,
        &[
            (0, "invoke", "add", "5"),
            (0, "ok", "add", "5"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "4"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "6"),
        ],
        &Options::default(),
    );
    assert_eq!(kinds(&j), ["read-too-low", "read-too-high"]);
    assert!(
        j.violations[0].sentence.contains("p1 read 4 at 4.000 s"),
        "{}",
        j.violations[0].sentence
    );
}

#[test]
fn counter_failed_adds_count_for_nothing_and_no_read_is_unknown() {
    let fail = [
        (0, "invoke", "add", "5"),
        (0, "fail", "add", "5"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "5"),
    ];
    assert_eq!(
        kinds(&judge(Workload::Counter, &fail, &Options::default())),
        ["read-too-high"]
    );
    let unread = judge(Workload::Counter, &fail[..2], &Options::default());
    assert_eq!(unread.standing, Standing::Unknown);
    assert!(unread.why.unwrap().contains("no read"));
}

#[test]
fn counter_with_decrements_swaps_the_bounds() {
    let j = judge(
        Workload::Counter,
        &[
            (0, "invoke", "add", "-3"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "-3"),
            (0, "ok", "add", "-3"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "0"),
        ],
        &Options::default(),
    );
    assert_eq!(kinds(&j), ["read-too-high"]);
}

#[test]
fn set_lost_stale_unexpected_duplicated_and_never_read() {
    let j = judge(
        Workload::Set,
        &[
            (0, "invoke", "add", "1"),
            (0, "ok", "add", "1"),
            (0, "invoke", "add", "2"),
            (0, "ok", "add", "2"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "[1 9 9]"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "[1 2]"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "[2]"),
            (0, "invoke", "add", "3"),
            (0, "ok", "add", "3"),
        ],
        &Options::default(),
    );
    let mut k = kinds(&j);
    k.sort();
    assert_eq!(k, ["duplicated", "lost", "unexpected"], "{:?}", j.lines());
    let lost = j.violations.iter().find(|v| v.kind == "lost").unwrap();
    assert!(
        lost.sentence.starts_with("p0 added 1 (acknowledged"),
        "{}",
        lost.sentence
    );
    assert_eq!(j.counts["stale"], 1, "2 was missing once, then read");
    assert_eq!(
        j.counts["never-read"], 1,
        "3 was added after the last read began"
    );
    assert!(j.notes.iter().any(|n| n.contains("stale")));
}

#[test]
fn set_stale_read_is_a_violation_when_linearizable_is_promised() {
    let events = [
        (0, "invoke", "add", "1"),
        (0, "ok", "add", "1"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "[]"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "[1]"),
    ];
    assert_eq!(
        judge(Workload::Set, &events, &Options::default()).standing,
        Standing::Holds
    );
    let strict = Options {
        set_linearizable: true,
        ..Options::default()
    };
    assert_eq!(
        kinds(&judge(Workload::Set, &events, &strict)),
        ["stale-read"]
    );
}

#[test]
fn set_concurrent_add_is_not_lost_and_never_read_set_is_unknown() {
    let j = judge(
        Workload::Set,
        &[
            (1, "invoke", "read", "nil"),
            (0, "invoke", "add", "1"),
            (0, "ok", "add", "1"),
            (1, "ok", "read", "[]"),
        ],
        &Options::default(),
    );
    assert_eq!(
        j.standing,
        Standing::Unknown,
        "the only read began before the add: untested"
    );
    let none = judge(
        Workload::Set,
        &[(0, "invoke", "add", "1"), (0, "ok", "add", "1")],
        &Options::default(),
    );
    assert!(none.why.unwrap().contains("never read"));
}

#[test]
fn set_info_add_read_later_then_missing_is_lost() {
    let j = judge(
        Workload::Set,
        &[
            (0, "invoke", "add", "7"),
            (0, "info", "add", "7"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "[7]"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "[]"),
        ],
        &Options::default(),
    );
    assert_eq!(kinds(&j), ["lost"]);
}

const BANK_OK: &str = "{0 5, 1 5}";

#[test]
fn bank_reads_with_the_total_hold_and_torn_reads_are_named() {
    let events = [
        (0, "invoke", "transfer", "{:from 0, :to 1, :amount 3}"),
        (0, "ok", "transfer", "{:from 0, :to 1, :amount 3}"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", "{0 2, 1 8}"),
        (1, "invoke", "read", "nil"),
        (1, "ok", "read", BANK_OK),
    ];
    let j = judge(
        Workload::Bank,
        &events,
        &Options {
            bank_total: Some(10),
            ..Options::default()
        },
    );
    assert_eq!(j.standing, Standing::Holds, "{:?}", j.lines());
    let mut torn = events.to_vec();
    torn.push((1, "invoke", "read", "nil"));
    torn.push((1, "ok", "read", "{0 2, 1 5}"));
    let j = judge(Workload::Bank, &torn, &Options::default());
    assert_eq!(kinds(&j), ["wrong-total"]);
    assert!(
        j.violations[0].sentence.contains("sum to 7, not 10"),
        "{}",
        j.violations[0].sentence
    );
    assert!(
        j.notes.iter().any(|n| n.contains("taken as 10")),
        "{:?}",
        j.notes
    );
}

#[test]
fn bank_negative_missing_and_unexpected_accounts() {
    let j = judge(
        Workload::Bank,
        &[
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "{0 -1, 1 11}"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "{0 nil, 1 10}"),
            (1, "invoke", "read", "nil"),
            (1, "ok", "read", "{0 5, 1 3, 2 2}"),
        ],
        &Options {
            bank_total: Some(10),
            accounts: Some(vec!["0".into(), "1".into()]),
            ..Options::default()
        },
    );
    let mut k = kinds(&j);
    k.sort();
    assert_eq!(
        k,
        ["missing-balance", "negative-balance", "unexpected-account"],
        "{:?}",
        j.lines()
    );
}

#[test]
fn bank_never_read_is_unknown_and_bad_transfer_is_an_error() {
    let j = judge(
        Workload::Bank,
        &[(0, "invoke", "transfer", "{:from 0, :to 1, :amount 3}")],
        &Options::default(),
    );
    assert_eq!(j.standing, Standing::Unknown);
    let bad = edn(&[(0, "invoke", "transfer", "[0 1 3]")]);
    let e = Workload::Bank.check(&bad, &Options::default()).unwrap_err();
    assert!(
        e.starts_with("probe.edn:1: a transfer is {from, to, amount}"),
        "{e}"
    );
}

#[test]
fn lock_double_holder_proven_by_acks_and_releases() {
    let j = judge(
        Workload::Lock,
        &[
            (0, "invoke", "acquire", "nil"),
            (0, "ok", "acquire", "nil"),
            (1, "invoke", "acquire", "nil"),
            (1, "ok", "acquire", "nil"),
            (0, "invoke", "release", "nil"),
            (0, "ok", "release", "nil"),
            (1, "invoke", "release", "nil"),
            (1, "ok", "release", "nil"),
        ],
        &Options::default(),
    );
    assert_eq!(kinds(&j), ["double-holder"]);
    let s = &j.violations[0].sentence;
    assert!(
        s.starts_with("held by p0 and p1 at once from 4.000 s to 5.000 s"),
        "{s}"
    );
}

#[test]
fn lock_handed_over_cleanly_holds_and_concurrent_acquire_is_fine() {
    let j = judge(
        Workload::Lock,
        &[
            (0, "invoke", "acquire", "nil"),
            (0, "ok", "acquire", "nil"),
            (1, "invoke", "acquire", "nil"),
            (0, "invoke", "release", "nil"),
            (0, "ok", "release", "nil"),
            (1, "ok", "acquire", "nil"),
            (1, "invoke", "release", "nil"),
            (1, "info", "release", "nil"),
        ],
        &Options::default(),
    );
    assert_eq!(j.standing, Standing::Holds, "{:?}", j.lines());
}

#[test]
fn lock_leases_let_a_failed_release_end_the_hold() {
    let events = [
        (0, "invoke", "acquire", "nil"),
        (0, "ok", "acquire", "nil"),
        (1, "invoke", "acquire", "nil"),
        (1, "ok", "acquire", "nil"),
        (0, "invoke", "release", "nil"),
        (0, "fail", "release", "nil"),
        (1, "invoke", "release", "nil"),
        (1, "ok", "release", "nil"),
    ];
    assert_eq!(
        kinds(&judge(Workload::Lock, &events, &Options::default())),
        ["double-holder"]
    );
    let leased = Options {
        leased_locks: true,
        ..Options::default()
    };
    assert_eq!(
        judge(Workload::Lock, &events, &leased).standing,
        Standing::Holds
    );
}

#[test]
fn lock_release_of_an_unheld_lock_and_no_acquire_unknown() {
    let j = judge(
        Workload::Lock,
        &[(0, "invoke", "release", "nil"), (0, "ok", "release", "nil")],
        &Options::default(),
    );
    assert_eq!(kinds(&j), ["released-unheld"]);
    let none = judge(
        Workload::Lock,
        &[
            (0, "invoke", "acquire", "nil"),
            (0, "fail", "acquire", "nil"),
        ],
        &Options::default(),
    );
    assert_eq!(none.standing, Standing::Unknown);
}

#[test]
fn unique_ids_duplicates_went_back_and_gaps() {
    let j = judge(
        Workload::UniqueIds,
        &[
            (0, "invoke", "generate", "nil"),
            (0, "ok", "generate", "5"),
            (0, "invoke", "generate", "nil"),
            (0, "ok", "generate", "3"),
            (1, "invoke", "generate", "nil"),
            (1, "ok", "generate", "5"),
            (1, "invoke", "generate", "nil"),
            (1, "ok", "generate", "9"),
        ],
        &Options::default(),
    );
    assert_eq!(kinds(&j), ["duplicate"]);
    assert!(j.violations[0]
        .sentence
        .starts_with("id 5 was handed out twice: to p0 at 2.000 s and to p1 at 6.000 s"));
    assert_eq!(j.counts["went-back"], 1);
    assert_eq!(j.counts["gaps"], 4, "3, 5, 9: 4 and 6..=8 missing");
}

#[test]
fn queue_lost_duplicated_unexpected_and_guarantees() {
    let j = judge(
        Workload::Queue,
        &[
            (0, "invoke", "enqueue", "1"),
            (0, "ok", "enqueue", "1"),
            (0, "invoke", "enqueue", "2"),
            (0, "ok", "enqueue", "2"),
            (1, "invoke", "dequeue", "nil"),
            (1, "ok", "dequeue", "2"),
            (1, "invoke", "dequeue", "nil"),
            (1, "ok", "dequeue", "2"),
            (1, "invoke", "dequeue", "nil"),
            (1, "ok", "dequeue", "8"),
            (1, "invoke", "drain", "nil"),
            (1, "ok", "drain", "[]"),
        ],
        &Options::default(),
    );
    let mut k = kinds(&j);
    k.sort();
    assert_eq!(k, ["duplicated", "lost", "unexpected"], "{:?}", j.lines());
    assert_eq!(j.notes[0], "neither at-least-once nor at-most-once held");
}

#[test]
fn queue_duplicates_alone_keep_at_least_once_and_no_drain_leaves_loss_untested() {
    let dup = [
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (1, "invoke", "dequeue", "nil"),
        (1, "ok", "dequeue", "1"),
        (1, "invoke", "drain", "nil"),
        (1, "ok", "drain", "[1]"),
    ];
    let j = judge(Workload::Queue, &dup, &Options::default());
    assert!(j.notes[0].contains("at-least-once held"), "{:?}", j.notes);
    let undrained = [
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (0, "invoke", "enqueue", "2"),
        (0, "ok", "enqueue", "2"),
        (1, "invoke", "dequeue", "nil"),
        (1, "ok", "dequeue", "1"),
    ];
    let j = judge(Workload::Queue, &undrained, &Options::default());
    assert_eq!(j.standing, Standing::Holds);
    assert!(
        j.notes.iter().any(|n| n.contains("may still be queued")),
        "{:?}",
        j.notes
    );
}

#[test]
fn queue_fifo_reordering_only_when_promised() {
    let events = [
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (0, "invoke", "enqueue", "2"),
        (0, "ok", "enqueue", "2"),
        (1, "invoke", "dequeue", "nil"),
        (1, "ok", "dequeue", "2"),
        (1, "invoke", "dequeue", "nil"),
        (1, "ok", "dequeue", "1"),
    ];
    assert_eq!(
        judge(Workload::Queue, &events, &Options::default()).standing,
        Standing::Holds
    );
    let fifo = Options {
        fifo: true,
        ..Options::default()
    };
    assert_eq!(
        kinds(&judge(Workload::Queue, &events, &fifo)),
        ["reordered"]
    );
}

#[test]
fn a_foreign_operation_is_one_error_naming_its_line() {
    let h = edn(&[
        (0, "invoke", "add", "1"),
        (0, "ok", "add", "1"),
        (0, "invoke", "cas", "[1 2]"),
    ]);
    let e = Workload::Counter
        .check(&h, &Options::default())
        .unwrap_err();
    assert_eq!(
        e,
        "probe.edn:3: a counter history has only add/read operations; this one is \"cas\""
    );
}

#[test]
fn set_element_that_vanishes_returns_and_vanishes_again_is_lost() {
    let mut events = vec![(0, "invoke", "add", "1"), (0, "ok", "add", "1")];
    for read in ["[1]", "[]", "[1]", "[1]", "[]"] {
        events.push((1, "invoke", "read", "nil"));
        events.push((1, "ok", "read", read));
    }
    let j = judge(Workload::Set, &events, &Options::default());
    assert_eq!(kinds(&j), ["lost"]);
    events.truncate(events.len() - 2);
    let j = judge(Workload::Set, &events, &Options::default());
    assert_eq!(j.standing, Standing::Holds, "{:?}", j.lines());
    assert_eq!(j.counts["stale"], 1);
}

#[test]
fn queue_dequeue_with_unknown_outcome_may_have_taken_a_missing_message() {
    let mut events = vec![
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (0, "invoke", "enqueue", "2"),
        (0, "ok", "enqueue", "2"),
        (1, "invoke", "dequeue", "nil"),
        (1, "info", "dequeue", "nil"),
        (2, "invoke", "drain", "nil"),
        (2, "ok", "drain", "[]"),
    ];
    let j = judge(Workload::Queue, &events, &Options::default());
    assert_eq!(
        kinds(&j),
        ["lost"],
        "two missing, one unknown dequeue: one lost at least"
    );
    assert!(
        j.violations[0].sentence.contains("at least 1 were lost"),
        "{}",
        j.violations[0].sentence
    );
    events.insert(6, (3, "invoke", "dequeue", "nil"));
    events.insert(7, (3, "info", "dequeue", "nil"));
    let j = judge(Workload::Queue, &events, &Options::default());
    assert_eq!(j.standing, Standing::Holds, "{:?}", j.lines());
    assert!(
        j.notes.iter().any(|n| n.contains("may have taken them")),
        "{:?}",
        j.notes
    );
    // A dequeue that began before a message was sent cannot have taken it.
    let early = [
        (1, "invoke", "dequeue", "nil"),
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (1, "info", "dequeue", "nil"),
        (2, "invoke", "drain", "nil"),
        (2, "ok", "drain", "[]"),
    ];
    let j = judge(Workload::Queue, &early, &Options::default());
    assert_eq!(kinds(&j), ["lost"]);
    assert!(j.violations[0]
        .sentence
        .contains("no dequeue with an unknown outcome could have taken it"));
}

#[test]
fn a_judgement_in_words_is_stable() {
    let j = judge(
        Workload::Queue,
        &[
            (0, "invoke", "enqueue", "1"),
            (0, "ok", "enqueue", "1"),
            (1, "invoke", "dequeue", "nil"),
            (1, "ok", "dequeue", "1"),
            (1, "invoke", "dequeue", "nil"),
            (1, "ok", "dequeue", "1"),
            (2, "invoke", "drain", "nil"),
            (2, "ok", "drain", "[]"),
        ],
        &Options::default(),
    );
    assert_eq!(
        j.lines(),
        [
            "✗ duplicated: 1 was received 2 times: by p1 at 4.000 s and by p1 at 6.000 s",
            "· exactly-once violated (duplicates); at-least-once held: nothing acknowledged was lost",
        ]
    );
}

#[test]
fn queue_at_least_once_reports_a_duplicate_and_fails_only_on_loss() {
    let history = [
        (0, "invoke", "enqueue", "1"),
        (0, "ok", "enqueue", "1"),
        (0, "invoke", "enqueue", "2"),
        (0, "ok", "enqueue", "2"),
        (1, "invoke", "dequeue", "nil"),
        (1, "ok", "dequeue", "1"),
        (1, "invoke", "drain", "nil"),
        (1, "ok", "drain", "[1 2]"),
    ];
    let promise = Options {
        at_least_once: true,
        ..Options::default()
    };
    let j = judge(Workload::Queue, &history, &promise);
    assert_eq!(j.standing, Standing::Holds, "{:?}", j.lines());
    assert_eq!(j.counts["duplicated"], 1);
    assert!(
        j.notes
            .iter()
            .any(|n| n.starts_with("duplicated (allowed): 1 was received 2 times")),
        "{:?}",
        j.notes
    );
    let strict = judge(Workload::Queue, &history, &Options::default());
    assert_eq!(strict.standing, Standing::Violated);
    // A lost message still fails the weaker promise.
    let lost = &history[..history.len() - 1];
    let mut lost = lost.to_vec();
    lost.push((1, "ok", "drain", "[]"));
    let j = judge(Workload::Queue, &lost, &promise);
    assert_eq!(kinds(&j), ["lost"], "{:?}", j.lines());
}

#[test]
fn a_double_holder_names_the_paused_node_its_holder_went_through() {
    // etcd's lock under a pause (the shape of a real run's history): p1 waits through n2, n2
    // is paused past p1's lease, p0 takes the lock through n1, and p1 is told it acquired
    // once n2 is back — while p0 still holds.
    let lines = [
        r#"{"process":1,"type":"invoke","f":"acquire","value":null,"time":1000000000}"#,
        r#"{"process":"nemesis","type":"info","f":"start-pause","value":"pause n2","nodes":["n2"],"time":1500000000}"#,
        r#"{"process":0,"type":"invoke","f":"acquire","value":null,"time":2000000000}"#,
        r#"{"process":0,"type":"ok","f":"acquire","value":{"lease_ms":1000},"node":"n1","time":3000000000}"#,
        r#"{"process":"nemesis","type":"info","f":"stop","value":"resume n2","nodes":["n2"],"time":4000000000}"#,
        r#"{"process":1,"type":"ok","f":"acquire","value":{"lease_ms":1000},"node":"n2","time":4100000000}"#,
        r#"{"process":0,"type":"invoke","f":"release","value":null,"time":4200000000}"#,
        r#"{"process":0,"type":"ok","f":"release","value":null,"node":"n1","time":4300000000}"#,
        r#"{"process":1,"type":"invoke","f":"release","value":null,"time":4400000000}"#,
        r#"{"process":1,"type":"ok","f":"release","value":null,"node":"n2","time":4500000000}"#,
    ];
    let h = parse_str("lock.jsonl", &lines.join("\n"), Format::Jsonl).unwrap();
    let leased = Options {
        leased_locks: true,
        ..Options::default()
    };
    let j = Workload::Lock.check(&h, &leased).unwrap();
    assert_eq!(kinds(&j), ["double-holder"]);
    assert_eq!(
        j.violations[0].sentence,
        "held by p0 (via n1) and p1 (via n2) at once from 4.100 s to 4.200 s: p0 (via n1) was \
         told it acquired the lock at 3.000 s, and p1 (via n2) at 4.100 s, before the first let \
         it go; p1 went through n2, which was paused from 1.500 s to 4.000 s: a lease of 1000 ms \
         renewed through it could run out near 2.500 s, before it was told it acquired the lock"
    );
}

#[test]
fn a_double_holder_through_healthy_nodes_names_the_faults_in_force_meanwhile() {
    let lines = [
        r#"{"process":"nemesis","type":"info","f":"start-pause","value":"pause n1","nodes":["n1"],"time":1000000000}"#,
        r#"{"process":0,"type":"invoke","f":"acquire","value":null,"time":2000000000}"#,
        r#"{"process":1,"type":"invoke","f":"acquire","value":null,"time":2100000000}"#,
        r#"{"process":0,"type":"ok","f":"acquire","value":null,"node":"n2","time":3000000000}"#,
        r#"{"process":1,"type":"ok","f":"acquire","value":null,"node":"n3","time":3100000000}"#,
        r#"{"process":"nemesis","type":"info","f":"stop","value":"resume n1","nodes":["n1"],"time":4000000000}"#,
        r#"{"process":0,"type":"invoke","f":"release","value":null,"time":4200000000}"#,
        r#"{"process":0,"type":"ok","f":"release","value":null,"node":"n2","time":4300000000}"#,
        r#"{"process":1,"type":"invoke","f":"release","value":null,"time":4400000000}"#,
        r#"{"process":1,"type":"ok","f":"release","value":null,"node":"n3","time":4500000000}"#,
    ];
    let h = parse_str("lock.jsonl", &lines.join("\n"), Format::Jsonl).unwrap();
    let j = Workload::Lock.check(&h, &Options::default()).unwrap();
    assert_eq!(kinds(&j), ["double-holder"]);
    let s = &j.violations[0].sentence;
    assert!(
        s.ends_with("before the first let it go; meanwhile n1 was paused from 1.000 s to 4.000 s"),
        "{s}"
    );
}
