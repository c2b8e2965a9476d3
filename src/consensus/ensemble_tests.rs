//! A whole ensemble in one thread: members exchange frames through an
//! in-memory network the test controls (drop a member, cut links), and the
//! "disk" acknowledges every persist at once. Deterministic per seed.

use super::*;
use crate::ops::write::OpsConfig;
use crate::proto::{Acl, CreateRequest, OpCode};
use std::collections::HashSet;

fn core_config_with_snap_count(snap_count: u64) -> CoreConfig {
    CoreConfig {
        snap_count,
        ..core_config()
    }
}

/// A scratch directory for one member's snapshots, removed on drop.
struct SnapDir(std::path::PathBuf);

impl SnapDir {
    fn new(id: u64) -> SnapDir {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "roost-ensemble-snap-{}-{n}-{id}",
            std::process::id()
        ));
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
/// would keep it (truncation, resets, the newest hard state). A restart
/// rebuilds the member from this and its newest snapshot.
#[derive(Default)]
struct SimDisk {
    entries: Vec<Entry>,
    hard_state: HardState,
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

fn core_config() -> CoreConfig {
    CoreConfig {
        server_id: 0,
        tick_ms: 100,
        min_session_timeout_ms: 400,
        max_session_timeout_ms: 4000,
        ops: OpsConfig {
            extended_types_enabled: true,
            skip_acl: false,
            reconfig_enabled: false,
        },
        container_check_interval_ms: 1000,
        container_max_per_minute: 10000,
        container_max_never_used_interval_ms: 0,
        snap_count: 0,
    }
}

struct Cluster {
    members: Vec<Option<Member>>,
    /// Frames in flight: (from, to, kind, body).
    net: VecDeque<(MemberId, MemberId, u8, Vec<u8>)>,
    /// Shard messages each member produced, in order.
    delivered: Vec<Vec<ToShard>>,
    cut: HashSet<MemberId>,
    now: i64,
    /// Per member: where its snapshots are written (the snapshotter's job,
    /// done synchronously here).
    snap_dirs: Vec<SnapDir>,
    /// Members that receive no raft appends (they lag): those frames wait
    /// in `held_appends` until `release_appends`.
    lagging: HashSet<MemberId>,
    held_appends: Vec<(MemberId, MemberId, u8, Vec<u8>)>,
    /// How many more snapshots to damage in flight (one byte flipped in
    /// the middle of the file).
    damage_snapshots: usize,
    /// Per member, a model of its shard processing the FIFO in order: the
    /// tree it reads from (the last commit's)...
    shard_tree: Vec<Arc<DataTree>>,
    /// ...and, per (member, conn, xid) whose read barrier passed, the tree
    /// the shard serves that read from.
    served: HashMap<(MemberId, ConnId, i32), Arc<DataTree>>,
    /// Per member: its persisted log and hard state.
    disks: Vec<SimDisk>,
    /// Per member: its configuration (for restarts).
    configs: Vec<EnsembleConfig>,
    /// `pump` returns as soon as this holds (checked after every member's
    /// outputs and every frame), leaving the rest in flight: a crash at
    /// that exact moment.
    stop_when: Option<fn(&Cluster) -> bool>,
}

impl Cluster {
    fn new(n: u64) -> Cluster {
        Cluster::with_snap_count(n, 0)
    }

    fn with_snap_count(n: u64, snap_count: u64) -> Cluster {
        Cluster::build(n, 0, snap_count)
    }

