//! Writer + recovery tests: real files in temp dirs and the FaultyDevice,
//! torn and corrupt records at the byte level.

use super::record::{record_bytes, segment_file_name, RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES};
use super::*;
use crate::io::{DirectMode, FaultyDevice, LogDevice, UringDevice, WriteFault};
use crate::ops::txn::Txn;
use std::path::{Path, PathBuf};
use std::sync::Arc;

const SMALL_SEGMENT: u64 = 64 * 1024;

fn rec(zxid: i64, data_bytes: usize) -> LogRecord {
    LogRecord {
        zxid,
        term: 1,
        time_ms: 1_700_000_000_000 + zxid,
        txn: Txn::SetData {
            path: Arc::from(format!("/node{zxid}").as_str()),
            data: Some(Arc::from(vec![(zxid % 251) as u8 + 1; data_bytes])),
            new_version: zxid as i32,
        },
    }
}

fn recs(from: i64, n: i64, data_bytes: usize) -> Vec<LogRecord> {
    (from..from + n).map(|z| rec(z, data_bytes)).collect()
}

fn cfg(mode: SyncMode) -> WalConfig {
    WalConfig {
        segment_bytes: SMALL_SEGMENT,
        sync_mode: mode,
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/wal")
}

fn seg(n: u64) -> PathBuf {
    dir().join(segment_file_name(n))
}

fn open(dev: &FaultyDevice) -> Result<(LogWriter, Recovery), WalError> {
    LogWriter::open(&dir(), cfg(SyncMode::Fdatasync), Box::new(dev.clone()))
}

/// Offsets of the records of segment 0 as written by `recs` batches.
fn offsets(records: &[LogRecord]) -> Vec<u64> {
    let mut o = SEGMENT_HEADER_BYTES as u64;
    let mut v = Vec::new();
    for r in records {
        v.push(o);
        let mut body = Vec::new();
        crate::ops::txn_codec::encode_payload(r.time_ms, &r.txn, &mut body);
        o += record_bytes(body.len()) as u64;
    }
    v
}

fn mutate(dev: &FaultyDevice, path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = dev.file_bytes(path).unwrap();
    f(&mut b);
    dev.set_file_bytes(path, b);
}

#[test]
fn wal_roundtrip_faulty_device() {
    let dev = FaultyDevice::new();
    let (mut w, r) = open(&dev).unwrap();
    assert!(r.records.is_empty());
    assert_eq!(r.tail, TailReport::Clean);
    let all = recs(1, 30, 50);
    assert_eq!(w.append_batch(&all[..10]).unwrap(), 10);
    assert_eq!(w.append_batch(&all[10..11]).unwrap(), 11);
    assert_eq!(w.append_batch(&all[11..]).unwrap(), 30);
    assert_eq!(w.append_batch(&[]).unwrap(), 30);
    drop(w);
    dev.crash();
    let (w, r) = open(&dev).unwrap();
    assert_eq!(r.records, all);
    assert_eq!(r.last_zxid, 30);
    assert_eq!(r.tail, TailReport::Clean);
    assert_eq!(w.durable_zxid(), 30);
}

#[test]
fn wal_every_txn_variant_survives() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let all: Vec<LogRecord> = crate::ops::txn_codec::tests::every_txn()
        .into_iter()
        .enumerate()
        .map(|(i, txn)| LogRecord {
            zxid: (5 << 32) + i as i64,
            term: 5,
            time_ms: i as i64,
            txn,
        })
        .collect();
    w.append_batch(&all).unwrap();
    drop(w);
    dev.crash();
    assert_eq!(open(&dev).unwrap().1.records, all);
}

#[test]
fn wal_group_commit_one_write_one_sync() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let (writes, syncs) = (dev.writes(), dev.syncs());
    w.append_batch(&recs(1, 64, 100)).unwrap();
    assert_eq!(dev.writes() - writes, 1);
    assert_eq!(dev.syncs() - syncs, 1);
    w.append_batch(&recs(65, 8, 100)).unwrap();
    let s = w.stats();
    assert_eq!(s.batches, 2);
    assert_eq!(s.writes, 2);
    assert_eq!(s.fsyncs, 2);
    assert_eq!(s.records, 72);
    assert_eq!(s.last_batch_records, 8);
    assert_eq!(s.max_batch_records, 64);
    assert_eq!(s.durable_zxid, 72);
    assert!(s.bytes_written >= 72 * 140 && s.bytes_written % 4096 == 0);
}

