//! The ZooKeeper client protocol: value types, messages and the jute codec.
//! Pure: no I/O, no clocks.

pub mod codec;
pub mod frame;
pub mod messages;
pub mod types;

pub use messages::*;
pub use types::*;
