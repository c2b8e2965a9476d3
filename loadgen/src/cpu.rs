//! CPU time of the generator itself and (optionally) of the server process,
//! so every report can show the generator was not the bottleneck.

use std::io;

/// User and system CPU seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct CpuTimes {
    pub user_s: f64,
    pub sys_s: f64,
}

impl CpuTimes {
    pub fn total_s(self) -> f64 {
        self.user_s + self.sys_s
    }

    /// The CPU spent between two samples.
    pub fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes {
            user_s: (self.user_s - earlier.user_s).max(0.0),
            sys_s: (self.sys_s - earlier.sys_s).max(0.0),
        }
    }
}

/// This process (all threads), from getrusage(RUSAGE_SELF).
pub fn self_times() -> CpuTimes {
    // SAFETY: getrusage fills the zeroed struct we own.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    CpuTimes {
        user_s: tv(ru.ru_utime),
        sys_s: tv(ru.ru_stime),
    }
}

/// Another process, from /proc/PID/stat (all its threads).
pub fn process_times(pid: u32) -> io::Result<CpuTimes> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    parse_proc_stat(&text, if ticks > 0 { ticks as f64 } else { 100.0 })
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "unparsable /proc/PID/stat"))
}

/// utime and stime are fields 14 and 15; the command name (field 2) may
/// contain spaces and parentheses, so fields are counted after its last ')'.
pub fn parse_proc_stat(text: &str, ticks_per_s: f64) -> Option<CpuTimes> {
    let after = &text[text.rfind(')')? + 1..];
    let mut fields = after.split_whitespace();
    // After the name: field 3 (state) is the first; utime is 14 -> index 11.
    let utime: f64 = fields.nth(11)?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some(CpuTimes {
        user_s: utime / ticks_per_s,
        sys_s: stime / ticks_per_s,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_stat_with_awkward_names() {
        let line = "1234 (java (main) x) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 40 0 1000 0 0";
        let t = parse_proc_stat(line, 100.0).unwrap();
        assert_eq!(
            t,
            CpuTimes {
                user_s: 2.5,
                sys_s: 0.5
            }
        );
        assert!(parse_proc_stat("garbage", 100.0).is_none());
    }

    #[test]
    fn own_times_advance() {
        let a = self_times();
        let mut x = 0u64;
        for i in 0..20_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let b = self_times();
        assert!(b.since(a).total_s() >= 0.0);
        assert!(process_times(std::process::id()).is_ok());
    }
}
