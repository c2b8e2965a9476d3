//! The consensus core of an ensemble member: raft-rs driven as a pure state
//! machine, plus everything ZooKeeper layers on top (sessions, forwarded
//! writes, ordered replies, sync).
//!
//! Owned by the consensus executor. No I/O: inputs are method calls with the
//! time passed in; outputs are queued for the runtime, which sends peer
//! frames over the peer transport, persists through the log core, and
//! routes shard messages (see [`Member::take_peer_frames`],
//! [`Member::take_persists`], [`Member::take_outputs`]).
//!
//! # How a write flows
//!
//! 1. The member holding the connection gets the request. A follower
//!    forwards it to the leader ([`Forward::Write`]); with no leader known it
//!    waits in `waiting` until one is.
//! 2. The leader preps it against its *pending* tree (the committed tree
//!    plus everything it has proposed), assigns the zxid
//!    (`term << 32 | counter`), applies it to the pending tree and proposes
//!    the entry ([`EntryPayload`]: zxid, time, origin, txn).
//! 3. Every member applies committed entries in log order to its committed
//!    tree (one apply path for all roles) and broadcasts the `Commit` to its
//!    shards. The member named in the entry's origin completes its client's
//!    request from its own apply: the reply never overtakes the state.
//! 4. A write that fails prep consumes no zxid: the leader answers with
//!    [`LeaderReply::Complete`] carrying `after_zxid`, the last zxid it had
//!    proposed; the origin member holds the reply until it has applied that
//!    zxid, so the error is ordered after the client's earlier writes.
//!
//! # Leader changes
//!
//! A new leader first commits raft's empty entry of its term; once applied,
//! its committed tree holds everything any earlier leader committed, so it
//! starts proposing from there and gives every session a fresh deadline (the
//! failover expires nobody). Applying that empty entry also moves the
//! member's zxid to `term << 32`, as a new ZooKeeper epoch does.
//! Requests whose fate is unknown when the leader changes (forwarded or
//! proposed, no reply yet) have their connections closed: the client sees
//! ConnectionLoss, as with ZooKeeper, and retries; the session lives on.
//! A member without a leader for longer than `leaderless_close_ms` closes
//! every client connection and refuses new ones until it has a leader, so a
//! partitioned member's clients move to the majority side instead of being
//! served state that may be stale and sessions that may have expired.

use super::core::{CoreConfig, Output};
use super::gather::{tree_and_sessions_report, Gathers};
use super::membership::Membership;
use super::raft_storage::SnapStorage;
use super::wire::*;
use crate::auth::AuthIds;
use crate::messages::*;
use crate::ops::txn::Txn;
use crate::ops::write::{self, WriteContext};
use crate::proto::{
    ConnectRequest, ConnectResponse, ErrorCode, MultiResult, Request, Response, SessionId, Zxid,
};
use crate::session::{ConnectionOwner, SessionTable};
use crate::snapshot::{RaftPoint, SessionRecord};
use crate::tree::DataTree;
use protobuf::Message as _;
use raft::eraftpb::{
    ConfChange, ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2, ConfState,
    Entry, EntryType, HardState, Message, MessageType, Snapshot,
};
use raft::storage::MemStorage;
use raft::{RawNode, SnapshotStatus, StateRole, Storage as _};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// Requests held while no leader is known or the new leader is not ready.
/// Beyond it the request's connection is closed (the client retries).
pub const WAITING_REQUESTS_MAX: usize = 16 * 1024;
/// Replies held until this member has applied what they must follow.
pub const HELD_REPLIES_MAX: usize = 64 * 1024;
/// When the leader's connection drops, the surviving voters campaign one
/// after another, this many ticks apart, in an order every member computes
/// alike (ids rotated by the term): two followers that saw the leader die at
/// the same moment must not both stand and split the vote, which costs a
/// full randomized election timeout (1-2 s). A random 1-5 tick jitter split
/// 2 votes in 20 failover rounds.
pub const DEAD_LEADER_CAMPAIGN_SPACING_TICKS: usize = 4;
/// Outstanding read barriers (`sync`s, and reads under
/// `roost.readConsistency=linearizable`) per member, over all rounds. Beyond
/// it the asking connection is closed (the client retries elsewhere).
pub const PENDING_BARRIERS_MAX: usize = 64 * 1024;
/// A ReadIndex round unanswered for this many heartbeat intervals is asked
/// again with the same token: a forwarded `MsgReadIndex` lost with a peer
/// connection is never retransmitted by raft, and without a leader change
/// nothing else would restart it. Re-asking with the same token is safe (any
/// answer to it was computed after every barrier of the round arrived) and
/// never discards the first ask's answer, so a slow round is not starved.
pub const READ_ROUND_RESEND_HEARTBEATS: i64 = 4;

/// Timing and membership of the ensemble.
#[derive(Clone, Debug)]
pub struct EnsembleConfig {
    pub core: CoreConfig,
    pub my_id: MemberId,
    /// The membership from zoo.cfg (reconfig entries in the log change it).
    pub servers: Vec<crate::config::ServerSpec>,
    pub voters: Vec<MemberId>,
    pub learners: Vec<MemberId>,
    /// One raft tick (`Member::tick` is called this often).
    pub raft_tick_ms: u64,
    /// Followers campaign after a random [election_ticks, 2*election_ticks) ticks of silence.
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    /// No leader for this long: close every client connection (see module doc).
    pub leaderless_close_ms: i64,
}

/// What recovery found for raft.
#[derive(Debug, Default)]
pub struct RaftRecovered {
    /// The log after the snapshot (if any): contiguous, the first at
    /// `snapshot.point.index + 1`.
    pub entries: Vec<Entry>,
    pub hard_state: HardState,
    /// The newest valid snapshot; the tree passed to [`Member::new`] is its tree.
    pub snapshot: Option<RecoveredSnapshot>,
}

/// The snapshot a member starts from.
#[derive(Debug)]
pub struct RecoveredSnapshot {
    pub point: RaftPoint,
    pub sessions: Vec<SessionRecord>,
    /// The whole file, sent to a member that needs compacted entries.
    pub data: Vec<u8>,
    /// The log on disk does not continue the snapshot (it ends before
    /// `point.index`): the member first persists a reset to `index + 1`.
    pub reset_log: bool,
}

/// Something the log core must make durable; answered by
/// [`Member::persisted`] with the same token.
#[derive(Debug)]
pub struct PersistRequest {
    pub token: u64,
    /// Only when term or vote changed (they must be durable before any
    /// message that depends on them is sent); the commit index is not
    /// persisted on every change (it is re-learned from the leader).
    pub hard_state: Option<HardState>,
    /// A snapshot covering `reset_to - 1` was installed: the log restarts
    /// at this index (applied before `entries`).
    pub reset_to: Option<u64>,
    /// A snapshot received from the leader, to write into the snapshot
    /// directory (durably) *before* `reset_to` is persisted: (tree zxid,
    /// file bytes).
    pub snapshot_file: Option<(Zxid, Vec<u8>)>,
    pub entries: Vec<Entry>,
}

/// A request parked until there is a leader to handle it.
#[derive(Debug)]
enum Deferred {
    Write {
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
    },
    Connect {
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
    },
}

impl Deferred {
    /// The connection it came from: (member, shard, conn).
    fn connection(&self) -> (MemberId, ShardId, ConnId) {
        match self {
            Deferred::Write { origin, .. } => {
                (origin.member, origin.origin.shard, origin.origin.conn)
            }
            Deferred::Connect {
                member,
                shard,
                conn,
                ..
            } => (*member, *shard, *conn),
        }
    }
}

/// A `sync` or a linearizable read, answered ([`ToShard::ReadBarrier`])
/// once this member has applied the leader's commit index as of a ReadIndex
/// round started after it arrived; its shard then answers the request.
type Barrier = Origin;

/// A write that arrived on a connection with a barrier outstanding: it is
/// not routed until that barrier is answered, so the earlier read or sync
/// is served at a state without it (ZooKeeper executes a client's requests
/// in order) and its reply cannot overtake theirs.
#[derive(Debug)]
struct ParkedWrite {
    origin: Origin,
    session_id: SessionId,
    auth: AuthIds,
    request: Request,
}

/// One ReadIndex round in flight: many barriers share it (batching).
#[derive(Debug)]
struct ReadRound {
    /// raft's request context (big-endian bytes on the wire).
    token: u64,
    /// When it was last asked (monotonic ms), for the resend.
    asked_ms: i64,
    barriers: Vec<Barrier>,
}

