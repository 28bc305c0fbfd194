//! Linearizability of a register whose written values are unique, decided exactly in
//! `O(n log n)` time and linear memory, with no search.
//!
//! Most register tests write each value at most once per key (faultline's own workload, and most
//! of Jepsen's). Then every read names the one write it saw, and linearizability stops being a
//! search over interleavings: it becomes a question about the order of the writes, which has a
//! direct answer (Gibbons & Korach, "Testing shared memories", 1997, for read/write registers;
//! the zone conditions of Golab, Li & Shah, 2011). This module extends that answer to what
//! histories hold in practice: compare-and-set, indeterminate operations, failed operations and
//! reads of the initial (absent) value. Keys it does not apply to — a value written twice, `null`
//! written, other operations — return `None`, and the WGL search decides them.
//!
//! ## The argument
//! Positions are event positions in the history; an operation `o` occupies `[s(o), e(o)]`, with
//! `e = ∞` when it is indeterminate (`info`, or still open at the end). A linearization is an order
//! of operations in which each has a point inside its interval, the points never decrease along
//! the order, and the register's rules hold. (Two closed intervals with non-decreasing points give
//! exactly real-time order: if `e(a) < s(b)` then `a`'s point is below `b`'s.)
//!
//! 1. **Which operations take part.** Failed operations did not happen and indeterminate reads
//!    say nothing: both are dropped. Every `ok` operation happened. An indeterminate write or cas
//!    happened *if and only if its value is consumed* by an operation that takes part (a read
//!    returns it, or a cas replaces it) — with unique values nothing else can produce that value.
//!    An indeterminate write nobody consumed may be dropped: in any linearization, the operations
//!    between it and the next write consume nothing it wrote, so removing it changes no state any
//!    remaining consumer sees. The participants are therefore a closure, computed from the `ok`
//!    operations outward.
//! 2. **Groups.** Each participating write (or cas) of `v`, with the reads that returned `v`,
//!    forms the *group* of `v`; the initial value's group has a virtual write at `-∞`. In any
//!    linearization a group is contiguous and its write comes first (after it the register holds
//!    `v`; the next write ends that). A cas `a → b` is the write of `b`'s group and must directly
//!    follow `a`'s group, so groups linked by cas form *chains*, and two participating cas from
//!    the same `a` cannot both follow it (a violation). A chain is placed as one *block*, its
//!    groups in chain order.
//! 3. **A block in isolation.** Entering a group at time `T`, the write takes the point
//!    `max(T, s(w))`, which every member must not exceed: so the group is possible iff
//!    `max(T, s(w)) ≤ m`, where `m` is the earliest end in the group; the reads then follow in
//!    order of start, and the group is left at `max(T, A)`, with `A` its latest start. For a chain
//!    of groups `g1 … gk` that gives: the block is possible at entry `T` iff `T ≤ D` (`D` = the
//!    earliest end in the block) and, inside it, `s(w_j) ≤ m_j` and `A_i ≤ m_j` for every `i < j`;
//!    it is left at `max(T, A)`, `A` the latest start in the block. The checks inside are
//!    independent of `T`: a failure there is a violation whatever else happens.
//! 4. **Ordering blocks.** Entering blocks one after another from `T = -∞`, block `Y` may come
//!    after `X` only if `A_X ≤ D_Y`. So `Y` must precede `X` whenever `D_Y < A_X`: the order exists
//!    iff this relation has no cycle (the initial block, with `D = -∞`, is then first by itself).
//!    *Any cycle implies one of length two*: on a cycle `X1 → … → Xk` with no 2-cycle, each edge
//!    `X(i-1) → Xi` (`D(i-1) < A(i)`) forbids the reverse one, so `D(i) ≥ A(i-1) > D(i-2)`; going
//!    round the cycle two steps at a time gives `D(i) > D(i)`. So the history is linearizable iff
//!    every block is possible in isolation and no two blocks `X`, `Y` have `D_Y < A_X` and
//!    `D_X < A_Y`. Pairs are found in `O(n log n)`: sort blocks by `D`; for each `Y`, the blocks
//!    with `D_X < A_Y` are a prefix, and the largest `A` in it (other than `Y`'s) decides.
//! 5. **The order itself.** Without 2-cycles, sorting blocks by `min(A, D)`, with blocks where
//!    `D < A` last among equals, respects every edge (if `D_Y < A_X` then `min(A_Y, D_Y) ≤ D_X`,
//!    else `D_X < A_Y` would close a 2-cycle). The decision replays that order — every block's
//!    entry against its `D` — and returns `None` (let the search decide) if the replay ever
//!    disagreed with the analysis, so a verdict here is never a guess.
//!
//! A violation comes with its *core*: the few operations that prove it (the two blocks' earliest
//! ending and latest starting operations with the writes that chain them, or the group that
//! fails on its own). The core fails on its own, so the search can explain and shrink it.

