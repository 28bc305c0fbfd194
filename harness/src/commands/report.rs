//! `faultline report RUN_DIR…`: (re)writes each stored run's `report.html` from what the run
//! stored, and prints where it is.

use crate::EXIT_BAD_INPUT;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Stored run directories, such as store/latest.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub run_dirs: Vec<PathBuf>,
}

pub fn run(args: ReportArgs) -> u8 {
    let mut code = 0;
    for dir in &args.run_dirs {
        match crate::report::write_for_run(dir) {
            Ok(path) => println!("{}", path.display()),
            Err(e) => {
                eprintln!("error: {e}");
                code = EXIT_BAD_INPUT;
            }
        }
    }
    code
}
