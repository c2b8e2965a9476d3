//! `roost-loadgen`: the load generator every Roost performance claim is
//! measured with. It speaks the ZooKeeper client protocol (through the
//! project codec, `roost::proto`), so it drives Roost and Apache ZooKeeper
//! alike.
//!
//! Workload: N sessions, each with W requests pipelined on its connection,
//! getData/setData on pre-created znodes with a seeded read:write mix and a
//! uniform or zipfian key choice. Closed loop by default (a session sends
//! the next request when a reply arrives); `--rate` switches to open loop,
//! where requests follow a fixed schedule and latency is measured from the
//! intended send time (no coordinated omission).
//!
//! Architecture (why it is never the bottleneck): one OS thread per core,
//! each an independent event loop over its share of the sessions. Each
//! thread owns its sockets, RNG and HDR histograms; nothing on the request
//! path is shared or locked, and request frames are pre-encoded so a send
//! is a memcpy plus a 4-byte xid patch. Threads report to the main thread
//! once per second over a channel and merge histograms only at the end.
//!
//! Why mio/epoll rather than glommio (which the server uses): the
//! generator's loop is a small state machine per connection where a
//! readiness poller is all that is needed; it keeps the generator
//! independent of the server's runtime (a runtime quirk would otherwise
//! bias both sides of a measurement the same way), needs no io_uring or
//! locked-memory limits on the load machine, and, with a timerfd in the
//! poll set ([`timer`]), wakes with microsecond precision, which the
//! open-loop schedule needs and epoll's millisecond timeout cannot give.

mod capacity;
mod client;
mod conn;
mod cpu;
mod engine;
mod failover;
mod frames;
mod html;
mod report;
mod rng;
mod series;
mod setup;
mod stats;
mod storm;
mod timer;
mod watch;
mod workload;

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;

use crate::cpu::CpuTimes;
use crate::engine::{FromWorker, RunSchedule, ToWorker, WorkerShared, CONNECT_TIMEOUT};
use crate::frames::Frames;
use crate::report::{progress_line, OpReport, Params, Report, ReportInput};
use crate::series::SeriesBuilder;
use crate::stats::ThreadStats;
use crate::workload::{KeyDist, Mix, OpKind};

/// Sessions one run may open.
const CLIENTS_MAX: usize = 100_000;
/// Requests one session may keep in flight.
const OUTSTANDING_MAX: usize = 100_000;
/// Largest value: ZooKeeper's 1 MiB jute.maxbuffer less room for the
/// request header and path.
const VALUE_SIZE_MAX: usize = 1_000_000;
const ZNODES_MAX: u64 = 10_000_000;
const THREADS_MAX: usize = 1024;
/// Watch workload: writes per second the writer may be asked for.
const WATCH_WRITE_RATE_MAX: f64 = 100_000.0;
/// Watch workload: watches armed in total (watchers x znodes); each costs
/// the server memory and every write to a znode fans out to its watchers.
const WATCHES_MAX: u64 = 10_000_000;
/// Warm-up of every capacity step after the first, at most (seconds).
const CAPACITY_STEP_WARMUP_S: f64 = 1.0;
/// Failover rounds one run may do.
const FAILOVER_ROUNDS_MAX: usize = 1_000;
/// How far in the future the common start is set, so every worker has
/// received it before it arrives.
const START_DELAY: Duration = Duration::from_millis(50);

