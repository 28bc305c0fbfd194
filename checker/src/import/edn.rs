//! A streaming reader for EDN (extensible data notation), the format Clojure and so Jepsen and
//! Knossos write their histories in.
//!
//! It reads the whole edn-format specification: `nil`, booleans, strings with every escape,
//! characters (`\a`, `\newline`, `\u00e9`), integers with or without `N`, floats with or without
//! `M`, ratios, symbols, keywords (namespaced too), lists, vectors, maps, sets, `;` comments, `#_`
//! discards and tagged elements (`#inst "…"`, `#uuid "…"`, and records such as
//! `#jepsen.history.Op{…}`). It also reads Clojure's namespaced maps (`#:ns{:a 1}`), which
//! `pr-str` writes.
//!
//! Values become [`serde_json::Value`]s, which is what the rest of the checker compares:
//! - keywords and symbols become strings without their colon (`:invoke` → `"invoke"`);
//! - characters become one-character strings, `nil` becomes `null`;
//! - lists, vectors and sets become arrays (a set's elements sorted, so equal sets are equal);
//! - map keys become strings (a keyword's name, a string as it is, anything else as its JSON);
//! - a tagged element becomes the element it tags (`#inst "2020-01-01"` → `"2020-01-01"`);
//! - an integer beyond 64 bits and a ratio become their exact text (`"1/3"`), never a rounded
//!   number, so that two different values can never compare equal.
//!
//! It is streaming: [`Reader`] pulls bytes from any [`Read`] through a fixed buffer and hands out
//! one top-level form at a time, so a history file is never held in memory as text. Every error
//! carries the line and column where it was found.

use serde_json::{Map, Number, Value};
use std::io::Read;

/// Nesting bound. Histories are shallow; this only stops a hostile file from overflowing the stack.
const MAX_DEPTH: usize = 256;
const BUFFER: usize = 64 * 1024;

/// A position in the input: 1-based line and column (in bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// What is wrong, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EdnError {
    pub pos: Pos,
    pub message: String,
}

impl std::fmt::Display for EdnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "line {}, column {}: {}",
            self.pos.line, self.pos.column, self.message
        )
    }
}

type Result<T> = std::result::Result<T, EdnError>;

/// Reads EDN forms one after another from a byte source.
pub struct Reader<R> {
    src: R,
    buf: Box<[u8]>,
    at: usize,
    len: usize,
    pos: Pos,
    depth: usize,
    /// Bytes consumed so far.
    consumed: u64,
}

impl<R: Read> Reader<R> {
    pub fn new(src: R) -> Reader<R> {
        Reader::with_buffer(src, BUFFER)
    }

    /// A reader with a buffer of `size` bytes (a short text needs no 64 KiB one).
    fn with_buffer(src: R, size: usize) -> Reader<R> {
        Reader {
            src,
            buf: vec![0; size.max(1)].into_boxed_slice(),
            at: 0,
            len: 0,
            pos: Pos { line: 1, column: 1 },
            depth: 0,
            consumed: 0,
        }
    }

    /// Where the next byte is.
    pub fn pos(&self) -> Pos {
        self.pos
    }

    /// How many bytes have been read.
    pub fn consumed(&self) -> u64 {
        self.consumed
    }

    fn fail<T>(&self, message: impl Into<String>) -> Result<T> {
        Err(EdnError {
            pos: self.pos,
            message: message.into(),
        })
    }

    fn fail_at<T>(pos: Pos, message: impl Into<String>) -> Result<T> {
        Err(EdnError {
            pos,
            message: message.into(),
        })
    }

