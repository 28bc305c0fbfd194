//! Transactions as the history holds them: operations whose value is a list of micro-ops,
//! `["append", k, v]`, `["r", k, list]` (list-append) or `["w", k, v]`, `["r", k, v]`
//! (rw-register), whatever the operation's function is called (`txn` in Jepsen and Elle).

use crate::history::{History, Outcome};
use serde_json::Value;

/// One micro-operation. Keys are held as their JSON text (`1`, `"x"`), elements as integers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Micro {
    Append {
        key: String,
        element: i64,
    },
    /// A read of a list; `None` when the transaction did not complete (an invocation's `nil`).
    Read {
        key: String,
        list: Option<Vec<i64>>,
    },
    /// A register write; `version` is the version the target gave it, when it recorded one
    /// (a fourth element: `["w", k, v, 17]`).
    Write {
        key: String,
        value: i64,
        version: Option<u64>,
    },
    /// A register read; `version` is the version of the value read, when the target said.
    ReadRegister {
        key: String,
        value: Option<i64>,
        version: Option<u64>,
    },
}

impl Micro {
    pub fn key(&self) -> &str {
        match self {
            Micro::Append { key, .. }
            | Micro::Read { key, .. }
            | Micro::Write { key, .. }
            | Micro::ReadRegister { key, .. } => key,
        }
    }
}

/// One transaction: the history operation it is, its process and outcome, its micro-ops (the
/// completion's for an `ok` one, the invocation's otherwise), and its times.
#[derive(Clone, Debug)]
pub struct Txn {
    pub id: usize,
    pub process: u64,
    pub outcome: Outcome,
    pub micro: Vec<Micro>,
    pub invoke_time: u64,
    pub complete_time: Option<u64>,
    /// One of the reads made after the faults were healed (`phase: final`).
    pub final_read: bool,
}

impl Txn {
    /// `T12`: the history operation's id, as the words name it.
    pub fn name(&self) -> String {
        format!("T{}", self.id)
    }
}

/// Every transaction of `history`, in invocation order. An operation whose value is not a list
/// of micro-ops is an error naming its line.
pub fn transactions(history: &History) -> Result<Vec<Txn>, String> {
    // Whether each key was written as a number: `1` and `"1"` would be one key here.
    let mut numeric: std::collections::HashMap<String, (bool, usize)> =
        std::collections::HashMap::new();
    history
        .ops
        .iter()
        .map(|o| {
            let value = if o.outcome == Outcome::Ok {
                &o.output
            } else {
                &o.input
            };
            let at = |e: String| {
                let line = o.complete_line.filter(|_| o.outcome == Outcome::Ok);
                format!(
                    "{}:{}: {e}",
                    history.source_name,
                    line.unwrap_or(o.invoke_line)
                )
            };
            let micro = micro_ops(value, o.outcome == Outcome::Ok).map_err(at)?;
            for (key, number) in key_kinds(value) {
                let (was, first) = *numeric.entry(key.clone()).or_insert((number, o.id));
                if was != number {
                    return Err(at(format!(
                        "key {key} is written as a number in T{first} and as a name here: faultline cannot tell whether they are one key; write every key one way"
                    )));
                }
            }
            Ok(Txn {
                id: o.id,
                process: o.process,
                outcome: o.outcome,
                micro,
                invoke_time: o.invoke_time,
                complete_time: o.complete_time,
                final_read: o.phase.as_deref() == Some("final"),
            })
        })
        .collect()
}

/// Each micro-op's key, and whether it was written as a number.
fn key_kinds(value: &Value) -> impl Iterator<Item = (String, bool)> + '_ {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| match m.as_array()?.get(1)? {
            Value::Number(n) => Some((n.to_string(), true)),
            Value::String(s) => Some((s.clone(), false)),
            _ => None,
        })
}

fn micro_ops(value: &Value, completed: bool) -> Result<Vec<Micro>, String> {
    let ops = value.as_array().ok_or_else(|| {
        format!("a transaction's value must be a list of micro-ops, found {value}")
    })?;
    ops.iter().map(|m| micro(m, completed)).collect()
}

fn micro(m: &Value, completed: bool) -> Result<Micro, String> {
    let bad = || {
        format!("a micro-op must be [f key value] (or [f key value version] for r and w) with f one of append, r, w; found {m}")
    };
    let parts = m
        .as_array()
        .filter(|p| p.len() == 3 || p.len() == 4)
        .ok_or_else(bad)?;
    let version = match parts.get(3) {
        None | Some(Value::Null) => None,
        Some(v) => Some(v.as_u64().ok_or_else(|| {
            format!("a micro-op's version must be a non-negative integer, found {v} in {m}")
        })?),
    };
    if version.is_some() && parts[0] == "append" {
        return Err(bad());
    }
    let f = parts[0].as_str().ok_or_else(bad)?;
    let key = match &parts[1] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(format!(
                "a micro-op's key must be a number or a name, found {}",
                parts[1]
            ))
        }
    };
    let int = |v: &Value| {
        v.as_i64()
            .ok_or_else(|| format!("elements and values must be integers, found {v} in {m}"))
    };
    Ok(match (f, &parts[2]) {
        ("append", v) => Micro::Append {
            key,
            element: int(v)?,
        },
        ("w", v) => Micro::Write {
            key,
            value: int(v)?,
            version,
        },
        ("r", Value::Null) if !completed => Micro::Read { key, list: None },
        ("r", Value::Null) => Micro::ReadRegister {
            key,
            value: None,
            version,
        },
        ("r", Value::Array(items)) => Micro::Read {
            key,
            list: Some(items.iter().map(int).collect::<Result<_, _>>()?),
        },
        ("r", v) => Micro::ReadRegister {
            key,
            value: Some(int(v)?),
            version,
        },
        _ => return Err(bad()),
    })
}

/// Which workload the micro-ops are: `list-append` (appends, list reads) or `rw-register`
/// (writes, value reads); a history mixing the two is an error.
pub fn workload(txns: &[Txn]) -> Result<&'static str, String> {
    let (mut lists, mut registers) = (false, false);
    for m in txns.iter().flat_map(|t| &t.micro) {
        match m {
            Micro::Append { .. } | Micro::Read { list: Some(_), .. } => lists = true,
            Micro::Write { .. } | Micro::ReadRegister { value: Some(_), .. } => registers = true,
            _ => {}
        }
    }
    match (lists, registers) {
        (true, true) => Err("the transactions mix list micro-ops (append, list reads) with register ones (w, value reads): name one workload".into()),
        (false, true) => Ok("rw-register"),
        _ => Ok("list-append"),
    }
}
