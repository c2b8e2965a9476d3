//! The consensus core: the single writer of replicated state, on the
//! consensus executor. Pure: no I/O; time ([`Now`]) and randomness (a seed)
//! come in as parameters; inputs are [`Input`]s and each round's output is
//! one [`Step`].
//!
//! One pipeline, two logs underneath:
//! - [`proposer::Proposer`]: the leader's side, written once: sessions
//!   (connect, re-attach, expiry), prep and the zxid counter, the reaper;
//! - [`committed::Committed`]: the committed state (tree, sessions, zxid)
//!   shards read, snapshots hold and recovery rebuilds;
//! - [`standalone::Standalone`]: a proposer over a local durable log
//!   ([`TxnLog`]);
//! - [`member::Member`]: an ensemble member: raft-rs, with a proposer while
//!   it leads.
//!
//! Below them: [`wire`] (entry and peer-frame formats), [`membership`]
//! (reconfig arithmetic), [`raft_storage`] (raft's storage with the newest
//! snapshot), [`gather`] (four-letter words across shards), [`cadence`]
//! (when to snapshot), [`rng`] (the seeded generator).

pub mod cadence;
pub mod committed;
pub mod gather;
pub mod log;
pub mod member;
pub mod membership;
pub mod proposer;
pub mod raft_storage;
pub mod rng;
pub mod standalone;
pub mod step;
pub mod wire;

pub use log::{MemoryLog, TxnLog};
pub use proposer::CoreConfig;
pub use standalone::Standalone;
pub use step::{Input, Now, Output, Step};
