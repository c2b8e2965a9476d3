//! A linearizability checker for histories of single-znode operations
//! recorded against a ZooKeeper-compatible ensemble (Roost or ZooKeeper),
//! typically by fault-injection tests that kill, pause and partition members
//! while clients keep working.
//!
//! # What a history is
//!
//! A history is a slice of [`Operation`]s. Each one was issued by a `client`
//! on one znode (`key`), was called at `call` and returned at `ret` with
//! `output`; times are nanoseconds on one clock shared by all clients (e.g.
//! one `Instant` origin in the test process). An operation whose outcome is
//! unknown (timeout, connection loss, the test ended first) has
//! `ret == None` and `output == None`.
//!
//! A `client` is one ZooKeeper *session*: the per-client guarantees below
//! (monotonic reads, read-your-writes) are session guarantees, so a test
//! that opens a new session must give it a new client id. A client is
//! expected to issue its operations one at a time (see "What is not
//! checked" for pipelining).
//!
//! # The model: one znode
//!
//! The state of a key is absent or `(value, version)` ([`NodeState`]),
//! absent at the start unless [`Options::initial`] says otherwise.
//!
//! | input | state absent | state `(v, ver)` |
//! |---|---|---|
//! | `Create { value }` | `Ok`, becomes `(value, 0)` | `NodeExists` |
//! | `Delete { expected_version: e }` | `NoNode` | `e == -1 \|\| e == ver`: `Ok`, becomes absent; else `BadVersion` |
//! | `Set { value, expected_version: e }` | `NoNode` | `e == -1 \|\| e == ver`: `SetOk { new_version: ver + 1 }`, becomes `(value, ver + 1)`; else `BadVersion` |
//! | `Get` | `NoNode` | `GetOk { value: v, version: ver }` |
//!
//! A delete followed by a create starts again at version 0.
//!
//! # What is checked
//!
//! The history is split by key and every key is checked on its own: all the
//! operations are single-znode operations, and linearizability is
//! compositional (a history is linearizable iff every per-object
//! sub-history is), so nothing is lost for the writes. (What *is* lost is
//! cross-key session order for sequentially consistent reads, see below.)
//!
//! For one key, the checker looks for a single total order of the key's
//! operations (a *linearization*) such that:
//!
//! 1. **The model accepts it**: replaying the operations in that order from
//!    the initial state produces exactly the recorded outputs.
//! 2. **Writes and linearizable reads respect real time**: for two such
//!    operations `a` and `b`, if `a` returned before `b` was called
//!    (`a.ret < b.call`) then `a` comes first. Touching intervals
//!    (`a.ret == b.call`) count as concurrent. Writes are `Create`, `Delete`
//!    and `Set`, *including the ones that failed* (`NodeExists`, `NoNode`,
//!    `BadVersion`): ZooKeeper orders every write through the leader, failed
//!    ones included. Linearizable reads are `Get { linearizable: true }`:
//!    reads the test knows to be linearizable (after a `sync`, or served by
//!    the leader).
//! 3. **Other reads are sequentially consistent per client**
//!    (`Get { linearizable: false }`, what a follower serves). Such a read
//!    `r` by client `C`:
//!    * returns a state that exists at its position in the order: a
//!      `(value, version)` that a write in the order produced, or `NoNode`
//!      where the key is absent;
//!    * comes after every operation of `C` on the key that completed before
//!      `r` was called. Hence a client's reads never go backwards in the
//!      order (monotonic reads), and a read after the client's own completed
//!      write observes that write or a later state (read-your-writes), also
//!      after its own failed writes and linearizable reads;
//!    * comes before every write and linearizable read called after `r`
//!      returned (a server cannot serve a state that was not yet written);
//!    * is **not** ordered after other clients' operations that returned
//!      before it was called (it may be stale), nor against other clients'
//!      sequentially consistent reads (two followers may lag differently).
//!
//!    Disable this with [`Options::check_sequential_reads`]`= false` (such
//!    reads are then ignored).
//! 4. **Unknown outcomes**: an operation with `ret == None` and
//!    [`Resolution::Unknown`] is *optional*: the order may include it
//!    anywhere after its call, with whatever output the model gives it, or
//!    leave it out. An unknown `Get` is dropped (it constrains nothing).
//!    With [`Resolution::Committed`] (e.g. its unique value is in the
//!    servers' committed log) it must be in the order, anywhere after its
//!    call, and must have *succeeded* (`Ok` / `SetOk` with any version).
//!    With [`Resolution::NotCommitted`] it is dropped. See
//!    [`resolve_by_committed_values`] and [`resolve_with`]. The checker
//!    also infers one case itself: an unknown `Create`/`Set` that is the
//!    only operation writing a value that a completed read returned took
//!    effect, so it is treated as committed.
//!
//! Points 1 and 2 alone are linearizability of the writes and linearizable
//! reads; the checker searches for an order satisfying all of 1–4 at once,
//! so a sequentially consistent read is never blamed because of an arbitrary
//! choice among several valid orders of concurrent writes. When that joint
//! search fails, a second search without the sequentially consistent reads
//! tells which of the two properties is broken ([`ViolationKind`]).
//!
//! ## What is not checked
//!
//! * Order across keys: a client's operations on different znodes are not
//!   related to each other (ZooKeeper's session order across znodes, and
//!   across writes and reads of different znodes, is not checked). In
//!   particular a client's first read of a key may observe any state that
//!   existed before the read returned.
//! * A client's pipelined operations (called before its previous one
//!   returned) are only ordered by real time, not by ZooKeeper's FIFO
//!   session order; an operation with an unknown outcome is not ordered
//!   before the same client's later operations either (after a connection
//!   loss ZooKeeper does not guarantee it).
//! * Watches, sessions, ephemerals, sequential nodes, `mzxid`/`czxid`/other
//!   `Stat` fields, children lists, multi-ops: only value and version.
//! * Sequentially consistent reads are not required to see a client's own
//!   *unknown-outcome* write, nor to be ordered after the client's
//!   sequentially consistent reads of *other* keys.
//!
//! # The search
//!
//! Porcupine's algorithm, written for this model: Wing & Gong's depth-first
//! search over the call/return event list (linearize any op called before
//! the first pending return, restart, backtrack at a return that was not
//! linearized), with Lowe's memoization of (set of linearized ops, state).
//! Additions, each of which keeps the search exact (the brute-force oracle
//! in the tests checks the verdicts):
//!
//! * optional ops have no return event and are not required; committed ops
//!   have no return event and are required; sequentially consistent reads
//!   have no call event: they are candidates as soon as their client's
//!   earlier completed operations are linearized;
//! * an operation that changes nothing (a read, a failed write) is
//!   linearized without branching as soon as it is legal (moving it earlier
//!   never invalidates an order);
//! * an optional operation is only linearized right before another optional
//!   one or a required one whose output depends on it (in any valid order it
//!   can be moved later until that holds, or dropped);
//! * a node is abandoned as soon as a read still to be linearized can no
//!   longer see its state (every op that could write its value is already
//!   in the order and the state has moved on), not only at its return;
//! * the memo records finished (failed) nodes and prunes a node if a failed
//!   one had the same required operations and state and a subset of its
//!   optional ones; values that no completed read returned are merged, and
//!   optional operations are counted per kind instead of named, since they
//!   are interchangeable.
//!
//! The search is bounded by [`Options::max_steps`] (deterministic) and
//! optionally [`Options::time_limit`]; running out gives
//! [`KeyResult::Timeout`], distinct from [`KeyResult::Illegal`].
//!
//! ## Cost
//!
//! A few thousand operations on one key with tens of concurrent clients and
//! a few percent of unknown outcomes take milliseconds (see the tests).
//! What makes it expensive: many *unresolved* unknown writes in a history
//! that creates and deletes the key often (each one may or may not have
//! happened, almost anywhere), and very high concurrency on one key
//! (hundreds of clients). Resolve unknown writes from the servers' logs
//! when possible; use several keys rather than one hot key.
//!
//! # Failures
//!
//! A failure is explained by the smallest failing prefix: the checker finds
//! the operation `X` such that the history cut just before `X` returned has
//! a valid order but the history cut just after it has none (a cut at time
//! `t` leaves out what was called after `t`; what was still pending at `t`
//! may or may not have taken effect). It prints `X`, a valid order of the
//! cut before it with the key's state after each operation, the operations
//! concurrent with `X` that are not in that order, and (for read failures)
//! the client's earlier operations on the key. [`Violation::op`] and
//! [`Violation::involved`] give the same as indices into the history.
//!
//! # Example
//!
//! ```
//! use lincheck::{check, Input, Operation, Options, Output};
//!
//! let history = vec![
//!     Operation::new(1, "/a", 0, Input::create("x")).returned(10, Output::Ok),
//!     Operation::new(1, "/a", 20, Input::set("y", 0)).returned(30, Output::SetOk { new_version: 1 }),
//!     // A follower may serve client 2 the old value...
//!     Operation::new(2, "/a", 40, Input::get()).returned(50, Output::GetOk { value: b"x".to_vec(), version: 0 }),
//! ];
//! assert!(check(&history, &Options::default()).unwrap().is_ok());
//!
//! // ... but not a linearizable read.
//! let mut bad = history.clone();
//! bad[2].input = Input::linearizable_get();
//! let result = check(&bad, &Options::default()).unwrap();
//! assert!(!result.is_ok());
//! println!("{result}");
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::time::{Duration, Instant};

