//! The keys of zoo.cfg: how each is parsed into [`Config`] (`Config::apply`,
//! its families, and the keys accepted and ignored), and the defaults that
//! depend on other keys. Pure. Owned by the main thread at start-up.

use super::*;

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
    ("quorum.auth.", "member-to-member SASL is not supported; members prove they share roost.quorumSecret instead"),
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

/// The shortest `roost.quorumSecret` accepted.
pub const QUORUM_SECRET_BYTES_MIN: usize = 16;

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
            "roost.quorumSecret" => {
                if value.len() < QUORUM_SECRET_BYTES_MIN {
                    return Err(at.err(format!(
                        "must be at least {QUORUM_SECRET_BYTES_MIN} characters (it is a secret key)"
                    )));
                }
                self.quorum_secret = Some(value.to_string())
            }
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
