//! A small synchronous ZooKeeper client for the shell.
//!
//! One caller thread issues requests and blocks for each answer; a reader
//! thread per connection routes replies to them and hands watch
//! notifications to an [`EventSink`] as they arrive; a supervisor thread
//! pings every timeout/3 and re-attaches the session (id + password, then
//! auth and SetWatches again) after a connection loss, as the Java client
//! does. All mutable state sits behind one mutex: a shell sends a request at
//! a time, so contention is not a concern and one lock keeps the send order,
//! the pending FIFO and the connection generation consistent.

use std::collections::{BTreeSet, VecDeque};
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::proto::codec::{
    decode_connect_response, decode_reply_header, decode_response, decode_watcher_event,
    encode_connect_request, encode_request, request_opcode,
};
use crate::proto::frame::split_frame;
use crate::proto::{
    xid, ConnectRequest, ErrorCode, EventType, OpCode, Request, Response, SetWatches, Xid,
};

use super::format::event_type_name;

/// Largest reply frame accepted. Replies are bounded by the server's
/// jute.maxbuffer for requests only (a getChildren of a huge node can exceed
/// 1 MiB), so this is generous; it only stops a corrupt length from making
/// the reader buffer without end.
const REPLY_FRAME_MAX: usize = 64 << 20;
/// Per-address TCP connect and handshake limit.
const CONNECT_TIMEOUT_MAX: Duration = Duration::from_secs(5);
/// Pause between background reconnect attempts.
const RECONNECT_BACKOFF: Duration = Duration::from_secs(1);
/// How often the supervisor wakes to check pings and reconnects.
const SUPERVISOR_TICK: Duration = Duration::from_millis(100);

/// Why a request did not get a success reply.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum CallError {
    /// The server answered with this ZooKeeper error code.
    #[error("server error {0}")]
    Server(i32),
    /// The session was closed by `close` (zkCli: "Not connected").
    #[error("Not connected")]
    NotConnected,
    /// The connection dropped (or never came up) before the reply.
    #[error("connection lost")]
    ConnectionLoss,
    /// The server refused to re-attach the session.
    #[error("session expired")]
    SessionExpired,
    /// The server sent something this client cannot make sense of; the
    /// connection is dropped and re-established.
    #[error("protocol error: {0}")]
    Protocol(String),
}

impl CallError {
    /// The ZooKeeper code zkCli would report for this failure.
    pub fn code(&self) -> i32 {
        match self {
            CallError::Server(c) => *c,
            CallError::NotConnected | CallError::ConnectionLoss => ErrorCode::ConnectionLoss as i32,
            CallError::SessionExpired => ErrorCode::SessionExpired as i32,
            CallError::Protocol(_) => ErrorCode::MarshallingError as i32,
        }
    }
}

/// Why the client could not (re)connect.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum ConnectError {
    /// The server answered the re-attach with "invalid session".
    #[error("session expired")]
    Expired,
    #[error("{0}")]
    Failed(String),
}

/// A watch or session event in the shape zkCli prints it.
/// Used by the offline `roost cli` command (made on its reader thread); no executor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    /// KeeperState name: SyncConnected, Disconnected, Expired, Closed, AuthFailed.
    pub state: &'static str,
    /// EventType name: None for session events.
    pub kind: &'static str,
    /// `None` for session events (printed as `null`).
    pub path: Option<String>,
}

impl Event {
    fn session(state: &'static str) -> Event {
        Event {
            state,
            kind: "None",
            path: None,
        }
    }
}

/// Where events go; called from the reader and supervisor threads.
pub type EventSink = Arc<dyn Fn(&Event) + Send + Sync>;

/// The session state the prompt shows (Java's `ZooKeeper.States` names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Connected,
    Closed,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Connecting => "CONNECTING",
            Phase::Connected => "CONNECTED",
            Phase::Closed => "CLOSED",
        }
    }
}

/// Watches this client holds on the server, kept so that a reconnect can
/// register them again with SetWatches (the server drops a connection's
/// watches when it goes away, digest §12.6).
#[derive(Default, Debug)]
struct Watches {
    data: BTreeSet<String>,
    exist: BTreeSet<String>,
    child: BTreeSet<String>,
    persistent: BTreeSet<String>,
    recursive: BTreeSet<String>,
}

