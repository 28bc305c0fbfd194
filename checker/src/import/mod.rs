//! Reading histories from files: faultline's JSON Lines, and everything Jepsen and Knossos write —
//! EDN histories (`history.edn`, Knossos's `data/` files), the tab-separated `history.txt`, and
//! `jepsen.log` in each of its layouts. Every importer produces the same [`History`], and every
//! malformed input produces one [`HistoryError`] naming the file, the line (and for EDN the
//! column) and the problem.
//!
//! What the Jepsen formats share, and faultline's own does not:
//! - **Order is position.** Jepsen orders a history by where each operation stands in the file;
//!   client and nemesis clocks may disagree, so a `:time` that goes backwards is kept for display
//!   and noted once ([`TimeOrder::Positional`]), never rejected.
//! - **Independent keys.** `jepsen.independent` tests write `[key value]` tuples (a cas is
//!   `[key [old new]]`); these are split into per-key operations ([`independent`]).
//!
//! Input is read as a stream: a file is never held in memory as text beside the history built
//! from it.
//!
//! [`store`] finds the history (and Jepsen's own verdict) in a Jepsen or faultline run directory.

pub mod edn;
mod events;
pub mod independent;
pub mod store;

use crate::history::{History, HistoryBuilder, HistoryError, TimeOrder};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// A history file format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Decide from the first lines.
    Auto,
    /// faultline's native format: one JSON object per line.
    #[default]
    Jsonl,
    /// EDN maps, Jepsen's `history.edn` and Knossos's files: maps one after another, or one
    /// vector or list of them, over any number of lines.
    JepsenEdn,
    /// Jepsen's `history.txt`: `process<TAB>type<TAB>f<TAB>value[<TAB>error]`.
    JepsenText,
    /// Jepsen's `jepsen.log`, any layout: the `jepsen.util` lines that log operations.
    JepsenLog,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::JepsenEdn => "jepsen-edn",
            Format::JepsenText => "jepsen-txt",
            Format::JepsenLog => "jepsen-log",
        }
    }

    /// Jepsen's formats order by position and may hold independent keys.
    pub fn is_jepsen(self) -> bool {
        matches!(
            self,
            Format::JepsenEdn | Format::JepsenText | Format::JepsenLog
        )
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "auto" => Ok(Format::Auto),
            "jsonl" => Ok(Format::Jsonl),
            "jepsen-edn" | "edn" => Ok(Format::JepsenEdn),
            "jepsen-txt" | "txt" => Ok(Format::JepsenText),
            "jepsen-log" | "log" => Ok(Format::JepsenLog),
            other => Err(format!(
                "unknown format {other:?}; expected auto, jsonl, jepsen-edn, jepsen-txt or jepsen-log"
            )),
        }
    }
}

/// Reads and validates a history file.
pub fn read_file(path: &Path, format: Format) -> Result<History, HistoryError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| HistoryError::new(&name, 0, e.to_string()))?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    read_sized(&name, file, format, size)
}

/// Parses a history from text; `source_name` is used in error messages.
pub fn parse_str(source_name: &str, text: &str, format: Format) -> Result<History, HistoryError> {
    read(source_name, text.as_bytes(), format)
}

/// How much of the input format detection looks at.
const DETECT_BYTES: usize = 64 * 1024;

/// Reads a history from any byte source, streaming.
pub fn read<R: Read>(source_name: &str, src: R, format: Format) -> Result<History, HistoryError> {
    read_sized(source_name, src, format, 0)
}

/// Bytes an event takes in a typical file (`{:process 0, :type :ok, :f :read, :value 3}` is
/// 45), to size the history's lists from the file's size: too large a guess costs only untouched
/// pages, and a right one saves copying the lists as they grow.
const MIN_EVENT_BYTES: u64 = 40;

