//! Byte-level protocol tests against the real `roost` binary: handshake
//! shapes, xid/zxid rules, ordering, limits, bad input, session lifetime,
//! four-letter words, SetWatches replay and multi results, each checked
//! against the implementation digest (shared/spec/zookeeper-protocol.md).
//!
//! Every socket read has a timeout and every loop is bounded, so a server
//! that hangs makes a test fail instead of hanging the suite.

mod common;

use common::{four_letter, Server};
use roost::proto::codec::{
    decode_connect_response, decode_reply_header, decode_response, decode_watcher_event,
    encode_connect_request, encode_request,
};
use roost::proto::{
    Acl, ConnectRequest, ConnectResponse, CreateRequest, EventType, MultiOp, OpCode, ReplyHeader,
    Request, Response, SetWatches, Stat,
};
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// Upper bound on any single wait for the server.
const IO_TIMEOUT: Duration = Duration::from_secs(5);
/// jute.maxbuffer default (digest §1).
const MAX_BUFFER: usize = 0xfffff;

// Error codes (digest §15).
const OK: i32 = 0;
const RUNTIME_INCONSISTENCY: i32 = -2;
const MARSHALLING_ERROR: i32 = -5;
const UNIMPLEMENTED: i32 = -6;
const NO_NODE: i32 = -101;
const AUTH_FAILED: i32 = -115;

// ---------------------------------------------------------------------------
// Raw socket helpers
// ---------------------------------------------------------------------------

fn tcp(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_TIMEOUT).expect("tcp connect");
    s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Reads one length-prefixed frame and returns its body (without the
/// prefix). Panics on EOF or timeout: callers that expect a close use
/// [`expect_closed`].
fn read_frame(s: &mut TcpStream) -> Vec<u8> {
    let mut len = [0u8; 4];
    s.read_exact(&mut len).expect("read frame length");
    let len = i32::from_be_bytes(len);
    assert!(
        (0..=2 * MAX_BUFFER as i32).contains(&len),
        "implausible frame length {len}"
    );
    let mut body = vec![0u8; len as usize];
    s.read_exact(&mut body).expect("read frame body");
    body
}

/// Asserts the server closes the connection without sending another byte.
/// A reset counts as a close; a timeout or any data is a failure.
fn expect_closed(s: &mut TcpStream, what: &str) {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + IO_TIMEOUT;
    loop {
        assert!(
            Instant::now() < deadline,
            "{what}: connection not closed in time"
        );
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                break
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "{what}: connection still open after {IO_TIMEOUT:?} (got {} bytes)",
                    got.len()
                )
            }
            Err(e) => panic!("{what}: unexpected read error {e}"),
        }
    }
    assert!(
        got.is_empty(),
        "{what}: expected no bytes before close, got {:02x?}",
        got
    );
}

/// Sends a ConnectRequest frame (45 bytes with readOnly, 44 without).
fn send_connect(
    s: &mut TcpStream,
    last_zxid: i64,
    timeout_ms: i32,
    session_id: i64,
    passwd: &[u8],
    ro: Option<bool>,
) {
    let mut out = Vec::new();
    encode_connect_request(
        &ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: last_zxid,
            timeout_ms,
            session_id,
            passwd: passwd.to_vec(),
            read_only: ro,
        },
        &mut out,
    );
    s.write_all(&out).unwrap();
}

fn read_connect_response(s: &mut TcpStream) -> (Vec<u8>, ConnectResponse) {
    let body = read_frame(s);
    let resp = decode_connect_response(&body).expect("decode ConnectResponse");
    (body, resp)
}

/// The 41-byte "invalid session" reply (digest §4.2), prefix included.
fn invalid_connect_reply() -> Vec<u8> {
    let mut v = vec![0, 0, 0, 0x25];
    v.extend_from_slice(&[0; 4]); // protocolVersion
    v.extend_from_slice(&[0; 4]); // timeOut 0
    v.extend_from_slice(&[0; 8]); // sessionId 0
    v.extend_from_slice(&[0, 0, 0, 16]);
    v.extend_from_slice(&[0; 16]);
    v.push(0); // readOnly
    v
}

fn read_exact_bytes(s: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    s.read_exact(&mut v).expect("read bytes");
    v
}

/// An established session on its own connection.
struct Session {
    s: TcpStream,
    id: i64,
    passwd: [u8; 16],
    timeout_ms: i32,
    next_xid: i32,
}

fn connect_session_with_timeout(server: &Server, timeout_ms: i32) -> Session {
    let mut s = tcp(server.addr);
    send_connect(&mut s, 0, timeout_ms, 0, &[0; 16], Some(false));
    let (_, resp) = read_connect_response(&mut s);
    assert!(
        resp.timeout_ms > 0 && resp.session_id != 0,
        "session refused: {resp:?}"
    );
    Session {
        s,
        id: resp.session_id,
        passwd: resp.passwd,
        timeout_ms: resp.timeout_ms,
        next_xid: 1,
    }
}

fn connect_session(server: &Server) -> Session {
    connect_session_with_timeout(server, 4000)
}

/// Re-attaches to an existing session on a new socket; returns the raw reply.
fn reattach(server: &Server, id: i64, passwd: &[u8]) -> (TcpStream, Vec<u8>) {
    let mut s = tcp(server.addr);
    send_connect(&mut s, 0, 4000, id, passwd, Some(false));
    let raw = read_exact_bytes(&mut s, 41);
    (s, raw)
}

fn frame_of(xid: i32, req: &Request) -> Vec<u8> {
    let mut out = Vec::new();
    encode_request(xid, req, &mut out);
    out
}

/// A frame with the given header and raw body bytes.
fn raw_frame(xid: i32, opcode: i32, body: &[u8]) -> Vec<u8> {
    let mut out = ((8 + body.len()) as i32).to_be_bytes().to_vec();
    out.extend_from_slice(&xid.to_be_bytes());
    out.extend_from_slice(&opcode.to_be_bytes());
    out.extend_from_slice(body);
    out
}

/// Reads one reply (or notification) frame: header plus the rest.
fn read_reply(s: &mut TcpStream) -> (ReplyHeader, Vec<u8>) {
    let body = read_frame(s);
    let (h, rest) = decode_reply_header(&body).expect("reply header");
    (h, rest.to_vec())
}

/// Reads one frame that must be a notification; returns (zxid, type, path).
fn read_notification(s: &mut TcpStream) -> (i64, EventType, String) {
    let (h, body) = read_reply(s);
    assert_eq!(h.xid, -1, "expected a notification, got {h:?}");
    assert_eq!(h.err, 0);
    let ev = decode_watcher_event(&body).expect("watcher event");
    assert_eq!(
        ev.state, 3,
        "server notifications always carry SyncConnected"
    );
    (h.zxid, ev.event_type, ev.path)
}

impl Session {
    fn xid(&mut self) -> i32 {
        self.next_xid += 1;
        self.next_xid
    }

    fn send(&mut self, xid: i32, req: &Request) {
        self.s.write_all(&frame_of(xid, req)).unwrap();
    }

    /// Sends a request and reads its reply, which must be the very next frame.
    fn call(&mut self, req: &Request) -> (ReplyHeader, Vec<u8>) {
        let xid = self.xid();
        self.send(xid, req);
        let (h, body) = read_reply(&mut self.s);
        assert_eq!(
            h.xid, xid,
            "reply out of order or unexpected notification: {h:?}"
        );
        (h, body)
    }

