//! Typed diesel queries that load on whichever backend the pool has.

use std::sync::Arc;

use diesel::QueryResult;
use diesel::backend::Backend as DieselBackend;
#[cfg(feature = "mysql")]
use diesel::mysql::Mysql;
#[cfg(feature = "postgres")]
use diesel::pg::Pg;
use diesel::query_builder::{AstPass, Query, QueryBuilder, QueryFragment, QueryId};
#[cfg(feature = "sqlite")]
use diesel::sqlite::Sqlite;
#[cfg(feature = "mysql")]
use diesel_async::AsyncMysqlConnection;
use diesel_async::RunQueryDsl;
use diesel_async::methods::LoadQuery;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use futures_util::future::BoxFuture;
use switchboard_core::{Backend, Params};

use crate::backend::DbConnection;
#[cfg(feature = "sqlite")]
use crate::backend::SqliteAsync;
use crate::guarded::{Driver, Guarded};

/// The driver connection inside a [`DbConnection`], for a query already
/// guarded. Not constructible outside this crate, so a query cannot be
/// loaded unguarded from a closure.
pub struct Raw<'a>(pub(crate) &'a mut DbConnection);

/// A diesel query that builds and loads rows of `U` on every backend this
/// build has. Implemented for every query the diesel DSL builds that
/// qualifies.
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
    #[cfg(feature = "postgres")]
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

/// Declares `$name<U>`: a query that loads rows of `U` on one backend. With
/// the backend's feature on, implemented for every query diesel-async loads
/// there; with it off, for every type.
macro_rules! load_on {
    ($feature:literal, $name:ident, $db:ty, $driver:ty, $backend:literal, [$($extra:tt)*] $(, $shared:ident)?) => {
        #[doc = concat!("A query that loads rows of `U` on ", $backend, ": implemented for every")]
        #[doc = concat!("query diesel-async loads there, and for every type when the `", $feature, "`")]
        #[doc = "feature is off. A bound of [`LoadAny`]."]
        #[cfg(feature = $feature)]
        pub trait $name<U>: QueryFragment<$db> + Sized {
            /// Loads the rows on the driver connection (the statement was
            /// guarded already), or a guard's rewrite of its text.
            #[doc(hidden)]
            fn load_raw(
                self,
                conn: &mut $driver,
                rewrite: Option<Arc<str>>,
            ) -> BoxFuture<'_, QueryResult<Vec<U>>>;
            $(
            /// Loads the rows on a connection shared by pipelined
            /// statements.
            #[doc(hidden)]
            fn $shared(
                self,
                conn: &$driver,
                rewrite: Option<Arc<str>>,
            ) -> BoxFuture<'_, QueryResult<Vec<U>>>;
            )?
            /// Loads the rows through a closure's guarded connection.
            #[doc(hidden)]
            fn load_guarded_on(self, conn: &mut Guarded<$driver>) -> BoxFuture<'_, QueryResult<Vec<U>>>;
        }

        #[cfg(feature = $feature)]
        impl<Q, U> $name<U> for Q
        where
            Q: LoadQuery<'static, $driver, U>
                $($extra)*
                + LoadQuery<'static, Guarded<$driver>, U>
                + QueryFragment<$db>
                + Send
                + 'static,
            Rewritten<Q>: LoadQuery<'static, $driver, U> $($extra)*,
            U: Send + 'static,
        {
            fn load_raw(
                self,
                conn: &mut $driver,
                rewrite: Option<Arc<str>>,
            ) -> BoxFuture<'_, QueryResult<Vec<U>>> {
                match rewrite {
                    None => Box::pin(RunQueryDsl::load(self, conn)),
                    Some(sql) => Box::pin(RunQueryDsl::load(Rewritten::new(self, sql), conn)),
                }
            }
            $(
            fn $shared(
                self,
                conn: &$driver,
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
            )?
            fn load_guarded_on(self, conn: &mut Guarded<$driver>) -> BoxFuture<'_, QueryResult<Vec<U>>> {
                Box::pin(RunQueryDsl::load(self, conn))
            }
        }

        #[doc = concat!("A query that loads rows of `U` on ", $backend, ": this build has no")]
        #[doc = concat!("`", $feature, "` feature, so every type qualifies.")]
        #[cfg(not(feature = $feature))]
        pub trait $name<U> {}

        #[cfg(not(feature = $feature))]
        impl<Q, U> $name<U> for Q {}
    };
}

