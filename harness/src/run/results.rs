//! What a run found: `results.json`, the summary that `--json` prints and the report, `serve`
//! and `sweep` read back.
//!
//! Stores written by older versions still read: every field may be missing and takes its
//! default (a missing verdict reads as unknown, never as holds).

use checker::consistency::{Level, Standing};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

#[derive(Debug, Serialize, Deserialize)]
pub struct RunResults {
    #[serde(default)]
    pub run_dir: String,
    #[serde(default)]
    pub seed: u64,
    /// Ctrl-C or SIGTERM ended the main phase early.
    #[serde(default)]
    pub interrupted: bool,
    /// The model whose verdict is the exit code.
    #[serde(default = "linearizable")]
    pub require: Level,
    #[serde(default = "unknown")]
    pub verdict: Standing,
    #[serde(default)]
    pub strongest: Vec<Level>,
    /// For a transactional workload: the isolation level required, its verdict, the strongest
    /// levels that hold, and the checker's whole report (`ladder` is then null).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<serde_json::Value>,
    /// For a seed workload (bank, set, counter, unique ids): its checker's judgement — the
    /// verdict, each violation in words with its operations, the notes and the counts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<serde_json::Value>,
    #[serde(default)]
    pub main_phase_s: f64,
    /// Outcome counts, throughput and latency of the main phase's client operations.
    #[serde(default)]
    pub main_phase: MainPhase,
    /// Stretches in which nothing succeeded, on the cluster or a node.
    #[serde(default)]
    pub outages: Vec<Outage>,
    #[serde(default)]
    pub final_reads: usize,
    /// Faults applied, by kind.
    #[serde(default)]
    pub faults: BTreeMap<String, u64>,
    #[serde(default)]
    pub nemesis_errors: Vec<String>,
    /// Fault kinds asked for and never applied, each with why (no round in the schedule, or
    /// every attempt failed). A run with any holds nothing: its verdict is at best unknown.
    #[serde(default)]
    pub unapplied: Vec<(String, String)>,
    /// Whether the nodes agreed after the recovery spell (none when interrupted).
    #[serde(default)]
    pub converged: Option<bool>,
    /// Whether the nodes' data directories were kept (`--keep-data`).
    #[serde(default)]
    pub data_kept: bool,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub report: String,
    /// Every model's verdict, the anomalies and their witnesses: the checker's own document
    /// (`faultline check --json` prints the same). Null in a store without one.
    #[serde(default)]
    pub ladder: Value,
}

fn linearizable() -> Level {
    Level::Linearizable
}

fn unknown() -> Standing {
    Standing::Unknown
}

/// The main phase's client operations in figures.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct MainPhase {
    pub ops: usize,
    pub ok: usize,
    pub fail: usize,
    pub info: usize,
    /// Operations per second over the main phase.
    pub throughput: f64,
    pub latency_ms: Latency,
}

/// Latency of ok operations, in milliseconds; none without any.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Latency {
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// A stretch with no ok operation, in seconds since the history began.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Outage {
    /// The node no client got an answer through; none for the whole cluster.
    pub node: Option<String>,
    pub from_s: f64,
    pub to_s: f64,
    /// What the unanswered operations ran into: `unreachable 41, timed out 3`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The faults faultline had in force meanwhile, when any: an outage it caused itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub during: Option<String>,
}

impl RunResults {
    /// A stored run's `results.json`; none when the run has none (it was cut short).
    pub fn read(run_dir: &Path) -> Result<Option<RunResults>, String> {
        read_json(&run_dir.join("results.json"))
    }

    /// The anomalies' kinds, as the ladder names them (`stale-read`, …), each once.
    /// A transaction's anomaly found only with process or real-time order says so
    /// (`G-single-process`): snapshot isolation allows those, and a table must not read as
    /// if it had let a plain G-single through.
    pub fn anomaly_kinds(&self) -> std::collections::BTreeSet<String> {
        self.anomalies()
            .filter_map(|a| {
                let kind = a["kind"].as_str()?;
                Some(match a["order"].as_str() {
                    Some(order) => format!("{kind}-{order}"),
                    None => kind.to_string(),
                })
            })
            .collect()
    }

    /// When the first anomaly was complete, in seconds since the history began: the earliest,
    /// over anomalies, of the time its last witness operation ended.
    pub fn first_anomaly_s(&self) -> Option<f64> {
        self.anomalies()
            .filter_map(|a| {
                a["witness"]
                    .as_array()?
                    .iter()
                    .filter_map(|op| op["complete_time"].as_u64().or(op["invoke_time"].as_u64()))
                    .max()
            })
            .min()
            .map(|ns| ns as f64 / 1e9)
    }

    /// The consistency ladder's anomalies, or a transactional run's isolation anomalies (a
    /// transaction's anomaly has no witness times: it shortens no "first anomaly").
    fn anomalies(&self) -> impl Iterator<Item = &Value> {
        let isolation = self
            .isolation
            .as_ref()
            .and_then(|i| i["report"]["anomalies"].as_array());
        let ladder = self.ladder["anomalies"].as_array();
        let workload = self
            .workload
            .as_ref()
            .and_then(|w| w["violations"].as_array());
        ladder
            .into_iter()
            .chain(isolation)
            .chain(workload)
            .flatten()
    }
}

/// A JSON file of a run's directory read as `T`; none when the file does not exist, one error
/// naming the file when it cannot be read or does not fit.
pub fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    serde_json::from_slice(&bytes)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_of_an_older_store_read_with_defaults_and_never_as_holds() {
        let old: RunResults =
            serde_json::from_str(r#"{"seed": 4, "main_phase": {"ops": 10, "ok": 9}}"#).unwrap();
        assert_eq!(
            (old.seed, old.main_phase.ops, old.main_phase.ok),
            (4, 10, 9)
        );
        assert_eq!(old.verdict, Standing::Unknown);
        assert_eq!(old.require, Level::Linearizable);
        assert!(old.ladder.is_null() && old.first_anomaly_s().is_none());
    }

    #[test]
    fn a_transactional_runs_anomalies_are_its_isolation_anomalies() {
        let r: RunResults = serde_json::from_str(
            r#"{"isolation": {"report": {"anomalies": [{"kind": "G1a"}, {"kind": "G1b"}, {"kind": "G1a"}, {"kind": "G-single", "order": "process"}]}}}"#,
        )
        .unwrap();
        let kinds: Vec<String> = r.anomaly_kinds().into_iter().collect();
        assert_eq!(kinds, ["G-single-process", "G1a", "G1b"]);
        assert_eq!(
            r.first_anomaly_s(),
            None,
            "a transaction's anomaly has no witness times"
        );
    }

    #[test]
    fn a_missing_file_is_none_and_a_broken_one_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        assert!(RunResults::read(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join("results.json"), "{\"seed\": \"x\"}").unwrap();
        let e = RunResults::read(dir.path()).unwrap_err();
        assert!(
            e.contains("results.json") && e.contains("expected u64"),
            "{e}"
        );
    }
}
