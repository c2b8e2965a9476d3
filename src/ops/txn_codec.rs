//! The explicit, versioned binary encoding of a [`Txn`], and the log record
//! payload built on it: `time_ms:i64 (little-endian) txn` — the transaction's
//! wall-clock time travels with it so replay sets the same ctime/mtime.
//!
//! All integers are little-endian. The body starts with one byte,
//! [`TXN_CODEC_VERSION`]; a reader refuses any other version. Then one txn:
//!
//! ```text
//! txn      = tag:u8 fields
//!   1 Create          path:str data:opt_bytes acl:acl_list kind:node_kind reply:u8 (0 Path, 1 PathAndStat)
//!   2 Delete          path:str version:i32
//!   3 SetData         path:str data:opt_bytes new_version:i32
//!   4 SetAcl          path:str acl:acl_list new_aversion:i32
//!   5 Check           path:str version:i32
//!   6 Multi           count:u32 txn*count            (nesting depth <= MULTI_DEPTH_MAX)
//!   7 Error           code:i32
//!   8 MultiError      count:u32 code:i32*count
//!   9 CreateSession   session_id:i64 timeout_ms:i32
//!  10 CloseSession    session_id:i64
//!  11 DeleteContainer path:str
//!  12 Reconfig        config:opt_bytes (never null)
//!  13 Reattach        session_id:i64 timeout_ms:i32
//! str       = len:u32 utf8-bytes
//! opt_bytes = len:i32 bytes   (len -1 = null data, distinct from empty)
//! acl_list  = count:u32 (perms:i32 scheme:str id:str)*count
//! node_kind = 0 Persistent | 1 Ephemeral owner:i64 | 2 Container | 3 Ttl ttl_ms:i64
//! ```
//!
//! Decoding never trusts a length: every count and length is checked against
//! the bytes that remain, and trailing bytes are an error. Error codes must be
//! ones [`ErrorCode`] knows. Tag values are never reused; a new variant gets a
//! new tag, a changed layout a new codec version.

use crate::ops::txn::{CreateReply, CreateTxn, Txn};
use crate::proto::{Acl, ErrorCode, Id};
use crate::tree::NodeKind;
use std::sync::Arc;

/// A txn body did not decode (`offset` within the body).
/// A plain value (an error, cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("txn decode error at body byte {offset}: {reason}")]
pub struct TxnDecodeError {
    pub offset: usize,
    pub reason: String,
}

/// The version byte that starts every encoded txn.
pub const TXN_CODEC_VERSION: u8 = 1;
/// Deepest accepted Multi nesting (ZooKeeper itself never nests; this bounds
/// recursion on corrupt input).
pub const MULTI_DEPTH_MAX: usize = 4;

const TAG_CREATE: u8 = 1;
const TAG_DELETE: u8 = 2;
const TAG_SET_DATA: u8 = 3;
const TAG_SET_ACL: u8 = 4;
const TAG_CHECK: u8 = 5;
const TAG_MULTI: u8 = 6;
const TAG_ERROR: u8 = 7;
const TAG_MULTI_ERROR: u8 = 8;
const TAG_CREATE_SESSION: u8 = 9;
const TAG_CLOSE_SESSION: u8 = 10;
const TAG_DELETE_CONTAINER: u8 = 11;
const TAG_RECONFIG: u8 = 12;
const TAG_REATTACH: u8 = 13;

/// Appends the encoding of `txn` (version byte first) to `out`.
pub fn encode_txn(txn: &Txn, out: &mut Vec<u8>) {
    out.push(TXN_CODEC_VERSION);
    encode_inner(txn, out);
}

