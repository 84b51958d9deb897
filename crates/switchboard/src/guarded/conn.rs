//! diesel-async's `AsyncConnection` for [`Guarded`]: what diesel's own
//! methods (`RunQueryDsl::execute`, `load`, `get_result`, `transaction`,
//! ...) call on a closure's connection.
//!
//! Each query is collected at once (see `driver`), its story told by
//! `StatementRun`, and the driver given it only once the guards allowed it.
//! Errors are diesel's, carrying switchboard's: a closure's `?` turns a
//! denial back into `Error::Denied`.

use std::borrow::Cow;
use std::future::Future;
use std::sync::Arc;

use diesel::QueryResult;
use diesel::connection::{CacheSize, Instrumentation};
use diesel::query_builder::{AsQuery, CollectedQuery, Query, QueryFragment, QueryId};
#[cfg(feature = "mysql")]
use diesel_async::AsyncMysqlConnection;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use diesel_async::{AsyncConnection, AsyncConnectionCore, SimpleAsyncConnection};
#[cfg(feature = "postgres")]
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use switchboard_core::{Classified, Error, Origin, Params};

#[cfg(feature = "postgres")]
use super::driver::begun;
use super::driver::{Driver, collected};
use super::{Began, Guarded, Owed, tx};
#[cfg(feature = "sqlite")]
use crate::backend::SqliteAsync;
use crate::config::ParamPolicy;
use crate::statement::{StatementRun, Stop};

fn failed<'a, T: Send + 'a>(e: diesel::result::Error) -> BoxFuture<'a, QueryResult<T>> {
    Box::pin(std::future::ready(Err(e)))
}

/// The driver call for a collected query: `run_execute` or `run_load`.
type RunCollected<'c, C, T> =
    fn(&'c mut C, CollectedQuery<<C as Driver>::Binds>) -> BoxFuture<'c, QueryResult<T>>;

/// The same after a transaction's owed `BEGIN`: `run_execute_begun` or
/// `run_load_begun`.
type RunBegun<'c, C, T> = fn(
    &'c mut C,
    Cow<'static, str>,
    CollectedQuery<<C as Driver>::Binds>,
) -> BoxFuture<'c, Began<T>>;

/// The driver calls for a collected query.
struct Runs<'c, C: Driver, T> {
    run: RunCollected<'c, C, T>,
    begun: RunBegun<'c, C, T>,
}

/// The driver's own future for a query it collects itself, after the
/// `BEGIN` owed, if any.
type RunEarly<'c, C, Q, T> = fn(&'c mut C, Option<Cow<'static, str>>, Q) -> BoxFuture<'c, Began<T>>;

/// A typed query's driver work, before its story starts.
enum Pending<'c, C: Driver, T> {
    /// Collected: handed to the driver, with the SQL the story settles
    /// on, once the guards allowed it.
    Collected {
        raw: &'c mut C,
        binds: C::Binds,
        safe_to_cache: bool,
        runs: Runs<'c, C, T>,
        /// The transaction's `BEGIN`, if still owed: the statement that
        /// runs sends it first (a denied one leaves it owed).
        owed: &'c mut Owed,
    },
    /// Collected by the driver itself (user-defined PostgreSQL types): its
    /// future, which starts nothing before it is polled, and sends the
    /// `BEGIN` owed when it was made, if any (counted as sent only if it
    /// runs).
    Started(BoxFuture<'c, Began<T>>, &'c mut Owed),
}

