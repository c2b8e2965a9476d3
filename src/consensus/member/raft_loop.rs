//! raft-rs's Ready cycle for a member: send what may be sent, persist what
//! must be durable (through the log core, answered by token), apply what is
//! committed, answer read rounds. Also the election timers: raft's random
//! timeouts are drawn from the member's seeded generator, and a leader
//! whose connection dropped is replaced at once, in turns.
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::{Member, PersistRequest};
use crate::consensus::wire::FRAME_RAFT;
use crate::messages::MemberId;
use protobuf::Message as _;
use raft::eraftpb::{Message, MessageType};
use raft::{SnapshotStatus, StateRole};

/// When the leader's connection drops, the surviving voters campaign one
/// after another, this many ticks apart, in an order every member computes
/// alike (ids rotated by the term): two followers that saw the leader die at
/// the same moment must not both stand and split the vote, which costs a
/// full randomized election timeout (1-2 s). A random 1-5 tick jitter split
/// 2 votes in 20 failover rounds.
pub const DEAD_LEADER_CAMPAIGN_SPACING_TICKS: usize = 4;

/// The election timeout is drawn from `[election_ticks, election_ticks *
/// 1.5)`: spread enough that two followers that lost the same leader rarely
/// stand together (their draws differ by a tick or more, many round trips),
/// narrow enough that the slowest draw still replaces a silent leader
/// within the failover budget (docs/replication.md, "Timing").
pub fn election_timeout_range(election_ticks: usize) -> (usize, usize) {
    (election_ticks, election_ticks + (election_ticks / 2).max(1))
}

/// A follower's election timer while it follows a leader: the survivors of
/// a leader that goes silent (nothing closes; they only stop hearing it)
/// time out in the same turns as for a dead one, this many ticks apart,
/// the first one tick after the check-quorum lease (so the others' leases
/// have run out when its pre-vote arrives, and they answer it). Random
/// draws split the vote when two fall in the same tick: 2 of 20 rounds of
/// the partition benchmark, each costing another election timeout.
pub const SILENT_LEADER_CAMPAIGN_SPACING_TICKS: usize = 2;

/// The election timeout of the follower with campaign turn `turn`
/// ([`campaign_turn`]) while its leader is known: `election_ticks + 1`
/// for the first turn, then [`SILENT_LEADER_CAMPAIGN_SPACING_TICKS`] apart,
/// but never past the top of [`election_timeout_range`] (late turns, which
/// matter only if the earlier ones are gone too, may share it).
pub fn silent_leader_timeout(election_ticks: usize, turn: usize) -> usize {
    let (lo, hi) = election_timeout_range(election_ticks);
    (lo + 1 + turn * SILENT_LEADER_CAMPAIGN_SPACING_TICKS).min(hi - 1)
}

/// Readies run per drive before yielding (each input produces a few; a
/// bound keeps one input from monopolising the executor).
const READIES_PER_DRIVE_MAX: usize = 64;

impl Member {
    /// raft resets its election timer with a draw from its own thread-local
    /// generator whenever it changes term, role or leader. Each such reset
    /// is redrawn here from the member's seeded generator, so that a run is
    /// a function of its seed (the simulation replays a failure from it).
    /// `force` redraws regardless (at start).
    pub(super) fn rerandomize(&mut self, force: bool) {
        let raft = &self.node.raft;
        let seen = (raft.term, raft.state, raft.leader_id);
        if !force && seen == self.raft_seen {
            return;
        }
        self.raft_seen = seen;
        let (lo, hi) = election_timeout_range(self.cfg.election_ticks);
        // The draw is taken either way, so the generator's stream (and a
        // seed's replay) does not depend on which branch ran.
        let drawn = self.rng.range(lo as u64, hi as u64) as usize;
        let t = if raft.state == StateRole::Follower && raft.leader_id != raft::INVALID_ID {
            let turn = campaign_turn(&self.cfg.voters, raft.leader_id, self.cfg.my_id, raft.term);
            silent_leader_timeout(self.cfg.election_ticks, turn)
        } else {
            // No leader to lose in turns (at start, after a failed
            // election): a random draw breaks the symmetry.
            drawn
        };
        self.node.raft.set_randomized_election_timeout(t);
    }

