//! Server side of SASL DIGEST-MD5 (RFC 2831) as ZooKeeper offers it on the
//! client port (opcode 102, digest §7.10).
//!
//! Facts this follows (read in apache/zookeeper, the JDK's DIGEST-MD5 server
//! and python-zk/kazoo with pure-sasl; no code taken from them):
//! - ZK creates the Java SASL server with protocol `zookeeper` and server name
//!   `zk-sasl-md5`; with no realm configured the JDK uses the server name as
//!   the realm, so the challenge offers `realm="zk-sasl-md5"` and the client
//!   must answer `digest-uri="zookeeper/zk-sasl-md5"`.
//! - Clients start with an empty token (kazoo sends `b""` because pure-sasl's
//!   DIGEST-MD5 has no initial response; the Java client does the same). The
//!   server answers with the digest-challenge; the client's digest-response
//!   gets `rspauth=...` back and the exchange is complete after two round
//!   trips. kazoo then verifies rspauth locally and sends nothing more.
//! - pure-sasl answers `qop=auth`, quotes realm/username/nonce/cnonce/
//!   digest-uri, sends `nc=00000001`, and sends no `charset` and no `authzid`.
//! - Passwords come from the JAAS `Server` section (`user_NAME="pw"`); an
//!   unknown user or a wrong response fails the exchange (AuthFailed, then
//!   the connection is closed by the caller).
//! - ZK's callback handler authorizes every authenticated user and sets the
//!   authorization id to the authentication id (Kerberos short name, which
//!   for a plain DIGEST user is the name itself), ignoring a client authzid.
//!   The connection gains `sasl:<id>`, and also `super:` when the id equals
//!   the `zookeeper.superUser` property (see [`identities`]).
//!
//! Only qop=auth is offered: no integrity or confidentiality layer, so no
//! wrapping of later frames. One `SaslServer` per connection, owned by the
//! client shard that holds the connection.

use crate::proto::{ErrorCode, Id};
use md5::{Digest as _, Md5};
use std::collections::HashMap;

/// The SASL protocol (service) name ZK uses.
pub const PROTOCOL: &str = "zookeeper";
/// The server name ZK hard-codes for DIGEST-MD5; also the realm.
pub const SERVER_NAME: &str = "zk-sasl-md5";
/// The realm offered in the challenge.
pub const REALM: &str = SERVER_NAME;
/// The JDK refuses digest-responses longer than this.
pub const RESPONSE_LEN_MAX: usize = 4096;

/// The outcome of one token.
/// A value returned to the shard running the exchange; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SaslStep {
    /// The token for the SetSASLResponse; `None` encodes as a null buffer.
    pub reply: Option<Vec<u8>>,
    /// The authorization id, set exactly once: on the step that completes.
    pub authenticated: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the client's first (normally empty) token.
    Start,
    /// Challenge sent; waiting for the digest-response.
    Challenged,
    Complete,
    Failed,
}

/// A per-connection DIGEST-MD5 server exchange.
#[derive(Clone, Debug)]
pub struct SaslServer {
    users: HashMap<String, String>,
    nonce: String,
    state: State,
}

impl SaslServer {
    /// A server with a fresh random nonce. The nonce is the only randomness;
    /// use [`SaslServer::with_nonce`] for deterministic runs.
    pub fn new(users: &HashMap<String, String>) -> Self {
        use base64::Engine as _;
        let bytes: [u8; 30] = rand::random();
        Self::with_nonce(
            users,
            &base64::engine::general_purpose::STANDARD.encode(bytes),
        )
    }

    /// A server with a given nonce (tests, simulation). The nonce must not
    /// contain `"` or `\` (it is sent as a quoted-string verbatim).
    pub fn with_nonce(users: &HashMap<String, String>, nonce: &str) -> Self {
        SaslServer {
            users: users.clone(),
            nonce: nonce.to_owned(),
            state: State::Start,
        }
    }

    pub fn is_complete(&self) -> bool {
        self.state == State::Complete
    }