mod explain;
mod search;
#[cfg(test)]
mod tests;

use search::{Expect, In, Out, SOp, State};

/// What an operation asked for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Input {
    /// `create(key, value)` (persistent, non-sequential).
    Create { value: Vec<u8> },
    /// `delete(key, expected_version)`; `-1` matches any version.
    Delete { expected_version: i32 },
    /// `setData(key, value, expected_version)`; `-1` matches any version.
    Set {
        value: Vec<u8>,
        expected_version: i32,
    },
    /// `getData(key)`. `linearizable`: the test knows this read is
    /// linearizable (issued after a `sync`, or served by the leader) and
    /// wants it checked as such; otherwise it is checked for sequential
    /// consistency per client.
    Get { linearizable: bool },
}

impl Input {
    pub fn create(value: impl Into<Vec<u8>>) -> Input {
        Input::Create {
            value: value.into(),
        }
    }
    pub fn set(value: impl Into<Vec<u8>>, expected_version: i32) -> Input {
        Input::Set {
            value: value.into(),
            expected_version,
        }
    }
    pub fn delete(expected_version: i32) -> Input {
        Input::Delete { expected_version }
    }
    /// A read checked for sequential consistency.
    pub fn get() -> Input {
        Input::Get {
            linearizable: false,
        }
    }
    /// A read checked for linearizability.
    pub fn linearizable_get() -> Input {
        Input::Get { linearizable: true }
    }
    /// The value a `Create` or `Set` writes.
    pub fn written_value(&self) -> Option<&[u8]> {
        match self {
            Input::Create { value } | Input::Set { value, .. } => Some(value),
            _ => None,
        }
    }
    pub fn is_write(&self) -> bool {
        !matches!(self, Input::Get { .. })
    }
}