#[test]
fn wal_truncated_mid_record_is_torn_and_earlier_records_kept() {
    let all = recs(1, 12, 300);
    let offs = offsets(&all);
    // Cut inside the header and inside the body of the last record.
    for cut in [offs[11] + 10, offs[11] + RECORD_HEADER_BYTES as u64 + 100] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.append_batch(&all[..6]).unwrap();
        w.append_batch(&all[6..]).unwrap();
        drop(w);
        mutate(&dev, &seg(0), |b| b.truncate(cut as usize));
        let (mut w, r) = open(&dev).unwrap();
        assert_eq!(r.records, all[..11], "cut at {cut}");
        match &r.tail {
            TailReport::Truncated { file, offset, .. } => {
                assert_eq!(file, &seg(0));
                assert_eq!(*offset, offs[11]);
            }
            t => panic!("{t:?}"),
        }
        // The file is whole again and appends continue after record 11.
        assert_eq!(dev.file_bytes(&seg(0)).unwrap().len() as u64, SMALL_SEGMENT);
        w.append_batch(&recs(12, 3, 10)).unwrap();
        drop(w);
        let (_, r) = open(&dev).unwrap();
        assert_eq!(r.records.len(), 14);
        assert_eq!(r.tail, TailReport::Clean);
    }
}

#[test]
fn wal_bit_flip_in_last_record_header_or_body_is_corrupt() {
    let all = recs(1, 5, 100);
    let offs = offsets(&all);
    for (what, at) in [
        ("header", offs[4] + 9),
        ("header crc", offs[4] + 38),
        ("body", offs[4] + RECORD_HEADER_BYTES as u64 + 50),
    ] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.append_batch(&all).unwrap();
        drop(w);
        mutate(&dev, &seg(0), |b| b[at as usize] ^= 0x10);
        let before = dev.file_bytes(&seg(0)).unwrap();
        match open(&dev) {
            Err(WalError::Corrupt {
                file,
                offset,
                reason,
            }) => {
                assert_eq!(file, seg(0), "{what}");
                assert_eq!(offset, offs[4], "{what}");
                assert!(reason.contains("completely written"), "{what}: {reason}");
            }
            other => panic!("{what}: {other:?}"),
        }
        // Refusing changes nothing.
        assert_eq!(dev.file_bytes(&seg(0)).unwrap(), before);
        // Recovery without the writer says the same.
        let mut d = dev.clone();
        assert!(matches!(
            recover(&dir(), &mut d),
            Err(WalError::Corrupt { .. })
        ));
    }
}

#[test]
fn wal_unwritten_sector_in_last_record_is_torn() {
    // The last record spans several sectors; its last sector never landed.
    let mut all = recs(1, 3, 100);
    all.push(rec(4, 2000));
    let offs = offsets(&all);
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&all).unwrap();
    drop(w);
    let end = offs[3] as usize + record_bytes(2000 + 30);
    mutate(&dev, &seg(0), |b| {
        let s = (end - 1) / 512 * 512;
        b[s..end + 16].fill(0);
    });
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.records, all[..3]);
    assert!(matches!(r.tail, TailReport::Truncated { offset, .. } if offset == offs[3]));
}

