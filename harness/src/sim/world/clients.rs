//! The simulated clients: each takes the next operation, sends it to its node, follows
//! redirects, concludes the answer by the real client's rules ([`Endpoints::conclude`]), records
//! it, and at the end reads every node's own copy.

use super::*;

impl World<'_> {
    pub(super) fn next_op(&mut self, c: usize) {
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
    pub(super) fn send_request(&mut self, c: usize) {
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

    pub(super) fn arrive(&mut self, i: usize, asker: Asker, req: Request) {
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

    pub(super) fn reply(&mut self, asker: Asker, reply: Result<Reply, ClientError>) {
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

    pub(super) fn timeout(&mut self, c: usize, op: u64) {
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

    pub(super) fn complete(&mut self, c: usize, mut done: Completion) {
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

    pub(super) fn final_reads(&mut self) {
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
    pub(super) fn seed_final_reads(&mut self) {
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
    pub(super) fn read_own_copy(&self, i: usize, key: &str) -> Option<Completion> {
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
    pub(super) fn healed(&mut self) {
        self.healed_at = Some(self.now);
        self.wrote_after_heal = None;
    }

    /// How long after the last heal a write first succeeded, if it did within the bound.
    pub(super) fn recovered_after(&self) -> Option<Duration> {
        let after = self.wrote_after_heal? - self.healed_at?;
        Some(Duration::from_micros(after)).filter(|d| *d <= self.spec.liveness)
    }
}
