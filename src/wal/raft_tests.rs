//! Raft mode tests: writer + recovery through the FaultyDevice and real
//! files, truncation, resets, release, mode checks, torn tails. The log
//! core's Persist path is tested in `core.rs`.

use super::hardstate::HARDSTATE_FILE_NAME;
use super::record::{
    encode_raft_body, record_bytes, segment_file_name, RecordHeader, KIND_RAFT, KIND_TXN,
    RECORD_HEADER_BYTES,
};
use super::*;
use crate::io::{DirectMode, FaultyDevice, LogDevice, UringDevice, WriteFault};
use crate::ops::txn::Txn;
use std::path::{Path, PathBuf};

const SMALL_SEGMENT: u64 = 64 * 1024;

fn cfg() -> WalConfig {
    WalConfig {
        segment_bytes: SMALL_SEGMENT,
        sync_mode: SyncMode::Fdatasync,
    }
}

fn dir() -> PathBuf {
    PathBuf::from("/raft")
}

fn seg(n: u64) -> PathBuf {
    dir().join(segment_file_name(n))
}

fn open(dev: &FaultyDevice) -> Result<(LogWriter, RaftRecovery), WalError> {
    LogWriter::open_raft(&dir(), cfg(), Box::new(dev.clone()))
}

fn open_standalone(dev: &FaultyDevice) -> Result<(LogWriter, Recovery), WalError> {
    LogWriter::open(&dir(), cfg(), Box::new(dev.clone()))
}

/// Entry `index` of `term` with `data_bytes` of data derived from both, so
/// that a replaced entry differs from its replacement.
fn entry(index: u64, term: u64, data_bytes: usize) -> RaftRecord {
    RaftRecord {
        index,
        term,
        kind: RaftEntryKind::Normal,
        data: (0..data_bytes)
            .map(|i| (index * 7 + term * 13 + i as u64) as u8)
            .collect(),
        context: Vec::new(),
    }
}

/// Entries `from..=to` of `term`.
fn entries(from: u64, to: u64, term: u64, data_bytes: usize) -> Vec<RaftRecord> {
    (from..=to).map(|i| entry(i, term, data_bytes)).collect()
}

fn persist(token: u64, entries: Vec<RaftRecord>) -> RaftPersist {
    RaftPersist {
        token,
        entries,
        ..RaftPersist::default()
    }
}

fn hs(term: i64, vote: i64, commit: i64) -> HardState {
    HardState { term, vote, commit }
}

fn indexes_terms(entries: &[RaftRecord]) -> Vec<(u64, u64)> {
    entries.iter().map(|e| (e.index, e.term)).collect()
}

fn mutate(dev: &FaultyDevice, path: &Path, f: impl FnOnce(&mut Vec<u8>)) {
    let mut b = dev.file_bytes(path).unwrap();
    f(&mut b);
    dev.set_file_bytes(path, b);
}

/// Where and what to plant: a well-checksummed record, as a buggy or
/// foreign writer would have written it.
struct Plant<'a> {
    offset: u64,
    kind: u16,
    index: i64,
    term: i64,
    body: &'a [u8],
}

fn plant_record(dev: &FaultyDevice, path: &Path, p: Plant<'_>) {
    let (offset, body) = (p.offset, p.body);
    let mut rec = vec![0u8; record_bytes(body.len())];
    RecordHeader::write_record(p.kind, p.index, p.term, body, &mut rec);
    mutate(dev, path, |b| {
        b[offset as usize..offset as usize + rec.len()].copy_from_slice(&rec)
    });
}

fn raft_body(e: &RaftRecord) -> Vec<u8> {
    let mut b = Vec::new();
    encode_raft_body(e, &mut b);
    b
}

