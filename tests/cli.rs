//! `roost cli` driven as users drive zkCli.sh: one-shot (`roost cli -server
//! H:P cmd args`, checking stdout, stderr and the exit status) and the
//! interactive shell fed through a pipe (addauth + whoami in one session,
//! watch events arriving while the shell waits for input, history). The
//! terminal side (line editing, prompt) is covered by tests/cli-tmux.sh.

mod common;

use common::Server;
use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on any single cli process: a hang is a failure, not a stuck CI.
const CLI_TIMEOUT: Duration = Duration::from_secs(30);

struct Run {
    code: i32,
    out: String,
    err: String,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.out, self.err
        )
    }
}

fn cli_at(addr: &str, args: &[&str]) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["cli", "-server", addr])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start roost cli");
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out_pipe.read_to_string(&mut s);
        s
    });
    let err_t = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err_pipe.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + CLI_TIMEOUT;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("roost cli {args:?} did not finish in {CLI_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Run {
        code: status.code().unwrap_or(-1),
        out: out_t.join().unwrap(),
        err: err_t.join().unwrap(),
    }
}

fn cli(server: &Server, args: &[&str]) -> Run {
    cli_at(&server.connect_string(), args)
}

/// Runs a command that must succeed.
fn ok(server: &Server, args: &[&str]) -> Run {
    let r = cli(server, args);
    assert_eq!(r.code, 0, "roost cli {args:?} failed: {r:?}");
    r
}

/// Runs a command that must fail with `code` and `msg` on stderr.
fn fails(server: &Server, args: &[&str], code: i32, msg: &str) -> Run {
    let r = cli(server, args);
    assert_eq!(r.code, code, "roost cli {args:?}: {r:?}");
    assert!(
        r.err.contains(msg),
        "roost cli {args:?}: stderr lacks {msg:?}: {r:?}"
    );
    r
}

fn stat_field<'a>(text: &'a str, name: &str) -> &'a str {
    let prefix = format!("{name} = ");
    text.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .unwrap_or_else(|| panic!("no {name} in {text:?}"))
}

#[test]
fn create_get_set_stat() {
    let s = Server::start("");
    let r = ok(&s, &["create", "/x", "hello"]);
    assert_eq!(r.err, "Created /x\n");
    assert_eq!(r.out, "");
    fails(&s, &["create", "/x", "again"], 1, "Node already exists: /x");

    assert_eq!(ok(&s, &["get", "/x"]).out, "hello\n");
    let r = ok(&s, &["get", "-s", "/x"]);
    assert!(r.out.starts_with("hello\ncZxid = 0x"), "{r:?}");
    assert_eq!(stat_field(&r.out, "dataVersion"), "0");
    assert_eq!(stat_field(&r.out, "dataLength"), "5");
    assert_eq!(stat_field(&r.out, "ephemeralOwner"), "0x0");
    // ctime is Java's Date.toString(): "Sun Nov 22 07:47:42 UTC 2026".
    let ctime = stat_field(&r.out, "ctime");
    assert_eq!(ctime.split(' ').count(), 6, "{ctime}");
    assert_eq!(r.out.lines().count(), 12);

    assert_eq!(ok(&s, &["set", "/x", "v2"]).out, "");
    fails(
        &s,
        &["set", "-v", "7", "/x", "v3"],
        1,
        "version No is not valid : /x",
    );
    let r = ok(&s, &["set", "-s", "-v", "1", "/x", "v3"]);
    assert_eq!(stat_field(&r.out, "dataVersion"), "2");
    assert_eq!(ok(&s, &["get", "/x"]).out, "v3\n");

    let r = ok(&s, &["stat", "/x"]);
    assert!(r.out.starts_with("cZxid = 0x"));
    assert_eq!(stat_field(&r.out, "dataLength"), "2");
    fails(&s, &["stat", "/nope"], 1, "Node does not exist: /nope");
    fails(&s, &["get", "/nope"], 1, "Node does not exist: /nope");
    fails(&s, &["create", "/a/b/c"], 1, "Node does not exist: /a/b/c");

    // No data argument stores null data, which get prints as "null".
    ok(&s, &["create", "/nodata"]);
    assert_eq!(ok(&s, &["get", "/nodata"]).out, "null\n");
    // Quoted words keep their spaces when the shell passes them whole.
    ok(&s, &["create", "/spaced", "hello world"]);
    assert_eq!(ok(&s, &["get", "/spaced"]).out, "hello world\n");
}

