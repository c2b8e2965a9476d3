//! A member's side of the liveness beacons (`runtime::liveness`): what its
//! beacons say and for how long, and what fresh beacons from its peers
//! mean to raft's timers.
//!
//! A beacon only stands in for a raft heartbeat while raft itself is
//! healthy: the member extends its sending window by `stall_tolerance_ms`
//! at each tick only while it has had raft contact within that tolerance
//! (a follower: from its leader; a leader: from a quorum). Its consensus
//! executor stalled or stopped: no ticks, no extension, the beacons stop
//! after the tolerance. A silent process (stopped, partitioned, powered
//! off) sends nothing at all and is replaced after the election timeout.
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::Member;
use crate::consensus::step::{BeaconPlan, Heard};
use crate::messages::MemberId;
use raft::StateRole;

impl Member {
    /// Raft contact with `peer` within the stall tolerance.
    fn in_contact(&self, peer: MemberId) -> bool {
        self.raft_contact
            .get(&peer)
            .is_some_and(|&at| self.now.mono_ms - at <= self.cfg.stall_tolerance_ms)
    }

    /// At each tick: extend the beacon window while raft is healthy.
    pub(super) fn plan_beacons(&mut self) {
        let raft = &self.node.raft;
        let me = self.cfg.my_id;
        let healthy = match raft.state {
            StateRole::Leader => {
                let voters = &self.cfg.voters;
                let in_contact = voters
                    .iter()
                    .filter(|&&v| v == me || self.in_contact(v))
                    .count();
                in_contact > voters.len() / 2
            }
            StateRole::Follower => raft.leader_id != 0 && self.in_contact(raft.leader_id),
            _ => false,
        };
        if healthy {
            self.step.beacon = Some(BeaconPlan {
                term: raft.term,
                leader: raft.leader_id,
                leads: raft.state == StateRole::Leader,
                send_until_ms: self.now.mono_ms + self.cfg.stall_tolerance_ms,
            });
        }
    }

    /// Fresh beacons: the leader's resets a follower's election timer (as
    /// its heartbeat would); a follower's counts as recent activity for the
    /// leader's check-quorum. Beacons of another term change nothing.
    pub(super) fn heard(&mut self, heard: &[Heard]) {
        let me = self.cfg.my_id;
        let raft = &mut self.node.raft;
        for h in heard {
            if h.term != raft.term {
                continue;
            }
            match raft.state {
                StateRole::Follower if h.from == raft.leader_id && h.leader == h.from => {
                    raft.election_elapsed = 0;
                }
                StateRole::Leader if h.leader == me => {
                    if let Some(pr) = raft.mut_prs().get_mut(h.from) {
                        pr.recent_active = true;
                    }
                }
                _ => {}
            }
        }
    }
}
