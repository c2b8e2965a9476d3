//! Request frames: RequestHeader plus each opcode's request record, and the
//! multi/multiRead bodies (digest §3.3, §6, §13.1).

use super::jute::{write_frame, JuteReader, JuteWriter};
use super::records::{read_acl_vec, write_acl_vec};
use super::DecodeError;
use crate::proto::messages::*;
use crate::proto::types::*;

/// RequestHeader is two ints.
pub const REQUEST_HEADER_LEN: usize = 8;

/// Multi sub-op type that terminates the list (with done = true).
const MULTI_END_TYPE: i32 = -1;

/// Splits a request frame body into its header and the record after it.
pub fn decode_request_header(body: &[u8]) -> Result<(RequestHeader, &[u8]), DecodeError> {
    let mut r = JuteReader::new(body);
    let xid = r.read_i32()?;
    let opcode = r.read_i32()?;
    Ok((RequestHeader { xid, opcode }, r.rest()))
}

/// Decodes the record that follows the RequestHeader. Trailing bytes are
/// ignored, as real ZK ignores them (digest §2).
pub fn decode_request(opcode: OpCode, body: &[u8]) -> Result<Request, DecodeError> {
    let r = &mut JuteReader::new(body);
    Ok(match opcode {
        OpCode::Create | OpCode::Create2 | OpCode::CreateContainer => Request::Create {
            opcode,
            req: read_create(r, false)?,
        },
        OpCode::CreateTtl => Request::Create {
            opcode,
            req: read_create(r, true)?,
        },
        OpCode::Delete => Request::Delete {
            path: r.read_string()?,
            version: r.read_i32()?,
        },
        OpCode::Exists => Request::Exists {
            path: r.read_string()?,
            watch: r.read_bool()?,
        },
        OpCode::GetData => Request::GetData {
            path: r.read_string()?,
            watch: r.read_bool()?,
        },
        OpCode::SetData => Request::SetData {
            path: r.read_string()?,
            data: r.read_buffer()?,
            version: r.read_i32()?,
        },
        OpCode::GetAcl => Request::GetAcl {
            path: r.read_string()?,
        },
        OpCode::SetAcl => Request::SetAcl {
            path: r.read_string()?,
            acl: read_acl_vec(r)?,
            version: r.read_i32()?,
        },
        OpCode::GetChildren => Request::GetChildren {
            path: r.read_string()?,
            watch: r.read_bool()?,
        },
        OpCode::GetChildren2 => Request::GetChildren2 {
            path: r.read_string()?,
            watch: r.read_bool()?,
        },
        OpCode::Sync => Request::Sync {
            path: r.read_string()?,
        },
        OpCode::Ping => Request::Ping,
        OpCode::Check => Request::Check {
            path: r.read_string()?,
            version: r.read_i32()?,
        },
        OpCode::Multi => Request::Multi(read_multi(r)?),
        OpCode::MultiRead => Request::MultiRead(read_multi_read(r)?),
        OpCode::Reconfig => Request::Reconfig {
            joining: r.read_ustring()?,
            leaving: r.read_ustring()?,
            new_members: r.read_ustring()?,
            cur_config_id: r.read_i64()?,
        },
        OpCode::CheckWatches => Request::CheckWatches {
            path: r.read_string()?,
            watcher_type: r.read_i32()?,
        },
        OpCode::RemoveWatches => Request::RemoveWatches {
            path: r.read_string()?,
            watcher_type: r.read_i32()?,
        },
        OpCode::DeleteContainer => Request::DeleteContainer {
            path: r.read_string()?,
        },
        OpCode::Auth => Request::Auth {
            auth_type: r.read_i32()?,
            scheme: r.read_string()?,
            auth: r.read_buffer()?.unwrap_or_default(),
        },
        OpCode::SetWatches => Request::SetWatches {
            v2: false,
            watches: read_set_watches(r, false)?,
        },
        OpCode::SetWatches2 => Request::SetWatches {
            v2: true,
            watches: read_set_watches(r, true)?,
        },
        OpCode::Sasl => Request::Sasl {
            token: r.read_buffer()?.unwrap_or_default(),
        },
        OpCode::GetEphemerals => Request::GetEphemerals {
            prefix: r.read_ustring()?,
        },
        OpCode::GetAllChildrenNumber => Request::GetAllChildrenNumber {
            path: r.read_string()?,
        },
        OpCode::AddWatch => Request::AddWatch {
            path: r.read_string()?,
            mode: r.read_i32()?,
        },
        OpCode::WhoAmI => Request::WhoAmI,
        OpCode::CloseSession => Request::CloseSession,
        OpCode::Notification | OpCode::Error | OpCode::CreateSession => {
            return Err(DecodeError::UnknownOpcode(opcode as i32))
        }
    })
}

