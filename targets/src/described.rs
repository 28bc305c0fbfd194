//! Any HTTP key-value service, described in a TOML file instead of code (`--target http:FILE`).
//!
//! The file says where the nodes are, how to read, write and compare-and-set (method, path and
//! body templates with `{key}`, `{value}`, `{from}`, `{to}`), where the answer keeps the value and
//! its version (JSON pointers), and which statuses mean what: `ok`, `fail` (certainly not
//! done), `absent` (a read of a missing key), `mismatch` (a cas whose expected value did not
//! match). Any other status, and any timeout or broken connection, is indeterminate. Optional
//! commands start, stop, health-check and find each node, and optional probes say who leads and
//! what a node's clock reads; with them faultline can pause, kill, restart, skew and partition
//! the service's nodes. `examples/targets/` has two complete files, for raftkv and for etcd's
//! JSON gateway; `--target etcd` is the second one, filled in by [`crate::etcd`].
//!
//! This module only reads the description and turns operations into requests and answers into
//! [`Answer`]s; running the nodes and recording the history is the harness's work.

use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

/// A whole target description.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Described {
    /// What to call the service in reports.
    pub name: String,
    /// `plain` (default) or `base64`: how `{key}`, `{value}`, `{from}`, `{to}` are written into
    /// requests, and how values come back.
    #[serde(default)]
    pub encoding: Encoding,
    /// Follow 3xx answers with a Location (the request was not acted on; the node names another).
    #[serde(default)]
    pub follow_redirects: bool,
    pub nodes: Vec<NodeDesc>,
    pub read: Request,
    pub write: Request,
    pub cas: Request,
    /// How to read a node's own state after the faults are healed (default: `read`, sent to
    /// each node without following redirects).
    #[serde(default)]
    pub final_read: Option<Request>,
    #[serde(default)]
    pub leader: Option<Probe>,
    #[serde(default)]
    pub clock: Option<Probe>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Plain,
    Base64,
}

/// One node. Commands run under `sh -c` with `{name}`, `{index}` (1-based), `{ip}`,
/// `{data_dir}` and `{faultline}` (this program) filled in; `url` may use `{ip}` too.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeDesc {
    pub name: String,
    /// Base URL, `http://HOST:PORT` (a path prefix is allowed).
    pub url: String,
    /// Starts the node in the foreground (use `exec` so signals reach the service itself).
    pub start: Option<String>,
    /// Stops the node (default: SIGKILL to the started process group).
    pub stop: Option<String>,
    /// Exits 0 when the node is ready (default: its URL accepts connections).
    pub health: Option<String>,
    /// Prints the node's pid (default: the started process).
    pub pid: Option<String>,
}

/// One kind of request and how to read its answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
    /// JSON pointer to the value read (reads only). Missing means absent.
    #[serde(default)]
    pub value: Option<String>,
    /// JSON pointer to the version (a number or a numeric string).
    #[serde(default)]
    pub version: Option<String>,
    /// Statuses: numbers (`404`), classes (`"2xx"`) or ranges (`"400-499"`).
    pub ok: Vec<StatusSet>,
    #[serde(default)]
    pub fail: Vec<StatusSet>,
    #[serde(default)]
    pub absent: Vec<StatusSet>,
    #[serde(default)]
    pub mismatch: Vec<StatusSet>,
    /// JSON pointer that must be `true` in an `ok` answer, or the operation did not happen
    /// (a cas whose compare failed, as etcd's txn says with `succeeded`).
    #[serde(default)]
    pub succeeded: Option<String>,
    /// JSON pointer that, when `true` in a `fail` answer, makes it indeterminate after all.
    #[serde(default)]
    pub indeterminate: Option<String>,
}

/// A question put to every node: who leads (`equals` or `equals_pointer` decides), or what
/// its clock says (milliseconds since the epoch at `pointer`).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Probe {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
    pub pointer: String,
    #[serde(default)]
    pub equals: Option<Value>,
    #[serde(default)]
    pub equals_pointer: Option<String>,
}

fn get() -> String {
    "GET".into()
}

/// A set of statuses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatusSet(u16, u16);

