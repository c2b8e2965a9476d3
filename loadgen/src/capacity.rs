//! `--capacity`: step the offered (open-loop) rate up until p99 breaks the
//! SLA; the knee is the highest offered rate that held.
//!
//! A step "holds" when its p99, measured from intended send times (so a
//! server falling behind is charged for it), is within the SLA, the rate
//! actually achieved is close to the rate offered, and almost nothing
//! failed. The last two matter because an overloaded open-loop generator
//! whose windows are full still records a p99 for what it did send; a step
//! that only reached 70% of its offered rate did not hold that rate.
//!
//! The search itself ([`knee`], [`StepResult::held`]) is pure; the steps
//! are runs of the mixed workload driven from main.

use serde::Serialize;

/// A step must achieve at least this fraction of its offered rate.
pub const ACHIEVED_FRACTION_MIN: f64 = 0.95;
/// A step may see at most this fraction of failed requests.
pub const ERROR_FRACTION_MAX: f64 = 0.001;
/// Steps one search may run.
pub const STEPS_MAX: usize = 1_000;

/// One step's figures, as listed in `capacity.steps`.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepResult {
    pub rate_ops_per_s: f64,
    pub achieved_ops_per_s: f64,
    pub p99_us: u64,
    pub errors: u64,
    pub held: bool,
}

impl StepResult {
    pub fn new(
        rate: f64,
        achieved: f64,
        p99_us: u64,
        ok: u64,
        errors: u64,
        sla_p99_ms: f64,
    ) -> StepResult {
        let total = (ok + errors).max(1) as f64;
        let held = p99_us as f64 <= sla_p99_ms * 1000.0
            && achieved >= rate * ACHIEVED_FRACTION_MIN
            && errors as f64 / total <= ERROR_FRACTION_MAX
            && ok > 0;
        StepResult {
            rate_ops_per_s: rate,
            achieved_ops_per_s: achieved,
            p99_us,
            errors,
            held,
        }
    }
}

/// The offered rates to try: start, start+step, ... up to max.
pub fn rates(start: f64, step: f64, max: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut r = start;
    while r <= max * (1.0 + 1e-9) && out.len() < STEPS_MAX {
        out.push(r);
        r += step;
    }
    out
}

/// The knee: the highest rate that held before the first step that broke
/// (steps above a break are not trusted even if one happened to hold: the
/// server may still have been digesting the overload). `None` if the first
/// step already broke.
pub fn knee(steps: &[StepResult]) -> Option<f64> {
    steps
        .iter()
        .take_while(|s| s.held)
        .map(|s| s.rate_ops_per_s)
        .last()
}

/// `capacity` in the JSON.
#[derive(Clone, Debug, Serialize)]
pub struct CapacityReport {
    pub sla_p99_ms: f64,
    pub knee_ops_per_s: Option<f64>,
    /// True when the search stopped at --max-rate with every step holding:
    /// the knee is at least this, not at it.
    pub reached_max_rate: bool,
    pub steps: Vec<StepResult>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(rate: f64, p99_ms: f64) -> StepResult {
        StepResult::new(rate, rate, (p99_ms * 1000.0) as u64, rate as u64, 0, 5.0)
    }

    #[test]
    fn knee_is_the_last_held_step_before_the_break() {
        let steps = [
            step(1000.0, 1.0),
            step(2000.0, 2.0),
            step(3000.0, 9.0),
            step(4000.0, 3.0),
        ];
        assert_eq!(knee(&steps), Some(2000.0));
        assert_eq!(knee(&steps[..2]), Some(2000.0), "all held");
        assert_eq!(knee(&[step(1000.0, 6.0)]), None, "first step broke");
        assert_eq!(knee(&[]), None);
    }

    #[test]
    fn a_step_holds_only_if_it_achieved_its_rate_without_errors() {
        assert!(StepResult::new(1000.0, 990.0, 4_000, 990, 0, 5.0).held);
        assert!(
            !StepResult::new(1000.0, 990.0, 5_001, 990, 0, 5.0).held,
            "p99 over"
        );
        assert!(
            !StepResult::new(1000.0, 700.0, 1_000, 700, 0, 5.0).held,
            "fell behind"
        );
        assert!(
            !StepResult::new(1000.0, 990.0, 1_000, 990, 10, 5.0).held,
            "errors"
        );
        assert!(
            !StepResult::new(1000.0, 0.0, 0, 0, 0, 5.0).held,
            "nothing done"
        );
    }

    #[test]
    fn rates_step_up_to_max() {
        assert_eq!(rates(1000.0, 500.0, 2000.0), vec![1000.0, 1500.0, 2000.0]);
        assert_eq!(rates(1000.0, 500.0, 999.0), Vec::<f64>::new());
        assert_eq!(rates(0.1, 0.1, 0.3).len(), 3, "float steps reach max");
    }
}
