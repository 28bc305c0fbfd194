//! Transactions read straight from the text, for the histories that are big.
//!
//! The general reader ([`crate::import`]) turns every event into a JSON value and pairs them
//! into a [`crate::History`]; a list-append history of a million transactions then holds each
//! micro-op three times and a value per list element. This reader goes from the bytes of a
//! one-event-per-line file (Jepsen's EDN as Jepsen and Elle write it, or faultline's JSON
//! Lines) to [`Txn`]s in one pass, reading only the fields a transaction needs (`type`,
//! `process`, `f`, `time`, `value`) and skipping the rest by their brackets.
//!
//! It never judges the input: anything it does not expect — a form over several lines, a time
//! that goes back, a completion with no invocation, a micro-op of another shape — makes it
//! give up ([`fast`] returns `None`), and the caller reads the file the general way, whose
//! errors and notes are the one source of what is wrong with a history. On the files it does
//! read it gives exactly the transactions the general way gives ([`super::parse::transactions`]);
//! a test holds it to that.

use super::parse::{Micro, Txn};
use crate::history::Outcome;
use rustc_hash::FxHashMap as HashMap;

/// The transactions of `text`, or `None` when it is not a clean one-event-per-line history of
/// transactions (then read it the general way).
pub fn fast(text: &str) -> Option<Vec<Txn>> {
    let json = text.trim_start().starts_with("{\"");
    // About 250 bytes a transaction in a typical file: one allocation, rarely a second.
    let mut txns: Vec<Txn> = Vec::with_capacity(text.len() / 200);
    // Each process's transaction in flight, and the function its invocation named.
    let mut in_flight: HashMap<u64, (usize, &str)> = HashMap::default();
    let mut last_time = 0u64;
    let mut position = 0u64;
    // Keys written as numbers and keys written as names: a file with both goes to the general
    // reader, which tells `1` from `"1"` key by key.
    let mut kinds = KeyKinds::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let ev = event(line, json, &mut kinds)?;
        if kinds.numbers && kinds.names {
            return None;
        }
        let time = match ev.time {
            Some(t) => t,
            None if json => return None,
            None => position,
        };
        if time < last_time {
            return None;
        }
        last_time = time;
        position += 1;
        let Some(process) = ev.process else { continue };
        if ev.kind == Kind::Invoke {
            if in_flight.insert(process, (txns.len(), ev.f)).is_some() {
                return None;
            }
            txns.push(Txn {
                id: txns.len(),
                process,
                outcome: Outcome::Info,
                micro: ev.micro?,
                invoke_time: time,
                complete_time: None,
                final_read: ev.final_read,
            });
            continue;
        }
        let (at, f) = in_flight.remove(&process)?;
        if f != ev.f {
            return None;
        }
        let t = &mut txns[at];
        t.complete_time = Some(time);
        t.outcome = match ev.kind {
            Kind::Ok => Outcome::Ok,
            Kind::Fail => Outcome::Fail,
            _ => Outcome::Info,
        };
        if t.outcome == Outcome::Ok {
            t.micro = ev.micro?;
        }
    }
    (!txns.is_empty()).then_some(txns)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Invoke,
    Ok,
    Fail,
    Info,
}

/// One line's fields: `process` is `None` for the nemesis; `f` is `txn` when the line names
/// none (Elle's form); `micro` is `None` when the value is not a list of micro-ops.
struct Event<'a> {
    kind: Kind,
    f: &'a str,
    process: Option<u64>,
    time: Option<u64>,
    micro: Option<Vec<Micro>>,
    /// `phase: final`: one of the reads after the faults were healed.
    final_read: bool,
}

/// Which ways of writing a key the file has used.
#[derive(Default)]
struct KeyKinds {
    numbers: bool,
    names: bool,
}