#[test]
fn raft_roundtrip_entries_and_hard_state() {
    let dev = FaultyDevice::new();
    let (mut w, r) = open(&dev).unwrap();
    assert_eq!(w.mode(), LogMode::Raft);
    assert!(r.entries.is_empty());
    assert_eq!((r.first_index, r.last_index), (None, 0));
    assert_eq!(r.hard_state, HardState::default());
    assert_eq!(r.tail, TailReport::Clean);
    // The hard state file exists from the first open on.
    assert!(dev.file_bytes(&dir().join(HARDSTATE_FILE_NAME)).is_some());

    let mut all = entries(1, 5, 1, 100);
    all[1].kind = RaftEntryKind::ConfChange;
    all[1].context = b"conf context".to_vec();
    all[2].kind = RaftEntryKind::ConfChangeV2;
    all[3].data.clear();
    all.extend(entries(6, 8, 2, 3000));
    let (writes, syncs) = (dev.writes(), dev.syncs());
    let batch = [
        persist(1, all[..5].to_vec()),
        RaftPersist {
            token: 2,
            hard_state: Some(hs(1, 2, 3)),
            ..RaftPersist::default()
        },
        RaftPersist {
            token: 3,
            hard_state: Some(hs(2, 3, 5)),
            entries: all[5..].to_vec(),
            reset_to: None,
        },
    ];
    assert_eq!(w.persist(&batch).unwrap(), 8);
    // One write + one sync for all entries, one of each for the last hard
    // state (the earlier one is never written).
    assert_eq!((dev.writes() - writes, dev.syncs() - syncs), (2, 2));
    assert_eq!(w.durable_zxid(), 8);
    assert_eq!(w.hard_state(), Some(hs(2, 3, 5)));
    let s = w.stats();
    assert_eq!(
        (s.batches, s.records, s.fsyncs, s.durable_zxid),
        (1, 8, 2, 8)
    );

    // Hard state alone: no log write.
    let (writes, syncs) = (dev.writes(), dev.syncs());
    let only_hs = RaftPersist {
        token: 4,
        hard_state: Some(hs(2, 3, 8)),
        ..RaftPersist::default()
    };
    assert_eq!(w.persist(&[only_hs]).unwrap(), 8);
    assert_eq!((dev.writes() - writes, dev.syncs() - syncs), (1, 1));
    drop(w);
    dev.crash();

    let mut d = dev.clone();
    let read_only = recover_raft(&dir(), &mut d).unwrap();
    assert_eq!(read_only.entries, all);
    let (w, r) = open(&dev).unwrap();
    assert_eq!(r.entries, all);
    assert_eq!((r.first_index, r.last_index), (Some(1), 8));
    assert_eq!(r.hard_state, hs(2, 3, 8));
    assert_eq!(read_only.hard_state, hs(2, 3, 8));
    assert_eq!(r.tail, TailReport::Clean);
    assert_eq!(w.durable_zxid(), 8);
    assert_eq!(r.segments[0].live_last_index, Some(8));
}

#[test]
fn raft_truncation_replaces_the_tail() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 4, 1, 50))]).unwrap();
    w.persist(&[persist(2, entries(5, 10, 1, 50))]).unwrap();
    // 6..8 of term 2 replace 6..10 of term 1.
    assert_eq!(w.persist(&[persist(3, entries(6, 8, 2, 50))]).unwrap(), 8);
    assert_eq!(w.durable_zxid(), 8);
    drop(w);
    dev.crash();
    let mut expected = entries(1, 5, 1, 50);
    expected.extend(entries(6, 8, 2, 50));
    let (mut w, r) = open(&dev).unwrap();
    assert_eq!(r.entries, expected);
    assert_eq!(r.last_index, 8);
    // The superseded records are still in the file; only the live count.
    assert_eq!(r.segments[0].records, 13);
    assert_eq!(r.segments[0].last_index, Some(8));
    // 10 would be a gap after 8; 9 continues.
    assert!(matches!(
        w.persist(&[persist(4, entries(10, 10, 2, 50))]),
        Err(WalError::Sequence(_))
    ));
    assert_eq!(w.persist(&[persist(5, entries(9, 9, 2, 50))]).unwrap(), 9);
    drop(w);
    dev.crash();
    expected.push(entry(9, 2, 50));
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.entries, expected);
    assert_eq!(
        indexes_terms(&r.entries),
        vec![
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 1),
            (6, 2),
            (7, 2),
            (8, 2),
            (9, 2)
        ]
    );

    // Several truncations inside one group-committed batch, the same rule.
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let batch = [
        persist(1, entries(1, 6, 1, 10)),
        persist(2, entries(3, 5, 2, 10)),
        persist(3, entries(5, 7, 3, 10)),
        persist(4, entries(1, 2, 4, 10)),
        persist(5, entries(3, 3, 4, 10)),
    ];
    assert_eq!(w.persist(&batch).unwrap(), 3);
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(indexes_terms(&r.entries), vec![(1, 4), (2, 4), (3, 4)]);
}

