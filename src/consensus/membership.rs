//! Ensemble membership as ZooKeeper shows it in `/zookeeper/config`, and the
//! arithmetic of `reconfig` (incremental joining/leaving, or a whole new
//! member list). Pure: no I/O, no name resolution.
//!
//! Text format (ZooKeeper's dynamic configuration): one
//! `server.N=host:quorumPort:electionPort:role[;clientHost:clientPort]` line
//! per member in id order, then `version=<hex>`: the zxid of the reconfig
//! that made it (0 for the configuration read from zoo.cfg).

use crate::config::{PeerRole, ServerSpec};
use crate::proto::ErrorCode;

/// Members per configuration at most (bounds what a reconfig request can add).
pub const MEMBERS_MAX: usize = 255;

/// Owned by the consensus executor (an ensemble member's current configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Membership {
    /// Sorted by id, ids unique.
    pub servers: Vec<ServerSpec>,
    pub version: i64,
}

impl Membership {
    pub fn new(mut servers: Vec<ServerSpec>, version: i64) -> Membership {
        servers.sort_by_key(|s| s.id);
        servers.dedup_by_key(|s| s.id);
        Membership { servers, version }
    }

    pub fn text(&self) -> String {
        let mut text = String::new();
        for s in &self.servers {
            text.push_str(&s.to_string());
            text.push('\n');
        }
        text.push_str(&format!("version={:x}", self.version));
        text
    }

    /// Parses [`Membership::text`] back (what a reconfig entry carries).
    pub fn parse_text(text: &str) -> Result<Membership, String> {
        let mut servers = Vec::new();
        let mut version = None;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            if let Some(v) = line.strip_prefix("version=") {
                version =
                    Some(i64::from_str_radix(v, 16).map_err(|e| format!("version {v:?}: {e}"))?);
            } else {
                servers.push(parse_server_line(line)?);
            }
        }
        Ok(Membership::new(servers, version.ok_or("no version= line")?))
    }

    pub fn voters(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|s| s.role == PeerRole::Participant)
            .map(|s| s.id)
            .collect()
    }

    pub fn learners(&self) -> Vec<u64> {
        self.servers
            .iter()
            .filter(|s| s.role == PeerRole::Observer)
            .map(|s| s.id)
            .collect()
    }

    /// The member list a reconfig asks for: `new_members` (non-incremental)
    /// replaces everything; otherwise `leaving` ids are removed and `joining`
    /// lines added or replaced. BadArguments for anything malformed, for a
    /// mix of both modes, for a change that changes nothing, and for a result
    /// without a voter.
    pub fn reconfigured(
        &self,
        joining: Option<&str>,
        leaving: Option<&str>,
        new_members: Option<&str>,
    ) -> Result<Vec<ServerSpec>, ErrorCode> {
        let bad = |why: String| {
            tracing::debug!(%why, "reconfig refused");
            ErrorCode::BadArguments
        };
        let (joining, leaving, new_members) = (
            non_empty(joining),
            non_empty(leaving),
            non_empty(new_members),
        );
        let servers = if let Some(list) = new_members {
            if joining.is_some() || leaving.is_some() {
                return Err(bad("newMembers with joining/leaving".into()));
            }
            parse_list(list).map_err(bad)?
        } else {
            if joining.is_none() && leaving.is_none() {
                return Err(bad("nothing to change".into()));
            }
            let mut servers = self.servers.clone();
            if let Some(ids) = leaving {
                for id in ids.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    let id: u64 = id.parse().map_err(|_| bad(format!("leaving id {id:?}")))?;
                    servers.retain(|s| s.id != id);
                }
            }
            if let Some(list) = joining {
                for spec in parse_list(list).map_err(bad)? {
                    servers.retain(|s| s.id != spec.id);
                    servers.push(spec);
                }
            }
            servers
        };
        let next = Membership::new(servers, 0);
        if next.servers.len() > MEMBERS_MAX {
            return Err(bad("too many members".into()));
        }
        if next.voters().is_empty() {
            return Err(bad("no voting member left".into()));
        }
        if next.servers == self.servers {
            return Err(bad("the configuration would not change".into()));
        }
        Ok(next.servers)
    }
}

fn parse_server_line(line: &str) -> Result<ServerSpec, String> {
    let (key, value) = line
        .split_once('=')
        .ok_or_else(|| format!("{line:?} is not server.N=..."))?;
    let id: u64 = key
        .trim()
        .strip_prefix("server.")
        .ok_or_else(|| format!("{key:?} is not server.N"))?
        .parse()
        .map_err(|_| format!("{key:?}: N is not a number"))?;
    ServerSpec::parse(id, value.trim())
}

fn parse_list(list: &str) -> Result<Vec<ServerSpec>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(parse_server_line)
        .collect()
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.map(str::trim).filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn three() -> Membership {
        Membership::parse_text(
            "server.1=127.0.0.1:2888:3888:participant\nserver.2=127.0.0.1:2889:3889:participant\nserver.3=127.0.0.1:2890:3890:participant\nversion=0",
        )
        .unwrap()
    }

    #[test]
    fn text_round_trips_and_prints_zookeepers_format() {
        let m = Membership::new(three().servers, 0x1_0000_0003);
        let text = m.text();
        assert!(text.ends_with("\nversion=100000003"), "{text}");
        assert_eq!(Membership::parse_text(&text).unwrap(), m);
    }

    #[test]
    fn joining_and_leaving_an_observer() {
        let m = three();
        let joining = "server.100=0.0.0.0:1234:2345:observer;0.0.0.0:3456";
        let next = m.reconfigured(Some(joining), None, None).unwrap();
        let text = Membership::new(next.clone(), 5).text();
        assert!(text.contains(joining), "{text}");
        let after = Membership::new(next, 5);
        assert_eq!(after.learners(), vec![100]);
        let back = after.reconfigured(None, Some("100"), None).unwrap();
        assert_eq!(back, m.servers);
    }

    #[test]
    fn bad_input_is_bad_arguments() {
        let m = three();
        for (j, l, n) in [
            (Some("some thing"), None, None),
            (None, Some("x"), None),
            (None, None, None),
            (Some("server.1=127.0.0.1:2888:3888:participant"), None, None),
            (None, Some("1,2,3"), None),
            (Some("server.4=h:1:2"), None, Some("server.1=h:1:2")),
        ] {
            assert_eq!(
                m.reconfigured(j, l, n),
                Err(ErrorCode::BadArguments),
                "{j:?} {l:?} {n:?}"
            );
        }
    }

    #[test]
    fn new_members_replaces_the_list() {
        let m = three();
        let next = m
            .reconfigured(None, None, Some("server.1=127.0.0.1:2888:3888:participant,server.2=127.0.0.1:2889:3889:participant"))
            .unwrap();
        assert_eq!(next.iter().map(|s| s.id).collect::<Vec<_>>(), vec![1, 2]);
    }
}
