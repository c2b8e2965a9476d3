//! The on-disk format of the log. This module is the only code that knows
//! it; this doc is its specification.
//!
//! # Directory
//!
//! A log directory holds segment files `wal-<seq>.log`, `<seq>` a 20-digit
//! zero-padded decimal sequence number, consecutive with no gaps (the oldest
//! may have been released after a snapshot). `wal-<seq>.prep` is a segment
//! being preallocated; it is renamed to `.log` only once fully zero-filled and
//! synced, so a crash during preparation leaves a `.prep` that recovery
//! deletes. In raft mode the directory also holds `hardstate`
//! ([`super::hardstate`]), owned by the log core; its presence marks the
//! directory as a raft log. Other files (snapshots) are not the log's.
//!
//! # Segment
//!
//! Every segment is preallocated to its full size and zero-filled before its
//! first use, so a commit only overwrites blocks (no metadata in fdatasync),
//! and so that bytes never written read as zero: that is what lets recovery
//! tell "end of log" from "torn" from "corrupt".
//!
//! Offset 0, [`SEGMENT_HEADER_BYTES`] = 64, all little-endian:
//!
//! | off | size | field                                               |
//! |-----|------|-----------------------------------------------------|
//! | 0   | 8    | magic `b"ROOSTWAL"`                                  |
//! | 8   | 4    | format version, [`FORMAT_VERSION`] = 1               |
//! | 12  | 4    | reserved, 0                                          |
//! | 16  | 8    | seq (equals the file name's)                         |
//! | 24  | 8    | first_index: index of the segment's first record     |
//! | 32  | 8    | segment_bytes: the preallocated size                 |
//! | 40  | 20   | reserved, 0                                          |
//! | 60  | 4    | crc32c of bytes 0..60                                |
//!
//! A segment header of 64 zero bytes means "prepared, never written". The
//! header is written together with the segment's first batch (it lies in the
//! first block), so a segment with a zero header has no records.
//!
//! # Record
//!
//! Records follow the segment header back to back, each starting at an
//! 8-byte aligned offset; a record may span 4 KiB blocks. Header,
//! [`RECORD_HEADER_BYTES`] = 40:
//!
//! | off | size | field                                                |
//! |-----|------|------------------------------------------------------|
//! | 0   | 4    | magic, [`RECORD_MAGIC`] (`b"RREC"` read as u32 LE)    |
//! | 4   | 2    | record format version, [`FORMAT_VERSION`] = 1         |
//! | 6   | 2    | kind: [`KIND_TXN`] = 1, [`KIND_RAFT`] = 2,            |
//! |     |      | [`KIND_RAFT_RESET`] = 3                               |
//! | 8   | 4    | body_len in bytes, <= [`RECORD_BODY_BYTES_MAX`]       |
//! | 12  | 4    | reserved, 0                                           |
//! | 16  | 8    | index (i64): the zxid (txn), the raft index (raft)    |
//! | 24  | 8    | term (i64); 0 for [`KIND_RAFT_RESET`]                 |
//! | 32  | 4    | crc: crc32c of header bytes 0..32, then the body      |
//! | 36  | 4    | header_crc: crc32c of header bytes 0..36              |
//!
//! then `body_len` bytes of body, then zero padding to the next multiple
//! of 8 ([`record_bytes`]). The body depends on the kind:
//!
//! - [`KIND_TXN`]: an encoded transaction, see [`crate::ops::txn_codec`];
//! - [`KIND_RAFT`]: a raft entry ([`RAFT_BODY_PREFIX_BYTES`] = 12, then the
//!   bytes; `body_len` = 12 + data_len + context_len, <=
//!   [`RECORD_BODY_BYTES_MAX`]):
//!
//!   | off         | size        | field                                   |
//!   |-------------|-------------|-----------------------------------------|
//!   | 0           | 1           | entry type: 0 Normal, 1 ConfChange,     |
//!   |             |             | 2 ConfChangeV2 (raft's `EntryType`)     |
//!   | 1           | 3           | reserved, 0                             |
//!   | 4           | 4           | data_len (u32)                          |
//!   | 8           | 4           | context_len (u32)                       |
//!   | 12          | data_len    | data                                    |
//!   | 12+data_len | context_len | context                                 |
//!
//! - [`KIND_RAFT_RESET`]: empty body. The raft log restarts at `index`
//!   (after a snapshot covering `index - 1` was installed): every earlier
//!   record is superseded.
//!
//! `crc` covers the header (without the crcs) and the body, as the issue
//! asks. `header_crc` additionally covers `crc`, so a header can be trusted
//! (its length used to find the body) before the body is read: a bit flip in
//! body_len is then reported as a bad header, not misread as a record that
//! runs into zeros (which would look torn).
//!
//! A header of 40 zero bytes is "no record here": the end of the written log.
//!
//! # Modes and index order
//!
//! A log holds either only [`KIND_TXN`] records (a standalone server) or
//! only [`KIND_RAFT`] / [`KIND_RAFT_RESET`] records (a member of a
//! replicated ensemble); a log mixing both is corrupt. Index order, through
//! the log and across segments, in file order:
//!
//! - standalone: indexes strictly increase;
//! - raft: every index is >= 1, and a [`KIND_RAFT`] record's index is at
//!   most the previous record's index + 1 (a [`KIND_RAFT_RESET`] at `n`
//!   counts as `n - 1`): no gaps, but a record may go back. A record with
//!   index `i` supersedes every earlier record with index `>= i` (raft
//!   replacing an uncommitted tail), a reset supersedes every earlier
//!   record, so the live (not superseded) entries are contiguous.
//!
//! These rules relate each record to the one before it in the log; the
//! first record (older segments may have been released) has none before it.
//!
//! # Writing
//!
//! The writer keeps the last, partially filled 4 KiB block in memory,
//! appends a batch's records behind it and writes the whole dirty range of
//! blocks (O_DIRECT needs whole aligned blocks) with one write. That
//! rewrites the acknowledged prefix of the tail block with identical bytes;
//! with sector-atomic devices a crash leaves each sector old or new, and
//! both hold the same acknowledged prefix. How recovery classifies what a
//! crash can leave is in [`super::recovery`].

