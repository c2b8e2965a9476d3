//! ACL check and fix-up (digest §11.3, §11.4).
//!
//! TEMPORARY minimal version written by the ops work so prep can call these
//! two functions; the auth work's full version (CIDR ip matching, provider
//! registry) replaces this file at merge.

use super::AuthIds;
use crate::proto::{Acl, ErrorCode, Id};

/// Allows the request if the caller holds `perm` on a node with ACL `acl`:
/// skipACL, an empty ACL and the super identity always allow.
pub fn check(acl: &[Acl], auth: &AuthIds, perm: i32, skip_acl: bool) -> Result<(), ErrorCode> {
    if skip_acl || acl.is_empty() || auth.is_super() {
        return Ok(());
    }
    let granted = acl
        .iter()
        .filter(|entry| entry.perms & perm != 0)
        .any(|entry| {
            (entry.id.scheme == "world" && entry.id.id == "anyone") || auth.ids.contains(&entry.id)
        });
    if granted {
        Ok(())
    } else {
        Err(ErrorCode::NoAuth)
    }
}

/// Turns a requested ACL into the stored one: dedupes, expands `auth:`
/// templates into the connection's authenticated identities and rejects
/// anything invalid.
pub fn fixup(acl: Option<&[Acl]>, auth: &AuthIds) -> Result<Vec<Acl>, ErrorCode> {
    let acl = acl.filter(|a| !a.is_empty()).ok_or(ErrorCode::InvalidAcl)?;
    let mut fixed: Vec<Acl> = Vec::new();
    let mut push = |entry: Acl| {
        if !fixed.contains(&entry) {
            fixed.push(entry);
        }
    };
    for entry in acl {
        match entry.id.scheme.as_str() {
            "world" if entry.id.id == "anyone" => push(entry.clone()),
            "auth" => {
                let mut any = false;
                for id in auth
                    .ids
                    .iter()
                    .filter(|id| matches!(id.scheme.as_str(), "digest" | "sasl" | "x509"))
                {
                    any = true;
                    push(Acl {
                        perms: entry.perms,
                        id: Id::new(&id.scheme, &id.id),
                    });
                }
                if !any {
                    return Err(ErrorCode::InvalidAcl);
                }
            }
            "digest" if digest_id_is_valid(&entry.id.id) => push(entry.clone()),
            "ip" if ip_id_is_valid(&entry.id.id) => push(entry.clone()),
            _ => return Err(ErrorCode::InvalidAcl),
        }
    }
    Ok(fixed)
}

fn digest_id_is_valid(id: &str) -> bool {
    let mut parts = id.split(':');
    matches!((parts.next(), parts.next(), parts.next()), (Some(_), Some(hash), None) if !hash.is_empty())
}

fn ip_id_is_valid(id: &str) -> bool {
    let (addr, bits) = match id.split_once('/') {
        Some((addr, bits)) => (addr, Some(bits)),
        None => (id, None),
    };
    let Ok(addr) = addr.parse::<std::net::IpAddr>() else {
        return false;
    };
    let max_bits = if addr.is_ipv4() { 32 } else { 128 };
    bits.is_none_or(|b| b.parse::<u32>().is_ok_and(|b| b <= max_bits))
}
