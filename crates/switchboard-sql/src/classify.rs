//! Parsing a SQL string once and reporting what it does.

use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Tokenizer;
use switchboard_core::StatementClass;

use crate::error::from_parser;
use crate::walk::Walk;
use crate::{Classification, Dialect, ParseError, lex, statement};

/// Parses `sql` in `dialect` and reports what it does.
///
/// This parses every time; on a hot path, use a [`Classifier`](crate::Classifier),
/// which caches results.
///
/// # Errors
///
/// [`ParseError`] when sqlparser cannot parse the text (the message carries
/// the line and column), or when it holds no statement (only whitespace,
/// comments or semicolons: `empty statement`).
///
/// # Example
///
/// ```
/// use switchboard_core::StatementClass;
/// use switchboard_sql::{classify, Dialect};
///
/// let c = classify("UPDATE public.users SET active = $1", Dialect::Postgres)?;
/// assert_eq!(c.class, StatementClass::Write);
/// assert_eq!(c.operation, "UPDATE");
/// assert_eq!(c.tables, ["public.users"]);
/// assert!(c.missing_where);
/// assert_eq!(c.placeholders, 1);
/// # Ok::<(), switchboard_sql::ParseError>(())
/// ```
pub fn classify(sql: &str, dialect: Dialect) -> Result<Classification, ParseError> {
    let parser_dialect = dialect.parser_dialect();
    let tokens = Tokenizer::new(parser_dialect, sql)
        .tokenize_with_location()
        .map_err(|e| from_parser(ParserError::TokenizerError(e.to_string())))?;
    lex::check(sql, dialect, &tokens)?;
    let statements = Parser::new(parser_dialect)
        .with_tokens_with_locations(tokens)
        .parse_statements()
        .map_err(from_parser)?;
    let first = statements.first().ok_or_else(ParseError::empty)?;
    let operation = statement::operation(first);

    let mut walk = Walk::new(dialect);
    for statement in &statements {
        walk.statement(statement)?;
    }
    Ok(Classification {
        class: walk.class,
        operation,
        tables: walk.tables.into_names(),
        missing_where: walk.missing_where,
        statements: statements.len(),
        placeholders: walk.placeholders.count(),
    })
}

/// The more privileged of two classes: `Role > Ddl > Write > Read > Misc`.
///
/// Role and DDL change who may do what and what exists, so they outrank
/// changes to data, which outrank reads; `Misc` (transactions, settings)
/// neither reads nor changes anything on its own.
pub(crate) fn most_privileged(a: StatementClass, b: StatementClass) -> StatementClass {
    if rank(b) > rank(a) { b } else { a }
}

fn rank(class: StatementClass) -> u8 {
    match class {
        StatementClass::Misc => 0,
        StatementClass::Read => 1,
        StatementClass::Write => 2,
        StatementClass::Ddl => 3,
        StatementClass::Role => 4,
        // A class added to switchboard-core later is unknown here: rank it
        // above all, so that it is never hidden behind a known one.
        _ => u8::MAX,
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod hardening;
