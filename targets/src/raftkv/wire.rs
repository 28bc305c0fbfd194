//! Transactions on the wire: a micro-op as a client sends it, `[f, key, value]`, and as it is
//! answered once it ran — in Elle's form for reads, writes and appends, with what a pop took and
//! the id issued filled in. The server and the simulator read and write this one form.

use super::kv::TxnResult;
use super::log::TxnOp;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// The micro-op `[f, key, value]` names, or `None` when `f` is unknown or `value` does not fit
/// it: `append` any value; `w` any value; `r`, `pop` and `id` nil; `add` an integer; `take` a
/// positive integer (subtracted, never below 0); `acquire` `{"owner": o, "lease_ms": n}`;
/// `release` `{"owner": o}`.
pub fn micro_op(f: &str, key: String, value: Value) -> Option<TxnOp> {
    let owner = || value["owner"].as_str().map(str::to_string);
    Some(match f {
        "append" => TxnOp::Append {
            key,
            element: value,
        },
        "w" => TxnOp::W { key, value },
        "r" if value.is_null() => TxnOp::R { key },
        "pop" if value.is_null() => TxnOp::Pop { key },
        "id" if value.is_null() => TxnOp::Id { key },
        "add" => TxnOp::Add {
            key,
            delta: value.as_i64()?,
            floor: None,
        },
        "take" => TxnOp::Add {
            key,
            delta: -value.as_i64().filter(|a| *a > 0)?,
            floor: Some(0),
        },
        "acquire" => TxnOp::Acquire {
            owner: owner()?,
            lease_ms: value["lease_ms"].as_u64().filter(|l| *l > 0)?,
            key,
            at_ms: 0,
        },
        "release" => TxnOp::Release {
            owner: owner()?,
            key,
            at_ms: 0,
        },
        _ => return None,
    })
}

/// A transaction's micro-ops as they completed, in Elle's form: `["append", k, v]`,
/// `["r", k, value]` and `["w", k, v]`, with the version as a fourth element where it orders a
/// register — a read of a value another transaction committed, not a list (the version that
/// wrote it), and each key's last write (the transaction's version). A write the same
/// transaction overwrote, and a read of its own write, carry none.
pub fn completed(ops: &[TxnOp], results: &[TxnResult], version: u64) -> Vec<Value> {
    let last_write: BTreeMap<&str, usize> = ops
        .iter()
        .enumerate()
        .filter(|(_, op)| matches!(op, TxnOp::W { .. }))
        .map(|(i, op)| (op.key(), i))
        .collect();
    ops.iter()
        .zip(results)
        .enumerate()
        .map(|(i, (op, result))| match (op, result) {
            (TxnOp::Append { key, element }, _) => json!(["append", key, element]),
            (TxnOp::W { key, value }, _) if last_write.get(key.as_str()) == Some(&i) => {
                json!(["w", key, value, version])
            }
            (TxnOp::W { key, value }, _) => json!(["w", key, value]),
            (TxnOp::R { key }, TxnResult::Read(Some((v, at)))) if !v.is_array() => {
                json!(["r", key, v, at])
            }
            (
                TxnOp::R { key },
                TxnResult::Read(Some((v, _))) | TxnResult::ReadOwn(v) | TxnResult::ReadDirty(v),
            ) => {
                json!(["r", key, v])
            }
            (TxnOp::R { key }, _) => json!(["r", key, null]),
            (
                TxnOp::Add {
                    key,
                    delta,
                    floor: None,
                },
                _,
            ) => json!(["add", key, delta]),
            (TxnOp::Add { key, delta, .. }, _) => json!(["take", key, -delta]),
            (TxnOp::Pop { key }, TxnResult::Popped(v)) => json!(["pop", key, v]),
            (TxnOp::Pop { key }, _) => json!(["pop", key, null]),
            (TxnOp::Id { key }, TxnResult::Issued(v)) => json!(["id", key, v]),
            (TxnOp::Id { key }, _) => json!(["id", key, null]),
            (
                TxnOp::Acquire {
                    key,
                    owner,
                    lease_ms,
                    ..
                },
                _,
            ) => {
                json!(["acquire", key, {"owner": owner, "lease_ms": lease_ms}])
            }
            (TxnOp::Release { key, owner, .. }, _) => json!(["release", key, {"owner": owner}]),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_micro_op_reads_and_a_value_that_does_not_fit_is_refused() {
        let k = || "k".to_string();
        assert_eq!(
            micro_op("pop", k(), Value::Null),
            Some(TxnOp::Pop { key: k() })
        );
        assert_eq!(
            micro_op("id", k(), Value::Null),
            Some(TxnOp::Id { key: k() })
        );
        assert_eq!(
            micro_op("take", k(), json!(3)),
            Some(TxnOp::Add {
                key: k(),
                delta: -3,
                floor: Some(0)
            })
        );
        assert_eq!(
            micro_op("acquire", k(), json!({"owner": "o1", "lease_ms": 500})),
            Some(TxnOp::Acquire {
                key: k(),
                owner: "o1".into(),
                lease_ms: 500,
                at_ms: 0
            })
        );
        for (f, v) in [
            ("take", json!(0)),
            ("add", json!("x")),
            ("r", json!(1)),
            ("acquire", json!({"owner": "o1"})),
            ("release", json!({})),
            ("frobnicate", Value::Null),
        ] {
            assert_eq!(micro_op(f, k(), v.clone()), None, "{f} {v}");
        }
    }
}
