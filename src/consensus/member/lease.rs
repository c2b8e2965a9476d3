//! Leader leases for reads (`roost.readConsistency=lease`): a leader whose
//! followers have promised not to elect anyone else for a while answers
//! linearizable reads and syncs from its own commit index, without a
//! ReadIndex round each.
//!
//! The promise is raft's check-quorum lease on the followers' side: a
//! follower that has heard from its leader within `electionTicks` ticks
//! ignores vote and pre-vote requests. So once a quorum has answered a
//! heartbeat that the leader sent at time `s`, no other leader can be
//! elected before `s` plus that long as each follower counts it. The
//! leader renews by asking raft for a ReadIndex round of its own (a
//! heartbeat with a context) every half lease, and holds the lease until
//! `s + LEASE`, where
//!
//! ```text
//! LEASE = (electionTicks - 1) × raftTickMs × (1 - LEASE_CLOCK_DRIFT_PERCENT/100)
//! ```
//!
//! - `- 1` tick: a follower's tick can fall just after the heartbeat
//!   arrived, so its count reaches `electionTicks` one tick early;
//! - the drift margin: the followers' clocks may run faster than the
//!   leader's (missed ticks are dropped, never replayed, so a stalled
//!   follower only counts slower).
//!
//! At the defaults (10 ms ticks, 10 ticks) that is 81 ms from the send.
//! A renewal asked again, or answered after the term changed, never
//! extends the lease; a leader that hands leadership over (a transfer
//! campaigns past the followers' leases) or steps down drops it at once.
//! While a lease holds, the followers must not cut their own lease short:
//! in this mode a dropped connection to the leader does not bring their
//! election forward (`raft_loop::peer_disconnected`), so a killed leader
//! is replaced after the silent-leader timeout instead.
//!
//! Owned by the consensus executor, inside [`super::Member`]. Pure: time
//! comes in as arguments.

/// How much faster than the leader's a follower's clock may run.
pub const LEASE_CLOCK_DRIFT_PERCENT: i64 = 10;

/// Renewal rounds use tokens with this bit set, so they never meet the
/// read barriers' own rounds (which count up from 1).
pub const RENEWAL_TOKEN_BIT: u64 = 1 << 63;

/// The lease a confirmed renewal gives, from the renewal's send time.
pub fn lease_ms(election_ticks: usize, raft_tick_ms: u64) -> i64 {
    let ticks = election_ticks.saturating_sub(1) as i64;
    ticks * raft_tick_ms as i64 * (100 - LEASE_CLOCK_DRIFT_PERCENT) / 100
}

/// A renewal round in flight.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Renewal {
    token: u64,
    asked_ms: i64,
    term: u64,
}

/// See the module doc.
/// Owned by the consensus executor, inside [`super::Member`].
#[derive(Debug, Default)]
pub struct ReadLease {
    /// Length of a lease (from [`lease_ms`]); 0 = leases are off.
    lease_ms: i64,
    /// The lease holds strictly before this (monotonic ms), in `term`.
    until: Option<(i64, u64)>,
    renewal: Option<Renewal>,
    next_token: u64,
    /// Renewals asked and confirmed; barriers answered under a lease.
    renewals_asked: u64,
    renewals_confirmed: u64,
    reads_served: u64,
}

impl ReadLease {
    /// `lease_ms == 0` turns leases off (every method then says no).
    pub fn new(lease_ms: i64) -> ReadLease {
        assert!(lease_ms >= 0, "a lease cannot be negative");
        ReadLease {
            lease_ms,
            next_token: 1,
            ..ReadLease::default()
        }
    }

    pub fn enabled(&self) -> bool {
        self.lease_ms > 0
    }

    /// Whether a leader of `term` holds the lease at `now_ms`.
    pub fn holds(&self, now_ms: i64, term: u64) -> bool {
        self.until
            .is_some_and(|(until, t)| t == term && now_ms < until)
    }