fn read_create(r: &mut JuteReader<'_>, with_ttl: bool) -> Result<CreateRequest, DecodeError> {
    let path = r.read_string()?;
    let data = r.read_buffer()?;
    let acl = read_acl_vec(r)?;
    let flags = r.read_i32()?;
    let ttl = if with_ttl { r.read_i64()? } else { -1 };
    Ok(CreateRequest {
        path,
        data,
        acl,
        flags,
        ttl,
    })
}

fn read_set_watches(r: &mut JuteReader<'_>, v2: bool) -> Result<SetWatches, DecodeError> {
    // Null lists carry nothing to re-register, so they read as empty.
    let list = |r: &mut JuteReader<'_>| r.read_string_vec().map(Option::unwrap_or_default);
    let relative_zxid = r.read_i64()?;
    let data = list(r)?;
    let exist = list(r)?;
    let child = list(r)?;
    let (persistent, persistent_recursive) = if v2 {
        (list(r)?, list(r)?)
    } else {
        Default::default()
    };
    Ok(SetWatches {
        relative_zxid,
        data,
        exist,
        child,
        persistent,
        persistent_recursive,
    })
}

/// MultiHeader{type, done, err}; returns `None` at the terminator. Java
/// stops on `done`, whatever the type, and so do we.
fn read_multi_header(r: &mut JuteReader<'_>) -> Result<Option<i32>, DecodeError> {
    let op_type = r.read_i32()?;
    let done = r.read_bool()?;
    let _err = r.read_i32()?;
    Ok(if done { None } else { Some(op_type) })
}

fn read_multi(r: &mut JuteReader<'_>) -> Result<Vec<MultiOp>, DecodeError> {
    // Each op consumes at least its 9-byte header, so the loop is bounded
    // by the input.
    let mut ops = Vec::new();
    while let Some(op_type) = read_multi_header(r)? {
        let op = match op_type {
            1 | 15 | 19 | 21 => {
                let opcode =
                    OpCode::from_i32(op_type).ok_or(DecodeError::InvalidMulti("bad op type"))?;
                let req = read_create(r, opcode == OpCode::CreateTtl)?;
                // Real ZK builds the sub-op's mode while deserialising, so
                // these fail the whole multi rather than the one op (§13.1).
                let mode = CreateMode::from_flags(req.flags)
                    .ok_or(DecodeError::InvalidMulti("create flags out of range"))?;
                if mode.is_ttl() && opcode != OpCode::CreateTtl {
                    return Err(DecodeError::InvalidMulti("TTL create mode without a ttl"));
                }
                MultiOp::Create { opcode, req }
            }
            2 => MultiOp::Delete {
                path: r.read_string()?,
                version: r.read_i32()?,
            },
            5 => MultiOp::SetData {
                path: r.read_string()?,
                data: r.read_buffer()?,
                version: r.read_i32()?,
            },
            13 => MultiOp::Check {
                path: r.read_string()?,
                version: r.read_i32()?,
            },
            4 | 8 => return Err(DecodeError::InvalidMulti("read op inside multi")),
            _ => return Err(DecodeError::InvalidMulti("op type not allowed in multi")),
        };
        ops.push(op);
    }
    Ok(ops)
}

