//! The runtime of an ensemble member: the same shards and log core as a
//! standalone server, with [`Member`] (raft-rs) on the consensus executor
//! and the peer transport beside it.
//!
//! Cores: shards as in standalone; the consensus executor owns the `Member`
//! and the [`PeerTransport`] (raft messages never hop cores); the log core
//! owns the raft-mode log and its hard state; the snapshotter executor
//! shares the log core's CPU, as in standalone.
//!
//! Snapshots: the member asks for one every snapCount applied entries
//! (format version 2, with the raft point); once written, its bytes go back
//! to the member (to send to lagging members) and the log on disk is
//! released below the oldest retained snapshot. A snapshot received from the
//! leader is written into the snapshot directory (synchronously, on this
//! core: it is rare) before the log reset that follows it is persisted.

use super::executor::spawn_executor;
use super::{
    dispatch, join_executors, placement_of, pump, run_snapshotter, shard_channels, spawn_shards,
    start_log_core, Outboxes, SnapshotDone, SnapshotJob, LOG_COMMAND_QUEUE_MAX,
    LOG_EVENT_QUEUE_MAX,
};
use crate::clock;
use crate::config::{Config, PeerRole};
use crate::consensus::ensemble::{
    EnsembleConfig, Member, PersistRequest, RaftRecovered, RecoveredSnapshot,
};
use crate::consensus::membership::Membership;
use crate::consensus::wire::FRAME_FORWARD;
use crate::consensus::CoreConfig;
use crate::messages::{ToConsensus, ToShard};
use crate::transport::{PeerEvent, PeerTransport, TransportConfig};
use crate::tree::DataTree;
use crate::wal::{LogCommand, LogEvent, RaftEntryKind, RaftPersist, RaftRecord};
use anyhow::{bail, Context};
use glommio::channels::shared_channel::{self, SharedReceiver, SharedSender};
use raft::eraftpb::{Entry, EntryType, HardState};
use sha1::{Digest, Sha1};
use std::cell::RefCell;
use std::net::{SocketAddr, ToSocketAddrs};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

/// Largest peer frame: the transport's ceiling, 1 GiB. A raft append
/// carries at most `max_size_per_msg` (1 MiB) of entries, but a snapshot
/// is sent whole, in one raft message: a member whose snapshot file exceeds
/// this (minus a few bytes of protobuf framing) cannot catch up a member
/// that needs it (the send is refused and logged; chunking is not done).
pub const PEER_FRAME_BYTES_MAX: usize = crate::transport::FRAME_BYTES_MAX_CEILING;
/// Bytes queued to one peer before sends are refused (raft retransmits):
/// room for one largest frame plus ordinary traffic.
pub const PEER_QUEUE_BYTES_MAX: usize = PEER_FRAME_BYTES_MAX + (256 << 20);

fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("member address {host}:{port} does not resolve"))?
        .next()
        .with_context(|| format!("member address {host}:{port} has no address"))
}

/// Identifies the ensemble on the peer handshake: `roost.ensembleId`, or a
/// fixed tag when unset. Not the member list: `reconfig` changes it, and a
/// member joining by `reconfig` lists itself where the others do not yet.
fn cluster_tag(config: &Config) -> u64 {
    let mut h = Sha1::new();
    h.update(b"roost-ensemble-id:");
    if let Some(id) = &config.ensemble_id {
        h.update(id.as_bytes());
    }
    let d = h.finalize();
    u64::from_be_bytes(d[..8].try_into().expect("sha1 has 20 bytes"))
}

/// Session passwords must verify on every member, including members that
/// join later, so the key is shared: `roost.sessionSecret` if set, else
/// derived from the ensemble id (a fixed key if that is unset too: as
/// guessable as ZooKeeper's own fixed key, see the config doc).
fn ensemble_secret(config: &Config) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut h = Sha1::new();
        h.update([i as u8]);
        h.update(b"roost-ensemble-session-secret");
        match &config.session_secret {
            Some(s) => h.update(s.as_bytes()),
            None => h.update(cluster_tag(config).to_be_bytes()),
        }
        chunk.copy_from_slice(&h.finalize()[..16]);
    }
    out
}