    fn ok(&mut self, req: &Request) -> (ReplyHeader, Response) {
        let (h, body) = self.call(req);
        assert_eq!(h.err, OK, "request {req:?} failed: {h:?}");
        let op = OpCode::from_i32(opcode_of(req)).unwrap();
        (h, decode_response(op, &body).expect("decode response"))
    }

    fn create(&mut self, path: &str, data: &[u8], flags: i32) -> i64 {
        self.ok(&create(path, data, flags)).0.zxid
    }

    fn get_data(&mut self, path: &str, watch: bool) -> (ReplyHeader, Vec<u8>, Stat) {
        match self.ok(&Request::GetData {
            path: path.into(),
            watch,
        }) {
            (h, Response::GetData { data, stat }) => (h, data.unwrap_or_default(), stat),
            other => panic!("unexpected {other:?}"),
        }
    }

    fn exists_err(&mut self, path: &str, watch: bool) -> i32 {
        self.call(&Request::Exists {
            path: path.into(),
            watch,
        })
        .0
        .err
    }

    /// A ping round trip: proves the connection is still served.
    fn ping(&mut self) -> ReplyHeader {
        self.send(-2, &Request::Ping);
        let (h, body) = read_reply(&mut self.s);
        assert_eq!(h.xid, -2, "ping reply xid");
        assert_eq!(h.err, 0);
        assert!(body.is_empty());
        h
    }
}

fn opcode_of(req: &Request) -> i32 {
    roost::proto::codec::request_opcode(req) as i32
}

fn create(path: &str, data: &[u8], flags: i32) -> Request {
    Request::Create {
        opcode: OpCode::Create,
        req: CreateRequest {
            path: path.into(),
            data: Some(data.to_vec()),
            acl: Some(Acl::open_unsafe()),
            flags,
            ttl: -1,
        },
    }
}

fn set_data(path: &str, data: &[u8]) -> Request {
    Request::SetData {
        path: path.into(),
        data: Some(data.to_vec()),
        version: -1,
    }
}

const EPHEMERAL: i32 = 1;

// ---------------------------------------------------------------------------
// §4 handshake
// ---------------------------------------------------------------------------

#[test]
fn handshake_45_byte_request_gets_41_byte_reply() {
    let server = Server::start("");
    let mut s = tcp(server.addr);
    // The digest's observed request, byte for byte: timeout 30000, readOnly=0.
    let mut req = vec![0, 0, 0, 0x2d];
    req.extend_from_slice(&[0; 4]);
    req.extend_from_slice(&[0; 8]);
    req.extend_from_slice(&30000i32.to_be_bytes());
    req.extend_from_slice(&[0; 8]);
    req.extend_from_slice(&[0, 0, 0, 16]);
    req.extend_from_slice(&[0; 16]);
    req.push(0);
    assert_eq!(req.len(), 4 + 45);
    s.write_all(&req).unwrap();

    let reply = read_exact_bytes(&mut s, 41);
    assert_eq!(&reply[0..4], &[0, 0, 0, 0x25], "37-byte body");
    assert_eq!(&reply[4..8], &[0; 4], "protocolVersion 0");
    assert_eq!(
        i32::from_be_bytes(reply[8..12].try_into().unwrap()),
        4000,
        "30000 clamps to 20 ticks"
    );
    assert_ne!(&reply[12..20], &[0; 8], "non-zero session id");
    assert_ne!(&reply[12..20], &i64::MIN.to_be_bytes());
    assert_eq!(&reply[20..24], &[0, 0, 0, 16], "16-byte password");
    assert_ne!(
        &reply[24..40],
        &[0; 16],
        "a real password, not the invalid marker"
    );
    assert_eq!(reply[40], 0, "readOnly byte 0");
    // Nothing else follows the ConnectResponse; the session is usable.
    let mut sess = Session {
        s,
        id: i64::from_be_bytes(reply[12..20].try_into().unwrap()),
        passwd: reply[24..40].try_into().unwrap(),
        timeout_ms: 4000,
        next_xid: 0,
    };
    sess.ping();
}

#[test]
fn handshake_legacy_44_byte_request_gets_40_byte_reply() {
    let server = Server::start("");
    let mut s = tcp(server.addr);
    send_connect(&mut s, 0, 3000, 0, &[0; 16], None);
    let (body, resp) = read_connect_response(&mut s);
    assert_eq!(
        body.len(),
        36,
        "legacy client gets no readOnly byte: {body:02x?}"
    );
    assert_eq!(resp.protocol_version, 0);
    assert_eq!(resp.timeout_ms, 3000);
    assert_ne!(resp.session_id, 0);
    assert_eq!(resp.read_only, None);
    let mut sess = Session {
        s,
        id: resp.session_id,
        passwd: resp.passwd,
        timeout_ms: 3000,
        next_xid: 0,
    };
    sess.ping();
}

#[test]
fn handshake_timeouts_clamp_to_min_and_max() {
    // tickTime=200: min 400, max 4000 (digest §4.3 step 4).
    let server = Server::start("");
    for (asked, want) in [
        (1, 400),
        (0, 400),
        (-5, 400),
        (399, 400),
        (400, 400),
        (1234, 1234),
        (4000, 4000),
        (4001, 4000),
        (100_000, 4000),
    ] {
        let mut s = tcp(server.addr);
        send_connect(&mut s, 0, asked, 0, &[0; 16], Some(false));
        let (_, resp) = read_connect_response(&mut s);
        assert_eq!(resp.timeout_ms, want, "requested {asked}");
    }
}

#[test]
fn handshake_pipelined_requests_are_answered_after_the_connect_response_in_order() {
    let server = Server::start("");
    let mut s = tcp(server.addr);
    // ConnectRequest and four requests in a single write (the Rust client's habit).
    let mut out = Vec::new();
    encode_connect_request(
        &ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        },
        &mut out,
    );
    out.extend(frame_of(1, &create("/pipe", b"v", 0)));
    out.extend(frame_of(
        2,
        &Request::GetData {
            path: "/pipe".into(),
            watch: false,
        },
    ));
    out.extend(frame_of(-2, &Request::Ping));
    out.extend(frame_of(
        3,
        &Request::Exists {
            path: "/nope".into(),
            watch: false,
        },
    ));
    s.write_all(&out).unwrap();

    let (body, resp) = read_connect_response(&mut s);
    assert_eq!(body.len(), 37, "the ConnectResponse comes first");
    assert!(resp.session_id != 0 && resp.timeout_ms == 4000);
    let (h1, b1) = read_reply(&mut s);
    assert_eq!((h1.xid, h1.err), (1, 0));
    assert_eq!(
        decode_response(OpCode::Create, &b1).unwrap(),
        Response::Create {
            path: "/pipe".into()
        }
    );
    let (h2, b2) = read_reply(&mut s);
    assert_eq!((h2.xid, h2.err), (2, 0));
    match decode_response(OpCode::GetData, &b2).unwrap() {
        Response::GetData { data, .. } => assert_eq!(data.as_deref(), Some(&b"v"[..])),
        other => panic!("{other:?}"),
    }
    let (h3, _) = read_reply(&mut s);
    assert_eq!((h3.xid, h3.err, h3.zxid), (-2, 0, h1.zxid));
    let (h4, b4) = read_reply(&mut s);
    assert_eq!((h4.xid, h4.err), (3, NO_NODE));
    assert!(b4.is_empty(), "error replies carry no body");
}

