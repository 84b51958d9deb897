//! Typed diesel queries that load on whichever backend the pool has.

use diesel::QueryResult;
use diesel::backend::Backend as DieselBackend;
use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::query_builder::{QueryBuilder, QueryFragment};
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
    /// The SQL text (without bind values) as the backend will receive it.
    fn sql_for(&self, backend: Backend) -> QueryResult<String>;
}

impl<Q, U> LoadAny<U> for Q
where
    Q: LoadQuery<'static, AsyncPgConnection, U>
        + LoadQuery<'static, AsyncMysqlConnection, U>
        + LoadQuery<'static, SqliteAsync, U>
        + QueryFragment<Pg>
        + QueryFragment<Mysql>
        + QueryFragment<Sqlite>
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

    fn sql_for(&self, backend: Backend) -> QueryResult<String> {
        match backend {
            Backend::Postgres => sql_of::<Pg, _>(self),
            Backend::Mysql => sql_of::<Mysql, _>(self),
            _ => sql_of::<Sqlite, _>(self),
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
