//! Read barriers: a `sync`, or every read under
//! `roost.readConsistency=linearizable`, is answered once this member has
//! applied the leader's commit index as of a raft ReadIndex round started
//! after the barrier arrived. Rounds are batched: at most one is in flight,
//! and what arrives meanwhile goes into the next, so a read-heavy load
//! costs one round per round trip, not one per read.
//!
//! A write that arrives on a connection with a barrier outstanding is
//! parked until that barrier is answered, so the earlier read or sync is
//! served at a state without it (ZooKeeper executes a client's requests in
//! order) and its reply cannot overtake theirs.
//!
//! Owned by the consensus executor, inside [`super::Member`]. Pure.

use crate::auth::AuthIds;
use crate::messages::{ConnId, Origin, ShardId};
use crate::proto::{Request, SessionId};
use std::collections::{HashMap, VecDeque};

/// Outstanding read barriers per member, over all rounds. Beyond it the
/// asking connection is closed (the client retries elsewhere).
pub const PENDING_BARRIERS_MAX: usize = 64 * 1024;
/// Writes parked behind barriers per member. Beyond it the writing
/// connection is closed.
pub const PARKED_WRITES_MAX: usize = 16 * 1024;
/// A ReadIndex round unanswered for this many heartbeat intervals is asked
/// again with the same token: a forwarded `MsgReadIndex` lost with a peer
/// connection is never retransmitted by raft, and without a leader change
/// nothing else would restart it. Re-asking with the same token is safe (any
/// answer to it was computed after every barrier of the round arrived) and
/// never discards the first ask's answer, so a slow round is not starved.
pub const READ_ROUND_RESEND_HEARTBEATS: i64 = 4;

/// A barrier is the request it lets through.
pub type Barrier = Origin;

/// A write waiting for its connection's barriers.
/// Owned by the consensus executor, inside [`ReadBarriers`] until its barriers pass.
#[derive(Debug)]
pub struct ParkedWrite {
    pub origin: Origin,
    pub session_id: SessionId,
    pub auth: AuthIds,
    pub request: Request,
}

/// One ReadIndex round in flight: many barriers share it.
#[derive(Debug)]
struct ReadRound {
    /// raft's request context (big-endian bytes on the wire).
    token: u64,
    /// When it was last asked (monotonic ms), for the resend.
    asked_ms: i64,
    barriers: Vec<Barrier>,
}

/// See the module doc.
/// Owned by the consensus executor, inside [`super::Member`].
#[derive(Debug)]
pub struct ReadBarriers {
    /// Arrived after the round in flight was asked (or while no leader was
    /// known): they go into the next round, never the current one, whose
    /// index may predate them.
    next: Vec<Barrier>,
    round: Option<ReadRound>,
    /// Rounds the leader confirmed: (read index, barriers), in order,
    /// waiting until this member has applied that index.
    confirmed: VecDeque<(u64, Vec<Barrier>)>,
    next_token: u64,
    rounds_started: u64,
    answered: u64,
    /// Outstanding barriers per connection (for parking its writes).
    by_conn: HashMap<(ShardId, ConnId), u32>,
    /// Writes parked behind their connection's barriers, in arrival order.
    parked: HashMap<(ShardId, ConnId), VecDeque<ParkedWrite>>,
    /// The sum of `parked`'s queue lengths.
    parked_count: usize,
}

impl Default for ReadBarriers {
    fn default() -> Self {
        ReadBarriers {
            next: Vec::new(),
            round: None,
            confirmed: VecDeque::new(),
            next_token: 1,
            rounds_started: 0,
            answered: 0,
            by_conn: HashMap::new(),
            parked: HashMap::new(),
            parked_count: 0,
        }
    }
}

impl ReadBarriers {
    pub fn outstanding(&self) -> usize {
        self.next.len()
            + self.round.as_ref().map_or(0, |r| r.barriers.len())
            + self.confirmed.iter().map(|(_, b)| b.len()).sum::<usize>()
    }

    /// A new barrier for the next round; `Err` when too many are waiting.
    pub fn add(&mut self, barrier: Barrier) -> Result<(), Barrier> {
        if self.outstanding() >= PENDING_BARRIERS_MAX {
            return Err(barrier);
        }
        *self
            .by_conn
            .entry((barrier.shard, barrier.conn))
            .or_insert(0) += 1;
        self.next.push(barrier);
        Ok(())
    }

    /// A barrier already confirmed at `index` (a leader answering under its
    /// lease): it is answered once this member has applied `index`, after
    /// every barrier confirmed before it (so at the last one's index if
    /// that is higher: waiting for more is always safe).
    pub fn add_confirmed(&mut self, barrier: Barrier, index: u64) -> Result<(), Barrier> {
        if self.outstanding() >= PENDING_BARRIERS_MAX {
            return Err(barrier);
        }
        *self
            .by_conn
            .entry((barrier.shard, barrier.conn))
            .or_insert(0) += 1;
        match self.confirmed.back_mut() {
            Some((last, group)) if *last >= index => group.push(barrier),
            _ => self.confirmed.push_back((index, vec![barrier])),
        }
        Ok(())
    }

