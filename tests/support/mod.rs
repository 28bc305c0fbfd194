//! What the end-to-end tests share: running the faultline binary, and scratch directories that
//! are removed when a test ends, whether it passes or fails.

// Each test binary uses its own part of this.
#![allow(dead_code)]

pub mod targets;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard};

static ONE_CLUSTER_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Held for the whole of every test that runs a cluster, so that two clusters never compete
/// for the machine's two cores (a failed test's poisoned lock is taken over, not fatal).
pub fn one_cluster_at_a_time() -> MutexGuard<'static, ()> {
    ONE_CLUSTER_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Runs the faultline binary under test to completion.
pub fn faultline(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_faultline"))
        .args(args)
        .output()
        .expect("faultline runs")
}

/// A fresh directory under the system's temp directory (tempfile's), removed when dropped.
pub struct Scratch(pub PathBuf, tempfile::TempDir);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("faultline-test-{name}-"))
            .tempdir()
            .expect("a temp directory");
        Scratch(dir.path().to_path_buf(), dir)
    }

    /// Writes `text` to `name` inside; returns its path.
    pub fn file(&self, name: &str, text: &str) -> String {
        let p = self.0.join(name);
        if let Some(dir) = p.parent() {
            std::fs::create_dir_all(dir).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p.to_string_lossy().into_owned()
    }

    pub fn path(&self) -> &str {
        self.0.to_str().expect("a UTF-8 temp path")
    }
}

/// A store for runs: when dropped, `faultline heal` goes over it (so no node process or
/// namespace outlives a test, pass or fail) and then its directory is removed.
pub struct Store(Scratch);

impl Store {
    pub fn new(name: &str) -> Store {
        Store(Scratch::new(&format!("store-{name}")))
    }

    pub fn path(&self) -> &str {
        self.0.path()
    }
}

impl std::ops::Deref for Store {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0 .0
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = faultline(&["heal", "--store", self.path()]);
    }
}
