//! The connection a closure sees: every statement it sends is guarded.
//!
//! `Interact` and `Transaction` closures get a [`DbConnection`] whose
//! variants hold a [`Guarded`] driver connection. `Guarded` implements
//! diesel-async's `AsyncConnection` itself (it does not deref to the driver,
//! so diesel's blanket impl for smart pointers cannot reach around it):
//! each query diesel hands it is rendered with the backend's query builder
//! and its binds collected, and the statement then tells the same story as
//! an `Execute` message (`Executing`, the guards with their deadlines and
//! fail-closed policy, the gates, the run within its time limit, the
//! outcome), all in `StatementRun` (the `statement` module). A
//! denial is a diesel error the closure can `?`; a `Transaction` then rolls
//! back. The statement reached the driver only after the guards allowed it.
//!
//! - `driver`: what differs per backend (collecting a query, running it
//!   once collected, cancelling);
//! - `params`: how bind parameters show to guards and in events;
//! - `conn`: the `AsyncConnection` implementation;
//! - `closure`: `DbConnection`'s own methods for closures;
//! - `tx`: transactions with options, savepoints and their events.

mod closure;
mod conn;
pub(crate) mod driver;
pub(crate) mod params;
pub(crate) mod tx;

use std::borrow::Cow;
use std::sync::Arc;

use diesel_async::AsyncConnection;

use switchboard_core::{Emitter, Error, Labels, Result};

pub(crate) use driver::Driver;
pub use tx::{Isolation, TxOptions};

use crate::connection::{Deadline, Probe};
use crate::shared::Shared;
use crate::statement::Teller;

use crate::DbConnection;

/// A driver connection whose every statement is guarded, as closures get it
/// inside [`DbConnection`]. Use it with diesel-async's `RunQueryDsl` and
/// `AsyncConnection` like the driver connection it holds; nothing reaches
/// the driver unguarded.
pub struct Guarded<C> {
    raw: C,
    /// Set while a closure has the connection; statements are refused
    /// without it (the pool's own statements go to `raw` directly).
    scope: Option<Scope>,
    /// The `BEGIN` a `Transaction` owes the server (PostgreSQL, pipelining
    /// on): sent with the closure's first statement, pipelined, so that
    /// the two cost one round trip; or on its own before any other of the
    /// transaction's SQL (see `tx::begin`).
    owed: Owed,
}

/// Whether a transaction's `BEGIN` is still owed to the server.
#[derive(Debug, Default)]
pub(crate) enum Owed {
    /// Nothing owed: no transaction, or its `BEGIN` was sent and answered.
    #[default]
    Nothing,
    /// The `BEGIN` to send ahead of the transaction's first SQL (only
    /// PostgreSQL defers it).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    Begin(Cow<'static, str>),
    /// The `BEGIN` sent with a statement failed: the transaction never
    /// began, so nothing more of it may run (it would run outside any
    /// transaction). Its statements are refused and the connection is
    /// replaced.
    Failed,
}

/// A statement's outcome after the `BEGIN` sent with it: `Err` is the
/// `BEGIN`'s own failure, `Ok` the statement's outcome.
pub(crate) type Began<T> = Result<diesel::QueryResult<T>, diesel::result::Error>;

impl Owed {
    /// The `BEGIN` to send ahead of a statement about to run, now counted
    /// as sent.
    pub(crate) fn send(&mut self) -> Option<Cow<'static, str>> {
        match std::mem::take(self) {
            Owed::Begin(sql) => Some(sql),
            other => {
                *self = other;
                None
            }
        }
    }

    /// The `BEGIN`'s text, still owed: for a driver future built before
    /// the guards decide whether it runs (see `conn::guarded`).
    pub(crate) fn text(&self) -> Option<Cow<'static, str>> {
        match self {
            Owed::Begin(sql) => Some(sql.clone()),
            _ => None,
        }
    }

    /// The statement's outcome; a failed `BEGIN` is remembered, so that
    /// nothing more of the transaction runs.
    pub(crate) fn outcome<T>(&mut self, began: Began<T>) -> diesel::QueryResult<T> {
        began.unwrap_or_else(|e| {
            *self = Owed::Failed;
            Err(e)
        })
    }

    /// The error of whatever the transaction tries after its `BEGIN`
    /// failed.
    fn refused() -> Error {
        Error::ConnectionLost {
            message: "this transaction's BEGIN failed, so it never began; its statements are refused and the connection is replaced".into(),
        }
    }
}

