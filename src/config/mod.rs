//! Server configuration: `roost serve --config FILE`, where FILE is an Apache
//! ZooKeeper `zoo.cfg` (digest §18).
//!
//! - [`properties`] reads the Java properties syntax.
//! - [`Config::parse`] turns entries into typed fields (pure).
//! - [`Config::load`] is the only I/O: it reads the file and, when `server.N`
//!   lines are present, `dataDir/myid`.
//! - [`Config::validate`] checks every named limit (`*_max`) and every
//!   cross-key rule in one place.
//!
//! ZooKeeper turns any key its parser does not know into the system property
//! `zookeeper.<key>`. So a zoo.cfg may carry system-property settings either
//! bare (`jute.maxbuffer`) or with the prefix (`zookeeper.jute.maxbuffer`);
//! Roost accepts both spellings for every key it knows. Unknown keys are not
//! errors (ZooKeeper ignores them too) but are collected in
//! [`Config::warnings`] for the caller to log.
//!
//! Ownership: a `Config` is built once at start-up on the main thread, then
//! cloned (read-only) into every core; nothing mutates it afterwards.

pub mod properties;
pub mod server_spec;
pub mod wal;

pub use server_spec::{ClientAddress, PeerRole, ServerSpec};
pub use wal::WalConfig;

use base64::Engine;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use wal::SyncMode;

/// Roost's own keys start with this prefix.
pub const ROOST_PREFIX: &str = "roost.";

/// File name shown in errors about values that did not come from a file.
const DEFAULTS_ORIGIN: &str = "<defaults>";

/// A configuration error. Every invalid value names the file, the line the
/// key was set on (0 when it was not set in the file) and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}{}: {key}: {message}", line_suffix(.line))]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
    #[error("cannot read {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

fn line_suffix(line: &usize) -> String {
    if *line == 0 {
        String::new()
    } else {
        format!(":{line}")
    }
}

impl ConfigError {
    /// The key the error is about (`""` for I/O errors).
    pub fn key(&self) -> &str {
        match self {
            ConfigError::Invalid { key, .. } => key,
            ConfigError::Io { .. } => "",
        }
    }

    /// The line the key was set on (0 when unknown or not from the file).
    pub fn line(&self) -> usize {
        match self {
            ConfigError::Invalid { line, .. } => *line,
            ConfigError::Io { .. } => 0,
        }
    }
}

/// `4lw.commands.whitelist`: which four-letter words may run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FourLetterWhitelist {
    /// `*`: every word.
    All,
    /// Only these words.
    Only(BTreeSet<String>),
}

impl Default for FourLetterWhitelist {
    /// Only `srvr`, as in ZooKeeper (zkServer.sh `status` relies on it).
    fn default() -> Self {
        FourLetterWhitelist::Only(BTreeSet::from(["srvr".to_string()]))
    }
}

impl FourLetterWhitelist {
    /// Parses the comma-separated list. Returns the list and the entries that
    /// are not known words (kept, but worth a warning).
    pub fn parse(value: &str) -> (FourLetterWhitelist, Vec<String>) {
        let words: Vec<&str> = value
            .split(',')
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .collect();
        if words.contains(&"*") {
            return (FourLetterWhitelist::All, Vec::new());
        }
        let unknown = words
            .iter()
            .filter(|w| !crate::proto::frame::FOUR_LETTER_WORDS.contains(w))
            .map(|w| w.to_string())
            .collect();
        let set = words.into_iter().map(str::to_string).collect();
        (FourLetterWhitelist::Only(set), unknown)
    }

    /// May `word` run?
    pub fn allows(&self, word: &str) -> bool {
        match self {
            FourLetterWhitelist::All => true,
            FourLetterWhitelist::Only(set) => set.contains(word),
        }
    }
}

impl fmt::Display for FourLetterWhitelist {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FourLetterWhitelist::All => f.write_str("*"),
            FourLetterWhitelist::Only(set) => {
                let list: Vec<&str> = set.iter().map(String::as_str).collect();
                f.write_str(&list.join(","))
            }
        }
    }
}

/// Authentication settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthConfig {
    /// `DigestAuthenticationProvider.superDigest`: `user:BASE64(SHA1(user:password))`,
    /// checked to have that shape. A digest identity equal to it is the super user.
    pub super_digest: Option<String>,
    /// `DigestAuthenticationProvider.enabled` (default true).
    pub digest_enabled: bool,
    /// `roost.jaasConfig` (or the JVM's `java.security.auth.login.config`):
    /// the JAAS file with the `Server` section for SASL. Stored, read later.
    pub jaas_config: Option<PathBuf>,
    /// `sessionRequireClientSASLAuth`.
    pub session_require_client_sasl_auth: bool,
    /// `enforce.auth.enabled`.
    pub enforce_auth_enabled: bool,
    /// `enforce.auth.schemes`, comma-separated.
    pub enforce_auth_schemes: Vec<String>,
    /// `superUser`: the SASL user who is the super user.
    pub sasl_super_user: Option<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            super_digest: None,
            digest_enabled: true,
            jaas_config: None,
            session_require_client_sasl_auth: false,
            sasl_super_user: None,
            enforce_auth_enabled: false,
            enforce_auth_schemes: Vec::new(),
        }
    }
}

/// Container and TTL node reaper knobs (digest §9.4, §18.3).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ContainerReaperConfig {
    /// `znode.container.checkIntervalMs`: how often candidates are checked.
    pub check_interval_ms: u64,
    /// `znode.container.maxPerMinute`: deletions per minute, so a burst of
    /// empty containers cannot flood the log.
    pub deletions_per_minute_max: u32,
    /// `znode.container.maxNeverUsedIntervalMs`: reap a container that never
    /// had a child after this long; 0 = never.
    pub never_used_interval_ms: u64,
}

