//! Latency and error accounting: per-thread histograms, merged at the end.
//!
//! Each worker thread owns one [`ThreadStats`] (no sharing, no locks on the
//! hot path) and hands it to the main thread when the run is over, which
//! merges them with [`ThreadStats::merge`]. Progress each second travels as
//! a separate small [`IntervalStats`] (one channel send per second).
//!
//! Coordinated omission: in open-loop mode a request's latency is measured
//! from the time the schedule *intended* to send it, not from when the
//! worker actually wrote it ([`OpenLoopSchedule`]). When the server stalls,
//! the requests that should have gone out during the stall are charged the
//! stall, as a real client population arriving at that rate would see it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

use crate::workload::OpKind;

/// The smallest latency a histogram resolves, in microseconds.
pub const LATENCY_US_MIN: u64 = 1;
/// The largest latency a histogram tracks; anything slower is clamped here
/// (and is a broken run anyway).
pub const LATENCY_US_MAX: u64 = 120_000_000;
/// Significant decimal digits kept: 3 gives 0.1% value resolution.
pub const LATENCY_SIGFIG: u8 = 3;

pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(LATENCY_US_MIN, LATENCY_US_MAX, LATENCY_SIGFIG)
        .expect("the latency histogram bounds are valid constants")
}

/// Microseconds from `origin` (intended or actual send time) to `done`.
/// Clamped to at least 1 µs so a value is always recordable.
pub fn latency_us(origin: Instant, done: Instant) -> u64 {
    let us = done.saturating_duration_since(origin).as_micros();
    u64::try_from(us).unwrap_or(u64::MAX).max(LATENCY_US_MIN)
}

/// Why a request (or a session) failed, as counted in `errors_by_code`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ErrorKey {
    /// The server's reply carried this non-zero ZooKeeper error code.
    Server(i32),
    /// The connection broke with the request in flight.
    ConnectionLoss,
    /// A reply that did not decode.
    Decode,
    /// A reply whose xid did not match the oldest request in flight (the
    /// server broke FIFO order, digest §5.3).
    XidMismatch,
    /// A session that could not be established (TCP or handshake).
    ConnectFailed,
}

impl ErrorKey {
    /// The report name: ZooKeeper's `KeeperException.Code` name for server
    /// codes, a lower-case name for the generator's own observations.
    pub fn name(self) -> String {
        match self {
            ErrorKey::Server(code) => match zk_error_name(code) {
                Some(name) => name.to_owned(),
                None => format!("ERROR_{code}"),
            },
            ErrorKey::ConnectionLoss => "connection_loss".to_owned(),
            ErrorKey::Decode => "bad_reply".to_owned(),
            ErrorKey::XidMismatch => "xid_out_of_order".to_owned(),
            ErrorKey::ConnectFailed => "connect_failed".to_owned(),
        }
    }
}

/// ZooKeeper's names for its error codes (digest §15).
pub fn zk_error_name(code: i32) -> Option<&'static str> {
    Some(match code {
        -1 => "SYSTEMERROR",
        -2 => "RUNTIMEINCONSISTENCY",
        -3 => "DATAINCONSISTENCY",
        -4 => "CONNECTIONLOSS",
        -5 => "MARSHALLINGERROR",
        -6 => "UNIMPLEMENTED",
        -7 => "OPERATIONTIMEOUT",
        -8 => "BADARGUMENTS",
        -12 => "UNKNOWNSESSION",
        -13 => "NEWCONFIGNOQUORUM",
        -14 => "RECONFIGINPROGRESS",
        -100 => "APIERROR",
        -101 => "NONODE",
        -102 => "NOAUTH",
        -103 => "BADVERSION",
        -108 => "NOCHILDRENFOREPHEMERALS",
        -110 => "NODEEXISTS",
        -111 => "NOTEMPTY",
        -112 => "SESSIONEXPIRED",
        -113 => "INVALIDCALLBACK",
        -114 => "INVALIDACL",
        -115 => "AUTHFAILED",
        -118 => "SESSIONMOVED",
        -119 => "NOTREADONLY",
        -120 => "EPHEMERALONLOCALSESSION",
        -121 => "NOWATCHER",
        -122 => "REQUESTTIMEOUT",
        -123 => "RECONFIGDISABLED",
        -124 => "SESSIONCLOSEDREQUIRESASLAUTH",
        -125 => "QUOTAEXCEEDED",
        -127 => "THROTTLEDOP",
        _ => return None,
    })
}

/// One op kind's measured results.
#[derive(Clone, Debug)]
pub struct OpStats {
    /// Latencies of successful replies, in µs.
    pub hist: Histogram<u64>,
    /// Replies with an error, and requests lost with their connection.
    pub errors: u64,
}

impl OpStats {
    fn new() -> OpStats {
        OpStats {
            hist: new_histogram(),
            errors: 0,
        }
    }

    #[cfg(test)]
    pub fn count(&self) -> u64 {
        self.hist.len()
    }
}

