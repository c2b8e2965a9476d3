//! Application of transactions: stat maintenance (digest §8), the reply, and
//! the watch events in the order real ZK fires them (§12.2).

use crate::ops::path::parent_of;
use crate::ops::txn::{CreateReply, CreateTxn, Txn};
use crate::proto::{ErrorCode, EventType, MultiResult, Response, Stat, Zxid};
use crate::tree::{DataTree, Node, PathKey, WatchEvent};
use std::sync::Arc;

/// What applying one transaction produced.
/// A value returned to apply's caller; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Applied {
    /// The reply for the client that sent the write (`Err` = header-only
    /// error reply).
    pub result: Result<Response, ErrorCode>,
    /// Watch events in firing order; all of them precede the reply.
    pub events: Vec<WatchEvent>,
}

/// Applies `txn` as transaction `zxid` at wall time `time_ms` and records
/// `zxid` as the tree's last. The txn must come from [`super::prep`] run
/// against this very tree state; anything else panics (it is a bug, not a
/// client error).
pub fn apply(tree: &mut DataTree, txn: &Txn, zxid: Zxid, time_ms: i64) -> Applied {
    tree.last_zxid = zxid;
    let mut events = Vec::new();
    let result = match txn {
        Txn::Error(error) => Err(*error),
        Txn::MultiError(codes) => Ok(Response::Multi(
            codes.iter().map(|code| MultiResult::Error(*code)).collect(),
        )),
        Txn::Multi(sub_txns) => {
            let results = sub_txns
                .iter()
                .map(|sub_txn| apply_sub_op(tree, sub_txn, zxid, time_ms, &mut events))
                .map(SubOpOutcome::into_multi_result)
                .collect();
            Ok(Response::Multi(results))
        }
        Txn::CreateSession { .. } | Txn::Reattach { .. } => Ok(Response::Empty),
        Txn::CloseSession { session_id } => {
            // Collect first: deleting edits the very set being walked.
            let doomed: Vec<PathKey> = tree.ephemerals_of(*session_id).cloned().collect();
            for path in doomed {
                delete_node(tree, &path, zxid, &mut events);
            }
            Ok(Response::Empty)
        }
        Txn::DeleteContainer { path } => {
            let node = existing(tree, path, "deleteContainer");
            assert!(
                node.children.is_empty(),
                "deleteContainer txn: {path:?} has children"
            );
            assert!(
                !node.is_ephemeral(),
                "deleteContainer txn: {path:?} is an ephemeral"
            );
            delete_node(tree, path, zxid, &mut events);
            Ok(Response::Empty)
        }
        Txn::Reconfig { config } => {
            let path: PathKey = Arc::from(crate::tree::CONFIG_PATH);
            let acl = existing(tree, &path, "reconfig").acl.clone();
            let stat = tree.set_node_data(&path, Some(config.clone()), -1, zxid, time_ms);
            events.push(WatchEvent {
                event_type: EventType::NodeDataChanged,
                path,
                acl,
            });
            Ok(Response::GetData {
                data: Some(config.to_vec()),
                stat,
            })
        }
        Txn::Check { .. } => panic!("apply: a check txn exists only inside a multi: {txn:?}"),
        Txn::Create(_) | Txn::Delete { .. } | Txn::SetData { .. } | Txn::SetAcl { .. } => {
            Ok(apply_sub_op(tree, txn, zxid, time_ms, &mut events).into_response())
        }
    };
    Applied { result, events }
}

/// The result of one create/delete/setData/setACL/check, before it is shaped
/// as a top-level response or a multi result.
pub(super) enum SubOpOutcome {
    Created {
        path: PathKey,
        stat: Stat,
        reply: CreateReply,
    },
    Deleted,
    DataSet(Stat),
    AclSet(Stat),
    Checked,
}

impl SubOpOutcome {
    fn into_response(self) -> Response {
        match self {
            SubOpOutcome::Created {
                path,
                reply: CreateReply::Path,
                ..
            } => Response::Create {
                path: path.to_string(),
            },
            SubOpOutcome::Created {
                path,
                stat,
                reply: CreateReply::PathAndStat,
            } => Response::Create2 {
                path: path.to_string(),
                stat,
            },
            SubOpOutcome::Deleted => Response::Empty,
            SubOpOutcome::DataSet(stat) | SubOpOutcome::AclSet(stat) => Response::Stat(stat),
            SubOpOutcome::Checked => unreachable!("check is only a multi sub-op"),
        }
    }

