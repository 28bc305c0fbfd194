//! What the reads and writes of an rw-register history say.
//!
//! A register read shows one value, not the history of its key, so the version order has to
//! come from somewhere else. Three sources, each sound on its own:
//! - every key starts unwritten (`nil`), so the initial version comes before every write;
//! - a transaction that read or wrote `a` to a key and then wrote `b` to it put `b` after `a`;
//! - **the versions the target recorded**: a fourth element on a micro-op, `["w", k, v, 17]`
//!   (the version the write created) or `["r", k, v, 17]` (the version the read saw). raftkv
//!   and etcd return one with every write; with them every key's order is known outright and
//!   an rw-register history is checked as strongly as a list-append one.
//!
//! The order is kept as steps `a < b` (not closed transitively); a key whose steps form a cycle
//! is a `cyclic-versions` anomaly. From the steps come the dependencies ([`super::graph`]):
//! `ww` from the writer of `a` to the writer of `b`, `wr` from a value's writer to its readers,
//! and `rw` from a reader of `a` to the writer of every `b` after it. A step that skips
//! versions only makes an edge transitive: every cycle it closes has the same class as one
//! through the versions between.

use super::parse::{Micro, Txn};
use super::{Anomaly, Kind};
use crate::history::Outcome;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::BTreeMap;

/// How a version is known to come before another.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Evidence {
    /// Every key starts unwritten.
    Initial,
    /// The target recorded these versions.
    Versions(u64, u64),
    /// This transaction (an index) read or wrote the first value, then wrote the second.
    Txn(usize),
}

/// One step of a key's version order: `prev` (`None`: unwritten) comes before `next`.
#[derive(Clone, Copy, Debug)]
pub struct Step {
    pub prev: Option<i64>,
    pub next: i64,
    pub evidence: Evidence,
}

/// A transaction's first read of a key, made before it wrote the key (its later reads of the
/// key are checked against what it already knows: `internal`).
#[derive(Clone, Debug)]
pub struct RegRead {
    pub txn: usize,
    pub key: String,
    pub value: Option<i64>,
}

/// The inference: writers, version steps, reads, and the anomalies found on the way.
#[derive(Clone, Debug, Default)]
pub struct Registers {
    /// Who wrote each value (transactions that did not fail), by index, per key.
    pub writers: HashMap<String, HashMap<i64, usize>>,
    /// Each transaction's writes to each key, in its own order.
    pub writes: HashMap<(usize, String), Vec<i64>>,
    pub steps: BTreeMap<String, Vec<Step>>,
    pub reads: Vec<RegRead>,
    pub anomalies: Vec<Anomaly>,
    /// Writes placed only after the initial value: their order among the key's other writes
    /// is not known.
    pub unordered: usize,
    /// How many of those were by transactions whose outcome is unknown (most never happened).
    pub unordered_unknown: usize,
}

impl Registers {
    pub fn writer_of(&self, key: &str, value: i64) -> Option<usize> {
        self.writers.get(key)?.get(&value).copied()
    }

    /// The evidence for `prev < next` on `key`.
    pub fn evidence(&self, key: &str, prev: Option<i64>, next: i64) -> Option<Evidence> {
        self.steps
            .get(key)?
            .iter()
            .find(|s| s.prev == prev && s.next == next)
            .map(|s| s.evidence)
    }

    /// Each key's steps grouped by the version they start from.
    pub fn successors(&self) -> HashMap<(&str, Option<i64>), Vec<i64>> {
        let mut out: HashMap<(&str, Option<i64>), Vec<i64>> = HashMap::default();
        for (key, steps) in &self.steps {
            for s in steps {
                out.entry((key.as_str(), s.prev)).or_default().push(s.next);
            }
        }
        out
    }
}

/// Values and versions as the history states them, before the order is built.
#[derive(Default)]
struct Facts {
    aborted: HashMap<(String, i64), usize>,
    /// The version of each value, and the operation that said so (a transaction index).
    version_of: HashMap<(String, i64), (u64, usize)>,
    /// The value of each version.
    value_at: HashMap<(String, u64), (i64, usize)>,
}