/// Guards and runs a typed query; `execute` and `load` differ only in the
/// driver calls (`run` for a collected query, `early` for one the driver
/// collects itself) and in what they count.
///
/// The text, classification and parameter types of a query whose type
/// fixes them are cached per pool, like `Load`'s: only the binds are
/// collected per statement.
fn guarded<'c, C, Q, T>(
    conn: &'c mut Guarded<C>,
    query: Q,
    runs: Runs<'c, C, T>,
    early: RunEarly<'c, C, Q, T>,
    rows: fn(&T) -> Option<u64>,
) -> BoxFuture<'c, QueryResult<T>>
where
    C: Driver,
    Q: QueryFragment<C::Backend> + QueryId,
    T: Send + 'c,
{
    let (raw, scope, owed) = match conn.parts() {
        Ok(parts) => parts,
        Err(e) => return failed(e.into_diesel()),
    };
    let plain = scope.shared.config.params == ParamPolicy::Plain;
    let prepared = C::safe_to_cache(&query).and_then(|safe| Ok((safe, C::bind(&query)?)));
    let (safe_to_cache, bound) = match prepared {
        Ok(prepared) => prepared,
        Err(e) => return failed(e),
    };
    let key = Q::query_id().filter(|_| safe_to_cache);
    let described = scope.shared.typed_sql(key, || {
        Ok((C::render(&query)?, C::params(&bound.binds, plain)))
    });
    let (sql, classified, params) = match described {
        Ok(described) => described,
        Err(e) => return failed(e.into_diesel()),
    };
    // Made now, while the connection is at hand: the early path hands it
    // to the driver's future. Only for a statement with a time limit.
    let canceller = scope.time_limited().then(|| raw.canceller()).flatten();
    let pending = match bound.by_driver {
        // Rare (user-defined PostgreSQL types): the driver's future holds
        // the connection from now on, so it carries the owed BEGIN.
        true => Pending::Started(early(raw, owed.text(), query), owed),
        false => Pending::Collected {
            raw,
            binds: bound.binds,
            safe_to_cache,
            runs,
            owed,
        },
    };
    let statement = closure_statement(sql, classified, params, !bound.by_driver);
    Box::pin(async move {
        let (at, poisoned) = scope.split();
        statement
            .tell(
                &at,
                Stop::Cancel,
                poisoned,
                move |sql: Arc<str>, _| match pending {
                    // The story's SQL: the caller's, or a guard's rewrite,
                    // run with the query's binds.
                    Pending::Collected {
                        raw,
                        binds,
                        safe_to_cache,
                        runs,
                        owed,
                    } => {
                        let query = collected(&sql, safe_to_cache, binds);
                        let work = match owed.send() {
                            None => (runs.run)(raw, query),
                            Some(begin) => {
                                let work = (runs.begun)(raw, begin, query);
                                Box::pin(async move { owed.outcome(work.await) })
                            }
                        };
                        (work, canceller)
                    }
                    Pending::Started(work, owed) => {
                        owed.send();
                        let work: BoxFuture<'c, QueryResult<T>> =
                            Box::pin(async move { owed.outcome(work.await) });
                        (work, canceller)
                    }
                },
                rows,
            )
            .await
            .map_err(Error::into_diesel)
    })
}

/// A closure statement of `sql`, classified as `classified`, about to be
/// told. Its binds, if any, are the driver's to collect.
fn closure_statement(
    sql: Arc<str>,
    classified: Classified,
    params: Params,
    rewritable: bool,
) -> StatementRun<'static> {
    StatementRun {
        sql,
        classified,
        params: Some(params),
        origin: Origin::Closure,
        check_binds: false,
        rewritable,
        binds: &[],
    }
}

/// `batch_execute` on a guarded connection: SQL text without binds, one
/// story for the whole text (the classifier sees every statement in it).
pub(crate) fn batch<'c, C: Driver>(
    conn: &'c mut Guarded<C>,
    sql: &str,
) -> impl Future<Output = QueryResult<()>> + Send + 'c {
    let parts = conn.parts();
    let sql: Arc<str> = Arc::from(sql);
    async move {
        let (raw, scope, owed) = parts.map_err(Error::into_diesel)?;
        if sql.trim().is_empty() {
            return Err(Error::EmptyStatement.into_diesel());
        }
        let classified = scope.shared.classifier.classify(&sql, scope.shared.dialect);
        let statement = closure_statement(sql, classified, Params::none(), true);
        let (at, poisoned) = scope.split();
        statement
            .tell(
                &at,
                Stop::Cancel,
                poisoned,
                move |sql: Arc<str>, cancel| {
                    let canceller = if cancel { raw.canceller() } else { None };
                    let work = async move {
                        if let Some(begin) = owed.send() {
                            let began = raw.batch_execute(&begin).await.map(Ok);
                            owed.outcome(began)?;
                        }
                        raw.batch_execute(&sql).await
                    };
                    (work, canceller)
                },
                |_| None,
            )
            .await
            .map_err(Error::into_diesel)
    }
}

