//! The worker: one OS thread, one event loop (mio/epoll + timerfd) over its
//! share of the sessions.
//!
//! Each worker owns its sessions, its workload RNG and its statistics; it
//! talks to the main thread only through two channels: a control channel in
//! (the start schedule) and a report channel out (connected, one interval
//! summary per second, the final statistics). Nothing on the request path
//! takes a lock or touches memory another thread writes.
//!
//! A run, per worker: connect every session and wait for its handshake,
//! report `Connected`, wait for `Start` (the same wall-clock schedule for all
//! workers), then drive load until `end_at`, close every session, hand over
//! the statistics.

use std::net::SocketAddr;
use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token};

use crate::conn::{Completion, Session, SessionEvent, SessionState};
use crate::frames::Frames;
use crate::rng::SplitMix64;
use crate::stats::{latency_us, ErrorKey, IntervalStats, OpenLoopSchedule, ThreadStats};
use crate::timer::{set_precise_timer_slack, TimerFd};
use crate::workload::{KeyDist, Mix, Workload, WorkloadError};

/// How long sessions get to connect and finish their handshake.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long closeSession replies are waited for at the end of a run.
pub const CLOSE_WAIT_MAX: Duration = Duration::from_secs(2);
/// Housekeeping period: idle pings, control channel, connect deadline.
pub const HOUSEKEEPING_PERIOD: Duration = Duration::from_millis(50);
/// The progress interval.
pub const REPORT_PERIOD: Duration = Duration::from_secs(1);
/// An open-loop send this much later than intended counts as late.
pub const LATE_SEND_THRESHOLD: Duration = Duration::from_millis(1);
/// Poller events handled per wake-up.
pub const EVENTS_MAX: usize = 1024;

const TIMER_TOKEN: Token = Token(usize::MAX);

