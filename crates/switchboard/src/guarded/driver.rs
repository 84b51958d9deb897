//! What differs per backend when a guarded statement runs: rendering and
//! collecting a query before the guards are asked, running it once they
//! allowed it, and cancelling it.
//!
//! A query is collected (SQL text, binds serialized into owned data, their
//! description for guards) *before* the guards are asked, because the
//! query itself need not be `Send` and the wait for an actor guard must be;
//! and because SQLite's driver starts running a statement as soon as it is
//! handed one (diesel-async spawns the blocking call eagerly), so nothing
//! may reach the driver before the guards allowed it. The driver is then
//! given a `CollectedQuery`: the same SQL (or a guard's rewrite) with the
//! same binds.

use std::sync::Arc;

use diesel::QueryResult;
use diesel::mysql::{Mysql, MysqlQueryBuilder};
use diesel::pg::{Pg, PgMetadataLookup, PgQueryBuilder, PgTypeMetadata};
use diesel::query_builder::bind_collector::RawBytesBindCollector;
use diesel::query_builder::{
    CollectedQuery, MoveableBindCollector, QueryBuilder, QueryFragment, QueryId,
};
use diesel::sqlite::{Sqlite, SqliteQueryBuilder};
use diesel_async::pg::AsyncPgConnection;
use diesel_async::{AsyncConnection, AsyncConnectionCore, AsyncMysqlConnection, RunQueryDsl};
use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use switchboard_core::Params;

use super::params;
use crate::backend::{Canceller, SqliteAsync};
use crate::bind::BindValue;

/// A query rendered and its binds collected, ready to be guarded and run.
pub(crate) struct Collected<B> {
    pub(crate) sql: String,
    pub(crate) safe_to_cache: bool,
    pub(crate) binds: B,
    pub(crate) params: Params,
}

impl<B> Collected<B> {
    /// The query for the driver, with `sql` (the original text or a guard's
    /// rewrite) and the collected binds.
    pub(crate) fn query(self, sql: Option<&str>) -> CollectedQuery<B> {
        let sql = match sql {
            Some(s) => s.to_owned(),
            None => self.sql,
        };
        CollectedQuery::new(sql, self.safe_to_cache, self.binds)
    }
}

/// Why a query could not be collected ahead of the driver.
pub(crate) enum NotCollected {
    /// It failed to render or serialize: the statement's error.
    Failed(diesel::result::Error),
    /// It binds user-defined PostgreSQL types, whose OIDs only the driver
    /// can look up: the driver must collect it itself (SQL and parameters
    /// for the guards are known).
    NeedsDriver { sql: String, params: Params },
}

impl From<diesel::result::Error> for NotCollected {
    fn from(e: diesel::result::Error) -> Self {
        NotCollected::Failed(e)
    }
}

/// A driver connection of one of the three backends.
pub(crate) trait Driver: AsyncConnection + Send + 'static {
    /// A query's binds once collected: owned, sendable, and replayed into
    /// the driver's own collector by `CollectedQuery`.
    type Binds: Send + 'static;

    /// Renders `query` and collects its binds.
    fn collect<Q>(query: &Q, plain: bool) -> Result<Collected<Self::Binds>, NotCollected>
    where
        Q: QueryFragment<Self::Backend> + QueryId;

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

    /// Runs SQL text with `Execute`'s typed binds.
    fn run_binds<'c>(
        &'c mut self,
        sql: &str,
        binds: &[Arc<dyn BindValue>],
    ) -> BoxFuture<'c, QueryResult<usize>>;

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
#[derive(Default)]
struct NoLookup {
    asked: bool,
}

impl PgMetadataLookup for NoLookup {
    fn lookup_type(&mut self, _: &str, _: Option<&str>) -> PgTypeMetadata {
        self.asked = true;
        PgTypeMetadata::new(0, 0)
    }
}

impl Driver for AsyncPgConnection {
    type Binds = RawBytesBindCollector<Pg>;

    fn collect<Q>(query: &Q, plain: bool) -> Result<Collected<Self::Binds>, NotCollected>
    where
        Q: QueryFragment<Pg> + QueryId,
    {
        let sql = render(query, PgQueryBuilder::new(), &Pg)?;
        let safe_to_cache = query.is_safe_to_cache_prepared(&Pg)?;
        let mut binds = RawBytesBindCollector::<Pg>::new();
        let mut lookup = NoLookup::default();
        query.collect_binds(&mut binds, &mut lookup, &Pg)?;
        let params = params::pg(&binds, plain);
        if lookup.asked {
            return Err(NotCollected::NeedsDriver { sql, params });
        }
        Ok(Collected {
            sql,
            safe_to_cache,
            binds,
            params,
        })
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
    ) -> BoxFuture<'c, QueryResult<usize>> {
        let query = crate::connection::pg_query(sql, binds);
        RunQueryDsl::execute(query, self)
    }

    fn canceller(&self) -> Option<Canceller> {
        Some(Canceller::Postgres(self.cancel_token()))
    }
}

impl Driver for AsyncMysqlConnection {
    type Binds = RawBytesBindCollector<Mysql>;

    fn collect<Q>(query: &Q, plain: bool) -> Result<Collected<Self::Binds>, NotCollected>
    where
        Q: QueryFragment<Mysql> + QueryId,
    {
        let sql = render(query, MysqlQueryBuilder::new(), &Mysql)?;
        let safe_to_cache = query.is_safe_to_cache_prepared(&Mysql)?;
        let mut binds = RawBytesBindCollector::<Mysql>::new();
        query.collect_binds(&mut binds, &mut (), &Mysql)?;
        let params = params::mysql(&binds, plain);
        Ok(Collected {
            sql,
            safe_to_cache,
            binds,
            params,
        })
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
    ) -> BoxFuture<'c, QueryResult<usize>> {
        let query = binds
            .iter()
            .fold(diesel::sql_query(sql).into_boxed::<Mysql>(), |q, b| {
                b.bind_mysql(q)
            });
        RunQueryDsl::execute(query, self)
    }

    fn canceller(&self) -> Option<Canceller> {
        Some(Canceller::Mysql(self.cancel_token()))
    }
}

type SqliteBinds =
    <<Sqlite as diesel::backend::Backend>::BindCollector<'static> as MoveableBindCollector<
        Sqlite,
    >>::BindData;

impl Driver for SqliteAsync {
    type Binds = SqliteBinds;

    fn collect<Q>(query: &Q, plain: bool) -> Result<Collected<Self::Binds>, NotCollected>
    where
        Q: QueryFragment<Sqlite> + QueryId,
    {
        let sql = render(query, SqliteQueryBuilder::new(), &Sqlite)?;
        let safe_to_cache = query.is_safe_to_cache_prepared(&Sqlite)?;
        let mut collector = <Sqlite as diesel::backend::Backend>::BindCollector::default();
        query.collect_binds(&mut collector, &mut (), &Sqlite)?;
        let binds = collector.moveable();
        let params = params::sqlite(&binds, plain);
        Ok(Collected {
            sql,
            safe_to_cache,
            binds,
            params,
        })
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
    ) -> BoxFuture<'c, QueryResult<usize>> {
        let query = binds
            .iter()
            .fold(diesel::sql_query(sql).into_boxed::<Sqlite>(), |q, b| {
                b.bind_sqlite(q)
            });
        RunQueryDsl::execute(query, self).boxed()
    }

    fn canceller(&self) -> Option<Canceller> {
        None
    }
}
