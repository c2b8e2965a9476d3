use super::*;

/// The sample shipped with Apache ZooKeeper (conf/zoo_sample.cfg), plus the
/// usual production additions.
const APACHE_SAMPLE: &str = "\
# The number of milliseconds of each tick
tickTime=2000
# The number of ticks that the initial
# synchronization phase can take
initLimit=10
# The number of ticks that can pass between
# sending a request and getting an acknowledgement
syncLimit=5
# the directory where the snapshot is stored.
# do not use /tmp for storage, /tmp here is just
# example sakes.
dataDir=/tmp/zookeeper
# the port at which the clients will connect
clientPort=2181
# the maximum number of client connections.
# increase this if you need to handle more clients
#maxClientCnxns=60
#
# Be sure to read the maintenance section of the
# administrator guide before turning on autopurge.
#
# The number of snapshots to retain in dataDir
#autopurge.snapRetainCount=3
# Purge task interval in hours
# Set to \"0\" to disable auto purge feature
#autopurge.purgeInterval=1

## Metrics Providers
#
# https://prometheus.io Metrics Exporter
#metricsProvider.className=org.apache.zookeeper.metrics.prometheus.PrometheusMetricsProvider
#metricsProvider.httpHost=0.0.0.0
#metricsProvider.httpPort=7000
#metricsProvider.exportJvmInfo=true
";

fn parse(text: &str) -> Config {
    Config::parse(text, "zoo.cfg").expect("parses")
}

fn parse_err(text: &str) -> ConfigError {
    match Config::parse(text, "zoo.cfg") {
        Err(e) => e,
        Ok(c) => match c.validate() {
            Err(e) => e,
            Ok(()) => panic!("expected an error for {text:?}"),
        },
    }
}

fn assert_invalid(err: &ConfigError, key: &str, line: usize) {
    match err {
        ConfigError::Invalid {
            file,
            line: l,
            key: k,
            ..
        } => {
            assert_eq!((k.as_str(), *l), (key, line), "{err}");
            assert!(!file.is_empty());
        }
        other => panic!("unexpected {other}"),
    }
}

#[test]
fn apache_sample_parses() {
    let c = parse(APACHE_SAMPLE);
    c.validate().unwrap();
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(c.init_limit_ticks, Some(10));
    assert_eq!(c.sync_limit_ticks, Some(5));
    assert_eq!(c.data_dir, PathBuf::from("/tmp/zookeeper"));
    assert_eq!(c.data_log_dir, PathBuf::from("/tmp/zookeeper"));
    assert_eq!(c.client_port, 2181);
    // A config file without clientPortAddress binds all interfaces.
    assert_eq!(c.client_port_address, "0.0.0.0");
    assert_eq!(c.client_connections_per_ip_max, 60);
    assert_eq!(
        (c.session_timeout_ms_min, c.session_timeout_ms_max),
        (4000, 40000)
    );
    assert!(c.four_letter_words.allows("srvr"));
    assert!(!c.four_letter_words.allows("mntr"));
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    assert!(c.is_standalone());
    assert_eq!(c.server_id(), 0);
    assert_eq!(c.origin.line("dataDir"), 12);
}

#[test]
fn defaults_are_the_no_argument_server() {
    let c = Config::default();
    c.validate().unwrap();
    assert_eq!(c.client_port_address, "127.0.0.1");
    assert_eq!(c.client_port, 2181);
    assert_eq!(c.data_dir, PathBuf::from("./roost-data"));
    assert_eq!(c.data_log_dir, c.data_dir);
    assert_eq!(c.tick_time_ms, 2000);
    assert_eq!(
        (c.session_timeout_ms_min, c.session_timeout_ms_max),
        (4000, 40000)
    );
    assert_eq!(c.jute_buffer_bytes_max, 0xfffff);
    assert_eq!(c.four_letter_words, FourLetterWhitelist::default());
    assert_eq!(c.outstanding_per_connection_max, 1000);
    assert_eq!(c.outbound_buffer_bytes_max, 64 << 20);
    assert_eq!(c.sessionless_connection_timeout_ms, 10_000);
    assert_eq!(c.containers, ContainerReaperConfig::default());
    assert_eq!(c.containers.check_interval_ms, 60_000);
    assert_eq!(c.containers.deletions_per_minute_max, 10_000);
    assert_eq!(c.client_shards, None);
    assert!(c.auth.digest_enabled && c.auth.super_digest.is_none());
    assert!(c.standalone_enabled && !c.skip_acl && !c.reconfig_enabled);
}

