//! Executors, core placement and the wiring between cores.
//!
//! Shape (docs/architecture.md): N client-shard executors, each pinned to a
//! core and accepting on the client port with SO_REUSEPORT; one consensus
//! executor that owns the write pipeline and sessions. Each shard talks to
//! the core over one bounded channel and hears back over one FIFO channel.

mod ensemble;
pub mod executor;
pub mod placement;
pub mod storage;

use crate::clock;
use crate::config::Config;
use crate::consensus::core::Output;
use crate::consensus::core::Recovered;
use crate::consensus::{Core, CoreConfig};
use crate::messages::{ToConsensus, ToShard};
use crate::net::{conn, Shard, ShardSettings};
use crate::ops::write::OpsConfig;
use crate::proto::{SessionId, Zxid};
use crate::snapshot::SessionRecord;
use crate::tree::DataTree;
use crate::wal::{DurableLog, LogCommand, LogEvent, WalProbe};
use anyhow::{bail, Context};
use executor::spawn_executor;
use glommio::channels::local_channel;
use glommio::channels::shared_channel::{self, ConnectedSender, SharedReceiver, SharedSender};
use glommio::Placement;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Messages a shard may queue to the core before its sends wait (and its
/// connections stop being read): the back-pressure bound of the write path.
pub const SHARD_TO_CORE_QUEUE_MAX: usize = 4096;
/// Messages the core may queue to one shard's channel.
pub const CORE_TO_SHARD_QUEUE_MAX: usize = 16384;
/// Log commands (batches) queued from the consensus core to the log core.
pub const LOG_COMMAND_QUEUE_MAX: usize = 1024;
/// Durable-watermark events queued from the log core.
pub const LOG_EVENT_QUEUE_MAX: usize = 1024;

/// Runs the server until the process is killed. Returns only on start-up errors.
pub fn run(config: Config) -> anyhow::Result<()> {
    let config = Arc::new(config);
    raise_memlock_limit();
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
    let shard_count = plan.shard_cpus.len();
    let started_at_ms = clock::now_ms();

    let core_config = CoreConfig {
        server_id: config.server_id() as u8,
        tick_ms: config.tick_time_ms as i64,
        min_session_timeout_ms: config.session_timeout_ms_min as i32,
        max_session_timeout_ms: config.session_timeout_ms_max as i32,
        ops: OpsConfig {
            extended_types_enabled: config.extended_types_enabled,
            skip_acl: config.skip_acl,
            reconfig_enabled: config.reconfig_enabled,
        },
        container_check_interval_ms: config.containers.check_interval_ms as i64,
        container_max_per_minute: config.containers.deletions_per_minute_max as usize,
        container_max_never_used_interval_ms: config.containers.never_used_interval_ms as i64,
        snap_count: config.snap_count,
    };
    if !config.is_standalone() {
        return ensemble::run(config, plan, addr, auth, started_at_ms, core_config);
    }

    // Storage: the log core opens (and recovers) the log on its own core and
    // hands the records here; the tree is rebuilt before any client is served.
    for dir in [&config.data_dir, &config.data_log_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let secret = storage::load_or_create_secret(&config.data_dir)?;
    let snapshot_dir = storage::snapshot_dir(&config);
    std::fs::create_dir_all(&snapshot_dir)
        .with_context(|| format!("creating {}", snapshot_dir.display()))?;
    let (log_commands_tx, log_commands_rx) = shared_channel::new_bounded(LOG_COMMAND_QUEUE_MAX);
    let (log_events_tx, log_events_rx) = shared_channel::new_bounded(LOG_EVENT_QUEUE_MAX);
    // From here to the "recovered" line is the whole start-up cost of the
    // data: opening and scanning the log, loading the snapshot, replay.
    let recovery_started = std::time::Instant::now();
    let wal_dir = storage::wal_dir(&config);
    let wal_config = config.wal_config();
    let (log_core, (records, wal_probe)) = start_log_core(
        plan.log_cpu,
        move |device| {
            let (writer, recovery) = crate::wal::LogWriter::open(&wal_dir, wal_config, device)
                .with_context(|| format!("opening the transaction log in {}", wal_dir.display()))?;
            let probe = writer.probe();
            Ok((writer, (recovery.records, probe)))
        },
        log_commands_rx,
        log_events_tx,
    )?;
    let (recovered, report) = storage::recover(&snapshot_dir, records)?;
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
    let initial_tree = Arc::new(recovered.tree.clone());

    let (snap_jobs_tx, snap_jobs_rx) = shared_channel::new_bounded(1);
    let (snap_done_tx, snap_done_rx) = shared_channel::new_bounded(1);
    let retain = config.autopurge_snap_retain_count.max(3) as usize;
    let snapshotter_dir = snapshot_dir.clone();
    let snapshotter = spawn_executor("roost-snapshot", placement_of(plan.log_cpu), move || {
        run_snapshotter(snapshotter_dir, retain, snap_jobs_rx, snap_done_tx)
    })
    .map_err(|e| anyhow::anyhow!("starting the snapshotter: {e}"))?;

    let (to_core_tx, to_core_rx, to_shard_tx, to_shard_rx) = shard_channels(shard_count);

    let consensus = spawn_executor(
        "roost-consensus",
        placement_of(plan.consensus_cpu),
        move || {
            run_consensus(ConsensusWiring {
                config: core_config,
                recovered,
                secret,
                wal_probe,
                inputs: to_core_rx,
                outputs: to_shard_tx,
                log_commands: log_commands_tx,
                log_events: log_events_rx,
                snapshot_jobs: snap_jobs_tx,
                snapshot_done: snap_done_rx,
            })
        },
    )
    .map_err(|e| anyhow::anyhow!("starting the consensus executor: {e}"))?;

    let shards = spawn_shards(
        &config,
        &plan,
        addr,
        &auth,
        started_at_ms,
        &initial_tree,
        to_core_tx,
        to_shard_rx,
    )?;
    tracing::info!(%addr, "roost serving (standalone)");
    join_executors(
        shards,
        [
            ("consensus", consensus),
            ("log", log_core),
            ("snapshotter", snapshotter),
        ],
    )
}

type ShardChannels = (
    Vec<SharedSender<ToConsensus>>,
    Vec<SharedReceiver<ToConsensus>>,
    Vec<SharedSender<ToShard>>,
    Vec<SharedReceiver<ToShard>>,
);

/// One bounded channel each way between every shard and the consensus core.
fn shard_channels(shard_count: usize) -> ShardChannels {
    let mut to_core_rx: Vec<SharedReceiver<ToConsensus>> = Vec::new();
    let mut to_core_tx: Vec<SharedSender<ToConsensus>> = Vec::new();
    let mut to_shard_rx: Vec<SharedReceiver<ToShard>> = Vec::new();
    let mut to_shard_tx: Vec<SharedSender<ToShard>> = Vec::new();
    for _ in 0..shard_count {
        let (tx, rx) = shared_channel::new_bounded(SHARD_TO_CORE_QUEUE_MAX);
        to_core_tx.push(tx);
        to_core_rx.push(rx);
        let (tx, rx) = shared_channel::new_bounded(CORE_TO_SHARD_QUEUE_MAX);
        to_shard_tx.push(tx);
        to_shard_rx.push(rx);
    }
    (to_core_tx, to_core_rx, to_shard_tx, to_shard_rx)
}

/// Starts one client-shard executor per planned CPU.
#[allow(clippy::too_many_arguments)]
fn spawn_shards(
    config: &Arc<Config>,
    plan: &placement::PlacementPlan,
    addr: std::net::SocketAddr,
    auth: &Arc<crate::auth::AuthConfig>,
    started_at_ms: i64,
    initial_tree: &Arc<DataTree>,
    to_core_tx: Vec<SharedSender<ToConsensus>>,
    to_shard_rx: Vec<SharedReceiver<ToShard>>,
) -> anyhow::Result<Vec<glommio::ExecutorJoinHandle<anyhow::Result<()>>>> {
    let mut shards = Vec::new();
    for (i, ((tx, rx), cpu)) in to_core_tx
        .into_iter()
        .zip(to_shard_rx)
        .zip(plan.shard_cpus.iter().copied())
        .enumerate()
    {
        let settings = ShardSettings {
            max_frame_len: config.jute_buffer_bytes_max as usize,
            outstanding_per_connection_max: config.outstanding_per_connection_max as usize,
            outbound_buffer_max: config.outbound_buffer_bytes_max,
            sessionless_connection_timeout_ms: config.sessionless_connection_timeout_ms as u64,
            max_client_connections_per_ip: config.client_connections_per_ip_max,
            skip_acl: config.skip_acl,
            auth: auth.clone(),
            config: config.clone(),
            required_auth_schemes: required_auth_schemes(config),
            started_at_ms,
            read_barriers: config.read_barriers(plan.shard_cpus.len()),
        };
        let tree = initial_tree.clone();
        let ip_counts = ip_counts_shared();
        let backlog = config.client_port_listen_backlog;
        let touch_interval_ms = (config.tick_time_ms as u64 / 2).clamp(10, 200);
        let handle = spawn_executor(
            &format!("roost-shard-{i}"),
            placement_of(Some(cpu)),
            move || {
                run_shard(
                    i,
                    addr,
                    backlog,
                    tree,
                    settings,
                    tx,
                    rx,
                    ip_counts,
                    touch_interval_ms,
                )
            },
        )
        .map_err(|e| anyhow::anyhow!("starting client shard {i}: {e}"))?;
        shards.push(handle);
    }
    Ok(shards)
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

/// ZooKeeper's two ways to demand authentication: `enforce.auth.enabled`
/// with its scheme list, or `sessionRequireClientSASLAuth` (= sasl).
fn required_auth_schemes(config: &Config) -> Vec<String> {
    let auth = &config.auth;
    if auth.enforce_auth_enabled && !auth.enforce_auth_schemes.is_empty() {
        auth.enforce_auth_schemes.clone()
    } else if auth.session_require_client_sasl_auth {
        vec!["sasl".to_string()]
    } else {
        Vec::new()
    }
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

/// The client port's listening socket for one shard. SO_REUSEPORT lets
/// every shard accept on the same port (the kernel spreads connections);
/// SO_REUSEADDR, which glommio's own `bind` does not set, lets a restarted
/// server bind while the previous run's connections sit in TIME_WAIT (Linux
/// allows that only when both the old and the new socket have it, and
/// accepted sockets inherit it from the listener).
fn client_listener(
    addr: std::net::SocketAddr,
    backlog: i32,
) -> std::io::Result<glommio::net::TcpListener> {
    use socket2::{Domain, Protocol, Socket, Type};
    use std::os::fd::{FromRawFd, IntoRawFd};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(if backlog > 0 { backlog } else { 1024 })?;
    // SAFETY: the fd is a listening TCP socket we own; ownership moves to glommio.
    Ok(unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) })
}

fn ip_counts_shared() -> crate::net::shard::IpConnectionCounts {
    static COUNTS: std::sync::OnceLock<crate::net::shard::IpConnectionCounts> =
        std::sync::OnceLock::new();
    COUNTS.get_or_init(Default::default).clone()
}

fn placement_of(cpu: Option<usize>) -> Placement {
    match cpu {
        Some(c) => Placement::Fixed(c),
        None => Placement::Unbound,
    }
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

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    id: usize,
    addr: std::net::SocketAddr,
    backlog: i32,
    tree: Arc<DataTree>,
    settings: ShardSettings,
    to_core: SharedSender<ToConsensus>,
    from_core: SharedReceiver<ToShard>,
    ip_counts: crate::net::shard::IpConnectionCounts,
    touch_interval_ms: u64,
) -> anyhow::Result<()> {
    // `connect` waits for the other end. The core connects all its senders
    // before its receivers, so each shard connects its receiver first.
    let from_core = from_core.connect().await;
    let to_core = Rc::new(to_core.connect().await);
    let shard = Rc::new(RefCell::new(Shard::new(
        id,
        tree,
        Rc::new(settings),
        to_core.clone(),
    )));
    let listener = client_listener(addr, backlog)
        .with_context(|| format!("shard {id}: cannot listen on {addr}"))?;

    // The commit stream: processed strictly in order, never waiting on the core.
    let stream_shard = shard.clone();
    glommio::spawn_local(async move {
        while let Some(msg) = from_core.recv().await {
            Shard::on_message(&stream_shard, msg);
        }
    })
    .detach();

    // Session activity goes to the core in batches, not one message per ping.
    let touch_shard = shard.clone();
    let touch_core = to_core.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(Duration::from_millis(touch_interval_ms)).await;
            let sessions: Vec<_> = touch_shard.borrow_mut().touched.drain().collect();
            if !sessions.is_empty()
                && touch_core
                    .send(ToConsensus::Touch { sessions })
                    .await
                    .is_err()
            {
                return;
            }
        }
    })
    .detach();

    loop {
        match listener.accept().await {
            Ok(stream) => {
                glommio::spawn_local(conn::serve(shard.clone(), stream, ip_counts.clone()))
                    .detach();
            }
            Err(e) => {
                // EMFILE and friends: keep serving the connections we have.
                tracing::warn!(shard = id, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Everything the consensus executor is handed at start.
struct ConsensusWiring {
    config: CoreConfig,
    recovered: Recovered,
    secret: [u8; 32],
    wal_probe: Arc<WalProbe>,
    inputs: Vec<SharedReceiver<ToConsensus>>,
    outputs: Vec<SharedSender<ToShard>>,
    log_commands: SharedSender<LogCommand>,
    log_events: SharedReceiver<LogEvent>,
    snapshot_jobs: SharedSender<SnapshotJob>,
    snapshot_done: SharedReceiver<SnapshotDone>,
}

/// The consensus executor's local plumbing: one outbox per destination,
/// each drained by its own pump task, so everything for a destination is
/// queued synchronously in production order and no two tasks can reorder it.
struct Outboxes {
    shards: Vec<local_channel::LocalSender<ToShard>>,
    log: local_channel::LocalSender<LogCommand>,
    snapshot: local_channel::LocalSender<SnapshotJob>,
}

type LiveCore = Core<DurableLog>;

async fn run_consensus(w: ConsensusWiring) {
    let shard_count = w.outputs.len();
    let tick_interval_ms = (w.config.tick_ms / 4).clamp(5, 100) as u64;
    let last_zxid = w.recovered.tree.last_zxid;
    let core = Rc::new(RefCell::new(Core::from_recovered(
        w.config,
        DurableLog::new(last_zxid),
        w.recovered,
        clock::monotonic_ms(),
        w.secret,
        shard_count,
    )));
    core.borrow_mut().log_mut().set_probe(w.wal_probe);
    // `connect` waits for the other end: connect every sender before any
    // receiver (the peers connect their receivers first).
    let mut shard_outboxes = Vec::new();
    for tx in w.outputs {
        shard_outboxes.push(pump(tx.connect().await));
    }
    let log_outbox = pump(w.log_commands.connect().await);
    let snapshot_outbox = pump(w.snapshot_jobs.connect().await);
    let outboxes = Rc::new(Outboxes {
        shards: shard_outboxes,
        log: log_outbox,
        snapshot: snapshot_outbox,
    });
    let mut receivers = Vec::new();
    for rx in w.inputs {
        receivers.push(rx.connect().await);
    }
    let log_events = w.log_events.connect().await;
    let snapshot_done = w.snapshot_done.connect().await;
    for rx in receivers {
        let core = core.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                let mut c = core.borrow_mut();
                handle_input(&mut c, msg);
                after_step(&mut c, &outboxes);
            }
        })
        .detach();
    }
    // The durable watermark: replies and commits are released only here.
    {
        let core = core.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(event) = log_events.recv().await {
                if let LogEvent::Failed(reason) = &event {
                    tracing::error!(%reason, "transaction log failed: refusing writes, still serving reads");
                }
                let mut c = core.borrow_mut();
                c.log_mut().on_event(event);
                after_step(&mut c, &outboxes);
            }
        })
        .detach();
    }
    {
        let core = core.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(done) = snapshot_done.recv().await {
                let mut c = core.borrow_mut();
                c.snapshot_finished();
                if let Some(oldest_zxid) = done.oldest_retained_zxid {
                    // Replay after the oldest kept snapshot needs every record above it.
                    let _ = outboxes
                        .log
                        .try_send(LogCommand::ReleaseBelow(oldest_zxid + 1));
                }
                after_step(&mut c, &outboxes);
            }
        })
        .detach();
    }
    loop {
        glommio::timer::sleep(Duration::from_millis(tick_interval_ms)).await;
        let mut c = core.borrow_mut();
        c.tick(clock::monotonic_ms(), clock::now_ms());
        after_step(&mut c, &outboxes);
    }
}