/// One ensemble member's consensus state. Single owner: the consensus executor.
pub struct Member {
    cfg: EnsembleConfig,
    node: RawNode<SnapStorage>,
    /// Term of the entry at `applied_index`.
    applied_term: u64,
    /// Entries applied since the last snapshot was asked for.
    entries_since_snapshot: u64,
    /// Drawn from [snapCount/2, snapCount]; u64::MAX disables snapshots.
    snapshot_threshold: u64,
    snapshot_in_flight: bool,
    /// The ready number whose persist installs a received snapshot: raft
    /// may not be told it is applied before that is durable.
    snapshot_persist_pending: Option<u64>,
    /// Snapshots received from the leader and installed (for tests and logs).
    snapshots_installed: u64,
    /// A snapshot received from the leader, decoded and checked before raft
    /// saw its message (raft index, contents): raft-rs cannot be told "no"
    /// once it has taken a snapshot, so a damaged one is refused at the door.
    verified_snapshot: Option<(u64, crate::snapshot::Loaded)>,
    /// Snapshots refused as damaged (mntr-style counter; tests read it).
    snapshots_refused: u64,
    /// The committed, applied tree (every role).
    tree: DataTree,
    published: Arc<DataTree>,
    /// Highest zxid applied (a new term's empty entry moves it to `term << 32`).
    applied_zxid: Zxid,
    applied_index: u64,
    /// Committed sessions; on the leader also deadlines, owners and closing flags.
    sessions: SessionTable,
    /// Leader only, once ready: committed tree plus every proposal.
    pending: Option<DataTree>,
    epoch: i64,
    counter: i64,
    last_proposed_zxid: Zxid,
    /// Set on becoming leader: the index of this term's empty entry.
    leader_noop_index: Option<u64>,
    known_leader: MemberId,
    known_term: u64,
    leaderless_since_ms: Option<i64>,
    clients_closed_for_no_leader: bool,
    waiting: VecDeque<Deferred>,
    /// Replies to deliver once `applied_zxid >= .0`.
    held: VecDeque<(Zxid, ShardId, ToShard)>,
    /// Local requests whose reply is outstanding, per connection.
    in_doubt: HashMap<(ShardId, ConnId), u32>,
    /// Barriers that arrived after the round in flight was asked (or while
    /// no leader was known): they go into the next round, never the current
    /// one, whose index may predate them.
    barriers_next: Vec<Barrier>,
    /// At most one ReadIndex round in flight: whatever arrives meanwhile is
    /// batched into the next, so a read-heavy load costs one round per
    /// round trip, not one per read.
    read_round: Option<ReadRound>,
    /// Rounds the leader confirmed: (read index, barriers), in order,
    /// waiting until this member has applied that index.
    barriers_confirmed: VecDeque<(u64, Vec<Barrier>)>,
    next_round_token: u64,
    read_rounds_started: u64,
    barriers_answered: u64,
    /// Outstanding barriers per connection (for parking its writes).
    barriers_by_conn: HashMap<(ShardId, ConnId), u32>,
    /// Writes parked behind their connection's barriers, in arrival order.
    parked_writes: HashMap<(ShardId, ConnId), VecDeque<ParkedWrite>>,
    parked_writes_count: usize,
    /// Tokens of persists in flight with their ready numbers and the
    /// messages to send once durable.
    unpersisted: VecDeque<(u64, bool, Vec<Message>)>,
    /// The highest persist token the log core has reported durable.
    persisted_through: u64,
    last_saved_term_vote: (u64, u64),
    outputs: Vec<Output>,
    peer_frames: Vec<(MemberId, u8, Vec<u8>)>,
    persists: Vec<PersistRequest>,
    next_reap_ms: i64,
    log_failure: Option<String>,
    gathers: Gathers,
    /// The current membership, as `/zookeeper/config` shows it.
    membership: Membership,
    /// Sessions this leader proposed that are not applied yet (already in
    /// `sessions`, see `lead_connect`).
    proposed_sessions: std::collections::HashSet<SessionId>,
    /// Set when an applied reconfig changed who the peers are.
    membership_changed: Option<Vec<crate::config::ServerSpec>>,
    mono_ms: i64,
}

/// raft's snapshot for a point and its file bytes.
fn raft_snapshot(point: &RaftPoint, data: Vec<u8>) -> Snapshot {
    let mut snap = Snapshot::default();
    let meta = snap.mut_metadata();
    meta.index = point.index;
    meta.term = point.term;
    let cs = meta.mut_conf_state();
    cs.voters = point.voters.clone();
    cs.learners = point.learners.clone();
    cs.voters_outgoing = point.voters_outgoing.clone();
    cs.learners_next = point.learners_next.clone();
    cs.auto_leave = point.auto_leave;
    snap.data = data.into();
    snap
}

/// The membership a tree's `/zookeeper/config` describes.
fn membership_of(tree: &DataTree) -> Option<Membership> {
    let node = tree.get(crate::tree::CONFIG_PATH)?;
    let text = std::str::from_utf8(node.data.as_deref()?).ok()?;
    Membership::parse_text(text).ok()
}

fn raft_logger() -> slog::Logger {
    slog::Logger::root(slog::Discard, slog::o!())
}

impl Member {
    /// `tree` is the state recovered from the newest snapshot (empty without
    /// one); `recovered` the raft log and hard state after it.
    pub fn new(
        cfg: EnsembleConfig,
        tree: DataTree,
        recovered: RaftRecovered,
        mono_ms: i64,
        password_secret: [u8; 32],
        shard_count: usize,
    ) -> Result<Member, raft::Error> {
        let mut cfg = cfg;
        let mut persists = Vec::new();
        let (snap_index, snap_term, applied_zxid) = match &recovered.snapshot {
            Some(snap) => {
                let p = &snap.point;
                cfg.voters = p.voters.clone();
                cfg.learners = p.learners.clone();
                if snap.reset_log {
                    persists.push(PersistRequest {
                        token: 0,
                        hard_state: None,
                        reset_to: Some(p.index + 1),
                        snapshot_file: None,
                        entries: Vec::new(),
                    });
                }
                (p.index, p.term, p.applied_zxid.max(tree.last_zxid))
            }
            None => (0, 0, tree.last_zxid),
        };
        let mut storage = SnapStorage::new(MemStorage::new_with_conf_state(ConfState::from((
            cfg.voters.clone(),
            cfg.learners.clone(),
        ))));
        if let Some(snap) = &recovered.snapshot {
            storage.install(raft_snapshot(&snap.point, snap.data.clone()))?;
        }
        {
            let mut s = storage.mem.wl();
            s.append(&recovered.entries)?;
            let mut hs = recovered.hard_state.clone();
            let last = recovered.entries.last().map_or(snap_index, |e| e.index);
            // The commit index is persisted lazily: never beyond the log,
            // never below the snapshot (which holds only committed entries).
            hs.commit = hs.commit.min(last).max(snap_index);
            hs.term = hs.term.max(snap_term);
            s.set_hardstate(hs);
        }
        let raft_cfg = raft::Config {
            id: cfg.my_id,
            election_tick: cfg.election_ticks,
            heartbeat_tick: cfg.heartbeat_ticks,
            pre_vote: true,
            check_quorum: true,
            max_size_per_msg: 1 << 20,
            max_inflight_msgs: 256,
            applied: snap_index,
            ..Default::default()
        };
        raft_cfg.validate()?;
        let node = RawNode::new(&raft_cfg, storage, &raft_logger())?;
        let mut sessions = SessionTable::new(
            cfg.my_id as u8,
            crate::clock::now_ms(),
            cfg.core.tick_ms,
            password_secret,
        );
        let mut membership = Membership::new(cfg.servers.clone(), 0);
        let mut membership_changed = None;
        if let Some(snap) = &recovered.snapshot {
            for s in &snap.sessions {
                sessions.create(s.id, s.timeout_ms, mono_ms);
            }
            if let Some(m) = membership_of(&tree) {
                if m.servers != membership.servers {
                    membership_changed = Some(m.servers.clone());
                }
                membership = m;
            }
        }
        let last_saved_term_vote = (recovered.hard_state.term, recovered.hard_state.vote);
        let next_reap_ms = mono_ms + cfg.core.container_check_interval_ms;
        let snap_count = cfg.core.snap_count;
        let snapshot_threshold = if snap_count == 0 {
            u64::MAX
        } else {
            snap_count / 2 + rand::random::<u64>() % (snap_count / 2 + 1)
        };
        Ok(Member {
            applied_term: snap_term,
            entries_since_snapshot: 0,
            snapshot_threshold,
            snapshot_in_flight: false,
            snapshot_persist_pending: None,
            snapshots_installed: 0,
            verified_snapshot: None,
            snapshots_refused: 0,
            published: Arc::new(tree.clone()),
            tree,
            applied_zxid,
            applied_index: snap_index,
            sessions,
            pending: None,
            epoch: 0,
            counter: 0,
            last_proposed_zxid: 0,
            leader_noop_index: None,
            known_leader: 0,
            known_term: 0,
            leaderless_since_ms: Some(mono_ms),
            clients_closed_for_no_leader: false,
            waiting: VecDeque::new(),
            held: VecDeque::new(),
            in_doubt: HashMap::new(),
            barriers_next: Vec::new(),
            read_round: None,
            barriers_confirmed: VecDeque::new(),
            next_round_token: 1,
            read_rounds_started: 0,
            barriers_answered: 0,
            barriers_by_conn: HashMap::new(),
            parked_writes: HashMap::new(),
            parked_writes_count: 0,
            unpersisted: VecDeque::new(),
            persisted_through: 0,
            last_saved_term_vote,
            outputs: Vec::new(),
            peer_frames: Vec::new(),
            persists,
            next_reap_ms,
            log_failure: None,
            gathers: Gathers::new(shard_count),
            membership,
            membership_changed,
            proposed_sessions: std::collections::HashSet::new(),
            mono_ms,
            cfg,
            node,
        })
    }

