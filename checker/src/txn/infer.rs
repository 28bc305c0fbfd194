//! What the reads of a list-append history say: each key's version order (the longest read;
//! every other read must be a prefix of it), who appended each element, and the anomalies a
//! single read shows on its own — an element nobody appended (garbage), one whose transaction
//! failed (G1a), an intermediate version (G1b), a list with an element twice, and reads that no
//! one order explains (incompatible order).

use super::parse::{Micro, Txn};
use super::{Anomaly, Kind};
use crate::history::Outcome;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

/// One ok read of a list: the reading transaction (index into the transactions), the key, and
/// the list it saw — borrowed from the transactions, never copied.
#[derive(Clone, Debug)]
pub struct Read<'a> {
    pub txn: usize,
    pub key: &'a str,
    pub list: &'a [i64],
    /// The list without the elements of aborted appends, when it held any: the version the
    /// read saw once its dirty reads (G1a, said apart) are set aside.
    pub clean: Option<Vec<i64>>,
}

impl Read<'_> {
    /// The committed version this read saw: its list, less any aborted appends.
    pub fn version(&self) -> &[i64] {
        self.clean.as_deref().unwrap_or(self.list)
    }
}

/// The inference: version orders, writers, reads, and the anomalies found on the way.
#[derive(Clone, Debug, Default)]
pub struct Inferred<'a> {
    /// Each key's version order as far as reads show it.
    pub orders: HashMap<&'a str, Vec<i64>>,
    /// Elements appended by transactions that did not fail and never read, per key: after
    /// every read element, in no known order (sorted).
    pub unread: HashMap<&'a str, Vec<i64>>,
    /// Who appended each element (transactions that did not fail), by index, per key.
    pub writers: HashMap<&'a str, HashMap<i64, usize>>,
    /// Each transaction's appends to each key, in its own order.
    pub appends: HashMap<(usize, &'a str), Vec<i64>>,
    pub reads: Vec<Read<'a>>,
    pub anomalies: Vec<Anomaly>,
    /// Appends by transactions of unknown outcome that a read showed and a longer read, or the
    /// final reads, of the key no longer did: taken back, so read as aborted
    /// (see `vanished_appends`).
    pub vanished: HashSet<(&'a str, i64)>,
}

impl Inferred<'_> {
    /// The transaction that appended `element` to `key`, if one that did not fail did.
    pub fn writer_of(&self, key: &str, element: i64) -> Option<usize> {
        self.writers.get(key)?.get(&element).copied()
    }

    /// How many appended elements were never read.
    pub fn unread_count(&self) -> usize {
        self.unread.values().map(Vec::len).sum()
    }

    /// How many of those were appended by transactions that ended with `outcome`.
    pub fn unread_by(&self, txns: &[Txn], outcome: Outcome) -> usize {
        self.unread
            .iter()
            .flat_map(|(k, es)| es.iter().map(move |e| self.writer_of(k, *e)))
            .filter(|w| w.is_some_and(|w| txns[w].outcome == outcome))
            .count()
    }
}