fn entry_from_record(r: RaftRecord) -> Entry {
    let mut e = Entry {
        index: r.index,
        term: r.term,
        ..Default::default()
    };
    e.set_entry_type(match r.kind {
        RaftEntryKind::Normal => EntryType::EntryNormal,
        RaftEntryKind::ConfChange => EntryType::EntryConfChange,
        RaftEntryKind::ConfChangeV2 => EntryType::EntryConfChangeV2,
    });
    e.data = r.data.into();
    e.context = r.context.into();
    e
}

fn record_from_entry(e: &Entry) -> RaftRecord {
    RaftRecord {
        index: e.index,
        term: e.term,
        kind: match e.get_entry_type() {
            EntryType::EntryNormal => RaftEntryKind::Normal,
            EntryType::EntryConfChange => RaftEntryKind::ConfChange,
            EntryType::EntryConfChangeV2 => RaftEntryKind::ConfChangeV2,
        },
        data: e.data.to_vec(),
        context: e.context.to_vec(),
    }
}

fn persist_command(p: PersistRequest) -> LogCommand {
    LogCommand::Persist(RaftPersist {
        token: p.token,
        hard_state: p.hard_state.map(|hs| crate::wal::HardState {
            term: hs.term as i64,
            vote: hs.vote as i64,
            commit: hs.commit as i64,
        }),
        reset_to: p.reset_to,
        entries: p.entries.iter().map(record_from_entry).collect(),
    })
}

