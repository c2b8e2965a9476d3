//! The snapshot file format, versions 1 and 2. This module doc is the spec.
//!
//! Version 1 is what a standalone server writes (and has always written).
//! Version 2 is what an ensemble member writes: the same header and body plus
//! the *raft point* of the tree (see "Version 2" below). A reader accepts
//! both; a standalone server still writes version 1, byte for byte as before.
//!
//! # File
//!
//! A snapshot file is named `snapshot.<zxid>` where `<zxid>` is the tree's
//! last applied zxid as exactly 16 lowercase hex digits (so names sort in zxid
//! order). It is a fixed 64-byte header followed by the body:
//!
//! ```text
//! offset size  field
//!      0    8  magic            b"ROOSTSNP"
//!      8    4  format_version   u32, 1 or 2
//!     12    4  flags            u32, 0 (no flag is defined; any set bit is rejected)
//!     16    8  zxid             i64, last zxid applied to the tree
//!     24    8  node_count       u64, distinct nodes including the root
//!     32    8  session_count    u64
//!     40    8  body_len         u64, file length is exactly 64 + body_len
//!     48    4  body_crc         u32, crc32c (Castagnoli) of the body bytes
//!     52    8  raft_index       u64; version 1: reserved, zero (ignored on read);
//!                               version 2: the raft index of the last entry applied
//!                               to the tree (equal to the body's `raft.index`)
//!     60    4  header_crc       u32, crc32c of header bytes 0..60
//!     64       body             body_len bytes
//! ```
//!
//! All integers are little endian. The header is 64 bytes so the body starts
//! 64-byte aligned in a page-aligned mapping, which rkyv's aligned archive
//! needs for zero-copy access.
//!
//! # Body
//!
//! The body is an rkyv 0.8 archive (default features: little endian, aligned,
//! 32-bit relative pointers, so a body must stay below 2 GiB) whose root is a
//! [`SnapshotBody`]:
//!
//! - `zxid`: equal to the header's zxid.
//! - `acls`: the distinct ACL lists of the tree, each stored once; nodes refer
//!   to them by index (thousands of nodes usually share a handful of lists).
//! - `nodes`: every node, in path byte order, with its full path. Children
//!   are not stored: they are derived from the paths on restore, which is also
//!   how the parent/child structure is checked. `data: None` is null data,
//!   distinct from `Some(empty)`.
//! - `sessions`: every live session (id and negotiated timeout).
//!
//! # Version 2: the raft point
//!
//! The body's root is [`SnapshotBodyV2`]: the four fields above, in the same
//! order and with the same types, then `raft` ([`SnapRaft`]):
//!
//! - `index`, `term`: raft index and term of the last log entry applied to
//!   the tree. Raft's log may be compacted up to `index`; a restart resumes
//!   the log at `index + 1`, and a lagging member is sent this file.
//! - `applied_zxid`: the member's zxid after applying `index` (at least the
//!   tree's zxid; a new term's empty entry moves it to `term << 32` without
//!   changing the tree).
//! - `voters`, `learners`, `voters_outgoing`, `learners_next`, `auto_leave`:
//!   raft's `ConfState` at `index`, stored explicitly (not derived from
//!   `/zookeeper/config`).
//!
//! The header's `raft_index` repeats `raft.index` so that retention (which
//! log may be released) needs only the 64 header bytes of each file.
//!
//! # Reading
//!
//! A reader checks, in order, before trusting any byte: length >= 64, magic,
//! header crc, format version, flags, file length == 64 + body_len, body crc.
//! Only then is the body handed to rkyv's validating `access` (bytecheck),
//! which checks every pointer, length, enum tag and UTF-8 string. After that:
//! header counts and zxid equal the body's (version 2: and `raft_index`
//! equals `raft.index`), every ACL index is in range, and the nodes form a
//! tree ([`crate::tree::restore`]). The same checks apply to a snapshot
//! received from the leader as bytes (`crate::snapshot::load_bytes`), except
//! the file-name check.
//!
//! # Compatibility
//!
//! Any change to the header or to the archived types below is a new
//! `format_version`; a reader rejects versions it does not know.