    pub fn initial_tree(&self) -> Arc<DataTree> {
        self.published.clone()
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    pub fn take_peer_frames(&mut self) -> Vec<(MemberId, u8, Vec<u8>)> {
        std::mem::take(&mut self.peer_frames)
    }

    pub fn take_persists(&mut self) -> Vec<PersistRequest> {
        std::mem::take(&mut self.persists)
    }

    /// The membership after a reconfig was applied, once (for the transport).
    pub fn take_membership_change(&mut self) -> Option<Vec<crate::config::ServerSpec>> {
        self.membership_changed.take()
    }

    /// `/zookeeper/config`'s text for the current membership.
    pub fn membership_text(&self) -> String {
        self.membership.text()
    }

    pub fn my_id(&self) -> MemberId {
        self.cfg.my_id
    }

    pub fn leader(&self) -> MemberId {
        self.node.raft.leader_id
    }

    pub fn is_leader(&self) -> bool {
        self.node.raft.state == StateRole::Leader
    }

    pub fn applied_zxid(&self) -> Zxid {
        self.applied_zxid
    }

    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    fn leader_ready(&self) -> bool {
        self.is_leader() && self.pending.is_some()
    }

    /// A forwarded request could not be sent (the link to the leader is
    /// down or full): every request in doubt is failed with ConnectionLoss
    /// rather than left waiting.
    pub fn forwards_lost(&mut self) {
        let parked = self.parked_connections();
        let in_doubt: Vec<(ShardId, ConnId)> = self
            .in_doubt
            .keys()
            .copied()
            .filter(|k| !parked.contains(k))
            .collect();
        for (shard, conn) in in_doubt {
            self.in_doubt.remove(&(shard, conn));
            self.outputs
                .push(Output::To(shard, ToShard::CloseConnection { conn }));
        }
    }

    fn parked_connections(&self) -> std::collections::HashSet<(ShardId, ConnId)> {
        let me = self.cfg.my_id;
        self.waiting
            .iter()
            .map(Deferred::connection)
            .filter(|(member, ..)| *member == me)
            .map(|(_, shard, conn)| (shard, conn))
            .collect()
    }

    /// The log core can no longer make entries durable. A leader hands
    /// leadership to the most up-to-date voter: a member that cannot persist
    /// cannot commit anything of its own, but the others still can.
    pub fn log_failed(&mut self, reason: String) {
        self.log_failure = Some(reason);
        if self.is_leader() {
            let me = self.cfg.my_id;
            let voters = &self.cfg.voters;
            let best = self
                .node
                .raft
                .prs()
                .iter()
                .filter(|(id, _)| **id != me && voters.contains(id))
                .max_by_key(|(_, pr)| pr.matched)
                .map(|(id, _)| *id);
            if let Some(to) = best {
                tracing::warn!(to, "transaction log failed: transferring leadership");
                self.node.transfer_leader(to);
            }
        }
    }

    // ---- client-side inputs (from this member's shards) ----

    pub fn write(
        &mut self,
        origin: Origin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
        mono_ms: i64,
        wall_ms: i64,
    ) {
        self.mono_ms = mono_ms;
        let key = (origin.shard, origin.conn);
        if self.barriers_by_conn.contains_key(&key) {
            if self.parked_writes_count >= WAITING_REQUESTS_MAX {
                tracing::warn!("too many writes parked behind reads: closing the connection");
                self.close_connection(self.cfg.my_id, origin.shard, origin.conn);
                return;
            }
            self.parked_writes_count += 1;
            self.parked_writes
                .entry(key)
                .or_default()
                .push_back(ParkedWrite {
                    origin,
                    session_id,
                    auth,
                    request,
                });
            return;
        }
        self.note_in_doubt(origin.shard, origin.conn);
        let origin = RemoteOrigin {
            member: self.cfg.my_id,
            origin,
        };
        self.route_write(origin, session_id, auth, request, wall_ms);
    }

    /// A `sync`, or a read under `roost.readConsistency=linearizable`: it
    /// may be answered once this member has applied the leader's commit
    /// index as of a ReadIndex round started after now. Barriers are never
    /// in doubt (a lost round is asked again), so they are not counted in
    /// `in_doubt`.
    pub fn read_barrier(&mut self, origin: Origin) {
        self.add_barrier(origin);
    }

    pub fn connect(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
        mono_ms: i64,
        wall_ms: i64,
    ) {
        self.mono_ms = mono_ms;
        // A client that has seen more than this member has applied goes
        // elsewhere (closed without a reply), as with ZooKeeper; so does
        // every client while this member has been without a leader too long.
        if request.last_zxid_seen > self.applied_zxid || self.clients_closed_for_no_leader {
            tracing::info!(
                client_zxid = format!("{:#x}", request.last_zxid_seen),
                our_zxid = format!("{:#x}", self.applied_zxid),
                leaderless = self.clients_closed_for_no_leader,
                "refusing connection: this member is behind the client or has no leader"
            );
            self.outputs.push(Output::To(
                shard,
                ToShard::ConnectResult {
                    conn,
                    response: None,
                    session_id: 0,
                },
            ));
            return;
        }
        self.note_in_doubt(shard, conn);
        let member = self.cfg.my_id;
        self.route_connect(member, shard, conn, request, wall_ms);
    }

    pub fn touch(&mut self, sessions: Vec<SessionId>, mono_ms: i64) {
        self.mono_ms = mono_ms;
        if self.is_leader() {
            for id in sessions {
                self.sessions.touch(id, mono_ms);
            }
        } else if self.known_leader != 0 {
            self.forward(Forward::Touch { sessions });
        }
    }

    pub fn disconnected(&mut self, shard: ShardId, conn: ConnId, session_id: SessionId) {
        self.in_doubt.remove(&(shard, conn));
        // Requests it queued while there was no leader go with it: proposed
        // later, they could land after what its client sent since on a new
        // connection.
        let me = self.cfg.my_id;
        self.waiting.retain(|d| d.connection() != (me, shard, conn));
        // Its barriers are answered into the void; its parked writes were
        // sent nowhere and go with it.
        self.barriers_by_conn.remove(&(shard, conn));
        if let Some(parked) = self.parked_writes.remove(&(shard, conn)) {
            self.parked_writes_count -= parked.len();
        }
        let member = self.cfg.my_id;
        if self.is_leader() {
            self.owner_gone(member, shard, conn, session_id);
        } else if self.known_leader != 0 {
            self.forward(Forward::Disconnected {
                member,
                shard,
                conn,
                session_id,
            });
        }
    }

    fn owner_gone(&mut self, member: MemberId, shard: ShardId, conn: ConnId, session: SessionId) {
        let owner = ConnectionOwner {
            member,
            shard,
            conn,
        };
        if self.sessions.get(session).and_then(|s| s.owner) == Some(owner) {
            self.sessions.set_owner(session, None);
        }
    }

    // ---- peer inputs ----

    /// A frame from another member.
    pub fn peer_frame(
        &mut self,
        from: MemberId,
        kind: u8,
        body: &[u8],
        mono_ms: i64,
        wall_ms: i64,
    ) {
        self.mono_ms = mono_ms;
        match kind {
            FRAME_RAFT => match Message::parse_from_bytes(body) {
                Ok(msg) => {
                    if msg.get_msg_type() == MessageType::MsgSnapshot
                        && !self.verify_received_snapshot(from, &msg)
                    {
                        return;
                    }
                    if let Err(e) = self.node.step(msg) {
                        tracing::debug!(from, error = %e, "raft message ignored");
                    }
                }
                Err(e) => tracing::warn!(from, error = %e, "malformed raft message"),
            },
            FRAME_FORWARD => match decode_forward(body) {
                Ok(f) => self.on_forward(f, wall_ms),
                Err(e) => tracing::warn!(from, error = %e, "malformed forwarded request"),
            },
            FRAME_REPLY => match decode_reply(body) {
                Ok(r) => self.on_leader_reply(r),
                Err(e) => tracing::warn!(from, error = %e, "malformed leader reply"),
            },
            other => tracing::warn!(from, kind = other, "unknown peer frame kind"),
        }
    }

    /// The transport lost its connection to `peer`. If it was the leader,
    /// do not wait for the election timeout: its process is gone (a killed
    /// process's sockets are closed by the kernel at once), so campaign now.
    /// Pre-vote still protects the term if the leader is in fact alive.
    pub fn peer_disconnected(&mut self, peer: MemberId) {
        if peer == self.node.raft.leader_id && !self.is_leader() {
            let timeout = self.node.raft.randomized_election_timeout();
            let lease = self.cfg.election_ticks;
            // Campaign within a few ticks, in turn with the other survivors
            // (DEAD_LEADER_CAMPAIGN_SPACING_TICKS); and leave the leader's
            // lease (check-quorum) so they grant each other votes.
            let turn = campaign_turn(&self.cfg.voters, peer, self.cfg.my_id, self.node.raft.term);
            let delay = 1 + turn * DEAD_LEADER_CAMPAIGN_SPACING_TICKS;
            let elapsed = timeout.saturating_sub(delay).max(lease);
            self.node.raft.election_elapsed = self.node.raft.election_elapsed.max(elapsed);
            tracing::info!(
                peer,
                "lost the connection to the leader: election brought forward"
            );
        }
        self.node.report_unreachable(peer);
    }

    fn on_forward(&mut self, f: Forward, wall_ms: i64) {
        match f {
            Forward::Write {
                origin,
                session_id,
                auth,
                request,
            } => {
                // The sender need not be `origin.member`: a member that was
                // leader when the write reached it, and no longer is,
                // relays it to the leader it now knows (`route_write`); the
                // reply still goes to the origin's member.
                self.route_write(origin, session_id, auth, request, wall_ms);
            }
            Forward::Connect {
                member,
                shard,
                conn,
                request,
            } => self.route_connect(member, shard, conn, request, wall_ms),
            Forward::Touch { sessions } => {
                if self.is_leader() {
                    for id in sessions {
                        self.sessions.touch(id, self.mono_ms);
                    }
                }
            }
            Forward::Disconnected {
                member,
                shard,
                conn,
                session_id,
            } => {
                if self.is_leader() {
                    self.owner_gone(member, shard, conn, session_id);
                }
            }
        }
    }

    fn on_leader_reply(&mut self, r: LeaderReply) {
        match r {
            LeaderReply::Complete {
                after_zxid,
                origin,
                result,
            } => {
                let result = match result {
                    RemoteResult::Error(code) => Err(code),
                    RemoteResult::MultiErrors(codes) => Ok(Response::Multi(
                        codes.into_iter().map(MultiResult::Error).collect(),
                    )),
                };
                self.hold(
                    after_zxid,
                    origin.shard,
                    ToShard::Complete {
                        zxid: after_zxid,
                        completion: Completion { origin, result },
                    },
                );
            }
            LeaderReply::ConnectResult {
                after_zxid,
                shard,
                conn,
                session_id,
                response,
            } => self.hold(
                after_zxid,
                shard,
                ToShard::ConnectResult {
                    conn,
                    response,
                    session_id,
                },
            ),
            LeaderReply::CloseConnection { shard, conn } => {
                self.outputs
                    .push(Output::To(shard, ToShard::CloseConnection { conn }));
            }
        }
    }

    // ---- routing ----

    fn forward(&mut self, f: Forward) {
        let leader = self.known_leader;
        debug_assert!(leader != 0 && leader != self.cfg.my_id);
        self.peer_frames
            .push((leader, FRAME_FORWARD, encode_forward(&f)));
    }

    fn defer(&mut self, d: Deferred) {
        if self.waiting.len() >= WAITING_REQUESTS_MAX {
            tracing::warn!("too many requests waiting for a leader: closing the connection");
            let (member, shard, conn) = d.connection();
            self.close_connection(member, shard, conn);
            return;
        }
        self.waiting.push_back(d);
    }

    fn close_connection(&mut self, member: MemberId, shard: ShardId, conn: ConnId) {
        if member == self.cfg.my_id {
            self.in_doubt.remove(&(shard, conn));
            self.outputs
                .push(Output::To(shard, ToShard::CloseConnection { conn }));
        } else {
            let m = LeaderReply::CloseConnection { shard, conn };
            self.peer_frames
                .push((member, FRAME_REPLY, encode_reply(&m)));
        }
    }

    fn route_write(
        &mut self,
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
        wall_ms: i64,
    ) {
        if self.leader_ready() {
            self.lead_write(origin, session_id, &auth, &request, wall_ms);
        } else if self.known_leader != 0 && !self.is_leader() && self.known_leader != origin.member
        {
            self.forward(Forward::Write {
                origin,
                session_id,
                auth,
                request,
            });
        } else {
            self.defer(Deferred::Write {
                origin,
                session_id,
                auth,
                request,
            });
        }
    }

    fn route_connect(
        &mut self,
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
        wall_ms: i64,
    ) {
        if self.leader_ready() {
            self.lead_connect(member, shard, conn, &request, wall_ms);
        } else if self.known_leader != 0 && !self.is_leader() && self.known_leader != member {
            self.forward(Forward::Connect {
                member,
                shard,
                conn,
                request,
            });
        } else {
            self.defer(Deferred::Connect {
                member,
                shard,
                conn,
                request,
            });
        }
    }

    // ---- read barriers (sync, linearizable reads) ----

    fn barriers_outstanding(&self) -> usize {
        self.barriers_next.len()
            + self.read_round.as_ref().map_or(0, |r| r.barriers.len())
            + self
                .barriers_confirmed
                .iter()
                .map(|(_, b)| b.len())
                .sum::<usize>()
    }

    fn add_barrier(&mut self, barrier: Barrier) {
        if self.barriers_outstanding() >= PENDING_BARRIERS_MAX {
            tracing::warn!(
                "too many reads and syncs waiting for ReadIndex: closing the connection"
            );
            self.close_connection(self.cfg.my_id, barrier.shard, barrier.conn);
            return;
        }
        *self
            .barriers_by_conn
            .entry((barrier.shard, barrier.conn))
            .or_insert(0) += 1;
        self.barriers_next.push(barrier);
        self.start_read_round();
    }

    /// Asks raft for the leader's commit index on behalf of every barrier
    /// waiting, unless a round is in flight (they go next) or no leader can
    /// answer yet (they wait for one, see `check_role`).
    fn start_read_round(&mut self) {
        if self.read_round.is_some() || self.barriers_next.is_empty() {
            return;
        }
        if self.node.raft.leader_id == 0 || (self.is_leader() && !self.leader_ready()) {
            return;
        }
        let token = self.next_round_token;
        self.next_round_token += 1;
        self.read_rounds_started += 1;
        self.read_round = Some(ReadRound {
            token,
            asked_ms: self.mono_ms,
            barriers: std::mem::take(&mut self.barriers_next),
        });
        self.node.read_index(token.to_be_bytes().to_vec());
    }

    /// raft confirmed a round: `index` was the leader's commit index when
    /// it handled the request. Answers to other tokens (a round abandoned
    /// at a leader change) are ignored.
    fn read_round_confirmed(&mut self, token: u64, index: u64) {
        if self.read_round.as_ref().map(|r| r.token) != Some(token) {
            return;
        }
        let round = self.read_round.take().expect("checked above");
        self.barriers_confirmed.push_back((index, round.barriers));
        self.start_read_round();
    }

    /// Asks the round in flight again if it has gone unanswered too long.
    fn resend_stale_read_round(&mut self) {
        let resend_after_ms = READ_ROUND_RESEND_HEARTBEATS
            * self.cfg.heartbeat_ticks as i64
            * self.cfg.raft_tick_ms as i64;
        let now = self.mono_ms;
        let Some(round) = self.read_round.as_mut() else {
            return;
        };
        if now - round.asked_ms < resend_after_ms || self.node.raft.leader_id == 0 {
            return;
        }
        round.asked_ms = now;
        let token = round.token;
        tracing::debug!(token, "ReadIndex round unanswered: asking again");
        self.node.read_index(token.to_be_bytes().to_vec());
    }

    /// Every barrier, oldest first, back to waiting for a new round (at a
    /// leader change: a round asked of the old leader may never be answered).
    /// A later round is still a round started after each barrier arrived.
    fn requeue_barriers(&mut self) {
        let mut all: Vec<Barrier> = Vec::with_capacity(self.barriers_outstanding());
        for (_, b) in self.barriers_confirmed.drain(..) {
            all.extend(b);
        }
        if let Some(round) = self.read_round.take() {
            all.extend(round.barriers);
        }
        all.append(&mut self.barriers_next);
        self.barriers_next = all;
    }

    /// Answers the confirmed rounds this member has applied far enough, in
    /// order; the commits they follow were queued to the shards before.
    fn answer_barriers(&mut self, wall_ms: i64) {
        while let Some((index, _)) = self.barriers_confirmed.front() {
            if *index > self.applied_index {
                break;
            }
            let (_, barriers) = self.barriers_confirmed.pop_front().expect("front exists");
            self.barriers_answered += barriers.len() as u64;
            for origin in barriers {
                self.outputs.push(Output::To(
                    origin.shard,
                    ToShard::ReadBarrier {
                        conn: origin.conn,
                        xid: origin.xid,
                    },
                ));
                let key = (origin.shard, origin.conn);
                let Some(n) = self.barriers_by_conn.get_mut(&key) else {
                    continue; // the connection is gone
                };
                *n -= 1;
                if *n == 0 {
                    self.barriers_by_conn.remove(&key);
                    self.unpark_writes(key, wall_ms);
                }
            }
        }
    }

    /// Routes the writes a connection sent after its last barrier, now
    /// answered, in order (their replies follow that barrier's on the FIFO).
    fn unpark_writes(&mut self, key: (ShardId, ConnId), wall_ms: i64) {
        let Some(parked) = self.parked_writes.remove(&key) else {
            return;
        };
        self.parked_writes_count -= parked.len();
        let mono_ms = self.mono_ms;
        for w in parked {
            self.write(w.origin, w.session_id, w.auth, w.request, mono_ms, wall_ms);
        }
    }

    fn run_waiting(&mut self, wall_ms: i64) {
        let waiting = std::mem::take(&mut self.waiting);
        for d in waiting {
            match d {
                Deferred::Write {
                    origin,
                    session_id,
                    auth,
                    request,
                } => self.route_write(origin, session_id, auth, request, wall_ms),
                Deferred::Connect {
                    member,
                    shard,
                    conn,
                    request,
                } => self.route_connect(member, shard, conn, request, wall_ms),
            }
        }
    }

    // ---- leader ----

    fn reply_after(&mut self, origin: RemoteOrigin, result: Result<Response, ErrorCode>) {
        let after = self.last_proposed_zxid.max(self.applied_zxid);
        if origin.member == self.cfg.my_id {
            self.hold(
                after,
                origin.origin.shard,
                ToShard::Complete {
                    zxid: after,
                    completion: Completion {
                        origin: origin.origin,
                        result,
                    },
                },
            );
        } else {
            let result = match result {
                Err(code) => RemoteResult::Error(code),
                Ok(Response::Multi(results)) => RemoteResult::MultiErrors(
                    results
                        .into_iter()
                        .map(|r| match r {
                            MultiResult::Error(c) => c,
                            other => unreachable!("a failed multi carries only errors: {other:?}"),
                        })
                        .collect(),
                ),
                Ok(other) => unreachable!("only failures are answered by the leader: {other:?}"),
            };
            let m = LeaderReply::Complete {
                after_zxid: after,
                origin: origin.origin,
                result,
            };
            self.peer_frames
                .push((origin.member, FRAME_REPLY, encode_reply(&m)));
        }
    }

    fn lead_write(
        &mut self,
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: &AuthIds,
        request: &Request,
        wall_ms: i64,
    ) {
        if !self.sessions.is_live(session_id) {
            self.reply_after(origin, Err(ErrorCode::SessionExpired));
            return;
        }
        if let Some(reason) = &self.log_failure {
            tracing::warn!(reason, "refusing write: transaction log failed");
            self.reply_after(origin, Err(ErrorCode::SystemError));
            return;
        }
        let writer = ConnectionOwner {
            member: origin.member,
            shard: origin.origin.shard,
            conn: origin.origin.conn,
        };
        if let Err(moved) = self.sessions.check_owner(session_id, writer) {
            tracing::debug!(session = format!("{session_id:#x}"), %moved, "write from a stale connection");
            self.reply_after(origin, Err(ErrorCode::SessionMoved));
            return;
        }
        self.sessions.touch(session_id, self.mono_ms);
        if matches!(request, Request::CloseSession) {
            self.sessions.mark_closing(session_id);
            self.propose(
                Txn::CloseSession { session_id },
                wall_ms,
                Some(origin),
                None,
            );
            return;
        }
        if let Request::Reconfig {
            joining,
            leaving,
            new_members,
            cur_config_id,
        } = request
        {
            match self.prep_reconfig(
                auth,
                joining.as_deref(),
                leaving.as_deref(),
                new_members.as_deref(),
                *cur_config_id,
            ) {
                Ok((servers, cc)) => self.propose_reconfig(servers, cc, wall_ms, origin),
                Err(code) => self.reply_after(origin, Err(code)),
            }
            return;
        }
        let ctx = WriteContext {
            session_id,
            auth,
            config: &self.cfg.core.ops,
        };
        let pending = self.pending.as_ref().expect("leader is ready");
        match write::prep(pending, request, &ctx) {
            Txn::Error(code) => self.reply_after(origin, Err(code)),
            Txn::MultiError(codes) => {
                let results = codes.into_iter().map(MultiResult::Error).collect();
                self.reply_after(origin, Ok(Response::Multi(results)));
            }
            txn => self.propose(txn, wall_ms, Some(origin), None),
        }
    }

    /// Validates a reconfig in ZooKeeper's order, as kazoo's suite observes
    /// it: enabled, the request itself (BadArguments), the expected version
    /// (BadVersion), and only then permission on /zookeeper/config (NoAuth);
    /// then one membership change at a time.
    fn prep_reconfig(
        &self,
        auth: &AuthIds,
        joining: Option<&str>,
        leaving: Option<&str>,
        new_members: Option<&str>,
        cur_config_id: i64,
    ) -> Result<(Vec<crate::config::ServerSpec>, ConfChangeV2), ErrorCode> {
        if !self.cfg.core.ops.reconfig_enabled {
            return Err(ErrorCode::ReconfigDisabled);
        }
        let servers = self
            .membership
            .reconfigured(joining, leaving, new_members)?;
        if cur_config_id != -1 && cur_config_id != self.membership.version {
            return Err(ErrorCode::BadVersion);
        }
        let pending = self.pending.as_ref().expect("leader is ready");
        let node = pending
            .get(crate::tree::CONFIG_PATH)
            .expect("/zookeeper/config always exists");
        crate::auth::acl::check(
            &node.acl,
            auth,
            crate::proto::perms::WRITE,
            self.cfg.core.ops.skip_acl,
        )?;
        if self.node.raft.has_pending_conf() {
            return Err(ErrorCode::ReconfigInProgress);
        }
        let next = Membership::new(servers.clone(), 0);
        let mut changes = Vec::new();
        for s in &next.servers {
            let old = self.membership.servers.iter().find(|o| o.id == s.id);
            if old.map(|o| o.role) != Some(s.role) {
                let mut c = ConfChangeSingle {
                    node_id: s.id,
                    ..Default::default()
                };
                c.set_change_type(match s.role {
                    crate::config::PeerRole::Participant => ConfChangeType::AddNode,
                    crate::config::PeerRole::Observer => ConfChangeType::AddLearnerNode,
                });
                changes.push(c);
            }
        }
        for o in &self.membership.servers {
            if !next.servers.iter().any(|s| s.id == o.id) {
                let mut c = ConfChangeSingle {
                    node_id: o.id,
                    ..Default::default()
                };
                c.set_change_type(ConfChangeType::RemoveNode);
                changes.push(c);
            }
        }
        let mut cc = ConfChangeV2::default();
        cc.set_changes(changes.into());
        cc.set_transition(ConfChangeTransition::Auto);
        Ok((servers, cc))
    }

    fn propose_reconfig(
        &mut self,
        servers: Vec<crate::config::ServerSpec>,
        cc: ConfChangeV2,
        wall_ms: i64,
        origin: RemoteOrigin,
    ) {
        self.counter += 1;
        let zxid = (self.epoch << 32) | self.counter;
        let text = Membership::new(servers, zxid).text();
        let txn = Txn::Reconfig {
            config: Arc::from(text.as_bytes()),
        };
        let pending = self.pending.as_mut().expect("leader is ready");
        write::apply(pending, &txn, zxid, wall_ms);
        let payload = EntryPayload {
            zxid,
            time_ms: wall_ms,
            origin: Some(origin),
            connect: None,
            txn,
        };
        match self.node.propose_conf_change(encode_entry(&payload), cc) {
            Ok(()) => self.last_proposed_zxid = zxid,
            Err(e) => {
                tracing::warn!(error = %e, "membership change refused by raft");
                self.pending = None;
                self.reply_after(origin, Err(ErrorCode::ReconfigInProgress));
            }
        }
    }

    fn lead_connect(
        &mut self,
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: &ConnectRequest,
        wall_ms: i64,
    ) {
        let timeout_ms = SessionTable::negotiate_timeout(
            request.timeout_ms,
            self.cfg.core.min_session_timeout_ms,
            self.cfg.core.max_session_timeout_ms,
        );
        let read_only = request.read_only.map(|_| false);
        if request.session_id == 0 {
            let session_id = self.sessions.allocate_id();
            // Live on the leader from now on, as in ZooKeeper: the client can
            // hear of its session (from a follower that applied the entry)
            // before this leader has applied it, and its first write must
            // not be refused as expired.
            self.sessions.create(session_id, timeout_ms, self.mono_ms);
            self.sessions.set_owner(
                session_id,
                Some(ConnectionOwner {
                    member,
                    shard,
                    conn,
                }),
            );
            self.proposed_sessions.insert(session_id);
            let response = ConnectResponse {
                protocol_version: 0,
                timeout_ms,
                session_id,
                passwd: self.sessions.password_for(session_id),
                read_only,
            };
            let connect = ConnectReply {
                member,
                shard,
                conn,
                response,
            };
            self.propose(
                Txn::CreateSession {
                    session_id,
                    timeout_ms,
                },
                wall_ms,
                None,
                Some(connect),
            );
            return;
        }
        let session_id = request.session_id;
        let owner = ConnectionOwner {
            member,
            shard,
            conn,
        };
        // Re-attach: first kick any other connection bound to the session.
        if let Some(old) = self.sessions.get(session_id).and_then(|s| s.owner) {
            if old != owner {
                self.close_connection(old.member, old.shard, old.conn);
                self.sessions.set_owner(session_id, None);
            }
        }
        let response = match self.sessions.reattach(
            session_id,
            &request.passwd,
            timeout_ms,
            self.mono_ms,
            owner,
        ) {
            Ok(()) => ConnectResponse {
                protocol_version: 0,
                timeout_ms,
                session_id,
                passwd: self.sessions.password_for(session_id),
                read_only,
            },
            Err(why) => {
                tracing::debug!(session = format!("{session_id:#x}"), %why, "re-attach refused");
                ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: 0,
                    session_id: 0,
                    passwd: [0; 16],
                    read_only,
                }
            }
        };
        let after = self.last_proposed_zxid.max(self.applied_zxid);
        let msg = ToShard::ConnectResult {
            conn,
            response: Some(response.clone()),
            session_id,
        };
        if member == self.cfg.my_id {
            self.hold(after, shard, msg);
        } else {
            let m = LeaderReply::ConnectResult {
                after_zxid: after,
                shard,
                conn,
                session_id,
                response: Some(response),
            };
            self.peer_frames
                .push((member, FRAME_REPLY, encode_reply(&m)));
        }
    }

