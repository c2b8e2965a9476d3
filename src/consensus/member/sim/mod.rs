//! A whole ensemble in one thread, driven by the test: members exchange
//! frames through an in-memory network the test controls (drop a member,
//! cut links, hold appends), each member's "disk" keeps what it persisted
//! (so members restart from their newest snapshot plus log), and a model
//! of each member's client shard processes the commit stream. Time and
//! randomness are the test's: a run is a function of its seed.
//!
//! [`scenarios`] holds hand-written cases; [`nemesis`] runs seeded random
//! workloads with faults and checks the ensemble's invariants throughout.

mod nemesis;
mod scenarios;

use super::*;
use crate::auth::AuthIds;
use crate::consensus::step::{Output, SnapshotOutcome};
use crate::consensus::wire::FRAME_RAFT;
use crate::ops::write::OpsConfig;
use crate::proto::{Acl, CreateRequest, ErrorCode, OpCode, Response};
use crate::proto::{ConnectRequest, Request};
use crate::tree::watches::{WatchRegistration, WatchTable};
use crate::wal::LogEvent;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use std::collections::{HashMap, HashSet, VecDeque};

/// A scratch directory for one member's snapshots, removed on drop. On
/// tmpfs where there is one: snapshots are fsynced, and the simulation
/// writes thousands.
pub(super) struct SnapDir(pub std::path::PathBuf);

impl SnapDir {
    fn new(id: u64) -> SnapDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = std::path::Path::new("/dev/shm");
        let base = if base.is_dir() {
            base.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("roost-sim-{}-{n}-{id}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        SnapDir(dir)
    }
}

impl Drop for SnapDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One member's log on its "disk": what it persisted, as the log core
/// would keep it (truncation, resets, the newest hard state).
#[derive(Default)]
pub(super) struct SimDisk {
    pub entries: Vec<Entry>,
    pub hard_state: HardState,
}

impl SimDisk {
    fn persist(&mut self, p: &PersistRequest) {
        if p.reset_to.is_some() {
            self.entries.clear();
        }
        if let Some(first) = p.entries.first() {
            self.entries.retain(|e| e.index < first.index);
            self.entries.extend(p.entries.iter().cloned());
        }
        if let Some(hs) = &p.hard_state {
            self.hard_state = hs.clone();
        }
    }
}

/// A model of one member's client shard: it processes the commit stream in
/// order, as `net::Shard` does, with a real watch table.
#[derive(Default)]
pub(super) struct ShardModel {
    /// The tree version it reads from (the last commit's).
    pub tree: Arc<DataTree>,
    pub watches: WatchTable,
    /// Connections closed by the core with CloseConnection.
    pub closed: HashSet<ConnId>,
    /// CloseAll messages seen: a connection opened before the latest one
    /// is closed.
    pub close_alls: u64,
    /// Every watch event delivered: (conn, path, event type).
    pub fired: Vec<(ConnId, String, crate::proto::EventType)>,
}

pub(super) fn core_config(id: u64, snap_count: u64) -> CoreConfig {
    CoreConfig {
        server_id: id as u8,
        tick_ms: 100,
        min_session_timeout_ms: 400,
        max_session_timeout_ms: 4000,
        ops: OpsConfig {
            extended_types_enabled: true,
            skip_acl: false,
            reconfig_enabled: false,
            digest_disabled: false,
        },
        container_check_interval_ms: 1000,
        container_max_per_minute: 10000,
        container_max_never_used_interval_ms: 0,
        snap_count,
        password_secret: [7; 32],
    }
}

/// A condition on the whole cluster (see [`Cluster::stop_when`]).
pub(super) type StopWhen = Box<dyn Fn(&Cluster) -> bool>;

/// A frame in flight: (from, to, kind, body).
type Frame = (MemberId, MemberId, u8, Vec<u8>);

pub(super) struct Cluster {
    pub members: Vec<Option<Member>>,
    pub net: VecDeque<Frame>,
    /// Inputs a member's own disk or snapshotter owes it (persist acks,
    /// finished snapshots), delivered by `pump`.
    local: VecDeque<(usize, Input)>,
    /// Shard messages each member produced, in order.
    pub delivered: Vec<Vec<ToShard>>,
    pub shards: Vec<ShardModel>,
    pub cut: HashSet<MemberId>,
    pub now: i64,
    pub snap_dirs: Vec<SnapDir>,
    /// Members that receive no raft appends (they lag): those frames wait
    /// in `held_appends` until `release_appends`.
    pub lagging: HashSet<MemberId>,
    pub held_appends: Vec<Frame>,
    /// How many more snapshots to damage in flight (one byte flipped in
    /// the middle of the file).
    pub damage_snapshots: usize,
    /// Per (member, conn, xid) whose read barrier passed, the tree the
    /// shard serves that read from.
    pub served: HashMap<(MemberId, ConnId, i32), Arc<DataTree>>,
    pub disks: Vec<SimDisk>,
    pub configs: Vec<EnsembleConfig>,
    /// Seeds members start (and restart) with.
    seed: u64,
    /// `pump` returns as soon as this holds (checked after every member's
    /// step and every frame), leaving the rest in flight: a crash at that
    /// exact moment.
    pub stop_when: Option<StopWhen>,
    /// Steps carried out (the nemesis crashes members at chosen ones).
    pub steps: u64,
    /// Links a cut broke: (from, to), reported to `from` once.
    broken: HashSet<(MemberId, MemberId)>,
}

impl Cluster {
    pub fn new(n: u64) -> Cluster {
        Cluster::with_snap_count(n, 0)
    }

