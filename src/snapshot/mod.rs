//! Snapshots: one tree version plus the live sessions, on disk.
//!
//! Ownership: the snapshotter runs on its own core (or a blocking thread) and
//! holds nothing but an `Arc<DataTree>` version the consensus core published.
//! That version is immutable, so [`fn@write`] reads it while writes go on and
//! the apply path never pauses; no lock is taken. [`fn@write`] (the
//! snapshotter), [`write_received`] (an ensemble member installing the
//! leader's snapshot) and [`purge`] may run at the same time on one
//! directory: each writer fills a temp file of its own, and purge removes
//! only finished snapshots; temp files a crash left are removed at
//! start-up ([`remove_temp_files`]).
//!
//! The file format is specified in [`mod@format`].
//!
//! # Writing ([`fn@write`])
//!
//! 1. The body is streamed (rkyv, crc32c computed on the way) into
//!    `snapshot.<zxid>.tmp` after a zeroed header; then the real header is
//!    written at offset 0.
//! 2. The file is fsynced, renamed to `snapshot.<zxid>`, and the directory is
//!    fsynced, so after [`fn@write`] returns the snapshot survives a crash and a
//!    crash before that leaves only a temp file, which no reader looks at.
//!
//! When to write is the caller's decision (log bytes or entries since the
//! last snapshot, like ZooKeeper's snapCount).
//!
//! # Retention ([`purge`]) and the log
//!
//! [`purge`] keeps the newest `keep` (>= [`RETAIN_MIN`]) snapshots, like
//! `autopurge.snapRetainCount`. Because a
//! damaged newest snapshot falls back to an older one plus more log, the log
//! may be released only up to the zxid of the *oldest retained* snapshot
//! (the first entry of [`list`]), not the newest.
//!
//! # Recovery ([`load_newest`])
//!
//! Snapshots are tried newest first. Each is mapped, its header and body
//! checksums verified, its body validated by rkyv (bytecheck) and read in
//! place: the tree is built straight from the archived nodes, with no
//! intermediate deserialized copy. A file that fails any check is logged
//! (name and reason) and the previous one is tried. The caller then replays
//! the log after [`Loaded::zxid`].

pub mod format;
mod inspect;
#[cfg(test)]
mod tests;

pub use inspect::inspect;

use crate::proto::{Acl, Id};
use crate::tree::{DataTree, Node, NodeKind, PathKey};
use format::{
    ArchivedSnapAcl, ArchivedSnapKind, ArchivedSnapNode, ArchivedSnapRaft, ArchivedSnapSession,
    ArchivedSnapshotBody, ArchivedSnapshotBodyV2, Damage, Header, NodeList, SnapAcl, SnapRaft,
    SnapSession, SnapshotBodyRef, SnapshotBodyV2Ref, FORMAT_VERSION, FORMAT_VERSION_RAFT,
    HEADER_LEN, TEMP_SUFFIX,
};
use memmap2::Mmap;
use rkyv::api::high::HighSerializer;
use rkyv::rancor;
use rkyv::ser::allocator::ArenaHandle;
use rkyv::ser::writer::IoWriter;
use rkyv::vec::ArchivedVec;
use std::collections::HashMap;
use std::fs::{self, File};
use std::io::{self, BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

/// The fewest snapshots [`purge`] may keep (ZooKeeper's minimum for
/// `autopurge.snapRetainCount`).
pub const RETAIN_MIN: usize = 3;

/// Write buffer between the serializer and the file.
const WRITE_BUFFER_BYTES: usize = 1 << 20;

/// A live session as a snapshot stores it.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: i64,
    pub timeout_ms: i32,
}

/// Where an ensemble member's tree stands in the raft log (format version 2,
/// see [`mod@format`]): the last applied entry and raft's configuration there.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RaftPoint {
    pub index: u64,
    pub term: u64,
    /// The member's zxid after applying `index` (>= the tree's zxid).
    pub applied_zxid: i64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub voters_outgoing: Vec<u64>,
    pub learners_next: Vec<u64>,
    pub auto_leave: bool,
}

impl RaftPoint {
    fn to_snap(&self) -> SnapRaft {
        SnapRaft {
            index: self.index,
            term: self.term,
            applied_zxid: self.applied_zxid,
            voters: self.voters.clone(),
            learners: self.learners.clone(),
            voters_outgoing: self.voters_outgoing.clone(),
            learners_next: self.learners_next.clone(),
            auto_leave: self.auto_leave,
        }
    }