use crate::tree::{Node, NodeKind, PathKey};
use rkyv::rancor::Fallible;
use rkyv::ser::{Allocator, Writer};
use rkyv::vec::{ArchivedVec, VecResolver};
use rkyv::with::{InlineAsBox, Map};
use rkyv::{Archive, Place, Serialize};
use std::sync::Arc;

/// The first 8 bytes of every snapshot file.
pub const MAGIC: [u8; 8] = *b"ROOSTSNP";
/// The format version of a standalone snapshot (no raft point).
pub const FORMAT_VERSION: u32 = 1;
/// The format version of an ensemble member's snapshot (with a raft point).
pub const FORMAT_VERSION_RAFT: u32 = 2;
/// Header length; the body starts at this offset.
pub const HEADER_LEN: usize = 64;
/// File name prefix; the zxid in 16 hex digits follows.
pub const FILE_PREFIX: &str = "snapshot.";
/// Suffix of a snapshot being written. A file with it is never read and is
/// removed by purge (a crash mid-write leaves one behind).
pub const TEMP_SUFFIX: &str = ".tmp";

/// The header fields (everything but magic and the header crc).
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    pub format_version: u32,
    pub flags: u32,
    pub zxid: i64,
    pub node_count: u64,
    pub session_count: u64,
    pub body_len: u64,
    pub body_crc: u32,
    /// Version 2: raft index of the tree; version 1: 0.
    pub raft_index: u64,
}

/// A header as found on disk, before any judgement: what `inspect` prints
/// even for a damaged file.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RawHeader {
    pub magic: [u8; 8],
    pub header: Header,
    pub stored_header_crc: u32,
    pub computed_header_crc: u32,
}

/// What is wrong with a snapshot file's bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Damage {
    #[error("file is {len} bytes, shorter than the {HEADER_LEN}-byte header")]
    TooShort { len: u64 },
    #[error("bad magic {found:02x?}")]
    BadMagic { found: [u8; 8] },
    #[error("header crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    HeaderCrc { stored: u32, computed: u32 },
    #[error("unsupported format version {found} (this build reads {FORMAT_VERSION} and {FORMAT_VERSION_RAFT})")]
    UnsupportedVersion { found: u32 },
    #[error("unknown flags {found:#x}")]
    UnknownFlags { found: u32 },
    #[error("file is {file_len} bytes but the header says {expected}")]
    LengthMismatch { file_len: u64, expected: u64 },
    #[error("body crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    BodyCrc { stored: u32, computed: u32 },
    #[error("file name zxid {name:#x} differs from header zxid {header:#x}")]
    NameMismatch { name: i64, header: i64 },
    #[error("archive failed validation: {message}")]
    Archive { message: String },
    #[error("header {field} is {header} but the body has {body}")]
    HeaderBodyMismatch {
        field: &'static str,
        header: u64,
        body: u64,
    },
    #[error("node {path:?} refers to ACL list {index}, but there are {count}")]
    AclIndex {
        path: String,
        index: u32,
        count: usize,
    },
    #[error("session {id:#x} appears more than once")]
    DuplicateSession { id: i64 },
    #[error("nodes do not form a tree: {0}")]
    Restore(#[from] crate::tree::restore::RestoreError),
}

