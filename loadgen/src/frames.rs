//! Request frames, encoded once with the project codec and reused.
//!
//! Every getData/setData a run sends differs from another on the same key
//! only in its xid, so the frames are encoded up front with
//! [`roost::proto::codec::encode_request`] and the worker copies one into
//! its write buffer and patches the 4 xid bytes. That keeps the hot path
//! free of allocation and of re-encoding, which is part of making sure the
//! generator is never the bottleneck. Values too large to cache for every
//! key (see [`FRAME_CACHE_BYTES_MAX`]) are encoded per request instead.
//!
//! Shared read-only by all worker threads behind an `Arc` (no locks).

use roost::proto::codec::{encode_request, REQUEST_HEADER_LEN};
use roost::proto::frame::FRAME_PREFIX_LEN;
use roost::proto::{Request, Xid};

use crate::workload::OpKind;

/// The most memory the cached setData frames may take; larger workloads
/// (many keys times large values) encode setData per request.
pub const FRAME_CACHE_BYTES_MAX: usize = 256 << 20;

/// Where the xid sits in an encoded request frame: right after the length.
const XID_OFFSET: usize = FRAME_PREFIX_LEN;
const _: () = assert!(REQUEST_HEADER_LEN == 8, "RequestHeader is xid then type");

/// The znode path for key `index` under `root`.
pub fn key_path(root: &str, index: u64) -> String {
    format!("{root}/k{index:07}")
}

/// The value written to every key: deterministic bytes, so runs are
/// comparable, that are not all one byte (no server compresses, but a
/// pattern makes a truncated reply obvious in a packet capture).
pub fn value_bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| b'a' + (i % 26) as u8).collect()
}

/// The request frames for every key.
pub struct Frames {
    root: String,
    value: Vec<u8>,
    get: Vec<Box<[u8]>>,
    /// Empty when the cache would exceed [`FRAME_CACHE_BYTES_MAX`].
    set: Vec<Box<[u8]>>,
}

impl Frames {
    pub fn new(root: &str, znodes: u64, value_size: usize) -> Frames {
        let value = value_bytes(value_size);
        let encode = |req: &Request| {
            let mut out = Vec::new();
            encode_request(0, req, &mut out);
            out.into_boxed_slice()
        };
        let get = (0..znodes)
            .map(|k| {
                encode(&Request::GetData {
                    path: key_path(root, k),
                    watch: false,
                })
            })
            .collect();
        // Path, value and ~30 bytes of header and lengths per frame.
        let set_bytes = (znodes as usize).saturating_mul(value_size + root.len() + 40);
        let set = if set_bytes <= FRAME_CACHE_BYTES_MAX {
            (0..znodes)
                .map(|k| encode(&set_request(root, k, &value)))
                .collect()
        } else {
            Vec::new()
        };
        Frames {
            root: root.to_owned(),
            value,
            get,
            set,
        }
    }

    /// Appends the request frame for (`kind`, `key`) with `xid` to `out`.
    pub fn append(&self, kind: OpKind, key: u64, xid: Xid, out: &mut Vec<u8>) {
        let at = out.len();
        let cached = match kind {
            OpKind::Get => self.get.get(key as usize),
            OpKind::Set => self.set.get(key as usize),
        };
        match cached {
            Some(frame) => out.extend_from_slice(frame),
            None => encode_request(0, &set_request(&self.root, key, &self.value), out),
        }
        out[at + XID_OFFSET..at + XID_OFFSET + 4].copy_from_slice(&xid.to_be_bytes());
    }
}

fn set_request(root: &str, key: u64, value: &[u8]) -> Request {
    Request::SetData {
        path: key_path(root, key),
        data: Some(value.to_vec()),
        version: -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roost::proto::codec::{decode_request, decode_request_header};
    use roost::proto::frame::split_frame;
    use roost::proto::OpCode;

    fn decode(frame: &[u8]) -> (Xid, Request) {
        let (_, body) = split_frame(frame, 1 << 20).unwrap().unwrap();
        let (hdr, rest) = decode_request_header(body).unwrap();
        let op = OpCode::from_i32(hdr.opcode).unwrap();
        (hdr.xid, decode_request(op, rest).unwrap())
    }

    #[test]
    fn patched_frames_decode_with_their_xid() {
        let f = Frames::new("/r", 3, 5);
        let mut out = Vec::new();
        f.append(OpKind::Get, 2, 77, &mut out);
        assert_eq!(
            decode(&out),
            (
                77,
                Request::GetData {
                    path: "/r/k0000002".into(),
                    watch: false
                }
            )
        );
        out.clear();
        f.append(OpKind::Set, 1, i32::MAX, &mut out);
        assert_eq!(
            decode(&out),
            (
                i32::MAX,
                Request::SetData {
                    path: "/r/k0000001".into(),
                    data: Some(b"abcde".to_vec()),
                    version: -1
                }
            )
        );
    }

    #[test]
    fn uncached_sets_encode_the_same() {
        let cached = Frames::new("/r", 2, 8);
        let mut uncached = Frames::new("/r", 2, 8);
        uncached.set.clear();
        let (mut a, mut b) = (Vec::new(), Vec::new());
        cached.append(OpKind::Set, 1, 5, &mut a);
        uncached.append(OpKind::Set, 1, 5, &mut b);
        assert_eq!(a, b);
    }
}