    fn propose(
        &mut self,
        txn: Txn,
        wall_ms: i64,
        origin: Option<RemoteOrigin>,
        connect: Option<ConnectReply>,
    ) {
        self.counter += 1;
        assert!(
            self.counter < (1 << 32),
            "zxid counter exhausted in epoch {}",
            self.epoch
        );
        let zxid = (self.epoch << 32) | self.counter;
        let pending = self.pending.as_mut().expect("leader is ready");
        write::apply(pending, &txn, zxid, wall_ms);
        let payload = EntryPayload {
            zxid,
            time_ms: wall_ms,
            origin,
            connect,
            txn,
        };
        let data = encode_entry(&payload);
        match self.node.propose(Vec::new(), data) {
            Ok(()) => self.last_proposed_zxid = zxid,
            Err(e) => {
                // Leadership is being transferred or lost: the pending tree
                // now holds a change that will never commit, so it is rebuilt
                // from the committed tree at the next role check.
                tracing::warn!(error = %e, "proposal dropped");
                self.pending = None;
                if let Some(o) = payload.origin {
                    self.close_connection(o.member, o.origin.shard, o.origin.conn);
                }
                if let Some(c) = payload.connect {
                    self.close_connection(c.member, c.shard, c.conn);
                }
            }
        }
    }

