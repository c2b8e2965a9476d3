//! The leader's part of a member: routing requests to the leader (or
//! parking them until there is one), the [`Proposer`] while this member
//! leads, reconfig, and noticing role changes.
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::routing::Deferred;
use super::Member;
use crate::auth::AuthIds;
use crate::consensus::membership::Membership;
use crate::consensus::proposer::{ConnectDecision, Decision, Proposal, Proposer, Refusal};
use crate::consensus::wire::*;
use crate::messages::*;
use crate::ops::txn::Txn;
use crate::proto::{ConnectRequest, ErrorCode, MultiResult, Request, Response, SessionId, Zxid};
use raft::eraftpb::{ConfChangeSingle, ConfChangeTransition, ConfChangeType, ConfChangeV2};
use std::sync::Arc;

/// This member leads: the index of its term's empty entry, and once that
/// is applied (everything earlier leaders committed is in the committed
/// state) the proposer built on it.
/// Owned by the consensus executor, inside [`Member`].
pub(super) struct Leading {
    /// The proposer starts once this index is applied: the term's empty
    /// entry, or the last entry in the log when a proposal was dropped.
    noop_index: u64,
    proposer: Option<Proposer>,
}

impl Leading {
    pub(super) fn is_ready(&self) -> bool {
        self.proposer.is_some()
    }

    pub(super) fn proposer(&self) -> Option<&Proposer> {
        self.proposer.as_ref()
    }

    pub(super) fn proposer_mut(&mut self) -> Option<&mut Proposer> {
        self.proposer.as_mut()
    }
}

impl Member {
    fn proposer_mut(&mut self) -> Option<&mut Proposer> {
        self.leading.as_mut().and_then(Leading::proposer_mut)
    }

    /// Sends a write where it can be carried out: this member if it is the
    /// ready leader; the leader, for this member's own clients; else it
    /// waits for a leader. `resend`: its first send's fate is unknown (the
    /// leader changed), so the leader drops it if it is a duplicate.
    pub(super) fn route_write(
        &mut self,
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
        resend: bool,
    ) {
        let mine = origin.member == self.cfg.my_id;
        if self.leader_ready() {
            if mine {
                let o = origin.origin;
                self.router.mark_sent(o.shard, o.conn, o.xid);
            }
            self.lead_write(origin, session_id, &auth, &request, resend);
        } else if self.known_leader != 0 && !self.is_leader() {
            debug_assert!(mine, "only the leader takes others' requests");
            let o = origin.origin;
            self.router.mark_sent(o.shard, o.conn, o.xid);
            self.forward(Forward::Write {
                origin,
                session_id,
                auth,
                request,
                resend,
            });
        } else {
            self.defer(Deferred::Write {
                origin,
                session_id,
                auth,
                request,
                resend,
            });
        }
    }

    /// At a leader change: this member's clients' writes that went to a
    /// leader and are not answered go to the next leader again, in the
    /// order they were sent (it drops those already in its log).
    pub(super) fn resend_writes(&mut self) {
        for w in self.router.sent_writes() {
            self.route_write(w.origin, w.session_id, w.auth, w.request, true);
        }
    }