/// What an operation returned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Output {
    /// `Create` or `Delete` succeeded.
    Ok,
    /// `Set` succeeded; the version the znode now has.
    SetOk {
        new_version: i32,
    },
    /// `Get` succeeded.
    GetOk {
        value: Vec<u8>,
        version: i32,
    },
    NoNode,
    NodeExists,
    BadVersion,
}

/// What is known about an operation whose outcome was not observed
/// (`ret == None`). Must be `Unknown` for completed operations.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Resolution {
    /// May have taken effect at any time after its call, or never.
    #[default]
    Unknown,
    /// Took effect (e.g. its unique value is in the committed log): it is
    /// linearized somewhere after its call and succeeded. Writes only.
    Committed,
    /// Did not take effect: the operation is dropped.
    NotCommitted,
}

/// One recorded operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Operation {
    pub client: u64,
    pub key: String,
    /// When it was called, in nanoseconds.
    pub call: u64,
    /// When it returned; `None` = outcome unknown.
    pub ret: Option<u64>,
    pub input: Input,
    /// The result; `None` exactly when `ret` is `None`.
    pub output: Option<Output>,
    /// Only for operations with an unknown outcome.
    pub resolution: Resolution,
}

impl Operation {
    /// An operation called at `call` whose outcome is (so far) unknown.
    pub fn new(client: u64, key: impl Into<String>, call: u64, input: Input) -> Operation {
        Operation {
            client,
            key: key.into(),
            call,
            ret: None,
            input,
            output: None,
            resolution: Resolution::Unknown,
        }
    }
    /// The same operation, completed at `ret` with `output`.
    pub fn returned(mut self, ret: u64, output: Output) -> Operation {
        self.ret = Some(ret);
        self.output = Some(output);
        self
    }
    /// The same operation with `resolution` (for unknown outcomes).
    pub fn resolved(mut self, resolution: Resolution) -> Operation {
        self.resolution = resolution;
        self
    }
    /// True when the outcome was not observed.
    pub fn is_unknown(&self) -> bool {
        self.output.is_none()
    }
}

