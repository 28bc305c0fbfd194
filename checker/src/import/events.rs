//! From each format's records to [`Event`]s: JSON objects, EDN maps, `history.txt` lines and
//! `jepsen.log` lines.

use super::{edn, for_each_line, Format};
use crate::history::{Event, EventType, HistoryBuilder, HistoryError, Process};
use base::cut;
use serde_json::{Map, Value};
use std::io::{BufRead, Read};

/// Reads the events of an EDN history into `history`; returns whether every one has a `:time`.
pub fn edn<R: Read>(
    name: &str,
    src: R,
    history: &mut HistoryBuilder,
) -> Result<bool, HistoryError> {
    let at = |e: edn::EdnError| HistoryError::at(name, e.pos.line, e.pos.column, e.message);
    let mut r = edn::Reader::new(std::io::BufReader::new(src));
    let wrapper = r.open_wrapper().map_err(at)?;
    let mut timed = true;
    let mut position = 0u64;
    loop {
        let next = match wrapper {
            Some(close) => r.next_in(close),
            None => r.next_form(),
        };
        let Some((pos, value)) = next.map_err(at)? else {
            break;
        };
        let Value::Object(map) = value else {
            return Err(HistoryError::at(
                name,
                pos.line,
                pos.column,
                format!("expected an EDN map for the event, found {}", short(&value)),
            ));
        };
        timed &= map.contains_key("time");
        let event = event_from_map(map, pos.line, position, false)
            .map_err(|m| HistoryError::at(name, pos.line, pos.column, m))?;
        position += 1;
        history.push(event)?;
    }
    Ok(timed)
}

/// What reading a line format learned besides its events.
pub struct LinesRead {
    /// Whether the events carry real times (faultline's JSON Lines; a `jepsen.log` whose
    /// operations carry Jepsen's relative time in nanoseconds).
    pub timed: bool,
    /// What a person should know: a last line cut short (a crash), and skipped.
    pub notes: Vec<String>,
}

/// Reads the events of a line format (JSON Lines, `history.txt`, `jepsen.log`) into `history`.
///
/// A line that cannot be read is an error naming it — unless it is the last line and the file
/// ends without its newline, as a log a crash cut in the middle does: that one is skipped and
/// said in a note, and the rest is judged. A `jepsen.log` with `jepsen.util` lines none of which is an operation is an error,
/// never an empty history.
pub fn lines<R: BufRead>(
    name: &str,
    src: R,
    format: Format,
    history: &mut HistoryBuilder,
) -> Result<LinesRead, HistoryError> {
    let mut position = 0u64;
    let mut pending: Option<(HistoryError, String)> = None;
    let (mut util_lines, mut first_util): (usize, Option<(usize, String)>) = (0, None);
    let mut all_timed = true;
    let mut ends_with_newline = true;
    for_each_line(name, src, |line_no, raw| {
        ends_with_newline = raw.ends_with('\n');
        let line = raw.trim();
        if line.is_empty() {
            return Ok(());
        }
        if let Some((e, _)) = pending.take() {
            return Err(e);
        }
        let event = match format {
            Format::Jsonl => json_line(line, line_no, position).map(Some),
            Format::JepsenText => operation(line, line_no, position).map(Some),
            Format::JepsenLog => match log_message(line) {
                Some(msg) => {
                    util_lines += 1;
                    first_util.get_or_insert_with(|| (line_no, line.to_string()));
                    let (time, msg) = relative_time(msg);
                    if looks_like_operation(msg) {
                        operation(msg, line_no, position).map(|mut e| {
                            match time {
                                Some(t) => e.time = t,
                                None => all_timed = false,
                            }
                            Some(e)
                        })
                    } else {
                        Ok(None)
                    }
                }
                None => Ok(None),
            },
            Format::Auto | Format::JepsenEdn => unreachable!("not a line format"),
        };
        match event {
            Ok(Some(event)) => {
                position += 1;
                history.push(event)?;
            }
            Ok(None) => {}
            Err(msg) => pending = Some((HistoryError::new(name, line_no, msg), line.to_string())),
        }
        Ok(())
    })?;
    let mut notes = Vec::new();
    if let Some((e, line)) = pending {
        let cut_short = ["EOF while parsing", "truncated", "the input ends"]
            .iter()
            .any(|w| e.message.contains(w));
        if position == 0 || ends_with_newline || !cut_short {
            // Nothing before it was read, it ends as a whole line does, or what is wrong with
            // it is not its end: a bad line, not a cut one.
            return Err(e);
        }
        notes.push(format!(
            "the last line ({}) is cut short and was skipped — the log ends mid-line, as after a crash: {}; the rest was judged: {:?}",
            e.line,
            e.message,
            cut(&line, 80)
        ));
    } else if !ends_with_newline && position > 0 && format != Format::Jsonl {
        notes.push(
            "the file does not end with a newline: its last line may have been cut short (read as it stands)"
                .into(),
        );
    }
    if format == Format::JepsenLog && position == 0 && util_lines > 0 {
        let (line_no, example) = first_util.expect("counted");
        return Err(HistoryError::new(
            name,
            line_no,
            format!(
                "{util_lines} jepsen.util lines, but none is an operation faultline can read (process, type, function, value); the first: {:?}",
                cut(&example, 120)
            ),
        ));
    }
    Ok(LinesRead {
        timed: format == Format::Jsonl
            || (format == Format::JepsenLog && position > 0 && all_timed),
        notes,
    })
}

