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

    // ----- nodes -----

    fn boot(&mut self, i: usize) {
        let spec = self.spec;
        let node = &mut self.nodes[i];
        let disk = node.disk.clone();
        let (log, data) = (disk.log(), disk.state_machine());
        let kv = Kv::restore(&data).expect("a snapshot the simulation wrote restores");
        let members: Vec<NodeId> = (1..=spec.nodes as NodeId).collect();
        let seed = spec
            .seed
            .wrapping_mul(31)
            .wrapping_add(node.id * 7 + node.life);
        let cfg = node_config(
            node.id,
            members,
            Duration::from_millis(TICK_MS),
            spec.unsafe_,
            spec.no_fsync,
            seed,
        )
        .restarting_with(kv.members());
        let raft = Node::new(cfg, disk.term, disk.vote, log, Some(data));
        node.up = Some(
            Service::new(
                raft,
                kv,
                spec.read_mode,
                spec.write_ack,
                crate::run::node_request_timeout_ms(CLIENT_TIMEOUT_MS),
            )
            .with_isolation(spec.txn_isolation)
            .with_knobs(spec.service_knobs),
        );
        node.life += 1;
        node.timer += 1;
        let (life, timer, tick) = (node.life, node.timer, node.clock.tick_us());
        self.after(tick, Ev::Tick { node: i, timer });
        if spec.no_fsync {
            self.after(1_000_000, Ev::Flush { node: i, life });
        }
    }

    /// Node `node` panicked (or, with no node, the simulation itself did: that is a bug of ours,
    /// and is raised again).
    fn died(&mut self, node: Option<usize>, why: &str) {
        let Some(i) = node else {
            panic!("the simulation failed: {why}");
        };
        self.broken.push(format!(
            "{:.3} s n{}: the process stopped: {why}",
            self.now as f64 / 1e6,
            i + 1
        ));
        self.crash(i);
    }

    /// SIGKILL: the process and what it had not synced are gone; its clients' connections reset.
    fn crash(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.unsynced.clear();
        node.paused = false;
        let held = std::mem::take(&mut node.held);
        let waiting = node.up.take().map(Service::abandon).unwrap_or_default();
        for asker in waiting {
            self.reset(i, asker);
        }
        for ev in held {
            if let Ev::Arrive { asker, .. } = ev {
                self.reset(i, asker);
            }
        }
    }

    fn reset(&mut self, node: usize, asker: Asker) {
        let addr = self.addrs[&(node as NodeId + 1)].clone();
        let reply = Err(ClientError::Unanswered(
            addr,
            "connection reset by peer".into(),
        ));
        let latency = self.client_latency();
        self.after(latency, Ev::Reply { asker, reply });
    }

    fn tick(&mut self, i: usize, timer: u64) {
        let now = self.now;
        let node = &mut self.nodes[i];
        if node.timer != timer || node.paused {
            return;
        }
        let Some(svc) = node.up.as_mut() else {
            return;
        };
        svc.node.tick(node.clock.wall_ms(now));
        let expired = svc.expire(node.clock.mono_ms(now));
        let next = node.clock.tick_us();
        self.answer(expired);
        self.process(i);
        self.after(next, Ev::Tick { node: i, timer });
    }

    fn flush(&mut self, i: usize, life: u64) {
        let node = &mut self.nodes[i];
        if node.life != life || node.up.is_none() {
            return;
        }
        if !node.paused {
            for r in std::mem::take(&mut node.unsynced) {
                node.disk.persist(&r);
            }
        }
        let next = (1_000_000.0 / node.clock.rate) as u64;
        self.after(next, Ev::Flush { node: i, life });
    }

    fn deliver(&mut self, env: Envelope) {
        let (from, to) = (env.from as usize - 1, env.to as usize - 1);
        if self
            .grudge
            .as_ref()
            .is_some_and(|g| g.hears_not(to).contains(&from))
        {
            return;
        }
        let node = &mut self.nodes[to];
        if node.up.is_none() {
            return;
        }
        if node.paused {
            node.held.push(Ev::Deliver(env));
            return;
        }
        let svc = node.up.as_mut().expect("up");
        svc.node.step(env.from, env.msg);
        self.process(to);
    }

    /// After a node's state changed: its Ready made durable (or buffered), its messages sent,
    /// its clients answered, and a snapshot taken when the log has grown.
    fn process(&mut self, i: usize) {
        let now = self.now;
        let no_fsync = self.spec.no_fsync;
        let node = &mut self.nodes[i];
        let Some(svc) = node.up.as_mut() else {
            return;
        };
        // As the server does every turn: a learner that caught up is promoted.
        svc.node.promote_caught_up();
        svc.node.flush(node.clock.wall_ms(now));
        if svc.node.role() == Role::Leader {
            let (term, id) = (svc.node.term(), node.id);
            if let Some(other) = self.leaders.insert(term, id).filter(|&o| o != id) {
                self.broken.push(format!(
                    "{:.3} s: election safety: two leaders in term {term}: n{other} and n{id}",
                    now as f64 / 1e6
                ));
            }
        }
        let node = &mut self.nodes[i];
        let svc = node.up.as_mut().expect("up");
        let mut ready = svc.node.take_ready();
        let messages = std::mem::take(&mut ready.messages);
        let durable = Ready {
            hard_state: ready.hard_state,
            truncate_from: ready.truncate_from,
            append: ready.append.clone(),
            snapshot: ready.snapshot.clone(),
            ..Ready::default()
        };
        if no_fsync {
            node.unsynced.push(durable);
        } else {
            node.disk.persist(&durable);
        }
        let answers = match svc.settle(&ready) {
            Ok(a) => a,
            Err(e) => panic!("n{}: a snapshot does not restore: {e}", node.id),
        };
        let applied = svc.kv.applied();
        if applied >= svc.node.log().snapshot_index() + SNAPSHOT_EVERY {
            let data = svc.kv.snapshot();
            if svc.node.compact(applied, data.clone()) {
                let term = svc.node.log().snapshot_term();
                let snapshot = Ready {
                    snapshot: Some(targets::raftkv::node::Snapshot {
                        last_index: applied,
                        last_term: term,
                        data,
                    }),
                    ..Ready::default()
                };
                if no_fsync {
                    node.unsynced.push(snapshot);
                } else {
                    node.disk.persist(&snapshot);
                }
            }
        }
        let id = node.id;
        for b in std::mem::take(&mut ready.broken) {
            self.broken
                .push(format!("{:.3} s n{id}: {b}", now as f64 / 1e6));
        }
        self.answer(answers);
        for env in messages {
            self.send(env);
        }
    }

    /// A peer message onto the network: usually 0.2–1.5 ms, now and then 5–30 ms late (so
    /// messages overtake each other), sometimes lost or delivered twice.
    fn send(&mut self, env: Envelope) {
        if self.rng.chance(0.002) {
            return;
        }
        let delay = |rng: &mut Rng| {
            if rng.chance(0.01) {
                5_000 + rng.below(25_000)
            } else {
                200 + rng.below(1_300)
            }
        };
        if self.rng.chance(0.002) {
            let d = delay(&mut self.rng);
            self.after(d, Ev::Deliver(env.clone()));
        }
        let d = delay(&mut self.rng);
        self.after(d, Ev::Deliver(env));
    }

    /// The node's answers, as HTTP replies, on their way to the clients.
    fn answer(&mut self, answers: Vec<(Asker, Answer)>) {
        for (asker, answer) in answers {
            let reply = reply_of(http_answer(answer, &asker.path, &self.addrs));
            let latency = self.client_latency();
            self.after(
                latency,
                Ev::Reply {
                    asker,
                    reply: Ok(reply),
                },
            );
        }
    }

    fn client_latency(&mut self) -> u64 {
        100 + self.rng.below(400)
    }

    // ----- clients -----

    fn next_op(&mut self, c: usize) {
        if !self.load_on || self.clients[c].flight.is_some() {
            return;
        }
        let interval = (self.spec.clients as f64 / self.spec.rate * 1e6) as u64;
        let client = &mut self.clients[c];
        // The harness's pacing: an interval varied ±50%, no backlog after a stall.
        client.due =
            (client.due + (interval as f64 * (0.5 + client.rng.unit())) as u64).max(self.now);
        let op = match client.then.take() {
            Some(op) => op,
            None => self.generator.next(&mut client.rng),
        };
        let inv = self
            .recorder
            .invoke(client.seat.process, op.f(), op.key(), op.value(), None);
        let home = client.seat.home;
        let url = self.endpoints.url_for(&op, home, false);
        client.op += 1;
        let id = client.op;
        client.flight = Some(Flight {
            op,
            inv,
            url,
            node: home,
            hops: 0,
        });
        self.after(CLIENT_TIMEOUT_US, Ev::Timeout { client: c, op: id });
        self.send_request(c);
    }

    /// The client's operation, to the node it is addressed to now.
    fn send_request(&mut self, c: usize) {
        let client = &self.clients[c];
        let f = client.flight.as_ref().expect("in flight");
        let req = match f.op.primitive() {
            Op::Read { key } => Request::Get(key.clone()),
            Op::Write { key, value } => Request::Put(key.clone(), json!(value)),
            Op::Cas { key, from, to } => Request::Cas {
                key: key.clone(),
                from: json!(from),
                to: json!(to),
            },
            Op::Txn(micro) => Request::Txn(micro.iter().map(txn_op).collect()),
            Op::Seed(_) => unreachable!("primitive() is never a seed op"),
        };
        let asker = Asker {
            client: c,
            op: client.op,
            path: req.path(),
        };
        let node = f.node;
        let latency = self.client_latency();
        self.after(latency, Ev::Arrive { node, asker, req });
    }

    fn arrive(&mut self, i: usize, asker: Asker, req: Request) {
        let now = self.now;
        let node = &mut self.nodes[i];
        let Some(svc) = node.up.as_mut() else {
            let addr = self.addrs[&node.id].clone();
            let reply = Err(ClientError::NotSent(addr, "connection refused".into()));
            let latency = self.client_latency();
            self.after(latency, Ev::Reply { asker, reply });
            return;
        };
        if node.paused {
            node.held.push(Ev::Arrive {
                node: i,
                asker,
                req,
            });
            return;
        }
        let (mono, wall) = (node.clock.mono_ms(now), node.clock.wall_ms(now));
        if let Some(answer) = svc.request(req, asker, mono, wall) {
            self.answer(vec![answer]);
        }
        self.process(i);
    }

    fn reply(&mut self, asker: Asker, reply: Result<Reply, ClientError>) {
        let c = asker.client;
        let client = &mut self.clients[c];
        if client.op != asker.op {
            return; // an answer after the client gave up
        }
        let Some(f) = client.flight.as_mut() else {
            return;
        };
        let name = self.endpoints.nodes[f.node].name.clone();
        match self
            .endpoints
            .conclude(&f.op, false, reply, Some(name), &f.url)
        {
            Hop::Done(done) => self.complete(c, done),
            Hop::Follow { url, node } => {
                f.hops += 1;
                match self.endpoints.index_of(&node) {
                    Some(next) if f.hops < MAX_HOPS => {
                        f.url = url;
                        f.node = next;
                        self.send_request(c);
                    }
                    _ => {
                        let done =
                            Completion::unavailable(None, Done::Fail, "too many redirects".into());
                        self.complete(c, done);
                    }
                }
            }
        }
    }

    fn timeout(&mut self, c: usize, op: u64) {
        let client = &self.clients[c];
        let Some(f) = client.flight.as_ref().filter(|_| client.op == op) else {
            return;
        };
        let addr = self.addrs[&(f.node as NodeId + 1)].clone();
        let err = ClientError::Unanswered(addr, format!("timed out after {CLIENT_TIMEOUT_MS} ms"));
        let name = self.endpoints.nodes[f.node].name.clone();
        if let Hop::Done(done) = self
            .endpoints
            .conclude(&f.op, false, Err(err), Some(name), &f.url)
        {
            self.complete(c, done);
        }
    }

    fn complete(&mut self, c: usize, mut done: Completion) {
        let client = &mut self.clients[c];
        let f = client.flight.take().expect("in flight");
        if let Op::Seed(seed) = &f.op {
            done = seed.complete(done);
            client.then = seed.then(&done);
            if client.then.is_some() {
                // The holder's critical section, before its release.
                let hold = crate::run::seeds::HOLD.as_micros() as u64;
                client.due = client.due.max(self.now + hold);
            }
        }
        client.op += 1; // late answers to this operation are ignored
        self.recorder.complete(&f.inv, &done);
        let wrote = done.outcome == Done::Ok && f.op.writes();
        client.seat.after(&done);
        let due = client.due;
        self.at(due, Ev::Next { client: c });
        if wrote && self.healed_at.is_some() && self.wrote_after_heal.is_none() {
            self.wrote_after_heal = Some(self.now);
        }
        // Once the cluster has shown it serves again, half a second more load, then the end.
        if self.main_over && wrote {
            self.main_over = false;
            self.after(500_000, Ev::LoadEnd);
        }
    }

    fn final_reads(&mut self) {
        if self.spec.workload.seed().is_some() {
            return self.seed_final_reads();
        }
        for i in 0..self.spec.nodes {
            let process = crate::run::final_read_process(self.spec.clients as u64, i);
            let transactional = self.spec.workload.transactional();
            for key in self.generator.keys_used() {
                let inv = match transactional {
                    true => self.recorder.invoke(
                        process,
                        "txn",
                        None,
                        json!([["r", key, null]]),
                        Some("final"),
                    ),
                    false => self.recorder.invoke(
                        process,
                        "read",
                        Some(&key),
                        Value::Null,
                        Some("final"),
                    ),
                };
                if let Some(mut done) = self.read_own_copy(i, &key) {
                    if transactional {
                        crate::run::driver::as_final_txn(&key, &mut done);
                    }
                    self.recorder.complete(&inv, &done);
                }
            }
        }
    }

    /// A seed workload's final reads: each node's whole bank, counter or set, as one read.
    fn seed_final_reads(&mut self) {
        let seeds = self.generator.seeds().expect("a seed workload");
        if !seeds.reads_finally() {
            return;
        }
        for i in 0..self.spec.nodes {
            let process = crate::run::final_read_process(self.spec.clients as u64, i);
            let inv =
                self.recorder
                    .invoke(process, seeds.final_f(), None, Value::Null, Some("final"));
            let copies: Option<Vec<(String, Completion)>> = seeds
                .keys()
                .iter()
                .map(|k| Some((k.clone(), self.read_own_copy(i, k)?)))
                .collect();
            if let Some(copies) = copies {
                let c = seeds.final_read(copies);
                let done = c.outcome == Done::Ok;
                self.recorder.complete(&inv, &c);
                if done && seeds.drains_once() {
                    return;
                }
            }
        }
    }

    /// Node `i`'s own copy of `key`, as a final read sees it (none if the answer redirects).
    fn read_own_copy(&self, i: usize, key: &str) -> Option<Completion> {
        let op = Op::Read {
            key: key.to_string(),
        };
        let url = self.endpoints.url_for(&op, i, true);
        let name = self.endpoints.nodes[i].name.clone();
        let sent = match &self.nodes[i].up {
            Some(svc) => {
                let answer = Answer::Read(svc.kv.get(key).cloned());
                Ok(reply_of(http_answer(
                    answer,
                    &format!("/kv/{key}"),
                    &self.addrs,
                )))
            }
            None => Err(ClientError::NotSent(
                self.addrs[&(i as NodeId + 1)].clone(),
                "connection refused".into(),
            )),
        };
        match self.endpoints.conclude(&op, true, sent, Some(name), &url) {
            Hop::Done(done) => Some(done),
            Hop::Follow { .. } => None,
        }
    }

    /// Every fault is undone now: the clock of recovery starts again.
    fn healed(&mut self) {
        self.healed_at = Some(self.now);
        self.wrote_after_heal = None;
    }

    /// How long after the last heal a write first succeeded, if it did within the bound.
    fn recovered_after(&self) -> Option<Duration> {
        let after = self.wrote_after_heal? - self.healed_at?;
        Some(Duration::from_micros(after)).filter(|d| *d <= self.spec.liveness)
    }

    // ----- the nemesis -----

    /// The node that leads now, as the nodes say: a running, unpaused leader of the highest term.
    fn leader(&self) -> Option<usize> {
        (0..self.nodes.len())
            .filter(|&i| !self.nodes[i].paused)
            .filter_map(|i| self.nodes[i].up.as_ref().map(|s| (i, &s.node)))
            .filter(|(_, n)| n.role() == Role::Leader)
            .max_by_key(|(_, n)| n.term())
            .map(|(i, _)| i)
    }

    /// The leader a majority of the voters of its configuration name as leader in its term: a
    /// leader deposed without knowing it (cut off while the others elected) does not count, and
    /// its configuration is not the cluster's; nodes that campaign in ever higher terms without
    /// winning do not unseat it. As `faultline run` finds the leader to confirm a change with.
    fn current_leader(&self) -> Option<usize> {
        let l = self.leader()?;
        let node = &self.nodes[l].up.as_ref()?.node;
        let voters = &node.members().voters;
        let backers = voters
            .iter()
            .filter_map(|&v| self.nodes[v as usize - 1].up.as_ref())
            .filter(|s| s.node.term() == node.term() && s.node.leader() == Some(node.id()))
            .count();
        (backers > voters.len() / 2).then_some(l)
    }

    fn nemesis(&mut self, step: &Step) {
        let (f, plan) = match &step.action {
            Action::Start { plan } => (format!("start-{}", plan.kind()), Some(plan.clone())),
            Action::Stop => ("stop".to_string(), None),
        };
        let Some(plan) = plan else {
            self.stop_faults(&f);
            self.healed();
            return;
        };
        self.recorder
            .nemesis("invoke", &f, json!(plan.to_string()), Map::new());
        if self.active.iter().any(|a| active_kind(a) == plan.kind()) {
            self.stop_faults("stop");
        }
        match self.start(&plan) {
            Ok((description, nodes)) => self.record(&f, &description, &nodes, step.pattern),
            Err(e) => {
                let mut extra = Map::new();
                extra.insert("error".into(), json!(e));
                self.recorder
                    .nemesis("info", &f, json!("not applied"), extra);
                self.fault_log.push(format!(
                    "{:>8.3} s  not applied: {plan}: {e}",
                    self.now as f64 / 1e6
                ));
            }
        }
    }

    fn record(&mut self, f: &str, description: &str, nodes: &[usize], pattern: Option<&str>) {
        let names: Vec<String> = nodes.iter().map(|i| format!("n{}", i + 1)).collect();
        let mut extra = Map::new();
        extra.insert("nodes".into(), json!(names));
        self.recorder.nemesis("info", f, json!(description), extra);
        let pattern = pattern.map(|p| format!(" [{p}]")).unwrap_or_default();
        self.fault_log.push(format!(
            "{:>8.3} s  {description}{pattern}",
            self.now as f64 / 1e6
        ));
    }

    /// Applies `plan`; what it did, in words, and the nodes it touched.
    fn start(&mut self, plan: &Plan) -> Result<(String, Vec<usize>), String> {
        let n = self.spec.nodes;
        let leader = self.leader();
        match *plan {
            Plan::Partition { shape } => {
                // As the nemesis does: the leader, or a node at random when none is known.
                let l = Who::Leader
                    .victims(n, leader, None, &mut self.nemesis_rng)
                    .0[0];
                if shape == Shape::IsolateLeader {
                    self.deposed = Some(l);
                }
                let grudge = Grudge::of_shape(shape, n, &mut self.nemesis_rng, l);
                let cut: Vec<usize> = (0..n)
                    .filter(|&i| !grudge.hears_not(i).is_empty())
                    .collect();
                let said = format!("partition ({}): {grudge}", shape.name());
                self.grudge = Some(grudge);
                self.active.push(Active::Partition);
                Ok((said, cut))
            }
            Plan::Pause { who } => {
                let (nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                if let Some(&down) = nodes.iter().find(|&&i| self.nodes[i].up.is_none()) {
                    return Err(format!("pause: n{} is not running", down + 1));
                }
                if who == Who::Leader {
                    self.deposed = nodes.first().copied();
                }
                for &i in &nodes {
                    self.nodes[i].paused = true;
                }
                self.active.push(Active::Paused(nodes.clone()));
                Ok((format!("pause {how}{}", names(&nodes)), nodes))
            }
            Plan::Kill { who } => {
                let (nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                if let Some(&down) = nodes.iter().find(|&&i| self.nodes[i].up.is_none()) {
                    return Err(format!("kill: n{} is not running", down + 1));
                }
                for &i in &nodes {
                    self.crash(i);
                }
                self.active.push(Active::Killed(nodes.clone()));
                Ok((format!("kill {how}{}", names(&nodes)), nodes))
            }
            Plan::Clock { who, change } => {
                let (nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                let down = |i: usize| self.nodes[i].up.is_none() || self.nodes[i].paused;
                let (node, moved) = Who::clock_node(nodes[0], n, down);
                let how = moved.unwrap_or(how);
                self.change_clock(node, change);
                self.active.push(Active::Clock(node));
                Ok((format!("clock {how}n{} {change}", node + 1), vec![node]))
            }
            Plan::Membership { who } => {
                let (mut nodes, how) = who.victims(n, leader, self.deposed, &mut self.nemesis_rng);
                nodes.truncate(Who::minority(n));
                self.want_voters((0..n).filter(|i| !nodes.contains(i)).collect());
                self.active.push(Active::Removed(nodes.clone()));
                Ok((
                    format!("remove {how}{} from the configuration", names(&nodes)),
                    nodes,
                ))
            }
        }
    }

    fn want_voters(&mut self, voters: Vec<usize>) {
        let idle = self.wanted_voters.is_none();
        self.wanted_voters = Some(voters);
        if idle {
            self.after(1_000, Ev::Admin);
        }
    }

    /// The operator's turn, every millisecond until the leader's configuration is the one wanted and
    /// committed: the next change toward it — a node too many removed, a node missing added as
    /// a learner (the leader promotes it once caught up) — asked of whichever node leads now.
    /// Like an automated operator it asks again as soon as a change is accepted, so a leader
    /// that accepts changes it should refuse (the membership knobs) is caught doing so.
    fn admin(&mut self) {
        let Some(wanted) = self.wanted_voters.clone() else {
            return;
        };
        let Some(l) = self.current_leader() else {
            self.after(1_000, Ev::Admin);
            return;
        };
        let svc = self.nodes[l].up.as_mut().expect("a leader runs");
        let m = svc.node.members().clone();
        let id = |i: usize| i as NodeId + 1;
        let extra = m.all().find(|v| !wanted.iter().any(|&w| id(w) == *v));
        let missing = wanted.iter().copied().find(|&w| !m.contains(id(w)));
        let change = match (extra, missing) {
            (Some(v), _) => Some(Change::Remove(v)),
            (None, Some(w)) => Some(Change::AddLearner(id(w))),
            (None, None) => None,
        };
        let committed = svc.node.members_index() <= svc.node.commit_index();
        match change {
            Some(c) if svc.node.propose_change(c).is_ok() => self.process(l),
            Some(_) => {}
            None if committed && m.learners.is_empty() => {
                self.wanted_voters = None;
                self.fault_log.push(format!(
                    "{:>8.3} s  configuration now voters {} (confirmed by n{}'s)",
                    self.now as f64 / 1e6,
                    names(&wanted),
                    l + 1
                ));
                return;
            }
            None => {}
        }
        self.after(1_000, Ev::Admin);
    }

    fn change_clock(&mut self, i: usize, change: ClockChange) {
        let now = self.now;
        let clock = &mut self.nodes[i].clock;
        match change {
            ClockChange::Bump { ms } => clock.offset_ms += ms as f64,
            ClockChange::Drift { rate } => clock.set_rate(now, rate),
            ClockChange::Strobe {
                delta_ms,
                period_ms,
            } => {
                clock.generation += 1;
                clock.strobe = Some((delta_ms as f64, true, period_ms));
                let generation = clock.generation;
                self.after(
                    period_ms * 1000,
                    Ev::Strobe {
                        node: i,
                        generation,
                    },
                );
            }
        }
    }

    fn strobe(&mut self, i: usize, generation: u64) {
        let clock = &mut self.nodes[i].clock;
        let Some((delta, on, period)) = clock.strobe.filter(|_| clock.generation == generation)
        else {
            return;
        };
        clock.strobe = Some((delta, !on, period));
        self.after(
            period * 1000,
            Ev::Strobe {
                node: i,
                generation,
            },
        );
    }

    /// Undoes every fault in force, the last first.
    fn stop_faults(&mut self, f: &str) {
        if self.active.is_empty() {
            return;
        }
        self.recorder
            .nemesis("invoke", f, json!("heal"), Map::new());
        self.deposed = None;
        let mut said = Vec::new();
        let mut touched = Vec::new();
        while let Some(active) = self.active.pop() {
            match active {
                Active::Partition => {
                    self.grudge = None;
                    said.push("heal the network".to_string());
                }
                Active::Paused(nodes) => {
                    for &i in &nodes {
                        self.resume(i);
                    }
                    said.push(format!("resume {}", names(&nodes)));
                    touched.extend(nodes);
                }
                Active::Killed(nodes) => {
                    for &i in &nodes {
                        self.boot(i);
                    }
                    said.push(format!("restart {}", names(&nodes)));
                    touched.extend(nodes);
                }
                Active::Removed(nodes) => {
                    self.want_voters((0..self.spec.nodes).collect());
                    said.push(format!("add back {}", names(&nodes)));
                    touched.extend(nodes);
                }
                Active::Clock(i) => {
                    let now = self.now;
                    let clock = &mut self.nodes[i].clock;
                    clock.set_rate(now, 1.0);
                    clock.offset_ms = 0.0;
                    clock.strobe = None;
                    clock.generation += 1;
                    said.push(format!("reset n{}'s clock", i + 1));
                    touched.push(i);
                }
            }
        }
        touched.sort_unstable();
        touched.dedup();
        self.record(f, &said.join("; "), &touched, None);
    }

    fn resume(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if !node.paused {
            return;
        }
        node.paused = false;
        node.timer += 1;
        let held = std::mem::take(&mut node.held);
        let (timer, tick) = (node.timer, node.clock.tick_us());
        for ev in held {
            self.after(1, ev);
        }
        self.after(tick, Ev::Tick { node: i, timer });
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