use super::raft::{RaftEntryKind, RaftRecord};
use crate::ops::txn::Txn;
use crate::proto::Zxid;

/// Segment format and record format version.
pub const FORMAT_VERSION: u32 = 1;
/// Magic at the start of every segment.
pub const SEGMENT_MAGIC: [u8; 8] = *b"ROOSTWAL";
/// Bytes of the segment header at offset 0.
pub const SEGMENT_HEADER_BYTES: usize = 64;
/// Magic at the start of every record.
pub const RECORD_MAGIC: u32 = u32::from_le_bytes(*b"RREC");
/// Bytes of a record header.
pub const RECORD_HEADER_BYTES: usize = 40;
/// Record kind: a logged transaction (standalone mode).
pub const KIND_TXN: u16 = 1;
/// Record kind: a raft entry (raft mode).
pub const KIND_RAFT: u16 = 2;
/// Record kind: the raft log restarts at this record's index (raft mode).
pub const KIND_RAFT_RESET: u16 = 3;
/// Bytes of a [`KIND_RAFT`] body before data and context.
pub const RAFT_BODY_PREFIX_BYTES: usize = 12;
/// Records start at multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// Largest record body. ZooKeeper's jute.maxbuffer defaults to 1 MiB for a
/// whole request; 16 MiB leaves room for multis and raised limits.
pub const RECORD_BODY_BYTES_MAX: usize = 16 << 20;

/// One entry of the log, as appended and as recovered.
/// A value: sent from the consensus executor to the log core, or recovered; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    pub zxid: Zxid,
    pub term: i64,
    /// Wall-clock time of the transaction (ctime/mtime), in ms.
    pub time_ms: i64,
    pub txn: Txn,
}

/// Which kind of server wrote a log: decided by its records' kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogMode {
    /// [`KIND_TXN`] records, written by a standalone server.
    Standalone,
    /// [`KIND_RAFT`] and [`KIND_RAFT_RESET`] records, written by a member of
    /// a replicated ensemble.
    Raft,
}

