//! Which container and TTL nodes the reaper should delete (digest §9.4,
//! §9.5). The reaper itself (timing, rate limit) lives at the edge; it turns
//! each candidate into a deleteContainer request that goes through prep, so a
//! node that gained a child in the meantime is refused with NotEmpty.

use crate::tree::{DataTree, NodeKind, PathKey};

/// Childless containers that have ever had a child (create-counter > 0) or,
/// if `max_never_used_interval_ms` is non-zero, were last modified more than
/// that long ago; and childless TTL nodes whose `now - mtime` exceeds their
/// ttl. In path order, so every member picks the same ones.
pub fn reaper_candidates(
    tree: &DataTree,
    now_ms: i64,
    max_never_used_interval_ms: i64,
) -> Vec<PathKey> {
    tree.containers_and_ttls
        .iter()
        .filter(|path| {
            let Some(node) = tree.get(path) else {
                panic!("containers_and_ttls lists {path:?}, which is not in the tree")
            };
            if !node.children.is_empty() {
                return false;
            }
            let idle_ms = now_ms.saturating_sub(node.mtime);
            match node.kind {
                NodeKind::Container => {
                    node.child_create_count > 0
                        || (max_never_used_interval_ms != 0 && idle_ms > max_never_used_interval_ms)
                }
                NodeKind::Ttl { ttl_ms } => idle_ms > ttl_ms,
                NodeKind::Persistent | NodeKind::Ephemeral { .. } => {
                    panic!(
                        "containers_and_ttls lists {path:?}, which is {:?}",
                        node.kind
                    )
                }
            }
        })
        .cloned()
        .collect()
}
