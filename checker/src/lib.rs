//! # faultline's checker
//!
//! This crate decides whether a recorded history of operations against a replicated store could
//! have come from a correct, single-copy object. It reads histories (faultline's JSON Lines, and
//! what Jepsen and Knossos write: EDN histories, `history.txt`, `jepsen.log`), pairs invocations
//! with completions, and searches for a linearization: an order of the operations that respects real time and the object's
//! sequential specification (its *model*).
//!
//! It is **not** a test harness: it never talks to a system. `faultline run` records histories;
//! this crate only judges them, so any verdict can be re-derived from a stored history.
//!
//! ## The pieces, in the order data flows through them
//! - [`import`] reads a file into a [`History`], streaming; malformed input is one
//!   [`HistoryError`] naming the file, the line (and column) and the problem. It splits Jepsen's
//!   independent `[key value]` tuples into keys, and [`import::store`] finds the history and
//!   Jepsen's own verdict in a run directory. [`ModelKind::infer`] names the data type from the
//!   operations; [`conventions`] holds Knossos's (an initial value, reads of nil matching any
//!   state) as options; [`export`] writes a history back as Jepsen EDN.
//! - [`model`] defines the [`Model`] trait: a pure `step(state, op) -> Option<state>`. The
//!   [`models`] are `register`, `cas-register` and `kv-append`; adding one never touches the
//!   search.
//! - [`search`] is the linearizability search for one key (Wing–Gong with Lowe's just-in-time
//!   linearization and a memo of configurations, as in Porcupine, without its allocations).
//! - [`check`](mod@check) splits a history by key, runs every key's search on all cores in interleaved
//!   slices, stops early on the first failure, honours a time budget, and builds a [`Report`].
//! - [`result`] is the report: verdicts that compose as in Jepsen (invalid beats unknown beats
//!   valid) and a counterexample in words; [`render`] prints it for people.
//! - [`consistency`] is the ladder above and below linearizability: sequential consistency, the
//!   session guarantees and PRAM over each key's version order, eventual consistency from the
//!   final reads; every violation a named anomaly with one sentence and a witness shrunk to the
//!   fewest operations that still prove it.
//! - [`txn`] is the isolation ladder for transactions (Elle's list-append and rw-register).
//! - [`workloads`] judges the seeds' other promises in one pass each: a bank's total, a set's
//!   adds, a counter's bounds, a lock's one holder, unique ids, a queue's deliveries.
//!
//! ## Semantics
//! `ok` operations happened, within their invocation–completion interval; `fail` operations did
//! not happen and are dropped; `info` operations (and those still open when the history ends) may
//! have happened at any point after their invocation, or never. The search finds an empty history
//! linearizable, vacuously; the ladder ([`consistency::assess`]) calls a history with no client
//! operation `unknown` for every model, so that nothing recorded can never pass a gate.
//!
//! ## Running it
//! `faultline check FILE… [--consistency all|MODEL,…] [--require MODEL] [--model cas-register|register|kv-append] [--format auto|jsonl|jepsen-edn|jepsen-txt|jepsen-log] [--initial VALUE] [--nil-reads strict|any] [--timeout SECS] [--json]`;
//! from Rust, [`import::read_file`] then [`consistency::assess`] (or [`check::check`] for
//! linearizability alone). Tests: `cargo test --release -p
//! faultline-checker`; benchmark: `cargo bench -p faultline-checker`.

pub mod check;
pub mod consistency;
pub mod conventions;
pub mod export;
pub mod faults;
pub mod generate;
pub mod history;
pub mod import;
pub mod model;
pub mod models;
pub mod render;
pub mod result;
pub mod search;
pub mod txn;
pub mod unique;
pub mod workloads;

pub use check::{check, check_with, Options};
pub use history::{History, HistoryError, Operation, Outcome};
pub use model::{Model, ModelKind};
pub use result::{Report, Verdict};
