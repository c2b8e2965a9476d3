//! Hard state (current term, vote, commit index) in its own small file.
//!
//! # Format
//!
//! File `hardstate` in the log directory, [`HARDSTATE_FILE_BYTES`] = 8192:
//! two slots of 4096 bytes (one O_DIRECT block each), at offsets 0 and 4096.
//! Each slot, little-endian:
//!
//! | off | size | field                                   |
//! |-----|------|-----------------------------------------|
//! | 0   | 8    | magic `b"ROOSTHS\0"`                     |
//! | 8   | 4    | format version, 1                        |
//! | 12  | 4    | reserved, 0                              |
//! | 16  | 8    | sequence number (u64, starts at 1)       |
//! | 24  | 8    | term (i64)                               |
//! | 32  | 8    | vote (i64, 0 = none)                     |
//! | 40  | 8    | commit (i64)                             |
//! | 48  | 4    | crc32c of bytes 0..48                    |
//! | 52  | ..   | zero                                     |
//!
//! Save `n` goes to slot `n % 2` and is fsynced before `save` returns, so
//! the other slot always holds the previous state intact: a torn write can
//! destroy at most the slot being written. Load takes the valid slot with
//! the highest sequence number; an all-zero file is the initial state; a
//! file where neither slot is valid but something was written is an error.
//!
//! In raft mode the log core owns this file (through
//! [`LogWriter`](super::LogWriter)) and saves the hard state of a batch only
//! after the batch's entries are durable. Its presence marks the directory
//! as a raft log: a standalone server refuses to open it.

use super::WalError;
use crate::io::{AlignedBuf, FileId, LogDevice, BLOCK_BYTES};
use std::path::{Path, PathBuf};

/// The file name inside the log directory.
pub const HARDSTATE_FILE_NAME: &str = "hardstate";
/// Two slots of one block each.
pub const HARDSTATE_FILE_BYTES: u64 = 2 * BLOCK_BYTES as u64;
const SLOT_MAGIC: [u8; 8] = *b"ROOSTHS\0";
const SLOT_VERSION: u32 = 1;
const SLOT_CONTENT_BYTES: usize = 52;

/// Raft hard state.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HardState {
    pub term: i64,
    pub vote: i64,
    pub commit: i64,
}

/// The open hard-state file. Owned by whoever persists raft state (the log
/// core's [`LogWriter`](super::LogWriter)); the device is borrowed per call
/// because the writer owns the log's single device.
pub struct HardStateFile {
    path: PathBuf,
    file: FileId,
    seq: u64,
    state: HardState,
    buf: AlignedBuf,
    poisoned: Option<WalError>,
}

impl std::fmt::Debug for HardStateFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HardStateFile")
            .field("path", &self.path)
            .field("seq", &self.seq)
            .field("state", &self.state)
            .finish()
    }
}

fn encode_slot(seq: u64, hs: &HardState, out: &mut [u8]) {
    out.fill(0);
    out[0..8].copy_from_slice(&SLOT_MAGIC);
    out[8..12].copy_from_slice(&SLOT_VERSION.to_le_bytes());
    out[16..24].copy_from_slice(&seq.to_le_bytes());
    out[24..32].copy_from_slice(&hs.term.to_le_bytes());
    out[32..40].copy_from_slice(&hs.vote.to_le_bytes());
    out[40..48].copy_from_slice(&hs.commit.to_le_bytes());
    let crc = crc32c::crc32c(&out[0..48]);
    out[48..52].copy_from_slice(&crc.to_le_bytes());
}

fn i64_at(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_le_bytes(a)
}

/// The state `bytes` (the file's content) hold: the newest valid slot, the
/// initial state if nothing was ever written, or an error.
fn decode_file(path: &Path, bytes: &[u8]) -> Result<(u64, HardState), WalError> {
    let slot = |i: usize| {
        let from = (i * BLOCK_BYTES).min(bytes.len());
        let to = ((i + 1) * BLOCK_BYTES).min(bytes.len());
        decode_slot(&bytes[from..to])
    };
    Ok(match (slot(0), slot(1)) {
        (Some(a), Some(b)) => {
            if a.0 >= b.0 {
                a
            } else {
                b
            }
        }
        (Some(a), None) | (None, Some(a)) => a,
        (None, None) => {
            if let Some(p) = bytes.iter().position(|&b| b != 0) {
                return Err(WalError::Corrupt {
                    file: path.to_owned(),
                    offset: p as u64,
                    reason: "neither hard state slot is valid".into(),
                });
            }
            (0, HardState::default())
        }
    })
}

