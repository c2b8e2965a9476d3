//! The pure consensus/apply state machine of a standalone server.
//!
//! Owned by the consensus core's executor. Inputs are method calls (with the
//! time passed in); outputs are queued [`Output`]s the runtime drains and
//! sends. No I/O happens here, which is what lets the tests drive it directly.

use super::gather::{tree_and_sessions_report, Gathers};
use super::log::TxnLog;
use crate::auth::AuthIds;
use crate::messages::*;
use crate::ops::txn::Txn;
use crate::ops::write::{self, OpsConfig, WriteContext};
use crate::proto::{
    ConnectRequest, ConnectResponse, ErrorCode, MultiResult, Request, Response, SessionId, Zxid,
};
use crate::session::{ConnectionOwner, SessionTable};
use crate::tree::DataTree;
use std::collections::VecDeque;
use std::sync::Arc;

/// Settings the core needs, taken from [`crate::config::Config`].
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
}

/// What start-up recovered from the newest snapshot plus the log after it.
#[derive(Debug)]
pub struct Recovered {
    pub tree: DataTree,
    /// (session id, negotiated timeout) of every session alive at the end of the log.
    pub sessions: Vec<(SessionId, i32)>,
}

/// Something the runtime must send.
#[derive(Debug)]
pub enum Output {
    /// To every shard (commits).
    Broadcast(ToShard),
    /// To one shard.
    To(ShardId, ToShard),
    /// Serialize this published (durable) version; the runtime hands it to
    /// the snapshotter and calls [`Core::snapshot_finished`] when done.
    Snapshot {
        tree: Arc<DataTree>,
        sessions: Vec<(SessionId, i32)>,
        /// An ensemble member's raft point (format version 2); `None` standalone.
        raft: Option<crate::snapshot::RaftPoint>,
    },
}

/// An entry waiting for the durable watermark (or, for replies that changed
/// nothing, waiting only for the entries ahead of it).
#[derive(Debug)]
enum InFlight {
    Commit(Commit, Option<SessionChange>),
    Passthrough(ShardId, ToShard),
}

/// What a transaction does to the committed session set (the one snapshots
/// pair with the published tree).
#[derive(Clone, Copy, Debug)]
enum SessionChange {
    Created { id: SessionId, timeout_ms: i32 },
    Closed(SessionId),
}

/// The consensus core's state. Single owner: the consensus executor.
pub struct Core<L: TxnLog> {
    config: CoreConfig,
    /// Includes every proposed transaction (applied speculatively): prep of
    /// the next request validates against it.
    pending: DataTree,
    /// The newest version released to shards.
    published_zxid: Zxid,
    published_tree: Arc<DataTree>,
    txns_since_snapshot: u64,
    snapshot_threshold: u64,
    snapshot_in_flight: bool,
    /// zxid = (epoch << 32) | counter, as ZooKeeper packs it.
    epoch: i64,
    counter: i64,
    sessions: SessionTable,
    /// Sessions as of `published_tree` (id, timeout): what a snapshot of
    /// that tree must hold. `sessions` runs ahead of it by every proposal.
    committed_sessions: std::collections::BTreeMap<SessionId, i32>,
    log: L,
    in_flight: VecDeque<InFlight>,
    outputs: Vec<Output>,
    next_reap_ms: i64,
    /// Four-letter words waiting for every shard's report.
    gathers: Gathers,
}

impl<L: TxnLog> Core<L> {
    pub fn new(
        config: CoreConfig,
        log: L,
        mono_ms: i64,
        password_secret: [u8; 32],
        shard_count: usize,
    ) -> Self {
        let fresh = Recovered {
            tree: DataTree::new(),
            sessions: Vec::new(),
        };
        Core::from_recovered(config, log, fresh, mono_ms, password_secret, shard_count)
    }

