//! Human-readable explanations of failures and timeouts.

use std::fmt::Write;
use std::time::Duration;

use std::collections::HashSet;

use crate::search::Frontier;
use crate::{
    Input, Linearization, NodeState, Operation, Output, Prepared, Resolution, Timeout, Violation,
    ViolationKind,
};

/// Prints times relative to the history's first call, in one unit chosen
/// from the history's span.
pub(crate) struct TimeFmt {
    t0: u64,
    div: u64,
    unit: &'static str,
    decimals: usize,
}

impl TimeFmt {
    pub(crate) fn new(history: &[Operation]) -> TimeFmt {
        let t0 = history.iter().map(|o| o.call).min().unwrap_or(0);
        let end = history
            .iter()
            .map(|o| o.ret.unwrap_or(o.call))
            .max()
            .unwrap_or(0);
        let (div, unit, decimals) = match end - t0 {
            0..=99_999 => (1, "ns", 0),
            100_000..=99_999_999 => (1_000, "us", 3),
            _ => (1_000_000, "ms", 3),
        };
        TimeFmt {
            t0,
            div,
            unit,
            decimals,
        }
    }

    fn t(&self, t: u64) -> String {
        let d = t.saturating_sub(self.t0);
        if self.div == 1 {
            format!("{d}{}", self.unit)
        } else {
            format!(
                "{:.*}{}",
                self.decimals,
                d as f64 / self.div as f64,
                self.unit
            )
        }
    }
}

pub(crate) fn value(v: &[u8]) -> String {
    match std::str::from_utf8(v) {
        Ok(s) if s.len() <= 64 && !s.chars().any(char::is_control) => format!("{s:?}"),
        _ => {
            let hex: String = v.iter().take(32).map(|b| format!("{b:02x}")).collect();
            if v.len() > 32 {
                format!("0x{hex}...({} bytes)", v.len())
            } else {
                format!("0x{hex}")
            }
        }
    }
}

fn input(i: &Input) -> String {
    match i {
        Input::Create { value: v } => format!("create({})", value(v)),
        Input::Delete { expected_version } => format!("delete(version {expected_version})"),
        Input::Set {
            value: v,
            expected_version,
        } => format!("set({}, version {expected_version})", value(v)),
        Input::Get { linearizable: true } => "get(linearizable)".to_string(),
        Input::Get {
            linearizable: false,
        } => "get".to_string(),
    }
}

fn output(o: &Output) -> String {
    match o {
        Output::Ok => "Ok".to_string(),
        Output::SetOk { new_version } => format!("Ok(version {new_version})"),
        Output::GetOk { value: v, version } => format!("Ok({}, version {version})", value(v)),
        Output::NoNode => "NoNode".to_string(),
        Output::NodeExists => "NodeExists".to_string(),
        Output::BadVersion => "BadVersion".to_string(),
    }
}

/// `#12 client 3 [1.250ms .. 1.400ms] set("x", version 2) -> Ok(version 3)`
pub(crate) fn op(h: &[Operation], i: usize, tf: &TimeFmt) -> String {
    let o = &h[i];
    let ret = o.ret.map_or("?".to_string(), |t| tf.t(t));
    let out = match (&o.output, o.resolution) {
        (Some(out), _) => output(out),
        (None, Resolution::Committed) => "? (unknown outcome; resolved: committed)".to_string(),
        (None, Resolution::NotCommitted) => {
            "? (unknown outcome; resolved: not committed)".to_string()
        }
        (None, Resolution::Unknown) => "? (unknown outcome)".to_string(),
    };
    format!(
        "#{i} client {} [{} .. {ret}] {} -> {out}",
        o.client,
        tf.t(o.call),
        input(&o.input)
    )
}

fn state(s: &Option<NodeState>) -> String {
    match s {
        None => "absent".to_string(),
        Some(n) => format!("{} version {}", value(&n.value), n.version),
    }
}

const SHOW_ORDER: usize = 20;
const SHOW_OPS: usize = 30;

/// Why a key failed, for `violation`.
pub(crate) struct Failure {
    /// The operation whose return cannot be passed (index into the
    /// history); `None`: only the committed operations cannot be placed.
    pub blocking: Option<usize>,
    /// A valid order of everything before that point.
    pub witness: Linearization,
    /// The key's possible states at that point.
    pub states: Vec<Option<NodeState>>,
    /// From the exact prefix search (else from how far the full search got).
    pub exact: bool,
    /// The key's operations as checked.
    pub p: Prepared,
}

/// Appends the witness order, with states.
fn witness(out: &mut String, h: &[Operation], w: &Linearization, tf: &TimeFmt) {
    let n = w.steps.len();
    let _ = writeln!(
        out,
        "  One valid order of the operations before that point ({n} operations{}):",
        if n > SHOW_ORDER {
            format!("; the last {SHOW_ORDER}")
        } else {
            String::new()
        }
    );
    if n == 0 {
        let _ = writeln!(out, "    (none; initial state {})", state(&w.initial));
    }
    for s in &w.steps[n.saturating_sub(SHOW_ORDER)..] {
        let _ = writeln!(out, "    {}  => {}", op(h, s.op, tf), state(&s.state));
    }
}

fn list(out: &mut String, title: &str, h: &[Operation], ops: &[usize], tf: &TimeFmt) {
    if ops.is_empty() {
        return;
    }
    let _ = writeln!(out, "  {title}:");
    for &i in ops.iter().take(SHOW_OPS) {
        let _ = writeln!(out, "    {}", op(h, i, tf));
    }
    if ops.len() > SHOW_OPS {
        let _ = writeln!(out, "    ... and {} more", ops.len() - SHOW_OPS);
    }
}

