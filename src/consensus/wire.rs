//! What ensemble members exchange and what a raft entry carries. This module
//! is the only code that knows these formats; this doc is their spec.
//!
//! All integers are big-endian (the jute conventions of [`crate::proto`]:
//! `int` 4 bytes, `long` 8 bytes, `buffer` = int length + bytes, -1 = null,
//! `string` = buffer of UTF-8).
//!
//! # Raft entry data (`EntryType::EntryNormal`)
//!
//! An empty `data` is raft's own no-op (a new leader's first entry); it
//! carries no transaction and consumes no zxid. Otherwise:
//!
//! | field | type | meaning |
//! |---|---|---|
//! | version | byte | [`ENTRY_FORMAT_VERSION`] = 1 |
//! | zxid | long | assigned by the leader that proposed it (`term << 32 \| counter`) |
//! | time_ms | long | wall-clock time of the transaction |
//! | flags | byte | bit 0: an origin follows; bit 1: a connect reply follows |
//! | origin | member long, shard int, conn long, xid int, opcode int | the request that caused it |
//! | connect | member long, shard int, conn long, timeout int, session long, passwd buffer(16), readOnly byte (0 false, 1 true, 2 absent) | the reply to a new session's connect |
//! | txn | the rest | [`crate::ops::txn_codec::encode_txn`] |
//!
//! Every member applies the txn; the member named in `origin` (or
//! `connect`) also answers its client from its own apply.
//!
//! # Peer frames
//!
//! Frames travel over the peer transport (`transport`) with a kind byte:
//!
//! - [`FRAME_RAFT`]: a raft `Message` in raft's protobuf encoding.
//! - [`FRAME_FORWARD`]: follower -> leader, a [`Forward`]; body starts with a tag byte.
//! - [`FRAME_REPLY`]: leader -> member, a [`LeaderReply`]; body starts with a tag byte.
//!
//! Forward tags: 1 Write (origin, session long, auth ids: int count then
//! (scheme string, id string)*, request: the client frame as
//! [`crate::proto::codec::encode_request`] writes it with xid 0),
//! 2 Connect (shard int, conn long, connect request as
//! [`crate::proto::codec::encode_connect_request`] writes it),
//! 3 Touch (int count, session long*), 4 Disconnected (shard int, conn long,
//! session long).
//!
//! Reply tags: 1 Complete (after_zxid long, origin, result: byte 0 = error
//! code int, 1 = multi of error codes: int count, code int*), 2 ConnectResult
//! (after_zxid long, shard int, conn long, session long, byte 0 = close
//! without reply / 1 = a connect response follows: timeout int, session
//! long, passwd buffer, readOnly byte), 3 CloseConnection (shard int, conn long).

use crate::auth::AuthIds;
pub use crate::messages::MemberId;
use crate::messages::{ConnId, Origin, ShardId};
use crate::ops::txn::Txn;
use crate::proto::codec::{
    decode_connect_request, decode_request, decode_request_header, encode_connect_request,
    encode_request, DecodeError, JuteReader, JuteWriter,
};
use crate::proto::{
    ConnectRequest, ConnectResponse, ErrorCode, Id, OpCode, Request, SessionId, Zxid,
};

pub const ENTRY_FORMAT_VERSION: u8 = 1;
pub const FRAME_RAFT: u8 = 1;
pub const FRAME_FORWARD: u8 = 2;
pub const FRAME_REPLY: u8 = 3;

/// Forward tags: 1 write, 2 connect, 3 touch, 4 disconnected (ignored
/// since ownership is logged), 5 a write sent again after a leader change.
const FORWARD_WRITE: u8 = 1;
const FORWARD_RESEND: u8 = 5;

const FLAG_ORIGIN: u8 = 1;
const FLAG_CONNECT: u8 = 2;

/// A request that caused an entry, with the member holding its connection.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemoteOrigin {
    pub member: MemberId,
    pub origin: Origin,
}

/// The connect reply a new session's entry carries for its member.
/// A value carried in raft entries between members; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectReply {
    pub member: MemberId,
    pub shard: ShardId,
    pub conn: ConnId,
    pub response: ConnectResponse,
}

/// The data of a normal raft entry.
/// A value carried between members as raft entry bytes; no executor owns it.
#[derive(Clone, Debug, PartialEq)]
pub struct EntryPayload {
    pub zxid: Zxid,
    pub time_ms: i64,
    pub origin: Option<RemoteOrigin>,
    pub connect: Option<ConnectReply>,
    pub txn: Txn,
}

