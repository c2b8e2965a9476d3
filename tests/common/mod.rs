//! Shared harness for integration tests: starts the real `roost` binary on a
//! free loopback port with a generated zoo.cfg, and stops it (by PID) on drop.
//!
//! Set `ROOST_TEST_SERVER=host:port` to run the client-level tests against an
//! already running server instead (e.g. Apache ZooKeeper, for differential runs).

#![allow(dead_code)]

pub mod ensemble;
pub mod netlab;
pub mod wait;
pub mod zk;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a test waits for a server to answer: generous, because CI
/// machines are small and shared.
pub const READY_TIMEOUT_SECS: u64 = 60;

pub struct Server {
    pub addr: SocketAddr,
    child: Option<Child>,
    pub dir: PathBuf,
}

impl Server {
    /// Starts `roost serve` with `extra` appended to a default zoo.cfg, and
    /// waits until it answers `ruok`.
    pub fn start(extra: &str) -> Server {
        let server = Server::launch(extra, true);
        if server.is_managed() {
            server.wait_ready();
        }
        server
    }

    /// Starts a `roost serve` of the test's own even when `ROOST_TEST_SERVER`
    /// names an external server: for tests of Roost's own restarts and files,
    /// which an external server cannot take part in.
    pub fn start_own(extra: &str) -> Server {
        let server = Server::launch(extra, false);
        server.wait_ready();
        server
    }

