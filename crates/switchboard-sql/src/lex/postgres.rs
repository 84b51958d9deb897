//! PostgreSQL's lexer (`src/backend/parser/scan.l`) as far as comments,
//! strings and quoted names go, with `standard_conforming_strings = on`.

use super::{Part, find_from, mark, quoted_end};

/// Marks each byte of `bytes` as PostgreSQL reads it.
pub(super) fn scan(bytes: &[u8]) -> Vec<Part> {
    let mut parts = vec![Part::Code; bytes.len()];
    let mut at = 0;
    while at < bytes.len() {
        let next = bytes.get(at + 1).copied();
        at = match bytes[at] {
            // `--` runs to a newline, which is `\n` or `\r` ({newline} in
            // scan.l): the carriage return ends it too.
            b'-' if next == Some(b'-') => {
                let end = find_from(bytes, at, |b| b == b'\n' || b == b'\r');
                mark(&mut parts, at, end, Part::Comment);
                end
            }
            b'/' if next == Some(b'*') => {
                let end = nested_comment_end(bytes, at);
                mark(&mut parts, at, end, Part::Comment);
                end
            }
            quote @ (b'\'' | b'"') => {
                let end = quoted_end(bytes, at, quote, false);
                mark(&mut parts, at, end, Part::Quoted);
                end
            }
            b'$' => dollar(bytes, at, &mut parts),
            byte if is_ident_start(byte) => {
                let end = find_from(bytes, at, |b| !is_ident_cont(b));
                // `E'...'` (one letter, then the quote) takes backslash
                // escapes; `xE'...'` is a name and a standard string.
                if matches!(&bytes[at..end], b"e" | b"E") && bytes.get(end) == Some(&b'\'') {
                    let string_end = quoted_end(bytes, end, b'\'', true);
                    mark(&mut parts, end, string_end, Part::Quoted);
                    string_end
                } else {
                    end
                }
            }
            // A number, with whatever letters, digits and dots follow it
            // (PostgreSQL rejects trailing junk; none of it starts a string).
            byte if byte.is_ascii_digit() => find_from(bytes, at, |b| {
                !(b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            }),
            _ => at + 1,
        };
    }
    parts
}

/// `[A-Za-z\200-\377_]`: bytes of non-ASCII characters start names.
fn is_ident_start(byte: u8) -> bool {
    byte.is_ascii_alphabetic() || byte == b'_' || byte >= 0x80
}

/// `[A-Za-z\200-\377_0-9\$]`.
fn is_ident_cont(byte: u8) -> bool {
    is_ident_start(byte) || byte.is_ascii_digit() || byte == b'$'
}

/// Block comments nest in PostgreSQL. Unterminated: the rest of the text
/// (the server rejects it).
fn nested_comment_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut at = start;
    while at + 1 < bytes.len() {
        match (bytes[at], bytes[at + 1]) {
            (b'/', b'*') => {
                depth += 1;
                at += 2;
            }
            (b'*', b'/') => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return at;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// At a `$` that is not part of a name: a parameter (`$1`), a dollar quote
/// (`$$...$$`, `$tag$...$tag$`), or a lone `$`. Returns where scanning goes
/// on.
fn dollar(bytes: &[u8], at: usize, parts: &mut [Part]) -> usize {
    let after = at + 1;
    if bytes.get(after).is_some_and(u8::is_ascii_digit) {
        return find_from(bytes, after, |b| !b.is_ascii_digit());
    }
    // The tag: `{dolq_start}{dolq_cont}*`, names without `$`.
    let tag_end = match bytes.get(after) {
        Some(&b) if is_ident_start(b) => {
            find_from(bytes, after, |b| !(is_ident_start(b) || b.is_ascii_digit()))
        }
        _ => after,
    };
    if bytes.get(tag_end) != Some(&b'$') {
        return after;
    }
    let delimiter = &bytes[at..=tag_end];
    let body = tag_end + 1;
    let end = bytes[body..]
        .windows(delimiter.len())
        .position(|window| window == delimiter)
        .map_or(bytes.len(), |offset| body + offset + delimiter.len());
    mark(parts, at, end, Part::Quoted);
    end
}
