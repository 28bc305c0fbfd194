//! The command line of one raftkv node, shared by the `raftkv` binary and `faultline raftkv`
//! (the harness launches nodes by running itself, so `cargo run -- run` needs no second binary).
//!
//! ```text
//! raftkv --id 1 --listen 127.0.0.1:7001 --peer-listen 127.0.0.1:7101 \
//!        --peers 1=127.0.0.1:7101,2=127.0.0.1:7102,3=127.0.0.1:7103 \
//!        [--clients 1=127.0.0.1:7001,2=127.0.0.1:7002,3=127.0.0.1:7003] \
//!        --data-dir DIR [--read-mode consistent|lease|stale] [--write-ack quorum|leader] \
//!        [--unsafe KNOB,...] [--tick-ms 10] [--join]
//! ```
//! `--join` starts a node that joins a running cluster as a learner: `--peers` names the members
//! it knows of and itself; the leader adds it on `POST /admin/members` (see [`super::admin`]).
//! See `targets/src/raftkv/mod.rs` for the design and what every knob breaks.

use super::node::Unsafe;
use super::server::{self, Isolation, Options, ReadMode, WriteAck};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

/// raftkv's `--unsafe` knobs, comma-separated: what each breaks is in `raftkv/mod.rs`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Knobs {
    /// The knobs of the Raft core.
    pub unsafe_: Unsafe,
    /// The server's: log writes buffered and never synced.
    pub no_fsync: bool,
    /// The service's: what it answers before the log decides.
    pub service: super::service::Knobs,
}

impl std::str::FromStr for Knobs {
    type Err = String;
    fn from_str(s: &str) -> Result<Knobs, String> {
        let mut k = Knobs::default();
        for knob in s.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            match knob {
                "no-fsync" => k.no_fsync = true,
                "fail-pending-on-stepdown" => k.service.fail_pending_on_stepdown = true,
                "redeliver" => k.service.redeliver = true,
                "lock-lease-local" => k.service.lock_lease_local = true,
                "snowflake-ids" => k.service.snowflake_ids = true,
                "no-election-restriction" => k.unsafe_.no_election_restriction = true,
                "commit-old-term" => k.unsafe_.commit_old_term = true,
                "membership-without-noop" => k.unsafe_.membership_without_noop = true,
                "no-election-noop" => k.unsafe_.no_election_noop = true,
                "concurrent-membership" => k.unsafe_.concurrent_membership = true,
                other => {
                    return Err(format!(
                        "unknown knob {other:?}; expected no-fsync, no-election-restriction, commit-old-term, membership-without-noop, concurrent-membership, no-election-noop, fail-pending-on-stepdown, redeliver, lock-lease-local or snowflake-ids"
                    ))
                }
            }
        }
        Ok(k)
    }
}

const USAGE: &str = "usage: raftkv --id N --listen ADDR --peer-listen ADDR --peers ID=ADDR,... --data-dir DIR
              [--clients ID=ADDR,...] [--read-mode consistent|lease|stale] [--write-ack quorum|leader]
              [--isolation serializable|snapshot|read-committed|read-uncommitted] [--unsafe KNOB,...] [--tick-ms N]
              [--request-timeout-ms N] [--snapshot-every N]
              [--client-read-timeout-ms N] [--max-client-connections N] [--join]";

