//! A connection's queue of unanswered requests, and the server-wide count
//! of them that `globalOutstandingLimit` bounds.
//!
//! The count cannot drift: it is kept by the queues themselves (every push
//! adds one, every pop and the queue's drop take away what left), so a
//! connection that closes with requests unanswered gives them back by being
//! dropped, whatever path closed it. A count that only ever grew would stop
//! every reader for good.

use super::conn::Pending;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// One counter per client shard, so shards do not contend on one cache
/// line; [`InFlight::total`] sums them. Shared by every shard of a server.
#[derive(Debug)]
pub struct InFlight {
    slots: Box<[PaddedCount]>,
}

/// A counter alone on its cache line.
#[derive(Debug, Default)]
#[repr(align(128))]
struct PaddedCount(AtomicUsize);

impl InFlight {
    pub fn new(shards: usize) -> Arc<InFlight> {
        assert!(shards > 0, "a server has at least one client shard");
        Arc::new(InFlight {
            slots: (0..shards).map(|_| PaddedCount::default()).collect(),
        })
    }

    /// Requests queued unanswered on every connection of every shard.
    /// Relaxed: a back-pressure bound, not a synchronisation point.
    pub fn total(&self) -> usize {
        self.slots.iter().map(|s| s.0.load(Ordering::Relaxed)).sum()
    }

    fn add(&self, shard: usize, n: usize) {
        self.slots[shard].0.fetch_add(n, Ordering::Relaxed);
    }

    fn sub(&self, shard: usize, n: usize) {
        let before = self.slots[shard].0.fetch_sub(n, Ordering::Relaxed);
        assert!(
            before >= n,
            "in-flight count of shard {shard} went below zero"
        );
    }
}

/// The FIFO of a connection's unanswered requests (see [`Pending`]),
/// counted into its shard's [`InFlight`] slot. The handshake (`Connect`)
/// is not a request and is not counted. Owned by the connection.
#[derive(Debug)]
pub struct PendingQueue {
    queue: VecDeque<Pending>,
    in_flight: Arc<InFlight>,
    shard: usize,
    /// Entries counted into the slot (all but `Connect`).
    counted: usize,
}

impl PendingQueue {
    pub fn new(in_flight: Arc<InFlight>, shard: usize) -> PendingQueue {
        PendingQueue {
            queue: VecDeque::new(),
            in_flight,
            shard,
            counted: 0,
        }
    }

    pub fn push_back(&mut self, p: Pending) {
        if !matches!(p, Pending::Connect) {
            self.counted += 1;
            self.in_flight.add(self.shard, 1);
        }
        self.queue.push_back(p);
    }

    pub fn pop_front(&mut self) -> Option<Pending> {
        let p = self.queue.pop_front()?;
        if !matches!(p, Pending::Connect) {
            self.counted -= 1;
            self.in_flight.sub(self.shard, 1);
        }
        Some(p)
    }

    pub fn front(&self) -> Option<&Pending> {
        self.queue.front()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = &Pending> {
        self.queue.iter()
    }

    /// Entries may change in place (a read's barrier arriving), not their
    /// kind: a `Connect` stays one and a request stays a request.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut Pending> {
        self.queue.iter_mut()
    }
}

impl Drop for PendingQueue {
    fn drop(&mut self) {
        self.in_flight.sub(self.shard, self.counted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::OpCode;

    fn write(xid: i32) -> Pending {
        Pending::Core {
            xid,
            opcode: OpCode::SetData,
            started_ms: 0,
        }
    }

    #[test]
    fn the_count_follows_the_queues_and_a_dropped_queue_gives_back_its_requests() {
        let in_flight = InFlight::new(2);
        let mut a = PendingQueue::new(in_flight.clone(), 0);
        let mut b = PendingQueue::new(in_flight.clone(), 1);
        a.push_back(Pending::Connect);
        assert_eq!(in_flight.total(), 0, "a handshake is not a request");
        a.pop_front();
        for xid in 1..=3 {
            a.push_back(write(xid));
            b.push_back(write(xid));
        }
        assert_eq!(in_flight.total(), 6);
        assert!(matches!(a.pop_front(), Some(Pending::Core { xid: 1, .. })));
        assert_eq!(in_flight.total(), 5);
        // A connection closed with two requests unanswered.
        drop(a);
        assert_eq!(in_flight.total(), 3);
        drop(b);
        assert_eq!(in_flight.total(), 0);
    }
}
