//! Path rules (digest §10): the full validation applied to create (after the
//! sequence suffix), setData, setACL and check, and the weaker checks that
//! create (before the suffix) and delete do first.
//!
//! Paths arrive as `String`s decoded lossily from the wire, so invalid UTF-8
//! shows up here as U+FFFD, which falls in the rejected U+FFF0..=U+FFFF range.

use crate::proto::ErrorCode;
use crate::tree::{CONFIG_PATH, QUOTA_PATH, ROOT_PATH, ZOOKEEPER_PATH};

pub use crate::tree::{basename, parent_of};

/// Full path validation (ZooKeeper's PathUtils rules), BadArguments on failure.
pub fn validate_path(path: &str) -> Result<(), ErrorCode> {
    if !path.starts_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    if path == ROOT_PATH {
        return Ok(());
    }
    if path.ends_with('/') {
        return Err(ErrorCode::BadArguments);
    }
    // Skip the leading '/', so every segment must be non-empty.
    for segment in path[1..].split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(ErrorCode::BadArguments);
        }
    }
    if path.chars().any(is_forbidden_path_char) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// Characters real ZK refuses anywhere in a path: controls (C0 and C1 and
/// DEL), the surrogate and BMP private-use block, and U+FFF0..=U+FFFF.
/// (A Rust `char` is never a surrogate, so that part of U+D800..=U+F8FF is
/// the private-use area starting at U+E000.)
fn is_forbidden_path_char(c: char) -> bool {
    matches!(c,
        '\u{0}'..='\u{1f}'
        | '\u{7f}'..='\u{9f}'
        | '\u{e000}'..='\u{f8ff}'
        | '\u{fff0}'..='\u{ffff}')
}

/// The check create does before fix-up and the parent lookup (§7.2 step 5):
/// a `/` somewhere and no NUL. Everything else is checked after the suffix.
pub fn validate_create_prefix(path: &str) -> Result<(), ErrorCode> {
    if !path.contains('/') || path.contains('\0') {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

/// True for the four nodes that exist on every server and may never be deleted.
pub fn is_system_path(path: &str) -> bool {
    matches!(path, ROOT_PATH | ZOOKEEPER_PATH | QUOTA_PATH | CONFIG_PATH)
}

/// The only path check delete does (§7.3 step 1): a `/`, no NUL, and not a
/// system node. `/a//b` passes here and fails later with NoNode.
pub fn validate_delete_path(path: &str) -> Result<(), ErrorCode> {
    validate_create_prefix(path)?;
    if is_system_path(path) {
        return Err(ErrorCode::BadArguments);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_paths() {
        for ok in [
            "/",
            "/a",
            "/a/b",
            "/.a",
            "/a.",
            "/..b",
            "/...",
            "/zookeeper",
            "/a b/ü",
        ] {
            assert_eq!(validate_path(ok), Ok(()), "{ok:?}");
        }
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in [
            "",
            "a",
            "a/b",
            "/a/",
            "//",
            "/a//b",
            "/.",
            "/..",
            "/t/.",
            "/t/../x",
            "/a\0b",
            "/a\u{1}",
            "/a\u{7f}",
            "/a\u{9f}",
            "/a\u{e000}",
            "/a\u{f8ff}",
            "/a\u{fff0}",
            "/a\u{fffd}",
            "/a\u{ffff}",
        ] {
            assert_eq!(validate_path(bad), Err(ErrorCode::BadArguments), "{bad:?}");
        }
        // Just outside the forbidden ranges.
        assert_eq!(validate_path("/a\u{a0}\u{f900}\u{ffef}"), Ok(()));
    }

    #[test]
    fn delete_check_is_weaker_than_full_validation() {
        assert_eq!(validate_delete_path("/a//b"), Ok(()));
        assert_eq!(validate_delete_path("/a/"), Ok(()));
        assert_eq!(validate_delete_path("a"), Err(ErrorCode::BadArguments));
        assert_eq!(validate_delete_path("/a\0"), Err(ErrorCode::BadArguments));
        for system in ["/", "/zookeeper", "/zookeeper/quota", "/zookeeper/config"] {
            assert_eq!(validate_delete_path(system), Err(ErrorCode::BadArguments));
        }
        assert_eq!(validate_delete_path("/zookeeper/other"), Ok(()));
    }
}
