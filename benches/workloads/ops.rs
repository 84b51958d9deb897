//! The operations the workloads are made of, and every client that runs
//! them: Switchboard, deadpool + diesel-async, and a shared tokio-postgres
//! client. Each client runs the same SQL with the same binds.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use actix::{Actor, Context, Handler};
use diesel::prelude::*;
use diesel::sql_types::{Integer, Text};
use diesel_async::pooled_connection::deadpool::Pool;
use diesel_async::pooled_connection::{
    AsyncDieselConnectionManager, ManagerConfig, RecyclingMethod,
};
use diesel_async::{AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, RunQueryDsl};
use switchboard::{DbConnection, Event, Execute, Guarded, Load, Switchboard, Transaction};

use crate::support::sb_bench_rows;

diesel::table! {
    /// 1,000 counters, each bumped by the transaction workload.
    sb_bench_counters (id) {
        id -> Integer,
        n -> BigInt,
    }
}

diesel::table! {
    /// Rows the insert workload adds (emptied at the start of a run).
    sb_bench_inserts (id) {
        id -> BigInt,
        k -> Integer,
        v -> Text,
    }
}

/// The server under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Postgres,
    Mariadb,
}

impl Db {
    pub fn name(self) -> &'static str {
        match self {
            Db::Postgres => "pg",
            Db::Mariadb => "maria",
        }
    }

    /// The insert, in the backend's placeholders.
    fn insert_sql(self) -> &'static str {
        match self {
            Db::Postgres => "INSERT INTO sb_bench_inserts (k, v) VALUES ($1, $2)",
            Db::Mariadb => "INSERT INTO sb_bench_inserts (k, v) VALUES (?, ?)",
        }
    }

    /// A 50 ms statement.
    pub fn slow_sql(self) -> &'static str {
        match self {
            Db::Postgres => "SELECT pg_sleep(0.05)",
            Db::Mariadb => "SELECT SLEEP(0.05)",
        }
    }
}

/// One statement (or transaction) a client runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `SELECT $1` bound to 1, a typed `Load` (cached by diesel as a
    /// prepared statement: one round trip).
    Select1,
    /// A one-row primary-key read, typed.
    ReadPk,
    /// `INSERT INTO sb_bench_inserts (k, v) VALUES ($1, $2)`.
    Insert,
    /// `UPDATE sb_bench_counters SET n = n + 1 WHERE id = $1`, then a read
    /// of that row, in one transaction.
    Transaction,
    /// The 50 ms statement of the mixed workload.
    Slow,
}

/// The value the insert binds with its key.
const VALUE: &str = "a value of some twenty-odd bytes";

/// A client of the system under test: runs one operation at a time and
/// panics on any error (a bench that fails must not report a figure).
pub trait Worker: 'static {
    fn op(&mut self, op: Op, key: i32) -> impl Future<Output = ()>;
}

/// A Switchboard pool as a client: `Load` for reads, `Execute` for the
/// insert and the slow statement, `Transaction` for the transaction.
#[derive(Clone)]
pub struct Sb {
    pub sb: Switchboard,
    pub db: Db,
}

