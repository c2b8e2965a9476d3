//! Read operations (digest §7.6, §13.4), served by a client shard from the
//! immutable tree version it has caught up to.
//!
//! Pure: [`execute_read`] takes a tree version, a decoded request and the
//! caller's context and returns the response plus the watches to register.
//! Registering them in the shard's [`crate::tree::watches::WatchTable`] is the
//! caller's job, done before the reply is queued, so that an event for a
//! later transaction cannot be missed (the shard applies commits in order).
//!
//! Behaviour pinned here follows ZooKeeper 3.9.2+: `exists` needs READ on an
//! existing node (ZOOKEEPER-2590); reads do no path validation beyond the NUL
//! check on exists, so an invalid path is simply NoNode.

use crate::auth::{acl, AuthIds};
use crate::proto::{
    perms, ErrorCode, MultiReadOp, MultiResult, Request, Response, SessionId, Stat,
};
use crate::tree::{DataTree, Node};
use std::sync::Arc;

/// What a read needs to know about its caller.
/// A plain value (copied freely), built per read on a shard; no executor owns it.
#[derive(Clone, Copy, Debug)]
pub struct ReadContext<'a> {
    /// The connection's identities (ACL checks, whoAmI).
    pub auth: &'a AuthIds,
    /// The caller's session (getEphemerals).
    pub session_id: SessionId,
    /// `zookeeper.skipACL=yes`.
    pub skip_acl: bool,
    /// Largest reply payload (ReplyHeader + body, not the 4-byte length) the
    /// client accepts: jute.maxbuffer, 1,048,575 by default.
    pub max_reply_len: usize,
}

pub use crate::tree::watches::WatchRegistration;

/// The result of one read request.
/// A value returned to the shard that ran the read; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadOutcome {
    pub result: Result<Response, ErrorCode>,
    /// To register for this connection, also when `result` is `Err(NoNode)`
    /// from exists. Empty whenever the reply is an error the client would
    /// not register a watcher for.
    pub watches: Vec<WatchRegistration>,
}

/// ReplyHeader: xid, zxid, err.
const REPLY_HEADER_LEN: usize = 4 + 8 + 4;
const STAT_LEN: usize = 68;
/// MultiHeader: type, done, err.
const MULTI_HEADER_LEN: usize = 4 + 1 + 4;

/// Executes a read. Anything that is not a read gives `Err(Unimplemented)`.
///
/// Reply-size guard: a reply larger than `ctx.max_reply_len` is never sent.
/// Real ZK sends it, and the Java client then drops the connection ("Packet
/// len is out of range") and replays the read after reconnecting, forever.
/// Roost answers **MarshallingError (-5)** instead: the reply could not be
/// marshalled within the limit. Every client maps -5 to an ordinary error
/// for that one request (Java `MarshallingErrorException`, C
/// `ZMARSHALLINGERROR`, kazoo `MarshallingError`); unlike -112/-115/-124 it
/// ends neither the session nor the connection, and no watch is registered
/// (clients only register their watcher on success).
pub fn execute_read(tree: &DataTree, req: &Request, ctx: &ReadContext) -> ReadOutcome {
    let mut watches = Vec::new();
    let result = match req {
        Request::Exists { path, watch } => exists(tree, path, *watch, ctx, &mut watches),
        Request::GetData { path, watch } => get_data(tree, path, *watch, ctx, &mut watches)
            .map(|(data, stat)| Response::GetData { data, stat }),
        Request::GetChildren { path, watch } => get_children(tree, path, *watch, ctx, &mut watches)
            .map(|(children, _)| Response::GetChildren { children }),
        Request::GetChildren2 { path, watch } => {
            get_children(tree, path, *watch, ctx, &mut watches)
                .map(|(children, stat)| Response::GetChildren2 { children, stat })
        }
        Request::GetAcl { path } => lookup(tree, path).and_then(|node| {
            let acl = acl::visible_acl(&node.acl, ctx.auth, ctx.skip_acl)?;
            Ok(Response::GetAcl {
                acl,
                stat: node.stat(),
            })
        }),
        Request::GetAllChildrenNumber { path } => all_children_number(tree, path, ctx),
        Request::GetEphemerals { prefix } => Ok(Response::GetEphemerals(ephemerals(
            tree,
            prefix.as_deref(),
            ctx,
        ))),
        Request::MultiRead(ops) => Ok(Response::Multi(multi_read(tree, ops, ctx, &mut watches))),
        Request::WhoAmI => Ok(Response::WhoAmI(acl::client_info(&ctx.auth.ids))),
        // The caller first passes a barrier: the core's in-order queue
        // standalone, the leader's commit index (ReadIndex) in an ensemble.
        Request::Sync { path } => Ok(Response::Sync { path: path.clone() }),
        _ => Err(ErrorCode::Unimplemented),
    };
    let result = match result {
        Ok(resp) if REPLY_HEADER_LEN + body_len(&resp) > ctx.max_reply_len => {
            watches.clear();
            Err(ErrorCode::MarshallingError)
        }
        other => other,
    };
    ReadOutcome { result, watches }
}

