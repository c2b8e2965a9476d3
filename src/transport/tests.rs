//! Transport tests over real sockets on 127.0.0.1: every member runs on its
//! own glommio executor thread, driven from the test thread by commands;
//! its events come back over a std channel. Every wait is bounded.

use super::wire::{encode_frame, Hello};
use super::*;
use glommio::{LocalExecutorBuilder, Placement};
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::sync::mpsc;
use std::time::Instant;

/// The transport's promptness claims (disconnect seen, reconnect done).
const PROMPT: Duration = Duration::from_secs(1);
/// Start-up connections and bulk transfers.
const SLOW: Duration = Duration::from_secs(20);
const MIB: usize = 1024 * 1024;

/// `ROOST_TEST_LOG=debug cargo test --lib transport:: -- --nocapture` shows the transport's log.
fn init_logs() {
    if let Ok(filter) = std::env::var("ROOST_TEST_LOG") {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_test_writer()
            .try_init();
    }
}

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
    l.local_addr().expect("local addr")
}

/// The test ensemble's shared secret.
const SECRET: &[u8] = b"transport-test-secret";

fn config(my_id: u64, listen: SocketAddr, peers: &[(u64, SocketAddr)]) -> TransportConfig {
    TransportConfig {
        my_id,
        listen,
        peers: peers
            .iter()
            .copied()
            .filter(|(id, _)| *id != my_id)
            .collect(),
        cluster_tag: 0x5eed,
        secret: SECRET.to_vec(),
        frame_bytes_max: 2 * MIB,
        queue_bytes_max: 8 * MIB,
    }
}

/// Deterministic body for frame `seq` from `from` to `to`: the header names
/// them, the rest is a pattern, so any corruption or reordering shows.
fn body(from: u64, to: u64, seq: u64, len: usize) -> Vec<u8> {
    let mut b = Vec::with_capacity(len.max(24));
    b.extend_from_slice(&from.to_le_bytes());
    b.extend_from_slice(&to.to_le_bytes());
    b.extend_from_slice(&seq.to_le_bytes());
    let mut x = from.wrapping_mul(31) ^ to.wrapping_mul(17) ^ seq;
    while b.len() < len {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        b.push((x >> 56) as u8);
    }
    b
}

fn seq_of(body: &[u8]) -> u64 {
    u64::from_le_bytes(body[16..24].try_into().expect("24-byte header"))
}

enum Cmd {
    Send {
        to: u64,
        kind: u8,
        body: Vec<u8>,
        reply: mpsc::Sender<Result<(), SendError>>,
    },
    /// Sends one frame per entry of `lens` (sequence number = index, kind =
    /// index % 256), yielding now and then; stops at the first error.
    SendMany {
        to: u64,
        lens: Vec<usize>,
        reply: mpsc::Sender<(u64, Option<SendError>)>,
    },
    /// Sends `len`-byte frames until `QueueFull` or `deadline`, checking the
    /// queue bound after every send.
    Flood {
        to: u64,
        len: usize,
        first_seq: u64,
        reply: mpsc::Sender<FloodResult>,
    },
    /// Sends `count` small frames synchronously, without yielding.
    Burst {
        to: u64,
        count: u64,
        reply: mpsc::Sender<u64>,
    },
    Connected(u64, mpsc::Sender<bool>),
    Stats(mpsc::Sender<Vec<PeerStats>>),
    SetPeers(Vec<(u64, SocketAddr)>),
    PauseEvents(bool),
    Stop,
}

#[derive(Debug)]
struct FloodResult {
    accepted: u64,
    queue_full: bool,
    max_queued: usize,
}

/// One member on its own executor thread.
struct Node {
    id: u64,
    addr: SocketAddr,
    cmds: mpsc::Sender<Cmd>,
    events: mpsc::Receiver<PeerEvent>,
    /// Received but not yet taken by a wait, in arrival order.
    backlog: VecDeque<PeerEvent>,
    /// Every Connected/Disconnected received, in order.
    status: Vec<PeerEvent>,
    /// After a stop: whether the event stream ended (all tasks finished).
    stopped: mpsc::Receiver<bool>,
    thread: Option<glommio::ExecutorJoinHandle<()>>,
}