#[test]
fn create_modes() {
    let s = Server::start("");
    ok(&s, &["create", "/q"]);
    assert_eq!(
        ok(&s, &["create", "-s", "/q/s-", "d"]).err,
        "Created /q/s-0000000000\n"
    );
    assert_eq!(
        ok(&s, &["create", "-s", "/q/s-"]).err,
        "Created /q/s-0000000001\n"
    );

    // An ephemeral lives as long as its session, i.e. the one-shot process.
    assert_eq!(ok(&s, &["create", "-e", "/eph"]).err, "Created /eph\n");
    fails(&s, &["stat", "/eph"], 1, "Node does not exist: /eph");
    let r = ok(&s, &["create", "-e", "-s", "/q/e-"]);
    assert!(r.err.starts_with("Created /q/e-00000000"), "{r:?}");

    // Clients see ephemeralOwner 0 for containers and TTL nodes (digest
    // §9.3), so the proof that -c and -t sent the right opcodes is the
    // reaper (every 100 ms under the harness): an emptied container goes,
    // and so does a TTL node older than its ttl.
    ok(&s, &["create", "-c", "/cont"]);
    assert_eq!(
        stat_field(&ok(&s, &["stat", "/cont"]).out, "ephemeralOwner"),
        "0x0"
    );
    ok(&s, &["create", "/cont/k"]);
    ok(&s, &["delete", "/cont/k"]);
    ok(&s, &["create", "-t", "300", "/ttl", "x"]);
    ok(&s, &["create", "/plain"]);
    // Only the managed server reaps every 100 ms (an external one may take a minute).
    if s.is_managed() {
        wait_gone(&s, "/cont");
        wait_gone(&s, "/ttl");
    }
    ok(&s, &["stat", "/plain"]);
    ok(&s, &["create", "-s", "-t", "60000", "/q/t-"]);

    fails(
        &s,
        &["create", "-c", "-e", "/bad"],
        1,
        "-c cannot be combined with -s or -e",
    );
    fails(
        &s,
        &["create", "-e", "-t", "10", "/bad"],
        1,
        "TTLs cannot be used with Ephemeral znodes",
    );
    fails(
        &s,
        &["create", "-t", "abc", "/bad"],
        1,
        "-t argument must be a long value",
    );
    fails(
        &s,
        &["create", "/bad/"],
        1,
        "Path must not end with / character",
    );
    fails(
        &s,
        &["create", "bad"],
        1,
        "Path must start with / character",
    );
}

/// Waits (bounded) until `path` no longer exists.
fn wait_gone(s: &Server, path: &str) {
    common::wait::until(
        Duration::from_secs(15),
        &format!("{path} is reaped"),
        || cli(s, &["stat", path]).code != 0,
    );
}

#[test]
fn ls_variants() {
    let s = Server::start("");
    for p in ["/l", "/l/b", "/l/a", "/l/a/x", "/l/c"] {
        ok(&s, &["create", p]);
    }
    assert_eq!(ok(&s, &["ls", "/l"]).out, "[a, b, c]\n");
    assert_eq!(ok(&s, &["ls", "/l/c"]).out, "[]\n");
    let r = ok(&s, &["ls", "/"]);
    let names: Vec<&str> = r
        .out
        .trim_end()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .split(", ")
        .collect();
    assert!(
        names.contains(&"l") && names.contains(&"zookeeper"),
        "{r:?}"
    );
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "ls sorts like zkCli");

    let r = ok(&s, &["ls", "-s", "/l"]);
    assert!(r.out.starts_with("[a, b, c]\ncZxid = 0x"), "{r:?}");
    assert_eq!(stat_field(&r.out, "numChildren"), "3");

    // Depth first, parent before children, as zkCli's ls -R.
    assert_eq!(
        ok(&s, &["ls", "-R", "/l"]).out,
        "/l\n/l/a\n/l/a/x\n/l/b\n/l/c\n"
    );
    // -w is accepted in one-shot mode too (the watch dies with the process).
    assert_eq!(ok(&s, &["ls", "-w", "/l"]).out, "[a, b, c]\n");
    fails(&s, &["ls", "/nope"], 1, "Node does not exist: /nope");
    fails(&s, &["ls"], 1, "ls [-s] [-w] [-R] path");
}

