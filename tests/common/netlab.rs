//! Network namespaces for partition tests (needs root and iproute2).
//!
//! Each member runs in its own namespace with two veth links into bridges
//! in the test's (root) namespace:
//!
//! - the *peer* link carries member-to-member traffic (the `server.N`
//!   addresses live on the peer bridge, which has no address of its own,
//!   so only members reach each other through it);
//! - the *client* link carries client traffic (the root namespace has an
//!   address on the client bridge, so the test process reaches every
//!   member's client port through it).
//!
//! Taking a link's root-side end down drops its traffic silently in both
//! directions, as a pulled cable does: TCP connections are not reset, they
//! just stop delivering, which is what raft's heartbeats and ZooKeeper
//! clients' pings must detect. `tc netem` is not used (not available here).
//!
//! Names: bridges `rb<tag>p` / `rb<tag>c`, root-side veth ends `rv<tag>p<i>`
//! / `rv<tag>c<i>` (interface names are limited to 15 bytes), namespaces
//! `roost-<pid>-<tag>-m<i>`. `<tag>` encodes the two /24 subnets used
//! (peers `10.a.b.0/24`, clients `10.a.b+1.0/24`), so two labs never share
//! an address. Everything is deleted on drop; a lab left behind by a killed
//! test process (its pid is gone) is deleted by the next one.

use std::net::Ipv4Addr;
use std::process::Command;

pub struct NetLab {
    tag: String,
    a: u8,
    b: u8,
    namespaces: Vec<String>,
}

/// Runs `ip ARGS`, returning its stderr on failure.
fn ip(args: &[&str]) -> Result<(), String> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("cannot run ip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

fn must(args: &[&str]) {
    if let Err(e) = ip(args) {
        panic!("network namespace set-up failed (partition tests need root and iproute2): {e}");
    }
}

impl NetLab {
    /// Creates the bridges and `n` member namespaces (ids 1..=n).
    pub fn create(n: usize) -> NetLab {
        remove_orphans();
        let pid = std::process::id();
        // Start from a pid-derived subnet pair; move on while taken.
        let mut h = (pid as usize).wrapping_mul(2_654_435_761) % (50 * 128);
        let (tag, a, b) = loop {
            let a = 200 + (h % 50) as u8;
            let b = ((h / 50) % 128 * 2) as u8;
            let tag = format!("{a:02x}{b:02x}");
            if ip(&["link", "add", &format!("rb{tag}p"), "type", "bridge"]).is_ok() {
                break (tag, a, b);
            }
            h = (h + 1) % (50 * 128);
        };
        let mut lab = NetLab {
            tag: tag.clone(),
            a,
            b,
            namespaces: Vec::new(),
        };
        let (peer_bridge, client_bridge) = (format!("rb{tag}p"), format!("rb{tag}c"));
        must(&["link", "add", &client_bridge, "type", "bridge"]);
        must(&[
            "addr",
            "add",
            &format!("10.{a}.{}.1/24", b + 1),
            "dev",
            &client_bridge,
        ]);
        must(&["link", "set", &peer_bridge, "up"]);
        must(&["link", "set", &client_bridge, "up"]);
        for i in 1..=n {
            let ns = format!("roost-{pid}-{tag}-m{i}");
            must(&["netns", "add", &ns]);
            lab.namespaces.push(ns.clone());
            must(&["-n", &ns, "link", "set", "lo", "up"]);
            for (kind, bridge, addr) in [
                ("p", &peer_bridge, lab.peer_addr(i as u64)),
                ("c", &client_bridge, lab.client_addr(i as u64)),
            ] {
                let host_end = format!("rv{tag}{kind}{i}");
                let inner = format!("eth{kind}");
                // A namespace the kernel has not finished tearing down can
                // leave an old lab's veth end behind under this name.
                let _ = ip(&["link", "del", &host_end]);
                must(&[
                    "link", "add", &host_end, "type", "veth", "peer", "name", &inner, "netns", &ns,
                ]);
                must(&["link", "set", &host_end, "master", bridge, "up"]);
                must(&[
                    "-n",
                    &ns,
                    "addr",
                    "add",
                    &format!("{addr}/24"),
                    "dev",
                    &inner,
                ]);
                must(&["-n", &ns, "link", "set", &inner, "up"]);
            }
        }
        lab
    }

    /// The namespace member `id` runs in.
    pub fn namespace(&self, id: u64) -> &str {
        &self.namespaces[id as usize - 1]
    }

    /// Member `id`'s address for peers (its `server.N` host).
    pub fn peer_addr(&self, id: u64) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b, 10 + id as u8)
    }

    /// Member `id`'s address for clients.
    pub fn client_addr(&self, id: u64) -> Ipv4Addr {
        Ipv4Addr::new(10, self.a, self.b + 1, 10 + id as u8)
    }

    /// Cuts (`up == false`) or restores member `id`'s link to its peers;
    /// its clients still reach it.
    pub fn set_peer_link(&self, id: u64, up: bool) {
        self.set_link(&format!("rv{}p{id}", self.tag), up);
    }

    /// Cuts or restores member `id`'s link to clients.
    pub fn set_client_link(&self, id: u64, up: bool) {
        self.set_link(&format!("rv{}c{id}", self.tag), up);
    }

    /// One-way loss (an asymmetric partition): with `delivered == false`,
    /// what member `id` sends to its peers is lost while what they send
    /// reaches it. Done with a permanent neighbour entry per peer address
    /// pointing at a MAC no one has: the bridge floods those frames and
    /// every port drops them (no `tc` here). ARP replies still go out (they
    /// answer the asker's own MAC), so the peers keep reaching it.
    pub fn set_peer_egress(&self, id: u64, delivered: bool) {
        let ns = self.namespace(id).to_string();
        for peer in (1..=self.namespaces.len() as u64).filter(|&p| p != id) {
            let addr = self.peer_addr(peer).to_string();
            if delivered {
                // Absent already is fine: the heal is idempotent.
                let _ = ip(&["-n", &ns, "neigh", "del", &addr, "dev", "ethp"]);
            } else {
                must(&[
                    "-n",
                    &ns,
                    "neigh",
                    "replace",
                    &addr,
                    "lladdr",
                    "02:00:00:00:00:01",
                    "nud",
                    "permanent",
                    "dev",
                    "ethp",
                ]);
            }
        }
    }

    fn set_link(&self, dev: &str, up: bool) {
        must(&["link", "set", dev, if up { "up" } else { "down" }]);
    }
}

impl Drop for NetLab {
    fn drop(&mut self) {
        // Deleting a namespace deletes its veth ends, and with them the
        // root-side ends; then the bridges go.
        for ns in &self.namespaces {
            let _ = ip(&["netns", "del", ns]);
        }
        let _ = ip(&["link", "del", &format!("rb{}p", self.tag)]);
        let _ = ip(&["link", "del", &format!("rb{}c", self.tag)]);
    }
}

/// Deletes the namespaces and bridges of labs whose test process is gone.
fn remove_orphans() {
    let Ok(out) = Command::new("ip").args(["netns", "list"]).output() else {
        return;
    };
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let name = line.split_whitespace().next().unwrap_or("");
        let mut parts = name.splitn(4, '-');
        let (Some("roost"), Some(pid), Some(tag), Some(_)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let alive = pid
            .parse::<u32>()
            .is_ok_and(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        if !alive {
            let _ = ip(&["netns", "del", name]);
            let _ = ip(&["link", "del", &format!("rb{tag}p")]);
            let _ = ip(&["link", "del", &format!("rb{tag}c")]);
        }
    }
}
