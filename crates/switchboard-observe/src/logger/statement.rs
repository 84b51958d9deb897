//! A statement's two lines: its SQL at DEBUG when it starts, and one line
//! (INFO, or WARN when slow, failed or denied) when it ends.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Backend, ErrorInfo, Meta, Params};
use switchboard_sql::{Classified, Dialect};
use tracing::Level;

use super::TARGET_STATEMENT;
use super::state::{LoggerState, labels};
use super::text::{Summary, ms, shown_params, shown_sql};

/// What is remembered of a statement's `Executing` for its outcome line.
pub(super) struct Statement {
    pub(super) sql: Arc<str>,
    /// Operation and tables, shared with the classifier's cache (no copy
    /// per statement). Names are safe to show even for a statement that
    /// may hold a password: the parser gives keywords and identifiers,
    /// never literals.
    classified: Classified,
}

impl Statement {
    /// `SELECT`, `INSERT`, ...; `None` for a text the parser cannot read.
    pub(super) fn operation(&self) -> Option<&str> {
        let c = self.classified.as_ref().as_ref().ok()?;
        Some(c.operation.as_str()).filter(|o| !o.is_empty())
    }

    /// The first table the SQL touches.
    pub(super) fn table(&self) -> Option<&str> {
        let c = self.classified.as_ref().as_ref().ok()?;
        c.tables.first().map(String::as_str)
    }
}

/// What a statement's line says after its summary.
pub(super) enum Message<'a> {
    /// Nothing: `SELECT users`.
    Done,
    /// `slow statement: SELECT users took 250ms`.
    Slow(Duration),
    /// `SELECT users failed: <the error's message>`.
    Failed(&'a str),
    /// `SELECT users denied by <guard>: <reason>`.
    Denied { guard: &'a str, reason: &'a str },
}

/// How a statement ended, for its one line.
pub(super) struct Outcome<'a> {
    pub(super) query_id: u64,
    pub(super) took: Option<Duration>,
    pub(super) rows: Option<u64>,
    pub(super) outcome: &'static str,
    pub(super) error: Option<&'a ErrorInfo>,
    pub(super) guard: Option<&'a str>,
    /// Formatted only if the line is logged.
    pub(super) message: Message<'a>,
    /// Whether the line carries the SQL text (slow, failed, denied).
    pub(super) with_sql: bool,
}

impl LoggerState {
    /// The DEBUG line of a statement that starts: its full SQL.
    pub(super) fn executing(
        &self,
        meta: &Meta,
        query_id: u64,
        statement: &Statement,
        params: &Params,
        class: &str,
    ) {
        let shown =
            (!params.is_empty()).then(|| shown_params(params, self.config.params, &statement.sql));
        tracing::debug!(
            target: TARGET_STATEMENT,
            pool = &*meta.pool,
            connection = meta.connection,
            query_id,
            db.system = meta.backend.as_str(),
            db.operation.name = statement.operation(),
            db.collection.name = statement.table(),
            db.query.text = shown_sql(&statement.sql),
            params = shown,
            class,
            labels = labels(&meta.labels),
            "executing {}",
            described(Some(statement))
        );
    }

    /// The one line of a statement that ended.
    pub(super) fn finished(
        &self,
        level: Level,
        meta: &Meta,
        statement: Option<&Statement>,
        o: &Outcome<'_>,
    ) {
        let ep = self.endpoint(meta);
        let sql = statement.filter(|_| o.with_sql).map(|s| shown_sql(&s.sql));
        at_level!(
            level,
            target: TARGET_STATEMENT,
            pool = &*meta.pool,
            connection = meta.connection,
            query_id = o.query_id,
            db.system = meta.backend.as_str(),
            db.namespace = ep.namespace.as_deref(),
            server.address = ep.address.as_deref(),
            server.port = ep.port,
            db.operation.name = statement.and_then(Statement::operation),
            db.collection.name = statement.and_then(Statement::table),
            duration_ms = o.took.map(ms),
            rows = o.rows,
            outcome = o.outcome,
            error.type = o.error.map(|e| e.kind.as_str()),
            db.response.status_code = o.error.and_then(|e| e.code.as_deref()),
            guard = o.guard,
            db.query.text = sql,
            labels = labels(&meta.labels),
            "{}",
            Said {
                statement,
                message: &o.message
            }
        );
    }

    /// Remembers `sql` with its operation and tables, from the shared SQL
    /// classifier; a text the parser cannot read has neither.
    pub(super) fn describe(&self, sql: &Arc<str>, backend: Backend) -> Statement {
        Statement {
            sql: sql.clone(),
            classified: self.classifier.classify(sql, Dialect::for_backend(backend)),
        }
    }
}

/// `SELECT users` for a remembered statement, `statement` otherwise.
pub(super) fn described(statement: Option<&Statement>) -> Summary<'_> {
    Summary {
        operation: statement.and_then(Statement::operation),
        table: statement.and_then(Statement::table),
    }
}

/// A statement line's message: its summary and how it ended.
struct Said<'a> {
    statement: Option<&'a Statement>,
    message: &'a Message<'a>,
}

impl fmt::Display for Said<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = described(self.statement);
        match self.message {
            Message::Done => write!(f, "{what}"),
            Message::Slow(took) => write!(f, "slow statement: {what} took {took:?}"),
            Message::Failed(error) => write!(f, "{what} failed: {error}"),
            Message::Denied { guard, reason } => write!(f, "{what} denied by {guard}: {reason}"),
        }
    }
}
