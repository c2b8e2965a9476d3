//! JAAS login configuration files, as ZooKeeper reads them for SASL.
//!
//! Grammar (Java's `ConfigFile`):
//!
//! ```text
//! file    := section*
//! section := NAME '{' entry* '}' ';'
//! entry   := CLASS FLAG (KEY '=' VALUE)* ';'
//! FLAG    := required | requisite | sufficient | optional   (any case)
//! VALUE   := "quoted string" | bare-token
//! ```
//!
//! `//` line comments and `/* */` block comments may appear between tokens.
//! ZooKeeper's DIGEST-MD5 server takes every option named `user_NAME` in the
//! `Server` section (the name is `zookeeper.sasl.serverconfig`, default
//! `Server`) as the password of `NAME`; other options and sections (Client,
//! QuorumServer, ...) are parsed and ignored.
//!
//! Pure: the caller reads the file (edge I/O) and hands the text in.

use std::collections::HashMap;

/// One parse error, with the 1-based line it was found on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JaasError {
    #[error("line {line}: expected {expected}, found {found}")]
    Expected {
        line: usize,
        expected: &'static str,
        found: String,
    },
    #[error("line {line}: unterminated quoted string")]
    UnterminatedString { line: usize },
    #[error("line {line}: unterminated /* comment")]
    UnterminatedComment { line: usize },
    #[error(
        "line {line}: invalid control flag {flag:?} (required, requisite, sufficient, optional)"
    )]
    InvalidFlag { line: usize, flag: String },
    #[error("line {line}: section {name:?} is defined twice")]
    DuplicateSection { line: usize, name: String },
    #[error("no {0:?} section in the JAAS file")]
    MissingSection(String),
}

/// A login module's control flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlFlag {
    Required,
    Requisite,
    Sufficient,
    Optional,
}

/// One `class flag options;` entry.
/// A value: parsed on the main thread at start-up; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginModule {
    pub class: String,
    pub flag: ControlFlag,
    /// Options in file order; a repeated key keeps its last value when read
    /// through [`JaasConfig::users`] (Java stores them in a map).
    pub options: Vec<(String, String)>,
}

/// One named section (`Server`, `Client`, ...).
/// A value: parsed on the main thread at start-up; no executor owns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JaasSection {
    pub name: String,
    pub modules: Vec<LoginModule>,
}

/// A parsed JAAS file.
/// A value: parsed on the main thread at start-up; no executor owns it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct JaasConfig {
    pub sections: Vec<JaasSection>,
}

/// ZooKeeper's default server login context name.
pub const DEFAULT_SERVER_SECTION: &str = "Server";
const USER_PREFIX: &str = "user_";

impl JaasConfig {
    pub fn section(&self, name: &str) -> Option<&JaasSection> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The DIGEST-MD5 users of section `name`: every `user_NAME=password`
    /// option of every module in it.
    pub fn users(&self, name: &str) -> Result<HashMap<String, String>, JaasError> {
        let section = self
            .section(name)
            .ok_or_else(|| JaasError::MissingSection(name.to_owned()))?;
        let mut users = HashMap::new();
        for module in &section.modules {
            for (key, value) in &module.options {
                if let Some(user) = key.strip_prefix(USER_PREFIX) {
                    users.insert(user.to_owned(), value.clone());
                }
            }
        }
        Ok(users)
    }
}

/// Parses a whole JAAS file.
pub fn parse(text: &str) -> Result<JaasConfig, JaasError> {
    let tokens = tokenize(text)?;
    let mut p = Parser { tokens, pos: 0 };
    let mut cfg = JaasConfig::default();
    while let Some(tok) = p.peek() {
        let line = tok.line;
        let name = p.word("a section name")?;
        if cfg.section(&name).is_some() {
            return Err(JaasError::DuplicateSection { line, name });
        }
        p.punct('{', "'{'")?;
        let mut modules = Vec::new();
        while !p.at_punct('}') {
            modules.push(p.module()?);
        }
        p.punct('}', "'}'")?;
        p.punct(';', "';' after '}'")?;
        cfg.sections.push(JaasSection { name, modules });
    }
    Ok(cfg)
}

