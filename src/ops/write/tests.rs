//! Write semantics pinned against real ZooKeeper (digest §7-§9, §12.2, §13).
//! Facts marked [obs] in the digest were seen on a live 3.8.0 server.

use super::*;
use crate::ops::txn::{CreateReply, Txn};
use crate::proto::{
    perms, Acl, CreateRequest, ErrorCode, EventType, Id, MultiOp, MultiResult, OpCode, Request,
    Response, SessionId,
};
use crate::tree::{DataTree, NodeKind, WatchEvent};
use std::sync::Arc;

const SESSION: SessionId = 0x1000_0000_0000_0001;

/// A tree plus the identity writing to it; every write gets the next zxid and
/// a wall time of `zxid * 1000`.
struct Harness {
    tree: DataTree,
    auth: AuthIds,
    config: OpsConfig,
    session_id: SessionId,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            tree: DataTree::new(),
            auth: AuthIds {
                ids: vec![Id::new("ip", "127.0.0.1")],
            },
            config: OpsConfig {
                extended_types_enabled: true,
                ..OpsConfig::default()
            },
            session_id: SESSION,
        }
    }

    fn prep(&self, req: &Request) -> Txn {
        let ctx = WriteContext {
            session_id: self.session_id,
            auth: &self.auth,
            config: &self.config,
        };
        prep(&self.tree, req, &ctx)
    }

    fn write(&mut self, req: Request) -> Applied {
        let txn = self.prep(&req);
        self.apply(&txn)
    }

    fn apply(&mut self, txn: &Txn) -> Applied {
        let zxid = self.tree.last_zxid + 1;
        apply(&mut self.tree, txn, zxid, zxid * 1000)
    }

    fn create_full(
        &mut self,
        opcode: OpCode,
        path: &str,
        flags: i32,
        ttl: i64,
        acl: Option<Vec<Acl>>,
    ) -> Result<Response, ErrorCode> {
        self.write(Request::Create {
            opcode,
            req: create_req(path, flags, ttl, acl),
        })
        .result
    }

    /// Opcode 1 with an open ACL and empty data; returns the created path.
    fn create(&mut self, path: &str, flags: i32) -> Result<String, ErrorCode> {
        match self.create_full(OpCode::Create, path, flags, -1, Some(Acl::open_unsafe()))? {
            Response::Create { path } => Ok(path),
            other => panic!("opcode 1 must answer CreateResponse, got {other:?}"),
        }
    }

    fn delete(&mut self, path: &str, version: i32) -> Result<Response, ErrorCode> {
        self.write(Request::Delete {
            path: path.into(),
            version,
        })
        .result
    }

    fn set_data(
        &mut self,
        path: &str,
        data: Option<&[u8]>,
        version: i32,
    ) -> Result<Response, ErrorCode> {
        self.write(Request::SetData {
            path: path.into(),
            data: data.map(<[u8]>::to_vec),
            version,
        })
        .result
    }

    fn set_acl(
        &mut self,
        path: &str,
        acl: Option<Vec<Acl>>,
        version: i32,
    ) -> Result<Response, ErrorCode> {
        self.write(Request::SetAcl {
            path: path.into(),
            acl,
            version,
        })
        .result
    }

    fn multi(&mut self, ops: Vec<MultiOp>) -> Applied {
        self.write(Request::Multi(ops))
    }

    fn stat(&self, path: &str) -> crate::proto::Stat {
        self.tree
            .stat(path)
            .unwrap_or_else(|| panic!("{path} should exist"))
    }
}

fn create_req(path: &str, flags: i32, ttl: i64, acl: Option<Vec<Acl>>) -> CreateRequest {
    CreateRequest {
        path: path.into(),
        data: Some(Vec::new()),
        acl,
        flags,
        ttl,
    }
}

fn create_op(opcode: OpCode, path: &str, flags: i32, ttl: i64) -> MultiOp {
    MultiOp::Create {
        opcode,
        req: create_req(path, flags, ttl, Some(Acl::open_unsafe())),
    }
}

fn acl_of(perms: i32, scheme: &str, id: &str) -> Vec<Acl> {
    vec![Acl {
        perms,
        id: Id::new(scheme, id),
    }]
}

fn event(event_type: EventType, path: &str, acl: Vec<Acl>) -> WatchEvent {
    WatchEvent {
        event_type,
        path: path.into(),
        acl: Arc::new(acl),
    }
}

// ---------------------------------------------------------------- create

#[test]
fn create_sets_stat_and_parent_counters() {
    let mut h = Harness::new();
    h.create("/a", 0).unwrap();
    let stat = h.stat("/a");
    assert_eq!((stat.czxid, stat.mzxid, stat.pzxid), (1, 1, 1));
    assert_eq!((stat.ctime, stat.mtime), (1000, 1000));
    assert_eq!((stat.version, stat.cversion, stat.aversion), (0, 0, 0));
    assert_eq!(stat.ephemeral_owner, 0);
    let root = h.stat("/");
    assert_eq!(root.pzxid, 1);
    assert_eq!(root.cversion, 0, "c=1, two children: 2*1-2");
    assert_eq!(
        root.mzxid, 0,
        "a child create leaves the parent's mzxid alone"
    );
    assert_eq!(root.version, 0);
    assert_eq!(h.tree.last_zxid, 1);
    assert_eq!(h.tree.node_count(), 6);
}