#[test]
fn session_bounds_follow_tick_time_in_any_order() {
    let c = parse("minSessionTimeout=-1\ntickTime=500\ndataDir=/d\n");
    assert_eq!(
        (c.session_timeout_ms_min, c.session_timeout_ms_max),
        (1000, 10000)
    );
    let c = parse("tickTime=500\nmaxSessionTimeout=60000\n");
    assert_eq!(
        (c.session_timeout_ms_min, c.session_timeout_ms_max),
        (1000, 60000)
    );
}

#[test]
fn every_key_is_read() {
    let text = "\
dataDir=/var/lib/zk
dataLogDir=/var/log/zk
clientPort=2281
clientPortAddress=10.1.2.3
clientPortListenBacklog=128
maxClientCnxns=0
4lw.commands.whitelist=srvr, mntr ,ruok
extendedTypesEnabled=true
jute.maxbuffer=0x200000
reconfigEnabled=true
skipACL=yes
standaloneEnabled=false
snapCount=1
autopurge.snapRetainCount=5
autopurge.purgeInterval=24
preAllocSize=16384
globalOutstandingLimit=5000
authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider
DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU=
roost.jaasConfig=/etc/zk/jaas.conf
requireClientAuthScheme=sasl
zookeeper.sessionRequireClientSASLAuth=true
enforce.auth.enabled=true
enforce.auth.schemes=sasl, digest
znode.container.checkIntervalMs=1000
znode.container.maxPerMinute=50
znode.container.maxNeverUsedIntervalMs=30000
roost.clientShards=3
roost.cores=0-1,3
roost.logLevel=info,roost::net=debug
roost.outstandingPerConnectionMax=256
roost.outboundBufferMax=33554432
roost.sessionlessConnectionTimeoutMs=5000
roost.maxConnections=2000
";
    let c = parse(text);
    c.validate().unwrap();
    assert_eq!(c.data_log_dir, PathBuf::from("/var/log/zk"));
    assert_eq!(c.client_port, 2281);
    assert_eq!(c.client_port_address, "10.1.2.3");
    assert_eq!(c.client_port_listen_backlog, 128);
    assert_eq!(c.client_connections_per_ip_max, 0);
    assert!(c.four_letter_words.allows("mntr") && c.four_letter_words.allows("ruok"));
    assert!(!c.four_letter_words.allows("dump"));
    assert!(c.extended_types_enabled && c.reconfig_enabled && c.skip_acl);
    assert!(!c.standalone_enabled);
    assert_eq!(c.jute_buffer_bytes_max, 0x200000);
    assert_eq!(c.snap_count, 2, "values below 2 become 2");
    assert_eq!(c.autopurge_snap_retain_count, 5);
    assert_eq!(c.pre_alloc_size_kib, 16384);
    assert_eq!(c.global_outstanding_max, 5000);
    assert_eq!(
        c.auth.super_digest.as_deref(),
        Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
    );
    assert_eq!(c.auth.jaas_config, Some(PathBuf::from("/etc/zk/jaas.conf")));
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("requireClientAuthScheme has no effect")
                && w.contains("sessionRequireClientSASLAuth")),
        "{:?}",
        c.warnings
    );
    assert!(c.auth.session_require_client_sasl_auth && c.auth.enforce_auth_enabled);
    assert_eq!(c.auth.enforce_auth_schemes, vec!["sasl", "digest"]);
    assert_eq!(
        c.containers,
        ContainerReaperConfig {
            check_interval_ms: 1000,
            deletions_per_minute_max: 50,
            never_used_interval_ms: 30000
        }
    );
    assert_eq!(c.client_shards, Some(3));
    assert_eq!(c.cores, Some(vec![0, 1, 3]));
    assert_eq!(c.log_level.as_deref(), Some("info,roost::net=debug"));
    assert_eq!(c.outstanding_per_connection_max, 256);
    assert_eq!(c.outbound_buffer_bytes_max, 32 << 20);
    assert_eq!(c.sessionless_connection_timeout_ms, 5000);
    assert_eq!(c.connections_max, 2000);
    // The one key ZooKeeper does not read either is reported (above).
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
}