/// A peer frame that did not decode.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("malformed peer data: {0}")]
    Decode(String),
    #[error("unknown entry format version {0}")]
    Version(u8),
    #[error("unknown tag {0}")]
    Tag(u8),
}

impl From<DecodeError> for WireError {
    fn from(e: DecodeError) -> Self {
        WireError::Decode(e.to_string())
    }
}

impl From<crate::ops::txn_codec::TxnDecodeError> for WireError {
    fn from(e: crate::ops::txn_codec::TxnDecodeError) -> Self {
        WireError::Decode(e.to_string())
    }
}

fn write_origin(w: &mut JuteWriter<'_>, member: MemberId, o: &Origin) {
    w.write_i64(member as i64);
    w.write_i32(o.shard as i32);
    w.write_i64(o.conn as i64);
    w.write_i32(o.xid);
    w.write_i32(o.opcode as i32);
}

fn read_origin(r: &mut JuteReader<'_>) -> Result<RemoteOrigin, WireError> {
    let member = r.read_i64()? as u64;
    let shard = r.read_i32()? as usize;
    let conn = r.read_i64()? as u64;
    let xid = r.read_i32()?;
    let code = r.read_i32()?;
    let opcode =
        OpCode::from_i32(code).ok_or_else(|| WireError::Decode(format!("opcode {code}")))?;
    Ok(RemoteOrigin {
        member,
        origin: Origin {
            shard,
            conn,
            xid,
            opcode,
        },
    })
}

fn write_read_only(w: &mut JuteWriter<'_>, v: Option<bool>) {
    w.write_u8(match v {
        Some(false) => 0,
        Some(true) => 1,
        None => 2,
    });
}

fn read_read_only(r: &mut JuteReader<'_>) -> Result<Option<bool>, WireError> {
    Ok(match r.read_u8()? {
        0 => Some(false),
        1 => Some(true),
        2 => None,
        t => return Err(WireError::Tag(t)),
    })
}

fn write_connect_response(w: &mut JuteWriter<'_>, resp: &ConnectResponse) {
    w.write_i32(resp.timeout_ms);
    w.write_i64(resp.session_id);
    w.write_buffer(Some(&resp.passwd));
    write_read_only(w, resp.read_only);
}

fn read_connect_response(r: &mut JuteReader<'_>) -> Result<ConnectResponse, WireError> {
    let timeout_ms = r.read_i32()?;
    let session_id = r.read_i64()?;
    let pw = r.read_buffer()?.unwrap_or_default();
    let passwd: [u8; 16] = pw
        .as_slice()
        .try_into()
        .map_err(|_| WireError::Decode(format!("password of {} bytes", pw.len())))?;
    let read_only = read_read_only(r)?;
    Ok(ConnectResponse {
        protocol_version: 0,
        timeout_ms,
        session_id,
        passwd,
        read_only,
    })
}

pub fn encode_entry(p: &EntryPayload) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    {
        let mut w = JuteWriter::new(&mut out);
        w.write_u8(ENTRY_FORMAT_VERSION);
        w.write_i64(p.zxid);
        w.write_i64(p.time_ms);
        let flags = if p.origin.is_some() { FLAG_ORIGIN } else { 0 }
            | if p.connect.is_some() { FLAG_CONNECT } else { 0 };
        w.write_u8(flags);
        if let Some(o) = &p.origin {
            write_origin(&mut w, o.member, &o.origin);
        }
        if let Some(c) = &p.connect {
            w.write_i64(c.member as i64);
            w.write_i32(c.shard as i32);
            w.write_i64(c.conn as i64);
            write_connect_response(&mut w, &c.response);
        }
    }
    crate::ops::txn_codec::encode_txn(&p.txn, &mut out);
    out
}

pub fn decode_entry(data: &[u8]) -> Result<EntryPayload, WireError> {
    let mut r = JuteReader::new(data);
    let version = r.read_u8()?;
    if version != ENTRY_FORMAT_VERSION {
        return Err(WireError::Version(version));
    }
    let zxid = r.read_i64()?;
    let time_ms = r.read_i64()?;
    let flags = r.read_u8()?;
    let origin = if flags & FLAG_ORIGIN != 0 {
        Some(read_origin(&mut r)?)
    } else {
        None
    };
    let connect = if flags & FLAG_CONNECT != 0 {
        let member = r.read_i64()? as u64;
        let shard = r.read_i32()? as usize;
        let conn = r.read_i64()? as u64;
        let response = read_connect_response(&mut r)?;
        Some(ConnectReply {
            member,
            shard,
            conn,
            response,
        })
    } else {
        None
    };
    let txn = crate::ops::txn_codec::decode_txn(r.rest())?;
    Ok(EntryPayload {
        zxid,
        time_ms,
        origin,
        connect,
        txn,
    })
}

