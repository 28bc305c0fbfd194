//! ZooKeeper as a register store, driven with `zookeeper-client`: a target file's
//! `[zookeeper]` section, and `--target zookeeper` ([`crate::zookeeper`]).
//!
//! Each key is a znode (`/faultline-KEY`) holding a decimal number:
//! - **read** is `getData` on the session's own server. ZooKeeper serves reads from whichever
//!   server a session is connected to, so a server cut off from the leader answers with what it
//!   has: plain reads are sequentially consistent, not linearizable. With `read = "sync"` the
//!   read is `sync` then `getData`, which makes the server catch up with the leader first.
//! - **write** is `setData` (a `create` the first time; a create that lost a race to another is
//!   followed by the `setData` it should have been).
//! - **cas** is `getData`, then `setData` conditional on the znode's version: a value other
//!   than the expected one, or a version that moved in between, is a definite failure.
//!
//! The znode's data version after each write (`Stat.version`, counted from 1 here) is recorded
//! as the operation's version: ZooKeeper orders every write of a znode through its leader, so
//! that is the key's version order, and the checker compares reads against it.
//!
//! Each operation runs on a session with its node's server only (so that a read shows what that
//! server has, not what another would); sessions are pooled, one per concurrent operation, and
//! one that saw a timeout is closed rather than reused. Outcomes
//! follow the history's rules: a write whose reply was lost (connection loss, a timeout, the
//! session ending) may have been applied, and is [`Failure::Unknown`]; a read that got no
//! answer is a failure.

use crate::{within, Failure};
use serde::Deserialize;
use std::time::Duration;
use zookeeper_client as zk;

/// A target file's `[zookeeper]` section.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZkDesc {
    #[serde(default)]
    pub read: ReadMode,
}

/// How a read reaches the data.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ReadMode {
    /// `getData` as the session's server has it.
    #[default]
    Plain,
    /// `sync`, then `getData`.
    Sync,
}

