//! What a run was asked to do, settled before its cluster starts: `config.json`.
//!
//! Typed so that the run, the report and any later reader agree on one shape. Reading stores
//! written before this type existed stays possible: every field but the flags may be missing.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::path::Path;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RunConfig {
    /// The flags as given, without the settings of other targets.
    pub args: Value,
    pub target: TargetInfo,
    pub seed: u64,
    /// The fault kinds in use (after dropping those the target cannot take).
    #[serde(default)]
    pub faults: Vec<String>,
    /// The nemesis's steps, from the seed.
    #[serde(default)]
    pub schedule: Value,
    /// raftkv's flags for its nodes.
    #[serde(default)]
    pub node_flags: Vec<String>,
    #[serde(default)]
    pub notes: Vec<String>,
    #[serde(default)]
    pub versions: Versions,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct TargetInfo {
    /// `raftkv`, `etcd` or `http`.
    pub kind: String,
    pub description: String,
    /// The description file of an http target.
    pub file: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Versions {
    pub faultline: String,
    pub kernel: String,
    pub libfaketime: Option<String>,
}

impl RunConfig {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        args: Value,
        target: TargetInfo,
        seed: u64,
        faults: Vec<String>,
        schedule: Value,
        node_flags: Vec<String>,
        notes: Vec<String>,
        libfaketime: Option<String>,
    ) -> RunConfig {
        RunConfig {
            args,
            target,
            seed,
            faults,
            schedule,
            node_flags,
            notes,
            versions: Versions {
                faultline: env!("CARGO_PKG_VERSION").to_string(),
                kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                libfaketime,
            },
        }
    }

    /// Writes `config.json` into the run's directory.
    pub fn write(&self, run_dir: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).expect("config serializes");
        std::fs::write(run_dir.join("config.json"), bytes)
            .map_err(|e| format!("cannot write {}: {e}", run_dir.display()))
    }

    /// Reads a stored run's `config.json`.
    #[cfg(test)]
    pub fn read(run_dir: &Path) -> Result<RunConfig, String> {
        let path = run_dir.join("config.json");
        let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| format!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_config_reads_back_and_an_old_one_without_versions_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let c = RunConfig::new(
            serde_json::json!({"nodes": 3}),
            TargetInfo {
                kind: "raftkv".into(),
                description: "3 raftkv nodes".into(),
                file: None,
            },
            7,
            vec!["kill".into()],
            serde_json::json!([]),
            vec![],
            vec![],
            None,
        );
        c.write(dir.path()).unwrap();
        let back = RunConfig::read(dir.path()).unwrap();
        assert_eq!((back.seed, back.target.kind.as_str()), (7, "raftkv"));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"args": {}, "target": {"kind": "http", "description": "x", "file": "t.toml"}, "seed": 1}"#,
        )
        .unwrap();
        let old = RunConfig::read(dir.path()).unwrap();
        assert!(old.faults.is_empty() && old.versions.faultline.is_empty());
    }
}
