//! Validation of write requests into transactions, in real ZooKeeper's error
//! precedence. Every function here returns the first error real ZK would
//! report; the order of the `?`s is the specification.

use super::apply::apply_sub_op;
use super::WriteContext;
use crate::auth::acl;
use crate::ops::path::{parent_of, validate_create_prefix, validate_delete_path, validate_path};
use crate::ops::txn::{CreateReply, CreateTxn, Txn};
use crate::proto::{perms, CreateMode, CreateRequest, ErrorCode, MultiOp, OpCode, Request};
use crate::tree::{DataTree, Node, NodeKind, PathKey};
use std::sync::Arc;

/// The largest TTL real ZK accepts: 40 bits of milliseconds (digest §9.5).
pub const TTL_MAX_MS: i64 = 0xFF_FFFF_FFFF;

/// Validates `req` against `tree` and resolves it into a transaction. Never
/// fails: a rejected write is [`Txn::Error`] (or [`Txn::MultiError`]), so the
/// answer still travels in order with every other write.
pub fn prep(tree: &DataTree, req: &Request, ctx: &WriteContext) -> Txn {
    let single = |result: Result<Txn, ErrorCode>| result.unwrap_or_else(Txn::Error);
    match req {
        Request::Create { opcode, req } => single(
            top_level_create_shape(*opcode, req, ctx)
                .and_then(|shape| prep_create(tree, req, shape, ctx)),
        ),
        Request::Delete { path, version } => single(prep_delete(tree, path, *version, ctx)),
        Request::SetData {
            path,
            data,
            version,
        } => single(prep_set_data(tree, path, data.as_deref(), *version, ctx)),
        Request::SetAcl { path, acl, version } => {
            single(prep_set_acl(tree, path, acl.as_deref(), *version, ctx))
        }
        Request::Multi(ops) => prep_multi(tree, ops, ctx),
        // Standalone only (digest §7.11): there is no ensemble to reconfigure.
        Request::Reconfig { .. } => Txn::Error(if ctx.config.reconfig_enabled {
            ErrorCode::Unimplemented
        } else {
            ErrorCode::ReconfigDisabled
        }),
        Request::DeleteContainer { path } => single(prep_delete_container(tree, path)),
        Request::CloseSession => Txn::CloseSession {
            session_id: ctx.session_id,
        },
        _ => Txn::Error(ErrorCode::Unimplemented),
    }
}

/// What a create will make, decided from the opcode and flags before any
/// tree lookup.
#[derive(Clone, Copy, Debug)]
struct CreateShape {
    mode: CreateMode,
    kind: ShapeKind,
    reply: CreateReply,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ShapeKind {
    /// Persistent or ephemeral, as the mode says.
    FromMode,
    Container,
    Ttl(i64),
}

/// §7.2 steps 1-3 for a top-level create (opcodes 1, 15, 19, 21).
fn top_level_create_shape(
    opcode: OpCode,
    req: &CreateRequest,
    ctx: &WriteContext,
) -> Result<CreateShape, ErrorCode> {
    let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::BadArguments)?;
    check_ttl_rules(mode, req.ttl, ctx)?;
    let kind = match opcode {
        // Opcode 19 makes a container whatever the flags say.
        OpCode::CreateContainer => ShapeKind::Container,
        // Step 3 let a TTL mode through only with a valid ttl, which only
        // opcode 21 carries.
        _ if mode.is_ttl() => ShapeKind::Ttl(req.ttl),
        // createTTL carrying the container flag: honour the flag (real ZK
        // would build a TTL owner from ttl -1, which is meaningless).
        OpCode::CreateTtl if mode.is_container() => ShapeKind::Container,
        // Real ZK quirk: opcode 1 or 15 with flags 4 is a plain persistent
        // node (the txn type follows the opcode, not the flags).
        _ => ShapeKind::FromMode,
    };
    let reply = if opcode == OpCode::Create {
        CreateReply::Path
    } else {
        CreateReply::PathAndStat
    };
    Ok(CreateShape { mode, kind, reply })
}

