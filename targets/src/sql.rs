//! Databases that speak PostgreSQL's wire protocol, driven with `tokio-postgres`: a target
//! file's `[sql]` section (PostgreSQL itself, or CockroachDB, YugabyteDB, … on their own start
//! commands), and `--target postgres` ([`crate::postgres`]).
//!
//! faultline owns two tables in the database, created when a run starts and emptied then:
//! `faultline_registers (k text primary key, v bigint)` for registers and rw-register
//! transactions, and `faultline_lists (k text primary key, v bigint[])` for list-append, an
//! append being one `INSERT … ON CONFLICT (k) DO UPDATE` (as Jepsen's PostgreSQL test does it).
//! A transaction runs as `BEGIN ISOLATION LEVEL …`, one statement per micro-op, `COMMIT`, each
//! awaited before the next is sent, so its outcome is known exactly:
//! - the server refused a statement or the `COMMIT` with a serialization failure, a deadlock or
//!   a constraint (SQLSTATE classes 40 and 23), or refused any statement before the `COMMIT`
//!   was sent: it did not commit ([`Failure::Definite`]);
//! - the connection broke, or the client gave up, **before** the `COMMIT` was sent: it did not
//!   commit either (a server rolls back the open transaction of a connection that closes);
//! - anything else once the `COMMIT` (or a single statement, which commits itself) was sent —
//!   a lost connection, a timeout, a crash shutdown — is [`Failure::Unknown`]: it may have
//!   committed.
//!
//! Each node keeps a pool of connections; a client takes one for an operation and gives it
//! back only if it is still healthy, so every concurrent client has a connection of its own.

use serde::Deserialize;
use serde_json::{json, Value};
use std::sync::Mutex;
use std::time::Duration;
use tokio_postgres::{Client, NoTls, Statement};

/// A target file's `[sql]` section.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SqlDesc {
    /// The isolation level every transaction asks for (`--pg-isolation` overrides it).
    #[serde(default)]
    pub isolation: Isolation,
    /// The user to connect as.
    #[serde(default = "postgres")]
    pub user: String,
    #[serde(default)]
    pub password: Option<String>,
    /// The database to use (it must exist).
    #[serde(default = "postgres")]
    pub database: String,
}

fn postgres() -> String {
    "postgres".into()
}

/// The isolation levels PostgreSQL implements (read uncommitted is read committed there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    ReadCommitted,
    /// Snapshot isolation, in PostgreSQL.
    RepeatableRead,
    #[default]
    Serializable,
}

impl Isolation {
    /// As `BEGIN ISOLATION LEVEL` takes it.
    pub fn sql(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }

    /// As the command line and reports write it.
    pub fn name(self) -> &'static str {
        match self {
            Isolation::ReadCommitted => "read-committed",
            Isolation::RepeatableRead => "repeatable-read",
            Isolation::Serializable => "serializable",
        }
    }

    /// `read-committed`, `repeatable-read` or `serializable`.
    pub fn parse(text: &str) -> Result<Isolation, String> {
        match text {
            "read-committed" => Ok(Isolation::ReadCommitted),
            "repeatable-read" => Ok(Isolation::RepeatableRead),
            "serializable" => Ok(Isolation::Serializable),
            other => Err(format!(
                "{other:?}: expected read-committed, repeatable-read or serializable"
            )),
        }
    }
}

pub use crate::txn::{Shape, Step};

pub use crate::Failure;

const SCHEMA: &str =
    "CREATE TABLE IF NOT EXISTS faultline_registers (k text PRIMARY KEY, v bigint);
CREATE TABLE IF NOT EXISTS faultline_lists (k text PRIMARY KEY, v bigint[] NOT NULL);
TRUNCATE faultline_registers, faultline_lists;";

/// A connection and its prepared statements.
struct Conn {
    client: Client,
    read_register: Statement,
    write_register: Statement,
    cas_register: Statement,
    read_list: Statement,
    append: Statement,
}

/// One node's connections.
pub struct Node {
    config: tokio_postgres::Config,
    idle: Mutex<Vec<Conn>>,
    /// `n1`, and where it listens, for messages.
    name: String,
}

impl Node {
    /// The node `name` at `host:port`, as `desc` says to log in; connections time out after
    /// `timeout`.
    pub fn new(name: &str, host: &str, port: u16, desc: &SqlDesc, timeout: Duration) -> Node {
        let mut config = tokio_postgres::Config::new();
        config
            .host(host.trim_start_matches('[').trim_end_matches(']'))
            .port(port)
            .user(&desc.user)
            .dbname(&desc.database)
            .application_name("faultline")
            .connect_timeout(timeout);
        if let Some(p) = &desc.password {
            config.password(p);
        }
        Node {
            config,
            idle: Mutex::new(Vec::new()),
            name: format!("{name} ({host}:{port})"),
        }
    }