fn lookup<'t>(tree: &'t DataTree, path: &str) -> Result<&'t Arc<Node>, ErrorCode> {
    tree.nodes.get(path).ok_or(ErrorCode::NoNode)
}

fn read_node<'t>(
    tree: &'t DataTree,
    path: &str,
    ctx: &ReadContext,
) -> Result<&'t Arc<Node>, ErrorCode> {
    let node = lookup(tree, path)?;
    acl::check(&node.acl, ctx.auth, perms::READ, ctx.skip_acl)?;
    Ok(node)
}

fn exists(
    tree: &DataTree,
    path: &str,
    watch: bool,
    ctx: &ReadContext,
    watches: &mut Vec<WatchRegistration>,
) -> Result<Response, ErrorCode> {
    if path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    match tree.nodes.get(path) {
        Some(node) => {
            // NoAuth registers nothing.
            acl::check(&node.acl, ctx.auth, perms::READ, ctx.skip_acl)?;
            if watch {
                watches.push(WatchRegistration::Data(path.to_owned()));
            }
            Ok(Response::Stat(node.stat()))
        }
        None => {
            // The exist watch is the one watch a NoNode reply still sets.
            if watch {
                watches.push(WatchRegistration::Exist(path.to_owned()));
            }
            Err(ErrorCode::NoNode)
        }
    }
}

fn get_data(
    tree: &DataTree,
    path: &str,
    watch: bool,
    ctx: &ReadContext,
    watches: &mut Vec<WatchRegistration>,
) -> Result<(Option<Vec<u8>>, Stat), ErrorCode> {
    let node = read_node(tree, path, ctx)?;
    if watch {
        watches.push(WatchRegistration::Data(path.to_owned()));
    }
    Ok((node.data.as_ref().map(|d| d.to_vec()), node.stat()))
}

fn get_children(
    tree: &DataTree,
    path: &str,
    watch: bool,
    ctx: &ReadContext,
    watches: &mut Vec<WatchRegistration>,
) -> Result<(Vec<String>, Stat), ErrorCode> {
    let node = read_node(tree, path, ctx)?;
    if watch {
        watches.push(WatchRegistration::Child(path.to_owned()));
    }
    Ok((
        node.children.iter().map(|c| c.to_string()).collect(),
        node.stat(),
    ))
}

fn all_children_number(
    tree: &DataTree,
    path: &str,
    ctx: &ReadContext,
) -> Result<Response, ErrorCode> {
    let node = read_node(tree, path, ctx)?;
    let count = if path == "/" {
        // Every node but the root (ZK: map size - 2, the root being stored
        // twice); a fresh server answers 3.
        tree.nodes.len().saturating_sub(1)
    } else {
        // Walk the subtree through the children sets: O(subtree), where ZK
        // scans every key for the `path + "/"` prefix.
        let mut count = 0usize;
        let mut stack: Vec<String> = node
            .children
            .iter()
            .map(|c| format!("{path}/{c}"))
            .collect();
        while let Some(p) = stack.pop() {
            count += 1;
            if let Some(n) = tree.nodes.get(p.as_str()) {
                stack.extend(n.children.iter().map(|c| format!("{p}/{c}")));
            }
        }
        count
    };
    Ok(Response::GetAllChildrenNumber(
        i32::try_from(count).unwrap_or(i32::MAX),
    ))
}

fn ephemerals(tree: &DataTree, prefix: Option<&str>, ctx: &ReadContext) -> Vec<String> {
    let Some(paths) = tree.ephemerals.get(&ctx.session_id) else {
        return Vec::new();
    };
    // Null, blank or "/" means all; otherwise a plain string prefix.
    let prefix = prefix.filter(|p| !p.trim().is_empty() && *p != "/");
    paths
        .iter()
        .filter(|p| prefix.is_none_or(|pre| p.starts_with(pre)))
        .map(|p| p.to_string())
        .collect()
}

