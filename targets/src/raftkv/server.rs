//! The raftkv process: sockets, threads and the event loop around the Raft core.
//!
//! One thread owns the [`Node`], the storage and the state machine. Everything else talks to it
//! through one bounded channel: peer readers deliver messages, HTTP connection threads deliver
//! client requests with a reply channel. Each turn of the loop takes everything waiting (so many
//! client commands become one append, one fsync and one AppendEntries per peer — group commit),
//! then persists, sends, applies and answers, in that order.

use super::admin::{self, Admin};
use super::kv::Kv;
use super::log::Members;
use super::log::TxnOp;
use super::node::{Config, Envelope, Node, NodeId, Ready, Role, Unsafe};
use super::service::{Answer, Request as KvRequest, Service};
use super::storage::Storage;
use crate::http_server::{self, Handled, Request, Response};
use serde_json::{json, Value};
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};
use std::io::{BufReader, BufWriter, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;

pub use super::service::{Isolation, ReadMode, WriteAck};

#[derive(Clone, Debug)]
pub struct Options {
    pub id: NodeId,
    pub listen: SocketAddr,
    pub peer_listen: SocketAddr,
    /// Every member's peer address, this node's included.
    pub peers: BTreeMap<NodeId, String>,
    /// Members' client addresses, for redirects (optional).
    pub clients: BTreeMap<NodeId, String>,
    pub data_dir: PathBuf,
    pub read_mode: ReadMode,
    pub write_ack: WriteAck,
    /// How transactions are isolated (serializable by default).
    pub isolation: Isolation,
    pub unsafe_: Unsafe,
    pub no_fsync: bool,
    /// The service's `--unsafe` knobs ([`super::service::Knobs`]).
    pub knobs: super::service::Knobs,
    pub tick: Duration,
    pub request_timeout: Duration,
    pub snapshot_every: u64,
    /// A client that sends half a request is dropped after this long.
    pub client_read_timeout: Duration,
    /// Open client connections at most; one more is answered 503.
    pub max_client_connections: usize,
    /// Joining a running cluster: this node starts as a learner (the leader adds it through
    /// `POST /admin/members`), the others in `peers` being the members it knows of.
    pub join: bool,
}

/// Where a client's answer goes. The first answer is delivered; any later one (a write
/// already acknowledged by the leader alone, then applied) is dropped.
struct Reply(Cell<Option<oneshot::Sender<Response>>>);

impl Reply {
    fn try_send(&self, r: Response) -> Result<(), Response> {
        match self.0.take() {
            Some(tx) => tx.send(r),
            None => Err(r),
        }
    }
}

enum Event {
    Peer(Envelope),
    Client(ClientRequest, Reply),
}

enum ClientRequest {
    /// What the client rules decide (`GET /kv/{key}?local` is [`KvRequest::GetLocal`]).
    Kv(KvRequest),
    Status,
    Admin(Admin),
}

/// A client waiting for an answer: where it goes, and its key and whether it is a cas (what a
/// redirect's Location is made of).
struct Asker {
    reply: Reply,
    /// The path asked at, for the answer's redirect.
    path: String,
}

/// Set by SIGTERM/SIGINT; the loop exits cleanly.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: nix::libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn log_line(id: NodeId, level: &str, msg: &str) {
    let t = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    eprintln!(
        "{{\"ts\":{:.3},\"node\":{id},\"level\":\"{level}\",\"msg\":{}}}",
        t.as_secs_f64(),
        Value::String(msg.to_string())
    );
}

