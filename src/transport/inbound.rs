//! The inbound side: the accept loop, the acceptor's handshake, and one
//! reader task per inbound connection that turns frames into events.

use super::auth::{self, Role, PROOF_BYTES};
use super::wire::{
    self, Hello, Parse, ANSWER_SIGNED_BYTES, HELLO_BYTES, OPENING_BYTES, PROTOCOL_VERSION,
};
use super::{
    shutdown_fd, tune_socket, FireOnDrop, InboundSlot, Inner, Latch, PeerEvent, ACCEPT_ERROR_PAUSE,
    HANDSHAKE_TIMEOUT, INBOUND_HANDSHAKES_MAX, READ_BUFFER_KEEP_BYTES, READ_CHUNK_BYTES,
    REFUSAL_WARN_INTERVAL, REFUSAL_WARN_KEYS_MAX,
};
use futures_lite::future::or;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::{TcpListener, TcpStream};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::rc::Rc;

/// Clears `Inner::listen_fd` when the accept loop ends (declared after
/// the listener, so it runs before the listener closes).
struct ListenerOpen<'a>(&'a Inner);

impl Drop for ListenerOpen<'_> {
    fn drop(&mut self) {
        self.0.listen_fd.set(None);
    }
}

pub(super) async fn accept_loop(inner: Rc<Inner>, listener: TcpListener) {
    let _open = ListenerOpen(&inner);
    loop {
        let accepted = or(async { Some(listener.accept().await) }, async {
            inner.stop.wait().await;
            None
        })
        .await;
        if inner.stop.is_fired() {
            return;
        }
        match accepted {
            None => return,
            Some(Ok(stream)) => {
                if inner.handshakes.get() >= INBOUND_HANDSHAKES_MAX {
                    tracing::warn!(
                        remote = ?stream.peer_addr().ok(),
                        limit = INBOUND_HANDSHAKES_MAX,
                        "too many connections in their handshake on the quorum port; closing"
                    );
                    continue;
                }
                inner.handshakes.set(inner.handshakes.get() + 1);
                glommio::spawn_local(serve(inner.clone(), stream)).detach();
            }
            Some(Err(e)) => {
                tracing::warn!(error = %e, "accept on the quorum port failed");
                or(glommio::timer::sleep(ACCEPT_ERROR_PAUSE), inner.stop.wait()).await;
            }
        }
    }
}

/// Keeps an accepted connection's fd in `Inner::accepted` (so shutdown can
/// close it) and its handshake in `Inner::handshakes` until dropped.
struct Accepted<'a> {
    inner: &'a Inner,
    conn: u64,
    handshaking: bool,
}

impl Accepted<'_> {
    fn handshake_done(&mut self) {
        if std::mem::replace(&mut self.handshaking, false) {
            self.inner.handshakes.set(self.inner.handshakes.get() - 1);
        }
    }
}

impl Drop for Accepted<'_> {
    fn drop(&mut self) {
        self.handshake_done();
        self.inner.accepted.borrow_mut().remove(&self.conn);
    }
}