/// What a closure's statements need to tell their story: the connection's
/// emitter and probe, the pool's shared facts, and the message's labels and
/// deadline.
pub(crate) struct Scope {
    pub(crate) emitter: Arc<Emitter>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) probe: Arc<Probe>,
    pub(crate) labels: Labels,
    pub(crate) deadline: Option<Deadline>,
    /// A statement was abandoned mid-way (it ignored its cancel): the
    /// connection's state is unknown, so it takes no more statements and is
    /// replaced after the closure.
    pub(crate) poisoned: bool,
}

impl Scope {
    /// The scope of one message's work on a connection: nothing abandoned
    /// yet.
    pub(crate) fn new(
        emitter: &Arc<Emitter>,
        shared: &Arc<Shared>,
        probe: &Arc<Probe>,
        labels: Labels,
        deadline: Option<Deadline>,
    ) -> Self {
        Scope {
            emitter: emitter.clone(),
            shared: shared.clone(),
            probe: probe.clone(),
            labels,
            deadline,
            poisoned: false,
        }
    }

    /// The scope the pool's hooks (setup, checkout) get a connection in:
    /// their statements are guarded and reported like a closure's, without
    /// labels or deadline (the hook's own time is bounded by its caller).
    pub(crate) fn for_hooks(
        emitter: &Arc<Emitter>,
        shared: &Arc<Shared>,
        probe: &Arc<Probe>,
    ) -> Self {
        Scope::new(emitter, shared, probe, Labels::new(), None)
    }

    /// The same scope for a closure the work runs: its own record of what
    /// was abandoned, which the work reads back when the closure ends.
    pub(crate) fn for_closure(&self) -> Self {
        Scope::new(
            &self.emitter,
            &self.shared,
            &self.probe,
            self.labels.clone(),
            self.deadline,
        )
    }

    /// The scope of a connection of an in-memory SQLite pool with no
    /// guards, for unit tests.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Self {
        let url = switchboard_core::DatabaseUrl::parse("sqlite::memory:").expect("a URL");
        let shared = Arc::new(Shared::new(
            crate::config::PoolConfig::default(),
            url,
            switchboard_core::Backend::Sqlite,
            None,
            switchboard_core::Bus::new(),
            switchboard_core::Guards::default(),
            Default::default(),
        ));
        let emitter = Arc::new(Emitter::new(
            shared.bus.clone(),
            shared.pool.clone(),
            switchboard_core::Backend::Sqlite,
            1,
        ));
        let probe = Probe::new(emitter.clone(), shared.clone());
        Scope::new(&emitter, &shared, &probe, Labels::new(), None)
    }

    /// Whether the work's statements have a time limit (the pool's
    /// statement timeout, or the message's): a statement past it is
    /// cancelled on the server.
    pub(crate) fn time_limited(&self) -> bool {
        self.deadline.is_some() || self.shared.config.statement_timeout.is_some()
    }

    /// The statement's teller, and where to note a statement abandoned
    /// mid-way: the scope's fields, borrowed apart.
    pub(crate) fn split(&mut self) -> (Teller<'_>, &mut bool) {
        let at = Teller {
            emitter: &self.emitter,
            shared: &self.shared,
            probe: &self.probe,
            labels: &self.labels,
            deadline: self.deadline.as_ref(),
        };
        (at, &mut self.poisoned)
    }
}

impl<C> Guarded<C> {
    pub(crate) fn new(raw: C) -> Self {
        Guarded {
            raw,
            scope: None,
            owed: Owed::Nothing,
        }
    }

    /// The driver connection, unguarded: for the pool's own statements and
    /// for statements already guarded.
    pub(crate) fn raw(&mut self) -> &mut C {
        &mut self.raw
    }

    #[cfg(feature = "postgres")]
    pub(crate) fn into_raw(self) -> C {
        self.raw
    }

    pub(crate) fn enter(&mut self, scope: Scope) {
        self.scope = Some(scope);
    }

    pub(crate) fn leave(&mut self) -> Option<Scope> {
        // A BEGIN still owed was never sent: there is no transaction on
        // the server to end.
        self.owed = Owed::Nothing;
        self.scope.take()
    }

