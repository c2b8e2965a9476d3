//! Messages between client shards and the consensus core, the ids they
//! carry, and the reports four-letter words gather from both.
//!
//! This module sits below `consensus`, `net` and `fourlw`: all three speak
//! these types, and none of them may import the others for them.
//!
//! Each shard has one bounded channel to the core (backpressure: a busy core
//! makes the shard stop reading sockets) and one FIFO channel back. Every
//! message the core sends a shard goes through that single FIFO, so a shard
//! sees completions, connect results and commits in the order the core
//! produced them: that one rule gives read-your-writes and watch-before-data.

use crate::auth::AuthIds;
use crate::probe::{ConnectionProbe, ServerProbe};
use crate::proto::{
    ConnectRequest, ConnectResponse, ErrorCode, OpCode, Request, Response, SessionId, Xid, Zxid,
};
use crate::tree::{DataTree, WatchEvent};
use std::net::SocketAddr;
use std::sync::Arc;

pub type ShardId = usize;
pub type ConnId = u64;
/// A member of an ensemble (`server.N`'s N); 0 is "none".
pub type MemberId = u64;

/// Who asked: enough to route the reply back in order.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Origin {
    pub shard: ShardId,
    pub conn: ConnId,
    pub xid: Xid,
    pub opcode: OpCode,
}

/// Shard -> consensus core.
#[derive(Debug)]
pub enum ToConsensus {
    /// A state-changing request (create, delete, setData, setACL, multi,
    /// closeSession, reconfig).
    Write {
        origin: Origin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
    },
    /// A barrier for a `sync`, or for a read under
    /// `roost.readConsistency=linearizable`: answered with
    /// [`ToShard::ReadBarrier`] once this server has applied everything
    /// committed before it arrived (an ensemble member: the leader's commit
    /// index from a ReadIndex round started after it). The shard then
    /// answers the request itself, in its connection's order. `origin`
    /// names the request.
    ReadBarrier { origin: Origin },
    /// A ConnectRequest (new session or re-attach).
    Connect {
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
    },
    /// Sessions that sent anything since the last batch.
    Touch { sessions: Vec<SessionId> },
    /// A connection bound to a session went away (the session lives on).
    Disconnected {
        shard: ShardId,
        conn: ConnId,
        session_id: SessionId,
    },
    /// A four-letter word needs a view of every shard.
    Gather {
        shard: ShardId,
        conn: ConnId,
        word: &'static str,
    },
    /// A shard's answer to `ToShard::GatherRequest`.
    GatherReply {
        token: u64,
        report: Box<ShardReport>,
    },
}

/// The result of a request that went through the core.
/// A value: made by the consensus executor, sent to a shard; no executor owns it.
#[derive(Clone, Debug)]
pub struct Completion {
    pub origin: Origin,
    pub result: Result<Response, ErrorCode>,
}

/// One committed transaction, shared by every shard.
#[derive(Debug)]
pub struct Commit {
    pub zxid: Zxid,
    /// The tree version with this transaction applied.
    pub tree: Arc<DataTree>,
    pub events: Vec<WatchEvent>,
    /// The reply for the request that caused it (None for internal
    /// transactions: expiry, container reaping).
    pub completion: Option<Completion>,
    /// A new session: the connect reply for the origin connection.
    pub connected: Option<(ShardId, ConnId, ConnectResponse)>,
    /// The session this transaction closed (close or expiry): shards drop
    /// its connection after delivering the events.
    pub closed_session: Option<SessionId>,
}

/// Consensus core -> shard, in one FIFO per shard.
#[derive(Debug)]
pub enum ToShard {
    Commit(Arc<Commit>),
    /// A reply that needed ordering but changed nothing (failed writes).
    Complete {
        zxid: Zxid,
        completion: Completion,
    },
    /// Re-attach accepted, or refused with the "invalid session" reply
    /// (`response.timeout_ms == 0`), or `None`: close without any reply
    /// (client ahead of us).
    ConnectResult {
        conn: ConnId,
        response: Option<ConnectResponse>,
        session_id: SessionId,
    },
    /// The read or sync `xid` on `conn` may be answered: this server has applied
    /// everything committed before it arrived (every commit up to that point
    /// precedes this message on the FIFO).
    ReadBarrier {
        conn: ConnId,
        xid: Xid,
    },
    /// Close a connection (its session was re-attached elsewhere).
    CloseConnection {
        conn: ConnId,
    },
    /// Close every client connection (an ensemble member without a leader
    /// for too long: its clients should move to the majority side).
    CloseAll,
    GatherRequest {
        token: u64,
        word: &'static str,
    },
    GatherResult {
        conn: ConnId,
        word: &'static str,
        reports: Vec<ShardReport>,
        core: Box<CoreReport>,
    },
}

/// What the core contributes to four-letter words.
/// A value: built by the consensus executor, moved to the asking shard; no executor owns it.
#[derive(Clone, Debug, Default)]
pub struct CoreReport {
    pub last_zxid: Zxid,
    pub node_count: usize,
    pub approximate_data_size: i64,
    pub ephemerals_count: usize,
    pub sessions: Vec<(SessionId, i32, i64)>,
    pub ephemerals_by_session: Vec<(SessionId, Vec<String>)>,
    pub log_failure: Option<String>,
    pub log_metrics: Vec<(&'static str, String)>,
    /// The log core's counters (batches, syncs and their times).
    pub log_stats: Option<crate::wal::WalStats>,
    /// How late the core's timer ticks ran.
    pub ticks: crate::probe::TickProbe,
    /// Role, term, indexes and follower lag (ensemble members only).
    pub ensemble: Option<EnsembleReport>,
}

/// The ensemble view for four-letter words.
/// A value: built by the consensus executor, moved to the asking shard; no executor owns it.
#[derive(Clone, Debug, Default)]
pub struct EnsembleReport {
    pub my_id: MemberId,
    pub role: &'static str,
    pub leader: MemberId,
    pub term: u64,
    pub commit_index: u64,
    pub applied_index: u64,
    /// Per follower (leader only): (id, match index, lag in entries).
    pub followers: Vec<(MemberId, u64, u64)>,
    pub voters: Vec<MemberId>,
    pub learners: Vec<MemberId>,
    /// ReadIndex rounds started and barriers they answered (syncs and
    /// linearizable reads): barriers / rounds is the batching factor.
    pub read_rounds: u64,
    pub read_barriers: u64,
    /// Leader leases (`roost.readConsistency=lease`): renewal rounds
    /// confirmed, and barriers answered under a lease without a round.
    pub lease_renewals: u64,
    pub lease_reads: u64,
}

/// What a shard contributes to four-letter words.
/// A value: made by a shard, relayed by the consensus executor; no executor owns it.
#[derive(Clone, Debug, Default)]
pub struct ShardReport {
    pub shard: ShardId,
    pub probe: ServerProbe,
    pub connections: Vec<ConnectionView>,
    /// wchc/wchp/wchs: data-table watches by session.
    pub data_watches_by_session: Vec<(SessionId, Vec<String>)>,
    /// zk_watch_count: data plus child tables.
    pub watch_count: usize,
    pub outstanding: usize,
}

/// One client connection, copied from the shard that owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionView {
    pub remote: SocketAddr,
    /// Java NIO interest ops (1 = read, 4 = write, 0 = none); `[1]` in `cons`.
    pub interest_ops: u32,
    /// 0 until the handshake has completed.
    pub session_id: i64,
    /// When the connection expires if nothing arrives (wall ms), for `dump`.
    pub expire_at_ms: u64,
    pub probe: ConnectionProbe,
}
