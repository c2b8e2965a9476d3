//! An in-memory [`LogDevice`] with injectable faults, for tests.
//!
//! Each file keeps two images: `data` (what reads see) and `durable` (what
//! survives [`FaultyDevice::crash`]). `sync` copies data to durable; files
//! opened with `dsync` make every write durable at once. Faults:
//! - [`WriteFault::Errno`]: the next write fails (ENOSPC, EIO) and changes
//!   nothing;
//! - [`WriteFault::Torn`]: the next write lands only its first `keep_bytes`
//!   (durably, as if the machine lost power mid-write) and fails with EIO;
//! - [`FaultyDevice::fail_next_sync`]: the next sync fails and makes nothing
//!   durable.
//!
//! Clones share state, so a test keeps a clone to inspect and corrupt bytes
//! while the writer owns the other.

use super::{assert_aligned_write, FileId, LogDevice};
use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// A one-shot write fault.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFault {
    /// Fail with this errno; nothing is written.
    Errno(i32),
    /// Write only the first `keep_bytes` (durably), then fail with EIO.
    Torn { keep_bytes: usize },
}

#[derive(Default)]
struct MemFile {
    data: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Default)]
struct State {
    files: BTreeMap<PathBuf, MemFile>,
    open: Vec<Option<(PathBuf, bool)>>,
    write_fault: Option<WriteFault>,
    sync_fault: Option<i32>,
    create_fault: Option<i32>,
    writes: u64,
    syncs: u64,
}

/// The in-memory fault-injecting device. Cheap to clone; clones share files.
/// A test device: the writer under test holds one clone, the test another; no executor.
#[derive(Clone, Default)]
pub struct FaultyDevice {
    state: Arc<Mutex<State>>,
}

impl FaultyDevice {
    pub fn new() -> FaultyDevice {
        FaultyDevice::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panicking test thread must not hide the real failure.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The next `write_at` fails as described.
    pub fn fail_next_write(&self, fault: WriteFault) {
        self.lock().write_fault = Some(fault);
    }

    /// The next `sync` fails with `errno` and makes nothing durable.
    pub fn fail_next_sync(&self, errno: i32) {
        self.lock().sync_fault = Some(errno);
    }

    /// The next `create` fails with `errno` (ENOSPC at preallocation).
    pub fn fail_next_create(&self, errno: i32) {
        self.lock().create_fault = Some(errno);
    }

    /// Power loss: every file reverts to its durable image.
    pub fn crash(&self) {
        let mut s = self.lock();
        for f in s.files.values_mut() {
            f.data = f.durable.clone();
        }
        s.open.clear();
    }

    /// Number of successful `write_at` calls.
    pub fn writes(&self) -> u64 {
        self.lock().writes
    }

    /// Number of successful `sync` calls.
    pub fn syncs(&self) -> u64 {
        self.lock().syncs
    }

    /// A file's current bytes.
    pub fn file_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        self.lock().files.get(path).map(|f| f.data.clone())
    }

    /// Replaces a file's bytes, durably (bit flips, truncation by tests).
    pub fn set_file_bytes(&self, path: &Path, bytes: Vec<u8>) {
        let mut s = self.lock();
        let f = s.files.entry(path.to_owned()).or_default();
        f.data = bytes.clone();
        f.durable = bytes;
    }

    /// Paths of all files, sorted.
    pub fn paths(&self) -> Vec<PathBuf> {
        self.lock().files.keys().cloned().collect()
    }

    fn path_of(s: &State, file: FileId) -> io::Result<(PathBuf, bool)> {
        s.open
            .get(file.0 as usize)
            .cloned()
            .flatten()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "unknown file id"))
    }

    fn insert(s: &mut State, path: &Path, dsync: bool) -> FileId {
        s.open.push(Some((path.to_owned(), dsync)));
        FileId((s.open.len() - 1) as u32)
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(io::ErrorKind::NotFound, path.display().to_string())
}

impl LogDevice for FaultyDevice {
    fn create_dir_all(&mut self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }

    fn list(&mut self, dir: &Path) -> io::Result<Vec<String>> {
        let s = self.lock();
        Ok(s.files
            .keys()
            .filter(|p| p.parent() == Some(dir))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect())
    }