    pub fn with_snap_count(n: u64, snap_count: u64) -> Cluster {
        Cluster::build(n, 0, snap_count, 1)
    }

    /// `n` voters (ids 1..=n) and `observers` learners (ids after them).
    pub fn build(n: u64, observers: u64, snap_count: u64, seed: u64) -> Cluster {
        Cluster::build_with(n, observers, snap_count, seed, false)
    }

    /// As [`Cluster::build`], every member with `lease_reads`
    /// (`roost.readConsistency=lease`) as given.
    pub fn build_with(
        n: u64,
        observers: u64,
        snap_count: u64,
        seed: u64,
        lease_reads: bool,
    ) -> Cluster {
        let voters: Vec<u64> = (1..=n).collect();
        let learners: Vec<u64> = (n + 1..=n + observers).collect();
        let all: Vec<u64> = (1..=n + observers).collect();
        let configs: Vec<EnsembleConfig> = all
            .iter()
            .map(|&id| {
                let servers = all
                    .iter()
                    .map(|v| {
                        let role = if learners.contains(v) {
                            ":observer"
                        } else {
                            ""
                        };
                        crate::config::ServerSpec::parse(
                            *v,
                            &format!("127.0.0.1:{}:{}{role}", 2000 + v, 3000 + v),
                        )
                        .unwrap()
                    })
                    .collect();
                EnsembleConfig {
                    core: core_config(id, snap_count),
                    my_id: id,
                    servers,
                    voters: voters.clone(),
                    learners: learners.clone(),
                    raft_tick_ms: 10,
                    election_ticks: 10,
                    heartbeat_ticks: 2,
                    leaderless_close_ms: 1000,
                    stall_tolerance_ms: 1000,
                    lease_reads,
                }
            })
            .collect();
        let total = all.len();
        let mut c = Cluster {
            members: (0..total).map(|_| None).collect(),
            net: VecDeque::new(),
            local: VecDeque::new(),
            delivered: (0..total).map(|_| Vec::new()).collect(),
            shards: (0..total).map(|_| ShardModel::default()).collect(),
            cut: HashSet::new(),
            now: 0,
            snap_dirs: (1..=total as u64).map(SnapDir::new).collect(),
            lagging: HashSet::new(),
            held_appends: Vec::new(),
            damage_snapshots: 0,
            served: HashMap::new(),
            disks: (0..total).map(|_| SimDisk::default()).collect(),
            configs,
            seed,
            stop_when: None,
            steps: 0,
            broken: HashSet::new(),
        };
        for id in 1..=total as u64 {
            c.start(id, DataTree::new(), RaftRecovered::default());
        }
        c
    }

    pub fn now(&self) -> Now {
        Now {
            mono_ms: self.now,
            wall_ms: self.now,
        }
    }

    pub fn m(&mut self, id: u64) -> &mut Member {
        self.members[id as usize - 1]
            .as_mut()
            .expect("member is up")
    }

    pub fn member(&self, id: u64) -> Option<&Member> {
        self.members[id as usize - 1].as_ref()
    }

    fn start(&mut self, id: u64, tree: DataTree, recovered: RaftRecovered) {
        let i = id as usize - 1;
        let seed = self.seed.wrapping_mul(1000).wrapping_add(id + self.steps);
        let mut member = Member::new(
            self.configs[i].clone(),
            tree,
            recovered,
            self.now(),
            seed,
            1,
        )
        .expect("the member starts");
        self.shards[i] = ShardModel {
            tree: member.published(),
            ..ShardModel::default()
        };
        let step = member.drive();
        self.members[i] = Some(member);
        self.carry_out(i, step);
    }

