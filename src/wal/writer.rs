//! [`LogWriter`]: appends batches of records to the log, durably.
//!
//! Owned by the log core (its own executor on a dedicated core); nothing
//! else touches the log's files. Counters are published through
//! [`WalProbe`] (atomics, written here, read anywhere).
//!
//! A batch is encoded behind the in-memory copy of the last, partial 4 KiB
//! block, and the dirty blocks are written with one aligned write, then made
//! durable with one fdatasync ([`SyncMode::Fdatasync`]) or by the write
//! itself ([`SyncMode::ODsync`]). Only then does `append_batch` return the
//! new durable watermark. If the batch does not fit in the active segment,
//! the part that fits is written and synced, the writer rolls to the next
//! segment (prepared ahead of time by [`LogWriter::prepare_next`], which the
//! log core calls when idle) and continues there.
//!
//! After a write or sync error the writer is poisoned: the state of the
//! file is unknown (a failed fsync may have dropped the dirty pages, so a
//! later successful fsync proves nothing), and every later call returns the
//! same error. Nothing written by the failed batch is ever reported durable.

use super::record::{
    prep_file_name, record_bytes, segment_file_name, RecordHeader, SegmentHeader,
    RECORD_BODY_BYTES_MAX, SEGMENT_HEADER_BYTES,
};
use super::recovery::{recover, Recovery};
use super::txn_codec::encode_payload;
use super::{LogRecord, WalError};
use crate::io::{AlignedBuf, FileId, LogDevice, BLOCK_BYTES};
use crate::proto::Zxid;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Smallest accepted segment size.
pub const SEGMENT_BYTES_MIN: u64 = 64 * 1024;
/// Largest accepted segment size (recovery reads a whole segment at once).
pub const SEGMENT_BYTES_MAX: u64 = 1 << 30;
/// Zero-fill done per `prepare_next` call: bounds how long the log core is
/// busy preparing when a batch arrives.
pub const PREPARE_STEP_BYTES: usize = 1 << 20;

/// How a batch is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncMode {
    /// One write, then one fdatasync (IORING_OP_FSYNC with DATASYNC).
    Fdatasync,
    /// Segments opened with O_DSYNC: the write completes only once durable.
    ODsync,
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
    pub fn validate(&self) -> Result<(), WalError> {
        if self.segment_bytes < SEGMENT_BYTES_MIN || self.segment_bytes > SEGMENT_BYTES_MAX {
            return Err(WalError::Config(format!(
                "segment_bytes {} outside {SEGMENT_BYTES_MIN}..={SEGMENT_BYTES_MAX}",
                self.segment_bytes
            )));
        }
        if !self.segment_bytes.is_multiple_of(BLOCK_BYTES as u64) {
            return Err(WalError::Config(format!(
                "segment_bytes {} is not a multiple of {BLOCK_BYTES}",
                self.segment_bytes
            )));
        }
        Ok(())
    }
}

/// Counters for mntr. Written only by the log core; read from any core.
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
}

/// A snapshot of [`WalProbe`].
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
}

impl WalProbe {
    fn on_write(&self, bytes: usize) {
        self.writes.fetch_add(1, Ordering::Relaxed);
        self.bytes_written
            .fetch_add(bytes as u64, Ordering::Relaxed);
    }
    fn on_fsync(&self) {
        self.fsyncs.fetch_add(1, Ordering::Relaxed);
    }
    fn on_batch(&self, records: usize, durable: Zxid) {
        let n = records as u64;
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.records.fetch_add(n, Ordering::Relaxed);
        self.last_batch_records.store(n, Ordering::Relaxed);
        self.max_batch_records.fetch_max(n, Ordering::Relaxed);
        self.durable_zxid.store(durable as u64, Ordering::Relaxed);
    }
    fn on_roll(&self, prepared: bool) {
        self.rolls.fetch_add(1, Ordering::Relaxed);
        if !prepared {
            self.rolls_unprepared.fetch_add(1, Ordering::Relaxed);
        }
    }
    fn on_release(&self) {
        self.segments_released.fetch_add(1, Ordering::Relaxed);
    }
    fn on_failure(&self) {
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
        }
    }
}

