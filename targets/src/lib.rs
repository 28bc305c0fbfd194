//! # faultline's targets
//!
//! The systems faultline tests, and the code that launches or talks to them. Today that is
//! [`raftkv`], the bundled reference Raft key-value store (binary `raftkv`); drivers for any HTTP
//! key-value service and for etcd come with later work.
//!
//! This crate is not the checker and not the harness: it knows nothing of histories or faults.
//! Run the store with `cargo run --release --bin raftkv -- --help`; test it with
//! `cargo test --release -p faultline-targets`; benchmark it with
//! `cargo bench -p faultline-targets`.

pub mod base64;
pub mod client;
pub mod raftkv;
