use super::*;
use crate::config::Config;
use crate::probe::{ConnectionProbe, ServerProbe};
use std::collections::BTreeSet;

const VERSION: &str = "3.9.3-roost-0.1.0, built on 2026-01-02 03:04 UTC";

fn cons_example_connection() -> ConnectionView {
    // The digest's cons example: queued=0,recved=4,sent=4,sid=0x10000098aff0007,
    // lop=ADDW,est=1795324397721,to=30000,lcxid=0x3,lzxid=0x18,lresp=813119,
    // llat=1,minlat=0,avglat=0,maxlat=1
    let mut p = ConnectionProbe::new(1_795_324_397_721);
    p.session_established(30_000);
    for (op, cxid, lat) in [
        ("SESS", 0, 0),
        ("GETD", 1, 0),
        ("EXIS", 2, 0),
        ("ADDW", 3, 1),
    ] {
        p.packet_received();
        p.request_queued();
        p.request_answered(op, cxid, 0x18, lat, 813_119);
        p.packet_sent();
    }
    ConnectionView {
        remote: "127.0.0.1:43884".parse().unwrap(),
        interest_ops: 1,
        session_id: 0x10000098aff0007,
        expire_at_ms: 1_000_000,
        probe: p,
    }
}

fn four_letter_connection() -> ConnectionView {
    let mut p = ConnectionProbe::new(1_795_324_400_000);
    p.packet_received();
    ConnectionView {
        remote: "127.0.0.1:5555".parse().unwrap(),
        interest_ops: 0,
        session_id: 0,
        expire_at_ms: 1_000_000,
        probe: p,
    }
}

fn sample_view() -> ServerView {
    let mut server = ServerProbe::default();
    server.connection_opened();
    server.connection_opened();
    for (i, lat) in [0u64, 3, 54, 2].into_iter().enumerate() {
        server.packet_received();
        server.request_started();
        server.request_finished(lat);
        if i < 3 {
            server.packet_sent();
        }
    }
    let mut watches = WatchView::default();
    watches.data_watches.insert(
        0x1000006d19a0000,
        BTreeSet::from(["/a".to_string(), "/b".to_string()]),
    );
    watches
        .data_watches
        .insert(0x1000006d19a0001, BTreeSet::from(["/a".to_string()]));
    let config = Config {
        data_dir: "/var/lib/zookeeper".into(),
        data_log_dir: "/var/lib/zookeeper".into(),
        ..Config::default()
    };
    ServerView {
        version: VERSION.to_string(),
        mode: Mode::Standalone,
        zxid: 0x18,
        node_count: 5,
        connections: vec![cons_example_connection(), four_letter_connection()],
        server,
        watches,
        watch_count_total: 4,
        sessions: vec![
            SessionView {
                session_id: 0x1000006d19a0000,
                timeout_ms: 30_000,
                expire_at_ms: 0,
                ephemerals: vec!["/e1".into(), "/e2".into()],
            },
            SessionView {
                session_id: 0x1000006d19a0001,
                timeout_ms: 30_000,
                expire_at_ms: 0,
                ephemerals: vec![],
            },
        ],
        conf: ConfView::from_config(&config),
        env: EnvView {
            host_name: "zk1".into(),
            os_version: "6.1.0".into(),
            user_name: "roost".into(),
            user_home: "/home/roost".into(),
            user_dir: "/srv".into(),
            memory_free_mb: 48,
            memory_max_mb: 1024,
            memory_total_mb: 64,
            ..EnvView::for_roost(VERSION, "0.1.0")
        },
        data_dir_size: 67_108_880,
        log_dir_size: 1234,
        ephemerals_count: 2,
        approximate_data_size: 99,
        open_file_descriptor_count: 40,
        max_file_descriptor_count: 1_048_576,
        global_sessions: 2,
        local_sessions: 0,
        uptime_ms: 5000,
        trace_mask: 306,
        proposal_sizes: None,
        digests: vec![(0x18, 1_234_567_890)],
        extra_metrics: vec![("zk_roost_client_shards".into(), "2".into())],
    }
}

#[test]
fn ruok_isro_gtmk_have_no_newline() {
    let mut v = sample_view();
    assert_eq!(render("ruok", &v), "imok");
    assert_eq!(render("isro", &v), "rw");
    assert_eq!(render("gtmk", &v), "306");
    v.mode = Mode::ReadOnly;
    assert_eq!(render("isro", &v), "ro");
}