    /// Feeds one client token. Any `Err` is final: reply AuthFailed (or
    /// SessionClosedRequireSaslAuth when SASL is enforced) and close.
    pub fn step(&mut self, token: &[u8]) -> Result<SaslStep, ErrorCode> {
        let result = match self.state {
            // A non-empty first token would be an attempt at "subsequent
            // authentication", which the JDK ignores; so do we.
            State::Start => {
                self.state = State::Challenged;
                Ok(SaslStep {
                    reply: Some(self.challenge().into_bytes()),
                    authenticated: None,
                })
            }
            State::Challenged => self.verify(token).map(|(rspauth, user)| {
                self.state = State::Complete;
                SaslStep {
                    reply: Some(format!("rspauth={rspauth}").into_bytes()),
                    authenticated: Some(user),
                }
            }),
            // A client that sends an empty token after completing gets an
            // empty reply; anything else is a protocol violation.
            State::Complete if token.is_empty() => Ok(SaslStep {
                reply: None,
                authenticated: None,
            }),
            State::Complete | State::Failed => Err(ErrorCode::AuthFailed),
        };
        if result.is_err() {
            self.state = State::Failed;
        }
        result
    }

    fn challenge(&self) -> String {
        format!(
            "realm=\"{REALM}\",nonce=\"{}\",qop=\"auth\",charset=utf-8,algorithm=md5-sess",
            self.nonce
        )
    }

    /// Checks a digest-response; returns the rspauth value and the
    /// authorization id.
    fn verify(&self, token: &[u8]) -> Result<(String, String), ErrorCode> {
        if token.len() > RESPONSE_LEN_MAX {
            return Err(ErrorCode::AuthFailed);
        }
        let d = parse_directives(token).ok_or(ErrorCode::AuthFailed)?;
        let get = |k: &str| d.get(k).map(|v| v.as_slice());
        let utf8 = match get("charset") {
            None => false,
            Some(b"utf-8") => true,
            Some(_) => return Err(ErrorCode::AuthFailed),
        };
        let username = get("username").ok_or(ErrorCode::AuthFailed)?;
        // The JDK requires the realm we offered (a missing one is "").
        if get("realm") != Some(REALM.as_bytes()) {
            return Err(ErrorCode::AuthFailed);
        }
        let nonce = get("nonce").ok_or(ErrorCode::AuthFailed)?;
        if nonce != self.nonce.as_bytes() {
            return Err(ErrorCode::AuthFailed);
        }
        let cnonce = get("cnonce").ok_or(ErrorCode::AuthFailed)?;
        let nc = get("nc").unwrap_or(b"00000001");
        if std::str::from_utf8(nc)
            .ok()
            .and_then(|s| u32::from_str_radix(s, 16).ok())
            != Some(1)
        {
            return Err(ErrorCode::AuthFailed);
        }
        let qop = get("qop").unwrap_or(b"auth");
        if qop != b"auth" {
            return Err(ErrorCode::AuthFailed);
        }
        let uri = get("digest-uri").ok_or(ErrorCode::AuthFailed)?;
        let expected_uri = format!("{PROTOCOL}/{SERVER_NAME}");
        if !uri.eq_ignore_ascii_case(expected_uri.as_bytes()) {
            return Err(ErrorCode::AuthFailed);
        }
        let response = get("response").ok_or(ErrorCode::AuthFailed)?;
        let authzid = get("authzid");

        // Usernames arrive as UTF-8 (Java with charset) or as UTF-8 without
        // saying so (pure-sasl); Latin-1 is the RFC default for the rest.
        let user = match std::str::from_utf8(username) {
            Ok(s) => s.to_owned(),
            Err(_) => username.iter().map(|&b| b as char).collect(),
        };
        let password = self.users.get(&user).ok_or(ErrorCode::AuthFailed)?;

        // RFC 2831 §2.1.2.1: strings that fit Latin-1 are hashed as Latin-1
        // even with charset=utf-8 (the JDK does this). pure-sasl hashes raw
        // UTF-8 and sends no charset, so a non-ASCII password from it only
        // matches the second candidate; accepting it still needs the password.
        let mut candidates = vec![secret_hash(
            &[user.as_str(), REALM, password.as_str()],
            utf8,
        )];
        let raw = md5_of(&[
            user.as_bytes(),
            b":",
            REALM.as_bytes(),
            b":",
            password.as_bytes(),
        ]);
        if raw != candidates[0] {
            candidates.push(raw);
        }
        let a2 = [b"AUTHENTICATE:".as_slice(), uri].concat();
        let response = response.to_ascii_lowercase();
        for secret in candidates {
            let ha1 = ha1_hex(&secret, nonce, cnonce, authzid);
            let expected = response_value(&ha1, nonce, nc, cnonce, qop, &a2);
            if constant_time_eq(expected.as_bytes(), &response) {
                let rspauth = response_value(
                    &ha1,
                    nonce,
                    nc,
                    cnonce,
                    qop,
                    &[b":".as_slice(), uri].concat(),
                );
                return Ok((rspauth, user));
            }
        }
        Err(ErrorCode::AuthFailed)
    }
}

