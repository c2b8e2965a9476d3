//! encode -> decode gives back the same value, for every Request and
//! Response variant (the variant lists are checked for completeness).

use super::*;
use crate::proto::codec::*;

fn s(v: &str) -> String {
    v.to_owned()
}

fn sample_requests() -> Vec<Request> {
    let acl = Some(vec![
        Acl {
            perms: perms::ALL,
            id: Id::new("world", "anyone"),
        },
        Acl {
            perms: perms::READ | perms::ADMIN,
            id: Id::new("digest", "bob:xyz="),
        },
    ]);
    let mut reqs = vec![];
    for opcode in [OpCode::Create, OpCode::Create2, OpCode::CreateContainer] {
        reqs.push(Request::Create {
            opcode,
            req: create_req("/n\u{e9}", Some(b"\x00\xff"), acl.clone(), 2, -1),
        });
        reqs.push(Request::Create {
            opcode,
            req: create_req("/a", None, None, 0, -1),
        });
    }
    reqs.push(Request::Create {
        opcode: OpCode::CreateTtl,
        req: create_req("/t", Some(b""), Some(vec![]), 6, 1 << 39),
    });
    reqs.extend([
        Request::Delete {
            path: s("/a"),
            version: 7,
        },
        Request::Exists {
            path: s("/a"),
            watch: true,
        },
        Request::GetData {
            path: s("/a"),
            watch: false,
        },
        Request::SetData {
            path: s("/a"),
            data: None,
            version: -1,
        },
        Request::SetData {
            path: s("/a"),
            data: Some(vec![1; 300]),
            version: i32::MAX,
        },
        Request::GetAcl { path: s("/") },
        Request::SetAcl {
            path: s("/a"),
            acl: acl.clone(),
            version: 0,
        },
        Request::SetAcl {
            path: s("/a"),
            acl: None,
            version: -1,
        },
        Request::GetChildren {
            path: s("/a"),
            watch: true,
        },
        Request::GetChildren2 {
            path: s("/a"),
            watch: true,
        },
        Request::Sync { path: s("/nope") },
        Request::Ping,
        Request::Check {
            path: s("/a"),
            version: 3,
        },
        Request::Multi(vec![]),
        Request::Multi(vec![
            MultiOp::Create {
                opcode: OpCode::Create,
                req: create_req("/m", None, acl.clone(), 3, -1),
            },
            MultiOp::Create {
                opcode: OpCode::Create2,
                req: create_req("/m2", Some(b"x"), acl.clone(), 0, -1),
            },
            MultiOp::Create {
                opcode: OpCode::CreateContainer,
                req: create_req("/m3", None, None, 4, -1),
            },
            MultiOp::Create {
                opcode: OpCode::CreateTtl,
                req: create_req("/m4", None, None, 5, 10),
            },
            MultiOp::Delete {
                path: s("/m"),
                version: 0,
            },
            MultiOp::SetData {
                path: s("/m"),
                data: None,
                version: -1,
            },
            MultiOp::Check {
                path: s("/m"),
                version: 2,
            },
        ]),
        Request::MultiRead(vec![]),
        Request::MultiRead(vec![
            MultiReadOp::GetData {
                path: s("/a"),
                watch: false,
            },
            MultiReadOp::GetChildren {
                path: s("/b"),
                watch: true,
            },
        ]),
        Request::Reconfig {
            joining: None,
            leaving: Some(s("2,3")),
            new_members: None,
            cur_config_id: 0x1_0000_0005,
        },
        Request::CheckWatches {
            path: s("/a"),
            watcher_type: 9,
        },
        Request::RemoveWatches {
            path: s("/a"),
            watcher_type: 1,
        },
        Request::DeleteContainer { path: s("/c") },
        Request::Auth {
            auth_type: 0,
            scheme: s("ip"),
            auth: vec![],
        },
        Request::SetWatches {
            v2: false,
            watches: SetWatches {
                relative_zxid: 5,
                data: vec![s("/a")],
                exist: vec![s("/b")],
                child: vec![s("/c")],
                ..SetWatches::default()
            },
        },
        Request::SetWatches {
            v2: true,
            watches: SetWatches {
                relative_zxid: -1,
                data: vec![s("/a"), s("/a2")],
                exist: vec![],
                child: vec![s("/c")],
                persistent: vec![s("/p")],
                persistent_recursive: vec![s("/")],
            },
        },
        Request::Sasl {
            token: b"token".to_vec(),
        },
        Request::GetEphemerals { prefix: None },
        Request::GetEphemerals {
            prefix: Some(s("/e")),
        },
        Request::GetAllChildrenNumber { path: s("/") },
        Request::AddWatch {
            path: s("/w"),
            mode: 0,
        },
        Request::WhoAmI,
        Request::CloseSession,
    ]);
    reqs
}

