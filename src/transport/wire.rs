//! The peer wire format: the handshake record and frame encoding/parsing.
//! Pure functions, no I/O; the format itself is specified in the module doc
//! of [`crate::transport`].

/// First four bytes of every handshake record, in both directions.
pub const HANDSHAKE_MAGIC: [u8; 4] = *b"ROST";
/// The only protocol version this build speaks; a handshake with another
/// version is refused.
pub const PROTOCOL_VERSION: u16 = 2;
/// Size of a handshake record: magic(4) version(2) sender(8) receiver(8) tag(8).
pub const HELLO_BYTES: usize = 30;
/// The connector's opening: its hello and its nonce.
pub const OPENING_BYTES: usize = HELLO_BYTES + super::auth::NONCE_BYTES;
/// The acceptor's answer: its hello, its nonce and its proof.
pub const ANSWER_BYTES: usize = HELLO_BYTES + super::auth::NONCE_BYTES + super::auth::PROOF_BYTES;
/// The part of the answer its proof covers (hello and nonce).
pub const ANSWER_SIGNED_BYTES: usize = HELLO_BYTES + super::auth::NONCE_BYTES;
/// Size of a frame's length prefix.
pub const FRAME_HEADER_BYTES: usize = 4;
/// Size of a frame's kind byte (counted in the length prefix).
pub const FRAME_KIND_BYTES: usize = 1;

/// The handshake record. The connector sends one naming itself as sender
/// and the member it meant to reach as receiver; the acceptor answers with
/// its own, sender and receiver swapped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hello {
    pub version: u16,
    pub sender: u64,
    pub receiver: u64,
    pub cluster_tag: u64,
}

impl Hello {
    pub fn new(sender: u64, receiver: u64, cluster_tag: u64) -> Hello {
        Hello {
            version: PROTOCOL_VERSION,
            sender,
            receiver,
            cluster_tag,
        }
    }

    pub fn encode(&self) -> [u8; HELLO_BYTES] {
        let mut out = [0u8; HELLO_BYTES];
        out[0..4].copy_from_slice(&HANDSHAKE_MAGIC);
        out[4..6].copy_from_slice(&self.version.to_le_bytes());
        out[6..14].copy_from_slice(&self.sender.to_le_bytes());
        out[14..22].copy_from_slice(&self.receiver.to_le_bytes());
        out[22..30].copy_from_slice(&self.cluster_tag.to_le_bytes());
        out
    }

    /// Decodes a record; only the magic is checked here (the version and
    /// ids are the caller's policy). `None` for a wrong magic.
    pub fn decode(bytes: &[u8; HELLO_BYTES]) -> Option<Hello> {
        if bytes[0..4] != HANDSHAKE_MAGIC {
            return None;
        }
        let u64_at = |at: usize| {
            let mut b = [0u8; 8];
            b.copy_from_slice(&bytes[at..at + 8]);
            u64::from_le_bytes(b)
        };
        Some(Hello {
            version: u16::from_le_bytes([bytes[4], bytes[5]]),
            sender: u64_at(6),
            receiver: u64_at(14),
            cluster_tag: u64_at(22),
        })
    }
}

/// Bytes a frame with a body of `body_len` bytes takes on the wire.
pub fn frame_wire_bytes(body_len: usize) -> usize {
    FRAME_HEADER_BYTES + FRAME_KIND_BYTES + body_len
}

/// Appends one frame. The caller has checked that `kind + body` fits the
/// length prefix (the transport caps frames far below `u32::MAX`).
pub fn encode_frame(out: &mut Vec<u8>, kind: u8, body: &[u8]) {
    let len = (FRAME_KIND_BYTES + body.len()) as u32;
    out.reserve(frame_wire_bytes(body.len()));
    out.extend_from_slice(&len.to_le_bytes());
    out.push(kind);
    out.extend_from_slice(body);
}

/// Why a byte stream is not a valid frame sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("zero-length frame (no kind byte)")]
    Empty,
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLarge { len: usize, max: usize },
}

