//! Registers: `read` and `write`, and with `cas` enabled, compare-and-set `[old, new]`.
//!
//! The register starts absent (`nil`). A read returns the current value (`null` for absent); a
//! write replaces it; a cas replaces `old` by `new` and fails — completing with `fail` — otherwise.
//! Values are interned, so the state is one integer.

use crate::history::Operation;
use crate::model::{known_output, Interner, Model};
use serde_json::Value;

/// A read/write register, or with `cas` a compare-and-set register.
#[derive(Clone, Copy, Debug)]
pub struct Register {
    pub cas: bool,
}

impl Register {
    pub fn plain() -> Register {
        Register { cas: false }
    }
    pub fn with_cas() -> Register {
        Register { cas: true }
    }
}

/// A compiled register operation; values are interned ids, 0 is absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RegisterOp {
    /// A read that returned this value.
    Read(u32),
    /// A read whose result is unknown.
    ReadUnknown,
    Write(u32),
    Cas {
        from: u32,
        to: u32,
    },
}

impl Model for Register {
    type State = u32;
    type Op = RegisterOp;

    fn name(&self) -> &'static str {
        if self.cas {
            "cas-register"
        } else {
            "register"
        }
    }

    fn init(&self) -> u32 {
        0
    }

    fn exact(&self, ops: &[&Operation]) -> Option<crate::unique::Decision> {
        crate::unique::decide(ops, self.cas)
    }

    fn compile(&self, op: &Operation, values: &mut Interner) -> Result<RegisterOp, String> {
        match op.f.as_str() {
            "read" => Ok(match known_output(op) {
                Some(v) => RegisterOp::Read(values.intern(v)),
                None => RegisterOp::ReadUnknown,
            }),
            "write" => Ok(RegisterOp::Write(values.intern(&op.input))),
            "cas" if self.cas => match &op.input {
                Value::Array(pair) if pair.len() == 2 => Ok(RegisterOp::Cas {
                    from: values.intern(&pair[0]),
                    to: values.intern(&pair[1]),
                }),
                other => Err(format!(
                    "cas value must be a pair [old, new], found {other}"
                )),
            },
            "cas" => Err("the register model has no cas; use --model cas-register".into()),
            other => Err(format!(
                "the {} model knows read, write{}; found {other:?}",
                self.name(),
                if self.cas { " and cas" } else { "" }
            )),
        }
    }

    #[inline]
    fn step(&self, state: &u32, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) => (v == *state).then_some(*state),
            RegisterOp::ReadUnknown => Some(*state),
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas { from, to } => (from == *state).then_some(to),
        }
    }

    fn is_read_only(&self, op: &RegisterOp) -> bool {
        matches!(op, RegisterOp::Read(_) | RegisterOp::ReadUnknown)
    }

    fn consumes(&self, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Read(v) => Some(v),
            RegisterOp::Cas { from, .. } => Some(from),
            _ => None,
        }
    }

    fn produces(&self, op: &RegisterOp) -> Option<u32> {
        match *op {
            RegisterOp::Write(v) => Some(v),
            RegisterOp::Cas { to, .. } => Some(to),
            _ => None,
        }
    }

    fn describe_op(&self, op: &RegisterOp, values: &Interner) -> String {
        match *op {
            RegisterOp::Read(v) => format!("read → {}", values.show(v)),
            RegisterOp::ReadUnknown => "read → ?".into(),
            RegisterOp::Write(v) => format!("write {}", values.show(v)),
            RegisterOp::Cas { from, to } => {
                format!("cas {} → {}", values.show(from), values.show(to))
            }
        }
    }

    fn describe_state(&self, state: &u32, values: &Interner) -> String {
        values.show(*state)
    }
}