/// A segment of the log (closed or active), for `release_below`.
#[derive(Clone, Debug)]
struct SegmentMeta {
    seq: u64,
    path: PathBuf,
    last_index: Option<i64>,
}

/// The segment being appended to.
#[derive(Debug)]
struct Active {
    seq: u64,
    path: PathBuf,
    file: FileId,
    /// Its preallocated size.
    len: u64,
    /// Offset where the next record goes.
    end: u64,
    /// The segment header is not on disk yet (fresh segment).
    header_pending: bool,
}

/// The next segment, being prepared off the hot path.
#[derive(Debug)]
enum Next {
    None,
    Zeroing { file: FileId, zeroed: u64 },
    Ready { seq: u64, file: FileId },
}

/// The log's single writer. Owned by the log core; see the module doc.
pub struct LogWriter {
    dir: PathBuf,
    cfg: WalConfig,
    device: Box<dyn LogDevice>,
    active: Active,
    /// Every segment in seq order, the active one last.
    segments: VecDeque<SegmentMeta>,
    next: Next,
    /// Bytes from `align_down(active.end)` to `active.end`, followed by the
    /// batch being built; always zero past the content.
    tail: AlignedBuf,
    /// One block of zeros per step of preparation.
    zeros: AlignedBuf,
    /// Encoded txn bodies of the batch being built.
    scratch: Vec<u8>,
    last_index: Zxid,
    durable: Zxid,
    poisoned: Option<WalError>,
    probe: Arc<WalProbe>,
}

impl std::fmt::Debug for LogWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogWriter")
            .field("dir", &self.dir)
            .field("active", &self.active)
            .field("durable", &self.durable)
            .field("poisoned", &self.poisoned)
            .finish()
    }
}

fn align_down(v: u64) -> u64 {
    v - v % BLOCK_BYTES as u64
}

fn align_up(v: u64) -> u64 {
    v.next_multiple_of(BLOCK_BYTES as u64)
}