    pub(super) fn route_connect(
        &mut self,
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
    ) {
        if self.leader_ready() {
            self.lead_connect(member, shard, conn, &request);
        } else if self.known_leader != 0 && !self.is_leader() {
            debug_assert_eq!(
                member, self.cfg.my_id,
                "only the leader takes others' requests"
            );
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

    pub(super) fn run_waiting(&mut self) {
        for d in self.router.take_waiting() {
            match d {
                Deferred::Write {
                    origin,
                    session_id,
                    auth,
                    request,
                    resend,
                } => self.route_write(origin, session_id, auth, request, resend),
                Deferred::Connect {
                    member,
                    shard,
                    conn,
                    request,
                } => self.route_connect(member, shard, conn, request),
            }
        }
    }

    /// The last zxid this leader proposed, or the applied one.
    fn last_proposed_zxid(&self) -> Zxid {
        let proposed = self
            .leading
            .as_ref()
            .and_then(Leading::proposer)
            .map_or(0, Proposer::last_zxid);
        proposed.max(self.committed.zxid())
    }

    /// raft dropped a proposal (a leadership transfer is under way): the
    /// proposer's pending state holds a change that will never commit. It
    /// is dropped, and rebuilt only once everything already in raft's log
    /// is applied, so the new one continues the zxid counter after every
    /// proposal that may still commit (never reusing one of their zxids).
    fn suspend_proposing(&mut self) {
        let last = self.node.raft.raft_log.last_index();
        if let Some(l) = self.leading.as_mut() {
            l.proposer = None;
            l.noop_index = l.noop_index.max(last);
        }
    }

    /// Answers a request that changed nothing, ordered after everything
    /// proposed before it: its member holds the reply until it has applied
    /// that far.
    fn reply_after(&mut self, origin: RemoteOrigin, result: Result<Response, ErrorCode>) {
        let after = self.last_proposed_zxid();
        if origin.member == self.cfg.my_id {
            let o = origin.origin;
            self.router.refused(o.shard, o.conn, o.xid);
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
            return;
        }
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
        self.step
            .peer_frames
            .push((origin.member, FRAME_REPLY, encode_reply(&m)));
    }

    fn lead_write(
        &mut self,
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: &AuthIds,
        request: &Request,
        resend: bool,
    ) {
        if let Some(reason) = &self.log_failure {
            tracing::warn!(reason, "refusing write: transaction log failed");
            self.reply_after(origin, Err(ErrorCode::SystemError));
            return;
        }
        let now = self.now;
        let proposer = self.proposer_mut().expect("the leader is ready");
        match proposer.admit(&origin, session_id, now, resend) {
            Ok(()) => {}
            Err(Refusal::Error(code)) => {
                self.reply_after(origin, Err(code));
                return;
            }
            // Already in the log: its origin answers it when it applies it.
            Err(Refusal::Duplicate) => return,
            Err(Refusal::InDoubt) => {
                let o = origin.origin;
                tracing::info!(
                    session = format!("{session_id:#x}"),
                    xid = o.xid,
                    "a write sent again may be in the log already (its session was restored from a snapshot): closing its connection"
                );
                self.close_connection(origin.member, o.shard, o.conn);
                return;
            }
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
                Ok((servers, cc)) => self.propose_reconfig(servers, cc, origin),
                Err(code) => self.reply_after(origin, Err(code)),
            }
            return;
        }
        let proposer = self.proposer_mut().expect("the leader is ready");
        match proposer.decide(origin, session_id, auth, request, now, true) {
            Decision::Reply(result) => self.reply_after(origin, result),
            Decision::Propose(p) => self.propose(p),
        }
    }

    fn lead_connect(
        &mut self,
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: &ConnectRequest,
    ) {
        let now = self.now;
        let proposer = self.proposer_mut().expect("the leader is ready");
        match proposer.connect(member, shard, conn, request, now) {
            ConnectDecision::Created(p) => self.propose(*p),
            ConnectDecision::Reattached { kick, response } => {
                if let Some(old) = kick {
                    self.close_connection(old.member, old.shard, old.conn);
                }
                let session_id = request.session_id;
                if response.timeout_ms > 0 {
                    // Accepted: the move is logged, so every later leader
                    // knows the session's connection and refuses requests
                    // of the one it left (ZooKeeper's SessionMoved). The
                    // reply rides on the entry, like a new session's.
                    let txn = Txn::Reattach {
                        session_id,
                        timeout_ms: response.timeout_ms,
                    };
                    let connect = ConnectReply {
                        member,
                        shard,
                        conn,
                        response,
                    };
                    let proposer = self.proposer_mut().expect("the leader is ready");
                    let p = proposer.propose(txn, now.wall_ms, None, Some(connect));
                    self.propose(p);
                    return;
                }
                let after = self.last_proposed_zxid();
                if member == self.cfg.my_id {
                    let msg = ToShard::ConnectResult {
                        conn,
                        response: Some(response),
                        session_id,
                    };
                    self.hold(after, shard, msg);
                } else {
                    let m = LeaderReply::ConnectResult {
                        after_zxid: after,
                        shard,
                        conn,
                        session_id,
                        response: Some(response),
                    };
                    self.step
                        .peer_frames
                        .push((member, FRAME_REPLY, encode_reply(&m)));
                }
            }
        }
    }

    /// Hands a proposal to raft. If raft drops it (leadership is being
    /// transferred or lost), the proposer's pending state holds a change
    /// that will never commit: leadership is given up here (the proposer
    /// is dropped, a new one is built at the next election), and the
    /// clients involved see ConnectionLoss.
    fn propose(&mut self, p: Proposal) {
        let payload = p.payload;
        let data = encode_entry(&payload);
        if let Err(e) = self.node.propose(Vec::new(), data) {
            tracing::warn!(error = %e, "proposal dropped");
            self.proposal_dropped(&payload);
        }
    }

    fn proposal_dropped(&mut self, payload: &EntryPayload) {
        self.suspend_proposing();
        if let Some(o) = payload.origin {
            self.close_connection(o.member, o.origin.shard, o.origin.conn);
        }
        if let Some(c) = &payload.connect {
            self.close_connection(c.member, c.shard, c.conn);
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
        let pending = self
            .leading
            .as_ref()
            .and_then(Leading::proposer)
            .expect("the leader is ready")
            .pending();
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

    /// Proposes a membership change: raft's configuration change, carrying
    /// the Reconfig txn that rewrites `/zookeeper/config` in its context.
    fn propose_reconfig(
        &mut self,
        servers: Vec<crate::config::ServerSpec>,
        cc: ConfChangeV2,
        origin: RemoteOrigin,
    ) {
        let wall_ms = self.now.wall_ms;
        let proposer = self.proposer_mut().expect("the leader is ready");
        // The zxid the txn will have: the next one.
        let zxid = proposer.last_zxid() + 1;
        let text = Membership::new(servers, zxid).text();
        let txn = Txn::Reconfig {
            config: Arc::from(text.as_bytes()),
        };
        let p = proposer.propose(txn, wall_ms, Some(origin), None);
        assert_eq!(p.payload.zxid, zxid);
        let payload = p.payload;
        if let Err(e) = self.node.propose_conf_change(encode_entry(&payload), cc) {
            tracing::warn!(error = %e, "membership change refused by raft");
            self.suspend_proposing();
            self.reply_after(origin, Err(ErrorCode::ReconfigInProgress));
        }
    }

    /// The leader's periodic work: expiry and the reaper.
    pub(super) fn lead_tick(&mut self) {
        if self.log_failure.is_some() {
            return;
        }
        let now = self.now;
        let Some(proposer) = self.proposer_mut() else {
            return;
        };
        let mut due = Vec::new();
        proposer.tick(now, |p, _| due.push(p));
        for p in due {
            self.propose(p);
            if !self.leader_ready() {
                return;
            }
        }
    }

    /// This member's empty entry of its term is applied: it starts a
    /// proposer on the committed state and serves what waited.
    pub(super) fn become_ready(&mut self) {
        let epoch = self.node.raft.term as i64;
        let tree = (**self.committed.tree()).clone();
        let proposer = Proposer::new(
            self.cfg.core.clone(),
            tree,
            &self.committed.session_entries(),
            epoch,
            self.committed.zxid(),
            self.now,
        );
        tracing::info!(
            term = self.node.raft.term,
            zxid = format!("{:#x}", self.committed.zxid()),
            sessions = proposer.sessions().len(),
            "LEADING: leader of the ensemble, serving writes"
        );
        self.leading
            .as_mut()
            .expect("becoming ready while leading")
            .proposer = Some(proposer);
        self.resend_writes();
        self.run_waiting();
        self.start_read_round();
    }

    /// Called for every applied entry: a leader becomes ready once its
    /// empty entry is applied.
    pub(super) fn applied_up_to(&mut self, index: u64) {
        if self
            .leading
            .as_ref()
            .is_some_and(|l| l.proposer.is_none() && index >= l.noop_index)
            && self.is_leader()
        {
            self.become_ready();
        }
    }

    /// A committed transaction this leader's proposer must know about.
    pub(super) fn leader_saw_commit(&mut self, txn: &Txn) {
        if let Some(p) = self.proposer_mut() {
            p.committed(crate::consensus::committed::session_change(txn));
        }
    }

    /// Notices leader and term changes (after every raft step).
    pub(super) fn check_role(&mut self) {
        self.rerandomize(false);
        let leader = self.node.raft.leader_id;
        let term = self.node.raft.term;
        if leader == self.known_leader && term == self.known_term {
            return;
        }
        let (prev_leader, prev_term) = (self.known_leader, self.known_term);
        let me = self.cfg.my_id;
        if leader == me {
            tracing::info!(term, prev_leader, "LEADING: elected leader");
        } else if leader != 0 {
            tracing::info!(leader, term, prev_leader, "FOLLOWING: leader changed");
        } else {
            tracing::info!(term, prev_leader, "LOOKING: no leader known");
        }
        self.known_leader = leader;
        self.known_term = term;
        // A lease belongs to one leadership.
        self.lease.drop_lease();
        if prev_leader == me && (leader != me || term != prev_term) {
            // Stepped down: proposals not yet committed may never be, and
            // other members' requests held for this term are given up.
            self.leading = None;
            for (member, shard, conn) in self.router.take_waiting_of_others(me) {
                self.bounce(member, shard, conn);
            }
        }
        // Connects sent to the old leader (no reply yet) may or may not
        // have taken effect: their clients see ConnectionLoss and retry.
        // Writes sent to it go to the new leader again (`resend_writes`),
        // which drops those already in its log. Requests still parked here
        // were sent nowhere and stay. Read barriers (sync, linearizable
        // reads) are never in doubt: they wait for a round asked of the new
        // leader (bounded: see `tick`).
        self.barriers.requeue();
        for (shard, conn) in self.router.take_in_doubt(me) {
            self.close_connection(me, shard, conn);
        }
        if leader == 0 {
            self.leaderless_since_ms.get_or_insert(self.now.mono_ms);
        } else {
            self.leaderless_since_ms = None;
            self.clients_closed_for_no_leader = false;
        }
        if leader == me {
            // raft-rs appended this term's empty entry on becoming leader.
            let noop_index = self.node.raft.raft_log.last_index();
            self.leading = Some(Leading {
                noop_index,
                proposer: None,
            });
            if self.applied_index >= noop_index {
                self.become_ready();
            }
        }
        self.start_read_round();
        if leader != 0 && leader != me {
            self.resend_writes();
            self.run_waiting();
        }
    }
}
