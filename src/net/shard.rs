//! One client shard's state and its processing of the commit stream.

use super::conn::{Conn, Pending};
use crate::auth::acl;
use crate::auth::AuthIds;
use crate::messages::{
    Commit, Completion, ConnId, ConnectionView, ShardId, ShardReport, ToConsensus, ToShard,
};
use crate::ops::read::{execute_read, ReadContext};
use crate::probe::ServerProbe;
use crate::proto::codec;
use crate::proto::*;
use crate::tree::watches::WatchTable;
use crate::tree::DataTree;
use glommio::channels::shared_channel::ConnectedSender;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::rc::Rc;
use std::sync::{Arc, Mutex};

/// Settings every connection of a shard reads. Immutable after start-up.
#[derive(Debug)]
pub struct ShardSettings {
    pub max_frame_len: usize,
    pub outstanding_per_connection_max: usize,
    pub outbound_buffer_max: usize,
    pub sessionless_connection_timeout_ms: u64,
    pub max_client_connections_per_ip: u32,
    /// `maxCnxns` / `roost.maxConnections`: client connections in all.
    pub max_connections: u32,
    /// `globalOutstandingLimit` (divided as ZooKeeper divides it in an
    /// ensemble): unanswered requests across the server before every
    /// connection stops reading.
    pub global_outstanding_max: usize,
    /// The server's unanswered requests, one slot per shard.
    pub in_flight: Arc<super::pending::InFlight>,
    pub skip_acl: bool,
    pub auth: Arc<acl::AuthConfig>,
    pub config: Arc<crate::config::Config>,
    /// Schemes a connection must have an identity in before anything but
    /// auth/SASL is served; empty when authentication is not enforced.
    pub required_auth_schemes: Vec<String>,
    pub started_at_ms: i64,
    /// Reads wait for a barrier from the core before they are served
    /// (`Config::read_barriers`: `roost.readConsistency=linearizable`).
    pub read_barriers: bool,
}

/// The server's client connections, counted for its two caps: per client
/// IP (`maxClientCnxns`) and in all (`maxCnxns` / `roost.maxConnections`).
/// One per server, shared by its shards; touched only on accept and close,
/// so a mutex costs nothing that matters.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    per_ip: HashMap<IpAddr, u32>,
    total: u32,
}

/// Why an accepted connection was closed at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionRefusal {
    /// `maxClientCnxns` connections from this address already.
    PerIp { max: u32 },
    /// `maxCnxns` / `roost.maxConnections` connections already.
    Total { max: u32 },
}

impl ConnectionCounts {
    /// Counts a connection from `ip` unless a cap is reached (0 = no cap
    /// per IP, as ZooKeeper's maxClientCnxns=0). Each admitted connection
    /// must be [`ConnectionCounts::release`]d once.
    pub fn admit(
        &mut self,
        ip: IpAddr,
        per_ip_max: u32,
        total_max: u32,
    ) -> Result<(), ConnectionRefusal> {
        if self.total >= total_max {
            return Err(ConnectionRefusal::Total { max: total_max });
        }
        let n = self.per_ip.entry(ip).or_insert(0);
        if per_ip_max != 0 && *n >= per_ip_max {
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
            return Err(ConnectionRefusal::PerIp { max: per_ip_max });
        }
        *n += 1;
        self.total += 1;
        Ok(())
    }

    pub fn release(&mut self, ip: IpAddr) {
        let n = self
            .per_ip
            .get_mut(&ip)
            .expect("released a connection never admitted");
        *n -= 1;
        if *n == 0 {
            self.per_ip.remove(&ip);
        }
        self.total -= 1;
    }

    pub fn total(&self) -> u32 {
        self.total
    }
}

pub type SharedConnectionCounts = Arc<Mutex<ConnectionCounts>>;

/// Random low bits of a shard's first connection id (leaves 3 x 2^46 ids of
/// room before the next shard's range).
const CONN_ID_RANDOM_MASK: u64 = (1 << 46) - 1;

