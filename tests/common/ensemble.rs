//! A real ensemble for integration tests: N `roost serve` processes, each
//! with its own zoo.cfg, data directory and log, killed (by PID) on drop.
//! Members can be killed, restarted and paused; started with
//! [`Ensemble::start_partitionable`] (each in its own network namespace,
//! see [`NetLab`]) they can also be cut off the network.

use super::netlab::NetLab;
use super::{four_letter, free_port, spawn_roost_in, READY_TIMEOUT_SECS};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Child;
use std::time::{Duration, Instant};

pub struct Member {
    pub id: u64,
    pub addr: SocketAddr,
    /// This member's `server.N=` line (without the client address).
    pub server_line: String,
    pub dir: PathBuf,
    child: Option<Child>,
}

impl Member {
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(|c| c.id())
    }

    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
    }

    /// `roost_raft_term` of `mntr`, or None if the member does not answer.
    pub fn term(&self) -> Option<u64> {
        let text = four_letter(self.addr, "mntr").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("roost_raft_term\t"))
            .and_then(|t| t.trim().parse().ok())
    }

    /// `Mode:` of `srvr`, or None if the member does not answer.
    pub fn mode(&self) -> Option<String> {
        let text = four_letter(self.addr, "srvr").ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(|m| m.trim().to_string())
    }
}

pub struct Ensemble {
    pub members: Vec<Member>,
    root: PathBuf,
    /// Set when the members run in network namespaces.
    net: Option<NetLab>,
}

impl Ensemble {
    /// Starts `n` members (`observers` of them, the highest ids, as
    /// observers) with `extra` appended to every zoo.cfg, and waits until
    /// one leads and every member answers.
    pub fn start(n: usize, observers: usize, extra: &str) -> Ensemble {
        Self::start_with(n, observers, extra, None)
    }

    /// Like [`Ensemble::start`] with `n` voters, each member in its own
    /// network namespace so that it can be cut off ([`Ensemble::cut_off`]).
    pub fn start_partitionable(n: usize, extra: &str) -> Ensemble {
        Self::start_with(n, 0, extra, Some(NetLab::create(n)))
    }

    fn start_with(n: usize, observers: usize, extra: &str, net: Option<NetLab>) -> Ensemble {
        let root =
            std::env::temp_dir().join(format!("roost-ens-{}-{}", std::process::id(), free_port()));
        // (client address, peer host, quorum port, election port): on
        // loopback every member needs its own ports; in namespaces each
        // has its own addresses and the usual ports.
        let hosts: Vec<(SocketAddr, String, u16, u16)> = (1..=n as u64)
            .map(|id| match &net {
                None => (
                    SocketAddr::from(([127, 0, 0, 1], free_port())),
                    "127.0.0.1".to_string(),
                    free_port(),
                    free_port(),
                ),
                Some(lab) => (
                    SocketAddr::from((lab.client_addr(id), 2181)),
                    lab.peer_addr(id).to_string(),
                    2888,
                    3888,
                ),
            })
            .collect();
        let lines: Vec<String> = hosts
            .iter()
            .enumerate()
            .map(|(i, (_, host, quorum, election))| {
                let role = if i >= n - observers { ":observer" } else { "" };
                format!("server.{}={host}:{quorum}:{election}{role}", i + 1)
            })
            .collect();
        let servers: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let mut members = Vec::new();
        for (i, (addr, ..)) in hosts.iter().enumerate() {
            let id = i as u64 + 1;
            let dir = root.join(format!("m{id}"));
            write_member_config(&dir, id, *addr, i >= n - observers, &servers, extra);
            members.push(Member {
                id,
                addr: *addr,
                server_line: lines[i].clone(),
                dir,
                child: None,
            });
        }
        let mut e = Ensemble { members, root, net };
        for id in 1..=n as u64 {
            e.spawn(id);
        }
        e.wait_leader();
        for m in &e.members {
            wait_answering(m);
        }
        e
    }