#[derive(Parser, Debug)]
#[command(
    name = "roost-loadgen",
    version,
    about = "Closed/open-loop getData/setData load for ZooKeeper-compatible servers"
)]
struct Args {
    /// Servers to connect to, comma-separated host:port; sessions are spread
    /// round-robin. Set-up and tear-down use the first.
    #[arg(long, default_value = "127.0.0.1:2181", value_delimiter = ',')]
    servers: Vec<String>,
    /// Measured seconds (after warm-up).
    #[arg(long, default_value_t = 30.0)]
    duration: f64,
    /// Warm-up seconds: load runs but nothing is recorded.
    #[arg(long, default_value_t = 5.0)]
    warmup: f64,
    /// Sessions (one TCP connection each).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Requests each session keeps in flight (pipelined).
    #[arg(long, default_value_t = 8)]
    outstanding: usize,
    /// Bytes per znode value (written at set-up and by every setData).
    #[arg(long, default_value_t = 1024)]
    value_size: usize,
    /// Znodes created under the run's root [default: 10000; watch: 10;
    /// failover: 100].
    #[arg(long)]
    znodes: Option<u64>,
    /// Reads to writes, e.g. 10:1, 1:0 (read only), 0:1 (write only).
    #[arg(long, default_value = "10:1")]
    read_ratio: String,
    /// `uniform` or `zipf:THETA` with THETA in (0, 1), e.g. zipf:0.99.
    #[arg(long, default_value = "uniform")]
    key_dist: String,
    /// Workload seed (same seed, same request sequence per thread).
    #[arg(long, default_value_t = 0x5EED)]
    seed: u64,
    /// Worker threads (event loops); default: one per core.
    #[arg(long)]
    threads: Option<usize>,
    /// Open loop: target ops/s in total; latency is measured from each
    /// request's intended send time. Failover: a cap on writes/s in total
    /// (sessions stay closed loop within it).
    #[arg(long)]
    rate: Option<f64>,
    /// Write the results as JSON to this file.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Session timeout asked for, in ms (pings go out after a third of it idle).
    #[arg(long, default_value_t = 30_000)]
    session_timeout_ms: i32,
    /// Also report this server process's CPU over the measured window.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Pin worker thread i to core i. Off by default, because the server
    /// under test often shares the machine and pins its own threads.
    #[arg(long)]
    pin: bool,
    /// Prefix of the run's root znode (the pid is appended).
    #[arg(long, default_value = "/roost-loadgen")]
    root_prefix: String,
    /// No live progress line on stderr.
    #[arg(long)]
    quiet: bool,
    /// Also write a self-contained HTML report (plots, percentiles, parameters).
    #[arg(long)]
    html: Option<PathBuf>,
    /// Which workload: `mixed` (getData/setData, the default), `watch`,
    /// `sessions` (session storm) or `failover`. See bench/README.md.
    #[arg(long, value_enum, default_value_t = WorkloadKind::Mixed)]
    workload: WorkloadKind,

    // --- watch ---
    /// Watch: watcher sessions, each watching every znode.
    #[arg(long, default_value_t = 100, help_heading = "Watch workload")]
    watchers: usize,
    /// Watch: setData per second by the writer (round-robin over the znodes).
    #[arg(long, default_value_t = 100.0, help_heading = "Watch workload")]
    write_rate: f64,

    // --- session storm ---
    /// Sessions: how many to connect, reconnect and close at once.
    #[arg(long, default_value_t = 1_000, help_heading = "Session storm")]
    sessions: usize,
    /// Sessions: how many go silent to be expired by the server.
    #[arg(long, default_value_t = 100, help_heading = "Session storm")]
    expiry_sessions: usize,
    /// Sessions: the timeout the silent sessions ask for (servers clamp it
    /// to [2, 20] ticks).
    #[arg(long, default_value_t = 4_000, help_heading = "Session storm")]
    expiry_timeout_ms: i32,

    // --- capacity ---
    /// Capacity mode (mixed workload): open-loop steps at rising rates until
    /// p99 breaks --sla-p99-ms; reports the knee.
    #[arg(long, help_heading = "Capacity mode")]
    capacity: bool,
    /// Capacity: the p99 a step must stay within, in ms.
    #[arg(long, help_heading = "Capacity mode")]
    sla_p99_ms: Option<f64>,
    /// Capacity: the first step's offered rate (ops/s).
    #[arg(long, help_heading = "Capacity mode")]
    start_rate: Option<f64>,
    /// Capacity: the rate added per step (ops/s).
    #[arg(long, help_heading = "Capacity mode")]
    step_rate: Option<f64>,
    /// Capacity: the highest rate tried (ops/s).
    #[arg(long, help_heading = "Capacity mode")]
    max_rate: Option<f64>,
    /// Capacity: measured seconds per step.
    #[arg(long, default_value_t = 10.0, help_heading = "Capacity mode")]
    step_secs: f64,

    // --- failover ---
    /// Failover: shell command that kills the server (the leader); `{pid}`
    /// becomes --server-pid or the pid in --pid-file.
    #[arg(long, help_heading = "Failover")]
    kill_cmd: Option<String>,
    /// Failover: shell command run after each kill (must return: start the
    /// server in the background); `{pid}` as above (the killed pid).
    #[arg(long, help_heading = "Failover")]
    restart_cmd: Option<String>,
    /// Failover: seconds between the kill command and the restart command.
    #[arg(long, default_value_t = 0.0, help_heading = "Failover")]
    restart_delay: f64,
    /// Failover: file holding the server's pid, re-read every round (a
    /// restarted server has a new pid).
    #[arg(long, help_heading = "Failover")]
    pid_file: Option<PathBuf>,
    /// Failover: kill rounds.
    #[arg(long, default_value_t = 3, help_heading = "Failover")]
    rounds: usize,
    /// Failover: seconds of steady writes before each kill (and after the last).
    #[arg(long, default_value_t = 5.0, help_heading = "Failover")]
    kill_interval: f64,
}

