//! Executors, core placement and the wiring between cores.
//!
//! Shape (docs/architecture.md): N client-shard executors, each pinned to a
//! core and accepting on the client port with SO_REUSEPORT; one consensus
//! executor that owns the write pipeline and sessions. Each shard talks to
//! the core over one bounded channel and hears back over one FIFO channel.

pub mod clock;
pub mod placement;

use crate::config::Config;
use crate::consensus::core::Output;
use crate::consensus::{Core, CoreConfig, MemoryLog, ToConsensus, ToShard};
use crate::net::{conn, Shard, ShardSettings};
use crate::ops::write::OpsConfig;
use crate::tree::DataTree;
use anyhow::Context;
use glommio::channels::local_channel;
use glommio::channels::shared_channel::{self, ConnectedSender, SharedReceiver, SharedSender};
use glommio::{LocalExecutorBuilder, Placement};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Messages a shard may queue to the core before its sends wait (and its
/// connections stop being read): the back-pressure bound of the write path.
pub const SHARD_TO_CORE_QUEUE_MAX: usize = 4096;
/// Messages the core may queue to one shard's channel.
pub const CORE_TO_SHARD_QUEUE_MAX: usize = 16384;
/// Registered io_uring buffer memory per executor. The shards do socket I/O
/// only, which does not use registered buffers.
const EXECUTOR_IO_MEMORY_BYTES: usize = 1 << 20;

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
    let initial_tree = Arc::new(DataTree::new());
    let shard_count = plan.shard_cpus.len();
    let started_at_ms = clock::now_ms();

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

    let core_config = CoreConfig {
        server_id: 1,
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
    let consensus = LocalExecutorBuilder::new(placement_of(plan.consensus_cpu))
        .name("roost-consensus")
        .io_memory(EXECUTOR_IO_MEMORY_BYTES)
        .spawn(move || run_consensus(core_config, to_core_rx, to_shard_tx))
        .map_err(|e| anyhow::anyhow!("starting the consensus executor: {e}"))?;

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
            required_auth_schemes: required_auth_schemes(&config),
            started_at_ms,
        };
        let tree = initial_tree.clone();
        let ip_counts = ip_counts_shared();
        let backlog = config.client_port_listen_backlog;
        let touch_interval_ms = (config.tick_time_ms as u64 / 2).clamp(10, 200);
        let handle = LocalExecutorBuilder::new(placement_of(Some(cpu)))
            .name(&format!("roost-shard-{i}"))
            .io_memory(EXECUTOR_IO_MEMORY_BYTES)
            .spawn(move || {
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
            })
            .map_err(|e| anyhow::anyhow!("starting client shard {i}: {e}"))?;
        shards.push(handle);
    }
    tracing::info!(%addr, "roost serving (standalone, in-memory data)");
    for handle in shards {
        handle
            .join()
            .map_err(|e| anyhow::anyhow!("client shard failed: {e:?}"))??;
    }
    consensus
        .join()
        .map_err(|e| anyhow::anyhow!("consensus executor failed: {e:?}"))?;
    Ok(())
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

async fn run_consensus(
    config: CoreConfig,
    inputs: Vec<SharedReceiver<ToConsensus>>,
    outputs: Vec<SharedSender<ToShard>>,
) {
    let shard_count = outputs.len();
    let tick_interval_ms = (config.tick_ms / 4).clamp(5, 100) as u64;
    let core = Rc::new(RefCell::new(Core::new(
        config,
        MemoryLog::default(),
        clock::monotonic_ms(),
        rand::random(),
        shard_count,
    )));
    // One outbox per shard, drained by its own pump task: everything for a
    // shard is queued synchronously in production order, so no two tasks can
    // reorder a shard's stream.
    let mut outboxes = Vec::new();
    for tx in outputs {
        let tx: ConnectedSender<ToShard> = tx.connect().await;
        let (local_tx, local_rx) = local_channel::new_unbounded::<ToShard>();
        outboxes.push(local_tx);
        glommio::spawn_local(async move {
            while let Some(msg) = local_rx.recv().await {
                if tx.send(msg).await.is_err() {
                    return;
                }
            }
        })
        .detach();
    }
    let outboxes = Rc::new(outboxes);
    let mut receivers = Vec::new();
    for rx in inputs {
        receivers.push(rx.connect().await);
    }
    for rx in receivers {
        let core = core.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                let mut c = core.borrow_mut();
                handle_input(&mut c, msg);
                c.release();
                dispatch(c.take_outputs(), &outboxes);
            }
        })
        .detach();
    }
    loop {
        glommio::timer::sleep(Duration::from_millis(tick_interval_ms)).await;
        let mut c = core.borrow_mut();
        c.tick(clock::monotonic_ms(), clock::now_ms());
        c.release();
        dispatch(c.take_outputs(), &outboxes);
    }
}

fn handle_input(core: &mut Core<MemoryLog>, msg: ToConsensus) {
    let mono = clock::monotonic_ms();
    let wall = clock::now_ms();
    match msg {
        ToConsensus::Write {
            origin,
            session_id,
            auth,
            request,
        } => core.write(origin, session_id, &auth, &request, mono, wall),
        ToConsensus::Sync { origin, path } => core.sync(origin, path),
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

fn dispatch(outputs: Vec<Output>, outboxes: &[local_channel::LocalSender<ToShard>]) {
    for out in outputs {
        match out {
            Output::To(shard, msg) => {
                let _ = outboxes[shard].try_send(msg);
            }
            Output::Snapshot { .. } => {
                // Replaced by the snapshotter once storage is wired in.
            }
            Output::Broadcast(msg) => {
                for outbox in outboxes {
                    let copy = match &msg {
                        ToShard::Commit(c) => ToShard::Commit(c.clone()),
                        ToShard::GatherRequest { token, word } => ToShard::GatherRequest {
                            token: *token,
                            word,
                        },
                        other => unreachable!("not a broadcast message: {other:?}"),
                    };
                    let _ = outbox.try_send(copy);
                }
            }
        }
    }
}