fn multi_read(
    tree: &DataTree,
    ops: &[MultiReadOp],
    ctx: &ReadContext,
    watches: &mut Vec<WatchRegistration>,
) -> Vec<MultiResult> {
    // Independent reads: a failure becomes an error result, the rest proceed.
    ops.iter()
        .map(|op| match op {
            MultiReadOp::GetChildren { path, watch } => {
                match get_children(tree, path, *watch, ctx, watches) {
                    Ok((children, _)) => MultiResult::GetChildren { children },
                    Err(e) => MultiResult::Error(e),
                }
            }
            MultiReadOp::GetData { path, watch } => {
                match get_data(tree, path, *watch, ctx, watches) {
                    Ok((data, stat)) => MultiResult::GetData { data, stat },
                    Err(e) => MultiResult::Error(e),
                }
            }
        })
        .collect()
}

fn string_len(s: &str) -> usize {
    4 + s.len()
}

fn buffer_len(b: &Option<Vec<u8>>) -> usize {
    4 + b.as_ref().map_or(0, |d| d.len())
}

fn strings_len(v: &[String]) -> usize {
    4 + v.iter().map(|s| string_len(s)).sum::<usize>()
}

/// The jute-encoded size of a response body, computed without encoding.
fn body_len(resp: &Response) -> usize {
    match resp {
        Response::Empty => 0,
        Response::Create { path } | Response::Sync { path } => string_len(path),
        Response::Create2 { path, stat: _ } => string_len(path) + STAT_LEN,
        Response::Stat(_) => STAT_LEN,
        Response::GetData { data, stat: _ } => buffer_len(data) + STAT_LEN,
        Response::GetAcl { acl, stat: _ } => {
            4 + acl
                .iter()
                .map(|a| 4 + string_len(&a.id.scheme) + string_len(&a.id.id))
                .sum::<usize>()
                + STAT_LEN
        }
        Response::GetChildren { children } => strings_len(children),
        Response::GetChildren2 { children, stat: _ } => strings_len(children) + STAT_LEN,
        Response::GetEphemerals(paths) => strings_len(paths),
        Response::Multi(results) => {
            MULTI_HEADER_LEN
                + results
                    .iter()
                    .map(|r| {
                        MULTI_HEADER_LEN
                            + match r {
                                MultiResult::Create { path } => string_len(path),
                                MultiResult::Create2 { path, stat: _ } => {
                                    string_len(path) + STAT_LEN
                                }
                                MultiResult::Delete | MultiResult::Check => 0,
                                MultiResult::SetData { stat: _ } => STAT_LEN,
                                MultiResult::GetChildren { children } => strings_len(children),
                                MultiResult::GetData { data, stat: _ } => {
                                    buffer_len(data) + STAT_LEN
                                }
                                MultiResult::Error(_) => 4,
                            }
                    })
                    .sum::<usize>()
        }
        Response::GetAllChildrenNumber(_) | Response::ErrorBody(_) => 4,
        Response::WhoAmI(infos) => {
            4 + infos
                .iter()
                .map(|c| string_len(&c.auth_scheme) + string_len(&c.user))
                .sum::<usize>()
        }
        Response::Sasl { token } => buffer_len(token),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::{Acl, ClientInfo, Id};
    use crate::tree::fixture::*;

    const MAX: usize = 0xfffff;

    fn anon() -> AuthIds {
        AuthIds {
            ids: vec![Id::new("ip", "127.0.0.1")],
        }
    }
    fn ctx(auth: &AuthIds) -> ReadContext<'_> {
        ReadContext {
            auth,
            session_id: 7,
            skip_acl: false,
            max_reply_len: MAX,
        }
    }
    fn bob_acl() -> Vec<Acl> {
        vec![Acl {
            perms: perms::ALL,
            id: Id::new("digest", &acl::digest_id("bob:secret")),
        }]
    }
    fn sample() -> DataTree {
        let mut t = fresh();
        insert(&mut t, "/a", node(Some(b"hello"), Acl::open_unsafe(), 2));
        insert(&mut t, "/a/b", node(None, Acl::open_unsafe(), 3));
        insert(&mut t, "/a/b/c", node(Some(b""), Acl::open_unsafe(), 4));
        insert(&mut t, "/secret", node(Some(b"s"), bob_acl(), 5));
        t
    }

    #[test]
    fn exists_rules() {
        let t = sample();
        let a = anon();
        let c = ctx(&a);
        let out = execute_read(
            &t,
            &Request::Exists {
                path: "/a".into(),
                watch: true,
            },
            &c,
        );
        assert!(matches!(out.result, Ok(Response::Stat(s)) if s.czxid == 2 && s.num_children == 1));
        assert_eq!(out.watches, vec![WatchRegistration::Data("/a".into())]);
        // Exist watch on a missing node, reply NoNode.
        let out = execute_read(
            &t,
            &Request::Exists {
                path: "/nope".into(),
                watch: true,
            },
            &c,
        );
        assert_eq!(out.result, Err(ErrorCode::NoNode));
        assert_eq!(out.watches, vec![WatchRegistration::Exist("/nope".into())]);
        // 3.9.2+: READ needed on an existing node; NoAuth registers nothing.
        let out = execute_read(
            &t,
            &Request::Exists {
                path: "/secret".into(),
                watch: true,
            },
            &c,
        );
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        assert!(out.watches.is_empty());
        let out = execute_read(
            &t,
            &Request::Exists {
                path: "/a\0".into(),
                watch: true,
            },
            &c,
        );
        assert_eq!(out.result, Err(ErrorCode::BadArguments));
        assert!(out.watches.is_empty());
    }

    #[test]
    fn get_data_null_vs_empty_and_acl() {
        let t = sample();
        let a = anon();
        let c = ctx(&a);
        let out = execute_read(
            &t,
            &Request::GetData {
                path: "/a/b".into(),
                watch: false,
            },
            &c,
        );
        assert!(matches!(
            out.result,
            Ok(Response::GetData { data: None, .. })
        ));
        let out = execute_read(
            &t,
            &Request::GetData {
                path: "/a/b/c".into(),
                watch: true,
            },
            &c,
        );
        assert!(
            matches!(out.result, Ok(Response::GetData { data: Some(ref d), .. }) if d.is_empty())
        );
        assert_eq!(out.watches, vec![WatchRegistration::Data("/a/b/c".into())]);
        // Missing and invalid paths: NoNode, no watch.
        for p in ["/nope", "a//b", ""] {
            let out = execute_read(
                &t,
                &Request::GetData {
                    path: p.into(),
                    watch: true,
                },
                &c,
            );
            assert_eq!(out.result, Err(ErrorCode::NoNode));
            assert!(out.watches.is_empty());
        }
        let out = execute_read(
            &t,
            &Request::GetData {
                path: "/secret".into(),
                watch: true,
            },
            &c,
        );
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        assert!(out.watches.is_empty());
        let bob = AuthIds {
            ids: vec![Id::new("digest", &acl::digest_id("bob:secret"))],
        };
        let out = execute_read(
            &t,
            &Request::GetData {
                path: "/secret".into(),
                watch: false,
            },
            &ctx(&bob),
        );
        assert!(out.result.is_ok());
        let skip = ReadContext {
            skip_acl: true,
            ..c
        };
        assert!(execute_read(
            &t,
            &Request::GetData {
                path: "/secret".into(),
                watch: false
            },
            &skip
        )
        .result
        .is_ok());
    }

    #[test]
    fn get_children_and_children2() {
        let t = sample();
        let a = anon();
        let c = ctx(&a);
        let out = execute_read(
            &t,
            &Request::GetChildren {
                path: "/".into(),
                watch: true,
            },
            &c,
        );
        let Ok(Response::GetChildren { mut children }) = out.result else {
            panic!("{out:?}")
        };
        children.sort();
        assert_eq!(children, vec!["a", "secret", "zookeeper"]);
        assert_eq!(out.watches, vec![WatchRegistration::Child("/".into())]);
        let out = execute_read(
            &t,
            &Request::GetChildren2 {
                path: "/a".into(),
                watch: false,
            },
            &c,
        );
        assert!(
            matches!(out.result, Ok(Response::GetChildren2 { ref children, stat }) if children == &["b"] && stat.czxid == 2)
        );
        let out = execute_read(
            &t,
            &Request::GetChildren {
                path: "/secret".into(),
                watch: true,
            },
            &c,
        );
        assert_eq!(out.result, Err(ErrorCode::NoAuth));
        assert!(out.watches.is_empty());
    }

    #[test]
    fn get_acl_redacts_without_admin() {
        let mut t = sample();
        let bob = acl::digest_id("bob:secret");
        let mixed = vec![
            Acl {
                perms: perms::READ,
                id: Id::new("world", "anyone"),
            },
            Acl {
                perms: perms::ALL,
                id: Id::new("digest", &bob),
            },
        ];
        insert(&mut t, "/mixed", node(None, mixed.clone(), 9));
        let a = anon();
        let out = execute_read(
            &t,
            &Request::GetAcl {
                path: "/mixed".into(),
            },
            &ctx(&a),
        );
        let Ok(Response::GetAcl { acl, stat }) = out.result else {
            panic!()
        };
        assert_eq!(acl[1].id.id, "bob:x");
        assert_eq!(stat.czxid, 9);
        let b = AuthIds {
            ids: vec![Id::new("digest", &bob)],
        };
        let out = execute_read(
            &t,
            &Request::GetAcl {
                path: "/mixed".into(),
            },
            &ctx(&b),
        );
        assert!(matches!(out.result, Ok(Response::GetAcl { ref acl, .. }) if *acl == mixed));
        assert_eq!(
            execute_read(
                &t,
                &Request::GetAcl {
                    path: "/secret".into()
                },
                &ctx(&a)
            )
            .result,
            Err(ErrorCode::NoAuth)
        );
        assert_eq!(
            execute_read(&t, &Request::GetAcl { path: "/x".into() }, &ctx(&a)).result,
            Err(ErrorCode::NoNode)
        );
    }

    #[test]
    fn all_children_number() {
        let a = anon();
        let c = ctx(&a);
        let req = |p: &str| Request::GetAllChildrenNumber { path: p.into() };
        assert_eq!(
            execute_read(&fresh(), &req("/"), &c).result,
            Ok(Response::GetAllChildrenNumber(3))
        );
        let t = sample();
        assert_eq!(
            execute_read(&t, &req("/"), &c).result,
            Ok(Response::GetAllChildrenNumber(7))
        );
        assert_eq!(
            execute_read(&t, &req("/a"), &c).result,
            Ok(Response::GetAllChildrenNumber(2))
        );
        assert_eq!(
            execute_read(&t, &req("/a/b/c"), &c).result,
            Ok(Response::GetAllChildrenNumber(0))
        );
        assert_eq!(
            execute_read(&t, &req("/zookeeper"), &c).result,
            Ok(Response::GetAllChildrenNumber(2))
        );
        assert_eq!(
            execute_read(&t, &req("/nope"), &c).result,
            Err(ErrorCode::NoNode)
        );
        assert_eq!(
            execute_read(&t, &req("/secret"), &c).result,
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn get_ephemerals_own_session_plain_prefix() {
        let mut t = sample();
        ephemeral(&mut t, "/eph", 7);
        ephemeral(&mut t, "/a/e1", 7);
        ephemeral(&mut t, "/other", 8);
        let a = anon();
        let c = ctx(&a);
        let get = |p: Option<&str>| {
            let out = execute_read(
                &t,
                &Request::GetEphemerals {
                    prefix: p.map(str::to_owned),
                },
                &c,
            );
            let Ok(Response::GetEphemerals(mut v)) = out.result else {
                panic!()
            };
            v.sort();
            v
        };
        assert_eq!(get(None), vec!["/a/e1", "/eph"]);
        assert_eq!(get(Some("")), vec!["/a/e1", "/eph"]);
        assert_eq!(get(Some("  ")), vec!["/a/e1", "/eph"]);
        assert_eq!(get(Some("/")), vec!["/a/e1", "/eph"]);
        assert_eq!(get(Some("/e")), vec!["/eph"]);
        assert_eq!(get(Some("/a")), vec!["/a/e1"]);
        let none = ReadContext {
            session_id: 99,
            ..c
        };
        assert_eq!(
            execute_read(&t, &Request::GetEphemerals { prefix: None }, &none).result,
            Ok(Response::GetEphemerals(vec![]))
        );
    }

    #[test]
    fn multi_read_independent_results_and_watches() {
        let t = sample();
        let a = anon();
        let ops = vec![
            MultiReadOp::GetChildren {
                path: "/a".into(),
                watch: true,
            },
            MultiReadOp::GetData {
                path: "/a".into(),
                watch: true,
            },
            MultiReadOp::GetData {
                path: "/nonexist".into(),
                watch: true,
            },
            MultiReadOp::GetData {
                path: "/secret".into(),
                watch: true,
            },
        ];
        let out = execute_read(&t, &Request::MultiRead(ops), &ctx(&a));
        let Ok(Response::Multi(r)) = out.result else {
            panic!()
        };
        assert_eq!(
            r[0],
            MultiResult::GetChildren {
                children: vec!["b".into()]
            }
        );
        assert!(matches!(&r[1], MultiResult::GetData { data: Some(d), .. } if d == b"hello"));
        assert_eq!(r[2], MultiResult::Error(ErrorCode::NoNode));
        assert_eq!(r[3], MultiResult::Error(ErrorCode::NoAuth));
        assert_eq!(
            out.watches,
            vec![
                WatchRegistration::Child("/a".into()),
                WatchRegistration::Data("/a".into())
            ]
        );
    }

    #[test]
    fn who_am_i_sync_and_non_reads() {
        let t = sample();
        let a = AuthIds {
            ids: vec![
                Id::new("ip", "127.0.0.1"),
                Id::new("digest", "bob:h"),
                Id::new("digest", "alice:h2"),
                Id::new("digest", "bob:h"),
            ],
        };
        let out = execute_read(&t, &Request::WhoAmI, &ctx(&a));
        let info = |s: &str, u: &str| ClientInfo {
            auth_scheme: s.into(),
            user: u.into(),
        };
        assert_eq!(
            out.result,
            Ok(Response::WhoAmI(vec![
                info("ip", "127.0.0.1"),
                info("digest", "bob"),
                info("digest", "alice")
            ]))
        );
        assert_eq!(
            execute_read(
                &t,
                &Request::Sync {
                    path: "/whatever".into()
                },
                &ctx(&a)
            )
            .result,
            Ok(Response::Sync {
                path: "/whatever".into()
            })
        );
        for req in [
            Request::Ping,
            Request::Delete {
                path: "/a".into(),
                version: -1,
            },
            Request::CloseSession,
        ] {
            assert_eq!(
                execute_read(&t, &req, &ctx(&a)).result,
                Err(ErrorCode::Unimplemented)
            );
        }
    }

    #[test]
    fn reply_size_guard_at_the_exact_boundary() {
        let mut t = fresh();
        // Reply = 16 header + 4 length + data + 68 stat = data + 88.
        let fits = vec![7u8; MAX - 88];
        let over = vec![7u8; MAX - 87];
        insert(&mut t, "/fits", node(Some(&fits), Acl::open_unsafe(), 1));
        insert(&mut t, "/over", node(Some(&over), Acl::open_unsafe(), 1));
        let a = anon();
        let c = ctx(&a);
        assert!(execute_read(
            &t,
            &Request::GetData {
                path: "/fits".into(),
                watch: true
            },
            &c
        )
        .result
        .is_ok());
        let out = execute_read(
            &t,
            &Request::GetData {
                path: "/over".into(),
                watch: true,
            },
            &c,
        );
        assert_eq!(out.result, Err(ErrorCode::MarshallingError));
        assert!(out.watches.is_empty());
        // A huge child list trips it too; exists (stat only) does not.
        let small = ReadContext {
            max_reply_len: 100,
            ..c
        };
        let mut t2 = fresh();
        insert(&mut t2, "/p", node(None, Acl::open_unsafe(), 1));
        for i in 0..10 {
            insert(
                &mut t2,
                &format!("/p/child-{i:04}"),
                node(None, Acl::open_unsafe(), 1),
            );
        }
        let req = Request::GetChildren {
            path: "/p".into(),
            watch: false,
        };
        // 16 + 4 + 10 * (4 + 10) = 160 > 100.
        assert_eq!(
            execute_read(&t2, &req, &small).result,
            Err(ErrorCode::MarshallingError)
        );
        assert_eq!(
            execute_read(
                &t2,
                &req,
                &ReadContext {
                    max_reply_len: 160,
                    ..c
                }
            )
            .result
            .map(|_| ()),
            Ok(())
        );
        assert!(execute_read(
            &t2,
            &Request::Exists {
                path: "/p".into(),
                watch: false
            },
            &small
        )
        .result
        .is_ok());
    }
}
