//! Running statements on a connection, with their events.

pub(crate) mod prepared;

#[cfg(feature = "postgres")]
use std::rc::Rc;
use std::sync::Arc;
use std::time::Instant;

#[cfg(feature = "postgres")]
use diesel::pg::Pg;
#[cfg(feature = "postgres")]
use diesel_async::RunQueryDsl;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
use switchboard_core::{Backend, Classified, Error, Origin, Result};

use crate::backend::{Canceller, DbConnection};
use crate::bind::BindValue;
use crate::guarded::{Scope, TxOptions, tx};
use crate::load::{LoadAny, Raw};
use crate::shared::Shared;
use crate::statement::{StatementRun, Stop, Teller, backstop};
use crate::timings::Timings;
#[cfg(feature = "postgres")]
use prepared::Cached;

/// How a session holds its connection. The driver connection is boxed
/// once, when its actor starts: a `DbConnection` is over 500 bytes, and on
/// its way from the actor into a statement's future and back it was
/// copied about ten times per statement.
pub(crate) enum Held {
    /// To itself: any work.
    Own(Box<DbConnection>),
    /// Shared with other pipelined statements (PostgreSQL): `Execute` and
    /// `Load` only.
    #[cfg(feature = "postgres")]
    Pipelined(Rc<AsyncPgConnection>),
}

/// The connection as one statement gets it.
pub(crate) enum Conn<'c> {
    Own(&'c mut DbConnection),
    #[cfg(feature = "postgres")]
    Pipelined(&'c AsyncPgConnection),
}

impl Held {
    pub(crate) fn conn(&mut self) -> Conn<'_> {
        match self {
            Held::Own(c) => Conn::Own(c),
            #[cfg(feature = "postgres")]
            Held::Pipelined(c) => Conn::Pipelined(c),
        }
    }
}

/// A connection taken out of its actor for one piece of work, in the
/// scope of the message served (its labels and deadline). A statement
/// abandoned mid-way sets the scope's `poisoned`: the connection's state is
/// then unknown, so it is invalidated instead of reused.
pub(crate) struct Session {
    pub(crate) conn: Held,
    pub(crate) scope: Scope,
}

impl Session {
    /// The statement's teller, the connection, and where to note a
    /// statement abandoned mid-way: the session's fields, borrowed apart.
    fn parts(&mut self) -> (Teller<'_>, &mut Held, &mut bool) {
        let (at, poisoned) = self.scope.split();
        (at, &mut self.conn, poisoned)
    }

    /// Makes the connection's read-only setting match the pool's mode,
    /// before any work on it; one atomic load when nothing changed.
    async fn backstop(&mut self) -> Result<()> {
        let (backstop, shared) = (&self.scope.probe.backstop, &self.scope.shared);
        match &mut self.conn {
            Held::Own(conn) => backstop::sync(backstop, shared, conn).await,
            #[cfg(feature = "postgres")]
            Held::Pipelined(conn) => backstop::sync_shared(backstop, shared, conn).await,
        }
    }

    pub(crate) async fn execute(
        &mut self,
        sql: Arc<str>,
        binds: Vec<Arc<dyn BindValue>>,
        classified: Option<Classified>,
    ) -> Result<usize> {
        if sql.trim().is_empty() {
            return Err(Error::EmptyStatement);
        }
        if !self.scope.shared.read_only.is_empty() {
            Box::pin(self.backstop()).await?;
        }
        let key = self.times_statements().then(|| Timings::key(&*sql));
        let statement =
            StatementRun::execute(&self.scope.shared, sql, classified, &binds, Origin::Execute);
        let counts = Counts::new(&self.scope.shared, &statement);
        let binds = &binds;
        let probe = self.scope.probe.clone();
        // Read only when the time is noted.
        let timed = key.map(|key| (key, Instant::now()));
        let (at, held, poisoned) = self.parts();
        let stop = held.stop();
        // Boxed apart: with `Execute`'s binds, counts and checks the whole
        // would pass the size the test below keeps statements' futures
        // under.
        let told = statement.tell(
            &at,
            stop,
            poisoned,
            move |sql: Arc<str>, cancel| {
                let canceller = if cancel { held.canceller() } else { None };
                // Admitted as it runs: a guard may have rewritten the
                // text.
                let cache = probe.prepared.lock().admit(&sql);
                let statement = async move {
                    let n = match held.conn() {
                        Conn::Own(c) => execute_on(c, &sql, binds, cache).await,
                        #[cfg(feature = "postgres")]
                        Conn::Pipelined(c) => {
                            let mut shared = c;
                            let query = Cached {
                                query: pg_query(&sql, binds),
                                cache,
                            };
                            RunQueryDsl::execute(query, &mut shared).await
                        }
                    }?;
                    Ok(if counts.of(&sql) { n } else { 0 })
                };
                (statement, canceller)
            },
            |n| Some(*n as u64),
        );
        let outcome = Box::pin(told).await;
        if let Some((key, started)) = timed {
            self.note_time(key, started);
        }
        outcome
    }