/// One line describing a normal entry's data, for `roost log entries`.
pub fn describe_entry(data: &[u8]) -> String {
    match decode_entry(data) {
        Ok(p) => {
            let origin = p.origin.map_or(String::new(), |o| {
                format!(
                    " from member {} conn {} xid {}",
                    o.member, o.origin.conn, o.origin.xid
                )
            });
            format!(
                "zxid 0x{:x} time {}{origin} {}",
                p.zxid,
                p.time_ms,
                crate::ops::txn_codec::summarize_txn(&p.txn)
            )
        }
        Err(e) => format!("UNDECODABLE entry of {} bytes: {e}", data.len()),
    }
}

/// Follower -> leader.
#[derive(Clone, Debug, PartialEq)]
pub enum Forward {
    /// `resend`: the origin member sends it again after a leader change
    /// (its first send's fate unknown); the leader drops it if the
    /// session's connection has a write of this xid or a later one in the
    /// log already (`Proposer::admit`).
    Write {
        origin: RemoteOrigin,
        session_id: SessionId,
        auth: AuthIds,
        request: Request,
        resend: bool,
    },
    Connect {
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        request: ConnectRequest,
    },
    Touch {
        sessions: Vec<SessionId>,
    },
    Disconnected {
        member: MemberId,
        shard: ShardId,
        conn: ConnId,
        session_id: SessionId,
    },
}

/// What a forwarded write's failure looks like on the wire.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteResult {
    Error(ErrorCode),
    MultiErrors(Vec<ErrorCode>),
}

/// Leader -> the member holding a connection.
#[derive(Clone, Debug, PartialEq)]
pub enum LeaderReply {
    /// Deliver once this member has applied `after_zxid`.
    Complete {
        after_zxid: Zxid,
        origin: Origin,
        result: RemoteResult,
    },
    ConnectResult {
        after_zxid: Zxid,
        shard: ShardId,
        conn: ConnId,
        session_id: SessionId,
        response: Option<ConnectResponse>,
    },
    CloseConnection {
        shard: ShardId,
        conn: ConnId,
    },
}

/// `from` is the sending member (the transport knows it); followers forward
/// with their own id in every origin, so the body repeats it.
pub fn encode_forward(f: &Forward) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    match f {
        Forward::Write {
            origin,
            session_id,
            auth,
            request,
            resend,
        } => {
            {
                let mut w = JuteWriter::new(&mut out);
                w.write_u8(if *resend {
                    FORWARD_RESEND
                } else {
                    FORWARD_WRITE
                });
                write_origin(&mut w, origin.member, &origin.origin);
                w.write_i64(*session_id);
                w.write_i32(auth.ids.len() as i32);
                for id in &auth.ids {
                    w.write_string(&id.scheme);
                    w.write_string(&id.id);
                }
            }
            encode_request(0, request, &mut out);
        }
        Forward::Connect {
            member,
            shard,
            conn,
            request,
        } => {
            {
                let mut w = JuteWriter::new(&mut out);
                w.write_u8(2);
                w.write_i64(*member as i64);
                w.write_i32(*shard as i32);
                w.write_i64(*conn as i64);
            }
            encode_connect_request(request, &mut out);
        }
        Forward::Touch { sessions } => {
            let mut w = JuteWriter::new(&mut out);
            w.write_u8(3);
            w.write_i32(sessions.len() as i32);
            for s in sessions {
                w.write_i64(*s);
            }
        }
        Forward::Disconnected {
            member,
            shard,
            conn,
            session_id,
        } => {
            let mut w = JuteWriter::new(&mut out);
            w.write_u8(4);
            w.write_i64(*member as i64);
            w.write_i32(*shard as i32);
            w.write_i64(*conn as i64);
            w.write_i64(*session_id);
        }
    }
    out
}

/// Counts read from the network are bounded before allocating.
const WIRE_LIST_MAX: usize = 1 << 20;

fn read_count(r: &mut JuteReader<'_>) -> Result<usize, WireError> {
    let n = r.read_i32()?;
    if n < 0 || n as usize > WIRE_LIST_MAX {
        return Err(WireError::Decode(format!("list length {n}")));
    }
    Ok(n as usize)
}