    fn create(&mut self, path: &Path, len: u64) -> io::Result<FileId> {
        let mut s = self.lock();
        if let Some(errno) = s.create_fault.take() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        if s.files.contains_key(path) {
            return Err(io::Error::from_raw_os_error(libc::EEXIST));
        }
        let zeros = vec![0u8; len as usize];
        s.files.insert(
            path.to_owned(),
            MemFile {
                data: zeros.clone(),
                durable: zeros,
            },
        );
        Ok(Self::insert(&mut s, path, false))
    }

    fn open(&mut self, path: &Path, dsync: bool) -> io::Result<FileId> {
        let mut s = self.lock();
        if !s.files.contains_key(path) {
            return Err(not_found(path));
        }
        Ok(Self::insert(&mut s, path, dsync))
    }

    fn len(&mut self, file: FileId) -> io::Result<u64> {
        let s = self.lock();
        let (p, _) = Self::path_of(&s, file)?;
        Ok(s.files.get(&p).ok_or_else(|| not_found(&p))?.data.len() as u64)
    }

    fn read_all(&mut self, file: FileId) -> io::Result<Vec<u8>> {
        let s = self.lock();
        let (p, _) = Self::path_of(&s, file)?;
        Ok(s.files.get(&p).ok_or_else(|| not_found(&p))?.data.clone())
    }

    fn write_at(&mut self, file: FileId, offset: u64, buf: &[u8]) -> io::Result<()> {
        assert_aligned_write(offset, buf);
        let mut s = self.lock();
        let (p, dsync) = Self::path_of(&s, file)?;
        let fault = s.write_fault.take();
        let f = s.files.get_mut(&p).ok_or_else(|| not_found(&p))?;
        let keep = match fault {
            Some(WriteFault::Errno(errno)) => return Err(io::Error::from_raw_os_error(errno)),
            Some(WriteFault::Torn { keep_bytes }) => keep_bytes.min(buf.len()),
            None => buf.len(),
        };
        let end = offset as usize + keep;
        if f.data.len() < end {
            f.data.resize(end, 0);
        }
        f.data[offset as usize..end].copy_from_slice(&buf[..keep]);
        if dsync || fault.is_some() {
            // A torn write is what survived the power loss: durable.
            if f.durable.len() < end {
                f.durable.resize(end, 0);
            }
            f.durable[offset as usize..end].copy_from_slice(&buf[..keep]);
        }
        if fault.is_some() {
            return Err(io::Error::from_raw_os_error(libc::EIO));
        }
        s.writes += 1;
        Ok(())
    }

    fn sync(&mut self, file: FileId) -> io::Result<()> {
        let mut s = self.lock();
        let (p, _) = Self::path_of(&s, file)?;
        if let Some(errno) = s.sync_fault.take() {
            return Err(io::Error::from_raw_os_error(errno));
        }
        let f = s.files.get_mut(&p).ok_or_else(|| not_found(&p))?;
        f.durable = f.data.clone();
        s.syncs += 1;
        Ok(())
    }

    fn truncate(&mut self, file: FileId, len: u64) -> io::Result<()> {
        let mut s = self.lock();
        let (p, _) = Self::path_of(&s, file)?;
        let f = s.files.get_mut(&p).ok_or_else(|| not_found(&p))?;
        f.data.resize(len as usize, 0);
        f.durable.resize(len as usize, 0);
        Ok(())
    }

    fn close(&mut self, file: FileId) {
        let mut s = self.lock();
        if let Some(slot) = s.open.get_mut(file.0 as usize) {
            *slot = None;
        }
    }

    fn remove(&mut self, path: &Path) -> io::Result<()> {
        self.lock()
            .files
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn rename(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        let mut s = self.lock();
        let f = s.files.remove(from).ok_or_else(|| not_found(from))?;
        s.files.insert(to.to_owned(), f);
        for (p, _) in s.open.iter_mut().flatten() {
            if p == from {
                *p = to.to_owned();
            }
        }
        Ok(())
    }

    fn sync_dir(&mut self, _dir: &Path) -> io::Result<()> {
        Ok(())
    }
}

impl std::fmt::Debug for FaultyDevice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FaultyDevice({} files)", self.lock().files.len())
    }
}
