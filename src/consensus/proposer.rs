//! The leader's side of the pipeline, written once: what turns a client's
//! request into a transaction. Standalone wraps a [`Proposer`] with a local
//! durable log ([`super::standalone`]); an ensemble member holds one while
//! it leads and proposes through raft ([`super::member`]), as ZooKeeper's
//! leader reuses the standalone request processors.
//!
//! It owns:
//! - the pending tree: the committed tree plus every transaction proposed
//!   since, which the next request is validated against (`ops::write::prep`);
//! - the zxid counter of its epoch (`epoch << 32 | counter`);
//! - the session tracker: deadlines, owners and closing flags of every
//!   session committed or proposed (new sessions are live from their
//!   proposal, as in ZooKeeper), connect and re-attach, expiry;
//! - the container/TTL reaper.
//!
//! Owned by the consensus executor. Pure: time comes in as [`Now`],
//! randomness from the caller's seeded generator.

use super::committed::{CommittedSession, SessionChange};
use super::wire::{ConnectReply, EntryPayload, RemoteOrigin};
use super::Now;
use crate::auth::AuthIds;
use crate::messages::{ConnId, MemberId, ShardId};
use crate::ops::txn::Txn;
use crate::ops::write::{self, Applied, OpsConfig, WriteContext};
use crate::proto::{
    ConnectRequest, ConnectResponse, ErrorCode, MultiResult, Request, Response, SessionId, Zxid,
};
use crate::session::{ConnectionOwner, SessionTable};
use crate::tree::DataTree;

/// Settings the pipeline needs, taken from [`crate::config::Config`].
#[derive(Clone, Debug)]
pub struct CoreConfig {
    pub server_id: u8,
    pub tick_ms: i64,
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub ops: OpsConfig,
    pub container_check_interval_ms: i64,
    pub container_max_per_minute: usize,
    pub container_max_never_used_interval_ms: i64,
    /// Transactions between snapshots (ZooKeeper's snapCount); each server
    /// draws its threshold from [snapCount/2, snapCount] so members of an
    /// ensemble do not all snapshot at once. 0 disables snapshots.
    pub snap_count: u64,
    /// Keys session passwords; the same on every member of an ensemble.
    pub password_secret: [u8; 32],
}

/// A transaction decided on: numbered, applied to the pending tree.
/// Owned by the consensus executor: made by the `Proposer` and consumed there.
#[derive(Debug)]
pub struct Proposal {
    pub payload: EntryPayload,
    /// What applying it to the pending tree did. Standalone publishes this
    /// (its commit is that very version); a member applies the committed
    /// entry again on its committed tree and uses that result.
    pub applied: Applied,
}

/// Why a write is not carried out.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Answered with this error (its session is gone, or has moved).
    Error(ErrorCode),
    /// A write sent again after a leader change that is already in the log
    /// (its session's connection has a write of this xid or a later one):
    /// dropped; the member that holds the client answers it from the log.
    Duplicate,
    /// A write sent again after a leader change for a session whose xids
    /// are not known (restored from a snapshot): it may be in the log
    /// already, and carrying it out again could apply it twice, so its
    /// connection is closed and the client sees ConnectionLoss (outcome
    /// unknown), as for any write whose fate is in doubt.
    InDoubt,
}

/// What becomes of a write.
#[derive(Debug)]
pub enum Decision {
    /// Answered without a transaction (a failed check or prep; no zxid is
    /// consumed), in order behind what the connection has in flight.
    Reply(Result<Response, ErrorCode>),
    Propose(Proposal),
}

/// What becomes of a ConnectRequest.
#[derive(Debug)]
pub enum ConnectDecision {
    /// A new session: its CreateSession carries the connect reply.
    Created(Box<Proposal>),
    /// A re-attach (refused: `response.timeout_ms == 0`), answered in order;
    /// `kick` is another connection bound to the session, closed first.
    Reattached {
        kick: Option<ConnectionOwner>,
        response: ConnectResponse,
    },
}

/// See the module doc.
/// Owned by the consensus executor.
pub struct Proposer {
    cfg: CoreConfig,
    pending: DataTree,
    epoch: i64,
    counter: i64,
    sessions: SessionTable,
    next_reap_ms: i64,
}

impl Proposer {
    /// Starts proposing on top of `tree` (committed) in `epoch`, after the
    /// last zxid `tree` or `committed_zxid` reached. Every session gets a
    /// fresh deadline (a restart or a failover expires nobody) and the
    /// owner the log gave it (none known: the first connection that writes
    /// adopts it).
    pub fn new(
        cfg: CoreConfig,
        tree: DataTree,
        sessions: &[(SessionId, CommittedSession)],
        epoch: i64,
        committed_zxid: Zxid,
        now: Now,
    ) -> Proposer {
        let last = committed_zxid.max(tree.last_zxid);
        let counter = if last >> 32 == epoch {
            last & 0xffff_ffff
        } else {
            assert!(
                epoch > last >> 32,
                "epochs only grow: {epoch} after {last:#x}"
            );
            0
        };
        // Ids mix in the wall clock so they differ across restarts and
        // leaderships.
        let mut table =
            SessionTable::new(cfg.server_id, now.wall_ms, cfg.tick_ms, cfg.password_secret);
        for (id, s) in sessions {
            table.create(*id, s.timeout_ms, now.mono_ms);
            table.set_owner(*id, s.owner);
            if let Some(xid) = s.last_xid {
                table.wrote(*id, xid);
            }
            if !s.xids_known {
                table.forget_xids(*id);
            }
        }
        Proposer {
            next_reap_ms: now.mono_ms + cfg.container_check_interval_ms,
            cfg,
            pending: tree,
            epoch,
            counter,
            sessions: table,
        }
    }