/// The state of a present znode.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct NodeState {
    pub value: Vec<u8>,
    pub version: i32,
}

/// Checker settings.
#[derive(Clone, Debug)]
pub struct Options {
    /// Search budget per key, in steps (one step visits one node of the
    /// search tree: about 1-3 microseconds). It covers every search run for
    /// the key: the check itself and, for a failure, the classification and
    /// the narrowing down to the smallest failing prefix. Default: 5 million
    /// (some seconds; histories that are easy to decide need thousands).
    pub max_steps: u64,
    /// Optional wall-clock limit per key. Default: none (the step budget
    /// alone keeps results deterministic).
    pub time_limit: Option<Duration>,
    /// Check `Get { linearizable: false }` reads for sequential consistency
    /// (see the crate documentation); `false` ignores them. Default: true.
    pub check_sequential_reads: bool,
    /// Keys that exist before the history starts (default: every key starts
    /// absent).
    pub initial: BTreeMap<String, NodeState>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            max_steps: 5_000_000,
            time_limit: None,
            check_sequential_reads: true,
            initial: BTreeMap::new(),
        }
    }
}

/// A malformed history: operation `op` (index into the history) is not
/// something the checker can interpret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryError {
    pub op: usize,
    pub message: String,
}

impl fmt::Display for HistoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "malformed history: operation #{}: {}",
            self.op, self.message
        )
    }
}

impl std::error::Error for HistoryError {}

/// The result of [`check`]: one [`KeyResult`] per key.
#[derive(Clone, Debug)]
pub struct CheckResult {
    pub keys: BTreeMap<String, KeyResult>,
}

impl CheckResult {
    /// Every key has a valid order.
    pub fn is_ok(&self) -> bool {
        self.keys.values().all(|r| matches!(r, KeyResult::Ok(_)))
    }
    /// Some key has no valid order (a definite bug, unlike a timeout).
    pub fn is_illegal(&self) -> bool {
        self.keys
            .values()
            .any(|r| matches!(r, KeyResult::Illegal(_)))
    }
    /// Some key could not be decided within the budget.
    pub fn has_timeout(&self) -> bool {
        self.keys
            .values()
            .any(|r| matches!(r, KeyResult::Timeout(_)))
    }
    /// The keys that are not `Ok`.
    pub fn failures(&self) -> impl Iterator<Item = (&str, &KeyResult)> {
        self.keys
            .iter()
            .filter(|(_, r)| !matches!(r, KeyResult::Ok(_)))
            .map(|(k, r)| (k.as_str(), r))
    }
}

impl fmt::Display for CheckResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let count = |p: fn(&KeyResult) -> bool| self.keys.values().filter(|r| p(r)).count();
        writeln!(
            f,
            "lincheck: {} keys: {} ok, {} illegal, {} timed out",
            self.keys.len(),
            count(|r| matches!(r, KeyResult::Ok(_))),
            count(|r| matches!(r, KeyResult::Illegal(_))),
            count(|r| matches!(r, KeyResult::Timeout(_))),
        )?;
        for (key, r) in self.failures() {
            writeln!(f, "key {key:?}: {r}")?;
        }
        Ok(())
    }
}

/// The result for one key.
#[derive(Clone, Debug)]
pub enum KeyResult {
    /// A valid order exists; here is one.
    Ok(Linearization),
    /// No valid order exists.
    Illegal(Violation),
    /// The search ran out of budget.
    Timeout(Timeout),
}

impl fmt::Display for KeyResult {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyResult::Ok(l) => write!(f, "ok ({} operations in the order)", l.steps.len()),
            KeyResult::Illegal(v) => f.write_str(&v.explanation),
            KeyResult::Timeout(t) => f.write_str(&t.explanation),
        }
    }
}

/// One valid order of a key's operations (the ones that are in it:
/// completed, committed, and the optional ones the order includes).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Linearization {
    /// The key's state before the history.
    pub initial: Option<NodeState>,
    pub steps: Vec<Step>,
    /// How many search steps it took (compare with [`Options::max_steps`]).
    pub search_steps: u64,
}

/// An operation in a [`Linearization`] and the key's state after it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// Index into the history.
    pub op: usize,
    pub state: Option<NodeState>,
}

