//! The consensus executor's one event loop, for standalone servers and
//! ensemble members alike: every input (a shard message, a log event, a
//! finished snapshot, a peer frame, a tick) goes to the [`Pipeline`], then
//! the round's [`Step`] is carried out in full before the next input.
//!
//! Owned by the consensus executor: the pipeline, the outboxes and (for a
//! member) the peer transport all live there, so raft messages never hop
//! cores.

use super::snapshotter::{SnapshotDone, SnapshotJob};
use crate::clock;
use crate::config::ServerSpec;
use crate::consensus::member::Member;
use crate::consensus::step::{Input, Now, Output, PersistRequest, Step};
use crate::consensus::wire::FRAME_FORWARD;
use crate::consensus::Standalone;
use crate::messages::{MemberId, ToConsensus, ToShard};
use crate::transport::{PeerEvent, PeerTransport};
use crate::wal::{LogCommand, LogEvent, TxnLog};
use glommio::channels::local_channel::{self, LocalReceiver, LocalSender};
use glommio::channels::shared_channel::{ConnectedSender, SharedReceiver, SharedSender};
use glommio::TaskQueueHandle;
use std::cell::RefCell;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// Resolves a member's quorum address (members added by a reconfig).
pub type ResolvePeer = Box<dyn Fn(&ServerSpec) -> Option<SocketAddr>>;

/// The consensus core as the driver sees it: inputs in, one step out.
pub trait Pipeline {
    fn input(&mut self, input: Input, now: Now);
    fn drive(&mut self) -> Step;
}

impl<L: TxnLog> Pipeline for Standalone<L> {
    fn input(&mut self, input: Input, now: Now) {
        Standalone::input(self, input, now)
    }
    fn drive(&mut self) -> Step {
        Standalone::drive(self)
    }
}

impl Pipeline for Member {
    fn input(&mut self, input: Input, now: Now) {
        Member::input(self, input, now)
    }
    fn drive(&mut self) -> Step {
        Member::drive(self)
    }
}

/// A step longer than this is logged (debug): it is what ticks wait behind.
const SLOW_STEP_US: u64 = 50_000;

/// What kind of input a step handled, for the slow-step log line.
fn input_kind(i: &Input) -> &'static str {
    match i {
        Input::Shard(_) => "shard",
        Input::Log(_) => "log",
        Input::SnapshotWritten(_) => "snapshot written",
        Input::PeerFrame { .. } => "peer frame",
        Input::PeerDisconnected(_) => "peer disconnected",
        Input::PeerConnected(_) => "peer connected",
        Input::Heard(_) => "heard",
        Input::ForwardsLost => "forwards lost",
        Input::ReceivedSnapshotFailed(_) => "received snapshot failed",
        Input::Tick { .. } => "tick",
    }
}

/// The time, now.
pub fn now() -> Now {
    Now {
        mono_ms: clock::monotonic_ms(),
        wall_ms: clock::now_ms(),
    }
}

/// The channels the consensus executor is handed.
pub struct Channels {
    pub from_shards: Vec<SharedReceiver<ToConsensus>>,
    pub to_shards: Vec<SharedSender<ToShard>>,
    pub log_commands: SharedSender<LogCommand>,
    pub log_events: SharedReceiver<LogEvent>,
    pub snapshot_jobs: SharedSender<SnapshotJob>,
    pub snapshot_done: SharedReceiver<SnapshotDone>,
}

/// One outbox per destination, each drained by its own pump task, so
/// everything for a destination is queued synchronously in production
/// order and no two tasks can reorder it.
struct Outboxes {
    shards: Vec<LocalSender<ToShard>>,
    log: LocalSender<LogCommand>,
    snapshot: LocalSender<SnapshotJob>,
}

/// Peers of an ensemble member, and a member's persists held behind a
/// received snapshot being written.
struct Peers {
    transport: PeerTransport,
    liveness: std::sync::Arc<super::liveness::Liveness>,
    /// Beacons counted per member when last reported to the pipeline.
    heard_seen: Vec<u64>,
    /// Resolves a member's address (new members after a reconfig).
    resolve: ResolvePeer,
    my_id: MemberId,
}

/// Everything the loop touches, on the consensus executor.
struct Driver<P> {
    pipeline: P,
    outboxes: Outboxes,
    peers: Option<Peers>,
    /// Persists waiting for a received snapshot to be written first (they
    /// go to the log core in order, after it).
    held_persists: VecDeque<PersistRequest>,
    received_snapshot_in_flight: bool,
    /// The longest one input took since the last tick (µs).
    longest_step_us: u64,
}

/// A local queue drained into a cross-core channel by its own task.
fn pump<T: Send + 'static>(tx: ConnectedSender<T>) -> LocalSender<T> {
    let (local_tx, local_rx) = local_channel::new_unbounded::<T>();
    glommio::spawn_local(async move {
        while let Some(msg) = local_rx.recv().await {
            if tx.send(msg).await.is_err() {
                return;
            }
        }
    })
    .detach();
    local_tx
}