/// The identities a completed exchange gives the connection: `sasl:<id>`,
/// plus `super:` when `id` equals `zookeeper.superUser`.
pub fn identities(authorization_id: &str, super_user: Option<&str>) -> Vec<Id> {
    let mut ids = vec![Id::new("sasl", authorization_id)];
    if super_user == Some(authorization_id) {
        ids.push(Id::new("super", ""));
    }
    ids
}

fn md5_of(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

/// Latin-1 bytes when every char fits, else UTF-8 if allowed, else Latin-1
/// with `?` for unmappable chars.
fn rfc_bytes(s: &str, utf8: bool) -> Vec<u8> {
    if s.chars().all(|c| (c as u32) <= 0xFF) {
        s.chars().map(|c| c as u8).collect()
    } else if utf8 {
        s.as_bytes().to_vec()
    } else {
        // The JDK substitutes '?' for unmappable chars; mirror it so the
        // hash is at least well defined.
        s.chars()
            .map(|c| if (c as u32) <= 0xFF { c as u8 } else { b'?' })
            .collect()
    }
}

/// H(username ":" realm ":" passwd), each encoded per RFC 2831.
fn secret_hash(parts: &[&str; 3], utf8: bool) -> [u8; 16] {
    let [u, r, p] = parts.map(|s| rfc_bytes(s, utf8));
    md5_of(&[&u, b":", &r, b":", &p])
}

/// HEX(H(A1)) with A1 = H(secret) ":" nonce ":" cnonce [":" authzid].
fn ha1_hex(secret: &[u8; 16], nonce: &[u8], cnonce: &[u8], authzid: Option<&[u8]>) -> String {
    let mut parts: Vec<&[u8]> = vec![secret, b":", nonce, b":", cnonce];
    if let Some(a) = authzid {
        parts.push(b":");
        parts.push(a);
    }
    hex(&md5_of(&parts))
}

/// HEX(KD(HEX(H(A1)), nonce ":" nc ":" cnonce ":" qop ":" HEX(H(A2)))).
fn response_value(
    ha1: &str,
    nonce: &[u8],
    nc: &[u8],
    cnonce: &[u8],
    qop: &[u8],
    a2: &[u8],
) -> String {
    let ha2 = hex(&md5_of(&[a2]));
    hex(&md5_of(&[
        ha1.as_bytes(),
        b":",
        nonce,
        b":",
        nc,
        b":",
        cnonce,
        b":",
        qop,
        b":",
        ha2.as_bytes(),
    ]))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Parses `name=value` pairs (value a token or a quoted-string with `\`
/// escapes), separated by commas with optional whitespace. Names are
/// lower-cased. `None` on malformed input or a repeated directive (every
/// directive of a digest-response may appear at most once).
fn parse_directives(input: &[u8]) -> Option<HashMap<String, Vec<u8>>> {
    let mut out = HashMap::new();
    let mut i = 0;
    let skip_ws = |i: &mut usize| {
        while *i < input.len() && matches!(input[*i], b' ' | b'\t' | b'\r' | b'\n') {
            *i += 1;
        }
    };
    loop {
        skip_ws(&mut i);
        while i < input.len() && input[i] == b',' {
            i += 1;
            skip_ws(&mut i);
        }
        if i >= input.len() {
            return Some(out);
        }
        let start = i;
        while i < input.len() && input[i] != b'=' && input[i] != b',' {
            i += 1;
        }
        if i >= input.len() || input[i] != b'=' {
            return None;
        }
        let name = std::str::from_utf8(&input[start..i])
            .ok()?
            .trim()
            .to_ascii_lowercase();
        if name.is_empty() {
            return None;
        }
        i += 1;
        skip_ws(&mut i);
        let mut value = Vec::new();
        if i < input.len() && input[i] == b'"' {
            i += 1;
            loop {
                match input.get(i)? {
                    b'"' => {
                        i += 1;
                        break;
                    }
                    b'\\' => {
                        value.push(*input.get(i + 1)?);
                        i += 2;
                    }
                    &b => {
                        value.push(b);
                        i += 1;
                    }
                }
            }
        } else {
            while i < input.len() && input[i] != b',' {
                value.push(input[i]);
                i += 1;
            }
            while value.last().is_some_and(|b| b.is_ascii_whitespace()) {
                value.pop();
            }
        }
        if out.insert(name, value).is_some() {
            return None;
        }
        skip_ws(&mut i);
        if i < input.len() && input[i] != b',' {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A DIGEST-MD5 client written from RFC 2831 §2.1.2, shaped like
    /// pure-sasl's (no charset, qop=auth, nc=00000001), independent of the
    /// server's helper functions.
    fn client_response(
        challenge: &[u8],
        user: &str,
        password: &str,
        authzid: Option<&str>,
    ) -> Vec<u8> {
        let text = std::str::from_utf8(challenge).unwrap();
        let field = |name: &str| -> String {
            let start = text.find(&format!("{name}=")).unwrap() + name.len() + 1;
            let rest = &text[start..];
            if let Some(stripped) = rest.strip_prefix('"') {
                stripped[..stripped.find('"').unwrap()].to_owned()
            } else {
                rest.split(',').next().unwrap().to_owned()
            }
        };
        let (realm, nonce) = (field("realm"), field("nonce"));
        let cnonce = "OA6MHXh6VqTrRk";
        let uri = "zookeeper/zk-sasl-md5";
        let md5 = |b: &[u8]| -> Vec<u8> { Md5::digest(b).to_vec() };
        let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut a1 = md5(format!("{user}:{realm}:{password}").as_bytes());
        a1.extend_from_slice(format!(":{nonce}:{cnonce}").as_bytes());
        if let Some(z) = authzid {
            a1.extend_from_slice(format!(":{z}").as_bytes());
        }
        let ha1 = hexs(&md5(&a1));
        let ha2 = hexs(&md5(format!("AUTHENTICATE:{uri}").as_bytes()));
        let resp = hexs(&md5(
            format!("{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}").as_bytes()
        ));
        let mut s = format!(
            "qop=auth,realm=\"{realm}\",username=\"{user}\",nonce=\"{nonce}\",cnonce=\"{cnonce}\",\
             nc=00000001,digest-uri=\"{uri}\",response={resp}"
        );
        if let Some(z) = authzid {
            s.push_str(&format!(",authzid=\"{z}\""));
        }
        // The client checks rspauth with A2 = ":" digest-uri.
        s.into_bytes()
    }

    fn expected_rspauth(challenge: &[u8], user: &str, password: &str) -> String {
        let text = std::str::from_utf8(challenge).unwrap();
        let nonce = text
            .split("nonce=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let md5 = |b: &[u8]| -> Vec<u8> { Md5::digest(b).to_vec() };
        let hexs = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
        let mut a1 = md5(format!("{user}:zk-sasl-md5:{password}").as_bytes());
        a1.extend_from_slice(format!(":{nonce}:OA6MHXh6VqTrRk").as_bytes());
        let ha1 = hexs(&md5(&a1));
        let ha2 = hexs(&md5(b":zookeeper/zk-sasl-md5"));
        format!(
            "rspauth={}",
            hexs(&md5(format!(
                "{ha1}:{nonce}:00000001:OA6MHXh6VqTrRk:auth:{ha2}"
            )
            .as_bytes()))
        )
    }

    fn users() -> HashMap<String, String> {
        HashMap::from([
            ("bob".to_owned(), "bobsecret".to_owned()),
            ("super".to_owned(), "adm".to_owned()),
        ])
    }

    #[test]
    fn full_exchange_like_kazoo() {
        let mut s = SaslServer::new(&users());
        let first = s.step(b"").unwrap();
        assert_eq!(first.authenticated, None);
        let challenge = first.reply.unwrap();
        let text = String::from_utf8(challenge.clone()).unwrap();
        assert!(text.contains("realm=\"zk-sasl-md5\""), "{text}");
        assert!(text.contains("algorithm=md5-sess"));
        let done = s
            .step(&client_response(&challenge, "bob", "bobsecret", None))
            .unwrap();
        assert_eq!(done.authenticated.as_deref(), Some("bob"));
        assert_eq!(
            String::from_utf8(done.reply.unwrap()).unwrap(),
            expected_rspauth(&challenge, "bob", "bobsecret")
        );
        assert!(s.is_complete());
        // A trailing empty token is tolerated, anything else is not.
        assert_eq!(
            s.step(b"").unwrap(),
            SaslStep {
                reply: None,
                authenticated: None
            }
        );
        assert_eq!(s.step(b"x=1"), Err(ErrorCode::AuthFailed));
    }

    #[test]
    fn client_authzid_is_hashed_but_identity_is_the_user() {
        let mut s = SaslServer::with_nonce(&users(), "fixednonce");
        let challenge = s.step(b"").unwrap().reply.unwrap();
        let done = s
            .step(&client_response(
                &challenge,
                "bob",
                "bobsecret",
                Some("someoneelse"),
            ))
            .unwrap();
        assert_eq!(done.authenticated.as_deref(), Some("bob"));
    }

    #[test]
    fn wrong_password_unknown_user_and_tampering_fail() {
        for (user, pw) in [("bob", "wrong"), ("mallory", "bobsecret")] {
            let mut s = SaslServer::new(&users());
            let challenge = s.step(b"").unwrap().reply.unwrap();
            assert_eq!(
                s.step(&client_response(&challenge, user, pw, None)),
                Err(ErrorCode::AuthFailed)
            );
            // Failure is final.
            assert_eq!(s.step(b""), Err(ErrorCode::AuthFailed));
        }
        let mut s = SaslServer::with_nonce(&users(), "n1");
        let challenge = s.step(b"").unwrap().reply.unwrap();
        let good =
            String::from_utf8(client_response(&challenge, "bob", "bobsecret", None)).unwrap();
        for bad in [
            good.replace("zookeeper/zk-sasl-md5", "zookeeper/other"),
            good.replace("nonce=\"n1\"", "nonce=\"n2\""),
            good.replace("nc=00000001", "nc=00000002"),
            good.replace("qop=auth", "qop=auth-conf"),
            format!("{good},username=\"bob\""),
            good.replace("realm=\"zk-sasl-md5\",", ""),
            "garbage".to_owned(),
            "a=\"unterminated".to_owned(),
        ] {
            let mut s = SaslServer::with_nonce(&users(), "n1");
            s.step(b"").unwrap();
            assert_eq!(s.step(bad.as_bytes()), Err(ErrorCode::AuthFailed), "{bad}");
        }
        let mut s = SaslServer::with_nonce(&users(), "n1");
        s.step(b"").unwrap();
        assert_eq!(
            s.step(&vec![b'a'; RESPONSE_LEN_MAX + 1]),
            Err(ErrorCode::AuthFailed)
        );
    }

    #[test]
    fn non_ascii_password_from_pure_sasl_style_client() {
        let users = HashMap::from([("ünï".to_owned(), "pässwörd✓".to_owned())]);
        let mut s = SaslServer::with_nonce(&users, "n");
        let challenge = s.step(b"").unwrap().reply.unwrap();
        let done = s
            .step(&client_response(&challenge, "ünï", "pässwörd✓", None))
            .unwrap();
        assert_eq!(done.authenticated.as_deref(), Some("ünï"));
    }

    #[test]
    fn super_identity_only_with_super_user_property() {
        assert_eq!(identities("super", None), vec![Id::new("sasl", "super")]);
        assert_eq!(
            identities("super", Some("super")),
            vec![Id::new("sasl", "super"), Id::new("super", "")]
        );
        assert_eq!(identities("bob", Some("super")).len(), 1);
    }

    #[test]
    fn directive_parser() {
        let d = parse_directives(b" a=1 , b=\"x\\\"y\",,C = tok ").unwrap();
        assert_eq!(d["a"], b"1");
        assert_eq!(d["b"], b"x\"y");
        assert_eq!(d["c"], b"tok");
        assert!(parse_directives(b"a=1,a=2").is_none());
        assert!(parse_directives(b"novalue").is_none());
        assert!(parse_directives(b"a=\"x\"junk").is_none());
    }
}
