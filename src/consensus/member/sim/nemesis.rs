//! Seeded random workloads against a simulated ensemble, with faults, and
//! the ensemble's invariants checked throughout. A run is a function of
//! its seed: `ROOST_SIM_SEED=n cargo test --lib nemesis` replays seed `n`
//! (with `RUST_LOG`-free output: the failing seed is printed).
//!
//! Workload: clients with sessions write unique nodes (persistent and
//! ephemeral) through random members, sync, watch nodes that other clients
//! will create, move to other members (re-attach), close their sessions;
//! new sessions come and go. Faults: members crash (at random moments,
//! also mid-delivery) and restart from their newest snapshot plus log; a
//! member is cut off and healed; a member stops receiving appends and
//! later must catch up by snapshot; a snapshot is damaged in flight;
//! snapshots every few entries.
//!
//! Invariants:
//! - no panic (every assertion in the core holds);
//! - at most one ready leader per term;
//! - at equal applied index, replicas hold equal trees;
//! - every ephemeral's owner is a committed session (no orphans);
//! - each client's writes are applied in the order it sent them;
//! - every write is answered at most once, and its answer is the truth: a
//!   create of a contended path (clients race to create a few shared
//!   nodes, with data of their own) answered Ok wrote the node's data, one
//!   answered NodeExists did not;
//! - every acknowledged write is present at the end, on every member;
//! - a watch on a connection that stayed open fires exactly once when its
//!   node is created;
//! - nothing hangs: at the end, every write sent on a connection that is
//!   still open has been answered (a write in flight at a leader change is
//!   sent to the next leader, not left waiting or failed);
//! - a sync (read barrier) sees every write acknowledged before it was
//!   sent. One seed in five runs with leader leases
//!   (`roost.readConsistency=lease`), where the leader answers barriers
//!   from its lease.

use super::*;
use crate::consensus::rng::Rng;
use crate::proto::{ConnectResponse, EventType};

/// Seeds run by default (`ROOST_SIM_SEEDS` overrides).
const SEEDS_DEFAULT: u64 = 1000;
/// Workload rounds per seed.
const ROUNDS: usize = 120;
/// Shared paths clients race to create (`/s0`..).
const CONTENDED_PATHS: u64 = 3;

/// A simulated client: one session, one connection at a time.
#[derive(Debug)]
struct Client {
    id: usize,
    session: SessionId,
    member: u64,
    conn: ConnId,
    /// The member's CloseAll count when this connection opened.
    opened_at_close_alls: u64,
    next_xid: i32,
    /// Writes sent on this connection, unanswered: xid -> path.
    outstanding: HashMap<i32, String>,
    /// Every path it sent a create for, in send order.
    sent: Vec<String>,
    /// Paths whose create was acknowledged (persistent ones).
    acked: Vec<String>,
    /// Watches registered on the current connection: path.
    watching: Vec<String>,
    closed: bool,
}

/// A watch whose outcome is checked at the end: (member, conn, path).
type WatchKey = (u64, ConnId, String);

struct Run {
    c: Cluster,
    rng: Rng,
    clients: Vec<Client>,
    next_conn: ConnId,
    /// Writes whose outcome is unknown (the connection was lost): paths.
    unknown: HashSet<String>,
    /// Connections whose handshake is outstanding: (member, conn) -> client.
    connecting: HashMap<(u64, ConnId), usize>,
    /// Watches still live at the end (their connection stayed open).
    watches: Vec<WatchKey>,
    /// term -> leader seen ready in it.
    leaders: HashMap<u64, u64>,
    /// Every acknowledged persistent create, in the order seen.
    acked_log: Vec<String>,
    /// Writes answered so far: (member, conn, xid) -> the answer.
    answered_writes: HashMap<(u64, ConnId, i32), Result<Response, ErrorCode>>,
    /// Contended creates sent: (client, xid) -> (path, data).
    contended: HashMap<(usize, i32), (String, Vec<u8>)>,
    /// Their answers: (path, data, Ok or the error).
    contended_answers: Vec<(String, Vec<u8>, Result<(), ErrorCode>)>,
    /// Barriers sent: (member, conn, xid, acknowledged creates before it).
    barriers: Vec<(u64, ConnId, i32, usize)>,
    n: u64,
}