    #[inline]
    fn peek(&mut self) -> Result<Option<u8>> {
        if self.at == self.len {
            loop {
                match self.src.read(&mut self.buf) {
                    Ok(n) => {
                        self.at = 0;
                        self.len = n;
                        break;
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(e) => return self.fail(format!("cannot read: {e}")),
                }
            }
            if self.len == 0 {
                return Ok(None);
            }
        }
        Ok(Some(self.buf[self.at]))
    }

    /// Consumes the byte [`Reader::peek`] returned.
    #[inline]
    fn bump(&mut self, byte: u8) {
        self.at += 1;
        self.consumed += 1;
        if byte == b'\n' {
            self.pos.line += 1;
            self.pos.column = 1;
        } else if byte & 0xC0 != 0x80 {
            // Count characters, not UTF-8 continuation bytes.
            self.pos.column += 1;
        }
    }

    fn next_byte(&mut self) -> Result<Option<u8>> {
        let b = self.peek()?;
        if let Some(b) = b {
            self.bump(b);
        }
        Ok(b)
    }

    /// Skips whitespace (commas included) and comments; returns the next byte without taking it.
    pub fn skip_blank(&mut self) -> Result<Option<u8>> {
        loop {
            match self.peek()? {
                Some(b) if b.is_ascii_whitespace() || b == b',' => self.bump(b),
                Some(b';') => {
                    while let Some(b) = self.peek()? {
                        self.bump(b);
                        if b == b'\n' {
                            break;
                        }
                    }
                }
                other => return Ok(other),
            }
        }
    }

    /// The next form, or `None` at the end of the input. `#_` discards are skipped.
    pub fn next_form(&mut self) -> Result<Option<(Pos, Value)>> {
        loop {
            if self.skip_blank()?.is_none() {
                return Ok(None);
            }
            let at = self.pos;
            match self.form()? {
                Some(v) => return Ok(Some((at, v))),
                None => continue, // a discard
            }
        }
    }

    /// Opens a collection that wraps the whole input (`[…]` or `(…)`), if that is what comes
    /// next; returns its closing byte. Forms inside are then read with [`Reader::next_in`].
    pub fn open_wrapper(&mut self) -> Result<Option<u8>> {
        match self.skip_blank()? {
            Some(open @ (b'[' | b'(')) => {
                self.bump(open);
                Ok(Some(if open == b'[' { b']' } else { b')' }))
            }
            _ => Ok(None),
        }
    }

    /// The next form inside a wrapper opened by [`Reader::open_wrapper`], or `None` at its close;
    /// after the close only blanks may follow.
    pub fn next_in(&mut self, close: u8) -> Result<Option<(Pos, Value)>> {
        loop {
            match self.skip_blank()? {
                None => {
                    return self.fail(format!(
                        "the input ends before the closing {:?} of the collection that wraps it (truncated?)",
                        close as char
                    ))
                }
                Some(b) if b == close => {
                    self.bump(b);
                    if self.skip_blank()?.is_some() {
                        return self
                            .fail("more input after the collection that wraps the whole file");
                    }
                    return Ok(None);
                }
                Some(_) => {
                    let at = self.pos;
                    if let Some(v) = self.form()? {
                        return Ok(Some((at, v)));
                    }
                }
            }
        }
    }

    /// One form; `None` for a `#_` discard. The caller has skipped blanks and seen a byte.
    fn form(&mut self) -> Result<Option<Value>> {
        let Some(c) = self.peek()? else {
            return self.fail("the input ends where a value should be (truncated?)");
        };
        let opened = self.pos;
        let v = match c {
            b'{' => {
                self.bump(c);
                self.map(None, opened)?
            }
            b'[' | b'(' => {
                self.bump(c);
                Value::Array(self.seq(if c == b'[' { b']' } else { b')' }, opened)?)
            }
            b'"' => {
                self.bump(c);
                Value::String(self.string()?)
            }
            b'\\' => {
                self.bump(c);
                Value::String(self.character()?)
            }
            b'#' => {
                self.bump(c);
                return self.dispatch(opened);
            }
            b':' => {
                self.bump(c);
                let name = self.token()?;
                if name.is_empty() || name.starts_with(':') {
                    return self.fail(format!("bad keyword :{name}"));
                }
                Value::String(name)
            }
            b')' | b']' | b'}' => {
                return self.fail(format!("unexpected {:?} with nothing open", c as char))
            }
            _ => {
                let at = self.pos;
                let token = self.token()?;
                atom(&token).or_else(|m| Self::fail_at(at, m))?
            }
        };
        Ok(Some(v))
    }

    /// What follows `#`: a set, a discard, a namespaced map or a tagged element.
    fn dispatch(&mut self, opened: Pos) -> Result<Option<Value>> {
        match self.peek()? {
            Some(b'{') => {
                self.bump(b'{');
                let mut items = self.seq(b'}', opened)?;
                items.sort_by_cached_key(|v| v.to_string());
                items.dedup();
                Ok(Some(Value::Array(items)))
            }
            Some(b'_') => {
                self.bump(b'_');
                self.required_form("#_")?;
                Ok(None)
            }
            Some(b':') => {
                self.bump(b':');
                let ns = self.token()?;
                if self.skip_blank()? != Some(b'{') {
                    return self.fail(format!("#:{ns} must be followed by a map"));
                }
                let at = self.pos;
                self.bump(b'{');
                Ok(Some(self.map(Some(&ns), at)?))
            }
            Some(b) if b.is_ascii_alphabetic() => {
                let tag = self.token()?;
                let inner = self.required_form(&format!("the tag #{tag}"))?;
                Ok(Some(inner))
            }
            Some(b) => self.fail(format!(
                "unknown dispatch #{}: EDN has #{{…}} sets, #_ discards and #tag elements",
                b as char
            )),
            None => self.fail("the input ends after # (truncated?)"),
        }
    }

    /// The next form, skipping discards; the input must not end first.
    fn required_form(&mut self, after: &str) -> Result<Value> {
        loop {
            if self.skip_blank()?.is_none() {
                return self.fail(format!("the input ends after {after} (truncated?)"));
            }
            if let Some(v) = self.form()? {
                return Ok(v);
            }
        }
    }

    fn enter(&mut self) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.fail(format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    /// The elements up to `close`, which the caller's open byte matches.
    fn seq(&mut self, close: u8, opened: Pos) -> Result<Vec<Value>> {
        self.enter()?;
        let mut items = Vec::new();
        loop {
            match self.skip_blank()? {
                None => {
                    return Self::fail_at(
                        opened,
                        format!(
                            "this collection is not closed with {:?} before the input ends (truncated?)",
                            close as char
                        ),
                    )
                }
                Some(b) if b == close => {
                    self.bump(b);
                    break;
                }
                Some(b @ (b')' | b']' | b'}')) => {
                    return self.fail(format!(
                        "{:?} closes a collection opened with a different bracket (expected {:?})",
                        b as char, close as char
                    ))
                }
                Some(_) => {
                    if let Some(v) = self.form()? {
                        items.push(v);
                    }
                }
            }
        }
        self.depth -= 1;
        Ok(items)
    }

    /// A map's entries up to `}`; `ns` prefixes keyword keys without a namespace (`#:ns{…}`).
    fn map(&mut self, ns: Option<&str>, opened: Pos) -> Result<Value> {
        let items = self.seq(b'}', opened)?;
        if items.len() % 2 != 0 {
            return Self::fail_at(opened, "this map has a key without a value");
        }
        let mut map = Map::new();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let mut key = match k {
                Value::String(s) => s,
                other => other.to_string(),
            };
            if let Some(ns) = ns.filter(|_| !key.contains('/')) {
                key = format!("{ns}/{key}");
            }
            if map.insert(key.clone(), v).is_some() {
                return Self::fail_at(opened, format!("this map has the key {key:?} twice"));
            }
        }
        Ok(Value::Object(map))
    }

    /// A symbol-like run of bytes: up to whitespace or a delimiter. Scans the buffer a slice at
    /// a time (a token never holds a newline, so only the column moves).
    fn token(&mut self) -> Result<String> {
        let mut out = Vec::new();
        while self.peek()?.is_some() {
            let avail = &self.buf[self.at..self.len];
            let end = avail
                .iter()
                .position(|&b| is_delimiter(b))
                .unwrap_or(avail.len());
            self.advance_within_line(end);
            out.extend_from_slice(&self.buf[self.at - end..self.at]);
            if self.at < self.len {
                break;
            }
        }
        String::from_utf8(out).or_else(|_| self.fail("a symbol that is not UTF-8"))
    }

    /// Consumes `n` buffered bytes that hold no newline.
    fn advance_within_line(&mut self, n: usize) {
        let chars = self.buf[self.at..self.at + n]
            .iter()
            .filter(|&&b| b & 0xC0 != 0x80)
            .count();
        self.at += n;
        self.consumed += n as u64;
        self.pos.column += chars;
    }

    /// A string after its opening quote.
    fn string(&mut self) -> Result<String> {
        let opened = Pos {
            line: self.pos.line,
            column: self.pos.column - 1,
        };
        let mut out = Vec::new();
        loop {
            // Plain bytes up to a quote, an escape or a newline, a slice at a time.
            if self.peek()?.is_some() {
                let avail = &self.buf[self.at..self.len];
                let plain = avail
                    .iter()
                    .position(|&b| matches!(b, b'"' | b'\\' | b'\n'))
                    .unwrap_or(avail.len());
                out.extend_from_slice(&avail[..plain]);
                self.advance_within_line(plain);
            }
            let Some(b) = self.next_byte()? else {
                return Self::fail_at(
                    opened,
                    "this string is not closed before the input ends (truncated?)",
                );
            };
            match b {
                b'"' => break,
                b'\\' => match self.next_byte()? {
                    Some(b't') => out.push(b'\t'),
                    Some(b'r') => out.push(b'\r'),
                    Some(b'n') => out.push(b'\n'),
                    Some(b'b') => out.push(8),
                    Some(b'f') => out.push(12),
                    Some(b'\\') => out.push(b'\\'),
                    Some(b'"') => out.push(b'"'),
                    Some(b'u') => {
                        let c = self.unicode_escape()?;
                        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
                    }
                    Some(other) => {
                        return self.fail(format!("unknown escape \\{} in a string", other as char))
                    }
                    None => return self.fail("the input ends inside an escape (truncated?)"),
                },
                _ => out.push(b),
            }
        }
        String::from_utf8(out).or_else(|_| Self::fail_at(opened, "a string that is not UTF-8"))
    }

    fn unicode_escape(&mut self) -> Result<char> {
        let mut code = 0u32;
        for _ in 0..4 {
            let digit = self
                .next_byte()?
                .and_then(|b| (b as char).to_digit(16))
                .map_or_else(|| self.fail("\\u must be followed by four hex digits"), Ok)?;
            code = code * 16 + digit;
        }
        char::from_u32(code).map_or_else(
            || self.fail(format!("\\u{code:04x} is not a character")),
            Ok,
        )
    }

    /// A character after its backslash: `\c`, `\newline`, `\uXXXX`…
    fn character(&mut self) -> Result<String> {
        let at = self.pos;
        let Some(first) = self.next_byte()? else {
            return self.fail("the input ends after \\ (truncated?)");
        };
        let mut text = vec![first];
        // A character is one character unless letters follow (a name or \u escape).
        if first.is_ascii_alphanumeric() {
            while let Some(b) = self.peek()? {
                if !b.is_ascii_alphanumeric() {
                    break;
                }
                self.bump(b);
                text.push(b);
            }
        } else if first >= 0x80 {
            while let Some(b) = self.peek()? {
                if b & 0xC0 != 0x80 {
                    break;
                }
                self.bump(b);
                text.push(b);
            }
        }
        let text = String::from_utf8(text)
            .or_else(|_| Self::fail_at(at, "a character that is not UTF-8"))?;
        let c = match text.as_str() {
            "newline" => '\n',
            "return" => '\r',
            "space" => ' ',
            "tab" => '\t',
            "formfeed" => '\u{c}',
            "backspace" => '\u{8}',
            t if t.len() == 5 && t.starts_with('u') => u32::from_str_radix(&t[1..], 16)
                .ok()
                .and_then(char::from_u32)
                .map_or_else(|| Self::fail_at(at, format!("bad character \\{t}")), Ok)?,
            t if t.chars().count() == 1 => t.chars().next().expect("one character"),
            t => return Self::fail_at(at, format!("unknown character \\{t}")),
        };
        Ok(c.to_string())
    }
}

/// Whitespace, a comma, or a byte that starts or ends a form.
#[inline]
fn is_delimiter(b: u8) -> bool {
    DELIMITERS[b as usize]
}

const DELIMITERS: [bool; 256] = {
    let mut table = [false; 256];
    let bytes = b" \t\n\r\x0b\x0c,{}[]()\";";
    let mut i = 0;
    while i < bytes.len() {
        table[bytes[i] as usize] = true;
        i += 1;
    }
    table
};

/// A token that is not a keyword: a number, `nil`, a boolean or a symbol.
fn atom(token: &str) -> std::result::Result<Value, String> {
    let first = token.as_bytes().first().copied().unwrap_or(b' ');
    let second = token.as_bytes().get(1).copied();
    let numeric = first.is_ascii_digit()
        || (matches!(first, b'+' | b'-') && second.is_some_and(|b| b.is_ascii_digit()));
    if numeric {
        return number(token);
    }
    Ok(match token {
        "nil" => Value::Null,
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "" => return Err("unexpected character".into()),
        sym => Value::String(sym.to_string()),
    })
}

/// An integer (`N` allowed), a float (`M` allowed) or a ratio.
fn number(token: &str) -> std::result::Result<Value, String> {
    let bad = || format!("bad number {token:?}");
    if let Some((n, d)) = token.split_once('/') {
        let ok = |s: &str| {
            let s = s.strip_prefix(['+', '-']).unwrap_or(s);
            !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !ok(n) || !ok(d) || d.starts_with(['+', '-']) {
            return Err(bad());
        }
        return Ok(Value::String(format!("{}/{d}", n.trim_start_matches('+'))));
    }
    if let Some(int) = token.strip_suffix('N').or(Some(token)).filter(|t| {
        let digits = t.strip_prefix(['+', '-']).unwrap_or(t);
        !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
    }) {
        let int = int.trim_start_matches('+');
        if let Ok(i) = int.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(u) = int.parse::<u64>() {
            return Ok(Value::Number(u.into()));
        }
        // Beyond 64 bits: its exact digits, never a rounded float.
        return Ok(Value::String(int.to_string()));
    }
    let float = token.strip_suffix('M').unwrap_or(token);
    let shape_ok = float
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b));
    match float.parse::<f64>() {
        Ok(f) if shape_ok && f.is_finite() => {
            Number::from_f64(f).map(Value::Number).ok_or_else(bad)
        }
        _ => Err(bad()),
    }
}

