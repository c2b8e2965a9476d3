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
    assert_eq!(c.autopurge_purge_interval_hours, 24);
    assert_eq!(c.pre_alloc_size_kib, 16384);
    assert_eq!(c.global_outstanding_max, 5000);
    assert!(c.auth.sasl_provider);
    assert_eq!(
        c.auth.providers.get("1").map(String::as_str),
        Some("org.apache.zookeeper.server.auth.SASLAuthenticationProvider")
    );
    assert_eq!(
        c.auth.super_digest.as_deref(),
        Some("super:D/InIHSb7yEEbrWz8b9l71RjZJU=")
    );
    assert_eq!(c.auth.jaas_config, Some(PathBuf::from("/etc/zk/jaas.conf")));
    assert_eq!(c.auth.require_client_auth_scheme.as_deref(), Some("sasl"));
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
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
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
        text.contains("roost.readConsistency") && text.contains("sequential or linearizable"),
        "{text}"
    );
    assert_invalid(
        &parse_err("roost.readConsistency=\n"),
        "roost.readConsistency",
        1,
    );
}
