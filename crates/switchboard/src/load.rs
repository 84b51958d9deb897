//! Typed diesel queries that load on whichever backend the pool has.

use diesel::QueryResult;
use diesel::backend::Backend as DieselBackend;
use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::query_builder::{QueryBuilder, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel_async::methods::LoadQuery;
use diesel_async::pg::AsyncPgConnection;
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use switchboard_core::Backend;

use crate::backend::{DbConnection, SqliteAsync};

/// A diesel query that builds and loads rows of `U` on all three backends.
/// Implemented for every query the diesel DSL builds that qualifies.
pub trait LoadAny<U>: Send + 'static {
    /// Loads the rows.
    fn load_on(self, conn: &mut DbConnection) -> BoxFuture<'_, QueryResult<Vec<U>>>;
    /// Loads the rows over a PostgreSQL connection other statements may be
    /// using at the same time (pipelined).
    fn load_pipelined(self, conn: &AsyncPgConnection) -> BoxFuture<'_, QueryResult<Vec<U>>>;
    /// The SQL text (without bind values) as the backend will receive it.
    fn sql_for(&self, backend: Backend) -> QueryResult<String>;
    /// A key naming this query's SQL text on `backend` when the text
    /// depends on the query's type alone (what diesel's prepared statement
    /// cache relies on too): the text can then be built once and reused.
    /// `None` when the text depends on values (an `IN` list, a boxed query).
    fn sql_key(&self, backend: Backend) -> Option<std::any::TypeId>;
}

impl<Q, U> LoadAny<U> for Q
where
    Q: LoadQuery<'static, AsyncPgConnection, U>
        + for<'c> LoadQuery<'static, &'c AsyncPgConnection, U>
        + LoadQuery<'static, AsyncMysqlConnection, U>
        + LoadQuery<'static, SqliteAsync, U>
        + QueryFragment<Pg>
        + QueryFragment<Mysql>
        + QueryFragment<Sqlite>
        + QueryId
        + Send
        + 'static,
    U: Send + 'static,
{
    fn load_on(self, conn: &mut DbConnection) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        match conn {
            DbConnection::Postgres(c) => Box::pin(RunQueryDsl::load(self, c)),
            DbConnection::Mysql(c) => Box::pin(RunQueryDsl::load(self, c)),
            DbConnection::Sqlite(c) => Box::pin(RunQueryDsl::load(self, c)),
        }
    }

    fn load_pipelined(self, conn: &AsyncPgConnection) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        Box::pin(async move {
            let mut shared = conn;
            RunQueryDsl::load(self, &mut shared).await
        })
    }

    fn sql_for(&self, backend: Backend) -> QueryResult<String> {
        match backend {
            Backend::Postgres => sql_of::<Pg, _>(self),
            Backend::Mysql => sql_of::<Mysql, _>(self),
            _ => sql_of::<Sqlite, _>(self),
        }
    }

    fn sql_key(&self, backend: Backend) -> Option<std::any::TypeId> {
        let cacheable = match backend {
            Backend::Postgres => QueryFragment::<Pg>::is_safe_to_cache_prepared(self, &Pg),
            Backend::Mysql => QueryFragment::<Mysql>::is_safe_to_cache_prepared(self, &Mysql),
            _ => QueryFragment::<Sqlite>::is_safe_to_cache_prepared(self, &Sqlite),
        };
        match cacheable {
            Ok(true) => Q::query_id(),
            _ => None,
        }
    }
}

fn sql_of<DB, Q>(q: &Q) -> QueryResult<String>
where
    DB: DieselBackend + Default,
    DB::QueryBuilder: Default,
    Q: QueryFragment<DB>,
{
    let mut builder = DB::QueryBuilder::default();
    q.to_sql(&mut builder, &DB::default())?;
    Ok(builder.finish())
}
