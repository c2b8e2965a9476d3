//! The committed state: the tree every replica has applied, the sessions
//! that tree's transactions created and did not close, and the zxid it
//! reached. It is what shards read, what a snapshot holds and what a
//! restart recovers, so one type serves all three, with one rule for how a
//! transaction changes the session set ([`session_change`]).
//!
//! Owned by the consensus executor (start-up recovery builds one before
//! that executor starts). Pure.

use crate::ops::txn::Txn;
use crate::ops::write::{self, Applied};
use crate::proto::{SessionId, Xid, Zxid};
use crate::session::ConnectionOwner;
use crate::tree::DataTree;
use std::collections::BTreeMap;
use std::sync::Arc;

/// What a transaction does to the committed session set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionChange {
    Created { id: SessionId, timeout_ms: i32 },
    Closed(SessionId),
}

/// The one rule: a CreateSession adds its session, a CloseSession (a
/// close or an expiry) removes it; nothing else adds or removes sessions
/// (a Reattach only moves one).
pub fn session_change(txn: &Txn) -> Option<SessionChange> {
    match txn {
        Txn::CreateSession {
            session_id,
            timeout_ms,
        } => Some(SessionChange::Created {
            id: *session_id,
            timeout_ms: *timeout_ms,
        }),
        Txn::CloseSession { session_id } => Some(SessionChange::Closed(*session_id)),
        _ => None,
    }
}

/// A session as the log left it.
/// A plain value (copied freely), kept in `Committed`; no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedSession {
    pub timeout_ms: i32,
    /// The connection the log last bound it to (an ensemble's CreateSession
    /// or Reattach entry); `None` where that is not known (standalone, or
    /// restored from a snapshot, which does not keep owners).
    pub owner: Option<ConnectionOwner>,
    /// The xid of the newest write of that connection in the log (a write
    /// its member sends again after a leader change is a duplicate at or
    /// below it).
    pub last_xid: Option<Xid>,
    /// Whether `last_xid` is known: not for a session restored from a
    /// snapshot (which keeps neither owners nor xids) until an entry binds
    /// it to a connection again. A write of such a session sent again
    /// after a leader change cannot be told from one already in the log.
    pub xids_known: bool,
}

/// See the module doc. The tree is shared with the shards (an `Arc`
/// version): applying copies it first only if a shard still holds it
/// (cheap: the tree's maps share structure).
#[derive(Clone, Debug)]
pub struct Committed {
    tree: Arc<DataTree>,
    sessions: BTreeMap<SessionId, CommittedSession>,
    /// Session by owner connection (the entries name connections).
    by_owner: std::collections::HashMap<ConnectionOwner, SessionId>,
    /// The highest zxid applied. Above `tree.last_zxid` when a new epoch
    /// began (an ensemble's new term) without a transaction yet.
    zxid: Zxid,
}

impl Committed {
    pub fn new(tree: DataTree, sessions: impl IntoIterator<Item = (SessionId, i32)>) -> Committed {
        let zxid = tree.last_zxid;
        Committed {
            tree: Arc::new(tree),
            sessions: sessions
                .into_iter()
                .map(|(id, timeout_ms)| {
                    let session = CommittedSession {
                        timeout_ms,
                        owner: None,
                        last_xid: None,
                        xids_known: false,
                    };
                    (id, session)
                })
                .collect(),
            by_owner: std::collections::HashMap::new(),
            zxid,
        }
    }

    /// The published version shards read.
    pub fn tree(&self) -> &Arc<DataTree> {
        &self.tree
    }

    pub fn zxid(&self) -> Zxid {
        self.zxid
    }

    /// Sessions alive at this state.
    pub fn sessions(&self) -> &BTreeMap<SessionId, CommittedSession> {
        &self.sessions
    }

    /// (id, negotiated timeout ms) of every session: what a snapshot keeps.
    pub fn session_list(&self) -> Vec<(SessionId, i32)> {
        self.sessions
            .iter()
            .map(|(&id, s)| (id, s.timeout_ms))
            .collect()
    }

    /// Every session as a new leader starts from it.
    pub fn session_entries(&self) -> Vec<(SessionId, CommittedSession)> {
        self.sessions.iter().map(|(&id, s)| (id, *s)).collect()
    }

    /// Applies a committed ensemble entry: its transaction, the connection
    /// it binds its session to (a CreateSession's or Reattach's), and the
    /// xid of the write it carries out (from its session's connection).
    pub fn apply_entry(&mut self, p: &crate::consensus::wire::EntryPayload) -> Applied {
        let connection = p.connect.as_ref().map(|c| ConnectionOwner {
            member: c.member,
            shard: c.shard,
            conn: c.conn,
        });
        let applied = self.apply(p.zxid, p.time_ms, &p.txn, connection);
        if let Some(o) = &p.origin {
            let writer = ConnectionOwner {
                member: o.member,
                shard: o.origin.shard,
                conn: o.origin.conn,
            };
            // The writer owns its session (the leader checked it); found by
            // its connection, as entries do not name sessions.
            if let Some(s) = self
                .by_owner
                .get(&writer)
                .and_then(|id| self.sessions.get_mut(id))
            {
                s.last_xid = Some(o.origin.xid);
            }
        }
        applied
    }