/// 1..=200 of 1000 data bytes: 1056-byte records, 62 to a 64 KiB segment:
/// segments 0: 1..62, 1: 63..124, 2: 125..186, 3: 187..200. Then 70..139 of
/// term 2 replace 70..200: they go to segment 3 (70..117) and roll into
/// segment 4 (118..139). Live: 0: 1..62, 1: 63..69, 2: none, 3: 70..117,
/// 4: 118..139.
fn truncated_across_segments(dev: &FaultyDevice) -> LogWriter {
    let (mut w, _) = open(dev).unwrap();
    let mut token = 0;
    for chunk in entries(1, 200, 1, 1000).chunks(10) {
        while w.prepare_next().unwrap() {}
        token += 1;
        w.persist(&[persist(token, chunk.to_vec())]).unwrap();
    }
    assert_eq!(w.segment_count(), 4);
    w.persist(&[persist(token + 1, entries(70, 139, 2, 1000))])
        .unwrap();
    assert_eq!(w.segment_count(), 5);
    w
}

fn expected_after_truncation(from: u64) -> Vec<RaftRecord> {
    let mut e = entries(from.min(70), 69, 1, 1000);
    e.extend(entries(from.max(70), 139, 2, 1000));
    e
}

#[test]
fn raft_truncation_across_segments_and_release_keeps_live_records() {
    let dev = FaultyDevice::new();
    let w = truncated_across_segments(&dev);
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.entries, expected_after_truncation(1));
    let ranges: Vec<_> = r
        .segments
        .iter()
        .map(|s| (s.first_index, s.last_index, s.live_last_index))
        .collect();
    assert_eq!(
        ranges[..5],
        [
            (Some(1), Some(62), Some(62)),
            (Some(63), Some(124), Some(69)),
            (Some(125), Some(186), None),
            (Some(187), Some(117), Some(117)),
            (Some(118), Some(139), Some(139)),
        ]
    );

    // The same releases with the writer that truncated (its in-memory view)
    // and with a writer reopened from disk (recovered view).
    for reopen in [false, true] {
        let dev = FaultyDevice::new();
        let mut w = truncated_across_segments(&dev);
        if reopen {
            drop(w);
            w = open(&dev).unwrap().0;
        }
        // Segment 1 still holds 63..69, live: 69 keeps it.
        assert_eq!(w.release_below(69).unwrap(), 1, "reopen {reopen}");
        assert!(dev.file_bytes(&seg(0)).is_none());
        let mut d = dev.clone();
        let r = recover_raft(&dir(), &mut d).unwrap();
        assert_eq!(r.entries, expected_after_truncation(63), "reopen {reopen}");
        // At 70 segment 1 (live up to 69) and segment 2 (nothing live) go;
        // segment 3 holds 70..117 after its superseded 187..200.
        assert_eq!(w.release_below(70).unwrap(), 2, "reopen {reopen}");
        let r = recover_raft(&dir(), &mut d).unwrap();
        assert_eq!(r.entries, expected_after_truncation(70), "reopen {reopen}");
        assert_eq!(r.first_index, Some(70));
        // Nothing more until 118; never the active segment.
        assert_eq!(w.release_below(117).unwrap(), 0);
        assert_eq!(w.release_below(i64::MAX).unwrap(), 1);
        assert_eq!(w.segment_count(), 1);
        let r = recover_raft(&dir(), &mut d).unwrap();
        assert_eq!(r.entries, entries(118, 139, 2, 1000));
        // The log goes on after the releases.
        w.persist(&[persist(1000, entries(140, 141, 2, 10))])
            .unwrap();
        drop(w);
        let (_, r) = open(&dev).unwrap();
        assert_eq!(r.entries.first().unwrap().index, 118);
        assert_eq!(r.last_index, 141);
    }
}

#[test]
fn raft_truncation_into_the_active_segment_keeps_earlier_segments() {
    // Truncating inside the active segment must not lower an earlier
    // segment's live bound.
    let dev = FaultyDevice::new();
    let mut w = truncated_across_segments(&dev);
    w.persist(&[persist(1000, entries(130, 131, 3, 1000))])
        .unwrap();
    // Segment 3 holds 70..117, live: kept at 117, gone at 118.
    assert_eq!(w.release_below(117).unwrap(), 3);
    drop(w);
    let (mut w, r) = open(&dev).unwrap();
    let mut expected = entries(70, 129, 2, 1000);
    expected.extend(entries(130, 131, 3, 1000));
    assert_eq!(r.entries, expected);
    assert_eq!(w.release_below(118).unwrap(), 1);
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.entries, expected[118 - 70..]);
}

