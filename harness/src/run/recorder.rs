//! The history, streamed to disk as it happens: every event is one JSON line written with one
//! `write` call the moment it is known, so a harness that crashes loses nothing it recorded.
//! Indices and times are assigned under the same lock as the write, so the file is in time order.
//! Times are nanoseconds since the run started, taken *before* a request is sent (invocations)
//! and *after* its answer arrived (completions), so every real interval lies within the recorded
//! one.

use super::driver::Completion;
use checker::Outcome;
use serde_json::{json, Map, Value};
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Live counts for the progress line. The summary's figures come from the history itself.
#[derive(Default)]
pub struct Stats {
    pub ok: AtomicU64,
    pub fail: AtomicU64,
    pub info: AtomicU64,
}

impl Stats {
    pub fn completed(&self) -> u64 {
        self.ok.load(Ordering::Relaxed)
            + self.fail.load(Ordering::Relaxed)
            + self.info.load(Ordering::Relaxed)
    }
}

/// An operation in flight, as its invocation was recorded.
pub struct Invocation {
    pub process: u64,
    pub f: &'static str,
    /// None for a transaction (its micro-ops name their keys).
    pub key: Option<String>,
    pub value: Value,
    pub phase: Option<&'static str>,
}

pub struct Recorder {
    sink: Mutex<(Sink, u64)>,
    clock: Clock,
    pub stats: Stats,
}

/// Where the events go: a run's `history.jsonl`, or memory (a simulated run's).
enum Sink {
    File(File),
    Memory(Vec<u8>),
}

/// What an event's time is measured on.
enum Clock {
    /// Since the run started.
    Real(Instant),
    /// A simulation's time, in nanoseconds, as the simulator sets it.
    Simulated(Arc<AtomicU64>),
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder {
            sink: Mutex::new((Sink::File(File::create(path)?), 0)),
            clock: Clock::Real(Instant::now()),
            stats: Stats::default(),
        })
    }

    /// A history kept in memory, timed by a simulation's clock (nanoseconds in `now`).
    pub fn simulated(now: Arc<AtomicU64>) -> Recorder {
        Recorder {
            sink: Mutex::new((Sink::Memory(Vec::new()), 0)),
            clock: Clock::Simulated(now),
            stats: Stats::default(),
        }
    }

    /// The JSON lines recorded in memory so far (empty for a file).
    pub fn text(&self) -> String {
        match &self.sink.lock().expect("history lock").0 {
            Sink::Memory(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            Sink::File(_) => String::new(),
        }
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        match &self.clock {
            Clock::Real(started) => started.elapsed(),
            Clock::Simulated(now) => Duration::from_nanos(now.load(Ordering::Relaxed)),
        }
    }

    /// Writes one event, filling in `index` and `time`.
    fn write(&self, mut event: Map<String, Value>) {
        let mut guard = self.sink.lock().expect("history lock");
        let time = self.elapsed().as_nanos() as u64;
        let index = guard.1;
        guard.1 += 1;
        event.insert("index".into(), json!(index));
        event.insert("time".into(), json!(time));
        let mut text = serde_json::to_string(&event).expect("events serialize");
        text.push('\n');
        let written = match &mut guard.0 {
            Sink::File(f) => f.write_all(text.as_bytes()),
            Sink::Memory(bytes) => {
                bytes.extend_from_slice(text.as_bytes());
                Ok(())
            }
        };
        if let Err(e) = written {
            // A history that silently misses events would be judged wrongly: stop here.
            panic!("cannot write the history: {e}");
        }
    }

    /// Records an invocation.
    pub fn invoke(
        &self,
        process: u64,
        f: &'static str,
        key: Option<&str>,
        value: Value,
        phase: Option<&'static str>,
    ) -> Invocation {
        let mut e = Map::new();
        e.insert("process".into(), json!(process));
        e.insert("type".into(), json!("invoke"));
        e.insert("f".into(), json!(f));
        if let Some(k) = key {
            e.insert("key".into(), json!(k));
        }
        e.insert("value".into(), value.clone());
        if let Some(p) = phase {
            e.insert("phase".into(), json!(p));
        }
        self.write(e);
        Invocation {
            process,
            f,
            key: key.map(str::to_string),
            value,
            phase,
        }
    }

    /// Records how `inv` ended.
    pub fn complete(&self, inv: &Invocation, c: &Completion) {
        let mut e = Map::new();
        e.insert("process".into(), json!(inv.process));
        e.insert("type".into(), json!(c.outcome));
        e.insert("f".into(), json!(inv.f));
        if let Some(k) = &inv.key {
            e.insert("key".into(), json!(k));
        }
        // A read's completion carries what it read (nil included); any other ok completion
        // what it returned (a transaction its completed micro-ops, a generate its id, a
        // dequeue its message) or, returning nothing, its argument, as writes, cas and
        // unfinished operations do.
        let value = match (inv.f, c.outcome) {
            ("read", _) => c.value.clone(),
            (_, checker::Outcome::Ok) if !c.value.is_null() => c.value.clone(),
            _ => inv.value.clone(),
        };
        e.insert("value".into(), value);
        if let Some(n) = &c.node {
            e.insert("node".into(), json!(n));
        }
        if let Some(v) = &c.via {
            e.insert("via".into(), json!(v));
        }
        if let Some(v) = c.version {
            e.insert("version".into(), json!(v));
        }
        if let Some(err) = &c.error {
            e.insert("error".into(), json!(err));
        }
        if let Some(p) = inv.phase {
            e.insert("phase".into(), json!(p));
        }
        self.write(e);
        let counter = match c.outcome {
            Outcome::Ok => &self.stats.ok,
            Outcome::Fail => &self.stats.fail,
            Outcome::Info => &self.stats.info,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Records a nemesis event (`invoke` before acting, `info` with what was done after).
    pub fn nemesis(&self, kind: &str, f: &str, value: Value, extra: Map<String, Value>) {
        let mut e = Map::new();
        e.insert("process".into(), json!("nemesis"));
        e.insert("type".into(), json!(kind));
        e.insert("f".into(), json!(f));
        e.insert("value".into(), value);
        e.extend(extra);
        self.write(e);
    }
}
