//! Four-letter words that need a view of every shard, shared by the
//! standalone core and the ensemble member: collect one report per shard,
//! then send the asking shard the reports plus the core's own view.
//!
//! Pure; owned by whichever consensus state machine runs on the core.

use super::step::Output;
use crate::messages::{ConnId, CoreReport, ShardId, ShardReport, ToShard};
use crate::proto::{SessionId, Zxid};
use crate::tree::DataTree;

/// A word waiting for every shard's report.
struct PendingGather {
    token: u64,
    shard: ShardId,
    conn: ConnId,
    word: &'static str,
    reports: Vec<ShardReport>,
}

/// The gathers in progress.
/// Owned by the consensus executor (inside the standalone core or member).
pub struct Gathers {
    pending: Vec<PendingGather>,
    next_token: u64,
    shard_count: usize,
}

impl Gathers {
    pub fn new(shard_count: usize) -> Gathers {
        Gathers {
            pending: Vec::new(),
            next_token: 1,
            shard_count,
        }
    }

    /// Starts a gather; returns the broadcast that asks every shard.
    pub fn start(&mut self, shard: ShardId, conn: ConnId, word: &'static str) -> Output {
        let token = self.next_token;
        self.next_token += 1;
        self.pending.push(PendingGather {
            token,
            shard,
            conn,
            word,
            reports: Vec::new(),
        });
        Output::Broadcast(ToShard::GatherRequest { token, word })
    }

    /// Records a shard's report; once every shard has answered, returns the
    /// finished gather, which the caller completes with its own view.
    pub fn reply(&mut self, token: u64, report: ShardReport) -> Option<Gathered> {
        let idx = self.pending.iter().position(|g| g.token == token)?;
        self.pending[idx].reports.push(report);
        if self.pending[idx].reports.len() < self.shard_count {
            return None;
        }
        Some(Gathered(self.pending.swap_remove(idx)))
    }
}

/// A gather every shard has answered.
/// Owned by the consensus executor: made by `Gathers` and consumed there.
pub struct Gathered(PendingGather);

impl Gathered {
    /// The result for the asking shard, with the core's view.
    pub fn into_output(self, core: CoreReport) -> Output {
        let g = self.0;
        Output::To(
            g.shard,
            ToShard::GatherResult {
                conn: g.conn,
                word: g.word,
                reports: g.reports,
                core: Box::new(core),
            },
        )
    }
}

/// The part of a [`CoreReport`] every consensus state machine fills the same
/// way: the tree and the sessions. The caller sets the log and ensemble fields.
/// `sessions` are (id, timeout ms, monotonic deadline ms; 0 where this
/// server does not track it).
pub fn tree_and_sessions_report(
    tree: &DataTree,
    sessions: impl Iterator<Item = (SessionId, i32, i64)>,
    last_zxid: Zxid,
) -> CoreReport {
    let mut session_list: Vec<(SessionId, i32, i64)> = sessions.collect();
    session_list.sort();
    let mut ephemerals_by_session: Vec<(SessionId, Vec<String>)> = tree
        .ephemerals
        .iter()
        .map(|(sid, paths)| (*sid, paths.iter().map(|p| p.to_string()).collect()))
        .collect();
    ephemerals_by_session.sort();
    CoreReport {
        last_zxid,
        node_count: tree.node_count(),
        approximate_data_size: tree.approximate_data_size,
        ephemerals_count: tree.ephemerals.values().map(|s| s.len()).sum(),
        sessions: session_list,
        ephemerals_by_session,
        ..CoreReport::default()
    }
}
