//! ACL checks, ACL fix-up, scheme providers (digest, ip, sasl) and the
//! auth-packet handler (digest §11, §7.9).
//!
//! Pure functions over values: the caller owns the connection's [`AuthIds`]
//! (client shard) or a copy of them (consensus core prep). No I/O, no clock.
//!
//! Providers Roost registers, and what each one does:
//!
//! | scheme  | auth packet            | `isValid` (fix-up)             | match                | authenticated (for `auth:`) |
//! |---------|------------------------|--------------------------------|----------------------|-----------------------------|
//! | digest  | always succeeds        | Java `split(":")` has 2 parts  | string equality      | yes                         |
//! | ip      | adds `ip:<remote>`     | address with optional `/bits`  | CIDR, same family    | no                          |
//! | sasl    | AuthFailed (SASL only) | any non-empty id               | string equality      | yes                         |
//! | world   | no provider            | only `anyone`, special-cased   | `anyone` matches all | n/a                         |
//! | super   | no provider            | invalid                        | bypasses checks      | no                          |
//!
//! Real ZK registers the sasl provider only when `authProvider.N` names it;
//! Roost always treats `sasl` ids as valid because SASL users only exist when
//! a JAAS file is configured, and refusing `sasl:` ACLs would only break
//! setups that forgot the `authProvider` line.

use super::AuthIds;
use crate::proto::{perms, Acl, ClientInfo, ErrorCode, Id};
use base64::Engine as _;
use sha1::{Digest as _, Sha1};
use std::collections::HashMap;
use std::net::Ipv6Addr;

/// Server-wide authentication configuration (from zoo.cfg, system-property
/// equivalents and the JAAS file). Shared read-only by every client shard.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// `zookeeper.DigestAuthenticationProvider.superDigest`, `super:BASE64`.
    pub super_digest: Option<String>,
    /// DIGEST-MD5 users (`user_NAME="password"` of the JAAS `Server` section).
    pub sasl_users: HashMap<String, String>,
    /// `zookeeper.superUser`: the SASL authorization id that also gains
    /// `super:` (real ZK: only when this property is set and equal; a JAAS
    /// user named `super` is not special by itself).
    pub sasl_super_user: Option<String>,
    /// `zookeeper.SASLAuthenticationProvider.superPassword`: overrides the
    /// JAAS password of the user `super` (only if that user exists).
    pub sasl_super_password: Option<String>,
    /// `DigestAuthenticationProvider.enabled=false`: the digest provider is
    /// not registered, as in ZooKeeper: `addauth digest` fails (AuthFailed,
    /// and the connection closes) and no ACL entry may name a digest id.
    pub digest_disabled: bool,
}

impl AuthConfig {
    /// True when a SASL exchange can succeed. Without it real ZK answers a
    /// sasl packet OK with a null token (digest §7.10); the caller decides.
    pub fn sasl_enabled(&self) -> bool {
        !self.sasl_users.is_empty()
    }

    /// The DIGEST-MD5 credential map as ZK's server callback handler sees
    /// it: JAAS users, with `super`'s password replaced by superPassword.
    pub fn sasl_credentials(&self) -> HashMap<String, String> {
        let mut users = self.sasl_users.clone();
        if let (Some(pw), Some(slot)) = (&self.sasl_super_password, users.get_mut("super")) {
            slot.clone_from(pw);
        }
        users
    }
}

/// `checkACL` (digest §11.3). `perm` may hold several bits: an entry matches
/// when it grants any of them (getACL asks for READ | ADMIN this way).
pub fn check(acl: &[Acl], auth: &AuthIds, perm: i32, skip_acl: bool) -> Result<(), ErrorCode> {
    if skip_acl || acl.is_empty() || auth.is_super() {
        return Ok(());
    }
    for entry in acl.iter().filter(|e| e.perms & perm != 0) {
        if entry.id.scheme == "world" && entry.id.id == "anyone" {
            return Ok(());
        }
        let hit = auth
            .ids
            .iter()
            .filter(|id| id.scheme == entry.id.scheme)
            .any(|id| matches(&id.scheme, &id.id, &entry.id.id));
        if hit {
            return Ok(());
        }
    }
    Err(ErrorCode::NoAuth)
}