pub(crate) fn violation(
    h: &[Operation],
    f: &Failure,
    kind: ViolationKind,
    tf: &TimeFmt,
) -> Violation {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}",
        match kind {
            ViolationKind::NotLinearizable =>
                "NOT LINEARIZABLE: the writes and linearizable reads have no valid order.",
            ViolationKind::ReadsNotSequentiallyConsistent =>
                "READS NOT SEQUENTIALLY CONSISTENT: the writes and linearizable reads have a \
                 valid order, but none that also explains the sequentially consistent reads \
                 (each read must see a state of that order, at or after its client's earlier \
                 completed operations on the key, and before anything called after it returned).",
            ViolationKind::Unclassified =>
                "NO VALID ORDER (not classified: the search without the sequentially \
                 consistent reads ran out of budget).",
        }
    );
    let p = &f.p;
    let in_witness: HashSet<usize> = f.witness.steps.iter().map(|s| s.op).collect();
    let mut involved = Vec::new();
    let states: Vec<String> = f.states.iter().map(state).collect();
    match f.blocking {
        Some(b) => {
            let x = &h[b];
            if f.exact {
                let _ = writeln!(
                    out,
                    "  Everything up to just before #{b} returned has a valid order, but \
                     nothing does once it has returned:"
                );
            } else {
                let _ = writeln!(
                    out,
                    "  The search ran out of budget narrowing the failure down; it got no \
                     further than the return of:"
                );
            }
            let _ = writeln!(out, "    {}", op(h, b, tf));
            involved.push(b);
            let _ = writeln!(
                out,
                "  The key's state at that point in the order below: {}",
                states.join(" | ")
            );
            witness(&mut out, h, &f.witness, tf);
            let xret = x.ret.unwrap_or(u64::MAX);
            let concurrent: Vec<usize> = p
                .orig
                .iter()
                .copied()
                .filter(|&i| i != b && !in_witness.contains(&i))
                .filter(|&i| h[i].call <= xret && h[i].ret.is_none_or(|r| r >= x.call))
                .collect();
            list(
                &mut out,
                &format!("Operations concurrent with #{b} and not in that order"),
                h,
                &concurrent,
                tf,
            );
            involved.extend(concurrent.iter().take(SHOW_OPS));
            if kind != ViolationKind::NotLinearizable {
                let mut earlier: Vec<usize> = p
                    .orig
                    .iter()
                    .copied()
                    .filter(|&i| h[i].client == x.client && h[i].call < x.call)
                    .collect();
                earlier.sort_by_key(|&i| (h[i].call, i));
                let earlier = &earlier[earlier.len().saturating_sub(10)..];
                list(
                    &mut out,
                    &format!(
                        "Client {}'s latest earlier operations on this key",
                        x.client
                    ),
                    h,
                    earlier,
                    tf,
                );
                for &i in earlier {
                    if !involved.contains(&i) {
                        involved.push(i);
                    }
                }
            }
        }
        None => {
            let _ = writeln!(
                out,
                "  Every completed operation can be ordered, but not together with every \
                 operation resolved as committed."
            );
            let _ = writeln!(
                out,
                "  The key's state at the end of the order below: {}",
                states.join(" | ")
            );
            witness(&mut out, h, &f.witness, tf);
            let missing: Vec<usize> = (0..p.ops.len())
                .filter(|&q| p.ops[q].required && p.ops[q].ret.is_none())
                .map(|q| p.orig[q])
                .filter(|i| !in_witness.contains(i))
                .collect();
            list(
                &mut out,
                "Committed operations not in that order",
                h,
                &missing,
                tf,
            );
            involved.extend(missing.iter().take(SHOW_OPS));
        }
    }
    Violation {
        kind,
        op: f.blocking,
        involved,
        explanation: out,
    }
}

pub(crate) fn timeout(
    h: &[Operation],
    p: &Prepared,
    f: &Frontier,
    elapsed: Duration,
    tf: &TimeFmt,
) -> Timeout {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "TIMEOUT: undecided after {} search steps ({elapsed:.2?}); raise Options::max_steps or \
         resolve unknown outcomes (Resolution).",
        f.steps
    );
    let unknown = p.ops.iter().filter(|o| !o.required).count();
    let _ = writeln!(
        out,
        "  {} operations on the key, {unknown} with an unknown outcome (not inferred from reads).",
        p.ops.len()
    );
    match f.blocking {
        Some(b) => {
            let _ = writeln!(
                out,
                "  Furthest point reached: {} operations ordered, up to the return of:",
                f.witness.len()
            );
            let b = p.orig[b as usize];
            let _ = writeln!(out, "    {}", op(h, b, tf));
            let w = p.linearization(&f.witness, 0);
            let in_witness: HashSet<usize> = w.steps.iter().map(|s| s.op).collect();
            let states: Vec<String> = f.states.iter().map(|&s| state(&p.node(s))).collect();
            let _ = writeln!(
                out,
                "  The key's possible states there: {}",
                states.join(" | ")
            );
            witness(&mut out, h, &w, tf);
            let x = &h[b];
            let concurrent: Vec<usize> = p
                .orig
                .iter()
                .copied()
                .filter(|&i| i != b && !in_witness.contains(&i))
                .filter(|&i| h[i].call <= x.ret.unwrap_or(u64::MAX))
                .filter(|&i| h[i].ret.is_none_or(|r| r >= x.call))
                .collect();
            list(
                &mut out,
                &format!("Operations concurrent with #{b} (or unknown) and not in that order"),
                h,
                &concurrent,
                tf,
            );
        }
        None => {
            let _ = writeln!(
                out,
                "  Furthest point reached: every completed operation ordered ({} operations).",
                f.witness.len()
            );
        }
    }
    Timeout {
        steps: f.steps,
        elapsed,
        explanation: out,
    }
}
