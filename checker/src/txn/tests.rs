//! Known answers: one small history per anomaly class and per model boundary.

use super::*;
use crate::consistency::Standing::{Holds, Violated};
use crate::import::{parse_str, Format};

/// A history of transactions, each `(process, outcome, invocation micro-ops, completion
/// micro-ops, runs after the previous completed)`, written as Jepsen EDN; `overlap` makes every
/// transaction concurrent with the others.
pub(super) fn history(txns: &[(u64, &str, &str)], overlap: bool) -> String {
    let mut text = String::new();
    if overlap {
        for (p, _, value) in txns {
            text += &format!(
                "{{:process {p}, :type :invoke, :f :txn, :value {}}}\n",
                invocation(value)
            );
        }
        for (p, outcome, value) in txns {
            text += &format!("{{:process {p}, :type :{outcome}, :f :txn, :value {value}}}\n");
        }
    } else {
        for (p, outcome, value) in txns {
            text += &format!(
                "{{:process {p}, :type :invoke, :f :txn, :value {}}}\n",
                invocation(value)
            );
            text += &format!("{{:process {p}, :type :{outcome}, :f :txn, :value {value}}}\n");
        }
    }
    text
}

/// The invocation of a completed value: reads of nil.
fn invocation(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(i) = rest.find("[:r ") {
        out += &rest[..i];
        let after = &rest[i + 4..];
        let key_end = after.find(' ').unwrap();
        out += &format!("[:r {} nil]", &after[..key_end]);
        // Skip the read's value: a list or nil, then the closing bracket.
        let v = &after[key_end + 1..];
        // A register's value or nil ends at the micro-op's own bracket.
        let skip = if v.starts_with('[') {
            v.find(']').unwrap() + 1
        } else {
            v.find(']').unwrap()
        };
        rest = &v[skip + 1..];
    }
    out + rest
}

pub(super) fn check_text(text: &str) -> Report {
    let h = parse_str("t.edn", text, Format::JepsenEdn).unwrap();
    check(&h).unwrap()
}

pub(super) fn names(r: &Report) -> Vec<String> {
    r.anomalies.iter().map(Anomaly::name).collect()
}

#[test]
fn invocations_read_nil() {
    assert_eq!(
        invocation("[[:append 1 2] [:r 1 [1 2]] [:r 2 nil]]"),
        "[[:append 1 2] [:r 1 nil] [:r 2 nil]]"
    );
    assert_eq!(invocation("[[:r 1 5] [:w 1 6]]"), "[[:r 1 nil] [:w 1 6]]");
}

#[test]
fn a_serial_history_is_strict_serializable() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1] [:r 1 [1]]]"),
            (1, "ok", "[[:append 1 2] [:append 2 1]]"),
            (0, "ok", "[[:r 1 [1 2]] [:r 2 [1]]]"),
        ],
        false,
    ));
    assert_eq!(names(&r), Vec::<String>::new());
    assert!(r.levels.iter().all(|l| l.standing == Holds));
    assert_eq!(r.strongest, [Isolation::StrictSerializable]);
}

#[test]
fn g0_a_dirty_write_cycle() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1] [:append 2 1]]"),
            (1, "ok", "[[:append 1 2] [:append 2 2]]"),
            (2, "ok", "[[:r 1 [1 2]] [:r 2 [2 1]]]"),
        ],
        true,
    ));
    assert!(names(&r).contains(&"G0".to_string()), "{:?}", names(&r));
    assert_eq!(r.standing(Isolation::ReadUncommitted), Violated);
}

#[test]
fn g1a_a_dirty_read_of_an_aborted_append() {
    let r = check_text(&history(
        &[(0, "fail", "[[:append 1 1]]"), (1, "ok", "[[:r 1 [1]]]")],
        false,
    ));
    assert_eq!(names(&r), ["G1a"]);
    assert_eq!(
        r.anomalies[0].sentence,
        "dirty read: T1 read 1 from key 1, appended by T0, which aborted"
    );
    assert_eq!(r.standing(Isolation::ReadUncommitted), Holds);
    assert_eq!(r.standing(Isolation::ReadCommitted), Violated);
    assert_eq!(r.strongest, [Isolation::ReadUncommitted]);
}