/// Exhaustive over `Request`, so a new variant fails to compile here until
/// it gets a sample.
fn request_variant(r: &Request) -> usize {
    match r {
        Request::Create { .. } => 0,
        Request::Delete { .. } => 1,
        Request::Exists { .. } => 2,
        Request::GetData { .. } => 3,
        Request::SetData { .. } => 4,
        Request::GetAcl { .. } => 5,
        Request::SetAcl { .. } => 6,
        Request::GetChildren { .. } => 7,
        Request::GetChildren2 { .. } => 8,
        Request::Sync { .. } => 9,
        Request::Ping => 10,
        Request::Check { .. } => 11,
        Request::Multi(_) => 12,
        Request::MultiRead(_) => 13,
        Request::Reconfig { .. } => 14,
        Request::CheckWatches { .. } => 15,
        Request::RemoveWatches { .. } => 16,
        Request::DeleteContainer { .. } => 17,
        Request::Auth { .. } => 18,
        Request::SetWatches { .. } => 19,
        Request::Sasl { .. } => 20,
        Request::GetEphemerals { .. } => 21,
        Request::GetAllChildrenNumber { .. } => 22,
        Request::AddWatch { .. } => 23,
        Request::WhoAmI => 24,
        Request::CloseSession => 25,
    }
}
const REQUEST_VARIANTS: usize = 26;

#[test]
fn every_request_round_trips() {
    let reqs = sample_requests();
    let mut seen = [false; REQUEST_VARIANTS];
    for (i, req) in reqs.iter().enumerate() {
        seen[request_variant(req)] = true;
        let xid = i as i32 * 1000 - 3;
        let mut out = Vec::new();
        encode_request(xid, req, &mut out);
        let (hdr, rest) = decode_request_header(body_of(&out)).expect("header");
        assert_eq!(hdr.xid, xid);
        let op = OpCode::from_i32(hdr.opcode).expect("opcode");
        assert_eq!(op, request_opcode(req));
        assert_eq!(decode_request(op, rest).as_ref(), Ok(req));
    }
    assert!(
        seen.iter().all(|s| *s),
        "a Request variant has no sample: {seen:?}"
    );
}

#[test]
fn requests_batch_into_one_buffer() {
    let reqs = sample_requests();
    let mut out = Vec::new();
    for (i, req) in reqs.iter().enumerate() {
        encode_request(i as i32, req, &mut out);
    }
    let mut buf = &out[..];
    let mut decoded = Vec::new();
    while let Ok(Some((n, body))) = split_frame(buf, JUTE_MAX_BUFFER_DEFAULT) {
        let (hdr, rest) = decode_request_header(body).expect("header");
        let op = OpCode::from_i32(hdr.opcode).expect("opcode");
        decoded.push(decode_request(op, rest).expect("request"));
        buf = &buf[n..];
    }
    assert!(buf.is_empty());
    assert_eq!(decoded, reqs);
}

