//! The peer transport: opaque frames between ensemble members.
//!
//! It runs on the consensus executor (one glommio `LocalExecutor` thread) and
//! carries raft messages and Roost's own member-to-member messages. It knows
//! nothing about them: a frame is a kind byte and a body. This doc is the
//! transport's specification.
//!
//! # Connections
//!
//! Every member opens one **outbound** connection to every peer and only
//! *sends* on it. Frames from a peer arrive on the **inbound** connection the
//! peer opened to us. A pair of members therefore has two TCP connections,
//! one per direction, and no tie-breaking is needed. Both sides set
//! `TCP_NODELAY` and TCP keepalive (`KEEPALIVE_*`) and `TCP_USER_TIMEOUT`
//! ([`TCP_USER_TIMEOUT`]), so a vanished host eventually errors the socket
//! even without a reset. The listener binds with `SO_REUSEADDR`.
//!
//! # Wire format (protocol version 2)
//!
//! All integers are little-endian.
//!
//! **Handshake** (protocol version 2). Right after connecting, the connector
//! sends its *opening*: a 30-byte hello record ([`HELLO_BYTES`]) followed by
//! a 16-byte random nonce ([`auth::NONCE_BYTES`]). The hello record:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 4 | magic `"ROST"` ([`HANDSHAKE_MAGIC`]) |
//! | 4 | 2 | protocol version ([`PROTOCOL_VERSION`]) |
//! | 6 | 8 | sender id (the connector's member id) |
//! | 14 | 8 | receiver id (the member the connector meant to reach) |
//! | 22 | 8 | cluster tag |
//!
//! The acceptor closes the connection, with a warning in its log, if the
//! magic is wrong, the version differs, the receiver id is not its own id,
//! the sender id is not one of its current peers, or the cluster tag differs
//! from its own. Otherwise it answers (66 bytes, [`wire::ANSWER_BYTES`]) with
//! its own hello (its id as sender, the connector's as receiver, its tag), its
//! own 16-byte nonce, and its 20-byte proof: HMAC-SHA1 under the ensemble's
//! shared secret ([`TransportConfig::secret`], `roost.quorumSecret`) of the
//! label `roost-peer-proof:acceptor:`, the connector's 46-byte opening, and
//! the acceptor's hello and nonce ([`auth::proof`]). The connector checks that
//! answer the same way (sender = the peer it dialled, receiver = itself, same
//! version and tag) and checks the proof, then sends its own 20-byte proof:
//! the same HMAC with the label `roost-peer-proof:connector:`. The acceptor
//! checks it before the connection replaces an older one from that peer or
//! delivers a frame; a wrong proof closes it with a warning. Each side thus
//! proves it holds the secret over nonces it did not choose, so a recorded
//! handshake cannot be replayed. A connection that has not finished its
//! handshake within [`HANDSHAKE_TIMEOUT`] is closed.
//!
//! **Frames.** After the handshake the connector sends frames back to back;
//! the acceptor sends nothing more (any byte it sends is a protocol error
//! that closes the connection):
//!
//! ```text
//! [u32 LE length = 1 + body length][u8 kind][body]
//! ```
//!
//! The length counts the kind byte and the body, never the prefix itself.
//! A length of 0, or one above the receiver's `frame_bytes_max`, is a
//! malformed frame: the receiver logs a warning and closes that connection
//! (the check is made on the prefix, before the body is buffered). Nothing
//! received from the network can panic the transport.
//!
//! # Events: when `Connected` and `Disconnected` fire
//!
//! The connection state of a peer, as reported by [`PeerTransport::is_connected`]
//! and the events, is the state of the **outbound** connection to it:
//!
//! - `Connected(id)` fires when an outbound connection to `id` has completed
//!   the handshake (the peer accepted us and answered). From the moment the
//!   consumer receives it, `send(id, ..)` accepts frames.
//! - `Disconnected(id)` fires when that established outbound connection ends,
//!   for whatever reason: a write error, EOF or an error on it (the peer
//!   closed or reset it; we read it all the time to notice at once), the
//!   **inbound** connection from `id` ending with EOF or an error (the peer
//!   is treated as dead and our outbound connection to it is closed too),
//!   or `id` being removed by [`PeerTransport::set_peers`]. Frames still
//!   queued for `id` are dropped (counted in `dropped_frames`).
//! - For each id the events strictly alternate, starting with `Connected`:
//!   one task per peer emits both, and a replacement task for the same id
//!   (after `set_peers` changed its address, or removed and re-added it)
//!   starts only after the previous one has emitted its last event. A failed
//!   connection attempt emits nothing.
//! - An inbound connection closed by *us* (malformed or oversize frame,
//!   replaced by a newer inbound connection from the same id) does not emit
//!   `Disconnected`; the peer sees its outbound connection end and
//!   reconnects.
//! - Frames travel on the inbound connection, so a `Frame` from `id` may be
//!   delivered while we are not `Connected` to `id` (and may even arrive
//!   after `Disconnected(id)` or after `id` was removed, if it was already
//!   queued in the channel).
//! - `is_connected(id)` turns false before `Disconnected(id)` is received
//!   and true just after `Connected(id)` was queued.
//! - After the [`PeerTransport`] is dropped (shut down) no more events are
//!   promised; the receiver ends once every task has finished.
//!
//! # Ordering
//!
//! Frames from one peer are delivered in the order it sent them, as long as
//! they travel on one connection. When a new inbound connection from the same
//! id replaces an old one (the peer restarted or reconnected), the old
//! reader stops delivering and the new one delivers nothing until the old one
//! has finished, so frames never interleave between connections. Frames
//! queued but unwritten when a connection fails are lost; raft retransmits.
//!
//! # Sending and the outbound bound
//!
//! [`PeerTransport::send`] never waits: it encodes the frame into the peer's
//! queue and wakes the peer's writer task, which takes *everything* queued
//! and writes it as one buffer (one `send` syscall for a burst of small
//! raft messages when the socket has room). It refuses with
//! `NotConnected` while the outbound connection is not established and with
//! `QueueFull` when the frame's wire bytes plus the bytes queued or being
//! written for that peer would exceed `queue_bytes_max`; a frame whose
//! `1 + body` exceeds `frame_bytes_max` is refused with `QueueFull` too (the
//! peer would close the connection on it). Every refusal counts in
//! `dropped_frames`.
//!
//! # Receiving and the inbound bound
//!
//! Each inbound connection has a reader task that parses frames and pushes
//! `PeerEvent::Frame` into the event channel. The channel is **bounded**
//! ([`event_queue_capacity`]: [`EVENT_QUEUE_BYTES_BUDGET`] divided by
//! `frame_bytes_max`, clamped to [`EVENT_QUEUE_EVENTS_MIN`]..=
//! [`EVENT_QUEUE_EVENTS_MAX`] events). When it is full a reader waits, which
//! means it stops reading its socket: TCP flow control then pushes back to
//! the sender, whose queue fills and whose `send` returns `QueueFull`. A slow
//! consumer costs memory bounded by the channel (capacity × the largest
//! frame) plus, per inbound connection, one waiting frame and a read buffer
//! of at most `frame_bytes_max + READ_CHUNK_BYTES`.
//!
//! # Reconnecting
//!
//! After an established connection fails the link reconnects at once; after a
//! failed attempt it waits [`RECONNECT_INTERVAL_MIN`], doubling up to
//! [`RECONNECT_INTERVAL_MAX`], and retries forever, so a peer that comes back
//! is reconnected within about `RECONNECT_INTERVAL_MAX`. A successful inbound
//! handshake from a peer we are not connected to cuts the wait short. An
//! attempt is bounded by [`CONNECT_TIMEOUT`] plus [`HANDSHAKE_TIMEOUT`].
//!
//! # Membership changes and shutdown
//!
//! [`PeerTransport::set_peers`] diffs the new list against the current one:
//! new ids get a link, removed ids lose their link (emitting `Disconnected`
//! if they were connected) and their inbound connection, and an id whose
//! address changed gets a new link. Dropping the last [`PeerTransport`]
//! clone shuts the transport down: the listener stops (its port is free at
//! once), every connection is shut down, every task ends, and then the event
//! receiver returns `None`. The receiver must live as long as the transport:
//! once it is dropped, each task stops at its next event and the transport
//! goes quiet (`send` returns `NotConnected`).