impl Watches {
    fn is_empty(&self) -> bool {
        self.data.is_empty()
            && self.exist.is_empty()
            && self.child.is_empty()
            && self.persistent.is_empty()
            && self.recursive.is_empty()
    }

    /// One-shot watches are consumed by the events that fire them (§12.1).
    fn on_event(&mut self, t: EventType, path: &str) {
        match t {
            EventType::NodeCreated => {
                self.exist.remove(path);
                self.data.remove(path);
            }
            EventType::NodeDataChanged => {
                self.data.remove(path);
            }
            EventType::NodeDeleted => {
                self.data.remove(path);
                self.exist.remove(path);
                self.child.remove(path);
            }
            EventType::NodeChildrenChanged => {
                self.child.remove(path);
            }
        }
    }

    /// Forgets the watches a removeWatches of `kind` (1 children, 2 data,
    /// 3 any) removed and returns the local "removed" events the Java client
    /// delivers for them.
    fn remove(&mut self, path: &str, kind: i32) -> Vec<Event> {
        let mut events = Vec::new();
        let mut ev = |kind: &'static str| {
            events.push(Event {
                state: "SyncConnected",
                kind,
                path: Some(path.to_owned()),
            })
        };
        if (kind == 1 || kind == 3) && self.child.remove(path) {
            ev("ChildWatchRemoved");
        }
        if kind == 2 || kind == 3 {
            let data = self.data.remove(path);
            let exist = self.exist.remove(path);
            if data || exist {
                ev("DataWatchRemoved");
            }
        }
        if kind == 3 {
            let p = self.persistent.remove(path);
            let r = self.recursive.remove(path);
            if p || r {
                ev("PersistentWatchRemoved");
            }
        }
        events
    }

    fn set_watches(&self, relative_zxid: i64) -> Request {
        let v = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        Request::SetWatches {
            // SetWatches2 only when there is something v1 cannot carry, as Java does.
            v2: !(self.persistent.is_empty() && self.recursive.is_empty()),
            watches: SetWatches {
                relative_zxid,
                data: v(&self.data),
                exist: v(&self.exist),
                child: v(&self.child),
                persistent: v(&self.persistent),
                persistent_recursive: v(&self.recursive),
            },
        }
    }
}

/// The watch a request registers if it succeeds, decided when it is sent.
#[derive(Debug)]
enum WatchReg {
    None,
    Data(String),
    /// exists: a data watch if the node is there, an exist watch if not.
    Exists(String),
    Child(String),
    Persistent(String),
    Recursive(String),
    Remove(String, i32),
}

impl WatchReg {
    fn of(req: &Request) -> WatchReg {
        match req {
            Request::GetData { path, watch: true } => WatchReg::Data(path.clone()),
            Request::Exists { path, watch: true } => WatchReg::Exists(path.clone()),
            Request::GetChildren { path, watch: true }
            | Request::GetChildren2 { path, watch: true } => WatchReg::Child(path.clone()),
            Request::AddWatch { path, mode: 0 } => WatchReg::Persistent(path.clone()),
            Request::AddWatch { path, mode: 1 } => WatchReg::Recursive(path.clone()),
            Request::RemoveWatches { path, watcher_type } => {
                WatchReg::Remove(path.clone(), *watcher_type)
            }
            _ => WatchReg::None,
        }
    }
}

/// A request on the wire waiting for its reply.
struct Pending {
    xid: Xid,
    opcode: OpCode,
    /// `None` for requests the client sends on its own (auth and SetWatches
    /// after a reconnect): nobody waits for them.
    reply: Option<mpsc::Sender<Result<Response, CallError>>>,
    watch: WatchReg,
    /// The credential an auth packet carried, dropped if the server refuses
    /// it so that later reconnects do not fail the same way forever.
    auth: Option<(String, Vec<u8>)>,
}

struct Conn {
    stream: TcpStream,
    /// Sent and unanswered, in send order (replies come back in this order,
    /// digest §5.3, except auth and SetWatches which are matched by xid).
    pending: VecDeque<Pending>,
}