/// A client shard. Owned by one shard executor.
pub struct Shard {
    pub id: ShardId,
    /// The newest tree version this shard has caught up to.
    pub tree: Arc<DataTree>,
    pub conns: HashMap<ConnId, Rc<RefCell<Conn>>>,
    pub by_session: HashMap<SessionId, ConnId>,
    pub watches: WatchTable,
    /// Sessions active since the last touch batch.
    pub touched: HashSet<SessionId>,
    /// Shared with this shard's connections (same executor).
    pub probe: Rc<RefCell<ServerProbe>>,
    pub next_conn_id: ConnId,
    pub settings: Rc<ShardSettings>,
    pub to_core: Rc<ConnectedSender<ToConsensus>>,
}

impl Shard {
    pub fn new(
        id: ShardId,
        tree: Arc<DataTree>,
        settings: Rc<ShardSettings>,
        to_core: Rc<ConnectedSender<ToConsensus>>,
    ) -> Self {
        Shard {
            id,
            tree,
            conns: HashMap::new(),
            by_session: HashMap::new(),
            watches: WatchTable::new(),
            touched: HashSet::new(),
            probe: Rc::new(RefCell::new(ServerProbe::default())),
            // Shard id in the top bits keeps connection ids unique server-wide;
            // a random start keeps them unique across restarts too, so a reply
            // an ensemble member re-applies from its log for a connection of
            // its previous process can never land on a new connection.
            next_conn_id: ((id as u64) << 48) + 1 + (rand::random::<u64>() & CONN_ID_RANDOM_MASK),
            settings,
            to_core,
        }
    }