/// The inference over `txns`. A value written twice to a key, or versions that contradict one
/// another, is an error naming the transactions.
pub fn rw_register(txns: &[Txn]) -> Result<Registers, String> {
    let mut regs = Registers::default();
    let mut facts = Facts::default();
    for (i, t) in txns.iter().enumerate() {
        collect(txns, i, t, &mut regs, &mut facts)?;
    }
    build_steps(txns, &facts, &mut regs);
    let found = value_anomalies(txns, &facts, &regs);
    regs.anomalies.extend(found);
    regs.anomalies.extend(cyclic_versions(txns, &regs));
    let read_then_wrote = regs
        .reads
        .iter()
        .filter(|r| regs.writes.contains_key(&(r.txn, r.key.clone())))
        .map(|r| (r.txn, r.key.as_str(), r.value))
        .collect();
    let lost = super::lost_updates(txns, read_then_wrote, |_, v| shown(*v));
    regs.anomalies.extend(lost);
    for t in txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        regs.anomalies.extend(internal(t));
    }
    Ok(regs)
}

/// One transaction's writes, versions and first reads.
fn collect(
    txns: &[Txn],
    i: usize,
    t: &Txn,
    regs: &mut Registers,
    facts: &mut Facts,
) -> Result<(), String> {
    let mut read_keys: HashSet<&str> = HashSet::default();
    for m in &t.micro {
        match m {
            Micro::Write {
                key,
                value,
                version,
            } => {
                let slot = (key.clone(), *value);
                let seen = regs
                    .writer_of(key, *value)
                    .or(facts.aborted.get(&slot).copied());
                if let Some(j) = seen {
                    return Err(format!(
                        "{} and {} both wrote {value} to key {key}: faultline's inference needs every written value unique per key",
                        txns[j].name(),
                        t.name()
                    ));
                }
                read_keys.insert(key);
                if t.outcome == Outcome::Fail {
                    facts.aborted.insert(slot, i);
                    continue;
                }
                regs.writers
                    .entry(key.clone())
                    .or_default()
                    .insert(*value, i);
                regs.writes
                    .entry((i, key.clone()))
                    .or_default()
                    .push(*value);
                if let Some(v) = version {
                    record_version(txns, facts, key, *value, *v, i)?;
                }
            }
            Micro::ReadRegister {
                key,
                value,
                version,
            } if t.outcome == Outcome::Ok => {
                if let (Some(value), Some(v)) = (value, version) {
                    record_version(txns, facts, key, *value, *v, i)?;
                }
                if read_keys.insert(key) {
                    regs.reads.push(RegRead {
                        txn: i,
                        key: key.clone(),
                        value: *value,
                    });
                }
            }
            _ => {}
        }
    }
    Ok(())
}

/// Notes that `value` of `key` had version `version`; a value with two versions or a version
/// with two values is an error.
fn record_version(
    txns: &[Txn],
    facts: &mut Facts,
    key: &str,
    value: i64,
    version: u64,
    by: usize,
) -> Result<(), String> {
    let k = key.to_string();
    if let Some(&(other, j)) = facts.version_of.get(&(k.clone(), value)) {
        if other != version {
            return Err(format!(
                "{} says {value} of key {key} is version {other} and {} says it is version {version}: the recorded versions contradict each other",
                txns[j].name(),
                txns[by].name()
            ));
        }
        return Ok(());
    }
    if let Some(&(other, j)) = facts.value_at.get(&(k.clone(), version)) {
        if other != value {
            return Err(format!(
                "{} says version {version} of key {key} is {other} and {} says it is {value}: the recorded versions contradict each other",
                txns[j].name(),
                txns[by].name()
            ));
        }
    }
    facts.version_of.insert((k.clone(), value), (version, by));
    facts.value_at.insert((k, version), (value, by));
    Ok(())
}

