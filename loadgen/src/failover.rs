//! `--workload failover`: writes continue while a command kills the server
//! (the leader, once there is an ensemble), N rounds.
//!
//! One writer thread keeps `--clients` sessions writing (setData, closed
//! loop, `--outstanding` each; with `--rate`, also paced to that many writes
//! per second in total, so a long run does not grow an ensemble's log without
//! bound). A session whose connection breaks moves to
//! the next server in `--servers` and re-attaches by id and password,
//! retrying every [`RECONNECT_BACKOFF`] until one answers; a refused
//! re-attach (expired) counts as a session lost and a new session is opened.
//!
//! The main thread runs the rounds: wait `--kill-interval`, note the time,
//! run `--kill-cmd` (then `--restart-cmd`, if any), and tell the writer. A
//! round's unavailability window runs from the moment before the kill
//! command starts to the first write acknowledged after the kill command
//! returned (an ack in between may still be the dying server's). Errors
//! clients saw and sessions lost are attributed to the round they fell in.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::time::{Duration, Instant};

use roost::proto::Request;
use serde::Serialize;

use crate::client::{ClientEvent, Pool, SessionCreds};
use crate::frames::{key_path, value_bytes};
use crate::report::round3;
use crate::rng::SplitMix64;
use crate::series::{SecondPoint, SecondRecorder};
use crate::stats::{latency_us, ErrorKey, ThreadStats};
use crate::workload::OpKind;

/// Wait between attempts to reach a server while none answers: short, as
/// it bounds how precisely the end of a window is seen.
pub const RECONNECT_BACKOFF: Duration = Duration::from_millis(20);
/// A round whose writes have not resumed by then is recorded unrecovered.
pub const RECOVERY_TIMEOUT: Duration = Duration::from_secs(120);
/// How long acks are remembered, to find the first one after a kill
/// command returned even if it arrived before the writer heard of the kill.
pub const RECENT_ACKS_WINDOW: Duration = Duration::from_secs(2);
/// A kill or restart command running longer than this is abandoned.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the writer lingers at the end for its closeSessions to leave.
const CLOSE_WAIT: Duration = Duration::from_millis(300);
const TURN: Duration = Duration::from_millis(2);
/// Sends a paced writer may catch up at once after a stall (no burst on
/// recovery).
const PACE_CATCH_UP: u32 = 4;

/// `--rate`: at most one write per `interval`, across all sessions.
#[derive(Clone, Copy, Debug)]
pub struct Pacer {
    interval: Duration,
    next: Instant,
}

impl Pacer {
    pub fn new(rate: f64, now: Instant) -> Pacer {
        Pacer {
            interval: Duration::from_secs_f64(1.0 / rate),
            next: now,
        }
    }

    /// Whether a write may go now (and if so, books it).
    pub fn take(&mut self, now: Instant) -> bool {
        if now < self.next {
            return false;
        }
        let floor = now
            .checked_sub(self.interval * PACE_CATCH_UP)
            .unwrap_or(now);
        self.next = self.next.max(floor) + self.interval;
        true
    }
}

