//! The transaction record: what prep decided, logged and replicated, then
//! applied identically by every member.
//!
//! Every field is resolved at prep time: the final path including any
//! sequence suffix, the fixed-up ACL, the node kind and ephemeral owner, the
//! data, and the versions the node will have after the change. Apply therefore
//! needs nothing but the tree, the txn, its zxid and its timestamp, and never
//! re-runs validation; it only asserts that the tree still agrees with what
//! prep saw (a disagreement is a bug in the ordering of prep and apply).
//!
//! A failed write is still a transaction ([`Txn::Error`], [`Txn::MultiError`])
//! so that the reply travels through the same ordered commit stream as every
//! other write; real ZK logs those too.

use crate::proto::{Acl, ErrorCode, SessionId};
use crate::tree::{NodeKind, PathKey};
use std::sync::Arc;

/// Which response body a successful create produces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateReply {
    /// `CreateResponse{path}` (opcode 1), result type 1 inside multi.
    Path,
    /// `Create2Response{path, stat}` (opcodes 15, 19, 21), result type 15.
    PathAndStat,
}

/// A fully resolved create.
/// A plain value (part of a `Txn`, cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateTxn {
    /// The final path, sequence suffix included.
    pub path: PathKey,
    /// `None` is null data, kept distinct from empty.
    pub data: Option<Arc<[u8]>>,
    /// The ACL after fix-up (§11.4).
    pub acl: Arc<Vec<Acl>>,
    /// Persistent, ephemeral (with its owner), container or TTL.
    pub kind: NodeKind,
    pub reply: CreateReply,
}

/// One replicated state change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Txn {
    Create(CreateTxn),
    /// `version` is the one the client sent (-1 = any), already checked.
    Delete {
        path: PathKey,
        version: i32,
    },
    /// `new_version` is the node's version after this change.
    SetData {
        path: PathKey,
        data: Option<Arc<[u8]>>,
        new_version: i32,
    },
    /// `new_aversion` is the node's aversion after this change.
    SetAcl {
        path: PathKey,
        acl: Arc<Vec<Acl>>,
        new_aversion: i32,
    },
    /// A version check; only ever a sub-op of [`Txn::Multi`].
    Check {
        path: PathKey,
        version: i32,
    },
    /// Sub-ops applied atomically under one zxid, in order.
    Multi(Vec<Txn>),
    /// A single write that failed validation: nothing is applied and the
    /// client gets this error with no body.
    Error(ErrorCode),
    /// A multi that failed validation: one code per sub-op (0 before the
    /// failing op, its error, -2 RuntimeInconsistency after). Nothing applied.
    MultiError(Vec<ErrorCode>),
    /// A new session; the tree does not change (sessions live elsewhere), but
    /// it consumes a zxid like in real ZK.
    CreateSession {
        session_id: SessionId,
        timeout_ms: i32,
    },
    /// An ensemble session moved to another connection (a re-attach): the
    /// entry names the new owner connection, so every later leader refuses
    /// requests from the old one. The tree does not change. Standalone
    /// servers never log it (they have one owner table and no terms).
    Reattach {
        session_id: SessionId,
        timeout_ms: i32,
    },
    /// Ends a session: deletes all its ephemerals, in path order, in this one
    /// transaction.
    CloseSession {
        session_id: SessionId,
    },
    /// The reaper's delete of an empty container or expired TTL node.
    DeleteContainer {
        path: PathKey,
    },
    /// An ensemble membership change: `/zookeeper/config` gets the new
    /// membership text (ZooKeeper sets its version to -1, and so do we).
    /// The raft configuration change travels in the same log entry.
    Reconfig {
        config: Arc<[u8]>,
    },
}

impl Txn {
    /// True if applying this txn can change the tree.
    pub fn changes_tree(&self) -> bool {
        match self {
            Txn::Error(_)
            | Txn::MultiError(_)
            | Txn::CreateSession { .. }
            | Txn::Reattach { .. }
            | Txn::Check { .. } => false,
            Txn::Multi(ops) => ops.iter().any(Txn::changes_tree),
            _ => true,
        }
    }
}
