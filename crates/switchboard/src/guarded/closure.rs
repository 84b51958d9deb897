//! What a closure does with its [`DbConnection`]: `execute`, `load`,
//! `batch_execute` and named savepoints, each statement guarded.

use std::future::Future;

use diesel::query_builder::AsQuery;
use switchboard_core::{Error, Origin, Result};

use super::{Driver, Guarded, conn, tx};
use crate::backend::DbConnection;
use crate::load::LoadAny;
use crate::statement::{StatementRun, Stop};

impl DbConnection {
    /// Runs an [`Execute`](crate::Execute) (SQL text with typed binds) on
    /// this connection, guarded like the message: `Executing`, the guards
    /// (a denial is `Error::Denied`, a rewrite runs the new SQL), the bind
    /// count, the time limit, the outcome. Returns the rows affected.
    pub async fn execute(&mut self, statement: crate::Execute) -> Result<usize> {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(g) => execute(g, statement).await,
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(g) => execute(g, statement).await,
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(g) => execute(g, statement).await,
        }
    }

    /// Loads a typed diesel query on this connection, guarded (a guard may
    /// deny it, or rewrite its text keeping its binds and columns).
    pub async fn load<A, Q, U>(&mut self, query: A) -> Result<Vec<U>>
    where
        A: AsQuery<Query = Q>,
        Q: LoadAny<U>,
        U: Send + 'static,
    {
        Ok(query.as_query().load_guarded(self).await?)
    }

    /// Runs SQL text without binds (several statements allowed), like
    /// diesel's `batch_execute`: one guarded statement for the whole text,
    /// which the guards see whole.
    pub async fn batch_execute(&mut self, sql: &str) -> Result<()> {
        let done = match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(g) => conn::batch(g, sql).await,
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(g) => conn::batch(g, sql).await,
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(g) => conn::batch(g, sql).await,
        };
        Ok(done?)
    }

    /// Runs `f` inside a savepoint named `name` (a nested transaction):
    /// released when `f` returns `Ok`, rolled back to when it returns
    /// `Err`, while the enclosing transaction goes on. Events `Savepoint`,
    /// then `SavepointReleased` or `SavepointRolledBack`, with the name and
    /// depth (2 for a savepoint directly inside the transaction).
    ///
    /// Only inside a transaction (a `Transaction` closure); `name` must be
    /// an identifier (letters, digits, `_`).
    pub fn savepoint<'c, F, T: 'c>(
        &'c mut self,
        name: &'c str,
        f: F,
    ) -> impl Future<Output = Result<T>> + 'c
    where
        F: AsyncFnOnce(&mut DbConnection) -> Result<T> + 'c,
    {
        tx::savepoint(self, name, f)
    }
}

/// `Execute` inside a closure: the message's story, with its binds.
async fn execute<C: Driver>(g: &mut Guarded<C>, statement: crate::Execute) -> Result<usize> {
    let crate::Execute { sql, binds, .. } = statement;
    if sql.trim().is_empty() {
        return Err(Error::EmptyStatement);
    }
    let (raw, scope, owed) = g.parts()?;
    let statement = StatementRun::execute(&scope.shared, sql, None, &binds, Origin::Closure);
    let counts = crate::connection::Counts::new(&scope.shared, &statement);
    let binds = &binds;
    let (at, poisoned) = scope.split();
    statement
        .tell(
            &at,
            Stop::Cancel,
            poisoned,
            move |sql, cancel| {
                let canceller = if cancel { raw.canceller() } else { None };
                let run = async move {
                    let n = match owed.send() {
                        None => raw.run_binds(&sql, binds, false).await?,
                        Some(begin) => {
                            let began = raw.run_binds_begun(begin, &sql, binds, false).await;
                            owed.outcome(began)?
                        }
                    };
                    Ok(if counts.of(&sql) { n } else { 0 })
                };
                (run, canceller)
            },
            |n| Some(*n as u64),
        )
        .await
}