    /// Kills member `id`: its frames in flight, unacknowledged persists and
    /// unsent output are lost; its disk and snapshots stay.
    pub fn crash(&mut self, id: u64) {
        let i = id as usize - 1;
        self.members[i] = None;
        self.net.retain(|f| f.0 != id && f.1 != id);
        self.local.retain(|(j, _)| *j != i);
    }

    /// Crashes member `id` and starts it again from its disk: the newest
    /// snapshot plus the log after it, as the runtime does at start-up.
    pub fn restart(&mut self, id: u64) {
        self.crash(id);
        let i = id as usize - 1;
        let loaded = crate::snapshot::load_newest(&self.snap_dirs[i].0).expect("load snapshot");
        let disk = &self.disks[i];
        let (tree, snapshot) = match loaded {
            None => (DataTree::new(), None),
            Some(l) => {
                let point = l.raft.clone().expect("a member's snapshot");
                let data = std::fs::read(&l.path).unwrap();
                (l.tree, Some((point, l.sessions, data)))
            }
        };
        let recovered =
            RaftRecovered::assemble(disk.entries.clone(), disk.hard_state.clone(), snapshot);
        self.start(id, tree, recovered);
        self.pump();
    }

    /// Feeds one input to member `id` and carries out the step.
    pub fn input(&mut self, id: u64, input: Input) {
        let i = id as usize - 1;
        let now = self.now();
        let Some(m) = self.members[i].as_mut() else {
            return;
        };
        m.input(input, now);
        let step = m.drive();
        self.carry_out(i, step);
    }

    pub fn shard_input(&mut self, id: u64, msg: ToConsensus) {
        self.input(id, Input::Shard(msg));
    }

    /// What the runtime would do with a step, synchronously: persists go to
    /// the disk (acknowledged through `local`), frames to the network,
    /// snapshots are written, shard messages go to the shard model.
    fn carry_out(&mut self, i: usize, step: Step) {
        self.steps += 1;
        let id = i as u64 + 1;
        assert!(step.log_records.is_empty(), "members persist, not append");
        for p in step.persists {
            if let Some((zxid, bytes)) = &p.snapshot_file {
                crate::snapshot::write_received(&self.snap_dirs[i].0, *zxid, bytes)
                    .expect("received snapshot written");
            }
            self.disks[i].persist(&p);
            self.local
                .push_back((i, Input::Log(LogEvent::Persisted(p.token))));
        }
        for (to, kind, body) in step.peer_frames {
            self.net.push_back((id, to, kind, body));
        }
        if let Some(req) = step.snapshot {
            let sessions: Vec<SessionRecord> = req
                .sessions
                .iter()
                .map(|&(id, timeout_ms)| SessionRecord { id, timeout_ms })
                .collect();
            let meta = crate::snapshot::write_with_raft(
                &self.snap_dirs[i].0,
                &req.tree,
                &sessions,
                req.raft.as_ref(),
            )
            .expect("snapshot written");
            crate::snapshot::purge(&self.snap_dirs[i].0, 3).expect("purge");
            let bytes = std::fs::read(&meta.path).unwrap();
            let point = meta.raft.expect("a member's snapshot has a raft point");
            let index = point.index;
            let outcome = SnapshotOutcome {
                written: Some((point, bytes)),
                oldest_retained_raft_index: Some(index),
                ..SnapshotOutcome::default()
            };
            self.local.push_back((i, Input::SnapshotWritten(outcome)));
        }
        for out in step.to_shards {
            let msg = match out {
                Output::To(_, msg) | Output::Broadcast(msg) => msg,
            };
            self.shard_receives(i, &msg);
            self.delivered[i].push(msg);
        }
    }

    /// The shard model processes one message of its commit stream.
    fn shard_receives(&mut self, i: usize, msg: &ToShard) {
        let id = i as u64 + 1;
        let shard = &mut self.shards[i];
        match msg {
            ToShard::Commit(c) => {
                let mut fired = Vec::new();
                for ev in &c.events {
                    shard.watches.trigger(ev, |conn, _| {
                        fired.push((conn, ev.path.to_string(), ev.event_type))
                    });
                }
                shard.fired.extend(fired);
                shard.tree = c.tree.clone();
            }
            ToShard::ReadBarrier { conn, xid } => {
                let first = self.served.insert((id, *conn, *xid), shard.tree.clone());
                assert!(first.is_none(), "barrier {conn}/{xid} passed twice");
            }
            ToShard::CloseConnection { conn } => {
                shard.closed.insert(*conn);
                shard.watches.remove_connection(*conn);
            }
            ToShard::CloseAll => {
                shard.watches = WatchTable::new();
                shard.close_alls += 1;
            }
            _ => {}
        }
    }

