//! Executors, core placement and the wiring between cores.
//!
//! Shape (docs/architecture.md): N client-shard executors (`shards`),
//! each pinned to a core and accepting on the client port with
//! SO_REUSEPORT; one consensus executor ([`driver`]) that owns the write
//! pipeline and sessions (a standalone core or an ensemble member, and for
//! a member the peer transport); the log core (io_uring group commit) and
//! the snapshotter ([`snapshotter`]) on their own core. Each shard talks to
//! the consensus executor over one bounded channel and hears back over one
//! FIFO channel. Standalone and ensemble servers differ only in how the
//! pipeline is built from what is on disk (`standalone`, `ensemble`).

pub mod driver;
mod ensemble;
pub mod executor;
pub mod liveness;
pub mod placement;
mod shards;
pub mod snapshotter;
mod standalone;
pub mod storage;

use crate::config::Config;
use crate::consensus::CoreConfig;
use crate::messages::{ToConsensus, ToShard};
use crate::ops::write::OpsConfig;
use crate::tree::DataTree;
use crate::wal::{LogCommand, LogEvent};
use anyhow::{bail, Context};
use driver::Channels;
use executor::spawn_executor;
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use glommio::{ExecutorJoinHandle, Placement};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use ensemble::persist_command;

/// Messages a shard may queue to the core before its sends wait (and its
/// connections stop being read): the back-pressure bound of the write path.
pub const SHARD_TO_CORE_QUEUE_MAX: usize = 4096;
/// Messages the core may queue to one shard's channel.
pub const CORE_TO_SHARD_QUEUE_MAX: usize = 16384;
/// Log commands (batches) queued from the consensus core to the log core.
pub const LOG_COMMAND_QUEUE_MAX: usize = 1024;
/// Durable-watermark events queued from the log core.
pub const LOG_EVENT_QUEUE_MAX: usize = 1024;
/// The latency the consensus executor's control queue asks for: its timer
/// ticks and peer traffic (heartbeats, votes, appends) run at most about
/// this long after they are due, however many client requests are queued
/// (glommio switches queues at the next task boundary once it is past).
pub const CONTROL_LATENCY: Duration = Duration::from_millis(2);
/// The control queue's share of the consensus executor when both it and
/// the client requests' queue have work (the default queue has 1000).
pub const CONTROL_SHARES: usize = 1000;
/// The consensus executor's thread runs at this nice value (as root): on a
/// host where it shares a core with a client shard, the OS scheduler then
/// favours it, so heartbeats and ticks are not held behind a busy shard.
pub const CONSENSUS_NICE: i32 = -5;

/// Snapshot jobs queued to the snapshotter (the core has at most one of
/// its own in flight, plus received snapshots).
pub const SNAPSHOT_JOB_QUEUE_MAX: usize = 1;

/// Runs the server until the process is killed. Returns only on start-up errors.
pub fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    raise_memlock_limit();
    raise_descriptor_limit(config.connections_max);
    let plan = placement::plan(&config)?;
    tracing::info!(
        shards = plan.shard_cpus.len(),
        shard_cpus = ?plan.shard_cpus,
        consensus_cpu = ?plan.consensus_cpu,
        "core placement"
    );
    let addr = resolve_client_address(&config)?;
    // SO_REUSEPORT would let a second server share the port silently: check
    // with a plain bind first so "address in use" is a clear error.
    probe_client_port(addr)?;
    let auth = Arc::new(
        crate::auth::settings_from_config(&config).context("loading authentication settings")?,
    );
    let started_at_ms = crate::clock::now_ms();
    for dir in [&config.data_dir, &config.data_log_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let snapshot_dir = storage::snapshot_dir(&config);
    std::fs::create_dir_all(&snapshot_dir)
        .with_context(|| format!("creating {}", snapshot_dir.display()))?;

    let shard_count = plan.shard_cpus.len();
    let wiring = Wiring::new(shard_count);
    let (log_core, consensus, initial_tree) = if config.is_standalone() {
        standalone::start(&config, &plan, wiring.core_side)?
    } else {
        ensemble::start(&config, &plan, wiring.core_side)?
    };
    let retain = config.autopurge_snap_retain_count.max(3) as usize;
    let snapshotter = spawn_executor("roost-snapshot", placement_of(plan.log_cpu), move || {
        snapshotter::run(
            snapshot_dir,
            retain,
            wiring.snapshot_jobs,
            wiring.snapshot_done,
        )
    })
    .map_err(|e| anyhow::anyhow!("starting the snapshotter: {e}"))?;
    let shards = shards::spawn_shards(
        &config,
        &plan,
        addr,
        &auth,
        started_at_ms,
        &initial_tree,
        wiring.to_core,
        wiring.from_core,
    )?;
    tracing::info!(
        %addr,
        mode = if config.is_standalone() { "standalone" } else { "ensemble member" },
        "roost serving"
    );
    join_executors(
        shards,
        [
            ("consensus", consensus),
            ("log", log_core),
            ("snapshotter", snapshotter),
        ],
    )
}