    /// `n` voters (ids 1..=n) and `observers` learners (ids after them).
    fn build(n: u64, observers: u64, snap_count: u64) -> Cluster {
        let voters: Vec<u64> = (1..=n).collect();
        let learners: Vec<u64> = (n + 1..=n + observers).collect();
        let all: Vec<u64> = (1..=n + observers).collect();
        let n = n + observers;
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
                    core: core_config_with_snap_count(snap_count),
                    my_id: id,
                    servers,
                    voters: voters.clone(),
                    learners: learners.clone(),
                    raft_tick_ms: 10,
                    election_ticks: 10,
                    heartbeat_ticks: 2,
                    leaderless_close_ms: 1000,
                }
            })
            .collect();
        let members = configs
            .iter()
            .map(|cfg| {
                Some(
                    Member::new(
                        cfg.clone(),
                        DataTree::new(),
                        RaftRecovered::default(),
                        0,
                        [7; 32],
                        1,
                    )
                    .unwrap(),
                )
            })
            .collect();
        Cluster {
            members,
            net: VecDeque::new(),
            delivered: (0..n).map(|_| Vec::new()).collect(),
            cut: HashSet::new(),
            now: 0,
            snap_dirs: (1..=n).map(SnapDir::new).collect(),
            lagging: HashSet::new(),
            held_appends: Vec::new(),
            damage_snapshots: 0,
            shard_tree: (0..n).map(|_| Arc::new(DataTree::new())).collect(),
            served: HashMap::new(),
            disks: (0..n).map(|_| SimDisk::default()).collect(),
            configs,
            stop_when: None,
        }
    }

    fn m(&mut self, id: u64) -> &mut Member {
        self.members[id as usize - 1]
            .as_mut()
            .expect("member is up")
    }

    /// Stops member `id` (its unsent frames and shard messages are lost)
    /// and starts it again from its disk: the newest snapshot plus the log
    /// after it, as the runtime does at start-up.
    fn restart(&mut self, id: u64) {
        let i = id as usize - 1;
        self.members[i] = None;
        self.net.retain(|f| f.0 != id && f.1 != id);
        let loaded = crate::snapshot::load_newest(&self.snap_dirs[i].0).expect("load snapshot");
        let disk = &self.disks[i];
        let (tree, recovered) = match loaded {
            None => (
                DataTree::new(),
                RaftRecovered {
                    entries: disk.entries.clone(),
                    hard_state: disk.hard_state.clone(),
                    snapshot: None,
                },
            ),
            Some(loaded) => {
                let point = loaded.raft.clone().expect("a member's snapshot");
                let last = disk.entries.last().map_or(0, |e| e.index);
                let data = std::fs::read(&loaded.path).unwrap();
                (
                    loaded.tree,
                    RaftRecovered {
                        entries: disk
                            .entries
                            .iter()
                            .filter(|e| e.index > point.index)
                            .cloned()
                            .collect(),
                        hard_state: disk.hard_state.clone(),
                        snapshot: Some(RecoveredSnapshot {
                            reset_log: last < point.index,
                            point,
                            sessions: loaded.sessions,
                            data,
                        }),
                    },
                )
            }
        };
        let now = self.now;
        let member = Member::new(self.configs[i].clone(), tree, recovered, now, [7; 32], 1)
            .expect("the member restarts");
        self.shard_tree[i] = member.initial_tree();
        self.members[i] = Some(member);
        self.m(id).drive(now);
        self.pump();
    }

    /// Drains outputs of every member: persists are acknowledged at once,
    /// frames go to the network, shard messages are recorded.
    fn pump(&mut self) {
        for _ in 0..1000 {
            let mut progressed = false;
            for i in 0..self.members.len() {
                let id = i as u64 + 1;
                let Some(m) = self.members[i].as_mut() else {
                    continue;
                };
                for p in m.take_persists() {
                    if let Some((zxid, bytes)) = &p.snapshot_file {
                        crate::snapshot::write_received(&self.snap_dirs[i].0, *zxid, bytes)
                            .expect("received snapshot written");
                    }
                    self.disks[i].persist(&p);
                    m.persisted(p.token, self.now);
                    progressed = true;
                }
                for (to, kind, body) in m.take_peer_frames() {
                    self.net.push_back((id, to, kind, body));
                    progressed = true;
                }
                for out in m.take_outputs() {
                    progressed = true;
                    match out {
                        Output::To(_, msg) | Output::Broadcast(msg) => {
                            match &msg {
                                ToShard::Commit(c) => self.shard_tree[i] = c.tree.clone(),
                                ToShard::ReadBarrier { conn, xid } => {
                                    let tree = self.shard_tree[i].clone();
                                    let first = self.served.insert((id, *conn, *xid), tree);
                                    assert!(first.is_none(), "barrier {conn}/{xid} passed twice");
                                }
                                _ => {}
                            }
                            self.delivered[i].push(msg)
                        }
                        Output::Snapshot {
                            tree,
                            sessions,
                            raft,
                        } => {
                            let sessions: Vec<SessionRecord> = sessions
                                .iter()
                                .map(|&(id, timeout_ms)| SessionRecord { id, timeout_ms })
                                .collect();
                            let meta = crate::snapshot::write_with_raft(
                                &self.snap_dirs[i].0,
                                &tree,
                                &sessions,
                                raft.as_ref(),
                            )
                            .expect("snapshot written");
                            let bytes = std::fs::read(&meta.path).unwrap();
                            let point = meta.raft.expect("a member's snapshot has a raft point");
                            let index = point.index;
                            m.snapshot_written(Some((point, bytes)), Some(index));
                        }
                    }
                }
                if self.stop_when.is_some_and(|stop| stop(self)) {
                    return;
                }
            }
            while let Some((from, to, kind, body)) = self.net.pop_front() {
                progressed = true;
                if self.cut.contains(&from) || self.cut.contains(&to) {
                    continue;
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
                        continue;
                    }
                }
                let now = self.now;
                if let Some(m) = self.members[to as usize - 1].as_mut() {
                    m.peer_frame(from, kind, &body, now, now);
                    m.drive(now);
                }
                if self.stop_when.is_some_and(|stop| stop(self)) {
                    return;
                }
            }
            if !progressed {
                return;
            }
        }
        panic!("the cluster did not quiesce");
    }

    fn tick(&mut self, ticks: usize) {
        for _ in 0..ticks {
            self.now += 10;
            let now = self.now;
            for m in self.members.iter_mut().flatten() {
                m.tick(now, now);
                m.drive(now);
            }
            self.pump();
        }
    }

    fn leader(&self) -> Option<u64> {
        let leaders: Vec<u64> = self
            .members
            .iter()
            .flatten()
            .filter(|m| m.is_leader() && m.leader_ready() && !self.cut.contains(&m.my_id()))
            .map(|m| m.my_id())
            .collect();
        assert!(leaders.len() <= 1, "two ready leaders: {leaders:?}");
        leaders.first().copied()
    }

    fn elect(&mut self) -> u64 {
        for _ in 0..200 {
            self.tick(1);
            if let Some(l) = self.leader() {
                return l;
            }
        }
        panic!("no leader elected in 2 s of ticks");
    }

    fn connect(&mut self, id: u64, conn: ConnId) -> SessionId {
        let req = ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        };
        let now = self.now;
        self.m(id).connect(0, conn, req, now, now);
        self.m(id).drive(now);
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

    /// Sends a create through member `id` and returns its result as seen there.
    fn create(
        &mut self,
        id: u64,
        conn: ConnId,
        session: SessionId,
        path: &str,
        xid: i32,
    ) -> Result<Response, ErrorCode> {
        let origin = Origin {
            shard: 0,
            conn,
            xid,
            opcode: OpCode::Create,
        };
        let request = Request::Create {
            opcode: OpCode::Create,
            req: CreateRequest {
                path: path.into(),
                data: Some(b"v".to_vec()),
                acl: Some(Acl::open_unsafe()),
                flags: 0,
                ttl: -1,
            },
        };
        let now = self.now;
        self.m(id)
            .write(origin, session, AuthIds::default(), request, now, now);
        self.m(id).drive(now);
        self.pump();
        self.tick(2);
        self.reply_for(id, conn, xid).expect("a reply")
    }

    fn reply_for(
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
    fn fail_the_leaders_log(&mut self) -> (u64, u64) {
        let old = self.elect();
        self.m(old)
            .log_failed("transaction log failed: disk full".into());
        let now = self.now;
        self.m(old).drive(now);
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
    fn release_appends(&mut self, id: MemberId) {
        self.lagging.remove(&id);
        let (mine, others): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held_appends)
            .into_iter()
            .partition(|f| f.1 == id);
        self.held_appends = others;
        self.net.extend(mine);
        self.pump();
    }

    /// A read (or sync) barrier asked on member `id` for `conn`/`xid`.
    fn read_barrier(&mut self, id: MemberId, conn: ConnId, xid: i32) {
        let origin = Origin {
            shard: 0,
            conn,
            xid,
            opcode: OpCode::GetData,
        };
        let now = self.now;
        self.m(id).read_barrier(origin);
        self.m(id).drive(now);
        self.pump();
    }

    fn tree_of(&self, id: u64) -> Arc<DataTree> {
        self.members[id as usize - 1]
            .as_ref()
            .unwrap()
            .published
            .clone()
    }
}

