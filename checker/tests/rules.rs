//! One tiny hand-made history per rule of linearizability, written as native JSON Lines.

use checker::import::{parse_str, Format};
use checker::result::Verdict;
use checker::{check, ModelKind, Options};
use std::time::Duration;

/// Builds a history from `(process, type, f, value)` rows; times are the row numbers.
fn history(rows: &[(u64, &str, &str, &str)]) -> String {
    rows.iter()
        .enumerate()
        .map(|(i, (p, t, f, v))| {
            format!(
                "{{\"index\":{i},\"time\":{},\"process\":{p},\"type\":\"{t}\",\"f\":\"{f}\",\"key\":\"x\",\"value\":{v}}}\n",
                i * 1000
            )
        })
        .collect()
}

fn verdict(rows: &[(u64, &str, &str, &str)]) -> Verdict {
    let h = parse_str("rules.jsonl", &history(rows), Format::Jsonl).unwrap();
    check(&h, ModelKind::CasRegister, &Options::default())
        .unwrap()
        .verdict
}

use Verdict::{Linearizable as Lin, NotLinearizable as NotLin};

#[test]
fn empty_history_is_linearizable() {
    let h = parse_str("empty", "", Format::Auto).unwrap();
    assert_eq!(
        check(&h, ModelKind::CasRegister, &Options::default())
            .unwrap()
            .verdict,
        Lin
    );
}

#[test]
fn stale_read_after_acknowledged_write() {
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (1, "ok", "write", "1"),
            (1, "invoke", "write", "2"),
            (1, "ok", "write", "2"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "1"),
        ]),
        NotLin
    );
}

#[test]
fn lost_write_read_as_absent() {
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (1, "ok", "write", "1"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "null")
        ]),
        NotLin
    );
}

#[test]
fn read_of_a_value_nobody_wrote() {
    assert_eq!(
        verdict(&[(1, "invoke", "read", "null"), (1, "ok", "read", "7")]),
        NotLin
    );
}

#[test]
fn concurrent_writes_may_be_read_in_either_order() {
    for last in ["1", "2"] {
        assert_eq!(
            verdict(&[
                (1, "invoke", "write", "1"),
                (2, "invoke", "write", "2"),
                (1, "ok", "write", "1"),
                (2, "ok", "write", "2"),
                (3, "invoke", "read", "null"),
                (3, "ok", "read", last),
            ]),
            Lin,
            "reading {last}"
        );
    }
    // But once one reader sees 1 after 2 became visible to it, no one can later see 2 again...
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (2, "invoke", "write", "2"),
            (1, "ok", "write", "1"),
            (2, "ok", "write", "2"),
            (3, "invoke", "read", "null"),
            (3, "ok", "read", "1"),
            (3, "invoke", "read", "null"),
            (3, "ok", "read", "2"),
            (3, "invoke", "read", "null"),
            (3, "ok", "read", "1"),
        ]),
        NotLin
    );
}

#[test]
fn indeterminate_write_may_be_seen_later_or_never() {
    let base = [
        (1u64, "invoke", "write", "1"),
        (1, "ok", "write", "1"),
        (2, "invoke", "write", "2"),
        (2, "info", "write", "2"),
    ];
    let mut seen = base.to_vec();
    seen.extend([
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "1"),
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "2"),
    ]);
    assert_eq!(verdict(&seen), Lin, "takes effect late");
    let mut never = base.to_vec();
    never.extend([
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "1"),
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "1"),
    ]);
    assert_eq!(verdict(&never), Lin, "never takes effect");
    let mut flicker = base.to_vec();
    flicker.extend([
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "2"),
        (3, "invoke", "read", "null"),
        (3, "ok", "read", "1"),
    ]);
    assert_eq!(verdict(&flicker), NotLin, "once seen it cannot be undone");
}

#[test]
fn indeterminate_write_cannot_take_effect_before_its_invocation() {
    assert_eq!(
        verdict(&[
            (3, "invoke", "read", "null"),
            (3, "ok", "read", "2"),
            (2, "invoke", "write", "2"),
            (2, "info", "write", "2"),
        ]),
        NotLin
    );
}

