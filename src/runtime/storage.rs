//! Start-up recovery and the storage layout on disk.
//!
//! Layout (names are Roost's own; ZooKeeper's `version-2` files are not read):
//! - `dataLogDir/roost-wal/`     log segments (format: [`crate::wal::record`])
//! - `dataDir/roost-snapshots/`  snapshots (format: [`crate::snapshot::format`])
//! - `dataDir/roost-secret`      32 random bytes keying session passwords, so
//!   a session re-attaches with the same password after a restart
//!
//! Recovery = newest valid snapshot + every log record after it, applied by
//! [`Committed::apply`], as an ensemble member applies committed entries.

use crate::consensus::committed::Committed;
use crate::proto::Zxid;
use crate::tree::DataTree;
use crate::wal::LogRecord;
use anyhow::{bail, Context};
use std::io::Write;
use std::path::{Path, PathBuf};

pub fn wal_dir(config: &crate::config::Config) -> PathBuf {
    config.data_log_dir.join("roost-wal")
}

pub fn snapshot_dir(config: &crate::config::Config) -> PathBuf {
    config.data_dir.join("roost-snapshots")
}

const SECRET_FILE: &str = "roost-secret";
const SECRET_BYTES: usize = 32;

/// Reads the session-password secret, creating it (durably) on first start.
pub fn load_or_create_secret(data_dir: &Path) -> anyhow::Result<[u8; SECRET_BYTES]> {
    let path = data_dir.join(SECRET_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => {
            let secret: [u8; SECRET_BYTES] = bytes.as_slice().try_into().with_context(|| {
                format!("{} must hold exactly {SECRET_BYTES} bytes", path.display())
            })?;
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret: [u8; SECRET_BYTES] = rand::random();
            let tmp = data_dir.join(format!("{SECRET_FILE}.tmp"));
            let mut f = std::fs::File::create(&tmp)
                .with_context(|| format!("creating {}", tmp.display()))?;
            f.write_all(&secret)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(secret)
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Rebuilds the state: the newest valid snapshot, then the log after it.
pub fn recover(
    snapshot_dir: &Path,
    records: Vec<LogRecord>,
) -> anyhow::Result<(Committed, RecoveryReport)> {
    let started = std::time::Instant::now();
    let loaded =
        crate::snapshot::load_newest(snapshot_dir).context("loading the newest snapshot")?;
    let (mut state, snapshot) = match loaded {
        Some(l) => {
            let sessions: Vec<(i64, i32)> =
                l.sessions.iter().map(|s| (s.id, s.timeout_ms)).collect();
            (Committed::new(l.tree, sessions), Some((l.path, l.zxid)))
        }
        None => (Committed::new(DataTree::new(), []), None),
    };
    let snapshot_zxid = snapshot.as_ref().map_or(0, |(_, z)| *z);
    let mut replayed = 0u64;
    let mut expected_next: Option<Zxid> = None;
    for record in records.into_iter().filter(|r| r.zxid > snapshot_zxid) {
        // The log must continue the snapshot without a hole: a gap means
        // acknowledged transactions are missing.
        if expected_next.is_none()
            && snapshot.is_some()
            && record.zxid != snapshot_zxid + 1
            && !is_epoch_start(record.zxid)
        {
            bail!(
                "the log resumes at zxid {:#x} but the snapshot ends at {:#x}: transactions in between are missing",
                record.zxid,
                snapshot_zxid
            );
        }
        if let Some(next) = expected_next {
            if record.zxid != next && !is_epoch_start(record.zxid) {
                bail!(
                    "the log skips from zxid {:#x} to {:#x}",
                    next - 1,
                    record.zxid
                );
            }
        }
        expected_next = Some(record.zxid + 1);
        state.apply(record.zxid, record.time_ms, &record.txn, None);
        replayed += 1;
    }
    let report = RecoveryReport {
        snapshot,
        replayed,
        last_zxid: state.zxid(),
        nodes: state.tree().nodes.len(),
        sessions: state.sessions().len(),
        duration_ms: started.elapsed().as_millis() as u64,
    };
    Ok((state, report))
}

/// A raft term change starts a new epoch at counter 1.
fn is_epoch_start(zxid: Zxid) -> bool {
    zxid & 0xffff_ffff == 1
}

/// What start-up did, for the log line operators read.
/// A value: built on the main thread at start-up, for a log line; no executor owns it.
#[derive(Debug)]
pub struct RecoveryReport {
    pub snapshot: Option<(PathBuf, Zxid)>,
    pub replayed: u64,
    pub last_zxid: Zxid,
    pub nodes: usize,
    pub sessions: usize,
    pub duration_ms: u64,
}