/// What a pipeline brings to the driver besides itself.
/// Owned by the consensus executor: built there at start-up, consumed by `run`.
pub struct Started {
    /// The version shards start from.
    pub published: std::sync::Arc<crate::tree::DataTree>,
    /// What the pipeline produced while starting (a member's log reset).
    pub step: Step,
    /// A member's peer transport.
    pub peers: Option<PeerWiring>,
}

/// A member's peer transport, handed to [`run`].
/// Owned by the consensus executor (the transport is not `Send`).
pub struct PeerWiring {
    pub transport: PeerTransport,
    pub liveness: std::sync::Arc<super::liveness::Liveness>,
    pub events: LocalReceiver<PeerEvent>,
    pub resolve: ResolvePeer,
    pub my_id: MemberId,
}

/// Runs the consensus executor until the process ends: connects the
/// channels, then feeds inputs to `pipeline` and carries out its steps,
/// the step it produced while starting first. The timer ticks and the
/// peer traffic (heartbeats, votes) run in `control`, a task queue with a
/// latency requirement, so that they never wait behind a queue of client
/// requests (see `runtime::CONTROL_LATENCY`).
pub async fn run<P: Pipeline + 'static>(
    pipeline: P,
    started: Started,
    channels: Channels,
    tick_interval: Duration,
    control: TaskQueueHandle,
) {
    let Started {
        step: first, peers, ..
    } = started;
    // `connect` waits for the other end: connect every sender before any
    // receiver (the peers connect their receivers first).
    let mut shard_outboxes = Vec::new();
    for tx in channels.to_shards {
        shard_outboxes.push(pump(tx.connect().await));
    }
    let outboxes = Outboxes {
        shards: shard_outboxes,
        log: pump(channels.log_commands.connect().await),
        snapshot: pump(channels.snapshot_jobs.connect().await),
    };
    let mut receivers = Vec::new();
    for rx in channels.from_shards {
        receivers.push(rx.connect().await);
    }
    let log_events = channels.log_events.connect().await;
    let snapshot_done = channels.snapshot_done.connect().await;
    let (peers, peer_events) = match peers {
        Some(p) => (
            Some(Peers {
                transport: p.transport,
                liveness: p.liveness,
                heard_seen: vec![0; 256],
                resolve: p.resolve,
                my_id: p.my_id,
            }),
            Some(p.events),
        ),
        None => (None, None),
    };
    let driver = Rc::new(RefCell::new(Driver {
        pipeline,
        outboxes,
        peers,
        held_persists: VecDeque::new(),
        received_snapshot_in_flight: false,
        longest_step_us: 0,
    }));
    driver.borrow_mut().carry_out(first);

    for rx in receivers {
        let driver = driver.clone();
        glommio::spawn_local(async move {
            while let Some(msg) = rx.recv().await {
                driver.borrow_mut().handle(Input::Shard(msg));
            }
        })
        .detach();
    }
    {
        let driver = driver.clone();
        glommio::spawn_local(async move {
            while let Some(event) = log_events.recv().await {
                if let LogEvent::Failed(reason) = &event {
                    tracing::error!(%reason, "transaction log failed: refusing writes, still serving reads");
                }
                driver.borrow_mut().handle(Input::Log(event));
            }
        })
        .detach();
    }
    {
        let driver = driver.clone();
        glommio::spawn_local(async move {
            while let Some(done) = snapshot_done.recv().await {
                driver.borrow_mut().snapshot_done(done);
            }
        })
        .detach();
    }
    if let Some(events) = peer_events {
        let driver = driver.clone();
        let peer_task = async move {
            while let Some(event) = events.recv().await {
                let input = match event {
                    PeerEvent::Frame { from, kind, body } => Input::PeerFrame { from, kind, body },
                    PeerEvent::Disconnected(peer) => Input::PeerDisconnected(peer),
                    PeerEvent::Connected(peer) => Input::PeerConnected(peer),
                };
                driver.borrow_mut().handle(input);
            }
        };
        glommio::spawn_local_into(peer_task, control)
            .expect("the control task queue exists")
            .detach();
    }
    let ticks = async move {
        // Ticks are due every `tick_interval`; one that runs late records
        // how late. Ticks missed during a stall are dropped, not replayed
        // back to back (raft counts ticks: replaying them would make a
        // member that was frozen campaign the moment it resumes).
        let mut due = Instant::now() + tick_interval;
        loop {
            let now = Instant::now();
            if due > now {
                glommio::timer::sleep(due - now).await;
            }
            let lag_us = Instant::now().saturating_duration_since(due).as_micros() as u64;
            let mut d = driver.borrow_mut();
            d.report_beacons();
            let longest_step_us = std::mem::take(&mut d.longest_step_us);
            d.handle(Input::Tick {
                lag_us,
                longest_step_us,
            });
            drop(d);
            due = (due + tick_interval).max(Instant::now());
        }
    };
    glommio::spawn_local_into(ticks, control)
        .expect("the control task queue exists")
        .await;
}

