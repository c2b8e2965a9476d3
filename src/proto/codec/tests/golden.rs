//! Golden frames: exact bytes in both directions.

use super::*;
use crate::proto::codec::*;

const WORLD_ANYONE_ACL_HEX: &str = "00000001 0000001f 00000005 776f726c64 00000006 616e796f6e65";

fn s(v: &str) -> String {
    v.to_owned()
}

/// (frame, xid, request). Frames from the digest are written out in full,
/// prefix included; the rest get their prefix from `framed`.
fn request_goldens() -> Vec<(Vec<u8>, Xid, Request)> {
    let open = Some(Acl::open_unsafe());
    vec![
        // §5.2a create /t2, observed.
        (
            hex(&format!("00000032 | 00000001 00000001 | 00000003 2f7432 | 00000000 | {WORLD_ANYONE_ACL_HEX} | 00000000")),
            1,
            Request::Create { opcode: OpCode::Create, req: create_req("/t2", Some(b""), open.clone(), 0, -1) },
        ),
        (
            framed("00000002 0000000f | 00000002 2f61 | ffffffff | ffffffff | 00000001"),
            2,
            Request::Create { opcode: OpCode::Create2, req: create_req("/a", None, None, 1, -1) },
        ),
        (
            framed("00000003 00000013 | 00000002 2f63 | 00000001 78 | 00000000 | 00000004"),
            3,
            Request::Create { opcode: OpCode::CreateContainer, req: create_req("/c", Some(b"x"), Some(vec![]), 4, -1) },
        ),
        (
            framed("00000004 00000015 | 00000002 2f74 | 00000000 | 00000000 | 00000005 | 00000000000003e8"),
            4,
            Request::Create { opcode: OpCode::CreateTtl, req: create_req("/t", Some(b""), Some(vec![]), 5, 1000) },
        ),
        (framed("00000005 00000002 | 00000002 2f61 ffffffff"), 5, Request::Delete { path: s("/a"), version: -1 }),
        (framed("00000004 00000003 | 00000006 2f77782f6331 01"), 4, Request::Exists { path: s("/wx/c1"), watch: true }),
        (framed("00000006 00000004 | 00000002 2f61 00"), 6, Request::GetData { path: s("/a"), watch: false }),
        (
            framed("00000007 00000005 | 00000002 2f61 | 00000002 6869 | 00000003"),
            7,
            Request::SetData { path: s("/a"), data: Some(b"hi".to_vec()), version: 3 },
        ),
        (framed("00000008 00000006 | 00000002 2f61"), 8, Request::GetAcl { path: s("/a") }),
        (
            framed("00000009 00000007 | 00000002 2f61 | 00000001 00000001 00000006 646967657374 00000003 753a68 | 00000002"),
            9,
            Request::SetAcl {
                path: s("/a"),
                acl: Some(vec![Acl { perms: perms::READ, id: Id::new("digest", "u:h") }]),
                version: 2,
            },
        ),
        (framed("0000000a 00000008 | 00000001 2f 01"), 10, Request::GetChildren { path: s("/"), watch: true }),
        (framed("0000000b 0000000c | 00000001 2f 00"), 11, Request::GetChildren2 { path: s("/"), watch: false }),
        (framed("0000000c 00000009 | 00000002 2f61"), 12, Request::Sync { path: s("/a") }),
        // §5.2a ping, observed.
        (hex("00000008 | fffffffe 0000000b"), xid::PING, Request::Ping),
        (framed("0000000d 0000000d | 00000002 2f61 00000004"), 13, Request::Check { path: s("/a"), version: 4 }),
        // §13.2's shape: create, delete, setData, check.
        (
            framed(&format!(
                "0000000e 0000000e \
                 | 00000001 00 ffffffff 00000004 2f6d2f78 00000000 {WORLD_ANYONE_ACL_HEX} 00000000 \
                 | 00000002 00 ffffffff 00000006 2f6d2f7a7a7a ffffffff \
                 | 00000005 00 ffffffff 00000002 2f6d 00000001 64 ffffffff \
                 | 0000000d 00 ffffffff 00000002 2f6d 00000001 \
                 | ffffffff 01 ffffffff"
            )),
            14,
            Request::Multi(vec![
                MultiOp::Create { opcode: OpCode::Create, req: create_req("/m/x", Some(b""), open.clone(), 0, -1) },
                MultiOp::Delete { path: s("/m/zzz"), version: -1 },
                MultiOp::SetData { path: s("/m"), data: Some(b"d".to_vec()), version: -1 },
                MultiOp::Check { path: s("/m"), version: 1 },
            ]),
        ),
        (
            framed(
                "0000000f 0000000e \
                 | 00000015 00 ffffffff 00000002 2f74 ffffffff 00000000 00000005 00000000000001f4 \
                 | 00000013 00 ffffffff 00000002 2f63 ffffffff 00000000 00000004 \
                 | ffffffff 01 ffffffff",
            ),
            15,
            Request::Multi(vec![
                MultiOp::Create { opcode: OpCode::CreateTtl, req: create_req("/t", None, Some(vec![]), 5, 500) },
                MultiOp::Create { opcode: OpCode::CreateContainer, req: create_req("/c", None, Some(vec![]), 4, -1) },
            ]),
        ),
        // §13.1 empty multi: just the terminator.
        (framed("00000010 0000000e | ffffffff 01 ffffffff"), 16, Request::Multi(vec![])),
        (
            framed(
                "00000011 00000016 \
                 | 00000008 00 ffffffff 00000001 2f 00 \
                 | 00000004 00 ffffffff 00000002 2f61 01 \
                 | ffffffff 01 ffffffff",
            ),
            17,
            Request::MultiRead(vec![
                MultiReadOp::GetChildren { path: s("/"), watch: false },
                MultiReadOp::GetData { path: s("/a"), watch: true },
            ]),
        ),
        (
            framed("00000012 00000010 | 0000000e 7365727665722e323d683a313a32 | ffffffff | 00000000 | ffffffffffffffff"),
            18,
            Request::Reconfig {
                joining: Some(s("server.2=h:1:2")),
                leaving: None,
                new_members: Some(String::new()),
                cur_config_id: -1,
            },
        ),
        (framed("00000013 00000011 | 00000002 2f61 00000002"), 19, Request::CheckWatches { path: s("/a"), watcher_type: 2 }),
        (framed("00000014 00000012 | 00000002 2f61 00000003"), 20, Request::RemoveWatches { path: s("/a"), watcher_type: 3 }),
        (framed("00000015 00000014 | 00000002 2f61"), 21, Request::DeleteContainer { path: s("/a") }),
        // §5.2a auth digest bob:secret, observed.
        (
            hex("00000024 | fffffffc 00000064 | 00000000 00000006 646967657374 0000000a 626f623a736563726574"),
            xid::AUTH,
            Request::Auth { auth_type: 0, scheme: s("digest"), auth: b"bob:secret".to_vec() },
        ),
        (
            framed("fffffff8 00000065 | 0000000000000029 | 00000001 00000002 2f61 | 00000000 | 00000001 00000001 2f"),
            xid::SET_WATCHES,
            Request::SetWatches {
                v2: false,
                watches: SetWatches {
                    relative_zxid: 0x29,
                    data: vec![s("/a")],
                    child: vec![s("/")],
                    ..SetWatches::default()
                },
            },
        ),
        (
            framed(
                "fffffff8 00000069 | 0000000000000001 | 00000000 | 00000000 | 00000000 \
                 | 00000001 00000002 2f70 | 00000001 00000002 2f72",
            ),
            xid::SET_WATCHES,
            Request::SetWatches {
                v2: true,
                watches: SetWatches {
                    relative_zxid: 1,
                    persistent: vec![s("/p")],
                    persistent_recursive: vec![s("/r")],
                    ..SetWatches::default()
                },
            },
        ),
        (framed("00000016 00000066 | 00000002 6162"), 22, Request::Sasl { token: b"ab".to_vec() }),
        (framed("00000017 00000067 | ffffffff"), 23, Request::GetEphemerals { prefix: None }),
        (framed("00000018 00000068 | 00000002 2f61"), 24, Request::GetAllChildrenNumber { path: s("/a") }),
        (framed("00000019 0000006a | 00000002 2f61 00000001"), 25, Request::AddWatch { path: s("/a"), mode: 1 }),
        (framed("0000001a 0000006b"), 26, Request::WhoAmI),
        (framed("0000001b fffffff5"), 27, Request::CloseSession),
    ]
}

