//! One ZooKeeper session on a non-blocking socket: handshake, pipelined
//! requests, FIFO reply matching, pings, close.
//!
//! Owned by exactly one worker thread, which drives it from its event loop
//! ([`crate::engine`]). The session never blocks and never allocates per
//! request: requests are copied from pre-encoded [`Frames`], replies are
//! parsed in place from a fixed read buffer.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use roost::proto::codec::{
    decode_connect_response, decode_reply_header, decode_response, encode_connect_request,
    encode_request,
};
use roost::proto::frame::split_frame;
use roost::proto::{xid, ConnectRequest, OpCode, Request, Xid};

use crate::frames::Frames;
use crate::stats::ErrorKey;
use crate::workload::OpKind;

/// The largest reply frame accepted: ZooKeeper's 1 MiB jute.maxbuffer plus
/// headroom for the reply header and stat around a maximal value.
pub const REPLY_FRAME_LEN_MAX: usize = (1 << 20) + 4096;
/// Initial read buffer; it grows only to fit a frame larger than this.
pub const READ_BUFFER_BYTES: usize = 256 << 10;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// ConnectRequest queued or sent, waiting for the ConnectResponse.
    Handshaking,
    Ready,
    /// closeSession sent; waiting for its reply.
    Closing,
    /// Closed cleanly, or lost; the socket is done.
    Done,
}

/// What a request in flight was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pending {
    Op(OpKind),
    Close,
}

#[derive(Clone, Copy, Debug)]
struct InFlight {
    xid: Xid,
    what: Pending,
    /// Latency origin: the actual send time (closed loop) or the intended
    /// send time (open loop).
    origin: Instant,
}

/// A finished request, for the worker to account.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Completion {
    pub kind: OpKind,
    pub origin: Instant,
    pub outcome: Result<(), ErrorKey>,
}

/// Something the worker must know besides completions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEvent {
    Established,
    /// Handshake refused or the connection failed before it finished.
    ConnectFailed,
    /// The connection broke (or a protocol violation closed it) while Ready
    /// or Closing; in-flight ops were reported as completions with errors.
    Lost(ErrorKey),
    Closed,
}

pub struct Session {
    pub stream: TcpStream,
    pub state: SessionState,
    timeout_requested_ms: i32,
    /// A third of the negotiated session timeout (digest §4.5).
    ping_after: Duration,
    rbuf: Box<[u8]>,
    rstart: usize,
    rend: usize,
    wbuf: Vec<u8>,
    wstart: usize,
    inflight: VecDeque<InFlight>,
    ops_inflight: usize,
    next_xid: Xid,
    last_send: Instant,
    ping_outstanding: bool,
    /// Queued in the worker's flush list.
    pub dirty: bool,
    /// Queued in the worker's open-loop list of sessions with window room.
    pub in_room_queue: bool,
}