impl Worker for Sb {
    async fn op(&mut self, op: Op, key: i32) {
        match op {
            Op::Select1 => {
                let one: Vec<i32> = self
                    .sb
                    .run(Load::new(diesel::select(1.into_sql::<Integer>())))
                    .await
                    .expect("SELECT 1 through switchboard");
                assert_eq!(one, [1]);
            }
            Op::ReadPk => {
                let rows: Vec<(i32, String)> = self
                    .sb
                    .run(Load::new(sb_bench_rows::table.find(key)))
                    .await
                    .expect("a primary-key read through switchboard");
                assert_eq!(rows.len(), 1);
            }
            Op::Insert => {
                let n = self
                    .sb
                    .run(
                        Execute::sql(self.db.insert_sql())
                            .bind::<Integer, _>(key)
                            .bind::<Text, _>(VALUE),
                    )
                    .await
                    .expect("an insert through switchboard");
                assert_eq!(n, 1);
            }
            Op::Transaction => {
                let n = self
                    .sb
                    .run(Transaction::new(async move |conn: &mut DbConnection| {
                        Ok(match conn {
                            DbConnection::Postgres(c) => update_read_guarded_pg(c, key).await?,
                            DbConnection::Mysql(c) => update_read_guarded_mysql(c, key).await?,
                            DbConnection::Sqlite(_) => unreachable!("a server backend"),
                        })
                    }))
                    .await
                    .expect("a transaction through switchboard");
                assert!(n > 0);
            }
            Op::Slow => {
                self.sb
                    .run(Execute::sql(self.db.slow_sql()))
                    .await
                    .expect("the slow statement through switchboard");
            }
        }
    }
}

/// The transaction's two statements on connection `$c`: returns the
/// counter's new value.
macro_rules! update_read {
    ($c:expr, $key:expr) => {{
        let c = $c;
        let target = sb_bench_counters::table.find($key);
        let updated = RunQueryDsl::execute(
            diesel::update(target).set(sb_bench_counters::n.eq(sb_bench_counters::n + 1)),
            &mut *c,
        )
        .await?;
        assert_eq!(updated, 1);
        let (_, n): (i32, i64) = RunQueryDsl::get_result(target, &mut *c).await?;
        Ok(n)
    }};
}

async fn update_read_pg(c: &mut AsyncPgConnection, key: i32) -> QueryResult<i64> {
    update_read!(c, key)
}

async fn update_read_mysql(c: &mut AsyncMysqlConnection, key: i32) -> QueryResult<i64> {
    update_read!(c, key)
}

/// The same on a closure's guarded connection: each statement guarded and
/// reported.
async fn update_read_guarded_pg(c: &mut Guarded<AsyncPgConnection>, key: i32) -> QueryResult<i64> {
    update_read!(c, key)
}

async fn update_read_guarded_mysql(
    c: &mut Guarded<AsyncMysqlConnection>,
    key: i32,
) -> QueryResult<i64> {
    update_read!(c, key)
}

/// deadpool + diesel-async pools as clients: a checkout per operation,
/// as a web handler does; `Fast` recycling, as many connections as tasks.
macro_rules! deadpool {
    ($name:ident, $conn:ty) => {
        #[derive(Clone)]
        pub struct $name {
            pool: Pool<$conn>,
            db: Db,
        }

        impl $name {
            pub fn new(url: &str, size: usize, db: Db) -> Self {
                let mut config = ManagerConfig::default();
                config.recycling_method = RecyclingMethod::Fast;
                let manager = AsyncDieselConnectionManager::<$conn>::new_with_config(url, config);
                let pool = Pool::builder(manager)
                    .max_size(size)
                    .build()
                    .expect("a deadpool pool");
                $name { pool, db }
            }

            /// Opens every connection of the pool before measuring.
            pub async fn warm(&self, size: usize) {
                let conns: Result<Vec<_>, _> =
                    futures_util::future::join_all((0..size).map(|_| self.pool.get()))
                        .await
                        .into_iter()
                        .collect();
                drop(conns.expect("pooled connections"));
            }
        }
    };
}

deadpool!(DeadpoolPg, AsyncPgConnection);
deadpool!(DeadpoolMysql, AsyncMysqlConnection);

