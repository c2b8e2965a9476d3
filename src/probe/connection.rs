//! Per-connection counters (`cons`, `stat`).

use super::LatencyStats;

/// What `cons` reports for one connection. Owned by the client shard that
/// owns the connection; plain integers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionProbe {
    /// Requests read and not yet answered on this connection (`queued=`).
    queued: u64,
    /// Frames read (`recved=`).
    received: u64,
    /// Frames written (`sent=`).
    sent: u64,
    /// Short name of the last operation (`lop=`), from `OpCode::short_name`.
    last_op: &'static str,
    /// Wall-clock ms since the epoch when the connection was accepted (`est=`).
    established_ms: u64,
    /// Negotiated session timeout (`to=`); 0 before the handshake.
    session_timeout_ms: u32,
    /// Last xid answered (`lcxid=`); -1 = none.
    last_cxid: i64,
    /// Last zxid answered (`lzxid=`); -1 = none.
    last_zxid: i64,
    /// Monotonic ms of the last reply (`lresp=`).
    last_response_ms: u64,
    /// Latency of the last request (`llat=`).
    last_latency_ms: u64,
    latency: LatencyStats,
}

impl ConnectionProbe {
    /// A connection accepted at `established_ms` (wall clock, ms since epoch).
    pub fn new(established_ms: u64) -> ConnectionProbe {
        ConnectionProbe {
            queued: 0,
            received: 0,
            sent: 0,
            last_op: "NA",
            established_ms,
            session_timeout_ms: 0,
            last_cxid: -1,
            last_zxid: -1,
            last_response_ms: 0,
            last_latency_ms: 0,
            latency: LatencyStats::default(),
        }
    }

    /// A frame was read.
    pub fn packet_received(&mut self) {
        self.received += 1;
    }

    /// A frame was written.
    pub fn packet_sent(&mut self) {
        self.sent += 1;
    }

    /// A request was read and is waiting for its reply.
    pub fn request_queued(&mut self) {
        self.queued += 1;
    }

    /// A request was answered: updates `lop`, `lcxid`, `lzxid`, `lresp` and
    /// the latency figures. `now_ms` is the monotonic clock.
    pub fn request_answered(
        &mut self,
        op_short_name: &'static str,
        cxid: i32,
        zxid: i64,
        latency_ms: u64,
        now_ms: u64,
    ) {
        self.queued = self.queued.saturating_sub(1);
        self.last_op = op_short_name;
        self.last_cxid = i64::from(cxid);
        self.last_zxid = zxid;
        self.last_response_ms = now_ms;
        self.last_latency_ms = latency_ms;
        self.latency.record(latency_ms);
    }

    /// The handshake negotiated this timeout.
    pub fn session_established(&mut self, timeout_ms: u32) {
        self.session_timeout_ms = timeout_ms;
    }

    /// `crst` (and `srst`, which ZooKeeper also applies to every connection):
    /// clears counters and "last" fields; keeps `queued`, `est` and `to`,
    /// which describe the connection rather than its history.
    pub fn reset(&mut self) {
        *self = ConnectionProbe {
            queued: self.queued,
            session_timeout_ms: self.session_timeout_ms,
            ..ConnectionProbe::new(self.established_ms)
        };
    }

    pub fn queued(&self) -> u64 {
        self.queued
    }
    pub fn received(&self) -> u64 {
        self.received
    }
    pub fn sent(&self) -> u64 {
        self.sent
    }
    pub fn last_op(&self) -> &'static str {
        self.last_op
    }
    pub fn established_ms(&self) -> u64 {
        self.established_ms
    }
    pub fn session_timeout_ms(&self) -> u32 {
        self.session_timeout_ms
    }
    pub fn last_cxid(&self) -> i64 {
        self.last_cxid
    }
    pub fn last_zxid(&self) -> i64 {
        self.last_zxid
    }
    pub fn last_response_ms(&self) -> u64 {
        self.last_response_ms
    }
    pub fn last_latency_ms(&self) -> u64 {
        self.last_latency_ms
    }
    pub fn latency(&self) -> &LatencyStats {
        &self.latency
    }

    /// Folds another probe's counters in, e.g. to total all connections of
    /// a shard. "Last" fields take the most recent response's values.
    pub fn merge(&mut self, other: &ConnectionProbe) {
        self.queued += other.queued;
        self.received += other.received;
        self.sent += other.sent;
        self.latency.merge(&other.latency);
        if other.last_response_ms > self.last_response_ms {
            self.last_op = other.last_op;
            self.last_cxid = other.last_cxid;
            self.last_zxid = other.last_zxid;
            self.last_response_ms = other.last_response_ms;
            self.last_latency_ms = other.last_latency_ms;
        }
        self.established_ms = self.established_ms.min(other.established_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_connection_matches_zookeeper() {
        let p = ConnectionProbe::new(1_795_324_397_721);
        assert_eq!(p.last_op(), "NA");
        assert_eq!((p.last_cxid(), p.last_zxid()), (-1, -1));
        assert_eq!((p.queued(), p.received(), p.sent()), (0, 0, 0));
    }

    #[test]
    fn answer_then_reset() {
        let mut p = ConnectionProbe::new(100);
        p.session_established(30_000);
        p.packet_received();
        p.request_queued();
        p.request_queued();
        p.request_answered("ADDW", 3, 0x18, 1, 813_119);
        p.packet_sent();
        assert_eq!(
            (p.queued(), p.last_op(), p.last_cxid(), p.last_zxid()),
            (1, "ADDW", 3, 0x18)
        );
        assert_eq!(
            (
                p.last_response_ms(),
                p.last_latency_ms(),
                p.latency().max_ms()
            ),
            (813_119, 1, 1)
        );
        p.reset();
        assert_eq!(
            (p.received(), p.sent(), p.last_op(), p.last_cxid()),
            (0, 0, "NA", -1)
        );
        assert_eq!(
            (p.queued(), p.session_timeout_ms(), p.established_ms()),
            (1, 30_000, 100)
        );
        assert_eq!(p.latency().count(), 0);
    }

    #[test]
    fn merge_sums_and_keeps_latest() {
        let mut a = ConnectionProbe::new(50);
        a.request_queued();
        a.request_answered("GETD", 1, 5, 2, 10);
        let mut b = ConnectionProbe::new(40);
        b.request_queued();
        b.request_answered("SETD", 7, 9, 4, 20);
        a.merge(&b);
        assert_eq!(
            (a.last_op(), a.last_zxid(), a.established_ms()),
            ("SETD", 9, 40)
        );
        assert_eq!(a.latency().count(), 2);
    }
}