fn wall_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Runs a node until SIGTERM or SIGINT. Errors are fatal startup or disk errors.
pub fn run(opts: Options) -> Result<(), String> {
    use nix::sys::signal::{signal, SigHandler, Signal};
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        let _ = signal(Signal::SIGTERM, SigHandler::Handler(on_signal));
        let _ = signal(Signal::SIGINT, SigHandler::Handler(on_signal));
        // A peer that goes away must not kill us with SIGPIPE.
        let _ = signal(Signal::SIGPIPE, SigHandler::SigIgn);
    }
    let id = opts.id;
    if !opts.peers.contains_key(&id) {
        return Err(format!("--peers must include this node's own id {id}"));
    }
    let (storage, recovered) = Storage::open(&opts.data_dir, !opts.no_fsync)
        .map_err(|e| format!("data directory {}: {e}", opts.data_dir.display()))?;
    let kv = match &recovered.snapshot {
        Some((_, _, data)) => Kv::restore(data)?,
        None => Kv::default(),
    };
    let snapshot_data = recovered
        .snapshot
        .as_ref()
        .map(|s| s.2.clone())
        .or_else(|| Some(Kv::default().snapshot()));
    let mut cfg = node_config(
        id,
        opts.peers.keys().copied().collect(),
        opts.tick,
        opts.unsafe_,
        opts.no_fsync,
        id ^ wall_ms(),
    );
    if opts.join {
        cfg.members.retain(|&m| m != id);
        cfg.learners = vec![id];
    }
    let cfg = cfg.restarting_with(kv.members());
    let node = Node::new(
        cfg,
        recovered.term,
        recovered.vote,
        recovered.log,
        snapshot_data,
    );

    let client_listener =
        TcpListener::bind(opts.listen).map_err(|e| format!("--listen {}: {e}", opts.listen))?;
    let peer_listener = TcpListener::bind(opts.peer_listen)
        .map_err(|e| format!("--peer-listen {}: {e}", opts.peer_listen))?;
    let (tx, rx) = mpsc::sync_channel::<Event>(8192);

    // Peer readers.
    {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for conn in peer_listener.incoming().flatten() {
                let tx = tx.clone();
                std::thread::spawn(move || read_peer(conn, tx, id));
            }
        });
    }
    // Client connections, on hyper.
    {
        let tx = tx.clone();
        let limits = http_server::Limits {
            read_timeout: opts.client_read_timeout,
            max_connections: opts.max_client_connections,
            ..http_server::Limits::default()
        };
        std::thread::spawn(move || {
            let served = http_server::serve(client_listener, limits, 1, move |req| {
                client_request(&req, &tx)
            });
            if let Err(e) = served {
                log_line(id, "error", &format!("client listener: {e}"));
            }
        });
    }
    log_line(
        id,
        "info",
        &format!(
            "raftkv node {id} up: clients on {}, peers on {}, term {}, log {}..={}",
            opts.listen,
            opts.peer_listen,
            node.term(),
            node.log().snapshot_index(),
            node.log().last_index()
        ),
    );
    let service = Service::new(
        node,
        kv,
        opts.read_mode,
        opts.write_ack,
        opts.request_timeout.as_millis() as u64,
    )
    .with_isolation(opts.isolation)
    .with_knobs(opts.knobs);
    let mut server = Server {
        peers: opts.peers.clone(),
        clients: opts.clients.clone(),
        opts,
        service,
        storage,
        outboxes: HashMap::new(),
        dialed: None,
        started: Instant::now(),
        last_role: Role::Follower,
    };
    server.dial_members();
    server.event_loop(rx)
}

struct Server {
    opts: Options,
    /// The Raft node, its state machine, and the clients waiting on them.
    service: Service<Asker>,
    storage: Storage,
    /// Every member's peer and client address known here: the command line's, then those the
    /// configuration entries carry.
    peers: BTreeMap<NodeId, String>,
    clients: BTreeMap<NodeId, String>,
    /// Peer writers: one thread and bounded queue per other member; messages that do not fit
    /// are dropped, which Raft tolerates.
    outboxes: HashMap<NodeId, SyncSender<Envelope>>,
    /// The configuration the outboxes were made for.
    dialed: Option<Members>,
    started: Instant,
    last_role: Role,
}

impl Server {
    fn event_loop(&mut self, rx: Receiver<Event>) -> Result<(), String> {
        let mut next_tick = Instant::now() + self.opts.tick;
        let mut next_flush = Instant::now() + Duration::from_secs(1);
        while !STOP.load(Ordering::SeqCst) {
            let wait = next_tick.saturating_duration_since(Instant::now());
            match rx.recv_timeout(wait) {
                Ok(ev) => self.handle(ev),
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break,
            }
            // Group commit: take everything already waiting, up to a bound.
            for _ in 0..4096 {
                match rx.try_recv() {
                    Ok(ev) => self.handle(ev),
                    Err(_) => break,
                }
            }
            let now = Instant::now();
            if now >= next_tick {
                self.service.node.tick(wall_ms());
                next_tick = now + self.opts.tick;
                let expired = self.service.expire(self.mono_ms());
                self.answer(expired);
            }
            if self.opts.no_fsync && now >= next_flush {
                next_flush = now + Duration::from_secs(1);
                self.storage
                    .flush_unsynced()
                    .map_err(|e| format!("disk: {e}"))?;
            }
            if let Some(index) = self.service.node.promote_caught_up() {
                log_line(
                    self.opts.id,
                    "info",
                    &format!("promoting a caught-up learner (entry {index})"),
                );
            }
            self.service.node.flush(wall_ms());
            let ready = self.service.node.take_ready();
            self.process(ready)?;
            self.dial_members();
            let node = &self.service.node;
            if node.role() != self.last_role {
                self.last_role = node.role();
                log_line(
                    self.opts.id,
                    "info",
                    &format!("now {:?} in term {}", self.last_role, node.term()),
                );
            }
        }
        self.storage
            .flush_unsynced()
            .map_err(|e| format!("disk: {e}"))?;
        log_line(self.opts.id, "info", "stopping on signal");
        Ok(())
    }

