//! The real device: an io_uring driving O_DIRECT file descriptors.
//!
//! Writes and data syncs go through the ring (IORING_OP_WRITE,
//! IORING_OP_FSYNC with DATASYNC) with `submit_and_wait`: the log core owns
//! its executor and does nothing else while a flush is in flight, so blocking
//! on the ring is exactly the intended behaviour (whatever arrives meanwhile
//! forms the next batch). Reads (recovery, tools) use plain `pread`.
//!
//! If a filesystem refuses O_DIRECT (EINVAL at open), the file is reopened
//! buffered with a warning; durability still comes from fdatasync / O_DSYNC,
//! only the page-cache copy is extra.

use super::{assert_aligned_write, AlignedBuf, FileId, LogDevice, BLOCK_BYTES};
use io_uring::{opcode, types, IoUring};
use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Submission queue depth: the log has at most one write or sync in flight.
const RING_ENTRIES: u32 = 8;
/// Largest single write handed to the kernel (the sqe length is a u32).
const WRITE_BYTES_MAX: usize = 1 << 30;

/// Whether to open files with O_DIRECT.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DirectMode {
    /// O_DIRECT, falling back to buffered I/O (with a warning) where the
    /// filesystem refuses it.
    Auto,
    /// Buffered I/O + fdatasync (tests of the fallback path, odd filesystems).
    Off,
}

struct OpenFile {
    fd: OwnedFd,
    path: PathBuf,
}

/// The io_uring log device. Owned by the log core.
pub struct UringDevice {
    ring: IoUring,
    files: Vec<Option<OpenFile>>,
    direct: DirectMode,
    /// Files that fell back to buffered I/O (for the warning and for tests).
    buffered_fallbacks: u64,
}

impl UringDevice {
    pub fn new(direct: DirectMode) -> io::Result<UringDevice> {
        Ok(UringDevice {
            ring: IoUring::new(RING_ENTRIES)?,
            files: Vec::new(),
            direct,
            buffered_fallbacks: 0,
        })
    }

    /// How many opens fell back from O_DIRECT to buffered I/O.
    pub fn buffered_fallbacks(&self) -> u64 {
        self.buffered_fallbacks
    }

    fn fd(&self, file: FileId) -> io::Result<RawFd> {
        match self.files.get(file.0 as usize) {
            Some(Some(f)) => Ok(f.fd.as_raw_fd()),
            _ => Err(io::Error::new(io::ErrorKind::NotFound, "unknown file id")),
        }
    }

    fn insert(&mut self, fd: OwnedFd, path: &Path) -> FileId {
        let entry = Some(OpenFile {
            fd,
            path: path.to_owned(),
        });
        if let Some(i) = self.files.iter().position(Option::is_none) {
            self.files[i] = entry;
            FileId(i as u32)
        } else {
            self.files.push(entry);
            FileId((self.files.len() - 1) as u32)
        }
    }

    fn open_flags(&mut self, path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
        let base = flags | libc::O_RDWR | libc::O_CLOEXEC;
        if self.direct == DirectMode::Auto {
            match open_raw(path, base | libc::O_DIRECT) {
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    self.buffered_fallbacks += 1;
                    tracing::warn!(
                        file = %path.display(),
                        "filesystem refuses O_DIRECT; using buffered I/O + fdatasync"
                    );
                    // O_CREAT|O_EXCL may already have created the file.
                    open_raw(path, base & !libc::O_EXCL)
                }
                other => other,
            }
        } else {
            open_raw(path, base)
        }
    }

    /// Submits one sqe and waits for its completion; returns the cqe result.
    fn run(&mut self, entry: io_uring::squeue::Entry) -> io::Result<i32> {
        // SAFETY: the buffers an entry points at are borrowed by the caller
        // for the whole call, and we wait for the completion before returning.
        unsafe {
            self.ring
                .submission()
                .push(&entry)
                .map_err(|_| io::Error::other("io_uring submission queue full"))?;
        }
        loop {
            match self.ring.submit_and_wait(1) {
                Ok(_) => break,
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => return Err(e),
            }
        }
        let cqe = self
            .ring
            .completion()
            .next()
            .ok_or_else(|| io::Error::other("io_uring: no completion after wait"))?;
        let res = cqe.result();
        if res < 0 {
            Err(io::Error::from_raw_os_error(-res))
        } else {
            Ok(res)
        }
    }
}

