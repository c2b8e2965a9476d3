//! `--workload watch`: notification fan-out latency.
//!
//! N watcher sessions each hold a data watch (getData with watch=true) on
//! every one of K znodes and re-arm it after each event; one writer session
//! sets the znodes round-robin at `--write-rate`. For every event a watcher
//! receives, the latency is measured from the write's acknowledgement (the
//! writer's reply) and from the write's send.
//!
//! Why logs matched at the end rather than a shared table looked up at each
//! event: a watcher on another connection can see its event before the
//! writer has even read its reply, so "the ack time of this write" is often
//! unknown when the event arrives. Every watcher thread logs (key, time) and
//! the writer logs (key, sent, acked); [`match_events`] pairs each event with
//! the latest write to its key sent before it. Events before their write's
//! ack are counted (`events_before_ack`) and recorded as 1 µs.
//!
//! Threads: watchers are spread over worker threads, each with its own
//! [`Pool`]; the writer runs on the main thread.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use roost::proto::{EventType, Request};
use serde::Serialize;

use crate::client::{key_index, ClientEvent, ClientState, Pool};
use crate::frames::{key_path, value_bytes};
use crate::report::OpReport;
use crate::series::{SecondPoint, SecondRecorder};
use crate::stats::{latency_us, new_histogram, ErrorKey, ThreadStats};
use crate::workload::OpKind;

/// Events one watcher thread logs; beyond it events are counted, not timed.
pub const WATCH_EVENTS_PER_THREAD_MAX: usize = 4_000_000;
/// Writes logged; the writer stops writing when it is reached.
pub const WATCH_WRITES_MAX: usize = 2_000_000;
/// setData requests the writer keeps in flight at most.
pub const WATCH_WRITES_INFLIGHT_MAX: usize = 64;
/// How long watchers get to connect and arm every watch.
pub const WATCH_ARM_TIMEOUT: Duration = Duration::from_secs(60);
/// How long after the last write the watchers keep listening.
pub const WATCH_DRAIN: Duration = Duration::from_secs(1);
/// Poll bound of the loops (they wake on sockets anyway).
const TURN: Duration = Duration::from_millis(5);