#[derive(thiserror::Error, Debug)]
pub enum FailoverError {
    #[error("poller: {0}")]
    Io(#[from] std::io::Error),
    #[error("{what} `{cmd}`: {source}")]
    Command {
        what: &'static str,
        cmd: String,
        source: std::io::Error,
    },
    #[error("{what} `{cmd}` exited with {status}")]
    CommandFailed {
        what: &'static str,
        cmd: String,
        status: std::process::ExitStatus,
    },
    #[error("{what} `{cmd}` ran longer than {COMMAND_TIMEOUT:?}")]
    CommandTimeout { what: &'static str, cmd: String },
    #[error("reading the pid file {path}: {source}")]
    PidFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no writer session could connect")]
    NoWriters,
    #[error("the writer thread failed")]
    WriterGone,
}

pub struct FailoverConfig {
    pub addrs: Vec<SocketAddr>,
    pub root: String,
    pub znodes: u64,
    pub clients: usize,
    pub outstanding: usize,
    pub value_size: usize,
    pub session_timeout_ms: i32,
    pub seed: u64,
    /// Writes per second in total (`--rate`); None: closed loop only.
    pub rate: Option<f64>,
    pub kill_cmd: String,
    pub restart_cmd: Option<String>,
    pub restart_delay: Duration,
    pub server_pid: Option<u32>,
    pub pid_file: Option<PathBuf>,
    pub rounds: usize,
    pub kill_interval: Duration,
    pub warmup: Duration,
    pub quiet: bool,
}

/// One round, as reported in `failover.rounds`.
#[derive(Clone, Debug, Serialize)]
pub struct RoundReport {
    pub round: usize,
    /// Seconds since the load started when the kill command started.
    pub kill_at_s: f64,
    pub kill_cmd_ms: f64,
    /// `null` when writes had not resumed by the recovery timeout.
    pub unavailability_ms: Option<f64>,
    /// Until every session had a write acknowledged after the kill: the
    /// sessions that were on the failed server move only once their read
    /// timeout gives it up (two thirds of the session timeout, as the Java
    /// client). `null` if not all did by the end of the round's interval.
    pub all_sessions_resumed_ms: Option<f64>,
    /// Client-visible errors from this kill to the next (op errors and
    /// failed connection attempts).
    pub errors: u64,
    pub sessions_lost: u64,
    pub reconnects: u64,
}

/// `unavailability_ms` in the JSON.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct UnavailabilitySummary {
    pub rounds: Vec<f64>,
    pub p50: f64,
    pub p99: f64,
    pub max: f64,
    /// Rounds whose writes never resumed (not in `rounds`).
    pub unrecovered: usize,
}

/// Nearest-rank percentile of a sorted slice (what a handful of rounds
/// calls for: no interpolation between two real windows).
fn nearest_rank(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub fn summarize(windows: &[Option<f64>]) -> UnavailabilitySummary {
    let rounds: Vec<f64> = windows.iter().flatten().copied().collect();
    let mut sorted = rounds.clone();
    sorted.sort_by(f64::total_cmp);
    UnavailabilitySummary {
        p50: nearest_rank(&sorted, 0.50),
        p99: nearest_rank(&sorted, 0.99),
        max: sorted.last().copied().unwrap_or(0.0),
        unrecovered: windows.len() - rounds.len(),
        rounds,
    }
}

/// `{pid}` replaced by the server's pid (re-read from the pid file each
/// round: a restarted server has a new one).
pub fn expand(cmd: &str, pid: Option<u32>) -> String {
    match pid {
        Some(p) => cmd.replace("{pid}", &p.to_string()),
        None => cmd.to_owned(),
    }
}

fn current_pid(cfg: &FailoverConfig) -> Result<Option<u32>, FailoverError> {
    match &cfg.pid_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| FailoverError::PidFile {
                path: path.clone(),
                source,
            })?;
            let pid = text.trim().parse().map_err(|_| FailoverError::PidFile {
                path: path.clone(),
                source: std::io::ErrorKind::InvalidData.into(),
            })?;
            Ok(Some(pid))
        }
        None => Ok(cfg.server_pid),
    }
}

/// Runs `sh -c cmd` to completion (bounded by [`COMMAND_TIMEOUT`]). A
/// restart command must return: start the server in the background.
fn run_command(what: &'static str, cmd: &str) -> Result<(), FailoverError> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .spawn()
        .map_err(|source| FailoverError::Command {
            what,
            cmd: cmd.to_owned(),
            source,
        })?;
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => return Ok(()),
            Ok(Some(status)) => {
                return Err(FailoverError::CommandFailed {
                    what,
                    cmd: cmd.to_owned(),
                    status,
                })
            }
            Ok(None) if Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(FailoverError::CommandTimeout {
                    what,
                    cmd: cmd.to_owned(),
                });
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(source) => {
                return Err(FailoverError::Command {
                    what,
                    cmd: cmd.to_owned(),
                    source,
                })
            }
        }
    }
}

