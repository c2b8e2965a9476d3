//! The plain snapshot the renderers read. The caller (the net layer) builds
//! one by asking each core for copies of its probes and tables; the
//! renderers never touch live state.

use crate::config::{Config, PeerRole};
use crate::probe::ServerProbe;
use std::collections::{BTreeMap, BTreeSet};

/// The ZooKeeper release whose wire behaviour Roost reproduces. Clients such
/// as kazoo read the leading `[\d.]*` of the version to pick features.
pub const ZK_COMPAT_VERSION: &str = "3.9.3";

/// The version text of `srvr`, `stat`, `mntr` and `envi`:
/// `3.9.3-roost-<roost version>, built on <yyyy-MM-dd HH:mm> UTC`.
pub fn version_string(roost_version: &str, built_on: &str) -> String {
    format!("{ZK_COMPAT_VERSION}-roost-{roost_version}, built on {built_on}")
}

/// What the server is doing, as `srvr` prints it after `Mode: `.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Standalone,
    Leader,
    Follower,
    Observer,
    ReadOnly,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Standalone => "standalone",
            Mode::Leader => "leader",
            Mode::Follower => "follower",
            Mode::Observer => "observer",
            Mode::ReadOnly => "read-only",
        }
    }
}

pub use crate::messages::ConnectionView;

/// One session, for `dump`.
/// A value: built by the shard answering a four-letter word; no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SessionView {
    pub session_id: i64,
    pub timeout_ms: u32,
    /// Tick-aligned expiry time (wall ms); sessions sharing it form a bucket.
    pub expire_at_ms: u64,
    /// Paths of the session's ephemeral nodes, in order.
    pub ephemerals: Vec<String>,
}

/// Data and exist watches per session (child watches are not listed by
/// `wchs`/`wchc`/`wchp`, digest §16.2).
/// A value: built by the shard answering a four-letter word; no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct WatchView {
    /// Session id -> watched paths.
    pub data_watches: BTreeMap<i64, BTreeSet<String>>,
}

impl WatchView {
    /// Sessions with at least one data watch.
    pub fn sessions_watching(&self) -> usize {
        self.data_watches.values().filter(|p| !p.is_empty()).count()
    }

    /// Path -> sessions watching it.
    pub fn by_path(&self) -> BTreeMap<&str, BTreeSet<i64>> {
        let mut map: BTreeMap<&str, BTreeSet<i64>> = BTreeMap::new();
        for (sid, paths) in &self.data_watches {
            for path in paths {
                map.entry(path.as_str()).or_default().insert(*sid);
            }
        }
        map
    }

    /// Total (session, path) data watches.
    pub fn total(&self) -> usize {
        self.data_watches.values().map(BTreeSet::len).sum()
    }
}

/// The quorum part of `conf`.
/// A value: built by the shard answering a four-letter word; no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QuorumConfView {
    pub init_limit: u32,
    pub sync_limit: u32,
    pub election_port: u16,
    pub quorum_port: u16,
    /// 0 = participant, 1 = observer (ZooKeeper's LearnerType ordinal).
    pub peer_type: u8,
    /// `server.N=...` lines.
    pub membership: Vec<String>,
    /// Configuration version (printed in hex as `version=`).
    pub config_version: i64,
    /// `roost.readConsistency` (ensemble members only: a standalone
    /// server's reads are linearizable whatever it says).
    pub read_consistency: &'static str,
}

/// What `conf` prints.
/// A value: built by the shard answering a four-letter word; no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConfView {
    pub client_port: u16,
    /// -1: Roost has no TLS port.
    pub secure_client_port: i32,
    /// The snapshot directory, `<dataDir>/version-2`.
    pub data_dir: String,
    /// The log directory, `<dataLogDir>/version-2`.
    pub data_log_dir: String,
    pub tick_time_ms: u32,
    pub max_client_cnxns: u32,
    pub min_session_timeout_ms: u32,
    pub max_session_timeout_ms: u32,
    pub client_port_listen_backlog: i32,
    /// 0 in standalone.
    pub server_id: u64,
    pub quorum: Option<QuorumConfView>,
}

