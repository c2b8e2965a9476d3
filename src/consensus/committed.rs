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
use crate::proto::{SessionId, Zxid};
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommittedSession {
    pub timeout_ms: i32,
    /// The connection the log last bound it to (an ensemble's CreateSession
    /// or Reattach entry); `None` where that is not known (standalone, or
    /// restored from a snapshot, which does not keep owners).
    pub owner: Option<ConnectionOwner>,
}

/// See the module doc. The tree is shared with the shards (an `Arc`
/// version): applying copies it first only if a shard still holds it
/// (cheap: the tree's maps share structure).
#[derive(Clone, Debug)]
pub struct Committed {
    tree: Arc<DataTree>,
    sessions: BTreeMap<SessionId, CommittedSession>,
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
                    let owner = None;
                    (id, CommittedSession { timeout_ms, owner })
                })
                .collect(),
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

    /// (id, timeout ms, owner) of every session: what a new leader starts from.
    pub fn owned_sessions(&self) -> Vec<(SessionId, i32, Option<ConnectionOwner>)> {
        self.sessions
            .iter()
            .map(|(&id, s)| (id, s.timeout_ms, s.owner))
            .collect()
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
            Txn::CreateSession { session_id, .. } => {
                if let Some(s) = self.sessions.get_mut(session_id) {
                    s.owner = connection;
                }
            }
            Txn::Reattach {
                session_id,
                timeout_ms,
            } => {
                let s = self
                    .sessions
                    .get_mut(session_id)
                    .unwrap_or_else(|| panic!("reattach of unknown session {session_id:#x}"));
                s.timeout_ms = *timeout_ms;
                s.owner = connection;
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

    fn change_sessions(&mut self, change: Option<SessionChange>) {
        match change {
            Some(SessionChange::Created { id, timeout_ms }) => {
                let session = CommittedSession {
                    timeout_ms,
                    owner: None,
                };
                let previous = self.sessions.insert(id, session);
                assert!(previous.is_none(), "session {id:#x} committed twice");
            }
            Some(SessionChange::Closed(id)) => {
                self.sessions.remove(&id);
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