    /// Resumes from recovered state. Every recovered session gets a fresh
    /// deadline, as a restarted ZooKeeper gives them: the outage expires no one.
    pub fn from_recovered(
        config: CoreConfig,
        log: L,
        recovered: Recovered,
        mono_ms: i64,
        password_secret: [u8; 32],
        shard_count: usize,
    ) -> Self {
        // Session ids mix in the wall clock so ids differ across restarts.
        let mut sessions = SessionTable::new(
            config.server_id,
            crate::clock::now_ms(),
            config.tick_ms,
            password_secret,
        );
        for (id, timeout_ms) in &recovered.sessions {
            sessions.create(*id, *timeout_ms, mono_ms);
        }
        let next_reap_ms = mono_ms + config.container_check_interval_ms;
        let last_zxid = recovered.tree.last_zxid;
        let snapshot_threshold = if config.snap_count == 0 {
            u64::MAX
        } else {
            config.snap_count / 2 + rand::random::<u64>() % (config.snap_count / 2 + 1)
        };
        let tree = recovered.tree;
        Core {
            config,
            published_tree: Arc::new(tree.clone()),
            pending: tree,
            published_zxid: last_zxid,
            txns_since_snapshot: 0,
            snapshot_threshold,
            snapshot_in_flight: false,
            epoch: last_zxid >> 32,
            counter: last_zxid & 0xffff_ffff,
            sessions,
            committed_sessions: recovered.sessions.iter().copied().collect(),
            log,
            in_flight: VecDeque::new(),
            outputs: Vec::new(),
            next_reap_ms,
            gathers: Gathers::new(shard_count),
        }
    }

