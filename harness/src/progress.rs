//! One line of progress on stderr, for `check` and `run`: rewritten in place on a terminal;
//! otherwise (a log, a CI job) printed as a new line at most every ten seconds.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

pub struct StatusLine {
    tty: bool,
    last: Option<Instant>,
}

impl StatusLine {
    pub fn new() -> StatusLine {
        StatusLine {
            tty: std::io::stderr().is_terminal(),
            last: None,
        }
    }

    /// Shows `line` now on a terminal; elsewhere, if ten seconds have passed since the last.
    pub fn show(&mut self, line: &str) {
        if self.tty {
            eprint!("\r{line}\x1b[K");
        } else if self
            .last
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(10))
        {
            eprintln!("{line}");
        } else {
            return;
        }
        self.last = Some(Instant::now());
    }

    /// Erases the line from a terminal (printed lines stay).
    pub fn clear(&mut self) {
        if self.tty && self.last.is_some() {
            eprint!("\r\x1b[K");
        }
    }
}