    pub(crate) async fn load<Q, U>(&mut self, query: Q) -> Result<Vec<U>>
    where
        Q: LoadAny<U>,
        U: Send + 'static,
    {
        if !self.scope.shared.read_only.is_empty() {
            Box::pin(self.backstop()).await?;
        }
        let (sql, classified, params) = self.scope.shared.load_sql(&query)?;
        let key = self
            .times_statements()
            .then(|| query.sql_key(self.scope.shared.backend))
            .flatten()
            .map(|id| Timings::key(&id));
        let written = sql.clone();
        let statement = StatementRun {
            sql,
            classified,
            params: Some(params),
            origin: Origin::Load,
            check_binds: false,
            rewritable: true,
            binds: &[],
        };
        // Read only when the time is noted.
        let timed = key.map(|key| (key, Instant::now()));
        let (at, held, poisoned) = self.parts();
        let stop = held.stop();
        let outcome = statement
            .tell(
                &at,
                stop,
                poisoned,
                move |sql: Arc<str>, cancel| {
                    let canceller = if cancel { held.canceller() } else { None };
                    // A guard's rewrite runs the new text with the query's
                    // own binds and row types.
                    let rewrite = (!Arc::ptr_eq(&sql, &written)).then_some(sql);
                    let statement = match held.conn() {
                        Conn::Own(c) => query.load_on(Raw(c), rewrite),
                        #[cfg(feature = "postgres")]
                        Conn::Pipelined(c) => query.load_pipelined(c, rewrite),
                    };
                    (statement, canceller)
                },
                |rows| Some(rows.len() as u64),
            )
            .await;
        if let Some((key, started)) = timed {
            self.note_time(key, started);
        }
        outcome
    }

    /// Whether statements' times are measured, for the pool's placement:
    /// on PostgreSQL with pipelining, where statements share connections.
    fn times_statements(&self) -> bool {
        self.scope.shared.backend == Backend::Postgres && self.scope.shared.config.pipeline > 1
    }

    /// Notes how long statement `key`, started at `started`, took on the
    /// server. A pipelined statement's time starts when the one before it
    /// was answered.
    fn note_time(&self, key: u64, started: Instant) {
        let now = Instant::now();
        let began = match self.conn {
            #[cfg(feature = "postgres")]
            Held::Pipelined(_) => self.scope.probe.answered(started, now),
            Held::Own(_) => started,
        };
        self.scope
            .shared
            .timings
            .record(key, now.saturating_duration_since(began));
    }