use crate::history::{Operation, Outcome};
use serde_json::Value;
use std::hash::{BuildHasherDefault, Hasher};

/// Maps keyed by values: a multiplicative hash (the values are the history's own, integers
/// mostly; SipHash's protection against chosen keys buys nothing here and costs a third of the
/// time).
type HashMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<Fx>>;

#[derive(Default)]
struct Fx(u64);

impl Hasher for Fx {
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(word));
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(n.into());
    }
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
    fn write_i64(&mut self, n: i64) {
        self.write_u64(n as u64);
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// A value as this module compares it: integers without allocation, anything else by its
/// canonical JSON text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Val {
    Null,
    Int(i64),
    Text(String),
}

impl Val {
    fn of(v: &Value) -> Val {
        match v {
            Value::Null => Val::Null,
            Value::Number(n) if n.is_i64() => Val::Int(n.as_i64().expect("checked")),
            other => Val::Text(other.to_string()),
        }
    }
}

/// What an exact decision found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decision {
    pub linearizable: bool,
    /// When not linearizable: ids of operations that fail on their own.
    pub core: Vec<usize>,
}

impl Decision {
    fn holds() -> Decision {
        Decision {
            linearizable: true,
            core: Vec::new(),
        }
    }

    fn violated(mut core: Vec<usize>) -> Decision {
        core.retain(|&id| id != INITIAL);
        core.sort_unstable();
        core.dedup();
        Decision {
            linearizable: false,
            core,
        }
    }
}

/// The virtual write of the initial value.
const INITIAL: usize = usize::MAX;
const MINUS_INFINITY: i64 = i64::MIN;

/// One participating operation: its interval and id.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: i64,
    end: i64,
    id: usize,
}

impl Span {
    /// An indeterminate operation may take effect at any time after its invocation.
    fn of(op: &Operation) -> Span {
        let end = match (op.outcome, op.complete_event) {
            (Outcome::Ok, Some(e)) => e as i64,
            _ => i64::MAX,
        };
        Span {
            start: op.invoke_event as i64,
            end,
            id: op.id,
        }
    }
}

/// A group: the write of a value and the reads that returned it.
struct Group {
    writer: Span,
    /// The earliest end among the group's operations, and the latest start.
    earliest_end: Span,
    latest_start: Span,
    /// The value the writer replaced, when it is a cas.
    from: Option<Val>,
    /// The group that follows by cas, if any.
    next: Option<usize>,
}

impl Group {
    fn new(writer: Span, from: Option<Val>) -> Group {
        Group {
            writer,
            earliest_end: writer,
            latest_start: writer,
            from,
            next: None,
        }
    }

    fn add(&mut self, s: Span) {
        if s.end < self.earliest_end.end {
            self.earliest_end = s;
        }
        if s.start > self.latest_start.start {
            self.latest_start = s;
        }
    }
}

