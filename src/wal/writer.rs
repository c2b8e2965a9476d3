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
//! same error. Nothing written by the failed batch is ever reported durable,
//! and no segment is released any more (the in-memory view of what is live
//! may include records that never reached the disk).
//!
//! The writer is opened in one mode ([`LogMode`]) and stays in it:
//! [`LogWriter::open`] + [`LogWriter::append_batch`] (standalone), or
//! [`LogWriter::open_raft`] + [`LogWriter::persist`] (raft: entries with
//! raft's truncation rule, reset markers, and the hard state, whose file the
//! writer owns). Calling the other mode's method is a bug and panics.
//!
//! # Releasing segments with truncation
//!
//! Each segment keeps an upper bound of the highest index in it that is
//! still live. A raft record at index `i` lowers every segment's bound to
//! at most `i - 1` (the records at `>= i` are superseded), a reset clears
//! them all. [`LogWriter::release_below`] deletes the oldest segments while
//! their bound is below the given index (or they hold nothing live). That
//! is safe even when a later segment superseded part of an earlier one:
//! whether a record is live depends only on the records after it, so
//! recovering the remaining segments yields exactly the live entries that
//! were not in the deleted ones. The bound may overstate (a segment whose
//! live records were all superseded keeps `i - 1`), which only keeps a
//! segment longer.

use super::hardstate::{HardState, HardStateFile};
use super::probe::{WalProbe, WalStats};
use super::raft::RaftPersist;
use super::record::{
    encode_raft_body, prep_file_name, raft_body_bytes, record_bytes, segment_file_name, LogMode,
    RecordHeader, SegmentHeader, KIND_RAFT, KIND_RAFT_RESET, KIND_TXN, RECORD_BODY_BYTES_MAX,
    SEGMENT_HEADER_BYTES,
};
use super::recovery::{Classified, Content, RaftRecovery, Recovery};
use super::{LogRecord, WalError};
use crate::config::wal::{SyncMode, WalConfig, SEGMENT_ALIGN_BYTES};
use crate::io::{AlignedBuf, FileId, LogDevice, BLOCK_BYTES};
use crate::ops::txn_codec::encode_payload;
use crate::proto::Zxid;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::Arc;

// The configured alignment of segments is the device's block.
const _: () = assert!(SEGMENT_ALIGN_BYTES == BLOCK_BYTES as u64);

/// Zero-fill done per `prepare_next` call: bounds how long the log core is
/// busy preparing when a batch arrives.
pub const PREPARE_STEP_BYTES: usize = 1 << 20;

/// A segment of the log (closed or active), for `release_below`.
#[derive(Clone, Debug)]
struct SegmentMeta {
    seq: u64,
    path: PathBuf,
    /// At least the highest index of a live record in this segment; `None`
    /// if it holds nothing live (see "Releasing segments" in the module doc).
    live_last: Option<i64>,
}

/// A record of the batch being written; its body is in `scratch`.
#[derive(Clone, Debug)]
struct Pending {
    kind: u16,
    index: i64,
    term: i64,
    body: std::ops::Range<usize>,
}

/// What only a raft-mode writer has.
#[derive(Debug)]
struct RaftState {
    hard_state: HardStateFile,
    /// Index of the first live entry, or where the log restarts after a
    /// reset; `None` while the log was never written.
    first: Option<u64>,
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
    /// Encoded bodies of the batch being built.
    scratch: Vec<u8>,
    /// Index of the last record written (always live); after a raft reset
    /// at `n`, `n - 1`.
    last_index: Zxid,
    durable: Zxid,
    /// `Some` in raft mode.
    raft: Option<RaftState>,
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

/// [`WalError::RecordTooLarge`] if a body of `body_bytes` does not fit a
/// record (`capacity`: what a fresh segment holds).
fn check_size(body_bytes: usize, capacity: usize) -> Result<(), WalError> {
    if body_bytes > RECORD_BODY_BYTES_MAX || record_bytes(body_bytes) > capacity {
        return Err(WalError::RecordTooLarge {
            body_bytes,
            max: RECORD_BODY_BYTES_MAX.min(capacity - record_bytes(0)),
        });
    }
    Ok(())
}

fn align_down(v: u64) -> u64 {
    v - v % BLOCK_BYTES as u64
}

fn align_up(v: u64) -> u64 {
    v.next_multiple_of(BLOCK_BYTES as u64)
}

impl LogWriter {
    /// Recovers a standalone log in `dir` (creating it if missing), zeroes a
    /// torn tail, makes everything it read durable, and returns the writer
    /// positioned after the last valid record, with what was recovered. A
    /// corrupt log is [`WalError::Corrupt`], a raft log
    /// [`WalError::WrongMode`], and nothing is changed.
    pub fn open(
        dir: &Path,
        cfg: WalConfig,
        device: Box<dyn LogDevice>,
    ) -> Result<(LogWriter, Recovery), WalError> {
        let (w, c) = LogWriter::open_mode(dir, cfg, device, LogMode::Standalone)?;
        Ok((w, c.into_recovery()))
    }

