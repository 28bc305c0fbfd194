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
use std::net::{SocketAddr, ToSocketAddrs};
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
    /// Required, unless the service speaks SQL (`[sql]`).
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

/// A node's base URL: scheme, host, port and a path prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BaseUrl {
    /// `http` or `https` (`postgres` for an [sql] target).
    pub scheme: String,
    /// A name, an IPv4 address, or an IPv6 address in brackets.
    pub host: String,
    pub port: u16,
    pub prefix: String,
}

impl BaseUrl {
    pub fn parse(url: &str) -> Result<BaseUrl, String> {
        let u = reqwest::Url::parse(url).map_err(|e| {
            format!("{url:?}: expected http://HOST:PORT or https://HOST:PORT ({e})")
        })?;
        if !["http", "https", "postgres"].contains(&u.scheme()) {
            return Err(format!(
                "{url:?}: expected an http:// or https:// URL (or postgres:// for an [sql] target)"
            ));
        }
        let Some(host) = host_of(&u) else {
            return Err(format!("{url:?}: the URL names no host"));
        };
        if u.query().is_some() || u.fragment().is_some() || !u.username().is_empty() {
            return Err(format!(
                "{url:?}: a node's URL is scheme, host, port and path only"
            ));
        }
        Ok(BaseUrl {
            scheme: u.scheme().to_string(),
            host,
            // PostgreSQL's own port when a postgres:// URL names none.
            port: u.port_or_known_default().unwrap_or(5432),
            prefix: u.path().trim_end_matches('/').to_string(),
        })
    }

    /// `host:port`, as a Host header and a Location name it.
    pub fn authority(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The URL of `path` (which starts with `/`) on this node.
    pub fn url(&self, path: &str) -> String {
        format!(
            "{}://{}{}{path}",
            self.scheme,
            self.authority(),
            self.prefix
        )
    }

    /// A host name, if the host is one (not an address).
    pub fn domain(&self) -> Option<&str> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        bare.parse::<std::net::IpAddr>()
            .is_err()
            .then_some(&self.host)
    }

    /// The host name and the address it resolved to, for the HTTP client to keep to (nothing
    /// when the host is an address).
    pub fn pin(&self, resolved: SocketAddr) -> Option<(String, SocketAddr)> {
        Some((self.domain()?.to_string(), resolved))
    }

    /// Where the host resolves to now (an address resolves to itself).
    pub fn resolve(&self) -> Result<SocketAddr, String> {
        let bare = self.host.trim_start_matches('[').trim_end_matches(']');
        let found = (bare, self.port)
            .to_socket_addrs()
            .map_err(|e| format!("cannot resolve {}: {e}", self.host))?;
        let mut found: Vec<SocketAddr> = found.collect();
        // Prefer IPv4, as most services listen there first.
        found.sort_by_key(|a| !a.is_ipv4());
        found
            .first()
            .copied()
            .ok_or_else(|| format!("{} resolves to no address", self.host))
    }
}

/// A URL's host as a Host header writes it (an IPv6 address in brackets).
fn host_of(u: &reqwest::Url) -> Option<String> {
    match u.host()? {
        url::Host::Ipv6(a) => Some(format!("[{a}]")),
        h => Some(h.to_string()),
    }
}

/// `host:port` of an absolute URL (the scheme's port when none is written).
pub fn authority(url: &str) -> Option<String> {
    let u = reqwest::Url::parse(url).ok()?;
    Some(format!("{}:{}", host_of(&u)?, u.port_or_known_default()?))
}

