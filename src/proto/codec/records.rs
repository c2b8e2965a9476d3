//! Records shared by several messages: Stat, Id/ACL, ClientInfo, and the
//! int <-> enum mappings the codec needs (digest §3.1, §12.4, §15).

use super::jute::{JuteReader, JuteWriter};
use super::DecodeError;
use crate::proto::types::*;

/// Stat is 6 longs and 5 ints.
pub const STAT_LEN: usize = 68;

pub fn read_stat(r: &mut JuteReader<'_>) -> Result<Stat, DecodeError> {
    Ok(Stat {
        czxid: r.read_i64()?,
        mzxid: r.read_i64()?,
        ctime: r.read_i64()?,
        mtime: r.read_i64()?,
        version: r.read_i32()?,
        cversion: r.read_i32()?,
        aversion: r.read_i32()?,
        ephemeral_owner: r.read_i64()?,
        data_length: r.read_i32()?,
        num_children: r.read_i32()?,
        pzxid: r.read_i64()?,
    })
}

pub fn write_stat(w: &mut JuteWriter<'_>, s: &Stat) {
    w.write_i64(s.czxid);
    w.write_i64(s.mzxid);
    w.write_i64(s.ctime);
    w.write_i64(s.mtime);
    w.write_i32(s.version);
    w.write_i32(s.cversion);
    w.write_i32(s.aversion);
    w.write_i64(s.ephemeral_owner);
    w.write_i32(s.data_length);
    w.write_i32(s.num_children);
    w.write_i64(s.pzxid);
}

fn read_acl(r: &mut JuteReader<'_>) -> Result<Acl, DecodeError> {
    let perms = r.read_i32()?;
    let scheme = r.read_string()?;
    let id = r.read_string()?;
    Ok(Acl {
        perms,
        id: Id { scheme, id },
    })
}

/// `vector<ACL>`; null stays `None` (InvalidACL later, not a decode error).
pub fn read_acl_vec(r: &mut JuteReader<'_>) -> Result<Option<Vec<Acl>>, DecodeError> {
    // perms + two string lengths
    r.read_vec(12, read_acl)
}

pub fn write_acl_vec(w: &mut JuteWriter<'_>, acl: Option<&[Acl]>) {
    w.write_vec(acl, |w, a| {
        w.write_i32(a.perms);
        w.write_string(&a.id.scheme);
        w.write_string(&a.id.id);
    });
}

pub(super) fn read_client_info(r: &mut JuteReader<'_>) -> Result<ClientInfo, DecodeError> {
    let auth_scheme = r.read_string()?;
    let user = r.read_string()?;
    Ok(ClientInfo { auth_scheme, user })
}

pub(super) fn write_client_info(w: &mut JuteWriter<'_>, c: &ClientInfo) {
    w.write_string(&c.auth_scheme);
    w.write_string(&c.user);
}

pub(super) fn event_type_from_i32(v: i32) -> Result<EventType, DecodeError> {
    match v {
        1 => Ok(EventType::NodeCreated),
        2 => Ok(EventType::NodeDeleted),
        3 => Ok(EventType::NodeDataChanged),
        4 => Ok(EventType::NodeChildrenChanged),
        _ => Err(DecodeError::UnknownEventType(v)),
    }
}

/// Decodes an error code, refusing values the protocol does not define.
pub(super) fn error_code_from_i32(v: i32) -> Result<ErrorCode, DecodeError> {
    ErrorCode::from_i32(v).ok_or(DecodeError::UnknownErrorCode(v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_code_maps_back() {
        assert_eq!(ErrorCode::ALL.len(), 32);
        for c in ErrorCode::ALL {
            assert_eq!(error_code_from_i32(c.code()), Result::Ok(c));
        }
        assert_eq!(
            error_code_from_i32(-9),
            Err(DecodeError::UnknownErrorCode(-9))
        );
    }

    #[test]
    fn stat_is_68_bytes() {
        let mut buf = Vec::new();
        write_stat(&mut JuteWriter::new(&mut buf), &Stat::default());
        assert_eq!(buf.len(), STAT_LEN);
    }
}
