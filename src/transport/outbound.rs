//! The outbound side: one link task per peer that connects, handshakes,
//! writes batched frames, watches the socket for the peer going away, and
//! reconnects.

use super::auth::{self, Role};
use super::wire::{Hello, ANSWER_BYTES, ANSWER_SIGNED_BYTES, HELLO_BYTES, PROTOCOL_VERSION};
use super::{
    tune_socket, FireOnDrop, Inner, Latch, Peer, PeerEvent, CONNECT_FAILURE_WARN_EVERY,
    CONNECT_TIMEOUT, HANDSHAKE_TIMEOUT, RECONNECT_INTERVAL_MAX, RECONNECT_INTERVAL_MIN,
    WRITE_BUFFER_KEEP_BYTES,
};
use futures_lite::future::or;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::channels::local_channel::LocalReceiver;
use glommio::net::TcpStream;
use std::os::fd::{AsRawFd, RawFd};
use std::rc::Rc;
use std::time::Duration;

/// Why a connection attempt failed.
#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error("connect failed: {0}")]
    Connect(String),
    #[error("handshake i/o error: {0}")]
    Io(#[from] std::io::Error),
    #[error("no handshake answer within {0:?}")]
    Timeout(Duration),
    #[error("the peer closed the connection during the handshake (it refused us: check its log for the reason, e.g. cluster tag or member id)")]
    Refused,
    #[error("bad handshake answer: {0}")]
    BadAnswer(String),
}

/// Why an established connection ended.
#[derive(Debug, thiserror::Error)]
enum LinkEnd {
    #[error("link stopped")]
    Stopped,
    #[error("the peer closed the connection")]
    PeerClosed,
    #[error("read error: {0}")]
    Read(std::io::Error),
    #[error("write error: {0}")]
    Write(std::io::Error),
    #[error("the peer sent bytes on our outbound connection (protocol error)")]
    Protocol,
}

/// Wait before the next attempt after `failures` consecutive failed ones.
pub(super) fn reconnect_delay(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    (RECONNECT_INTERVAL_MIN * (1u32 << doublings)).min(RECONNECT_INTERVAL_MAX)
}

pub(super) async fn run_link(
    inner: Rc<Inner>,
    peer: Rc<Peer>,
    wake: LocalReceiver<()>,
    previous: Option<Rc<Latch>>,
) {
    let _exit = FireOnDrop(peer.exit.clone());
    if let Some(previous) = previous {
        // The previous link for this id emits its last event first.
        or(previous.wait(), peer.stop.wait()).await;
    }
    let id = peer.id;
    let mut failures: u32 = 0;
    while !peer.is_stopping() {
        let attempt = or(async { Some(connect(&inner, &peer).await) }, async {
            peer.stop.wait().await;
            None
        })
        .await;
        let stream = match attempt {
            None => break,
            Some(Err(e)) => {
                failures = failures.saturating_add(1);
                if failures == 1 || failures.is_multiple_of(CONNECT_FAILURE_WARN_EVERY) {
                    tracing::warn!(peer = id, addr = %peer.addr, attempts = failures, error = %e, "cannot reach peer; retrying");
                } else {
                    tracing::debug!(peer = id, addr = %peer.addr, attempts = failures, error = %e, "cannot reach peer; retrying");
                }
                let delay = reconnect_delay(failures);
                // A wake token (an inbound handshake from this peer, or a
                // stop) cuts the wait short.
                or(glommio::timer::sleep(delay), async {
                    let _ = wake.recv().await;
                })
                .await;
                continue;
            }
            Some(Ok(stream)) => stream,
        };
        if failures > 0 {
            tracing::info!(peer = id, addr = %peer.addr, after_attempts = failures, "peer reachable again");
        }
        failures = 0;
        if !inner.emit(PeerEvent::Connected(id)).await {
            break;
        }
        {
            let mut st = peer.state.borrow_mut();
            st.connected = true;
            st.established += 1;
            st.close_reason = None;
        }
        tracing::info!(peer = id, addr = %peer.addr, "peer connected (outbound)");
        let end = serve(&peer, &wake, stream).await;
        let (dropped, reason) = {
            let mut st = peer.state.borrow_mut();
            st.connected = false;
            let dropped = st.queue_frames + st.in_flight_frames;
            st.dropped_frames += dropped;
            st.queue.clear();
            st.queue_frames = 0;
            st.in_flight_bytes = 0;
            st.in_flight_frames = 0;
            (dropped, st.close_reason.take())
        };
        let reason = reason.map_or_else(|| end.to_string(), str::to_string);
        if peer.is_stopping() {
            tracing::info!(peer = id, addr = %peer.addr, %reason, dropped_frames = dropped, "peer disconnected");
        } else {
            tracing::warn!(peer = id, addr = %peer.addr, %reason, dropped_frames = dropped, "peer disconnected");
        }
        if !inner.emit(PeerEvent::Disconnected(id)).await {
            break;
        }
        // Reconnect at once.
    }
    inner.link_exited(&peer);
}

