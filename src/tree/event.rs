//! A change to the tree that may fire watches, produced by apply in zxid order
//! and carried to every client shard on the commit stream.

use super::PathKey;
use crate::proto::{Acl, EventType};
use std::sync::Arc;

/// A value: made by apply on the consensus executor, shared with shards; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatchEvent {
    pub event_type: EventType,
    pub path: PathKey,
    /// The ACL that governs delivery (3.9.2+ filtering, digest §11.5): the
    /// node's own ACL for NodeCreated / NodeDataChanged / NodeDeleted, the
    /// parent's ACL for NodeChildrenChanged.
    pub acl: Arc<Vec<Acl>>,
}