impl Header {
    /// The 64 header bytes, crc included.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut bytes = [0u8; HEADER_LEN];
        bytes[0..8].copy_from_slice(&MAGIC);
        bytes[8..12].copy_from_slice(&self.format_version.to_le_bytes());
        bytes[12..16].copy_from_slice(&self.flags.to_le_bytes());
        bytes[16..24].copy_from_slice(&self.zxid.to_le_bytes());
        bytes[24..32].copy_from_slice(&self.node_count.to_le_bytes());
        bytes[32..40].copy_from_slice(&self.session_count.to_le_bytes());
        bytes[40..48].copy_from_slice(&self.body_len.to_le_bytes());
        bytes[48..52].copy_from_slice(&self.body_crc.to_le_bytes());
        bytes[52..60].copy_from_slice(&self.raft_index.to_le_bytes());
        let crc = crc32c::crc32c(&bytes[..60]);
        bytes[60..64].copy_from_slice(&crc.to_le_bytes());
        bytes
    }

    /// Checks the header bytes (magic, crc, version, flags) and returns the
    /// fields. `bytes` is the whole file or at least its first 64 bytes.
    pub fn decode(bytes: &[u8]) -> Result<Header, Damage> {
        let raw = RawHeader::read(bytes)?;
        if raw.magic != MAGIC {
            return Err(Damage::BadMagic { found: raw.magic });
        }
        if raw.stored_header_crc != raw.computed_header_crc {
            return Err(Damage::HeaderCrc {
                stored: raw.stored_header_crc,
                computed: raw.computed_header_crc,
            });
        }
        let mut header = raw.header;
        if header.format_version == FORMAT_VERSION {
            // Reserved in version 1: never trusted.
            header.raft_index = 0;
        } else if header.format_version != FORMAT_VERSION_RAFT {
            return Err(Damage::UnsupportedVersion {
                found: header.format_version,
            });
        }
        if header.flags != 0 {
            return Err(Damage::UnknownFlags {
                found: header.flags,
            });
        }
        Ok(header)
    }
}

impl RawHeader {
    /// Reads the header fields without judging them.
    pub fn read(bytes: &[u8]) -> Result<RawHeader, Damage> {
        let Some(bytes) = bytes.get(..HEADER_LEN) else {
            return Err(Damage::TooShort {
                len: bytes.len() as u64,
            });
        };
        // The slice is exactly HEADER_LEN long, so every fixed range below
        // is in bounds and converts to an array of its own length.
        let field = |range: std::ops::Range<usize>| -> [u8; 8] {
            let mut out = [0u8; 8];
            out[..range.len()].copy_from_slice(&bytes[range]);
            out
        };
        let u32_at = |at: usize| {
            let b = field(at..at + 4);
            u32::from_le_bytes([b[0], b[1], b[2], b[3]])
        };
        let u64_at = |at: usize| u64::from_le_bytes(field(at..at + 8));
        Ok(RawHeader {
            magic: field(0..8),
            header: Header {
                format_version: u32_at(8),
                flags: u32_at(12),
                zxid: i64::from_le_bytes(field(16..24)),
                node_count: u64_at(24),
                session_count: u64_at(32),
                body_len: u64_at(40),
                body_crc: u32_at(48),
                raft_index: u64_at(52),
            },
            stored_header_crc: u32_at(60),
            computed_header_crc: crc32c::crc32c(&bytes[..60]),
        })
    }
}

/// The archive root.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapshotBody {
    pub zxid: i64,
    /// Distinct ACL lists; [`SnapNode::acl`] indexes this.
    pub acls: Vec<Vec<SnapAcl>>,
    /// Every node, root included, in path byte order.
    pub nodes: Vec<SnapNode>,
    pub sessions: Vec<SnapSession>,
}

/// The version 2 archive root: [`SnapshotBody`]'s fields plus the raft point.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapshotBodyV2 {
    pub zxid: i64,
    pub acls: Vec<Vec<SnapAcl>>,
    pub nodes: Vec<SnapNode>,
    pub sessions: Vec<SnapSession>,
    pub raft: SnapRaft,
}

/// Where the tree stands in the raft log, and raft's configuration there.
#[derive(Archive, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapRaft {
    pub index: u64,
    pub term: u64,
    pub applied_zxid: i64,
    pub voters: Vec<u64>,
    pub learners: Vec<u64>,
    pub voters_outgoing: Vec<u64>,
    pub learners_next: Vec<u64>,
    pub auto_leave: bool,
}

/// One ACL entry: `perms` on `scheme:id`.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct SnapAcl {
    pub perms: i32,
    pub scheme: String,
    pub id: String,
}

/// What kind of node; mirrors [`crate::tree::NodeKind`].
#[derive(Archive, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SnapKind {
    Persistent,
    Ephemeral { owner: i64 },
    Container,
    Ttl { ttl_ms: i64 },
}

