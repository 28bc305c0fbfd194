//! Histories: the events a test recorded, and the operations they pair into.
//!
//! A history is a sequence of events in real-time order. Each client process invokes one
//! operation at a time and completes it exactly once: `ok` (it happened), `fail` (it certainly did
//! not happen) or `info` (indeterminate: it may take effect at any moment after its invocation, or
//! never). An operation still open at the end of the history is indeterminate too. Events of the
//! `nemesis` process describe faults; they are kept for reports and never checked.
//!
//! [`History::from_events`] pairs events into [`Operation`]s and rejects malformed histories with a
//! [`HistoryError`] that names the line and the problem.

use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;
use std::fmt;

/// A short string many operations share — a function (`read`), a key, a node, a phase — held
/// once per history and shared, so that a million operations do not hold a million copies of
/// `"read"`. It reads as a `str`.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Name(std::sync::Arc<str>);

impl Name {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Name {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Name {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl From<&str> for Name {
    fn from(s: &str) -> Name {
        Name(s.into())
    }
}

impl From<String> for Name {
    fn from(s: String) -> Name {
        Name(s.into())
    }
}

/// The names of one history, each held once.
#[derive(Debug, Default)]
struct Names(std::collections::HashSet<Name>);

impl Names {
    fn intern(&mut self, s: String) -> Name {
        if let Some(n) = self.0.get(s.as_str()) {
            return n.clone();
        }
        let n = Name::from(s);
        self.0.insert(n.clone());
        n
    }
}

/// Who issued an event.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(untagged)]
pub enum Process {
    Client(u64),
    /// The fault injector; `"nemesis"` in the native format.
    Nemesis,
}

impl fmt::Display for Process {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Process::Client(p) => write!(f, "{p}"),
            Process::Nemesis => f.write_str("nemesis"),
        }
    }
}

/// The kind of an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    Invoke,
    Ok,
    Fail,
    Info,
}

impl EventType {
    pub fn parse(s: &str) -> Option<EventType> {
        match s {
            "invoke" => Some(EventType::Invoke),
            "ok" => Some(EventType::Ok),
            "fail" => Some(EventType::Fail),
            "info" => Some(EventType::Info),
            _ => None,
        }
    }
}

/// One line of a history, as recorded.
#[derive(Clone, Debug, Serialize)]
pub struct Event {
    pub index: u64,
    /// Nanoseconds since the start of the test. Importers of formats without times use the
    /// event's position, which preserves order.
    pub time: u64,
    pub process: Process,
    #[serde(rename = "type")]
    pub kind: EventType,
    pub f: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    pub value: Value,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Fields this crate gives no meaning to, kept for reports.
    #[serde(flatten)]
    pub extra: serde_json::Map<String, Value>,
    /// 1-based line in the source file, for error messages.
    #[serde(skip)]
    pub line: usize,
}

impl Event {
    /// A client's event at `position` (its index, time and line), with nothing but what every
    /// event has; the optional fields are empty.
    pub fn client(
        position: usize,
        process: u64,
        kind: EventType,
        f: &str,
        key: Option<&str>,
        value: Value,
    ) -> Event {
        Event {
            index: position as u64,
            time: position as u64,
            process: Process::Client(process),
            kind,
            f: f.to_string(),
            key: key.map(str::to_string),
            value,
            node: None,
            version: None,
            phase: None,
            error: None,
            extra: Default::default(),
            line: position + 1,
        }
    }
}

/// How an operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// It happened, and its completion value is what it returned.
    Ok,
    /// It certainly did not happen.
    Fail,
    /// It may have happened at any moment after its invocation, or never.
    Info,
}

