//! The data tree: immutable, versioned, structurally shared.
//!
//! A [`DataTree`] value is one version of the whole namespace. Cloning it is
//! O(1) (persistent HAMT maps from `imbl`); a mutation copies only the path
//! from the root of the map to the changed entry. The consensus core builds
//! version N+1 from version N while client shards keep reading version N and
//! the snapshotter serializes any version it holds, with no locks.
//!
//! Ownership: a `DataTree` that is being mutated is owned by the consensus
//! core; published versions are `Arc<DataTree>` shared read-only by every core.
//!
//! Pure: no I/O, no clock (times come in with each transaction).
//!
//! The mutation primitives here ([`DataTree::insert_node`],
//! [`DataTree::remove_node`], [`DataTree::set_node_data`],
//! [`DataTree::set_node_acl`]) keep every derived structure (children sets,
//! parent counters, ephemeral and container indexes, the size estimate)
//! consistent. They are called only by `ops::write::apply` with transactions
//! that prep already validated, so a violated precondition is a bug and
//! panics with a message instead of returning an error.

pub mod node;
pub mod restore;

pub use node::{Node, NodeKind};

use crate::proto::{Acl, SessionId, Stat, Zxid};
use imbl::{HashMap, OrdSet};
use std::sync::Arc;

/// A path key. Full absolute paths (`/a/b`), shared between the node map and
/// the children sets.
pub type PathKey = Arc<str>;

/// The four nodes every tree starts with; none of them may be deleted.
pub const ROOT_PATH: &str = "/";
pub const ZOOKEEPER_PATH: &str = "/zookeeper";
pub const QUOTA_PATH: &str = "/zookeeper/quota";
pub const CONFIG_PATH: &str = "/zookeeper/config";

/// One version of the namespace. Equality compares content, which is how
/// tests check that every member applying the same log ends up identical.
/// Owned by the consensus executor while mutated; published versions are `Arc`-shared by all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataTree {
    /// Full path -> node. The root is stored under `/`.
    pub nodes: HashMap<PathKey, Arc<Node>>,
    /// Session -> paths of its ephemeral nodes. A session with no ephemerals
    /// has no entry.
    pub ephemerals: HashMap<SessionId, OrdSet<PathKey>>,
    /// Paths of container and TTL nodes (reaper candidates are drawn from here).
    pub containers_and_ttls: OrdSet<PathKey>,
    /// zxid of the last transaction applied to this version.
    pub last_zxid: Zxid,
    /// Sum of data lengths plus path lengths (mntr zk_approximate_data_size).
    /// Every stored key counts, the root as `/` (1 byte), so a fresh tree
    /// reports 44.
    pub approximate_data_size: i64,
}

impl Default for DataTree {
    fn default() -> Self {
        DataTree::new()
    }
}

/// The parent of `path` with ZooKeeper's rule: everything before the last
/// `/`, where an empty prefix means the root. `None` only when the path has
/// no `/` at all. Note `parent_of("/")` is `Some("/")` (real ZK stores the
/// root under `""` too, so `/` is its own parent for create's checks).
pub fn parent_of(path: &str) -> Option<&str> {
    let last_slash = path.rfind('/')?;
    if last_slash == 0 {
        Some(ROOT_PATH)
    } else {
        Some(&path[..last_slash])
    }
}

/// The last segment of `path` (everything after the last `/`).
pub fn basename(path: &str) -> &str {
    match path.rfind('/') {
        Some(last_slash) => &path[last_slash + 1..],
        None => path,
    }
}

/// The size a node adds to [`DataTree::approximate_data_size`].
fn node_size(path: &str, data: &Option<Arc<[u8]>>) -> i64 {
    (path.len() + data.as_ref().map_or(0, |d| d.len())) as i64
}