load_on!(
    "postgres",
    LoadPg,
    Pg,
    AsyncPgConnection,
    "PostgreSQL",
    [+ for<'c> LoadQuery<'static, &'c AsyncPgConnection, U>],
    load_shared
);
load_on!(
    "mysql",
    LoadMysql,
    Mysql,
    AsyncMysqlConnection,
    "MySQL/MariaDB",
    []
);
load_on!("sqlite", LoadSqlite, Sqlite, SqliteAsync, "SQLite", []);

/// The error for a backend this build left out (a pool of one is never
/// started: its URL is refused first).
fn not_built(backend: Backend) -> diesel::result::Error {
    diesel::result::Error::QueryBuilderError(
        format!("switchboard was built without the {backend:?} backend").into(),
    )
}

impl<Q, U> LoadAny<U> for Q
where
    Q: LoadPg<U> + LoadMysql<U> + LoadSqlite<U> + QueryId + Send + 'static,
    U: Send + 'static,
{
    fn load_on(
        self,
        conn: Raw<'_>,
        rewrite: Option<Arc<str>>,
    ) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        match conn.0 {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(c) => LoadPg::load_raw(self, c.raw(), rewrite),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(c) => LoadMysql::load_raw(self, c.raw(), rewrite),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(c) => LoadSqlite::load_raw(self, c.raw(), rewrite),
        }
    }

    #[cfg(feature = "postgres")]
    fn load_pipelined(
        self,
        conn: &AsyncPgConnection,
        rewrite: Option<Arc<str>>,
    ) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        LoadPg::load_shared(self, conn, rewrite)
    }

    fn load_guarded(self, conn: &mut DbConnection) -> BoxFuture<'_, QueryResult<Vec<U>>> {
        match conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(c) => LoadPg::load_guarded_on(self, c),
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(c) => LoadMysql::load_guarded_on(self, c),
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(c) => LoadSqlite::load_guarded_on(self, c),
        }
    }

    fn sql_for(&self, backend: Backend) -> QueryResult<String> {
        match backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => sql_of::<Pg, _>(self),
            #[cfg(feature = "mysql")]
            Backend::Mysql => sql_of::<Mysql, _>(self),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => sql_of::<Sqlite, _>(self),
            other => Err(not_built(other)),
        }
    }

    fn params_for(&self, backend: Backend, plain: bool) -> QueryResult<Params> {
        #[allow(dead_code)]
        fn params<C: Driver, Q: QueryFragment<C::Backend>>(
            q: &Q,
            plain: bool,
        ) -> QueryResult<Params> {
            Ok(C::params(&C::bind(q)?.binds, plain))
        }
        match backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => params::<AsyncPgConnection, _>(self, plain),
            #[cfg(feature = "mysql")]
            Backend::Mysql => params::<AsyncMysqlConnection, _>(self, plain),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => params::<SqliteAsync, _>(self, plain),
            other => Err(not_built(other)),
        }
    }

    fn sql_key(&self, backend: Backend) -> Option<std::any::TypeId> {
        let cacheable = match backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres => QueryFragment::<Pg>::is_safe_to_cache_prepared(self, &Pg),
            #[cfg(feature = "mysql")]
            Backend::Mysql => QueryFragment::<Mysql>::is_safe_to_cache_prepared(self, &Mysql),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite => QueryFragment::<Sqlite>::is_safe_to_cache_prepared(self, &Sqlite),
            _ => Ok(false),
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