    async fn connect(&self) -> Result<Conn, Failure> {
        let (client, connection) = self.config.connect(NoTls).await.map_err(|e| {
            Failure::Unreachable(format!("{}: cannot connect: {}", self.name, said(&e)))
        })?;
        tokio::spawn(async move {
            // Ends when the client is dropped or the server goes away.
            let _ = connection.await;
        });
        let prepare = |sql: &'static str| {
            let client = &client;
            async move { client.prepare(sql).await }
        };
        let lost = |e: tokio_postgres::Error| Failure::Unreachable(format!("{}: {e}", self.name));
        Ok(Conn {
            read_register: prepare("SELECT v FROM faultline_registers WHERE k = $1")
                .await
                .map_err(lost)?,
            write_register: prepare("INSERT INTO faultline_registers AS t (k, v) VALUES ($1, $2) ON CONFLICT (k) DO UPDATE SET v = excluded.v").await.map_err(lost)?,
            cas_register: prepare("UPDATE faultline_registers SET v = $3 WHERE k = $1 AND v = $2")
                .await
                .map_err(lost)?,
            read_list: prepare("SELECT v FROM faultline_lists WHERE k = $1")
                .await
                .map_err(lost)?,
            append: prepare("INSERT INTO faultline_lists AS t (k, v) VALUES ($1, ARRAY[$2::bigint]) ON CONFLICT (k) DO UPDATE SET v = t.v || $2::bigint").await.map_err(lost)?,
            client,
        })
    }

    /// Creates faultline's tables if they are missing and empties them.
    pub async fn prepare_schema(&self) -> Result<(), String> {
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| format!("{}: cannot connect: {}", self.name, said(&e)))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        client
            .batch_execute(SCHEMA)
            .await
            .map_err(|e| format!("{}: creating faultline's tables: {}", self.name, said(&e)))
    }

    /// A pooled connection, or a new one.
    async fn take(&self) -> Result<Conn, Failure> {
        loop {
            let pooled = self.idle.lock().expect("pool lock").pop();
            match pooled {
                Some(c) if c.client.is_closed() => continue,
                Some(c) => return Ok(c),
                None => return self.connect().await,
            }
        }
    }

    fn give_back(&self, c: Conn) {
        if !c.client.is_closed() {
            self.idle.lock().expect("pool lock").push(c);
        }
    }

    /// Runs `steps` as one transaction at `isolation`, within `timeout`: the completed
    /// micro-ops as a history writes them (`["append", k, v]`, `["w", k, v]`, `["r", k, v]`).
    pub async fn transaction(
        &self,
        steps: &[Step<'_>],
        shape: Shape,
        isolation: Isolation,
        timeout: Duration,
    ) -> Result<Vec<Value>, Failure> {
        let conn = self.take().await?;
        let committing = std::sync::atomic::AtomicBool::new(false);
        let work = run_transaction(&conn, steps, shape, isolation, &committing);
        let result = tokio::time::timeout(timeout, work).await;
        let sent_commit = committing.load(std::sync::atomic::Ordering::SeqCst);
        match result {
            Ok(Ok(done)) => {
                self.give_back(conn);
                Ok(done)
            }
            Ok(Err(e)) => {
                if e.code().is_some() && !conn.client.is_closed() {
                    // The server said no: the transaction is over; the connection is fine
                    // once it has rolled back.
                    if conn.client.batch_execute("ROLLBACK").await.is_ok() {
                        self.give_back(conn);
                    }
                }
                Err(classify(&self.name, &e, sent_commit))
            }
            Err(_) if sent_commit => Err(Failure::Unknown(format!(
                "{}: no answer to COMMIT within {} ms",
                self.name,
                timeout.as_millis()
            ))),
            // Dropping the connection rolls the open transaction back.
            Err(_) => Err(Failure::Definite(format!(
                "{}: timed out after {} ms before COMMIT was sent (the connection was closed, which rolls the transaction back)",
                self.name,
                timeout.as_millis()
            ))),
        }
    }

    /// Reads a register (`None`: no row), outside any transaction.
    pub async fn read(&self, key: &str, timeout: Duration) -> Result<Option<u64>, Failure> {
        let conn = self.take().await?;
        let row = {
            tokio::time::timeout(timeout, conn.client.query_opt(&conn.read_register, &[&key])).await
        };
        match self.answered(conn, row, false, timeout)? {
            None => Ok(None),
            Some(r) => register_value(&r).map_err(Failure::Unknown),
        }
    }

    /// Reads a list (empty when there is no row), outside any transaction.
    pub async fn read_list(&self, key: &str, timeout: Duration) -> Result<Vec<u64>, Failure> {
        let conn = self.take().await?;
        let row = {
            tokio::time::timeout(timeout, conn.client.query_opt(&conn.read_list, &[&key])).await
        };
        let row = self.answered(conn, row, false, timeout)?;
        let list: Vec<i64> = row.map(|r| r.get(0)).unwrap_or_default();
        list.into_iter()
            .map(|e| {
                u64::try_from(e).map_err(|_| {
                    Failure::Unknown(format!("a list holds {e}, which faultline never appends"))
                })
            })
            .collect()
    }

    /// Writes a register, one statement that commits itself.
    pub async fn write(&self, key: &str, value: u64, timeout: Duration) -> Result<(), Failure> {
        let conn = self.take().await?;
        let v = as_bigint(value)?;
        let rows = {
            tokio::time::timeout(
                timeout,
                conn.client.execute(&conn.write_register, &[&key, &v]),
            )
            .await
        };
        self.answered(conn, rows, true, timeout).map(|_| ())
    }

    /// Sets a register to `to` if it holds `from`: whether it did.
    pub async fn cas(
        &self,
        key: &str,
        from: u64,
        to: u64,
        timeout: Duration,
    ) -> Result<bool, Failure> {
        let conn = self.take().await?;
        let (f, t) = (as_bigint(from)?, as_bigint(to)?);
        let rows = {
            tokio::time::timeout(
                timeout,
                conn.client.execute(&conn.cas_register, &[&key, &f, &t]),
            )
            .await
        };
        self.answered(conn, rows, true, timeout)
            .map(|rows| rows == 1)
    }

    /// The result of one statement (`commits`: one that commits itself, so that any failure
    /// once it was sent may have taken effect; a read's failure never does), the connection
    /// given back if it is still good.
    fn answered<T>(
        &self,
        conn: Conn,
        got: Result<Result<T, tokio_postgres::Error>, tokio::time::error::Elapsed>,
        commits: bool,
        timeout: Duration,
    ) -> Result<T, Failure> {
        match got {
            Ok(Ok(v)) => {
                self.give_back(conn);
                Ok(v)
            }
            Ok(Err(e)) => {
                let f = classify(&self.name, &e, commits);
                if e.code().is_some() {
                    self.give_back(conn);
                }
                Err(f)
            }
            Err(_) if commits => Err(Failure::Unknown(format!(
                "{}: no answer within {} ms",
                self.name,
                timeout.as_millis()
            ))),
            Err(_) => Err(Failure::Definite(format!(
                "{}: no answer within {} ms",
                self.name,
                timeout.as_millis()
            ))),
        }
    }
}