enum ToWriter {
    /// The kill command is about to start.
    Killing {
        round: usize,
        at: Instant,
    },
    /// It returned at this instant; report the first ack after it.
    Killed {
        round: usize,
        done: Instant,
    },
    Stop,
}

enum FromWriter {
    Ready { established: usize },
    Recovered { round: usize, ack: Instant },
    Done(Box<WriterOutcome>),
}

#[derive(Default, Clone, Copy)]
struct RoundCounters {
    errors: u64,
    sessions_lost: u64,
    reconnects: u64,
}

struct WriterOutcome {
    stats: ThreadStats,
    series: Vec<SecondPoint>,
    per_round: Vec<RoundCounters>,
    all_resumed: Vec<Option<f64>>,
    acked: u64,
    established: usize,
    failed: usize,
}

/// Per-session state of the writer.
#[derive(Clone)]
struct Slot {
    creds: Option<SessionCreds>,
    /// The servers in the order this session tries them, as the Java
    /// client's StaticHostProvider: its own shuffle of `--servers`, so the
    /// sessions of a failed server scatter over the survivors instead of
    /// all moving to the same "next" one (which, round after round, piles
    /// every session onto one member).
    order: Vec<usize>,
    /// Index into `order` of the server tried last.
    at: usize,
    /// Disconnected: when to try again.
    retry_at: Option<Instant>,
}

impl Slot {
    /// Session `slot` of `clients` over `servers`: its first server is
    /// `slot % servers` (an even spread), the rest in a seeded shuffle.
    fn new(slot: usize, servers: usize, rng: &mut SplitMix64) -> Slot {
        assert!(servers > 0, "the failover workload needs a server");
        let first = slot % servers;
        let mut rest: Vec<usize> = (0..servers).filter(|&i| i != first).collect();
        for i in (1..rest.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            rest.swap(i, j);
        }
        let mut order = vec![first];
        order.extend(rest);
        Slot {
            creds: None,
            // reconnect() advances first: the first attempt is order[0].
            at: servers - 1,
            order,
            retry_at: None,
        }
    }

    /// Moves on to the next server in this session's order.
    fn advance(&mut self) -> usize {
        self.at = (self.at + 1) % self.order.len();
        self.order[self.at]
    }
}

struct Writer<'a> {
    cfg: &'a FailoverConfig,
    pool: Pool,
    slots: Vec<Slot>,
    rng: SplitMix64,
    pacer: Option<Pacer>,
    value: Vec<u8>,
    stats: ThreadStats,
    series: SecondRecorder,
    measure_from: Instant,
    recent_acks: VecDeque<Instant>,
    awaiting: Option<(usize, Instant)>,
    round: Option<usize>,
    /// The round in progress: when its kill started, and the sessions
    /// without an ack since.
    resuming: Option<(usize, Instant, std::collections::HashSet<usize>)>,
    /// Per round: ms from the kill until every session had resumed.
    all_resumed: Vec<Option<f64>>,
    per_round: Vec<RoundCounters>,
    acked: u64,
    established: usize,
    failed: usize,
}

