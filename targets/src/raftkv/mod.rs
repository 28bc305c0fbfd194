//! # raftkv: the bundled reference Raft key-value store
//!
//! A replicated key-value store on Raft (Ongaro and Ousterhout, "In Search of an Understandable
//! Consensus Algorithm", 2014), written to be read. faultline launches it as local processes by
//! default; people run faultline against it to see what each rule of Raft protects.
//!
//! ## Where each rule lives
//! - [`node`] is the whole protocol as a deterministic state machine: leader election with
//!   randomized timeouts (§5.2), one vote per term and the election restriction (§5.4.1), log
//!   replication with the AppendEntries consistency check, nextIndex back-off with the
//!   conflicting-term shortcut and truncation of a conflicting suffix (§5.3), commitment only by
//!   counting replicas of current-term entries (§5.4.2), a no-op on election (§8), ReadIndex and
//!   lease reads (§8; the dissertation's §6.4), and InstallSnapshot (§7). It does no I/O: inputs
//!   go in, a [`node::Ready`] comes out saying what to make durable, send, apply and serve.
//! - [`log`] is the in-memory log over a snapshot base; [`kv`] the state machine, whose
//!   transactions (`POST /txn`: appends, writes and reads of several keys) are one log entry
//!   each, applied together at its index — strict-serializable, as a single write is.
//! - [`storage`] makes term, vote, log and snapshots durable with fsync before anything that
//!   depends on them is sent or answered, and recovers after SIGKILL.
//! - [`server`] is the process: peer transport, client HTTP API, the event loop that batches
//!   client commands into one append, one fsync and one AppendEntries per peer.
//! - `sim` (tests) runs the core under a hostile simulated network and checks Raft's safety
//!   properties after every step.
//!
//! ## Knobs that make it unsafe (each documented with the anomaly it allows)
//! - `--read-mode lease`: the leader serves reads locally while its lease lasts on its own
//!   clock; with clock skew or a paused leader, a deposed leader serves stale reads.
//! - `--read-mode stale`: any node serves from its local state: stale reads, non-monotonic reads.
//! - `--write-ack leader`: writes are acknowledged once on the leader's disk, before commit;
//!   a failover loses acknowledged writes.
//! - `--isolation snapshot`: a transaction runs on the leader a micro-op at a time, reading the
//!   committed state its keys had when it began (its snapshot), and commits its writes through
//!   the log only if no key it writes was committed since (first committer wins). Two
//!   transactions that each read what the other writes both commit: write skew (G2-item).
//!   Lost updates and read skew cannot happen.
//! - `--isolation read-committed`: each read sees what is committed when it runs, and writes
//!   commit without validation. A transaction that reads a key twice can see two values (a
//!   non-repeatable read), two keys from two moments (read skew, G-single), and two transactions
//!   that read a key and both write it lose one update (P4).
//! - `--unsafe no-fsync`: nothing is synced and log writes are buffered in memory for up to a
//!   second; a SIGKILL forgets votes and acknowledged entries (double votes, lost writes).
//! - `--unsafe no-election-restriction`: a candidate with a stale log can win and overwrite
//!   committed entries.
//! - `--unsafe commit-old-term`: entries of earlier terms commit by counting replicas (the
//!   paper's Figure 8), and such "committed" entries can be overwritten.
//! - `--unsafe membership-without-noop`: a new leader accepts a membership change before its
//!   no-op of the term commits, so a change begun under an earlier leader may still be in flight
//!   unseen: two configurations with disjoint majorities, two leaders, committed entries lost
//!   (the single-server-change bug Ongaro described in 2015).
//! - `--unsafe concurrent-membership`: a second change is accepted before the first commits;
//!   the old and newest configurations need not overlap.
//! - `--unsafe no-election-noop`: a new leader appends no no-op of its term (§8) and serves
//!   reads without first committing one. The no-op is what tells a new leader its commit index:
//!   followers learn that an entry committed only from the leader's next message, so a follower
//!   elected in between holds the entry, believes it uncommitted, and serves a read at the older
//!   index — missing a write whose client was told it succeeded. (It also commits the earlier
//!   terms' entries, which otherwise wait for the next client write; with `commit-old-term` that
//!   is where Figure 8 begins.)
//! - `--unsafe fail-pending-on-stepdown`: a leader that steps down tells the clients of every
//!   write still pending on it that the write failed, though its entry may already be on a
//!   majority and be committed by the next leader: a write its client was told never happened
//!   reappears in a later read — the "ghost" (幽灵复现) of seed 004. Raft's answer is never to say
//!   "failed" for an entry that may still commit (and the new leader's no-op, which settles the
//!   fate of every entry before it). It shows when a follower that was cut off comes back: with
//!   no pre-vote, its higher term deposes a leader whose latest writes are already on the other
//!   follower, and the next leader commits them (`--nemesis partition --shapes
//!   isolate-follower`).
//! - `--unsafe redeliver`: a dequeue is answered from the leader's applied state before its pop
//!   goes through the log — a broker that hands a message out before recording the delivery.
//!   Two dequeues before the pop applies get the same message, and the pop that applies takes
//!   whatever is at the head then: duplicates and losses (seed 003's message queue).
//! - `--unsafe lock-lease-local`: a lock's release is answered by whichever node is asked, from
//!   its own copy of the lock and its own clock. A lease is timed by the clock of the node that
//!   proposed the acquire (so every replica decides alike); a leader whose clock runs ahead
//!   ends a lease early and hands the lock on, while a node with the old copy or a slower clock
//!   still tells the first holder its lease held: two holders (seed 003's distributed lock).
//! - `--unsafe snowflake-ids`: an id is made by the node asked, from its wall clock, its node id
//!   and a sequence within the millisecond, instead of from a counter through the log — the
//!   snowflake of seed 003, which "strictly depends on the machine's clock": when a clock goes
//!   back, the node issues the ids of those milliseconds again.
//!
//! A safe node checks the rules these knobs break and stops (panics) if it ever finds one broken
//! — a committed entry about to be overwritten, two leaders in a term. With an `--unsafe` knob on
//! it does what an implementation that never checked would do instead: it overwrites the entry
//! or steps down, and logs `safety rule broken: …`. A crash would hide the bug from the clients;
//! carrying on lets faultline show what they see (lost writes, stale reads, diverged replicas).
//!
//! ## Membership
//! One server at a time (dissertation §4): a configuration entry is in force once in the log,
//! committed or not; a node added joins as a learner, catches up (log or snapshot) and is
//! promoted by the leader once it holds the log; one change in flight, none before the term's
//! no-op commits; a removed leader steps down once its removal commits. Nodes outside the
//! configuration are not listened to but for a leader's entries (a newcomer may not know its
//! leader yet), and requests for votes are heard from voters only. The process offers it on
//! the client port ([`admin`]: `GET`/`POST /admin/members`, `DELETE /admin/members/{id}`); a
//! node started with `--join` waits as a learner to be added. The entry that adds a member
//! carries its addresses, so members launched before it can dial it. Snapshots carry the
//! configuration.
//!
//! ## Implementation caveats
//! Snapshots are sent whole in one message;
//! there is no pre-vote or leadership transfer; the client API is HTTP/1.1 without TLS, served by
//! [`crate::http_server`] (hyper) with its limits.

pub mod admin;
pub mod cli;
pub mod cluster;
pub mod kv;
pub mod log;
pub mod node;
pub mod server;
pub mod service;
#[cfg(test)]
mod sim;
pub mod storage;
pub mod wire;

/// raftkv's client API as a [`crate::described`] target: the requests of
/// `examples/targets/raftkv.toml` (compiled in, so the example and the built-in driver cannot
/// drift apart), with `client_addrs` as the nodes `n1`, `n2`, … (no commands: the harness
/// launches raftkv itself).
pub fn described(client_addrs: &[String]) -> crate::described::Described {
    const EXAMPLE: &str = include_str!("../../../examples/targets/raftkv.toml");
    let mut d = crate::described::Described::parse(EXAMPLE)
        .expect("the compiled-in raftkv example is valid");
    d.name = "raftkv".into();
    d.nodes = client_addrs
        .iter()
        .enumerate()
        .map(|(i, addr)| crate::described::NodeDesc {
            name: format!("n{}", i + 1),
            url: format!("http://{addr}"),
            start: None,
            stop: None,
            health: None,
            pid: None,
            setup: None,
        })
        .collect();
    d
}