    /// The version shards start from.
    pub fn initial_tree(&self) -> Arc<DataTree> {
        Arc::new(self.pending.clone())
    }

    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.outputs)
    }

    pub fn sessions(&self) -> &SessionTable {
        &self.sessions
    }

    pub fn log(&self) -> &L {
        &self.log
    }

    pub fn log_mut(&mut self) -> &mut L {
        &mut self.log
    }

    /// The snapshot asked for by the last `Output::Snapshot` is on disk (or failed).
    pub fn snapshot_finished(&mut self) {
        self.snapshot_in_flight = false;
    }

    pub fn published_zxid(&self) -> Zxid {
        self.published_zxid
    }

    /// The tree the next write is validated against (tests).
    #[cfg(test)]
    pub fn pending_tree(&self) -> &DataTree {
        &self.pending
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

    /// Proposes a transaction: logs it and applies it to the pending tree.
    fn propose(&mut self, txn: Txn, wall_ms: i64, completion_origin: Option<Origin>) -> Zxid {
        let zxid = self.next_zxid();
        let applied = write::apply(&mut self.pending, &txn, zxid, wall_ms);
        self.log.append(zxid, wall_ms, &txn);
        let (closed_session, session_change) = match &txn {
            Txn::CloseSession { session_id } => {
                self.sessions.remove(*session_id);
                (Some(*session_id), Some(SessionChange::Closed(*session_id)))
            }
            Txn::CreateSession {
                session_id,
                timeout_ms,
            } => (
                None,
                Some(SessionChange::Created {
                    id: *session_id,
                    timeout_ms: *timeout_ms,
                }),
            ),
            _ => (None, None),
        };
        let commit = Commit {
            zxid,
            tree: Arc::new(self.pending.clone()),
            events: applied.events,
            completion: completion_origin.map(|origin| Completion {
                origin,
                result: applied.result,
            }),
            connected: None,
            closed_session,
        };
        self.in_flight
            .push_back(InFlight::Commit(commit, session_change));
        zxid
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
    /// `mono_ms` drives session deadlines, `wall_ms` is the transaction time.
    pub fn write(
        &mut self,
        origin: Origin,
        session_id: SessionId,
        auth: &AuthIds,
        request: &Request,
        mono_ms: i64,
        wall_ms: i64,
    ) {
        if !self.sessions.is_live(session_id) {
            self.reply_in_order(origin, Err(ErrorCode::SessionExpired));
            return;
        }
        if let Some(reason) = self.log.failure() {
            // The log cannot make anything durable: refuse rather than
            // acknowledge something we might lose.
            tracing::warn!(reason, "refusing write: transaction log failed");
            self.reply_in_order(origin, Err(ErrorCode::SystemError));
            return;
        }
        let writer = ConnectionOwner {
            member: 0,
            shard: origin.shard,
            conn: origin.conn,
        };
        if let Err(moved) = self.sessions.check_owner(session_id, writer) {
            tracing::debug!(session = format!("{session_id:#x}"), %moved, "write from a stale connection");
            self.reply_in_order(origin, Err(ErrorCode::SessionMoved));
            return;
        }
        self.sessions.touch(session_id, mono_ms);
        if matches!(request, Request::CloseSession) {
            self.sessions.mark_closing(session_id);
            self.propose(Txn::CloseSession { session_id }, wall_ms, Some(origin));
            return;
        }
        let ctx = WriteContext {
            session_id,
            auth,
            config: &self.config.ops,
        };
        let txn = write::prep(&self.pending, request, &ctx);
        match txn {
            Txn::Error(code) => self.reply_in_order(origin, Err(code)),
            Txn::MultiError(codes) => {
                let results = codes.into_iter().map(MultiResult::Error).collect();
                self.reply_in_order(origin, Ok(Response::Multi(results)));
            }
            txn => {
                self.propose(txn, wall_ms, Some(origin));
            }
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
    pub fn connect(
        &mut self,
        shard: ShardId,
        conn: ConnId,
        request: &ConnectRequest,
        mono_ms: i64,
        wall_ms: i64,
    ) {
        // Refuse a client that has seen a newer state than ours: close
        // without a reply so it tries another server.
        if request.last_zxid_seen > self.pending.last_zxid {
            tracing::info!(
                client_zxid = format!("{:#x}", request.last_zxid_seen),
                our_zxid = format!("{:#x}", self.pending.last_zxid),
                "refusing connection: client has seen a newer zxid; client must try another server"
            );
            self.passthrough(
                shard,
                ToShard::ConnectResult {
                    conn,
                    response: None,
                    session_id: 0,
                },
            );
            return;
        }
        let timeout_ms = SessionTable::negotiate_timeout(
            request.timeout_ms,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let read_only = request.read_only.map(|_| false);
        let owner = ConnectionOwner {
            member: 0,
            shard,
            conn,
        };
        if request.session_id == 0 {
            if let Some(reason) = self.log.failure() {
                // A new session is a transaction the log cannot make
                // durable: close without a reply, the client tries another
                // server (existing sessions re-attach without the log).
                tracing::warn!(reason, "refusing a new session: transaction log failed");
                self.passthrough(
                    shard,
                    ToShard::ConnectResult {
                        conn,
                        response: None,
                        session_id: 0,
                    },
                );
                return;
            }
            let session_id = self.sessions.allocate_id();
            self.sessions.create(session_id, timeout_ms, mono_ms);
            self.sessions.set_owner(session_id, Some(owner));
            let response = ConnectResponse {
                protocol_version: 0,
                timeout_ms,
                session_id,
                passwd: self.sessions.password_for(session_id),
                read_only,
            };
            self.propose(
                Txn::CreateSession {
                    session_id,
                    timeout_ms,
                },
                wall_ms,
                None,
            );
            if let Some(InFlight::Commit(commit, _)) = self.in_flight.back_mut() {
                commit.connected = Some((shard, conn, response));
            }
            return;
        }
        // Re-attach: first kick any other connection bound to the session.
        let session_id = request.session_id;
        if let Some(old) = self.sessions.get(session_id).and_then(|s| s.owner) {
            if old != owner {
                self.outputs.push(Output::To(
                    old.shard,
                    ToShard::CloseConnection { conn: old.conn },
                ));
                self.sessions.set_owner(session_id, None);
            }
        }
        let response = match self.sessions.reattach(
            session_id,
            &request.passwd,
            timeout_ms,
            mono_ms,
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
        self.passthrough(
            shard,
            ToShard::ConnectResult {
                conn,
                response: Some(response),
                session_id,
            },
        );
    }

    pub fn touch(&mut self, sessions: &[SessionId], mono_ms: i64) {
        for &id in sessions {
            self.sessions.touch(id, mono_ms);
        }
    }

    pub fn disconnected(&mut self, shard: ShardId, conn: ConnId, session_id: SessionId) {
        let owner = ConnectionOwner {
            member: 0,
            shard,
            conn,
        };
        if self.sessions.get(session_id).and_then(|s| s.owner) == Some(owner) {
            self.sessions.set_owner(session_id, None);
        }
    }

    /// Periodic work: session expiry and the container/TTL reaper. Neither
    /// runs on a failed log: an expiry that cannot be made durable would
    /// only be forgotten again (a restart brings the session back).
    pub fn tick(&mut self, mono_ms: i64, wall_ms: i64) {
        if self.log.failure().is_some() {
            return;
        }
        for session_id in self.sessions.take_expired(mono_ms) {
            tracing::info!(session = format!("{session_id:#x}"), "session expired");
            self.sessions.mark_closing(session_id);
            self.propose(Txn::CloseSession { session_id }, wall_ms, None);
        }
        if mono_ms >= self.next_reap_ms {
            self.next_reap_ms = mono_ms + self.config.container_check_interval_ms;
            let candidates = write::reaper_candidates(
                &self.pending,
                wall_ms,
                self.config.container_max_never_used_interval_ms,
            );
            // maxPerMinute bounds deletions per check interval, scaled.
            let budget = ((self.config.container_max_per_minute as i64
                * self.config.container_check_interval_ms)
                / 60_000)
                .max(1) as usize;
            for path in candidates.into_iter().take(budget) {
                let request = Request::DeleteContainer {
                    path: path.to_string(),
                };
                let ctx = WriteContext {
                    session_id: 0,
                    auth: &AuthIds::default(),
                    config: &self.config.ops,
                };
                let txn = write::prep(&self.pending, &request, &ctx);
                if !matches!(txn, Txn::Error(_)) {
                    self.propose(txn, wall_ms, None);
                }
            }
        }
    }

    /// Moves everything the log has made durable to the outputs, in order.
    /// On a failed log, what it never made durable is abandoned (see
    /// [`Core::abandon_undurable`]) so the replies behind it still go out.
    pub fn release(&mut self) {
        let durable = self.log.durable_zxid();
        while let Some(front) = self.in_flight.front() {
            match front {
                InFlight::Commit(c, _) if c.zxid > durable => {
                    if self.log.failure().is_none() {
                        break;
                    }
                    self.abandon_undurable();
                    continue;
                }
                _ => {}
            }
            match self.in_flight.pop_front().expect("front exists") {
                InFlight::Commit(commit, session_change) => {
                    assert!(
                        commit.zxid > self.published_zxid,
                        "commits must be released in zxid order"
                    );
                    self.published_zxid = commit.zxid;
                    self.published_tree = commit.tree.clone();
                    match session_change {
                        Some(SessionChange::Created { id, timeout_ms }) => {
                            let previous = self.committed_sessions.insert(id, timeout_ms);
                            assert!(previous.is_none(), "session {id:#x} committed twice");
                        }
                        Some(SessionChange::Closed(id)) => {
                            self.committed_sessions.remove(&id);
                        }
                        None => {}
                    }
                    self.txns_since_snapshot += 1;
                    self.outputs
                        .push(Output::Broadcast(ToShard::Commit(Arc::new(commit))));
                }
                InFlight::Passthrough(shard, mut msg) => {
                    if let ToShard::Complete { zxid, .. } = &mut msg {
                        *zxid = self.published_zxid;
                    }
                    self.outputs.push(Output::To(shard, msg));
                }
            }
        }
        if self.txns_since_snapshot >= self.snapshot_threshold && !self.snapshot_in_flight {
            self.txns_since_snapshot = 0;
            self.snapshot_in_flight = true;
            let sessions = self
                .committed_sessions
                .iter()
                .map(|(&id, &timeout_ms)| (id, timeout_ms))
                .collect();
            self.outputs.push(Output::Snapshot {
                tree: self.published_tree.clone(),
                sessions,
                raft: None,
            });
        }
    }

    /// The log failed with the head of `in_flight` not durable: every
    /// transaction not yet durable never will be in this process. Whether
    /// its record reached the disk is unknown (a restart may find it), so
    /// its client is not told it failed: its connection is closed
    /// (ConnectionLoss, as for a server that died). The pending tree goes
    /// back to the published one, so nothing validates against changes
    /// that were never acknowledged; replies queued behind go out in order.
    fn abandon_undurable(&mut self) {
        let durable = self.log.durable_zxid();
        let mut abandoned = 0usize;
        for entry in std::mem::take(&mut self.in_flight) {
            match entry {
                InFlight::Commit(commit, session_change) => {
                    assert!(commit.zxid > durable, "a durable commit was not released");
                    abandoned += 1;
                    if let Some(c) = &commit.completion {
                        self.outputs.push(Output::To(
                            c.origin.shard,
                            ToShard::CloseConnection {
                                conn: c.origin.conn,
                            },
                        ));
                    }
                    if let Some((shard, conn, _)) = commit.connected {
                        self.outputs.push(Output::To(
                            shard,
                            ToShard::ConnectResult {
                                conn,
                                response: None,
                                session_id: 0,
                            },
                        ));
                    }
                    if let Some(SessionChange::Created { id, .. }) = session_change {
                        self.sessions.remove(id);
                    }
                }
                InFlight::Passthrough(shard, msg) => {
                    self.in_flight.push_back(InFlight::Passthrough(shard, msg))
                }
            }
        }
        self.pending = (*self.published_tree).clone();
        tracing::error!(
            abandoned,
            durable_zxid = format!("{durable:#x}"),
            "transaction log failed: closed the connections of writes it never made durable"
        );
    }

    /// A four-letter word asked for a view of every shard.
    pub fn gather(&mut self, shard: ShardId, conn: ConnId, word: &'static str) {
        let ask = self.gathers.start(shard, conn, word);
        self.outputs.push(ask);
    }

    pub fn gather_reply(&mut self, token: u64, report: ShardReport) {
        let Some(done) = self.gathers.reply(token, report) else {
            return;
        };
        let core = CoreReport {
            log_failure: self.log.failure().map(str::to_owned),
            log_metrics: self.log.metrics(),
            ..tree_and_sessions_report(&self.pending, &self.sessions, self.published_zxid)
        };
        self.outputs.push(done.into_output(core));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::log::{ManualLog, MemoryLog};
    use crate::proto::{Acl, CreateRequest, OpCode};

    fn config() -> CoreConfig {
        CoreConfig {
            server_id: 1,
            tick_ms: 100,
            min_session_timeout_ms: 200,
            max_session_timeout_ms: 2000,
            ops: OpsConfig {
                extended_types_enabled: true,
                skip_acl: false,
                reconfig_enabled: false,
            },
            container_check_interval_ms: 1000,
            container_max_per_minute: 10000,
            container_max_never_used_interval_ms: 0,
            snap_count: 0,
        }
    }

    fn core() -> Core<MemoryLog> {
        Core::new(config(), MemoryLog::default(), 0, [1; 32], 1)
    }

    fn connect(core: &mut Core<MemoryLog>, conn: ConnId, mono: i64) -> SessionId {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 500,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        core.connect(0, conn, &req, mono, 1000);
        core.release();
        let out = core.take_outputs();
        match &out[..] {
            [Output::Broadcast(ToShard::Commit(c))] => {
                let (_, c_conn, resp) = c
                    .connected
                    .as_ref()
                    .expect("connect reply rides on the commit");
                assert_eq!(*c_conn, conn);
                assert_eq!(resp.timeout_ms, 500);
                assert_eq!(resp.read_only, Some(false));
                assert_eq!(c.zxid, core.published_zxid());
                resp.session_id
            }
            other => panic!("unexpected outputs {other:?}"),
        }
    }

    fn origin(xid: i32, opcode: OpCode) -> Origin {
        Origin {
            shard: 0,
            conn: 1,
            xid,
            opcode,
        }
    }

    fn create(path: &str, flags: i32) -> Request {
        Request::Create {
            opcode: OpCode::Create,
            req: CreateRequest {
                path: path.into(),
                data: Some(vec![]),
                acl: Some(Acl::open_unsafe()),
                flags,
                ttl: -1,
            },
        }
    }

    #[test]
    fn a_read_barrier_passes_behind_every_commit_proposed_before_it() {
        let mut c = core();
        let sid = connect(&mut c, 1, 0);
        let auth = AuthIds::default();
        c.write(
            origin(1, OpCode::Create),
            sid,
            &auth,
            &create("/a", 0),
            0,
            1000,
        );
        let read = Origin {
            conn: 2,
            ..origin(7, OpCode::GetData)
        };
        c.read_barrier(read);
        c.release();
        match &c.take_outputs()[..] {
            [Output::Broadcast(ToShard::Commit(commit)), Output::To(0, ToShard::ReadBarrier { conn: 2, xid: 7 })] =>
            {
                assert!(commit.tree.get("/a").is_some());
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn new_sessions_consume_a_zxid() {
        let mut c = core();
        connect(&mut c, 1, 0);
        assert_eq!(c.published_zxid(), 1);
        connect(&mut c, 2, 0);
        assert_eq!(c.published_zxid(), 2);
    }

    #[test]
    fn failed_write_reply_waits_behind_earlier_commits_and_burns_no_zxid() {
        let mut c = core();
        let sid = connect(&mut c, 1, 0);
        let auth = AuthIds::default();
        c.write(
            origin(1, OpCode::Create),
            sid,
            &auth,
            &create("/a", 0),
            0,
            1000,
        );
        c.write(
            origin(2, OpCode::Create),
            sid,
            &auth,
            &create("/a", 0),
            0,
            1000,
        );
        c.release();
        let out = c.take_outputs();
        assert_eq!(out.len(), 2);
        match (&out[0], &out[1]) {
            (
                Output::Broadcast(ToShard::Commit(commit)),
                Output::To(0, ToShard::Complete { zxid, completion }),
            ) => {
                assert_eq!(commit.completion.as_ref().unwrap().origin.xid, 1);
                assert_eq!(completion.origin.xid, 2);
                assert_eq!(completion.result, Err(ErrorCode::NodeExists));
                assert_eq!(
                    *zxid, commit.zxid,
                    "error replies carry the last committed zxid"
                );
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(c.published_zxid(), 2);
    }

    #[test]
    fn requests_of_an_unknown_session_get_session_expired() {
        let mut c = core();
        c.write(
            origin(1, OpCode::Create),
            12345,
            &AuthIds::default(),
            &create("/a", 0),
            0,
            0,
        );
        c.release();
        match &c.take_outputs()[..] {
            [Output::To(0, ToShard::Complete { completion, .. })] => {
                assert_eq!(completion.result, Err(ErrorCode::SessionExpired))
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn expiry_deletes_ephemerals_in_one_transaction() {
        let mut c = core();
        let sid = connect(&mut c, 1, 0);
        let auth = AuthIds::default();
        c.write(
            origin(1, OpCode::Create),
            sid,
            &auth,
            &create("/e1", 1),
            0,
            1000,
        );
        c.write(
            origin(2, OpCode::Create),
            sid,
            &auth,
            &create("/e2", 1),
            0,
            1000,
        );
        c.release();
        c.take_outputs();
        // Not yet: the deadline is at least the timeout away.
        c.tick(400, 2000);
        c.release();
        assert!(c.take_outputs().is_empty());
        c.tick(1000, 3000);
        c.release();
        let out = c.take_outputs();
        match &out[..] {
            [Output::Broadcast(ToShard::Commit(commit))] => {
                assert_eq!(commit.closed_session, Some(sid));
                assert!(commit.completion.is_none());
                let deleted: Vec<_> = commit
                    .events
                    .iter()
                    .filter(|e| e.event_type == crate::proto::EventType::NodeDeleted)
                    .map(|e| e.path.to_string())
                    .collect();
                assert_eq!(deleted.len(), 2);
                assert!(commit.tree.nodes.get("/e1").is_none());
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(c.sessions().get(sid).is_none());
    }

    #[test]
    fn client_ahead_of_server_is_refused_without_reply() {
        let mut c = core();
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 99,
            timeout_ms: 500,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: None,
        };
        c.connect(0, 7, &req, 0, 0);
        c.release();
        match &c.take_outputs()[..] {
            [Output::To(
                0,
                ToShard::ConnectResult {
                    conn: 7,
                    response: None,
                    ..
                },
            )] => {}
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn reattach_kicks_the_old_connection_and_checks_the_password() {
        let mut c = core();
        let sid = connect(&mut c, 1, 0);
        let pw = c.sessions().password_for(sid);
        let mut req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 1,
            timeout_ms: 800,
            session_id: sid,
            passwd: pw.to_vec(),
            read_only: None,
        };
        c.connect(0, 2, &req, 10, 10);
        c.release();
        let out = c.take_outputs();
        assert!(matches!(
            out[0],
            Output::To(0, ToShard::CloseConnection { conn: 1 })
        ));
        match &out[1] {
            Output::To(
                0,
                ToShard::ConnectResult {
                    conn: 2,
                    response: Some(r),
                    ..
                },
            ) => {
                assert_eq!((r.session_id, r.timeout_ms, r.passwd), (sid, 800, pw));
                assert_eq!(r.read_only, None, "legacy clients get no readOnly byte");
            }
            other => panic!("unexpected {other:?}"),
        }
        req.passwd = vec![9; 16];
        c.connect(0, 3, &req, 20, 20);
        c.release();
        let out = c.take_outputs();
        match out.last().unwrap() {
            Output::To(
                0,
                ToShard::ConnectResult {
                    conn: 3,
                    response: Some(r),
                    ..
                },
            ) => {
                assert_eq!((r.timeout_ms, r.session_id, r.passwd), (0, 0, [0; 16]));
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    fn manual_core(snap_count: u64) -> Core<ManualLog> {
        let config = CoreConfig {
            snap_count,
            ..config()
        };
        Core::new(config, ManualLog::default(), 0, [1; 32], 1)
    }

    /// A new session on `conn`, made durable; returns its id.
    fn durable_session(core: &mut Core<ManualLog>, conn: ConnId) -> SessionId {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 500,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        core.connect(0, conn, &req, 0, 1000);
        core.log_mut().make_all_durable();
        core.release();
        core.take_outputs()
            .iter()
            .find_map(|o| match o {
                Output::Broadcast(ToShard::Commit(c)) => {
                    c.connected.as_ref().map(|x| x.2.session_id)
                }
                _ => None,
            })
            .expect("the new session's commit")
    }

    /// Issue 18, defect 4: a log batch that fails must not block every later
    /// reply. The failed write's outcome is unknown (its record may or may
    /// not be on the disk), so its connection is closed; later writes get
    /// an error; syncs, re-attaches and new connections are still answered.
    #[test]
    fn a_failed_log_batch_does_not_block_the_replies_behind_it() {
        let mut c = manual_core(0);
        let a = durable_session(&mut c, 1);
        let b = durable_session(&mut c, 2);
        let auth = AuthIds::default();
        let on = |conn, xid, opcode| Origin {
            shard: 0,
            conn,
            xid,
            opcode,
        };
        c.write(
            on(1, 1, OpCode::Create),
            a,
            &auth,
            &create("/a", 0),
            0,
            1000,
        );
        c.release();
        assert!(c.take_outputs().is_empty(), "nothing is durable yet");
        c.log_mut().fail("EIO on fdatasync");
        c.release();
        c.write(
            on(2, 1, OpCode::Create),
            b,
            &auth,
            &create("/b", 0),
            0,
            1000,
        );
        c.read_barrier(on(2, 2, OpCode::Sync));
        let pw = c.sessions().password_for(b);
        let reattach = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 500,
            session_id: b,
            passwd: pw.to_vec(),
            read_only: None,
        };
        c.connect(0, 3, &reattach, 10, 1010);
        let fresh = ConnectRequest {
            session_id: 0,
            passwd: vec![0; 16],
            ..reattach.clone()
        };
        c.connect(0, 4, &fresh, 10, 1010);
        c.release();
        let out = c.take_outputs();
        let closed: Vec<ConnId> = out
            .iter()
            .filter_map(|o| match o {
                Output::To(_, ToShard::CloseConnection { conn }) => Some(*conn),
                _ => None,
            })
            .collect();
        assert!(
            closed.contains(&1),
            "the failed write's connection is closed: {out:?}"
        );
        assert!(
            !out.iter()
                .any(|o| matches!(o, Output::Broadcast(ToShard::Commit(_)))),
            "nothing undurable is published: {out:?}"
        );
        let b_reply = out.iter().find_map(|o| match o {
            Output::To(_, ToShard::Complete { completion, .. })
                if completion.origin.conn == 2 && completion.origin.xid == 1 =>
            {
                Some(completion.result.clone())
            }
            _ => None,
        });
        assert_eq!(b_reply, Some(Err(ErrorCode::SystemError)), "{out:?}");
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::To(_, ToShard::ReadBarrier { conn: 2, xid: 2 }))),
            "the sync behind it passes: {out:?}"
        );
        let reattached = out.iter().find_map(|o| match o {
            Output::To(
                _,
                ToShard::ConnectResult {
                    conn: 3, response, ..
                },
            ) => Some(response.clone()),
            _ => None,
        });
        assert!(
            matches!(reattached, Some(Some(r)) if r.session_id == b && r.timeout_ms > 0),
            "a re-attach is answered: {out:?}"
        );
        assert!(
            out.iter()
                .any(|o| matches!(o, Output::To(_, ToShard::ConnectResult { conn: 4, .. }))),
            "a new connection is answered (refused: no durable log): {out:?}"
        );
        // The unacknowledged create is not part of the state writes see.
        assert!(c.pending_tree().get("/a").is_none());
    }

    /// Issue 18, defect 5: a snapshot taken while a CloseSession is in
    /// flight must pair the tree with the sessions of that same tree. If the
    /// server then stops before the close is durable, recovery must find the
    /// session that owns the tree's ephemerals.
    #[test]
    fn a_snapshot_during_an_undurable_close_keeps_the_ephemerals_owner() {
        // snapCount 1: a snapshot at every release with no snapshot in flight.
        let mut c = manual_core(1);
        let sid = durable_session(&mut c, 1);
        let auth = AuthIds::default();
        c.write(
            origin(1, OpCode::Create),
            sid,
            &auth,
            &create("/e", 1),
            0,
            1000,
        );
        c.log_mut().make_all_durable();
        c.release();
        c.take_outputs();
        c.snapshot_finished();
        c.write(
            origin(2, OpCode::CloseSession),
            sid,
            &auth,
            &Request::CloseSession,
            0,
            1000,
        );
        c.release();
        let (tree, sessions) = c
            .take_outputs()
            .into_iter()
            .find_map(|o| match o {
                Output::Snapshot { tree, sessions, .. } => Some((tree, sessions)),
                _ => None,
            })
            .expect("a snapshot is asked for");
        // The close never became durable: a restart replays nothing after it.
        assert!(c
            .log()
            .durable_records()
            .iter()
            .all(|r| r.0 <= tree.last_zxid));
        let owners: Vec<SessionId> = sessions.iter().map(|s| s.0).collect();
        for (path, node) in tree.nodes.iter() {
            if let crate::tree::NodeKind::Ephemeral { owner } = node.kind {
                assert!(
                    owners.contains(&owner),
                    "ephemeral {path} of session {owner:#x} is in the snapshot, its session is not"
                );
            }
        }
    }
}