/// The `AsyncConnection` family for one backend's guarded connection.
macro_rules! guarded_connection {
    ($driver:ty) => {
        impl SimpleAsyncConnection for Guarded<$driver> {
            fn batch_execute(
                &mut self,
                query: &str,
            ) -> impl Future<Output = QueryResult<()>> + Send {
                batch(self, query)
            }
        }

        impl AsyncConnectionCore for Guarded<$driver> {
            type ExecuteFuture<'conn, 'query> = BoxFuture<'conn, QueryResult<usize>>;
            type LoadFuture<'conn, 'query> =
                BoxFuture<'conn, QueryResult<Self::Stream<'conn, 'query>>>;
            type Stream<'conn, 'query> = <$driver as AsyncConnectionCore>::Stream<'conn, 'static>;
            type Row<'conn, 'query> = <$driver as AsyncConnectionCore>::Row<'conn, 'static>;
            type Backend = <$driver as AsyncConnectionCore>::Backend;

            fn load<'conn, 'query, T>(&'conn mut self, source: T) -> Self::LoadFuture<'conn, 'query>
            where
                T: AsQuery + 'query,
                T::Query: QueryFragment<Self::Backend> + QueryId + 'query,
            {
                guarded(
                    self,
                    source.as_query(),
                    Runs {
                        run: |raw: &'conn mut $driver, q| raw.run_load(q),
                        begun: |raw: &'conn mut $driver, b, q| raw.run_load_begun(b, q),
                    },
                    |raw: &'conn mut $driver, b, q| early_load(raw, b, q),
                    |_| None,
                )
            }

            fn execute_returning_count<'conn, 'query, T>(
                &'conn mut self,
                source: T,
            ) -> Self::ExecuteFuture<'conn, 'query>
            where
                T: QueryFragment<Self::Backend> + QueryId + 'query,
            {
                guarded(
                    self,
                    source,
                    Runs {
                        run: |raw: &'conn mut $driver, q| raw.run_execute(q),
                        begun: |raw: &'conn mut $driver, b, q| raw.run_execute_begun(b, q),
                    },
                    |raw: &'conn mut $driver, b, q| early_execute(raw, b, q),
                    |n| Some(*n as u64),
                )
            }
        }

        impl AsyncConnection for Guarded<$driver> {
            type TransactionManager = tx::GuardedTransactions;

            /// A guarded connection comes from its pool, lent to a closure.
            async fn establish(_: &str) -> diesel::ConnectionResult<Self> {
                Err(diesel::ConnectionError::BadConnection(
                    "a guarded connection cannot be opened directly; a pool lends it to Interact and Transaction closures".into(),
                ))
            }

            fn transaction_state(
                &mut self,
            ) -> &mut <Self::TransactionManager as diesel_async::TransactionManager<Self>>::TransactionStateData
            {
                self.raw.transaction_state()
            }

            fn instrumentation(&mut self) -> &mut dyn Instrumentation {
                self.raw.instrumentation()
            }

            /// Ignored: the pool's instrumentation turns the connection's
            /// transactions into events; subscribe to the bus instead.
            fn set_instrumentation(&mut self, _: impl Instrumentation) {
                tracing::warn!(
                    "set_instrumentation on a pooled connection is ignored; subscribe to the pool's events instead"
                );
            }

            fn set_prepared_statement_cache_size(&mut self, size: CacheSize) {
                self.raw.set_prepared_statement_cache_size(size);
            }
        }
    };
}

#[cfg(feature = "postgres")]
guarded_connection!(AsyncPgConnection);
#[cfg(feature = "mysql")]
guarded_connection!(AsyncMysqlConnection);
#[cfg(feature = "sqlite")]
guarded_connection!(SqliteAsync);

/// The driver's own future for a query it must collect itself (user-defined
/// PostgreSQL types). Only PostgreSQL's needs it; its future starts nothing
/// before it is polled.
trait Early: Driver {
    fn early_load<'c, Q>(
        &'c mut self,
        begin: Option<Cow<'static, str>>,
        query: Q,
    ) -> BoxFuture<'c, Began<Self::Stream<'c, 'static>>>
    where
        Q: Query + QueryFragment<Self::Backend> + QueryId;
    fn early_execute<'c, Q>(
        &'c mut self,
        begin: Option<Cow<'static, str>>,
        query: Q,
    ) -> BoxFuture<'c, Began<usize>>
    where
        Q: QueryFragment<Self::Backend> + QueryId;
}