    /// Recovers a raft log in `dir` (creating it and its `hardstate` file if
    /// missing), zeroes a torn tail, makes everything it read durable, and
    /// returns the writer (for [`LogWriter::persist`]) with the live entries
    /// and the hard state. A corrupt log is [`WalError::Corrupt`], a
    /// standalone log [`WalError::WrongMode`], and nothing is changed.
    pub fn open_raft(
        dir: &Path,
        cfg: WalConfig,
        device: Box<dyn LogDevice>,
    ) -> Result<(LogWriter, RaftRecovery), WalError> {
        let (w, c) = LogWriter::open_mode(dir, cfg, device, LogMode::Raft)?;
        let hs = w.hard_state().expect("a raft writer has a hard state");
        Ok((w, c.into_raft(hs)))
    }

    fn open_mode(
        dir: &Path,
        cfg: WalConfig,
        mut device: Box<dyn LogDevice>,
        mode: LogMode,
    ) -> Result<(LogWriter, Classified), WalError> {
        cfg.validate().map_err(WalError::Config)?;
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
        let recovery = super::recovery::recover_mode(dir, device.as_mut(), mode)?;
        let raft = match mode {
            LogMode::Standalone => None,
            LogMode::Raft => {
                // Checks before creating anything: a log with records but
                // no hard state file is corrupt.
                super::recovery::check_hard_state(dir, device.as_mut(), &recovery)?;
                let first = match &recovery.content {
                    Content::Raft { first_index, .. } => *first_index,
                    _ => None,
                };
                Some(RaftState {
                    hard_state: HardStateFile::open(dir, device.as_mut())?,
                    first,
                })
            }
        };
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
            last_index: recovery.last_index(),
            durable: recovery.last_index(),
            raft,
            poisoned: None,
            probe: Arc::new(WalProbe::default()),
        };
        w.probe.set_durable(w.durable);

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
                live_last: s.live_last_index,
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
                live_last: None,
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
        // The header is (re)written with the next batch when no record
        // survived: a zero header, or a torn first batch whose first sector
        // (and so the header) landed while its records did not. A surviving
        // header names the lost record's index, which the next record
        // written here need not have (raft truncation, a snapshot reset).
        let header_pending = s.segment_bytes.is_none() || end == SEGMENT_HEADER_BYTES as u64;
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

    /// Keeps the next segment's preparation ahead of the writes: after a
    /// batch that wrote `written` bytes, zero-fills about twice that much of
    /// the next segment (at least one step), so it is ready by the time the
    /// active one is half full. Under a steady load the log core is never
    /// idle, and a roll into an unprepared segment prepares all of it inline:
    /// a whole segment's zero-fill and its sync, on which every write in
    /// flight waits (a ~120 ms stall every 64 MiB, measured). Errors as
    /// [`LogWriter::prepare_next`].
    pub fn keep_ahead(&mut self, written: u64) -> Result<(), WalError> {
        let steps = (2 * written).div_ceil(PREPARE_STEP_BYTES as u64).max(1);
        for _ in 0..steps {
            if !self.prepare_next()? {
                break;
            }
        }
        Ok(())
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
    /// durable watermark (the last record's zxid). Standalone mode only.
    ///
    /// Records must have strictly increasing zxids above every earlier one.
    /// A record too large for an empty segment is rejected up front
    /// (nothing written, writer not poisoned). Any I/O error poisons.
    pub fn append_batch(&mut self, records: &[LogRecord]) -> Result<Zxid, WalError> {
        assert!(
            self.raft.is_none(),
            "append_batch on a log opened in raft mode (use persist)"
        );
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        if records.is_empty() {
            return Ok(self.durable);
        }
        // Encode and check everything before touching the disk.
        self.scratch.clear();
        let mut items = Vec::with_capacity(records.len());
        let capacity = self.record_capacity();
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
            check_size(self.scratch.len() - start, capacity)?;
            items.push(Pending {
                kind: KIND_TXN,
                index: r.zxid,
                term: r.term,
                body: start..self.scratch.len(),
            });
        }
        if let Err(e) = self.append_encoded(&items) {
            return Err(self.poison(e));
        }
        self.durable = prev;
        self.probe.on_batch(records.len(), prev);
        Ok(prev)
    }