fn read_multi_read(r: &mut JuteReader<'_>) -> Result<Vec<MultiReadOp>, DecodeError> {
    let mut ops = Vec::new();
    while let Some(op_type) = read_multi_header(r)? {
        let op = match op_type {
            8 => MultiReadOp::GetChildren {
                path: r.read_string()?,
                watch: r.read_bool()?,
            },
            4 => MultiReadOp::GetData {
                path: r.read_string()?,
                watch: r.read_bool()?,
            },
            1 | 2 | 5 | 13 | 15 | 19 | 21 => {
                return Err(DecodeError::InvalidMulti("write op inside multiRead"))
            }
            _ => {
                return Err(DecodeError::InvalidMulti(
                    "op type not allowed in multiRead",
                ))
            }
        };
        ops.push(op);
    }
    Ok(ops)
}

/// The opcode a request travels under.
pub fn request_opcode(req: &Request) -> OpCode {
    match req {
        Request::Create { opcode, .. } => *opcode,
        Request::Delete { .. } => OpCode::Delete,
        Request::Exists { .. } => OpCode::Exists,
        Request::GetData { .. } => OpCode::GetData,
        Request::SetData { .. } => OpCode::SetData,
        Request::GetAcl { .. } => OpCode::GetAcl,
        Request::SetAcl { .. } => OpCode::SetAcl,
        Request::GetChildren { .. } => OpCode::GetChildren,
        Request::GetChildren2 { .. } => OpCode::GetChildren2,
        Request::Sync { .. } => OpCode::Sync,
        Request::Ping => OpCode::Ping,
        Request::Check { .. } => OpCode::Check,
        Request::Multi(_) => OpCode::Multi,
        Request::MultiRead(_) => OpCode::MultiRead,
        Request::Reconfig { .. } => OpCode::Reconfig,
        Request::CheckWatches { .. } => OpCode::CheckWatches,
        Request::RemoveWatches { .. } => OpCode::RemoveWatches,
        Request::DeleteContainer { .. } => OpCode::DeleteContainer,
        Request::Auth { .. } => OpCode::Auth,
        Request::SetWatches { v2: false, .. } => OpCode::SetWatches,
        Request::SetWatches { v2: true, .. } => OpCode::SetWatches2,
        Request::Sasl { .. } => OpCode::Sasl,
        Request::GetEphemerals { .. } => OpCode::GetEphemerals,
        Request::GetAllChildrenNumber { .. } => OpCode::GetAllChildrenNumber,
        Request::AddWatch { .. } => OpCode::AddWatch,
        Request::WhoAmI => OpCode::WhoAmI,
        Request::CloseSession => OpCode::CloseSession,
    }
}

/// Appends a complete request frame: RequestHeader{xid, opcode} + record.
pub fn encode_request(xid: Xid, req: &Request, out: &mut Vec<u8>) {
    write_frame(out, |w| {
        w.write_i32(xid);
        w.write_i32(request_opcode(req) as i32);
        write_request_body(w, req);
    });
}

fn write_create(w: &mut JuteWriter<'_>, opcode: OpCode, req: &CreateRequest) {
    w.write_string(&req.path);
    w.write_buffer(req.data.as_deref());
    write_acl_vec(w, req.acl.as_deref());
    w.write_i32(req.flags);
    // The ttl field exists only in CreateTTLRequest.
    if opcode == OpCode::CreateTtl {
        w.write_i64(req.ttl);
    }
}

fn write_path_watch(w: &mut JuteWriter<'_>, path: &str, watch: bool) {
    w.write_string(path);
    w.write_bool(watch);
}

fn write_path_int(w: &mut JuteWriter<'_>, path: &str, v: i32) {
    w.write_string(path);
    w.write_i32(v);
}