impl Default for ContainerReaperConfig {
    fn default() -> Self {
        ContainerReaperConfig {
            check_interval_ms: 60_000,
            deletions_per_minute_max: 10_000,
            never_used_interval_ms: 0,
        }
    }
}

/// Where a configuration came from: the file and the line each key was set
/// on, so [`Config::validate`] can point at the offending line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Origin {
    /// The file name as given (`<defaults>` for [`Config::default`]).
    pub file: String,
    /// Key (canonical spelling, without `zookeeper.`) -> 1-based line.
    pub lines: BTreeMap<String, usize>,
}

impl Origin {
    /// The line `key` was set on, 0 if it was not set.
    pub fn line(&self, key: &str) -> usize {
        self.lines.get(key).copied().unwrap_or(0)
    }
}

/// The whole server configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub origin: Origin,

    // ---- ZooKeeper keys ----
    /// `tickTime`: the base time unit (session bounds, expiry buckets).
    pub tick_time_ms: u32,
    /// `dataDir`: snapshots and `myid`.
    pub data_dir: PathBuf,
    /// `dataLogDir` (default: `dataDir`).
    pub data_log_dir: PathBuf,
    /// `clientPort` (or the own `server.N` client part).
    pub client_port: u16,
    /// `clientPortAddress`: 127.0.0.1 with no config file; 0.0.0.0 (all
    /// interfaces, as ZooKeeper binds) with a file that does not set it.
    /// Host names are kept as text; the network edge resolves them.
    pub client_port_address: String,
    /// `clientPortListenBacklog`; -1 = OS default.
    pub client_port_listen_backlog: i32,
    /// `maxClientCnxns`: concurrent connections per client IP; 0 = unlimited.
    pub client_connections_per_ip_max: u32,
    /// `minSessionTimeout` (default 2 × tickTime).
    pub session_timeout_ms_min: u32,
    /// `maxSessionTimeout` (default 20 × tickTime).
    pub session_timeout_ms_max: u32,
    /// `4lw.commands.whitelist`.
    pub four_letter_words: FourLetterWhitelist,
    /// `extendedTypesEnabled`: TTL nodes.
    pub extended_types_enabled: bool,
    /// `jute.maxbuffer`: largest frame accepted from a client (default 0xfffff).
    /// ZooKeeper ignores it in zoo.cfg (JVM flag only); Roost honours it
    /// because there is no JVM flag to set.
    pub jute_buffer_bytes_max: u32,
    /// `reconfigEnabled`.
    pub reconfig_enabled: bool,
    /// `readonlymode.enabled` (also whitelists `isro`, as ZooKeeper does).
    pub read_only_mode_enabled: bool,
    /// `skipACL` (`yes` disables ACL checks).
    pub skip_acl: bool,
    /// `standaloneEnabled`.
    pub standalone_enabled: bool,
    /// `initLimit`: ticks a follower has to connect and sync (required in quorum).
    pub init_limit_ticks: Option<u32>,
    /// `syncLimit`: ticks a follower may lag (required in quorum).
    pub sync_limit_ticks: Option<u32>,
    /// `snapCount`: transactions between snapshots (values below 2 become 2).
    pub snap_count: u64,
    /// `forceSync` (default yes): no = the log is written but not synced
    /// ([`SyncMode::NoSync`]).
    pub force_sync: bool,
    /// `autopurge.snapRetainCount` (minimum 3).
    pub autopurge_snap_retain_count: u32,
    /// `preAllocSize`: log segment preallocation, KiB.
    pub pre_alloc_size_kib: u64,
    /// `globalOutstandingLimit`: in-flight requests across the server before
    /// reading stops (back-pressure, not an error).
    pub global_outstanding_max: u32,
    /// `peerType` of this server.
    pub peer_type: PeerRole,
    /// `server.N` lines, sorted by id.
    pub servers: Vec<ServerSpec>,
    /// Contents of `dataDir/myid`; read only when `servers` is not empty.
    pub my_id: Option<u64>,
    pub auth: AuthConfig,
    pub containers: ContainerReaperConfig,

    // ---- Roost keys (`roost.` prefix) ----
    /// `roost.clientShards`; `None` = the runtime derives it from the core count.
    pub client_shards: Option<usize>,
    /// `roost.cores`: CPU ids to pin to, e.g. `0,1`; `None` = all.
    pub cores: Option<Vec<usize>>,
    /// `roost.logLevel`: a tracing filter string (e.g. `info,roost::net=debug`).
    pub log_level: Option<String>,
    /// `roost.outstandingPerConnectionMax`: requests in flight on one
    /// connection before its shard stops reading from it. Bounds the memory a
    /// single pipelining client can pin; 1000 matches ZooKeeper's global
    /// default, which no single well-behaved client approaches.
    pub outstanding_per_connection_max: u32,
    /// `roost.outboundBufferMax`: bytes queued to a client that does not read
    /// before the connection is closed. Default 64 MiB: 64 replies of the
    /// largest size a client accepts (jute.maxbuffer, 1 MiB by default) plus
    /// notifications. Reading stops at `outstanding_per_connection_max`, so
    /// only a client that stops reading while watches keep firing can reach
    /// it; ZooKeeper never closes such a client and lets its heap grow instead.
    pub outbound_buffer_bytes_max: usize,
    /// `roost.sessionlessConnectionTimeoutMs` (ZooKeeper's
    /// `nio.sessionlessCnxnTimeout`): a connection that has not completed its
    /// handshake after this long is closed.
    pub sessionless_connection_timeout_ms: u32,
    /// `roost.maxConnections` (ZooKeeper's `maxCnxns` when > 0): client
    /// connections across the whole server. Each costs a descriptor and some
    /// KiB of buffers; the runtime raises RLIMIT_NOFILE to fit it.
    pub connections_max: u32,
    /// `roost.raftTickMs`: one raft tick (ensemble only). Heartbeats go
    /// every `roost.heartbeatTicks` ticks; a follower that hears nothing
    /// (no raft message, no liveness beacon) for a random
    /// [`roost.electionTicks`, 1.5x) ticks campaigns. Defaults 10 ms, 3, 10:
    /// heartbeats every 30 ms, a silent leader replaced after 100-150 ms.
    /// Liveness beacons (every 10 ms, from a thread of their own) keep a
    /// leader whose consensus executor is merely busy from being replaced,
    /// for up to `roost.stallToleranceMs` (docs/replication.md, "Timing").
    pub raft_tick_ms: u32,
    pub raft_heartbeat_ticks: u32,
    pub raft_election_ticks: u32,
    /// `roost.stallToleranceMs`: how long liveness beacons outlast raft's
    /// own signs of health (1000 ms): a consensus executor stalled for less
    /// causes no election; one stopped for longer is replaced.
    pub stall_tolerance_ms: u32,
    /// `roost.sessionSecret`: keys session passwords in an ensemble (must be
    /// the same on every member). Unset: a fixed key (or `roost.ensembleId`),
    /// so passwords are as guessable as ZooKeeper's own, and members that
    /// join later by `reconfig` verify them all the same.
    pub session_secret: Option<String>,
    /// `roost.ensembleId`: members refuse peers that give another one in
    /// their handshake (two ensembles sharing hosts). Not derived from the
    /// member list, which `reconfig` changes and joining members list
    /// differently.
    pub ensemble_id: Option<String>,
    /// `roost.readConsistency`: what a read on this member may observe.
    /// Per server; a no-op on a standalone server (see [`ReadConsistency`]).
    pub read_consistency: ReadConsistency,

    /// Unknown keys and accepted-but-ignored settings, for the caller to log.
    pub warnings: Vec<String>,
}