    /// Raft mode: writes the batch, in order (each command's reset marker,
    /// then its entries), as one write + one sync per segment touched; then,
    /// if any command carries a hard state, saves the last one (its own
    /// fsync). Entries first: a durable commit index must never point past
    /// the durable log. Returns the last live index, durable when this
    /// returns Ok; also [`LogWriter::durable_zxid`] from then on.
    ///
    /// The order rules are those of [`RaftPersist`]; a batch breaking them is
    /// [`WalError::Sequence`], too large an entry [`WalError::RecordTooLarge`],
    /// both before anything is written (the writer is not poisoned). Any I/O
    /// error poisons.
    pub fn persist(&mut self, batch: &[RaftPersist]) -> Result<u64, WalError> {
        let Some(raft) = &self.raft else {
            panic!("persist on a log opened in standalone mode (use append_batch)")
        };
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        // Validate and encode everything before touching the disk, on a copy
        // of the position.
        let mut first = raft.first;
        let mut last = u64::try_from(self.last_index).expect("raft index is not negative");
        let capacity = self.record_capacity();
        let mut hard_state = None;
        let mut items = Vec::new();
        self.scratch.clear();
        let seq_err = |m: String| Err(WalError::Sequence(m));
        for p in batch {
            if let Some(n) = p.reset_to {
                if n == 0 || n > i64::MAX as u64 {
                    return seq_err(format!("reset_to {n} is not a raft index"));
                }
                let at = self.scratch.len();
                items.push(Pending {
                    kind: KIND_RAFT_RESET,
                    index: n as i64,
                    term: 0,
                    body: at..at,
                });
                (first, last) = (Some(n), n - 1);
            }
            if let Some(e0) = p.entries.first() {
                let f = e0.index;
                if f == 0 {
                    return seq_err("entry index 0 (raft indexes start at 1)".into());
                }
                if let Some(s) = first {
                    if f < s {
                        return seq_err(format!(
                            "entries start at {f}, below the log's first index {s}"
                        ));
                    }
                    if f > last + 1 {
                        return seq_err(format!(
                            "entries start at {f} but the last index is {last}: a gap"
                        ));
                    }
                }
                for (k, e) in p.entries.iter().enumerate() {
                    if e.index != f + k as u64 {
                        return seq_err(format!(
                            "entry {} follows {} in one command: indexes must be contiguous",
                            e.index,
                            f + k as u64 - 1
                        ));
                    }
                    if e.index > i64::MAX as u64 || e.term > i64::MAX as u64 {
                        return seq_err(format!("entry {} term {} out of range", e.index, e.term));
                    }
                    check_size(raft_body_bytes(e), capacity)?;
                    let start = self.scratch.len();
                    encode_raft_body(e, &mut self.scratch);
                    items.push(Pending {
                        kind: KIND_RAFT,
                        index: e.index as i64,
                        term: e.term as i64,
                        body: start..self.scratch.len(),
                    });
                }
                first = Some(first.unwrap_or(f));
                last = f + p.entries.len() as u64 - 1;
            }
            if p.hard_state.is_some() {
                hard_state = p.hard_state;
            }
        }
        if !items.is_empty() {
            if let Err(e) = self.append_encoded(&items) {
                return Err(self.poison(e));
            }
            assert_eq!(
                self.last_index, last as i64,
                "writer and validation disagree"
            );
            self.durable = last as i64;
            self.probe.on_batch(items.len(), self.durable);
        }
        let raft = self.raft.as_mut().expect("checked above");
        raft.first = first;
        if let Some(hs) = hard_state {
            if let Err(e) = raft.hard_state.save(self.device.as_mut(), hs) {
                return Err(self.poison(e));
            }
            self.probe.on_write(BLOCK_BYTES);
            self.probe.on_fsync();
        }
        Ok(last)
    }