/// A local queue drained into a cross-core channel by its own task.
fn pump<T: Send + 'static>(tx: ConnectedSender<T>) -> local_channel::LocalSender<T> {
    let (local_tx, local_rx) = local_channel::new_unbounded::<T>();
    glommio::spawn_local(async move {
        while let Some(msg) = local_rx.recv().await {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    })
    .detach();
    local_tx
}

/// After every input: hand new log records to the log core, release what is
/// durable, and route the outputs.
fn after_step(core: &mut LiveCore, outboxes: &Outboxes) {
    let batch = core.log_mut().take_batch();
    if !batch.is_empty() {
        let _ = outboxes.log.try_send(LogCommand::Append(batch));
    }
    core.release();
    dispatch(core.take_outputs(), outboxes);
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
) -> anyhow::Result<(glommio::ExecutorJoinHandle<()>, T)> {
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

/// Waits for the shards, then the other executors (they run until the
/// process is killed; a return is a failure to report).
fn join_executors(
    shards: Vec<glommio::ExecutorJoinHandle<anyhow::Result<()>>>,
    others: [(&str, glommio::ExecutorJoinHandle<()>); 3],
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

/// A snapshot to write: a published tree version and the live sessions.
pub struct SnapshotJob {
    tree: Arc<DataTree>,
    sessions: Vec<(SessionId, i32)>,
    /// An ensemble member's raft point: written as format version 2.
    raft: Option<crate::snapshot::RaftPoint>,
}

pub struct SnapshotDone {
    /// The zxid of the oldest snapshot still kept (log below it may go).
    oldest_retained_zxid: Option<Zxid>,
    /// Ensemble: the raft index of the oldest snapshot still kept.
    oldest_retained_raft_index: Option<u64>,
    /// Ensemble: the snapshot just written, with the file's bytes (what a
    /// lagging member is sent).
    written: Option<(crate::snapshot::RaftPoint, Vec<u8>)>,
}

/// Writes snapshots from immutable tree versions: the apply path never waits.
async fn run_snapshotter(
    dir: std::path::PathBuf,
    retain: usize,
    jobs: SharedReceiver<SnapshotJob>,
    done: SharedSender<SnapshotDone>,
) {
    // What a crash left half-written. Before connecting: the consensus core
    // handles no input (and writes no received snapshot) until it has.
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
        let sessions: Vec<SessionRecord> = job
            .sessions
            .iter()
            .map(|(id, timeout_ms)| SessionRecord {
                id: *id,
                timeout_ms: *timeout_ms,
            })
            .collect();
        let mut written = None;
        let mut oldest_retained_raft_index = None;
        let result =
            crate::snapshot::write_with_raft(&dir, &job.tree, &sessions, job.raft.as_ref());
        let oldest_retained_zxid = match result {
            Ok(meta) => {
                tracing::info!(
                    path = %meta.path.display(),
                    zxid = format!("{:#x}", meta.zxid),
                    znodes = meta.nodes,
                    bytes = meta.bytes,
                    duration_ms = meta.duration_ms,
                    "snapshot written"
                );
                if let Err(e) = crate::snapshot::purge(&dir, retain) {
                    tracing::warn!(error = %e, "snapshot purge failed");
                }
                let listed = crate::snapshot::list(&dir).ok();
                if let Some(point) = meta.raft.clone() {
                    // Read back what was written: the bytes a lagging member
                    // is sent. The log may be released only below the oldest
                    // kept snapshot's raft index (its header says it).
                    match std::fs::read(&meta.path) {
                        Ok(bytes) => written = Some((point, bytes)),
                        Err(e) => tracing::error!(error = %e, "reading the snapshot back failed"),
                    }
                    oldest_retained_raft_index = listed
                        .as_ref()
                        .and_then(|l| l.first())
                        .and_then(|(_, path)| crate::snapshot::read_header(path).ok())
                        .map(|h| h.raft_index)
                        .filter(|&i| i > 0);
                }
                listed.and_then(|l| l.iter().map(|(z, _)| *z).min())
            }
            Err(e) => {
                tracing::error!(error = %e, "snapshot failed; the log keeps everything");
                None
            }
        };
        if done
            .send(SnapshotDone {
                oldest_retained_zxid,
                oldest_retained_raft_index,
                written,
            })
            .await
            .is_err()
        {
            return;
        }
    }
}

fn handle_input(core: &mut LiveCore, msg: ToConsensus) {
    let mono = clock::monotonic_ms();
    let wall = clock::now_ms();
    match msg {
        ToConsensus::Write {
            origin,
            session_id,
            auth,
            request,
        } => core.write(origin, session_id, &auth, &request, mono, wall),
        ToConsensus::ReadBarrier { origin } => core.read_barrier(origin),
        ToConsensus::Connect {
            shard,
            conn,
            request,
        } => core.connect(shard, conn, &request, mono, wall),
        ToConsensus::Touch { sessions } => core.touch(&sessions, mono),
        ToConsensus::Disconnected {
            shard,
            conn,
            session_id,
        } => core.disconnected(shard, conn, session_id),
        ToConsensus::Gather { shard, conn, word } => core.gather(shard, conn, word),
        ToConsensus::GatherReply { token, report } => core.gather_reply(token, *report),
    }
}

fn dispatch(outputs: Vec<Output>, outboxes: &Outboxes) {
    for out in outputs {
        match out {
            Output::To(shard, msg) => {
                let _ = outboxes.shards[shard].try_send(msg);
            }
            Output::Snapshot {
                tree,
                sessions,
                raft,
            } => {
                let _ = outboxes.snapshot.try_send(SnapshotJob {
                    tree,
                    sessions,
                    raft,
                });
            }
            Output::Broadcast(msg) => {
                for outbox in &outboxes.shards {
                    let copy = match &msg {
                        ToShard::Commit(c) => ToShard::Commit(c.clone()),
                        ToShard::GatherRequest { token, word } => ToShard::GatherRequest {
                            token: *token,
                            word,
                        },
                        ToShard::CloseAll => ToShard::CloseAll,
                        other => unreachable!("not a broadcast message: {other:?}"),
                    };
                    let _ = outbox.try_send(copy);
                }
            }
        }
    }
}