/// `Some((seq, state))` if the slot is valid.
fn decode_slot(b: &[u8]) -> Option<(u64, HardState)> {
    if b.len() < SLOT_CONTENT_BYTES || b[0..8] != SLOT_MAGIC {
        return None;
    }
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&b[48..52]);
    if u32::from_le_bytes(crc) != crc32c::crc32c(&b[0..48]) {
        return None;
    }
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[8..12]);
    if u32::from_le_bytes(v) != SLOT_VERSION {
        return None;
    }
    Some((
        i64_at(b, 16) as u64,
        HardState {
            term: i64_at(b, 24),
            vote: i64_at(b, 32),
            commit: i64_at(b, 40),
        },
    ))
}

impl HardStateFile {
    /// Reads `dir/hardstate` without changing anything: `None` if there is
    /// no such file (tools, read-only recovery).
    pub fn load(dir: &Path, device: &mut dyn LogDevice) -> Result<Option<HardState>, WalError> {
        let path = dir.join(HARDSTATE_FILE_NAME);
        let exists = device
            .list(dir)
            .map_err(|e| WalError::io("list", dir, 0, e))?
            .iter()
            .any(|n| n == HARDSTATE_FILE_NAME);
        if !exists {
            return Ok(None);
        }
        let file = device
            .open(&path, false)
            .map_err(|e| WalError::io("open", &path, 0, e))?;
        let bytes = device.read_all(file);
        device.close(file);
        let bytes = bytes.map_err(|e| WalError::io("read", &path, 0, e))?;
        Ok(Some(decode_file(&path, &bytes)?.1))
    }

    /// Opens (creating if missing) `dir/hardstate` and loads the newest
    /// valid slot.
    pub fn open(dir: &Path, device: &mut dyn LogDevice) -> Result<HardStateFile, WalError> {
        let path = dir.join(HARDSTATE_FILE_NAME);
        device
            .create_dir_all(dir)
            .map_err(|e| WalError::io("mkdir", dir, 0, e))?;
        let exists = device
            .list(dir)
            .map_err(|e| WalError::io("list", dir, 0, e))?
            .iter()
            .any(|n| n == HARDSTATE_FILE_NAME);
        let file = if exists {
            device.open(&path, false)
        } else {
            device.create(&path, HARDSTATE_FILE_BYTES)
        }
        .map_err(|e| WalError::io("open", &path, 0, e))?;
        let bytes = device
            .read_all(file)
            .map_err(|e| WalError::io("read", &path, 0, e))?;
        let (seq, state) = match decode_file(&path, &bytes) {
            Ok(s) => s,
            Err(e) => {
                device.close(file);
                return Err(e);
            }
        };
        if (bytes.len() as u64) < HARDSTATE_FILE_BYTES {
            device
                .truncate(file, HARDSTATE_FILE_BYTES)
                .map_err(|e| WalError::io("truncate", &path, 0, e))?;
        }
        if !exists {
            device
                .sync(file)
                .map_err(|e| WalError::io("fdatasync", &path, 0, e))?;
            device
                .sync_dir(dir)
                .map_err(|e| WalError::io("fsync dir", dir, 0, e))?;
        }
        Ok(HardStateFile {
            path,
            file,
            seq,
            state,
            buf: AlignedBuf::zeroed(BLOCK_BYTES),
            poisoned: None,
        })
    }

    /// The last saved (or loaded) state.
    pub fn state(&self) -> HardState {
        self.state
    }

