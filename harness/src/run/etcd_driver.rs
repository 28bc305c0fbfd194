//! Transactions on etcd ([`targets::etcd_txn`]): a linearizable read of every key the
//! transaction touches, then a commit that compares their revisions. How each way it can end
//! is recorded:
//! - the read failed, in any way: `fail` (nothing was written);
//! - the commit's compare failed (a key changed since the read): `fail`, and the node served;
//! - the commit was refused (4xx) or never sent (no connection): `fail`;
//! - the commit timed out, the connection broke, etcd answered 5xx, or its answer cannot be
//!   read: `info` — it may have committed.
//!
//! The lock workload takes etcd's lock API ([`super::etcd_lock`]).
//!
//! Register operations and the final reads of a register workload go through the description's
//! requests as on any HTTP target; a transactional workload's final reads are ranges served from
//! each member's own state.

use super::driver::{Completion, Driver, Endpoints, Pending};
use super::etcd_lock::EtcdLocks;
use super::workload::{Micro, Op, Workload};
use checker::Outcome;
use serde_json::{json, Value};
use targets::client::{ClientError, Reply};
use targets::etcd_txn::{self, Held};
use targets::txn::{Shape, Step};

/// etcd's HTTP API, with transactions run the etcd way.
pub struct EtcdDriver {
    http: Endpoints,
    shape: Shape,
    transactional: bool,
    /// etcd's lock API, for the lock workload.
    locks: Option<EtcdLocks>,
}

impl EtcdDriver {
    pub fn new(http: Endpoints, workload: Workload) -> EtcdDriver {
        EtcdDriver {
            shape: match workload {
                Workload::ListAppend => Shape::Lists,
                _ => Shape::Registers,
            },
            transactional: workload.transactional(),
            locks: (workload == Workload::Lock).then(|| EtcdLocks::new(http.clone())),
            http,
        }
    }

    async fn txn(&self, micro: &[Micro], home: usize) -> Completion {
        let node = Some(self.http.nodes[home].name.clone());
        let steps: Vec<Step> = match micro.iter().map(Micro::step).collect() {
            Ok(s) => s,
            Err(e) => return Completion::unavailable(node, Outcome::Fail, e),
        };
        let keys = etcd_txn::keys(&steps);
        // 1. Read: any failure here wrote nothing.
        let read = self.post(home, etcd_txn::read_body(&keys)).await;
        let held = match read.and_then(|r| {
            etcd_txn::parse_read(&r.body, &keys, self.shape)
                .map_err(|e| format!("{}: {e}", r.status))
        }) {
            Ok(held) => held,
            Err(e) => return Completion::unavailable(node, Outcome::Fail, format!("read: {e}")),
        };
        let mut planned = etcd_txn::plan(&steps, &held, self.shape);
        if planned.puts.is_empty() {
            return Completion::answered(node, Outcome::Ok, Value::Array(planned.done), None);
        }
        // 2. Commit, if nothing changed since.
        match self.commit(&held, &planned.puts, home).await {
            Ok(Some(revision)) => {
                etcd_txn::stamp(&mut planned.done, revision, self.shape);
                Completion::answered(node, Outcome::Ok, Value::Array(planned.done), None)
            }
            Ok(None) => Completion {
                error: Some("a key changed since it was read: the commit's compare failed".into()),
                ..Completion::answered(node, Outcome::Fail, Value::Null, None)
            },
            Err((outcome, e)) => Completion::unavailable(node, outcome, e),
        }
    }

    /// The commit's revision, `None` if its compare failed, or how it ended without one.
    async fn commit(
        &self,
        held: &std::collections::BTreeMap<String, Held>,
        puts: &[(String, String)],
        home: usize,
    ) -> Result<Option<u64>, (Outcome, String)> {
        let sent = self
            .http
            .post(home, etcd_txn::PATH, &etcd_txn::write_body(held, puts))
            .await;
        let reply = answer(sent).map_err(|(outcome, e)| (outcome, format!("commit: {e}")))?;
        etcd_txn::parse_write(&reply.body).map_err(|e| (Outcome::Info, format!("commit: {e}")))
    }