fn cpath(path: &Path) -> io::Result<CString> {
    CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))
}

fn open_raw(path: &Path, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cpath(path)?;
    // SAFETY: c is a valid NUL-terminated string.
    let fd = unsafe { libc::open(c.as_ptr(), flags, 0o644 as libc::c_uint) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd was just returned by open and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

impl LogDevice for UringDevice {
    fn create_dir_all(&mut self, dir: &Path) -> io::Result<()> {
        std::fs::create_dir_all(dir)
    }

    fn list(&mut self, dir: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                if let Some(name) = entry.file_name().to_str() {
                    names.push(name.to_owned());
                }
            }
        }
        Ok(names)
    }

    fn create(&mut self, path: &Path, len: u64) -> io::Result<FileId> {
        let fd = self.open_flags(path, libc::O_CREAT | libc::O_EXCL)?;
        if len > 0 {
            // SAFETY: fd is a valid open file.
            let rc = unsafe { libc::fallocate(fd.as_raw_fd(), 0, 0, len as libc::off_t) };
            if rc != 0 {
                let e = io::Error::last_os_error();
                // Filesystems without fallocate still get the zero-fill.
                if e.raw_os_error() != Some(libc::EOPNOTSUPP) {
                    return Err(e);
                }
                // SAFETY: as above.
                if unsafe { libc::ftruncate(fd.as_raw_fd(), len as libc::off_t) } != 0 {
                    return Err(io::Error::last_os_error());
                }
            }
        }
        Ok(self.insert(fd, path))
    }

    fn open(&mut self, path: &Path, dsync: bool) -> io::Result<FileId> {
        let flags = if dsync { libc::O_DSYNC } else { 0 };
        let fd = self.open_flags(path, flags)?;
        Ok(self.insert(fd, path))
    }

    fn len(&mut self, file: FileId) -> io::Result<u64> {
        let fd = self.fd(file)?;
        // SAFETY: zeroed stat is a valid out-parameter.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fd is open, st is a valid pointer.
        if unsafe { libc::fstat(fd, &mut st) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(st.st_size as u64)
    }

    fn read_all(&mut self, file: FileId) -> io::Result<Vec<u8>> {
        let len = self.len(file)? as usize;
        let fd = self.fd(file)?;
        // O_DIRECT reads need aligned buffers and lengths; read whole blocks
        // and cut at the real length.
        let mut buf = AlignedBuf::zeroed(len);
        let mut done = 0usize;
        while done < len {
            let want = (buf.len() - done).min(WRITE_BYTES_MAX);
            // SAFETY: buf has `want` bytes available at `done`.
            let n = unsafe {
                libc::pread(
                    fd,
                    buf.as_mut_ptr().add(done) as *mut libc::c_void,
                    want,
                    done as libc::off_t,
                )
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return Err(e);
            }
            if n == 0 {
                break;
            }
            done += n as usize;
        }
        Ok(buf[..done.min(len)].to_vec())
    }

    fn write_at(&mut self, file: FileId, offset: u64, buf: &[u8]) -> io::Result<()> {
        assert_aligned_write(offset, buf);
        let fd = self.fd(file)?;
        let mut done = 0usize;
        while done < buf.len() {
            let chunk = &buf[done..(done + WRITE_BYTES_MAX).min(buf.len())];
            let entry = opcode::Write::new(types::Fd(fd), chunk.as_ptr(), chunk.len() as u32)
                .offset(offset + done as u64)
                .build();
            let n = self.run(entry)? as usize;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::WriteZero, "write returned 0"));
            }
            // A short O_DIRECT write leaves a block-aligned remainder.
            if !n.is_multiple_of(BLOCK_BYTES) {
                return Err(io::Error::other(format!(
                    "unaligned short write of {n} bytes"
                )));
            }
            done += n;
        }
        Ok(())
    }

    fn sync(&mut self, file: FileId) -> io::Result<()> {
        let fd = self.fd(file)?;
        let entry = opcode::Fsync::new(types::Fd(fd))
            .flags(types::FsyncFlags::DATASYNC)
            .build();
        self.run(entry).map(|_| ())
    }

    fn truncate(&mut self, file: FileId, len: u64) -> io::Result<()> {
        let fd = self.fd(file)?;
        // SAFETY: fd is open.
        if unsafe { libc::ftruncate(fd, len as libc::off_t) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn close(&mut self, file: FileId) {
        if let Some(slot) = self.files.get_mut(file.0 as usize) {
            *slot = None;
        }
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn sync_dir(&mut self, dir: &Path) -> io::Result<()> {
        let fd = open_raw(dir, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC)?;
        // SAFETY: fd is open.
        if unsafe { libc::fsync(fd.as_raw_fd()) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl std::fmt::Debug for UringDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open: Vec<&Path> = self
            .files
            .iter()
            .flatten()
            .map(|f| f.path.as_path())
            .collect();
        f.debug_struct("UringDevice")
            .field("direct", &self.direct)
            .field("open", &open)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tmpdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("roost-io-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    fn roundtrip(mode: DirectMode) {
        let dir = tmpdir(&format!("{mode:?}"));
        let mut dev = UringDevice::new(mode).unwrap();
        let p = dir.join("f");
        let f = dev.create(&p, 3 * BLOCK_BYTES as u64).unwrap();
        let mut buf = AlignedBuf::zeroed(2 * BLOCK_BYTES);
        buf[..5].copy_from_slice(b"hello");
        buf[BLOCK_BYTES + 1] = 9;
        dev.write_at(f, BLOCK_BYTES as u64, &buf).unwrap();
        dev.sync(f).unwrap();
        assert_eq!(dev.len(f).unwrap(), 3 * BLOCK_BYTES as u64);
        let all = dev.read_all(f).unwrap();
        assert_eq!(&all[BLOCK_BYTES..BLOCK_BYTES + 5], b"hello");
        assert_eq!(all[2 * BLOCK_BYTES + 1], 9);
        assert!(all[..BLOCK_BYTES].iter().all(|&b| b == 0));
        dev.truncate(f, 100).unwrap();
        assert_eq!(dev.read_all(f).unwrap().len(), 100);
        dev.close(f);
        let g = dev.open(&p, true).unwrap();
        assert_eq!(dev.len(g).unwrap(), 100);
        assert_eq!(dev.list(&dir).unwrap(), vec!["f".to_string()]);
        dev.rename(&p, &dir.join("g")).unwrap();
        dev.sync_dir(&dir).unwrap();
        dev.remove(&dir.join("g")).unwrap();
        assert!(dev.list(&dir).unwrap().is_empty());
        if mode == DirectMode::Auto {
            // The temp dir of the reference machine (ext4) accepts O_DIRECT.
            assert_eq!(dev.buffered_fallbacks(), 0);
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn uring_device_direct() {
        roundtrip(DirectMode::Auto);
    }

    #[test]
    fn uring_device_buffered_fallback() {
        roundtrip(DirectMode::Off);
    }

    #[test]
    #[should_panic(expected = "unaligned write offset")]
    fn uring_device_rejects_unaligned() {
        let dir = tmpdir("unaligned");
        let mut dev = UringDevice::new(DirectMode::Auto).unwrap();
        let f = dev.create(&dir.join("f"), 0).unwrap();
        let buf = AlignedBuf::zeroed(BLOCK_BYTES);
        let _ = dev.write_at(f, 100, &buf);
    }
}