impl Writer<'_> {
    fn count_error(&mut self, now: Instant, key: ErrorKey) {
        self.series.error(now);
        if now >= self.measure_from {
            self.stats.record_error(key);
        }
        if let Some(r) = self.round {
            self.per_round[r].errors += 1;
        }
    }

    fn reconnect(&mut self, slot: usize, now: Instant) {
        let s = &mut self.slots[slot];
        // The next server: a dead one is skipped on the next failure.
        let server = s.advance();
        s.retry_at = None;
        let addr = self.cfg.addrs[server];
        if self
            .pool
            .connect(
                slot,
                addr,
                self.cfg.session_timeout_ms,
                s.creds,
                now,
                self.cfg.addrs.len(),
            )
            .is_err()
        {
            self.pool.remove(slot);
            self.slots[slot].retry_at = Some(now + RECONNECT_BACKOFF);
            self.count_error(now, ErrorKey::ConnectFailed);
        }
    }

    fn fill(&mut self, slot: usize, now: Instant) {
        let Some(c) = self.pool.get(slot) else {
            return;
        };
        if !c.is_ready() {
            return;
        }
        let missing = self.cfg.outstanding.saturating_sub(c.inflight());
        for _ in 0..missing {
            if let Some(p) = &mut self.pacer {
                if !p.take(now) {
                    break;
                }
            }
            let key = self.rng.below(self.cfg.znodes);
            let req = Request::SetData {
                path: key_path(&self.cfg.root, key),
                data: Some(self.value.clone()),
                version: -1,
            };
            self.pool.send(slot, &req, key, now);
        }
    }

    fn on_event(&mut self, slot: usize, ev: ClientEvent, now: Instant, tx: &Sender<FromWriter>) {
        match ev {
            ClientEvent::Connected {
                creds, reattached, ..
            } => {
                let had = self.slots[slot].creds.is_some();
                if had && !reattached {
                    self.lost_session();
                }
                if !had {
                    self.established += 1;
                }
                if let Some(r) = self.round {
                    if had {
                        self.per_round[r].reconnects += 1;
                    }
                }
                self.slots[slot].creds = Some(creds);
                self.fill(slot, now);
            }
            ClientEvent::Expired => {
                self.lost_session();
                self.count_error(now, ErrorKey::Server(-112));
                self.slots[slot].creds = None;
                self.pool.remove(slot);
                self.reconnect(slot, now);
            }
            ClientEvent::Reply { sent, outcome, .. } => match outcome {
                Ok(()) => {
                    self.acked += 1;
                    let lat = latency_us(sent, now);
                    self.series.ok(now, lat);
                    if sent >= self.measure_from {
                        self.stats.record_ok(OpKind::Set, lat);
                    }
                    self.recent_acks.push_back(now);
                    if let Some((round, at, waiting)) = &mut self.resuming {
                        waiting.remove(&slot);
                        if waiting.is_empty() {
                            let (round, ms) =
                                (*round, now.duration_since(*at).as_secs_f64() * 1000.0);
                            self.all_resumed.resize(round + 1, None);
                            self.all_resumed[round] = Some(round3(ms));
                            self.resuming = None;
                        }
                    }
                    if let Some((round, done)) = self.awaiting {
                        if now >= done {
                            self.awaiting = None;
                            let _ = tx.send(FromWriter::Recovered { round, ack: now });
                        }
                    }
                    self.fill(slot, now);
                }
                Err(key) => {
                    if sent >= self.measure_from {
                        self.stats.ops[OpKind::Set as usize].errors += 1;
                    }
                    self.count_error(now, key);
                }
            },
            ClientEvent::Lost { during_handshake } => {
                if during_handshake {
                    self.count_error(now, ErrorKey::ConnectFailed);
                }
                self.pool.remove(slot);
                // A dropped connection moves on at once; a server that
                // refused the connect is retried after the backoff.
                if during_handshake {
                    self.slots[slot].retry_at = Some(now + RECONNECT_BACKOFF);
                } else {
                    self.reconnect(slot, now);
                }
            }
            ClientEvent::Watch { .. } | ClientEvent::Closed => {}
        }
    }

    fn lost_session(&mut self) {
        self.stats.sessions_lost += 1;
        if let Some(r) = self.round {
            self.per_round[r].sessions_lost += 1;
        }
    }

    fn run(mut self, rx: Receiver<ToWriter>, tx: Sender<FromWriter>) -> Result<(), FailoverError> {
        let mut out = Vec::new();
        let now = Instant::now();
        for slot in 0..self.slots.len() {
            self.reconnect(slot, now);
        }
        let connect_by = now + Duration::from_secs(10);
        let mut ready_sent = false;
        let mut next_fill = 0;
        loop {
            let now = self.pool.turn(TURN, &mut out)?;
            for (slot, ev) in std::mem::take(&mut out) {
                self.on_event(slot, ev, now, &tx);
            }
            if self.pacer.is_some() {
                // Paced: replies do not free a send by themselves; offer
                // the sends that came due, starting one session further on
                // each turn.
                let n = self.slots.len();
                for i in 0..n {
                    self.fill((next_fill + i) % n, now);
                }
                next_fill = (next_fill + 1) % n;
            }
            if !ready_sent && (self.established == self.slots.len() || now >= connect_by) {
                ready_sent = true;
                self.failed = self.slots.len() - self.established;
                let _ = tx.send(FromWriter::Ready {
                    established: self.established,
                });
                if self.established == 0 {
                    break;
                }
            }
            for slot in 0..self.slots.len() {
                if self.slots[slot].retry_at.is_some_and(|t| now >= t) {
                    self.reconnect(slot, now);
                }
            }
            while self
                .recent_acks
                .front()
                .is_some_and(|&t| now.saturating_duration_since(t) > RECENT_ACKS_WINDOW)
            {
                self.recent_acks.pop_front();
            }
            match rx.try_recv() {
                Ok(ToWriter::Killing { round, at }) => {
                    self.round = Some(round);
                    self.per_round.resize(round + 1, RoundCounters::default());
                    self.resuming = Some((round, at, (0..self.slots.len()).collect()));
                }
                Ok(ToWriter::Killed { round, done }) => {
                    match self.recent_acks.iter().find(|&&t| t >= done) {
                        Some(&ack) => {
                            let _ = tx.send(FromWriter::Recovered { round, ack });
                        }
                        None => self.awaiting = Some((round, done)),
                    }
                }
                Ok(ToWriter::Stop) | Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) => {}
            }
        }
        let end = Instant::now();
        for slot in 0..self.slots.len() {
            if let Some(c) = self.pool.get_mut(slot) {
                c.queue_close(end);
            }
        }
        // Give the closeSessions a moment to go out; replies are not needed.
        let until = end + CLOSE_WAIT;
        while Instant::now() < until {
            self.pool.turn(TURN, &mut out)?;
            out.clear();
        }
        let _ = tx.send(FromWriter::Done(Box::new(WriterOutcome {
            stats: self.stats,
            series: self.series.finish(end),
            per_round: self.per_round,
            all_resumed: self.all_resumed,
            acked: self.acked,
            established: self.established,
            failed: self.failed,
        })));
        Ok(())
    }
}