fn event<'a>(line: &'a str, json: bool, kinds: &mut KeyKinds) -> Option<Event<'a>> {
    let mut c = Cursor::new(line);
    c.expect(b'{')?;
    let (mut kind, mut process, mut time, mut value, mut f) = (None, None, None, None, None);
    let mut final_read = false;
    loop {
        c.ws();
        if c.peek()? == b'}' {
            c.i += 1;
            break;
        }
        let name = c.name(json)?;
        c.ws();
        match name {
            "type" => {
                kind = Some(match c.word()? {
                    "invoke" => Kind::Invoke,
                    "ok" => Kind::Ok,
                    "fail" => Kind::Fail,
                    "info" => Kind::Info,
                    _ => return None,
                })
            }
            "process" => {
                process = Some(match c.peek()? {
                    b'0'..=b'9' => Some(c.int()?.try_into().ok()?),
                    _ if c.word()? == "nemesis" => None,
                    _ => return None,
                })
            }
            "time" => time = Some(c.int()?.try_into().ok()?),
            "value" => {
                let start = c.i;
                c.skip()?;
                value = Some(&line[start..c.i]);
            }
            "f" => f = Some(c.word()?),
            "phase" => final_read = c.word()? == "final",
            // A key of its own splits the history by key: the general reader's work.
            "key" => return None,
            _ => c.skip()?,
        }
    }
    c.ws();
    if c.i != line.len() {
        return None;
    }
    let kind = kind?;
    // Only an invocation's micro-ops and an ok completion's are kept: the others are not read.
    let kept = matches!(kind, Kind::Invoke | Kind::Ok);
    let micro = value
        .filter(|_| kept)
        .and_then(|v| micro_ops(v, json, kind == Kind::Ok, kinds));
    Some(Event {
        kind,
        f: match f {
            Some(f) => f,
            None if micro.is_some() => "txn",
            None => return None,
        },
        process: process?,
        time,
        micro,
        final_read,
    })
}

/// `[[f k v] …]`: each micro-op as [`super::parse`] reads it (a completed read of nil is a
/// register's; an invocation's, a list not yet read).
fn micro_ops(v: &str, json: bool, completed: bool, kinds: &mut KeyKinds) -> Option<Vec<Micro>> {
    let mut c = Cursor::new(v);
    c.expect(b'[')?;
    let mut out = Vec::with_capacity(4);
    loop {
        c.ws();
        if c.peek()? == b']' {
            break;
        }
        c.expect(b'[')?;
        c.ws();
        let f = c.word()?;
        c.ws();
        let key = match c.peek()? {
            b'-' | b'0'..=b'9' => {
                kinds.numbers = true;
                c.int()?.to_string()
            }
            b':' if json => return None,
            _ => {
                kinds.names = true;
                c.word()?.to_string()
            }
        };
        c.ws();
        let nil = c.null(json);
        let m = match (f, c.peek()?) {
            ("append", _) => Micro::Append {
                key,
                element: c.int()?,
            },
            ("w", _) => Micro::Write {
                key,
                value: c.int()?,
                version: None,
            },
            ("r", b'[') if !nil => Micro::Read {
                key,
                list: Some(c.ints()?),
            },
            ("r", _) if nil && !completed => Micro::Read { key, list: None },
            ("r", _) if nil => Micro::ReadRegister {
                key,
                value: None,
                version: None,
            },
            ("r", _) => Micro::ReadRegister {
                key,
                value: Some(c.int()?),
                version: None,
            },
            _ => return None,
        };
        out.push(with_version(m, &mut c, json)?);
        c.ws();
        c.expect(b']')?;
    }
    (!out.is_empty()).then_some(out)
}

/// A register micro-op's optional fourth element, the version.
fn with_version(m: Micro, c: &mut Cursor, json: bool) -> Option<Micro> {
    c.ws();
    if c.peek()? == b']' {
        return Some(m);
    }
    let v = if c.null(json) {
        None
    } else {
        Some(u64::try_from(c.int()?).ok()?)
    };
    match m {
        Micro::Write { key, value, .. } => Some(Micro::Write {
            key,
            value,
            version: v,
        }),
        Micro::ReadRegister { key, value, .. } => Some(Micro::ReadRegister {
            key,
            value,
            version: v,
        }),
        _ => None,
    }
}