#[test]
fn client_ahead_of_server_is_closed_without_reply() {
    let server = Server::start("");
    let mut s = tcp(server.addr);
    send_connect(&mut s, 1 << 40, 4000, 0, &[0; 16], Some(false));
    expect_closed(&mut s, "lastZxidSeen ahead of the server");
    // The server itself is fine.
    connect_session(&server).ping();
}

#[test]
fn new_session_consumes_a_zxid() {
    // Digest §4.3 step 5: createSession is a transaction [obs].
    let server = Server::start("");
    let mut a = connect_session(&server);
    let before = a.ping().zxid;
    let _b = connect_session(&server);
    let after = a.ping().zxid;
    assert_eq!(after, before + 1, "a new session advances the zxid by one");
}

// ---------------------------------------------------------------------------
// §4.3 re-attach, §7.8 closeSession
// ---------------------------------------------------------------------------

#[test]
fn reattach_with_password_keeps_the_session_and_its_ephemerals() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/re-eph", b"", EPHEMERAL);
    let (id, passwd) = (a.id, a.passwd);
    drop(a); // a TCP disconnect does not end the session (§14)

    let (s, raw) = reattach(&server, id, &passwd);
    let resp = decode_connect_response(&raw[4..]).unwrap();
    assert_eq!(&raw[0..4], &[0, 0, 0, 0x25]);
    assert_eq!(resp.session_id, id, "same session id");
    assert_eq!(resp.passwd, passwd, "same password");
    assert_eq!(resp.timeout_ms, 4000);
    let mut b = Session {
        s,
        id,
        passwd,
        timeout_ms: 4000,
        next_xid: 10,
    };
    let (_, _, stat) = b.get_data("/re-eph", false);
    assert_eq!(
        stat.ephemeral_owner, id,
        "ephemeral survived and still belongs to the session"
    );
}

#[test]
fn wrong_password_gets_invalid_reply_and_kicks_the_live_connection() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/pw-eph", b"", EPHEMERAL);
    let mut bad = a.passwd;
    bad[0] ^= 0xff;

    let (mut s, raw) = reattach(&server, a.id, &bad);
    assert_eq!(raw, invalid_connect_reply(), "invalid reply, byte for byte");
    expect_closed(&mut s, "after the invalid reply");
    // Real ZK closes the session's current connection before checking the
    // password (digest §4.3 6.1).
    expect_closed(&mut a.s, "live connection of the session");

    // The session itself survives: the right password re-attaches.
    let (s, raw) = reattach(&server, a.id, &a.passwd);
    let resp = decode_connect_response(&raw[4..]).unwrap();
    assert_eq!(resp.session_id, a.id);
    let mut b = Session {
        s,
        id: a.id,
        passwd: a.passwd,
        timeout_ms: 4000,
        next_xid: 10,
    };
    let (_, _, stat) = b.get_data("/pw-eph", false);
    assert_eq!(stat.ephemeral_owner, a.id);
}

#[test]
fn unknown_session_id_gets_invalid_reply_and_close() {
    let server = Server::start("");
    let (mut s, raw) = reattach(&server, 0x0123_4567_89ab_cdef, &[7; 16]);
    assert_eq!(raw, invalid_connect_reply());
    expect_closed(&mut s, "unknown session");
}

#[test]
fn close_session_replies_then_closes_and_cannot_be_reattached() {
    let server = Server::start("");
    let mut watcher = connect_session(&server);
    let mut a = connect_session(&server);
    a.create("/cs-eph", b"", EPHEMERAL);
    assert_eq!(watcher.exists_err("/cs-eph", true), OK);

    a.send(77, &Request::CloseSession);
    let raw = read_exact_bytes(&mut a.s, 20);
    assert_eq!(
        &raw[0..8],
        &[0, 0, 0, 16, 0, 0, 0, 77],
        "header-only reply echoing xid 77"
    );
    assert_eq!(&raw[16..20], &[0; 4], "err 0");
    let close_zxid = i64::from_be_bytes(raw[8..16].try_into().unwrap());
    expect_closed(&mut a.s, "after closeSession reply");

    // The ephemeral went with the session, in the close transaction.
    let (zxid, ty, path) = read_notification(&mut watcher.s);
    assert_eq!((ty, path.as_str()), (EventType::NodeDeleted, "/cs-eph"));
    // roost speaks 3.9 (envi says 3.9.x): the txn zxid, not 3.8's -1.
    assert_eq!(zxid, close_zxid, "notification carries the close txn zxid");
    assert_eq!(watcher.exists_err("/cs-eph", false), NO_NODE);

    let (mut s, raw) = reattach(&server, a.id, &a.passwd);
    assert_eq!(
        raw,
        invalid_connect_reply(),
        "closed session cannot be re-attached"
    );
    expect_closed(&mut s, "re-attach after closeSession");
}

// ---------------------------------------------------------------------------
// §14 expiry
// ---------------------------------------------------------------------------

#[test]
fn silent_session_expires_within_timeout_plus_tick_and_loses_ephemerals() {
    let server = Server::start("");
    let mut observer = connect_session(&server);
    let mut a = connect_session_with_timeout(&server, 400);
    assert_eq!(a.timeout_ms, 400);
    a.create("/exp-eph", b"", EPHEMERAL);
    let last_packet = Instant::now();
    assert_eq!(observer.exists_err("/exp-eph", true), OK);

    // Stop talking; the server must close the socket on its own.
    expect_closed(&mut a.s, "expired session's connection");
    let elapsed = last_packet.elapsed();
    assert!(
        elapsed >= Duration::from_millis(350),
        "expired too early: {elapsed:?}"
    );
    // timeout + tickTime, plus scheduling margin.
    assert!(
        elapsed <= Duration::from_millis(400 + 200 + 500),
        "expired too late: {elapsed:?}"
    );

    let (_, ty, path) = read_notification(&mut observer.s);
    assert_eq!((ty, path.as_str()), (EventType::NodeDeleted, "/exp-eph"));
    assert_eq!(observer.exists_err("/exp-eph", false), NO_NODE);

    let (mut s, raw) = reattach(&server, a.id, &a.passwd);
    assert_eq!(
        raw,
        invalid_connect_reply(),
        "expired session cannot be re-attached"
    );
    expect_closed(&mut s, "re-attach after expiry");
}

#[test]
fn pinging_session_outlives_several_timeouts() {
    let server = Server::start("");
    let mut a = connect_session_with_timeout(&server, 400);
    a.create("/alive-eph", b"", EPHEMERAL);
    let start = Instant::now();
    // Five timeouts' worth of pings at a quarter-timeout interval.
    while start.elapsed() < Duration::from_millis(2000) {
        std::thread::sleep(Duration::from_millis(100));
        a.ping();
    }
    let mut other = connect_session(&server);
    let (_, _, stat) = other.get_data("/alive-eph", false);
    assert_eq!(stat.ephemeral_owner, a.id);
    a.get_data("/alive-eph", false);
}

// ---------------------------------------------------------------------------
// §5 replies: xids and zxids
// ---------------------------------------------------------------------------

