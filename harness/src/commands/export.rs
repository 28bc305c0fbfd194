//! `faultline export`: a history in another tool's format, to cross-check verdicts.

use crate::report;
use crate::EXIT_BAD_INPUT;
use checker::import::{self, store};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// The formats `export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportFormat {
    /// Jepsen's history.edn: one map per event, keys as [key value] tuples, which Knossos and
    /// Jepsen's checkers read.
    JepsenEdn,
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// A history file or a run directory (faultline's store/latest, or a Jepsen run).
    #[arg(value_name = "RUN_DIR|FILE")]
    pub path: PathBuf,
    /// What to write.
    #[arg(long, value_enum, default_value = "jepsen-edn", value_name = "FORMAT")]
    pub format: ExportFormat,
    /// Where to write it (written whole or not at all); standard output by default.
    #[arg(long, short, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

pub fn run(args: ExportArgs) -> u8 {
    match export(&args) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("error: {e}");
            EXIT_BAD_INPUT
        }
    }
}

fn export(args: &ExportArgs) -> Result<(), String> {
    // The one history the path stands for: a file, or a run directory's.
    let found = match store::find(&args.path).map_err(|e| format!("not a run directory: {e}"))? {
        found if found.len() == 1 => found.into_iter().next().expect("one"),
        found => {
            return Err(format!(
                "{}: not a run directory: it holds {} histories; name one of them",
                args.path.display(),
                found.len()
            ))
        }
    };
    let history = import::read_file(&found.history, found.format).map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    match args.format {
        ExportFormat::JepsenEdn => checker::export::jepsen_edn(&history, &mut out)?,
    }
    match &args.output {
        Some(path) => {
            report::write_atomically(path, &out).map_err(|e| e.to_string())?;
            eprintln!(
                "wrote {} events to {}",
                history.event_count(),
                path.display()
            );
            Ok(())
        }
        None => std::io::stdout()
            .lock()
            .write_all(&out)
            .map_err(|e| format!("cannot write: {e}")),
    }
}