#[test]
fn raft_reset_discards_everything_before() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    // Three segments of entries, then a snapshot at 100 is installed.
    for (t, chunk) in entries(1, 130, 1, 1000).chunks(10).enumerate() {
        w.persist(&[persist(t as u64, chunk.to_vec())]).unwrap();
    }
    let n = w.segment_count();
    assert_eq!(n, 3);
    let reset = RaftPersist {
        token: 100,
        reset_to: Some(101),
        entries: entries(101, 105, 3, 20),
        hard_state: Some(hs(3, 1, 100)),
    };
    assert_eq!(w.persist(&[reset]).unwrap(), 105);
    drop(w);
    dev.crash();
    let (mut w, r) = open(&dev).unwrap();
    assert_eq!(r.entries, entries(101, 105, 3, 20));
    assert_eq!((r.first_index, r.last_index), (Some(101), 105));
    assert_eq!(r.hard_state, hs(3, 1, 100));
    // Nothing before the reset is live: every older segment can go, even
    // below any index.
    assert_eq!(r.segments[0].live_last_index, None);
    assert_eq!(w.release_below(1).unwrap(), n - 1);
    // Below the reset point is refused.
    let e = w
        .persist(&[persist(101, entries(50, 50, 3, 1))])
        .unwrap_err();
    assert!(
        e.to_string().contains("below the log's first index 101"),
        "{e}"
    );

    // A reset without entries: the log is empty and restarts there.
    let only_reset = RaftPersist {
        token: 102,
        reset_to: Some(201),
        ..RaftPersist::default()
    };
    assert_eq!(w.persist(&[only_reset]).unwrap(), 200);
    drop(w);
    let (mut w, r) = open(&dev).unwrap();
    assert!(r.entries.is_empty());
    assert_eq!((r.first_index, r.last_index), (Some(201), 200));
    // The next entry must be exactly 201.
    for bad in [202, 200] {
        assert!(matches!(
            w.persist(&[persist(103, entries(bad, bad, 4, 1))]),
            Err(WalError::Sequence(_))
        ));
    }
    w.persist(&[persist(104, entries(201, 202, 4, 1))]).unwrap();
    assert!(matches!(
        w.persist(&[RaftPersist {
            token: 105,
            reset_to: Some(0),
            ..RaftPersist::default()
        }]),
        Err(WalError::Sequence(_))
    ));
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.entries, entries(201, 202, 4, 1));
}

#[test]
fn raft_gap_is_rejected_at_write_time() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 5, 1, 10))]).unwrap();
    let writes = dev.writes();
    let cases: [(Vec<RaftRecord>, &str); 3] = [
        (entries(7, 7, 1, 10), "a gap"),
        (
            vec![entry(6, 1, 1), entry(7, 1, 1), entry(9, 1, 1)],
            "contiguous",
        ),
        (entries(0, 1, 1, 10), "index 0"),
    ];
    for (bad, what) in cases {
        match w.persist(&[persist(2, bad)]) {
            Err(WalError::Sequence(m)) => assert!(m.contains(what), "{m}"),
            other => panic!("{what}: {other:?}"),
        }
    }
    // A bad command anywhere in a batch rejects the whole batch.
    let batch = [
        persist(3, entries(6, 6, 1, 10)),
        persist(4, entries(8, 8, 1, 10)),
    ];
    assert!(matches!(w.persist(&batch), Err(WalError::Sequence(_))));
    // Nothing was written, and the writer is not poisoned.
    assert_eq!(dev.writes(), writes);
    assert!(w.failure().is_none());
    assert_eq!(w.persist(&[persist(5, entries(6, 6, 1, 10))]).unwrap(), 6);
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.entries, entries(1, 6, 1, 10));
}

