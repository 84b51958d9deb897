//! One event in, at most one or two `tracing` events out.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use switchboard_core::{Backend, CloseReason, ErrorInfo, Event, EventKind, Labels, Meta, Params};
use switchboard_sql::{Classifier, Dialect};
use tracing::Level;
use tracing::field::{DebugValue, debug};

use super::text::{ms, shown_params, shown_sql, summary};
use super::{
    LoggerConfig, TARGET_CONNECTION, TARGET_GUARD, TARGET_OBSERVE, TARGET_POOL, TARGET_STATEMENT,
};
use crate::endpoint::Endpoint;
use crate::inflight::InFlight;

/// `tracing`'s macros need a level known at compile time; this picks the
/// macro for a level chosen at run time (INFO, or WARN for a slow one).
macro_rules! at_level {
    ($level:expr, $($args:tt)+) => {{
        let level: Level = $level;
        if level == Level::ERROR {
            tracing::error!($($args)+)
        } else if level == Level::WARN {
            tracing::warn!($($args)+)
        } else if level == Level::INFO {
            tracing::info!($($args)+)
        } else if level == Level::DEBUG {
            tracing::debug!($($args)+)
        } else {
            tracing::trace!($($args)+)
        }
    }};
}

/// Nothing known about a pool's target yet.
const UNKNOWN: Endpoint = Endpoint {
    address: None,
    port: None,
    namespace: None,
};

/// Connections whose `Closing` reason is kept for their `Closed` line.
const CLOSING_CAPACITY: usize = 1024;

/// What is remembered of a statement's `Executing` for its outcome line.
struct Statement {
    sql: Arc<str>,
    operation: Option<String>,
    table: Option<String>,
}

/// How a statement ended, for its one line.
struct Outcome<'a> {
    query_id: u64,
    took: Option<Duration>,
    rows: Option<u64>,
    outcome: &'static str,
    error: Option<&'a ErrorInfo>,
    guard: Option<&'a str>,
    message: String,
    /// Whether the line carries the SQL text (slow, failed, denied).
    with_sql: bool,
}

/// The logger's state, owned by its subscription thread.
pub(super) struct LoggerState {
    config: LoggerConfig,
    /// Operation and table names for the short line; cached, because the
    /// same few statements come back over and over.
    classifier: Classifier,
    statements: InFlight<Statement>,
    /// Per pool, learnt from its `Connecting` events: one entry per pool name.
    endpoints: HashMap<Arc<str>, Endpoint>,
    /// Per connection, the reason its `Closing` gave.
    closing: InFlight<CloseReason>,
}

impl LoggerState {
    pub(super) fn new(config: LoggerConfig) -> Self {
        LoggerState {
            statements: InFlight::new(config.in_flight),
            config,
            classifier: Classifier::new(256),
            endpoints: HashMap::new(),
            closing: InFlight::new(CLOSING_CAPACITY),
        }
    }