pub mod auth;
mod inbound;
mod outbound;
pub mod wire;

#[cfg(test)]
mod tests;

use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

pub use wire::{FRAME_HEADER_BYTES, HANDSHAKE_MAGIC, HELLO_BYTES, PROTOCOL_VERSION};

/// Largest accepted `frame_bytes_max` (the length prefix is a u32; this
/// keeps a single frame's buffer sane).
pub const FRAME_BYTES_MAX_CEILING: usize = 1 << 30;
/// Time allowed for the TCP connect of an outbound connection.
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);
/// Time allowed for the handshake exchange, on either side.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_millis(1000);
/// Wait after the first failed connection attempt.
pub const RECONNECT_INTERVAL_MIN: Duration = Duration::from_millis(10);
/// The wait between attempts doubles up to this and stays there.
pub const RECONNECT_INTERVAL_MAX: Duration = Duration::from_millis(100);
/// A failed-attempt streak is logged at warn on its first attempt and then
/// every this many attempts (about 10 s at the longest interval); debug otherwise.
pub const CONNECT_FAILURE_WARN_EVERY: u32 = 100;
/// The same handshake refusal (reason, claimed id) is logged at warn at most
/// once per this interval; debug otherwise.
pub const REFUSAL_WARN_INTERVAL: Duration = Duration::from_secs(10);
/// Distinct refusal keys remembered for rate limiting (the map is cleared
/// when full).
pub const REFUSAL_WARN_KEYS_MAX: usize = 64;
/// Accepted connections that may be in their handshake at once; more are
/// closed at accept.
pub const INBOUND_HANDSHAKES_MAX: usize = 16;
/// Listen backlog of the quorum port.
pub const LISTEN_BACKLOG: i32 = 64;
/// Pause after a failed accept (EMFILE and friends).
pub const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// Bytes asked of the socket per inbound read (more when a known frame needs more).
pub const READ_CHUNK_BYTES: usize = 64 * 1024;
/// An inbound read buffer larger than this is shrunk once it is drained.
pub const READ_BUFFER_KEEP_BYTES: usize = 256 * 1024;
/// A writer's spare batch buffer larger than this is shrunk after a write.
pub const WRITE_BUFFER_KEEP_BYTES: usize = 1024 * 1024;
/// Target bytes of frames waiting in the event channel; with
/// `frame_bytes_max` it gives the channel's capacity in events.
pub const EVENT_QUEUE_BYTES_BUDGET: usize = 64 * 1024 * 1024;
/// Smallest event channel capacity, in events.
pub const EVENT_QUEUE_EVENTS_MIN: usize = 16;
/// Largest event channel capacity, in events.
pub const EVENT_QUEUE_EVENTS_MAX: usize = 4096;
/// TCP keepalive: idle time before the first probe.
pub const KEEPALIVE_IDLE: Duration = Duration::from_secs(2);
/// TCP keepalive: time between probes.
pub const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(1);
/// TCP keepalive: unanswered probes before the connection is dropped.
pub const KEEPALIVE_PROBES: u32 = 3;
/// `TCP_USER_TIMEOUT`: sent data unacknowledged this long errors the socket.
pub const TCP_USER_TIMEOUT: Duration = Duration::from_secs(5);

