//! The transaction log's settings (from `preAllocSize`), with their limits:
//! owned here so that `Config::validate` checks them with every other limit,
//! and the log module (`wal`) takes them from here.

/// Smallest accepted segment size.
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;
/// Largest accepted segment size (recovery reads a whole segment at once).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;
/// Segments are written in whole blocks (O_DIRECT): the log's block size.
pub const SEGMENT_ALIGN_BYTES: u64 = 4096;

/// How a batch is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// One write, then one fdatasync (IORING_OP_FSYNC with DATASYNC).
    Fdatasync,
    /// Segments opened with O_DSYNC: the write completes only once durable.
    ODsync,
    /// `forceSync=no`: the batch is written (O_DIRECT, so it has left the
    /// process and the page cache) but never synced: a write acknowledged
    /// before the device flushed its cache can be lost if the machine loses
    /// power, not if the process dies. The raft hard state (term, vote) is
    /// still synced: losing it could elect two leaders in one term.
    NoSync,
}

/// Configuration of the log. Checked by [`WalConfig::validate`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// Preallocated size of each segment (ZooKeeper's preAllocSize is 64 MiB).
    pub segment_bytes: u64,
    pub sync_mode: SyncMode,
}

impl Default for WalConfig {
    fn default() -> WalConfig {
        WalConfig {
            segment_bytes: 64 << 20,
            // Measured faster on the reference machine; see docs/storage.md.
            sync_mode: SyncMode::Fdatasync,
        }
    }
}

impl WalConfig {
    pub fn validate(&self) -> Result<(), String> {
        if self.segment_bytes < SEGMENT_BYTES_MIN || self.segment_bytes > SEGMENT_BYTES_MAX {
            return Err(format!(
                "segment_bytes {} outside {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX}",
                self.segment_bytes
            ));
        }
        if !self.segment_bytes.is_multiple_of(SEGMENT_ALIGN_BYTES) {
            return Err(format!(
                "segment_bytes {} is not a multiple of {SEGMENT_ALIGN_BYTES}",
                self.segment_bytes
            ));
        }
        Ok(())
    }
}