impl LogWriter {
    /// Recovers `dir` (creating it if missing), zeroes a torn tail, makes
    /// everything it read durable, and returns the writer positioned after
    /// the last valid record, with what was recovered. A corrupt log is
    /// [`WalError::Corrupt`] and nothing is changed.
    pub fn open(
        dir: &Path,
        cfg: WalConfig,
        mut device: Box<dyn LogDevice>,
    ) -> Result<(LogWriter, Recovery), WalError> {
        cfg.validate()?;
        device
            .create_dir_all(dir)
            .map_err(|e| WalError::io("mkdir", dir, 0, e))?;
        // Interrupted preparations never held records.
        let names = device
            .list(dir)
            .map_err(|e| WalError::io("list", dir, 0, e))?;
        for name in names {
            if super::record::parse_prep_file_name(&name).is_some() {
                let p = dir.join(&name);
                tracing::info!(file = %p.display(), "removing interrupted segment preparation");
                device
                    .remove(&p)
                    .map_err(|e| WalError::io("remove", &p, 0, e))?;
            }
        }
        let recovery = recover(dir, device.as_mut())?;
        if let super::TailReport::Truncated {
            file,
            offset,
            bytes,
            reason,
        } = &recovery.tail
        {
            tracing::warn!(
                file = %file.display(), offset, bytes, reason = %reason,
                "log tail torn by a crash (never acknowledged): zeroing it"
            );
        }

        let mut w = LogWriter {
            dir: dir.to_owned(),
            cfg,
            device,
            // Replaced below before anyone can observe it.
            active: Active {
                seq: 0,
                path: PathBuf::new(),
                file: FileId(u32::MAX),
                len: 0,
                end: 0,
                header_pending: true,
            },
            segments: VecDeque::new(),
            next: Next::None,
            tail: AlignedBuf::zeroed(BLOCK_BYTES),
            zeros: AlignedBuf::zeroed(PREPARE_STEP_BYTES),
            scratch: Vec::new(),
            last_index: recovery.last_zxid,
            durable: recovery.last_zxid,
            poisoned: None,
            probe: Arc::new(WalProbe::default()),
        };
        w.probe
            .durable_zxid
            .store(w.durable as u64, Ordering::Relaxed);

        let torn_file = match &recovery.tail {
            super::TailReport::Truncated { file, .. } => Some(file.clone()),
            super::TailReport::Clean => None,
        };
        let last_data = recovery.segments.iter().rposition(|s| {
            s.segment_bytes.is_some() || s.records > 0 || Some(&s.file) == torn_file.as_ref()
        });
        for s in recovery
            .segments
            .iter()
            .take(last_data.map_or(0, |i| i + 1))
        {
            w.segments.push_back(SegmentMeta {
                seq: s.seq,
                path: s.file.clone(),
                last_index: s.last_index,
            });
        }
        let empties: Vec<_> = recovery.segments[last_data.map_or(0, |i| i + 1)..].to_vec();

        if let Some(i) = last_data {
            let s = &recovery.segments[i];
            w.resume_in(s, recovery.garbage_end)?;
        } else {
            // No data yet: start in the first prepared segment, or a new one.
            let seq = empties.first().map_or(0, |s| s.seq);
            w.segments.push_back(SegmentMeta {
                seq,
                path: dir.join(segment_file_name(seq)),
                last_index: None,
            });
            w.start_fresh(seq, empties.first().map(|s| s.file_len))?;
        }
        // Prepared segments after the active one: the first is the next one
        // (if it has the right size), the others go (they hold nothing).
        for (k, s) in empties.iter().enumerate() {
            if s.seq == w.active.seq {
                continue;
            }
            if s.seq == w.active.seq + 1 && s.file_len == cfg.segment_bytes && k <= 1 {
                let file = w.open_segment(&s.file)?;
                w.next = Next::Ready { seq: s.seq, file };
            } else {
                w.device
                    .remove(&s.file)
                    .map_err(|e| WalError::io("remove", &s.file, 0, e))?;
            }
        }
        Ok((w, recovery))
    }

    fn open_segment(&mut self, path: &Path) -> Result<FileId, WalError> {
        self.device
            .open(path, self.cfg.sync_mode == SyncMode::ODsync)
            .map_err(|e| WalError::io("open", path, 0, e))
    }

    /// Continues in a segment holding records: loads its tail block, zeroes
    /// torn bytes (and re-extends a cut file), and syncs, so that every
    /// recovered record is durable before it is reported.
    fn resume_in(
        &mut self,
        s: &super::recovery::SegmentSummary,
        garbage_end: Option<u64>,
    ) -> Result<(), WalError> {
        let (seq, path, file_len, end) = (s.seq, s.file.as_path(), s.file_len, s.end);
        let len = s.segment_bytes.unwrap_or(self.cfg.segment_bytes);
        // A zero header (torn first batch) is written with the next batch.
        let header_pending = s.segment_bytes.is_none();
        let file = self.open_segment(path)?;
        let bytes = self
            .device
            .read_all(file)
            .map_err(|e| WalError::io("read", path, 0, e))?;
        let block_start = align_down(end);
        let prefix = (end - block_start) as usize;
        self.tail[..prefix].copy_from_slice(&bytes[block_start as usize..end as usize]);
        self.active = Active {
            seq,
            path: path.to_owned(),
            file,
            len,
            end,
            header_pending,
        };
        // Zero everything from the tail block to the last torn byte, or to
        // the full segment size if the file was cut short.
        let zero_to = if file_len < len {
            len
        } else {
            align_up(garbage_end.unwrap_or(end).max(end))
        };
        if zero_to > block_start {
            let r = self
                .device
                .write_at(file, block_start, &self.tail[..BLOCK_BYTES]);
            r.map_err(|e| WalError::io("write", path, block_start, e))?;
            let mut at = block_start + BLOCK_BYTES as u64;
            while at < zero_to {
                let n = ((zero_to - at) as usize).min(self.zeros.len());
                let (dev, zeros) = (&mut self.device, &self.zeros);
                dev.write_at(file, at, &zeros[..n])
                    .map_err(|e| WalError::io("write", path, at, e))?;
                at += n as u64;
            }
        }
        self.device
            .sync(file)
            .map_err(|e| WalError::io("fdatasync", path, 0, e))?;
        Ok(())
    }

