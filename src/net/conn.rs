//! One client connection: the reader task (framing, handshake, dispatch),
//! the writer task, and the per-connection FIFO that keeps replies in
//! request order (digest §5.3).

use super::pending::PendingQueue;
use super::shard::{ConnectionRefusal, LocalRequest, Shard, ShardSettings, SharedConnectionCounts};
use crate::auth::AuthIds;
use crate::clock;
use crate::messages::{ConnId, Origin, ToConsensus};
use crate::probe::{ConnectionProbe, ServerProbe};
use crate::proto::codec;
use crate::proto::frame::{self, FrameError};
use crate::proto::*;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::ConnectedSender;
use glommio::net::TcpStream;
use std::cell::RefCell;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

/// Bytes read from the socket per read call.
const READ_CHUNK_BYTES: usize = 64 * 1024;

/// One entry of a connection's in-order request queue.
#[derive(Debug)]
pub enum Pending {
    /// The handshake is with the core.
    Connect,
    /// A write is with the core; its reply comes on the commit stream.
    Core {
        xid: Xid,
        opcode: OpCode,
        started_ms: i64,
    },
    /// A local request queued behind a core request (FIFO per client), or
    /// a read waiting for its barrier.
    Local {
        xid: Xid,
        opcode: OpCode,
        request: LocalRequest,
        started_ms: i64,
        /// A linearizable read whose `ToShard::ReadBarrier` has not come
        /// yet: it and everything after it wait, even at the queue's head.
        awaits_barrier: bool,
    },
}

/// A connection's state. Owned by its shard's executor.
pub struct Conn {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub fd: RawFd,
    /// 0 until the handshake completes.
    pub session_id: SessionId,
    pub established: bool,
    pub closing: bool,
    /// Set when the connection should close once `out` is flushed.
    pub close_when_flushed: bool,
    pub auth: AuthIds,
    pub sasl: Option<crate::auth::sasl::SaslServer>,
    /// Whether the client sent the readOnly byte (decides the reply's shape).
    pub read_only_aware: bool,
    /// Encoded frames waiting for the writer task.
    pub out: Vec<u8>,
    pub pending: PendingQueue,
    pub probe: ConnectionProbe,
    /// The shard's server-wide counters (same executor).
    pub server_probe: Rc<RefCell<ServerProbe>>,
    writer_wake: LocalSender<()>,
    reader_wake: LocalSender<()>,
}

impl Conn {
    pub fn wake_writer(&self) {
        let _ = self.writer_wake.try_send(());
    }

    pub fn wake_reader(&self) {
        let _ = self.reader_wake.try_send(());
    }

    /// Queues a reply frame: header plus body only when err == 0.
    /// Counts a request frame that will get exactly one reply.
    pub fn request_arrived(&mut self) {
        self.probe.packet_received();
        self.probe.request_queued();
        let mut server = self.server_probe.borrow_mut();
        server.packet_received();
        server.request_started();
    }

    /// Queues a reply frame: header plus body only when err == 0.
    pub fn queue_result(
        &mut self,
        xid: Xid,
        zxid: Zxid,
        opcode: OpCode,
        result: Result<&Response, &ErrorCode>,
        started_ms: i64,
    ) {
        let (err, body) = match result {
            Ok(resp) => (0, Some(resp)),
            Err(code) => (code.code(), None),
        };
        let header = ReplyHeader { xid, zxid, err };
        codec::encode_reply(&header, body, &mut self.out);
        let now = clock::now_ms();
        let latency_ms = (now - started_ms).max(0) as u64;
        self.probe
            .request_answered(opcode.short_name(), xid, zxid, latency_ms, now as u64);
        self.probe.packet_sent();
        let mut server = self.server_probe.borrow_mut();
        server.request_finished(latency_ms);
        server.packet_sent();
        drop(server);
        self.wake_writer();
    }

    pub fn queue_notification(&mut self, zxid: Zxid, event: &WatcherEvent) {
        codec::encode_notification(zxid, event, &mut self.out);
        self.probe.packet_sent();
        self.server_probe.borrow_mut().packet_sent();
        self.wake_writer();
    }

    /// Closes once everything queued so far is written.
    pub fn close_after_flush(&mut self) {
        self.close_when_flushed = true;
        self.closing = true;
        self.wake_writer();
        self.wake_reader();
    }

