//! The snapshotter executor (on the log core's CPU): writes snapshots from
//! immutable tree versions, so the apply path never waits, purges old ones,
//! and writes the snapshots an ensemble member receives from its leader.
//! One job at a time, so a purge never runs beside a write of this process.
//!
//! Owned by the snapshotter executor; the files' format and the write
//! sequence belong to [`crate::snapshot`].

use crate::consensus::step::{SnapshotOutcome, SnapshotRequest};
use crate::snapshot::SessionRecord;
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use std::path::PathBuf;

/// Consensus core -> snapshotter.
#[derive(Debug)]
pub enum SnapshotJob {
    /// Write this version (then purge to the retained count).
    Write(SnapshotRequest),
    /// A snapshot received from the leader (already verified): write the
    /// file durably under its tree's zxid.
    Received { zxid: i64, bytes: Vec<u8> },
}

/// Snapshotter -> consensus core.
#[derive(Debug)]
pub enum SnapshotDone {
    Written(SnapshotOutcome),
    Received(Result<(), String>),
}

/// Runs jobs until the consensus core hangs up.
pub async fn run(
    dir: PathBuf,
    retain: usize,
    jobs: SharedReceiver<SnapshotJob>,
    done: SharedSender<SnapshotDone>,
) {
    // What a crash left half-written. Before connecting: the consensus core
    // hands out no job until it has connected too.
    match crate::snapshot::remove_temp_files(&dir) {
        Ok(removed) if !removed.is_empty() => {
            tracing::info!(files = ?removed, "removed temp files of interrupted snapshot writes")
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "removing leftover snapshot temp files failed"),
    }
    let jobs = jobs.connect().await;
    let done = done.connect().await;
    while let Some(job) = jobs.recv().await {
        let reply = match job {
            SnapshotJob::Write(request) => SnapshotDone::Written(write(&dir, retain, request)),
            SnapshotJob::Received { zxid, bytes } => {
                let written = crate::snapshot::write_received(&dir, zxid, &bytes);
                match &written {
                    Ok(path) => tracing::info!(
                        path = %path.display(),
                        bytes = bytes.len(),
                        "received snapshot written"
                    ),
                    Err(e) => tracing::error!(error = %e, "writing the received snapshot failed"),
                }
                SnapshotDone::Received(written.map(|_| ()).map_err(|e| e.to_string()))
            }
        };
        if done.send(reply).await.is_err() {
            return;
        }
    }
}

fn write(dir: &std::path::Path, retain: usize, request: SnapshotRequest) -> SnapshotOutcome {
    let sessions: Vec<SessionRecord> = request
        .sessions
        .iter()
        .map(|&(id, timeout_ms)| SessionRecord { id, timeout_ms })
        .collect();
    let meta = match crate::snapshot::write_with_raft(
        dir,
        &request.tree,
        &sessions,
        request.raft.as_ref(),
    ) {
        Ok(meta) => meta,
        Err(e) => {
            tracing::error!(error = %e, "snapshot failed; the log keeps everything");
            return SnapshotOutcome::default();
        }
    };
    tracing::info!(
        path = %meta.path.display(),
        zxid = format!("{:#x}", meta.zxid),
        znodes = meta.nodes,
        bytes = meta.bytes,
        duration_ms = meta.duration_ms,
        "snapshot written"
    );
    if let Err(e) = crate::snapshot::purge(dir, retain) {
        tracing::warn!(error = %e, "snapshot purge failed");
    }
    let listed = crate::snapshot::list(dir).ok();
    let mut outcome = SnapshotOutcome {
        oldest_retained_zxid: listed
            .as_ref()
            .and_then(|l| l.iter().map(|(z, _)| *z).min()),
        ..SnapshotOutcome::default()
    };
    if let Some(point) = meta.raft.clone() {
        // Read back what was written: the bytes a lagging member is sent.
        // The log may be released only below the oldest kept snapshot's
        // raft index (its header says it).
        match std::fs::read(&meta.path) {
            Ok(bytes) => outcome.written = Some((point, bytes)),
            Err(e) => tracing::error!(error = %e, "reading the snapshot back failed"),
        }
        outcome.oldest_retained_raft_index = listed
            .as_ref()
            .and_then(|l| l.first())
            .and_then(|(_, path)| crate::snapshot::read_header(path).ok())
            .map(|h| h.raft_index)
            .filter(|&i| i > 0);
    }
    outcome
}
