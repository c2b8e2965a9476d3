//! Reply frames: ReplyHeader plus each opcode's response record, multi
//! result lists and watch notifications (digest §3.4, §5, §6, §12.3, §13.3).
//!
//! A reply does not name its record: the client picks it from the opcode of
//! the request it matched, so [`decode_response`] takes that opcode.

use super::jute::{write_frame, JuteReader, JuteWriter};
use super::records::*;
use super::DecodeError;
use crate::proto::messages::*;
use crate::proto::types::*;

/// ReplyHeader is int xid, long zxid, int err.
pub const REPLY_HEADER_LEN: usize = 16;

/// Multi result type of an error entry (ErrorResponse payload).
const MULTI_ERROR_TYPE: i32 = -1;

fn write_reply_header(w: &mut JuteWriter<'_>, h: &ReplyHeader) {
    w.write_i32(h.xid);
    w.write_i64(h.zxid);
    w.write_i32(h.err);
}

/// Appends a reply frame. `body` is `None` for error replies (which never
/// carry a body, digest §5.1); `Some(Response::Empty)` writes nothing either.
pub fn encode_reply(header: &ReplyHeader, body: Option<&Response>, out: &mut Vec<u8>) {
    write_frame(out, |w| {
        write_reply_header(w, header);
        if let Some(resp) = body {
            write_response(w, resp);
        }
    });
}

/// Appends a watch notification: xid -1, err 0, then the WatcherEvent.
pub fn encode_notification(zxid: Zxid, ev: &WatcherEvent, out: &mut Vec<u8>) {
    write_frame(out, |w| {
        write_reply_header(
            w,
            &ReplyHeader {
                xid: xid::NOTIFICATION,
                zxid,
                err: 0,
            },
        );
        w.write_i32(ev.event_type as i32);
        w.write_i32(ev.state);
        w.write_string(&ev.path);
    });
}

fn write_response(w: &mut JuteWriter<'_>, resp: &Response) {
    match resp {
        Response::Empty => {}
        Response::Create { path } | Response::Sync { path } => w.write_string(path),
        Response::Create2 { path, stat } => {
            w.write_string(path);
            write_stat(w, stat);
        }
        Response::Stat(stat) => write_stat(w, stat),
        Response::GetData { data, stat } => {
            w.write_buffer(data.as_deref());
            write_stat(w, stat);
        }
        Response::GetAcl { acl, stat } => {
            write_acl_vec(w, Some(acl));
            write_stat(w, stat);
        }
        Response::GetChildren { children } | Response::GetEphemerals(children) => {
            w.write_string_vec(children)
        }
        Response::GetChildren2 { children, stat } => {
            w.write_string_vec(children);
            write_stat(w, stat);
        }
        Response::Multi(results) => write_multi_results(w, results),
        Response::GetAllChildrenNumber(n) => w.write_i32(*n),
        Response::WhoAmI(infos) => w.write_vec(Some(infos), write_client_info),
        Response::Sasl { token } => w.write_buffer(token.as_deref()),
        Response::ErrorBody(err) => w.write_i32(*err),
    }
}

fn write_multi_header(w: &mut JuteWriter<'_>, op_type: i32, done: bool, err: i32) {
    w.write_i32(op_type);
    w.write_bool(done);
    w.write_i32(err);
}

fn write_multi_results(w: &mut JuteWriter<'_>, results: &[MultiResult]) {
    for res in results {
        match res {
            MultiResult::Create { path } => {
                write_multi_header(w, OpCode::Create as i32, false, 0);
                w.write_string(path);
            }
            MultiResult::Create2 { path, stat } => {
                write_multi_header(w, OpCode::Create2 as i32, false, 0);
                w.write_string(path);
                write_stat(w, stat);
            }
            MultiResult::Delete => write_multi_header(w, OpCode::Delete as i32, false, 0),
            MultiResult::SetData { stat } => {
                write_multi_header(w, OpCode::SetData as i32, false, 0);
                write_stat(w, stat);
            }
            MultiResult::Check => write_multi_header(w, OpCode::Check as i32, false, 0),
            MultiResult::GetChildren { children } => {
                write_multi_header(w, OpCode::GetChildren as i32, false, 0);
                w.write_string_vec(children);
            }
            MultiResult::GetData { data, stat } => {
                write_multi_header(w, OpCode::GetData as i32, false, 0);
                w.write_buffer(data.as_deref());
                write_stat(w, stat);
            }
            // The error code goes in both the header and the payload.
            MultiResult::Error(code) => {
                write_multi_header(w, MULTI_ERROR_TYPE, false, code.code());
                w.write_i32(code.code());
            }
        }
    }
    write_multi_header(w, -1, true, -1);
}

