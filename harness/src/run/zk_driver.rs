//! The client side of ZooKeeper ([`targets::zk`]): registers on znodes, each completion with
//! the znode's data version as the history's version; and the lock workload on ZooKeeper's lock
//! recipe, each lock on a session of its own whose timeout is its lease. Outcomes follow the
//! history's rules, as for HTTP and SQL.

use super::driver::{concluded, Completion, Driver, Owners, Pending};
use super::seeds::WAIT;
use super::workload::{Micro, Op};
use checker::Outcome;
use serde_json::{json, Value};
use std::time::Duration;
use targets::described::BaseUrl;
use targets::zk::{Server, ZkDesc, ZkLock};
use targets::Failure;

/// Every server of an ensemble, each with a session of its own.
pub struct ZkDriver {
    nodes: Vec<(String, Server)>,
    timeout: Duration,
    /// The locks the clients were told they hold.
    held: Owners<ZkLock>,
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
            held: Owners::default(),
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
                }] => concluded(op, name, self.acquire(key, owner, *lease_ms, home).await),
                [Micro::Release { owner, .. }] => concluded(op, name, self.release(owner).await),
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
    /// the lease (at least 2 s asked for: ZooKeeper's floor is two ticks), which the answer
    /// reports as the server granted it.
    async fn acquire(
        &self,
        key: &str,
        owner: &str,
        lease_ms: u64,
        home: usize,
    ) -> Result<Value, Failure> {
        let session = Duration::from_millis(lease_ms.max(2_000));
        let lock = self.nodes[home]
            .1
            .acquire(key, session, WAIT, self.timeout)
            .await?;
        let granted = lock.lease().as_millis() as u64;
        self.held.hold(owner, lock);
        Ok(json!({ "lease_ms": granted }))
    }

    /// Deletes `owner`'s lock's znode on its own session, wherever the client now is.
    async fn release(&self, owner: &str) -> Result<Value, Failure> {
        let lock = self.held.take(owner).map_err(Failure::Definite)?;
        lock.release(self.timeout).await.map(|()| Value::Null)
    }
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