#[test]
fn delete_and_deleteall() {
    let s = Server::start("");
    ok(&s, &["create", "/d"]);
    ok(&s, &["create", "/d/k"]);
    fails(&s, &["delete", "/d"], 1, "Node not empty: /d");
    fails(&s, &["delete", "/nope"], 1, "Node does not exist: /nope");
    fails(
        &s,
        &["delete", "-v", "5", "/d/k"],
        1,
        "version No is not valid : /d/k",
    );
    assert_eq!(ok(&s, &["delete", "-v", "0", "/d/k"]).out, "");
    ok(&s, &["delete", "/d"]);

    // A tree wider than one batch: deleteall goes deepest first, in multis.
    ok(&s, &["create", "/t"]);
    for i in 0..12 {
        let p = format!("/t/n{i}");
        ok(&s, &["create", &p]);
        if i % 4 == 0 {
            ok(&s, &["create", &format!("{p}/leaf")]);
        }
    }
    let r = ok(&s, &["deleteall", "/t", "-b", "5"]);
    assert_eq!((r.out.as_str(), r.err.as_str()), ("", ""));
    fails(&s, &["ls", "/t"], 1, "Node does not exist: /t");
    fails(&s, &["deleteall", "/t"], 1, "Node does not exist: /t");
}

#[test]
fn acls() {
    let s = Server::start("");
    ok(&s, &["create", "/p", "data"]);
    assert_eq!(ok(&s, &["getAcl", "/p"]).out, "'world,'anyone\n: cdrwa\n");

    let r = ok(&s, &["setAcl", "-s", "/p", "world:anyone:cdrwa"]);
    assert_eq!(stat_field(&r.out, "aclVersion"), "1");
    let r = ok(&s, &["getAcl", "-s", "/p"]);
    assert!(r.out.starts_with("'world,'anyone\n: cdrwa\ncZxid = 0x"));
    fails(
        &s,
        &["setAcl", "-v", "0", "/p", "world:anyone:r"],
        1,
        "version No is not valid : /p",
    );
    ok(&s, &["setAcl", "/p", "ip:127.0.0.1:cdrwa,world:anyone:r"]);
    assert_eq!(
        ok(&s, &["getAcl", "/p"]).out,
        "'ip,'127.0.0.1\n: cdrwa\n'world,'anyone\n: r\n"
    );
    fails(
        &s,
        &["setAcl", "/p", "world:anyone"],
        1,
        "does not have the form scheme:id:perm",
    );

    // A digest ACL locks out a client without the credential...
    let id = roost::auth::acl::digest_id("bob:secret");
    ok(
        &s,
        &["create", "/sec", "hidden", &format!("digest:{id}:cdrwa")],
    );
    fails(&s, &["get", "/sec"], 1, "Insufficient permission : /sec");
    fails(&s, &["getAcl", "/sec"], 1, "Insufficient permission : /sec");
    // ...and addauth (one session: the piped shell) lets it in.
    let r = piped(
        &s,
        "addauth digest bob:secret\nwhoami\nget /sec\ngetAcl /sec\nquit\n",
    );
    assert!(
        r.out.contains("Auth scheme: User\n") && r.out.contains("digest: bob\n"),
        "{r:?}"
    );
    assert!(r.out.contains("ip: 127.0.0.1\n"), "{r:?}");
    assert!(r.out.contains("hidden\n"), "{r:?}");
    assert!(
        r.out.contains(&format!("'digest,'{id}\n: cdrwa\n")),
        "{r:?}"
    );

    // setAcl -R covers the subtree.
    ok(&s, &["create", "/r"]);
    ok(&s, &["create", "/r/c"]);
    ok(&s, &["setAcl", "-R", "/r", "world:anyone:rw"]);
    assert_eq!(ok(&s, &["getAcl", "/r/c"]).out, "'world,'anyone\n: rw\n");
}

