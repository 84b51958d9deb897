//! PostgreSQL's lexer (`src/backend/parser/scan.l`) as far as comments,
//! strings and quoted names go, with `standard_conforming_strings = on`.

use super::{Part, Region, Scan};

/// The comments and quoted runs of `sql` as PostgreSQL reads it.
pub(super) fn scan(sql: &str) -> Vec<Region> {
    let mut scan = Scan::new(sql);
    let len = scan.bytes.len();
    let mut at = 0;
    while at < len {
        let next = scan.bytes.get(at + 1).copied();
        at = match scan.bytes[at] {
            // `--` runs to a newline, which is `\n` or `\r` ({newline} in
            // scan.l): the carriage return ends it too.
            b'-' if next == Some(b'-') => {
                let end = scan.find_any(at, b"\n\r");
                scan.mark(at, end, Part::Comment)
            }
            b'/' if next == Some(b'*') => {
                let end = nested_comment_end(&scan, at);
                scan.mark(at, end, Part::Comment)
            }
            quote @ (b'\'' | b'"') => {
                let end = scan.quoted_end(at, quote, false);
                scan.mark(at, end, Part::Quoted)
            }
            b'$' => dollar(&mut scan, at),
            byte if is_ident_start(byte) => {
                let end = scan.run(at, is_ident_cont);
                // `E'...'` (one letter, then the quote) takes backslash
                // escapes; `xE'...'` is a name and a standard string.
                if matches!(&scan.bytes[at..end], b"e" | b"E")
                    && scan.bytes.get(end) == Some(&b'\'')
                {
                    let string_end = scan.quoted_end(end, b'\'', true);
                    scan.mark(end, string_end, Part::Quoted)
                } else {
                    end
                }
            }
            // A number, with whatever letters, digits and dots follow it
            // (PostgreSQL rejects trailing junk; none of it starts a string).
            byte if byte.is_ascii_digit() => {
                scan.run(at, |b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            }
            _ => at + 1,
        };
    }
    scan.regions
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
fn nested_comment_end(scan: &Scan<'_>, start: usize) -> usize {
    let len = scan.bytes.len();
    let mut depth = 1usize;
    let mut at = start + 2;
    while at < len {
        // Jump to the next `/` or `*`, the only bytes that matter here.
        at = scan.find_any(at, b"/*");
        match (scan.bytes.get(at), scan.bytes.get(at + 1)) {
            (Some(b'/'), Some(b'*')) => {
                depth += 1;
                at += 2;
            }
            (Some(b'*'), Some(b'/')) => {
                depth -= 1;
                at += 2;
                if depth == 0 {
                    return at;
                }
            }
            _ => at += 1,
        }
    }
    len
}

/// At a `$` that is not part of a name: a parameter (`$1`), a dollar quote
/// (`$$...$$`, `$tag$...$tag$`), or a lone `$`. Returns where scanning goes
/// on.
fn dollar(scan: &mut Scan<'_>, at: usize) -> usize {
    let after = at + 1;
    if scan.bytes.get(after).is_some_and(u8::is_ascii_digit) {
        return scan.run(after, |b| b.is_ascii_digit());
    }
    // The tag: `{dolq_start}{dolq_cont}*`, names without `$`.
    let tag_end = match scan.bytes.get(after) {
        Some(&b) if is_ident_start(b) => {
            scan.run(after, |b| is_ident_start(b) || b.is_ascii_digit())
        }
        _ => after,
    };
    if scan.bytes.get(tag_end) != Some(&b'$') {
        return after;
    }
    let delimiter = &scan.sql[at..=tag_end];
    let body = tag_end + 1;
    let close = scan.find_str(body, delimiter);
    let end = if close < scan.bytes.len() {
        close + delimiter.len()
    } else {
        close
    };
    scan.mark(at, end, Part::Quoted)
}
