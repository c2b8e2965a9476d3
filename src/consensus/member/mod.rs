//! The consensus core of an ensemble member: raft-rs driven as a pure state
//! machine, plus everything ZooKeeper layers on top (sessions, forwarded
//! writes, ordered replies, sync).
//!
//! Owned by the consensus executor. No I/O: every input comes with the time
//! ([`Now`]); [`Member::drive`] returns one [`Step`] holding everything the
//! runtime must do: persist through the log core, send peer frames over the
//! transport, route shard messages, write snapshots.
//!
//! The member is made of parts, each with its own state and invariants:
//! [`routing`] (requests waiting for a leader, replies held until applied,
//! requests in doubt), [`barriers`] (ReadIndex rounds for syncs and
//! linearizable reads), [`persistence`] (which readies are durable),
//! `snapshots` (cadence, verifying and installing the leader's),
//! `apply` (committed entries onto the committed state), `leading` (the
//! [`Proposer`](super::proposer::Proposer) while this member leads, role
//! changes) and `raft_loop` (raft's Ready cycle).
//!
//! # How a write flows
//!
//! 1. The member holding the connection gets the request. A follower
//!    forwards it to the leader (`Forward::Write`); with no leader known it
//!    waits in the router until one is.
//! 2. The leader's proposer checks it, preps it against the pending tree,
//!    assigns the zxid (`term << 32 | counter`) and the leader proposes the
//!    entry (`EntryPayload`: zxid, time, origin, txn).
//! 3. Every member applies committed entries in log order to its committed
//!    state (one apply path for all roles) and broadcasts the `Commit` to
//!    its shards. The member named in the entry's origin completes its
//!    client's request from its own apply: the reply never overtakes the
//!    state.
//! 4. A write that fails prep consumes no zxid: the leader answers with
//!    `LeaderReply::Complete` carrying `after_zxid`, the last zxid it had
//!    proposed; the origin member holds the reply until it has applied that
//!    zxid, so the error is ordered after the client's earlier writes.
//!
//! # Leader changes
//!
//! A new leader first commits raft's empty entry of its term; once applied,
//! its committed state holds everything any earlier leader committed, so it
//! starts a proposer from there (every session gets a fresh deadline: the
//! failover expires nobody). Applying that empty entry also moves the
//! member's zxid to `term << 32`, as a new ZooKeeper epoch does. Requests
//! whose fate is unknown when the leader changes (forwarded or proposed, no
//! reply yet) have their connections closed: the client sees
//! ConnectionLoss, as with ZooKeeper, and retries; the session lives on. A
//! member without a leader for longer than `leaderless_close_ms` closes
//! every client connection and refuses new ones until it has a leader, so a
//! partitioned member's clients move to the majority side instead of being
//! served state that may be stale and sessions that may have expired.

mod apply;
pub mod barriers;
mod inputs;
mod leading;
pub mod lease;
mod liveness;
pub mod peer_checks;
pub mod persistence;
mod raft_loop;
mod report;
pub mod routing;
mod snapshots;

use self::barriers::{ReadBarriers, READ_ROUND_RESEND_HEARTBEATS};
use self::leading::Leading;
use self::persistence::Persistence;
use self::routing::Router;
use self::snapshots::MemberSnapshots;
use super::committed::Committed;
use super::gather::Gathers;
use super::membership::Membership;
use super::proposer::CoreConfig;
use super::raft_storage::SnapStorage;
use super::rng::Rng;
use super::step::{Input, Now, Step};
use crate::messages::*;
use crate::proto::{SessionId, Zxid};
use crate::snapshot::{RaftPoint, SessionRecord};
use crate::tree::DataTree;
use raft::eraftpb::{ConfState, Entry, HardState, Snapshot};
use raft::storage::MemStorage;
use raft::{RawNode, StateRole};
use std::sync::Arc;

pub use self::raft_loop::DEAD_LEADER_CAMPAIGN_SPACING_TICKS;
pub use super::step::PersistRequest;