#[test]
fn misc_commands_and_exit_codes() {
    let s = Server::start("");
    ok(&s, &["create", "/m"]);
    ok(&s, &["create", "/m/a"]);
    ok(&s, &["create", "/m/a/b"]);
    assert_eq!(ok(&s, &["sync", "/m"]).out, "Sync is OK\n");
    assert_eq!(ok(&s, &["getAllChildrenNumber", "/m"]).out, "2\n");
    assert_eq!(ok(&s, &["getEphemerals"]).out, "[]\n");
    assert_eq!(ok(&s, &["getEphemerals", "/m"]).out, "[]\n");
    assert_eq!(
        ok(&s, &["whoami"]).out,
        "Auth scheme: User\nip: 127.0.0.1\n"
    );
    // Standalone: /zookeeper/config is empty.
    assert_eq!(ok(&s, &["config"]).out, "\n");
    ok(&s, &["addWatch", "/m"]);
    ok(&s, &["addWatch", "-m", "PERSISTENT", "/m"]);
    fails(
        &s,
        &["addWatch", "-m", "BAD", "/m"],
        1,
        "addWatch [-m mode] path",
    );
    fails(
        &s,
        &["removewatches", "/m"],
        1,
        "KeeperErrorCode = No such watcher for /m",
    );
    let r = fails(
        &s,
        &["bogus"],
        127,
        "Command not found: Command not found bogus",
    );
    assert!(r.err.contains("\tget [-s] [-w] path\n"), "{r:?}");
    fails(&s, &["get"], 1, "get [-s] [-w] path");
    fails(&s, &["get", "-x", "/m"], 1, "Unrecognized option: -x");
    fails(
        &s,
        &["get", "/m//a"],
        1,
        "Invalid path string \"/m//a\" caused by empty node name specified @3",
    );
    let r = ok(&s, &["version"]);
    assert!(r.out.starts_with("ZooKeeper CLI version: roost "), "{r:?}");

    // Nothing listening: a clear error and a non-zero exit, not a hang.
    let port = common::free_port();
    let r = cli_at(&format!("127.0.0.1:{port}"), &["ls", "/"]);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.err.contains("Unable to connect"), "{r:?}");
}

/// Feeds `input` to the interactive shell on a pipe and collects everything.
fn piped(server: &Server, input: &str) -> Run {
    let mut child = spawn_shell(server);
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let mut out = String::new();
    let mut err = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let code = child.wait().unwrap().code().unwrap_or(-1);
    Run { code, out, err }
}

