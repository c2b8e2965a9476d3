//! The search: Wing & Gong's depth-first linearization search over a list of
//! call/return events, with Lowe's memoization of (set of linearized ops,
//! model state), extended with optional ops (unknown outcome), ops without a
//! return (resolved as committed), sequentially consistent reads and a rule
//! that linearizes state-preserving ops without branching.
//!
//! Everything here works on one key, with values interned to `u32`.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::time::Instant;

/// Model state of one znode: `None` = absent, `Some((value id, version))`.
pub(crate) type State = Option<(u32, i32)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum In {
    Create(u32),
    Delete(i32),
    Set(u32, i32),
    Get,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Out {
    Ok,
    SetOk(i32),
    GetOk(u32, i32),
    NoNode,
    NodeExists,
    BadVersion,
}

impl Out {
    fn is_success(self) -> bool {
        matches!(self, Out::Ok | Out::SetOk(_) | Out::GetOk(..))
    }
}

/// What output an op may have when it is linearized.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Expect {
    /// Completed op: exactly the recorded output.
    Exact(Out),
    /// Resolved as committed: it took effect, output otherwise unknown.
    Success,
    /// Unknown outcome: anything the model produces.
    Any,
}

/// The sequential specification of one znode.
pub(crate) fn apply(s: State, input: In) -> (Out, State) {
    match (input, s) {
        (In::Create(v), None) => (Out::Ok, Some((v, 0))),
        (In::Create(_), Some(_)) => (Out::NodeExists, s),
        (In::Delete(_) | In::Set(..), None) => (Out::NoNode, None),
        (In::Delete(ev), Some((_, ver))) => {
            if ev == -1 || ev == ver {
                (Out::Ok, None)
            } else {
                (Out::BadVersion, s)
            }
        }
        (In::Set(v, ev), Some((_, ver))) => {
            if ev == -1 || ev == ver {
                let nv = ver.wrapping_add(1);
                (Out::SetOk(nv), Some((v, nv)))
            } else {
                (Out::BadVersion, s)
            }
        }
        (In::Get, None) => (Out::NoNode, None),
        (In::Get, Some((v, ver))) => (Out::GetOk(v, ver), s),
    }
}

/// One op of a key's sub-history, as the search sees it.
#[derive(Clone, Debug)]
pub(crate) struct SOp {
    pub input: In,
    pub expect: Expect,
    pub call: u64,
    /// `None`: no return event (unknown outcome, or resolved as committed).
    pub ret: Option<u64>,
    /// Must be linearized for the search to succeed.
    pub required: bool,
    /// A sequentially consistent read: not ordered after ops that returned
    /// before its call, except `preds`.
    pub sc_read: bool,
    /// For `sc_read`: the ops (indices into the same slice) that must be
    /// linearized before it (the client's own ops completed before its call;
    /// only the maximal ones, the rest are implied).
    pub preds: Vec<u32>,
}

impl SOp {
    /// The state after linearizing `self` in state `s`, if legal.
    pub(crate) fn step(&self, s: State) -> Option<State> {
        let (out, ns) = apply(s, self.input);
        let ok = match self.expect {
            Expect::Exact(e) => out == e,
            Expect::Success => out.is_success(),
            Expect::Any => true,
        };
        ok.then_some(ns)
    }
}

pub(crate) struct Limits {
    pub max_steps: u64,
    pub deadline: Option<Instant>,
}

/// How far the search got: the furthest point in the event list such that
/// every required op returning before it was linearized.
#[derive(Clone, Debug, Default)]
pub(crate) struct Frontier {
    /// The op whose return could not be passed (`None`: every op with a
    /// return was linearized; what is left are resolved-committed ops).
    pub blocking: Option<u32>,
    /// One linearization (op indices in order) reaching the frontier.
    pub witness: Vec<u32>,
    /// Distinct model states seen at the frontier (at most `MAX_STATES`).
    pub states: Vec<State>,
    pub steps: u64,
}

const MAX_STATES: usize = 8;

pub(crate) enum Outcome {
    Ok(Vec<u32>),
    Illegal(Frontier),
    Timeout(Frontier),
}

const NIL: u32 = u32::MAX;
/// Sentinel heads of the two event lists.
const MAIN: u32 = 0;
const SC: u32 = 1;

#[derive(Clone, Copy)]
struct Entry {
    op: u32,
    call: bool,
    prev: u32,
    next: u32,
}

/// Doubly linked event lists with dancing-links removal/restoration. `MAIN`
/// holds call events of every op except sequentially consistent reads and
/// return events of every op that has one, sorted by time (calls before
/// returns at equal times: touching intervals count as concurrent). `SC`
/// holds the call events of sequentially consistent reads. Main entries are
/// allocated in sorted order, so an entry index is its position in time.
struct Lists {
    e: Vec<Entry>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
}

