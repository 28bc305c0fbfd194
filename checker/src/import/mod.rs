//! Reading histories from files: faultline's native JSON Lines, Jepsen's EDN maps (one per line)
//! and Jepsen's log lines. Every importer produces the same [`History`], and every malformed line
//! produces one [`HistoryError`] naming the file, the line and the problem.

mod edn;

use crate::history::{Event, EventType, History, HistoryError, Process};
use serde_json::{Map, Value};
use std::path::Path;

/// A history file format.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Format {
    /// Decide from the first non-blank line.
    Auto,
    /// faultline's native format: one JSON object per line.
    #[default]
    Jsonl,
    /// One Jepsen EDN map per line: `{:process 9, :type :invoke, :f :append, ...}`.
    JepsenEdn,
    /// Jepsen log lines: `INFO  jepsen.util - 2 :invoke :cas [1 2]` (tabs or spaces).
    JepsenLog,
}

impl Format {
    /// The name `--format` takes.
    pub fn name(self) -> &'static str {
        match self {
            Format::Auto => "auto",
            Format::Jsonl => "jsonl",
            Format::JepsenEdn => "jepsen-edn",
            Format::JepsenLog => "jepsen-log",
        }
    }

    /// The data type histories in this format usually hold: Jepsen's EDN kv histories are
    /// append histories; everything else is read/write/cas.
    pub fn default_model(self) -> crate::model::ModelKind {
        match self {
            Format::JepsenEdn => crate::model::ModelKind::KvAppend,
            _ => crate::model::ModelKind::CasRegister,
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "auto" => Ok(Format::Auto),
            "jsonl" => Ok(Format::Jsonl),
            "jepsen-edn" | "edn" => Ok(Format::JepsenEdn),
            "jepsen-log" | "log" => Ok(Format::JepsenLog),
            other => Err(format!(
                "unknown format {other:?}; expected auto, jsonl, jepsen-edn or jepsen-log"
            )),
        }
    }
}

/// Reads and validates a history file.
pub fn read_file(path: &Path, format: Format) -> Result<History, HistoryError> {
    let name = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| HistoryError::new(&name, 0, e.to_string()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
            .iter()
            .filter(|&&b| b == b'\n')
            .count();
        HistoryError::new(&name, line, "not UTF-8 text")
    })?;
    parse_str(&name, &text, format)
}

/// Parses a history from text; `source_name` is used in error messages.
pub fn parse_str(source_name: &str, text: &str, format: Format) -> Result<History, HistoryError> {
    let format = match format {
        Format::Auto => detect(text).ok_or_else(|| {
            let line = first_content_line(text).map(|(n, _)| n).unwrap_or(1);
            HistoryError::new(
                source_name,
                line,
                "cannot tell the format: expected a JSON object, an EDN map or a Jepsen log line; name it with --format",
            )
        })?,
        f => f,
    };
    let mut events = Vec::new();
    let mut timed = format == Format::Jsonl;
    if format == Format::JepsenEdn {
        timed = true;
    }
    for (i, line) in text.lines().enumerate() {
        let line_no = i + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let position = events.len() as u64;
        let event = match format {
            Format::Jsonl => parse_json_line(trimmed, line_no, position),
            Format::JepsenEdn => {
                timed &= trimmed.contains(":time");
                parse_edn_line(trimmed, line_no, position)
            }
            Format::JepsenLog => match parse_log_line(trimmed, line_no, position) {
                Ok(Some(e)) => Ok(e),
                Ok(None) => continue,
                Err(e) => Err(e),
            },
            Format::Auto => unreachable!("resolved above"),
        }
        .map_err(|msg| HistoryError::new(source_name, line_no, msg))?;
        events.push(event);
    }
    let mut history = History::from_events(source_name, events)?;
    history.format = format;
    history.timed = timed;
    Ok(history)
}

fn first_content_line(text: &str) -> Option<(usize, &str)> {
    text.lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.trim()))
        .find(|(_, l)| !l.is_empty())
}

/// Guesses the format from the first non-blank line. An empty text is JSON Lines (and an empty,
/// linearizable history).
pub fn detect(text: &str) -> Option<Format> {
    let Some((_, line)) = first_content_line(text) else {
        return Some(Format::Jsonl);
    };
    if line.starts_with("{\"") || line == "{}" {
        Some(Format::Jsonl)
    } else if line.starts_with("{:") {
        Some(Format::JepsenEdn)
    } else if line.contains("jepsen.") && line.contains(" - ") {
        Some(Format::JepsenLog)
    } else {
        None
    }
}

fn parse_json_line(line: &str, line_no: usize, position: u64) -> Result<Event, String> {
    let value: Value = serde_json::from_str(line).map_err(|e| {
        if e.is_eof() {
            format!("truncated JSON: {e}")
        } else {
            format!("malformed JSON: {e}")
        }
    })?;
    let Value::Object(map) = value else {
        return Err("expected a JSON object for the event".into());
    };
    event_from_map(map, line_no, position, true)
}

