//! The simulated nodes: each the real raftkv [`Service`] driven by simulated time — booted,
//! ticked, crashed, its messages flushed to disk and sent through the simulated network, its
//! requests processed and answered.

use super::*;

impl World<'_> {
    pub(super) fn boot(&mut self, i: usize) {
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
    pub(super) fn died(&mut self, node: Option<usize>, why: &str) {
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
    pub(super) fn crash(&mut self, i: usize) {
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

    pub(super) fn reset(&mut self, node: usize, asker: Asker) {
        let addr = self.addrs[&(node as NodeId + 1)].clone();
        let reply = Err(ClientError::Unanswered(
            addr,
            "connection reset by peer".into(),
        ));
        let latency = self.client_latency();
        self.after(latency, Ev::Reply { asker, reply });
    }

    pub(super) fn tick(&mut self, i: usize, timer: u64) {
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

    pub(super) fn flush(&mut self, i: usize, life: u64) {
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

    pub(super) fn deliver(&mut self, env: Envelope) {
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
    pub(super) fn process(&mut self, i: usize) {
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
    pub(super) fn send(&mut self, env: Envelope) {
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
    pub(super) fn answer(&mut self, answers: Vec<(Asker, Answer)>) {
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

    pub(super) fn client_latency(&mut self) -> u64 {
        100 + self.rng.below(400)
    }
}
