//! Parsing a SQL string once and reporting what it does.

use sqlparser::parser::Parser;
use switchboard_core::StatementClass;

use crate::statement;
use crate::walk::Walk;
use crate::{Dialect, ParseError};

/// What a SQL string does, as the rule engine and the audit log need it.
///
/// A string may hold several statements (`BEGIN; UPDATE ...; COMMIT`): the
/// class, tables, `missing_where` and `placeholders` cover all of them, the
/// `operation` names the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Classification {
    /// The pgAudit class. For several statements, or a statement with
    /// statements nested in it (a CTE that deletes, `EXPLAIN ANALYZE` of an
    /// insert, `PREPARE` of an update), the most privileged class of any of
    /// them that runs, in the order `Role > Ddl > Write > Read > Misc`.
    pub class: StatementClass,
    /// The upper-case short name of the first statement, in the style of
    /// OpenTelemetry's `db.operation.name`: `SELECT`, `INSERT`, `UPDATE`,
    /// `DELETE`, `CREATE TABLE`, `DROP TABLE`, `GRANT`, `BEGIN`, `SET`, ...
    /// A `WITH` query is named by its body (`WITH ... UPDATE` is `UPDATE`).
    pub operation: String,
    /// Every table touched, in first-seen order, deduplicated: `FROM`,
    /// `JOIN`, subqueries, CTE bodies (not references to the CTEs
    /// themselves), `INSERT INTO`, `UPDATE`, `DELETE FROM`, `MERGE`, `COPY`,
    /// and the targets of `CREATE`/`ALTER`/`DROP`/`TRUNCATE`/`RENAME`.
    /// Names are unquoted and keep the case and schema qualification they
    /// were written with (`public.users`, `shop.orders`). Table functions
    /// (`FROM generate_series(1, 3)`) are not tables.
    pub tables: Vec<String>,
    /// Whether some `UPDATE` or `DELETE` in the string has no `WHERE`
    /// clause, including one in a CTE, a `PREPARE` or a trigger body. The
    /// statement under an `EXPLAIN` without `ANALYZE` does not run and does
    /// not count.
    pub missing_where: bool,
    /// How many statements the string holds: 1 for `SELECT 1`, 2 for
    /// `SELECT 1; SELECT 2`.
    pub statements: usize,
    /// How many bind parameters the SQL expects: the highest n for
    /// `$1..$n` (or SQLite's `?n`), the number of `?`, the number of
    /// distinct names for `:name`, `@name`, `$name`; mixed styles are
    /// numbered as SQLite numbers them. Parameters inside `PREPARE ... AS`
    /// belong to the prepared statement and are not counted. Compare it
    /// with the binds a caller supplies before sending the statement.
    pub placeholders: usize,
}

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
    let statements = Parser::parse_sql(dialect.parser_dialect(), sql)?;
    let first = statements.first().ok_or_else(ParseError::empty)?;
    let operation = statement::operation(first);

    let mut walk = Walk::new(dialect);
    for statement in &statements {
        walk.statement(statement);
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