    /// Starts one more member (on loopback), listing the current members and
    /// itself as a voter, as a server about to be added by `reconfig` is
    /// configured. Returns its id and the `server.N=...;client` spec to
    /// pass to `reconfig -add`. It serves once the ensemble has added it.
    pub fn start_joining_member(&mut self, extra: &str) -> (u64, String) {
        assert!(self.net.is_none(), "joining members are on loopback only");
        let id = self.members.len() as u64 + 1;
        let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let line = format!(
            "server.{id}=127.0.0.1:{}:{}:participant",
            free_port(),
            free_port()
        );
        let mut servers: String = self
            .members
            .iter()
            .map(|m| format!("{}\n", m.server_line))
            .collect();
        servers.push_str(&format!("{line}\n"));
        let dir = self.root.join(format!("m{id}"));
        write_member_config(&dir, id, addr, false, &servers, extra);
        self.members.push(Member {
            id,
            addr,
            server_line: line.clone(),
            dir,
            child: None,
        });
        self.spawn(id);
        (id, format!("{line};{addr}"))
    }

    fn spawn(&mut self, id: u64) {
        let netns = self.net.as_ref().map(|lab| lab.namespace(id).to_string());
        let m = &mut self.members[id as usize - 1];
        assert!(m.child.is_none(), "member {id} is already running");
        m.child = Some(spawn_roost_in(&m.dir, netns.as_deref()));
    }

    pub fn member(&self, id: u64) -> &Member {
        &self.members[id as usize - 1]
    }

