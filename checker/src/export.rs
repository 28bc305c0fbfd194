//! Writing a history in Jepsen's form, so that what faultline recorded can be checked with
//! Jepsen's and Knossos's own tools, and their verdicts compared with faultline's.
//!
//! [`jepsen_edn`] writes one EDN map per event, as Jepsen's `history.edn` does:
//! `{:process 0, :type :invoke, :f :write, :value [k1 5], :index 0, :time 1000}`.
//! - A register operation on a key (`read`, `write`, `cas`) carries its key the way
//!   `jepsen.independent` does: `:value [key value]`, a cas `[key [old new]]`. A key that is a
//!   canonical integer is written as one (`[0 5]`), any other as a string (`["k1" 5]`).
//! - Any other keyed operation (kv-append's `get`/`put`/`append`) carries `:key`.
//! - The nemesis is `:process :nemesis`; `:error`, `:node`, `:version` and `:phase` are kept,
//!   as are fields faultline gives no meaning to.
//!
//! Reading the file back with [`crate::import`] gives the same operations, so the same verdicts.

use crate::history::{Event, EventType, Process};
use crate::import::edn;
use crate::History;
use serde_json::Value;
use std::io::Write;

fn is_register(f: &str) -> bool {
    matches!(f, "read" | "write" | "cas")
}

/// Writes `history` as Jepsen EDN, one event per line. Fails (writing nothing) when register
/// operations with a key and without one are mixed: Jepsen's tuples cannot say that.
pub fn jepsen_edn(history: &History, out: &mut impl Write) -> Result<(), String> {
    let register = history.ops.iter().filter(|o| is_register(&o.f));
    let keyed = register.clone().filter(|o| o.key.is_some()).count();
    let plain = register.filter(|o| o.key.is_none()).count();
    if keyed > 0 && plain > 0 {
        return Err(format!(
            "{}: {keyed} register operations have a key and {plain} have none; Jepsen's [key \
             value] tuples need a key on every one",
            history.source_name
        ));
    }
    let mut line = String::new();
    for e in history.events() {
        line.clear();
        event(&e, &mut line);
        line.push('\n');
        out.write_all(line.as_bytes())
            .map_err(|err| format!("cannot write: {err}"))?;
    }
    out.flush().map_err(|err| format!("cannot write: {err}"))
}

fn event(e: &Event, out: &mut String) {
    out.push_str("{:process ");
    match e.process {
        Process::Client(p) => out.push_str(&p.to_string()),
        Process::Nemesis => out.push_str(":nemesis"),
    }
    out.push_str(", :type :");
    out.push_str(match e.kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    });
    out.push_str(", :f ");
    edn::write_key(&e.f, out);
    out.push_str(", :value ");
    match (&e.key, is_register(&e.f) && e.process != Process::Nemesis) {
        (Some(k), true) => {
            out.push('[');
            key(k, out);
            out.push(' ');
            edn::write(&e.value, out);
            out.push(']');
        }
        (Some(k), false) => {
            edn::write(&e.value, out);
            out.push_str(", :key ");
            edn::write(&Value::String(k.clone()), out);
        }
        (None, _) if crate::model::micro_ops(&e.value).is_some() => micro_ops(&e.value, out),
        (None, _) => edn::write(&e.value, out),
    }
    out.push_str(&format!(", :index {}, :time {}", e.index, e.time));
    let strings = [("error", &e.error), ("node", &e.node), ("phase", &e.phase)];
    for (name, v) in strings {
        if let Some(v) = v {
            out.push_str(&format!(", :{name} "));
            edn::write(&Value::String(v.clone()), out);
        }
    }
    if let Some(v) = e.version {
        out.push_str(&format!(", :version {v}"));
    }
    for (k, v) in &e.extra {
        out.push_str(", ");
        edn::write_key(k, out);
        out.push(' ');
        edn::write(v, out);
    }
    out.push('}');
}

/// A transaction as Elle writes it: each micro-op's function a keyword, `[:append 1 2]`.
fn micro_ops(value: &Value, out: &mut String) {
    out.push('[');
    for (i, op) in value.as_array().into_iter().flatten().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let parts = op.as_array().expect("checked as micro-ops");
        out.push('[');
        edn::write_key(parts[0].as_str().expect("checked as micro-ops"), out);
        for p in &parts[1..] {
            out.push(' ');
            edn::write(p, out);
        }
        out.push(']');
    }
    out.push(']');
}

