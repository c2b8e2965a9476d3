//! Writes: prep (validation into a deterministic `Txn`) and apply (the
//! `Txn` onto a tree, producing the reply and the watch events).
//!
//! prep runs on the consensus core against the tree that already holds every
//! earlier transaction; it checks errors in exactly real ZooKeeper's order
//! (digest §7.2-7.5, §7.11, §13) because clients can observe which error wins.
//! apply runs on every member in log order and only asserts what prep already
//! established. Both are pure: zxid, time, session and identities are inputs.

mod apply;
mod prep;
mod reaper;
#[cfg(test)]
mod tests;

pub use apply::{apply, Applied};
pub use prep::prep;
pub use reaper::reaper_candidates;

use crate::auth::AuthIds;
use crate::proto::SessionId;

/// The server settings that change write semantics.
/// Read-only configuration, built once at start-up and moved to the consensus executor.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpsConfig {
    /// `extendedTypesEnabled`: allows TTL nodes (else Unimplemented).
    pub extended_types_enabled: bool,
    /// `skipACL=yes`: every permission check passes.
    pub skip_acl: bool,
    /// `reconfigEnabled`: standalone then answers reconfig with Unimplemented
    /// instead of ReconfigDisabled.
    pub reconfig_enabled: bool,
    /// `DigestAuthenticationProvider.enabled=false`: ACL entries naming a
    /// digest id are refused (InvalidACL).
    pub digest_disabled: bool,
}

/// Who is writing: the session (ephemeral owner) and the connection's
/// identities (ACL checks and `auth:` fix-up).
/// A plain value (copied freely), built per write on the consensus executor; no executor owns it.
#[derive(Clone, Copy, Debug)]
pub struct WriteContext<'a> {
    pub session_id: SessionId,
    pub auth: &'a AuthIds,
    pub config: &'a OpsConfig,
}
