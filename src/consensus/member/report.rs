//! What a member contributes to four-letter words: its sessions and tree
//! (through the shared gather) and the ensemble view (`mntr`, `srvr`).
//!
//! Owned by the consensus executor, inside [`Member`]. Pure.

use super::leading::Leading;
use super::Member;
use crate::consensus::gather::tree_and_sessions_report;
use crate::messages::*;
use crate::proto::SessionId;
use raft::StateRole;

impl Member {
    // ---- four-letter words ----

    pub(super) fn gather_reply(&mut self, token: u64, report: ShardReport) {
        let Some(done) = self.gathers.reply(token, report) else {
            return;
        };
        let sessions: Vec<(SessionId, i32, i64)> =
            match self.leading.as_ref().and_then(Leading::proposer) {
                Some(p) => p
                    .sessions()
                    .iter()
                    .map(|s| (s.id, s.timeout_ms, s.expires_at_ms))
                    .collect(),
                None => self
                    .committed
                    .session_list()
                    .into_iter()
                    .map(|(id, t)| (id, t, 0))
                    .collect(),
            };
        let core = CoreReport {
            log_failure: self.log_failure.clone(),
            log_stats: self.log_probe.as_ref().map(|p| p.snapshot()),
            ticks: self.ticks,
            ensemble: Some(self.ensemble_report()),
            ..tree_and_sessions_report(
                self.committed.tree(),
                sessions.into_iter(),
                self.committed.zxid(),
            )
        };
        self.step.to_shards.push(done.into_output(core));
    }

    pub fn ensemble_report(&self) -> EnsembleReport {
        let raft = &self.node.raft;
        let role = match raft.state {
            StateRole::Leader => "leader",
            _ if self.cfg.learners.contains(&self.cfg.my_id) => "observer",
            _ => "follower",
        };
        let last = raft.raft_log.last_index();
        let followers = if raft.state == StateRole::Leader {
            let mut v: Vec<(MemberId, u64, u64)> = raft
                .prs()
                .iter()
                .filter(|(id, _)| **id != self.cfg.my_id)
                .map(|(id, pr)| (*id, pr.matched, last.saturating_sub(pr.matched)))
                .collect();
            v.sort();
            v
        } else {
            Vec::new()
        };
        let (read_rounds, read_barriers) = self.barriers.counters();
        let (_, lease_renewals, lease_reads) = self.lease.counters();
        EnsembleReport {
            my_id: self.cfg.my_id,
            role,
            leader: raft.leader_id,
            term: raft.term,
            commit_index: raft.raft_log.committed,
            applied_index: self.applied_index,
            followers,
            voters: self.cfg.voters.clone(),
            learners: self.cfg.learners.clone(),
            read_rounds,
            read_barriers,
            lease_renewals,
            lease_reads,
        }
    }
}