#[test]
fn reset_words_and_whitelist() {
    let v = sample_view();
    assert_eq!(render("crst", &v), "Connection stats reset.\n");
    assert_eq!(render("srst", &v), "Server stats reset.\n");
    assert_eq!(
        not_whitelisted("mntr"),
        "mntr is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(render("nope", &v), "");
}

const SRVR_BODY: &str = "\
Latency min/avg/max: 0/14.75/54
Received: 4
Sent: 3
Connections: 2
Outstanding: 0
Zxid: 0x18
Mode: standalone
Node count: 5
";

#[test]
fn srvr_layout() {
    let v = sample_view();
    let expected = format!("Zookeeper version: {VERSION}\n{SRVR_BODY}");
    assert_eq!(render("srvr", &v), expected);
}

#[test]
fn srvr_latency_forms() {
    let mut v = sample_view();
    v.server = ServerProbe::default();
    assert!(render("srvr", &v).contains("Latency min/avg/max: 0/0.0/0\n"));
    // avg rounded to 4 places: 3.1371 as in the digest's example.
    let mut p = ServerProbe::default();
    for lat in [0u64, 54] {
        p.request_finished(lat);
    }
    for _ in 0..9_998 {
        p.request_finished(3);
    }
    let avg = p.latency().avg_ms();
    v.server = p;
    let text = render("srvr", &v);
    assert!(text.contains(&format!(
        "Latency min/avg/max: 0/{}/54\n",
        text::java_double(text::round4(avg))
    )));
    assert_eq!(text::java_double(text::round4(3.137_149)), "3.1371");
}

#[test]
fn srvr_read_only_and_leader_lines() {
    let mut v = sample_view();
    v.mode = Mode::ReadOnly;
    let text = render("srvr", &v);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[1], "READ-ONLY mode; serving only read-only clients");
    assert!(text.contains("Mode: read-only\n"));
    v.mode = Mode::Leader;
    v.proposal_sizes = Some((36, 32, 120));
    let text = render("srvr", &v);
    assert!(text.ends_with("Mode: leader\nNode count: 5\nProposal sizes last/min/max: 36/32/120\n"));
}

#[test]
fn stat_lists_clients_in_brief_form() {
    let v = sample_view();
    let expected = format!(
        "Zookeeper version: {VERSION}\nClients:\n \
         /127.0.0.1:43884[1](queued=0,recved=4,sent=4)\n \
         /127.0.0.1:5555[0](queued=0,recved=1,sent=0)\n\n{SRVR_BODY}"
    );
    assert_eq!(render("stat", &v), expected);
}

#[test]
fn cons_full_form_matches_digest_example() {
    let v = sample_view();
    assert_eq!(
        render("cons", &v),
        " /127.0.0.1:43884[1](queued=0,recved=4,sent=4,sid=0x10000098aff0007,lop=ADDW,est=1795324397721,to=30000,lcxid=0x3,lzxid=0x18,lresp=813119,llat=1,minlat=0,avglat=0,maxlat=1)\n \
         /127.0.0.1:5555[0](queued=0,recved=1,sent=0)\n\n"
    );
}

#[test]
fn cons_after_reset_shows_minus_one_as_java_hex() {
    let mut v = sample_view();
    v.connections.truncate(1);
    v.connections[0].probe.reset();
    assert!(render("cons", &v).contains("lop=NA,est=1795324397721,to=30000,lcxid=0xffffffffffffffff,lzxid=0xffffffffffffffff,lresp=0,llat=0,minlat=0,avglat=0,maxlat=0)"));
}