#[derive(thiserror::Error, Debug)]
pub enum WatchError {
    #[error("poller: {0}")]
    Io(#[from] std::io::Error),
    #[error("no watcher could arm its watches ({0} sessions failed)")]
    NoWatchers(usize),
    #[error("the writer session to {0} failed")]
    Writer(SocketAddr),
}

pub struct WatchConfig {
    pub addrs: Vec<SocketAddr>,
    pub root: String,
    pub znodes: u64,
    pub watchers: usize,
    pub threads: usize,
    pub write_rate: f64,
    pub value_size: usize,
    pub warmup_s: f64,
    pub duration_s: f64,
    pub session_timeout_ms: i32,
    pub quiet: bool,
}

/// One write: which key, when sent, when acknowledged (None if it failed).
#[derive(Clone, Copy, Debug)]
pub struct WriteRec {
    pub key: u64,
    pub sent: Instant,
    pub acked: Option<Instant>,
}

/// One event a watcher received.
#[derive(Clone, Copy, Debug)]
pub struct EventRec {
    pub key: u64,
    pub at: Instant,
}

/// Fan-out results: the `fanout` object of the JSON.
#[derive(Clone, Debug, Serialize)]
pub struct FanoutReport {
    pub watchers_armed: usize,
    pub watchers_failed: usize,
    pub watchers_lost: usize,
    pub znodes: u64,
    pub writes_measured: u64,
    /// Writes acknowledged in the window times watchers armed.
    pub events_expected: u64,
    pub events_received: u64,
    /// Expected events that never came: a second write to the key landed
    /// before the watcher re-armed (ZooKeeper watches are one-shot), or a
    /// watcher was lost.
    pub events_missed: u64,
    /// Events that arrived before the writer saw its write's ack.
    pub events_before_ack: u64,
    /// Events with no write to match (should be 0).
    pub events_unmatched: u64,
    /// Events beyond the per-thread log limit (counted, not timed).
    pub events_untimed: u64,
    pub from_ack: OpReport,
    pub from_send: OpReport,
}

/// The matched histograms.
pub struct Fanout {
    pub from_ack: Histogram<u64>,
    pub from_send: Histogram<u64>,
    pub received: u64,
    pub before_ack: u64,
    pub unmatched: u64,
}

/// Pairs each event with the latest write to its key sent no later than
/// the event; only writes sent at or after `measure_from` count. Pure.
pub fn match_events(writes: &[WriteRec], events: &[EventRec], measure_from: Instant) -> Fanout {
    let mut by_key: std::collections::HashMap<u64, Vec<&WriteRec>> = Default::default();
    for w in writes {
        by_key.entry(w.key).or_default().push(w);
    }
    for v in by_key.values_mut() {
        v.sort_by_key(|w| w.sent);
    }
    let mut f = Fanout {
        from_ack: new_histogram(),
        from_send: new_histogram(),
        received: 0,
        before_ack: 0,
        unmatched: 0,
    };
    for e in events {
        let Some(ws) = by_key.get(&e.key) else {
            f.unmatched += 1;
            continue;
        };
        let n = ws.partition_point(|w| w.sent <= e.at);
        if n == 0 {
            f.unmatched += 1;
            continue;
        }
        let w = ws[n - 1];
        if w.sent < measure_from {
            continue;
        }
        f.received += 1;
        f.from_send.saturating_record(latency_us(w.sent, e.at));
        match w.acked {
            Some(ack) if ack <= e.at => f.from_ack.saturating_record(latency_us(ack, e.at)),
            _ => {
                f.before_ack += 1;
                f.from_ack.saturating_record(1);
            }
        }
    }
    f
}

enum FromWatcher {
    Armed { armed: usize, failed: usize },
    Done(Box<WatcherLog>),
}

struct WatcherLog {
    events: Vec<EventRec>,
    untimed: u64,
    lost: usize,
    errors: ThreadStats,
}

fn watcher_thread(
    cfg: Arc<WatchConfig>,
    addrs: Vec<SocketAddr>,
    stop: Arc<AtomicBool>,
    tx: mpsc::Sender<FromWatcher>,
) -> Result<(), WatchError> {
    let mut pool = Pool::new(addrs.len())?;
    let mut log = WatcherLog {
        events: Vec::new(),
        untimed: 0,
        lost: 0,
        errors: ThreadStats::new(),
    };
    let now = Instant::now();
    let mut failed = 0;
    for (slot, &addr) in addrs.iter().enumerate() {
        if pool
            .connect(slot, addr, cfg.session_timeout_ms, None, now, 0)
            .is_err()
        {
            failed += 1;
        }
    }
    // Watches each session still has to see acknowledged.
    let mut to_arm = vec![cfg.znodes; addrs.len()];
    let mut armed_sessions = 0;
    let mut reported = false;
    let deadline = now + WATCH_ARM_TIMEOUT;
    let paths: Vec<String> = (0..cfg.znodes).map(|k| key_path(&cfg.root, k)).collect();
    let get = |k: u64| Request::GetData {
        path: paths[k as usize].clone(),
        watch: true,
    };
    let mut out = Vec::new();
    loop {
        let now = pool.turn(TURN, &mut out)?;
        for (slot, ev) in out.drain(..) {
            match ev {
                ClientEvent::Connected { .. } => {
                    for k in 0..cfg.znodes {
                        pool.send(slot, &get(k), k, now);
                    }
                }
                ClientEvent::Reply { tag, outcome, .. } => match outcome {
                    Ok(()) => {
                        if to_arm[slot] > 0 {
                            to_arm[slot] -= 1;
                            if to_arm[slot] == 0 {
                                armed_sessions += 1;
                            }
                        }
                    }
                    Err(e) => {
                        log.errors.record_error(e);
                        // Keep trying: a watch that failed to arm would
                        // silently shrink the fan-out.
                        if e != ErrorKey::ConnectionLoss {
                            pool.send(slot, &get(tag), tag, now);
                        }
                    }
                },
                ClientEvent::Watch { event_type, path } => {
                    if event_type == EventType::NodeDataChanged as i32 {
                        if let Some(k) = key_index(&cfg.root, &path) {
                            if log.events.len() < WATCH_EVENTS_PER_THREAD_MAX {
                                log.events.push(EventRec { key: k, at: now });
                            } else {
                                log.untimed += 1;
                            }
                            pool.send(slot, &get(k), k, now);
                        }
                    }
                }
                ClientEvent::Lost { during_handshake } => {
                    if during_handshake {
                        failed += 1;
                    } else {
                        log.lost += 1;
                        log.errors.record_error(ErrorKey::ConnectionLoss);
                    }
                    pool.remove(slot);
                }
                ClientEvent::Expired => {
                    failed += 1;
                    pool.remove(slot);
                }
                ClientEvent::Closed => pool.remove(slot),
            }
        }
        if !reported && (armed_sessions + failed + log.lost >= addrs.len() || now >= deadline) {
            reported = true;
            tx.send(FromWatcher::Armed {
                armed: armed_sessions,
                failed: addrs.len() - armed_sessions,
            })
            .ok();
        }
        if stop.load(Ordering::Relaxed) {
            break;
        }
    }
    // Close the sessions so the server drops their watches now.
    let now = Instant::now();
    for slot in 0..pool.slots() {
        if let Some(c) = pool.get_mut(slot) {
            c.queue_close(now);
        }
    }
    let close_by = now + Duration::from_secs(2);
    let mut open = (0..pool.slots()).filter(|&s| pool.get(s).is_some()).count();
    while open > 0 && Instant::now() < close_by {
        pool.turn(TURN, &mut out)?;
        for (slot, ev) in out.drain(..) {
            if matches!(ev, ClientEvent::Closed | ClientEvent::Lost { .. }) {
                pool.remove(slot);
                open -= 1;
            }
        }
    }
    tx.send(FromWatcher::Done(Box::new(log))).ok();
    Ok(())
}

/// Everything the watch run measured.
pub struct WatchOutcome {
    pub writes: ThreadStats,
    pub fanout: FanoutReport,
    pub fanout_hist: Histogram<u64>,
    pub series: Vec<SecondPoint>,
    pub errors: ThreadStats,
    pub sessions_established: usize,
    pub sessions_failed: usize,
}

pub fn run(cfg: WatchConfig) -> Result<WatchOutcome, WatchError> {
    let cfg = Arc::new(cfg);
    let threads = cfg.threads.clamp(1, cfg.watchers.max(1));
    let mut per: Vec<Vec<SocketAddr>> = vec![Vec::new(); threads];
    for g in 0..cfg.watchers {
        per[g % threads].push(cfg.addrs[g % cfg.addrs.len()]);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (tx, rx) = mpsc::channel();
    let mut handles = Vec::new();
    for (i, addrs) in per.into_iter().enumerate() {
        let (cfg, stop, tx) = (Arc::clone(&cfg), Arc::clone(&stop), tx.clone());
        handles.push(
            std::thread::Builder::new()
                .name(format!("watch-{i}"))
                .spawn(move || watcher_thread(cfg, addrs, stop, tx))?,
        );
    }
    drop(tx);
    let (mut armed, mut failed) = (0, 0);
    for _ in 0..threads {
        match rx.recv() {
            Ok(FromWatcher::Armed {
                armed: a,
                failed: f,
            }) => {
                armed += a;
                failed += f;
            }
            _ => break,
        }
    }
    eprintln!(
        "roost-loadgen: {armed} watchers armed on {} znodes each ({failed} failed); \
         writing {} znodes/s for {}+{} s",
        cfg.znodes, cfg.write_rate, cfg.warmup_s, cfg.duration_s
    );
    let writer = if armed == 0 {
        Err(WatchError::NoWatchers(failed))
    } else {
        write_loop(&cfg)
    };
    if writer.is_ok() {
        std::thread::sleep(WATCH_DRAIN);
    }
    stop.store(true, Ordering::Relaxed);
    let mut events = Vec::new();
    let mut untimed = 0;
    let mut lost = 0;
    let mut errors = ThreadStats::new();
    for msg in rx.iter() {
        if let FromWatcher::Done(log) = msg {
            let log = *log;
            events.extend(log.events);
            untimed += log.untimed;
            lost += log.lost;
            errors.merge(&log.errors);
        }
    }
    for h in handles {
        match h.join() {
            Ok(r) => r?,
            Err(_) => eprintln!("roost-loadgen: a watcher thread panicked"),
        }
    }
    let (writes, measure_from, wstats, series) = writer?;
    let end = measure_from + Duration::from_secs_f64(cfg.duration_s);
    let measured: Vec<&WriteRec> = writes
        .iter()
        .filter(|w| w.sent >= measure_from && w.sent < end)
        .collect();
    let acked = measured.iter().filter(|w| w.acked.is_some()).count() as u64;
    let f = match_events(&writes, &events, measure_from);
    let expected = acked * armed as u64;
    let fanout = FanoutReport {
        watchers_armed: armed,
        watchers_failed: failed,
        watchers_lost: lost,
        znodes: cfg.znodes,
        writes_measured: acked,
        events_expected: expected,
        events_received: f.received,
        events_missed: expected.saturating_sub(f.received),
        events_before_ack: f.before_ack,
        events_unmatched: f.unmatched,
        events_untimed: untimed,
        from_ack: OpReport::from_hist(&f.from_ack, 0),
        from_send: OpReport::from_hist(&f.from_send, 0),
    };
    Ok(WatchOutcome {
        writes: wstats,
        fanout,
        fanout_hist: f.from_ack,
        series,
        errors,
        sessions_established: armed + 1,
        sessions_failed: failed,
    })
}

type WriterResult = (Vec<WriteRec>, Instant, ThreadStats, Vec<SecondPoint>);

/// The writer: setData round-robin over the keys at the configured rate,
/// logging every write. Its latencies are the `set` op of the report.
fn write_loop(cfg: &WatchConfig) -> Result<WriterResult, WatchError> {
    let addr = cfg.addrs[0];
    let mut pool = Pool::new(1)?;
    let mut out = Vec::new();
    pool.connect(0, addr, cfg.session_timeout_ms, None, Instant::now(), 0)?;
    let connect_by = Instant::now() + Duration::from_secs(10);
    loop {
        let now = pool.turn(TURN, &mut out)?;
        if out
            .drain(..)
            .any(|(_, e)| matches!(e, ClientEvent::Connected { .. }))
        {
            break;
        }
        let dead = pool.get(0).is_none_or(|c| c.state == ClientState::Done);
        if now >= connect_by || dead {
            return Err(WatchError::Writer(addr));
        }
    }
    let value = value_bytes(cfg.value_size);
    let start = Instant::now();
    let measure_from = start + Duration::from_secs_f64(cfg.warmup_s);
    let end = measure_from + Duration::from_secs_f64(cfg.duration_s);
    let interval = Duration::from_secs_f64(1.0 / cfg.write_rate);
    let mut next_at = start;
    let mut writes: Vec<WriteRec> = Vec::new();
    let mut stats = ThreadStats::new();
    let mut series = SecondRecorder::new(start, cfg.warmup_s.ceil() as u64);
    let mut next_key = 0u64;
    let mut last_progress = start;
    loop {
        let now = Instant::now();
        if now >= end {
            break;
        }
        let Some(c) = pool.get(0) else {
            return Err(WatchError::Writer(addr));
        };
        if !c.is_ready() {
            return Err(WatchError::Writer(addr));
        }
        while next_at <= now
            && pool
                .get(0)
                .is_some_and(|c| c.inflight() < WATCH_WRITES_INFLIGHT_MAX)
            && writes.len() < WATCH_WRITES_MAX
        {
            let key = next_key;
            next_key = (next_key + 1) % cfg.znodes;
            let req = Request::SetData {
                path: key_path(&cfg.root, key),
                data: Some(value.clone()),
                version: -1,
            };
            pool.send(0, &req, writes.len() as u64, now);
            writes.push(WriteRec {
                key,
                sent: now,
                acked: None,
            });
            next_at += interval;
        }
        let wait = next_at.saturating_duration_since(now).min(TURN);
        let now = pool.turn(wait, &mut out)?;
        for (_, ev) in out.drain(..) {
            if let ClientEvent::Reply {
                tag, sent, outcome, ..
            } = ev
            {
                match outcome {
                    Ok(()) => {
                        writes[tag as usize].acked = Some(now);
                        let lat = latency_us(sent, now);
                        series.ok(now, lat);
                        if sent >= measure_from {
                            stats.record_ok(OpKind::Set, lat);
                        }
                    }
                    Err(e) => {
                        series.error(now);
                        if sent >= measure_from {
                            stats.record_op_error(OpKind::Set, e);
                        }
                    }
                }
            }
        }
        if !cfg.quiet && now.duration_since(last_progress) >= Duration::from_secs(1) {
            last_progress = now;
            eprintln!(
                "[watch {:>4}s] {} writes sent",
                now.duration_since(start).as_secs(),
                writes.len()
            );
        }
    }
    // Let the last replies in (so their acks are known), then close.
    let drain_by = Instant::now() + WATCH_DRAIN;
    while pool.get(0).is_some_and(|c| c.inflight() > 0) && Instant::now() < drain_by {
        let now = pool.turn(TURN, &mut out)?;
        for (_, ev) in out.drain(..) {
            if let ClientEvent::Reply {
                tag,
                sent,
                outcome: Ok(()),
                ..
            } = ev
            {
                writes[tag as usize].acked = Some(now);
                if sent >= measure_from && sent < end {
                    stats.record_ok(OpKind::Set, latency_us(sent, now));
                }
            }
        }
    }
    if let Some(c) = pool.get_mut(0) {
        c.queue_close(Instant::now());
    }
    let _ = pool.turn(TURN, &mut out);
    Ok((writes, measure_from, stats, series.finish(end)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_match_the_latest_earlier_write() {
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let writes = [
            // Warm-up write: its events are not counted.
            WriteRec {
                key: 0,
                sent: ms(0),
                acked: Some(ms(1)),
            },
            WriteRec {
                key: 0,
                sent: ms(100),
                acked: Some(ms(102)),
            },
            WriteRec {
                key: 1,
                sent: ms(110),
                acked: Some(ms(115)),
            },
        ];
        let events = [
            EventRec { key: 0, at: ms(3) }, // warm-up write's event
            EventRec {
                key: 0,
                at: ms(105),
            }, // 3 ms after ack, 5 after send
            EventRec {
                key: 1,
                at: ms(113),
            }, // before the writer saw the ack
            EventRec {
                key: 2,
                at: ms(120),
            }, // no write to key 2
        ];
        let f = match_events(&writes, &events, ms(50));
        assert_eq!(f.received, 2);
        assert_eq!(f.before_ack, 1);
        assert_eq!(f.unmatched, 1);
        assert_eq!(f.from_ack.len(), 2);
        assert!((2_990..=3_010).contains(&f.from_ack.max()));
        // From send: 5 ms (key 0) and 3 ms (key 1, whose ack came later).
        assert!((4_990..=5_010).contains(&f.from_send.max()));
        assert!((2_990..=3_010).contains(&f.from_send.min()));
        assert_eq!(f.from_ack.min(), 1);
    }
}
