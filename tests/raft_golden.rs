//! Golden scenarios for raftkv's Raft core (`targets/src/raftkv/node.rs`), one per rule its
//! essay names: readable scripts of ticks, messages, proposals, partitions and crashes, each with
//! the output the core must give, in `tests/golden/raft/*.txt`.
//!
//! A script is commands (`> deliver`) each followed by what it printed; `#` lines are comments.
//! The test runs every script and compares the whole text. After a deliberate change to the
//! core, `UPDATE_GOLDEN=1 cargo test -p faultline-targets --test raft_golden` rewrites the files;
//! the diff is then the review.
//!
//! Commands: `cluster N [KNOB…] [batch=B]` (nodes n1…nN; knobs `no-election-restriction`,
//! `commit-old-term`, `membership-without-noop`, `no-election-noop`; at most B entries per
//! AppendEntries), `tick ID [N]`, `campaign ID` (tick until it stands for election),
//! `heartbeat ID`, `deliver` (every message in flight, once; what they cause waits for the next
//! `deliver`), `stabilize` (deliver until nothing is in flight), `propose ID put KEY VALUE`,
//! `read ID RID` (ReadIndex), `lease ID RID`, `cut A B…` (A hears none of B… and they not A),
//! `heal`, `join ID` (a new node, a learner of the cluster), `add|promote|remove LEADER ID` (a
//! change of configuration proposed on LEADER), `crash ID` (gone with what it had not persisted — nothing, as every Ready is made
//! durable at once here), `restart ID`, `compact ID INDEX`, `status`, `log ID`.

use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;
use targets::raftkv::kv::Kv;
use targets::raftkv::log::{Command, Entry, Log};
use targets::raftkv::node::{Change, Config, Envelope, Message, Node, NodeId, Ready, Role, Unsafe};
use targets::raftkv::storage::MemoryDisk;

struct Cluster {
    size: u64,
    unsafe_: Unsafe,
    /// Most entries per AppendEntries.
    batch: usize,
    nodes: BTreeMap<NodeId, Node>,
    kvs: BTreeMap<NodeId, Kv>,
    disks: BTreeMap<NodeId, MemoryDisk>,
    in_flight: Vec<Envelope>,
    /// (from, to) pairs whose messages are dropped.
    cut: BTreeSet<(NodeId, NodeId)>,
    now_ms: u64,
}

impl Cluster {
    fn new(size: u64, unsafe_: Unsafe, batch: usize) -> Cluster {
        let mut c = Cluster {
            size,
            unsafe_,
            batch,
            nodes: BTreeMap::new(),
            kvs: BTreeMap::new(),
            disks: BTreeMap::new(),
            in_flight: Vec::new(),
            cut: BTreeSet::new(),
            now_ms: 0,
        };
        for id in 1..=size {
            c.start(id);
        }
        c
    }

    fn start(&mut self, id: NodeId) {
        self.boot(id, (1..=self.size).collect(), Vec::new());
    }

    /// Starts node `id` with these voters and learners, unless its disk says otherwise.
    fn boot(&mut self, id: NodeId, voters: Vec<NodeId>, learners: Vec<NodeId>) {
        let disk = self.disks.entry(id).or_default().clone();
        let mut cfg = Config::new(id, voters);
        cfg.learners = learners;
        cfg.unsafe_ = self.unsafe_;
        cfg.max_batch = self.batch;
        cfg.assert_safety = self.unsafe_ == Unsafe::default();
        let (log, data) = (disk.log(), disk.state_machine());
        let kv = Kv::restore(&data).unwrap();
        // A snapshot carries the configuration it was taken under.
        let cfg = cfg.restarting_with(kv.members());
        self.nodes
            .insert(id, Node::new(cfg, disk.term, disk.vote, log, Some(data)));
        self.kvs.insert(id, kv);
    }

    fn node(&mut self, id: NodeId) -> Result<&mut Node, String> {
        self.nodes
            .get_mut(&id)
            .ok_or_else(|| format!("n{id} is down"))
    }

    /// Makes `id`'s Ready durable, applies it, queues its messages, and says what happened.
    fn drain(&mut self, id: NodeId, out: &mut String) {
        let now = self.now_ms;
        let Some(node) = self.nodes.get_mut(&id) else {
            return;
        };
        node.flush(now);
        let ready = node.take_ready();
        let disk = self.disks.entry(id).or_default();
        let kv = self
            .kvs
            .get_mut(&id)
            .expect("a running node has a state machine");
        say_ready(id, &ready, out);
        disk.persist(&ready);
        if let Some(s) = &ready.snapshot {
            *kv = Kv::restore(&s.data).unwrap();
        }
        for e in &ready.apply {
            kv.apply(e);
        }
        self.in_flight.extend(ready.messages);
    }

