//! Recovery: scan a log directory, verify every checksum, classify the tail.
//!
//! # What a crash can leave
//!
//! Segments are pre-zeroed and never reused, every batch is one write of
//! whole blocks followed by one sync, and a reply leaves only after the sync.
//! A crash during a batch can therefore leave, behind the last synced record,
//! any subset of that batch's 512-byte sectors written (devices reorder
//! sectors within a write; each sector is atomic: old or new). Sectors that
//! were not written still hold their old content: zeros, or for the tail
//! block the identical acknowledged prefix. So a torn record always has a
//! sector that is zero from the record's start (within that sector) to the
//! sector's end, or is cut by the end of the file (a truncated file). A
//! record whose sectors are all written but whose checksum fails was not
//! produced by a crash: that is media corruption or a bug.
//!
//! # Decision table
//!
//! Scanning a segment stops at the first offset `o` that is not a valid
//! record. What follows decides:
//!
//! | at `o` (first non-valid record)                                | class   | action                     |
//! |----------------------------------------------------------------|---------|----------------------------|
//! | zero header, only zeros to the end of the segment (or EOF)     | clean   | none                       |
//! | end of file exactly at a record boundary                       | clean   | writer re-zeroes to size   |
//! | zero header, non-zero bytes later but no valid record          | torn    | zero `o..`, keep records   |
//! | record cut by the end of the file (file truncated mid-record)  | torn    | zero `o..`, keep records   |
//! | bad header crc / bad body crc, a sector of it never written    | torn    | zero `o..`, keep records   |
//! | bad header crc / bad body crc, every sector of it written      | corrupt | refuse to start            |
//! | anything above, and a valid record (crc ok) later in the file  | corrupt | refuse to start            |
//! | anything but clean, in a segment followed by one with records  | corrupt | refuse to start            |
//! | crc ok but: bad magic/version/kind, body does not decode,      | corrupt | refuse to start            |
//! |   index out of order (below), first index != segment header's  |         |                            |
//! | crc ok but the record's mode differs from the earlier records' | corrupt | refuse to start            |
//! |   (transactions and raft records mixed)                        |         |                            |
//! | segment header non-zero and invalid, or seq != file name's     | corrupt | refuse to start            |
//! | missing segment seq between two segments                       | corrupt | refuse to start            |
//! | segment with zero header before a segment with records         | corrupt | refuse to start            |
//! | `wal-*.prep` (preparation interrupted)                         | clean   | writer deletes it          |
//! | zero-header segments after the last one with records           | clean   | writer reuses the first    |
//!
//! "Index out of order" depends on the mode ([`super::record`] has the
//! rule): in a standalone log an index not above the previous record's; in
//! a raft log an index of 0, or a raft entry more than one above the
//! previous record's (a gap). A raft record at or below the previous index
//! is not an error: it supersedes the records at and above its index, and
//! recovery returns the live entries only ([`recover_raft`]).
//!
//! A log of one mode opened as the other is refused with
//! [`WalError::WrongMode`] (nothing changed); a standalone open also refuses
//! a directory holding a `hardstate` file (a raft log that has no records
//! yet), and a raft log with records but no `hardstate` is corrupt (the file
//! is created before the first record can be written).
//!
//! Only the last segment holding data can have a torn tail, because the
//! writer writes to a segment only after the previous one's last batch was
//! synced. "Refuse to start" is [`WalError::Corrupt`] naming the file and the
//! offset; nothing is ever truncated in that case.
//!
//! Known ambiguity, resolved towards refusing: a torn write whose later
//! sectors landed while an earlier one did not, and in which some later
//! record happens to be complete, looks exactly like corruption followed by
//! valid data; recovery refuses to start (operator decides) rather than guess.
//! Conversely a bit flip in the last record of the log whose body contains a
//! zero-filled 512-byte sector reads as torn; the truncation is then reported
//! (file, offset, bytes) in [`TailReport`] and in the server log, never silent.
//! A device that tears *inside* a 512-byte sector breaks the model; the
//! damaged record then reads as completely written with a bad checksum and
//! recovery refuses to start (safe, not silent).

