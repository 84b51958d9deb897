//! SQLite's lexer (`src/tokenize.c`) as far as comments, strings, quoted
//! names and variables go.

use super::{Part, find_from, mark, quoted_end};

/// Marks each byte of `bytes` as SQLite reads it.
pub(super) fn scan(bytes: &[u8]) -> Vec<Part> {
    let mut parts = vec![Part::Code; bytes.len()];
    let mut at = 0;
    while at < bytes.len() {
        let next = bytes.get(at + 1).copied();
        at = match bytes[at] {
            // Runs to the line feed only.
            b'-' if next == Some(b'-') => {
                let end = find_from(bytes, at, |b| b == b'\n');
                mark(&mut parts, at, end, Part::Comment);
                end
            }
            // Does not nest; an unterminated one runs to the end, silently.
            b'/' if next == Some(b'*') => {
                let end = bytes[at + 2..]
                    .windows(2)
                    .position(|pair| pair == b"*/")
                    .map_or(bytes.len(), |offset| at + 2 + offset + 2);
                mark(&mut parts, at, end, Part::Comment);
                end
            }
            quote @ (b'\'' | b'"' | b'`') => {
                let end = quoted_end(bytes, at, quote, false);
                mark(&mut parts, at, end, Part::Quoted);
                end
            }
            // `[name]`: no escapes, ends at the first `]`.
            b'[' => {
                let end = find_from(bytes, at, |b| b == b']')
                    .saturating_add(1)
                    .min(bytes.len());
                mark(&mut parts, at, end, Part::Quoted);
                end
            }
            b'$' | b'@' | b':' | b'#' => variable(bytes, at, &mut parts),
            byte if is_id_char(byte) => find_from(bytes, at, |b| !is_id_char(b)),
            _ => at + 1,
        };
    }
    parts
}

/// `IdChar`: letters, digits, `_`, `$` and bytes of non-ASCII characters.
fn is_id_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// A `$name`, `@name`, `:name` or `#name` variable. SQLite also takes Tcl's
/// forms: `$name::part`, and `$name(anything up to a space or ')')`, so
/// `$a(;DELETE/**/FROM/**/t)` is one variable, not a statement. The
/// parenthesised part is marked as quoted: text SQLite does not parse.
fn variable(bytes: &[u8], at: usize, parts: &mut [Part]) -> usize {
    let mut end = at + 1;
    let mut name_len = 0;
    while end < bytes.len() {
        match bytes[end] {
            b if is_id_char(b) => {
                name_len += 1;
                end += 1;
            }
            b'(' if name_len > 0 => {
                let close = find_from(bytes, end, |b| b == b')' || b.is_ascii_whitespace());
                let stop = if bytes.get(close) == Some(&b')') {
                    close + 1
                } else {
                    close
                };
                mark(parts, end, stop, Part::Quoted);
                return stop;
            }
            b':' if bytes.get(end + 1) == Some(&b':') => end += 2,
            _ => break,
        }
    }
    end
}