/// [`read`], told how many bytes the source holds. Every event goes into its operation as it is
/// read: the events are never held as a list, and the text never at all.
fn read_sized<R: Read>(
    source_name: &str,
    mut src: R,
    format: Format,
    size: u64,
) -> Result<History, HistoryError> {
    let io_err = |e: std::io::Error| HistoryError::new(source_name, 0, format!("cannot read: {e}"));
    let mut head = Vec::new();
    if format == Format::Auto {
        (&mut src)
            .take(DETECT_BYTES as u64)
            .read_to_end(&mut head)
            .map_err(io_err)?;
    }
    let format = match format {
        Format::Auto => detect_prefix(&head).map_err(|line| {
            HistoryError::new(
                source_name,
                line,
                "cannot tell the format: expected a JSON object, EDN maps, a Jepsen history.txt line or a Jepsen log; name it with --format",
            )
        })?,
        f => f,
    };
    let src = std::io::Cursor::new(head).chain(src);
    // Jepsen's formats order by position; faultline's own by time.
    let order = if format.is_jepsen() {
        TimeOrder::Positional
    } else {
        TimeOrder::Strict
    };
    let mut builder = HistoryBuilder::new(source_name, order, (size / MIN_EVENT_BYTES) as usize);
    let (timed, notes) = match format {
        Format::JepsenEdn => (events::edn(source_name, src, &mut builder)?, Vec::new()),
        line_format => {
            let read = events::lines(source_name, BufReader::new(src), line_format, &mut builder)?;
            (read.timed, read.notes)
        }
    };
    let mut history = builder.finish();
    history.format = format;
    history.timed = timed;
    history.notes.extend(notes);
    if format.is_jepsen() {
        if let Some(note) = independent::split(&mut history)? {
            history.notes.insert(0, note);
        }
    }
    Ok(history)
}

/// Guesses the format from the start of the input; `Err(line)` when it cannot. An empty input
/// is JSON Lines (and a history with no operations).
pub fn detect(text: &str) -> Option<Format> {
    detect_prefix(text.as_bytes()).ok()
}

fn detect_prefix(head: &[u8]) -> Result<Format, usize> {
    // Only whole lines count: the prefix may end in the middle of one (or of a UTF-8 character).
    let text = String::from_utf8_lossy(head);
    let mut content = text
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with(';'));
    let Some((line, first)) = content.next() else {
        // Nothing but comments is EDN with no forms; nothing at all, JSON Lines.
        let commented = text.lines().any(|l| l.trim_start().starts_with(';'));
        return Ok(if commented {
            Format::JepsenEdn
        } else {
            Format::Jsonl
        });
    };
    let after_brace = first.strip_prefix('{').map(str::trim_start);
    if after_brace.is_some_and(|r| r.starts_with('"') || r.starts_with('}')) {
        return Ok(Format::Jsonl);
    }
    if first.starts_with(['{', '[', '(', '#']) {
        return Ok(Format::JepsenEdn);
    }
    if events::is_text_line(first) {
        return Ok(Format::JepsenText);
    }
    if events::is_log_line(first) {
        return Ok(Format::JepsenLog);
    }
    Err(line)
}

/// Reads the first EDN form of a file (such as Jepsen's `results.edn`).
pub fn read_edn_file(path: &Path) -> Result<serde_json::Value, HistoryError> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|e| HistoryError::new(&name, 0, e.to_string()))?;
    let mut r = edn::Reader::new(BufReader::new(file));
    match r.next_form() {
        Ok(Some((_, v))) => Ok(v),
        Ok(None) => Err(HistoryError::new(&name, 1, "empty file: no EDN value")),
        Err(e) => Err(HistoryError::at(&name, e.pos.line, e.pos.column, e.message)),
    }
}

/// Reads the lines of `src`, calling `each(line_no, line)`; invalid UTF-8 is an error naming the
/// line.
fn for_each_line<R: BufRead>(
    source_name: &str,
    mut src: R,
    mut each: impl FnMut(usize, &str) -> Result<(), HistoryError>,
) -> Result<(), HistoryError> {
    let mut line = String::new();
    let mut line_no = 0;
    loop {
        line.clear();
        line_no += 1;
        match src.read_line(&mut line) {
            Ok(0) => return Ok(()),
            Ok(_) => each(line_no, &line)?,
            Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
                return Err(HistoryError::new(source_name, line_no, "not UTF-8 text"))
            }
            Err(e) => {
                return Err(HistoryError::new(
                    source_name,
                    line_no,
                    format!("cannot read: {e}"),
                ))
            }
        }
    }
}

#[cfg(test)]
mod tests;
