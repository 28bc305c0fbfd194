//! The client side of ZooKeeper ([`targets::zk`]): registers on znodes, each completion with
//! the znode's data version as the history's version; and the lock workload on ZooKeeper's lock
//! recipe, each lock on a session of its own whose timeout is its lease. Outcomes follow the
//! history's rules, as for HTTP and SQL.

use super::driver::{concluded, Completion, Driver, Pending};
use super::seeds::WAIT;
use super::workload::{Micro, Op};
use checker::Outcome;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::time::Duration;
use targets::described::BaseUrl;
use targets::zk::{Server, ZkDesc, ZkLock};
use targets::Failure;

/// Every server of an ensemble, each with a session of its own.
pub struct ZkDriver {
    nodes: Vec<(String, Server)>,
    timeout: Duration,
    /// The locks the clients were told they hold, by owner token.
    held: std::sync::Mutex<HashMap<String, ZkLock>>,
}

impl ZkDriver {
    /// The ensemble's servers (named, at their URLs), read as `desc` says.
    pub fn new(desc: &ZkDesc, nodes: &[(String, BaseUrl)], timeout: Duration) -> ZkDriver {
        let nodes = nodes
            .iter()
            .map(|(name, url)| (name.clone(), Server::new(&url.host, url.port, desc)))
            .collect();
        ZkDriver {
            nodes,
            timeout,
            held: Default::default(),
        }
    }

    async fn run(&self, op: &Op, home: usize) -> Completion {
        let op = op.primitive();
        let (name, server) = &self.nodes[home];
        let t = self.timeout;
        let versioned = |c: Completion, version: Option<u64>| Completion { version, ..c };
        match op {
            Op::Read { key } => match server.read(key, t).await {
                Ok((value, version)) => versioned(answered(name, json!(value)), version),
                Err(e) => concluded(op, name, Err(e)),
            },
            Op::Write { key, value } => match server.write(key, *value, t).await {
                Ok(version) => versioned(answered(name, Value::Null), Some(version)),
                Err(e) => concluded(op, name, Err(e)),
            },
            Op::Cas { key, from, to } => match server.cas(key, *from, *to, t).await {
                Ok(Some(version)) => versioned(answered(name, Value::Null), Some(version)),
                Ok(None) => Completion {
                    error: Some("cas mismatch".into()),
                    ..Completion::answered(Some(name.clone()), Outcome::Fail, Value::Null, None)
                },
                Err(e) => concluded(op, name, Err(e)),
            },
            Op::Txn(micro) => match micro.as_slice() {
                [Micro::Acquire {
                    key,
                    owner,
                    lease_ms,
                }] => self.acquire(key, owner, *lease_ms, home).await,
                [Micro::Release { owner, .. }] => self.release(owner, home).await,
                _ => concluded(
                    op,
                    name,
                    Err(Failure::Definite(
                        "ZooKeeper is driven with registers and its lock recipe, not transactions"
                            .into(),
                    )),
                ),
            },
            other => concluded(
                other,
                name,
                Err(Failure::Definite(format!(
                    "ZooKeeper is driven with registers only, not {other:?}"
                ))),
            ),
        }
    }
}

impl ZkDriver {
    /// The lock recipe on a session of its own through server `home`; the session's timeout is
    /// the lease (at least 2 s asked for: ZooKeeper's floor is two ticks).
    async fn acquire(&self, key: &str, owner: &str, lease_ms: u64, home: usize) -> Completion {
        let (name, server) = &self.nodes[home];
        let session = Duration::from_millis(lease_ms.max(2_000));
        match server.acquire(key, session, WAIT, self.timeout).await {
            Ok(lock) => {
                let lease_ms = lock.lease().as_millis() as u64;
                self.held().insert(owner.to_string(), lock);
                answered(name, json!({ "lease_ms": lease_ms }))
            }
            Err(e) => unanswered(name, e),
        }
    }

    async fn release(&self, owner: &str, home: usize) -> Completion {
        let name = &self.nodes[home].0;
        let Some(lock) = self.held().remove(owner) else {
            let why = format!("{owner} holds no lock this client knows of");
            return unanswered(name, Failure::Definite(why));
        };
        match lock.release(self.timeout).await {
            Ok(()) => answered(name, Value::Null),
            Err(e) => unanswered(name, e),
        }
    }

    fn held(&self) -> std::sync::MutexGuard<'_, HashMap<String, ZkLock>> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// How a lock operation ended without its answer: never sent or refused is `fail`; otherwise
/// it may have happened (`info`).
fn unanswered(name: &str, e: Failure) -> Completion {
    let (outcome, why) = match e {
        Failure::Definite(w) | Failure::Unreachable(w) => (Outcome::Fail, w),
        Failure::Unknown(w) => (Outcome::Info, w),
    };
    Completion::unavailable(Some(name.to_string()), outcome, why)
}

fn answered(name: &str, value: Value) -> Completion {
    Completion::answered(Some(name.to_string()), Outcome::Ok, value, None)
}

impl Driver for ZkDriver {
    fn len(&self) -> usize {
        self.nodes.len()
    }
    fn perform<'a>(&'a self, op: &'a Op, home: usize) -> Pending<'a> {
        Box::pin(self.run(op, home))
    }
    fn read_local<'a>(&'a self, key: &'a str, node: usize) -> Pending<'a> {
        let read = Op::Read { key: key.into() };
        Box::pin(async move { self.run(&read, node).await })
    }
}
