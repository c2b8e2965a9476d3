//! The search: Wing & Gong's depth-first linearization search over a list of
//! call/return events, with Lowe's memoization of (set of linearized ops,
//! model state), extended with optional ops (unknown outcome), ops without a
//! return (resolved as committed), sequentially consistent reads and a rule
//! that linearizes state-preserving ops without branching.
//!
//! Everything here works on one key, with values interned to `u32`.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::time::Instant;

/// Model state of one znode: `None` = absent, `Some((value id, version))`.
pub(crate) type State = Option<(u32, i32)>;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum In {
    Create(u32),
    Delete(i32),
    Set(u32, i32),
    Get,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
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
    /// What is left of the key's step budget; `search` takes what it used.
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
    Ok { order: Vec<u32>, steps: u64 },
    Illegal(Frontier),
    Timeout(Frontier),
}

const NIL: u32 = u32::MAX;
/// Sentinel head of the event list.
const HEAD: u32 = 0;

#[derive(Clone, Copy)]
struct Entry {
    op: u32,
    call: bool,
    prev: u32,
    next: u32,
}

/// A doubly linked event list with dancing-links removal/restoration: the
/// call events of every op except sequentially consistent reads, and the
/// return events of every op that has one, sorted by time (calls before
/// returns at equal times: touching intervals count as concurrent).
/// Entries are allocated in sorted order, so an entry's index is its
/// position in time.
struct Lists {
    e: Vec<Entry>,
    call_entry: Vec<u32>,
    ret_entry: Vec<u32>,
}

