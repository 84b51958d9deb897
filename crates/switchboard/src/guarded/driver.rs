//! What differs per backend when a guarded statement runs: rendering and
//! collecting a query before the guards are asked, running it once they
//! allowed it, and cancelling it.
//!
//! A query is rendered and its binds collected (serialized into owned
//! data) *before* the guards are asked, because the query itself need not
//! be `Send` and the wait for an actor guard must be; and because SQLite's
//! driver starts running a statement as soon as it is handed one
//! (diesel-async spawns the blocking call eagerly), so nothing may reach
//! the driver before the guards allowed it. The driver is then given a
//! `CollectedQuery`: the same SQL (or a guard's rewrite) with the same
//! binds.

use std::borrow::Cow;
use std::sync::Arc;

use diesel::QueryResult;
#[cfg(feature = "mysql")]
use diesel::mysql::{Mysql, MysqlQueryBuilder};
#[cfg(feature = "postgres")]
use diesel::pg::{Pg, PgMetadataLookup, PgQueryBuilder, PgTypeMetadata};
#[cfg(feature = "sqlite")]
use diesel::query_builder::MoveableBindCollector;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{CollectedQuery, QueryBuilder, QueryFragment};
#[cfg(feature = "sqlite")]
use diesel::sqlite::{Sqlite, SqliteQueryBuilder};
#[cfg(feature = "mysql")]
use diesel_async::AsyncMysqlConnection;
#[cfg(feature = "postgres")]
use diesel_async::SimpleAsyncConnection;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use diesel_async::{AsyncConnection, AsyncConnectionCore, RunQueryDsl};
#[cfg(feature = "sqlite")]
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use switchboard_core::Params;

use super::Began;
use super::params;
use crate::backend::Canceller;
#[cfg(feature = "sqlite")]
use crate::backend::SqliteAsync;
use crate::bind::BindValue;
use crate::connection::Cached;

/// A query's binds, collected ahead of the driver.
pub(crate) struct Bound<B> {
    pub(crate) binds: B,
    /// The query binds user-defined PostgreSQL types, whose OIDs only the
    /// driver can look up (`binds` shows them as unknown): the driver must
    /// collect the query itself.
    pub(crate) by_driver: bool,
}

/// The query for the driver: `sql` (the caller's text or a guard's
/// rewrite) with binds collected ahead.
pub(crate) fn collected<B>(sql: &str, safe_to_cache: bool, binds: B) -> CollectedQuery<B> {
    CollectedQuery::new(sql.to_owned(), safe_to_cache, binds)
}

/// A driver connection of one of the three backends.
pub(crate) trait Driver: AsyncConnection + Send + 'static {
    /// A query's binds once collected: owned, sendable, and replayed into
    /// the driver's own collector by `CollectedQuery`.
    type Binds: Send + 'static;

    /// Renders `query`'s SQL text.
    fn render<Q: QueryFragment<Self::Backend>>(query: &Q) -> QueryResult<String>;

    /// Whether `query`'s text may be cached by its type (and so by the
    /// driver's prepared statement cache).
    fn safe_to_cache<Q: QueryFragment<Self::Backend>>(query: &Q) -> QueryResult<bool>;

    /// Collects `query`'s binds.
    fn bind<Q: QueryFragment<Self::Backend>>(query: &Q) -> QueryResult<Bound<Self::Binds>>;

    /// How collected binds show to guards and in events (values only if
    /// `plain`).
    fn params(binds: &Self::Binds, plain: bool) -> Params;

    /// Runs a collected query for its row count.
    fn run_execute(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<usize>>;

    /// Runs a collected query for its rows.
    fn run_load(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<Self::Stream<'_, 'static>>>;

    /// Runs `begin` (a transaction's `BEGIN`), then a collected query for
    /// its row count: pipelined on PostgreSQL (one round trip for the two),
    /// one after the other elsewhere.
    fn run_execute_begun(
        &mut self,
        begin: Cow<'static, str>,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, Began<usize>> {
        Box::pin(async move {
            self.batch_execute(&begin).await?;
            Ok(self.run_execute(query).await)
        })
    }

    /// Runs `begin`, then a collected query for its rows (see
    /// `run_execute_begun`).
    fn run_load_begun(
        &mut self,
        begin: Cow<'static, str>,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, Began<Self::Stream<'_, 'static>>> {
        Box::pin(async move {
            self.batch_execute(&begin).await?;
            Ok(self.run_load(query).await)
        })
    }

    /// Runs SQL text with `Execute`'s typed binds, kept prepared by diesel
    /// if `cache` (see `connection::session::prepared`).
    fn run_binds<'c>(
        &'c mut self,
        sql: &str,
        binds: &[Arc<dyn BindValue>],
        cache: bool,
    ) -> BoxFuture<'c, QueryResult<usize>>;

    /// Runs `begin`, then SQL text with typed binds (see
    /// `run_execute_begun`).
    fn run_binds_begun<'c>(
        &'c mut self,
        begin: Cow<'static, str>,
        sql: &'c str,
        binds: &'c [Arc<dyn BindValue>],
        cache: bool,
    ) -> BoxFuture<'c, Began<usize>> {
        Box::pin(async move {
            self.batch_execute(&begin).await?;
            Ok(self.run_binds(sql, binds, cache).await)
        })
    }

    /// A way to cancel the statement this connection runs, from outside.
    fn canceller(&self) -> Option<Canceller>;
}

