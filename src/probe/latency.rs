//! Request latency summary (min/avg/max), as ZooKeeper reports it.

/// Min, max, sum and count of request latencies in milliseconds.
/// Owned by the core that owns the enclosing probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LatencyStats {
    count: u64,
    sum_ms: u64,
    /// Meaningful only when `count > 0`.
    min_ms: u64,
    max_ms: u64,
}

impl LatencyStats {
    /// Adds one sample.
    pub fn record(&mut self, latency_ms: u64) {
        if self.count == 0 || latency_ms < self.min_ms {
            self.min_ms = latency_ms;
        }
        self.max_ms = self.max_ms.max(latency_ms);
        self.sum_ms = self.sum_ms.saturating_add(latency_ms);
        self.count += 1;
    }

    /// Smallest sample; 0 with no samples (ZooKeeper prints 0, not its sentinel).
    pub fn min_ms(&self) -> u64 {
        if self.count == 0 {
            0
        } else {
            self.min_ms
        }
    }

    /// Largest sample; 0 with no samples.
    pub fn max_ms(&self) -> u64 {
        self.max_ms
    }

    /// Mean; 0.0 with no samples.
    pub fn avg_ms(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else {
            self.sum_ms as f64 / self.count as f64
        }
    }

    /// Mean truncated to whole milliseconds (`cons` prints `avglat` as a long).
    pub fn avg_ms_whole(&self) -> u64 {
        self.sum_ms.checked_div(self.count).unwrap_or(0)
    }

    pub fn count(&self) -> u64 {
        self.count
    }

    pub fn sum_ms(&self) -> u64 {
        self.sum_ms
    }

    /// Combines samples from another core.
    pub fn merge(&mut self, other: &LatencyStats) {
        if other.count == 0 {
            return;
        }
        if self.count == 0 || other.min_ms < self.min_ms {
            self.min_ms = other.min_ms;
        }
        self.max_ms = self.max_ms.max(other.max_ms);
        self.sum_ms = self.sum_ms.saturating_add(other.sum_ms);
        self.count += other.count;
    }

    pub fn reset(&mut self) {
        *self = LatencyStats::default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_reports_zeroes() {
        let l = LatencyStats::default();
        assert_eq!(
            (l.min_ms(), l.max_ms(), l.avg_ms(), l.avg_ms_whole()),
            (0, 0, 0.0, 0)
        );
    }

    #[test]
    fn record_and_merge() {
        let mut a = LatencyStats::default();
        a.record(5);
        a.record(1);
        let mut b = LatencyStats::default();
        b.record(0);
        b.record(10);
        a.merge(&b);
        assert_eq!(
            (a.min_ms(), a.max_ms(), a.count(), a.sum_ms()),
            (0, 10, 4, 16)
        );
        assert_eq!(a.avg_ms(), 4.0);
        a.merge(&LatencyStats::default());
        assert_eq!(a.min_ms(), 0);
        a.reset();
        assert_eq!(a.count(), 0);
    }
}