impl Linearization {
    /// The sequence of states the key went through: the initial state, then
    /// the state after each operation that changed it.
    pub fn states(&self) -> Vec<Option<NodeState>> {
        let mut out = vec![self.initial.clone()];
        for s in &self.steps {
            if out.last() != Some(&s.state) {
                out.push(s.state.clone());
            }
        }
        out
    }
}

/// Why a key has no valid order.
#[derive(Clone, Debug)]
pub struct Violation {
    pub kind: ViolationKind,
    /// The first operation (index into the history) that cannot be
    /// linearized together with everything that returned before it; `None`
    /// when every completed operation can be, but not together with the
    /// operations resolved as committed.
    pub op: Option<usize>,
    /// Operations worth looking at: `op`, the ones concurrent with it, and
    /// (for read failures) its client's earlier operations on the key.
    pub involved: Vec<usize>,
    /// A human-readable explanation (also what `Display` prints).
    pub explanation: String,
}

/// Which property is broken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ViolationKind {
    /// The writes and linearizable reads alone have no valid order.
    NotLinearizable,
    /// The writes and linearizable reads have a valid order, but none that
    /// also explains the sequentially consistent reads.
    ReadsNotSequentiallyConsistent,
    /// No order explains everything; the classifying search (without the
    /// sequentially consistent reads) ran out of budget.
    Unclassified,
}

/// The search ran out of budget.
#[derive(Clone, Debug)]
pub struct Timeout {
    pub steps: u64,
    pub elapsed: Duration,
    /// Includes how far the search got.
    pub explanation: String,
}

/// Checks `history` (see the crate documentation for exactly what).
pub fn check(history: &[Operation], options: &Options) -> Result<CheckResult, HistoryError> {
    validate(history)?;
    let mut by_key: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, op) in history.iter().enumerate() {
        by_key.entry(&op.key).or_default().push(i);
    }
    let tf = explain::TimeFmt::new(history);
    let keys = by_key
        .into_iter()
        .map(|(key, idx)| (key.to_string(), check_key(history, key, &idx, options, &tf)))
        .collect();
    Ok(CheckResult { keys })
}

/// Resolves every unknown-outcome operation (`ret == None`) with
/// `f(op)`; completed operations are left alone.
pub fn resolve_with(history: &mut [Operation], mut f: impl FnMut(&Operation) -> Resolution) {
    for op in history.iter_mut().filter(|op| op.is_unknown()) {
        op.resolution = f(op);
    }
}

/// How many operations [`resolve_by_committed_values`] resolved.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolved {
    pub committed: usize,
    pub not_committed: usize,
}

/// Resolves unknown-outcome `Create`s and `Set`s by their value:
/// [`Resolution::Committed`] if it is in `committed`, else
/// [`Resolution::NotCommitted`]. Sound when every written value is unique
/// in the history and `committed` holds every value written by a committed
/// transaction on the relevant keys (e.g. all of the servers' logs after
/// the test). Unknown `Delete`s and `Get`s are left as they are.
pub fn resolve_by_committed_values(
    history: &mut [Operation],
    committed: &HashSet<Vec<u8>>,
) -> Resolved {
    let mut r = Resolved::default();
    resolve_with(history, |op| match op.input.written_value() {
        Some(v) if committed.contains(v) => {
            r.committed += 1;
            Resolution::Committed
        }
        Some(_) => {
            r.not_committed += 1;
            Resolution::NotCommitted
        }
        None => op.resolution,
    });
    r
}

