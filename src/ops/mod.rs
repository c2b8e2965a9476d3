//! Operations: validation (prep) and application (apply) of every opcode.
//! Pure and deterministic: time, zxid and identities are passed in.

pub mod path;
pub mod read;
pub mod txn;
pub mod txn_codec;
pub mod write;