impl<'de> Deserialize<'de> for StatusSet {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<StatusSet, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            One(u16),
            Text(String),
        }
        let bad = |s: &str| {
            serde::de::Error::custom(format!(
                "status {s:?}: expected a number like 404, a class like \"5xx\" or a range like \"400-499\""
            ))
        };
        let set = match Raw::deserialize(d)? {
            Raw::One(n) => StatusSet(n, n),
            Raw::Text(s) => {
                if let Some(c) = s.strip_suffix("xx").and_then(|c| c.parse::<u16>().ok()) {
                    StatusSet(c * 100, c * 100 + 99)
                } else if let Some((a, b)) = s.split_once('-') {
                    match (a.trim().parse(), b.trim().parse()) {
                        (Ok(a), Ok(b)) if a <= b => StatusSet(a, b),
                        _ => return Err(bad(&s)),
                    }
                } else {
                    return Err(bad(&s));
                }
            }
        };
        if set.0 < 100 || set.1 > 599 {
            return Err(serde::de::Error::custom(format!(
                "status {}–{} is not an HTTP status",
                set.0, set.1
            )));
        }
        Ok(set)
    }
}

fn listed(sets: &[StatusSet], status: u16) -> bool {
    sets.iter().any(|s| (s.0..=s.1).contains(&status))
}

/// The operation to send, in the workload's terms.
#[derive(Clone, Copy, Debug)]
pub enum Op<'a> {
    Read {
        key: &'a str,
    },
    Write {
        key: &'a str,
        value: &'a Value,
    },
    Cas {
        key: &'a str,
        from: &'a Value,
        to: &'a Value,
    },
}

/// What a request should be.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub method: String,
    pub path: String,
    pub body: Option<String>,
}

/// What an answer means.
#[derive(Clone, Debug, PartialEq)]
pub enum Answer {
    /// It happened; for a read, the value seen (null for absent).
    Ok { value: Value, version: Option<u64> },
    /// A cas whose expected value did not match: certainly not done, and a decided answer.
    Mismatch,
    /// Certainly not done (refused): try another node.
    Refused(String),
    /// Not acted on here; the node names another (a redirect).
    Elsewhere(String),
    /// Maybe done, maybe not.
    Unknown(String),
}

/// A node's base URL: `host:port` and a path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    pub addr: String,
    pub prefix: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let rest = url.strip_prefix("http://").ok_or_else(|| {
            if url.starts_with("https://") {
                format!("{url:?}: https is not supported; point faultline at a plain http listener")
            } else {
                format!("{url:?}: expected http://HOST:PORT")
            }
        })?;
        let (addr, prefix) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].trim_end_matches('/')),
            None => (rest, ""),
        };
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!("{url:?}: expected http://HOST:PORT (with a port)"));
        }
        Ok(BaseUrl {
            addr: addr.to_string(),
            prefix: prefix.to_string(),
        })
    }
}

impl Described {
    /// Reads and checks a description file; the error names the file and the field.
    pub fn load(path: &Path) -> Result<Described, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        Described::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<Described, String> {
        let d: Described = toml::from_str(text).map_err(|e| {
            // toml's message already shows the line and the field; make it one paragraph.
            e.to_string().trim_end().to_string()
        })?;
        d.validate()?;
        Ok(d)
    }

    fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("nodes: describe at least one node ([[nodes]] with name and url)".into());
        }
        let mut names = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            let field = format!("nodes[{i}]");
            if n.name.is_empty() || n.name.contains(['/', ' ']) {
                return Err(format!(
                    "{field}.name: {:?} must be a plain word (it names the node's directory)",
                    n.name
                ));
            }
            if names.insert(n.name.clone(), i).is_some() {
                return Err(format!("{field}.name: {:?} is used twice", n.name));
            }
            BaseUrl::parse(&n.url.replace("{ip}", "127.0.0.1"))
                .map_err(|e| format!("{field}.url: {e}"))?;
        }
        for (name, r) in [
            ("read", &self.read),
            ("write", &self.write),
            ("cas", &self.cas),
        ]
        .into_iter()
        .chain(self.final_read.as_ref().map(|r| ("final_read", r)))
        {
            r.validate(name)?;
        }
        if self.read.value.is_none() {
            return Err("read.value: say where the answer keeps the value (a JSON pointer such as \"/value\")".into());
        }
        for (name, p) in [("leader", &self.leader), ("clock", &self.clock)] {
            if let Some(p) = p {
                pointer(&format!("{name}.pointer"), &p.pointer)?;
                if name == "leader" && p.equals.is_none() == p.equals_pointer.is_none() {
                    return Err("leader: give exactly one of equals and equals_pointer".into());
                }
            }
        }
        Ok(())
    }

    /// Whether faultline starts every node itself (each has a `start` command), and so can
    /// restart it, place it in a namespace and give it libfaketime.
    pub fn launches(&self) -> bool {
        self.nodes.iter().all(|n| n.start.is_some())
    }

    /// The request for `op`.
    pub fn prepare(&self, op: Op) -> Prepared {
        let (r, fields): (&Request, Vec<(&str, String)>) = match op {
            Op::Read { key } => (&self.read, vec![("key", self.encode_key(key))]),
            Op::Write { key, value } => (
                &self.write,
                vec![("key", self.encode_key(key)), ("value", self.encode(value))],
            ),
            Op::Cas { key, from, to } => (
                &self.cas,
                vec![
                    ("key", self.encode_key(key)),
                    ("from", self.encode(from)),
                    ("to", self.encode(to)),
                ],
            ),
        };
        r.prepare(&fields)
    }

    /// The request for a node's own copy of `key`.
    pub fn prepare_final_read(&self, key: &str) -> Prepared {
        self.final_read
            .as_ref()
            .unwrap_or(&self.read)
            .prepare(&[("key", self.encode_key(key))])
    }

    fn encode_key(&self, key: &str) -> String {
        match self.encoding {
            Encoding::Plain => key.to_string(),
            Encoding::Base64 => crate::base64::encode(key.as_bytes()),
        }
    }

    /// A value as the template writes it: numbers as they are, strings bare (plain), or the
    /// value's text in base64.
    fn encode(&self, v: &Value) -> String {
        let text = match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        match self.encoding {
            Encoding::Plain => text,
            Encoding::Base64 => crate::base64::encode(text.as_bytes()),
        }
    }

    fn decode(&self, v: &Value) -> Value {
        let text = match (self.encoding, v) {
            (Encoding::Base64, Value::String(s)) => match crate::base64::decode(s) {
                Some(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                None => return v.clone(),
            },
            (Encoding::Plain, _) => return v.clone(),
            (_, other) => return other.clone(),
        };
        // Values this harness writes are JSON numbers; anything else stays text.
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    /// What the answer to `op` (or a final read, when `final_read`) means.
    pub fn interpret(
        &self,
        op: Op,
        final_read: bool,
        status: u16,
        body: &Value,
        location: Option<&str>,
    ) -> Answer {
        let r = match op {
            _ if final_read => self.final_read.as_ref().unwrap_or(&self.read),
            Op::Read { .. } => &self.read,
            Op::Write { .. } => &self.write,
            Op::Cas { .. } => &self.cas,
        };
        let version = r
            .version
            .as_deref()
            .and_then(|p| body.pointer(p))
            .and_then(|v| v.as_u64().or_else(|| v.as_str()?.parse().ok()));
        // `503: no leader known`: the answer's own message when it has one, else its text.
        let said = || {
            let message = ["/error", "/message"]
                .iter()
                .find_map(|p| body.pointer(p)?.as_str());
            let text: String = match (message, body) {
                (Some(m), _) => m.chars().take(200).collect(),
                (None, Value::Null) => String::new(),
                (None, Value::String(s)) => s.chars().take(200).collect(),
                (None, other) => other.to_string().chars().take(200).collect(),
            };
            format!("{status}: {text}")
                .trim_end_matches([':', ' '])
                .to_string()
        };
        if listed(&r.ok, status) {
            if let Some(p) = &r.succeeded {
                if body.pointer(p) != Some(&Value::Bool(true)) {
                    return Answer::Mismatch;
                }
            }
            let value = match (op, &r.value) {
                (Op::Read { .. }, Some(p)) => {
                    body.pointer(p).map_or(Value::Null, |v| self.decode(v))
                }
                _ => Value::Null,
            };
            return Answer::Ok { value, version };
        }
        if listed(&r.absent, status) {
            return Answer::Ok {
                value: Value::Null,
                version: None,
            };
        }
        if listed(&r.mismatch, status) {
            return Answer::Mismatch;
        }
        if (300..400).contains(&status) && self.follow_redirects && !final_read {
            if let Some(loc) = location {
                if let Some(addr) = location_addr(loc) {
                    return Answer::Elsewhere(addr);
                }
            }
        }
        if listed(&r.fail, status) {
            let unsure = r.indeterminate.as_deref().and_then(|p| body.pointer(p))
                == Some(&Value::Bool(true));
            return if unsure {
                Answer::Unknown(said())
            } else {
                Answer::Refused(said())
            };
        }
        Answer::Unknown(said())
    }
}

impl Request {
    fn validate(&self, name: &str) -> Result<(), String> {
        if !["GET", "PUT", "POST", "DELETE", "PATCH"].contains(&self.method.as_str()) {
            return Err(format!(
                "{name}.method: {:?} is not one of GET, PUT, POST, DELETE, PATCH",
                self.method
            ));
        }
        if !self.path.starts_with('/') {
            return Err(format!("{name}.path: {:?} must start with /", self.path));
        }
        if self.ok.is_empty() {
            return Err(format!(
                "{name}.ok: list the statuses that mean it happened, e.g. ok = [200]"
            ));
        }
        let allowed: &[&str] = match name {
            "read" | "final_read" => &["key"],
            "write" => &["key", "value"],
            _ => &["key", "from", "to"],
        };
        for (field, text) in [("path", Some(&self.path)), ("body", self.body.as_ref())] {
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
        Ok(())
    }

    fn prepare(&self, fields: &[(&str, String)]) -> Prepared {
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
            body: self.body.as_deref().map(fill),
        }
    }
}

/// `http://127.0.0.1:7001/kv/x` → `127.0.0.1:7001`; nothing for other schemes or no host.
fn location_addr(location: &str) -> Option<String> {
    let rest = location.strip_prefix("http://")?;
    Some(rest.split('/').next()?.to_string()).filter(|a| !a.is_empty())
}

/// The `{word}` placeholders in a template (JSON braces like `{"a": 1}` are not words).
fn placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find('{') {
        rest = &rest[i + 1..];
        if let Some(j) = rest.find('}') {
            let word = &rest[..j];
            if !word.is_empty() && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                found.push(word);
            }
        }
    }
    found
}

