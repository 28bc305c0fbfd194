//! `faultline heal [RUN_DIR]`: undo what a run left behind when the harness itself was killed
//! (SIGKILL gives it no chance to clean up): resume and kill its node processes, delete its
//! network namespaces and bridge. The run keeps `state.json` in its directory while it is live;
//! this reads it, heals, and removes it. Without RUN_DIR, every run under the store is healed.

use crate::EXIT_BAD_INPUT;
use clap::Args;
use nemesis::cleanup::{Leftovers, RemoteRecord};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct HealArgs {
    /// A run directory (such as store/latest); default: every run under --store.
    #[arg(value_name = "RUN_DIR")]
    pub run_dir: Option<PathBuf>,
    /// The store to search when no RUN_DIR is given.
    #[arg(long, default_value = "store")]
    pub store: PathBuf,
}

/// Every `state.json` of a run under the store (`<test>/<timestamp>/state.json`).
fn state_files(store: &Path) -> Vec<PathBuf> {
    crate::run::store::run_dirs(store)
        .into_iter()
        .map(|(_, dir)| dir.join("state.json"))
        .filter(|state| state.is_file())
        .collect()
}

pub fn run(args: HealArgs) -> u8 {
    let files = match &args.run_dir {
        Some(dir) => {
            if !dir.is_dir() {
                eprintln!("error: {} is not a run directory", dir.display());
                return EXIT_BAD_INPUT;
            }
            let state = dir.join("state.json");
            if !state.is_file() {
                println!(
                    "nothing to heal: {} has no state.json (the run cleaned up after itself)",
                    dir.display()
                );
                return 0;
            }
            vec![state]
        }
        None => state_files(&args.store),
    };
    if files.is_empty() {
        println!("nothing to heal under {}", args.store.display());
        return 0;
    }
    let mut code = 0;
    for file in files {
        let dir = file
            .parent()
            .unwrap_or(Path::new("."))
            .display()
            .to_string();
        let left = match Leftovers::load(&file) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_BAD_INPUT;
                continue;
            }
        };
        if left.harness_alive() {
            eprintln!(
                "error: {dir}: the run is still going (faultline pid {}); stop it with Ctrl-C or kill it first",
                left.harness_pid
            );
            code = 1;
            continue;
        }
        for r in &left.remote {
            match heal_remote(r, left.harness_pid) {
                Ok(said) => println!("{dir}: on {said}"),
                Err(e) => {
                    eprintln!("error: {dir}: {e}");
                    code = 1;
                }
            }
        }
        match left.heal() {
            Ok(h) => {
                println!(
                    "{dir}: resumed {} stopped, killed {} node processes; removed {} namespaces{}",
                    h.resumed.len(),
                    h.killed.len(),
                    h.namespaces.len(),
                    if h.bridge.is_some() {
                        " and the bridge"
                    } else {
                        ""
                    }
                );
                if let Err(e) = std::fs::remove_file(&file) {
                    eprintln!("error: removing {}: {e}", file.display());
                    code = 1;
                }
            }
            Err(e) => {
                eprintln!("error: {dir}: {e}");
                code = 1;
            }
        }
    }
    code
}

/// Removes what a run put on one remote host, over SSH, and ends the killed harness's own
/// connection to it (it would linger for minutes); what was found and undone, in words.
fn heal_remote(r: &RemoteRecord, harness_pid: u32) -> Result<String, String> {
    use crate::run::{hosts, remote::RunHosts};
    let host: hosts::Host = serde_json::from_value(r.host.clone())
        .map_err(|e| format!("state.json names a host it cannot read: {e}"))?;
    let control = std::env::temp_dir().join(format!("fl-heal-{}", std::process::id()));
    std::fs::create_dir_all(&control).map_err(|e| format!("{}: {e}", control.display()))?;
    let ssh = hosts::Ssh::new(host.clone(), &control);
    let found = ssh.run(&survey_command(r));
    let done = found.and_then(|found| {
        ssh.run(&RunHosts::cleanup_command(&r.dir, &host.address, true))
            .map(|_| found)
    });
    ssh.close();
    let theirs = crate::run::remote::control_dir(harness_pid);
    hosts::Ssh::new(host.clone(), &theirs).close();
    let _ = std::fs::remove_dir_all(&theirs);
    let _ = std::fs::remove_dir_all(&control);
    done.map(|found| format!("{} ({}): {}", host.name, host.address, undone(r, &found)))
}

/// A command that prints what of the run is still in force on a host: the recorded node's
/// state letter, whether the rules drop anything, whether netem is on.
fn survey_command(r: &RemoteRecord) -> String {
    let mut c = String::from("true");
    if let Some(pid) = r.pid {
        c.push_str(&format!(
            "; s=$(sed 's/.*) //' /proc/{pid}/stat 2>/dev/null | cut -c1); echo node=${{s:-gone}}"
        ));
    }
    if r.rules {
        c.push_str(
            "; nft list chain inet faultline input 2>/dev/null | grep -q drop && echo rules=dropping",
        );
    }
    if let Some(dev) = &r.netem {
        c.push_str(&format!(
            "; tc qdisc show dev {dev} 2>/dev/null | grep -q netem && echo netem=on"
        ));
    }
    c
}

/// What healing a host undid, from what the survey found there.
fn undone(r: &RemoteRecord, found: &str) -> String {
    let said = |key: &str| {
        found
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
    };
    let mut parts = Vec::new();
    if let (Some(pid), Some(state)) = (r.pid, said("node")) {
        parts.push(match state {
            "gone" => format!("node pid {pid} already gone"),
            "T" => format!("node pid {pid} killed (it was paused)"),
            _ => format!("node pid {pid} killed"),
        });
    }
    if said("rules").is_some() {
        parts.push("the partition's rules deleted".to_string());
    }
    if let (Some(dev), Some(_)) = (&r.netem, said("netem")) {
        parts.push(format!("netem on {dev} removed"));
    }
    parts.push("every process of the run, its table and its directory removed".into());
    parts.join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_heal_found_on_a_host_is_said_in_words() {
        let r = RemoteRecord {
            host: serde_json::json!({}),
            dir: "/tmp/faultline-x".into(),
            pid: Some(42),
            rules: true,
            netem: Some("eth0".into()),
        };
        let c = survey_command(&r);
        assert!(c.contains("/proc/42/stat"), "{c}");
        assert!(c.contains("tc qdisc show dev eth0"), "{c}");
        assert_eq!(
            undone(&r, "node=T\nrules=dropping\nnetem=on\n"),
            "node pid 42 killed (it was paused), the partition's rules deleted, netem on eth0 \
             removed, every process of the run, its table and its directory removed"
        );
        assert_eq!(
            undone(&r, "node=gone\n"),
            "node pid 42 already gone, every process of the run, its table and its directory removed"
        );
        // The survey runs in a shell: a pid that does not exist is gone.
        let r = RemoteRecord {
            pid: Some(u32::MAX - 1),
            rules: false,
            netem: None,
            ..r
        };
        let out = std::process::Command::new("sh")
            .args(["-c", &survey_command(&r)])
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), "node=gone\n");
    }
}
