//! The key space: creating the znodes before a run and deleting them after.
//!
//! A plain blocking client (std sockets) on one session: set-up is not
//! measured, so simplicity wins. Requests are pipelined in batches so that
//! creating 10k+ znodes takes well under a second on a local server.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use roost::proto::codec::{
    decode_connect_response, decode_reply_header, encode_connect_request, encode_request,
    request_opcode,
};
use roost::proto::frame::split_frame;
use roost::proto::{xid, Acl, ConnectRequest, CreateRequest, ErrorCode, OpCode, Request, Xid};

use crate::conn::REPLY_FRAME_LEN_MAX;
use crate::frames::{key_path, value_bytes};

/// Requests in flight at once during set-up and tear-down.
pub const SETUP_BATCH_MAX: usize = 512;
/// Socket timeouts for set-up and tear-down.
pub const SETUP_IO_TIMEOUT: Duration = Duration::from_secs(30);
/// Session timeout asked for the set-up session.
pub const SETUP_SESSION_TIMEOUT_MS: i32 = 30_000;
/// Root names tried (`-1`, `-2`, ... appended) if the first one exists.
pub const ROOT_ATTEMPTS_MAX: u32 = 16;

#[derive(thiserror::Error, Debug)]
pub enum SetupError {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: SocketAddr, source: io::Error },
    #[error("i/o with {addr}: {source}")]
    Io { addr: SocketAddr, source: io::Error },
    #[error("{addr} refused the session")]
    SessionRefused { addr: SocketAddr },
    #[error("malformed reply from {addr}")]
    BadReply { addr: SocketAddr },
    #[error("{op} {path} failed: ZooKeeper error {code}")]
    Zk {
        op: &'static str,
        path: String,
        code: i32,
    },
    #[error("no free root name after {0} attempts")]
    NoRoot(u32),
}

/// One blocking session.
pub struct SyncClient {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
    next_xid: Xid,
}

