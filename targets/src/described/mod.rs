//! Any HTTP key-value service, described in a TOML file instead of code (`--target http:FILE`).
//!
//! The file says where the nodes are (`http://` or `https://`, host names and IPv6 literals
//! allowed), how to read, write and compare-and-set (method, path, header and body templates
//! with `{key}`, `{value}`, `{from}`, `{to}`, and the body's Content-Type), where the answer
//! keeps the value and its version (JSON pointers) and what type the value has (`json`,
//! `number`, or `string` for services that return numbers as text), and what an answer means:
//! `classify` rules on the body (a regex, or a JSON pointer that must equal a value) come
//! first — for services that report errors with 200 — then the statuses: `ok`, `fail`
//! (certainly not done), `absent` (a read of a missing key), `mismatch` (a cas whose expected
//! value did not match). Any other status, and any timeout or broken connection, is
//! indeterminate. A body that is not JSON is read as a JSON string of its text.
//!
//! Optional commands start, stop, health-check, set up and find each node, and optional probes
//! (or a `leader_command`) say who leads and what a node's clock reads; with them faultline can
//! pause, kill, restart, skew and partition the service's nodes. `[cas]` may be left out for
//! `--workload register`. `examples/targets/` has complete files, for raftkv, for etcd's JSON
//! gateway (`--target etcd` is that one, filled in by [`crate::etcd`]) and for a service that
//! returns text values and reports errors with 200.
//!
//! This module only reads the description and turns operations into requests and answers into
//! [`Answer`]s; running the nodes and recording the history is the harness's work.

use crate::client::{Reply, TlsFiles};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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
    /// What a value read looks like (default `json`); a request may say otherwise.
    #[serde(default)]
    pub value_type: ValueType,
    /// Certificates for `https://` nodes.
    #[serde(default)]
    pub tls: Option<TlsDesc>,
    pub nodes: Vec<NodeDesc>,
    /// Required, unless the service speaks SQL (`[sql]`) or AMQP (`[amqp]`).
    #[serde(default)]
    pub read: Option<Request>,
    #[serde(default)]
    pub write: Option<Request>,
    /// Not needed for `--workload register`.
    #[serde(default)]
    pub cas: Option<Request>,
    /// A transaction, for `--workload list-append` and `rw-register`: `{ops}` in the body is
    /// the JSON array of micro-ops (`[["append", k, v], ["r", k, null], ["w", k, v], …]`), and
    /// `value` points at the completed micro-ops in the answer, in the same form, reads filled
    /// in (a register's read or write may carry its version as a fourth element).
    #[serde(default)]
    pub txn: Option<Request>,
    /// How to read a node's own state after the faults are healed (default: `read`, sent to
    /// each node without following redirects).
    #[serde(default)]
    pub final_read: Option<Request>,
    #[serde(default)]
    pub leader: Option<Probe>,
    #[serde(default)]
    pub clock: Option<Probe>,
    /// A command that prints the leading node's name (instead of a `leader` probe).
    #[serde(default)]
    pub leader_command: Option<String>,
    /// How to change the service's membership, for the `membership` fault (optional).
    #[serde(default)]
    pub members: Option<MembersDesc>,
    /// Transactions through the service's own protocol instead of a `[txn]` request:
    /// `"etcd"`, etcd v3's compare-on-revision `Txn` through the JSON gateway
    /// ([`crate::etcd_txn`]).
    #[serde(default)]
    pub transactions: Option<TxnProtocol>,
    /// The service is a database that speaks PostgreSQL's protocol, driven in SQL
    /// ([`crate::sql`]), not through HTTP requests: the nodes' URLs are
    /// `postgres://HOST:PORT`, and read, write, cas, txn and final_read are not given.
    #[serde(default)]
    pub sql: Option<crate::sql::SqlDesc>,
    /// The service is a message broker that speaks AMQP 0.9.1 ([`crate::amqp`]), for the queue
    /// workload: the nodes' URLs are `amqp://HOST:PORT`, and no HTTP request is given.
    #[serde(default)]
    pub amqp: Option<crate::amqp::AmqpDesc>,
    /// The service is ZooKeeper ([`crate::zk`]), driven as a register store in its own
    /// protocol: the nodes' URLs are `zk://HOST:PORT`, and no HTTP request is given.
    #[serde(default)]
    pub zookeeper: Option<crate::zk::ZkDesc>,
    /// The directory of the file this was loaded from (`{file_dir}` in node commands); the
    /// current directory for a description parsed from text.
    #[serde(skip)]
    pub file_dir: PathBuf,
}

