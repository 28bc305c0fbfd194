//! The sequential level against a brute-force reference, on thousands of small single- and
//! two-key register histories full of indeterminate writes and compare-and-sets (issue 25: a
//! history that was sequential was once called violated because an indeterminate cas consumed an
//! indeterminate write that nobody read).
//!
//! The reference enumerates every interleaving of the processes' operations (real time ignored),
//! taking or skipping each indeterminate one, and asks a plain register whether each result is
//! explained. It is compared with the search, with the exact check for unique values where that
//! applies, and with the ladder's verdict — whose witness must also fail the reference on its own.

use checker::consistency::sequential::{register_key, Search};
use checker::consistency::{assess, Level, Standing};
use checker::generate::Rng;
use checker::history::{Event, EventType, History};
use checker::models::Register;
use checker::search::Progress;
use checker::{ModelKind, Operation, Options, Outcome};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap};

/// One operation as planned: (process, key, f, input, outcome, output).
type Planned = (u64, usize, &'static str, Value, EventType, Value);

/// A random history: `seats` clients issue `n` operations between them; an operation that ends
/// indeterminate ends its process, and the seat goes on as a new one (as in Jepsen). Results are
/// drawn at random from the values written, so roughly half the histories are sequential.
fn history(rng: &mut Rng, unique: bool) -> History {
    let seats = 2 + rng.below(3) as usize;
    let n = 3 + rng.below(6) as usize;
    let keys = if rng.chance(0.3) { 2 } else { 1 };
    let mut process: Vec<u64> = (0..seats as u64).collect();
    let mut next_process = seats as u64;
    let mut next_value = 1u64;
    let mut written: Vec<Vec<u64>> = vec![Vec::new(); keys];
    // Each seat's operations as (process, key, f, input, outcome, output).
    let mut queues: Vec<Vec<Planned>> = vec![vec![]; seats];
    for _ in 0..n {
        let seat = rng.below(seats as u64) as usize;
        let key = rng.below(keys as u64) as usize;
        let mut value = |rng: &mut Rng| {
            if unique || rng.chance(0.5) {
                next_value += 1;
                next_value - 1
            } else {
                1 + rng.below(3)
            }
        };
        let pick = |rng: &mut Rng, written: &[u64]| -> Value {
            if written.is_empty() || rng.chance(0.2) {
                Value::Null
            } else {
                json!(written[rng.below(written.len() as u64) as usize])
            }
        };
        let outcome = match rng.below(10) {
            0..=5 => EventType::Ok,
            6..=8 => EventType::Info,
            _ => EventType::Fail,
        };
        let (f, input, output) = match rng.below(3) {
            0 => {
                let out = pick(rng, &written[key]);
                ("read", Value::Null, out)
            }
            1 => {
                let v = value(rng);
                written[key].push(v);
                ("write", json!(v), json!(v))
            }
            _ => {
                let from = pick(rng, &written[key]).as_u64().unwrap_or(1);
                let to = value(rng);
                written[key].push(to);
                ("cas", json!([from, to]), json!([from, to]))
            }
        };
        queues[seat].push((process[seat], key, f, input, outcome, output));
        if outcome == EventType::Info {
            process[seat] = next_process;
            next_process += 1;
        }
    }
    interleave(rng, queues)
}

/// Invocations and completions of each seat's operations, seats interleaved at random.
fn interleave(rng: &mut Rng, mut queues: Vec<Vec<Planned>>) -> History {
    for q in &mut queues {
        q.reverse();
    }
    let mut open: Vec<Option<Planned>> = vec![None; queues.len()];
    let mut events = Vec::new();
    loop {
        let live: Vec<usize> = (0..queues.len())
            .filter(|&s| open[s].is_some() || !queues[s].is_empty())
            .collect();
        if live.is_empty() {
            break;
        }
        let s = live[rng.below(live.len() as u64) as usize];
        let key = |k: usize| format!("k{k}");
        match open[s].take() {
            Some((p, k, f, input, kind, output)) => {
                let value = if kind == EventType::Ok { output } else { input };
                events.push(Event::client(
                    events.len(),
                    p,
                    kind,
                    f,
                    Some(&key(k)),
                    value,
                ));
            }
            None => {
                let op = queues[s].pop().unwrap();
                let (p, k, f, input) = (op.0, op.1, op.2, op.3.clone());
                events.push(Event::client(
                    events.len(),
                    p,
                    EventType::Invoke,
                    f,
                    Some(&key(k)),
                    input,
                ));
                open[s] = Some(op);
            }
        }
    }
    History::from_events("differential", events).unwrap()
}

/// Whether some order of `ops` that keeps each process's order, taking or skipping each
/// indeterminate operation, explains every result on plain registers.
fn reference(ops: &[&Operation]) -> bool {
    let mut by_process: BTreeMap<u64, Vec<&Operation>> = BTreeMap::new();
    let mut sorted = ops.to_vec();
    sorted.sort_by_key(|o| o.invoke_event);
    for o in sorted {
        let indeterminate_read = o.outcome != Outcome::Ok && o.f == "read";
        if o.outcome != Outcome::Fail && !indeterminate_read {
            by_process.entry(o.process).or_default().push(o);
        }
    }
    let seqs: Vec<Vec<&Operation>> = by_process.into_values().collect();
    let mut pos = vec![0; seqs.len()];
    explain(&seqs, &mut pos, &mut HashMap::new())
}

fn explain(
    seqs: &[Vec<&Operation>],
    pos: &mut Vec<usize>,
    state: &mut HashMap<Option<String>, Value>,
) -> bool {
    if seqs.iter().zip(pos.iter()).all(|(s, &p)| p == s.len()) {
        return true;
    }
    for i in 0..seqs.len() {
        let Some(o) = seqs[i].get(pos[i]) else {
            continue;
        };
        let key = o.key.as_deref().map(str::to_string);
        let current = state.get(&key).cloned().unwrap_or(Value::Null);
        let after = match o.f.as_str() {
            "read" => (o.output == current).then(|| current.clone()),
            "write" => Some(o.input.clone()),
            _ => (o.input[0] == current).then(|| o.input[1].clone()),
        };
        pos[i] += 1;
        if let Some(after) = after {
            let before = state.insert(key.clone(), after);
            let found = explain(seqs, pos, state);
            match before {
                Some(v) => state.insert(key.clone(), v),
                None => state.remove(&key),
            };
            if found {
                pos[i] -= 1;
                return true;
            }
        }
        if o.outcome == Outcome::Info && explain(seqs, pos, state) {
            pos[i] -= 1;
            return true;
        }
        pos[i] -= 1;
    }
    false
}

#[test]
fn the_sequential_level_agrees_with_brute_force() {
    let mut rng = Rng::new(25);
    let (mut holds, mut violated, mut exact) = (0, 0, 0);
    for case in 0..4000 {
        let h = history(&mut rng, case % 2 == 0);
        let ops: Vec<&Operation> = h.ops.iter().collect();
        let want = reference(&ops);
        let model = Register::with_cas();
        let mut search = Search::new(&model, &ops).unwrap();
        let found = search.run(10_000_000);
        assert_ne!(found, Progress::Unfinished, "case {case}");
        assert_eq!(
            found == Progress::Linearizable,
            want,
            "case {case}: the search disagrees with the reference on {h:#?}"
        );
        let keys: std::collections::BTreeSet<_> = ops.iter().map(|o| o.key.clone()).collect();
        if keys.len() == 1 {
            if let Some(v) = register_key(&ops) {
                exact += 1;
                assert_eq!(!v, want, "case {case}: the exact check disagrees on {h:#?}");
            }
        }
        let ladder = assess(
            &h,
            ModelKind::CasRegister,
            &[Level::Sequential],
            &Options::default(),
        )
        .unwrap();
        let r = ladder.get(Level::Sequential).unwrap();
        match r.standing {
            Standing::Holds => {
                assert!(want, "case {case}: holds, but no order exists: {h:#?}");
                holds += 1;
            }
            Standing::Violated => {
                assert!(!want, "case {case}: violated, but an order exists: {h:#?}");
                violated += 1;
                for &slot in &r.anomalies {
                    let ids: std::collections::BTreeSet<usize> = ladder.anomalies[slot]
                        .witness
                        .iter()
                        .map(|v| v.id)
                        .collect();
                    let witness: Vec<&Operation> = ops
                        .iter()
                        .copied()
                        .filter(|o| ids.contains(&o.id))
                        .collect();
                    assert!(
                        !reference(&witness),
                        "case {case}: the witness {ids:?} does not fail on its own"
                    );
                }
            }
            // Histories with no successful read or write test nothing.
            Standing::Unknown => {}
        }
    }
    assert!(
        holds > 800 && violated > 800,
        "{holds} hold, {violated} violated"
    );
    assert!(exact > 800, "the exact check decided only {exact}");
}
