//! A member's snapshots: asking for one every snapCount applied entries,
//! compacting raft's in-memory log once one is written, and taking one from
//! the leader (verified before raft sees it, installed when raft hands it
//! over).
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::{membership_of, raft_snapshot, Member};
use crate::consensus::cadence::SnapshotCadence;
use crate::consensus::rng::Rng;
use crate::consensus::step::{SnapshotOutcome, SnapshotRequest};
use crate::messages::{Commit, MemberId, ToShard};
use crate::proto::Zxid;
use crate::snapshot::RaftPoint;
use raft::eraftpb::{Message, Snapshot};
use raft::Storage as _;
use std::sync::Arc;

/// See the module doc.
/// Owned by the consensus executor, inside [`Member`].
pub(super) struct MemberSnapshots {
    pub(super) cadence: SnapshotCadence,
    /// A snapshot received from the leader, decoded and checked before raft
    /// saw its message (raft index, contents): raft-rs cannot be told "no"
    /// once it has taken a snapshot, so a damaged one is refused at the door.
    verified: Option<(u64, crate::snapshot::Loaded)>,
    /// Snapshots received from the leader and installed.
    pub(super) installed: u64,
    /// Snapshots refused as damaged.
    pub(super) refused: u64,
}

impl MemberSnapshots {
    pub(super) fn new(snap_count: u64, rng: &mut Rng) -> MemberSnapshots {
        MemberSnapshots {
            cadence: SnapshotCadence::new(snap_count, rng),
            verified: None,
            installed: 0,
            refused: 0,
        }
    }
}

impl Member {
    /// Asks the runtime to write a snapshot of the committed state at the
    /// applied raft point when one is due. Its sessions are the committed
    /// ones: a snapshot never holds a session whose creation lies after its
    /// point (replaying it would create it twice).
    pub(super) fn maybe_snapshot(&mut self) {
        if !self.snapshots.cadence.due() || self.applied_index <= self.node.store().snapshot_index()
        {
            return;
        }
        self.snapshots.cadence.started();
        let cs = self
            .node
            .store()
            .initial_state()
            .map(|s| s.conf_state)
            .unwrap_or_default();
        let raft = RaftPoint {
            index: self.applied_index,
            term: self.applied_term,
            applied_zxid: self.committed.zxid(),
            voters: cs.voters,
            learners: cs.learners,
            voters_outgoing: cs.voters_outgoing,
            learners_next: cs.learners_next,
            auto_leave: cs.auto_leave,
        };
        self.step.snapshot = Some(SnapshotRequest {
            tree: self.committed.tree().clone(),
            sessions: self.committed.session_list(),
            raft: Some(raft),
        });
    }

    /// The snapshot asked for is written (with its raft point and file
    /// bytes) or failed. Compacts the in-memory log up to it; the log on
    /// disk may be released below the entry after the oldest retained
    /// snapshot, since recovery may fall back to that one.
    pub(super) fn snapshot_written(&mut self, outcome: SnapshotOutcome) {
        self.snapshots.cadence.finished();
        if let Some((point, data)) = outcome.written {
            let index = point.index;
            if let Err(e) = self
                .node
                .mut_store()
                .compact_to(raft_snapshot(&point, data))
            {
                tracing::error!(index, error = %e, "compacting the raft log failed");
                return;
            }
            tracing::info!(
                index,
                first_index = self.node.store().first_index().unwrap_or(0),
                "raft log compacted"
            );
        }
        if let Some(oldest) = outcome.oldest_retained_raft_index {
            self.step.release_log_below = Some(oldest as i64 + 1);
        }
    }

    /// Checks a snapshot the leader sent before raft sees it: the same
    /// checks as loading the file from disk, and its raft point must be the
    /// message's. A damaged one is refused (logged; the member keeps its
    /// state, and the leader sends a snapshot again when the member's next
    /// append response still lacks the entries); a good one is kept decoded
    /// for [`Member::install_snapshot`].
    pub(super) fn verify_received_snapshot(&mut self, from: MemberId, msg: &Message) -> bool {
        let snap = msg.get_snapshot();
        let meta = snap.get_metadata();
        let refused = |why: String| {
            tracing::error!(
                from,
                index = meta.index,
                term = meta.term,
                bytes = snap.data.len(),
                "refused a damaged snapshot from the leader: {why}"
            );
        };
        match crate::snapshot::load_bytes(&snap.data) {
            Ok(loaded) => match &loaded.raft {
                Some(p) if (p.index, p.term) == (meta.index, meta.term) => {
                    self.snapshots.verified = Some((meta.index, loaded));
                    true
                }
                other => {
                    refused(format!(
                        "its raft point {:?} is not the message's",
                        other.as_ref().map(|p| (p.index, p.term))
                    ));
                    self.snapshots.refused += 1;
                    false
                }
            },
            Err(e) => {
                refused(e.to_string());
                self.snapshots.refused += 1;
                false
            }
        }
    }

    /// Replaces the state with a snapshot received from the leader; returns
    /// the tree's zxid (the file name). Shards get the new tree as a commit
    /// without events, then every client connection is closed (see below).
    pub(super) fn install_snapshot(&mut self, snap: &Snapshot) -> Zxid {
        let meta = snap.get_metadata();
        // Raft only hands over snapshots whose message passed
        // `verify_received_snapshot`, which kept the decoded contents.
        let loaded = match self.snapshots.verified.take() {
            Some((index, loaded)) if index == meta.index => loaded,
            other => panic!(
                "raft installs snapshot {} but the verified one is {:?}",
                meta.index,
                other.map(|(i, _)| i)
            ),
        };
        let point = loaded
            .raft
            .clone()
            .expect("verify_received_snapshot checked the raft point");
        tracing::info!(
            index = point.index,
            term = point.term,
            zxid = format!("{:#x}", loaded.zxid),
            znodes = loaded.tree.node_count(),
            "installing a snapshot from the leader"
        );
        let sessions: Vec<(i64, i32)> = loaded
            .sessions
            .iter()
            .map(|s| (s.id, s.timeout_ms))
            .collect();
        let zxid = loaded.zxid;
        self.committed
            .replace(loaded.tree, &sessions, point.applied_zxid);
        self.applied_index = point.index;
        self.applied_term = point.term;
        self.cfg.voters = point.voters.clone();
        self.cfg.learners = point.learners.clone();
        if let Some(m) = membership_of(self.committed.tree()) {
            if m.servers != self.membership.servers {
                self.step.membership = Some(m.servers.clone());
            }
            self.membership = m;
        }
        self.leading = None;
        self.snapshots.cadence.reset();
        self.snapshots.installed += 1;
        let commit = Commit {
            zxid: self.committed.zxid(),
            tree: self.committed.tree().clone(),
            events: Vec::new(),
            completion: None,
            connected: None,
            closed_session: None,
        };
        self.step.broadcast(ToShard::Commit(Arc::new(commit)));
        self.release_held();
        // The state jumped over entries this member never applied one by
        // one: the watch events they fired, the replies to its clients'
        // writes among them, the sessions they closed. Its clients are
        // closed, as a ZooKeeper follower's are when it syncs by snapshot;
        // they reconnect with their last zxid and re-register watches (which
        // fire for what changed), and retry what was in doubt.
        tracing::info!("closing every client connection: their state was replaced by a snapshot");
        self.close_all_clients();
        zxid
    }
}