#[test]
fn wal_bit_flip_in_middle_record_is_corrupt_with_file_and_offset() {
    let all = recs(1, 20, 100);
    let offs = offsets(&all);
    for at in [offs[7] + 2, offs[7] + RECORD_HEADER_BYTES as u64 + 3] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.append_batch(&all[..10]).unwrap();
        w.append_batch(&all[10..]).unwrap();
        drop(w);
        mutate(&dev, &seg(0), |b| b[at as usize] ^= 1);
        match open(&dev) {
            Err(WalError::Corrupt {
                file,
                offset,
                reason,
            }) => {
                assert_eq!(file, seg(0));
                assert_eq!(offset, offs[7]);
                assert!(
                    reason.contains(&format!("valid record follows at offset {}", offs[8])),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn wal_garbage_after_end_is_torn() {
    let all = recs(1, 4, 100);
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&all).unwrap();
    drop(w);
    // A later sector of an interrupted batch landed, the earlier did not.
    mutate(&dev, &seg(0), |b| b[8000..8100].fill(0x5a));
    let (mut w, r) = open(&dev).unwrap();
    assert_eq!(r.records, all);
    assert!(matches!(r.tail, TailReport::Truncated { bytes, .. } if bytes > 7000));
    assert!(dev.file_bytes(&seg(0)).unwrap()[8000..8100]
        .iter()
        .all(|&b| b == 0));
    w.append_batch(&recs(5, 1, 1)).unwrap();
}

#[test]
fn wal_torn_write_then_crash_recovers_acknowledged_prefix() {
    let all = recs(1, 40, 200);
    // Tears at sector granularity (sectors are atomic on the devices we
    // support); a tear inside a sector would read as corruption and refuse.
    for keep in [0usize, 512, 1024, 4096, 4608, 8192] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.append_batch(&all[..10]).unwrap();
        dev.fail_next_write(WriteFault::Torn { keep_bytes: keep });
        assert!(w.append_batch(&all[10..]).is_err());
        assert_eq!(w.durable_zxid(), 10);
        drop(w);
        dev.crash();
        let (_, r) = open(&dev).unwrap();
        // Acknowledged records survive; a whole-record prefix of the torn
        // batch may survive too (it was never acknowledged, keeping it is fine).
        assert!(r.records.len() >= 10, "keep {keep}");
        assert_eq!(r.records[..], all[..r.records.len()]);
    }
}

fn assert_poisoned(kind: &str, dev: &FaultyDevice, fault: impl Fn(&FaultyDevice)) {
    let (mut w, _) = open(dev).unwrap();
    w.append_batch(&recs(1, 3, 10)).unwrap();
    fault(dev);
    let e = w.append_batch(&recs(4, 3, 10)).unwrap_err();
    assert!(matches!(e, WalError::Io { .. }), "{kind}: {e}");
    assert_eq!(w.durable_zxid(), 3, "{kind}");
    assert_eq!(w.failure(), Some(&e));
    assert!(w.stats().failed);
    let (writes, syncs) = (dev.writes(), dev.syncs());
    // Every later call fails with the same error and touches nothing.
    assert_eq!(w.append_batch(&recs(7, 1, 10)).unwrap_err(), e, "{kind}");
    assert_eq!((dev.writes(), dev.syncs()), (writes, syncs), "{kind}");
    assert_eq!(w.durable_zxid(), 3);
    assert_eq!(w.stats().durable_zxid, 3);
}

#[test]
fn wal_enospc_and_eio_poison_the_writer() {
    assert_poisoned("write ENOSPC", &FaultyDevice::new(), |d| {
        d.fail_next_write(WriteFault::Errno(libc::ENOSPC))
    });
    assert_poisoned("write EIO", &FaultyDevice::new(), |d| {
        d.fail_next_write(WriteFault::Errno(libc::EIO))
    });
    let dev = FaultyDevice::new();
    assert_poisoned("sync EIO", &dev, |d| d.fail_next_sync(libc::EIO));
    // The failed sync made nothing durable: after a crash only 1..=3 remain.
    dev.crash();
    assert_eq!(open(&dev).unwrap().1.last_zxid, 3);
    assert_poisoned("sync ENOSPC", &FaultyDevice::new(), |d| {
        d.fail_next_sync(libc::ENOSPC)
    });
    let e = {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        dev.fail_next_write(WriteFault::Errno(libc::ENOSPC));
        w.append_batch(&recs(1, 1, 1)).unwrap_err()
    };
    assert!(e.to_string().contains("No space left on device"), "{e}");
}

#[test]
fn wal_segment_roll_and_recovery_across_segments() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let all = recs(1, 300, 1000);
    for chunk in all.chunks(7) {
        // The idle-time preparation of the log core.
        while w.prepare_next().unwrap() {}
        w.append_batch(chunk).unwrap();
    }
    let s = w.stats();
    assert!(s.rolls >= 4, "{s:?}");
    assert_eq!(s.rolls_unprepared, 0);
    assert_eq!(w.durable_zxid(), 300);
    drop(w);
    dev.crash();
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.records, all);
    assert!(r.segments.len() >= 5);
    // A batch larger than a segment, without preparation, still works.
    let (mut w, _) = open(&dev).unwrap();
    let big = recs(301, 200, 1000);
    w.append_batch(&big).unwrap();
    assert!(w.stats().rolls_unprepared >= 1);
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.records.len(), 500);
    // Corruption in a non-last segment refuses to start.
    mutate(&dev, &seg(1), |b| b[SEGMENT_HEADER_BYTES + 300] ^= 4);
    match open(&dev) {
        Err(WalError::Corrupt { file, .. }) => assert_eq!(file, seg(1)),
        other => panic!("{other:?}"),
    }
}

