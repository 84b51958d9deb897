//! Transactions: how a `Transaction` begins (isolation level, read only,
//! deferrable), savepoints and their events, and the transaction manager
//! of a guarded connection.
//!
//! Transaction control (`BEGIN`, `COMMIT`, `ROLLBACK`, `SAVEPOINT`,
//! `RELEASE`, `ROLLBACK TO`) is the pool's own SQL, not a statement of the
//! caller's: it is reported as `TxBegin`/`TxCommit`/`TxRollback` and
//! `Savepoint`/`SavepointReleased`/`SavepointRolledBack`, not guarded. A
//! caller's own `BEGIN` or `SAVEPOINT` sent as SQL is a statement like any
//! other, and guarded.

#[cfg(feature = "postgres")]
use std::borrow::Cow;
use std::num::NonZeroU32;
use std::sync::Arc;

use diesel::QueryResult;
#[cfg(feature = "postgres")]
use diesel::connection::InstrumentationEvent;
use diesel::connection::{TransactionDepthChange, TransactionManagerStatus};
#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel_async::AnsiTransactionManager;
#[cfg(feature = "mysql")]
use diesel_async::AsyncMysqlConnection;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use diesel_async::{AsyncConnection, SimpleAsyncConnection, TransactionManager};
#[cfg(any(feature = "mysql", feature = "sqlite"))]
use switchboard_core::Backend;
use switchboard_core::{Error, Payload, Result};

use super::Guarded;
#[cfg(feature = "sqlite")]
use crate::backend::SqliteAsync;
use crate::backend::{DbConnection, each};

/// A transaction isolation level, as the SQL standard names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Isolation {
    /// `READ UNCOMMITTED` (PostgreSQL runs it as `READ COMMITTED`).
    ReadUncommitted,
    /// `READ COMMITTED`.
    ReadCommitted,
    /// `REPEATABLE READ`.
    RepeatableRead,
    /// `SERIALIZABLE`.
    Serializable,
}

