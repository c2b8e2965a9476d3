//! Metrics, kept in probe structs with named methods so the logic that
//! counts stays out of the request path's code.
//!
//! Ownership: every probe is owned by exactly one core and mutated only
//! there, so counters are plain integers, not atomics (no cache-line traffic
//! on the hot path).
//! - [`ServerProbe`]: one per client shard (and one on the consensus core for
//!   what it counts). A four-letter word or `mntr` asks each core for a copy
//!   and combines them with [`ServerProbe::merge`].
//! - [`ConnectionProbe`]: one per connection, on the shard that owns the
//!   connection; `cons` copies them.
//!
//! Times are milliseconds and come in from the caller (no clock here);
//! [`host`] is the one edge that reads the host (/proc), for `envi`.

pub mod connection;
pub mod host;
pub mod latency;
pub mod server;
pub mod tick;

pub use connection::ConnectionProbe;
pub use latency::LatencyStats;
pub use server::ServerProbe;
pub use tick::TickProbe;
