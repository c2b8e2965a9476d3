use super::*;
use crate::consensus::log::{ManualLog, MemoryLog};
use crate::consensus::step::{Output, SnapshotOutcome};
use crate::ops::write::OpsConfig;
use crate::proto::{Acl, CreateRequest, OpCode};

fn at(mono_ms: i64, wall_ms: i64) -> Now {
    Now { mono_ms, wall_ms }
}

fn config() -> CoreConfig {
    CoreConfig {
        server_id: 1,
        tick_ms: 100,
        min_session_timeout_ms: 200,
        max_session_timeout_ms: 2000,
        ops: OpsConfig {
            extended_types_enabled: true,
            skip_acl: false,
            reconfig_enabled: false,
            digest_disabled: false,
        },
        container_check_interval_ms: 1000,
        container_max_per_minute: 10000,
        container_max_never_used_interval_ms: 0,
        snap_count: 0,
        password_secret: [1; 32],
    }
}

fn core() -> Standalone<MemoryLog> {
    Standalone::new(config(), MemoryLog::default(), fresh(), at(0, 0), 7, 1)
}

fn fresh() -> Committed {
    Committed::new(DataTree::new(), [])
}

fn connect(core: &mut Standalone<MemoryLog>, conn: ConnId, mono: i64) -> SessionId {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 500,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    core.connect(0, conn, &req, at(mono, 1000));
    let out = core.drive().to_shards;
    match &out[..] {
        [Output::Broadcast(ToShard::Commit(c))] => {
            let (_, c_conn, resp) = c
                .connected
                .as_ref()
                .expect("connect reply rides on the commit");
            assert_eq!(*c_conn, conn);
            assert_eq!(resp.timeout_ms, 500);
            assert_eq!(resp.read_only, Some(false));
            assert_eq!(c.zxid, core.published_zxid());
            resp.session_id
        }
        other => panic!("unexpected outputs {other:?}"),
    }
}

fn origin(xid: i32, opcode: OpCode) -> Origin {
    Origin {
        shard: 0,
        conn: 1,
        xid,
        opcode,
    }
}

fn create(path: &str, flags: i32) -> Request {
    Request::Create {
        opcode: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(vec![]),
            acl: Some(Acl::open_unsafe()),
            flags,
            ttl: -1,
        },
    }
}