#[test]
fn a_write_through_a_follower_commits_everywhere_and_is_answered_there() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let session = c.connect(follower, 11);
    assert_eq!(
        session >> 56,
        leader as i64,
        "the leader allocates session ids"
    );
    let r = c.create(follower, 11, session, "/a", 1);
    assert!(
        matches!(r, Ok(Response::Create { ref path }) if path == "/a"),
        "{r:?}"
    );
    c.tick(5);
    for id in 1..=3 {
        assert!(c.tree_of(id).get("/a").is_some(), "member {id} lacks /a");
    }
    // A failing write is answered by the member too, after the earlier one.
    let r = c.create(follower, 11, session, "/a", 2);
    assert_eq!(r, Err(ErrorCode::NodeExists));
    let zxids: Vec<Zxid> = (1..=3).map(|id| c.tree_of(id).last_zxid).collect();
    assert!(zxids.iter().all(|z| *z == zxids[0]), "{zxids:?}");
}

#[test]
fn survivors_of_a_dead_leader_campaign_in_distinct_turns_that_rotate() {
    let voters = [1, 2, 3, 4, 5];
    for term in 0..10 {
        let mut turns: Vec<usize> = [1, 2, 4, 5]
            .iter()
            .map(|&me| campaign_turn(&voters, 3, me, term))
            .collect();
        turns.sort_unstable();
        assert_eq!(turns, vec![0, 1, 2, 3], "term {term}");
    }
    let firsts: HashSet<u64> = (0..4)
        .map(|term| {
            *[1, 2, 4, 5]
                .iter()
                .find(|&&me| campaign_turn(&voters, 3, me, term) == 0)
                .unwrap()
        })
        .collect();
    assert_eq!(firsts.len(), 4, "the first turn moves with the term");
    // A learner is never first.
    assert_eq!(campaign_turn(&[1, 2, 3], 1, 9, 7), 2);
}

#[test]
fn killing_the_leader_elects_another_and_keeps_sessions_and_data() {
    let mut c = Cluster::new(3);
    let old = c.elect();
    let follower = (1..=3).find(|&i| i != old).unwrap();
    let session = c.connect(follower, 11);
    c.create(follower, 11, session, "/before", 1).unwrap();
    // The leader dies: its frames vanish; survivors notice the dead link.
    c.members[old as usize - 1] = None;
    for id in (1..=3).filter(|&i| i != old) {
        c.m(id).peer_disconnected(old);
    }
    let t0 = c.now;
    let new = c.elect();
    assert_ne!(new, old);
    assert!(
        c.now - t0 <= 400,
        "election took {} ms of ticks",
        c.now - t0
    );
    // The session survived the failover and can write through the same member.
    let r = c.create(follower, 11, session, "/after", 2);
    assert!(r.is_ok(), "{r:?}");
    assert!(c.tree_of(new).get("/before").is_some());
    // Nobody expires for a while after failover (fresh deadlines).
    c.tick(150);
    let r = c.create(follower, 11, session, "/later", 3);
    assert!(r.is_ok(), "session must survive failover: {r:?}");
}

