//! The linearizability search for one key.
//!
//! Wing and Gong's search with Lowe's just-in-time linearization, as Porcupine does it: walk a
//! list of call and return entries in real-time order; at a call, try to take the operation
//! effect now (if the model allows it and the resulting configuration is new), removing its
//! entries from the list and starting over from the head; at a return, the operation it belongs
//! to has not taken effect yet although it already returned, so undo the most recent choice and
//! try the next candidate. The history is linearizable when the walk runs off the end of the list.
//!
//! What makes it fast:
//! - The memo key is the pair (set of linearized operations, model state), and it is hashed
//!   incrementally: each operation owns a random 64-bit word and the set's hash is the XOR of the
//!   words of its members (Zobrist hashing), so adding or removing an operation costs one XOR.
//! - The set is stored trimmed: the leading all-ones words and the trailing zero words are left
//!   out, because the search linearizes operations roughly in invocation order. A memo entry is a
//!   few words even for keys with many thousands of operations.
//! - Undo is a stack of (entry, previous state); nothing is allocated per step except what the
//!   memo keeps and what the model's `step` builds.
//! - Two prunings, both sound: a read-only operation that can take effect is taken at once and
//!   never revisited (moving a read earlier changes no state), and a model may say that the read
//!   with the earliest deadline can no longer succeed from the current state
//!   ([`Model::may_reach`]), which ends that branch early.
//! - The search runs in slices ([`Search::run`]) so a scheduler can interleave many keys and
//!   abandon the rest as soon as one fails.
//!
//! Indeterminate operations have a call entry and no return entry: they may be linearized at any
//! point after their invocation, and when the walk ends with some of them untaken, they are the
//! operations that never happened.

use crate::model::Model;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash, Hasher};

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
/// How many list entries [`Search::doomed`] looks at.
const DOOM_WALK: u32 = 256;

/// One operation as the search sees it.
pub struct SearchOp<O> {
    pub op: O,
    /// Position of the invocation in the history.
    pub call: usize,
    /// Position of the completion; `None` for an indeterminate operation.
    pub ret: Option<usize>,
}

/// Where the search ended up when it could go no further: the longest linearizable prefix it
/// found, the state after it, and the operation whose return came before it could take effect.
#[derive(Clone, Debug)]
pub struct Stuck<S> {
    /// Indices (into the ops given to [`Search::new`]) in linearization order.
    pub prefix: Vec<usize>,
    pub state: S,
    /// The operation that had to take effect next and could not.
    pub blocked: usize,
    /// Operations invoked before `blocked` returned that had not taken effect either.
    pub pending: Vec<usize>,
}

/// An operation the search chose to take effect, and the state before it.
struct Choice<S> {
    call: u32,
    /// Taken because it could not be wrong to (see `step`); never the point to resume from.
    forced: bool,
    before: S,
}

/// The outcome of [`Search::run`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Linearizable,
    NotLinearizable,
    /// The step budget ran out; call `run` again to continue.
    Unfinished,
}

pub struct Search<'m, M: Model> {
    model: &'m M,
    ops: Vec<M::Op>,
    // The entry list. Entry 0 is the head sentinel.
    next: Vec<u32>,
    prev: Vec<u32>,
    entry_op: Vec<u32>,
    /// For a call entry, its return entry (NIL for an indeterminate operation); NIL for returns.
    entry_ret: Vec<u32>,
    is_call: Vec<bool>,
    linearized: TrimmedBits,
    zobrist: Vec<u64>,
    read_only: Vec<bool>,
    resets: Vec<bool>,
    stack: Vec<Choice<M::State>>,
    state: M::State,
    cursor: u32,
    memo: Memo<M::State>,
    steps: u64,
    outcome: Option<bool>,
    stuck: Option<Stuck<M::State>>,
}