    // ---- replies ----

    fn note_in_doubt(&mut self, shard: ShardId, conn: ConnId) {
        *self.in_doubt.entry((shard, conn)).or_insert(0) += 1;
    }

    fn resolved(&mut self, shard: ShardId, conn: ConnId) {
        if let Some(n) = self.in_doubt.get_mut(&(shard, conn)) {
            *n -= 1;
            if *n == 0 {
                self.in_doubt.remove(&(shard, conn));
            }
        }
    }

    fn hold(&mut self, after: Zxid, shard: ShardId, msg: ToShard) {
        if self.held.len() >= HELD_REPLIES_MAX {
            if let ToShard::Complete { completion, .. } = &msg {
                let (s, c) = (completion.origin.shard, completion.origin.conn);
                self.close_connection(self.cfg.my_id, s, c);
                return;
            }
        }
        self.held.push_back((after, shard, msg));
        self.release_held();
    }

    fn release_held(&mut self) {
        while let Some((after, _, _)) = self.held.front() {
            if *after > self.applied_zxid {
                break;
            }
            let (_, shard, mut msg) = self.held.pop_front().expect("front exists");
            match &mut msg {
                ToShard::Complete { zxid, completion } => {
                    *zxid = self.applied_zxid;
                    let (s, c) = (completion.origin.shard, completion.origin.conn);
                    self.resolved(s, c);
                }
                ToShard::ConnectResult { conn, .. } => {
                    let c = *conn;
                    self.resolved(shard, c);
                }
                _ => {}
            }
            self.outputs.push(Output::To(shard, msg));
        }
    }

