//! How Java prints the values the four-letter words show. Tools compare
//! this text, so it follows Java's formatting rather than Rust's.

use std::net::{IpAddr, SocketAddr};

/// `Long.toHexString`: lowercase, no padding, two's complement for negatives.
pub fn hex(value: i64) -> String {
    format!("{:x}", value as u64)
}

/// `Double.toString` for the magnitudes latencies take: integral values keep
/// one decimal (`0.0`, `3.0`), others print their shortest form (`3.1371`).
pub fn java_double(value: f64) -> String {
    if value.is_finite() && value.fract() == 0.0 && value.abs() < 1e7 {
        format!("{value:.1}")
    } else {
        format!("{value}")
    }
}

/// Rounds to 4 decimal places, as `srvr` and `mntr` report the average latency.
pub fn round4(value: f64) -> f64 {
    (value * 10_000.0).round() / 10_000.0
}

/// `InetSocketAddress.toString()` of a resolved address: `/1.2.3.4:5` or,
/// for IPv6, the uncompressed form in brackets `/[0:0:0:0:0:0:0:1]:5`.
pub fn java_socket_addr(addr: &SocketAddr) -> String {
    match addr.ip() {
        IpAddr::V4(ip) => format!("/{ip}:{}", addr.port()),
        IpAddr::V6(ip) => {
            let groups: Vec<String> = ip.segments().iter().map(|s| format!("{s:x}")).collect();
            format!("/[{}]:{}", groups.join(":"), addr.port())
        }
    }
}

/// `java.util.Date.toString()` in UTC: `Thu Jan 01 00:00:00 UTC 1970`.
pub fn java_date_utc(epoch_ms: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = epoch_ms / 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{} {} {:02} {:02}:{:02}:{:02} UTC {}",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        day,
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        year
    )
}

/// `yyyy-MM-dd HH:mm` in UTC, the build-date form of the version line.
pub fn build_date_utc(epoch_ms: u64) -> String {
    let secs = epoch_ms / 1000;
    let (year, month, day) = civil_from_days((secs / 86_400) as i64);
    let rem = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60
    )
}

/// Days since 1970-01-01 to (year, month 1-12, day 1-31), proleptic
/// Gregorian (Howard Hinnant's civil_from_days algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_number_forms() {
        assert_eq!(hex(0x10000098aff0007), "10000098aff0007");
        assert_eq!(hex(-1), "ffffffffffffffff");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(3.0), "3.0");
        assert_eq!(java_double(round4(3.137_123)), "3.1371");
    }

    #[test]
    fn socket_addresses() {
        assert_eq!(
            java_socket_addr(&"127.0.0.1:43884".parse().unwrap()),
            "/127.0.0.1:43884"
        );
        assert_eq!(
            java_socket_addr(&"[::1]:5".parse().unwrap()),
            "/[0:0:0:0:0:0:0:1]:5"
        );
    }

    #[test]
    fn dates() {
        assert_eq!(java_date_utc(0), "Thu Jan 01 00:00:00 UTC 1970");
        // 2024-02-29 12:34:56 UTC was a Thursday.
        assert_eq!(
            java_date_utc(1_709_210_096_000),
            "Thu Feb 29 12:34:56 UTC 2024"
        );
        assert_eq!(build_date_utc(1_709_210_096_000), "2024-02-29 12:34 UTC");
    }
}