fn early_load<'c, C: Early, Q>(
    raw: &'c mut C,
    begin: Option<Cow<'static, str>>,
    query: Q,
) -> BoxFuture<'c, Began<C::Stream<'c, 'static>>>
where
    Q: Query + QueryFragment<C::Backend> + QueryId,
{
    raw.early_load(begin, query)
}

fn early_execute<'c, C: Early, Q>(
    raw: &'c mut C,
    begin: Option<Cow<'static, str>>,
    query: Q,
) -> BoxFuture<'c, Began<usize>>
where
    Q: QueryFragment<C::Backend> + QueryId,
{
    raw.early_execute(begin, query)
}

#[cfg(feature = "postgres")]
impl Early for AsyncPgConnection {
    fn early_load<'c, Q>(
        &'c mut self,
        begin: Option<Cow<'static, str>>,
        query: Q,
    ) -> BoxFuture<'c, Began<Self::Stream<'c, 'static>>>
    where
        Q: Query + QueryFragment<Self::Backend> + QueryId,
    {
        match begin {
            Some(begin) => begun(self, begin, |c| AsyncConnectionCore::load(c, query)),
            None => Box::pin(AsyncConnectionCore::load(self, query).map(Ok)),
        }
    }

    fn early_execute<'c, Q>(
        &'c mut self,
        begin: Option<Cow<'static, str>>,
        query: Q,
    ) -> BoxFuture<'c, Began<usize>>
    where
        Q: QueryFragment<Self::Backend> + QueryId,
    {
        match begin {
            Some(begin) => begun(self, begin, |c| {
                AsyncConnectionCore::execute_returning_count(c, query)
            }),
            None => Box::pin(AsyncConnectionCore::execute_returning_count(self, query).map(Ok)),
        }
    }
}

/// MySQL and SQLite collect every query themselves first: never called.
#[cfg(any(feature = "mysql", feature = "sqlite"))]
macro_rules! no_early {
    ($driver:ty) => {
        impl Early for $driver {
            fn early_load<'c, Q>(
                &'c mut self,
                _: Option<Cow<'static, str>>,
                _: Q,
            ) -> BoxFuture<'c, Began<Self::Stream<'c, 'static>>>
            where
                Q: Query + QueryFragment<Self::Backend> + QueryId,
            {
                failed(
                    Error::Driver("this backend collects every query ahead".into()).into_diesel(),
                )
            }

            fn early_execute<'c, Q>(
                &'c mut self,
                _: Option<Cow<'static, str>>,
                _: Q,
            ) -> BoxFuture<'c, Began<usize>>
            where
                Q: QueryFragment<Self::Backend> + QueryId,
            {
                failed(
                    Error::Driver("this backend collects every query ahead".into()).into_diesel(),
                )
            }
        }
    };
}

#[cfg(feature = "mysql")]
no_early!(AsyncMysqlConnection);
#[cfg(feature = "sqlite")]
no_early!(SqliteAsync);