use super::hardstate::{HardState, HardStateFile, HARDSTATE_FILE_NAME};
use super::raft::{RaftEntryKind, RaftRecord};
use super::record::{
    decode_raft_body, parse_segment_file_name, record_bytes, LogMode, RecordHeader,
    RecordHeaderParse, SegmentHeader, SegmentHeaderParse, KIND_RAFT, KIND_RAFT_RESET, KIND_TXN,
    RECORD_ALIGN, RECORD_HEADER_BYTES, RECORD_MAGIC, SEGMENT_HEADER_BYTES,
};
use super::{LogRecord, WalError};
use crate::io::{LogDevice, SECTOR_BYTES};
use crate::ops::txn::Txn;
use crate::ops::txn_codec::decode_payload;
use crate::proto::Zxid;
use std::path::{Path, PathBuf};

/// What recovery found at the end of the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailReport {
    /// The log ends cleanly (zeros or end of file after the last record).
    Clean,
    /// A torn tail that was never acknowledged: `bytes` bytes from `offset`
    /// in `file` are not valid records and are zeroed by the writer.
    Truncated {
        file: PathBuf,
        offset: u64,
        bytes: u64,
        reason: String,
    },
}

/// One segment as recovery found it.
/// A value: built by recovery on the log core's executor; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub seq: u64,
    pub file: PathBuf,
    pub file_len: u64,
    /// From the segment header; `None` for a prepared, never written segment.
    pub segment_bytes: Option<u64>,
    /// Indexes of the first and last records in file order.
    pub first_index: Option<i64>,
    pub last_index: Option<i64>,
    /// The highest index of a record of this segment that is still live
    /// (not superseded by a later raft record or reset); `None` if none is.
    /// Equal to `last_index` in a standalone log.
    pub live_last_index: Option<i64>,
    pub records: usize,
    /// Offset just past the last valid record.
    pub end: u64,
}

/// The result of recovering a log directory.
/// A value: made on the log core's executor as the log opens; no executor owns it.
#[derive(Debug)]
pub struct Recovery {
    /// Every valid record, in index order.
    pub records: Vec<LogRecord>,
    /// Index of the last record (0 if the log is empty).
    pub last_zxid: Zxid,
    pub tail: TailReport,
    /// Segments in seq order (data segments, then prepared ones).
    pub segments: Vec<SegmentSummary>,
}

/// The result of recovering a raft log directory ([`recover_raft`],
/// [`super::LogWriter::open_raft`]).
/// A value: made on the log core's executor as the log opens; no executor owns it.
#[derive(Debug)]
pub struct RaftRecovery {
    /// The live entries: contiguous indexes, in order.
    pub entries: Vec<RaftRecord>,
    /// Index of the first live entry; if there is none but the log was
    /// reset, the index it restarts at (the next entry must have it);
    /// `None` for a log never written.
    pub first_index: Option<u64>,
    /// Index of the last live entry (`first_index - 1` if there is none,
    /// 0 for a log never written).
    pub last_index: u64,
    /// The last saved hard state (the default if never saved).
    pub hard_state: HardState,
    pub tail: TailReport,
    /// Segments in seq order (data segments, then prepared ones).
    pub segments: Vec<SegmentSummary>,
}

/// The decoded body of a valid record.
#[derive(Clone, Debug)]
pub(crate) enum Payload {
    Txn {
        time_ms: i64,
        txn: Txn,
    },
    Raft {
        kind: RaftEntryKind,
        data: Vec<u8>,
        context: Vec<u8>,
    },
    RaftReset,
}

/// A valid record found by a scan.
/// A value used by recovery (log core's executor) and `roost log dump`; no executor owns it.
#[derive(Clone, Debug)]
pub(crate) struct ScannedRecord {
    pub offset: u64,
    pub header: RecordHeader,
    pub payload: Payload,
}

