//! # faultline's targets
//!
//! The systems faultline tests, and the code that launches or talks to them: [`raftkv`], the
//! bundled reference Raft key-value store (binary `raftkv`); any HTTP key-value service
//! [`described`] in a TOML file, whose nodes [`launched`] starts, signals and probes; and
//! [`etcd`], a local etcd cluster described the same way, whose membership
//! [`etcd_membership`] changes through etcd's member API (a file's own `[members]` requests:
//! [`described_membership`]). Every wire is one HTTP stack: the
//! [`client`] (reqwest on tokio) and the [`http_server`] (hyper) that raftkv and `faultline
//! serve` listen with.
//!
//! This crate is not the checker and not the harness: it knows nothing of histories or faults.
//! Run the store with `cargo run --release --bin raftkv -- --help`; test it with
//! `cargo test --release -p faultline-targets`; benchmark it with
//! `cargo bench -p faultline-targets`.

pub mod amqp;
pub mod base64;
pub mod client;
pub mod described;
pub mod described_membership;
pub mod etcd;
pub mod etcd_membership;
pub mod etcd_txn;
pub mod host;
pub mod http_server;
pub mod launched;
pub mod postgres;
pub mod rabbitmq;
pub mod raftkv;
pub mod sql;
pub mod txn;
pub mod zk;
pub mod zookeeper;