impl<'m, M: Model> Search<'m, M> {
    /// Prepares a search over `ops`, which must be in invocation order with distinct positions.
    pub fn new(model: &'m M, ops: Vec<SearchOp<M::Op>>) -> Search<'m, M> {
        let n = ops.len();
        assert!(n < (NIL as usize) / 2, "too many operations for one key");
        // (position, entry kind, op); calls sort before returns at equal positions, which
        // cannot happen for valid histories but keeps the order total.
        let mut events: Vec<(usize, bool, u32)> = Vec::with_capacity(2 * n);
        for (i, o) in ops.iter().enumerate() {
            events.push((o.call, true, i as u32));
            if let Some(r) = o.ret {
                assert!(r > o.call, "an operation returns after it is invoked");
                events.push((r, false, i as u32));
            }
        }
        events.sort_unstable_by_key(|&(pos, is_call, _)| (pos, !is_call));
        let entries = events.len() + 1;
        let mut next = vec![NIL; entries];
        let mut prev = vec![NIL; entries];
        let mut entry_op = vec![NIL; entries];
        let mut entry_ret = vec![NIL; entries];
        let mut is_call = vec![false; entries];
        let mut call_entry = vec![NIL; n];
        for (k, &(_, call, op)) in events.iter().enumerate() {
            let e = (k + 1) as u32;
            prev[e as usize] = e - 1;
            next[(e - 1) as usize] = e;
            entry_op[e as usize] = op;
            is_call[e as usize] = call;
            if call {
                call_entry[op as usize] = e;
            } else {
                entry_ret[call_entry[op as usize] as usize] = e;
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1d_u64;
        let zobrist = (0..n).map(|_| splitmix64(&mut seed)).collect();
        let state = model.init();
        let read_only = ops.iter().map(|o| model.is_read_only(&o.op)).collect();
        let resets = ops.iter().map(|o| model.resets(&o.op)).collect();
        Search {
            read_only,
            resets,
            model,
            ops: ops.into_iter().map(|o| o.op).collect(),
            cursor: next[HEAD as usize],
            next,
            prev,
            entry_op,
            entry_ret,
            is_call,
            linearized: TrimmedBits::new(n),
            zobrist,
            stack: Vec::with_capacity(n),
            state,
            memo: Memo::default(),
            steps: 0,
            outcome: None,
            stuck: None,
        }
    }

    /// Runs at most `budget` steps. Returns the verdict once there is one.
    pub fn run(&mut self, budget: u64) -> Progress {
        let mut left = budget;
        while self.outcome.is_none() && left > 0 {
            left -= 1;
            self.step();
        }
        match self.outcome {
            Some(true) => Progress::Linearizable,
            Some(false) => Progress::NotLinearizable,
            None => Progress::Unfinished,
        }
    }

    /// Steps taken so far.
    pub fn steps(&self) -> u64 {
        self.steps
    }

    /// Distinct configurations (linearized set, state) visited so far.
    pub fn configurations(&self) -> usize {
        self.memo.len()
    }

    /// After a `NotLinearizable` verdict: the deepest point the search reached.
    pub fn stuck(&self) -> Option<&Stuck<M::State>> {
        self.stuck.as_ref()
    }

    pub fn ops(&self) -> &[M::Op] {
        &self.ops
    }

    #[inline]
    fn step(&mut self) {
        self.steps += 1;
        let e = self.cursor;
        if e == NIL {
            // Every return entry is gone, so every determinate operation took effect; the
            // indeterminate ones still in the list never happened.
            self.outcome = Some(true);
            return;
        }
        let eu = e as usize;
        if !self.is_call[eu] {
            self.note_stuck(e);
            self.backtrack();
            return;
        }
        let op = self.entry_op[eu] as usize;
        let Some(next_state) = self.model.step(&self.state, &self.ops[op]) else {
            self.cursor = self.next[eu];
            return;
        };
        // A read-only operation that can take effect now may as well: every operation that must
        // precede it already has (its call is before the first pending return), and moving a
        // read earlier changes no state anywhere. So taking it now is forced, and if that
        // fails, this configuration fails. (Not so for a write that happens to keep the current
        // state: at a later point it would change a different state.)
        let forced = self.read_only[op];
        self.linearized.set(op, self.zobrist[op]);
        let hash = self.linearized.hash ^ state_hash(&next_state);
        if self.memo.insert(hash, &self.linearized, &next_state) {
            let before = std::mem::replace(&mut self.state, next_state);
            self.stack.push(Choice {
                call: e,
                forced,
                before,
            });
            self.lift(e);
            self.cursor = self.next[HEAD as usize];
            if !forced && self.doomed() {
                self.backtrack();
            }
            return;
        }
        self.linearized.clear(op, self.zobrist[op]);
        if forced {
            // The configuration with `op` taken was explored and failed.
            self.backtrack();
        } else {
            self.cursor = self.next[eu];
        }
    }

    /// True when some read must take effect (its return is in the list) before anything that
    /// could change the state in ways the model cannot foresee ([`Model::resets`]) is even
    /// invoked, and the model says that read can no longer succeed from the current state. Such
    /// a configuration cannot succeed. The walk is bounded so a step never costs O(history).
    fn doomed(&self) -> bool {
        let mut e = self.next[HEAD as usize];
        let mut budget = DOOM_WALK;
        while e != NIL && budget > 0 {
            budget -= 1;
            let op = self.entry_op[e as usize] as usize;
            if self.is_call[e as usize] {
                if self.resets[op] {
                    return false;
                }
            } else if self.read_only[op] && !self.model.may_reach(&self.state, &self.ops[op]) {
                return true;
            }
            e = self.next[e as usize];
        }
        false
    }

    /// Undoes the most recent free choice (and the forced ones above it) and moves the cursor to
    /// the next candidate after it. With nothing left to undo, the history is not linearizable.
    fn backtrack(&mut self) {
        loop {
            let Some(choice) = self.stack.pop() else {
                self.outcome = Some(false);
                return;
            };
            self.state = choice.before;
            let op = self.entry_op[choice.call as usize] as usize;
            self.linearized.clear(op, self.zobrist[op]);
            self.unlift(choice.call);
            if !choice.forced {
                self.cursor = self.next[choice.call as usize];
                return;
            }
        }
    }

    /// Records the deepest dead end, for the counterexample.
    fn note_stuck(&mut self, ret_entry: u32) {
        let depth = self.stack.len();
        if self.stuck.as_ref().is_some_and(|s| s.prefix.len() >= depth) {
            return;
        }
        let prefix = self
            .stack
            .iter()
            .map(|c| self.entry_op[c.call as usize] as usize)
            .collect();
        let blocked = self.entry_op[ret_entry as usize] as usize;
        let mut pending = Vec::new();
        let mut e = self.next[HEAD as usize];
        while e != ret_entry && e != NIL {
            if self.is_call[e as usize] && self.entry_op[e as usize] as usize != blocked {
                pending.push(self.entry_op[e as usize] as usize);
            }
            e = self.next[e as usize];
        }
        self.stuck = Some(Stuck {
            prefix,
            state: self.state.clone(),
            blocked,
            pending,
        });
    }

    /// Takes a call entry and its return entry out of the list.
    #[inline]
    fn lift(&mut self, call: u32) {
        self.unlink(call);
        let ret = self.entry_ret[call as usize];
        if ret != NIL {
            self.unlink(ret);
        }
    }

    /// Puts back what `lift` took out, in reverse order.
    #[inline]
    fn unlift(&mut self, call: u32) {
        let ret = self.entry_ret[call as usize];
        if ret != NIL {
            self.relink(ret);
        }
        self.relink(call);
    }

    #[inline]
    fn unlink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = n;
        if n != NIL {
            self.prev[n as usize] = p;
        }
    }

    #[inline]
    fn relink(&mut self, e: u32) {
        let (p, n) = (self.prev[e as usize], self.next[e as usize]);
        self.next[p as usize] = e;
        if n != NIL {
            self.prev[n as usize] = e;
        }
    }
}

/// A bitset over operations that knows its own trimmed extent and Zobrist hash.
struct TrimmedBits {
    words: Vec<u64>,
    /// Number of leading words that are all ones.
    full: usize,
    /// One past the last non-zero word.
    end: usize,
    /// XOR of the Zobrist words of the members.
    hash: u64,
}

impl TrimmedBits {
    fn new(n: usize) -> TrimmedBits {
        TrimmedBits {
            words: vec![0; n.div_ceil(64)],
            full: 0,
            end: 0,
            hash: 0,
        }
    }

    /// Adds member `i`, whose Zobrist word is `z`.
    #[inline]
    fn set(&mut self, i: usize, z: u64) {
        self.hash ^= z;
        let w = i / 64;
        self.words[w] |= 1 << (i % 64);
        if w >= self.end {
            self.end = w + 1;
        }
        while self.full < self.words.len() && self.words[self.full] == u64::MAX {
            self.full += 1;
        }
    }

    /// Removes member `i`, whose Zobrist word is `z`.
    #[inline]
    fn clear(&mut self, i: usize, z: u64) {
        self.hash ^= z;
        let w = i / 64;
        self.words[w] &= !(1 << (i % 64));
        if w < self.full {
            self.full = w;
        }
        while self.end > 0 && self.words[self.end - 1] == 0 {
            self.end -= 1;
        }
    }

    /// The canonical trimmed form: (leading full words, the words between).
    #[inline]
    fn trimmed(&self) -> (usize, &[u64]) {
        // Full words are non-zero, so `full <= end`.
        (self.full, &self.words[self.full..self.end])
    }
}

/// The set of configurations already explored.
struct Memo<S> {
    /// Hash of the configuration → newest record with that hash.
    heads: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    records: Vec<Record<S>>,
    words: Vec<u64>,
}

struct Record<S> {
    state: S,
    full: u32,
    start: u32,
    len: u32,
    /// Older record with the same hash, or NIL.
    older: u32,
}

impl<S> Default for Memo<S> {
    fn default() -> Self {
        Memo {
            heads: HashMap::default(),
            records: Vec::new(),
            words: Vec::new(),
        }
    }
}

impl<S: Clone + Eq> Memo<S> {
    fn len(&self) -> usize {
        self.records.len()
    }

    /// Adds the configuration; false if it was already there.
    fn insert(&mut self, hash: u64, bits: &TrimmedBits, state: &S) -> bool {
        let (full, middle) = bits.trimmed();
        let new_index = self.records.len() as u32;
        let mut older = NIL;
        match self.heads.entry(hash) {
            std::collections::hash_map::Entry::Occupied(mut slot) => {
                let mut r = *slot.get();
                while r != NIL {
                    let rec = &self.records[r as usize];
                    let words = &self.words[rec.start as usize..(rec.start + rec.len) as usize];
                    if rec.full as usize == full && words == middle && rec.state == *state {
                        return false;
                    }
                    r = rec.older;
                }
                older = *slot.get();
                slot.insert(new_index);
            }
            std::collections::hash_map::Entry::Vacant(slot) => {
                slot.insert(new_index);
            }
        }
        let start = self.words.len() as u32;
        self.words.extend_from_slice(middle);
        self.records.push(Record {
            state: state.clone(),
            full: full as u32,
            start,
            len: middle.len() as u32,
            older,
        });
        true
    }
}

/// The memo's keys are already uniformly mixed hashes: their low 64 bits are used as they are.
#[derive(Default)]
pub(crate) struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64;
    }
}