/// Runs an ensemble member until the process is killed.
pub(super) fn run(
    config: Arc<Config>,
    plan: super::placement::PlacementPlan,
    addr: SocketAddr,
    auth: Arc<crate::auth::AuthConfig>,
    started_at_ms: i64,
    core_config: CoreConfig,
) -> anyhow::Result<()> {
    let me = config
        .my_server()
        .context("this member's server.N line (myid) is missing")?
        .clone();
    let voters: Vec<u64> = config
        .servers
        .iter()
        .filter(|s| s.role == PeerRole::Participant)
        .map(|s| s.id)
        .collect();
    let learners: Vec<u64> = config
        .servers
        .iter()
        .filter(|s| s.role == PeerRole::Observer)
        .map(|s| s.id)
        .collect();
    let listen = resolve(&me.host, me.quorum_port)?;
    let mut peers = Vec::new();
    for s in config.servers.iter().filter(|s| s.id != me.id) {
        peers.push((s.id, resolve(&s.host, s.quorum_port)?));
    }
    for dir in [&config.data_dir, &config.data_log_dir] {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }

    let (log_commands_tx, log_commands_rx) = shared_channel::new_bounded(LOG_COMMAND_QUEUE_MAX);
    let (log_events_tx, log_events_rx) = shared_channel::new_bounded(LOG_EVENT_QUEUE_MAX);
    let wal_dir = super::storage::wal_dir(&config);
    let wal_config = config.wal_config();
    let (log_core, recovery) = start_log_core(
        plan.log_cpu,
        move |device| {
            crate::wal::LogWriter::open_raft(&wal_dir, wal_config, device)
                .with_context(|| format!("opening the raft log in {}", wal_dir.display()))
        },
        log_commands_rx,
        log_events_tx,
    )?;
    let hs = recovery.hard_state;
    tracing::info!(
        entries = recovery.entries.len(),
        first_index = recovery.first_index,
        last_index = recovery.last_index,
        term = hs.term,
        vote = hs.vote,
        "recovered the raft log"
    );
    let snapshot_dir = super::storage::snapshot_dir(&config);
    std::fs::create_dir_all(&snapshot_dir)
        .with_context(|| format!("creating {}", snapshot_dir.display()))?;
    let loaded =
        crate::snapshot::load_newest(&snapshot_dir).context("loading the newest snapshot")?;
    let hard_state = HardState {
        term: hs.term as u64,
        vote: hs.vote as u64,
        commit: hs.commit as u64,
        ..Default::default()
    };
    let (tree, recovered) = match loaded {
        None => {
            if recovery.first_index.is_some_and(|i| i > 1) {
                bail!(
                    "the raft log starts at index {} but there is no snapshot in {}",
                    recovery.first_index.unwrap_or(0),
                    snapshot_dir.display()
                );
            }
            let recovered = RaftRecovered {
                entries: recovery
                    .entries
                    .into_iter()
                    .map(entry_from_record)
                    .collect(),
                hard_state,
                snapshot: None,
            };
            (None, recovered)
        }
        Some(loaded) => {
            let Some(point) = loaded.raft.clone() else {
                bail!(
                    "{} is a standalone snapshot (format version 1, no raft point); \
                     an ensemble member cannot start from it",
                    loaded.path.display()
                );
            };
            let index = point.index;
            // The log must continue the snapshot: entries after it, if any,
            // start at index + 1.
            if recovery.first_index.is_some_and(|i| i > index + 1) {
                bail!(
                    "the raft log starts at index {} but the snapshot {} ends at {index}",
                    recovery.first_index.unwrap_or(0),
                    loaded.path.display()
                );
            }
            // A log ending before the snapshot (a crash between writing a
            // received snapshot and persisting the log reset) is reset.
            let reset_log = recovery.last_index < index;
            let data = std::fs::read(&loaded.path)
                .with_context(|| format!("reading {}", loaded.path.display()))?;
            tracing::info!(
                snapshot = %loaded.path.display(),
                index,
                term = point.term,
                zxid = format!("{:#x}", loaded.zxid),
                znodes = loaded.tree.node_count(),
                sessions = loaded.sessions.len(),
                reset_log,
                "loaded the newest snapshot"
            );
            let entries = recovery
                .entries
                .into_iter()
                .filter(|r| r.index > index)
                .map(entry_from_record)
                .collect();
            let recovered = RaftRecovered {
                entries,
                hard_state,
                snapshot: Some(RecoveredSnapshot {
                    point,
                    sessions: loaded.sessions,
                    data,
                    reset_log,
                }),
            };
            (Some(loaded.tree), recovered)
        }
    };

    let tick_ms = config.raft_tick_ms as u64;
    let election_ms = config.raft_election_ticks as i64 * tick_ms as i64;
    let ensemble_config = EnsembleConfig {
        core: core_config,
        my_id: me.id,
        servers: config.servers.clone(),
        voters,
        learners,
        raft_tick_ms: tick_ms,
        election_ticks: config.raft_election_ticks as usize,
        heartbeat_ticks: config.raft_heartbeat_ticks as usize,
        leaderless_close_ms: (4 * election_ms).max(config.session_timeout_ms_min as i64 / 2),
    };
    let shard_count = plan.shard_cpus.len();
    let (to_core_tx, to_core_rx, to_shard_tx, to_shard_rx) = shard_channels(shard_count);
    let secret = ensemble_secret(&config);
    let transport_config = TransportConfig {
        my_id: me.id,
        listen,
        peers,
        cluster_tag: cluster_tag(&config),
        frame_bytes_max: PEER_FRAME_BYTES_MAX,
        queue_bytes_max: PEER_QUEUE_BYTES_MAX,
    };
    let membership = Membership::new(config.servers.clone(), 0).text();
    let (snap_jobs_tx, snap_jobs_rx) = shared_channel::new_bounded(1);
    let (snap_done_tx, snap_done_rx) = shared_channel::new_bounded(1);
    let retain = config.autopurge_snap_retain_count.max(3) as usize;
    let snapshotter_dir = snapshot_dir.clone();
    let snapshotter = spawn_executor("roost-snapshot", placement_of(plan.log_cpu), move || {
        run_snapshotter(snapshotter_dir, retain, snap_jobs_rx, snap_done_tx)
    })
    .map_err(|e| anyhow::anyhow!("starting the snapshotter: {e}"))?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let consensus = spawn_executor(
        "roost-consensus",
        placement_of(plan.consensus_cpu),
        move || {
            run_member(MemberWiring {
                config: ensemble_config,
                membership,
                tree,
                recovered,
                snapshot_dir,
                snapshot_jobs: snap_jobs_tx,
                snapshot_done: snap_done_rx,
                secret,
                transport: transport_config,
                ready: ready_tx,
                inputs: to_core_rx,
                outputs: to_shard_tx,
                log_commands: log_commands_tx,
                log_events: log_events_rx,
            })
        },
    )
    .map_err(|e| anyhow::anyhow!("starting the consensus executor: {e}"))?;
    let initial_tree = match ready_rx.recv() {
        Ok(Ok(tree)) => tree,
        Ok(Err(e)) => return Err(e),
        Err(_) => bail!("the consensus executor stopped during start-up"),
    };
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
    tracing::info!(%addr, my_id = me.id, quorum = %listen, "roost serving (ensemble member)");
    join_executors(
        shards,
        [
            ("consensus", consensus),
            ("log", log_core),
            ("snapshotter", snapshotter),
        ],
    )
}

