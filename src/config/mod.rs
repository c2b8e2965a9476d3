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

mod keys;
pub mod properties;
pub mod server_spec;
mod validate;
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
/// Read-only configuration, built once at start-up and cloned to each executor that needs it.
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
/// Read-only configuration, built once at start-up and cloned to each executor that needs it.
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
    /// `roost.quorumSecret`: the key members prove to each other in the
    /// peer handshake (and sign liveness beacons with); the same on every
    /// member. Unset: derived from `roost.ensembleId`, which keeps
    /// ensembles apart but anyone who reads the config could join.
    pub quorum_secret: Option<String>,
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
            quorum_secret: None,
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
}

#[cfg(test)]
mod tests;