    /// `f` between BEGIN (with `options`) and COMMIT, or ROLLBACK when it
    /// fails; its statements are guarded like any closure's.
    pub(crate) async fn transaction<F, T>(&mut self, options: TxOptions, f: F) -> Result<T>
    where
        F: AsyncFnOnce(&mut DbConnection) -> Result<T>,
    {
        let shared = self.scope.shared.clone();
        let deadline = self.scope.deadline;
        self.interact(async move |conn: &mut DbConnection| {
            tx::begin(conn, &options)
                .await
                .map_err(|e| shared.scrub(e))?;
            let outcome = match f(conn).await {
                // Its caller was told it timed out: it must not commit.
                Ok(_) if let Some(d) = deadline.filter(|d| Instant::now() >= d.at) => {
                    Err(d.error())
                }
                other => other,
            };
            match outcome {
                Ok(value) => match tx::commit(conn, &options).await {
                    Ok(()) => Ok(value),
                    Err(e) => Err(shared.scrub(e)),
                },
                Err(err) => {
                    let rolled_back = tx::rollback(conn).await;
                    tx::restore(conn, &options).await;
                    if let Err(e) = rolled_back {
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

    /// `f` given the connection, guarded: every statement it sends tells
    /// its story through the connection's scope.
    pub(crate) async fn interact<F, T>(&mut self, f: F) -> Result<T>
    where
        F: AsyncFnOnce(&mut DbConnection) -> Result<T>,
    {
        #[cfg(feature = "postgres")]
        if matches!(self.conn, Held::Pipelined(_)) {
            return Err(Error::Driver(
                "a closure cannot run on a pipelined connection".into(),
            ));
        }
        self.scope.shared.bus.ready().await?;
        self.backstop().await?;
        let scope = self.scope.for_closure();
        // One variant without the `postgres` feature.
        #[cfg_attr(
            not(feature = "postgres"),
            allow(clippy::infallible_destructuring_match)
        )]
        let conn = match &mut self.conn {
            Held::Own(conn) => conn,
            #[cfg(feature = "postgres")]
            Held::Pipelined(_) => {
                return Err(Error::Driver(
                    "a closure cannot run on a pipelined connection".into(),
                ));
            }
        };
        conn.enter(scope);
        let outcome = match self.scope.deadline {
            // Past its message's deadline the closure is abandoned where it
            // stands: its caller has been told it timed out, so what it
            // began must not commit later. The connection, its state
            // unknown mid-statement, is replaced; the server rolls back.
            // (Not on SQLite, whose blocking calls must not be abandoned
            // half-way: there `transaction` rolls back at the end instead.)
            // What the closure's connection is running then is cancelled on
            // the server first: dropping the connection alone would leave
            // the statement (and its transaction's locks) running until
            // the server noticed.
            Some(deadline) if self.scope.shared.backend != Backend::Sqlite => {
                let canceller = conn.canceller();
                match tokio::time::timeout_at(deadline.at.into(), f(conn)).await {
                    Ok(outcome) => outcome,
                    Err(_) => {
                        self.scope.poisoned = true;
                        if let Some(canceller) = canceller {
                            crate::statement::cancel_abandoned(&self.scope.shared, canceller).await;
                        }
                        Err(deadline.error())
                    }
                }
            }
            _ => f(conn).await,
        };
        if conn.leave().is_some_and(|scope| scope.poisoned) {
            self.scope.poisoned = true;
        }
        // A closure's errors may quote row values the server saw.
        outcome.map_err(|e| {
            self.scope
                .shared
                .hooks
                .classify(self.scope.shared.redact_values(e, &[] as &[&str]))
        })
    }
}

impl Held {
    /// Whether a statement on this connection may have a time limit.
    fn stop(&self) -> Stop {
        match self {
            Held::Own(_) => Stop::Cancel,
            #[cfg(feature = "postgres")]
            Held::Pipelined(_) => Stop::Unlimited,
        }
    }

    fn canceller(&mut self) -> Option<Canceller> {
        match self {
            Held::Own(c) => c.canceller(),
            #[cfg(feature = "postgres")]
            Held::Pipelined(_) => None,
        }
    }
}

/// Whether what a driver says `sql` affected is a count of rows changed:
/// for `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `REPLACE` and `COPY`. Any
/// other statement affects 0 rows, on every backend (PostgreSQL said 1 for a
/// `SELECT 1`, SQLite repeated the last write's count, MySQL said 0). SQL
/// that does not parse, or holds several statements, keeps the driver's
/// count.
fn counts_rows(classified: &Classified) -> bool {
    match &**classified {
        Ok(c) if c.statements == 1 => {
            matches!(
                c.operation.as_str(),
                "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "REPLACE"
            ) || c.operation.starts_with("COPY")
        }
        _ => true,
    }
}

/// Whether an `Execute`'s row count is reported: judged on the caller's
/// SQL, and again on a guard's rewrite if one is what runs.
pub(crate) struct Counts {
    counts: bool,
    sql: Arc<str>,
    shared: Arc<Shared>,
}

impl Counts {
    pub(crate) fn new(shared: &Arc<Shared>, statement: &StatementRun<'_>) -> Counts {
        Counts {
            counts: counts_rows(&statement.classified),
            sql: statement.sql.clone(),
            shared: shared.clone(),
        }
    }

    /// Whether `ran`'s row count is reported.
    pub(crate) fn of(&self, ran: &Arc<str>) -> bool {
        if Arc::ptr_eq(ran, &self.sql) || *ran == self.sql {
            self.counts
        } else {
            counts_rows(&self.shared.classifier.classify(ran, self.shared.dialect))
        }
    }
}

/// Runs SQL text with `Execute`'s binds on the driver connection, unguarded
/// (for statements already guarded), kept prepared by diesel if `cache`
/// (see [`prepared`]).
async fn execute_on(
    conn: &mut DbConnection,
    sql: &str,
    binds: &[Arc<dyn BindValue>],
    cache: bool,
) -> diesel::QueryResult<usize> {
    use crate::guarded::Driver;
    crate::backend::each!(conn, c => c.run_binds(sql, binds, cache).await)
}

/// `sql` with `binds` as a PostgreSQL query.
#[cfg(feature = "postgres")]
pub(crate) fn pg_query(sql: &str, binds: &[Arc<dyn BindValue>]) -> crate::bind::Boxed<Pg> {
    binds
        .iter()
        .fold(diesel::sql_query(sql).into_boxed::<Pg>(), |q, b| {
            b.bind_pg(q)
        })
}

/// On an in-memory SQLite connection: only with the `sqlite` feature.
#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use diesel::sql_types::Integer;
    use diesel::{IntoSql, SqliteConnection};
    use diesel_async::AsyncConnection;
    use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;

    use super::*;

    /// A session on an in-memory SQLite connection of a pool with no
    /// guards.
    async fn session() -> Session {
        let conn = SyncConnectionWrapper::<SqliteConnection>::establish(":memory:")
            .await
            .expect("an in-memory SQLite connection");
        Session {
            conn: Held::Own(Box::new(DbConnection::Sqlite(
                crate::guarded::Guarded::new(conn),
            ))),
            scope: Scope::for_tests(),
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
        let execute = std::mem::size_of_val(&Session::execute(
            &mut s,
            Arc::from("SELECT 1"),
            Vec::new(),
            None,
        ));
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