fn sample_responses() -> Vec<(OpCode, Response)> {
    let st = stat();
    let big = Stat {
        czxid: i64::MAX,
        ephemeral_owner: i64::MIN,
        num_children: -1,
        ..st
    };
    vec![
        (OpCode::Delete, Response::Empty),
        (OpCode::Ping, Response::Empty),
        (OpCode::SetWatches2, Response::Empty),
        (OpCode::CloseSession, Response::Empty),
        (
            OpCode::Create,
            Response::Create {
                path: s("/a0000000001"),
            },
        ),
        (
            OpCode::Create2,
            Response::Create2 {
                path: s("/a"),
                stat: st,
            },
        ),
        (
            OpCode::CreateContainer,
            Response::Create2 {
                path: s("/c"),
                stat: big,
            },
        ),
        (
            OpCode::CreateTtl,
            Response::Create2 {
                path: s("/t"),
                stat: st,
            },
        ),
        (OpCode::Exists, Response::Stat(big)),
        (OpCode::SetAcl, Response::Stat(st)),
        (
            OpCode::GetData,
            Response::GetData {
                data: None,
                stat: st,
            },
        ),
        (
            OpCode::GetData,
            Response::GetData {
                data: Some(vec![0; 1000]),
                stat: st,
            },
        ),
        (
            OpCode::Reconfig,
            Response::GetData {
                data: Some(b"server.1=a:1:2".to_vec()),
                stat: st,
            },
        ),
        (
            OpCode::GetAcl,
            Response::GetAcl {
                acl: Acl::read_unsafe(),
                stat: st,
            },
        ),
        (
            OpCode::GetChildren,
            Response::GetChildren {
                children: vec![s("x"), s("\u{2603}")],
            },
        ),
        (
            OpCode::GetChildren2,
            Response::GetChildren2 {
                children: vec![s("x")],
                stat: st,
            },
        ),
        (OpCode::Sync, Response::Sync { path: s("/") }),
        (
            OpCode::Multi,
            Response::Multi(vec![
                MultiResult::Create { path: s("/a") },
                MultiResult::Create2 {
                    path: s("/b"),
                    stat: st,
                },
                MultiResult::Delete,
                MultiResult::SetData { stat: big },
                MultiResult::Check,
                MultiResult::Error(ErrorCode::BadVersion),
            ]),
        ),
        (
            OpCode::MultiRead,
            Response::Multi(vec![
                MultiResult::GetChildren { children: vec![] },
                MultiResult::GetData {
                    data: None,
                    stat: st,
                },
                MultiResult::Error(ErrorCode::NoAuth),
            ]),
        ),
        (
            OpCode::GetAllChildrenNumber,
            Response::GetAllChildrenNumber(123_456),
        ),
        (
            OpCode::GetEphemerals,
            Response::GetEphemerals(vec![s("/e1"), s("/e2")]),
        ),
        (
            OpCode::WhoAmI,
            Response::WhoAmI(vec![
                ClientInfo {
                    auth_scheme: s("ip"),
                    user: s("10.0.0.1"),
                },
                ClientInfo {
                    auth_scheme: s("digest"),
                    user: s("bob"),
                },
            ]),
        ),
        (OpCode::Sasl, Response::Sasl { token: None }),
        (
            OpCode::Sasl,
            Response::Sasl {
                token: Some(vec![9, 8]),
            },
        ),
        (OpCode::AddWatch, Response::ErrorBody(0)),
    ]
}

fn response_variant(r: &Response) -> usize {
    match r {
        Response::Empty => 0,
        Response::Create { .. } => 1,
        Response::Create2 { .. } => 2,
        Response::Stat(_) => 3,
        Response::GetData { .. } => 4,
        Response::GetAcl { .. } => 5,
        Response::GetChildren { .. } => 6,
        Response::GetChildren2 { .. } => 7,
        Response::Sync { .. } => 8,
        Response::Multi(_) => 9,
        Response::GetAllChildrenNumber(_) => 10,
        Response::GetEphemerals(_) => 11,
        Response::WhoAmI(_) => 12,
        Response::Sasl { .. } => 13,
        Response::ErrorBody(_) => 14,
    }
}
const RESPONSE_VARIANTS: usize = 15;