impl Isolation {
    #[cfg(any(feature = "postgres", feature = "mysql"))]
    fn sql(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "READ UNCOMMITTED",
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// How a `Transaction` begins. Default: the database's own defaults.
///
/// | | PostgreSQL | MySQL/MariaDB | SQLite |
/// |---|---|---|---|
/// | `isolation` | `BEGIN ISOLATION LEVEL ...` | `SET TRANSACTION ISOLATION LEVEL ...` before `START TRANSACTION` | always serializable (its only level; a weaker level asked for gets the stronger one, as the SQL standard allows) |
/// | `read_only` | `READ ONLY` | `START TRANSACTION READ ONLY` | `PRAGMA query_only` for the transaction's span |
/// | `deferrable` | `DEFERRABLE` (with serializable, read only) | refused | refused |
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TxOptions {
    /// The isolation level; `None`: the session's default.
    pub isolation: Option<Isolation>,
    /// The transaction may not write (the database refuses writes).
    pub read_only: bool,
    /// PostgreSQL: a serializable read-only transaction waits for a
    /// snapshot that cannot fail with a serialization error.
    pub deferrable: bool,
}

impl TxOptions {
    /// Whether these are the defaults (a plain `BEGIN`).
    fn is_default(&self) -> bool {
        *self == TxOptions::default()
    }
}

#[cfg(any(feature = "mysql", feature = "sqlite"))]
fn unsupported(what: &str, backend: Backend) -> Error {
    Error::Config(format!(
        "{what} transactions are not supported on {backend}; remove the option or use PostgreSQL"
    ))
}

/// Begins the transaction of a `Transaction` message on the driver
/// connection (`TxBegin`).
///
/// On PostgreSQL with pipelining on, the `BEGIN` is not sent here: the
/// transaction counts as begun (its depth, its `TxBegin` event) and the
/// `BEGIN` goes out with the closure's first statement, pipelined, which
/// saves a round trip per transaction (see [`Guarded::defer_begin`]).
pub(crate) async fn begin(conn: &mut DbConnection, options: &TxOptions) -> Result<()> {
    #[cfg(feature = "postgres")]
    if let DbConnection::Postgres(g) = conn
        && g.defers_begin()
    {
        return Ok(g.defer_begin(pg_begin(options))?);
    }
    #[cfg(any(feature = "mysql", feature = "sqlite"))]
    let backend = conn.backend();
    if options.is_default() {
        return Ok(each!(conn, c => start(c).await)?);
    }
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(g) => {
            AnsiTransactionManager::begin_transaction_sql(g.raw(), &pg_begin(options)).await?;
        }
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(g) => {
            if options.deferrable {
                return Err(unsupported("DEFERRABLE", backend));
            }
            if let Some(level) = options.isolation {
                let sql = format!("SET TRANSACTION ISOLATION LEVEL {}", level.sql());
                g.raw().batch_execute(&sql).await?;
            }
            let sql = match options.read_only {
                true => "START TRANSACTION READ ONLY",
                false => "START TRANSACTION",
            };
            AnsiTransactionManager::begin_transaction_sql(g.raw(), sql).await?;
        }
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(g) => {
            if options.deferrable {
                return Err(unsupported("DEFERRABLE", backend));
            }
            start(g.raw()).await?;
            if options.read_only
                && let Err(e) = g.raw().batch_execute("PRAGMA query_only = ON").await
            {
                let _ = rollback(conn).await;
                return Err(e.into());
            }
        }
    }
    Ok(())
}

/// PostgreSQL's `BEGIN` with `options`.
#[cfg(feature = "postgres")]
fn pg_begin(options: &TxOptions) -> Cow<'static, str> {
    if options.is_default() {
        return Cow::Borrowed("BEGIN");
    }
    let mut sql = String::from("BEGIN");
    if let Some(level) = options.isolation {
        sql.push_str(" ISOLATION LEVEL ");
        sql.push_str(level.sql());
    }
    if options.read_only {
        sql.push_str(" READ ONLY");
    }
    if options.deferrable {
        sql.push_str(" DEFERRABLE");
    }
    Cow::Owned(sql)
}

#[cfg(feature = "postgres")]
impl Guarded<AsyncPgConnection> {
    /// Whether a transaction's `BEGIN` goes with its first statement: when
    /// the pool pipelines, and nothing can cancel the statement (no time
    /// limit, the message's or the pool's). A cancel request lands on
    /// whatever the server runs when it arrives: if that were the `BEGIN`,
    /// the statement behind it would run outside the transaction.
    fn defers_begin(&self) -> bool {
        self.scope
            .as_ref()
            .is_some_and(|s| s.shared.config.pipeline > 1 && !s.time_limited())
    }

    /// Begins a transaction whose `BEGIN` (`sql`) is sent with its first
    /// statement: the transaction manager and the events count it begun
    /// now, as diesel's own `begin_transaction` would once its `BEGIN` was
    /// answered. Whatever of the transaction reaches the server first
    /// sends the `BEGIN` ahead of it: a statement pipelines the two
    /// (`driver::begun`); transaction control (savepoints, `COMMIT`,
    /// `ROLLBACK`) sends it on its own first (`Guarded::settle`).
    fn defer_begin(&mut self, sql: Cow<'static, str>) -> QueryResult<()> {
        if depth(&mut self.raw)? > 0 {
            return Err(diesel::result::Error::AlreadyInTransaction);
        }
        self.raw
            .instrumentation()
            .on_connection_event(InstrumentationEvent::begin_transaction(NonZeroU32::MIN));
        change_depth(&mut self.raw, TransactionDepthChange::IncreaseDepth)?;
        self.owed = super::Owed::Begin(sql);
        Ok(())
    }
}

/// Ends a `Transaction` message's transaction with `COMMIT` (`TxCommit`).
pub(crate) async fn commit(conn: &mut DbConnection, options: &TxOptions) -> Result<()> {
    let done = match conn.settle().await {
        Ok(()) => each!(conn, c => end(c, true).await),
        Err(e) => Err(e),
    };
    restore(conn, options).await;
    Ok(done?)
}

