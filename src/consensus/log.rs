//! Test doubles of the transaction log the standalone core writes to
//! ([`TxnLog`], defined by the log module beside its durable handle
//! [`crate::wal::DurableLog`]).

use crate::ops::txn::Txn;
use crate::proto::Zxid;
pub use crate::wal::TxnLog;

/// A log that is "durable" as soon as appended and holds nothing: for the
/// core's tests that are not about durability.
/// A test double, used on the test's thread; no executor owns it.
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
/// A test double, used on the test's thread; no executor owns it.
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