#[test]
fn sync_on_a_follower_answers_after_applying_the_leaders_commit() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let follower = (1..=3).find(|&i| i != leader).unwrap();
    let session = c.connect(follower, 11);
    c.create(follower, 11, session, "/s", 1).unwrap();
    c.read_barrier(follower, 11, 9);
    c.tick(2);
    let served = c.served.get(&(follower, 11, 9)).expect("sync answered");
    assert!(served.get("/s").is_some());
}

/// Members other than `a` and `b`.
fn other(a: u64, b: u64) -> u64 {
    (1..=3).find(|&i| i != a && i != b).unwrap()
}

/// Leader, a follower clients write through, and a follower that will lag.
fn writer_and_lagging(c: &mut Cluster) -> (u64, u64, u64) {
    let leader = c.elect();
    let writer = (1..=3).find(|&i| i != leader).unwrap();
    (leader, writer, other(leader, writer))
}

#[test]
fn a_linearizable_read_on_a_lagging_follower_waits_for_the_write_acknowledged_before_it() {
    let mut c = Cluster::new(3);
    let (_, writer, lagging) = writer_and_lagging(&mut c);
    let session = c.connect(writer, 11);
    c.tick(5);
    c.lagging.insert(lagging);
    // Acknowledged on the writer's member: the leader and the writer hold
    // a quorum; the lagging member has not even received the entry.
    c.create(writer, 11, session, "/x", 1).unwrap();
    assert!(c.tree_of(writer).get("/x").is_some());
    // Sequential (ZooKeeper's default): the read is served at once from
    // the lagging member's shard, and it is stale.
    assert!(
        c.shard_tree[lagging as usize - 1].get("/x").is_none(),
        "the follower was meant to lag"
    );
    // Linearizable: the read waits for a ReadIndex round...
    c.read_barrier(lagging, 21, 1);
    c.tick(30);
    assert!(
        !c.served.contains_key(&(lagging, 21, 1)),
        "served before the member applied the acknowledged write"
    );
    assert!(
        c.m(lagging).ensemble_report().read_rounds >= 1,
        "the round was asked"
    );
    // ...and is served once the member has applied what the leader had
    // committed, from a shard state that holds it.
    c.release_appends(lagging);
    c.tick(5);
    let served = c
        .served
        .get(&(lagging, 21, 1))
        .expect("served after catch-up");
    assert!(served.get("/x").is_some(), "a linearizable read was stale");
}

#[test]
fn concurrent_reads_share_one_read_index_round() {
    let mut c = Cluster::new(3);
    let (_, writer, reader) = writer_and_lagging(&mut c);
    let session = c.connect(writer, 11);
    c.create(writer, 11, session, "/b", 1).unwrap();
    let rounds_before = c.m(reader).ensemble_report().read_rounds;
    // The first read starts a round; the 99 that arrive while it is in
    // flight wait for the next one, which they all share.
    let now = c.now;
    for xid in 0..100 {
        let origin = Origin {
            shard: 0,
            conn: 30 + (xid as u64 % 7),
            xid,
            opcode: OpCode::GetData,
        };
        c.m(reader).read_barrier(origin);
    }
    c.m(reader).drive(now);
    c.pump();
    c.tick(3);
    for xid in 0..100 {
        let tree = c
            .served
            .get(&(reader, 30 + (xid as u64 % 7), xid))
            .expect("every read served");
        assert!(tree.get("/b").is_some());
    }
    let report = c.m(reader).ensemble_report();
    assert_eq!(report.read_rounds - rounds_before, 2, "one round per batch");
    assert!(report.read_barriers >= 100);
}

#[test]
fn reads_waiting_at_a_leader_change_are_served_fresh_by_the_new_leaders_round() {
    let mut c = Cluster::new(3);
    let (old, writer, lagging) = writer_and_lagging(&mut c);
    let session = c.connect(writer, 11);
    c.tick(5);
    c.lagging.insert(lagging);
    c.create(writer, 11, session, "/x", 1).unwrap();
    c.read_barrier(lagging, 21, 1);
    c.tick(3);
    assert!(!c.served.contains_key(&(lagging, 21, 1)));
    // The leader dies with the read waiting; the writer's member (which has
    // the entry) is elected, and the lagging member catches up from it.
    c.members[old as usize - 1] = None;
    for id in [writer, lagging] {
        c.m(id).peer_disconnected(old);
    }
    c.held_appends.clear();
    // The new leader cannot commit its term's first entry while the only
    // other member lags, so it cannot answer ReadIndex yet either.
    for _ in 0..300 {
        c.tick(1);
        if c.m(writer).is_leader() {
            break;
        }
    }
    assert!(
        c.m(writer).is_leader(),
        "only the up-to-date member can win"
    );
    c.tick(20);
    assert!(!c.served.contains_key(&(lagging, 21, 1)));
    c.release_appends(lagging);
    c.tick(10);
    let served = c
        .served
        .get(&(lagging, 21, 1))
        .expect("served after the new leader's round");
    assert!(
        served.get("/x").is_some(),
        "stale read across the leader change"
    );
}

