//! The statement classes of pgAudit, and what a parsed statement does:
//! shared by events, guards, rules and audit. The parser that fills them in
//! lives in `switchboard-sql`.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// What a statement does, in the classes pgAudit uses for `pgaudit.log`.
///
/// Computed by `switchboard-sql` with a real SQL parser; carried on every
/// `Executing` event so subscribers (audit, rules, metrics) agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StatementClass {
    /// `SELECT`, `COPY ... TO`, `SHOW`, `EXPLAIN` of a read, `WITH` without writes.
    Read,
    /// `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE`, `COPY ... FROM`;
    /// also a statement that may write, such as a `SELECT` calling a
    /// function not known to change nothing, or `SELECT ... FOR UPDATE`.
    Write,
    /// Schema changes: `CREATE`, `ALTER`, `DROP` of tables, indexes, views, ...
    Ddl,
    /// Privileges and roles: `GRANT`, `REVOKE`, `CREATE/ALTER/DROP ROLE|USER`.
    Role,
    /// Everything else: `SET`, `BEGIN`, `VACUUM`, `PRAGMA`, ...; also a
    /// statement that could not be parsed.
    Misc,
}

impl StatementClass {
    /// Every class, in declaration order.
    pub const ALL: [StatementClass; 5] = [
        StatementClass::Read,
        StatementClass::Write,
        StatementClass::Ddl,
        StatementClass::Role,
        StatementClass::Misc,
    ];

    /// The lowercase name used in JSON, TOML and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementClass::Read => "read",
            StatementClass::Write => "write",
            StatementClass::Ddl => "ddl",
            StatementClass::Role => "role",
            StatementClass::Misc => "misc",
        }
    }
}

impl std::fmt::Display for StatementClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a SQL string does, as the rule engine and the audit log need it;
/// `switchboard_sql::classify` computes it.
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
    /// Names are unquoted, keep their schema qualification (`public.users`,
    /// `shop.orders`) and are normalized as the server resolves them:
    /// PostgreSQL folds unquoted names to lower case (quoted ones are kept)
    /// and clips them to 63 bytes, SQLite's are lower-cased, MySQL's kept as
    /// written. Compare them with `switchboard_sql::table_matches`. Table
    /// functions (`FROM generate_series(1, 3)`) are not tables.
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

/// A classification as it is shared: one parse, many readers (the
/// connection, its guards, the cache).
pub type Classified = Arc<Result<Classification, ParseError>>;

/// The SQL text could not be parsed, or held no statement at all.
///
/// It is `Clone` and `PartialEq` so that a cached failure can be handed to
/// many callers and compared in tests. A statement that fails here is not
/// necessarily invalid for the database: sqlparser does not know every
/// statement of every backend, so callers that enforce rules should decide
/// explicitly whether unparseable SQL is allowed (failing closed is safest).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("could not parse SQL: {message}")]
pub struct ParseError {
    /// What went wrong: sqlparser's message, which ends with the line and
    /// column (`... at Line: 1, Column: 8`), or `empty statement` when the
    /// text holds only whitespace, comments or semicolons.
    pub message: String,
}

impl ParseError {
    /// The error for text that holds no statement.
    pub fn empty() -> Self {
        ParseError {
            message: "empty statement".to_owned(),
        }
    }
}