#[test]
fn create2_container_and_ttl_answer_with_stat() {
    let mut h = Harness::new();
    let reply = h
        .create_full(OpCode::Create2, "/a", 0, -1, Some(Acl::open_unsafe()))
        .unwrap();
    assert_eq!(
        reply,
        Response::Create2 {
            path: "/a".into(),
            stat: h.stat("/a")
        }
    );
    let reply = h.create_full(
        OpCode::CreateContainer,
        "/c",
        0,
        -1,
        Some(Acl::open_unsafe()),
    );
    assert!(matches!(reply, Ok(Response::Create2 { .. })));
    assert_eq!(h.tree.get("/c").unwrap().kind, NodeKind::Container);
    assert_eq!(h.stat("/c").ephemeral_owner, 0, "containers show owner 0");
    let reply = h.create_full(OpCode::CreateTtl, "/t", 5, 500, Some(Acl::open_unsafe()));
    assert!(matches!(reply, Ok(Response::Create2 { .. })));
    assert_eq!(
        h.tree.get("/t").unwrap().kind,
        NodeKind::Ttl { ttl_ms: 500 }
    );
    assert_eq!(h.stat("/t").ephemeral_owner, 0, "TTL nodes show owner 0");
}

#[test]
fn create_with_container_flag_on_opcode_1_or_15_is_plain_persistent() {
    let mut h = Harness::new();
    h.create("/p", 4).unwrap();
    assert_eq!(h.tree.get("/p").unwrap().kind, NodeKind::Persistent);
    h.create_full(OpCode::Create2, "/q", 4, -1, Some(Acl::open_unsafe()))
        .unwrap();
    assert_eq!(h.tree.get("/q").unwrap().kind, NodeKind::Persistent);
    assert!(h.tree.containers_and_ttls.is_empty());
}

#[test]
fn ephemeral_records_its_owner() {
    let mut h = Harness::new();
    h.create("/e", 1).unwrap();
    assert_eq!(h.stat("/e").ephemeral_owner, SESSION);
    assert_eq!(
        h.tree
            .ephemerals_of(SESSION)
            .map(|p| p.to_string())
            .collect::<Vec<_>>(),
        ["/e"]
    );
}