/// Everything one worker measured inside the measurement window.
///
/// Owned by one worker thread until the run ends, then moved to the main
/// thread for merging.
#[derive(Clone, Debug)]
pub struct ThreadStats {
    pub ops: [OpStats; OpKind::COUNT],
    pub errors_by_code: BTreeMap<ErrorKey, u64>,
    /// Open loop only: sends that left later than intended because the
    /// session's window was full (their latency includes the wait).
    pub late_sends: u64,
    pub sessions_lost: u64,
}

impl Default for ThreadStats {
    fn default() -> Self {
        ThreadStats::new()
    }
}

impl ThreadStats {
    pub fn new() -> ThreadStats {
        ThreadStats {
            ops: [OpStats::new(), OpStats::new()],
            errors_by_code: BTreeMap::new(),
            late_sends: 0,
            sessions_lost: 0,
        }
    }

    pub fn record_ok(&mut self, kind: OpKind, latency_us: u64) {
        self.ops[kind as usize].hist.saturating_record(latency_us);
    }

    /// An error that belongs to a request of `kind`.
    pub fn record_op_error(&mut self, kind: OpKind, key: ErrorKey) {
        self.ops[kind as usize].errors += 1;
        self.record_error(key);
    }

    /// An error not tied to one request (a failed connect).
    pub fn record_error(&mut self, key: ErrorKey) {
        *self.errors_by_code.entry(key).or_insert(0) += 1;
    }

    #[cfg(test)]
    pub fn total_ok(&self) -> u64 {
        self.ops.iter().map(OpStats::count).sum()
    }

    #[cfg(test)]
    pub fn total_errors(&self) -> u64 {
        self.errors_by_code.values().sum()
    }

    /// Folds another worker's results into this one. Histogram addition is
    /// exact (same bounds and precision everywhere), so merged percentiles
    /// are those of the union of all samples, not an average of percentiles.
    pub fn merge(&mut self, other: &ThreadStats) {
        for (mine, theirs) in self.ops.iter_mut().zip(&other.ops) {
            mine.hist
                .add(&theirs.hist)
                .expect("all latency histograms share the same bounds");
            mine.errors += theirs.errors;
        }
        for (key, n) in &other.errors_by_code {
            *self.errors_by_code.entry(*key).or_insert(0) += n;
        }
        self.late_sends += other.late_sends;
        self.sessions_lost += other.sessions_lost;
    }
}

/// One second of one worker's progress (warm-up included), for the live line.
#[derive(Clone, Debug)]
pub struct IntervalStats {
    pub ok: u64,
    pub errors: u64,
    pub hist: Histogram<u64>,
}

impl Default for IntervalStats {
    fn default() -> Self {
        IntervalStats {
            ok: 0,
            errors: 0,
            hist: new_histogram(),
        }
    }
}

impl IntervalStats {
    pub fn merge(&mut self, other: &IntervalStats) {
        self.ok += other.ok;
        self.errors += other.errors;
        self.hist
            .add(&other.hist)
            .expect("all latency histograms share the same bounds");
    }
}

/// Open-loop send schedule: request k is due at `start + k / rate`.
///
/// Slots are never skipped: if the worker falls behind (the server stalled
/// or every window is full), each missed slot is still issued, and carries
/// its original intended time, which is what the latency is measured from.
#[derive(Clone, Debug)]
pub struct OpenLoopSchedule {
    start: Instant,
    interval_ns: f64,
    k: u64,
}

impl OpenLoopSchedule {
    /// `rate_per_s` must be positive; `phase` in [0, 1) offsets the first
    /// slot so several workers do not fire in lockstep.
    pub fn new(start: Instant, rate_per_s: f64, phase: f64) -> OpenLoopSchedule {
        assert!(rate_per_s > 0.0, "open-loop rate must be positive");
        let interval_ns = 1e9 / rate_per_s;
        let start = start + Duration::from_nanos((interval_ns * phase) as u64);
        OpenLoopSchedule {
            start,
            interval_ns,
            k: 0,
        }
    }

    /// The intended time of the next slot.
    pub fn next_intended(&self) -> Instant {
        self.start + Duration::from_nanos((self.interval_ns * self.k as f64) as u64)
    }

