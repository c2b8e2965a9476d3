//! The log core and its consensus-side handle.
//!
//! The log core is a glommio executor on its own CPU that owns the
//! [`LogWriter`] and does nothing else. [`run_log_core`] waits for a command,
//! then drains every command already queued into one batch (group commit):
//! one write + one sync for all of them. While that flush is in flight the
//! executor is blocked on the io_uring, so whatever arrives meanwhile queues
//! up and becomes the next batch. After each batch it reports the durable
//! watermark; after the first failure it reports the reason once and never
//! reports anything durable again.
//!
//! The same loop serves both modes of the writer: a standalone writer takes
//! [`LogCommand::Append`] and reports [`LogEvent::Durable`]; a raft writer
//! ([`LogWriter::open_raft`]) takes [`LogCommand::Persist`] and reports
//! [`LogEvent::Persisted`] with the highest token of the batch, once the
//! batch's entries and then its last hard state are durable (see
//! [`super::raft`]). Sending a command of the other mode is a bug: the log
//! core panics.
//!
//! [`DurableLog`] lives on the consensus core and implements [`TxnLog`],
//! the narrow interface the standalone core writes through: it collects appended entries, the
//! runtime ships them with [`DurableLog::take_batch`] as
//! [`LogCommand::Append`], and feeds [`LogEvent`]s back through
//! [`DurableLog::on_event`]. Replies are released by the core only once
//! `durable_zxid()` covers them.

pub use super::raft::RaftPersist;
use super::{LogRecord, LogWriter, WalError};
use crate::ops::txn::Txn;
use crate::proto::Zxid;
use glommio::channels::shared_channel::{ConnectedReceiver, ConnectedSender};

/// Consensus core -> log core.
#[derive(Debug)]
pub enum LogCommand {
    /// Append these records (strictly increasing zxids) durably.
    Append(Vec<LogRecord>),
    /// A snapshot covers everything below this zxid (raft mode: raft index):
    /// segments whose live records are wholly below it may be deleted.
    ReleaseBelow(Zxid),
    /// Raft mode: make this durable; group-committed with the other queued
    /// commands. Tokens strictly increase from one command to the next.
    Persist(RaftPersist),
}

/// Log core -> consensus core.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LogEvent {
    /// Everything up to and including this zxid is durable.
    Durable(Zxid),
    /// Raft mode: every [`LogCommand::Persist`] with a token <= this is
    /// durable (its entries, reset and hard state).
    Persisted(u64),
    /// The log can no longer make entries durable; sent once.
    Failed(String),
}

/// Records taken into one batch at most: bounds the memory and latency of a
/// single flush when the queue is long.
pub const BATCH_RECORDS_MAX: usize = 64 * 1024;

/// The log core's view of its command channel: a pump task drains the
/// cross-core channel with one long-lived `recv` into a local queue, and the
/// loop below takes from that queue without blocking (`try_pop`) or waits for
/// it (`next`).
///
/// Why: glommio's shared-channel receiver registers a new waker on every
/// `recv` poll that finds the channel empty and only drops as many as items
/// arrive, so polling `recv` once per batch (what a non-blocking check with
/// `poll_once` does) leaks a waker clone per batch. At about 1,000 writes/s
/// the task's reference count overflowed after a minute ("Waker invariant
/// broken") and the log core died. Here exactly one waker is stored at a time.
///
/// Back-pressure is unchanged: while a flush is in flight the executor is
/// blocked in io_uring, the pump does not run, and commands wait in the
/// bounded cross-core channel.
struct Inbox {
    queue: std::cell::RefCell<std::collections::VecDeque<LogCommand>>,
    closed: std::cell::Cell<bool>,
    waiter: std::cell::RefCell<Option<std::task::Waker>>,
}

