//! Issue 17: configuration keys that act end to end, on the real binary
//! (the walk over every key of the reference is `src/config/tests.rs`),
//! and `roost serve` taking its file the way zkServer.sh passes it.

mod common;

use common::zk::{client_with_timeout, persistent, rt};
use common::{four_letter, free_port, roost_bin, Server};
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::time::Duration;
use zookeeper_client as zk;

/// Bounded polling (the suite's one way to wait).
fn eventually(secs: u64, what: &str, check: impl FnMut() -> bool) {
    common::wait::until(Duration::from_secs(secs), what, check);
}

fn mntr_value(addr: SocketAddr, key: &str) -> String {
    let text = four_letter(addr, "mntr").unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|v| v.strip_prefix('\t')))
        .unwrap_or_else(|| panic!("{key} missing in mntr:\n{text}"))
        .to_string()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("roost-cfgkeys-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn serve_takes_the_file_positionally_and_refuses_a_file_without_data_dir() {
    let dir = temp_dir("positional");
    let port = free_port();
    let cfg = dir.join("zoo.cfg");
    std::fs::write(
        &cfg,
        format!(
            "dataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=ruok\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(roost_bin())
        .arg("serve")
        .arg(&cfg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    eventually(60, "roost serve FILE answers ruok", || {
        four_letter(addr, "ruok").is_ok_and(|r| r == "imok")
    });
    child.kill().unwrap();
    child.wait().unwrap();

    // No dataDir: refused at once, naming the key, as ZooKeeper refuses.
    let bare = dir.join("bare.cfg");
    std::fs::write(&bare, format!("clientPort={}\n", free_port())).unwrap();
    let out = Command::new(roost_bin())
        .arg("serve")
        .arg(&bare)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "started without dataDir: {stderr}");
    assert!(
        stderr.contains("dataDir") && stderr.contains("required"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `maxCnxns`: a connection beyond the cap is closed at once with nothing
/// sent, and a slot freed by a close is reused.
#[test]
fn max_cnxns_closes_connections_beyond_the_cap() {
    let server = Server::start("maxCnxns=2\nmaxClientCnxns=0");
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(server.addr).unwrap())
        .collect();
    // The server counts a connection when it accepts it: wait until a third
    // is turned away (a four-letter word gets no answer).
    eventually(10, "a third connection is refused", || {
        let mut third = TcpStream::connect(server.addr).unwrap();
        third
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let mut buf = [0u8; 16];
        matches!(third.read(&mut buf), Ok(0))
    });
    assert!(
        server.log().contains("too many connections (maxCnxns"),
        "{}",
        server.log()
    );
    drop(held);
    eventually(10, "a freed slot is reused", || {
        four_letter(server.addr, "ruok").is_ok_and(|r| r == "imok")
    });
}

/// `DigestAuthenticationProvider.enabled=false`: no digest identity can be
/// gained, no digest ACL stored; the server keeps serving.
#[test]
fn a_disabled_digest_provider_refuses_digest_auth_and_acls() {
    let server = Server::start("DigestAuthenticationProvider.enabled=false");
    rt().block_on(async {
        let c = client_with_timeout(&server, Duration::from_secs(10)).await;
        let bob = [zk::Acl::new(
            zk::Permission::ALL,
            zk::AuthId::new("digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0="),
        )];
        let r = c
            .create(
                "/digest-acl",
                b"x",
                &zk::CreateMode::Persistent.with_acls(zk::Acls::new(&bob)),
            )
            .await;
        assert!(matches!(r, Err(zk::Error::InvalidAcl)), "{r:?}");
        c.create("/open", b"x", &persistent()).await.unwrap();
        let r = c.auth("digest".into(), b"bob:secret".to_vec()).await;
        assert!(r.is_err(), "digest auth succeeded: {r:?}");
        let again = client_with_timeout(&server, Duration::from_secs(10)).await;
        let (data, _) = again.get_data("/open").await.unwrap();
        assert_eq!(data, b"x");
    });
}

/// `forceSync=no`: writes are acknowledged without a sync (none counted),
/// the start-up log says what that risks, and a process crash loses
/// nothing (the writes left the process). The sync-time summary that
/// ZooKeeper's dashboards read is there either way.
#[test]
fn force_sync_no_writes_without_syncing_and_survives_a_process_kill() {
    let mut server = Server::start("forceSync=no");
    assert!(server.log().contains("forceSync=no"), "{}", server.log());
    rt().block_on(async {
        let c = client_with_timeout(&server, Duration::from_secs(10)).await;
        for i in 0..20 {
            c.create(&format!("/n{i}"), b"v", &persistent())
                .await
                .unwrap();
        }
    });
    assert_eq!(mntr_value(server.addr, "roost_log_fsyncs"), "0");
    let timed: u64 = mntr_value(server.addr, "zk_cnt_fsynctime").parse().unwrap();
    assert!(timed >= 20, "{timed} flushes timed");
    server.kill_and_restart();
    rt().block_on(async {
        let c = client_with_timeout(&server, Duration::from_secs(10)).await;
        for i in 0..20 {
            assert!(
                c.check_stat(&format!("/n{i}")).await.unwrap().is_some(),
                "/n{i}"
            );
        }
    });
}

/// The sync-time summary under ZooKeeper's names, with syncs on (default).
#[test]
fn mntr_reports_log_sync_times_under_zookeepers_names() {
    let server = Server::start("");
    rt().block_on(async {
        let c = client_with_timeout(&server, Duration::from_secs(10)).await;
        c.create("/synced", b"v", &persistent()).await.unwrap();
    });
    let fsyncs: u64 = mntr_value(server.addr, "roost_log_fsyncs").parse().unwrap();
    let timed: u64 = mntr_value(server.addr, "zk_cnt_fsynctime").parse().unwrap();
    assert!(fsyncs >= 1 && timed >= 1, "fsyncs {fsyncs}, timed {timed}");
    for key in [
        "zk_avg_fsynctime",
        "zk_min_fsynctime",
        "zk_max_fsynctime",
        "zk_sum_fsynctime",
        "zk_fsync_threshold_exceed_count",
    ] {
        mntr_value(server.addr, key);
    }
}

/// `globalOutstandingLimit=1`: every connection waits while one request is
/// unanswered anywhere; pipelined writes from several connections still
/// all complete, in order per connection (no reader stays parked).
#[test]
fn a_global_outstanding_limit_of_one_throttles_without_deadlock() {
    let server = Server::start("globalOutstandingLimit=1");
    rt().block_on(async {
        let mut writers = Vec::new();
        for w in 0..3 {
            let c = client_with_timeout(&server, Duration::from_secs(10)).await;
            writers.push(tokio::spawn(async move {
                let path = format!("/g{w}");
                c.create(&path, b"0", &persistent()).await.unwrap();
                // 100 pipelined setData: all in flight at once from the
                // client's side; the server takes them one at a time.
                let sets: Vec<_> = (1..=100)
                    .map(|i| c.set_data(&path, format!("{i}").as_bytes(), None))
                    .collect();
                let mut last = 0;
                for (i, set) in sets.into_iter().enumerate() {
                    let stat = set.await.unwrap();
                    assert_eq!(stat.version, i as i32 + 1, "in order");
                    last = stat.version;
                }
                last
            }));
        }
        for w in writers {
            let last = tokio::time::timeout(Duration::from_secs(60), w)
                .await
                .expect("pipelined writes stalled under the limit")
                .unwrap();
            assert_eq!(last, 100);
        }
    });
    assert_eq!(mntr_value(server.addr, "zk_outstanding_requests"), "0");
}