/// Why an inbound connection ended.
#[derive(Debug, thiserror::Error)]
enum InboundEnd {
    #[error("the peer closed the connection")]
    Eof,
    #[error("read error: {0}")]
    Io(std::io::Error),
    #[error("malformed frame: {0}")]
    Frame(#[from] wire::FrameError),
    #[error("replaced by a newer connection from the same peer, or the peer was removed")]
    Replaced,
    #[error("transport stopped or the event receiver was dropped")]
    Stopped,
}

async fn serve(inner: Rc<Inner>, mut stream: TcpStream) {
    let conn = inner.next_conn.get();
    inner.next_conn.set(conn + 1);
    let fd = stream.as_raw_fd();
    let remote = stream.peer_addr().ok();
    inner.accepted.borrow_mut().insert(conn, fd);
    // Declared after `stream` (a parameter): dropped before it.
    let mut accepted = Accepted {
        inner: &inner,
        conn,
        handshaking: true,
    };
    tune_socket(fd);

    let mut opening = [0u8; OPENING_BYTES];
    let read = or(
        async { Some(stream.read_exact(&mut opening).await) },
        async {
            or(glommio::timer::sleep(HANDSHAKE_TIMEOUT), inner.stop.wait()).await;
            None
        },
    )
    .await;
    match read {
        Some(Ok(())) => {}
        Some(Err(e)) => {
            tracing::debug!(?remote, error = %e, "quorum connection closed before its handshake");
            return;
        }
        None => {
            if !inner.stop.is_fired() {
                refuse(&inner, remote, "no handshake within the timeout", 0, || {
                    format!("{HANDSHAKE_TIMEOUT:?}")
                });
            }
            return;
        }
    }
    let record: &[u8; HELLO_BYTES] = opening[..HELLO_BYTES]
        .try_into()
        .expect("the opening starts with a hello");
    let Some(hello) = Hello::decode(record) else {
        refuse(
            &inner,
            remote,
            "not a Roost peer (bad handshake magic)",
            0,
            || format!("{:02x?}", &record[..4]),
        );
        return;
    };
    let id = hello.sender;
    if let Err((reason, detail)) = check_hello(&inner, &hello) {
        refuse(&inner, remote, reason, id, || detail);
        return;
    }
    if inner.stop.is_fired() {
        return;
    }

    // The answer proves we hold the secret; the connector's proof, over
    // the same bytes and both nonces, must come back before this
    // connection may replace another or deliver a frame.
    let mut answer = Vec::with_capacity(wire::ANSWER_BYTES);
    answer.extend_from_slice(&Hello::new(inner.my_id, id, inner.cluster_tag).encode());
    answer.extend_from_slice(&auth::nonce());
    let proof = auth::proof(&inner.secret, Role::Acceptor, &opening, &answer);
    answer.extend_from_slice(&proof);
    debug_assert_eq!(answer.len(), wire::ANSWER_BYTES);
    let mut their_proof = [0u8; PROOF_BYTES];
    let exchanged = or(
        async {
            stream.write_all(&answer).await?;
            stream.read_exact(&mut their_proof).await
        },
        async {
            or(glommio::timer::sleep(HANDSHAKE_TIMEOUT), inner.stop.wait()).await;
            Err(std::io::ErrorKind::TimedOut.into())
        },
    )
    .await;
    if let Err(e) = exchanged {
        if !inner.stop.is_fired() {
            refuse(&inner, remote, "handshake not completed", id, || {
                e.to_string()
            });
        }
        return;
    }
    let signed = &answer[..ANSWER_SIGNED_BYTES];
    if !auth::verify(
        &inner.secret,
        Role::Connector,
        &opening,
        signed,
        &their_proof,
    ) {
        refuse(
            &inner,
            remote,
            "peer failed authentication (is roost.quorumSecret the same on every member?)",
            id,
            String::new,
        );
        return;
    }
    if inner.stop.is_fired() {
        return;
    }
    accepted.handshake_done();

    // Accepted: this connection becomes the peer's inbound connection,
    // replacing (and closing) any older one.
    let exit = Rc::new(Latch::new());
    let _exit = FireOnDrop(exit.clone());
    let _registered = Registered {
        inner: &inner,
        id,
        conn,
    };
    let previous = inner.inbound.borrow_mut().insert(
        id,
        InboundSlot {
            conn,
            fd,
            exit: exit.clone(),
        },
    );
    if let Some(old) = &previous {
        tracing::info!(
            peer = id,
            ?remote,
            "new inbound connection replaces the previous one"
        );
        shutdown_fd(old.fd);
    }
    tracing::info!(peer = id, ?remote, "peer connected (inbound)");
    // The peer is up: if our link to it is waiting to retry, retry now.
    if let Some(peer) = inner.peers.borrow().get(&id) {
        if !peer.state.borrow().connected {
            peer.wake();
        }
    }
    if let Some(old) = previous {
        // Frames never interleave between an old and a new connection.
        or(old.exit.wait(), inner.stop.wait()).await;
    }
    let end = read_frames(&inner, id, conn, &mut stream).await;
    let was_current = release_slot(&inner, id, conn);
    match end {
        InboundEnd::Eof | InboundEnd::Io(_) if was_current && !inner.stop.is_fired() => {
            tracing::info!(peer = id, ?remote, reason = %end, "inbound connection from peer ended; treating the peer as down");
            inner.inbound_lost(id);
        }
        InboundEnd::Frame(_) => {
            tracing::warn!(peer = id, ?remote, reason = %end, "closing the inbound connection from peer");
        }
        _ => {
            tracing::debug!(peer = id, ?remote, reason = %end, "inbound connection closed");
        }
    }
}

/// The acceptor's policy on a well-formed handshake record.
fn check_hello(inner: &Inner, hello: &Hello) -> Result<(), (&'static str, String)> {
    if hello.version != PROTOCOL_VERSION {
        return Err((
            "peer speaks another protocol version",
            format!("theirs {}, ours {PROTOCOL_VERSION}", hello.version),
        ));
    }
    if hello.cluster_tag != inner.cluster_tag {
        return Err((
            "cluster tag differs (a member of another ensemble, or a misconfigured one)",
            format!(
                "theirs {:#x}, ours {:#x}",
                hello.cluster_tag, inner.cluster_tag
            ),
        ));
    }
    if hello.receiver != inner.my_id {
        return Err((
            "peer meant to reach another member id (check the server list)",
            format!(
                "it dialled id {}, this is id {}",
                hello.receiver, inner.my_id
            ),
        ));
    }
    if !inner.peers.borrow().contains_key(&hello.sender) {
        return Err((
            "unknown member id (not in this member's peer list)",
            format!("claimed id {}", hello.sender),
        ));
    }
    Ok(())
}

/// Logs a refused handshake: at warn once per `REFUSAL_WARN_INTERVAL` per
/// (reason, id), at debug otherwise (a misconfigured peer retries ~10/s).
fn refuse(
    inner: &Inner,
    remote: Option<SocketAddr>,
    reason: &'static str,
    id: u64,
    detail: impl FnOnce() -> String,
) {
    let now = std::time::Instant::now();
    let loud = {
        let mut seen = inner.refusals.borrow_mut();
        let loud = seen
            .get(&(reason, id))
            .is_none_or(|at| now.duration_since(*at) >= REFUSAL_WARN_INTERVAL);
        if loud {
            if seen.len() >= REFUSAL_WARN_KEYS_MAX {
                seen.clear();
            }
            seen.insert((reason, id), now);
        }
        loud
    };
    let detail = detail();
    if loud {
        tracing::warn!(?remote, claimed_id = id, %detail, "refusing quorum connection: {reason}");
    } else {
        tracing::debug!(?remote, claimed_id = id, %detail, "refusing quorum connection: {reason}");
    }
}

/// Releases the inbound slot however the connection's task ends (declared
/// after the stream, so before it closes).
struct Registered<'a> {
    inner: &'a Inner,
    id: u64,
    conn: u64,
}

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        release_slot(self.inner, self.id, self.conn);
    }
}

