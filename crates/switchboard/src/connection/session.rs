//! Running statements on a connection, with their events.

pub(crate) mod prepared;

use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::sqlite::Sqlite;
use diesel_async::RunQueryDsl;
use diesel_async::pg::AsyncPgConnection;
use switchboard_core::{Backend, Emitter, Error, Labels, Origin, ParamValue, Params, Result};

use super::probe::Probe;
use crate::backend::DbConnection;
use crate::bind::BindValue;
use crate::config::ParamPolicy;
use crate::load::LoadAny;
use crate::shared::Shared;
use crate::statement::StatementRun;
use crate::timings::Timings;
use prepared::Cached;

/// How a session holds its connection. Not boxed: like `DbConnection`, it
/// is moved once into a session and once out.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Held {
    /// To itself: any work.
    Own(DbConnection),
    /// Shared with other pipelined statements (PostgreSQL): `Execute` and
    /// `Load` only.
    Pipelined(Rc<AsyncPgConnection>),
}

/// The connection as one statement gets it.
pub(crate) enum Conn<'c> {
    Own(&'c mut DbConnection),
    Pipelined(&'c AsyncPgConnection),
}

impl Held {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Held::Own(c) => Conn::Own(c),
            Held::Pipelined(c) => Conn::Pipelined(c),
        }
    }
}

/// A connection taken out of its actor for one piece of work.
pub(crate) struct Session {
    pub(crate) conn: Held,
    pub(crate) emitter: Arc<Emitter>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) probe: Arc<Probe>,
    /// Labels of the message being served.
    pub(crate) labels: Labels,
    /// When the message's timeout passes.
    pub(crate) deadline: Option<Instant>,
    /// Set when a statement was abandoned mid-way: the connection's state is
    /// unknown, so it is invalidated instead of reused.
    pub(crate) poisoned: bool,
}

impl Session {
    pub(crate) async fn execute(
        &mut self,
        sql: Arc<str>,
        binds: Vec<Arc<dyn BindValue>>,
    ) -> Result<usize> {
        if sql.trim().is_empty() {
            return Err(Error::EmptyStatement);
        }
        let plain = self.shared.config.params == ParamPolicy::Plain;
        let params = Params(
            binds
                .iter()
                .map(|b| b.describe(plain))
                .collect::<Vec<ParamValue>>()
                .into(),
        );
        let classified = self.shared.classifier.classify(&sql, self.shared.dialect);
        let key = self.times_statements().then(|| Timings::key(&*sql));
        let statement = StatementRun {
            sql,
            classified,
            params,
            origin: Origin::Execute,
        };
        let probe = self.probe.clone();
        let started = Instant::now();
        let outcome = statement
            .run(
                self,
                // Admitted as it runs: a guard may have rewritten the text.
                async move |conn: Conn<'_>, sql: Arc<str>| {
                    let cache = probe.prepared.lock().admit(&sql);
                    match conn {
                        Conn::Own(c) => execute_on(c, &sql, &binds, cache).await,
                        Conn::Pipelined(c) => {
                            let mut shared = c;
                            let query = Cached {
                                query: pg_query(&sql, &binds),
                                cache,
                            };
                            RunQueryDsl::execute(query, &mut shared).await
                        }
                    }
                },
                |n| *n as u64,
            )
            .await;
        if let Some(key) = key {
            self.note_time(key, started);
        }
        outcome
    }

    pub(crate) async fn load<Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: LoadAny<U>,
        U: Send + 'static,
    {
        let (sql, classified) = self.shared.load_sql(&query)?;
        let key = self
            .times_statements()
            .then(|| query.sql_key(self.shared.backend))
            .flatten()
            .map(|id| Timings::key(&id));
        let statement = StatementRun {
            sql,
            classified,
            params: Params::none(),
            origin: Origin::Load,
        };
        let started = Instant::now();
        let outcome = statement
            .run(
                self,
                async move |conn: Conn<'_>, _: Arc<str>| match conn {
                    Conn::Own(c) => query.load_on(c).await,
                    Conn::Pipelined(c) => query.load_pipelined(c).await,
                },
                |rows| rows.len() as u64,
            )
            .await;
        if let Some(key) = key {
            self.note_time(key, started);
        }
        outcome
    }

    /// Whether statements' times are measured, for the pool's placement:
    /// on PostgreSQL with pipelining, where statements share connections.
    fn times_statements(&self) -> bool {
        self.shared.backend == Backend::Postgres && self.shared.config.pipeline > 1
    }

    /// Notes how long statement `key`, started at `started`, took on the
    /// server. A pipelined statement's time starts when the one before it
    /// was answered.
    fn note_time(&self, key: u64, started: Instant) {
        let now = Instant::now();
        let began = match self.conn {
            Held::Pipelined(_) => self.probe.answered(started, now),
            Held::Own(_) => started,
        };
        self.shared
            .timings
            .record(key, now.saturating_duration_since(began));
    }

    /// `f` between BEGIN and COMMIT, or ROLLBACK when it fails; run as an
    /// interaction, so its statements are reported the same way.
    pub(crate) async fn transaction<F, T>(&mut self, f: F) -> Result<T>
    where
        F: AsyncFnOnce(&mut DbConnection) -> Result<T>,
    {
        let shared = self.shared.clone();
        self.interact(async move |conn: &mut DbConnection| {
            conn.begin().await.map_err(|e| shared.db_error(&e))?;
            match f(conn).await {
                Ok(value) => match conn.commit().await {
                    Ok(()) => Ok(value),
                    Err(e) => Err(shared.db_error(&e)),
                },
                Err(err) => {
                    if let Err(e) = conn.rollback().await {
                        let e = shared.db_error(&e);
                        tracing::warn!(pool = %shared.pool, error = %e, "rollback failed");
                        if e.is_connection_lost() {
                            return Err(e);
                        }
                    }
                    Err(err)
                }
            }
        })
        .await
    }

    pub(crate) async fn interact<F, T>(&mut self, f: F) -> Result<T>
    where
        F: AsyncFnOnce(&mut DbConnection) -> Result<T>,
    {
        let Held::Own(conn) = &mut self.conn else {
            return Err(Error::Driver(
                "a closure cannot run on a pipelined connection".into(),
            ));
        };
        self.shared.bus.ready().await?;
        self.probe.report_statements(true);
        let outcome = f(conn).await;
        self.probe.report_statements(false);
        outcome
    }
}

