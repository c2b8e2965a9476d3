//! Text the shell prints, byte for byte as zkCli.sh 3.8 prints it: stats,
//! ACLs, watch events and the messages for server errors. Pure functions, so
//! the formats are unit-tested here rather than through a server.

use crate::proto::{perms, Acl, ErrorCode, EventType, Id, Stat};

/// One stat in zkCli's `name = value` layout (`StatPrinter` in ZooKeeper).
/// Zxids and the owner are Java's `Long.toHexString`: lowercase, unpadded,
/// two's complement for negatives, which is what `{:x}` does for `i64`.
pub fn stat(s: &Stat) -> String {
    format!(
        "cZxid = 0x{:x}\nctime = {}\nmZxid = 0x{:x}\nmtime = {}\npZxid = 0x{:x}\n\
         cversion = {}\ndataVersion = {}\naclVersion = {}\nephemeralOwner = 0x{:x}\n\
         dataLength = {}\nnumChildren = {}\n",
        s.czxid,
        java_date(s.ctime),
        s.mzxid,
        java_date(s.mtime),
        s.pzxid,
        s.cversion,
        s.version,
        s.aversion,
        s.ephemeral_owner,
        s.data_length,
        s.num_children
    )
}

/// `java.util.Date.toString()`: `EEE MMM dd HH:mm:ss zzz yyyy` in the local
/// time zone, which is what zkCli shows for ctime/mtime.
pub fn java_date(epoch_ms: i64) -> String {
    let secs = epoch_ms.div_euclid(1000);
    let (tm, zone) = local_time(secs);
    const DAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} {} {}",
        DAYS[tm.weekday as usize % 7],
        MONTHS[tm.month as usize % 12],
        tm.day,
        tm.hour,
        tm.minute,
        tm.second,
        zone,
        tm.year
    )
}

/// Broken-down time; `month` is 0-based and `weekday` 0 = Sunday, as in `struct tm`.
#[derive(Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
    weekday: i64,
}

/// Local time through the C library, so `TZ` is honoured like the JVM's
/// default zone; falls back to UTC computed by hand if libc refuses.
fn local_time(secs: i64) -> (Civil, String) {
    let t: libc::time_t = secs as libc::time_t;
    // SAFETY: `tm` is a plain C struct for which all-zero is a valid value;
    // localtime_r only writes into it and returns null on failure.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if !ok {
        return (utc_civil(secs), "UTC".to_owned());
    }
    let zone = if tm.tm_zone.is_null() {
        "UTC".to_owned()
    } else {
        // SAFETY: glibc points tm_zone at a NUL-terminated static zone name.
        unsafe { std::ffi::CStr::from_ptr(tm.tm_zone) }
            .to_string_lossy()
            .into_owned()
    };
    let civil = Civil {
        year: i64::from(tm.tm_year) + 1900,
        month: i64::from(tm.tm_mon),
        day: i64::from(tm.tm_mday),
        hour: i64::from(tm.tm_hour),
        minute: i64::from(tm.tm_min),
        second: i64::from(tm.tm_sec),
        weekday: i64::from(tm.tm_wday),
    };
    (civil, zone)
}

/// UTC calendar fields from epoch seconds (Howard Hinnant's civil_from_days).
fn utc_civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil {
        year,
        month: month - 1,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        // 1970-01-01 was a Thursday.
        weekday: (days + 4).rem_euclid(7),
    }
}

/// `ZKUtil.getPermString`: the letters in c, d, r, w, a order.
pub fn perm_string(p: i32) -> String {
    let mut s = String::new();
    for (bit, c) in [
        (perms::CREATE, 'c'),
        (perms::DELETE, 'd'),
        (perms::READ, 'r'),
        (perms::WRITE, 'w'),
        (perms::ADMIN, 'a'),
    ] {
        if p & bit != 0 {
            s.push(c);
        }
    }
    s
}

/// getAcl's two lines per entry: `'scheme,'id` then `: perms`.
pub fn acl_list(acl: &[Acl]) -> String {
    let mut out = String::new();
    for a in acl {
        out.push_str(&format!(
            "'{},'{}\n: {}\n",
            a.id.scheme,
            a.id.id,
            perm_string(a.perms)
        ));
    }
    out
}