struct MemberWiring {
    config: EnsembleConfig,
    /// The text of `/zookeeper/config` (for a member without a snapshot).
    membership: String,
    /// The newest snapshot's tree, if any.
    tree: Option<DataTree>,
    recovered: RaftRecovered,
    snapshot_dir: std::path::PathBuf,
    snapshot_jobs: SharedSender<SnapshotJob>,
    snapshot_done: SharedReceiver<SnapshotDone>,
    secret: [u8; 32],
    transport: TransportConfig,
    ready: std::sync::mpsc::Sender<anyhow::Result<Arc<DataTree>>>,
    inputs: Vec<SharedReceiver<ToConsensus>>,
    outputs: Vec<SharedSender<ToShard>>,
    log_commands: SharedSender<LogCommand>,
    log_events: SharedReceiver<LogEvent>,
}

struct Live {
    member: Member,
    transport: PeerTransport,
    snapshot_dir: std::path::PathBuf,
}

/// After every input: run raft, then ship what it produced.
fn after_step(live: &mut Live, outboxes: &Outboxes) {
    let wall = clock::now_ms();
    live.member.drive(wall);
    for mut p in live.member.take_persists() {
        if let Some((zxid, bytes)) = p.snapshot_file.take() {
            // Durable before the log reset that depends on it.
            if let Err(e) = crate::snapshot::write_received(&live.snapshot_dir, zxid, &bytes) {
                // Without the file a restart would lack the state the reset
                // dropped from the log: stop taking writes, as for a log failure.
                tracing::error!(error = %e, "writing the received snapshot failed");
                live.member
                    .log_failed(format!("writing the received snapshot failed: {e}"));
                continue;
            }
            tracing::info!(
                zxid = format!("{zxid:#x}"),
                bytes = bytes.len(),
                "received snapshot written"
            );
        }
        let _ = outboxes.log.try_send(persist_command(p));
    }
    let mut forward_lost = false;
    for (to, kind, body) in live.member.take_peer_frames() {
        if let Err(e) = live.transport.send(to, kind, &body) {
            tracing::debug!(to, kind, error = %e, "peer frame dropped");
            // Raft retransmits its own messages; a lost forwarded request
            // would leave its client waiting forever.
            forward_lost |= kind == FRAME_FORWARD;
        }
    }
    if forward_lost {
        live.member.forwards_lost();
        live.member.drive(wall);
    }
    if let Some(servers) = live.member.take_membership_change() {
        // A reconfig committed: talk to exactly the new members. A member
        // whose address does not resolve is skipped (and logged).
        let my_id = live.member.my_id();
        let peers: Vec<(u64, SocketAddr)> = servers
            .iter()
            .filter(|s| s.id != my_id)
            .filter_map(|s| match resolve(&s.host, s.quorum_port) {
                Ok(addr) => Some((s.id, addr)),
                Err(e) => {
                    tracing::warn!(member = s.id, error = %e, "new member unreachable");
                    None
                }
            })
            .collect();
        live.transport.set_peers(peers);
    }
    dispatch(live.member.take_outputs(), outboxes);
}

