//! Four-letter words (digest §16): pure renderers from a [`ServerView`]
//! snapshot to the exact text Apache ZooKeeper writes.
//!
//! The net layer recognises a word in the first four bytes of a connection
//! that has not sent a ConnectRequest
//! ([`crate::proto::frame::four_letter_word`]), checks the whitelist
//! (`Config::four_letter_words`), builds a [`ServerView`], writes
//! [`render`]'s text and closes the connection. Words with side effects
//! (`crst`, `srst`, `stmk`) only produce text here; the caller does the reset.
//!
//! Ownership: a `ServerView` is assembled by the shard that received the
//! word, from copies sent by every core; it is dropped after rendering.
//! Pure: no I/O, no clock (the caller passes the time and the host's
//! facts in [`gather::Context`]).

pub mod gather;
pub mod text;
pub mod view;

pub use gather::render_gathered;
pub use view::{
    version_string, ConfView, ConnectionView, EnvView, Mode, QuorumConfView, ServerView,
    SessionView, WatchView, ZK_COMPAT_VERSION,
};

use std::collections::BTreeMap;
use std::fmt::Write;
use text::{hex, java_date_utc, java_double, java_socket_addr, round4};

/// The reply to a recognised word that is not whitelisted.
pub fn not_whitelisted(word: &str) -> String {
    format!("{word} is not executed because it is not in the whitelist.\n")
}

/// The reply ZooKeeper gives to data-reading words before it serves.
pub fn not_serving() -> String {
    "This ZooKeeper instance is not currently serving requests\n".to_string()
}

/// The text for `word` (empty for a word that is not in `WORDS`).
pub fn render(word: &str, view: &ServerView) -> String {
    match word {
        "ruok" => "imok".to_string(),
        "isro" => if view.mode == Mode::ReadOnly {
            "ro"
        } else {
            "rw"
        }
        .to_string(),
        "gtmk" | "stmk" => view.trace_mask.to_string(),
        "srvr" => srvr(view, false),
        "stat" => srvr(view, true),
        "cons" => cons(view),
        "crst" => "Connection stats reset.\n".to_string(),
        "srst" => "Server stats reset.\n".to_string(),
        "conf" => conf(view),
        "envi" => envi(view),
        "dirs" => format!(
            "datadir_size: {}\nlogdir_size: {}\n",
            view.data_dir_size, view.log_dir_size
        ),
        "wchs" => wchs(view),
        "wchc" => wchc(view),
        "wchp" => wchp(view),
        "dump" => dump(view),
        "mntr" => mntr(view),
        "hash" => view
            .digests
            .iter()
            .map(|(zxid, digest)| format!("{}: {digest}\n", hex(*zxid)))
            .collect(),
        _ => String::new(),
    }
}

/// `srvr`, or `stat` when `clients` (which lists connections after the version).
fn srvr(view: &ServerView, clients: bool) -> String {
    let mut out = format!("Zookeeper version: {}\n", view.version);
    if view.mode == Mode::ReadOnly {
        out.push_str("READ-ONLY mode; serving only read-only clients\n");
    }
    if clients {
        out.push_str("Clients:\n");
        for c in &view.connections {
            out.push_str(&connection_line(c, true));
        }
        out.push('\n');
    }
    let s = &view.server;
    let l = s.latency();
    let _ = write!(
        out,
        "Latency min/avg/max: {}/{}/{}\nReceived: {}\nSent: {}\nConnections: {}\nOutstanding: {}\nZxid: 0x{}\nMode: {}\nNode count: {}\n",
        l.min_ms(),
        java_double(round4(l.avg_ms())),
        l.max_ms(),
        s.packets_received(),
        s.packets_sent(),
        s.connections_alive(),
        s.outstanding(),
        hex(view.zxid),
        view.mode.as_str(),
        view.node_count
    );
    if let (Mode::Leader, Some((last, min, max))) = (view.mode, view.proposal_sizes) {
        let _ = writeln!(out, "Proposal sizes last/min/max: {last}/{min}/{max}");
    }
    out
}