/// The steps of every key: the recorded versions in order, each transaction's own sequence,
/// and the initial value before every write nothing else places.
fn build_steps(txns: &[Txn], facts: &Facts, regs: &mut Registers) {
    let mut steps: BTreeMap<String, Vec<Step>> = BTreeMap::new();
    // The recorded versions of values someone wrote, in order, per key.
    let mut chains: BTreeMap<&str, Vec<(u64, i64)>> = BTreeMap::new();
    for ((key, value), (version, _)) in &facts.version_of {
        if regs.writer_of(key, *value).is_some() {
            chains.entry(key).or_default().push((*version, *value));
        }
    }
    let mut placed: HashSet<(&str, i64)> = HashSet::default();
    for (key, chain) in &mut chains {
        chain.sort_unstable();
        let out = steps.entry(key.to_string()).or_default();
        let mut prev: Option<(u64, i64)> = None;
        for &(version, value) in chain.iter() {
            out.push(Step {
                prev: prev.map(|p| p.1),
                next: value,
                evidence: match prev {
                    Some((pv, _)) => Evidence::Versions(pv, version),
                    None => Evidence::Initial,
                },
            });
            placed.insert((key, value));
            prev = Some((version, value));
        }
    }
    let mut after_something: HashSet<(String, i64)> = HashSet::default();
    for (i, t) in txns.iter().enumerate() {
        if t.outcome == Outcome::Fail {
            continue;
        }
        for (key, prev, next) in own_sequence(t) {
            steps.entry(key.to_string()).or_default().push(Step {
                prev,
                next,
                evidence: Evidence::Txn(i),
            });
            after_something.insert((key.to_string(), next));
        }
    }
    for (key, values) in &regs.writers {
        for &value in values.keys() {
            if placed.contains(&(key.as_str(), value))
                || after_something.contains(&(key.clone(), value))
            {
                continue;
            }
            steps.entry(key.clone()).or_default().push(Step {
                prev: None,
                next: value,
                evidence: Evidence::Initial,
            });
        }
    }
    for (key, s) in &steps {
        for v in unordered(s) {
            let writer = regs.writer_of(key, v);
            // A write its own transaction overwrote was never installed: its place is just
            // before that transaction's last write, not unknown.
            let overwritten = writer.is_some_and(|w| {
                regs.writes
                    .get(&(w, key.clone()))
                    .is_some_and(|own| own.last() != Some(&v))
            });
            // A recorded version places a write among all the others that have one.
            if overwritten || facts.version_of.contains_key(&(key.clone(), v)) {
                continue;
            }
            let unknown = writer.is_some_and(|w| txns[w].outcome == Outcome::Info);
            regs.unordered += 1;
            regs.unordered_unknown += usize::from(unknown);
        }
    }
    regs.steps = steps;
}

/// The versions of a key the steps leave unordered: placed only after the initial value, and —
/// taking the versions in an order the steps allow (Kahn's) — one of several ready at once.
fn unordered(steps: &[Step]) -> Vec<i64> {
    let mut into: HashMap<i64, usize> = HashMap::default();
    let mut after: HashMap<Option<i64>, Vec<i64>> = HashMap::default();
    for s in steps {
        *into.entry(s.next).or_default() += 1;
        after.entry(s.prev).or_default().push(s.next);
    }
    let mut ready: Vec<Option<i64>> = vec![None];
    let mut loose: HashSet<i64> = HashSet::default();
    while let Some(v) = ready.pop() {
        if !ready.is_empty() {
            loose.extend(ready.iter().chain([&v]).flatten());
        }
        for &n in after.get(&v).into_iter().flatten() {
            let left = into.get_mut(&n).expect("counted above");
            *left -= 1;
            if *left == 0 {
                ready.push(Some(n));
            }
        }
    }
    let placed: HashSet<i64> = steps
        .iter()
        .filter(|s| s.prev.is_some())
        .map(|s| s.next)
        .collect();
    let mut out: Vec<i64> = loose.into_iter().filter(|v| !placed.contains(v)).collect();
    out.sort_unstable();
    out
}

