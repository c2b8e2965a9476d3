//! What goes into the consensus core and what comes out of one round of it.
//!
//! The runtime hands the core one [`Input`] at a time, then calls `drive`,
//! which returns one [`Step`]: everything that round produced. The runtime
//! carries out the whole step before the next input (raft-rs hands out one
//! `Ready` per round the same way), so no output can be forgotten or
//! consumed out of order.

use crate::config::ServerSpec;
use crate::messages::{MemberId, ShardId, ToConsensus, ToShard};
use crate::proto::SessionId;
use crate::snapshot::RaftPoint;
use crate::tree::DataTree;
use crate::wal::{LogEvent, LogRecord};
use std::sync::Arc;

/// The time, read once per input at the edge.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Now {
    /// Monotonic ms: session deadlines, timers.
    pub mono_ms: i64,
    /// Wall-clock ms since the epoch: znode times, session id bases.
    pub wall_ms: i64,
}

/// One input to the consensus core.
#[derive(Debug)]
pub enum Input {
    /// From a client shard.
    Shard(ToConsensus),
    /// From the log core.
    Log(LogEvent),
    /// The snapshotter finished the snapshot the core asked for.
    SnapshotWritten(SnapshotOutcome),
    /// From the peer transport (ensembles).
    PeerFrame {
        from: MemberId,
        kind: u8,
        body: Vec<u8>,
    },
    PeerDisconnected(MemberId),
    /// The transport (re)connected to a peer.
    PeerConnected(MemberId),
    /// Peers whose liveness beacon arrived since the last such input
    /// (`runtime::liveness`).
    Heard(Vec<Heard>),
    /// A forwarded request could not be handed to the transport.
    ForwardsLost,
    /// A snapshot received from the leader could not be written: the
    /// member can no longer make its state durable.
    ReceivedSnapshotFailed(String),
    /// Time passed (timers: raft ticks, session expiry, the reaper). For
    /// `mntr`: `lag_us` is how late this tick runs, `longest_step_us` the
    /// longest the executor spent on one input since the previous tick.
    Tick {
        lag_us: u64,
        longest_step_us: u64,
    },
}

/// A peer's liveness beacon: it is alive, in `term`, following `leader`
/// (itself when it leads).
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Heard {
    pub from: MemberId,
    pub term: u64,
    pub leader: MemberId,
}

/// What this member's liveness beacons say, and until when (monotonic
/// ms) they may go out: the core extends the window while raft is healthy.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BeaconPlan {
    pub term: u64,
    pub leader: MemberId,
    pub leads: bool,
    pub send_until_ms: i64,
}

/// What the snapshotter reports for a [`SnapshotRequest`].
/// A value: made by the snapshotter, moved to the consensus executor; no executor owns it.
#[derive(Debug, Default)]
pub struct SnapshotOutcome {
    /// The zxid of the oldest snapshot still kept (a standalone log may be
    /// released below it).
    pub oldest_retained_zxid: Option<i64>,
    /// Ensemble: the raft index of the oldest snapshot still kept.
    pub oldest_retained_raft_index: Option<u64>,
    /// Ensemble: the snapshot just written, with the file's bytes (what a
    /// lagging member is sent). `None` if it failed.
    pub written: Option<(RaftPoint, Vec<u8>)>,
}

/// A snapshot to write: a published tree version, the sessions committed
/// with it, and (ensemble) its raft point.
/// A value: made by the consensus executor, moved to the snapshotter; no executor owns it.
#[derive(Debug)]
pub struct SnapshotRequest {
    pub tree: Arc<DataTree>,
    pub sessions: Vec<(SessionId, i32)>,
    pub raft: Option<RaftPoint>,
}

/// A message for the client shards.
#[derive(Debug)]
pub enum Output {
    /// To every shard (commits, gather requests, close-all).
    Broadcast(ToShard),
    /// To one shard.
    To(ShardId, ToShard),
}

/// Something an ensemble member's log core must make durable; answered
/// with `LogEvent::Persisted(token)`.
/// Owned by the consensus executor; the log core gets a `LogCommand` made from it.
#[derive(Debug)]
pub struct PersistRequest {
    pub token: u64,
    /// Only when term or vote changed (they must be durable before any
    /// message that depends on them is sent); the commit index is not
    /// persisted on every change (it is re-learned from the leader).
    pub hard_state: Option<raft::eraftpb::HardState>,
    /// A snapshot covering `reset_to - 1` was installed: the log restarts
    /// at this index (applied before `entries`).
    pub reset_to: Option<u64>,
    /// A snapshot received from the leader, to write into the snapshot
    /// directory (durably, by the snapshotter) *before* this request goes
    /// to the log core: (tree zxid, file bytes).
    pub snapshot_file: Option<(i64, Vec<u8>)>,
    pub entries: Vec<raft::eraftpb::Entry>,
}

/// Everything one round produced. Carried out in full by the runtime, in
/// field order: log appends and persists, peer frames, the new membership,
/// the snapshot request and log release, then the shard messages.
#[derive(Debug, Default)]
pub struct Step {
    /// Standalone: records to append (one group-commit batch).
    pub log_records: Vec<LogRecord>,
    /// Ensemble: raft state to persist, in order.
    pub persists: Vec<PersistRequest>,
    /// Ensemble: frames for other members: (to, kind, body).
    pub peer_frames: Vec<(MemberId, u8, Vec<u8>)>,
    /// Ensemble: a reconfig committed; talk to exactly these members.
    pub membership: Option<Vec<ServerSpec>>,
    /// Ensemble: what the liveness beacons say from now on.
    pub beacon: Option<BeaconPlan>,
    pub snapshot: Option<SnapshotRequest>,
    /// The log below this index (standalone: zxid) may be released.
    pub release_log_below: Option<i64>,
    pub to_shards: Vec<Output>,
}

impl Step {
    pub fn is_empty(&self) -> bool {
        self.log_records.is_empty()
            && self.persists.is_empty()
            && self.peer_frames.is_empty()
            && self.membership.is_none()
            && self.beacon.is_none()
            && self.snapshot.is_none()
            && self.release_log_below.is_none()
            && self.to_shards.is_empty()
    }

    pub fn to(&mut self, shard: ShardId, msg: ToShard) {
        self.to_shards.push(Output::To(shard, msg));
    }

    pub fn broadcast(&mut self, msg: ToShard) {
        self.to_shards.push(Output::Broadcast(msg));
    }
}
