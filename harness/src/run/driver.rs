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
//! Redirects to the leader are followed when the description says so (up to three hops), to the
//! Location as given, absolute or relative; the node that finally answered is recorded with the
//! completion. All clients share one [`Endpoints`] and its connection pool; each is a tokio
//! task.

use super::workload::Op;
use checker::Outcome;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use targets::client::{ClientError, Http, Outgoing, Reply, TlsFiles};
use targets::described::{self, Answer, BaseUrl, Described};
use targets::Failure;

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
    /// The node first asked, when another answered (it redirected the request): the node
    /// clients went through, for outages.
    pub via: Option<String>,
}

impl Completion {
    /// A definite answer from a node that could serve.
    pub(crate) fn answered(
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
            via: None,
        }
    }

    /// No definite answer: the node could not serve.
    pub fn unavailable(node: Option<String>, outcome: Outcome, error: String) -> Self {
        Completion {
            outcome,
            value: Value::Null,
            node,
            version: None,
            error: Some(error),
            unavailable: true,
            via: None,
        }
    }
}

/// How `op` at node `name` ended, in the history's terms, for a driver whose operations end in
/// a [`Failure`]: the system said no (a serialization failure, a refused message) → `fail`,
/// answered, and a client may try again there; it may have taken effect → the op's unanswered
/// outcome; nothing was sent → `fail`, unavailable.
pub(crate) fn concluded(op: &Op, name: &str, done: Result<Value, Failure>) -> Completion {
    let node = Some(name.to_string());
    match done {
        Ok(value) => Completion::answered(node, Outcome::Ok, value, None),
        Err(Failure::Definite(e)) => Completion {
            error: Some(e),
            ..Completion::answered(node, Outcome::Fail, Value::Null, None)
        },
        Err(Failure::Unknown(e)) => Completion::unavailable(node, op.unanswered(), e),
        Err(Failure::Unreachable(e)) => Completion::unavailable(node, Outcome::Fail, e),
    }
}

/// The locks a lock workload's clients were told they hold, by owner token: what a driver
/// keeps between an acquire and its release (etcd's lease and key, ZooKeeper's session).
pub struct Owners<T>(std::sync::Mutex<std::collections::HashMap<String, T>>);

impl<T> Default for Owners<T> {
    fn default() -> Self {
        Owners(Default::default())
    }
}

impl<T> Owners<T> {
    fn table(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, T>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn hold(&self, owner: &str, lock: T) {
        self.table().insert(owner.to_string(), lock);
    }

    /// `owner`'s lock, taken out for its release, or why there is none.
    pub fn take(&self, owner: &str) -> Result<T, String> {
        self.table()
            .remove(owner)
            .ok_or_else(|| format!("{owner} holds no lock this client knows of"))
    }

    /// Every lock still held (the run is over).
    pub fn drain(&self) -> Vec<T> {
        self.table().drain().map(|(_, lock)| lock).collect()
    }
}

/// An operation under way; it ends in a [`Completion`].
pub type Pending<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Completion> + Send + 'a>>;

/// How clients talk to a system: HTTP as its description says ([`Endpoints`]), or SQL
/// ([`super::sql_driver::SqlDriver`]). The rules of a history above hold for each.
pub trait Driver: Send + Sync {
    /// How many nodes clients may be sent to.
    fn len(&self) -> usize;
    /// Performs `op`, starting at node `home`.
    fn perform<'a>(&'a self, op: &'a Op, home: usize) -> Pending<'a>;
    /// Reads `key` from node `node`'s own state (the final reads, after the faults).
    fn read_local<'a>(&'a self, key: &'a str, node: usize) -> Pending<'a>;
    /// Whether [`Driver::read_local`] takes what it reads (a broker's drain): such a node's
    /// copy is read once, for the record, and never to compare copies.
    fn reads_consume(&self) -> bool {
        false
    }
}

impl Driver for Endpoints {
    fn len(&self) -> usize {
        self.nodes.len()
    }
    fn perform<'a>(&'a self, op: &'a Op, home: usize) -> Pending<'a> {
        Box::pin(self.exchange(op, home, false))
    }
    fn read_local<'a>(&'a self, key: &'a str, node: usize) -> Pending<'a> {
        Box::pin(Endpoints::read_local(self, key, node))
    }
}

/// One node as clients reach it.
#[derive(Clone, Debug)]
pub struct Node {
    pub name: String,
    pub base: BaseUrl,
}

/// The API and the nodes, and the connection pool every client shares.
#[derive(Clone)]
pub struct Endpoints {
    pub desc: Arc<Described>,
    pub nodes: Vec<Node>,
    http: Http,
}

impl Endpoints {
    /// `desc`'s API at these nodes (name, base URL and the address its host resolved to, in
    /// node order); requests time out after `timeout`.
    pub fn new(
        desc: Described,
        nodes: impl IntoIterator<Item = (String, BaseUrl, SocketAddr)>,
        timeout: Duration,
    ) -> Result<Endpoints, String> {
        let (mut list, mut pins) = (Vec::new(), Vec::new());
        for (name, base, resolved) in nodes {
            pins.extend(base.pin(resolved));
            list.push(Node { name, base });
        }
        let http = Http::new(timeout, &desc.tls_files(), &pins)?;
        Ok(Endpoints {
            desc: Arc::new(desc),
            nodes: list,
            http,
        })
    }