    pub(super) fn handle(&mut self, event: &Event) {
        let meta = event.meta();
        match event.payload() {
            EventKind::Executing {
                query_id,
                sql,
                params,
                class,
                ..
            } => {
                let statement = self.describe(sql, meta.backend);
                if tracing::enabled!(target: TARGET_STATEMENT, Level::DEBUG) {
                    self.executing(meta, *query_id, &statement, params, class.as_str());
                }
                self.statements.insert(*query_id, statement);
            }
            EventKind::Executed {
                query_id,
                took,
                rows,
            } => {
                let slow = self.config.slow_threshold.is_some_and(|t| *took >= t);
                let statement = self.statements.remove(*query_id);
                let what = described(statement.as_ref());
                let outcome = Outcome {
                    query_id: *query_id,
                    took: Some(*took),
                    rows: *rows,
                    outcome: "ok",
                    error: None,
                    guard: None,
                    message: if slow {
                        format!("slow statement: {what} took {took:?}")
                    } else {
                        what
                    },
                    with_sql: slow,
                };
                let level = if slow { Level::WARN } else { Level::INFO };
                self.finished(level, meta, statement.as_ref(), &outcome);
            }
            EventKind::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                let statement = self.statements.remove(*query_id);
                let outcome = Outcome {
                    query_id: *query_id,
                    took: Some(*took),
                    rows: None,
                    outcome: "error",
                    error: Some(error),
                    guard: None,
                    message: format!(
                        "{} failed: {}",
                        described(statement.as_ref()),
                        error.message
                    ),
                    with_sql: true,
                };
                self.finished(Level::WARN, meta, statement.as_ref(), &outcome);
            }
            EventKind::Denied {
                query_id: Some(query_id),
                guard,
                reason,
            } => {
                let statement = self.statements.remove(*query_id);
                let outcome = Outcome {
                    query_id: *query_id,
                    took: None,
                    rows: None,
                    outcome: "denied",
                    error: None,
                    guard: Some(guard),
                    message: format!(
                        "{} denied by {guard}: {reason}",
                        described(statement.as_ref())
                    ),
                    with_sql: true,
                };
                self.finished(Level::WARN, meta, statement.as_ref(), &outcome);
            }
            EventKind::Rewritten {
                query_id,
                guard,
                reason,
                sql,
            } => {
                tracing::info!(
                    target: TARGET_GUARD,
                    pool = &*meta.pool,
                    connection = meta.connection,
                    query_id,
                    guard = guard.as_str(),
                    "statement rewritten by {guard}: {reason}"
                );
                tracing::debug!(
                    target: TARGET_GUARD,
                    query_id,
                    db.query.text = shown_sql(sql),
                    "rewritten SQL"
                );
                let rewritten = self.describe(sql, meta.backend);
                if let Some(statement) = self.statements.get_mut(*query_id) {
                    *statement = rewritten;
                }
            }
            EventKind::ShadowDenied {
                query_id,
                guard,
                reason,
            } => tracing::info!(
                target: TARGET_GUARD,
                pool = &*meta.pool,
                connection = meta.connection,
                query_id = *query_id,
                guard = guard.as_str(),
                labels = labels(&meta.labels),
                "shadow guard {guard} would deny: {reason}"
            ),
            _ => self.connection_event(event),
        }
    }

    /// Everything but statements: connects, transactions, checkouts,
    /// leaks, closes, lag.
    fn connection_event(&mut self, event: &Event) {
        let meta = event.meta();
        let pool = &*meta.pool;
        match event.payload() {
            EventKind::Connecting { target, attempt } => {
                let endpoint = Endpoint::from_target(target, meta.backend);
                let ep = self.endpoints.entry(meta.pool.clone()).or_default();
                *ep = endpoint;
                tracing::debug!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    attempt,
                    db.system = meta.backend.as_str(),
                    db.namespace = ep.namespace.as_deref(),
                    server.address = ep.address.as_deref(),
                    server.port = ep.port,
                    "connecting"
                );
            }
            EventKind::Connected {
                server_version,
                took,
            } => {
                let ep = self.endpoint(meta);
                tracing::info!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    db.system = meta.backend.as_str(),
                    db.namespace = ep.namespace.as_deref(),
                    server.address = ep.address.as_deref(),
                    server.port = ep.port,
                    server_version = server_version.as_str(),
                    took_ms = ms(*took),
                    "connected"
                );
            }
            EventKind::ConnectFailed {
                error,
                attempt,
                retry_in,
            } => {
                let ep = self.endpoint(meta);
                let (level, then) = match retry_in {
                    Some(d) => (Level::WARN, format!("retrying in {d:?}")),
                    None => (Level::ERROR, "giving up".to_owned()),
                };
                at_level!(
                    level,
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    attempt,
                    db.system = meta.backend.as_str(),
                    server.address = ep.address.as_deref(),
                    server.port = ep.port,
                    error.type = error.kind.as_str(),
                    db.response.status_code = error.code.as_deref(),
                    "connect failed: {}; {then}",
                    error.message
                );
            }
            EventKind::Denied {
                query_id: None,
                guard,
                reason,
            } => tracing::warn!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                guard = guard.as_str(),
                "connect denied by {guard}: {reason}"
            ),
            EventKind::TxBegin { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "begin");
            }
            EventKind::TxCommit { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "commit");
            }
            EventKind::TxRollback { depth } => {
                tracing::debug!(target: TARGET_CONNECTION, pool, connection = meta.connection, depth, "rollback");
            }
            EventKind::Invalidated { error } => tracing::warn!(
                target: TARGET_CONNECTION,
                pool,
                connection = meta.connection,
                error.type = error.kind.as_str(),
                "connection invalidated: {}",
                error.message
            ),
            EventKind::Closing { reason } => {
                if let Some(c) = meta.connection {
                    self.closing.insert(c, *reason);
                }
                tracing::debug!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    reason = ?reason,
                    "closing"
                );
            }
            EventKind::Closed {
                lifetime,
                statements,
            } => {
                let reason = meta.connection.and_then(|c| self.closing.remove(c));
                tracing::info!(
                    target: TARGET_CONNECTION,
                    pool,
                    connection = meta.connection,
                    reason = reason.map(debug),
                    lifetime_ms = ms(*lifetime),
                    statements,
                    "closed"
                );
            }
            EventKind::CheckedOut { waited } => tracing::trace!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                waited_ms = ms(*waited),
                labels = labels(&meta.labels),
                "checked out"
            ),
            EventKind::CheckedIn { held } => tracing::trace!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                held_ms = ms(*held),
                "checked in"
            ),
            EventKind::LeakSuspected { held } => tracing::warn!(
                target: TARGET_POOL,
                pool,
                connection = meta.connection,
                held_ms = ms(*held),
                labels = labels(&meta.labels),
                "possible connection leak: lent out for {held:?}, past the leak threshold"
            ),
            EventKind::Lagged { dropped } => tracing::warn!(
                target: TARGET_OBSERVE,
                pool,
                dropped,
                "the log fell behind: {dropped} events were dropped and not logged"
            ),
            _ => {}
        }
    }

    /// The DEBUG line of a statement that starts: its full SQL.
    fn executing(
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
    fn finished(&self, level: Level, meta: &Meta, statement: Option<&Statement>, o: &Outcome<'_>) {
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

    fn endpoint(&self, meta: &Meta) -> &Endpoint {
        self.endpoints.get(&meta.pool).unwrap_or(&UNKNOWN)
    }

    /// Operation and first table, from the shared SQL classifier; a text
    /// the parser cannot read has neither.
    fn describe(&self, sql: &Arc<str>, backend: Backend) -> Statement {
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
fn described(statement: Option<&Statement>) -> String {
    summary(
        statement.and_then(|s| s.operation.as_deref()),
        statement.and_then(|s| s.table.as_deref()),
    )
}

/// The caller's labels as one field, absent when there are none.
fn labels(labels: &Labels) -> Option<DebugValue<&Labels>> {
    (!labels.is_empty()).then(|| debug(labels))
}
