//! Per-second time series: throughput and latency over the run, for the
//! HTML plots and the JSON `series` array.
//!
//! Cheap by construction: workers already send one [`IntervalStats`] per
//! second to the main thread (the live progress line); [`SeriesBuilder`]
//! merges the workers' seconds there and keeps only the few figures of each
//! second ([`SecondPoint`]), never the histograms. Workloads that run their
//! own loop on one thread use [`SecondRecorder`] instead, which does the
//! same rolling-up in place.

use std::collections::BTreeMap;
use std::time::Instant;

use serde::Serialize;

use crate::stats::IntervalStats;

/// Seconds a series may hold; a longer run keeps its first hour of points
/// (the plots would be unreadable anyway, and memory stays bounded).
pub const SERIES_SECONDS_MAX: usize = 3_600;

/// One second of the run, all workers merged.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SecondPoint {
    /// Seconds since the load started; the point covers `(t_s - 1, t_s]`.
    pub t_s: u64,
    /// `warmup` or `measure`.
    pub phase: &'static str,
    pub ok: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub max_us: u64,
}

impl SecondPoint {
    pub fn from_interval(t_s: u64, phase: &'static str, s: &IntervalStats) -> SecondPoint {
        let q = |q: f64| {
            if s.hist.is_empty() {
                0
            } else {
                s.hist.value_at_quantile(q)
            }
        };
        SecondPoint {
            t_s,
            phase,
            ok: s.ok,
            errors: s.errors,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            max_us: if s.hist.is_empty() { 0 } else { s.hist.max() },
        }
    }
}

/// Merges the per-second reports of `workers` workers into points.
///
/// A second is complete when every worker reported it; seconds left
/// incomplete (a worker died, or stopped early) are merged from what did
/// arrive by [`SeriesBuilder::finish`], so nothing measured is dropped.
/// Owned by the main thread.
pub struct SeriesBuilder {
    workers: usize,
    warmup_s: u64,
    pending: BTreeMap<u64, (usize, IntervalStats)>,
    points: Vec<SecondPoint>,
}

impl SeriesBuilder {
    /// Seconds `1..=warmup_s` are labelled warm-up.
    pub fn new(workers: usize, warmup_s: u64) -> SeriesBuilder {
        SeriesBuilder {
            workers,
            warmup_s,
            pending: BTreeMap::new(),
            points: Vec::new(),
        }
    }

    pub fn phase(&self, second: u64) -> &'static str {
        if second <= self.warmup_s {
            "warmup"
        } else {
            "measure"
        }
    }

    /// Folds in one worker's second; returns the merged second once every
    /// worker has reported it (for the progress line).
    pub fn add(&mut self, second: u64, stats: &IntervalStats) -> Option<(u64, IntervalStats)> {
        let entry = self.pending.entry(second).or_default();
        entry.0 += 1;
        entry.1.merge(stats);
        if entry.0 < self.workers {
            return None;
        }
        let (_, merged) = self.pending.remove(&second).expect("entry exists");
        self.push(second, &merged);
        Some((second, merged))
    }

    fn push(&mut self, second: u64, s: &IntervalStats) {
        if self.points.len() < SERIES_SECONDS_MAX {
            self.points
                .push(SecondPoint::from_interval(second, self.phase(second), s));
        }
    }

    /// The points in time order, incomplete seconds included.
    pub fn finish(mut self) -> Vec<SecondPoint> {
        for (second, (_, s)) in std::mem::take(&mut self.pending) {
            self.push(second, &s);
        }
        self.points.sort_by_key(|p| p.t_s);
        self.points
    }
}

/// Per-second series kept in place by a single-threaded workload loop.
///
/// Owned by the thread that records into it.
pub struct SecondRecorder {
    start: Instant,
    warmup_s: u64,
    /// The second being filled (1-based) and its stats.
    current: u64,
    stats: IntervalStats,
    points: Vec<SecondPoint>,
}

impl SecondRecorder {
    pub fn new(start: Instant, warmup_s: u64) -> SecondRecorder {
        SecondRecorder {
            start,
            warmup_s,
            current: 1,
            stats: IntervalStats::default(),
            points: Vec::new(),
        }
    }