impl Inbox {
    fn start(commands: ConnectedReceiver<LogCommand>) -> std::rc::Rc<Inbox> {
        let inbox = std::rc::Rc::new(Inbox {
            queue: Default::default(),
            closed: Default::default(),
            waiter: Default::default(),
        });
        let pump = inbox.clone();
        glommio::spawn_local(async move {
            loop {
                let cmd = commands.recv().await;
                match cmd {
                    Some(cmd) => pump.queue.borrow_mut().push_back(cmd),
                    None => pump.closed.set(true),
                }
                if let Some(w) = pump.waiter.borrow_mut().take() {
                    w.wake();
                }
                if pump.closed.get() {
                    return;
                }
            }
        })
        .detach();
        inbox
    }

    fn try_pop(&self) -> Option<LogCommand> {
        self.queue.borrow_mut().pop_front()
    }

    /// The next command, or None once the channel is closed and drained.
    async fn next(&self) -> Option<LogCommand> {
        std::future::poll_fn(|cx| {
            if let Some(cmd) = self.try_pop() {
                return std::task::Poll::Ready(Some(cmd));
            }
            if self.closed.get() {
                return std::task::Poll::Ready(None);
            }
            *self.waiter.borrow_mut() = Some(cx.waker().clone());
            std::task::Poll::Pending
        })
        .await
    }
}

/// Runs the log core until the command channel closes. See the module doc.
pub async fn run_log_core(
    writer: LogWriter,
    commands: ConnectedReceiver<LogCommand>,
    events: ConnectedSender<LogEvent>,
) {
    drive_log_core(writer, commands, events, BATCH_RECORDS_MAX).await
}

/// [`run_log_core`] with batches closed at `batch_records_max` records
/// (tests use small ones to get many batches from a queue that is never
/// empty).
async fn drive_log_core(
    writer: LogWriter,
    commands: ConnectedReceiver<LogCommand>,
    events: ConnectedSender<LogEvent>,
    batch_records_max: usize,
) {
    let mut writer = writer;
    let inbox = Inbox::start(commands);
    let mut failed = false;
    // A failed preparation is retried only after the next batch, not in a
    // tight loop.
    let mut prepare_blocked = false;
    let mut batch: Vec<LogRecord> = Vec::new();
    let mut persists: Vec<RaftPersist> = Vec::new();
    let mut last_token: Option<u64> = None;
    loop {
        // Idle: prepare the next segment in bounded steps, checking for
        // commands between steps.
        let first = loop {
            // Lets the pump move whatever arrived into the inbox.
            futures_lite::future::yield_now().await;
            if let Some(cmd) = inbox.try_pop() {
                break Some(cmd);
            }
            if failed || prepare_blocked {
                break inbox.next().await;
            }
            match writer.prepare_next() {
                Ok(true) => continue,
                Ok(false) => break inbox.next().await,
                Err(e) => {
                    tracing::warn!(error = %e, "preparing the next log segment failed; will retry");
                    prepare_blocked = true;
                    break inbox.next().await;
                }
            }
        };
        let Some(first) = first else { break };
        let mut release = None;
        // Returns the records a command adds to the batch.
        let mut absorb = |cmd: LogCommand,
                          batch: &mut Vec<LogRecord>,
                          persists: &mut Vec<RaftPersist>| match cmd {
            LogCommand::Append(mut recs) => {
                let n = recs.len();
                batch.append(&mut recs);
                n
            }
            LogCommand::ReleaseBelow(z) => {
                release = Some(release.map_or(z, |r: Zxid| r.max(z)));
                0
            }
            LogCommand::Persist(p) => {
                // Persisted(t) covers every token <= t: that is only true
                // if tokens increase.
                assert!(
                    last_token.is_none_or(|t| p.token > t),
                    "persist token {} after {last_token:?}: tokens must strictly increase",
                    p.token
                );
                last_token = Some(p.token);
                let n = p.entries.len() + usize::from(p.reset_to.is_some());
                persists.push(p);
                n
            }
        };
        // Records taken into this batch (of either mode).
        let mut records = absorb(first, &mut batch, &mut persists);
        // Group commit: everything already queued joins this batch (the
        // yield lets the pump drain the cross-core channel into the inbox).
        futures_lite::future::yield_now().await;
        while records < batch_records_max {
            match inbox.try_pop() {
                Some(cmd) => records += absorb(cmd, &mut batch, &mut persists),
                None => break,
            }
        }
        if failed {
            // Never acknowledge anything after a failure.
            batch.clear();
            persists.clear();
            continue;
        }
        let written_before = writer.stats().bytes_written;
        if !batch.is_empty() {
            match writer.append_batch(&batch) {
                Ok(z) => {
                    prepare_blocked = false;
                    let _ = events.send(LogEvent::Durable(z)).await;
                }
                Err(e) => {
                    failed = true;
                    let _ = events.send(LogEvent::Failed(failure_reason(&e))).await;
                }
            }
            batch.clear();
        }
        if !persists.is_empty() && !failed {
            let token = persists.last().expect("not empty").token;
            match writer.persist(&persists) {
                Ok(_) => {
                    prepare_blocked = false;
                    let _ = events.send(LogEvent::Persisted(token)).await;
                }
                Err(e) => {
                    failed = true;
                    let _ = events.send(LogEvent::Failed(failure_reason(&e))).await;
                }
            }
        }
        persists.clear();
        if !failed && !prepare_blocked {
            // The core may never be idle under load: prepare between batches too.
            let written = writer.stats().bytes_written - written_before;
            if let Err(e) = writer.keep_ahead(written) {
                tracing::warn!(error = %e, "preparing the next log segment failed; will retry");
                prepare_blocked = true;
            }
        }
        if let Some(z) = release {
            if let Err(e) = writer.release_below(z) {
                tracing::warn!(error = %e, "releasing old log segments failed");
            }
        }
    }
}

