//! Properties of the consistency ladder on generated histories:
//! - histories from an atomic register (with versions, as raftkv records them) satisfy every
//!   model, and the sequential-consistency search finds an order for them on its own;
//! - in histories with injected faults, every anomaly's witness shows the anomaly on its own, and
//!   removing any one more removal unit the shrinking rules allow makes it disappear.

use checker::consistency::sequential::Search;
use checker::consistency::shrink::units;
use checker::consistency::{assess, Anomaly, AnomalyKind, Level, Standing};
use checker::generate::{self, Rng, Spec};
use checker::models::Register;
use checker::search::Progress;
use checker::{History, ModelKind, Operation, Options};
use serde_json::json;
use std::collections::BTreeSet;

fn spec(seed: u64, ops: usize) -> Spec {
    Spec {
        ops,
        keys: 1 + (seed as usize % 4),
        processes: 2 + (seed as usize % 6),
        indeterminate: [0.0, 0.05, 0.15][seed as usize % 3],
        cas: seed.is_multiple_of(2),
        versions: true,
        seed,
    }
}

#[test]
fn atomic_histories_satisfy_every_model() {
    for seed in 0..40 {
        let h = generate::generate(&spec(seed, 300 + (seed as usize * 53) % 700));
        let l = assess(&h, ModelKind::CasRegister, &Level::ALL, &Options::default()).unwrap();
        for r in &l.levels {
            let want = if r.model == Level::Eventual {
                // Generated histories have no final reads.
                Standing::Unknown
            } else {
                Standing::Holds
            };
            assert_eq!(
                r.standing,
                want,
                "seed {seed}: {}",
                checker::render::ladder(&l)
            );
        }
        assert_eq!(
            l.versions.derived, 0,
            "seed {seed}: every key ordered by its versions"
        );
    }
}

#[test]
fn the_sequential_search_finds_orders_for_atomic_histories() {
    // Keys on their own go to the exact check; the search is what decides several keys
    // together, so it is exercised on small multi-key histories.
    for seed in 0..40 {
        let mut s = spec(seed, 30 + (seed as usize * 7) % 40);
        s.keys = 2 + (seed as usize % 2);
        let h = generate::generate(&s);
        let ops: Vec<&Operation> = h.ops.iter().collect();
        let model = Register::with_cas();
        let mut search = Search::new(&model, &ops).unwrap();
        assert_eq!(
            search.run(5_000_000),
            Progress::Linearizable,
            "seed {seed}: no order found in {} steps",
            search.steps()
        );
        for key in h.ops.iter().map(|o| o.key.clone()).collect::<BTreeSet<_>>() {
            let one: Vec<&Operation> = h.ops.iter().filter(|o| o.key == key).collect();
            assert_eq!(
                checker::consistency::sequential::register_key(&one),
                Some(false),
                "seed {seed}"
            );
        }
    }
}

/// Injects faults into an atomic history's events: some reads return an older value (with its
/// version), one may return a value nobody wrote, and a final read on another "node" may
/// disagree.
fn corrupt(h: &History, rng: &mut Rng) -> History {
    let mut events: Vec<_> = h.events().collect();
    // Every value each key held, with its version, in order.
    let mut written: std::collections::HashMap<String, Vec<(serde_json::Value, u64)>> =
        Default::default();
    for op in &h.ops {
        if op.outcome == checker::Outcome::Ok && op.f != "read" {
            if let (Some(k), Some(v)) = (&op.key, op.version) {
                let value = if op.f == "cas" {
                    op.input[1].clone()
                } else {
                    op.input.clone()
                };
                written.entry(k.to_string()).or_default().push((value, v));
            }
        }
    }
    for op in &h.ops {
        let Some(done) = op.complete_event else {
            continue;
        };
        if op.f != "read" || op.outcome != checker::Outcome::Ok || !rng.chance(0.04) {
            continue;
        }
        let Some(values) = op.key.as_ref().and_then(|k| written.get(k.as_str())) else {
            continue;
        };
        let older: Vec<&(serde_json::Value, u64)> = values
            .iter()
            .filter(|(_, v)| op.version.is_none_or(|mine| *v < mine))
            .collect();
        if older.is_empty() {
            continue;
        }
        let (value, version) = (*rng.pick(&older)).clone();
        events[done].value = value;
        events[done].version = Some(version);
    }
    if rng.chance(0.3) {
        if let Some(op) = h
            .ops
            .iter()
            .find(|o| o.f == "read" && o.outcome == checker::Outcome::Ok)
        {
            let done = op.complete_event.unwrap();
            events[done].value = json!(999_999);
            events[done].version = Some(999_999);
        }
    }
    History::from_events("corrupted", events).unwrap()
}

