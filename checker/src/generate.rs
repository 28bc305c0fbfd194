//! Synthetic histories from a truly atomic register, for tests and benchmarks.
//!
//! Each client process repeatedly invokes a read, write or cas on a random key; the operation
//! takes effect at a random instant inside its interval, against a real in-memory register, and
//! completes later with what it saw. Such histories are linearizable by construction. Some
//! operations end `info` (and may or may not have taken effect), some stay open at the end.
//! Written values are unique per key, as faultline's workloads make them.

use crate::history::{Event, EventType, History, Process};
use serde_json::{json, Value};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

/// What to generate.
#[derive(Clone, Debug)]
pub struct Spec {
    pub ops: usize,
    pub keys: usize,
    pub processes: usize,
    /// Probability that an operation's completion is `info`.
    pub indeterminate: f64,
    /// Include cas operations (otherwise only reads and writes).
    pub cas: bool,
    /// Record a version with each completion, as raftkv does: every write that takes effect
    /// gets the next number of one global counter, and a read returns its value's version.
    pub versions: bool,
    pub seed: u64,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            ops: 1000,
            keys: 10,
            processes: 10,
            indeterminate: 0.02,
            cas: true,
            versions: false,
            seed: 1,
        }
    }
}

/// faultline's one seeded random source, from the base layer (re-exported for the checker's
/// users: generated histories draw from it).
pub use base::Rng;

#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum Step {
    // Order matters at equal times: complete, then take effect, then invoke.
    Complete(usize),
    Apply(usize),
    Invoke(usize),
}

struct Pending {
    process: usize,
    key: String,
    f: &'static str,
    input: Value,
    output: Value,
    kind: EventType,
    /// Whether an indeterminate operation takes effect at all.
    happens: bool,
    version: Option<u64>,
}

/// Generates a linearizable history as events (use [`History::from_events`] or [`generate`]).
pub fn events(spec: &Spec) -> Vec<Event> {
    let mut events = Vec::with_capacity(2 * spec.ops);
    produce(spec, &mut |e| events.push(e));
    events
}

/// Generates a linearizable history, each event paired as it is made (no list of events).
pub fn generate(spec: &Spec) -> History {
    let mut builder = crate::history::HistoryBuilder::new(
        "generated",
        crate::history::TimeOrder::Strict,
        2 * spec.ops,
    );
    produce(spec, &mut |e| {
        builder
            .push(e)
            .expect("generated histories are well formed")
    });
    builder.finish()
}

/// Makes the events of a generated history, in order, handing each to `sink`.
fn produce(spec: &Spec, sink: &mut dyn FnMut(Event)) {
    let mut rng = Rng::new(spec.seed);
    let mut queue: BinaryHeap<Reverse<(u64, Step)>> = BinaryHeap::new();
    let mut ops: Vec<Pending> = Vec::with_capacity(spec.ops);
    let mut registers: HashMap<String, (Value, Option<u64>)> = HashMap::new();
    let mut last_version = 0u64;
    let mut next_value: HashMap<String, u64> = HashMap::new();
    let mut count = 0usize;
    let mut pid = vec![0u64; spec.processes];
    for (p, id) in pid.iter_mut().enumerate() {
        *id = p as u64;
    }
    let mut next_pid = spec.processes as u64;
    let mut started = 0usize;
    for p in 0..spec.processes.min(spec.ops) {
        queue.push(Reverse((rng.below(1_000), Step::Invoke(p))));
    }
    let versions = spec.versions;
    let mut push_event = |time: u64, process: u64, kind: EventType, op: &Pending, value: Value| {
        count += 1;
        sink(Event {
            index: count as u64 - 1,
            time,
            process: Process::Client(process),
            kind,
            f: op.f.to_string(),
            key: Some(op.key.clone()),
            value,
            node: None,
            version: if versions && kind == EventType::Ok {
                op.version
            } else {
                None
            },
            phase: None,
            error: None,
            extra: Default::default(),
            line: count,
        });
    };
    while let Some(Reverse((time, step))) = queue.pop() {
        match step {
            Step::Invoke(p) => {
                if started == spec.ops {
                    continue;
                }
                started += 1;
                let key = format!("k{}", rng.below(spec.keys.max(1) as u64));
                let roll = rng.below(if spec.cas { 10 } else { 7 });
                let (f, input) = match roll {
                    0..=3 => ("read", Value::Null),
                    4..=6 => {
                        let n = next_value.entry(key.clone()).or_insert(0);
                        *n += 1;
                        ("write", json!(*n))
                    }
                    _ => {
                        let n = next_value.entry(key.clone()).or_insert(0);
                        *n += 1;
                        let current = registers.get(&key).map_or(Value::Null, |r| r.0.clone());
                        // Usually a cas that can succeed, sometimes one that cannot.
                        let from = if rng.chance(0.7) && !current.is_null() {
                            current
                        } else {
                            json!(rng.below(*n + 1))
                        };
                        ("cas", json!([from, *n]))
                    }
                };
                let id = ops.len();
                let indeterminate = rng.chance(spec.indeterminate);
                ops.push(Pending {
                    process: p,
                    key,
                    f,
                    input: input.clone(),
                    output: Value::Null,
                    kind: if indeterminate {
                        EventType::Info
                    } else {
                        EventType::Ok
                    },
                    happens: !indeterminate || rng.chance(0.5),
                    version: None,
                });
                push_event(time, pid[p], EventType::Invoke, &ops[id], input);
                let apply_at = time + 1 + rng.below(2_000);
                let complete_at = apply_at + 1 + rng.below(2_000);
                queue.push(Reverse((apply_at, Step::Apply(id))));
                // A few indeterminate operations never complete at all; as in Jepsen, the worker
                // goes on as a new process, so the load does not die out.
                if indeterminate && rng.chance(0.2) {
                    pid[p] = next_pid;
                    next_pid += 1;
                    queue.push(Reverse((complete_at, Step::Invoke(p))));
                } else {
                    queue.push(Reverse((complete_at, Step::Complete(id))));
                }
            }
            Step::Apply(id) => {
                let op = &mut ops[id];
                if !op.happens {
                    continue;
                }
                let current = registers
                    .entry(op.key.clone())
                    .or_insert((Value::Null, None));
                match op.f {
                    "read" => {
                        op.output = current.0.clone();
                        op.version = current.1;
                    }
                    "write" => {
                        last_version += 1;
                        *current = (op.input.clone(), Some(last_version));
                        op.version = current.1;
                    }
                    _ => {
                        if current.0 == op.input[0] {
                            last_version += 1;
                            *current = (op.input[1].clone(), Some(last_version));
                            op.version = current.1;
                        } else if op.kind == EventType::Ok {
                            op.kind = EventType::Fail;
                        }
                    }
                }
            }
            Step::Complete(id) => {
                let op = &ops[id];
                let value = match (op.f, op.kind) {
                    ("read", EventType::Ok) => op.output.clone(),
                    _ => op.input.clone(),
                };
                let p = op.process;
                push_event(time, pid[p], op.kind, op, value);
                if op.kind == EventType::Info {
                    // Like Jepsen: a process whose outcome is unknown is replaced by a new one.
                    pid[p] = next_pid;
                    next_pid += 1;
                }
                queue.push(Reverse((time + 1 + rng.below(500), Step::Invoke(p))));
            }
        }
    }
}

/// Writes events as faultline's native JSON Lines.
pub fn to_jsonl(events: &[Event]) -> String {
    let mut out = String::new();
    for e in events {
        out.push_str(&serde_json::to_string(e).expect("events serialize"));
        out.push('\n');
    }
    out
}
