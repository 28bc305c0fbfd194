//! The clients: each a tokio task that takes the next operation, performs it through the
//! target's driver and records how it ended, with its seat (process id and node); then the
//! recovery spell, the final reads of every key from every node's own copy, and the progress
//! line.

use super::*;

/// Recovery and final reads: a quiet spell until the nodes agree, then every key read from
/// every node. Whether they converged.
pub(super) fn recover_and_read(live: &Live, args: &RunArgs) -> bool {
    let mut converged = recover(&live.sup, Duration::from_secs_f64(args.recovery));
    if !converged {
        eprintln!("faultline: the nodes did not agree on an applied index within the recovery time; final reads go ahead");
    }
    let keys = live.generator.keys_used();
    // A workload that reads nothing at the end (a lock, unique ids) has no copies to compare:
    // its keys need not even be registers (ZooKeeper's lock is a directory of znodes).
    let reads_finally = live.generator.seeds().is_none_or(|s| s.reads_finally());
    // Systems with no applied index to compare: wait until their copies agree, or a member that
    // rejoined a moment ago and is still catching up looks stale or diverged. A copy that
    // reading takes from (a broker's queue) cannot be compared: its one read is the record.
    if !reads_finally {
        // Nothing to compare, nothing read.
    } else if live.endpoints.reads_consume() {
        if live.endpoints.len() > 1 {
            eprintln!("faultline: the nodes' queues cannot be compared without taking from them; the final drain goes ahead after the recovery spell");
        }
    } else if live.sup.nodes.statuses().is_none() {
        let agreed = live.runtime.block_on(agree_by_reads(
            &*live.endpoints,
            &keys,
            Duration::from_secs(10),
        ));
        if !agreed {
            eprintln!(
                "faultline: the nodes' own copies did not agree within 10 s; final reads go ahead"
            );
        }
        converged &= agreed;
    }
    if let Some(seeds) = live.generator.seeds() {
        // A node's own copy is the truth only once the nodes agree: a stale copy would make
        // acknowledged adds look lost.
        match converged {
            true => live.runtime.block_on(seeds::final_reads(
                &seeds,
                &live.recorder,
                &*live.endpoints,
                args.concurrency,
            )),
            false => eprintln!("faultline: no final reads: the nodes did not agree"),
        }
        return converged;
    }
    live.runtime.block_on(final_reads(
        &live.recorder,
        &keys,
        &*live.endpoints,
        args.concurrency,
        args.workload.transactional(),
    ));
    converged
}