impl Node {
    fn start(config: TransportConfig) -> Result<Node, String> {
        init_logs();
        let id = config.my_id;
        let addr = config.listen;
        let (cmd_tx, cmd_rx) = mpsc::channel::<Cmd>();
        let (ev_tx, ev_rx) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stopped_tx, stopped_rx) = mpsc::channel();
        let thread = LocalExecutorBuilder::new(Placement::Unbound)
            .name(&format!("transport-test-{id}"))
            .io_memory(1 << 20)
            .spawn(move || async move {
                let (transport, events) = match PeerTransport::start(config) {
                    Ok(started) => {
                        let _ = ready_tx.send(Ok(()));
                        started
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let paused = Rc::new(Cell::new(false));
                let fwd_paused = paused.clone();
                let ended = Rc::new(Cell::new(false));
                let fwd_ended = ended.clone();
                glommio::spawn_local(async move {
                    loop {
                        while fwd_paused.get() {
                            glommio::timer::sleep(Duration::from_millis(1)).await;
                        }
                        match events.recv().await {
                            Some(ev) => {
                                if ev_tx.send(ev).is_err() {
                                    return;
                                }
                            }
                            None => break,
                        }
                    }
                    fwd_ended.set(true);
                })
                .detach();
                loop {
                    let cmd = match cmd_rx.try_recv() {
                        Ok(cmd) => cmd,
                        Err(mpsc::TryRecvError::Empty) => {
                            glommio::timer::sleep(Duration::from_millis(1)).await;
                            continue;
                        }
                        Err(mpsc::TryRecvError::Disconnected) => break,
                    };
                    match cmd {
                        Cmd::Send {
                            to,
                            kind,
                            body,
                            reply,
                        } => {
                            let _ = reply.send(transport.send(to, kind, &body));
                        }
                        Cmd::SendMany { to, lens, reply } => {
                            let mut sent = 0;
                            let mut error = None;
                            for (seq, len) in lens.into_iter().enumerate() {
                                let seq = seq as u64;
                                let b = body(id, to, seq, len);
                                if let Err(e) = transport.send(to, (seq % 256) as u8, &b) {
                                    error = Some(e);
                                    break;
                                }
                                sent += 1;
                                if sent % 64 == 0 {
                                    glommio::timer::sleep(Duration::from_millis(1)).await;
                                }
                            }
                            let _ = reply.send((sent, error));
                        }
                        Cmd::Flood {
                            to,
                            len,
                            first_seq,
                            reply,
                        } => {
                            let queue_max = transport.owner.inner.queue_bytes_max;
                            let deadline = Instant::now() + SLOW;
                            let mut result = FloodResult {
                                accepted: 0,
                                queue_full: false,
                                max_queued: 0,
                            };
                            while Instant::now() < deadline {
                                let b = body(id, to, first_seq + result.accepted, len);
                                match transport.send(to, 7, &b) {
                                    Ok(()) => result.accepted += 1,
                                    Err(SendError::QueueFull) => {
                                        result.queue_full = true;
                                        break;
                                    }
                                    Err(e) => panic!("flood: {e}"),
                                }
                                let queued = transport
                                    .stats()
                                    .iter()
                                    .find(|s| s.id == to)
                                    .map_or(0, |s| s.queued_bytes);
                                assert!(queued <= queue_max, "queued {queued} > {queue_max}");
                                result.max_queued = result.max_queued.max(queued);
                                // Let the writer move the queue into the socket.
                                glommio::timer::sleep(Duration::from_micros(200)).await;
                            }
                            let _ = reply.send(result);
                        }
                        Cmd::Burst { to, count, reply } => {
                            let sent = (0..count)
                                .take_while(|seq| {
                                    transport.send(to, 3, &body(id, to, *seq, 40)).is_ok()
                                })
                                .count();
                            let _ = reply.send(sent as u64);
                        }
                        Cmd::Connected(peer, reply) => {
                            let _ = reply.send(transport.is_connected(peer));
                        }
                        Cmd::Stats(reply) => {
                            let _ = reply.send(transport.stats());
                        }
                        Cmd::SetPeers(peers) => transport.set_peers(peers),
                        Cmd::PauseEvents(p) => paused.set(p),
                        Cmd::Stop => break,
                    }
                }
                // Shut down: every task ends, so the event stream ends.
                drop(transport);
                let until = Instant::now() + PROMPT;
                while !ended.get() && Instant::now() < until {
                    glommio::timer::sleep(Duration::from_millis(1)).await;
                }
                let _ = stopped_tx.send(ended.get());
            })
            .map_err(|e| format!("spawning executor: {e}"))?;
        match ready_rx.recv_timeout(SLOW) {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(e) => return Err(format!("node {id} did not start: {e}")),
        }
        Ok(Node {
            id,
            addr,
            cmds: cmd_tx,
            events: ev_rx,
            backlog: VecDeque::new(),
            status: Vec::new(),
            stopped: stopped_rx,
            thread: Some(thread),
        })
    }

    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> Cmd) -> T {
        let (tx, rx) = mpsc::channel();
        self.cmds.send(make(tx)).expect("node running");
        rx.recv_timeout(SLOW * 2).expect("node answers")
    }

    fn send(&self, to: u64, kind: u8, body: Vec<u8>) -> Result<(), SendError> {
        self.ask(|reply| Cmd::Send {
            to,
            kind,
            body,
            reply,
        })
    }

    fn is_connected(&self, peer: u64) -> bool {
        self.ask(|reply| Cmd::Connected(peer, reply))
    }

    fn stats(&self) -> Vec<PeerStats> {
        self.ask(Cmd::Stats)
    }

    fn stats_of(&self, peer: u64) -> PeerStats {
        self.stats()
            .into_iter()
            .find(|s| s.id == peer)
            .expect("peer in stats")
    }