pub struct FailoverOutcome {
    pub stats: ThreadStats,
    pub series: Vec<SecondPoint>,
    pub rounds: Vec<RoundReport>,
    pub unavailability: UnavailabilitySummary,
    /// The same over `all_sessions_resumed_ms`.
    pub all_sessions_resumed: UnavailabilitySummary,
    pub measured_s: f64,
    pub acked: u64,
    pub established: usize,
    pub failed: usize,
}

pub fn run(cfg: FailoverConfig) -> Result<FailoverOutcome, FailoverError> {
    let (to_writer, writer_rx) = mpsc::channel();
    let (writer_tx, from_writer) = mpsc::channel();
    let start = Instant::now();
    let measure_from = start + cfg.warmup;
    std::thread::scope(|scope| {
        let cfg_ref = &cfg;
        let handle = std::thread::Builder::new()
            .name("failover-writer".into())
            .spawn_scoped(scope, move || {
                // Host orders from a stream of their own, so the write
                // stream is the same as before they existed.
                let mut order_rng = SplitMix64::derive(cfg_ref.seed, 1);
                let w = Writer {
                    cfg: cfg_ref,
                    pool: Pool::new(cfg_ref.clients)?,
                    slots: (0..cfg_ref.clients)
                        .map(|slot| Slot::new(slot, cfg_ref.addrs.len(), &mut order_rng))
                        .collect(),
                    rng: SplitMix64::derive(cfg_ref.seed, 0),
                    pacer: cfg_ref.rate.map(|r| Pacer::new(r, start)),
                    value: value_bytes(cfg_ref.value_size),
                    stats: ThreadStats::new(),
                    series: SecondRecorder::new(start, cfg_ref.warmup.as_secs_f64().ceil() as u64),
                    measure_from,
                    recent_acks: VecDeque::new(),
                    awaiting: None,
                    resuming: None,
                    all_resumed: Vec::new(),
                    round: None,
                    per_round: Vec::new(),
                    acked: 0,
                    established: 0,
                    failed: 0,
                };
                w.run(writer_rx, writer_tx)
            })?;
        let result = drive_rounds(&cfg, start, measure_from, &to_writer, &from_writer);
        let _ = to_writer.send(ToWriter::Stop);
        let outcome = loop {
            match from_writer.recv() {
                Ok(FromWriter::Done(o)) => break Some(o),
                Ok(_) => {}
                Err(_) => break None,
            }
        };
        match handle.join() {
            Ok(r) => r?,
            Err(_) => return Err(FailoverError::WriterGone),
        }
        let (rounds, measured_s) = result?;
        let o = outcome.ok_or(FailoverError::WriterGone)?;
        let rounds: Vec<RoundReport> = rounds
            .into_iter()
            .map(|mut r| {
                if let Some(c) = o.per_round.get(r.round - 1) {
                    r.errors = c.errors;
                    r.sessions_lost = c.sessions_lost;
                    r.reconnects = c.reconnects;
                }
                if let Some(ms) = o.all_resumed.get(r.round - 1) {
                    r.all_sessions_resumed_ms = *ms;
                }
                r
            })
            .collect();
        let windows: Vec<Option<f64>> = rounds.iter().map(|r| r.unavailability_ms).collect();
        let all: Vec<Option<f64>> = rounds.iter().map(|r| r.all_sessions_resumed_ms).collect();
        Ok(FailoverOutcome {
            stats: o.stats,
            series: o.series,
            unavailability: summarize(&windows),
            all_sessions_resumed: summarize(&all),
            rounds,
            measured_s,
            acked: o.acked,
            established: o.established,
            failed: o.failed,
        })
    })
}