impl Default for Config {
    /// The server `roost serve` runs with no arguments: 127.0.0.1:2181,
    /// `./roost-data`, tickTime 2000.
    fn default() -> Self {
        let tick_time_ms = 2000;
        Config {
            origin: Origin {
                file: DEFAULTS_ORIGIN.to_string(),
                lines: BTreeMap::new(),
            },
            tick_time_ms,
            data_dir: PathBuf::from("./roost-data"),
            data_log_dir: PathBuf::from("./roost-data"),
            client_port: 2181,
            client_port_address: "127.0.0.1".to_string(),
            client_port_listen_backlog: -1,
            client_connections_per_ip_max: 60,
            session_timeout_ms_min: 2 * tick_time_ms,
            session_timeout_ms_max: 20 * tick_time_ms,
            four_letter_words: FourLetterWhitelist::default(),
            extended_types_enabled: false,
            jute_buffer_bytes_max: 0xfffff,
            reconfig_enabled: false,
            read_only_mode_enabled: false,
            skip_acl: false,
            standalone_enabled: true,
            init_limit_ticks: None,
            sync_limit_ticks: None,
            snap_count: 100_000,
            force_sync: true,
            autopurge_snap_retain_count: 3,
            pre_alloc_size_kib: 65_536,
            global_outstanding_max: 1000,
            peer_type: PeerRole::Participant,
            servers: Vec::new(),
            my_id: None,
            auth: AuthConfig::default(),
            containers: ContainerReaperConfig::default(),
            client_shards: None,
            cores: None,
            log_level: None,
            outstanding_per_connection_max: 1000,
            outbound_buffer_bytes_max: 64 << 20,
            sessionless_connection_timeout_ms: 10_000,
            connections_max: 100_000,
            raft_tick_ms: 10,
            raft_heartbeat_ticks: 3,
            raft_election_ticks: 10,
            stall_tolerance_ms: 1000,
            session_secret: None,
            ensemble_id: None,
            read_consistency: ReadConsistency::Sequential,
            warnings: Vec::new(),
        }
    }
}

/// What a read served by an ensemble member may observe (`roost.readConsistency`).
///
/// A standalone server applies every write before answering anything after
/// it, so its reads are linearizable in both modes and the key changes nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ReadConsistency {
    /// ZooKeeper's contract: reads are served at once from the state this
    /// member has applied, which may lag the leader (sequential consistency
    /// per session; `sync` first for an up-to-date read).
    #[default]
    Sequential,
    /// Every read waits for a raft ReadIndex round started after it arrived
    /// and for this member to apply the index it returns, as `sync` does.
    Linearizable,
    /// As linearizable, but the leader answers reads and syncs from its own
    /// commit index while it holds a check-quorum lease, without a round
    /// per read; followers still ask the leader (docs/replication.md,
    /// "Leader leases"). Every member of the ensemble must use it.
    Lease,
}

impl ReadConsistency {
    /// The zoo.cfg spelling (case-insensitive on input).
    pub fn parse(value: &str) -> Option<ReadConsistency> {
        match value.trim().to_ascii_lowercase().as_str() {
            "sequential" => Some(ReadConsistency::Sequential),
            "linearizable" => Some(ReadConsistency::Linearizable),
            "lease" => Some(ReadConsistency::Lease),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ReadConsistency::Sequential => "sequential",
            ReadConsistency::Linearizable => "linearizable",
            ReadConsistency::Lease => "lease",
        }
    }
}