/// A chain of groups placed as one block.
struct Block {
    /// Group indices, in chain order.
    groups: Vec<usize>,
    earliest_end: Span,
    latest_start: Span,
}

impl Block {
    fn d(&self) -> i64 {
        self.earliest_end.end
    }
    fn a(&self) -> i64 {
        self.latest_start.start
    }
}

/// What one operation is, for this module.
enum Kind {
    Read(Val),
    Write(Val),
    Cas(Val, Val),
}

fn kind(op: &Operation, cas: bool) -> Option<Kind> {
    match op.f.as_str() {
        "read" => Some(Kind::Read(Val::of(&op.output))),
        "write" => Some(Kind::Write(Val::of(&op.input))),
        "cas" if cas => match &op.input {
            Value::Array(pair) if pair.len() == 2 => {
                Some(Kind::Cas(Val::of(&pair[0]), Val::of(&pair[1])))
            }
            _ => None,
        },
        _ => None,
    }
}

/// Decides one key's operations (in any order), or `None` when the key's written values are
/// not unique or it holds operations this module does not know; `cas` says whether the model has
/// compare-and-set.
pub fn decide(ops: &[&Operation], cas: bool) -> Option<Decision> {
    let mut kinds = Vec::with_capacity(ops.len());
    for op in ops {
        if !op.says_something() {
            continue;
        }
        kinds.push((*op, kind(op, cas)?));
    }
    // The one writer of each value.
    let mut writer_of: HashMap<Val, usize> =
        HashMap::with_capacity_and_hasher(kinds.len(), Default::default());
    for (i, (_, k)) in kinds.iter().enumerate() {
        if let Kind::Write(v) | Kind::Cas(_, v) = k {
            if *v == Val::Null || writer_of.insert(v.clone(), i).is_some() {
                return None;
            }
        }
    }
    let (participates, because) = match closure(&kinds, &writer_of) {
        Ok(p) => p,
        Err(core) => return Some(Decision::violated(core)),
    };
    let violated = |core| Some(Decision::violated(with_consumers(core, &because)));
    let groups = match groups(&kinds, &writer_of, &participates) {
        Ok(g) => g,
        Err(core) => return violated(core),
    };
    let blocks = match blocks(&groups) {
        Ok(b) => b,
        Err(core) => return violated(core),
    };
    if let Some((x, y)) = two_cycle(&blocks) {
        let mut core = block_core(&groups, &blocks[x]);
        core.extend(block_core(&groups, &blocks[y]));
        return violated(core);
    }
    // Replay the order the analysis implies; a disagreement means the analysis is wrong, and
    // the search decides instead.
    replay(&blocks).then(Decision::holds)
}

/// For each indeterminate operation that takes part (by id), the consumer of its value that made
/// it take part.
type Because = std::collections::HashMap<usize, usize>;

/// `core` with, for each indeterminate operation in it, the consumers that make it take part,
/// so that the core fails on its own. Adding a consumer never explains anything already in the
/// core (it reads or replaces a value the core writes), so the core still fails.
fn with_consumers(mut core: Vec<usize>, because: &Because) -> Vec<usize> {
    let mut i = 0;
    while i < core.len() {
        if let Some(&c) = because.get(&core[i]) {
            if !core.contains(&c) {
                core.push(c);
            }
        }
        i += 1;
    }
    core
}