    /// Closes at once, dropping anything unsent. Shutting the socket down
    /// makes the reader's pending read return, which ends both tasks.
    pub fn close_now(&mut self) {
        self.closing = true;
        self.out.clear();
        // SAFETY: fd is the connection's own socket, still open (the stream
        // is dropped only after both tasks end).
        unsafe {
            libc::shutdown(self.fd, libc::SHUT_RDWR);
        }
        self.wake_writer();
        self.wake_reader();
    }
}

/// Serves one accepted connection until it closes.
pub async fn serve(shard: Rc<RefCell<Shard>>, stream: TcpStream, counts: SharedConnectionCounts) {
    let peer = match stream.peer_addr() {
        Ok(p) => p,
        Err(_) => return,
    };
    let settings = shard.borrow().settings.clone();
    // The caps: an accept beyond one is closed at once with no bytes sent,
    // as ZooKeeper does.
    let admitted = counts.lock().expect("connection count lock").admit(
        peer.ip(),
        settings.max_client_connections_per_ip,
        settings.max_connections,
    );
    match admitted {
        Ok(()) => {}
        Err(ConnectionRefusal::PerIp { max }) => {
            tracing::warn!(%peer, limit = max, "too many connections from this address (maxClientCnxns); closing");
            return;
        }
        Err(ConnectionRefusal::Total { max }) => {
            tracing::warn!(%peer, limit = max, "too many connections (maxCnxns / roost.maxConnections); closing");
            return;
        }
    }
    let _ = stream.set_nodelay(true);
    let fd = stream.as_raw_fd();
    let (writer_wake, writer_rx) = local_channel::new_bounded(1);
    let (reader_wake, reader_rx) = local_channel::new_bounded(1);
    let conn_id = {
        let mut s = shard.borrow_mut();
        let id = s.next_conn_id;
        s.next_conn_id += 1;
        s.probe.borrow_mut().connection_opened();
        let conn = Conn {
            id,
            peer,
            fd,
            session_id: 0,
            established: false,
            closing: false,
            close_when_flushed: false,
            auth: AuthIds {
                ids: vec![Id::new("ip", &peer.ip().to_string())],
            },
            sasl: None,
            read_only_aware: false,
            out: Vec::new(),
            pending: PendingQueue::new(s.settings.in_flight.clone(), s.id),
            probe: ConnectionProbe::new(clock::now_ms() as u64),
            server_probe: s.probe.clone(),
            writer_wake,
            reader_wake,
        };
        s.conns.insert(id, Rc::new(RefCell::new(conn)));
        id
    };
    let (reader, writer) = futures_lite::io::split(stream);
    let writer_task = glommio::spawn_local(write_loop(shard.clone(), conn_id, writer, writer_rx));
    if let Err(why) = read_loop(&shard, conn_id, reader, reader_rx).await {
        tracing::debug!(%peer, conn = conn_id, %why, "connection closed");
    }
    // Make the writer finish: flush what may be flushed, then stop.
    if let Some(conn) = shard.borrow().conns.get(&conn_id) {
        let mut c = conn.borrow_mut();
        c.closing = true;
        c.wake_writer();
    }
    writer_task.await;
    let removed = shard.borrow_mut().remove_connection(conn_id);
    if let Some(conn) = removed {
        let session_id = conn.borrow().session_id;
        let (to_core, shard_id) = {
            let s = shard.borrow();
            (s.to_core.clone(), s.id)
        };
        {
            let c = conn.borrow();
            let probe = shard.borrow().probe.clone();
            let mut probe = probe.borrow_mut();
            probe.connection_closed();
            // Requests that will never be answered no longer count as outstanding.
            let unanswered = c
                .pending
                .iter()
                .filter(|p| !matches!(p, Pending::Connect))
                .count();
            probe.requests_abandoned(unanswered as u64);
        }
        // The core hears of every connection it knows: one with a session,
        // or one whose handshake it is still handling (a request it holds
        // for this connection must be dropped, not carried out later).
        let awaiting_connect = matches!(conn.borrow().pending.front(), Some(Pending::Connect));
        if session_id != 0 || awaiting_connect {
            let _ = to_core
                .send(ToConsensus::Disconnected {
                    shard: shard_id,
                    conn: conn_id,
                    session_id,
                })
                .await;
        }
    }
    counts
        .lock()
        .expect("connection count lock")
        .release(peer.ip());
}

