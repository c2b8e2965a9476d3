//! Raft mode of the log: the vocabulary the consensus side codes against.
//!
//! The same segments, group commit and recovery that hold standalone
//! transactions hold raft entries when the log is opened with
//! [`LogWriter::open_raft`](super::LogWriter::open_raft). This module does not
//! depend on the `raft` crate: the consensus side converts its `Entry` /
//! `HardState` to and from these types.
//!
//! # Truncation rule
//!
//! Raft may replace a follower's uncommitted tail, so in raft mode a batch
//! may start at an index at or below the last one written. A record with
//! index `i` supersedes every earlier record (in file order) with index
//! `>= i`; a reset marker ([`RaftPersist::reset_to`]) supersedes every
//! earlier record. The writer and recovery apply the same rule, so the live
//! entries are always contiguous. The on-disk form is in [`super::record`].
//!
//! # Durability
//!
//! [`RaftPersist`] commands are group-committed by the log core: all queued
//! commands form one batch, written with one write + one sync per segment
//! touched, then the last hard state of the batch is saved (its own fsync),
//! and only then is [`LogEvent::Persisted`](super::LogEvent::Persisted)
//! reported. Entries go first so that a durable commit index never points
//! past the durable log. A crash before the report can leave any prefix (in
//! record order) of the batch's records, and the previous hard state.

use super::HardState;

/// The type of a raft entry. Same numbering as raft's `EntryType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RaftEntryKind {
    Normal = 0,
    ConfChange = 1,
    ConfChangeV2 = 2,
}

impl RaftEntryKind {
    /// The kind with this on-disk number, if any.
    pub fn from_u8(v: u8) -> Option<RaftEntryKind> {
        match v {
            0 => Some(RaftEntryKind::Normal),
            1 => Some(RaftEntryKind::ConfChange),
            2 => Some(RaftEntryKind::ConfChangeV2),
            _ => None,
        }
    }
}

/// One raft entry, as persisted and as recovered.
/// A value: sent to the log core in a `RaftPersist`, or recovered; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RaftRecord {
    pub index: u64,
    pub term: u64,
    pub kind: RaftEntryKind,
    pub data: Vec<u8>,
    pub context: Vec<u8>,
}

/// One unit of raft state to make durable (typically one raft `Ready`).
/// A value: made by the consensus executor, moved to the log core; no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftPersist {
    /// Echoed back in [`LogEvent::Persisted`](super::LogEvent::Persisted);
    /// strictly increasing from one command to the next.
    pub token: u64,
    /// Saved (after the entries of the whole batch) if set.
    pub hard_state: Option<HardState>,
    /// Applied before `entries`: discard every entry, the log now starts at
    /// this index (after installing a snapshot covering `reset_to - 1`).
    /// Must be >= 1; the next entry written must have exactly this index.
    pub reset_to: Option<u64>,
    /// Contiguous indexes. The first may be at or below the last index
    /// written (truncation, see the module doc) but not below the first live
    /// index, and not above the last index + 1 (no gap). On a log never
    /// written it may be anything >= 1.
    pub entries: Vec<RaftRecord>,
}
