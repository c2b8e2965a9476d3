//! Facts about the host the four-letter words report (`envi`, `mntr`):
//! read from /proc, the environment and getrlimit, at the edge, so the
//! renderers stay pure.

/// A copy of the host's facts at one moment.
/// A value: read by the shard answering a four-letter word; no executor owns it.
#[derive(Clone, Debug, Default)]
pub struct HostFacts {
    pub host_name: String,
    pub os_version: String,
    pub user_name: String,
    pub user_home: String,
    pub user_dir: String,
    pub fds_open: u64,
    pub fds_max: u64,
}

impl HostFacts {
    /// Reads them now (a few small /proc reads).
    pub fn read() -> HostFacts {
        let proc_text = |path: &str| {
            std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .unwrap_or_default()
        };
        let (fds_open, fds_max) = file_descriptors();
        HostFacts {
            host_name: proc_text("/proc/sys/kernel/hostname"),
            os_version: proc_text("/proc/sys/kernel/osrelease"),
            user_name: std::env::var("USER").unwrap_or_default(),
            user_home: std::env::var("HOME").unwrap_or_default(),
            user_dir: std::env::current_dir()
                .map(|d| d.display().to_string())
                .unwrap_or_default(),
            fds_open,
            fds_max,
        }
    }
}

fn file_descriptors() -> (u64, u64) {
    let open = std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: valid pointer to a local struct.
    let max = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        0
    };
    (open, max)
}