/// What a member needs to talk to the others.
/// Read-only configuration, built once at start-up and moved to the consensus executor.
#[derive(Clone, Debug)]
pub struct TransportConfig {
    pub my_id: u64,
    /// This member's quorum port.
    pub listen: SocketAddr,
    /// The other members (never includes `my_id`).
    pub peers: Vec<(u64, SocketAddr)>,
    /// Members refuse a peer whose handshake tag differs (misconfigured ensemble).
    pub cluster_tag: u64,
    /// The ensemble's shared secret: each side of a handshake proves it
    /// holds it ([`auth`]); a peer that cannot is refused.
    pub secret: Vec<u8>,
    /// Largest length prefix (kind + body) accepted; a bigger incoming
    /// frame closes that connection, a bigger outgoing one is refused.
    pub frame_bytes_max: usize,
    /// Per peer, wire bytes queued or being written; beyond it `send` refuses.
    pub queue_bytes_max: usize,
}

/// What the transport tells its consumer. See the module doc for exactly
/// when `Connected` and `Disconnected` fire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PeerEvent {
    Connected(u64),
    Disconnected(u64),
    Frame { from: u64, kind: u8, body: Vec<u8> },
}

/// Why `send` refused a frame (the frame is dropped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    #[error("not a current peer")]
    UnknownPeer,
    #[error("no established connection to the peer")]
    NotConnected,
    #[error("the peer's outbound queue is full (or the frame exceeds frame_bytes_max)")]
    QueueFull,
}

