//! The consensus core of a standalone server: the [`Proposer`] over a local
//! durable log. A proposal is appended to the log and queued in flight
//! with its tree version; [`Standalone::drive`] releases, in zxid order,
//! what the log reports durable. Replies that changed nothing (errors,
//! syncs, re-attaches) wait in the same queue behind the entries ahead of
//! them, so they never overtake a commit.
//!
//! Owned by the consensus executor. Pure: inputs come with the time
//! ([`Now`]); outputs are one [`Step`] per round.

use super::cadence::SnapshotCadence;
use super::committed::{session_change, Committed, SessionChange};
use super::gather::{tree_and_sessions_report, Gathers};
use super::proposer::{ConnectDecision, CoreConfig, Decision, Proposal, Proposer};
use super::rng::Rng;
use super::step::{Input, Now, SnapshotOutcome, SnapshotRequest, Step};
use super::wire::RemoteOrigin;
use crate::auth::AuthIds;
use crate::messages::*;
use crate::proto::{ConnectRequest, ErrorCode, Request, Response, SessionId, Zxid};
use crate::tree::DataTree;
use crate::wal::TxnLog;
use std::collections::VecDeque;
use std::sync::Arc;

/// A standalone server is member 0 of its own one-member world.
const STANDALONE_MEMBER: MemberId = 0;

/// An entry waiting for the durable watermark (or, for replies that changed
/// nothing, waiting only for the entries ahead of it).
#[derive(Debug)]
enum InFlight {
    Commit(Commit, Option<SessionChange>),
    Passthrough(ShardId, ToShard),
}

/// See the module doc. Single owner: the consensus executor.
pub struct Standalone<L: TxnLog> {
    proposer: Proposer,
    /// The newest version released to shards, with its sessions.
    committed: Committed,
    log: L,
    in_flight: VecDeque<InFlight>,
    cadence: SnapshotCadence,
    gathers: Gathers,
    ticks: crate::probe::TickProbe,
    step: Step,
}

impl<L: TxnLog> Standalone<L> {
    /// Resumes from `recovered` (the newest snapshot plus the log after
    /// it; empty on a first start). Every recovered session gets a fresh
    /// deadline, as a restarted ZooKeeper gives them: the outage expires
    /// no one.
    pub fn new(
        config: CoreConfig,
        log: L,
        recovered: Committed,
        now: Now,
        seed: u64,
        shard_count: usize,
    ) -> Self {
        let mut rng = Rng::new(seed);
        let cadence = SnapshotCadence::new(config.snap_count, &mut rng);
        let tree: DataTree = (**recovered.tree()).clone();
        let epoch = recovered.zxid() >> 32;
        let proposer = Proposer::new(
            config,
            tree,
            &recovered.session_entries(),
            epoch,
            recovered.zxid(),
            now,
        );
        Standalone {
            proposer,
            committed: recovered,
            log,
            in_flight: VecDeque::new(),
            cadence,
            gathers: Gathers::new(shard_count),
            ticks: crate::probe::TickProbe::default(),
            step: Step::default(),
        }
    }

    /// The version shards start from.
    pub fn published(&self) -> Arc<DataTree> {
        self.committed.tree().clone()
    }

    pub fn published_zxid(&self) -> Zxid {
        self.committed.zxid()
    }