/// Does the connection identity `id` (of `scheme`) satisfy the ACL
/// expression `acl_expr`? Schemes without a provider never match.
fn matches(scheme: &str, id: &str, acl_expr: &str) -> bool {
    match scheme {
        "digest" | "sasl" | "x509" => id == acl_expr,
        "ip" => ip_matches(id, acl_expr),
        _ => false,
    }
}

/// ACL fix-up on create and setACL (digest §11.4). Returns the list to store.
/// With `digest_disabled` (`DigestAuthenticationProvider.enabled=false`) a
/// digest entry has no provider and is refused (InvalidACL), as ZooKeeper's
/// fixupACL refuses any scheme without one.
pub fn fixup(
    acl: Option<&[Acl]>,
    auth: &AuthIds,
    digest_disabled: bool,
) -> Result<Vec<Acl>, ErrorCode> {
    let acl = match acl {
        Some(a) if !a.is_empty() => a,
        _ => return Err(ErrorCode::InvalidAcl),
    };
    // Exact duplicates go first, keeping the first occurrence's position.
    let mut unique: Vec<&Acl> = Vec::with_capacity(acl.len());
    for a in acl {
        if !unique.contains(&a) {
            unique.push(a);
        }
    }
    let mut out = Vec::with_capacity(unique.len());
    for a in unique {
        match a.id.scheme.as_str() {
            "world" if a.id.id == "anyone" => out.push(a.clone()),
            "auth" => {
                // One entry per authenticated identity of the connection;
                // ip (not "authenticated") and super (no provider) are skipped.
                let before = out.len();
                let mut seen: Vec<&Id> = Vec::new();
                for id in auth
                    .ids
                    .iter()
                    .filter(|id| is_authenticated_scheme(&id.scheme))
                {
                    if !seen.contains(&id) {
                        seen.push(id);
                        out.push(Acl {
                            perms: a.perms,
                            id: id.clone(),
                        });
                    }
                }
                if out.len() == before {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if digest_disabled => return Err(ErrorCode::InvalidAcl),
            scheme => {
                if !is_valid_id(scheme, &a.id.id) {
                    return Err(ErrorCode::InvalidAcl);
                }
                out.push(a.clone());
            }
        }
    }
    Ok(out)
}

/// Providers whose identities count for the `auth` template.
fn is_authenticated_scheme(scheme: &str) -> bool {
    matches!(scheme, "digest" | "sasl" | "x509")
}

/// The provider's `isValid(id)` for an ACL entry's id. `world` and `auth`
/// are handled by [`fixup`] itself; here `world` is valid only as `anyone`.
pub fn is_valid_id(scheme: &str, id: &str) -> bool {
    match scheme {
        "world" => id == "anyone",
        // Java: id.split(":").length == 2, where split drops trailing empty
        // pieces: "a:b" and ":b" are valid, "a:", "a" and "a:b:c" are not.
        "digest" => java_split_count(id, ':') == 2,
        "ip" => parse_ip_expr(id).is_some(),
        "sasl" => !id.is_empty(),
        _ => false,
    }
}

/// Number of pieces Java's `String.split` returns for a one-char pattern.
fn java_split_count(s: &str, sep: char) -> usize {
    let pieces: Vec<&str> = s.split(sep).collect();
    let trailing_empty = pieces.iter().rev().take_while(|p| p.is_empty()).count();
    pieces.len() - trailing_empty
}

/// `user:password` -> `user:BASE64(SHA1("user:password"))` (digest §11.2).
/// Text without `:` hashes the whole string and keeps it as the user part.
pub fn digest_id(user_password: &str) -> String {
    let user = user_password.split(':').next().unwrap_or("");
    let hash = Sha1::digest(user_password.as_bytes());
    format!(
        "{user}:{}",
        base64::engine::general_purpose::STANDARD.encode(hash)
    )
}

/// Handle an auth packet (opcode 100). `Ok` carries the identities to add to
/// the connection, in ZK's order; `Err(AuthFailed)` means reply -115 and
/// close (digest §7.9).
pub fn authenticate(
    scheme: &str,
    data: &[u8],
    remote_ip: &str,
    cfg: &AuthConfig,
) -> Result<Vec<Id>, ErrorCode> {
    match scheme {
        "digest" if cfg.digest_disabled => Err(ErrorCode::AuthFailed),
        "digest" => {
            // Java decodes with the platform charset; malformed bytes become
            // U+FFFD rather than failing, and digest auth never fails.
            let text = String::from_utf8_lossy(data);
            let digest = digest_id(&text);
            let mut ids = Vec::with_capacity(2);
            if cfg.super_digest.as_deref() == Some(digest.as_str()) {
                ids.push(Id::new("super", ""));
            }
            ids.push(Id::new("digest", &digest));
            Ok(ids)
        }
        "ip" => Ok(vec![Id::new("ip", remote_ip)]),
        // sasl is negotiated with opcode 102, never with an auth packet.
        _ => Err(ErrorCode::AuthFailed),
    }
}

/// Adds identities to a connection's set, skipping ones it already has
/// (ZK's `addAuthInfo` is idempotent).
pub fn add_ids(auth: &mut AuthIds, ids: Vec<Id>) {
    for id in ids {
        if !auth.ids.contains(&id) {
            auth.ids.push(id);
        }
    }
}

/// getACL redaction for callers without ADMIN: every digest id becomes
/// `user:x` (digest §7.6, observed `bob:fyVm…=` -> `bob:x`).
pub fn redact(acl: &[Acl]) -> Vec<Acl> {
    acl.iter()
        .map(|a| {
            if a.id.scheme == "digest" {
                let user = a.id.id.split(':').next().unwrap_or("");
                Acl {
                    perms: a.perms,
                    id: Id::new("digest", &format!("{user}:x")),
                }
            } else {
                a.clone()
            }
        })
        .collect()
}

/// The ACL as a getACL caller may see it: READ or ADMIN is required (NoAuth
/// otherwise) and digest ids are redacted unless the caller has ADMIN.
pub fn visible_acl(acl: &[Acl], auth: &AuthIds, skip_acl: bool) -> Result<Vec<Acl>, ErrorCode> {
    check(acl, auth, perms::READ | perms::ADMIN, skip_acl)?;
    if check(acl, auth, perms::ADMIN, skip_acl).is_ok() {
        Ok(acl.to_vec())
    } else {
        Ok(redact(acl))
    }
}

/// whoAmI (digest §7.6): one entry per distinct identity of the connection.
/// ip -> the address, digest -> the user part, sasl -> the principal (Roost
/// always has a sasl provider when sasl ids exist), anything without a
/// provider (super) -> "". De-duplicated, first-seen order.
pub fn client_info(ids: &[Id]) -> Vec<ClientInfo> {
    let mut out: Vec<ClientInfo> = Vec::with_capacity(ids.len());
    for id in ids {
        let user = match id.scheme.as_str() {
            "ip" | "sasl" | "x509" => id.id.clone(),
            "digest" => id.id.split(':').next().unwrap_or("").to_owned(),
            _ => String::new(),
        };
        let info = ClientInfo {
            auth_scheme: id.scheme.clone(),
            user,
        };
        if !out.contains(&info) {
            out.push(info);
        }
    }
    out
}

/// An IP address as bytes, v4 (4) or v6 (16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IpBytes {
    V4([u8; 4]),
    V6([u8; 16]),
}

impl IpBytes {
    fn bytes(&self) -> &[u8] {
        match self {
            IpBytes::V4(b) => b,
            IpBytes::V6(b) => b,
        }
    }
}

/// Parses an address the way ZK's ip provider does: dotted quad with 1-3
/// digit parts (leading zeros allowed, unlike `Ipv4Addr::from_str`), or IPv6
/// with `::` compression. Brackets and zone ids are not accepted.
fn parse_ip(s: &str) -> Option<IpBytes> {
    if s.contains(':') {
        return s.parse::<Ipv6Addr>().ok().map(|a| IpBytes::V6(a.octets()));
    }
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for slot in out.iter_mut() {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *slot = p.parse::<u16>().ok().filter(|v| *v <= 255)? as u8;
    }
    if parts.next().is_some() {
        return None;
    }
    Some(IpBytes::V4(out))
}

/// `addr` or `addr/bits`, bits within the family's width.
fn parse_ip_expr(expr: &str) -> Option<(IpBytes, usize)> {
    let (addr, bits) = match expr.split_once('/') {
        Some((a, b)) => (a, Some(b)),
        None => (expr, None),
    };
    let ip = parse_ip(addr)?;
    let width = ip.bytes().len() * 8;
    let bits = match bits {
        None => width,
        Some(b) => {
            if b.is_empty() || !b.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let n = b.parse::<usize>().ok()?;
            if n > width {
                return None;
            }
            n
        }
    };
    Some((ip, bits))
}

/// CIDR match of a connection address against an ACL expression. The
/// families must match (an IPv4 client never matches an IPv6 entry).
pub fn ip_matches(remote: &str, acl_expr: &str) -> bool {
    let (Some(remote), Some((net, bits))) = (parse_ip(remote), parse_ip_expr(acl_expr)) else {
        return false;
    };
    let (a, b) = (remote.bytes(), net.bytes());
    if a.len() != b.len() {
        return false;
    }
    let full = bits / 8;
    if a[..full] != b[..full] {
        return false;
    }
    let rem = bits % 8;
    if rem == 0 {
        return true;
    }
    let mask = 0xFFu8 << (8 - rem);
    a[full] & mask == b[full] & mask
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::perms::*;

    fn ids(list: &[(&str, &str)]) -> AuthIds {
        AuthIds {
            ids: list.iter().map(|(s, i)| Id::new(s, i)).collect(),
        }
    }
    fn acl(p: i32, s: &str, i: &str) -> Acl {
        Acl {
            perms: p,
            id: Id::new(s, i),
        }
    }

    #[test]
    fn digest_of_bob_matches_observed() {
        assert_eq!(digest_id("bob:secret"), "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=");
        // No colon: the whole text is both the user part and the hash input.
        assert!(digest_id("nocolon").starts_with("nocolon:"));
    }

    #[test]
    fn digest_auth_never_fails_and_adds_super_on_match() {
        let cfg = AuthConfig {
            super_digest: Some(digest_id("super:pw")),
            ..Default::default()
        };
        let got = authenticate("digest", b"bob:secret", "1.2.3.4", &cfg).unwrap();
        assert_eq!(
            got,
            vec![Id::new("digest", "bob:fyVmFCwVbTJYrznoSu1koqYEYF0=")]
        );
        let got = authenticate("digest", b"super:pw", "1.2.3.4", &cfg).unwrap();
        assert_eq!(got[0], Id::new("super", ""));
        assert_eq!(got[1].scheme, "digest");
        assert!(authenticate("digest", &[0xff, 0xfe], "", &cfg).is_ok());
        assert!(
            authenticate("digest", b"super:wrong", "", &cfg)
                .unwrap()
                .len()
                == 1
        );
    }

    #[test]
    fn ip_auth_and_unknown_scheme() {
        let cfg = AuthConfig::default();
        assert_eq!(
            authenticate("ip", b"x", "10.0.0.1", &cfg).unwrap(),
            vec![Id::new("ip", "10.0.0.1")]
        );
        assert_eq!(
            authenticate("foo", b"x", "", &cfg),
            Err(ErrorCode::AuthFailed)
        );
        assert_eq!(
            authenticate("sasl", b"x", "", &cfg),
            Err(ErrorCode::AuthFailed)
        );
        assert_eq!(
            authenticate("super", b"x", "", &cfg),
            Err(ErrorCode::AuthFailed)
        );
    }

    #[test]
    fn check_rules() {
        let bob = digest_id("bob:secret");
        let node = vec![acl(ALL, "digest", &bob)];
        let anon = ids(&[("ip", "127.0.0.1")]);
        assert_eq!(check(&node, &anon, READ, false), Err(ErrorCode::NoAuth));
        assert_eq!(check(&node, &anon, READ, true), Ok(()));
        assert_eq!(check(&[], &anon, READ, false), Ok(()));
        assert_eq!(check(&node, &ids(&[("super", "")]), READ, false), Ok(()));
        assert_eq!(check(&node, &ids(&[("digest", &bob)]), READ, false), Ok(()));
        // Perm bits must intersect.
        let ro = vec![acl(READ, "world", "anyone")];
        assert_eq!(check(&ro, &anon, WRITE, false), Err(ErrorCode::NoAuth));
        assert_eq!(check(&ro, &anon, READ, false), Ok(()));
        assert_eq!(check(&ro, &anon, WRITE | READ, false), Ok(()));
        // ip CIDR.
        let net = vec![acl(READ, "ip", "127.0.0.0/8")];
        assert_eq!(check(&net, &anon, READ, false), Ok(()));
        assert_eq!(
            check(&net, &ids(&[("ip", "10.0.0.1")]), READ, false),
            Err(ErrorCode::NoAuth)
        );
        // A same-looking id under another scheme does not match.
        assert_eq!(
            check(&node, &ids(&[("sasl", &bob)]), READ, false),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn ip_cidr_v4_v6() {
        assert!(ip_matches("192.168.1.77", "192.168.1.0/24"));
        assert!(!ip_matches("192.168.2.77", "192.168.1.0/24"));
        assert!(ip_matches("192.168.1.77", "192.168.1.77"));
        assert!(ip_matches("10.1.2.3", "0.0.0.0/0"));
        assert!(ip_matches("10.1.2.3", "10.0.0.0/9"));
        assert!(!ip_matches("10.128.2.3", "10.0.0.0/9"));
        assert!(ip_matches("::1", "::1"));
        assert!(ip_matches("2001:db8::5", "2001:db8::/32"));
        assert!(!ip_matches("2001:db9::5", "2001:db8::/32"));
        assert!(ip_matches("fe80::1:2", "fe80::/65"));
        // Families never cross.
        assert!(!ip_matches("127.0.0.1", "::/0"));
        assert!(!ip_matches("::1", "0.0.0.0/0"));
        assert!(!ip_matches("garbage", "0.0.0.0/0"));
        assert!(ip_matches("010.000.000.001", "10.0.0.1"));
    }

    #[test]
    fn id_validity_per_scheme() {
        assert!(is_valid_id("digest", "bob:hash"));
        assert!(is_valid_id("digest", ":hash"));
        assert!(!is_valid_id("digest", "nocolon"));
        assert!(!is_valid_id("digest", "bob:"));
        assert!(!is_valid_id("digest", "a:b:c"));
        assert!(is_valid_id("ip", "10.0.0.0/8"));
        assert!(is_valid_id("ip", "::1/128"));
        assert!(!is_valid_id("ip", "10.0.0.0/33"));
        assert!(!is_valid_id("ip", "::1/129"));
        assert!(!is_valid_id("ip", "10.0.0/8"));
        assert!(!is_valid_id("ip", "256.0.0.1"));
        assert!(!is_valid_id("ip", "1.2.3.4/"));
        assert!(!is_valid_id("super", ""));
        assert!(!is_valid_id("foo", "bar"));
        assert!(!is_valid_id("world", "someone"));
    }

    #[test]
    fn fixup_rules() {
        let none = ids(&[("ip", "127.0.0.1")]);
        assert_eq!(fixup(None, &none, false), Err(ErrorCode::InvalidAcl));
        assert_eq!(fixup(Some(&[]), &none, false), Err(ErrorCode::InvalidAcl));
        let open = Acl::open_unsafe();
        assert_eq!(
            fixup(Some(&[open[0].clone(), open[0].clone()]), &none, false).unwrap(),
            open
        );
        assert_eq!(
            fixup(Some(&[acl(ALL, "world", "x")]), &none, false),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(Some(&[acl(ALL, "digest", "nocolon")]), &none, false),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(Some(&[acl(ALL, "foo", "bar")]), &none, false),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(Some(&[acl(ALL, "super", "")]), &none, false),
            Err(ErrorCode::InvalidAcl)
        );
        // auth without an authenticated identity (ip does not count).
        assert_eq!(
            fixup(Some(&[acl(ALL, "auth", "")]), &none, false),
            Err(ErrorCode::InvalidAcl)
        );
        // Observed: two digest identities give two entries; ip and super skipped.
        let two = ids(&[
            ("ip", "127.0.0.1"),
            ("super", ""),
            ("digest", "a:1"),
            ("digest", "b:2"),
        ]);
        assert_eq!(
            fixup(Some(&[acl(READ, "auth", "ignored")]), &two, false).unwrap(),
            vec![acl(READ, "digest", "a:1"), acl(READ, "digest", "b:2")]
        );
        assert_eq!(
            fixup(
                Some(&[acl(ALL, "ip", "10.0.0.0/8"), acl(1, "sasl", "bob")]),
                &none,
                false
            )
            .unwrap(),
            vec![acl(ALL, "ip", "10.0.0.0/8"), acl(1, "sasl", "bob")]
        );
    }

    /// `DigestAuthenticationProvider.enabled=false`: no digest provider, so
    /// no digest identity can be gained and no digest ACL entry stored;
    /// other schemes are untouched.
    #[test]
    fn a_disabled_digest_provider_refuses_digest_auth_and_acls() {
        let cfg = AuthConfig {
            digest_disabled: true,
            super_digest: Some(digest_id("super:pw")),
            ..AuthConfig::default()
        };
        assert_eq!(
            authenticate("digest", b"bob:secret", "1.2.3.4", &cfg),
            Err(ErrorCode::AuthFailed)
        );
        assert_eq!(
            authenticate("digest", b"super:pw", "1.2.3.4", &cfg),
            Err(ErrorCode::AuthFailed),
            "the super digest is a digest identity too"
        );
        assert_eq!(
            authenticate("ip", b"", "1.2.3.4", &cfg),
            Ok(vec![Id::new("ip", "1.2.3.4")])
        );
        let none = ids(&[("ip", "127.0.0.1")]);
        let bob = digest_id("bob:secret");
        assert_eq!(
            fixup(Some(&[acl(ALL, "digest", &bob)]), &none, true),
            Err(ErrorCode::InvalidAcl)
        );
        assert_eq!(
            fixup(Some(&[acl(ALL, "digest", &bob)]), &none, false).unwrap(),
            vec![acl(ALL, "digest", &bob)]
        );
        assert_eq!(
            fixup(Some(&[acl(ALL, "ip", "10.0.0.0/8")]), &none, true).unwrap(),
            vec![acl(ALL, "ip", "10.0.0.0/8")]
        );
    }

    #[test]
    fn redaction_and_visibility() {
        let bob = digest_id("bob:secret");
        let node = vec![acl(READ, "world", "anyone"), acl(ALL, "digest", &bob)];
        let anon = ids(&[("ip", "127.0.0.1")]);
        let seen = visible_acl(&node, &anon, false).unwrap();
        assert_eq!(seen[1].id.id, "bob:x");
        assert_eq!(seen[0], node[0]);
        let owner = ids(&[("digest", &bob)]);
        assert_eq!(visible_acl(&node, &owner, false).unwrap(), node);
        // ADMIN alone is enough to read the ACL.
        let admin_only = vec![acl(ADMIN, "world", "anyone")];
        assert!(visible_acl(&admin_only, &anon, false).is_ok());
        let write_only = vec![acl(WRITE, "world", "anyone")];
        assert_eq!(
            visible_acl(&write_only, &anon, false),
            Err(ErrorCode::NoAuth)
        );
    }

    #[test]
    fn who_am_i_mapping() {
        let got = client_info(&[
            Id::new("digest", "bob:hash1"),
            Id::new("ip", "127.0.0.1"),
            Id::new("digest", "alice:hash2"),
            Id::new("digest", "bob:hash1"),
            Id::new("super", ""),
        ]);
        let pairs: Vec<(&str, &str)> = got
            .iter()
            .map(|c| (c.auth_scheme.as_str(), c.user.as_str()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                ("digest", "bob"),
                ("ip", "127.0.0.1"),
                ("digest", "alice"),
                ("super", "")
            ]
        );
    }

    #[test]
    fn sasl_credentials_super_password_override() {
        let mut cfg = AuthConfig::default();
        cfg.sasl_users.insert("bob".into(), "pw".into());
        cfg.sasl_super_password = Some("x".into());
        // No JAAS user `super`: the override adds nothing.
        assert!(!cfg.sasl_credentials().contains_key("super"));
        cfg.sasl_users.insert("super".into(), "old".into());
        assert_eq!(cfg.sasl_credentials()["super"], "x");
        assert!(cfg.sasl_enabled());
    }
}
