//! The connect handshake records (digest §4.1, §4.2): the first frame in
//! each direction, which carry no Request/ReplyHeader.

use super::jute::{write_frame, JuteReader};
use super::DecodeError;
use crate::proto::messages::{ConnectRequest, ConnectResponse};

/// Decodes a ConnectRequest body. The trailing readOnly byte is optional:
/// its presence marks a readOnly-aware client, whose ConnectResponse must
/// carry the byte too, so `read_only` stays `None` when it is absent.
pub fn decode_connect_request(body: &[u8]) -> Result<ConnectRequest, DecodeError> {
    let mut r = JuteReader::new(body);
    let protocol_version = r.read_i32()?;
    let last_zxid_seen = r.read_i64()?;
    let timeout_ms = r.read_i32()?;
    let session_id = r.read_i64()?;
    let passwd = r.read_buffer()?.unwrap_or_default();
    let read_only = if r.remaining() > 0 {
        Some(r.read_bool()?)
    } else {
        None
    };
    Ok(ConnectRequest {
        protocol_version,
        last_zxid_seen,
        timeout_ms,
        session_id,
        passwd,
        read_only,
    })
}

pub fn encode_connect_request(req: &ConnectRequest, out: &mut Vec<u8>) {
    write_frame(out, |w| {
        w.write_i32(req.protocol_version);
        w.write_i64(req.last_zxid_seen);
        w.write_i32(req.timeout_ms);
        w.write_i64(req.session_id);
        w.write_buffer(Some(&req.passwd));
        if let Some(ro) = req.read_only {
            w.write_bool(ro);
        }
    });
}

/// Decodes a ConnectResponse body. A password that is not exactly 16 bytes
/// is refused, as the C and Rust clients do.
pub fn decode_connect_response(body: &[u8]) -> Result<ConnectResponse, DecodeError> {
    let mut r = JuteReader::new(body);
    let protocol_version = r.read_i32()?;
    let timeout_ms = r.read_i32()?;
    let session_id = r.read_i64()?;
    let passwd: [u8; 16] =
        r.read_buffer_ref()?
            .and_then(|p| p.try_into().ok())
            .ok_or(DecodeError::InvalidField(
                "connect response password is not 16 bytes",
            ))?;
    let read_only = if r.remaining() > 0 {
        Some(r.read_bool()?)
    } else {
        None
    };
    Ok(ConnectResponse {
        protocol_version,
        timeout_ms,
        session_id,
        passwd,
        read_only,
    })
}

/// The readOnly byte is written only when the request carried one (legacy
/// clients get the 36-byte body real ZK sends them).
pub fn encode_connect_response(resp: &ConnectResponse, out: &mut Vec<u8>) {
    write_frame(out, |w| {
        w.write_i32(resp.protocol_version);
        w.write_i32(resp.timeout_ms);
        w.write_i64(resp.session_id);
        w.write_buffer(Some(&resp.passwd));
        if let Some(ro) = resp.read_only {
            w.write_bool(ro);
        }
    });
}