#[test]
fn a_write_after_a_waiting_read_on_the_same_connection_is_not_seen_by_it() {
    let mut c = Cluster::new(3);
    let (_, writer, lagging) = writer_and_lagging(&mut c);
    let s1 = c.connect(writer, 11);
    let s2 = c.connect(lagging, 21);
    c.tick(5);
    c.lagging.insert(lagging);
    c.create(writer, 11, s1, "/x", 1).unwrap();
    // Connection 21 pipelines a read and then a write of /y.
    c.read_barrier(lagging, 21, 1);
    let origin = Origin {
        shard: 0,
        conn: 21,
        xid: 2,
        opcode: OpCode::Create,
    };
    let request = Request::Create {
        opcode: OpCode::Create,
        req: CreateRequest {
            path: "/y".into(),
            data: None,
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: -1,
        },
    };
    let now = c.now;
    c.m(lagging)
        .write(origin, s2, AuthIds::default(), request, now, now);
    c.m(lagging).drive(now);
    c.pump();
    c.tick(5);
    assert!(
        c.tree_of(writer).get("/y").is_none(),
        "the write went ahead of the read before it"
    );
    c.release_appends(lagging);
    c.tick(10);
    let served = c.served.get(&(lagging, 21, 1)).expect("read served");
    assert!(served.get("/x").is_some());
    assert!(
        served.get("/y").is_none(),
        "the read saw its own later write"
    );
    // The write's reply follows the read's barrier on the FIFO.
    let msgs = &c.delivered[lagging as usize - 1];
    let barrier_at = msgs
        .iter()
        .position(|m| matches!(m, ToShard::ReadBarrier { conn: 21, xid: 1 }));
    let reply_at = msgs.iter().position(|m| match m {
        ToShard::Commit(commit) => commit
            .completion
            .as_ref()
            .is_some_and(|k| k.origin.conn == 21 && k.origin.xid == 2),
        _ => false,
    });
    assert!(
        barrier_at.is_some() && reply_at.is_some(),
        "{barrier_at:?} {reply_at:?}"
    );
    assert!(barrier_at < reply_at);
}

#[test]
fn a_linearizable_read_on_an_observer_waits_for_the_acknowledged_write() {
    let mut c = Cluster::build(3, 1, 0);
    let observer = 4;
    let leader = c.elect();
    assert_ne!(leader, observer);
    let writer = (1..=3).find(|&i| i != leader).unwrap();
    let session = c.connect(writer, 11);
    c.tick(5);
    c.lagging.insert(observer);
    c.create(writer, 11, session, "/o", 1).unwrap();
    // raft-rs forwards a learner's ReadIndex to the leader.
    c.read_barrier(observer, 41, 1);
    c.tick(10);
    assert!(!c.served.contains_key(&(observer, 41, 1)));
    c.release_appends(observer);
    c.tick(10);
    let served = c
        .served
        .get(&(observer, 41, 1))
        .expect("served on the observer");
    assert!(served.get("/o").is_some());
}

#[test]
fn a_minority_member_closes_its_clients_and_the_majority_goes_on() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let lonely = (1..=3).find(|&i| i != leader).unwrap();
    c.cut.insert(lonely);
    c.tick(150);
    let closed_all = c.delivered[lonely as usize - 1]
        .iter()
        .any(|m| matches!(m, ToShard::CloseAll));
    assert!(
        closed_all,
        "a member without a leader must close its clients"
    );
    let other = (1..=3).find(|&i| i != leader && i != lonely).unwrap();
    let session = c.connect(other, 5);
    assert!(c.create(other, 5, session, "/majority", 1).is_ok());
}

#[test]
fn a_leader_whose_log_fails_hands_leadership_over_and_writes_go_on() {
    let mut c = Cluster::new(3);
    let (old, new) = c.fail_the_leaders_log();
    let follower = (1..=3).find(|&i| i != new && i != old).unwrap();
    let session = c.connect(follower, 3);
    assert!(c
        .create(follower, 3, session, "/after-disk-full", 1)
        .is_ok());
}

#[test]
fn a_write_forwarded_to_a_former_leader_is_relayed_and_answered_at_its_origin() {
    let mut c = Cluster::new(3);
    // Leadership moves off `old`; `old` follows the new leader.
    let (old, new) = c.fail_the_leaders_log();
    c.tick(5);
    let origin_member = (1..=3).find(|&i| i != new && i != old).unwrap();
    let session = c.connect(origin_member, 21);
    // A write `origin_member` forwarded while `old` still led arrives at
    // `old` only now: `old` relays it to `new` (the frame reaches `new`
    // from `old`, not from the origin), and the origin's member answers.
    let forward = crate::consensus::wire::Forward::Write {
        origin: crate::consensus::wire::RemoteOrigin {
            member: origin_member,
            origin: Origin {
                shard: 0,
                conn: 21,
                xid: 5,
                opcode: OpCode::Create,
            },
        },
        session_id: session,
        auth: AuthIds::default(),
        request: Request::Create {
            opcode: OpCode::Create,
            req: CreateRequest {
                path: "/relayed".into(),
                data: Some(b"v".to_vec()),
                acl: Some(Acl::open_unsafe()),
                flags: 0,
                ttl: -1,
            },
        },
    };
    let body = crate::consensus::wire::encode_forward(&forward);
    let now = c.now;
    c.m(old).peer_frame(
        origin_member,
        crate::consensus::wire::FRAME_FORWARD,
        &body,
        now,
        now,
    );
    c.m(old).drive(now);
    c.pump();
    c.tick(3);
    let r = c.reply_for(origin_member, 21, 5);
    assert!(
        matches!(r, Some(Ok(Response::Create { ref path })) if path == "/relayed"),
        "{r:?}"
    );
    for id in 1..=3 {
        assert!(c.tree_of(id).get("/relayed").is_some(), "member {id}");
    }
}