/// The sub-history of `h` made of the operations `ids`.
fn sub_history(h: &History, ids: &BTreeSet<usize>) -> History {
    let mut keep: BTreeSet<usize> = BTreeSet::new();
    for id in ids {
        let op = &h.ops[*id];
        keep.insert(op.invoke_event);
        keep.extend(op.complete_event);
    }
    let events = keep.into_iter().map(|i| h.event(i)).collect();
    History::from_events("witness", events).unwrap()
}

/// The model a witness was shrunk against.
fn primary(a: &Anomaly) -> Level {
    match a.kind {
        AnomalyKind::StaleRead | AnomalyKind::LostWrite | AnomalyKind::NotLinearizable => {
            Level::Linearizable
        }
        AnomalyKind::NotSequential => Level::Sequential,
        AnomalyKind::NonMonotonicRead => Level::MonotonicReads,
        AnomalyKind::NonMonotonicWrite => Level::MonotonicWrites,
        AnomalyKind::ReadYourWritesViolation => Level::ReadYourWrites,
        AnomalyKind::WritesFollowReadsViolation => Level::WritesFollowReads,
        _ => Level::Eventual,
    }
}

fn standing(h: &History, level: Level) -> Standing {
    assess(h, ModelKind::CasRegister, &[level], &Options::default())
        .unwrap()
        .standing(level)
}

#[test]
fn witnesses_fail_alone_and_are_minimal() {
    let mut seen: BTreeSet<&'static str> = BTreeSet::new();
    let mut witnesses = 0;
    for seed in 0..40 {
        let h = generate::generate(&spec(seed, 120 + (seed as usize * 17) % 200));
        let bad = corrupt(&h, &mut Rng::new(seed + 1000));
        let opts = Options {
            all_failures: true,
            ..Default::default()
        };
        let l = assess(&bad, ModelKind::CasRegister, &Level::ALL, &opts).unwrap();
        for a in &l.anomalies {
            let level = primary(a);
            let ids: BTreeSet<usize> = a.witness.iter().map(|o| o.id).collect();
            let alone = sub_history(&bad, &ids);
            assert_eq!(
                standing(&alone, level),
                Standing::Violated,
                "seed {seed}: the witness of {:?} ({}) does not fail {level} alone",
                a.kind,
                a.sentence
            );
            witnesses += 1;
            seen.insert(a.kind.words());
            if !a.minimal {
                continue;
            }
            let ops: Vec<&Operation> = ids.iter().map(|&i| &bad.ops[i]).collect();
            for unit in units(&ops) {
                let rest: BTreeSet<usize> = ops
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| !unit.contains(i))
                    .map(|(_, o)| o.id)
                    .collect();
                let smaller = sub_history(&bad, &rest);
                assert_ne!(
                    standing(&smaller, level),
                    Standing::Violated,
                    "seed {seed}: the witness of {:?} ({}) still fails {level} without {:?}",
                    a.kind,
                    a.sentence,
                    unit.iter().map(|&i| ops[i].id).collect::<Vec<_>>()
                );
            }
        }
    }
    assert!(witnesses >= 40, "only {witnesses} witnesses checked");
    for kind in ["stale read", "non-monotonic read", "phantom read"] {
        assert!(seen.contains(kind), "no {kind} among {seen:?}");
    }
}

#[test]
fn the_exact_register_check_agrees_with_the_search() {
    // Small single-key histories, atomic and corrupted, where the search is sure to finish.
    let mut decided = 0;
    for seed in 0..300 {
        let mut s = spec(seed, 8 + (seed as usize % 12));
        s.keys = 1;
        s.processes = 2 + (seed as usize % 3);
        let h = generate::generate(&s);
        let h = if seed.is_multiple_of(2) {
            corrupt(&h, &mut Rng::new(seed))
        } else {
            h
        };
        let ops: Vec<&Operation> = h.ops.iter().collect();
        let Some(exact) = checker::consistency::sequential::register_key(&ops) else {
            continue;
        };
        let model = Register::with_cas();
        let mut search = Search::new(&model, &ops).unwrap();
        let found = search.run(10_000_000);
        assert_ne!(found, Progress::Unfinished, "seed {seed}");
        assert_eq!(
            exact,
            found == Progress::NotLinearizable,
            "seed {seed}: the exact check and the search disagree"
        );
        decided += 1;
    }
    assert!(decided > 250, "{decided}");
}
