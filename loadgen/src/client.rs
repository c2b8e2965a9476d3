//! A general non-blocking ZooKeeper session for the workloads that are not
//! about raw throughput (watch, session storm, failover): any request, watch
//! notifications, re-attaching an existing session by id and password.
//!
//! The mixed workload keeps its own leaner session ([`crate::conn`]) with
//! pre-encoded frames; here requests are encoded per send, which costs a few
//! hundred nanoseconds that these workloads never notice. [`Pool`] is the
//! event loop they share: one mio poller over a slab of clients.
//!
//! A [`Pool`] and its clients are owned by exactly one thread.

use std::collections::VecDeque;
use std::io::{self, Read};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use roost::proto::codec::{
    decode_connect_response, decode_reply_header, decode_watcher_event, encode_connect_request,
    encode_request, request_opcode,
};
use roost::proto::frame::split_frame;
use roost::proto::{xid, ConnectRequest, OpCode, Request, Xid};

use crate::conn::REPLY_FRAME_LEN_MAX;
use crate::stats::ErrorKey;

/// Bytes read per `read` call; the buffer grows only for larger frames.
const READ_CHUNK_BYTES: usize = 64 << 10;
/// Poller events handled per wake-up.
const POOL_EVENTS_MAX: usize = 1024;

/// What the application attaches to a request, returned with its reply.
pub type Tag = u64;

/// A session to re-attach: what ZooKeeper's ConnectRequest needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionCreds {
    pub id: i64,
    pub passwd: [u8; 16],
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientState {
    Handshaking,
    Ready,
    Done,
}

/// What a client reports to its workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientEvent {
    /// The handshake finished. `reattached` is true when an existing
    /// session id was asked for and granted.
    Connected {
        creds: SessionCreds,
        reattached: bool,
        timeout_ms: i32,
    },
    /// The server refused the session (ZooKeeper's answer to an expired or
    /// unknown session id: timeout 0).
    Expired,
    Reply {
        tag: Tag,
        opcode: OpCode,
        sent: Instant,
        outcome: Result<(), ErrorKey>,
    },
    /// A watch fired (xid -1).
    Watch { event_type: i32, path: String },
    /// The connection ended (EOF, reset, bad frame) before or after the
    /// handshake; requests in flight were reported as failed replies first.
    Lost { during_handshake: bool },
    /// closeSession was answered.
    Closed,
}

struct InFlight {
    xid: Xid,
    opcode: OpCode,
    tag: Tag,
    sent: Instant,
}

pub struct Client {
    stream: TcpStream,
    pub state: ClientState,
    asked: Option<SessionCreds>,
    timeout_requested_ms: i32,
    ping_after: Duration,
    /// Off for sessions meant to go silent (expiry tests).
    pub pings: bool,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    wstart: usize,
    inflight: VecDeque<InFlight>,
    next_xid: Xid,
    last_send: Instant,
    ping_outstanding: bool,
    /// When the TCP connect started (connect latency origin).
    pub started: Instant,
    closing: bool,
    /// When bytes last arrived.
    last_recv: Instant,
    /// As ZooKeeper's Java client: a handshake not answered within the
    /// session timeout divided by the number of servers, or a connection
    /// silent for two thirds of the session timeout, is given up and the
    /// next server tried (what a client of a frozen or cut-off server does).
    connect_timeout: Duration,
    read_timeout: Duration,
}

