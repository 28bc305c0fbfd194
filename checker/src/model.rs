//! Models: what a correct single object does, as a pure step function.
//!
//! A model turns each history operation into its own compact `Op` once ([`Model::compile`]), and
//! then answers one question many times: from this state, may this operation happen, and if so,
//! what is the state after it ([`Model::step`])? The search knows nothing else about models, so a
//! new data type is a new implementation of this trait and nothing more.
//!
//! An indeterminate operation (`info`) is compiled like an `ok` one, but with its result unknown:
//! a model must let it step exactly as if it had happened. Leaving it out is the search's business.

use crate::history::{Operation, Outcome};
use serde_json::Value;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

/// A sequential specification of one object (one key).
pub trait Model: Sync {
    /// The object's state. Hashed into the search's memo, so keep it small.
    type State: Clone + Eq + Hash + Debug + Send + Sync;
    /// One operation with its arguments and (when known) its result.
    type Op: Debug + Send + Sync;

    /// The model's name as the command line spells it.
    fn name(&self) -> &'static str;

    /// The state before any operation.
    fn init(&self) -> Self::State;

    /// Compiles one operation; an error says what is wrong with its shape (the caller adds the
    /// file and line). `values` interns JSON values into small integers for models that want them.
    fn compile(&self, op: &Operation, values: &mut Interner) -> Result<Self::Op, String>;

    /// The state after `op`, or `None` if `op` cannot happen in `state`.
    fn step(&self, state: &Self::State, op: &Self::Op) -> Option<Self::State>;

    /// True when `op` never changes the state. Indeterminate read-only operations constrain
    /// nothing and are dropped before the search.
    fn is_read_only(&self, op: &Self::Op) -> bool;

    /// Pruning hint, optional: `false` only if `read` (a read-only operation) can never take
    /// effect after `state` when every operation in between is one for which [`Model::resets`] is
    /// false. The search then abandons `state` as soon as such a read must come next. For an
    /// append-only string, a later read must extend the current string.
    fn may_reach(&self, _state: &Self::State, _read: &Self::Op) -> bool {
        true
    }

    /// Whether `op` can take the object to states [`Model::may_reach`] does not foresee (a put
    /// that replaces a string, for example). The default is the safe answer.
    fn resets(&self, _op: &Self::Op) -> bool {
        true
    }

    /// The interned value `op` needs the object to hold (a read's result, a cas's expected
    /// value), if the model can say. With [`Model::produces`] it lets the sequential-consistency
    /// search see that an operation can never happen once every producer of its value is spent.
    fn consumes(&self, _op: &Self::Op) -> Option<u32> {
        None
    }

    /// The interned value `op` leaves in the object (a write's or a cas's new value), if the
    /// model can say.
    fn produces(&self, _op: &Self::Op) -> Option<u32> {
        None
    }

    /// An exact decision for one key without a search, where the model has one for these
    /// operations (registers whose written values are unique: [`crate::unique`]); `None` leaves
    /// the key to the search.
    fn exact(&self, _ops: &[&Operation]) -> Option<crate::unique::Decision> {
        None
    }

    /// The operation in words, e.g. `write 3` or `cas 1→2`.
    fn describe_op(&self, op: &Self::Op, values: &Interner) -> String;

    /// The state in words.
    fn describe_state(&self, state: &Self::State, values: &Interner) -> String;
}

/// Interns JSON values as `u32`s so that states and comparisons are integers. `null` is always 0.
#[derive(Debug, Default)]
pub struct Interner {
    ids: HashMap<String, u32>,
    values: Vec<Value>,
}

impl Interner {
    pub fn new() -> Interner {
        Interner {
            ids: HashMap::new(),
            values: vec![Value::Null],
        }
    }