    /// Writes the config and spawns the server without waiting; with
    /// `ROOST_TEST_SERVER` set (and `external_ok`), points at that external
    /// server instead.
    fn launch(extra: &str, external_ok: bool) -> Server {
        if let (true, Ok(external)) = (external_ok, std::env::var("ROOST_TEST_SERVER")) {
            return Server {
                addr: external.parse().expect("ROOST_TEST_SERVER is host:port"),
                child: None,
                dir: PathBuf::new(),
            };
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("roost-it-{}-{}", std::process::id(), port));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("zoo.cfg"),
            format!(
                "tickTime=200\ndataDir={}\nclientPort={port}\nclientPortAddress=127.0.0.1\n4lw.commands.whitelist=*\nextendedTypesEnabled=true\nznode.container.checkIntervalMs=100\npreAllocSize=4096\n{extra}\n",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let child = spawn_roost(&dir);
        Server {
            addr: format!("127.0.0.1:{port}").parse().unwrap(),
            child: Some(child),
            dir,
        }
    }

    /// Kills the server with SIGKILL and leaves it down.
    pub fn kill(&mut self) {
        let child = self.child.as_mut().expect("kill needs a managed server");
        child.kill().expect("kill roost");
        child.wait().expect("reap roost");
    }

    /// Starts the (killed) server again on the same port and data.
    pub fn restart(&mut self) {
        self.child = Some(spawn_roost(&self.dir));
        self.wait_ready();
    }

    /// Starts the server on its config without waiting for readiness and
    /// returns its exit status and log, for start-ups that must fail.
    pub fn start_expecting_failure(&mut self) -> (std::process::ExitStatus, String) {
        let mut child = spawn_roost(&self.dir);
        let deadline = Instant::now() + Duration::from_secs(READY_TIMEOUT_SECS);
        loop {
            if let Some(status) = child.try_wait().expect("poll roost") {
                return (status, self.log());
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "roost kept running although it should have refused to start:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kills the server with SIGKILL (no clean shutdown) and starts it again
    /// on the same port, data directory and config.
    pub fn kill_and_restart(&mut self) {
        let child = self.child.as_mut().expect("restart needs a managed server");
        child.kill().expect("kill roost");
        child.wait().expect("reap roost");
        self.child = Some(spawn_roost(&self.dir));
        self.wait_ready();
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(READY_TIMEOUT_SECS);
        while Instant::now() < deadline {
            if let Ok(text) = four_letter(self.addr, "ruok") {
                if text == "imok" {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server at {} did not become ready; log:\n{}",
            self.addr,
            self.log()
        );
    }

    /// Like [`Server::start`], but waits for readiness with `probe` instead of
    /// `ruok` (which a restrictive `4lw.commands.whitelist` in `extra` refuses):
    /// ready once the word gets any reply at all, even a "not in the
    /// whitelist" one. `extra` is appended after the harness's own keys, and
    /// later keys win in zoo.cfg.
    pub fn start_probing(extra: &str, probe: &str) -> Server {
        let server = Server::launch(extra, true);
        if !server.is_managed() {
            return server;
        }
        let deadline = Instant::now() + Duration::from_secs(READY_TIMEOUT_SECS);
        while Instant::now() < deadline {
            if matches!(four_letter(server.addr, probe), Ok(text) if !text.is_empty()) {
                return server;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!(
            "server at {} did not become ready; log:\n{}",
            server.addr,
            server.log()
        );
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    pub fn connect_string(&self) -> String {
        self.addr.to_string()
    }

    pub fn is_managed(&self) -> bool {
        self.child.is_some()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The server binary: `ROOST_BIN` if set, else cargo's. Worktrees sharing
/// one CARGO_TARGET_DIR overwrite each other's `target/release/roost` (cargo
/// uplifts every worktree's build to that one path), so a run may point at a
/// copy of its own build instead.
pub fn roost_bin() -> std::path::PathBuf {
    std::env::var_os("ROOST_BIN")
        .map(Into::into)
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_roost").into())
}

/// Starts `roost serve` on `dir/zoo.cfg`, appending its stderr to `dir/server.log`.
pub fn spawn_roost(dir: &std::path::Path) -> Child {
    spawn_roost_in(dir, None)
}

/// [`spawn_roost`] inside network namespace `netns` (through `ip netns
/// exec`, which execs in place: the child's pid is the server's).
pub fn spawn_roost_in(dir: &std::path::Path, netns: Option<&str>) -> Child {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .unwrap();
    let mut cmd = match netns {
        None => Command::new(roost_bin()),
        Some(ns) => {
            let mut c = Command::new("ip");
            c.args(["netns", "exec", ns]).arg(roost_bin());
            c
        }
    };
    cmd.args(["serve", "--config"])
        .arg(dir.join("zoo.cfg"))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start roost")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Sends a four-letter word and reads the reply until the server closes.
pub fn four_letter(addr: SocketAddr, word: &str) -> std::io::Result<String> {
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    s.write_all(word.as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

/// A storm of short sessions against `addrs` until `stop` is set: each
/// round opens a connection, completes the handshake (a CreateSession
/// entry on an ensemble), and either closes the session (a CloseSession
/// entry) or just drops the connection (the session lingers). Returns the
/// number of sessions established.
pub fn session_storm(
    addrs: Vec<SocketAddr>,
    threads: usize,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> Vec<std::thread::JoinHandle<u64>> {
    use roost::proto::codec::{encode_connect_request, encode_request};
    use roost::proto::{ConnectRequest, Request};
    (0..threads)
        .map(|t| {
            let (addrs, stop) = (addrs.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut established = 0u64;
                let mut round = 0usize;
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    round += 1;
                    let addr = addrs[(t + round) % addrs.len()];
                    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500))
                    else {
                        std::thread::sleep(Duration::from_millis(20));
                        continue;
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
                    let mut out = Vec::new();
                    let req = ConnectRequest {
                        protocol_version: 0,
                        last_zxid_seen: 0,
                        timeout_ms: 4000,
                        session_id: 0,
                        passwd: vec![0; 16],
                        read_only: Some(false),
                    };
                    encode_connect_request(&req, &mut out);
                    if s.write_all(&out).is_err() {
                        continue;
                    }
                    let mut len = [0u8; 4];
                    if s.read_exact(&mut len).is_err() {
                        continue;
                    }
                    let mut body = vec![0u8; u32::from_be_bytes(len) as usize];
                    if s.read_exact(&mut body).is_err() {
                        continue;
                    }
                    established += 1;
                    if round.is_multiple_of(2) {
                        out.clear();
                        encode_request(1, &Request::CloseSession, &mut out);
                        let _ = s.write_all(&out);
                        let _ = s.read(&mut len);
                    }
                }
                established
            })
        })
        .collect()
}