impl LogMode {
    /// The mode a record kind belongs to (`kind` is one [`RecordHeader::parse`]
    /// accepts).
    pub fn of_kind(kind: u16) -> LogMode {
        if kind == KIND_TXN {
            LogMode::Standalone
        } else {
            LogMode::Raft
        }
    }
}

impl std::fmt::Display for LogMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LogMode::Standalone => "a standalone server",
            LogMode::Raft => "a replicated (raft) member",
        })
    }
}

/// Appends the [`KIND_RAFT`] body of an entry to `out`. The caller checks
/// the size against [`RECORD_BODY_BYTES_MAX`].
pub fn encode_raft_body(r: &RaftRecord, out: &mut Vec<u8>) {
    let data_len = u32::try_from(r.data.len()).expect("raft entry data over 4 GiB");
    let context_len = u32::try_from(r.context.len()).expect("raft entry context over 4 GiB");
    out.push(r.kind as u8);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend_from_slice(&context_len.to_le_bytes());
    out.extend_from_slice(&r.data);
    out.extend_from_slice(&r.context);
}

/// The body size [`encode_raft_body`] produces.
pub fn raft_body_bytes(r: &RaftRecord) -> usize {
    RAFT_BODY_PREFIX_BYTES + r.data.len() + r.context.len()
}

/// Decodes a [`KIND_RAFT`] body into (kind, data, context); the error says
/// what is wrong.
pub fn decode_raft_body(body: &[u8]) -> Result<(RaftEntryKind, Vec<u8>, Vec<u8>), String> {
    if body.len() < RAFT_BODY_PREFIX_BYTES {
        return Err(format!(
            "raft entry body of {} bytes is too short",
            body.len()
        ));
    }
    let kind = RaftEntryKind::from_u8(body[0])
        .ok_or_else(|| format!("unknown raft entry type {}", body[0]))?;
    if body[1..4] != [0; 3] {
        return Err("raft entry reserved bytes are not zero".into());
    }
    let data_len = u32_at(body, 4) as usize;
    let context_len = u32_at(body, 8) as usize;
    if RAFT_BODY_PREFIX_BYTES + data_len + context_len != body.len() {
        return Err(format!(
            "raft entry lengths {data_len} + {context_len} do not match its body of {} bytes",
            body.len()
        ));
    }
    let data_end = RAFT_BODY_PREFIX_BYTES + data_len;
    Ok((
        kind,
        body[RAFT_BODY_PREFIX_BYTES..data_end].to_vec(),
        body[data_end..].to_vec(),
    ))
}

/// The file name of segment `seq`.
pub fn segment_file_name(seq: u64) -> String {
    format!("wal-{seq:020}.log")
}

/// The file name of segment `seq` while it is being prepared.
pub fn prep_file_name(seq: u64) -> String {
    format!("wal-{seq:020}.prep")
}

/// `Some(seq)` for a segment (`.log`) file name.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    parse_name(name, ".log")
}

/// `Some(seq)` for a preparing (`.prep`) file name.
pub fn parse_prep_file_name(name: &str) -> Option<u64> {
    parse_name(name, ".prep")
}

fn parse_name(name: &str, ext: &str) -> Option<u64> {
    let digits = name.strip_prefix("wal-")?.strip_suffix(ext)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Bytes a record with a body of `body_len` occupies, padding included.
pub fn record_bytes(body_len: usize) -> usize {
    RECORD_HEADER_BYTES + body_len.next_multiple_of(RECORD_ALIGN)
}

/// A decoded segment header.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes,
/// recovers or dumps the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    pub seq: u64,
    pub first_index: i64,
    pub segment_bytes: u64,
}

/// What the first [`SEGMENT_HEADER_BYTES`] of a segment hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SegmentHeaderParse {
    /// All zero: prepared, never written.
    Zero,
    Valid(SegmentHeader),
    /// Non-zero and not a valid header.
    Bad(String),
}

