//! Transactions as targets take them: micro-ops over keys that hold registers or lists. The
//! drivers that run them ([`crate::sql`], [`crate::etcd_txn`]) answer with the completed
//! micro-ops as a history writes them: `["append", k, v]`, `["w", k, v]`, `["r", k, v]`, with
//! a version as a fourth element where the target gives one.

/// One micro-op of a transaction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step<'a> {
    Append(&'a str, u64),
    Write(&'a str, u64),
    Read(&'a str),
}

/// What the keys hold: the workload's data type (list-append's lists, rw-register's registers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    Registers,
    Lists,
}