/// An invocation paired with its completion.
#[derive(Clone, Debug, Serialize)]
pub struct Operation {
    /// Position of this operation among the history's operations, in invocation order.
    pub id: usize,
    pub process: u64,
    pub f: Name,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<Name>,
    /// The invocation's value (a write's value, a cas's `[old, new]`, null for a read).
    pub input: Value,
    /// The completion's value when the operation is `ok` (what a read returned).
    pub output: Value,
    pub outcome: Outcome,
    /// Position of the invocation in [`History::events`].
    pub invoke_event: usize,
    /// Position of the completion in [`History::events`]; `None` when the history ends first.
    pub complete_event: Option<usize>,
    pub invoke_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub complete_time: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub phase: Option<Name>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip)]
    pub invoke_line: usize,
    #[serde(skip)]
    pub complete_line: Option<usize>,
    /// The events' own `index` fields, as the file gave them.
    #[serde(skip)]
    pub invoke_index: u64,
    #[serde(skip)]
    pub complete_index: Option<u64>,
    /// Fields of its events this crate gives no meaning to (the completion's over the
    /// invocation's), kept for reports and export.
    #[serde(skip_serializing_if = "serde_json::Map::is_empty")]
    pub extra: serde_json::Map<String, Value>,
}

impl Operation {
    /// The key as the reports name it.
    pub fn key_string(&self) -> Option<String> {
        self.key.as_ref().map(Name::to_string)
    }

    /// Whether this operation says anything about the object: a failed one did not happen, and
    /// an indeterminate read returned nothing anyone knows. The search, the exact check and the
    /// witnesses all leave out the rest.
    pub fn says_something(&self) -> bool {
        self.outcome == Outcome::Ok || (self.outcome == Outcome::Info && self.f != "read")
    }

    /// The source line that best explains this operation's value: the completion for an ok
    /// operation, otherwise the invocation.
    pub fn value_line(&self) -> usize {
        match (self.outcome, self.complete_line) {
            (Outcome::Ok, Some(l)) => l,
            _ => self.invoke_line,
        }
    }
}

/// A malformed history: where (file, line and, where known, column), and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct HistoryError {
    pub source_name: String,
    pub line: usize,
    pub column: Option<usize>,
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.column {
            Some(c) => write!(
                f,
                "{}:{}:{c}: {}",
                self.source_name, self.line, self.message
            ),
            None => write!(f, "{}:{}: {}", self.source_name, self.line, self.message),
        }
    }
}

impl HistoryError {
    pub fn new(source_name: &str, line: usize, message: impl Into<String>) -> HistoryError {
        HistoryError {
            source_name: source_name.to_string(),
            line,
            column: None,
            message: message.into(),
        }
    }

    pub fn at(
        source_name: &str,
        line: usize,
        column: usize,
        message: impl Into<String>,
    ) -> HistoryError {
        HistoryError {
            column: Some(column),
            ..HistoryError::new(source_name, line, message)
        }
    }
}

/// What a history's event times mean for its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeOrder {
    /// Times are the order: one that goes back is an error (faultline's own histories).
    Strict,
    /// The position in the file is the order, as in Jepsen's files; times are kept for display,
    /// and one that goes back is noted once.
    Positional,
}

/// A parsed and validated history.
#[derive(Clone, Debug, Default)]
pub struct History {
    /// Where the history came from (a file name), for messages.
    pub source_name: String,
    /// The format it was read from (`Jsonl` for histories built in memory).
    pub format: crate::import::Format,
    /// Client operations in invocation order. They hold everything their events said, so the
    /// events themselves are not kept: [`History::events`] rebuilds them.
    pub ops: Vec<Operation>,
    /// The fault events, in order ([`History::nemesis_events`]).
    nemesis: Vec<Event>,
    /// Every event's place, in the history's order.
    order: Vec<Slot>,
    /// Whether event times are real nanoseconds; formats without times use each event's
    /// position instead, and reports then say "event N" rather than seconds.
    pub timed: bool,
    /// What reading it noticed and a person should know (times out of order, keys split from
    /// tuples, conventions applied), one sentence each.
    pub notes: Vec<String>,
}

impl History {
    /// Pairs events into operations, checking that the history is well formed: every
    /// completion follows an invocation by the same process, no process has two operations in
    /// flight, completions name the same function as their invocation, and times never go back.
    pub fn from_events(source_name: &str, events: Vec<Event>) -> Result<History, HistoryError> {
        History::from_events_ordered(source_name, events, TimeOrder::Strict)
    }