/// The membership requests of a service: list the members, add one, remove one. In `path`
/// and `body`, `{member}` is the node's name and `{member_url}` its URL. Each is sent to a node
/// other than the one changed; a 2xx answer is success. A change is confirmed by the list.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersDesc {
    pub list: MemberList,
    pub add: MemberCall,
    pub remove: MemberCall,
}

/// The request that lists the members: the array at `pointer` holds names, or objects whose
/// name is at `name_pointer`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberList {
    #[serde(default = "get")]
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
    pub pointer: String,
    #[serde(default)]
    pub name_pointer: Option<String>,
}

/// A request that adds or removes a member.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberCall {
    pub method: String,
    pub path: String,
    #[serde(default)]
    pub body: Option<String>,
}

impl MemberList {
    /// The member names in a list answer.
    pub fn names(&self, body: &Value) -> Result<Vec<String>, String> {
        let list = body
            .pointer(&self.pointer)
            .and_then(Value::as_array)
            .ok_or_else(|| format!("members.list: no array at {} in {body}", self.pointer))?;
        list.iter()
            .map(|m| {
                let name = match &self.name_pointer {
                    Some(p) => m.pointer(p),
                    None => Some(m),
                };
                name.and_then(Value::as_str)
                    .map(String::from)
                    .ok_or_else(|| format!("members.list: a member without a name: {m}"))
            })
            .collect()
    }
}

/// A service's own way of running transactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TxnProtocol {
    /// etcd v3: read every key in one `Txn`, commit in another that compares revisions.
    Etcd,
}

/// What the value at a read's `value` pointer is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Any JSON value, as it is (the harness writes numbers).
    #[default]
    Json,
    /// A JSON number; anything else is an unreadable answer.
    Number,
    /// Text holding a number (`"5"` reads as 5); other text is an unreadable answer.
    String,
}

/// `[tls]`: a CA to trust and, optionally, a client certificate and its key. Relative paths are
/// relative to the target file.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsDesc {
    #[serde(default)]
    pub ca: Option<PathBuf>,
    #[serde(default)]
    pub cert: Option<PathBuf>,
    #[serde(default)]
    pub key: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    #[default]
    Plain,
    Base64,
}

/// One node. Commands run under `sh -c`, in faultline's own working directory, with `{name}`,
/// `{index}` (1-based), `{ip}`, `{ip:NAME}` (another node's address), `{data_dir}`,
/// `{faultline}` (this program) and `{file_dir}` (the description file's directory) filled in;
/// `url` may use them too. Any other `{word}` is refused when the file loads.
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
    /// Run once the node is healthy, at the start and after every restart (create a bucket, a
    /// table); the run stops if it fails.
    #[serde(default)]
    pub setup: Option<String>,
}

/// One kind of request and how to read its answer.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// Extra request headers, templated like the path.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub body: Option<String>,
    /// The body's Content-Type (default `application/json`).
    #[serde(default)]
    pub content_type: Option<String>,
    /// Overrides the file's `value_type` for this request.
    #[serde(default)]
    pub value_type: Option<ValueType>,
    /// Rules on the answer, tried in order before the status lists; the first that matches
    /// decides.
    #[serde(default)]
    pub classify: Vec<Rule>,
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

/// `[[read.classify]]`: when the answer's body (and status, if given) looks like this, it
/// means `means`.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Only answers with these statuses (default: any).
    #[serde(default)]
    pub status: Vec<StatusSet>,
    /// A regular expression the body's text must match somewhere.
    #[serde(default)]
    pub body_matches: Option<String>,
    /// A JSON pointer into the body, whose value must equal `equals`.
    #[serde(default)]
    pub pointer: Option<String>,
    #[serde(default)]
    pub equals: Option<Value>,
    pub means: Means,
    #[serde(skip)]
    compiled: Option<regex::Regex>,
}

/// What an answer a [`Rule`] matched means.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Means {
    Ok,
    Fail,
    Absent,
    Mismatch,
    Unknown,
}