#[test]
fn mntr_tab_separated_version_and_state_first() {
    let v = sample_view();
    let text = render("mntr", &v);
    let lines: Vec<(&str, &str)> = text
        .lines()
        .map(|l| l.split_once('\t').expect("tab-separated"))
        .collect();
    assert_eq!(lines[0], ("zk_version", VERSION));
    assert_eq!(lines[1], ("zk_server_state", "standalone"));
    let get = |k: &str| lines.iter().find(|(key, _)| *key == k).map(|(_, v)| *v);
    assert_eq!(get("zk_avg_latency"), Some("14.75"));
    assert_eq!(get("zk_max_latency"), Some("54"));
    assert_eq!(get("zk_min_latency"), Some("0"));
    assert_eq!(get("zk_packets_received"), Some("4"));
    assert_eq!(get("zk_packets_sent"), Some("3"));
    assert_eq!(get("zk_num_alive_connections"), Some("2"));
    assert_eq!(get("zk_outstanding_requests"), Some("0"));
    assert_eq!(get("zk_znode_count"), Some("5"));
    assert_eq!(get("zk_watch_count"), Some("4"));
    assert_eq!(get("zk_ephemerals_count"), Some("2"));
    assert_eq!(get("zk_approximate_data_size"), Some("99"));
    assert_eq!(get("zk_open_file_descriptor_count"), Some("40"));
    assert_eq!(get("zk_max_file_descriptor_count"), Some("1048576"));
    assert_eq!(get("zk_global_sessions"), Some("2"));
    assert_eq!(get("zk_local_sessions"), Some("0"));
    assert_eq!(get("zk_uptime"), Some("5000"));
    assert_eq!(lines.last(), Some(&("zk_roost_client_shards", "2")));
    assert!(text.ends_with('\n'));
}

#[test]
fn mntr_avg_latency_is_a_java_double() {
    let mut v = sample_view();
    v.server = ServerProbe::default();
    assert!(render("mntr", &v).contains("zk_avg_latency\t0.0\n"));
}

#[test]
fn envi_version_parses_like_kazoo() {
    let v = sample_view();
    let text = render("envi", &v);
    assert!(text.starts_with("Environment:\nzookeeper.version=3.9.3-roost-0.1.0, built on "));
    // kazoo: find `zookeeper.version=`, take the leading [\d.]*, split on dots.
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("zookeeper.version="))
        .unwrap();
    let leading: String = line
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let parts: Vec<u32> = leading.split('.').map(|p| p.parse().unwrap()).collect();
    assert_eq!(parts, vec![3, 9, 3]);
    let keys: Vec<&str> = text
        .lines()
        .skip(1)
        .map(|l| l.split_once('=').unwrap().0)
        .collect();
    assert_eq!(
        keys,
        vec![
            "zookeeper.version",
            "host.name",
            "java.version",
            "java.vendor",
            "java.home",
            "java.class.path",
            "java.library.path",
            "java.io.tmpdir",
            "java.compiler",
            "os.name",
            "os.arch",
            "os.version",
            "user.name",
            "user.home",
            "user.dir",
            "os.memory.free",
            "os.memory.max",
            "os.memory.total"
        ]
    );
    assert!(text.contains("host.name=zk1\n"));
    assert!(text.ends_with("os.memory.free=48MB\nos.memory.max=1024MB\nos.memory.total=64MB\n"));
}

#[test]
fn version_string_shape() {
    assert_eq!(version_string("0.1.0", "2026-01-02 03:04 UTC"), VERSION);
    assert!(VERSION.starts_with(ZK_COMPAT_VERSION));
}

#[test]
fn conf_standalone() {
    let v = sample_view();
    assert_eq!(
        render("conf", &v),
        "clientPort=2181\nsecureClientPort=-1\ndataDir=/var/lib/zookeeper/version-2\ndataDirSize=67108880\n\
         dataLogDir=/var/lib/zookeeper/version-2\ndataLogSize=1234\ntickTime=2000\nmaxClientCnxns=60\n\
         minSessionTimeout=4000\nmaxSessionTimeout=40000\nclientPortListenBacklog=-1\nserverId=0\n"
    );
}

#[test]
fn conf_quorum_adds_membership() {
    let mut config = Config::parse(
        "initLimit=10\nsyncLimit=5\ndataDir=/d\nserver.1=zk1:2888:3888\nserver.2=zk2:2889:3889;2181\n",
        "zoo.cfg",
    )
    .unwrap();
    config
        .set_my_id(Some("2"), std::path::Path::new("myid"))
        .unwrap();
    let mut v = sample_view();
    v.conf = ConfView::from_config(&config);
    let text = render("conf", &v);
    assert!(text.contains("serverId=2\ninitLimit=10\nsyncLimit=5\nelectionAlg=3\nelectionPort=3889\nquorumPort=2889\npeerType=0\nroost.readConsistency=sequential\nmembership: \n"), "{text}");
    assert!(text.ends_with("server.1=zk1:2888:3888:participant\nserver.2=zk2:2889:3889:participant;0.0.0.0:2181\nversion=0\n"), "{text}");
}