#[test]
fn wal_missing_middle_segment_refuses() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&recs(1, 200, 1000)).unwrap();
    drop(w);
    let mut d = dev.clone();
    d.remove(&seg(1)).unwrap();
    assert!(matches!(open(&dev), Err(WalError::Corrupt { reason, .. }) if reason.contains("gap")));
}

#[test]
fn wal_release_below_deletes_whole_segments() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&recs(1, 300, 1000)).unwrap();
    let n = w.segment_count();
    assert!(n >= 5);
    let (_, r) = {
        let mut d = dev.clone();
        ((), recover(&dir(), &mut d).unwrap())
    };
    let second_last = r.segments[1].last_index.unwrap();
    // Nothing below the first segment's last index.
    assert_eq!(
        w.release_below(r.segments[0].last_index.unwrap()).unwrap(),
        0
    );
    assert_eq!(w.release_below(second_last + 1).unwrap(), 2);
    assert_eq!(w.segment_count(), n - 2);
    assert!(dev.file_bytes(&seg(0)).is_none() && dev.file_bytes(&seg(1)).is_none());
    // Never the active segment.
    w.release_below(i64::MAX).unwrap();
    assert_eq!(w.segment_count(), 1);
    w.append_batch(&recs(301, 2, 10)).unwrap();
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.last_zxid, 302);
    assert_eq!(
        r.segments.len() - usize::from(r.segments.last().unwrap().records == 0),
        1
    );
}

#[test]
fn wal_interrupted_preparation_is_removed() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&recs(1, 2, 10)).unwrap();
    assert!(w.prepare_next().unwrap());
    drop(w);
    assert!(dev
        .paths()
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "prep")));
    let (mut w, r) = open(&dev).unwrap();
    assert_eq!(r.last_zxid, 2);
    assert!(!dev
        .paths()
        .iter()
        .any(|p| p.extension().is_some_and(|e| e == "prep")));
    w.append_batch(&recs(3, 200, 1000)).unwrap();
}

#[test]
fn wal_preparation_enospc_does_not_poison() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    dev.fail_next_create(libc::ENOSPC);
    assert!(w.prepare_next().is_err());
    assert!(w.failure().is_none());
    w.append_batch(&recs(1, 2, 10)).unwrap();
}

#[test]
fn wal_record_too_large_is_rejected_without_writing() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let writes = dev.writes();
    let e = w.append_batch(&[rec(1, 1), rec(2, 70_000)]).unwrap_err();
    assert!(matches!(e, WalError::RecordTooLarge { .. }), "{e}");
    assert_eq!(dev.writes(), writes);
    assert!(w.failure().is_none());
    assert_eq!(w.append_batch(&[rec(1, 1)]).unwrap(), 1);
}

#[test]
#[should_panic(expected = "out of order")]
fn wal_out_of_order_append_panics() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&recs(5, 1, 1)).unwrap();
    let _ = w.append_batch(&recs(5, 1, 1));
}

#[test]
fn wal_config_validate() {
    assert!(WalConfig::default().validate().is_ok());
    for bad in [4096, SMALL_SEGMENT + 1, 1 << 40] {
        let c = WalConfig {
            segment_bytes: bad,
            sync_mode: SyncMode::Fdatasync,
        };
        assert!(c.validate().is_err(), "{bad}");
    }
}

#[test]
fn wal_odsync_mode_writes_without_fsync() {
    let dev = FaultyDevice::new();
    let (mut w, _) = LogWriter::open(&dir(), cfg(SyncMode::ODsync), Box::new(dev.clone())).unwrap();
    w.append_batch(&recs(1, 10, 10)).unwrap();
    w.append_batch(&recs(11, 10, 10)).unwrap();
    let s = w.stats();
    assert_eq!((s.writes, s.fsyncs, s.batches), (2, 0, 2));
    drop(w);
    // O_DSYNC writes are durable without a sync.
    dev.crash();
    assert_eq!(open(&dev).unwrap().1.last_zxid, 20);
}

