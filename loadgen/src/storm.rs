//! `--workload sessions`: a session storm, in four phases, every thread in
//! step (a barrier between phases, so each phase is a real mass event):
//!
//! 1. connect: S sessions opened at once; latency from the TCP connect to
//!    the ConnectResponse.
//! 2. reconnect: every session's TCP connection is dropped (no
//!    closeSession) and re-attached at once by id and password, to the next
//!    server in `--servers`; latency and outcome (re-attached, expired).
//! 3. close: closeSession on every session; latency.
//! 4. expiry: E fresh sessions with a short timeout go silent (no pings, no
//!    requests). The server must expire them: the time from silence to the
//!    server closing the connection is recorded, then each is re-attached,
//!    which must be refused (expired). A session the server accepts back is
//!    counted as `survived` (a server bug).
//!
//! Each thread owns one [`Pool`] over its share of the sessions.

use std::net::SocketAddr;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use crate::client::{ClientEvent, Pool, SessionCreds};
use crate::report::OpReport;
use crate::stats::{latency_us, new_histogram, ErrorKey, ThreadStats};

/// How long one phase may take before the sessions still pending in it
/// count as failed.
pub const STORM_PHASE_TIMEOUT: Duration = Duration::from_secs(60);
/// Extra time past the negotiated timeout a silent session gets before the
/// generator stops waiting for the server to expire it. ZooKeeper checks
/// expiry once per tick, so up to a tick (2 s by default) late is normal.
pub const EXPIRY_GRACE: Duration = Duration::from_secs(6);
const TURN: Duration = Duration::from_millis(5);

pub struct StormConfig {
    pub addrs: Vec<SocketAddr>,
    pub sessions: usize,
    pub threads: usize,
    pub session_timeout_ms: i32,
    pub expiry_sessions: usize,
    pub expiry_timeout_ms: i32,
}

/// One thread's results.
struct StormThread {
    connect: Histogram<u64>,
    reconnect: Histogram<u64>,
    close: Histogram<u64>,
    expiry: Histogram<u64>,
    connect_failed: u64,
    reattached: u64,
    reconnect_expired: u64,
    reconnect_new_session: u64,
    reconnect_failed: u64,
    close_failed: u64,
    expiry_closed_by_server: u64,
    expiry_confirmed: u64,
    expiry_survived: u64,
    expiry_unconfirmed: u64,
    negotiated_timeout_ms: i32,
    connect_phase: Duration,
    errors: ThreadStats,
}

impl StormThread {
    fn new() -> StormThread {
        StormThread {
            connect: new_histogram(),
            reconnect: new_histogram(),
            close: new_histogram(),
            expiry: new_histogram(),
            connect_failed: 0,
            reattached: 0,
            reconnect_expired: 0,
            reconnect_new_session: 0,
            reconnect_failed: 0,
            close_failed: 0,
            expiry_closed_by_server: 0,
            expiry_confirmed: 0,
            expiry_survived: 0,
            expiry_unconfirmed: 0,
            negotiated_timeout_ms: 0,
            connect_phase: Duration::ZERO,
            errors: ThreadStats::new(),
        }
    }

    fn merge(&mut self, o: &StormThread) {
        for (a, b) in [
            (&mut self.connect, &o.connect),
            (&mut self.reconnect, &o.reconnect),
            (&mut self.close, &o.close),
            (&mut self.expiry, &o.expiry),
        ] {
            a.add(b).expect("same histogram bounds");
        }
        self.connect_failed += o.connect_failed;
        self.reattached += o.reattached;
        self.reconnect_expired += o.reconnect_expired;
        self.reconnect_new_session += o.reconnect_new_session;
        self.reconnect_failed += o.reconnect_failed;
        self.close_failed += o.close_failed;
        self.expiry_closed_by_server += o.expiry_closed_by_server;
        self.expiry_confirmed += o.expiry_confirmed;
        self.expiry_survived += o.expiry_survived;
        self.expiry_unconfirmed += o.expiry_unconfirmed;
        self.negotiated_timeout_ms = self.negotiated_timeout_ms.max(o.negotiated_timeout_ms);
        self.connect_phase = self.connect_phase.max(o.connect_phase);
        self.errors.merge(&o.errors);
    }
}

