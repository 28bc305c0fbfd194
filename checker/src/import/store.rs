//! Run directories: where a Jepsen or faultline run keeps its history, and what Jepsen itself
//! concluded.
//!
//! A Jepsen run directory (`store/<test>/<timestamp>/`) holds `history.edn`, usually
//! `history.txt` and `jepsen.log` too, and `results.edn` with Jepsen's verdict. A faultline run
//! directory holds `history.jsonl`. [`find`] turns any path a user names — a file, a run
//! directory, or a whole store of runs — into the histories to check, and [`jepsen_verdict`]
//! reads `results.edn` so the two tools' verdicts can be put side by side.

use super::Format;
use crate::history::HistoryError;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The files that hold a run's history, best first.
pub const HISTORY_FILES: [(&str, Format); 4] = [
    ("history.jsonl", Format::Jsonl),
    ("history.edn", Format::JepsenEdn),
    ("history.txt", Format::JepsenText),
    ("jepsen.log", Format::JepsenLog),
];

/// One history to check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    pub history: PathBuf,
    /// The format its name implies (`Auto` for a file named by the user).
    pub format: Format,
    /// Jepsen's `results.edn` beside it, if there is one.
    pub results: Option<PathBuf>,
}

/// The history a run directory stands for, if it is one.
pub fn run_history(dir: &Path) -> Option<Found> {
    HISTORY_FILES.iter().find_map(|(name, format)| {
        let history = dir.join(name);
        history.is_file().then(|| Found {
            history,
            format: *format,
            results: Some(dir.join("results.edn")).filter(|r| r.is_file()),
        })
    })
}

/// The histories `path` stands for: a file is itself; a run directory its history; any other
/// directory every run directory below it, in name order. Symbolic links to directories are not
/// followed (Jepsen's `latest` links point at runs already listed).
pub fn find(path: &Path) -> Result<Vec<Found>, String> {
    find_all(path).map(|(found, _)| found)
}

/// [`find`], and the run directories below `path` that hold Jepsen's `results.edn` but no
/// history faultline reads, each with why it was skipped.
pub fn find_all(path: &Path) -> Result<(Vec<Found>, Vec<String>), String> {
    if !path.exists() {
        return Err(format!("{}: no such file or directory", path.display()));
    }
    if !path.is_dir() {
        let file = Found {
            history: path.to_path_buf(),
            format: Format::Auto,
            results: None,
        };
        return Ok((vec![file], Vec::new()));
    }
    let mut found = Vec::new();
    let mut skipped = Vec::new();
    walk(path, 0, &mut found, &mut skipped).map_err(|e| format!("{}: {e}", path.display()))?;
    if found.is_empty() && !skipped.is_empty() {
        return Err(format!(
            "{}: no history here or below; skipped: {}",
            path.display(),
            skipped.join("; ")
        ));
    }
    if found.is_empty() {
        let names: Vec<&str> = HISTORY_FILES.iter().map(|(n, _)| *n).collect();
        return Err(format!(
            "{}: no history here or below (looked for {})",
            path.display(),
            names.join(", ")
        ));
    }
    Ok((found, skipped))
}

/// Directory depth bound: a store is `<store>/<test>/<run>`; deeper trees are searched a little
/// further, but a loop of mounts is not.
const MAX_DEPTH: usize = 8;

fn walk(
    dir: &Path,
    depth: usize,
    found: &mut Vec<Found>,
    skipped: &mut Vec<String>,
) -> std::io::Result<()> {
    if let Some(f) = run_history(dir) {
        found.push(f);
        return Ok(());
    }
    if dir.join("results.edn").is_file() {
        let names: Vec<&str> = HISTORY_FILES.iter().map(|(n, _)| *n).collect();
        skipped.push(format!(
            "{} has a results.edn but no history ({})",
            dir.display(),
            names.join(", ")
        ));
        return Ok(());
    }
    if depth >= MAX_DEPTH {
        return Ok(());
    }
    let mut subdirs = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        if entry.file_type()?.is_dir() {
            subdirs.push(entry.path());
        }
    }
    subdirs.sort();
    for sub in subdirs {
        walk(&sub, depth + 1, found, skipped)?;
    }
    Ok(())
}

/// Jepsen's own verdict, from `results.edn`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct JepsenVerdict {
    /// `:valid?` — `Some(true)`, `Some(false)`, or `None` for `:unknown`.
    pub valid: Option<bool>,
    /// The checkers (top-level keys) whose own `:valid?` is not true.
    pub failing: Vec<String>,
}

impl std::fmt::Display for JepsenVerdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let valid = match self.valid {
            Some(true) => "true",
            Some(false) => "false",
            None => "unknown",
        };
        write!(f, "Jepsen: valid? {valid}")?;
        if !self.failing.is_empty() {
            write!(f, " ({})", self.failing.join(", "))?;
        }
        Ok(())
    }
}

fn validity(v: &Value) -> Option<Option<bool>> {
    match v.get("valid?")? {
        Value::Bool(b) => Some(Some(*b)),
        _ => Some(None),
    }
}

/// Reads Jepsen's `results.edn`.
pub fn jepsen_verdict(results: &Path) -> Result<JepsenVerdict, HistoryError> {
    let doc = super::read_edn_file(results)?;
    let name = results.display().to_string();
    let Some(valid) = validity(&doc) else {
        return Err(HistoryError::new(
            &name,
            1,
            "results.edn has no :valid? (is this Jepsen's results file?)",
        ));
    };
    let mut failing: Vec<String> = doc
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| validity(v).is_some_and(|ok| ok != Some(true)))
        .map(|(k, _)| k.clone())
        .collect();
    failing.sort();
    Ok(JepsenVerdict { valid, failing })
}