impl<P: Pipeline> Driver<P> {
    fn handle(&mut self, input: Input) {
        let started = Instant::now();
        let kind = input_kind(&input);
        self.pipeline.input(input, now());
        let step = self.pipeline.drive();
        let (shard_messages, persists) = (step.to_shards.len(), step.persists.len());
        self.carry_out(step);
        let took_us = started.elapsed().as_micros() as u64;
        if took_us > SLOW_STEP_US {
            tracing::debug!(
                kind,
                took_us,
                shard_messages,
                persists,
                "slow consensus step"
            );
        }
        self.longest_step_us = self.longest_step_us.max(took_us);
    }

    /// Beacons heard since the last tick go to the pipeline first.
    fn report_beacons(&mut self) {
        let heard = match self.peers.as_mut() {
            Some(p) => p.liveness.heard_since(&mut p.heard_seen),
            None => return,
        };
        if !heard.is_empty() {
            self.handle(Input::Heard(heard));
        }
    }

    fn snapshot_done(&mut self, done: SnapshotDone) {
        match done {
            SnapshotDone::Written(outcome) => self.handle(Input::SnapshotWritten(outcome)),
            SnapshotDone::Received(result) => {
                self.received_snapshot_in_flight = false;
                if let Err(why) = result {
                    // The persist that depended on it must not reach the log.
                    self.held_persists.pop_front();
                    self.handle(Input::ReceivedSnapshotFailed(why));
                }
                self.send_persists(VecDeque::new());
            }
        }
    }

    /// Carries out one step, in its documented order.
    fn carry_out(&mut self, step: Step) {
        let Step {
            log_records,
            persists,
            peer_frames,
            membership,
            beacon,
            snapshot,
            release_log_below,
            to_shards,
        } = step;
        if !log_records.is_empty() {
            let _ = self.outboxes.log.try_send(LogCommand::Append(log_records));
        }
        self.send_persists(persists.into());
        let mut forward_lost = false;
        if let Some(peers) = &self.peers {
            for (to, kind, body) in peer_frames {
                if let Err(e) = peers.transport.send(to, kind, &body) {
                    tracing::debug!(to, kind, error = %e, "peer frame dropped");
                    // Raft retransmits its own messages; a lost forwarded
                    // request would leave its client waiting forever.
                    forward_lost |= kind == FRAME_FORWARD;
                }
            }
            if let Some(servers) = membership {
                // A reconfig committed: talk to exactly the new members.
                let addrs: Vec<(MemberId, SocketAddr)> = servers
                    .iter()
                    .filter(|s| s.id != peers.my_id)
                    .filter_map(|s| (peers.resolve)(s).map(|a| (s.id, a)))
                    .collect();
                peers.liveness.set_peers(addrs.clone());
                peers.transport.set_peers(addrs);
            }
            if let Some(plan) = beacon {
                peers.liveness.plan(&plan);
            }
        } else {
            assert!(
                peer_frames.is_empty() && membership.is_none() && beacon.is_none(),
                "a standalone server has no peers"
            );
        }
        if let Some(request) = snapshot {
            let _ = self.outboxes.snapshot.try_send(SnapshotJob::Write(request));
        }
        if let Some(below) = release_log_below {
            let _ = self.outboxes.log.try_send(LogCommand::ReleaseBelow(below));
        }
        self.dispatch(to_shards);
        if forward_lost {
            self.handle(Input::ForwardsLost);
        }
    }

    /// Hands persists to the log core in order. One carrying a snapshot
    /// received from the leader waits until the snapshotter has written
    /// that file (the log reset it carries depends on it), and everything
    /// after it waits behind it.
    fn send_persists(&mut self, mut persists: VecDeque<PersistRequest>) {
        self.held_persists.append(&mut persists);
        while !self.received_snapshot_in_flight {
            let Some(mut p) = self.held_persists.pop_front() else {
                return;
            };
            if let Some((zxid, bytes)) = p.snapshot_file.take() {
                self.received_snapshot_in_flight = true;
                let _ = self
                    .outboxes
                    .snapshot
                    .try_send(SnapshotJob::Received { zxid, bytes });
                // Sent once the file is written (see `snapshot_done`).
                self.held_persists.push_front(p);
                return;
            }
            let _ = self.outboxes.log.try_send(super::persist_command(p));
        }
    }

    fn dispatch(&self, outputs: Vec<Output>) {
        for out in outputs {
            match out {
                Output::To(shard, msg) => {
                    let _ = self.outboxes.shards[shard].try_send(msg);
                }
                Output::Broadcast(msg) => {
                    for outbox in &self.outboxes.shards {
                        let copy = match &msg {
                            ToShard::Commit(c) => ToShard::Commit(c.clone()),
                            ToShard::GatherRequest { token, word } => ToShard::GatherRequest {
                                token: *token,
                                word,
                            },
                            ToShard::CloseAll => ToShard::CloseAll,
                            other => unreachable!("not a broadcast message: {other:?}"),
                        };
                        let _ = outbox.try_send(copy);
                    }
                }
            }
        }
    }
}