    /// Durably saves `hs` into the older slot, through `device` (the one
    /// this file was opened with). Any I/O error poisons.
    pub fn save(&mut self, device: &mut dyn LogDevice, hs: HardState) -> Result<(), WalError> {
        if let Some(e) = &self.poisoned {
            return Err(e.clone());
        }
        let seq = self.seq + 1;
        let offset = (seq % 2) * BLOCK_BYTES as u64;
        encode_slot(seq, &hs, &mut self.buf);
        let r = device
            .write_at(self.file, offset, &self.buf)
            .map_err(|e| WalError::io("write", &self.path, offset, e))
            .and_then(|()| {
                device
                    .sync(self.file)
                    .map_err(|e| WalError::io("fdatasync", &self.path, offset, e))
            });
        if let Err(e) = r {
            self.poisoned = Some(e.clone());
            return Err(e);
        }
        self.seq = seq;
        self.state = hs;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::{FaultyDevice, WriteFault};

    fn hs(t: i64) -> HardState {
        HardState {
            term: t,
            vote: t + 100,
            commit: t * 10,
        }
    }

    #[test]
    fn hardstate_roundtrip_and_alternation() {
        let dev = FaultyDevice::new();
        let dir = Path::new("/hs");
        let mut d = dev.clone();
        assert_eq!(HardStateFile::load(dir, &mut d).unwrap(), None);
        let mut f = HardStateFile::open(dir, &mut d).unwrap();
        assert_eq!(f.state(), HardState::default());
        assert_eq!(
            HardStateFile::load(dir, &mut d).unwrap(),
            Some(HardState::default())
        );
        for t in 1..=5 {
            f.save(&mut d, hs(t)).unwrap();
        }
        drop(f);
        let f = HardStateFile::open(dir, &mut d).unwrap();
        assert_eq!(f.state(), hs(5));
        assert_eq!(HardStateFile::load(dir, &mut d).unwrap(), Some(hs(5)));
        // Both slots hold valid states (4 and 5).
        let bytes = dev.file_bytes(&dir.join(HARDSTATE_FILE_NAME)).unwrap();
        let a = decode_slot(&bytes[..BLOCK_BYTES]).unwrap();
        let b = decode_slot(&bytes[BLOCK_BYTES..]).unwrap();
        assert_eq!((a.0.min(b.0), a.0.max(b.0)), (4, 5));
    }

    #[test]
    fn hardstate_torn_write_keeps_previous() {
        let dev = FaultyDevice::new();
        let dir = Path::new("/hs");
        let mut d = dev.clone();
        let mut f = HardStateFile::open(dir, &mut d).unwrap();
        f.save(&mut d, hs(1)).unwrap();
        f.save(&mut d, hs(2)).unwrap();
        dev.fail_next_write(WriteFault::Torn { keep_bytes: 30 });
        assert!(f.save(&mut d, hs(3)).is_err());
        // Poisoned: never retried as if it succeeded.
        assert!(f.save(&mut d, hs(4)).is_err());
        dev.crash();
        let f = HardStateFile::open(dir, &mut d).unwrap();
        assert_eq!(f.state(), hs(2));
    }

    #[test]
    fn hardstate_bit_flip_in_newest_slot_falls_back() {
        let dev = FaultyDevice::new();
        let dir = Path::new("/hs");
        let mut d = dev.clone();
        let mut f = HardStateFile::open(dir, &mut d).unwrap();
        f.save(&mut d, hs(1)).unwrap();
        f.save(&mut d, hs(2)).unwrap(); // seq 2 -> slot 0
        let p = dir.join(HARDSTATE_FILE_NAME);
        let mut bytes = dev.file_bytes(&p).unwrap();
        bytes[30] ^= 1;
        dev.set_file_bytes(&p, bytes.clone());
        assert_eq!(HardStateFile::open(dir, &mut d).unwrap().state(), hs(1));
        // Both slots bad: refuse.
        bytes[BLOCK_BYTES + 30] ^= 1;
        dev.set_file_bytes(&p, bytes);
        assert!(matches!(
            HardStateFile::open(dir, &mut d),
            Err(WalError::Corrupt { .. })
        ));
        assert!(matches!(
            HardStateFile::load(dir, &mut d),
            Err(WalError::Corrupt { .. })
        ));
    }

    #[test]
    fn hardstate_real_file() {
        let dir = std::env::temp_dir().join(format!("roost-hs-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let mut dev = crate::io::UringDevice::new(crate::io::DirectMode::Auto).unwrap();
        let mut f = HardStateFile::open(&dir, &mut dev).unwrap();
        f.save(&mut dev, hs(7)).unwrap();
        f.save(&mut dev, hs(8)).unwrap();
        drop(f);
        drop(dev);
        let mut dev = crate::io::UringDevice::new(crate::io::DirectMode::Auto).unwrap();
        assert_eq!(HardStateFile::open(&dir, &mut dev).unwrap().state(), hs(8));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