/// Why a connection ended; for the debug log.
#[derive(Debug, thiserror::Error)]
enum ConnectionEnd {
    #[error("peer closed the connection")]
    Eof,
    #[error("i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    #[error("malformed request: {0}")]
    Decode(#[from] codec::DecodeError),
    #[error("no handshake within {0} ms")]
    HandshakeTimeout(u64),
    #[error("closed by the server")]
    Closed,
    #[error("four-letter word answered")]
    FourLetterWord,
}

async fn read_loop(
    shard: &Rc<RefCell<Shard>>,
    conn_id: ConnId,
    mut reader: futures_lite::io::ReadHalf<TcpStream>,
    wake: LocalReceiver<()>,
) -> Result<(), ConnectionEnd> {
    let settings = shard.borrow().settings.clone();
    let conn = shard
        .borrow()
        .conns
        .get(&conn_id)
        .cloned()
        .ok_or(ConnectionEnd::Closed)?;
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    let mut chunk = vec![0u8; READ_CHUNK_BYTES];
    let handshake_deadline = std::time::Instant::now()
        + Duration::from_millis(settings.sessionless_connection_timeout_ms);
    let mut first_bytes_checked = false;
    loop {
        // Back-pressure: stop reading while the client has too many requests
        // in flight, is waiting for its handshake, or is not reading replies.
        loop {
            if conn.borrow().closing {
                return Err(ConnectionEnd::Closed);
            }
            if !is_busy(&conn.borrow(), &settings) {
                break;
            }
            if server_is_full(&settings) {
                futures_lite::future::or(
                    async {
                        wake.recv().await;
                    },
                    glommio::timer::sleep(SERVER_FULL_RECHECK),
                )
                .await;
            } else {
                wake.recv().await;
            }
        }
        // Process complete frames already buffered before reading more.
        let mut consumed_total = 0;
        loop {
            if conn.borrow().closing {
                return Err(ConnectionEnd::Closed);
            }
            let rest = &buf[consumed_total..];
            if !first_bytes_checked {
                if rest.len() < 4 {
                    break;
                }
                first_bytes_checked = true;
                let first4: [u8; 4] = rest[..4].try_into().expect("4 bytes");
                if let Some(word) = frame::four_letter_word(&first4) {
                    four_letter_word(shard, &conn, word).await;
                    // The answer arrives as a GatherResult, which queues the
                    // text and marks the connection closing.
                    while !conn.borrow().closing {
                        if wake.recv().await.is_none() {
                            break;
                        }
                    }
                    return Err(ConnectionEnd::FourLetterWord);
                }
            }
            let Some((consumed, body)) = frame::split_frame(rest, settings.max_frame_len)? else {
                break;
            };
            let body = body.to_vec();
            consumed_total += consumed;
            handle_frame(shard, &conn, &body).await?;
            // A handshake in flight: leave later frames buffered until the
            // ConnectResponse is queued (digest §1, pipelining).
            if is_busy(&conn.borrow(), &settings) {
                break;
            }
        }
        buf.drain(..consumed_total);
        // Go round to the back-pressure wait rather than read on while busy.
        // This also means a read never starts while the handshake is in
        // flight, so the sessionless timeout below applies only to
        // connections that really have no session.
        if is_busy(&conn.borrow(), &settings) {
            continue;
        }
        let established = conn.borrow().established;
        let n = if established {
            reader.read(&mut chunk).await?
        } else {
            let left = handshake_deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ConnectionEnd::HandshakeTimeout(
                    settings.sessionless_connection_timeout_ms,
                ));
            }
            match futures_lite::future::or(async { Some(reader.read(&mut chunk).await) }, async {
                glommio::timer::sleep(left).await;
                None
            })
            .await
            {
                Some(r) => r?,
                None => {
                    return Err(ConnectionEnd::HandshakeTimeout(
                        settings.sessionless_connection_timeout_ms,
                    ))
                }
            }
        };
        if n == 0 {
            return Err(ConnectionEnd::Eof);
        }
        buf.extend_from_slice(&chunk[..n]);
        // Commits that reached this shard before (or with) these requests
        // are applied first: the commit-stream task may be queued behind
        // this one, and a read served now would miss a write another
        // session has already had acknowledged on another member (issue
        // 18's staleness window; bench/staleness.sh measured 45-56% of such
        // reads missing without this, against ZooKeeper's 2-4%). One task
        // switch per socket read, not per request.
        futures_lite::future::yield_now().await;
    }
}