/// Removes the inbound slot of `id` if it is still this connection's.
fn release_slot(inner: &Inner, id: u64, conn: u64) -> bool {
    let mut slots = inner.inbound.borrow_mut();
    if slots.get(&id).is_some_and(|s| s.conn == conn) {
        slots.remove(&id);
        true
    } else {
        false
    }
}

fn is_current(inner: &Inner, id: u64, conn: u64) -> bool {
    inner
        .inbound
        .borrow()
        .get(&id)
        .is_some_and(|s| s.conn == conn)
}

/// Reads frames until the connection ends, pushing them as events. Waits
/// (stops reading) while the event channel is full.
async fn read_frames(inner: &Inner, id: u64, conn: u64, stream: &mut TcpStream) -> InboundEnd {
    let mut buf: Vec<u8> = Vec::with_capacity(READ_CHUNK_BYTES);
    loop {
        // Deliver every complete frame in the buffer.
        let mut start = 0;
        let next_frame_bytes = loop {
            let parsed = match wire::parse_frame(&buf[start..], inner.frame_bytes_max) {
                Ok(p) => p,
                Err(e) => return InboundEnd::Frame(e),
            };
            let frame = match parsed {
                Parse::Frame(f) => f,
                Parse::Incomplete { frame_bytes } => break frame_bytes,
            };
            let event = PeerEvent::Frame {
                from: id,
                kind: frame.kind,
                body: frame.body.to_vec(),
            };
            start += frame.consumed;
            if !is_current(inner, id, conn) {
                return InboundEnd::Replaced;
            }
            if let Some(peer) = inner.peers.borrow().get(&id) {
                let mut st = peer.state.borrow_mut();
                st.frames_received += 1;
                st.bytes_received += frame.consumed as u64;
            }
            if !inner.emit(event).await {
                return InboundEnd::Stopped;
            }
        };
        buf.drain(..start);
        if buf.capacity() > READ_BUFFER_KEEP_BYTES && buf.len() <= READ_CHUNK_BYTES {
            buf.shrink_to(READ_CHUNK_BYTES);
        }
        if !is_current(inner, id, conn) {
            return InboundEnd::Replaced;
        }
        // Read at least a chunk, or the rest of a frame whose size is known.
        let have = buf.len();
        let want = next_frame_bytes
            .map_or(0, |total| total.saturating_sub(have))
            .max(READ_CHUNK_BYTES);
        buf.resize(have + want, 0);
        let n = match stream.read(&mut buf[have..]).await {
            Ok(n) => n,
            Err(e) => return InboundEnd::Io(e),
        };
        buf.truncate(have + n);
        if n == 0 {
            return InboundEnd::Eof;
        }
    }
}
