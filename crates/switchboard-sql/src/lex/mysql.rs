//! MySQL's and MariaDB's lexer (`sql/sql_lex.cc`) as far as comments,
//! strings and quoted names go, in the default SQL mode (no `ANSI_QUOTES`,
//! no `NO_BACKSLASH_ESCAPES`).

use super::{Part, Region, Scan, position, refusal};
use crate::ParseError;

/// The comments and quoted runs of `sql` as MySQL reads it; refuses
/// executable comments.
pub(super) fn scan(sql: &str) -> Result<Vec<Region>, ParseError> {
    let mut scan = Scan::new(sql);
    let len = scan.bytes.len();
    let mut at = 0;
    while at < len {
        let next = scan.bytes.get(at + 1).copied();
        at = match scan.bytes[at] {
            // `#` and `-- ` comments run to the line feed (a carriage
            // return does not end them). `--` starts a comment only before
            // a space or a control character (or the end): `1--1` is one
            // minus minus one.
            b'#' => line_comment(&mut scan, at),
            b'-' if next == Some(b'-')
                && scan
                    .bytes
                    .get(at + 2)
                    .is_none_or(|&b| b <= b' ' || b == 0x7f) =>
            {
                line_comment(&mut scan, at)
            }
            b'/' if next == Some(b'*') => {
                let body = &scan.bytes[at + 2..];
                if body.starts_with(b"!") || body.starts_with(b"M!") {
                    return Err(refusal(format!(
                        "executable comment at {}: MySQL and MariaDB run what is inside `/*!...*/` and `/*M!...*/`, depending on their version; write the SQL without it",
                        position(sql, at)
                    )));
                }
                // Block comments do not nest.
                let close = scan.find_str(at + 2, "*/");
                scan.mark(at, close.saturating_add(2), Part::Comment)
            }
            quote @ (b'\'' | b'"') => {
                let end = scan.quoted_end(at, quote, true);
                scan.mark(at, end, Part::Quoted)
            }
            b'`' => {
                let end = scan.quoted_end(at, b'`', false);
                scan.mark(at, end, Part::Quoted)
            }
            // Names and numbers (MySQL names may start with a digit).
            byte if is_word(byte) => {
                let end = scan.run(at, is_word);
                // `X'...'` and `B'...'` are hex and bit literals: no
                // escapes, they end at the next quote.
                if matches!(&scan.bytes[at..end], b"x" | b"X" | b"b" | b"B")
                    && scan.bytes.get(end) == Some(&b'\'')
                {
                    let close = scan.find(end + 1, len, b'\'');
                    scan.mark(end, close.saturating_add(1), Part::Quoted)
                } else {
                    end
                }
            }
            _ => at + 1,
        };
    }
    Ok(scan.regions)
}

fn is_word(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

fn line_comment(scan: &mut Scan<'_>, at: usize) -> usize {
    let end = scan.find(at, scan.bytes.len(), b'\n');
    scan.mark(at, end, Part::Comment)
}