fn parse_edn_line(line: &str, line_no: usize, position: u64) -> Result<Event, String> {
    let value = edn::parse(line)?;
    let Value::Object(map) = value else {
        return Err("expected an EDN map for the event".into());
    };
    event_from_map(map, line_no, position, false)
}

/// Builds an event from a map with the native field names (EDN keywords arrive without colons).
fn event_from_map(
    mut map: Map<String, Value>,
    line: usize,
    position: u64,
    time_in_format: bool,
) -> Result<Event, String> {
    let kind = match map.remove("type") {
        Some(Value::String(s)) => EventType::parse(&s)
            .ok_or_else(|| format!("unknown type {s:?}; expected invoke, ok, fail or info"))?,
        Some(other) => return Err(format!("type must be a string, found {other}")),
        None => return Err("missing field \"type\"".into()),
    };
    let process = match map.remove("process") {
        Some(Value::Number(n)) => Process::Client(n.as_u64().ok_or_else(|| {
            format!("process must be a non-negative integer or \"nemesis\", found {n}")
        })?),
        Some(Value::String(s)) if s == "nemesis" => Process::Nemesis,
        Some(other) => {
            return Err(format!(
                "process must be a non-negative integer or \"nemesis\", found {other}"
            ))
        }
        None => return Err("missing field \"process\"".into()),
    };
    let f = match map.remove("f") {
        Some(Value::String(s)) => s,
        Some(other) => return Err(format!("f must be a string, found {other}")),
        None => return Err("missing field \"f\"".into()),
    };
    let key = match map.remove("key") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(other) => return Err(format!("key must be a string, found {other}")),
    };
    let index = match map.remove("index") {
        None => position,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("index must be a non-negative integer, found {v}"))?,
    };
    let time = match map.remove("time") {
        None if time_in_format => {
            return Err("missing field \"time\" (nanoseconds since the start)".into())
        }
        None => position,
        Some(v) => v
            .as_u64()
            .ok_or_else(|| format!("time must be non-negative integer nanoseconds, found {v}"))?,
    };
    let value = map.remove("value").unwrap_or(Value::Null);
    let node = optional_string(&mut map, "node")?;
    let phase = optional_string(&mut map, "phase")?;
    let error = match map.remove("error") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    let version = match map.remove("version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .ok_or_else(|| format!("version must be a non-negative integer, found {v}"))?,
        ),
    };
    Ok(Event {
        index,
        time,
        process,
        kind,
        f,
        key,
        value,
        node,
        version,
        phase,
        error,
        extra: map,
        line,
    })
}

fn optional_string(map: &mut Map<String, Value>, field: &str) -> Result<Option<String>, String> {
    match map.remove(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("{field} must be a string, found {other}")),
    }
}

