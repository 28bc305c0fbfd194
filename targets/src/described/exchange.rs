//! One exchange in a description's terms: an operation made into a request, and a reply read
//! as an [`Answer`] — the statuses, the `classify` rules, the value and its version.

use super::*;

impl Described {
    /// The request for `op`. A cas needs a `[cas]` request; the harness checks that before the
    /// run (`--workload register` needs none).
    pub fn prepare(&self, op: Op) -> Prepared {
        let (r, fields): (&Request, Vec<(&str, String)>) = match op {
            Op::Read { key } => (self.read_request(), vec![("key", self.encode_key(key))]),
            Op::Write { key, value } => (
                self.write
                    .as_ref()
                    .expect("an HTTP description has a write (checked at load)"),
                vec![("key", self.encode_key(key)), ("value", self.encode(value))],
            ),
            Op::Cas { key, from, to } => (
                self.cas
                    .as_ref()
                    .expect("a cas workload with no [cas] is refused at start"),
                vec![
                    ("key", self.encode_key(key)),
                    ("from", self.encode(from)),
                    ("to", self.encode(to)),
                ],
            ),
            Op::Txn { ops } => (
                self.txn
                    .as_ref()
                    .expect("a transactional workload with no [txn] is refused at start"),
                vec![("ops", ops.to_string())],
            ),
        };
        r.prepare(&fields)
    }

    /// The request for a node's own copy of `key`.
    pub fn prepare_final_read(&self, key: &str) -> Prepared {
        self.final_read
            .as_ref()
            .unwrap_or(self.read_request())
            .prepare(&[("key", self.encode_key(key))])
    }

    pub(super) fn encode_key(&self, key: &str) -> String {
        match self.encoding {
            Encoding::Plain => key.to_string(),
            Encoding::Base64 => crate::base64::encode(key.as_bytes()),
        }
    }

    /// A value as the template writes it: numbers as they are, strings bare (plain), or the
    /// value's text in base64.
    pub(super) fn encode(&self, v: &Value) -> String {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self.encoding {
            Encoding::Plain => text,
            Encoding::Base64 => crate::base64::encode(text.as_bytes()),
        }
    }