    // ---- time ----

    /// One raft tick; also session expiry and the reaper on the leader.
    pub fn tick(&mut self, mono_ms: i64, wall_ms: i64) {
        self.mono_ms = mono_ms;
        self.node.tick();
        self.resend_stale_read_round();
        if self.leader_ready() {
            for session_id in self.sessions.take_expired(mono_ms) {
                tracing::info!(session = format!("{session_id:#x}"), "session expired");
                self.sessions.mark_closing(session_id);
                self.propose(Txn::CloseSession { session_id }, wall_ms, None, None);
            }
            if mono_ms >= self.next_reap_ms {
                self.next_reap_ms = mono_ms + self.cfg.core.container_check_interval_ms;
                self.reap(wall_ms);
            }
        }
        if let Some(since) = self.leaderless_since_ms {
            if !self.clients_closed_for_no_leader && mono_ms - since >= self.cfg.leaderless_close_ms
            {
                tracing::warn!(
                    after_ms = mono_ms - since,
                    "no leader: closing every client connection until one is elected"
                );
                self.clients_closed_for_no_leader = true;
                self.close_all_clients();
            }
        }
    }

    /// Closes every client connection of this member. What they were
    /// waiting for goes with them: reads and syncs, the writes parked
    /// behind those, and requests queued for a leader (carried out later,
    /// they could land after what their clients sent since, elsewhere).
    fn close_all_clients(&mut self) {
        self.requeue_barriers();
        self.barriers_next.clear();
        self.barriers_by_conn.clear();
        self.parked_writes.clear();
        self.parked_writes_count = 0;
        let me = self.cfg.my_id;
        self.waiting.retain(|d| d.connection().0 != me);
        self.in_doubt.clear();
        self.outputs.push(Output::Broadcast(ToShard::CloseAll));
    }

    fn reap(&mut self, wall_ms: i64) {
        let Some(pending) = self.pending.as_ref() else {
            return;
        };
        let candidates = write::reaper_candidates(
            pending,
            wall_ms,
            self.cfg.core.container_max_never_used_interval_ms,
        );
        let budget = ((self.cfg.core.container_max_per_minute as i64
            * self.cfg.core.container_check_interval_ms)
            / 60_000)
            .max(1) as usize;
        for path in candidates.into_iter().take(budget) {
            let request = Request::DeleteContainer {
                path: path.to_string(),
            };
            let ctx = WriteContext {
                session_id: 0,
                auth: &AuthIds::default(),
                config: &self.cfg.core.ops,
            };
            let Some(pending) = self.pending.as_ref() else {
                return;
            };
            let txn = write::prep(pending, &request, &ctx);
            if !matches!(txn, Txn::Error(_)) {
                self.propose(txn, wall_ms, None, None);
            }
        }
    }

    // ---- the raft loop ----

    /// Runs raft's Ready cycle until it has nothing more: sends, persists,
    /// applies. Call after every input.
    pub fn drive(&mut self, wall_ms: i64) {
        for _ in 0..64 {
            self.check_role(wall_ms);
            if !self.node.has_ready() {
                break;
            }
            let mut rd = self.node.ready();
            for m in rd.take_messages() {
                self.send_raft(m);
            }
            let mut reset_to = None;
            let mut snapshot_file = None;
            if !rd.snapshot().is_empty() {
                // A snapshot from the leader: it replaces the state and the
                // log (raft-rs never hands committed entries with it).
                let snap = rd.snapshot().clone();
                let index = snap.get_metadata().index;
                let zxid = self.install_snapshot(&snap);
                snapshot_file = Some((zxid, snap.data.to_vec()));
                if let Err(e) = self.node.mut_store().install(snap) {
                    panic!("installing the received snapshot at {index} failed: {e}");
                }
                reset_to = Some(index + 1);
            }
            let committed = rd.take_committed_entries();
            self.apply_entries(committed, wall_ms);
            self.maybe_snapshot();
            for rs in rd.take_read_states() {
                let token = rs
                    .request_ctx
                    .as_slice()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                self.read_round_confirmed(token, rs.index);
            }
            let entries = rd.take_entries();
            let hs = rd.hs().cloned();
            let persisted_messages = rd.take_persisted_messages();
            if !entries.is_empty() {
                if let Err(e) = self.node.mut_store().mem.wl().append(&entries) {
                    panic!("raft storage append failed (a bug in entry order): {e}");
                }
            }
            let mut hard_state = None;
            if let Some(hs) = hs {
                self.node.mut_store().mem.wl().set_hardstate(hs.clone());
                if (hs.term, hs.vote) != self.last_saved_term_vote {
                    self.last_saved_term_vote = (hs.term, hs.vote);
                    hard_state = Some(hs);
                }
            }
            let number = rd.number();
            self.node.advance_append_async(rd);
            let needs_disk = !entries.is_empty() || hard_state.is_some() || reset_to.is_some();
            if reset_to.is_some() {
                self.snapshot_persist_pending = Some(number);
            }
            if needs_disk {
                self.persists.push(PersistRequest {
                    token: number,
                    hard_state,
                    reset_to,
                    snapshot_file,
                    entries,
                });
            }
            // Readies are persisted in order: one that needs nothing from
            // the disk still waits behind any that does.
            self.unpersisted
                .push_back((number, needs_disk, persisted_messages));
            self.flush_persisted();
            if self.snapshot_persist_pending.is_none() {
                self.node.advance_apply_to(self.applied_index);
            }
            self.answer_barriers(wall_ms);
        }
        self.check_role(wall_ms);
    }

    /// The log core made everything up to `token` durable.
    pub fn persisted(&mut self, token: u64, wall_ms: i64) {
        self.persisted_through = self.persisted_through.max(token);
        self.flush_persisted();
        self.drive(wall_ms);
    }