/// §7.2 steps 2-3: TTL needs extended types and a ttl in range; every other
/// mode must not carry a ttl (opcodes 1, 15, 19 carry an implicit -1).
fn check_ttl_rules(mode: CreateMode, ttl: i64, ctx: &WriteContext) -> Result<(), ErrorCode> {
    if mode.is_ttl() {
        if !ctx.config.extended_types_enabled {
            return Err(ErrorCode::Unimplemented);
        }
        if ttl <= 0 || ttl > TTL_MAX_MS {
            return Err(ErrorCode::BadArguments);
        }
    } else if ttl >= 0 {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// §7.2 steps 5-12, shared by top-level and multi creates.
fn prep_create(
    tree: &DataTree,
    req: &CreateRequest,
    shape: CreateShape,
    ctx: &WriteContext,
) -> Result<Txn, ErrorCode> {
    validate_create_prefix(&req.path)?;
    let acl = acl::fixup(req.acl.as_deref(), ctx.auth, ctx.config.digest_disabled)?;
    let parent_path = parent_of(&req.path).ok_or(ErrorCode::BadArguments)?;
    let parent = tree.get(parent_path).ok_or(ErrorCode::NoNode)?;
    acl::check(&parent.acl, ctx.auth, perms::CREATE, ctx.config.skip_acl)?;
    let path = if shape.mode.is_sequential() {
        sequential_path(&req.path, parent)
    } else {
        req.path.clone()
    };
    validate_path(&path)?;
    if tree.contains(&path) {
        return Err(ErrorCode::NodeExists);
    }
    if parent.is_ephemeral() {
        return Err(ErrorCode::NoChildrenForEphemerals);
    }
    let kind = match shape.kind {
        ShapeKind::Container => NodeKind::Container,
        ShapeKind::Ttl(ttl_ms) => NodeKind::Ttl { ttl_ms },
        ShapeKind::FromMode if shape.mode.is_ephemeral() => NodeKind::Ephemeral {
            owner: ctx.session_id,
        },
        ShapeKind::FromMode => NodeKind::Persistent,
    };
    Ok(Txn::Create(CreateTxn {
        path: PathKey::from(path),
        data: req.data.as_deref().map(Arc::from),
        acl: Arc::new(acl),
        kind,
        reply: shape.reply,
    }))
}

/// `requested + %010d(c)` where `c` is the parent's create-counter before this
/// create (digest §9.2). Rust's `{:010}` pads after the sign like Java's
/// `%010d`, so -5 becomes `-000000005`.
fn sequential_path(requested: &str, parent: &Node) -> String {
    format!("{requested}{:010}", parent.child_create_count)
}

/// §7.3.
fn prep_delete(
    tree: &DataTree,
    path: &str,
    version: i32,
    ctx: &WriteContext,
) -> Result<Txn, ErrorCode> {
    validate_delete_path(path)?;
    let parent = tree.parent_node(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&parent.acl, ctx.auth, perms::DELETE, ctx.config.skip_acl)?;
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    check_version(version, node.version)?;
    if !node.children.is_empty() {
        return Err(ErrorCode::NotEmpty);
    }
    Ok(Txn::Delete {
        path: PathKey::from(path),
        version,
    })
}

/// §7.4.
fn prep_set_data(
    tree: &DataTree,
    path: &str,
    data: Option<&[u8]>,
    version: i32,
    ctx: &WriteContext,
) -> Result<Txn, ErrorCode> {
    validate_path(path)?;
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&node.acl, ctx.auth, perms::WRITE, ctx.config.skip_acl)?;
    check_version(version, node.version)?;
    Ok(Txn::SetData {
        path: PathKey::from(path),
        data: data.map(Arc::from),
        new_version: node.version.wrapping_add(1),
    })
}

/// §7.5: fix-up comes before the existence check.
fn prep_set_acl(
    tree: &DataTree,
    path: &str,
    requested_acl: Option<&[crate::proto::Acl]>,
    version: i32,
    ctx: &WriteContext,
) -> Result<Txn, ErrorCode> {
    validate_path(path)?;
    let acl = acl::fixup(requested_acl, ctx.auth, ctx.config.digest_disabled)?;
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&node.acl, ctx.auth, perms::ADMIN, ctx.config.skip_acl)?;
    check_version(version, node.aversion)?;
    Ok(Txn::SetAcl {
        path: PathKey::from(path),
        acl: Arc::new(acl),
        new_aversion: node.aversion.wrapping_add(1),
    })
}

/// check (13) inside multi: validation, NoNode, READ, version.
fn prep_check(
    tree: &DataTree,
    path: &str,
    version: i32,
    ctx: &WriteContext,
) -> Result<Txn, ErrorCode> {
    validate_path(path)?;
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    acl::check(&node.acl, ctx.auth, perms::READ, ctx.config.skip_acl)?;
    check_version(version, node.version)?;
    Ok(Txn::Check {
        path: PathKey::from(path),
        version,
    })
}