/// A `jepsen.util` message's leading relative time, `[ 183823060135 ] 0 :invoke …` (Jepsen
/// of the 2020s: nanoseconds since the test began), split from the rest.
fn relative_time(msg: &str) -> (Option<u64>, &str) {
    let Some(inner) = msg.strip_prefix('[') else {
        return (None, msg);
    };
    let Some(end) = inner.find(']') else {
        return (None, msg);
    };
    match inner[..end].trim().parse::<u64>() {
        Ok(t) => (Some(t), inner[end + 1..].trim_start()),
        Err(_) => (None, msg),
    }
}

fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 {
        format!("{}…", text.chars().take(57).collect::<String>())
    } else {
        text
    }
}

fn json_line(line: &str, line_no: usize, position: u64) -> Result<Event, String> {
    let fields: Fields = serde_json::from_str(line).map_err(|e| {
        if e.is_eof() {
            format!("truncated JSON: {e}")
        } else if e.classify() == serde_json::error::Category::Data {
            "expected a JSON object for the event".to_string()
        } else {
            format!("malformed JSON: {e}")
        }
    })?;
    fields.into_event(line_no, position, true)
}

/// The fields of one event, as read: the ones faultline knows each in its place (read straight
/// from the text, with no map of names in between), the others kept in `extra`.
#[derive(Default)]
struct Fields {
    kind: Option<Value>,
    process: Option<Value>,
    f: Option<Value>,
    key: Option<Value>,
    index: Option<Value>,
    time: Option<Value>,
    value: Option<Value>,
    node: Option<Value>,
    phase: Option<Value>,
    error: Option<Value>,
    version: Option<Value>,
    extra: Map<String, Value>,
}

impl Fields {
    fn slot(&mut self, name: &str) -> Option<&mut Option<Value>> {
        Some(match name {
            "type" => &mut self.kind,
            "process" => &mut self.process,
            "f" => &mut self.f,
            "key" => &mut self.key,
            "index" => &mut self.index,
            "time" => &mut self.time,
            "value" => &mut self.value,
            "node" => &mut self.node,
            "phase" => &mut self.phase,
            "error" => &mut self.error,
            "version" => &mut self.version,
            _ => return None,
        })
    }

    fn from_map(map: Map<String, Value>) -> Fields {
        let mut fields = Fields::default();
        for (k, v) in map {
            match fields.slot(&k) {
                Some(slot) => *slot = Some(v),
                None => {
                    fields.extra.insert(k, v);
                }
            }
        }
        fields
    }