impl SyncClient {
    pub fn connect(addr: SocketAddr) -> Result<SyncClient, SetupError> {
        let stream = TcpStream::connect_timeout(&addr, SETUP_IO_TIMEOUT)
            .map_err(|source| SetupError::Connect { addr, source })?;
        let io = |source| SetupError::Io { addr, source };
        stream.set_nodelay(true).map_err(io)?;
        stream
            .set_read_timeout(Some(SETUP_IO_TIMEOUT))
            .map_err(io)?;
        stream
            .set_write_timeout(Some(SETUP_IO_TIMEOUT))
            .map_err(io)?;
        let mut c = SyncClient {
            addr,
            stream,
            buf: Vec::new(),
            next_xid: 1,
        };
        let mut out = Vec::new();
        encode_connect_request(
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout_ms: SETUP_SESSION_TIMEOUT_MS,
                session_id: 0,
                passwd: vec![0; 16],
                read_only: Some(false),
            },
            &mut out,
        );
        c.stream.write_all(&out).map_err(io)?;
        let body = c.read_frame()?;
        let resp = decode_connect_response(&body).map_err(|_| SetupError::BadReply { addr })?;
        if resp.timeout_ms <= 0 {
            return Err(SetupError::SessionRefused { addr });
        }
        Ok(c)
    }

    fn read_frame(&mut self) -> Result<Vec<u8>, SetupError> {
        let addr = self.addr;
        loop {
            if let Some((len, body)) = split_frame(&self.buf, REPLY_FRAME_LEN_MAX)
                .map_err(|_| SetupError::BadReply { addr })?
            {
                let body = body.to_vec();
                self.buf.drain(..len);
                return Ok(body);
            }
            let mut chunk = [0u8; 64 << 10];
            let n = self
                .stream
                .read(&mut chunk)
                .map_err(|source| SetupError::Io { addr, source })?;
            if n == 0 {
                return Err(SetupError::Io {
                    addr,
                    source: io::ErrorKind::UnexpectedEof.into(),
                });
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Sends `reqs` pipelined (at most [`SETUP_BATCH_MAX`] in flight) and
    /// returns each reply's error code, in order.
    pub fn call_all(&mut self, reqs: &[Request]) -> Result<Vec<i32>, SetupError> {
        let addr = self.addr;
        let mut codes = Vec::with_capacity(reqs.len());
        for batch in reqs.chunks(SETUP_BATCH_MAX) {
            let mut out = Vec::new();
            let first = self.next_xid;
            for r in batch {
                encode_request(self.next_xid, r, &mut out);
                self.next_xid += 1;
            }
            self.stream
                .write_all(&out)
                .map_err(|source| SetupError::Io { addr, source })?;
            let mut want = first;
            while want < self.next_xid {
                let body = self.read_frame()?;
                let (hdr, _) =
                    decode_reply_header(&body).map_err(|_| SetupError::BadReply { addr })?;
                if hdr.xid == xid::PING || hdr.xid == xid::NOTIFICATION {
                    continue;
                }
                if hdr.xid != want {
                    return Err(SetupError::BadReply { addr });
                }
                codes.push(hdr.err);
                want += 1;
            }
        }
        Ok(codes)
    }

    /// closeSession, so the server forgets the session now rather than at
    /// its timeout.
    pub fn close(mut self) -> Result<(), SetupError> {
        self.call_all(&[Request::CloseSession]).map(drop)
    }
}

fn create(path: &str, data: Option<Vec<u8>>) -> Request {
    Request::Create {
        opcode: OpCode::Create,
        req: CreateRequest {
            path: path.to_owned(),
            data,
            acl: Some(Acl::open_unsafe()),
            flags: 0,
            ttl: -1,
        },
    }
}

fn check(reqs: &[Request], codes: &[i32], ok_also: Option<ErrorCode>) -> Result<(), SetupError> {
    for (r, &code) in reqs.iter().zip(codes) {
        if code != 0 && Some(code) != ok_also.map(ErrorCode::code) {
            let path = match r {
                Request::Create { req, .. } => req.path.clone(),
                Request::Delete { path, .. } => path.clone(),
                _ => String::new(),
            };
            let op = match request_opcode(r) {
                OpCode::Create => "create",
                OpCode::Delete => "delete",
                _ => "request",
            };
            return Err(SetupError::Zk { op, path, code });
        }
    }
    Ok(())
}

/// Creates a fresh root (`base`, or `base-N` if taken) and `znodes` keys
/// under it holding `value_size` bytes each. Returns the root path.
pub fn create_keys(
    addr: SocketAddr,
    base: &str,
    znodes: u64,
    value_size: usize,
) -> Result<String, SetupError> {
    let mut c = SyncClient::connect(addr)?;
    let mut root = None;
    for attempt in 0..ROOT_ATTEMPTS_MAX {
        let path = if attempt == 0 {
            base.to_owned()
        } else {
            format!("{base}-{attempt}")
        };
        let code = c.call_all(&[create(&path, None)])?[0];
        if code == 0 {
            root = Some(path);
            break;
        }
        if code != ErrorCode::NodeExists.code() {
            return Err(SetupError::Zk {
                op: "create",
                path,
                code,
            });
        }
    }
    let root = root.ok_or(SetupError::NoRoot(ROOT_ATTEMPTS_MAX))?;
    let value = value_bytes(value_size);
    // Built in slices so a million keys never sit in memory as requests.
    let mut k = 0;
    while k < znodes {
        let n = (znodes - k).min(SETUP_BATCH_MAX as u64 * 8);
        let reqs: Vec<Request> = (k..k + n)
            .map(|i| create(&key_path(&root, i), Some(value.clone())))
            .collect();
        let codes = c.call_all(&reqs)?;
        check(&reqs, &codes, None)?;
        k += n;
    }
    c.close()?;
    Ok(root)
}

/// Deletes the keys and the root (NoNode is fine: someone cleaned up).
pub fn delete_keys(addr: SocketAddr, root: &str, znodes: u64) -> Result<(), SetupError> {
    let mut c = SyncClient::connect(addr)?;
    let mut k = 0;
    while k < znodes {
        let n = (znodes - k).min(SETUP_BATCH_MAX as u64 * 8);
        let reqs: Vec<Request> = (k..k + n)
            .map(|i| Request::Delete {
                path: key_path(root, i),
                version: -1,
            })
            .collect();
        let codes = c.call_all(&reqs)?;
        check(&reqs, &codes, Some(ErrorCode::NoNode))?;
        k += n;
    }
    let reqs = [Request::Delete {
        path: root.to_owned(),
        version: -1,
    }];
    let codes = c.call_all(&reqs)?;
    check(&reqs, &codes, Some(ErrorCode::NoNode))?;
    c.close()
}