#[test]
fn replies_echo_xids_and_pings_reply_minus_two_with_last_zxid() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    for xid in [0, 1, 12345, i32::MAX] {
        a.send(
            xid,
            &Request::Exists {
                path: "/".into(),
                watch: false,
            },
        );
        let (h, _) = read_reply(&mut a.s);
        assert_eq!((h.xid, h.err), (xid, OK), "xid {xid} echoed");
    }
    let z = a.create("/px", b"", 0);
    // Raw ping: 00000008 fffffffe 0000000b -> 00000010 fffffffe <zxid> 00000000.
    a.s.write_all(&[0, 0, 0, 8, 0xff, 0xff, 0xff, 0xfe, 0, 0, 0, 11])
        .unwrap();
    let raw = read_exact_bytes(&mut a.s, 20);
    let mut want = vec![0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfe];
    want.extend_from_slice(&z.to_be_bytes());
    want.extend_from_slice(&[0; 4]);
    assert_eq!(raw, want);
    // A ping sent under another xid is still answered with -2 (§5.2).
    a.send(55, &Request::Ping);
    let (h, _) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.zxid, h.err), (-2, z, 0));
}

#[test]
fn read_reply_zxid_is_the_last_write_zxid() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    let z1 = a.create("/rz", b"1", 0);
    let (h, _) = a.ok(&set_data("/rz", b"2"));
    let z2 = h.zxid;
    assert!(z2 > z1, "writes advance the zxid");
    let (h, data, stat) = a.get_data("/rz", false);
    assert_eq!(h.zxid, z2, "getData reply carries lastProcessedZxid");
    assert_eq!(
        (data.as_slice(), stat.mzxid, stat.czxid),
        (&b"2"[..], z2, z1)
    );
    let (h, _) = a.call(&Request::Exists {
        path: "/missing".into(),
        watch: false,
    });
    assert_eq!(
        (h.err, h.zxid),
        (NO_NODE, z2),
        "error replies to reads carry it too"
    );
    let (h, _) = a.ok(&Request::GetChildren {
        path: "/".into(),
        watch: false,
    });
    assert_eq!(h.zxid, z2);
}

#[test]
fn auth_digest_reply_echoes_minus_four_with_zxid_zero() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/az", b"", 0); // make lastProcessedZxid non-zero
                             // The digest's frame (§5.2a): auth digest bob:secret, xid -4.
    let mut req = vec![
        0, 0, 0, 0x24, 0xff, 0xff, 0xff, 0xfc, 0, 0, 0, 0x64, 0, 0, 0, 0,
    ];
    req.extend_from_slice(&[0, 0, 0, 6]);
    req.extend_from_slice(b"digest");
    req.extend_from_slice(&[0, 0, 0, 10]);
    req.extend_from_slice(b"bob:secret");
    assert_eq!(req.len(), 4 + 0x24);
    a.s.write_all(&req).unwrap();
    let raw = read_exact_bytes(&mut a.s, 20);
    let mut want = vec![0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfc];
    want.extend_from_slice(&[0; 12]);
    assert_eq!(raw, want);
    // A positive xid is echoed too (go / Rust clients).
    a.send(
        9,
        &Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"alice:pw".to_vec(),
        },
    );
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.zxid, h.err), (9, 0, 0));
    assert!(body.is_empty());
    a.ping();
}

#[test]
fn auth_with_unknown_scheme_fails_and_closes() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.send(
        -4,
        &Request::Auth {
            auth_type: 0,
            scheme: "nosuchscheme".into(),
            auth: b"x".to_vec(),
        },
    );
    let raw = read_exact_bytes(&mut a.s, 20);
    let mut want = vec![0, 0, 0, 16, 0xff, 0xff, 0xff, 0xfc];
    want.extend_from_slice(&[0; 8]);
    want.extend_from_slice(&AUTH_FAILED.to_be_bytes());
    assert_eq!(raw, want, "(-4, 0, AuthFailed) with no body");
    expect_closed(&mut a.s, "after AuthFailed");
}

#[test]
fn unknown_opcodes_get_unimplemented_with_zxid_minus_one_then_close() {
    let server = Server::start("");
    let mut other = connect_session(&server);
    // 13 is check: only valid inside multi (3.9.3+: Unimplemented + close).
    for (opcode, body) in [
        (99, &[][..]),
        (10, &[][..]),
        (0, &[][..]),
        (13, &[0, 0, 0, 1, b'/', 0, 0, 0, 0][..]),
    ] {
        let mut a = connect_session(&server);
        // A ping pipelined behind it must not be answered: the connection
        // is closed right after the Unimplemented reply.
        let mut out = raw_frame(7, opcode, body);
        out.extend(frame_of(-2, &Request::Ping));
        a.s.write_all(&out).unwrap();
        let raw = read_exact_bytes(&mut a.s, 20);
        let mut want = vec![0, 0, 0, 16, 0, 0, 0, 7];
        want.extend_from_slice(&(-1i64).to_be_bytes());
        want.extend_from_slice(&UNIMPLEMENTED.to_be_bytes());
        assert_eq!(raw, want, "opcode {opcode}");
        expect_closed(&mut a.s, &format!("after unknown opcode {opcode}"));
    }
    other.ping();
}

#[test]
fn undecodable_request_body_gets_marshalling_error_and_connection_stays_usable() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/mx", b"data", 0);
    // getData whose path claims 16 bytes but carries 2.
    a.s.write_all(&raw_frame(3, 4, &[0, 0, 0, 16, b'/', b'm']))
        .unwrap();
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (3, MARSHALLING_ERROR));
    assert!(body.is_empty());
    // create with only a path: data, acl and flags missing.
    a.s.write_all(&raw_frame(4, 1, &[0, 0, 0, 3, b'/', b'm', b'y']))
        .unwrap();
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (4, MARSHALLING_ERROR));
    assert!(body.is_empty());
    // setData with an empty body.
    a.s.write_all(&raw_frame(5, 5, &[])).unwrap();
    let (h, _) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (5, MARSHALLING_ERROR));
    // Still the same, working session; nothing was created.
    let (_, data, _) = a.get_data("/mx", false);
    assert_eq!(data, b"data");
    assert_eq!(a.exists_err("/my", false), NO_NODE);
    a.ping();
}

// ---------------------------------------------------------------------------
// §5.3 / §12.5 ordering
// ---------------------------------------------------------------------------