#[test]
fn members_snapshot_and_compact_their_logs_every_snap_count_entries() {
    let mut c = Cluster::with_snap_count(3, 20);
    let leader = c.elect();
    let session = c.connect(leader, 1);
    for i in 0..60 {
        c.create(leader, 1, session, &format!("/n{i}"), i + 1)
            .unwrap();
    }
    c.tick(5);
    for id in 1..=3 {
        let m = c.m(id);
        let first = m.log_first_index();
        assert!(
            first > 20,
            "member {id}: log not compacted (first index {first})"
        );
        assert!(first <= m.applied_index + 1);
        let snaps = crate::snapshot::list(&c.snap_dirs[id as usize - 1].0).unwrap();
        assert!(!snaps.is_empty(), "member {id} wrote no snapshot");
        // The newest file holds the tree at its raft point.
        let loaded = crate::snapshot::load(&snaps.last().unwrap().1).unwrap();
        let point = loaded.raft.expect("version 2");
        assert!(point.index >= first - 1);
        assert_eq!(point.voters, vec![1, 2, 3]);
    }
    // Writes go on after compaction.
    c.create(leader, 1, session, "/after", 100).unwrap();
    c.tick(5);
    for id in 1..=3 {
        assert!(c.tree_of(id).get("/after").is_some());
    }
}

#[test]
fn a_damaged_snapshot_is_refused_and_the_next_one_installed() {
    let mut c = Cluster::with_snap_count(3, 20);
    let leader = c.elect();
    let session = c.connect(leader, 1);
    let lagging = (1..=3).find(|&i| i != leader).unwrap();
    c.tick(5);
    c.cut.insert(lagging);
    for i in 0..80 {
        c.create(leader, 1, session, &format!("/missed{i}"), i + 2)
            .unwrap();
    }
    c.tick(5);
    let before = c.tree_of(lagging);
    // The first snapshot sent arrives damaged: refused, nothing changes,
    // no panic; the leader sends another, which is installed.
    c.damage_snapshots = 1;
    c.cut.clear();
    c.tick(100);
    assert_eq!(c.damage_snapshots, 0, "no snapshot was sent");
    assert_eq!(c.m(lagging).snapshots_refused(), 1);
    assert_eq!(c.m(lagging).snapshots_installed(), 1);
    assert!(before.get("/missed79").is_none());
    assert_eq!(*c.tree_of(lagging), *c.tree_of(leader));
}

#[test]
fn a_member_that_missed_compacted_entries_is_sent_a_snapshot() {
    let mut c = Cluster::with_snap_count(3, 20);
    let leader = c.elect();
    let session = c.connect(leader, 1);
    c.create(leader, 1, session, "/early", 1).unwrap();
    let lagging = (1..=3).find(|&i| i != leader).unwrap();
    c.tick(5);
    let lagging_applied = c.m(lagging).applied_index;
    c.cut.insert(lagging);
    for i in 0..80 {
        c.create(leader, 1, session, &format!("/missed{i}"), i + 2)
            .unwrap();
    }
    c.tick(5);
    assert!(
        c.m(leader).log_first_index() > lagging_applied + 1,
        "the leader must have compacted what the lagging member lacks"
    );
    assert_eq!(c.m(lagging).snapshots_installed(), 0);
    c.cut.clear();
    c.tick(100);
    assert!(
        c.m(lagging).snapshots_installed() >= 1,
        "the lagging member was not sent a snapshot"
    );
    let (ours, theirs) = (c.tree_of(lagging), c.tree_of(leader));
    assert_eq!(ours.last_zxid, theirs.last_zxid);
    assert_eq!(
        *ours, *theirs,
        "the caught-up tree differs from the leader's"
    );
    assert!(ours.get("/missed79").is_some());
    assert_eq!(c.m(lagging).snapshots_refused(), 0);
    // The member keeps up after the snapshot: later writes reach it by log.
    c.create(leader, 1, session, "/later", 200).unwrap();
    c.tick(5);
    assert!(c.tree_of(lagging).get("/later").is_some());
    assert_eq!(c.m(lagging).applied_zxid(), c.m(leader).applied_zxid());
}

/// Connects on member `id` without waiting for the reply (`conn` is the
/// new connection).
fn start_connect(c: &mut Cluster, id: u64, conn: ConnId) {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 4000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let now = c.now;
    c.m(id).connect(0, conn, req, now, now);
}

/// Sends a create on member `id` without waiting for the reply.
fn start_create(c: &mut Cluster, id: u64, conn: ConnId, session: SessionId, path: &str, xid: i32) {
    let origin = Origin {
        shard: 0,
        conn,
        xid,
        opcode: OpCode::Create,
    };
    let request = Request::Create {
        opcode: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(b"v".to_vec()),
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: -1,
        },
    };
    let now = c.now;
    c.m(id)
        .write(origin, session, AuthIds::default(), request, now, now);
}