/// The `sessions` object of the JSON.
#[derive(Clone, Debug, Serialize)]
pub struct StormReport {
    pub sessions: usize,
    pub connect_failed: u64,
    /// Sessions established per second over the connect phase.
    pub connects_per_s: f64,
    pub reattached: u64,
    /// Re-attach refused: the server had expired the session.
    pub reconnect_expired: u64,
    /// Re-attach answered with a different session id.
    pub reconnect_new_session: u64,
    pub reconnect_failed: u64,
    pub close_failed: u64,
    pub expiry_sessions: usize,
    pub expiry_negotiated_timeout_ms: i32,
    /// Silent sessions whose connection the server closed.
    pub expiry_closed_by_server: u64,
    /// Re-attach after silence refused: expiry confirmed.
    pub expiry_confirmed: u64,
    /// Re-attach after silence accepted: the session outlived its timeout.
    pub expiry_survived: u64,
    /// Neither (the re-attach itself failed).
    pub expiry_unconfirmed: u64,
}

pub struct StormOutcome {
    pub report: StormReport,
    pub ops: Vec<(&'static str, OpReport)>,
    pub errors: ThreadStats,
    pub connect_phase_s: f64,
    pub established: u64,
}

/// Drives `pool` until `pending` reaches 0 or `deadline`, handing every
/// event to `on`, which returns how many pending items it settled.
fn drive(
    pool: &mut Pool,
    mut pending: usize,
    deadline: Instant,
    mut on: impl FnMut(&mut Pool, usize, ClientEvent, Instant) -> usize,
) -> std::io::Result<usize> {
    let mut out = Vec::new();
    while pending > 0 {
        let now = pool.turn(TURN, &mut out)?;
        for (slot, ev) in out.drain(..) {
            pending = pending.saturating_sub(on(pool, slot, ev, now));
        }
        if now >= deadline {
            break;
        }
    }
    Ok(pending)
}

fn storm_thread(
    cfg: &StormConfig,
    addrs: Vec<SocketAddr>,
    expiry_addrs: Vec<SocketAddr>,
    barrier: &Barrier,
) -> std::io::Result<StormThread> {
    let mut st = StormThread::new();
    let n = addrs.len();
    let mut pool = Pool::new(n.max(expiry_addrs.len()))?;
    let mut creds: Vec<Option<SessionCreds>> = vec![None; n];

    // 1. Connect.
    barrier.wait();
    let t0 = Instant::now();
    let mut pending = 0;
    for (slot, &addr) in addrs.iter().enumerate() {
        match pool.connect(slot, addr, cfg.session_timeout_ms, None, t0, 0) {
            Ok(()) => pending += 1,
            Err(_) => {
                st.connect_failed += 1;
                st.errors.record_error(ErrorKey::ConnectFailed);
            }
        }
    }
    let left = drive(
        &mut pool,
        pending,
        t0 + STORM_PHASE_TIMEOUT,
        |pool, slot, ev, now| match ev {
            ClientEvent::Connected { creds: c, .. } => {
                creds[slot] = Some(c);
                let started = pool.get(slot).map_or(now, |c| c.started);
                st.connect.saturating_record(latency_us(started, now));
                1
            }
            ClientEvent::Lost {
                during_handshake: true,
            }
            | ClientEvent::Expired => {
                st.connect_failed += 1;
                st.errors.record_error(ErrorKey::ConnectFailed);
                pool.remove(slot);
                1
            }
            _ => 0,
        },
    )?;
    st.connect_failed += left as u64;
    st.connect_phase = t0.elapsed();

    // 2. Reconnect: drop every connection, re-attach at once.
    barrier.wait();
    let t1 = Instant::now();
    let mut pending = 0;
    for (slot, c) in creds.iter().enumerate() {
        let Some(c) = *c else { continue };
        pool.remove(slot);
        let addr = cfg.addrs[(slot + 1) % cfg.addrs.len()];
        match pool.connect(slot, addr, cfg.session_timeout_ms, Some(c), t1, 0) {
            Ok(()) => pending += 1,
            Err(_) => st.reconnect_failed += 1,
        }
    }
    let left = drive(
        &mut pool,
        pending,
        t1 + STORM_PHASE_TIMEOUT,
        |pool, slot, ev, now| match ev {
            ClientEvent::Connected { reattached, .. } => {
                let started = pool.get(slot).map_or(now, |c| c.started);
                st.reconnect.saturating_record(latency_us(started, now));
                if reattached {
                    st.reattached += 1;
                } else {
                    st.reconnect_new_session += 1;
                }
                1
            }
            ClientEvent::Expired => {
                st.reconnect_expired += 1;
                st.errors.record_error(ErrorKey::Server(-112));
                pool.remove(slot);
                1
            }
            ClientEvent::Lost { .. } => {
                st.reconnect_failed += 1;
                st.errors.record_error(ErrorKey::ConnectionLoss);
                pool.remove(slot);
                1
            }
            _ => 0,
        },
    )?;
    st.reconnect_failed += left as u64;

    // 3. Close every session.
    barrier.wait();
    let t2 = Instant::now();
    let mut pending = 0;
    for slot in 0..n {
        if let Some(c) = pool.get_mut(slot) {
            if c.is_ready() {
                c.queue_close(t2);
                pending += 1;
            }
        }
    }
    let left = drive(
        &mut pool,
        pending,
        t2 + STORM_PHASE_TIMEOUT,
        |pool, slot, ev, now| match ev {
            ClientEvent::Closed => {
                st.close.saturating_record(latency_us(t2, now));
                pool.remove(slot);
                1
            }
            ClientEvent::Lost { .. } => {
                st.close_failed += 1;
                pool.remove(slot);
                1
            }
            _ => 0,
        },
    )?;
    st.close_failed += left as u64;
    for slot in 0..pool.slots() {
        pool.remove(slot);
    }

    // 4. Expiry: connect, go silent, wait for the server to give up on us.
    barrier.wait();
    let e = expiry_addrs.len();
    let t3 = Instant::now();
    let mut pending = 0;
    for (slot, &addr) in expiry_addrs.iter().enumerate() {
        if pool
            .connect(slot, addr, cfg.expiry_timeout_ms, None, t3, 0)
            .is_ok()
        {
            pending += 1;
        }
    }
    let mut silent_since: Vec<Option<(Instant, SessionCreds)>> = vec![None; e];
    let mut negotiated = 0;
    drive(
        &mut pool,
        pending,
        t3 + STORM_PHASE_TIMEOUT,
        |pool, slot, ev, now| match ev {
            ClientEvent::Connected {
                creds, timeout_ms, ..
            } => {
                if let Some(c) = pool.get_mut(slot) {
                    c.pings = false;
                }
                negotiated = negotiated.max(timeout_ms);
                silent_since[slot] = Some((now, creds));
                1
            }
            ClientEvent::Lost { .. } | ClientEvent::Expired => {
                pool.remove(slot);
                1
            }
            _ => 0,
        },
    )?;
    st.negotiated_timeout_ms = negotiated;
    let silent = silent_since.iter().filter(|s| s.is_some()).count();
    let wait_until =
        Instant::now() + Duration::from_millis(negotiated.max(0) as u64) + EXPIRY_GRACE;
    drive(
        &mut pool,
        silent,
        wait_until,
        |pool, slot, ev, now| match ev {
            ClientEvent::Lost { .. } => {
                if let Some((since, _)) = silent_since[slot] {
                    st.expiry.saturating_record(latency_us(since, now));
                    st.expiry_closed_by_server += 1;
                }
                pool.remove(slot);
                1
            }
            _ => 0,
        },
    )?;
    // Re-attach each silent session: the server must refuse it.
    let t4 = Instant::now();
    let mut pending = 0;
    for slot in 0..e {
        pool.remove(slot);
        if let Some((_, c)) = silent_since[slot] {
            let addr = expiry_addrs[slot];
            if pool
                .connect(slot, addr, cfg.expiry_timeout_ms, Some(c), t4, 0)
                .is_ok()
            {
                pending += 1;
            } else {
                st.expiry_unconfirmed += 1;
            }
        }
    }
    let left = drive(
        &mut pool,
        pending,
        t4 + STORM_PHASE_TIMEOUT,
        |pool, slot, ev, now| match ev {
            ClientEvent::Expired => {
                st.expiry_confirmed += 1;
                pool.remove(slot);
                1
            }
            ClientEvent::Connected { reattached, .. } => {
                if reattached {
                    st.expiry_survived += 1;
                } else {
                    st.expiry_unconfirmed += 1;
                }
                if let Some(c) = pool.get_mut(slot) {
                    c.queue_close(now);
                }
                1
            }
            ClientEvent::Lost { .. } => {
                st.expiry_unconfirmed += 1;
                pool.remove(slot);
                1
            }
            _ => 0,
        },
    )?;
    st.expiry_unconfirmed += left as u64;
    // Let the closes of survivors go out.
    let mut out = Vec::new();
    let until = Instant::now() + Duration::from_millis(200);
    while Instant::now() < until {
        pool.turn(TURN, &mut out)?;
        out.clear();
    }
    Ok(st)
}

pub fn run(cfg: StormConfig) -> std::io::Result<StormOutcome> {
    let threads = cfg.threads.clamp(1, cfg.sessions.max(1));
    let cfg = Arc::new(cfg);
    let mut per: Vec<Vec<SocketAddr>> = vec![Vec::new(); threads];
    for g in 0..cfg.sessions {
        per[g % threads].push(cfg.addrs[g % cfg.addrs.len()]);
    }
    let mut per_e: Vec<Vec<SocketAddr>> = vec![Vec::new(); threads];
    for g in 0..cfg.expiry_sessions {
        per_e[g % threads].push(cfg.addrs[g % cfg.addrs.len()]);
    }
    let barrier = Arc::new(Barrier::new(threads));
    let mut handles = Vec::new();
    for (i, (addrs, eaddrs)) in per.into_iter().zip(per_e).enumerate() {
        let (cfg, barrier) = (Arc::clone(&cfg), Arc::clone(&barrier));
        handles.push(
            std::thread::Builder::new()
                .name(format!("storm-{i}"))
                .spawn(move || storm_thread(&cfg, addrs, eaddrs, &barrier))?,
        );
    }
    let mut all = StormThread::new();
    for h in handles {
        match h.join() {
            Ok(r) => all.merge(&r?),
            Err(_) => return Err(std::io::Error::other("a storm thread panicked")),
        }
    }
    let established = all.connect.len();
    let phase_s = all.connect_phase.as_secs_f64().max(1e-9);
    let report = StormReport {
        sessions: cfg.sessions,
        connect_failed: all.connect_failed,
        connects_per_s: (established as f64 / phase_s * 10.0).round() / 10.0,
        reattached: all.reattached,
        reconnect_expired: all.reconnect_expired,
        reconnect_new_session: all.reconnect_new_session,
        reconnect_failed: all.reconnect_failed,
        close_failed: all.close_failed,
        expiry_sessions: cfg.expiry_sessions,
        expiry_negotiated_timeout_ms: all.negotiated_timeout_ms,
        expiry_closed_by_server: all.expiry_closed_by_server,
        expiry_confirmed: all.expiry_confirmed,
        expiry_survived: all.expiry_survived,
        expiry_unconfirmed: all.expiry_unconfirmed,
    };
    let ops = vec![
        (
            "connect",
            OpReport::from_hist(&all.connect, all.connect_failed),
        ),
        (
            "reconnect",
            OpReport::from_hist(&all.reconnect, all.reconnect_failed + all.reconnect_expired),
        ),
        ("close", OpReport::from_hist(&all.close, all.close_failed)),
        (
            "expiry",
            OpReport::from_hist(&all.expiry, all.expiry_survived + all.expiry_unconfirmed),
        ),
    ];
    Ok(StormOutcome {
        report,
        ops,
        errors: all.errors,
        connect_phase_s: phase_s,
        established,
    })
}