    /// Pulls one event from the node into the backlog (bounded wait).
    fn pull(&mut self, until: Instant) -> bool {
        let left = until.saturating_duration_since(Instant::now());
        match self.events.recv_timeout(left) {
            Ok(ev) => {
                if !matches!(ev, PeerEvent::Frame { .. }) {
                    self.status.push(ev.clone());
                }
                self.backlog.push_back(ev);
                true
            }
            Err(_) => false,
        }
    }

    /// Takes the first event (in arrival order) matching `want`, waiting up
    /// to `timeout`; other events stay in the backlog.
    fn wait_for(
        &mut self,
        timeout: Duration,
        want: impl Fn(&PeerEvent) -> bool,
    ) -> Option<PeerEvent> {
        let until = Instant::now() + timeout;
        let mut scanned = 0;
        loop {
            if let Some(i) = self.backlog.iter().skip(scanned).position(&want) {
                return self.backlog.remove(scanned + i);
            }
            scanned = self.backlog.len();
            if !self.pull(until) {
                return None;
            }
        }
    }

    fn expect(&mut self, timeout: Duration, what: &PeerEvent) -> Duration {
        let started = Instant::now();
        let got = self.wait_for(timeout, |ev| ev == what);
        assert!(
            got.is_some(),
            "node {}: no {what:?} within {timeout:?}; backlog {:?}",
            self.id,
            summary(&self.backlog)
        );
        started.elapsed()
    }

    /// The next `count` frames from `from`, in arrival order.
    fn frames_from(&mut self, from: u64, count: usize, timeout: Duration) -> Vec<(u8, Vec<u8>)> {
        let until = Instant::now() + timeout;
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let left = until.saturating_duration_since(Instant::now());
            match self.wait_for(
                left,
                |ev| matches!(ev, PeerEvent::Frame { from: f, .. } if *f == from),
            ) {
                Some(PeerEvent::Frame { kind, body, .. }) => out.push((kind, body)),
                _ => panic!(
                    "node {}: only {} of {count} frames from {from} within {timeout:?}",
                    self.id,
                    out.len()
                ),
            }
        }
        out
    }

    /// Everything that arrives within `window`, plus the backlog.
    fn drain_for(&mut self, window: Duration) -> Vec<PeerEvent> {
        let until = Instant::now() + window;
        while self.pull(until) {}
        self.backlog.drain(..).collect()
    }

    /// Stops the member and checks that its transport shut down cleanly and
    /// that its status events alternated.
    fn stop(mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            t.join().expect("node thread");
        }
        assert_eq!(
            self.stopped.try_recv(),
            Ok(true),
            "node {}: the event stream did not end after shutdown (a task outlived it)",
            self.id
        );
        while self.pull(Instant::now()) {}
        assert_alternating(self.id, &self.status);
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let _ = self.cmds.send(Cmd::Stop);
            let _ = t.join();
        }
    }
}

fn summary(events: &VecDeque<PeerEvent>) -> Vec<String> {
    events
        .iter()
        .take(20)
        .map(|ev| match ev {
            PeerEvent::Frame { from, kind, body } => {
                format!("Frame(from {from}, kind {kind}, {} bytes)", body.len())
            }
            other => format!("{other:?}"),
        })
        .collect()
}

/// Per id: Connected, Disconnected, Connected, ... never two in a row.
fn assert_alternating(node: u64, status: &[PeerEvent]) {
    let mut up: HashMap<u64, bool> = HashMap::new();
    for ev in status {
        let (id, now_up) = match ev {
            PeerEvent::Connected(id) => (*id, true),
            PeerEvent::Disconnected(id) => (*id, false),
            PeerEvent::Frame { .. } => continue,
        };
        let was_up = up.insert(id, now_up).unwrap_or(false);
        assert_ne!(
            was_up, now_up,
            "node {node}: {ev:?} repeated without the opposite event; history {status:?}"
        );
    }
}

fn start_all(ids: &[u64]) -> (Vec<(u64, SocketAddr)>, Vec<Node>) {
    let members: Vec<(u64, SocketAddr)> = ids.iter().map(|id| (*id, free_addr())).collect();
    let nodes = members
        .iter()
        .map(|(id, addr)| Node::start(config(*id, *addr, &members)).expect("node starts"))
        .collect();
    (members, nodes)
}

fn wait_all_connected(nodes: &mut [Node]) {
    let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    for node in nodes.iter_mut() {
        let me = node.id;
        for &peer in ids.iter().filter(|&&p| p != me) {
            node.expect(SLOW, &PeerEvent::Connected(peer));
        }
    }
}

