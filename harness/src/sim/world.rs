//! One simulated run of a raftkv cluster, from a seed: simulated time, network, disks, clocks
//! and clients around the real parts.
//!
//! Real: the Raft core ([`Node`]), the rules that answer clients ([`Service`]), the HTTP answers
//! they become ([`http_answer`]), the harness's reading of those answers
//! ([`Endpoints::conclude`]), its generator of operations, its recorder, the nemesis's schedule
//! and its choice of victims ([`Who::victims`], [`Grudge::of_shape`]). Simulated: everything
//! between them — a network that delays, drops, duplicates and reorders peer messages and honours
//! a partition's grudge; disks that keep what a node made durable (and, with `no-fsync`, lose what
//! it had only buffered when it crashes); a clock per node that can drift (its timers and its wall
//! clock run at its own rate) and jump (its wall clock alone, as an NTP step does); processes that
//! pause (nothing runs, messages wait) and crash.
//!
//! Time is a number of microseconds; events run in time order, ties in the order they were
//! scheduled, and every random choice comes from the seed, so a seed replays exactly.

use crate::run::driver::{Completion, Endpoints, Hop, MAX_HOPS};
use crate::run::recorder::{Invocation, Recorder};
use crate::run::workload::{Generator, Op, Workload};
use crate::run::{sticky, Seat};
use checker::generate::Rng;
use checker::Outcome as Done;
use nemesis::schedule::{Action, Step};
use nemesis::{ClockChange, FaultKind, Grudge, Plan, Shape, Who};
use serde_json::{json, Map, Value};
use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use targets::client::{ClientError, Reply};
use targets::raftkv::kv::Kv;
use targets::raftkv::node::{Change, Envelope, Node, NodeId, Ready, Role, Unsafe};
use targets::raftkv::server::{http_answer, node_config};
use targets::raftkv::service::{Answer, ReadMode, Request, Service, WriteAck};
use targets::raftkv::storage::MemoryDisk;

mod clients;
mod faults;
mod nodes;

/// Everything one simulated run is.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    pub nodes: usize,
    pub read_mode: ReadMode,
    pub write_ack: WriteAck,
    /// raftkv's isolation level for transactions.
    pub txn_isolation: targets::raftkv::service::Isolation,
    pub unsafe_: Unsafe,
    pub no_fsync: bool,
    /// raftkv's service knobs (`--unsafe fail-pending-on-stepdown`, `redeliver`, …).
    pub service_knobs: targets::raftkv::service::Knobs,
    pub kinds: Vec<FaultKind>,
    pub shapes: Vec<Shape>,
    /// Simulated seconds of load and faults.
    pub time_limit: Duration,
    pub interval: Duration,
    /// After the faults heal: how long load goes on (the cluster must serve again within it).
    pub liveness: Duration,
    pub clients: usize,
    pub keys: usize,
    pub workload: Workload,
    /// For a transactional workload, the isolation level the judge requires.
    pub isolation: checker::txn::Isolation,
    /// Operations per second over all clients.
    pub rate: f64,
    /// Keep only these segments of the schedule (a shrunk schedule's replay); all when none.
    pub segments: Option<Vec<usize>>,
}

/// What a simulated run produced.
pub struct Outcome {
    /// The history, as `faultline run` records it (JSON lines).
    pub history: String,
    /// The faults as applied, one line each.
    pub faults: Vec<String>,
    /// Segments of the schedule: the steps from a start to the stop that heals it.
    pub segments: Vec<Vec<Step>>,
    /// How long after the faults healed a write or cas first succeeded; none if none did
    /// within the liveness bound.
    pub recovered_after: Option<Duration>,
    /// Safety rules nodes saw broken and carried on past.
    pub broken: Vec<String>,
    /// Events simulated.
    pub events: u64,
}

/// raftkv's timing, as `faultline run` launches it.
const TICK_MS: u64 = 10;
/// The clients' timeout, as `faultline run`'s default `--timeout-ms`.
pub const CLIENT_TIMEOUT_MS: u64 = 1_500;
const CLIENT_TIMEOUT_US: u64 = CLIENT_TIMEOUT_MS * 1000;
/// Entries applied between snapshots (small, so that snapshots and InstallSnapshot happen).
const SNAPSHOT_EVERY: u64 = 300;
/// A node's wall clock starts here (2026-12-01), in ms since the epoch.
const EPOCH_MS: f64 = 1_796_083_200_000.0;