    /// The connection, the closure's scope and the `BEGIN` owed to the
    /// server (the statement that runs takes it), or the error a statement
    /// gets outside a closure (or after its connection was abandoned, or
    /// its transaction's `BEGIN` failed).
    pub(crate) fn parts(&mut self) -> Result<(&mut C, &mut Scope, &mut Owed)> {
        match &mut self.scope {
            Some(scope) if scope.poisoned => Err(Error::ConnectionLost {
                message: "an earlier statement of this closure was abandoned mid-way; the connection takes no more statements".into(),
            }),
            Some(scope) if matches!(self.owed, Owed::Failed) => {
                scope.poisoned = true;
                Err(Owed::refused())
            }
            Some(scope) => Ok((&mut self.raw, scope, &mut self.owed)),
            None => Err(Error::Driver(
                "this connection is not lent to a closure; its statements are refused".into(),
            )),
        }
    }
}

impl<C: AsyncConnection> Guarded<C> {
    /// Sends the `BEGIN` owed to the server, if any, on its own: before
    /// the transaction's own SQL (savepoints, nested transactions, `COMMIT`,
    /// `ROLLBACK`), which must find the transaction begun. After a failed
    /// `BEGIN` that SQL is refused, and the connection replaced.
    pub(crate) async fn settle(&mut self) -> diesel::QueryResult<()> {
        let began = match self.owed.send() {
            Some(begin) => self.raw.batch_execute(&begin).await.map(Ok),
            None if matches!(self.owed, Owed::Failed) => Err(Owed::refused().into_diesel()),
            None => return Ok(()),
        };
        let outcome = self.owed.outcome(began);
        if outcome.is_err()
            && let Some(scope) = &mut self.scope
        {
            scope.poisoned = true;
        }
        outcome
    }
}

impl crate::backend::DbConnection {
    /// Lends the connection to a closure: its statements are guarded with
    /// `scope`'s labels and deadline.
    pub(crate) fn enter(&mut self, scope: Scope) {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(g) => g.enter(scope),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(g) => g.enter(scope),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(g) => g.enter(scope),
        }
    }

    /// Sends the `BEGIN` its transaction owes the server, if any (see
    /// [`Guarded::settle`]).
    pub(crate) async fn settle(&mut self) -> diesel::QueryResult<()> {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(g) => g.settle().await,
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(g) => g.settle().await,
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(g) => g.settle().await,
        }
    }

    /// Takes the connection back from a closure.
    pub(crate) fn leave(&mut self) -> Option<Scope> {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(g) => g.leave(),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(g) => g.leave(),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(g) => g.leave(),
        }
    }
}

impl<C> std::fmt::Debug for Guarded<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Guarded")
            .field("in_closure", &self.scope.is_some())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_owed_begin_is_sent_once_and_a_failed_one_closes_the_transaction() {
        let mut owed = Owed::Begin(Cow::Borrowed("BEGIN"));
        assert_eq!(owed.text().as_deref(), Some("BEGIN"));
        assert_eq!(owed.send().as_deref(), Some("BEGIN"));
        assert!(owed.send().is_none(), "sent once");
        assert_eq!(owed.outcome::<u8>(Ok(Ok(3))).unwrap(), 3);
        assert!(matches!(owed, Owed::Nothing));

        // The statement's own failure leaves the transaction going.
        let mut owed = Owed::Begin(Cow::Borrowed("BEGIN"));
        owed.send();
        let failed = owed.outcome::<u8>(Ok(Err(diesel::result::Error::NotFound)));
        assert!(matches!(failed, Err(diesel::result::Error::NotFound)));
        assert!(matches!(owed, Owed::Nothing));

        // The BEGIN's failure hides the statement's outcome and is kept.
        let mut owed = Owed::Begin(Cow::Borrowed("BEGIN"));
        owed.send();
        let failed = owed.outcome::<u8>(Err(diesel::result::Error::BrokenTransactionManager));
        assert!(matches!(
            failed,
            Err(diesel::result::Error::BrokenTransactionManager)
        ));
        assert!(matches!(owed, Owed::Failed));
        assert!(owed.send().is_none() && owed.text().is_none());
    }

    #[test]
    fn a_closure_whose_begin_failed_runs_nothing_more() {
        let mut g = Guarded::new(());
        assert!(
            matches!(g.parts(), Err(Error::Driver(_))),
            "outside a closure"
        );
        g.owed = Owed::Failed;
        // Inside a closure: refused, and the connection marked for
        // replacement.
        g.enter(Scope::for_tests());
        assert!(matches!(g.parts(), Err(Error::ConnectionLost { .. })));
        assert!(g.leave().is_some_and(|s| s.poisoned));
    }
}
