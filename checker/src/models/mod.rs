//! The data types faultline can check. Each is a [`Model`](crate::model::Model).

mod kv_append;
mod register;

pub use kv_append::{KvAppend, KvOp, KvState};
pub use register::{Register, RegisterOp};
