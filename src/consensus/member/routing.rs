//! Where a member's client requests wait: for a leader (`waiting`), for
//! this member to apply what their reply must follow (`held`); which
//! connections have a connect whose reply is still out (`in_doubt`); and
//! this member's clients' writes handed to a leader and not yet answered
//! (`pending`), which go to the next leader again if the leader changes.
//!
//! Owned by the consensus executor, inside [`super::Member`]. Pure.

use crate::auth::AuthIds;
use crate::consensus::wire::RemoteOrigin;
use crate::messages::{ConnId, MemberId, ShardId, ToShard};
use crate::proto::{ConnectRequest, Request, SessionId, Zxid};
use std::collections::{HashMap, VecDeque};

/// Requests held while no leader is known or the new leader is not ready.
/// Beyond it the request's connection is closed (the client retries).
pub const WAITING_REQUESTS_MAX: usize = 16 * 1024;
/// Replies held until this member has applied what they must follow.
/// Beyond it the request's connection is closed.
pub const HELD_REPLIES_MAX: usize = 64 * 1024;

/// A connection anywhere in the ensemble: (member, shard, conn).
pub type Connection = (MemberId, ShardId, ConnId);

/// A request parked until there is a leader to handle it.
#[derive(Debug)]
pub enum Deferred {
    Write {
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
        resend: bool,
    },
    Connect {
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
    },
}