    /// Runs raft's Ready cycle until it has nothing more.
    pub(super) fn run_raft(&mut self) {
        for _ in 0..READIES_PER_DRIVE_MAX {
            self.check_role();
            if !self.node.has_ready() {
                break;
            }
            let mut rd = self.node.ready();
            for m in rd.take_messages() {
                self.send_raft(m);
            }
            let mut reset_to = None;
            let mut snapshot_file = None;
            if !rd.snapshot().is_empty() {
                // A snapshot from the leader: it replaces the state and the
                // log (raft-rs never hands committed entries with it).
                let snap = rd.snapshot().clone();
                let index = snap.get_metadata().index;
                let zxid = self.install_snapshot(&snap);
                snapshot_file = Some((zxid, snap.data.to_vec()));
                if let Err(e) = self.node.mut_store().install(snap) {
                    panic!("installing the received snapshot at {index} failed: {e}");
                }
                reset_to = Some(index + 1);
            }
            let committed = rd.take_committed_entries();
            self.apply_entries(committed);
            self.maybe_snapshot();
            for rs in rd.take_read_states() {
                let token = rs
                    .request_ctx
                    .as_slice()
                    .try_into()
                    .map(u64::from_be_bytes)
                    .unwrap_or(0);
                if self.lease.confirmed(token, self.node.raft.term) {
                    continue;
                }
                if self.barriers.confirmed(token, rs.index) {
                    self.start_read_round();
                }
            }
            let entries = rd.take_entries();
            let hs = rd.hs().cloned();
            let persisted_messages = rd.take_persisted_messages();
            if !entries.is_empty() {
                if let Err(e) = self.node.mut_store().mem.wl().append(&entries) {
                    panic!("raft storage append failed (a bug in entry order): {e}");
                }
            }
            let mut hard_state = None;
            if let Some(hs) = hs {
                self.node.mut_store().mem.wl().set_hardstate(hs.clone());
                if self.persistence.term_vote_changed((hs.term, hs.vote)) {
                    hard_state = Some(hs);
                }
            }
            let number = rd.number();
            self.node.advance_append_async(rd);
            let needs_disk = !entries.is_empty() || hard_state.is_some() || reset_to.is_some();
            if reset_to.is_some() {
                self.persistence.installing_snapshot(number);
            }
            if needs_disk {
                self.step.persists.push(PersistRequest {
                    token: number,
                    hard_state,
                    reset_to,
                    snapshot_file,
                    entries,
                });
            }
            self.persistence
                .queue(number, needs_disk, persisted_messages);
            self.flush_persisted();
            if self.persistence.may_advance_applied() {
                self.node.advance_apply_to(self.applied_index);
            }
            self.answer_barriers();
        }
        self.check_role();
    }

    /// The log core made everything up to `token` durable.
    pub(super) fn persisted(&mut self, token: u64) {
        self.persistence.persisted(token);
        self.flush_persisted();
    }

    /// Sends the messages of every ready that is now durable (in order) and
    /// tells raft.
    fn flush_persisted(&mut self) {
        let Some(durable) = self.persistence.take_durable() else {
            return;
        };
        for m in durable.messages {
            self.send_raft(m);
        }
        self.node.on_persist_ready(durable.through);
        if durable.snapshot_installed {
            self.node.advance_apply_to(self.applied_index);
        }
    }

    fn send_raft(&mut self, m: Message) {
        let snapshot = m.get_msg_type() == MessageType::MsgSnapshot;
        match m.write_to_bytes() {
            Ok(bytes) => self.step.peer_frames.push((m.to, FRAME_RAFT, bytes)),
            Err(e) => tracing::error!(error = %e, "encoding a raft message failed"),
        }
        if snapshot {
            // The frame is handed to the transport right after this step.
            // Reporting it sent at once is safe: if it is lost, the member
            // rejects the next append and raft-rs sends the snapshot again.
            tracing::info!(
                to = m.to,
                index = m.get_snapshot().get_metadata().index,
                bytes = m.get_snapshot().data.len(),
                "sending a snapshot"
            );
            self.node.report_snapshot(m.to, SnapshotStatus::Finish);
        }
    }

    /// The transport lost its connection to `peer`. If it was the leader,
    /// do not wait for the election timeout: its process is gone (a killed
    /// process's sockets are closed by the kernel at once), so campaign now.
    /// Pre-vote still protects the term if the leader is in fact alive.
    pub(super) fn peer_disconnected(&mut self, peer: MemberId) {
        // With leader leases a follower must not leave the lease early: the
        // leader may still be answering reads under it (`lease`), so a
        // dropped connection waits for the silent-leader timeout.
        if peer == self.node.raft.leader_id
            && self.node.raft.state != StateRole::Leader
            && !self.lease.enabled()
        {
            let timeout = self.node.raft.randomized_election_timeout();
            let lease = self.cfg.election_ticks;
            // Campaign within a few ticks, in turn with the other survivors
            // (DEAD_LEADER_CAMPAIGN_SPACING_TICKS); and leave the leader's
            // lease (check-quorum) so they grant each other votes.
            let turn = campaign_turn(&self.cfg.voters, peer, self.cfg.my_id, self.node.raft.term);
            let delay = 1 + turn * DEAD_LEADER_CAMPAIGN_SPACING_TICKS;
            let elapsed = timeout.saturating_sub(delay).max(lease);
            self.node.raft.election_elapsed = self.node.raft.election_elapsed.max(elapsed);
            tracing::info!(
                peer,
                "lost the connection to the leader: election brought forward"
            );
        }
        self.node.report_unreachable(peer);
    }

    /// The transport connected to `peer` again. Writes forwarded to it
    /// over the connection that broke may be lost with it: if it is the
    /// leader, they go again over the new one (the leader drops any it has
    /// already logged; the old connection's frames cannot arrive later).
    pub(super) fn peer_connected(&mut self, peer: MemberId) {
        if peer == self.known_leader && peer != self.cfg.my_id {
            self.resend_writes();
        }
    }
}

/// This member's turn (0 = first) to campaign after leader `dead` was lost:
/// its place among the other voters, sorted by id and rotated by `term` so
/// the first turn moves around. The same on every member. A member that is
/// not a voter (it never campaigns) comes last.
pub(super) fn campaign_turn(voters: &[MemberId], dead: MemberId, me: MemberId, term: u64) -> usize {
    let mut survivors: Vec<MemberId> = voters.iter().copied().filter(|&v| v != dead).collect();
    survivors.sort_unstable();
    if survivors.is_empty() {
        return 0;
    }
    let shift = (term % survivors.len() as u64) as usize;
    survivors.rotate_left(shift);
    survivors
        .iter()
        .position(|&v| v == me)
        .unwrap_or(survivors.len())
}