/// One znode without its children.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize, Clone, Debug, PartialEq, Eq)]
pub struct SnapNode {
    /// Full absolute path; the root is `/`.
    pub path: Box<str>,
    /// `None` is null data, distinct from empty.
    pub data: Option<Box<[u8]>>,
    /// Index into [`SnapshotBody::acls`].
    pub acl: u32,
    pub kind: SnapKind,
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    /// The internal create-counter (cversion = 2 * this - numChildren).
    pub child_create_count: i32,
    pub aversion: i32,
}

/// One live session.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize, Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapSession {
    pub id: i64,
    pub timeout_ms: i32,
}

/// [`SnapNode`] borrowing its path and data from the live tree, so writing a
/// snapshot never copies node contents; archives to the very same bytes.
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize)]
#[rkyv(as = ArchivedSnapNode)]
#[rkyv(serialize_bounds(__S: Writer + Allocator))]
pub(crate) struct SnapNodeRef<'a> {
    // omit_bounds: a derived `where` bound would hide the concrete
    // archived type from the `as` check.
    #[rkyv(with = InlineAsBox, omit_bounds)]
    pub path: &'a str,
    #[rkyv(with = Map<InlineAsBox>, omit_bounds)]
    pub data: Option<&'a [u8]>,
    pub acl: u32,
    pub kind: SnapKind,
    pub czxid: i64,
    pub mzxid: i64,
    pub pzxid: i64,
    pub ctime: i64,
    pub mtime: i64,
    pub version: i32,
    pub child_create_count: i32,
    pub aversion: i32,
}

/// The node list, produced lazily from borrowed tree entries: a 1M-node tree
/// is serialized without first building 1M owned [`SnapNode`]s.
pub(crate) struct NodeList<'a> {
    /// The tree's entries in path order.
    pub entries: &'a [(&'a PathKey, &'a Arc<Node>)],
    /// Per entry, its index in [`SnapshotBody::acls`].
    pub acl_index: &'a [u32],
}

impl<'a> NodeList<'a> {
    fn node(&self, i: usize) -> SnapNodeRef<'a> {
        let (path, node) = self.entries[i];
        SnapNodeRef {
            path,
            data: node.data.as_deref(),
            acl: self.acl_index[i],
            kind: match node.kind {
                NodeKind::Persistent => SnapKind::Persistent,
                NodeKind::Ephemeral { owner } => SnapKind::Ephemeral { owner },
                NodeKind::Container => SnapKind::Container,
                NodeKind::Ttl { ttl_ms } => SnapKind::Ttl { ttl_ms },
            },
            czxid: node.czxid,
            mzxid: node.mzxid,
            pzxid: node.pzxid,
            ctime: node.ctime,
            mtime: node.mtime,
            version: node.version,
            child_create_count: node.child_create_count,
            aversion: node.aversion,
        }
    }
}

impl Archive for NodeList<'_> {
    type Archived = ArchivedVec<ArchivedSnapNode>;
    type Resolver = VecResolver;

    fn resolve(&self, resolver: Self::Resolver, out: Place<Self::Archived>) {
        ArchivedVec::resolve_from_len(self.entries.len(), resolver, out);
    }
}

impl<'a, S> Serialize<S> for NodeList<'a>
where
    S: Fallible + Allocator + Writer + ?Sized,
{
    fn serialize(&self, serializer: &mut S) -> Result<Self::Resolver, S::Error> {
        assert_eq!(self.entries.len(), self.acl_index.len());
        // rkyv walks the iterator twice: out-of-line parts (paths, data)
        // first, then the array of fixed-size node records.
        ArchivedVec::<ArchivedSnapNode>::serialize_from_iter::<SnapNodeRef<'a>, _, _>(
            (0..self.entries.len()).map(|i| self.node(i)),
            serializer,
        )
    }
}

/// [`SnapshotBody`] with the node list produced by [`NodeList`].
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize)]
#[rkyv(as = ArchivedSnapshotBody)]
#[rkyv(serialize_bounds(__S: Writer + Allocator))]
pub(crate) struct SnapshotBodyRef<'a> {
    pub zxid: i64,
    pub acls: Vec<Vec<SnapAcl>>,
    #[rkyv(omit_bounds)]
    pub nodes: NodeList<'a>,
    pub sessions: Vec<SnapSession>,
}