async fn run_member(w: MemberWiring) {
    let shard_count = w.outputs.len();
    let tick_ms = w.config.raft_tick_ms;
    let tree = w.tree.unwrap_or_else(|| {
        let mut tree = DataTree::new();
        tree.set_config_data(w.membership.as_bytes());
        tree
    });
    let member = match Member::new(
        w.config,
        tree,
        w.recovered,
        clock::monotonic_ms(),
        w.secret,
        shard_count,
    ) {
        Ok(m) => m,
        Err(e) => {
            let _ = w.ready.send(Err(anyhow::anyhow!("starting raft: {e}")));
            return;
        }
    };
    let (transport, peer_events) = match PeerTransport::start(w.transport) {
        Ok(t) => t,
        Err(e) => {
            let _ = w.ready.send(Err(anyhow::anyhow!("{e}")));
            return;
        }
    };
    let _ = w.ready.send(Ok(member.initial_tree()));
    let live = Rc::new(RefCell::new(Live {
        member,
        transport,
        snapshot_dir: w.snapshot_dir,
    }));
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
    let snapshot_done = w.snapshot_done.connect().await;
    let mut receivers = Vec::new();
    for rx in w.inputs {
        receivers.push(rx.connect().await);
    }
    let log_events = w.log_events.connect().await;
    for rx in receivers {
        let live = live.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                let mut l = live.borrow_mut();
                handle_input(&mut l.member, msg);
                after_step(&mut l, &outboxes);
            }
        })
        .detach();
    }
    {
        let live = live.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(event) = log_events.recv().await {
                let mut l = live.borrow_mut();
                match event {
                    LogEvent::Persisted(token) => l.member.persisted(token, clock::now_ms()),
                    LogEvent::Failed(reason) => {
                        tracing::error!(%reason, "raft log failed: refusing writes");
                        l.member.log_failed(reason);
                    }
                    LogEvent::Durable(_) => unreachable!("a raft log reports Persisted"),
                }
                after_step(&mut l, &outboxes);
            }
        })
        .detach();
    }
    {
        let live = live.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(event) = peer_events.recv().await {
                let mut l = live.borrow_mut();
                match event {
                    PeerEvent::Frame { from, kind, body } => {
                        l.member.peer_frame(
                            from,
                            kind,
                            &body,
                            clock::monotonic_ms(),
                            clock::now_ms(),
                        );
                    }
                    PeerEvent::Disconnected(peer) => l.member.peer_disconnected(peer),
                    PeerEvent::Connected(peer) => {
                        tracing::debug!(peer, "peer connected");
                    }
                }
                after_step(&mut l, &outboxes);
            }
        })
        .detach();
    }
    {
        let live = live.clone();
        let outboxes = outboxes.clone();
        glommio::spawn_local(async move {
            while let Some(done) = snapshot_done.recv().await {
                let mut l = live.borrow_mut();
                let release = l
                    .member
                    .snapshot_written(done.written, done.oldest_retained_raft_index);
                if let Some(index) = release {
                    let _ = outboxes
                        .log
                        .try_send(LogCommand::ReleaseBelow(index as i64));
                }
                after_step(&mut l, &outboxes);
            }
        })
        .detach();
    }
    loop {
        glommio::timer::sleep(Duration::from_millis(tick_ms)).await;
        let mut l = live.borrow_mut();
        l.member.tick(clock::monotonic_ms(), clock::now_ms());
        after_step(&mut l, &outboxes);
    }
}

fn handle_input(member: &mut Member, msg: ToConsensus) {
    let mono = clock::monotonic_ms();
    let wall = clock::now_ms();
    match msg {
        ToConsensus::Write {
            origin,
            session_id,
            auth,
            request,
        } => member.write(origin, session_id, auth, request, mono, wall),
        ToConsensus::ReadBarrier { origin } => member.read_barrier(origin),
        ToConsensus::Connect {
            shard,
            conn,
            request,
        } => member.connect(shard, conn, request, mono, wall),
        ToConsensus::Touch { sessions } => member.touch(sessions, mono),
        ToConsensus::Disconnected {
            shard,
            conn,
            session_id,
        } => member.disconnected(shard, conn, session_id),
        ToConsensus::Gather { shard, conn, word } => member.gather(shard, conn, word),
        ToConsensus::GatherReply { token, report } => member.gather_reply(token, *report),
    }
}