/// Timing and membership of the ensemble.
/// Read-only configuration, built once at start-up and moved to the consensus executor.
#[derive(Clone, Debug)]
pub struct EnsembleConfig {
    pub core: CoreConfig,
    pub my_id: MemberId,
    /// The membership from zoo.cfg (reconfig entries in the log change it).
    pub servers: Vec<crate::config::ServerSpec>,
    pub voters: Vec<MemberId>,
    pub learners: Vec<MemberId>,
    /// One raft tick (an [`Input::Tick`] comes this often).
    pub raft_tick_ms: u64,
    /// Followers campaign after a random [election_ticks, 1.5 x
    /// election_ticks) ticks of silence (`raft_loop::election_timeout_range`).
    pub election_ticks: usize,
    pub heartbeat_ticks: usize,
    /// No leader for this long: close every client connection (see module doc).
    pub leaderless_close_ms: i64,
    /// How long liveness beacons outlast raft's own signs of health (see
    /// `liveness`): a consensus executor stalled for less than this does
    /// not cause an election; one stopped for longer is replaced.
    pub stall_tolerance_ms: i64,
    /// `roost.readConsistency=lease`: a leader answers read barriers from
    /// its commit index while it holds a lease (`lease`).
    pub lease_reads: bool,
}

/// What recovery found for raft.
/// A value: made at start-up on the main thread for [`Member::new`]; no executor owns it.
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
/// A value: made at start-up on the main thread for [`Member::new`]; no executor owns it.
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

