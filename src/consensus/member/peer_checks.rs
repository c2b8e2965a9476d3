//! What another member may send, checked before raft or an array sees it.
//!
//! Anything that reaches the quorum port and passes the transport's
//! handshake arrives here as a frame from a member id. raft-rs trusts its
//! input (a heartbeat whose commit index is past the log aborts it), and
//! the forwarding protocol names shards and members that index tables. So
//! every frame is checked against what an honest member of this ensemble
//! could send; a frame that fails is dropped and logged, never obeyed.
//!
//! Owned by the consensus executor, inside [`super::Member`]. Pure.

use crate::consensus::wire::{Forward, LeaderReply};
use crate::messages::{MemberId, ShardId};
use raft::eraftpb::{Message, MessageType};

/// Why a peer's frame was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PeerRefusal {
    #[error("raft message claims to be from member {claimed}")]
    WrongSender { claimed: u64 },
    #[error("raft message addressed to member {to}, not this one")]
    WrongReceiver { to: u64 },
    #[error("raft message of a kind only this member makes itself ({0:?})")]
    LocalKind(MessageType),
    #[error("heartbeat commits index {commit}, past this member's last entry {last}")]
    CommitPastLog { commit: u64, last: u64 },
    #[error("forwarded request names member {claimed} as its origin")]
    WrongOrigin { claimed: MemberId },
    #[error("reply names shard {shard}; this member has {shards}")]
    NoSuchShard { shard: ShardId, shards: usize },
}

/// A raft message from peer `from`, to member `me`, whose log ends at
/// `last_index`.
pub fn check_raft(
    from: MemberId,
    me: MemberId,
    last_index: u64,
    m: &Message,
) -> Result<(), PeerRefusal> {
    if m.from != from {
        return Err(PeerRefusal::WrongSender { claimed: m.from });
    }
    if m.to != me {
        return Err(PeerRefusal::WrongReceiver { to: m.to });
    }
    let kind = m.get_msg_type();
    if matches!(
        kind,
        MessageType::MsgHup
            | MessageType::MsgBeat
            | MessageType::MsgUnreachable
            | MessageType::MsgSnapStatus
            | MessageType::MsgCheckQuorum
    ) {
        return Err(PeerRefusal::LocalKind(kind));
    }
    // An honest leader sends min(the follower's match, its commit): never
    // past what the follower has. raft-rs would abort on it.
    if kind == MessageType::MsgHeartbeat && m.commit > last_index {
        return Err(PeerRefusal::CommitPastLog {
            commit: m.commit,
            last: last_index,
        });
    }
    Ok(())
}

/// A request forwarded by peer `from`: a member forwards only its own
/// clients' requests, so every origin it names is itself.
pub fn check_forward(from: MemberId, f: &Forward) -> Result<(), PeerRefusal> {
    let claimed = match f {
        Forward::Write { origin, .. } => origin.member,
        Forward::Connect { member, .. } | Forward::Disconnected { member, .. } => *member,
        Forward::Touch { .. } => return Ok(()),
    };
    if claimed != from {
        return Err(PeerRefusal::WrongOrigin { claimed });
    }
    Ok(())
}

/// A reply from the leader for one of this member's connections: its shard
/// must be one of this member's `shards`.
pub fn check_reply(shards: usize, r: &LeaderReply) -> Result<(), PeerRefusal> {
    let shard = match r {
        LeaderReply::Complete { origin, .. } => origin.shard,
        LeaderReply::ConnectResult { shard, .. } | LeaderReply::CloseConnection { shard, .. } => {
            *shard
        }
    };
    if shard >= shards {
        return Err(PeerRefusal::NoSuchShard { shard, shards });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(kind: MessageType, from: u64, to: u64) -> Message {
        let mut m = Message::default();
        m.set_msg_type(kind);
        m.from = from;
        m.to = to;
        m
    }

    #[test]
    fn raft_messages_must_name_their_link_and_stay_inside_the_log() {
        let ok = msg(MessageType::MsgAppend, 2, 1);
        assert_eq!(check_raft(2, 1, 10, &ok), Ok(()));
        assert_eq!(
            check_raft(3, 1, 10, &ok),
            Err(PeerRefusal::WrongSender { claimed: 2 })
        );
        assert_eq!(
            check_raft(2, 3, 10, &ok),
            Err(PeerRefusal::WrongReceiver { to: 1 })
        );
        let hup = msg(MessageType::MsgHup, 2, 1);
        assert_eq!(
            check_raft(2, 1, 10, &hup),
            Err(PeerRefusal::LocalKind(MessageType::MsgHup))
        );
        let mut hb = msg(MessageType::MsgHeartbeat, 2, 1);
        hb.commit = 10;
        assert_eq!(check_raft(2, 1, 10, &hb), Ok(()));
        hb.commit = 11;
        assert_eq!(
            check_raft(2, 1, 10, &hb),
            Err(PeerRefusal::CommitPastLog {
                commit: 11,
                last: 10
            })
        );
    }

    #[test]
    fn forwards_come_from_their_origin_and_replies_name_a_real_shard() {
        let touch = Forward::Touch { sessions: vec![1] };
        assert_eq!(check_forward(2, &touch), Ok(()));
        let close = LeaderReply::CloseConnection { shard: 1, conn: 5 };
        assert_eq!(check_reply(2, &close), Ok(()));
        assert_eq!(
            check_reply(1, &close),
            Err(PeerRefusal::NoSuchShard {
                shard: 1,
                shards: 1
            })
        );
        let connect = Forward::Disconnected {
            member: 3,
            shard: 0,
            conn: 1,
            session_id: 7,
        };
        assert_eq!(
            check_forward(2, &connect),
            Err(PeerRefusal::WrongOrigin { claimed: 3 })
        );
        assert_eq!(check_forward(3, &connect), Ok(()));
    }
}