/// The main thread's side: warm-up, then kill (and restart) every
/// `kill_interval`, waiting for writes to resume after each.
fn drive_rounds(
    cfg: &FailoverConfig,
    start: Instant,
    measure_from: Instant,
    to_writer: &Sender<ToWriter>,
    from_writer: &Receiver<FromWriter>,
) -> Result<(Vec<RoundReport>, f64), FailoverError> {
    match from_writer.recv() {
        Ok(FromWriter::Ready { established }) if established > 0 => {
            eprintln!(
                "roost-loadgen: {established} writer sessions; warm-up {:?}, then {} rounds \
                 every {:?}",
                cfg.warmup, cfg.rounds, cfg.kill_interval
            );
        }
        _ => return Err(FailoverError::NoWriters),
    }
    std::thread::sleep(measure_from.saturating_duration_since(Instant::now()));
    let mut rounds = Vec::new();
    for round in 1..=cfg.rounds {
        std::thread::sleep(cfg.kill_interval);
        let pid = current_pid(cfg)?;
        let kill = expand(&cfg.kill_cmd, pid);
        let kill_at = Instant::now();
        let _ = to_writer.send(ToWriter::Killing {
            round: round - 1,
            at: kill_at,
        });
        run_command("kill command", &kill)?;
        let done = Instant::now();
        let _ = to_writer.send(ToWriter::Killed {
            round: round - 1,
            done,
        });
        if let Some(restart) = &cfg.restart_cmd {
            std::thread::sleep(cfg.restart_delay);
            run_command("restart command", &expand(restart, pid))?;
        }
        let deadline = kill_at + RECOVERY_TIMEOUT;
        let mut window = None;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match from_writer.recv_timeout(left) {
                Ok(FromWriter::Recovered { round: r, ack }) if r == round - 1 => {
                    window = Some(ack.duration_since(kill_at));
                    break;
                }
                Ok(FromWriter::Done(_)) => return Err(FailoverError::WriterGone),
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let ms = window.map(|d| round3(d.as_secs_f64() * 1000.0));
        if !cfg.quiet {
            eprintln!(
                "[failover round {round}] `{kill}` took {:.1} ms; writes resumed {}",
                done.duration_since(kill_at).as_secs_f64() * 1000.0,
                match ms {
                    Some(ms) => format!("{ms:.1} ms after the kill"),
                    None => format!("never (gave up after {RECOVERY_TIMEOUT:?})"),
                }
            );
        }
        rounds.push(RoundReport {
            round,
            kill_at_s: round3(kill_at.duration_since(start).as_secs_f64()),
            kill_cmd_ms: round3(done.duration_since(kill_at).as_secs_f64() * 1000.0),
            unavailability_ms: ms,
            all_sessions_resumed_ms: None,
            errors: 0,
            sessions_lost: 0,
            reconnects: 0,
        });
    }
    // A last interval of steady writes after the final recovery.
    std::thread::sleep(cfg.kill_interval);
    Ok((rounds, measure_from.elapsed().as_secs_f64()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_start_spread_and_scatter_when_their_server_fails() {
        let mut rng = SplitMix64::derive(7, 1);
        let mut slots: Vec<Slot> = (0..24).map(|i| Slot::new(i, 3, &mut rng)).collect();
        let first: Vec<usize> = slots.iter_mut().map(Slot::advance).collect();
        for (i, server) in first.iter().enumerate() {
            assert_eq!(*server, i % 3, "session {i} starts on server i % 3");
        }
        // Every order visits every server once per cycle.
        for s in &slots {
            let mut sorted = s.order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, vec![0, 1, 2]);
        }
        // Server 0 fails: its 8 sessions move on, and not all to one server.
        let moved: Vec<usize> = slots
            .iter_mut()
            .filter(|s| s.order[s.at] == 0)
            .map(Slot::advance)
            .collect();
        assert_eq!(moved.len(), 8);
        assert!(
            moved.contains(&1) && moved.contains(&2),
            "all moved to one: {moved:?}"
        );
    }

    #[test]
    fn summary_uses_nearest_rank() {
        let s = summarize(&[Some(300.0), Some(100.0), None, Some(200.0)]);
        assert_eq!(s.rounds, vec![300.0, 100.0, 200.0], "in round order");
        assert_eq!(s.p50, 200.0);
        assert_eq!(s.p99, 300.0);
        assert_eq!(s.max, 300.0);
        assert_eq!(s.unrecovered, 1);
        let one = summarize(&[Some(42.5)]);
        assert_eq!((one.p50, one.p99, one.max), (42.5, 42.5, 42.5));
        let none = summarize(&[]);
        assert_eq!((none.p50, none.max, none.unrecovered), (0.0, 0.0, 0));
        // 100 rounds 1..=100: p99 is the 99th, not the max.
        let many: Vec<Option<f64>> = (1..=100).map(|i| Some(i as f64)).collect();
        let s = summarize(&many);
        assert_eq!((s.p50, s.p99, s.max), (50.0, 99.0, 100.0));
    }

    #[test]
    fn pid_is_substituted() {
        assert_eq!(expand("kill -9 {pid}", Some(42)), "kill -9 42");
        assert_eq!(expand("pkill-free {pid}", None), "pkill-free {pid}");
        assert_eq!(expand("systemctl kill zk", Some(1)), "systemctl kill zk");
    }

    #[test]
    fn pacer_spaces_writes_and_does_not_burst_after_a_stall() {
        let t0 = Instant::now();
        let mut p = Pacer::new(100.0, t0); // one per 10 ms
        assert!(p.take(t0));
        assert!(!p.take(t0 + Duration::from_millis(5)));
        assert!(p.take(t0 + Duration::from_millis(10)));
        assert!(!p.take(t0 + Duration::from_millis(19)));
        // After a 1 s stall: at most PACE_CATCH_UP + 1 sends at once.
        let late = t0 + Duration::from_secs(1);
        let burst = (0..100).take_while(|_| p.take(late)).count();
        assert_eq!(burst, PACE_CATCH_UP as usize + 1);
        assert!(p.take(late + Duration::from_millis(10)));
    }

    #[test]
    fn commands_report_failure() {
        assert!(run_command("kill command", "true").is_ok());
        assert!(matches!(
            run_command("kill command", "exit 3"),
            Err(FailoverError::CommandFailed { .. })
        ));
    }
}
