//! A statement's two lines: its SQL at DEBUG when it starts, and one line
//! (INFO, or WARN when slow, failed or denied) when it ends.

use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Backend, ErrorInfo, Meta, Params};
use switchboard_sql::Dialect;
use tracing::Level;

use super::TARGET_STATEMENT;
use super::state::{LoggerState, labels};
use super::text::{ms, shown_params, shown_sql, summary};

/// What is remembered of a statement's `Executing` for its outcome line.
pub(super) struct Statement {
    pub(super) sql: Arc<str>,
    pub(super) operation: Option<String>,
    pub(super) table: Option<String>,
}

/// How a statement ended, for its one line.
pub(super) struct Outcome<'a> {
    pub(super) query_id: u64,
    pub(super) took: Option<Duration>,
    pub(super) rows: Option<u64>,
    pub(super) outcome: &'static str,
    pub(super) error: Option<&'a ErrorInfo>,
    pub(super) guard: Option<&'a str>,
    pub(super) message: String,
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
            db.operation.name = statement.operation.as_deref(),
            db.collection.name = statement.table.as_deref(),
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
            db.operation.name = statement.and_then(|s| s.operation.as_deref()),
            db.collection.name = statement.and_then(|s| s.table.as_deref()),
            duration_ms = o.took.map(ms),
            rows = o.rows,
            outcome = o.outcome,
            error.type = o.error.map(|e| e.kind.as_str()),
            db.response.status_code = o.error.and_then(|e| e.code.as_deref()),
            guard = o.guard,
            db.query.text = sql,
            labels = labels(&meta.labels),
            "{}",
            o.message
        );
    }

    /// Operation and first table, from the shared SQL classifier; a text
    /// the parser cannot read has neither.
    pub(super) fn describe(&self, sql: &Arc<str>, backend: Backend) -> Statement {
        let classified = self.classifier.classify(sql, Dialect::for_backend(backend));
        let (operation, table) = match &*classified {
            Ok(c) => (
                Some(c.operation.clone()).filter(|o| !o.is_empty()),
                c.tables.first().cloned(),
            ),
            Err(_) => (None, None),
        };
        // Operation and table names are safe to show even for a statement
        // that may hold a password: the parser gives keywords and
        // identifiers, never literals.
        Statement {
            sql: sql.clone(),
            operation,
            table,
        }
    }
}

/// `SELECT users` for a remembered statement, `statement` otherwise.
pub(super) fn described(statement: Option<&Statement>) -> String {
    summary(
        statement.and_then(|s| s.operation.as_deref()),
        statement.and_then(|s| s.table.as_deref()),
    )
}
