//! The dependency graph of transactions, and its cycles.
//!
//! Nodes are the transactions that did not fail. Edges carry their kind and the words that
//! justify them. Cycles are searched class by class, as Elle does: first among `ww` edges (G0),
//! then `ww` and `wr` (G1c), then through exactly one `rw` (G-single), then any (G2-item); then
//! again with process order, then with real-time order, keeping only cycles that need them.
//! Strongly connected components (petgraph's Kosaraju) bound each search, and each cycle is the
//! shortest found by a breadth-first search from one of its edges back to that edge's start.

use super::infer::{list, Inferred};
use super::parse::Txn;
use super::register::{self, Registers};
use super::{Anomaly, Kind};
use crate::history::Outcome;
use petgraph::graph::{DiGraph, NodeIndex};
use petgraph::visit::EdgeFiltered;
use rustc_hash::{FxHashMap, FxHashSet as HashSet};
use std::collections::VecDeque;

/// Why one transaction comes before another.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dep {
    /// Write-write: the later one's append came right after the earlier one's.
    Ww,
    /// Write-read: the later one read the earlier one's append.
    Wr,
    /// Read-write: the earlier one read the key before the later one's append.
    Rw,
    Process,
    Realtime,
}

impl Dep {
    pub fn name(self) -> &'static str {
        match self {
            Dep::Ww => "ww",
            Dep::Wr => "wr",
            Dep::Rw => "rw",
            Dep::Process => "process",
            Dep::Realtime => "realtime",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    pub dep: Dep,
    /// Why `from` comes before `to`, put in words only for the cycles shown ([`Why::words`]).
    pub why: Why,
}

/// What the edges come from: a list-append inference or an rw-register one.
#[derive(Clone, Copy)]
pub enum Data<'a> {
    Lists(&'a Inferred<'a>),
    Registers(&'a Registers),
}

/// The evidence for one edge, kept as data: a history has millions of edges and shows a few.
/// The words depend on the [`Data`]: an append or a write, a list read or a value read.
#[derive(Clone, Debug)]
pub enum Why {
    /// `to` appended (wrote) `next` to `key` right after `from`'s `prev`.
    Ww {
        key: u32,
        prev: i64,
        next: i64,
    },
    /// `to`'s append of `element` was never read, so it came after `from`'s `last`.
    WwUnread {
        key: u32,
        last: i64,
        element: i64,
    },
    /// `to` read `key` up to `from`'s append of `element`.
    Wr {
        key: u32,
        element: i64,
    },
    /// `from` read `key` (the read at `read` in the inference) without `to`'s append (before
    /// `to`'s write of `element`).
    Rw {
        read: u32,
        element: i64,
    },
    Process,
    Realtime,
}

impl Why {
    /// The edge `from → to` in words.
    pub fn words(&self, txns: &[Txn], data: Data, keys: &[&str], from: usize, to: usize) -> String {
        let (a, b) = (txns[from].name(), txns[to].name());
        match (self, data) {
            (Why::Ww { key, prev, next }, Data::Lists(_)) => format!("{b} appended {next} to key {} right after {a}'s {prev}", keys[*key as usize]),
            (Why::Ww { key, prev, next }, Data::Registers(r)) => {
                let key = &keys[*key as usize];
                let why = r.evidence(key, Some(*prev), *next).map(|e| register::evidence_words(txns, e, Some(*prev), *next));
                format!("{b}'s write of {next} to key {key} came after {a}'s {prev}{}", why.map(|w| format!(": {w}")).unwrap_or_default())
            }
            (Why::WwUnread { key, last, element }, _) => format!("{b}'s append of {element} to key {} was never read, so it came after {a}'s {last}, the last read", keys[*key as usize]),
            (Why::Wr { key, element }, Data::Lists(_)) => format!("{b} read key {} up to {a}'s append of {element}", keys[*key as usize]),
            (Why::Wr { key, element }, Data::Registers(_)) => format!("{b} read {element} from key {}, {a}'s write", keys[*key as usize]),
            (Why::Rw { read, element }, Data::Lists(inf)) => {
                let r = &inf.reads[*read as usize];
                format!("{a} read key {} as {}, without {b}'s append of {element}", r.key, list(r.list))
            }
            (Why::Rw { read, element }, Data::Registers(regs)) => {
                let r = &regs.reads[*read as usize];
                let why = regs.evidence(&r.key, r.value, *element).map(|e| register::evidence_words(txns, e, r.value, *element));
                format!("{a} read {} from key {}, a version before {b}'s write of {element}{}", register::shown(r.value), r.key, why.map(|w| format!(" ({w})")).unwrap_or_default())
            }
            (Why::Process, _) => format!("process {} ran {a} before {b}", txns[from].process),
            (Why::Realtime, _) => format!("{a} completed before {b} began"),
        }
    }
}

/// The non-trivial strongly connected components of `g` over `allowed` edges.
fn components(g: &DiGraph<(), Dep>, allowed: &[Dep]) -> Vec<Vec<usize>> {
    let only = EdgeFiltered::from_fn(g, |e| allowed.contains(e.weight()));
    // Kosaraju: iterative, where petgraph's Tarjan recurses (and a long real-time chain
    // overflows the stack).
    petgraph::algo::kosaraju_scc(&only)
        .into_iter()
        .filter(|c| c.len() > 1)
        .map(|c| c.into_iter().map(NodeIndex::index).collect())
        .collect()
}

/// A cycle's edges (indices into [`Graph::edges`]) and the extra order it needs.
pub type Cycle = (Vec<usize>, Option<&'static str>);

/// The graph over the transactions (indices into the list given to [`Graph::build`]).
pub struct Graph<'a> {
    pub edges: Vec<Edge>,
    /// The edges leaving each transaction: `out_edges[out_start[n]..out_start[n + 1]]`, built
    /// once every edge is in (a list per transaction would be a million small allocations).
    out_start: Vec<u32>,
    out_edges: Vec<u32>,
    /// How many nodes: the transactions, then one marker per completion ([`Graph::realtime_edges`]).
    nodes: usize,
    transactions: usize,
    data: Data<'a>,
    /// The keys, each once and in order: edges name them by position.
    keys: Vec<&'a str>,
    /// Each key's position.
    key_ids: FxHashMap<&'a str, u32>,
}

impl<'a> Graph<'a> {
    pub fn build(txns: &[Txn], data: Data<'a>) -> Graph<'a> {
        let keys: std::collections::BTreeSet<&'a str> = match data {
            Data::Lists(inf) => inf
                .orders
                .keys()
                .chain(inf.unread.keys())
                .copied()
                .collect(),
            Data::Registers(r) => r
                .steps
                .keys()
                .map(String::as_str)
                .chain(r.reads.iter().map(|r| r.key.as_str()))
                .collect(),
        };
        let keys: Vec<&'a str> = keys.into_iter().collect();
        let mut g = Graph {
            // A few edges a transaction: one allocation where growing would copy them twice.
            edges: Vec::with_capacity(txns.len() * 4),
            out_start: Vec::new(),
            out_edges: Vec::new(),
            nodes: txns.len(),
            transactions: txns.len(),
            data,
            key_ids: keys
                .iter()
                .enumerate()
                .map(|(i, k)| (*k, i as u32))
                .collect(),
            keys,
        };
        match data {
            Data::Lists(inf) => g.data_edges(inf),
            Data::Registers(r) => g.register_edges(r),
        }
        g.process_edges(txns);
        g.realtime_edges(txns);
        g.index_out(g.nodes);
        g
    }