#[test]
fn three_members_exchange_frames_in_order_with_large_frames() {
    let (_, mut nodes) = start_all(&[1, 2, 3]);
    wait_all_connected(&mut nodes);
    // Every pair, both directions: small frames of varied sizes with one
    // 1 MiB frame in the middle, sent back to back (so they batch).
    const COUNT: usize = 600;
    let lens: Vec<usize> = (0..COUNT)
        .map(|i| {
            if i == COUNT / 2 {
                MIB
            } else {
                24 + (i * 37) % 3000
            }
        })
        .collect();
    let ids: Vec<u64> = nodes.iter().map(|n| n.id).collect();
    for node in &nodes {
        for &to in ids.iter().filter(|&&to| to != node.id) {
            let (sent, error) = node.ask(|reply| Cmd::SendMany {
                to,
                lens: lens.clone(),
                reply,
            });
            assert_eq!((sent, error), (COUNT as u64, None));
        }
    }
    for node in nodes.iter_mut() {
        let me = node.id;
        for &from in ids.iter().filter(|&&from| from != me) {
            let frames = node.frames_from(from, COUNT, SLOW);
            for (seq, (kind, got)) in frames.iter().enumerate() {
                assert_eq!(seq_of(got), seq as u64, "order from {from} to {}", node.id);
                assert_eq!(*kind, (seq % 256) as u8);
                assert!(
                    *got == body(from, node.id, seq as u64, lens[seq]),
                    "body of {seq}"
                );
            }
        }
    }
    // The counters agree with what went through.
    for node in &nodes {
        for s in node.stats() {
            assert!(s.connected && s.inbound_connected, "{s:?}");
            assert_eq!(s.frames_sent, COUNT as u64, "{s:?}");
            assert_eq!(s.frames_received, COUNT as u64, "{s:?}");
            assert_eq!(s.queued_bytes, 0, "{s:?}");
            assert_eq!(s.dropped_frames, 0, "{s:?}");
            assert_eq!(s.reconnects, 0, "{s:?}");
            assert!(s.bytes_sent > MIB as u64, "{s:?}");
            assert_eq!(
                s.bytes_sent, s.bytes_received,
                "same sizes both ways: {s:?}"
            );
        }
    }
    // A burst queued in one go is written as one batch.
    let before = nodes[0].stats_of(2);
    let burst = nodes[0].ask(|reply| Cmd::Burst {
        to: 2,
        count: 500,
        reply,
    });
    assert_eq!(burst, 500);
    let got = nodes[1].frames_from(1, 500, SLOW);
    assert_eq!(seq_of(&got[499].1), 499);
    let after = nodes[0].stats_of(2);
    assert_eq!(after.frames_sent - before.frames_sent, 500);
    assert_eq!(after.batches_sent - before.batches_sent, 1, "{after:?}");
    for node in nodes {
        node.stop();
    }
}

#[test]
fn oversize_frame_closes_the_connection_and_the_sender_reconnects() {
    let a_addr = free_addr();
    let b_addr = free_addr();
    let members = [(1, a_addr), (2, b_addr)];
    let mut a_cfg = config(1, a_addr, &members);
    a_cfg.frame_bytes_max = 4 * MIB;
    let mut b_cfg = config(2, b_addr, &members);
    b_cfg.frame_bytes_max = MIB + 16;
    let mut a = Node::start(a_cfg).unwrap();
    let mut b = Node::start(b_cfg).unwrap();
    a.expect(SLOW, &PeerEvent::Connected(2));
    b.expect(SLOW, &PeerEvent::Connected(1));

    // Within B's limit: delivered.
    a.send(2, 1, body(1, 2, 0, MIB)).unwrap();
    assert_eq!(b.frames_from(1, 1, SLOW)[0].1, body(1, 2, 0, MIB));
    // Over it: B closes A's connection; A notices and reconnects promptly.
    a.send(2, 2, body(1, 2, 1, 2 * MIB)).unwrap();
    a.expect(PROMPT, &PeerEvent::Disconnected(2));
    a.expect(PROMPT, &PeerEvent::Connected(2));
    a.send(2, 3, body(1, 2, 2, 100)).unwrap();
    let after = b.frames_from(1, 1, PROMPT);
    assert_eq!(
        after[0],
        (3, body(1, 2, 2, 100)),
        "the oversize frame was not delivered"
    );
    // B's own outbound connection to A was not involved.
    let b_events = b.drain_for(Duration::from_millis(100));
    assert!(
        !b_events.contains(&PeerEvent::Disconnected(1)),
        "{b_events:?}"
    );
    assert!(b.is_connected(1));
    assert_eq!(a.stats_of(2).reconnects, 1);
    // A frame over the sender's own limit is refused locally.
    assert_eq!(a.send(2, 4, vec![0; 4 * MIB]), Err(SendError::QueueFull));
    a.stop();
    b.stop();
}

