//! The transaction log seen from the consensus core: a narrow trait, so the
//! durable group-committed log of the storage issue drops in and tests can
//! inject faults.

use crate::ops::txn::Txn;
use crate::proto::Zxid;

/// Where committed transactions go before anyone is told about them.
///
/// Contract: `durable_zxid()` never goes backwards, and never covers an entry
/// that is not on stable storage. The core releases a transaction's reply and
/// watch events only once `durable_zxid() >= zxid` (see `Core::release`).
pub trait TxnLog {
    /// Queues one transaction. Entries arrive in strictly increasing zxid order.
    /// `time_ms` is the transaction's wall-clock time, logged with it.
    fn append(&mut self, zxid: Zxid, time_ms: i64, txn: &Txn);
    /// The highest zxid known to be durable.
    fn durable_zxid(&self) -> Zxid;
    /// Short reason if the log can no longer make entries durable (disk full,
    /// EIO); the core then refuses writes and keeps serving reads.
    fn failure(&self) -> Option<&str> {
        None
    }
    /// Counters for `mntr` (name, value).
    fn metrics(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
}

/// The in-memory log used until the storage issue lands: "durable" as soon as
/// appended, holding nothing (the tree versions are the only copy of the
/// data, which is why the README says data does not survive a restart).
#[derive(Debug, Default)]
pub struct MemoryLog {
    last_zxid: Zxid,
    appended: u64,
}

impl MemoryLog {
    pub fn appended(&self) -> u64 {
        self.appended
    }
}

impl TxnLog for MemoryLog {
    fn append(&mut self, zxid: Zxid, _time_ms: i64, _txn: &Txn) {
        assert!(
            zxid > self.last_zxid,
            "log append out of order: {zxid} after {}",
            self.last_zxid
        );
        self.last_zxid = zxid;
        self.appended += 1;
    }

    fn durable_zxid(&self) -> Zxid {
        self.last_zxid
    }
}

/// A log for the core's tests that is durable only when the test says so,
/// and fails when told: the "not yet durable" and "failed" paths of
/// `Core::release` without a disk.
#[cfg(test)]
#[derive(Debug, Default)]
pub struct ManualLog {
    pub appended: Vec<(Zxid, i64, Txn)>,
    durable: Zxid,
    failure: Option<String>,
}

#[cfg(test)]
impl ManualLog {
    /// Everything appended so far becomes durable.
    pub fn make_all_durable(&mut self) {
        assert!(self.failure.is_none(), "a failed log makes nothing durable");
        self.durable = self.appended.last().map_or(self.durable, |e| e.0);
    }

    /// The disk failed: nothing more becomes durable.
    pub fn fail(&mut self, reason: &str) {
        self.failure = Some(reason.to_string());
    }

    /// The records a restart would find: the durable ones.
    pub fn durable_records(&self) -> Vec<(Zxid, i64, Txn)> {
        self.appended
            .iter()
            .filter(|e| e.0 <= self.durable)
            .cloned()
            .collect()
    }
}

#[cfg(test)]
impl TxnLog for ManualLog {
    fn append(&mut self, zxid: Zxid, time_ms: i64, txn: &Txn) {
        assert!(self.appended.last().is_none_or(|e| e.0 < zxid));
        self.appended.push((zxid, time_ms, txn.clone()));
    }

    fn durable_zxid(&self) -> Zxid {
        self.durable
    }

    fn failure(&self) -> Option<&str> {
        self.failure.as_deref()
    }
}