impl Deferred {
    /// The connection it came from.
    pub fn connection(&self) -> Connection {
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

/// A reply for one of this member's shards, released once the member has
/// applied `after`.
#[derive(Debug)]
struct Held {
    after: Zxid,
    shard: ShardId,
    msg: ToShard,
}

/// A write of this member's client, kept until it is answered: if the
/// leader it went to is replaced first, it goes to the next one again.
/// Owned by the consensus executor, inside the [`Router`] until it is answered.
#[derive(Clone, Debug)]
pub struct PendingWrite {
    pub origin: RemoteOrigin,
    pub session_id: SessionId,
    pub auth: AuthIds,
    pub request: Request,
    /// Handed to a leader (a write still waiting here is not sent again).
    pub sent: bool,
    /// A leader refused it (its reply waits in `held` for what it must
    /// follow): its outcome is decided, so it is never sent again. Sent to
    /// the next leader as well, it could be carried out there while the
    /// client is told it was refused.
    pub refused: bool,
}

/// What an answer to one of a connection's writes means.
#[derive(Debug, PartialEq, Eq)]
pub enum Answered {
    /// The oldest write outstanding was answered.
    InOrder,
    /// Writes sent before it were never answered and never will be (their
    /// error replies were lost with a leader): their outcome is unknown.
    EarlierLost,
    /// Not one of this member's outstanding writes.
    Unknown,
}

/// See the module doc.
/// Owned by the consensus executor, inside [`super::Member`].
#[derive(Debug, Default)]
pub struct Router {
    waiting: VecDeque<Deferred>,
    held: VecDeque<Held>,
    /// Connects whose reply is outstanding, per connection.
    in_doubt: HashMap<(ShardId, ConnId), u32>,
    /// Writes outstanding per connection, in the order they were sent.
    pending: HashMap<(ShardId, ConnId), VecDeque<PendingWrite>>,
}

impl Router {
    /// Parks a request until there is a leader; `Err` (its connection, to
    /// close) when the queue is full.
    pub fn defer(&mut self, d: Deferred) -> Result<(), Connection> {
        if self.waiting.len() >= WAITING_REQUESTS_MAX {
            return Err(d.connection());
        }
        self.waiting.push_back(d);
        Ok(())
    }

    /// Everything parked, oldest first (to be routed again).
    pub fn take_waiting(&mut self) -> VecDeque<Deferred> {
        std::mem::take(&mut self.waiting)
    }

    /// Drops the requests parked for `connection` (it closed: carried out
    /// later, they could land after what its client sent since elsewhere).
    pub fn drop_waiting_of(&mut self, connection: Connection) {
        self.waiting.retain(|d| d.connection() != connection);
    }

    /// Drops every request parked for `member`'s connections.
    pub fn drop_waiting_of_member(&mut self, member: MemberId) {
        self.waiting.retain(|d| d.connection().0 != member);
    }

    /// Takes every request parked for other members' connections (a leader
    /// that stops leading gives them up).
    pub fn take_waiting_of_others(&mut self, me: MemberId) -> Vec<Connection> {
        let (mine, others): (VecDeque<Deferred>, VecDeque<Deferred>) = self
            .take_waiting()
            .into_iter()
            .partition(|d| d.connection().0 == me);
        self.waiting = mine;
        others.iter().map(Deferred::connection).collect()
    }

    /// This member's connections with requests parked.
    pub fn parked_connections(&self, me: MemberId) -> std::collections::HashSet<(ShardId, ConnId)> {
        self.waiting
            .iter()
            .map(Deferred::connection)
            .filter(|(member, ..)| *member == me)
            .map(|(_, shard, conn)| (shard, conn))
            .collect()
    }

    /// A local request whose reply is now outstanding.
    pub fn note_in_doubt(&mut self, shard: ShardId, conn: ConnId) {
        *self.in_doubt.entry((shard, conn)).or_insert(0) += 1;
    }

    /// One outstanding reply of the connection arrived.
    pub fn resolved(&mut self, shard: ShardId, conn: ConnId) {
        if let Some(n) = self.in_doubt.get_mut(&(shard, conn)) {
            assert!(*n > 0, "in-doubt counts are never zero");
            *n -= 1;
            if *n == 0 {
                self.in_doubt.remove(&(shard, conn));
            }
        }
    }

    pub fn forget_connection(&mut self, shard: ShardId, conn: ConnId) {
        self.in_doubt.remove(&(shard, conn));
        self.pending.remove(&(shard, conn));
    }

    /// One of this member's clients' writes, about to be routed.
    pub fn track_write(&mut self, w: PendingWrite) {
        let key = (w.origin.origin.shard, w.origin.origin.conn);
        self.pending.entry(key).or_default().push_back(w);
    }

    /// The write `xid` of the connection was handed to a leader.
    pub fn mark_sent(&mut self, shard: ShardId, conn: ConnId, xid: crate::proto::Xid) {
        if let Some(w) = self
            .pending
            .get_mut(&(shard, conn))
            .and_then(|q| q.iter_mut().find(|w| w.origin.origin.xid == xid))
        {
            w.sent = true;
        }
    }

    /// A leader refused the write `xid` of the connection (the reply is
    /// held until this member has applied what it follows): it is decided
    /// and goes to no other leader.
    pub fn refused(&mut self, shard: ShardId, conn: ConnId, xid: crate::proto::Xid) {
        if let Some(w) = self
            .pending
            .get_mut(&(shard, conn))
            .and_then(|q| q.iter_mut().find(|w| w.origin.origin.xid == xid))
        {
            w.refused = true;
        }
    }

    /// The write `xid` of the connection was answered (applied here, or
    /// refused by the leader).
    pub fn write_answered(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        xid: crate::proto::Xid,
    ) -> Answered {
        let Some(q) = self.pending.get_mut(&(shard, conn)) else {
            return Answered::Unknown;
        };
        let Some(at) = q.iter().position(|w| w.origin.origin.xid == xid) else {
            return Answered::Unknown;
        };
        q.drain(..=at);
        if q.is_empty() {
            self.pending.remove(&(shard, conn));
        }
        if at == 0 {
            Answered::InOrder
        } else {
            Answered::EarlierLost
        }
    }

    /// Connections with writes handed to a leader and not answered (nor
    /// refused).
    pub fn connections_with_sent_writes(&self) -> Vec<(ShardId, ConnId)> {
        let mut out: Vec<(ShardId, ConnId)> = self
            .pending
            .iter()
            .filter(|(_, q)| q.iter().any(|w| w.sent && !w.refused))
            .map(|(k, _)| *k)
            .collect();
        out.sort_unstable();
        out
    }

    /// The writes handed to a leader and neither answered nor refused, per
    /// connection in send order: at a leader change they go to the next
    /// leader again.
    pub fn sent_writes(&self) -> Vec<PendingWrite> {
        let mut keys: Vec<&(ShardId, ConnId)> = self.pending.keys().collect();
        keys.sort_unstable();
        keys.into_iter()
            .flat_map(|k| {
                self.pending[k]
                    .iter()
                    .filter(|w| w.sent && !w.refused)
                    .cloned()
            })
            .collect()
    }

    /// Every connection with a connect outstanding, except those whose
    /// connects are still parked here (sent nowhere, so not in doubt); they
    /// are forgotten: the caller closes them. (Writes are sent again
    /// instead: [`Router::sent_writes`].)
    pub fn take_in_doubt(&mut self, me: MemberId) -> Vec<(ShardId, ConnId)> {
        let parked = self.parked_connections(me);
        let doubtful: Vec<(ShardId, ConnId)> = self
            .in_doubt
            .keys()
            .copied()
            .filter(|k| !parked.contains(k))
            .collect();
        for k in &doubtful {
            self.in_doubt.remove(k);
        }
        doubtful
    }

    /// Every connection closed: nothing of theirs is outstanding.
    pub fn clear_in_doubt(&mut self) {
        self.in_doubt.clear();
        self.pending.clear();
    }

    /// Holds a reply until `after` is applied; `Err` (its connection, to
    /// close) when too many are held.
    pub fn hold(
        &mut self,
        after: Zxid,
        shard: ShardId,
        msg: ToShard,
    ) -> Result<(), (ShardId, ConnId)> {
        if self.held.len() >= HELD_REPLIES_MAX {
            let conn = match &msg {
                ToShard::Complete { completion, .. } => completion.origin.conn,
                ToShard::ConnectResult { conn, .. } => *conn,
                other => unreachable!("only replies are held: {other:?}"),
            };
            return Err((shard, conn));
        }
        self.held.push_back(Held { after, shard, msg });
        Ok(())
    }

    /// The held replies the member may now deliver, having applied up to
    /// `applied` (in the order they were held; each carries `applied` as
    /// its zxid), and whether each was the oldest of its connection's
    /// writes outstanding. Their connections are no longer in doubt.
    pub fn release_held(&mut self, applied: Zxid) -> Vec<(ShardId, ToShard, Answered)> {
        let mut out = Vec::new();
        while self.held.front().is_some_and(|h| h.after <= applied) {
            let Held { shard, mut msg, .. } = self.held.pop_front().expect("front exists");
            let mut answered = Answered::Unknown;
            match &mut msg {
                ToShard::Complete { zxid, completion } => {
                    *zxid = applied;
                    let o = completion.origin;
                    answered = self.write_answered(o.shard, o.conn, o.xid);
                }
                ToShard::ConnectResult { conn, .. } => {
                    let c = *conn;
                    self.resolved(shard, c);
                }
                _ => {}
            }
            out.push((shard, msg, answered));
        }
        out
    }
}
