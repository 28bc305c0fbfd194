//! The search for a sequentially consistent order: one total order of the operations that keeps
//! each process's operations in the order that process issued them and explains every result,
//! with real time ignored.
//!
//! It is a depth-first search over *configurations*: how far each process has got, and the state
//! of every key. From a configuration, the next operation is the head of some process; an
//! indeterminate (`info`) operation may also be skipped (it never happened). Configurations already
//! seen are not entered again. They are remembered by a 128-bit hash built incrementally, as in
//! the linearizability search — two independent 64-bit Zobrist-style sums of per-process
//! positions and per-key states, so a false "seen before" needs a 128-bit collision.
//!
//! Two prunings keep it small, both sound:
//! - a read at the head of a process that can take effect now is taken at once and never
//!   revisited (a read changes no state, so taking it earlier cannot hurt);
//! - a configuration is dead when some process's next operation needs a value (a read's result, a
//!   cas's expected value) that its key does not hold and that no operation left can write.
//!
//! Sequential consistency is not compositional: every key can be sequentially consistent on its
//! own while the whole history is not. [`Search`] therefore takes any set of keys; the ladder runs
//! it per key first (cheap, and a failing key is a witness) and then over the whole history.

use crate::history::{Operation, Outcome};
use crate::model::{Interner, Model};
use crate::search::{splitmix64, state_hash, PassThrough, Progress};
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash};

struct SeqOp<O> {
    key: usize,
    op: O,
    /// Indeterminate: may be skipped.
    optional: bool,
    /// Position of the completion (of the invocation, when indeterminate), then of the
    /// invocation: operations that completed earlier are tried first, which follows real time
    /// where the history allows and finds an order at once for histories that are nearly
    /// linearizable.
    rank: (usize, usize),
    consumes: Option<u32>,
    produces: Option<u32>,
    resets: bool,
}

struct Move<S> {
    process: usize,
    skipped: bool,
    before: S,
}

struct Frame<S> {
    /// Next option to try from this configuration; `usize::MAX` when none is left.
    cursor: usize,
    /// The move that led here (none for the initial configuration).
    entered_by: Option<Move<S>>,
}

pub struct Search<'m, M: Model> {
    model: &'m M,
    processes: Vec<Vec<SeqOp<M::Op>>>,
    pos: Vec<usize>,
    states: Vec<M::State>,
    /// Producers not yet taken or skipped, per (key, value).
    remaining: HashMap<(usize, u32), u32>,
    /// Operations not yet taken or skipped that may reset their key ([`Model::resets`]).
    resets_left: Vec<u32>,
    left: usize,
    seen: HashSet<u128, BuildHasherDefault<PassThrough>>,
    /// Scratch space: the (key, value) pairs waiting operations need, and the order in which
    /// processes are tried.
    wanted: Vec<(usize, u32)>,
    order: Vec<((usize, usize, usize), usize)>,
    hash: u128,
    stack: Vec<Frame<M::State>>,
    steps: u64,
    result: Progress,
}

