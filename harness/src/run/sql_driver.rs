//! The client side of a database driven in SQL ([`targets::sql`]): each operation becomes
//! statements on one of the node's pooled connections, and each way it can end becomes a
//! [`Completion`] by the same rules as HTTP's — `ok` with what was read, `fail` only when the
//! database certainly did not apply it (it refused it, or the connection was lost before the
//! `COMMIT` was sent), `info` when it may have (a lost connection or a timeout once the commit
//! was on its way).

use super::driver::{concluded, Completion, Driver, Pending};
use super::workload::{Micro, Op, Workload};
use checker::Outcome;
use serde_json::{json, Value};
use std::time::Duration;
use targets::described::BaseUrl;
use targets::sql::{Isolation, Node, Shape, SqlDesc, Step};

/// Every node of an SQL target, the isolation level its transactions ask for and the table the
/// workload uses.
pub struct SqlDriver {
    nodes: Vec<(String, Node)>,
    shape: Shape,
    isolation: Isolation,
    timeout: Duration,
}

impl SqlDriver {
    /// Connects to the nodes (named, at their URLs) as `desc` says and prepares faultline's
    /// tables through the first, which must answer within `patience` (a server that just
    /// became healthy may still refuse a moment).
    pub async fn connect(
        desc: &SqlDesc,
        nodes: &[(String, BaseUrl)],
        workload: Workload,
        timeout: Duration,
        patience: Duration,
    ) -> Result<SqlDriver, String> {
        let nodes: Vec<(String, Node)> = nodes
            .iter()
            .map(|(name, url)| {
                (
                    name.clone(),
                    Node::new(name, &url.host, url.port, desc, timeout),
                )
            })
            .collect();
        let deadline = tokio::time::Instant::now() + patience;
        loop {
            match nodes[0].1.prepare_schema().await {
                Ok(()) => break,
                Err(e) if tokio::time::Instant::now() >= deadline => return Err(e),
                Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
        Ok(SqlDriver {
            nodes,
            shape: match workload {
                Workload::ListAppend => Shape::Lists,
                _ => Shape::Registers,
            },
            isolation: desc.isolation,
            timeout,
        })
    }

    async fn run(&self, op: &Op, home: usize) -> Completion {
        let op = op.primitive();
        let (name, node) = &self.nodes[home];
        let t = self.timeout;
        let done = match op {
            Op::Read { key } => node.read(key, t).await.map(|v| json!(v)),
            Op::Write { key, value } => node.write(key, *value, t).await.map(|()| Value::Null),
            Op::Cas { key, from, to } => match node.cas(key, *from, *to, t).await {
                Ok(true) => Ok(Value::Null),
                Ok(false) => {
                    return Completion {
                        error: Some("cas mismatch".into()),
                        ..Completion::answered(Some(name.clone()), Outcome::Fail, Value::Null, None)
                    }
                }
                Err(e) => Err(e),
            },
            Op::Seed(_) => unreachable!("primitive() is never a seed op"),
            Op::Txn(micro) => {
                let steps: Vec<Step> = match micro.iter().map(Micro::step).collect() {
                    Ok(s) => s,
                    Err(e) => return Completion::unavailable(Some(name.clone()), Outcome::Fail, e),
                };
                let done = node
                    .transaction(&steps, self.shape, self.isolation, t)
                    .await;
                done.map(Value::Array)
            }
        };
        concluded(op, name, done)
    }

    async fn read_own(&self, key: &str, node: usize) -> Completion {
        let (name, n) = &self.nodes[node];
        let got = match self.shape {
            Shape::Registers => n.read(key, self.timeout).await.map(|v| json!(v)),
            Shape::Lists => n.read_list(key, self.timeout).await.map(|v| json!(v)),
        };
        let read = Op::Read { key: key.into() };
        concluded(&read, name, got)
    }
}

impl Driver for SqlDriver {
    fn len(&self) -> usize {
        self.nodes.len()
    }
    fn perform<'a>(&'a self, op: &'a Op, home: usize) -> Pending<'a> {
        Box::pin(self.run(op, home))
    }
    fn read_local<'a>(&'a self, key: &'a str, node: usize) -> Pending<'a> {
        Box::pin(self.read_own(key, node))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use targets::Failure;

    #[test]
    fn a_refusal_fails_and_a_lost_commit_is_unknown_but_a_lost_read_is_a_failure() {
        let write = Op::Write {
            key: "1".into(),
            value: 5,
        };
        let c = concluded(&write, "n1", Err(Failure::Definite("40001".into())));
        assert_eq!((c.outcome, c.unavailable), (Outcome::Fail, false));
        let c = concluded(&write, "n1", Err(Failure::Unknown("lost".into())));
        assert_eq!((c.outcome, c.unavailable), (Outcome::Info, true));
        let c = concluded(&write, "n1", Err(Failure::Unreachable("refused".into())));
        assert_eq!((c.outcome, c.unavailable), (Outcome::Fail, true));
        let read = Op::Read { key: "1".into() };
        let c = concluded(&read, "n1", Err(Failure::Unknown("lost".into())));
        assert_eq!(c.outcome, Outcome::Fail);
        let c = concluded(&read, "n1", Ok(json!(7)));
        assert_eq!(
            (c.outcome, c.value, c.node.as_deref()),
            (Outcome::Ok, json!(7), Some("n1"))
        );
    }
}
