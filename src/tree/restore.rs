//! Rebuilding a [`DataTree`] from a flat list of nodes (a snapshot).
//!
//! A snapshot stores each node with its full path and no children; every
//! derived structure is recomputed here exactly as the mutation primitives in
//! [`super`] maintain it:
//!
//! - children sets: the last segment of every non-root path, added to its
//!   parent ([`super::parent_of`] / [`super::basename`] rules);
//! - `ephemerals`: session -> paths of its ephemeral nodes (no entry for a
//!   session without ephemerals);
//! - `containers_and_ttls`: paths of container and TTL nodes;
//! - `approximate_data_size`: path length plus data length of every node, the
//!   root counted as `/`.
//!
//! The input is data read from disk, so a broken structural invariant is a
//! [`RestoreError`], never a panic: the caller falls back to an older snapshot.
//! Checked: the root is present, every path is absolute with a non-empty last
//! segment, no path appears twice, every parent is present, no parent is an
//! ephemeral, and the input carries no children (they are derived only).

use super::{basename, node_size, parent_of, DataTree, Node, NodeKind, PathKey, ROOT_PATH};
use crate::proto::Zxid;
use imbl::{HashMap, OrdSet};
use std::sync::Arc;

/// Why a list of nodes does not form a valid tree.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    #[error("the root node {ROOT_PATH:?} is missing")]
    MissingRoot,
    #[error("path {path:?} is not absolute or has an empty last segment")]
    BadPath { path: String },
    #[error("path {path:?} appears more than once")]
    DuplicatePath { path: String },
    #[error("parent {parent:?} of {path:?} is missing")]
    MissingParent { path: String, parent: String },
    #[error("parent {parent:?} of {path:?} is ephemeral")]
    EphemeralParent { path: String, parent: String },
    #[error("node {path:?} carries children; they are derived from paths only")]
    ChildrenGiven { path: String },
}

impl DataTree {
    /// Builds the tree version whose nodes are `nodes` (in any order, each
    /// with an empty children set) and whose last applied transaction is
    /// `last_zxid`. The result equals (`==`) the tree the nodes were taken
    /// from.
    pub fn restore(
        nodes: impl IntoIterator<Item = (PathKey, Node)>,
        last_zxid: Zxid,
    ) -> Result<DataTree, RestoreError> {
        let mut tree = DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers_and_ttls: OrdSet::new(),
            last_zxid,
            approximate_data_size: 0,
        };
        for (path, node) in nodes {
            let is_root = &*path == ROOT_PATH;
            if !is_root && (!path.starts_with('/') || basename(&path).is_empty()) {
                return Err(RestoreError::BadPath {
                    path: path.to_string(),
                });
            }
            if !node.children.is_empty() {
                return Err(RestoreError::ChildrenGiven {
                    path: path.to_string(),
                });
            }
            match node.kind {
                NodeKind::Ephemeral { owner } => {
                    tree.ephemerals
                        .entry(owner)
                        .or_default()
                        .insert(path.clone());
                }
                NodeKind::Container | NodeKind::Ttl { .. } => {
                    tree.containers_and_ttls.insert(path.clone());
                }
                NodeKind::Persistent => {}
            }
            tree.approximate_data_size += node_size(&path, &node.data);
            if tree.nodes.insert(path.clone(), Arc::new(node)).is_some() {
                return Err(RestoreError::DuplicatePath {
                    path: path.to_string(),
                });
            }
        }
        if !tree.contains(ROOT_PATH) {
            return Err(RestoreError::MissingRoot);
        }