#[test]
fn pipelined_burst_comes_back_strictly_in_order() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    let mut reqs: Vec<(i32, Request)> = vec![
        (1, create("/burst", b"a", 0)),
        (
            2,
            Request::GetData {
                path: "/burst".into(),
                watch: false,
            },
        ),
        (3, set_data("/burst", b"b")),
        (
            4,
            Request::Exists {
                path: "/burst".into(),
                watch: false,
            },
        ),
        (
            5,
            Request::GetData {
                path: "/burst".into(),
                watch: false,
            },
        ),
        (-2, Request::Ping),
        (6, create("/burst/c", b"", 0)),
        (
            7,
            Request::GetChildren {
                path: "/burst".into(),
                watch: false,
            },
        ),
        (
            8,
            Request::Delete {
                path: "/burst/c".into(),
                version: -1,
            },
        ),
        (
            9,
            Request::Exists {
                path: "/burst/c".into(),
                watch: false,
            },
        ),
        (
            10,
            Request::Sync {
                path: "/burst".into(),
            },
        ),
    ];
    for i in 0..40 {
        let xid = 11 + i;
        let req = if i % 2 == 0 {
            set_data("/burst", format!("v{xid}").as_bytes())
        } else {
            Request::GetData {
                path: "/burst".into(),
                watch: false,
            }
        };
        reqs.push((xid, req));
    }
    let mut out = Vec::new();
    for (xid, req) in &reqs {
        out.extend(frame_of(*xid, req));
    }
    a.s.write_all(&out).unwrap();

    let mut last_zxid = 0;
    for (xid, req) in &reqs {
        let (h, body) = read_reply(&mut a.s);
        assert_eq!(h.xid, *xid, "reply order");
        assert!(h.zxid >= last_zxid, "reply zxids never go back");
        last_zxid = h.zxid;
        match *xid {
            9 => assert_eq!(h.err, NO_NODE),
            _ => assert_eq!(h.err, OK, "xid {xid}"),
        }
        let op = OpCode::from_i32(opcode_of(req)).unwrap();
        let resp = if h.err == 0 {
            Some(decode_response(op, &body).unwrap())
        } else {
            None
        };
        match (*xid, resp) {
            (2, Some(Response::GetData { data, .. })) => assert_eq!(data.unwrap(), b"a"),
            (5, Some(Response::GetData { data, stat })) => {
                assert_eq!((data.unwrap().as_slice(), stat.version), (&b"b"[..], 1))
            }
            (7, Some(Response::GetChildren { children })) => {
                assert_eq!(children, vec!["c".to_string()])
            }
            // Each read sees the setData just before it (FIFO per client).
            (x, Some(Response::GetData { data, .. })) if x > 11 => {
                assert_eq!(data.unwrap(), format!("v{}", x - 1).as_bytes())
            }
            _ => {}
        }
    }
}

#[test]
fn own_notifications_arrive_before_the_reply_of_the_triggering_write() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/w", b"", 0);
    a.ok(&Request::GetChildren {
        path: "/w".into(),
        watch: true,
    });
    assert_eq!(
        a.exists_err("/w/c1", true),
        NO_NODE,
        "exists on a missing node still sets a watch"
    );

    a.send(50, &create("/w/c1", b"", 0));
    let (z1, t1, p1) = read_notification(&mut a.s);
    let (z2, t2, p2) = read_notification(&mut a.s);
    let (h, _) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (50, OK));
    assert_eq!((t1, p1.as_str()), (EventType::NodeCreated, "/w/c1"));
    assert_eq!((t2, p2.as_str()), (EventType::NodeChildrenChanged, "/w"));
    // 3.9 puts the txn zxid in the notification (ZOOKEEPER-4655; 3.8 sent
    // -1), and roost reports itself as 3.9.
    assert_eq!((z1, z2), (h.zxid, h.zxid), "notification zxids");

    a.get_data("/w/c1", true);
    a.send(51, &set_data("/w/c1", b"x"));
    let (_, t, p) = read_notification(&mut a.s);
    assert_eq!((t, p.as_str()), (EventType::NodeDataChanged, "/w/c1"));
    let (h, _) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (51, OK));
    // One-shot: the next write fires nothing.
    a.ok(&set_data("/w/c1", b"y"));
}

#[test]
fn other_connection_sees_the_notification_before_the_new_data() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    let mut b = connect_session(&server);
    a.create("/nd", b"old", 0);
    b.get_data("/nd", true);
    let (h, _) = a.ok(&set_data("/nd", b"new"));
    // The write is applied; B's next read is computed after it, so B's
    // outbound FIFO must hold the notification first (§12.5 point 2).
    b.send(
        90,
        &Request::GetData {
            path: "/nd".into(),
            watch: false,
        },
    );
    let (_, t, p) = read_notification(&mut b.s);
    assert_eq!((t, p.as_str()), (EventType::NodeDataChanged, "/nd"));
    let (hb, body) = read_reply(&mut b.s);
    assert_eq!((hb.xid, hb.err, hb.zxid), (90, OK, h.zxid));
    match decode_response(OpCode::GetData, &body).unwrap() {
        Response::GetData { data, .. } => assert_eq!(data.unwrap(), b"new"),
        other => panic!("{other:?}"),
    }
}

// ---------------------------------------------------------------------------
// §1 limits and bad input
// ---------------------------------------------------------------------------

#[test]
fn oversized_frame_closes_only_that_connection() {
    let server = Server::start("");
    let mut bystander = connect_session(&server);
    bystander.create("/by", b"ok", 0);
    let mut a = connect_session(&server);
    // Length 1,048,576 = maxbuffer + 1; the server must not wait for the body.
    a.s.write_all(&((MAX_BUFFER as i32) + 1).to_be_bytes())
        .unwrap();
    a.s.write_all(&[0; 64]).unwrap();
    expect_closed(&mut a.s, "frame over jute.maxbuffer");
    let (_, data, _) = bystander.get_data("/by", false);
    assert_eq!(data, b"ok");
    // The server still accepts new sessions.
    connect_session(&server).ping();
}

#[test]
fn negative_frame_length_closes() {
    let server = Server::start("");
    let mut bystander = connect_session(&server);
    let mut a = connect_session(&server);
    a.s.write_all(&(-5i32).to_be_bytes()).unwrap();
    expect_closed(&mut a.s, "negative frame length");
    bystander.ping();
}

#[test]
fn garbage_bytes_close_only_that_connection() {
    let server = Server::start("");
    let mut bystander = connect_session(&server);
    // Before a handshake: "abcd" is not a 4LW, so it reads as a huge length.
    let mut s = tcp(server.addr);
    s.write_all(b"abcdefghijklmnopqrstuvwxyz").unwrap();
    expect_closed(&mut s, "garbage before the handshake");
    // After a handshake too.
    let mut a = connect_session(&server);
    a.s.write_all(b"abcdefghijklmnopqrstuvwxyz").unwrap();
    expect_closed(&mut a.s, "garbage after the handshake");
    bystander.ping();
}

#[test]
fn near_maximum_set_data_works_and_an_oversized_read_gets_an_error_reply() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/big", b"", 0);
    // setData frame of exactly 1,048,575 bytes: header 8 + path 4+4 +
    // data 4+D + version 4.
    let d = MAX_BUFFER - 24;
    let frame = frame_of(5, &set_data("/big", &vec![b'z'; d]));
    assert_eq!(frame.len(), 4 + MAX_BUFFER);
    a.s.write_all(&frame).unwrap();
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (5, OK), "a frame at the limit is accepted");
    match decode_response(OpCode::SetData, &body).unwrap() {
        Response::Stat(st) => assert_eq!(st.data_length as usize, d),
        other => panic!("{other:?}"),
    }
    // Its getData reply would be 16 + 4 + D + 68 bytes > jute.maxbuffer,
    // which a default Java client refuses (§1): the server must answer with
    // an error instead of sending it, and keep the connection.
    a.send(
        6,
        &Request::GetData {
            path: "/big".into(),
            watch: false,
        },
    );
    let mut len = [0u8; 4];
    a.s.read_exact(&mut len).unwrap();
    let len = i32::from_be_bytes(len) as usize;
    assert!(
        len <= MAX_BUFFER,
        "server sent a {len}-byte reply frame, more than jute.maxbuffer"
    );
    let mut body = vec![0u8; len];
    a.s.read_exact(&mut body).unwrap();
    let (h, rest) = decode_reply_header(&body).unwrap();
    assert_eq!(h.xid, 6);
    assert_ne!(h.err, OK, "oversized read must be an error reply");
    assert!(rest.is_empty());
    a.ping();
    // A small write still goes through on the same connection.
    a.ok(&set_data("/big", b"small"));
    assert_eq!(a.get_data("/big", false).1, b"small");
}

