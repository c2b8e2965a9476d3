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

/// Why the authentication settings could not be loaded at start-up.
#[derive(Debug, thiserror::Error)]
pub enum AuthSetupError {
    #[error("cannot read JAAS file {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("JAAS file {path}: {source}")]
    Parse {
        path: std::path::PathBuf,
        source: jaas::JaasError,
    },
}

/// Builds the runtime auth settings from zoo.cfg: the super digest, and the
/// SASL users of the JAAS file's `Server` section when one is configured.
/// This is the one place the JAAS file is read.
pub fn settings_from_config(config: &crate::config::Config) -> Result<AuthConfig, AuthSetupError> {
    let mut settings = AuthConfig {
        super_digest: config.auth.super_digest.clone(),
        digest_disabled: !config.auth.digest_enabled,
        ..AuthConfig::default()
    };
    if let Some(path) = &config.auth.jaas_config {
        let text = std::fs::read_to_string(path).map_err(|source| AuthSetupError::Read {
            path: path.clone(),
            source,
        })?;
        settings.sasl_users =
            jaas::server_users(&text).map_err(|source| AuthSetupError::Parse {
                path: path.clone(),
                source,
            })?;
    }
    settings.sasl_super_user = config.auth.sasl_super_user.clone();
    Ok(settings)
}
