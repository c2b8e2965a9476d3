//! zkCli.sh's commands: argument parsing (commons-cli style flags anywhere
//! on the line), the requests each one sends, and the text each one prints.
//! Output is collected in an [`Output`] so that one-shot and interactive
//! mode print it the same way and tests can read it.

use std::collections::{HashMap, HashSet};

use crate::proto::{
    Acl, CreateRequest, ErrorCode, MultiOp, MultiResult, OpCode, Request, Response,
};

use super::client::{parse_hosts, CallError, Client, ConnectError};
use super::format;

/// The usage lines zkCli prints, in its (alphabetical) order.
pub const COMMANDS: &[(&str, &str)] = &[
    ("addWatch", "addWatch [-m mode] path # optional mode is one of [PERSISTENT, PERSISTENT_RECURSIVE] - default is PERSISTENT_RECURSIVE"),
    ("addauth", "addauth scheme auth"),
    ("close", "close "),
    ("config", "config [-c] [-w] [-s]"),
    ("connect", "connect host:port"),
    ("create", "create [-s] [-e] [-c] [-t ttl] path [data] [acl]"),
    ("delete", "delete [-v version] path"),
    ("deleteall", "deleteall path [-b batch size]"),
    ("get", "get [-s] [-w] path"),
    ("getAcl", "getAcl [-s] path"),
    ("getAllChildrenNumber", "getAllChildrenNumber path"),
    ("getEphemerals", "getEphemerals path"),
    ("history", "history "),
    ("ls", "ls [-s] [-w] [-R] path"),
    ("printwatches", "printwatches on|off"),
    ("quit", "quit "),
    ("redo", "redo cmdno"),
    ("removewatches", "removewatches path [-c|-d|-a] [-l]"),
    ("set", "set [-s] [-v version] path data"),
    ("setAcl", "setAcl [-s] [-v version] [-R] path acl"),
    ("stat", "stat [-w] path"),
    ("sync", "sync path"),
    ("version", "version "),
    ("whoami", "whoami "),
];

/// zkCli's full usage text (printed for unknown commands and `help`).
pub fn usage_text() -> String {
    let mut s = String::from(
        "ZooKeeper -server host:port -client-configuration properties-file cmd args\n",
    );
    for (_, u) in COMMANDS {
        s.push('\t');
        s.push_str(u);
        s.push('\n');
    }
    s
}

fn usage_of(cmd: &str) -> String {
    COMMANDS
        .iter()
        .find(|(n, _)| *n == cmd)
        .map(|(_, u)| u.to_string())
        .unwrap_or_default()
}

/// What a command printed: `out` goes to stdout, `err` to stderr (zkCli
/// prints some success messages, like `Created /x`, on stderr).
#[derive(Default, Debug)]
pub struct Output {
    pub out: String,
    pub err: String,
}

/// Whether the shell goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// A failed command; the message is what zkCli prints on stderr.
#[derive(thiserror::Error, Debug, PartialEq, Eq)]
pub enum CmdError {
    /// Wrong arguments: the message is the command's usage line or a
    /// specific complaint.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed (server error, bad path, not connected).
    #[error("{0}")]
    Failed(String),
    #[error("Command not found: Command not found {0}")]
    Unknown(String),
}

impl CmdError {
    /// zkCli's exit status in one-shot mode: 127 for an unknown command, 1
    /// for every other failure.
    pub fn exit_code(&self) -> i32 {
        match self {
            CmdError::Unknown(_) => 127,
            _ => 1,
        }
    }
}

/// Splits a command line as zkCli does: whitespace-separated words, where
/// a word in single or double quotes may contain spaces (quotes dropped).
pub fn tokenize(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let Some(&c) = chars.peek() else {
            break;
        };
        let mut word = String::new();
        if c == '"' || c == '\'' {
            chars.next();
            for d in chars.by_ref() {
                if d == c {
                    break;
                }
                word.push(d);
            }
        } else {
            while let Some(&d) = chars.peek() {
                if d.is_whitespace() {
                    break;
                }
                word.push(d);
                chars.next();
            }
        }
        out.push(word);
    }
    out
}

