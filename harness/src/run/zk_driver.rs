//! The client side of ZooKeeper ([`targets::zk`]): registers on znodes, each completion with
//! the znode's data version as the history's version. Outcomes follow the history's rules, as
//! for HTTP and SQL.

use super::driver::{concluded, Completion, Driver, Pending};
use super::workload::Op;
use checker::Outcome;
use serde_json::{json, Value};
use std::time::Duration;
use targets::described::BaseUrl;
use targets::zk::{Server, ZkDesc};
use targets::Failure;

/// Every server of an ensemble, each with a session of its own.
pub struct ZkDriver {
    nodes: Vec<(String, Server)>,
    timeout: Duration,
}

impl ZkDriver {
    /// The ensemble's servers (named, at their URLs), read as `desc` says.
    pub fn new(desc: &ZkDesc, nodes: &[(String, BaseUrl)], timeout: Duration) -> ZkDriver {
        let nodes = nodes
            .iter()
            .map(|(name, url)| (name.clone(), Server::new(&url.host, url.port, desc)))
            .collect();
        ZkDriver { nodes, timeout }
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