    /// The token of a renewal to ask raft for now, if one is due: none in
    /// flight (one unanswered for a whole lease is given up) and less than
    /// half a lease left. The caller is the leader of `term`, ready.
    pub fn renewal_due(&mut self, now_ms: i64, term: u64) -> Option<u64> {
        if !self.enabled() {
            return None;
        }
        if let Some(r) = self.renewal {
            if r.term == term && now_ms - r.asked_ms < self.lease_ms {
                return None;
            }
        }
        let left = match self.until {
            Some((until, t)) if t == term => until - now_ms,
            _ => 0,
        };
        if left > self.lease_ms / 2 {
            return None;
        }
        let token = RENEWAL_TOKEN_BIT | self.next_token;
        self.next_token += 1;
        self.renewals_asked += 1;
        self.renewal = Some(Renewal {
            token,
            asked_ms: now_ms,
            term,
        });
        Some(token)
    }

    /// raft confirmed the round with `token` (a quorum answered it) while
    /// this member leads `term`. Returns false for tokens that are not
    /// renewals (the barriers' rounds).
    pub fn confirmed(&mut self, token: u64, term: u64) -> bool {
        if token & RENEWAL_TOKEN_BIT == 0 {
            return false;
        }
        if let Some(r) = self.renewal {
            if r.token == token && r.term == term {
                self.renewal = None;
                self.renewals_confirmed += 1;
                let until = r.asked_ms + self.lease_ms;
                if self.until.is_none_or(|(u, t)| t != term || until > u) {
                    self.until = Some((until, term));
                }
            }
        }
        true
    }

    /// No longer leader (or handing leadership over): the lease is gone.
    pub fn drop_lease(&mut self) {
        self.until = None;
        self.renewal = None;
    }

    pub fn served_one(&mut self) {
        self.reads_served += 1;
    }

    /// (renewals asked, renewals confirmed, reads served under a lease).
    pub fn counters(&self) -> (u64, u64, u64) {
        (
            self.renewals_asked,
            self.renewals_confirmed,
            self.reads_served,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_lease_is_81_ms() {
        assert_eq!(lease_ms(10, 10), 81);
        assert_eq!(lease_ms(1, 10), 0, "one tick leaves no lease");
    }

    #[test]
    fn a_lease_runs_from_the_renewals_send_time_in_its_term() {
        let mut l = ReadLease::new(81);
        assert!(!l.holds(0, 1));
        let t = l.renewal_due(1_000, 1).unwrap();
        assert!(l.renewal_due(1_010, 1).is_none(), "one in flight");
        // Answered 30 ms later: the lease counts from the send.
        assert!(l.confirmed(t, 1));
        assert!(l.holds(1_080, 1));
        assert!(!l.holds(1_081, 1));
        assert!(!l.holds(1_050, 2), "another term");
        // Renewed once less than half is left.
        assert!(l.renewal_due(1_030, 1).is_none());
        let t2 = l.renewal_due(1_041, 1).unwrap();
        assert!(l.confirmed(t2, 1));
        assert!(l.holds(1_121, 1) && !l.holds(1_122, 1));
    }

    #[test]
    fn stale_renewals_and_other_rounds_never_extend_it() {
        let mut l = ReadLease::new(81);
        let t = l.renewal_due(0, 1).unwrap();
        // Unanswered for a whole lease: given up, a new one asked.
        let t2 = l.renewal_due(81, 1).unwrap();
        assert_ne!(t, t2);
        assert!(l.confirmed(t, 1), "a renewal token");
        assert!(!l.holds(10, 1), "the abandoned renewal does not count");
        assert!(!l.confirmed(7, 1), "a barrier round is not a renewal");
        // Confirmed after the term changed: nothing.
        assert!(l.confirmed(t2, 2));
        assert!(!l.holds(100, 2) && !l.holds(100, 1));
        let t3 = l.renewal_due(200, 2).unwrap();
        assert!(l.confirmed(t3, 2));
        assert!(l.holds(280, 2));
        l.drop_lease();
        assert!(!l.holds(201, 2));
    }

    #[test]
    fn off_when_the_lease_is_zero() {
        let mut l = ReadLease::new(0);
        assert!(!l.enabled());
        assert!(l.renewal_due(0, 1).is_none());
        assert!(!l.holds(0, 1));
    }
}