impl Client {
    /// Starts a non-blocking connect and queues the ConnectRequest; with
    /// `creds`, asks to re-attach that session.
    /// `servers`: how many the client may try (the connect timeout is the
    /// session timeout shared among them, as the Java client does); 0 for
    /// no connect or read timeout (workloads that keep sessions silent).
    pub fn connect(
        addr: SocketAddr,
        timeout_ms: i32,
        creds: Option<SessionCreds>,
        now: Instant,
        servers: usize,
    ) -> io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_nodelay(true)?;
        let mut wbuf = Vec::with_capacity(256);
        encode_connect_request(
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout_ms,
                session_id: creds.map_or(0, |c| c.id),
                passwd: creds.map_or(vec![0; 16], |c| c.passwd.to_vec()),
                read_only: Some(false),
            },
            &mut wbuf,
        );
        Ok(Client {
            stream,
            state: ClientState::Handshaking,
            asked: creds,
            timeout_requested_ms: timeout_ms,
            ping_after: Duration::from_millis(timeout_ms.max(3) as u64 / 3),
            pings: true,
            rbuf: Vec::new(),
            wbuf,
            wstart: 0,
            inflight: VecDeque::new(),
            next_xid: 1,
            last_send: now,
            ping_outstanding: false,
            started: now,
            closing: false,
            last_recv: now,
            connect_timeout: match servers {
                0 => Duration::MAX,
                n => Duration::from_millis((timeout_ms.max(1) as u64 / n as u64).max(1)),
            },
            read_timeout: match servers {
                0 => Duration::MAX,
                _ => Duration::from_millis(timeout_ms.max(3) as u64 * 2 / 3),
            },
        })
    }

    /// Gives the connection up if it outlived its connect or read timeout.
    fn check_timeouts(&mut self, now: Instant, out: &mut Vec<ClientEvent>) {
        let limit = match self.state {
            ClientState::Handshaking => {
                now.saturating_duration_since(self.started) > self.connect_timeout
            }
            ClientState::Ready => now.saturating_duration_since(self.last_recv) > self.read_timeout,
            ClientState::Done => false,
        };
        if limit {
            self.fail(now, out);
        }
    }

    pub fn is_ready(&self) -> bool {
        self.state == ClientState::Ready && !self.closing
    }

    pub fn inflight(&self) -> usize {
        self.inflight.len()
    }

    fn take_xid(&mut self) -> Xid {
        let x = self.next_xid;
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    /// Queues a request; it goes out at the pool's next flush.
    pub fn send(&mut self, req: &Request, tag: Tag, now: Instant) {
        debug_assert!(self.state == ClientState::Ready);
        let xid = self.take_xid();
        encode_request(xid, req, &mut self.wbuf);
        self.inflight.push_back(InFlight {
            xid,
            opcode: request_opcode(req),
            tag,
            sent: now,
        });
    }

    pub fn queue_close(&mut self, now: Instant) {
        if self.is_ready() {
            self.send(&Request::CloseSession, 0, now);
            self.closing = true;
        }
    }

    fn ping_if_idle(&mut self, now: Instant) -> bool {
        if !self.pings
            || self.state != ClientState::Ready
            || self.ping_outstanding
            || now.saturating_duration_since(self.last_send) < self.ping_after
        {
            return false;
        }
        encode_request(xid::PING, &Request::Ping, &mut self.wbuf);
        self.ping_outstanding = true;
        true
    }

    fn flush(&mut self, now: Instant) -> io::Result<()> {
        crate::conn::write_pending(
            &mut self.stream,
            &mut self.wbuf,
            &mut self.wstart,
            &mut self.last_send,
            now,
        )
    }

    fn has_unsent(&self) -> bool {
        self.wstart < self.wbuf.len()
    }

    fn on_readable(&mut self, now: Instant, out: &mut Vec<ClientEvent>) {
        let mut chunk = [0u8; READ_CHUNK_BYTES];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return self.fail(now, out),
                Ok(n) => {
                    self.last_recv = now;
                    self.rbuf.extend_from_slice(&chunk[..n]);
                    if self.process(now, out).is_err() {
                        return self.fail(now, out);
                    }
                    if self.state == ClientState::Done {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.fail(now, out),
            }
        }
    }

    fn process(&mut self, _now: Instant, out: &mut Vec<ClientEvent>) -> Result<(), ErrorKey> {
        let mut at = 0;
        let result = loop {
            let Some((len, body)) =
                split_frame(&self.rbuf[at..], REPLY_FRAME_LEN_MAX).map_err(|_| ErrorKey::Decode)?
            else {
                break Ok(());
            };
            let body = body.to_vec();
            at += len;
            if let Err(e) = self.frame(&body, out) {
                break Err(e);
            }
            if self.state == ClientState::Done {
                break Ok(());
            }
        };
        self.rbuf.drain(..at);
        result
    }

    fn frame(&mut self, body: &[u8], out: &mut Vec<ClientEvent>) -> Result<(), ErrorKey> {
        if self.state == ClientState::Handshaking {
            let resp = decode_connect_response(body).map_err(|_| ErrorKey::Decode)?;
            if resp.timeout_ms <= 0 {
                self.state = ClientState::Done;
                out.push(ClientEvent::Expired);
                return Ok(());
            }
            let timeout_ms = resp.timeout_ms.min(self.timeout_requested_ms.max(1));
            self.ping_after = Duration::from_millis(u64::from(timeout_ms.unsigned_abs()) / 3);
            self.state = ClientState::Ready;
            let creds = SessionCreds {
                id: resp.session_id,
                passwd: resp.passwd,
            };
            out.push(ClientEvent::Connected {
                creds,
                reattached: self.asked.is_some_and(|a| a.id == creds.id),
                timeout_ms: resp.timeout_ms,
            });
            return Ok(());
        }
        let (hdr, rest) = decode_reply_header(body).map_err(|_| ErrorKey::Decode)?;
        match hdr.xid {
            xid::PING => self.ping_outstanding = false,
            xid::NOTIFICATION => {
                let ev = decode_watcher_event(rest).map_err(|_| ErrorKey::Decode)?;
                out.push(ClientEvent::Watch {
                    event_type: ev.event_type as i32,
                    path: ev.path,
                });
            }
            x => {
                let head = self.inflight.pop_front().ok_or(ErrorKey::XidMismatch)?;
                if head.xid != x {
                    self.inflight.push_front(head);
                    return Err(ErrorKey::XidMismatch);
                }
                if head.opcode == OpCode::CloseSession {
                    self.state = ClientState::Done;
                    out.push(ClientEvent::Closed);
                    return Ok(());
                }
                out.push(ClientEvent::Reply {
                    tag: head.tag,
                    opcode: head.opcode,
                    sent: head.sent,
                    outcome: if hdr.err == 0 {
                        Ok(())
                    } else {
                        Err(ErrorKey::Server(hdr.err))
                    },
                });
            }
        }
        Ok(())
    }

    /// The connection is over: requests in flight fail with it.
    fn fail(&mut self, _now: Instant, out: &mut Vec<ClientEvent>) {
        if self.state == ClientState::Done {
            return;
        }
        let during_handshake = self.state == ClientState::Handshaking;
        self.state = ClientState::Done;
        for f in self.inflight.drain(..) {
            if f.opcode != OpCode::CloseSession {
                out.push(ClientEvent::Reply {
                    tag: f.tag,
                    opcode: f.opcode,
                    sent: f.sent,
                    outcome: Err(ErrorKey::ConnectionLoss),
                });
            }
        }
        out.push(ClientEvent::Lost { during_handshake });
    }
}

