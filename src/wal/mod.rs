//! The durable transaction log (write-ahead log) of a Roost member.
//!
//! - [`record`]: the on-disk format of log segments (its doc is the spec);
//! - [`txn_codec`]: the binary encoding of a [`Txn`](crate::ops::txn::Txn),
//!   the body of each record;
//! - [`recovery`]: scanning a log directory, classifying its tail, the
//!   decision table of what is truncated and what refuses to start;
//! - [`writer`]: [`LogWriter`], owned by the log core: group-committed,
//!   block-aligned appends into preallocated, pre-zeroed segments;
//! - [`core`]: the log core loop and [`DurableLog`], the consensus core's
//!   [`TxnLog`](crate::consensus::TxnLog);
//! - [`hardstate`]: term / vote / commit in two checksummed slots;
//! - [`dump`]: `roost log dump DIR`.
//!
//! All file I/O goes through [`crate::io::LogDevice`].

pub mod core;
pub mod dump;
pub mod hardstate;
pub mod record;
pub mod recovery;
pub mod txn_codec;
pub mod writer;

#[cfg(test)]
mod bench;

pub use self::core::{run_log_core, DurableLog, LogCommand, LogEvent};
pub use dump::dump;
pub use hardstate::{HardState, HardStateFile};
pub use record::LogRecord;
pub use recovery::{recover, Recovery, TailReport};
pub use writer::{LogWriter, SyncMode, WalConfig, WalProbe, WalStats};

use std::path::PathBuf;

/// Errors of the log. Cloneable so a poisoned writer can return the very
/// error that poisoned it on every later call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WalError {
    /// An I/O call failed. `errno` is the OS error when there is one.
    #[error("{op} {}: {message} (offset {offset})", file.display())]
    Io {
        op: &'static str,
        file: PathBuf,
        offset: u64,
        errno: Option<i32>,
        message: String,
    },
    /// Data that must be valid is not: the server refuses to start.
    #[error("corrupt log {} at offset {offset}: {reason}", file.display())]
    Corrupt {
        file: PathBuf,
        offset: u64,
        reason: String,
    },
    /// A txn body did not decode (offset within the body).
    #[error("txn decode error at body byte {offset}: {reason}")]
    Decode { offset: usize, reason: String },
    /// A record that cannot fit into an empty segment; nothing was written.
    #[error("record body of {body_bytes} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { body_bytes: usize, max: usize },
    /// An invalid [`WalConfig`].
    #[error("wal config: {0}")]
    Config(String),
}

impl WalError {
    pub(crate) fn io(
        op: &'static str,
        file: impl Into<PathBuf>,
        offset: u64,
        e: std::io::Error,
    ) -> WalError {
        WalError::Io {
            op,
            file: file.into(),
            offset,
            errno: e.raw_os_error(),
            message: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests;