    fn from_archived(a: &ArchivedSnapRaft) -> RaftPoint {
        let ids = |v: &ArchivedVec<rkyv::rend::u64_le>| v.iter().map(|x| x.to_native()).collect();
        RaftPoint {
            index: a.index.to_native(),
            term: a.term.to_native(),
            applied_zxid: a.applied_zxid.to_native(),
            voters: ids(&a.voters),
            learners: ids(&a.learners),
            voters_outgoing: ids(&a.voters_outgoing),
            learners_next: ids(&a.learners_next),
            auto_leave: a.auto_leave,
        }
    }
}

/// What [`fn@write`] produced.
/// Owned by the snapshotter's executor, which writes snapshots and reads this.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub path: PathBuf,
    pub zxid: i64,
    /// Distinct nodes, root included.
    pub nodes: usize,
    /// File size, header included.
    pub bytes: u64,
    pub duration_ms: u64,
    /// Format version 2 only.
    pub raft: Option<RaftPoint>,
}

/// What [`load_newest`] recovered.
/// A value: made on the main thread at start-up or on the consensus executor; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loaded {
    pub tree: DataTree,
    pub sessions: Vec<SessionRecord>,
    /// The tree's last zxid; replay the log from the entry after it.
    pub zxid: i64,
    /// The snapshot file used (not necessarily the newest on disk).
    pub path: PathBuf,
    /// Format version 2 (an ensemble member's snapshot) only.
    pub raft: Option<RaftPoint>,
}

/// Why a snapshot could not be written, read or purged.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error("{path}: {op}: {source}")]
    Io {
        path: PathBuf,
        op: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{path}: damaged: {damage}")]
    Damaged {
        path: PathBuf,
        #[source]
        damage: Damage,
    },
    #[error("{path}: serializing: {message}")]
    Serialize { path: PathBuf, message: String },
    #[error("no valid snapshot in {dir}: {}", describe(.failures))]
    NoValidSnapshot {
        dir: PathBuf,
        /// One error per snapshot file tried, newest first.
        failures: Vec<SnapshotError>,
    },
    #[error("cannot keep only {keep} snapshots; the minimum is {RETAIN_MIN}")]
    RetainTooFew { keep: usize },
}

fn describe(failures: &[SnapshotError]) -> String {
    let all: Vec<String> = failures.iter().map(ToString::to_string).collect();
    all.join("; ")
}

/// A closure turning an `io::Error` into [`SnapshotError::Io`].
fn io_error<'a>(path: &'a Path, op: &'static str) -> impl FnOnce(io::Error) -> SnapshotError + 'a {
    move |source| SnapshotError::Io {
        path: path.to_owned(),
        op,
        source,
    }
}

fn damaged(path: &Path) -> impl FnOnce(Damage) -> SnapshotError + '_ {
    move |damage| SnapshotError::Damaged {
        path: path.to_owned(),
        damage,
    }
}

/// Writes a snapshot file received from an ensemble's leader (already
/// verified with [`load_bytes`]) into `dir` durably, under the name of its
/// tree's `zxid`: the same temp file, fsync, rename and directory fsync as
/// [`fn@write`].
pub fn write_received(dir: &Path, zxid: i64, bytes: &[u8]) -> Result<PathBuf, SnapshotError> {
    let path = dir.join(format::file_name(zxid));
    // Its own temp name: the snapshotter may be writing this very zxid's
    // snapshot of the member's own state at the same moment.
    let temp_path = dir.join(format!(
        "{}{}{TEMP_SUFFIX}",
        format::file_name(zxid),
        format::RECEIVED_TEMP_INFIX
    ));
    let written = File::create(&temp_path)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .map_err(io_error(&temp_path, "write"))
        .and_then(|()| fs::rename(&temp_path, &path).map_err(io_error(&temp_path, "rename")))
        .and_then(|()| {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io_error(dir, "fsync directory"))
        });
    if let Err(e) = written {
        let _ = fs::remove_file(&temp_path);
        return Err(e);
    }
    Ok(path)
}