/// What the order rule of the next record depends on: the previous
/// record's index (a raft reset at `n` counts as `n - 1`) and the log's mode.
/// A value used by recovery (log core's executor) and `roost log dump`; no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Prev {
    pub index: i64,
    pub mode: LogMode,
}

impl ScannedRecord {
    pub fn as_prev(&self) -> Prev {
        let index = if self.header.kind == KIND_RAFT_RESET {
            self.header.index - 1
        } else {
            self.header.index
        };
        Prev {
            index,
            mode: LogMode::of_kind(self.header.kind),
        }
    }
}

/// Why `h` may not follow `prev`, if it may not (the mode is checked
/// before).
fn order_violation(h: &RecordHeader, prev: Option<Prev>) -> Option<String> {
    if h.kind == KIND_TXN {
        let p = prev?.index;
        return (h.index <= p).then(|| format!("record index {} does not follow {p}", h.index));
    }
    if h.index < 1 {
        return Some(format!("raft record index {} is below 1", h.index));
    }
    let p = prev?.index;
    // `h.index - 1` cannot overflow (>= 0 here); `p + 1` could.
    (h.kind == KIND_RAFT && h.index - 1 > p).then(|| {
        format!(
            "raft record index {} after {p}: a gap (raft records go at most one above the previous)",
            h.index
        )
    })
}

/// The reason a record of `found` mode after records of `log` mode is
/// corrupt.
fn mixed_modes(h: &RecordHeader, found: LogMode, log: LogMode) -> String {
    let what = match found {
        LogMode::Standalone => "a standalone transaction",
        LogMode::Raft => "a raft record",
    };
    format!(
        "record index {} is {what} (kind {}), but this log was written by {log} \
         (its earlier records are of the other kind): a log mixing both is corrupt",
        h.index, h.kind
    )
}

/// Why a scan stopped before the end of the segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Problem {
    /// A zero header followed by non-zero bytes.
    ZeroThenGarbage,
    /// A record running past the end of the file.
    Cut,
    /// A header whose checksum fails.
    BadHeader,
    /// A body whose checksum fails.
    BadBody,
    /// Checksums fine but the content is wrong: always corrupt.
    Fatal,
}

#[derive(Clone, Debug)]
pub(crate) enum Stop {
    /// Only zeros (or the end of the file) after `end`.
    Clean,
    Invalid {
        problem: Problem,
        reason: String,
        /// Offset just past the last non-zero byte at or after `end`.
        garbage_end: u64,
        /// Some sector of the bad record was never written.
        torn_evidence: bool,
        /// Offset of a valid record after the bad one, if any.
        valid_after: Option<u64>,
    },
}

/// One segment file, scanned.
/// A value used by recovery (log core's executor) and `roost log dump`; no executor owns it.
#[derive(Clone, Debug)]
pub(crate) struct SegmentScan {
    pub seq: u64,
    pub path: PathBuf,
    pub file_len: u64,
    pub header: SegmentHeaderParse,
    pub records: Vec<ScannedRecord>,
    /// Offset just past the last valid record.
    pub end: u64,
    pub stop: Stop,
}

impl SegmentScan {
    /// Never written: zero header, no records, nothing after.
    pub fn is_empty(&self) -> bool {
        self.header == SegmentHeaderParse::Zero
            && self.records.is_empty()
            && matches!(self.stop, Stop::Clean)
    }

