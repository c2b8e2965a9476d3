//! `roost log dump DIR`: what is inside a log directory, for operators.
//!
//! Read-only. Prints, per segment, its header, every valid record (index,
//! term, kind, length, crc ok, decoded txn summary), where and why the scan
//! stopped, and at the end the classification recovery would make (clean,
//! torn and truncated, or corrupt and refusing to start) without changing
//! anything. Corruption is printed, not returned as an error, so the
//! operator sees everything up to the damage.

use super::record::SegmentHeaderParse;
use super::recovery::{classify, scan_segment, Stop};
use super::txn_codec::summarize_txn;
use super::WalError;
use crate::io::{DirectMode, LogDevice, UringDevice};
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
    let mut scans = Vec::new();
    let mut prev = None;
    for name in names {
        let Some(seq) = super::record::parse_segment_file_name(&name) else {
            if super::record::parse_prep_file_name(&name).is_some() {
                writeln!(
                    out,
                    "{name}: interrupted preparation (deleted at next start)"
                )
                .map_err(w)?;
            }
            continue;
        };
        let path = dir.join(&name);
        let file = dev
            .open(&path, false)
            .map_err(|e| WalError::io("open", &path, 0, e))?;
        let bytes = dev.read_all(file);
        dev.close(file);
        let bytes = bytes.map_err(|e| WalError::io("read", &path, 0, e))?;
        let scan = scan_segment(seq, path, &bytes, prev);
        match &scan.header {
            SegmentHeaderParse::Zero => {
                writeln!(
                    out,
                    "{name}: {} bytes, prepared (header never written)",
                    bytes.len()
                )
            }
            SegmentHeaderParse::Valid(h) => writeln!(
                out,
                "{name}: {} bytes, seq {} first_index {} (0x{:x}) segment_bytes {}",
                bytes.len(),
                h.seq,
                h.first_index,
                h.first_index,
                h.segment_bytes
            ),
            SegmentHeaderParse::Bad(r) => {
                writeln!(out, "{name}: {} bytes, BAD HEADER: {r}", bytes.len())
            }
        }
        .map_err(w)?;
        for r in &scan.records {
            writeln!(
                out,
                "  @{:<10} index {} (0x{:x}) term {} kind {} len {} crc ok  {}",
                r.offset,
                r.header.index,
                r.header.index,
                r.header.term,
                r.header.kind,
                r.header.body_len,
                summarize_txn(&r.txn)
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
        if let Some(r) = scan.records.last() {
            prev = Some(r.header.index);
        }
        scans.push(scan);
    }
    match classify(scans) {
        Ok(rec) => writeln!(
            out,
            "log: {} records, last zxid {} (0x{:x}), tail {:?}",
            rec.records.len(),
            rec.last_zxid,
            rec.last_zxid,
            rec.tail
        ),
        Err(e) => writeln!(out, "log: REFUSES TO START: {e}"),
    }
    .map_err(w)?;
    Ok(())
}
