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
use std::sync::Mutex;
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
    pub key: String,
    pub value: Value,
    pub phase: Option<&'static str>,
}

pub struct Recorder {
    file: Mutex<(File, u64)>,
    started: Instant,
    pub stats: Stats,
}

impl Recorder {
    pub fn create(path: &Path) -> std::io::Result<Recorder> {
        Ok(Recorder {
            file: Mutex::new((File::create(path)?, 0)),
            started: Instant::now(),
            stats: Stats::default(),
        })
    }

    /// Time since the run started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Writes one event, filling in `index` and `time`.
    fn write(&self, mut event: Map<String, Value>) {
        let mut guard = self.file.lock().expect("history lock");
        let time = self.started.elapsed().as_nanos() as u64;
        let index = guard.1;
        guard.1 += 1;
        event.insert("index".into(), json!(index));
        event.insert("time".into(), json!(time));
        let mut text = serde_json::to_string(&event).expect("events serialize");
        text.push('\n');
        if let Err(e) = guard.0.write_all(text.as_bytes()) {
            // A history that silently misses events would be judged wrongly: stop here.
            panic!("cannot write the history: {e}");
        }
    }

    /// Records an invocation.
    pub fn invoke(
        &self,
        process: u64,
        f: &'static str,
        key: &str,
        value: Value,
        phase: Option<&'static str>,
    ) -> Invocation {
        let mut e = Map::new();
        e.insert("process".into(), json!(process));
        e.insert("type".into(), json!("invoke"));
        e.insert("f".into(), json!(f));
        e.insert("key".into(), json!(key));
        e.insert("value".into(), value.clone());
        if let Some(p) = phase {
            e.insert("phase".into(), json!(p));
        }
        self.write(e);
        Invocation {
            process,
            f,
            key: key.to_string(),
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
        e.insert("key".into(), json!(inv.key));
        // A read's completion carries what it read; writes and cas repeat their argument.
        let value = if inv.f == "read" {
            c.value.clone()
        } else {
            inv.value.clone()
        };
        e.insert("value".into(), value);
        if let Some(n) = &c.node {
            e.insert("node".into(), json!(n));
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