/// True if the server enforces authentication (`enforce.auth.enabled` with
/// `enforce.auth.schemes`, or `sessionRequireClientSASLAuth`), `op` is not an
/// auth or SASL packet, and the connection has no identity in a required scheme.
fn lacks_required_auth(shard: &Rc<RefCell<Shard>>, conn: &Rc<RefCell<Conn>>, op: OpCode) -> bool {
    if matches!(op, OpCode::Auth | OpCode::Sasl | OpCode::Ping) {
        return false;
    }
    let shard = shard.borrow();
    let required = &shard.settings.required_auth_schemes;
    if required.is_empty() {
        return false;
    }
    let conn = conn.borrow();
    !conn
        .auth
        .ids
        .iter()
        .any(|id| required.contains(&id.scheme) || id.scheme == "super")
}

/// True while the reader must not take more requests from the socket: the
/// handshake is in flight, too many requests are outstanding on this
/// connection or on the whole server (`globalOutstandingLimit`), or the
/// client is not reading its replies.
fn is_busy(conn: &Conn, settings: &ShardSettings) -> bool {
    matches!(conn.pending.front(), Some(Pending::Connect))
        || conn.pending.len() >= settings.outstanding_per_connection_max
        || conn.out.len() >= settings.outbound_buffer_max
        || server_is_full(settings)
}

/// `globalOutstandingLimit` reached: every connection stops reading until
/// the server's unanswered requests fall below it (ZooKeeper's throttle).
fn server_is_full(settings: &ShardSettings) -> bool {
    settings.in_flight.total() >= settings.global_outstanding_max
}

/// How often a reader held back by the server-wide limit looks again: the
/// requests it waits on may belong to other connections or shards, which do
/// not wake it.
const SERVER_FULL_RECHECK: Duration = Duration::from_millis(1);

/// The way to the consensus core, and the origin naming request `xid` of
/// this connection there (replies come back to it by that origin).
fn core_route(
    shard: &Rc<RefCell<Shard>>,
    conn: &Rc<RefCell<Conn>>,
    xid: Xid,
    opcode: OpCode,
) -> (Rc<ConnectedSender<ToConsensus>>, Origin) {
    let s = shard.borrow();
    let origin = Origin {
        shard: s.id,
        conn: conn.borrow().id,
        xid,
        opcode,
    };
    (s.to_core.clone(), origin)
}