/// The participating operations (positions in `kinds`): every ok operation, and every
/// indeterminate write whose value a participant consumes; and why each indeterminate one takes
/// part. `Err` names an operation that consumes a value nobody wrote.
fn closure(
    kinds: &[(&Operation, Kind)],
    writer_of: &HashMap<Val, usize>,
) -> Result<(Vec<bool>, Because), Vec<usize>> {
    let mut participates = vec![false; kinds.len()];
    // Who made an indeterminate operation take part: the consumer of its value.
    let mut because: Vec<Option<usize>> = vec![None; kinds.len()];
    let mut work: Vec<usize> = Vec::new();
    for (i, (op, _)) in kinds.iter().enumerate() {
        if op.outcome == Outcome::Ok {
            participates[i] = true;
            work.push(i);
        }
    }
    while let Some(i) = work.pop() {
        let consumed = match &kinds[i].1 {
            Kind::Read(v) | Kind::Cas(v, _) => v,
            Kind::Write(_) => continue,
        };
        if *consumed == Val::Null {
            continue;
        }
        let Some(&w) = writer_of.get(consumed) else {
            // The consumer, and the consumers that made it take part, down to an ok one.
            let mut core = vec![kinds[i].0.id];
            let mut at = because[i];
            while let Some(c) = at {
                core.push(kinds[c].0.id);
                at = because[c];
            }
            return Err(core);
        };
        if !participates[w] {
            participates[w] = true;
            because[w] = Some(i);
            work.push(w);
        }
    }
    let by_id = because
        .iter()
        .enumerate()
        .filter_map(|(w, c)| c.map(|c| (kinds[w].0.id, kinds[c].0.id)))
        .collect();
    Ok((participates, by_id))
}

/// The groups, the initial value's first.
fn groups(
    kinds: &[(&Operation, Kind)],
    writer_of: &HashMap<Val, usize>,
    participates: &[bool],
) -> Result<Vec<Group>, Vec<usize>> {
    let initial = Span {
        start: MINUS_INFINITY,
        end: MINUS_INFINITY,
        id: INITIAL,
    };
    let mut groups = vec![Group::new(initial, None)];
    let mut index: HashMap<Val, usize> =
        HashMap::with_capacity_and_hasher(writer_of.len() + 1, Default::default());
    index.insert(Val::Null, 0);
    for (i, (op, k)) in kinds.iter().enumerate() {
        if !participates[i] {
            continue;
        }
        match k {
            Kind::Write(v) => {
                index.insert(v.clone(), groups.len());
                groups.push(Group::new(Span::of(op), None));
            }
            Kind::Cas(from, v) => {
                index.insert(v.clone(), groups.len());
                groups.push(Group::new(Span::of(op), Some(from.clone())));
            }
            Kind::Read(_) => {}
        }
    }
    for (i, (op, k)) in kinds.iter().enumerate() {
        if let (true, Kind::Read(v)) = (participates[i], k) {
            let g = index[v];
            groups[g].add(Span::of(op));
        }
    }
    // Cas links: the group of `to` follows the group of `from`, and only one can.
    for g in 1..groups.len() {
        let Some(from) = groups[g].from.clone() else {
            continue;
        };
        let f = index[&from];
        if let Some(other) = groups[f].next {
            let mut core = vec![groups[other].writer.id, groups[g].writer.id];
            if f != 0 {
                core.push(groups[f].writer.id);
            }
            return Err(core);
        }
        groups[f].next = Some(g);
    }
    Ok(groups)
}

/// The chains of groups as blocks, each checked in isolation (step 3 of the argument).
fn blocks(groups: &[Group]) -> Result<Vec<Block>, Vec<usize>> {
    let mut placed = vec![false; groups.len()];
    let mut out = Vec::new();
    for head in 0..groups.len() {
        if groups[head].from.is_some() {
            continue;
        }
        let mut chain = Vec::new();
        let mut at = Some(head);
        while let Some(g) = at {
            placed[g] = true;
            chain.push(g);
            at = groups[g].next;
        }
        out.push(check_chain(groups, chain)?);
    }
    // Groups no head reaches are a cycle of cas: a value that exists only if it already did.
    if let Some(g) = placed.iter().position(|p| !p) {
        let mut core = Vec::new();
        let mut at = Some(g);
        while let Some(x) = at.filter(|x| !core.contains(&groups[*x].writer.id)) {
            core.push(groups[x].writer.id);
            at = groups[x].next;
        }
        return Err(core);
    }
    Ok(out)
}