/// Splits a reply frame body into its header and the record after it.
pub fn decode_reply_header(body: &[u8]) -> Result<(ReplyHeader, &[u8]), DecodeError> {
    let mut r = JuteReader::new(body);
    let xid = r.read_i32()?;
    let zxid = r.read_i64()?;
    let err = r.read_i32()?;
    Ok((ReplyHeader { xid, zxid, err }, r.rest()))
}

/// Decodes a success body (header err == 0) for a request sent under
/// `opcode`. Null strings and vectors where the response type has no null
/// read as empty.
pub fn decode_response(opcode: OpCode, body: &[u8]) -> Result<Response, DecodeError> {
    let r = &mut JuteReader::new(body);
    let children = |r: &mut JuteReader<'_>| r.read_string_vec().map(Option::unwrap_or_default);
    Ok(match opcode {
        OpCode::Create => Response::Create {
            path: r.read_string()?,
        },
        OpCode::Create2 | OpCode::CreateContainer | OpCode::CreateTtl => Response::Create2 {
            path: r.read_string()?,
            stat: read_stat(r)?,
        },
        OpCode::Exists | OpCode::SetData | OpCode::SetAcl => Response::Stat(read_stat(r)?),
        // reconfig answers with a GetDataResponse (the new config).
        OpCode::GetData | OpCode::Reconfig => Response::GetData {
            data: r.read_buffer()?,
            stat: read_stat(r)?,
        },
        OpCode::GetAcl => Response::GetAcl {
            acl: read_acl_vec(r)?.unwrap_or_default(),
            stat: read_stat(r)?,
        },
        OpCode::GetChildren => Response::GetChildren {
            children: children(r)?,
        },
        OpCode::GetChildren2 => Response::GetChildren2 {
            children: children(r)?,
            stat: read_stat(r)?,
        },
        OpCode::Sync => Response::Sync {
            path: r.read_string()?,
        },
        OpCode::Multi | OpCode::MultiRead => Response::Multi(read_multi_results(r)?),
        OpCode::GetAllChildrenNumber => Response::GetAllChildrenNumber(r.read_i32()?),
        OpCode::GetEphemerals => Response::GetEphemerals(children(r)?),
        // ClientInfo is two strings, at least 8 bytes.
        OpCode::WhoAmI => Response::WhoAmI(r.read_vec(8, read_client_info)?.unwrap_or_default()),
        OpCode::Sasl => Response::Sasl {
            token: r.read_buffer()?,
        },
        OpCode::AddWatch => Response::ErrorBody(r.read_i32()?),
        OpCode::Delete
        | OpCode::Ping
        | OpCode::Check
        | OpCode::CheckWatches
        | OpCode::RemoveWatches
        | OpCode::DeleteContainer
        | OpCode::Auth
        | OpCode::SetWatches
        | OpCode::SetWatches2
        | OpCode::CloseSession => Response::Empty,
        OpCode::Notification | OpCode::Error | OpCode::CreateSession => {
            return Err(DecodeError::UnknownOpcode(opcode as i32))
        }
    })
}

fn read_multi_results(r: &mut JuteReader<'_>) -> Result<Vec<MultiResult>, DecodeError> {
    // Each result consumes at least its 9-byte header: bounded by the input.
    let mut results = Vec::new();
    loop {
        let op_type = r.read_i32()?;
        let done = r.read_bool()?;
        let _err = r.read_i32()?;
        if done {
            break;
        }
        let res = match op_type {
            1 => MultiResult::Create {
                path: r.read_string()?,
            },
            15 => MultiResult::Create2 {
                path: r.read_string()?,
                stat: read_stat(r)?,
            },
            2 => MultiResult::Delete,
            5 => MultiResult::SetData {
                stat: read_stat(r)?,
            },
            13 => MultiResult::Check,
            8 => MultiResult::GetChildren {
                children: r.read_string_vec()?.unwrap_or_default(),
            },
            4 => MultiResult::GetData {
                data: r.read_buffer()?,
                stat: read_stat(r)?,
            },
            // The payload's ErrorResponse is authoritative, as in the clients.
            MULTI_ERROR_TYPE => MultiResult::Error(error_code_from_i32(r.read_i32()?)?),
            _ => return Err(DecodeError::InvalidMulti("unknown multi result type")),
        };
        results.push(res);
    }
    Ok(results)
}

/// Decodes a notification body (after its ReplyHeader with xid -1).
pub fn decode_watcher_event(body: &[u8]) -> Result<WatcherEvent, DecodeError> {
    let mut r = JuteReader::new(body);
    let event_type = event_type_from_i32(r.read_i32()?)?;
    let state = r.read_i32()?;
    let path = r.read_string()?;
    Ok(WatcherEvent {
        event_type,
        state,
        path,
    })
}