    fn second_of(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.start).as_secs() + 1
    }

    /// Closes every second before `now`'s, emitting empty ones too (an
    /// outage must show as zero throughput, not as a gap).
    pub fn roll(&mut self, now: Instant) {
        let second = self.second_of(now);
        while self.current < second {
            let s = std::mem::take(&mut self.stats);
            if self.points.len() < SERIES_SECONDS_MAX {
                let phase = if self.current <= self.warmup_s {
                    "warmup"
                } else {
                    "measure"
                };
                self.points
                    .push(SecondPoint::from_interval(self.current, phase, &s));
            }
            self.current += 1;
        }
    }

    pub fn ok(&mut self, now: Instant, latency_us: u64) {
        self.roll(now);
        self.stats.ok += 1;
        self.stats.hist.saturating_record(latency_us);
    }

    pub fn error(&mut self, now: Instant) {
        self.roll(now);
        self.stats.errors += 1;
    }

    /// The points up to and including the second of `now`.
    pub fn finish(mut self, now: Instant) -> Vec<SecondPoint> {
        self.roll(now);
        let s = std::mem::take(&mut self.stats);
        if (s.ok > 0 || s.errors > 0) && self.points.len() < SERIES_SECONDS_MAX {
            let phase = if self.current <= self.warmup_s {
                "warmup"
            } else {
                "measure"
            };
            self.points
                .push(SecondPoint::from_interval(self.current, phase, &s));
        }
        self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn interval(ok: u64, errors: u64, lat_us: u64) -> IntervalStats {
        let mut s = IntervalStats {
            ok,
            errors,
            ..IntervalStats::default()
        };
        for _ in 0..ok {
            s.hist.saturating_record(lat_us);
        }
        s
    }

    #[test]
    fn seconds_complete_when_every_worker_reported() {
        let mut b = SeriesBuilder::new(2, 1);
        assert!(b.add(1, &interval(10, 0, 100)).is_none());
        // Second 2 of worker A arrives before second 1 of worker B.
        assert!(b.add(2, &interval(5, 1, 300)).is_none());
        let (sec, merged) = b.add(1, &interval(30, 2, 200)).expect("complete");
        assert_eq!((sec, merged.ok, merged.errors), (1, 40, 2));
        let (sec, _) = b.add(2, &interval(5, 0, 900)).expect("complete");
        assert_eq!(sec, 2);
        let pts = b.finish();
        assert_eq!(pts.len(), 2);
        assert_eq!(pts[0].phase, "warmup");
        assert_eq!(pts[1].phase, "measure");
        assert_eq!(pts[0].ok, 40);
        // Merged percentiles are those of the union: 30 of 40 samples at 200.
        assert_eq!(pts[0].p50_us, 200);
        assert_eq!(pts[0].max_us, 200);
        assert_eq!((pts[1].ok, pts[1].errors), (10, 1));
        assert!(pts[1].max_us >= 899);
    }

    #[test]
    fn incomplete_seconds_are_kept_at_finish() {
        let mut b = SeriesBuilder::new(3, 0);
        b.add(3, &interval(7, 0, 50));
        b.add(1, &interval(1, 0, 50));
        let pts = b.finish();
        assert_eq!(pts.iter().map(|p| p.t_s).collect::<Vec<_>>(), vec![1, 3]);
        assert_eq!(pts[1].ok, 7);
    }

    #[test]
    fn recorder_emits_empty_seconds_for_outages() {
        let t0 = Instant::now();
        let mut r = SecondRecorder::new(t0, 1);
        r.ok(t0 + Duration::from_millis(100), 500);
        r.ok(t0 + Duration::from_millis(900), 700);
        // Nothing during seconds 2 and 3 (an outage), then one error and one ok.
        r.error(t0 + Duration::from_millis(3_100));
        r.ok(t0 + Duration::from_millis(3_200), 40_000);
        let pts = r.finish(t0 + Duration::from_millis(3_500));
        assert_eq!(
            pts.iter().map(|p| (p.t_s, p.ok)).collect::<Vec<_>>(),
            vec![(1, 2), (2, 0), (3, 0), (4, 1)]
        );
        assert_eq!(pts[0].phase, "warmup");
        assert_eq!(pts[3].errors, 1);
        assert!(pts[3].p99_us >= 39_900);
    }
}