fn spawn_shell(server: &Server) -> Child {
    Command::new(env!("CARGO_BIN_EXE_roost"))
        .args(["cli", "-server", &server.connect_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start roost cli")
}

/// A running interactive shell whose stdout lines arrive on a channel.
struct Shell {
    child: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Shell {
    fn start(server: &Server) -> Shell {
        let mut child = spawn_shell(server);
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Shell {
            child,
            stdin,
            lines,
            seen: Vec::new(),
        }
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// Waits (bounded) for a stdout line equal to `want`.
    fn expect(&mut self, want: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            match self.lines.recv_timeout(Duration::from_millis(100)) {
                Ok(line) => {
                    let hit = line == want;
                    self.seen.push(line);
                    if hit {
                        return;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!(
            "shell never printed {want:?}; saw:\n{}",
            self.seen.join("\n")
        );
    }
}

impl Drop for Shell {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn interactive_watch_events_and_history() {
    let s = Server::start("");
    ok(&s, &["create", "/w", "one"]);
    let mut sh = Shell::start(&s);
    sh.expect("WatchedEvent state:SyncConnected type:None path:null");

    // get -w: the change made by another client shows up unprompted.
    sh.send("get -w /w");
    sh.expect("one");
    ok(&s, &["set", "/w", "two"]);
    sh.expect("WatchedEvent state:SyncConnected type:NodeDataChanged path:/w");

    // ls -w then a child created elsewhere.
    sh.send("ls -w /w");
    sh.expect("[]");
    ok(&s, &["create", "/w/c1"]);
    sh.expect("WatchedEvent state:SyncConnected type:NodeChildrenChanged path:/w");

    // addWatch (persistent recursive by default) keeps firing.
    sh.send("addWatch /w");
    sh.send("sync /w");
    sh.expect("Sync is OK");
    ok(&s, &["create", "/w/c2"]);
    sh.expect("WatchedEvent state:SyncConnected type:NodeCreated path:/w/c2");
    ok(&s, &["set", "/w/c1", "x"]);
    sh.expect("WatchedEvent state:SyncConnected type:NodeDataChanged path:/w/c1");
    sh.send("removewatches /w");
    sh.expect("WatchedEvent state:SyncConnected type:PersistentWatchRemoved path:/w");

    // A session-scoped ephemeral is visible to the session itself.
    sh.send("create -e /w/eph");
    sh.send("getEphemerals");
    sh.expect("[/w/eph]");

    sh.send("history");
    sh.expect("0 - get -w /w");
    sh.expect("7 - history");
    sh.send("redo 6");
    sh.expect("[/w/eph]");

    // close ends the session (the ephemeral goes), connect starts a new one.
    sh.send("close");
    sh.expect("WatchedEvent state:Closed type:None path:null");
    sh.send("ls /w");
    sh.send(&format!("connect {}", s.connect_string()));
    sh.expect("WatchedEvent state:SyncConnected type:None path:null");
    sh.send("ls /w");
    sh.expect("[c1, c2]");
    sh.send("quit");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(st) = sh.child.try_wait().unwrap() {
            assert!(st.success(), "quit exit status {st:?}");
            break;
        }
        assert!(Instant::now() < deadline, "quit did not end the shell");
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut err = String::new();
    sh.child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert!(err.contains("Created /w/eph"), "{err}");
    assert!(err.contains("Not connected"), "{err}");
}

#[test]
fn session_survives_server_restart() {
    let mut s = Server::start_own("");
    ok(&s, &["create", "/re", "a"]);
    let mut sh = Shell::start(&s);
    sh.expect("WatchedEvent state:SyncConnected type:None path:null");
    sh.send("get -w /re");
    sh.expect("a");
    // Idle past the session timeout (4 s under the harness): pings every
    // timeout/3 keep the session, so nothing is lost or re-established.
    std::thread::sleep(Duration::from_secs(6));
    sh.send("sync /re");
    sh.expect("Sync is OK");
    assert!(
        !sh.seen
            .iter()
            .any(|l| l.contains("Disconnected") || l.contains("Expired")),
        "idle session dropped: {:?}",
        sh.seen
    );
    // SIGKILL + restart on the same data: the client re-attaches its session
    // (Roost persists sessions) and registers its watch again.
    s.kill_and_restart();
    sh.expect("WatchedEvent state:SyncConnected type:None path:null");
    ok(&s, &["set", "/re", "b"]);
    sh.expect("WatchedEvent state:SyncConnected type:NodeDataChanged path:/re");
    sh.send("get /re");
    sh.expect("b");
}

/// `roost cli help` needs no server (issue 17): with nothing listening it
/// still prints the usage at once and exits 0.
#[test]
fn help_works_without_a_server() {
    let port = common::free_port();
    let r = cli_at(&format!("127.0.0.1:{port}"), &["help"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.err.contains("ZooKeeper -server host:port"), "{r:?}");
    assert!(r.err.contains("create"), "{r:?}");
}