/// The inference over `txns`. An element appended twice (the inference needs each unique) is an
/// error naming both transactions.
pub fn list_append(txns: &[Txn]) -> Result<Inferred<'_>, String> {
    let mut inf = Inferred::default();
    let mut aborted: HashMap<(&str, i64), usize> = HashMap::default();
    for (i, t) in txns.iter().enumerate() {
        for m in &t.micro {
            match m {
                Micro::Append { key, element } => {
                    let slot = (key.as_str(), *element);
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
                        inf.writers.entry(key).or_default().insert(*element, i);
                        inf.appends.entry((i, key)).or_default().push(*element);
                    }
                }
                Micro::Read {
                    key,
                    list: Some(list),
                } if t.outcome == Outcome::Ok => inf.reads.push(Read {
                    txn: i,
                    key,
                    list,
                    clean: None,
                }),
                // In a list-append history, a completed read of nil is the empty list.
                Micro::ReadRegister {
                    key, value: None, ..
                } if t.outcome == Outcome::Ok => inf.reads.push(Read {
                    txn: i,
                    key,
                    list: &[],
                    clean: None,
                }),
                _ => {}
            }
        }
    }
    if !aborted.is_empty() {
        set_aside_aborted(&aborted, &mut inf.reads);
    }
    orders(txns, &mut inf);
    let mut gone: HashSet<usize> = HashSet::default();
    if txns.iter().any(|t| t.outcome == Outcome::Info) {
        if inf
            .anomalies
            .iter()
            .any(|a| a.kind == Kind::IncompatibleOrder)
        {
            gone.extend(vanished_appends(txns, &inf).into_iter().map(|(_, _, w)| w));
        }
        gone.extend(taken_back_by_the_end(txns, &inf));
    }
    if !gone.is_empty() {
        // An append of a transaction that was taken back was taken back with all its others.
        let taken: Vec<(&str, i64, usize)> = inf
            .writers
            .iter()
            .flat_map(|(k, ws)| ws.iter().map(move |(e, w)| (*k, *e, *w)))
            .filter(|(_, _, w)| gone.contains(w))
            .collect();
        for (key, e, w) in taken {
            if let Some(ws) = inf.writers.get_mut(key) {
                ws.remove(&e);
            }
            inf.appends.remove(&(w, key));
            aborted.insert((key, e), w);
            inf.vanished.insert((key, e));
        }
        // Orders are the only anomalies so far: found again without the vanished appends.
        inf.anomalies.clear();
        set_aside_aborted(&aborted, &mut inf.reads);
        orders(txns, &mut inf);
    }
    element_anomalies(txns, &aborted, &mut inf);
    let dirty = dirty_updates(txns, &aborted, &inf);
    inf.anomalies.extend(dirty);
    for t in txns.iter().filter(|t| t.outcome == Outcome::Ok) {
        inf.anomalies.extend(internal(t, &aborted));
    }
    let lost = super::lost_updates(txns, first_reads(txns, &aborted, &inf), |key, n: &usize| {
        let order = inf.orders.get(key).map_or(&[][..], Vec::as_slice);
        list(&order[..(*n).min(order.len())])
    });
    inf.anomalies.extend(lost);
    Ok(inf)
}

/// Appends that a read showed and the key's longest read does not, each by a transaction whose
/// outcome is unknown: `(key, element, writer)`. An element once read stays in every later
/// version of a key — unless the transaction that appended it never committed and a read saw
/// it before it was taken back (a dirty read, which read uncommitted allows). With the writer's
/// outcome unknown, that is the one explanation that does not lose a committed write; every
/// level from read committed up forbids it too (G1a), so it changes no verdict but read
/// uncommitted's. Only when every element that keeps a read from being a prefix of the
/// longest is such an append; otherwise the orders stay incompatible.
fn vanished_appends<'a>(txns: &[Txn], inf: &Inferred<'a>) -> Vec<(&'a str, i64, usize)> {
    let unknown = |key: &str, e: i64| {
        inf.writer_of(key, e)
            .filter(|&w| txns[w].outcome == Outcome::Info)
    };
    // Each key's most committed read: the most elements by writers whose outcome is known,
    // then the longest.
    let known = |r: &Read| {
        let n = r
            .version()
            .iter()
            .filter(|e| unknown(r.key, **e).is_none())
            .count();
        (n, r.version().len())
    };
    let mut longest: HashMap<&str, &Read> = HashMap::default();
    for r in &inf.reads {
        let best = longest.entry(r.key).or_insert(r);
        if known(r) > known(best) {
            *best = r;
        }
    }
    let mut found = Vec::new();
    for r in &inf.reads {
        let order = longest[r.key].version();
        if order.starts_with(r.version()) {
            continue;
        }
        let in_order: HashSet<i64> = order.iter().copied().collect();
        let (rest, extra): (Vec<i64>, Vec<i64>) =
            r.version().iter().partition(|e| in_order.contains(e));
        let taken_back: Option<Vec<_>> = extra
            .iter()
            .map(|&e| unknown(r.key, e).map(|w| (r.key, e, w)))
            .collect();
        match taken_back {
            Some(v) if order.starts_with(&rest) => found.extend(v),
            // A committed or garbage element, or an order broken apart from them: not this.
            _ => return Vec::new(),
        }
    }
    found.sort_unstable();
    found.dedup();
    found
}

/// Transactions of unknown outcome with an append that a read showed and the final reads of
/// the key — made after the faults were healed, all alike, so the state every node settled on
/// — do not: taken back (as [`vanished_appends`] explains).
fn taken_back_by_the_end(txns: &[Txn], inf: &Inferred) -> HashSet<usize> {
    let mut settled: HashMap<&str, Option<&[i64]>> = HashMap::default();
    for r in inf.reads.iter().filter(|r| txns[r.txn].final_read) {
        let v = r.version();
        settled
            .entry(r.key)
            .and_modify(|s| {
                if *s != Some(v) {
                    *s = None;
                }
            })
            .or_insert(Some(v));
    }
    let mut found = HashSet::default();
    if settled.is_empty() {
        return found;
    }
    for r in inf.reads.iter().filter(|r| !txns[r.txn].final_read) {
        let Some(Some(end)) = settled.get(r.key) else {
            continue;
        };
        for &e in r.version() {
            let Some(w) = inf.writer_of(r.key, e) else {
                continue;
            };
            if txns[w].outcome == Outcome::Info && !end.contains(&e) {
                found.insert(w);
            }
        }
    }
    found
}

