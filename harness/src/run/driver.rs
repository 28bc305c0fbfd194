//! The client side of a target's HTTP API, as its description says ([`targets::described`];
//! raftkv's is `examples/targets/raftkv.toml`, compiled in): performs one operation and says how
//! it ended, in the history's terms. The rules that keep a history honest live here and in the
//! description's status classes:
//! - `ok` only for an answer that says the operation took effect (or, for a read, what it saw);
//! - `fail` only when it certainly did not: refused before being proposed (a redirect, no
//!   leader, not applied), a cas whose expected value did not match, or a connection never made;
//! - `info` otherwise — a timeout, a dropped connection, a node saying the outcome is unknown —
//!   for writes and cas. A read has no effect, so a read with no answer is a `fail`.
//!
//! Redirects to the leader are followed when the description says so (up to three hops); the
//! node that finally answered is recorded with the completion.

use super::workload::Op;
use checker::Outcome;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use targets::client::{Client, ClientError};
use targets::described::{self, Answer, BaseUrl, Described};

/// How an operation ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Completion {
    pub outcome: Outcome,
    /// What a read returned (null for absent); null otherwise.
    pub value: Value,
    /// The node that answered, `n1`…
    pub node: Option<String>,
    pub version: Option<u64>,
    pub error: Option<String>,
    /// The node could not serve (unreachable, no leader known, unsure of the outcome): the client
    /// should try another. False for answers that decide the operation, a cas mismatch included.
    pub unavailable: bool,
}

impl Completion {
    /// A definite answer from a node that could serve.
    fn answered(
        node: Option<String>,
        outcome: Outcome,
        value: Value,
        version: Option<u64>,
    ) -> Self {
        Completion {
            outcome,
            value,
            node,
            version,
            error: None,
            unavailable: false,
        }
    }

    /// No definite answer: the node could not serve.
    fn unavailable(node: Option<String>, outcome: Outcome, error: String) -> Self {
        Completion {
            outcome,
            value: Value::Null,
            node,
            version: None,
            error: Some(error),
            unavailable: true,
        }
    }
}

/// Everything a client needs to make its own [`Driver`]: the API and the nodes.
#[derive(Clone)]
pub struct Endpoints {
    pub desc: Arc<Described>,
    /// Each node's `host:port`, in node order.
    pub addrs: Vec<String>,
    /// Each node's name and URL path prefix, in node order.
    pub names: Vec<String>,
    pub prefixes: Vec<String>,
}

impl Endpoints {
    /// `desc`'s API at these nodes (name and base URL, in node order).
    pub fn new(desc: Described, nodes: impl IntoIterator<Item = (String, BaseUrl)>) -> Endpoints {
        let (mut addrs, mut names, mut prefixes) = (Vec::new(), Vec::new(), Vec::new());
        for (name, base) in nodes {
            names.push(name);
            addrs.push(base.addr);
            prefixes.push(base.prefix);
        }
        Endpoints {
            desc: Arc::new(desc),
            addrs,
            names,
            prefixes,
        }
    }

    /// raftkv's API at these client addresses, the nodes named `n1`, `n2`, ….
    pub fn raftkv(addrs: &[String]) -> Endpoints {
        Endpoints {
            desc: Arc::new(targets::raftkv::described(addrs)),
            addrs: addrs.to_vec(),
            names: (1..=addrs.len()).map(|i| format!("n{i}")).collect(),
            prefixes: vec![String::new(); addrs.len()],
        }
    }

    pub fn driver(&self, timeout: Duration) -> Driver {
        let at = |v: &[String]| -> HashMap<String, String> {
            self.addrs.iter().cloned().zip(v.iter().cloned()).collect()
        };
        Driver {
            desc: self.desc.clone(),
            names: at(&self.names),
            prefixes: at(&self.prefixes),
            clients: HashMap::new(),
            timeout,
        }
    }
}