#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("cannot listen on the quorum address {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid transport configuration: {0}")]
    Config(String),
}

/// Counters of one peer, as of the call.
/// A value: a copy taken from the peer transport (consensus executor); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerStats {
    pub id: u64,
    pub addr: SocketAddr,
    /// The outbound connection is established (see the module doc).
    pub connected: bool,
    /// An inbound connection from the peer passed its handshake and is open.
    pub inbound_connected: bool,
    /// Frames and wire bytes (prefixes included) written to the socket.
    pub frames_sent: u64,
    pub bytes_sent: u64,
    /// Batches written (each one buffer handed to the socket in one
    /// `write_all`); `frames_sent / batches_sent` is the batching factor.
    pub batches_sent: u64,
    /// Frames and wire bytes read from the peer's inbound connections.
    pub frames_received: u64,
    pub bytes_received: u64,
    /// Wire bytes queued or being written right now.
    pub queued_bytes: usize,
    /// Outbound connections established after the first one.
    pub reconnects: u64,
    /// Frames refused by `send` plus frames lost with a failed connection.
    pub dropped_frames: u64,
}

/// The transport handle. Owned by the consensus executor (not `Send`);
/// clones share one transport, which shuts down when the last clone drops.
#[derive(Clone)]
pub struct PeerTransport {
    owner: Rc<Owner>,
}

struct Owner {
    inner: Rc<Inner>,
}

impl Drop for Owner {
    fn drop(&mut self) {
        self.inner.shutdown();
    }
}