/// Reads that saw aborted appends (dirty reads, reported as G1a) are placed in the version
/// order by what they saw of committed appends only: an aborted element is in no order, and
/// a read that held one is not, for that, incompatible with the others.
fn set_aside_aborted(aborted: &HashMap<(&str, i64), usize>, reads: &mut [Read]) {
    for r in reads.iter_mut() {
        if r.list.iter().any(|e| aborted.contains_key(&(r.key, *e))) {
            let key = r.key;
            r.clean = Some(
                r.list
                    .iter()
                    .copied()
                    .filter(|e| !aborted.contains_key(&(key, *e)))
                    .collect(),
            );
        }
    }
}

/// Each ok transaction's first read of a key it then appended to: `(transaction, key, the
/// length of the committed list it read)` — the version it saw, reads being prefixes of one
/// order.
fn first_reads<'a>(
    txns: &'a [Txn],
    aborted: &HashMap<(&str, i64), usize>,
    inf: &Inferred,
) -> Vec<(usize, &'a str, usize)> {
    let mut out = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        if t.outcome != Outcome::Ok {
            continue;
        }
        let mut touched: Vec<&str> = Vec::new();
        for m in &t.micro {
            match m {
                Micro::Append { key, .. } => touched.push(key),
                Micro::Read { key, list: Some(l) } if !touched.contains(&key.as_str()) => {
                    touched.push(key);
                    if inf.appends.contains_key(&(i, key.as_str())) {
                        let k = key.as_str();
                        let n = l
                            .iter()
                            .filter(|e| !aborted.contains_key(&(k, **e)))
                            .count();
                        out.push((i, k, n));
                    }
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
fn internal(t: &Txn, aborted: &HashMap<(&str, i64), usize>) -> Option<Anomaly> {
    // Per key: the list last read (none yet), and the transaction's own appends since.
    let mut known: HashMap<&str, (Option<Vec<i64>>, Vec<i64>)> = HashMap::default();
    for (at, m) in t.micro.iter().enumerate() {
        match m {
            Micro::Append { key, element } => known.entry(key).or_default().1.push(*element),
            Micro::Read {
                key,
                list: Some(seen),
            } => {
                let seen = committed_part(key, seen, aborted);
                if let Some(a) = future_read(t, at, key, &seen) {
                    return Some(a);
                }
                let (before, own) = known.entry(key).or_default();
                if let Some(a) = own_view(t, key, &seen, before.as_deref(), own) {
                    return Some(a);
                }
                *before = Some(seen.into_owned());
                own.clear();
            }
            _ => {}
        }
    }
    None
}

/// What a read saw of appends not aborted: a dirty read is G1a, said apart, and what was taken
/// back from under a transaction is no inconsistency of its own.
fn committed_part<'s>(
    key: &str,
    seen: &'s [i64],
    aborted: &HashMap<(&str, i64), usize>,
) -> std::borrow::Cow<'s, [i64]> {
    let gone = |e: &i64| aborted.contains_key(&(key, *e));
    match !aborted.is_empty() && seen.iter().any(gone) {
        true => seen.iter().copied().filter(|e| !gone(e)).collect(),
        false => std::borrow::Cow::Borrowed(seen),
    }
}

/// An anomaly `t` alone shows, in one sentence.
fn own_anomaly(t: &Txn, kind: Kind, sentence: String) -> Anomaly {
    Anomaly {
        kind,
        order: None,
        sentence,
        steps: Vec::new(),
        deps: Vec::new(),
        txns: vec![t.id],
    }
}

/// A future read: the read (micro-op `at`) holds an element the transaction itself appends only
/// later.
fn future_read(t: &Txn, at: usize, key: &str, seen: &[i64]) -> Option<Anomaly> {
    let e = t.micro[at + 1..].iter().find_map(|n| match n {
        Micro::Append { key: k, element } if k == key && seen.contains(element) => Some(*element),
        _ => None,
    })?;
    let sentence = format!(
        "future read: {} read key {key} as {}, with {e} in it, which it appended only afterwards",
        t.name(),
        list(seen)
    );
    Some(own_anomaly(t, Kind::Internal, sentence))
}

/// Whether a read shows what the transaction knows of the key: the list it read `before`
/// followed by its `own` appends since (at least ending with them, with no read before). Its
/// own appends on top of a longer list than it read before are others' appends committed in
/// between: a non-repeatable read, not an internal inconsistency.
fn own_view(
    t: &Txn,
    key: &str,
    seen: &[i64],
    before: Option<&[i64]>,
    own: &[i64],
) -> Option<Anomaly> {
    let grown = |b: &[i64]| seen.starts_with(b) && seen.ends_with(own);
    match before {
        Some(b) if grown(b) && seen.len() == b.len() + own.len() => None,
        None if seen.ends_with(own) => None,
        Some(b) if grown(b) && seen.len() > b.len() + own.len() => {
            let sentence = format!(
                "non-repeatable read: {} read key {key} as {} and later as {}: others' appends committed in between",
                t.name(),
                list(b),
                list(seen)
            );
            Some(own_anomaly(t, Kind::NonRepeatableRead, sentence))
        }
        _ => {
            let expected = match before {
                Some(b) => format!("{} followed by its own appends {}", list(b), list(own)),
                None => format!("a list ending with its own appends {}", list(own)),
            };
            let sentence = format!(
                "{} read key {key} as {}, but it should have seen {expected}",
                t.name(),
                list(seen)
            );
            Some(own_anomaly(t, Kind::Internal, sentence))
        }
    }
}

/// Each key's order: its longest read, every other read checked as a prefix of it; and the
/// appended elements no read shows.
fn orders<'a>(txns: &[Txn], inf: &mut Inferred<'a>) {
    // Each key's reads, once: (the longest, every read).
    let mut by_key: HashMap<&'a str, (usize, Vec<usize>)> = HashMap::default();
    for (r, read) in inf.reads.iter().enumerate() {
        let (best, all) = by_key.entry(read.key).or_insert((r, Vec::new()));
        all.push(r);
        if read.version().len() > inf.reads[*best].version().len() {
            *best = r;
        }
    }
    let mut found = Vec::new();
    let mut orders = HashMap::default();
    // In key order, so the anomalies come out the same every run.
    let mut keys: Vec<&&'a str> = by_key.keys().collect();
    keys.sort_unstable();
    for key in keys {
        let (best, all) = &by_key[*key];
        let order = dedup(inf.reads[*best].version());
        // A read is a prefix of the order as it is, or — holding an element twice, which is
        // said apart — once its repeats are dropped.
        if let Some(other) = all
            .iter()
            .map(|&r| &inf.reads[r])
            .find(|r| !order.starts_with(r.version()) && !order.starts_with(&dedup(r.version())))
        {
            let long = &inf.reads[*best];
            found.push(Anomaly {
                kind: Kind::IncompatibleOrder,
                order: None,
                sentence: format!(
                    "{} read key {key} as {} and {} read it as {}: neither is a prefix of the other, so no one order of appends explains both",
                    txns[long.txn].name(),
                    list(long.list),
                    txns[other.txn].name(),
                    list(other.list)
                ),
                steps: Vec::new(),
                deps: Vec::new(),
                txns: vec![txns[long.txn].id, txns[other.txn].id],
            });
        }
        orders.insert(*key, order);
    }
    inf.orders = orders;
    let mut unread: HashMap<&'a str, Vec<i64>> = HashMap::default();
    for (&key, elements) in &inf.writers {
        let order = inf.orders.get(key).map_or(&[][..], Vec::as_slice);
        // Every element read has its writer here (else it is garbage, said apart): when as
        // many were read as were appended, none is missing.
        let read = order.iter().filter(|e| elements.contains_key(e)).count();
        if read == elements.len() {
            continue;
        }
        let order: HashSet<i64> = order.iter().copied().collect();
        let missing: Vec<i64> = elements
            .keys()
            .copied()
            .filter(|e| !order.contains(e))
            .collect();
        if !missing.is_empty() {
            unread.insert(key, missing);
        }
    }
    for v in unread.values_mut() {
        v.sort_unstable();
    }
    inf.unread = unread;
    inf.anomalies.extend(found);
}

/// Garbage, aborted (G1a) and intermediate (G1b) reads, and duplicates, read by read.
fn element_anomalies(txns: &[Txn], aborted: &HashMap<(&str, i64), usize>, inf: &mut Inferred) {
    let mut found = Vec::new();
    let none = HashMap::default();
    for read in &inf.reads {
        let reader = &txns[read.txn];
        let writers = inf.writers.get(read.key).unwrap_or(&none);
        // A read that is a prefix of its key's order (almost all) holds no element twice.
        let prefix = inf
            .orders
            .get(read.key)
            .is_some_and(|o| o.starts_with(read.list));
        let mut seen = HashSet::default();
        let twice = match prefix {
            true => None,
            false => read.list.iter().find(|e| !seen.insert(**e)),
        };
        if let Some(&twice) = twice {
            found.push(Anomaly {
                kind: Kind::DuplicateElements,
                order: None,
                sentence: format!(
                    "{} read key {} as {}, with {twice} in it more than once",
                    reader.name(),
                    read.key,
                    list(read.list)
                ),
                steps: Vec::new(),
                deps: Vec::new(),
                txns: vec![reader.id],
            });
        }
        for &e in read.list {
            if writers.contains_key(&e) {
                continue;
            }
            let slot = (read.key, e);
            let (kind, sentence, txn_ids) = match aborted.get(&slot) {
                Some(&w) if inf.vanished.contains(&slot) => (
                    Kind::G1a,
                    format!(
                        "dirty read: {} read {e} from key {}, appended by {}, whose outcome is unknown and whose append a longer read no longer shows: it was taken back (aborted) after this read",
                        reader.name(),
                        read.key,
                        txns[w].name()
                    ),
                    vec![reader.id, txns[w].id],
                ),
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

/// Dirty updates: in a key's order, an element appended right after one whose transaction
/// aborted — a write built on a write that never happened. Once per such pair, in key order.
fn dirty_updates(
    txns: &[Txn],
    aborted: &HashMap<(&str, i64), usize>,
    inf: &Inferred,
) -> Vec<Anomaly> {
    if aborted.is_empty() {
        return Vec::new();
    }
    // Only reads that held an aborted element can show one (the orders leave them out).
    let mut seen: HashSet<(&str, i64, i64)> = HashSet::default();
    let mut dirty: Vec<&Read> = inf.reads.iter().filter(|r| r.clean.is_some()).collect();
    dirty.sort_by_key(|r| r.key);
    let mut found = Vec::new();
    for read in dirty {
        let key = &read.key;
        for pair in read.list.windows(2) {
            let (Some(&a), Some(b)) = (aborted.get(&(*key, pair[0])), inf.writer_of(key, pair[1]))
            else {
                continue;
            };
            if !seen.insert((key, pair[0], pair[1])) {
                continue;
            }
            found.push(Anomaly {
                kind: Kind::DirtyUpdate,
                order: None,
                sentence: format!(
                    "dirty update: {} appended {} to key {key} right after {}, which {} appended and then aborted",
                    txns[b].name(),
                    pair[1],
                    pair[0],
                    txns[a].name()
                ),
                steps: Vec::new(),
                deps: Vec::new(),
                txns: vec![txns[a].id, txns[b].id],
            });
        }
    }
    found
}

/// G1b: `read` ends at an element whose transaction appended more to the key afterwards — the
/// reader saw that transaction half done.
fn intermediate(txns: &[Txn], inf: &Inferred, read: &Read) -> Option<Anomaly> {
    let last = *read.list.last()?;
    let w = inf.writer_of(read.key, last)?;
    if w == read.txn {
        return None;
    }
    let own = inf.appends.get(&(w, read.key))?;
    let at = own.iter().position(|&e| e == last)?;
    let later = own.get(at + 1)?;
    Some(Anomaly {
        kind: Kind::G1b,
        order: None,
        sentence: format!(
            "{} read key {} as {}, ending at {last}, but {} appended {later} to it after {last}: it saw {} half done",
            txns[read.txn].name(),
            read.key,
            list(read.list),
            txns[w].name(),
            txns[w].name()
        ),
        steps: Vec::new(),
        deps: Vec::new(),
        txns: vec![txns[read.txn].id, txns[w].id],
    })
}

fn dedup(list: &[i64]) -> Vec<i64> {
    let mut seen = HashSet::default();
    list.iter().copied().filter(|e| seen.insert(*e)).collect()
}

/// `[1 2 3]`, as Jepsen prints a list.
pub fn list(items: &[i64]) -> String {
    let parts: Vec<String> = items.iter().map(i64::to_string).collect();
    format!("[{}]", parts.join(" "))
}