        // Second pass: only now is every potential parent in the map. Child
        // names are grouped by parent first so each parent is looked up and
        // copied once and its set is built from sorted names; inserting
        // child by child in map order was 5x slower on 1M nodes (random
        // access into large sets).
        let paths: Vec<PathKey> = tree.nodes.keys().cloned().collect();
        let mut by_parent: std::collections::HashMap<&str, Vec<&str>> =
            std::collections::HashMap::new();
        for path in &paths {
            if &**path == ROOT_PATH {
                continue;
            }
            // Checked in the first pass: every non-root path has a '/'.
            let Some(parent_path) = parent_of(path) else {
                return Err(RestoreError::BadPath {
                    path: path.to_string(),
                });
            };
            by_parent.entry(parent_path).or_default().push(path);
        }
        for (parent_path, mut children) in by_parent {
            let Some(parent) = tree.nodes.get_mut(parent_path) else {
                return Err(RestoreError::MissingParent {
                    path: children[0].to_owned(),
                    parent: parent_path.to_owned(),
                });
            };
            let parent = Arc::make_mut(parent);
            if parent.is_ephemeral() {
                return Err(RestoreError::EphemeralParent {
                    path: children[0].to_owned(),
                    parent: parent_path.to_owned(),
                });
            }
            // Siblings share their parent prefix, so sorting full paths
            // sorts the names.
            children.sort_unstable();
            parent.children = children
                .into_iter()
                .map(|child| Arc::from(basename(child)))
                .collect();
        }
        Ok(tree)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::Acl;

    fn node(kind: NodeKind) -> Node {
        Node::new_created(
            Some(Arc::from(&b"x"[..])),
            Arc::new(Acl::open_unsafe()),
            kind,
            1,
            0,
        )
    }

    fn flat(tree: &DataTree) -> Vec<(PathKey, Node)> {
        tree.nodes
            .iter()
            .map(|(path, node)| {
                let mut node = Node::clone(node);
                node.children = OrdSet::new();
                (path.clone(), node)
            })
            .collect()
    }

    #[test]
    fn restore_of_a_flattened_tree_is_equal() {
        let mut tree = DataTree::new();
        tree.insert_node(Arc::from("/a"), node(NodeKind::Container), 1);
        tree.insert_node(Arc::from("/a/b"), node(NodeKind::Ttl { ttl_ms: 5 }), 2);
        tree.insert_node(
            Arc::from("/a/b/e"),
            node(NodeKind::Ephemeral { owner: 9 }),
            3,
        );
        tree.insert_node(Arc::from("/p"), node(NodeKind::Persistent), 4);
        tree.last_zxid = 4;
        let mut nodes = flat(&tree);
        nodes.reverse();
        let restored = DataTree::restore(nodes, 4).expect("valid");
        assert_eq!(restored, tree);
    }

    #[test]
    fn broken_structure_is_an_error_not_a_panic() {
        let tree = DataTree::new();
        let without_root: Vec<_> = flat(&tree)
            .into_iter()
            .filter(|(path, _)| &**path != "/")
            .collect();
        assert_eq!(
            DataTree::restore(without_root, 0),
            Err(RestoreError::MissingRoot)
        );

        let mut orphan = flat(&tree);
        orphan.push((Arc::from("/x/y"), node(NodeKind::Persistent)));
        assert!(matches!(
            DataTree::restore(orphan, 0),
            Err(RestoreError::MissingParent { .. })
        ));

        let mut under_ephemeral = flat(&tree);
        under_ephemeral.push((Arc::from("/e"), node(NodeKind::Ephemeral { owner: 1 })));
        under_ephemeral.push((Arc::from("/e/c"), node(NodeKind::Persistent)));
        assert!(matches!(
            DataTree::restore(under_ephemeral, 0),
            Err(RestoreError::EphemeralParent { .. })
        ));

        let mut duplicate = flat(&tree);
        duplicate.push((Arc::from("/zookeeper"), node(NodeKind::Persistent)));
        assert!(matches!(
            DataTree::restore(duplicate, 0),
            Err(RestoreError::DuplicatePath { .. })
        ));

        for bad in ["relative", "/trailing/"] {
            let mut bad_path = flat(&tree);
            bad_path.push((Arc::from(bad), node(NodeKind::Persistent)));
            assert!(matches!(
                DataTree::restore(bad_path, 0),
                Err(RestoreError::BadPath { .. })
            ));
        }

        let mut with_children = flat(&tree);
        with_children[0].1.children.insert(Arc::from("ghost"));
        assert!(matches!(
            DataTree::restore(with_children, 0),
            Err(RestoreError::ChildrenGiven { .. })
        ));
    }
}