/// Ends a `Transaction` message's transaction with `ROLLBACK`
/// (`TxRollback`).
pub(crate) async fn rollback(conn: &mut DbConnection) -> QueryResult<()> {
    conn.settle().await?;
    each!(conn, c => end(c, false).await)
}

/// Ends a rolled-back `Transaction`'s options (SQLite's `query_only`).
pub(crate) async fn restore(conn: &mut DbConnection, options: &TxOptions) {
    if !options.read_only {
        return;
    }
    match conn {
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(g) => {
            // Back to what the pool's read-only mode wants.
            let on = g.scope.as_ref().is_some_and(|s| s.probe.backstop.is_on());
            let sql = if on {
                "PRAGMA query_only = ON"
            } else {
                "PRAGMA query_only = OFF"
            };
            if let Err(e) = g.raw().batch_execute(sql).await {
                tracing::warn!(error = %e, "could not reset query_only after a read-only transaction");
            }
        }
        #[allow(unreachable_patterns)]
        _ => {}
    }
}

async fn start<C: AsyncConnection>(c: &mut C) -> QueryResult<()> {
    C::TransactionManager::begin_transaction(c).await
}

async fn end<C: AsyncConnection>(c: &mut C, commit: bool) -> QueryResult<()> {
    match commit {
        true => C::TransactionManager::commit_transaction(c).await,
        false => C::TransactionManager::rollback_transaction(c).await,
    }
}

/// The transaction depth of a driver connection: 0 outside a transaction.
fn depth<C: AsyncConnection>(c: &mut C) -> QueryResult<u32> {
    Ok(C::TransactionManager::transaction_manager_status_mut(c)
        .transaction_depth()?
        .map_or(0, NonZeroU32::get))
}

fn change_depth<C: AsyncConnection>(c: &mut C, change: TransactionDepthChange) -> QueryResult<()> {
    match C::TransactionManager::transaction_manager_status_mut(c) {
        TransactionManagerStatus::Valid(status) => status.change_transaction_depth(change),
        TransactionManagerStatus::InError => Err(diesel::result::Error::BrokenTransactionManager),
    }
}

impl<C> Guarded<C> {
    fn emit(&self, kind: Payload) {
        if let Some(scope) = &self.scope {
            scope.emitter.emit_as(kind, &scope.labels);
        }
    }
}

/// A savepoint's name: an SQL identifier (letters, digits, `_`, not
/// starting with a digit, at most 63 bytes), spelled into the SQL as is.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("diesel_savepoint_");
    if ok {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "savepoint name {name:?} is not allowed: use letters, digits and '_' (not first a digit, at most 63, not diesel_savepoint_*)"
        )))
    }
}

/// A named savepoint on a guarded connection, around `f`.
pub(crate) async fn savepoint<F, T>(conn: &mut DbConnection, name: &str, f: F) -> Result<T>
where
    F: AsyncFnOnce(&mut DbConnection) -> Result<T>,
{
    check_name(name)?;
    let at = each!(conn, c => depth(c))?;
    if at == 0 {
        return Err(Error::Config(format!(
            "savepoint {name:?} needs a transaction: set it inside a Transaction closure"
        )));
    }
    let name: Arc<str> = Arc::from(name);
    let depth = at + 1;
    conn.settle().await?;
    each!(conn, c => c.batch_execute(&format!("SAVEPOINT {name}")).await)?;
    each!(conn, c => change_depth(c, TransactionDepthChange::IncreaseDepth))?;
    emit(
        conn,
        Payload::Savepoint {
            name: name.clone(),
            depth,
        },
    );
    let outcome = f(conn).await;
    let ended = match &outcome {
        Ok(_) => each!(conn, c => c.batch_execute(&format!("RELEASE SAVEPOINT {name}")).await),
        Err(_) => {
            match each!(conn, c => c.batch_execute(&format!("ROLLBACK TO SAVEPOINT {name}")).await)
            {
                Ok(()) => {
                    each!(conn, c => c.batch_execute(&format!("RELEASE SAVEPOINT {name}")).await)
                }
                Err(e) => Err(e),
            }
        }
    };
    each!(conn, c => change_depth(c, TransactionDepthChange::DecreaseDepth))?;
    ended?;
    emit(
        conn,
        match &outcome {
            Ok(_) => Payload::SavepointReleased { name, depth },
            Err(_) => Payload::SavepointRolledBack { name, depth },
        },
    );
    outcome
}

