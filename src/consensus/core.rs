//! The pure consensus/apply state machine of a standalone server.
//!
//! Owned by the consensus core's executor. Inputs are method calls (with the
//! time passed in); outputs are queued [`Output`]s the runtime drains and
//! sends. No I/O happens here, which is what lets the tests drive it directly.

use super::log::TxnLog;
use super::messages::*;
use crate::auth::AuthIds;
use crate::ops::txn::Txn;
use crate::ops::write::{self, OpsConfig, WriteContext};
use crate::proto::{ConnectRequest, ConnectResponse, ErrorCode, MultiResult, Request, Response, SessionId, Zxid};
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
}

/// Something the runtime must send.
#[derive(Debug)]
pub enum Output {
    /// To every shard (commits).
    Broadcast(ToShard),
    /// To one shard.
    To(ShardId, ToShard),
}

/// An entry waiting for the durable watermark (or, for replies that changed
/// nothing, waiting only for the entries ahead of it).
#[derive(Debug)]
enum InFlight {
    Commit(Commit),
    Passthrough(ShardId, ToShard),
}

/// The consensus core's state. Single owner: the consensus executor.
pub struct Core<L: TxnLog> {
    config: CoreConfig,
    /// Includes every proposed transaction (applied speculatively): prep of
    /// the next request validates against it.
    pending: DataTree,
    /// The newest version released to shards.
    published_zxid: Zxid,
    /// zxid = (epoch << 32) | counter, as ZooKeeper packs it.
    epoch: i64,
    counter: i64,
    sessions: SessionTable,
    log: L,
    in_flight: VecDeque<InFlight>,
    outputs: Vec<Output>,
    next_reap_ms: i64,
    /// Four-letter words waiting for every shard's report.
    pending_gathers: Vec<PendingGather>,
    next_gather_token: u64,
    shard_count: usize,
}

struct PendingGather {
    token: u64,
    shard: ShardId,
    conn: ConnId,
    word: &'static str,
    reports: Vec<crate::net::ShardReport>,
}