#[test]
fn max_client_cnxns_refuses_the_fourth_connection_silently() {
    let server = Server::start("maxClientCnxns=3");
    let mut sessions: Vec<Session> = (0..3).map(|_| connect_session(&server)).collect();
    let mut fourth = tcp(server.addr);
    // Whatever the 4th sends, nothing comes back.
    let _ = fourth.write_all(&{
        let mut v = Vec::new();
        encode_connect_request(
            &ConnectRequest {
                protocol_version: 0,
                last_zxid_seen: 0,
                timeout_ms: 4000,
                session_id: 0,
                passwd: vec![0; 16],
                read_only: Some(false),
            },
            &mut v,
        );
        v
    });
    expect_closed(&mut fourth, "4th connection from 127.0.0.1");
    for (i, s) in sessions.iter_mut().enumerate() {
        s.create(&format!("/cap{i}"), b"", 0);
        s.ping();
    }
}

// ---------------------------------------------------------------------------
// §16 four-letter words
// ---------------------------------------------------------------------------

#[test]
fn four_letter_ruok_srvr_mntr_envi() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    let z = a.create("/flw", b"", 0);

    assert_eq!(four_letter(server.addr, "ruok").unwrap(), "imok");

    let srvr = four_letter(server.addr, "srvr").unwrap();
    assert!(srvr.starts_with("Zookeeper version: "), "{srvr}");
    assert!(srvr.lines().any(|l| l == "Mode: standalone"), "{srvr}");
    assert!(
        srvr.lines().any(|l| l == format!("Zxid: 0x{z:x}")),
        "Zxid is the last zxid {z:#x}:\n{srvr}"
    );
    assert!(
        srvr.lines().any(|l| l.starts_with("Latency min/avg/max: ")),
        "{srvr}"
    );
    assert!(srvr.ends_with('\n'));

    let mntr = four_letter(server.addr, "mntr").unwrap();
    let lines: Vec<&str> = mntr.lines().collect();
    assert!(lines.len() > 10, "{mntr}");
    assert!(lines[0].starts_with("zk_version\t"), "{mntr}");
    assert_eq!(lines[1], "zk_server_state\tstandalone");
    for l in &lines {
        let parts: Vec<&str> = l.split('\t').collect();
        assert_eq!(parts.len(), 2, "one tab per line: {l:?}");
        // Real ZK prints only zk_* keys; roost adds a few roost_* ones,
        // which key\tvalue parsers tolerate.
        assert!(!parts[0].is_empty() && !parts[0].contains(' '), "{l:?}");
    }
    for key in [
        "zk_avg_latency",
        "zk_znode_count",
        "zk_num_alive_connections",
        "zk_ephemerals_count",
        "zk_watch_count",
    ] {
        assert!(
            lines.iter().any(|l| l.starts_with(&format!("{key}\t"))),
            "{key} missing:\n{mntr}"
        );
    }

    let envi = four_letter(server.addr, "envi").unwrap();
    assert!(envi.starts_with("Environment:\n"), "{envi}");
    assert!(
        envi.lines()
            .any(|l| l.starts_with("zookeeper.version=3.9.")),
        "{envi}"
    );
}

#[test]
fn four_letter_word_not_in_whitelist_is_refused() {
    // Later keys win in zoo.cfg, so this overrides the harness's `*`.
    let server = common::Server::start_probing("4lw.commands.whitelist=srvr", "srvr");
    assert_eq!(
        four_letter(server.addr, "ruok").unwrap(),
        "ruok is not executed because it is not in the whitelist.\n"
    );
    assert_eq!(
        four_letter(server.addr, "mntr").unwrap(),
        "mntr is not executed because it is not in the whitelist.\n"
    );
    assert!(four_letter(server.addr, "srvr")
        .unwrap()
        .contains("Mode: standalone"));
}

#[test]
fn four_letter_cons_and_stat_list_connections() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.ping();
    let port = a.s.local_addr().unwrap().port();

    let cons = four_letter(server.addr, "cons").unwrap();
    let line = cons
        .lines()
        .find(|l| l.starts_with(&format!(" /127.0.0.1:{port}[")))
        .unwrap_or_else(|| panic!("connection {port} not in cons:\n{cons}"));
    assert!(line.contains(&format!("sid=0x{:x}", a.id)), "{line}");
    assert!(line.contains("to=4000"), "{line}");
    assert!(line.contains("lop=PING"), "{line}");
    assert!(
        cons.ends_with("\n\n"),
        "cons ends with an empty line: {cons:?}"
    );

    let stat = four_letter(server.addr, "stat").unwrap();
    assert!(stat.lines().any(|l| l == "Clients:"), "{stat}");
    let line = stat
        .lines()
        .find(|l| l.starts_with(&format!(" /127.0.0.1:{port}[")))
        .unwrap_or_else(|| panic!("connection {port} not in stat:\n{stat}"));
    assert!(line.contains("(queued="), "{line}");
    assert!(stat.lines().any(|l| l == "Mode: standalone"), "{stat}");
}

#[test]
fn four_letter_wchs_counts_data_watches_only() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/wc", b"", 0);
    a.get_data("/wc", true);
    // A child watch is not counted by wchs (§16.2).
    a.ok(&Request::GetChildren {
        path: "/wc".into(),
        watch: true,
    });
    let wchs = four_letter(server.addr, "wchs").unwrap();
    // Trailing empty line as in real ZK (§16.2).
    assert_eq!(wchs, "1 connections watching 1 paths\nTotal watches:1\n\n");
    // mntr's zk_watch_count does count both (§16.2).
    let mntr = four_letter(server.addr, "mntr").unwrap();
    assert!(mntr.lines().any(|l| l == "zk_watch_count\t2"), "{mntr}");
}

// ---------------------------------------------------------------------------
// §12.6 SetWatches replay
// ---------------------------------------------------------------------------