    /// How this segment's stop is classified if it is the last data segment:
    /// `Ok(None)` clean, `Ok(Some(reason))` torn, `Err` corrupt.
    pub fn classify_tail(&self) -> Result<Option<String>, WalError> {
        let Stop::Invalid {
            problem,
            reason,
            torn_evidence,
            valid_after,
            ..
        } = &self.stop
        else {
            return Ok(None);
        };
        let corrupt = |reason: String| WalError::Corrupt {
            file: self.path.clone(),
            offset: self.end,
            reason,
        };
        if let Some(p) = valid_after {
            return Err(corrupt(format!(
                "{reason}, but a valid record follows at offset {p}: acknowledged data is damaged"
            )));
        }
        match problem {
            Problem::Fatal => Err(corrupt(reason.clone())),
            Problem::ZeroThenGarbage | Problem::Cut => Ok(Some(reason.clone())),
            Problem::BadHeader | Problem::BadBody if *torn_evidence => Ok(Some(reason.clone())),
            Problem::BadHeader | Problem::BadBody => Err(corrupt(format!(
                "{reason}, and the record was completely written (not a torn write)"
            ))),
        }
    }
}

/// Reads and scans every segment of `dir`, in seq order. `.prep` files and
/// other names are ignored.
pub(crate) fn scan_dir(
    dir: &Path,
    device: &mut dyn LogDevice,
) -> Result<Vec<SegmentScan>, WalError> {
    let names = device
        .list(dir)
        .map_err(|e| WalError::io("list", dir, 0, e))?;
    let mut seqs: Vec<u64> = names
        .iter()
        .filter_map(|n| parse_segment_file_name(n))
        .collect();
    seqs.sort_unstable();
    let mut scans = Vec::with_capacity(seqs.len());
    let mut prev = None;
    for seq in seqs {
        let path = dir.join(super::record::segment_file_name(seq));
        let file = device
            .open(&path, false)
            .map_err(|e| WalError::io("open", &path, 0, e))?;
        let bytes = device.read_all(file);
        device.close(file);
        let bytes = bytes.map_err(|e| WalError::io("read", &path, 0, e))?;
        let scan = scan_segment(seq, path, &bytes, prev);
        if let Some(r) = scan.records.last() {
            prev = Some(r.as_prev());
        }
        scans.push(scan);
    }
    Ok(scans)
}