    /// A client on member `id`'s connection `conn` reads `path` with a data
    /// watch, served by the shard model from its tree.
    pub fn watch(&mut self, id: u64, conn: ConnId, path: &str) -> bool {
        let shard = &mut self.shards[id as usize - 1];
        let exists = shard.tree.get(path).is_some();
        let reg = if exists {
            WatchRegistration::Data(path.to_string())
        } else {
            WatchRegistration::Exist(path.to_string())
        };
        shard.watches.add(conn, &reg);
        exists
    }

    /// Delivers everything in flight until the ensemble is quiet (or
    /// `stop_when` holds).
    pub fn pump(&mut self) {
        for _ in 0..100_000 {
            if let Some((i, input)) = self.local.pop_front() {
                self.input(i as u64 + 1, input);
            } else if let Some(frame) = self.net.pop_front() {
                self.deliver(frame);
            } else {
                return;
            }
            if self.stop_when.as_ref().is_some_and(|stop| stop(self)) {
                return;
            }
        }
        panic!("the ensemble did not quiesce");
    }

    fn deliver(&mut self, (from, to, kind, body): Frame) {
        if self.cut.contains(&from) || self.cut.contains(&to) {
            // A frame lost to a cut breaks its connection, as TCP's would
            // once the link is down long enough: the sender's transport
            // reports the peer gone (once per break).
            if self.broken.insert((from, to)) {
                self.input(from, Input::PeerDisconnected(to));
            }
            return;
        }
        if self.broken.remove(&(from, to)) {
            // This frame goes over a new connection.
            self.input(from, Input::PeerConnected(to));
        }
        let body = if self.damage_snapshots > 0 && kind == FRAME_RAFT {
            let mut msg = Message::parse_from_bytes(&body).unwrap();
            if msg.get_msg_type() == MessageType::MsgSnapshot {
                self.damage_snapshots -= 1;
                let mut data = msg.get_snapshot().data.to_vec();
                let middle = data.len() / 2;
                data[middle] ^= 0x40;
                msg.mut_snapshot().data = data.into();
                msg.write_to_bytes().unwrap()
            } else {
                body
            }
        } else {
            body
        };
        if self.lagging.contains(&to) && kind == FRAME_RAFT {
            let msg = Message::parse_from_bytes(&body).unwrap();
            if msg.get_msg_type() == MessageType::MsgAppend {
                self.held_appends.push((from, to, kind, body));
                return;
            }
        }
        self.input(to, Input::PeerFrame { from, kind, body });
    }

    pub fn tick(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.now += 10;
            for id in 1..=self.members.len() as u64 {
                self.input(
                    id,
                    Input::Tick {
                        lag_us: 0,
                        longest_step_us: 0,
                    },
                );
            }
            self.pump();
        }
    }

    /// The ready leader of the newest term among members that are not cut
    /// off. (A deposed leader may not know it yet; two ready leaders of one
    /// term would be a bug.)
    pub fn leader(&self) -> Option<u64> {
        let mut leaders: Vec<(u64, u64)> = self
            .members
            .iter()
            .flatten()
            .filter(|m| m.leader_ready() && !self.cut.contains(&m.my_id()))
            .map(|m| (m.term(), m.my_id()))
            .collect();
        leaders.sort_unstable();
        for pair in leaders.windows(2) {
            assert_ne!(
                pair[0].0, pair[1].0,
                "two ready leaders in one term: {leaders:?}"
            );
        }
        leaders.last().map(|&(_, id)| id)
    }

    pub fn elect(&mut self) -> u64 {
        for _ in 0..200 {
            self.tick(1);
            if let Some(l) = self.leader() {
                return l;
            }
        }
        panic!("no leader elected in 2 s of ticks");
    }

