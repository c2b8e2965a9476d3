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

pub mod node;

pub use node::{Node, NodeKind};

use crate::proto::{SessionId, Zxid};
use imbl::{HashMap, OrdSet};
use std::sync::Arc;

/// A path key. Full absolute paths (`/a/b`), shared between the node map and
/// the children sets.
pub type PathKey = Arc<str>;

/// One version of the namespace.
#[derive(Clone, Debug)]
pub struct DataTree {
    /// Full path -> node. The root is stored under `/`.
    pub nodes: HashMap<PathKey, Arc<Node>>,
    /// Session -> paths of its ephemeral nodes.
    pub ephemerals: HashMap<SessionId, OrdSet<PathKey>>,
    /// Paths of container and TTL nodes (reaper candidates are drawn from here).
    pub containers_and_ttls: OrdSet<PathKey>,
    /// zxid of the last transaction applied to this version.
    pub last_zxid: Zxid,
    /// Sum of data lengths plus path lengths (mntr zk_approximate_data_size).
    pub approximate_data_size: i64,
}

pub mod event;
pub mod watches;
pub use event::WatchEvent;