impl SegmentHeader {
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_BYTES] {
        let mut h = [0u8; SEGMENT_HEADER_BYTES];
        h[0..8].copy_from_slice(&SEGMENT_MAGIC);
        h[8..12].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
        h[16..24].copy_from_slice(&self.seq.to_le_bytes());
        h[24..32].copy_from_slice(&self.first_index.to_le_bytes());
        h[32..40].copy_from_slice(&self.segment_bytes.to_le_bytes());
        let crc = crc32c::crc32c(&h[0..60]);
        h[60..64].copy_from_slice(&crc.to_le_bytes());
        h
    }

    /// Parses the start of a segment file (`bytes` may be shorter than a
    /// header if the file was cut).
    pub fn parse(bytes: &[u8]) -> SegmentHeaderParse {
        let h = &bytes[..bytes.len().min(SEGMENT_HEADER_BYTES)];
        if h.iter().all(|&b| b == 0) {
            return SegmentHeaderParse::Zero;
        }
        if h.len() < SEGMENT_HEADER_BYTES {
            return SegmentHeaderParse::Bad(format!("segment header cut at {} bytes", h.len()));
        }
        if h[0..8] != SEGMENT_MAGIC {
            return SegmentHeaderParse::Bad("bad segment magic".into());
        }
        let crc = u32_at(h, 60);
        if crc != crc32c::crc32c(&h[0..60]) {
            return SegmentHeaderParse::Bad("segment header checksum mismatch".into());
        }
        let version = u32_at(h, 8);
        if version != FORMAT_VERSION {
            return SegmentHeaderParse::Bad(format!("unknown segment format version {version}"));
        }
        SegmentHeaderParse::Valid(SegmentHeader {
            seq: u64_at(h, 16),
            first_index: u64_at(h, 24) as i64,
            segment_bytes: u64_at(h, 32),
        })
    }
}

/// A decoded record header whose `header_crc` matched.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes,
/// recovers or dumps the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHeader {
    pub kind: u16,
    pub body_len: u32,
    pub index: i64,
    pub term: i64,
    pub crc: u32,
}

/// What [`RECORD_HEADER_BYTES`] at a record offset hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordHeaderParse {
    /// All zero: the end of the written log (if nothing follows).
    Zero,
    Valid(RecordHeader),
    /// Not a trustworthy header; the reason says why.
    Bad(String),
}

impl RecordHeader {
    /// Writes header + body + zero padding at the start of `out`, which must
    /// hold [`record_bytes`]`(body.len())` bytes; returns that size.
    pub fn write_record(kind: u16, index: i64, term: i64, body: &[u8], out: &mut [u8]) -> usize {
        assert!(body.len() <= RECORD_BODY_BYTES_MAX, "record body too large");
        assert!(
            matches!(kind, KIND_TXN | KIND_RAFT | KIND_RAFT_RESET),
            "unknown record kind {kind}"
        );
        let total = record_bytes(body.len());
        assert!(out.len() >= total, "record buffer too small");
        let (h, rest) = out.split_at_mut(RECORD_HEADER_BYTES);
        h[0..4].copy_from_slice(&RECORD_MAGIC.to_le_bytes());
        h[4..6].copy_from_slice(&(FORMAT_VERSION as u16).to_le_bytes());
        h[6..8].copy_from_slice(&kind.to_le_bytes());
        h[8..12].copy_from_slice(&(body.len() as u32).to_le_bytes());
        h[12..16].fill(0);
        h[16..24].copy_from_slice(&index.to_le_bytes());
        h[24..32].copy_from_slice(&term.to_le_bytes());
        let crc = crc32c::crc32c_append(crc32c::crc32c(&h[0..32]), body);
        h[32..36].copy_from_slice(&crc.to_le_bytes());
        let header_crc = crc32c::crc32c(&h[0..36]);
        h[36..40].copy_from_slice(&header_crc.to_le_bytes());
        rest[..body.len()].copy_from_slice(body);
        rest[body.len()..total - RECORD_HEADER_BYTES].fill(0);
        total
    }

