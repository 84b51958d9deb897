//! The diesel `Instrumentation` bridge: turns what diesel reports about a
//! connection into events on the bus.
//!
//! Transaction boundaries are always reported from here. Statements are
//! reported from here only while a closure (`Interact`, `Transaction`) runs;
//! `Execute` and `Load` report their own, richer events (parameters, rows),
//! and the guard hook runs before them.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use parking_lot::Mutex;
use switchboard_core::{Emitter, EventKind, Origin, Params, StatementClass};

use super::session::prepared::Texts;
use crate::shared::Shared;
use crate::statement::next_query_id;

/// State shared by a connection actor and its driver's instrumentation.
pub(crate) struct Probe {
    emitter: Arc<Emitter>,
    shared: Arc<Shared>,
    /// Whether statements are reported from instrumentation right now.
    report: AtomicBool,
    /// Statements run on the connection, by any path.
    statements: AtomicU64,
    /// The closure statement under way: its query id and start.
    current: Mutex<Option<(u64, Instant)>>,
    /// The `Execute` texts this connection keeps prepared. Here because
    /// every session on the connection (pipelined ones at once) shares it.
    pub(crate) prepared: Mutex<Texts>,
    /// When the last pipelined statement's answer came: the next one's
    /// time on the server starts then, or when it was sent if later.
    answered: Mutex<Option<Instant>>,
}

impl Probe {
    pub(crate) fn new(emitter: Arc<Emitter>, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Probe {
            emitter,
            shared,
            report: AtomicBool::new(false),
            statements: AtomicU64::new(0),
            current: Mutex::new(None),
            prepared: Mutex::new(Texts::default()),
            answered: Mutex::new(None),
        })
    }

    pub(crate) fn report_statements(&self, on: bool) {
        self.report.store(on, Ordering::Relaxed);
    }

    pub(crate) fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// A pipelined statement sent at `sent` was answered `now`: when its
    /// time on the server began (the answer before it, if that came later
    /// than it was sent).
    pub(crate) fn answered(&self, sent: Instant, now: Instant) -> Instant {
        let mut last = self.answered.lock();
        let began = last.map_or(sent, |a| a.max(sent));
        *last = Some(now);
        began
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::BeginTransaction { depth, .. } => {
                self.emitter.emit(EventKind::TxBegin { depth: depth.get() })
            }
            InstrumentationEvent::CommitTransaction { depth, .. } => self
                .emitter
                .emit(EventKind::TxCommit { depth: depth.get() }),
            InstrumentationEvent::RollbackTransaction { depth, .. } => self
                .emitter
                .emit(EventKind::TxRollback { depth: depth.get() }),
            InstrumentationEvent::StartQuery { query, .. }
                if self.report.load(Ordering::Relaxed) =>
            {
                let sql = sql_of(query);
                let class = match &*self.shared.classifier.classify(&sql, self.shared.dialect) {
                    Ok(c) => c.class,
                    Err(_) => StatementClass::Misc,
                };
                let query_id = next_query_id();
                *self.current.lock() = Some((query_id, Instant::now()));
                self.emitter.emit(EventKind::Executing {
                    query_id,
                    sql: sql.into(),
                    params: Params::none(),
                    class,
                    origin: Origin::Closure,
                });
            }
            InstrumentationEvent::FinishQuery { error, .. } => {
                let Some((query_id, started)) = self.current.lock().take() else {
                    return;
                };
                self.count_statement();
                let took = started.elapsed();
                let kind = match error {
                    None => EventKind::Executed {
                        query_id,
                        took,
                        rows: None,
                    },
                    Some(e) => {
                        let err = self.shared.db_error(e);
                        EventKind::ExecuteFailed {
                            query_id,
                            took,
                            error: err.info(),
                        }
                    }
                };
                self.emitter.emit(kind);
            }
            _ => {}
        }
    }
}

/// What diesel's `Display` of a query writes between its SQL and its bind
/// values (`SELECT .. -- binds: [1, "a"]`).
const BINDS: &str = " -- binds: ";

/// A query's SQL text without its bind values, which must not reach
/// events. Formatting stops where the binds would begin: formatting them
/// (each value's `Debug`, into a string thrown away) was half of what
/// reporting a closure's statement cost (perf, the `workloads` bench's
/// transaction rows).
fn sql_of(query: &dyn diesel::connection::DebugQuery) -> String {
    let mut out = SqlOnly(String::new());
    // An error is this writer refusing the binds.
    let _ = std::fmt::write(&mut out, format_args!("{query}"));
    sql_without_binds(out.0)
}

/// Takes the SQL text diesel writes, and refuses the binds that follow.
struct SqlOnly(String);

impl std::fmt::Write for SqlOnly {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if s == BINDS && !self.0.is_empty() {
            return Err(std::fmt::Error);
        }
        self.0.push_str(s);
        Ok(())
    }
}

/// `shown` cut where bind values begin, should a query's `Display` have
/// written them in the same piece as its SQL.
fn sql_without_binds(mut shown: String) -> String {
    if let Some(i) = shown.rfind(BINDS) {
        shown.truncate(i);
    }
    shown
}

/// What a driver connection is given as its instrumentation.
pub(crate) struct Instrument(pub(crate) Arc<Probe>);

impl Instrumentation for Instrument {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        self.0.on_event(event);
    }
}

#[cfg(test)]
mod tests {
    use diesel::pg::Pg;
    use diesel::sql_types::{Integer, Text};

    use super::*;

    #[test]
    fn a_statement_is_reported_without_its_binds() {
        let query = diesel::sql_query("UPDATE t SET a = $1 WHERE b = $2")
            .bind::<Text, _>("secret-value")
            .bind::<Integer, _>(7);
        let sql = sql_of(&diesel::debug_query::<Pg, _>(&query));
        assert_eq!(sql, "UPDATE t SET a = $1 WHERE b = $2");
    }

    #[test]
    fn a_statement_without_binds_is_reported_whole() {
        let query = diesel::sql_query("BEGIN");
        assert_eq!(sql_of(&diesel::debug_query::<Pg, _>(&query)), "BEGIN");
    }
}
