//! The transactional checker's serializability verdict against a brute-force reference, on
//! thousands of small list-append histories: a few transactions of appends and reads on two
//! keys, all concurrent, each run once in some serial order, then — for half of them — one read
//! replaced by another prefix of its key (which may or may not still be explainable). A last
//! transaction reads every key, so every element's place is known and the graph is exact.
//!
//! The reference tries every order of the transactions and asks whether executing them one by
//! one gives every read exactly what it returned.

use checker::consistency::Standing;
use checker::generate::Rng;
use checker::import::{parse_str, Format};
use checker::txn::{check, Isolation};
use std::collections::BTreeMap;

#[derive(Clone, Debug)]
enum Op {
    Append(u8, u32),
    Read(u8, Vec<u32>),
}

fn text(txns: &[Vec<Op>]) -> String {
    let value = |t: &[Op], done: bool| {
        let parts: Vec<String> = t
            .iter()
            .map(|o| match o {
                Op::Append(k, v) => format!("[:append {k} {v}]"),
                Op::Read(k, _) if !done => format!("[:r {k} nil]"),
                Op::Read(k, l) => format!(
                    "[:r {k} [{}]]",
                    l.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
                ),
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

/// Runs `txns` in `order`, filling in what each read returns.
fn execute(txns: &mut [Vec<Op>], order: &[usize]) {
    let mut state: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
    for &i in order {
        for op in &mut txns[i] {
            match op {
                Op::Append(k, v) => state.entry(*k).or_default().push(*v),
                Op::Read(k, l) => *l = state.get(k).cloned().unwrap_or_default(),
            }
        }
    }
}

/// Whether some order of `txns` explains every read.
fn serializable(txns: &[Vec<Op>]) -> bool {
    fn go(txns: &[Vec<Op>], used: &mut Vec<bool>, state: &mut BTreeMap<u8, Vec<u32>>) -> bool {
        if used.iter().all(|&u| u) {
            return true;
        }
        for i in 0..txns.len() {
            if used[i] {
                continue;
            }
            let saved = state.clone();
            let fits = txns[i].iter().all(|op| match op {
                Op::Append(k, v) => {
                    state.entry(*k).or_default().push(*v);
                    true
                }
                Op::Read(k, l) => state.get(k).map_or(l.is_empty(), |s| s == l),
            });
            if fits {
                used[i] = true;
                if go(txns, used, state) {
                    return true;
                }
                used[i] = false;
            }
            *state = saved;
        }
        false
    }
    go(txns, &mut vec![false; txns.len()], &mut BTreeMap::new())
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
                        Op::Append(k, next - 1)
                    } else {
                        Op::Read(k, Vec::new())
                    }
                })
                .collect()
        })
        .collect();
    txns.push(vec![Op::Read(1, Vec::new()), Op::Read(2, Vec::new())]);
    let mut order: Vec<usize> = (0..n).collect();
    rng.shuffle(&mut order);
    order.push(n);
    execute(&mut txns, &order);
    txns
}

/// Replaces one read (not the last transaction's) with another prefix of its key's final list.
fn perturb(rng: &mut Rng, txns: &mut [Vec<Op>]) {
    let last = txns.len() - 1;
    let finals: Vec<(u8, Vec<u32>)> = txns[last]
        .iter()
        .filter_map(|o| match o {
            Op::Read(k, l) => Some((*k, l.clone())),
            _ => None,
        })
        .collect();
    let reads: Vec<(usize, usize)> = (0..last)
        .flat_map(|t| (0..txns[t].len()).map(move |o| (t, o)))
        .filter(|&(t, o)| matches!(txns[t][o], Op::Read(..)))
        .collect();
    if reads.is_empty() {
        return;
    }
    let (t, o) = reads[rng.below(reads.len() as u64) as usize];
    if let Op::Read(k, l) = &mut txns[t][o] {
        let full = &finals.iter().find(|(fk, _)| fk == k).unwrap().1;
        let len = rng.below(full.len() as u64 + 1) as usize;
        *l = full[..len].to_vec();
    }
}

#[test]
fn serializability_agrees_with_brute_force() {
    let mut rng = Rng::new(28);
    let (mut holds, mut violated) = (0, 0);
    for case in 0..3000 {
        let mut txns = random_txns(&mut rng);
        if case % 2 == 1 {
            perturb(&mut rng, &mut txns);
        }
        let text = text(&txns);
        let h = parse_str("differential", &text, Format::JepsenEdn).unwrap();
        let report = check(&h).unwrap();
        let want = serializable(&txns);
        let got = report.standing(Isolation::Serializable) == Standing::Holds;
        assert_eq!(
            got, want,
            "case {case}: checker says serializable {got}, brute force {want}\n{text}{:#?}",
            report.anomalies
        );
        if want {
            holds += 1;
        } else {
            violated += 1;
        }
    }
    assert!(
        holds > 1000 && violated > 300,
        "{holds} hold, {violated} violated"
    );
}