/// Where committed transactions go before anyone is told about them.
///
/// Contract: `durable_zxid()` never goes backwards, and never covers an entry
/// that is not on stable storage. The core releases a transaction's reply and
/// watch events only once `durable_zxid() >= zxid` (see the standalone core's `release`).
pub trait TxnLog {
    /// Queues one transaction. Entries arrive in strictly increasing zxid order.
    /// `time_ms` is the transaction's wall-clock time, logged with it.
    fn append(&mut self, zxid: Zxid, time_ms: i64, txn: &Txn);
    /// The highest zxid known to be durable.
    fn durable_zxid(&self) -> Zxid;
    /// Short reason if the log can no longer make entries durable (disk full,
    /// EIO); the core then refuses writes and keeps serving reads.
    fn failure(&self) -> Option<&str> {
        None
    }
    /// Counters for `mntr` (name, value).
    fn metrics(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// The log core's counters, where the log has one.
    fn stats(&self) -> Option<super::WalStats> {
        None
    }
    /// The records appended since the last call, for the log core (one
    /// group-commit batch); empty for a log that needs no shipping.
    fn take_batch(&mut self) -> Vec<LogRecord> {
        Vec::new()
    }
    /// An event from the log core (durable watermark, failure).
    fn on_event(&mut self, _event: LogEvent) {}
}

/// The short reason shown in mntr and the server log.
fn failure_reason(e: &WalError) -> String {
    format!("transaction log failed, writes refused: {e}")
}

/// The consensus core's view of the durable log. Lives on the consensus core.
/// Owned by the consensus executor.
#[derive(Debug, Default)]
pub struct DurableLog {
    pending: Vec<LogRecord>,
    last_appended: Zxid,
    durable: Zxid,
    failure: Option<String>,
    appended: u64,
    batches_sent: u64,
    durable_events: u64,
    /// The log core's counters (fsyncs, batches), for mntr.
    probe: Option<std::sync::Arc<super::WalProbe>>,
}

impl DurableLog {
    /// Attaches the log core's counters so `metrics` can report them.
    pub fn set_probe(&mut self, probe: std::sync::Arc<super::WalProbe>) {
        self.probe = Some(probe);
    }