#[test]
fn raft_gap_on_disk_is_fatal_at_recovery() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 5, 1, 10))]).unwrap();
    drop(w);
    let mut d = dev.clone();
    let end = recover_raft(&dir(), &mut d).unwrap().segments[0].end;
    plant_record(
        &dev,
        &seg(0),
        Plant {
            offset: end,
            kind: KIND_RAFT,
            index: 7,
            term: 1,
            body: &raft_body(&entry(7, 1, 10)),
        },
    );
    let before = dev.file_bytes(&seg(0)).unwrap();
    match open(&dev) {
        Err(WalError::Corrupt {
            file,
            offset,
            reason,
        }) => {
            assert_eq!((file, offset), (seg(0), end));
            assert!(
                reason.contains("raft record index 7 after 5: a gap"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(dev.file_bytes(&seg(0)).unwrap(), before);

    // Going back is not a gap: a planted record 3 supersedes 3..5.
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 5, 1, 10))]).unwrap();
    drop(w);
    plant_record(
        &dev,
        &seg(0),
        Plant {
            offset: end,
            kind: KIND_RAFT,
            index: 3,
            term: 2,
            body: &raft_body(&entry(3, 2, 10)),
        },
    );
    let (_, r) = open(&dev).unwrap();
    assert_eq!(indexes_terms(&r.entries), vec![(1, 1), (2, 1), (3, 2)]);
}