#[test]
fn request_frames_encode_to_golden_bytes() {
    for (frame, xid, req) in request_goldens() {
        let mut out = Vec::new();
        encode_request(xid, &req, &mut out);
        assert_eq!(out, frame, "encoding {req:?}");
    }
}

#[test]
fn request_frames_decode_from_golden_bytes() {
    for (frame, xid, req) in request_goldens() {
        let (hdr, rest) = decode_request_header(body_of(&frame)).expect("header");
        assert_eq!(hdr.xid, xid);
        assert_eq!(hdr.opcode, request_opcode(&req) as i32);
        let opcode = OpCode::from_i32(hdr.opcode).expect("known opcode");
        assert_eq!(decode_request(opcode, rest).as_ref(), Ok(&req));
    }
}

/// (frame, request opcode, header, body).
fn reply_goldens() -> Vec<(Vec<u8>, OpCode, ReplyHeader, Option<Response>)> {
    let h = |xid, zxid| ReplyHeader { xid, zxid, err: 0 };
    let ok = h(1, 9);
    let ok_hex = "00000001 0000000000000009 00000000";
    let st = stat();
    vec![
        // §5.2a create /t2 reply, observed.
        (
            hex("00000017 | 00000001 0000000000000009 00000000 | 00000003 2f7432"),
            OpCode::Create,
            ok,
            Some(Response::Create { path: s("/t2") }),
        ),
        // §5.2a create /wx/c1 reply, observed.
        (
            hex("0000001a | 00000005 000000000000002a 00000000 | 00000006 2f77782f6331"),
            OpCode::Create,
            h(5, 0x2a),
            Some(Response::Create { path: s("/wx/c1") }),
        ),
        // §5.2a exists NoNode: header only, observed.
        (
            hex("00000010 | 00000004 0000000000000029 ffffff9b"),
            OpCode::Exists,
            ReplyHeader {
                xid: 4,
                zxid: 0x29,
                err: ErrorCode::NoNode.code(),
            },
            None,
        ),
        // §5.2a auth reply, observed.
        (
            hex("00000010 | fffffffc 0000000000000000 00000000"),
            OpCode::Auth,
            h(xid::AUTH, 0),
            Some(Response::Empty),
        ),
        (
            hex("00000010 | fffffffe 000000000000002a 00000000"),
            OpCode::Ping,
            h(xid::PING, 0x2a),
            Some(Response::Empty),
        ),
        (framed(ok_hex), OpCode::Delete, ok, Some(Response::Empty)),
        (
            framed(&format!("{ok_hex} | 00000002 2f61 {STAT_HEX}")),
            OpCode::Create2,
            ok,
            Some(Response::Create2 {
                path: s("/a"),
                stat: st,
            }),
        ),
        (
            framed(&format!("{ok_hex} | {STAT_HEX}")),
            OpCode::Exists,
            ok,
            Some(Response::Stat(st)),
        ),
        (
            framed(&format!("{ok_hex} | {STAT_HEX}")),
            OpCode::SetData,
            ok,
            Some(Response::Stat(st)),
        ),
        (
            framed(&format!("{ok_hex} | 00000002 6869 {STAT_HEX}")),
            OpCode::GetData,
            ok,
            Some(Response::GetData {
                data: Some(b"hi".to_vec()),
                stat: st,
            }),
        ),
        // Null data stays distinct from empty (digest §7.1).
        (
            framed(&format!("{ok_hex} | ffffffff {STAT_HEX}")),
            OpCode::GetData,
            ok,
            Some(Response::GetData {
                data: None,
                stat: st,
            }),
        ),
        (
            framed(&format!("{ok_hex} | {WORLD_ANYONE_ACL_HEX} {STAT_HEX}")),
            OpCode::GetAcl,
            ok,
            Some(Response::GetAcl {
                acl: Acl::open_unsafe(),
                stat: st,
            }),
        ),
        (
            framed(&format!("{ok_hex} | 00000002 00000001 61 00000001 62")),
            OpCode::GetChildren,
            ok,
            Some(Response::GetChildren {
                children: vec![s("a"), s("b")],
            }),
        ),
        (
            framed(&format!("{ok_hex} | 00000000 {STAT_HEX}")),
            OpCode::GetChildren2,
            ok,
            Some(Response::GetChildren2 {
                children: vec![],
                stat: st,
            }),
        ),
        (
            framed(&format!("{ok_hex} | 00000002 2f61")),
            OpCode::Sync,
            ok,
            Some(Response::Sync { path: s("/a") }),
        ),
        (
            framed(&format!(
                "{ok_hex} \
                 | 00000001 00 00000000 00000004 2f6d2f78 \
                 | 0000000f 00 00000000 00000004 2f6d2f79 {STAT_HEX} \
                 | 00000002 00 00000000 \
                 | 00000005 00 00000000 {STAT_HEX} \
                 | 0000000d 00 00000000 \
                 | ffffffff 01 ffffffff"
            )),
            OpCode::Multi,
            ok,
            Some(Response::Multi(vec![
                MultiResult::Create { path: s("/m/x") },
                MultiResult::Create2 {
                    path: s("/m/y"),
                    stat: st,
                },
                MultiResult::Delete,
                MultiResult::SetData { stat: st },
                MultiResult::Check,
            ])),
        ),
        // §13.2 failure list: 0 / -101 / -2 / -2, header err 0.
        (
            framed(&format!(
                "{ok_hex} \
                 | ffffffff 00 00000000 00000000 \
                 | ffffffff 00 ffffff9b ffffff9b \
                 | ffffffff 00 fffffffe fffffffe \
                 | ffffffff 00 fffffffe fffffffe \
                 | ffffffff 01 ffffffff"
            )),
            OpCode::Multi,
            ok,
            Some(Response::Multi(vec![
                MultiResult::Error(ErrorCode::Ok),
                MultiResult::Error(ErrorCode::NoNode),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
                MultiResult::Error(ErrorCode::RuntimeInconsistency),
            ])),
        ),
        // §13.3 empty multi reply: the terminator only.
        (
            framed(&format!("{ok_hex} | ffffffff 01 ffffffff")),
            OpCode::Multi,
            ok,
            Some(Response::Multi(vec![])),
        ),
        // §13.4 observed shape: getChildren ok, getData ok, getData NoNode.
        (
            framed(&format!(
                "{ok_hex} \
                 | 00000008 00 00000000 00000001 00000001 63 \
                 | 00000004 00 00000000 00000001 64 {STAT_HEX} \
                 | ffffffff 00 ffffff9b ffffff9b \
                 | ffffffff 01 ffffffff"
            )),
            OpCode::MultiRead,
            ok,
            Some(Response::Multi(vec![
                MultiResult::GetChildren {
                    children: vec![s("c")],
                },
                MultiResult::GetData {
                    data: Some(b"d".to_vec()),
                    stat: st,
                },
                MultiResult::Error(ErrorCode::NoNode),
            ])),
        ),
        (
            framed(&format!("{ok_hex} | 00000007")),
            OpCode::GetAllChildrenNumber,
            ok,
            Some(Response::GetAllChildrenNumber(7)),
        ),
        (
            framed(&format!("{ok_hex} | 00000001 00000002 2f65")),
            OpCode::GetEphemerals,
            ok,
            Some(Response::GetEphemerals(vec![s("/e")])),
        ),
        (
            framed(&format!(
                "{ok_hex} | 00000001 00000002 6970 00000009 3132372e302e302e31"
            )),
            OpCode::WhoAmI,
            ok,
            Some(Response::WhoAmI(vec![ClientInfo {
                auth_scheme: s("ip"),
                user: s("127.0.0.1"),
            }])),
        ),
        (
            framed(&format!("{ok_hex} | ffffffff")),
            OpCode::Sasl,
            ok,
            Some(Response::Sasl { token: None }),
        ),
        (
            framed(&format!("{ok_hex} | 00000001 74")),
            OpCode::Sasl,
            ok,
            Some(Response::Sasl {
                token: Some(b"t".to_vec()),
            }),
        ),
        // §6 addWatch: a 4-byte zero body, observed.
        (
            framed(&format!("{ok_hex} | 00000000")),
            OpCode::AddWatch,
            ok,
            Some(Response::ErrorBody(0)),
        ),
        (
            framed(&format!("{ok_hex} | 00000000 {STAT_HEX}")),
            OpCode::Reconfig,
            ok,
            Some(Response::GetData {
                data: Some(vec![]),
                stat: st,
            }),
        ),
        // §6 unknown opcode: Unimplemented with zxid -1, no body.
        (
            hex("00000010 | 00000007 ffffffffffffffff fffffffa"),
            OpCode::Check,
            ReplyHeader {
                xid: 7,
                zxid: -1,
                err: ErrorCode::Unimplemented.code(),
            },
            None,
        ),
    ]
}