/// Keys ZooKeeper knows that Roost accepts and ignores, with the reason
/// (reported once per key as a warning).
const IGNORED_KEYS: &[(&str, &str)] = &[
    ("secureClientPort", "TLS client port is not supported"),
    (
        "secureClientPortAddress",
        "TLS client port is not supported",
    ),
    ("sslQuorum", "TLS between members is not supported"),
    ("portUnification", "TLS is not supported"),
    (
        "quorumListenOnAllIPs",
        "members bind the address in server.N",
    ),
    ("dynamicConfigFile", "put server.N lines in zoo.cfg"),
    ("localSessionsEnabled", "all sessions are global in Roost"),
    (
        "localSessionsUpgradingEnabled",
        "all sessions are global in Roost",
    ),
    ("syncEnabled", "observers always log"),
    (
        "requireClientAuthScheme",
        "ZooKeeper 3.8 does not read it either (ZOOKEEPER-2668); to require SASL \
         set sessionRequireClientSASLAuth=true, or enforce.auth.enabled=true with \
         enforce.auth.schemes=sasl",
    ),
    (
        "jute.maxbuffer.extrasize",
        "jute.maxbuffer is the only frame limit",
    ),
];

/// Key prefixes accepted and ignored (quorum TLS/SASL, metrics plug-ins).
const IGNORED_PREFIXES: &[(&str, &str)] = &[
    ("ssl.", "TLS is not supported"),
    ("quorum.auth.", "member-to-member SASL is not supported"),
    ("multiAddress.", "one address per member"),
    ("metricsProvider.", "metrics are exposed through mntr"),
];

/// Provider classes ZooKeeper ships; any other class cannot be loaded.
const KNOWN_PROVIDER_CLASSES: &[&str] = &[
    "org.apache.zookeeper.server.auth.SASLAuthenticationProvider",
    "org.apache.zookeeper.server.auth.DigestAuthenticationProvider",
    "org.apache.zookeeper.server.auth.IPAuthenticationProvider",
];

/// Where one value came from, for error messages.
struct At<'a> {
    file: &'a str,
    line: usize,
    key: &'a str,
}

impl At<'_> {
    fn err(&self, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.file.to_string(),
            line: self.line,
            key: self.key.to_string(),
            message: message.into(),
        }
    }

    /// A decimal (or `0x` hex, as Java's `Integer.decode`) integer that fits `T`.
    fn int<T: TryFrom<i64>>(&self, value: &str) -> Result<T, ConfigError> {
        let parsed = match value
            .strip_prefix("0x")
            .or_else(|| value.strip_prefix("0X"))
        {
            Some(hex) => i64::from_str_radix(hex, 16),
            None => value.parse::<i64>(),
        };
        let number = parsed.map_err(|_| self.err(format!("`{value}` is not an integer")))?;
        T::try_from(number).map_err(|_| self.err(format!("{number} is out of range")))
    }

    /// `true`/`false`, and `yes`/`no` as skipACL uses.
    fn boolean(&self, value: &str) -> Result<bool, ConfigError> {
        match value.to_ascii_lowercase().as_str() {
            "true" | "yes" => Ok(true),
            "false" | "no" => Ok(false),
            _ => Err(self.err(format!("`{value}` is not true/false/yes/no"))),
        }
    }

    fn non_empty<'v>(&self, value: &'v str) -> Result<&'v str, ConfigError> {
        if value.is_empty() {
            Err(self.err("must not be empty"))
        } else {
            Ok(value)
        }
    }
}

/// What the key loop remembers until all keys are seen (later keys may
/// change earlier defaults, e.g. tickTime after minSessionTimeout).
#[derive(Default)]
struct Pending {
    session_timeout_ms_min: Option<u32>,
    session_timeout_ms_max: Option<u32>,
    data_log_dir: Option<PathBuf>,
    client_port_address: Option<String>,
    servers: BTreeMap<u64, ServerSpec>,
    admin_keys: bool,
    admin_disabled: bool,
    ignored_warned: BTreeSet<&'static str>,
}