impl ReadMode {
    /// `plain` or `sync`.
    pub fn parse(text: &str) -> Result<ReadMode, String> {
        match text {
            "plain" => Ok(ReadMode::Plain),
            "sync" => Ok(ReadMode::Sync),
            other => Err(format!("{other:?}: expected plain or sync")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ReadMode::Plain => "plain",
            ReadMode::Sync => "sync",
        }
    }
}

/// What a register operation saw or left: the value (`None`: the znode does not exist) and
/// its version.
pub type Versioned = (Option<u64>, Option<u64>);

/// One ZooKeeper server as the workload's clients reach it.
pub struct Server {
    address: String,
    read: ReadMode,
    /// Sessions not in use: each operation takes one, and gives it back if it ended cleanly.
    sessions: std::sync::Mutex<Vec<zk::Client>>,
}

impl Server {
    /// The server at `host:port`, read as `desc` says.
    pub fn new(host: &str, port: u16, desc: &ZkDesc) -> Server {
        Server {
            address: format!("{host}:{port}"),
            read: desc.read,
            sessions: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// The value of `key` and its version.
    pub async fn read(&self, key: &str, t: Duration) -> Result<Versioned, Failure> {
        let c = self.client(t).await?;
        let got = self.read_on(&c, key, t).await;
        self.give_back(c, got.is_ok());
        got
    }

    async fn read_on(&self, c: &zk::Client, key: &str, t: Duration) -> Result<Versioned, Failure> {
        let path = path(key);
        let got = within(t, async {
            if self.read == ReadMode::Sync {
                c.sync(&path).await?;
            }
            c.get_data(&path).await
        })
        .await;
        match got {
            Some(Ok((data, stat))) => Ok((Some(number(&data)?), Some(version(&stat)))),
            Some(Err(zk::Error::NoNode)) => Ok((None, None)),
            Some(Err(e)) => Err(self.lost(e, "read")),
            None => Err(Failure::Definite("no answer to the read in time".into())),
        }
    }

    /// Writes `value` to `key`; the version it made.
    pub async fn write(&self, key: &str, value: u64, t: Duration) -> Result<u64, Failure> {
        let c = self.client(t).await?;
        let done = self.write_on(&c, key, value, t).await;
        self.give_back(c, done.is_ok());
        done
    }

    async fn write_on(
        &self,
        c: &zk::Client,
        key: &str,
        value: u64,
        t: Duration,
    ) -> Result<u64, Failure> {
        let path = path(key);
        let data = value.to_string();
        let done = within(t, async {
            match c.set_data(&path, data.as_bytes(), None).await {
                Err(zk::Error::NoNode) => {}
                other => return other,
            }
            let persistent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
            match c.create(&path, data.as_bytes(), &persistent).await {
                Ok((stat, _)) => Ok(stat),
                Err(zk::Error::NodeExists) => c.set_data(&path, data.as_bytes(), None).await,
                Err(e) => Err(e),
            }
        })
        .await;
        self.written(done, "write")
    }

    /// Sets `key` to `to` if it holds `from`: the version it made, or `None` if it held
    /// something else (or changed in between).
    pub async fn cas(
        &self,
        key: &str,
        from: u64,
        to: u64,
        t: Duration,
    ) -> Result<Option<u64>, Failure> {
        let c = self.client(t).await?;
        let done = self.cas_on(&c, key, from, to, t).await;
        self.give_back(c, done.is_ok());
        done
    }

    async fn cas_on(
        &self,
        c: &zk::Client,
        key: &str,
        from: u64,
        to: u64,
        t: Duration,
    ) -> Result<Option<u64>, Failure> {
        let path = path(key);
        let seen = within(t, c.get_data(&path)).await;
        let stat = match seen {
            Some(Ok((data, stat))) if number(&data)? == from => stat,
            Some(Ok(_)) | Some(Err(zk::Error::NoNode)) => return Ok(None),
            Some(Err(e)) => return Err(Failure::Definite(format!("cas's read: {e}"))),
            None => {
                return Err(Failure::Definite(
                    "no answer to the cas's read in time".into(),
                ))
            }
        };
        let set = within(
            t,
            c.set_data(&path, to.to_string().as_bytes(), Some(stat.version)),
        )
        .await;
        match set {
            Some(Err(zk::Error::BadVersion)) => Ok(None),
            other => self.written(other, "cas").map(Some),
        }
    }

    /// A write's outcome: the version it made, or why it may or may not have happened.
    fn written(
        &self,
        done: Option<Result<zk::Stat, zk::Error>>,
        what: &str,
    ) -> Result<u64, Failure> {
        match done {
            Some(Ok(stat)) => Ok(version(&stat)),
            Some(Err(e)) => Err(self.lost(e, what)),
            None => Err(Failure::Unknown(format!("no answer to the {what} in time"))),
        }
    }

    /// An error from the server or the session. A refusal the server decided on is definite;
    /// a lost connection or session leaves a write's outcome unknown (and a read's outcome is
    /// always a failure: the caller says so).
    fn lost(&self, e: zk::Error, what: &str) -> Failure {
        use zk::Error as E;
        // Only what the server decided and said is definite; anything else (a lost connection,
        // a session that ended, the client's own "no response" on a connection it gave up on)
        // may have come after the request reached the leader.
        match e {
            E::NoNode
            | E::NodeExists
            | E::BadVersion
            | E::NoAuth
            | E::BadArguments(_)
            | E::InvalidAcl
            | E::NotEmpty
            | E::NoChildrenForEphemerals
            | E::QuotaExceeded
            | E::Throttled => Failure::Definite(format!("{what}: {e}")),
            e => Failure::Unknown(format!("{what}: {e}")),
        }
    }

    /// Takes lock `name` with ZooKeeper's lock recipe (the crate's, Curator's layout): an
    /// ephemeral sequential znode under `/faultline-locks/NAME`, held once every older one is gone.
    /// The lock belongs to a session of its own, asking for `session` as its timeout (the
    /// server bounds it: 2 to 20 ticks); `wait` bounds the wait for the lock.
    pub async fn acquire(
        &self,
        name: &str,
        session: Duration,
        wait: Duration,
        t: Duration,
    ) -> Result<ZkLock, Failure> {
        let c = self.connect(session, t).await?;
        let dir = format!("/faultline-locks/{name}");
        let prefix = zk::LockPrefix::new_curator(&dir, "lock-")
            .map_err(|e| Failure::Definite(format!("lock path {dir}: {e}")))?;
        let parent = zk::CreateMode::Persistent.with_acls(zk::Acls::anyone_all());
        let options = zk::LockOptions::new(zk::Acls::anyone_all())
            .with_ancestor_options(parent)
            .map_err(|e| Failure::Definite(format!("lock options: {e}")))?;
        // Cancelling the wait gives the lock up (the crate deletes its znode), and closing the
        // session takes any ephemeral node with it.
        let got = match within(wait, c.lock(prefix, b"", options)).await {
            Some(Ok(lock)) => Ok(lock.into_owned()),
            Some(Err(e)) => Err(self.lost(e, "lock")),
            None => Err(Failure::Unknown(format!(
                "the lock was not granted within {} s",
                wait.as_secs()
            ))),
        };
        Ok(ZkLock {
            lease: c.session_timeout(),
            lock: Some(got?),
        })
    }

    /// A session with this server: an idle one, or a new one. Each concurrent operation has
    /// its own, because ZooKeeper answers a session's requests in order: a read queued behind a
    /// write that cannot commit would wait with it instead of showing what the server has.
    async fn client(&self, t: Duration) -> Result<zk::Client, Failure> {
        loop {
            let idle = self.sessions.lock().expect("session pool").pop();
            match idle {
                Some(c) if live(&c) => return Ok(c),
                Some(_) => continue,
                None => break,
            }
        }
        self.connect(Duration::from_secs(4), t).await
    }

    /// A new session with this server alone.
    async fn connect(&self, session: Duration, t: Duration) -> Result<zk::Client, Failure> {
        let mut connector = zk::Client::connector();
        connector.session_timeout(session).connection_timeout(t);
        within(t, connector.connect(&self.address))
            .await
            .ok_or_else(|| {
                Failure::Unreachable(format!("no session with {} in time", self.address))
            })?
            .map_err(|e| Failure::Unreachable(format!("connecting to {}: {e}", self.address)))
    }

    /// Keeps a session for the next operation if this one ended cleanly; a session that saw a
    /// timeout or a lost connection may still have a request queued, so it is closed instead.
    fn give_back(&self, c: zk::Client, clean: bool) {
        if clean && live(&c) {
            self.sessions.lock().expect("session pool").push(c);
        }
    }
}

/// A lock this process was told it holds: its znode, on a session of its own.
pub struct ZkLock {
    /// Always there until dropped.
    lock: Option<zk::OwnedLockClient>,
    lease: Duration,
}

impl Drop for ZkLock {
    /// The crate deletes a dropped lock's znode from a task of the running runtime; a lock
    /// still held when the run's runtime is gone is left to its session, which ends with the
    /// process.
    fn drop(&mut self) {
        if tokio::runtime::Handle::try_current().is_err() {
            std::mem::forget(self.lock.take());
        }
    }
}

impl ZkLock {
    /// The session's timeout as the server granted it: how long the lock outlives a holder
    /// that stopped being heard from.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Deletes the lock's znode, then closes the session. A lock whose session expired is gone
    /// already: that delete fails, and the release with it.
    pub async fn release(self, t: Duration) -> Result<(), Failure> {
        let lock = self.lock.as_ref().expect("held until dropped");
        let done = within(t, lock.client().delete(lock.lock_path(), None)).await;
        match done {
            Some(Ok(())) => Ok(()),
            // The znode or its session is gone: the lock had been lost before the release.
            Some(Err(e @ (zk::Error::NoNode | zk::Error::SessionExpired))) => Err(
                Failure::Definite(format!("unlock: {e}: the lock was lost before")),
            ),
            Some(Err(e)) => Err(Failure::Unknown(format!("unlock: {e}"))),
            None => Err(Failure::Unknown("no answer to the unlock in time".into())),
        }
    }
}

fn live(c: &zk::Client) -> bool {
    !matches!(
        c.state(),
        zk::SessionState::Closed | zk::SessionState::Expired | zk::SessionState::AuthFailed
    )
}

/// The znode of `key`.
fn path(key: &str) -> String {
    format!("/faultline-{key}")
}

/// A znode's data version as the history records it: 1 for the data it was created with.
fn version(stat: &zk::Stat) -> u64 {
    stat.version as u64 + 1
}

/// A znode's data: the decimal number faultline wrote.
fn number(data: &[u8]) -> Result<u64, Failure> {
    crate::decimal(data).map_err(Failure::Definite)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_znodes_and_data_is_a_number() {
        assert_eq!(path("r1-k3"), "/faultline-r1-k3");
        assert_eq!(number(b"17"), Ok(17));
        assert!(matches!(number(b"x"), Err(Failure::Definite(e)) if e.contains("\"x\"")));
        let d: ZkDesc = toml::from_str("read = \"sync\"").unwrap();
        assert_eq!(d.read, ReadMode::Sync);
        assert!(toml::from_str::<ZkDesc>("reads = \"sync\"").is_err());
    }
}