#[test]
fn raft_and_standalone_records_mixed_are_corrupt() {
    let txn = Txn::CreateSession {
        session_id: 9,
        timeout_ms: 1000,
    };
    let mut txn_body = Vec::new();
    crate::ops::txn_codec::encode_payload(0, &txn, &mut txn_body);

    // A raft record in a standalone log.
    let dev = FaultyDevice::new();
    let (mut w, _) = open_standalone(&dev).unwrap();
    let recs: Vec<LogRecord> = (1..=3)
        .map(|z| LogRecord {
            zxid: z,
            term: 1,
            time_ms: 0,
            txn: txn.clone(),
        })
        .collect();
    w.append_batch(&recs).unwrap();
    drop(w);
    let mut d = dev.clone();
    let end = recover(&dir(), &mut d).unwrap().segments[0].end;
    plant_record(
        &dev,
        &seg(0),
        Plant {
            offset: end,
            kind: KIND_RAFT,
            index: 4,
            term: 1,
            body: &raft_body(&entry(4, 1, 1)),
        },
    );
    for (opener, res) in [
        ("standalone", open_standalone(&dev).map(|_| ())),
        ("raft", open(&dev).map(|_| ())),
    ] {
        match res {
            Err(e @ WalError::Corrupt { .. }) => {
                let m = e.to_string();
                assert!(m.contains(&seg(0).display().to_string()), "{opener}: {m}");
                assert!(m.contains("is a raft record (kind 2)"), "{opener}: {m}");
                assert!(
                    m.contains("written by a standalone server"),
                    "{opener}: {m}"
                );
                assert!(m.contains("mixing"), "{opener}: {m}");
            }
            other => panic!("{opener}: {other:?}"),
        }
    }

    // A transaction in a raft log.
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 3, 1, 10))]).unwrap();
    drop(w);
    let mut d = dev.clone();
    let end = recover_raft(&dir(), &mut d).unwrap().segments[0].end;
    plant_record(
        &dev,
        &seg(0),
        Plant {
            offset: end,
            kind: KIND_TXN,
            index: 4,
            term: 1,
            body: &txn_body,
        },
    );
    match open(&dev) {
        Err(e @ WalError::Corrupt { .. }) => {
            let m = e.to_string();
            assert!(m.contains(&seg(0).display().to_string()), "{m}");
            assert!(m.contains("is a standalone transaction (kind 1)"), "{m}");
            assert!(m.contains("written by a replicated (raft) member"), "{m}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn raft_and_standalone_refuse_each_others_log() {
    // A standalone log opened as raft: nothing created, nothing changed.
    let dev = FaultyDevice::new();
    let (mut w, _) = open_standalone(&dev).unwrap();
    w.append_batch(&[LogRecord {
        zxid: 1,
        term: 0,
        time_ms: 0,
        txn: Txn::CreateSession {
            session_id: 1,
            timeout_ms: 1000,
        },
    }])
    .unwrap();
    drop(w);
    let paths = dev.paths();
    let e = open(&dev).unwrap_err();
    assert_eq!(
        e,
        WalError::WrongMode {
            file: seg(0),
            found: LogMode::Standalone,
            opened_as: LogMode::Raft
        }
    );
    assert!(
        e.to_string().contains(&format!(
            "log {} was written by a standalone server; a replicated (raft) member cannot open it",
            seg(0).display()
        )),
        "{e}"
    );
    assert_eq!(dev.paths(), paths);
    assert!(open_standalone(&dev).is_ok());

    // A raft log opened as standalone, with entries or only a hard state.
    for with_entries in [true, false] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        if with_entries {
            w.persist(&[persist(1, entries(1, 2, 1, 1))]).unwrap();
        }
        drop(w);
        let e = open_standalone(&dev).unwrap_err();
        assert_eq!(
            e,
            WalError::WrongMode {
                file: dir().join(HARDSTATE_FILE_NAME),
                found: LogMode::Raft,
                opened_as: LogMode::Standalone
            },
            "entries {with_entries}"
        );
        assert!(e
            .to_string()
            .contains("written by a replicated (raft) member"));
        // Without its hard state file a raft log with entries is still
        // refused, and as raft it is corrupt.
        if with_entries {
            let mut d = dev.clone();
            d.remove(&dir().join(HARDSTATE_FILE_NAME)).unwrap();
            assert!(matches!(
                open_standalone(&dev),
                Err(WalError::WrongMode { file, .. }) if file == seg(0)
            ));
            match open(&dev) {
                Err(WalError::Corrupt { file, reason, .. }) => {
                    assert_eq!(file, dir().join(HARDSTATE_FILE_NAME));
                    assert!(reason.contains("missing"), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
    }
}

#[test]
#[should_panic(expected = "persist on a log opened in standalone mode")]
fn raft_persist_on_standalone_writer_panics() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open_standalone(&dev).unwrap();
    let _ = w.persist(&[persist(1, entries(1, 1, 1, 1))]);
}

#[test]
#[should_panic(expected = "append_batch on a log opened in raft mode")]
fn raft_append_batch_on_raft_writer_panics() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let _ = w.append_batch(&[]);
}

#[test]
fn raft_torn_tail_is_truncated() {
    // A torn batch: acknowledged entries survive, plus at most a prefix of
    // the torn batch's records.
    let all = entries(1, 40, 1, 200);
    for keep in [0usize, 512, 1024, 4096, 4608, 8192] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.persist(&[persist(1, all[..10].to_vec())]).unwrap();
        dev.fail_next_write(WriteFault::Torn { keep_bytes: keep });
        assert!(w.persist(&[persist(2, all[10..].to_vec())]).is_err());
        assert_eq!(w.durable_zxid(), 10);
        // Poisoned: nothing released, nothing more written.
        assert_eq!(w.release_below(i64::MAX).unwrap(), 0);
        drop(w);
        dev.crash();
        let (mut w, r) = open(&dev).unwrap();
        assert!(r.entries.len() >= 10, "keep {keep}");
        assert_eq!(r.entries[..], all[..r.entries.len()], "keep {keep}");
        let next = r.last_index + 1;
        w.persist(&[persist(3, entries(next, next, 2, 5))]).unwrap();
    }

    // A torn truncating batch: the old tail, or the new one's prefix.
    for keep in [0usize, 512, 4096] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.persist(&[persist(1, entries(1, 10, 1, 200))]).unwrap();
        dev.fail_next_write(WriteFault::Torn { keep_bytes: keep });
        assert!(w.persist(&[persist(2, entries(6, 8, 2, 200))]).is_err());
        drop(w);
        dev.crash();
        let (_, r) = open(&dev).unwrap();
        let replaced = r.entries.iter().filter(|e| e.term == 2).count() as u64;
        let mut expected = entries(1, 5, 1, 200);
        if replaced == 0 {
            expected.extend(entries(6, 10, 1, 200));
        } else {
            expected.extend(entries(6, 5 + replaced, 2, 200));
        }
        assert_eq!(r.entries, expected, "keep {keep}");
    }

    // Cut mid-record by a truncated file: zeroed, earlier entries kept.
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 10, 1, 300))]).unwrap();
    drop(w);
    let mut d = dev.clone();
    let end = recover_raft(&dir(), &mut d).unwrap().segments[0].end;
    let last_at = end - record_bytes(12 + 300) as u64;
    mutate(&dev, &seg(0), |b| {
        b.truncate((last_at + RECORD_HEADER_BYTES as u64 + 100) as usize)
    });
    let (mut w, r) = open(&dev).unwrap();
    assert_eq!(r.entries, entries(1, 9, 1, 300));
    match &r.tail {
        TailReport::Truncated { file, offset, .. } => {
            assert_eq!((file, *offset), (&seg(0), last_at));
        }
        t => panic!("{t:?}"),
    }
    assert_eq!(dev.file_bytes(&seg(0)).unwrap().len() as u64, SMALL_SEGMENT);
    w.persist(&[persist(2, entries(10, 11, 2, 5))]).unwrap();
    drop(w);
    let (_, r) = open(&dev).unwrap();
    assert_eq!(r.last_index, 11);
    assert_eq!(r.tail, TailReport::Clean);
}