/// `(key, a, b)` for each write `b` a transaction made after reading or writing `a` to the key.
fn own_sequence(t: &Txn) -> Vec<(&str, Option<i64>, i64)> {
    let mut known: HashMap<&str, Option<i64>> = HashMap::default();
    let mut out = Vec::new();
    for m in &t.micro {
        match m {
            Micro::Write { key, value, .. } => {
                if let Some(prev) = known.insert(key, Some(*value)) {
                    out.push((key.as_str(), prev, *value));
                }
            }
            Micro::ReadRegister { key, value, .. } if t.outcome == Outcome::Ok => {
                known.entry(key).or_insert(*value);
            }
            _ => {}
        }
    }
    out
}

/// Garbage, aborted (G1a) and intermediate (G1b) reads, read by read.
fn value_anomalies(txns: &[Txn], facts: &Facts, regs: &Registers) -> Vec<Anomaly> {
    let mut found = Vec::new();
    for read in &regs.reads {
        let Some(v) = read.value else { continue };
        let reader = &txns[read.txn];
        let anomaly = |kind, sentence: String, ids: Vec<usize>| Anomaly {
            kind,
            order: None,
            sentence,
            steps: Vec::new(),
            deps: Vec::new(),
            txns: ids,
        };
        match regs.writer_of(&read.key, v) {
            None => found.push(match facts.aborted.get(&(read.key.clone(), v)) {
                Some(&w) => anomaly(
                    Kind::G1a,
                    format!(
                        "dirty read: {} read {v} from key {}, written by {}, which aborted",
                        reader.name(),
                        read.key,
                        txns[w].name()
                    ),
                    vec![reader.id, txns[w].id],
                ),
                None => anomaly(
                    Kind::Garbage,
                    format!(
                        "{} read {v} from key {}, which no transaction wrote",
                        reader.name(),
                        read.key
                    ),
                    vec![reader.id],
                ),
            }),
            Some(w) if w != read.txn => {
                let own = &regs.writes[&(w, read.key.clone())];
                if let Some(later) = own.iter().skip_while(|&&x| x != v).nth(1) {
                    found.push(anomaly(
                        Kind::G1b,
                        format!(
                            "{} read {v} from key {}, but {} wrote {later} to it after {v}: it saw {} half done",
                            reader.name(),
                            read.key,
                            txns[w].name(),
                            txns[w].name()
                        ),
                        vec![reader.id, txns[w].id],
                    ));
                }
            }
            Some(_) => {}
        }
    }
    found
}

/// A key whose steps go round: no one order of its versions exists.
fn cyclic_versions(txns: &[Txn], regs: &Registers) -> Vec<Anomaly> {
    use petgraph::graphmap::DiGraphMap;
    let mut found = Vec::new();
    for (key, steps) in &regs.steps {
        let mut g: DiGraphMap<Option<i64>, Evidence> = DiGraphMap::new();
        for s in steps {
            g.add_edge(s.prev, Some(s.next), s.evidence);
        }
        let Err(cycle) = petgraph::algo::toposort(&g, None) else {
            continue;
        };
        let start = cycle.node_id();
        let Some(path) = version_cycle(&g, start) else {
            continue;
        };
        let words: Vec<String> = path
            .windows(2)
            .map(|w| {
                let e = g[(w[0], w[1])];
                format!(
                    "{} < {} because {}",
                    shown(w[0]),
                    shown(w[1]),
                    // The initial version has no step into it, so it is never after another.
                    evidence_words(txns, e, w[0], w[1].unwrap_or_default())
                )
            })
            .collect();
        let ids: Vec<usize> = steps
            .iter()
            .filter_map(|s| match s.evidence {
                Evidence::Txn(t) if path.contains(&Some(s.next)) => Some(txns[t].id),
                _ => None,
            })
            .collect();
        found.push(Anomaly {
            kind: Kind::CyclicVersions,
            order: None,
            sentence: format!(
                "the versions of key {key} go round: {} — no one order of its writes exists",
                path.iter()
                    .map(|v| shown(*v))
                    .collect::<Vec<_>>()
                    .join(" < ")
            ),
            steps: words,
            deps: Vec::new(),
            txns: ids,
        });
    }
    found
}