    fn into_multi_result(self) -> MultiResult {
        match self {
            SubOpOutcome::Created {
                path,
                reply: CreateReply::Path,
                ..
            } => MultiResult::Create {
                path: path.to_string(),
            },
            SubOpOutcome::Created {
                path,
                stat,
                reply: CreateReply::PathAndStat,
            } => MultiResult::Create2 {
                path: path.to_string(),
                stat,
            },
            SubOpOutcome::Deleted => MultiResult::Delete,
            SubOpOutcome::DataSet(stat) => MultiResult::SetData { stat },
            SubOpOutcome::Checked => MultiResult::Check,
            SubOpOutcome::AclSet(_) => unreachable!("setACL is not a multi sub-op"),
        }
    }
}

/// Applies one create/delete/setData/setACL/check, appending its events. Also
/// used by multi prep on its scratch tree.
pub(super) fn apply_sub_op(
    tree: &mut DataTree,
    txn: &Txn,
    zxid: Zxid,
    time_ms: i64,
    events: &mut Vec<WatchEvent>,
) -> SubOpOutcome {
    match txn {
        Txn::Create(create) => create_node(tree, create, zxid, time_ms, events),
        Txn::Delete { path, version } => {
            let node = existing(tree, path, "delete");
            assert!(
                *version == -1 || *version == node.version,
                "delete txn: {path:?} is at version {}, prep checked {version}",
                node.version
            );
            delete_node(tree, path, zxid, events);
            SubOpOutcome::Deleted
        }
        Txn::SetData {
            path,
            data,
            new_version,
        } => {
            let node = existing(tree, path, "setData");
            assert_eq!(
                node.version.wrapping_add(1),
                *new_version,
                "setData txn: {path:?} changed since prep"
            );
            let acl = node.acl.clone();
            let stat = tree.set_node_data(path, data.clone(), *new_version, zxid, time_ms);
            events.push(WatchEvent {
                event_type: EventType::NodeDataChanged,
                path: path.clone(),
                acl,
            });
            SubOpOutcome::DataSet(stat)
        }
        Txn::SetAcl {
            path,
            acl,
            new_aversion,
        } => {
            let node = existing(tree, path, "setACL");
            assert_eq!(
                node.aversion.wrapping_add(1),
                *new_aversion,
                "setACL txn: {path:?} changed since prep"
            );
            // No event: ACL changes fire no watches (digest §12.2).
            SubOpOutcome::AclSet(tree.set_node_acl(path, acl.clone(), *new_aversion))
        }
        Txn::Check { path, version } => {
            let node = existing(tree, path, "check");
            assert!(
                *version == -1 || *version == node.version,
                "check txn: {path:?} is at version {}, prep checked {version}",
                node.version
            );
            SubOpOutcome::Checked
        }
        other => panic!("apply: {other:?} cannot be a multi sub-op"),
    }
}

fn existing<'t>(tree: &'t DataTree, path: &str, op: &str) -> &'t Arc<Node> {
    tree.get(path)
        .unwrap_or_else(|| panic!("{op} txn: {path:?} does not exist"))
}

fn create_node(
    tree: &mut DataTree,
    create: &CreateTxn,
    zxid: Zxid,
    time_ms: i64,
    events: &mut Vec<WatchEvent>,
) -> SubOpOutcome {
    let node = Node::new_created(
        create.data.clone(),
        create.acl.clone(),
        create.kind,
        zxid,
        time_ms,
    );
    let stat = node.stat();
    tree.insert_node(create.path.clone(), node, zxid);
    events.push(WatchEvent {
        event_type: EventType::NodeCreated,
        path: create.path.clone(),
        acl: create.acl.clone(),
    });
    push_children_changed(tree, &create.path, events);
    SubOpOutcome::Created {
        path: create.path.clone(),
        stat,
        reply: create.reply,
    }
}

/// Deletes a childless node with its two events: NodeDeleted(path) carrying
/// the node's ACL, then NodeChildrenChanged(parent) carrying the parent's.
fn delete_node(tree: &mut DataTree, path: &PathKey, zxid: Zxid, events: &mut Vec<WatchEvent>) {
    let removed = tree.remove_node(path, zxid);
    events.push(WatchEvent {
        event_type: EventType::NodeDeleted,
        path: path.clone(),
        acl: removed.acl.clone(),
    });
    push_children_changed(tree, path, events);
}

fn push_children_changed(tree: &DataTree, child_path: &str, events: &mut Vec<WatchEvent>) {
    let parent_path = parent_of(child_path).expect("a stored path always has a parent");
    let parent = existing(tree, parent_path, "child change");
    events.push(WatchEvent {
        event_type: EventType::NodeChildrenChanged,
        path: PathKey::from(parent_path),
        acl: parent.acl.clone(),
    });
}