/// Connects and runs the handshake; the stream is ready for frames.
async fn connect(inner: &Inner, peer: &Peer) -> Result<TcpStream, ConnectError> {
    let mut stream = TcpStream::connect_timeout(peer.addr, CONNECT_TIMEOUT)
        .await
        .map_err(|e| ConnectError::Connect(e.to_string()))?;
    tune_socket(stream.as_raw_fd());
    let mut opening = Vec::with_capacity(super::wire::OPENING_BYTES);
    opening.extend_from_slice(&Hello::new(inner.my_id, peer.id, inner.cluster_tag).encode());
    opening.extend_from_slice(&auth::nonce());
    let exchange = async {
        stream.write_all(&opening).await?;
        let mut answer = [0u8; ANSWER_BYTES];
        match stream.read_exact(&mut answer).await {
            Ok(()) => Ok(answer),
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => Err(ConnectError::Refused),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => Err(ConnectError::Refused),
            Err(e) => Err(ConnectError::Io(e)),
        }
    };
    let answer = or(async { Some(exchange.await) }, async {
        glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
        None
    })
    .await
    .ok_or(ConnectError::Timeout(HANDSHAKE_TIMEOUT))??;
    let (signed, their_proof) = answer.split_at(ANSWER_SIGNED_BYTES);
    let record: &[u8; HELLO_BYTES] = signed[..HELLO_BYTES]
        .try_into()
        .expect("the answer starts with a hello");
    let Some(answer) = Hello::decode(record) else {
        return Err(ConnectError::BadAnswer(
            "wrong magic (not a Roost quorum port?)".into(),
        ));
    };
    if answer.version != PROTOCOL_VERSION {
        return Err(ConnectError::BadAnswer(format!(
            "protocol version {} (we speak {PROTOCOL_VERSION})",
            answer.version
        )));
    }
    if answer.sender != peer.id {
        return Err(ConnectError::BadAnswer(format!(
            "the member at {} is id {}, not {} (check the server list)",
            peer.addr, answer.sender, peer.id
        )));
    }
    if answer.receiver != inner.my_id || answer.cluster_tag != inner.cluster_tag {
        return Err(ConnectError::BadAnswer(format!(
            "answer names receiver {} tag {:#x}, expected {} tag {:#x}",
            answer.receiver, answer.cluster_tag, inner.my_id, inner.cluster_tag
        )));
    }
    if !auth::verify(&inner.secret, Role::Acceptor, &opening, signed, their_proof) {
        return Err(ConnectError::BadAnswer(
            "the peer failed authentication (is roost.quorumSecret the same on every member?)"
                .into(),
        ));
    }
    let proof = auth::proof(&inner.secret, Role::Connector, &opening, signed);
    or(async { Some(stream.write_all(&proof).await) }, async {
        glommio::timer::sleep(HANDSHAKE_TIMEOUT).await;
        None
    })
    .await
    .ok_or(ConnectError::Timeout(HANDSHAKE_TIMEOUT))?
    .map_err(ConnectError::Io)?;
    Ok(stream)
}

/// Registers the outbound socket in the link state while it is alive, so
/// stop/abort can shut it down; deregisters before the socket is dropped.
struct TrackFd<'a>(&'a Peer);

impl<'a> TrackFd<'a> {
    fn new(peer: &'a Peer, fd: RawFd) -> TrackFd<'a> {
        peer.state.borrow_mut().fd = Some(fd);
        TrackFd(peer)
    }
}

impl Drop for TrackFd<'_> {
    fn drop(&mut self) {
        self.0.state.borrow_mut().fd = None;
    }
}

/// Runs an established connection until it ends: the writer drains the
/// queue in batches, and a read on the socket notices the peer closing it.
async fn serve(peer: &Peer, wake: &LocalReceiver<()>, stream: TcpStream) -> LinkEnd {
    let fd = stream.as_raw_fd();
    let (mut reader, mut writer) = futures_lite::io::split(stream);
    // Declared after the halves: dropped (deregistered) before them.
    let _tracked = TrackFd::new(peer, fd);
    if peer.is_stopping() {
        // Stopped while the Connected event was being queued.
        return LinkEnd::Stopped;
    }
    let watch = async {
        let mut byte = [0u8; 1];
        match reader.read(&mut byte).await {
            Ok(0) => LinkEnd::PeerClosed,
            Ok(_) => LinkEnd::Protocol,
            Err(e) => LinkEnd::Read(e),
        }
    };
    let write = async {
        let mut batch: Vec<u8> = Vec::new();
        loop {
            let frames = {
                let mut st = peer.state.borrow_mut();
                if st.stopping {
                    return LinkEnd::Stopped;
                }
                std::mem::swap(&mut batch, &mut st.queue);
                st.in_flight_bytes = batch.len();
                st.in_flight_frames = std::mem::take(&mut st.queue_frames);
                st.in_flight_frames
            };
            if batch.is_empty() {
                if wake.recv().await.is_none() {
                    return LinkEnd::Stopped;
                }
                continue;
            }
            if let Err(e) = writer.write_all(&batch).await {
                return LinkEnd::Write(e);
            }
            {
                let mut st = peer.state.borrow_mut();
                st.frames_sent += frames;
                st.batches_sent += 1;
                st.bytes_sent += batch.len() as u64;
                st.in_flight_bytes = 0;
                st.in_flight_frames = 0;
            }
            batch.clear();
            if batch.capacity() > WRITE_BUFFER_KEEP_BYTES {
                batch.shrink_to(WRITE_BUFFER_KEEP_BYTES);
            }
        }
    };
    or(write, watch).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reconnect_delay_backs_off_to_the_cap() {
        assert_eq!(reconnect_delay(1), Duration::from_millis(10));
        assert_eq!(reconnect_delay(2), Duration::from_millis(20));
        assert_eq!(reconnect_delay(3), Duration::from_millis(40));
        assert_eq!(reconnect_delay(4), Duration::from_millis(80));
        assert_eq!(reconnect_delay(5), Duration::from_millis(100));
        assert_eq!(reconnect_delay(u32::MAX), Duration::from_millis(100));
    }
}