fn render<DB, Q>(query: &Q, mut builder: DB::QueryBuilder, backend: &DB) -> QueryResult<String>
where
    DB: diesel::backend::Backend,
    Q: QueryFragment<DB>,
{
    query.to_sql(&mut builder, backend)?;
    Ok(builder.finish())
}

/// Answers a lookup of a user-defined type with an unknown type, and
/// remembers it was asked: the driver must then collect the query itself.
#[cfg(feature = "postgres")]
#[derive(Default)]
struct NoLookup {
    asked: bool,
}

#[cfg(feature = "postgres")]
impl PgMetadataLookup for NoLookup {
    fn lookup_type(&mut self, _: &str, _: Option<&str>) -> PgTypeMetadata {
        self.asked = true;
        PgTypeMetadata::new(0, 0)
    }
}

#[cfg(feature = "postgres")]
impl Driver for AsyncPgConnection {
    type Binds = RawBytesBindCollector<Pg>;

    fn render<Q: QueryFragment<Pg>>(query: &Q) -> QueryResult<String> {
        render(query, PgQueryBuilder::new(), &Pg)
    }

    fn safe_to_cache<Q: QueryFragment<Pg>>(query: &Q) -> QueryResult<bool> {
        query.is_safe_to_cache_prepared(&Pg)
    }

    fn bind<Q: QueryFragment<Pg>>(query: &Q) -> QueryResult<Bound<Self::Binds>> {
        let mut binds = RawBytesBindCollector::<Pg>::new();
        let mut lookup = NoLookup::default();
        query.collect_binds(&mut binds, &mut lookup, &Pg)?;
        Ok(Bound {
            binds,
            by_driver: lookup.asked,
        })
    }

    fn params(binds: &Self::Binds, plain: bool) -> Params {
        params::pg(binds, plain)
    }

    fn run_execute(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<usize>> {
        AsyncConnectionCore::execute_returning_count(self, query)
    }

    fn run_load(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<Self::Stream<'_, 'static>>> {
        AsyncConnectionCore::load(self, query)
    }

    fn run_execute_begun(
        &mut self,
        begin: Cow<'static, str>,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, Began<usize>> {
        begun(self, begin, |c| {
            AsyncConnectionCore::execute_returning_count(c, query)
        })
    }

    fn run_load_begun(
        &mut self,
        begin: Cow<'static, str>,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, Began<Self::Stream<'_, 'static>>> {
        begun(self, begin, |c| AsyncConnectionCore::load(c, query))
    }

    fn run_binds<'c>(
        &'c mut self,
        sql: &str,
        binds: &[Arc<dyn BindValue>],
        cache: bool,
    ) -> BoxFuture<'c, QueryResult<usize>> {
        let query = crate::connection::pg_query(sql, binds);
        RunQueryDsl::execute(Cached { query, cache }, self)
    }

    fn run_binds_begun<'c>(
        &'c mut self,
        begin: Cow<'static, str>,
        sql: &'c str,
        binds: &'c [Arc<dyn BindValue>],
        cache: bool,
    ) -> BoxFuture<'c, Began<usize>> {
        let query = crate::connection::pg_query(sql, binds);
        begun(self, begin, |c| {
            RunQueryDsl::execute(Cached { query, cache }, c)
        })
    }

    fn canceller(&self) -> Option<Canceller> {
        Some(Canceller::Postgres(self.cancel_token()))
    }
}

