//! What the reads of a list-append history say: each key's version order (the longest read;
//! every other read must be a prefix of it), who appended each element, and the anomalies a
//! single read shows on its own — an element nobody appended (garbage), one whose transaction
//! failed (G1a), an intermediate version (G1b), a list with an element twice, and reads that no
//! one order explains (incompatible order).

use super::parse::{Micro, Txn};
use super::{Anomaly, Kind};
use crate::history::Outcome;
use std::collections::{BTreeMap, HashMap};

/// One ok read of a list: the reading transaction (index into the transactions), the key, and
/// the list it saw.
#[derive(Clone, Debug)]
pub struct Read {
    pub txn: usize,
    pub key: String,
    pub list: Vec<i64>,
}

/// The inference: version orders, writers, reads, and the anomalies found on the way.
#[derive(Clone, Debug, Default)]
pub struct Inferred {
    /// Each key's version order as far as reads show it.
    pub orders: BTreeMap<String, Vec<i64>>,
    /// Elements appended by transactions that did not fail and never read, per key: after
    /// every read element, in no known order.
    pub unread: BTreeMap<String, Vec<i64>>,
    /// Who appended each element (transactions that did not fail), by index, per key: looked
    /// up by `&str` with no key to build ([`Inferred::writer_of`]).
    pub writers: HashMap<String, HashMap<i64, usize>>,
    /// Each transaction's appends to each key, in its own order.
    pub appends: HashMap<(usize, String), Vec<i64>>,
    pub reads: Vec<Read>,
    pub anomalies: Vec<Anomaly>,
}

impl Inferred {
    /// The transaction that appended `element` to `key`, if one that did not fail did.
    pub fn writer_of(&self, key: &str, element: i64) -> Option<usize> {
        self.writers.get(key)?.get(&element).copied()
    }

    /// How many appended elements were never read.
    pub fn unread_count(&self) -> usize {
        self.unread.values().map(Vec::len).sum()
    }
}

/// The inference over `txns`. An element appended twice (the inference needs each unique) is an
/// error naming both transactions.
pub fn list_append(txns: &[Txn]) -> Result<Inferred, String> {
    let mut inf = Inferred::default();
    let mut aborted: HashMap<(String, i64), usize> = HashMap::new();
    for (i, t) in txns.iter().enumerate() {
        for m in &t.micro {
            match m {
                Micro::Append { key, element } => {
                    let slot = (key.clone(), *element);
                    let seen = inf.writer_of(key, *element).or(aborted.get(&slot).copied());
                    if let Some(j) = seen {
                        return Err(format!(
                            "{} and {} both appended {element} to key {key}: faultline's inference needs every appended element unique per key",
                            txns[j].name(),
                            t.name()
                        ));
                    }
                    if t.outcome == Outcome::Fail {
                        aborted.insert(slot, i);
                    } else {
                        inf.writers
                            .entry(key.clone())
                            .or_default()
                            .insert(*element, i);
                        inf.appends
                            .entry((i, key.clone()))
                            .or_default()
                            .push(*element);
                    }
                }
                Micro::Read {
                    key,
                    list: Some(list),
                } if t.outcome == Outcome::Ok => inf.reads.push(Read {
                    txn: i,
                    key: key.clone(),
                    list: list.clone(),
                }),
                // In a list-append history, a completed read of nil is the empty list.
                Micro::ReadRegister {
                    key, value: None, ..
                } if t.outcome == Outcome::Ok => inf.reads.push(Read {
                    txn: i,
                    key: key.clone(),
                    list: Vec::new(),
                }),
                _ => {}
            }
        }
    }
    orders(txns, &mut inf);
    element_anomalies(txns, &aborted, &mut inf);
    for t in txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        inf.anomalies.extend(internal(t));
    }
    let first = first_reads(txns);
    inf.anomalies.extend(super::lost_updates(
        txns,
        first.iter().map(|(t, k, l)| (*t, *k, l.clone())),
        |t, key| inf.appends.contains_key(&(t, key.to_string())),
        |l| list(l),
    ));
    Ok(inf)
}

