//! What each request is: the read/write mix and the key distribution.
//!
//! Pure and seeded: given the same seed a worker issues the same sequence of
//! (operation, key) pairs, whatever the server's speed, so two servers are
//! measured against the same workload.

use crate::rng::SplitMix64;

/// The operation kinds the mixed workload issues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OpKind {
    /// getData on a pre-created znode.
    Get = 0,
    /// setData (version -1) on a pre-created znode.
    Set = 1,
}

impl OpKind {
    pub const ALL: [OpKind; 2] = [OpKind::Get, OpKind::Set];
    pub const COUNT: usize = OpKind::ALL.len();

    /// The name used in the JSON report and the summary table.
    pub fn name(self) -> &'static str {
        match self {
            OpKind::Get => "get",
            OpKind::Set => "set",
        }
    }
}

#[derive(thiserror::Error, Debug, Clone, PartialEq)]
pub enum WorkloadError {
    #[error("read ratio must look like R:W with non-negative integers, got {0:?}")]
    BadRatio(String),
    #[error("read ratio {0}:{1} issues nothing (both sides are 0)")]
    EmptyRatio(u32, u32),
    #[error("key distribution must be `uniform` or `zipf:THETA`, got {0:?}")]
    BadKeyDist(String),
    #[error("zipf theta must be in (0, 1), got {0}")]
    BadTheta(f64),
    #[error("the workload needs at least one znode")]
    NoKeys,
}

/// The read:write mix, e.g. 10:1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mix {
    pub reads: u32,
    pub writes: u32,
}

impl Mix {
    pub fn parse(s: &str) -> Result<Mix, WorkloadError> {
        let bad = || WorkloadError::BadRatio(s.to_owned());
        let (r, w) = s.split_once(':').ok_or_else(bad)?;
        let reads = r.trim().parse().map_err(|_| bad())?;
        let writes = w.trim().parse().map_err(|_| bad())?;
        if reads == 0 && writes == 0 {
            return Err(WorkloadError::EmptyRatio(reads, writes));
        }
        Ok(Mix { reads, writes })
    }

    /// The op kinds this mix can issue (the report lists only these).
    pub fn kinds(self) -> Vec<OpKind> {
        OpKind::ALL
            .into_iter()
            .filter(|k| match k {
                OpKind::Get => self.reads > 0,
                OpKind::Set => self.writes > 0,
            })
            .collect()
    }

    fn pick(self, rng: &mut SplitMix64) -> OpKind {
        let total = u64::from(self.reads) + u64::from(self.writes);
        if rng.below(total) < u64::from(self.reads) {
            OpKind::Get
        } else {
            OpKind::Set
        }
    }
}

/// How keys are chosen among the `n` znodes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum KeyDist {
    Uniform,
    /// Zipfian with exponent theta in (0, 1); key 0 is the hottest.
    Zipf(f64),
}

impl KeyDist {
    pub fn parse(s: &str) -> Result<KeyDist, WorkloadError> {
        if s == "uniform" {
            return Ok(KeyDist::Uniform);
        }
        let theta: f64 = s
            .strip_prefix("zipf:")
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| WorkloadError::BadKeyDist(s.to_owned()))?;
        if !(theta > 0.0 && theta < 1.0) {
            return Err(WorkloadError::BadTheta(theta));
        }
        Ok(KeyDist::Zipf(theta))
    }
}

/// Zipfian sampler over `0..n` (Gray et al., "Quickly generating
/// billion-record synthetic databases", SIGMOD 1994), the generator YCSB
/// uses. O(n) set-up (zeta(n)), O(1) per draw.
#[derive(Clone, Debug)]
pub struct Zipf {
    n: u64,
    theta: f64,
    alpha: f64,
    zeta_n: f64,
    eta: f64,
}

impl Zipf {
    pub fn new(n: u64, theta: f64) -> Zipf {
        assert!(n > 0, "zipf over an empty key set");
        assert!(theta > 0.0 && theta < 1.0, "zipf theta out of (0, 1)");
        let zeta = |k: u64| (1..=k).map(|i| 1.0 / (i as f64).powf(theta)).sum::<f64>();
        let zeta_n = zeta(n);
        let zeta_2 = zeta(2.min(n));
        let alpha = 1.0 / (1.0 - theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
        Zipf {
            n,
            theta,
            alpha,
            zeta_n,
            eta,
        }
    }

    /// The probability of the hottest key, 1/zeta(n): what tests check.
    #[cfg(test)]
    pub fn p_first(&self) -> f64 {
        1.0 / self.zeta_n
    }

    pub fn sample(&self, rng: &mut SplitMix64) -> u64 {
        let u = rng.unit_f64();
        let uz = u * self.zeta_n;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let k = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        k.min(self.n - 1)
    }
}

enum Keys {
    Uniform(u64),
    Zipf(Zipf),
}

/// One worker's request chooser: mix + key distribution + its own RNG.
///
/// Owned by one worker thread; never shared.
pub struct Workload {
    mix: Mix,
    keys: Keys,
    rng: SplitMix64,
}

impl Workload {
    pub fn new(
        mix: Mix,
        dist: KeyDist,
        znodes: u64,
        rng: SplitMix64,
    ) -> Result<Workload, WorkloadError> {
        if znodes == 0 {
            return Err(WorkloadError::NoKeys);
        }
        let keys = match dist {
            KeyDist::Uniform => Keys::Uniform(znodes),
            KeyDist::Zipf(theta) => Keys::Zipf(Zipf::new(znodes, theta)),
        };
        Ok(Workload { mix, keys, rng })
    }