#[test]
fn zookeeper_prefixed_spellings_are_accepted() {
    let c = parse(
        "zookeeper.jute.maxbuffer=4194304\nzookeeper.DigestAuthenticationProvider.superDigest=admin:D/InIHSb7yEEbrWz8b9l71RjZJU=\nzookeeper.4lw.commands.whitelist=*\n",
    );
    assert_eq!(c.jute_buffer_bytes_max, 4 << 20);
    assert!(c.auth.super_digest.is_some());
    assert_eq!(c.four_letter_words, FourLetterWhitelist::All);
    assert!(c.four_letter_words.allows("dump"));
    assert_eq!(c.origin.line("jute.maxbuffer"), 1);
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn unknown_keys_and_ignored_keys_warn() {
    let c = parse("dataDir=/d\nfrobnicate=1\nroost.typoKey=2\nsecureClientPort=2182\nadmin.serverPort=8081\nadmin.commandURL=/x\n");
    assert!(
        c.warnings
            .iter()
            .any(|w| w.contains("zoo.cfg:2") && w.contains("frobnicate")),
        "{:?}",
        c.warnings
    );
    assert!(c.warnings.iter().any(|w| w.contains("roost.typoKey")));
    assert!(c.warnings.iter().any(|w| w.contains("secureClientPort")));
    let admin = c
        .warnings
        .iter()
        .filter(|w| w.contains("AdminServer"))
        .count();
    assert_eq!(admin, 1, "admin.* warns once: {:?}", c.warnings);
    c.validate().unwrap();
    // Turning the AdminServer off explicitly needs no warning.
    let c = parse("admin.enableServer=false\n");
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
}

#[test]
fn unknown_whitelist_word_warns() {
    let c = parse("4lw.commands.whitelist=srvr,bogus\n");
    assert!(c.four_letter_words.allows("srvr"));
    assert!(c.warnings.iter().any(|w| w.contains("bogus")));
}

#[test]
fn read_only_mode_whitelists_isro() {
    let c = parse("readonlymode.enabled=true\n");
    assert!(c.four_letter_words.allows("isro"));
}

#[test]
fn bad_integer_names_key_and_line() {
    let err = parse_err("tickTime=2000\n\nclientPort=21x81\n");
    assert_invalid(&err, "clientPort", 3);
    let text = err.to_string();
    assert!(text.starts_with("zoo.cfg:3: clientPort:"), "{text}");
    assert_invalid(&parse_err("maxClientCnxns=-1\n"), "maxClientCnxns", 1);
    assert_invalid(&parse_err("clientPort=70000\n"), "clientPort", 1);
    assert_invalid(&parse_err("clientPort=0\n"), "clientPort", 1);
    assert_invalid(
        &parse_err("x=1\nzookeeper.jute.maxbuffer=big\n"),
        "zookeeper.jute.maxbuffer",
        2,
    );
}

#[test]
fn bad_boolean() {
    assert_invalid(&parse_err("skipACL=maybe\n"), "skipACL", 1);
}

#[test]
fn min_greater_than_max_is_an_error() {
    let err = parse_err("tickTime=2000\nminSessionTimeout=50000\nmaxSessionTimeout=40000\n");
    assert_invalid(&err, "minSessionTimeout", 2);
    assert!(err.to_string().contains("greater than maxSessionTimeout"));
    // Derived max below an explicit min.
    assert_invalid(
        &parse_err("minSessionTimeout=90000\n"),
        "minSessionTimeout",
        1,
    );
}

#[test]
fn zero_tick_time_is_an_error() {
    assert_invalid(&parse_err("tickTime=0\n"), "tickTime", 1);
}

#[test]
fn bad_server_line() {
    let err = parse_err("initLimit=5\nserver.1=zk1:2888\n");
    assert_invalid(&err, "server.1", 2);
    assert_invalid(&parse_err("server.x=zk1:2888:3888\n"), "server.x", 1);
    assert_invalid(&parse_err("server.1=zk1:2888:3888:leader\n"), "server.1", 1);
}

#[test]
fn bad_super_digest() {
    for bad in [
        "super",
        "super:notbase64!",
        "super:c2hvcnQ=",
        ":D/InIHSb7yEEbrWz8b9l71RjZJU=",
    ] {
        let text = format!("DigestAuthenticationProvider.superDigest={bad}\n");
        assert_invalid(
            &parse_err(&text),
            "DigestAuthenticationProvider.superDigest",
            1,
        );
    }
}

#[test]
fn ensemble_identity_keys() {
    let c = parse("roost.ensembleId=prod-eu-1\nroost.sessionSecret=s3cret\n");
    assert_eq!(c.ensemble_id.as_deref(), Some("prod-eu-1"));
    assert_eq!(c.session_secret.as_deref(), Some("s3cret"));
    let d = parse("");
    assert_eq!((d.ensemble_id, d.session_secret), (None, None));
    assert_invalid(&parse_err("roost.ensembleId=\n"), "roost.ensembleId", 1);
}

#[test]
fn bad_roost_limits() {
    assert_invalid(&parse_err("roost.cores=a\n"), "roost.cores", 1);
    assert_invalid(
        &parse_err("roost.clientShards=0\n"),
        "roost.clientShards",
        1,
    );
    assert_invalid(
        &parse_err("roost.outstandingPerConnectionMax=0\n"),
        "roost.outstandingPerConnectionMax",
        1,
    );
    assert_invalid(
        &parse_err("roost.outboundBufferMax=4096\n"),
        "roost.outboundBufferMax",
        1,
    );
    assert_invalid(
        &parse_err("roost.maxConnections=0\n"),
        "roost.maxConnections",
        1,
    );
    assert_invalid(
        &parse_err("roost.sessionlessConnectionTimeoutMs=0\n"),
        "roost.sessionlessConnectionTimeoutMs",
        1,
    );
    assert_invalid(&parse_err("jute.maxbuffer=10\n"), "jute.maxbuffer", 1);
    assert_invalid(
        &parse_err("globalOutstandingLimit=0\n"),
        "globalOutstandingLimit",
        1,
    );
    assert_invalid(
        &parse_err("znode.container.maxPerMinute=0\n"),
        "znode.container.maxPerMinute",
        1,
    );
    assert_invalid(&parse_err("electionAlg=1\n"), "electionAlg", 1);
}

const ENSEMBLE: &str = "\
tickTime=2000
initLimit=10
syncLimit=5
dataDir=/var/lib/zookeeper
server.1=zk1:2888:3888
server.2=zk2:2888:3888;2181
server.3=zk3:2888:3888:observer;10.0.0.3:2182
";

#[test]
fn ensemble_with_myid() {
    let mut c = parse(ENSEMBLE);
    assert_eq!(c.servers.len(), 3);
    assert_eq!(c.servers[2].role, PeerRole::Observer);
    c.set_my_id(Some("3\n"), Path::new("/var/lib/zookeeper/myid"))
        .unwrap();
    c.validate().unwrap();
    assert!(!c.is_standalone());
    assert_eq!(c.server_id(), 3);
    // No clientPort key: the own server line's client part applies.
    assert_eq!(c.client_port, 2182);
    assert_eq!(c.client_port_address, "10.0.0.3");
}

#[test]
fn missing_myid_is_an_error() {
    let mut c = parse(ENSEMBLE);
    let err = c
        .set_my_id(None, Path::new("/var/lib/zookeeper/myid"))
        .unwrap_err();
    assert_eq!(err.key(), "myid");
    assert!(
        err.to_string()
            .starts_with("/var/lib/zookeeper/myid: myid:"),
        "{err}"
    );
    // validate() alone also refuses members without an id.
    assert_eq!(c.validate().unwrap_err().key(), "myid");
}

#[test]
fn invalid_or_unlisted_myid_is_an_error() {
    let mut c = parse(ENSEMBLE);
    let err = c.set_my_id(Some("one"), Path::new("myid")).unwrap_err();
    assert_eq!((err.key(), err.line()), ("myid", 1));
    c.set_my_id(Some("9"), Path::new("myid")).unwrap();
    assert_eq!(c.validate().unwrap_err().key(), "myid");
}

#[test]
fn quorum_needs_init_and_sync_limits() {
    let mut c = parse("dataDir=/d\nserver.1=a:1:2\nserver.2=b:1:2\n");
    c.set_my_id(Some("1"), Path::new("myid")).unwrap();
    assert_eq!(c.validate().unwrap_err().key(), "initLimit");
}

#[test]
fn server_ids_fit_the_session_id_byte() {
    let mut c = parse("initLimit=1\nsyncLimit=1\nserver.255=a:1:2\nserver.1=b:1:2\n");
    c.set_my_id(Some("1"), Path::new("myid")).unwrap();
    c.validate().unwrap();
    c.extended_types_enabled = true;
    let err = c.validate().unwrap_err();
    assert_invalid(&err, "server.255", 3);
    let mut c = parse("server.256=a:1:2\n");
    c.set_my_id(Some("256"), Path::new("myid")).unwrap();
    assert_eq!(c.validate().unwrap_err().key(), "server.256");
}

#[test]
fn load_reads_file_and_myid() {
    let dir = std::env::temp_dir().join(format!("roost-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("zoo.cfg");
    let text = format!(
        "dataDir={}\ninitLimit=5\nsyncLimit=2\nclientPort=2181\nserver.1=a:2888:3888\nserver.2=b:2888:3888\n",
        dir.display()
    );
    std::fs::write(&cfg, text).unwrap();
    let err = Config::load(&cfg).unwrap_err();
    assert_eq!(err.key(), "myid");
    std::fs::write(dir.join("myid"), "2\n").unwrap();
    let c = Config::load(&cfg).unwrap();
    assert_eq!(c.my_id, Some(2));
    assert_eq!(c.origin.file, cfg.display().to_string());
    assert!(matches!(
        Config::load(dir.join("absent.cfg")),
        Err(ConfigError::Io { .. })
    ));
    // A file without dataDir is refused, as ZooKeeper refuses it.
    let bare = dir.join("bare.cfg");
    std::fs::write(&bare, "clientPort=2181\n").unwrap();
    let err = Config::load(&bare).unwrap_err();
    assert_eq!(err.key(), "dataDir");
    assert!(err.to_string().contains("required"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn log_segments_must_hold_the_largest_request() {
    let mut c = Config::parse("preAllocSize=1024\n", "zoo.cfg").unwrap();
    let err = c.validate().unwrap_err();
    assert_eq!(err.key(), "preAllocSize", "{err}");
    assert!(err.to_string().contains("largest request"), "{err}");
    c.pre_alloc_size_kib = 4096;
    c.validate().unwrap();
}

#[test]
fn read_consistency_defaults_to_sequential_and_parses_both_modes() {
    let c = parse("tickTime=2000\n");
    assert_eq!(c.read_consistency, ReadConsistency::Sequential);
    assert!(!c.read_barriers(1) && !c.read_barriers(4));
    let c = parse("roost.readConsistency=linearizable\n");
    assert_eq!(c.read_consistency, ReadConsistency::Linearizable);
    // Standalone with one shard: accepted, but reads need no barrier there;
    // with several shards they pass the core's in-order queue.
    assert!(c.is_standalone());
    assert!(!c.read_barriers(1));
    assert!(c.read_barriers(2));
    let c = parse("roost.readConsistency = Sequential \n");
    assert_eq!(c.read_consistency, ReadConsistency::Sequential);
    // On an ensemble member the barrier is on.
    let mut c = parse(&format!("{ENSEMBLE}roost.readConsistency=linearizable\n"));
    c.set_my_id(Some("1\n"), Path::new("/var/lib/zookeeper/myid"))
        .unwrap();
    c.validate().unwrap();
    assert!(c.read_barriers(1));
}

#[test]
fn bad_read_consistency_names_the_key_and_line() {
    let err = parse_err("tickTime=2000\nroost.readConsistency=strong\n");
    assert_invalid(&err, "roost.readConsistency", 2);
    let text = err.to_string();
    assert!(
        text.contains("roost.readConsistency")
            && text.contains("sequential, linearizable or lease"),
        "{text}"
    );
    assert_invalid(
        &parse_err("roost.readConsistency=\n"),
        "roost.readConsistency",
        1,
    );
}

/// `forceSync`: ZooKeeper's meaning (anything but `no` is yes); `no` turns
/// the log's sync off, with a warning.
#[test]
fn force_sync_no_turns_the_log_sync_off_and_says_so() {
    let c = parse("dataDir=/d\nforceSync=no\n");
    assert!(!c.force_sync);
    assert_eq!(c.wal_config().sync_mode, SyncMode::NoSync);
    assert!(
        c.warnings.iter().any(|w| w.contains("forceSync=no")),
        "{:?}",
        c.warnings
    );
    for yes in ["yes", "true", "YES"] {
        let c = parse(&format!("dataDir=/d\nforceSync={yes}\n"));
        assert!(c.force_sync, "{yes}");
        assert_eq!(c.wal_config().sync_mode, WalConfig::default().sync_mode);
        assert!(c.warnings.is_empty(), "{yes}: {:?}", c.warnings);
    }
}

/// A value different from the default for each key of the configuration
/// reference (`docs/configuration.md`), keyed by the name its table shows.
fn sample_setting(key: &str) -> Option<&'static str> {
    Some(match key {
        "tickTime" => "tickTime=3000",
        "dataDir" => "dataDir=/elsewhere",
        "dataLogDir" => "dataLogDir=/logs",
        "clientPort" => "clientPort=2999",
        "clientPortAddress" => "clientPortAddress=127.0.0.2",
        "clientPortListenBacklog" => "clientPortListenBacklog=64",
        "maxClientCnxns" => "maxClientCnxns=7",
        "minSessionTimeout" => "minSessionTimeout=5000",
        "maxSessionTimeout" => "maxSessionTimeout=50000",
        "4lw.commands.whitelist" => "4lw.commands.whitelist=ruok",
        "extendedTypesEnabled" => "extendedTypesEnabled=true",
        "jute.maxbuffer" => "jute.maxbuffer=2000000",
        "reconfigEnabled" => "reconfigEnabled=true",
        "readonlymode.enabled" => "readonlymode.enabled=true",
        "skipACL" => "skipACL=yes",
        "snapCount" => "snapCount=5000",
        "autopurge.snapRetainCount" => "autopurge.snapRetainCount=7",
        // Any interval > 0 is met (Roost purges after every snapshot); 0,
        // never, is what it cannot do, and says so.
        "autopurge.purgeInterval" => "autopurge.purgeInterval=0",
        "preAllocSize" => "preAllocSize=16384",
        "globalOutstandingLimit" => "globalOutstandingLimit=50",
        "maxCnxns" => "maxCnxns=10",
        "nio.sessionlessCnxnTimeout" => "nio.sessionlessCnxnTimeout=3000",
        "server.N" => "server.1=127.0.0.1:2888:3888",
        "standaloneEnabled" => "standaloneEnabled=false",
        "initLimit" => "initLimit=5",
        "syncLimit" => "syncLimit=2",
        "peerType" => "peerType=observer",
        "electionAlg" => "electionAlg=1",
        "DigestAuthenticationProvider.superDigest" => {
            "DigestAuthenticationProvider.superDigest=super:D/InIHSb7yEEbrWz8b9l71RjZJU="
        }
        "DigestAuthenticationProvider.enabled" => "DigestAuthenticationProvider.enabled=false",
        // ZooKeeper's own classes change nothing (Roost's providers are
        // always there); another class is what there is to report.
        "authProvider.N" => "authProvider.1=com.example.CustomAuthenticationProvider",
        "roost.jaasConfig" => "roost.jaasConfig=/etc/jaas.conf",
        "superUser" => "superUser=admin",
        "requireClientAuthScheme" => "requireClientAuthScheme=sasl",
        "sessionRequireClientSASLAuth" => "sessionRequireClientSASLAuth=true",
        "enforce.auth.enabled" => "enforce.auth.enabled=true",
        "enforce.auth.schemes" => "enforce.auth.schemes=sasl",
        "znode.container.checkIntervalMs" => "znode.container.checkIntervalMs=1000",
        "znode.container.maxPerMinute" => "znode.container.maxPerMinute=5",
        "znode.container.maxNeverUsedIntervalMs" => "znode.container.maxNeverUsedIntervalMs=9",
        "roost.cores" => "roost.cores=0",
        "roost.clientShards" => "roost.clientShards=2",
        "roost.logLevel" => "roost.logLevel=debug",
        "roost.outstandingPerConnectionMax" => "roost.outstandingPerConnectionMax=10",
        "roost.outboundBufferMax" => "roost.outboundBufferMax=9000000",
        "roost.sessionlessConnectionTimeoutMs" => "roost.sessionlessConnectionTimeoutMs=3000",
        "roost.maxConnections" => "roost.maxConnections=10",
        "roost.raftTickMs" => "roost.raftTickMs=20",
        "roost.heartbeatTicks" => "roost.heartbeatTicks=2",
        "roost.electionTicks" => "roost.electionTicks=20",
        "roost.stallToleranceMs" => "roost.stallToleranceMs=2000",
        "roost.sessionSecret" => "roost.sessionSecret=s3cret",
        "roost.quorumSecret" => "roost.quorumSecret=0123456789abcdef",
        "roost.ensembleId" => "roost.ensembleId=prod-a",
        "roost.readConsistency" => "roost.readConsistency=linearizable",
        "forceSync" => "forceSync=no",
        "secureClientPort" => "secureClientPort=2281",
        "sslQuorum" => "sslQuorum=true",
        "quorum.auth.*" => "quorum.auth.enableSasl=true",
        "quorumListenOnAllIPs" => "quorumListenOnAllIPs=true",
        "multiAddress.*" => "multiAddress.enabled=true",
        "dynamicConfigFile" => "dynamicConfigFile=/etc/zoo.dyn",
        "localSessionsEnabled" => "localSessionsEnabled=true",
        "syncEnabled" => "syncEnabled=false",
        "jute.maxbuffer.extrasize" => "jute.maxbuffer.extrasize=1024",
        "metricsProvider.*" => "metricsProvider.className=x.Y",
        "admin.*" => "admin.serverPort=8081",
        _ => return None,
    })
}

/// Issue 17: every key the reference lists either changes the parsed
/// configuration (what the runtime reads; `scripts/check-docs.py` checks
/// that every field is read outside the config module) or is reported at
/// start-up (a warning) or refused (an error). A key that is parsed and
/// silently dropped fails here.
#[test]
fn every_documented_key_has_an_effect_or_a_message() {
    let reference = include_str!("../../docs/configuration.md");
    let keys: Vec<&str> = reference
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .collect();
    assert!(
        keys.len() > 50,
        "the reference's tables were not found: {keys:?}"
    );
    let base_text = "dataDir=/d\n";
    let base = parse(base_text);
    let mut silent = Vec::new();
    for key in keys {
        let setting = sample_setting(key)
            .unwrap_or_else(|| panic!("no sample setting for `{key}`: add one above"));
        match Config::parse(&format!("{base_text}{setting}\n"), "zoo.cfg") {
            Err(_) => {} // refused
            Ok(c) => {
                let changed = Config {
                    warnings: Vec::new(),
                    ..c.clone()
                } != base;
                if !changed && c.warnings.len() <= base.warnings.len() {
                    silent.push(setting);
                }
            }
        }
    }
    assert!(
        silent.is_empty(),
        "parsed with no effect and no message: {silent:?}"
    );
}

/// Issue 17: a setting parsed into the configuration and never read by the
/// server is a key accepted and silently ignored. Every field of `Config`
/// and of its parts must be read somewhere (not only assigned).
#[test]
fn every_config_field_is_read_outside_the_config_module() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mod_rs = std::fs::read_to_string(root.join("src/config/mod.rs")).unwrap();
    let mut fields = Vec::new();
    for name in ["Config", "AuthConfig", "ContainerReaperConfig"] {
        let start = mod_rs
            .find(&format!("pub struct {name} {{"))
            .unwrap_or_else(|| panic!("struct {name} not found"));
        let body = &mod_rs[start..start + mod_rs[start..].find("\n}").unwrap()];
        for line in body.lines() {
            if let Some(rest) = line.trim().strip_prefix("pub ") {
                if let Some((field, _)) = rest.split_once(':') {
                    fields.push((name, field.to_string()));
                }
            }
        }
    }
    assert!(fields.len() > 40, "{fields:?}");
    // Every source but the config tests (the config module's own methods,
    // as `wal_config` or `is_standalone`, count: the runtime calls them).
    let mut sources = String::new();
    let mut dirs = vec![root.join("src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.ends_with("config/tests.rs") {
                continue;
            }
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                sources.push_str(&std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    // A read is `.field` not followed by an assignment (`==` is a read).
    let read = |field: &str| {
        let needle = format!(".{field}");
        sources.match_indices(&needle).any(|(i, _)| {
            let rest = &sources[i + needle.len()..];
            let after = rest.trim_start();
            !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
                && (!after.starts_with('=') || after.starts_with("=="))
        })
    };
    let unread: Vec<_> = fields.iter().filter(|(_, f)| !read(f)).collect();
    assert!(unread.is_empty(), "parsed but never read: {unread:?}");
}
