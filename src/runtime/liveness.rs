//! Liveness beacons between ensemble members: a small UDP datagram every
//! [`BEACON_INTERVAL`] from a thread of its own, so that a member whose
//! consensus executor is busy for a moment (a long apply, a shared core on
//! a small host) still tells its peers it is alive, and the election
//! timeout can be short enough to replace a silent leader (a hung process,
//! a partition, a power cut: nothing is sent at all) in well under 200 ms.
//!
//! A beacon only says "alive, in term T, following L"; it never votes,
//! commits or changes a log: the consensus core uses fresh beacons to reset
//! a follower's election timer (as a raft heartbeat would) and to count a
//! follower as recently active for the leader's check-quorum. The core
//! decides what to send and for how long ([`Liveness::plan`]): it keeps
//! extending the sending window while raft itself is healthy, so a member
//! whose consensus executor stops (deadlock, or a stall beyond the
//! tolerance) stops beaconing and is replaced.
//!
//! # Datagram (56 bytes, little-endian)
//!
//! | off | size | field |
//! |-----|------|-------|
//! | 0   | 4    | magic `b"RBCN"` |
//! | 4   | 1    | version, [`BEACON_VERSION`] |
//! | 5   | 1    | flags: bit 0 = the sender leads |
//! | 6   | 2    | reserved, 0 |
//! | 8   | 8    | sender id |
//! | 16  | 8    | sender's term |
//! | 24  | 8    | the leader the sender follows (itself when it leads; 0 none) |
//! | 32  | 8    | cluster tag (the peer handshake's) |
//! | 40  | 16   | HMAC-SHA1 of bytes 0..40 under the beacon key (from `roost.quorumSecret`), truncated |
//!
//! Anything else (another size, magic, version, tag, an unknown sender, a
//! bad MAC) is dropped and counted.
//!
//! Ownership: one `roost-liveness` thread owns the socket; [`Liveness`] is
//! shared with the consensus executor through atomics.

use crate::clock;
use crate::consensus::step::{BeaconPlan, Heard};
use crate::messages::MemberId;
use hmac::{Hmac, Mac};
use sha1::Sha1;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How often a member beacons.
pub const BEACON_INTERVAL: Duration = Duration::from_millis(10);
pub const BEACON_VERSION: u8 = 1;
const BEACON_MAGIC: &[u8; 4] = b"RBCN";
const BEACON_BYTES: usize = 56;
const MAC_BYTES: usize = 16;
/// Member ids are 1..=255 (`server.N`).
const MEMBER_ID_MAX: usize = 255;

/// What was last heard from one peer.
#[derive(Default)]
struct PeerHeard {
    /// Beacons received so far (the driver reports only new ones).
    count: AtomicU64,
    term: AtomicU64,
    leader: AtomicU64,
}

/// State shared by the beacon thread and the consensus executor.
pub struct Liveness {
    my_id: MemberId,
    cluster_tag: u64,
    key: [u8; 32],
    term: AtomicU64,
    leader: AtomicU64,
    leads: AtomicBool,
    /// Monotonic ms until which beacons go out (the core extends it).
    send_until_ms: AtomicI64,
    heard: Vec<PeerHeard>,
    peers: Mutex<Vec<(MemberId, SocketAddr)>>,
    /// Datagrams dropped as invalid.
    dropped: AtomicU64,
}

impl Liveness {
    /// Binds the beacon socket at `listen` (UDP, the quorum address) and
    /// starts the thread.
    pub fn start(
        my_id: MemberId,
        listen: SocketAddr,
        peers: Vec<(MemberId, SocketAddr)>,
        cluster_tag: u64,
        key: [u8; 32],
    ) -> std::io::Result<Arc<Liveness>> {
        let socket = UdpSocket::bind(listen)?;
        let shared = Arc::new(Liveness {
            my_id,
            cluster_tag,
            key,
            term: AtomicU64::new(0),
            leader: AtomicU64::new(0),
            leads: AtomicBool::new(false),
            send_until_ms: AtomicI64::new(0),
            heard: (0..=MEMBER_ID_MAX).map(|_| PeerHeard::default()).collect(),
            peers: Mutex::new(peers),
            dropped: AtomicU64::new(0),
        });
        let thread_state = shared.clone();
        std::thread::Builder::new()
            .name("roost-liveness".into())
            .spawn(move || run(thread_state, socket))?;
        Ok(shared)
    }

    /// What to beacon, decided by the consensus core.
    pub fn plan(&self, plan: &BeaconPlan) {
        self.term.store(plan.term, Ordering::Relaxed);
        self.leader.store(plan.leader, Ordering::Relaxed);
        self.leads.store(plan.leads, Ordering::Relaxed);
        self.send_until_ms
            .store(plan.send_until_ms, Ordering::Release);
    }

    /// The members to beacon (after a reconfig).
    pub fn set_peers(&self, peers: Vec<(MemberId, SocketAddr)>) {
        *self.peers.lock().expect("peer list lock") = peers;
    }

