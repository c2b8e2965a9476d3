//! The jute codec for the client port, both directions (digest §2-§6, §13).
//!
//! Owns the byte layout of every client-protocol record: the connect
//! handshake, request and reply headers, each opcode's request and response
//! records, multi/multiRead bodies and watch notifications. The server uses
//! the decode-request / encode-reply half; the load generator and shell use
//! the encode-request / decode-reply half, so both halves are tested against
//! each other and against frames observed from real ZooKeeper.
//!
//! Decoders take a frame *body* (the bytes after the 4-byte length, see
//! [`crate::proto::frame::split_frame`]); every `encode_*` appends one
//! complete length-prefixed frame. Decoding never panics and never allocates
//! more than the input can back: a bad frame is a [`DecodeError`], and what
//! that means for the connection is the caller's decision.

mod connect;
mod jute;
mod records;
mod reply;
mod request;

#[cfg(test)]
mod tests;

pub use connect::{
    decode_connect_request, decode_connect_response, encode_connect_request,
    encode_connect_response,
};
pub use jute::{write_frame, JuteReader, JuteWriter};
pub use records::{read_acl_vec, read_stat, write_acl_vec, write_stat, STAT_LEN};
pub use reply::{
    decode_reply_header, decode_response, decode_watcher_event, encode_notification, encode_reply,
    REPLY_HEADER_LEN,
};
pub use request::{
    decode_request, decode_request_header, encode_request, request_opcode, REQUEST_HEADER_LEN,
};

/// Why a frame body could not be decoded.
#[derive(thiserror::Error, Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// A field, or a length/count, runs past the end of the body.
    #[error("record truncated: a field runs past the end of the frame")]
    Truncated,
    /// A buffer, string or vector length below -1 (-1 is null).
    #[error("negative length {0}")]
    NegativeLength(i32),
    /// An opcode that has no request/response record of its own.
    #[error("unknown or non-request opcode {0}")]
    UnknownOpcode(i32),
    /// A multi/multiRead body the server must refuse as a whole; the server
    /// answers it with MarshallingError (digest §13.1).
    #[error("invalid multi: {0}")]
    InvalidMulti(&'static str),
    /// An error code the protocol does not define (multi error results).
    #[error("unknown error code {0}")]
    UnknownErrorCode(i32),
    /// A watcher event type the server never sends.
    #[error("unknown watcher event type {0}")]
    UnknownEventType(i32),
    /// A field whose value breaks the record's contract.
    #[error("invalid field: {0}")]
    InvalidField(&'static str),
}
