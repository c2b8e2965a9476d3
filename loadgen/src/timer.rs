//! A microsecond-resolution wake-up for the event loop (Linux timerfd).
//!
//! Why not the poll timeout: epoll_wait takes milliseconds, so mio rounds a
//! 100 µs timeout up to 1 ms. In open-loop mode every microsecond a send
//! leaves late is charged to the server's latency (it is measured from the
//! intended send time), so the loop sleeps on a timerfd registered with the
//! poller instead. With the thread's timer slack set to 1 ns (see
//! [`set_precise_timer_slack`]) wake-ups land within a few µs.
//!
//! Owned by one worker thread.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::time::Duration;

use mio::unix::SourceFd;
use mio::{Interest, Registry, Token};

pub struct TimerFd {
    fd: OwnedFd,
}

impl TimerFd {
    pub fn new() -> io::Result<TimerFd> {
        // SAFETY: plain syscall; the returned fd is checked before use.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor that nothing else owns.
        Ok(TimerFd {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    pub fn register(&self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            &mut SourceFd(&self.fd.as_raw_fd()),
            token,
            Interest::READABLE,
        )
    }

    /// Fires once, `after` from now (a zero delay is bumped to 1 ns: a zero
    /// it_value would disarm the timer instead).
    pub fn arm(&self, after: Duration) -> io::Result<()> {
        let after = after.max(Duration::from_nanos(1));
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: after.as_secs() as libc::time_t,
                tv_nsec: libc::c_long::from(after.subsec_nanos() as i32),
            },
        };
        // SAFETY: valid fd and a fully initialised itimerspec.
        let rc =
            unsafe { libc::timerfd_settime(self.fd.as_raw_fd(), 0, &spec, std::ptr::null_mut()) };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Consumes the expiration count so the (edge-triggered) fd can fire again.
    pub fn drain(&self) {
        let mut n = [0u8; 8];
        // SAFETY: reads at most 8 bytes into a local 8-byte buffer.
        // EAGAIN (nothing to drain) is fine and ignored.
        let _ = unsafe { libc::read(self.fd.as_raw_fd(), n.as_mut_ptr().cast(), n.len()) };
    }
}

/// Sets the calling thread's timer slack to 1 ns (the default 50 µs would
/// make every timed wake-up up to 50 µs late).
pub fn set_precise_timer_slack() {
    // SAFETY: prctl with PR_SET_TIMERSLACK takes an unsigned long and only
    // affects the calling thread.
    unsafe {
        libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong, 0, 0, 0);
    }
}