impl ConfView {
    /// The `conf` values of a configuration.
    pub fn from_config(config: &Config) -> ConfView {
        let quorum = if config.is_standalone() {
            None
        } else {
            let me = config.my_server();
            Some(QuorumConfView {
                init_limit: config.init_limit_ticks.unwrap_or(0),
                sync_limit: config.sync_limit_ticks.unwrap_or(0),
                election_port: me.map_or(0, |s| s.election_port),
                quorum_port: me.map_or(0, |s| s.quorum_port),
                peer_type: match me.map_or(config.peer_type, |s| s.role) {
                    PeerRole::Participant => 0,
                    PeerRole::Observer => 1,
                },
                membership: config.servers.iter().map(|s| s.to_string()).collect(),
                config_version: 0,
                read_consistency: config.read_consistency.as_str(),
            })
        };
        ConfView {
            client_port: config.client_port,
            secure_client_port: -1,
            data_dir: config.data_dir.join("version-2").display().to_string(),
            data_log_dir: config.data_log_dir.join("version-2").display().to_string(),
            tick_time_ms: config.tick_time_ms,
            max_client_cnxns: config.client_connections_per_ip_max,
            min_session_timeout_ms: config.session_timeout_ms_min,
            max_session_timeout_ms: config.session_timeout_ms_max,
            client_port_listen_backlog: config.client_port_listen_backlog,
            server_id: config.server_id(),
            quorum,
        }
    }
}

/// What `envi` prints. The `java.*` keys exist because tools expect them;
/// Roost fills them with values that describe itself.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EnvView {
    /// Must start with a 3.9.x version (kazoo parses it); see [`version_string`].
    pub zookeeper_version: String,
    pub host_name: String,
    pub java_version: String,
    pub java_vendor: String,
    pub java_home: String,
    pub java_class_path: String,
    pub java_library_path: String,
    pub java_io_tmpdir: String,
    pub java_compiler: String,
    pub os_name: String,
    pub os_arch: String,
    pub os_version: String,
    pub user_name: String,
    pub user_home: String,
    pub user_dir: String,
    pub memory_free_mb: u64,
    pub memory_max_mb: u64,
    pub memory_total_mb: u64,
}

impl EnvView {
    /// The values known without asking the system. The caller fills
    /// host name, OS version, user, directories and memory.
    pub fn for_roost(zookeeper_version: &str, roost_version: &str) -> EnvView {
        // Java's os.name / os.arch spellings, which scripts compare against.
        let os_name = match std::env::consts::OS {
            "linux" => "Linux",
            "macos" => "Mac OS X",
            "freebsd" => "FreeBSD",
            other => other,
        };
        let os_arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            other => other,
        };
        EnvView {
            zookeeper_version: zookeeper_version.to_string(),
            java_version: format!("none (roost {roost_version}, native)"),
            java_vendor: "Roost".to_string(),
            java_home: "<NA>".to_string(),
            java_class_path: "<NA>".to_string(),
            java_library_path: "<NA>".to_string(),
            java_io_tmpdir: std::env::temp_dir().display().to_string(),
            java_compiler: "<NA>".to_string(),
            os_name: os_name.to_string(),
            os_arch: os_arch.to_string(),
            ..EnvView::default()
        }
    }
}

/// Everything the four-letter words can show, copied at one moment.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ServerView {
    /// Full version text, see [`version_string`].
    pub version: String,
    pub mode: Mode,
    /// Last applied zxid.
    pub zxid: i64,
    pub node_count: u64,
    /// Client connections, including the one asking (`stat` lists it).
    pub connections: Vec<ConnectionView>,
    /// All cores' probes merged ([`ServerProbe::merged`]).
    pub server: ServerProbe,
    pub watches: WatchView,
    /// Data plus child watches (`mntr zk_watch_count`).
    pub watch_count_total: u64,
    pub sessions: Vec<SessionView>,
    pub conf: ConfView,
    pub env: EnvView,
    /// Bytes in the snapshot and log directories (`dirs`, `conf`).
    pub data_dir_size: u64,
    pub log_dir_size: u64,
    pub ephemerals_count: u64,
    pub approximate_data_size: u64,
    pub open_file_descriptor_count: u64,
    pub max_file_descriptor_count: u64,
    pub global_sessions: u64,
    pub local_sessions: u64,
    pub uptime_ms: u64,
    /// `gtmk`/`stmk` trace mask (ZooKeeper's default is 306).
    pub trace_mask: i64,
    /// Leader only: last/min/max proposal sizes.
    pub proposal_sizes: Option<(i64, i64, i64)>,
    /// `hash`: (zxid, tree digest) pairs, oldest first.
    pub digests: Vec<(i64, i64)>,
    /// Extra `mntr` lines after the core keys, printed as given
    /// (names should start with `zk_roost_`).
    pub extra_metrics: Vec<(String, String)>,
}