fn parse_map(flag: &str, text: &str) -> Result<BTreeMap<u64, String>, String> {
    let mut map = BTreeMap::new();
    for item in text.split(',').filter(|s| !s.is_empty()) {
        let (id, addr) = item
            .split_once('=')
            .ok_or_else(|| format!("{flag}: expected ID=ADDR, found {item:?}"))?;
        let id: u64 = id
            .parse()
            .map_err(|_| format!("{flag}: {id:?} is not a node id"))?;
        map.insert(id, addr.to_string());
    }
    Ok(map)
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut flags: BTreeMap<String, String> = BTreeMap::new();
    let mut it = args.iter();
    let mut join = false;
    while let Some(flag) = it.next() {
        if flag == "--help" || flag == "-h" {
            return Err(USAGE.to_string());
        }
        if flag == "--join" {
            join = true;
            continue;
        }
        let name = flag
            .strip_prefix("--")
            .ok_or_else(|| format!("unexpected argument {flag:?}\n{USAGE}"))?;
        let value = it.next().ok_or_else(|| format!("--{name} needs a value"))?;
        flags.insert(name.to_string(), value.clone());
    }
    let mut take = |name: &str| flags.remove(name);
    let need =
        |v: Option<String>, name: &str| v.ok_or_else(|| format!("--{name} is required\n{USAGE}"));
    let id: u64 = need(take("id"), "id")?
        .parse()
        .map_err(|_| "--id must be a number".to_string())?;
    let listen = need(take("listen"), "listen")?;
    let peer_listen = need(take("peer-listen"), "peer-listen")?;
    let peers = parse_map("--peers", &need(take("peers"), "peers")?)?;
    let clients = parse_map("--clients", &take("clients").unwrap_or_default())?;
    let data_dir = PathBuf::from(need(take("data-dir"), "data-dir")?);
    let read_mode: ReadMode = take("read-mode")
        .as_deref()
        .unwrap_or("consistent")
        .parse()
        .map_err(|e| format!("--read-mode: {e}"))?;
    let write_ack: WriteAck = take("write-ack")
        .as_deref()
        .unwrap_or("quorum")
        .parse()
        .map_err(|e| format!("--write-ack: {e}"))?;
    let isolation: Isolation = take("isolation")
        .as_deref()
        .unwrap_or("serializable")
        .parse()
        .map_err(|e| format!("--isolation: {e}"))?;
    let Knobs {
        unsafe_,
        no_fsync,
        service,
    } = take("unsafe")
        .unwrap_or_default()
        .parse()
        .map_err(|e| format!("--unsafe: {e}"))?;
    let number = |v: Option<String>, name: &str, default: u64| -> Result<u64, String> {
        v.map_or(Ok(default), |s| {
            s.parse().map_err(|_| format!("--{name} must be a number"))
        })
    };
    let tick = number(take("tick-ms"), "tick-ms", 10)?;
    let request_timeout = number(take("request-timeout-ms"), "request-timeout-ms", 2000)?;
    let snapshot_every = number(take("snapshot-every"), "snapshot-every", 10_000)?;
    let read_timeout = number(
        take("client-read-timeout-ms"),
        "client-read-timeout-ms",
        10_000,
    )?;
    let max_connections = number(
        take("max-client-connections"),
        "max-client-connections",
        1024,
    )?;
    if let Some(name) = flags.keys().next() {
        return Err(format!("unknown flag --{name}\n{USAGE}"));
    }
    Ok(Options {
        id,
        listen: listen
            .parse()
            .map_err(|_| format!("--listen: {listen:?} is not an address"))?,
        peer_listen: peer_listen
            .parse()
            .map_err(|_| format!("--peer-listen: {peer_listen:?} is not an address"))?,
        peers,
        clients,
        data_dir,
        read_mode,
        write_ack,
        isolation,
        unsafe_,
        no_fsync,
        knobs: service,
        tick: Duration::from_millis(tick.max(1)),
        request_timeout: Duration::from_millis(request_timeout.max(1)),
        snapshot_every: snapshot_every.max(1),
        client_read_timeout: Duration::from_millis(read_timeout.max(1)),
        max_client_connections: max_connections.max(1) as usize,
        join,
    })
}

/// Runs a node with `args` (the arguments after the program name) until SIGTERM or SIGINT.
pub fn main(args: &[String]) -> ExitCode {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    match server::run(opts) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("raftkv: {e}");
            ExitCode::FAILURE
        }
    }
}