/// Each ok transaction's first read of each key it read before appending to it.
fn first_reads(txns: &[Txn]) -> Vec<(usize, &str, Vec<i64>)> {
    let mut out = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        let mut touched = std::collections::HashSet::new();
        for m in &t.micro {
            match m {
                Micro::Append { key, .. } => {
                    touched.insert(key.as_str());
                }
                Micro::Read { key, list: Some(l) } if touched.insert(key.as_str()) => {
                    out.push((i, key.as_str(), l.clone()))
                }
                _ => {}
            }
        }
    }
    out
}

/// Within one transaction, each read of a key must show what the transaction already knows of
/// it: its previous read of the key followed by its own appends since, or at least (with no
/// read before) end with its own appends.
fn internal(t: &Txn) -> Option<Anomaly> {
    let mut known: HashMap<&str, (Option<Vec<i64>>, Vec<i64>)> = HashMap::new();
    for (at, m) in t.micro.iter().enumerate() {
        if let Micro::Read {
            key,
            list: Some(seen),
        } = m
        {
            // A future read: an element the transaction itself appends only later.
            let later = t.micro[at + 1..].iter().find_map(|n| match n {
                Micro::Append { key: k, element } if k == key && seen.contains(element) => {
                    Some(*element)
                }
                _ => None,
            });
            if let Some(e) = later {
                return Some(Anomaly {
                    kind: Kind::Internal,
                    order: None,
                    sentence: format!(
                        "future read: {} read key {key} as {}, with {e} in it, which it appended only afterwards",
                        t.name(),
                        list(seen)
                    ),
                    steps: Vec::new(),
                    deps: Vec::new(),
                    txns: vec![t.id],
                });
            }
        }
        match m {
            Micro::Append { key, element } => known.entry(key).or_default().1.push(*element),
            Micro::Read {
                key,
                list: Some(seen),
            } => {
                let (before, own) = known.entry(key).or_default();
                let fits = match before {
                    Some(b) => {
                        seen.len() == b.len() + own.len()
                            && seen.starts_with(b)
                            && seen.ends_with(own)
                    }
                    None => seen.ends_with(own),
                };
                if !fits {
                    let expected = match before {
                        Some(b) => format!("{} followed by its own appends {}", list(b), list(own)),
                        None => format!("a list ending with its own appends {}", list(own)),
                    };
                    return Some(Anomaly {
                        kind: Kind::Internal,
                        order: None,
                        sentence: format!(
                            "{} read key {key} as {}, but it should have seen {expected}",
                            t.name(),
                            list(seen)
                        ),
                        steps: Vec::new(),
                        deps: Vec::new(),
                        txns: vec![t.id],
                    });
                }
                *before = Some(seen.clone());
                own.clear();
            }
            _ => {}
        }
    }
    None
}

/// Each key's order: its longest read, every other read checked as a prefix of it; and the
/// appended elements no read shows.
fn orders(txns: &[Txn], inf: &mut Inferred) {
    // Each key's reads, once: (the longest, every read).
    let mut by_key: BTreeMap<&str, (usize, Vec<usize>)> = BTreeMap::new();
    for (r, read) in inf.reads.iter().enumerate() {
        let (best, all) = by_key.entry(&read.key).or_insert((r, Vec::new()));
        all.push(r);
        if read.list.len() > inf.reads[*best].list.len() {
            *best = r;
        }
    }
    let mut found = Vec::new();
    let mut orders = BTreeMap::new();
    for (key, (best, all)) in &by_key {
        let order = dedup(&inf.reads[*best].list);
        if let Some(other) = all
            .iter()
            .map(|&r| &inf.reads[r])
            .find(|r| !order.starts_with(&dedup(&r.list)))
        {
            let long = &inf.reads[*best];
            found.push(Anomaly {
                kind: Kind::IncompatibleOrder,
                order: None,
                sentence: format!(
                    "{} read key {key} as {} and {} read it as {}: neither is a prefix of the other, so no one order of appends explains both",
                    txns[long.txn].name(),
                    list(&long.list),
                    txns[other.txn].name(),
                    list(&other.list)
                ),
                steps: Vec::new(),
                deps: Vec::new(),
                txns: vec![txns[long.txn].id, txns[other.txn].id],
            });
        }
        orders.insert(key.to_string(), order);
    }
    inf.orders = orders;
    let mut unread: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for (key, elements) in &inf.writers {
        let order: std::collections::HashSet<i64> =
            inf.orders.get(key).into_iter().flatten().copied().collect();
        let missing: Vec<i64> = elements
            .keys()
            .copied()
            .filter(|e| !order.contains(e))
            .collect();
        if !missing.is_empty() {
            unread.insert(key.clone(), missing);
        }
    }
    for v in unread.values_mut() {
        v.sort_unstable();
    }
    inf.unread = unread;
    inf.anomalies.extend(found);
}