async fn handle_frame(
    shard: &Rc<RefCell<Shard>>,
    conn: &Rc<RefCell<Conn>>,
    body: &[u8],
) -> Result<(), ConnectionEnd> {
    let (established, session_id) = {
        let c = conn.borrow();
        (c.established, c.session_id)
    };
    if !established {
        if !conn.borrow().pending.is_empty() {
            // Only one ConnectRequest per connection.
            return Err(ConnectionEnd::Closed);
        }
        let request = codec::decode_connect_request(body)?;
        let (shard_id, to_core) = {
            let s = shard.borrow();
            (s.id, s.to_core.clone())
        };
        let conn_id = {
            let mut c = conn.borrow_mut();
            c.read_only_aware = request.read_only.is_some();
            c.probe.packet_received();
            c.server_probe.borrow_mut().packet_received();
            c.pending.push_back(Pending::Connect);
            c.id
        };
        to_core
            .send(ToConsensus::Connect {
                shard: shard_id,
                conn: conn_id,
                request,
            })
            .await
            .map_err(|_| ConnectionEnd::Closed)?;
        return Ok(());
    }
    let (header, rest) = codec::decode_request_header(body)?;
    shard.borrow_mut().touched.insert(session_id);
    conn.borrow_mut().request_arrived();
    let started_ms = clock::now_ms();
    let xid = header.xid;
    let (opcode, local) = match OpCode::from_i32(header.opcode) {
        Some(op) if lacks_required_auth(shard, conn, op) => {
            // Enforced authentication (digest §7.9): anything but auth or
            // SASL from a connection without a required identity ends it.
            (
                op,
                LocalRequest::Error {
                    code: ErrorCode::SessionClosedRequireSaslAuth,
                    close: true,
                },
            )
        }
        None
        | Some(OpCode::Notification | OpCode::Error | OpCode::CreateSession | OpCode::Check) => {
            // Unknown or client-invalid opcode: Unimplemented, then close (digest §6).
            (
                OpCode::Error,
                LocalRequest::Error {
                    code: ErrorCode::Unimplemented,
                    close: true,
                },
            )
        }
        Some(OpCode::DeleteContainer) => {
            // Real ZK lets any client delete any empty node this way; no
            // client sends it, so Roost keeps it for its own reaper only.
            (
                OpCode::DeleteContainer,
                LocalRequest::Error {
                    code: ErrorCode::Unimplemented,
                    close: false,
                },
            )
        }
        Some(op) => match codec::decode_request(op, rest) {
            Err(why) => {
                tracing::debug!(?op, %why, "undecodable request body");
                (
                    op,
                    LocalRequest::Error {
                        code: ErrorCode::MarshallingError,
                        close: false,
                    },
                )
            }
            Ok(request) => {
                if request.is_write() {
                    let (to_core, origin) = core_route(shard, conn, xid, op);
                    let auth = conn.borrow().auth.clone();
                    let msg = ToConsensus::Write {
                        origin,
                        session_id,
                        auth,
                        request,
                    };
                    conn.borrow_mut().pending.push_back(Pending::Core {
                        xid,
                        opcode: op,
                        started_ms,
                    });
                    to_core.send(msg).await.map_err(|_| ConnectionEnd::Closed)?;
                    return Ok(());
                }
                let is_sync = matches!(request, Request::Sync { .. });
                if is_sync || (request.is_read() && shard.borrow().settings.read_barriers) {
                    // A sync, or a linearizable read: it queues in order with
                    // everything else of this connection and is answered here
                    // once the core says this shard has caught up with
                    // everything committed before it arrived (an ensemble:
                    // a ReadIndex round started after now).
                    let (to_core, origin) = core_route(shard, conn, xid, op);
                    conn.borrow_mut().pending.push_back(Pending::Local {
                        xid,
                        opcode: op,
                        request: LocalRequest::Request(request),
                        started_ms,
                        awaits_barrier: true,
                    });
                    to_core
                        .send(ToConsensus::ReadBarrier { origin })
                        .await
                        .map_err(|_| ConnectionEnd::Closed)?;
                    return Ok(());
                }
                (op, LocalRequest::Request(request))
            }
        },
    };
    // Local requests run now if nothing is ahead of them, else in turn.
    let mut c = conn.borrow_mut();
    if c.pending.is_empty() {
        shard
            .borrow_mut()
            .execute_local(&mut c, xid, opcode, local, started_ms);
    } else {
        c.pending.push_back(Pending::Local {
            xid,
            opcode,
            request: local,
            started_ms,
            awaits_barrier: false,
        });
    }
    Ok(())
}

async fn four_letter_word(
    shard: &Rc<RefCell<Shard>>,
    conn: &Rc<RefCell<Conn>>,
    word: &'static str,
) {
    let (allowed, shard_id, to_core) = {
        let s = shard.borrow();
        (
            s.settings.config.four_letter_words.allows(word),
            s.id,
            s.to_core.clone(),
        )
    };
    if !allowed {
        let mut c = conn.borrow_mut();
        c.out
            .extend_from_slice(crate::fourlw::not_whitelisted(word).as_bytes());
        c.close_after_flush();
        return;
    }
    let conn_id = conn.borrow().id;
    // The answer comes back as a GatherResult, which queues the text and
    // closes the connection; the reader just stops here.
    conn.borrow_mut().pending.push_back(Pending::Connect);
    let _ = to_core
        .send(ToConsensus::Gather {
            shard: shard_id,
            conn: conn_id,
            word,
        })
        .await;
}

async fn write_loop(
    shard: Rc<RefCell<Shard>>,
    conn_id: ConnId,
    mut writer: futures_lite::io::WriteHalf<TcpStream>,
    wake: LocalReceiver<()>,
) {
    let Some(conn) = shard.borrow().conns.get(&conn_id).cloned() else {
        return;
    };
    let mut batch: Vec<u8> = Vec::new();
    loop {
        let (closing, close_when_flushed) = {
            let mut c = conn.borrow_mut();
            std::mem::swap(&mut batch, &mut c.out);
            (c.closing, c.close_when_flushed)
        };
        if !batch.is_empty() {
            if writer.write_all(&batch).await.is_err() || writer.flush().await.is_err() {
                conn.borrow_mut().close_now();
                return;
            }
            batch.clear();
            // Room freed: a reader held back by the outbound limit may go on.
            conn.borrow().wake_reader();
            continue;
        }
        if closing {
            if close_when_flushed {
                let _ = writer.close().await;
            }
            conn.borrow_mut().close_now();
            return;
        }
        if wake.recv().await.is_none() {
            return;
        }
    }
}