#[test]
fn reply_frames_encode_to_golden_bytes() {
    for (frame, _, header, body) in reply_goldens() {
        let mut out = Vec::new();
        encode_reply(&header, body.as_ref(), &mut out);
        assert_eq!(out, frame, "encoding {header:?} {body:?}");
    }
}

#[test]
fn reply_frames_decode_from_golden_bytes() {
    for (frame, opcode, header, body) in reply_goldens() {
        let (hdr, rest) = decode_reply_header(body_of(&frame)).expect("header");
        assert_eq!(hdr, header);
        match body {
            None => assert!(rest.is_empty()),
            Some(b) => assert_eq!(decode_response(opcode, rest), Ok(b)),
        }
    }
}

#[test]
fn notification_golden() {
    // §5.2a, observed from 3.8.0 (zxid -1).
    let frame = hex(
        "00000022 | ffffffff ffffffffffffffff 00000000 | 00000001 00000003 00000006 2f77782f6331",
    );
    let ev = WatcherEvent {
        event_type: EventType::NodeCreated,
        state: STATE_SYNC_CONNECTED,
        path: s("/wx/c1"),
    };
    let mut out = Vec::new();
    encode_notification(-1, &ev, &mut out);
    assert_eq!(out, frame);
    let (hdr, rest) = decode_reply_header(body_of(&frame)).expect("header");
    assert_eq!(
        hdr,
        ReplyHeader {
            xid: xid::NOTIFICATION,
            zxid: -1,
            err: 0
        }
    );
    assert_eq!(decode_watcher_event(rest), Ok(ev));
    assert_eq!(
        decode_watcher_event(&hex("00000005 00000003 00000001 2f")),
        Err(DecodeError::UnknownEventType(5))
    );
}

