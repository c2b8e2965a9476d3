//! The client shards: one executor per planned CPU, each accepting on the
//! client port (SO_REUSEPORT), serving its connections, reading from the
//! tree version it has caught up to, and processing the commit stream.
//!
//! Each shard executor owns its [`Shard`] and connections; the listening
//! socket is per shard.

use super::executor::spawn_executor;
use super::placement;
use crate::config::Config;
use crate::messages::{ToConsensus, ToShard};
use crate::net::{conn, Shard, ShardSettings};
use crate::tree::DataTree;
use anyhow::Context;
use glommio::channels::shared_channel::{SharedReceiver, SharedSender};
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Starts one client-shard executor per planned CPU.
#[allow(clippy::too_many_arguments)]
pub(super) fn spawn_shards(
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
    let counts = crate::net::shard::SharedConnectionCounts::default();
    let in_flight = crate::net::pending::InFlight::new(plan.shard_cpus.len());
    let global_outstanding_max = global_outstanding_max(config);
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
            max_connections: config.connections_max,
            global_outstanding_max,
            in_flight: in_flight.clone(),
            skip_acl: config.skip_acl,
            auth: auth.clone(),
            config: config.clone(),
            required_auth_schemes: required_auth_schemes(config),
            started_at_ms,
            read_barriers: config.read_barriers(plan.shard_cpus.len()),
        };
        let tree = initial_tree.clone();
        let counts = counts.clone();
        let backlog = config.client_port_listen_backlog;
        let touch_interval_ms = (config.tick_time_ms as u64 / 2).clamp(10, 200);
        let handle = spawn_executor(
            &format!("roost-shard-{i}"),
            super::placement_of(Some(cpu)),
            move || {
                run_shard(
                    i,
                    addr,
                    backlog,
                    tree,
                    settings,
                    tx,
                    rx,
                    counts,
                    touch_interval_ms,
                )
            },
        )
        .map_err(|e| anyhow::anyhow!("starting client shard {i}: {e}"))?;
        shards.push(handle);
    }
    Ok(shards)
}

/// `globalOutstandingLimit` as ZooKeeper applies it: in an ensemble of
/// more than two voters each member takes limit / (voters - 1), so that
/// the requests in flight across the ensemble stay near the limit.
fn global_outstanding_max(config: &Config) -> usize {
    let voters = config
        .servers
        .iter()
        .filter(|s| s.role == crate::config::PeerRole::Participant)
        .count();
    let divisor = if voters > 2 { voters - 1 } else { 1 };
    (config.global_outstanding_max as usize / divisor).max(1)
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

#[allow(clippy::too_many_arguments)]
async fn run_shard(
    id: usize,
    addr: std::net::SocketAddr,
    backlog: i32,
    tree: Arc<DataTree>,
    settings: ShardSettings,
    to_core: SharedSender<ToConsensus>,
    from_core: SharedReceiver<ToShard>,
    counts: crate::net::shard::SharedConnectionCounts,
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
                glommio::spawn_local(conn::serve(shard.clone(), stream, counts.clone())).detach();
            }
            Err(e) => {
                // EMFILE and friends: keep serving the connections we have.
                tracing::warn!(shard = id, error = %e, "accept failed");
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}
