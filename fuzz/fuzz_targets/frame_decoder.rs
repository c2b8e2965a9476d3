//! Feeds arbitrary bytes to every client-protocol decoder: the frame
//! splitter, the connect records, request and reply headers, each opcode's
//! request and response record, and watcher events. A decoder may refuse
//! any input, but must not panic, and whatever it accepts must come back
//! unchanged through encode -> decode.
//!
//! Run: `RUSTC_BOOTSTRAP=1 cargo fuzz run frame_decoder` from the repo root.

#![no_main]

use libfuzzer_sys::fuzz_target;
use roost::proto::codec::*;
use roost::proto::frame::{split_frame, FRAME_PREFIX_LEN, JUTE_MAX_BUFFER_DEFAULT};
use roost::proto::OpCode;

/// Every opcode value the wire can carry, valid as a request or not.
const OPCODE_VALUES: [i32; 33] = [
    0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 100, 101, 102,
    103, 104, 105, 106, 107, -10, -11, -1,
];

/// The body of a frame this codec just wrote.
fn own_body(frame: &[u8]) -> &[u8] {
    match split_frame(frame, usize::MAX) {
        Ok(Some((n, body))) if n == frame.len() => body,
        other => panic!("codec wrote a malformed frame: {other:?}"),
    }
}

fn check_requests(body: &[u8]) {
    let Ok((hdr, rest)) = decode_request_header(body) else {
        return;
    };
    for op in OPCODE_VALUES.iter().filter_map(|v| OpCode::from_i32(*v)) {
        let Ok(req) = decode_request(op, rest) else {
            continue;
        };
        let mut out = Vec::new();
        encode_request(hdr.xid, &req, &mut out);
        let (hdr2, again) = decode_request_header(own_body(&out)).expect("own header");
        assert_eq!(hdr2.xid, hdr.xid);
        assert_eq!(
            decode_request(request_opcode(&req), again).as_ref(),
            Ok(&req)
        );
    }
}

fn check_replies(body: &[u8]) {
    let Ok((hdr, rest)) = decode_reply_header(body) else {
        return;
    };
    for op in OPCODE_VALUES.iter().filter_map(|v| OpCode::from_i32(*v)) {
        let Ok(resp) = decode_response(op, rest) else {
            continue;
        };
        let mut out = Vec::new();
        encode_reply(&hdr, Some(&resp), &mut out);
        let (hdr2, again) = decode_reply_header(own_body(&out)).expect("own header");
        assert_eq!(hdr2, hdr);
        assert_eq!(decode_response(op, again).as_ref(), Ok(&resp));
    }
    if let Ok(ev) = decode_watcher_event(rest) {
        let mut out = Vec::new();
        encode_notification(hdr.zxid, &ev, &mut out);
        let (_, again) = decode_reply_header(own_body(&out)).expect("own header");
        assert_eq!(decode_watcher_event(again).as_ref(), Ok(&ev));
    }
}

fn check_connect(body: &[u8]) {
    if let Ok(req) = decode_connect_request(body) {
        let mut out = Vec::new();
        encode_connect_request(&req, &mut out);
        assert_eq!(decode_connect_request(own_body(&out)).as_ref(), Ok(&req));
    }
    if let Ok(resp) = decode_connect_response(body) {
        let mut out = Vec::new();
        encode_connect_response(&resp, &mut out);
        assert_eq!(decode_connect_response(own_body(&out)).as_ref(), Ok(&resp));
    }
}

fuzz_target!(|data: &[u8]| {
    // The splitter first, as the server sees the stream.
    if let Ok(Some((n, body))) = split_frame(data, JUTE_MAX_BUFFER_DEFAULT) {
        assert!(n <= data.len());
        assert_eq!(body.len() + FRAME_PREFIX_LEN, n);
    }
    // Then every decoder on the bytes after a would-be prefix, so inputs
    // need not carry a consistent length to reach the record decoders.
    let body = data.get(FRAME_PREFIX_LEN..).unwrap_or(data);
    check_connect(body);
    check_requests(body);
    check_replies(body);
});
