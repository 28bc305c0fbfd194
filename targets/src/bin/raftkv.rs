//! `raftkv`: one node of the bundled reference Raft key-value store. See
//! `targets/src/raftkv/cli.rs` for the flags and `targets/src/raftkv/mod.rs` for the design.

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    targets::raftkv::cli::main(&args)
}