impl Args {
    /// --znodes, or the workload's default: the mixed workload wants a key
    /// space larger than any cache, the watch workload few enough znodes
    /// that every watcher can watch all of them.
    fn znodes(&self) -> u64 {
        self.znodes.unwrap_or(match self.workload {
            WorkloadKind::Mixed | WorkloadKind::Sessions => 10_000,
            WorkloadKind::Watch => 10,
            WorkloadKind::Failover => 100,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum WorkloadKind {
    Mixed,
    Watch,
    Sessions,
    Failover,
}

struct Plan {
    addrs: Vec<SocketAddr>,
    mix: Mix,
    key_dist: KeyDist,
    threads: usize,
}

fn validate(a: &Args) -> anyhow::Result<Plan> {
    let mix = Mix::parse(&a.read_ratio)?;
    let key_dist = KeyDist::parse(&a.key_dist)?;
    let mut addrs = Vec::new();
    for s in &a.servers {
        let addr = s
            .to_socket_addrs()
            .with_context(|| format!("resolving {s}"))?
            .next()
            .with_context(|| format!("{s} resolves to nothing"))?;
        addrs.push(addr);
    }
    if addrs.is_empty() {
        bail!("--servers is empty");
    }
    if !(a.duration > 0.0 && a.duration.is_finite()) {
        bail!("--duration must be positive");
    }
    if !(a.warmup >= 0.0 && a.warmup.is_finite()) {
        bail!("--warmup must be >= 0");
    }
    if !(1..=CLIENTS_MAX).contains(&a.clients) {
        bail!("--clients must be in 1..={CLIENTS_MAX}");
    }
    if !(1..=OUTSTANDING_MAX).contains(&a.outstanding) {
        bail!("--outstanding must be in 1..={OUTSTANDING_MAX}");
    }
    if a.value_size > VALUE_SIZE_MAX {
        bail!("--value-size must be at most {VALUE_SIZE_MAX}");
    }
    if !(1..=ZNODES_MAX).contains(&a.znodes()) {
        bail!("--znodes must be in 1..={ZNODES_MAX}");
    }
    if let Some(r) = a.rate {
        if !(r > 0.0 && r.is_finite()) {
            bail!("--rate must be positive");
        }
    }
    if a.session_timeout_ms <= 0 {
        bail!("--session-timeout-ms must be positive");
    }
    if !a.root_prefix.starts_with('/') || a.root_prefix.ends_with('/') {
        bail!("--root-prefix must start with / and not end with /");
    }
    if a.workload == WorkloadKind::Watch {
        if !(1..=CLIENTS_MAX).contains(&a.watchers) {
            bail!("--watchers must be in 1..={CLIENTS_MAX}");
        }
        if !(a.write_rate > 0.0 && a.write_rate <= WATCH_WRITE_RATE_MAX) {
            bail!("--write-rate must be in (0, {WATCH_WRITE_RATE_MAX}]");
        }
        // Every watcher arms a watch on every znode: bound the total.
        if a.watchers as u64 * a.znodes() > WATCHES_MAX {
            bail!("--watchers x --znodes must be at most {WATCHES_MAX}");
        }
    }
    if a.workload == WorkloadKind::Sessions {
        if !(1..=CLIENTS_MAX).contains(&a.sessions) || a.expiry_sessions > CLIENTS_MAX {
            bail!("--sessions must be in 1..={CLIENTS_MAX}, --expiry-sessions at most that");
        }
        if a.expiry_timeout_ms <= 0 {
            bail!("--expiry-timeout-ms must be positive");
        }
    }
    if a.capacity {
        if a.workload != WorkloadKind::Mixed || a.rate.is_some() {
            bail!("--capacity runs the mixed workload and sets the rate itself (no --rate)");
        }
        let positive = |v: Option<f64>| v.is_some_and(|x| x > 0.0 && x.is_finite());
        if !(positive(a.sla_p99_ms)
            && positive(a.start_rate)
            && positive(a.step_rate)
            && positive(a.max_rate))
        {
            bail!(
                "--capacity needs positive --sla-p99-ms, --start-rate, --step-rate and --max-rate"
            );
        }
        if a.max_rate < a.start_rate {
            bail!("--max-rate must be at least --start-rate");
        }
        if !(a.step_secs > 0.0 && a.step_secs.is_finite()) {
            bail!("--step-secs must be positive");
        }
    }
    if a.workload == WorkloadKind::Failover {
        let Some(kill) = &a.kill_cmd else {
            bail!("--workload failover needs --kill-cmd");
        };
        let uses_pid =
            kill.contains("{pid}") || a.restart_cmd.as_ref().is_some_and(|c| c.contains("{pid}"));
        if uses_pid && a.server_pid.is_none() && a.pid_file.is_none() {
            bail!("{{pid}} in a command needs --server-pid or --pid-file");
        }
        if !(1..=FAILOVER_ROUNDS_MAX).contains(&a.rounds) {
            bail!("--rounds must be in 1..={FAILOVER_ROUNDS_MAX}");
        }
        if !(a.kill_interval > 0.0 && a.kill_interval.is_finite()) {
            bail!("--kill-interval must be positive");
        }
        if !(a.restart_delay >= 0.0 && a.restart_delay.is_finite()) {
            bail!("--restart-delay must be >= 0");
        }
    }
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let threads = a.threads.unwrap_or(cores);
    if !(1..=THREADS_MAX).contains(&threads) {
        bail!("--threads must be in 1..={THREADS_MAX}");
    }
    Ok(Plan {
        addrs,
        mix,
        key_dist,
        // A worker without sessions would only idle.
        threads: threads.min(a.clients),
    })
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let plan = validate(&args)?;
    let nproc = std::thread::available_parallelism().map_or(1, |n| n.get());
    match args.workload {
        WorkloadKind::Mixed => run_mixed(&args, &plan, nproc),
        WorkloadKind::Watch => with_keys(&args, &plan, |root| run_watch(&args, &plan, nproc, root)),
        WorkloadKind::Sessions => run_storm(&args, &plan, nproc),
        WorkloadKind::Failover => {
            with_keys(&args, &plan, |root| run_failover(&args, &plan, nproc, root))
        }
    }
}

/// Creates the key space, runs `body` on it, deletes it (also on failure).
fn with_keys(
    args: &Args,
    plan: &Plan,
    body: impl FnOnce(&str) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let setup_addr = plan.addrs[0];
    let base = format!("{}-{}", args.root_prefix, std::process::id());
    eprintln!(
        "roost-loadgen: creating {} znodes of {} B under {base} on {setup_addr}",
        args.znodes(),
        args.value_size
    );
    let root = setup::create_keys(setup_addr, &base, args.znodes(), args.value_size)
        .context("creating the key space")?;
    let result = body(&root);
    eprintln!("roost-loadgen: deleting {root}");
    let cleanup = setup::delete_keys(setup_addr, &root, args.znodes());
    result?;
    cleanup.context("deleting the key space")
}

/// The parameters block every report carries.
fn params(args: &Args, plan: &Plan, nproc: usize, workload: &'static str) -> Params {
    Params {
        servers: args.servers.clone(),
        clients: args.clients,
        outstanding: args.outstanding,
        threads: plan.threads,
        value_size: args.value_size,
        znodes: args.znodes(),
        read_ratio: format!("{}:{}", plan.mix.reads, plan.mix.writes),
        key_dist: args.key_dist.clone(),
        seed: args.seed,
        warmup_s: args.warmup,
        rate_ops_per_s: args.rate,
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        nproc,
        workload,
        extra: BTreeMap::new(),
    }
}

fn run_watch(args: &Args, plan: &Plan, nproc: usize, root: &str) -> anyhow::Result<()> {
    let cpu0 = cpu::self_times();
    let out = watch::run(watch::WatchConfig {
        addrs: plan.addrs.clone(),
        root: root.to_owned(),
        znodes: args.znodes(),
        watchers: args.watchers,
        threads: args.threads.unwrap_or(nproc),
        write_rate: args.write_rate,
        value_size: args.value_size,
        warmup_s: args.warmup,
        duration_s: args.duration,
        session_timeout_ms: args.session_timeout_ms,
        quiet: args.quiet,
    })?;
    let mut p = params(args, plan, nproc, "watch");
    p.extra.insert("watchers".into(), args.watchers.into());
    p.extra.insert("write_rate".into(), args.write_rate.into());
    let mut stats = out.writes;
    stats.merge(&out.errors);
    let mut report = Report::build(ReportInput {
        stats: &stats,
        kinds: &[OpKind::Set],
        duration_s: args.duration,
        params: p,
        sessions_established: out.sessions_established,
        sessions_failed: out.sessions_failed,
        generator_cpu: cpu::self_times().since(cpu0),
        server_cpu: None,
        series: out.series,
    });
    report.sessions_lost = out.fanout.watchers_lost as u64;
    report.ops.insert(
        "watch_event",
        OpReport::from_hist(&out.fanout_hist, out.fanout.events_missed),
    );
    report
        .extra
        .insert("fanout".into(), serde_json::to_value(&out.fanout)?);
    emit(args, &report, None)?;
    let f = &out.fanout;
    println!(
        "fan-out: {} watchers x {} writes: {} events of {} expected ({} missed, {} before the ack); \
         from send p50 {:.3} ms p99 {:.3} ms",
        f.watchers_armed,
        f.writes_measured,
        f.events_received,
        f.events_expected,
        f.events_missed,
        f.events_before_ack,
        f.from_send.p50_us as f64 / 1000.0,
        f.from_send.p99_us as f64 / 1000.0
    );
    Ok(())
}

fn run_storm(args: &Args, plan: &Plan, nproc: usize) -> anyhow::Result<()> {
    let fds = client::raise_fd_limit();
    let need = (args.sessions.max(args.expiry_sessions) as u64).saturating_add(64);
    if fds < need {
        bail!("--sessions needs ~{need} open files; the limit is {fds}");
    }
    eprintln!(
        "roost-loadgen: session storm: {} sessions (connect, reconnect, close), then {} silent \
         sessions asking for {} ms to expire",
        args.sessions, args.expiry_sessions, args.expiry_timeout_ms
    );
    let cpu0 = cpu::self_times();
    let t0 = Instant::now();
    let out = storm::run(storm::StormConfig {
        addrs: plan.addrs.clone(),
        sessions: args.sessions,
        threads: args.threads.unwrap_or(nproc),
        session_timeout_ms: args.session_timeout_ms,
        expiry_sessions: args.expiry_sessions,
        expiry_timeout_ms: args.expiry_timeout_ms,
    })
    .context("session storm")?;
    let mut p = params(args, plan, nproc, "sessions");
    p.extra.insert("sessions".into(), args.sessions.into());
    p.extra
        .insert("expiry_sessions".into(), args.expiry_sessions.into());
    p.extra
        .insert("expiry_timeout_ms".into(), args.expiry_timeout_ms.into());
    let mut report = Report::build(ReportInput {
        stats: &out.errors,
        kinds: &[],
        duration_s: out.connect_phase_s,
        params: p,
        sessions_established: out.established as usize,
        sessions_failed: out.report.connect_failed as usize,
        generator_cpu: cpu::self_times().since(cpu0),
        server_cpu: None,
        series: Vec::new(),
    });
    // Throughput here is the connect phase's: sessions established per second.
    report.throughput_ops_per_s = out.report.connects_per_s;
    report.ops.extend(out.ops.iter().cloned());
    report
        .extra
        .insert("sessions".into(), serde_json::to_value(&out.report)?);
    emit(args, &report, None)?;
    let r = &out.report;
    println!(
        "storm: {} connected ({} failed) at {:.0}/s; reconnect: {} re-attached, {} expired, {} failed; \
         expiry ({} ms): {} closed by server, {} confirmed expired, {} survived, {} unconfirmed; total {:.1} s",
        out.established,
        r.connect_failed,
        r.connects_per_s,
        r.reattached,
        r.reconnect_expired,
        r.reconnect_failed,
        r.expiry_negotiated_timeout_ms,
        r.expiry_closed_by_server,
        r.expiry_confirmed,
        r.expiry_survived,
        r.expiry_unconfirmed,
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_failover(args: &Args, plan: &Plan, nproc: usize, root: &str) -> anyhow::Result<()> {
    let cpu0 = cpu::self_times();
    let out = failover::run(failover::FailoverConfig {
        addrs: plan.addrs.clone(),
        root: root.to_owned(),
        znodes: args.znodes(),
        clients: args.clients,
        outstanding: args.outstanding,
        value_size: args.value_size,
        session_timeout_ms: args.session_timeout_ms,
        seed: args.seed,
        rate: args.rate,
        kill_cmd: args.kill_cmd.clone().expect("validated"),
        restart_cmd: args.restart_cmd.clone(),
        restart_delay: Duration::from_secs_f64(args.restart_delay),
        server_pid: args.server_pid,
        pid_file: args.pid_file.clone(),
        rounds: args.rounds,
        kill_interval: Duration::from_secs_f64(args.kill_interval),
        warmup: Duration::from_secs_f64(args.warmup),
        quiet: args.quiet,
    })?;
    let mut p = params(args, plan, nproc, "failover");
    p.read_ratio = "0:1".into();
    if args.rate.is_some() {
        // Closed loop with a cap, not open loop: latency is from the send.
        p.mode = "paced";
    }
    for (k, v) in [
        ("kill_cmd", args.kill_cmd.clone().into()),
        ("restart_cmd", args.restart_cmd.clone().into()),
        ("restart_delay_s", args.restart_delay.into()),
        ("rounds", args.rounds.into()),
        ("kill_interval_s", args.kill_interval.into()),
    ] {
        p.extra.insert(k.into(), v);
    }
    let mut report = Report::build(ReportInput {
        stats: &out.stats,
        kinds: &[OpKind::Set],
        duration_s: out.measured_s,
        params: p,
        sessions_established: out.established,
        sessions_failed: out.failed,
        generator_cpu: cpu::self_times().since(cpu0),
        server_cpu: None,
        series: out.series,
    });
    report.extra.insert(
        "unavailability_ms".into(),
        serde_json::to_value(&out.unavailability)?,
    );
    report.extra.insert(
        "all_sessions_resumed_ms".into(),
        serde_json::to_value(&out.all_sessions_resumed)?,
    );
    report.extra.insert(
        "failover".into(),
        serde_json::json!({ "rounds": out.rounds, "writes_acked_total": out.acked }),
    );
    emit(args, &report, None)?;
    let u = &out.unavailability;
    println!(
        "failover: {} rounds; unavailability ms p50 {:.1} p99 {:.1} max {:.1} ({} unrecovered); \
         rounds {:?}; sessions lost {}",
        out.rounds.len(),
        u.p50,
        u.p99,
        u.max,
        u.unrecovered,
        u.rounds,
        out.stats.sessions_lost
    );
    let a = &out.all_sessions_resumed;
    println!(
        "failover: every session resumed ms p50 {:.1} p99 {:.1} max {:.1} ({} not by the next round)",
        a.p50, a.p99, a.max, a.unrecovered
    );
    Ok(())
}

fn run_mixed(args: &Args, plan: &Plan, nproc: usize) -> anyhow::Result<()> {
    with_keys(args, plan, |root| {
        if args.capacity {
            return run_capacity(args, plan, nproc, root);
        }
        let shape = RunShape {
            rate: args.rate,
            warmup: args.warmup,
            duration: args.duration,
        };
        let (report, all) = run(args, plan, root, nproc, shape)?;
        emit(args, &report, Some(&all))
    })
}

/// Capacity search: open-loop steps of the mixed workload at rising rates
/// until one breaks the SLA. The report is the knee step's (the first
/// step's if none held), plus `capacity`.
fn run_capacity(args: &Args, plan: &Plan, nproc: usize, root: &str) -> anyhow::Result<()> {
    let sla = args.sla_p99_ms.expect("validated");
    let rates = capacity::rates(
        args.start_rate.expect("validated"),
        args.step_rate.expect("validated"),
        args.max_rate.expect("validated"),
    );
    let mut steps = Vec::new();
    let mut knee_report: Option<(Report, Histogram<u64>)> = None;
    let mut first: Option<(Report, Histogram<u64>)> = None;
    for (i, &rate) in rates.iter().enumerate() {
        let shape = RunShape {
            rate: Some(rate),
            // Every step reconnects; later steps need only a short settle.
            warmup: if i == 0 {
                args.warmup
            } else {
                args.warmup.min(CAPACITY_STEP_WARMUP_S)
            },
            duration: args.step_secs,
        };
        eprintln!("roost-loadgen: capacity step {}: {rate} ops/s", i + 1);
        let (report, all) = run(args, plan, root, nproc, shape)?;
        let ok: u64 = report.ops.values().map(|o| o.count).sum();
        let errors: u64 = report.ops.values().map(|o| o.errors).sum();
        let p99 = if all.is_empty() {
            0
        } else {
            all.value_at_quantile(0.99)
        };
        let step =
            capacity::StepResult::new(rate, report.throughput_ops_per_s, p99, ok, errors, sla);
        eprintln!(
            "roost-loadgen: step {rate} ops/s: achieved {:.0}, p99 {:.3} ms, {errors} errors -> {}",
            step.achieved_ops_per_s,
            p99 as f64 / 1000.0,
            if step.held { "held" } else { "broke the SLA" }
        );
        let held = step.held;
        steps.push(step);
        if held {
            knee_report = Some((report, all));
        } else if first.is_none() && knee_report.is_none() {
            first = Some((report, all));
        }
        if !held {
            break;
        }
    }
    let knee = capacity::knee(&steps);
    let reached_max_rate = steps.len() == rates.len() && steps.iter().all(|s| s.held);
    let (mut report, all) = knee_report
        .or(first)
        .context("the capacity search ran no step")?;
    report.params.extra.insert("capacity".into(), true.into());
    report.params.extra.insert("sla_p99_ms".into(), sla.into());
    report
        .params
        .extra
        .insert("step_secs".into(), args.step_secs.into());
    report.extra.insert(
        "capacity".into(),
        serde_json::to_value(capacity::CapacityReport {
            sla_p99_ms: sla,
            knee_ops_per_s: knee,
            reached_max_rate,
            steps,
        })?,
    );
    emit(args, &report, Some(&all))?;
    println!(
        "capacity: knee {} (p99 SLA {sla} ms){}",
        match knee {
            Some(k) => format!("{k:.0} ops/s"),
            None => "none: the first step already broke the SLA".into(),
        },
        if reached_max_rate {
            "; every step held up to --max-rate, the real knee is higher"
        } else {
            ""
        }
    );
    Ok(())
}

/// The load shape of one run of the mixed workload: the command line's, or
/// one capacity step's.
#[derive(Clone, Copy, Debug)]
pub struct RunShape {
    pub rate: Option<f64>,
    pub warmup: f64,
    pub duration: f64,
}

/// One mixed-workload run: its report and the histogram of all its ops.
fn run(
    args: &Args,
    plan: &Plan,
    root: &str,
    nproc: usize,
    shape: RunShape,
) -> anyhow::Result<(Report, Histogram<u64>)> {
    let shared = Arc::new(WorkerShared {
        outstanding: args.outstanding,
        mix: plan.mix,
        key_dist: plan.key_dist,
        znodes: args.znodes(),
        seed: args.seed,
        rate_per_worker: shape.rate.map(|r| r / plan.threads as f64),
        session_timeout_ms: args.session_timeout_ms,
        frames: Frames::new(root, args.znodes(), args.value_size),
    });

    // Session g runs on worker g % threads against server g % servers.
    let mut per_worker: Vec<Vec<SocketAddr>> = vec![Vec::new(); plan.threads];
    for g in 0..args.clients {
        per_worker[g % plan.threads].push(plan.addrs[g % plan.addrs.len()]);
    }
    let cores = if args.pin {
        core_affinity::get_core_ids().unwrap_or_default()
    } else {
        Vec::new()
    };
    let (to_main, from_workers) = mpsc::channel::<FromWorker>();
    let mut controls = Vec::new();
    let mut handles = Vec::new();
    for (i, addrs) in per_worker.into_iter().enumerate() {
        let (ctl_tx, ctl_rx) = mpsc::channel();
        controls.push(ctl_tx);
        let shared = Arc::clone(&shared);
        let tx = to_main.clone();
        let core = (!cores.is_empty()).then(|| cores[i % cores.len()]);
        let handle = std::thread::Builder::new()
            .name(format!("loadgen-{i}"))
            .spawn(move || {
                if let Some(core) = core {
                    core_affinity::set_for_current(core);
                }
                engine::run_worker(i, addrs, shared, ctl_rx, tx)
            })
            .context("spawning a worker thread")?;
        handles.push(handle);
    }
    // Only workers hold senders now, so a disconnect means all are gone.
    drop(to_main);

    let mut established = 0;
    let mut failed = 0;
    let mut connected = 0;
    let deadline = Instant::now() + CONNECT_TIMEOUT + Duration::from_secs(5);
    while connected < plan.threads {
        let left = deadline.saturating_duration_since(Instant::now());
        match from_workers.recv_timeout(left) {
            Ok(FromWorker::Connected {
                established: e,
                failed: f,
                ..
            }) => {
                connected += 1;
                established += e;
                failed += f;
            }
            Ok(_) => {}
            Err(_) => break,
        }
    }
    if connected < plan.threads || established == 0 {
        for c in &controls {
            let _ = c.send(ToWorker::Abort);
        }
        let errors = join_workers(handles);
        bail!(
            "could not start: {established} sessions established, {failed} failed, \
             {connected}/{} workers ready{errors}",
            plan.threads
        );
    }
    eprintln!(
        "roost-loadgen: {established} sessions on {} threads ({failed} failed); \
         warm-up {}s, measure {}s, {}",
        plan.threads,
        shape.warmup,
        shape.duration,
        match shape.rate {
            Some(r) => format!("open loop at {r} ops/s (window {})", args.outstanding),
            None => format!("closed loop, {} in flight per session", args.outstanding),
        }
    );

    let start_at = Instant::now() + START_DELAY;
    let measure_at = start_at + Duration::from_secs_f64(shape.warmup);
    let end_at = measure_at + Duration::from_secs_f64(shape.duration);
    for c in &controls {
        let _ = c.send(ToWorker::Start(RunSchedule {
            start_at,
            measure_at,
            end_at,
        }));
    }

    // Progress and CPU samples until every worker hands over its stats.
    let warmup_secs = shape.warmup.ceil() as u64;
    let mut series = SeriesBuilder::new(plan.threads, warmup_secs);
    let mut total = ThreadStats::new();
    let mut done = 0;
    let mut cpu_at_measure: Option<(CpuTimes, Option<CpuTimes>)> = None;
    let mut cpu_at_end: Option<(CpuTimes, Option<CpuTimes>)> = None;
    let sample = || {
        (
            cpu::self_times(),
            args.server_pid.and_then(|p| cpu::process_times(p).ok()),
        )
    };
    while done < plan.threads {
        let now = Instant::now();
        if cpu_at_measure.is_none() && now >= measure_at {
            cpu_at_measure = Some(sample());
        }
        if cpu_at_end.is_none() && now >= end_at {
            cpu_at_end = Some(sample());
        }
        let next = if cpu_at_measure.is_none() {
            measure_at
        } else if cpu_at_end.is_none() {
            end_at
        } else {
            now + Duration::from_millis(200)
        };
        let wait = next
            .saturating_duration_since(now)
            .min(Duration::from_millis(200));
        match from_workers.recv_timeout(wait) {
            Ok(FromWorker::Interval { second, stats }) => {
                if let Some((second, s)) = series.add(second, &stats) {
                    if !args.quiet {
                        eprintln!("{}", progress_line(series.phase(second), second, &s));
                    }
                }
            }
            Ok(FromWorker::Done { stats }) => {
                total.merge(&stats);
                done += 1;
            }
            Ok(FromWorker::Connected { .. }) => {}
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    let errors = join_workers(handles);
    if done < plan.threads {
        bail!(
            "{} of {} workers failed{errors}",
            plan.threads - done,
            plan.threads
        );
    }
    let end_sample = cpu_at_end.unwrap_or_else(sample);
    let measure_sample = cpu_at_measure.unwrap_or(end_sample);
    let generator_cpu = end_sample.0.since(measure_sample.0);
    let server_cpu = match (end_sample.1, measure_sample.1) {
        (Some(e), Some(m)) => Some(e.since(m)),
        _ => None,
    };

    let kinds = plan.mix.kinds();
    let report = Report::build(ReportInput {
        stats: &total,
        kinds: &kinds,
        duration_s: shape.duration,
        params: Params {
            servers: args.servers.clone(),
            clients: args.clients,
            outstanding: args.outstanding,
            threads: plan.threads,
            value_size: args.value_size,
            znodes: args.znodes(),
            read_ratio: format!("{}:{}", plan.mix.reads, plan.mix.writes),
            key_dist: args.key_dist.clone(),
            seed: args.seed,
            warmup_s: shape.warmup,
            rate_ops_per_s: shape.rate,
            mode: if shape.rate.is_some() {
                "open"
            } else {
                "closed"
            },
            nproc,
            workload: "mixed",
            extra: BTreeMap::new(),
        },
        sessions_established: established,
        sessions_failed: failed,
        generator_cpu,
        server_cpu,
        series: series.finish(),
    });
    let mut all = stats::new_histogram();
    for k in &kinds {
        all.add(&total.ops[*k as usize].hist)
            .expect("all latency histograms share the same bounds");
    }
    Ok((report, all))
}

/// Prints the summary and writes the JSON and HTML files asked for.
fn emit(args: &Args, report: &Report, all: Option<&Histogram<u64>>) -> anyhow::Result<()> {
    print!("{}", report.table(all));
    if let Some(path) = &args.json {
        std::fs::write(path, report.to_json() + "\n")
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(path) = &args.html {
        std::fs::write(path, html::render(&report.to_value()))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(())
}

/// Joins every worker; returns their errors as text to append to a message.
fn join_workers(handles: Vec<std::thread::JoinHandle<Result<(), engine::EngineError>>>) -> String {
    let mut errors = String::new();
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => errors.push_str(&format!("; worker: {e}")),
            Err(_) => errors.push_str("; a worker panicked"),
        }
    }
    errors
}