impl Lists {
    fn new(ops: &[SOp]) -> Lists {
        let mut events: Vec<(u64, bool, u32)> = Vec::new();
        for (i, op) in ops.iter().enumerate() {
            if !op.sc_read {
                events.push((op.call, false, i as u32));
            }
            if let Some(r) = op.ret {
                events.push((r, true, i as u32));
            }
        }
        events.sort_unstable();
        let mut l = Lists {
            e: vec![Entry {
                op: NIL,
                call: false,
                prev: NIL,
                next: NIL,
            }],
            call_entry: vec![NIL; ops.len()],
            ret_entry: vec![NIL; ops.len()],
        };
        for (_, is_ret, op) in events {
            let idx = l.e.len() as u32;
            l.e.push(Entry {
                op,
                call: !is_ret,
                prev: idx - 1,
                next: NIL,
            });
            l.e[idx as usize - 1].next = idx;
            if is_ret {
                l.ret_entry[op as usize] = idx;
            } else {
                l.call_entry[op as usize] = idx;
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
        for x in [self.call_entry[op as usize], self.ret_entry[op as usize]] {
            if x != NIL {
                self.remove(x);
            }
        }
    }

    fn unlift(&mut self, op: u32) {
        for x in [self.ret_entry[op as usize], self.call_entry[op as usize]] {
            if x != NIL {
                self.restore(x);
            }
        }
    }

    fn next(&self, x: u32) -> u32 {
        self.e[x as usize].next
    }
}

struct Bits(Vec<u64>);

impl Bits {
    fn flip(&mut self, i: u32) {
        self.0[(i / 64) as usize] ^= 1 << (i % 64);
    }
    /// Canonical compact form: words before `lo` are all ones, words from
    /// `hi` on are all zeros, so `(lo, &words[lo..hi])` identifies the set.
    /// Linearized sets are mostly "every op called before t, plus a few", so
    /// this stays short.
    fn compact(&self) -> (u32, &[u64]) {
        let lo = self.0.iter().position(|&w| w != !0).unwrap_or(self.0.len());
        let hi = self.0.iter().rposition(|&w| w != 0).map_or(0, |h| h + 1);
        (lo as u32, &self.0[lo..hi.max(lo)])
    }
}

/// Nodes known to have no successful completion ("dead"), recorded when
/// the search leaves them. A node is (required ops linearized, optional ops
/// linearized, state); a node is dead if a dead node has the same required
/// ops and state and a subset of its optional ops: optional ops have no
/// return event, so leaving one out never removes a candidate, and any
/// completion of the bigger node is a completion of the smaller one.
/// (With no optional ops this is Lowe's memo.) Only finished nodes are
/// recorded, so the pruning never relies on a node still being explored.
#[derive(Default)]
struct Dead {
    /// By a Zobrist hash of the required set mixed with the state.
    map: HashMap<u64, Vec<DeadNode>, BuildHasherDefault<PassThrough>>,
}

/// A node's state and its obligation (see `search`).
type Tag = (State, Option<State>);

fn tag_hash((s, ob): Tag) -> u64 {
    state_hash(s) ^ ob.map_or(0x0B11_6A71_0000_0001, |o| state_hash(o).rotate_left(17))
}

struct DeadNode {
    state: Tag,
    /// The required set, compacted (see `Bits::compact`).
    lo: u32,
    words: Box<[u64]>,
    /// Minimal optional multisets (counts per class) with which the node
    /// is dead.
    opts: Vec<Box<[u32]>>,
}

/// `small ⊆ big + {extra}` as multisets (counts per class).
fn subset(small: &[u32], big: &[u32], extra: Option<u32>) -> bool {
    small
        .iter()
        .zip(big)
        .enumerate()
        .all(|(c, (&a, &b))| a <= b + u32::from(extra == Some(c as u32)))
}

impl Dead {
    fn find(&self, hash: u64, state: Tag, bits: &Bits) -> Option<&DeadNode> {
        let (lo, words) = bits.compact();
        self.map
            .get(&hash)?
            .iter()
            .find(|d| d.state == state && d.lo == lo && *d.words == *words)
    }

    /// Is the node (required set `bits` hashed as `req_hash`, `tag`, optional
    /// set `opts` + `extra`) dead? A node without an obligation has more
    /// children than the same node with one, so its death counts too.
    fn contains(
        &self,
        req_hash: u64,
        tag: Tag,
        bits: &Bits,
        opts: &[u32],
        extra: Option<u32>,
    ) -> bool {
        let dead = |t: Tag| {
            self.find(req_hash ^ tag_hash(t), t, bits)
                .is_some_and(|d| d.opts.iter().any(|o| subset(o, opts, extra)))
        };
        dead(tag) || (tag.1.is_some() && dead((tag.0, None)))
    }

    fn insert(&mut self, req_hash: u64, state: Tag, bits: &Bits, opts: &[u32]) {
        let (lo, words) = bits.compact();
        let v = self.map.entry(req_hash ^ tag_hash(state)).or_default();
        let i = match v
            .iter()
            .position(|d| d.state == state && d.lo == lo && *d.words == *words)
        {
            Some(i) => i,
            None => {
                v.push(DeadNode {
                    state,
                    lo,
                    words: words.into(),
                    opts: Vec::new(),
                });
                v.len() - 1
            }
        };
        let d = &mut v[i];
        if d.opts.iter().any(|o| subset(o, opts, None)) {
            return;
        }
        d.opts.retain(|o| !subset(opts, o, None));
        d.opts.push(opts.into());
    }
}

/// A set of u32 with O(1) insert/remove and iteration (order unspecified).
struct IndexSet {
    items: Vec<u32>,
    pos: Vec<u32>,
}

impl IndexSet {
    fn new(universe: usize) -> IndexSet {
        IndexSet {
            items: Vec::new(),
            pos: vec![NIL; universe],
        }
    }
    fn insert(&mut self, x: u32) {
        debug_assert_eq!(self.pos[x as usize], NIL);
        self.pos[x as usize] = self.items.len() as u32;
        self.items.push(x);
    }
    fn remove(&mut self, x: u32) {
        let p = self.pos[x as usize];
        debug_assert_ne!(p, NIL);
        self.items.swap_remove(p as usize);
        if let Some(&moved) = self.items.get(p as usize) {
            self.pos[moved as usize] = p;
        }
        self.pos[x as usize] = NIL;
    }
}

/// The keys are already good 64-bit hashes.
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
    prev_ob: Option<State>,
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
pub(crate) fn search(ops: &[SOp], init: State, limits: &mut Limits) -> Outcome {
    let out = search_within(ops, init, limits);
    let used = match &out {
        Outcome::Ok { steps, .. } => *steps,
        Outcome::Illegal(f) | Outcome::Timeout(f) => f.steps,
    };
    limits.max_steps = limits.max_steps.saturating_sub(used);
    out
}

fn search_within(ops: &[SOp], init: State, limits: &Limits) -> Outcome {
    let n = ops.len();
    // Values that no required read returns are indistinguishable for the
    // rest of the search: map them all to one `junk` id, so that orders
    // differing only in such values meet in the memo. (Required reads are
    // the only ops whose output shows a value.)
    let mut seen_values: Vec<u32> = ops
        .iter()
        .filter(|o| o.required)
        .filter_map(|o| match o.expect {
            Expect::Exact(Out::GetOk(v, _)) => Some(v),
            _ => None,
        })
        .chain(init.map(|s| s.0))
        .collect();
    seen_values.sort_unstable();
    seen_values.dedup();
    let junk = ops
        .iter()
        .flat_map(|o| match (o.input, o.expect) {
            (In::Create(v) | In::Set(v, _), _) => Some(v),
            (_, Expect::Exact(Out::GetOk(v, _))) => Some(v),
            _ => None,
        })
        .chain(init.map(|s| s.0))
        .max()
        .map_or(0, |v| v + 1);
    let canon = |v: u32| {
        if seen_values.binary_search(&v).is_ok() {
            v
        } else {
            junk
        }
    };
    let ops: Vec<SOp> = ops
        .iter()
        .map(|o| SOp {
            input: match o.input {
                In::Create(v) => In::Create(canon(v)),
                In::Set(v, e) => In::Set(canon(v), e),
                x => x,
            },
            ..o.clone()
        })
        .collect();
    let ops = &ops[..];
    let init = init.map(|(v, x)| (canon(v), x));
    // Optional ops with the same input and expectation (after the above)
    // are interchangeable once called: the memo counts linearized optional
    // ops per class instead of naming them. Two nodes with the same
    // required set have the same frontier, so every optional op linearized
    // in either has been called, and any completion of one maps to the
    // other by swapping ops of a class.
    let mut classes: HashMap<(In, Expect), u32> = HashMap::new();
    let class: Vec<u32> = ops
        .iter()
        .map(|o| {
            if o.required {
                NIL
            } else {
                let k = classes.len() as u32;
                *classes.entry((o.input, o.expect)).or_insert(k)
            }
        })
        .collect();
    let mut lists = Lists::new(ops);
    let zob: Vec<u64> = (0..n as u64)
        .map(|i| mix64(i ^ 0x6C69_6E63_6865_636B))
        .collect();
    // Linearized required ops; optional ops are always set, so that the
    // compact form stays short (they are tracked in `opts`).
    let mut bits = Bits(vec![0; n.div_ceil(64)]);
    for (i, o) in ops.iter().enumerate() {
        if !o.required {
            bits.flip(i as u32);
        }
    }
    let mut req_hash = 0u64;
    // Linearized optional ops, counted per class.
    let mut opts: Vec<u32> = vec![0; classes.len()];
    // Sequentially consistent reads: how many of their preds are not
    // linearized yet, who depends on whom, and the enabled ones that are not
    // linearized.
    let mut waiting: Vec<u32> = ops.iter().map(|o| o.preds.len() as u32).collect();
    let mut dependents: Vec<Vec<u32>> = vec![Vec::new(); n];
    let mut enabled = IndexSet::new(n);
    for (i, o) in ops.iter().enumerate() {
        for &p in &o.preds {
            dependents[p as usize].push(i as u32);
        }
        if o.sc_read && o.preds.is_empty() {
            enabled.insert(i as u32);
        }
    }
    // Reads whose state can no longer occur. Only a successful Create/Set
    // of value v produces a state with value v, and nothing but a Set (which
    // writes its own value) changes the version of a present node. So once
    // every op that may write v is linearized, a state (v, x) other than the
    // current one never occurs again, and a read still waiting for it can
    // never be linearized: such nodes are dead. This catches a stale read
    // when the state it saw is overwritten, not only at its return, which
    // may be much later.
    let nvals = ops
        .iter()
        .flat_map(|o| {
            let w = match o.input {
                In::Create(v) | In::Set(v, _) => Some(v),
                _ => None,
            };
            let r = match o.expect {
                Expect::Exact(Out::GetOk(v, _)) => Some(v),
                _ => None,
            };
            w.into_iter().chain(r)
        })
        .chain(init.map(|s| s.0))
        .max()
        .map_or(0, |v| v as usize + 1);
    let writes: Vec<Option<u32>> = ops
        .iter()
        .map(|o| match (o.input, o.expect) {
            (_, Expect::Exact(Out::NodeExists | Out::NoNode | Out::BadVersion)) => None,
            (In::Create(v) | In::Set(v, _), _) => Some(v),
            _ => None,
        })
        .collect();
    let reads: Vec<Option<(u32, i32)>> = ops
        .iter()
        .map(|o| match o.expect {
            Expect::Exact(Out::GetOk(v, x)) if o.required => Some((v, x)),
            _ => None,
        })
        .collect();
    let mut writers_left = vec![0u32; nvals];
    let mut awaited: Vec<Vec<(i32, u32)>> = vec![Vec::new(); nvals];
    for i in 0..n {
        if let Some(v) = writes[i] {
            writers_left[v as usize] += 1;
        }
        if let Some((v, x)) = reads[i] {
            let a = &mut awaited[v as usize];
            match a.iter_mut().find(|e| e.0 == x) {
                Some(e) => e.1 += 1,
                None => a.push((x, 1)),
            }
        }
    }
    let bump = |awaited: &mut [Vec<(i32, u32)>], (v, x): (u32, i32), up: bool| {
        let e = awaited[v as usize].iter_mut().find(|e| e.0 == x).unwrap();
        if up {
            e.1 += 1
        } else {
            e.1 -= 1
        }
    };
    // Does linearizing `op` (a write) from `from` to `to` doom a read?
    let dooms =
        |writers_left: &[u32], awaited: &[Vec<(i32, u32)>], op: u32, from: State, to: State| {
            let w = writes[op as usize];
            [from.map(|s| s.0), w].into_iter().flatten().any(|v| {
                writers_left[v as usize] == u32::from(w == Some(v))
                    && awaited[v as usize]
                        .iter()
                        .any(|&(x, c)| c > 0 && to != Some((v, x)))
            })
        };
    let mut state = init;
    // The obligation: after an optional op, the state before it. The next op
    // must then be optional, or a required op that is not legal in that
    // state (it "observes" the optional op). Complete: in any valid order,
    // an optional op followed by a required op Y that is legal without it
    // can be moved after Y (Y changes nothing then, or is a successful
    // delete while the optional op is a set; either way both orders end in
    // the same state), and an optional op followed by nothing can be left
    // out. Repeating this gives an order where every optional op is
    // followed by an optional op or by a required op observing it.
    let mut ob: Option<State> = None;
    let mut stack: Vec<Frame> = Vec::new();
    let mut remaining = ops.iter().filter(|o| o.required).count();
    let mut dead = Dead::default();
    let mut best = Frontier::default();
    let mut best_pos: Option<u32> = None;
    let mut steps = 0u64;
    // Where to continue the branching scan after a backtrack:
    // (pass: 0 required / 1 optional, list entry).
    let mut resume: Option<(u8, u32)> = None;

    // Is the node reached by linearizing `op` into state `next` dead?
    let is_dead = |dead: &Dead,
                   bits: &mut Bits,
                   req_hash: u64,
                   opts: &[u32],
                   op: u32,
                   from: State,
                   next: State| {
        if dead.map.is_empty() {
            return false;
        }
        if ops[op as usize].required {
            bits.flip(op);
            let r = dead.contains(req_hash ^ zob[op as usize], (next, None), bits, opts, None);
            bits.flip(op);
            r
        } else {
            dead.contains(
                req_hash,
                (next, Some(from)),
                bits,
                opts,
                Some(class[op as usize]),
            )
        }
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
            return Outcome::Ok {
                order: stack.iter().map(|f| f.op).collect(),
                steps,
            };
        }

        let action = 'choose: {
            let (mut pass, mut e) = match resume.take() {
                Some(r) => r,
                None => {
                    // A fresh node: note progress, then look for an op to
                    // linearize without branching.
                    let mut forced = enabled
                        .items
                        .iter()
                        .copied()
                        .find(|&op| ops[op as usize].step(state) == Some(state));
                    let mut e = lists.next(HEAD);
                    while e != NIL && lists.e[e as usize].call {
                        let op = lists.e[e as usize].op;
                        let o = &ops[op as usize];
                        if forced.is_none() && o.required && o.step(state) == Some(state) {
                            forced = Some(op);
                        }
                        e = lists.next(e);
                    }
                    // `e` is now the first return event (or NIL = end).
                    if best_pos.is_none_or(|b| e > b) {
                        best_pos = Some(e);
                        best.blocking = (e != NIL).then(|| lists.e[e as usize].op);
                        best.witness = stack.iter().map(|f| f.op).collect();
                        best.states = vec![state];
                    } else if best_pos == Some(e)
                        && best.states.len() < MAX_STATES
                        && !best.states.contains(&state)
                    {
                        best.states.push(state);
                    }
                    if let Some(op) = forced {
                        if is_dead(&dead, &mut bits, req_hash, &opts, op, state, state) {
                            break 'choose Action::Backtrack;
                        }
                        break 'choose Action::Push {
                            op,
                            next: state,
                            forced: true,
                        };
                    }
                    (0, lists.next(HEAD))
                }
            };
            // Branch over the state-changing candidates.
            loop {
                if e == NIL || !lists.e[e as usize].call {
                    if pass == 0 {
                        pass = 1;
                        e = lists.next(HEAD);
                        continue;
                    }
                    break 'choose Action::Backtrack;
                }
                let op = lists.e[e as usize].op;
                let o = &ops[op as usize];
                // Committed ops (output unknown) count as observing.
                let observes = || {
                    matches!(o.expect, Expect::Success) || ob.is_none_or(|sp| o.step(sp).is_none())
                };
                if o.required == (pass == 0) && (pass == 1 || observes()) {
                    if let Some(next) = o.step(state) {
                        if next != state
                            && !dooms(&writers_left, &awaited, op, state, next)
                            && !is_dead(&dead, &mut bits, req_hash, &opts, op, state, next)
                        {
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
                    prev_ob: ob,
                    forced,
                });
                ob = if ops[op as usize].required {
                    None
                } else {
                    Some(state)
                };
                lists.lift(op);
                if let Some(v) = writes[op as usize] {
                    writers_left[v as usize] -= 1;
                }
                if let Some(r) = reads[op as usize] {
                    bump(&mut awaited, r, false);
                }
                let o = &ops[op as usize];
                if o.sc_read {
                    enabled.remove(op);
                }
                if o.required {
                    bits.flip(op);
                    req_hash ^= zob[op as usize];
                    remaining -= 1;
                    for &r in &dependents[op as usize] {
                        waiting[r as usize] -= 1;
                        if waiting[r as usize] == 0 {
                            enabled.insert(r);
                        }
                    }
                } else {
                    opts[class[op as usize] as usize] += 1;
                }
                state = next;
            }
            Action::Backtrack => loop {
                let Some(f) = stack.pop() else {
                    best.steps = steps;
                    return Outcome::Illegal(best);
                };
                // The node being left is dead.
                dead.insert(req_hash, (state, ob), &bits, &opts);
                lists.unlift(f.op);
                if let Some(v) = writes[f.op as usize] {
                    writers_left[v as usize] += 1;
                }
                if let Some(r) = reads[f.op as usize] {
                    bump(&mut awaited, r, true);
                }
                let o = &ops[f.op as usize];
                if o.required {
                    bits.flip(f.op);
                    req_hash ^= zob[f.op as usize];
                    remaining += 1;
                    for &r in dependents[f.op as usize].iter().rev() {
                        if waiting[r as usize] == 0 {
                            enabled.remove(r);
                        }
                        waiting[r as usize] += 1;
                    }
                } else {
                    opts[class[f.op as usize] as usize] -= 1;
                }
                if o.sc_read {
                    enabled.insert(f.op);
                }
                state = f.prev;
                ob = f.prev_ob;
                if !f.forced {
                    let pass = if o.required { 0 } else { 1 };
                    resume = Some((pass, lists.next(lists.call_entry[f.op as usize])));
                    break;
                }
            },
        }
    }
}