/// deleteContainer (20), digest §9.4: no ACL and no version check. Unlike
/// real ZK the four system nodes are refused (BadArguments), because a
/// client-sent opcode 20 could otherwise delete `/zookeeper/quota`.
fn prep_delete_container(tree: &DataTree, path: &str) -> Result<Txn, ErrorCode> {
    validate_delete_path(path)?;
    let node = tree.get(path).ok_or(ErrorCode::NoNode)?;
    if !node.children.is_empty() {
        return Err(ErrorCode::NotEmpty);
    }
    // Real ZK's (odd) code for "this is an ordinary ephemeral".
    if node.is_ephemeral() {
        return Err(ErrorCode::BadVersion);
    }
    Ok(Txn::DeleteContainer {
        path: PathKey::from(path),
    })
}

/// `-1` matches any version; anything else must be equal.
fn check_version(expected: i32, actual: i32) -> Result<(), ErrorCode> {
    if expected == -1 || expected == actual {
        Ok(())
    } else {
        Err(ErrorCode::BadVersion)
    }
}

/// How a create sub-op of a multi is turned into a create (digest §13.1).
/// These conversions happen while real ZK decodes the request, so their
/// failures fail the whole request with MarshallingError.
fn multi_create_shape(opcode: OpCode, req: &CreateRequest) -> Result<CreateShape, ErrorCode> {
    let mode = CreateMode::from_flags(req.flags).ok_or(ErrorCode::MarshallingError)?;
    let (kind, reply) = match opcode {
        OpCode::CreateTtl if mode.is_ttl() => (ShapeKind::Ttl(req.ttl), CreateReply::PathAndStat),
        // Without a ttl field there is no way to express a TTL mode.
        _ if mode.is_ttl() => return Err(ErrorCode::MarshallingError),
        OpCode::CreateContainer => (ShapeKind::Container, CreateReply::PathAndStat),
        // Flags 4 in any create sub-op becomes createContainer.
        _ if mode.is_container() => (ShapeKind::Container, CreateReply::PathAndStat),
        OpCode::Create2 => (ShapeKind::FromMode, CreateReply::PathAndStat),
        // Opcode 1, and opcode 21 with a non-TTL mode: an ordinary create
        // whose ttl is ignored, answered with a type-1 result.
        _ => (ShapeKind::FromMode, CreateReply::Path),
    };
    Ok(CreateShape { mode, kind, reply })
}

/// multi (14), digest §13.2: each sub-op is validated against a scratch tree
/// holding the sub-ops before it, so sequence counters and existence checks
/// see earlier sub-ops. The first failure turns the whole request into
/// [`Txn::MultiError`].
fn prep_multi(tree: &DataTree, ops: &[MultiOp], ctx: &WriteContext) -> Txn {
    // Decode-level conversions first: they fail the request as a whole.
    let mut create_shapes = Vec::with_capacity(ops.len());
    for op in ops {
        if let MultiOp::Create { opcode, req } = op {
            match multi_create_shape(*opcode, req) {
                Ok(shape) => create_shapes.push(Some(shape)),
                Err(e) => return Txn::Error(e),
            }
        } else {
            create_shapes.push(None);
        }
    }

    // Cloning is O(1); the scratch tree shares structure with `tree`.
    let mut scratch = tree.clone();
    let mut sub_txns = Vec::with_capacity(ops.len());
    for (index, (op, shape)) in ops.iter().zip(create_shapes).enumerate() {
        let prepared = match (op, shape) {
            (MultiOp::Create { req, .. }, Some(shape)) => {
                let ttl_for_rules = match shape.kind {
                    ShapeKind::Ttl(ttl) => ttl,
                    // The ttl of a non-TTL sub-op is ignored, not refused.
                    _ => -1,
                };
                check_ttl_rules(shape.mode, ttl_for_rules, ctx)
                    .and_then(|()| prep_create(&scratch, req, shape, ctx))
            }
            (MultiOp::Create { .. }, None) => unreachable!("every create sub-op has a shape"),
            (MultiOp::Delete { path, version }, _) => prep_delete(&scratch, path, *version, ctx),
            (
                MultiOp::SetData {
                    path,
                    data,
                    version,
                },
                _,
            ) => prep_set_data(&scratch, path, data.as_deref(), *version, ctx),
            (MultiOp::Check { path, version }, _) => prep_check(&scratch, path, *version, ctx),
        };
        match prepared {
            Ok(sub_txn) => {
                // zxid and time do not influence later validation; any values do.
                apply_sub_op(
                    &mut scratch,
                    &sub_txn,
                    tree.last_zxid + 1,
                    0,
                    &mut Vec::new(),
                );
                sub_txns.push(sub_txn);
            }
            Err(error) => {
                let mut codes = vec![ErrorCode::Ok; index];
                codes.push(error);
                codes.resize(ops.len(), ErrorCode::RuntimeInconsistency);
                return Txn::MultiError(codes);
            }
        }
    }
    Txn::Multi(sub_txns)
}