fn emit(conn: &DbConnection, kind: Payload) {
    match conn {
        #[cfg(feature = "postgres")]
        DbConnection::Postgres(g) => g.emit(kind),
        #[cfg(feature = "mysql")]
        DbConnection::Mysql(g) => g.emit(kind),
        #[cfg(feature = "sqlite")]
        DbConnection::Sqlite(g) => g.emit(kind),
    }
}

/// The transaction manager of a [`Guarded`] connection: the driver's own,
/// with an event for every savepoint a nested `transaction` sets
/// (`diesel_savepoint_N`). Transactions themselves are reported from the
/// driver's instrumentation.
#[derive(Debug)]
pub struct GuardedTransactions;

macro_rules! guarded_transactions {
    ($driver:ty) => {
        impl TransactionManager<Guarded<$driver>> for GuardedTransactions {
            type TransactionStateData = <<$driver as AsyncConnection>::TransactionManager as TransactionManager<$driver>>::TransactionStateData;

            async fn begin_transaction(conn: &mut Guarded<$driver>) -> QueryResult<()> {
                conn.parts().map_err(Error::into_diesel)?;
                conn.settle().await?;
                let was = depth(&mut conn.raw)?;
                start(&mut conn.raw).await?;
                if was > 0 {
                    conn.emit(Payload::Savepoint {
                        name: Arc::from(format!("diesel_savepoint_{was}")),
                        depth: was + 1,
                    });
                }
                Ok(())
            }

            async fn rollback_transaction(conn: &mut Guarded<$driver>) -> QueryResult<()> {
                conn.settle().await?;
                let was = depth(&mut conn.raw)?;
                end(&mut conn.raw, false).await?;
                if was > 1 {
                    conn.emit(Payload::SavepointRolledBack {
                        name: Arc::from(format!("diesel_savepoint_{}", was - 1)),
                        depth: was,
                    });
                }
                Ok(())
            }

            async fn commit_transaction(conn: &mut Guarded<$driver>) -> QueryResult<()> {
                conn.settle().await?;
                let was = depth(&mut conn.raw)?;
                end(&mut conn.raw, true).await?;
                if was > 1 {
                    conn.emit(Payload::SavepointReleased {
                        name: Arc::from(format!("diesel_savepoint_{}", was - 1)),
                        depth: was,
                    });
                }
                Ok(())
            }

            fn transaction_manager_status_mut(
                conn: &mut Guarded<$driver>,
            ) -> &mut TransactionManagerStatus {
                <$driver as AsyncConnection>::TransactionManager::transaction_manager_status_mut(
                    &mut conn.raw,
                )
            }

            fn is_broken_transaction_manager(conn: &mut Guarded<$driver>) -> bool {
                <$driver as AsyncConnection>::TransactionManager::is_broken_transaction_manager(
                    &mut conn.raw,
                )
            }
        }
    };
}

#[cfg(feature = "postgres")]
guarded_transactions!(AsyncPgConnection);
#[cfg(feature = "mysql")]
guarded_transactions!(AsyncMysqlConnection);
#[cfg(feature = "sqlite")]
guarded_transactions!(SqliteAsync);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn savepoint_names_are_identifiers_only() {
        for ok in ["a", "_x", "step_2", "S1"] {
            assert!(check_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "a b",
            "a;DROP TABLE t",
            "a\"b",
            "diesel_savepoint_1",
            &"x".repeat(64),
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }
}