#[test]
fn without_a_final_read_every_violation_named_is_real() {
    // Elements appended and never read have no known place: the checker may then miss a
    // cycle, but what it names must never be wrong.
    let mut rng = Rng::new(29);
    let (mut named, mut missed) = (0, 0);
    for case in 0..3000 {
        let mut txns = random_txns(&mut rng);
        if case % 2 == 1 {
            perturb(&mut rng, &mut txns);
        }
        txns.pop();
        let text = text(&txns);
        let h = parse_str("differential", &text, Format::JepsenEdn).unwrap();
        let report = check(&h).unwrap();
        let want = serializable(&txns);
        let got = report.standing(Isolation::Serializable) == Standing::Holds;
        assert!(
            got || !want,
            "case {case}: a violation named where none is\n{text}{:#?}",
            report.anomalies
        );
        named += usize::from(!got);
        missed += usize::from(got && !want);
    }
    assert!(named > 300, "{named} named");
    println!("{named} violations named, {missed} missed for lack of a final read");
}

/// `txns` with a time interval each, as EDN events in time order (invocations first at a tie
/// only when no completion shares the time: times are distinct here).
fn timed_text(txns: &[Vec<Op>], spans: &[(u64, u64)]) -> String {
    let plain = text(txns);
    let lines: Vec<&str> = plain.lines().collect();
    let n = txns.len();
    let mut events: Vec<(u64, String)> = Vec::new();
    for (i, &(start, end)) in spans.iter().enumerate() {
        let with_time =
            |l: &str, t: u64| l.replacen("{:process", &format!("{{:time {t}, :process"), 1);
        events.push((start, with_time(lines[i], start)));
        events.push((end, with_time(lines[n + i], end)));
    }
    events.sort_by_key(|e| e.0);
    events.into_iter().map(|(_, l)| l + "\n").collect()
}