/// One connection line: the brief form, or the full form (`cons`) when the
/// connection has a session.
fn connection_line(c: &ConnectionView, brief: bool) -> String {
    let p = &c.probe;
    let mut line = format!(
        " {}[{:x}](queued={},recved={},sent={}",
        java_socket_addr(&c.remote),
        c.interest_ops,
        p.queued(),
        p.received(),
        p.sent()
    );
    if !brief && c.session_id != 0 {
        let l = p.latency();
        let _ = write!(
            line,
            ",sid=0x{},lop={},est={},to={},lcxid=0x{},lzxid=0x{},lresp={},llat={},minlat={},avglat={},maxlat={}",
            hex(c.session_id),
            p.last_op(),
            p.established_ms(),
            p.session_timeout_ms(),
            hex(p.last_cxid()),
            hex(p.last_zxid()),
            p.last_response_ms(),
            p.last_latency_ms(),
            l.min_ms(),
            l.avg_ms_whole(),
            l.max_ms()
        );
    }
    line.push_str(")\n");
    line
}

fn cons(view: &ServerView) -> String {
    let mut out: String = view
        .connections
        .iter()
        .map(|c| connection_line(c, false))
        .collect();
    out.push('\n');
    out
}

fn conf(view: &ServerView) -> String {
    let c = &view.conf;
    let mut out = format!(
        "clientPort={}\nsecureClientPort={}\ndataDir={}\ndataDirSize={}\ndataLogDir={}\ndataLogSize={}\ntickTime={}\nmaxClientCnxns={}\nminSessionTimeout={}\nmaxSessionTimeout={}\nclientPortListenBacklog={}\nserverId={}\n",
        c.client_port,
        c.secure_client_port,
        c.data_dir,
        view.data_dir_size,
        c.data_log_dir,
        view.log_dir_size,
        c.tick_time_ms,
        c.max_client_cnxns,
        c.min_session_timeout_ms,
        c.max_session_timeout_ms,
        c.client_port_listen_backlog,
        c.server_id
    );
    if let Some(q) = &c.quorum {
        let _ = write!(
            out,
            "initLimit={}\nsyncLimit={}\nelectionAlg=3\nelectionPort={}\nquorumPort={}\npeerType={}\nroost.readConsistency={}\nmembership: \n",
            q.init_limit, q.sync_limit, q.election_port, q.quorum_port, q.peer_type, q.read_consistency
        );
        for line in &q.membership {
            out.push_str(line);
            out.push('\n');
        }
        let _ = writeln!(out, "version={}", hex(q.config_version));
    }
    out
}

fn envi(view: &ServerView) -> String {
    let e = &view.env;
    let pairs: [(&str, &str); 15] = [
        ("zookeeper.version", &e.zookeeper_version),
        ("host.name", &e.host_name),
        ("java.version", &e.java_version),
        ("java.vendor", &e.java_vendor),
        ("java.home", &e.java_home),
        ("java.class.path", &e.java_class_path),
        ("java.library.path", &e.java_library_path),
        ("java.io.tmpdir", &e.java_io_tmpdir),
        ("java.compiler", &e.java_compiler),
        ("os.name", &e.os_name),
        ("os.arch", &e.os_arch),
        ("os.version", &e.os_version),
        ("user.name", &e.user_name),
        ("user.home", &e.user_home),
        ("user.dir", &e.user_dir),
    ];
    let mut out = String::from("Environment:\n");
    for (key, value) in pairs {
        let _ = writeln!(out, "{key}={value}");
    }
    let _ = write!(
        out,
        "os.memory.free={}MB\nos.memory.max={}MB\nos.memory.total={}MB\n",
        e.memory_free_mb, e.memory_max_mb, e.memory_total_mb
    );
    out
}

fn wchs(view: &ServerView) -> String {
    let w = &view.watches;
    format!(
        "{} connections watching {} paths\nTotal watches:{}\n\n",
        w.sessions_watching(),
        w.by_path().len(),
        w.total()
    )
}

