//! `roost snapshot inspect FILE`: a human-readable report of one snapshot
//! file for operators. It prints whatever it can trust: the raw header
//! always, the checksum verdicts, and the content only after the same checks
//! [`super::load`] makes. The last line is `verdict: ok` or
//! `verdict: DAMAGED: <why>`; a damaged file also returns `Err`.

use super::format::{ArchivedSnapKind, RawHeader, HEADER_LEN, MAGIC};
use super::{build, damaged, io_error, map_file, verify, BodyView, SnapshotError};
use crate::tree::parent_of;
use std::collections::HashMap;
use std::io::Write;
use std::path::Path;

/// Writes the report on `path` to `out`.
pub fn inspect(path: &Path, out: &mut dyn Write) -> Result<(), SnapshotError> {
    let report = |e| io_error(path, "write report")(e);
    let map = match map_file(path) {
        Ok(map) => map,
        Err(e @ SnapshotError::Damaged { .. }) => {
            writeln!(out, "file: {}\nverdict: DAMAGED: {e}", path.display()).map_err(report)?;
            return Err(e);
        }
        Err(e) => return Err(e),
    };
    write_header(path, &map, out).map_err(report)?;
    let (header, body) = match verify(path, &map) {
        Ok(verified) => verified,
        Err(damage) => {
            writeln!(out, "verdict: DAMAGED: {damage}").map_err(report)?;
            return Err(damaged(path)(damage));
        }
    };
    write_content(&body, out).map_err(report)?;
    // The structural checks (ACL indexes, sessions, tree shape).
    match build(&header, &body) {
        Ok(_) => writeln!(out, "verdict: ok").map_err(report),
        Err(damage) => {
            writeln!(out, "verdict: DAMAGED: {damage}").map_err(report)?;
            Err(damaged(path)(damage))
        }
    }
}

fn verdict(ok: bool) -> &'static str {
    if ok {
        "ok"
    } else {
        "MISMATCH"
    }
}

/// The header as stored, with each check's outcome; trusts nothing.
fn write_header(path: &Path, bytes: &[u8], out: &mut dyn Write) -> std::io::Result<()> {
    writeln!(out, "file: {}", path.display())?;
    writeln!(out, "size: {} bytes", bytes.len())?;
    let raw = match RawHeader::read(bytes) {
        Ok(raw) => raw,
        Err(damage) => return writeln!(out, "header: unreadable: {damage}"),
    };
    let h = raw.header;
    writeln!(out, "header:")?;
    writeln!(
        out,
        "  magic: {:?} {}",
        String::from_utf8_lossy(&raw.magic),
        verdict(raw.magic == MAGIC)
    )?;
    writeln!(out, "  format version: {}", h.format_version)?;
    writeln!(out, "  flags: {:#x}", h.flags)?;
    writeln!(out, "  zxid: {:#018x} ({})", h.zxid, h.zxid)?;
    writeln!(out, "  node count: {}", h.node_count)?;
    writeln!(out, "  session count: {}", h.session_count)?;
    writeln!(out, "  body length: {} bytes", h.body_len)?;
    if h.format_version == super::format::FORMAT_VERSION_RAFT {
        writeln!(out, "  raft index: {}", h.raft_index)?;
    }
    writeln!(
        out,
        "  header crc32c: {:#010x} {}",
        raw.stored_header_crc,
        verdict(raw.stored_header_crc == raw.computed_header_crc)
    )?;
    let body = &bytes[HEADER_LEN.min(bytes.len())..];
    let computed = crc32c::crc32c(body);
    writeln!(
        out,
        "  body crc32c: {:#010x} {}",
        h.body_crc,
        if h.body_len != body.len() as u64 {
            "NOT CHECKED (length mismatch)"
        } else {
            verdict(computed == h.body_crc)
        }
    )
}

/// ACL table, sessions and one line per node, stat-like.
fn write_content(body: &BodyView<'_>, out: &mut dyn Write) -> std::io::Result<()> {
    if let Some(raft) = body.raft {
        let ids = |v: &rkyv::vec::ArchivedVec<rkyv::rend::u64_le>| -> Vec<u64> {
            v.iter().map(|x| x.to_native()).collect()
        };
        writeln!(
            out,
            "raft: index {} term {} applied zxid {:#x} voters {:?} learners {:?} \
             voters_outgoing {:?} learners_next {:?} auto_leave {}",
            raft.index.to_native(),
            raft.term.to_native(),
            raft.applied_zxid.to_native(),
            ids(&raft.voters),
            ids(&raft.learners),
            ids(&raft.voters_outgoing),
            ids(&raft.learners_next),
            raft.auto_leave,
        )?;
    }
    writeln!(out, "acl lists: {}", body.acls.len())?;
    for (index, list) in body.acls.iter().enumerate() {
        let entries: Vec<String> = list
            .iter()
            .map(|acl| format!("{}:{}:{}", acl.scheme, acl.id, acl.perms.to_native()))
            .collect();
        writeln!(out, "  #{index}: [{}]", entries.join(", "))?;
    }
    writeln!(out, "sessions: {}", body.sessions.len())?;
    for session in body.sessions.iter() {
        writeln!(
            out,
            "  {:#018x} timeout {} ms",
            session.id.to_native(),
            session.timeout_ms.to_native()
        )?;
    }
    // numChildren (and so cversion) is derived, as on restore.
    let mut child_counts: HashMap<&str, i32> = HashMap::new();
    for node in body.nodes.iter() {
        if &*node.path != "/" {
            if let Some(parent) = parent_of(&node.path) {
                *child_counts.entry(parent).or_default() += 1;
            }
        }
    }
    writeln!(out, "nodes: {}", body.nodes.len())?;
    for node in body.nodes.iter() {
        let data = match node.data.as_ref() {
            Some(data) => data.len().to_string(),
            None => "null".to_owned(),
        };
        let kind = match node.kind {
            ArchivedSnapKind::Persistent => "persistent".to_owned(),
            ArchivedSnapKind::Ephemeral { owner } => {
                format!("ephemeral(owner {:#x})", owner.to_native())
            }
            ArchivedSnapKind::Container => "container".to_owned(),
            ArchivedSnapKind::Ttl { ttl_ms } => format!("ttl({} ms)", ttl_ms.to_native()),
        };
        let num_children = child_counts.get(&*node.path).copied().unwrap_or(0);
        let cversion = node
            .child_create_count
            .to_native()
            .wrapping_mul(2)
            .wrapping_sub(num_children);
        writeln!(
            out,
            "  {} data={data} kind={kind} acl=#{} czxid={:#x} mzxid={:#x} pzxid={:#x} \
             ctime={} mtime={} version={} cversion={cversion} aversion={} numChildren={num_children}",
            &*node.path,
            node.acl.to_native(),
            node.czxid.to_native(),
            node.mzxid.to_native(),
            node.pzxid.to_native(),
            node.ctime.to_native(),
            node.mtime.to_native(),
            node.version.to_native(),
            node.aversion.to_native(),
        )?;
    }
    Ok(())
}