    /// Milliseconds since this process started, for the client rules' deadlines.
    fn mono_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn handle(&mut self, ev: Event) {
        match ev {
            Event::Peer(env) => {
                if env.to == self.opts.id {
                    self.service.node.step(env.from, env.msg);
                }
            }
            Event::Client(ClientRequest::Status, reply) => {
                let _ = reply.try_send(self.status());
            }
            Event::Client(ClientRequest::Admin(req), reply) => {
                let said = format!("{req:?}");
                let response = admin::answer(req, &mut self.service.node, &self.clients);
                if response.status == 202 {
                    log_line(
                        self.opts.id,
                        "info",
                        &format!("membership change accepted: {said}"),
                    );
                }
                let _ = reply.try_send(response);
            }
            Event::Client(ClientRequest::Kv(req), reply) => {
                let asker = Asker {
                    reply,
                    path: req.path(),
                };
                if let Some(now) = self.service.request(req, asker, self.mono_ms(), wall_ms()) {
                    self.answer(vec![now]);
                }
            }
        }
    }

    /// Sends each client its answer as HTTP.
    fn answer(&self, answers: Vec<(Asker, Answer)>) {
        for (asker, answer) in answers {
            let response = http_answer(answer, &asker.path, &self.clients);
            let _ = asker.reply.try_send(response);
        }
    }

    fn status(&self) -> Response {
        let mono = self.started.elapsed().as_millis() as u64;
        Response::json(
            200,
            json!({
                "id": self.opts.id,
                "role": self.service.node.role(),
                "term": self.service.node.term(),
                "leader": self.service.node.leader(),
                "leader_addr": self.service.node.leader().and_then(|l| self.clients.get(&l)),
                "voters": self.service.node.members().voters,
                "learners": self.service.node.members().learners,
                "commit_index": self.service.node.commit_index(),
                "applied_index": self.service.kv.applied(),
                "log_first_index": self.service.node.log().snapshot_index() + 1,
                "log_last_index": self.service.node.log().last_index(),
                "log_length": self.service.node.log().last_index() - self.service.node.log().snapshot_index(),
                "keys": self.service.kv.len(),
                "wall_clock_ms": wall_ms(),
                "monotonic_ms": mono,
                "read_mode": format!("{:?}", self.opts.read_mode).to_lowercase(),
                "write_ack": format!("{:?}", self.opts.write_ack).to_lowercase(),
            }),
        )
    }

    /// Keeps one peer writer per other member of the configuration in force, learning the
    /// addresses of members that joined from the entries that added them.
    fn dial_members(&mut self) {
        let members = self.service.node.members();
        if self.dialed.as_ref() == Some(members) {
            return;
        }
        let members = members.clone();
        // The command line's routes win: a harness may route each link its own way (through a
        // proxy); an entry's address is for members this node was not told of.
        for (&id, a) in &members.addrs {
            self.peers.entry(id).or_insert_with(|| a.peer.clone());
            if let Some(c) = &a.client {
                self.clients.entry(id).or_insert_with(|| c.clone());
            }
        }
        let me = self.opts.id;
        self.outboxes.retain(|p, _| members.contains(*p));
        for peer in members.all().filter(|&p| p != me) {
            if self.outboxes.contains_key(&peer) {
                continue;
            }
            let Some(addr) = self.peers.get(&peer).cloned() else {
                log_line(me, "error", &format!("no address known for member n{peer}"));
                continue;
            };
            let (otx, orx) = mpsc::sync_channel::<Envelope>(16384);
            std::thread::spawn(move || write_peer(addr, orx));
            self.outboxes.insert(peer, otx);
        }
        log_line(
            me,
            "info",
            &format!(
                "configuration: voters {:?}, learners {:?} (entry {})",
                members.voters,
                members.learners,
                self.service.node.members_index()
            ),
        );
        self.dialed = Some(members);
    }