/// Whether some order of `txns` that keeps real time (a transaction that completed before
/// another began comes first) explains every read.
fn strictly_serializable(txns: &[Vec<Op>], spans: &[(u64, u64)]) -> bool {
    let n = txns.len();
    let mut orders: Vec<Vec<usize>> = vec![Vec::new()];
    for _ in 0..n {
        orders = orders
            .into_iter()
            .flat_map(|o| {
                (0..n)
                    .filter(|i| !o.contains(i))
                    .map(|i| {
                        let mut next = o.clone();
                        next.push(i);
                        next
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    orders.into_iter().any(|order| {
        let keeps_time = order
            .iter()
            .enumerate()
            .all(|(a, &i)| order[a + 1..].iter().all(|&j| spans[j].1 > spans[i].0));
        let mut state: BTreeMap<u8, Vec<u32>> = BTreeMap::new();
        keeps_time
            && order.iter().all(|&i| {
                txns[i].iter().all(|op| match op {
                    Op::Append(k, v) => {
                        state.entry(*k).or_default().push(*v);
                        true
                    }
                    Op::Read(k, l) => state.get(k).map_or(l.is_empty(), |s| s == l),
                })
            })
    })
}

#[test]
fn strict_serializability_agrees_with_brute_force() {
    // Each transaction runs over a random interval and takes effect at a point in it; half the
    // histories then have one read changed. The final read comes after everything.
    let mut rng = Rng::new(32);
    let (mut holds, mut violated) = (0, 0);
    for case in 0..2000 {
        let mut txns = random_txns(&mut rng);
        let n = txns.len();
        // Short intervals over a longer run, so that some follow others; times distinct (each
        // transaction's are i modulo 100), each effect at its interval's middle.
        let mut spans: Vec<(u64, u64)> = (0..n as u64 - 1)
            .map(|i| {
                let start = rng.below(4 * n as u64) * 100 + i;
                (start, start + (1 + rng.below(3)) * 100)
            })
            .collect();
        let points: Vec<u64> = spans.iter().map(|&(a, b)| (a + b) / 2 + 50).collect();
        spans.push((1_000_000, 1_000_001));
        let mut order: Vec<usize> = (0..n - 1).collect();
        order.sort_by_key(|&i| points[i]);
        order.push(n - 1);
        execute(&mut txns, &order);
        if case % 2 == 1 {
            perturb(&mut rng, &mut txns);
        }
        let text = timed_text(&txns, &spans);
        let h = parse_str("differential", &text, Format::JepsenEdn).unwrap();
        let report = check(&h).unwrap();
        let want = strictly_serializable(&txns, &spans);
        let got = report.standing(Isolation::StrictSerializable) == Standing::Holds;
        assert_eq!(
            got, want,
            "case {case}: checker says strict-serializable {got}, brute force {want}\n{text}{:#?}",
            report.anomalies
        );
        holds += usize::from(want);
        violated += usize::from(!want);
    }
    assert!(
        holds > 1000 && violated > 300,
        "{holds} hold, {violated} violated"
    );
}

/// The keys a transaction appends to.
fn writes(t: &[Op]) -> Vec<u8> {
    t.iter()
        .filter_map(|o| match o {
            Op::Append(k, _) => Some(*k),
            Op::Read(..) => None,
        })
        .collect()
}

/// Runs `t` on the snapshot `state` (reads see the snapshot and the transaction's own appends),
/// checking its reads when `check`, filling them in otherwise; returns whether they fit.
fn run_on_snapshot(t: &mut [Op], state: &BTreeMap<u8, Vec<u32>>, check: bool) -> bool {
    let mut own = state.clone();
    for op in t.iter_mut() {
        match op {
            Op::Append(k, v) => own.entry(*k).or_default().push(*v),
            Op::Read(k, l) => {
                let seen = own.get(k).cloned().unwrap_or_default();
                if check && *l != seen {
                    return false;
                }
                *l = seen;
            }
        }
    }
    true
}

/// Whether some snapshot-isolated execution explains `txns`: a commit order, and for each
/// transaction a start (how many of the commits before its own came before it), such that its
/// reads see exactly the appends of the transactions committed before its start, then its own;
/// and no transaction appends to a key that one committed after its start also appended to
/// (first committer wins: it would have aborted).
fn snapshot_isolated(txns: &[Vec<Op>]) -> bool {
    fn go(
        txns: &[Vec<Op>],
        order: &mut Vec<usize>,
        states: &mut Vec<BTreeMap<u8, Vec<u32>>>,
    ) -> bool {
        if order.len() == txns.len() {
            return true;
        }
        let at = order.len();
        for i in 0..txns.len() {
            if order.contains(&i) {
                continue;
            }
            let mine = writes(&txns[i]);
            for start in 0..=at {
                let conflict = order[start..]
                    .iter()
                    .any(|&j| writes(&txns[j]).iter().any(|k| mine.contains(k)));
                let mut t = txns[i].clone();
                if conflict || !run_on_snapshot(&mut t, &states[start], true) {
                    continue;
                }
                let mut next = states[at].clone();
                for k in &mine {
                    next.entry(*k).or_default();
                }
                for op in &txns[i] {
                    if let Op::Append(k, v) = op {
                        next.entry(*k).or_default().push(*v);
                    }
                }
                order.push(i);
                states.push(next);
                if go(txns, order, states) {
                    return true;
                }
                order.pop();
                states.pop();
            }
        }
        false
    }
    go(txns, &mut Vec::new(), &mut vec![BTreeMap::new()])
}

/// Runs `txns` as a random snapshot-isolated execution: a random commit order, each start as
/// early as first-committer-wins allows or later; the last transaction commits last and sees
/// everything.
fn execute_snapshot(rng: &mut Rng, txns: &mut [Vec<Op>]) {
    let n = txns.len();
    let mut order: Vec<usize> = (0..n - 1).collect();
    rng.shuffle(&mut order);
    order.push(n - 1);
    let mut states = vec![BTreeMap::new()];
    for (at, &i) in order.iter().enumerate() {
        let mine = writes(&txns[i]);
        let earliest = (0..at)
            .filter(|&q| writes(&txns[order[q]]).iter().any(|k| mine.contains(k)))
            .map(|q| q + 1)
            .max()
            .unwrap_or(0);
        let start = if i == n - 1 {
            at
        } else {
            earliest + rng.below((at - earliest + 1) as u64) as usize
        };
        let snapshot = states[start].clone();
        run_on_snapshot(&mut txns[i], &snapshot, false);
        let mut next: BTreeMap<u8, Vec<u32>> = states[at].clone();
        for op in &txns[i] {
            if let Op::Append(k, v) = op {
                next.entry(*k).or_default().push(*v);
            }
        }
        states.push(next);
    }
}

#[test]
fn snapshot_isolation_agrees_with_brute_force() {
    // Snapshot-isolated executions (so write skews, which serializability forbids, come often),
    // half with one read changed; a final transaction reads every key after everything.
    let mut rng = Rng::new(33);
    let (mut holds, mut violated, mut skews) = (0, 0, 0);
    // 20,000 by default: a cycle hidden behind a shorter one of another class took 9,929 to
    // show (`SI_CASES=200000` for a longer run: 200,000 agreed when this was written).
    let cases: usize = std::env::var("SI_CASES").map_or(20_000, |v| v.parse().unwrap());
    for case in 0..cases {
        let mut txns = random_txns(&mut rng);
        execute_snapshot(&mut rng, &mut txns);
        if case % 2 == 1 {
            perturb(&mut rng, &mut txns);
        }
        let text = text(&txns);
        let h = parse_str("differential", &text, Format::JepsenEdn).unwrap();
        let report = check(&h).unwrap();
        let want = snapshot_isolated(&txns);
        let got = report.standing(Isolation::SnapshotIsolation) == Standing::Holds;
        assert_eq!(
            got, want,
            "case {case}: checker says snapshot-isolated {got}, brute force {want}\n{text}{:#?}",
            report.anomalies
        );
        holds += usize::from(want);
        violated += usize::from(!want);
        skews += usize::from(want && !serializable(&txns));
    }
    println!("{holds} hold ({skews} of them not serializable), {violated} violated");
    assert!(
        holds > 8000 && violated > 2000 && skews > 300,
        "{holds} hold ({skews} of them not serializable), {violated} violated"
    );
}