/// Scans one segment's bytes. `prev` is what the last record of the
/// previous segments says about the order of the next one (see [`Prev`]).
pub(crate) fn scan_segment(
    seq: u64,
    path: PathBuf,
    bytes: &[u8],
    prev: Option<Prev>,
) -> SegmentScan {
    let file_len = bytes.len() as u64;
    let header = SegmentHeader::parse(bytes);
    let mut scan = SegmentScan {
        seq,
        path,
        file_len,
        header: header.clone(),
        records: Vec::new(),
        end: 0,
        stop: Stop::Clean,
    };
    match &header {
        SegmentHeaderParse::Bad(reason) => {
            scan.stop = invalid(bytes, 0, Problem::Fatal, reason.clone(), 0);
            return scan;
        }
        SegmentHeaderParse::Valid(h) if h.seq != seq => {
            let reason = format!(
                "segment header says seq {} but the file name says {seq}",
                h.seq
            );
            scan.stop = invalid(bytes, 0, Problem::Fatal, reason, 0);
            return scan;
        }
        _ => {}
    }
    let mut o = SEGMENT_HEADER_BYTES.min(bytes.len());
    scan.end = o as u64;
    let mut prev = prev;
    while o < bytes.len() {
        let h = match RecordHeader::parse(&bytes[o..]) {
            RecordHeaderParse::Zero => {
                scan.stop = if bytes[o..].iter().all(|&b| b == 0) {
                    Stop::Clean
                } else {
                    let reason = "zero record header followed by non-zero bytes".to_string();
                    invalid(bytes, o, Problem::ZeroThenGarbage, reason, o)
                };
                return scan;
            }
            RecordHeaderParse::Bad(reason) => {
                let problem = if o + RECORD_HEADER_BYTES > bytes.len() {
                    Problem::Cut
                } else if reason.contains("checksum") {
                    Problem::BadHeader
                } else {
                    Problem::Fatal
                };
                let extent = (o + RECORD_HEADER_BYTES).min(bytes.len());
                scan.stop = invalid(bytes, o, problem, reason, extent);
                return scan;
            }
            RecordHeaderParse::Valid(h) => h,
        };
        let body_start = o + RECORD_HEADER_BYTES;
        let body_end = body_start + h.body_len as usize;
        if body_end > bytes.len() {
            let reason = format!(
                "record of {} body bytes runs past the end of the file ({file_len} bytes)",
                h.body_len
            );
            scan.stop = invalid(bytes, o, Problem::Cut, reason, bytes.len());
            return scan;
        }
        let body = &bytes[body_start..body_end];
        if !h.body_ok(&bytes[o..body_start], body) {
            let extent = (o + record_bytes(h.body_len as usize)).min(bytes.len());
            let reason = format!("record index {} fails its checksum", h.index);
            scan.stop = invalid(bytes, o, Problem::BadBody, reason, extent);
            return scan;
        }
        let fatal = |reason: String| invalid(bytes, o, Problem::Fatal, reason, o);
        if header == SegmentHeaderParse::Zero {
            scan.stop = fatal("valid record in a segment whose header is zero".into());
            return scan;
        }
        if let SegmentHeaderParse::Valid(sh) = &header {
            if scan.records.is_empty() && sh.first_index != h.index {
                scan.stop = fatal(format!(
                    "first record has index {} but the segment header says {}",
                    h.index, sh.first_index
                ));
                return scan;
            }
        }
        let mode = LogMode::of_kind(h.kind);
        if let Some(p) = prev.filter(|p| p.mode != mode) {
            scan.stop = fatal(mixed_modes(&h, mode, p.mode));
            return scan;
        }
        if let Some(reason) = order_violation(&h, prev) {
            scan.stop = fatal(reason);
            return scan;
        }
        let payload = match decode_body(&h, body) {
            Ok(p) => p,
            Err(e) => {
                scan.stop = fatal(format!("record index {} checksum ok but {e}", h.index));
                return scan;
            }
        };
        let record = ScannedRecord {
            offset: o as u64,
            header: h,
            payload,
        };
        prev = Some(record.as_prev());
        scan.records.push(record);
        o += record_bytes(h.body_len as usize);
        scan.end = o.min(bytes.len()) as u64;
    }
    scan
}

/// Decodes the body of a record whose checksums matched.
fn decode_body(h: &RecordHeader, body: &[u8]) -> Result<Payload, String> {
    match h.kind {
        KIND_TXN => decode_payload(body)
            .map(|(time_ms, txn)| Payload::Txn { time_ms, txn })
            .map_err(|e| e.to_string()),
        KIND_RAFT => decode_raft_body(body).map(|(kind, data, context)| Payload::Raft {
            kind,
            data,
            context,
        }),
        KIND_RAFT_RESET if body.is_empty() => Ok(Payload::RaftReset),
        KIND_RAFT_RESET => Err(format!("raft reset with a body of {} bytes", body.len())),
        k => unreachable!("record kind {k} passed header parsing"),
    }
}

/// Builds the `Invalid` stop for a bad record at `o` whose bytes end at
/// `extent_end` (exclusive; only used for torn evidence).
fn invalid(bytes: &[u8], o: usize, problem: Problem, reason: String, extent_end: usize) -> Stop {
    let garbage_end = bytes
        .iter()
        .rposition(|&b| b != 0)
        .map_or(o, |p| (p + 1).max(o));
    Stop::Invalid {
        problem,
        reason,
        garbage_end: garbage_end as u64,
        torn_evidence: has_unwritten_sector(bytes, o, extent_end),
        valid_after: find_valid_record(bytes, o + RECORD_ALIGN),
    }
}