fn seeds() -> Vec<u64> {
    if let Ok(one) = std::env::var("ROOST_SIM_SEED") {
        return vec![one.parse().expect("ROOST_SIM_SEED is a number")];
    }
    let count = std::env::var("ROOST_SIM_SEEDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(SEEDS_DEFAULT);
    (1..=count).collect()
}

#[test]
fn nemesis_runs_keep_every_invariant() {
    let seeds = seeds();
    for &seed in &seeds {
        let result = std::panic::catch_unwind(|| run_seed(seed));
        if let Err(panic) = result {
            eprintln!("simulation seed {seed} failed; replay it with ROOST_SIM_SEED={seed} cargo test --lib nemesis");
            std::panic::resume_unwind(panic);
        }
    }
}

fn run_seed(seed: u64) {
    let mut rng = Rng::new(seed);
    let n = if rng.chance(20) { 5 } else { 3 };
    let snap_count = [0, 1, 3, 10, 40][rng.range(0, 5) as usize];
    // Decided by the seed, not drawn: the seeds' streams stay as they were.
    let lease_reads = seed % 5 == 4;
    let c = Cluster::build_with(n, 0, snap_count, seed, lease_reads);
    let mut run = Run {
        c,
        rng,
        clients: Vec::new(),
        next_conn: 1,
        unknown: HashSet::new(),
        connecting: HashMap::new(),
        watches: Vec::new(),
        leaders: HashMap::new(),
        acked_log: Vec::new(),
        answered_writes: HashMap::new(),
        contended: HashMap::new(),
        contended_answers: Vec::new(),
        barriers: Vec::new(),
        n,
    };
    run.c.elect();
    for _ in 0..3 {
        run.new_client();
    }
    for _ in 0..ROUNDS {
        run.act();
        run.fault();
        let ticks = run.rng.range(1, 4) as usize;
        run.c.tick(ticks);
        run.observe();
        run.check_now();
    }
    run.settle();
    run.check_end();
}

impl Run {
    fn conn(&mut self) -> ConnId {
        self.next_conn += 1;
        self.next_conn
    }

    fn live_member(&mut self) -> u64 {
        loop {
            let id = self.rng.range(1, self.n + 1);
            if self.c.member(id).is_some() {
                return id;
            }
        }
    }

    fn new_client(&mut self) {
        let member = self.live_member();
        let conn = self.conn();
        let id = self.clients.len();
        self.clients.push(Client {
            id,
            session: 0,
            member,
            conn,
            opened_at_close_alls: self.c.shards[member as usize - 1].close_alls,
            next_xid: 1,
            outstanding: HashMap::new(),
            sent: Vec::new(),
            acked: Vec::new(),
            watching: Vec::new(),
            closed: false,
        });
        self.connecting.insert((member, conn), id);
        self.c.start_connect(member, conn, 0);
    }

    /// A client's connection is open and its session known.
    fn ready(&self, k: usize) -> bool {
        let cl = &self.clients[k];
        !cl.closed
            && cl.session != 0
            && cl.conn != 0
            && !self.connecting.contains_key(&(cl.member, cl.conn))
    }

    /// One workload action.
    fn act(&mut self) {
        if self.clients.is_empty() || self.rng.chance(8) {
            self.new_client();
            return;
        }
        let k = self.rng.range(0, self.clients.len() as u64) as usize;
        if !self.ready(k) {
            return;
        }
        let roll = self.rng.range(0, 100);
        let (member, conn, session) = {
            let cl = &self.clients[k];
            (cl.member, cl.conn, cl.session)
        };
        match roll {
            0..=9 => {
                // A create of a contended path, with data of its own.
                let j = self.rng.range(0, CONTENDED_PATHS);
                let cl = &mut self.clients[k];
                let xid = cl.next_xid;
                cl.next_xid += 1;
                let path = format!("/s{j}");
                let data = format!("{}-{xid}", cl.id).into_bytes();
                cl.outstanding.insert(xid, path.clone());
                self.contended
                    .insert((k, xid), (path.clone(), data.clone()));
                let mut request = create_request(&path);
                if let Request::Create { req, .. } = &mut request {
                    req.data = Some(data);
                }
                self.send_write(member, conn, session, xid, OpCode::Create, request);
            }
            10..=54 => {
                let ephemeral = self.rng.chance(25);
                let cl = &mut self.clients[k];
                let xid = cl.next_xid;
                cl.next_xid += 1;
                let path = format!("/{}{}-{xid}", if ephemeral { "e" } else { "c" }, cl.id);
                cl.outstanding.insert(xid, path.clone());
                cl.sent.push(path.clone());
                let mut request = create_request(&path);
                if let Request::Create { req, .. } = &mut request {
                    req.flags = if ephemeral { 1 } else { 0 };
                }
                self.send_write(member, conn, session, xid, OpCode::Create, request);
            }
            55..=64 => {
                let xid = self.clients[k].next_xid;
                self.clients[k].next_xid += 1;
                self.barriers
                    .push((member, conn, xid, self.acked_log.len()));
                self.c.read_barrier(member, conn, xid);
            }
            65..=74 => {
                // Watch a node another client is about to create.
                let other = self.rng.range(0, self.clients.len() as u64) as usize;
                let next = self.clients[other].next_xid;
                let path = format!("/c{other}-{next}");
                if !self.c.watch(member, conn, &path) {
                    self.clients[k].watching.push(path);
                }
            }
            75..=89 => self.move_client(k),
            90..=94 => {
                // Closes its session (a CloseSession write).
                let cl = &mut self.clients[k];
                let xid = cl.next_xid;
                cl.next_xid += 1;
                cl.closed = true;
                self.send_write(
                    member,
                    conn,
                    session,
                    xid,
                    OpCode::CloseSession,
                    Request::CloseSession,
                );
                self.lose_connection(k);
            }
            _ => {
                // Drops the connection without closing (the session lives).
                self.drop_connection(k);
            }
        }
    }

    /// A client's write, as its connection's shard hands it to the member.
    fn send_write(
        &mut self,
        member: u64,
        conn: ConnId,
        session: SessionId,
        xid: i32,
        opcode: OpCode,
        request: Request,
    ) {
        let origin = Origin {
            shard: 0,
            conn,
            xid,
            opcode,
        };
        self.c.shard_input(
            member,
            ToConsensus::Write {
                origin,
                session_id: session,
                auth: AuthIds::default(),
                request,
            },
        );
    }

    /// The client gives up its connection and re-attaches elsewhere.
    fn move_client(&mut self, k: usize) {
        self.drop_connection(k);
        let member = self.live_member();
        let conn = self.conn();
        let session = self.clients[k].session;
        let cl = &mut self.clients[k];
        cl.member = member;
        cl.conn = conn;
        cl.opened_at_close_alls = self.c.shards[member as usize - 1].close_alls;
        cl.watching.clear();
        self.connecting.insert((member, conn), k);
        self.c.start_connect(member, conn, session);
    }

    /// The client closes its TCP connection; the member's shard reports it.
    fn drop_connection(&mut self, k: usize) {
        let (member, conn, session) = {
            let cl = &self.clients[k];
            (cl.member, cl.conn, cl.session)
        };
        self.lose_connection(k);
        if self.c.member(member).is_some() {
            self.c.shard_input(
                member,
                ToConsensus::Disconnected {
                    shard: 0,
                    conn,
                    session_id: session,
                },
            );
        }
    }

    /// Whatever the connection was waiting for is now of unknown outcome.
    fn lose_connection(&mut self, k: usize) {
        let cl = &mut self.clients[k];
        for (_, path) in cl.outstanding.drain() {
            self.unknown.insert(path);
        }
        cl.watching.clear();
        self.connecting.remove(&(cl.member, cl.conn));
    }

    /// One fault, sometimes.
    fn fault(&mut self) {
        let roll = self.rng.range(0, 100);
        match roll {
            0..=3 => {
                let id = self.rng.range(1, self.n + 1);
                self.crash_and_restart(id);
            }
            4..=5 => {
                // A crash in the middle of delivering what is in flight.
                let id = self.rng.range(1, self.n + 1);
                let stop_at = self.c.steps + self.rng.range(1, 40);
                self.c.stop_when = Some(Box::new(move |c: &Cluster| c.steps >= stop_at));
                self.c.pump();
                self.c.stop_when = None;
                self.crash_and_restart(id);
            }
            6..=7 if self.c.cut.is_empty() => {
                let id = self.rng.range(1, self.n + 1);
                self.c.cut.insert(id);
            }
            8..=11 if !self.c.cut.is_empty() => self.c.cut.clear(),
            12..=13 if self.c.lagging.is_empty() => {
                let id = self.rng.range(1, self.n + 1);
                self.c.lagging.insert(id);
            }
            14..=16 if !self.c.lagging.is_empty() => {
                // The appends it missed are lost: it catches up from the
                // leader's log, or by snapshot if that was compacted.
                let ids: Vec<u64> = self.c.lagging.drain().collect();
                self.c.held_appends.retain(|f| !ids.contains(&f.1));
            }
            17 => self.c.damage_snapshots = 1,
            _ => {}
        }
    }

    fn crash_and_restart(&mut self, id: u64) {
        if self.c.member(id).is_none() {
            return;
        }
        // Its clients lose their connections (the process died).
        for k in 0..self.clients.len() {
            if self.clients[k].member == id && !self.clients[k].closed {
                self.lose_connection(k);
                self.clients[k].conn = 0;
            }
        }
        self.c.restart(id);
    }

    /// Reads what the members' shards received: replies, connects, closes.
    fn observe(&mut self) {
        for i in 0..self.n as usize {
            let member = i as u64 + 1;
            let msgs: Vec<ToShard> = self.c.delivered[i].drain(..).collect();
            for msg in msgs {
                match &msg {
                    ToShard::Commit(commit) => {
                        if let Some(comp) = &commit.completion {
                            self.answered(member, comp.origin.conn, comp.origin.xid, &comp.result);
                        }
                        if let Some((_, conn, resp)) = &commit.connected {
                            self.connected(member, *conn, Some(resp.clone()));
                        }
                    }
                    ToShard::Complete { completion, .. } => self.answered(
                        member,
                        completion.origin.conn,
                        completion.origin.xid,
                        &completion.result,
                    ),
                    ToShard::ConnectResult { conn, response, .. } => {
                        self.connected(member, *conn, response.clone())
                    }
                    ToShard::CloseConnection { conn } => self.closed_by_server(member, Some(*conn)),
                    ToShard::CloseAll => self.closed_by_server(member, None),
                    _ => {}
                }
            }
        }
        // Clients without a connection (lost, refused) try again.
        for k in 0..self.clients.len() {
            let cl = &self.clients[k];
            if !cl.closed && cl.conn == 0 && self.rng.chance(50) {
                self.move_client(k);
            }
        }
        for m in self.c.members.iter().flatten() {
            if m.leader_ready() && !self.c.cut.contains(&m.my_id()) {
                let leader = *self.leaders.entry(m.term()).or_insert(m.my_id());
                assert_eq!(leader, m.my_id(), "two leaders in term {}", m.term());
            }
        }
    }

    fn client_on(&self, member: u64, conn: ConnId) -> Option<usize> {
        self.clients
            .iter()
            .position(|cl| cl.member == member && cl.conn == conn && !cl.closed)
    }

    fn answered(
        &mut self,
        member: u64,
        conn: ConnId,
        xid: i32,
        result: &Result<Response, ErrorCode>,
    ) {
        let Some(k) = self.client_on(member, conn) else {
            return;
        };
        if let Some(first) = self
            .answered_writes
            .insert((member, conn, xid), result.clone())
        {
            panic!(
                "member {member}: connection {conn}'s request {xid} answered twice: \
                 {first:?}, then {result:?}"
            );
        }
        let Some(path) = self.clients[k].outstanding.remove(&xid) else {
            return;
        };
        if let Some((path, data)) = self.contended.remove(&(k, xid)) {
            let outcome = match result {
                Ok(Response::Create { .. }) => Ok(()),
                Ok(other) => panic!("a create of {path} answered {other:?}"),
                Err(code) => Err(*code),
            };
            self.contended_answers.push((path, data, outcome));
            return;
        }
        match result {
            Ok(Response::Create { .. }) if path.starts_with("/c") => {
                self.acked_log.push(path.clone());
                self.clients[k].acked.push(path)
            }
            Ok(_) => {}
            // Refused: never applied.
            Err(_) => {}
        }
    }

    fn connected(&mut self, member: u64, conn: ConnId, response: Option<ConnectResponse>) {
        let Some(k) = self.connecting.remove(&(member, conn)) else {
            return;
        };
        match response {
            Some(r) if r.timeout_ms > 0 => {
                let cl = &mut self.clients[k];
                assert!(
                    cl.session == 0 || cl.session == r.session_id,
                    "re-attach answered with another session"
                );
                cl.session = r.session_id;
            }
            Some(_) => {
                // The session is gone (expired or closed): the client ends.
                self.clients[k].closed = true;
            }
            None => self.clients[k].conn = 0,
        }
    }

    fn closed_by_server(&mut self, member: u64, conn: Option<ConnId>) {
        for k in 0..self.clients.len() {
            let cl = &self.clients[k];
            if cl.member != member || cl.closed || cl.conn == 0 {
                continue;
            }
            if conn.is_none_or(|c| c == cl.conn) {
                self.lose_connection(k);
                self.clients[k].conn = 0;
            }
        }
    }

    /// Invariants that hold at every moment.
    fn check_now(&self) {
        let mut by_index: HashMap<u64, Arc<DataTree>> = HashMap::new();
        for m in self.c.members.iter().flatten() {
            let tree = m.published();
            // No orphans: every ephemeral's owner is a committed session.
            let sessions: HashSet<SessionId> = m.committed_sessions().iter().map(|s| s.0).collect();
            for (path, node) in tree.nodes.iter() {
                if let crate::tree::NodeKind::Ephemeral { owner } = node.kind {
                    assert!(
                        sessions.contains(&owner),
                        "member {}: ephemeral {path} of session {owner:#x}, which is not committed",
                        m.my_id()
                    );
                }
            }
            // Equal applied index, equal tree.
            match by_index.get(&m.applied_index()) {
                Some(other) => assert!(
                    **other == *tree,
                    "member {} differs from another member at applied index {}",
                    m.my_id(),
                    m.applied_index()
                ),
                None => {
                    by_index.insert(m.applied_index(), tree);
                }
            }
        }
    }

    /// Heals every fault and lets the ensemble catch up.
    fn settle(&mut self) {
        self.c.cut.clear();
        self.c.lagging.clear();
        self.c.held_appends.clear();
        self.c.damage_snapshots = 0;
        for id in 1..=self.n {
            if self.c.member(id).is_none() {
                self.c.restart(id);
            }
        }
        self.c.elect();
        self.c.tick(300);
        self.observe();
        // Every live connection's watches are recorded for the end check.
        for cl in &self.clients {
            if cl.conn != 0 && !cl.closed {
                let shard = &self.c.shards[cl.member as usize - 1];
                if shard.close_alls == cl.opened_at_close_alls {
                    for path in &cl.watching {
                        self.watches.push((cl.member, cl.conn, path.clone()));
                    }
                }
            }
        }
    }

    /// Invariants of the final state.
    fn check_end(&self) {
        for cl in &self.clients {
            if cl.conn != 0 && !cl.closed {
                assert!(
                    cl.outstanding.is_empty(),
                    "client {} on member {} connection {}: writes never answered: {:?}",
                    cl.id,
                    cl.member,
                    cl.conn,
                    cl.outstanding
                );
            }
        }
        let trees: Vec<Arc<DataTree>> = (1..=self.n).map(|id| self.c.tree_of(id)).collect();
        for (i, t) in trees.iter().enumerate() {
            assert_eq!(**t, *trees[0], "member {} ended with another state", i + 1);
        }
        let tree = &trees[0];
        for cl in &self.clients {
            for path in &cl.acked {
                assert!(tree.get(path).is_some(), "acknowledged {path} is lost");
            }
            // FIFO: what was applied of its writes was applied in send order.
            let mut last: Option<(&String, i64)> = None;
            for path in &cl.sent {
                let Some(node) = tree.get(path) else { continue };
                if let Some((before, zxid)) = last {
                    assert!(
                        node.czxid > zxid,
                        "client {}: {path} (zxid {:#x}) applied before {before} (zxid {zxid:#x}), \
                         which it sent earlier",
                        cl.id,
                        node.czxid
                    );
                }
                last = Some((path, node.czxid));
            }
        }
        for (path, data, outcome) in &self.contended_answers {
            let node = tree.get(path);
            let held: Option<Vec<u8>> = node.and_then(|n| n.data.as_deref().map(|d| d.to_vec()));
            let wrote = held.as_deref() == Some(&data[..]);
            match outcome {
                Ok(()) => assert!(
                    wrote,
                    "the create of {path} with {:?} was answered Ok but the node holds {:?}",
                    String::from_utf8_lossy(data),
                    held.map(|d| String::from_utf8_lossy(&d).into_owned())
                ),
                Err(code) => assert!(
                    !wrote,
                    "the create of {path} with {:?} was answered {code:?} but wrote the node",
                    String::from_utf8_lossy(data)
                ),
            }
        }
        for (member, conn, xid, acked_before) in &self.barriers {
            let Some(tree) = self.c.served.get(&(*member, *conn, *xid)) else {
                continue;
            };
            for path in &self.acked_log[..*acked_before] {
                assert!(
                    tree.get(path).is_some(),
                    "member {member}: a sync on connection {conn} (xid {xid}) did not see \
                     {path}, acknowledged before it was sent"
                );
            }
        }
        for (member, conn, path) in &self.watches {
            let shard = &self.c.shards[*member as usize - 1];
            let fired = shard
                .fired
                .iter()
                .filter(|(c, p, t)| c == conn && p == path && *t == EventType::NodeCreated)
                .count();
            let created = tree.get(path).is_some();
            assert!(fired <= 1, "a watch fired {fired} times");
            assert!(
                !created || fired == 1,
                "member {member}: {path} was created but the watch on connection {conn}, \
                 open all along, never fired"
            );
        }
    }
}