impl Lists {
    fn new(ops: &[SOp]) -> Lists {
        let mut main: Vec<(u64, bool, u32)> = Vec::new();
        let mut sc: Vec<(u64, u32)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            let i = i as u32;
            if op.sc_read {
                sc.push((op.call, i));
            } else {
                main.push((op.call, false, i));
            }
            if let Some(r) = op.ret {
                main.push((r, true, i));
            }
        }
        main.sort_unstable();
        sc.sort_unstable();
        let sentinel = Entry {
            op: NIL,
            call: false,
            prev: NIL,
            next: NIL,
        };
        let mut l = Lists {
            e: vec![sentinel, sentinel],
            call_entry: vec![NIL; ops.len()],
            ret_entry: vec![NIL; ops.len()],
        };
        let events = main
            .into_iter()
            .map(|(_, is_ret, op)| (MAIN, !is_ret, op))
            .chain(sc.into_iter().map(|(_, op)| (SC, true, op)));
        let mut tail = [MAIN, SC];
        for (list, call, op) in events {
            let idx = l.e.len() as u32;
            let t = &mut tail[list as usize];
            l.e.push(Entry {
                op,
                call,
                prev: *t,
                next: NIL,
            });
            l.e[*t as usize].next = idx;
            *t = idx;
            if call {
                l.call_entry[op as usize] = idx;
            } else {
                l.ret_entry[op as usize] = idx;
            }
        }
        l
    }

    fn remove(&mut self, x: u32) {
        let Entry { prev, next, .. } = self.e[x as usize];
        self.e[prev as usize].next = next;
        if next != NIL {
            self.e[next as usize].prev = prev;
        }
    }

    fn restore(&mut self, x: u32) {
        let Entry { prev, next, .. } = self.e[x as usize];
        self.e[prev as usize].next = x;
        if next != NIL {
            self.e[next as usize].prev = x;
        }
    }

    fn lift(&mut self, op: u32) {
        self.remove(self.call_entry[op as usize]);
        let r = self.ret_entry[op as usize];
        if r != NIL {
            self.remove(r);
        }
    }

    fn unlift(&mut self, op: u32) {
        let r = self.ret_entry[op as usize];
        if r != NIL {
            self.restore(r);
        }
        self.restore(self.call_entry[op as usize]);
    }

    fn next(&self, x: u32) -> u32 {
        self.e[x as usize].next
    }
}

struct Bits(Vec<u64>);

impl Bits {
    fn get(&self, i: u32) -> bool {
        self.0[(i / 64) as usize] & (1 << (i % 64)) != 0
    }
    fn flip(&mut self, i: u32) {
        self.0[(i / 64) as usize] ^= 1 << (i % 64);
    }
    /// Canonical compact form: words before `lo` are all ones, words after
    /// the returned slice are all zeros. Linearized sets are mostly "every op
    /// called before t, plus a few", so this stays short.
    fn compact(&self) -> (u32, Box<[u64]>) {
        let lo = self.0.iter().position(|&w| w != !0).unwrap_or(self.0.len());
        let hi = self.0.iter().rposition(|&w| w != 0).map_or(0, |h| h + 1);
        (lo as u32, self.0[lo..hi.max(lo)].into())
    }
}

/// Memo key: the linearized set and the model state after it. `hash` is a
/// Zobrist hash of the set mixed with the state; equality is exact.
struct Memo {
    hash: u64,
    state: State,
    lo: u32,
    words: Box<[u64]>,
}

impl PartialEq for Memo {
    fn eq(&self, o: &Memo) -> bool {
        self.hash == o.hash && self.state == o.state && self.lo == o.lo && self.words == o.words
    }
}
impl Eq for Memo {}
impl Hash for Memo {
    fn hash<H: Hasher>(&self, h: &mut H) {
        h.write_u64(self.hash)
    }
}

/// `Memo::hash` is already a good 64-bit hash.
#[derive(Default)]
struct PassThrough(u64);
impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8 | b as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }
    fn write_u64(&mut self, x: u64) {
        self.0 = x;
    }
}

pub(crate) fn mix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn state_hash(s: State) -> u64 {
    match s {
        None => 0x5555_AAAA_0F0F_F0F0,
        Some((v, ver)) => mix64((v as u64) << 32 | ver as u32 as u64 ^ 0xABCD_0000_0000_0000),
    }
}

struct Frame {
    op: u32,
    prev: State,
    /// Linearized without branching (legal, required and state-preserving):
    /// if the search fails below it, it fails at its parent too.
    forced: bool,
}

enum Action {
    Push { op: u32, next: State, forced: bool },
    Backtrack,
}

