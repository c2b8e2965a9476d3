//! The consensus core: the single writer of replicated state.
//!
//! Standalone Roost is an ensemble of one: every write goes through the same
//! pipeline replication will use — prep (validate, resolve into a
//! deterministic [`Txn`](crate::ops::txn::Txn)) -> log -> apply (a new
//! immutable tree version) -> commit stream to every client shard, in zxid
//! order. The ensemble issue replaces "log" with raft-rs proposals; nothing
//! else changes.
//!
//! [`core::Core`] is pure (no I/O, time passed in); the runtime drives it.

pub mod core;
pub mod ensemble;
pub mod gather;
pub mod log;
pub mod membership;
pub mod raft_storage;
pub mod wire;

pub use self::core::{Core, CoreConfig};
pub use log::{MemoryLog, TxnLog};