#[test]
fn a_member_that_goes_away_is_seen_at_once_and_reconnected_when_back() {
    let (members, mut nodes) = start_all(&[1, 2, 3]);
    wait_all_connected(&mut nodes);
    let c = nodes.pop().unwrap();
    let c_id = c.id;
    let c_addr = c.addr;
    c.stop();
    for node in nodes.iter_mut() {
        let took = node.expect(PROMPT, &PeerEvent::Disconnected(c_id));
        eprintln!("node {} saw Disconnected({c_id}) after {took:?}", node.id);
        assert!(!node.is_connected(c_id));
        assert_eq!(node.send(c_id, 1, vec![1]), Err(SendError::NotConnected));
    }
    // Down a while (the others keep retrying), then back on the same port.
    std::thread::sleep(Duration::from_millis(300));
    let mut c = Node::start(config(c_id, c_addr, &members)).expect("restart on the same port");
    for node in nodes.iter_mut() {
        let took = node.expect(PROMPT, &PeerEvent::Connected(c_id));
        eprintln!("node {} saw Connected({c_id}) after {took:?}", node.id);
    }
    for node in &nodes {
        c.expect(PROMPT, &PeerEvent::Connected(node.id));
    }
    for node in &nodes {
        node.send(c_id, 9, body(node.id, c_id, 0, 64)).unwrap();
        c.send(node.id, 9, body(c_id, node.id, 0, 64)).unwrap();
    }
    for node in nodes.iter_mut() {
        assert_eq!(
            c.frames_from(node.id, 1, PROMPT)[0].1,
            body(node.id, c_id, 0, 64)
        );
        assert_eq!(
            node.frames_from(c_id, 1, PROMPT)[0].1,
            body(c_id, node.id, 0, 64)
        );
        assert_eq!(node.stats_of(c_id).reconnects, 1);
    }
    c.stop();
    for node in nodes {
        node.stop();
    }
}

/// Starts members 1 and 2, member 2's configuration changed by `differ`,
/// and checks that they never connect: both keep retrying and being
/// refused, with no events at all and nothing sendable either way.
fn assert_never_connect(differ: impl FnOnce(&mut TransportConfig)) {
    let a_addr = free_addr();
    let b_addr = free_addr();
    let members = [(1, a_addr), (2, b_addr)];
    let mut b_cfg = config(2, b_addr, &members);
    differ(&mut b_cfg);
    let mut a = Node::start(config(1, a_addr, &members)).unwrap();
    let mut b = Node::start(b_cfg).unwrap();
    let a_events = a.drain_for(Duration::from_millis(600));
    let b_events = b.drain_for(Duration::from_millis(10));
    assert!(a_events.is_empty(), "{:?}", summary(&a_events.into()));
    assert!(b_events.is_empty(), "{:?}", summary(&b_events.into()));
    assert!(!a.is_connected(2) && !b.is_connected(1));
    assert_eq!(a.send(2, 1, vec![1]), Err(SendError::NotConnected));
    assert_eq!(b.send(1, 1, vec![1]), Err(SendError::NotConnected));
    let s = a.stats_of(2);
    assert!(!s.inbound_connected && s.frames_received == 0, "{s:?}");
    a.stop();
    b.stop();
}

#[test]
fn a_member_with_another_cluster_tag_is_refused() {
    assert_never_connect(|cfg| cfg.cluster_tag = 0xbad);
}

#[test]
fn a_member_with_another_secret_is_refused() {
    assert_never_connect(|cfg| cfg.secret = b"another-secret-entirely".to_vec());
}

/// Someone who knows everything in the configuration but the secret (the
/// tag, the member ids) cannot get a frame in, nor displace a member's
/// connection: without the connector's proof the acceptor closes.
#[test]
fn a_connector_without_the_secret_gets_no_frame_in() {
    let b_addr = free_addr();
    let members = [(1, free_addr()), (2, b_addr)];
    let mut b = Node::start(config(2, b_addr, &members)).unwrap();
    let mut member = raw_handshake(b_addr, 1, 2, 0x5eed);
    let mut frame = Vec::new();
    encode_frame(&mut frame, 7, b"real");
    member.write_all(&frame).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (7, b"real".to_vec()));
    for what in [
        "a wrong proof",
        "a frame instead of a proof",
        "a proof under another key",
    ] {
        let (mut s, opening, signed) = raw_answer(b_addr, 1, 2, 0x5eed);
        let bytes = match what {
            "a wrong proof" => vec![0u8; auth::PROOF_BYTES],
            "a frame instead of a proof" => {
                let mut f = Vec::new();
                encode_frame(&mut f, 7, b"forged-frame-body-123");
                f
            }
            _ => auth::proof(b"guessed-secret", auth::Role::Connector, &opening, &signed).to_vec(),
        };
        s.write_all(&bytes).unwrap();
        assert!(closed_by_peer(&mut s), "{what}: closed");
    }
    // Replaying the member's acceptor proof as the connector's fails too.
    let (mut s, opening, signed) = raw_answer(b_addr, 1, 2, 0x5eed);
    s.write_all(&auth::proof(
        SECRET,
        auth::Role::Acceptor,
        &opening,
        &signed,
    ))
    .unwrap();
    assert!(closed_by_peer(&mut s), "a proof of the other role");
    // Nothing got in, and the member's own connection was never replaced.
    let events = b.drain_for(Duration::from_millis(100));
    assert!(events.is_empty(), "{:?}", summary(&events.into()));
    frame.clear();
    encode_frame(&mut frame, 8, b"still");
    member.write_all(&frame).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (8, b"still".to_vec()));
    b.stop();
}