    /// A log whose durable content (from recovery) ends at `last_zxid`.
    pub fn new(last_zxid: Zxid) -> DurableLog {
        DurableLog {
            last_appended: last_zxid,
            durable: last_zxid,
            ..DurableLog::default()
        }
    }

    /// Records appended and not yet taken.
    pub fn pending_len(&self) -> usize {
        self.pending.len()
    }
    /// Total records appended.
    pub fn appended(&self) -> u64 {
        self.appended
    }
    /// Batches handed to the runtime.
    pub fn batches_sent(&self) -> u64 {
        self.batches_sent
    }
    /// Durable watermark updates received.
    pub fn durable_events(&self) -> u64 {
        self.durable_events
    }
    /// The highest zxid appended.
    pub fn last_appended(&self) -> Zxid {
        self.last_appended
    }
}

impl TxnLog for DurableLog {
    fn take_batch(&mut self) -> Vec<LogRecord> {
        if !self.pending.is_empty() {
            self.batches_sent += 1;
        }
        std::mem::take(&mut self.pending)
    }

    fn on_event(&mut self, ev: LogEvent) {
        match ev {
            LogEvent::Durable(z) => {
                assert!(
                    self.failure.is_none(),
                    "log reported zxid {z} durable after failing"
                );
                assert!(
                    z >= self.durable,
                    "durable watermark went backwards: {z} < {}",
                    self.durable
                );
                assert!(
                    z <= self.last_appended,
                    "log reported zxid {z} durable but only {} was appended",
                    self.last_appended
                );
                self.durable = z;
                self.durable_events += 1;
            }
            LogEvent::Persisted(token) => {
                panic!("raft persist {token} reported to a standalone log's consumer")
            }
            LogEvent::Failed(reason) => {
                tracing::error!(reason = %reason, "transaction log failed");
                if self.failure.is_none() {
                    self.failure = Some(reason);
                }
                self.pending.clear();
            }
        }
    }

    fn metrics(&self) -> Vec<(&'static str, String)> {
        vec![
            ("roost_log_appended", self.appended.to_string()),
            ("roost_log_durable_zxid", format!("{:#x}", self.durable)),
        ]
    }

    fn stats(&self) -> Option<super::WalStats> {
        self.probe.as_ref().map(|p| p.snapshot())
    }

    fn append(&mut self, zxid: Zxid, time_ms: i64, txn: &Txn) {
        assert!(
            zxid > self.last_appended,
            "log append out of order: {zxid} after {}",
            self.last_appended
        );
        self.last_appended = zxid;
        self.appended += 1;
        // After a failure nothing more can become durable; do not queue.
        if self.failure.is_none() {
            self.pending.push(LogRecord {
                zxid,
                term: 0,
                time_ms,
                txn: txn.clone(),
            });
        }
    }

    fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::FaultyDevice;
    use crate::wal::{HardState, SyncMode, WalConfig};
    use glommio::channels::shared_channel;
    use glommio::LocalExecutorBuilder;
    use std::path::Path;
    use std::sync::{Arc, Barrier};

    fn txn(z: i64) -> Txn {
        Txn::CreateSession {
            session_id: z,
            timeout_ms: 1000,
        }
    }