#[test]
fn a_read_barrier_passes_behind_every_commit_proposed_before_it() {
    let mut c = core();
    let sid = connect(&mut c, 1, 0);
    let auth = AuthIds::default();
    c.write(
        origin(1, OpCode::Create),
        sid,
        &auth,
        &create("/a", 0),
        at(0, 1000),
    );
    let read = Origin {
        conn: 2,
        ..origin(7, OpCode::GetData)
    };
    c.read_barrier(read);
    match &c.drive().to_shards[..] {
        [Output::Broadcast(ToShard::Commit(commit)), Output::To(0, ToShard::ReadBarrier { conn: 2, xid: 7 })] =>
        {
            assert!(commit.tree.get("/a").is_some());
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn new_sessions_consume_a_zxid() {
    let mut c = core();
    connect(&mut c, 1, 0);
    assert_eq!(c.published_zxid(), 1);
    connect(&mut c, 2, 0);
    assert_eq!(c.published_zxid(), 2);
}

#[test]
fn failed_write_reply_waits_behind_earlier_commits_and_burns_no_zxid() {
    let mut c = core();
    let sid = connect(&mut c, 1, 0);
    let auth = AuthIds::default();
    c.write(
        origin(1, OpCode::Create),
        sid,
        &auth,
        &create("/a", 0),
        at(0, 1000),
    );
    c.write(
        origin(2, OpCode::Create),
        sid,
        &auth,
        &create("/a", 0),
        at(0, 1000),
    );
    let out = c.drive().to_shards;
    assert_eq!(out.len(), 2);
    match (&out[0], &out[1]) {
        (
            Output::Broadcast(ToShard::Commit(commit)),
            Output::To(0, ToShard::Complete { zxid, completion }),
        ) => {
            assert_eq!(commit.completion.as_ref().unwrap().origin.xid, 1);
            assert_eq!(completion.origin.xid, 2);
            assert_eq!(completion.result, Err(ErrorCode::NodeExists));
            assert_eq!(
                *zxid, commit.zxid,
                "error replies carry the last committed zxid"
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(c.published_zxid(), 2);
}

#[test]
fn requests_of_an_unknown_session_get_session_expired() {
    let mut c = core();
    c.write(
        origin(1, OpCode::Create),
        12345,
        &AuthIds::default(),
        &create("/a", 0),
        at(0, 0),
    );
    match &c.drive().to_shards[..] {
        [Output::To(0, ToShard::Complete { completion, .. })] => {
            assert_eq!(completion.result, Err(ErrorCode::SessionExpired))
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn expiry_deletes_ephemerals_in_one_transaction() {
    let mut c = core();
    let sid = connect(&mut c, 1, 0);
    let auth = AuthIds::default();
    c.write(
        origin(1, OpCode::Create),
        sid,
        &auth,
        &create("/e1", 1),
        at(0, 1000),
    );
    c.write(
        origin(2, OpCode::Create),
        sid,
        &auth,
        &create("/e2", 1),
        at(0, 1000),
    );
    c.drive();
    // Not yet: the deadline is at least the timeout away.
    c.tick(at(400, 2000));
    assert!(c.drive().to_shards.is_empty());
    c.tick(at(1000, 3000));
    let out = c.drive().to_shards;
    match &out[..] {
        [Output::Broadcast(ToShard::Commit(commit))] => {
            assert_eq!(commit.closed_session, Some(sid));
            assert!(commit.completion.is_none());
            let deleted: Vec<_> = commit
                .events
                .iter()
                .filter(|e| e.event_type == crate::proto::EventType::NodeDeleted)
                .map(|e| e.path.to_string())
                .collect();
            assert_eq!(deleted.len(), 2);
            assert!(commit.tree.nodes.get("/e1").is_none());
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(c.proposer().sessions().get(sid).is_none());
}

#[test]
fn client_ahead_of_server_is_refused_without_reply() {
    let mut c = core();
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 99,
        timeout_ms: 500,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: None,
    };
    c.connect(0, 7, &req, at(0, 0));
    match &c.drive().to_shards[..] {
        [Output::To(
            0,
            ToShard::ConnectResult {
                conn: 7,
                response: None,
                ..
            },
        )] => {}
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn reattach_kicks_the_old_connection_and_checks_the_password() {
    let mut c = core();
    let sid = connect(&mut c, 1, 0);
    let pw = c.proposer().sessions().password_for(sid);
    let mut req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 1,
        timeout_ms: 800,
        session_id: sid,
        passwd: pw.to_vec(),
        read_only: None,
    };
    c.connect(0, 2, &req, at(10, 10));
    let out = c.drive().to_shards;
    assert!(matches!(
        out[0],
        Output::To(0, ToShard::CloseConnection { conn: 1 })
    ));
    match &out[1] {
        Output::To(
            0,
            ToShard::ConnectResult {
                conn: 2,
                response: Some(r),
                ..
            },
        ) => {
            assert_eq!((r.session_id, r.timeout_ms, r.passwd), (sid, 800, pw));
            assert_eq!(r.read_only, None, "legacy clients get no readOnly byte");
        }
        other => panic!("unexpected {other:?}"),
    }
    req.passwd = vec![9; 16];
    c.connect(0, 3, &req, at(20, 20));
    let out = c.drive().to_shards;
    match out.last().unwrap() {
        Output::To(
            0,
            ToShard::ConnectResult {
                conn: 3,
                response: Some(r),
                ..
            },
        ) => {
            assert_eq!((r.timeout_ms, r.session_id, r.passwd), (0, 0, [0; 16]));
        }
        other => panic!("unexpected {other:?}"),
    }
}

fn manual_core(snap_count: u64) -> Standalone<ManualLog> {
    let config = CoreConfig {
        snap_count,
        ..config()
    };
    Standalone::new(config, ManualLog::default(), fresh(), at(0, 0), 7, 1)
}

/// A new session on `conn`, made durable; returns its id.
fn durable_session(core: &mut Standalone<ManualLog>, conn: ConnId) -> SessionId {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 500,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    core.connect(0, conn, &req, at(0, 1000));
    core.log_mut().make_all_durable();
    core.drive()
        .to_shards
        .iter()
        .find_map(|o| match o {
            Output::Broadcast(ToShard::Commit(c)) => c.connected.as_ref().map(|x| x.2.session_id),
            _ => None,
        })
        .expect("the new session's commit")
}

/// Issue 18, defect 4: a log batch that fails must not block every later
/// reply. The failed write's outcome is unknown (its record may or may
/// not be on the disk), so its connection is closed; later writes get
/// an error; syncs, re-attaches and new connections are still answered.
#[test]
fn a_failed_log_batch_does_not_block_the_replies_behind_it() {
    let mut c = manual_core(0);
    let a = durable_session(&mut c, 1);
    let b = durable_session(&mut c, 2);
    let auth = AuthIds::default();
    let on = |conn, xid, opcode| Origin {
        shard: 0,
        conn,
        xid,
        opcode,
    };
    c.write(
        on(1, 1, OpCode::Create),
        a,
        &auth,
        &create("/a", 0),
        at(0, 1000),
    );
    assert!(c.drive().to_shards.is_empty(), "nothing is durable yet");
    c.log_mut().fail("EIO on fdatasync");
    let mut out = c.drive().to_shards;
    c.write(
        on(2, 1, OpCode::Create),
        b,
        &auth,
        &create("/b", 0),
        at(0, 1000),
    );
    c.read_barrier(on(2, 2, OpCode::Sync));
    let pw = c.proposer().sessions().password_for(b);
    let reattach = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 500,
        session_id: b,
        passwd: pw.to_vec(),
        read_only: None,
    };
    c.connect(0, 3, &reattach, at(10, 1010));
    let fresh = ConnectRequest {
        session_id: 0,
        passwd: vec![0; 16],
        ..reattach.clone()
    };
    c.connect(0, 4, &fresh, at(10, 1010));
    out.extend(c.drive().to_shards);
    let closed: Vec<ConnId> = out
        .iter()
        .filter_map(|o| match o {
            Output::To(_, ToShard::CloseConnection { conn }) => Some(*conn),
            _ => None,
        })
        .collect();
    assert!(
        closed.contains(&1),
        "the failed write's connection is closed: {out:?}"
    );
    assert!(
        !out.iter()
            .any(|o| matches!(o, Output::Broadcast(ToShard::Commit(_)))),
        "nothing undurable is published: {out:?}"
    );
    let b_reply = out.iter().find_map(|o| match o {
        Output::To(_, ToShard::Complete { completion, .. })
            if completion.origin.conn == 2 && completion.origin.xid == 1 =>
        {
            Some(completion.result.clone())
        }
        _ => None,
    });
    assert_eq!(b_reply, Some(Err(ErrorCode::SystemError)), "{out:?}");
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::To(_, ToShard::ReadBarrier { conn: 2, xid: 2 }))),
        "the sync behind it passes: {out:?}"
    );
    let reattached = out.iter().find_map(|o| match o {
        Output::To(
            _,
            ToShard::ConnectResult {
                conn: 3, response, ..
            },
        ) => Some(response.clone()),
        _ => None,
    });
    assert!(
        matches!(reattached, Some(Some(r)) if r.session_id == b && r.timeout_ms > 0),
        "a re-attach is answered: {out:?}"
    );
    assert!(
        out.iter()
            .any(|o| matches!(o, Output::To(_, ToShard::ConnectResult { conn: 4, .. }))),
        "a new connection is answered (refused: no durable log): {out:?}"
    );
    // The unacknowledged create is not part of the state writes see.
    assert!(c.proposer().pending().get("/a").is_none());
}

/// Issue 18, defect 5: a snapshot taken while a CloseSession is in
/// flight must pair the tree with the sessions of that same tree. If the
/// server then stops before the close is durable, recovery must find the
/// session that owns the tree's ephemerals.
#[test]
fn a_snapshot_during_an_undurable_close_keeps_the_ephemerals_owner() {
    // snapCount 1: a snapshot at every release with no snapshot in flight.
    let mut c = manual_core(1);
    let sid = durable_session(&mut c, 1);
    let auth = AuthIds::default();
    c.write(
        origin(1, OpCode::Create),
        sid,
        &auth,
        &create("/e", 1),
        at(0, 1000),
    );
    c.log_mut().make_all_durable();
    c.drive();
    c.input(
        Input::SnapshotWritten(SnapshotOutcome::default()),
        at(0, 1000),
    );
    c.write(
        origin(2, OpCode::CloseSession),
        sid,
        &auth,
        &Request::CloseSession,
        at(0, 1000),
    );
    let SnapshotRequest { tree, sessions, .. } =
        c.drive().snapshot.expect("a snapshot is asked for");
    // The close never became durable: a restart replays nothing after it.
    assert!(c
        .log()
        .durable_records()
        .iter()
        .all(|r| r.0 <= tree.last_zxid));
    let owners: Vec<SessionId> = sessions.iter().map(|s| s.0).collect();
    for (path, node) in tree.nodes.iter() {
        if let crate::tree::NodeKind::Ephemeral { owner } = node.kind {
            assert!(
                owners.contains(&owner),
                "ephemeral {path} of session {owner:#x} is in the snapshot, its session is not"
            );
        }
    }
}

/// Sessions that expire in the same tick (a restart gives every recovered
/// session the same fresh deadline) are closed one transaction each, and
/// every commit carries the tree as of its own zxid: releasing them must
/// not trip the version check (it crashed the server, and again after
/// each restart, as the recovered sessions expired together again).
#[test]
fn sessions_expiring_in_one_tick_commit_each_at_its_own_version() {
    let mut c = core();
    let sessions: Vec<SessionId> = (1..=3).map(|conn| connect(&mut c, conn, 0)).collect();
    let auth = AuthIds::default();
    for (i, sid) in sessions.iter().enumerate() {
        c.write(
            Origin {
                shard: 0,
                conn: i as ConnId + 1,
                xid: 1,
                opcode: OpCode::Create,
            },
            *sid,
            &auth,
            &create(&format!("/e{i}"), 1),
            at(0, 1000),
        );
    }
    c.drive();
    c.tick(at(1000, 3000));
    let out = c.drive().to_shards;
    let commits: Vec<&Commit> = out
        .iter()
        .map(|o| match o {
            Output::Broadcast(ToShard::Commit(commit)) => &**commit,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(commits.len(), 3, "one close per session");
    for (i, commit) in commits.iter().enumerate() {
        assert_eq!(commit.tree.last_zxid, commit.zxid);
        // Each version lacks the ephemerals of the sessions closed so far
        // and still has the others'.
        let left = (0..3)
            .filter(|j| commit.tree.nodes.get(format!("/e{j}").as_str()).is_some())
            .count();
        assert_eq!(left, 2 - i);
    }
    assert_eq!(c.published_zxid(), commits[2].zxid);
}
