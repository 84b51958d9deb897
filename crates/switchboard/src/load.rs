//! Typed diesel queries that load on whichever backend the pool has.

use std::sync::Arc;

use diesel::QueryResult;
use diesel::backend::Backend as DieselBackend;
use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId};
use diesel::sqlite::Sqlite;
use diesel_async::methods::LoadQuery;
use diesel_async::pg::AsyncPgConnection;
use diesel_async::{AsyncMysqlConnection, RunQueryDsl};
use futures_util::future::BoxFuture;
use switchboard_core::{Backend, Params};

use crate::backend::{DbConnection, SqliteAsync};
use crate::guarded::{Driver, Guarded};

/// The driver connection inside a [`DbConnection`], for a query already
/// guarded. Not constructible outside this crate, so a query cannot be
/// loaded unguarded from a closure.
pub struct Raw<'a>(pub(crate) &'a mut DbConnection);

/// A diesel query that builds and loads rows of `U` on all three backends.
/// Implemented for every query the diesel DSL builds that qualifies.
pub trait LoadAny<U>: Send + 'static {
    /// Loads the rows on a connection whose statement was guarded already;
    /// with `rewrite`, runs a guard's rewrite of its SQL (same binds, same
    /// columns) instead.
    #[doc(hidden)]
    fn load_on(
        self,
        conn: Raw<'_>,
        rewrite: Option<Arc<str>>,
    ) -> BoxFuture<'_, QueryResult<Vec<U>>>;
    /// Loads the rows over a PostgreSQL connection other statements may be
    /// using at the same time (pipelined).
    #[doc(hidden)]
    fn load_pipelined(
        self,
        conn: &AsyncPgConnection,
        rewrite: Option<Arc<str>>,
    ) -> BoxFuture<'_, QueryResult<Vec<U>>>;
    /// Loads the rows through a closure's guarded connection.
    #[doc(hidden)]
    fn load_guarded(self, conn: &mut DbConnection) -> BoxFuture<'_, QueryResult<Vec<U>>>;
    /// The SQL text (without bind values) as the backend will receive it.
    fn sql_for(&self, backend: Backend) -> QueryResult<String>;
    /// The bind parameters as guards and events show them (their values
    /// only if `plain`).
    fn params_for(&self, backend: Backend, plain: bool) -> QueryResult<Params>;
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
        + LoadQuery<'static, Guarded<AsyncPgConnection>, U>
        + LoadQuery<'static, Guarded<AsyncMysqlConnection>, U>
        + LoadQuery<'static, Guarded<SqliteAsync>, U>
        + QueryFragment<Pg>
        + QueryFragment<Mysql>
        + QueryFragment<Sqlite>
        + QueryId
        + Send
        + 'static,
    Rewritten<Q>: LoadQuery<'static, AsyncPgConnection, U>
        + for<'c> LoadQuery<'static, &'c AsyncPgConnection, U>
        + LoadQuery<'static, AsyncMysqlConnection, U>
        + LoadQuery<'static, SqliteAsync, U>,
    U: Send + 'static,
{
    fn load_on(
        self,
        conn: Raw<'_>,
        rewrite: Option<Arc<str>>,
    ) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        match (conn.0, rewrite) {
            (DbConnection::Postgres(c), None) => Box::pin(RunQueryDsl::load(self, c.raw())),
            (DbConnection::Mysql(c), None) => Box::pin(RunQueryDsl::load(self, c.raw())),
            (DbConnection::Sqlite(c), None) => Box::pin(RunQueryDsl::load(self, c.raw())),
            (DbConnection::Postgres(c), Some(sql)) => {
                Box::pin(RunQueryDsl::load(Rewritten::new(self, sql), c.raw()))
            }
            (DbConnection::Mysql(c), Some(sql)) => {
                Box::pin(RunQueryDsl::load(Rewritten::new(self, sql), c.raw()))
            }
            (DbConnection::Sqlite(c), Some(sql)) => {
                Box::pin(RunQueryDsl::load(Rewritten::new(self, sql), c.raw()))
            }
        }
    }

    fn load_pipelined(
        self,
        conn: &AsyncPgConnection,
        rewrite: Option<Arc<str>>,
    ) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        Box::pin(async move {
            let mut shared = conn;
            match rewrite {
                None => RunQueryDsl::load(self, &mut shared).await,
                Some(sql) => RunQueryDsl::load(Rewritten::new(self, sql), &mut shared).await,
            }
        })
    }

    fn load_guarded(self, conn: &mut DbConnection) -> BoxFuture<'_, QueryResult<Vec<U>>> {
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

    fn params_for(&self, backend: Backend, plain: bool) -> QueryResult<Params> {
        fn params<C: Driver, Q: QueryFragment<C::Backend>>(
            q: &Q,
            plain: bool,
        ) -> QueryResult<Params> {
            Ok(C::params(&C::bind(q)?.binds, plain))
        }
        match backend {
            Backend::Postgres => params::<AsyncPgConnection, _>(self, plain),
            Backend::Mysql => params::<AsyncMysqlConnection, _>(self, plain),
            _ => params::<SqliteAsync, _>(self, plain),
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

/// A typed query run with a guard's rewrite of its SQL text: the rewrite's
/// text, the query's own binds and row types. The rewrite must keep the
/// query's placeholders and its columns (same number, same order, same
/// types); rows that do not match fail to decode with a clear error.
#[doc(hidden)]
pub struct Rewritten<Q> {
    query: Q,
    sql: Arc<str>,
}

impl<Q> Rewritten<Q> {
    fn new(query: Q, sql: Arc<str>) -> Self {
        Rewritten { query, sql }
    }
}

impl<Q: Query> Query for Rewritten<Q> {
    type SqlType = Q::SqlType;
}

/// Keyed by its text, not its type: the type is the original query's.
impl<Q> QueryId for Rewritten<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<DB: DieselBackend, Q: QueryFragment<DB>> QueryFragment<DB> for Rewritten<Q> {
    /// Every pass but rendering is the query's own (its binds above all).
    fn walk_ast<'b>(&'b self, mut pass: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        pass.unsafe_to_cache_prepared();
        self.query.walk_ast(pass)
    }

    /// The rewrite's text instead of the query's.
    fn to_sql(&self, out: &mut DB::QueryBuilder, _: &DB) -> QueryResult<()> {
        out.push_sql(&self.sql);
        Ok(())
    }
}