    /// Makes segment `seq` active with nothing in it: reuses a prepared file
    /// of the right size, or prepares one now.
    fn start_fresh(&mut self, seq: u64, existing_len: Option<u64>) -> Result<(), WalError> {
        let path = self.dir.join(segment_file_name(seq));
        if let Some(l) = existing_len {
            if l != self.cfg.segment_bytes {
                self.device
                    .remove(&path)
                    .map_err(|e| WalError::io("remove", &path, 0, e))?;
            }
        }
        let file = if existing_len == Some(self.cfg.segment_bytes) {
            self.open_segment(&path)?
        } else {
            self.next = Next::None;
            self.prepare_seq(seq)?;
            match std::mem::replace(&mut self.next, Next::None) {
                Next::Ready { file, .. } => file,
                _ => unreachable!("prepare_seq leaves the segment ready"),
            }
        };
        self.active = Active {
            seq,
            path,
            file,
            len: self.cfg.segment_bytes,
            end: SEGMENT_HEADER_BYTES as u64,
            header_pending: true,
        };
        self.tail.fill(0);
        Ok(())
    }

    /// Prepares segment `seq` completely (inline).
    fn prepare_seq(&mut self, seq: u64) -> Result<(), WalError> {
        assert!(
            matches!(self.next, Next::None),
            "a preparation is in progress"
        );
        self.prepare_step(seq)?;
        while !matches!(self.next, Next::Ready { .. }) {
            self.prepare_step(seq)?;
        }
        Ok(())
    }

    /// One bounded step of preparing segment `seq`: create + fallocate, or
    /// zero-fill [`PREPARE_STEP_BYTES`], or sync + rename + reopen.
    fn prepare_step(&mut self, seq: u64) -> Result<(), WalError> {
        let prep = self.dir.join(prep_file_name(seq));
        let len = self.cfg.segment_bytes;
        match self.next {
            Next::None => {
                let file = self
                    .device
                    .create(&prep, len)
                    .map_err(|e| WalError::io("create", &prep, 0, e))?;
                self.next = Next::Zeroing { file, zeroed: 0 };
            }
            Next::Zeroing { file, zeroed, .. } if zeroed < len => {
                let n = ((len - zeroed) as usize).min(self.zeros.len());
                let r = self.device.write_at(file, zeroed, &self.zeros[..n]);
                r.map_err(|e| WalError::io("write", &prep, zeroed, e))?;
                self.next = Next::Zeroing {
                    file,
                    zeroed: zeroed + n as u64,
                };
            }
            Next::Zeroing { file, .. } => {
                let path = self.dir.join(segment_file_name(seq));
                let dev = &mut self.device;
                dev.sync(file)
                    .map_err(|e| WalError::io("fdatasync", &prep, 0, e))?;
                dev.close(file);
                dev.rename(&prep, &path)
                    .map_err(|e| WalError::io("rename", &prep, 0, e))?;
                dev.sync_dir(&self.dir)
                    .map_err(|e| WalError::io("fsync dir", &self.dir, 0, e))?;
                let file = self.open_segment(&path)?;
                self.next = Next::Ready { seq, file };
            }
            Next::Ready { .. } => {}
        }
        Ok(())
    }

    /// One bounded step of preparing the next segment, for the log core to
    /// call when idle. Returns true while there is more to do. An error
    /// (e.g. ENOSPC at fallocate) does not poison the writer: nothing
    /// acknowledged depends on it; the preparation is dropped and retried.
    pub fn prepare_next(&mut self) -> Result<bool, WalError> {
        if self.poisoned.is_some() {
            return Ok(false);
        }
        let seq = self.active.seq + 1;
        if let Err(e) = self.prepare_step(seq) {
            self.abandon_preparation(seq);
            return Err(e);
        }
        Ok(!matches!(self.next, Next::Ready { .. }))
    }