/// A complete frame at the front of a buffer.
/// A value borrowing the peer transport's read buffer (consensus executor); no executor owns it.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedFrame<'a> {
    pub kind: u8,
    pub body: &'a [u8],
    /// Bytes of the buffer this frame used, prefix included.
    pub consumed: usize,
}

/// What is at the front of `buf`.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse<'a> {
    Frame(ParsedFrame<'a>),
    /// More bytes are needed; `frame_bytes` is the whole frame's size on the
    /// wire once the prefix is known (so the reader can size its next read).
    Incomplete {
        frame_bytes: Option<usize>,
    },
}

/// Parses the first frame of `buf`. `len_max` bounds the length prefix
/// (kind + body); it is checked as soon as the prefix is in, before the
/// body arrives, so an oversize frame is never buffered.
pub fn parse_frame(buf: &[u8], len_max: usize) -> Result<Parse<'_>, FrameError> {
    if buf.len() < FRAME_HEADER_BYTES {
        return Ok(Parse::Incomplete { frame_bytes: None });
    }
    let len = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize;
    if len == 0 {
        return Err(FrameError::Empty);
    }
    if len > len_max {
        return Err(FrameError::TooLarge { len, max: len_max });
    }
    let total = FRAME_HEADER_BYTES + len;
    if buf.len() < total {
        return Ok(Parse::Incomplete {
            frame_bytes: Some(total),
        });
    }
    Ok(Parse::Frame(ParsedFrame {
        kind: buf[FRAME_HEADER_BYTES],
        body: &buf[FRAME_HEADER_BYTES + FRAME_KIND_BYTES..total],
        consumed: total,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_round_trips_and_rejects_bad_magic() {
        let h = Hello::new(3, 7, 0xdead_beef_0000_0001);
        let bytes = h.encode();
        assert_eq!(&bytes[..4], b"ROST");
        assert_eq!(Hello::decode(&bytes), Some(h));
        let mut bad = bytes;
        bad[0] = b'X';
        assert_eq!(Hello::decode(&bad), None);
        // Layout is little-endian at fixed offsets.
        assert_eq!(&bytes[4..6], &PROTOCOL_VERSION.to_le_bytes());
        assert_eq!(&bytes[6..14], &3u64.to_le_bytes());
        assert_eq!(&bytes[14..22], &7u64.to_le_bytes());
    }

    #[test]
    fn frames_encode_and_parse_back_to_back() {
        let mut buf = Vec::new();
        encode_frame(&mut buf, 9, b"hello");
        encode_frame(&mut buf, 0, b"");
        assert_eq!(&buf[..5], &[6, 0, 0, 0, 9]);
        let Parse::Frame(f) = parse_frame(&buf, 100).unwrap() else {
            panic!("first frame")
        };
        assert_eq!((f.kind, f.body, f.consumed), (9, &b"hello"[..], 10));
        let Parse::Frame(g) = parse_frame(&buf[10..], 100).unwrap() else {
            panic!("second frame")
        };
        assert_eq!((g.kind, g.body, g.consumed), (0, &b""[..], 5));
        assert_eq!(
            parse_frame(&buf[..7], 100).unwrap(),
            Parse::Incomplete {
                frame_bytes: Some(10)
            }
        );
        assert_eq!(
            parse_frame(&buf[..3], 100).unwrap(),
            Parse::Incomplete { frame_bytes: None }
        );
    }

    #[test]
    fn bad_prefixes_are_errors_not_panics() {
        assert_eq!(parse_frame(&[0, 0, 0, 0, 1], 10), Err(FrameError::Empty));
        assert_eq!(
            parse_frame(&[11, 0, 0, 0], 10),
            Err(FrameError::TooLarge { len: 11, max: 10 })
        );
        assert_eq!(
            parse_frame(&[0xff, 0xff, 0xff, 0xff], usize::MAX),
            Ok(Parse::Incomplete {
                frame_bytes: Some(FRAME_HEADER_BYTES + u32::MAX as usize)
            })
        );
    }
}