/// A key as Jepsen would have it: an integer when it is one, written canonically.
fn key(k: &str, out: &mut String) {
    match k.parse::<i64>() {
        Ok(n) if n.to_string() == k => out.push_str(k),
        _ => edn::write(&Value::String(k.to_string()), out),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consistency::{self, Level};
    use crate::generate::{self, Spec};
    use crate::import::{parse_str, Format};
    use crate::{ModelKind, Options};

    #[test]
    fn transactions_round_trip_with_keyword_micro_ops() {
        // Issue 28: JSON Lines ↔ Jepsen EDN for transactional histories.
        let text = "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"append\",1,1],[\"r\",2,null]]}\n\
                    {\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"append\",1,1],[\"r\",2,[3,4]]]}\n";
        let h = parse_str("t.jsonl", text, Format::Jsonl).unwrap();
        let mut out = Vec::new();
        jepsen_edn(&h, &mut out).unwrap();
        let edn = String::from_utf8(out).unwrap();
        assert!(edn.contains(":value [[:append 1 1] [:r 2 [3 4]]]"), "{edn}");
        let back = round_trip(&h);
        assert_eq!(back.ops.len(), 1);
        assert_eq!(back.ops[0].output, h.ops[0].output);
        assert_eq!(back.ops[0].input, h.ops[0].input);
        let (a, b) = (
            crate::txn::check(&h).unwrap(),
            crate::txn::check(&back).unwrap(),
        );
        assert_eq!(a.anomalies.len(), b.anomalies.len());
        // rw-register with recorded versions: the fourth element survives the trip.
        let text = "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"w\",\"x\",1,7],[\"r\",\"y\",null]]}\n\
                    {\"time\":2,\"process\":0,\"type\":\"ok\",\"f\":\"txn\",\"value\":[[\"w\",\"x\",1,7],[\"r\",\"y\",3,2]]}\n";
        let h = parse_str("t.jsonl", text, Format::Jsonl).unwrap();
        let back = round_trip(&h);
        assert_eq!(back.ops[0].output, h.ops[0].output);
        let (a, b) = (
            crate::txn::check(&h).unwrap(),
            crate::txn::check(&back).unwrap(),
        );
        assert_eq!(a.workload, "rw-register");
        let names = |r: &crate::txn::Report| -> Vec<String> {
            r.anomalies.iter().map(|a| a.name()).collect()
        };
        assert_eq!(names(&a), ["garbage-read"]);
        assert_eq!(names(&a), names(&b));
    }

    fn round_trip(h: &History) -> History {
        let mut out = Vec::new();
        jepsen_edn(h, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        parse_str("exported.edn", &text, Format::Auto).unwrap_or_else(|e| panic!("{e}\n{text}"))
    }

    /// The ladder as a comparable string: each model's standing and violation count.
    fn ladder_of(h: &History, model: ModelKind) -> Vec<String> {
        let ladder = consistency::assess(h, model, &Level::ALL, &Options::default()).unwrap();
        let mut rows: Vec<String> = ladder
            .levels
            .iter()
            .map(|l| format!("{} {:?} {}", l.model.name(), l.standing, l.violations))
            .collect();
        rows.extend(ladder.anomalies.iter().map(|a| a.sentence.clone()));
        rows
    }

    #[test]
    fn exported_histories_read_back_to_the_same_ladder() {
        for seed in 0..6 {
            let spec = Spec {
                ops: 300,
                keys: if seed % 2 == 0 { 4 } else { 1 },
                processes: 5,
                indeterminate: 0.1,
                cas: true,
                versions: seed % 3 == 0,
                seed,
            };
            let h = generate::generate(&spec);
            let back = round_trip(&h);
            assert_eq!(back.ops.len(), h.ops.len());
            for (a, b) in h.ops.iter().zip(&back.ops) {
                assert_eq!(
                    (&a.key, &a.input, &a.output, a.outcome),
                    (&b.key, &b.input, &b.output, b.outcome)
                );
            }
            assert_eq!(
                ladder_of(&h, ModelKind::CasRegister),
                ladder_of(&back, ModelKind::CasRegister),
                "seed {seed}"
            );
        }
    }

    #[test]
    fn keys_and_kv_operations_take_jepsen_shapes() {
        let text = "{\"index\":0,\"time\":5,\"process\":0,\"type\":\"invoke\",\"f\":\"cas\",\"key\":\"k1\",\"value\":[1,2]}\n\
                    {\"index\":1,\"time\":6,\"process\":\"nemesis\",\"type\":\"info\",\"f\":\"start-partition\",\"value\":{\"n1\":[\"n2\"]}}\n\
                    {\"index\":2,\"time\":7,\"process\":0,\"type\":\"fail\",\"f\":\"cas\",\"key\":\"k1\",\"value\":[1,2],\"error\":\"mismatch\",\"node\":\"n1\"}\n";
        let h = parse_str("t.jsonl", text, Format::Jsonl).unwrap();
        let mut out = Vec::new();
        jepsen_edn(&h, &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            r#"{:process 0, :type :invoke, :f :cas, :value ["k1" [1 2]], :index 0, :time 5}"#
        );
        assert_eq!(
            lines[1],
            r#"{:process :nemesis, :type :info, :f :start-partition, :value {:n1 ["n2"]}, :index 1, :time 6}"#
        );
        assert!(
            lines[2].ends_with(r#":error "mismatch", :node "n1"}"#),
            "{}",
            lines[2]
        );

        let kv = "{:process 0, :type :invoke, :f :append, :key \"0\", :value \"x\"}\n";
        let h = parse_str("kv.edn", kv, Format::JepsenEdn).unwrap();
        let mut out = Vec::new();
        jepsen_edn(&h, &mut out).unwrap();
        assert!(String::from_utf8(out)
            .unwrap()
            .contains(r#":value "x", :key "0""#));
    }

    #[test]
    fn mixed_keyed_and_plain_register_events_are_refused() {
        let text = "{\"time\":1,\"process\":0,\"type\":\"invoke\",\"f\":\"write\",\"key\":\"a\",\"value\":1}\n\
                    {\"time\":2,\"process\":1,\"type\":\"invoke\",\"f\":\"write\",\"value\":1}\n";
        let h = parse_str("t.jsonl", text, Format::Jsonl).unwrap();
        let mut out = Vec::new();
        let e = jepsen_edn(&h, &mut out).unwrap_err();
        assert!(e.contains("need a key on every one"), "{e}");
        assert!(out.is_empty(), "nothing written");
    }
}
