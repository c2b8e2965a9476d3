//! Builds a [`ServerView`] from what every shard and the consensus core
//! reported, then renders the word. Runs on the shard that got the word.

use super::text::{java_double, round4};
use super::view::*;
use crate::config::Config;
use crate::messages::{CoreReport, ShardReport};
use crate::probe::host::HostFacts;
use crate::probe::ServerProbe;
use std::collections::{BTreeMap, BTreeSet};

/// What rendering needs besides the reports: the configuration, the
/// clocks and the host's facts, read by the caller (this module does no
/// I/O and reads no clock).
pub struct Context<'a> {
    pub config: &'a Config,
    /// When the server started (wall ms), for the uptime.
    pub started_at_ms: i64,
    pub now_mono_ms: i64,
    pub now_wall_ms: i64,
    pub host: HostFacts,
}

/// Renders `word` from the gathered reports.
pub fn render_gathered(
    word: &str,
    ctx: &Context<'_>,
    reports: &[ShardReport],
    core: &CoreReport,
) -> String {
    super::render(word, &server_view(ctx, reports, core))
}

pub fn server_view(ctx: &Context<'_>, reports: &[ShardReport], core: &CoreReport) -> ServerView {
    let config = ctx.config;
    let server = ServerProbe::merged(reports.iter().map(|r| &r.probe));
    let mut data_watches: BTreeMap<i64, BTreeSet<String>> = BTreeMap::new();
    for report in reports {
        for (session, paths) in &report.data_watches_by_session {
            data_watches
                .entry(*session)
                .or_default()
                .extend(paths.iter().cloned());
        }
    }
    let ephemerals: BTreeMap<i64, &Vec<String>> = core
        .ephemerals_by_session
        .iter()
        .map(|(s, p)| (*s, p))
        .collect();
    let (now_mono, now_wall) = (ctx.now_mono_ms, ctx.now_wall_ms);
    let sessions = core
        .sessions
        .iter()
        .map(|(id, timeout_ms, expires_mono)| SessionView {
            session_id: *id,
            timeout_ms: *timeout_ms as u32,
            // Deadlines are monotonic; show them on the wall clock.
            expire_at_ms: (now_wall + (expires_mono - now_mono)).max(0) as u64,
            ephemerals: ephemerals.get(id).map(|p| (*p).clone()).unwrap_or_default(),
        })
        .collect();
    let mut env = EnvView::for_roost(ZK_COMPAT_VERSION, env!("CARGO_PKG_VERSION"));
    env.zookeeper_version = version_string(env!("CARGO_PKG_VERSION"), env!("ROOST_BUILD_DATE"));
    let host = &ctx.host;
    env.host_name = host.host_name.clone();
    env.os_version = host.os_version.clone();
    env.user_name = host.user_name.clone();
    env.user_home = host.user_home.clone();
    env.user_dir = host.user_dir.clone();
    let (fds_open, fds_max) = (host.fds_open, host.fds_max);
    let mut extra_metrics = vec![
        ("roost_client_shards".to_string(), reports.len().to_string()),
        (
            "roost_log_failed".to_string(),
            (core.log_failure.is_some() as u8).to_string(),
        ),
    ];
    extra_metrics.extend(
        core.ticks
            .metrics()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v)),
    );
    extra_metrics.extend(
        core.log_metrics
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone())),
    );
    if let Some(stats) = &core.log_stats {
        extra_metrics.extend(log_metrics(stats));
    }
    if let Some(reason) = &core.log_failure {
        extra_metrics.push(("roost_log_failure".to_string(), reason.clone()));
    }
    let mode = match &core.ensemble {
        None => Mode::Standalone,
        Some(e) => {
            let metric = |k: &str, v: String| (k.to_string(), v);
            extra_metrics.push(metric("roost_raft_term", e.term.to_string()));
            extra_metrics.push(metric("roost_raft_leader", e.leader.to_string()));
            extra_metrics.push(metric(
                "roost_raft_commit_index",
                e.commit_index.to_string(),
            ));
            extra_metrics.push(metric(
                "roost_raft_applied_index",
                e.applied_index.to_string(),
            ));
            // Batching of syncs and linearizable reads: barriers / rounds.
            extra_metrics.push(metric("roost_read_index_rounds", e.read_rounds.to_string()));
            extra_metrics.push(metric("roost_read_barriers", e.read_barriers.to_string()));
            extra_metrics.push(metric("roost_lease_renewals", e.lease_renewals.to_string()));
            extra_metrics.push(metric("roost_lease_reads", e.lease_reads.to_string()));
            if e.role == "leader" {
                // ZooKeeper's leader-only keys, then the lag of each member.
                let voters = e.voters.len().saturating_sub(1);
                let synced = e.followers.iter().filter(|f| f.2 == 0).count();
                extra_metrics.push(metric("zk_learners", e.followers.len().to_string()));
                extra_metrics.push(metric(
                    "zk_synced_followers",
                    synced.min(voters).to_string(),
                ));
                extra_metrics.push(metric("zk_followers", e.followers.len().to_string()));
                for (id, matched, lag) in &e.followers {
                    extra_metrics.push(metric(
                        &format!("roost_follower_{id}_match_index"),
                        matched.to_string(),
                    ));
                    extra_metrics
                        .push(metric(&format!("roost_follower_{id}_lag"), lag.to_string()));
                }
            }
            match e.role {
                "leader" => Mode::Leader,
                "observer" => Mode::Observer,
                _ => Mode::Follower,
            }
        }
    };
    ServerView {
        version: version_string(env!("CARGO_PKG_VERSION"), env!("ROOST_BUILD_DATE")),
        mode,
        zxid: core.last_zxid,
        node_count: core.node_count as u64,
        connections: reports
            .iter()
            .flat_map(|r| r.connections.iter().cloned())
            .collect(),
        server,
        watches: WatchView { data_watches },
        watch_count_total: reports.iter().map(|r| r.watch_count as u64).sum(),
        global_sessions: core.sessions.len() as u64,
        sessions,
        conf: ConfView::from_config(config),
        env,
        data_dir_size: 0,
        log_dir_size: 0,
        ephemerals_count: core.ephemerals_count as u64,
        approximate_data_size: core.approximate_data_size.max(0) as u64,
        open_file_descriptor_count: fds_open,
        max_file_descriptor_count: fds_max,
        uptime_ms: (now_wall - ctx.started_at_ms).max(0) as u64,
        extra_metrics,
        ..ServerView::default()
    }
}