impl RaftRecovered {
    /// Assembles what a member starts from: the log entries recovered from
    /// disk, its hard state, and the newest snapshot (with its file's
    /// bytes) if there is one. Entries the snapshot covers are dropped; a
    /// log that ends before the snapshot (a crash between writing a
    /// received snapshot and persisting the log reset) is reset.
    pub fn assemble(
        entries: Vec<Entry>,
        hard_state: HardState,
        snapshot: Option<(RaftPoint, Vec<SessionRecord>, Vec<u8>)>,
    ) -> RaftRecovered {
        let Some((point, sessions, data)) = snapshot else {
            return RaftRecovered {
                entries,
                hard_state,
                snapshot: None,
            };
        };
        let last = entries.last().map_or(0, |e| e.index);
        let reset_log = last < point.index;
        let entries = entries
            .into_iter()
            .filter(|e| e.index > point.index)
            .collect();
        RaftRecovered {
            entries,
            hard_state,
            snapshot: Some(RecoveredSnapshot {
                point,
                sessions,
                data,
                reset_log,
            }),
        }
    }
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

/// One ensemble member's consensus state. Single owner: the consensus executor.
pub struct Member {
    cfg: EnsembleConfig,
    node: RawNode<SnapStorage>,
    /// Seeded: raft's election timeouts are drawn from it, not from raft's
    /// own thread-local generator (see `raft_loop::rerandomize`).
    rng: Rng,
    /// (term, role, leader) at the last look: a change means raft reset its
    /// election timer.
    raft_seen: (u64, StateRole, MemberId),
    /// The committed, applied state (every role).
    committed: Committed,
    applied_index: u64,
    /// Term of the entry at `applied_index`.
    applied_term: u64,
    /// Some while this member leads.
    leading: Option<Leading>,
    router: Router,
    barriers: ReadBarriers,
    /// The leader's read lease (`roost.readConsistency=lease`).
    lease: lease::ReadLease,
    /// Client shards on this member (peer replies must name one).
    shard_count: usize,
    /// Peer frames refused by `peer_checks` (logged sparingly).
    peer_frames_refused: u64,
    persistence: Persistence,
    snapshots: MemberSnapshots,
    /// The current membership, as `/zookeeper/config` shows it.
    membership: Membership,
    known_leader: MemberId,
    known_term: u64,
    leaderless_since_ms: Option<i64>,
    clients_closed_for_no_leader: bool,
    log_failure: Option<String>,
    /// When a raft message last arrived from each peer (monotonic ms): the
    /// health the liveness beacons vouch for.
    raft_contact: std::collections::HashMap<MemberId, i64>,
    gathers: Gathers,
    ticks: crate::probe::TickProbe,
    /// The log core's counters, for `mntr` (read-only atomics; set by the
    /// runtime, absent in the simulation).
    log_probe: Option<std::sync::Arc<crate::wal::WalProbe>>,
    now: Now,
    /// What this round produced so far.
    step: Step,
}

impl Member {
    /// `tree` is the state recovered from the newest snapshot (empty without
    /// one); `recovered` the raft log and hard state after it.
    pub fn new(
        cfg: EnsembleConfig,
        tree: DataTree,
        recovered: RaftRecovered,
        now: Now,
        seed: u64,
        shard_count: usize,
    ) -> Result<Member, raft::Error> {
        let mut cfg = cfg;
        let read_lease = lease::ReadLease::new(if cfg.lease_reads {
            lease::lease_ms(cfg.election_ticks, cfg.raft_tick_ms)
        } else {
            0
        });
        let mut rng = Rng::new(seed);
        let mut step = Step::default();
        let (snap_index, snap_term, applied_zxid) = match &recovered.snapshot {
            Some(snap) => {
                let p = &snap.point;
                cfg.voters = p.voters.clone();
                cfg.learners = p.learners.clone();
                if snap.reset_log {
                    step.persists.push(PersistRequest {
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
            min_election_tick: raft_loop::election_timeout_range(cfg.election_ticks).0,
            max_election_tick: raft_loop::election_timeout_range(cfg.election_ticks).1,
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
        let sessions: Vec<(SessionId, i32)> = recovered
            .snapshot
            .as_ref()
            .map(|s| s.sessions.iter().map(|r| (r.id, r.timeout_ms)).collect())
            .unwrap_or_default();
        let mut membership = Membership::new(cfg.servers.clone(), 0);
        if recovered.snapshot.is_some() {
            if let Some(m) = membership_of(&tree) {
                if m.servers != membership.servers {
                    step.membership = Some(m.servers.clone());
                }
                membership = m;
            }
        }
        let mut committed = Committed::new(tree, sessions);
        committed.begin_epoch(applied_zxid);
        let term_vote = (recovered.hard_state.term, recovered.hard_state.vote);
        let snapshots = MemberSnapshots::new(cfg.core.snap_count, &mut rng);
        let raft_seen = (node.raft.term, node.raft.state, node.raft.leader_id);
        let mut member = Member {
            applied_term: snap_term,
            applied_index: snap_index,
            committed,
            leading: None,
            router: Router::default(),
            barriers: ReadBarriers::default(),
            lease: read_lease,
            shard_count,
            peer_frames_refused: 0,
            persistence: Persistence::new(term_vote),
            snapshots,
            membership,
            known_leader: 0,
            known_term: 0,
            leaderless_since_ms: Some(now.mono_ms),
            clients_closed_for_no_leader: false,
            log_failure: None,
            raft_contact: std::collections::HashMap::new(),
            gathers: Gathers::new(shard_count),
            ticks: crate::probe::TickProbe::default(),
            log_probe: None,
            now,
            step,
            cfg,
            node,
            rng,
            raft_seen,
        };
        member.rerandomize(true);
        Ok(member)
    }

    /// The version shards start from.
    pub fn published(&self) -> Arc<DataTree> {
        self.committed.tree().clone()
    }

    /// `/zookeeper/config`'s text for the current membership.
    pub fn membership_text(&self) -> String {
        self.membership.text()
    }

    /// Where `mntr` reads the log core's counters from.
    pub fn set_log_probe(&mut self, probe: std::sync::Arc<crate::wal::WalProbe>) {
        self.log_probe = Some(probe);
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

    /// Leads and has applied its term's empty entry: it proposes.
    pub fn leader_ready(&self) -> bool {
        self.is_leader() && self.leading.as_ref().is_some_and(Leading::is_ready)
    }

    pub fn applied_zxid(&self) -> Zxid {
        self.committed.zxid()
    }

    pub fn applied_index(&self) -> u64 {
        self.applied_index
    }

    pub fn term(&self) -> u64 {
        self.node.raft.term
    }

    /// Snapshots received from the leader and installed so far.
    pub fn snapshots_installed(&self) -> u64 {
        self.snapshots.installed
    }

    /// Snapshots received from the leader and refused as damaged.
    pub fn snapshots_refused(&self) -> u64 {
        self.snapshots.refused
    }

    /// First index of the in-memory raft log (after compaction).
    pub fn log_first_index(&self) -> u64 {
        use raft::Storage as _;
        self.node.store().first_index().unwrap_or(0)
    }

    /// Committed sessions (id, timeout ms).
    pub fn committed_sessions(&self) -> Vec<(SessionId, i32)> {
        self.committed.session_list()
    }

    /// The session password this ensemble gives `session` (tests).
    #[cfg(test)]
    pub fn password_for(&self, session: SessionId) -> [u8; 16] {
        crate::session::SessionTable::new(0, 0, 1, self.cfg.core.password_secret)
            .password_for(session)
    }

    /// One input.
    pub fn input(&mut self, input: Input, now: Now) {
        self.now = now;
        match input {
            Input::Shard(msg) => self.shard_message(msg),
            Input::Log(crate::wal::LogEvent::Persisted(token)) => self.persisted(token),
            Input::Log(crate::wal::LogEvent::Failed(reason)) => {
                tracing::error!(%reason, "raft log failed: refusing writes");
                self.log_failed(reason);
            }
            Input::Log(crate::wal::LogEvent::Durable(_)) => {
                unreachable!("a raft log reports Persisted")
            }
            Input::SnapshotWritten(outcome) => self.snapshot_written(outcome),
            Input::PeerFrame { from, kind, body } => self.peer_frame(from, kind, &body),
            Input::PeerDisconnected(peer) => self.peer_disconnected(peer),
            Input::PeerConnected(peer) => self.peer_connected(peer),
            Input::Heard(heard) => self.heard(&heard),
            Input::ForwardsLost => self.forwards_lost(),
            Input::ReceivedSnapshotFailed(why) => {
                // Without the file a restart would lack the state the reset
                // dropped from the log: stop taking writes, as for a log failure.
                tracing::error!(error = %why, "writing the received snapshot failed");
                self.log_failed(format!("writing the received snapshot failed: {why}"));
            }
            Input::Tick {
                lag_us,
                longest_step_us,
            } => {
                self.ticks.record(lag_us, longest_step_us);
                self.tick()
            }
        }
    }

    /// Runs raft until it has nothing more to do and returns everything
    /// this round produced.
    pub fn drive(&mut self) -> Step {
        self.run_raft();
        std::mem::take(&mut self.step)
    }

    fn shard_message(&mut self, msg: ToConsensus) {
        match msg {
            ToConsensus::Write {
                origin,
                session_id,
                auth,
                request,
            } => self.write(origin, session_id, auth, request),
            ToConsensus::ReadBarrier { origin } => self.read_barrier(origin),
            ToConsensus::Connect {
                shard,
                conn,
                request,
            } => self.connect(shard, conn, request),
            ToConsensus::Touch { sessions } => self.touch(sessions),
            ToConsensus::Disconnected {
                shard,
                conn,
                session_id,
            } => self.disconnected(shard, conn, session_id),
            ToConsensus::Gather { shard, conn, word } => {
                let ask = self.gathers.start(shard, conn, word);
                self.step.to_shards.push(ask);
            }
            ToConsensus::GatherReply { token, report } => self.gather_reply(token, *report),
        }
    }

    /// A forwarded request could not be sent (the link to the leader is
    /// down or full): every request in doubt is failed with ConnectionLoss
    /// rather than left waiting.
    fn forwards_lost(&mut self) {
        let me = self.cfg.my_id;
        let mut lost = self.router.take_in_doubt(me);
        lost.extend(self.router.connections_with_sent_writes());
        for (shard, conn) in lost {
            self.close_connection(me, shard, conn);
        }
    }

    /// The log core can no longer make entries durable. A leader hands
    /// leadership to the most up-to-date voter: a member that cannot persist
    /// cannot commit anything of its own, but the others still can.
    fn log_failed(&mut self, reason: String) {
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

    // ---- read barriers ----

    /// Asks raft for the leader's commit index on behalf of every barrier
    /// waiting, unless a round is in flight (they go next) or no leader can
    /// answer yet (they wait for one, see `check_role`).
    fn start_read_round(&mut self) {
        if self.node.raft.leader_id == 0 || (self.is_leader() && !self.leader_ready()) {
            return;
        }
        if let Some(token) = self.barriers.start_round(self.now.mono_ms) {
            self.node.read_index(token.to_be_bytes().to_vec());
        }
    }

    /// Whether this member may answer reads from its own commit index now:
    /// it leads, is ready, is not handing leadership over (a transfer's
    /// campaign passes the followers' leases), and holds the lease.
    fn lease_holds(&self) -> bool {
        self.is_leader()
            && self.leader_ready()
            && self.node.raft.lead_transferee.is_none()
            && self.lease.holds(self.now.mono_ms, self.node.raft.term)
    }

    /// A leader in lease mode asks for a renewal round when one is due
    /// (`lease`).
    fn renew_lease(&mut self) {
        if !self.lease.enabled()
            || !self.is_leader()
            || !self.leader_ready()
            || self.node.raft.lead_transferee.is_some()
        {
            return;
        }
        if let Some(token) = self
            .lease
            .renewal_due(self.now.mono_ms, self.node.raft.term)
        {
            self.node.read_index(token.to_be_bytes().to_vec());
        }
    }

    /// Asks the round in flight again if it has gone unanswered too long.
    fn resend_stale_read_round(&mut self) {
        if self.node.raft.leader_id == 0 {
            return;
        }
        let resend_after_ms = READ_ROUND_RESEND_HEARTBEATS
            * self.cfg.heartbeat_ticks as i64
            * self.cfg.raft_tick_ms as i64;
        if let Some(token) = self.barriers.stale_round(self.now.mono_ms, resend_after_ms) {
            tracing::debug!(token, "ReadIndex round unanswered: asking again");
            self.node.read_index(token.to_be_bytes().to_vec());
        }
    }

    /// Answers the confirmed rounds this member has applied far enough, in
    /// order (the commits they follow were queued to the shards before),
    /// then routes the writes that were parked behind them.
    fn answer_barriers(&mut self) {
        let (answered, unparked) = self.barriers.answer(self.applied_index);
        for b in answered {
            self.step.to(
                b.shard,
                ToShard::ReadBarrier {
                    conn: b.conn,
                    xid: b.xid,
                },
            );
        }
        for w in unparked {
            self.write(w.origin, w.session_id, w.auth, w.request);
        }
    }

    // ---- time ----

    /// One raft tick; also session expiry and the reaper on the leader,
    /// and what the liveness beacons say.
    fn tick(&mut self) {
        self.node.tick();
        self.renew_lease();
        self.plan_beacons();
        self.rerandomize(false);
        self.resend_stale_read_round();
        self.lead_tick();
        if let Some(since) = self.leaderless_since_ms {
            if !self.clients_closed_for_no_leader
                && self.now.mono_ms - since >= self.cfg.leaderless_close_ms
            {
                tracing::warn!(
                    after_ms = self.now.mono_ms - since,
                    "no leader: closing every client connection until one is elected"
                );
                self.clients_closed_for_no_leader = true;
                self.close_all_clients();
            }
        }
    }
}

#[cfg(test)]
mod sim;