/// Garbage, aborted (G1a) and intermediate (G1b) reads, and duplicates, read by read.
fn element_anomalies(txns: &[Txn], aborted: &HashMap<(String, i64), usize>, inf: &mut Inferred) {
    let mut found = Vec::new();
    for read in &inf.reads {
        let reader = &txns[read.txn];
        let mut seen = std::collections::HashSet::new();
        if let Some(&twice) = read.list.iter().find(|e| !seen.insert(**e)) {
            found.push(Anomaly {
                kind: Kind::DuplicateElements,
                order: None,
                sentence: format!(
                    "{} read key {} as {}, with {twice} in it more than once",
                    reader.name(),
                    read.key,
                    list(&read.list)
                ),
                steps: Vec::new(),
                deps: Vec::new(),
                txns: vec![reader.id],
            });
        }
        for &e in &read.list {
            if inf.writer_of(&read.key, e).is_some() {
                continue;
            }
            let slot = (read.key.clone(), e);
            let (kind, sentence, txn_ids) = match aborted.get(&slot) {
                Some(&w) => (
                    Kind::G1a,
                    format!(
                        "dirty read: {} read {e} from key {}, appended by {}, which aborted",
                        reader.name(),
                        read.key,
                        txns[w].name()
                    ),
                    vec![reader.id, txns[w].id],
                ),
                None => (
                    Kind::Garbage,
                    format!(
                        "{} read {e} from key {}, which no transaction appended",
                        reader.name(),
                        read.key
                    ),
                    vec![reader.id],
                ),
            };
            found.push(Anomaly {
                kind,
                order: None,
                sentence,
                steps: Vec::new(),
                deps: Vec::new(),
                txns: txn_ids,
            });
        }
        if let Some(a) = intermediate(txns, inf, read) {
            found.push(a);
        }
    }
    inf.anomalies.extend(found);
}

/// G1b: `read` ends at an element whose transaction appended more to the key afterwards — the
/// reader saw that transaction half done.
fn intermediate(txns: &[Txn], inf: &Inferred, read: &Read) -> Option<Anomaly> {
    let last = *read.list.last()?;
    let w = inf.writer_of(&read.key, last)?;
    if w == read.txn {
        return None;
    }
    let own = inf.appends.get(&(w, read.key.clone()))?;
    let at = own.iter().position(|&e| e == last)?;
    let later = own.get(at + 1)?;
    Some(Anomaly {
        kind: Kind::G1b,
        order: None,
        sentence: format!(
            "{} read key {} as {}, ending at {last}, but {} appended {later} to it after {last}: it saw {} half done",
            txns[read.txn].name(),
            read.key,
            list(&read.list),
            txns[w].name(),
            txns[w].name()
        ),
        steps: Vec::new(),
        deps: Vec::new(),
        txns: vec![txns[read.txn].id, txns[w].id],
    })
}

fn dedup(list: &[i64]) -> Vec<i64> {
    let mut seen = std::collections::HashSet::new();
    list.iter().copied().filter(|e| seen.insert(*e)).collect()
}

/// `[1 2 3]`, as Jepsen prints a list.
pub fn list(items: &[i64]) -> String {
    let parts: Vec<String> = items.iter().map(i64::to_string).collect();
    format!("[{}]", parts.join(" "))
}
