//! A member's inputs from its client shards (writes, read barriers,
//! connects, touches, closed connections) and from its peers (raft
//! messages, forwarded requests, the leader's replies), and where requests
//! go: to the leader, into the wait for one, or back to their origin.
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::barriers::ParkedWrite;
use super::leading::Leading;
use super::{peer_checks, routing, Member};
use crate::auth::AuthIds;
use crate::consensus::wire::*;
use crate::messages::*;
use crate::proto::{ConnectRequest, Request, SessionId, Zxid};
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};

impl Member {
    // ---- client-side inputs (from this member's shards) ----

    pub(super) fn write(
        &mut self,
        origin: Origin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
    ) {
        if self.barriers.blocks(origin.shard, origin.conn) {
            let parked = ParkedWrite {
                origin,
                session_id,
                auth,
                request,
            };
            if let Err((shard, conn)) = self.barriers.park(parked) {
                tracing::warn!("too many writes parked behind reads: closing the connection");
                self.close_connection(self.cfg.my_id, shard, conn);
            }
            return;
        }
        let origin = RemoteOrigin {
            member: self.cfg.my_id,
            origin,
        };
        // Kept until answered: if the leader changes first, it goes to the
        // next one again (`leading::resend_writes`).
        self.router.track_write(routing::PendingWrite {
            origin,
            session_id,
            auth: auth.clone(),
            request: request.clone(),
            sent: false,
            refused: false,
        });
        self.route_write(origin, session_id, auth, request, false);
    }

    /// A `sync`, or a read under `roost.readConsistency=linearizable`: it
    /// may be answered once this member has applied the leader's commit
    /// index as of a ReadIndex round started after now. Barriers are never
    /// in doubt (a lost round is asked again), so they are not counted in
    /// the router.
    pub(super) fn read_barrier(&mut self, origin: Origin) {
        // Under a lease the leader's commit index already covers every
        // write acknowledged before now (`lease`). A connection with
        // barriers waiting keeps its order and waits with them.
        if self.lease_holds() && !self.barriers.blocks(origin.shard, origin.conn) {
            let index = self.node.raft.raft_log.committed;
            match self.barriers.add_confirmed(origin, index) {
                Ok(()) => {
                    self.lease.served_one();
                    self.answer_barriers();
                }
                Err(b) => {
                    tracing::warn!("too many reads and syncs waiting: closing the connection");
                    self.close_connection(self.cfg.my_id, b.shard, b.conn);
                }
            }
            return;
        }
        if let Err(b) = self.barriers.add(origin) {
            tracing::warn!(
                "too many reads and syncs waiting for ReadIndex: closing the connection"
            );
            self.close_connection(self.cfg.my_id, b.shard, b.conn);
            return;
        }
        self.start_read_round();
    }

    pub(super) fn connect(&mut self, shard: ShardId, conn: ConnId, request: ConnectRequest) {
        // A client that has seen more than this member has applied goes
        // elsewhere (closed without a reply), as with ZooKeeper; so does
        // every client while this member has been without a leader too long.
        if request.last_zxid_seen > self.committed.zxid() || self.clients_closed_for_no_leader {
            tracing::info!(
                client_zxid = format!("{:#x}", request.last_zxid_seen),
                our_zxid = format!("{:#x}", self.committed.zxid()),
                leaderless = self.clients_closed_for_no_leader,
                "refusing connection: this member is behind the client or has no leader"
            );
            self.step.to(
                shard,
                ToShard::ConnectResult {
                    conn,
                    response: None,
                    session_id: 0,
                },
            );
            return;
        }
        self.router.note_in_doubt(shard, conn);
        let member = self.cfg.my_id;
        self.route_connect(member, shard, conn, request);
    }

    pub(super) fn touch(&mut self, sessions: Vec<SessionId>) {
        if let Some(p) = self.leading.as_mut().and_then(Leading::proposer_mut) {
            p.touch(&sessions, self.now);
        } else if self.known_leader != 0 && !self.is_leader() {
            self.forward(Forward::Touch { sessions });
        }
    }