#[test]
fn raft_hard_state_failure_poisons_after_entries() {
    // O_DSYNC: the entries need no sync, so the first sync of the batch is
    // the hard state's.
    let c = WalConfig {
        sync_mode: SyncMode::ODsync,
        ..cfg()
    };
    let dev = FaultyDevice::new();
    let (mut w, _) = LogWriter::open_raft(&dir(), c, Box::new(dev.clone())).unwrap();
    w.persist(&[RaftPersist {
        token: 1,
        hard_state: Some(hs(1, 1, 0)),
        ..RaftPersist::default()
    }])
    .unwrap();
    dev.fail_next_sync(libc::EIO);
    let p = RaftPersist {
        token: 2,
        hard_state: Some(hs(2, 2, 2)),
        entries: entries(1, 2, 2, 10),
        reset_to: None,
    };
    let e = w.persist(&[p]).unwrap_err();
    assert!(e.to_string().contains(HARDSTATE_FILE_NAME), "{e}");
    assert_eq!(w.failure(), Some(&e));
    assert!(w.stats().failed);
    assert_eq!(w.hard_state(), Some(hs(1, 1, 0)));
    let writes = dev.writes();
    assert_eq!(w.persist(&[persist(3, entries(3, 3, 2, 1))]), Err(e));
    assert_eq!(dev.writes(), writes);
    drop(w);
    dev.crash();
    // The entries were durable before the hard state was tried; the hard
    // state is the previous one.
    let (_, r) = LogWriter::open_raft(&dir(), c, Box::new(dev.clone())).unwrap();
    assert_eq!(r.entries, entries(1, 2, 2, 10));
    assert_eq!(r.hard_state, hs(1, 1, 0));
}