    /// The next request: which operation, on which key index.
    pub fn next_op(&mut self) -> (OpKind, u64) {
        let kind = self.mix.pick(&mut self.rng);
        let key = match &self.keys {
            Keys::Uniform(n) => self.rng.below(*n),
            Keys::Zipf(z) => z.sample(&mut self.rng),
        };
        (kind, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ratios() {
        assert_eq!(
            Mix::parse("10:1"),
            Ok(Mix {
                reads: 10,
                writes: 1
            })
        );
        assert_eq!(Mix::parse("0:1").unwrap().kinds(), vec![OpKind::Set]);
        assert_eq!(Mix::parse("1:0").unwrap().kinds(), vec![OpKind::Get]);
        assert_eq!(Mix::parse("0:0"), Err(WorkloadError::EmptyRatio(0, 0)));
        assert!(Mix::parse("10").is_err());
        assert!(Mix::parse("a:1").is_err());
        assert!(Mix::parse("-1:1").is_err());
    }

    #[test]
    fn parses_key_dist() {
        assert_eq!(KeyDist::parse("uniform"), Ok(KeyDist::Uniform));
        assert_eq!(KeyDist::parse("zipf:0.99"), Ok(KeyDist::Zipf(0.99)));
        assert_eq!(
            KeyDist::parse("zipf:1.5"),
            Err(WorkloadError::BadTheta(1.5))
        );
        assert!(KeyDist::parse("zipf:").is_err());
        assert!(KeyDist::parse("normal").is_err());
    }

    #[test]
    fn mix_is_reproducible_and_proportioned() {
        let mix = Mix::parse("10:1").unwrap();
        let run = || {
            let mut w = Workload::new(mix, KeyDist::Uniform, 100, SplitMix64::new(42)).unwrap();
            (0..110_000).map(|_| w.next_op()).collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run(), "same seed, same sequence");
        let sets = a.iter().filter(|(k, _)| *k == OpKind::Set).count();
        // Expected 10,000; the binomial sd is ~95, allow 5 sd.
        assert!((9_525..=10_475).contains(&sets), "sets = {sets}");
        assert!(a.iter().all(|&(_, key)| key < 100));
        // A different seed gives a different sequence.
        let mut other = Workload::new(mix, KeyDist::Uniform, 100, SplitMix64::new(43)).unwrap();
        let b: Vec<_> = (0..100).map(|_| other.next_op()).collect();
        assert_ne!(&a[..100], &b[..]);
    }

    #[test]
    fn read_only_and_write_only_never_mix() {
        for (ratio, kind) in [("1:0", OpKind::Get), ("0:1", OpKind::Set)] {
            let mut w = Workload::new(
                Mix::parse(ratio).unwrap(),
                KeyDist::Uniform,
                10,
                SplitMix64::new(1),
            )
            .unwrap();
            assert!((0..10_000).all(|_| w.next_op().0 == kind), "{ratio}");
        }
    }

    #[test]
    fn uniform_covers_keys_evenly() {
        let mut w = Workload::new(
            Mix::parse("1:0").unwrap(),
            KeyDist::Uniform,
            10,
            SplitMix64::new(5),
        )
        .unwrap();
        let mut hits = [0u32; 10];
        for _ in 0..100_000 {
            hits[w.next_op().1 as usize] += 1;
        }
        // Expected 10,000 each, sd ~95.
        assert!(
            hits.iter().all(|&h| (9_500..=10_500).contains(&h)),
            "{hits:?}"
        );
    }

    #[test]
    fn zipf_matches_its_distribution() {
        let n = 1_000;
        let theta = 0.99;
        let z = Zipf::new(n, theta);
        let mut rng = SplitMix64::new(9);
        let draws = 200_000;
        let mut hits = vec![0u32; n as usize];
        for _ in 0..draws {
            hits[z.sample(&mut rng) as usize] += 1;
        }
        // Key 0 has probability 1/zeta(n) (~0.134 for n=1000, theta=0.99).
        let p0 = f64::from(hits[0]) / draws as f64;
        assert!(
            (p0 - z.p_first()).abs() < 0.01,
            "p0 {p0} vs {}",
            z.p_first()
        );
        // Key 1 has probability 1/(2^theta zeta(n)).
        let p1 = f64::from(hits[1]) / draws as f64;
        let want1 = z.p_first() / 2f64.powf(theta);
        assert!((p1 - want1).abs() < 0.01, "p1 {p1} vs {want1}");
        // Heavily skewed: the top 10% of keys take well over half the draws,
        // and hotter keys are hit more than colder ones.
        let top: u32 = hits[..100].iter().sum();
        assert!(f64::from(top) / draws as f64 > 0.6, "top 10% = {top}");
        assert!(hits[0] > hits[10] && hits[10] > hits[500]);
    }

    #[test]
    fn zipf_handles_tiny_key_sets() {
        let mut rng = SplitMix64::new(3);
        for n in [1, 2, 3] {
            let z = Zipf::new(n, 0.5);
            assert!((0..1_000).all(|_| z.sample(&mut rng) < n));
        }
    }
}
