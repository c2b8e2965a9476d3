//! How late the consensus core's timer ticks run: the time between when a
//! tick was due and when the core handled it. Elections and heartbeats run
//! on these ticks, so this lag bounds how precisely the election timeout
//! holds under load (`docs/replication.md`, "Timing"); `mntr` shows it.
//!
//! Owned by the consensus executor (the core records; four-letter words get
//! a copy).

/// Upper bounds (µs) of the histogram buckets; the last bucket is open.
const BUCKET_BOUNDS_US: [u64; 11] = [
    500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000, 500_000, 1_000_000,
];

/// Tick lag: count, maximum and a coarse histogram (for a p99).
/// Owned by the consensus executor; four-letter words get a copy.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TickProbe {
    ticks: u64,
    max_us: u64,
    /// The longest one input took the executor (its input, drive and the
    /// carrying out of its step): what a late tick waited behind.
    longest_step_us: u64,
    buckets: [u64; BUCKET_BOUNDS_US.len() + 1],
}

impl TickProbe {
    pub fn record(&mut self, lag_us: u64, longest_step_us: u64) {
        self.ticks += 1;
        self.longest_step_us = self.longest_step_us.max(longest_step_us);
        self.max_us = self.max_us.max(lag_us);
        let i = BUCKET_BOUNDS_US
            .iter()
            .position(|&b| lag_us <= b)
            .unwrap_or(BUCKET_BOUNDS_US.len());
        self.buckets[i] += 1;
    }

    pub fn ticks(&self) -> u64 {
        self.ticks
    }

    pub fn max_us(&self) -> u64 {
        self.max_us
    }

    /// The upper bound of the bucket holding the 99th percentile (µs);
    /// the maximum when it lies in the open bucket; 0 with no ticks.
    pub fn p99_us(&self) -> u64 {
        if self.ticks == 0 {
            return 0;
        }
        let rank = self.ticks - self.ticks / 100;
        let mut seen = 0;
        for (i, n) in self.buckets.iter().enumerate() {
            seen += n;
            if seen >= rank {
                return BUCKET_BOUNDS_US
                    .get(i)
                    .copied()
                    .unwrap_or(self.max_us)
                    .min(self.max_us);
            }
        }
        self.max_us
    }

    /// (name, value) lines for `mntr`.
    pub fn metrics(&self) -> Vec<(&'static str, String)> {
        vec![
            ("roost_ticks", self.ticks.to_string()),
            ("roost_tick_lag_p99_us", self.p99_us().to_string()),
            ("roost_tick_lag_max_us", self.max_us.to_string()),
            (
                "roost_consensus_step_max_us",
                self.longest_step_us.to_string(),
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn p99_and_max() {
        let mut p = TickProbe::default();
        assert_eq!(p.p99_us(), 0);
        for _ in 0..990 {
            p.record(300, 10);
        }
        for _ in 0..10 {
            p.record(30_000, 10);
        }
        assert_eq!(p.ticks(), 1000);
        assert_eq!(p.max_us(), 30_000);
        assert_eq!(p.p99_us(), 500);
        p.record(3_000_000, 10);
        assert_eq!(p.max_us(), 3_000_000);
        assert_eq!(p.p99_us(), 50_000);
    }
}
