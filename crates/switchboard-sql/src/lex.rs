//! The classifier's model of each server's lexer, and the check that
//! sqlparser read the text the same way.
//!
//! A classification is only as good as the agreement between sqlparser and
//! the server on one question: which characters are SQL, and which sit
//! inside a comment, a string or a quoted name. Where they disagree, the
//! server runs text the parser took for a comment (PostgreSQL ends `--`
//! comments at a carriage return, sqlparser at a line feed), or skips text
//! the parser took for SQL. So each dialect has a small scanner here that
//! follows its server's lexer (PostgreSQL's `scan.l`, MySQL's `sql_lex.cc`,
//! SQLite's `tokenize.c`) as far as those boundaries go, and the text is
//! refused as unparsable unless sqlparser's tokens mark every non-blank byte
//! the same way.
//!
//! The scanners also refuse what the classifier will not model: MySQL's
//! executable comments (`/*! ... */`, `/*!50700 ... */`, MariaDB's
//! `/*M! ... */`, whose content runs depending on the server's version), NUL
//! bytes (where servers stop reading or reject the text), and non-ASCII
//! spaces outside strings (which servers read as part of a name).
//!
//! The model assumes the session's lexing settings are the servers'
//! defaults (`standard_conforming_strings = on`, no `ANSI_QUOTES` or
//! `NO_BACKSLASH_ESCAPES`, an ASCII-safe client encoding); `session.rs`
//! refuses the statements that would change them.

use sqlparser::tokenizer::{Location, Token, TokenWithSpan, Whitespace};

use crate::{Dialect, ParseError};

mod mysql;
mod postgres;
mod sqlite;

/// What a byte of the text is part of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Part {
    /// SQL the server parses (including spaces).
    Code,
    /// A comment.
    Comment,
    /// The inside or the quotes of a string, a quoted name or a dollar-quoted
    /// body (a prefix such as `E` or `N` is code).
    Quoted,
}

/// Refuses `sql` unless every server model of `dialect` reads it as
/// sqlparser's `tokens` do. `Generic` must agree with all three servers.
pub(crate) fn check(
    sql: &str,
    dialect: Dialect,
    tokens: &[TokenWithSpan],
) -> Result<(), ParseError> {
    if let Some(nul) = sql.find('\0') {
        return Err(refusal(format!(
            "NUL character at {}: servers stop reading the text there or reject it",
            position(sql, nul)
        )));
    }
    let parsed = parser_parts(sql, tokens);
    for server in servers(dialect) {
        let model = server.scan(sql)?;
        refuse_odd_spaces(sql, &model)?;
        if let Some(at) = first_difference(sql, &model, &parsed) {
            return Err(refusal(format!(
                "{} and the parser would end a comment, string or quoted name differently around {}",
                server.name(),
                position(sql, at)
            )));
        }
    }
    Ok(())
}

/// A server whose lexer is modelled here.
#[derive(Debug, Clone, Copy)]
enum Server {
    Postgres,
    Mysql,
    Sqlite,
}

impl Server {
    fn scan(self, sql: &str) -> Result<Vec<Part>, ParseError> {
        match self {
            Server::Postgres => Ok(postgres::scan(sql.as_bytes())),
            Server::Mysql => mysql::scan(sql),
            Server::Sqlite => Ok(sqlite::scan(sql.as_bytes())),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Server::Postgres => "PostgreSQL",
            Server::Mysql => "MySQL",
            Server::Sqlite => "SQLite",
        }
    }
}

fn servers(dialect: Dialect) -> &'static [Server] {
    match dialect {
        Dialect::Postgres => &[Server::Postgres],
        Dialect::Mysql => &[Server::Mysql],
        Dialect::Sqlite => &[Server::Sqlite],
        Dialect::Generic => &[Server::Postgres, Server::Mysql, Server::Sqlite],
    }
}

/// An error for text the classifier refuses to classify.
pub(crate) fn refusal(why: String) -> ParseError {
    ParseError {
        message: format!("cannot be classified with certainty: {why}"),
    }
}

/// `line L, column C` of byte `at` (both 1-based; columns count characters).
pub(crate) fn position(sql: &str, at: usize) -> String {
    let before = &sql[..at];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = sql[line_start..at].chars().count() + 1;
    format!("line {line}, column {column}")
}

/// Bytes the servers treat as spaces between tokens.
fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Refuses a non-ASCII space in code: every modelled server reads bytes
/// above 0x7F as part of a name, and sqlparser reads Unicode spaces as
/// spaces, so the two would split names differently.
fn refuse_odd_spaces(sql: &str, model: &[Part]) -> Result<(), ParseError> {
    for (at, ch) in sql.char_indices() {
        if !ch.is_ascii() && ch.is_whitespace() && model[at] == Part::Code {
            return Err(refusal(format!(
                "U+{:04X} (a non-ASCII space) outside a string at {}: the server reads it as part of a name; use an ASCII space",
                u32::from(ch),
                position(sql, at)
            )));
        }
    }
    Ok(())
}