    /// Runs a log core over `dev`; the client sends `commands` appends of
    /// `per_command` records each before the core starts draining (so group
    /// commit is deterministic), then collects events until `stop` says so.
    fn run(
        dev: FaultyDevice,
        commands: i64,
        per_command: i64,
        stop: fn(&DurableLog, usize) -> bool,
        sync_fault_after_open: Option<i32>,
    ) -> (DurableLog, Vec<LogEvent>, crate::wal::WalStats) {
        let cfg = WalConfig {
            segment_bytes: 64 * 1024,
            sync_mode: SyncMode::Fdatasync,
        };
        let (writer, rec) =
            LogWriter::open(Path::new("/core"), cfg, Box::new(dev.clone())).unwrap();
        if let Some(errno) = sync_fault_after_open {
            dev.fail_next_sync(errno);
        }
        let probe = writer.probe();
        let (cmd_tx, cmd_rx) = shared_channel::new_bounded(1024);
        let (ev_tx, ev_rx) = shared_channel::new_bounded(1024);
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let core = LocalExecutorBuilder::default()
            .name("log-core-test")
            .spawn(move || async move {
                let rx = cmd_rx.connect().await;
                let tx = ev_tx.connect().await;
                b.wait();
                run_log_core(writer, rx, tx).await;
            })
            .unwrap();
        let client = LocalExecutorBuilder::default()
            .name("consensus-test")
            .spawn(move || async move {
                let tx = cmd_tx.connect().await;
                let rx = ev_rx.connect().await;
                let mut log = DurableLog::new(rec.last_zxid);
                let mut z = rec.last_zxid;
                for _ in 0..commands {
                    for _ in 0..per_command {
                        z += 1;
                        log.append(z, 0, &txn(z));
                    }
                    tx.send(LogCommand::Append(log.take_batch())).await.unwrap();
                }
                barrier.wait();
                let mut events = Vec::new();
                while !stop(&log, events.len()) {
                    let Some(ev) = rx.recv().await else { break };
                    events.push(ev.clone());
                    log.on_event(ev);
                }
                // One more record, bypassing DurableLog (which stops queueing
                // after a failure): the core must not report it durable then.
                z += 1;
                let extra = LogRecord {
                    zxid: z,
                    term: 0,
                    time_ms: 0,
                    txn: txn(z),
                };
                tx.send(LogCommand::Append(vec![extra])).await.unwrap();
                tx.send(LogCommand::ReleaseBelow(1)).await.unwrap();
                drop(tx);
                while let Some(ev) = rx.recv().await {
                    events.push(ev);
                }
                (log, events)
            })
            .unwrap();
        let (log, events) = client.join().unwrap();
        core.join().unwrap();
        (log, events, probe.snapshot())
    }

    /// One record per batch, waiting for each to be durable, so the command
    /// channel is empty after every batch: with a non-blocking `poll_once`
    /// of the channel this leaked a waker per batch and the log core died
    /// ("Waker invariant broken") after about 32k batches.
    #[test]
    fn log_core_survives_many_small_batches_on_an_idle_channel() {
        const BATCHES: i64 = 40_000;
        let dev = FaultyDevice::new();
        let cfg = WalConfig {
            segment_bytes: 4 << 20,
            sync_mode: SyncMode::Fdatasync,
        };
        let (writer, rec) = LogWriter::open(Path::new("/idle"), cfg, Box::new(dev)).unwrap();
        let (cmd_tx, cmd_rx) = shared_channel::new_bounded(16);
        let (ev_tx, ev_rx) = shared_channel::new_bounded(16);
        let core = LocalExecutorBuilder::default()
            .name("log-core-idle")
            .spawn(move || async move {
                let rx = cmd_rx.connect().await;
                let tx = ev_tx.connect().await;
                run_log_core(writer, rx, tx).await;
            })
            .unwrap();
        let client = LocalExecutorBuilder::default()
            .name("consensus-idle")
            .spawn(move || async move {
                let tx = cmd_tx.connect().await;
                let rx = ev_rx.connect().await;
                let mut z = rec.last_zxid;
                for _ in 0..BATCHES {
                    z += 1;
                    let rec = LogRecord {
                        zxid: z,
                        term: 0,
                        time_ms: 0,
                        txn: txn(z),
                    };
                    tx.send(LogCommand::Append(vec![rec])).await.unwrap();
                    assert_eq!(rx.recv().await, Some(LogEvent::Durable(z)));
                }
                z
            })
            .unwrap();
        let last = client.join().unwrap();
        core.join().unwrap();
        assert_eq!(last, BATCHES);
    }

