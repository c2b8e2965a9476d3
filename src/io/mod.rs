//! The only file I/O of the durable log: a narrow device trait, the real
//! io_uring + O_DIRECT implementation, and an in-memory device with injectable
//! faults for tests.
//!
//! The trait is deliberately small (create with preallocation, open, read the
//! whole file, aligned overwrite, data sync, truncate, remove, rename, list)
//! so that every storage decision (what to write where, when to sync, what a
//! failure means) lives in the log module (`wal`), where it can be tested against
//! [`FaultyDevice`] byte for byte.
//!
//! Alignment contract: every `write_at` writes whole [`BLOCK_BYTES`] blocks at
//! a block-aligned offset from a block-aligned buffer ([`AlignedBuf`]), which
//! is what O_DIRECT requires. Both devices assert it, so a misaligned write is
//! caught in tests, not by EINVAL in production.

mod aligned;
mod faulty;
mod uring;

pub use aligned::AlignedBuf;
pub use faulty::{FaultyDevice, WriteFault};
pub use uring::{DirectMode, UringDevice};

use std::io;
use std::path::Path;

/// The I/O unit: O_DIRECT alignment of buffers, offsets and lengths.
pub const BLOCK_BYTES: usize = 4096;

/// The granularity at which a crash may tear a write (the smallest logical
/// sector of any device we run on). Recovery reasons about torn writes at
/// this granularity; see the log module's recovery.
pub const SECTOR_BYTES: usize = 512;

/// A handle to a file opened through a [`LogDevice`]. Only meaningful to the
/// device that returned it.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FileId(pub u32);

/// The storage edge of the log. Owned by the log core (one thread); `Send`
/// so it can be moved onto that core's executor.
pub trait LogDevice: Send {
    /// Creates `dir` and its parents if missing.
    fn create_dir_all(&mut self, dir: &Path) -> io::Result<()>;
    /// Names of the regular files directly in `dir`, unsorted.
    fn list(&mut self, dir: &Path) -> io::Result<Vec<String>>;
    /// Creates a new file (fails if it exists) and reserves `len` bytes for
    /// it (fallocate), so that running out of space shows up here, off the
    /// hot path, rather than on a commit. The reserved range reads as zeros,
    /// but the caller still zero-fills it with `write_at` so that later
    /// overwrites need no extent conversion (no metadata in fdatasync).
    fn create(&mut self, path: &Path, len: u64) -> io::Result<FileId>;
    /// Opens an existing file for reading and writing. With `dsync`, every
    /// completed `write_at` is durable (O_DSYNC) and `sync` is not needed.
    fn open(&mut self, path: &Path, dsync: bool) -> io::Result<FileId>;
    /// The file's current length in bytes.
    fn len(&mut self, file: FileId) -> io::Result<u64>;
    /// The whole file's content (recovery and tools only; not the hot path).
    fn read_all(&mut self, file: FileId) -> io::Result<Vec<u8>>;
    /// Writes all of `buf` at `offset`. Both, and `buf.len()`, are multiples
    /// of [`BLOCK_BYTES`], and `buf` is block-aligned in memory.
    fn write_at(&mut self, file: FileId, offset: u64, buf: &[u8]) -> io::Result<()>;
    /// fdatasync: everything written so far is durable when this returns Ok.
    /// After an error nothing is known about what is durable; callers must
    /// never retry as if a later success covered the earlier writes.
    fn sync(&mut self, file: FileId) -> io::Result<()>;
    /// Sets the file's length (shrinks or extends with zeros).
    fn truncate(&mut self, file: FileId, len: u64) -> io::Result<()>;
    /// Closes the handle. Unknown handles are ignored.
    fn close(&mut self, file: FileId);
    /// Removes a file.
    fn remove(&mut self, path: &Path) -> io::Result<()>;
    /// Renames a file (atomic within one directory).
    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes creations, renames and removals in `dir` durable.
    fn sync_dir(&mut self, dir: &Path) -> io::Result<()>;
}

/// Asserts the O_DIRECT contract of [`LogDevice::write_at`].
pub(crate) fn assert_aligned_write(offset: u64, buf: &[u8]) {
    assert!(
        offset.is_multiple_of(BLOCK_BYTES as u64),
        "unaligned write offset {offset}"
    );
    assert!(
        buf.len().is_multiple_of(BLOCK_BYTES),
        "unaligned write length {}",
        buf.len()
    );
    assert!(
        (buf.as_ptr() as usize).is_multiple_of(BLOCK_BYTES),
        "unaligned write buffer"
    );
}
