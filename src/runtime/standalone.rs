//! Start-up of a standalone server: the log core opens (and recovers) the
//! transaction log, the tree and sessions are rebuilt from the newest
//! snapshot plus the log after it, and the consensus executor runs a
//! [`Standalone`] core over the durable log.

use super::driver::{self, Started};
use super::{core_config, placement, start_consensus, start_log_core, storage, CoreSide};
use crate::config::Config;
use crate::consensus::step::Step;
use crate::consensus::Standalone;
use crate::tree::DataTree;
use crate::wal::DurableLog;
use anyhow::Context;
use glommio::ExecutorJoinHandle;
use std::sync::Arc;
use std::time::Duration;

/// Starts the log core and the consensus executor; returns them and the
/// tree shards start from.
pub(super) fn start(
    config: &Config,
    plan: &placement::PlacementPlan,
    side: CoreSide,
) -> anyhow::Result<(
    ExecutorJoinHandle<()>,
    ExecutorJoinHandle<()>,
    Arc<DataTree>,
)> {
    let secret = storage::load_or_create_secret(&config.data_dir)?;
    // From here to the "recovered" line is the whole start-up cost of the
    // data: opening and scanning the log, loading the snapshot, replay.
    let recovery_started = std::time::Instant::now();
    let wal_dir = storage::wal_dir(config);
    let wal_config = config.wal_config();
    let (log_core, (records, wal_probe)) = start_log_core(
        plan.log_cpu,
        move |device| {
            let (writer, recovery) = crate::wal::LogWriter::open(&wal_dir, wal_config, device)
                .with_context(|| format!("opening the transaction log in {}", wal_dir.display()))?;
            let probe = writer.probe();
            Ok((writer, (recovery.records, probe)))
        },
        side.log_commands,
        side.log_events,
    )?;
    let (recovered, report) = storage::recover(&storage::snapshot_dir(config), records)?;
    tracing::info!(
        snapshot = ?report.snapshot.as_ref().map(|(p, _)| p.display().to_string()),
        replayed = report.replayed,
        last_zxid = format!("{:#x}", report.last_zxid),
        znodes = report.nodes,
        sessions = report.sessions,
        replay_ms = report.duration_ms,
        total_ms = recovery_started.elapsed().as_millis() as u64,
        "recovered"
    );
    let core_config = core_config(config, secret);
    let shard_count = plan.shard_cpus.len();
    // Session expiry is tick-aligned: look a few times per tick.
    let tick_interval = Duration::from_millis((config.tick_time_ms as u64 / 4).clamp(5, 100));
    let seed = rand::random();
    let (consensus, published) = start_consensus(
        plan.consensus_cpu,
        tick_interval,
        side.channels,
        move || {
            let mut log = DurableLog::new(recovered.zxid());
            log.set_probe(wal_probe);
            let core = Standalone::new(
                core_config,
                log,
                recovered,
                driver::now(),
                seed,
                shard_count,
            );
            let started = Started {
                published: core.published(),
                step: Step::default(),
                peers: None,
            };
            Ok((core, started))
        },
    )?;
    Ok((log_core, consensus, published))
}
