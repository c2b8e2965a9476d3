//! `roost log dump DIR`: what is inside a log directory, for operators.
//!
//! Read-only. Prints the hard state (raft mode), then per segment its
//! header, every valid record (index, term, kind, length, crc ok, and a
//! decoded txn summary, or for a raft entry its type, data and context
//! lengths and a hex prefix of a normal entry's data), where and why the
//! scan stopped, and at the end the classification recovery would make
//! (clean, torn and truncated, or corrupt and refusing to start) without
//! changing anything. Corruption is printed, not returned as an error, so
//! the operator sees everything up to the damage. Superseded raft records
//! are printed too (in file order); the last line counts the live ones.
//!
//! `roost log entries DIR` ([`live_records`], [`print_live`]) prints only
//! what a restart would recover, one decoded record a line.

use super::hardstate::{HardStateFile, HARDSTATE_FILE_NAME};
use super::raft::{RaftEntryKind, RaftRecord};
use super::record::LogRecord;
use super::record::SegmentHeaderParse;
use super::recovery::{classify, scan_dir, Content, Payload, Stop};
use super::WalError;
use crate::io::{DirectMode, LogDevice, UringDevice};
use crate::ops::txn_codec::summarize_txn;
use std::io::Write;
use std::path::Path;

/// Dumps the log in `dir` to `out`, reading it through the real device.
pub fn dump(dir: &Path, out: &mut dyn Write) -> Result<(), WalError> {
    // Buffered reads: an operator tool must not need O_DIRECT alignment.
    let mut dev =
        UringDevice::new(DirectMode::Off).map_err(|e| WalError::io("io_uring", dir, 0, e))?;
    dump_with(dir, &mut dev, out)
}

fn w(e: std::io::Error) -> WalError {
    WalError::io("write", "<output>", 0, e)
}

/// [`dump`] through any device (tests use [`crate::io::FaultyDevice`]).
pub fn dump_with(dir: &Path, dev: &mut dyn LogDevice, out: &mut dyn Write) -> Result<(), WalError> {
    let mut names = dev.list(dir).map_err(|e| WalError::io("list", dir, 0, e))?;
    names.sort();
    if names.iter().any(|n| n == HARDSTATE_FILE_NAME) {
        match HardStateFile::load(dir, dev) {
            Ok(Some(hs)) => writeln!(
                out,
                "{HARDSTATE_FILE_NAME}: term {} vote {} commit {}",
                hs.term, hs.vote, hs.commit
            ),
            Ok(None) => writeln!(out, "{HARDSTATE_FILE_NAME}: vanished while reading"),
            Err(e) => writeln!(out, "{HARDSTATE_FILE_NAME}: UNREADABLE: {e}"),
        }
        .map_err(w)?;
    }
    for name in names
        .iter()
        .filter(|n| super::record::parse_prep_file_name(n).is_some())
    {
        writeln!(
            out,
            "{name}: interrupted preparation (deleted at next start)"
        )
        .map_err(w)?;
    }
    let scans = scan_dir(dir, dev)?;
    for scan in &scans {
        let name = scan
            .path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let bytes_len = scan.file_len;
        match &scan.header {
            SegmentHeaderParse::Zero => {
                writeln!(
                    out,
                    "{name}: {} bytes, prepared (header never written)",
                    bytes_len
                )
            }
            SegmentHeaderParse::Valid(h) => writeln!(
                out,
                "{name}: {} bytes, seq {} first_index {} (0x{:x}) segment_bytes {}",
                bytes_len, h.seq, h.first_index, h.first_index, h.segment_bytes
            ),
            SegmentHeaderParse::Bad(r) => {
                writeln!(out, "{name}: {} bytes, BAD HEADER: {r}", bytes_len)
            }
        }
        .map_err(w)?;
        for r in &scan.records {
            let summary = match &r.payload {
                Payload::Txn { txn, .. } => summarize_txn(txn),
                Payload::Raft {
                    kind,
                    data,
                    context,
                } => {
                    let mut s = format!(
                        "raft {kind:?} data {} bytes context {} bytes",
                        data.len(),
                        context.len()
                    );
                    if *kind == RaftEntryKind::Normal && !data.is_empty() {
                        s.push_str(&format!("  data {}", hex_prefix(data)));
                    }
                    s
                }
                Payload::RaftReset => "raft RESET: the log restarts at this index".into(),
            };
            writeln!(
                out,
                "  @{:<10} index {} (0x{:x}) term {} kind {} len {} crc ok  {summary}",
                r.offset,
                r.header.index,
                r.header.index,
                r.header.term,
                r.header.kind,
                r.header.body_len,
            )
            .map_err(w)?;
        }
        match &scan.stop {
            Stop::Clean => writeln!(out, "  end of records at offset {}", scan.end),
            Stop::Invalid {
                reason,
                garbage_end,
                valid_after,
                ..
            } => writeln!(
                out,
                "  STOP at offset {}: {reason} (non-zero bytes up to {garbage_end}{})",
                scan.end,
                valid_after.map_or(String::new(), |p| format!(", valid record at {p}"))
            ),
        }
        .map_err(w)?;
    }
    match classify(scans) {
        Ok(c) => {
            let last = c.last_index();
            match &c.content {
                Content::Empty => writeln!(out, "log: empty, tail {:?}", c.tail),
                Content::Txn { records, .. } => writeln!(
                    out,
                    "log: {} records, last zxid {last} (0x{last:x}), tail {:?}",
                    records.len(),
                    c.tail
                ),
                Content::Raft {
                    entries,
                    first_index,
                    ..
                } => writeln!(
                    out,
                    "log: raft, {} live entries, first index {}, last index {last}, tail {:?}",
                    entries.len(),
                    first_index.map_or("none".into(), |f| f.to_string()),
                    c.tail
                ),
            }
        }
        Err(e) => writeln!(out, "log: REFUSES TO START: {e}"),
    }
    .map_err(w)?;
    Ok(())
}