    /// Persist, then send, then apply and answer.
    fn process(&mut self, mut ready: Ready) -> Result<(), String> {
        for broken in &ready.broken {
            log_line(
                self.opts.id,
                "error",
                &format!("safety rule broken: {broken}"),
            );
        }
        self.storage
            .persist(&ready)
            .map_err(|e| format!("disk: {e}"))?;
        for env in std::mem::take(&mut ready.messages) {
            if let Some(out) = self.outboxes.get(&env.to) {
                let _ = out.try_send(env);
            }
        }
        let answers = self.service.settle(&ready)?;
        self.answer(answers);
        if let Some(s) = &ready.snapshot {
            self.storage
                .save_snapshot(s.last_index, s.last_term, &s.data, self.service.node.log())
                .map_err(|e| format!("disk: {e}"))?;
        }
        // §7: snapshot and compact once the log has grown.
        let applied = self.service.kv.applied();
        let base = self.service.node.log().snapshot_index();
        if applied >= base + self.opts.snapshot_every {
            let data = self.service.kv.snapshot();
            if !self.service.node.compact(applied, data.clone()) {
                return Ok(());
            }
            let term = self.service.node.log().snapshot_term();
            self.storage
                .save_snapshot(applied, term, &data, self.service.node.log())
                .map_err(|e| format!("disk: {e}"))?;
        }
        Ok(())
    }
}

const MAX_FRAME: usize = 256 << 20;

fn read_peer(conn: TcpStream, tx: SyncSender<Event>, id: NodeId) {
    let _ = conn.set_nodelay(true);
    let from = conn.peer_addr().map_or("?".into(), |a| a.to_string());
    let mut r = BufReader::with_capacity(1 << 16, conn);
    loop {
        let mut len = [0u8; 4];
        if r.read_exact(&mut len).is_err() {
            return;
        }
        let len = u32::from_le_bytes(len) as usize;
        if len > MAX_FRAME {
            return;
        }
        let mut buf = vec![0u8; len];
        if r.read_exact(&mut buf).is_err() {
            return;
        }
        match serde_json::from_slice::<Envelope>(&buf) {
            Ok(env) => {
                if tx.send(Event::Peer(env)).is_err() {
                    return;
                }
            }
            Err(e) => {
                // Not a peer of ours, or one speaking another version: drop the connection.
                log_line(
                    id,
                    "error",
                    &format!("unreadable peer message from {from}: {e}"),
                );
                return;
            }
        }
    }
}

fn write_peer(addr: String, rx: Receiver<Envelope>) {
    let mut conn: Option<BufWriter<TcpStream>> = None;
    let mut retry_at = Instant::now();
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while let Ok(more) = rx.try_recv() {
            batch.push(more);
            if batch.len() >= 1024 {
                break;
            }
        }
        if conn.is_none() && Instant::now() >= retry_at {
            match addr
                .parse::<SocketAddr>()
                .ok()
                .and_then(|a| TcpStream::connect_timeout(&a, Duration::from_millis(200)).ok())
            {
                Some(s) => {
                    let _ = s.set_nodelay(true);
                    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
                    conn = Some(BufWriter::with_capacity(1 << 16, s));
                }
                None => retry_at = Instant::now() + Duration::from_millis(50),
            }
        }
        let Some(w) = conn.as_mut() else { continue };
        let mut ok = true;
        for env in &batch {
            let body = serde_json::to_vec(env).expect("messages serialize");
            if w.write_all(&(body.len() as u32).to_le_bytes())
                .and_then(|_| w.write_all(&body))
                .is_err()
            {
                ok = false;
                break;
            }
        }
        if !ok || w.flush().is_err() {
            conn = None;
        }
    }
}