impl<L: TxnLog> Core<L> {
    pub fn new(config: CoreConfig, log: L, mono_ms: i64, password_secret: [u8; 32], shard_count: usize) -> Self {
        // Session ids mix in the wall clock so ids differ across restarts.
        let sessions = SessionTable::new(config.server_id, crate::runtime::clock::now_ms(), config.tick_ms, password_secret);
        let next_reap_ms = mono_ms + config.container_check_interval_ms;
        Core {
            config,
            pending: DataTree::new(),
            published_zxid: 0,
            epoch: 0,
            counter: 0,
            sessions,
            log,
            in_flight: VecDeque::new(),
            outputs: Vec::new(),
            next_reap_ms,
            pending_gathers: Vec::new(),
            next_gather_token: 1,
            shard_count,
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

    pub fn published_zxid(&self) -> Zxid {
        self.published_zxid
    }

    fn next_zxid(&mut self) -> Zxid {
        self.counter += 1;
        assert!(self.counter < (1 << 32), "zxid counter exhausted in epoch {}", self.epoch);
        (self.epoch << 32) | self.counter
    }

    /// Proposes a transaction: logs it and applies it to the pending tree.
    fn propose(&mut self, txn: Txn, wall_ms: i64, completion_origin: Option<Origin>) -> Zxid {
        let zxid = self.next_zxid();
        let applied = write::apply(&mut self.pending, &txn, zxid, wall_ms);
        self.log.append(zxid, &txn);
        let closed_session = match &txn {
            Txn::CloseSession { session_id } => {
                self.sessions.remove(*session_id);
                Some(*session_id)
            }
            _ => None,
        };
        let commit = Commit {
            zxid,
            tree: Arc::new(self.pending.clone()),
            events: applied.events,
            completion: completion_origin.map(|origin| Completion { origin, result: applied.result }),
            connected: None,
            closed_session,
        };
        self.in_flight.push_back(InFlight::Commit(commit));
        zxid
    }

    fn passthrough(&mut self, shard: ShardId, msg: ToShard) {
        self.in_flight.push_back(InFlight::Passthrough(shard, msg));
    }

    fn reply_in_order(&mut self, origin: Origin, result: Result<Response, ErrorCode>) {
        let completion = Completion { origin, result };
        // zxid is filled in at release time: the last published zxid then.
        self.passthrough(origin.shard, ToShard::Complete { zxid: 0, completion });
    }

    /// A state-changing request from a client.
    /// `mono_ms` drives session deadlines, `wall_ms` is the transaction time.
    pub fn write(&mut self, origin: Origin, session_id: SessionId, auth: &AuthIds, request: &Request, mono_ms: i64, wall_ms: i64) {
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
        self.sessions.touch(session_id, mono_ms);
        if matches!(request, Request::CloseSession) {
            self.sessions.mark_closing(session_id);
            self.propose(Txn::CloseSession { session_id }, wall_ms, Some(origin));
            return;
        }
        let ctx = WriteContext { session_id, auth, config: &self.config.ops };
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

    /// A sync barrier: answered after everything before it.
    pub fn sync(&mut self, origin: Origin, path: String) {
        self.reply_in_order(origin, Ok(Response::Sync { path }));
    }

    /// A ConnectRequest (digest §4.3).
    pub fn connect(&mut self, shard: ShardId, conn: ConnId, request: &ConnectRequest, mono_ms: i64, wall_ms: i64) {
        // Refuse a client that has seen a newer state than ours: close
        // without a reply so it tries another server.
        if request.last_zxid_seen > self.pending.last_zxid {
            tracing::info!(
                client_zxid = format!("{:#x}", request.last_zxid_seen),
                our_zxid = format!("{:#x}", self.pending.last_zxid),
                "refusing connection: client has seen a newer zxid; client must try another server"
            );
            self.passthrough(shard, ToShard::ConnectResult { conn, response: None, session_id: 0 });
            return;
        }
        let timeout_ms = SessionTable::negotiate_timeout(
            request.timeout_ms,
            self.config.min_session_timeout_ms,
            self.config.max_session_timeout_ms,
        );
        let read_only = request.read_only.map(|_| false);
        let owner = ConnectionOwner { shard, conn };
        if request.session_id == 0 {
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
            self.propose(Txn::CreateSession { session_id, timeout_ms }, wall_ms, None);
            if let Some(InFlight::Commit(commit)) = self.in_flight.back_mut() {
                commit.connected = Some((shard, conn, response));
            }
            return;
        }
        // Re-attach: first kick any other connection bound to the session.
        let session_id = request.session_id;
        if let Some(old) = self.sessions.get(session_id).and_then(|s| s.owner) {
            if old != owner {
                self.outputs.push(Output::To(old.shard, ToShard::CloseConnection { conn: old.conn }));
                self.sessions.set_owner(session_id, None);
            }
        }
        let response = match self.sessions.reattach(session_id, &request.passwd, timeout_ms, mono_ms, owner) {
            Ok(()) => ConnectResponse {
                protocol_version: 0,
                timeout_ms,
                session_id,
                passwd: self.sessions.password_for(session_id),
                read_only,
            },
            Err(why) => {
                tracing::debug!(session = format!("{session_id:#x}"), %why, "re-attach refused");
                ConnectResponse { protocol_version: 0, timeout_ms: 0, session_id: 0, passwd: [0; 16], read_only }
            }
        };
        self.passthrough(shard, ToShard::ConnectResult { conn, response: Some(response), session_id });
    }

    pub fn touch(&mut self, sessions: &[SessionId], mono_ms: i64) {
        for &id in sessions {
            self.sessions.touch(id, mono_ms);
        }
    }

    pub fn disconnected(&mut self, shard: ShardId, conn: ConnId, session_id: SessionId) {
        let owner = ConnectionOwner { shard, conn };
        if self.sessions.get(session_id).and_then(|s| s.owner) == Some(owner) {
            self.sessions.set_owner(session_id, None);
        }
    }

    /// Periodic work: session expiry and the container/TTL reaper.
    pub fn tick(&mut self, mono_ms: i64, wall_ms: i64) {
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
            let budget = ((self.config.container_max_per_minute as i64 * self.config.container_check_interval_ms)
                / 60_000)
                .max(1) as usize;
            for path in candidates.into_iter().take(budget) {
                let request = Request::DeleteContainer { path: path.to_string() };
                let ctx = WriteContext { session_id: 0, auth: &AuthIds::default(), config: &self.config.ops };
                let txn = write::prep(&self.pending, &request, &ctx);
                if !matches!(txn, Txn::Error(_)) {
                    self.propose(txn, wall_ms, None);
                }
            }
        }
    }

    /// Moves everything the log has made durable to the outputs, in order.
    pub fn release(&mut self) {
        let durable = self.log.durable_zxid();
        while let Some(front) = self.in_flight.front() {
            match front {
                InFlight::Commit(c) if c.zxid > durable => break,
                _ => {}
            }
            match self.in_flight.pop_front().expect("front exists") {
                InFlight::Commit(commit) => {
                    assert!(commit.zxid > self.published_zxid, "commits must be released in zxid order");
                    self.published_zxid = commit.zxid;
                    self.outputs.push(Output::Broadcast(ToShard::Commit(Arc::new(commit))));
                }
                InFlight::Passthrough(shard, mut msg) => {
                    if let ToShard::Complete { zxid, .. } = &mut msg {
                        *zxid = self.published_zxid;
                    }
                    self.outputs.push(Output::To(shard, msg));
                }
            }
        }
    }

    /// A four-letter word asked for a view of every shard.
    pub fn gather(&mut self, shard: ShardId, conn: ConnId, word: &'static str) {
        let token = self.next_gather_token;
        self.next_gather_token += 1;
        self.pending_gathers.push(PendingGather { token, shard, conn, word, reports: Vec::new() });
        self.outputs.push(Output::Broadcast(ToShard::GatherRequest { token, word }));
    }

    pub fn gather_reply(&mut self, token: u64, report: crate::net::ShardReport) {
        let Some(idx) = self.pending_gathers.iter().position(|g| g.token == token) else {
            return;
        };
        self.pending_gathers[idx].reports.push(report);
        if self.pending_gathers[idx].reports.len() < self.shard_count {
            return;
        }
        let g = self.pending_gathers.swap_remove(idx);
        let core = self.core_report();
        self.outputs.push(Output::To(
            g.shard,
            ToShard::GatherResult { conn: g.conn, word: g.word, reports: g.reports, core },
        ));
    }

    fn core_report(&self) -> CoreReport {
        let tree = &self.pending;
        let mut sessions: Vec<(SessionId, i32, i64)> =
            self.sessions.iter().map(|s| (s.id, s.timeout_ms, s.expires_at_ms)).collect();
        sessions.sort();
        let mut ephemerals_by_session: Vec<(SessionId, Vec<String>)> = tree
            .ephemerals
            .iter()
            .map(|(sid, paths)| (*sid, paths.iter().map(|p| p.to_string()).collect()))
            .collect();
        ephemerals_by_session.sort();
        CoreReport {
            last_zxid: self.published_zxid,
            node_count: tree.node_count(),
            approximate_data_size: tree.approximate_data_size,
            ephemerals_count: tree.ephemerals.values().map(|s| s.len()).sum(),
            sessions,
            ephemerals_by_session,
            log_failure: self.log.failure().map(str::to_owned),
        }
    }
}