fn zeros16() -> String {
    "00".repeat(16)
}

#[test]
fn connect_request_golden() {
    // §4.2, observed: 45-byte body with the readOnly byte.
    let z = zeros16();
    let frame = hex(&format!(
        "0000002d 00000000 0000000000000000 00007530 0000000000000000 00000010 {z} 00"
    ));
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0,
        timeout_ms: 30000,
        session_id: 0,
        passwd: vec![0; 16],
        read_only: Some(false),
    };
    let mut out = Vec::new();
    encode_connect_request(&req, &mut out);
    assert_eq!(out, frame);
    assert_eq!(decode_connect_request(body_of(&frame)), Ok(req.clone()));

    // go-zookeeper: 44 bytes, no readOnly byte.
    let legacy = hex(&format!(
        "0000002c 00000000 0000000000000000 00007530 0000000000000000 00000010 {z}"
    ));
    let legacy_req = ConnectRequest {
        read_only: None,
        ..req
    };
    let mut out = Vec::new();
    encode_connect_request(&legacy_req, &mut out);
    assert_eq!(out, legacy);
    assert_eq!(decode_connect_request(body_of(&legacy)), Ok(legacy_req));
}

#[test]
fn connect_response_golden() {
    // §4.2, observed.
    let frame = hex(
        "00000025 00000000 00007530 01000006d19a0000 00000010 b497dcd73181bdd7b2d3ee5c62579c3d 00",
    );
    let passwd: [u8; 16] = hex("b497dcd73181bdd7b2d3ee5c62579c3d")
        .try_into()
        .expect("16 bytes");
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 30000,
        session_id: 0x0100_0006_d19a_0000,
        passwd,
        read_only: Some(false),
    };
    let mut out = Vec::new();
    encode_connect_response(&resp, &mut out);
    assert_eq!(out, frame);
    assert_eq!(decode_connect_response(body_of(&frame)), Ok(resp.clone()));

    // Legacy client: 36-byte body.
    let legacy = hex(
        "00000024 00000000 00007530 01000006d19a0000 00000010 b497dcd73181bdd7b2d3ee5c62579c3d",
    );
    let legacy_resp = ConnectResponse {
        read_only: None,
        ..resp
    };
    let mut out = Vec::new();
    encode_connect_response(&legacy_resp, &mut out);
    assert_eq!(out, legacy);
    assert_eq!(decode_connect_response(body_of(&legacy)), Ok(legacy_resp));

    // Invalid / expired session: still a 16-byte (zero) password.
    let z = zeros16();
    let invalid = hex(&format!(
        "00000025 00000000 00000000 0000000000000000 00000010 {z} 00"
    ));
    let invalid_resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 0,
        session_id: 0,
        passwd: [0; 16],
        read_only: Some(false),
    };
    let mut out = Vec::new();
    encode_connect_response(&invalid_resp, &mut out);
    assert_eq!(out, invalid);
    assert_eq!(decode_connect_response(body_of(&invalid)), Ok(invalid_resp));
}

