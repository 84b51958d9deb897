//! MySQL's and MariaDB's lexer (`sql/sql_lex.cc`) as far as comments,
//! strings and quoted names go, in the default SQL mode (no `ANSI_QUOTES`,
//! no `NO_BACKSLASH_ESCAPES`).

use super::{Part, find_from, mark, position, quoted_end, refusal};
use crate::ParseError;

/// Marks each byte of `sql` as MySQL reads it; refuses executable comments.
pub(super) fn scan(sql: &str) -> Result<Vec<Part>, ParseError> {
    let bytes = sql.as_bytes();
    let mut parts = vec![Part::Code; bytes.len()];
    let mut at = 0;
    while at < bytes.len() {
        let next = bytes.get(at + 1).copied();
        at = match bytes[at] {
            b'#' => line_comment(bytes, at, &mut parts),
            // `--` starts a comment only before a space or a control
            // character (or the end): `1--1` is one minus minus one.
            b'-' if next == Some(b'-')
                && bytes.get(at + 2).is_none_or(|&b| b <= b' ' || b == 0x7f) =>
            {
                line_comment(bytes, at, &mut parts)
            }
            b'/' if next == Some(b'*') => {
                let body = &bytes[at + 2..];
                if body.starts_with(b"!") || body.starts_with(b"M!") {
                    return Err(refusal(format!(
                        "executable comment at {}: MySQL and MariaDB run what is inside `/*!...*/` and `/*M!...*/`, depending on their version; write the SQL without it",
                        position(sql, at)
                    )));
                }
                // Block comments do not nest.
                let end = body
                    .windows(2)
                    .position(|pair| pair == b"*/")
                    .map_or(bytes.len(), |offset| at + 2 + offset + 2);
                mark(&mut parts, at, end, Part::Comment);
                end
            }
            quote @ (b'\'' | b'"') => {
                let end = quoted_end(bytes, at, quote, true);
                mark(&mut parts, at, end, Part::Quoted);
                end
            }
            b'`' => {
                let end = quoted_end(bytes, at, b'`', false);
                mark(&mut parts, at, end, Part::Quoted);
                end
            }
            // Names and numbers (MySQL names may start with a digit).
            byte if is_word(byte) => {
                let end = find_from(bytes, at, |b| !is_word(b));
                // `X'...'` and `B'...'` are hex and bit literals: no
                // escapes, they end at the next quote.
                if matches!(&bytes[at..end], b"x" | b"X" | b"b" | b"B")
                    && bytes.get(end) == Some(&b'\'')
                {
                    let literal_end = find_from(bytes, end + 1, |b| b == b'\'').saturating_add(1);
                    mark(&mut parts, end, literal_end, Part::Quoted);
                    literal_end.min(bytes.len())
                } else {
                    end
                }
            }
            _ => at + 1,
        };
    }
    Ok(parts)
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// `#` and `-- ` comments run to the line feed (a carriage return does not
/// end them).
fn line_comment(bytes: &[u8], at: usize, parts: &mut [Part]) -> usize {
    let end = find_from(bytes, at, |b| b == b'\n');
    mark(parts, at, end, Part::Comment);
    end
}
