//! # faultline
//!
//! The command line of faultline, a Jepsen-style consistency testing harness: it launches a
//! cluster, drives concurrent load, injects faults, and checks the recorded history against a
//! consistency model. This crate is the edge where people and CI pipelines meet the tool: it
//! parses flags, prints results for people (or JSON for machines) and turns verdicts into exit
//! codes. The judging itself lives in the `checker` crate; this crate never second-guesses it.
//!
//! It is not a library: nothing here is meant to be called from other Rust code.
//!
//! ## Commands
//! - `faultline run` — launch a cluster (the bundled raftkv, a local etcd, or any HTTP key-value
//!   service described in a file), drive load, inject faults, heal, check, and store everything
//!   under `store/` with a report.html (see `faultline run --help`).
//! - `faultline check FILE|RUN_DIR|STORE…` — check stored histories: faultline's, and Jepsen's
//!   and Knossos's files and store directories, with Jepsen's own verdict beside faultline's
//!   (see `faultline check --help`).
//! - `faultline export RUN_DIR|FILE` — write a history as Jepsen's `history.edn`.
//! - `faultline report RUN_DIR…` — (re)write a stored run's `report.html`.
//! - `faultline serve [STORE]` — a local web page listing the stored runs and their reports.
//! - `faultline heal [RUN_DIR]` — remove what a killed harness left behind.
//! - `faultline sweep CONFIG…` — each configuration of run flags over seeds 1…N: how often it
//!   found a violation, which, how soon, and false alarms.
//! - `faultline sim` — the bundled raftkv in a deterministic simulation, thousands of seeds a
//!   minute, each history checked; a failing seed is shrunk and printed with its replay.
//! - `faultline raftkv …` — run one raftkv node (how `run` launches its nodes).
//!
//! ## Exit codes
//! 0 the required model holds, 1 it is violated, 2 unknown (a budget ran out, or the history has
//! no operation to judge), 3 bad input (including a workload faultline does not check) or a
//! broken setup; 130 an interrupted run (everything healed, the partial history checked). With
//! several files, the worst of them: bad input, then violated, then unknown.

mod commands;
mod progress;
mod report;
mod run;
mod signals;
mod sim;

/// The checker's search allocates many small model states across threads; mimalloc's per-thread
/// heaps make that about a third faster than glibc's allocator (see docs/performance.md).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Exit code for bad input or usage.
pub const EXIT_BAD_INPUT: u8 = 3;

#[derive(Parser)]
#[command(
    name = "faultline",
    version,
    about = "Consistency testing for replicated stores: run a cluster under faults and check what it did"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Test a cluster under faults (raftkv by default; etcd; or http:FILE), store the run, and
    /// check it.
    Run(Box<run::RunArgs>),
    /// Check history files (or stored runs) for linearizability.
    Check(commands::check::CheckArgs),
    /// Write a history in another tool's format (Jepsen's history.edn), to cross-check.
    Export(commands::export::ExportArgs),
    /// Write a stored run's report.html again, from what the run stored.
    Report(commands::report::ReportArgs),
    /// A local web page over the store: every run, newest first, with its report and files.
    Serve(commands::serve::ServeArgs),
    /// Undo what a killed harness left behind: stopped or orphaned nodes, namespaces.
    Heal(commands::heal::HealArgs),
    /// Run configurations over many seeds and tabulate what each found (detection power).
    Sweep(commands::sweep::SweepArgs),
    /// Simulate the bundled raftkv deterministically over many seeds, checking each history.
    Sim(sim::SimArgs),
    /// A lab of SSH hosts on this machine (network namespaces, each with its own sshd).
    Lab(commands::lab::LabArgs),
}

fn main() -> ExitCode {
    // `faultline raftkv …` is a node of the bundled cluster: the harness launches its nodes by
    // running itself, so `cargo run -- run` needs no second binary.
    let argv: Vec<String> = std::env::args().collect();
    if argv.get(1).map(String::as_str) == Some("raftkv") {
        return targets::raftkv::cli::main(&argv[2..]);
    }
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Run(args) => run::run(*args),
        Command::Check(args) => commands::check::run(args),
        Command::Export(args) => commands::export::run(args),
        Command::Report(args) => commands::report::run(args),
        Command::Serve(args) => commands::serve::run(args),
        Command::Heal(args) => commands::heal::run(args),
        Command::Sweep(args) => commands::sweep::run(args),
        Command::Sim(args) => sim::run(args),
        Command::Lab(args) => commands::lab::run(args),
    };
    ExitCode::from(code)
}
