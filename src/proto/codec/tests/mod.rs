//! Codec tests: golden frames (observed hex from the digest where it gives
//! one, hand-assembled from the record layouts elsewhere), round trips for
//! every Request/Response variant, and a seeded robustness run.

mod golden;
mod robust;
mod roundtrip;

use crate::proto::frame::{split_frame, JUTE_MAX_BUFFER_DEFAULT};
use crate::proto::*;

/// Parses hex written with spaces and `|` separators for readability.
pub(super) fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(u8::is_ascii_hexdigit).collect();
    assert!(
        s.bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b' ' || b == b'|' || b == b'\n'),
        "bad hex {s:?}"
    );
    assert_eq!(digits.len() % 2, 0, "odd hex digit count in {s:?}");
    digits
        .chunks(2)
        .map(|p| {
            let s = std::str::from_utf8(p).expect("ascii");
            u8::from_str_radix(s, 16).expect("hex digit")
        })
        .collect()
}

/// A frame from body hex: prefix computed here.
pub(super) fn framed(body_hex: &str) -> Vec<u8> {
    let body = hex(body_hex);
    let mut f = (body.len() as i32).to_be_bytes().to_vec();
    f.extend(body);
    f
}

/// The body of a complete single frame (asserting it is exactly one).
pub(super) fn body_of(frame: &[u8]) -> &[u8] {
    match split_frame(frame, JUTE_MAX_BUFFER_DEFAULT) {
        Ok(Some((n, body))) => {
            assert_eq!(n, frame.len(), "trailing bytes after the frame");
            body
        }
        other => panic!("not one complete frame: {other:?}"),
    }
}

/// A stat with every field distinct, so a swapped field shows.
pub(super) fn stat() -> Stat {
    Stat {
        czxid: 1,
        mzxid: 2,
        ctime: 3,
        mtime: 4,
        version: 5,
        cversion: 6,
        aversion: 7,
        ephemeral_owner: 8,
        data_length: 9,
        num_children: 10,
        pzxid: 11,
    }
}

pub(super) const STAT_HEX: &str =
    "0000000000000001 0000000000000002 0000000000000003 0000000000000004 \
     00000005 00000006 00000007 0000000000000008 00000009 0000000a 000000000000000b";

pub(super) fn create_req(
    path: &str,
    data: Option<&[u8]>,
    acl: Option<Vec<Acl>>,
    flags: i32,
    ttl: i64,
) -> CreateRequest {
    CreateRequest {
        path: path.to_owned(),
        data: data.map(<[u8]>::to_vec),
        acl,
        flags,
        ttl,
    }
}