    fn deliver(&mut self, out: &mut String) {
        for env in std::mem::take(&mut self.in_flight) {
            let (from, to) = (env.from, env.to);
            let line = format!("n{from} → n{to} {}", message(&env.msg));
            if self.cut.contains(&(from, to)) {
                let _ = writeln!(out, "{line}  (dropped: cut)");
                continue;
            }
            let Some(node) = self.nodes.get_mut(&to) else {
                let _ = writeln!(out, "{line}  (dropped: n{to} is down)");
                continue;
            };
            let _ = writeln!(out, "{line}");
            let before = (node.role(), node.term());
            node.step(from, env.msg);
            self.changes(to, before, out);
            self.drain(to, out);
        }
    }

    /// Says a node's change of role or term.
    fn changes(&mut self, id: NodeId, before: (Role, u64), out: &mut String) {
        let n = &self.nodes[&id];
        if (n.role(), n.term()) != before {
            let _ = writeln!(out, "  n{id} is {} in term {}", role(n.role()), n.term());
        }
    }

    fn status(&self, out: &mut String) {
        let last = self.nodes.keys().chain(self.disks.keys()).max().copied();
        for id in 1..=last.unwrap_or(self.size) {
            let Some(n) = self.nodes.get(&id) else {
                let _ = writeln!(out, "n{id} down");
                continue;
            };
            let log = n.log();
            let names = |ids: &BTreeSet<NodeId>| {
                ids.iter()
                    .map(|i| format!("n{i}"))
                    .collect::<Vec<_>>()
                    .join(",")
            };
            let m = n.members();
            let learners = if m.learners.is_empty() {
                String::new()
            } else {
                format!(" learners {}", names(&m.learners))
            };
            let _ = writeln!(
                out,
                "n{id} {} term {} leader {} commit {} applied {} log {} voters {}{learners}",
                role(n.role()),
                n.term(),
                n.leader().map_or("-".into(), |l| format!("n{l}")),
                n.commit_index(),
                self.kvs[&id].applied(),
                entries(log, log.snapshot_index() + 1),
                names(&m.voters),
            );
        }
    }