/// Every channel between the cores: the shards' ends, the snapshotter's,
/// and the consensus core's ([`Channels`], with the log core's ends).
struct Wiring {
    to_core: Vec<SharedSender<ToConsensus>>,
    from_core: Vec<SharedReceiver<ToShard>>,
    snapshot_jobs: SharedReceiver<snapshotter::SnapshotJob>,
    snapshot_done: SharedSender<snapshotter::SnapshotDone>,
    core_side: CoreSide,
}

/// The consensus core's channels, and the log core's ends of its own.
/// A value: made at start-up, split between the consensus and log executors; no executor owns it.
pub(crate) struct CoreSide {
    pub channels: Channels,
    pub log_commands: SharedReceiver<LogCommand>,
    pub log_events: SharedSender<LogEvent>,
}

impl Wiring {
    fn new(shard_count: usize) -> Wiring {
        let mut to_core = Vec::new();
        let mut from_shards = Vec::new();
        let mut to_shards = Vec::new();
        let mut from_core = Vec::new();
        for _ in 0..shard_count {
            let (tx, rx) = shared_channel::new_bounded(SHARD_TO_CORE_QUEUE_MAX);
            to_core.push(tx);
            from_shards.push(rx);
            let (tx, rx) = shared_channel::new_bounded(CORE_TO_SHARD_QUEUE_MAX);
            to_shards.push(tx);
            from_core.push(rx);
        }
        let (log_commands_tx, log_commands) = shared_channel::new_bounded(LOG_COMMAND_QUEUE_MAX);
        let (log_events, log_events_rx) = shared_channel::new_bounded(LOG_EVENT_QUEUE_MAX);
        let (snapshot_jobs_tx, snapshot_jobs) = shared_channel::new_bounded(SNAPSHOT_JOB_QUEUE_MAX);
        let (snapshot_done, snapshot_done_rx) = shared_channel::new_bounded(SNAPSHOT_JOB_QUEUE_MAX);
        Wiring {
            to_core,
            from_core,
            snapshot_jobs,
            snapshot_done,
            core_side: CoreSide {
                channels: Channels {
                    from_shards,
                    to_shards,
                    log_commands: log_commands_tx,
                    log_events: log_events_rx,
                    snapshot_jobs: snapshot_jobs_tx,
                    snapshot_done: snapshot_done_rx,
                },
                log_commands,
                log_events,
            },
        }
    }
}

/// The settings of the pipeline, from the configuration.
pub(crate) fn core_config(config: &Config, password_secret: [u8; 32]) -> CoreConfig {
    CoreConfig {
        server_id: config.server_id() as u8,
        tick_ms: config.tick_time_ms as i64,
        min_session_timeout_ms: config.session_timeout_ms_min as i32,
        max_session_timeout_ms: config.session_timeout_ms_max as i32,
        ops: OpsConfig {
            extended_types_enabled: config.extended_types_enabled,
            skip_acl: config.skip_acl,
            reconfig_enabled: config.reconfig_enabled,
            digest_disabled: !config.auth.digest_enabled,
        },
        container_check_interval_ms: config.containers.check_interval_ms as i64,
        container_max_per_minute: config.containers.deletions_per_minute_max as usize,
        container_max_never_used_interval_ms: config.containers.never_used_interval_ms as i64,
        snap_count: config.snap_count,
        password_secret,
    }
}

