//! The base layer: what every faultline crate may use and none of them owns. It depends on
//! nothing, and nothing in it knows about histories, faults or targets.
//!
//! Today it holds faultline's one random source, [`Rng`] (and [`cut`], for quoting text in
//! sentences), and [`proc`], processes as `/proc` shows them. Everything random in a run — the
//! workload, the nemesis's schedule and its choices, the proxies' dropped packets, the
//! simulator, the generated histories of the checker's tests — draws from a seed through it, so
//! the same seed replays the same run. Its stream is part of that promise: a known-answer test
//! freezes the first numbers of a seed and of a named stream, and a change that moves them is a
//! change to every recorded seed's meaning, to be made on purpose or not at all.
//!
//! Consumers of one seed that must not disturb each other take **named streams**
//! ([`Rng::stream`]): the nemesis drawing one more number must not shift the workload's.
//!
//! ```
//! use base::Rng;
//! let mut workload = Rng::stream(7, "workload");
//! let mut nemesis = Rng::stream(7, "nemesis");
//! let (a, b) = (workload.below(100), nemesis.below(100));
//! // The same seed and name give the same numbers, whoever else draws.
//! assert_eq!(Rng::stream(7, "workload").below(100), a);
//! assert_eq!(Rng::stream(7, "nemesis").below(100), b);
//! ```

pub mod proc;

/// A small seeded random source (splitmix64): deterministic, fast, and good enough for
/// choosing operations, faults and delays.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The stream `name` of `seed`: independent of every other name's, and the same wherever
    /// it is taken.
    pub fn stream(seed: u64, name: &str) -> Rng {
        // FNV-1a over the name, then mixed with the seed: names differ in every bit.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325;
        for b in name.bytes() {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        let mut state = seed ^ h;
        Rng(splitmix64(&mut state))
    }

    pub fn next_u64(&mut self) -> u64 {
        splitmix64(&mut self.0)
    }

    /// Uniform in `0..n`; `n` must be positive.
    pub fn below(&mut self, n: u64) -> u64 {
        assert!(n > 0, "below(0) has no values");
        self.next_u64() % n
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i as u64 + 1) as usize;
            items.swap(i, j);
        }
    }

    /// An independent stream, for another consumer of the same seed.
    pub fn fork(&mut self) -> Rng {
        Rng(self.next_u64())
    }
}

/// `text` cut to at most `max` characters, with "…" where it was cut: for quoting what a
/// command printed or a line of a file inside a sentence.
pub fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

/// One step of splitmix64: advances `state` and returns the next output.
pub fn splitmix64(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stream is frozen: every seed recorded in a store means these numbers.
    #[test]
    fn the_stream_is_frozen() {
        let mut r = Rng::new(1);
        let first: Vec<u64> = (0..3).map(|_| r.next_u64()).collect();
        assert_eq!(
            first,
            [
                0x910a_2dec_8902_5cc1,
                0xbeeb_8da1_658e_ec67,
                0xf893_a2ee_fb32_555e
            ]
        );
        let mut s = Rng::stream(1, "nemesis");
        assert_eq!(s.next_u64(), 0xe4cc_83c0_fac0_c042);
    }

    #[test]
    fn named_streams_are_independent_and_repeatable() {
        let a: Vec<u64> = {
            let mut r = Rng::stream(42, "workload");
            (0..100).map(|_| r.below(1000)).collect()
        };
        let b: Vec<u64> = {
            let mut r = Rng::stream(42, "nemesis");
            (0..100).map(|_| r.below(1000)).collect()
        };
        assert_ne!(a, b);
        let again: Vec<u64> = {
            let mut r = Rng::stream(42, "workload");
            (0..100).map(|_| r.below(1000)).collect()
        };
        assert_eq!(a, again);
    }

    #[test]
    fn cut_marks_where_it_cut() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcdef", 3), "abc…");
        assert_eq!(cut("ééé", 2), "éé…");
    }

    #[test]
    fn draws_stay_in_range() {
        let mut r = Rng::new(3);
        for n in 1..100 {
            assert!(r.below(n) < n);
            let u = r.unit();
            assert!((0.0..1.0).contains(&u));
        }
        let mut v: Vec<u32> = (0..50).collect();
        r.shuffle(&mut v);
        v.sort_unstable();
        assert_eq!(v, (0..50).collect::<Vec<_>>());
    }
}
