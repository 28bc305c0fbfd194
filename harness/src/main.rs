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
//! - `faultline check FILE…` — check stored histories (see `faultline check --help`).
//!
//! ## Exit codes
//! 0 the property holds, 1 it is violated, 2 unknown (time budget ran out), 3 bad input or usage.
//! With several files, the worst of them: bad input, then violated, then unknown.

mod commands;

/// The checker's search allocates many small model states across threads; mimalloc's per-thread
/// heaps make that about a third faster than glibc's allocator (see the README's figures).
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
    about = "Consistency testing for replicated stores: check histories for linearizability"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check history files for linearizability.
    Check(commands::check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_BAD_INPUT } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let code = match cli.command {
        Command::Check(args) => commands::check::run(args),
    };
    ExitCode::from(code)
}
