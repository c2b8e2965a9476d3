//! Durability of the real binary: acknowledged writes and sessions survive
//! SIGKILL, recovery from snapshot + log, refusal of a corrupt log, and the
//! operator tools. Crash rounds are seeded and bounded.

mod common;

use common::zk::{client_with_timeout, persistent, rt};
use common::Server;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zookeeper_client as zk;

async fn client(server: &Server) -> zk::Client {
    client_with_timeout(server, Duration::from_secs(4)).await
}

#[test]
fn acknowledged_writes_and_sessions_survive_sigkill() {
    let mut server = Server::start_own("");
    let rt = rt();
    let (before, session) = rt.block_on(async {
        let c = client(&server).await;
        c.create("/d", b"root", &persistent()).await.unwrap();
        c.create("/d/a", b"", &persistent()).await.unwrap();
        c.set_data("/d/a", b"v2", None).await.unwrap();
        let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        c.create("/d/s-", b"", &seq).await.unwrap();
        // A detached session is not closed when this client goes away.
        let owner = zk::Client::connector()
            .session_timeout(Duration::from_secs(4))
            .detached()
            .connect(&server.connect_string())
            .await
            .unwrap();
        let eph = zk::CreateMode::Ephemeral.with_acls(zk::Acls::anyone_all());
        owner.create("/d/eph", b"mine", &eph).await.unwrap();
        let session = owner.session().clone();
        let before = c.get_data("/d/a").await.unwrap();
        (before, session)
    });
    server.kill_and_restart();
    rt.block_on(async {
        let c = client(&server).await;
        let after = c.get_data("/d/a").await.unwrap();
        assert_eq!(
            after, before,
            "data and stat (zxids, times, versions) are recovered exactly"
        );
        assert_eq!(c.get_data("/d").await.unwrap().0, b"root");
        let mut children = c.list_children("/d").await.unwrap();
        children.sort();
        assert_eq!(children, vec!["a", "eph", "s-0000000001"]);
        // The sequence counter carries on where it was.
        let seq = zk::CreateMode::PersistentSequential.with_acls(zk::Acls::anyone_all());
        let (_, n) = c.create("/d/s-", b"", &seq).await.unwrap();
        assert_eq!(
            n.into_i64(),
            3,
            "three children were created before the restart"
        );
        // The session re-attaches with its id and password after the restart,
        // and still owns its ephemeral.
        let owner = tokio::time::timeout(
            Duration::from_secs(10),
            zk::Client::connector()
                .session(session.clone())
                .connect(&server.connect_string()),
        )
        .await
        .expect("re-attach timed out")
        .expect("re-attach after restart");
        assert_eq!(owner.session_id(), session.id());
        let (_, stat) = owner.get_data("/d/eph").await.unwrap();
        assert_eq!(stat.ephemeral_owner, session.id().0);
    });
}

/// Concurrent writers; SIGKILL at a seeded random moment; after each restart
/// every acknowledged create is present with its data, and every node that
/// exists (acknowledged or not) is whole.
#[test]
fn crash_rounds_keep_every_acknowledged_write() {
    let mut server = Server::start_own("");
    let rt = rt();
    let mut seed: u64 = 0x5eed_0c4a_5400_0001;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    const ROUNDS: usize = 6;
    const WRITERS: usize = 8;
    let acked: Arc<Mutex<BTreeMap<String, Vec<u8>>>> = Arc::default();
    rt.block_on(async {
        client(&server)
            .await
            .create("/crash", b"", &persistent())
            .await
            .unwrap();
    });
    for round in 0..ROUNDS {
        let kill_after_ms = 100 + next() % 400;
        rt.block_on(async {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            let mut tasks = Vec::new();
            for w in 0..WRITERS {
                let c = client(&server).await;
                let acked = acked.clone();
                let stop = stop.clone();
                tasks.push(tokio::spawn(async move {
                    let mut i = 0u32;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) && i < 100_000 {
                        let path = format!("/crash/r{round}-w{w}-{i}");
                        let data = format!("{path}:payload").into_bytes();
                        match tokio::time::timeout(
                            Duration::from_secs(2),
                            c.create(&path, &data, &persistent()),
                        )
                        .await
                        {
                            Ok(Ok(_)) => {
                                acked.lock().unwrap().insert(path, data);
                            }
                            _ => break, // the server died: unknown outcome, not acknowledged
                        }
                        i += 1;
                    }
                }));
            }
            tokio::time::sleep(Duration::from_millis(kill_after_ms)).await;
            server.kill();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            for t in tasks {
                let _ = tokio::time::timeout(Duration::from_secs(5), t).await;
            }
        });
        server.restart();
        rt.block_on(async {
            let c = client(&server).await;
            let acked = acked.lock().unwrap().clone();
            assert!(
                !acked.is_empty(),
                "round {round}: writers made progress before the kill"
            );
            let present: std::collections::BTreeSet<String> = c
                .list_children("/crash")
                .await
                .unwrap()
                .into_iter()
                .map(|n| format!("/crash/{n}"))
                .collect();
            for path in acked.keys() {
                assert!(
                    present.contains(path),
                    "round {round}: acknowledged {path} lost after SIGKILL"
                );
            }
            // Nothing half-applied: every node that exists has its full data.
            for path in present
                .iter()
                .filter(|p| p.contains(&format!("/r{round}-")))
            {
                let (data, _) = c.get_data(path).await.unwrap();
                assert_eq!(
                    data,
                    format!("{path}:payload").into_bytes(),
                    "round {round}: {path} is damaged"
                );
            }
            let _ = data_check(&acked, &c).await;
        });
    }
}