impl PeerTransport {
    /// Binds the listener (`SO_REUSEADDR`; a bind error, e.g. the port is in
    /// use, is returned) and starts connecting to every peer.
    ///
    /// # Panics
    /// If called outside a glommio executor.
    pub fn start(
        config: TransportConfig,
    ) -> Result<(PeerTransport, LocalReceiver<PeerEvent>), TransportError> {
        validate(&config)?;
        let socket = bind_listener(config.listen).map_err(|source| TransportError::Bind {
            addr: config.listen,
            source,
        })?;
        let local_addr = socket
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(config.listen);
        let listen_fd = socket.as_raw_fd();
        // SAFETY: a bound, listening TCP socket we own; ownership moves to glommio.
        let listener = unsafe { glommio::net::TcpListener::from_raw_fd(socket.into_raw_fd()) };
        let (events, receiver) =
            local_channel::new_bounded(event_queue_capacity(config.frame_bytes_max));
        let inner = Rc::new(Inner {
            my_id: config.my_id,
            cluster_tag: config.cluster_tag,
            secret: config.secret.clone(),
            frame_bytes_max: config.frame_bytes_max,
            queue_bytes_max: config.queue_bytes_max,
            local_addr,
            listen_fd: Cell::new(Some(listen_fd)),
            events,
            stop: Latch::new(),
            peers: RefCell::new(HashMap::new()),
            link_exits: RefCell::new(HashMap::new()),
            inbound: RefCell::new(HashMap::new()),
            accepted: RefCell::new(HashMap::new()),
            next_conn: Cell::new(0),
            handshakes: Cell::new(0),
            refusals: RefCell::new(HashMap::new()),
        });
        tracing::info!(
            my_id = config.my_id,
            listen = %local_addr,
            peers = config.peers.len(),
            "peer transport listening"
        );
        glommio::spawn_local(inbound::accept_loop(inner.clone(), listener)).detach();
        inner.set_peers(config.peers);
        Ok((
            PeerTransport {
                owner: Rc::new(Owner { inner }),
            },
            receiver,
        ))
    }

    /// Queues a frame for the peer's writer task; never waits.
    pub fn send(&self, to: u64, kind: u8, body: &[u8]) -> Result<(), SendError> {
        self.owner.inner.send(to, kind, body)
    }

    /// Whether the outbound connection to `id` is established.
    pub fn is_connected(&self, id: u64) -> bool {
        self.owner
            .inner
            .peers
            .borrow()
            .get(&id)
            .is_some_and(|p| p.state.borrow().connected)
    }

    /// Membership change (reconfig): start/stop talking to peers. `my_id` and
    /// repeated ids in the list are ignored with a warning.
    pub fn set_peers(&self, peers: Vec<(u64, SocketAddr)>) {
        self.owner.inner.set_peers(peers);
    }

    /// Per-peer counters, ordered by id.
    pub fn stats(&self) -> Vec<PeerStats> {
        self.owner.inner.stats()
    }

    /// The address the listener is bound to (the real port when the
    /// configuration asked for port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.owner.inner.local_addr
    }
}

/// Event channel capacity for a given frame limit (see the module doc).
pub fn event_queue_capacity(frame_bytes_max: usize) -> usize {
    (EVENT_QUEUE_BYTES_BUDGET / frame_bytes_max.max(1))
        .clamp(EVENT_QUEUE_EVENTS_MIN, EVENT_QUEUE_EVENTS_MAX)
}

fn validate(config: &TransportConfig) -> Result<(), TransportError> {
    let bad = |s: String| Err(TransportError::Config(s));
    if config.frame_bytes_max == 0 || config.frame_bytes_max > FRAME_BYTES_MAX_CEILING {
        return bad(format!(
            "frame_bytes_max {} must be in 1..={FRAME_BYTES_MAX_CEILING}",
            config.frame_bytes_max
        ));
    }
    let largest = FRAME_HEADER_BYTES + config.frame_bytes_max;
    if config.queue_bytes_max < largest {
        return bad(format!(
            "queue_bytes_max {} cannot hold one frame of frame_bytes_max ({largest} bytes on the wire)",
            config.queue_bytes_max
        ));
    }
    let mut seen = std::collections::HashSet::new();
    for (id, addr) in &config.peers {
        if *id == config.my_id {
            return bad(format!("the peer list contains this member's own id {id}"));
        }
        if !seen.insert(*id) {
            return bad(format!("peer id {id} is listed twice (again at {addr})"));
        }
    }
    Ok(())
}

fn bind_listener(addr: SocketAddr) -> std::io::Result<socket2::Socket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(socket)
}