#[test]
fn a_dirty_read_that_a_rollback_took_back_is_g1a_not_an_incompatible_order() {
    // T0 appended 2 and aborted; T1 read it before the rollback; T2 appended 3 after it and
    // T3 read the list as it really went on. The committed order is 1, 3: T1's read, less the
    // aborted 2, is a prefix of it.
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1]]"),
            (1, "fail", "[[:append 1 2]]"),
            (2, "ok", "[[:r 1 [1 2]]]"),
            (3, "ok", "[[:append 1 3]]"),
            (4, "ok", "[[:r 1 [1 3]]]"),
        ],
        false,
    ));
    assert_eq!(names(&r), ["G1a"]);
    assert_eq!(r.standing(Isolation::ReadUncommitted), Holds);
    assert_eq!(r.standing(Isolation::ReadCommitted), Violated);
}

#[test]
fn an_unknown_append_a_longer_read_no_longer_shows_was_a_dirty_read_of_an_abort() {
    let h = |outcome: &str| {
        check_text(&history(
            &[
                (0, "ok", "[[:append 1 1]]"),
                (1, outcome, "[[:append 1 2]]"),
                (2, "ok", "[[:r 1 [1 2]]]"),
                (3, "ok", "[[:append 1 3]]"),
                (4, "ok", "[[:r 1 [1 3]]]"),
            ],
            false,
        ))
    };
    // T1's outcome is unknown: it was taken back after T2 read it.
    let r = h("info");
    assert_eq!(names(&r), ["G1a"]);
    assert!(
        r.anomalies[0]
            .sentence
            .contains("whose outcome is unknown and whose append a longer read no longer shows"),
        "{}",
        r.anomalies[0].sentence
    );
    assert_eq!(r.standing(Isolation::ReadUncommitted), Holds);
    assert_eq!(r.standing(Isolation::ReadCommitted), Violated);
    // T1 committed: its append was lost, and no one order explains both reads.
    let r = h("ok");
    assert!(
        names(&r).contains(&"incompatible-order".to_string()),
        "{:?}",
        names(&r)
    );
    assert_eq!(r.standing(Isolation::ReadUncommitted), Violated);
}

#[test]
fn g1b_an_intermediate_read() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1] [:append 1 2]]"),
            (1, "ok", "[[:r 1 [1]]]"),
        ],
        true,
    ));
    assert!(names(&r).contains(&"G1b".to_string()), "{:?}", names(&r));
    assert_eq!(r.standing(Isolation::ReadCommitted), Violated);
}

#[test]
fn g1c_circular_information_flow() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1] [:r 2 [2]]]"),
            (1, "ok", "[[:append 2 2] [:r 1 [1]]]"),
        ],
        true,
    ));
    assert_eq!(names(&r), ["G1c"]);
    assert_eq!(r.anomalies[0].steps.len(), 2);
    assert_eq!(r.standing(Isolation::ReadCommitted), Violated);
    assert_eq!(r.standing(Isolation::ReadUncommitted), Holds);
}

#[test]
fn g_single_a_read_skew_that_snapshot_isolation_forbids() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1] [:append 2 1]]"),
            (1, "ok", "[[:r 1 nil] [:r 2 [1]]]"),
        ],
        true,
    ));
    assert_eq!(names(&r), ["G-single"]);
    assert_eq!(r.standing(Isolation::ReadCommitted), Holds);
    assert_eq!(r.standing(Isolation::SnapshotIsolation), Violated);
    assert_eq!(r.standing(Isolation::RepeatableRead), Violated);
    assert_eq!(r.strongest, [Isolation::ReadCommitted]);
    let steps = r.anomalies[0].steps.join("\n");
    assert!(
        steps.contains("T1 < T0 because T1 read key 1 as [], without T0's append of 1"),
        "{steps}"
    );
    assert!(
        steps.contains("T0 < T1 because T1 read key 2 up to T0's append of 1"),
        "{steps}"
    );
}