/// Sessions in member `i`'s newest snapshot whose CreateSession entry lies
/// after the snapshot's point in its log: a restart now would replay their
/// creation on top of the snapshot.
fn sessions_created_twice_on_restart(c: &Cluster, i: usize) -> Vec<SessionId> {
    let Ok(Some(loaded)) = crate::snapshot::load_newest(&c.snap_dirs[i].0) else {
        return Vec::new();
    };
    let point = loaded.raft.expect("a member's snapshot");
    let in_snapshot: HashSet<SessionId> = loaded.sessions.iter().map(|s| s.id).collect();
    c.disks[i]
        .entries
        .iter()
        .filter(|e| e.index > point.index && !e.data.is_empty())
        .filter_map(|e| decode_entry(&e.data).ok())
        .filter_map(|p| match p.txn {
            Txn::CreateSession { session_id, .. } if in_snapshot.contains(&session_id) => {
                Some(session_id)
            }
            _ => None,
        })
        .collect()
}

fn any_snapshot_ahead_of_its_log(c: &Cluster) -> bool {
    (0..c.members.len()).any(|i| !sessions_created_twice_on_restart(c, i).is_empty())
}

/// Issue 18, defect 1: the leader registered a session when it *proposed*
/// it, and a snapshot of the applied tree taken before that entry applied
/// held the session too. Replaying the entry after a restart from that
/// snapshot created the session twice: an abort on every start, which took
/// a real ensemble's quorum down for good. Here every member crashes at the
/// first moment any snapshot is ahead of its log (or at the end), restarts
/// from its disk, and all must come back and agree.
#[test]
fn members_restart_from_snapshots_taken_while_sessions_were_proposed() {
    // snapCount 1: every member snapshots after every apply step.
    let mut c = Cluster::with_snap_count(3, 1);
    let leader = c.elect();
    let session = c.connect(leader, 1);
    c.stop_when = Some(any_snapshot_ahead_of_its_log);
    let mut conn = 100;
    for round in 0..10 {
        // A write, then new sessions proposed behind it before anything is
        // delivered: the write commits (and is snapshotted) first.
        start_create(&mut c, leader, 1, session, &format!("/w{round}"), round + 1);
        let now = c.now;
        c.m(leader).drive(now);
        for _ in 0..3 {
            conn += 1;
            start_connect(&mut c, leader, conn);
            c.m(leader).drive(now);
        }
        c.pump();
        if any_snapshot_ahead_of_its_log(&c) {
            break;
        }
        c.tick(1);
    }
    let bad: Vec<(usize, Vec<SessionId>)> = (0..3)
        .map(|i| (i + 1, sessions_created_twice_on_restart(&c, i)))
        .filter(|(_, s)| !s.is_empty())
        .collect();
    c.stop_when = None;
    for id in 1..=3 {
        c.restart(id);
    }
    let leader = c.elect();
    c.tick(10);
    let expected = c.tree_of(leader);
    for id in 1..=3 {
        assert_eq!(*c.tree_of(id), *expected, "member {id} after its restart");
    }
    assert!(bad.is_empty(), "snapshots ahead of their logs: {bad:?}");
}

/// Issue 18, defect 2: a member that installs a snapshot jumps over
/// entries it never applied one by one: the watches they fired, the
/// replies of its own forwarded writes among them and the sessions they
/// closed. It must not leave its clients believing in a state they never
/// saw: its client connections are closed (they reconnect, re-register
/// their watches with their last zxid, and retry what was in doubt), as a
/// ZooKeeper follower does when it syncs by snapshot.
#[test]
fn a_member_installing_a_snapshot_closes_its_clients_connections() {
    let mut c = Cluster::with_snap_count(3, 20);
    let leader = c.elect();
    let session = c.connect(leader, 1);
    let lagging = (1..=3).find(|&i| i != leader).unwrap();
    let lagging_session = c.connect(lagging, 7);
    c.tick(5);
    // The lagging member receives no appends from here on, but its
    // forwarded write still reaches the leader and commits.
    c.lagging.insert(lagging);
    start_create(&mut c, lagging, 7, lagging_session, "/from-lagging", 1);
    let now = c.now;
    c.m(lagging).drive(now);
    c.pump();
    for i in 0..80 {
        c.create(leader, 1, session, &format!("/missed{i}"), i + 2)
            .unwrap();
    }
    c.tick(5);
    assert!(c.tree_of(leader).get("/from-lagging").is_some());
    c.delivered[lagging as usize - 1].clear();
    // The appends it missed are lost, not late: it must catch up from the
    // leader, whose log no longer holds them.
    c.held_appends.retain(|f| f.1 != lagging);
    c.lagging.remove(&lagging);
    c.tick(50);
    assert!(
        c.m(lagging).snapshots_installed() >= 1,
        "a snapshot was installed"
    );
    let delivered = &c.delivered[lagging as usize - 1];
    let answered = delivered.iter().any(|m| match m {
        ToShard::Commit(commit) => commit
            .completion
            .as_ref()
            .is_some_and(|x| x.origin.conn == 7 && x.origin.xid == 1),
        ToShard::CloseConnection { conn: 7 } | ToShard::CloseAll => true,
        _ => false,
    });
    assert!(
        answered,
        "the forwarded write is neither answered nor its connection closed"
    );
    // The first state the shard hears of is the installed one: it already
    // holds the lagging member's write, which it never applied by log.
    let install_at = delivered
        .iter()
        .position(|m| matches!(m, ToShard::Commit(_)))
        .expect("the installed state reached the shard");
    assert!(matches!(
        &delivered[install_at],
        ToShard::Commit(x) if x.tree.get("/from-lagging").is_some() && x.events.is_empty()
    ));
    assert!(
        delivered[install_at..]
            .iter()
            .any(|m| matches!(m, ToShard::CloseAll)),
        "clients are not told their watches may have missed events"
    );
    // New clients are served at once (this is not the leaderless refusal).
    let again = c.connect(lagging, 8);
    assert!(c.create(lagging, 8, again, "/after-install", 1).is_ok());
}