    /// [`History::from_events`], with the order `times` says.
    pub fn from_events_ordered(
        source_name: &str,
        events: Vec<Event>,
        times: TimeOrder,
    ) -> Result<History, HistoryError> {
        let mut builder = HistoryBuilder::new(source_name, times, events.len());
        for ev in events {
            builder.push(ev)?;
        }
        Ok(builder.finish())
    }

    /// The operations grouped by key, keys in order of first appearance.
    pub fn by_key(&self) -> Vec<(Option<String>, Vec<&Operation>)> {
        by_key(&self.ops)
    }

    /// The fault events, for reports.
    pub fn nemesis_events(&self) -> impl Iterator<Item = &Event> {
        self.nemesis.iter()
    }

    /// How many events the history has.
    pub fn event_count(&self) -> usize {
        self.order.len()
    }

    /// The time of the event at `pos`.
    pub fn time_at(&self, pos: usize) -> u64 {
        match self.order[pos] {
            Slot::Invoke(i) => self.ops[i as usize].invoke_time,
            Slot::Complete(i) => self.ops[i as usize]
                .complete_time
                .expect("a completion slot has a time"),
            Slot::Nemesis(i) => self.nemesis[i as usize].time,
        }
    }

    /// The times of the first and last events, if there are any.
    pub fn span(&self) -> Option<(u64, u64)> {
        let n = self.event_count();
        (n > 0).then(|| (self.time_at(0), self.time_at(n - 1)))
    }

    /// The event at `pos`, rebuilt from its operation. A completion's value is what the
    /// operation returned when it is `ok`, and its invocation's value otherwise (what Jepsen and
    /// faultline write there); the completion carries the node, version, error and extra fields.
    pub fn event(&self, pos: usize) -> Event {
        let (op, complete) = match self.order[pos] {
            Slot::Nemesis(i) => return self.nemesis[i as usize].clone(),
            Slot::Invoke(i) => (&self.ops[i as usize], false),
            Slot::Complete(i) => (&self.ops[i as usize], true),
        };
        let base = Event {
            index: op.invoke_index,
            time: op.invoke_time,
            process: Process::Client(op.process),
            kind: EventType::Invoke,
            f: op.f.to_string(),
            key: op.key.as_ref().map(Name::to_string),
            value: op.input.clone(),
            node: None,
            version: None,
            phase: op.phase.as_ref().map(Name::to_string),
            error: None,
            extra: serde_json::Map::new(),
            line: op.invoke_line,
        };
        if !complete {
            return base;
        }
        Event {
            index: op.complete_index.unwrap_or(op.invoke_index),
            time: op.complete_time.unwrap_or(op.invoke_time),
            kind: match op.outcome {
                Outcome::Ok => EventType::Ok,
                Outcome::Fail => EventType::Fail,
                Outcome::Info => EventType::Info,
            },
            value: if op.outcome == Outcome::Ok {
                op.output.clone()
            } else {
                op.input.clone()
            },
            node: op.node.as_ref().map(Name::to_string),
            version: op.version,
            error: op.error.clone(),
            extra: op.extra.clone(),
            line: op.complete_line.unwrap_or(op.invoke_line),
            ..base
        }
    }

    /// Every event, in order, rebuilt.
    pub fn events(&self) -> impl Iterator<Item = Event> + '_ {
        (0..self.event_count()).map(|p| self.event(p))
    }
}

/// Pairs events into a [`History`] as they arrive, one at a time, each moved (not copied) into
/// its operation: an importer streams a file through it without ever holding the events.
pub struct HistoryBuilder<'s> {
    source_name: &'s str,
    times: TimeOrder,
    ops: Vec<Operation>,
    nemesis: Vec<Event>,
    order: Vec<Slot>,
    in_flight: HashMap<u64, usize>,
    last_time: u64,
    notes: Vec<String>,
    names: Names,
}