    /// Groups the edges by the transaction they leave (a counting sort, in edge order).
    fn index_out(&mut self, nodes: usize) {
        let mut start = vec![0u32; nodes + 1];
        for e in &self.edges {
            start[e.from + 1] += 1;
        }
        for n in 0..nodes {
            start[n + 1] += start[n];
        }
        let mut next = start.clone();
        let mut out = vec![0u32; self.edges.len()];
        for (i, e) in self.edges.iter().enumerate() {
            out[next[e.from] as usize] = i as u32;
            next[e.from] += 1;
        }
        self.out_start = start;
        self.out_edges = out;
    }

    /// The edges leaving transaction `n`.
    fn out(&self, n: usize) -> impl Iterator<Item = usize> + '_ {
        let (a, b) = (self.out_start[n] as usize, self.out_start[n + 1] as usize);
        self.out_edges[a..b].iter().map(|&e| e as usize)
    }

    fn key(&self, key: &str) -> u32 {
        self.key_ids[key]
    }

    fn add(&mut self, from: usize, to: usize, dep: Dep, why: Why) {
        if from != to {
            self.edges.push(Edge { from, to, dep, why });
        }
    }

    /// ww along each key's order (and from its last read element to every unread one), wr from
    /// the writer of each read's last element, rw from each read to the writer of the element
    /// after what it saw (and to every unread element's writer).
    fn data_edges(&mut self, inf: &Inferred<'a>) {
        // In key order, so the edges (and the cycles found first) are the same every run.
        let mut keys: Vec<(&&str, &Vec<i64>)> = inf.orders.iter().collect();
        keys.sort_unstable_by_key(|(k, _)| **k);
        for (key, order) in keys {
            let k = self.key(key);
            for pair in order.windows(2) {
                let w = |e: i64| inf.writer_of(key, e);
                if let (Some(a), Some(b)) = (w(pair[0]), w(pair[1])) {
                    self.add(
                        a,
                        b,
                        Dep::Ww,
                        Why::Ww {
                            key: k,
                            prev: pair[0],
                            next: pair[1],
                        },
                    );
                }
            }
            let last = order
                .last()
                .and_then(|e| inf.writer_of(key, *e).map(|w| (*e, w)));
            for &u in inf.unread.get(key).into_iter().flatten() {
                let Some(w) = inf.writer_of(key, u) else {
                    continue;
                };
                if let Some((e, l)) = last {
                    self.add(
                        l,
                        w,
                        Dep::Ww,
                        Why::WwUnread {
                            key: k,
                            last: e,
                            element: u,
                        },
                    );
                }
            }
        }
        for (r_index, read) in inf.reads.iter().enumerate() {
            let key = &read.key;
            let k = self.key(key);
            let r = read.txn;
            if let Some(&e) = read.version().last() {
                if let Some(w) = inf.writer_of(key, e) {
                    self.add(w, r, Dep::Wr, Why::Wr { key: k, element: e });
                }
            }
            let order = &inf.orders[key];
            let next;
            let missed: &[i64] = match order.get(read.version().len()) {
                Some(&n) => {
                    next = [n];
                    &next
                }
                None => inf.unread.get(key).map_or(&[], Vec::as_slice),
            };
            for &n in missed {
                if let Some(w) = inf.writer_of(key, n) {
                    let why = Why::Rw {
                        read: r_index as u32,
                        element: n,
                    };
                    self.add(r, w, Dep::Rw, why);
                }
            }
        }
    }

