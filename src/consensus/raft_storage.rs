//! The raft log storage of an ensemble member: raft-rs's [`MemStorage`] plus
//! the newest snapshot, bytes included.
//!
//! `MemStorage` alone cannot send a snapshot (its `snapshot()` has empty
//! data) and its `compact` forgets the term of the last compacted entry.
//! [`SnapStorage`] keeps the newest snapshot written or received (metadata
//! and the whole snapshot file as `data`) and returns it from
//! [`Storage::snapshot`], so raft-rs can send it to a member that needs
//! entries already compacted; [`SnapStorage::compact_to`] records the
//! snapshot point as `MemStorage`'s snapshot metadata, so `term(index)` of
//! the snapshot index keeps answering.

use raft::eraftpb::{Entry, Snapshot, SnapshotMetadata};
use raft::storage::MemStorage;
use raft::{GetEntriesContext, RaftState, Storage};

/// See the module doc.
/// Owned by the consensus executor, inside the member's raft node.
#[derive(Default)]
pub struct SnapStorage {
    pub mem: MemStorage,
    /// The newest snapshot (written by this member or received), with the
    /// file's bytes as data.
    snapshot: Option<Snapshot>,
}

impl SnapStorage {
    pub fn new(mem: MemStorage) -> SnapStorage {
        SnapStorage {
            mem,
            snapshot: None,
        }
    }

    /// Index of the newest snapshot held (0 if none).
    pub fn snapshot_index(&self) -> u64 {
        self.snapshot.as_ref().map_or(0, |s| s.get_metadata().index)
    }

    /// The snapshot raft-rs sends, if any.
    pub fn snapshot_held(&self) -> Option<&Snapshot> {
        self.snapshot.as_ref()
    }

    /// A snapshot of this member's own state was written: keep it for
    /// sending and drop the log up to its index. The hard state and the
    /// current conf state are kept (the snapshot's conf state may be older
    /// than the current one); entries after the index stay.
    pub fn compact_to(&mut self, snapshot: Snapshot) -> raft::Result<()> {
        let meta: SnapshotMetadata = snapshot.get_metadata().clone();
        if meta.index <= self.snapshot_index() {
            return Ok(());
        }
        let first = self.mem.first_index()?;
        let last = self.mem.last_index()?;
        if meta.index >= first && meta.index <= last {
            let tail: Vec<Entry> = if meta.index < last {
                self.mem.entries(
                    meta.index + 1,
                    last + 1,
                    None,
                    GetEntriesContext::empty(false),
                )?
            } else {
                Vec::new()
            };
            let state = self.mem.initial_state()?;
            let mut marker = Snapshot::default();
            marker.set_metadata(meta);
            let mut core = self.mem.wl();
            core.apply_snapshot(marker)?;
            core.append(&tail)?;
            core.set_hardstate(state.hard_state);
            core.set_conf_state(state.conf_state);
        }
        self.snapshot = Some(snapshot);
        Ok(())
    }

    /// Installs a snapshot (received, or loaded at start): the log restarts
    /// after it and its conf state is current.
    pub fn install(&mut self, snapshot: Snapshot) -> raft::Result<()> {
        let mut marker = Snapshot::default();
        marker.set_metadata(snapshot.get_metadata().clone());
        self.mem.wl().apply_snapshot(marker)?;
        self.snapshot = Some(snapshot);
        Ok(())
    }
}

impl Storage for SnapStorage {
    fn initial_state(&self) -> raft::Result<RaftState> {
        self.mem.initial_state()
    }

    fn entries(
        &self,
        low: u64,
        high: u64,
        max_size: impl Into<Option<u64>>,
        context: GetEntriesContext,
    ) -> raft::Result<Vec<Entry>> {
        self.mem.entries(low, high, max_size, context)
    }

    fn term(&self, idx: u64) -> raft::Result<u64> {
        self.mem.term(idx)
    }

    fn first_index(&self) -> raft::Result<u64> {
        self.mem.first_index()
    }

    fn last_index(&self) -> raft::Result<u64> {
        self.mem.last_index()
    }

    fn snapshot(&self, request_index: u64, _to: u64) -> raft::Result<Snapshot> {
        match &self.snapshot {
            Some(s) if s.get_metadata().index >= request_index => Ok(s.clone()),
            _ => Err(raft::Error::Store(
                raft::StorageError::SnapshotTemporarilyUnavailable,
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(index: u64, term: u64) -> Entry {
        Entry {
            index,
            term,
            ..Default::default()
        }
    }

    fn snapshot(index: u64, term: u64) -> Snapshot {
        let mut s = Snapshot::default();
        s.mut_metadata().index = index;
        s.mut_metadata().term = term;
        s.data = b"file".to_vec().into();
        s
    }

    #[test]
    fn compaction_keeps_the_term_of_the_snapshot_index_and_the_tail() {
        let mem = MemStorage::new_with_conf_state((vec![1, 2, 3], vec![]));
        let entries: Vec<Entry> = (1..=10).map(|i| entry(i, 1 + i / 5)).collect();
        mem.wl().append(&entries).unwrap();
        let hs = raft::eraftpb::HardState {
            term: 3,
            commit: 9,
            ..Default::default()
        };
        mem.wl().set_hardstate(hs.clone());
        let mut s = SnapStorage::new(mem);
        assert!(s.snapshot(0, 2).is_err(), "no snapshot yet");
        s.compact_to(snapshot(6, 2)).unwrap();
        assert_eq!(s.first_index().unwrap(), 7);
        assert_eq!(s.last_index().unwrap(), 10);
        assert_eq!(s.term(6).unwrap(), 2);
        assert_eq!(s.term(10).unwrap(), 3);
        assert!(s.term(5).is_err());
        assert_eq!(s.initial_state().unwrap().hard_state, hs);
        assert_eq!(s.initial_state().unwrap().conf_state.voters, vec![1, 2, 3]);
        let sent = s.snapshot(0, 2).unwrap();
        assert_eq!(sent.get_metadata().index, 6);
        assert_eq!(&sent.data[..], b"file");
        // An older snapshot changes nothing.
        s.compact_to(snapshot(4, 1)).unwrap();
        assert_eq!(s.first_index().unwrap(), 7);
        // Compacting everything leaves an empty log after the snapshot.
        s.compact_to(snapshot(10, 3)).unwrap();
        assert_eq!(s.first_index().unwrap(), 11);
        assert_eq!(s.last_index().unwrap(), 10);
        assert_eq!(s.term(10).unwrap(), 3);
    }
}
