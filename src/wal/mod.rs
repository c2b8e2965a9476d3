//! The durable transaction log (write-ahead log) of a Roost member.
//!
//! - [`record`]: the on-disk format of log segments (its doc is the spec);
//! - the body of each txn record is a [`Txn`](crate::ops::txn::Txn) in the
//!   encoding of [`crate::ops::txn_codec`];
//! - [`recovery`]: scanning a log directory, classifying its tail, the
//!   decision table of what is truncated and what refuses to start;
//! - [`writer`]: [`LogWriter`], owned by the log core: group-committed,
//!   block-aligned appends into preallocated, pre-zeroed segments;
//! - [`core`]: the log core loop, and [`DurableLog`]: the consensus core's
//!   handle of it, behind the narrow [`TxnLog`] trait;
//! - [`hardstate`]: term / vote / commit in two checksummed slots;
//! - [`raft`]: raft mode: the same log holding raft entries (with raft's
//!   truncation rule) and the hard state, for the replicated ensemble;
//! - [`mod@dump`]: `roost log dump DIR`.
//!
//! A log directory is in one of two modes, decided by what it holds:
//! standalone ([`LogWriter::open`], [`LogCommand::Append`]) or raft
//! ([`LogWriter::open_raft`], [`LogCommand::Persist`]). Each opener refuses
//! the other's log with [`WalError::WrongMode`].
//!
//! All file I/O goes through [`crate::io::LogDevice`].

pub mod core;
pub mod dump;
pub mod hardstate;
pub mod probe;
pub mod raft;
pub mod record;
pub mod recovery;
pub mod writer;

#[cfg(test)]
mod bench;

pub use self::core::{run_log_core, DurableLog, LogCommand, LogEvent, TxnLog};
pub use crate::config::wal::{SyncMode, WalConfig, SEGMENT_BYTES_MAX, SEGMENT_BYTES_MIN};
pub use dump::dump;
pub use hardstate::{HardState, HardStateFile};
pub use probe::{WalProbe, WalStats};
pub use raft::{RaftEntryKind, RaftPersist, RaftRecord};
pub use record::{LogMode, LogRecord};
pub use recovery::{recover, recover_raft, RaftRecovery, Recovery, SegmentSummary, TailReport};
pub use writer::LogWriter;

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
    /// A txn body did not decode.
    #[error(transparent)]
    Decode(#[from] crate::ops::txn_codec::TxnDecodeError),
    /// A record that cannot fit into an empty segment; nothing was written.
    #[error("record body of {body_bytes} bytes exceeds the limit of {max} bytes")]
    RecordTooLarge { body_bytes: usize, max: usize },
    /// An invalid [`WalConfig`].
    #[error("wal config: {0}")]
    Config(String),
    /// The log was written in the other mode (standalone vs raft); `file`
    /// is the segment holding its first record, or the hard-state file.
    /// Nothing was changed.
    #[error("log {} was written by {found}; {opened_as} cannot open it", file.display())]
    WrongMode {
        file: PathBuf,
        found: LogMode,
        opened_as: LogMode,
    },
    /// Raft entries that would leave a gap or break the order rules of
    /// [`RaftPersist`]; nothing of the batch was written.
    #[error("raft entries out of sequence: {0}")]
    Sequence(String),
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
mod raft_tests;
#[cfg(test)]
mod tests;