/// A position in one line: its text, and the same as bytes. Every token ends at an ASCII
/// delimiter, so the text can be cut at any position the bytes reach, without checking it again.
struct Cursor<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Cursor<'a> {
    fn new(s: &'a str) -> Cursor<'a> {
        Cursor {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }
}

/// Where a bare token ends.
#[inline]
fn delimiter(b: u8) -> bool {
    matches!(
        b,
        b' ' | b'\t' | b'\r' | b',' | b']' | b'}' | b')' | b'[' | b'{' | b'(' | b'"' | b';'
    )
}

impl<'a> Cursor<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Option<()> {
        (self.peek()? == b).then(|| self.i += 1)
    }

    /// Spaces and commas (whitespace in EDN; between JSON's fields and items).
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b',')) {
            self.i += 1;
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.i;
        while self.peek().is_some_and(|b| !delimiter(b)) {
            self.i += 1;
        }
        &self.s[start..self.i]
    }

    /// A field's name: `:type` in EDN, `"type":` in JSON.
    fn name(&mut self, json: bool) -> Option<&'a str> {
        if json {
            let s = self.string()?;
            self.ws();
            self.expect(b':')?;
            Some(s)
        } else {
            self.expect(b':')?;
            Some(self.token()).filter(|t| !t.is_empty())
        }
    }

    /// A string with no escapes in it (one with escapes is left to the general reader).
    fn string(&mut self) -> Option<&'a str> {
        self.expect(b'"')?;
        let start = self.i;
        loop {
            match self.peek()? {
                b'"' => break,
                b'\\' => return None,
                _ => self.i += 1,
            }
        }
        let s = &self.s[start..self.i];
        self.i += 1;
        Some(s)
    }

    /// A keyword's name or a string.
    fn word(&mut self) -> Option<&'a str> {
        match self.peek()? {
            b'"' => self.string(),
            b':' => {
                self.i += 1;
                Some(self.token()).filter(|t| !t.is_empty())
            }
            _ => None,
        }
    }

    fn int(&mut self) -> Option<i64> {
        let t = self.token();
        let digits = t.strip_prefix('-').unwrap_or(t);
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse().ok()
    }

    fn null(&mut self, json: bool) -> bool {
        let word: &[u8] = if json { b"null" } else { b"nil" };
        let end = self.i + word.len();
        let ends = self.b.get(end).is_none_or(|&b| delimiter(b));
        if self.b.get(self.i..end) == Some(word) && ends {
            self.i = end;
            true
        } else {
            false
        }
    }

    fn ints(&mut self) -> Option<Vec<i64>> {
        self.expect(b'[')?;
        let mut out = Vec::new();
        loop {
            self.ws();
            if self.peek()? == b']' {
                self.i += 1;
                return Some(out);
            }
            out.push(self.int()?);
        }
    }

    /// Any one value, by its brackets and strings.
    fn skip(&mut self) -> Option<()> {
        let mut depth = 0usize;
        loop {
            match self.peek()? {
                b'"' => {
                    self.i += 1;
                    loop {
                        match self.peek()? {
                            b'\\' => self.i += 2,
                            b'"' => break,
                            _ => self.i += 1,
                        }
                    }
                    self.i += 1;
                }
                b'[' | b'{' | b'(' => {
                    depth += 1;
                    self.i += 1;
                }
                b']' | b'}' | b')' if depth > 0 => {
                    depth -= 1;
                    self.i += 1;
                }
                b']' | b'}' | b')' => return None,
                b';' => return None,
                b' ' | b'\t' | b'\r' | b',' => self.i += 1,
                _ => {
                    self.token();
                }
            }
            if depth == 0 {
                return Some(());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generate::Rng;
    use crate::import::{parse_str, Format};

    /// What a transaction is, as comparable data.
    fn shape(t: &Txn) -> String {
        format!(
            "{} p{} {:?} {:?} {} {:?}",
            t.id, t.process, t.outcome, t.micro, t.invoke_time, t.complete_time
        )
    }

    fn general(text: &str, format: Format) -> Vec<String> {
        let h = parse_str("t", text, format).unwrap_or_else(|e| panic!("{e}\n{text}"));
        let txns = super::super::parse::transactions(&h).unwrap();
        txns.iter().map(shape).collect()
    }

    /// A random history of transactions: interleaved processes, all four outcomes and some
    /// never completed, nemesis lines, extra fields, both micro-op kinds with and without
    /// versions, keys as numbers or names.
    fn random(rng: &mut Rng, json: bool, timed: bool) -> String {
        // Keys are numbers or names, one way a file (a file with both is the general reader's).
        let numbers = rng.chance(0.5);
        let (mut out, mut time) = (String::new(), 0u64);
        let mut open: Vec<Option<String>> = vec![None; 4];
        let kw = |s: &str| {
            if json {
                format!("\"{s}\"")
            } else {
                format!(":{s}")
            }
        };
        let (sep, nil) = if json { (":", "null") } else { (" ", "nil") };
        let field = |k: &str| {
            if json {
                format!("\"{k}\"{sep}")
            } else {
                format!(":{k} ")
            }
        };
        for _ in 0..40 {
            time += rng.below(3);
            let t = if timed || json {
                format!("{}{time}, ", field("time"))
            } else {
                String::new()
            };
            if rng.chance(0.1) {
                out += &format!(
                    "{{{}{}, {}{}, {}{}, {t}{}{}}}\n",
                    field("process"),
                    kw("nemesis"),
                    field("type"),
                    kw("info"),
                    field("f"),
                    kw("start"),
                    field("value"),
                    if json { "[1,2]" } else { "[1 2]" }
                );
                continue;
            }
            let p = rng.below(4) as usize;
            let micro = |rng: &mut Rng, done: bool| {
                let n = 1 + rng.below(3);
                let ops: Vec<String> = (0..n)
                    .map(|_| {
                        let key = if numbers {
                            rng.below(3).to_string()
                        } else {
                            kw(&format!("k{}", rng.below(2)))
                        };
                        let items = if json { "[1,2,3]" } else { "[1 2 3]" };
                        let parts = match rng.below(5) {
                            0 => vec![kw("append"), key, rng.below(99).to_string()],
                            1 => vec![kw("r"), key, if done { items.into() } else { nil.into() }],
                            2 => vec![
                                kw("w"),
                                key,
                                rng.below(99).to_string(),
                                rng.below(9).to_string(),
                            ],
                            3 => vec![kw("r"), key, if done { "7".into() } else { nil.into() }],
                            _ => vec![kw("r"), key, nil.into()],
                        };
                        format!("[{}]", parts.join(if json { "," } else { " " }))
                    })
                    .collect();
                format!("[{}]", ops.join(if json { "," } else { " " }))
            };
            let extra = if rng.chance(0.3) {
                format!("{}{}, ", field("node"), kw("n1"))
            } else {
                String::new()
            };
            match open[p].take() {
                None => {
                    let v = micro(rng, false);
                    out += &format!(
                        "{{{}{p}, {}{}, {}{}, {t}{extra}{}{v}}}\n",
                        field("process"),
                        field("type"),
                        kw("invoke"),
                        field("f"),
                        kw("txn"),
                        field("value")
                    );
                    open[p] = Some(v);
                }
                Some(v) => {
                    let kind = ["ok", "ok", "fail", "info"][rng.below(4) as usize];
                    let v = if kind == "ok" { micro(rng, true) } else { v };
                    out += &format!(
                        "{{{}{p}, {}{}, {}{}, {t}{extra}{}{v}}}\n",
                        field("process"),
                        field("type"),
                        kw(kind),
                        field("f"),
                        kw("txn"),
                        field("value")
                    );
                }
            }
        }
        out
    }

    #[test]
    fn reads_exactly_what_the_general_reader_reads() {
        let mut rng = Rng::new(28);
        for case in 0..600 {
            let (json, timed) = (case % 3 == 0, case % 2 == 0);
            let text = random(&mut rng, json, timed);
            let format = if json {
                Format::Jsonl
            } else {
                Format::JepsenEdn
            };
            let fast: Vec<String> = fast(&text)
                .unwrap_or_else(|| panic!("case {case}: fell back\n{text}"))
                .iter()
                .map(shape)
                .collect();
            assert_eq!(fast, general(&text, format), "case {case}\n{text}");
        }
    }

    #[test]
    fn gives_up_on_what_it_does_not_expect() {
        let ok = "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}\n";
        assert!(fast(ok).is_some());
        for bad in [
            // a second invocation while the first is in flight
            "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}\n{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}\n",
            // a completion with no invocation
            "{:process 0, :type :ok, :f :txn, :value [[:r 1 []]]}\n",
            // a completion naming another function
            "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil]]}\n{:process 0, :type :ok, :f :read, :value [[:r 1 []]]}\n",
            // time going back
            "{:process 0, :type :invoke, :f :txn, :time 5, :value [[:r 1 nil]]}\n{:process 1, :type :invoke, :f :txn, :time 4, :value [[:r 1 nil]]}\n",
            // a form over two lines
            "{:process 0, :type :invoke,\n :f :txn, :value [[:r 1 nil]]}\n",
            // a value that is no transaction, a float element, an escaped string
            "{:process 0, :type :invoke, :f :read, :value 3}\n",
            "{:process 0, :type :invoke, :f :txn, :value [[:append 1 2.5]]}\n",
            "{:process 0, :type :invoke, :f :txn, :value [[:append \"a\\\"b\" 2]]}\n",
            // JSON Lines without times
            "{\"process\":0,\"type\":\"invoke\",\"f\":\"txn\",\"value\":[[\"r\",1,null]]}\n",
            // keys written as numbers and as names
            "{:process 0, :type :invoke, :f :txn, :value [[:r 1 nil] [:r :x nil]]}\n",
        ] {
            assert!(fast(bad).is_none(), "{bad}");
        }
    }
}
