//! Where a member's client requests wait: for a leader (`waiting`), for
//! this member to apply what their reply must follow (`held`), and which
//! connections have a request whose reply is still out (`in_doubt`).
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

/// See the module doc.
#[derive(Debug, Default)]
pub struct Router {
    waiting: VecDeque<Deferred>,
    held: VecDeque<Held>,
    /// Local requests whose reply is outstanding, per connection.
    in_doubt: HashMap<(ShardId, ConnId), u32>,
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
    }

    /// Every connection with a reply outstanding, except those whose
    /// requests are still parked here (sent nowhere, so not in doubt);
    /// they are forgotten: the caller closes them.
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

    pub fn clear_in_doubt(&mut self) {
        self.in_doubt.clear();
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
    /// its zxid). Their connections are no longer in doubt.
    pub fn release_held(&mut self, applied: Zxid) -> Vec<(ShardId, ToShard)> {
        let mut out = Vec::new();
        while self.held.front().is_some_and(|h| h.after <= applied) {
            let Held { shard, mut msg, .. } = self.held.pop_front().expect("front exists");
            match &mut msg {
                ToShard::Complete { zxid, completion } => {
                    *zxid = applied;
                    let (s, c) = (completion.origin.shard, completion.origin.conn);
                    self.resolved(s, c);
                }
                ToShard::ConnectResult { conn, .. } => {
                    let c = *conn;
                    self.resolved(shard, c);
                }
                _ => {}
            }
            out.push((shard, msg));
        }
        out
    }
}