impl DataTree {
    /// The tree of a fresh server (digest §8): `/`, `/zookeeper`,
    /// `/zookeeper/quota` and `/zookeeper/config`, all with empty (not null)
    /// data and zero stats; `/zookeeper/config` is world-readable only and
    /// starts at aversion -1. The create-counters are 0 because these children
    /// were never created through the protocol, which is what makes `/` show
    /// cversion -1 and `/zookeeper` show -2.
    pub fn new() -> DataTree {
        let system_node = |acl: Vec<Acl>, children: &[&str]| Node {
            data: Some(Arc::from(&[][..])),
            acl: Arc::new(acl),
            kind: NodeKind::Persistent,
            czxid: 0,
            mzxid: 0,
            pzxid: 0,
            ctime: 0,
            mtime: 0,
            version: 0,
            child_create_count: 0,
            aversion: 0,
            children: children.iter().map(|name| Arc::from(*name)).collect(),
        };
        let mut config = system_node(Acl::read_unsafe(), &[]);
        config.aversion = -1;
        let initial = [
            (ROOT_PATH, system_node(Acl::open_unsafe(), &["zookeeper"])),
            (
                ZOOKEEPER_PATH,
                system_node(Acl::open_unsafe(), &["quota", "config"]),
            ),
            (QUOTA_PATH, system_node(Acl::open_unsafe(), &[])),
            (CONFIG_PATH, config),
        ];
        let mut tree = DataTree {
            nodes: HashMap::new(),
            ephemerals: HashMap::new(),
            containers_and_ttls: OrdSet::new(),
            last_zxid: 0,
            approximate_data_size: 0,
        };
        for (path, node) in initial {
            tree.approximate_data_size += node_size(path, &node.data);
            tree.nodes.insert(Arc::from(path), Arc::new(node));
        }
        tree
    }

    /// The node at `path`, if any.
    pub fn get(&self, path: &str) -> Option<&Arc<Node>> {
        self.nodes.get(path)
    }

    /// Sets the data of `/zookeeper/config` (the ensemble membership in
    /// ZooKeeper's dynamic-config format) without a transaction: every member
    /// derives the same text from the same configuration, as ZooKeeper does
    /// from its static config. Stats stay untouched (version 0).
    pub fn set_config_data(&mut self, data: &[u8]) {
        let node = self
            .nodes
            .get_mut(CONFIG_PATH)
            .expect("/zookeeper/config always exists");
        let node = Arc::make_mut(node);
        let old = node.data.as_ref().map_or(0, |d| d.len()) as i64;
        node.data = Some(Arc::from(data));
        self.approximate_data_size += data.len() as i64 - old;
    }

    /// True if a node exists at `path`.
    pub fn contains(&self, path: &str) -> bool {
        self.nodes.contains_key(path)
    }

    /// The node's client-visible stat, if it exists.
    pub fn stat(&self, path: &str) -> Option<Stat> {
        self.get(path).map(|node| node.stat())
    }

    /// The parent node of `path` (see [`parent_of`] for the rule).
    pub fn parent_node(&self, path: &str) -> Option<&Arc<Node>> {
        parent_of(path).and_then(|parent| self.get(parent))
    }

    /// The node count as real ZK reports it (srvr/stat "Node count", mntr
    /// zk_znode_count): real ZK stores the root under both `""` and `/`, so
    /// its count is one more than the number of distinct nodes. A fresh tree
    /// reports 5.
    pub fn node_count(&self) -> usize {
        self.nodes.len() + 1
    }

    /// The ephemeral paths a session owns, in path order.
    pub fn ephemerals_of(&self, session_id: SessionId) -> impl Iterator<Item = &PathKey> {
        self.ephemerals.get(&session_id).into_iter().flatten()
    }