    pub fn proposer(&self) -> &Proposer {
        &self.proposer
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// One input.
    pub fn input(&mut self, input: Input, now: Now) {
        match input {
            Input::Shard(msg) => self.shard_message(msg, now),
            Input::Log(event) => self.log.on_event(event),
            Input::SnapshotWritten(outcome) => self.snapshot_written(outcome),
            Input::Tick {
                lag_us,
                longest_step_us,
            } => {
                self.ticks.record(lag_us, longest_step_us);
                self.tick(now)
            }
            Input::PeerFrame { .. }
            | Input::PeerDisconnected(_)
            | Input::PeerConnected(_)
            | Input::Heard(_)
            | Input::ForwardsLost
            | Input::ReceivedSnapshotFailed(_) => {
                unreachable!("a standalone server has no peers: {input:?}")
            }
        }
    }

    /// Releases what is durable and returns everything this round produced.
    pub fn drive(&mut self) -> Step {
        self.release();
        self.step.log_records = self.log.take_batch();
        std::mem::take(&mut self.step)
    }

    fn shard_message(&mut self, msg: ToConsensus, now: Now) {
        match msg {
            ToConsensus::Write {
                origin,
                session_id,
                auth,
                request,
            } => self.write(origin, session_id, &auth, &request, now),
            ToConsensus::ReadBarrier { origin } => self.read_barrier(origin),
            ToConsensus::Connect {
                shard,
                conn,
                request,
            } => self.connect(shard, conn, &request, now),
            ToConsensus::Touch { sessions } => self.proposer.touch(&sessions, now),
            // A session keeps its owner after the connection closes: only a
            // re-attach (on a new connection) moves it, so a late request
            // of the old connection can never be taken for the new one's.
            ToConsensus::Disconnected { .. } => {}
            ToConsensus::Gather { shard, conn, word } => {
                let ask = self.gathers.start(shard, conn, word);
                self.step.to_shards.push(ask);
            }
            ToConsensus::GatherReply { token, report } => self.gather_reply(token, *report),
        }
    }

    /// Logs a proposal and queues it in flight with its tree version.
    fn enqueue(&mut self, p: Proposal) {
        let Standalone {
            proposer,
            log,
            in_flight,
            ..
        } = self;
        enqueue_at(log, in_flight, p, proposer.pending());
    }

    fn passthrough(&mut self, shard: ShardId, msg: ToShard) {
        self.in_flight.push_back(InFlight::Passthrough(shard, msg));
    }

    fn reply_in_order(&mut self, origin: Origin, result: Result<Response, ErrorCode>) {
        let completion = Completion { origin, result };
        // zxid is filled in at release time: the last published zxid then.
        self.passthrough(
            origin.shard,
            ToShard::Complete {
                zxid: 0,
                completion,
            },
        );
    }

    /// A state-changing request from a client.
    pub fn write(
        &mut self,
        origin: Origin,
        session_id: SessionId,
        auth: &AuthIds,
        request: &Request,
        now: Now,
    ) {
        if let Some(reason) = self.log.failure() {
            // The log cannot make anything durable: refuse rather than
            // acknowledge something we might lose.
            tracing::warn!(reason, "refusing write: transaction log failed");
            self.reply_in_order(origin, Err(ErrorCode::SystemError));
            return;
        }
        let from = RemoteOrigin {
            member: STANDALONE_MEMBER,
            origin,
        };
        match self.proposer.write(from, session_id, auth, request, now) {
            Decision::Reply(result) => self.reply_in_order(origin, result),
            Decision::Propose(p) => self.enqueue(p),
        }
    }

    /// A `sync`, or a read that must see every write acknowledged before it
    /// arrived on any shard (`roost.readConsistency=linearizable` with
    /// several shards): answered in order behind everything in flight, so
    /// the shard has processed every commit released before it when it
    /// answers the request.
    pub fn read_barrier(&mut self, origin: Origin) {
        self.passthrough(
            origin.shard,
            ToShard::ReadBarrier {
                conn: origin.conn,
                xid: origin.xid,
            },
        );
    }

    /// A ConnectRequest (digest §4.3).
    pub fn connect(&mut self, shard: ShardId, conn: ConnId, request: &ConnectRequest, now: Now) {
        let refuse = |why: &str, this: &mut Self| {
            tracing::info!(
                client_zxid = format!("{:#x}", request.last_zxid_seen),
                our_zxid = format!("{:#x}", this.proposer.pending().last_zxid),
                "refusing connection: {why}"
            );
            this.passthrough(
                shard,
                ToShard::ConnectResult {
                    conn,
                    response: None,
                    session_id: 0,
                },
            );
        };
        // A client that has seen a newer state than ours is closed without
        // a reply, so that it tries another server.
        if request.last_zxid_seen > self.proposer.pending().last_zxid {
            refuse("the client has seen a newer zxid", self);
            return;
        }
        // A new session is a transaction the log cannot make durable once
        // it failed (existing sessions re-attach without the log).
        if request.session_id == 0 && self.log.failure().is_some() {
            refuse("the transaction log failed; no new sessions", self);
            return;
        }
        match self
            .proposer
            .connect(STANDALONE_MEMBER, shard, conn, request, now)
        {
            ConnectDecision::Created(p) => self.enqueue(*p),
            ConnectDecision::Reattached { kick, response } => {
                if let Some(old) = kick {
                    self.step
                        .to(old.shard, ToShard::CloseConnection { conn: old.conn });
                }
                let session_id = request.session_id;
                self.passthrough(
                    shard,
                    ToShard::ConnectResult {
                        conn,
                        response: Some(response),
                        session_id,
                    },
                );
            }
        }
    }

    /// Periodic work: session expiry and the container/TTL reaper. Neither
    /// runs on a failed log: an expiry that cannot be made durable would
    /// only be forgotten again (a restart brings the session back).
    pub fn tick(&mut self, now: Now) {
        if self.log.failure().is_some() {
            return;
        }
        let Standalone {
            proposer,
            log,
            in_flight,
            ..
        } = self;
        proposer.tick(now, |p, version| enqueue_at(log, in_flight, p, version));
    }

    fn snapshot_written(&mut self, outcome: SnapshotOutcome) {
        self.cadence.finished();
        if let Some(oldest) = outcome.oldest_retained_zxid {
            // Replay after the oldest kept snapshot needs every record above it.
            self.step.release_log_below = Some(oldest + 1);
        }
    }

    /// Moves everything the log has made durable to the step, in order.
    /// On a failed log, what it never made durable is abandoned (see
    /// [`Standalone::abandon_undurable`]) so the replies behind it still go out.
    fn release(&mut self) {
        let durable = self.log.durable_zxid();
        while let Some(front) = self.in_flight.front() {
            if let InFlight::Commit(c, _) = front {
                if c.zxid > durable {
                    if self.log.failure().is_none() {
                        break;
                    }
                    self.abandon_undurable();
                    continue;
                }
            }
            match self.in_flight.pop_front().expect("front exists") {
                InFlight::Commit(commit, change) => {
                    self.committed
                        .advance(commit.zxid, commit.tree.clone(), change);
                    self.proposer.committed(change);
                    self.cadence.committed(1);
                    self.step.broadcast(ToShard::Commit(Arc::new(commit)));
                }
                InFlight::Passthrough(shard, mut msg) => {
                    if let ToShard::Complete { zxid, .. } = &mut msg {
                        *zxid = self.committed.zxid();
                    }
                    self.step.to(shard, msg);
                }
            }
        }
        if self.cadence.due() {
            self.cadence.started();
            self.step.snapshot = Some(SnapshotRequest {
                tree: self.committed.tree().clone(),
                sessions: self.committed.session_list(),
                raft: None,
            });
        }
    }

    /// The log failed with the head of the queue not durable: every
    /// transaction not yet durable never will be in this process. Whether
    /// its record reached the disk is unknown (a restart may find it), so
    /// its client is not told it failed: its connection is closed
    /// (ConnectionLoss, as for a server that died). The pending tree goes
    /// back to the committed one, so nothing validates against changes
    /// that were never acknowledged; replies queued behind go out in order.
    fn abandon_undurable(&mut self) {
        let durable = self.log.durable_zxid();
        let mut abandoned = Vec::new();
        let mut count = 0usize;
        for entry in std::mem::take(&mut self.in_flight) {
            match entry {
                InFlight::Commit(commit, change) => {
                    assert!(commit.zxid > durable, "a durable commit was not released");
                    count += 1;
                    abandoned.extend(change);
                    if let Some(c) = &commit.completion {
                        self.step.to(
                            c.origin.shard,
                            ToShard::CloseConnection {
                                conn: c.origin.conn,
                            },
                        );
                    }
                    if let Some((shard, conn, _)) = commit.connected {
                        self.step.to(
                            shard,
                            ToShard::ConnectResult {
                                conn,
                                response: None,
                                session_id: 0,
                            },
                        );
                    }
                }
                passthrough => self.in_flight.push_back(passthrough),
            }
        }
        self.proposer
            .roll_back((**self.committed.tree()).clone(), &abandoned);
        tracing::error!(
            abandoned = count,
            durable_zxid = format!("{durable:#x}"),
            "transaction log failed: closed the connections of writes it never made durable"
        );
    }

    fn gather_reply(&mut self, token: u64, report: ShardReport) {
        let Some(done) = self.gathers.reply(token, report) else {
            return;
        };
        let core = CoreReport {
            log_failure: self.log.failure().map(str::to_owned),
            log_metrics: self.log.metrics(),
            log_stats: self.log.stats(),
            ticks: self.ticks,
            ..tree_and_sessions_report(
                self.proposer.pending(),
                self.proposer
                    .sessions()
                    .iter()
                    .map(|s| (s.id, s.timeout_ms, s.expires_at_ms)),
                self.committed.zxid(),
            )
        };
        self.step.to_shards.push(done.into_output(core));
    }
}

/// Logs `p` and queues it in flight with `version`, the pending tree as of
/// `p` (later proposals' changes not in it).
fn enqueue_at<L: TxnLog>(
    log: &mut L,
    in_flight: &mut VecDeque<InFlight>,
    p: Proposal,
    version: &DataTree,
) {
    assert_eq!(
        version.last_zxid, p.payload.zxid,
        "the version is the tree at its zxid"
    );
    let payload = p.payload;
    log.append(payload.zxid, payload.time_ms, &payload.txn);
    let change = session_change(&payload.txn);
    let closed_session = match change {
        Some(SessionChange::Closed(id)) => Some(id),
        _ => None,
    };
    let commit = Commit {
        zxid: payload.zxid,
        tree: Arc::new(version.clone()),
        events: p.applied.events,
        completion: payload.origin.map(|o| Completion {
            origin: o.origin,
            result: p.applied.result,
        }),
        connected: payload.connect.map(|c| (c.shard, c.conn, c.response)),
        closed_session,
    };
    in_flight.push_back(InFlight::Commit(commit, change));
}

#[cfg(test)]
#[path = "standalone_tests.rs"]
mod tests;