    /// Issue 12: a core whose command queue is never empty never reaches
    /// its idle-time preparation; it must still prepare the next segment
    /// between batches, or every roll zero-fills and syncs a whole segment
    /// inline while the writes in flight wait (a ~120 ms stall per 64 MiB).
    #[test]
    fn log_core_that_is_never_idle_still_prepares_every_roll() {
        const COMMANDS: usize = 1_000;
        const PER_COMMAND: usize = 10;
        let dev = FaultyDevice::new();
        let cfg = WalConfig {
            segment_bytes: 64 * 1024,
            sync_mode: SyncMode::Fdatasync,
        };
        let (writer, rec) = LogWriter::open(Path::new("/busy"), cfg, Box::new(dev)).unwrap();
        let probe = writer.probe();
        let (cmd_tx, cmd_rx) = shared_channel::new_bounded(COMMANDS);
        let (ev_tx, ev_rx) = shared_channel::new_bounded(COMMANDS);
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let core = LocalExecutorBuilder::default()
            .name("log-core-busy")
            .spawn(move || async move {
                let rx = cmd_rx.connect().await;
                let tx = ev_tx.connect().await;
                b.wait();
                // Batches of about 8 commands (4 KiB), well under a segment.
                drive_log_core(writer, rx, tx, 8 * PER_COMMAND).await;
            })
            .unwrap();
        let client = LocalExecutorBuilder::default()
            .name("consensus-busy")
            .spawn(move || async move {
                let tx = cmd_tx.connect().await;
                let rx = ev_rx.connect().await;
                let mut log = DurableLog::new(rec.last_zxid);
                let mut z = rec.last_zxid;
                // Everything queued before the core starts: it is never idle.
                for _ in 0..COMMANDS {
                    for _ in 0..PER_COMMAND {
                        z += 1;
                        log.append(z, 0, &txn(z));
                    }
                    tx.send(LogCommand::Append(log.take_batch())).await.unwrap();
                }
                barrier.wait();
                drop(tx);
                let mut last = None;
                while let Some(ev) = rx.recv().await {
                    last = Some(ev);
                }
                (z, last)
            })
            .unwrap();
        let (last, last_event) = client.join().unwrap();
        core.join().unwrap();
        assert_eq!(last_event, Some(LogEvent::Durable(last)));
        let s = probe.snapshot();
        assert!(s.batches >= 100, "{s:?}");
        assert!(s.rolls >= 5, "{s:?}");
        assert_eq!(s.rolls_unprepared, 0, "{s:?}");
    }

    #[test]
    fn log_core_group_commits_queued_commands() {
        let dev = FaultyDevice::new();
        let (log, events, stats) = run(dev.clone(), 20, 5, |l, _| l.durable_zxid() >= 100, None);
        assert_eq!(events, vec![LogEvent::Durable(100), LogEvent::Durable(101)]);
        assert_eq!(log.durable_zxid(), 100);
        assert_eq!(log.batches_sent(), 20);
        assert_eq!((stats.batches, stats.fsyncs, stats.records), (2, 2, 101));
        // Everything is on disk.
        let (_, r) = LogWriter::open(
            Path::new("/core"),
            WalConfig {
                segment_bytes: 64 * 1024,
                sync_mode: SyncMode::Fdatasync,
            },
            Box::new(dev),
        )
        .unwrap();
        assert_eq!(r.last_zxid, 101);
    }

    #[test]
    fn log_core_reports_failure_once_and_nothing_after() {
        let dev = FaultyDevice::new();
        let (log, events, stats) = run(dev, 3, 2, |_, n| n >= 1, Some(libc::EIO));
        assert_eq!(events.len(), 1);
        let LogEvent::Failed(reason) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(reason.contains("Input/output error"), "{reason}");
        assert_eq!(log.failure(), Some(reason.as_str()));
        assert_eq!(log.durable_zxid(), 0);
        assert!(stats.failed);
    }

    fn raft_cfg() -> WalConfig {
        WalConfig {
            segment_bytes: 64 * 1024,
            sync_mode: SyncMode::Fdatasync,
        }
    }