    fn read_context<'a>(&self, conn: &'a Conn) -> ReadContext<'a> {
        ReadContext {
            auth: &conn.auth,
            session_id: conn.session_id,
            skip_acl: self.settings.skip_acl,
            max_reply_len: self.settings.max_frame_len,
        }
    }

    /// Runs one message of the commit stream. Synchronous: nothing here waits
    /// on the core, so the stream is always drained.
    pub fn on_message(this: &Rc<RefCell<Shard>>, msg: ToShard) {
        match msg {
            ToShard::Commit(commit) => Shard::on_commit(this, &commit),
            ToShard::Complete { zxid, completion } => {
                let mut shard = this.borrow_mut();
                shard.complete(completion, zxid);
            }
            ToShard::ConnectResult {
                conn,
                response,
                session_id,
            } => {
                let mut shard = this.borrow_mut();
                shard.on_connect_result(conn, response, session_id);
            }
            ToShard::ReadBarrier { conn, xid } => {
                let mut shard = this.borrow_mut();
                shard.read_barrier_passed(conn, xid);
            }
            ToShard::CloseConnection { conn } => {
                let shard = this.borrow();
                if let Some(c) = shard.conns.get(&conn) {
                    tracing::debug!(conn, "closing connection: session re-attached elsewhere");
                    c.borrow_mut().close_now();
                }
            }
            ToShard::CloseAll => {
                let shard = this.borrow();
                tracing::info!(
                    connections = shard.conns.len(),
                    "closing every client connection"
                );
                for c in shard.conns.values() {
                    c.borrow_mut().close_now();
                }
            }
            ToShard::GatherRequest { token, word } => {
                let mut shard = this.borrow_mut();
                let report = shard.report();
                // The reset words reset every shard after it has reported.
                shard.reset_stats(word);
                let to_core = shard.to_core.clone();
                // Sent from its own task: the commit stream never waits on the core.
                glommio::spawn_local(async move {
                    let _ = to_core
                        .send(ToConsensus::GatherReply {
                            token,
                            report: Box::new(report),
                        })
                        .await;
                })
                .detach();
            }
            ToShard::GatherResult {
                conn,
                word,
                reports,
                core,
            } => {
                let shard = this.borrow();
                if let Some(c) = shard.conns.get(&conn) {
                    let settings = &shard.settings;
                    let ctx = crate::fourlw::gather::Context {
                        config: &settings.config,
                        started_at_ms: settings.started_at_ms,
                        now_mono_ms: crate::clock::monotonic_ms(),
                        now_wall_ms: crate::clock::now_ms(),
                        host: crate::probe::host::HostFacts::read(),
                    };
                    let text = crate::fourlw::render_gathered(word, &ctx, &reports, &core);
                    let mut c = c.borrow_mut();
                    c.out.extend_from_slice(text.as_bytes());
                    c.close_after_flush();
                }
            }
        }
    }

    fn on_commit(this: &Rc<RefCell<Shard>>, commit: &Commit) {
        let mut guard = this.borrow_mut();
        let shard = &mut *guard;
        // 1. Fire watches: notifications are queued before any reply that
        //    could show the new state.
        let mut hits: Vec<(ConnId, usize)> = Vec::new();
        for (i, ev) in commit.events.iter().enumerate() {
            shard.watches.trigger(ev, |conn, _| hits.push((conn, i)));
        }
        let skip_acl = shard.settings.skip_acl;
        for (conn_id, i) in hits {
            let ev = &commit.events[i];
            if let Some(conn) = shard.conns.get(&conn_id) {
                let mut conn = conn.borrow_mut();
                // 3.9.2+: events are delivered only to connections that may read the node.
                if acl::check(&ev.acl, &conn.auth, perms::READ, skip_acl).is_err() {
                    continue;
                }
                let event = WatcherEvent {
                    event_type: ev.event_type,
                    state: STATE_SYNC_CONNECTED,
                    path: ev.path.to_string(),
                };
                conn.queue_notification(commit.zxid, &event);
            }
        }
        // 2. Advance the read pointer.
        shard.tree = commit.tree.clone();
        // 3. A new session's connect reply.
        if let Some((shard_id, conn_id, response)) = &commit.connected {
            if *shard_id == shard.id {
                shard.on_connect_result(*conn_id, Some(response.clone()), response.session_id);
            }
        }
        // 4. The originating request's reply, then that connection's queued reads.
        if let Some(completion) = &commit.completion {
            if completion.origin.shard == shard.id {
                shard.complete(completion.clone(), commit.zxid);
            }
        }
        // 5. A closed or expired session loses its connection.
        if let Some(session_id) = commit.closed_session {
            if let Some(conn_id) = shard.by_session.remove(&session_id) {
                if let Some(conn) = shard.conns.get(&conn_id) {
                    let mut conn = conn.borrow_mut();
                    if !conn.closing {
                        tracing::debug!(
                            session = format!("{session_id:#x}"),
                            "closing connection of ended session"
                        );
                        conn.close_now();
                    }
                }
            }
        }
    }

    fn on_connect_result(
        &mut self,
        conn_id: ConnId,
        response: Option<ConnectResponse>,
        session_id: SessionId,
    ) {
        let Some(conn) = self.conns.get(&conn_id).cloned() else {
            return;
        };
        let mut conn = conn.borrow_mut();
        if conn.established || !matches!(conn.pending.front(), Some(Pending::Connect)) {
            tracing::error!(
                conn = conn_id,
                session = format!("{session_id:#x}"),
                "connect result for a connection not waiting for one (a bug): closing it"
            );
            conn.close_now();
            return;
        }
        let Some(response) = response else {
            conn.close_now();
            return;
        };
        codec::encode_connect_response(&response, &mut conn.out);
        if response.timeout_ms <= 0 {
            conn.close_after_flush();
            return;
        }
        conn.session_id = session_id;
        conn.established = true;
        conn.probe.session_established(response.timeout_ms as u32);
        conn.probe.packet_sent();
        conn.server_probe.borrow_mut().packet_sent();
        self.by_session.insert(session_id, conn_id);
        conn.pending.pop_front();
        conn.wake_writer();
        conn.wake_reader();
    }

    /// Delivers a core-routed reply and then runs the connection's queued
    /// local requests up to the next one still waiting on the core.
    fn complete(&mut self, completion: Completion, zxid: Zxid) {
        let Some(conn_rc) = self.conns.get(&completion.origin.conn).cloned() else {
            return;
        };
        let mut conn = conn_rc.borrow_mut();
        // Core replies arrive in request order; anything else is a bug. It
        // costs this connection (closed, the client retries), not the server.
        let started_ms = match conn.pending.front() {
            Some(Pending::Core {
                xid, started_ms, ..
            }) if *xid == completion.origin.xid => {
                let started_ms = *started_ms;
                conn.pending.pop_front();
                started_ms
            }
            other => {
                tracing::error!(
                    conn = completion.origin.conn,
                    xid = completion.origin.xid,
                    head = ?other,
                    "reply out of order for this connection (a bug): closing it"
                );
                conn.close_now();
                return;
            }
        };
        let origin = completion.origin;
        conn.queue_result(
            origin.xid,
            zxid,
            origin.opcode,
            completion.result.as_ref(),
            started_ms,
        );
        if origin.opcode == OpCode::CloseSession {
            conn.close_after_flush();
            return;
        }
        self.run_deferred(&mut conn);
    }

    /// The core has let read `xid` through: mark it, and run it (and what
    /// follows) if nothing is ahead of it. Barriers of one connection pass
    /// in the order the reads arrived (the core answers rounds in order), so
    /// it must be the first read still waiting; anything else is a bug that
    /// costs this connection only.
    fn read_barrier_passed(&mut self, conn_id: ConnId, xid: Xid) {
        let Some(conn_rc) = self.conns.get(&conn_id).cloned() else {
            return;
        };
        let mut conn = conn_rc.borrow_mut();
        let waiting = conn.pending.iter_mut().find_map(|p| match p {
            Pending::Local {
                xid: x,
                awaits_barrier,
                ..
            } if *awaits_barrier => Some((*x, awaits_barrier)),
            _ => None,
        });
        match waiting {
            Some((x, awaits_barrier)) if x == xid => *awaits_barrier = false,
            other => {
                tracing::error!(
                    conn = conn_id,
                    xid,
                    first_waiting = ?other.map(|(x, _)| x),
                    "read barrier out of order for this connection (a bug): closing it"
                );
                conn.close_now();
                return;
            }
        }
        self.run_deferred(&mut conn);
    }

    /// Runs queued local requests until the head waits on the core (a
    /// write, sync, handshake, or a read's barrier).
    pub fn run_deferred(&mut self, conn: &mut Conn) {
        while let Some(Pending::Local {
            awaits_barrier: false,
            ..
        }) = conn.pending.front()
        {
            let Some(Pending::Local {
                xid,
                opcode,
                request,
                started_ms,
                ..
            }) = conn.pending.pop_front()
            else {
                unreachable!("front was checked to be Local")
            };
            self.execute_local(conn, xid, opcode, request, started_ms);
            if conn.closing {
                return;
            }
        }
        conn.wake_reader();
    }

    /// Executes a request that needs no consensus: reads, pings, auth, SASL
    /// and watch management, against this shard's tree version.
    pub fn execute_local(
        &mut self,
        conn: &mut Conn,
        xid: Xid,
        opcode: OpCode,
        request: LocalRequest,
        started_ms: i64,
    ) {
        let zxid = self.tree.last_zxid;
        match request {
            LocalRequest::Error { code, close } => {
                let reply_zxid = if code == ErrorCode::Unimplemented {
                    -1
                } else {
                    zxid
                };
                conn.queue_result(xid, reply_zxid, opcode, Err(&code), started_ms);
                if close {
                    conn.close_after_flush();
                }
            }
            LocalRequest::Request(req) => {
                self.execute_request(conn, xid, opcode, req, zxid, started_ms)
            }
        }
    }

    fn execute_request(
        &mut self,
        conn: &mut Conn,
        xid: Xid,
        opcode: OpCode,
        req: Request,
        zxid: Zxid,
        started: i64,
    ) {
        match req {
            Request::Ping => {
                conn.queue_result(xid::PING, zxid, opcode, Ok(&Response::Empty), started);
            }
            Request::Auth { scheme, auth, .. } => {
                let remote_ip = conn.peer.ip().to_string();
                match acl::authenticate(&scheme, &auth, &remote_ip, &self.settings.auth) {
                    Ok(ids) => {
                        acl::add_ids(&mut conn.auth, ids);
                        conn.queue_result(xid, 0, opcode, Ok(&Response::Empty), started);
                    }
                    Err(code) => {
                        self.probe.borrow_mut().auth_failed();
                        conn.queue_result(xid, 0, opcode, Err(&code), started);
                        conn.close_after_flush();
                    }
                }
            }
            Request::Sasl { token } => self.execute_sasl(conn, xid, opcode, &token, zxid, started),
            Request::SetWatches { watches, .. } => {
                let mut events = Vec::new();
                self.watches
                    .set_watches(conn.id, &self.tree, &watches, &mut events);
                for ev in &events {
                    // Replayed events carry zxid -1 and are not ACL-filtered (digest §12.6).
                    conn.queue_notification(-1, ev);
                }
                conn.queue_result(xid, zxid, opcode, Ok(&Response::Empty), started);
            }
            Request::AddWatch { path, mode } => {
                let recursive = match mode {
                    0 => false,
                    1 => true,
                    _ => {
                        conn.queue_result(
                            xid,
                            zxid,
                            opcode,
                            Err(&ErrorCode::MarshallingError),
                            started,
                        );
                        return;
                    }
                };
                self.watches.add_persistent(conn.id, &path, recursive);
                conn.queue_result(xid, zxid, opcode, Ok(&Response::ErrorBody(0)), started);
            }
            Request::CheckWatches { path, watcher_type }
            | Request::RemoveWatches { path, watcher_type } => {
                let remove = opcode == OpCode::RemoveWatches;
                let result = match WatcherType::from_i32(watcher_type) {
                    None => Err(ErrorCode::MarshallingError),
                    Some(t) => self.watches.check_or_remove(conn.id, &path, t, remove),
                };
                match result {
                    Ok(()) => conn.queue_result(xid, zxid, opcode, Ok(&Response::Empty), started),
                    Err(code) => conn.queue_result(xid, zxid, opcode, Err(&code), started),
                }
            }
            // Reads, and a sync whose barrier has passed (`execute_read`
            // answers it: this shard has applied everything committed
            // before it arrived).
            req => {
                let ctx = self.read_context(conn);
                let outcome = execute_read(&self.tree, &req, &ctx);
                for reg in &outcome.watches {
                    self.watches.add(conn.id, reg);
                }
                conn.queue_result(xid, zxid, opcode, outcome.result.as_ref(), started);
            }
        }
    }

    fn execute_sasl(
        &mut self,
        conn: &mut Conn,
        xid: Xid,
        opcode: OpCode,
        token: &[u8],
        zxid: Zxid,
        started: i64,
    ) {
        if !self.settings.auth.sasl_enabled() {
            // A server without SASL configured answers OK with a null token (digest §7.10).
            conn.queue_result(
                xid,
                zxid,
                opcode,
                Ok(&Response::Sasl { token: None }),
                started,
            );
            return;
        }
        let auth = &self.settings.auth;
        let sasl = conn
            .sasl
            .get_or_insert_with(|| crate::auth::sasl::SaslServer::new(&auth.sasl_credentials()));
        match sasl.step(token) {
            Ok(step) => {
                if let Some(user) = step.authenticated {
                    let ids = crate::auth::sasl::identities(&user, auth.sasl_super_user.as_deref());
                    acl::add_ids(&mut conn.auth, ids);
                    conn.sasl = None;
                }
                conn.queue_result(
                    xid,
                    zxid,
                    opcode,
                    Ok(&Response::Sasl { token: step.reply }),
                    started,
                );
            }
            Err(code) => {
                self.probe.borrow_mut().auth_failed();
                conn.queue_result(xid, zxid, opcode, Err(&code), started);
                conn.close_after_flush();
            }
        }
    }

    /// This shard's contribution to a four-letter word.
    pub fn report(&self) -> ShardReport {
        let mut data_watches_by_session = Vec::new();
        let by_conn = self.watches.data_watches_by_conn();
        let mut outstanding = 0;
        let mut connections = Vec::new();
        for conn in self.conns.values() {
            let conn = conn.borrow();
            outstanding += conn.pending.len();
            connections.push(ConnectionView {
                remote: conn.peer,
                interest_ops: 1,
                session_id: conn.session_id,
                expire_at_ms: 0,
                probe: conn.probe,
            });
            if let Some(paths) = by_conn.get(&conn.id) {
                data_watches_by_session.push((conn.session_id, paths.iter().cloned().collect()));
            }
        }
        ShardReport {
            shard: self.id,
            probe: *self.probe.borrow(),
            connections,
            data_watches_by_session,
            watch_count: self.watches.watch_count(),
            outstanding,
        }
    }

    fn reset_stats(&mut self, word: &str) {
        match word {
            "srst" => self.probe.borrow_mut().reset(),
            "crst" => {
                for conn in self.conns.values() {
                    conn.borrow_mut().probe.reset();
                }
            }
            _ => {}
        }
    }

    /// Forgets a connection: its watches, its session binding, its IP slot.
    pub fn remove_connection(&mut self, conn_id: ConnId) -> Option<Rc<RefCell<Conn>>> {
        let conn = self.conns.remove(&conn_id)?;
        self.watches.remove_connection(conn_id);
        let session_id = conn.borrow().session_id;
        if session_id != 0 && self.by_session.get(&session_id) == Some(&conn_id) {
            self.by_session.remove(&session_id);
        }
        Some(conn)
    }

    pub fn auth_for(&self, conn: &Conn) -> AuthIds {
        conn.auth.clone()
    }
}