struct State {
    hosts: Vec<String>,
    next_host: usize,
    current_host: String,
    timeout_requested_ms: i32,
    session_id: i64,
    passwd: [u8; 16],
    timeout_ms: i32,
    last_zxid: i64,
    phase: Phase,
    /// Set while closeSession is in flight, so the server's close of the
    /// socket is not mistaken for a connection loss.
    closing: bool,
    conn: Option<Conn>,
    /// Bumped on every new connection and on close; a reader thread whose
    /// generation is stale exits without touching the state.
    gen: u64,
    next_xid: Xid,
    auths: Vec<(String, Vec<u8>)>,
    watches: Watches,
    last_send: Instant,
    last_attempt: Instant,
}

impl State {
    fn alloc_xid(&mut self) -> Xid {
        // Java starts at 1 and wraps to 1: never a special (negative) xid.
        let x = self.next_xid;
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    fn ping_interval(&self) -> Duration {
        Duration::from_millis((self.timeout_ms.max(300) / 3) as u64)
    }
}

struct Inner {
    state: Mutex<State>,
    sink: EventSink,
    shutdown: AtomicBool,
}

/// The shell's connection to a ZooKeeper-compatible server.
pub struct Client {
    inner: Arc<Inner>,
    supervisor: Option<JoinHandle<()>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // A panic elsewhere must not take the shell down with a poisoned lock;
    // the state is still consistent field by field.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Splits `h1:p1,h2:p2` into addresses, as the Java connect string does.
pub fn parse_hosts(connect: &str) -> Vec<String> {
    connect
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| {
            if h.contains(':') {
                h.to_owned()
            } else {
                format!("{h}:2181")
            }
        })
        .collect()
}

impl Client {
    /// Creates the client and makes one connection attempt; on failure the
    /// client keeps retrying in the background and the error is returned
    /// alongside it so a one-shot caller can give up.
    pub fn new(
        hosts: Vec<String>,
        timeout_ms: i32,
        sink: EventSink,
    ) -> (Client, Result<(), ConnectError>) {
        let now = Instant::now();
        let state = State {
            current_host: hosts.first().cloned().unwrap_or_default(),
            hosts,
            next_host: 0,
            timeout_requested_ms: timeout_ms,
            session_id: 0,
            passwd: [0; 16],
            timeout_ms,
            last_zxid: 0,
            phase: Phase::Connecting,
            closing: false,
            conn: None,
            gen: 0,
            next_xid: 1,
            auths: Vec::new(),
            watches: Watches::default(),
            last_send: now,
            last_attempt: now,
        };
        let inner = Arc::new(Inner {
            state: Mutex::new(state),
            sink,
            shutdown: AtomicBool::new(false),
        });
        let first = {
            let mut st = lock(&inner.state);
            inner.connect_locked(&mut st)
        };
        let sup = Arc::clone(&inner);
        let supervisor = std::thread::Builder::new()
            .name("roost-cli-supervisor".into())
            .spawn(move || sup.supervise())
            .ok();
        (Client { inner, supervisor }, first)
    }

    pub fn phase(&self) -> Phase {
        lock(&self.inner.state).phase
    }

    /// The server the client is (or was last) connected to.
    pub fn current_host(&self) -> String {
        lock(&self.inner.state).current_host.clone()
    }

    /// Sends one request and waits for its reply.
    pub fn call(&self, req: Request) -> Result<Response, CallError> {
        let (tx, rx) = mpsc::channel();
        let wait = {
            let mut st = lock(&self.inner.state);
            match st.phase {
                Phase::Closed => return Err(CallError::NotConnected),
                Phase::Connecting if st.conn.is_none() => {
                    // Try now rather than wait for the supervisor's next round.
                    self.inner.connect_locked(&mut st).map_err(|e| match e {
                        ConnectError::Expired => CallError::SessionExpired,
                        ConnectError::Failed(_) => CallError::ConnectionLoss,
                    })?;
                }
                _ => {}
            }
            let x = st.alloc_xid();
            let watch = WatchReg::of(&req);
            self.inner
                .send_locked(&mut st, x, &req, Some(tx), watch, None)?;
            // Java's request timeout is unbounded; a reply later than two
            // session timeouts means the connection is as good as dead.
            Duration::from_millis(st.timeout_ms.max(1000) as u64 * 2)
        };
        rx.recv_timeout(wait)
            .unwrap_or(Err(CallError::ConnectionLoss))
    }