/// Searches for a linearization of `ops` starting from `init`.
///
/// Candidates at a node (a set S of linearized ops and a state s): every op
/// not in S whose call event precedes the first return event (in the main
/// list) of an op not in S, plus every sequentially consistent read whose
/// `preds` are all in S. The search succeeds when every required op is in S.
///
/// Pruning beyond the memo:
/// * A legal candidate that is required and leaves the state unchanged (a
///   read, a failed write) is linearized at once without trying
///   alternatives: moving it earlier in any linearization keeps it valid (it
///   changes no state, everything that had to precede it already does, and
///   being earlier only relaxes the "must precede ops called after my return"
///   constraints).
/// * An optional op that would leave the state unchanged is never tried:
///   linearizing it is equivalent to leaving it out.
/// * Required candidates are tried before optional ones.
pub(crate) fn search(ops: &[SOp], init: State, limits: &Limits) -> Outcome {
    let n = ops.len();
    let mut lists = Lists::new(ops);
    let zob: Vec<u64> = (0..n as u64)
        .map(|i| mix64(i ^ 0x6C69_6E63_6865_636B))
        .collect();
    let mut bits = Bits(vec![0; n.div_ceil(64)]);
    let mut set_hash = 0u64;
    let mut state = init;
    let mut stack: Vec<Frame> = Vec::new();
    let mut remaining = ops.iter().filter(|o| o.required).count();
    let mut memo: HashSet<Memo, BuildHasherDefault<PassThrough>> = HashSet::default();
    let mut best = Frontier::default();
    let mut best_pos: Option<u32> = None;
    let mut steps = 0u64;
    // Where to continue the branching scan after a backtrack:
    // (pass: 0 required / 1 optional, main-list entry).
    let mut resume: Option<(u8, u32)> = None;

    // Inserts (S + op, next) into the memo; false if already there.
    let mut remember = |bits: &mut Bits, set_hash: u64, op: u32, next: State| -> bool {
        bits.flip(op);
        let (lo, words) = bits.compact();
        bits.flip(op);
        memo.insert(Memo {
            hash: set_hash ^ zob[op as usize] ^ state_hash(next),
            state: next,
            lo,
            words,
        })
    };

    loop {
        steps += 1;
        if steps > limits.max_steps
            || (steps.is_multiple_of(1024) && limits.deadline.is_some_and(|d| Instant::now() >= d))
        {
            best.steps = steps;
            return Outcome::Timeout(best);
        }
        if remaining == 0 {
            return Outcome::Ok(stack.iter().map(|f| f.op).collect());
        }

        let action = 'choose: {
            let (mut pass, mut e) = match resume.take() {
                Some(r) => r,
                None => {
                    // A fresh node: note progress, then look for an op to
                    // linearize without branching.
                    let mut e = lists.next(MAIN);
                    let mut forced = None;
                    while e != NIL && lists.e[e as usize].call {
                        let op = lists.e[e as usize].op;
                        let o = &ops[op as usize];
                        if forced.is_none() && o.required && o.step(state) == Some(state) {
                            forced = Some(op);
                        }
                        e = lists.next(e);
                    }
                    // `e` is now the first return event (or NIL = end).
                    let pos = if e == NIL { NIL } else { e };
                    if best_pos.is_none_or(|b| pos > b) {
                        best_pos = Some(pos);
                        best.blocking = (e != NIL).then(|| lists.e[e as usize].op);
                        best.witness = stack.iter().map(|f| f.op).collect();
                        best.states = vec![state];
                    } else if best_pos == Some(pos)
                        && best.states.len() < MAX_STATES
                        && !best.states.contains(&state)
                    {
                        best.states.push(state);
                    }
                    if forced.is_none() {
                        let mut e = lists.next(SC);
                        while e != NIL {
                            let op = lists.e[e as usize].op;
                            let o = &ops[op as usize];
                            if o.preds.iter().all(|&p| bits.get(p)) && o.step(state) == Some(state)
                            {
                                forced = Some(op);
                                break;
                            }
                            e = lists.next(e);
                        }
                    }
                    if let Some(op) = forced {
                        if remember(&mut bits, set_hash, op, state) {
                            break 'choose Action::Push {
                                op,
                                next: state,
                                forced: true,
                            };
                        }
                        break 'choose Action::Backtrack;
                    }
                    (0, lists.next(MAIN))
                }
            };
            // Branch over the state-changing candidates.
            loop {
                if e == NIL || !lists.e[e as usize].call {
                    if pass == 0 {
                        pass = 1;
                        e = lists.next(MAIN);
                        continue;
                    }
                    break 'choose Action::Backtrack;
                }
                let op = lists.e[e as usize].op;
                let o = &ops[op as usize];
                if o.required == (pass == 0) {
                    if let Some(next) = o.step(state) {
                        if next != state && remember(&mut bits, set_hash, op, next) {
                            break 'choose Action::Push {
                                op,
                                next,
                                forced: false,
                            };
                        }
                    }
                }
                e = lists.next(e);
            }
        };

        match action {
            Action::Push { op, next, forced } => {
                stack.push(Frame {
                    op,
                    prev: state,
                    forced,
                });
                lists.lift(op);
                bits.flip(op);
                set_hash ^= zob[op as usize];
                state = next;
                if ops[op as usize].required {
                    remaining -= 1;
                }
            }
            Action::Backtrack => loop {
                let Some(f) = stack.pop() else {
                    best.steps = steps;
                    return Outcome::Illegal(best);
                };
                lists.unlift(f.op);
                bits.flip(f.op);
                set_hash ^= zob[f.op as usize];
                state = f.prev;
                let o = &ops[f.op as usize];
                if o.required {
                    remaining += 1;
                }
                if !f.forced {
                    let pass = if o.required { 0 } else { 1 };
                    resume = Some((pass, lists.next(lists.call_entry[f.op as usize])));
                    break;
                }
            },
        }
    }
}