impl Rule {
    fn compile(&mut self, field: &str) -> Result<(), String> {
        match (&self.body_matches, &self.pointer, &self.equals) {
            (Some(re), None, None) => {
                let re = regex::Regex::new(re).map_err(|e| {
                    // regex's message draws the pattern over several lines; keep its verdict.
                    let text = e.to_string();
                    let why = text.lines().last().unwrap_or_default();
                    let why = why.trim().trim_start_matches("error: ");
                    format!("{field}.body_matches: {re:?} is not a regex ({why})")
                })?;
                self.compiled = Some(re);
            }
            (None, Some(p), Some(_)) => pointer(&format!("{field}.pointer"), p)?,
            (None, Some(_), None) => return Err(format!("{field}: pointer needs equals")),
            _ => {
                return Err(format!(
                    "{field}: give body_matches, or pointer with equals (exactly one test)"
                ))
            }
        }
        Ok(())
    }

    fn matches(&self, reply: &Reply) -> bool {
        if !self.status.is_empty() && !listed(&self.status, reply.status) {
            return false;
        }
        match (&self.compiled, &self.pointer) {
            (Some(re), _) => re.is_match(&reply.text),
            (None, Some(p)) => reply.body.pointer(p) == self.equals.as_ref(),
            (None, None) => false,
        }
    }
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
    /// A transaction: its micro-ops as a JSON array.
    Txn {
        ops: &'a Value,
    },
}

/// What a request should be.
#[derive(Clone, Debug, PartialEq)]
pub struct Prepared {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<String>,
    pub content_type: Option<String>,
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
    /// Not acted on here; the node names where to ask (a redirect's Location, absolute or
    /// relative).
    Elsewhere(String),
    /// Maybe done, maybe not.
    Unknown(String),
}

mod base_url;
mod exchange;
#[cfg(test)]
mod tests;
pub use base_url::*;