#[test]
fn a_peer_that_does_not_read_fills_the_queue_to_its_bound() {
    let a_addr = free_addr();
    let b_addr = free_addr();
    let members = [(1, a_addr), (2, b_addr)];
    let mut a_cfg = config(1, a_addr, &members);
    a_cfg.queue_bytes_max = 4 * MIB; // QUEUE below
    let mut a = Node::start(a_cfg).unwrap();
    let mut b = Node::start(config(2, b_addr, &members)).unwrap();
    a.expect(SLOW, &PeerEvent::Connected(2));
    b.expect(SLOW, &PeerEvent::Connected(1));
    // B's consumer stops: its reader stops reading once the event channel is
    // full, TCP pushes back, and A's queue for B fills.
    b.cmds.send(Cmd::PauseEvents(true)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    const LEN: usize = 64 * 1024;
    const QUEUE: usize = 4 * MIB;
    let flood = a.ask(|reply| Cmd::Flood {
        to: 2,
        len: LEN,
        first_seq: 0,
        reply,
    });
    eprintln!("flood: {flood:?}");
    assert!(flood.queue_full, "{flood:?}");
    assert!(flood.max_queued <= QUEUE, "{flood:?}");
    let s = a.stats_of(2);
    assert!(
        s.queued_bytes > QUEUE - 2 * LEN,
        "queue should be nearly full: {s:?}"
    );
    assert_eq!(s.dropped_frames, 1, "{s:?}");
    assert!(a.is_connected(2), "back-pressure is not a failure");
    // Later the kernel may have taken a little more (buffer autotuning), but
    // the queue fills again at once: what A holds stays bounded.
    std::thread::sleep(Duration::from_millis(100));
    let again = a.ask(|reply| Cmd::Flood {
        to: 2,
        len: LEN,
        first_seq: flood.accepted,
        reply,
    });
    eprintln!("again: {again:?}");
    assert!(again.queue_full && again.max_queued <= QUEUE, "{again:?}");
    let accepted = flood.accepted + again.accepted;
    // Queue + event channel + socket buffers (tcp_wmem/tcp_rmem maxima).
    assert!(
        accepted as usize * LEN < 64 * MIB,
        "{accepted} frames accepted while the peer did not read"
    );
    // B reads again: everything accepted arrives, in order, nothing lost.
    b.cmds.send(Cmd::PauseEvents(false)).unwrap();
    let frames = b.frames_from(1, accepted as usize, SLOW);
    for (i, (kind, got)) in frames.iter().enumerate() {
        assert_eq!(*kind, 7);
        assert_eq!(seq_of(got), i as u64);
    }
    assert_eq!(frames.last().unwrap().1, body(1, 2, accepted - 1, LEN));
    let s = a.stats_of(2);
    assert_eq!((s.frames_sent, s.dropped_frames), (accepted, 2), "{s:?}");
    a.stop();
    b.stop();
}

#[test]
fn unknown_and_unconnected_peers_are_refused_by_send() {
    let a_addr = free_addr();
    let nobody = free_addr();
    let a = Node::start(config(1, a_addr, &[(2, nobody)])).unwrap();
    assert_eq!(a.send(99, 1, vec![1]), Err(SendError::UnknownPeer));
    assert_eq!(a.send(2, 1, vec![1]), Err(SendError::NotConnected));
    let s = a.stats_of(2);
    assert_eq!((s.connected, s.dropped_frames), (false, 1));
    a.stop();
}

#[test]
fn set_peers_removes_and_re_adds_links() {
    let a_addr = free_addr();
    let b_addr = free_addr();
    let members = [(1, a_addr), (2, b_addr)];
    let mut a = Node::start(config(1, a_addr, &members)).unwrap();
    let mut b = Node::start(config(2, b_addr, &members)).unwrap();
    a.expect(SLOW, &PeerEvent::Connected(2));
    b.expect(SLOW, &PeerEvent::Connected(1));
    // A drops B from its membership: A's link goes (Disconnected), and A
    // closes and then refuses B's connection, so B sees Disconnected too.
    a.cmds.send(Cmd::SetPeers(vec![])).unwrap();
    a.expect(PROMPT, &PeerEvent::Disconnected(2));
    b.expect(PROMPT, &PeerEvent::Disconnected(1));
    assert_eq!(a.send(2, 1, vec![1]), Err(SendError::UnknownPeer));
    assert!(a.stats().is_empty());
    let quiet = b.drain_for(Duration::from_millis(300));
    assert!(quiet.is_empty(), "B must stay refused: {quiet:?}");
    // Re-added: both directions come back.
    a.cmds.send(Cmd::SetPeers(vec![(2, b_addr)])).unwrap();
    a.expect(PROMPT, &PeerEvent::Connected(2));
    b.expect(PROMPT, &PeerEvent::Connected(1));
    a.send(2, 5, b"again".to_vec()).unwrap();
    b.send(1, 6, b"back".to_vec()).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (5, b"again".to_vec()));
    assert_eq!(a.frames_from(2, 1, PROMPT)[0], (6, b"back".to_vec()));
    // The same list again changes nothing.
    a.cmds.send(Cmd::SetPeers(vec![(2, b_addr)])).unwrap();
    let quiet = a.drain_for(Duration::from_millis(100));
    assert!(quiet.is_empty(), "{quiet:?}");
    a.stop();
    b.stop();
}

