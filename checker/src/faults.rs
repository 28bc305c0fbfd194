//! The faults a history records, as intervals: what the nemesis did, to which nodes, from when
//! to when. Reports draw them on the timeline, run summaries say which faults an outage fell
//! in, and checkers name the fault behind an anomaly (the paused node a lock's holder went
//! through). One reading of the nemesis's events, for all of them.
//!
//! A confirmed `start-KIND` (a completion, not the invocation) opens a fault; the next
//! confirmed `stop`, `heal` or `stop-…` closes every fault open then — faultline's nemesis
//! undoes a round at once, and Jepsen's `:stop` heals what its `:start` did. A start that was
//! not applied (its completion carries an `error`) is no fault.

use crate::history::{Event, EventType, History};
use serde_json::Value;

/// A fault in force from `start` to `end` (the history's times: ns, or event positions for an
/// untimed history); `end` is `None` for one still in force when the history ends.
#[derive(Clone, Debug, PartialEq)]
pub struct Fault {
    /// `kill`, `pause`, `partition`, `clock`, `membership`, … (the `start-` event's suffix).
    pub kind: String,
    pub start: u64,
    pub end: Option<u64>,
    /// What was done, as the nemesis said it (`pause n2`).
    pub label: String,
    /// The nodes it was done to, when the event names them.
    pub nodes: Vec<String>,
    /// What ended it (`restart n2 (pid 123)`, `heal the network`), when known.
    pub ended_by: Option<String>,
}

impl Fault {
    /// Whether it was in force at some moment from `from` to `to`.
    pub fn overlaps(&self, from: u64, to: u64) -> bool {
        self.start <= to && self.end.is_none_or(|e| e >= from)
    }

    /// Whether it was done to `node`.
    pub fn names(&self, node: &str) -> bool {
        self.nodes.iter().any(|n| n == node)
    }
}

impl History {
    /// The faults this history records, in the order they started.
    pub fn faults(&self) -> Vec<Fault> {
        faults(self.nemesis_events())
    }
}

/// The faults `events` (a nemesis's, in order) record, in the order they started.
pub fn faults(events: impl Iterator<Item = impl std::borrow::Borrow<Event>>) -> Vec<Fault> {
    let mut done = Vec::new();
    let mut open: Vec<Fault> = Vec::new();
    for ev in events {
        let ev = ev.borrow();
        if ev.kind == EventType::Invoke || ev.error.is_some() || ev.extra.contains_key("error") {
            continue;
        }
        let label = match &ev.value {
            Value::String(s) => s.clone(),
            Value::Null => ev.f.clone(),
            v => v.to_string(),
        };
        if let Some(kind) = ev.f.strip_prefix("start-") {
            open.push(Fault {
                kind: kind.to_string(),
                start: ev.time,
                end: None,
                label,
                nodes: nodes(ev),
                ended_by: None,
            });
        } else if ev.f == "stop" || ev.f == "heal" || ev.f.starts_with("stop-") {
            for mut f in open.drain(..) {
                f.end = Some(ev.time);
                f.ended_by = Some(label.clone());
                done.push(f);
            }
        }
    }
    done.extend(open);
    done.sort_by_key(|f| f.start);
    done
}

fn nodes(ev: &Event) -> Vec<String> {
    ev.extra
        .get("nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|n| n.as_str().map(String::from))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_str, Format};

    fn history(lines: &[&str]) -> History {
        parse_str("t.jsonl", &lines.join("\n"), Format::Jsonl).unwrap()
    }

    #[test]
    fn confirmed_starts_pair_with_the_next_heal_and_unapplied_ones_are_no_fault() {
        let h = history(&[
            r#"{"process":"nemesis","type":"invoke","f":"start-kill","value":"kill n2","time":10}"#,
            r#"{"process":"nemesis","type":"info","f":"start-kill","value":"kill n2","nodes":["n2"],"time":20}"#,
            r#"{"process":"nemesis","type":"invoke","f":"stop","value":"heal","time":30}"#,
            r#"{"process":"nemesis","type":"info","f":"stop","value":"restart n2","nodes":["n2"],"time":40}"#,
            r#"{"process":"nemesis","type":"info","f":"start-pause","value":"not applied","error":"no such node","time":50}"#,
            r#"{"process":"nemesis","type":"info","f":"start-partition","value":"halves","nodes":["n1","n3"],"time":60}"#,
        ]);
        let got = h.faults();
        assert_eq!(got.len(), 2, "the unapplied pause is no fault: {got:?}");
        assert_eq!(
            got[0],
            Fault {
                kind: "kill".into(),
                start: 20,
                end: Some(40),
                label: "kill n2".into(),
                nodes: vec!["n2".into()],
                ended_by: Some("restart n2".into()),
            }
        );
        assert_eq!((got[1].kind.as_str(), got[1].end), ("partition", None));
        assert!(got[0].names("n2") && !got[0].names("n1"));
        assert!(got[0].overlaps(35, 100) && !got[0].overlaps(41, 100));
        assert!(got[1].overlaps(1_000, 2_000), "still in force at the end");
    }
}