    fn abandon_preparation(&mut self, seq: u64) {
        if let Next::Zeroing { file, .. } = self.next {
            self.device.close(file);
        }
        self.next = Next::None;
        let _ = self.device.remove(&self.dir.join(prep_file_name(seq)));
    }

    /// Writes whole blocks at a block offset of the active segment.
    fn write_raw(&mut self, offset: u64, buf_len: usize) -> Result<(), WalError> {
        let r = self
            .device
            .write_at(self.active.file, offset, &self.tail[..buf_len]);
        r.map_err(|e| WalError::io("write", &self.active.path, offset, e))?;
        self.probe.on_write(buf_len);
        Ok(())
    }

    /// Appends `records` and makes them durable: one write of the dirty
    /// aligned range and one sync (per segment touched). Returns the new
    /// durable watermark (the last record's zxid).
    ///
    /// Records must have strictly increasing zxids above every earlier one.
    /// A record too large for an empty segment is rejected up front
    /// (nothing written, writer not poisoned). Any I/O error poisons.
    pub fn append_batch(&mut self, records: &[LogRecord]) -> Result<Zxid, WalError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        if records.is_empty() {
            return Ok(self.durable);
        }
        // Encode and check everything before touching the disk.
        self.scratch.clear();
        let mut bodies = Vec::with_capacity(records.len());
        // What must fit is one record in a fresh segment (after a roll).
        let capacity = self.cfg.segment_bytes as usize - SEGMENT_HEADER_BYTES;
        let mut prev = self.last_index;
        for r in records {
            assert!(
                r.zxid > prev,
                "log append out of order: zxid {} after {prev}",
                r.zxid
            );
            prev = r.zxid;
            let start = self.scratch.len();
            encode_payload(r.time_ms, &r.txn, &mut self.scratch);
            let body_bytes = self.scratch.len() - start;
            if body_bytes > RECORD_BODY_BYTES_MAX || record_bytes(body_bytes) > capacity {
                return Err(WalError::RecordTooLarge {
                    body_bytes,
                    max: RECORD_BODY_BYTES_MAX.min(capacity - record_bytes(0)),
                });
            }
            bodies.push(start..self.scratch.len());
        }
        match self.append_encoded(records, &bodies) {
            Ok(()) => {
                self.durable = prev;
                self.probe.on_batch(records.len(), prev);
                Ok(prev)
            }
            Err(e) => {
                tracing::error!(error = %e, "log write failed: no further writes will be acknowledged");
                self.probe.on_failure();
                self.poisoned = Some(e.clone());
                Err(e)
            }
        }
    }

    fn append_encoded(
        &mut self,
        records: &[LogRecord],
        bodies: &[std::ops::Range<usize>],
    ) -> Result<(), WalError> {
        let mut block_start = align_down(self.active.end);
        let mut dirty = false;
        for (r, body) in records.iter().zip(bodies) {
            let need = record_bytes(body.len()) as u64;
            if self.active.end + need > self.active.len {
                if dirty {
                    self.flush(block_start)?;
                }
                self.roll()?;
                block_start = align_down(self.active.end);
            }
            let at = (self.active.end - block_start) as usize;
            self.tail.grow_to(at + need as usize);
            if self.active.header_pending {
                assert_eq!(self.active.end, SEGMENT_HEADER_BYTES as u64);
                let h = SegmentHeader {
                    seq: self.active.seq,
                    first_index: r.zxid,
                    segment_bytes: self.active.len,
                };
                self.tail[..SEGMENT_HEADER_BYTES].copy_from_slice(&h.encode());
                self.active.header_pending = false;
            }
            let body_bytes = &self.scratch[body.clone()];
            RecordHeader::write_record(r.zxid, r.term, body_bytes, &mut self.tail[at..]);
            self.active.end += need;
            self.last_index = r.zxid;
            if let Some(m) = self.segments.back_mut() {
                m.last_index = Some(r.zxid);
            }
            dirty = true;
        }
        if dirty {
            self.flush(block_start)?;
        }
        Ok(())
    }

    /// Writes `tail` (the blocks from `block_start` to the active end) and
    /// makes it durable; then keeps only the last partial block in memory.
    fn flush(&mut self, block_start: u64) -> Result<(), WalError> {
        let content = (self.active.end - block_start) as usize;
        let write_len = align_up(content as u64) as usize;
        assert!(
            write_len <= self.tail.len(),
            "tail buffer shorter than the write"
        );
        assert!(
            block_start + write_len as u64 <= self.active.len,
            "write past segment end"
        );
        // Whole blocks go to disk: what lies past the content must be zero.
        self.tail[content..write_len].fill(0);
        self.write_raw(block_start, write_len)?;
        if self.cfg.sync_mode == SyncMode::Fdatasync {
            self.device
                .sync(self.active.file)
                .map_err(|e| WalError::io("fdatasync", &self.active.path, block_start, e))?;
            self.probe.on_fsync();
        }
        // Keep the last partial block at the front of the buffer.
        let last_block = (align_down(self.active.end) - block_start) as usize;
        let keep = content - last_block;
        self.tail.copy_within(last_block..content, 0);
        self.tail[keep..write_len.max(BLOCK_BYTES)].fill(0);
        Ok(())
    }

    /// Closes the active segment and activates the next one, preparing it
    /// inline if the idle-time preparation did not finish.
    fn roll(&mut self) -> Result<(), WalError> {
        let seq = self.active.seq + 1;
        let prepared = matches!(self.next, Next::Ready { seq: s, .. } if s == seq);
        if !prepared {
            if !matches!(self.next, Next::None) {
                self.abandon_preparation(seq);
            }
            self.prepare_seq(seq)?;
        }
        let Next::Ready { file, .. } = std::mem::replace(&mut self.next, Next::None) else {
            unreachable!("next segment is ready after preparation")
        };
        self.device.close(self.active.file);
        self.active = Active {
            seq,
            path: self.dir.join(segment_file_name(seq)),
            file,
            len: self.cfg.segment_bytes,
            end: SEGMENT_HEADER_BYTES as u64,
            header_pending: true,
        };
        self.segments.push_back(SegmentMeta {
            seq,
            path: self.active.path.clone(),
            last_index: None,
        });
        self.tail.fill(0);
        self.probe.on_roll(prepared);
        Ok(())
    }

    /// Deletes whole segments (oldest first, never the active one) whose
    /// records all lie below `zxid`, e.g. after a snapshot covering them.
    /// Returns how many were deleted.
    pub fn release_below(&mut self, zxid: Zxid) -> Result<usize, WalError> {
        let mut released = 0;
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            if oldest.seq == self.active.seq || oldest.last_index.is_some_and(|l| l >= zxid) {
                break;
            }
            let path = oldest.path.clone();
            self.device
                .remove(&path)
                .map_err(|e| WalError::io("remove", &path, 0, e))?;
            self.segments.pop_front();
            self.probe.on_release();
            released += 1;
        }
        if released > 0 {
            self.device
                .sync_dir(&self.dir)
                .map_err(|e| WalError::io("fsync dir", &self.dir, 0, e))?;
        }
        Ok(released)
    }

    /// The highest zxid known durable.
    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    /// The error that poisoned the writer, if any.
    pub fn failure(&self) -> Option<&WalError> {
        self.poisoned.as_ref()
    }

    /// The counters, shareable with whoever answers mntr.
    pub fn probe(&self) -> Arc<WalProbe> {
        self.probe.clone()
    }

    pub fn stats(&self) -> WalStats {
        self.probe.snapshot()
    }

    pub fn config(&self) -> &WalConfig {
        &self.cfg
    }

    /// Number of segment files the log currently holds (not counting a
    /// prepared next one).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
}