    fn raft_entries(from: u64, to: u64, term: u64) -> Vec<crate::wal::RaftRecord> {
        (from..=to)
            .map(|index| crate::wal::RaftRecord {
                index,
                term,
                kind: crate::wal::RaftEntryKind::Normal,
                data: vec![index as u8; 20],
                context: Vec::new(),
            })
            .collect()
    }

    /// Runs a raft log core over `dev`: `commands` are queued before the
    /// core starts draining (one group-committed batch), then events are
    /// collected until one reports the last token (or a failure); then one
    /// more Persist (`extra`) and a ReleaseBelow are sent, the channel is
    /// closed, and the remaining events collected.
    fn run_raft(
        dev: FaultyDevice,
        commands: Vec<RaftPersist>,
        extra: RaftPersist,
        sync_fault_after_open: Option<i32>,
    ) -> (Vec<LogEvent>, crate::wal::WalStats) {
        let (writer, rec) =
            LogWriter::open_raft(Path::new("/raft-core"), raft_cfg(), Box::new(dev.clone()))
                .unwrap();
        assert!(rec.entries.is_empty());
        if let Some(errno) = sync_fault_after_open {
            dev.fail_next_sync(errno);
        }
        let probe = writer.probe();
        let (cmd_tx, cmd_rx) = shared_channel::new_bounded(1024);
        let (ev_tx, ev_rx) = shared_channel::new_bounded(1024);
        let barrier = Arc::new(Barrier::new(2));
        let b = barrier.clone();
        let core = LocalExecutorBuilder::default()
            .name("raft-log-core-test")
            .spawn(move || async move {
                let rx = cmd_rx.connect().await;
                let tx = ev_tx.connect().await;
                b.wait();
                run_log_core(writer, rx, tx).await;
            })
            .unwrap();
        let client = LocalExecutorBuilder::default()
            .name("raft-consensus-test")
            .spawn(move || async move {
                let tx = cmd_tx.connect().await;
                let rx = ev_rx.connect().await;
                let last = commands.last().unwrap().token;
                for c in commands {
                    tx.send(LogCommand::Persist(c)).await.unwrap();
                }
                barrier.wait();
                let mut events = Vec::new();
                while let Some(ev) = rx.recv().await {
                    let done = matches!(ev, LogEvent::Persisted(t) if t >= last)
                        || matches!(ev, LogEvent::Failed(_));
                    events.push(ev);
                    if done {
                        break;
                    }
                }
                tx.send(LogCommand::Persist(extra)).await.unwrap();
                tx.send(LogCommand::ReleaseBelow(1)).await.unwrap();
                drop(tx);
                while let Some(ev) = rx.recv().await {
                    events.push(ev);
                }
                events
            })
            .unwrap();
        let events = client.join().unwrap();
        core.join().unwrap();
        (events, probe.snapshot())
    }

    fn hs(term: i64, commit: i64) -> HardState {
        HardState {
            term,
            vote: 1,
            commit,
        }
    }

    #[test]
    fn log_core_group_commits_persists_and_saves_the_last_hard_state() {
        let dev = FaultyDevice::new();
        let commands = vec![
            RaftPersist {
                token: 1,
                entries: raft_entries(1, 3, 1),
                ..RaftPersist::default()
            },
            RaftPersist {
                token: 2,
                hard_state: Some(hs(1, 1)),
                ..RaftPersist::default()
            },
            RaftPersist {
                token: 5,
                // Replaces 2..3 of term 1.
                entries: raft_entries(2, 4, 2),
                hard_state: Some(hs(2, 3)),
                reset_to: None,
            },
        ];
        let extra = RaftPersist {
            token: 6,
            entries: raft_entries(5, 5, 2),
            ..RaftPersist::default()
        };
        let (events, stats) = run_raft(dev.clone(), commands, extra, None);
        assert_eq!(events, vec![LogEvent::Persisted(5), LogEvent::Persisted(6)]);
        // Batch 1: one log write + sync and one hard state write + sync;
        // batch 2: one log write + sync.
        assert_eq!((stats.batches, stats.records, stats.fsyncs), (2, 7, 3));
        assert_eq!(stats.durable_zxid, 5);
        let (_, r) =
            LogWriter::open_raft(Path::new("/raft-core"), raft_cfg(), Box::new(dev)).unwrap();
        let mut expected = raft_entries(1, 1, 1);
        expected.extend(raft_entries(2, 5, 2));
        assert_eq!(r.entries, expected);
        assert_eq!(r.hard_state, hs(2, 3));
    }

