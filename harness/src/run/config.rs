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
    /// This run's id, the prefix of every key it wrote (`r…-k0`); empty for runs stored
    /// before keys had one.
    #[serde(default)]
    pub run_id: String,
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
    /// What the run knew about a seed workload's test (its accounts and total, whether its
    /// queue promises FIFO), for the checker; absent for other workloads and for runs stored
    /// before it was kept, whose options are worked out from the workload again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_options: Option<checker::workloads::Options>,
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
            run_id: super::store::run_id(),
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
            workload_options: None,
        }
    }

    /// Writes `config.json` into the run's directory.
    pub fn write(&self, run_dir: &Path) -> Result<(), String> {
        let bytes = serde_json::to_vec_pretty(self).expect("config serializes");
        std::fs::write(run_dir.join("config.json"), bytes)
            .map_err(|e| format!("cannot write {}: {e}", run_dir.display()))
    }

    /// Reads a stored run's `config.json`; none when there is none.
    pub fn read(run_dir: &Path) -> Result<Option<RunConfig>, String> {
        super::results::read_json(&run_dir.join("config.json"))
    }

    /// The flags the report and the run list show, typed. A flag of another version that does
    /// not fit is left out rather than failing the whole page.
    pub fn flags(&self) -> StoredFlags {
        serde_json::from_value(self.args.clone()).unwrap_or_else(|_| {
            let mut flags = StoredFlags::default();
            if let Some(map) = self.args.as_object() {
                for (k, v) in map {
                    let one = serde_json::json!({ k: v });
                    if let Ok(f) = serde_json::from_value::<StoredFlags>(one) {
                        flags.merge(f);
                    }
                }
            }
            flags
        })
    }
}

/// The run flags that readers of a store use, as `config.json` keeps them (`args`); any may be
/// missing — an http target has no read mode, an older store no `--net`.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
#[serde(default)]
pub struct StoredFlags {
    pub nodes: Option<u64>,
    pub concurrency: Option<u64>,
    pub rate: Option<f64>,
    pub keys: Option<u64>,
    pub workload: Option<String>,
    pub require: Option<String>,
    pub nemesis_interval: Option<f64>,
    pub net: Option<String>,
    pub read_mode: Option<String>,
    pub write_ack: Option<String>,
    pub unsafe_knobs: Option<String>,
}

impl StoredFlags {
    fn merge(&mut self, other: StoredFlags) {
        macro_rules! take {
            ($($f:ident),*) => { $( if other.$f.is_some() { self.$f = other.$f; } )* };
        }
        take!(
            nodes,
            concurrency,
            rate,
            keys,
            workload,
            require,
            nemesis_interval,
            net,
            read_mode,
            write_ack,
            unsafe_knobs
        );
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
        let back = RunConfig::read(dir.path()).unwrap().unwrap();
        assert_eq!(back.flags().nodes, Some(3));
        assert_eq!((back.seed, back.target.kind.as_str()), (7, "raftkv"));
        std::fs::write(
            dir.path().join("config.json"),
            r#"{"args": {}, "target": {"kind": "http", "description": "x", "file": "t.toml"}, "seed": 1}"#,
        )
        .unwrap();
        let old = RunConfig::read(dir.path()).unwrap().unwrap();
        assert!(old.faults.is_empty() && old.versions.faultline.is_empty());
        assert_eq!(old.flags(), StoredFlags::default());
    }

    #[test]
    fn a_flag_that_does_not_fit_is_left_out_and_the_rest_read() {
        let c: RunConfig = serde_json::from_str(
            r#"{"args": {"nodes": "three", "keys": 8, "net": "proxy"},
                "target": {"kind": "raftkv", "description": "3 raftkv nodes", "file": null},
                "seed": 1}"#,
        )
        .unwrap();
        let f = c.flags();
        assert_eq!(
            (f.nodes, f.keys, f.net.as_deref()),
            (None, Some(8), Some("proxy"))
        );
    }
}