/// One thread's event loop over a slab of clients (slot = token).
pub struct Pool {
    poll: Poll,
    events: Events,
    clients: Vec<Option<Client>>,
    dirty: Vec<usize>,
    next_ping_check: Instant,
}

/// How often idle clients are checked for a ping.
const PING_CHECK_PERIOD: Duration = Duration::from_millis(100);

impl Pool {
    pub fn new(slots: usize) -> io::Result<Pool> {
        Ok(Pool {
            poll: Poll::new()?,
            events: Events::with_capacity(POOL_EVENTS_MAX),
            clients: (0..slots).map(|_| None).collect(),
            dirty: Vec::new(),
            next_ping_check: Instant::now(),
        })
    }

    pub fn slots(&self) -> usize {
        self.clients.len()
    }

    pub fn get(&self, slot: usize) -> Option<&Client> {
        self.clients[slot].as_ref()
    }

    pub fn get_mut(&mut self, slot: usize) -> Option<&mut Client> {
        self.dirty.push(slot);
        self.clients[slot].as_mut()
    }

    /// Connects slot `slot` (replacing whatever was there). A connect that
    /// fails at once (no route, fd limit) returns the error.
    pub fn connect(
        &mut self,
        slot: usize,
        addr: SocketAddr,
        timeout_ms: i32,
        creds: Option<SessionCreds>,
        now: Instant,
        servers: usize,
    ) -> io::Result<()> {
        self.remove(slot);
        let mut c = Client::connect(addr, timeout_ms, creds, now, servers)?;
        self.poll.registry().register(
            &mut c.stream,
            Token(slot),
            Interest::READABLE | Interest::WRITABLE,
        )?;
        self.clients[slot] = Some(c);
        self.dirty.push(slot);
        Ok(())
    }