/// The first non-blank byte the two readings put in different parts.
fn first_difference(sql: &str, model: &[Part], parsed: &[Part]) -> Option<usize> {
    let bytes = sql.as_bytes();
    (0..bytes.len()).find(|&at| !is_space(bytes[at]) && model[at] != parsed[at])
}

/// The parts sqlparser's tokens give each byte.
fn parser_parts(sql: &str, tokens: &[TokenWithSpan]) -> Vec<Part> {
    let mut parts = vec![Part::Code; sql.len()];
    let mut locate = Locator::new(sql);
    for token in tokens {
        let part = match &token.token {
            Token::Whitespace(
                Whitespace::SingleLineComment { .. } | Whitespace::MultiLineComment(_),
            ) => Part::Comment,
            Token::Word(word) if word.quote_style.is_some() => Part::Quoted,
            Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::CopyData { .. } => Part::Quoted,
            _ => continue,
        };
        let (Some(start), Some(end)) = (locate.byte(token.span.start), locate.byte(token.span.end))
        else {
            continue;
        };
        // A string token's span starts at its prefix (`E'`, `N'`, `X'`,
        // `_utf8'`); the model counts the prefix as code.
        let start = match part {
            Part::Quoted => sql[start..end]
                .find(['\'', '"', '`', '$', '['])
                .map_or(start, |offset| start + offset),
            _ => start,
        };
        for byte in &mut parts[start..end.max(start)] {
            *byte = part;
        }
    }
    parts
}

/// Turns sqlparser's (line, column) locations, which count characters,
/// into byte offsets. Tokens come in text order, so a cursor that only
/// moves forward (restarting at a line's start when asked to go back)
/// walks each line about once.
struct Locator<'a> {
    sql: &'a str,
    /// The byte offset at which each line starts.
    line_starts: Vec<usize>,
    /// The last location answered: (line index, column index, byte).
    cursor: (usize, usize, usize),
}

impl<'a> Locator<'a> {
    fn new(sql: &'a str) -> Self {
        let mut line_starts = vec![0];
        line_starts.extend(sql.match_indices('\n').map(|(at, _)| at + 1));
        Locator {
            sql,
            line_starts,
            cursor: (0, 0, 0),
        }
    }

    fn byte(&mut self, location: Location) -> Option<usize> {
        let line = usize::try_from(location.line).ok()?.checked_sub(1)?;
        let column = usize::try_from(location.column).ok()?.checked_sub(1)?;
        let line_start = *self.line_starts.get(line)?;
        let (cursor_line, mut at_column, mut at) = self.cursor;
        if cursor_line != line || at_column > column {
            (at_column, at) = (0, line_start);
        }
        let mut chars = self.sql[at..].chars();
        while at_column < column {
            match chars.next() {
                Some(ch) => {
                    at += ch.len_utf8();
                    at_column += 1;
                }
                None => break,
            }
        }
        self.cursor = (line, at_column, at);
        Some(at)
    }
}

/// Marks `parts[from..to]` (clamped to the text) as `part`.
pub(crate) fn mark(parts: &mut [Part], from: usize, to: usize, part: Part) {
    let to = to.min(parts.len());
    for byte in &mut parts[from.min(to)..to] {
        *byte = part;
    }
}

/// The end (exclusive) of a quoted run that starts with `quote` at `start`,
/// where a doubled quote stands for one and, if `backslash`, a backslash
/// escapes the next byte. Unterminated: the end of the text.
pub(crate) fn quoted_end(bytes: &[u8], start: usize, quote: u8, backslash: bool) -> usize {
    let mut at = start + 1;
    while at < bytes.len() {
        match bytes[at] {
            b'\\' if backslash => at += 2,
            byte if byte == quote => {
                if bytes.get(at + 1) == Some(&quote) {
                    at += 2;
                } else {
                    return at + 1;
                }
            }
            _ => at += 1,
        }
    }
    bytes.len()
}

/// The index of the first byte at or after `from` for which `stop` holds,
/// or the end of the text.
pub(crate) fn find_from(bytes: &[u8], from: usize, stop: impl Fn(u8) -> bool) -> usize {
    bytes[from.min(bytes.len())..]
        .iter()
        .position(|&byte| stop(byte))
        .map_or(bytes.len(), |offset| from + offset)
}

#[cfg(test)]
mod tests;