#[test]
fn set_watches_replays_missed_events_before_its_reply() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/sw", b"a", 0);
    a.create("/gone", b"", 0);
    let relative = a.create("/same", b"", 0);
    // Changes the watching client "missed".
    a.ok(&set_data("/sw", b"b"));
    a.ok(&Request::Delete {
        path: "/gone".into(),
        version: -1,
    });
    a.create("/sw/c", b"", 0);

    let mut b = connect_session(&server);
    let sw = SetWatches {
        relative_zxid: relative,
        data: vec!["/sw".into(), "/gone".into(), "/same".into()],
        exist: vec!["/sw/c".into(), "/later".into()],
        child: vec!["/sw".into()],
        ..Default::default()
    };
    b.send(
        -8,
        &Request::SetWatches {
            v2: false,
            watches: sw,
        },
    );
    let mut events = BTreeSet::new();
    for _ in 0..4 {
        let (zxid, t, p) = read_notification(&mut b.s);
        assert_eq!(zxid, -1, "SetWatches-generated events carry zxid -1");
        events.insert((t, p));
    }
    let (h, body) = read_reply(&mut b.s);
    assert_eq!((h.xid, h.err), (-8, OK), "reply after all replayed events");
    assert!(body.is_empty());
    let want: BTreeSet<(EventType, String)> = [
        (EventType::NodeDataChanged, "/sw"),
        (EventType::NodeDeleted, "/gone"),
        (EventType::NodeCreated, "/sw/c"),
        (EventType::NodeChildrenChanged, "/sw"),
    ]
    .into_iter()
    .map(|(t, p)| (t, p.to_string()))
    .collect();
    assert_eq!(events, want);

    // Unchanged data watch and missing-node exist watch were registered.
    a.ok(&set_data("/same", b"x"));
    let (_, t, p) = read_notification(&mut b.s);
    assert_eq!((t, p.as_str()), (EventType::NodeDataChanged, "/same"));
    a.create("/later", b"", 0);
    let (_, t, p) = read_notification(&mut b.s);
    assert_eq!((t, p.as_str()), (EventType::NodeCreated, "/later"));
    // Watches that fired during replay were not kept.
    a.ok(&set_data("/sw", b"c"));
    b.ping();
}

// ---------------------------------------------------------------------------
// §13 multi
// ---------------------------------------------------------------------------

/// MultiHeader{type, done, err} bytes.
fn multi_header(ty: i32, done: bool, err: i32) -> Vec<u8> {
    let mut v = ty.to_be_bytes().to_vec();
    v.push(done as u8);
    v.extend_from_slice(&err.to_be_bytes());
    v
}

#[test]
fn failed_multi_reports_ok_err_runtime_inconsistency_with_header_err_zero() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/m", b"", 0);
    let ops = vec![
        MultiOp::Create {
            opcode: OpCode::Create,
            req: CreateRequest {
                path: "/m/x".into(),
                data: Some(vec![]),
                acl: Some(Acl::open_unsafe()),
                flags: 0,
                ttl: -1,
            },
        },
        MultiOp::Delete {
            path: "/m/zzz".into(),
            version: -1,
        },
        MultiOp::SetData {
            path: "/m".into(),
            data: Some(b"d".to_vec()),
            version: -1,
        },
        MultiOp::Check {
            path: "/m".into(),
            version: 0,
        },
    ];
    a.send(21, &Request::Multi(ops));
    let (h, body) = read_reply(&mut a.s);
    assert_eq!(
        (h.xid, h.err),
        (21, OK),
        "header err is 0 even though an op failed"
    );
    let mut want = Vec::new();
    for err in [OK, NO_NODE, RUNTIME_INCONSISTENCY, RUNTIME_INCONSISTENCY] {
        want.extend(multi_header(-1, false, err));
        want.extend_from_slice(&err.to_be_bytes()); // ErrorResponse{err}
    }
    want.extend(multi_header(-1, true, -1));
    assert_eq!(body, want, "result list bytes");
    // Atomic: nothing applied.
    assert_eq!(a.exists_err("/m/x", false), NO_NODE);
    assert_eq!(a.get_data("/m", false).2.version, 0);
}

#[test]
fn empty_multi_returns_just_the_terminator() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.s.write_all(&raw_frame(22, 14, &multi_header(-1, true, -1)))
        .unwrap();
    let raw = read_exact_bytes(&mut a.s, 4 + 16 + 9);
    assert_eq!(&raw[0..8], &[0, 0, 0, 25, 0, 0, 0, 22]);
    assert_eq!(&raw[16..20], &[0; 4], "err 0");
    assert_eq!(
        &raw[20..],
        &[0xff, 0xff, 0xff, 0xff, 1, 0xff, 0xff, 0xff, 0xff]
    );
    a.ping();
}

// ---------------------------------------------------------------------------
// More edges: byte-at-a-time framing, sessionless timeout, per-connection
// watches, 4LW only before the handshake, readOnly request, dedup ordering
// ---------------------------------------------------------------------------

#[test]
fn frames_split_into_single_bytes_are_reassembled() {
    let server = Server::start("");
    let mut s = tcp(server.addr);
    let mut out = Vec::new();
    encode_connect_request(
        &ConnectRequest {
            protocol_version: 0,
            last_zxid_seen: 0,
            timeout_ms: 4000,
            session_id: 0,
            passwd: vec![0; 16],
            read_only: Some(false),
        },
        &mut out,
    );
    out.extend(frame_of(1, &create("/split", b"xyz", 0)));
    out.extend(frame_of(
        2,
        &Request::GetData {
            path: "/split".into(),
            watch: false,
        },
    ));
    // One byte per write; TCP_NODELAY makes most of them separate segments.
    for b in &out {
        s.write_all(&[*b]).unwrap();
        s.flush().unwrap();
    }
    let (body, _) = read_connect_response(&mut s);
    assert_eq!(body.len(), 37);
    let (h, _) = read_reply(&mut s);
    assert_eq!((h.xid, h.err), (1, OK));
    let (h, body) = read_reply(&mut s);
    assert_eq!((h.xid, h.err), (2, OK));
    match decode_response(OpCode::GetData, &body).unwrap() {
        Response::GetData { data, .. } => assert_eq!(data.unwrap(), b"xyz"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn connection_without_handshake_is_closed_after_sessionless_timeout() {
    let server = Server::start("zookeeper.nio.sessionlessCnxnTimeout=500");
    let mut idle = tcp(server.addr);
    let start = Instant::now();
    expect_closed(&mut idle, "connection that never handshakes");
    let elapsed = start.elapsed();
    assert!(
        elapsed >= Duration::from_millis(400),
        "closed too early: {elapsed:?}"
    );
    assert!(
        elapsed <= Duration::from_millis(2500),
        "closed too late: {elapsed:?}"
    );
    // An established connection lives as long as its session (§1): idle for
    // longer than the sessionless timeout but well inside its 4000 ms
    // session timeout, it must still be served.
    let mut a = connect_session(&server);
    std::thread::sleep(Duration::from_millis(800));
    a.send(-2, &Request::Ping);
    let mut reply = [0u8; 20];
    if let Err(e) = a.s.read_exact(&mut reply) {
        panic!("established, idle (800 ms < 4000 ms session timeout) connection was closed: {e}");
    }
    assert_eq!(&reply[4..8], &(-2i32).to_be_bytes());
}

#[test]
fn four_letter_word_after_handshake_is_just_a_bad_frame_length() {
    // "ruok" is only a command before the handshake (§1, §16.1); afterwards
    // it is the length 0x72756f6b, far over jute.maxbuffer.
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.s.write_all(b"ruok").unwrap();
    expect_closed(&mut a.s, "4LW bytes on an established connection");
}

#[test]
fn read_only_capable_client_gets_read_only_zero_from_standalone() {
    let server = Server::start("");
    let mut s = tcp(server.addr);
    send_connect(&mut s, 0, 4000, 0, &[0; 16], Some(true));
    let (body, resp) = read_connect_response(&mut s);
    assert_eq!(body.len(), 37);
    assert_eq!(
        resp.read_only,
        Some(false),
        "standalone is never read-only (§4.7)"
    );
    assert!(resp.session_id != 0);
}

#[test]
fn watches_belong_to_the_connection_and_are_dropped_on_reattach() {
    let server = Server::start("");
    let mut writer = connect_session(&server);
    let mut a = connect_session(&server);
    a.create("/pc", b"", 0);
    a.get_data("/pc", true);
    let (s, raw) = reattach(&server, a.id, &a.passwd);
    assert_eq!(decode_connect_response(&raw[4..]).unwrap().session_id, a.id);
    // The old socket was closed by the move (§4.3 6.1).
    expect_closed(&mut a.s, "old connection after re-attach");
    let mut b = Session {
        s,
        id: a.id,
        passwd: a.passwd,
        timeout_ms: 4000,
        next_xid: 100,
    };
    writer.ok(&set_data("/pc", b"changed"));
    // No notification on the new connection: the next frame is the ping reply.
    b.ping();
    // It can register its own watch again.
    b.get_data("/pc", true);
    writer.ok(&set_data("/pc", b"again"));
    let (_, t, p) = read_notification(&mut b.s);
    assert_eq!((t, p.as_str()), (EventType::NodeDataChanged, "/pc"));
}

#[test]
fn delete_with_several_watches_sends_one_event_per_path_before_the_reply() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/dd", b"", 0);
    a.create("/dd/n", b"", 0);
    a.get_data("/dd/n", true);
    a.ok(&Request::GetChildren {
        path: "/dd/n".into(),
        watch: true,
    });
    assert_eq!(a.exists_err("/dd/n", true), OK);
    a.ok(&Request::GetChildren {
        path: "/dd".into(),
        watch: true,
    });
    a.send(
        60,
        &Request::Delete {
            path: "/dd/n".into(),
            version: -1,
        },
    );
    // One NodeDeleted for /dd/n despite three watches, then the parent's
    // NodeChildrenChanged, then the reply (§12.2).
    let (_, t1, p1) = read_notification(&mut a.s);
    assert_eq!((t1, p1.as_str()), (EventType::NodeDeleted, "/dd/n"));
    let (_, t2, p2) = read_notification(&mut a.s);
    assert_eq!((t2, p2.as_str()), (EventType::NodeChildrenChanged, "/dd"));
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (60, OK));
    assert!(body.is_empty(), "delete has no response record");
    a.ping();
}

#[test]
fn set_watches_with_a_normal_xid_is_echoed() {
    // The Java and go clients send SetWatches under an ordinary xid (§5.2).
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.send(
        31,
        &Request::SetWatches {
            v2: false,
            watches: SetWatches {
                relative_zxid: 0,
                exist: vec!["/nothing-here".into()],
                ..Default::default()
            },
        },
    );
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (31, OK));
    assert!(body.is_empty());
}

