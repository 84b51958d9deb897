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
use switchboard_core::{Emitter, EventKind, Origin, Params, RollbackReason, StatementClass};

use super::reset::{self, Debt};
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
    /// What the connection owes its next holder since it was lent.
    pub(crate) debt: Debt,
}

impl Probe {
    pub(crate) fn new(emitter: Arc<Emitter>, shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Probe {
            emitter,
            shared,
            report: AtomicBool::new(false),
            statements: AtomicU64::new(0),
            current: Mutex::new(None),
            debt: Debt::default(),
        })
    }

    pub(crate) fn report_statements(&self, on: bool) {
        self.report.store(on, Ordering::Relaxed);
    }

    pub(crate) fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn statements(&self) -> u64 {
        self.statements.load(Ordering::Relaxed)
    }

    fn on_event(&self, event: InstrumentationEvent<'_>) {
        match event {
            InstrumentationEvent::BeginTransaction { depth, .. } => {
                if depth.get() == 1 {
                    self.debt.note_transaction(true);
                }
                self.emitter.emit(EventKind::TxBegin { depth: depth.get() })
            }
            InstrumentationEvent::CommitTransaction { depth, .. } => {
                if depth.get() == 1 {
                    self.debt.note_transaction(false);
                }
                self.emitter
                    .emit(EventKind::TxCommit { depth: depth.get() })
            }
            InstrumentationEvent::RollbackTransaction { depth, .. } => {
                if depth.get() == 1 {
                    self.debt.note_transaction(false);
                }
                self.emitter.emit(EventKind::TxRollback {
                    depth: depth.get(),
                    reason: RollbackReason::Caller,
                })
            }
            InstrumentationEvent::StartQuery { query, .. }
                if self.report.load(Ordering::Relaxed) =>
            {
                let sql = sql_without_binds(&query.to_string());
                let classified = self.shared.classifier.classify(&sql, self.shared.dialect);
                self.debt.note(reset::effect(&sql, &classified));
                let class = match &*classified {
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

/// diesel's `Display` of a query appends ` -- binds: [...]`; bind values must
/// not reach events, so cut it off.
fn sql_without_binds(shown: &str) -> String {
    match shown.rfind(" -- binds: ") {
        Some(i) => shown[..i].to_owned(),
        None => shown.to_owned(),
    }
}

/// What a driver connection is given as its instrumentation.
pub(crate) struct Instrument(pub(crate) Arc<Probe>);

impl Instrumentation for Instrument {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        self.0.on_event(event);
    }
}