fn wchc(view: &ServerView) -> String {
    let mut out = String::new();
    for (sid, paths) in view
        .watches
        .data_watches
        .iter()
        .filter(|(_, p)| !p.is_empty())
    {
        let _ = writeln!(out, "0x{}", hex(*sid));
        for path in paths {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push('\n');
    out
}

fn wchp(view: &ServerView) -> String {
    let mut out = String::new();
    for (path, sids) in view.watches.by_path() {
        let _ = writeln!(out, "{path}");
        for sid in sids {
            let _ = writeln!(out, "\t0x{}", hex(sid));
        }
    }
    out.push('\n');
    out
}

fn dump(view: &ServerView) -> String {
    let mut out = String::from("SessionTracker dump:\n");
    let mut buckets: BTreeMap<u64, Vec<i64>> = BTreeMap::new();
    for s in &view.sessions {
        buckets
            .entry(s.expire_at_ms)
            .or_default()
            .push(s.session_id);
    }
    let _ = writeln!(
        out,
        "Session Sets ({})/({}):",
        buckets.len(),
        view.sessions.len()
    );
    for (at, sids) in &buckets {
        let _ = writeln!(out, "{} expire at {}:", sids.len(), java_date_utc(*at));
        for sid in sids {
            let _ = writeln!(out, "\t0x{}", hex(*sid));
        }
    }
    out.push_str("ephemeral nodes dump:\n");
    let with_ephemerals: Vec<&SessionView> = view
        .sessions
        .iter()
        .filter(|s| !s.ephemerals.is_empty())
        .collect();
    let _ = writeln!(out, "Sessions with Ephemerals ({}):", with_ephemerals.len());
    for s in with_ephemerals {
        let _ = writeln!(out, "0x{}:", hex(s.session_id));
        for path in &s.ephemerals {
            let _ = writeln!(out, "\t{path}");
        }
    }
    out.push_str("Connections dump:\n");
    let mut conn_buckets: BTreeMap<u64, Vec<&ConnectionView>> = BTreeMap::new();
    for c in &view.connections {
        conn_buckets.entry(c.expire_at_ms).or_default().push(c);
    }
    let _ = writeln!(
        out,
        "Connections Sets ({})/({}):",
        conn_buckets.len(),
        view.connections.len()
    );
    for (at, conns) in &conn_buckets {
        let _ = writeln!(out, "{} expire at {}:", conns.len(), java_date_utc(*at));
        for c in conns {
            let _ = writeln!(
                out,
                "\tip: {} sessionId: 0x{}",
                java_socket_addr(&c.remote),
                hex(c.session_id)
            );
        }
    }
    out
}

fn mntr(view: &ServerView) -> String {
    let s = &view.server;
    let l = s.latency();
    let core: [(&str, String); 18] = [
        ("zk_version", view.version.clone()),
        ("zk_server_state", view.mode.as_str().to_string()),
        ("zk_avg_latency", java_double(round4(l.avg_ms()))),
        ("zk_max_latency", l.max_ms().to_string()),
        ("zk_min_latency", l.min_ms().to_string()),
        ("zk_packets_received", s.packets_received().to_string()),
        ("zk_packets_sent", s.packets_sent().to_string()),
        (
            "zk_num_alive_connections",
            s.connections_alive().to_string(),
        ),
        ("zk_outstanding_requests", s.outstanding().to_string()),
        ("zk_znode_count", view.node_count.to_string()),
        ("zk_watch_count", view.watch_count_total.to_string()),
        ("zk_ephemerals_count", view.ephemerals_count.to_string()),
        (
            "zk_approximate_data_size",
            view.approximate_data_size.to_string(),
        ),
        (
            "zk_open_file_descriptor_count",
            view.open_file_descriptor_count.to_string(),
        ),
        (
            "zk_max_file_descriptor_count",
            view.max_file_descriptor_count.to_string(),
        ),
        ("zk_global_sessions", view.global_sessions.to_string()),
        ("zk_local_sessions", view.local_sessions.to_string()),
        ("zk_uptime", view.uptime_ms.to_string()),
    ];
    let mut out = String::new();
    for (key, value) in core.iter().map(|(k, v)| (*k, v.as_str())).chain(
        view.extra_metrics
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str())),
    ) {
        let _ = writeln!(out, "{key}\t{value}");
    }
    out
}

#[cfg(test)]
mod tests;