/// The shortest way from `start` back to itself, as the versions it passes (`start` at both
/// ends).
fn version_cycle(
    g: &petgraph::graphmap::DiGraphMap<Option<i64>, Evidence>,
    start: Option<i64>,
) -> Option<Vec<Option<i64>>> {
    let mut via: HashMap<Option<i64>, Option<i64>> = HashMap::default();
    let mut queue = std::collections::VecDeque::from([start]);
    while let Some(n) = queue.pop_front() {
        for next in g.neighbors(n) {
            if next == start {
                let mut path = vec![start, n];
                let mut at = n;
                while at != start {
                    at = via[&at];
                    path.push(at);
                }
                path.reverse();
                return Some(path);
            }
            if let std::collections::hash_map::Entry::Vacant(e) = via.entry(next) {
                e.insert(n);
                queue.push_back(next);
            }
        }
    }
    None
}

/// `nil` or the value.
pub fn shown(v: Option<i64>) -> String {
    v.map_or_else(|| "nil".into(), |v| v.to_string())
}

/// Why `prev < next`, in words.
pub fn evidence_words(txns: &[Txn], e: Evidence, prev: Option<i64>, next: i64) -> String {
    match e {
        Evidence::Initial => format!("every key starts unwritten, before {next}"),
        Evidence::Versions(a, b) => {
            format!(
                "the target gave {} version {a} and {next} version {b}",
                shown(prev)
            )
        }
        Evidence::Txn(t) => format!(
            "{} {} {} and then wrote {next}",
            txns[t].name(),
            if own_wrote(&txns[t], prev) {
                "wrote"
            } else {
                "read"
            },
            shown(prev)
        ),
    }
}

fn own_wrote(t: &Txn, v: Option<i64>) -> bool {
    t.micro
        .iter()
        .any(|m| matches!(m, Micro::Write { value, .. } if Some(*value) == v))
}

/// A read of a value the transaction itself writes only afterwards.
fn future_read(t: &Txn, at: usize) -> Option<Anomaly> {
    let Micro::ReadRegister {
        key,
        value: Some(v),
        ..
    } = &t.micro[at]
    else {
        return None;
    };
    let later = t.micro[at + 1..]
        .iter()
        .any(|n| matches!(n, Micro::Write { key: k, value, .. } if k == key && value == v));
    later.then(|| Anomaly {
        kind: Kind::Internal,
        order: None,
        sentence: format!(
            "future read: {} read {v} from key {key}, which it wrote only afterwards",
            t.name()
        ),
        steps: Vec::new(),
        deps: Vec::new(),
        txns: vec![t.id],
    })
}

/// Within one transaction, a read of a key must show what the transaction already knows of
/// it: its own last write, or else its earlier read.
fn internal(t: &Txn) -> Option<Anomaly> {
    let mut known: HashMap<&str, (Option<i64>, bool)> = HashMap::default();
    for (at, m) in t.micro.iter().enumerate() {
        if let Some(a) = future_read(t, at) {
            return Some(a);
        }
        match m {
            Micro::Write { key, value, .. } => {
                known.insert(key, (Some(*value), true));
            }
            Micro::ReadRegister { key, value, .. } => match known.get(key.as_str()) {
                Some(&(expected, false)) if expected != *value => {
                    return Some(Anomaly {
                        kind: Kind::NonRepeatableRead,
                        order: None,
                        sentence: format!(
                            "non-repeatable read: {} read key {key} as {} and later as {}",
                            t.name(),
                            shown(expected),
                            shown(*value)
                        ),
                        steps: Vec::new(),
                        deps: Vec::new(),
                        txns: vec![t.id],
                    });
                }
                Some(&(expected, wrote)) if expected != *value => {
                    let what = if wrote {
                        format!("its own write of {}", shown(expected))
                    } else {
                        format!("{}, as its earlier read did", shown(expected))
                    };
                    return Some(Anomaly {
                        kind: Kind::Internal,
                        order: None,
                        sentence: format!(
                            "{} read {} from key {key}, but it should have seen {what}",
                            t.name(),
                            shown(*value)
                        ),
                        steps: Vec::new(),
                        deps: Vec::new(),
                        txns: vec![t.id],
                    });
                }
                Some(_) => {}
                None => {
                    known.insert(key, (*value, false));
                }
            },
            _ => {}
        }
    }
    None
}