/// `begin`, then the statement `run` makes on the same connection (shared,
/// as pipelined statements share it), pipelined: `join` polls the `BEGIN`
/// first, and its first poll
/// queues it on the connection (diesel-async's `drive_future` polls the
/// client's future first, which encodes and sends at once); the
/// statement's first poll queues it behind. The two answers are awaited
/// together: the `BEGIN`'s failure (`Err`), else the statement's outcome.
///
/// The `BEGIN` is the pool's own text (`BEGIN` with the transaction's
/// options), which the server refuses only when the connection or the
/// server fails, and then the statement queued behind it fails with it.
/// Should it fail alone, the statement ran outside any transaction: its
/// outcome is not returned, and the rest of the transaction is refused
/// (`Owed::Failed`). It is only sent this way when nothing can cancel the
/// statement (no time limit), so a cancel request meant for the statement
/// never lands on the `BEGIN` (`tx::Guarded::defers_begin`).
#[cfg(feature = "postgres")]
pub(crate) fn begun<'c, T: Send + 'c>(
    conn: &'c AsyncPgConnection,
    begin: Cow<'static, str>,
    run: impl FnOnce(&mut &'c AsyncPgConnection) -> BoxFuture<'c, QueryResult<T>>,
) -> BoxFuture<'c, Began<T>> {
    let statement = run(&mut { conn });
    Box::pin(async move {
        let mut session = conn;
        // `join` polls in order: the BEGIN is queued on the connection
        // first.
        let (began, ran) =
            futures_util::future::join(session.batch_execute(&begin), statement).await;
        began?;
        Ok(ran)
    })
}

#[cfg(feature = "mysql")]
impl Driver for AsyncMysqlConnection {
    type Binds = RawBytesBindCollector<Mysql>;

    fn render<Q: QueryFragment<Mysql>>(query: &Q) -> QueryResult<String> {
        render(query, MysqlQueryBuilder::new(), &Mysql)
    }

    fn safe_to_cache<Q: QueryFragment<Mysql>>(query: &Q) -> QueryResult<bool> {
        query.is_safe_to_cache_prepared(&Mysql)
    }

    fn bind<Q: QueryFragment<Mysql>>(query: &Q) -> QueryResult<Bound<Self::Binds>> {
        let mut binds = RawBytesBindCollector::<Mysql>::new();
        query.collect_binds(&mut binds, &mut (), &Mysql)?;
        Ok(Bound {
            binds,
            by_driver: false,
        })
    }

    fn params(binds: &Self::Binds, plain: bool) -> Params {
        params::mysql(binds, plain)
    }

    fn run_execute(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<usize>> {
        AsyncConnectionCore::execute_returning_count(self, query)
    }

    fn run_load(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<Self::Stream<'_, 'static>>> {
        AsyncConnectionCore::load(self, query)
    }

    fn run_binds<'c>(
        &'c mut self,
        sql: &str,
        binds: &[Arc<dyn BindValue>],
        cache: bool,
    ) -> BoxFuture<'c, QueryResult<usize>> {
        let query = binds
            .iter()
            .fold(diesel::sql_query(sql).into_boxed::<Mysql>(), |q, b| {
                b.bind_mysql(q)
            });
        RunQueryDsl::execute(Cached { query, cache }, self)
    }

    fn canceller(&self) -> Option<Canceller> {
        Some(Canceller::Mysql(self.cancel_token()))
    }
}

#[cfg(feature = "sqlite")]
type SqliteBinds =
    <<Sqlite as diesel::backend::Backend>::BindCollector<'static> as MoveableBindCollector<
        Sqlite,
    >>::BindData;

#[cfg(feature = "sqlite")]
impl Driver for SqliteAsync {
    type Binds = SqliteBinds;

    fn render<Q: QueryFragment<Sqlite>>(query: &Q) -> QueryResult<String> {
        render(query, SqliteQueryBuilder::new(), &Sqlite)
    }

    fn safe_to_cache<Q: QueryFragment<Sqlite>>(query: &Q) -> QueryResult<bool> {
        query.is_safe_to_cache_prepared(&Sqlite)
    }

    fn bind<Q: QueryFragment<Sqlite>>(query: &Q) -> QueryResult<Bound<Self::Binds>> {
        let mut collector = <Sqlite as diesel::backend::Backend>::BindCollector::default();
        query.collect_binds(&mut collector, &mut (), &Sqlite)?;
        Ok(Bound {
            binds: collector.moveable(),
            by_driver: false,
        })
    }

    fn params(binds: &Self::Binds, plain: bool) -> Params {
        params::sqlite(binds, plain)
    }

    fn run_execute(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<usize>> {
        AsyncConnectionCore::execute_returning_count(self, query)
    }

    fn run_load(
        &mut self,
        query: CollectedQuery<Self::Binds>,
    ) -> BoxFuture<'_, QueryResult<Self::Stream<'_, 'static>>> {
        AsyncConnectionCore::load(self, query)
    }

    fn run_binds<'c>(
        &'c mut self,
        sql: &str,
        binds: &[Arc<dyn BindValue>],
        cache: bool,
    ) -> BoxFuture<'c, QueryResult<usize>> {
        let query = binds
            .iter()
            .fold(diesel::sql_query(sql).into_boxed::<Sqlite>(), |q, b| {
                b.bind_sqlite(q)
            });
        RunQueryDsl::execute(Cached { query, cache }, self).boxed()
    }

    fn canceller(&self) -> Option<Canceller> {
        None
    }
}
