//! Known answers for rw-register histories: with and without the versions a target records.

use super::tests::{check_text, history, names};
use super::*;
use crate::consistency::Standing::{Holds, Violated};
use crate::import::{parse_str, Format};

#[test]
fn a_serial_register_history_is_strict_serializable() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:w 1 1] [:r 1 1]]"),
            (1, "ok", "[[:r 1 1] [:w 1 2] [:w 2 1]]"),
            (0, "ok", "[[:r 1 2] [:r 2 1]]"),
        ],
        false,
    ));
    assert_eq!(r.workload, "rw-register");
    assert_eq!(names(&r), Vec::<String>::new());
    assert_eq!(r.strongest, [Isolation::StrictSerializable]);
    assert!(r.notes.is_empty(), "{:?}", r.notes);
}

#[test]
fn a_dirty_read_and_a_garbage_read() {
    let r = check_text(&history(
        &[
            (0, "fail", "[[:w 1 1]]"),
            (1, "ok", "[[:r 1 1]]"),
            (2, "ok", "[[:r 2 7]]"),
        ],
        false,
    ));
    assert_eq!(names(&r), ["garbage-read", "G1a"]);
    assert_eq!(
        r.anomalies[1].sentence,
        "dirty read: T1 read 1 from key 1, written by T0, which aborted"
    );
    assert_eq!(
        r.anomalies[0].sentence,
        "T2 read 7 from key 2, which no transaction wrote"
    );
    // A read of a value nobody wrote breaks every model (Elle passes it: elle#8).
    assert!(r.levels.iter().all(|l| l.standing == Violated));
}

#[test]
fn an_intermediate_read_and_an_internal_one() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:w 1 1] [:w 1 2]]"),
            (1, "ok", "[[:r 1 1]]"),
            (2, "ok", "[[:w 2 5] [:r 2 6]]"),
        ],
        true,
    ));
    let n = names(&r);
    assert!(n.contains(&"G1b".to_string()), "{n:?}");
    assert!(n.contains(&"internal".to_string()), "{n:?}");
    let internal = r
        .anomalies
        .iter()
        .find(|a| a.kind == Kind::Internal)
        .unwrap();
    assert_eq!(
        internal.sentence,
        "T2 read 6 from key 2, but it should have seen its own write of 5"
    );
}

#[test]
fn a_lost_update_breaks_snapshot_isolation() {
    // Both read key 1 unwritten and both wrote it: the seeds' lost update.
    let r = check_text(&history(
        &[
            (0, "ok", "[[:r 1 nil] [:w 1 1]]"),
            (1, "ok", "[[:r 1 nil] [:w 1 2]]"),
        ],
        true,
    ));
    let n = names(&r);
    assert!(n.contains(&"lost-update".to_string()), "{n:?}");
    let lost = r
        .anomalies
        .iter()
        .find(|a| a.kind == Kind::LostUpdate)
        .unwrap();
    assert_eq!(
        lost.sentence,
        "lost update: T0, T1 all read key 1 as nil and all wrote it: each overwrote the others' updates without seeing them"
    );
    assert_eq!(r.standing(Isolation::ReadCommitted), Holds);
    assert_eq!(r.standing(Isolation::SnapshotIsolation), Violated);
}

#[test]
fn write_skew_is_snapshot_isolated_but_not_serializable() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:r 1 nil] [:r 2 nil] [:w 1 1]]"),
            (1, "ok", "[[:r 1 nil] [:r 2 nil] [:w 2 1]]"),
        ],
        true,
    ));
    assert_eq!(names(&r), ["G2-item"]);
    assert_eq!(r.strongest, [Isolation::SnapshotIsolation]);
}

#[test]
fn read_skew_is_g_single() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:w 1 1] [:w 2 1]]"),
            (1, "ok", "[[:r 1 1] [:r 2 nil]]"),
        ],
        true,
    ));
    assert_eq!(names(&r), ["G-single"]);
    let steps = r.anomalies[0].steps.join("\n");
    assert!(
        steps.contains("T1 < T0 because T1 read nil from key 2, a version before T0's write of 1 (every key starts unwritten, before 1)"),
        "{steps}"
    );
    assert_eq!(r.strongest, [Isolation::ReadCommitted]);
}

#[test]
fn recorded_versions_order_blind_writes() {
    // Two blind writes, then a read of the older one after both completed. Without versions
    // nobody knows which write came last; with them the stale read is plain.
    let blind = |v1: &str, v2: &str| {
        history(
            &[
                (0, "ok", &format!("[[:w 1 1{v1}]]")),
                (1, "ok", &format!("[[:w 1 2{v2}]]")),
                (2, "ok", "[[:r 1 1]]"),
            ],
            false,
        )
    };
    let without = check_text(&blind("", ""));
    assert_eq!(names(&without), Vec::<String>::new());
    assert_eq!(without.notes.len(), 1, "{:?}", without.notes);
    assert!(without.notes[0].starts_with("2 writes were placed only after the initial value"));
    let with = check_text(&blind(" 1", " 2"));
    assert_eq!(names(&with), ["G-single-realtime"]);
    assert!(with.notes.is_empty());
    let steps = with.anomalies[0].steps.join("\n");
    assert!(
        steps.contains("the target gave 1 version 1 and 2 version 2"),
        "{steps}"
    );
    assert_eq!(with.standing(Isolation::Serializable), Holds);
    assert_eq!(with.standing(Isolation::StrictSerializable), Violated);
}

#[test]
fn versions_that_go_round_are_cyclic() {
    // T1 read 1 and then wrote 2, so 1 < 2; the target says 2 is version 1 and 1 version 2.
    let r = check_text(&history(
        &[
            (0, "ok", "[[:w 1 1 2]]"),
            (1, "ok", "[[:r 1 1] [:w 1 2 1]]"),
        ],
        false,
    ));
    let cyclic = r
        .anomalies
        .iter()
        .find(|a| a.kind == Kind::CyclicVersions)
        .unwrap_or_else(|| panic!("{:?}", names(&r)));
    assert!(
        cyclic
            .sentence
            .starts_with("the versions of key 1 go round:"),
        "{}",
        cyclic.sentence
    );
    assert_eq!(cyclic.steps.len(), 2, "{:?}", cyclic.steps);
    assert!(r.levels.iter().all(|l| l.standing == Violated));
}

#[test]
fn versions_that_contradict_are_refused() {
    let text = history(
        &[(0, "ok", "[[:w 1 1 5]]"), (1, "ok", "[[:r 1 1 6]]")],
        false,
    );
    let h = parse_str("t.edn", &text, Format::JepsenEdn).unwrap();
    assert_eq!(
        check(&h).unwrap_err(),
        "T0 says 1 of key 1 is version 5 and T1 says it is version 6: the recorded versions contradict each other"
    );
}

#[test]
fn a_value_written_twice_is_refused() {
    let text = history(&[(0, "ok", "[[:w 1 1]]"), (1, "ok", "[[:w 1 1]]")], false);
    let h = parse_str("t.edn", &text, Format::JepsenEdn).unwrap();
    assert_eq!(
        check(&h).unwrap_err(),
        "T0 and T1 both wrote 1 to key 1: faultline's inference needs every written value unique per key"
    );
}