#[test]
fn g2_item_a_write_skew_that_snapshot_isolation_allows() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:r 1 nil] [:append 2 1]]"),
            (1, "ok", "[[:r 2 nil] [:append 1 2]]"),
            (2, "ok", "[[:r 1 [2]] [:r 2 [1]]]"),
        ],
        true,
    ));
    assert_eq!(names(&r), ["G2-item"]);
    assert_eq!(r.standing(Isolation::SnapshotIsolation), Holds);
    assert_eq!(r.standing(Isolation::Serializable), Violated);
    assert_eq!(r.standing(Isolation::RepeatableRead), Violated);
    assert_eq!(r.strongest, [Isolation::SnapshotIsolation]);
}

#[test]
fn a_stale_read_in_real_time_breaks_only_strict_serializability() {
    let r = check_text(&history(
        &[(0, "ok", "[[:append 1 1]]"), (1, "ok", "[[:r 1 nil]]")],
        false,
    ));
    assert_eq!(names(&r), ["G-single-realtime"]);
    assert_eq!(r.standing(Isolation::Serializable), Holds);
    assert_eq!(r.standing(Isolation::StrictSerializable), Violated);
    assert_eq!(r.strongest, [Isolation::StrongSessionSerializable]);
}

#[test]
fn reads_no_order_explains_and_elements_nobody_appended() {
    let r = check_text(&history(
        &[
            (0, "ok", "[[:append 1 1] [:append 1 2] [:append 1 3]]"),
            (1, "ok", "[[:r 1 [1 2]]]"),
            (2, "ok", "[[:r 1 [1 3 3]]]"),
            (3, "ok", "[[:r 1 [9]]]"),
        ],
        false,
    ));
    let n = names(&r);
    for want in ["incompatible-order", "duplicate-elements", "garbage-read"] {
        assert!(n.contains(&want.to_string()), "{want} in {n:?}");
    }
    assert!(r.levels.iter().all(|l| l.standing == Violated));
}

#[test]
fn an_element_appended_twice_is_refused() {
    let text = history(
        &[(0, "ok", "[[:append 1 1]]"), (1, "ok", "[[:append 1 1]]")],
        false,
    );
    let h = parse_str("t.edn", &text, Format::JepsenEdn).unwrap();
    let e = check(&h).unwrap_err();
    assert_eq!(
        e,
        "T0 and T1 both appended 1 to key 1: faultline's inference needs every appended element unique per key"
    );
}

#[test]
fn a_key_written_as_a_number_and_as_a_name_is_refused() {
    let text = "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n\
                {\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",1,1]]}\n\
                {\"time\":3,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",\"1\",null]]}\n\
                {\"time\":4,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"r\",\"1\",[1]]]}\n";
    let h = parse_str("t.jsonl", text, Format::Jsonl).unwrap();
    assert_eq!(
        check(&h).unwrap_err(),
        "t.jsonl:4: key 1 is written as a number in T0 and as a name here: faultline cannot tell whether they are one key; write every key one way"
    );
}

#[test]
fn a_dirty_update_builds_on_an_aborted_append() {
    let r = check_text(&history(
        &[
            (0, "fail", "[[:append 1 1]]"),
            (1, "ok", "[[:append 1 2]]"),
            (2, "ok", "[[:r 1 [1 2]]]"),
        ],
        false,
    ));
    assert_eq!(names(&r), ["G1a", "dirty-update"]);
    assert_eq!(
        r.anomalies[1].sentence,
        "dirty update: T1 appended 2 to key 1 right after 1, which T0 appended and then aborted"
    );
    assert_eq!(r.standing(Isolation::ReadUncommitted), Holds);
    assert_eq!(r.standing(Isolation::ReadCommitted), Violated);
}