    /// raftkv's API at these client addresses, the nodes named `n1`, `n2`, ….
    pub fn raftkv(addrs: &[String], timeout: Duration) -> Endpoints {
        let nodes = addrs.iter().enumerate().map(|(i, a)| Node {
            name: format!("n{}", i + 1),
            base: BaseUrl::parse(&format!("http://{a}")).expect("raftkv listens on host:port"),
        });
        Endpoints {
            desc: Arc::new(targets::raftkv::described(addrs)),
            nodes: nodes.collect(),
            http: Http::new(timeout, &TlsFiles::default(), &[]).expect("plain HTTP needs no files"),
        }
    }

    /// POSTs a JSON `body` to `path` on node `node`, as it is (no redirects followed).
    /// The same nodes and connections, with requests that wait up to `timeout`.
    pub fn with_timeout(&self, timeout: Duration) -> Endpoints {
        Endpoints {
            http: self.http.with_timeout(timeout),
            ..self.clone()
        }
    }

    pub async fn post(&self, node: usize, path: &str, body: &str) -> Result<Reply, ClientError> {
        let url = self.nodes[node].base.url(path);
        self.http
            .send(Outgoing {
                method: "POST",
                url: &url,
                headers: &[],
                body: Some(body),
                content_type: Some("application/json"),
            })
            .await
    }

    /// Reads `key` from node `node`'s own state (the description's final read).
    pub async fn read_local(&self, key: &str, node: usize) -> Completion {
        let op = Op::Read {
            key: key.to_string(),
        };
        self.exchange(&op, node, true).await
    }

    /// The node a URL points at: a described node with that host and port, else the
    /// `host:port` itself.
    fn node_at(&self, url: &str) -> String {
        let authority = described::authority(url).unwrap_or_default();
        self.nodes
            .iter()
            .find(|n| n.base.authority() == authority)
            .map_or(authority, |n| n.name.clone())
    }

    /// Sends `op` (or, with `final_read`, a read of a node's own copy) and interprets the answer
    /// as the description says.
    async fn exchange(&self, op: &Op, home: usize, final_read: bool) -> Completion {
        let values = op_values(op);
        let dop = described_op(op, &values);
        let request = self.prepare(op, dop, final_read);
        let mut url = self.nodes[home].base.url(&request.path);
        let mut node = Some(self.nodes[home].name.clone());
        let entry = node.clone();
        for _hop in 0..MAX_HOPS {
            let sent = self.http.send(Outgoing {
                method: &request.method,
                url: &url,
                headers: &request.headers,
                body: request.body.as_deref(),
                content_type: request.content_type.as_deref(),
            });
            match self.conclude_as(op, dop, final_read, sent.await, node, &url) {
                Hop::Done(mut c) => {
                    if c.node != entry {
                        c.via = entry;
                    }
                    return c;
                }
                Hop::Follow { url: next, node: n } => (url, node) = (next, Some(n)),
            }
        }
        Completion::unavailable(None, Outcome::Fail, "too many redirects".into())
    }

    /// What the reply (or the failure to get one) from `node` at `url` means for `op`: how it
    /// ended, or where to ask next. The rules of a history, apart from the transport: the
    /// simulator (`faultline sim`) calls it with the replies of simulated nodes.
    pub fn conclude(
        &self,
        op: &Op,
        final_read: bool,
        sent: Result<Reply, ClientError>,
        node: Option<String>,
        url: &str,
    ) -> Hop {
        let values = op_values(op);
        self.conclude_as(op, described_op(op, &values), final_read, sent, node, url)
    }