fn pointer(field: &str, p: &str) -> Result<(), String> {
    if p.is_empty() || p.starts_with('/') {
        Ok(())
    } else {
        Err(format!(
            "{field}: {p:?} is not a JSON pointer; it must start with / (e.g. \"/value\")"
        ))
    }
}

/// Fills a command or URL template for one node.
pub fn fill_node(
    template: &str,
    node: &NodeDesc,
    index: usize,
    ip: &str,
    data_dir: &Path,
    program: &Path,
) -> String {
    template
        .replace("{name}", &node.name)
        .replace("{index}", &(index + 1).to_string())
        .replace("{ip}", ip)
        .replace("{data_dir}", &data_dir.display().to_string())
        .replace("{faultline}", &program.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn example(name: &str) -> Described {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/targets")
            .join(name);
        Described::load(&path).unwrap()
    }

    #[test]
    fn the_raftkv_example_speaks_raftkvs_api() {
        let d = example("raftkv.toml");
        assert_eq!(d.nodes.len(), 3);
        let v = json!(7);
        let p = d.prepare(Op::Write {
            key: "k1",
            value: &v,
        });
        assert_eq!((p.method.as_str(), p.path.as_str()), ("PUT", "/kv/k1"));
        assert_eq!(p.body.as_deref(), Some("{\"value\": 7}"));
        let read = Op::Read { key: "k1" };
        assert_eq!(
            d.interpret(read, false, 200, &json!({"value": 7, "version": 12}), None),
            Answer::Ok {
                value: json!(7),
                version: Some(12)
            }
        );
        assert_eq!(
            d.interpret(read, false, 404, &json!({"error": "no such key"}), None),
            Answer::Ok {
                value: Value::Null,
                version: None
            }
        );
        assert_eq!(
            d.interpret(
                read,
                false,
                307,
                &Value::Null,
                Some("http://127.0.0.1:26002/kv/k1")
            ),
            Answer::Elsewhere("127.0.0.1:26002".into())
        );
        let (a, b) = (json!(1), json!(2));
        let cas = Op::Cas {
            key: "k1",
            from: &a,
            to: &b,
        };
        assert_eq!(
            d.interpret(cas, false, 409, &json!({}), None),
            Answer::Mismatch
        );
        assert!(matches!(
            d.interpret(
                cas,
                false,
                503,
                &json!({"error": "x", "indeterminate": true}),
                None
            ),
            Answer::Unknown(_)
        ));
        assert!(matches!(
            d.interpret(cas, false, 503, &json!({"error": "no leader"}), None),
            Answer::Refused(_)
        ));
        assert!(matches!(
            d.interpret(cas, false, 502, &Value::Null, None),
            Answer::Unknown(_)
        ));
    }

    #[test]
    fn the_etcd_example_speaks_the_json_gateway() {
        let d = example("etcd.toml");
        assert_eq!(d.encoding, Encoding::Base64);
        let (a, b) = (json!(1), json!(2));
        let p = d.prepare(Op::Cas {
            key: "k1",
            from: &a,
            to: &b,
        });
        assert_eq!(p.path, "/v3/kv/txn");
        let body: Value = serde_json::from_str(p.body.as_deref().unwrap()).unwrap();
        assert_eq!(body["compare"][0]["key"], "azE=");
        assert_eq!(body["compare"][0]["value"], "MQ==");
        assert_eq!(body["success"][0]["request_put"]["value"], "Mg==");
        let cas = Op::Cas {
            key: "k1",
            from: &a,
            to: &b,
        };
        assert_eq!(
            d.interpret(
                cas,
                false,
                200,
                &json!({"header": {"revision": "9"}, "succeeded": true}),
                None
            ),
            Answer::Ok {
                value: Value::Null,
                version: Some(9)
            }
        );
        assert_eq!(
            d.interpret(cas, false, 200, &json!({"header": {"revision": "9"}}), None),
            Answer::Mismatch,
            "a failed txn has no succeeded field"
        );
        let read = Op::Read { key: "k1" };
        assert_eq!(
            d.interpret(read, false, 200, &json!({"header": {}, "kvs": [{"key": "azE=", "value": "MTI=", "mod_revision": "5"}]}), None),
            Answer::Ok { value: json!(12), version: Some(5) }
        );
        assert_eq!(
            d.interpret(
                read,
                false,
                200,
                &json!({"header": {"revision": "3"}}),
                None
            ),
            Answer::Ok {
                value: Value::Null,
                version: None
            },
            "an absent key has no kvs"
        );
        assert!(matches!(
            d.interpret(cas, false, 503, &Value::Null, None),
            Answer::Unknown(_)
        ));
    }

    #[test]
    fn errors_name_the_field() {
        let good = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets/raftkv.toml"),
        )
        .unwrap();
        let cases = [
            (
                good.replace("method = \"PUT\"", "method = \"FETCH\""),
                "write.method: \"FETCH\"",
            ),
            (
                good.replace("path = \"/kv/{key}/cas\"", "path = \"/kv/{key}/cas/{old}\""),
                "cas.path: unknown placeholder {old}",
            ),
            (
                good.replace("value = \"/value\"", "value = \"value\""),
                "read.value: \"value\" is not a JSON pointer",
            ),
            (
                good.replace("url = \"http://{ip}:26001\"", "url = \"127.0.0.1:26001\""),
                "nodes[0].url",
            ),
            (
                good.replace("ok = [200]", "ok = [\"2xy\"]"),
                "status \"2xy\"",
            ),
            (
                good.replace("name = \"n2\"", "name = \"n1\""),
                "nodes[1].name: \"n1\" is used twice",
            ),
            (
                good.replace("[cas]", "[cas]\ncolour = 1"),
                "unknown field `colour`",
            ),
        ];
        for (text, expected) in cases {
            let e = Described::parse(&text).unwrap_err();
            assert!(e.contains(expected), "expected {expected:?} in:\n{e}");
        }
        let e = Described::parse("name = \"x\"\n").unwrap_err();
        assert!(e.contains("missing field `nodes`"), "{e}");
    }

    #[test]
    fn redirect_locations_name_the_leader_address() {
        assert_eq!(
            location_addr("http://10.0.0.2:7000/kv/k1/cas").as_deref(),
            Some("10.0.0.2:7000")
        );
        assert_eq!(location_addr("ftp://x/"), None);
        assert_eq!(location_addr("http:///kv/x"), None);
        let d = example("raftkv.toml");
        assert_eq!(
            d.interpret(
                Op::Read { key: "k" },
                false,
                307,
                &Value::Null,
                Some("ftp://x/")
            ),
            Answer::Refused("307".into()),
            "a redirect to nowhere usable is a refusal"
        );
        assert_eq!(
            d.interpret(
                Op::Read { key: "k" },
                false,
                503,
                &json!({"error": "no leader known"}),
                None
            ),
            Answer::Refused("503: no leader known".into()),
            "the answer's own message"
        );
    }

    #[test]
    fn placeholders_are_words_in_braces() {
        assert_eq!(
            placeholders("{\"key\": \"{key}\", \"v\": {value}}"),
            vec!["key", "value"]
        );
        assert_eq!(
            BaseUrl::parse("http://10.0.0.1:2379/api").unwrap().prefix,
            "/api"
        );
        assert!(BaseUrl::parse("https://x:1")
            .unwrap_err()
            .contains("https is not supported"));
    }
}
