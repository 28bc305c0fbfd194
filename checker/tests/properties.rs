//! Property tests. Histories generated from a truly atomic object are always linearizable; small
//! random histories, perturbed or not, get the same verdict from the checker as from a
//! brute-force search over every order, for each model (including its pruning hints).

use checker::generate::{self, Rng, Spec};
use checker::history::{Event, EventType, History, Process};
use checker::model::{Interner, Model};
use checker::models::{KvAppend, Register};
use checker::{check_with, Options, Outcome, Verdict};
use serde_json::{json, Value};

#[test]
fn atomic_register_histories_are_linearizable() {
    for seed in 0..60 {
        let spec = Spec {
            ops: 200 + (seed as usize * 37) % 800,
            keys: 1 + (seed as usize % 5),
            processes: 2 + (seed as usize % 9),
            indeterminate: [0.0, 0.05, 0.2][seed as usize % 3],
            cas: seed % 2 == 0,
            versions: false,
            seed,
        };
        let h = generate::generate(&spec);
        let model = if spec.cas {
            Register::with_cas()
        } else {
            Register::plain()
        };
        let r = check_with(&model, &h, &Options::default()).unwrap();
        assert_eq!(
            r.verdict,
            Verdict::Linearizable,
            "seed {seed}: {}",
            checker::render::text(&r)
        );
    }
}

/// Every order of the operations that respects real time, with indeterminate ones optional.
fn brute_force<M: Model>(model: &M, history: &History) -> bool {
    let mut values = Interner::new();
    let ops: Vec<_> = history
        .ops
        .iter()
        .filter(|o| o.outcome != Outcome::Fail)
        .collect();
    let compiled: Vec<M::Op> = ops
        .iter()
        .map(|o| model.compile(o, &mut values).unwrap())
        .collect();
    let n = ops.len();
    // must_precede[j] = ops that completed (ok) before op j was invoked.
    let must_precede: Vec<Vec<usize>> = (0..n)
        .map(|j| {
            (0..n)
                .filter(|&i| {
                    ops[i].outcome == Outcome::Ok
                        && ops[i].complete_event.unwrap() < ops[j].invoke_event
                })
                .collect()
        })
        .collect();
    fn go<M: Model>(
        model: &M,
        state: &M::State,
        done: &mut Vec<bool>,
        ops: &[&checker::Operation],
        compiled: &[M::Op],
        must_precede: &[Vec<usize>],
    ) -> bool {
        if (0..ops.len()).all(|i| done[i] || ops[i].outcome != Outcome::Ok) {
            return true;
        }
        for j in 0..ops.len() {
            if done[j] || must_precede[j].iter().any(|&i| !done[i]) {
                continue;
            }
            if let Some(next) = model.step(state, &compiled[j]) {
                done[j] = true;
                let ok = go(model, &next, done, ops, compiled, must_precede);
                done[j] = false;
                if ok {
                    return true;
                }
            }
        }
        false
    }
    let mut done = vec![false; n];
    go(
        model,
        &model.init(),
        &mut done,
        &ops,
        &compiled,
        &must_precede,
    )
}

