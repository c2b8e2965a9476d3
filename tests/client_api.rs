//! The whole client API driven through a real third-party client library
//! (the `zookeeper-client` crate) against the real `roost` binary.

mod common;

use common::zk::{client_with_timeout, persistent, rt};
use common::Server;
use std::time::Duration;
use zookeeper_client as zk;

async fn client(server: &Server) -> zk::Client {
    client_with_timeout(server, Duration::from_secs(10)).await
}

async fn within<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(10), fut)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[test]
fn create_get_set_delete_with_stats() {
    let server = Server::start("");
    rt().block_on(async {
        let c = client(&server).await;
        let (stat, _) = c.create("/it-crud", b"hello", &persistent()).await.unwrap();
        assert_eq!(stat.version, 0);
        assert_eq!(stat.czxid, stat.mzxid);
        let (data, stat2) = c.get_data("/it-crud").await.unwrap();
        assert_eq!(data, b"hello");
        assert_eq!(stat2.data_length, 5);
        let stat3 = c.set_data("/it-crud", b"world!", Some(0)).await.unwrap();
        assert_eq!(stat3.version, 1);
        assert!(stat3.mzxid > stat3.czxid);
        assert!(matches!(
            c.set_data("/it-crud", b"x", Some(0)).await,
            Err(zk::Error::BadVersion)
        ));
        assert!(matches!(
            c.create("/it-crud", b"", &persistent()).await,
            Err(zk::Error::NodeExists)
        ));
        assert!(matches!(
            c.create("/nope/child", b"", &persistent()).await,
            Err(zk::Error::NoNode)
        ));
        c.create("/it-crud/a", b"", &persistent()).await.unwrap();
        assert!(matches!(
            c.delete("/it-crud", None).await,
            Err(zk::Error::NotEmpty)
        ));
        // cversion = creates + deletes: one create so far.
        let (_, parent) = c.get_children("/it-crud").await.unwrap();
        assert_eq!(parent.cversion, 1);
        assert_eq!(parent.num_children, 1);
        c.delete("/it-crud/a", Some(0)).await.unwrap();
        let (_, parent) = c.get_children("/it-crud").await.unwrap();
        assert_eq!(parent.cversion, 2);
        assert!(parent.pzxid > parent.czxid);
        c.delete("/it-crud", None).await.unwrap();
        assert!(c.check_stat("/it-crud").await.unwrap().is_none());
    });
}

#[test]
fn sequential_nodes_use_the_parent_counter() {
    let server = Server::start("");
    rt().block_on(async {
        let c = client(&server).await;
        c.create("/it-seq", b"", &persistent()).await.unwrap();
        c.create("/it-seq/plain", b"", &persistent()).await.unwrap();
        let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        let (_, n1) = c.create("/it-seq/s-", b"", &seq).await.unwrap();
        let (_, n2) = c.create("/it-seq/s-", b"", &seq).await.unwrap();
        assert_eq!(
            n1.into_i64(),
            1,
            "the earlier plain child advanced the counter"
        );
        assert_eq!(n2.into_i64(), 2);
        let mut children = c.list_children("/it-seq").await.unwrap();
        children.sort();
        assert_eq!(children, vec!["plain", "s-0000000001", "s-0000000002"]);
    });
}

#[test]
fn ephemerals_end_with_their_session() {
    let server = Server::start("");
    rt().block_on(async {
        let owner = client(&server).await;
        let watcher = client(&server).await;
        owner
            .create("/it-eph-parent", b"", &persistent())
            .await
            .unwrap();
        let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        let (stat, _) = owner.create("/it-eph-parent/e", b"", &eph).await.unwrap();
        assert_eq!(stat.ephemeral_owner, owner.session_id().0);
        assert_eq!(
            owner.list_ephemerals("/").await.unwrap(),
            vec!["/it-eph-parent/e".to_string()]
        );
        assert!(matches!(
            owner
                .create("/it-eph-parent/e/child", b"", &persistent())
                .await,
            Err(zk::Error::NoChildrenForEphemerals)
        ));
        let (_, _, w) = watcher
            .get_and_watch_data("/it-eph-parent/e")
            .await
            .unwrap();
        drop(owner); // closes the session
        let ev = within("NodeDeleted", w.changed()).await;
        assert_eq!(ev.event_type, zk::EventType::NodeDeleted);
        assert!(watcher
            .check_stat("/it-eph-parent/e")
            .await
            .unwrap()
            .is_none());
    });
}