    /// The id of `value`, assigning one if it is new. Equal JSON values get equal ids.
    pub fn intern(&mut self, value: &Value) -> u32 {
        if value.is_null() {
            return 0;
        }
        // serde_json's default map keeps keys sorted, so `to_string` is canonical.
        let text = value.to_string();
        if let Some(&id) = self.ids.get(&text) {
            return id;
        }
        let id = u32::try_from(self.values.len()).expect("fewer than 2^32 distinct values");
        self.ids.insert(text, id);
        self.values.push(value.clone());
        id
    }

    pub fn value(&self, id: u32) -> &Value {
        &self.values[id as usize]
    }

    /// The value as a person would write it: `17`, `"abc"`, `nil` for absent.
    pub fn show(&self, id: u32) -> String {
        show_value(self.value(id))
    }
}

/// A JSON value in words, with `nil` for absent.
pub fn show_value(v: &Value) -> String {
    match v {
        Value::Null => "nil".to_string(),
        other => other.to_string(),
    }
}

/// The known result of an operation, or `None` when it is indeterminate.
pub fn known_output(op: &Operation) -> Option<&Value> {
    (op.outcome == Outcome::Ok).then_some(&op.output)
}

/// The models the command line can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ModelKind {
    Register,
    CasRegister,
    KvAppend,
}

impl ModelKind {
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::Register => "register",
            ModelKind::CasRegister => "cas-register",
            ModelKind::KvAppend => "kv-append",
        }
    }
}

impl std::str::FromStr for ModelKind {
    type Err = String;
    fn from_str(s: &str) -> Result<ModelKind, String> {
        match s {
            "register" => Ok(ModelKind::Register),
            "cas-register" => Ok(ModelKind::CasRegister),
            "kv-append" => Ok(ModelKind::KvAppend),
            other => Err(format!(
                "unknown model {other:?}; expected register, cas-register or kv-append"
            )),
        }
    }
}

/// Workloads Jepsen runs that faultline reads but does not judge yet, recognised by their
/// functions: `(functions, name, what it is)`.
const UNCHECKED_WORKLOADS: &[(&[&str], &str, &str)] = &[
    (&["txn"], "txn", "a transactional (txn) history"),
    (
        &["transfer"],
        "bank",
        "a bank history (transfers between accounts, reads of every balance)",
    ),
    (
        &["acquire", "release", "lock", "unlock"],
        "lock",
        "a mutex history (acquire/release of a lock)",
    ),
    (
        &["enqueue", "dequeue", "drain"],
        "queue",
        "a queue history (enqueue/dequeue)",
    ),
    (
        &["send", "poll", "subscribe"],
        "log",
        "a log history (send/poll, as Jepsen's Kafka test writes it)",
    ),
    (
        &["generate"],
        "unique-ids",
        "a unique-ids history (generate)",
    ),
    (
        &["inc", "dec", "incr", "decr"],
        "counter",
        "a counter history",
    ),
];

/// A workload faultline reads and names but has no checker for yet: its short name and what
/// it is, in words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OtherWorkload {
    pub name: &'static str,
    pub words: &'static str,
}

/// The workload of a history faultline cannot judge yet — bank, lock, queue, log, unique ids,
/// counter, set, Knossos's multi-register — named from its operations; `None` for registers,
/// kv-append and Elle's transactions (which have their checkers).
pub fn other_workload(history: &crate::History) -> Option<OtherWorkload> {
    let fs: std::collections::BTreeSet<&str> = history.ops.iter().map(|o| o.f.as_str()).collect();
    if let Some(what) = transactional(history) {
        return what.starts_with("a Knossos").then_some(OtherWorkload {
            name: "multi-register",
            words: "a Knossos multi-register history (transactions of [:read k v] and [:write k v] over several registers)",
        });
    }
    for (names, name, words) in UNCHECKED_WORKLOADS {
        if names.iter().any(|n| fs.contains(n)) {
            return Some(OtherWorkload { name, words });
        }
    }
    if fs.contains("add") {
        let set = history
            .ops
            .iter()
            .any(|o| o.f == "read" && o.outcome == Outcome::Ok && o.output.is_array());
        return Some(match set {
            true => OtherWorkload {
                name: "set",
                words: "a set history (add/read)",
            },
            false => OtherWorkload {
                name: "counter",
                words: "a counter history (add/read)",
            },
        });
    }
    None
}