/// Writes the snapshot of `tree` (at `tree.last_zxid`) and `sessions` into
/// `dir` durably (see the module doc for the steps). An existing snapshot of
/// the same zxid is replaced atomically.
pub fn write(
    dir: &Path,
    tree: &DataTree,
    sessions: &[SessionRecord],
) -> Result<SnapshotMeta, SnapshotError> {
    write_with_raft(dir, tree, sessions, None)
}

/// [`fn@write`], with a raft point: format version 2 (an ensemble member's
/// snapshot). Without one, exactly [`fn@write`] (version 1).
pub fn write_with_raft(
    dir: &Path,
    tree: &DataTree,
    sessions: &[SessionRecord],
    raft: Option<&RaftPoint>,
) -> Result<SnapshotMeta, SnapshotError> {
    let started = Instant::now();
    let zxid = tree.last_zxid;
    assert!(zxid >= 0, "write: negative zxid {zxid:#x}");
    let path = dir.join(format::file_name(zxid));
    let temp_path = dir.join(format!("{}{TEMP_SUFFIX}", format::file_name(zxid)));

    // Path order makes the file deterministic for a given tree (followers
    // and tests can compare bytes) and makes inspect's listing readable.
    let mut entries: Vec<(&PathKey, &Arc<Node>)> = tree.nodes.iter().collect();
    entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let (acls, acl_index) = acl_table(&entries);
    let nodes = NodeList {
        entries: &entries,
        acl_index: &acl_index,
    };
    let snap_sessions = sessions
        .iter()
        .map(|s| SnapSession {
            id: s.id,
            timeout_ms: s.timeout_ms,
        })
        .collect();
    let counts = BodyCounts {
        format_version: FORMAT_VERSION,
        raft_index: 0,
        zxid,
        nodes: entries.len() as u64,
        sessions: sessions.len() as u64,
    };
    let archived = match raft {
        None => write_archive(
            &temp_path,
            counts,
            &SnapshotBodyRef {
                zxid,
                acls,
                nodes,
                sessions: snap_sessions,
            },
        ),
        Some(point) => write_archive(
            &temp_path,
            BodyCounts {
                format_version: FORMAT_VERSION_RAFT,
                raft_index: point.index,
                ..counts
            },
            &SnapshotBodyV2Ref {
                zxid,
                acls,
                nodes,
                sessions: snap_sessions,
                raft: point.to_snap(),
            },
        ),
    };
    let written = archived.and_then(|bytes| {
        fs::rename(&temp_path, &path).map_err(io_error(&temp_path, "rename"))?;
        // The rename is durable only once the directory entry is.
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io_error(dir, "fsync directory"))?;
        Ok(bytes)
    });
    let bytes = match written {
        Ok(bytes) => bytes,
        Err(e) => {
            // Best effort: purge removes it later if this fails too.
            let _ = fs::remove_file(&temp_path);
            return Err(e);
        }
    };
    Ok(SnapshotMeta {
        path,
        zxid,
        nodes: entries.len(),
        bytes,
        duration_ms: started.elapsed().as_millis() as u64,
        raft: raft.cloned(),
    })
}

/// The distinct ACL lists of `entries` and, per entry, the index of its list.
/// Nodes created with the same ACL usually share one `Arc`, so the pointer
/// lookup answers almost always; equal lists in different `Arc`s are still
/// stored once thanks to the by-value lookup.
fn acl_table(entries: &[(&PathKey, &Arc<Node>)]) -> (Vec<Vec<SnapAcl>>, Vec<u32>) {
    let mut by_pointer: HashMap<*const Vec<Acl>, u32> = HashMap::new();
    let mut by_value: HashMap<&Vec<Acl>, u32> = HashMap::new();
    let mut table = Vec::new();
    let mut index_of = Vec::with_capacity(entries.len());
    for (_, node) in entries {
        let pointer = Arc::as_ptr(&node.acl);
        let index = match by_pointer.get(&pointer) {
            Some(&index) => index,
            None => {
                let index = *by_value.entry(&*node.acl).or_insert_with(|| {
                    table.push(
                        node.acl
                            .iter()
                            .map(|acl| SnapAcl {
                                perms: acl.perms,
                                scheme: acl.id.scheme.clone(),
                                id: acl.id.id.clone(),
                            })
                            .collect(),
                    );
                    u32::try_from(table.len() - 1).expect("fewer than 2^32 ACL lists")
                });
                by_pointer.insert(pointer, index);
                index
            }
        };
        index_of.push(index);
    }
    (table, index_of)
}