    /// A 200 answer to a POST of `body` to the transactions path of node `home`, or why none.
    async fn post(&self, home: usize, body: String) -> Result<Reply, String> {
        let r = self
            .http
            .post(home, etcd_txn::PATH, &body)
            .await
            .map_err(|e| e.to_string())?;
        match r.status {
            200 => Ok(r),
            s => Err(format!("{s} {}", base::cut(&r.text, 200))),
        }
    }

    /// Node `node`'s own copy of `key` (a serializable range), as a read completes.
    async fn read_own(&self, key: &str, node: usize) -> Completion {
        let name = Some(self.http.nodes[node].name.clone());
        let body = json!({"key": targets::base64::encode(key.as_bytes()), "serializable": true});
        let got = self
            .http
            .post(node, "/v3/kv/range", &body.to_string())
            .await;
        let reply = match got {
            Ok(r) if r.status == 200 => r,
            Ok(r) => {
                return Completion::unavailable(
                    name,
                    Outcome::Fail,
                    format!("{} {}", r.status, base::cut(&r.text, 200)),
                )
            }
            Err(e) => return Completion::unavailable(name, Outcome::Fail, e.to_string()),
        };
        // A range is a read transaction's answer with one response.
        let as_txn = json!({"responses": [{"response_range": reply.body}]});
        match etcd_txn::parse_read(&as_txn, &[key], self.shape) {
            Ok(held) => {
                let h = &held[key];
                let version = (h.mod_revision > 0 && self.shape == Shape::Registers)
                    .then_some(h.mod_revision);
                Completion::answered(name, Outcome::Ok, h.value.clone(), version)
            }
            Err(e) => Completion::unavailable(name, Outcome::Fail, e),
        }
    }
}

/// A 200 reply from etcd's gateway, or how the request ended: never sent, or refused (4xx),
/// is `fail`; no answer, or any other status, is `info` — it may have taken effect.
pub(super) fn answer(sent: Result<Reply, ClientError>) -> Result<Reply, (Outcome, String)> {
    match sent {
        Ok(r) if r.status == 200 => Ok(r),
        Ok(r) => {
            let outcome = match r.status {
                400..=499 => Outcome::Fail,
                _ => Outcome::Info,
            };
            Err((outcome, format!("{} {}", r.status, base::cut(&r.text, 200))))
        }
        Err(e @ ClientError::NotSent(..)) => Err((Outcome::Fail, e.to_string())),
        Err(e) => Err((Outcome::Info, e.to_string())),
    }
}

impl Driver for EtcdDriver {
    fn len(&self) -> usize {
        self.http.nodes.len()
    }
    fn perform<'a>(&'a self, op: &'a Op, home: usize) -> Pending<'a> {
        match op.primitive() {
            Op::Txn(micro) => match (micro.as_slice(), &self.locks) {
                (
                    [Micro::Acquire {
                        key,
                        owner,
                        lease_ms,
                    }],
                    Some(locks),
                ) => Box::pin(locks.acquire(key, owner, *lease_ms, home)),
                ([Micro::Release { owner, .. }], Some(locks)) => {
                    Box::pin(locks.release(owner, home))
                }
                _ => Box::pin(self.txn(micro, home)),
            },
            _ => Driver::perform(&self.http, op, home),
        }
    }
    fn read_local<'a>(&'a self, key: &'a str, node: usize) -> Pending<'a> {
        match self.transactional {
            true => Box::pin(self.read_own(key, node)),
            false => Driver::read_local(&self.http, key, node),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reply(status: u16, text: &str) -> Reply {
        Reply {
            status,
            body: serde_json::from_str(text).unwrap_or(Value::Null),
            text: text.into(),
            location: None,
        }
    }

    #[test]
    fn only_a_200_took_effect_and_only_a_refusal_or_nothing_sent_did_not() {
        assert!(answer(Ok(reply(200, r#"{"key":"bG9jay8x"}"#))).is_ok());
        assert_eq!(answer(Ok(reply(400, "bad"))).unwrap_err().0, Outcome::Fail);
        assert_eq!(answer(Ok(reply(503, "busy"))).unwrap_err().0, Outcome::Info);
        let never = ClientError::NotSent("n1".into(), "refused".into());
        assert_eq!(answer(Err(never)).unwrap_err().0, Outcome::Fail);
        let lost = ClientError::Unanswered("n1".into(), "timed out".into());
        assert_eq!(answer(Err(lost)).unwrap_err().0, Outcome::Info);
    }
}
