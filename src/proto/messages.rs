//! Decoded client requests and server responses (digest §3, §6, §13).
//!
//! These are the values that cross layers: the codec ([`crate::proto::codec`])
//! turns frames into [`Request`]s and [`Response`]s into frames; ops and the
//! network layer never see bytes. Paths are `String`s decoded lossily from the
//! wire's ustrings: invalid UTF-8 becomes U+FFFD, which path validation
//! rejects (BadArguments) and which no stored node can contain (NoNode), the
//! answers the digest asks for.

use super::types::*;

/// The first frame of a connection (no RequestHeader).
/// A plain value (cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectRequest {
    pub protocol_version: i32,
    pub last_zxid_seen: Zxid,
    pub timeout_ms: i32,
    pub session_id: SessionId,
    pub passwd: Vec<u8>,
    /// `None` when the client sent no trailing readOnly byte (legacy clients,
    /// go-zookeeper); the reply then omits it too.
    pub read_only: Option<bool>,
}

/// The first reply of a connection (no ReplyHeader).
/// A plain value (cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectResponse {
    pub protocol_version: i32,
    /// Negotiated timeout; 0 means the session is invalid or expired.
    pub timeout_ms: i32,
    pub session_id: SessionId,
    /// Always exactly 16 bytes on the wire (clients depend on it).
    pub passwd: [u8; 16],
    /// Present only if the request carried the byte.
    pub read_only: Option<bool>,
}

/// A request's xid and opcode. A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RequestHeader {
    pub xid: Xid,
    pub opcode: i32,
}

/// A reply's xid, zxid and error code. A plain value (copied freely); no executor owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplyHeader {
    pub xid: Xid,
    pub zxid: Zxid,
    pub err: i32,
}

/// create (1), create2 (15), createContainer (19), createTTL (21).
/// A plain value (cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CreateRequest {
    pub path: String,
    /// `None` is a null buffer, stored distinctly from empty data.
    pub data: Option<Vec<u8>>,
    /// `None` is a null vector (InvalidACL later, not a decode error).
    pub acl: Option<Vec<Acl>>,
    pub flags: i32,
    /// -1 for opcodes without a ttl field (1, 15, 19).
    pub ttl: i64,
}

/// SetWatches (101) and SetWatches2 (105); the v1 form has empty persistent lists.
/// A plain value (cloned freely); no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetWatches {
    pub relative_zxid: Zxid,
    pub data: Vec<String>,
    pub exist: Vec<String>,
    pub child: Vec<String>,
    pub persistent: Vec<String>,
    pub persistent_recursive: Vec<String>,
}

/// One write op inside a multi (14).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiOp {
    /// `opcode` is the sub-op type as sent (1, 15, 19 or 21): it decides the
    /// result type (1 gives a type-1 result, the others type 15).
    Create {
        opcode: OpCode,
        req: CreateRequest,
    },
    Delete {
        path: String,
        version: i32,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    Check {
        path: String,
        version: i32,
    },
}

/// One read op inside a multiRead (22).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiReadOp {
    GetChildren { path: String, watch: bool },
    GetData { path: String, watch: bool },
}