/// The header fields that describe the body's content.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BodyCounts {
    pub format_version: u32,
    pub raft_index: u64,
    pub zxid: i64,
    pub nodes: u64,
    pub sessions: u64,
}

/// The serializer [`write_archive`] drives.
type FileSerializer<'a> =
    HighSerializer<IoWriter<BufWriter<CrcWriter<File>>>, ArenaHandle<'a>, rancor::Error>;

/// Writes header + archive of `body` to `path` and fsyncs it; returns the
/// file size. Generic so tests can write hand-made (even inconsistent)
/// bodies through the exact production path.
pub(crate) fn write_archive<T>(
    path: &Path,
    counts: BodyCounts,
    body: &T,
) -> Result<u64, SnapshotError>
where
    T: for<'a> rkyv::Serialize<FileSerializer<'a>>,
{
    let mut file = File::create(path).map_err(io_error(path, "create"))?;
    // Placeholder: the real header needs the body's length and crc.
    file.write_all(&[0u8; HEADER_LEN])
        .map_err(io_error(path, "write"))?;
    // The buffer sits before the crc so the crc runs over large chunks, not
    // over each few-byte field the serializer emits.
    let first_error = std::rc::Rc::new(std::cell::RefCell::new(None));
    let sink = BufWriter::with_capacity(
        WRITE_BUFFER_BYTES,
        CrcWriter {
            inner: file,
            crc: 0,
            len: 0,
            first_error: first_error.clone(),
        },
    );
    // IoWriter positions start at 0 = the body's first byte, which is what
    // the relative pointers and alignment padding are computed against.
    let sink = rkyv::api::high::to_bytes_in::<_, rancor::Error>(body, IoWriter::new(sink))
        .map_err(|e| match first_error.borrow_mut().take() {
            Some(io) => io_error(path, "write")(io),
            None => SnapshotError::Serialize {
                path: path.to_owned(),
                message: e.to_string(),
            },
        })?
        .into_inner()
        .into_inner()
        .map_err(|e| io_error(path, "write")(e.into_error()))?;
    let (body_crc, body_len) = (sink.crc, sink.len);
    let mut file = sink.inner;
    let header = Header {
        format_version: counts.format_version,
        flags: 0,
        zxid: counts.zxid,
        node_count: counts.nodes,
        session_count: counts.sessions,
        body_len,
        body_crc,
        raft_index: counts.raft_index,
    };
    file.seek(SeekFrom::Start(0))
        .and_then(|_| file.write_all(&header.encode()))
        .map_err(io_error(path, "write header"))?;
    file.sync_all().map_err(io_error(path, "fsync"))?;
    Ok(HEADER_LEN as u64 + body_len)
}

/// Passes bytes through while computing their crc32c and count.
/// Lives inside one snapshot write, on whichever thread writes it; no executor owns it.
pub(crate) struct CrcWriter<W> {
    inner: W,
    crc: u32,
    len: u64,
    /// The first I/O error, kept because rkyv's error type drops it: a full
    /// disk must be reported as a full disk.
    first_error: std::rc::Rc<std::cell::RefCell<Option<io::Error>>>,
}

impl<W: Write> Write for CrcWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let written = match self.inner.write(buf) {
            Ok(n) => n,
            Err(e) => {
                let mut first = self.first_error.borrow_mut();
                if first.is_none() {
                    *first = Some(io::Error::new(e.kind(), e.to_string()));
                }
                return Err(e);
            }
        };
        self.crc = crc32c::crc32c_append(self.crc, &buf[..written]);
        self.len += written as u64;
        Ok(written)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The snapshot files in `dir` as (zxid, path), oldest first. Temp files and
/// unrelated names are not listed.
pub fn list(dir: &Path) -> Result<Vec<(i64, PathBuf)>, SnapshotError> {
    let mut found = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir, "read directory"))? {
        let entry = entry.map_err(io_error(dir, "read directory"))?;
        let name = entry.file_name();
        if let Some(zxid) = name.to_str().and_then(format::parse_file_name) {
            found.push((zxid, entry.path()));
        }
    }
    found.sort();
    Ok(found)
}

