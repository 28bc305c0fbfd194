//! The client side of a message broker ([`targets::amqp`]): the queue workload's enqueue (a
//! transaction appending to the queue's key) becomes a confirmed publish, its dequeue (a pop)
//! a `basic.get` and its ack, and the final read of the queue a drain. Outcomes follow the
//! history's rules, as for HTTP and SQL: `ok` only on the broker's confirm (or with the message
//! taken), `fail` when nothing was taken or sent, `info` when a publish may have been.

use super::driver::{concluded, Completion, Driver, Pending};
use super::workload::{Micro, Op};
use serde_json::json;
use std::time::Duration;
use targets::amqp::{AmqpDesc, Broker};
use targets::described::BaseUrl;
use targets::Failure;

/// Every node of a broker.
pub struct AmqpDriver {
    nodes: Vec<(String, Broker)>,
    timeout: Duration,
}

impl AmqpDriver {
    /// The broker's nodes (named, at their URLs), logged into as `desc` says.
    pub fn new(desc: &AmqpDesc, nodes: &[(String, BaseUrl)], timeout: Duration) -> AmqpDriver {
        let nodes = nodes
            .iter()
            .map(|(name, url)| (name.clone(), Broker::new(&url.host, url.port, desc)))
            .collect();
        AmqpDriver { nodes, timeout }
    }

    async fn run(&self, op: &Op, home: usize) -> Completion {
        let primitive = op.primitive();
        let (name, broker) = &self.nodes[home];
        let t = self.timeout;
        let done = match primitive {
            Op::Txn(micro) => match micro.as_slice() {
                [Micro::Append { key, element }] => broker
                    .enqueue(key, *element, t)
                    .await
                    .map(|()| json!([["append", key, element]])),
                [Micro::Pop { key }] => broker
                    .dequeue(key, t)
                    .await
                    .map(|m| json!([["pop", key, m]])),
                _ => Err(Failure::Definite(refusal(primitive))),
            },
            _ => Err(Failure::Definite(refusal(primitive))),
        };
        concluded(primitive, name, done)
    }

    async fn drain(&self, key: &str, node: usize) -> Completion {
        let (name, broker) = &self.nodes[node];
        let drained = broker.drain(key, self.timeout).await.map(|v| json!(v));
        concluded(&Op::Read { key: key.into() }, name, drained)
    }
}

/// What a broker cannot be asked (the target refuses every workload but the queue's first).
fn refusal(op: &Op) -> String {
    format!("a message broker takes enqueues and dequeues only, not {op:?}")
}

impl Driver for AmqpDriver {
    fn len(&self) -> usize {
        self.nodes.len()
    }
    fn perform<'a>(&'a self, op: &'a Op, home: usize) -> Pending<'a> {
        Box::pin(self.run(op, home))
    }
    fn read_local<'a>(&'a self, key: &'a str, node: usize) -> Pending<'a> {
        Box::pin(self.drain(key, node))
    }
    fn reads_consume(&self) -> bool {
        true
    }
}