#[test]
fn set_peers_follows_an_address_change() {
    let a_addr = free_addr();
    let b_addr = free_addr();
    let wrong = free_addr();
    // A has B at an address where nothing listens; B has A right.
    let mut a = Node::start(config(1, a_addr, &[(2, wrong)])).unwrap();
    let mut b = Node::start(config(2, b_addr, &[(1, a_addr)])).unwrap();
    b.expect(SLOW, &PeerEvent::Connected(1));
    assert!(!a.is_connected(2));
    a.cmds.send(Cmd::SetPeers(vec![(2, b_addr)])).unwrap();
    a.expect(PROMPT, &PeerEvent::Connected(2));
    assert_eq!(a.stats_of(2).addr, b_addr);
    a.send(2, 1, b"moved".to_vec()).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (1, b"moved".to_vec()));
    // Moving a connected peer: Disconnected from the old link strictly
    // before Connected from the new one (checked by stop()).
    a.cmds.send(Cmd::SetPeers(vec![(2, wrong)])).unwrap();
    a.expect(PROMPT, &PeerEvent::Disconnected(2));
    a.cmds.send(Cmd::SetPeers(vec![(2, b_addr)])).unwrap();
    a.expect(PROMPT, &PeerEvent::Connected(2));
    a.stop();
    b.stop();
}

/// A raw std socket speaking (or not) the protocol to a real member.
fn raw_connect(to: SocketAddr) -> std::net::TcpStream {
    let s = std::net::TcpStream::connect_timeout(&to, PROMPT).expect("raw connect");
    s.set_read_timeout(Some(PROMPT)).unwrap();
    s.set_write_timeout(Some(PROMPT)).unwrap();
    s
}

/// True if the other end closed the connection within the read timeout
/// (reading and discarding anything before the close).
fn closed_by_peer(s: &mut std::net::TcpStream) -> bool {
    let mut buf = [0u8; 256];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

/// A connector's opening: `hello` and a nonce.
fn opening(hello: Hello) -> Vec<u8> {
    let mut o = hello.encode().to_vec();
    o.extend_from_slice(&auth::nonce());
    o
}

/// Sends an opening and reads the acceptor's answer, checking its hello
/// and its proof; returns the stream and the signed part of the answer.
fn raw_answer(
    to: SocketAddr,
    from_id: u64,
    to_id: u64,
    tag: u64,
) -> (std::net::TcpStream, Vec<u8>, Vec<u8>) {
    let mut s = raw_connect(to);
    let opening = opening(Hello::new(from_id, to_id, tag));
    s.write_all(&opening).unwrap();
    let mut answer = [0u8; wire::ANSWER_BYTES];
    s.read_exact(&mut answer).expect("handshake answer");
    let (signed, proof) = answer.split_at(wire::ANSWER_SIGNED_BYTES);
    assert_eq!(
        Hello::decode(signed[..HELLO_BYTES].try_into().unwrap()),
        Some(Hello::new(to_id, from_id, tag))
    );
    assert!(
        auth::verify(SECRET, auth::Role::Acceptor, &opening, signed, proof),
        "the acceptor proves it holds the secret"
    );
    (s, opening, signed.to_vec())
}

/// A complete handshake by a raw socket that knows the secret.
fn raw_handshake(to: SocketAddr, from_id: u64, to_id: u64, tag: u64) -> std::net::TcpStream {
    let (mut s, opening, signed) = raw_answer(to, from_id, to_id, tag);
    s.write_all(&auth::proof(
        SECRET,
        auth::Role::Connector,
        &opening,
        &signed,
    ))
    .unwrap();
    s
}

#[test]
fn malformed_input_closes_the_connection_without_harm() {
    let b_addr = free_addr();
    // Member 1 is played by raw sockets; nothing listens at its address.
    let members = [(1, free_addr()), (2, b_addr)];
    let mut b = Node::start(config(2, b_addr, &members)).unwrap();

    // A good handshake and frame first.
    let mut s = raw_handshake(b_addr, 1, 2, 0x5eed);
    let mut frame = Vec::new();
    encode_frame(&mut frame, 42, b"hi");
    s.write_all(&frame).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (42, b"hi".to_vec()));
    // A zero-length frame closes it.
    s.write_all(&[0, 0, 0, 0]).unwrap();
    assert!(closed_by_peer(&mut s), "zero-length frame");

    // An oversize length prefix closes it before any body arrives.
    let mut s = raw_handshake(b_addr, 1, 2, 0x5eed);
    s.write_all(&((2 * MIB + 1) as u32).to_le_bytes()).unwrap();
    assert!(closed_by_peer(&mut s), "oversize prefix");
    let mut s = raw_handshake(b_addr, 1, 2, 0x5eed);
    s.write_all(&u32::MAX.to_le_bytes()).unwrap();
    assert!(closed_by_peer(&mut s), "u32::MAX prefix");

    // Handshakes that must be refused: closed with no answer.
    let refused: [(&str, Vec<u8>); 6] = [
        (
            "bad magic",
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n123".to_vec(),
        ),
        ("wrong tag", opening(Hello::new(1, 2, 0xbad))),
        ("unknown id", opening(Hello::new(7, 2, 0x5eed))),
        ("wrong receiver", opening(Hello::new(1, 3, 0x5eed))),
        ("own id", opening(Hello::new(2, 2, 0x5eed))),
        ("other version", {
            let mut h = Hello::new(1, 2, 0x5eed);
            h.version = 99;
            opening(h)
        }),
    ];
    for (what, bytes) in refused {
        let mut s = raw_connect(b_addr);
        s.write_all(&bytes).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => {}
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
            other => panic!("{what}: expected a close, got {other:?}"),
        }
    }
    // A truncated handshake followed by EOF is just closed.
    let mut s = raw_connect(b_addr);
    s.write_all(&Hello::new(1, 2, 0x5eed).encode()[..10])
        .unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(closed_by_peer(&mut s), "truncated handshake");
    // A frame cut off by EOF is dropped, not delivered.
    let mut s = raw_handshake(b_addr, 1, 2, 0x5eed);
    s.write_all(&frame[..frame.len() - 1]).unwrap();
    drop(s);

    // None of it produced an event; the member still works.
    let events = b.drain_for(Duration::from_millis(100));
    assert!(events.is_empty(), "{:?}", summary(&events.into()));
    let mut s = raw_handshake(b_addr, 1, 2, 0x5eed);
    s.write_all(&frame).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (42, b"hi".to_vec()));
    assert!(b.stats_of(1).inbound_connected);
    b.stop();
}