    /// Peers heard since `seen` (per member id: beacons counted then);
    /// updates `seen`.
    pub fn heard_since(&self, seen: &mut [u64]) -> Vec<Heard> {
        let mut out = Vec::new();
        for (id, h) in self.heard.iter().enumerate() {
            let count = h.count.load(Ordering::Acquire);
            if count != seen[id] {
                seen[id] = count;
                out.push(Heard {
                    from: id as MemberId,
                    term: h.term.load(Ordering::Relaxed),
                    leader: h.leader.load(Ordering::Relaxed),
                });
            }
        }
        out
    }

    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    fn mac(&self, body: &[u8]) -> [u8; MAC_BYTES] {
        let mut mac = Hmac::<Sha1>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(body);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; MAC_BYTES];
        out.copy_from_slice(&full[..MAC_BYTES]);
        out
    }

    fn encode(&self) -> [u8; BEACON_BYTES] {
        let mut b = [0u8; BEACON_BYTES];
        b[0..4].copy_from_slice(BEACON_MAGIC);
        b[4] = BEACON_VERSION;
        b[5] = self.leads.load(Ordering::Relaxed) as u8;
        b[8..16].copy_from_slice(&self.my_id.to_le_bytes());
        b[16..24].copy_from_slice(&self.term.load(Ordering::Relaxed).to_le_bytes());
        b[24..32].copy_from_slice(&self.leader.load(Ordering::Relaxed).to_le_bytes());
        b[32..40].copy_from_slice(&self.cluster_tag.to_le_bytes());
        let mac = self.mac(&b[..40]);
        b[40..].copy_from_slice(&mac);
        b
    }

    /// Checks and records one datagram; false if it is not a valid beacon
    /// from a known peer.
    fn receive(&self, b: &[u8], from_addr: SocketAddr) -> bool {
        if b.len() != BEACON_BYTES || &b[0..4] != BEACON_MAGIC || b[4] != BEACON_VERSION {
            return false;
        }
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let (from, term, leader, tag) = (u64_at(8), u64_at(16), u64_at(24), u64_at(32));
        if tag != self.cluster_tag || from == self.my_id || from as usize > MEMBER_ID_MAX {
            return false;
        }
        // The sender must be a member we know, at the address we know.
        let known = self
            .peers
            .lock()
            .expect("peer list lock")
            .iter()
            .any(|&(id, addr)| id == from && addr.ip() == from_addr.ip());
        if !known || self.mac(&b[..40]) != b[40..] {
            return false;
        }
        let h = &self.heard[from as usize];
        h.term.store(term, Ordering::Relaxed);
        h.leader.store(leader, Ordering::Relaxed);
        h.count.fetch_add(1, Ordering::Release);
        true
    }
}

/// The beacon thread: send when due, receive in between.
fn run(shared: Arc<Liveness>, socket: UdpSocket) {
    raise_priority();
    let mut buf = [0u8; 2 * BEACON_BYTES];
    let interval_ms = BEACON_INTERVAL.as_millis() as i64;
    let mut next_send = clock::monotonic_ms();
    loop {
        let now = clock::monotonic_ms();
        if now >= next_send {
            if now < shared.send_until_ms.load(Ordering::Acquire) {
                let beacon = shared.encode();
                let peers = shared.peers.lock().expect("peer list lock").clone();
                for (_, addr) in peers {
                    // Best effort: a beacon lost is a beacon late.
                    let _ = socket.send_to(&beacon, addr);
                }
            }
            next_send = (next_send + interval_ms).max(now);
        }
        let wait = (next_send - clock::monotonic_ms()).clamp(1, interval_ms) as u64;
        let _ = socket.set_read_timeout(Some(Duration::from_millis(wait)));
        if let Ok((n, addr)) = socket.recv_from(&mut buf) {
            if !shared.receive(&buf[..n], addr) {
                shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// The thread does a few microseconds of work every interval; it should
/// run the moment it wakes, whatever else the host is doing: real-time
/// priority where allowed (root), else a high nice value.
fn raise_priority() {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: plain syscalls on the calling thread with valid arguments.
    let rc = unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    if rc != 0 {
        let tid = unsafe { libc::syscall(libc::SYS_gettid) } as libc::id_t;
        let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, -10) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pair() -> (Arc<Liveness>, Arc<Liveness>) {
        let a_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let (a_addr, b_addr) = (a_sock.local_addr().unwrap(), b_sock.local_addr().unwrap());
        drop((a_sock, b_sock));
        let a = Liveness::start(1, a_addr, vec![(2, b_addr)], 77, [5; 32]).unwrap();
        let b = Liveness::start(2, b_addr, vec![(1, a_addr)], 77, [5; 32]).unwrap();
        (a, b)
    }

    #[test]
    fn beacons_flow_while_planned_and_stop_after() {
        let (a, b) = pair();
        let now = clock::monotonic_ms();
        a.plan(&BeaconPlan {
            term: 4,
            leader: 1,
            leads: true,
            send_until_ms: now + 300,
        });
        let mut seen = vec![0u64; MEMBER_ID_MAX + 1];
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        let heard = loop {
            let h = b.heard_since(&mut seen);
            if !h.is_empty() || std::time::Instant::now() > deadline {
                break h;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        assert_eq!(
            heard,
            vec![Heard {
                from: 1,
                term: 4,
                leader: 1
            }]
        );
        // Past the window nothing more is sent.
        std::thread::sleep(Duration::from_millis(400));
        b.heard_since(&mut seen);
        std::thread::sleep(Duration::from_millis(100));
        assert!(
            b.heard_since(&mut seen).is_empty(),
            "beacons after the window"
        );
    }

    #[test]
    fn forged_or_foreign_datagrams_are_dropped() {
        let (a, b) = pair();
        let forger = UdpSocket::bind("127.0.0.1:0").unwrap();
        let b_addr = {
            let peers = a.peers.lock().unwrap();
            peers[0].1
        };
        // A valid beacon of member 1 but with a flipped MAC byte, another
        // cluster's tag, and a short datagram.
        let mut good = a.encode();
        good[45] ^= 1;
        forger.send_to(&good, b_addr).unwrap();
        forger.send_to(b"RBCN", b_addr).unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while b.dropped() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
        assert_eq!(b.dropped(), 2);
        let mut seen = vec![0u64; MEMBER_ID_MAX + 1];
        assert!(b.heard_since(&mut seen).is_empty());
    }
}