#[test]
fn conf_shows_linearizable_reads_on_a_member() {
    let mut config = Config::parse(
        "initLimit=10\nsyncLimit=5\ndataDir=/d\nserver.1=zk1:2888:3888\nserver.2=zk2:2889:3889\nroost.readConsistency=linearizable\n",
        "zoo.cfg",
    )
    .unwrap();
    config
        .set_my_id(Some("1"), std::path::Path::new("myid"))
        .unwrap();
    let mut v = sample_view();
    v.conf = ConfView::from_config(&config);
    let text = render("conf", &v);
    assert!(
        text.contains("\nroost.readConsistency=linearizable\nmembership: \n"),
        "{text}"
    );
}

#[test]
fn dirs_lines() {
    assert_eq!(
        render("dirs", &sample_view()),
        "datadir_size: 67108880\nlogdir_size: 1234\n"
    );
}

#[test]
fn watch_words() {
    let v = sample_view();
    assert_eq!(
        render("wchs", &v),
        "2 connections watching 2 paths\nTotal watches:3\n\n"
    );
    assert_eq!(
        render("wchc", &v),
        "0x1000006d19a0000\n\t/a\n\t/b\n0x1000006d19a0001\n\t/a\n\n"
    );
    assert_eq!(
        render("wchp", &v),
        "/a\n\t0x1000006d19a0000\n\t0x1000006d19a0001\n/b\n\t0x1000006d19a0000\n\n"
    );
    let empty = ServerView::default();
    assert_eq!(
        render("wchs", &empty),
        "0 connections watching 0 paths\nTotal watches:0\n\n"
    );
    assert_eq!(render("wchc", &empty), "\n");
}

#[test]
fn dump_layout() {
    let v = sample_view();
    let date = "Thu Jan 01 00:16:40 UTC 1970";
    assert_eq!(
        render("dump", &v),
        format!(
            "SessionTracker dump:\nSession Sets (1)/(2):\n2 expire at Thu Jan 01 00:00:00 UTC 1970:\n\
             \t0x1000006d19a0000\n\t0x1000006d19a0001\nephemeral nodes dump:\nSessions with Ephemerals (1):\n\
             0x1000006d19a0000:\n\t/e1\n\t/e2\nConnections dump:\nConnections Sets (1)/(2):\n2 expire at {date}:\n\
             \tip: /127.0.0.1:43884 sessionId: 0x10000098aff0007\n\tip: /127.0.0.1:5555 sessionId: 0x0\n"
        )
    );
}

#[test]
fn hash_lines() {
    assert_eq!(render("hash", &sample_view()), "18: 1234567890\n");
}

#[test]
fn every_known_word_renders() {
    let v = sample_view();
    for word in crate::proto::frame::FOUR_LETTER_WORDS {
        assert!(!render(word, &v).is_empty(), "{word}");
    }
}

/// The log's sync times under ZooKeeper's summary names, in ms, with the
/// average a Java double as ZooKeeper prints it.
#[test]
fn log_sync_times_use_zookeepers_fsynctime_names() {
    let stats = crate::wal::WalStats {
        syncs_timed: 3,
        sync_us_sum: 1_203_000,
        sync_us_min: 500,
        sync_us_max: 1_200_000,
        slow_syncs: 1,
        ..Default::default()
    };
    let m: std::collections::HashMap<String, String> =
        super::gather::log_metrics(&stats).into_iter().collect();
    assert_eq!(m["zk_cnt_fsynctime"], "3");
    assert_eq!(m["zk_min_fsynctime"], "0");
    assert_eq!(m["zk_max_fsynctime"], "1200");
    assert_eq!(m["zk_sum_fsynctime"], "1203");
    assert_eq!(m["zk_avg_fsynctime"], "401.0");
    assert_eq!(m["zk_fsync_threshold_exceed_count"], "1");
    assert_eq!(m["roost_log_sync_max_us"], "1200000");
}
