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
    owed_begin: Option<Cow<'static, str>>,
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
            owed_begin: None,
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
        self.owed_begin = None;
        self.scope.take()
    }

    /// The connection, the closure's scope and the `BEGIN` owed to the
    /// server (the statement that runs takes it), or the error a statement
    /// gets outside a closure (or after its connection was abandoned).
    pub(crate) fn parts(&mut self) -> Result<(&mut C, &mut Scope, &mut Option<Cow<'static, str>>)> {
        match &mut self.scope {
            Some(scope) if scope.poisoned => Err(Error::ConnectionLost {
                message: "an earlier statement of this closure was abandoned mid-way; the connection takes no more statements".into(),
            }),
            Some(scope) => Ok((&mut self.raw, scope, &mut self.owed_begin)),
            None => Err(Error::Driver(
                "this connection is not lent to a closure; its statements are refused".into(),
            )),
        }
    }
}

impl<C: AsyncConnection> Guarded<C> {
    /// Sends the `BEGIN` owed to the server, if any, on its own: before
    /// the transaction's own SQL (savepoints, nested transactions, `COMMIT`,
    /// `ROLLBACK`), which must find the transaction begun.
    pub(crate) async fn settle(&mut self) -> diesel::QueryResult<()> {
        match self.owed_begin.take() {
            Some(begin) => self.raw.batch_execute(&begin).await,
            None => Ok(()),
        }
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