fn check_chain(groups: &[Group], chain: Vec<usize>) -> Result<Block, Vec<usize>> {
    let first = &groups[chain[0]];
    let mut earliest_end = first.earliest_end;
    let mut latest_start = first.latest_start;
    // The latest start so far in the chain, and the group it is in.
    let mut latest_before: Option<(Span, usize)> = None;
    for (pos, &g) in chain.iter().enumerate() {
        let group = &groups[g];
        let m = group.earliest_end;
        let writers = || chain[..=pos].iter().map(|&x| groups[x].writer.id);
        if group.writer.start > m.end {
            // A member ended before the write it saw began.
            let mut core = vec![m.id];
            core.extend(writers());
            return Err(core);
        }
        if let Some((late, _)) = latest_before {
            if late.start > m.end {
                // A member of this group ended before a member of an earlier group began.
                let mut core = vec![late.id, m.id];
                core.extend(writers());
                return Err(core);
            }
        }
        if latest_before.is_none_or(|(l, _)| group.latest_start.start > l.start) {
            latest_before = Some((group.latest_start, pos));
        }
        if m.end < earliest_end.end {
            earliest_end = m;
        }
        if group.latest_start.start > latest_start.start {
            latest_start = group.latest_start;
        }
    }
    Ok(Block {
        groups: chain,
        earliest_end,
        latest_start,
    })
}

/// Two blocks that must each precede the other, if any (step 4).
fn two_cycle(blocks: &[Block]) -> Option<(usize, usize)> {
    let mut by_d: Vec<usize> = (0..blocks.len()).collect();
    by_d.sort_by_key(|&b| blocks[b].d());
    // The two largest `A`s in each prefix of `by_d` (two, so that a block can be left out).
    let mut best: Vec<[Option<usize>; 2]> = Vec::with_capacity(by_d.len());
    let mut top: [Option<usize>; 2] = [None, None];
    let larger = |b: usize, than: Option<usize>| than.is_none_or(|t| blocks[b].a() > blocks[t].a());
    for &b in &by_d {
        if larger(b, top[0]) {
            top = [Some(b), top[0]];
        } else if larger(b, top[1]) {
            top[1] = Some(b);
        }
        best.push(top);
    }
    for y in 0..blocks.len() {
        // Blocks with D < A_y: a prefix of `by_d`.
        let len = by_d.partition_point(|&x| blocks[x].d() < blocks[y].a());
        if len == 0 {
            continue;
        }
        let Some(x) = best[len - 1].into_iter().flatten().find(|&x| x != y) else {
            continue;
        };
        if blocks[x].a() > blocks[y].d() {
            return Some((x, y));
        }
    }
    None
}

/// Replays the order of step 5 from `T = -∞`; true when every block can be entered.
fn replay(blocks: &[Block]) -> bool {
    let mut order: Vec<&Block> = blocks.iter().collect();
    order.sort_by_key(|b| (b.a().min(b.d()), b.d() < b.a()));
    let mut t = MINUS_INFINITY;
    for b in order {
        if t > b.d() {
            return false;
        }
        t = t.max(b.a());
    }
    true
}

/// The operations that give a block its `D` and `A`, and the writes that chain them from the
/// block's head.
fn block_core(groups: &[Group], block: &Block) -> Vec<usize> {
    let ids = [block.earliest_end.id, block.latest_start.id];
    let holds = |g: usize| {
        let group = &groups[g];
        ids.contains(&group.writer.id)
            || ids.contains(&group.earliest_end.id)
            || ids.contains(&group.latest_start.id)
    };
    let last = block.groups.iter().rposition(|&g| holds(g)).unwrap_or(0);
    let mut core: Vec<usize> = ids.into_iter().collect();
    core.extend(block.groups[..=last].iter().map(|&g| groups[g].writer.id));
    core
}