/// An answer to a request asked at `path`, as the client API says it: 200 with the value or
/// version (a transaction's completed micro-ops), 404 absent, 409 a cas mismatch with the current
/// value or a transaction that could not apply, 307 to the leader (whose client address
/// `clients` holds) or 503 without one, 503 with `"indeterminate"` saying whether the outcome is
/// unknown, 500 for raftkv's own bugs.
pub fn http_answer(answer: Answer, path: &str, clients: &BTreeMap<NodeId, String>) -> Response {
    match answer {
        Answer::Read(Some((v, version))) => {
            Response::json(200, json!({"value": v, "version": version}))
        }
        Answer::Read(None) => {
            let key = path.strip_prefix("/kv/").unwrap_or(path);
            Response::json(404, json!({"error": "absent", "key": key}))
        }
        Answer::Written { version } => Response::json(200, json!({"version": version})),
        Answer::Mismatch(current) => Response::json(409, json!({"value": current})),
        Answer::Txn {
            version,
            ops,
            results,
        } => Response::json(
            200,
            json!({"version": version, "ops": super::wire::completed(&ops, &results, version)}),
        ),
        Answer::Rejected(why) => Response::json(409, json!({"error": why, "indeterminate": false})),
        Answer::NotLeader(leader) => redirect(leader, path, clients),
        Answer::NotApplied => Response::json(
            503,
            json!({"error": "not applied: leadership changed, retry", "indeterminate": false}),
        ),
        Answer::Unknown(why) => Response::json(
            503,
            json!({"error": format!("outcome unknown: {why}"), "indeterminate": true}),
        ),
        Answer::ReadTimedOut => Response::json(
            503,
            json!({"error": "unavailable, retry: read not confirmed in time"}),
        ),
        Answer::Internal(what) => {
            Response::json(500, json!({"error": format!("internal: {what}")}))
        }
    }
}

fn redirect(leader: Option<NodeId>, path: &str, clients: &BTreeMap<NodeId, String>) -> Response {
    match leader {
        Some(l) => {
            let addr = clients.get(&l).cloned();
            let mut r = Response::json(
                if addr.is_some() { 307 } else { 503 },
                json!({"error": "not leader", "leader": l, "leader_addr": addr}),
            );
            r.location = addr.map(|a| format!("http://{a}{path}"));
            r
        }
        None => Response::json(503, json!({"error": "unavailable, retry: no leader known"})),
    }
}

/// The Raft configuration of node `id` among `members`: election timeouts in `tick`s, a lease a
/// little shorter than the shortest election timeout, the unsafe knobs, and the node's own
/// safety assertions off when any knob is on (see [`Config::assert_safety`]).
pub fn node_config(
    id: NodeId,
    members: Vec<NodeId>,
    tick: Duration,
    unsafe_: Unsafe,
    no_fsync: bool,
    seed: u64,
) -> Config {
    let mut cfg = Config::new(id, members);
    let tick_ms = tick.as_millis().max(1) as u64;
    cfg.lease_ms = tick_ms * cfg.election_ticks.0 * 3 / 4;
    cfg.unsafe_ = unsafe_;
    cfg.assert_safety = unsafe_ == Unsafe::default() && !no_fsync;
    cfg.seed = seed;
    cfg
}

/// A key as the API allows it.
fn valid_key(key: &str) -> Result<String, Response> {
    if key.is_empty()
        || key.len() > 1024
        || key.contains('/')
        || key.chars().any(|c| c.is_control() || c == '?' || c == '%')
    {
        return Err(Response::error(
            400,
            "malformed key: 1 to 1024 characters, no '/', '?', '%' or control characters",
        ));
    }
    Ok(key.to_string())
}

/// The most micro-ops one transaction may carry.
const MAX_TXN_OPS: usize = 64;

/// `{"ops": [["append", k, v], ["r", k, null], ["w", k, v], …]}`: a transaction's micro-ops, or
/// the 400 saying what is wrong with them.
fn txn_request(body: &[u8]) -> Result<Vec<TxnOp>, Response> {
    let shape = "body must be {\"ops\": [[\"append\"|\"r\"|\"w\"|\"add\"|\"take\"|\"pop\"|\"id\"|\"acquire\"|\"release\", key, value], …]} with 1 to 64 micro-ops and string keys: an integer to add, a positive one to take, nil to pop or read, {\"owner\": o, \"lease_ms\": n} to acquire, {\"owner\": o} to release";
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| Response::error(400, &format!("malformed JSON body: {e}")))?;
    let ops = v
        .get("ops")
        .and_then(Value::as_array)
        .filter(|o| {
            !o.is_empty() && o.len() <= MAX_TXN_OPS && v.as_object().is_some_and(|m| m.len() == 1)
        })
        .ok_or_else(|| Response::error(400, shape))?;
    ops.iter()
        .map(|m| {
            let parts = m
                .as_array()
                .filter(|p| p.len() == 3)
                .ok_or_else(|| Response::error(400, shape))?;
            let key = valid_key(
                parts[1]
                    .as_str()
                    .ok_or_else(|| Response::error(400, shape))?,
            )?;
            let f = parts[0].as_str().unwrap_or_default();
            super::wire::micro_op(f, key, parts[2].clone())
                .ok_or_else(|| Response::error(400, shape))
        })
        .collect()
}