/// [`SnapshotBodyV2`] with the node list produced by [`NodeList`].
/// A value of the on-disk format (see the module doc); built and read on whichever thread writes
/// or loads the snapshot.
#[derive(Archive, Serialize)]
#[rkyv(as = ArchivedSnapshotBodyV2)]
#[rkyv(serialize_bounds(__S: Writer + Allocator))]
pub(crate) struct SnapshotBodyV2Ref<'a> {
    pub zxid: i64,
    pub acls: Vec<Vec<SnapAcl>>,
    #[rkyv(omit_bounds)]
    pub nodes: NodeList<'a>,
    pub sessions: Vec<SnapSession>,
    pub raft: SnapRaft,
}

/// The file name of the snapshot of `zxid`.
pub fn file_name(zxid: i64) -> String {
    format!("{FILE_PREFIX}{:016x}", zxid as u64)
}

/// The zxid a snapshot file name stands for; `None` for any other name
/// (temp files included).
pub fn parse_file_name(name: &str) -> Option<i64> {
    let hex = name.strip_prefix(FILE_PREFIX)?;
    // Lowercase only, so each zxid has exactly one file name.
    if hex.len() != 16 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return None;
    }
    u64::from_str_radix(hex, 16).ok().map(|zxid| zxid as i64)
}

/// Between a received snapshot's file name and [`TEMP_SUFFIX`]: its temp
/// file is never the one the snapshotter fills for the same zxid.
pub const RECEIVED_TEMP_INFIX: &str = ".received";

/// True for a temp file a snapshot write left behind.
pub fn is_temp_file_name(name: &str) -> bool {
    name.strip_suffix(TEMP_SUFFIX)
        .map(|stem| stem.strip_suffix(RECEIVED_TEMP_INFIX).unwrap_or(stem))
        .is_some_and(|stem| parse_file_name(stem).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_rejects_damage() {
        let header = Header {
            format_version: FORMAT_VERSION,
            flags: 0,
            zxid: 0x1_0000_0005,
            node_count: 4,
            session_count: 2,
            body_len: 1000,
            body_crc: 0xdead_beef,
            raft_index: 0,
        };
        let bytes = header.encode();
        assert_eq!(Header::decode(&bytes), Ok(header));
        let v2 = Header {
            format_version: FORMAT_VERSION_RAFT,
            raft_index: 77,
            ..header
        };
        assert_eq!(Header::decode(&v2.encode()), Ok(v2));
        // Version 1's reserved bytes are never read as a raft index.
        let v1_junk = Header {
            raft_index: 5,
            ..header
        };
        assert_eq!(Header::decode(&v1_junk.encode()), Ok(header));

        assert!(matches!(
            Header::decode(&bytes[..63]),
            Err(Damage::TooShort { len: 63 })
        ));
        for at in 0..HEADER_LEN {
            let mut bad = bytes;
            bad[at] ^= 0x40;
            assert!(Header::decode(&bad).is_err(), "flip at byte {at} accepted");
        }
        let future = Header {
            format_version: 3,
            ..header
        };
        assert_eq!(
            Header::decode(&future.encode()),
            Err(Damage::UnsupportedVersion { found: 3 })
        );
        let flagged = Header { flags: 1, ..header };
        assert_eq!(
            Header::decode(&flagged.encode()),
            Err(Damage::UnknownFlags { found: 1 })
        );
    }

    #[test]
    fn file_names_sort_by_zxid_and_temp_files_are_not_snapshots() {
        assert_eq!(file_name(0x1_0000_00ff), "snapshot.00000001000000ff");
        assert_eq!(
            parse_file_name("snapshot.00000001000000ff"),
            Some(0x1_0000_00ff)
        );
        assert_eq!(parse_file_name("snapshot.00000001000000ff.tmp"), None);
        assert_eq!(parse_file_name("snapshot.1ff"), None);
        assert_eq!(parse_file_name("snapshot.00000001000000FF"), None);
        assert_eq!(parse_file_name("log.00000001000000ff"), None);
        assert!(is_temp_file_name("snapshot.00000001000000ff.tmp"));
        assert!(!is_temp_file_name("snapshot.00000001000000ff"));
        assert!(file_name(9) < file_name(10));
    }
}
