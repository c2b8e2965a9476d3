//! Authentication and authorization: ACL checks and fix-up, auth schemes
//! (digest, ip, super, SASL DIGEST-MD5), JAAS files. Pure: no I/O.
//!
//! A connection's identities are per connection, not per session (digest §11.3).

pub mod acl;
pub mod jaas;
pub mod sasl;

pub use acl::AuthConfig;

use crate::proto::Id;

/// The identities a connection has gained. Owned by the client shard that
/// holds the connection; copied into write requests sent to the consensus
/// core so prep can check ACLs deterministically.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthIds {
    /// Includes `ip:<remote address>` from the start, `digest:user:hash` after
    /// digest auth, `super:` for the super user, `sasl:<principal>` after SASL.
    pub ids: Vec<Id>,
}

impl AuthIds {
    pub fn is_super(&self) -> bool {
        self.ids.iter().any(|id| id.scheme == "super")
    }
}