/// Parses exactly one form from `text` (blanks and comments around it allowed).
pub fn parse(text: &str) -> std::result::Result<Value, EdnError> {
    let mut r = Reader::with_buffer(text.as_bytes(), text.len().min(BUFFER));
    let Some((_, v)) = r.next_form()? else {
        return Err(EdnError {
            pos: r.pos(),
            message: "no value (truncated?)".into(),
        });
    };
    if r.skip_blank()?.is_some() {
        let pos = r.pos();
        return Err(EdnError {
            pos,
            message: "more input after the value".into(),
        });
    }
    Ok(v)
}

/// Reads one form from the start of `text`; returns it and the rest of the text after it.
pub fn parse_prefix(text: &str) -> std::result::Result<(Value, &str), EdnError> {
    let mut r = Reader::with_buffer(text.as_bytes(), text.len().min(BUFFER));
    let Some((_, v)) = r.next_form()? else {
        return Err(EdnError {
            pos: r.pos(),
            message: "no value (truncated?)".into(),
        });
    };
    let used = r.consumed() as usize;
    Ok((v, &text[used..]))
}

/// Writes a JSON value as EDN: the inverse of the reader for the values histories hold. Map keys
/// that are valid keyword names are written as keywords, others as strings.
pub fn write(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("nil"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => write_string(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_key(k, out);
                out.push(' ');
                write(item, out);
            }
            out.push('}');
        }
    }
}

/// A map key: a keyword when it reads back as the same string.
pub fn write_key(k: &str, out: &mut String) {
    let keyword_ok = !k.is_empty()
        && !k.as_bytes()[0].is_ascii_digit()
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"*+!-_?<>=./".contains(&b));
    if keyword_ok {
        out.push(':');
        out.push_str(k);
    } else {
        write_string(k, out);
    }
}

fn write_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests;