/// TCP_NODELAY, keepalive and TCP_USER_TIMEOUT on a peer connection. A
/// failure is logged and otherwise ignored (the connection still works).
fn tune_socket(fd: RawFd) {
    // SAFETY: `fd` is an open socket owned by the caller for this call.
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let sock = socket2::SockRef::from(&borrowed);
    let keepalive = socket2::TcpKeepalive::new()
        .with_time(KEEPALIVE_IDLE)
        .with_interval(KEEPALIVE_INTERVAL)
        .with_retries(KEEPALIVE_PROBES);
    let result = sock
        .set_nodelay(true)
        .and_then(|_| sock.set_tcp_keepalive(&keepalive))
        .and_then(|_| sock.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT)));
    if let Err(e) = result {
        tracing::warn!(error = %e, "could not set peer socket options");
    }
}

/// Shuts a socket down in both directions: pending reads return EOF and
/// writes fail, which ends whichever task owns it.
fn shutdown_fd(fd: RawFd) {
    // SAFETY: callers pass fds registered by their owners, which deregister
    // before the socket is closed, so the fd is the same open socket.
    unsafe {
        libc::shutdown(fd, libc::SHUT_RDWR);
    }
}

/// A one-shot signal many tasks can wait on: a glommio semaphore with no
/// units that is closed to fire (closing wakes every waiter; a dropped wait
/// unregisters itself).
/// Owned by the peer transport (consensus executor).
pub(crate) struct Latch {
    sem: glommio::sync::Semaphore,
    fired: Cell<bool>,
}

impl Latch {
    fn new() -> Latch {
        Latch {
            sem: glommio::sync::Semaphore::new(0),
            fired: Cell::new(false),
        }
    }

    fn fire(&self) {
        if !self.fired.replace(true) {
            self.sem.close();
        }
    }

    fn is_fired(&self) -> bool {
        self.fired.get()
    }

    async fn wait(&self) {
        if !self.is_fired() {
            // No units are ever signalled: this returns only when closed.
            let _ = self.sem.acquire(1).await;
        }
    }
}

/// Fires its latch when dropped (task end, including cancellation).
struct FireOnDrop(Rc<Latch>);

impl Drop for FireOnDrop {
    fn drop(&mut self) {
        self.0.fire();
    }
}

/// The transport's shared state; every task holds an `Rc` of it.
pub(crate) struct Inner {
    my_id: u64,
    cluster_tag: u64,
    secret: Vec<u8>,
    frame_bytes_max: usize,
    queue_bytes_max: usize,
    local_addr: SocketAddr,
    /// The listening socket while the accept loop owns it (cleared before
    /// the listener is dropped, so shutdown never touches a reused fd).
    listen_fd: Cell<Option<RawFd>>,
    events: LocalSender<PeerEvent>,
    /// Fired by shutdown.
    stop: Latch,
    /// Current members.
    peers: RefCell<HashMap<u64, Rc<Peer>>>,
    /// The newest link task's exit latch per id, until it exits: a new link
    /// for the id waits on it (so events for an id never interleave).
    link_exits: RefCell<HashMap<u64, Rc<Latch>>>,
    /// The current inbound connection per id.
    inbound: RefCell<HashMap<u64, InboundSlot>>,
    /// Every accepted connection still open, by connection number (for shutdown).
    accepted: RefCell<HashMap<u64, RawFd>>,
    next_conn: Cell<u64>,
    /// Accepted connections still in their handshake.
    handshakes: Cell<usize>,
    /// Last warn time per (refusal reason, claimed id).
    refusals: RefCell<HashMap<(&'static str, u64), std::time::Instant>>,
}

struct InboundSlot {
    conn: u64,
    fd: RawFd,
    /// Fired when that connection's task ends.
    exit: Rc<Latch>,
}

/// One member we talk to; replaced (not mutated) when its address changes.
/// Owned by the peer transport (consensus executor).
pub(crate) struct Peer {
    id: u64,
    addr: SocketAddr,
    state: RefCell<LinkState>,
    /// "Look again": queued data, stop, or a reason to retry a connect now.
    wake: LocalSender<()>,
    stop: Latch,
    exit: Rc<Latch>,
}

#[derive(Default)]
struct LinkState {
    connected: bool,
    stopping: bool,
    /// Encoded frames waiting for the writer.
    queue: Vec<u8>,
    queue_frames: u64,
    /// The batch the writer is writing now.
    in_flight_bytes: usize,
    in_flight_frames: u64,
    /// The outbound socket while a connection is established.
    fd: Option<RawFd>,
    /// Why we closed the connection ourselves, for the log.
    close_reason: Option<&'static str>,
    established: u64,
    frames_sent: u64,
    bytes_sent: u64,
    batches_sent: u64,
    frames_received: u64,
    bytes_received: u64,
    dropped_frames: u64,
}

impl LinkState {
    fn queued_bytes(&self) -> usize {
        self.queue.len() + self.in_flight_bytes
    }
}

impl Peer {
    fn new(id: u64, addr: SocketAddr) -> (Rc<Peer>, LocalReceiver<()>) {
        let (wake, wake_rx) = local_channel::new_bounded(1);
        let peer = Rc::new(Peer {
            id,
            addr,
            state: RefCell::new(LinkState::default()),
            wake,
            stop: Latch::new(),
            exit: Rc::new(Latch::new()),
        });
        (peer, wake_rx)
    }