const CHECKED: &str = "faultline checks registers (read/write/cas) and kv-append (get/put/append)";

/// The micro-op names of `v` when it is a transaction: a non-empty list of `[f k v]` lists
/// whose `f` is a micro-op (Elle's `:r`, `:w`, `:append`; Knossos's `:read`, `:write`).
pub fn micro_ops(v: &serde_json::Value) -> Option<std::collections::BTreeSet<&str>> {
    let ops = v.as_array().filter(|a| !a.is_empty())?;
    let mut names = std::collections::BTreeSet::new();
    for op in ops {
        let op = op.as_array().filter(|o| o.len() == 3 || o.len() == 4)?;
        let f = op[0].as_str()?;
        if !matches!(f, "r" | "w" | "append" | "read" | "write") {
            return None;
        }
        names.insert(f);
    }
    Some(names)
}

/// What transactional workload a history is, when its operations carry transactions: Knossos's
/// multi-register (`[:read k v]`, `[:write k v]`), Elle's list-append (`[:append k v]`) or
/// rw-register (`[:r k v]`, `[:w k v]`) — whatever the operations' function is called.
pub fn transactional(history: &crate::History) -> Option<String> {
    let mut names = std::collections::BTreeSet::new();
    for o in &history.ops {
        if let Some(n) = micro_ops(&o.input).or_else(|| micro_ops(&o.output)) {
            names.extend(n);
        }
    }
    if names.is_empty() {
        return None;
    }
    Some(if names.contains("append") {
        "an Elle list-append history (transactions of [:append k v] and [:r k list])".into()
    } else if names.contains("read") || names.contains("write") {
        "a Knossos multi-register history (transactions of [:read k v] and [:write k v] over several registers)".into()
    } else {
        "an Elle rw-register history (transactions of [:w k v] and [:r k v])".into()
    })
}

impl ModelKind {
    /// The data type a history's operations imply: `read`/`write` with `cas` → cas-register,
    /// without → register; `get`/`put`/`append` → kv-append. A history of another workload, or
    /// one mixing the two, is an error that names what it is. An empty history is a register.
    pub fn infer(history: &crate::History) -> Result<ModelKind, String> {
        let fs: std::collections::BTreeSet<&str> =
            history.ops.iter().map(|o| o.f.as_str()).collect();
        if let Some(what) = transactional(history) {
            return Err(format!(
                "this is {what}; {CHECKED} — `faultline check` judges list-append transactions with the isolation ladder"
            ));
        }
        if let Some(w) = other_workload(history) {
            return Err(format!("this is {}; {CHECKED}", w.words));
        }
        let register = fs.iter().any(|f| matches!(*f, "write" | "cas"));
        let kv = fs.iter().any(|f| matches!(*f, "get" | "put" | "append"));
        let unknown: Vec<&str> = fs
            .iter()
            .copied()
            .filter(|f| !matches!(*f, "read" | "write" | "cas" | "get" | "put" | "append"))
            .collect();
        if !unknown.is_empty() {
            return Err(format!(
                "unknown operations {}; {CHECKED} (name the model with --model if these are \
                 spelled differently)",
                unknown.join(", ")
            ));
        }
        match (register, kv) {
            (true, true) => Err(format!(
                "this history mixes register operations (write/cas) with kv-append operations \
                 (get/put/append); {CHECKED}, one at a time"
            )),
            (false, true) => Ok(ModelKind::KvAppend),
            _ if fs.contains("cas") => Ok(ModelKind::CasRegister),
            _ => Ok(ModelKind::Register),
        }
    }
}