#[test]
fn create_flag_and_ttl_errors_in_order() {
    let mut h = Harness::new();
    let open = || Some(Acl::open_unsafe());
    // Flags outside 0-6 [obs: 7 gives -8], even before anything else.
    assert_eq!(
        h.create_full(OpCode::Create, "no-slash", 7, -1, None),
        Err(ErrorCode::BadArguments)
    );
    // Opcode 1/15 with TTL flags carries ttl -1 [obs].
    assert_eq!(
        h.create_full(OpCode::Create, "/x", 5, -1, open()),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(
        h.create_full(OpCode::Create2, "/x", 6, -1, open()),
        Err(ErrorCode::BadArguments)
    );
    // Opcode 21 with a non-TTL mode must not carry a ttl [obs].
    assert_eq!(
        h.create_full(OpCode::CreateTtl, "/x", 0, 0, open()),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(
        h.create_full(OpCode::CreateTtl, "/x", 5, 0, open()),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(
        h.create_full(OpCode::CreateTtl, "/x", 5, 0x100_0000_0000, open()),
        Err(ErrorCode::BadArguments)
    );
    assert!(h
        .create_full(OpCode::CreateTtl, "/x", 5, 0xFF_FFFF_FFFF, open())
        .is_ok());
    // Without extended types, TTL modes are Unimplemented, ahead of the ttl
    // check and of path problems.
    h.config.extended_types_enabled = false;
    assert_eq!(
        h.create_full(OpCode::CreateTtl, "bad", 5, 0, None),
        Err(ErrorCode::Unimplemented)
    );
    assert_eq!(
        h.create_full(OpCode::CreateTtl, "/y", 6, 10, open()),
        Err(ErrorCode::Unimplemented)
    );
    assert_eq!(
        h.create_full(OpCode::CreateTtl, "bad", 8, 0, None),
        Err(ErrorCode::BadArguments)
    );
}

#[test]
fn create_path_and_acl_errors_in_order() {
    let mut h = Harness::new();
    let open = || Some(Acl::open_unsafe());
    // No '/' at all.
    assert_eq!(
        h.create_full(OpCode::Create, "abc", 0, -1, None),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(
        h.create_full(OpCode::Create, "/a\0", 0, -1, None),
        Err(ErrorCode::BadArguments)
    );
    // InvalidACL comes before NoNode.
    assert_eq!(
        h.create_full(OpCode::Create, "/no/such", 0, -1, None),
        Err(ErrorCode::InvalidAcl)
    );
    assert_eq!(
        h.create_full(OpCode::Create, "/no/such", 0, -1, Some(vec![])),
        Err(ErrorCode::InvalidAcl)
    );
    assert_eq!(
        h.create_full(
            OpCode::Create,
            "/no/such",
            0,
            -1,
            Some(acl_of(31, "foo", "bar"))
        ),
        Err(ErrorCode::InvalidAcl)
    );
    // `/a//b` is NoNode (parent `/a/` does not exist), not BadArguments [obs].
    h.create("/a", 0).unwrap();
    assert_eq!(
        h.create_full(OpCode::Create, "/a//b", 0, -1, open()),
        Err(ErrorCode::NoNode)
    );
    // Full validation happens after the parent checks [obs: `/t/.`].
    h.create("/t", 0).unwrap();
    assert_eq!(h.create("/t/.", 0), Err(ErrorCode::BadArguments));
    assert_eq!(h.create("/t/", 0), Err(ErrorCode::BadArguments));
    // `create /` is NodeExists [obs].
    assert_eq!(h.create("/", 0), Err(ErrorCode::NodeExists));
    assert_eq!(h.create("/a", 0), Err(ErrorCode::NodeExists));
}

#[test]
fn create_needs_create_permission_on_parent_before_path_validation() {
    let mut h = Harness::new();
    h.create_full(OpCode::Create, "/ro", 0, -1, Some(Acl::read_unsafe()))
        .unwrap();
    assert_eq!(h.create("/ro/x", 0), Err(ErrorCode::NoAuth));
    // NoAuth is step 8, full validation step 10.
    assert_eq!(h.create("/ro/.", 0), Err(ErrorCode::NoAuth));
    // NoNode (step 7) still wins over NoAuth.
    assert_eq!(h.create("/ro/missing/x", 0), Err(ErrorCode::NoNode));
    h.config.skip_acl = true;
    assert_eq!(h.create("/ro/x", 0), Ok("/ro/x".into()));
}

#[test]
fn node_exists_comes_before_no_children_for_ephemerals() {
    let mut h = Harness::new();
    h.create("/e", 1).unwrap();
    assert_eq!(h.create("/e", 0), Err(ErrorCode::NodeExists));
    assert_eq!(
        h.create("/e/child", 0),
        Err(ErrorCode::NoChildrenForEphemerals)
    );
    // `/` is its own parent for create's checks, and `/` exists.
    h.create_full(OpCode::Create, "/c", 0, -1, Some(Acl::open_unsafe()))
        .unwrap();
    // Containers and TTL nodes may have children.
    h.create_full(
        OpCode::CreateContainer,
        "/k",
        0,
        -1,
        Some(Acl::open_unsafe()),
    )
    .unwrap();
    assert_eq!(h.create("/k/child", 0), Ok("/k/child".into()));
}

#[test]
fn auth_acl_expands_to_connection_digest_identities() {
    let mut h = Harness::new();
    assert_eq!(
        h.create_full(OpCode::Create, "/x", 0, -1, Some(acl_of(31, "auth", ""))),
        Err(ErrorCode::InvalidAcl),
        "ip identities do not count as authenticated"
    );
    h.auth.ids.push(Id::new("digest", "bob:hash"));
    h.create_full(OpCode::Create, "/x", 0, -1, Some(acl_of(31, "auth", "")))
        .unwrap();
    assert_eq!(
        h.tree.get("/x").unwrap().acl.as_slice(),
        acl_of(31, "digest", "bob:hash").as_slice()
    );
}

#[test]
fn null_data_is_kept_distinct_from_empty() {
    let mut h = Harness::new();
    let req = CreateRequest {
        path: "/n".into(),
        data: None,
        acl: Some(Acl::open_unsafe()),
        flags: 0,
        ttl: -1,
    };
    h.write(Request::Create {
        opcode: OpCode::Create,
        req,
    })
    .result
    .unwrap();
    assert_eq!(h.tree.get("/n").unwrap().data, None);
    assert_eq!(h.stat("/n").data_length, 0);
    h.create("/e", 0).unwrap();
    assert_eq!(h.tree.get("/e").unwrap().data.as_deref(), Some(&[][..]));
    h.set_data("/e", None, -1).unwrap();
    assert_eq!(h.tree.get("/e").unwrap().data, None);
    h.set_data("/n", Some(b""), -1).unwrap();
    assert_eq!(h.tree.get("/n").unwrap().data.as_deref(), Some(&[][..]));
}

// ------------------------------------------------------ sequence and cversion

#[test]
fn worked_example_t2_cversion_and_trailing_slash_sequence() {
    let mut h = Harness::new();
    h.create("/t2", 0).unwrap();
    for name in ["a", "b", "c", "d", "e"] {
        h.create(&format!("/t2/{name}"), 0).unwrap();
    }
    h.delete("/t2/c", -1).unwrap();
    let stat = h.stat("/t2");
    assert_eq!((stat.num_children, stat.cversion), (4, 6));
    // The suffix comes from the internal counter (5), not the visible 6.
    assert_eq!(h.create("/t2/", 2), Ok("/t2/0000000005".into()));
    assert_eq!(h.create("/t2/s-", 2), Ok("/t2/s-0000000006".into()));
    // Deletions never reuse numbers.
    h.delete("/t2/s-0000000006", -1).unwrap();
    assert_eq!(h.create("/t2/s-", 3), Ok("/t2/s-0000000007".into()));
}

#[test]
fn sequence_under_root_starts_from_fresh_counter() {
    let mut h = Harness::new();
    assert_eq!(h.create("/s", 0), Ok("/s".into()));
    h.create("/n", 0).unwrap();
    assert_eq!(h.create("/", 2), Ok("/0000000002".into()));
    assert_eq!(h.create("/q-", 2), Ok("/q-0000000003".into()));
    assert_eq!(h.create("/s/", 2), Ok("/s/0000000000".into()));
}

#[test]
fn sequence_counter_overflow_formats_like_java() {
    let mut h = Harness::new();
    h.create("/o", 0).unwrap();
    Arc::make_mut(h.tree.nodes.get_mut("/o").unwrap()).child_create_count = i32::MAX;
    assert_eq!(h.create("/o/", 2), Ok("/o/2147483647".into()));
    assert_eq!(h.create("/o/", 2), Ok("/o/-2147483648".into()));
    assert_eq!(h.create("/o/", 2), Ok("/o/-2147483647".into()));
    Arc::make_mut(h.tree.nodes.get_mut("/o").unwrap()).child_create_count = -5;
    assert_eq!(h.create("/o/x", 2), Ok("/o/x-000000005".into()));
}

// ---------------------------------------------------------------- delete

#[test]
fn delete_errors_in_order() {
    let mut h = Harness::new();
    assert_eq!(h.delete("/", -1), Err(ErrorCode::BadArguments));
    assert_eq!(h.delete("/zookeeper", -1), Err(ErrorCode::BadArguments));
    assert_eq!(
        h.delete("/zookeeper/config", -1),
        Err(ErrorCode::BadArguments)
    );
    assert_eq!(h.delete("nope", -1), Err(ErrorCode::BadArguments));
    // Weak path check: `/a//b` and `/x/` are just missing.
    assert_eq!(h.delete("/a//b", -1), Err(ErrorCode::NoNode));
    assert_eq!(h.delete("/x/", -1), Err(ErrorCode::NoNode));
    // NoAuth on the parent comes before the node's existence.
    h.create_full(
        OpCode::Create,
        "/locked",
        0,
        -1,
        Some(acl_of(perms::ALL & !perms::DELETE, "world", "anyone")),
    )
    .unwrap();
    assert_eq!(h.delete("/locked/missing", -1), Err(ErrorCode::NoAuth));
    assert_eq!(h.delete("/missing", -1), Err(ErrorCode::NoNode));
    // BadVersion comes before NotEmpty.
    h.create("/p", 0).unwrap();
    h.create("/p/c", 0).unwrap();
    assert_eq!(h.delete("/p", 5), Err(ErrorCode::BadVersion));
    assert_eq!(h.delete("/p", 0), Err(ErrorCode::NotEmpty));
    assert_eq!(h.delete("/p/c", 0), Ok(Response::Empty));
    assert_eq!(h.delete("/p", -1), Ok(Response::Empty));
    assert!(!h.tree.contains("/p"));
}

#[test]
fn delete_updates_parent_pzxid_but_not_its_counter() {
    let mut h = Harness::new();
    h.create("/p", 0).unwrap();
    h.create("/p/c", 0).unwrap();
    h.set_data("/p", Some(b"x"), -1).unwrap();
    h.delete("/p/c", -1).unwrap();
    let stat = h.stat("/p");
    assert_eq!(stat.pzxid, 4);
    assert_eq!(stat.mzxid, 3, "child changes leave mzxid alone");
    assert_eq!(stat.cversion, 2, "one create and one delete");
    assert_eq!(h.tree.get("/p").unwrap().child_create_count, 1);
}

#[test]
fn anyone_with_delete_on_parent_may_delete_a_protected_node() {
    let mut h = Harness::new();
    h.create_full(
        OpCode::Create,
        "/bob",
        0,
        -1,
        Some(acl_of(31, "digest", "bob:hash")),
    )
    .unwrap();
    assert_eq!(h.delete("/bob", -1), Ok(Response::Empty));
}

#[test]
fn pzxid_only_moves_forward() {
    let mut h = Harness::new();
    h.create("/p", 0).unwrap();
    h.create("/p/c", 0).unwrap();
    let txn = h.prep(&Request::Delete {
        path: "/p/c".into(),
        version: -1,
    });
    apply(&mut h.tree, &txn, 1, 0);
    assert_eq!(h.stat("/p").pzxid, 2);
}

// ------------------------------------------------------------ setData / setACL

#[test]
fn set_data_bumps_version_and_checks_in_order() {
    let mut h = Harness::new();
    assert_eq!(h.set_data("/a/", None, -1), Err(ErrorCode::BadArguments));
    assert_eq!(h.set_data("/missing", None, -1), Err(ErrorCode::NoNode));
    assert_eq!(
        h.set_data("/zookeeper/config", Some(b"x"), -1),
        Err(ErrorCode::NoAuth)
    );
    h.create_full(OpCode::Create, "/ro", 0, -1, Some(Acl::read_unsafe()))
        .unwrap();
    // NoAuth comes before BadVersion.
    assert_eq!(h.set_data("/ro", None, 99), Err(ErrorCode::NoAuth));
    h.create("/a", 0).unwrap();
    assert_eq!(h.set_data("/a", None, 3), Err(ErrorCode::BadVersion));
    let reply = h.set_data("/a", Some(b"hello"), 0).unwrap();
    let stat = h.stat("/a");
    assert_eq!(reply, Response::Stat(stat));
    // Failed writes consumed zxids too (as in real ZK), so compare with the tree.
    let zxid = h.tree.last_zxid;
    assert_eq!(
        (stat.version, stat.mzxid, stat.mtime, stat.data_length),
        (1, zxid, zxid * 1000, 5)
    );
    assert!(stat.czxid < zxid);
    // Same data still bumps the version.
    h.set_data("/a", Some(b"hello"), 1).unwrap();
    assert_eq!(h.stat("/a").version, 2);
}

#[test]
fn set_data_version_wraps_like_a_java_int() {
    let mut h = Harness::new();
    h.create("/w", 0).unwrap();
    Arc::make_mut(h.tree.nodes.get_mut("/w").unwrap()).version = i32::MAX;
    h.set_data("/w", None, i32::MAX).unwrap();
    assert_eq!(h.stat("/w").version, i32::MIN);
}

#[test]
fn set_acl_checks_in_order_and_fires_nothing() {
    let mut h = Harness::new();
    assert_eq!(h.set_acl("bad", None, -1), Err(ErrorCode::BadArguments));
    // InvalidACL before NoNode [obs].
    assert_eq!(
        h.set_acl("/missing", Some(vec![]), -1),
        Err(ErrorCode::InvalidAcl)
    );
    assert_eq!(
        h.set_acl("/missing", Some(Acl::open_unsafe()), -1),
        Err(ErrorCode::NoNode)
    );
    h.create_full(
        OpCode::Create,
        "/na",
        0,
        -1,
        Some(acl_of(perms::ALL & !perms::ADMIN, "world", "anyone")),
    )
    .unwrap();
    assert_eq!(
        h.set_acl("/na", Some(Acl::open_unsafe()), 7),
        Err(ErrorCode::NoAuth)
    );
    h.create("/a", 0).unwrap();
    // The version is compared with aversion, not version.
    h.set_data("/a", None, -1).unwrap();
    assert_eq!(
        h.set_acl("/a", Some(Acl::read_unsafe()), 1),
        Err(ErrorCode::BadVersion)
    );
    let before = h.stat("/a");
    let applied = h.write(Request::SetAcl {
        path: "/a".into(),
        acl: Some(Acl::read_unsafe()),
        version: 0,
    });
    assert!(applied.events.is_empty());
    let after = h.stat("/a");
    assert_eq!(applied.result, Ok(Response::Stat(after)));
    assert_eq!(after.aversion, 1);
    assert_eq!(
        (after.mzxid, after.mtime, after.version),
        (before.mzxid, before.mtime, before.version)
    );
    assert_eq!(
        h.tree.get("/a").unwrap().acl.as_slice(),
        Acl::read_unsafe().as_slice()
    );
}

#[test]
fn config_node_starts_at_aversion_minus_one() {
    let mut h = Harness::new();
    h.auth.ids.push(Id::new("super", ""));
    assert_eq!(
        h.set_acl("/zookeeper/config", Some(Acl::read_unsafe()), 0),
        Err(ErrorCode::BadVersion)
    );
    h.set_acl("/zookeeper/config", Some(Acl::read_unsafe()), -1)
        .unwrap();
    assert_eq!(h.stat("/zookeeper/config").aversion, 0);
}

// ---------------------------------------------------------------- events

#[test]
fn events_come_in_real_zookeeper_order_with_governing_acls() {
    let mut h = Harness::new();
    let parent_acl = acl_of(31, "world", "anyone");
    let child_acl = acl_of(
        perms::READ | perms::WRITE | perms::DELETE,
        "world",
        "anyone",
    );
    h.create("/w", 0).unwrap();
    let created = h.write(Request::Create {
        opcode: OpCode::Create,
        req: create_req("/w/c1", 0, -1, Some(child_acl.clone())),
    });
    assert_eq!(
        created.events,
        [
            event(EventType::NodeCreated, "/w/c1", child_acl.clone()),
            event(EventType::NodeChildrenChanged, "/w", parent_acl.clone()),
        ]
    );
    let changed = h.write(Request::SetData {
        path: "/w/c1".into(),
        data: None,
        version: -1,
    });
    assert_eq!(
        changed.events,
        [event(
            EventType::NodeDataChanged,
            "/w/c1",
            child_acl.clone()
        )]
    );
    let deleted = h.write(Request::Delete {
        path: "/w/c1".into(),
        version: -1,
    });
    assert_eq!(
        deleted.events,
        [
            event(EventType::NodeDeleted, "/w/c1", child_acl),
            event(EventType::NodeChildrenChanged, "/w", parent_acl.clone()),
        ]
    );
    // The parent of a top-level node is reported as `/`.
    let top = h.write(Request::Delete {
        path: "/w".into(),
        version: -1,
    });
    assert_eq!(
        top.events[1],
        event(EventType::NodeChildrenChanged, "/", parent_acl)
    );
    // Failed writes fire nothing.
    assert!(h
        .write(Request::Delete {
            path: "/w".into(),
            version: -1
        })
        .events
        .is_empty());
}

// ---------------------------------------------------------------- multi

#[test]
fn multi_failure_shape_and_atomicity() {
    let mut h = Harness::new();
    h.create("/m", 0).unwrap();
    let before_nodes = h.tree.nodes.clone();
    let applied = h.multi(vec![
        create_op(OpCode::Create, "/m/x", 0, -1),
        MultiOp::Delete {
            path: "/m/zzz".into(),
            version: -1,
        },
        MultiOp::SetData {
            path: "/m".into(),
            data: None,
            version: -1,
        },
        MultiOp::Check {
            path: "/m".into(),
            version: -1,
        },
    ]);
    assert_eq!(
        applied.result,
        Ok(Response::Multi(vec![
            MultiResult::Error(ErrorCode::Ok),
            MultiResult::Error(ErrorCode::NoNode),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]))
    );
    assert!(applied.events.is_empty());
    assert_eq!(h.tree.nodes, before_nodes, "a failed multi changes nothing");
}

#[test]
fn multi_sees_its_own_earlier_ops() {
    let mut h = Harness::new();
    h.create("/m", 0).unwrap();
    h.create("/m/a", 0).unwrap();
    let applied = h.multi(vec![
        create_op(OpCode::Create, "/n", 0, -1),
        create_op(OpCode::Create, "/n/b", 0, -1),
        MultiOp::Delete {
            path: "/m/a".into(),
            version: -1,
        },
        create_op(OpCode::Create, "/m/a", 0, -1),
        MultiOp::SetData {
            path: "/n".into(),
            data: Some(b"v".to_vec()),
            version: 0,
        },
        MultiOp::Check {
            path: "/n".into(),
            version: 1,
        },
        create_op(OpCode::Create, "/n/s-", 2, -1),
        create_op(OpCode::Create, "/n/s-", 2, -1),
    ]);
    let zxid = h.tree.last_zxid;
    let n_stat = h.stat("/n");
    assert_eq!(n_stat.mzxid, zxid, "every sub-op shares the multi's zxid");
    assert_eq!(
        applied.result,
        Ok(Response::Multi(vec![
            MultiResult::Create { path: "/n".into() },
            MultiResult::Create {
                path: "/n/b".into()
            },
            MultiResult::Delete,
            MultiResult::Create {
                path: "/m/a".into()
            },
            MultiResult::SetData {
                stat: crate::proto::Stat {
                    num_children: 1,
                    cversion: 1,
                    pzxid: zxid,
                    ..n_stat
                }
            },
            MultiResult::Check,
            MultiResult::Create {
                path: "/n/s-0000000001".into()
            },
            MultiResult::Create {
                path: "/n/s-0000000002".into()
            },
        ]))
    );
    let kinds: Vec<(EventType, String)> = applied
        .events
        .iter()
        .map(|e| (e.event_type, e.path.to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventType::NodeCreated, "/n".into()),
            (EventType::NodeChildrenChanged, "/".into()),
            (EventType::NodeCreated, "/n/b".into()),
            (EventType::NodeChildrenChanged, "/n".into()),
            (EventType::NodeDeleted, "/m/a".into()),
            (EventType::NodeChildrenChanged, "/m".into()),
            (EventType::NodeCreated, "/m/a".into()),
            (EventType::NodeChildrenChanged, "/m".into()),
            (EventType::NodeDataChanged, "/n".into()),
            (EventType::NodeCreated, "/n/s-0000000001".into()),
            (EventType::NodeChildrenChanged, "/n".into()),
            (EventType::NodeCreated, "/n/s-0000000002".into()),
            (EventType::NodeChildrenChanged, "/n".into()),
        ]
    );
}

#[test]
fn multi_set_data_result_carries_the_stat_right_after_that_op() {
    let mut h = Harness::new();
    h.create("/d", 0).unwrap();
    let applied = h.multi(vec![
        MultiOp::SetData {
            path: "/d".into(),
            data: None,
            version: -1,
        },
        MultiOp::SetData {
            path: "/d".into(),
            data: None,
            version: 1,
        },
    ]);
    let Ok(Response::Multi(results)) = applied.result else {
        panic!("{:?}", applied.result)
    };
    let versions: Vec<i32> = results
        .iter()
        .map(|r| match r {
            MultiResult::SetData { stat } => stat.version,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(versions, [1, 2]);
}

#[test]
fn multi_create_result_types_and_conversions() {
    let mut h = Harness::new();
    let applied = h.multi(vec![
        create_op(OpCode::Create, "/c4", 4, -1),
        create_op(OpCode::Create2, "/c15", 0, -1),
        create_op(OpCode::CreateContainer, "/c19", 0, -1),
        create_op(OpCode::CreateTtl, "/ttl", 5, 1000),
        create_op(OpCode::CreateTtl, "/plain", 0, 1000),
    ]);
    let Ok(Response::Multi(results)) = applied.result else {
        panic!("{:?}", applied.result)
    };
    assert!(matches!(&results[0], MultiResult::Create2 { path, .. } if path == "/c4"));
    assert!(matches!(&results[1], MultiResult::Create2 { path, .. } if path == "/c15"));
    assert!(matches!(&results[2], MultiResult::Create2 { path, .. } if path == "/c19"));
    assert!(matches!(&results[3], MultiResult::Create2 { path, .. } if path == "/ttl"));
    assert_eq!(
        results[4],
        MultiResult::Create {
            path: "/plain".into()
        },
        "ttl ignored [obs]"
    );
    assert_eq!(
        h.tree.get("/c4").unwrap().kind,
        NodeKind::Container,
        "flags 4 inside multi"
    );
    assert_eq!(h.tree.get("/c15").unwrap().kind, NodeKind::Persistent);
    assert_eq!(h.tree.get("/c19").unwrap().kind, NodeKind::Container);
    assert_eq!(
        h.tree.get("/ttl").unwrap().kind,
        NodeKind::Ttl { ttl_ms: 1000 }
    );
    assert_eq!(h.tree.get("/plain").unwrap().kind, NodeKind::Persistent);
}

#[test]
fn multi_whole_request_marshalling_errors() {
    let mut h = Harness::new();
    for bad in [
        create_op(OpCode::Create, "/x", 5, -1),
        create_op(OpCode::Create2, "/x", 6, -1),
        create_op(OpCode::CreateContainer, "/x", 5, -1),
        create_op(OpCode::Create, "/x", 7, -1),
    ] {
        let applied = h.multi(vec![
            MultiOp::Check {
                path: "/".into(),
                version: -1,
            },
            bad,
        ]);
        assert_eq!(applied.result, Err(ErrorCode::MarshallingError));
    }
}

#[test]
fn multi_ttl_sub_op_errors_are_per_op() {
    let mut h = Harness::new();
    h.config.extended_types_enabled = false;
    let applied = h.multi(vec![create_op(OpCode::CreateTtl, "/x", 5, 100)]);
    assert_eq!(
        applied.result,
        Ok(Response::Multi(vec![MultiResult::Error(
            ErrorCode::Unimplemented
        )]))
    );
    h.config.extended_types_enabled = true;
    let applied = h.multi(vec![
        create_op(OpCode::CreateTtl, "/x", 5, 0),
        MultiOp::Check {
            path: "/".into(),
            version: -1,
        },
    ]);
    assert_eq!(
        applied.result,
        Ok(Response::Multi(vec![
            MultiResult::Error(ErrorCode::BadArguments),
            MultiResult::Error(ErrorCode::RuntimeInconsistency),
        ]))
    );
}

#[test]
fn multi_check_errors() {
    let mut h = Harness::new();
    h.create_full(
        OpCode::Create,
        "/secret",
        0,
        -1,
        Some(acl_of(31, "digest", "bob:hash")),
    )
    .unwrap();
    let codes = |h: &mut Harness, path: &str, version: i32| {
        h.multi(vec![MultiOp::Check {
            path: path.into(),
            version,
        }])
        .result
    };
    let single = |e| Ok(Response::Multi(vec![MultiResult::Error(e)]));
    assert_eq!(codes(&mut h, "/bad/", -1), single(ErrorCode::BadArguments));
    assert_eq!(codes(&mut h, "/missing", -1), single(ErrorCode::NoNode));
    assert_eq!(codes(&mut h, "/secret", 5), single(ErrorCode::NoAuth));
    assert_eq!(
        codes(&mut h, "/zookeeper", 1),
        single(ErrorCode::BadVersion)
    );
    assert_eq!(
        codes(&mut h, "/zookeeper", 0),
        Ok(Response::Multi(vec![MultiResult::Check]))
    );
}

#[test]
fn empty_multi_succeeds_with_no_results() {
    let mut h = Harness::new();
    let applied = h.multi(vec![]);
    assert_eq!(applied.result, Ok(Response::Multi(vec![])));
    assert!(applied.events.is_empty());
}

// ------------------------------------------------- sessions, reconfig, others

#[test]
fn close_session_deletes_its_ephemerals_in_one_txn() {
    let mut h = Harness::new();
    h.create("/p", 0).unwrap();
    h.create("/p/e2", 1).unwrap();
    h.create("/e1", 1).unwrap();
    h.session_id = 99;
    h.create("/other", 1).unwrap();
    h.session_id = SESSION;
    let txn = h.prep(&Request::CloseSession);
    assert_eq!(
        txn,
        Txn::CloseSession {
            session_id: SESSION
        }
    );
    let applied = h.apply(&txn);
    assert_eq!(applied.result, Ok(Response::Empty));
    let zxid = h.tree.last_zxid;
    let kinds: Vec<(EventType, String)> = applied
        .events
        .iter()
        .map(|e| (e.event_type, e.path.to_string()))
        .collect();
    assert_eq!(
        kinds,
        [
            (EventType::NodeDeleted, "/e1".into()),
            (EventType::NodeChildrenChanged, "/".into()),
            (EventType::NodeDeleted, "/p/e2".into()),
            (EventType::NodeChildrenChanged, "/p".into()),
        ]
    );
    assert!(!h.tree.contains("/e1") && !h.tree.contains("/p/e2"));
    assert!(h.tree.contains("/other"));
    assert_eq!(h.stat("/p").pzxid, zxid);
    assert_eq!(h.tree.ephemerals_of(SESSION).count(), 0);
}

#[test]
fn create_session_changes_nothing_but_the_zxid() {
    let mut h = Harness::new();
    let before = h.tree.nodes.clone();
    let applied = h.apply(&Txn::CreateSession {
        session_id: 5,
        timeout_ms: 30_000,
    });
    assert_eq!(
        applied,
        Applied {
            result: Ok(Response::Empty),
            events: vec![]
        }
    );
    assert_eq!(h.tree.nodes, before);
    assert_eq!(h.tree.last_zxid, 1);
}

#[test]
fn reconfig_in_standalone() {
    let mut h = Harness::new();
    let req = Request::Reconfig {
        joining: None,
        leaving: None,
        new_members: None,
        cur_config_id: -1,
    };
    assert_eq!(h.prep(&req), Txn::Error(ErrorCode::ReconfigDisabled));
    h.config.reconfig_enabled = true;
    assert_eq!(h.prep(&req), Txn::Error(ErrorCode::Unimplemented));
}

#[test]
fn non_writes_are_unimplemented() {
    let h = Harness::new();
    assert_eq!(h.prep(&Request::Ping), Txn::Error(ErrorCode::Unimplemented));
    assert_eq!(
        h.prep(&Request::Check {
            path: "/".into(),
            version: -1
        }),
        Txn::Error(ErrorCode::Unimplemented)
    );
    assert_eq!(
        h.prep(&Request::GetData {
            path: "/".into(),
            watch: false
        }),
        Txn::Error(ErrorCode::Unimplemented)
    );
}

#[test]
fn failed_single_write_is_an_error_txn_with_no_effect() {
    let mut h = Harness::new();
    let txn = h.prep(&Request::Delete {
        path: "/missing".into(),
        version: -1,
    });
    assert_eq!(txn, Txn::Error(ErrorCode::NoNode));
    assert!(!txn.changes_tree());
    let applied = h.apply(&txn);
    assert_eq!(
        applied,
        Applied {
            result: Err(ErrorCode::NoNode),
            events: vec![]
        }
    );
}

#[test]
fn prep_resolves_everything_into_the_txn() {
    let mut h = Harness::new();
    h.create("/q", 0).unwrap();
    let req = CreateRequest {
        path: "/q/e-".into(),
        data: Some(b"d".to_vec()),
        acl: Some(Acl::open_unsafe()),
        flags: 3,
        ttl: -1,
    };
    let txn = h.prep(&Request::Create {
        opcode: OpCode::Create2,
        req,
    });
    assert_eq!(
        txn,
        Txn::Create(crate::ops::txn::CreateTxn {
            path: "/q/e-0000000000".into(),
            data: Some(Arc::from(&b"d"[..])),
            acl: Arc::new(Acl::open_unsafe()),
            kind: NodeKind::Ephemeral { owner: SESSION },
            reply: CreateReply::PathAndStat,
        })
    );
    // Applying the same txn to two copies gives identical trees.
    let mut copy = h.tree.clone();
    let a = apply(&mut h.tree, &txn, 10, 77);
    let b = apply(&mut copy, &txn, 10, 77);
    assert_eq!(a, b);
    assert_eq!(h.tree.nodes, copy.nodes);
}

#[test]
#[should_panic(expected = "changed since prep")]
fn applying_a_stale_txn_is_a_bug() {
    let mut h = Harness::new();
    h.create("/a", 0).unwrap();
    let txn = h.prep(&Request::SetData {
        path: "/a".into(),
        data: None,
        version: -1,
    });
    h.apply(&txn);
    h.apply(&txn);
}

// ------------------------------------------------ containers, TTL, reaper

#[test]
fn delete_container_checks() {
    let mut h = Harness::new();
    let delete_container = |h: &mut Harness, path: &str| {
        h.write(Request::DeleteContainer { path: path.into() })
            .result
    };
    assert_eq!(delete_container(&mut h, "/missing"), Err(ErrorCode::NoNode));
    assert_eq!(
        delete_container(&mut h, "/zookeeper/quota"),
        Err(ErrorCode::BadArguments)
    );
    h.create_full(
        OpCode::CreateContainer,
        "/c",
        0,
        -1,
        Some(acl_of(perms::READ, "world", "anyone")),
    )
    .unwrap();
    h.config.skip_acl = true;
    h.create("/c/x", 0).unwrap();
    h.config.skip_acl = false;
    assert_eq!(delete_container(&mut h, "/c"), Err(ErrorCode::NotEmpty));
    h.create("/e", 1).unwrap();
    assert_eq!(delete_container(&mut h, "/e"), Err(ErrorCode::BadVersion));
    h.config.skip_acl = true;
    h.delete("/c/x", -1).unwrap();
    h.config.skip_acl = false;
    // No ACL check: the container only grants READ.
    let applied = h.write(Request::DeleteContainer { path: "/c".into() });
    assert_eq!(applied.result, Ok(Response::Empty));
    assert_eq!(applied.events[0].event_type, EventType::NodeDeleted);
    assert_eq!(applied.events[1].event_type, EventType::NodeChildrenChanged);
    assert!(h.tree.containers_and_ttls.is_empty());
}

#[test]
fn reaper_candidates_follow_container_and_ttl_rules() {
    let mut h = Harness::new();
    let open = || Some(Acl::open_unsafe());
    h.create_full(OpCode::CreateContainer, "/used", 0, -1, open())
        .unwrap(); // zxid 1, t=1000
    h.create("/used/x", 0).unwrap();
    h.create_full(OpCode::CreateContainer, "/never", 0, -1, open())
        .unwrap(); // t=3000
    h.create_full(OpCode::CreateTtl, "/ttl", 5, 500, open())
        .unwrap(); // t=4000
    h.create_full(OpCode::CreateTtl, "/ttlparent", 5, 10, open())
        .unwrap(); // t=5000
    h.create("/ttlparent/c", 0).unwrap();
    h.create("/plain", 0).unwrap();

    // `/used` still has its child; `/ttl` is exactly at its ttl (not past).
    assert!(reaper_candidates(&h.tree, 4500, 0).is_empty());
    let names = |v: Vec<crate::tree::PathKey>| v.iter().map(|p| p.to_string()).collect::<Vec<_>>();
    assert_eq!(names(reaper_candidates(&h.tree, 4501, 0)), ["/ttl"]);
    // Never-used containers only with a non-zero interval, strictly past it.
    assert_eq!(
        names(reaper_candidates(&h.tree, 4000, 1000)),
        Vec::<String>::new()
    );
    assert_eq!(names(reaper_candidates(&h.tree, 4001, 1000)), ["/never"]);
    h.delete("/used/x", -1).unwrap();
    assert_eq!(names(reaper_candidates(&h.tree, 0, 0)), ["/used"]);
    // setData refreshes a TTL node.
    h.set_data("/ttl", None, -1).unwrap();
    let refreshed = h.stat("/ttl").mtime;
    assert_eq!(
        names(reaper_candidates(&h.tree, refreshed + 500, 0)),
        ["/used"]
    );
    assert_eq!(
        names(reaper_candidates(&h.tree, refreshed + 501, 0)),
        ["/ttl", "/used"]
    );
    // The reaper's delete goes through prep and applies.
    for path in reaper_candidates(&h.tree, refreshed + 501, 0) {
        let applied = h.write(Request::DeleteContainer {
            path: path.to_string(),
        });
        assert_eq!(applied.result, Ok(Response::Empty));
    }
    assert!(!h.tree.contains("/ttl") && !h.tree.contains("/used"));
}

#[test]
fn approximate_data_size_tracks_paths_and_data() {
    let mut h = Harness::new();
    let fresh = h.tree.approximate_data_size;
    h.create("/ab", 0).unwrap();
    h.set_data("/ab", Some(b"12345"), -1).unwrap();
    assert_eq!(h.tree.approximate_data_size, fresh + 3 + 5);
    h.delete("/ab", -1).unwrap();
    assert_eq!(h.tree.approximate_data_size, fresh);
}