/// True if some sector overlapping `[o, end)` is zero from `max(o, sector
/// start)` to the sector's end (or the end of the file): a sector that the
/// interrupted write never reached.
fn has_unwritten_sector(bytes: &[u8], o: usize, end: usize) -> bool {
    let mut s = o - o % SECTOR_BYTES;
    while s < end {
        let from = o.max(s);
        let to = (s + SECTOR_BYTES).min(bytes.len());
        if from < to && bytes[from..to].iter().all(|&b| b == 0) {
            return true;
        }
        s += SECTOR_BYTES;
    }
    false
}

/// The first offset at or after `from` (8-aligned, past the segment header)
/// holding a complete record whose checksums match.
pub(crate) fn find_valid_record(bytes: &[u8], from: usize) -> Option<u64> {
    let mut p = from
        .next_multiple_of(RECORD_ALIGN)
        .max(SEGMENT_HEADER_BYTES);
    let magic = RECORD_MAGIC.to_le_bytes();
    while p + RECORD_HEADER_BYTES <= bytes.len() {
        if bytes[p..p + 4] == magic {
            if let RecordHeaderParse::Valid(h) = RecordHeader::parse(&bytes[p..]) {
                let body_start = p + RECORD_HEADER_BYTES;
                let body_end = body_start + h.body_len as usize;
                if body_end <= bytes.len()
                    && h.body_ok(&bytes[p..body_start], &bytes[body_start..body_end])
                {
                    return Some(p as u64);
                }
            }
        }
        p += RECORD_ALIGN;
    }
    None
}

/// Recovers a standalone log in `dir` without changing it: every record,
/// and the tail classified by the decision table above. A corrupt log is an
/// error naming file and offset, a raft log [`WalError::WrongMode`]. The
/// writer ([`super::LogWriter::open`]) then zeroes a torn tail.
pub fn recover(dir: &Path, device: &mut dyn LogDevice) -> Result<Recovery, WalError> {
    Ok(recover_mode(dir, device, LogMode::Standalone)?.into_recovery())
}

/// Recovers a raft log in `dir` without changing it: the live entries (see
/// [`super::raft`] for the truncation rule), the hard state, and the tail
/// classified by the decision table above. A standalone log is
/// [`WalError::WrongMode`]. The writer ([`super::LogWriter::open_raft`])
/// then zeroes a torn tail.
pub fn recover_raft(dir: &Path, device: &mut dyn LogDevice) -> Result<RaftRecovery, WalError> {
    let c = recover_mode(dir, device, LogMode::Raft)?;
    let hard_state = check_hard_state(dir, device, &c)?;
    Ok(c.into_raft(hard_state.unwrap_or_default()))
}

/// Loads the hard state of a raft log (`None` if there is no file yet),
/// refusing a log with records but no hard state file: the file is created
/// (and synced) before the first record can be written, so it was lost.
pub(crate) fn check_hard_state(
    dir: &Path,
    device: &mut dyn LogDevice,
    c: &Classified,
) -> Result<Option<HardState>, WalError> {
    let hard_state = HardStateFile::load(dir, device)?;
    if hard_state.is_none() && !matches!(c.content, Content::Empty) {
        return Err(WalError::Corrupt {
            file: dir.join(HARDSTATE_FILE_NAME),
            offset: 0,
            reason: "missing, but the log holds raft records (it is created before the first)"
                .into(),
        });
    }
    Ok(hard_state)
}

/// What a log directory holds, mode-independent: the checked scans.
/// A value used by recovery (log core's executor) and `roost log dump`; no executor owns it.
#[derive(Debug)]
pub(crate) struct Classified {
    pub tail: TailReport,
    pub segments: Vec<SegmentSummary>,
    /// Where the torn bytes end (exclusive) in the last data segment, if the
    /// tail is torn; the writer zeroes `[end, garbage_end)`.
    pub garbage_end: Option<u64>,
    pub content: Content,
}