/// A fast non-cryptographic hash of a model state, well mixed in all 64 bits.
#[inline]
pub(crate) fn state_hash<S: Hash>(s: &S) -> u64 {
    let mut h = FoldHasher(0x9e37_79b9_7f4a_7c15);
    s.hash(&mut h);
    let mut x = h.0;
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x
}

struct FoldHasher(u64);

impl Hasher for FoldHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.write_u64(u64::from_le_bytes(c.try_into().expect("8 bytes")));
        }
        for &b in chunks.remainder() {
            self.write_u64(b as u64);
        }
    }
    #[inline]
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0.rotate_left(5) ^ n).wrapping_mul(0x517c_c1b7_2722_0a95);
    }
    #[inline]
    fn write_u32(&mut self, n: u32) {
        self.write_u64(n as u64)
    }
    #[inline]
    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64)
    }
    #[inline]
    fn write_u8(&mut self, n: u8) {
        self.write_u64(n as u64)
    }
}

/// SplitMix64: the Zobrist words (deterministic, so runs are repeatable).
pub(crate) use base::splitmix64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_bits_are_canonical() {
        let mut a = TrimmedBits::new(200);
        let mut b = TrimmedBits::new(200);
        for i in 0..70 {
            a.set(i, i as u64);
        }
        a.set(130, 130);
        for i in (0..70).rev() {
            b.set(i, i as u64);
        }
        b.set(131, 131);
        b.set(130, 130);
        b.clear(131, 131);
        assert_eq!(a.trimmed(), b.trimmed());
        assert_eq!(a.hash, b.hash);
        assert_eq!(a.trimmed().0, 1, "one full leading word");
        a.clear(3, 3);
        assert_eq!(a.trimmed().0, 0);
        for i in (0..70).chain([130]) {
            if i != 3 {
                a.clear(i, i as u64);
            }
        }
        assert_eq!(a.trimmed(), (0, &[][..]));
        assert_eq!(a.hash, 0);
    }
}
