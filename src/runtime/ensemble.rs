//! Start-up of an ensemble member: the log core opens (and recovers) the
//! raft log, the newest snapshot is loaded, and the consensus executor runs
//! a [`Member`] (raft-rs) with the peer transport beside it, so raft
//! messages never hop cores.
//!
//! Snapshots: the member asks for one every snapCount applied entries
//! (format version 2, with the raft point); once written, its bytes go back
//! to the member (to send to lagging members) and the log on disk is
//! released below the oldest retained snapshot. A snapshot received from
//! the leader is written by the snapshotter before the log reset that
//! follows it is persisted (see the driver).

use super::driver::{self, PeerWiring, Started};
use super::liveness::Liveness;
use super::{core_config, placement, start_consensus, start_log_core, storage, CoreSide};
use crate::config::{Config, PeerRole};
use crate::consensus::member::{EnsembleConfig, Member, PersistRequest, RaftRecovered};
use crate::consensus::membership::Membership;
use crate::transport::{PeerTransport, TransportConfig};
use crate::tree::DataTree;
use crate::wal::{LogCommand, RaftEntryKind, RaftPersist, RaftRecord};
use anyhow::{bail, Context};
use glommio::ExecutorJoinHandle;
use raft::eraftpb::{Entry, EntryType, HardState};
use sha1::{Digest, Sha1};
use std::net::{SocketAddr, ToSocketAddrs};
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

/// The key members prove to each other in the peer handshake
/// (`crate::transport::auth`): `roost.quorumSecret`, or one derived from the
/// ensemble id when that is unset (start-up warns).
fn quorum_secret(config: &Config) -> Vec<u8> {
    match &config.quorum_secret {
        Some(secret) => secret.as_bytes().to_vec(),
        None => {
            let mut h = Sha1::new();
            h.update(b"roost-quorum-secret:");
            h.update(cluster_tag(config).to_be_bytes());
            h.finalize().to_vec()
        }
    }
}

