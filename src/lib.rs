//! Roost: a ZooKeeper-compatible coordination server, thread-per-core.
//!
//! Layers (see docs/architecture.md):
//! - pure core, no I/O: [`proto`], [`tree`], [`ops`], [`auth`], [`session`], [`consensus`]
//! - edges: [`net`] (client connections), [`transport`] (peer connections),
//!   [`runtime`] (executors, placement),
//!   [`config`], [`fourlw`] (four-letter words), [`probe`] (metrics).

pub mod auth;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consensus;
pub mod fourlw;
pub mod io;
pub mod messages;
pub mod net;
pub mod ops;
pub mod probe;
pub mod proto;
pub mod runtime;
pub mod session;
pub mod snapshot;
pub mod transport;
pub mod tree;
pub mod wal;
