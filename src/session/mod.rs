//! The session table: ids, passwords, negotiated timeouts and tick-aligned
//! expiry (digest §4.3-§4.4, §14).
//!
//! Owned by the consensus core: sessions are replicated state (create, close
//! and expiry are transactions). Client shards only report activity
//! ("touches") in batches. Pure: time comes in as `now_ms`, no I/O.

use crate::proto::SessionId;
use sha1::{Digest, Sha1};
use std::collections::{BTreeMap, HashMap};

/// Where a session's live connection is, if it has one.
/// A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnectionOwner {
    /// The member holding the connection (0 in standalone).
    pub member: u64,
    pub shard: usize,
    pub conn: u64,
}

/// One session.
/// Owned by the consensus executor, inside the session table.
#[derive(Clone, Debug)]
pub struct Session {
    pub id: SessionId,
    pub timeout_ms: i32,
    /// Tick-aligned deadline; the session expires when a tick passes it.
    pub expires_at_ms: i64,
    /// Set once a close or expiry has been proposed: later requests get
    /// SessionExpired and re-attach is refused.
    pub closing: bool,
    pub owner: Option<ConnectionOwner>,
    /// The xid of the newest write its owner connection had proposed (a
    /// write sent again after a leader change at or below it is a
    /// duplicate).
    pub last_xid: Option<crate::proto::Xid>,
    /// Whether `last_xid` is known: not for a session restored from a
    /// snapshot (which keeps no xids) until its owner writes or re-attaches.
    pub xids_known: bool,
}

/// Why a re-attach was refused. The client sees the "invalid session" reply
/// either way; the variants exist for logs and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReattachError {
    #[error("session password does not match")]
    BadPassword,
    #[error("session is unknown or expired")]
    Unknown,
    #[error("session is closing")]
    Closing,
}

/// A write came from a connection that does not own its session.
/// A plain value (an error, copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("session moved to {owner:?}")]
pub struct SessionMoved {
    pub owner: ConnectionOwner,
}

/// All sessions of the server. Owned by the consensus core.
#[derive(Debug)]
pub struct SessionTable {
    sessions: HashMap<SessionId, Session>,
    /// expiry deadline -> sessions due then (ZooKeeper's tick buckets).
    expiry_buckets: BTreeMap<i64, Vec<SessionId>>,
    next_id: i64,
    tick_ms: i64,
    /// Keys the password derivation. Must be stable for a session's life
    /// (persisted with the data once storage lands).
    password_secret: [u8; 32],
}