#[test]
fn connect_response_password_must_be_16_bytes() {
    let body = hex("00000000 00007530 0000000000000001 00000000");
    assert!(matches!(
        decode_connect_response(&body),
        Err(DecodeError::InvalidField(_))
    ));
    let body = hex("00000000 00007530 0000000000000001 ffffffff");
    assert!(matches!(
        decode_connect_response(&body),
        Err(DecodeError::InvalidField(_))
    ));
}

#[test]
fn connect_request_truncations_are_errors() {
    let z = zeros16();
    let body = hex(&format!(
        "00000000 0000000000000000 00007530 0000000000000000 00000010 {z} 01"
    ));
    assert_eq!(
        decode_connect_request(&body).map(|r| r.read_only),
        Ok(Some(true))
    );
    for cut in 0..44 {
        assert_eq!(
            decode_connect_request(&body[..cut]),
            Err(DecodeError::Truncated),
            "cut {cut}"
        );
    }
}

fn multi_body(ops_hex: &str) -> Vec<u8> {
    hex(&format!("{ops_hex} ffffffff 01 ffffffff"))
}

#[test]
fn multi_refuses_foreign_op_types() {
    let get_data = "00000004 00 ffffffff 00000002 2f61 00";
    let delete = "00000002 00 ffffffff 00000002 2f61 ffffffff";
    let delete_container = "00000014 00 ffffffff 00000002 2f61";
    let exists = "00000003 00 ffffffff 00000002 2f61 00";
    let invalid =
        |op, body: &[u8]| matches!(decode_request(op, body), Err(DecodeError::InvalidMulti(_)));
    assert!(invalid(OpCode::Multi, &multi_body(get_data)));
    assert!(invalid(
        OpCode::Multi,
        &multi_body(&format!("{delete} {get_data}"))
    ));
    assert!(invalid(OpCode::Multi, &multi_body(delete_container)));
    assert!(invalid(OpCode::Multi, &multi_body(exists)));
    assert!(invalid(OpCode::MultiRead, &multi_body(delete)));
    assert!(invalid(
        OpCode::MultiRead,
        &multi_body(&format!("{get_data} {delete}"))
    ));
    assert!(invalid(OpCode::MultiRead, &multi_body(exists)));
    // A non-terminating entry of type -1 is not an op either.
    assert!(invalid(
        OpCode::Multi,
        &hex("ffffffff 00 ffffffff ffffffff 01 ffffffff")
    ));
}

