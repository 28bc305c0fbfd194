//! What a run found: `results.json`, the summary that `--json` prints and the report reads.

use checker::consistency::{Level, Standing};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

#[derive(Debug, Serialize)]
pub struct RunResults {
    pub run_dir: String,
    pub seed: u64,
    /// Ctrl-C or SIGTERM ended the main phase early.
    pub interrupted: bool,
    /// The model whose verdict is the exit code.
    pub require: Level,
    pub verdict: Standing,
    pub strongest: Vec<Level>,
    pub main_phase_s: f64,
    /// Outcome counts, throughput and latency of the main phase's client operations.
    pub main_phase: Value,
    /// Stretches in which nothing succeeded, on the cluster or a node.
    pub outages: Value,
    pub final_reads: usize,
    /// Faults applied, by kind.
    pub faults: BTreeMap<&'static str, u64>,
    pub nemesis_errors: Vec<String>,
    /// Whether the nodes agreed after the recovery spell (none when interrupted).
    pub converged: Option<bool>,
    /// Whether the nodes' data directories were kept (`--keep-data`).
    pub data_kept: bool,
    pub notes: Vec<String>,
    pub report: String,
    /// Every model's verdict, the anomalies and their witnesses.
    pub ladder: Value,
}
