//! Applying committed raft entries to the member's committed state, in log
//! order, the same on every role: a new term's empty entry starts an epoch;
//! a normal entry's transaction is applied and broadcast to the shards as a
//! commit (carrying its reply when this member holds the client); a
//! membership change updates raft's configuration and `/zookeeper/config`.
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::Member;
use crate::consensus::membership::Membership;
use crate::consensus::wire::{decode_entry, EntryPayload};
use crate::messages::{Commit, Completion, ToShard};
use crate::ops::txn::Txn;
use protobuf::Message as _;
use raft::eraftpb::{ConfChange, ConfChangeSingle, ConfChangeV2, Entry, EntryType};
use std::sync::Arc;

impl Member {
    pub(super) fn apply_entries(&mut self, entries: Vec<Entry>) {
        for e in entries {
            assert!(
                e.index == self.applied_index + 1 || self.applied_index == 0,
                "committed entries must be applied in order: {} after {}",
                e.index,
                self.applied_index
            );
            self.applied_index = e.index;
            self.applied_term = e.term;
            self.snapshots.cadence.committed(1);
            match e.get_entry_type() {
                EntryType::EntryNormal if e.data.is_empty() => {
                    // A new term's empty entry: a new epoch.
                    self.committed.begin_epoch((e.term as i64) << 32);
                }
                EntryType::EntryNormal => match decode_entry(&e.data) {
                    Ok(p) => self.apply_payload(p),
                    // Only a broken or forged leader writes such an entry;
                    // every member holds the same bytes and skips them
                    // alike, so the replicas stay equal, and none aborts.
                    Err(err) => tracing::error!(
                        index = e.index,
                        term = e.term,
                        error = %err,
                        "committed entry does not decode: skipped"
                    ),
                },
                EntryType::EntryConfChange | EntryType::EntryConfChangeV2 => {
                    self.apply_conf_change_entry(&e);
                }
            }
            self.applied_up_to(e.index);
        }
        self.release_held();
    }

    /// A committed membership change: raft's configuration first, then the
    /// Reconfig txn in the entry's context (absent in raft's own entry that
    /// leaves a joint configuration).
    fn apply_conf_change_entry(&mut self, e: &Entry) {
        let cc = if e.get_entry_type() == EntryType::EntryConfChangeV2 {
            ConfChangeV2::parse_from_bytes(&e.data)
        } else {
            // Roost proposes only V2; a V1 entry is one change.
            ConfChange::parse_from_bytes(&e.data).map(|c| {
                let mut single = ConfChangeSingle {
                    node_id: c.node_id,
                    ..Default::default()
                };
                single.set_change_type(c.get_change_type());
                let mut v2 = ConfChangeV2::default();
                v2.set_changes(vec![single].into());
                v2
            })
        };
        let cc = match cc {
            Ok(cc) => cc,
            Err(err) => {
                // As an undecodable normal entry: skipped alike everywhere.
                tracing::error!(index = e.index, error = %err, "committed membership change does not decode: skipped");
                return;
            }
        };
        match self.node.apply_conf_change(&cc) {
            Ok(cs) => {
                self.cfg.voters = cs.voters.clone();
                self.cfg.learners = cs.learners.clone();
                tracing::info!(index = e.index, voters = ?cs.voters, learners = ?cs.learners, "membership changed");
                self.node.mut_store().mem.wl().set_conf_state(cs);
            }
            Err(err) => {
                tracing::error!(index = e.index, error = %err, "membership change not applied")
            }
        }
        if e.context.is_empty() {
            return;
        }
        let p = match decode_entry(&e.context) {
            Ok(p) => p,
            Err(err) => {
                tracing::error!(index = e.index, error = %err, "membership change carries a bad payload: its Reconfig is skipped");
                return;
            }
        };
        if let Txn::Reconfig { config } = &p.txn {
            match std::str::from_utf8(config)
                .map_err(|e| e.to_string())
                .and_then(Membership::parse_text)
            {
                Ok(m) => {
                    self.step.membership = Some(m.servers.clone());
                    self.membership = m;
                }
                Err(err) => {
                    tracing::error!(error = %err, "reconfig entry with an unreadable membership")
                }
            }
        }
        self.apply_payload(p);
    }

    fn apply_payload(&mut self, p: EntryPayload) {
        let applied = self.committed.apply_entry(&p);
        self.leader_saw_commit(&p.txn);
        let closed_session = match &p.txn {
            Txn::CloseSession { session_id } => Some(*session_id),
            _ => None,
        };
        let me = self.cfg.my_id;
        let completion = p.origin.filter(|o| o.member == me).map(|o| Completion {
            origin: o.origin,
            result: applied.result,
        });
        let lost = completion.as_ref().is_some_and(|c| {
            let o = c.origin;
            self.router.write_answered(o.shard, o.conn, o.xid)
                == super::routing::Answered::EarlierLost
        });
        let connected = p.connect.filter(|c| c.member == me).map(|c| {
            self.router.resolved(c.shard, c.conn);
            (c.shard, c.conn, c.response)
        });
        let commit = Commit {
            zxid: p.zxid,
            tree: self.committed.tree().clone(),
            events: applied.events,
            completion,
            connected,
            closed_session,
        };
        let lost_conn = lost.then(|| {
            let o = commit
                .completion
                .as_ref()
                .expect("lost implies a completion")
                .origin;
            (o.shard, o.conn)
        });
        self.step.broadcast(ToShard::Commit(Arc::new(commit)));
        if let Some((shard, conn)) = lost_conn {
            self.earlier_writes_lost(shard, conn);
        }
    }
}
