//! The exact unique-values decision (`checker::unique`) against the WGL search, on random small
//! histories where the search is sure to finish: at least 10,000 per model, with indeterminate
//! writes and cas, failed cas, reads of the initial value, cas chains, and anomalies (reads of
//! values never written, overwritten or not yet written). Every violation's core must fail on its
//! own, so that it can explain and be shrunk.

use checker::generate::Rng;
use checker::history::{Event, EventType};
use checker::models::Register;
use checker::unique;
use checker::{check_with, History, Operation, Options, Verdict};
use serde_json::{json, Value};

/// A random history of one register: `n` operations by up to `p` processes, each value written
/// at most once; reads return a value that was (or will be, or never is) written.
fn history(rng: &mut Rng, cas: bool) -> History {
    let n = 2 + rng.below(11) as usize;
    let p = 1 + rng.below(4) as usize;
    let mut written: Vec<u64> = Vec::new();
    let mut next_value = 1u64;
    let mut events = Vec::new();
    let mut open: Vec<Option<(String, Value, EventType)>> = vec![None; p];
    let mut process_id: Vec<u64> = (0..p as u64).collect();
    let mut started = 0;
    let push = |process: u64, kind: EventType, f: &str, value: Value, events: &mut Vec<Event>| {
        events.push(Event::client(events.len(), process, kind, f, None, value));
    };
    let pick_value = |rng: &mut Rng, written: &[u64], next: u64| -> Value {
        match rng.below(10) {
            0 => Value::Null,
            1 => json!(next + 5), // never written (or written later)
            _ if !written.is_empty() => json!(written[rng.below(written.len() as u64) as usize]),
            _ => Value::Null,
        }
    };
    while started < n || open.iter().any(Option::is_some) {
        let i = rng.below(p as u64) as usize;
        match open[i].take() {
            None if started < n => {
                started += 1;
                let roll = rng.below(if cas { 3 } else { 2 });
                let (f, input) = match roll {
                    0 => ("read", Value::Null),
                    1 => {
                        let v = next_value;
                        next_value += 1;
                        ("write", json!(v))
                    }
                    _ => {
                        let v = next_value;
                        next_value += 1;
                        ("cas", json!([pick_value(rng, &written, next_value), v]))
                    }
                };
                let outcome = match rng.below(10) {
                    0 | 1 => EventType::Info,
                    2 if f == "cas" => EventType::Fail,
                    _ => EventType::Ok,
                };
                push(
                    process_id[i],
                    EventType::Invoke,
                    f,
                    input.clone(),
                    &mut events,
                );
                if f != "read" {
                    written.push(next_value - 1);
                }
                open[i] = Some((f.to_string(), input, outcome));
            }
            None => {}
            Some((f, input, outcome)) => {
                if rng.below(8) == 0 && outcome == EventType::Info {
                    // Left open at the end: never completed.
                    process_id[i] += 100;
                    continue;
                }
                let value = if f == "read" && outcome == EventType::Ok {
                    pick_value(rng, &written, next_value)
                } else {
                    input
                };
                push(process_id[i], outcome, &f, value, &mut events);
                if outcome == EventType::Info {
                    process_id[i] += 100;
                }
            }
        }
    }
    History::from_events("random", events).expect("well formed")
}

fn search(h: &History, cas: bool) -> Verdict {
    let opts = Options {
        search_only: true,
        ..Options::default()
    };
    let model = if cas {
        Register::with_cas()
    } else {
        Register::plain()
    };
    check_with(&model, h, &opts).unwrap().verdict
}

fn sub_history(h: &History, ids: &[usize]) -> History {
    let mut keep = vec![false; h.event_count()];
    for &id in ids {
        let op = &h.ops[id];
        keep[op.invoke_event] = true;
        if let Some(c) = op.complete_event {
            keep[c] = true;
        }
    }
    let events = h
        .events()
        .zip(keep)
        .filter(|(_, k)| *k)
        .map(|(e, _)| e)
        .collect();
    History::from_events("core", events).unwrap()
}

/// `FAULTLINE_SEEDS` raises the number of histories (for a long run by hand).
fn agree(cas: bool, seeds: u64) {
    let seeds = std::env::var("FAULTLINE_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(seeds);
    let (mut decided, mut violated) = (0, 0);
    for seed in 0..seeds {
        let mut rng = Rng::new(seed * 2 + cas as u64);
        let h = history(&mut rng, cas);
        let ops: Vec<&Operation> = h.ops.iter().collect();
        let Some(d) = unique::decide(&ops, cas) else {
            continue;
        };
        decided += 1;
        let want = search(&h, cas);
        assert_ne!(want, Verdict::Unknown, "seed {seed}");
        assert_eq!(
            d.linearizable,
            want == Verdict::Linearizable,
            "seed {seed} (cas {cas}): exact {d:?}, search {want:?}\n{}",
            checker::generate::to_jsonl(&h.events().collect::<Vec<_>>())
        );
        if !d.linearizable {
            violated += 1;
            let core = sub_history(&h, &d.core);
            assert_eq!(
                search(&core, cas),
                Verdict::NotLinearizable,
                "seed {seed}: the core {:?} does not fail on its own\n{}",
                d.core,
                checker::generate::to_jsonl(&h.events().collect::<Vec<_>>())
            );
        }
    }
    println!("cas {cas}: {decided} histories decided exactly, {violated} of them violations");
    assert!(decided >= 10_000, "only {decided} decided exactly");
    assert!(
        violated > decided / 10,
        "too few violations to mean much: {violated}"
    );
    assert!(
        violated < decided * 9 / 10,
        "too few linearizable ones: {violated}"
    );
}

#[test]
fn the_exact_decision_agrees_with_the_search_for_registers() {
    agree(false, 12_000);
}

#[test]
fn the_exact_decision_agrees_with_the_search_for_cas_registers() {
    agree(true, 12_000);
}

#[test]
fn repeated_values_and_other_operations_are_left_to_the_search() {
    let h = History::from_events(
        "dup",
        ["write", "write"]
            .iter()
            .enumerate()
            .flat_map(|(i, f)| {
                [EventType::Invoke, EventType::Ok].map(|kind| {
                    let at = i * 2 + (kind == EventType::Ok) as usize;
                    Event::client(at, 0, kind, f, None, json!(7))
                })
            })
            .collect(),
    )
    .unwrap();
    let ops: Vec<&Operation> = h.ops.iter().collect();
    assert_eq!(unique::decide(&ops, true), None, "7 is written twice");
}