    pub(super) fn disconnected(&mut self, shard: ShardId, conn: ConnId, session_id: SessionId) {
        let me = self.cfg.my_id;
        self.router.forget_connection(shard, conn);
        // Requests it queued while there was no leader go with it: proposed
        // later, they could land after what its client sent since on a new
        // connection.
        self.router.drop_waiting_of((me, shard, conn));
        self.barriers.drop_connection(shard, conn);
        // The session keeps its owner: only a re-attach (logged) moves it,
        // so the leader need not hear of this.
        let _ = session_id;
    }

    // ---- peer inputs ----

    /// A frame from another member.
    pub(super) fn peer_frame(&mut self, from: MemberId, kind: u8, body: &[u8]) {
        match kind {
            FRAME_RAFT => match Message::parse_from_bytes(body) {
                Ok(msg) => {
                    let last = self.node.raft.raft_log.last_index();
                    if let Err(why) = peer_checks::check_raft(from, self.cfg.my_id, last, &msg) {
                        self.refuse_peer_frame(from, &why);
                        return;
                    }
                    self.raft_contact.insert(from, self.now.mono_ms);
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
                Ok(f) => match peer_checks::check_forward(from, &f) {
                    Ok(()) => self.on_forward(f),
                    Err(why) => self.refuse_peer_frame(from, &why),
                },
                Err(e) => tracing::warn!(from, error = %e, "malformed forwarded request"),
            },
            FRAME_REPLY => match decode_reply(body) {
                Ok(r) => match peer_checks::check_reply(self.shard_count, &r) {
                    Ok(()) => self.on_leader_reply(from, r),
                    Err(why) => self.refuse_peer_frame(from, &why),
                },
                Err(e) => tracing::warn!(from, error = %e, "malformed leader reply"),
            },
            other => tracing::warn!(from, kind = other, "unknown peer frame kind"),
        }
    }

    /// A frame no honest member sends: dropped, counted, and logged (the
    /// first ten, then one in a thousand: a flood must not fill the log).
    fn refuse_peer_frame(&mut self, from: MemberId, why: &peer_checks::PeerRefusal) {
        self.peer_frames_refused += 1;
        let n = self.peer_frames_refused;
        if n <= 10 || n.is_multiple_of(1000) {
            tracing::warn!(peer = from, refused = n, reason = %why, "peer frame refused");
        }
    }

    fn on_forward(&mut self, f: Forward) {
        match f {
            // Another member's request is taken only by the leader (held
            // until it is ready, dropped if it stops leading first). Any
            // other member bounces it: relayed or held for a later term, it
            // could land after what its client sent since, elsewhere.
            Forward::Write {
                origin,
                session_id,
                auth,
                request,
                resend,
            } => {
                if self.is_leader() {
                    self.route_write(origin, session_id, auth, request, resend);
                } else {
                    let (member, shard, conn) =
                        (origin.member, origin.origin.shard, origin.origin.conn);
                    self.bounce(member, shard, conn);
                }
            }
            Forward::Connect {
                member,
                shard,
                conn,
                request,
            } => {
                if self.is_leader() {
                    self.route_connect(member, shard, conn, request);
                } else {
                    self.bounce(member, shard, conn);
                }
            }
            Forward::Touch { sessions } => {
                if let Some(p) = self.leading.as_mut().and_then(Leading::proposer_mut) {
                    p.touch(&sessions, self.now);
                }
            }
            // Sent by members of earlier versions; ownership moves only by
            // a logged re-attach now.
            Forward::Disconnected { .. } => {}
        }
    }

    fn on_leader_reply(&mut self, from: MemberId, r: LeaderReply) {
        match r {
            LeaderReply::Complete {
                after_zxid,
                origin,
                result,
            } => {
                if from != self.known_leader {
                    // A refusal from a leader this member has since seen
                    // replaced: the write went, or will go, to the current
                    // leader, which decides it again; taking this answer as
                    // well could tell the client one thing while the new
                    // leader does another.
                    tracing::debug!(
                        from,
                        leader = self.known_leader,
                        "refusal from a former leader ignored: the write goes to the current one"
                    );
                    return;
                }
                let result = match result {
                    RemoteResult::Error(code) => Err(code),
                    RemoteResult::MultiErrors(codes) => Ok(crate::proto::Response::Multi(
                        codes
                            .into_iter()
                            .map(crate::proto::MultiResult::Error)
                            .collect(),
                    )),
                };
                self.router.refused(origin.shard, origin.conn, origin.xid);
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
                self.close_connection(self.cfg.my_id, shard, conn);
            }
        }
    }

    // ---- routing ----

    pub(super) fn forward(&mut self, f: Forward) {
        let leader = self.known_leader;
        debug_assert!(leader != 0 && leader != self.cfg.my_id);
        self.step
            .peer_frames
            .push((leader, FRAME_FORWARD, encode_forward(&f)));
    }

    pub(super) fn defer(&mut self, d: routing::Deferred) {
        if let Err((member, shard, conn)) = self.router.defer(d) {
            tracing::warn!("too many requests waiting for a leader: closing the connection");
            self.close_connection(member, shard, conn);
        }
    }

    /// A request forwarded here that this member will not carry out: its
    /// connection is closed (the client sees ConnectionLoss and retries
    /// where there is a leader).
    pub(super) fn bounce(&mut self, member: MemberId, shard: ShardId, conn: ConnId) {
        tracing::debug!(
            member,
            conn,
            "not the leader: closing a forwarded request's connection"
        );
        self.close_connection(member, shard, conn);
    }

    pub(super) fn close_connection(&mut self, member: MemberId, shard: ShardId, conn: ConnId) {
        if member == self.cfg.my_id {
            self.router.forget_connection(shard, conn);
            self.step.to(shard, ToShard::CloseConnection { conn });
        } else {
            let m = LeaderReply::CloseConnection { shard, conn };
            self.step
                .peer_frames
                .push((member, FRAME_REPLY, encode_reply(&m)));
        }
    }

    /// Closes every client connection of this member. What they were
    /// waiting for goes with them: reads and syncs, the writes parked
    /// behind those, and requests queued for a leader (carried out later,
    /// they could land after what their clients sent since, elsewhere).
    pub(super) fn close_all_clients(&mut self) {
        self.barriers.clear();
        self.router.drop_waiting_of_member(self.cfg.my_id);
        self.router.clear_in_doubt();
        self.step.broadcast(ToShard::CloseAll);
    }

    pub(super) fn hold(&mut self, after: Zxid, shard: ShardId, msg: ToShard) {
        if let Err((shard, conn)) = self.router.hold(after, shard, msg) {
            tracing::warn!("too many replies held: closing the connection");
            self.close_connection(self.cfg.my_id, shard, conn);
            return;
        }
        self.release_held();
    }

    pub(super) fn release_held(&mut self) {
        for (shard, msg, answered) in self.router.release_held(self.committed.zxid()) {
            let conn = match &msg {
                ToShard::Complete { completion, .. } => Some(completion.origin.conn),
                _ => None,
            };
            self.step.to(shard, msg);
            if let (Some(conn), routing::Answered::EarlierLost) = (conn, answered) {
                self.earlier_writes_lost(shard, conn);
            }
        }
    }

    /// A connection's write was answered while writes it sent earlier were
    /// not, and never will be (their error replies were lost with a
    /// leader): their outcome is unknown, so the connection is closed (the
    /// client sees ConnectionLoss).
    pub(super) fn earlier_writes_lost(&mut self, shard: ShardId, conn: ConnId) {
        tracing::debug!(
            conn,
            "earlier writes of the connection were never answered: closing it"
        );
        self.close_connection(self.cfg.my_id, shard, conn);
    }
}
