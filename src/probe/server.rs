//! Server-wide counters (`srvr`, `stat`, `mntr`), one instance per core.

use super::LatencyStats;

/// Counters for one core. Owned and mutated only by that core; plain
/// integers. Combine copies from every core with [`ServerProbe::merge`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ServerProbe {
    packets_received: u64,
    packets_sent: u64,
    latency: LatencyStats,
    /// Requests accepted and not yet answered (a gauge: never reset).
    outstanding: u64,
    auth_failed: u64,
    /// Gauges too: `srst` does not reset them (alive = opened - closed).
    connections_opened: u64,
    connections_closed: u64,
}

impl ServerProbe {
    /// A request or ping frame arrived.
    pub fn packet_received(&mut self) {
        self.packets_received += 1;
    }

    /// A reply or notification frame was written.
    pub fn packet_sent(&mut self) {
        self.packets_sent += 1;
    }

    /// A request entered processing.
    pub fn request_started(&mut self) {
        self.outstanding += 1;
    }

    /// A request was answered after `latency_ms` (counts toward min/avg/max).
    pub fn request_finished(&mut self, latency_ms: u64) {
        self.outstanding = self.outstanding.saturating_sub(1);
        self.latency.record(latency_ms);
    }

    /// Requests of a closed connection that will never be answered.
    pub fn requests_abandoned(&mut self, count: u64) {
        self.outstanding = self.outstanding.saturating_sub(count);
    }

    /// An auth or SASL attempt failed.
    pub fn auth_failed(&mut self) {
        self.auth_failed += 1;
    }

    pub fn connection_opened(&mut self) {
        self.connections_opened += 1;
    }

    pub fn connection_closed(&mut self) {
        self.connections_closed += 1;
    }

    pub fn packets_received(&self) -> u64 {
        self.packets_received
    }

    pub fn packets_sent(&self) -> u64 {
        self.packets_sent
    }

    pub fn latency(&self) -> &LatencyStats {
        &self.latency
    }

    pub fn outstanding(&self) -> u64 {
        self.outstanding
    }

    pub fn auth_failed_count(&self) -> u64 {
        self.auth_failed
    }

    pub fn connections_opened(&self) -> u64 {
        self.connections_opened
    }

    pub fn connections_closed(&self) -> u64 {
        self.connections_closed
    }

    /// Connections currently open.
    pub fn connections_alive(&self) -> u64 {
        self.connections_opened
            .saturating_sub(self.connections_closed)
    }

    /// `srst`: clears latency, packet and auth-failure counters, as
    /// ZooKeeper does. Gauges (outstanding, connections) are kept because
    /// they describe the present, not history.
    pub fn reset(&mut self) {
        self.packets_received = 0;
        self.packets_sent = 0;
        self.latency.reset();
        self.auth_failed = 0;
    }

    /// Adds another core's counters into this one.
    pub fn merge(&mut self, other: &ServerProbe) {
        self.packets_received += other.packets_received;
        self.packets_sent += other.packets_sent;
        self.latency.merge(&other.latency);
        self.outstanding += other.outstanding;
        self.auth_failed += other.auth_failed;
        self.connections_opened += other.connections_opened;
        self.connections_closed += other.connections_closed;
    }

    /// Merges many cores' probes.
    pub fn merged<'a>(probes: impl IntoIterator<Item = &'a ServerProbe>) -> ServerProbe {
        let mut total = ServerProbe::default();
        for p in probes {
            total.merge(p);
        }
        total
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_merge_and_reset() {
        let mut a = ServerProbe::default();
        a.connection_opened();
        a.packet_received();
        a.request_started();
        a.request_finished(3);
        a.packet_sent();
        a.request_started();
        let mut b = ServerProbe::default();
        b.connection_opened();
        b.connection_opened();
        b.connection_closed();
        b.auth_failed();
        b.packet_received();
        b.request_finished(54);
        let mut m = ServerProbe::merged([&a, &b]);
        assert_eq!(m.packets_received(), 2);
        assert_eq!(m.packets_sent(), 1);
        assert_eq!(m.outstanding(), 1);
        assert_eq!(m.connections_alive(), 2);
        assert_eq!(m.auth_failed_count(), 1);
        assert_eq!((m.latency().min_ms(), m.latency().max_ms()), (3, 54));
        m.reset();
        assert_eq!(
            (
                m.packets_received(),
                m.latency().count(),
                m.auth_failed_count()
            ),
            (0, 0, 0)
        );
        assert_eq!((m.outstanding(), m.connections_alive()), (1, 2));
    }
}