fn resolve_client_address(config: &Config) -> anyhow::Result<std::net::SocketAddr> {
    use std::net::ToSocketAddrs;
    let host = config.client_port_address.as_str();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, config.client_port)
        .to_socket_addrs()
        .with_context(|| format!("clientPortAddress {host:?} does not resolve"))?
        .next()
        .with_context(|| format!("clientPortAddress {host:?} has no address"))
}

/// How long start-up waits for the client port to be released by a server
/// that just died: a killed process's io_uring is torn down asynchronously
/// and holds its listening socket for a few tens of milliseconds.
const CLIENT_PORT_RELEASE_WAIT_MS: u64 = 3000;

/// Fails clearly if another server listens on `addr`. The shards bind with
/// SO_REUSEPORT, which would let a second server share the port silently, so
/// this probe binds without it.
fn probe_client_port(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_millis(CLIENT_PORT_RELEASE_WAIT_MS);
    loop {
        match std::net::TcpListener::bind(addr) {
            Ok(_) => return Ok(()),
            Err(e)
                if e.kind() == std::io::ErrorKind::AddrInUse
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => return Err(e).with_context(|| format!("cannot listen on {addr}")),
        }
    }
}

fn placement_of(cpu: Option<usize>) -> Placement {
    match cpu {
        Some(c) => Placement::Fixed(c),
        None => Placement::Unbound,
    }
}

/// Sets the calling thread's nice value (best effort: without the right to
/// it, the thread keeps its priority and a debug line says so).
fn raise_thread_priority(nice: i32) {
    // SAFETY: gettid has no arguments; setpriority takes plain integers.
    let rc = unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, nice)
    };
    if rc != 0 {
        tracing::debug!(nice, "could not raise the consensus thread's priority");
    }
}

/// Descriptors a server needs besides its client connections: log segments,
/// snapshots, peer links, listeners, io_uring rings, with room to spare.
const DESCRIPTORS_BESIDES_CLIENTS: u64 = 1024;

/// Every client connection is a descriptor: lifts the soft RLIMIT_NOFILE to
/// fit `roost.maxConnections` (the hard limit too, as root). Where the
/// process may not, says so: accepts past the limit would fail (EMFILE)
/// before the configured cap is reached.
fn raise_descriptor_limit(connections_max: u32) {
    let want = u64::from(connections_max) + DESCRIPTORS_BESIDES_CLIENTS;
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls with valid pointers.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    if limit.rlim_cur >= want {
        return;
    }
    let raised = libc::rlimit {
        rlim_cur: want,
        rlim_max: limit.rlim_max.max(want),
    };
    // SAFETY: as above.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
        return;
    }
    let capped = libc::rlimit {
        rlim_cur: limit.rlim_max,
        rlim_max: limit.rlim_max,
    };
    // SAFETY: as above.
    let got = if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &capped) } == 0 {
        capped.rlim_cur
    } else {
        limit.rlim_cur
    };
    tracing::warn!(
        max_connections = connections_max,
        descriptors = got,
        "the descriptor limit (ulimit -n) is below roost.maxConnections plus {DESCRIPTORS_BESIDES_CLIENTS}: \
         connections past about {} will fail to be accepted; raise the limit or lower roost.maxConnections",
        got.saturating_sub(DESCRIPTORS_BESIDES_CLIENTS)
    );
}

/// io_uring needs locked memory; as root we can lift the default 8 MiB cap.
fn raise_memlock_limit() {
    let limit = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: plain syscall with a valid pointer; failure is harmless.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) };
    if rc != 0 {
        tracing::debug!("could not raise RLIMIT_MEMLOCK; keeping the current limit");
    }
}