#[test]
fn one_shot_and_persistent_watches_fire_in_order() {
    let server = Server::start("");
    rt().block_on(async {
        let c = client(&server).await;
        let other = client(&server).await;
        // exists on a missing node sets a watch that NodeCreated fires.
        let (stat, w) = c.check_and_watch_stat("/it-w").await.unwrap();
        assert!(stat.is_none());
        other.create("/it-w", b"1", &persistent()).await.unwrap();
        assert_eq!(
            within("created", w.changed()).await.event_type,
            zk::EventType::NodeCreated
        );
        // child watch
        let (_, _, cw) = c.get_and_watch_children("/it-w").await.unwrap();
        other.create("/it-w/c", b"", &persistent()).await.unwrap();
        let ev = within("children", cw.changed()).await;
        assert_eq!(ev.event_type, zk::EventType::NodeChildrenChanged);
        assert_eq!(ev.path, "/it-w");
        // persistent recursive watch sees descendants, several times.
        let mut pw = c
            .watch("/it-w", zk::AddWatchMode::PersistentRecursive)
            .await
            .unwrap();
        other.set_data("/it-w/c", b"x", None).await.unwrap();
        let ev = within("recursive 1", pw.changed()).await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (zk::EventType::NodeDataChanged, "/it-w/c")
        );
        other.delete("/it-w/c", None).await.unwrap();
        let ev = within("recursive 2", pw.changed()).await;
        assert_eq!(
            (ev.event_type, ev.path.as_str()),
            (zk::EventType::NodeDeleted, "/it-w/c")
        );
        // A session's own write: the event arrives before the reply, so the
        // watch is already fired when the write returns.
        let (_, _, dw) = c.get_and_watch_data("/it-w").await.unwrap();
        c.set_data("/it-w", b"2", None).await.unwrap();
        let ev = within("own write", dw.changed()).await;
        assert_eq!(ev.event_type, zk::EventType::NodeDataChanged);
    });
}