/// `sql` with `binds` run unprepared: what a closure's
/// [`DbConnection::execute`] runs, where no connection's kept texts are at
/// hand.
pub(crate) async fn execute_dyn(
    conn: &mut DbConnection,
    sql: &str,
    binds: &[Arc<dyn BindValue>],
) -> diesel::QueryResult<usize> {
    execute_on(conn, sql, binds, false).await
}

/// `sql` with `binds`, kept prepared by diesel if `cache` (see
/// [`prepared`]).
async fn execute_on(
    conn: &mut DbConnection,
    sql: &str,
    binds: &[Arc<dyn BindValue>],
    cache: bool,
) -> diesel::QueryResult<usize> {
    match conn {
        DbConnection::Postgres(c) => {
            let query = pg_query(sql, binds);
            RunQueryDsl::execute(Cached { query, cache }, c).await
        }
        DbConnection::Mysql(c) => {
            let query = binds
                .iter()
                .fold(diesel::sql_query(sql).into_boxed::<Mysql>(), |q, b| {
                    b.bind_mysql(q)
                });
            RunQueryDsl::execute(Cached { query, cache }, c).await
        }
        DbConnection::Sqlite(c) => {
            let query = binds
                .iter()
                .fold(diesel::sql_query(sql).into_boxed::<Sqlite>(), |q, b| {
                    b.bind_sqlite(q)
                });
            RunQueryDsl::execute(Cached { query, cache }, c).await
        }
    }
}

/// `sql` with `binds` as a PostgreSQL query.
fn pg_query(sql: &str, binds: &[Arc<dyn BindValue>]) -> crate::bind::Boxed<Pg> {
    binds
        .iter()
        .fold(diesel::sql_query(sql).into_boxed::<Pg>(), |q, b| {
            b.bind_pg(q)
        })
}

#[cfg(test)]
mod tests {
    use diesel::sql_types::Integer;
    use diesel::{IntoSql, SqliteConnection};
    use diesel_async::AsyncConnection;
    use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
    use switchboard_core::{Backend, Bus, DatabaseUrl, Labels};

    use super::*;
    use crate::config::PoolConfig;

    /// A session on an in-memory SQLite connection of a pool with no
    /// guards.
    async fn session() -> Session {
        let url = DatabaseUrl::parse("sqlite::memory:").expect("a URL");
        let shared = Arc::new(Shared::new(
            PoolConfig::default(),
            url,
            Backend::Sqlite,
            None,
            Bus::new(),
            switchboard_core::Guards::default(),
        ));
        let conn = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:")
            .await
            .expect("an in-memory SQLite connection");
        let emitter = Arc::new(Emitter::new(
            shared.bus.clone(),
            shared.pool.clone(),
            Backend::Sqlite,
            1,
        ));
        Session {
            conn: Held::Own(DbConnection::Sqlite(conn)),
            probe: Probe::new(emitter.clone(), shared.clone()),
            emitter,
            shared,
            labels: Labels::new(),
            deadline: None,
            poisoned: false,
        }
    }

    /// Every statement's future is boxed. glibc serves a request of 1008
    /// bytes or more only after consolidating its small free chunks, which
    /// cost a statement about 0.1 µs on top of copying the future; the
    /// waits most statements skip (guards, back-pressure, time limits) are
    /// boxed apart to keep it below that.
    #[actix_rt::test]
    async fn a_statement_future_stays_small() {
        let mut s = session().await;
        let query = diesel::select(1.into_sql::<Integer>());
        let load = std::mem::size_of_val(&Session::load::<_, i32>(&mut s, query));
        assert!(load < 1008, "a Load statement's future is {load} bytes");
        let execute =
            std::mem::size_of_val(&Session::execute(&mut s, Arc::from("SELECT 1"), Vec::new()));
        assert!(
            execute < 1008,
            "an Execute statement's future is {execute} bytes"
        );
    }

    #[actix_rt::test]
    async fn statements_run_on_the_session() {
        let mut s = session().await;
        let query = diesel::select(1.into_sql::<Integer>());
        let rows = Session::load::<_, i32>(&mut s, query)
            .await
            .expect("SELECT 1");
        assert_eq!(rows, [1]);
    }
}
