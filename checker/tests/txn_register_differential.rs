//! The rw-register checker against a brute-force reference, on thousands of small histories:
//! a few concurrent transactions of writes and reads on two keys, run once in some serial
//! order, then — for half of them — one read changed to another value of its key (or nil).
//!
//! With the versions a target records (each write's place in its key's order), the checker's
//! serializability verdict must equal the reference's. Without them the order of blind writes
//! is unknown, and the checker may miss a cycle, but every violation it names must be real.
//!
//! The reference tries every order of the transactions and asks whether executing them one by
//! one gives every read exactly what it returned (and every write the version recorded).

use checker::consistency::Standing;
use checker::generate::Rng;
use checker::import::{parse_str, Format};
use checker::txn::{check, Isolation};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    /// key, value, the version the write made (its place in the key's serial order)
    Write(u8, u32, u32),
    Read(u8, Option<u32>),
}

fn text(txns: &[Vec<Op>], versions: bool) -> String {
    let value = |t: &[Op], done: bool| {
        let parts: Vec<String> = t
            .iter()
            .map(|o| match o {
                Op::Write(k, v, n) if versions => format!("[:w {k} {v} {n}]"),
                Op::Write(k, v, _) => format!("[:w {k} {v}]"),
                Op::Read(k, Some(v)) if done => format!("[:r {k} {v}]"),
                Op::Read(k, _) => format!("[:r {k} nil]"),
            })
            .collect();
        format!("[{}]", parts.join(" "))
    };
    let mut out = String::new();
    for (p, t) in txns.iter().enumerate() {
        out += &format!(
            "{{:process {p}, :type :invoke, :f :txn, :value {}}}\n",
            value(t, false)
        );
    }
    for (p, t) in txns.iter().enumerate() {
        out += &format!(
            "{{:process {p}, :type :ok, :f :txn, :value {}}}\n",
            value(t, true)
        );
    }
    out
}

/// Runs `txns` in `order`, filling in what each read returns and each write's version.
fn execute(txns: &mut [Vec<Op>], order: &[usize]) {
    let mut state: BTreeMap<u8, (u32, u32)> = BTreeMap::new();
    for &i in order {
        for op in &mut txns[i] {
            match op {
                Op::Write(k, v, n) => {
                    let version = state.get(k).map_or(1, |s| s.1 + 1);
                    *n = version;
                    state.insert(*k, (*v, version));
                }
                Op::Read(k, v) => *v = state.get(k).map(|s| s.0),
            }
        }
    }
}

/// Whether some order of `txns` explains every read (and, with `versions`, gives every write
/// the version recorded for it).
fn serializable(txns: &[Vec<Op>], versions: bool) -> bool {
    type State = BTreeMap<u8, (u32, u32)>;
    fn go(txns: &[Vec<Op>], versions: bool, used: &mut Vec<bool>, state: &mut State) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        for i in 0..txns.len() {
            if used[i] {
                continue;
            }
            let saved = state.clone();
            let fits = txns[i].iter().all(|op| match op {
                Op::Write(k, v, n) => {
                    let version = state.get(k).map_or(1, |s| s.1 + 1);
                    state.insert(*k, (*v, version));
                    !versions || version == *n
                }
                Op::Read(k, v) => state.get(k).map(|s| s.0) == *v,
            });
            if fits {
                used[i] = true;
                if go(txns, versions, used, state) {
                    return true;
                }
                used[i] = false;
            }
            *state = saved;
        }
        false
    }
    go(
        txns,
        versions,
        &mut vec![false; txns.len()],
        &mut BTreeMap::new(),
    )
}

fn random_txns(rng: &mut Rng) -> Vec<Vec<Op>> {
    let n = 2 + rng.below(4) as usize;
    let mut next = 1u32;
    let mut txns: Vec<Vec<Op>> = (0..n)
        .map(|_| {
            (0..1 + rng.below(3))
                .map(|_| {
                    let k = 1 + rng.below(2) as u8;
                    if rng.chance(0.5) {
                        next += 1;
                        Op::Write(k, next - 1, 0)
                    } else {
                        Op::Read(k, None)
                    }
                })
                .collect()
        })
        .collect();
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    execute(&mut txns, &order);
    txns
}

/// Changes one read to another value written to its key, or to nil.
fn perturb(rng: &mut Rng, txns: &mut [Vec<Op>]) {
    let reads: Vec<(usize, usize)> = (0..txns.len())
        .flat_map(|t| (0..txns[t].len()).map(move |o| (t, o)))
        .filter(|&(t, o)| matches!(txns[t][o], Op::Read(..)))
        .collect();
    if reads.is_empty() {
        return;
    }
    let (t, o) = reads[rng.below(reads.len() as u64) as usize];
    let Op::Read(key, _) = txns[t][o] else {
        unreachable!("chosen among reads")
    };
    let mut values: Vec<Option<u32>> = vec![None];
    for op in txns.iter().flatten() {
        if let Op::Write(k, v, _) = op {
            if *k == key {
                values.push(Some(*v));
            }
        }
    }
    let pick = values[rng.below(values.len() as u64) as usize];
    txns[t][o] = Op::Read(key, pick);
}

fn cases(seed: u64, count: usize, versions: bool, mut each: impl FnMut(usize, bool, bool, &str)) {
    let mut rng = Rng::new(seed);
    for case in 0..count {
        let mut txns = random_txns(&mut rng);
        if case % 2 == 1 {
            perturb(&mut rng, &mut txns);
        }
        let text = text(&txns, versions);
        let h = parse_str("differential", &text, Format::JepsenEdn).unwrap();
        let report = check(&h).unwrap_or_else(|e| panic!("case {case}: {e}\n{text}"));
        let got = report.standing(Isolation::Serializable) == Standing::Holds;
        let detail = format!("{text}{:#?}", report.anomalies);
        each(case, got, serializable(&txns, versions), &detail);
    }
}

#[test]
fn with_recorded_versions_serializability_agrees_with_brute_force() {
    let (mut holds, mut violated) = (0, 0);
    cases(30, 3000, true, |case, got, want, detail| {
        assert_eq!(
            got, want,
            "case {case}: checker says serializable {got}, brute force {want}\n{detail}"
        );
        holds += usize::from(want);
        violated += usize::from(!want);
    });
    assert!(
        holds > 1000 && violated > 300,
        "{holds} hold, {violated} violated"
    );
}

#[test]
fn without_versions_every_violation_named_is_real() {
    let (mut named, mut missed) = (0, 0);
    cases(31, 3000, false, |case, got, want, detail| {
        assert!(
            got || !want,
            "case {case}: a violation named where none is\n{detail}"
        );
        named += usize::from(!got);
        missed += usize::from(got && !want);
    });
    assert!(named > 300, "{named} named");
    println!("{named} violations named, {missed} missed for want of versions");
}
