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
                Ok(name) => {
                    println!("{dir}: removed the run's nodes, rules and directory on {name}")
                }
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
/// connection to it (it would linger for minutes); the host's name.
fn heal_remote(r: &RemoteRecord, harness_pid: u32) -> Result<String, String> {
    use crate::run::{hosts, remote::RunHosts};
    let host: hosts::Host = serde_json::from_value(r.host.clone())
        .map_err(|e| format!("state.json names a host it cannot read: {e}"))?;
    let control = std::env::temp_dir().join(format!("fl-heal-{}", std::process::id()));
    std::fs::create_dir_all(&control).map_err(|e| format!("{}: {e}", control.display()))?;
    let ssh = hosts::Ssh::new(host.clone(), &control);
    let done = ssh.run(&RunHosts::cleanup_command(&r.dir, &host.address));
    ssh.close();
    let theirs = crate::run::remote::control_dir(harness_pid);
    hosts::Ssh::new(host.clone(), &theirs).close();
    let _ = std::fs::remove_dir_all(&theirs);
    let _ = std::fs::remove_dir_all(&control);
    done.map(|_| format!("{} ({})", host.name, host.address))
}