/// Loads the newest valid snapshot in `dir`, falling back to older ones past
/// damaged files. `Ok(None)` when `dir` holds no snapshot at all; `Err` when
/// snapshots exist but none is valid (starting empty would lose data).
pub fn load_newest(dir: &Path) -> Result<Option<Loaded>, SnapshotError> {
    let files = list(dir)?;
    if files.is_empty() {
        return Ok(None);
    }
    let mut failures = Vec::new();
    for (_, path) in files.iter().rev() {
        match load(path) {
            Ok(loaded) => {
                if !failures.is_empty() {
                    tracing::warn!(
                        snapshot = %loaded.path.display(),
                        zxid = format_args!("{:#x}", loaded.zxid),
                        skipped = failures.len(),
                        "recovering from an older snapshot; more log must be replayed"
                    );
                }
                return Ok(Some(loaded));
            }
            Err(e) => {
                tracing::warn!(
                    snapshot = %path.display(),
                    error = %e,
                    "snapshot unusable, trying the previous one"
                );
                failures.push(e);
            }
        }
    }
    Err(SnapshotError::NoValidSnapshot {
        dir: dir.to_owned(),
        failures,
    })
}

/// Loads one snapshot file, verifying everything ([`mod@format`] "Reading").
pub fn load(path: &Path) -> Result<Loaded, SnapshotError> {
    let map = map_file(path)?;
    let (header, body) = verify(path, &map).map_err(damaged(path))?;
    let (tree, sessions) = build(&header, &body).map_err(damaged(path))?;
    Ok(Loaded {
        tree,
        sessions,
        zxid: header.zxid,
        path: path.to_owned(),
        raft: body.raft.map(RaftPoint::from_archived),
    })
}

/// Loads a snapshot from the bytes of a whole file (one received from the
/// leader), with every check [`load`] makes but the file-name one. The
/// body is copied once into an aligned buffer (rkyv reads in place).
/// `Loaded::path` is empty.
pub fn load_bytes(bytes: &[u8]) -> Result<Loaded, Damage> {
    let mut aligned = rkyv::util::AlignedVec::<16>::with_capacity(bytes.len());
    aligned.extend_from_slice(bytes);
    let (header, body) = verify_bytes(None, &aligned)?;
    let (tree, sessions) = build(&header, &body)?;
    Ok(Loaded {
        tree,
        sessions,
        zxid: header.zxid,
        path: PathBuf::new(),
        raft: body.raft.map(RaftPoint::from_archived),
    })
}

/// The checked header of the snapshot file at `path` (reads 64 bytes).
pub fn read_header(path: &Path) -> Result<Header, SnapshotError> {
    use std::io::Read;
    let mut bytes = [0u8; HEADER_LEN];
    File::open(path)
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(io_error(path, "read header"))?;
    Header::decode(&bytes).map_err(damaged(path))
}

/// A validated body of either format version, read in place.
/// A borrowed view, on whichever thread loads or inspects the snapshot; no executor owns it.
pub(crate) struct BodyView<'a> {
    pub zxid: i64,
    pub acls: &'a ArchivedVec<ArchivedVec<ArchivedSnapAcl>>,
    pub nodes: &'a ArchivedVec<ArchivedSnapNode>,
    pub sessions: &'a ArchivedVec<ArchivedSnapSession>,
    /// Version 2 only.
    pub raft: Option<&'a ArchivedSnapRaft>,
}

/// Maps `path` read-only.
fn map_file(path: &Path) -> Result<Mmap, SnapshotError> {
    let file = File::open(path).map_err(io_error(path, "open"))?;
    let len = file.metadata().map_err(io_error(path, "stat"))?.len();
    if len < HEADER_LEN as u64 {
        // Also avoids mapping an empty file, which mmap refuses.
        return Err(damaged(path)(Damage::TooShort { len }));
    }
    // SAFETY: a snapshot file is never written after its rename, and purge
    // only unlinks (the mapping stays valid). Another process truncating it
    // while mapped would fault; nothing in Roost does that, and every byte
    // read through the map is checksummed and validated first.
    // populate (MAP_POPULATE): every page is read anyway (crc, validation,
    // restore), and faulting them in one call is cheaper than page by page.
    let map = unsafe { memmap2::MmapOptions::new().populate().map(&file) }
        .map_err(io_error(path, "mmap"))?;
    Ok(map)
}