async fn data_check(acked: &BTreeMap<String, Vec<u8>>, c: &zk::Client) {
    // Spot-check a bounded sample of acknowledged data from all rounds.
    for (path, data) in acked.iter().step_by((acked.len() / 50).max(1)) {
        assert_eq!(&c.get_data(path).await.unwrap().0, data, "{path}");
    }
}

#[test]
fn recovery_uses_snapshots_and_the_log_after_them() {
    let mut server = Server::start_own("snapCount=40");
    let rt = rt();
    rt.block_on(async {
        let c = client(&server).await;
        c.create("/snap", b"", &persistent()).await.unwrap();
        for i in 0..200 {
            c.create(
                &format!("/snap/n{i}"),
                format!("{i}").as_bytes(),
                &persistent(),
            )
            .await
            .unwrap();
        }
        c.set_data("/snap/n7", b"changed", None).await.unwrap();
    });
    let snapshots = server.dir.join("data/roost-snapshots");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let count = || {
        std::fs::read_dir(&snapshots)
            .map(|d| {
                d.filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| !e.file_name().to_string_lossy().ends_with(".tmp"))
                })
                .count()
            })
            .unwrap_or(0)
    };
    while count() == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(
        count() > 0,
        "snapCount=40 made at least one snapshot; log:\n{}",
        server.log()
    );
    server.kill_and_restart();
    assert!(server.log().contains("recovered"), "{}", server.log());
    rt.block_on(async {
        let c = client(&server).await;
        assert_eq!(c.list_children("/snap").await.unwrap().len(), 200);
        assert_eq!(c.get_data("/snap/n7").await.unwrap().0, b"changed");
        assert_eq!(c.get_data("/snap/n199").await.unwrap().0, b"199");
    });
    // The operator tool reads the snapshot.
    let newest = std::fs::read_dir(&snapshots)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| !p.to_string_lossy().ends_with(".tmp"))
        .max()
        .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["snapshot", "inspect"])
        .arg(&newest)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("verdict: ok"), "{text}");
    assert!(text.contains("/snap/n1"), "{text}");
}

#[test]
fn a_corrupt_log_refuses_to_start_and_says_where() {
    let mut server = Server::start_own("");
    let rt = rt();
    rt.block_on(async {
        let c = client(&server).await;
        for i in 0..50 {
            c.create(&format!("/c{i}"), &[b'x'; 200], &persistent())
                .await
                .unwrap();
        }
    });
    server.kill();
    let wal = server.dir.join("data/roost-wal");
    let dump = std::process::Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["log", "dump"])
        .arg(&wal)
        .output()
        .unwrap();
    assert!(
        dump.status.success(),
        "{}",
        String::from_utf8_lossy(&dump.stderr)
    );
    assert!(
        String::from_utf8_lossy(&dump.stdout).contains("/c49"),
        "log dump lists the records"
    );
    // The first segment in sequence order holds the data; the writer keeps
    // the next one prepared (zero-filled) ahead of time.
    let mut segments: Vec<_> = std::fs::read_dir(&wal)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let segment = segments.first().expect("a log segment").clone();
    // Flip a byte in the middle of acknowledged data (well before the tail).
    let mut bytes = std::fs::read(&segment).unwrap();
    let middle = 64 + 40 * 10 + 2000;
    bytes[middle] ^= 0x5a;
    std::fs::write(&segment, &bytes).unwrap();
    let (status, log) = server.start_expecting_failure();
    assert!(!status.success());
    assert!(log.contains("corrupt"), "{log}");
    assert!(
        log.contains(&segment.file_name().unwrap().to_string_lossy().to_string()),
        "names the file: {log}"
    );
    assert!(log.contains("offset"), "names the offset: {log}");
}
