//! The client side of a target's HTTP API — raftkv's own, or any service's as its description
//! says ([`targets::described`]): performs one operation and says how it ended, in the
//! history's terms. The rules that keep a history honest live here:
//! - `ok` only for an answer that says the operation took effect (or, for a read, what it saw);
//! - `fail` only when it certainly did not: refused before being proposed (a redirect, no
//!   leader, not applied), a cas whose expected value did not match, or a connection never made;
//! - `info` otherwise — a timeout, a dropped connection, a node saying the outcome is unknown —
//!   for writes and cas. A read has no effect, so a read with no answer is a `fail`.
//!
//! Redirects to the leader are followed (up to three hops); the node that finally answered is
//! recorded with the completion.

use super::workload::Op;
use checker::Outcome;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use targets::client::{Client, ClientError};
use targets::described::{self, Answer, Described};

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

/// Which API the nodes speak.
#[derive(Clone)]
pub enum Api {
    Raftkv,
    Described(Arc<Described>),
}

/// Everything a client needs to make its own [`Driver`].
#[derive(Clone)]
pub struct Endpoints {
    pub api: Api,
    /// Each node's `host:port`, in node order.
    pub addrs: Vec<String>,
    /// Each node's name and URL path prefix, in node order.
    pub names: Vec<String>,
    pub prefixes: Vec<String>,
}

impl Endpoints {
    pub fn driver(&self, timeout: Duration) -> Driver {
        let mut d = Driver::new(&self.addrs, timeout);
        d.api = self.api.clone();
        for (i, a) in self.addrs.iter().enumerate() {
            d.names.insert(a.clone(), self.names[i].clone());
            d.prefixes.insert(a.clone(), self.prefixes[i].clone());
        }
        d
    }
}

/// One client's connections to every node.
pub struct Driver {
    /// Client address → node name.
    names: HashMap<String, String>,
    /// Client address → URL path prefix (described targets).
    prefixes: HashMap<String, String>,
    clients: HashMap<String, Client>,
    timeout: Duration,
    api: Api,
}

impl Driver {
    /// A raftkv driver; `nodes` are the client addresses, in node order.
    pub fn new(nodes: &[String], timeout: Duration) -> Driver {
        Driver {
            names: nodes
                .iter()
                .enumerate()
                .map(|(i, a)| (a.clone(), format!("n{}", i + 1)))
                .collect(),
            prefixes: HashMap::new(),
            clients: HashMap::new(),
            timeout,
            api: Api::Raftkv,
        }
    }

    fn client(&mut self, addr: &str) -> &mut Client {
        let timeout = self.timeout;
        self.clients
            .entry(addr.to_string())
            .or_insert_with(|| Client::new(addr, timeout))
    }