pub fn decode_forward(body: &[u8]) -> Result<Forward, WireError> {
    let mut r = JuteReader::new(body);
    match r.read_u8()? {
        tag @ (FORWARD_WRITE | FORWARD_RESEND) => {
            let origin = read_origin(&mut r)?;
            let session_id = r.read_i64()?;
            let n = read_count(&mut r)?;
            let mut ids = Vec::with_capacity(n.min(64));
            for _ in 0..n {
                let scheme = r.read_string()?;
                let id = r.read_string()?;
                ids.push(Id { scheme, id });
            }
            // encode_request wrote a whole frame: length, header, body.
            let frame = r.rest();
            if frame.len() < 4 {
                return Err(WireError::Decode(
                    "forwarded request shorter than its frame".into(),
                ));
            }
            let (header, rest) = decode_request_header(&frame[4..])?;
            let opcode = OpCode::from_i32(header.opcode)
                .ok_or_else(|| WireError::Decode(format!("opcode {}", header.opcode)))?;
            let request = decode_request(opcode, rest)?;
            Ok(Forward::Write {
                origin,
                session_id,
                auth: AuthIds { ids },
                request,
                resend: tag == FORWARD_RESEND,
            })
        }
        2 => {
            let member = r.read_i64()? as u64;
            let shard = r.read_i32()? as usize;
            let conn = r.read_i64()? as u64;
            // encode_connect_request wrote a whole frame: skip its length.
            let frame = r.rest();
            if frame.len() < 4 {
                return Err(WireError::Decode(
                    "forwarded connect shorter than its frame".into(),
                ));
            }
            let request = decode_connect_request(&frame[4..])?;
            Ok(Forward::Connect {
                member,
                shard,
                conn,
                request,
            })
        }
        3 => {
            let n = read_count(&mut r)?;
            let mut sessions = Vec::with_capacity(n);
            for _ in 0..n {
                sessions.push(r.read_i64()?);
            }
            Ok(Forward::Touch { sessions })
        }
        4 => Ok(Forward::Disconnected {
            member: r.read_i64()? as u64,
            shard: r.read_i32()? as usize,
            conn: r.read_i64()? as u64,
            session_id: r.read_i64()?,
        }),
        t => Err(WireError::Tag(t)),
    }
}

fn read_code(r: &mut JuteReader<'_>) -> Result<ErrorCode, WireError> {
    let c = r.read_i32()?;
    ErrorCode::from_i32(c).ok_or_else(|| WireError::Decode(format!("error code {c}")))
}

pub fn encode_reply(m: &LeaderReply) -> Vec<u8> {
    let mut out = Vec::with_capacity(48);
    let mut w = JuteWriter::new(&mut out);
    match m {
        LeaderReply::Complete {
            after_zxid,
            origin,
            result,
        } => {
            w.write_u8(1);
            w.write_i64(*after_zxid);
            write_origin(&mut w, 0, origin);
            match result {
                RemoteResult::Error(code) => {
                    w.write_u8(0);
                    w.write_i32(*code as i32);
                }
                RemoteResult::MultiErrors(codes) => {
                    w.write_u8(1);
                    w.write_i32(codes.len() as i32);
                    for c in codes {
                        w.write_i32(*c as i32);
                    }
                }
            }
        }
        LeaderReply::ConnectResult {
            after_zxid,
            shard,
            conn,
            session_id,
            response,
        } => {
            w.write_u8(2);
            w.write_i64(*after_zxid);
            w.write_i32(*shard as i32);
            w.write_i64(*conn as i64);
            w.write_i64(*session_id);
            match response {
                None => w.write_u8(0),
                Some(resp) => {
                    w.write_u8(1);
                    write_connect_response(&mut w, resp);
                }
            }
        }
        LeaderReply::CloseConnection { shard, conn } => {
            w.write_u8(3);
            w.write_i32(*shard as i32);
            w.write_i64(*conn as i64);
        }
    }
    out
}