    pub fn pending(&self) -> &DataTree {
        &self.pending
    }

    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    pub fn config(&self) -> &CoreConfig {
        &self.cfg
    }

    /// The last zxid proposed (or the committed one, if none yet).
    pub fn last_zxid(&self) -> Zxid {
        (self.epoch << 32) | self.counter
    }

    fn next_zxid(&mut self) -> Zxid {
        self.counter += 1;
        assert!(
            self.counter < (1 << 32),
            "zxid counter exhausted in epoch {}",
            self.epoch
        );
        (self.epoch << 32) | self.counter
    }

    /// Numbers `txn`, applies it to the pending tree and returns it.
    pub fn propose(
        &mut self,
        txn: Txn,
        wall_ms: i64,
        origin: Option<RemoteOrigin>,
        connect: Option<ConnectReply>,
    ) -> Proposal {
        let zxid = self.next_zxid();
        let applied = write::apply(&mut self.pending, &txn, zxid, wall_ms);
        Proposal {
            payload: EntryPayload {
                zxid,
                time_ms: wall_ms,
                origin,
                connect,
                txn,
            },
            applied,
        }
    }

    /// The checks every write passes before it is looked at: its session is
    /// live, and the request comes from the connection that owns it
    /// (ZooKeeper's SessionMoved: a late request from a connection its
    /// client gave up on must not be applied after what the client sent
    /// since on a newer one). Touches the session.
    /// `resend`: the write may be in the log already (see [`Refusal`]).
    pub fn admit(
        &mut self,
        origin: &RemoteOrigin,
        session_id: SessionId,
        now: Now,
        resend: bool,
    ) -> Result<(), Refusal> {
        if !self.sessions.is_live(session_id) {
            return Err(Refusal::Error(ErrorCode::SessionExpired));
        }
        let writer = ConnectionOwner {
            member: origin.member,
            shard: origin.origin.shard,
            conn: origin.origin.conn,
        };
        if let Err(moved) = self.sessions.check_owner(session_id, writer) {
            tracing::debug!(session = format!("{session_id:#x}"), %moved, "write from a stale connection");
            return Err(Refusal::Error(ErrorCode::SessionMoved));
        }
        if resend {
            match self
                .sessions
                .get(session_id)
                .map(|s| (s.xids_known, s.last_xid))
            {
                Some((false, _)) => return Err(Refusal::InDoubt),
                Some((true, Some(last))) if origin.origin.xid <= last => {
                    return Err(Refusal::Duplicate)
                }
                _ => {}
            }
        }
        self.sessions.touch(session_id, now.mono_ms);
        Ok(())
    }

    /// A write that passed [`Proposer::admit`]. A write that fails
    /// (NodeExists, BadVersion, ...) is judged against the pending tree;
    /// with `log_failures` it is proposed as a [`Txn::Error`] entry (as
    /// ZooKeeper logs its error transactions) and answered when that
    /// commits, else answered at once. An ensemble needs the entry: the
    /// pending tree holds proposals that may never commit (the leader is
    /// deposed first), so a refusal that rests on them is only true once
    /// they commit, and the entry commits after them or not at all. It
    /// also records the write's xid, so a resend of it is recognised. A
    /// standalone server's proposals are lost only with the process.
    pub fn decide(
        &mut self,
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: &AuthIds,
        request: &Request,
        now: Now,
        log_failures: bool,
    ) -> Decision {
        if matches!(request, Request::CloseSession) {
            self.sessions.mark_closing(session_id);
            self.sessions.wrote(session_id, origin.origin.xid);
            let txn = Txn::CloseSession { session_id };
            return Decision::Propose(self.propose(txn, now.wall_ms, Some(origin), None));
        }
        let ctx = WriteContext {
            session_id,
            auth,
            config: &self.cfg.ops,
        };
        match write::prep(&self.pending, request, &ctx) {
            Txn::Error(code) if !log_failures => Decision::Reply(Err(code)),
            Txn::MultiError(codes) if !log_failures => Decision::Reply(Ok(Response::Multi(
                codes.into_iter().map(MultiResult::Error).collect(),
            ))),
            txn => {
                self.sessions.wrote(session_id, origin.origin.xid);
                Decision::Propose(self.propose(txn, now.wall_ms, Some(origin), None))
            }
        }
    }

