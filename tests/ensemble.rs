//! A real 3-member ensemble (three `roost serve` processes on loopback):
//! replication, reads on every member, failover, sessions across failover,
//! restarts, observers. Clients are the third-party `zookeeper-client` crate.

mod common;

use common::ensemble::Ensemble;
use common::zk::{client_at as client, persistent, rt};
use std::time::{Duration, Instant};
use zookeeper_client as zk;

/// Retries `op` for up to 10 s while the ensemble elects (ConnectionLoss and
/// friends are expected then), returning the first success.
async fn eventually<T, F, Fut>(what: &str, op: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, zk::Error>>,
{
    common::wait::retry(Duration::from_secs(10), Duration::from_secs(3), what, op).await
}

#[test]
fn writes_through_any_member_are_read_on_every_member() {
    let e = Ensemble::start(3, 0, "");
    let leader = e.wait_leader();
    let modes: Vec<String> = e.members.iter().map(|m| m.mode().unwrap()).collect();
    assert_eq!(
        modes.iter().filter(|m| *m == "leader").count(),
        1,
        "{modes:?}"
    );
    assert_eq!(
        modes.iter().filter(|m| *m == "follower").count(),
        2,
        "{modes:?}"
    );
    rt().block_on(async {
        let mut clients = Vec::new();
        for m in &e.members {
            clients.push(client(&m.addr.to_string(), Duration::from_secs(4)).await);
        }
        for (i, c) in clients.iter().enumerate() {
            let path = format!("/via-{}", i + 1);
            c.create(&path, format!("from {}", i + 1).as_bytes(), &persistent())
                .await
                .unwrap();
        }
        // Every member serves every write once it has caught up (sync).
        for c in &clients {
            c.sync("/").await.unwrap();
            for i in 1..=3 {
                let (data, stat) = c.get_data(&format!("/via-{i}")).await.unwrap();
                assert_eq!(data, format!("from {i}").as_bytes());
                assert_eq!(stat.version, 0);
            }
        }
        // Versioned updates are ordered across members.
        clients[0].set_data("/via-1", b"v1", Some(0)).await.unwrap();
        assert!(matches!(
            clients[2].set_data("/via-1", b"stale", Some(0)).await,
            Err(zk::Error::BadVersion)
        ));
        // Read-your-writes on a follower without sync: the reply comes after
        // the member applied the write.
        let follower = (1..=3u64).find(|&i| i != leader).unwrap() as usize - 1;
        clients[follower]
            .set_data("/via-2", b"mine", None)
            .await
            .unwrap();
        let (data, _) = clients[follower].get_data("/via-2").await.unwrap();
        assert_eq!(data, b"mine");
    });
    // srvr shows one zxid everywhere once quiet.
    std::thread::sleep(Duration::from_millis(300));
    let zxids: Vec<String> = e
        .members
        .iter()
        .map(|m| {
            common::four_letter(m.addr, "srvr")
                .unwrap()
                .lines()
                .find(|l| l.starts_with("Zxid:"))
                .unwrap()
                .to_string()
        })
        .collect();
    assert!(zxids.iter().all(|z| *z == zxids[0]), "{zxids:?}");
}

#[test]
fn killing_the_leader_keeps_data_sessions_and_ephemerals() {
    let mut e = Ensemble::start(3, 0, "");
    let old = e.wait_leader();
    let follower = (1..=3u64).find(|&i| i != old).unwrap();
    let addr = e.member(follower).addr.to_string();
    rt().block_on(async {
        let c = client(&addr, Duration::from_secs(4)).await;
        c.create("/durable", b"before", &persistent())
            .await
            .unwrap();
        let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        c.create("/eph", b"", &eph).await.unwrap();
        let session = c.session_id();
        e.kill(old);
        // Writes through the surviving member resume with the same session.
        let t0 = Instant::now();
        eventually("write after failover", || {
            c.set_data("/durable", b"after", None)
        })
        .await;
        eprintln!(
            "first write after the leader was killed: {:?}",
            t0.elapsed()
        );
        assert_eq!(c.session_id(), session, "the session must survive failover");
        let new = e.wait_leader();
        assert_ne!(new, old);
        // The ephemeral is still there, seen from the other survivor too.
        let other = (1..=3u64).find(|&i| i != old && i != follower).unwrap();
        let c2 = client(&e.member(other).addr.to_string(), Duration::from_secs(4)).await;
        c2.sync("/").await.unwrap();
        assert!(c2.check_stat("/eph").await.unwrap().is_some());
        let (data, _) = c2.get_data("/durable").await.unwrap();
        assert_eq!(data, b"after");
        // Sessions get fresh deadlines on the new leader: after twice the
        // session timeout of waiting (pings keep flowing), still alive.
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(c2.check_stat("/eph").await.unwrap().is_some());
        // Closing the session removes the ephemeral on every member.
        drop(c);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            c2.sync("/").await.unwrap();
            if c2.check_stat("/eph").await.unwrap().is_none() {
                break;
            }
            assert!(Instant::now() < deadline, "ephemeral outlived its session");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    // The killed member comes back as a follower and catches up.
    e.restart(old);
    rt().block_on(async {
        let c = client(&e.member(old).addr.to_string(), Duration::from_secs(4)).await;
        let (data, _) = eventually("read on the restarted member", || async {
            c.sync("/").await?;
            c.get_data("/durable").await
        })
        .await;
        assert_eq!(data, b"after");
    });
    let mode = e.member(old).mode().unwrap();
    assert_eq!(mode, "follower");
}

/// Creates `parent` and its children `n000`.. `n{count-1}` through one
/// session on the whole ensemble.
async fn create_numbered(e: &Ensemble, parent: &str, count: usize) {
    let c = client(&e.connect_string(), Duration::from_secs(4)).await;
    c.create(parent, b"", &persistent()).await.unwrap();
    for i in 0..count {
        c.create(&format!("{parent}/n{i:03}"), b"x", &persistent())
            .await
            .unwrap();
    }
}

#[test]
fn a_full_restart_recovers_every_acknowledged_write() {
    let mut e = Ensemble::start(3, 0, "");
    rt().block_on(create_numbered(&e, "/r", 50));
    for id in 1..=3 {
        e.kill(id);
    }
    for id in 1..=3 {
        e.restart(id);
    }
    e.wait_leader();
    rt().block_on(async {
        let c = client(&e.member(1).addr.to_string(), Duration::from_secs(4)).await;
        let children = eventually("list after restart", || async {
            c.sync("/").await?;
            c.list_children("/r").await
        })
        .await;
        assert_eq!(children.len(), 50);
    });
}

#[test]
fn a_paused_follower_catches_up_and_the_others_keep_serving() {
    let e = Ensemble::start(3, 0, "");
    let leader = e.wait_leader();
    let paused = (1..=3u64).find(|&i| i != leader).unwrap();
    let other = (1..=3u64).find(|&i| i != leader && i != paused).unwrap();
    e.pause(paused);
    rt().block_on(async {
        let c = client(&e.member(other).addr.to_string(), Duration::from_secs(4)).await;
        c.create("/while-paused", b"", &persistent()).await.unwrap();
        for i in 0..20 {
            c.set_data("/while-paused", format!("{i}").as_bytes(), None)
                .await
                .unwrap();
        }
    });
    e.resume(paused);
    rt().block_on(async {
        let c = client(&e.member(paused).addr.to_string(), Duration::from_secs(4)).await;
        let (data, stat) = eventually("read on the resumed member", || async {
            c.sync("/").await?;
            c.get_data("/while-paused").await
        })
        .await;
        assert_eq!(data, b"19");
        assert_eq!(stat.version, 20);
    });
}

#[test]
fn an_observer_serves_reads_forwards_writes_and_never_leads() {
    let mut e = Ensemble::start(4, 1, "");
    let observer = 4u64;
    assert_eq!(e.member(observer).mode().as_deref(), Some("observer"));
    rt().block_on(async {
        let c = client(&e.member(observer).addr.to_string(), Duration::from_secs(4)).await;
        c.create("/from-observer", b"o", &persistent())
            .await
            .unwrap();
        let (data, _) = c.get_data("/from-observer").await.unwrap();
        assert_eq!(data, b"o");
        // /zookeeper/config shows the membership in ZooKeeper's format.
        let (config, _) = c.get_data("/zookeeper/config").await.unwrap();
        let text = String::from_utf8(config).unwrap();
        assert_eq!(
            text.lines().filter(|l| l.starts_with("server.")).count(),
            4,
            "{text}"
        );
        assert!(text.contains("server.4=127.0.0.1:"), "{text}");
        assert!(
            text.lines()
                .any(|l| l.starts_with("server.4=") && l.ends_with(":observer")),
            "{text}"
        );
        assert!(text.ends_with("version=0"), "{text}");
    });
    // With the leader gone, a voter takes over: never the observer.
    let leader = e.wait_leader();
    e.kill(leader);
    let new = e.wait_leader();
    assert_ne!(new, observer);
    assert_eq!(e.member(observer).mode().as_deref(), Some("observer"));
}

/// reconfig needs it enabled and super (super:test, as kazoo's harness).
const RECONFIG: &str =
    "reconfigEnabled=true\nDigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=\n";

#[test]
fn reconfig_adds_a_real_voter_and_removes_one_and_quorum_follows() {
    let mut e = Ensemble::start(3, 0, RECONFIG);
    let leader = e.wait_leader();
    let (four, spec) = e.start_joining_member(RECONFIG);
    let others: Vec<u64> = (1..=3).filter(|&i| i != leader).collect();
    let (removed, killed) = (others[0], others[1]);
    let rt = rt();
    rt.block_on(async {
        let admin = client(&e.member(leader).addr.to_string(), Duration::from_secs(10)).await;
        admin
            .auth("digest".into(), b"super:test".to_vec())
            .await
            .unwrap();
        let add = zk::EnsembleUpdate::Incremental {
            joinings: vec![spec.as_str()].into_iter(),
            leavings: Vec::new().into_iter(),
        };
        let (data, _) = admin.update_ensemble(add, None).await.unwrap();
        let text = String::from_utf8(data).unwrap();
        assert!(text.contains(&format!("server.{four}=")), "{text}");
    });
    // The new member catches up from the leader and follows.
    let deadline = Instant::now() + Duration::from_secs(30);
    while e.member(four).mode().as_deref() != Some("follower") {
        assert!(
            Instant::now() < deadline,
            "member {four} did not join as a follower:\n{}",
            e.logs()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    rt.block_on(async {
        let on_four = client(&e.member(four).addr.to_string(), Duration::from_secs(10)).await;
        on_four.sync("/").await.unwrap();
        let (config, _) = on_four.get_data("/zookeeper/config").await.unwrap();
        assert!(String::from_utf8(config)
            .unwrap()
            .contains(&format!("server.{four}=")));
        on_four
            .create("/via-four", b"", &persistent())
            .await
            .unwrap();
        let admin = client(&e.member(leader).addr.to_string(), Duration::from_secs(10)).await;
        admin
            .auth("digest".into(), b"super:test".to_vec())
            .await
            .unwrap();
        let removed_id = removed.to_string();
        let leave = zk::EnsembleUpdate::Incremental {
            joinings: Vec::new().into_iter(),
            leavings: vec![removed_id.as_str()].into_iter(),
        };
        let (data, _) = admin.update_ensemble(leave, None).await.unwrap();
        let text = String::from_utf8(data).unwrap();
        assert!(!text.contains(&format!("server.{removed}=")), "{text}");
    });
    // Voters are now {leader, killed, four}. With `removed` and `killed`
    // down, writes still commit only if `four` votes and `removed` no
    // longer counts (with {1,2,3,4} two of four would be no quorum, and
    // without four, one of two).
    e.kill(removed);
    e.kill(killed);
    let connect = format!("{},{}", e.member(leader).addr, e.member(four).addr);
    rt.block_on(async {
        let c = client(&connect, Duration::from_secs(10)).await;
        eventually("write with two of three voters", || {
            c.create("/after-membership-change", b"", &persistent())
        })
        .await;
        let on_four = client(&e.member(four).addr.to_string(), Duration::from_secs(10)).await;
        on_four.sync("/").await.unwrap();
        assert!(on_four
            .check_stat("/after-membership-change")
            .await
            .unwrap()
            .is_some());
        assert!(on_four.check_stat("/via-four").await.unwrap().is_some());
    });
}

#[test]
fn reconfig_adds_and_removes_an_observer_through_raft() {
    // super:test, as kazoo's harness configures it.
    let e = Ensemble::start(3, 0, RECONFIG);
    let joining = "server.100=127.0.0.1:1:2:observer;127.0.0.1:3";
    rt().block_on(async {
        let plain = client(&e.connect_string(), Duration::from_secs(4)).await;
        let add = || zk::EnsembleUpdate::Incremental {
            joinings: vec![joining].into_iter(),
            leavings: Vec::new().into_iter(),
        };
        assert!(
            matches!(
                plain.update_ensemble(add(), None).await,
                Err(zk::Error::NoAuth)
            ),
            "reconfig needs WRITE on /zookeeper/config"
        );
        let admin = client(&e.connect_string(), Duration::from_secs(4)).await;
        admin
            .auth("digest".into(), b"super:test".to_vec())
            .await
            .unwrap();
        let bad = zk::EnsembleUpdate::Incremental {
            joinings: vec!["some thing"].into_iter(),
            leavings: Vec::new().into_iter(),
        };
        assert!(matches!(
            admin.update_ensemble(bad, None).await,
            Err(zk::Error::BadArguments(_))
        ));
        let (data, stat) = admin.update_ensemble(add(), None).await.unwrap();
        let text = String::from_utf8(data).unwrap();
        assert!(text.contains(joining), "{text}");
        assert_eq!(stat.version, -1);
        let version = i64::from_str_radix(text.rsplit("version=").next().unwrap(), 16).unwrap();
        assert_eq!(
            version, stat.mzxid,
            "the config version is the reconfig's zxid"
        );
        // Every member shows the new membership.
        for m in &e.members {
            let c = client(&m.addr.to_string(), Duration::from_secs(4)).await;
            c.sync("/").await.unwrap();
            let (data, _) = c.get_data("/zookeeper/config").await.unwrap();
            assert!(String::from_utf8(data).unwrap().contains(joining));
        }
        // A stale expected version is refused; the right one works.
        let leave = || zk::EnsembleUpdate::Incremental {
            joinings: Vec::new().into_iter(),
            leavings: vec!["100"].into_iter(),
        };
        assert!(matches!(
            admin.update_ensemble(leave(), Some(version + 1)).await,
            Err(zk::Error::BadVersion)
        ));
        let (data, _) = admin.update_ensemble(leave(), Some(version)).await.unwrap();
        let text = String::from_utf8(data).unwrap();
        assert!(!text.contains("server.100"), "{text}");
        // Writes still commit after two membership changes.
        admin
            .create("/after-reconfig", b"", &persistent())
            .await
            .unwrap();
    });
}

#[test]
fn a_member_without_quorum_drops_its_clients_until_a_leader_is_back() {
    let mut e = Ensemble::start(3, 0, "");
    let survivor = 1u64;
    rt().block_on(async {
        let c = client(
            &e.member(survivor).addr.to_string(),
            Duration::from_secs(20),
        )
        .await;
        c.create("/q", b"", &persistent()).await.unwrap();
    });
    e.kill(2);
    e.kill(3);
    // Within a few seconds the lone member stops serving (and must not crash).
    let deadline = Instant::now() + Duration::from_secs(10);
    let refused = loop {
        let ok = rt().block_on(async {
            tokio::time::timeout(
                Duration::from_secs(1),
                zk::Client::connector()
                    .session_timeout(Duration::from_secs(20))
                    .connect(&e.member(survivor).addr.to_string()),
            )
            .await
        });
        if !matches!(ok, Ok(Ok(_))) {
            break true;
        }
        if Instant::now() > deadline {
            break false;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(refused, "a member without a leader must refuse clients");
    assert_eq!(
        common::four_letter(e.member(survivor).addr, "ruok").unwrap(),
        "imok",
        "{}",
        e.logs()
    );
    e.restart(2);
    e.wait_leader();
    rt().block_on(async {
        let c = client(&e.member(survivor).addr.to_string(), Duration::from_secs(4)).await;
        eventually("write once quorum is back", || {
            c.set_data("/q", b"back", None)
        })
        .await;
    });
}

/// Snapshot files in member `id`'s snapshot directory.
fn snapshot_files(e: &Ensemble, id: u64) -> usize {
    std::fs::read_dir(e.member(id).dir.join("data").join("roost-snapshots"))
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|f| {
                    let name = f.file_name().to_string_lossy().into_owned();
                    name.starts_with("snapshot.") && !name.ends_with(".tmp")
                })
                .count()
        })
        .unwrap_or(0)
}

/// Waits up to 10 s for `cond`; the members' logs if it never holds.
fn wait_for(what: &str, e: &Ensemble, cond: impl FnMut() -> bool) {
    common::wait::until_or(Duration::from_secs(10), what, cond, || e.logs());
}

async fn list_on(addr: &str, path: &str) -> Vec<String> {
    let c = client(addr, Duration::from_secs(4)).await;
    eventually("list", || async {
        c.sync("/").await?;
        c.list_children(path).await
    })
    .await
}

#[test]
fn with_snapshots_restarting_one_member_then_all_keeps_every_write() {
    let mut e = Ensemble::start(3, 0, "snapCount=50\n");
    rt().block_on(create_numbered(&e, "/s", 300));
    for id in 1..=3 {
        wait_for(&format!("member {id} wrote no snapshot"), &e, || {
            snapshot_files(&e, id) > 0
        });
    }
    let leader = e.wait_leader();
    let one = (1..=3u64).find(|&i| i != leader).unwrap();
    e.kill(one);
    e.restart(one);
    assert!(
        e.member(one).log().contains("loaded the newest snapshot"),
        "member {one} did not start from its snapshot:\n{}",
        e.member(one).log()
    );
    rt().block_on(async {
        let children = list_on(&e.member(one).addr.to_string(), "/s").await;
        assert_eq!(children.len(), 300);
    });
    for id in 1..=3 {
        e.kill(id);
    }
    for id in 1..=3 {
        e.restart(id);
    }
    e.wait_leader();
    rt().block_on(async {
        for id in 1..=3u64 {
            let children = list_on(&e.member(id).addr.to_string(), "/s").await;
            assert_eq!(children.len(), 300, "member {id}");
        }
        // And the ensemble still takes writes.
        let c = client(&e.connect_string(), Duration::from_secs(4)).await;
        eventually("write after restart", || async {
            c.create("/after-restart", b"", &persistent()).await
        })
        .await;
    });
}

#[test]
fn a_member_stopped_while_the_log_is_compacted_catches_up_by_snapshot() {
    let mut e = Ensemble::start(3, 0, "snapCount=50\n");
    let leader = e.wait_leader();
    let stopped = (1..=3u64).find(|&i| i != leader).unwrap();
    rt().block_on(async {
        let c = client(&e.connect_string(), Duration::from_secs(4)).await;
        c.create("/c", b"", &persistent()).await.unwrap();
    });
    e.kill(stopped);
    rt().block_on(async {
        let c = client(&e.connect_string(), Duration::from_secs(4)).await;
        for i in 0..520 {
            eventually("create while a member is down", || async {
                match c.create(&format!("/c/n{i:03}"), b"y", &persistent()).await {
                    Err(zk::Error::NodeExists) => Ok(()),
                    other => other.map(|_| ()),
                }
            })
            .await;
        }
    });
    wait_for("the leader did not compact its log", &e, || {
        e.member(leader).log().contains("raft log compacted")
    });
    e.restart(stopped);
    rt().block_on(async {
        let children = list_on(&e.member(stopped).addr.to_string(), "/c").await;
        assert_eq!(children.len(), 520);
    });
    assert!(
        e.member(stopped)
            .log()
            .contains("installing a snapshot from the leader"),
        "member {stopped} caught up without a snapshot:\n{}",
        e.member(stopped).log()
    );
    // Its own later restart starts from the received snapshot.
    e.kill(stopped);
    e.restart(stopped);
    rt().block_on(async {
        let children = list_on(&e.member(stopped).addr.to_string(), "/c").await;
        assert_eq!(children.len(), 520);
    });
}

const LINEARIZABLE: &str = "roost.readConsistency=linearizable\n";

/// Awaits one client operation, failing the test after 10 s (bounded).
async fn within<T>(what: &str, op: impl std::future::Future<Output = Result<T, zk::Error>>) -> T {
    match tokio::time::timeout(Duration::from_secs(10), op).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e}"),
        Err(_) => panic!("{what}: no answer in 10 s"),
    }
}

#[test]
fn with_linearizable_reads_a_read_on_a_follower_sees_every_write_acknowledged_before_it() {
    let e = Ensemble::start(3, 0, LINEARIZABLE);
    let leader = e.wait_leader();
    let reader_id = (1..=3u64).find(|&i| i != leader).unwrap();
    for m in &e.members {
        let conf = common::four_letter(m.addr, "conf").unwrap();
        assert!(
            conf.contains("\nroost.readConsistency=linearizable\n"),
            "{conf}"
        );
    }
    rt().block_on(async {
        // Writes acknowledged by the leader (the first to apply them); reads
        // on a follower, which applies them a little later.
        let writer = client(&e.member(leader).addr.to_string(), Duration::from_secs(10)).await;
        let reader = client(
            &e.member(reader_id).addr.to_string(),
            Duration::from_secs(10),
        )
        .await;
        within("create", writer.create("/lin", b"0", &persistent())).await;
        for i in 1..=300u32 {
            let value = i.to_string();
            within("write", writer.set_data("/lin", value.as_bytes(), None)).await;
            let (data, stat) = within("read", reader.get_data("/lin")).await;
            assert_eq!(
                (String::from_utf8_lossy(&data).into_owned(), stat.version),
                (value, i as i32),
                "round {i}: a read after the acknowledged write returned older data"
            );
            // Children and existence go through the same barrier.
            if i % 50 == 0 {
                let path = format!("/lin-{i}");
                within("create child", writer.create(&path, b"", &persistent())).await;
                let stat = within("exists", reader.check_stat(&path)).await;
                assert!(stat.is_some(), "round {i}: {path} not visible");
            }
        }
        // The follower's client pipelines read, write, read, sync, read: each
        // read sees exactly this connection's writes sent before it (the
        // write waits in the member until the first read's barrier passed).
        let r1 = reader.get_data("/lin");
        let w = reader.set_data("/lin", b"piped", None);
        let r2 = reader.get_data("/lin");
        let s = reader.sync("/lin");
        let r3 = reader.check_stat("/lin");
        let (d1, _) = within("r1", r1).await;
        within("w", w).await;
        let (d2, _) = within("r2", r2).await;
        within("sync", s).await;
        let st = within("r3", r3).await.expect("exists");
        assert_eq!((d1.as_slice(), d2.as_slice()), (&b"300"[..], &b"piped"[..]));
        assert_eq!(st.version, 301);
    });
    let mntr = common::four_letter(e.member(reader_id).addr, "mntr").unwrap();
    let metric = |k: &str| -> u64 {
        mntr.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("{k} missing in mntr:\n{mntr}"))
    };
    assert!(metric("roost_read_barriers") >= 309, "{mntr}");
    assert!(metric("roost_read_index_rounds") >= 1, "{mntr}");
}

#[test]
fn with_linearizable_reads_a_resumed_paused_follower_does_not_serve_stale_data() {
    let e = Ensemble::start(3, 0, LINEARIZABLE);
    let leader = e.wait_leader();
    let paused = (1..=3u64).find(|&i| i != leader).unwrap();
    rt().block_on(async {
        let writer = client(&e.member(leader).addr.to_string(), Duration::from_secs(10)).await;
        // Connected before the pause, with a session that outlives it.
        let reader = client(&e.member(paused).addr.to_string(), Duration::from_secs(10)).await;
        within("create", writer.create("/p", b"0", &persistent())).await;
        let (data, _) = within("first read", reader.get_data("/p")).await;
        assert_eq!(data, b"0");
        for round in 1..=3u32 {
            e.pause(paused);
            for i in 0..20u32 {
                let v = format!("{round}-{i}");
                within(
                    "write while paused",
                    writer.set_data("/p", v.as_bytes(), None),
                )
                .await;
            }
            // Sent while the member is frozen: it reaches the server after
            // the writes above were acknowledged, and must see the last.
            let read = tokio::spawn(reader.get_data("/p"));
            tokio::time::sleep(Duration::from_millis(300)).await;
            e.resume(paused);
            let (data, stat) = match tokio::time::timeout(Duration::from_secs(10), read).await {
                Ok(Ok(Ok(v))) => v,
                other => panic!("round {round}: read after resume failed: {other:?}"),
            };
            assert_eq!(
                String::from_utf8_lossy(&data),
                format!("{round}-19"),
                "round {round}: the resumed member served stale data"
            );
            assert_eq!(stat.version, (round * 20) as i32);
        }
    });
}

/// Issue 18, defect 1, as a user met it: a session storm against an
/// ensemble that snapshots every few entries, every member killed -9 in the
/// middle of it and restarted, round after round. A snapshot that held a
/// session whose creation was still in flight made members abort on every
/// restart ("created twice"), and the ensemble lost its quorum for good.
/// Every member must come back every time, and the ensemble must take
/// writes.
#[test]
fn every_member_comes_back_after_kills_in_the_middle_of_a_session_storm() {
    let mut e = Ensemble::start(3, 0, "snapCount=20\n");
    let addrs: Vec<std::net::SocketAddr> = e.members.iter().map(|m| m.addr).collect();
    for round in 1..=5 {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let storm = common::session_storm(addrs.clone(), 8, stop.clone());
        std::thread::sleep(Duration::from_millis(700));
        for id in 1..=3 {
            e.kill(id);
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        let established: u64 = storm.into_iter().map(|t| t.join().unwrap()).sum();
        eprintln!("round {round}: {established} sessions established before the kill");
        for id in 1..=3 {
            e.restart(id);
        }
        e.wait_leader();
        // Members abort a moment after they start, once they replay.
        std::thread::sleep(Duration::from_millis(500));
        let crashed = e.exited();
        assert!(
            crashed.is_empty(),
            "round {round}: members ended after their restart: {crashed:?}\n{}",
            e.logs()
        );
    }
    rt().block_on(async {
        let c = client(&e.connect_string(), Duration::from_secs(4)).await;
        eventually("a write after the storms", || async {
            c.create("/after-storms", b"", &persistent()).await
        })
        .await;
    });
}

/// Issue 11, bounded for the suite: a leader that goes silent (SIGSTOP:
/// its sockets stay open, nothing tells anyone) is replaced at the shipped
/// raft timing by one election, a write goes through a survivor meanwhile,
/// and the resumed old leader rejoins as a follower without disturbing the
/// new one (no further election). Three rounds. The bound on each step is
/// loose (10 s, against 110-150 ms measured by `bench/failover.sh` with
/// FAULT=stop) so that a loaded machine does not fail it; the benchmark
/// measures the time, this checks the behaviour.
#[test]
fn a_silent_leader_is_replaced_by_one_election_and_rejoins_as_a_follower() {
    let e = Ensemble::start(3, 0, "");
    for round in 0..3 {
        let old = e.wait_leader();
        let term = e.member(old).term().expect("the leader answers mntr");
        e.pause(old);
        let survivor_leads = || {
            (1..=3u64)
                .filter(|&i| i != old)
                .find(|&i| e.member(i).mode().as_deref() == Some("leader"))
        };
        wait_for(
            &format!("round {round}: a survivor leads after leader {old} went silent"),
            &e,
            || survivor_leads().is_some(),
        );
        let new = survivor_leads().expect("a survivor leads");
        let new_term = e.member(new).term().unwrap();
        assert_eq!(
            new_term,
            term + 1,
            "round {round}: one election, not {}",
            new_term - term
        );
        rt().block_on(async {
            let c = client(&e.member(new).addr.to_string(), Duration::from_secs(4)).await;
            eventually("a write through the new leader", || async {
                c.create(&format!("/silent-{round}"), b"", &persistent())
                    .await
            })
            .await;
        });
        e.resume(old);
        wait_for(
            &format!("round {round}: the resumed old leader {old} follows"),
            &e,
            || e.member(old).mode().as_deref() == Some("follower"),
        );
        assert_eq!(
            e.wait_leader(),
            new,
            "round {round}: the new leader was disturbed"
        );
        assert_eq!(
            e.member(new).term(),
            Some(new_term),
            "round {round}: another election"
        );
    }
}

/// Issue 18, the staleness window: at the default (sequential) read
/// consistency, a read on a follower right after another session's write
/// was acknowledged on the leader sees it nearly always, as on ZooKeeper
/// (bench/staleness.sh: 0.7% of such reads missed, ZooKeeper 2.5%). When
/// a shard served a request before applying the commits that had already
/// reached it, about half missed. The bound is loose, for a loaded machine
/// that delays the follower at times; the old behaviour fails it.
#[test]
fn a_read_on_a_follower_right_after_another_sessions_write_rarely_misses_it() {
    const ROUNDS: u32 = 600;
    const MISSES_MAX_PERCENT: u32 = 25;
    let e = Ensemble::start(3, 0, "");
    let leader = e.wait_leader();
    let reader_id = (1..=3u64).find(|&i| i != leader).unwrap();
    rt().block_on(async {
        let writer = client(&e.member(leader).addr.to_string(), Duration::from_secs(10)).await;
        let reader = client(
            &e.member(reader_id).addr.to_string(),
            Duration::from_secs(10),
        )
        .await;
        within("create", writer.create("/stale", b"0", &persistent())).await;
        within("sync", reader.sync("/stale")).await;
        let mut misses = 0;
        for i in 1..=ROUNDS {
            let value = i.to_string();
            within("write", writer.set_data("/stale", value.as_bytes(), None)).await;
            let (data, _) = within("read", reader.get_data("/stale")).await;
            if data != value.as_bytes() {
                misses += 1;
            }
        }
        assert!(
            misses * 100 <= ROUNDS * MISSES_MAX_PERCENT,
            "{misses} of {ROUNDS} reads on follower {reader_id} missed the write the leader \
             had just acknowledged to another session"
        );
        eprintln!("{misses} of {ROUNDS} reads missed");
    });
}