/// The schedule of `spec`, cut into segments: each one or more starts and the stop that heals
/// them.
pub fn segments(spec: &Spec) -> Vec<Vec<Step>> {
    let mut rng = Rng::new(spec.seed ^ 0x005e_ed0f_fa17);
    let steps = nemesis::schedule::schedule(
        &spec.kinds,
        &spec.shapes,
        spec.nodes,
        spec.interval,
        spec.time_limit,
        &mut rng,
    );
    let mut out: Vec<Vec<Step>> = vec![Vec::new()];
    for step in steps {
        let stop = step.action == Action::Stop;
        out.last_mut().expect("one open").push(step);
        if stop {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// Runs `spec` to the end: load and faults, the heal, load until the cluster serves again (at
/// most `liveness`), a quiet second, and every node's own copy of every key read.
pub fn run(spec: &Spec, endpoints: &Endpoints) -> Outcome {
    let segments = segments(spec);
    let steps: Vec<Step> = segments
        .iter()
        .enumerate()
        .filter(|(i, _)| spec.segments.as_ref().is_none_or(|keep| keep.contains(i)))
        .flat_map(|(_, s)| s.iter().cloned())
        .collect();
    let mut world = World::new(spec, endpoints, steps);
    world.run();
    let recovered_after = world.recovered_after();
    Outcome {
        history: world.recorder.text(),
        faults: world.fault_log,
        segments,
        recovered_after,
        broken: world.broken,
        events: world.events,
    }
}

/// An event at a time.
struct Timed {
    at: u64,
    seq: u64,
    ev: Ev,
}

impl PartialEq for Timed {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Timed {}
impl PartialOrd for Timed {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timed {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

enum Ev {
    /// A node's timer; `timer` tells the current one from those of a previous life or of before
    /// a pause.
    Tick {
        node: usize,
        timer: u64,
    },
    /// With `no-fsync`: what a node buffered reaches its disk.
    Flush {
        node: usize,
        life: u64,
    },
    Deliver(Envelope),
    /// A client's request reaches a node.
    Arrive {
        node: usize,
        asker: Asker,
        req: Request,
    },
    /// A node's answer (or a broken connection) reaches a client.
    Reply {
        asker: Asker,
        reply: Result<Reply, ClientError>,
    },
    Timeout {
        client: usize,
        op: u64,
    },
    Next {
        client: usize,
    },
    Nemesis(usize),
    Strobe {
        node: usize,
        generation: u64,
    },
    /// The operator's next try at the membership change at the head of its queue.
    Admin,
    MainEnd,
    LoadEnd,
    FinalReads,
}

impl Ev {
    /// The node this event runs on, if one.
    fn node(&self) -> Option<usize> {
        match self {
            Ev::Tick { node, .. } | Ev::Flush { node, .. } | Ev::Arrive { node, .. } => Some(*node),
            Ev::Deliver(env) => Some(env.to as usize - 1),
            _ => None,
        }
    }
}

thread_local! {
    /// Whether this thread is running a simulated node's event (whose panic is the node's death).
    static IN_NODE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Panics of simulated nodes are reported by the simulation, not printed; any other panic is
/// printed as usual.
pub fn quiet_node_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !IN_NODE.with(|n| n.get()) {
            default(info);
        }
    }));
}

/// A panic's message.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic".into())
}

/// Who is waiting for a node's answer: which client, which of its operations, and the request's
/// key and whether it is a cas (for a redirect's Location).
#[derive(Clone, Debug)]
struct Asker {
    client: usize,
    op: u64,
    /// The path asked at, for the answer's redirect.
    path: String,
}

/// A generated micro-op as raftkv's log carries it.
fn txn_op(m: &crate::run::workload::Micro) -> targets::raftkv::log::TxnOp {
    use crate::run::workload::Micro;
    use targets::raftkv::log::TxnOp;
    match m {
        Micro::Append { key, element } => TxnOp::Append {
            key: key.clone(),
            element: json!(element),
        },
        Micro::Write { key, value } => TxnOp::W {
            key: key.clone(),
            value: json!(value),
        },
        Micro::Read { key } => TxnOp::R { key: key.clone() },
        Micro::Add { key, delta } => TxnOp::Add {
            key: key.clone(),
            delta: *delta,
            floor: None,
        },
        Micro::Pop { key } => TxnOp::Pop { key: key.clone() },
        Micro::Id { key } => TxnOp::Id { key: key.clone() },
        Micro::Acquire {
            key,
            owner,
            lease_ms,
        } => TxnOp::Acquire {
            key: key.clone(),
            owner: owner.clone(),
            lease_ms: *lease_ms,
            at_ms: 0,
        },
        Micro::Release { key, owner } => TxnOp::Release {
            key: key.clone(),
            owner: owner.clone(),
            at_ms: 0,
        },
    }
}

/// A node's clock: its timers and wall clock run at `rate`; a jump moves the wall clock alone.
#[derive(Clone, Copy)]
struct NodeClock {
    rate: f64,
    offset_ms: f64,
    /// Real and local time at the last change of rate.
    base_real: u64,
    base_local: f64,
    /// A strobe: the wall clock flips between its time and `delta` ms away every `period` ms
    /// (delta, on now, period).
    strobe: Option<(f64, bool, u64)>,
    generation: u64,
}

impl NodeClock {
    fn new() -> NodeClock {
        NodeClock {
            rate: 1.0,
            offset_ms: 0.0,
            base_real: 0,
            base_local: 0.0,
            strobe: None,
            generation: 0,
        }
    }
    /// The node's monotonic time in ms.
    fn mono_ms(&self, now: u64) -> u64 {
        ((self.base_local + (now - self.base_real) as f64 * self.rate) / 1000.0) as u64
    }
    /// The node's wall clock in ms since the epoch.
    fn wall_ms(&self, now: u64) -> u64 {
        let strobe = match self.strobe {
            Some((delta, true, _)) => delta,
            _ => 0.0,
        };
        let local = (self.base_local + (now - self.base_real) as f64 * self.rate) / 1000.0;
        (EPOCH_MS + local + self.offset_ms + strobe).max(0.0) as u64
    }
    fn set_rate(&mut self, now: u64, rate: f64) {
        self.base_local += (now - self.base_real) as f64 * self.rate;
        self.base_real = now;
        self.rate = rate;
    }
    /// Real microseconds until the node's next tick.
    fn tick_us(&self) -> u64 {
        ((TICK_MS * 1000) as f64 / self.rate).max(1.0) as u64
    }
}

struct SimNode {
    id: NodeId,
    up: Option<Service<Asker>>,
    life: u64,
    timer: u64,
    disk: MemoryDisk,
    /// With `no-fsync`: written but not yet on the disk.
    unsynced: Vec<Ready>,
    paused: bool,
    /// What arrived while paused, handled when it resumes.
    held: Vec<Ev>,
    clock: NodeClock,
}

struct SimClient {
    seat: Seat,
    rng: Rng,
    /// When the next operation is due (the harness's pacing).
    due: u64,
    op: u64,
    flight: Option<Flight>,
    /// The operation it owes next (a lock's release after its acquire).
    then: Option<Op>,
}

/// A client's operation in flight.
struct Flight {
    op: Op,
    inv: Invocation,
    url: String,
    node: usize,
    hops: usize,
}

/// A fault in force.
enum Active {
    Partition,
    Paused(Vec<usize>),
    Killed(Vec<usize>),
    Clock(usize),
    /// Nodes taken out of the configuration, in order.
    Removed(Vec<usize>),
}

struct World<'a> {
    spec: &'a Spec,
    endpoints: &'a Endpoints,
    now: u64,
    clock: Arc<AtomicU64>,
    seq: u64,
    queue: BinaryHeap<Reverse<Timed>>,
    rng: Rng,
    nemesis_rng: Rng,
    nodes: Vec<SimNode>,
    clients: Vec<SimClient>,
    generator: Generator,
    recorder: Recorder,
    steps: Vec<Step>,
    grudge: Option<Grudge>,
    active: Vec<Active>,
    deposed: Option<usize>,
    /// Node ids to their client addresses, for redirects.
    addrs: BTreeMap<NodeId, String>,
    load_on: bool,
    /// The main phase is over: faults healed, load goes on until a write succeeds.
    main_over: bool,
    /// When the last fault was healed, and when a write or cas first succeeded after it.
    healed_at: Option<u64>,
    wrote_after_heal: Option<u64>,
    fault_log: Vec<String>,
    broken: Vec<String>,
    events: u64,
    /// The voters the simulated operator wants (node indexes); it steers the leader toward
    /// them one change at a time while the leader's configuration differs.
    wanted_voters: Option<Vec<usize>>,
    /// The leader of each term seen, for election safety across configurations.
    leaders: BTreeMap<u64, NodeId>,
}

impl<'a> World<'a> {
    fn new(spec: &'a Spec, endpoints: &'a Endpoints, steps: Vec<Step>) -> World<'a> {
        let clock = Arc::new(AtomicU64::new(0));
        let mut rng = Rng::new(spec.seed);
        let addrs = (0..spec.nodes)
            .map(|i| {
                let authority = endpoints.nodes[i].base.authority();
                (i as NodeId + 1, authority)
            })
            .collect();
        let interval_us = (spec.clients as f64 / spec.rate * 1e6) as u64;
        let clients = (0..spec.clients)
            .map(|w| SimClient {
                // As `faultline run` by default: half the clients stay with their node.
                seat: Seat::new(
                    w as u64,
                    spec.clients as u64,
                    spec.nodes,
                    sticky(w as u64, spec.nodes, false, false),
                ),
                rng: rng.fork(),
                due: (interval_us as f64 * rng.unit()) as u64,
                op: 0,
                flight: None,
                then: None,
            })
            .collect();
        let mut world = World {
            spec,
            endpoints,
            now: 0,
            recorder: Recorder::simulated(clock.clone()),
            clock,
            seq: 0,
            queue: BinaryHeap::new(),
            nemesis_rng: rng.fork(),
            rng,
            nodes: Vec::new(),
            clients,
            // Transactional keys retire after 64 micro-ops, as `faultline run`'s do.
            generator: Generator::new(
                spec.workload,
                spec.keys,
                if spec.workload.transactional() {
                    64
                } else {
                    1_000_000
                },
                "",
            ),
            steps,
            grudge: None,
            active: Vec::new(),
            deposed: None,
            addrs,
            load_on: true,
            main_over: false,
            healed_at: None,
            wrote_after_heal: None,
            fault_log: Vec::new(),
            broken: Vec::new(),
            events: 0,
            wanted_voters: None,
            leaders: BTreeMap::new(),
        };
        for i in 0..spec.nodes {
            world.nodes.push(SimNode {
                id: i as NodeId + 1,
                up: None,
                life: 0,
                timer: 0,
                disk: MemoryDisk::default(),
                unsynced: Vec::new(),
                paused: false,
                held: Vec::new(),
                clock: NodeClock::new(),
            });
            world.boot(i);
        }
        for c in 0..spec.clients {
            let due = world.clients[c].due;
            world.at(due, Ev::Next { client: c });
        }
        for i in 0..world.steps.len() {
            let at = world.steps[i].at.as_micros() as u64;
            world.at(at, Ev::Nemesis(i));
        }
        let end = spec.time_limit.as_micros() as u64;
        world.at(end, Ev::MainEnd);
        world
    }

    fn at(&mut self, at: u64, ev: Ev) {
        self.seq += 1;
        self.queue.push(Reverse(Timed {
            at: at.max(self.now),
            seq: self.seq,
            ev,
        }));
    }

    fn after(&mut self, us: u64, ev: Ev) {
        self.at(self.now + us, ev);
    }

    fn run(&mut self) {
        while let Some(Reverse(t)) = self.queue.pop() {
            self.now = t.at;
            self.clock.store(self.now * 1000, Ordering::Relaxed);
            self.events += 1;
            // A node that panics dies, as its process would; the simulation goes on without it.
            let node = t.ev.node();
            IN_NODE.with(|n| n.set(node.is_some()));
            let handled =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.handle(t.ev)));
            IN_NODE.with(|n| n.set(false));
            match handled {
                Ok(true) => return,
                Ok(false) => {}
                Err(panic) => self.died(node, &panic_text(&*panic)),
            }
        }
    }

    /// Handles one event; true when the run is over.
    fn handle(&mut self, ev: Ev) -> bool {
        match ev {
            Ev::Tick { node, timer } => self.tick(node, timer),
            Ev::Flush { node, life } => self.flush(node, life),
            Ev::Deliver(env) => self.deliver(env),
            Ev::Arrive { node, asker, req } => self.arrive(node, asker, req),
            Ev::Reply { asker, reply } => self.reply(asker, reply),
            Ev::Timeout { client, op } => self.timeout(client, op),
            Ev::Next { client } => self.next_op(client),
            Ev::Nemesis(i) => {
                let step = self.steps[i].clone();
                self.nemesis(&step);
            }
            Ev::Strobe { node, generation } => self.strobe(node, generation),
            Ev::Admin => self.admin(),
            Ev::MainEnd => {
                let in_force = !self.active.is_empty();
                self.stop_faults("heal");
                if in_force || self.healed_at.is_none() {
                    self.healed();
                }
                self.main_over = true;
                let bound = self.spec.liveness.as_micros() as u64;
                self.after(bound, Ev::LoadEnd);
            }
            Ev::LoadEnd => {
                if !self.load_on {
                    return false;
                }
                self.load_on = false;
                // In-flight operations end by their timeout, at the latest.
                self.after(CLIENT_TIMEOUT_US + 1_000_000, Ev::FinalReads);
            }
            Ev::FinalReads => {
                self.final_reads();
                return true;
            }
        }
        false
    }
}

fn active_kind(a: &Active) -> FaultKind {
    match a {
        Active::Partition => FaultKind::Partition,
        Active::Paused(_) => FaultKind::Pause,
        Active::Killed(_) => FaultKind::Kill,
        Active::Clock(_) => FaultKind::Clock,
        Active::Removed(_) => FaultKind::Membership,
    }
}

/// `n1, n3`.
fn names(nodes: &[usize]) -> String {
    nodes
        .iter()
        .map(|i| format!("n{}", i + 1))
        .collect::<Vec<_>>()
        .join(", ")
}

/// A node's HTTP answer as the client reads it.
fn reply_of(r: targets::http_server::Response) -> Reply {
    let text = String::from_utf8_lossy(&r.body).into_owned();
    let body = serde_json::from_str(&text).unwrap_or(Value::Null);
    Reply {
        status: r.status,
        body,
        text,
        location: r.location,
    }
}