#[test]
fn a_newer_inbound_connection_replaces_the_older_one() {
    let b_addr = free_addr();
    let members = [(1, free_addr()), (2, b_addr)];
    let mut b = Node::start(config(2, b_addr, &members)).unwrap();
    let mut old = raw_handshake(b_addr, 1, 2, 0x5eed);
    let mut frame = Vec::new();
    encode_frame(&mut frame, 1, b"old");
    old.write_all(&frame).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (1, b"old".to_vec()));
    let mut new = raw_handshake(b_addr, 1, 2, 0x5eed);
    assert!(closed_by_peer(&mut old), "the old connection is closed");
    frame.clear();
    encode_frame(&mut frame, 2, b"new");
    new.write_all(&frame).unwrap();
    assert_eq!(b.frames_from(1, 1, PROMPT)[0], (2, b"new".to_vec()));
    b.stop();
}

#[test]
fn start_reports_bind_and_configuration_errors() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap();
    let err = Node::start(config(1, addr, &[]))
        .err()
        .expect("port in use");
    assert!(err.contains("cannot listen"), "{err}");
    let mut cfg = config(1, free_addr(), &[]);
    cfg.peers = vec![(1, free_addr())];
    assert!(Node::start(cfg).err().unwrap().contains("own id"));
    let mut cfg = config(1, free_addr(), &[]);
    let p = free_addr();
    cfg.peers = vec![(2, p), (2, p)];
    assert!(Node::start(cfg).err().unwrap().contains("twice"));
    let mut cfg = config(1, free_addr(), &[]);
    cfg.queue_bytes_max = cfg.frame_bytes_max;
    assert!(Node::start(cfg).err().unwrap().contains("queue_bytes_max"));
    let mut cfg = config(1, free_addr(), &[]);
    cfg.frame_bytes_max = 0;
    assert!(Node::start(cfg).err().unwrap().contains("frame_bytes_max"));
}

#[test]
fn event_channel_capacity_follows_the_frame_limit() {
    assert_eq!(event_queue_capacity(MIB), 64);
    assert_eq!(event_queue_capacity(64 * MIB), EVENT_QUEUE_EVENTS_MIN);
    assert_eq!(event_queue_capacity(1024), EVENT_QUEUE_EVENTS_MAX);
}

#[test]
fn peer_sockets_get_nodelay() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let s = std::net::TcpStream::connect(l.local_addr().unwrap()).unwrap();
    tune_socket(s.as_raw_fd());
    assert!(s.nodelay().unwrap());
    let sock = socket2::SockRef::from(&s);
    assert!(sock.keepalive().unwrap());
    assert_eq!(sock.tcp_user_timeout().unwrap(), Some(TCP_USER_TIMEOUT));
}
