//! Which raft `Ready`s are durable. raft-rs (async-ready mode) hands out
//! entries and hard state to persist, plus messages that may be sent only
//! once that is done (votes, append acknowledgements). Readies are made
//! durable in order by the log core, which reports the highest token it
//! finished; a ready that needed nothing from the disk still waits behind
//! any before it that did.
//!
//! Owned by the consensus executor, inside [`super::Member`]. Pure.

use raft::eraftpb::Message;
use std::collections::VecDeque;

#[derive(Debug)]
struct Unpersisted {
    number: u64,
    needs_disk: bool,
    messages: Vec<Message>,
}

/// See the module doc.
/// Owned by the consensus executor, inside [`super::Member`].
#[derive(Debug, Default)]
pub struct Persistence {
    unpersisted: VecDeque<Unpersisted>,
    /// The highest token the log core has reported durable.
    persisted_through: u64,
    /// (term, vote) last handed to the log core: the hard state is
    /// persisted only when they change.
    last_saved_term_vote: (u64, u64),
    /// The ready whose persist installs a received snapshot: raft may not
    /// be told anything is applied past it before that is durable.
    snapshot_persist_pending: Option<u64>,
}

/// What became durable: the last ready number, and the messages of every
/// ready up to it, to send now, in order.
#[derive(Debug)]
pub struct Durable {
    pub through: u64,
    pub messages: Vec<Message>,
    /// The received snapshot's persist was among them.
    pub snapshot_installed: bool,
}

impl Persistence {
    pub fn new(term_vote: (u64, u64)) -> Persistence {
        Persistence {
            last_saved_term_vote: term_vote,
            ..Persistence::default()
        }
    }

    /// Whether `(term, vote)` must be persisted (it changed); records it.
    pub fn term_vote_changed(&mut self, term_vote: (u64, u64)) -> bool {
        if term_vote == self.last_saved_term_vote {
            return false;
        }
        self.last_saved_term_vote = term_vote;
        true
    }

    /// Ready `number` was handed out; `messages` wait until it is durable.
    pub fn queue(&mut self, number: u64, needs_disk: bool, messages: Vec<Message>) {
        assert!(
            self.unpersisted.back().is_none_or(|u| u.number < number),
            "readies are numbered in order"
        );
        self.unpersisted.push_back(Unpersisted {
            number,
            needs_disk,
            messages,
        });
    }

    /// Ready `number` installs a received snapshot.
    pub fn installing_snapshot(&mut self, number: u64) {
        self.snapshot_persist_pending = Some(number);
    }

    /// raft may be told what is applied (no snapshot install outstanding).
    pub fn may_advance_applied(&self) -> bool {
        self.snapshot_persist_pending.is_none()
    }

    /// The log core made everything up to `token` durable.
    pub fn persisted(&mut self, token: u64) {
        self.persisted_through = self.persisted_through.max(token);
    }

    /// The readies now durable, in order, if any.
    pub fn take_durable(&mut self) -> Option<Durable> {
        let mut messages = Vec::new();
        let mut through = None;
        while let Some(front) = self.unpersisted.front() {
            if front.needs_disk && front.number > self.persisted_through {
                break;
            }
            let u = self.unpersisted.pop_front().expect("front exists");
            messages.extend(u.messages);
            through = Some(u.number);
        }
        let through = through?;
        let snapshot_installed = self.snapshot_persist_pending.is_some_and(|n| n <= through);
        if snapshot_installed {
            self.snapshot_persist_pending = None;
        }
        Some(Durable {
            through,
            messages,
            snapshot_installed,
        })
    }
}