#[test]
fn successful_multi_results_share_one_zxid_and_keep_type_one_creates() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    a.create("/ms", b"", 0);
    let ops = vec![
        MultiOp::Create {
            opcode: OpCode::Create,
            req: CreateRequest {
                path: "/ms/a".into(),
                data: Some(vec![]),
                acl: Some(Acl::open_unsafe()),
                flags: 0,
                ttl: -1,
            },
        },
        MultiOp::SetData {
            path: "/ms/a".into(),
            data: Some(b"d".to_vec()),
            version: 0,
        },
        MultiOp::Check {
            path: "/ms/a".into(),
            version: 1,
        },
        MultiOp::Delete {
            path: "/ms/a".into(),
            version: 1,
        },
    ];
    a.send(23, &Request::Multi(ops));
    let (h, body) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (23, OK));
    // create (type 1, go-zookeeper only understands 1): header + "/ms/a".
    let mut want = multi_header(1, false, 0);
    want.extend_from_slice(&[0, 0, 0, 5]);
    want.extend_from_slice(b"/ms/a");
    // setData (type 5): header + 68-byte stat, checked loosely below.
    want.extend(multi_header(5, false, 0));
    assert_eq!(&body[..want.len()], &want[..]);
    let stat = roost::proto::codec::read_stat(&mut roost::proto::codec::JuteReader::new(
        &body[want.len()..want.len() + 68],
    ))
    .unwrap();
    assert_eq!((stat.version, stat.mzxid, stat.czxid), (1, h.zxid, h.zxid));
    let mut tail = multi_header(13, false, 0);
    tail.extend(multi_header(2, false, 0));
    tail.extend(multi_header(-1, true, -1));
    assert_eq!(&body[want.len() + 68..], &tail[..]);
    assert_eq!(a.exists_err("/ms/a", false), NO_NODE);
}

#[test]
fn multi_mixing_reads_and_writes_is_a_marshalling_error() {
    let server = Server::start("");
    let mut a = connect_session(&server);
    // Body by hand: a getData (4) sub-op inside a write multi (14).
    let mut body = multi_header(4, false, -1);
    body.extend_from_slice(&[0, 0, 0, 1, b'/', 0]);
    body.extend(multi_header(-1, true, -1));
    a.s.write_all(&raw_frame(24, 14, &body)).unwrap();
    let (h, rest) = read_reply(&mut a.s);
    assert_eq!((h.xid, h.err), (24, MARSHALLING_ERROR));
    assert!(rest.is_empty(), "whole-request failure: header only");
    a.ping();
}

/// Enforced authentication (digest §7.9): before authenticating, anything but
/// auth gets SessionClosedRequireSaslAuth (-124) and the connection closes;
/// after digest auth the same request is served.
#[test]
fn enforced_auth_refuses_unauthenticated_requests_and_closes() {
    let server = Server::start("enforce.auth.enabled=true\nenforce.auth.schemes=digest");
    let mut anon = connect_session(&server);
    anon.send(
        1,
        &Request::GetData {
            path: "/".into(),
            watch: false,
        },
    );
    let (h, body) = read_reply(&mut anon.s);
    assert_eq!(
        (h.xid, h.err),
        (
            1,
            roost::proto::ErrorCode::SessionClosedRequireSaslAuth.code()
        )
    );
    assert!(body.is_empty());
    expect_closed(&mut anon.s, "after -124");

    let mut bob = connect_session(&server);
    bob.send(
        2,
        &Request::Auth {
            auth_type: 0,
            scheme: "digest".into(),
            auth: b"bob:secret".to_vec(),
        },
    );
    assert_eq!(read_reply(&mut bob.s).0.err, 0);
    bob.send(
        3,
        &Request::GetData {
            path: "/".into(),
            watch: false,
        },
    );
    let (h, _) = read_reply(&mut bob.s);
    assert_eq!((h.xid, h.err), (3, 0));
}

/// A killed server restarts on the same port at once, even while the
/// connections it had are in TIME_WAIT (SO_REUSEADDR on the listener).
#[test]
fn restart_rebinds_the_port_while_old_connections_linger() {
    let mut server = Server::start_own("");
    let mut sessions: Vec<_> = (0..4).map(|_| connect_session(&server)).collect();
    for (i, s) in sessions.iter_mut().enumerate() {
        s.create(&format!("/tw{i}"), b"", 0);
    }
    server.kill_and_restart();
    // The server closed first, so its side of every old connection is in
    // TIME_WAIT now; the new server must be serving anyway.
    let mut fresh = connect_session(&server);
    fresh.send(
        1,
        &Request::Exists {
            path: "/".into(),
            watch: false,
        },
    );
    assert_eq!(read_reply(&mut fresh.s).0.err, 0);
    drop(sessions);
}
