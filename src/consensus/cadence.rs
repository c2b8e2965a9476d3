//! When to take a snapshot: every snapCount committed transactions (a
//! server's own threshold drawn from [snapCount/2, snapCount], so that the
//! members of an ensemble do not all snapshot at once, as ZooKeeper does),
//! and never two at a time.
//!
//! Owned by the consensus executor; pure (the draw comes from the caller's
//! seeded generator).

use super::rng::Rng;

/// Owned by the consensus executor.
#[derive(Debug)]
pub struct SnapshotCadence {
    /// `u64::MAX` when snapshots are disabled (snapCount 0).
    threshold: u64,
    since_last: u64,
    in_flight: bool,
}

impl SnapshotCadence {
    pub fn new(snap_count: u64, rng: &mut Rng) -> SnapshotCadence {
        let threshold = if snap_count == 0 {
            u64::MAX
        } else {
            rng.range(snap_count / 2, snap_count + 1)
        };
        SnapshotCadence {
            threshold,
            since_last: 0,
            in_flight: false,
        }
    }

    /// `n` more transactions committed.
    pub fn committed(&mut self, n: u64) {
        self.since_last += n;
    }

    /// A snapshot is due and none is being written.
    pub fn due(&self) -> bool {
        !self.in_flight && self.since_last >= self.threshold
    }

    /// A snapshot was asked for: the count starts again.
    pub fn started(&mut self) {
        assert!(!self.in_flight, "one snapshot at a time");
        self.in_flight = true;
        self.since_last = 0;
    }

    /// The snapshot asked for is written (or failed).
    pub fn finished(&mut self) {
        self.in_flight = false;
    }

    /// The state was replaced by a snapshot from elsewhere: count afresh.
    pub fn reset(&mut self) {
        self.since_last = 0;
    }

    pub fn in_flight(&self) -> bool {
        self.in_flight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_threshold_transactions_and_one_at_a_time() {
        let mut rng = Rng::new(1);
        let mut c = SnapshotCadence::new(10, &mut rng);
        assert!((5..=10).contains(&c.threshold));
        c.committed(c.threshold - 1);
        assert!(!c.due());
        c.committed(1);
        assert!(c.due());
        c.started();
        c.committed(100);
        assert!(!c.due(), "one snapshot at a time");
        c.finished();
        assert!(c.due());
        assert!(!SnapshotCadence::new(0, &mut rng).due());
    }
}