    /// Drops slot `slot`'s connection without closing its session (the
    /// server sees a TCP close; the session lives on until its timeout).
    pub fn remove(&mut self, slot: usize) {
        if let Some(mut c) = self.clients[slot].take() {
            let _ = self.poll.registry().deregister(&mut c.stream);
        }
    }

    pub fn send(&mut self, slot: usize, req: &Request, tag: Tag, now: Instant) {
        if let Some(c) = self.clients[slot].as_mut() {
            c.send(req, tag, now);
            self.dirty.push(slot);
        }
    }

    /// Flushes queued bytes, waits up to `timeout` for socket events and
    /// returns what happened, per slot. A client whose connection ended
    /// stays in its slot as `Done` until removed or reconnected.
    pub fn turn(
        &mut self,
        timeout: Duration,
        out: &mut Vec<(usize, ClientEvent)>,
    ) -> io::Result<Instant> {
        let now = Instant::now();
        if now >= self.next_ping_check {
            let mut evs = Vec::new();
            for (i, c) in self.clients.iter_mut().enumerate() {
                if let Some(c) = c {
                    c.check_timeouts(now, &mut evs);
                    out.extend(evs.drain(..).map(|e| (i, e)));
                    if c.ping_if_idle(now) {
                        self.dirty.push(i);
                    }
                }
            }
            self.next_ping_check = now + PING_CHECK_PERIOD;
        }
        let timeout = timeout.min(self.next_ping_check.saturating_duration_since(now));
        let mut evs = Vec::new();
        self.flush_dirty(now, out, &mut evs);
        if let Err(e) = self.poll.poll(&mut self.events, Some(timeout)) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
        let now = Instant::now();
        let ready: Vec<(usize, bool, bool)> = self
            .events
            .iter()
            .map(|e| (e.token().0, e.is_readable(), e.is_writable()))
            .collect();
        for (slot, readable, writable) in ready {
            let Some(c) = self.clients.get_mut(slot).and_then(Option::as_mut) else {
                continue;
            };
            if c.state == ClientState::Done {
                continue;
            }
            if writable && c.has_unsent() {
                self.dirty.push(slot);
            }
            if readable {
                c.on_readable(now, &mut evs);
                out.extend(evs.drain(..).map(|e| (slot, e)));
            }
        }
        self.flush_dirty(now, out, &mut evs);
        Ok(now)
    }

    fn flush_dirty(
        &mut self,
        now: Instant,
        out: &mut Vec<(usize, ClientEvent)>,
        evs: &mut Vec<ClientEvent>,
    ) {
        let mut dirty = std::mem::take(&mut self.dirty);
        dirty.sort_unstable();
        dirty.dedup();
        for &slot in &dirty {
            if let Some(c) = self.clients[slot].as_mut() {
                if c.state != ClientState::Done && c.flush(now).is_err() {
                    c.fail(now, evs);
                    out.extend(evs.drain(..).map(|e| (slot, e)));
                }
            }
        }
        dirty.clear();
        self.dirty = dirty;
    }
}

/// The `k0000123` key index at the end of a key path under `root`.
pub fn key_index(root: &str, path: &str) -> Option<u64> {
    path.strip_prefix(root)?.strip_prefix("/k")?.parse().ok()
}

/// Raises this process's open-file limit to its hard limit: a session
/// storm holds one socket per session, far above the usual soft 1024.
pub fn raise_fd_limit() -> u64 {
    // SAFETY: getrlimit/setrlimit fill and read a struct we own.
    unsafe {
        let mut lim: libc::rlimit = std::mem::zeroed();
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        lim.rlim_cur = lim.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_index_parses_key_paths() {
        assert_eq!(key_index("/r", "/r/k0000042"), Some(42));
        assert_eq!(key_index("/r", "/other/k0000042"), None);
        assert_eq!(key_index("/r", "/r/x"), None);
    }
}
