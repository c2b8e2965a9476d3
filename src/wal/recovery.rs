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
//! |   index not increasing, first index != segment header's        |         |                            |
//! | segment header non-zero and invalid, or seq != file name's     | corrupt | refuse to start            |
//! | missing segment seq between two segments                       | corrupt | refuse to start            |
//! | segment with zero header before a segment with records         | corrupt | refuse to start            |
//! | `wal-*.prep` (preparation interrupted)                         | clean   | writer deletes it          |
//! | zero-header segments after the last one with records           | clean   | writer reuses the first    |
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

use super::record::{
    parse_segment_file_name, record_bytes, RecordHeader, RecordHeaderParse, SegmentHeader,
    SegmentHeaderParse, RECORD_ALIGN, RECORD_HEADER_BYTES, RECORD_MAGIC, SEGMENT_HEADER_BYTES,
};
use super::txn_codec::decode_payload;
use super::{LogRecord, WalError};
use crate::io::{LogDevice, SECTOR_BYTES};
use crate::ops::txn::Txn;
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
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentSummary {
    pub seq: u64,
    pub file: PathBuf,
    pub file_len: u64,
    /// From the segment header; `None` for a prepared, never written segment.
    pub segment_bytes: Option<u64>,
    pub first_index: Option<i64>,
    pub last_index: Option<i64>,
    pub records: usize,
    /// Offset just past the last valid record.
    pub end: u64,
}

/// The result of recovering a log directory.
#[derive(Debug)]
pub struct Recovery {
    /// Every valid record, in index order.
    pub records: Vec<LogRecord>,
    /// Index of the last record (0 if the log is empty).
    pub last_zxid: Zxid,
    pub tail: TailReport,
    /// Segments in seq order (data segments, then prepared ones).
    pub segments: Vec<SegmentSummary>,
    /// Where the torn bytes end (exclusive) in the last data segment, if the
    /// tail is torn; the writer zeroes `[end, garbage_end)`.
    pub(crate) garbage_end: Option<u64>,
}

/// A valid record found by a scan.
#[derive(Clone, Debug)]
pub(crate) struct ScannedRecord {
    pub offset: u64,
    pub header: RecordHeader,
    pub time_ms: i64,
    pub txn: Txn,
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
    let mut prev_index = None;
    for seq in seqs {
        let path = dir.join(super::record::segment_file_name(seq));
        let file = device
            .open(&path, false)
            .map_err(|e| WalError::io("open", &path, 0, e))?;
        let bytes = device.read_all(file);
        device.close(file);
        let bytes = bytes.map_err(|e| WalError::io("read", &path, 0, e))?;
        let scan = scan_segment(seq, path, &bytes, prev_index);
        if let Some(r) = scan.records.last() {
            prev_index = Some(r.header.index);
        }
        scans.push(scan);
    }
    Ok(scans)
}

/// Scans one segment's bytes. `prev_index` is the last index of the
/// previous segments (records must increase past it).
pub(crate) fn scan_segment(
    seq: u64,
    path: PathBuf,
    bytes: &[u8],
    prev_index: Option<i64>,
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
    let mut prev = prev_index;
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
        if let Some(p) = prev {
            if h.index <= p {
                scan.stop = fatal(format!("record index {} does not follow {p}", h.index));
                return scan;
            }
        }
        let (time_ms, txn) = match decode_payload(body) {
            Ok(t) => t,
            Err(e) => {
                scan.stop = fatal(format!("record index {} checksum ok but {e}", h.index));
                return scan;
            }
        };
        scan.records.push(ScannedRecord {
            offset: o as u64,
            header: h,
            time_ms,
            txn,
        });
        prev = Some(h.index);
        o += record_bytes(h.body_len as usize);
        scan.end = o.min(bytes.len()) as u64;
    }
    scan
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

/// Recovers `dir` without changing it: every record, and the tail
/// classified by the decision table above. A corrupt log is an error naming
/// file and offset. The writer ([`super::LogWriter::open`]) then zeroes a
/// torn tail.
pub fn recover(dir: &Path, device: &mut dyn LogDevice) -> Result<Recovery, WalError> {
    let scans = scan_dir(dir, device)?;
    classify(scans)
}

pub(crate) fn classify(scans: Vec<SegmentScan>) -> Result<Recovery, WalError> {
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
    let mut records = Vec::new();
    let mut segments = Vec::with_capacity(scans.len());
    for s in scans {
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
            records: s.records.len(),
            end: s.end,
        });
        records.extend(s.records.into_iter().map(|r| LogRecord {
            zxid: r.header.index,
            term: r.header.term,
            time_ms: r.time_ms,
            txn: r.txn,
        }));
    }
    let last_zxid = records.last().map_or(0, |r| r.zxid);
    Ok(Recovery {
        records,
        last_zxid,
        tail,
        segments,
        garbage_end,
    })
}