    fn wake(&self) {
        let _ = self.wake.try_send(());
    }

    fn is_stopping(&self) -> bool {
        self.state.borrow().stopping
    }

    /// Ends the link: its task closes the connection (emitting
    /// `Disconnected` if it was established) and exits.
    fn stop(&self) {
        let fd = {
            let mut st = self.state.borrow_mut();
            st.stopping = true;
            st.close_reason
                .get_or_insert("peer removed or transport stopped");
            st.fd
        };
        self.stop.fire();
        self.wake();
        if let Some(fd) = fd {
            shutdown_fd(fd);
        }
    }

    /// Closes the established outbound connection, if any; the link task
    /// reports it and reconnects at once.
    fn abort_connection(&self, reason: &'static str) {
        let fd = {
            let mut st = self.state.borrow_mut();
            if !st.connected {
                return;
            }
            st.close_reason.get_or_insert(reason);
            st.fd
        };
        if let Some(fd) = fd {
            shutdown_fd(fd);
        }
    }
}

impl Inner {
    fn send(&self, to: u64, kind: u8, body: &[u8]) -> Result<(), SendError> {
        let peers = self.peers.borrow();
        let peer = peers.get(&to).ok_or(SendError::UnknownPeer)?;
        let mut st = peer.state.borrow_mut();
        if !st.connected {
            st.dropped_frames += 1;
            return Err(SendError::NotConnected);
        }
        let wire = wire::frame_wire_bytes(body.len());
        if wire::FRAME_KIND_BYTES + body.len() > self.frame_bytes_max
            || st.queued_bytes() + wire > self.queue_bytes_max
        {
            st.dropped_frames += 1;
            return Err(SendError::QueueFull);
        }
        let was_empty = st.queue.is_empty();
        wire::encode_frame(&mut st.queue, kind, body);
        st.queue_frames += 1;
        drop(st);
        if was_empty {
            peer.wake();
        }
        Ok(())
    }

    fn set_peers(self: &Rc<Self>, peers: Vec<(u64, SocketAddr)>) {
        if self.stop.is_fired() {
            return;
        }
        let mut wanted: HashMap<u64, SocketAddr> = HashMap::new();
        for (id, addr) in peers {
            if id == self.my_id {
                tracing::warn!(id, "set_peers: ignoring this member's own id");
                continue;
            }
            if wanted.insert(id, addr).is_some() {
                tracing::warn!(id, %addr, "set_peers: id listed twice; using the last address");
            }
        }
        let mut removed = Vec::new();
        let mut added = Vec::new();
        {
            let current = self.peers.borrow();
            for (id, peer) in current.iter() {
                match wanted.get(id) {
                    Some(addr) if *addr == peer.addr => {}
                    _ => removed.push(*id),
                }
            }
            for (id, addr) in &wanted {
                if current.get(id).is_none_or(|p| p.addr != *addr) {
                    added.push((*id, *addr));
                }
            }
        }
        for id in removed {
            let peer = self.peers.borrow_mut().remove(&id);
            if let Some(peer) = peer {
                tracing::info!(peer = id, addr = %peer.addr, "peer link removed");
                peer.stop();
            }
            if !wanted.contains_key(&id) {
                // No longer a member: its frames are no longer wanted.
                let slot = self.inbound.borrow_mut().remove(&id);
                if let Some(slot) = slot {
                    shutdown_fd(slot.fd);
                }
            }
        }
        added.sort_unstable();
        for (id, addr) in added {
            self.start_link(id, addr);
        }
    }

