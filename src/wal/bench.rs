//! Micro-benchmark of the commit path: fdatasync vs O_DSYNC, batch sizes.
//!
//! Ignored by default (it syncs tens of thousands of times). Run with:
//!
//! ```text
//! CARGO_TARGET_DIR=/work/target-helpers cargo test --release --lib wal_sync_bench -- --ignored --nocapture
//! ```
//!
//! `ROOST_BENCH_RECORDS` (default 20000) and `ROOST_BENCH_DIR` (default the
//! temp dir) override the record count and the filesystem measured.

use super::{LogRecord, LogWriter, SyncMode, WalConfig};
use crate::io::{DirectMode, UringDevice};
use crate::ops::txn::Txn;
use std::sync::Arc;
use std::time::Instant;

fn record(zxid: i64) -> LogRecord {
    // A ~100-byte body: a setData of 80 bytes on a short path.
    LogRecord {
        zxid,
        term: 1,
        time_ms: 0,
        txn: Txn::SetData {
            path: Arc::from("/bench/node"),
            data: Some(Arc::from(vec![7u8; 80])),
            new_version: zxid as i32,
        },
    }
}

struct Run {
    records_per_s: f64,
    batches_per_s: f64,
    p50_us: f64,
    p99_us: f64,
}

fn run_once(base: &std::path::Path, mode: SyncMode, batch: i64, records: i64) -> Run {
    let dir = base.join(format!(
        "roost-wal-bench-{}-{mode:?}-{batch}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let cfg = WalConfig {
        segment_bytes: 64 << 20,
        sync_mode: mode,
    };
    let dev = Box::new(UringDevice::new(DirectMode::Auto).unwrap());
    // Opening prepares (fallocates and zero-fills) the first segment: not timed.
    let (mut w, _) = LogWriter::open(&dir, cfg, dev).unwrap();
    let all: Vec<LogRecord> = (1..=records).map(record).collect();
    let mut lat_us = Vec::with_capacity((records / batch) as usize + 1);
    let start = Instant::now();
    for chunk in all.chunks(batch as usize) {
        let t = Instant::now();
        w.append_batch(chunk).unwrap();
        lat_us.push(t.elapsed().as_secs_f64() * 1e6);
    }
    let secs = start.elapsed().as_secs_f64();
    lat_us.sort_by(f64::total_cmp);
    let pct = |p: f64| lat_us[((lat_us.len() - 1) as f64 * p) as usize];
    let run = Run {
        records_per_s: records as f64 / secs,
        batches_per_s: lat_us.len() as f64 / secs,
        p50_us: pct(0.5),
        p99_us: pct(0.99),
    };
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
    run
}

#[test]
#[ignore]
fn wal_sync_bench() {
    let env = |k: &str, d: i64| {
        std::env::var(k)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(d)
    };
    let records = env("ROOST_BENCH_RECORDS", 20_000);
    let rounds = env("ROOST_BENCH_ROUNDS", 3) as usize;
    let base = std::env::var("ROOST_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    println!("records={records} rounds={rounds} dir={}", base.display());
    let modes = [SyncMode::Fdatasync, SyncMode::ODsync];
    let batches = [1i64, 8, 64];
    // Modes interleaved within each round so that drift of the device
    // (virtualised disks vary a lot) hits both alike; medians reported.
    let mut runs: Vec<Vec<Run>> = (0..modes.len() * batches.len())
        .map(|_| Vec::new())
        .collect();
    for _ in 0..rounds {
        for (bi, &batch) in batches.iter().enumerate() {
            for (mi, &mode) in modes.iter().enumerate() {
                runs[bi * modes.len() + mi].push(run_once(&base, mode, batch, records));
            }
        }
    }
    println!(
        "mode       batch  records/s  batches/s   p50_us   p99_us   (medians of {rounds} rounds)"
    );
    for (bi, &batch) in batches.iter().enumerate() {
        for (mi, &mode) in modes.iter().enumerate() {
            let rs = &runs[bi * modes.len() + mi];
            let med = |f: fn(&Run) -> f64| {
                let mut v: Vec<f64> = rs.iter().map(f).collect();
                v.sort_by(f64::total_cmp);
                v[v.len() / 2]
            };
            println!(
                "{:<10} {:>5} {:>10.0} {:>10.0} {:>8.0} {:>8.0}",
                format!("{mode:?}"),
                batch,
                med(|r| r.records_per_s),
                med(|r| r.batches_per_s),
                med(|r| r.p50_us),
                med(|r| r.p99_us),
            );
        }
    }
}
