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
        txn: Txn::SetData {
            path: Arc::from("/bench/node"),
            data: Some(Arc::from(vec![7u8; 80])),
            new_version: zxid as i32,
        },
    }
}

#[test]
#[ignore]
fn wal_sync_bench() {
    let records: i64 = std::env::var("ROOST_BENCH_RECORDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let base = std::env::var("ROOST_BENCH_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::env::temp_dir());
    println!("records={records} dir={}", base.display());
    println!("mode       batch  records/s  batches/s  mean_batch_us  p50_us  p99_us  max_us");
    for mode in [SyncMode::Fdatasync, SyncMode::ODsync] {
        for batch in [1i64, 8, 64] {
            let dir = base.join(format!("roost-wal-bench-{}-{mode:?}-{batch}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let cfg = WalConfig {
                segment_bytes: 64 << 20,
                sync_mode: mode,
            };
            let dev = Box::new(UringDevice::new(DirectMode::Auto).unwrap());
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
            println!(
                "{:<10} {:>5} {:>10.0} {:>10.0} {:>14.1} {:>7.0} {:>7.0} {:>7.0}",
                format!("{mode:?}"),
                batch,
                records as f64 / secs,
                lat_us.len() as f64 / secs,
                secs * 1e6 / lat_us.len() as f64,
                pct(0.5),
                pct(0.99),
                pct(1.0)
            );
            drop(w);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}