/// A raw forwarded create, as a member sends it to the one it believes leads.
fn forwarded_create(
    origin_member: u64,
    conn: ConnId,
    session: SessionId,
    path: &str,
    xid: i32,
) -> Vec<u8> {
    let forward = crate::consensus::wire::Forward::Write {
        origin: crate::consensus::wire::RemoteOrigin {
            member: origin_member,
            origin: Origin {
                shard: 0,
                conn,
                xid,
                opcode: OpCode::Create,
            },
        },
        session_id: session,
        auth: AuthIds::default(),
        request: Request::Create {
            opcode: OpCode::Create,
            req: CreateRequest {
                path: path.into(),
                data: Some(b"v".to_vec()),
                acl: Some(Acl::open_unsafe()),
                flags: 0,
                ttl: -1,
            },
        },
    };
    crate::consensus::wire::encode_forward(&forward)
}

/// Re-attaches `session` on member `id`'s connection `conn`.
fn reattach(c: &mut Cluster, id: u64, conn: ConnId, session: SessionId) {
    let passwd = c.m(id).sessions.password_for(session).to_vec();
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 4000,
        session_id: session,
        passwd,
        read_only: Some(false),
    };
    let now = c.now;
    c.m(id).connect(0, conn, req, now, now);
    c.m(id).drive(now);
    c.pump();
    c.tick(2);
}

/// `first` must not be applied after `second` (the client sent it first).
fn assert_client_order(c: &Cluster, id: u64, first: &str, second: &str) {
    let tree = c.tree_of(id);
    let later = tree.get(second).expect("the later write applied").czxid;
    if let Some(node) = tree.get(first) {
        assert!(
            node.czxid < later,
            "member {id}: {first} (zxid {:#x}) applied after {second} (zxid {later:#x}), \
             which its client sent later",
            node.czxid
        );
    }
}

/// Issue 18, defect 3 (the relay): a write forwarded to the leader of the
/// time reaches it after it stepped down; meanwhile its client saw
/// ConnectionLoss, re-attached on another connection and wrote again. The
/// old write must not be applied after the new one (ZooKeeper refuses it
/// with SessionMoved: it comes from a connection that no longer owns the
/// session).
#[test]
fn a_stale_forwarded_write_is_never_applied_after_the_clients_later_write() {
    let mut c = Cluster::new(3);
    let (old, new) = c.fail_the_leaders_log();
    c.tick(5);
    let origin_member = (1..=3).find(|&i| i != new && i != old).unwrap();
    let session = c.connect(origin_member, 21);
    // The client gives up on connection 21, re-attaches on 22, writes.
    reattach(&mut c, origin_member, 22, session);
    assert!(c.create(origin_member, 22, session, "/second", 6).is_ok());
    // Its first write, sent on 21 before all that, arrives at `old` now.
    let body = forwarded_create(origin_member, 21, session, "/first", 5);
    let now = c.now;
    c.m(old).peer_frame(
        origin_member,
        crate::consensus::wire::FRAME_FORWARD,
        &body,
        now,
        now,
    );
    c.m(old).drive(now);
    c.pump();
    c.tick(5);
    for id in 1..=3 {
        assert_client_order(&c, id, "/first", "/second");
    }
}

/// Issue 18, defect 3 (the waiting queue): a write queued on a member that
/// has no leader, whose client then moved to another member and wrote
/// again, must not be proposed once the member finds a leader.
#[test]
fn a_write_queued_without_a_leader_is_dropped_when_its_client_moves_on() {
    let mut c = Cluster::new(3);
    let leader = c.elect();
    let lonely = (1..=3).find(|&i| i != leader).unwrap();
    let session = c.connect(lonely, 31);
    c.tick(5);
    c.cut.insert(lonely);
    c.tick(150); // long enough that the lonely member has no leader
    start_create(&mut c, lonely, 31, session, "/first", 5);
    let now = c.now;
    c.m(lonely).drive(now);
    c.pump();
    // The connection is gone (closed by the member, or by the client).
    c.m(lonely).disconnected(0, 31, session);
    c.m(lonely).drive(now);
    // The client re-attaches on the leader and writes again.
    reattach(&mut c, leader, 41, session);
    assert!(c.create(leader, 41, session, "/second", 6).is_ok());
    c.cut.clear();
    c.tick(150);
    for id in 1..=3 {
        assert_client_order(&c, id, "/first", "/second");
    }
}