    /// ww along each key's version steps, wr from each value's writer to its readers, rw from
    /// each read to the writers of the versions after the one it saw.
    fn register_edges(&mut self, regs: &'a Registers) {
        for (key, steps) in &regs.steps {
            let k = self.key(key);
            for s in steps {
                let (Some(prev), Some(b)) = (s.prev, regs.writer_of(key, s.next)) else {
                    continue;
                };
                if let Some(a) = regs.writer_of(key, prev) {
                    let why = Why::Ww {
                        key: k,
                        prev,
                        next: s.next,
                    };
                    self.add(a, b, Dep::Ww, why);
                }
            }
        }
        let after = regs.successors();
        for (r_index, read) in regs.reads.iter().enumerate() {
            let k = self.key(&read.key);
            if let Some(v) = read.value {
                if let Some(w) = regs.writer_of(&read.key, v) {
                    self.add(w, read.txn, Dep::Wr, Why::Wr { key: k, element: v });
                }
            }
            for &n in after
                .get(&(read.key.as_str(), read.value))
                .into_iter()
                .flatten()
            {
                if let Some(w) = regs.writer_of(&read.key, n) {
                    let why = Why::Rw {
                        read: r_index as u32,
                        element: n,
                    };
                    self.add(read.txn, w, Dep::Rw, why);
                }
            }
        }
    }