    /// What a missing `f` says: the fields the event does have.
    fn missing_f(&self) -> String {
        let present: Vec<&str> = [
            ("type", self.kind.is_some()),
            ("process", self.process.is_some()),
            ("key", self.key.is_some()),
            ("time", self.time.is_some()),
            ("value", self.value.is_some()),
        ]
        .iter()
        .filter(|(_, here)| *here)
        .map(|(n, _)| *n)
        .chain(self.extra.keys().map(String::as_str))
        .collect();
        format!(
            "missing field \"f\" (the operation: read, write, cas, …); this event has only {}",
            present.join(", ")
        )
    }

    /// The event these fields describe, or what is wrong with them.
    fn into_event(
        mut self,
        line: usize,
        position: u64,
        time_in_format: bool,
    ) -> Result<Event, String> {
        if self.f.is_none() {
            // Elle's and TiDB's histories write transactions without `:f`.
            match self.value.as_ref().and_then(crate::model::micro_ops) {
                Some(_) => self.f = Some(Value::String("txn".into())),
                None => return Err(self.missing_f()),
            }
        }
        let kind = match self.kind {
            Some(Value::String(s)) => EventType::parse(&s)
                .ok_or_else(|| format!("unknown type {s:?}; expected invoke, ok, fail or info"))?,
            Some(other) => return Err(format!("type must be a string, found {other}")),
            None => return Err("missing field \"type\"".into()),
        };
        let process = match self.process {
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
        let f = match self.f {
            Some(Value::String(s)) => s,
            Some(other) => return Err(format!("f must be a string, found {other}")),
            None => unreachable!("checked above"),
        };
        let key = match self.key {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(Value::Number(n)) => Some(n.to_string()),
            Some(other) => return Err(format!("key must be a string, found {other}")),
        };
        let index = match self.index {
            None => position,
            Some(v) => v
                .as_u64()
                .ok_or_else(|| format!("index must be a non-negative integer, found {v}"))?,
        };
        let time = match self.time {
            None if time_in_format => {
                return Err("missing field \"time\" (nanoseconds since the start)".into())
            }
            None => position,
            Some(v) => v.as_u64().ok_or_else(|| {
                format!("time must be non-negative integer nanoseconds, found {v}")
            })?,
        };
        let error = match self.error {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s),
            Some(other) => Some(other.to_string()),
        };
        let version = match self.version {
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
            value: self.value.unwrap_or(Value::Null),
            node: optional_string(self.node, "node")?,
            version,
            phase: optional_string(self.phase, "phase")?,
            error,
            extra: self.extra,
            line,
        })
    }
}

impl<'de> serde::Deserialize<'de> for Fields {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Fields, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Fields;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object for the event")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Fields, A::Error> {
                let mut fields = Fields::default();
                while let Some(name) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match fields.slot(&name) {
                        Some(slot) => *slot = Some(map.next_value()?),
                        None => {
                            let v = map.next_value()?;
                            fields.extra.insert(name.into_owned(), v);
                        }
                    }
                }
                Ok(fields)
            }
        }
        d.deserialize_map(Visitor)
    }
}

/// Builds an event from a map with the native field names (EDN keywords arrive without colons).
pub fn event_from_map(
    map: Map<String, Value>,
    line: usize,
    position: u64,
    time_in_format: bool,
) -> Result<Event, String> {
    Fields::from_map(map).into_event(line, position, time_in_format)
}

fn optional_string(v: Option<Value>, field: &str) -> Result<Option<String>, String> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(other) => Err(format!("{field} must be a string, found {other}")),
    }
}

const TYPES: [&str; 4] = [":invoke", ":ok", ":fail", ":info"];
const LEVELS: [&str; 7] = [
    "TRACE", "DEBUG", "INFO", "WARN", "WARNING", "ERROR", "FATAL",
];