/// Parses `LEVEL  logger - PROCESS :type :f VALUE`. Lines of other loggers (Jepsen logs much more
/// than operations) are passed over; a `jepsen.util` line that is not a whole operation is an
/// error.
fn parse_log_line(line: &str, line_no: usize, position: u64) -> Result<Option<Event>, String> {
    let Some(dash) = line.find(" - ") else {
        return Err("not a Jepsen log line (expected \"LEVEL logger - message\")".into());
    };
    let logger = line[..dash].split_whitespace().last().unwrap_or("");
    if logger != "jepsen.util" {
        return Ok(None);
    }
    let rest = line[dash + 3..].trim();
    // Three whitespace-separated fields (tabs or runs of spaces), then the value: the rest.
    let mut rest = rest;
    let mut next = |what: &str| -> Result<&str, String> {
        let field = rest
            .split_whitespace()
            .next()
            .ok_or_else(|| format!("truncated operation line: missing {what}"))?;
        let at = rest.find(field).expect("the field comes from rest");
        rest = &rest[at + field.len()..];
        Ok(field)
    };
    let process = next("the process")?;
    let kind = next("the type")?;
    let f = next("the function")?;
    let value_text = rest.to_string();
    let process = match process {
        ":nemesis" | "nemesis" => Process::Nemesis,
        p => Process::Client(
            p.parse()
                .map_err(|_| format!("process must be an integer or :nemesis, found {p:?}"))?,
        ),
    };
    let kind = kind
        .strip_prefix(':')
        .and_then(EventType::parse)
        .ok_or_else(|| format!("unknown type {kind:?}; expected :invoke, :ok, :fail or :info"))?;
    let f = f
        .strip_prefix(':')
        .ok_or_else(|| format!("function must be a keyword like :read, found {f:?}"))?
        .to_string();
    let value_text = value_text.trim();
    let value = if value_text.is_empty() {
        if process == Process::Nemesis {
            Value::Null
        } else {
            return Err("truncated operation line: missing the value".into());
        }
    } else {
        edn::parse(value_text).map_err(|e| format!("bad value {value_text:?}: {e}"))?
    };
    Ok(Some(Event {
        index: position,
        time: position,
        process,
        kind,
        f,
        key: None,
        value,
        node: None,
        version: None,
        phase: None,
        error: None,
        extra: Map::new(),
        line: line_no,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Outcome;

    #[test]
    fn detects_formats() {
        assert_eq!(detect("{\"index\":0}"), Some(Format::Jsonl));
        assert_eq!(detect("\n{:process 1}"), Some(Format::JepsenEdn));
        assert_eq!(
            detect("INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]"),
            Some(Format::JepsenLog)
        );
        assert_eq!(detect(""), Some(Format::Jsonl));
        assert_eq!(detect("hello"), None);
    }

    #[test]
    fn reads_native_lines() {
        let text = r#"{"index":0,"time":1000,"process":3,"type":"invoke","f":"write","key":"k1","value":17}
{"index":1,"time":2500,"process":3,"type":"ok","f":"write","key":"k1","value":17,"node":"n1","version":4,"trace":"abc"}
{"index":2,"time":2700,"process":"nemesis","type":"info","f":"start-partition","value":{"grudge":{"n1":["n2","n3"]}}}
"#;
        let h = parse_str("h.jsonl", text, Format::Auto).unwrap();
        assert_eq!(h.events.len(), 3);
        assert_eq!(h.ops.len(), 1);
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[0].version, Some(4));
        assert_eq!(h.ops[0].node.as_deref(), Some("n1"));
        assert_eq!(h.events[1].extra["trace"], "abc");
        assert_eq!(h.nemesis_events().count(), 1);
    }

    #[test]
    fn reads_jepsen_logs_with_tabs_or_spaces() {
        let text = "INFO  jepsen.util - 2\t:invoke\t:cas\t[1 2]\n\
                    INFO  jepsen.core - Something else entirely\n\
                    INFO  jepsen.util - 2   :info  :cas   :timed-out\n\
                    INFO  jepsen.util - 1 :invoke :read nil\n\
                    INFO  jepsen.util - 1 :ok :read 3\n";
        let h = parse_str("e.log", text, Format::Auto).unwrap();
        assert_eq!(
            h.format,
            Format::JepsenLog,
            "auto resolves to the detected format"
        );
        assert_eq!(h.ops.len(), 2);
        assert_eq!(h.ops[0].input, serde_json::json!([1, 2]));
        assert_eq!(h.ops[0].outcome, Outcome::Info);
        assert_eq!(h.ops[1].output, serde_json::json!(3));
    }

    fn error_of(text: &str, format: Format) -> HistoryError {
        parse_str("bad.hist", text, format).unwrap_err()
    }

    #[test]
    fn each_kind_of_bad_input_names_line_and_problem() {
        let e = error_of(
            "{\"time\":1,\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}\n{\"time\":2,\"process\":1,\"type\":\"done\",\"f\":\"read\"}",
            Format::Jsonl,
        );
        assert_eq!(
            (e.line, e.message.contains("unknown type \"done\"")),
            (2, true),
            "{e}"
        );
        assert_eq!(e.to_string().split(':').next(), Some("bad.hist"));

        let e = error_of(
            "{\"time\":1,\"process\":1,\"type\":\"ok\",\"f\":\"read\"}",
            Format::Jsonl,
        );
        assert!(e.message.contains("no invocation"), "{e}");

        let e = error_of("{\"time\":1,\"process\":1,\"type\":\"inv", Format::Jsonl);
        assert!(e.message.contains("truncated"), "{e}");

        let e = error_of(
            "{\"time\":1,\"process\":-4,\"type\":\"invoke\",\"f\":\"read\"}",
            Format::Jsonl,
        );
        assert!(e.message.contains("process must be"), "{e}");

        let e = error_of(
            "{\"process\":1,\"type\":\"invoke\",\"f\":\"read\"}",
            Format::Jsonl,
        );
        assert!(e.message.contains("missing field \"time\""), "{e}");

        let e = error_of(
            "{:process 1, :type :invoke, :f :get, :key \"0\", :value",
            Format::JepsenEdn,
        );
        assert!(e.message.contains("truncated"), "{e}");

        let e = error_of("INFO  jepsen.util - 2\t:invoke", Format::JepsenLog);
        assert!(e.message.contains("truncated"), "{e}");

        let e = error_of(
            "INFO  jepsen.util - 2\t:begin\t:read\tnil",
            Format::JepsenLog,
        );
        assert!(e.message.contains("unknown type"), "{e}");

        let e = error_of("what is this", Format::Auto);
        assert!(e.message.contains("cannot tell the format"), "{e}");
    }
}