    /// Sends the messages of every ready that is now durable (in order) and
    /// tells raft.
    fn flush_persisted(&mut self) {
        let mut last = None;
        while let Some((number, needs_disk, _)) = self.unpersisted.front() {
            if *needs_disk && *number > self.persisted_through {
                break;
            }
            let (number, _, msgs) = self.unpersisted.pop_front().expect("front exists");
            for m in msgs {
                self.send_raft(m);
            }
            last = Some(number);
        }
        if let Some(number) = last {
            self.node.on_persist_ready(number);
            if self.snapshot_persist_pending.is_some_and(|n| n <= number) {
                self.snapshot_persist_pending = None;
                self.node.advance_apply_to(self.applied_index);
            }
        }
    }

    fn send_raft(&mut self, m: Message) {
        let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
        match m.write_to_bytes() {
            Ok(bytes) => self.peer_frames.push((m.to, FRAME_RAFT, bytes)),
            Err(e) => tracing::error!(error = %e, "encoding a raft message failed"),
        }
        if snapshot {
            // The frame is handed to the transport right after this step.
            // Reporting it sent at once is safe: if it is lost, the member
            // rejects the next append and raft-rs sends the snapshot again.
            tracing::info!(
                to = m.to,
                index = m.get_snapshot().get_metadata().index,
                bytes = m.get_snapshot().data.len(),
                "sending a snapshot"
            );
            self.node.report_snapshot(m.to, SnapshotStatus::Finish);
        }
    }

    /// Every `snapshot_threshold` applied entries, asks the runtime to
    /// write a snapshot of the published tree at the applied raft point.
    fn maybe_snapshot(&mut self) {
        if self.entries_since_snapshot < self.snapshot_threshold
            || self.snapshot_in_flight
            || self.applied_index <= self.node.store().snapshot_index()
        {
            return;
        }
        self.entries_since_snapshot = 0;
        self.snapshot_in_flight = true;
        let cs = self
            .node
            .store()
            .initial_state()
            .map(|s| s.conf_state)
            .unwrap_or_default();
        let raft = RaftPoint {
            index: self.applied_index,
            term: self.applied_term,
            applied_zxid: self.applied_zxid,
            voters: cs.voters,
            learners: cs.learners,
            voters_outgoing: cs.voters_outgoing,
            learners_next: cs.learners_next,
            auto_leave: cs.auto_leave,
        };
        // The applied sessions only: a leader registers a session when it
        // proposes it, and a snapshot holding it would create it again when
        // its entry (after the snapshot's point) is replayed.
        let sessions = self
            .sessions
            .iter()
            .filter(|s| !self.proposed_sessions.contains(&s.id))
            .map(|s| (s.id, s.timeout_ms))
            .collect();
        self.outputs.push(Output::Snapshot {
            tree: self.published.clone(),
            sessions,
            raft: Some(raft),
        });
    }

    /// The snapshot asked for by the last `Output::Snapshot` is written
    /// (`written`: its raft point and file bytes) or failed (`None`).
    /// Compacts the in-memory log up to it and returns the raft index below
    /// which the log on disk may be released: the entry after the oldest
    /// retained snapshot (`oldest_retained`), since recovery may fall back
    /// to that one.
    pub fn snapshot_written(
        &mut self,
        written: Option<(RaftPoint, Vec<u8>)>,
        oldest_retained: Option<u64>,
    ) -> Option<u64> {
        self.snapshot_in_flight = false;
        if let Some((point, data)) = written {
            let index = point.index;
            if let Err(e) = self
                .node
                .mut_store()
                .compact_to(raft_snapshot(&point, data))
            {
                tracing::error!(index, error = %e, "compacting the raft log failed");
                return None;
            }
            tracing::info!(
                index,
                first_index = self.node.store().first_index().unwrap_or(0),
                "raft log compacted"
            );
        }
        oldest_retained.map(|i| i + 1)
    }

    /// Snapshots received from the leader and installed so far.
    pub fn snapshots_installed(&self) -> u64 {
        self.snapshots_installed
    }

    /// First index of the in-memory raft log (after compaction).
    pub fn log_first_index(&self) -> u64 {
        self.node.store().first_index().unwrap_or(0)
    }

    /// Checks a snapshot the leader sent before raft sees it: the same
    /// checks as loading the file from disk, and its raft point must be the
    /// message's. A damaged one is refused (logged; the member keeps its
    /// state, and the leader sends a snapshot again when the member's next
    /// append response still lacks the entries); a good one is kept decoded
    /// for [`Member::install_snapshot`].
    fn verify_received_snapshot(&mut self, from: MemberId, msg: &Message) -> bool {
        let snap = msg.get_snapshot();
        let meta = snap.get_metadata();
        let refused = |why: String| {
            tracing::error!(
                from,
                index = meta.index,
                term = meta.term,
                bytes = snap.data.len(),
                "refused a damaged snapshot from the leader: {why}"
            );
        };
        match crate::snapshot::load_bytes(&snap.data) {
            Ok(loaded) => match &loaded.raft {
                Some(p) if (p.index, p.term) == (meta.index, meta.term) => {
                    self.verified_snapshot = Some((meta.index, loaded));
                    true
                }
                other => {
                    refused(format!(
                        "its raft point {:?} is not the message's",
                        other.as_ref().map(|p| (p.index, p.term))
                    ));
                    self.snapshots_refused += 1;
                    false
                }
            },
            Err(e) => {
                refused(e.to_string());
                self.snapshots_refused += 1;
                false
            }
        }
    }

    pub fn snapshots_refused(&self) -> u64 {
        self.snapshots_refused
    }

    /// Replaces the state with a snapshot received from the leader; returns
    /// the tree's zxid (the file name). Shards get the new tree as a commit
    /// without events.
    fn install_snapshot(&mut self, snap: &Snapshot) -> Zxid {
        let meta = snap.get_metadata();
        // Raft only hands over snapshots whose message passed
        // `verify_received_snapshot`, which kept the decoded contents.
        let loaded = match self.verified_snapshot.take() {
            Some((index, loaded)) if index == meta.index => loaded,
            other => panic!(
                "raft installs snapshot {} but the verified one is {:?}",
                meta.index,
                other.map(|(i, _)| i)
            ),
        };
        let point = loaded
            .raft
            .clone()
            .expect("verify_received_snapshot checked the raft point");
        tracing::info!(
            index = point.index,
            term = point.term,
            zxid = format!("{:#x}", loaded.zxid),
            znodes = loaded.tree.node_count(),
            "installing a snapshot from the leader"
        );
        self.tree = loaded.tree;
        let ids: Vec<SessionId> = self.sessions.iter().map(|s| s.id).collect();
        for id in ids {
            self.sessions.remove(id);
        }
        for s in &loaded.sessions {
            self.sessions.create(s.id, s.timeout_ms, self.mono_ms);
        }
        self.applied_index = point.index;
        self.applied_term = point.term;
        self.applied_zxid = point.applied_zxid.max(self.tree.last_zxid);
        self.cfg.voters = point.voters.clone();
        self.cfg.learners = point.learners.clone();
        if let Some(m) = membership_of(&self.tree) {
            if m.servers != self.membership.servers {
                self.membership_changed = Some(m.servers.clone());
            }
            self.membership = m;
        }
        self.pending = None;
        self.entries_since_snapshot = 0;
        self.snapshots_installed += 1;
        let tree = Arc::new(self.tree.clone());
        self.published = tree.clone();
        let commit = Commit {
            zxid: self.applied_zxid,
            tree,
            events: Vec::new(),
            completion: None,
            connected: None,
            closed_session: None,
        };
        self.outputs
            .push(Output::Broadcast(ToShard::Commit(Arc::new(commit))));
        self.release_held();
        // The state jumped over entries this member never applied one by
        // one: the watch events they fired, the replies to its clients'
        // writes among them, the sessions they closed. Its clients are
        // closed, as a ZooKeeper follower's are when it syncs by snapshot;
        // they reconnect with their last zxid and re-register watches (which
        // fire for what changed), and retry what was in doubt.
        tracing::info!("closing every client connection: their state was replaced by a snapshot");
        self.close_all_clients();
        loaded.zxid
    }