    /// Adds `node` at `path` under its existing parent: the parent gains the
    /// child name, its create-counter goes up by one (wrapping, like Java's
    /// int) and its pzxid becomes `zxid` if that is larger.
    pub fn insert_node(&mut self, path: PathKey, node: Node, zxid: Zxid) {
        let parent_path =
            parent_of(&path).unwrap_or_else(|| panic!("insert_node: path {path:?} has no '/'"));
        assert!(&*path != ROOT_PATH, "insert_node: the root always exists");
        assert!(
            !self.contains(&path),
            "insert_node: {path:?} already exists"
        );
        let parent = self
            .nodes
            .get_mut(parent_path)
            .unwrap_or_else(|| panic!("insert_node: parent of {path:?} is missing"));
        let parent = Arc::make_mut(parent);
        assert!(
            !matches!(parent.kind, NodeKind::Ephemeral { .. }),
            "insert_node: parent of {path:?} is ephemeral"
        );
        parent.children.insert(Arc::from(basename(&path)));
        parent.child_create_count = parent.child_create_count.wrapping_add(1);
        parent.pzxid = parent.pzxid.max(zxid);

        match node.kind {
            NodeKind::Ephemeral { owner } => {
                self.ephemerals
                    .entry(owner)
                    .or_default()
                    .insert(path.clone());
            }
            NodeKind::Container | NodeKind::Ttl { .. } => {
                self.containers_and_ttls.insert(path.clone());
            }
            NodeKind::Persistent => {}
        }
        self.approximate_data_size += node_size(&path, &node.data);
        self.nodes.insert(path, Arc::new(node));
    }

    /// Removes the childless node at `path` and returns it. The parent loses
    /// the child name and its pzxid becomes `zxid` if that is larger; its
    /// create-counter is left alone (digest §8).
    pub fn remove_node(&mut self, path: &str, zxid: Zxid) -> Arc<Node> {
        assert!(path != ROOT_PATH, "remove_node: the root cannot be removed");
        let removed = self
            .nodes
            .remove(path)
            .unwrap_or_else(|| panic!("remove_node: {path:?} does not exist"));
        assert!(
            removed.children.is_empty(),
            "remove_node: {path:?} still has children"
        );
        let parent_path =
            parent_of(path).unwrap_or_else(|| panic!("remove_node: path {path:?} has no '/'"));
        let parent = self
            .nodes
            .get_mut(parent_path)
            .unwrap_or_else(|| panic!("remove_node: parent of {path:?} is missing"));
        let parent = Arc::make_mut(parent);
        let was_child = parent.children.remove(basename(path)).is_some();
        assert!(
            was_child,
            "remove_node: {path:?} missing from its parent's children"
        );
        parent.pzxid = parent.pzxid.max(zxid);

        match removed.kind {
            NodeKind::Ephemeral { owner } => {
                let now_empty = match self.ephemerals.get_mut(&owner) {
                    Some(paths) => {
                        paths.remove(path);
                        paths.is_empty()
                    }
                    None => false,
                };
                if now_empty {
                    self.ephemerals.remove(&owner);
                }
            }
            NodeKind::Container | NodeKind::Ttl { .. } => {
                self.containers_and_ttls.remove(path);
            }
            NodeKind::Persistent => {}
        }
        self.approximate_data_size -= node_size(path, &removed.data);
        removed
    }

    /// Replaces the data of the node at `path`, sets its version, mzxid and
    /// mtime, and returns the new stat.
    pub fn set_node_data(
        &mut self,
        path: &str,
        data: Option<Arc<[u8]>>,
        version: i32,
        zxid: Zxid,
        time_ms: i64,
    ) -> Stat {
        let node = self
            .nodes
            .get_mut(path)
            .unwrap_or_else(|| panic!("set_node_data: {path:?} does not exist"));
        let node = Arc::make_mut(node);
        let old_size = node_size(path, &node.data);
        node.data = data;
        node.version = version;
        node.mzxid = zxid;
        node.mtime = time_ms;
        let new_size = node_size(path, &node.data);
        let stat = node.stat();
        self.approximate_data_size += new_size - old_size;
        stat
    }

    /// Replaces the ACL of the node at `path` and sets its aversion; mzxid,
    /// mtime and version do not change (digest §7.5). Returns the new stat.
    pub fn set_node_acl(&mut self, path: &str, acl: Arc<Vec<Acl>>, aversion: i32) -> Stat {
        let node = self
            .nodes
            .get_mut(path)
            .unwrap_or_else(|| panic!("set_node_acl: {path:?} does not exist"));
        let node = Arc::make_mut(node);
        node.acl = acl;
        node.aversion = aversion;
        node.stat()
    }
}