    /// Each process's transactions in the order it ran them (those that did not fail).
    fn process_edges(&mut self, txns: &[Txn]) {
        let mut last: FxHashMap<u64, usize> = FxHashMap::default();
        for (i, t) in txns.iter().enumerate() {
            if t.outcome == Outcome::Fail {
                continue;
            }
            if let Some(p) = last.insert(t.process, i) {
                self.add(p, i, Dep::Process, Why::Process);
            }
        }
    }

    /// T1 → T2 whenever T1 completed before T2 began, through markers: each completion of an
    /// ok transaction is a marker node after the transaction and after the marker before it,
    /// and each invocation comes after the latest marker. T1 reaches T2 through the markers
    /// exactly when T1 completed before T2 began, with three edges a transaction however many
    /// run at once (a transitive reduction between transactions needs as many as run
    /// concurrently: nine a transaction at 100 processes, ninety at 1,000).
    fn realtime_edges(&mut self, txns: &[Txn]) {
        let mut events: Vec<(u64, bool, usize)> = Vec::with_capacity(2 * txns.len());
        for (i, t) in txns.iter().enumerate() {
            if t.outcome != Outcome::Ok {
                continue;
            }
            events.push((t.invoke_time, true, i));
            if let Some(c) = t.complete_time {
                events.push((c, false, i));
            }
        }
        // At equal times a completion comes first: the invocation follows it.
        events.sort_unstable_by_key(|&(t, invoke, i)| (t, invoke, i));
        let mut latest: Option<usize> = None;
        for (_, invoke, i) in events {
            if invoke {
                if let Some(m) = latest {
                    self.add(m, i, Dep::Realtime, Why::Realtime);
                }
            } else {
                let m = self.nodes;
                self.nodes += 1;
                self.add(i, m, Dep::Realtime, Why::Realtime);
                if let Some(before) = latest {
                    self.add(before, m, Dep::Realtime, Why::Realtime);
                }
                latest = Some(m);
            }
        }
    }

    /// Every anomaly the cycles show, in words ([`Graph::find_cycles`], then
    /// [`Graph::explain`]).
    pub fn cycles(&self, txns: &[Txn]) -> Vec<Anomaly> {
        self.explain(txns, &self.find_cycles())
    }

    /// The cycles in words.
    pub fn explain(&self, txns: &[Txn], cycles: &[Cycle]) -> Vec<Anomaly> {
        cycles
            .iter()
            .map(|(c, order)| self.describe(txns, c, *order))
            .collect()
    }