/// A request a shard executes itself, in connection order.
#[derive(Debug)]
pub enum LocalRequest {
    Request(Request),
    /// An error decided at decode time (unknown opcode, bad body), answered
    /// in order; `close` ends the connection after the reply.
    Error {
        code: ErrorCode,
        close: bool,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_caps_refuse_past_the_limit_and_free_on_release() {
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let mut c = ConnectionCounts::default();
        // Per IP: 2 each; in all: 3.
        assert_eq!(c.admit(a, 2, 3), Ok(()));
        assert_eq!(c.admit(a, 2, 3), Ok(()));
        assert_eq!(c.admit(a, 2, 3), Err(ConnectionRefusal::PerIp { max: 2 }));
        assert_eq!(c.admit(b, 2, 3), Ok(()));
        assert_eq!(c.admit(b, 2, 3), Err(ConnectionRefusal::Total { max: 3 }));
        assert_eq!(c.total(), 3);
        c.release(a);
        assert_eq!(c.admit(b, 2, 3), Ok(()));
        // maxClientCnxns=0: no cap per IP, only the total.
        let mut c = ConnectionCounts::default();
        for _ in 0..5 {
            assert_eq!(c.admit(a, 0, 5), Ok(()));
        }
        assert_eq!(c.admit(a, 0, 5), Err(ConnectionRefusal::Total { max: 5 }));
        for _ in 0..5 {
            c.release(a);
        }
        assert_eq!(c.total(), 0);
        assert!(c.per_ip.is_empty(), "no entry left behind");
    }
}