/// A small single-key history: each process runs a few operations one after another; every
/// operation takes effect at a random instant of its interval against a real object (`apply`
/// returns the completion type and value), and some are indeterminate. Then, half the time, one
/// result is perturbed.
fn small_history(
    rng: &mut Rng,
    mut choose: impl FnMut(&mut Rng) -> (&'static str, Value),
    mut apply: impl FnMut(&str, &Value) -> (EventType, Value),
    mut perturb: impl FnMut(&mut Rng, &str, &Value) -> Value,
) -> History {
    let processes = 2 + rng.below(3) as usize;
    let n = 3 + rng.below(5) as usize;
    struct Op {
        p: u64,
        f: &'static str,
        input: Value,
        invoke: u64,
        apply: u64,
        complete: u64,
    }
    let mut ops = Vec::new();
    let mut free_at = vec![0u64; processes];
    for _ in 0..n {
        let p = rng.below(processes as u64) as usize;
        let invoke = free_at[p] + rng.below(10);
        let apply = invoke + 1 + rng.below(20);
        let complete = apply + 1 + rng.below(20);
        free_at[p] = complete + 1;
        let (f, input) = choose(rng);
        ops.push(Op {
            p: p as u64,
            f,
            input,
            invoke,
            apply,
            complete,
        });
    }
    // Take effect in apply order.
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by_key(|&i| ops[i].apply);
    let mut results = vec![(EventType::Ok, Value::Null); n];
    let mut indeterminate = vec![false; n];
    for &i in &order {
        indeterminate[i] = rng.chance(0.2);
        if indeterminate[i] && rng.chance(0.5) {
            continue; // never happened
        }
        results[i] = apply(ops[i].f, &ops[i].input);
    }
    if rng.chance(0.5) {
        let i = rng.below(n as u64) as usize;
        results[i].1 = perturb(rng, ops[i].f, &results[i].1);
    }
    let mut stamps: Vec<(u64, bool, usize)> = Vec::new();
    for (i, o) in ops.iter().enumerate() {
        stamps.push((o.invoke, false, i));
        stamps.push((o.complete, true, i));
    }
    stamps.sort();
    let events = stamps
        .iter()
        .enumerate()
        .map(|(k, &(t, completes, i))| {
            let o = &ops[i];
            let (kind, value) = if !completes {
                (EventType::Invoke, o.input.clone())
            } else if indeterminate[i] {
                (EventType::Info, o.input.clone())
            } else {
                results[i].clone()
            };
            Event {
                index: k as u64,
                time: t,
                process: Process::Client(o.p),
                kind,
                f: o.f.into(),
                key: None,
                value: if completes && kind != EventType::Ok {
                    o.input.clone()
                } else {
                    value
                },
                node: None,
                version: None,
                phase: None,
                error: None,
                extra: Default::default(),
                line: k + 1,
            }
        })
        .collect();
    History::from_events("small", events).unwrap()
}

#[test]
fn small_cas_register_histories_agree_with_brute_force() {
    let mut rng = Rng::new(42);
    let model = Register::with_cas();
    let (mut lin, mut not) = (0, 0);
    for case in 0..3000 {
        let mut reg = Value::Null;
        let h = small_history(
            &mut rng,
            |r| match r.below(3) {
                0 => ("read", Value::Null),
                1 => ("write", json!(r.below(3))),
                _ => ("cas", json!([r.below(3), r.below(3)])),
            },
            |f, input| match f {
                "read" => (EventType::Ok, reg.clone()),
                "write" => {
                    reg = input.clone();
                    (EventType::Ok, input.clone())
                }
                _ if reg == input[0] => {
                    reg = input[1].clone();
                    (EventType::Ok, input.clone())
                }
                _ => (EventType::Fail, input.clone()),
            },
            |r, f, v| {
                if f == "read" {
                    json!(r.below(3))
                } else {
                    v.clone()
                }
            },
        );
        let want = brute_force(&model, &h);
        let got = check_with(&model, &h, &Options::default()).unwrap().verdict;
        assert_eq!(
            got == Verdict::Linearizable,
            want,
            "case {case}:\n{}",
            generate::to_jsonl(&h.events().collect::<Vec<_>>())
        );
        if want {
            lin += 1
        } else {
            not += 1
        }
    }
    assert!(
        lin > 300 && not > 300,
        "both verdicts are exercised: {lin} linearizable, {not} not"
    );
}

#[test]
fn small_kv_append_histories_agree_with_brute_force() {
    let mut rng = Rng::new(7);
    let model = KvAppend;
    let (mut lin, mut not) = (0, 0);
    for case in 0..3000 {
        let mut s = String::new();
        let mut next = 0;
        let h = small_history(
            &mut rng,
            |r| {
                next += 1;
                match r.below(6) {
                    0..=2 => ("get", Value::Null),
                    3 => ("put", json!(format!("p{next} "))),
                    _ => ("append", json!(format!("a{next} "))),
                }
            },
            |f, input| match f {
                "get" => (EventType::Ok, json!(s.clone())),
                "put" => {
                    s = input.as_str().unwrap().to_string();
                    (EventType::Ok, input.clone())
                }
                _ => {
                    s.push_str(input.as_str().unwrap());
                    (EventType::Ok, input.clone())
                }
            },
            |r, f, v| {
                if f != "get" {
                    return v.clone();
                }
                // Drop, duplicate or reorder a piece of what was read.
                let mut parts: Vec<&str> = v.as_str().unwrap_or("").split_inclusive(' ').collect();
                match r.below(3) {
                    0 if !parts.is_empty() => {
                        parts.pop();
                    }
                    1 if parts.len() >= 2 => parts.swap(0, 1),
                    _ => parts.push("a99 "),
                }
                json!(parts.concat())
            },
        );
        let want = brute_force(&model, &h);
        let got = check_with(&model, &h, &Options::default()).unwrap().verdict;
        assert_eq!(
            got == Verdict::Linearizable,
            want,
            "case {case}:\n{}",
            generate::to_jsonl(&h.events().collect::<Vec<_>>())
        );
        if want {
            lin += 1
        } else {
            not += 1
        }
    }
    assert!(
        lin > 300 && not > 300,
        "both verdicts are exercised: {lin} linearizable, {not} not"
    );
}