    /// Applies a committed transaction (ensemble members, recovery replay).
    /// `connection` is the connection the entry binds its session to (a
    /// CreateSession's or Reattach's), if it says.
    pub fn apply(
        &mut self,
        zxid: Zxid,
        time_ms: i64,
        txn: &Txn,
        connection: Option<ConnectionOwner>,
    ) -> Applied {
        assert!(
            zxid > self.tree.last_zxid,
            "transactions apply in zxid order: {zxid:#x} after {:#x}",
            self.tree.last_zxid
        );
        let applied = write::apply(Arc::make_mut(&mut self.tree), txn, zxid, time_ms);
        self.change_sessions(session_change(txn));
        match txn {
            Txn::CreateSession { session_id, .. } => self.bind(*session_id, connection),
            Txn::Reattach {
                session_id,
                timeout_ms,
            } => {
                let s = self
                    .sessions
                    .get_mut(session_id)
                    .unwrap_or_else(|| panic!("reattach of unknown session {session_id:#x}"));
                s.timeout_ms = *timeout_ms;
                // A new connection numbers its requests afresh.
                s.last_xid = None;
                s.xids_known = true;
                self.bind(*session_id, connection);
            }
            _ => {}
        }
        self.zxid = self.zxid.max(zxid);
        applied
    }

    /// Moves to `version`, the tree with transaction `zxid` applied, built
    /// elsewhere: the standalone core applied it once already, to its
    /// pending tree, when it proposed it. `change` is that transaction's
    /// [`session_change`].
    pub fn advance(&mut self, zxid: Zxid, version: Arc<DataTree>, change: Option<SessionChange>) {
        assert_eq!(version.last_zxid, zxid, "a version is the tree at its zxid");
        assert!(zxid > self.zxid, "commits advance in zxid order");
        self.tree = version;
        self.change_sessions(change);
        self.zxid = zxid;
    }

    /// A new epoch began at `zxid` (`epoch << 32`) without a transaction.
    pub fn begin_epoch(&mut self, zxid: Zxid) {
        self.zxid = self.zxid.max(zxid);
    }

    /// Replaces everything (an ensemble member installing a snapshot).
    pub fn replace(&mut self, tree: DataTree, sessions: &[(SessionId, i32)], zxid: Zxid) {
        *self = Committed::new(tree, sessions.iter().copied());
        self.zxid = zxid.max(self.zxid);
    }

    /// Binds a session to the connection an entry names.
    fn bind(&mut self, id: SessionId, connection: Option<ConnectionOwner>) {
        let Some(s) = self.sessions.get_mut(&id) else {
            return;
        };
        if let Some(old) = s.owner.take() {
            self.by_owner.remove(&old);
        }
        s.owner = connection;
        if let Some(c) = connection {
            self.by_owner.insert(c, id);
        }
    }

    fn change_sessions(&mut self, change: Option<SessionChange>) {
        match change {
            Some(SessionChange::Created { id, timeout_ms }) => {
                let session = CommittedSession {
                    timeout_ms,
                    owner: None,
                    last_xid: None,
                    xids_known: true,
                };
                let previous = self.sessions.insert(id, session);
                assert!(previous.is_none(), "session {id:#x} committed twice");
            }
            Some(SessionChange::Closed(id)) => {
                if let Some(owner) = self.sessions.remove(&id).and_then(|s| s.owner) {
                    self.by_owner.remove(&owner);
                }
            }
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_follow_their_transactions() {
        let mut c = Committed::new(DataTree::new(), []);
        c.apply(
            1,
            0,
            &Txn::CreateSession {
                session_id: 7,
                timeout_ms: 4000,
            },
            None,
        );
        assert_eq!(c.session_list(), vec![(7, 4000)]);
        let shard_copy = c.tree().clone();
        c.apply(2, 0, &Txn::CloseSession { session_id: 7 }, None);
        assert!(c.sessions().is_empty());
        assert_eq!((c.zxid(), c.tree().last_zxid), (2, 2));
        assert_eq!(shard_copy.last_zxid, 1, "a published version never changes");
        c.begin_epoch(1 << 32);
        assert_eq!(c.zxid(), 1 << 32);
    }

    #[test]
    #[should_panic(expected = "committed twice")]
    fn a_session_created_twice_is_a_bug() {
        let create = Txn::CreateSession {
            session_id: 7,
            timeout_ms: 4000,
        };
        let mut c = Committed::new(DataTree::new(), [(7, 4000)]);
        c.apply(1, 0, &create, None);
    }
}