#[test]
fn multi_refuses_create_modes_it_cannot_build() {
    let create = |op_type: &str, flags: &str| {
        multi_body(&format!(
            "{op_type} 00 ffffffff 00000002 2f61 00000000 00000000 {flags}"
        ))
    };
    for op_type in ["00000001", "0000000f", "00000013"] {
        // TTL modes without a ttl field (§13.1).
        for flags in ["00000005", "00000006", "00000007", "ffffffff"] {
            assert!(
                matches!(
                    decode_request(OpCode::Multi, &create(op_type, flags)),
                    Err(DecodeError::InvalidMulti(_))
                ),
                "type {op_type} flags {flags}"
            );
        }
        assert!(decode_request(OpCode::Multi, &create(op_type, "00000004")).is_ok());
    }
    // createTTL with a non-TTL mode decodes; ops decides what it becomes.
    let ttl0 = multi_body(
        "00000015 00 ffffffff 00000002 2f61 00000000 00000000 00000000 0000000000000064",
    );
    assert!(decode_request(OpCode::Multi, &ttl0).is_ok());
}

#[test]
fn multi_without_terminator_is_truncated() {
    let body = hex("00000002 00 ffffffff 00000002 2f61 ffffffff");
    assert_eq!(
        decode_request(OpCode::Multi, &body),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decode_request(OpCode::MultiRead, &[]),
        Err(DecodeError::Truncated)
    );
}

