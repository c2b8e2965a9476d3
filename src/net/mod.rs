//! Client connections on a client shard: framing, the per-connection FIFO,
//! reads served from the shard's tree version, and the commit stream.
//!
//! Everything here is owned by one client-shard executor (single-threaded,
//! `Rc<RefCell<_>>`); the only cross-core traffic is the two channels to and
//! from the consensus core.

pub mod conn;
pub mod pending;
pub mod shard;

pub use shard::{Shard, ShardSettings};