    /// [`Proposer::admit`], then [`Proposer::decide`].
    pub fn write(
        &mut self,
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: &AuthIds,
        request: &Request,
        now: Now,
    ) -> Decision {
        match self.admit(&origin, session_id, now, false) {
            Err(Refusal::Error(code)) => Decision::Reply(Err(code)),
            Err(Refusal::Duplicate | Refusal::InDoubt) => {
                unreachable!("only a resend can be a duplicate or in doubt")
            }
            Ok(()) => self.decide(origin, session_id, auth, request, now, false),
        }
    }

    /// A ConnectRequest (digest §4.3) from connection `conn` of shard
    /// `shard` on member `member` (0 standalone). The caller has already
    /// refused a client that has seen more than this server.
    pub fn connect(
        &mut self,
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: &ConnectRequest,
        now: Now,
    ) -> ConnectDecision {
        let timeout_ms = SessionTable::negotiate_timeout(
            request.timeout_ms,
            self.cfg.min_session_timeout_ms,
            self.cfg.max_session_timeout_ms,
        );
        let read_only = request.read_only.map(|_| false);
        let owner = ConnectionOwner {
            member,
            shard,
            conn,
        };
        if request.session_id == 0 {
            let session_id = self.sessions.allocate_id();
            // Live from now on, as in ZooKeeper: on an ensemble the client
            // can hear of its session (from a member that applied the
            // entry) before this leader has, and its first write must not
            // be refused as expired.
            self.sessions.create(session_id, timeout_ms, now.mono_ms);
            self.sessions.set_owner(session_id, Some(owner));
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
            let txn = Txn::CreateSession {
                session_id,
                timeout_ms,
            };
            let proposal = self.propose(txn, now.wall_ms, None, Some(connect));
            return ConnectDecision::Created(Box::new(proposal));
        }
        // Re-attach: first kick any other connection bound to the session.
        let session_id = request.session_id;
        let kick = self
            .sessions
            .get(session_id)
            .and_then(|s| s.owner)
            .filter(|old| *old != owner);
        if kick.is_some() {
            self.sessions.set_owner(session_id, None);
        }
        let response = match self.sessions.reattach(
            session_id,
            &request.passwd,
            timeout_ms,
            now.mono_ms,
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
        ConnectDecision::Reattached { kick, response }
    }

    /// Sessions that sent anything recently.
    pub fn touch(&mut self, sessions: &[SessionId], now: Now) {
        for &id in sessions {
            self.sessions.touch(id, now.mono_ms);
        }
    }

    /// Periodic work: expired sessions' closes, then the container/TTL
    /// reaper's deletions, as proposals handed to `each` one at a time
    /// with the pending tree as of that proposal (a standalone server
    /// publishes that version when the entry is durable; the next
    /// proposal's changes must not be in it).
    pub fn tick(&mut self, now: Now, mut each: impl FnMut(Proposal, &DataTree)) {
        for session_id in self.sessions.take_expired(now.mono_ms) {
            tracing::info!(session = format!("{session_id:#x}"), "session expired");
            self.sessions.mark_closing(session_id);
            let txn = Txn::CloseSession { session_id };
            let p = self.propose(txn, now.wall_ms, None, None);
            each(p, &self.pending);
        }
        if now.mono_ms >= self.next_reap_ms {
            self.next_reap_ms = now.mono_ms + self.cfg.container_check_interval_ms;
            let candidates = write::reaper_candidates(
                &self.pending,
                now.wall_ms,
                self.cfg.container_max_never_used_interval_ms,
            );
            // maxPerMinute bounds deletions per check interval, scaled.
            let budget = ((self.cfg.container_max_per_minute as i64
                * self.cfg.container_check_interval_ms)
                / 60_000)
                .max(1) as usize;
            for path in candidates.into_iter().take(budget) {
                let request = Request::DeleteContainer {
                    path: path.to_string(),
                };
                let ctx = WriteContext {
                    session_id: 0,
                    auth: &AuthIds::default(),
                    config: &self.cfg.ops,
                };
                let txn = write::prep(&self.pending, &request, &ctx);
                if !matches!(txn, Txn::Error(_)) {
                    let p = self.propose(txn, now.wall_ms, None, None);
                    each(p, &self.pending);
                }
            }
        }
    }

    /// A transaction this proposer proposed is committed (`change` is its
    /// [`session_change`](super::committed::session_change)): a closed
    /// session leaves the tracker now (until then it was only closing).
    pub fn committed(&mut self, change: Option<SessionChange>) {
        if let Some(SessionChange::Closed(id)) = change {
            self.sessions.remove(id);
        }
    }

    /// Proposals that will never commit (the standalone log failed), by
    /// their session changes: the pending tree goes back to `committed`,
    /// sessions they created are forgotten and sessions they were closing
    /// are open again.
    pub fn roll_back(&mut self, committed: DataTree, abandoned: &[SessionChange]) {
        self.pending = committed;
        for change in abandoned {
            match *change {
                SessionChange::Created { id, .. } => {
                    self.sessions.remove(id);
                }
                SessionChange::Closed(id) => self.sessions.reopen(id),
            }
        }
    }
}