/// A decoded request (everything after the RequestHeader).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// Opcodes 1, 15, 19, 21; `opcode` says which.
    Create {
        opcode: OpCode,
        req: CreateRequest,
    },
    Delete {
        path: String,
        version: i32,
    },
    Exists {
        path: String,
        watch: bool,
    },
    GetData {
        path: String,
        watch: bool,
    },
    SetData {
        path: String,
        data: Option<Vec<u8>>,
        version: i32,
    },
    GetAcl {
        path: String,
    },
    SetAcl {
        path: String,
        acl: Option<Vec<Acl>>,
        version: i32,
    },
    GetChildren {
        path: String,
        watch: bool,
    },
    GetChildren2 {
        path: String,
        watch: bool,
    },
    Sync {
        path: String,
    },
    Ping,
    /// Top-level check: answered Unimplemented and close (3.9.3+ behaviour).
    Check {
        path: String,
        version: i32,
    },
    Multi(Vec<MultiOp>),
    MultiRead(Vec<MultiReadOp>),
    Reconfig {
        joining: Option<String>,
        leaving: Option<String>,
        new_members: Option<String>,
        cur_config_id: i64,
    },
    /// `watcher_type` is the raw int: invalid values are MarshallingError at execution.
    CheckWatches {
        path: String,
        watcher_type: i32,
    },
    RemoveWatches {
        path: String,
        watcher_type: i32,
    },
    DeleteContainer {
        path: String,
    },
    Auth {
        auth_type: i32,
        scheme: String,
        auth: Vec<u8>,
    },
    /// `v2` is true for opcode 105.
    SetWatches {
        v2: bool,
        watches: SetWatches,
    },
    Sasl {
        token: Vec<u8>,
    },
    /// `None` (null) prefix means all ephemerals.
    GetEphemerals {
        prefix: Option<String>,
    },
    GetAllChildrenNumber {
        path: String,
    },
    /// `mode` is the raw int: invalid values are MarshallingError at execution.
    AddWatch {
        path: String,
        mode: i32,
    },
    WhoAmI,
    CloseSession,
}

impl Request {
    /// True for requests that read replicated state: under
    /// `roost.readConsistency=linearizable` each waits for a read barrier.
    /// (Watch management, auth, ping and whoAmI read no znode state.)
    pub fn is_read(&self) -> bool {
        matches!(
            self,
            Request::GetData { .. }
                | Request::Exists { .. }
                | Request::GetChildren { .. }
                | Request::GetChildren2 { .. }
                | Request::GetAllChildrenNumber { .. }
                | Request::GetAcl { .. }
                | Request::GetEphemerals { .. }
                | Request::MultiRead(_)
        )
    }

    /// True for requests that change replicated state and so go through the
    /// consensus core (prep -> log -> apply -> commit stream).
    pub fn is_write(&self) -> bool {
        matches!(
            self,
            Request::Create { .. }
                | Request::Delete { .. }
                | Request::SetData { .. }
                | Request::SetAcl { .. }
                | Request::Multi(_)
                | Request::Reconfig { .. }
                | Request::DeleteContainer { .. }
                | Request::CloseSession
        )
    }
}

/// One result inside a multi / multiRead reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MultiResult {
    /// Result type 1.
    Create {
        path: String,
    },
    /// Result type 15 (create2, container, TTL, and create with flags 4).
    Create2 {
        path: String,
        stat: Stat,
    },
    Delete,
    SetData {
        stat: Stat,
    },
    Check,
    GetChildren {
        children: Vec<String>,
    },
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    /// Result type -1 with ErrorResponse{err}.
    Error(ErrorCode),
}

/// A success response body (the ReplyHeader carries err = 0). Error replies
/// have no body and are represented by the error code alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// No body at all (delete, setWatches, ping, close, auth, checkWatches, ...).
    Empty,
    Create {
        path: String,
    },
    Create2 {
        path: String,
        stat: Stat,
    },
    Stat(Stat),
    GetData {
        data: Option<Vec<u8>>,
        stat: Stat,
    },
    GetAcl {
        acl: Vec<Acl>,
        stat: Stat,
    },
    GetChildren {
        children: Vec<String>,
    },
    GetChildren2 {
        children: Vec<String>,
        stat: Stat,
    },
    Sync {
        path: String,
    },
    Multi(Vec<MultiResult>),
    GetAllChildrenNumber(i32),
    GetEphemerals(Vec<String>),
    WhoAmI(Vec<ClientInfo>),
    Sasl {
        token: Option<Vec<u8>>,
    },
    /// addWatch's 4-byte zero body (ErrorResponse{err=0}).
    ErrorBody(i32),
}

/// A watch notification body (WatcherEvent), sent with xid -1.
/// A plain value (cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WatcherEvent {
    pub event_type: EventType,
    pub state: i32,
    pub path: String,
}