/// Resolves unknown-outcome `Delete`s by counting: `committed[(key,
/// expected_version)]` is how many delete transactions with that expected
/// version the committed log holds for `key`. Subtracting the completed
/// successful deletes leaves `r` to share among the `u` unknown ones: all
/// of them took effect if `r == u`, none if `r == 0`; otherwise they stay
/// unknown. Sound when the log holds every committed transaction on the
/// keys and the only deletes on them are the history's (failed deletes log
/// an error, not a delete).
///
/// Returns an error naming the key if the log holds *fewer* deletes than
/// were acknowledged: an acknowledged write was lost.
pub fn resolve_deletes_by_count(
    history: &mut [Operation],
    committed: &HashMap<(String, i32), usize>,
) -> Result<Resolved, String> {
    let mut acked: HashMap<(String, i32), usize> = HashMap::new();
    let mut unknown: HashMap<(String, i32), usize> = HashMap::new();
    for op in history.iter() {
        let Input::Delete { expected_version } = op.input else {
            continue;
        };
        let k = (op.key.clone(), expected_version);
        match &op.output {
            Some(Output::Ok) => *acked.entry(k).or_default() += 1,
            None if op.resolution == Resolution::Unknown => *unknown.entry(k).or_default() += 1,
            _ => {}
        }
    }
    for (k, &n) in &acked {
        let in_log = committed.get(k).copied().unwrap_or(0);
        if in_log < n {
            return Err(format!(
                "{n} deletes of {} with version {} were acknowledged but the log holds {in_log}",
                k.0, k.1
            ));
        }
    }
    let mut r = Resolved::default();
    resolve_with(history, |op| {
        let Input::Delete { expected_version } = op.input else {
            return op.resolution;
        };
        let k = (op.key.clone(), expected_version);
        let left = committed.get(&k).copied().unwrap_or(0) - acked.get(&k).copied().unwrap_or(0);
        let open = unknown.get(&k).copied().unwrap_or(0);
        if left == 0 {
            r.not_committed += 1;
            Resolution::NotCommitted
        } else if left == open {
            r.committed += 1;
            Resolution::Committed
        } else {
            op.resolution
        }
    });
    Ok(r)
}

fn validate(history: &[Operation]) -> Result<(), HistoryError> {
    for (i, op) in history.iter().enumerate() {
        let err = |m: &str| {
            Err(HistoryError {
                op: i,
                message: m.to_string(),
            })
        };
        match (&op.ret, &op.output) {
            (Some(r), Some(_)) if *r < op.call => return err("returned before it was called"),
            (Some(_), None) => return err("has a return time but no output"),
            (None, Some(_)) => return err("has an output but no return time"),
            _ => {}
        }
        if let Input::Delete { expected_version }
        | Input::Set {
            expected_version, ..
        } = op.input
        {
            if expected_version < -1 {
                return err("expected_version below -1");
            }
        }
        if let Some(out) = &op.output {
            let fits = matches!(
                (&op.input, out),
                (Input::Create { .. }, Output::Ok | Output::NodeExists)
                    | (
                        Input::Delete { .. },
                        Output::Ok | Output::NoNode | Output::BadVersion
                    )
                    | (
                        Input::Set { .. },
                        Output::SetOk { .. } | Output::NoNode | Output::BadVersion
                    )
                    | (Input::Get { .. }, Output::GetOk { .. } | Output::NoNode)
            );
            if !fits {
                return err("output does not fit the input");
            }
            if op.resolution != Resolution::Unknown {
                return err("a resolution on an operation that completed");
            }
        } else if op.resolution == Resolution::Committed && !op.input.is_write() {
            return err("a read resolved as committed");
        }
    }
    Ok(())
}

/// A key's sub-history in the search's terms.
struct Prepared {
    ops: Vec<SOp>,
    /// Index into the history of each op.
    orig: Vec<usize>,
    /// Interned values.
    values: Vec<Vec<u8>>,
    init: State,
}