/// A Location header, absolute or relative, made absolute against the URL it answered.
pub fn redirect_target(from: &str, location: &str) -> Option<String> {
    let to = reqwest::Url::parse(from).ok()?.join(location).ok()?;
    (["http", "https"].contains(&to.scheme()) && to.host().is_some()).then(|| to.to_string())
}

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
        if self.sql.is_some() {
            return self.validate_sql();
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
            file_dir: PathBuf::from("."),
        }
    }

    /// The read request of a description driven over HTTP.
    fn read_request(&self) -> &Request {
        self.read
            .as_ref()
            .expect("an HTTP description has a read (checked at load)")
    }

    /// A database driven in SQL: no HTTP requests, `postgres://` URLs.
    fn validate_sql(&self) -> Result<(), String> {
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
            return Err(format!("{name}: an [sql] target is driven in SQL, not with HTTP requests; leave [{name}] out"));
        }
        match self
            .nodes
            .iter()
            .position(|n| !n.url.starts_with("postgres://"))
        {
            Some(i) => Err(format!(
                "nodes[{i}].url: an [sql] target's nodes are postgres://HOST:PORT"
            )),
            None => Ok(()),
        }
    }

    /// Whether faultline starts every node itself (each has a `start` command), and so can
    /// restart it, place it in a namespace and give it libfaketime.
    pub fn launches(&self) -> bool {
        self.nodes.iter().all(|n| n.start.is_some())
    }

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

    /// The value a read found at its pointer, as its type says; an error says why it is not a
    /// value this harness could have written.
    fn read_value(&self, r: &Request, v: &Value) -> Result<Value, String> {
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

    fn request_for(&self, op: Op, final_read: bool) -> &Request {
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
    fn redirects(&self, status: u16, _final_read: bool) -> bool {
        (300..400).contains(&status) && self.follow_redirects
    }

    /// An answer that says the operation happened: its version, and for a read the value.
    fn ok(&self, op: Op, r: &Request, body: &Value) -> Result<Answer, String> {
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
fn said(reply: &Reply) -> String {
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
fn short(v: &Value) -> String {
    let t = v.to_string();
    if t.chars().count() > 60 {
        format!("{}…", t.chars().take(60).collect::<String>())
    } else {
        t
    }
}

impl Request {
    fn validate(&mut self, name: &str) -> Result<(), String> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reply(status: u16, body: Value, location: Option<&str>) -> Reply {
        Reply {
            status,
            text: if body.is_null() {
                String::new()
            } else {
                body.to_string()
            },
            body,
            location: location.map(str::to_string),
        }
    }

    fn example(name: &str) -> Described {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../examples/targets")
            .join(name);
        Described::load(&path).unwrap()
    }

    #[test]
    fn members_requests_read_names_and_bad_pointers_are_refused() {
        let base = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets/raftkv.toml"),
        )
        .unwrap();
        let with = |list: &str| {
            format!(
                "{base}\n[members.list]\npath = \"/members\"\n{list}\n\
                 [members.add]\nmethod = \"PUT\"\npath = \"/members/{{member}}\"\n\
                 [members.remove]\nmethod = \"DELETE\"\npath = \"/members/{{member}}\"\n"
            )
        };
        let d = Described::parse(&with("pointer = \"/m\"\nname_pointer = \"/name\"")).unwrap();
        let list = &d.members.as_ref().unwrap().list;
        assert_eq!(list.method, "GET");
        assert_eq!(
            list.names(&json!({"m": [{"name": "n1"}, {"name": "n2"}]}))
                .unwrap(),
            ["n1", "n2"]
        );
        assert!(list
            .names(&json!({"m": [{"id": 1}]}))
            .unwrap_err()
            .contains("without a name"));
        assert!(list
            .names(&json!({}))
            .unwrap_err()
            .contains("no array at /m"));
        let bad = Described::parse(&with("pointer = \"m\"")).unwrap_err();
        assert!(bad.contains("members.list.pointer"), "{bad}");
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
            d.interpret(
                read,
                false,
                &reply(200, json!({"value": 7, "version": 12}), None)
            ),
            Answer::Ok {
                value: json!(7),
                version: Some(12)
            }
        );
        assert_eq!(
            d.interpret(
                read,
                false,
                &reply(404, json!({"error": "no such key"}), None)
            ),
            Answer::Ok {
                value: Value::Null,
                version: None
            }
        );
        assert_eq!(
            d.interpret(
                read,
                false,
                &reply(307, Value::Null, Some("http://127.0.0.1:26002/kv/k1"))
            ),
            Answer::Elsewhere("http://127.0.0.1:26002/kv/k1".into())
        );
        let (a, b) = (json!(1), json!(2));
        let cas = Op::Cas {
            key: "k1",
            from: &a,
            to: &b,
        };
        assert_eq!(
            d.interpret(cas, false, &reply(409, json!({}), None)),
            Answer::Mismatch
        );
        assert!(matches!(
            d.interpret(
                cas,
                false,
                &reply(503, json!({"error": "x", "indeterminate": true}), None)
            ),
            Answer::Unknown(_)
        ));
        assert!(matches!(
            d.interpret(cas, false, &reply(503, json!({"error": "no leader"}), None)),
            Answer::Refused(_)
        ));
        assert!(matches!(
            d.interpret(cas, false, &reply(502, Value::Null, None)),
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
                &reply(
                    200,
                    json!({"header": {"revision": "9"}, "succeeded": true}),
                    None
                )
            ),
            Answer::Ok {
                value: Value::Null,
                version: Some(9)
            }
        );
        assert_eq!(
            d.interpret(
                cas,
                false,
                &reply(200, json!({"header": {"revision": "9"}}), None)
            ),
            Answer::Mismatch,
            "a failed txn has no succeeded field"
        );
        let read = Op::Read { key: "k1" };
        assert_eq!(
            d.interpret(read, false, &reply(200, json!({"header": {}, "kvs": [{"key": "azE=", "value": "MTI=", "mod_revision": "5"}]}), None)),
            Answer::Ok { value: json!(12), version: Some(5) }
        );
        assert_eq!(
            d.interpret(
                read,
                false,
                &reply(200, json!({"header": {"revision": "3"}}), None)
            ),
            Answer::Ok {
                value: Value::Null,
                version: None
            },
            "an absent key has no kvs"
        );
        assert!(matches!(
            d.interpret(cas, false, &reply(503, Value::Null, None)),
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
            (
                good.replace("--data-dir {data_dir}", "--data-dir {datadir}"),
                "nodes[0].start: unknown placeholder {datadir}; a node's url and commands know {name}, {index}, {ip}, {data_dir}, {faultline}, {file_dir}, and {ip:n1}, {ip:n2}, {ip:n3}",
            ),
            (
                good.replace("2={ip:n2}:26102", "2={ip:n9}:26102"),
                "nodes[0].start: unknown placeholder {ip:n9}",
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
    fn node_placeholders_are_checked_and_filled() {
        let good = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/targets/raftkv.toml"),
        )
        .unwrap();
        // `{index}` in a URL, the shell's own `${VAR}`, an awk program and `{file_dir}` pass.
        let text = good
            .replace("url = \"http://{ip}:26001\"", "url = \"http://{ip}:2600{index}\"")
            .replace(
                "--request-timeout-ms 1000\"",
                "--request-timeout-ms 1000 ${EXTRA_FLAGS} 2>{file_dir}/n.err\"\npid = \"ps -o pid= | awk '{ print $1 }' | head -1\"",
            );
        let d = Described::parse(&text).unwrap();
        assert_eq!(
            node_placeholders("exec x ${HOME} {ip}:{index} {ip:n2} { print $1 } {\"a\": 1}"),
            ["ip", "index", "ip:n2"]
        );
        let path = std::env::temp_dir().join(format!("faultline-fd-{}.toml", std::process::id()));
        std::fs::write(&path, &text).unwrap();
        let loaded = Described::load(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(loaded.file_dir.is_absolute());
        assert_eq!(
            loaded.fill_file_dir("{file_dir}/n.err"),
            format!("{}/n.err", loaded.file_dir.display())
        );
        assert_eq!(d.nodes[0].url, "http://{ip}:2600{index}");
        // The example's ports are below the ephemeral range; one moved into it is named.
        assert_eq!(d.ports_in_ephemeral_range(), []);
        let (low, _) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
            .map(|r| {
                let v: Vec<u16> = r.split_whitespace().map(|x| x.parse().unwrap()).collect();
                (v[0], v[1])
            })
            .unwrap();
        let moved = good.replace(
            "url = \"http://{ip}:26002\"",
            &format!("url = \"http://{{ip}}:{}\"", low + 1),
        );
        let named = Described::parse(&moved).unwrap().ports_in_ephemeral_range();
        assert_eq!(named.len(), 1);
        assert_eq!((named[0].0.as_str(), named[0].1), ("n2", low + 1));
    }

    #[test]
    fn redirect_locations_are_absolute_or_relative() {
        let from = "http://10.0.0.1:7000/kv/k1";
        assert_eq!(
            redirect_target(from, "http://10.0.0.2:7000/kv/k1/cas").as_deref(),
            Some("http://10.0.0.2:7000/kv/k1/cas")
        );
        assert_eq!(
            redirect_target(from, "/kv/k2").as_deref(),
            Some("http://10.0.0.1:7000/kv/k2")
        );
        assert_eq!(
            redirect_target(from, "http://leader.local:7000/kv/k1").as_deref(),
            Some("http://leader.local:7000/kv/k1")
        );
        assert_eq!(redirect_target(from, "ftp://x/"), None);
        let d = example("raftkv.toml");
        assert_eq!(
            d.interpret(
                Op::Read { key: "k" },
                false,
                &reply(307, Value::Null, Some("/kv/k"))
            ),
            Answer::Elsewhere("/kv/k".into())
        );
        assert_eq!(
            d.interpret(
                Op::Read { key: "k" },
                true,
                &reply(307, Value::Null, Some("/kv/k"))
            ),
            Answer::Elsewhere("/kv/k".into()),
            "a final read follows the redirect as the main phase does"
        );
        assert_eq!(
            d.interpret(
                Op::Read { key: "k" },
                false,
                &reply(503, json!({"error": "no leader known"}), None)
            ),
            Answer::Refused("503: no leader known".into()),
            "the answer's own message"
        );
    }

    #[test]
    fn urls_may_name_hosts_ipv6_literals_and_https() {
        let u = BaseUrl::parse("http://localhost:8080/api/").unwrap();
        assert_eq!(
            (u.authority().as_str(), u.prefix.as_str()),
            ("localhost:8080", "/api")
        );
        assert_eq!(u.domain(), Some("localhost"));
        assert_eq!(u.url("/kv/a"), "http://localhost:8080/api/kv/a");
        assert!(u.resolve().unwrap().ip().is_loopback());
        let v6 = BaseUrl::parse("http://[::1]:2379").unwrap();
        assert_eq!((v6.authority().as_str(), v6.domain()), ("[::1]:2379", None));
        assert_eq!(v6.resolve().unwrap().to_string(), "[::1]:2379");
        let tls = BaseUrl::parse("https://etcd.example").unwrap();
        assert_eq!((tls.scheme.as_str(), tls.port), ("https", 443));
        assert!(BaseUrl::parse("ftp://x:1").unwrap_err().contains("http://"));
        assert!(BaseUrl::parse("http://x:1/?q=1")
            .unwrap_err()
            .contains("path only"));
        let e = BaseUrl::parse("http://no-such-host.invalid:1")
            .unwrap()
            .resolve()
            .unwrap_err();
        assert!(e.contains("cannot resolve no-such-host.invalid"), "{e}");
    }

    /// A service that answers every request with 200, errors in words, and values as text.
    const TEXTY: &str = r#"
name = "texty"
value_type = "string"
[[nodes]]
name = "a"
url = "http://127.0.0.1:9000"
[read]
method = "GET"
path = "/get/{key}"
value = "/value"
ok = [200]
absent = [404]
[[read.classify]]
body_matches = "^Error"
means = "fail"
[write]
method = "POST"
path = "/set"
headers = { "X-Key" = "{key}" }
content_type = "application/x-www-form-urlencoded"
body = "key={key}&value={value}"
ok = [200]
[[write.classify]]
body_matches = "(?i)database is locked"
means = "fail"
[[write.classify]]
status = ["2xx"]
pointer = "/outcome"
equals = "unsure"
means = "unknown"
"#;

    #[test]
    fn answers_are_classified_by_body_before_status_and_values_read_by_type() {
        let d = Described::parse(TEXTY).unwrap();
        assert!(d.cas.is_none(), "[cas] is optional");
        let v = json!(5);
        let p = d.prepare(Op::Write {
            key: "k",
            value: &v,
        });
        assert_eq!(p.body.as_deref(), Some("key=k&value=5"));
        assert_eq!(p.headers, vec![("X-Key".to_string(), "k".to_string())]);
        assert_eq!(
            p.content_type.as_deref(),
            Some("application/x-www-form-urlencoded")
        );
        let write = Op::Write {
            key: "k",
            value: &v,
        };
        let locked = Reply {
            status: 200,
            body: json!("Error: database is locked"),
            text: "Error: database is locked".into(),
            location: None,
        };
        assert_eq!(
            d.interpret(write, false, &locked),
            Answer::Refused("200: Error: database is locked".into())
        );
        assert!(matches!(
            d.interpret(
                write,
                false,
                &reply(200, json!({"outcome": "unsure"}), None)
            ),
            Answer::Unknown(_)
        ));
        assert_eq!(
            d.interpret(write, false, &reply(200, json!({"outcome": "done"}), None)),
            Answer::Ok {
                value: Value::Null,
                version: None
            }
        );
        let read = Op::Read { key: "k" };
        assert_eq!(
            d.interpret(read, false, &reply(200, json!({"value": "5"}), None)),
            Answer::Ok {
                value: json!(5),
                version: None
            }
        );
        assert_eq!(
            d.interpret(read, false, &reply(200, json!({"value": "five"}), None)),
            Answer::Unknown(
                "200: unreadable read.value: expected text holding a number, found \"five\"".into()
            ),
            "text that is not a number is never made a value"
        );
        assert!(matches!(
            d.interpret(read, false, &reply(200, json!({"value": 5}), None)),
            Answer::Unknown(_)
        ));
        let number =
            Described::parse(&TEXTY.replace("value_type = \"string\"", "value_type = \"number\""))
                .unwrap();
        assert_eq!(
            number.interpret(read, false, &reply(200, json!({"value": 5}), None)),
            Answer::Ok {
                value: json!(5),
                version: None
            }
        );
        assert!(matches!(
            number.interpret(read, false, &reply(200, json!({"value": "5"}), None)),
            Answer::Unknown(_)
        ));
    }

    #[test]
    fn the_text_values_example_reads_text_and_sees_errors_sent_with_200() {
        let d = example("text-values.toml");
        assert!(d.cas.is_none());
        let base = BaseUrl::parse(&d.nodes[0].url).unwrap();
        assert_eq!(base.domain(), Some("localhost"));
        let v = json!(5);
        let write = Op::Write {
            key: "k",
            value: &v,
        };
        let p = d.prepare(write);
        assert_eq!(p.body.as_deref(), Some("value=5"));
        let text = |status: u16, text: &str| Reply {
            status,
            body: serde_json::from_str(text).unwrap_or(Value::String(text.into())),
            text: text.into(),
            location: None,
        };
        assert!(matches!(
            d.interpret(write, false, &text(200, "Error: database is locked")),
            Answer::Refused(_)
        ));
        assert!(matches!(
            d.interpret(write, false, &text(200, r#"{"outcome": "unknown"}"#)),
            Answer::Unknown(_)
        ));
        let read = Op::Read { key: "k" };
        assert_eq!(
            d.interpret(read, false, &text(200, r#"{"value": "5"}"#)),
            Answer::Ok {
                value: json!(5),
                version: None
            }
        );
        assert!(matches!(
            d.interpret(read, false, &text(200, "Error: no quorum")),
            Answer::Refused(_)
        ));
    }

    #[test]
    fn bad_rules_name_their_field() {
        for (bad, expected) in [
            ("body_matches = \"^Error\"", "body_matches = \"(\""),
            (
                "means = \"fail\"",
                "means = \"fail\"\npointer = \"/x\"\nequals = 1",
            ),
            ("body_matches = \"^Error\"", "pointer = \"x\"\nequals = 1"),
            ("means = \"fail\"", "means = \"perhaps\""),
            (
                "headers = { \"X-Key\" = \"{key}\" }",
                "headers = { \"X-Key\" = \"{value}{to}\" }",
            ),
        ]
        .map(|(a, b)| (TEXTY.replacen(a, b, 1), a))
        {
            let e = Described::parse(&bad).unwrap_err();
            assert!(
                e.contains("read.classify[0]")
                    || e.contains("write.headers.X-Key")
                    || e.contains("means"),
                "{expected}: {e}"
            );
        }
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
    }

    #[test]
    fn an_sql_target_needs_no_requests_and_takes_none() {
        let file = r#"
name = "CockroachDB"
[sql]
isolation = "serializable"
user = "root"
database = "defaultdb"
[[nodes]]
name = "n1"
url = "postgres://{ip}:26257"
start = "exec cockroach start-single-node --insecure --store={data_dir}"
"#;
        let d = Described::parse(file).unwrap();
        let sql = d.sql.as_ref().unwrap();
        assert_eq!(
            (sql.user.as_str(), sql.database.as_str()),
            ("root", "defaultdb")
        );
        assert_eq!(sql.isolation, crate::sql::Isolation::Serializable);
        assert!(d.read.is_none() && d.launches());
        let with_read = format!(
            "{file}\n[read]\nmethod = \"GET\"\npath = \"/{{key}}\"\nvalue = \"/v\"\nok = [200]\n"
        );
        let e = Described::parse(&with_read).unwrap_err();
        assert!(
            e.starts_with("read: an [sql] target is driven in SQL"),
            "{e}"
        );
        let http_node = file.replace("postgres://{ip}:26257", "http://{ip}:26257");
        let e = Described::parse(&http_node).unwrap_err();
        assert!(
            e.contains("nodes[0].url: an [sql] target's nodes are postgres://"),
            "{e}"
        );
        let e = Described::parse("name = \"x\"\n[[nodes]]\nname = \"n1\"\nurl = \"http://h:1\"\n")
            .unwrap_err();
        assert!(e.starts_with("read: missing"), "{e}");
        let e = Described::parse(&file.replace("serializable", "snapshot")).unwrap_err();
        assert!(e.contains("unknown variant `snapshot`"), "{e}");
    }
}