    fn run(&mut self, words: &[&str], out: &mut String) -> Result<(), String> {
        let id = |i: usize| -> Result<NodeId, String> {
            words
                .get(i)
                .and_then(|w| w.trim_start_matches('n').parse().ok())
                .ok_or_else(|| format!("{:?}: which node?", words.join(" ")))
        };
        let num = |i: usize| -> Result<u64, String> {
            words
                .get(i)
                .and_then(|w| w.parse().ok())
                .ok_or_else(|| format!("{:?}: a number at word {}", words.join(" "), i + 1))
        };
        match words[0] {
            "tick" => {
                let (id, times) = (id(1)?, if words.len() > 2 { num(2)? } else { 1 });
                for _ in 0..times {
                    self.tick(id, out)?;
                }
            }
            "campaign" => {
                let id = id(1)?;
                for ticks in 1..=1000 {
                    self.tick(id, out)?;
                    if self.node(id)?.role() != Role::Follower {
                        let _ = writeln!(out, "  (after {ticks} ticks)");
                        return Ok(());
                    }
                }
                return Err(format!("n{id} never stood for election"));
            }
            "heartbeat" => {
                let id = id(1)?;
                for _ in 0..Config::new(1, vec![1]).heartbeat_ticks {
                    self.tick(id, out)?;
                }
            }
            "deliver" => self.deliver(out),
            "stabilize" => {
                for _ in 0..100 {
                    if self.in_flight.is_empty() {
                        return Ok(());
                    }
                    self.deliver(out);
                }
                return Err("still messages in flight after 100 rounds".into());
            }
            "propose" => {
                let id = id(1)?;
                let (key, value) = match words {
                    [_, _, "put", k, v] => (
                        k.to_string(),
                        json!(v.parse::<u64>().map_err(|e| e.to_string())?),
                    ),
                    _ => return Err("propose ID put KEY VALUE".into()),
                };
                match self.node(id)?.propose(Command::Put { key, value }) {
                    Ok((index, term)) => {
                        let _ = writeln!(out, "n{id} appends it at {index}@{term}");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "n{id} refuses: {e:?}");
                    }
                }
                self.drain(id, out);
            }
            "read" | "lease" => {
                let (id, rid) = (id(1)?, num(2)?);
                let now = self.now_ms;
                let node = self.node(id)?;
                let r = if words[0] == "read" {
                    node.read_index(rid)
                } else {
                    node.lease_read(rid, now)
                };
                match r {
                    Ok(()) => {
                        let _ = writeln!(out, "n{id} takes read {rid}");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "n{id} refuses read {rid}: {e:?}");
                    }
                }
                self.drain(id, out);
            }
            "cut" => {
                let a = id(1)?;
                for i in 2..words.len() {
                    let b = id(i)?;
                    self.cut.insert((a, b));
                    self.cut.insert((b, a));
                }
            }
            "heal" => self.cut.clear(),
            "join" => {
                // A new node: it knows the voters it joins, and is a learner among them.
                let id = id(1)?;
                let voters: Vec<NodeId> = (1..=self.size).collect();
                self.boot(id, voters, vec![id]);
                let _ = writeln!(out, "n{id} starts as a learner of n1…n{}", self.size);
            }
            "add" | "promote" | "remove" => {
                let (leader, who) = (id(1)?, id(2)?);
                let change = match words[0] {
                    "add" => Change::AddLearner(who),
                    "promote" => Change::Promote(who),
                    _ => Change::Remove(who),
                };
                match self.node(leader)?.propose_change(change) {
                    Ok(index) => {
                        let _ = writeln!(out, "n{leader} appends the change at {index}");
                    }
                    Err(e) => {
                        let _ = writeln!(out, "n{leader} refuses: {e}");
                    }
                }
                self.drain(leader, out);
            }
            "crash" => {
                let id = id(1)?;
                self.nodes.remove(&id);
                self.kvs.remove(&id);
            }
            "restart" => {
                let id = id(1)?;
                self.start(id);
                let n = &self.nodes[&id];
                let _ = writeln!(
                    out,
                    "n{id} restarts: term {}, vote {}, log {}",
                    n.term(),
                    self.disks[&id].vote.map_or("-".into(), |v| format!("n{v}")),
                    entries(n.log(), n.log().snapshot_index() + 1)
                );
            }
            "compact" => {
                let (id, index) = (id(1)?, num(2)?);
                let data = self.kvs[&id].snapshot();
                let node = self.node(id)?;
                let done = node.compact(index, data.clone());
                let term = node.log().snapshot_term();
                let _ = writeln!(out, "n{id} compacts through {index}@{term}: {done}");
                self.disks.entry(id).or_default().snapshot = Some((index, term, data));
                self.disks
                    .entry(id)
                    .or_default()
                    .entries
                    .retain(|e| e.index > index);
            }
            "status" => self.status(out),
            "log" => {
                let id = id(1)?;
                let log = self.node(id)?.log();
                let _ = writeln!(
                    out,
                    "n{id} snapshot {}@{}, entries {}",
                    log.snapshot_index(),
                    log.snapshot_term(),
                    entries(log, log.snapshot_index() + 1)
                );
            }
            other => return Err(format!("unknown command {other:?}")),
        }
        Ok(())
    }

    fn tick(&mut self, id: NodeId, out: &mut String) -> Result<(), String> {
        self.now_ms += 10;
        let now = self.now_ms;
        let node = self.node(id)?;
        let before = (node.role(), node.term());
        node.tick(now);
        self.changes(id, before, out);
        self.drain(id, out);
        Ok(())
    }
}

fn say_ready(id: NodeId, r: &Ready, out: &mut String) {
    if let Some((t, v)) = r.hard_state {
        let vote = v.map_or("none".into(), |v| format!("n{v}"));
        let _ = writeln!(out, "  n{id} persists term {t}, vote {vote}");
    }
    if let Some(i) = r.truncate_from {
        let _ = writeln!(out, "  n{id} truncates its log from {i}");
    }
    if !r.append.is_empty() {
        let list: Vec<String> = r.append.iter().map(entry).collect();
        let _ = writeln!(out, "  n{id} appends {}", list.join(", "));
    }
    if let Some(s) = &r.snapshot {
        let _ = writeln!(
            out,
            "  n{id} installs a snapshot through {}@{}",
            s.last_index, s.last_term
        );
    }
    if !r.apply.is_empty() {
        let list: Vec<String> = r.apply.iter().map(entry).collect();
        let _ = writeln!(out, "  n{id} applies {}", list.join(", "));
    }
    for (rid, index) in &r.reads {
        let _ = writeln!(
            out,
            "  n{id} may serve read {rid} once it has applied {index}"
        );
    }
    for rid in &r.failed_reads {
        let _ = writeln!(out, "  n{id} gives up read {rid}");
    }
    for b in &r.broken {
        let _ = writeln!(out, "  n{id} carries on past a broken rule: {b}");
    }
}

fn role(r: Role) -> &'static str {
    match r {
        Role::Follower => "follower",
        Role::Candidate => "candidate",
        Role::Leader => "leader",
    }
}