fn is_process(token: &str) -> bool {
    token == ":nemesis" || token == "nemesis" || token.bytes().all(|b| b.is_ascii_digit())
}

/// A `history.txt` line: a process, an operation type and a function keyword.
pub fn is_text_line(line: &str) -> bool {
    let mut t = line.split_whitespace();
    matches!(
        (t.next(), t.next(), t.next()),
        (Some(p), Some(ty), Some(f)) if is_process(p) && TYPES.contains(&ty) && f.starts_with(':')
    )
}

/// A log line in one of Jepsen's layouts: a log level among its first three fields.
pub fn is_log_line(line: &str) -> bool {
    line.split_whitespace()
        .take(3)
        .any(|t| LEVELS.contains(&t.trim_matches(|c| c == '[' || c == ']')))
}

/// The message of a `jepsen.util` log line, in any of Jepsen's layouts (fields after the
/// logger separated by tabs, shown here as `→`):
/// - 2014: `INFO  jepsen.util - 2→:invoke→:read→nil`
/// - 2016–2018: `INFO [2017-08-14 13:48:32,548] jepsen worker 3 - jepsen.util 3→:invoke→:read→nil`
/// - 2019 on: `2021-02-26 23:39:01,300{GMT}→INFO→[jepsen worker 1] jepsen.util: 1→:invoke→:write→[0 2]`
fn log_message(line: &str) -> Option<&str> {
    const LOGGER: &str = "jepsen.util";
    let mut from = 0;
    while let Some(found) = line[from..].find(LOGGER) {
        let start = from + found;
        let end = start + LOGGER.len();
        let before_ok = start == 0 || line[..start].ends_with([' ', '\t', ']']);
        let rest = &line[end..];
        if before_ok && rest.starts_with([':', ' ', '\t']) {
            let rest = rest.strip_prefix(':').unwrap_or(rest).trim_start();
            let rest = rest.strip_prefix("- ").unwrap_or(rest).trim_start();
            return Some(rest);
        }
        from = end;
    }
    None
}

/// Whether a `jepsen.util` message logs an operation (other messages of that logger are passed
/// over): a process, then a keyword. A wrong keyword is then an error, not a silent skip.
fn looks_like_operation(msg: &str) -> bool {
    let mut t = msg.split_whitespace();
    matches!((t.next(), t.next()), (Some(p), Some(ty)) if is_process(p) && ty.starts_with(':'))
}

/// `PROCESS TYPE F VALUE [ERROR]`, fields separated by tabs or spaces, the value and the error
/// as EDN: a `history.txt` line or a `jepsen.log` operation message.
fn operation(line: &str, line_no: usize, position: u64) -> Result<Event, String> {
    let mut rest = line;
    let mut field = |what: &str| -> Result<&str, String> {
        let trimmed = rest.trim_start();
        let end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        if end == 0 {
            return Err(format!("truncated operation line: missing {what}"));
        }
        rest = &trimmed[end..];
        Ok(&trimmed[..end])
    };
    let process = field("the process")?;
    let kind = field("the type")?;
    let f = field("the function")?;
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
    let (value, error) = value_and_error(rest.trim(), process == Process::Nemesis)?;
    Ok(Event {
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
        error,
        extra: Map::new(),
        line: line_no,
    })
}

fn value_and_error(text: &str, nemesis: bool) -> Result<(Value, Option<String>), String> {
    if text.is_empty() {
        return if nemesis {
            Ok((Value::Null, None))
        } else {
            Err("truncated operation line: missing the value".into())
        };
    }
    let (value, rest) =
        edn::parse_prefix(text).map_err(|e| format!("bad value {text:?}: {}", e.message))?;
    let rest = rest.trim();
    if rest.is_empty() {
        return Ok((value, None));
    }
    let error = match edn::parse(rest) {
        Ok(Value::String(s)) => s,
        Ok(other) => other.to_string(),
        // Errors are free text in some logs; keep them as they are.
        Err(_) => rest.to_string(),
    };
    Ok((value, Some(error)))
}
