//! Knossos's conventions, as options a user turns on by name, so that faultline can reproduce a
//! Knossos verdict and say when the convention is what decides it.
//!
//! - **An initial value** ([`with_initial`]): Knossos models start where the test says —
//!   `(model/cas-register 0)` starts at 0, where faultline's registers start absent (`nil`).
//!   faultline expresses a starting value as what it means: a write of it, acknowledged before
//!   the history begins, by a process of its own. Every model (linearizability, sequential
//!   consistency, the session guarantees) then reads it the same way, with no special case.
//! - **Reads of nil match anything** ([`nil_reads_match_any`]): Knossos's register accepts an
//!   ok read of `nil` in any state. faultline's default is strict (a read of `nil` says the
//!   register was absent); under this rule such a read constrains nothing, which is exactly an
//!   indeterminate read, and that is what it becomes.

use crate::history::{Event, EventType, Outcome, TimeOrder};
use crate::History;
use serde_json::Value;

/// `history` with every key starting at `value`: before its first event, one process writes
/// `value` to each key, and each write is acknowledged before the next begins.
pub fn with_initial(history: &History, value: &Value) -> History {
    let writer = history.ops.iter().map(|o| o.process + 1).max().unwrap_or(0);
    let start = history.span().map_or(0, |(first, _)| first);
    let keys: Vec<Option<String>> = history.by_key().into_iter().map(|(k, _)| k).collect();
    let mut events = Vec::with_capacity(history.event_count() + 2 * keys.len());
    for key in &keys {
        for kind in [EventType::Invoke, EventType::Ok] {
            events.push(Event {
                time: start,
                phase: Some("initial value".into()),
                line: 0,
                ..Event::client(
                    events.len(),
                    writer,
                    kind,
                    "write",
                    key.as_deref(),
                    value.clone(),
                )
            });
        }
    }
    events.extend(history.events());
    let mut out = History::from_events_ordered(&history.source_name, events, TimeOrder::Positional)
        .expect("adding acknowledged writes before a valid history keeps it valid");
    out.format = history.format;
    out.timed = history.timed;
    out.notes = history.notes.clone();
    out.notes.push(format!(
        "--initial {value}: every key starts at {value} (as Knossos's (cas-register {value}) \
         does); process {writer}'s writes of it stand before the history"
    ));
    out
}

/// A value the history reads that nothing in it wrote, which could be every key's starting
/// value (Knossos's `(cas-register 0)`) — or a phantom read, if keys start empty.
#[derive(Clone, Debug, PartialEq)]
pub struct UnwrittenStart {
    pub value: Value,
    /// The key of the first operation that saw it.
    pub key: Option<String>,
    /// How many ok reads and cas operations saw it on a key where nothing wrote it.
    pub reads: usize,
}

/// The one non-nil value that ok reads (or the expected value of ok cas operations) return on
/// keys where no operation wrote it, if there is exactly one such value: the candidate initial
/// value. None when there is no such value, or several (a register starts at one value).
pub fn unwritten_start(history: &History) -> Option<UnwrittenStart> {
    use crate::consistency::versions::{consumed, produced, text};
    let mut found: Option<UnwrittenStart> = None;
    for (key, ops) in history.by_key() {
        let written: std::collections::HashSet<String> = ops
            .iter()
            .filter(|o| o.outcome != Outcome::Fail)
            .filter_map(|o| produced(o))
            .map(|v| text(&v))
            .collect();
        for op in &ops {
            let Some(v) = consumed(op) else { continue };
            if v.is_null() || written.contains(&text(&v)) {
                continue;
            }
            match &mut found {
                None => {
                    found = Some(UnwrittenStart {
                        value: v,
                        key: key.clone(),
                        reads: 1,
                    })
                }
                Some(f) if f.value == v => f.reads += 1,
                Some(_) => return None,
            }
        }
    }
    found
}

/// Whether `op` is an ok read that returned nothing.
fn is_nil_read(op: &crate::Operation) -> bool {
    op.f == "read" && op.outcome == Outcome::Ok && op.output.is_null()
}

/// How many ok reads returned `nil`: the reads Knossos's rule would change.
pub fn nil_reads(history: &History) -> usize {
    history.ops.iter().filter(|o| is_nil_read(o)).count()
}

/// `history` with Knossos's rule: an ok read of `nil` matches any state, so it becomes a read
/// whose result is unknown.
pub fn nil_reads_match_any(history: &History) -> History {
    let mut out = history.clone();
    let mut changed = 0;
    for op in out.ops.iter_mut().filter(|o| is_nil_read(o)) {
        op.outcome = Outcome::Info;
        op.error = Some("read nil: matches any state under --nil-reads any".into());
        changed += 1;
    }
    out.notes.push(format!(
        "--nil-reads any: {changed} ok reads of nil match any state (Knossos's rule)"
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::import::{parse_str, Format};
    use crate::{check, ModelKind, Options, Verdict};

    fn edn(text: &str) -> History {
        parse_str("t.edn", text, Format::JepsenEdn).unwrap()
    }

    const CAS_FROM_ZERO: &str = "{:process 0, :type :invoke, :f :cas, :value [0 1]}\n\
                                 {:process 0, :type :ok, :f :cas, :value [0 1]}\n\
                                 {:process 1, :type :invoke, :f :read, :value nil}\n\
                                 {:process 1, :type :ok, :f :read, :value 1}\n";

    #[test]
    fn an_initial_value_is_a_write_before_everything() {
        let h = edn(CAS_FROM_ZERO);
        let verdict = |h: &History| {
            check(h, ModelKind::CasRegister, &Options::default())
                .unwrap()
                .verdict
        };
        assert_eq!(verdict(&h), Verdict::NotLinearizable, "absent is not 0");
        let h0 = with_initial(&h, &Value::from(0));
        assert_eq!(verdict(&h0), Verdict::Linearizable);
        assert_eq!(h0.ops.len(), 3);
        assert_eq!(h0.ops[0].process, 2);
        assert!(h0.notes.last().unwrap().contains("--initial 0"));
    }

    #[test]
    fn every_key_gets_the_initial_value() {
        let h = edn("{:process 0, :type :invoke, :f :read, :value [1 nil]}\n\
                     {:process 0, :type :ok, :f :read, :value [1 0]}\n\
                     {:process 0, :type :invoke, :f :read, :value [2 nil]}\n\
                     {:process 0, :type :ok, :f :read, :value [2 0]}\n");
        let h0 = with_initial(&h, &Value::from(0));
        let keys: Vec<_> = h0.ops.iter().map(|o| o.key.clone().unwrap()).collect();
        assert_eq!(keys, ["1", "2", "1", "2"]);
        let r = check(&h0, ModelKind::Register, &Options::default()).unwrap();
        assert_eq!(r.verdict, Verdict::Linearizable);
    }

    #[test]
    fn nil_reads_can_match_anything() {
        let h = edn("{:process 0, :type :invoke, :f :write, :value 1}\n\
                     {:process 0, :type :ok, :f :write, :value 1}\n\
                     {:process 1, :type :invoke, :f :read, :value nil}\n\
                     {:process 1, :type :ok, :f :read, :value nil}\n");
        assert_eq!(nil_reads(&h), 1);
        let strict = check(&h, ModelKind::Register, &Options::default()).unwrap();
        assert_eq!(strict.verdict, Verdict::NotLinearizable);
        let any = nil_reads_match_any(&h);
        let lax = check(&any, ModelKind::Register, &Options::default()).unwrap();
        assert_eq!(lax.verdict, Verdict::Linearizable);
        assert!(any.notes.last().unwrap().contains("1 ok reads of nil"));
    }
}