/// `3@2 put x=1`.
fn entry(e: &Entry) -> String {
    match &e.command {
        Command::Noop => format!("{}@{} noop", e.index, e.term),
        Command::Put { key, value } => format!("{}@{} put {key}={value}", e.index, e.term),
        Command::Cas { key, from, to } => format!("{}@{} cas {key} {from}→{to}", e.index, e.term),
        Command::Txn { ops } => format!("{}@{} txn of {} micro-ops", e.index, e.term, ops.len()),
        Command::TxnCommit { writes, .. } => {
            format!("{}@{} commit of {} writes", e.index, e.term, writes.len())
        }
        Command::Config(m) => {
            let ids = |s: &BTreeSet<NodeId>| s.iter().map(|i| format!("n{i}")).collect::<Vec<_>>();
            let mut said = format!(
                "{}@{} config voters {}",
                e.index,
                e.term,
                ids(&m.voters).join(",")
            );
            if !m.learners.is_empty() {
                said += &format!(" learners {}", ids(&m.learners).join(","));
            }
            said
        }
    }
}

/// The log from `from` on, as `1@1 2@1 3@2`, or `(empty)`.
fn entries(log: &Log, from: u64) -> String {
    let list: Vec<String> = (from..=log.last_index())
        .filter_map(|i| log.get(i))
        .map(|e| format!("{}@{}", e.index, e.term))
        .collect();
    if list.is_empty() {
        "(empty)".into()
    } else {
        list.join(" ")
    }
}

fn message(m: &Message) -> String {
    match m {
        Message::RequestVote {
            term,
            last_log_index,
            last_log_term,
        } => format!("RequestVote term {term}, last {last_log_index}@{last_log_term}"),
        Message::Vote { term, granted } => {
            format!(
                "Vote term {term}, {}",
                if *granted { "granted" } else { "refused" }
            )
        }
        Message::AppendEntries {
            term,
            prev_index,
            prev_term,
            entries,
            commit,
            ..
        } => {
            let list: Vec<String> = entries.iter().map(entry).collect();
            format!(
                "AppendEntries term {term}, prev {prev_index}@{prev_term}, [{}], commit {commit}",
                list.join(", ")
            )
        }
        Message::AppendReply {
            term,
            success,
            match_index,
            conflict_index,
            conflict_term,
            ..
        } => {
            if *success {
                format!("AppendReply term {term}, ok through {match_index}")
            } else {
                let t = conflict_term.map_or(String::new(), |t| format!(" (its term {t} there)"));
                format!("AppendReply term {term}, refused: look from {conflict_index}{t}")
            }
        }
        Message::InstallSnapshot {
            term,
            last_index,
            last_term,
            ..
        } => format!("InstallSnapshot term {term}, through {last_index}@{last_term}"),
    }
}

/// Runs a script; the script's own text with every command's output in place.
fn run_script(text: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut cluster: Option<Cluster> = None;
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(command) = line.strip_prefix("> ") else {
            if line.starts_with('#') || line.trim().is_empty() {
                out.push_str(line);
                out.push('\n');
            }
            continue; // an old output line: replaced by the new one
        };
        out.push_str(line);
        out.push('\n');
        // Skip the previous output, up to the next command or comment.
        while lines
            .peek()
            .is_some_and(|l| !l.starts_with("> ") && !l.starts_with('#') && !l.trim().is_empty())
        {
            lines.next();
        }
        let words: Vec<&str> = command.split_whitespace().collect();
        if words.first() == Some(&"cluster") {
            let size = words
                .get(1)
                .and_then(|w| w.parse().ok())
                .ok_or("cluster N")?;
            let (mut unsafe_, mut batch) = (Unsafe::default(), Config::new(1, vec![1]).max_batch);
            for knob in &words[2..] {
                match *knob {
                    "no-election-restriction" => unsafe_.no_election_restriction = true,
                    "commit-old-term" => unsafe_.commit_old_term = true,
                    "membership-without-noop" => unsafe_.membership_without_noop = true,
                    "no-election-noop" => unsafe_.no_election_noop = true,
                    other => match other.strip_prefix("batch=").and_then(|b| b.parse().ok()) {
                        Some(b) => batch = b,
                        None => return Err(format!("unknown option {other}")),
                    },
                }
            }
            cluster = Some(Cluster::new(size, unsafe_, batch));
            continue;
        }
        let c = cluster.as_mut().ok_or("a script starts with `cluster N`")?;
        c.run(&words, &mut out)
            .map_err(|e| format!("{command}: {e}"))?;
    }
    Ok(out)
}

#[test]
fn every_golden_scenario_gives_its_recorded_output() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/golden/raft");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "txt"))
        .collect();
    files.sort();
    assert!(files.len() >= 8, "a scenario per rule: {files:?}");
    let mut differ = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).unwrap();
        let got = run_script(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        if got != text {
            if update {
                std::fs::write(&path, &got).unwrap();
            } else {
                differ.push(format!("{}:\n{got}", path.display()));
            }
        }
    }
    assert!(
        differ.is_empty(),
        "scenarios whose output changed (UPDATE_GOLDEN=1 to accept):\n{}",
        differ.join("\n")
    );
}
