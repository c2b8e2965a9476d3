//! A hand-built tree for unit tests: nodes inserted into the maps
//! directly, without the write path.

use crate::proto::{Acl, SessionId};
use crate::tree::{DataTree, Node, NodeKind, PathKey};
use imbl::{HashMap, OrdSet};
use std::sync::Arc;

pub fn node(data: Option<&[u8]>, acl: Vec<Acl>, zxid: i64) -> Node {
    Node {
        data: data.map(Arc::from),
        acl: Arc::new(acl),
        kind: NodeKind::Persistent,
        czxid: zxid,
        mzxid: zxid,
        pzxid: zxid,
        ctime: 0,
        mtime: 0,
        version: 0,
        child_create_count: 0,
        aversion: 0,
        children: OrdSet::new(),
    }
}

/// The fresh-server tree: /, /zookeeper, /zookeeper/quota, /zookeeper/config.
pub fn fresh() -> DataTree {
    let mut t = DataTree {
        nodes: HashMap::new(),
        ephemerals: HashMap::new(),
        containers_and_ttls: OrdSet::new(),
        last_zxid: 0,
        approximate_data_size: 0,
    };
    t.nodes.insert(
        PathKey::from("/"),
        Arc::new(node(Some(b""), Acl::open_unsafe(), 0)),
    );
    insert(&mut t, "/zookeeper", node(Some(b""), Acl::open_unsafe(), 0));
    insert(
        &mut t,
        "/zookeeper/quota",
        node(Some(b""), Acl::open_unsafe(), 0),
    );
    insert(
        &mut t,
        "/zookeeper/config",
        node(Some(b""), Acl::read_unsafe(), 0),
    );
    t
}

/// Inserts `n` at `path` and links it into its parent (which must exist).
pub fn insert(t: &mut DataTree, path: &str, mut n: Node) {
    let (parent, name) = match path.rfind('/') {
        Some(0) => ("/", &path[1..]),
        Some(i) => (&path[..i], &path[i + 1..]),
        None => panic!("fixture path must be absolute: {path}"),
    };
    if let NodeKind::Ephemeral { owner } = n.kind {
        t.ephemerals
            .entry(owner)
            .or_default()
            .insert(PathKey::from(path));
    }
    if let Some(old) = t.nodes.get(path) {
        n.children = old.children.clone();
    }
    let mut p = (**t.nodes.get(parent).expect("fixture parent exists")).clone();
    p.children.insert(Arc::from(name));
    p.child_create_count += 1;
    t.nodes.insert(PathKey::from(parent), Arc::new(p));
    t.nodes.insert(PathKey::from(path), Arc::new(n));
}

pub fn ephemeral(t: &mut DataTree, path: &str, owner: SessionId) {
    let mut n = node(Some(b"e"), Acl::open_unsafe(), 1);
    n.kind = NodeKind::Ephemeral { owner };
    insert(t, path, n);
}