impl Prepared {
    fn new(
        history: &[Operation],
        idx: &[usize],
        with_sc_reads: bool,
        initial: Option<&NodeState>,
        cut: Option<u64>,
    ) -> Prepared {
        let mut intern: HashMap<Vec<u8>, u32> = HashMap::new();
        let mut values: Vec<Vec<u8>> = Vec::new();
        let mut id = |v: &[u8]| -> u32 {
            if let Some(&x) = intern.get(v) {
                return x;
            }
            values.push(v.to_vec());
            intern.insert(v.to_vec(), values.len() as u32 - 1);
            values.len() as u32 - 1
        };
        let init = initial.map(|n| (id(&n.value), n.version));
        let is_sc_read = |op: &Operation| {
            matches!(
                op.input,
                Input::Get {
                    linearizable: false
                }
            ) && !op.is_unknown()
        };
        let mut orig: Vec<usize> = idx
            .iter()
            .copied()
            .filter(|&i| {
                let op = &history[i];
                let kept = if op.is_unknown() {
                    op.input.is_write() && op.resolution != Resolution::NotCommitted
                } else {
                    with_sc_reads || !is_sc_read(op)
                };
                // In a prefix, a read still pending at the cut constrains
                // nothing.
                kept && cut.is_none_or(|t| {
                    op.call <= t && (op.input.is_write() || op.ret.is_some_and(|r| r <= t))
                })
            })
            .collect();
        orig.sort_by_key(|&i| (history[i].call, i));
        let pos: HashMap<usize, u32> = orig
            .iter()
            .enumerate()
            .map(|(p, &i)| (i, p as u32))
            .collect();
        let mut ops: Vec<SOp> = orig
            .iter()
            .map(|&i| {
                let op = &history[i];
                let input = match &op.input {
                    Input::Create { value } => In::Create(id(value)),
                    Input::Delete { expected_version } => In::Delete(*expected_version),
                    Input::Set {
                        value,
                        expected_version,
                    } => In::Set(id(value), *expected_version),
                    Input::Get { .. } => In::Get,
                };
                let expect = match &op.output {
                    Some(o) => Expect::Exact(match o {
                        Output::Ok => Out::Ok,
                        Output::SetOk { new_version } => Out::SetOk(*new_version),
                        Output::GetOk { value, version } => Out::GetOk(id(value), *version),
                        Output::NoNode => Out::NoNode,
                        Output::NodeExists => Out::NodeExists,
                        Output::BadVersion => Out::BadVersion,
                    }),
                    None if op.resolution == Resolution::Committed => Expect::Success,
                    None => Expect::Any,
                };
                // In a prefix, a write still pending at the cut may or may
                // not have taken effect yet; if it has, with its output.
                let returned = op.ret.is_some_and(|r| cut.is_none_or(|t| r <= t));
                SOp {
                    input,
                    expect,
                    call: op.call,
                    ret: op.ret.filter(|_| returned),
                    required: returned || (cut.is_none() && op.resolution == Resolution::Committed),
                    sc_read: is_sc_read(op),
                    preds: Vec::new(),
                }
            })
            .collect();
        // An optional write that is the only writer of a value some required
        // read returned certainly took effect (and succeeded): make it
        // required. Sound without assuming unique values, and it saves the
        // search from discovering it only at the read's return.
        let mut writers: HashMap<u32, (u32, usize)> = HashMap::new();
        for (p, o) in ops.iter().enumerate() {
            let fails = matches!(
                o.expect,
                Expect::Exact(Out::NodeExists | Out::NoNode | Out::BadVersion)
            );
            if let (In::Create(v) | In::Set(v, _), false) = (o.input, fails) {
                writers.entry(v).or_insert((0, p)).0 += 1;
            }
        }
        if let Some((v, _)) = init {
            // The initial state "writes" its value.
            writers.entry(v).or_insert((0, usize::MAX)).0 += 1;
        }
        let observed: Vec<u32> = ops
            .iter()
            .filter(|o| o.required)
            .filter_map(|o| match o.expect {
                Expect::Exact(Out::GetOk(v, _)) => Some(v),
                _ => None,
            })
            .collect();
        for v in observed {
            if let Some(&(1, p)) = writers.get(&v) {
                let o = &mut ops[p];
                if !o.required {
                    o.required = true;
                    if let Expect::Any = o.expect {
                        o.expect = Expect::Success;
                    }
                }
            }
        }
        // Predecessors of sequentially consistent reads: the client's
        // completed ops on this key that returned before the read's call;
        // only the maximal ones (p with p.ret >= every other such op's call),
        // the others precede those anyway.
        let mut by_client: HashMap<u64, Vec<usize>> = HashMap::new();
        for &i in &orig {
            if history[i].ret.is_some() {
                by_client.entry(history[i].client).or_default().push(i);
            }
        }
        for p in 0..ops.len() {
            if !ops[p].sc_read {
                continue;
            }
            let r = &history[orig[p]];
            let before: Vec<usize> = by_client[&r.client]
                .iter()
                .copied()
                .filter(|&q| history[q].ret.is_some_and(|t| t < r.call))
                .collect();
            let max_call = before.iter().map(|&q| history[q].call).max();
            ops[p].preds = before
                .iter()
                .filter(|&&q| history[q].ret >= max_call)
                .map(|q| pos[q])
                .collect();
        }
        Prepared {
            ops,
            orig,
            values,
            init,
        }
    }

    /// (A state from the search may hold an id past `values`: a value no
    /// read returned; see `search`.)
    fn node(&self, s: State) -> Option<NodeState> {
        s.map(|(v, version)| NodeState {
            value: self
                .values
                .get(v as usize)
                .cloned()
                .unwrap_or_else(|| b"<a value no read returned>".to_vec()),
            version,
        })
    }