/// A client's request, handed to the event loop; its answer comes on the channel.
fn client_request(req: &Request, tx: &SyncSender<Event>) -> Handled {
    let creq = match parse(req) {
        Ok(c) => c,
        Err(resp) => return Handled::Now(resp),
    };
    let (rtx, rrx) = oneshot::channel();
    match tx.try_send(Event::Client(creq, Reply(Cell::new(Some(rtx))))) {
        Err(TrySendError::Full(_)) => {
            Handled::Now(Response::error(503, "unavailable, retry: overloaded"))
        }
        Err(TrySendError::Disconnected(_)) => {
            Handled::Now(Response::error(503, "unavailable, retry: shutting down"))
        }
        Ok(()) => Handled::Later(rrx),
    }
}

/// Validates a request into a command, or the 4xx answer saying what is wrong.
fn parse(req: &Request) -> Result<ClientRequest, Response> {
    let (path, query) = match req.path.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (req.path.as_str(), None),
    };
    if let Some(rest) = path.strip_prefix("/admin/members") {
        return admin::parse(req, rest).map(ClientRequest::Admin);
    }
    if path == "/status" {
        return match req.method.as_str() {
            "GET" => Ok(ClientRequest::Status),
            _ => Err(Response::error(405, "use GET /status")),
        };
    }
    if path == "/txn" {
        return match req.method.as_str() {
            "POST" => txn_request(&req.body).map(|ops| ClientRequest::Kv(KvRequest::Txn(ops))),
            _ => Err(Response::error(405, "use POST /txn")),
        };
    }
    let Some(rest) = path.strip_prefix("/kv/") else {
        return Err(Response::error(
            404,
            "no such path; the API is /kv/{key}, /kv/{key}/cas, /txn, /status and /admin/members",
        ));
    };
    let (key, cas) = match rest.strip_suffix("/cas") {
        Some(k) => (k, true),
        None => (rest, false),
    };
    let key = valid_key(key)?;
    let body = || -> Result<Value, Response> {
        serde_json::from_slice(&req.body)
            .map_err(|e| Response::error(400, &format!("malformed JSON body: {e}")))
    };
    let local = match query {
        None => false,
        Some("local") if req.method == "GET" && !cas => true,
        Some(q) => {
            return Err(Response::error(
                400,
                &format!("unknown query {q:?}; the only one is GET /kv/{{key}}?local"),
            ))
        }
    };
    match (req.method.as_str(), cas) {
        ("GET", false) if local => Ok(ClientRequest::Kv(KvRequest::GetLocal(key))),
        ("GET", false) => Ok(ClientRequest::Kv(KvRequest::Get(key))),
        ("PUT", false) => {
            let v = body()?;
            match v.get("value") {
                Some(value) if v.as_object().is_some_and(|o| o.len() == 1) => {
                    Ok(ClientRequest::Kv(KvRequest::Put(key, value.clone())))
                }
                _ => Err(Response::error(400, "body must be {\"value\": V}")),
            }
        }
        ("POST", true) => {
            let v = body()?;
            match (v.get("from"), v.get("to")) {
                (Some(from), Some(to)) if v.as_object().is_some_and(|o| o.len() == 2) => {
                    Ok(ClientRequest::Kv(KvRequest::Cas {
                        key,
                        from: from.clone(),
                        to: to.clone(),
                    }))
                }
                _ => Err(Response::error(
                    400,
                    "body must be {\"from\": A, \"to\": B}",
                )),
            }
        }
        _ => Err(Response::error(
            405,
            "use GET or PUT on /kv/{key}, POST on /kv/{key}/cas",
        )),
    }
}