    /// addauth: remembered for reconnects, sent now, and answered like a
    /// request so the shell can report a refusal.
    pub fn add_auth(&self, scheme: &str, auth: Vec<u8>) -> Result<(), CallError> {
        let (tx, rx) = mpsc::channel();
        let wait = {
            let mut st = lock(&self.inner.state);
            if st.phase == Phase::Closed {
                return Err(CallError::NotConnected);
            }
            st.auths.push((scheme.to_owned(), auth.clone()));
            if st.conn.is_none() {
                // Sent on the next (re)connect with the others.
                return Ok(());
            }
            let req = Request::Auth {
                auth_type: 0,
                scheme: scheme.to_owned(),
                auth: auth.clone(),
            };
            let cred = Some((scheme.to_owned(), auth));
            self.inner
                .send_locked(&mut st, xid::AUTH, &req, Some(tx), WatchReg::None, cred)?;
            Duration::from_millis(st.timeout_ms.max(1000) as u64 * 2)
        };
        rx.recv_timeout(wait)
            .unwrap_or(Err(CallError::ConnectionLoss))
            .map(|_| ())
    }

    /// removewatches -l: forget watches locally even though the server could
    /// not be told (the Java client's `local` flag).
    pub fn remove_local_watches(&self, path: &str, kind: i32) {
        let events = lock(&self.inner.state).watches.remove(path, kind);
        for e in &events {
            (self.inner.sink)(e);
        }
    }

    /// Ends the session (closeSession, so its ephemerals go at once) and
    /// stops reconnecting; prints the Closed event as zkCli's `close` does.
    /// Idempotent.
    pub fn close(&self) {
        self.close_with(true);
    }

    /// Like [`Client::close`] without the event: for `quit` and the end of
    /// one-shot mode, where zkCli prints nothing.
    pub fn close_quietly(&self) {
        self.close_with(false);
    }

    fn close_with(&self, announce: bool) {
        let connected = {
            let mut st = lock(&self.inner.state);
            if st.phase == Phase::Closed {
                return;
            }
            st.closing = true;
            st.conn.is_some()
        };
        if connected {
            // Best effort: if it fails the session simply times out.
            let _ = self.call(Request::CloseSession);
        }
        let mut st = lock(&self.inner.state);
        st.phase = Phase::Closed;
        st.closing = false;
        st.gen += 1;
        st.session_id = 0;
        if let Some(conn) = st.conn.take() {
            fail_pending(conn, CallError::NotConnected);
        }
        drop(st);
        if announce {
            (self.inner.sink)(&Event::session("Closed"));
        }
    }

    /// `connect host:port`: closes the current session and starts a new one
    /// against `hosts`, with no auth and no watches, like a new ZooKeeper
    /// object in zkCli.
    pub fn reconnect_to(&self, hosts: Vec<String>) -> Result<(), ConnectError> {
        self.close();
        let mut st = lock(&self.inner.state);
        st.current_host = hosts.first().cloned().unwrap_or_default();
        st.hosts = hosts;
        st.next_host = 0;
        st.session_id = 0;
        st.passwd = [0; 16];
        st.timeout_ms = st.timeout_requested_ms;
        st.last_zxid = 0;
        st.auths.clear();
        st.watches = Watches::default();
        st.phase = Phase::Connecting;
        self.inner.connect_locked(&mut st)
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        self.inner.shutdown.store(true, Ordering::SeqCst);
        {
            let mut st = lock(&self.inner.state);
            st.gen += 1;
            if let Some(conn) = st.conn.take() {
                fail_pending(conn, CallError::NotConnected);
            }
        }
        if let Some(h) = self.supervisor.take() {
            let _ = h.join();
        }
    }
}

/// Shuts the socket (which ends its reader thread) and fails every waiter.
fn fail_pending(conn: Conn, err: CallError) {
    let _ = conn.stream.shutdown(Shutdown::Both);
    for p in conn.pending {
        if let Some(tx) = p.reply {
            let _ = tx.send(Err(err.clone()));
        }
    }
}

impl Inner {
    fn emit(&self, e: Event) {
        (self.sink)(&e);
    }