    fn linearization(&self, order: &[u32], search_steps: u64) -> Linearization {
        let mut s = self.init;
        let steps = order
            .iter()
            .map(|&p| {
                s = search::apply(s, self.ops[p as usize].input).1;
                Step {
                    op: self.orig[p as usize],
                    state: self.node(s),
                }
            })
            .collect();
        Linearization {
            initial: self.node(self.init),
            steps,
            search_steps,
        }
    }
}

fn check_key(
    history: &[Operation],
    key: &str,
    idx: &[usize],
    options: &Options,
    tf: &explain::TimeFmt,
) -> KeyResult {
    let start = Instant::now();
    let mut limits = search::Limits {
        max_steps: options.max_steps,
        deadline: options.time_limit.map(|d| start + d),
    };
    let initial = options.initial.get(key);
    let sc = options.check_sequential_reads;
    let full = Prepared::new(history, idx, sc, initial, None);
    let frontier = match search::search(&full.ops, full.init, &mut limits) {
        search::Outcome::Ok { order, steps } => {
            return KeyResult::Ok(full.linearization(&order, steps))
        }
        search::Outcome::Timeout(f) => {
            return KeyResult::Timeout(explain::timeout(history, &full, &f, start.elapsed(), tf))
        }
        search::Outcome::Illegal(f) => f,
    };
    // Classify: are the writes and linearizable reads alone at fault?
    let mut with_sc = sc;
    let kind = if !full.ops.iter().any(|o| o.sc_read) {
        ViolationKind::NotLinearizable
    } else {
        let writes = Prepared::new(history, idx, false, initial, None);
        match search::search(&writes.ops, writes.init, &mut limits) {
            search::Outcome::Illegal(_) => {
                with_sc = false;
                ViolationKind::NotLinearizable
            }
            search::Outcome::Ok { .. } => ViolationKind::ReadsNotSequentiallyConsistent,
            search::Outcome::Timeout(_) => ViolationKind::Unclassified,
        }
    };
    let failure = smallest_failing_prefix(history, idx, with_sc, initial, &mut limits)
        .unwrap_or_else(|| {
            // Out of budget: explain with how far the full search got.
            let p = if with_sc == sc {
                full
            } else {
                Prepared::new(history, idx, with_sc, initial, None)
            };
            explain::Failure {
                blocking: frontier.blocking.map(|b| p.orig[b as usize]),
                witness: p.linearization(&frontier.witness, 0),
                states: frontier.states.iter().map(|&s| p.node(s)).collect(),
                exact: false,
                p,
            }
        });
    KeyResult::Illegal(explain::violation(history, &failure, kind, tf))
}

/// Finds the first return event `X` such that the history cut just after
/// `X` returned has no valid order (the cut before it has one): operations
/// called later are left out, and operations pending at the cut become
/// optional (they may or may not have taken effect yet). Whether a cut has
/// a valid order is monotone in the cut, so a binary search over the
/// return events finds it. `None` if a search ran out of budget.
fn smallest_failing_prefix(
    history: &[Operation],
    idx: &[usize],
    with_sc: bool,
    initial: Option<&NodeState>,
    limits: &mut search::Limits,
) -> Option<explain::Failure> {
    let whole = Prepared::new(history, idx, with_sc, initial, None);
    let mut times: Vec<u64> = whole.ops.iter().filter_map(|o| o.ret).collect();
    times.sort_unstable();
    times.dedup();
    // Cut k (1-based) ends at times[k - 1]; cut times.len() + 1 is the whole
    // history (it also has the ops resolved as committed), known to fail.
    let (mut lo, mut hi) = (0, times.len() + 1);
    let mut witness = whole.linearization(&[], 0);
    while hi - lo > 1 {
        let mid = (lo + hi) / 2;
        let p = Prepared::new(history, idx, with_sc, initial, Some(times[mid - 1]));
        match search::search(&p.ops, p.init, limits) {
            search::Outcome::Ok { order, .. } => {
                lo = mid;
                witness = p.linearization(&order, 0);
            }
            search::Outcome::Illegal(_) => hi = mid,
            search::Outcome::Timeout(_) => return None,
        }
    }
    let blocking = (hi <= times.len()).then(|| {
        let t = times[hi - 1];
        let q = whole
            .ops
            .iter()
            .position(|o| o.ret == Some(t))
            .expect("an op returns at each return time");
        whole.orig[q]
    });
    let last = witness
        .steps
        .last()
        .map_or(witness.initial.clone(), |s| s.state.clone());
    Some(explain::Failure {
        blocking,
        witness,
        states: vec![last],
        exact: true,
        p: whole,
    })
}
