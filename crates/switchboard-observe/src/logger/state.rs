//! The logger's state, and which line each statement event becomes.

use std::collections::HashMap;
use std::sync::Arc;

use switchboard_core::{CloseReason, Event, Labels, Meta, Payload};
use switchboard_sql::Classifier;
use tracing::Level;
use tracing::field::{DebugValue, debug};

use super::statement::{Message, Outcome, Statement};
use super::text::shown_sql;
use super::{LoggerConfig, TARGET_GUARD, TARGET_STATEMENT};
use crate::endpoint::Endpoint;
use crate::inflight::InFlight;

/// Nothing known about a pool's target yet.
const UNKNOWN: Endpoint = Endpoint {
    address: None,
    port: None,
    namespace: None,
};

/// Connections whose `Closing` reason is kept for their `Closed` line.
const CLOSING_CAPACITY: usize = 1024;

/// The logger's state, owned by its subscription thread.
pub(super) struct LoggerState {
    pub(super) config: LoggerConfig,
    /// Operation and table names for the short line; cached, because the
    /// same few statements come back over and over.
    pub(super) classifier: Classifier,
    pub(super) statements: InFlight<Statement>,
    /// Per pool, learnt from its `Connecting` events: one entry per pool name.
    pub(super) endpoints: HashMap<Arc<str>, Endpoint>,
    /// Per connection, the reason its `Closing` gave.
    pub(super) closing: InFlight<CloseReason>,
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
            Payload::Executing {
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
            Payload::Executed {
                query_id,
                took,
                rows,
            } => {
                let slow = self.config.slow_threshold.is_some_and(|t| *took >= t);
                let statement = self.statements.remove(*query_id);
                let outcome = Outcome {
                    query_id: *query_id,
                    took: Some(*took),
                    rows: *rows,
                    outcome: "ok",
                    error: None,
                    guard: None,
                    message: if slow {
                        Message::Slow(*took)
                    } else {
                        Message::Done
                    },
                    with_sql: slow,
                };
                let level = if slow { Level::WARN } else { Level::INFO };
                self.finished(level, meta, statement.as_ref(), &outcome);
            }
            Payload::ExecuteFailed {
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
                    message: Message::Failed(&error.message),
                    with_sql: true,
                };
                self.finished(Level::WARN, meta, statement.as_ref(), &outcome);
            }
            Payload::Denied {
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
                    message: Message::Denied { guard, reason },
                    with_sql: true,
                };
                self.finished(Level::WARN, meta, statement.as_ref(), &outcome);
            }
            Payload::Rewritten {
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
            Payload::ShadowDenied {
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

    pub(super) fn endpoint(&self, meta: &Meta) -> &Endpoint {
        self.endpoints.get(&meta.pool).unwrap_or(&UNKNOWN)
    }
}

/// The caller's labels as one field, absent when there are none.
pub(super) fn labels(labels: &Labels) -> Option<DebugValue<&Labels>> {
    (!labels.is_empty()).then(|| debug(labels))
}