    /// The value a read found at its pointer, as its type says; an error says why it is not a
    /// value this harness could have written.
    pub(super) fn read_value(&self, r: &Request, v: &Value) -> Result<Value, String> {
        if v.is_null() {
            return Ok(Value::Null);
        }
        let text = match (self.encoding, v) {
            (Encoding::Base64, Value::String(s)) => match crate::base64::decode(s) {
                Some(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
                None => return Err(format!("{} is not base64", short(v))),
            },
            (Encoding::Base64, _) => return Err(format!("{} is not base64 text", short(v))),
            (Encoding::Plain, Value::String(s)) => Some(s.clone()),
            (Encoding::Plain, _) => None,
        };
        let number = |t: &str| {
            serde_json::from_str::<Value>(t.trim())
                .ok()
                .filter(Value::is_number)
        };
        match (r.value_type.unwrap_or(self.value_type), text) {
            // Values this harness writes are JSON numbers; any other text stays text.
            (ValueType::Json, Some(t)) if self.encoding == Encoding::Base64 => {
                Ok(serde_json::from_str(&t).unwrap_or(Value::String(t)))
            }
            (ValueType::Json, _) => Ok(v.clone()),
            (ValueType::Number, None) if v.is_number() => Ok(v.clone()),
            (ValueType::Number, Some(t)) if self.encoding == Encoding::Base64 => {
                number(&t).ok_or_else(|| format!("expected a number, found {t:?}"))
            }
            (ValueType::Number, _) => Err(format!("expected a number, found {}", short(v))),
            (ValueType::String, Some(t)) => number(&t)
                .ok_or_else(|| format!("expected text holding a number, found {}", short(v))),
            (ValueType::String, None) => Err(format!(
                "expected text holding a number, found {}",
                short(v)
            )),
        }
    }

    pub(super) fn request_for(&self, op: Op, final_read: bool) -> &Request {
        match op {
            _ if final_read => self.final_read.as_ref().unwrap_or(self.read_request()),
            Op::Read { .. } => self.read_request(),
            Op::Write { .. } => self.write.as_ref().expect("checked at load"),
            Op::Cas { .. } => self.cas.as_ref().expect("checked at start"),
            Op::Txn { .. } => self.txn.as_ref().expect("checked at start"),
        }
    }

    /// What the answer to `op` (or a final read, when `final_read`) means.
    pub fn interpret(&self, op: Op, final_read: bool, reply: &Reply) -> Answer {
        let r = self.request_for(op, final_read);
        let (status, body) = (reply.status, &reply.body);
        let said = || said(reply);
        let means = r
            .classify
            .iter()
            .find(|rule| rule.matches(reply))
            .map(|rule| rule.means);
        let means = means.unwrap_or_else(|| {
            if listed(&r.ok, status) {
                Means::Ok
            } else if listed(&r.absent, status) {
                Means::Absent
            } else if listed(&r.mismatch, status) {
                Means::Mismatch
            } else if listed(&r.fail, status)
                || (self.redirects(status, final_read) && reply.location.is_some())
            {
                Means::Fail
            } else {
                Means::Unknown
            }
        });
        match means {
            Means::Ok => self.ok(op, r, body).unwrap_or_else(|e| {
                let field = if final_read { "final_read" } else { "read" };
                Answer::Unknown(format!("{status}: unreadable {field}.value: {e}"))
            }),
            Means::Absent => Answer::Ok {
                value: Value::Null,
                version: None,
            },
            Means::Mismatch => Answer::Mismatch,
            Means::Fail => {
                if let Some(loc) = reply
                    .location
                    .as_ref()
                    .filter(|_| self.redirects(status, final_read))
                {
                    return Answer::Elsewhere(loc.clone());
                }
                let unsure = r.indeterminate.as_deref().and_then(|p| body.pointer(p))
                    == Some(&Value::Bool(true));
                if unsure {
                    Answer::Unknown(said())
                } else {
                    Answer::Refused(said())
                }
            }
            Means::Unknown => Answer::Unknown(said()),
        }
    }

    /// Whether a `status` answer is a redirect to follow.
    /// Final reads follow redirects too: a node that sends every read to its leader has no
    /// copy of its own to read, and a final read it only redirected would show nothing. The
    /// read is then recorded as the node that answered it.
    pub(super) fn redirects(&self, status: u16, _final_read: bool) -> bool {
        (300..400).contains(&status) && self.follow_redirects
    }

    /// An answer that says the operation happened: its version, and for a read the value.
    pub(super) fn ok(&self, op: Op, r: &Request, body: &Value) -> Result<Answer, String> {
        if let Some(p) = &r.succeeded {
            if body.pointer(p) != Some(&Value::Bool(true)) {
                return Ok(Answer::Mismatch);
            }
        }
        let version = r
            .version
            .as_deref()
            .and_then(|p| body.pointer(p))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        let value = match (op, &r.value) {
            (Op::Txn { .. }, Some(p)) => body
                .pointer(p)
                .filter(|v| v.is_array())
                .cloned()
                .ok_or_else(|| format!("no list of micro-ops at {p}: {}", short(body)))?,
            (Op::Read { .. }, Some(p)) => match body.pointer(p) {
                Some(v) => self.read_value(r, v)?,
                // A JSON answer without the field says the key is absent; an answer that is
                // not JSON at all says nothing.
                None if body.is_object() || body.is_array() => Value::Null,
                None => return Err(format!("the answer is not JSON: {}", short(body))),
            },
            _ => Value::Null,
        };
        Ok(Answer::Ok { value, version })
    }
}

/// `503: no leader known`: the answer's own message when it has one, else its text.
pub(super) fn said(reply: &Reply) -> String {
    let body = &reply.body;
    let message = ["/error", "/message"]
        .iter()
        .find_map(|p| body.pointer(p)?.as_str());
    let text: String = match (message, body) {
        (Some(m), _) => m.chars().take(200).collect(),
        (None, Value::Null) => String::new(),
        (None, Value::String(s)) => s.trim().chars().take(200).collect(),
        (None, other) => other.to_string().chars().take(200).collect(),
    };
    format!("{}: {text}", reply.status)
        .trim_end_matches([':', ' '])
        .to_string()
}

/// A value for an error message, at most 60 characters.
pub(super) fn short(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 60 {
        format!("{}…", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

impl Request {
    pub(super) fn validate(&mut self, name: &str) -> Result<(), String> {
        if !["GET", "PUT", "POST", "DELETE", "PATCH"].contains(&self.method.as_str()) {
            return Err(format!(
                "{name}.method: {:?} is not one of GET, PUT, POST, DELETE, PATCH",
                self.method
            ));
        }
        if !self.path.starts_with('/') {
            return Err(format!("{name}.path: {:?} must start with /", self.path));
        }
        if self.ok.is_empty() && !self.classify.iter().any(|r| r.means == Means::Ok) {
            return Err(format!(
                "{name}.ok: list the statuses that mean it happened, e.g. ok = [200]"
            ));
        }
        let allowed: &[&str] = match name {
            "read" | "final_read" => &["key"],
            "write" => &["key", "value"],
            "txn" => &["ops"],
            _ => &["key", "from", "to"],
        };
        let templates = [
            ("path".to_string(), Some(&self.path)),
            ("body".into(), self.body.as_ref()),
        ]
        .into_iter()
        .chain(
            self.headers
                .iter()
                .map(|(h, v)| (format!("headers.{h}"), Some(v))),
        );
        for (field, text) in templates {
            let Some(text) = text else { continue };
            for placeholder in placeholders(text) {
                if !allowed.contains(&placeholder) {
                    return Err(format!(
                        "{name}.{field}: unknown placeholder {{{placeholder}}}; {name} knows {}",
                        allowed
                            .iter()
                            .map(|a| format!("{{{a}}}"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ));
                }
            }
        }
        for (h, v) in &self.headers {
            let bad_name = reqwest::header::HeaderName::from_bytes(h.as_bytes()).is_err();
            if bad_name || v.contains(['\r', '\n']) {
                return Err(format!("{name}.headers.{h}: not a valid header"));
            }
        }
        for (field, p) in [
            ("value", &self.value),
            ("version", &self.version),
            ("succeeded", &self.succeeded),
            ("indeterminate", &self.indeterminate),
        ] {
            if let Some(p) = p {
                pointer(&format!("{name}.{field}"), p)?;
            }
        }
        for (i, rule) in self.classify.iter_mut().enumerate() {
            rule.compile(&format!("{name}.classify[{i}]"))?;
        }
        Ok(())
    }

    pub(super) fn prepare(&self, fields: &[(&str, String)]) -> Prepared {
        let fill = |t: &str| {
            let mut out = t.to_string();
            for (k, v) in fields {
                out = out.replace(&format!("{{{k}}}"), v);
            }
            out
        };
        Prepared {
            method: self.method.clone(),
            path: fill(&self.path),
            headers: self
                .headers
                .iter()
                .map(|(h, v)| (h.clone(), fill(v)))
                .collect(),
            body: self.body.as_deref().map(fill),
            content_type: self.content_type.clone(),
        }
    }
}