impl Described {
    /// Reads and checks a description file; the error names the file and the field. Relative
    /// certificate paths are taken from the file's directory.
    pub fn load(path: &Path) -> Result<Described, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut d = Described::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        d.file_dir = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        if let Some(tls) = &mut d.tls {
            for p in [&mut tls.ca, &mut tls.cert, &mut tls.key]
                .into_iter()
                .flatten()
            {
                *p = dir.join(&*p);
            }
        }
        Ok(d)
    }

    pub fn parse(text: &str) -> Result<Described, String> {
        let mut d: Described = toml::from_str(text).map_err(|e| {
            // toml's message already shows the line and the field; make it one paragraph.
            e.to_string().trim_end().to_string()
        })?;
        d.validate()?;
        Ok(d)
    }

    fn validate(&mut self) -> Result<(), String> {
        self.validate_nodes()?;
        let protocols: Vec<&str> = [
            ("[sql]", self.sql.is_some()),
            ("[amqp]", self.amqp.is_some()),
            ("[zookeeper]", self.zookeeper.is_some()),
        ]
        .iter()
        .filter(|(_, given)| *given)
        .map(|(name, _)| *name)
        .collect();
        if protocols.len() > 1 {
            return Err(format!(
                "{}: a target speaks one protocol; give one of them",
                protocols.join(" and ")
            ));
        }
        if self.sql.is_some() {
            return self.validate_protocol("sql", "postgres", "a database");
        }
        if self.amqp.is_some() {
            return self.validate_protocol("amqp", "amqp", "a message broker");
        }
        if self.zookeeper.is_some() {
            return self.validate_protocol("zookeeper", "zk", "ZooKeeper");
        }
        for (name, r) in [("read", &self.read), ("write", &self.write)] {
            if r.is_none() {
                return Err(format!("{name}: missing: describe the [{name}] request (or an [sql] section for a database that speaks PostgreSQL's protocol)"));
            }
        }
        let requests = [
            ("read", self.read.as_mut()),
            ("write", self.write.as_mut()),
            ("cas", self.cas.as_mut()),
            ("txn", self.txn.as_mut()),
            ("final_read", self.final_read.as_mut()),
        ];
        for (name, r) in requests {
            if let Some(r) = r {
                r.validate(name)?;
            }
        }
        if self.read_request().value.is_none() {
            return Err("read.value: say where the answer keeps the value (a JSON pointer such as \"/value\")".into());
        }
        if self.txn.is_some() && self.transactions.is_some() {
            return Err(
                "transactions: give a [txn] request or transactions = \"etcd\", not both".into(),
            );
        }
        if self.txn.as_ref().is_some_and(|t| t.value.is_none()) {
            return Err("txn.value: say where the answer keeps the completed micro-ops (a JSON pointer such as \"/ops\")".into());
        }
        for (name, p) in [("leader", &self.leader), ("clock", &self.clock)] {
            if let Some(p) = p {
                pointer(&format!("{name}.pointer"), &p.pointer)?;
                if name == "leader" && p.equals.is_none() == p.equals_pointer.is_none() {
                    return Err("leader: give exactly one of equals and equals_pointer".into());
                }
            }
        }
        if let Some(m) = &self.members {
            pointer("members.list.pointer", &m.list.pointer)?;
            if let Some(p) = &m.list.name_pointer {
                pointer("members.list.name_pointer", p)?;
            }
        }
        if self.leader.is_some() && self.leader_command.is_some() {
            return Err(
                "leader_command: give a [leader] probe or a leader_command, not both".into(),
            );
        }
        if let Some(tls) = &self.tls {
            if tls.cert.is_some() != tls.key.is_some() {
                return Err("tls: a client certificate needs both cert and key".into());
            }
        }
        Ok(())
    }

    fn validate_nodes(&self) -> Result<(), String> {
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
        }
        for (i, n) in self.nodes.iter().enumerate() {
            let field = format!("nodes[{i}]");
            let commands = [
                ("url", Some(&n.url)),
                ("start", n.start.as_ref()),
                ("stop", n.stop.as_ref()),
                ("health", n.health.as_ref()),
                ("pid", n.pid.as_ref()),
                ("setup", n.setup.as_ref()),
            ];
            for (name, text) in commands {
                if let Some(text) = text {
                    self.check_node_placeholders(text)
                        .map_err(|e| format!("{field}.{name}: {e}"))?;
                }
            }
            let url = fill_node(
                &n.url,
                n,
                i,
                "127.0.0.1",
                Path::new("/data"),
                Path::new("/faultline"),
            );
            let url = self.nodes.iter().fold(url, |u, m| {
                u.replace(&format!("{{ip:{}}}", m.name), "127.0.0.1")
            });
            BaseUrl::parse(&url).map_err(|e| format!("{field}.url: {e}"))?;
        }
        Ok(())
    }

    /// Every `{…}` in a node's URL or command is one faultline fills in (shell `${VAR}` is the
    /// shell's own, and braces with spaces are not placeholders): a typo is an error here,
    /// not a command that fails in the shell halfway into a run.
    fn check_node_placeholders(&self, text: &str) -> Result<(), String> {
        for word in node_placeholders(text) {
            let known = NODE_PLACEHOLDERS.contains(&word)
                || word
                    .strip_prefix("ip:")
                    .is_some_and(|name| self.nodes.iter().any(|m| m.name == name));
            if !known {
                let names: Vec<String> = self
                    .nodes
                    .iter()
                    .map(|m| format!("{{ip:{}}}", m.name))
                    .collect();
                return Err(format!(
                    "unknown placeholder {{{word}}}; a node's url and commands know {}, and {}",
                    NODE_PLACEHOLDERS
                        .iter()
                        .map(|p| format!("{{{p}}}"))
                        .collect::<Vec<_>>()
                        .join(", "),
                    names.join(", ")
                ));
            }
        }
        Ok(())
    }

    /// The nodes faultline starts whose port lies in this machine's ephemeral range (from
    /// `/proc/sys/net/ipv4/ip_local_port_range`), as `(node, port, low, high)`: any program's
    /// outgoing connections, faultline's own to the previous run included, take their local
    /// ports there, so a restart can find the port taken ("address already in use").
    pub fn ports_in_ephemeral_range(&self) -> Vec<(String, u16, u16, u16)> {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .ok()
            .and_then(|r| {
                let mut it = r.split_whitespace().map(|x| x.parse::<u16>().ok());
                Some((it.next()??, it.next()??))
            });
        let Some((low, high)) = range else {
            return Vec::new();
        };
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.start.is_some())
            .filter_map(|(i, n)| {
                let url = fill_node(&n.url, n, i, "127.0.0.1", Path::new("/"), Path::new("/"));
                let port = BaseUrl::parse(&url).ok()?.port;
                (low..=high)
                    .contains(&port)
                    .then(|| (n.name.clone(), port, low, high))
            })
            .collect()
    }

    /// `template` with `{file_dir}` filled in: the directory of the description file.
    pub fn fill_file_dir(&self, template: &str) -> String {
        template.replace("{file_dir}", &self.file_dir.display().to_string())
    }

    /// Whether a node command names `{faultline}` (which must then be copied where it runs).
    pub fn runs_faultline(&self) -> bool {
        self.nodes.iter().any(|n| {
            [&n.start, &n.stop, &n.health, &n.pid, &n.setup]
                .into_iter()
                .flatten()
                .any(|c| c.contains("{faultline}"))
        })
    }

    /// The certificates to use, as the client wants them.
    pub fn tls_files(&self) -> TlsFiles {
        let t = self.tls.clone().unwrap_or_default();
        TlsFiles {
            ca: t.ca,
            cert: t.cert,
            key: t.key,
        }
    }

    /// A description with no nodes and no requests, for code that builds one.
    pub(crate) fn empty() -> Described {
        Described {
            name: String::new(),
            encoding: Encoding::Plain,
            follow_redirects: false,
            value_type: ValueType::Json,
            tls: None,
            nodes: Vec::new(),
            read: None,
            write: None,
            cas: None,
            txn: None,
            final_read: None,
            leader: None,
            clock: None,
            leader_command: None,
            members: None,
            transactions: None,
            sql: None,
            amqp: None,
            zookeeper: None,
            file_dir: PathBuf::from("."),
        }
    }

    /// The read request of a description driven over HTTP.
    fn read_request(&self) -> &Request {
        self.read
            .as_ref()
            .expect("an HTTP description has a read (checked at load)")
    }

    /// A service driven in its own protocol (`[sql]`, `[amqp]`): no HTTP requests, and URLs of
    /// its scheme.
    fn validate_protocol(&self, section: &str, scheme: &str, what: &str) -> Result<(), String> {
        let http = [
            ("read", self.read.is_some()),
            ("write", self.write.is_some()),
            ("cas", self.cas.is_some()),
            ("txn", self.txn.is_some()),
            ("final_read", self.final_read.is_some()),
            ("leader", self.leader.is_some()),
            ("clock", self.clock.is_some()),
            ("members", self.members.is_some()),
        ];
        if let Some((name, _)) = http.iter().find(|(_, given)| *given) {
            return Err(format!("{name}: an [{section}] target is {what} driven in its own protocol, not with HTTP requests; leave [{name}] out"));
        }
        match self
            .nodes
            .iter()
            .position(|n| !n.url.starts_with(&format!("{scheme}://")))
        {
            Some(i) => Err(format!(
                "nodes[{i}].url: an [{section}] target's nodes are {scheme}://HOST:PORT"
            )),
            None => Ok(()),
        }
    }

    /// Whether faultline starts every node itself (each has a `start` command), and so can
    /// restart it, place it in a namespace and give it libfaketime.
    pub fn launches(&self) -> bool {
        self.nodes.iter().all(|n| n.start.is_some())
    }
}

/// What a node's URL and commands may name, besides `{ip:NAME}` for each node.
pub const NODE_PLACEHOLDERS: [&str; 6] =
    ["name", "index", "ip", "data_dir", "faultline", "file_dir"];

/// The `{word}` and `{ip:NAME}` placeholders in a node's URL or command, leaving out the
/// shell's own `${VAR}` and braces that hold anything but a name (`{ print $1 }`).
fn node_placeholders(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let bytes = text.as_bytes();
    for (i, _) in text.match_indices('{') {
        if i > 0 && bytes[i - 1] == b'$' {
            continue;
        }
        let rest = &text[i + 1..];
        let Some(j) = rest.find('}') else { continue };
        let word = &rest[..j];
        let plain = |c: char| c.is_ascii_alphanumeric() || "_:.-".contains(c);
        if !word.is_empty() && word.chars().all(plain) {
            found.push(word);
        }
    }
    found
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

/// Fills a command or URL template for one node (all but `{file_dir}` and `{ip:NAME}`, which
/// need the whole description: [`Described::fill_file_dir`] and the launcher).
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