#[test]
fn failed_operations_did_not_happen() {
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (1, "fail", "write", "1"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "1"),
        ]),
        NotLin
    );
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (1, "ok", "write", "1"),
            (1, "invoke", "cas", "[5,6]"),
            (1, "fail", "cas", "[5,6]"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "1"),
        ]),
        Lin
    );
}

#[test]
fn cas_chains() {
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (1, "ok", "write", "1"),
            (1, "invoke", "cas", "[1,2]"),
            (2, "invoke", "cas", "[2,3]"),
            (1, "ok", "cas", "[1,2]"),
            (2, "ok", "cas", "[2,3]"),
            (3, "invoke", "read", "null"),
            (3, "ok", "read", "3"),
        ]),
        Lin
    );
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "1"),
            (1, "ok", "write", "1"),
            (1, "invoke", "cas", "[1,2]"),
            (1, "ok", "cas", "[1,2]"),
            (2, "invoke", "cas", "[1,3]"),
            (2, "ok", "cas", "[1,3]"),
        ]),
        NotLin,
        "a cas from a value already replaced"
    );
}

#[test]
fn operation_open_at_the_end_is_indeterminate() {
    assert_eq!(
        verdict(&[
            (1, "invoke", "write", "5"),
            (2, "invoke", "read", "null"),
            (2, "ok", "read", "5")
        ]),
        Lin
    );
    assert_eq!(verdict(&[(1, "invoke", "read", "null")]), Lin);
}

#[test]
fn keys_are_independent_and_one_failing_key_fails_the_history() {
    let text = "\
{\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\",\"value\":1}
{\"time\":2,\"process\":1,\"type\":\"ok\",\"f\":\"write\",\"key\":\"a\",\"value\":1}
{\"time\":3,\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"b\",\"value\":null}
{\"time\":4,\"process\":2,\"type\":\"ok\",\"f\":\"read\",\"key\":\"b\",\"value\":1}
";
    let h = parse_str("keys", text, Format::Jsonl).unwrap();
    let r = check(
        &h,
        ModelKind::CasRegister,
        &Options {
            all_failures: true,
            ..Options::default()
        },
    )
    .unwrap();
    assert_eq!(r.verdict, NotLin);
    let by_key: Vec<_> = r
        .keys
        .iter()
        .map(|k| (k.key.clone().unwrap(), k.verdict))
        .collect();
    assert_eq!(by_key, vec![("a".into(), Lin), ("b".into(), NotLin)]);
    let cx = r.keys[1].counterexample.as_ref().unwrap();
    assert_eq!(cx.blocked.description, "read → 1");
    assert_eq!(cx.state, "nil");
}

#[test]
fn wrong_value_shapes_name_the_line() {
    let text = "{\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"cas\",\"value\":3}\n";
    let h = parse_str("shape.jsonl", text, Format::Jsonl).unwrap();
    let e = check(&h, ModelKind::CasRegister, &Options::default()).unwrap_err();
    assert_eq!(e.line, 1);
    assert!(
        e.to_string()
            .starts_with("shape.jsonl:1: cas value must be a pair"),
        "{e}"
    );
    let e = check(&h, ModelKind::Register, &Options::default()).unwrap_err();
    assert!(e.message.contains("no cas"), "{e}");
}

#[test]
fn a_time_budget_that_runs_out_gives_unknown_not_a_guess() {
    // The search's budget: generated values are unique, so the exact path would decide at once.
    let h = checker::generate::generate(&checker::generate::Spec::default());
    let opts = Options {
        timeout: Some(Duration::from_nanos(1)),
        search_only: true,
        ..Options::default()
    };
    let r = check(&h, ModelKind::CasRegister, &opts).unwrap();
    assert_eq!(r.verdict, Verdict::Unknown);
    assert!(r
        .keys
        .iter()
        .all(|k| k.reason.as_deref().unwrap().contains("time budget")));
    let unlimited = check(&h, ModelKind::CasRegister, &Options::default()).unwrap();
    assert_eq!(unlimited.verdict, Lin);
}