    /// Every running member's client address, comma-separated.
    pub fn connect_string(&self) -> String {
        self.members
            .iter()
            .filter(|m| m.is_running())
            .map(|m| m.addr.to_string())
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The id of the member that says it leads; waits up to the ready timeout.
    pub fn wait_leader(&self) -> u64 {
        let deadline = Instant::now() + Duration::from_secs(READY_TIMEOUT_SECS);
        while Instant::now() < deadline {
            let leaders: Vec<u64> = self
                .members
                .iter()
                .filter(|m| m.is_running() && m.mode().as_deref() == Some("leader"))
                .map(|m| m.id)
                .collect();
            if leaders.len() == 1 {
                return leaders[0];
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let dumps: Vec<String> = self
            .members
            .iter()
            .filter_map(|m| {
                m.pid()
                    .map(|p| format!("---- member {} threads ----\n{}", m.id, thread_dump(p)))
            })
            .collect();
        panic!(
            "no single leader; logs:\n{}\n{}",
            self.logs(),
            dumps.join("\n")
        );
    }

    /// SIGKILL, leaving the member down.
    pub fn kill(&mut self, id: u64) {
        let m = &mut self.members[id as usize - 1];
        let mut child = m.child.take().expect("member is running");
        let _ = child.kill();
        let _ = child.wait();
    }

    /// Members whose process has ended on its own (a crash), with how.
    pub fn exited(&mut self) -> Vec<(u64, std::process::ExitStatus)> {
        self.members
            .iter_mut()
            .filter_map(|m| {
                let status = m.child.as_mut()?.try_wait().ok()??;
                Some((m.id, status))
            })
            .collect()
    }

    /// Starts a killed member again on the same config and data and waits
    /// until it answers.
    pub fn restart(&mut self, id: u64) {
        self.spawn(id);
        wait_answering(self.member(id));
    }

    fn signal(&self, id: u64, sig: i32) {
        let pid = self.member(id).pid().expect("member is running");
        // SAFETY: kill(2) on a child process we started and have not reaped.
        let rc = unsafe { libc::kill(pid as i32, sig) };
        assert_eq!(rc, 0, "signal {sig} to member {id}");
    }

    /// SIGSTOP: the process freezes with its sockets open.
    pub fn pause(&self, id: u64) {
        self.signal(id, libc::SIGSTOP);
    }

    pub fn resume(&self, id: u64) {
        self.signal(id, libc::SIGCONT);
    }

    fn lab(&self) -> &NetLab {
        self.net
            .as_ref()
            .expect("network faults need Ensemble::start_partitionable")
    }

    /// Cuts member `id` off from the other members; its clients still
    /// reach it (a leader keeps its clients but loses its quorum).
    pub fn cut_off_peers(&self, id: u64) {
        self.lab().set_peer_link(id, false);
    }

    /// Cuts member `id` off from everyone: peers and clients.
    pub fn cut_off(&self, id: u64) {
        self.lab().set_peer_link(id, false);
        self.lab().set_client_link(id, false);
    }

    /// Member `id`'s messages to its peers are lost; theirs reach it (an
    /// asymmetric partition). Its clients still reach it.
    pub fn cut_outbound(&self, id: u64) {
        self.lab().set_peer_egress(id, false);
    }

    /// Restores every link of member `id`.
    pub fn heal(&self, id: u64) {
        self.lab().set_peer_link(id, true);
        self.lab().set_client_link(id, true);
        self.lab().set_peer_egress(id, true);
    }

    pub fn logs(&self) -> String {
        self.members
            .iter()
            .map(|m| format!("---- member {} ----\n{}", m.id, tail(&m.log(), 60)))
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Writes member `id`'s zoo.cfg and myid under `dir`.
fn write_member_config(
    dir: &std::path::Path,
    id: u64,
    addr: SocketAddr,
    observer: bool,
    servers: &str,
    extra: &str,
) {
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(dir.join("data").join("myid"), format!("{id}\n")).unwrap();
    let peer_type = if observer { "peerType=observer\n" } else { "" };
    std::fs::write(
        dir.join("zoo.cfg"),
        format!(
            "tickTime=200\ninitLimit=10\nsyncLimit=5\ndataDir={}\nclientPort={}\nclientPortAddress={}\n4lw.commands.whitelist=*\nextendedTypesEnabled=true\npreAllocSize=4096\n{peer_type}{servers}{extra}\n",
            dir.join("data").display(),
            addr.port(),
            addr.ip(),
        ),
    )
    .unwrap();
}

fn tail(s: &str, lines: usize) -> String {
    let v: Vec<&str> = s.lines().collect();
    v[v.len().saturating_sub(lines)..].join("\n")
}

/// Every thread's stack of a stuck member (needs gdb; empty without it), so a
/// member that does not answer in CI can be diagnosed from the test output.
fn thread_dump(pid: u32) -> String {
    std::process::Command::new("timeout")
        .args([
            "30",
            "gdb",
            "-p",
            &pid.to_string(),
            "-batch",
            "-ex",
            "thread apply all bt 25",
        ])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

fn wait_answering(m: &Member) {
    super::wait::until_or(
        Duration::from_secs(READY_TIMEOUT_SECS),
        &format!("member {} answers ruok", m.id),
        || matches!(four_letter(m.addr, "ruok").as_deref(), Ok("imok")),
        || {
            format!(
                "log:\n{}\nthreads:\n{}",
                tail(&m.log(), 80),
                m.pid().map(thread_dump).unwrap_or_default()
            )
        },
    );
}

impl Drop for Ensemble {
    fn drop(&mut self) {
        // A panic in any member fails the test that ran it, even if clients
        // never noticed (a panicking consensus thread leaves shards up).
        let panics: Vec<String> = self
            .members
            .iter()
            .filter(|m| m.log().contains("panicked"))
            .map(|m| format!("member {}:\n{}", m.id, tail(&m.log(), 40)))
            .collect();
        for m in &mut self.members {
            if let Some(mut child) = m.child.take() {
                if let Some(pid) = Some(child.id()) {
                    // A paused member must be resumed to die promptly.
                    // SAFETY: our own child.
                    unsafe { libc::kill(pid as i32, libc::SIGCONT) };
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if !std::thread::panicking() {
            assert!(
                panics.is_empty(),
                "a member panicked:\n{}",
                panics.join("\n")
            );
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}
