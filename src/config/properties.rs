//! A reader for Java `.properties` text, the syntax of zoo.cfg.
//!
//! Apache ZooKeeper loads zoo.cfg with `java.util.Properties`, so a drop-in
//! replacement has to accept the same syntax, not just `key=value`:
//! - comment lines start (after leading blanks) with `#` or `!`;
//! - the key ends at the first unescaped `=`, `:` or blank; blanks around the
//!   separator are skipped (`key = value`, `key: value`, `key value`);
//! - a line ending in an odd number of backslashes continues on the next
//!   line, whose leading blanks are dropped;
//! - escapes `\t \n \r \f \uXXXX` are decoded, any other `\c` is `c`.
//!
//! ZooKeeper then trims keys and values, and so do we. Each property keeps the
//! line number it started on, so configuration errors can point at it.
//!
//! Pure: no I/O.

/// One `key=value` entry of a properties file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Property {
    /// The key, unescaped and trimmed.
    pub key: String,
    /// The value, unescaped and trimmed (an absent value is "").
    pub value: String,
    /// 1-based line number of the first physical line of the entry.
    pub line: usize,
}

/// Splits properties text into entries, in file order. Duplicate keys are all
/// returned; the caller applies them in order so the last one wins, as with
/// `java.util.Properties`.
pub fn parse(text: &str) -> Vec<Property> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((index, first)) = lines.next() {
        let start = first.trim_start_matches(is_blank);
        if start.is_empty() || start.starts_with('#') || start.starts_with('!') {
            continue;
        }
        // Join continuation lines into one logical line.
        let mut logical = String::from(start);
        while ends_with_continuation(&logical) {
            logical.pop();
            match lines.next() {
                Some((_, next)) => logical.push_str(next.trim_start_matches(is_blank)),
                None => break,
            }
        }
        let (raw_key, raw_value) = split_key_value(&logical);
        out.push(Property {
            key: unescape(raw_key).trim().to_string(),
            value: unescape(raw_value).trim().to_string(),
            line: index + 1,
        });
    }
    out
}

/// Blanks as `java.util.Properties` sees them.
fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\u{c}'
}

/// True when the line ends in an odd number of backslashes.
fn ends_with_continuation(line: &str) -> bool {
    line.bytes().rev().take_while(|&b| b == b'\\').count() % 2 == 1
}

/// Splits a logical line at the first unescaped separator.
fn split_key_value(line: &str) -> (&str, &str) {
    let bytes = line.as_bytes();
    let mut i = 0;
    let mut key_end = bytes.len();
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'=' | b':' | b' ' | b'\t' | 0x0c => {
                key_end = i;
                break;
            }
            _ => i += 1,
        }
    }
    if key_end >= bytes.len() {
        return (line, "");
    }
    let mut rest = line[key_end..].trim_start_matches(is_blank);
    // A blank separator may be followed by one `=` or `:`.
    if bytes[key_end] != b'=' && bytes[key_end] != b':' {
        if let Some(r) = rest.strip_prefix(['=', ':']) {
            rest = r;
        }
    } else {
        rest = &line[key_end + 1..];
    }
    (&line[..key_end], rest.trim_start_matches(is_blank))
}

/// Decodes the escapes `java.util.Properties` understands.
fn unescape(raw: &str) -> String {
    if !raw.contains('\\') {
        return raw.to_string();
    }
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('t') => out.push('\t'),
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(decoded) => out.push(decoded),
                    // Java throws here; keeping the text is kinder and the
                    // value check that follows will still reject nonsense.
                    None => {
                        out.push_str("\\u");
                        out.push_str(&hex);
                    }
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(text: &str) -> Vec<(String, String, usize)> {
        parse(text)
            .into_iter()
            .map(|p| (p.key, p.value, p.line))
            .collect()
    }

    #[test]
    fn separators_comments_and_blanks() {
        let text = "# comment\n! also comment\n\n a=1\nb : 2\nc 3\nd\t= 4 \ne=\nf\n";
        assert_eq!(
            kv(text),
            vec![
                ("a".into(), "1".into(), 4),
                ("b".into(), "2".into(), 5),
                ("c".into(), "3".into(), 6),
                ("d".into(), "4".into(), 7),
                ("e".into(), "".into(), 8),
                ("f".into(), "".into(), 9),
            ]
        );
    }

    #[test]
    fn value_keeps_later_separators() {
        assert_eq!(
            kv("server.1=zk1:2888:3888;2181"),
            vec![("server.1".into(), "zk1:2888:3888;2181".into(), 1)]
        );
    }

    #[test]
    fn continuation_and_escapes() {
        let text = "list=a,\\\n    b\nkey\\:x=v\\tw\nuni=\\u0041\\\\\n";
        assert_eq!(
            kv(text),
            vec![
                ("list".into(), "a,b".into(), 1),
                ("key:x".into(), "v\tw".into(), 3),
                ("uni".into(), "A\\".into(), 4),
            ]
        );
    }
}