    fn start_link(self: &Rc<Self>, id: u64, addr: SocketAddr) {
        let (peer, wake_rx) = Peer::new(id, addr);
        let previous = self.link_exits.borrow_mut().insert(id, peer.exit.clone());
        self.peers.borrow_mut().insert(id, peer.clone());
        tracing::debug!(peer = id, %addr, "peer link starting");
        glommio::spawn_local(outbound::run_link(self.clone(), peer, wake_rx, previous)).detach();
    }

    /// Called by a link task as it exits.
    fn link_exited(&self, peer: &Peer) {
        let mut exits = self.link_exits.borrow_mut();
        if exits
            .get(&peer.id)
            .is_some_and(|l| Rc::ptr_eq(l, &peer.exit))
        {
            exits.remove(&peer.id);
        }
    }

    fn stats(&self) -> Vec<PeerStats> {
        let inbound = self.inbound.borrow();
        let mut out: Vec<PeerStats> = self
            .peers
            .borrow()
            .values()
            .map(|p| {
                let st = p.state.borrow();
                PeerStats {
                    id: p.id,
                    addr: p.addr,
                    connected: st.connected,
                    inbound_connected: inbound.contains_key(&p.id),
                    frames_sent: st.frames_sent,
                    batches_sent: st.batches_sent,
                    bytes_sent: st.bytes_sent,
                    frames_received: st.frames_received,
                    bytes_received: st.bytes_received,
                    queued_bytes: st.queued_bytes(),
                    reconnects: st.established.saturating_sub(1),
                    dropped_frames: st.dropped_frames,
                }
            })
            .collect();
        out.sort_unstable_by_key(|s| s.id);
        out
    }

    /// Queues an event, waiting for room (back-pressure) unless the
    /// transport stops meanwhile. False if it was not queued.
    async fn emit(&self, event: PeerEvent) -> bool {
        if self.stop.is_fired() {
            return false;
        }
        futures_lite::future::or(async { self.events.send(event).await.is_ok() }, async {
            self.stop.wait().await;
            false
        })
        .await
    }

    /// The peer behind an inbound connection that ended by EOF or error is
    /// treated as dead: our outbound connection to it is closed too.
    fn inbound_lost(&self, id: u64) {
        let peer = self.peers.borrow().get(&id).cloned();
        if let Some(peer) = peer {
            peer.abort_connection("the inbound connection from the peer ended");
        }
    }

    fn shutdown(&self) {
        if self.stop.is_fired() {
            return;
        }
        tracing::info!(my_id = self.my_id, listen = %self.local_addr, "peer transport stopping");
        self.stop.fire();
        // Frees the port at once even while glommio still holds the socket.
        if let Some(fd) = self.listen_fd.take() {
            shutdown_fd(fd);
        }
        let peers: Vec<Rc<Peer>> = self.peers.borrow_mut().drain().map(|(_, p)| p).collect();
        for peer in peers {
            peer.stop();
        }
        self.inbound.borrow_mut().clear();
        let fds: Vec<RawFd> = self.accepted.borrow().values().copied().collect();
        for fd in fds {
            shutdown_fd(fd);
        }
    }
}