#[test]
fn multi_is_atomic() {
    let server = Server::start("");
    rt().block_on(async {
        let c = client(&server).await;
        c.create("/it-m", b"", &persistent()).await.unwrap();
        let mut w = c.new_multi_writer();
        w.add_create("/it-m/a", b"", &persistent()).unwrap();
        w.add_delete("/it-m/missing", None).unwrap();
        let err = w.commit().await.unwrap_err();
        match err {
            zk::MultiWriteError::OperationFailed { index, source } => {
                assert_eq!(index, 1);
                assert_eq!(source, zk::Error::NoNode);
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(
            c.check_stat("/it-m/a").await.unwrap().is_none(),
            "nothing of a failed multi is applied"
        );
        let mut w = c.new_multi_writer();
        w.add_create("/it-m/a", b"", &persistent()).unwrap();
        w.add_create("/it-m/a/b", b"", &persistent()).unwrap();
        w.add_set_data("/it-m/a", b"v", None).unwrap();
        w.add_check_version("/it-m/a", 1).unwrap();
        let results = w.commit().await.unwrap();
        assert_eq!(results.len(), 4);
        let (data, stat) = c.get_data("/it-m/a").await.unwrap();
        assert_eq!((data.as_slice(), stat.version), (b"v".as_slice(), 1));
        assert_eq!(stat.czxid, stat.mzxid, "one zxid for the whole multi");
    });
}

#[test]
fn digest_acls_are_enforced() {
    let server = Server::start("");
    rt().block_on(async {
        let bob = client(&server).await;
        bob.auth("digest".into(), b"bob:secret".to_vec())
            .await
            .unwrap();
        let creator_only = zk::CreateMode::Persistent.with_acls(zk::Acls::creator_all());
        bob.create("/it-acl", b"secret", &creator_only)
            .await
            .unwrap();
        let (acl, _) = bob.get_acl("/it-acl").await.unwrap();
        assert_eq!(acl.len(), 1);
        assert_eq!(acl[0].scheme(), "digest");
        assert_eq!(acl[0].id(), "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
        let anon = client(&server).await;
        assert!(matches!(
            anon.get_data("/it-acl").await,
            Err(zk::Error::NoAuth)
        ));
        assert!(matches!(
            anon.set_data("/it-acl", b"x", None).await,
            Err(zk::Error::NoAuth)
        ));
        let users = bob.list_auth_users().await.unwrap();
        assert!(
            users
                .iter()
                .any(|u| u.scheme() == "digest" && u.user() == "bob"),
            "{users:?}"
        );
    });
}

#[test]
fn multi_read_and_counts() {
    let server = Server::start("");
    rt().block_on(async {
        let c = client(&server).await;
        c.create("/it-r", b"d", &persistent()).await.unwrap();
        c.create("/it-r/x", b"", &persistent()).await.unwrap();
        c.create("/it-r/x/y", b"", &persistent()).await.unwrap();
        assert_eq!(c.count_descendants_number("/it-r").await.unwrap(), 2);
        let mut r = c.new_multi_reader();
        r.add_get_data("/it-r").unwrap();
        r.add_get_children("/it-r").unwrap();
        r.add_get_data("/it-r/missing").unwrap();
        let results = r.commit().await.unwrap();
        assert_eq!(results.len(), 3);
        assert!(matches!(
            &results[2],
            zk::MultiReadResult::Error {
                err: zk::Error::NoNode
            }
        ));
        c.sync("/it-r").await.unwrap();
    });
}

#[test]
fn linearizable_reads_on_a_standalone_server_with_two_shards_keep_order_and_see_every_write() {
    // With several shards, reads pass the core's in-order queue: a read on
    // one shard must see a write another shard has already acknowledged.
    let server = Server::start("roost.clientShards=2\nroost.readConsistency=linearizable\n");
    rt().block_on(async {
        let writer = client(&server).await;
        let mut readers = Vec::new();
        for _ in 0..4 {
            readers.push(client(&server).await);
        }
        within("create", writer.create("/lin2", b"0", &persistent()))
            .await
            .unwrap();
        for i in 1..=100u32 {
            let v = i.to_string();
            within("set", writer.set_data("/lin2", v.as_bytes(), None))
                .await
                .unwrap();
            for r in &readers {
                let (data, _) = within("get", r.get_data("/lin2")).await.unwrap();
                assert_eq!(data, v.as_bytes(), "round {i}: stale read");
            }
        }
        // One connection pipelines read, write, read, sync, read: each read
        // sees exactly the writes sent before it.
        let c = &readers[0];
        let r1 = c.get_data("/lin2");
        let w = c.set_data("/lin2", b"piped", None);
        let r2 = c.get_data("/lin2");
        let s = c.sync("/lin2");
        let r3 = c.check_stat("/lin2");
        let (d1, _) = within("r1", r1).await.unwrap();
        within("w", w).await.unwrap();
        let (d2, _) = within("r2", r2).await.unwrap();
        within("sync", s).await.unwrap();
        let st = within("r3", r3).await.unwrap().expect("exists");
        assert_eq!(d1, b"100");
        assert_eq!(d2, b"piped");
        assert_eq!(st.version, 101);
    });
}