impl<'s> HistoryBuilder<'s> {
    /// A builder expecting about `events` events (a hint; more or fewer are fine).
    pub fn new(source_name: &'s str, times: TimeOrder, events: usize) -> HistoryBuilder<'s> {
        HistoryBuilder {
            source_name,
            times,
            ops: Vec::with_capacity(events / 2 + 1),
            nemesis: Vec::new(),
            order: Vec::with_capacity(events),
            in_flight: HashMap::new(),
            last_time: 0,
            notes: Vec::new(),
            names: Names::default(),
        }
    }

    /// The history so far; operations still in flight stay indeterminate.
    pub fn finish(self) -> History {
        let HistoryBuilder {
            mut ops,
            nemesis,
            mut order,
            notes,
            ..
        } = self;
        ops.shrink_to_fit();
        order.shrink_to_fit();
        History {
            source_name: self.source_name.to_string(),
            format: crate::import::Format::Jsonl,
            ops,
            nemesis,
            order,
            timed: true,
            notes,
        }
    }

    fn err(&self, line: usize, msg: String) -> HistoryError {
        HistoryError::new(self.source_name, line, msg)
    }

    /// Adds the next event, checking that it follows from the ones before.
    pub fn push(&mut self, ev: Event) -> Result<(), HistoryError> {
        let pos = self.order.len();
        if ev.time < self.last_time {
            let msg = format!(
                "time {} is earlier than the previous event's {}",
                ev.time, self.last_time
            );
            if self.times == TimeOrder::Strict {
                return Err(self.err(ev.line, format!("{msg}; times must not decrease")));
            }
            if self.notes.is_empty() {
                self.notes.push(format!(
                    "line {}: {msg}; the file's order is used, as Jepsen does, and times are kept for display only",
                    ev.line
                ));
            }
        }
        self.last_time = self.last_time.max(ev.time);
        let process = match ev.process {
            Process::Nemesis => {
                self.order.push(Slot::Nemesis(self.nemesis.len() as u32));
                self.nemesis.push(ev);
                return Ok(());
            }
            Process::Client(p) => p,
        };
        match ev.kind {
            EventType::Invoke => self.invoke(process, pos, ev),
            kind => self.complete(process, pos, kind, ev),
        }
    }

    fn invoke(&mut self, process: u64, pos: usize, ev: Event) -> Result<(), HistoryError> {
        if let Some(&open) = self.in_flight.get(&process) {
            let open = &self.ops[open];
            return Err(self.err(
                ev.line,
                format!(
                    "process {process} invokes {} while its {} from line {} is still in flight",
                    ev.f, open.f, open.invoke_line
                ),
            ));
        }
        let id = self.ops.len();
        self.in_flight.insert(process, id);
        self.order.push(Slot::Invoke(id as u32));
        let names = &mut self.names;
        self.ops.push(Operation {
            id,
            process,
            f: names.intern(ev.f),
            key: ev.key.map(|k| names.intern(k)),
            input: ev.value,
            output: Value::Null,
            outcome: Outcome::Info,
            invoke_event: pos,
            complete_event: None,
            invoke_time: ev.time,
            complete_time: None,
            node: ev.node.map(|n| names.intern(n)),
            version: None,
            phase: ev.phase.map(|p| names.intern(p)),
            error: None,
            invoke_line: ev.line,
            complete_line: None,
            invoke_index: ev.index,
            complete_index: None,
            extra: ev.extra,
        });
        Ok(())
    }

    fn complete(
        &mut self,
        process: u64,
        pos: usize,
        kind: EventType,
        ev: Event,
    ) -> Result<(), HistoryError> {
        let Some(i) = self.in_flight.remove(&process) else {
            return Err(self.err(
                ev.line,
                format!(
                    "{} completion of {} by process {process} has no invocation in flight",
                    type_name(kind),
                    ev.f
                ),
            ));
        };
        let op = &self.ops[i];
        if op.f != ev.f {
            return Err(self.err(
                ev.line,
                format!(
                    "completion names {} but process {process} invoked {} at line {}",
                    ev.f, op.f, op.invoke_line
                ),
            ));
        }
        if ev.key.is_some() && ev.key.as_deref() != op.key.as_deref() {
            return Err(self.err(
                ev.line,
                format!(
                    "completion names key {:?} but the invocation at line {} named {:?}",
                    ev.key.as_deref().unwrap_or(""),
                    op.invoke_line,
                    op.key.as_deref().unwrap_or("")
                ),
            ));
        }
        self.order.push(Slot::Complete(i as u32));
        let node = ev.node.map(|n| self.names.intern(n));
        let phase = ev.phase.map(|p| self.names.intern(p));
        let op = &mut self.ops[i];
        op.outcome = match kind {
            EventType::Ok => Outcome::Ok,
            EventType::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        if op.outcome == Outcome::Ok {
            op.output = ev.value;
        }
        op.complete_event = Some(pos);
        op.complete_time = Some(ev.time);
        op.complete_line = Some(ev.line);
        op.complete_index = Some(ev.index);
        if node.is_some() {
            op.node = node;
        }
        op.version = ev.version;
        if phase.is_some() {
            op.phase = phase;
        }
        op.error = ev.error;
        op.extra.extend(ev.extra);
        Ok(())
    }
}

/// Where one event of a history stands: an operation's invocation or completion, or a fault.
#[derive(Clone, Copy, Debug)]
enum Slot {
    Invoke(u32),
    Complete(u32),
    Nemesis(u32),
}

/// `ops` grouped by key, keys in order of first appearance, each group in the given order.
pub fn by_key<'h>(
    ops: impl IntoIterator<Item = &'h Operation>,
) -> Vec<(Option<String>, Vec<&'h Operation>)> {
    let mut slots: HashMap<Option<&str>, usize> = HashMap::new();
    let mut groups: Vec<(Option<String>, Vec<&Operation>)> = Vec::new();
    for op in ops {
        let slot = *slots.entry(op.key.as_deref()).or_insert_with(|| {
            groups.push((op.key_string(), Vec::new()));
            groups.len() - 1
        });
        groups[slot].1.push(op);
    }
    groups
}

fn type_name(kind: EventType) -> &'static str {
    match kind {
        EventType::Invoke => "invoke",
        EventType::Ok => "ok",
        EventType::Fail => "fail",
        EventType::Info => "info",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(line: usize, process: u64, kind: EventType, f: &str, value: Value) -> Event {
        Event {
            line,
            ..Event::client(line, process, kind, f, None, value)
        }
    }

    #[test]
    fn pairs_invocations_with_completions() {
        let h = History::from_events(
            "t",
            vec![
                ev(1, 1, EventType::Invoke, "write", 1.into()),
                ev(2, 2, EventType::Invoke, "read", Value::Null),
                ev(3, 1, EventType::Ok, "write", 1.into()),
                ev(4, 2, EventType::Info, "read", Value::Null),
                ev(5, 1, EventType::Invoke, "read", Value::Null),
            ],
        )
        .unwrap();
        assert_eq!(h.ops.len(), 3);
        assert_eq!(h.ops[0].outcome, Outcome::Ok);
        assert_eq!(h.ops[0].complete_event, Some(2));
        assert_eq!(h.ops[1].outcome, Outcome::Info);
        assert_eq!(h.ops[2].outcome, Outcome::Info, "open at the end");
        assert_eq!(h.ops[2].complete_event, None);
    }

    #[test]
    fn rejects_completion_without_invoke() {
        let e = History::from_events("t", vec![ev(7, 1, EventType::Ok, "read", Value::Null)])
            .unwrap_err();
        assert_eq!(e.line, 7);
        assert!(e.message.contains("no invocation in flight"), "{e}");
    }

    #[test]
    fn rejects_second_invoke_in_flight() {
        let e = History::from_events(
            "t",
            vec![
                ev(1, 1, EventType::Invoke, "read", Value::Null),
                ev(2, 1, EventType::Invoke, "write", 3.into()),
            ],
        )
        .unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("still in flight"), "{e}");
    }

    #[test]
    fn rejects_mismatched_completion_and_time_going_back() {
        let e = History::from_events(
            "t",
            vec![
                ev(1, 1, EventType::Invoke, "read", Value::Null),
                ev(2, 1, EventType::Ok, "write", 3.into()),
            ],
        )
        .unwrap_err();
        assert!(e.message.contains("invoked read"), "{e}");
        let mut late = ev(1, 1, EventType::Invoke, "read", Value::Null);
        late.time = 10;
        let e = History::from_events(
            "t",
            vec![late, ev(2, 1, EventType::Ok, "read", Value::Null)],
        )
        .unwrap_err();
        assert!(e.message.contains("must not decrease"), "{e}");
    }
}