    /// Every cycle, class by class: its edges, and the order it needs.
    pub fn find_cycles(&self) -> Vec<Cycle> {
        use Dep::*;
        let mut found = Vec::new();
        // A cycle is new unless one of the same class went through the same transactions.
        let mut seen: HashSet<(Vec<usize>, Kind)> = HashSet::default();
        let passes: [(&[Dep], Option<&'static str>); 3] = [
            (&[Ww, Wr, Rw], None),
            (&[Ww, Wr, Rw, Process], Some("process")),
            (&[Ww, Wr, Rw, Realtime], Some("realtime")),
        ];
        // One graph for petgraph, each pass a filter of its edges.
        let mut g: DiGraph<(), Dep> = DiGraph::with_capacity(self.nodes, self.edges.len());
        for _ in 0..self.nodes {
            g.add_node(());
        }
        for e in &self.edges {
            g.add_edge(NodeIndex::new(e.from), NodeIndex::new(e.to), e.dep);
        }
        for (allowed, order) in passes {
            for scc in components(&g, allowed) {
                let members: HashSet<usize> = scc.into_iter().collect();
                for cycle in self.cycles_in(&members, allowed, order) {
                    let mut key: Vec<usize> = cycle.iter().map(|&e| self.edges[e].from).collect();
                    key.sort_unstable();
                    if seen.insert((key, self.kind(&self.steps(&cycle)))) {
                        found.push((cycle, order));
                    }
                }
            }
        }
        found
    }

    /// The cycles of one component, shortest first per class: G0 (ww), G1c (ww+wr), G-single
    /// (one rw), G2-item (rw, any number). With an `order`, only cycles that need its edges.
    fn cycles_in(
        &self,
        members: &HashSet<usize>,
        allowed: &[Dep],
        order: Option<&str>,
    ) -> Vec<Vec<usize>> {
        use Dep::*;
        let extra: &[Dep] = match order {
            Some("process") => &[Process],
            Some(_) => &[Realtime],
            None => &[],
        };
        let with = |base: &[Dep]| -> Vec<Dep> { base.iter().chain(extra).copied().collect() };
        let mut out = Vec::new();
        // Each class: the edge a cycle must go through, and the edges back to its start.
        let classes: [(&[Dep], Vec<Dep>); 4] = [
            (&[Ww], with(&[Ww])),
            (&[Wr], with(&[Ww, Wr])),
            (&[Rw], with(&[Ww, Wr])),
            (&[Rw], allowed.to_vec()),
        ];
        for (through, back) in classes {
            // The component's own edges of the class, in the graph's order (so the cycle found
            // is the same every run), gathered from its members rather than from every edge.
            let mut start: Vec<usize> = members
                .iter()
                .flat_map(|&n| self.out(n))
                .filter(|&i| {
                    let e = &self.edges[i];
                    through.contains(&e.dep) && members.contains(&e.to)
                })
                .collect();
            start.sort_unstable();
            for e in start {
                let edge = &self.edges[e];
                if let Some(mut path) = self.path(edge.to, edge.from, members, &back) {
                    path.insert(0, e);
                    let needs_extra = extra.is_empty()
                        || path.iter().any(|&p| extra.contains(&self.edges[p].dep));
                    if needs_extra {
                        out.push(path);
                        break;
                    }
                }
            }
        }
        // G-nonadjacent: through an anti-dependency, with no two of them adjacent — what
        // snapshot isolation forbids beyond G-single, and what the shortest G2 cycle can hide
        // behind a shorter one whose anti-dependencies touch.
        let mut rw: Vec<usize> = members
            .iter()
            .flat_map(|&n| self.out(n))
            .filter(|&i| self.edges[i].dep == Rw && members.contains(&self.edges[i].to))
            .collect();
        rw.sort_unstable();
        for e in rw {
            let edge = &self.edges[e];
            if let Some(mut path) = self.path_nonadjacent(edge.to, edge.from, members, allowed) {
                path.insert(0, e);
                let needs_extra =
                    extra.is_empty() || path.iter().any(|&p| extra.contains(&self.edges[p].dep));
                let rws = path.iter().filter(|&&p| self.edges[p].dep == Rw).count();
                if needs_extra && rws > 1 {
                    out.push(path);
                    break;
                }
            }
        }
        out
    }

    /// The shortest path of `allowed` edges from `from` to `to` within `members` that, after an
    /// anti-dependency into `from`, never takes two anti-dependencies in a row and does not end
    /// with one: a breadth-first search over (transaction, whether the last edge was `rw`).
    fn path_nonadjacent(
        &self,
        from: usize,
        to: usize,
        members: &HashSet<usize>,
        allowed: &[Dep],
    ) -> Option<Vec<usize>> {
        self.search((from, true), (to, false), |state, edge| {
            let rw = edge.dep == Dep::Rw;
            let fits =
                allowed.contains(&edge.dep) && !(rw && state.1) && members.contains(&edge.to);
            fits.then_some((edge.to, rw))
        })
    }

    /// The shortest path of `allowed` edges from `from` to `to` within `members`.
    fn path(
        &self,
        from: usize,
        to: usize,
        members: &HashSet<usize>,
        allowed: &[Dep],
    ) -> Option<Vec<usize>> {
        self.search((from, ()), (to, ()), |_, edge| {
            let fits = allowed.contains(&edge.dep) && members.contains(&edge.to);
            fits.then_some((edge.to, ()))
        })
    }

    /// A breadth-first search over states `(transaction, what the path so far says)`, from
    /// `start` to `goal`, along the edges `step` allows (giving the state each leads to): the
    /// edges of the shortest way, in order.
    fn search<S: Copy + Eq + std::hash::Hash>(
        &self,
        start: (usize, S),
        goal: (usize, S),
        step: impl Fn((usize, S), &Edge) -> Option<(usize, S)>,
    ) -> Option<Vec<usize>> {
        let mut via: FxHashMap<(usize, S), ((usize, S), usize)> = FxHashMap::default();
        let mut queue = VecDeque::from([start]);
        let mut visited: HashSet<(usize, S)> = [start].into_iter().collect();
        while let Some(state) = queue.pop_front() {
            if state == goal {
                let mut path = Vec::new();
                let mut at = state;
                while at != start {
                    let (before, e) = via[&at];
                    path.push(e);
                    at = before;
                }
                path.reverse();
                return Some(path);
            }
            for e in self.out(state.0) {
                if let Some(next) = step(state, &self.edges[e]) {
                    if visited.insert(next) {
                        via.insert(next, (state, e));
                        queue.push_back(next);
                    }
                }
            }
        }
        None
    }

    /// A cycle as an anomaly: its class from its data edges, and each step in words.
    fn describe(&self, txns: &[Txn], cycle: &[usize], order: Option<&'static str>) -> Anomaly {
        let steps = self.steps(cycle);
        let kind = self.kind(&steps);
        let words: Vec<String> = steps
            .iter()
            .map(|&(from, to, _, e)| {
                format!(
                    "{} < {} because {}",
                    txns[from].name(),
                    txns[to].name(),
                    self.edges[e]
                        .why
                        .words(txns, self.data, &self.keys, from, to)
                )
            })
            .collect();
        let names: Vec<String> = steps.iter().map(|s| txns[s.0].name()).collect();
        Anomaly {
            kind,
            order,
            sentence: format!(
                "{} transactions each come before the next and the last before the first: {} — no order of them explains what they read",
                steps.len(),
                names.join(", ")
            ),
            steps: words,
            deps: steps.iter().map(|s| s.2.name()).collect(),
            txns: steps.iter().map(|s| txns[s.0].id).collect(),
        }
    }

    /// A cycle's class, from its steps' dependencies.
    fn kind(&self, steps: &[(usize, usize, Dep, usize)]) -> Kind {
        let count = |d: Dep| steps.iter().filter(|s| s.2 == d).count();
        let rw: Vec<bool> = steps.iter().map(|s| s.2 == Dep::Rw).collect();
        let adjacent = (0..rw.len()).any(|i| rw[i] && rw[(i + 1) % rw.len()]);
        match (count(Dep::Rw), count(Dep::Wr)) {
            (0, 0) => Kind::G0,
            (0, _) => Kind::G1c,
            (1, _) => Kind::GSingle,
            _ if !adjacent => Kind::GNonadjacent,
            _ => Kind::G2Item,
        }
    }

    /// A cycle's steps from transaction to transaction: `(from, to, dependency, an edge)`, a
    /// run of real-time edges through markers made one step. A cycle starts at a data edge,
    /// so at a transaction.
    fn steps(&self, cycle: &[usize]) -> Vec<(usize, usize, Dep, usize)> {
        let mut out = Vec::new();
        let mut from = None;
        for &e in cycle {
            let edge = &self.edges[e];
            let start = *from.get_or_insert(edge.from);
            if edge.to < self.transactions {
                out.push((start, edge.to, edge.dep, e));
                from = None;
            }
        }
        out
    }
}
