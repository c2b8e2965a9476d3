//! `server.N=host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort]`
//! (digest §18.2). Pure: no I/O, no name resolution (host names stay text;
//! the network edge resolves them).

use std::fmt;

/// Whether a member votes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerRole {
    /// Votes and may lead (the default).
    Participant,
    /// Follows without voting (a raft learner in Roost).
    Observer,
}

impl PeerRole {
    /// The word zoo.cfg uses.
    pub fn as_str(self) -> &'static str {
        match self {
            PeerRole::Participant => "participant",
            PeerRole::Observer => "observer",
        }
    }
}

/// The client address of a member, the part after `;`.
/// A plain value (cloned freely); no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAddress {
    /// Bind host; `None` means all interfaces, as in ZooKeeper.
    pub host: Option<String>,
    pub port: u16,
}

/// One ensemble member.
/// A plain value (cloned freely), from zoo.cfg or a reconfig; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerSpec {
    /// The N of `server.N`; equals some member's `myid`.
    pub id: u64,
    /// Host name or IP literal (IPv6 without brackets).
    pub host: String,
    /// Port members replicate on (ZooKeeper's "quorum port", 2888 by custom).
    pub quorum_port: u16,
    /// Port used for leader election (3888 by custom).
    pub election_port: u16,
    pub role: PeerRole,
    /// Client address, when given in the line.
    pub client: Option<ClientAddress>,
}

impl ServerSpec {
    /// Parses the value of a `server.N` key. The error is a message for the
    /// caller to wrap with file, line and key.
    pub fn parse(id: u64, value: &str) -> Result<ServerSpec, String> {
        if value.contains('|') {
            return Err(
                "multiple addresses per member (`|`, multiAddress) are not supported".into(),
            );
        }
        let (member, client) = match value.split_once(';') {
            Some((m, c)) => (m.trim(), Some(c.trim())),
            None => (value.trim(), None),
        };
        let (host, rest) = split_host(member)?;
        let parts: Vec<&str> = rest.split(':').collect();
        let (quorum, election, role) = match parts.as_slice() {
            [q, e] => (*q, *e, PeerRole::Participant),
            [q, e, r] => (*q, *e, parse_role(r)?),
            _ => {
                return Err(format!(
                    "expected host:quorumPort:electionPort[:participant|observer][;[clientHost:]clientPort], got `{value}`"
                ))
            }
        };
        let client = match client {
            None | Some("") => None,
            Some(text) => Some(parse_client(text)?),
        };
        Ok(ServerSpec {
            id,
            host: host.to_string(),
            quorum_port: parse_port(quorum, "quorum port")?,
            election_port: parse_port(election, "election port")?,
            role,
            client,
        })
    }
}

impl fmt::Display for ServerSpec {
    /// The zoo.cfg form, as `conf` prints membership.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "server.{}={}:{}:{}:{}",
            self.id,
            bracket(&self.host),
            self.quorum_port,
            self.election_port,
            self.role.as_str()
        )?;
        if let Some(client) = &self.client {
            let host = client.host.as_deref().unwrap_or("0.0.0.0");
            write!(f, ";{}:{}", bracket(host), client.port)?;
        }
        Ok(())
    }
}

fn bracket(host: &str) -> String {
    if host.contains(':') {
        format!("[{host}]")
    } else {
        host.to_string()
    }
}

/// Splits `host:rest`, where host may be a bracketed IPv6 literal.
fn split_host(text: &str) -> Result<(&str, &str), String> {
    if let Some(inner) = text.strip_prefix('[') {
        let (host, rest) = inner
            .split_once(']')
            .ok_or_else(|| format!("unclosed `[` in `{text}`"))?;
        let rest = rest
            .strip_prefix(':')
            .ok_or_else(|| format!("expected `:` after `[{host}]`"))?;
        return Ok((host, rest));
    }
    match text.split_once(':') {
        Some((host, rest)) if !host.is_empty() => Ok((host, rest)),
        _ => Err(format!(
            "expected host:quorumPort:electionPort, got `{text}`"
        )),
    }
}

fn parse_role(text: &str) -> Result<PeerRole, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "participant" => Ok(PeerRole::Participant),
        "observer" => Ok(PeerRole::Observer),
        other => Err(format!(
            "member type must be participant or observer, got `{other}`"
        )),
    }
}

fn parse_client(text: &str) -> Result<ClientAddress, String> {
    if text.starts_with('[') {
        let (host, port) = split_host(text)?;
        return Ok(ClientAddress {
            host: Some(host.to_string()),
            port: parse_port(port, "client port")?,
        });
    }
    match text.rsplit_once(':') {
        Some((host, port)) => Ok(ClientAddress {
            host: Some(host.to_string()),
            port: parse_port(port, "client port")?,
        }),
        None => Ok(ClientAddress {
            host: None,
            port: parse_port(text, "client port")?,
        }),
    }
}

fn parse_port(text: &str, what: &str) -> Result<u16, String> {
    match text.trim().parse::<u16>() {
        Ok(port) if port != 0 => Ok(port),
        _ => Err(format!("{what} must be 1..65535, got `{text}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimal_line() {
        let s = ServerSpec::parse(1, "zk1.example.com:2888:3888").unwrap();
        assert_eq!(s.host, "zk1.example.com");
        assert_eq!((s.quorum_port, s.election_port), (2888, 3888));
        assert_eq!(s.role, PeerRole::Participant);
        assert_eq!(s.client, None);
    }

    #[test]
    fn full_line_with_client_address() {
        let s = ServerSpec::parse(3, "10.0.0.3:2888:3888:observer;0.0.0.0:2181").unwrap();
        assert_eq!(s.role, PeerRole::Observer);
        assert_eq!(
            s.client,
            Some(ClientAddress {
                host: Some("0.0.0.0".into()),
                port: 2181
            })
        );
        assert_eq!(
            s.to_string(),
            "server.3=10.0.0.3:2888:3888:observer;0.0.0.0:2181"
        );
    }

    #[test]
    fn client_port_only_and_ipv6() {
        let s = ServerSpec::parse(2, "[::1]:2888:3888;2182").unwrap();
        assert_eq!(s.host, "::1");
        assert_eq!(s.client.unwrap().port, 2182);
    }

    #[test]
    fn bad_lines() {
        for bad in [
            "zk1:2888",
            "zk1:2888:3888:voter",
            "zk1:notaport:3888",
            "zk1:2888:0",
            ":2888:3888",
            "zk1:2888:3888;x",
            "a:1:2|b:1:2",
        ] {
            assert!(ServerSpec::parse(1, bad).is_err(), "{bad}");
        }
    }
}