    /// The next slot if it is due at `now` (and consumes it).
    pub fn take_due(&mut self, now: Instant) -> Option<Instant> {
        let at = self.next_intended();
        if at <= now {
            self.k += 1;
            Some(at)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats_with(latencies: &[(OpKind, u64)], errors: &[(OpKind, ErrorKey)]) -> ThreadStats {
        let mut s = ThreadStats::new();
        for &(k, us) in latencies {
            s.record_ok(k, us);
        }
        for &(k, e) in errors {
            s.record_op_error(k, e);
        }
        s
    }

    #[test]
    fn merge_is_the_union_of_samples() {
        // Thread A saw 99 fast gets, thread B one slow get: merged p99 must be
        // fast and max slow, which averaging per-thread percentiles would miss.
        let a = stats_with(&vec![(OpKind::Get, 100); 99], &[]);
        let b = stats_with(
            &[(OpKind::Get, 50_000), (OpKind::Set, 700)],
            &[
                (OpKind::Set, ErrorKey::Server(-101)),
                (OpKind::Get, ErrorKey::ConnectionLoss),
            ],
        );
        let mut m = ThreadStats::new();
        m.merge(&a);
        m.merge(&b);
        let get = &m.ops[OpKind::Get as usize];
        assert_eq!(get.count(), 100);
        assert_eq!(get.hist.value_at_quantile(0.99), 100);
        assert!(get.hist.max() >= 49_990);
        assert_eq!(get.errors, 1);
        assert_eq!(m.ops[OpKind::Set as usize].count(), 1);
        assert_eq!(m.ops[OpKind::Set as usize].errors, 1);
        assert_eq!(m.errors_by_code[&ErrorKey::Server(-101)], 1);
        assert_eq!(m.errors_by_code[&ErrorKey::ConnectionLoss], 1);
        assert_eq!(m.total_ok(), 101);
        assert_eq!(m.total_errors(), 2);
    }

    #[test]
    fn huge_latencies_are_clamped_not_lost() {
        let mut s = ThreadStats::new();
        s.record_ok(OpKind::Get, u64::MAX);
        assert_eq!(s.ops[0].count(), 1);
    }

    #[test]
    fn error_names() {
        assert_eq!(ErrorKey::Server(-101).name(), "NONODE");
        assert_eq!(ErrorKey::Server(-103).name(), "BADVERSION");
        assert_eq!(ErrorKey::Server(-999).name(), "ERROR_-999");
        assert_eq!(ErrorKey::ConnectionLoss.name(), "connection_loss");
    }

    #[test]
    fn latency_is_at_least_one_microsecond() {
        let t = Instant::now();
        assert_eq!(latency_us(t, t), 1);
        assert_eq!(latency_us(t + Duration::from_millis(5), t), 1);
        assert_eq!(latency_us(t, t + Duration::from_millis(5)), 5_000);
    }

    #[test]
    fn schedule_spaces_slots_and_skips_none() {
        let t0 = Instant::now();
        let mut s = OpenLoopSchedule::new(t0, 1_000.0, 0.0);
        // Nothing is due before the first slot; then exactly the due slots.
        assert_eq!(s.take_due(t0), Some(t0));
        assert_eq!(s.take_due(t0 + Duration::from_micros(999)), None);
        let now = t0 + Duration::from_millis(10);
        let mut due = Vec::new();
        while let Some(at) = s.take_due(now) {
            due.push(at);
        }
        assert_eq!(due.len(), 10, "slots 1..=10 ms are all due");
        assert_eq!(due[0], t0 + Duration::from_millis(1));
        assert_eq!(due[9], t0 + Duration::from_millis(10));
    }

    #[test]
    fn phase_offsets_the_first_slot() {
        let t0 = Instant::now();
        let s = OpenLoopSchedule::new(t0, 1_000.0, 0.5);
        assert_eq!(s.next_intended(), t0 + Duration::from_micros(500));
    }

    /// The coordinated-omission correction: a server that answers in 100 µs
    /// but stalls for 100 ms once. At 1,000 req/s a real population would
    /// have ~100 requests arrive during the stall, waiting on average 50 ms.
    /// Measuring from the intended time charges them that wait; measuring
    /// from the actual send (what a closed loop sees) hides it.
    #[test]
    fn open_loop_latency_charges_the_stall() {
        let t0 = Instant::now();
        let service = Duration::from_micros(100);
        let stall_from = t0 + Duration::from_millis(500);
        let stall_until = t0 + Duration::from_millis(600);
        let mut sched = OpenLoopSchedule::new(t0, 1_000.0, 0.0);
        let mut corrected = new_histogram();
        let mut naive = new_histogram();
        let end = t0 + Duration::from_secs(1);
        // The worker's clock: while the server stalls it cannot send (its one
        // window slot is taken), so sends bunch up right after the stall.
        let mut now = t0;
        while now < end {
            while let Some(intended) = sched.take_due(now) {
                let sent = if intended >= stall_from && intended < stall_until {
                    stall_until
                } else {
                    now
                };
                let done = sent + service;
                corrected.saturating_record(latency_us(intended, done));
                naive.saturating_record(latency_us(sent, done));
            }
            now += Duration::from_micros(50);
        }
        assert_eq!(corrected.len(), 1_000);
        // ~10% of requests fell into the stall: p95 lands inside it.
        assert!(
            corrected.value_at_quantile(0.95) > 40_000,
            "{}",
            corrected.value_at_quantile(0.95)
        );
        assert!(corrected.max() >= 99_000);
        // Naive measurement sees only service time.
        assert!(naive.max() <= 200, "{}", naive.max());
    }
}