/// One client's connections to every node.
pub struct Driver {
    desc: Arc<Described>,
    /// Client address → node name.
    names: HashMap<String, String>,
    /// Client address → URL path prefix.
    prefixes: HashMap<String, String>,
    clients: HashMap<String, Client>,
    timeout: Duration,
}

impl Driver {
    /// Performs `op`, starting at the node with client address `addr`.
    pub fn perform(&mut self, op: &Op, addr: &str) -> Completion {
        self.exchange(op, addr, false)
    }

    /// Reads `key` from the node at `addr`'s own state (the description's final read), for the
    /// final reads.
    pub fn read_local(&mut self, key: &str, addr: &str) -> Completion {
        let op = Op::Read {
            key: key.to_string(),
        };
        self.exchange(&op, addr, true)
    }

    /// Sends `op` (or, with `final_read`, a read of a node's own copy) and interprets the answer
    /// as the description says.
    fn exchange(&mut self, op: &Op, addr: &str, final_read: bool) -> Completion {
        let values: (Value, Value) = match op {
            Op::Read { .. } => (Value::Null, Value::Null),
            Op::Write { value, .. } => (json!(value), Value::Null),
            Op::Cas { from, to, .. } => (json!(from), json!(to)),
        };
        let dop = match op {
            Op::Read { key } => described::Op::Read { key },
            Op::Write { key, .. } => described::Op::Write {
                key,
                value: &values.0,
            },
            Op::Cas { key, .. } => described::Op::Cas {
                key,
                from: &values.0,
                to: &values.1,
            },
        };
        let request = if final_read {
            self.desc.prepare_final_read(op.key())
        } else {
            self.desc.prepare(dop)
        };
        let unknown = op.unanswered();
        let mut addr = addr.to_string();
        for _hop in 0..4 {
            let node = self.names.get(&addr).cloned();
            let path = format!(
                "{}{}",
                self.prefixes.get(&addr).map_or("", String::as_str),
                request.path
            );
            let timeout = self.timeout;
            let reply = match self
                .clients
                .entry(addr.clone())
                .or_insert_with(|| Client::new(&addr, timeout))
                .request_text(&request.method, &path, request.body.as_deref())
            {
                Ok(r) => r,
                // Never connected: nothing was sent.
                Err(e @ ClientError::Connect(..)) => {
                    return Completion::unavailable(node, Outcome::Fail, e.to_string())
                }
                Err(e) => return Completion::unavailable(node, unknown, e.to_string()),
            };
            return match self.desc.interpret(
                dop,
                final_read,
                reply.status,
                &reply.body,
                reply.location.as_deref(),
            ) {
                Answer::Ok { value, version } => {
                    Completion::answered(node, Outcome::Ok, value, version)
                }
                Answer::Mismatch => Completion {
                    error: Some("cas mismatch".into()),
                    ..Completion::answered(node, Outcome::Fail, Value::Null, None)
                },
                Answer::Refused(e) => Completion::unavailable(node, Outcome::Fail, e),
                Answer::Unknown(e) => Completion::unavailable(node, unknown, e),
                // Not acted on: safe to send to the node it names.
                Answer::Elsewhere(next) => {
                    addr = next;
                    continue;
                }
            };
        }
        Completion::unavailable(None, Outcome::Fail, "too many redirects".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unreachable_node_fails_reads_and_writes_alike() {
        // Nothing listens on a port just released: the connection is refused, nothing was sent.
        let port = targets::raftkv::cluster::free_port().unwrap();
        let addr = format!("127.0.0.1:{port}");
        let mut d =
            Endpoints::raftkv(std::slice::from_ref(&addr)).driver(Duration::from_millis(200));
        for op in [
            Op::Read { key: "k".into() },
            Op::Write {
                key: "k".into(),
                value: 1,
            },
        ] {
            let c = d.perform(&op, &addr);
            assert_eq!(c.outcome, Outcome::Fail, "{op:?}");
            assert!(c.unavailable, "the client should move on");
            assert_eq!(c.node.as_deref(), Some("n1"));
        }
    }
}