    /// [`Endpoints::conclude`] with `op` already in the description's terms (the client loop
    /// has it from preparing the request).
    fn conclude_as(
        &self,
        op: &Op,
        dop: described::Op,
        final_read: bool,
        sent: Result<Reply, ClientError>,
        node: Option<String>,
        url: &str,
    ) -> Hop {
        let unknown = op.unanswered();
        let reply = match sent {
            Ok(r) => r,
            // Never connected: nothing was sent.
            Err(e @ ClientError::NotSent(..)) => {
                return Hop::Done(Completion::unavailable(node, Outcome::Fail, e.to_string()))
            }
            Err(e) => return Hop::Done(Completion::unavailable(node, unknown, e.to_string())),
        };
        let done = match self.desc.interpret(dop, final_read, &reply) {
            Answer::Ok { value, version } => match completed_txn(op, &value) {
                Err(why) => Completion::unavailable(
                    node,
                    unknown,
                    format!(
                        "{}: an answer that does not fit the transaction: {why}",
                        reply.status
                    ),
                ),
                Ok(()) => Completion::answered(node, Outcome::Ok, value, version),
            },
            Answer::Mismatch => Completion {
                error: Some("cas mismatch".into()),
                ..Completion::answered(node, Outcome::Fail, Value::Null, None)
            },
            Answer::Refused(e) => Completion::unavailable(node, Outcome::Fail, e),
            Answer::Unknown(e) => Completion::unavailable(node, unknown, e),
            // Not acted on: safe to send where it points.
            Answer::Elsewhere(location) => match described::redirect_target(url, &location) {
                Some(next) => {
                    let node = self.node_at(&next);
                    return Hop::Follow { url: next, node };
                }
                None => Completion::unavailable(
                    node,
                    Outcome::Fail,
                    format!(
                        "{}: a redirect to {location:?}, which is not an http(s) URL",
                        reply.status
                    ),
                ),
            },
        };
        Hop::Done(done)
    }

    /// The URL of `op` (or of a final read of its key) at node `node`.
    pub fn url_for(&self, op: &Op, node: usize, final_read: bool) -> String {
        let values = op_values(op);
        let request = self.prepare(op, described_op(op, &values), final_read);
        self.nodes[node].base.url(&request.path)
    }

    /// The request for `op` (`dop` in the description's terms), or for a final read of its key.
    fn prepare(&self, op: &Op, dop: described::Op, final_read: bool) -> described::Prepared {
        match (final_read, op.key()) {
            (true, Some(key)) => self.desc.prepare_final_read(key),
            _ => self.desc.prepare(dop),
        }
    }

    /// The index of the node named `name` (`n2`), if it is one of these.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.name == name)
    }
}

/// Redirects followed for one operation, at most.
pub const MAX_HOPS: usize = 4;

/// The outcome of one exchange with a node.
#[derive(Debug, PartialEq)]
pub enum Hop {
    Done(Completion),
    /// Not acted on there; ask `node` at `url`.
    Follow {
        url: String,
        node: String,
    },
}

/// The values an operation sends: (value or from, to; a transaction's micro-ops).
fn op_values(op: &Op) -> (Value, Value) {
    match op {
        Op::Read { .. } => (Value::Null, Value::Null),
        Op::Write { value, .. } => (json!(value), Value::Null),
        Op::Cas { from, to, .. } => (json!(from), json!(to)),
        Op::Txn(_) => (op.value(), Value::Null),
        Op::Seed(s) => op_values(&s.op),
    }
}

/// A final read of `key`, as a transactional history records it: a transaction of one read,
/// `[["r", k, v]]`, with the version that wrote a register's value as a fourth element.
pub fn as_final_txn(key: &str, c: &mut Completion) {
    if c.outcome == Outcome::Ok {
        c.value = match (&c.value, c.version) {
            (v, Some(version)) if !v.is_array() && !v.is_null() => json!([["r", key, v, version]]),
            (v, _) => json!([["r", key, v]]),
        };
    }
}

/// For a transaction, whether the answer's micro-ops are the ones sent, completed: as many, each
/// with the same function and key, appends and writes with the same value, reads with a value
/// (and any micro-op with an optional fourth element, its version). Anything else is no answer
/// at all — never a made-up read.
fn completed_txn(op: &Op, got: &Value) -> Result<(), String> {
    let Op::Txn(sent) = op else { return Ok(()) };
    let got = got.as_array().ok_or("no list of micro-ops")?;
    if got.len() != sent.len() {
        return Err(format!(
            "{} micro-ops sent, {} answered",
            sent.len(),
            got.len()
        ));
    }
    for (m, g) in sent.iter().zip(got) {
        let want = m.json();
        let parts = g.as_array().filter(|p| p.len() == 3 || p.len() == 4);
        let fits = parts.is_some_and(|p| {
            p[0] == want[0]
                && p[1] == want[1]
                && (m.answered() || p[2] == want[2])
                && p.get(3).is_none_or(|v| v.is_u64() || v.is_null())
        });
        if !fits {
            return Err(format!("{want} came back as {g}"));
        }
    }
    Ok(())
}

/// `op` as the description's requests take it.
fn described_op<'a>(op: &'a Op, values: &'a (Value, Value)) -> described::Op<'a> {
    match op {
        Op::Seed(s) => described_op(&s.op, values),
        Op::Txn(_) => described::Op::Txn { ops: &values.0 },
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
        let d = Endpoints::raftkv(std::slice::from_ref(&addr), Duration::from_millis(200));
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        for op in [
            Op::Read { key: "k".into() },
            Op::Write {
                key: "k".into(),
                value: 1,
            },
        ] {
            let c = rt.block_on(d.perform(&op, 0));
            assert_eq!(c.outcome, Outcome::Fail, "{op:?}");
            assert!(c.unavailable, "the client should move on");
            assert_eq!(c.node.as_deref(), Some("n1"));
        }
    }
}