    /// Parses a header from `bytes` (which may be shorter than a header if
    /// the file was cut: then it is Bad unless all zero).
    pub fn parse(bytes: &[u8]) -> RecordHeaderParse {
        let h = &bytes[..bytes.len().min(RECORD_HEADER_BYTES)];
        if h.iter().all(|&b| b == 0) {
            return RecordHeaderParse::Zero;
        }
        if h.len() < RECORD_HEADER_BYTES {
            return RecordHeaderParse::Bad(format!("record header cut at {} bytes", h.len()));
        }
        if u32_at(h, 36) != crc32c::crc32c(&h[0..36]) {
            return RecordHeaderParse::Bad("record header checksum mismatch".into());
        }
        // The checksum matched, so these are what a writer wrote: a mismatch
        // here is a different format or a bug, not a torn write.
        if u32_at(h, 0) != RECORD_MAGIC {
            return RecordHeaderParse::Bad("bad record magic".into());
        }
        let version = u16::from_le_bytes([h[4], h[5]]);
        if u32::from(version) != FORMAT_VERSION {
            return RecordHeaderParse::Bad(format!("unknown record format version {version}"));
        }
        let kind = u16::from_le_bytes([h[6], h[7]]);
        if !matches!(kind, KIND_TXN | KIND_RAFT | KIND_RAFT_RESET) {
            return RecordHeaderParse::Bad(format!("unknown record kind {kind}"));
        }
        let body_len = u32_at(h, 8);
        if body_len as usize > RECORD_BODY_BYTES_MAX {
            return RecordHeaderParse::Bad(format!("record body length {body_len} over limit"));
        }
        RecordHeaderParse::Valid(RecordHeader {
            kind,
            body_len,
            index: u64_at(h, 16) as i64,
            term: u64_at(h, 24) as i64,
            crc: u32_at(h, 32),
        })
    }