    /// Writes one request and queues it as pending; a failed write counts as
    /// a connection loss.
    fn send_locked(
        &self,
        st: &mut State,
        x: Xid,
        req: &Request,
        reply: Option<mpsc::Sender<Result<Response, CallError>>>,
        watch: WatchReg,
        auth: Option<(String, Vec<u8>)>,
    ) -> Result<(), CallError> {
        let Some(conn) = st.conn.as_mut() else {
            return Err(CallError::ConnectionLoss);
        };
        let mut frame = Vec::new();
        encode_request(x, req, &mut frame);
        if conn.stream.write_all(&frame).is_err() {
            let gen = st.gen;
            self.lose_locked(st, gen);
            return Err(CallError::ConnectionLoss);
        }
        conn.pending.push_back(Pending {
            xid: x,
            opcode: request_opcode(req),
            reply,
            watch,
            auth,
        });
        st.last_send = Instant::now();
        Ok(())
    }

    /// Tries each host once.
    fn connect_locked(self: &Arc<Self>, st: &mut State) -> Result<(), ConnectError> {
        st.last_attempt = Instant::now();
        let n = st.hosts.len();
        if n == 0 {
            return Err(ConnectError::Failed("no server given".into()));
        }
        let mut last_err = String::new();
        for i in 0..n {
            let host = st.hosts[(st.next_host + i) % n].clone();
            match self.handshake(st, &host) {
                Ok(()) => {
                    st.next_host = (st.next_host + i) % n;
                    return Ok(());
                }
                Err(ConnectError::Expired) => {
                    // The session is gone for good; zkCli's ZooKeeper object
                    // is dead after this too, and `connect` starts afresh.
                    st.phase = Phase::Closed;
                    st.session_id = 0;
                    self.emit(Event::session("Expired"));
                    return Err(ConnectError::Expired);
                }
                Err(ConnectError::Failed(e)) => last_err = format!("{host}: {e}"),
            }
        }
        // Start the next round at the following host, as Java's HostProvider does.
        st.next_host = (st.next_host + 1) % n;
        Err(ConnectError::Failed(last_err))
    }

