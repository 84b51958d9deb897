//! SQLite's lexer (`src/tokenize.c`) as far as comments, strings, quoted
//! names and variables go.

use super::{Part, Region, Scan};

/// The comments and quoted runs of `sql` as SQLite reads it.
pub(super) fn scan(sql: &str) -> Vec<Region> {
    let mut scan = Scan::new(sql);
    let len = scan.bytes.len();
    let mut at = 0;
    while at < len {
        let next = scan.bytes.get(at + 1).copied();
        at = match scan.bytes[at] {
            // Runs to the line feed only.
            b'-' if next == Some(b'-') => {
                let end = scan.find(at, len, b'\n');
                scan.mark(at, end, Part::Comment)
            }
            // Does not nest; an unterminated one runs to the end, silently.
            b'/' if next == Some(b'*') => {
                let close = scan.find_str(at + 2, "*/");
                scan.mark(at, close.saturating_add(2), Part::Comment)
            }
            quote @ (b'\'' | b'"' | b'`') => {
                let end = scan.quoted_end(at, quote, false);
                scan.mark(at, end, Part::Quoted)
            }
            // `[name]`: no escapes, ends at the first `]`.
            b'[' => {
                let close = scan.find(at, len, b']');
                scan.mark(at, close.saturating_add(1), Part::Quoted)
            }
            b'$' | b'@' | b':' | b'#' => variable(&mut scan, at),
            byte if is_id_char(byte) => scan.run(at, is_id_char),
            _ => at + 1,
        };
    }
    scan.regions
}

/// `IdChar`: letters, digits, `_`, `$` and bytes of non-ASCII characters.
fn is_id_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'_' || byte == b'$' || byte >= 0x80
}

/// A `$name`, `@name`, `:name` or `#name` variable. SQLite also takes Tcl's
/// forms: `$name::part`, and `$name(anything up to a space or ')')`, so
/// `$a(;DELETE/**/FROM/**/t)` is one variable, not a statement. The
/// parenthesised part is marked as quoted: text SQLite does not parse.
fn variable(scan: &mut Scan<'_>, at: usize) -> usize {
    let bytes = scan.bytes;
    let mut end = at + 1;
    let mut name_len = 0;
    while end < bytes.len() {
        match bytes[end] {
            b if is_id_char(b) => {
                name_len += 1;
                end += 1;
            }
            b'(' if name_len > 0 => {
                let close = scan.run(end, |b| b != b')' && !b.is_ascii_whitespace());
                let stop = if bytes.get(close) == Some(&b')') {
                    close + 1
                } else {
                    close
                };
                return scan.mark(end, stop, Part::Quoted);
            }
            b':' if bytes.get(end + 1) == Some(&b':') => end += 2,
            _ => break,
        }
    }
    end
}
