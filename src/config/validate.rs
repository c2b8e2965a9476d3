//! [`Config::validate`]: every named limit and cross-key rule, in one
//! place. Pure. Owned by the main thread at start-up.

use super::*;

impl Config {
    fn invalid(&self, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: self.origin.file.clone(),
            line: self.origin.line(key),
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// Checks every limit and cross-key rule, in one place.
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