    fn handshake(self: &Arc<Self>, st: &mut State, host: &str) -> Result<(), ConnectError> {
        let fail = ConnectError::Failed;
        let addrs: Vec<SocketAddr> = host
            .to_socket_addrs()
            .map_err(|e| fail(e.to_string()))?
            .collect();
        let limit =
            Duration::from_millis(st.timeout_requested_ms.max(1) as u64).min(CONNECT_TIMEOUT_MAX);
        let mut stream = None;
        let mut last = "no address".to_owned();
        for a in &addrs {
            match TcpStream::connect_timeout(a, limit) {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let mut stream = stream.ok_or_else(|| fail(last))?;
        let _ = stream.set_nodelay(true);
        stream
            .set_read_timeout(Some(limit))
            .map_err(|e| fail(e.to_string()))?;
        stream
            .set_write_timeout(Some(limit))
            .map_err(|e| fail(e.to_string()))?;
        let mut frame = Vec::new();
        encode_connect_request(
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: st.last_zxid,
                timeout_ms: st.timeout_requested_ms,
                session_id: st.session_id,
                passwd: st.passwd.to_vec(),
                read_only: Some(false),
            },
            &mut frame,
        );
        stream.write_all(&frame).map_err(|e| fail(e.to_string()))?;
        let mut len = [0u8; 4];
        stream.read_exact(&mut len).map_err(|e| {
            fail(format!(
                "no handshake reply ({e}); the server may be refusing this client"
            ))
        })?;
        let body_len = usize::try_from(i32::from_be_bytes(len))
            .ok()
            .filter(|&l| l <= 1024)
            .ok_or_else(|| fail("bad handshake reply length".into()))?;
        let mut body = vec![0u8; body_len];
        stream
            .read_exact(&mut body)
            .map_err(|e| fail(e.to_string()))?;
        let resp = decode_connect_response(&body).map_err(|e| fail(e.to_string()))?;
        if resp.timeout_ms <= 0 || resp.session_id == 0 {
            return if st.session_id != 0 {
                Err(ConnectError::Expired)
            } else {
                Err(fail("the server refused to create a session".into()))
            };
        }
        st.session_id = resp.session_id;
        st.passwd = resp.passwd;
        st.timeout_ms = resp.timeout_ms;
        // Java declares the connection dead after 2/3 of the timeout with
        // nothing received; pings every 1/3 keep a live one talking.
        let read_timeout = Duration::from_millis((resp.timeout_ms as u64 * 2 / 3).max(100));
        stream
            .set_read_timeout(Some(read_timeout))
            .map_err(|e| fail(e.to_string()))?;
        let reader = stream.try_clone().map_err(|e| fail(e.to_string()))?;
        st.gen += 1;
        let gen = st.gen;
        st.conn = Some(Conn {
            stream,
            pending: VecDeque::new(),
        });
        st.phase = Phase::Connected;
        st.current_host = host.to_owned();
        st.last_send = Instant::now();
        let me = Arc::clone(self);
        std::thread::Builder::new()
            .name("roost-cli-reader".into())
            .spawn(move || me.read_loop(reader, gen))
            .map_err(|e| fail(e.to_string()))?;
        self.emit(Event::session("SyncConnected"));
        // Credentials and watches belong to the connection on the server
        // (digest §4.6): send them again, auth first, as the Java client does.
        for (scheme, auth) in st.auths.clone() {
            let req = Request::Auth {
                auth_type: 0,
                scheme: scheme.clone(),
                auth: auth.clone(),
            };
            let _ = self.send_locked(
                st,
                xid::AUTH,
                &req,
                None,
                WatchReg::None,
                Some((scheme, auth)),
            );
        }
        if !st.watches.is_empty() {
            let req = st.watches.set_watches(st.last_zxid);
            let _ = self.send_locked(st, xid::SET_WATCHES, &req, None, WatchReg::None, None);
        }
        Ok(())
    }

    /// Marks the connection of generation `gen` lost (if it is still the
    /// current one) and fails its waiters.
    fn lose_locked(&self, st: &mut State, gen: u64) {
        if st.gen != gen {
            return;
        }
        let Some(conn) = st.conn.take() else {
            return;
        };
        fail_pending(conn, CallError::ConnectionLoss);
        if st.closing || st.phase == Phase::Closed {
            return;
        }
        st.phase = Phase::Connecting;
        self.emit(Event::session("Disconnected"));
    }

    fn read_loop(self: Arc<Self>, mut stream: TcpStream, gen: u64) {
        let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match stream.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            buf.extend_from_slice(&chunk[..n]);
            let mut used = 0;
            loop {
                match split_frame(&buf[used..], REPLY_FRAME_MAX) {
                    Ok(Some((len, body))) => {
                        if let Err(e) = self.on_frame(gen, body) {
                            if !e.is_empty() {
                                eprintln!("roost cli: {e}; reconnecting");
                            }
                            let mut st = lock(&self.state);
                            self.lose_locked(&mut st, gen);
                            return;
                        }
                        used += len;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        eprintln!("roost cli: bad reply frame: {e}; reconnecting");
                        let mut st = lock(&self.state);
                        self.lose_locked(&mut st, gen);
                        return;
                    }
                }
            }
            buf.drain(..used);
        }
        let mut st = lock(&self.state);
        self.lose_locked(&mut st, gen);
    }

