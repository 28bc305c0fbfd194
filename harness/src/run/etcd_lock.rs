//! etcd's lock, as a user of its v3 API takes it (`--target etcd --workload lock`), through the
//! JSON gateway:
//! 1. `lease/grant` a lease of the lock's TTL (whole seconds, at least one), then keep it
//!    alive from the client — a `lease/keepalive` every third of the TTL, through the same
//!    member — for as long as the lock is wanted or held, as etcd's own session does;
//! 2. `lock/lock` with that lease: it blocks while others hold the lock (up to [`super::seeds::WAIT`]) and
//!    answers with the key that stands for the holder;
//! 3. `lock/unlock` that key, then `lease/revoke` the lease.
//!
//! How each step can end is recorded as any write's: a grant that failed, or a lock request
//! never sent or refused (4xx), acquired nothing (`fail`); a lock request that timed out or
//! got a 5xx or an unreadable answer may have acquired (`info`) — its lease is then revoked and
//! no longer kept alive, so a lock it took is given back within the TTL. An unlock answered
//! 200 is `ok`; etcd answers so whether or not the key still existed, which is exactly what its
//! user sees.
//!
//! Nothing here makes etcd's lock safer than it is: if the lease runs out while the member the
//! client goes through is paused or cut off, the lock passes on, and the waiting request may
//! still be told it acquired once the member is back (etcd 3.4 does not check that the
//! waiter's own key survived). The lock checker finds the two holders; the fault behind it is
//! named from the history.

use super::driver::{Completion, Endpoints, Owners};
use super::etcd_driver::answer;
use super::seeds::WAIT;
use checker::Outcome;
use serde_json::{json, Value};
use std::time::Duration;
use targets::client::Reply;

/// A lock this client was told it holds: its lease (kept alive by `keepalive`) and its key.
struct Held {
    lease: String,
    key: String,
    keepalive: tokio::task::AbortHandle,
}

/// The lock operations of one run's clients, and the locks they hold, by owner token.
pub struct EtcdLocks {
    http: Endpoints,
    waiting: Endpoints,
    held: Owners<Held>,
}

impl EtcdLocks {
    pub fn new(http: Endpoints) -> EtcdLocks {
        EtcdLocks {
            waiting: http.with_timeout(WAIT),
            http,
            held: Owners::default(),
        }
    }

    /// Takes lock `name` for `owner` with a lease of `lease_ms` (rounded up to whole seconds),
    /// through member `home`.
    pub async fn acquire(&self, name: &str, owner: &str, lease_ms: u64, home: usize) -> Completion {
        let node = Some(self.http.nodes[home].name.clone());
        let ttl = lease_ms.div_ceil(1000).max(1);
        let lease = match self.grant(ttl, home).await {
            Ok(id) => id,
            Err(e) => {
                return Completion::unavailable(node, Outcome::Fail, format!("lease grant: {e}"))
            }
        };
        let keepalive = self.keep_alive(&lease, ttl, home);
        let body = json!({"name": targets::base64::encode(name.as_bytes()), "lease": lease});
        let sent = self
            .waiting
            .post(home, "/v3/lock/lock", &body.to_string())
            .await;
        match answer(sent).and_then(|r| key_of(&r.body).ok_or((Outcome::Info, no_key(&r)))) {
            Ok(key) => {
                let held = Held {
                    lease,
                    key,
                    keepalive,
                };
                self.held.hold(owner, held);
                Completion::answered(node, Outcome::Ok, json!({"lease_ms": ttl * 1000}), None)
            }
            Err((outcome, e)) => {
                keepalive.abort();
                self.revoke(lease, home);
                Completion::unavailable(node, outcome, format!("lock: {e}"))
            }
        }
    }

    /// Lets `owner`'s lock go: unlocks its key, then revokes its lease.
    pub async fn release(&self, owner: &str, home: usize) -> Completion {
        let node = Some(self.http.nodes[home].name.clone());
        let held = match self.held.take(owner) {
            Ok(held) => held,
            Err(why) => return Completion::unavailable(node, Outcome::Fail, why),
        };
        held.keepalive.abort();
        let body = json!({"key": held.key});
        let sent = self
            .http
            .post(home, "/v3/lock/unlock", &body.to_string())
            .await;
        let done = answer(sent);
        self.revoke(held.lease, home);
        match done {
            Ok(_) => Completion::answered(node, Outcome::Ok, Value::Null, None),
            Err((outcome, e)) => Completion::unavailable(node, outcome, format!("unlock: {e}")),
        }
    }

    /// A new lease's ID, or why there is none.
    async fn grant(&self, ttl: u64, home: usize) -> Result<String, String> {
        let body = json!({"TTL": ttl}).to_string();
        let r = self
            .http
            .post(home, "/v3/lease/grant", &body)
            .await
            .map_err(|e| e.to_string())?;
        let id = match &r.body["ID"] {
            Value::String(s) if r.status == 200 => s.clone(),
            Value::Number(n) if r.status == 200 => n.to_string(),
            _ => return Err(format!("{} {}", r.status, base::cut(&r.text, 200))),
        };
        Ok(id)
    }

    /// Renews `lease` every third of its TTL through member `home` until aborted.
    fn keep_alive(&self, lease: &str, ttl: u64, home: usize) -> tokio::task::AbortHandle {
        let http = self.http.clone();
        let body = json!({"ID": lease}).to_string();
        let every = Duration::from_millis(ttl * 1000 / 3);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(every).await;
                // A renewal that fails is simply not a renewal: the lease runs out on etcd's
                // clock, which is the point.
                let _ = http.post(home, "/v3/lease/keepalive", &body).await;
            }
        })
        .abort_handle()
    }

    /// Revokes `lease` in the background (best effort: unrevoked, it runs out by itself).
    fn revoke(&self, lease: String, home: usize) {
        let http = self.http.clone();
        tokio::spawn(async move {
            let body = json!({"ID": lease}).to_string();
            let _ = http.post(home, "/v3/lease/revoke", &body).await;
        });
    }
}

impl Drop for EtcdLocks {
    fn drop(&mut self) {
        for held in self.held.drain() {
            held.keepalive.abort();
        }
    }
}

/// The holder's key in a lock's answer (base64, as unlock takes it back).
fn key_of(body: &Value) -> Option<String> {
    body["key"]
        .as_str()
        .filter(|k| !k.is_empty())
        .map(str::to_string)
}

fn no_key(r: &Reply) -> String {
    format!("an answer with no key: {}", base::cut(&r.text, 200))
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
    fn a_lock_is_held_only_on_a_200_with_a_key() {
        let ok = answer(Ok(reply(200, r#"{"key":"bG9jay8x"}"#))).unwrap();
        assert_eq!(key_of(&ok.body).as_deref(), Some("bG9jay8x"));
        assert_eq!(key_of(&reply(200, r#"{"header":{}}"#).body), None);
    }
}