#[derive(thiserror::Error, Debug)]
pub enum EngineError {
    #[error("poller: {0}")]
    Poll(#[from] std::io::Error),
    #[error(transparent)]
    Workload(#[from] WorkloadError),
    #[error("the main thread went away")]
    MainGone,
}

/// What every worker needs, shared read-only.
pub struct WorkerShared {
    pub outstanding: usize,
    pub mix: Mix,
    pub key_dist: KeyDist,
    pub znodes: u64,
    pub seed: u64,
    /// Open loop: this worker's share of the target rate (ops/s).
    pub rate_per_worker: Option<f64>,
    pub session_timeout_ms: i32,
    pub frames: Frames,
}

/// The run's clock, the same instants for every worker.
#[derive(Clone, Copy, Debug)]
pub struct RunSchedule {
    pub start_at: Instant,
    pub measure_at: Instant,
    pub end_at: Instant,
}

pub enum ToWorker {
    Start(RunSchedule),
    /// Give up (another worker could not connect).
    Abort,
}

pub enum FromWorker {
    Connected { established: usize, failed: usize },
    Interval { second: u64, stats: IntervalStats },
    Done { stats: Box<ThreadStats> },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Connecting,
    WaitingStart,
    Running,
    Closing { deadline: Instant },
}

struct Worker {
    index: usize,
    shared: Arc<WorkerShared>,
    poll: Poll,
    timer: TimerFd,
    timer_armed: Option<Instant>,
    sessions: Vec<Session>,
    workload: Workload,
    stats: ThreadStats,
    interval: IntervalStats,
    schedule: Option<RunSchedule>,
    open_loop: Option<OpenLoopSchedule>,
    /// Open loop: sessions with room in their window, oldest first.
    room: std::collections::VecDeque<usize>,
    /// Sessions with bytes queued since the last flush.
    dirty: Vec<usize>,
    handshakes_pending: usize,
    established: usize,
    failed: usize,
    live: usize,
    done_buf: Vec<Completion>,
    event_buf: Vec<SessionEvent>,
}

/// Runs one worker to completion on the calling thread.
pub fn run_worker(
    index: usize,
    addrs: Vec<SocketAddr>,
    shared: Arc<WorkerShared>,
    rx: Receiver<ToWorker>,
    tx: Sender<FromWorker>,
) -> Result<(), EngineError> {
    set_precise_timer_slack();
    let poll = Poll::new()?;
    let timer = TimerFd::new()?;
    timer.register(poll.registry(), TIMER_TOKEN)?;
    let workload = Workload::new(
        shared.mix,
        shared.key_dist,
        shared.znodes,
        SplitMix64::derive(shared.seed, index as u64),
    )?;
    let mut w = Worker {
        index,
        shared,
        poll,
        timer,
        timer_armed: None,
        sessions: Vec::with_capacity(addrs.len()),
        workload,
        stats: ThreadStats::new(),
        interval: IntervalStats::default(),
        schedule: None,
        open_loop: None,
        room: Default::default(),
        dirty: Vec::new(),
        handshakes_pending: 0,
        established: 0,
        failed: 0,
        live: 0,
        done_buf: Vec::new(),
        event_buf: Vec::new(),
    };
    let now = Instant::now();
    for addr in addrs {
        match Session::connect(addr, w.shared.session_timeout_ms, now) {
            Ok(mut s) => {
                let token = Token(w.sessions.len());
                w.poll.registry().register(
                    &mut s.stream,
                    token,
                    Interest::READABLE | Interest::WRITABLE,
                )?;
                w.dirty.push(token.0);
                w.sessions.push(s);
                w.handshakes_pending += 1;
                w.live += 1;
            }
            Err(_) => {
                w.failed += 1;
                w.stats.record_error(ErrorKey::ConnectFailed);
            }
        }
    }
    w.run(rx, tx)
}

impl Worker {
    fn run(&mut self, rx: Receiver<ToWorker>, tx: Sender<FromWorker>) -> Result<(), EngineError> {
        let mut events = Events::with_capacity(EVENTS_MAX);
        let connect_deadline = Instant::now() + CONNECT_TIMEOUT;
        let mut phase = Phase::Connecting;
        let mut next_housekeeping = Instant::now();
        let mut next_report = None::<(u64, Instant)>;
        loop {
            let now = Instant::now();
            // Phase changes.
            match phase {
                Phase::Connecting => {
                    if self.handshakes_pending > 0 && now >= connect_deadline {
                        self.fail_handshakes();
                    }
                    if self.handshakes_pending == 0 {
                        tx.send(FromWorker::Connected {
                            established: self.established,
                            failed: self.failed,
                        })
                        .map_err(|_| EngineError::MainGone)?;
                        phase = Phase::WaitingStart;
                    }
                }
                Phase::WaitingStart => {
                    if let Some(s) = self.schedule {
                        if now >= s.start_at {
                            phase = Phase::Running;
                            next_report = Some((1, s.start_at + REPORT_PERIOD));
                            self.begin(s, now);
                        }
                    } else {
                        match rx.try_recv() {
                            Ok(ToWorker::Start(s)) => {
                                self.schedule = Some(s);
                                continue;
                            }
                            Ok(ToWorker::Abort) | Err(TryRecvError::Disconnected) => {
                                return Ok(());
                            }
                            Err(TryRecvError::Empty) => {}
                        }
                    }
                }
                Phase::Running => {
                    let end_at = self.schedule.expect("running has a schedule").end_at;
                    if now >= end_at {
                        for s in &mut self.sessions {
                            if s.is_ready() {
                                s.queue_close(now);
                            }
                        }
                        self.dirty.extend(0..self.sessions.len());
                        phase = Phase::Closing {
                            deadline: now + CLOSE_WAIT_MAX,
                        };
                    }
                }
                Phase::Closing { deadline } => {
                    if self.live == 0 || now >= deadline {
                        break;
                    }
                }
            }
            if let Some((second, at)) = next_report {
                if now >= at {
                    let stats = std::mem::take(&mut self.interval);
                    tx.send(FromWorker::Interval { second, stats })
                        .map_err(|_| EngineError::MainGone)?;
                    next_report = match phase {
                        Phase::Running => Some((second + 1, at + REPORT_PERIOD)),
                        _ => None,
                    };
                }
            }
            if now >= next_housekeeping {
                for (i, s) in self.sessions.iter_mut().enumerate() {
                    if s.ping_if_idle(now) {
                        self.dirty.push(i);
                    }
                }
                next_housekeeping = now + HOUSEKEEPING_PERIOD;
            }
            if phase == Phase::Running {
                self.dispatch_open_loop(now);
            }
            self.flush_dirty(now);

            // Sleep until the next deadline or socket event.
            let mut deadline = next_housekeeping;
            if let Some((_, at)) = next_report {
                deadline = deadline.min(at);
            }
            match phase {
                Phase::Connecting => deadline = deadline.min(connect_deadline),
                Phase::WaitingStart => {
                    if let Some(s) = self.schedule {
                        deadline = deadline.min(s.start_at);
                    }
                }
                Phase::Running => {
                    let s = self.schedule.expect("running has a schedule");
                    deadline = deadline.min(s.end_at);
                    if let Some(sched) = &self.open_loop {
                        if !self.room.is_empty() {
                            deadline = deadline.min(sched.next_intended());
                        }
                    }
                }
                Phase::Closing { deadline: d } => deadline = deadline.min(d),
            }
            let now = Instant::now();
            let timeout = if deadline <= now {
                Some(Duration::ZERO)
            } else {
                if self.timer_armed != Some(deadline) {
                    self.timer.arm(deadline - now)?;
                    self.timer_armed = Some(deadline);
                }
                // The timer wakes us; the bound is only a safety net.
                Some(REPORT_PERIOD)
            };
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != std::io::ErrorKind::Interrupted {
                    return Err(e.into());
                }
            }
            let now = Instant::now();
            for ev in events.iter() {
                let token = ev.token();
                if token == TIMER_TOKEN {
                    self.timer.drain();
                    self.timer_armed = None;
                    continue;
                }
                self.on_session_event(token.0, ev.is_readable(), ev.is_writable(), now);
            }
        }
        let stats = std::mem::take(&mut self.stats);
        tx.send(FromWorker::Done {
            stats: Box::new(stats),
        })
        .map_err(|_| EngineError::MainGone)?;
        Ok(())
    }

    /// Start of load: fill every window (closed loop) or queue every
    /// session for the open-loop dispatcher.
    fn begin(&mut self, s: RunSchedule, now: Instant) {
        if let Some(rate) = self.shared.rate_per_worker {
            // Offset workers within one slot so they do not fire in lockstep.
            let phase = self.index as f64 / 64.0 % 1.0;
            self.open_loop = Some(OpenLoopSchedule::new(s.start_at, rate, phase));
            for i in 0..self.sessions.len() {
                self.offer_room(i);
            }
        } else {
            for i in 0..self.sessions.len() {
                self.refill(i, now);
            }
        }
    }

    fn in_load_window(&self, now: Instant) -> bool {
        self.schedule
            .is_some_and(|s| now >= s.start_at && now < s.end_at)
    }

    fn in_measure_window(&self, now: Instant) -> bool {
        self.schedule
            .is_some_and(|s| now >= s.measure_at && now < s.end_at)
    }

    /// Closed loop: top the session's window up to `outstanding`.
    fn refill(&mut self, i: usize, now: Instant) {
        if self.open_loop.is_some() || !self.in_load_window(now) {
            return;
        }
        let s = &mut self.sessions[i];
        if !s.is_ready() {
            return;
        }
        let mut queued = false;
        while s.ops_inflight() < self.shared.outstanding {
            let (kind, key) = self.workload.next_op();
            s.queue_op(&self.shared.frames, kind, key, now);
            queued = true;
        }
        if queued {
            self.mark_dirty(i);
        }
    }

    /// Open loop: remember that session `i` can take another request.
    fn offer_room(&mut self, i: usize) {
        let s = &mut self.sessions[i];
        if self.open_loop.is_some()
            && s.is_ready()
            && !s.in_room_queue
            && s.ops_inflight() < self.shared.outstanding
        {
            s.in_room_queue = true;
            self.room.push_back(i);
        }
    }

    /// Open loop: issue every slot that is due, while some window has room.
    /// Slots that find no room stay due (never skipped) and go out as soon
    /// as a reply frees a window, still measured from their intended time.
    fn dispatch_open_loop(&mut self, now: Instant) {
        if !self.in_load_window(now) {
            return;
        }
        let measuring = self.in_measure_window(now);
        let Some(sched) = self.open_loop.as_mut() else {
            return;
        };
        while sched.next_intended() <= now {
            let Some(i) = self.room.pop_front() else {
                break;
            };
            let s = &mut self.sessions[i];
            s.in_room_queue = false;
            if !s.is_ready() || s.ops_inflight() >= self.shared.outstanding {
                continue;
            }
            let intended = sched.take_due(now).expect("a slot is due");
            if measuring && now.saturating_duration_since(intended) > LATE_SEND_THRESHOLD {
                self.stats.late_sends += 1;
            }
            let (kind, key) = self.workload.next_op();
            s.queue_op(&self.shared.frames, kind, key, intended);
            if !s.dirty {
                s.dirty = true;
                self.dirty.push(i);
            }
            if s.ops_inflight() < self.shared.outstanding {
                s.in_room_queue = true;
                self.room.push_back(i);
            }
        }
    }

    fn mark_dirty(&mut self, i: usize) {
        let s = &mut self.sessions[i];
        if !s.dirty {
            s.dirty = true;
            self.dirty.push(i);
        }
    }

    fn flush_dirty(&mut self, now: Instant) {
        let mut dirty = std::mem::take(&mut self.dirty);
        for &i in &dirty {
            let s = &mut self.sessions[i];
            s.dirty = false;
            if s.state == SessionState::Done {
                continue;
            }
            if s.flush(now).is_err() {
                s.fail(
                    ErrorKey::ConnectionLoss,
                    &mut self.done_buf,
                    &mut self.event_buf,
                );
                self.settle(i, now);
            }
        }
        dirty.clear();
        // Keep the allocation; settle() may have queued nothing new.
        dirty.append(&mut self.dirty);
        self.dirty = dirty;
    }

    fn on_session_event(&mut self, i: usize, readable: bool, writable: bool, now: Instant) {
        let s = &mut self.sessions[i];
        if s.state == SessionState::Done {
            return;
        }
        if writable && s.has_unsent() {
            self.mark_dirty(i);
        }
        if readable {
            let s = &mut self.sessions[i];
            s.on_readable(&mut self.done_buf, &mut self.event_buf);
            self.settle(i, now);
        }
    }

    /// Accounts the completions and events session `i` produced, then lets
    /// it issue more.
    fn settle(&mut self, i: usize, now: Instant) {
        let measuring = self.in_measure_window(now);
        for c in self.done_buf.drain(..) {
            let lat = latency_us(c.origin, now);
            match c.outcome {
                Ok(()) => {
                    self.interval.ok += 1;
                    self.interval.hist.saturating_record(lat);
                    if measuring {
                        self.stats.record_ok(c.kind, lat);
                    }
                }
                Err(key) => {
                    self.interval.errors += 1;
                    if measuring {
                        self.stats.record_op_error(c.kind, key);
                    }
                }
            }
        }
        let mut gone = false;
        for ev in std::mem::take(&mut self.event_buf) {
            match ev {
                SessionEvent::Established => {
                    self.handshakes_pending -= 1;
                    self.established += 1;
                }
                SessionEvent::ConnectFailed => {
                    self.handshakes_pending -= 1;
                    self.failed += 1;
                    self.stats.record_error(ErrorKey::ConnectFailed);
                    gone = true;
                }
                SessionEvent::Lost(key) => {
                    if key != ErrorKey::ConnectionLoss {
                        self.stats.record_error(key);
                    }
                    if self.in_load_window(now) {
                        self.stats.sessions_lost += 1;
                    }
                    gone = true;
                }
                SessionEvent::Closed => gone = true,
            }
        }
        if gone {
            let s = &mut self.sessions[i];
            let _ = self.poll.registry().deregister(&mut s.stream);
            self.live -= 1;
            return;
        }
        self.refill(i, now);
        self.offer_room(i);
    }

    /// Sessions still handshaking at the connect deadline count as failed.
    fn fail_handshakes(&mut self) {
        let now = Instant::now();
        for i in 0..self.sessions.len() {
            if self.sessions[i].state == SessionState::Handshaking {
                let s = &mut self.sessions[i];
                s.fail(
                    ErrorKey::ConnectFailed,
                    &mut self.done_buf,
                    &mut self.event_buf,
                );
                self.settle(i, now);
            }
        }
    }
}