/// Header, length, name and body checks, then rkyv validation; returns the
/// header and the validated archive. Nothing is trusted before this passes.
fn verify<'a>(path: &Path, bytes: &'a [u8]) -> Result<(Header, BodyView<'a>), Damage> {
    let name_zxid = path
        .file_name()
        .and_then(|name| name.to_str())
        .and_then(format::parse_file_name);
    verify_bytes(name_zxid, bytes)
}

/// [`verify`] on bytes; `name_zxid` is the zxid the file name stands for.
fn verify_bytes(name_zxid: Option<i64>, bytes: &[u8]) -> Result<(Header, BodyView<'_>), Damage> {
    let header = Header::decode(bytes)?;
    let file_len = bytes.len() as u64;
    let expected = header.body_len.checked_add(HEADER_LEN as u64);
    if expected != Some(file_len) {
        return Err(Damage::LengthMismatch {
            file_len,
            expected: expected.unwrap_or(u64::MAX),
        });
    }
    if let Some(name) = name_zxid {
        if name != header.zxid {
            return Err(Damage::NameMismatch {
                name,
                header: header.zxid,
            });
        }
    }
    let body = &bytes[HEADER_LEN..];
    let computed = crc32c::crc32c(body);
    if computed != header.body_crc {
        return Err(Damage::BodyCrc {
            stored: header.body_crc,
            computed,
        });
    }
    let archive_damage = |e: rancor::Error| Damage::Archive {
        message: e.to_string(),
    };
    let archived = if header.format_version == FORMAT_VERSION_RAFT {
        let b =
            rkyv::access::<ArchivedSnapshotBodyV2, rancor::Error>(body).map_err(archive_damage)?;
        BodyView {
            zxid: b.zxid.to_native(),
            acls: &b.acls,
            nodes: &b.nodes,
            sessions: &b.sessions,
            raft: Some(&b.raft),
        }
    } else {
        let b =
            rkyv::access::<ArchivedSnapshotBody, rancor::Error>(body).map_err(archive_damage)?;
        BodyView {
            zxid: b.zxid.to_native(),
            acls: &b.acls,
            nodes: &b.nodes,
            sessions: &b.sessions,
            raft: None,
        }
    };
    let mismatch = |field, header: u64, body: u64| {
        (header != body).then_some(Damage::HeaderBodyMismatch {
            field,
            header,
            body,
        })
    };
    let body_zxid = archived.zxid;
    let raft_index = archived.raft.map_or(0, |r| r.index.to_native());
    if let Some(damage) = mismatch("zxid", header.zxid as u64, body_zxid as u64)
        .or_else(|| mismatch("raft_index", header.raft_index, raft_index))
        .or_else(|| mismatch("node_count", header.node_count, archived.nodes.len() as u64))
        .or_else(|| {
            mismatch(
                "session_count",
                header.session_count,
                archived.sessions.len() as u64,
            )
        })
    {
        return Err(damage);
    }
    Ok((header, archived))
}