impl Session {
    /// Starts a non-blocking connect and queues the ConnectRequest, which
    /// goes out once the socket is writable.
    pub fn connect(addr: SocketAddr, timeout_ms: i32, now: Instant) -> io::Result<Session> {
        let stream = TcpStream::connect(addr)?;
        // Requests are small and latency is what is measured: never let
        // Nagle hold one back (the Java client sets this too, digest §1).
        stream.set_nodelay(true)?;
        let mut wbuf = Vec::with_capacity(64 << 10);
        encode_connect_request(
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout_ms,
                session_id: 0,
                passwd: vec![0; 16],
                read_only: Some(false),
            },
            &mut wbuf,
        );
        Ok(Session {
            stream,
            state: SessionState::Handshaking,
            timeout_requested_ms: timeout_ms,
            ping_after: Duration::from_millis(timeout_ms as u64 / 3),
            rbuf: vec![0; READ_BUFFER_BYTES].into_boxed_slice(),
            rstart: 0,
            rend: 0,
            wbuf,
            wstart: 0,
            inflight: VecDeque::new(),
            ops_inflight: 0,
            next_xid: 1,
            last_send: now,
            ping_outstanding: false,
            dirty: true,
            in_room_queue: false,
        })
    }

    pub fn ops_inflight(&self) -> usize {
        self.ops_inflight
    }

    pub fn is_ready(&self) -> bool {
        self.state == SessionState::Ready
    }

    /// Xids run 1..=i32::MAX and wrap to 1, as the Java client's do; the
    /// negative ones are reserved for pings, auth and notifications.
    fn take_xid(&mut self) -> Xid {
        let x = self.next_xid;
        self.next_xid = if x == i32::MAX { 1 } else { x + 1 };
        x
    }

    /// Queues one op; it goes out at the worker's next flush.
    pub fn queue_op(&mut self, frames: &Frames, kind: OpKind, key: u64, origin: Instant) {
        debug_assert!(self.is_ready());
        let xid = self.take_xid();
        frames.append(kind, key, xid, &mut self.wbuf);
        self.inflight.push_back(InFlight {
            xid,
            what: Pending::Op(kind),
            origin,
        });
        self.ops_inflight += 1;
    }

    /// Sends a ping if nothing was sent for a third of the session timeout
    /// and none is outstanding. Returns true if one was queued.
    pub fn ping_if_idle(&mut self, now: Instant) -> bool {
        if self.state != SessionState::Ready
            || self.ping_outstanding
            || now.saturating_duration_since(self.last_send) < self.ping_after
        {
            return false;
        }
        encode_request(xid::PING, &Request::Ping, &mut self.wbuf);
        self.ping_outstanding = true;
        true
    }

    /// Queues closeSession; the session is Done once its reply arrives
    /// (after the replies to everything sent before it, FIFO).
    pub fn queue_close(&mut self, now: Instant) {
        if self.state != SessionState::Ready {
            return;
        }
        let xid = self.take_xid();
        encode_request(xid, &Request::CloseSession, &mut self.wbuf);
        self.inflight.push_back(InFlight {
            xid,
            what: Pending::Close,
            origin: now,
        });
        self.state = SessionState::Closing;
    }

    /// Writes as much of the queued bytes as the socket takes.
    pub fn flush(&mut self, now: Instant) -> io::Result<()> {
        write_pending(
            &mut self.stream,
            &mut self.wbuf,
            &mut self.wstart,
            &mut self.last_send,
            now,
        )
    }

    pub fn has_unsent(&self) -> bool {
        self.wstart < self.wbuf.len()
    }

    /// Reads everything available and handles each complete frame.
    /// Completions and events are pushed to the worker's reusable vectors.
    pub fn on_readable(&mut self, done: &mut Vec<Completion>, events: &mut Vec<SessionEvent>) {
        loop {
            if self.rend == self.rbuf.len() {
                self.make_room();
            }
            match self.stream.read(&mut self.rbuf[self.rend..]) {
                Ok(0) => {
                    self.fail(ErrorKey::ConnectionLoss, done, events);
                    return;
                }
                Ok(n) => {
                    self.rend += n;
                    if let Err(key) = self.process_frames(done, events) {
                        self.fail(key, done, events);
                        return;
                    }
                    if self.state == SessionState::Done {
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.fail(ErrorKey::ConnectionLoss, done, events);
                    return;
                }
            }
        }
    }

    /// Compacts the read buffer, growing it only if one frame is larger.
    fn make_room(&mut self) {
        let pending = self.rend - self.rstart;
        if self.rstart > 0 {
            self.rbuf.copy_within(self.rstart..self.rend, 0);
            self.rstart = 0;
            self.rend = pending;
        }
        if self.rend == self.rbuf.len() {
            let mut bigger =
                vec![0; (self.rbuf.len() * 2).min(REPLY_FRAME_LEN_MAX + 8)].into_boxed_slice();
            bigger[..pending].copy_from_slice(&self.rbuf[..pending]);
            self.rbuf = bigger;
        }
    }

    fn process_frames(
        &mut self,
        done: &mut Vec<Completion>,
        events: &mut Vec<SessionEvent>,
    ) -> Result<(), ErrorKey> {
        loop {
            let buf = &self.rbuf[self.rstart..self.rend];
            let Some((len, body)) =
                split_frame(buf, REPLY_FRAME_LEN_MAX).map_err(|_| ErrorKey::Decode)?
            else {
                return Ok(());
            };
            match self.state {
                SessionState::Handshaking => {
                    let resp = decode_connect_response(body).map_err(|_| ErrorKey::Decode)?;
                    if resp.timeout_ms <= 0 {
                        // Session refused (digest §4.5): not an op error.
                        self.state = SessionState::Done;
                        events.push(SessionEvent::ConnectFailed);
                        return Ok(());
                    }
                    let timeout_ms = resp.timeout_ms.min(self.timeout_requested_ms.max(1));
                    self.ping_after =
                        Duration::from_millis(u64::from(timeout_ms.unsigned_abs()) / 3);
                    self.state = SessionState::Ready;
                    events.push(SessionEvent::Established);
                }
                SessionState::Ready | SessionState::Closing => {
                    let (hdr, rest) = decode_reply_header(body).map_err(|_| ErrorKey::Decode)?;
                    match hdr.xid {
                        xid::PING => self.ping_outstanding = false,
                        // No watches are set, but a server may still send one.
                        xid::NOTIFICATION => {}
                        _ => {
                            let head = self.inflight.pop_front().ok_or(ErrorKey::XidMismatch)?;
                            if head.xid != hdr.xid {
                                // Put it back so fail() reports it as lost.
                                self.inflight.push_front(head);
                                return Err(ErrorKey::XidMismatch);
                            }
                            match head.what {
                                Pending::Op(kind) => {
                                    self.ops_inflight -= 1;
                                    let outcome = if hdr.err != 0 {
                                        Err(ErrorKey::Server(hdr.err))
                                    } else {
                                        let opcode = match kind {
                                            OpKind::Get => OpCode::GetData,
                                            OpKind::Set => OpCode::SetData,
                                        };
                                        decode_response(opcode, rest)
                                            .map(|_| ())
                                            .map_err(|_| ErrorKey::Decode)
                                    };
                                    done.push(Completion {
                                        kind,
                                        origin: head.origin,
                                        outcome,
                                    });
                                }
                                Pending::Close => {
                                    self.state = SessionState::Done;
                                    events.push(SessionEvent::Closed);
                                    self.rstart += len;
                                    return Ok(());
                                }
                            }
                        }
                    }
                }
                SessionState::Done => return Ok(()),
            }
            self.rstart += len;
            if self.rstart == self.rend {
                self.rstart = 0;
                self.rend = 0;
            }
        }
    }

    /// The connection is over: every op in flight is lost.
    pub fn fail(
        &mut self,
        key: ErrorKey,
        done: &mut Vec<Completion>,
        events: &mut Vec<SessionEvent>,
    ) {
        let was = self.state;
        self.state = SessionState::Done;
        for f in self.inflight.drain(..) {
            if let Pending::Op(kind) = f.what {
                done.push(Completion {
                    kind,
                    origin: f.origin,
                    outcome: Err(ErrorKey::ConnectionLoss),
                });
            }
        }
        self.ops_inflight = 0;
        events.push(match was {
            SessionState::Handshaking => SessionEvent::ConnectFailed,
            _ => SessionEvent::Lost(key),
        });
    }
}

/// Writes `buf[*start..]` to a non-blocking socket as far as it takes it,
/// advancing `*start` (and `*last_send` whenever bytes leave); once all is
/// written the buffer is emptied for reuse. Shared by the mixed-workload
/// sessions and the other workloads' clients.
pub(crate) fn write_pending(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    start: &mut usize,
    last_send: &mut Instant,
    now: Instant,
) -> io::Result<()> {
    while *start < buf.len() {
        match stream.write(&buf[*start..]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                *start += n;
                *last_send = now;
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            // Not connected yet: the writable event will bring us back.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => return Ok(()),
            Err(e) => return Err(e),
        }
    }
    buf.clear();
    *start = 0;
    Ok(())
}