impl Config {
    /// Reads `path` (a zoo.cfg) and, when it lists `server.N` members,
    /// `dataDir/myid`; then validates. The only I/O in this module.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut config = Config::parse(&text, &path.display().to_string())?;
        // ZooKeeper refuses to start without it; a silent ./roost-data
        // would put the data wherever the server happened to start.
        if !config.origin.lines.contains_key("dataDir") {
            return Err(ConfigError::Invalid {
                file: path.display().to_string(),
                line: 0,
                key: "dataDir".to_string(),
                message: "is required in a configuration file (ZooKeeper refuses to start \
                          without it too); `roost serve` without a file uses ./roost-data"
                    .to_string(),
            });
        }
        if !config.servers.is_empty() {
            let myid_path = config.data_dir.join("myid");
            let contents = match std::fs::read_to_string(&myid_path) {
                Ok(text) => Some(text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(ConfigError::Io {
                        path: myid_path,
                        source,
                    })
                }
            };
            config.set_my_id(contents.as_deref(), &myid_path)?;
        }
        config.validate()?;
        Ok(config)
    }

    /// Parses zoo.cfg text. Pure. Does not read `myid` (see [`Config::set_my_id`])
    /// and does not run [`Config::validate`].
    pub fn parse(text: &str, file: &str) -> Result<Config, ConfigError> {
        let mut config = Config {
            origin: Origin {
                file: file.to_string(),
                lines: BTreeMap::new(),
            },
            ..Config::default()
        };
        let mut pending = Pending::default();
        for property in properties::parse(text) {
            let at = At {
                file,
                line: property.line,
                key: &property.key,
            };
            let mut known = config.apply(&at, &property.key, &property.value, &mut pending)?;
            let mut canonical = property.key.as_str();
            if !known {
                // ZooKeeper maps unknown keys to `zookeeper.<key>`, so the
                // prefixed spelling of a known key means the same thing.
                if let Some(stripped) = property.key.strip_prefix("zookeeper.") {
                    known = config.apply(&at, stripped, &property.value, &mut pending)?;
                    canonical = stripped;
                }
            }
            if known {
                config
                    .origin
                    .lines
                    .insert(canonical.to_string(), property.line);
            } else {
                config.warnings.push(format!(
                    "{file}:{}: unknown key `{}` ignored",
                    property.line, property.key
                ));
            }
        }
        config.finish(pending);
        Ok(config)
    }

    /// Applies one key. Returns false when the key is not known.
    fn apply(
        &mut self,
        at: &At<'_>,
        key: &str,
        value: &str,
        pending: &mut Pending,
    ) -> Result<bool, ConfigError> {
        match key {
            "tickTime" => self.tick_time_ms = at.int(value)?,
            "dataDir" => self.data_dir = PathBuf::from(at.non_empty(value)?),
            "dataLogDir" => pending.data_log_dir = Some(PathBuf::from(at.non_empty(value)?)),
            "clientPort" => {
                self.client_port = at.int(value)?;
                if self.client_port == 0 {
                    return Err(at.err("must be 1..65535"));
                }
            }
            "clientPortAddress" => {
                pending.client_port_address = Some(at.non_empty(value)?.to_string())
            }
            "clientPortListenBacklog" => self.client_port_listen_backlog = at.int(value)?,
            "maxClientCnxns" => self.client_connections_per_ip_max = at.int(value)?,
            // -1 means "derive from tickTime" in ZooKeeper.
            "minSessionTimeout" => {
                pending.session_timeout_ms_min = match at.int::<i64>(value)? {
                    -1 => None,
                    v => Some(at.int(&v.to_string())?),
                }
            }
            "maxSessionTimeout" => {
                pending.session_timeout_ms_max = match at.int::<i64>(value)? {
                    -1 => None,
                    v => Some(at.int(&v.to_string())?),
                }
            }
            "4lw.commands.whitelist" => {
                let (list, unknown) = FourLetterWhitelist::parse(value);
                for word in unknown {
                    self.warnings.push(format!(
                        "{}:{}: 4lw.commands.whitelist: `{word}` is not a four-letter word",
                        at.file, at.line
                    ));
                }
                self.four_letter_words = list;
            }
            "extendedTypesEnabled" => self.extended_types_enabled = at.boolean(value)?,
            "jute.maxbuffer" => self.jute_buffer_bytes_max = at.int(value)?,
            "reconfigEnabled" => self.reconfig_enabled = at.boolean(value)?,
            "readonlymode.enabled" => self.read_only_mode_enabled = at.boolean(value)?,
            "skipACL" => self.skip_acl = at.boolean(value)?,
            "standaloneEnabled" => self.standalone_enabled = at.boolean(value)?,
            "initLimit" => self.init_limit_ticks = Some(at.int(value)?),
            "syncLimit" => self.sync_limit_ticks = Some(at.int(value)?),
            // ZooKeeper raises values below 2 to 2.
            "snapCount" => self.snap_count = at.int::<u64>(value)?.max(2),
            "autopurge.snapRetainCount" => {
                let count: u32 = at.int(value)?;
                if count < 3 {
                    self.warnings.push(format!(
                        "{}:{}: autopurge.snapRetainCount {count} raised to the minimum 3",
                        at.file, at.line
                    ));
                }
                self.autopurge_snap_retain_count = count.max(3);
            }
            "autopurge.purgeInterval" => {
                // Roost purges after every snapshot, which any interval
                // allows; only "never" (0) cannot be had.
                let hours: u32 = at.int(value)?;
                if hours == 0 {
                    self.warnings.push(format!(
                        "{}:{}: autopurge.purgeInterval=0 (never purge) is not available: Roost \
                         purges after every snapshot, keeping autopurge.snapRetainCount ({}) \
                         snapshots and the log they need; raise that count to keep more",
                        at.file, at.line, self.autopurge_snap_retain_count
                    ));
                }
            }
            // ZooKeeper: anything but "no" means yes.
            "forceSync" => {
                self.force_sync = value != "no";
                if !self.force_sync {
                    self.warnings.push(format!(
                        "{}:{}: forceSync=no: log writes are acknowledged without a sync; \
                         a machine that loses power can lose acknowledged writes",
                        at.file, at.line
                    ));
                }
            }
            "preAllocSize" => self.pre_alloc_size_kib = at.int(value)?,
            "globalOutstandingLimit" => self.global_outstanding_max = at.int(value)?,
            "peerType" => {
                self.peer_type = match value.to_ascii_lowercase().as_str() {
                    "participant" => PeerRole::Participant,
                    "observer" => PeerRole::Observer,
                    _ => return Err(at.err("must be participant or observer")),
                }
            }
            "electionAlg" => {
                if at.int::<i64>(value)? != 3 {
                    return Err(at.err("only electionAlg=3 exists (Roost elects with raft)"));
                }
            }
            "maxCnxns" => {
                let max: u32 = at.int(value)?;
                if max > 0 {
                    self.connections_max = max;
                }
            }
            "DigestAuthenticationProvider.superDigest" => {
                self.auth.super_digest = Some(parse_super_digest(value).map_err(|m| at.err(m))?)
            }
            "DigestAuthenticationProvider.enabled" => {
                self.auth.digest_enabled = at.boolean(value)?
            }
            "roost.jaasConfig" | "java.security.auth.login.config" => {
                self.auth.jaas_config = Some(PathBuf::from(at.non_empty(value)?))
            }
            "superUser" => self.auth.sasl_super_user = Some(at.non_empty(value)?.to_string()),
            "sessionRequireClientSASLAuth" => {
                self.auth.session_require_client_sasl_auth = at.boolean(value)?
            }
            "enforce.auth.enabled" => self.auth.enforce_auth_enabled = at.boolean(value)?,
            "enforce.auth.schemes" => {
                self.auth.enforce_auth_schemes = value
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            }
            "znode.container.checkIntervalMs" => {
                self.containers.check_interval_ms = at.int(value)?
            }
            "znode.container.maxPerMinute" => {
                self.containers.deletions_per_minute_max = at.int(value)?
            }
            "znode.container.maxNeverUsedIntervalMs" => {
                self.containers.never_used_interval_ms = at.int(value)?
            }
            "roost.clientShards" => self.client_shards = Some(at.int(value)?),
            "roost.cores" => self.cores = Some(parse_cores(value).map_err(|m| at.err(m))?),
            "roost.logLevel" => self.log_level = Some(at.non_empty(value)?.to_string()),
            "roost.outstandingPerConnectionMax" => {
                self.outstanding_per_connection_max = at.int(value)?
            }
            "roost.outboundBufferMax" => self.outbound_buffer_bytes_max = at.int(value)?,
            "roost.sessionlessConnectionTimeoutMs" | "nio.sessionlessCnxnTimeout" => {
                self.sessionless_connection_timeout_ms = at.int(value)?
            }
            "roost.maxConnections" => self.connections_max = at.int(value)?,
            "roost.raftTickMs" => self.raft_tick_ms = at.int(value)?,
            "roost.heartbeatTicks" => self.raft_heartbeat_ticks = at.int(value)?,
            "roost.electionTicks" => self.raft_election_ticks = at.int(value)?,
            "roost.stallToleranceMs" => self.stall_tolerance_ms = at.int(value)?,
            "roost.sessionSecret" => self.session_secret = Some(at.non_empty(value)?.to_string()),
            "roost.ensembleId" => self.ensemble_id = Some(at.non_empty(value)?.to_string()),
            "roost.readConsistency" => {
                self.read_consistency = ReadConsistency::parse(value).ok_or_else(|| {
                    at.err(format!(
                        "`{value}` is not sequential, linearizable or lease"
                    ))
                })?
            }
            _ => return self.apply_family(at, key, value, pending),
        }
        Ok(true)
    }

    /// Keys that are families (`server.N`, `authProvider.N`, `admin.*`) or
    /// accepted-and-ignored.
    fn apply_family(
        &mut self,
        at: &At<'_>,
        key: &str,
        value: &str,
        pending: &mut Pending,
    ) -> Result<bool, ConfigError> {
        if let Some(id) = key.strip_prefix("server.") {
            let id: u64 = id
                .parse()
                .map_err(|_| at.err("the N of server.N must be a number"))?;
            let spec = ServerSpec::parse(id, value).map_err(|m| at.err(m))?;
            if pending.servers.insert(id, spec).is_some() {
                self.warnings.push(format!(
                    "{}:{}: {key} set twice; the last line wins",
                    at.file, at.line
                ));
            }
            return Ok(true);
        }
        if key.starts_with("authProvider.") {
            // Roost's digest, ip and SASL providers are always registered
            // (as if ZooKeeper's were listed); only another class means
            // something Roost cannot do.
            let class = at.non_empty(value)?.to_string();
            if !KNOWN_PROVIDER_CLASSES.contains(&class.as_str()) {
                self.warnings.push(format!(
                    "{}:{}: {key}: provider class `{class}` cannot be loaded by Roost; ignored",
                    at.file, at.line
                ));
            }
            return Ok(true);
        }
        if key.starts_with("admin.") {
            pending.admin_keys = true;
            if key == "admin.enableServer" && !at.boolean(value)? {
                pending.admin_disabled = true;
            }
            return Ok(true);
        }
        let ignored = IGNORED_KEYS
            .iter()
            .find(|(k, _)| *k == key)
            .or_else(|| IGNORED_PREFIXES.iter().find(|(p, _)| key.starts_with(p)));
        if let Some((name, why)) = ignored {
            if pending.ignored_warned.insert(name) {
                self.warnings.push(format!(
                    "{}:{}: {key} has no effect: {why}",
                    at.file, at.line
                ));
            }
            return Ok(true);
        }
        Ok(false)
    }

    /// Fills defaults that depend on other keys.
    fn finish(&mut self, pending: Pending) {
        self.session_timeout_ms_min = pending
            .session_timeout_ms_min
            .unwrap_or(self.tick_time_ms.saturating_mul(2));
        self.session_timeout_ms_max = pending
            .session_timeout_ms_max
            .unwrap_or(self.tick_time_ms.saturating_mul(20));
        self.data_log_dir = pending
            .data_log_dir
            .unwrap_or_else(|| self.data_dir.clone());
        // With a config file ZooKeeper binds every interface unless told otherwise.
        self.client_port_address = pending
            .client_port_address
            .unwrap_or_else(|| "0.0.0.0".to_string());
        self.servers = pending.servers.into_values().collect();
        if self.read_only_mode_enabled {
            if let FourLetterWhitelist::Only(set) = &mut self.four_letter_words {
                set.insert("isro".to_string());
            }
        }
        if pending.admin_keys && !pending.admin_disabled {
            self.warnings.push(
                "admin.* keys accepted, but Roost has no AdminServer (HTTP); use the four-letter words"
                    .to_string(),
            );
        }
    }

    /// Sets `my_id` from the contents of `dataDir/myid` (`None` = missing).
    /// Pure; [`Config::load`] does the reading. Also takes the client port
    /// from this server's `server.N` line when zoo.cfg has no `clientPort`.
    pub fn set_my_id(&mut self, contents: Option<&str>, path: &Path) -> Result<(), ConfigError> {
        let err = |message: String| ConfigError::Invalid {
            file: path.display().to_string(),
            line: if contents.is_some() { 1 } else { 0 },
            key: "myid".to_string(),
            message,
        };
        let text = contents.ok_or_else(|| {
            err("missing: zoo.cfg lists server.N members, so dataDir/myid must hold this server's N".into())
        })?;
        let id: u64 = text
            .trim()
            .parse()
            .map_err(|_| err(format!("`{}` is not a server id", text.trim())))?;
        self.my_id = Some(id);
        if self.origin.line("clientPort") == 0 {
            if let Some(client) = self.my_server().and_then(|s| s.client.clone()) {
                self.client_port = client.port;
                if self.origin.line("clientPortAddress") == 0 {
                    if let Some(host) = client.host {
                        self.client_port_address = host;
                    }
                }
            }
        }
        Ok(())
    }

    /// This server's `server.N` entry, if any.
    pub fn my_server(&self) -> Option<&ServerSpec> {
        let id = self.my_id?;
        self.servers.iter().find(|s| s.id == id)
    }

    /// True when this server runs alone (no members, or only itself with
    /// `standaloneEnabled`), as ZooKeeper decides.
    pub fn is_standalone(&self) -> bool {
        self.servers.is_empty() || (self.servers.len() == 1 && self.standalone_enabled)
    }

    /// True when reads must pass a barrier before they are served:
    /// `roost.readConsistency=linearizable` on an ensemble member (a raft
    /// ReadIndex round), or on a standalone server with more than one client
    /// shard (the core's in-order queue: another shard may not have processed
    /// a commit yet when the writer's own shard has answered it). A
    /// standalone server with one shard applies every commit on that shard
    /// before any later request, so there the key is a no-op.
    pub fn read_barriers(&self, client_shards: usize) -> bool {
        self.read_consistency != ReadConsistency::Sequential
            && (!self.is_standalone() || client_shards > 1)
    }

    /// The server id `conf` prints and session ids carry: 0 when standalone.
    pub fn server_id(&self) -> u64 {
        if self.is_standalone() {
            0
        } else {
            self.my_id.unwrap_or(0)
        }
    }

    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.file.clone(),
            line: self.origin.line(key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Checks every limit and cross-key rule, in one place.
    /// The transaction log's settings: ZooKeeper's `preAllocSize` (KiB) is
    /// the size each log segment is preallocated to.
    pub fn wal_config(&self) -> WalConfig {
        let default = WalConfig::default();
        WalConfig {
            segment_bytes: self.pre_alloc_size_kib.saturating_mul(1024),
            sync_mode: if self.force_sync {
                default.sync_mode
            } else {
                SyncMode::NoSync
            },
        }
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        // Below this a frame cannot hold a connect request and a short path.
        const JUTE_BUFFER_BYTES_MIN: u32 = 1024;
        // A reply header plus slack: a single maximum reply must always fit
        // in the outbound buffer, or a legal getData would close the connection.
        const OUTBOUND_HEADROOM_BYTES: usize = 1024;
        // Session ids carry the server id in their top byte (digest §4.4).
        const SERVER_ID_MAX: u64 = 255;
        // Top byte 0xFF is the TTL marker when extended types are on.
        const SERVER_ID_MAX_WITH_TTL: u64 = 254;

        if self.tick_time_ms == 0 {
            return Err(self.invalid("tickTime", "must be greater than 0"));
        }
        if self.session_timeout_ms_min == 0 {
            return Err(self.invalid("minSessionTimeout", "must be greater than 0"));
        }
        if self.session_timeout_ms_min > self.session_timeout_ms_max {
            let key = if self.origin.line("minSessionTimeout") != 0 {
                "minSessionTimeout"
            } else {
                "maxSessionTimeout"
            };
            return Err(self.invalid(
                key,
                format!(
                    "minSessionTimeout ({}) is greater than maxSessionTimeout ({})",
                    self.session_timeout_ms_min, self.session_timeout_ms_max
                ),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(self.invalid("dataDir", "must not be empty"));
        }
        // preAllocSize (KiB) is the log segment size: the log's own limits
        // (a 4 KiB multiple within its bounds) are checked here, at start-up.
        if let Err(e) = self.wal_config().validate() {
            return Err(self.invalid("preAllocSize", e));
        }
        // The largest request must fit in one log segment with room to spare
        // (a record never spans segments): otherwise one big setData would be
        // applied but could never be made durable, and the log would stop.
        let segment_bytes_min = u64::from(self.jute_buffer_bytes_max) * 2 + 64 * 1024;
        if self.wal_config().segment_bytes < segment_bytes_min {
            return Err(self.invalid(
                "preAllocSize",
                format!(
                    "{} KiB is too small for jute.maxbuffer {}: a log segment must hold the largest request (at least {} KiB)",
                    self.pre_alloc_size_kib,
                    self.jute_buffer_bytes_max,
                    segment_bytes_min.div_ceil(1024)
                ),
            ));
        }
        if self.client_port == 0 {
            return Err(self.invalid("clientPort", "must be 1..65535"));
        }
        if self.jute_buffer_bytes_max < JUTE_BUFFER_BYTES_MIN {
            return Err(self.invalid(
                "jute.maxbuffer",
                format!("must be at least {JUTE_BUFFER_BYTES_MIN}"),
            ));
        }
        if self.outstanding_per_connection_max == 0 {
            return Err(self.invalid("roost.outstandingPerConnectionMax", "must be at least 1"));
        }
        let outbound_min = self.jute_buffer_bytes_max as usize + OUTBOUND_HEADROOM_BYTES;
        if self.outbound_buffer_bytes_max < outbound_min {
            return Err(self.invalid(
                "roost.outboundBufferMax",
                format!("must be at least jute.maxbuffer + {OUTBOUND_HEADROOM_BYTES} = {outbound_min}, so one maximum reply fits"),
            ));
        }
        if self.sessionless_connection_timeout_ms == 0 {
            return Err(self.invalid(
                "roost.sessionlessConnectionTimeoutMs",
                "must be greater than 0",
            ));
        }
        if self.connections_max == 0 {
            return Err(self.invalid("roost.maxConnections", "must be at least 1"));
        }
        if self.raft_tick_ms == 0 || self.raft_heartbeat_ticks == 0 {
            return Err(self.invalid(
                "roost.raftTickMs",
                "raftTickMs and heartbeatTicks must be at least 1",
            ));
        }
        let election_ms = u64::from(self.raft_election_ticks) * u64::from(self.raft_tick_ms);
        if u64::from(self.stall_tolerance_ms) <= election_ms {
            return Err(self.invalid(
                "roost.stallToleranceMs",
                format!(
                    "must be longer than the election timeout ({election_ms} ms = roost.electionTicks x roost.raftTickMs)"
                ),
            ));
        }
        if self.raft_election_ticks <= self.raft_heartbeat_ticks {
            return Err(self.invalid(
                "roost.electionTicks",
                "must be greater than roost.heartbeatTicks (raft needs several heartbeats per election timeout)",
            ));
        }
        if self.global_outstanding_max == 0 {
            return Err(self.invalid("globalOutstandingLimit", "must be at least 1"));
        }
        if self.client_shards == Some(0) {
            return Err(self.invalid("roost.clientShards", "must be at least 1"));
        }
        if self.containers.check_interval_ms == 0 {
            return Err(self.invalid("znode.container.checkIntervalMs", "must be greater than 0"));
        }
        if self.containers.deletions_per_minute_max == 0 {
            return Err(self.invalid("znode.container.maxPerMinute", "must be at least 1"));
        }
        self.validate_members(SERVER_ID_MAX, SERVER_ID_MAX_WITH_TTL)
    }

    fn validate_members(&self, id_max: u64, id_max_ttl: u64) -> Result<(), ConfigError> {
        let limit = if self.extended_types_enabled {
            id_max_ttl
        } else {
            id_max
        };
        for spec in &self.servers {
            if spec.id == 0 || spec.id > limit {
                let why = if self.extended_types_enabled {
                    " (extendedTypesEnabled reserves 255)"
                } else {
                    ""
                };
                return Err(self.invalid(
                    &format!("server.{}", spec.id),
                    format!("server id must be 1..={limit}{why}"),
                ));
            }
        }
        if self.servers.is_empty() {
            return Ok(());
        }
        let Some(my_id) = self.my_id else {
            return Err(self.invalid(
                "myid",
                "zoo.cfg lists server.N members, so dataDir/myid must hold this server's N",
            ));
        };
        if self.my_server().is_none() {
            return Err(self.invalid(
                "myid",
                format!("myid is {my_id}, but there is no server.{my_id} line"),
            ));
        }
        if !self.is_standalone() {
            if self.init_limit_ticks.unwrap_or(0) == 0 {
                return Err(self.invalid(
                    "initLimit",
                    "required (and > 0) when server.N members are listed",
                ));
            }
            if self.sync_limit_ticks.unwrap_or(0) == 0 {
                return Err(self.invalid(
                    "syncLimit",
                    "required (and > 0) when server.N members are listed",
                ));
            }
        }
        Ok(())
    }
}

/// Checks `user:BASE64(SHA1(user:password))`: a user name, a colon, and 28
/// base64 characters that decode to the 20 bytes of a SHA-1.
fn parse_super_digest(value: &str) -> Result<String, String> {
    const SHA1_BYTES: usize = 20;
    let shape = "must be user:BASE64(SHA1(user:password)), e.g. super:D/InIHSb7yEEbrWz8b9l71RjZJU=";
    let (user, digest) = value.split_once(':').ok_or_else(|| shape.to_string())?;
    if user.is_empty() {
        return Err(shape.to_string());
    }
    match base64::engine::general_purpose::STANDARD.decode(digest) {
        Ok(bytes) if bytes.len() == SHA1_BYTES => Ok(value.to_string()),
        _ => Err(format!("`{digest}` is not a base64 SHA-1 digest; {shape}")),
    }
}

/// `0,1,4` or ranges `0-3,6`.
fn parse_cores(value: &str) -> Result<Vec<usize>, String> {
    let mut cores = Vec::new();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let bad = || format!("`{part}` is not a CPU id or range (e.g. 0,1 or 0-3)");
        match part.split_once('-') {
            Some((lo, hi)) => {
                let lo: usize = lo.trim().parse().map_err(|_| bad())?;
                let hi: usize = hi.trim().parse().map_err(|_| bad())?;
                if lo > hi {
                    return Err(bad());
                }
                cores.extend(lo..=hi);
            }
            None => cores.push(part.parse().map_err(|_| bad())?),
        }
    }
    if cores.is_empty() {
        return Err("must list at least one CPU id".to_string());
    }
    cores.sort_unstable();
    cores.dedup();
    Ok(cores)
}

#[cfg(test)]
mod tests;