fn write_multi_header(w: &mut JuteWriter<'_>, op_type: i32, done: bool, err: i32) {
    w.write_i32(op_type);
    w.write_bool(done);
    w.write_i32(err);
}

fn write_request_body(w: &mut JuteWriter<'_>, req: &Request) {
    match req {
        Request::Create { opcode, req } => write_create(w, *opcode, req),
        Request::Delete { path, version } | Request::Check { path, version } => {
            write_path_int(w, path, *version)
        }
        Request::Exists { path, watch }
        | Request::GetData { path, watch }
        | Request::GetChildren { path, watch }
        | Request::GetChildren2 { path, watch } => write_path_watch(w, path, *watch),
        Request::SetData {
            path,
            data,
            version,
        } => {
            w.write_string(path);
            w.write_buffer(data.as_deref());
            w.write_i32(*version);
        }
        Request::GetAcl { path }
        | Request::Sync { path }
        | Request::DeleteContainer { path }
        | Request::GetAllChildrenNumber { path } => w.write_string(path),
        Request::SetAcl { path, acl, version } => {
            w.write_string(path);
            write_acl_vec(w, acl.as_deref());
            w.write_i32(*version);
        }
        Request::Ping | Request::WhoAmI | Request::CloseSession => {}
        Request::Multi(ops) => {
            // Clients send err = -1 in request headers; the server ignores it.
            for op in ops {
                match op {
                    MultiOp::Create { opcode, req } => {
                        write_multi_header(w, *opcode as i32, false, -1);
                        write_create(w, *opcode, req);
                    }
                    MultiOp::Delete { path, version } => {
                        write_multi_header(w, OpCode::Delete as i32, false, -1);
                        write_path_int(w, path, *version);
                    }
                    MultiOp::SetData {
                        path,
                        data,
                        version,
                    } => {
                        write_multi_header(w, OpCode::SetData as i32, false, -1);
                        w.write_string(path);
                        w.write_buffer(data.as_deref());
                        w.write_i32(*version);
                    }
                    MultiOp::Check { path, version } => {
                        write_multi_header(w, OpCode::Check as i32, false, -1);
                        write_path_int(w, path, *version);
                    }
                }
            }
            write_multi_header(w, MULTI_END_TYPE, true, -1);
        }
        Request::MultiRead(ops) => {
            for op in ops {
                let (op_type, path, watch) = match op {
                    MultiReadOp::GetChildren { path, watch } => (OpCode::GetChildren, path, watch),
                    MultiReadOp::GetData { path, watch } => (OpCode::GetData, path, watch),
                };
                write_multi_header(w, op_type as i32, false, -1);
                write_path_watch(w, path, *watch);
            }
            write_multi_header(w, MULTI_END_TYPE, true, -1);
        }
        Request::Reconfig {
            joining,
            leaving,
            new_members,
            cur_config_id,
        } => {
            w.write_ustring(joining.as_deref());
            w.write_ustring(leaving.as_deref());
            w.write_ustring(new_members.as_deref());
            w.write_i64(*cur_config_id);
        }
        Request::CheckWatches { path, watcher_type }
        | Request::RemoveWatches { path, watcher_type } => write_path_int(w, path, *watcher_type),
        Request::Auth {
            auth_type,
            scheme,
            auth,
        } => {
            w.write_i32(*auth_type);
            w.write_string(scheme);
            w.write_buffer(Some(auth));
        }
        Request::SetWatches { v2, watches } => {
            w.write_i64(watches.relative_zxid);
            w.write_string_vec(&watches.data);
            w.write_string_vec(&watches.exist);
            w.write_string_vec(&watches.child);
            if *v2 {
                w.write_string_vec(&watches.persistent);
                w.write_string_vec(&watches.persistent_recursive);
            }
        }
        Request::Sasl { token } => w.write_buffer(Some(token)),
        Request::GetEphemerals { prefix } => w.write_ustring(prefix.as_deref()),
        Request::AddWatch { path, mode } => write_path_int(w, path, *mode),
    }
}