    /// Performs `op` (or, with `final_read`, reads a node's own copy) as a description says.
    fn perform_described(
        &mut self,
        d: &Described,
        op: &Op,
        addr: &str,
        final_read: bool,
    ) -> Completion {
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
            d.prepare_final_read(op.key())
        } else {
            d.prepare(dop)
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
            let reply = match self.client(&addr).request_text(
                &request.method,
                &path,
                request.body.as_deref(),
            ) {
                Ok(r) => r,
                // Never connected: nothing was sent.
                Err(e @ ClientError::Connect(..)) => {
                    return Completion::unavailable(node, Outcome::Fail, e.to_string())
                }
                Err(e) => return Completion::unavailable(node, unknown, e.to_string()),
            };
            return match d.interpret(
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
                Answer::Elsewhere(next) => {
                    addr = next;
                    continue;
                }
            };
        }
        Completion::unavailable(None, Outcome::Fail, "too many redirects".into())
    }

    fn request(
        &mut self,
        addr: &str,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<targets::client::Reply, ClientError> {
        self.client(addr).request(method, path, body)
    }

    /// Performs `op`, starting at the node with client address `addr`.
    pub fn perform(&mut self, op: &Op, addr: &str) -> Completion {
        if let Api::Described(d) = &self.api {
            let d = d.clone();
            return self.perform_described(&d, op, addr, false);
        }
        let (method, path, body) = match op {
            Op::Read { key } => ("GET", format!("/kv/{key}"), None),
            Op::Write { key, value } => {
                ("PUT", format!("/kv/{key}"), Some(json!({"value": value})))
            }
            Op::Cas { key, from, to } => (
                "POST",
                format!("/kv/{key}/cas"),
                Some(json!({"from": from, "to": to})),
            ),
        };
        let unknown = op.unanswered();
        let mut addr = addr.to_string();
        for _hop in 0..4 {
            let node = self.names.get(&addr).cloned();
            let reply = match self.request(&addr, method, &path, body.as_ref()) {
                Ok(r) => r,
                // Never connected: nothing was sent.
                Err(e @ ClientError::Connect(..)) => {
                    return Completion::unavailable(node, Outcome::Fail, e.to_string())
                }
                Err(e) => return Completion::unavailable(node, unknown, e.to_string()),
            };
            let version = reply.body.get("version").and_then(Value::as_u64);
            let message = reply
                .body
                .get("error")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let error = format!("{}: {message}", reply.status);
            return match (reply.status, op) {
                (200, Op::Read { .. }) => {
                    let value = reply.body.get("value").cloned().unwrap_or(Value::Null);
                    Completion::answered(node, Outcome::Ok, value, version)
                }
                (404, Op::Read { .. }) => {
                    Completion::answered(node, Outcome::Ok, Value::Null, None)
                }
                (200, _) => Completion::answered(node, Outcome::Ok, Value::Null, version),
                (409, Op::Cas { .. }) => Completion {
                    error: Some("cas mismatch".into()),
                    ..Completion::answered(node, Outcome::Fail, Value::Null, None)
                },
                // Not proposed anywhere: safe to send to the leader it names.
                (307, _) => match reply.location.as_deref().and_then(location_addr) {
                    Some(next) => {
                        addr = next;
                        continue;
                    }
                    None => Completion::unavailable(node, Outcome::Fail, error),
                },
                (503, _) => {
                    let indeterminate = reply.body.get("indeterminate").and_then(Value::as_bool);
                    let outcome = if indeterminate == Some(true) {
                        unknown
                    } else {
                        Outcome::Fail
                    };
                    Completion::unavailable(node, outcome, error)
                }
                // Refused as malformed: it did nothing.
                (400..=499, _) => Completion {
                    error: Some(error),
                    ..Completion::answered(node, Outcome::Fail, Value::Null, None)
                },
                _ => Completion::unavailable(node, unknown, error),
            };
        }
        Completion::unavailable(None, Outcome::Fail, "too many redirects".into())
    }

    /// Reads `key` from the node at `addr`'s own state (`?local`), for the final reads.
    pub fn read_local(&mut self, key: &str, addr: &str) -> Completion {
        if let Api::Described(d) = &self.api {
            let d = d.clone();
            let op = Op::Read {
                key: key.to_string(),
            };
            return self.perform_described(&d, &op, addr, true);
        }
        let node = self.names.get(addr).cloned();
        match self.request(addr, "GET", &format!("/kv/{key}?local"), None) {
            Ok(r) if r.status == 200 => {
                let value = r.body.get("value").cloned().unwrap_or(Value::Null);
                let version = r.body.get("version").and_then(Value::as_u64);
                Completion::answered(node, Outcome::Ok, value, version)
            }
            Ok(r) if r.status == 404 => Completion::answered(node, Outcome::Ok, Value::Null, None),
            Ok(r) => Completion::unavailable(node, Outcome::Fail, format!("status {}", r.status)),
            Err(e) => Completion::unavailable(node, Outcome::Fail, e.to_string()),
        }
    }
}

/// `http://127.0.0.1:7001/kv/x` → `127.0.0.1:7001`.
fn location_addr(location: &str) -> Option<String> {
    let rest = location.strip_prefix("http://")?;
    Some(rest.split('/').next()?.to_string()).filter(|a| !a.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirect_locations_name_the_leader_address() {
        assert_eq!(
            location_addr("http://10.0.0.2:7000/kv/k1/cas").as_deref(),
            Some("10.0.0.2:7000")
        );
        assert_eq!(location_addr("ftp://x/"), None);
    }

    #[test]
    fn an_unreachable_node_fails_reads_and_writes_alike() {
        // Nothing listens on a port just released: the connection is refused, nothing was sent.
        let port = targets::raftkv::cluster::free_port().unwrap();
        let addr = format!("127.0.0.1:{port}");
        let mut d = Driver::new(std::slice::from_ref(&addr), Duration::from_millis(200));
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