#[test]
fn non_request_opcodes_are_unknown() {
    for op in [OpCode::Notification, OpCode::Error, OpCode::CreateSession] {
        assert_eq!(
            decode_request(op, &[]),
            Err(DecodeError::UnknownOpcode(op as i32))
        );
        assert_eq!(
            decode_response(op, &[]),
            Err(DecodeError::UnknownOpcode(op as i32))
        );
    }
}

#[test]
fn trailing_bytes_are_ignored() {
    let body = hex("00000002 2f61 ffffffff | dead beef");
    assert_eq!(
        decode_request(OpCode::Delete, &body),
        Ok(Request::Delete {
            path: s("/a"),
            version: -1
        })
    );
    // Ping and friends carry no record; whatever follows is ignored.
    assert_eq!(decode_request(OpCode::Ping, &body), Ok(Request::Ping));
}

#[test]
fn short_request_bodies_are_truncated() {
    for (frame, _, req) in request_goldens() {
        let (_, rest) = decode_request_header(body_of(&frame)).expect("header");
        let op = request_opcode(&req);
        for cut in 0..rest.len() {
            assert_eq!(
                decode_request(op, &rest[..cut]),
                Err(DecodeError::Truncated),
                "{req:?} cut at {cut}"
            );
        }
    }
}

#[test]
fn null_fields_decode_as_documented() {
    // Null ACL stays None (InvalidACL later); null data stays None.
    let body = hex("00000002 2f61 ffffffff ffffffff 00000000");
    assert_eq!(
        decode_request(OpCode::Create, &body),
        Ok(Request::Create {
            opcode: OpCode::Create,
            req: create_req("/a", None, None, 0, -1)
        })
    );
    // Null SetWatches lists read as empty.
    let body = hex("0000000000000000 ffffffff ffffffff ffffffff");
    assert_eq!(
        decode_request(OpCode::SetWatches, &body),
        Ok(Request::SetWatches {
            v2: false,
            watches: SetWatches::default()
        })
    );
    // Null children vector reads as empty on the client side.
    assert_eq!(
        decode_response(OpCode::GetChildren, &hex("ffffffff")),
        Ok(Response::GetChildren { children: vec![] })
    );
}

#[test]
fn request_header_split() {
    let body = hex("00000001 00000003 aa");
    let (hdr, rest) = decode_request_header(&body).expect("header");
    assert_eq!(hdr, RequestHeader { xid: 1, opcode: 3 });
    assert_eq!(rest, [0xaa]);
    assert_eq!(
        decode_request_header(&hex("00000001 000000")),
        Err(DecodeError::Truncated)
    );
    assert_eq!(
        decode_reply_header(&hex("00000001 0000000000000009 000000")),
        Err(DecodeError::Truncated)
    );
}