    /// The largest record that fits a fresh segment (after a roll).
    fn record_capacity(&self) -> usize {
        self.cfg.segment_bytes as usize - SEGMENT_HEADER_BYTES
    }

    /// Marks the writer failed with `e` (see the module doc) and returns it.
    fn poison(&mut self, e: WalError) -> WalError {
        tracing::error!(error = %e, "log write failed: no further writes will be acknowledged");
        self.probe.on_failure();
        self.poisoned = Some(e.clone());
        e
    }

    /// Records that `index` (of `kind`) was placed in the active segment:
    /// what it supersedes, and where the log now ends.
    fn note_written(&mut self, kind: u16, index: i64) {
        if kind == KIND_RAFT_RESET {
            for m in &mut self.segments {
                m.live_last = None;
            }
            self.last_index = index - 1;
            return;
        }
        if index <= self.last_index {
            // Raft truncation: records at >= index are superseded.
            for m in &mut self.segments {
                if m.live_last.is_some_and(|l| l >= index) {
                    m.live_last = Some(index - 1);
                }
            }
        }
        if let Some(m) = self.segments.back_mut() {
            m.live_last = Some(index);
        }
        self.last_index = index;
    }

    fn append_encoded(&mut self, items: &[Pending]) -> Result<(), WalError> {
        let mut block_start = align_down(self.active.end);
        let mut dirty = false;
        for it in items {
            let body = &it.body;
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
                    first_index: it.index,
                    segment_bytes: self.active.len,
                };
                self.tail[..SEGMENT_HEADER_BYTES].copy_from_slice(&h.encode());
                self.active.header_pending = false;
            }
            let body_bytes = &self.scratch[body.clone()];
            RecordHeader::write_record(
                it.kind,
                it.index,
                it.term,
                body_bytes,
                &mut self.tail[at..],
            );
            self.active.end += need;
            self.note_written(it.kind, it.index);
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
        let started = std::time::Instant::now();
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
        let took = started.elapsed();
        if self.probe.on_durable(took) {
            // ZooKeeper's words, which operators' alerts match.
            tracing::warn!(
                took_ms = took.as_millis() as u64,
                path = %self.active.path.display(),
                "fsync-ing the write ahead log took {} ms which will adversely effect operation latency",
                took.as_millis()
            );
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
            live_last: None,
        });
        self.tail.fill(0);
        self.probe.on_roll(prepared);
        Ok(())
    }

    /// Deletes whole segments (oldest first, never the active one) whose
    /// live records all lie below `zxid` (a raft index in raft mode), e.g.
    /// after a snapshot covering them. Returns how many were deleted; none
    /// once the writer is poisoned.
    pub fn release_below(&mut self, zxid: Zxid) -> Result<usize, WalError> {
        if self.poisoned.is_some() {
            // What is live on disk may differ from what was written last.
            return Ok(0);
        }
        let mut released = 0;
        while self.segments.len() > 1 {
            let oldest = &self.segments[0];
            if oldest.seq == self.active.seq || oldest.live_last.is_some_and(|l| l >= zxid) {
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

    /// The highest zxid known durable; in raft mode the last durable live
    /// index (it goes down when a truncation or reset is durable).
    pub fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    /// The mode the log was opened in.
    pub fn mode(&self) -> LogMode {
        if self.raft.is_some() {
            LogMode::Raft
        } else {
            LogMode::Standalone
        }
    }

    /// Raft mode: the last hard state saved (or recovered).
    pub fn hard_state(&self) -> Option<HardState> {
        self.raft.as_ref().map(|r| r.hard_state.state())
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