/// What a restart would recover from a log directory: the records left
/// after torn tails are cut and superseded raft entries dropped.
#[derive(Debug)]
pub enum LiveLog {
    Empty,
    /// A standalone server's transactions, in zxid order.
    Txns(Vec<LogRecord>),
    /// A member's raft entries, in index order; `first_index` is where the
    /// log starts after compaction (None: from the beginning).
    Raft {
        first_index: Option<u64>,
        entries: Vec<RaftRecord>,
    },
}

/// Reads the live records of the log in `dir` without changing anything
/// (`roost log entries`; tests use it to see what was committed).
pub fn live_records(dir: &Path) -> Result<LiveLog, WalError> {
    let mut dev =
        UringDevice::new(DirectMode::Off).map_err(|e| WalError::io("io_uring", dir, 0, e))?;
    live_records_with(dir, &mut dev)
}

/// [`live_records`] through any device.
pub fn live_records_with(dir: &Path, dev: &mut dyn LogDevice) -> Result<LiveLog, WalError> {
    let scans = scan_dir(dir, dev)?;
    Ok(match classify(scans)?.content {
        Content::Empty => LiveLog::Empty,
        Content::Txn { records, .. } => LiveLog::Txns(records),
        Content::Raft {
            entries,
            first_index,
            ..
        } => LiveLog::Raft {
            first_index,
            entries,
        },
    })
}

/// Prints `log` one record a line. `describe_raft` turns a normal raft
/// entry's data into text (the entry format belongs to the consensus
/// module, which the caller brings).
pub fn print_live(
    log: &LiveLog,
    describe_raft: &dyn Fn(&[u8]) -> String,
    out: &mut dyn Write,
) -> Result<(), WalError> {
    match log {
        LiveLog::Empty => writeln!(out, "log: empty").map_err(w)?,
        LiveLog::Txns(records) => {
            for r in records {
                writeln!(
                    out,
                    "zxid 0x{:x} time {} {}",
                    r.zxid,
                    r.time_ms,
                    summarize_txn(&r.txn)
                )
                .map_err(w)?;
            }
        }
        LiveLog::Raft {
            first_index,
            entries,
        } => {
            if let Some(f) = first_index.filter(|&f| f > 1) {
                writeln!(out, "log starts at index {f} (earlier entries compacted)").map_err(w)?;
            }
            for e in entries {
                let what = match e.kind {
                    RaftEntryKind::Normal if e.data.is_empty() => "noop (new leader)".to_string(),
                    RaftEntryKind::Normal => describe_raft(&e.data),
                    k => format!("{k:?} data {} bytes", e.data.len()),
                };
                writeln!(out, "index {} term {} {what}", e.index, e.term).map_err(w)?;
            }
        }
    }
    Ok(())
}

/// The first bytes of `data` in hex, `...` if there are more.
fn hex_prefix(data: &[u8]) -> String {
    const SHOWN: usize = 16;
    let mut s: String = data
        .iter()
        .take(SHOWN)
        .map(|b| format!("{b:02x}"))
        .collect();
    if data.len() > SHOWN {
        s.push_str("...");
    }
    s
}