/// Why an ACL argument was refused.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum AclParseError {
    #[error("{0} does not have the form scheme:id:perm")]
    Form(String),
    #[error("Unknown perm type: {0}")]
    Perm(char),
}

/// zkCli's `AclParser`: comma-separated `scheme:id:perms`, where the id is
/// everything between the first and the last colon (digest ids contain one).
/// zkCli skips malformed entries with a warning; refusing the whole argument
/// is safer for a command that replaces a node's ACL.
pub fn parse_acl(text: &str) -> Result<Vec<Acl>, AclParseError> {
    let mut acl = Vec::new();
    for entry in text.split(',') {
        let (Some(first), Some(last)) = (entry.find(':'), entry.rfind(':')) else {
            return Err(AclParseError::Form(entry.to_owned()));
        };
        if first == last {
            return Err(AclParseError::Form(entry.to_owned()));
        }
        let mut bits = 0;
        for c in entry[last + 1..].chars() {
            bits |= match c.to_ascii_lowercase() {
                'r' => perms::READ,
                'w' => perms::WRITE,
                'c' => perms::CREATE,
                'd' => perms::DELETE,
                'a' => perms::ADMIN,
                other => return Err(AclParseError::Perm(other)),
            };
        }
        acl.push(Acl {
            perms: bits,
            id: Id::new(&entry[..first], &entry[first + 1..last]),
        });
    }
    Ok(acl)
}

/// The name Java's `Watcher.Event.EventType` prints.
pub fn event_type_name(t: EventType) -> &'static str {
    match t {
        EventType::NodeCreated => "NodeCreated",
        EventType::NodeDeleted => "NodeDeleted",
        EventType::NodeDataChanged => "NodeDataChanged",
        EventType::NodeChildrenChanged => "NodeChildrenChanged",
    }
}

/// zkCli's default watcher output for one event (3.8 `WatchedEvent.toString`,
/// each line printed as `"\n" + msg` by `ZooKeeperMain.printMessage`).
pub fn watched_event(state: &str, event_type: &str, path: Option<&str>) -> String {
    format!(
        "\nWATCHER::\n\nWatchedEvent state:{state} type:{event_type} path:{}\n",
        path.unwrap_or("null")
    )
}

/// `KeeperException.Code` messages, as in `KeeperErrorCode = <msg> for <path>`.
pub fn code_message(code: i32) -> String {
    let m = match code {
        0 => "ok",
        -1 => "SystemError",
        -2 => "RuntimeInconsistency",
        -3 => "DataInconsistency",
        -4 => "ConnectionLoss",
        -5 => "MarshallingError",
        -6 => "Unimplemented",
        -7 => "OperationTimeout",
        -8 => "BadArguments",
        -12 => "Unknown session",
        -13 => "NewConfigNoQuorum",
        -14 => "ReconfigInProgress",
        -100 => "APIError",
        -101 => "NoNode",
        -102 => "NoAuth",
        -103 => "BadVersion",
        -108 => "NoChildrenForEphemerals",
        -110 => "NodeExists",
        -111 => "Directory not empty",
        -112 => "Session expired",
        -113 => "Invalid callback",
        -114 => "InvalidACL",
        -115 => "AuthFailed",
        -118 => "Session moved",
        -119 => "Not a read-only call",
        -120 => "Ephemeral node on local session",
        -121 => "No such watcher",
        -122 => "Request timeout",
        -123 => "Reconfig is disabled",
        -124 => "Session closed because client failed to authenticate",
        -125 => "Quota has exceeded",
        -127 => "Op throttled due to high load",
        other => return format!("Unknown error {other}"),
    };
    m.to_owned()
}