    /// Starts a connect on member `id` without waiting for its reply.
    pub fn start_connect(&mut self, id: u64, conn: ConnId, session_id: SessionId) {
        let passwd = if session_id == 0 {
            vec![0; 16]
        } else {
            self.m(id).password_for(session_id).to_vec()
        };
        let request = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id,
            passwd,
            read_only: Some(false),
        };
        self.shard_input(
            id,
            ToConsensus::Connect {
                shard: 0,
                conn,
                request,
            },
        );
    }

    /// A new session through member `id`'s connection `conn`.
    pub fn connect(&mut self, id: u64, conn: ConnId) -> SessionId {
        self.start_connect(id, conn, 0);
        self.pump();
        self.tick(2);
        for msg in self.delivered[id as usize - 1]
            .drain(..)
            .collect::<Vec<_>>()
        {
            if let ToShard::Commit(c) = &msg {
                if let Some((_, c_conn, resp)) = &c.connected {
                    if *c_conn == conn {
                        assert_eq!(resp.timeout_ms, 4000);
                        return resp.session_id;
                    }
                }
            }
        }
        panic!("no connect reply on member {id}");
    }

    /// Re-attaches `session` on member `id`'s connection `conn`.
    pub fn reattach(&mut self, id: u64, conn: ConnId, session: SessionId) {
        self.start_connect(id, conn, session);
        self.pump();
        self.tick(2);
    }

    /// Sends a create through member `id` without waiting for the reply.
    pub fn start_create(
        &mut self,
        id: u64,
        conn: ConnId,
        session: SessionId,
        path: &str,
        xid: i32,
    ) {
        let origin = Origin {
            shard: 0,
            conn,
            xid,
            opcode: OpCode::Create,
        };
        let request = create_request(path);
        self.shard_input(
            id,
            ToConsensus::Write {
                origin,
                session_id: session,
                auth: AuthIds::default(),
                request,
            },
        );
    }

    /// Sends a create through member `id` and returns its result as seen there.
    pub fn create(
        &mut self,
        id: u64,
        conn: ConnId,
        session: SessionId,
        path: &str,
        xid: i32,
    ) -> Result<Response, ErrorCode> {
        self.start_create(id, conn, session, path, xid);
        self.pump();
        self.tick(2);
        self.reply_for(id, conn, xid).expect("a reply")
    }

    pub fn reply_for(
        &mut self,
        id: u64,
        conn: ConnId,
        xid: i32,
    ) -> Option<Result<Response, ErrorCode>> {
        let msgs: Vec<ToShard> = self.delivered[id as usize - 1].drain(..).collect();
        let mut found = None;
        for msg in msgs {
            match &msg {
                ToShard::Commit(c) => {
                    if let Some(comp) = &c.completion {
                        if comp.origin.conn == conn && comp.origin.xid == xid {
                            found = Some(comp.result.clone());
                        }
                    }
                }
                ToShard::Complete { completion, .. }
                    if completion.origin.conn == conn && completion.origin.xid == xid =>
                {
                    found = Some(completion.result.clone());
                }
                _ => {}
            }
        }
        found
    }

    /// Elects a leader, fails its log, and waits (up to 1 s of ticks) for
    /// leadership to move elsewhere. Returns (old leader, new leader).
    pub fn fail_the_leaders_log(&mut self) -> (u64, u64) {
        let old = self.elect();
        self.input(
            old,
            Input::Log(LogEvent::Failed("transaction log failed: disk full".into())),
        );
        self.pump();
        for _ in 0..100 {
            self.tick(1);
            match self.leader() {
                Some(new) if new != old => return (old, new),
                _ => {}
            }
        }
        panic!("leadership must move off the member with a failed log");
    }

    /// Lets a lagging member receive appends again (the held ones first).
    pub fn release_appends(&mut self, id: MemberId) {
        self.lagging.remove(&id);
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held_appends)
            .into_iter()
            .partition(|f| f.1 == id);
        self.held_appends = others;
        self.net.extend(mine);
        self.pump();
    }

    /// A read (or sync) barrier asked on member `id` for `conn`/`xid`.
    pub fn read_barrier(&mut self, id: MemberId, conn: ConnId, xid: i32) {
        let origin = Origin {
            shard: 0,
            conn,
            xid,
            opcode: OpCode::GetData,
        };
        self.shard_input(id, ToConsensus::ReadBarrier { origin });
        self.pump();
    }

    pub fn tree_of(&self, id: u64) -> Arc<DataTree> {
        self.member(id).expect("member is up").published()
    }
}

/// A plain persistent create of `path` with data "v".
pub(super) fn create_request(path: &str) -> Request {
    Request::Create {
        opcode: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(b"v".to_vec()),
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: -1,
        },
    }
}