/// The liveness beacons' 32-byte key, from the quorum secret.
fn beacon_key(quorum_secret: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    for (i, chunk) in out.chunks_mut(16).enumerate() {
        let mut h = Sha1::new();
        h.update([i as u8]);
        h.update(b"roost-liveness-beacon-key");
        h.update(quorum_secret);
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

/// The log core's command for a member's persist request.
pub(crate) fn persist_command(p: PersistRequest) -> LogCommand {
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

/// Starts the log core and the consensus executor of an ensemble member;
/// returns them and the tree shards start from.
pub(super) fn start(
    config: &Config,
    plan: &placement::PlacementPlan,
    side: CoreSide,
) -> anyhow::Result<(
    ExecutorJoinHandle<()>,
    ExecutorJoinHandle<()>,
    Arc<DataTree>,
)> {
    let me = config
        .my_server()
        .context("this member's server.N line (myid) is missing")?
        .clone();
    let role = |r: PeerRole| -> Vec<u64> {
        config
            .servers
            .iter()
            .filter(|s| s.role == r)
            .map(|s| s.id)
            .collect()
    };
    let (voters, learners) = (role(PeerRole::Participant), role(PeerRole::Observer));
    let listen = resolve(&me.host, me.quorum_port)?;
    let mut peers = Vec::new();
    for s in config.servers.iter().filter(|s| s.id != me.id) {
        peers.push((s.id, resolve(&s.host, s.quorum_port)?));
    }
    let wal_dir = storage::wal_dir(config);
    let wal_config = config.wal_config();
    let (log_core, recovery) = start_log_core(
        plan.log_cpu,
        move |device| {
            let (writer, recovery) = crate::wal::LogWriter::open_raft(&wal_dir, wal_config, device)
                .with_context(|| format!("opening the raft log in {}", wal_dir.display()))?;
            let probe = writer.probe();
            Ok((writer, (recovery, probe)))
        },
        side.log_commands,
        side.log_events,
    )?;
    let (recovery, log_probe) = recovery;
    let hs = recovery.hard_state;
    tracing::info!(
        entries = recovery.entries.len(),
        first_index = recovery.first_index,
        last_index = recovery.last_index,
        term = hs.term,
        vote = hs.vote,
        "recovered the raft log"
    );
    let snapshot_dir = storage::snapshot_dir(config);
    let loaded =
        crate::snapshot::load_newest(&snapshot_dir).context("loading the newest snapshot")?;
    let hard_state = HardState {
        term: hs.term as u64,
        vote: hs.vote as u64,
        commit: hs.commit as u64,
        ..Default::default()
    };
    let first_index = recovery.first_index;
    let entries: Vec<Entry> = recovery
        .entries
        .into_iter()
        .map(entry_from_record)
        .collect();
    let (tree, recovered) = match loaded {
        None => {
            if first_index.is_some_and(|i| i > 1) {
                bail!(
                    "the raft log starts at index {} but there is no snapshot in {}",
                    first_index.unwrap_or(0),
                    snapshot_dir.display()
                );
            }
            let mut tree = DataTree::new();
            tree.set_config_data(Membership::new(config.servers.clone(), 0).text().as_bytes());
            (tree, RaftRecovered::assemble(entries, hard_state, None))
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
            if first_index.is_some_and(|i| i > index + 1) {
                bail!(
                    "the raft log starts at index {} but the snapshot {} ends at {index}",
                    first_index.unwrap_or(0),
                    loaded.path.display()
                );
            }
            let data = std::fs::read(&loaded.path)
                .with_context(|| format!("reading {}", loaded.path.display()))?;
            tracing::info!(
                snapshot = %loaded.path.display(),
                index,
                term = point.term,
                zxid = format!("{:#x}", loaded.zxid),
                znodes = loaded.tree.node_count(),
                sessions = loaded.sessions.len(),
                "loaded the newest snapshot"
            );
            let recovered =
                RaftRecovered::assemble(entries, hard_state, Some((point, loaded.sessions, data)));
            (loaded.tree, recovered)
        }
    };
    let tick_ms = config.raft_tick_ms as u64;
    let election_ms = config.raft_election_ticks as i64 * tick_ms as i64;
    let ensemble_config = EnsembleConfig {
        core: core_config(config, ensemble_secret(config)),
        my_id: me.id,
        servers: config.servers.clone(),
        voters,
        learners,
        raft_tick_ms: tick_ms,
        election_ticks: config.raft_election_ticks as usize,
        heartbeat_ticks: config.raft_heartbeat_ticks as usize,
        leaderless_close_ms: (4 * election_ms).max(config.session_timeout_ms_min as i64 / 2),
        stall_tolerance_ms: config.stall_tolerance_ms as i64,
        lease_reads: config.read_consistency == crate::config::ReadConsistency::Lease,
    };
    let transport_config = TransportConfig {
        my_id: me.id,
        listen,
        peers,
        cluster_tag: cluster_tag(config),
        secret: quorum_secret(config),
        frame_bytes_max: PEER_FRAME_BYTES_MAX,
        queue_bytes_max: PEER_QUEUE_BYTES_MAX,
    };
    if config.quorum_secret.is_none() {
        tracing::warn!(
            "roost.quorumSecret is not set: members authenticate each other with a key derived \
             from roost.ensembleId, so anyone who can read the configuration and reach the \
             quorum port could pose as a member; set the same secret on every member"
        );
    }
    // Beacons on the quorum address, over UDP, signed with the quorum key.
    let liveness = Liveness::start(
        me.id,
        listen,
        transport_config.peers.clone(),
        transport_config.cluster_tag,
        beacon_key(&transport_config.secret),
    )
    .with_context(|| format!("starting liveness beacons on udp {listen}"))?;
    let shard_count = plan.shard_cpus.len();
    let seed = rand::random();
    let (consensus, published) = start_consensus(
        plan.consensus_cpu,
        Duration::from_millis(tick_ms),
        side.channels,
        move || {
            let mut member = Member::new(
                ensemble_config,
                tree,
                recovered,
                driver::now(),
                seed,
                shard_count,
            )
            .map_err(|e| anyhow::anyhow!("starting raft: {e}"))?;
            member.set_log_probe(log_probe);
            let (transport, events) =
                PeerTransport::start(transport_config).map_err(|e| anyhow::anyhow!("{e}"))?;
            let peers = PeerWiring {
                transport,
                events,
                resolve: Box::new(|s| match resolve(&s.host, s.quorum_port) {
                    Ok(addr) => Some(addr),
                    Err(e) => {
                        // A member whose address does not resolve is skipped.
                        tracing::warn!(member = s.id, error = %e, "new member unreachable");
                        None
                    }
                }),
                my_id: member.my_id(),
                liveness,
            };
            let started = Started {
                published: member.published(),
                step: member.drive(),
                peers: Some(peers),
            };
            Ok((member, started))
        },
    )?;
    tracing::info!(my_id = me.id, quorum = %listen, "ensemble member started");
    Ok((log_core, consensus, published))
}
