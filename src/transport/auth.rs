//! Peer authentication in the handshake: each side proves it holds the
//! ensemble's shared secret (`roost.quorumSecret`) with an HMAC-SHA1 over
//! both sides' handshake records and fresh nonces, so a recorded handshake
//! cannot be replayed and nothing secret crosses the wire. The wire layout
//! is specified in [`crate::transport`]'s module doc. Pure: the nonces come
//! from the caller.
//!
//! This authenticates who opened a connection; it does not encrypt or
//! protect frames afterwards (TLS between members would).

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Size of each side's nonce.
pub const NONCE_BYTES: usize = 16;
/// Size of a proof (an HMAC-SHA1).
pub const PROOF_BYTES: usize = 20;

/// Which side a proof comes from: the two proofs differ even over the same
/// bytes, so one side's proof can never be sent back as the other's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    Acceptor,
    Connector,
}

impl Role {
    fn label(self) -> &'static [u8] {
        match self {
            Role::Acceptor => b"roost-peer-proof:acceptor:",
            Role::Connector => b"roost-peer-proof:connector:",
        }
    }
}

/// A fresh random nonce (from the operating system's generator, via
/// `rand`'s thread-local CSPRNG).
pub fn nonce() -> [u8; NONCE_BYTES] {
    rand::random()
}

fn mac(secret: &[u8], role: Role, opening: &[u8], answer: &[u8]) -> Hmac<Sha1> {
    let mut m = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes a key of any length");
    m.update(role.label());
    m.update(opening);
    m.update(answer);
    m
}

/// `role`'s proof over the connector's opening (its hello and nonce) and
/// the acceptor's hello and nonce.
pub fn proof(secret: &[u8], role: Role, opening: &[u8], answer: &[u8]) -> [u8; PROOF_BYTES] {
    mac(secret, role, opening, answer)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `got` is `role`'s proof over these bytes (constant-time).
pub fn verify(secret: &[u8], role: Role, opening: &[u8], answer: &[u8], got: &[u8]) -> bool {
    mac(secret, role, opening, answer).verify_slice(got).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proof_verifies_only_with_the_same_secret_role_and_bytes() {
        let p = proof(b"secret", Role::Acceptor, b"open", b"answer");
        assert!(verify(b"secret", Role::Acceptor, b"open", b"answer", &p));
        assert!(!verify(b"secret!", Role::Acceptor, b"open", b"answer", &p));
        assert!(!verify(b"secret", Role::Connector, b"open", b"answer", &p));
        assert!(!verify(b"secret", Role::Acceptor, b"opem", b"answer", &p));
        assert!(!verify(b"secret", Role::Acceptor, b"open", b"answes", &p));
        assert!(!verify(
            b"secret",
            Role::Acceptor,
            b"open",
            b"answer",
            &p[..19]
        ));
        assert_ne!(nonce(), nonce());
    }
}