/// The records of a log, by mode.
#[derive(Debug)]
pub(crate) enum Content {
    /// No record at all: either mode may open it.
    Empty,
    Txn {
        records: Vec<LogRecord>,
        /// The segment holding the first record (for error messages).
        first_file: PathBuf,
    },
    Raft {
        /// The live entries.
        entries: Vec<RaftRecord>,
        /// See [`RaftRecovery::first_index`].
        first_index: Option<u64>,
        first_file: PathBuf,
    },
}

impl Classified {
    /// The mode of the log, if it holds records, and the segment holding
    /// the first of them.
    pub fn mode(&self) -> Option<(LogMode, &Path)> {
        match &self.content {
            Content::Empty => None,
            Content::Txn { first_file, .. } => Some((LogMode::Standalone, first_file)),
            Content::Raft { first_file, .. } => Some((LogMode::Raft, first_file)),
        }
    }

    /// The index a writer continues after: the last txn's zxid, or the last
    /// live raft index (a reset's index - 1 if nothing is live).
    pub fn last_index(&self) -> i64 {
        match &self.content {
            Content::Empty => 0,
            Content::Txn { records, .. } => records.last().map_or(0, |r| r.zxid),
            Content::Raft {
                entries,
                first_index,
                ..
            } => entries.last().map_or_else(
                || first_index.map_or(0, |f| f as i64 - 1),
                |e| e.index as i64,
            ),
        }
    }

    pub fn into_recovery(self) -> Recovery {
        let last_zxid = self.last_index();
        let records = match self.content {
            Content::Empty => Vec::new(),
            Content::Txn { records, .. } => records,
            Content::Raft { .. } => unreachable!("recover_mode checked the mode"),
        };
        Recovery {
            records,
            last_zxid,
            tail: self.tail,
            segments: self.segments,
        }
    }

    pub fn into_raft(self, hard_state: HardState) -> RaftRecovery {
        let last_index = self.last_index() as u64;
        let (entries, first_index) = match self.content {
            Content::Empty => (Vec::new(), None),
            Content::Raft {
                entries,
                first_index,
                ..
            } => (entries, first_index),
            Content::Txn { .. } => unreachable!("recover_mode checked the mode"),
        };
        RaftRecovery {
            entries,
            first_index,
            last_index,
            hard_state,
            tail: self.tail,
            segments: self.segments,
        }
    }
}

/// Scans and classifies `dir`, refusing a log of the other mode (checked
/// first where it can be: a raft log with damage is reported as a raft log
/// to a standalone server, not as damage).
pub(crate) fn recover_mode(
    dir: &Path,
    device: &mut dyn LogDevice,
    mode: LogMode,
) -> Result<Classified, WalError> {
    if mode == LogMode::Standalone {
        let names = device
            .list(dir)
            .map_err(|e| WalError::io("list", dir, 0, e))?;
        if names.iter().any(|n| n == HARDSTATE_FILE_NAME) {
            return Err(WalError::WrongMode {
                file: dir.join(HARDSTATE_FILE_NAME),
                found: LogMode::Raft,
                opened_as: mode,
            });
        }
    }
    let c = classify(scan_dir(dir, device)?)?;
    if let Some((found, file)) = c.mode() {
        if found != mode {
            return Err(WalError::WrongMode {
                file: file.to_owned(),
                found,
                opened_as: mode,
            });
        }
    }
    Ok(c)
}