/// Starts the log core on `cpu`: `open` opens (recovering) the log there,
/// with the core's io_uring device, and returns the writer plus what start-up
/// needs from recovery; this waits for that, then the core group-commits
/// until the process ends. Standalone and ensemble members differ only in
/// `open`.
fn start_log_core<T: Send + 'static>(
    cpu: Option<usize>,
    open: impl FnOnce(Box<dyn crate::io::LogDevice>) -> anyhow::Result<(crate::wal::LogWriter, T)>
        + Send
        + 'static,
    commands: SharedReceiver<LogCommand>,
    events: SharedSender<LogEvent>,
) -> anyhow::Result<(ExecutorJoinHandle<()>, T)> {
    let (recovery_tx, recovery_rx) = std::sync::mpsc::channel();
    let log_core = spawn_executor("roost-log", placement_of(cpu), move || async move {
        let opened = crate::io::UringDevice::new(crate::io::DirectMode::Auto)
            .context("creating the log's io_uring")
            .and_then(|device| open(Box::new(device)));
        let writer = match opened {
            Ok((writer, recovered)) => {
                let _ = recovery_tx.send(Ok(recovered));
                writer
            }
            Err(e) => {
                let _ = recovery_tx.send(Err(e));
                return;
            }
        };
        let commands = commands.connect().await;
        let events = events.connect().await;
        crate::wal::run_log_core(writer, commands, events).await;
    })
    .map_err(|e| anyhow::anyhow!("starting the log executor: {e}"))?;
    match recovery_rx.recv() {
        Ok(Ok(recovered)) => Ok((log_core, recovered)),
        Ok(Err(e)) => Err(e),
        Err(_) => bail!("the log executor stopped during recovery"),
    }
}

/// Starts the consensus executor: `build` makes the pipeline there (with
/// its first step and, for a member, its peer transport), whose published
/// tree this returns once it exists; then [`driver::run`] runs it.
fn start_consensus<P: driver::Pipeline + 'static>(
    cpu: Option<usize>,
    tick_interval: Duration,
    channels: Channels,
    build: impl FnOnce() -> anyhow::Result<(P, driver::Started)> + Send + 'static,
) -> anyhow::Result<(ExecutorJoinHandle<()>, Arc<DataTree>)> {
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let consensus = spawn_executor("roost-consensus", placement_of(cpu), move || async move {
        raise_thread_priority(CONSENSUS_NICE);
        let control = glommio::executor().create_task_queue(
            glommio::Shares::Static(CONTROL_SHARES),
            glommio::Latency::Matters(CONTROL_LATENCY),
            "roost-control",
        );
        // Built inside the control queue: what it spawns (the peer
        // transport's tasks) runs there too.
        let built = glommio::spawn_local_into(async move { build() }, control)
            .expect("the control task queue exists")
            .await;
        let (pipeline, started) = match built {
            Ok(built) => built,
            Err(e) => {
                let _ = ready_tx.send(Err(e));
                return;
            }
        };
        let _ = ready_tx.send(Ok(started.published.clone()));
        driver::run(pipeline, started, channels, tick_interval, control).await;
    })
    .map_err(|e| anyhow::anyhow!("starting the consensus executor: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(tree)) => Ok((consensus, tree)),
        Ok(Err(e)) => Err(e),
        Err(_) => bail!("the consensus executor stopped during start-up"),
    }
}

/// Waits for the shards, then the other executors (they run until the
/// process is killed; a return is a failure to report).
fn join_executors(
    shards: Vec<ExecutorJoinHandle<anyhow::Result<()>>>,
    others: [(&str, ExecutorJoinHandle<()>); 3],
) -> anyhow::Result<()> {
    for handle in shards {
        handle
            .join()
            .map_err(|e| anyhow::anyhow!("client shard failed: {e:?}"))??;
    }
    for (name, handle) in others {
        handle
            .join()
            .map_err(|e| anyhow::anyhow!("{name} executor failed: {e:?}"))?;
    }
    Ok(())
}