impl<'m, M: Model> Search<'m, M> {
    /// Compiles `ops` (any keys, any processes; failed operations and indeterminate reads are
    /// left out). An error names the operation that does not fit the model.
    pub fn new(model: &'m M, ops: &[&Operation]) -> Result<Search<'m, M>, (usize, String)> {
        let mut keys: HashMap<Option<&str>, usize> = HashMap::new();
        let mut interners: Vec<Interner> = Vec::new();
        let mut by_process: HashMap<u64, usize> = HashMap::new();
        let mut processes: Vec<Vec<SeqOp<M::Op>>> = Vec::new();
        let mut remaining: HashMap<(usize, u32), u32> = HashMap::new();
        let mut sorted: Vec<&Operation> = ops.to_vec();
        sorted.sort_by_key(|o| o.invoke_event);
        for op in sorted {
            if op.outcome == Outcome::Fail {
                continue;
            }
            let key = *keys.entry(op.key.as_deref()).or_insert_with(|| {
                interners.push(Interner::new());
                interners.len() - 1
            });
            let compiled = model
                .compile(op, &mut interners[key])
                .map_err(|m| (op.id, m))?;
            let optional = op.outcome != Outcome::Ok;
            if optional && model.is_read_only(&compiled) {
                continue;
            }
            let consumes = model.consumes(&compiled);
            let resets = !model.is_read_only(&compiled) && model.resets(&compiled);
            let produces = model.produces(&compiled);
            if let Some(v) = produces {
                *remaining.entry((key, v)).or_insert(0) += 1;
            }
            let p = *by_process.entry(op.process).or_insert_with(|| {
                processes.push(Vec::new());
                processes.len() - 1
            });
            processes[p].push(SeqOp {
                key,
                op: compiled,
                optional,
                rank: (
                    match op.outcome {
                        Outcome::Ok => op.complete_event.unwrap_or(usize::MAX),
                        _ => op.invoke_event,
                    },
                    op.invoke_event,
                ),
                consumes,
                produces,
                resets,
            });
        }
        let states = vec![model.init(); keys.len()];
        let mut resets_left = vec![0u32; keys.len()];
        for o in processes.iter().flatten() {
            resets_left[o.key] += u32::from(o.resets);
        }
        let left = processes.iter().map(Vec::len).sum();
        let mut s = Search {
            model,
            pos: vec![0; processes.len()],
            processes,
            states,
            remaining,
            resets_left,
            left,
            seen: HashSet::default(),
            wanted: Vec::new(),
            order: Vec::new(),
            hash: 0,
            stack: Vec::new(),
            steps: 0,
            result: Progress::Unfinished,
        };
        for k in 0..s.states.len() {
            s.hash ^= key_word(k, &s.states[k]);
        }
        for p in 0..s.processes.len() {
            s.hash ^= position_word(p, 0);
        }
        s.seen.insert(s.hash);
        s.stack.push(Frame {
            cursor: 0,
            entered_by: None,
        });
        Ok(s)
    }

    pub fn steps(&self) -> u64 {
        self.steps
    }

    pub fn configurations(&self) -> usize {
        self.seen.len()
    }

    /// Runs until decided or `budget` more steps are spent.
    pub fn run(&mut self, budget: u64) -> Progress {
        let stop = self.steps + budget;
        while self.result == Progress::Unfinished && self.steps < stop {
            self.step();
        }
        self.result
    }

    fn head(&self, p: usize) -> Option<&SeqOp<M::Op>> {
        self.processes[p].get(self.pos[p])
    }

    fn step(&mut self) {
        self.steps += 1;
        if self.left == 0 {
            self.result = Progress::Linearizable;
            return;
        }
        let fresh = self.stack.last().expect("a frame").cursor == 0;
        let (dead, forced) = self.survey(fresh);
        if fresh {
            if dead {
                self.stack.last_mut().expect("a frame").cursor = usize::MAX;
            } else if let Some(p) = forced {
                self.stack.last_mut().expect("a frame").cursor = usize::MAX;
                let mv = self.apply(p, false).expect("a read that can step steps");
                if self.seen.insert(self.hash) {
                    self.enter(mv);
                } else {
                    self.undo(mv);
                }
                return;
            }
        }
        // Options: for each live process, take its next operation, then skip it. Writes that a
        // waiting read needs go first (the reads pull the writes they saw), then the rest in
        // order of completion.
        let wanted = std::mem::take(&mut self.wanted);
        let mut order = std::mem::take(&mut self.order);
        order.clear();
        order.extend((0..self.processes.len()).filter_map(|p| {
            self.head(p).map(|o| {
                let needed = o.produces.is_some_and(|v| wanted.contains(&(o.key, v)));
                ((usize::from(!needed), o.rank.0, o.rank.1), p)
            })
        }));
        order.sort_unstable();
        let mut cursor = self.stack.last().expect("a frame").cursor;
        let mut entered = None;
        while cursor < 2 * order.len() {
            let (p, skip) = (order[cursor / 2].1, cursor % 2 == 1);
            cursor += 1;
            if skip && !self.head(p).is_some_and(|o| o.optional) {
                continue;
            }
            if let Some(mv) = self.apply(p, skip) {
                if self.seen.insert(self.hash) {
                    entered = Some(mv);
                    break;
                }
                self.undo(mv);
            }
        }
        self.order = order;
        self.wanted = wanted;
        if let Some(mv) = entered {
            self.stack.last_mut().expect("a frame").cursor = cursor;
            self.enter(mv);
            return;
        }
        // Nothing left from here: back up.
        let frame = self.stack.pop().expect("a frame");
        match frame.entered_by {
            Some(mv) => self.undo(mv),
            None => self.result = Progress::NotLinearizable,
        }
    }

    fn enter(&mut self, mv: Move<M::State>) {
        self.stack.push(Frame {
            cursor: 0,
            entered_by: Some(mv),
        });
    }

    /// One look at every process's next operation, asking the model once each: whether the
    /// configuration is dead — some process waits for a value its key does not hold and nothing
    /// left can write (no producer of it is left, or, for models that can tell
    /// ([`Model::may_reach`]), the key cannot get there without an operation that resets it and
    /// none is left) — and which process's next operation is a read that can take effect now.
    /// Fills `wanted` with the (key, value) pairs waiting operations need. When resuming a
    /// configuration (`fresh` false) only `wanted` is needed, so only operations that need a
    /// particular value are asked about.
    fn survey(&mut self, fresh: bool) -> (bool, Option<usize>) {
        let mut wanted = std::mem::take(&mut self.wanted);
        wanted.clear();
        let (mut dead, mut forced) = (false, None);
        for p in 0..self.processes.len() {
            let Some(o) = self.head(p) else { continue };
            // Blind writes can neither be forced nor wait for anything.
            let read_only = self.model.is_read_only(&o.op);
            if o.consumes.is_none() && !(fresh && read_only) {
                continue;
            }
            let state = &self.states[o.key];
            if self.model.step(state, &o.op).is_some() {
                if forced.is_none() && read_only {
                    forced = Some(p);
                }
                continue;
            }
            if let Some(v) = o.consumes {
                wanted.push((o.key, v));
            }
            if o.optional || dead {
                continue;
            }
            dead = o
                .consumes
                .is_some_and(|v| self.remaining.get(&(o.key, v)).copied().unwrap_or(0) == 0)
                || (read_only
                    && self.resets_left[o.key] == 0
                    && !self.model.may_reach(state, &o.op));
        }
        self.wanted = wanted;
        (dead, forced)
    }

    /// Takes (or skips) process `p`'s next operation, if the model allows it.
    fn apply(&mut self, p: usize, skip: bool) -> Option<Move<M::State>> {
        let o = &self.processes[p][self.pos[p]];
        let key = o.key;
        let before = self.states[key].clone();
        if !skip {
            let after = self.model.step(&before, &o.op)?;
            self.hash ^= key_word(key, &before) ^ key_word(key, &after);
            self.states[key] = after;
        }
        if let Some(v) = o.produces {
            *self.remaining.get_mut(&(key, v)).expect("counted") -= 1;
        }
        self.resets_left[key] -= u32::from(o.resets);
        self.hash ^= position_word(p, self.pos[p]) ^ position_word(p, self.pos[p] + 1);
        self.pos[p] += 1;
        self.left -= 1;
        Some(Move {
            process: p,
            skipped: skip,
            before,
        })
    }

    fn undo(&mut self, mv: Move<M::State>) {
        let p = mv.process;
        self.pos[p] -= 1;
        self.left += 1;
        self.hash ^= position_word(p, self.pos[p]) ^ position_word(p, self.pos[p] + 1);
        let o = &self.processes[p][self.pos[p]];
        if let Some(v) = o.produces {
            *self.remaining.get_mut(&(o.key, v)).expect("counted") += 1;
        }
        self.resets_left[o.key] += u32::from(o.resets);
        if !mv.skipped {
            let key = o.key;
            self.hash ^= key_word(key, &self.states[key]) ^ key_word(key, &mv.before);
            self.states[key] = mv.before;
        }
    }
}

fn mix(seed: u64, a: u64, b: u64) -> u64 {
    let mut s = seed ^ a.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ b.rotate_left(29);
    splitmix64(&mut s)
}

fn words(kind: u64, a: u64, b: u64) -> u128 {
    ((mix(0x5eed_0001 ^ kind, a, b) as u128) << 64) | mix(0x5eed_0002 ^ kind, a, b) as u128
}

fn key_word<S: Hash>(key: usize, state: &S) -> u128 {
    words(1, key as u64, state_hash(state))
}

fn position_word(process: usize, pos: usize) -> u128 {
    words(2, process as u64, pos as u64)
}

/// The values some operation that certainly happened saw: every `ok` read's and cas's, and —
/// because an indeterminate cas whose result was seen certainly happened too — the value each
/// such cas replaced, and so on down the chain (a fixpoint: an indeterminate write is kept
/// exactly when something that happened needed its value).
fn seen_values(ops: &[&Operation]) -> std::collections::HashSet<String> {
    use super::versions::{consumed, effect, text, Effect};
    let mut seen: std::collections::HashSet<String> = ops
        .iter()
        .filter_map(|o| consumed(o))
        .map(|v| text(&v))
        .collect();
    // Indeterminate cas operations, as (to, from): each whose `to` is seen makes `from` seen.
    let mut pending: Vec<(String, String)> = ops
        .iter()
        .filter(|o| o.outcome == Outcome::Info)
        .filter_map(|o| match effect(o) {
            Effect::Cas { from, to } => Some((text(&to), text(&from))),
            _ => None,
        })
        .collect();
    loop {
        let before = pending.len();
        pending.retain(|(to, from)| {
            if seen.contains(to) {
                seen.insert(from.clone());
                false
            } else {
                true
            }
        });
        if pending.len() == before {
            return seen;
        }
    }
}

/// Sequential consistency of one register key whose written values are unique, decided exactly
/// and in linear time; `None` when the shortcut does not apply (values written twice, or
/// operations other than read, write and cas), and the search must decide.
///
/// With unique values each read names the write it saw, so what remains is to order the writes.
/// A successful cas `a → b` puts `b` immediately after `a`, so writes linked by cas form *chains*
/// that sit in the order as blocks, and the initial (absent) value starts the first. Each pair of
/// consecutive operations of a process asks that the write the first one did or saw come before
/// (strictly, when the second writes) the write the second one does or sees. Within a chain that
/// is a comparison of positions; across chains it is an edge. An order exists exactly when every
/// in-chain comparison holds and the chain graph has no cycle: then the writes go chain by chain
/// in a topological order, each read right after the write it saw, in process order.
///
/// Indeterminate writes nobody saw are left out (never happening is one of their possible
/// fates, and it only removes constraints); those somebody saw happened.
pub fn register_key(ops: &[&Operation]) -> Option<bool> {
    use super::versions::{consumed, effect, text, Effect};
    let mut ops: Vec<&Operation> = ops
        .iter()
        .copied()
        .filter(|o| o.outcome != Outcome::Fail)
        .collect();
    ops.sort_by_key(|o| o.invoke_event);
    let seen = seen_values(&ops);
    // Node 0 is the initial absent value; every kept write is a node.
    let mut node_of_value: HashMap<String, usize> = HashMap::new();
    node_of_value.insert("null".into(), 0);
    let mut prev: Vec<Option<usize>> = vec![None];
    let mut kept: Vec<(&Operation, Option<usize>)> = Vec::new(); // op, node it writes
    for op in &ops {
        match (effect(op), op.outcome) {
            (Effect::Read(_), Outcome::Ok) => kept.push((op, None)),
            (Effect::Other, _) if op.f == "read" => {}
            (Effect::Write(v), _) | (Effect::Cas { to: v, .. }, _) => {
                let t = text(&v);
                if op.outcome != Outcome::Ok && !seen.contains(&t) {
                    continue;
                }
                if t == "null" || node_of_value.contains_key(&t) {
                    return None;
                }
                node_of_value.insert(t, prev.len());
                kept.push((op, Some(prev.len())));
                prev.push(None);
            }
            _ => return None,
        }
    }
    // Cas links: `to` immediately follows `from`.
    let mut next: Vec<Option<usize>> = vec![None; prev.len()];
    for (op, node) in &kept {
        if let (Effect::Cas { from, .. }, Some(b)) = (effect(op), node) {
            let Some(&a) = node_of_value.get(&text(&from)) else {
                return Some(true); // it replaced a value nobody wrote
            };
            if next[a].is_some() {
                return Some(true); // two writes cannot both come right after a
            }
            next[a] = Some(*b);
            prev[*b] = Some(a);
        }
    }
    // Chains and positions in them.
    let n = prev.len();
    let mut chain = vec![usize::MAX; n];
    let mut index = vec![0usize; n];
    let mut chains = 0;
    for head in (0..n).filter(|&x| prev[x].is_none()) {
        let (mut at, mut i) = (Some(head), 0);
        while let Some(x) = at {
            chain[x] = chains;
            index[x] = i;
            i += 1;
            at = next[x];
        }
        chains += 1;
    }
    if chain.contains(&usize::MAX) {
        return Some(true); // a cas cycle: a value written after itself
    }
    // The node each operation did or saw.
    let node = |op: &Operation, writes: Option<usize>| -> Option<usize> {
        writes.or_else(|| consumed(op).and_then(|v| node_of_value.get(&text(&v)).copied()))
    };
    let mut edges: Vec<Vec<usize>> = vec![Vec::new(); chains];
    for c in 0..chains {
        if c != chain[0] {
            edges[chain[0]].push(c);
        }
    }
    let mut last: HashMap<u64, usize> = HashMap::new();
    for &(op, writes) in &kept {
        let Some(y) = node(op, writes) else {
            return Some(true); // it saw a value nobody wrote
        };
        if let Some(x) = last.insert(op.process, y) {
            let strict = writes.is_some();
            if chain[x] == chain[y] {
                let ok = if strict {
                    index[x] < index[y]
                } else {
                    index[x] <= index[y]
                };
                if !ok {
                    return Some(true);
                }
            } else {
                edges[chain[x]].push(chain[y]);
            }
        }
    }
    // Kahn: an order of the chains exists iff there is no cycle.
    let mut indegree = vec![0usize; chains];
    for targets in &edges {
        for &t in targets {
            indegree[t] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..chains).filter(|&c| indegree[c] == 0).collect();
    let mut placed = 0;
    while let Some(c) = ready.pop() {
        placed += 1;
        for &t in &edges[c] {
            indegree[t] -= 1;
            if indegree[t] == 0 {
                ready.push(t);
            }
        }
    }
    Some(placed < chains)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Event, EventType, History};
    use crate::models::Register;
    use serde_json::{json, Value};

    /// `(process, f, key, value, completion value)` in order; each op completes before the next.
    fn serial(ops: &[(u64, &str, &str, Value, Value)]) -> History {
        let mut events = Vec::new();
        for (process, f, key, input, output) in ops {
            for (kind, value) in [(EventType::Invoke, input), (EventType::Ok, output)] {
                let event =
                    Event::client(events.len(), *process, kind, f, Some(key), value.clone());
                events.push(event);
            }
        }
        History::from_events("t", events).unwrap()
    }

    fn decide(h: &History) -> Progress {
        let ops: Vec<&Operation> = h.ops.iter().collect();
        let model = Register::with_cas();
        let mut s = Search::new(&model, &ops).unwrap();
        let found = s.run(1_000_000);
        let keys: std::collections::BTreeSet<_> = h.ops.iter().map(|o| o.key.clone()).collect();
        if keys.len() == 1 {
            let quick = register_key(&ops).expect("unique values");
            assert_eq!(
                quick,
                found == Progress::NotLinearizable,
                "the shortcut agrees"
            );
        }
        found
    }

    /// Events as `(process, type, f, value)` in the order given, all on key `x`.
    fn events(evs: &[(u64, EventType, &str, Value)]) -> History {
        let events = evs
            .iter()
            .enumerate()
            .map(|(i, (p, kind, f, v))| Event::client(i, *p, *kind, f, Some("x"), v.clone()))
            .collect();
        History::from_events("t", events).unwrap()
    }

    #[test]
    fn an_indeterminate_cas_that_was_seen_keeps_the_write_it_replaced() {
        // Issue 25: w1 (info), cas 1→2 (info), a read of 2, then writes of 5 and 9 and a read of
        // 5. Sequential: w1, cas, r2, w5, r5, w9. The exact check once dropped w1 (nobody *read*
        // 1) and then called the cas a replacement of a value nobody wrote.
        use EventType::{Info, Invoke, Ok};
        let h = events(&[
            (1, Invoke, "write", json!(1)),
            (2, Invoke, "cas", json!([1, 2])),
            (1, Info, "write", json!(1)),
            (2, Info, "cas", json!([1, 2])),
            (3, Invoke, "read", json!(null)),
            (3, Ok, "read", json!(2)),
            (4, Invoke, "write", json!(5)),
            (4, Ok, "write", json!(5)),
            (5, Invoke, "write", json!(9)),
            (5, Ok, "write", json!(9)),
            (6, Invoke, "read", json!(null)),
            (6, Ok, "read", json!(5)),
        ]);
        assert_eq!(decide(&h), Progress::Linearizable);
        // Without the write of 1, the cas replaced a value nobody wrote.
        let h = events(&[
            (2, Invoke, "cas", json!([1, 2])),
            (2, Info, "cas", json!([1, 2])),
            (3, Invoke, "read", json!(null)),
            (3, Ok, "read", json!(2)),
        ]);
        assert_eq!(decide(&h), Progress::NotLinearizable);
    }

    #[test]
    fn ignores_real_time_but_not_process_order() {
        // p2 reads nil after p1's write completed: stale in real time, fine sequentially.
        let h = serial(&[
            (1, "write", "x", json!(1), json!(1)),
            (2, "read", "x", json!(null), json!(null)),
        ]);
        assert_eq!(decide(&h), Progress::Linearizable);
        // The same process cannot read nil after its own write.
        let h = serial(&[
            (1, "write", "x", json!(1), json!(1)),
            (1, "read", "x", json!(null), json!(null)),
        ]);
        assert_eq!(decide(&h), Progress::NotLinearizable);
    }

    #[test]
    fn keys_together_can_fail_where_each_alone_passes() {
        // Dekker: each process writes its flag, then reads the other's as unset.
        let h = serial(&[
            (1, "write", "x", json!(1), json!(1)),
            (2, "write", "y", json!(1), json!(1)),
            (1, "read", "y", json!(null), json!(null)),
            (2, "read", "x", json!(null), json!(null)),
        ]);
        assert_eq!(decide(&h), Progress::NotLinearizable);
        for key in ["x", "y"] {
            let ops: Vec<&Operation> = h
                .ops
                .iter()
                .filter(|o| o.key.as_deref() == Some(key))
                .collect();
            let model = Register::with_cas();
            let mut s = Search::new(&model, &ops).unwrap();
            assert_eq!(s.run(1000), Progress::Linearizable, "key {key} alone");
        }
    }
}
