//! The diesel `Instrumentation` bridge: turns what diesel reports about a
//! connection's transactions into events on the bus, and keeps what a
//! connection's statements share (their count, the read-only backstop).
//!
//! Only transaction boundaries are reported from here (`TxBegin`,
//! `TxCommit`, `TxRollback`, at depth 1; savepoints have events of their
//! own, from `guarded::tx`). Statements tell their own story, every one of
//! them in `statement`: those of messages and those of closures alike, so
//! none is reported twice and none unguarded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
#[cfg(feature = "postgres")]
use std::time::Instant;

use diesel::connection::{Instrumentation, InstrumentationEvent};
use parking_lot::Mutex;
use switchboard_core::{Emitter, Payload, RollbackReason};

use super::reset::Debt;
use super::session::prepared::Texts;

use crate::shared::Shared;
use crate::statement::backstop::Backstop;

/// State shared by a connection actor, its driver's instrumentation and
/// the closures it lends the connection to.
pub(crate) struct Probe {
    emitter: Arc<Emitter>,
    /// Statements run on the connection, by any path.
    statements: AtomicU64,
    /// What the connection's read-only setting is known to be.
    pub(crate) backstop: Backstop,
    /// What the connection owes its next holder since it was lent.
    pub(crate) debt: Debt,
    /// The `Execute` texts this connection keeps prepared. Here because
    /// every session on the connection (pipelined ones at once) shares it.
    pub(crate) prepared: Mutex<Texts>,
    /// When the last pipelined statement's answer came: the next one's
    /// time on the server starts then, or when it was sent if later.
    #[cfg(feature = "postgres")]
    answered: Mutex<Option<Instant>>,
}

impl Probe {
    pub(crate) fn new(emitter: Arc<Emitter>, _shared: Arc<Shared>) -> Arc<Self> {
        Arc::new(Probe {
            emitter,
            statements: AtomicU64::new(0),
            backstop: Backstop::default(),
            debt: Debt::default(),
            prepared: Mutex::new(Texts::default()),
            #[cfg(feature = "postgres")]
            answered: Mutex::new(None),
        })
    }

    pub(crate) fn count_statement(&self) {
        self.statements.fetch_add(1, Ordering::Relaxed);
    }

    /// A pipelined statement sent at `sent` was answered `now`: when its
    /// time on the server began (the answer before it, if that came later
    /// than it was sent).
    #[cfg(feature = "postgres")]
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
            InstrumentationEvent::BeginTransaction { depth, .. } if depth.get() == 1 => {
                self.debt.note_transaction(true);
                self.emitter.emit(Payload::TxBegin { depth: 1 })
            }
            InstrumentationEvent::CommitTransaction { depth, .. } if depth.get() == 1 => {
                self.debt.note_transaction(false);
                self.emitter.emit(Payload::TxCommit { depth: 1 })
            }
            InstrumentationEvent::RollbackTransaction { depth, .. } if depth.get() == 1 => {
                // A `SET` of the read-only setting made inside the
                // transaction is undone with it (PostgreSQL).
                self.backstop.forget();
                self.debt.note_transaction(false);
                self.emitter.emit(Payload::TxRollback {
                    depth: 1,
                    reason: RollbackReason::Caller,
                })
            }
            _ => {}
        }
    }
}

/// What a driver connection is given as its instrumentation.
pub(crate) struct Instrument(pub(crate) Arc<Probe>);

impl Instrumentation for Instrument {
    fn on_connection_event(&mut self, event: InstrumentationEvent<'_>) {
        self.0.on_event(event);
    }
}