/// Parses `text` and returns the `Server` section's users.
pub fn server_users(text: &str) -> Result<HashMap<String, String>, JaasError> {
    parse(text)?.users(DEFAULT_SERVER_SECTION)
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TokKind {
    Word(String),
    Quoted(String),
    Punct(char),
}

#[derive(Clone, Debug)]
struct Token {
    kind: TokKind,
    line: usize,
}

impl Token {
    fn describe(&self) -> String {
        match &self.kind {
            TokKind::Word(w) => format!("{w:?}"),
            TokKind::Quoted(q) => format!("quoted string {q:?}"),
            TokKind::Punct(c) => format!("'{c}'"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, JaasError> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\n' => {
                line += 1;
                i += 1;
            }
            c if c.is_whitespace() => i += 1,
            '/' if chars.get(i + 1) == Some(&'/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '/' if chars.get(i + 1) == Some(&'*') => {
                let start = line;
                i += 2;
                loop {
                    match chars.get(i) {
                        None => return Err(JaasError::UnterminatedComment { line: start }),
                        Some('*') if chars.get(i + 1) == Some(&'/') => {
                            i += 2;
                            break;
                        }
                        Some('\n') => line += 1,
                        Some(_) => {}
                    }
                    i += 1;
                }
            }
            '{' | '}' | ';' | '=' => {
                out.push(Token {
                    kind: TokKind::Punct(c),
                    line,
                });
                i += 1;
            }
            '"' => {
                let start = line;
                let mut s = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return Err(JaasError::UnterminatedString { line: start }),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        // Backslash escapes the next character (Java's
                        // StreamTokenizer also knows \n, \t; passwords with
                        // those are vanishingly rare, keep them literal).
                        Some('\\') if i + 1 < chars.len() => {
                            s.push(chars[i + 1]);
                            if chars[i + 1] == '\n' {
                                line += 1;
                            }
                            i += 2;
                        }
                        Some(&ch) => {
                            if ch == '\n' {
                                line += 1;
                            }
                            s.push(ch);
                            i += 1;
                        }
                    }
                }
                out.push(Token {
                    kind: TokKind::Quoted(s),
                    line: start,
                });
            }
            _ => {
                let mut w = String::new();
                while let Some(&ch) = chars.get(i) {
                    let comment = ch == '/' && matches!(chars.get(i + 1), Some('/') | Some('*'));
                    if ch.is_whitespace() || matches!(ch, '{' | '}' | ';' | '=' | '"') || comment {
                        break;
                    }
                    w.push(ch);
                    i += 1;
                }
                out.push(Token {
                    kind: TokKind::Word(w),
                    line,
                });
            }
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn last_line(&self) -> usize {
        self.tokens.last().map_or(1, |t| t.line)
    }

    fn expected(&self, expected: &'static str) -> JaasError {
        match self.peek() {
            Some(t) => JaasError::Expected {
                line: t.line,
                expected,
                found: t.describe(),
            },
            None => JaasError::Expected {
                line: self.last_line(),
                expected,
                found: "end of file".into(),
            },
        }
    }

    fn word(&mut self, expected: &'static str) -> Result<String, JaasError> {
        match self.peek().map(|t| &t.kind) {
            Some(TokKind::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.expected(expected)),
        }
    }

    fn at_punct(&self, c: char) -> bool {
        matches!(self.peek().map(|t| &t.kind), Some(TokKind::Punct(p)) if *p == c)
    }

    fn punct(&mut self, c: char, expected: &'static str) -> Result<(), JaasError> {
        if self.at_punct(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.expected(expected))
        }
    }

    fn module(&mut self) -> Result<LoginModule, JaasError> {
        let class = self.word("a login module class name")?;
        let flag_line = self.peek().map_or(self.last_line(), |t| t.line);
        let flag_word = self.word("a control flag")?;
        let flag = match flag_word.to_ascii_lowercase().as_str() {
            "required" => ControlFlag::Required,
            "requisite" => ControlFlag::Requisite,
            "sufficient" => ControlFlag::Sufficient,
            "optional" => ControlFlag::Optional,
            _ => {
                return Err(JaasError::InvalidFlag {
                    line: flag_line,
                    flag: flag_word,
                })
            }
        };
        let mut options = Vec::new();
        while !self.at_punct(';') {
            let key = self.word("an option name or ';'")?;
            self.punct('=', "'=' after an option name")?;
            let value = match self.peek().map(|t| &t.kind) {
                Some(TokKind::Quoted(s)) | Some(TokKind::Word(s)) => s.clone(),
                _ => return Err(self.expected("an option value")),
            };
            self.pos += 1;
            options.push((key, value));
        }
        self.punct(';', "';'")?;
        Ok(LoginModule {
            class,
            flag,
            options,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
// ZooKeeper server credentials
Server {
    org.apache.zookeeper.server.auth.DigestLoginModule required
    user_super="adminsecret"   /* the admin */
    user_bob="bob\"pw";
};

/* Client side,
   ignored by the server */
Client {
  org.apache.zookeeper.server.auth.DigestLoginModule required
  username="bob"
  password="bobsecret";
};
"#;

    #[test]
    fn server_section_users() {
        let users = server_users(SAMPLE).unwrap();
        assert_eq!(users.len(), 2);
        assert_eq!(users["super"], "adminsecret");
        assert_eq!(users["bob"], "bob\"pw");
        let cfg = parse(SAMPLE).unwrap();
        assert_eq!(cfg.sections.len(), 2);
        assert_eq!(
            cfg.section("Client").unwrap().modules[0].options[0],
            ("username".into(), "bob".into())
        );
        assert_eq!(cfg.sections[0].modules[0].flag, ControlFlag::Required);
    }

    #[test]
    fn one_liner_and_bare_values() {
        let users = server_users(
            "Server { org.apache.zookeeper.server.auth.DigestLoginModule REQUIRED user_a=plain user_b=\"x y\"; };",
        )
        .unwrap();
        assert_eq!(users["a"], "plain");
        assert_eq!(users["b"], "x y");
    }

    #[test]
    fn typed_errors_with_lines() {
        assert_eq!(
            server_users("Client { a required; };"),
            Err(JaasError::MissingSection("Server".into()))
        );
        assert_eq!(
            parse("Server {\n  m bogus;\n};"),
            Err(JaasError::InvalidFlag {
                line: 2,
                flag: "bogus".into()
            })
        );
        assert!(matches!(
            parse("Server {\n m required\n user_a=\"x\"\n};"),
            Err(JaasError::Expected { line: 4, .. })
        ));
        assert_eq!(
            parse("Server {\n m required user_a=\"x;\n};"),
            Err(JaasError::UnterminatedString { line: 2 })
        );
        assert_eq!(
            parse("\n/* open"),
            Err(JaasError::UnterminatedComment { line: 2 })
        );
        assert!(matches!(
            parse("Server { m required; }"),
            Err(JaasError::Expected { line: 1, .. })
        ));
        assert_eq!(
            parse("A { m required; };\nA { m required; };"),
            Err(JaasError::DuplicateSection {
                line: 2,
                name: "A".into()
            })
        );
        assert!(matches!(
            parse("Server { m required user_a= ; };"),
            Err(JaasError::Expected { .. })
        ));
    }
}