pub(crate) fn classify(scans: Vec<SegmentScan>) -> Result<Classified, WalError> {
    for pair in scans.windows(2) {
        if pair[1].seq != pair[0].seq + 1 {
            return Err(WalError::Corrupt {
                file: pair[1].path.clone(),
                offset: 0,
                reason: format!(
                    "segment seq gap: {} follows {} (a segment is missing)",
                    pair[1].seq, pair[0].seq
                ),
            });
        }
    }
    let last_data = scans.iter().rposition(|s| !s.is_empty());
    let mut tail = TailReport::Clean;
    let mut garbage_end = None;
    for (i, s) in scans.iter().enumerate() {
        let Some(last) = last_data else { break };
        if i > last {
            break;
        }
        if i < last {
            if s.is_empty() {
                return Err(WalError::Corrupt {
                    file: s.path.clone(),
                    offset: 0,
                    reason: "never-written segment before segments holding records".into(),
                });
            }
            if let Stop::Invalid { reason, .. } = &s.stop {
                return Err(WalError::Corrupt {
                    file: s.path.clone(),
                    offset: s.end,
                    reason: format!("{reason}, in a segment followed by later segments"),
                });
            }
            continue;
        }
        if let Some(reason) = s.classify_tail()? {
            let Stop::Invalid { garbage_end: g, .. } = &s.stop else {
                unreachable!("torn tail without an invalid stop")
            };
            let g = (*g).max(s.end);
            tail = TailReport::Truncated {
                file: s.path.clone(),
                offset: s.end,
                bytes: g - s.end,
                reason,
            };
            garbage_end = Some(g);
        }
    }
    let mut segments = Vec::with_capacity(scans.len());
    let mut txns = Vec::new();
    // Raft: the live entries, and the segment (index into `segments`) of each.
    let mut entries: Vec<RaftRecord> = Vec::new();
    let mut entry_segments: Vec<usize> = Vec::new();
    let mut reset = None;
    let mut first_record: Option<(LogMode, PathBuf)> = None;
    for (k, s) in scans.into_iter().enumerate() {
        if first_record.is_none() {
            if let Some(r) = s.records.first() {
                first_record = Some((LogMode::of_kind(r.header.kind), s.path.clone()));
            }
        }
        segments.push(SegmentSummary {
            seq: s.seq,
            file: s.path,
            file_len: s.file_len,
            segment_bytes: match s.header {
                SegmentHeaderParse::Valid(h) => Some(h.segment_bytes),
                _ => None,
            },
            first_index: s.records.first().map(|r| r.header.index),
            last_index: s.records.last().map(|r| r.header.index),
            // Raft segments get theirs below, once superseding is known.
            live_last_index: s
                .records
                .last()
                .filter(|r| r.header.kind == KIND_TXN)
                .map(|r| r.header.index),
            records: s.records.len(),
            end: s.end,
        });
        for r in s.records {
            let (index, term) = (r.header.index, r.header.term);
            match r.payload {
                Payload::Txn { time_ms, txn } => txns.push(LogRecord {
                    zxid: index,
                    term,
                    time_ms,
                    txn,
                }),
                Payload::Raft {
                    kind,
                    data,
                    context,
                } => {
                    // Scanning checked 1 <= index <= previous + 1; this
                    // record supersedes every live entry at or above it.
                    let index = index as u64;
                    if let Some(first) = entries.first().map(|e| e.index) {
                        let keep = index.saturating_sub(first) as usize;
                        entries.truncate(keep);
                        entry_segments.truncate(keep);
                    }
                    assert!(
                        entries.last().is_none_or(|l| l.index + 1 == index),
                        "raft entry {index} does not continue the live entries"
                    );
                    entries.push(RaftRecord {
                        index,
                        term: term as u64,
                        kind,
                        data,
                        context,
                    });
                    entry_segments.push(k);
                }
                Payload::RaftReset => {
                    entries.clear();
                    entry_segments.clear();
                    reset = Some(index as u64);
                }
            }
        }
    }
    // Entries are in segment order, so each segment's last live entry is
    // its highest.
    for (e, &k) in entries.iter().zip(&entry_segments) {
        segments[k].live_last_index = Some(e.index as i64);
    }
    let content = match first_record {
        None => Content::Empty,
        Some((LogMode::Standalone, first_file)) => Content::Txn {
            records: txns,
            first_file,
        },
        Some((LogMode::Raft, first_file)) => Content::Raft {
            first_index: entries.first().map(|e| e.index).or(reset),
            entries,
            first_file,
        },
    };
    Ok(Classified {
        tail,
        segments,
        garbage_end,
        content,
    })
}