/// Reads every key from every node's own copy — probes, not recorded — until all nodes give the
/// same values twice in a row, for at most `patience`. True if they agreed.
pub(super) async fn agree_by_reads(
    endpoints: &dyn driver::Driver,
    keys: &[String],
    patience: Duration,
) -> bool {
    let deadline = Instant::now() + patience;
    let mut last = None;
    loop {
        let mut seen: Vec<Vec<Option<Value>>> = Vec::new();
        for key in keys {
            let mut copies = Vec::new();
            for i in 0..endpoints.len() {
                let c = endpoints.read_local(key, i).await;
                copies.push((c.outcome == Outcome::Ok).then_some(c.value));
            }
            seen.push(copies);
        }
        let agreed = seen
            .iter()
            .all(|copies| copies.iter().all(|c| c.is_some() && *c == copies[0]));
        if agreed && last.as_ref() == Some(&seen) {
            return true;
        }
        last = Some(seen);
        if Instant::now() >= deadline || signals::interrupted() {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// One client: performs operations until told to stop. An indeterminate operation ends the
/// process (it may still take effect), and the client goes on as a new process, so no process
/// ever has two operations in flight.
pub(super) struct Client {
    pub(super) worker: u64,
    pub(super) workers: u64,
    pub(super) generator: Arc<Generator>,
    pub(super) recorder: Arc<Recorder>,
    pub(super) stop: Arc<AtomicBool>,
    pub(super) endpoints: Arc<dyn driver::Driver>,
    /// The pause between operations (varied ±50%); none for a closed loop.
    pub(super) interval: Option<Duration>,
    pub(super) sticky: bool,
    /// A lock holder's critical section, before its release.
    pub(super) hold: Duration,
}

/// Who a client is and where it sends its next operation: its process id (a new one after an
/// indeterminate operation) and its node. The simulator's clients use the same rules.
pub(crate) struct Seat {
    pub process: u64,
    pub home: usize,
    workers: u64,
    nodes: usize,
    sticky: bool,
}

impl Seat {
    /// Worker `worker` of `workers`, starting at node `worker % nodes`; a sticky one stays there.
    pub fn new(worker: u64, workers: u64, nodes: usize, sticky: bool) -> Seat {
        Seat {
            process: worker,
            home: worker as usize % nodes,
            workers,
            nodes,
            sticky,
        }
    }

    /// After an operation ended as `c`.
    pub fn after(&mut self, c: &driver::Completion) {
        if c.outcome == Outcome::Info {
            self.process += self.workers;
        }
        // A node that could not serve (unreachable, no leader known, unsure of the outcome)
        // sends this client to the next node; a cas that simply did not match does not.
        if c.unavailable && !self.sticky {
            self.home = (self.home + 1) % self.nodes;
        }
    }
}

/// Whether worker `w` (which starts at node `w % nodes`) stays with its node: all with
/// `--sticky-clients`, none with `--moving-clients`, and by default every other worker — with
/// the parity turned over on each lap around an even number of nodes, so that every node gets
/// sticky and moving clients alike (the even workers alone sat only on n1, n3, … when the
/// count was even). With an odd count the laps alternate by themselves.
pub(crate) fn sticky(w: u64, nodes: usize, all: bool, none: bool) -> bool {
    let nodes = nodes.max(1) as u64;
    let lap = if nodes.is_multiple_of(2) {
        w / nodes
    } else {
        0
    };
    all || (!none && (w + lap).is_multiple_of(2))
}

impl Client {
    pub(super) async fn run(self, mut rng: Rng) {
        let mut seat = Seat::new(self.worker, self.workers, self.endpoints.len(), self.sticky);
        // Spread the clients' first operations over one interval.
        let first = self
            .interval
            .map(|i| i.mul_f64(rng.unit()))
            .unwrap_or_default();
        let mut next = tokio::time::Instant::now() + first;
        // The operation this client owes next (a lock's release after its acquire).
        let mut then = None;
        while !self.stop.load(Ordering::SeqCst) {
            if let Some(i) = self.interval {
                let now = tokio::time::Instant::now();
                if next > now {
                    tokio::time::sleep((next - now).min(Duration::from_millis(100))).await;
                    continue;
                }
                next += i.mul_f64(0.5 + rng.unit());
                // Don't build a backlog after a stall: a closed loop at most.
                next = next.max(now);
            }
            let op = match then.take() {
                Some(op) => {
                    // The holder's critical section, before its release.
                    tokio::time::sleep(self.hold).await;
                    op
                }
                None => self.generator.next(&mut rng),
            };
            let inv = self
                .recorder
                .invoke(seat.process, op.f(), op.key(), op.value(), None);
            let mut c = self.endpoints.perform(op.primitive(), seat.home).await;
            if let workload::Op::Seed(seed) = &op {
                c = seed.complete(c);
                then = seed.then(&c);
            }
            self.recorder.complete(&inv, &c);
            seat.after(&c);
        }
    }
}

/// Waits `quiet`, then until every raftkv node reports the same applied index twice in a row
/// (at most ten more seconds). True if they converged. Other systems have no applied index to
/// compare: after the quiet spell they get up to ten seconds to have a leader, when the target
/// says how to ask.
pub(super) fn recover(sup: &Supervisor, quiet: Duration) -> bool {
    std::thread::sleep(quiet);
    let patience = Duration::from_secs(10);
    if sup.nodes.statuses().is_none() {
        return sup.wait_ready(patience).is_ok();
    }
    let deadline = Instant::now() + patience;
    let mut last = None;
    while Instant::now() < deadline && !signals::interrupted() {
        let Some(statuses) = sup.nodes.statuses() else {
            return false;
        };
        let applied: Vec<Option<u64>> = statuses
            .iter()
            .map(|s| s.as_ref().and_then(|s| s["applied_index"].as_u64()))
            .collect();
        let agreed = applied.iter().all(|a| a.is_some() && *a == applied[0]);
        if agreed && last.as_ref() == Some(&applied) {
            return true;
        }
        last = Some(applied);
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// The process that reads node `i`'s own copies at the end: fresh ids, clear of any the
/// `workers` clients used.
pub(crate) fn final_read_process(workers: u64, i: usize) -> u64 {
    1_000_000_000 + workers * 1000 + i as u64
}

/// Reads every key from every node's own state, recorded with `phase: final` — as a read, or
/// for a transactional workload as a transaction of one read (`[["r", k, v]]`, with the value's
/// version where a register has one).
pub(super) async fn final_reads(
    recorder: &Recorder,
    keys: &[String],
    endpoints: &dyn driver::Driver,
    workers: u64,
    transactional: bool,
) {
    for i in 0..endpoints.len() {
        let process = final_read_process(workers, i);
        for key in keys {
            let inv = match transactional {
                true => recorder.invoke(
                    process,
                    "txn",
                    None,
                    json!([["r", key, null]]),
                    Some("final"),
                ),
                false => recorder.invoke(process, "read", Some(key), Value::Null, Some("final")),
            };
            let mut c = endpoints.read_local(key, i).await;
            if transactional && c.outcome == checker::Outcome::Ok {
                c.value = match (&c.value, c.version) {
                    (v, Some(version)) if !v.is_array() && !v.is_null() => {
                        json!([["r", key, v, version]])
                    }
                    (v, _) => json!([["r", key, v]]),
                };
            }
            recorder.complete(&inv, &c);
        }
    }
}

/// The progress line on stderr, once a second: elapsed, throughput, outcomes, the fault in force.
pub(super) fn progress(
    recorder: &Recorder,
    fault: &Mutex<String>,
    stop: &AtomicBool,
    limit: Duration,
) {
    let mut status = crate::progress::StatusLine::new();
    let started = Instant::now();
    let (mut last_count, mut last_at) = (0, Instant::now());
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(250));
        if last_at.elapsed() < Duration::from_secs(1) {
            continue;
        }
        let s = &recorder.stats;
        let count = s.completed();
        let rate = (count - last_count) as f64 / last_at.elapsed().as_secs_f64();
        (last_count, last_at) = (count, Instant::now());
        status.show(&format!(
            "[{:>5.1}/{:.0} s] {count} ops, {rate:.0} ops/s · ok {} fail {} info {} · fault: {}",
            started.elapsed().as_secs_f64(),
            limit.as_secs_f64(),
            s.ok.load(Ordering::Relaxed),
            s.fail.load(Ordering::Relaxed),
            s.info.load(Ordering::Relaxed),
            fault.lock().expect("fault lock"),
        ));
    }
    status.clear();
}

#[cfg(test)]
mod seat_tests {
    use super::*;

    #[test]
    fn every_node_gets_sticky_clients_whatever_the_count() {
        for nodes in 1..=7usize {
            let workers = 2 * nodes as u64;
            for node in 0..nodes {
                let here: Vec<u64> = (0..workers)
                    .filter(|w| *w as usize % nodes == node)
                    .collect();
                let stay = here
                    .iter()
                    .filter(|&&w| sticky(w, nodes, false, false))
                    .count();
                assert_eq!(stay, 1, "{nodes} nodes: node {node} has {here:?}");
            }
        }
        assert!(sticky(3, 2, true, false));
        assert!(!sticky(0, 2, false, true));
    }
}