#[test]
fn raft_dump_prints_entries_resets_and_hard_state() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    let mut conf = entry(3, 1, 5);
    conf.kind = RaftEntryKind::ConfChange;
    conf.context = vec![1, 2];
    let mut first = entry(1, 1, 0);
    first.data = vec![0xde, 0xad, 0xbe, 0xef];
    let batch = [
        persist(1, vec![first, entry(2, 1, 40), conf]),
        persist(2, entries(3, 3, 2, 1)),
        RaftPersist {
            token: 3,
            reset_to: Some(11),
            entries: entries(11, 12, 3, 2),
            hard_state: Some(hs(3, 2, 11)),
        },
    ];
    w.persist(&batch).unwrap();
    drop(w);
    let mut out = Vec::new();
    let mut d = dev.clone();
    dump::dump_with(&dir(), &mut d, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    for want in [
        "hardstate: term 3 vote 2 commit 11",
        "index 1 (0x1) term 1 kind 2 len 16 crc ok  raft Normal data 4 bytes context 0 bytes  data deadbeef",
        "raft ConfChange data 5 bytes context 2 bytes",
        "index 11 (0xb) term 0 kind 3 len 0 crc ok  raft RESET",
        "log: raft, 2 live entries, first index 11, last index 12, tail Clean",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    // A long normal entry's data is shown as a prefix.
    let long_prefix: String = entry(2, 1, 40).data[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(text.contains(&format!("data {long_prefix}...")), "{text}");
    // ConfChange data is not shown.
    assert!(!text.contains("context 2 bytes  data"), "{text}");
}

#[test]
fn live_records_leave_out_superseded_entries() {
    let dev = FaultyDevice::new();
    let (mut w, _) = open(&dev).unwrap();
    w.persist(&[persist(1, entries(1, 5, 1, 3))]).unwrap();
    // 4..5 of term 2 replace 4..5 of term 1: only the new ones are live.
    w.persist(&[persist(2, entries(4, 5, 2, 0))]).unwrap();
    drop(w);
    let mut d = dev.clone();
    let log = dump::live_records_with(&dir(), &mut d).unwrap();
    let mut out = Vec::new();
    dump::print_live(&log, &|data| format!("{} data bytes", data.len()), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(
        text,
        "index 1 term 1 3 data bytes\nindex 2 term 1 3 data bytes\nindex 3 term 1 3 data bytes\n\
         index 4 term 2 noop (new leader)\nindex 5 term 2 noop (new leader)\n"
    );
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("roost-raft-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

#[test]
fn raft_real_files_roundtrip_and_dump() {
    let d = temp_dir("real");
    let dev = || Box::new(UringDevice::new(DirectMode::Auto).unwrap());
    let (mut w, r) = LogWriter::open_raft(&d, cfg(), dev()).unwrap();
    assert!(r.entries.is_empty());
    let mut token = 0;
    for chunk in entries(1, 150, 1, 1000).chunks(9) {
        let _ = w.prepare_next().unwrap();
        token += 1;
        w.persist(&[RaftPersist {
            token,
            hard_state: Some(hs(1, 1, chunk[0].index as i64)),
            entries: chunk.to_vec(),
            reset_to: None,
        }])
        .unwrap();
    }
    // Replace a tail that spans the last two segments.
    w.persist(&[persist(token + 1, entries(100, 120, 2, 1000))])
        .unwrap();
    assert!(w.stats().rolls >= 2);
    drop(w);
    let (w, r) = LogWriter::open_raft(&d, cfg(), dev()).unwrap();
    let mut expected = entries(1, 99, 1, 1000);
    expected.extend(entries(100, 120, 2, 1000));
    assert_eq!(r.entries, expected);
    assert_eq!(r.hard_state, hs(1, 1, 145));
    assert_eq!(r.tail, TailReport::Clean);
    drop(w);
    assert!(matches!(
        LogWriter::open(&d, cfg(), dev()),
        Err(WalError::WrongMode { .. })
    ));
    let mut out = Vec::new();
    dump(&d, &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.contains("hardstate: term 1 vote 1 commit 145"),
        "{text}"
    );
    assert!(
        text.contains("log: raft, 120 live entries, first index 1, last index 120"),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&d);
}

/// Issue 18, defect 6: a segment's first batch torn after its first sector
/// leaves a valid header naming the lost first record's index. The next
/// record written there may have another index (here: the log restarts at
/// a received snapshot's point); the header must follow it, or the next
/// start refuses the log.
#[test]
fn a_torn_first_batch_leaves_no_stale_segment_header() {
    for keep in [512usize, 1024, 4096] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        dev.fail_next_write(WriteFault::Torn { keep_bytes: keep });
        assert!(w.persist(&[persist(1, entries(1, 3, 1, 5000))]).is_err());
        drop(w);
        dev.crash();
        let (mut w, r) = open(&dev).unwrap();
        assert!(
            r.entries.is_empty(),
            "keep {keep}: nothing of 1..3 survived"
        );
        let reset = RaftPersist {
            token: 2,
            reset_to: Some(101),
            entries: entries(101, 103, 2, 50),
            ..RaftPersist::default()
        };
        assert_eq!(w.persist(&[reset]).unwrap(), 103);
        drop(w);
        dev.crash();
        let (mut w, r) = open(&dev).unwrap_or_else(|e| panic!("keep {keep}: reopen: {e}"));
        assert_eq!(
            indexes_terms(&r.entries),
            vec![(101, 2), (102, 2), (103, 2)],
            "keep {keep}"
        );
        w.persist(&[persist(3, entries(104, 104, 2, 5))]).unwrap();
    }

    // The same in a segment that is not the first: entries 1..=50 fill
    // segment 0 (62 to a segment), 63.. roll into segment 1; that batch is
    // torn inside segment 1's first block, and after the restart raft
    // replaces the uncommitted tail from 60 on (a new leader's entries).
    for keep in [512usize, 1024] {
        let dev = FaultyDevice::new();
        let (mut w, _) = open(&dev).unwrap();
        w.persist(&[persist(1, entries(1, 62, 1, 1000))]).unwrap();
        while w.prepare_next().unwrap() {}
        dev.fail_next_write(WriteFault::Torn { keep_bytes: keep });
        assert!(w.persist(&[persist(2, entries(63, 64, 1, 5000))]).is_err());
        drop(w);
        dev.crash();
        let (mut w, r) = open(&dev).unwrap();
        assert_eq!(r.last_index, 62, "keep {keep}");
        w.persist(&[persist(3, entries(60, 66, 2, 50))]).unwrap();
        drop(w);
        dev.crash();
        let (_, r) = open(&dev).unwrap_or_else(|e| panic!("keep {keep}: reopen: {e}"));
        let mut expected = entries(1, 59, 1, 1000);
        expected.extend(entries(60, 66, 2, 50));
        assert_eq!(r.entries, expected, "keep {keep}");
    }
}