/// BEGIN, the steps, COMMIT; `committing` is set just before the COMMIT is sent.
async fn run_transaction(
    conn: &Conn,
    steps: &[Step<'_>],
    shape: Shape,
    isolation: Isolation,
    committing: &std::sync::atomic::AtomicBool,
) -> Result<Vec<Value>, tokio_postgres::Error> {
    let c = &conn.client;
    c.batch_execute(&format!("BEGIN ISOLATION LEVEL {}", isolation.sql()))
        .await?;
    let mut done = Vec::with_capacity(steps.len());
    for step in steps {
        done.push(match *step {
            Step::Append(k, e) => {
                c.execute(&conn.append, &[&k, &(e as i64)]).await?;
                json!(["append", k, e])
            }
            Step::Write(k, v) => {
                c.execute(&conn.write_register, &[&k, &(v as i64)]).await?;
                json!(["w", k, v])
            }
            Step::Read(k) => json!(["r", k, read_step(conn, k, shape).await?]),
        });
    }
    committing.store(true, std::sync::atomic::Ordering::SeqCst);
    c.batch_execute("COMMIT").await?;
    Ok(done)
}

/// A read inside a transaction: a register's value (null for none) or a list (empty for none).
async fn read_step(conn: &Conn, key: &str, shape: Shape) -> Result<Value, tokio_postgres::Error> {
    Ok(match shape {
        Shape::Registers => {
            let row = conn.client.query_opt(&conn.read_register, &[&key]).await?;
            json!(row.and_then(|r| r.get::<_, Option<i64>>(0)))
        }
        Shape::Lists => {
            let row = conn.client.query_opt(&conn.read_list, &[&key]).await?;
            json!(row.map(|r| r.get::<_, Vec<i64>>(0)).unwrap_or_default())
        }
    })
}

fn register_value(row: &tokio_postgres::Row) -> Result<Option<u64>, String> {
    let v: Option<i64> = row.get(0);
    v.map(|v| {
        u64::try_from(v).map_err(|_| format!("a register holds {v}, which faultline never writes"))
    })
    .transpose()
}

fn as_bigint(v: u64) -> Result<i64, Failure> {
    i64::try_from(v).map_err(|_| Failure::Definite(format!("{v} does not fit a bigint")))
}

/// The server's own words for an error (`ERROR 40001: could not serialize …`), or the client's.
fn said(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} {}: {}", db.severity(), db.code().code(), db.message()),
        None => e.to_string(),
    }
}

/// What an error means for the operation's outcome; `sent_commit` says whether the statement
/// that commits had been sent.
fn classify(node: &str, e: &tokio_postgres::Error, sent_commit: bool) -> Failure {
    let text = format!("{node}: {}", said(e));
    match e.code() {
        // Refused by the server: before the COMMIT nothing can commit; at it, only a
        // serialization failure, a deadlock or a constraint is a certain rollback.
        Some(_) if !sent_commit => Failure::Definite(text),
        Some(code) if ["40", "23"].contains(&&code.code()[..2]) => Failure::Definite(text),
        Some(_) => Failure::Unknown(text),
        // The connection broke: harmless before the COMMIT left.
        None if !sent_commit => Failure::Definite(text),
        None => Failure::Unknown(text),
    }
}
