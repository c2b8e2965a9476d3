//! Results: the JSON file, the summary table and the live progress line.
//!
//! The JSON's top-level keys `throughput_ops_per_s`, `duration_s`, `ops`,
//! `errors_by_code` are a contract with bench/ and any later tooling; the
//! rest (`params`, `generator_cpu`, `server_cpu`, ...) is informational.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use hdrhistogram::Histogram;
use serde::Serialize;
use serde_json::Value;

use crate::cpu::CpuTimes;
use crate::series::SecondPoint;
use crate::stats::{IntervalStats, ThreadStats};
use crate::workload::OpKind;

/// One op kind's figures. `count` is successful replies (what the
/// percentiles describe); `errors` are failed ones, not included in count.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct OpReport {
    pub count: u64,
    pub errors: u64,
    pub p50_us: u64,
    pub p90_us: u64,
    pub p99_us: u64,
    pub p999_us: u64,
    pub max_us: u64,
}

impl OpReport {
    pub fn from_hist(hist: &Histogram<u64>, errors: u64) -> OpReport {
        let q = |q: f64| {
            if hist.is_empty() {
                0
            } else {
                hist.value_at_quantile(q)
            }
        };
        OpReport {
            count: hist.len(),
            errors,
            p50_us: q(0.50),
            p90_us: q(0.90),
            p99_us: q(0.99),
            p999_us: q(0.999),
            max_us: if hist.is_empty() { 0 } else { hist.max() },
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CpuReport {
    pub user_s: f64,
    pub sys_s: f64,
    /// (user + sys) / duration: how many cores were busy on average.
    pub cores_used: f64,
}

impl CpuReport {
    pub fn new(t: CpuTimes, duration_s: f64) -> CpuReport {
        CpuReport {
            user_s: round3(t.user_s),
            sys_s: round3(t.sys_s),
            cores_used: round3(t.total_s() / duration_s.max(1e-9)),
        }
    }
}

/// The run's parameters, echoed so a JSON file explains itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Params {
    pub servers: Vec<String>,
    pub clients: usize,
    pub outstanding: usize,
    pub threads: usize,
    pub value_size: usize,
    pub znodes: u64,
    pub read_ratio: String,
    pub key_dist: String,
    pub seed: u64,
    pub warmup_s: f64,
    /// `null` for closed loop.
    pub rate_ops_per_s: Option<f64>,
    pub mode: &'static str,
    pub nproc: usize,
    /// `mixed`, `watch`, `sessions` or `failover`.
    pub workload: &'static str,
    /// The workload's own parameters (flattened into `params`).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Report {
    pub throughput_ops_per_s: f64,
    pub duration_s: f64,
    pub ops: BTreeMap<&'static str, OpReport>,
    pub errors_by_code: BTreeMap<String, u64>,
    pub params: Params,
    pub sessions_established: usize,
    pub sessions_failed: usize,
    pub sessions_lost: u64,
    /// Open loop: sends more than 1 ms behind schedule (windows were full).
    pub late_sends: u64,
    pub generator_cpu: CpuReport,
    /// Present when `--server-pid` was given.
    pub server_cpu: Option<CpuReport>,
    /// Throughput and latency per second, warm-up included.
    pub series: Vec<SecondPoint>,
    /// The workload's own results as top-level objects (`fanout`,
    /// `unavailability_ms`, `capacity`, ...).
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

pub struct ReportInput<'a> {
    pub stats: &'a ThreadStats,
    pub kinds: &'a [OpKind],
    pub duration_s: f64,
    pub params: Params,
    pub sessions_established: usize,
    pub sessions_failed: usize,
    pub generator_cpu: CpuTimes,
    pub server_cpu: Option<CpuTimes>,
    pub series: Vec<SecondPoint>,
}

pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl Report {
    pub fn build(inp: ReportInput<'_>) -> Report {
        let ops: BTreeMap<_, _> = inp
            .kinds
            .iter()
            .map(|&k| {
                let s = &inp.stats.ops[k as usize];
                (k.name(), OpReport::from_hist(&s.hist, s.errors))
            })
            .collect();
        let ok: u64 = ops.values().map(|o| o.count).sum();
        Report {
            throughput_ops_per_s: round3(ok as f64 / inp.duration_s.max(1e-9)),
            duration_s: round3(inp.duration_s),
            ops,
            errors_by_code: inp
                .stats
                .errors_by_code
                .iter()
                .map(|(k, n)| (k.name(), *n))
                .collect(),
            params: inp.params,
            sessions_established: inp.sessions_established,
            sessions_failed: inp.sessions_failed,
            sessions_lost: inp.stats.sessions_lost,
            late_sends: inp.stats.late_sends,
            generator_cpu: CpuReport::new(inp.generator_cpu, inp.duration_s),
            server_cpu: inp.server_cpu.map(|t| CpuReport::new(t, inp.duration_s)),
            series: inp.series,
            extra: BTreeMap::new(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the report serialises")
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("the report serialises")
    }

    /// The human summary printed on stdout.
    /// `all` is the histogram of every op, for the `all` row of a mix.
    pub fn table(&self, all: Option<&Histogram<u64>>) -> String {
        let ms = |us: u64| us as f64 / 1000.0;
        let mut t = String::new();
        let _ = writeln!(
            t,
            "{:<11} {:>12} {:>12} {:>9} {:>9} {:>9} {:>9} {:>8}",
            "op", "count", "ops/s", "p50 ms", "p99 ms", "p99.9 ms", "max ms", "errors"
        );
        let mut row = |name: &str, o: &OpReport| {
            let _ = writeln!(
                t,
                "{:<11} {:>12} {:>12.0} {:>9.3} {:>9.3} {:>9.3} {:>9.3} {:>8}",
                name,
                o.count,
                o.count as f64 / self.duration_s.max(1e-9),
                ms(o.p50_us),
                ms(o.p99_us),
                ms(o.p999_us),
                ms(o.max_us),
                o.errors
            );
        };
        for (name, o) in &self.ops {
            row(name, o);
        }
        if let (true, Some(all)) = (self.ops.len() > 1, all) {
            let errors = self.ops.values().map(|o| o.errors).sum();
            row("all", &OpReport::from_hist(all, errors));
        }
        let _ = writeln!(
            t,
            "throughput {:.0} ops/s over {:.1} s; generator CPU {:.2} cores{}",
            self.throughput_ops_per_s,
            self.duration_s,
            self.generator_cpu.cores_used,
            match &self.server_cpu {
                Some(s) => format!(", server CPU {:.2} cores", s.cores_used),
                None => String::new(),
            }
        );
        if !self.errors_by_code.is_empty() {
            let list: Vec<String> = self
                .errors_by_code
                .iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect();
            let _ = writeln!(t, "errors: {}", list.join(" "));
        }
        if self.sessions_failed > 0 || self.sessions_lost > 0 {
            let _ = writeln!(
                t,
                "sessions: {} established, {} failed to connect, {} lost",
                self.sessions_established, self.sessions_failed, self.sessions_lost
            );
        }
        t
    }
}

/// The live line for one second: `[measure 12s] 123456 ops/s p99 1.234 ms errors 0`.
pub fn progress_line(phase: &str, second: u64, s: &IntervalStats) -> String {
    let p99 = if s.hist.is_empty() {
        0.0
    } else {
        s.hist.value_at_quantile(0.99) as f64 / 1000.0
    };
    format!(
        "[{phase:<7} {second:>4}s] {:>10} ops/s  p99 {p99:>8.3} ms  errors {}",
        s.ok, s.errors
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorKey;

    fn params() -> Params {
        Params {
            servers: vec!["127.0.0.1:2181".into()],
            clients: 4,
            outstanding: 8,
            threads: 2,
            value_size: 1024,
            znodes: 100,
            read_ratio: "10:1".into(),
            key_dist: "uniform".into(),
            seed: 1,
            warmup_s: 1.0,
            rate_ops_per_s: None,
            mode: "closed",
            nproc: 2,
            workload: "mixed",
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn json_has_the_contract_shape() {
        let mut stats = ThreadStats::new();
        for us in 1..=1000 {
            stats.record_ok(OpKind::Get, us);
        }
        stats.record_ok(OpKind::Set, 2000);
        stats.record_op_error(OpKind::Set, ErrorKey::Server(-101));
        let report = Report::build(ReportInput {
            stats: &stats,
            kinds: &[OpKind::Get, OpKind::Set],
            duration_s: 2.0,
            params: params(),
            sessions_established: 4,
            sessions_failed: 0,
            generator_cpu: CpuTimes {
                user_s: 0.5,
                sys_s: 0.5,
            },
            server_cpu: None,
            series: Vec::new(),
        });
        let v: serde_json::Value = serde_json::from_str(&report.to_json()).unwrap();
        for key in [
            "throughput_ops_per_s",
            "duration_s",
            "ops",
            "errors_by_code",
        ] {
            assert!(v.get(key).is_some(), "missing {key}");
        }
        assert_eq!(v["throughput_ops_per_s"], 500.5);
        assert_eq!(v["duration_s"], 2.0);
        let get = &v["ops"]["get"];
        for key in [
            "count", "errors", "p50_us", "p90_us", "p99_us", "p999_us", "max_us",
        ] {
            assert!(get[key].is_u64(), "ops.get.{key}");
        }
        assert_eq!(get["count"], 1000);
        let p50 = get["p50_us"].as_u64().unwrap();
        assert!((499..=501).contains(&p50), "{p50}");
        let p99 = get["p99_us"].as_u64().unwrap();
        assert!((989..=991).contains(&p99), "{p99}");
        assert_eq!(v["ops"]["set"]["errors"], 1);
        assert_eq!(v["errors_by_code"]["NONODE"], 1);
        assert_eq!(v["generator_cpu"]["cores_used"], 0.5);
        assert!(v["server_cpu"].is_null());
    }

    #[test]
    fn only_issued_kinds_are_listed() {
        let stats = ThreadStats::new();
        let report = Report::build(ReportInput {
            stats: &stats,
            kinds: &[OpKind::Get],
            duration_s: 1.0,
            params: params(),
            sessions_established: 1,
            sessions_failed: 0,
            generator_cpu: CpuTimes::default(),
            server_cpu: None,
            series: Vec::new(),
        });
        assert_eq!(report.ops.keys().copied().collect::<Vec<_>>(), vec!["get"]);
        assert_eq!(report.ops["get"].p99_us, 0);
        assert!(report.table(None).contains("get"));
    }

    #[test]
    fn progress_line_reads_well() {
        let mut s = IntervalStats {
            ok: 1234,
            ..IntervalStats::default()
        };
        s.hist.saturating_record(1500);
        let line = progress_line("measure", 3, &s);
        assert!(line.contains("1234 ops/s"), "{line}");
        assert!(line.contains("1.50"), "{line}");
    }
}