impl SessionTable {
    /// `server_id` goes in the top byte of every id, as ZooKeeper does, so
    /// `cons`/`dump` output looks familiar (standalone uses 1).
    pub fn new(server_id: u8, now_ms: i64, tick_ms: i64, password_secret: [u8; 32]) -> Self {
        assert!(tick_ms > 0, "tick must be positive");
        // Low 40 bits of the clock in bits 16..55, zeros below: ids from two
        // server starts a millisecond apart do not collide for 65536 sessions.
        let clock_bits = ((now_ms as u64) << 24) >> 8;
        let base = ((server_id as u64) << 56) | clock_bits;
        SessionTable {
            sessions: HashMap::new(),
            expiry_buckets: BTreeMap::new(),
            next_id: base as i64,
            tick_ms,
            password_secret,
        }
    }

    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    pub fn get(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(&id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.sessions.values()
    }

    /// A fresh id: unique, non-zero, never `i64::MIN` (the container marker).
    pub fn allocate_id(&mut self) -> SessionId {
        loop {
            let id = self.next_id;
            self.next_id = self.next_id.wrapping_add(1);
            if id != 0 && id != i64::MIN && !self.sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// The session's 16-byte password: a keyed hash of its id, so it needs
    /// no storage and re-derives identically after a restart.
    pub fn password_for(&self, id: SessionId) -> [u8; 16] {
        let mut hasher = Sha1::new();
        hasher.update(self.password_secret);
        hasher.update(id.to_be_bytes());
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        out
    }

    /// `clamp(requested, min, max)`; zero or negative requests get min.
    pub fn negotiate_timeout(requested_ms: i32, min_ms: i32, max_ms: i32) -> i32 {
        debug_assert!(min_ms <= max_ms);
        if requested_ms <= 0 {
            return min_ms;
        }
        requested_ms.clamp(min_ms, max_ms)
    }

    fn deadline(&self, now_ms: i64, timeout_ms: i32) -> i64 {
        // Round up to the next tick boundary, as ZooKeeper's buckets do: a
        // session dies between timeout and timeout + tick after its last packet.
        let raw = now_ms + timeout_ms as i64;
        (raw / self.tick_ms + 1) * self.tick_ms
    }

    /// Records a committed createSession.
    pub fn create(&mut self, id: SessionId, timeout_ms: i32, now_ms: i64) {
        let expires_at_ms = self.deadline(now_ms, timeout_ms);
        let previous = self.sessions.insert(
            id,
            Session {
                id,
                timeout_ms,
                expires_at_ms,
                closing: false,
                owner: None,
                last_xid: None,
                xids_known: true,
            },
        );
        assert!(previous.is_none(), "session {id:#x} created twice");
        self.expiry_buckets
            .entry(expires_at_ms)
            .or_default()
            .push(id);
    }

    /// Extends a live session's deadline. Returns false if it is gone or closing.
    pub fn touch(&mut self, id: SessionId, now_ms: i64) -> bool {
        let Some(timeout) = self
            .sessions
            .get(&id)
            .filter(|s| !s.closing)
            .map(|s| s.timeout_ms)
        else {
            return false;
        };
        let deadline = self.deadline(now_ms, timeout);
        let session = self.sessions.get_mut(&id).expect("checked above");
        if deadline > session.expires_at_ms {
            session.expires_at_ms = deadline;
            // The old bucket entry is left behind and skipped lazily in
            // `take_expired`: cheaper than removing it from a Vec on every ping.
            self.expiry_buckets.entry(deadline).or_default().push(id);
        }
        true
    }

    /// Validates a re-attach (after the caller has kicked any other
    /// connection bound to the session, as ZooKeeper does first).
    pub fn reattach(
        &mut self,
        id: SessionId,
        passwd: &[u8],
        timeout_ms: i32,
        now_ms: i64,
        owner: ConnectionOwner,
    ) -> Result<(), ReattachError> {
        if passwd != self.password_for(id) {
            return Err(ReattachError::BadPassword);
        }
        let session = self.sessions.get_mut(&id).ok_or(ReattachError::Unknown)?;
        if session.closing {
            return Err(ReattachError::Closing);
        }
        session.timeout_ms = timeout_ms;
        if session.owner != Some(owner) {
            // A new connection numbers its requests afresh.
            session.last_xid = None;
            session.xids_known = true;
        }
        session.owner = Some(owner);
        self.touch(id, now_ms);
        Ok(())
    }

    /// Checks that a write for session `id` comes from the connection that
    /// owns it (ZooKeeper's SessionMoved check). A write from an older
    /// connection (one the client gave up on, whose request arrives late:
    /// relayed, or queued while there was no leader) must not be applied
    /// after what the client sent on its newer one. A session whose owner
    /// is unknown (a new leader's, or one whose connection just closed)
    /// adopts the writer.
    pub fn check_owner(
        &mut self,
        id: SessionId,
        writer: ConnectionOwner,
    ) -> Result<(), SessionMoved> {
        let Some(session) = self.sessions.get_mut(&id) else {
            return Ok(()); // liveness is the caller's check
        };
        match session.owner {
            Some(owner) if owner != writer => Err(SessionMoved { owner }),
            Some(_) => Ok(()),
            None => {
                session.owner = Some(writer);
                Ok(())
            }
        }
    }

    /// Its owner connection's write `xid` was proposed.
    pub fn wrote(&mut self, id: SessionId, xid: crate::proto::Xid) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.last_xid = Some(xid);
            s.xids_known = true;
        }
    }

    /// The session's xids are not known (restored from a snapshot).
    pub fn forget_xids(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.last_xid = None;
            s.xids_known = false;
        }
    }

