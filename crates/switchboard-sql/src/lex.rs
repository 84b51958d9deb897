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

use sqlparser::tokenizer::TokenWithSpan;

use crate::{Dialect, ParseError};

mod mysql;
mod postgres;
mod regions;
mod sqlite;
mod tokens;

pub(crate) use regions::{Part, Region, Scan};

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
    let parsed = regions::normalized(sql, tokens::regions(sql, tokens));
    for server in servers(dialect) {
        let model = server.scan(sql)?;
        refuse_odd_spaces(sql, &model)?;
        let model = regions::normalized(sql, model);
        if let Some(at) = regions::first_difference(&model, &parsed) {
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
    fn scan(self, sql: &str) -> Result<Vec<Region>, ParseError> {
        match self {
            Server::Postgres => Ok(postgres::scan(sql)),
            Server::Mysql => mysql::scan(sql),
            Server::Sqlite => Ok(sqlite::scan(sql)),
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

/// Refuses a non-ASCII space in code: every modelled server reads bytes
/// above 0x7F as part of a name, and sqlparser reads Unicode spaces as
/// spaces, so the two would split names differently.
fn refuse_odd_spaces(sql: &str, model: &[Region]) -> Result<(), ParseError> {
    let mut code_start = 0;
    let gaps = model
        .iter()
        .map(|region| (region.start, region.end))
        .chain([(sql.len(), sql.len())]);
    for (start, end) in gaps {
        let Some(code) = sql.get(code_start..start) else {
            code_start = end;
            continue;
        };
        // Checking for ASCII first keeps long code runs cheap.
        if !code.is_ascii()
            && let Some((offset, ch)) = code
                .char_indices()
                .find(|(_, ch)| !ch.is_ascii() && ch.is_whitespace())
        {
            return Err(refusal(format!(
                "U+{:04X} (a non-ASCII space) outside a string at {}: the server reads it as part of a name; use an ASCII space",
                u32::from(ch),
                position(sql, code_start + offset)
            )));
        }
        code_start = end;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