pub fn decode_reply(body: &[u8]) -> Result<LeaderReply, WireError> {
    let mut r = JuteReader::new(body);
    match r.read_u8()? {
        1 => {
            let after_zxid = r.read_i64()?;
            let origin = read_origin(&mut r)?.origin;
            let result = match r.read_u8()? {
                0 => RemoteResult::Error(read_code(&mut r)?),
                1 => {
                    let n = read_count(&mut r)?;
                    let mut codes = Vec::with_capacity(n);
                    for _ in 0..n {
                        codes.push(read_code(&mut r)?);
                    }
                    RemoteResult::MultiErrors(codes)
                }
                t => return Err(WireError::Tag(t)),
            };
            Ok(LeaderReply::Complete {
                after_zxid,
                origin,
                result,
            })
        }
        2 => {
            let after_zxid = r.read_i64()?;
            let shard = r.read_i32()? as usize;
            let conn = r.read_i64()? as u64;
            let session_id = r.read_i64()?;
            let response = match r.read_u8()? {
                0 => None,
                1 => Some(read_connect_response(&mut r)?),
                t => return Err(WireError::Tag(t)),
            };
            Ok(LeaderReply::ConnectResult {
                after_zxid,
                shard,
                conn,
                session_id,
                response,
            })
        }
        3 => Ok(LeaderReply::CloseConnection {
            shard: r.read_i32()? as usize,
            conn: r.read_i64()? as u64,
        }),
        t => Err(WireError::Tag(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin() -> RemoteOrigin {
        RemoteOrigin {
            member: 3,
            origin: Origin {
                shard: 1,
                conn: 77,
                xid: 12,
                opcode: OpCode::SetData,
            },
        }
    }

    #[test]
    fn entry_round_trips_with_origin_and_connect() {
        let p = EntryPayload {
            zxid: (5 << 32) | 9,
            time_ms: 1_700_000_000_123,
            origin: Some(origin()),
            connect: Some(ConnectReply {
                member: 2,
                shard: 0,
                conn: 4,
                response: ConnectResponse {
                    protocol_version: 0,
                    timeout_ms: 4000,
                    session_id: 0x0200_0000_0000_0001,
                    passwd: [9; 16],
                    read_only: None,
                },
            }),
            txn: Txn::CreateSession {
                session_id: 0x0200_0000_0000_0001,
                timeout_ms: 4000,
            },
        };
        let bytes = encode_entry(&p);
        assert_eq!(bytes[0], ENTRY_FORMAT_VERSION);
        assert_eq!(decode_entry(&bytes).unwrap(), p);
        assert!(decode_entry(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn describe_entry_names_origin_and_shows_short_text_data() {
        let p = EntryPayload {
            zxid: (2 << 32) | 5,
            time_ms: 7,
            origin: Some(origin()),
            connect: None,
            txn: Txn::SetData {
                path: std::sync::Arc::from("/lin/k1"),
                data: Some(std::sync::Arc::from(&b"c3-17"[..])),
                new_version: 4,
            },
        };
        assert_eq!(
            describe_entry(&encode_entry(&p)),
            "zxid 0x200000005 time 7 from member 3 conn 77 xid 12 setData /lin/k1 data=5B:\"c3-17\" version=4"
        );
        assert!(describe_entry(&[9, 9]).starts_with("UNDECODABLE entry of 2 bytes"));
    }

    #[test]
    fn forward_and_reply_round_trip() {
        let fwd = Forward::Write {
            origin: origin(),
            session_id: 42,
            auth: AuthIds {
                ids: vec![Id {
                    scheme: "digest".into(),
                    id: "u:h".into(),
                }],
            },
            request: Request::SetData {
                path: "/a".into(),
                data: Some(b"x".to_vec()),
                version: 3,
            },
            resend: false,
        };
        assert_eq!(decode_forward(&encode_forward(&fwd)).unwrap(), fwd);
        let mut again = fwd.clone();
        if let Forward::Write { resend, .. } = &mut again {
            *resend = true;
        }
        assert_eq!(decode_forward(&encode_forward(&again)).unwrap(), again);
        assert_ne!(again, fwd, "a resend stays a resend");
        for f in [
            Forward::Connect {
                member: 2,
                shard: 1,
                conn: 8,
                request: ConnectRequest {
                    protocol_version: 0,
                    last_zxid_seen: 99,
                    timeout_ms: 4000,
                    session_id: 0,
                    passwd: vec![0; 16],
                    read_only: Some(false),
                },
            },
            Forward::Touch {
                sessions: vec![1, 2, 3],
            },
            Forward::Disconnected {
                member: 2,
                shard: 0,
                conn: 9,
                session_id: 5,
            },
        ] {
            assert_eq!(decode_forward(&encode_forward(&f)).unwrap(), f);
        }
        let replies = [
            LeaderReply::Complete {
                after_zxid: 7,
                origin: origin().origin,
                result: RemoteResult::MultiErrors(vec![ErrorCode::Ok, ErrorCode::NoNode]),
            },
            LeaderReply::ConnectResult {
                after_zxid: 8,
                shard: 0,
                conn: 1,
                session_id: 2,
                response: None,
            },
            LeaderReply::CloseConnection { shard: 0, conn: 3 },
        ];
        for m in replies {
            assert_eq!(decode_reply(&encode_reply(&m)).unwrap(), m);
        }
        assert!(matches!(decode_reply(&[9]), Err(WireError::Tag(9))));
    }
}