    /// Handles one reply frame. `Err("")` means "this connection is stale,
    /// stop quietly"; any other error is a protocol violation.
    fn on_frame(&self, gen: u64, body: &[u8]) -> Result<(), String> {
        let (hdr, rest) = decode_reply_header(body).map_err(|e| e.to_string())?;
        if hdr.xid == xid::PING {
            return Ok(());
        }
        if hdr.xid == xid::NOTIFICATION {
            let ev = decode_watcher_event(rest).map_err(|e| e.to_string())?;
            let mut st = lock(&self.state);
            if st.gen != gen {
                return Err(String::new());
            }
            st.watches.on_event(ev.event_type, &ev.path);
            drop(st);
            self.emit(Event {
                state: "SyncConnected",
                kind: event_type_name(ev.event_type),
                path: Some(ev.path),
            });
            return Ok(());
        }
        let mut st = lock(&self.state);
        if st.gen != gen {
            return Err(String::new());
        }
        if hdr.zxid > 0 {
            st.last_zxid = st.last_zxid.max(hdr.zxid);
        }
        let Some(conn) = st.conn.as_mut() else {
            return Err(String::new());
        };
        // Auth and SetWatches replies may overtake others on real ZooKeeper
        // (digest §5.3): match them by xid, everything else strictly FIFO.
        let special = |x: Xid| x == xid::AUTH || x == xid::SET_WATCHES;
        let idx = if special(hdr.xid) {
            conn.pending.iter().position(|p| p.xid == hdr.xid)
        } else {
            conn.pending.iter().position(|p| !special(p.xid))
        };
        let Some(i) = idx else {
            return Err(format!("reply with xid {} to no request", hdr.xid));
        };
        if conn.pending[i].xid != hdr.xid {
            return Err(format!(
                "Xid out of order. Got Xid {} with err {} expected Xid {}",
                hdr.xid, hdr.err, conn.pending[i].xid
            ));
        }
        let Some(p) = conn.pending.remove(i) else {
            return Err(String::new());
        };
        let result = if hdr.err == 0 {
            decode_response(p.opcode, rest).map_err(|e| CallError::Protocol(e.to_string()))
        } else {
            Err(CallError::Server(hdr.err))
        };
        let removed = match (&p.watch, &result) {
            (WatchReg::Data(path), Ok(_)) => {
                st.watches.data.insert(path.clone());
                Vec::new()
            }
            (WatchReg::Exists(path), Ok(_)) => {
                st.watches.data.insert(path.clone());
                Vec::new()
            }
            (WatchReg::Exists(path), Err(CallError::Server(c)))
                if *c == ErrorCode::NoNode as i32 =>
            {
                st.watches.exist.insert(path.clone());
                Vec::new()
            }
            (WatchReg::Child(path), Ok(_)) => {
                st.watches.child.insert(path.clone());
                Vec::new()
            }
            (WatchReg::Persistent(path), Ok(_)) => {
                st.watches.persistent.insert(path.clone());
                Vec::new()
            }
            (WatchReg::Recursive(path), Ok(_)) => {
                st.watches.recursive.insert(path.clone());
                Vec::new()
            }
            (WatchReg::Remove(path, kind), Ok(_)) => st.watches.remove(path, *kind),
            _ => Vec::new(),
        };
        let auth_failed = p.xid == xid::AUTH && hdr.err != 0;
        if auth_failed {
            // The server closes the connection after a refused auth (§7.9);
            // forgetting the credential lets the reconnect succeed.
            if let Some(cred) = &p.auth {
                st.auths.retain(|a| a != cred);
            }
        }
        drop(st);
        if auth_failed {
            self.emit(Event::session("AuthFailed"));
        }
        for e in &removed {
            self.emit(e.clone());
        }
        if let Some(tx) = p.reply {
            let _ = tx.send(result);
        }
        Ok(())
    }

    /// Pings while connected, reconnects while not, until shut down.
    fn supervise(self: Arc<Self>) {
        while !self.shutdown.load(Ordering::SeqCst) {
            std::thread::sleep(SUPERVISOR_TICK);
            let mut st = lock(&self.state);
            match st.phase {
                Phase::Connected
                    if st.conn.is_some() && st.last_send.elapsed() >= st.ping_interval() =>
                {
                    self.ping_locked(&mut st);
                }
                Phase::Connecting
                    if !st.closing && st.last_attempt.elapsed() >= RECONNECT_BACKOFF =>
                {
                    // Failures are retried on the next round; the user sees
                    // the outcome as Disconnected/SyncConnected events.
                    let _ = self.connect_locked(&mut st);
                }
                _ => {}
            }
        }
    }

    fn ping_locked(&self, st: &mut State) {
        let mut frame = Vec::new();
        encode_request(xid::PING, &Request::Ping, &mut frame);
        let ok = st
            .conn
            .as_mut()
            .is_some_and(|c| c.stream.write_all(&frame).is_ok());
        if ok {
            st.last_send = Instant::now();
        } else {
            let gen = st.gen;
            self.lose_locked(st, gen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_get_default_port() {
        assert_eq!(
            parse_hosts("a:1, b ,c:3"),
            vec!["a:1".to_owned(), "b:2181".into(), "c:3".into()]
        );
    }

    #[test]
    fn one_shot_watches_are_consumed() {
        let mut w = Watches::default();
        w.data.insert("/a".into());
        w.child.insert("/a".into());
        w.persistent.insert("/a".into());
        w.on_event(EventType::NodeDataChanged, "/a");
        assert!(!w.data.contains("/a") && w.child.contains("/a"));
        w.on_event(EventType::NodeDeleted, "/a");
        assert!(!w.child.contains("/a") && w.persistent.contains("/a"));
        let ev = w.remove("/a", 3);
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].kind, "PersistentWatchRemoved");
        assert!(w.is_empty());
    }
}