/// Flags and positional arguments of one command line.
struct Parsed {
    flags: HashSet<&'static str>,
    values: HashMap<&'static str, String>,
    /// Positional words, the command name first (zkCli's `args[0]`).
    args: Vec<String>,
}

impl Parsed {
    fn has(&self, f: &str) -> bool {
        self.flags.contains(f)
    }
}

/// Parses `words` against boolean flags `bools` and flags with a value
/// `valued`. Like commons-cli, flags may come anywhere, a word such as
/// `-1` is a (negative number) argument, and any other unknown `-x` is an
/// error.
fn parse(
    cmd: &str,
    words: &[String],
    bools: &[&'static str],
    valued: &[&'static str],
) -> Result<Parsed, CmdError> {
    let mut p = Parsed {
        flags: HashSet::new(),
        values: HashMap::new(),
        args: Vec::new(),
    };
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        let name = w.strip_prefix('-').filter(|n| !n.is_empty());
        match name {
            Some(n) if n.parse::<f64>().is_ok() => p.args.push(w.clone()),
            Some(n) => {
                if let Some(f) = bools.iter().find(|f| **f == n) {
                    p.flags.insert(f);
                } else if let Some(f) = valued.iter().find(|f| **f == n) {
                    let Some(v) = words.get(i + 1) else {
                        return Err(CmdError::Usage(format!(
                            "Missing argument for option: {n}\n{}",
                            usage_of(cmd)
                        )));
                    };
                    p.values.insert(f, v.clone());
                    i += 1;
                } else {
                    return Err(CmdError::Usage(format!(
                        "Unrecognized option: {w}\n{}",
                        usage_of(cmd)
                    )));
                }
            }
            None => p.args.push(w.clone()),
        }
        i += 1;
    }
    Ok(p)
}

/// Java's `PathUtils.validatePath`, which the Java client runs before
/// sending any request, so bad paths fail with the same words as in zkCli.
pub fn validate_path(path: &str, sequential: bool) -> Result<(), CmdError> {
    let bad = |m: String| Err(CmdError::Failed(m));
    if path.is_empty() {
        return bad("Path length must be > 0".into());
    }
    if !path.starts_with('/') {
        return bad("Path must start with / character".into());
    }
    if path.len() == 1 {
        return Ok(());
    }
    // A sequential create gets a suffix, so a trailing '/' is allowed there.
    if path.ends_with('/') && !sequential {
        return bad("Path must not end with / character".into());
    }
    let chars: Vec<char> = path.chars().collect();
    let mut reason = None;
    for i in 1..chars.len() {
        let c = chars[i];
        let last = chars[i - 1];
        let at_end_or_slash = i + 1 == chars.len() || chars[i + 1] == '/';
        if c == '\0' {
            reason = Some(format!("null character not allowed @{i}"));
        } else if c == '/' && last == '/' {
            reason = Some(format!("empty node name specified @{i}"));
        } else if c == '.' && last == '.' {
            if i >= 2 && chars[i - 2] == '/' && at_end_or_slash {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if c == '.' {
            if last == '/' && at_end_or_slash {
                reason = Some(format!("relative paths not allowed @{i}"));
            }
        } else if ('\u{1}'..='\u{1f}').contains(&c)
            || ('\u{7f}'..='\u{9f}').contains(&c)
            || ('\u{e000}'..='\u{f8ff}').contains(&c)
            || ('\u{fff0}'..='\u{ffff}').contains(&c)
        {
            reason = Some(format!("invalid character @{i}"));
        }
        if reason.is_some() {
            break;
        }
    }
    match reason {
        Some(r) => bad(format!("Invalid path string \"{path}\" caused by {r}")),
        None => Ok(()),
    }
}

/// The interactive and one-shot shell around one [`Client`].
/// Used by the offline `roost cli` command on the main thread; no executor.
pub struct Shell {
    pub client: Client,
    /// The connect string as typed, shown in the prompt.
    pub connect_string: String,
    /// Executed lines, numbered from 0 as zkCli's `history` shows them.
    pub history: Vec<String>,
    pub print_watches: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

fn keeper(e: CallError, path: &str) -> CmdError {
    match e {
        CallError::NotConnected => CmdError::Failed("Not connected".into()),
        CallError::Protocol(m) => CmdError::Failed(format!("protocol error: {m}")),
        other => CmdError::Failed(format::keeper_error(other.code(), Some(path))),
    }
}

fn need(p: &Parsed, n: usize, cmd: &str) -> Result<(), CmdError> {
    if p.args.len() < n {
        return Err(CmdError::Usage(usage_of(cmd)));
    }
    Ok(())
}

fn parse_version(p: &Parsed) -> Result<i32, CmdError> {
    match p.values.get("v") {
        None => Ok(-1),
        Some(v) => v
            .parse()
            .map_err(|_| CmdError::Usage(format!("version must be an integer: {v}"))),
    }
}

fn lossy(data: Option<&[u8]>) -> String {
    match data {
        None => "null".into(),
        Some(d) => String::from_utf8_lossy(d).into_owned(),
    }
}

fn list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

fn child_path(parent: &str, child: &str) -> String {
    if parent == "/" {
        format!("/{child}")
    } else {
        format!("{parent}/{child}")
    }
}

/// Unexpected reply shapes are errors, never panics.
fn unexpected(r: Response) -> CmdError {
    CmdError::Failed(format!("unexpected reply from the server: {r:?}"))
}

impl Shell {
    /// Runs one already tokenized command line.
    pub fn execute(&mut self, words: &[String], out: &mut Output) -> Result<Flow, CmdError> {
        let Some(cmd) = words.first() else {
            return Ok(Flow::Continue);
        };
        let rest = &words[1..];
        let c = self.client_ref();
        match cmd.as_str() {
            "ls" => self.ls(&parse("ls", words, &["s", "w", "R"], &[])?, out),
            "get" => {
                let p = parse("get", words, &["s", "w"], &[])?;
                need(&p, 2, "get")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                let req = Request::GetData {
                    path: path.clone(),
                    watch: p.has("w"),
                };
                match c.call(req).map_err(|e| keeper(e, path))? {
                    Response::GetData { data, stat } => {
                        out.out.push_str(&lossy(data.as_deref()));
                        out.out.push('\n');
                        if p.has("s") {
                            out.out.push_str(&format::stat(&stat));
                        }
                        Ok(Flow::Continue)
                    }
                    r => Err(unexpected(r)),
                }
            }
            "set" => {
                let p = parse("set", words, &["s"], &["v"])?;
                need(&p, 3, "set")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                let req = Request::SetData {
                    path: path.clone(),
                    data: Some(p.args[2].as_bytes().to_vec()),
                    version: parse_version(&p)?,
                };
                match c.call(req).map_err(|e| keeper(e, path))? {
                    Response::Stat(stat) => {
                        if p.has("s") {
                            out.out.push_str(&format::stat(&stat));
                        }
                        Ok(Flow::Continue)
                    }
                    r => Err(unexpected(r)),
                }
            }
            "create" => self.create(&parse("create", words, &["s", "e", "c"], &["t"])?, out),
            "delete" => {
                let p = parse("delete", words, &[], &["v"])?;
                need(&p, 2, "delete")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                let req = Request::Delete {
                    path: path.clone(),
                    version: parse_version(&p)?,
                };
                c.call(req).map_err(|e| keeper(e, path))?;
                Ok(Flow::Continue)
            }
            "deleteall" => self.delete_all(&parse("deleteall", words, &[], &["b"])?, out),
            "stat" => {
                let p = parse("stat", words, &["w"], &[])?;
                need(&p, 2, "stat")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                let req = Request::Exists {
                    path: path.clone(),
                    watch: p.has("w"),
                };
                match c.call(req).map_err(|e| keeper(e, path))? {
                    Response::Stat(stat) => {
                        out.out.push_str(&format::stat(&stat));
                        Ok(Flow::Continue)
                    }
                    r => Err(unexpected(r)),
                }
            }
            "addWatch" => {
                let p = parse("addWatch", words, &[], &["m"])?;
                need(&p, 2, "addWatch")?;
                let mode = match p.values.get("m").map(String::as_str) {
                    None | Some("PERSISTENT_RECURSIVE") => 1,
                    Some("PERSISTENT") => 0,
                    Some(_) => return Err(CmdError::Usage(usage_of("addWatch"))),
                };
                let path = &p.args[1];
                validate_path(path, false)?;
                c.call(Request::AddWatch {
                    path: path.clone(),
                    mode,
                })
                .map_err(|e| keeper(e, path))?;
                Ok(Flow::Continue)
            }
            "removewatches" => {
                let p = parse("removewatches", words, &["c", "d", "a", "l"], &[])?;
                need(&p, 2, "removewatches")?;
                let kind = if p.has("c") {
                    1
                } else if p.has("d") {
                    2
                } else {
                    3
                };
                let path = &p.args[1];
                validate_path(path, false)?;
                let req = Request::RemoveWatches {
                    path: path.clone(),
                    watcher_type: kind,
                };
                match c.call(req) {
                    Ok(_) => Ok(Flow::Continue),
                    // -l: remove locally even when the server cannot be told.
                    Err(CallError::ConnectionLoss | CallError::NotConnected) if p.has("l") => {
                        c.remove_local_watches(path, kind);
                        Ok(Flow::Continue)
                    }
                    Err(e) => Err(keeper(e, path)),
                }
            }
            "sync" => {
                let p = parse("sync", words, &[], &[])?;
                need(&p, 2, "sync")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                match c.call(Request::Sync { path: path.clone() }) {
                    Ok(_) => out.out.push_str("Sync is OK\n"),
                    Err(CallError::NotConnected) => {
                        return Err(keeper(CallError::NotConnected, path))
                    }
                    Err(e) => {
                        return Err(CmdError::Failed(format!(
                            "Sync has failed. rc={}",
                            e.code()
                        )))
                    }
                }
                Ok(Flow::Continue)
            }
            "getAcl" => {
                let p = parse("getAcl", words, &["s"], &[])?;
                need(&p, 2, "getAcl")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                match c
                    .call(Request::GetAcl { path: path.clone() })
                    .map_err(|e| keeper(e, path))?
                {
                    Response::GetAcl { acl, stat } => {
                        out.out.push_str(&format::acl_list(&acl));
                        if p.has("s") {
                            out.out.push_str(&format::stat(&stat));
                        }
                        Ok(Flow::Continue)
                    }
                    r => Err(unexpected(r)),
                }
            }
            "setAcl" => self.set_acl(&parse("setAcl", words, &["s", "R"], &["v"])?, out),
            "addauth" => {
                let p = parse("addauth", words, &[], &[])?;
                need(&p, 2, "addauth")?;
                let auth = p
                    .args
                    .get(2)
                    .map(|a| a.as_bytes().to_vec())
                    .unwrap_or_default();
                c.add_auth(&p.args[1], auth).map_err(|e| match e {
                    CallError::NotConnected => CmdError::Failed("Not connected".into()),
                    e => CmdError::Failed(format::keeper_error(e.code(), None)),
                })?;
                Ok(Flow::Continue)
            }
            "whoami" => match c.call(Request::WhoAmI).map_err(|e| keeper(e, "/"))? {
                Response::WhoAmI(infos) => {
                    out.out.push_str("Auth scheme: User\n");
                    for i in infos {
                        out.out
                            .push_str(&format!("{}: {}\n", i.auth_scheme, i.user));
                    }
                    Ok(Flow::Continue)
                }
                r => Err(unexpected(r)),
            },
            "getEphemerals" => {
                let p = parse("getEphemerals", words, &[], &[])?;
                let prefix = p.args.get(1).cloned();
                if let Some(pre) = &prefix {
                    validate_path(pre, false)?;
                }
                let shown = prefix.clone().unwrap_or_else(|| "/".into());
                match c
                    .call(Request::GetEphemerals { prefix })
                    .map_err(|e| keeper(e, &shown))?
                {
                    Response::GetEphemerals(mut paths) => {
                        // The server's order is a hash order; sorted reads better.
                        paths.sort();
                        out.out.push_str(&list(&paths));
                        out.out.push('\n');
                        Ok(Flow::Continue)
                    }
                    r => Err(unexpected(r)),
                }
            }
            "getAllChildrenNumber" => {
                let p = parse("getAllChildrenNumber", words, &[], &[])?;
                need(&p, 2, "getAllChildrenNumber")?;
                let path = &p.args[1];
                validate_path(path, false)?;
                match c
                    .call(Request::GetAllChildrenNumber { path: path.clone() })
                    .map_err(|e| keeper(e, path))?
                {
                    Response::GetAllChildrenNumber(n) => {
                        out.out.push_str(&format!("{n}\n"));
                        Ok(Flow::Continue)
                    }
                    r => Err(unexpected(r)),
                }
            }
            "config" => self.config(&parse("config", words, &["c", "w", "s"], &[])?, out),
            "history" => {
                // zkCli shows the last ten entries and the current one.
                let n = self.history.len();
                for (i, line) in self.history.iter().enumerate().skip(n.saturating_sub(11)) {
                    out.out.push_str(&format!("{i} - {line}\n"));
                }
                Ok(Flow::Continue)
            }
            "redo" => {
                let n: usize = rest
                    .first()
                    .and_then(|a| a.parse().ok())
                    .ok_or_else(|| CmdError::Usage(usage_of("redo")))?;
                // The current `redo` line is the last entry; it may not redo itself.
                let line = self
                    .history
                    .get(n)
                    .filter(|_| n + 1 < self.history.len())
                    .cloned()
                    .ok_or_else(|| CmdError::Failed("Command index out of range".into()))?;
                // zkCli records the redone command, not `redo N`.
                if let Some(last) = self.history.last_mut() {
                    *last = line.clone();
                }
                let words = tokenize(&line);
                self.execute(&words, out)
            }
            "printwatches" => {
                use std::sync::atomic::Ordering;
                match rest.first().map(String::as_str) {
                    None => out.out.push_str(&format!(
                        "printwatches is {}\n",
                        if self.print_watches.load(Ordering::SeqCst) {
                            "on"
                        } else {
                            "off"
                        }
                    )),
                    Some("on") => self.print_watches.store(true, Ordering::SeqCst),
                    Some(_) => self.print_watches.store(false, Ordering::SeqCst),
                }
                Ok(Flow::Continue)
            }
            "close" => {
                c.close();
                Ok(Flow::Continue)
            }
            "connect" => {
                if let Some(hosts) = rest.first() {
                    self.connect_string = hosts.clone();
                }
                let hosts = parse_hosts(&self.connect_string);
                self.client.reconnect_to(hosts).map_err(|e| match e {
                    ConnectError::Expired => CmdError::Failed("Session expired".into()),
                    ConnectError::Failed(m) => CmdError::Failed(format!("Unable to connect: {m}")),
                })?;
                Ok(Flow::Continue)
            }
            "quit" => {
                c.close_quietly();
                Ok(Flow::Quit)
            }
            "version" => {
                out.out.push_str(&format!(
                    "ZooKeeper CLI version: roost {}\n",
                    env!("CARGO_PKG_VERSION")
                ));
                Ok(Flow::Continue)
            }
            "help" => {
                out.err.push_str(&usage_text());
                Ok(Flow::Continue)
            }
            other => {
                out.err.push_str(&usage_text());
                Err(CmdError::Unknown(other.to_owned()))
            }
        }
    }

    fn client_ref(&self) -> &Client {
        &self.client
    }

    fn ls(&self, p: &Parsed, out: &mut Output) -> Result<Flow, CmdError> {
        need(p, 2, "ls")?;
        let path = &p.args[1];
        validate_path(path, false)?;
        let c = &self.client;
        if p.has("R") {
            // Depth first, parent before children, as ZKUtil.visitSubTreeDFS.
            let mut stack = vec![path.clone()];
            let mut first = true;
            while let Some(node) = stack.pop() {
                let req = Request::GetChildren {
                    path: node.clone(),
                    watch: p.has("w"),
                };
                let mut children = match c.call(req) {
                    Ok(Response::GetChildren { children }) => children,
                    Ok(r) => return Err(unexpected(r)),
                    // A node deleted under our feet is skipped; the root missing is an error.
                    Err(CallError::Server(code)) if code == ErrorCode::NoNode as i32 && !first => {
                        continue
                    }
                    Err(e) => return Err(keeper(e, &node)),
                };
                first = false;
                out.out.push_str(&node);
                out.out.push('\n');
                children.sort();
                for child in children.iter().rev() {
                    stack.push(child_path(&node, child));
                }
            }
            return Ok(Flow::Continue);
        }
        let watch = p.has("w");
        if p.has("s") {
            let req = Request::GetChildren2 {
                path: path.clone(),
                watch,
            };
            match c.call(req).map_err(|e| keeper(e, path))? {
                Response::GetChildren2 { mut children, stat } => {
                    children.sort();
                    out.out.push_str(&list(&children));
                    out.out.push('\n');
                    out.out.push_str(&format::stat(&stat));
                }
                r => return Err(unexpected(r)),
            }
        } else {
            let req = Request::GetChildren {
                path: path.clone(),
                watch,
            };
            match c.call(req).map_err(|e| keeper(e, path))? {
                Response::GetChildren { mut children } => {
                    children.sort();
                    out.out.push_str(&list(&children));
                    out.out.push('\n');
                }
                r => return Err(unexpected(r)),
            }
        }
        Ok(Flow::Continue)
    }

    fn create(&self, p: &Parsed, out: &mut Output) -> Result<Flow, CmdError> {
        let (e, s, c, t) = (p.has("e"), p.has("s"), p.has("c"), p.values.get("t"));
        if c && (e || s) {
            return Err(CmdError::Usage(
                "-c cannot be combined with -s or -e. Containers cannot be ephemeral or sequential."
                    .into(),
            ));
        }
        let ttl: i64 = match t {
            None => -1,
            Some(v) => v
                .parse()
                .map_err(|_| CmdError::Usage("-t argument must be a long value".into()))?,
        };
        if t.is_some() && e {
            return Err(CmdError::Usage(
                "TTLs cannot be used with Ephemeral znodes".into(),
            ));
        }
        if t.is_some() && c {
            return Err(CmdError::Usage(
                "TTLs cannot be used with Container znodes".into(),
            ));
        }
        const TTL_MAX: i64 = 0xFF_FFFF_FFFF;
        if t.is_some() && !(1..=TTL_MAX).contains(&ttl) {
            return Err(CmdError::Usage(format!(
                "ttl must be positive and cannot be larger than: {TTL_MAX}"
            )));
        }
        need(p, 2, "create")?;
        // CreateMode flags (digest §9.1).
        let flags = match (e, s, c, t.is_some()) {
            (true, true, _, _) => 3,
            (true, false, _, _) => 1,
            (false, true, _, true) => 6,
            (false, true, _, false) => 2,
            (false, false, true, _) => 4,
            (false, false, false, true) => 5,
            (false, false, false, false) => 0,
        };
        let path = &p.args[1];
        validate_path(path, s)?;
        // The Java client sends containers as createContainer and TTL nodes
        // as createTTL; everything else as a plain create.
        let opcode = if c {
            OpCode::CreateContainer
        } else if t.is_some() {
            OpCode::CreateTtl
        } else {
            OpCode::Create
        };
        let acl = match p.args.get(3) {
            Some(text) => format::parse_acl(text).map_err(|e| CmdError::Failed(e.to_string()))?,
            None => Acl::open_unsafe(),
        };
        let req = Request::Create {
            opcode,
            req: CreateRequest {
                path: path.clone(),
                // No data argument means null data, as in zkCli (`get` shows "null").
                data: p.args.get(2).map(|d| d.as_bytes().to_vec()),
                acl: Some(acl),
                flags,
                ttl,
            },
        };
        match self.client.call(req).map_err(|e| keeper(e, path))? {
            Response::Create { path: created } | Response::Create2 { path: created, .. } => {
                out.err.push_str(&format!("Created {created}\n"));
                Ok(Flow::Continue)
            }
            r => Err(unexpected(r)),
        }
    }

    /// Every path under `root` (root first, breadth first), as ZKUtil.listSubTreeBFS.
    fn subtree_bfs(&self, root: &str) -> Result<Vec<String>, CmdError> {
        let mut all = vec![root.to_owned()];
        let mut i = 0;
        while i < all.len() {
            let node = all[i].clone();
            let req = Request::GetChildren {
                path: node.clone(),
                watch: false,
            };
            match self.client.call(req) {
                Ok(Response::GetChildren { mut children }) => {
                    children.sort();
                    all.extend(children.iter().map(|ch| child_path(&node, ch)));
                }
                Ok(r) => return Err(unexpected(r)),
                Err(CallError::Server(code)) if code == ErrorCode::NoNode as i32 && i > 0 => {}
                Err(e) => return Err(keeper(e, &node)),
            }
            i += 1;
        }
        Ok(all)
    }

    fn delete_all(&self, p: &Parsed, out: &mut Output) -> Result<Flow, CmdError> {
        need(p, 2, "deleteall")?;
        let path = &p.args[1];
        validate_path(path, false)?;
        let batch: usize = match p.values.get("b") {
            None => 1000,
            Some(b) => b
                .parse()
                .ok()
                .filter(|&b| b > 0)
                .ok_or_else(|| CmdError::Usage(usage_of("deleteall")))?,
        };
        let mut nodes = self.subtree_bfs(path)?;
        // Deepest first, so that every node is empty when its turn comes.
        nodes.reverse();
        let mut all_ok = true;
        for chunk in nodes.chunks(batch) {
            let ops = chunk
                .iter()
                .map(|n| MultiOp::Delete {
                    path: n.clone(),
                    version: -1,
                })
                .collect();
            let batch_ok = match self.client.call(Request::Multi(ops)) {
                Ok(Response::Multi(results)) => {
                    !results.iter().any(|r| matches!(r, MultiResult::Error(_)))
                }
                Ok(r) => return Err(unexpected(r)),
                Err(CallError::Server(_)) => false,
                Err(e) => return Err(keeper(e, path)),
            };
            if !batch_ok {
                // Someone changed the tree meanwhile: go one by one, and let
                // nodes that are already gone count as deleted.
                for n in chunk {
                    let req = Request::Delete {
                        path: n.clone(),
                        version: -1,
                    };
                    match self.client.call(req) {
                        Ok(_) => {}
                        Err(CallError::Server(code)) if code == ErrorCode::NoNode as i32 => {}
                        Err(CallError::Server(_)) => all_ok = false,
                        Err(e) => return Err(keeper(e, n)),
                    }
                }
            }
        }
        if !all_ok {
            out.err
                .push_str("Failed to delete some node(s) in the subtree!\n");
            return Err(CmdError::Failed(format!(
                "deleteall {path}: some nodes were not deleted"
            )));
        }
        Ok(Flow::Continue)
    }

    fn set_acl(&self, p: &Parsed, out: &mut Output) -> Result<Flow, CmdError> {
        need(p, 3, "setAcl")?;
        let path = &p.args[1];
        validate_path(path, false)?;
        let acl = format::parse_acl(&p.args[2]).map_err(|e| CmdError::Failed(e.to_string()))?;
        let version = parse_version(p)?;
        let targets = if p.has("R") {
            self.subtree_bfs(path)?
        } else {
            vec![path.clone()]
        };
        for target in &targets {
            let req = Request::SetAcl {
                path: target.clone(),
                acl: Some(acl.clone()),
                version,
            };
            match self.client.call(req).map_err(|e| keeper(e, target))? {
                Response::Stat(stat) => {
                    if p.has("s") && !p.has("R") {
                        out.out.push_str(&format::stat(&stat));
                    }
                }
                r => return Err(unexpected(r)),
            }
        }
        Ok(Flow::Continue)
    }

    fn config(&self, p: &Parsed, out: &mut Output) -> Result<Flow, CmdError> {
        const CONFIG: &str = "/zookeeper/config";
        let req = Request::GetData {
            path: CONFIG.into(),
            watch: p.has("w"),
        };
        match self.client.call(req).map_err(|e| keeper(e, CONFIG))? {
            Response::GetData { data, stat } => {
                let text = lossy(data.as_deref());
                if p.has("c") {
                    out.out.push_str(&client_config(&text));
                } else {
                    out.out.push_str(&text);
                }
                out.out.push('\n');
                if p.has("s") {
                    out.out.push_str(&format::stat(&stat));
                }
                Ok(Flow::Continue)
            }
            r => Err(unexpected(r)),
        }
    }
}

/// `config -c`: `ConfigUtils.getClientConfigStr`, the config version and
/// the client addresses (`server.N=...;host:port`) as a connect string.
fn client_config(cfg: &str) -> String {
    let mut version = String::new();
    let mut addrs = Vec::new();
    for line in cfg.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        if k.trim() == "version" {
            version = v.trim().to_owned();
        } else if k.trim().starts_with("server.") {
            if let Some((_, client)) = v.rsplit_once(';') {
                let client = client.trim();
                // 0.0.0.0 means "every interface": clients use the host part
                // of the server address instead, as Java does.
                let host = v.split(':').next().unwrap_or("");
                match client.strip_prefix("0.0.0.0:") {
                    Some(port) => addrs.push(format!("{host}:{port}")),
                    None => addrs.push(client.to_owned()),
                }
            }
        }
    }
    format!("{version} {}", addrs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokenize_handles_quotes() {
        assert_eq!(
            tokenize(r#"  create /a "hello world" 'x y'  z"#),
            vec!["create", "/a", "hello world", "x y", "z"]
        );
        assert!(tokenize("   ").is_empty());
    }

    #[test]
    fn flags_anywhere_and_negative_numbers() {
        let w = tokenize("removewatches /b -d");
        let p = parse("removewatches", &w, &["c", "d", "a", "l"], &[]).unwrap();
        assert!(p.has("d"));
        assert_eq!(p.args, vec!["removewatches", "/b"]);
        let w = tokenize("set -v 3 /a -1");
        let p = parse("set", &w, &["s"], &["v"]).unwrap();
        assert_eq!(p.values["v"], "3");
        assert_eq!(p.args, vec!["set", "/a", "-1"]);
        let w = tokenize("get -x /a");
        assert!(matches!(
            parse("get", &w, &["s"], &[]),
            Err(CmdError::Usage(_))
        ));
    }

    #[test]
    fn path_validation_matches_java() {
        assert!(validate_path("/", false).is_ok());
        assert!(validate_path("/a/b", false).is_ok());
        assert_eq!(
            validate_path("/q/", false),
            Err(CmdError::Failed(
                "Path must not end with / character".into()
            ))
        );
        assert!(validate_path("/q/", true).is_ok());
        assert_eq!(
            validate_path("a", false),
            Err(CmdError::Failed("Path must start with / character".into()))
        );
        assert_eq!(
            validate_path("/a//b", false),
            Err(CmdError::Failed(
                "Invalid path string \"/a//b\" caused by empty node name specified @3".into()
            ))
        );
        assert!(validate_path("/a/..", false).is_err());
        assert!(validate_path("/a/..b", false).is_ok());
    }

    #[test]
    fn client_config_string() {
        let cfg = "server.1=10.0.0.1:2888:3888:participant;0.0.0.0:2181\nserver.2=h2:2888:3888:participant;h2:2182\nversion=100000000";
        assert_eq!(client_config(cfg), "100000000 10.0.0.1:2181,h2:2182");
    }
}