fn multi_result_variant(r: &MultiResult) -> usize {
    match r {
        MultiResult::Create { .. } => 0,
        MultiResult::Create2 { .. } => 1,
        MultiResult::Delete => 2,
        MultiResult::SetData { .. } => 3,
        MultiResult::Check => 4,
        MultiResult::GetChildren { .. } => 5,
        MultiResult::GetData { .. } => 6,
        MultiResult::Error(_) => 7,
    }
}
const MULTI_RESULT_VARIANTS: usize = 8;

#[test]
fn every_response_round_trips() {
    let mut seen = [false; RESPONSE_VARIANTS];
    let mut seen_multi = [false; MULTI_RESULT_VARIANTS];
    for (i, (op, resp)) in sample_responses().into_iter().enumerate() {
        seen[response_variant(&resp)] = true;
        if let Response::Multi(results) = &resp {
            for r in results {
                seen_multi[multi_result_variant(r)] = true;
            }
        }
        let header = ReplyHeader {
            xid: i as i32,
            zxid: (i as i64) << 32,
            err: 0,
        };
        let mut out = Vec::new();
        encode_reply(&header, Some(&resp), &mut out);
        let (hdr, rest) = decode_reply_header(body_of(&out)).expect("header");
        assert_eq!(hdr, header);
        assert_eq!(decode_response(op, rest), Ok(resp));
    }
    assert!(
        seen.iter().all(|s| *s),
        "a Response variant has no sample: {seen:?}"
    );
    assert!(
        seen_multi.iter().all(|s| *s),
        "a MultiResult variant has no sample: {seen_multi:?}"
    );
}

#[test]
fn error_replies_have_no_body() {
    let header = ReplyHeader {
        xid: 3,
        zxid: 77,
        err: ErrorCode::NodeExists.code(),
    };
    let mut out = Vec::new();
    encode_reply(&header, None, &mut out);
    assert_eq!(out.len(), 4 + REPLY_HEADER_LEN);
    assert_eq!(decode_reply_header(body_of(&out)), Ok((header, &[][..])));
}

#[test]
fn notifications_round_trip() {
    for (i, event_type) in [
        EventType::NodeCreated,
        EventType::NodeDeleted,
        EventType::NodeDataChanged,
        EventType::NodeChildrenChanged,
    ]
    .into_iter()
    .enumerate()
    {
        let ev = WatcherEvent {
            event_type,
            state: STATE_SYNC_CONNECTED,
            path: format!("/w/{i}"),
        };
        let mut out = Vec::new();
        encode_notification(0x5_0000_0001, &ev, &mut out);
        let (hdr, rest) = decode_reply_header(body_of(&out)).expect("header");
        assert_eq!(
            hdr,
            ReplyHeader {
                xid: -1,
                zxid: 0x5_0000_0001,
                err: 0
            }
        );
        assert_eq!(decode_watcher_event(rest), Ok(ev));
    }
}

#[test]
fn connect_records_round_trip() {
    let req = ConnectRequest {
        protocol_version: 0,
        last_zxid_seen: 0x2_0000_0010,
        timeout_ms: 4000,
        session_id: 0x0100_0000_0000_0001,
        passwd: (0u8..16).collect(),
        read_only: Some(true),
    };
    let mut out = Vec::new();
    encode_connect_request(&req, &mut out);
    assert_eq!(decode_connect_request(body_of(&out)), Ok(req));
    let resp = ConnectResponse {
        protocol_version: 0,
        timeout_ms: 4000,
        session_id: 0x0100_0000_0000_0001,
        passwd: [7; 16],
        read_only: Some(true),
    };
    let mut out = Vec::new();
    encode_connect_response(&resp, &mut out);
    assert_eq!(decode_connect_response(body_of(&out)), Ok(resp));
}