fn put_i32(out: &mut Vec<u8>, v: i32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_i64(out: &mut Vec<u8>, v: i64) {
    out.extend_from_slice(&v.to_le_bytes());
}
fn put_len(out: &mut Vec<u8>, len: usize) {
    let len = u32::try_from(len).expect("txn field longer than 4 GiB");
    put_u32(out, len);
}
fn put_str(out: &mut Vec<u8>, s: &str) {
    put_len(out, s.len());
    out.extend_from_slice(s.as_bytes());
}
fn put_opt_bytes(out: &mut Vec<u8>, data: &Option<Arc<[u8]>>) {
    match data {
        None => put_i32(out, -1),
        Some(d) => {
            let len = i32::try_from(d.len()).expect("znode data longer than 2 GiB");
            put_i32(out, len);
            out.extend_from_slice(d);
        }
    }
}
fn put_acl(out: &mut Vec<u8>, acl: &[Acl]) {
    put_len(out, acl.len());
    for a in acl {
        put_i32(out, a.perms);
        put_str(out, &a.id.scheme);
        put_str(out, &a.id.id);
    }
}

fn encode_inner(txn: &Txn, out: &mut Vec<u8>) {
    match txn {
        Txn::Create(c) => {
            out.push(TAG_CREATE);
            put_str(out, &c.path);
            put_opt_bytes(out, &c.data);
            put_acl(out, &c.acl);
            match c.kind {
                NodeKind::Persistent => out.push(0),
                NodeKind::Ephemeral { owner } => {
                    out.push(1);
                    put_i64(out, owner);
                }
                NodeKind::Container => out.push(2),
                NodeKind::Ttl { ttl_ms } => {
                    out.push(3);
                    put_i64(out, ttl_ms);
                }
            }
            out.push(match c.reply {
                CreateReply::Path => 0,
                CreateReply::PathAndStat => 1,
            });
        }
        Txn::Delete { path, version } => {
            out.push(TAG_DELETE);
            put_str(out, path);
            put_i32(out, *version);
        }
        Txn::SetData {
            path,
            data,
            new_version,
        } => {
            out.push(TAG_SET_DATA);
            put_str(out, path);
            put_opt_bytes(out, data);
            put_i32(out, *new_version);
        }
        Txn::SetAcl {
            path,
            acl,
            new_aversion,
        } => {
            out.push(TAG_SET_ACL);
            put_str(out, path);
            put_acl(out, acl);
            put_i32(out, *new_aversion);
        }
        Txn::Check { path, version } => {
            out.push(TAG_CHECK);
            put_str(out, path);
            put_i32(out, *version);
        }
        Txn::Multi(ops) => {
            out.push(TAG_MULTI);
            put_len(out, ops.len());
            for op in ops {
                encode_inner(op, out);
            }
        }
        Txn::Error(code) => {
            out.push(TAG_ERROR);
            put_i32(out, code.code());
        }
        Txn::MultiError(codes) => {
            out.push(TAG_MULTI_ERROR);
            put_len(out, codes.len());
            for c in codes {
                put_i32(out, c.code());
            }
        }
        Txn::CreateSession {
            session_id,
            timeout_ms,
        } => {
            out.push(TAG_CREATE_SESSION);
            put_i64(out, *session_id);
            put_i32(out, *timeout_ms);
        }
        Txn::Reattach {
            session_id,
            timeout_ms,
        } => {
            out.push(TAG_REATTACH);
            put_i64(out, *session_id);
            put_i32(out, *timeout_ms);
        }
        Txn::CloseSession { session_id } => {
            out.push(TAG_CLOSE_SESSION);
            put_i64(out, *session_id);
        }
        Txn::DeleteContainer { path } => {
            out.push(TAG_DELETE_CONTAINER);
            put_str(out, path);
        }
        Txn::Reconfig { config } => {
            out.push(TAG_RECONFIG);
            put_opt_bytes(out, &Some(config.clone()));
        }
    }
}

/// Decodes one encoded txn; the whole of `bytes` must be consumed.
pub fn decode_txn(bytes: &[u8]) -> Result<Txn, TxnDecodeError> {
    let mut r = Reader { bytes, pos: 0 };
    let version = r.u8()?;
    if version != TXN_CODEC_VERSION {
        return Err(r.err_at(0, format!("unknown txn codec version {version}")));
    }
    let txn = r.txn(0)?;
    if r.pos != bytes.len() {
        return Err(r.err(format!("{} trailing bytes", bytes.len() - r.pos)));
    }
    Ok(txn)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn err(&self, reason: String) -> TxnDecodeError {
        self.err_at(self.pos, reason)
    }
    fn err_at(&self, offset: usize, reason: String) -> TxnDecodeError {
        TxnDecodeError { offset, reason }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], TxnDecodeError> {
        if self.bytes.len() - self.pos < n {
            return Err(self.err(format!(
                "need {n} bytes, {} left",
                self.bytes.len() - self.pos
            )));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], TxnDecodeError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, TxnDecodeError> {
        Ok(self.take(1)?[0])
    }
    fn i32(&mut self) -> Result<i32, TxnDecodeError> {
        Ok(i32::from_le_bytes(self.array()?))
    }
    fn u32(&mut self) -> Result<u32, TxnDecodeError> {
        Ok(u32::from_le_bytes(self.array()?))
    }
    fn i64(&mut self) -> Result<i64, TxnDecodeError> {
        Ok(i64::from_le_bytes(self.array()?))
    }
    /// A count of items each at least `item_bytes_min` long: bounded by what
    /// remains, so corrupt counts cannot make us allocate.
    fn count(&mut self, item_bytes_min: usize) -> Result<usize, TxnDecodeError> {
        let n = self.u32()? as usize;
        let left = self.bytes.len() - self.pos;
        if n.saturating_mul(item_bytes_min) > left {
            return Err(self.err(format!("count {n} exceeds remaining {left} bytes")));
        }
        Ok(n)
    }
    fn str(&mut self) -> Result<Arc<str>, TxnDecodeError> {
        let at = self.pos;
        let n = self.u32()? as usize;
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(Arc::from)
            .map_err(|_| self.err_at(at, "string is not UTF-8".into()))
    }
    fn string(&mut self) -> Result<String, TxnDecodeError> {
        Ok(self.str()?.to_string())
    }
    fn opt_bytes(&mut self) -> Result<Option<Arc<[u8]>>, TxnDecodeError> {
        let at = self.pos;
        match self.i32()? {
            -1 => Ok(None),
            n if n < 0 => Err(self.err_at(at, format!("negative data length {n}"))),
            n => Ok(Some(Arc::from(self.take(n as usize)?))),
        }
    }
    fn acl(&mut self) -> Result<Arc<Vec<Acl>>, TxnDecodeError> {
        // perms + two empty strings = 12 bytes at least.
        let n = self.count(12)?;
        let mut acl = Vec::with_capacity(n);
        for _ in 0..n {
            let perms = self.i32()?;
            let scheme = self.string()?;
            let id = self.string()?;
            acl.push(Acl {
                perms,
                id: Id { scheme, id },
            });
        }
        Ok(Arc::new(acl))
    }
    fn error_code(&mut self) -> Result<ErrorCode, TxnDecodeError> {
        let at = self.pos;
        let v = self.i32()?;
        ErrorCode::from_i32(v).ok_or_else(|| self.err_at(at, format!("unknown error code {v}")))
    }
    fn txn(&mut self, depth: usize) -> Result<Txn, TxnDecodeError> {
        let at = self.pos;
        let tag = self.u8()?;
        Ok(match tag {
            TAG_CREATE => {
                let path = self.str()?;
                let data = self.opt_bytes()?;
                let acl = self.acl()?;
                let kind_at = self.pos;
                let kind = match self.u8()? {
                    0 => NodeKind::Persistent,
                    1 => NodeKind::Ephemeral { owner: self.i64()? },
                    2 => NodeKind::Container,
                    3 => NodeKind::Ttl {
                        ttl_ms: self.i64()?,
                    },
                    k => return Err(self.err_at(kind_at, format!("unknown node kind {k}"))),
                };
                let reply_at = self.pos;
                let reply = match self.u8()? {
                    0 => CreateReply::Path,
                    1 => CreateReply::PathAndStat,
                    r => return Err(self.err_at(reply_at, format!("unknown create reply {r}"))),
                };
                Txn::Create(CreateTxn {
                    path,
                    data,
                    acl,
                    kind,
                    reply,
                })
            }
            TAG_DELETE => Txn::Delete {
                path: self.str()?,
                version: self.i32()?,
            },
            TAG_SET_DATA => Txn::SetData {
                path: self.str()?,
                data: self.opt_bytes()?,
                new_version: self.i32()?,
            },
            TAG_SET_ACL => Txn::SetAcl {
                path: self.str()?,
                acl: self.acl()?,
                new_aversion: self.i32()?,
            },
            TAG_CHECK => Txn::Check {
                path: self.str()?,
                version: self.i32()?,
            },
            TAG_MULTI => {
                if depth >= MULTI_DEPTH_MAX {
                    return Err(
                        self.err_at(at, format!("multi nested deeper than {MULTI_DEPTH_MAX}"))
                    );
                }
                // Every sub-txn is at least its tag byte.
                let n = self.count(1)?;
                let mut ops = Vec::with_capacity(n);
                for _ in 0..n {
                    ops.push(self.txn(depth + 1)?);
                }
                Txn::Multi(ops)
            }
            TAG_ERROR => Txn::Error(self.error_code()?),
            TAG_MULTI_ERROR => {
                let n = self.count(4)?;
                let mut codes = Vec::with_capacity(n);
                for _ in 0..n {
                    codes.push(self.error_code()?);
                }
                Txn::MultiError(codes)
            }
            TAG_CREATE_SESSION => Txn::CreateSession {
                session_id: self.i64()?,
                timeout_ms: self.i32()?,
            },
            TAG_REATTACH => Txn::Reattach {
                session_id: self.i64()?,
                timeout_ms: self.i32()?,
            },
            TAG_CLOSE_SESSION => Txn::CloseSession {
                session_id: self.i64()?,
            },
            TAG_DELETE_CONTAINER => Txn::DeleteContainer { path: self.str()? },
            TAG_RECONFIG => Txn::Reconfig {
                config: self
                    .opt_bytes()?
                    .ok_or_else(|| self.err_at(at, "reconfig without a configuration".into()))?,
            },
            t => return Err(self.err_at(at, format!("unknown txn tag {t}"))),
        })
    }
}

/// One line describing a txn, for `roost log dump`.
pub fn summarize_txn(txn: &Txn) -> String {
    /// Length, then the bytes themselves when they are short printable
    /// text (what test tools and operators look for), else a hex prefix.
    fn data_len(d: &Option<Arc<[u8]>>) -> String {
        const SHOWN: usize = 64;
        let Some(d) = d.as_ref() else {
            return "null".into();
        };
        let printable = d.iter().all(|b| (0x20..0x7f).contains(b) && *b != b'"');
        if d.is_empty() {
            "0B".into()
        } else if printable && d.len() <= SHOWN {
            format!("{}B:\"{}\"", d.len(), String::from_utf8_lossy(d))
        } else {
            let hex: String = d.iter().take(16).map(|b| format!("{b:02x}")).collect();
            let more = if d.len() > 16 { "..." } else { "" };
            format!("{}B:0x{hex}{more}", d.len())
        }
    }
    match txn {
        Txn::Create(c) => format!(
            "create {} data={} acl={} kind={:?}",
            c.path,
            data_len(&c.data),
            c.acl.len(),
            c.kind
        ),
        Txn::Delete { path, version } => format!("delete {path} version={version}"),
        Txn::SetData {
            path,
            data,
            new_version,
        } => format!(
            "setData {path} data={} version={new_version}",
            data_len(data)
        ),
        Txn::SetAcl {
            path,
            acl,
            new_aversion,
        } => format!("setACL {path} acl={} aversion={new_aversion}", acl.len()),
        Txn::Check { path, version } => format!("check {path} version={version}"),
        Txn::Multi(ops) => {
            let inner: Vec<String> = ops.iter().map(summarize_txn).collect();
            format!("multi[{}]", inner.join("; "))
        }
        Txn::Error(code) => format!("error {code:?}"),
        Txn::MultiError(codes) => format!("multiError {codes:?}"),
        Txn::CreateSession {
            session_id,
            timeout_ms,
        } => format!("createSession 0x{session_id:x} timeout={timeout_ms}ms"),
        Txn::Reattach {
            session_id,
            timeout_ms,
        } => format!("reattach 0x{session_id:x} timeout={timeout_ms}ms"),
        Txn::CloseSession { session_id } => format!("closeSession 0x{session_id:x}"),
        Txn::DeleteContainer { path } => format!("deleteContainer {path}"),
        Txn::Reconfig { config } => format!("reconfig config={}B", config.len()),
    }
}

/// Encodes one log record body: the transaction time, then the txn.
pub fn encode_payload(time_ms: i64, txn: &Txn, out: &mut Vec<u8>) {
    out.extend_from_slice(&time_ms.to_le_bytes());
    encode_txn(txn, out);
}

/// Decodes a log record body written by [`encode_payload`].
pub fn decode_payload(body: &[u8]) -> Result<(i64, Txn), TxnDecodeError> {
    let (time, rest) = body
        .split_first_chunk::<8>()
        .ok_or_else(|| TxnDecodeError {
            offset: 0,
            reason: "record body shorter than its time field".into(),
        })?;
    // Offsets in errors count from the start of the body.
    let txn = decode_txn(rest).map_err(|e| TxnDecodeError {
        offset: e.offset + 8,
        ..e
    })?;
    Ok((i64::from_le_bytes(*time), txn))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn acl2() -> Arc<Vec<Acl>> {
        Arc::new(vec![
            Acl {
                perms: 31,
                id: Id::new("world", "anyone"),
            },
            Acl {
                perms: 1,
                id: Id::new("digest", "bob:xyz=="),
            },
        ])
    }

    /// One of every variant (and every node kind, null vs empty data).
    pub(crate) fn every_txn() -> Vec<Txn> {
        let create = |kind, data: Option<&[u8]>, reply| {
            Txn::Create(CreateTxn {
                path: Arc::from("/a/b-0000000001"),
                data: data.map(Arc::from),
                acl: acl2(),
                kind,
                reply,
            })
        };
        vec![
            create(NodeKind::Persistent, Some(b"hello"), CreateReply::Path),
            create(
                NodeKind::Ephemeral { owner: -77 },
                None,
                CreateReply::PathAndStat,
            ),
            create(NodeKind::Container, Some(b""), CreateReply::Path),
            create(
                NodeKind::Ttl {
                    ttl_ms: 0xFF_FFFF_FFFF,
                },
                Some(&[0, 255, 1]),
                CreateReply::PathAndStat,
            ),
            Txn::Delete {
                path: Arc::from("/x"),
                version: -1,
            },
            Txn::SetData {
                path: Arc::from("/ü"),
                data: None,
                new_version: 7,
            },
            Txn::SetData {
                path: Arc::from("/y"),
                data: Some(Arc::from(&b"\0\0"[..])),
                new_version: i32::MAX,
            },
            Txn::SetAcl {
                path: Arc::from("/z"),
                acl: Arc::new(vec![]),
                new_aversion: 3,
            },
            Txn::Check {
                path: Arc::from("/c"),
                version: 4,
            },
            Txn::Multi(vec![]),
            Txn::Multi(vec![
                Txn::Check {
                    path: Arc::from("/c"),
                    version: 1,
                },
                create(NodeKind::Persistent, None, CreateReply::Path),
                Txn::Multi(vec![Txn::DeleteContainer {
                    path: Arc::from("/q"),
                }]),
            ]),
            Txn::Error(ErrorCode::NodeExists),
            Txn::MultiError(vec![
                ErrorCode::Ok,
                ErrorCode::NoNode,
                ErrorCode::RuntimeInconsistency,
            ]),
            Txn::CreateSession {
                session_id: 0x1234_5678_9abc,
                timeout_ms: 30_000,
            },
            Txn::CloseSession { session_id: -1 },
            Txn::Reattach {
                session_id: 0x0102_0304_0506_0708,
                timeout_ms: 30_000,
            },
            Txn::DeleteContainer {
                path: Arc::from("/container"),
            },
        ]
    }

    #[test]
    fn txn_roundtrip_every_variant() {
        for txn in every_txn() {
            let mut buf = Vec::new();
            encode_txn(&txn, &mut buf);
            assert_eq!(decode_txn(&buf).unwrap(), txn, "{txn:?}");
            // Every strict prefix is rejected, never a panic or a wrong txn.
            for cut in 0..buf.len() {
                assert!(decode_txn(&buf[..cut]).is_err(), "prefix {cut} of {txn:?}");
            }
            let mut longer = buf.clone();
            longer.push(0);
            assert!(decode_txn(&longer).is_err());
        }
    }

    #[test]
    fn txn_golden_bytes() {
        let mut buf = Vec::new();
        encode_txn(
            &Txn::Delete {
                path: Arc::from("/a"),
                version: 2,
            },
            &mut buf,
        );
        assert_eq!(buf, [1, 2, 2, 0, 0, 0, b'/', b'a', 2, 0, 0, 0]);
    }

    #[test]
    fn txn_decode_rejects_bad_input() {
        assert!(matches!(
            decode_txn(&[2, 7]),
            Err(TxnDecodeError { offset: 0, .. })
        ));
        assert!(decode_txn(&[1, 99]).is_err());
        // Error code that does not exist.
        assert!(decode_txn(&[1, TAG_ERROR, 0x39, 0x30, 0, 0]).is_err());
        // Huge count with nothing behind it does not allocate.
        assert!(decode_txn(&[1, TAG_MULTI, 0xff, 0xff, 0xff, 0xff]).is_err());
        // Nesting beyond the limit.
        let mut deep = Txn::Multi(vec![]);
        for _ in 0..MULTI_DEPTH_MAX {
            deep = Txn::Multi(vec![deep]);
        }
        let mut buf = Vec::new();
        encode_txn(&deep, &mut buf);
        assert!(decode_txn(&buf).is_err());
        // Every error code round-trips.
        for v in -200..10 {
            if let Some(c) = ErrorCode::from_i32(v) {
                assert_eq!(c.code(), v);
            }
        }
    }
}