pub mod event;
/// A hand-built tree for unit tests: inserts nodes into the maps directly.
#[cfg(test)]
pub(crate) mod fixture;
pub mod watches;
pub use event::WatchEvent;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::perms;

    #[test]
    fn fresh_tree_matches_real_zookeeper() {
        let tree = DataTree::new();
        assert_eq!(tree.node_count(), 5);
        assert_eq!(tree.stat("/").unwrap().cversion, -1);
        assert_eq!(tree.stat("/").unwrap().num_children, 1);
        assert_eq!(tree.stat("/zookeeper").unwrap().cversion, -2);
        let config = tree.get(CONFIG_PATH).unwrap();
        assert_eq!(config.acl.as_slice(), Acl::read_unsafe().as_slice());
        assert_eq!(config.acl[0].perms, perms::READ);
        let config_stat = config.stat();
        assert_eq!(config_stat.aversion, -1);
        assert_eq!(
            Stat {
                aversion: 0,
                ..config_stat
            },
            Stat::default()
        );
        assert_eq!(tree.stat(QUOTA_PATH).unwrap(), Stat::default());
        for path in [ROOT_PATH, ZOOKEEPER_PATH, QUOTA_PATH, CONFIG_PATH] {
            let data = tree.get(path).unwrap().data.clone();
            assert_eq!(
                data.as_deref(),
                Some(&[][..]),
                "{path} must hold empty, not null, data"
            );
        }
        assert_eq!(tree.approximate_data_size, 1 + 10 + 16 + 17);
        assert_eq!(tree.last_zxid, 0);
    }

    #[test]
    fn parent_and_basename_follow_zookeeper_rules() {
        assert_eq!(parent_of("/a"), Some("/"));
        assert_eq!(parent_of("/a/b"), Some("/a"));
        assert_eq!(parent_of("/a//b"), Some("/a/"));
        assert_eq!(parent_of("/"), Some("/"));
        assert_eq!(parent_of("abc"), None);
        assert_eq!(basename("/a/b"), "b");
        assert_eq!(basename("/"), "");
    }

    fn plain_node(data: &[u8]) -> Node {
        Node {
            data: Some(Arc::from(data)),
            acl: Arc::new(Acl::open_unsafe()),
            kind: NodeKind::Persistent,
            czxid: 7,
            mzxid: 7,
            pzxid: 7,
            ctime: 0,
            mtime: 0,
            version: 0,
            child_create_count: 0,
            aversion: 0,
            children: OrdSet::new(),
        }
    }

    #[test]
    fn insert_and_remove_keep_indexes_and_size_consistent() {
        let mut tree = DataTree::new();
        let fresh_size = tree.approximate_data_size;
        let mut eph = plain_node(b"abc");
        eph.kind = NodeKind::Ephemeral { owner: 42 };
        tree.insert_node(Arc::from("/e"), eph, 7);
        assert_eq!(tree.approximate_data_size, fresh_size + 2 + 3);
        assert_eq!(tree.ephemerals_of(42).count(), 1);
        assert_eq!(tree.get("/").unwrap().child_create_count, 1);
        assert_eq!(tree.get("/").unwrap().pzxid, 7);

        let mut container = plain_node(b"");
        container.kind = NodeKind::Container;
        tree.insert_node(Arc::from("/c"), container, 8);
        assert!(tree.containers_and_ttls.contains("/c"));

        tree.set_node_data("/e", None, 1, 9, 100);
        assert_eq!(tree.approximate_data_size, fresh_size + 2 + 2);

        tree.remove_node("/e", 10);
        tree.remove_node("/c", 5);
        assert!(tree.ephemerals.get(&42).is_none());
        assert!(tree.containers_and_ttls.is_empty());
        assert_eq!(tree.approximate_data_size, fresh_size);
        let root = tree.get("/").unwrap();
        assert_eq!(root.pzxid, 10, "pzxid only moves forward");
        assert_eq!(
            root.child_create_count, 2,
            "deletes never decrement the counter"
        );
        assert_eq!(root.stat().cversion, 2 * 2 - 1);
    }

    #[test]
    #[should_panic(expected = "already exists")]
    fn inserting_an_existing_path_is_a_bug() {
        let mut tree = DataTree::new();
        tree.insert_node(Arc::from("/zookeeper"), plain_node(b""), 1);
    }
}