/// The line zkCli prints for a failed command (`CliWrapperException`): a
/// friendly sentence for the common codes, `KeeperErrorCode = ...` otherwise.
pub fn keeper_error(code: i32, path: Option<&str>) -> String {
    let p = path.unwrap_or("");
    let friendly = |prefix: &str| format!("{prefix}{p}");
    const NO_NODE: i32 = ErrorCode::NoNode as i32;
    const NO_CHILDREN_FOR_EPHEMERALS: i32 = ErrorCode::NoChildrenForEphemerals as i32;
    const NODE_EXISTS: i32 = ErrorCode::NodeExists as i32;
    const NOT_EMPTY: i32 = ErrorCode::NotEmpty as i32;
    const NOT_READ_ONLY: i32 = ErrorCode::NotReadOnly as i32;
    const INVALID_ACL: i32 = ErrorCode::InvalidAcl as i32;
    const NO_AUTH: i32 = ErrorCode::NoAuth as i32;
    const BAD_ARGUMENTS: i32 = ErrorCode::BadArguments as i32;
    const BAD_VERSION: i32 = ErrorCode::BadVersion as i32;
    const RECONFIG_IN_PROGRESS: i32 = ErrorCode::ReconfigInProgress as i32;
    const NEW_CONFIG_NO_QUORUM: i32 = ErrorCode::NewConfigNoQuorum as i32;
    match code {
        NO_NODE => friendly("Node does not exist: "),
        NO_CHILDREN_FOR_EPHEMERALS => friendly("Ephemerals cannot have children: "),
        NODE_EXISTS => friendly("Node already exists: "),
        NOT_EMPTY => friendly("Node not empty: "),
        NOT_READ_ONLY => friendly("Not a read-only call: "),
        INVALID_ACL => friendly("Acl is not valid : "),
        NO_AUTH => friendly("Insufficient permission : "),
        BAD_ARGUMENTS => friendly("Arguments are not valid : "),
        BAD_VERSION => friendly("version No is not valid : "),
        RECONFIG_IN_PROGRESS => {
            "Another reconfiguration is in progress -- concurrent reconfigs not supported (yet)"
                .to_owned()
        }
        NEW_CONFIG_NO_QUORUM => "No quorum of new config is connected and up-to-date with the \
             leader of last commmitted config - try invoking reconfiguration after new servers \
             are connected and synced"
            .to_owned(),
        _ => match path {
            Some(p) => format!("KeeperErrorCode = {} for {p}", code_message(code)),
            None => format!("KeeperErrorCode = {}", code_message(code)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_civil_matches_known_dates() {
        assert_eq!(
            utc_civil(0),
            Civil {
                year: 1970,
                month: 0,
                day: 1,
                hour: 0,
                minute: 0,
                second: 0,
                weekday: 4
            }
        );
        // 2026-11-22 07:47:42 UTC was a Sunday (seen in zkCli output).
        let c = utc_civil(1_795_333_662);
        assert_eq!((c.year, c.month, c.day, c.weekday), (2026, 10, 22, 0));
        assert_eq!((c.hour, c.minute, c.second), (7, 47, 42));
    }

    #[test]
    fn stat_layout_matches_zkcli() {
        let s = Stat {
            czxid: 2,
            mzxid: 0xd,
            pzxid: 2,
            version: 2,
            data_length: 2,
            ephemeral_owner: -1,
            ..Stat::default()
        };
        let text = stat(&s);
        assert!(text.starts_with("cZxid = 0x2\nctime = "));
        assert!(text.contains("\nmZxid = 0xd\n"));
        assert!(text.contains("\ndataVersion = 2\n"));
        assert!(text.contains("\nephemeralOwner = 0xffffffffffffffff\n"));
        assert!(text.ends_with("numChildren = 0\n"));
    }

    #[test]
    fn acl_round_trip() {
        let acl = parse_acl("digest:bob:abc=:cdrwa,world:anyone:r").unwrap();
        assert_eq!(acl[0].id, Id::new("digest", "bob:abc="));
        assert_eq!(acl[0].perms, perms::ALL);
        assert_eq!(
            acl_list(&acl),
            "'digest,'bob:abc=\n: cdrwa\n'world,'anyone\n: r\n"
        );
        assert_eq!(
            parse_acl("world:anyone"),
            Err(AclParseError::Form("world:anyone".into()))
        );
        assert_eq!(parse_acl("world:anyone:rx"), Err(AclParseError::Perm('x')));
    }

    #[test]
    fn error_messages() {
        assert_eq!(keeper_error(-101, Some("/x")), "Node does not exist: /x");
        assert_eq!(
            keeper_error(-103, Some("/x")),
            "version No is not valid : /x"
        );
        assert_eq!(
            keeper_error(-121, Some("/b")),
            "KeeperErrorCode = No such watcher for /b"
        );
        assert_eq!(
            watched_event("SyncConnected", "NodeDataChanged", Some("/x")),
            "\nWATCHER::\n\nWatchedEvent state:SyncConnected type:NodeDataChanged path:/x\n"
        );
    }
}