    fn apply_entries(&mut self, entries: Vec<Entry>, wall_ms: i64) {
        for e in entries {
            assert!(
                e.index == self.applied_index + 1 || self.applied_index == 0,
                "committed entries must be applied in order: {} after {}",
                e.index,
                self.applied_index
            );
            self.applied_index = e.index;
            self.applied_term = e.term;
            self.entries_since_snapshot += 1;
            match e.get_entry_type() {
                EntryType::EntryNormal if e.data.is_empty() => {
                    // A new term's empty entry: a new epoch.
                    let epoch_zxid = (e.term as i64) << 32;
                    if epoch_zxid > self.applied_zxid {
                        self.applied_zxid = epoch_zxid;
                    }
                }
                EntryType::EntryNormal => match decode_entry(&e.data) {
                    Ok(p) => self.apply_payload(p),
                    Err(err) => panic!(
                        "committed entry {} (term {}) does not decode: {err}",
                        e.index, e.term
                    ),
                },
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change_entry(&e);
                }
            }
            if self.is_leader()
                && self.pending.is_none()
                && self.leader_noop_index.is_some_and(|i| e.index >= i)
            {
                self.become_ready(wall_ms);
            }
        }
        self.release_held();
    }

    /// A committed membership change: raft's configuration first, then the
    /// Reconfig txn in the entry's context (absent in raft's own entry that
    /// leaves a joint configuration).
    fn apply_conf_change_entry(&mut self, e: &Entry) {
        let cc = if e.get_entry_type() == EntryType::EntryConfChangeV2 {
            ConfChangeV2::parse_from_bytes(&e.data)
        } else {
            // Roost proposes only V2; a V1 entry is one change.
            ConfChange::parse_from_bytes(&e.data).map(|c| {
                let mut single = ConfChangeSingle {
                    node_id: c.node_id,
                    ..Default::default()
                };
                single.set_change_type(c.get_change_type());
                let mut v2 = ConfChangeV2::default();
                v2.set_changes(vec![single].into());
                v2
            })
        };
        let cc = match cc {
            Ok(cc) => cc,
            Err(err) => panic!(
                "committed membership change {} does not decode: {err}",
                e.index
            ),
        };
        match self.node.apply_conf_change(&cc) {
            Ok(cs) => {
                self.cfg.voters = cs.voters.clone();
                self.cfg.learners = cs.learners.clone();
                tracing::info!(index = e.index, voters = ?cs.voters, learners = ?cs.learners, "membership changed");
                self.node.mut_store().mem.wl().set_conf_state(cs);
            }
            Err(err) => {
                tracing::error!(index = e.index, error = %err, "membership change not applied")
            }
        }
        if e.context.is_empty() {
            return;
        }
        let p = match decode_entry(&e.context) {
            Ok(p) => p,
            Err(err) => panic!("membership change {} carries a bad payload: {err}", e.index),
        };
        if let Txn::Reconfig { config } = &p.txn {
            match std::str::from_utf8(config)
                .map_err(|e| e.to_string())
                .and_then(Membership::parse_text)
            {
                Ok(m) => {
                    self.membership_changed = Some(m.servers.clone());
                    self.membership = m;
                }
                Err(err) => {
                    tracing::error!(error = %err, "reconfig entry with an unreadable membership")
                }
            }
        }
        self.apply_payload(p);
    }

    fn apply_payload(&mut self, p: EntryPayload) {
        let applied = write::apply(&mut self.tree, &p.txn, p.zxid, p.time_ms);
        let mut closed_session = None;
        match &p.txn {
            Txn::CreateSession {
                session_id,
                timeout_ms,
            } => {
                // The leader that proposed it registered it already.
                if !self.proposed_sessions.remove(session_id) {
                    self.sessions.create(*session_id, *timeout_ms, self.mono_ms);
                }
                if let Some(c) = &p.connect {
                    self.sessions.set_owner(
                        *session_id,
                        Some(ConnectionOwner {
                            member: c.member,
                            shard: c.shard,
                            conn: c.conn,
                        }),
                    );
                }
            }
            Txn::CloseSession { session_id } => {
                self.sessions.remove(*session_id);
                closed_session = Some(*session_id);
            }
            _ => {}
        }
        self.applied_zxid = self.applied_zxid.max(p.zxid);
        let me = self.cfg.my_id;
        let completion = p.origin.filter(|o| o.member == me).map(|o| Completion {
            origin: o.origin,
            result: applied.result,
        });
        if let Some(c) = &completion {
            self.resolved(c.origin.shard, c.origin.conn);
        }
        let connected = p.connect.filter(|c| c.member == me).map(|c| {
            self.resolved(c.shard, c.conn);
            (c.shard, c.conn, c.response)
        });
        let tree = Arc::new(self.tree.clone());
        self.published = tree.clone();
        let commit = Commit {
            zxid: p.zxid,
            tree,
            events: applied.events,
            completion,
            connected,
            closed_session,
        };
        self.outputs
            .push(Output::Broadcast(ToShard::Commit(Arc::new(commit))));
    }

    fn become_ready(&mut self, wall_ms: i64) {
        self.epoch = self.node.raft.term as i64;
        self.counter = 0;
        self.last_proposed_zxid = self.applied_zxid;
        self.pending = Some(self.tree.clone());
        // Failover must expire nobody: every session starts a fresh timeout.
        self.sessions.refresh_all(self.mono_ms);
        self.sessions.forget_owners();
        tracing::info!(
            term = self.node.raft.term,
            zxid = format!("{:#x}", self.applied_zxid),
            sessions = self.sessions.len(),
            "leading"
        );
        self.run_waiting(wall_ms);
        self.start_read_round();
    }

    /// Notices leader and term changes (after every raft step).
    fn check_role(&mut self, wall_ms: i64) {
        let leader = self.node.raft.leader_id;
        let term = self.node.raft.term;
        if leader == self.known_leader && term == self.known_term {
            return;
        }
        let (prev_leader, prev_term) = (self.known_leader, self.known_term);
        tracing::info!(leader, term, prev_leader, "leader changed");
        self.known_leader = leader;
        self.known_term = term;
        let me = self.cfg.my_id;
        if prev_leader == me && (leader != me || term != prev_term) {
            // Stepped down: proposals not yet committed may never be.
            self.pending = None;
            for id in std::mem::take(&mut self.proposed_sessions) {
                self.sessions.remove(id);
            }
            self.leader_noop_index = None;
            self.sessions.clear_closing();
        }
        // Requests sent to the old leader (forwarded or proposed, no reply
        // yet) may or may not commit: their clients see ConnectionLoss and
        // retry. Requests still parked here were sent nowhere and stay.
        // Read barriers (sync, linearizable reads) are never in doubt: they
        // wait for a round asked of the new leader (bounded: see `tick`).
        let parked = self.parked_connections();
        self.requeue_barriers();
        let in_doubt: Vec<(ShardId, ConnId)> = self
            .in_doubt
            .keys()
            .copied()
            .filter(|k| !parked.contains(k))
            .collect();
        for (shard, conn) in in_doubt {
            self.in_doubt.remove(&(shard, conn));
            self.outputs
                .push(Output::To(shard, ToShard::CloseConnection { conn }));
        }
        if leader == 0 {
            self.leaderless_since_ms.get_or_insert(self.mono_ms);
        } else {
            self.leaderless_since_ms = None;
            self.clients_closed_for_no_leader = false;
        }
        if leader == self.cfg.my_id {
            // raft-rs appended this term's empty entry on becoming leader.
            self.leader_noop_index = Some(self.node.raft.raft_log.last_index());
            if self.applied_index >= self.node.raft.raft_log.last_index() {
                self.become_ready(wall_ms);
            }
        }
        self.start_read_round();
        if leader != 0 && leader != self.cfg.my_id {
            self.run_waiting(wall_ms);
        }
    }

    // ---- four-letter words ----

    pub fn gather(&mut self, shard: ShardId, conn: ConnId, word: &'static str) {
        let ask = self.gathers.start(shard, conn, word);
        self.outputs.push(ask);
    }

    pub fn gather_reply(&mut self, token: u64, report: ShardReport) {
        let Some(done) = self.gathers.reply(token, report) else {
            return;
        };
        let core = CoreReport {
            log_failure: self.log_failure.clone(),
            ensemble: Some(self.ensemble_report()),
            ..tree_and_sessions_report(&self.tree, &self.sessions, self.applied_zxid)
        };
        self.outputs.push(done.into_output(core));
    }

    pub fn ensemble_report(&self) -> EnsembleReport {
        let raft = &self.node.raft;
        let role = match raft.state {
            StateRole::Leader => "leader",
            _ if self.cfg.learners.contains(&self.cfg.my_id) => "observer",
            _ => "follower",
        };
        let last = raft.raft_log.last_index();
        let followers = if raft.state == StateRole::Leader {
            let mut v: Vec<(MemberId, u64, u64)> = raft
                .prs()
                .iter()
                .filter(|(id, _)| **id != self.cfg.my_id)
                .map(|(id, pr)| (*id, pr.matched, last.saturating_sub(pr.matched)))
                .collect();
            v.sort();
            v
        } else {
            Vec::new()
        };
        EnsembleReport {
            my_id: self.cfg.my_id,
            role,
            leader: raft.leader_id,
            term: raft.term,
            commit_index: raft.raft_log.committed,
            applied_index: self.applied_index,
            followers,
            voters: self.cfg.voters.clone(),
            learners: self.cfg.learners.clone(),
            read_rounds: self.read_rounds_started,
            read_barriers: self.barriers_answered,
        }
    }
}

/// This member's turn (0 = first) to campaign after leader `dead` was lost:
/// its place among the other voters, sorted by id and rotated by `term` so
/// the first turn moves around. The same on every member. A member that is
/// not a voter (it never campaigns) comes last.
fn campaign_turn(voters: &[MemberId], dead: MemberId, me: MemberId, term: u64) -> usize {
    let mut survivors: Vec<MemberId> = voters.iter().copied().filter(|&v| v != dead).collect();
    survivors.sort_unstable();
    if survivors.is_empty() {
        return 0;
    }
    let shift = (term % survivors.len() as u64) as usize;
    survivors.rotate_left(shift);
    survivors
        .iter()
        .position(|&v| v == me)
        .unwrap_or(survivors.len())
}

#[cfg(test)]
#[path = "ensemble_tests.rs"]
mod tests;