    #[test]
    fn log_core_persist_failure_is_reported_once() {
        let dev = FaultyDevice::new();
        let commands = vec![RaftPersist {
            token: 1,
            entries: raft_entries(1, 3, 1),
            hard_state: Some(hs(1, 3)),
            reset_to: None,
        }];
        let extra = RaftPersist {
            token: 2,
            entries: raft_entries(4, 4, 1),
            ..RaftPersist::default()
        };
        let (events, stats) = run_raft(dev.clone(), commands, extra, Some(libc::EIO));
        assert_eq!(events.len(), 1, "{events:?}");
        let LogEvent::Failed(reason) = &events[0] else {
            panic!("{events:?}")
        };
        assert!(reason.contains("Input/output error"), "{reason}");
        assert!(stats.failed);
        // The failed sync made nothing durable, the hard state was never
        // written.
        dev.crash();
        let (_, r) =
            LogWriter::open_raft(Path::new("/raft-core"), raft_cfg(), Box::new(dev)).unwrap();
        assert!(r.entries.is_empty());
        assert_eq!(r.hard_state, HardState::default());
    }

    #[test]
    fn log_core_rejected_sequence_is_a_failure() {
        let dev = FaultyDevice::new();
        let commands = vec![
            RaftPersist {
                token: 1,
                entries: raft_entries(1, 3, 1),
                ..RaftPersist::default()
            },
            RaftPersist {
                token: 2,
                entries: raft_entries(5, 5, 1),
                ..RaftPersist::default()
            },
        ];
        let extra = RaftPersist {
            token: 3,
            entries: raft_entries(1, 1, 1),
            ..RaftPersist::default()
        };
        let (events, _) = run_raft(dev, commands, extra, None);
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(
            matches!(&events[0], LogEvent::Failed(r) if r.contains("out of sequence")),
            "{events:?}"
        );
    }

    #[test]
    #[should_panic(expected = "standalone log")]
    fn durable_log_refuses_persisted() {
        let mut log = DurableLog::new(0);
        log.on_event(LogEvent::Persisted(1));
    }

    #[test]
    fn durable_log_tracks_watermark_and_failure() {
        let mut log = DurableLog::new(10);
        assert_eq!(log.durable_zxid(), 10);
        log.append(11, 0, &txn(11));
        log.append(12, 0, &txn(12));
        let b = log.take_batch();
        assert_eq!(b.iter().map(|r| r.zxid).collect::<Vec<_>>(), vec![11, 12]);
        assert!(log.take_batch().is_empty());
        log.on_event(LogEvent::Durable(11));
        log.on_event(LogEvent::Durable(12));
        assert_eq!(log.durable_zxid(), 12);
        log.append(13, 0, &txn(13));
        log.on_event(LogEvent::Failed("disk full".into()));
        log.on_event(LogEvent::Failed("again".into()));
        assert_eq!(log.failure(), Some("disk full"));
        log.append(14, 0, &txn(14));
        assert!(log.take_batch().is_empty());
        assert_eq!(log.durable_zxid(), 12);
    }

    #[test]
    #[should_panic(expected = "backwards")]
    fn durable_log_watermark_never_goes_backwards() {
        let mut log = DurableLog::new(0);
        log.append(1, 0, &txn(1));
        log.append(2, 0, &txn(2));
        log.on_event(LogEvent::Durable(2));
        log.on_event(LogEvent::Durable(1));
    }
}