/// `forceSync=no`: every batch is written, none synced; what was written
/// is read back at the next open (a process restart, not a power cut).
#[test]
fn wal_no_sync_mode_writes_and_never_syncs() {
    let dev = FaultyDevice::new();
    let (mut w, _) = LogWriter::open(&dir(), cfg(SyncMode::NoSync), Box::new(dev.clone())).unwrap();
    w.append_batch(&recs(1, 10, 10)).unwrap();
    w.append_batch(&recs(11, 10, 10)).unwrap();
    let s = w.stats();
    assert_eq!((s.writes, s.fsyncs, s.batches), (2, 0, 2));
    drop(w);
    assert_eq!(open(&dev).unwrap().1.last_zxid, 20);
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roost-wal-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn real_roundtrip(name: &str, direct: DirectMode, mode: SyncMode) {
    let d = temp_dir(name);
    let c = cfg(mode);
    let dev = || Box::new(UringDevice::new(direct).unwrap());
    let (mut w, r) = LogWriter::open(&d, c, dev()).unwrap();
    assert!(r.records.is_empty());
    let all = recs(1, 150, 1000);
    for chunk in all.chunks(9) {
        let _ = w.prepare_next().unwrap();
        w.append_batch(chunk).unwrap();
    }
    assert!(w.stats().rolls >= 2);
    drop(w);
    let (mut w, r) = LogWriter::open(&d, c, dev()).unwrap();
    assert_eq!(r.records, all);
    assert_eq!(r.tail, TailReport::Clean);
    // Cut the last segment mid-record: torn, truncated, earlier kept.
    let last = r
        .segments
        .iter()
        .rev()
        .find(|s| s.records > 0)
        .unwrap()
        .clone();
    drop(w);
    let f = std::fs::OpenOptions::new()
        .write(true)
        .open(&last.file)
        .unwrap();
    f.set_len(last.end - 30).unwrap();
    drop(f);
    let (w2, r) = LogWriter::open(&d, c, dev()).unwrap();
    assert_eq!(r.records, all[..149]);
    assert!(matches!(r.tail, TailReport::Truncated { .. }));
    w = w2;
    w.append_batch(&recs(150, 1, 5)).unwrap();
    drop(w);
    let (_, r) = LogWriter::open(&d, c, dev()).unwrap();
    assert_eq!(r.last_zxid, 150);
    let mut out = Vec::new();
    dump(&d, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("index 150"), "{text}");
    assert!(text.contains("log: 150 records"), "{text}");
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn wal_real_files_direct_fdatasync() {
    real_roundtrip("direct-fdatasync", DirectMode::Auto, SyncMode::Fdatasync);
}

#[test]
fn wal_real_files_direct_odsync() {
    real_roundtrip("direct-odsync", DirectMode::Auto, SyncMode::ODsync);
}

#[test]
fn wal_real_files_buffered_fallback() {
    real_roundtrip("buffered", DirectMode::Off, SyncMode::Fdatasync);
}

#[test]
fn wal_dump_reports_corruption() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.append_batch(&recs(1, 5, 10)).unwrap();
    drop(w);
    let offs = offsets(&recs(1, 5, 10));
    mutate(&dev, &seg(0), |b| b[offs[2] as usize + 45] ^= 1);
    let mut out = Vec::new();
    let mut d = dev.clone();
    dump::dump_with(&dir(), &mut d, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("index 2 "), "{text}");
    assert!(
        text.contains(&format!("STOP at offset {}", offs[2])),
        "{text}"
    );
    assert!(text.contains("REFUSES TO START"), "{text}");
}

/// Issue 12: under a steady load the log core is never idle, so the next
/// segment must be prepared between batches; a roll into an unprepared
/// segment zero-fills and syncs a whole segment while every write waits.
#[test]
fn under_steady_load_every_roll_finds_the_next_segment_prepared() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let mut z = 1;
    // 10 batches of 10 KiB per segment of 64 KiB: about 6 rolls.
    for _ in 0..40 {
        let before = w.stats().bytes_written;
        w.append_batch(&recs(z, 10, 1000)).unwrap();
        z += 10;
        w.keep_ahead(w.stats().bytes_written - before).unwrap();
    }
    let s = w.stats();
    assert!(s.rolls >= 5, "{s:?}");
    assert_eq!(s.rolls_unprepared, 0, "{s:?}");

    // Without it, every roll prepares inline: what the log core used to do
    // when it was never idle.
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let mut z = 1;
    for _ in 0..40 {
        w.append_batch(&recs(z, 10, 1000)).unwrap();
        z += 10;
    }
    let s = w.stats();
    assert_eq!(s.rolls_unprepared, s.rolls, "{s:?}");
}