/// Runs `$op` on a checked-out diesel-async connection.
macro_rules! diesel_op {
    ($conn:expr, $db:expr, $op:expr, $key:expr, $update_read:ident) => {{
        let conn = $conn;
        let key = $key;
        match $op {
            Op::Select1 => {
                let q = diesel::select(1.into_sql::<Integer>());
                let one: Vec<i32> = RunQueryDsl::load(q, conn).await.expect("SELECT 1");
                assert_eq!(one, [1]);
            }
            Op::ReadPk => {
                let rows: Vec<(i32, String)> =
                    RunQueryDsl::load(sb_bench_rows::table.find(key), conn)
                        .await
                        .expect("a primary-key read");
                assert_eq!(rows.len(), 1);
            }
            Op::Insert => {
                let q = diesel::insert_into(sb_bench_inserts::table)
                    .values((sb_bench_inserts::k.eq(key), sb_bench_inserts::v.eq(VALUE)));
                let n = RunQueryDsl::execute(q, conn).await.expect("an insert");
                assert_eq!(n, 1);
            }
            Op::Transaction => {
                let n = conn
                    .transaction::<_, diesel::result::Error, _>(async move |c| {
                        $update_read(c, key).await
                    })
                    .await
                    .expect("a transaction");
                assert!(n > 0);
            }
            Op::Slow => {
                RunQueryDsl::execute(diesel::sql_query($db.slow_sql()), conn)
                    .await
                    .expect("the slow statement");
            }
        }
    }};
}

impl Worker for DeadpoolPg {
    async fn op(&mut self, op: Op, key: i32) {
        let mut conn = self.pool.get().await.expect("a pooled connection");
        diesel_op!(&mut *conn, self.db, op, key, update_read_pg)
    }
}

impl Worker for DeadpoolMysql {
    async fn op(&mut self, op: Op, key: i32) {
        let mut conn = self.pool.get().await.expect("a pooled connection");
        diesel_op!(&mut *conn, self.db, op, key, update_read_mysql)
    }
}

/// One tokio-postgres client shared by every task, with its statements
/// prepared once: what a user who wants raw speed picks (it pipelines the
/// statements of all its callers on one connection by itself).
#[derive(Clone)]
pub struct SharedPg(Arc<SharedPgInner>);

pub struct SharedPgInner {
    client: tokio_postgres::Client,
    select1: tokio_postgres::Statement,
    read_pk: tokio_postgres::Statement,
}

impl SharedPg {
    /// Connects; the connection's task is spawned with `spawn` (the
    /// runtime the clients will run on).
    pub async fn connect(
        url: &str,
        spawn: impl FnOnce(
            tokio_postgres::Connection<tokio_postgres::Socket, tokio_postgres::tls::NoTlsStream>,
        ),
    ) -> Self {
        let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls)
            .await
            .expect("a tokio-postgres connection");
        spawn(connection);
        // The same text and parameter type as diesel's `SELECT $1`.
        let select1 = client
            .prepare_typed("SELECT $1", &[tokio_postgres::types::Type::INT4])
            .await
            .expect("SELECT 1 prepared");
        let read_pk = client
            .prepare("SELECT id, name FROM sb_bench_rows WHERE id = $1")
            .await
            .expect("the key read prepared");
        SharedPg(Arc::new(SharedPgInner {
            client,
            select1,
            read_pk,
        }))
    }
}

impl Worker for SharedPg {
    async fn op(&mut self, op: Op, key: i32) {
        let c = &self.0;
        match op {
            Op::Select1 => {
                let row = c
                    .client
                    .query_one(&c.select1, &[&1i32])
                    .await
                    .expect("SELECT 1");
                assert_eq!(row.get::<_, i32>(0), 1);
            }
            Op::ReadPk => {
                let rows = c
                    .client
                    .query(&c.read_pk, &[&key])
                    .await
                    .expect("a primary-key read");
                assert_eq!(rows.len(), 1);
                let _: (i32, String) = (rows[0].get(0), rows[0].get(1));
            }
            other => unreachable!("the shared client runs reads only, not {other:?}"),
        }
    }
}

/// A custom actor subscriber that counts the events it handles.
pub struct Counter(pub Arc<AtomicU64>);

impl Actor for Counter {
    type Context = Context<Self>;
}

impl Handler<Event> for Counter {
    type Result = ();
    fn handle(&mut self, _: Event, _: &mut Self::Context) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}
