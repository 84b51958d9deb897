//! Setting a connection up: the pool's `on_connect` SQL and hooks, run on
//! every new connection before it is lent or counted open (SQLAlchemy's
//! `connect` event, HikariCP's `connectionInitSql`, sqlx's
//! `after_connect`), and again after a session reset, which clears what
//! they set.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use switchboard_core::{Error, Result};

use crate::backend::DbConnection;
use crate::guarded::Scope;

/// A setup hook: given the new connection, prepares its session.
pub type SetupHook =
    Arc<dyn for<'c> Fn(&'c mut DbConnection) -> BoxFuture<'c, Result<()>> + Send + Sync>;

/// What runs on every new connection, in order: the SQL texts, then the
/// hooks.
#[derive(Clone, Default)]
pub(crate) struct Setup {
    pub(crate) sql: Vec<String>,
    pub(crate) hooks: Vec<SetupHook>,
}

impl std::fmt::Debug for Setup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Setup")
            .field("sql", &self.sql)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

impl Setup {
    pub(crate) fn is_empty(&self) -> bool {
        self.sql.is_empty() && self.hooks.is_empty()
    }

    /// Runs the setup on `conn`. A hook that panics fails the setup with
    /// `Error::Panic`; the caller bounds the time it may take.
    ///
    /// The SQL texts are the pool's own statements, run as they are; the
    /// hooks get the connection in `scope`, so what they send is guarded
    /// and reported like a closure's statements.
    pub(crate) async fn run(&self, conn: &mut DbConnection, scope: Scope) -> Result<()> {
        for sql in &self.sql {
            conn.raw_batch_execute(sql)
                .await
                .map_err(|e| setup_error(sql, e))?;
        }
        if self.hooks.is_empty() {
            return Ok(());
        }
        conn.enter(scope);
        let outcome = self.run_hooks(conn).await;
        let poisoned = conn.leave().is_some_and(|scope| scope.poisoned);
        match outcome {
            Ok(()) if poisoned => Err(Error::ConnectionLost {
                message: "an on_connect hook's statement was abandoned mid-way".into(),
            }),
            other => other,
        }
    }

    async fn run_hooks(&self, conn: &mut DbConnection) -> Result<()> {
        for hook in &self.hooks {
            match AssertUnwindSafe(hook(conn)).catch_unwind().await {
                Ok(result) => result?,
                Err(panic) => {
                    return Err(Error::Panic(format!(
                        "an on_connect hook panicked: {}",
                        switchboard_core::error::panic_message(&*panic)
                    )));
                }
            }
        }
        Ok(())
    }
}

/// A setup statement's failure, saying which statement it was.
fn setup_error(sql: &str, err: Error) -> Error {
    match err {
        Error::Database {
            kind,
            code,
            message,
        } => Error::Database {
            kind,
            code,
            message: format!("on_connect SQL {sql:?} failed: {message}"),
        },
        other => other,
    }
}

/// A checkout hook: given a connection about to be lent, says whether it may
/// be (`Ok(false)` or an error: it is closed and another one is tried).
pub type CheckoutHook =
    Arc<dyn for<'c> Fn(&'c mut DbConnection) -> BoxFuture<'c, Result<bool>> + Send + Sync>;

/// A disconnect classifier: says whether an error a statement or closure
/// met means the connection is unusable (e.g. a failover error behind a
/// proxy), so that it is invalidated and a `retryable` statement retried.
pub type DisconnectHook = Arc<dyn Fn(&Error) -> bool + Send + Sync>;

/// The pool's hooks on its connections' lifecycle, beyond setup.
#[derive(Clone, Default)]
pub(crate) struct Hooks {
    /// Run on every new connection, and again after a session reset.
    pub(crate) setup: Setup,
    pub(crate) checkout: Option<CheckoutHook>,
    pub(crate) disconnect: Option<DisconnectHook>,
}

impl std::fmt::Debug for Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hooks")
            .field("setup", &self.setup)
            .field("checkout", &self.checkout.is_some())
            .field("disconnect", &self.disconnect.is_some())
            .finish()
    }
}

impl Hooks {
    /// `err` as `ConnectionLost` when the disconnect hook says it means
    /// the connection is unusable.
    pub(crate) fn classify(&self, err: Error) -> Error {
        match &self.disconnect {
            Some(hook) if !err.is_connection_lost() && hook(&err) => Error::ConnectionLost {
                message: format!("{err} (classified as a disconnect by the pool's hook)"),
            },
            _ => err,
        }
    }

    /// Asks the checkout hook about `conn`: `Ok(true)` when there is none.
    /// The hook gets the connection in `scope`: what it sends is guarded
    /// and reported like a closure's statements.
    pub(crate) async fn check_out(&self, conn: &mut DbConnection, scope: Scope) -> Result<bool> {
        let Some(hook) = &self.checkout else {
            return Ok(true);
        };
        conn.enter(scope);
        let verdict = AssertUnwindSafe(hook(conn)).catch_unwind().await;
        let poisoned = conn.leave().is_some_and(|scope| scope.poisoned);
        match verdict {
            Ok(Ok(true)) if poisoned => Ok(false),
            Ok(verdict) => verdict,
            Err(panic) => Err(Error::Panic(format!(
                "the checkout hook panicked: {}",
                switchboard_core::error::panic_message(&*panic)
            ))),
        }
    }
}