    /// The connection has a barrier outstanding (its writes must park).
    pub fn blocks(&self, shard: ShardId, conn: ConnId) -> bool {
        self.by_conn.contains_key(&(shard, conn))
    }

    /// Parks a write behind its connection's barriers; `Err` (the
    /// connection, to close) when too many are parked.
    pub fn park(&mut self, write: ParkedWrite) -> Result<(), (ShardId, ConnId)> {
        let key = (write.origin.shard, write.origin.conn);
        if self.parked_count >= PARKED_WRITES_MAX {
            return Err(key);
        }
        self.parked.entry(key).or_default().push_back(write);
        self.parked_count += 1;
        Ok(())
    }

    /// Starts a round for the barriers waiting, unless one is in flight;
    /// returns its token for raft's `read_index`. The caller asks only when
    /// a leader can answer.
    pub fn start_round(&mut self, now_ms: i64) -> Option<u64> {
        if self.round.is_some() || self.next.is_empty() {
            return None;
        }
        let token = self.next_token;
        self.next_token += 1;
        self.rounds_started += 1;
        self.round = Some(ReadRound {
            token,
            asked_ms: now_ms,
            barriers: std::mem::take(&mut self.next),
        });
        Some(token)
    }

    /// raft confirmed a round: `index` was the leader's commit index when
    /// it handled the request. Answers to other tokens (a round abandoned
    /// at a leader change) are ignored; returns whether it was ours.
    pub fn confirmed(&mut self, token: u64, index: u64) -> bool {
        if self.round.as_ref().map(|r| r.token) != Some(token) {
            return false;
        }
        let round = self.round.take().expect("checked above");
        self.confirmed.push_back((index, round.barriers));
        true
    }

    /// The token of the round in flight if it went unanswered for
    /// `resend_after_ms` (it is asked again, see
    /// [`READ_ROUND_RESEND_HEARTBEATS`]).
    pub fn stale_round(&mut self, now_ms: i64, resend_after_ms: i64) -> Option<u64> {
        let round = self.round.as_mut()?;
        if now_ms - round.asked_ms < resend_after_ms {
            return None;
        }
        round.asked_ms = now_ms;
        Some(round.token)
    }

    /// Every barrier, oldest first, back to waiting for a new round (at a
    /// leader change: a round asked of the old leader may never be
    /// answered). A later round is still a round started after each
    /// barrier arrived.
    pub fn requeue(&mut self) {
        let mut all: Vec<Barrier> = Vec::with_capacity(self.outstanding());
        for (_, b) in self.confirmed.drain(..) {
            all.extend(b);
        }
        if let Some(round) = self.round.take() {
            all.extend(round.barriers);
        }
        all.append(&mut self.next);
        self.next = all;
    }

    /// The barriers whose round index this member has applied, in order,
    /// and the writes of connections whose last barrier that was (to be
    /// routed now, in order: their replies follow the barrier's).
    pub fn answer(&mut self, applied_index: u64) -> (Vec<Barrier>, Vec<ParkedWrite>) {
        let mut answered = Vec::new();
        let mut unparked = Vec::new();
        while self
            .confirmed
            .front()
            .is_some_and(|(index, _)| *index <= applied_index)
        {
            let (_, barriers) = self.confirmed.pop_front().expect("front exists");
            self.answered += barriers.len() as u64;
            for b in barriers {
                let key = (b.shard, b.conn);
                if let Some(n) = self.by_conn.get_mut(&key) {
                    *n -= 1;
                    if *n == 0 {
                        self.by_conn.remove(&key);
                        if let Some(writes) = self.parked.remove(&key) {
                            self.parked_count -= writes.len();
                            unparked.extend(writes);
                        }
                    }
                }
                // (A connection no longer counted is gone: answered into
                // the void.)
                answered.push(b);
            }
        }
        (answered, unparked)
    }

    /// The connection closed: its barriers are answered into the void, its
    /// parked writes were sent nowhere and go with it.
    pub fn drop_connection(&mut self, shard: ShardId, conn: ConnId) {
        self.by_conn.remove(&(shard, conn));
        if let Some(writes) = self.parked.remove(&(shard, conn)) {
            self.parked_count -= writes.len();
        }
    }

    /// Every client connection closed: nothing is waiting any more.
    pub fn clear(&mut self) {
        self.requeue();
        self.next.clear();
        self.by_conn.clear();
        self.parked.clear();
        self.parked_count = 0;
    }

    /// (rounds started, barriers answered): barriers / rounds is the
    /// batching factor `mntr` shows.
    pub fn counters(&self) -> (u64, u64) {
        (self.rounds_started, self.answered)
    }
}
