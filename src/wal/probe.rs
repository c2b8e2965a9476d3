//! The log's counters for `mntr`: written only by the log core (through
//! [`LogWriter`](super::LogWriter)), read from any core, so atomics.
//!
//! Besides Roost's `roost_log_*` counters, the time each flush took to
//! become durable (its write and its sync) is kept for ZooKeeper's
//! log-sync summary, which `mntr` shows under ZooKeeper's names
//! (`zk_{avg,min,max,cnt,sum}_fsynctime`, milliseconds), and flushes slower
//! than ZooKeeper's default `fsync.warningthresholdms` (1000 ms) are counted
//! (`zk_fsync_threshold_exceed_count`) and logged, so dashboards and alerts
//! built for ZooKeeper's disk read the same on Roost.

use crate::proto::Zxid;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// A batch that took longer than this to become durable is counted and
/// logged (ZooKeeper's `fsync.warningthresholdms` default).
pub const SLOW_SYNC_THRESHOLD: Duration = Duration::from_millis(1000);

/// Counters for mntr. Written only by the log core; read from any core.
/// Shared through an `Arc`: the log core's executor writes it; no executor owns it.
#[derive(Debug, Default)]
pub struct WalProbe {
    batches: AtomicU64,
    records: AtomicU64,
    writes: AtomicU64,
    fsyncs: AtomicU64,
    bytes_written: AtomicU64,
    last_batch_records: AtomicU64,
    max_batch_records: AtomicU64,
    rolls: AtomicU64,
    rolls_unprepared: AtomicU64,
    segments_released: AtomicU64,
    durable_zxid: AtomicU64,
    failed: AtomicBool,
    /// Durability waits (write + sync of one flush): count, sum, min, max.
    syncs_timed: AtomicU64,
    sync_us_sum: AtomicU64,
    /// Offset by one so that 0 means "none yet" (the minimum of nothing).
    sync_us_min_plus_one: AtomicU64,
    sync_us_max: AtomicU64,
    slow_syncs: AtomicU64,
}

/// A snapshot of [`WalProbe`].
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WalStats {
    pub batches: u64,
    pub records: u64,
    pub writes: u64,
    pub fsyncs: u64,
    pub bytes_written: u64,
    pub last_batch_records: u64,
    pub max_batch_records: u64,
    /// Segment rolls, and those that had to prepare the segment inline.
    pub rolls: u64,
    pub rolls_unprepared: u64,
    pub segments_released: u64,
    pub durable_zxid: Zxid,
    pub failed: bool,
    /// Flushes timed (each a write and, unless O_DSYNC or forceSync=no, a
    /// sync), and how long they took, µs.
    pub syncs_timed: u64,
    pub sync_us_sum: u64,
    pub sync_us_min: u64,
    pub sync_us_max: u64,
    /// Flushes slower than [`SLOW_SYNC_THRESHOLD`].
    pub slow_syncs: u64,
}

impl WalProbe {
    pub(super) fn on_write(&self, bytes: usize) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
    pub(super) fn on_fsync(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    /// One flush (write + sync) took `took`; true if it was slow.
    pub(super) fn on_durable(&self, took: Duration) -> bool {
        let us = took.as_micros().min(u128::from(u64::MAX - 1)) as u64;
        self.syncs_timed.fetch_add(1, Ordering::Relaxed);
        self.sync_us_sum.fetch_add(us, Ordering::Relaxed);
        self.sync_us_max.fetch_max(us, Ordering::Relaxed);
        let min = &self.sync_us_min_plus_one;
        let current = min.load(Ordering::Relaxed);
        if current == 0 || us + 1 < current {
            min.store(us + 1, Ordering::Relaxed);
        }
        let slow = took > SLOW_SYNC_THRESHOLD;
        if slow {
            self.slow_syncs.fetch_add(1, Ordering::Relaxed);
        }
        slow
    }
    pub(super) fn on_batch(&self, records: usize, durable: Zxid) {
        let n = records as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(n, Ordering::Relaxed);
        self.last_batch_records.store(n, Ordering::Relaxed);
        self.max_batch_records.fetch_max(n, Ordering::Relaxed);
        self.durable_zxid.store(durable as u64, Ordering::Relaxed);
    }
    /// The watermark found at open (recovery).
    pub(super) fn set_durable(&self, durable: Zxid) {
        self.durable_zxid.store(durable as u64, Ordering::Relaxed);
    }
    pub(super) fn on_roll(&self, prepared: bool) {
        self.rolls.fetch_add(1, Ordering::Relaxed);
        if !prepared {
            self.rolls_unprepared.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub(super) fn on_release(&self) {
        self.segments_released.fetch_add(1, Ordering::Relaxed);
    }
    pub(super) fn on_failure(&self) {
        self.failed.store(true, Ordering::Relaxed);
    }
    pub fn snapshot(&self) -> WalStats {
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WalStats {
            batches: r(&self.batches),
            records: r(&self.records),
            writes: r(&self.writes),
            fsyncs: r(&self.fsyncs),
            bytes_written: r(&self.bytes_written),
            last_batch_records: r(&self.last_batch_records),
            max_batch_records: r(&self.max_batch_records),
            rolls: r(&self.rolls),
            rolls_unprepared: r(&self.rolls_unprepared),
            segments_released: r(&self.segments_released),
            durable_zxid: r(&self.durable_zxid) as i64,
            failed: self.failed.load(Ordering::Relaxed),
            syncs_timed: r(&self.syncs_timed),
            sync_us_sum: r(&self.sync_us_sum),
            sync_us_min: r(&self.sync_us_min_plus_one).saturating_sub(1),
            sync_us_max: r(&self.sync_us_max),
            slow_syncs: r(&self.slow_syncs),
        }
    }
}

impl WalStats {
    /// Roost's own `mntr` lines for the log (ZooKeeper's `fsynctime`
    /// summary is rendered by the four-letter words from the same fields).
    pub fn roost_metrics(&self) -> Vec<(&'static str, String)> {
        vec![
            ("roost_log_batches", self.batches.to_string()),
            ("roost_log_records", self.records.to_string()),
            ("roost_log_fsyncs", self.fsyncs.to_string()),
            ("roost_log_writes", self.writes.to_string()),
            ("roost_log_bytes_written", self.bytes_written.to_string()),
            (
                "roost_log_last_batch_records",
                self.last_batch_records.to_string(),
            ),
            (
                "roost_log_max_batch_records",
                self.max_batch_records.to_string(),
            ),
            ("roost_log_segment_rolls", self.rolls.to_string()),
            (
                "roost_log_segment_rolls_unprepared",
                self.rolls_unprepared.to_string(),
            ),
            ("roost_log_sync_max_us", self.sync_us_max.to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_times_keep_count_sum_min_max_and_slow_ones() {
        let p = WalProbe::default();
        let s = p.snapshot();
        assert_eq!((s.syncs_timed, s.sync_us_min, s.sync_us_max), (0, 0, 0));
        assert!(!p.on_durable(Duration::from_micros(2_500)));
        assert!(!p.on_durable(Duration::from_micros(500)));
        assert!(p.on_durable(Duration::from_millis(1_200)));
        let s = p.snapshot();
        assert_eq!(
            (s.syncs_timed, s.sync_us_min, s.sync_us_max, s.slow_syncs),
            (3, 500, 1_200_000, 1)
        );
    }
}