/// Builds the tree and session list from a verified archive: reads the
/// archived nodes in place (only paths and data are copied, into the tree's
/// own `Arc`s) and checks the references between them.
fn build(header: &Header, body: &BodyView<'_>) -> Result<(DataTree, Vec<SessionRecord>), Damage> {
    // One Arc per distinct list, shared by its nodes as in the live tree.
    let acls: Vec<Arc<Vec<Acl>>> = body
        .acls
        .iter()
        .map(|list| {
            Arc::new(
                list.iter()
                    .map(|acl| Acl {
                        perms: acl.perms.to_native(),
                        id: Id::new(&acl.scheme, &acl.id),
                    })
                    .collect(),
            )
        })
        .collect();
    for node in body.nodes.iter() {
        let index = node.acl.to_native();
        if index as usize >= acls.len() {
            return Err(Damage::AclIndex {
                path: node.path.to_string(),
                index,
                count: acls.len(),
            });
        }
    }
    let mut sessions = Vec::with_capacity(body.sessions.len());
    let mut seen = std::collections::HashSet::with_capacity(body.sessions.len());
    for session in body.sessions.iter() {
        let id = session.id.to_native();
        if !seen.insert(id) {
            return Err(Damage::DuplicateSession { id });
        }
        sessions.push(SessionRecord {
            id,
            timeout_ms: session.timeout_ms.to_native(),
        });
    }
    // Every restored node starts with a clone of this one empty set: a clone
    // shares the (allocated) root, where `OrdSet::new()` allocates a fresh
    // ~1.6 KiB root per node. Parents get their own copy on first insert.
    let no_children = imbl::OrdSet::new();
    let nodes = body.nodes.iter().map(|node| {
        let path: PathKey = Arc::from(&*node.path);
        let node = Node {
            data: node.data.as_ref().map(|data| Arc::<[u8]>::from(&**data)),
            // In range: checked above.
            acl: acls[node.acl.to_native() as usize].clone(),
            kind: match node.kind {
                ArchivedSnapKind::Persistent => NodeKind::Persistent,
                ArchivedSnapKind::Ephemeral { owner } => NodeKind::Ephemeral {
                    owner: owner.to_native(),
                },
                ArchivedSnapKind::Container => NodeKind::Container,
                ArchivedSnapKind::Ttl { ttl_ms } => NodeKind::Ttl {
                    ttl_ms: ttl_ms.to_native(),
                },
            },
            czxid: node.czxid.to_native(),
            mzxid: node.mzxid.to_native(),
            pzxid: node.pzxid.to_native(),
            ctime: node.ctime.to_native(),
            mtime: node.mtime.to_native(),
            version: node.version.to_native(),
            child_create_count: node.child_create_count.to_native(),
            aversion: node.aversion.to_native(),
            children: no_children.clone(),
        };
        (path, node)
    });
    let tree = DataTree::restore(nodes, header.zxid)?;
    Ok((tree, sessions))
}

/// Removes all but the newest `keep` snapshots. Returns the removed paths.
/// Temp files are left alone: a [`fn@write`] or [`write_received`] may be
/// filling one right now (the snapshotter purges while the consensus core
/// writes a snapshot received from the leader); [`remove_temp_files`]
/// clears what a crash left, at start-up.
pub fn purge(dir: &Path, keep: usize) -> Result<Vec<PathBuf>, SnapshotError> {
    if keep < RETAIN_MIN {
        return Err(SnapshotError::RetainTooFew { keep });
    }
    let files = list(dir)?;
    let doomed = files[..files.len().saturating_sub(keep)]
        .iter()
        .map(|(_, path)| path.clone());
    remove_all(doomed)
}

/// Removes the temp files a crash left in `dir` mid-write. Only at
/// start-up, before anything writes a snapshot there.
pub fn remove_temp_files(dir: &Path) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut doomed = Vec::new();
    for entry in fs::read_dir(dir).map_err(io_error(dir, "read directory"))? {
        let entry = entry.map_err(io_error(dir, "read directory"))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(format::is_temp_file_name)
        {
            doomed.push(entry.path());
        }
    }
    remove_all(doomed.into_iter())
}

fn remove_all(doomed: impl Iterator<Item = PathBuf>) -> Result<Vec<PathBuf>, SnapshotError> {
    let mut removed = Vec::new();
    for path in doomed {
        match fs::remove_file(&path) {
            Ok(()) => removed.push(path),
            // Someone else removed it first: the goal is reached.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_error(&path, "remove")(e)),
        }
    }
    Ok(removed)
}

#[cfg(test)]
mod crc_writer_tests {
    use super::*;

    /// A writer whose disk is full.
    struct Full;
    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> io::Result<usize> {
            Err(io::Error::from_raw_os_error(libc::ENOSPC))
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_first_io_error_is_kept_for_the_report() {
        let first_error = std::rc::Rc::new(std::cell::RefCell::new(None));
        let mut w = CrcWriter {
            inner: Full,
            crc: 0,
            len: 0,
            first_error: first_error.clone(),
        };
        assert!(w.write(b"abc").is_err());
        assert!(w.write(b"def").is_err());
        let kept = first_error.borrow_mut().take().expect("the error is kept");
        assert_eq!(kept.raw_os_error(), None, "kept as kind + message");
        assert_eq!(kept.kind(), io::ErrorKind::StorageFull);
        assert!(kept.to_string().contains("No space left"), "{kept}");
        assert_eq!(w.len, 0);
    }
}