    /// True if `body` matches this header's `crc` (`header` are the raw
    /// header bytes this was parsed from).
    pub fn body_ok(&self, header: &[u8], body: &[u8]) -> bool {
        crc32c::crc32c_append(crc32c::crc32c(&header[0..32]), body) == self.crc
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(a)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_layout_golden() {
        let body = b"abc";
        let mut out = vec![0xAAu8; 64];
        let n = RecordHeader::write_record(KIND_TXN, 0x0102, 3, body, &mut out);
        assert_eq!(n, 48);
        assert_eq!(&out[0..4], b"RREC");
        assert_eq!(&out[4..8], &[1, 0, 1, 0]);
        assert_eq!(&out[8..12], &[3, 0, 0, 0]);
        assert_eq!(&out[16..24], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&out[24..32], &[3, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&out[40..43], body);
        assert_eq!(&out[43..48], &[0; 5]);
        let h = match RecordHeader::parse(&out) {
            RecordHeaderParse::Valid(h) => h,
            other => panic!("{other:?}"),
        };
        assert_eq!((h.index, h.term, h.body_len), (0x0102, 3, 3));
        assert!(h.body_ok(&out, body));
        assert!(!h.body_ok(&out, b"abd"));
        // Any single bit flip in the header is caught by header_crc.
        for bit in 0..RECORD_HEADER_BYTES * 8 {
            let mut b = out.clone();
            b[bit / 8] ^= 1 << (bit % 8);
            assert!(
                matches!(RecordHeader::parse(&b), RecordHeaderParse::Bad(_)),
                "bit {bit}"
            );
        }
        assert_eq!(RecordHeader::parse(&[0u8; 40]), RecordHeaderParse::Zero);
        assert!(matches!(
            RecordHeader::parse(&out[..20]),
            RecordHeaderParse::Bad(_)
        ));
    }

    #[test]
    fn raft_body_layout_and_roundtrip() {
        let r = RaftRecord {
            index: 9,
            term: 4,
            kind: RaftEntryKind::ConfChangeV2,
            data: b"hello".to_vec(),
            context: b"ctx".to_vec(),
        };
        let mut body = Vec::new();
        encode_raft_body(&r, &mut body);
        assert_eq!(body.len(), raft_body_bytes(&r));
        assert_eq!(
            body,
            [&[2, 0, 0, 0, 5, 0, 0, 0, 3, 0, 0, 0][..], b"hello", b"ctx"].concat()
        );
        assert_eq!(
            decode_raft_body(&body).unwrap(),
            (
                RaftEntryKind::ConfChangeV2,
                b"hello".to_vec(),
                b"ctx".to_vec()
            )
        );
        // Empty data and context.
        let e = RaftRecord {
            data: Vec::new(),
            context: Vec::new(),
            kind: RaftEntryKind::Normal,
            ..r.clone()
        };
        let mut eb = Vec::new();
        encode_raft_body(&e, &mut eb);
        assert_eq!(eb, [0u8; 12]);
        assert_eq!(
            decode_raft_body(&eb).unwrap(),
            (RaftEntryKind::Normal, vec![], vec![])
        );
        // Malformed bodies say what is wrong.
        let err = |b: &[u8]| decode_raft_body(b).unwrap_err();
        assert!(err(&body[..11]).contains("too short"));
        let mut bad = body.clone();
        bad[0] = 3;
        assert!(err(&bad).contains("unknown raft entry type 3"));
        let mut bad = body.clone();
        bad[2] = 1;
        assert!(err(&bad).contains("reserved"));
        let mut bad = body.clone();
        bad[4] = 6;
        assert!(err(&bad).contains("do not match"));
        assert!(err(&body[..body.len() - 1]).contains("do not match"));
        // A raft record's header carries its kind.
        let mut out = vec![0u8; record_bytes(body.len())];
        RecordHeader::write_record(KIND_RAFT, 9, 4, &body, &mut out);
        assert_eq!(&out[6..8], &[2, 0]);
        match RecordHeader::parse(&out) {
            RecordHeaderParse::Valid(h) => assert_eq!((h.kind, h.index, h.term), (KIND_RAFT, 9, 4)),
            other => panic!("{other:?}"),
        }
        assert_eq!(LogMode::of_kind(KIND_RAFT), LogMode::Raft);
        assert_eq!(LogMode::of_kind(KIND_RAFT_RESET), LogMode::Raft);
        assert_eq!(LogMode::of_kind(KIND_TXN), LogMode::Standalone);
    }

    #[test]
    fn unknown_record_kind_is_bad() {
        // A well-checksummed header of kind 4 is not a record of any mode.
        let mut out = vec![0u8; 48];
        RecordHeader::write_record(KIND_TXN, 1, 1, b"x", &mut out);
        out[6] = 4;
        let crc = crc32c::crc32c(&out[0..36]);
        out[36..40].copy_from_slice(&crc.to_le_bytes());
        assert_eq!(
            RecordHeader::parse(&out),
            RecordHeaderParse::Bad("unknown record kind 4".into())
        );
    }

    #[test]
    fn segment_header_roundtrip() {
        let h = SegmentHeader {
            seq: 7,
            first_index: 42,
            segment_bytes: 1 << 20,
        };
        let b = h.encode();
        assert_eq!(&b[0..8], b"ROOSTWAL");
        assert_eq!(SegmentHeader::parse(&b), SegmentHeaderParse::Valid(h));
        let mut c = b;
        c[30] ^= 4;
        assert!(matches!(
            SegmentHeader::parse(&c),
            SegmentHeaderParse::Bad(_)
        ));
        assert_eq!(SegmentHeader::parse(&[0u8; 64]), SegmentHeaderParse::Zero);
    }

    #[test]
    fn file_names() {
        assert_eq!(segment_file_name(3), "wal-00000000000000000003.log");
        assert_eq!(
            parse_segment_file_name(&segment_file_name(u64::MAX)),
            Some(u64::MAX)
        );
        assert_eq!(parse_prep_file_name(&prep_file_name(9)), Some(9));
        assert_eq!(parse_segment_file_name("wal-3.log"), None);
        assert_eq!(parse_segment_file_name("hardstate"), None);
        assert_eq!(record_bytes(0), 40);
        assert_eq!(record_bytes(1), 48);
        assert_eq!(record_bytes(8), 48);
    }
}
