//! A reader for the small part of EDN that Jepsen histories use: maps, vectors, lists, sets,
//! keywords, strings, integers, floats, `nil` and booleans. Keywords become strings without their
//! colon; `nil` becomes JSON `null`. Commas are whitespace, as in EDN.

use serde_json::{Map, Number, Value};

/// Parses one complete EDN value from `text`; anything but whitespace after it is an error.
pub fn parse(text: &str) -> Result<Value, String> {
    let mut p = Parser {
        s: text.as_bytes(),
        pos: 0,
        depth: 0,
    };
    let v = p.value()?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(format!(
            "unexpected {:?} after the value at column {}",
            p.rest_preview(),
            p.pos + 1
        ));
    }
    Ok(v)
}

/// Nesting bound: histories are flat; anything deeper is not a history.
const MAX_DEPTH: usize = 64;

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_whitespace() || c == b',' {
                self.pos += 1;
            } else if c == b';' {
                while self.pos < self.s.len() && self.s[self.pos] != b'\n' {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn rest_preview(&self) -> String {
        let end = (self.pos + 20).min(self.s.len());
        String::from_utf8_lossy(&self.s[self.pos..end]).into_owned()
    }

    fn value(&mut self) -> Result<Value, String> {
        self.skip_ws();
        let Some(&c) = self.s.get(self.pos) else {
            return Err("the line ends where a value should be (truncated?)".into());
        };
        match c {
            b'{' => self.collection(b'}', true),
            b'[' => self.collection(b']', false),
            b'(' => self.collection(b')', false),
            b'#' if self.s.get(self.pos + 1) == Some(&b'{') => {
                self.pos += 1;
                self.collection(b'}', false)
            }
            b'"' => self.string(),
            b':' => {
                self.pos += 1;
                let sym = self.symbol();
                if sym.is_empty() {
                    return Err(format!("empty keyword at column {}", self.pos));
                }
                Ok(Value::String(sym))
            }
            b'-' | b'+' | b'0'..=b'9' => self.number(),
            _ => {
                let start = self.pos;
                let sym = self.symbol();
                match sym.as_str() {
                    "nil" => Ok(Value::Null),
                    "true" => Ok(Value::Bool(true)),
                    "false" => Ok(Value::Bool(false)),
                    "" => Err(format!(
                        "unexpected {:?} at column {}",
                        self.rest_preview(),
                        start + 1
                    )),
                    _ => Ok(Value::String(sym)),
                }
            }
        }
    }

    fn symbol(&mut self) -> String {
        let start = self.pos;
        while let Some(&c) = self.s.get(self.pos) {
            if c.is_ascii_whitespace() || b",{}[]()\";".contains(&c) {
                break;
            }
            self.pos += 1;
        }
        String::from_utf8_lossy(&self.s[start..self.pos]).into_owned()
    }

    fn number(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let text = self.symbol();
        if text == "-" || text == "+" {
            return Ok(Value::String(text));
        }
        let trimmed = text.trim_end_matches(['N', 'M']);
        if let Ok(i) = trimmed.parse::<i64>() {
            return Ok(Value::Number(i.into()));
        }
        if let Ok(f) = trimmed.parse::<f64>() {
            if let Some(n) = Number::from_f64(f) {
                return Ok(Value::Number(n));
            }
        }
        Err(format!("bad number {text:?} at column {}", start + 1))
    }

    fn string(&mut self) -> Result<Value, String> {
        let start = self.pos;
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(&c) = self.s.get(self.pos) else {
                return Err(format!(
                    "string starting at column {} is not closed (truncated?)",
                    start + 1
                ));
            };
            self.pos += 1;
            match c {
                b'"' => break,
                b'\\' => {
                    let Some(&e) = self.s.get(self.pos) else {
                        return Err("string ends inside an escape (truncated?)".into());
                    };
                    self.pos += 1;
                    out.push(match e {
                        b'n' => b'\n',
                        b't' => b'\t',
                        b'r' => b'\r',
                        other => other,
                    });
                }
                _ => out.push(c),
            }
        }
        String::from_utf8(out)
            .map(Value::String)
            .map_err(|_| format!("string at column {} is not UTF-8", start + 1))
    }

    fn collection(&mut self, close: u8, is_map: bool) -> Result<Value, String> {
        let open_at = self.pos;
        self.pos += 1;
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            match self.s.get(self.pos) {
                None => {
                    return Err(format!(
                        "{} opened at column {} is not closed (truncated?)",
                        if is_map { "map" } else { "collection" },
                        open_at + 1
                    ))
                }
                Some(&c) if c == close => {
                    self.pos += 1;
                    break;
                }
                Some(_) => items.push(self.value()?),
            }
        }
        self.depth -= 1;
        if !is_map {
            return Ok(Value::Array(items));
        }
        if items.len() % 2 != 0 {
            return Err(format!(
                "map opened at column {} has a key without a value",
                open_at + 1
            ));
        }
        let mut map = Map::new();
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            let k = match k {
                Value::String(s) => s,
                other => other.to_string(),
            };
            map.insert(k, v);
        }
        Ok(Value::Object(map))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_jepsen_maps() {
        let v = parse(r#"{:process 9, :type :invoke, :f :append, :key "0", :value "x 9 0 y"}"#)
            .unwrap();
        assert_eq!(
            v,
            json!({"process": 9, "type": "invoke", "f": "append", "key": "0", "value": "x 9 0 y"})
        );
        assert_eq!(parse("[1 2]").unwrap(), json!([1, 2]));
        assert_eq!(parse("nil").unwrap(), Value::Null);
        assert_eq!(parse(":timed-out").unwrap(), json!("timed-out"));
        assert_eq!(parse(r#""a\"b""#).unwrap(), json!("a\"b"));
    }

    #[test]
    fn rejects_truncated_input() {
        assert!(parse(r#"{:process 9, :type"#)
            .unwrap_err()
            .contains("truncated"));
        assert!(parse(r#"{:a "x"#).unwrap_err().contains("not closed"));
        assert!(parse("{:a}").unwrap_err().contains("without a value"));
        assert!(parse("[1 2] 3").unwrap_err().contains("after the value"));
    }
}