    pub fn set_owner(&mut self, id: SessionId, owner: Option<ConnectionOwner>) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.owner = owner;
        }
    }

    /// Marks a session closing (close requested or expiry decided).
    pub fn mark_closing(&mut self, id: SessionId) -> bool {
        match self.sessions.get_mut(&id) {
            Some(s) if !s.closing => {
                s.closing = true;
                true
            }
            _ => false,
        }
    }

    /// Clears one session's closing flag: its close will never commit (the
    /// standalone log failed before it was durable).
    pub fn reopen(&mut self, id: SessionId) {
        if let Some(s) = self.sessions.get_mut(&id) {
            s.closing = false;
        }
    }

    pub fn is_live(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_some_and(|s| !s.closing)
    }

    /// Forgets a session once its close transaction is committed.
    pub fn remove(&mut self, id: SessionId) -> Option<Session> {
        self.sessions.remove(&id)
    }

    /// Live sessions whose deadline has passed; the caller marks them closing
    /// and proposes their close.
    pub fn take_expired(&mut self, now_ms: i64) -> Vec<SessionId> {
        let mut expired = Vec::new();
        while let Some(entry) = self.expiry_buckets.first_entry() {
            if *entry.key() > now_ms {
                break;
            }
            let (deadline, ids) = entry.remove_entry();
            for id in ids {
                if let Some(s) = self.sessions.get(&id) {
                    // Skip stale bucket entries of sessions touched since.
                    if !s.closing && s.expires_at_ms == deadline {
                        expired.push(id);
                    }
                }
            }
        }
        expired
    }

    pub fn tick_ms(&self) -> i64 {
        self.tick_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> SessionTable {
        SessionTable::new(1, 1_700_000_000_000, 2000, [7u8; 32])
    }

    #[test]
    fn ids_carry_server_id_and_are_unique() {
        let mut t = table();
        let a = t.allocate_id();
        let b = t.allocate_id();
        assert_ne!(a, b);
        assert_eq!((a as u64) >> 56, 1);
        assert_eq!(a & 0xffff, 0, "low 16 bits start at zero");
    }

    #[test]
    fn timeout_negotiation_matches_zookeeper() {
        // digest §4.3 step 4 with tickTime 2000: 1 -> 4000, 5000 -> 5000, 100000 -> 40000.
        assert_eq!(SessionTable::negotiate_timeout(1, 4000, 40000), 4000);
        assert_eq!(SessionTable::negotiate_timeout(5000, 4000, 40000), 5000);
        assert_eq!(SessionTable::negotiate_timeout(100000, 4000, 40000), 40000);
        assert_eq!(SessionTable::negotiate_timeout(0, 4000, 40000), 4000);
        assert_eq!(SessionTable::negotiate_timeout(-5, 4000, 40000), 4000);
    }

    #[test]
    fn expiry_is_tick_aligned_and_touch_extends() {
        let mut t = table();
        let now = 1_000_000;
        let id = t.allocate_id();
        t.create(id, 4000, now);
        assert!(t.take_expired(now + 4000 - 1).is_empty());
        // Deadline is rounded up to the next tick after now + timeout.
        let deadline = t.get(id).unwrap().expires_at_ms;
        assert!(deadline > now + 4000 && deadline <= now + 4000 + 2000);
        assert!(deadline % 2000 == 0);
        // A touch just before the deadline moves it.
        assert!(t.touch(id, deadline - 1));
        assert!(t.take_expired(deadline).is_empty());
        let later = t.get(id).unwrap().expires_at_ms;
        assert_eq!(t.take_expired(later), vec![id]);
    }

    #[test]
    fn reattach_checks_password_and_state() {
        let mut t = table();
        let id = t.allocate_id();
        t.create(id, 4000, 0);
        let owner = ConnectionOwner {
            member: 0,
            shard: 0,
            conn: 9,
        };
        assert_eq!(
            t.reattach(id, &[0u8; 16], 4000, 10, owner),
            Err(ReattachError::BadPassword)
        );
        let pw = t.password_for(id);
        assert_eq!(t.reattach(id, &pw, 6000, 10, owner), Ok(()));
        assert_eq!(t.get(id).unwrap().timeout_ms, 6000);
        assert!(t.mark_closing(id));
        assert_eq!(
            t.reattach(id, &pw, 6000, 10, owner),
            Err(ReattachError::Closing)
        );
        t.remove(id);
        assert_eq!(
            t.reattach(id, &pw, 6000, 10, owner),
            Err(ReattachError::Unknown)
        );
    }

    #[test]
    fn password_is_stable_and_distinct() {
        let t = table();
        assert_eq!(t.password_for(5), t.password_for(5));
        assert_ne!(t.password_for(5), t.password_for(6));
        let other = SessionTable::new(1, 0, 2000, [8u8; 32]);
        assert_ne!(t.password_for(5), other.password_for(5));
    }
}