/// The log core's counters: Roost's `roost_log_*`, and ZooKeeper's log-sync
/// summary under its own names (milliseconds; the average as ZooKeeper
/// prints a summary's, a double rounded to 4 places), so a dashboard or
/// alert built on ZooKeeper's `zk_*_fsynctime` and
/// `zk_fsync_threshold_exceed_count` reads Roost's disk the same way.
pub fn log_metrics(stats: &crate::wal::WalStats) -> Vec<(String, String)> {
    let ms = |us: u64| (us / 1000).to_string();
    let avg_ms = if stats.syncs_timed == 0 {
        0.0
    } else {
        stats.sync_us_sum as f64 / stats.syncs_timed as f64 / 1000.0
    };
    let mut out: Vec<(String, String)> = stats
        .roost_metrics()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    out.extend([
        ("zk_avg_fsynctime".to_string(), java_double(round4(avg_ms))),
        ("zk_min_fsynctime".to_string(), ms(stats.sync_us_min)),
        ("zk_max_fsynctime".to_string(), ms(stats.sync_us_max)),
        (
            "zk_cnt_fsynctime".to_string(),
            stats.syncs_timed.to_string(),
        ),
        ("zk_sum_fsynctime".to_string(), ms(stats.sync_us_sum)),
        (
            "zk_fsync_threshold_exceed_count".to_string(),
            stats.slow_syncs.to_string(),
        ),
    ]);
    out
}
