//! # faultline's targets
//!
//! The systems faultline tests, and the code that launches or talks to them: [`raftkv`], the
//! bundled reference Raft key-value store (binary `raftkv`); any HTTP key-value service
//! [`described`] in a TOML file, whose nodes [`launched`] starts, signals and probes; and
//! [`etcd`], a local etcd cluster described the same way, whose membership
//! [`etcd_membership`] changes through etcd's member API (a file's own `[members]` requests:
//! [`described_membership`]). Every HTTP wire is one stack: the
//! [`client`] (reqwest on tokio) and the [`http_server`] (hyper) that raftkv and `faultline
//! serve` listen with. Systems with a protocol of their own have a driver each, on the field's
//! client for it: PostgreSQL-wire databases ([`sql`], [`postgres`]), AMQP brokers ([`amqp`],
//! [`rabbitmq`]) and ZooKeeper ([`zk`], [`zookeeper`]).
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

/// What faultline wrote as a value (a message's body, a znode's data): a decimal number, or
/// the sentence that says what was found instead.
pub(crate) fn decimal(data: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(data)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| {
            format!(
                "a value faultline did not write: {:?}",
                String::from_utf8_lossy(&data[..data.len().min(40)])
            )
        })
}

/// The version of a Debian package installed here (`3.8.0` of `3.8.0-11+deb12u2`).
pub(crate) fn debian_version(package: &str) -> Option<String> {
    let out = std::process::Command::new("dpkg-query")
        .args(["-W", "-f", "${Version}", package])
        .output()
        .ok()?;
    let v = String::from_utf8_lossy(&out.stdout);
    let v = v.split(['-', '+']).next()?.trim();
    (out.status.success() && !v.is_empty()).then(|| v.to_string())
}

/// Why an operation through a system's own protocol (SQL, AMQP, ZooKeeper's) did not complete.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// It certainly took no effect.
    #[error("{0}")]
    Definite(String),
    /// It may have taken effect.
    #[error("{0}")]
    Unknown(String),
    /// No connection could be made: nothing was sent.
    #[error("{0}")]
    Unreachable(String),
}

/// `fut`'s result, or `None` when `t` passes first.
pub(crate) async fn within<T>(
    t: std::time::Duration,
    fut: impl std::future::Future<Output = T>,
) -> Option<T> {
    tokio::time::timeout(t, fut).await.ok()
}
