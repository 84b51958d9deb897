//! Statements a `Transaction` or `Interact` closure sends are guarded like
//! messages, whichever way they are sent: `DbConnection::execute`, `load`,
//! `batch_execute`, or diesel's own methods on the backend's connection. A
//! denied one never reaches the database, and the transaction around it
//! rolls back.

use std::time::Duration;

use actix::prelude::*;
use diesel::IntoSql;
use diesel::sql_types::Integer;
use diesel_async::RunQueryDsl;
use switchboard::guard::Subject;
use switchboard::{
    Check, DbConnection, Error, Event, Execute, Filter, GuardPolicy, Interact, Kind, Origin,
    Payload, Ruling, Transaction,
};

use crate::each_backend;
use crate::support::{
    DenyOperation, Target, count_rows, create_table, drain, drop_table, observed,
};

const NO_DELETES: DenyOperation = DenyOperation {
    guard: "no-deletes",
    operation: "DELETE",
    reason: "deletes are off today",
};

/// Applies the same expression to the guarded connection of any backend.
macro_rules! on_each {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            DbConnection::Postgres($c) => $body,
            DbConnection::Mysql($c) => $body,
            DbConnection::Sqlite($c) => $body,
        }
    };
}

#[derive(diesel::QueryableByName, Debug)]
struct Id {
    #[diesel(sql_type = Integer)]
    id: i32,
}

/// One way a closure sends `DELETE FROM t WHERE id = 1`.
#[derive(Debug, Clone, Copy)]
enum Path {
    Execute,
    Load,
    BatchExecute,
    RawDiesel,
}

async fn delete_one(
    conn: &mut DbConnection,
    t: &str,
    ph: &str,
    path: Path,
) -> switchboard::Result<()> {
    match path {
        Path::Execute => {
            conn.execute(
                Execute::sql(format!("DELETE FROM {t} WHERE id = {ph}")).bind::<Integer, _>(1),
            )
            .await?;
        }
        Path::Load => {
            let _: Vec<Id> = conn
                .load(
                    diesel::sql_query(format!("DELETE FROM {t} WHERE id = {ph} RETURNING id"))
                        .bind::<Integer, _>(1),
                )
                .await?;
        }
        Path::BatchExecute => {
            conn.batch_execute(&format!("DELETE FROM {t} WHERE id = 1"))
                .await?
        }
        Path::RawDiesel => {
            let query =
                diesel::sql_query(format!("DELETE FROM {t} WHERE id = {ph}")).bind::<Integer, _>(1);
            on_each!(conn, c => query.execute(c).await)?;
        }
    }
    Ok(())
}

/// The kinds of the events of statements that came from closures.
fn closure_story(events: &[Event]) -> Vec<Kind> {
    let ids: Vec<u64> = events
        .iter()
        .filter_map(|e| match e.payload() {
            Payload::Executing {
                query_id,
                origin: Origin::Closure,
                ..
            } => Some(*query_id),
            _ => None,
        })
        .collect();
    events
        .iter()
        .filter(|e| match e.payload() {
            Payload::Executing { query_id, .. }
            | Payload::Executed { query_id, .. }
            | Payload::ExecuteFailed { query_id, .. } => ids.contains(query_id),
            Payload::Denied {
                query_id: Some(q), ..
            } => ids.contains(q),
            _ => false,
        })
        .map(Event::kind)
        .collect()
}

async fn every_closure_path_is_guarded(t: Target) {
    let (bus, rx) = observed("closure-paths", Filter::all(), 10_000);
    let sb = t
        .builder()
        .bus(bus)
        .guard(NO_DELETES)
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    crate::support::insert_two_rows(&sb, &t).await;
    for path in [
        Path::Execute,
        Path::Load,
        Path::BatchExecute,
        Path::RawDiesel,
    ] {
        // Without a transaction: had the DELETE reached the database, row 1
        // would be gone for good.
        drain(&rx);
        let (table, ph) = (t.table.clone(), t.ph(1));
        let err = sb
            .run(Interact::new(async move |conn: &mut DbConnection| {
                delete_one(conn, &table, &ph, path).await
            }))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Denied { guard, .. } if guard == "no-deletes"),
            "{path:?}: {err:?}"
        );
        assert_eq!(
            count_rows(&sb, &t).await,
            2,
            "{path:?}: the DELETE never ran"
        );
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            closure_story(&drain(&rx)),
            [Kind::Executing, Kind::Denied],
            "{path:?}"
        );

        // In a transaction: the INSERT before the denied DELETE rolls back.
        let (table, ph) = (t.table.clone(), t.ph(1));
        let err = sb
            .run(Transaction::new(async move |conn: &mut DbConnection| {
                conn.execute(Execute::sql(format!(
                    "INSERT INTO {table} (id, name, n) VALUES (3, 'c', 3)"
                )))
                .await?;
                delete_one(conn, &table, &ph, path).await
            }))
            .await
            .unwrap_err();
        assert!(matches!(&err, Error::Denied { .. }), "{path:?}: {err:?}");
        assert_eq!(
            count_rows(&sb, &t).await,
            2,
            "{path:?}: the whole transaction rolled back"
        );
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let events = drain(&rx);
        assert_eq!(
            closure_story(&events),
            [
                Kind::Executing,
                Kind::Executed,
                Kind::Executing,
                Kind::Denied
            ],
            "{path:?}"
        );
        let tx: Vec<Kind> = events
            .iter()
            .map(Event::kind)
            .filter(|k| matches!(k, Kind::TxBegin | Kind::TxCommit | Kind::TxRollback))
            .collect();
        assert_eq!(tx, [Kind::TxBegin, Kind::TxRollback], "{path:?}");
    }
    // Allowed statements of every path still run, each reported once.
    let (table, ph) = (t.table.clone(), t.ph(1));
    drain(&rx);
    let rows = sb
        .run(Interact::new(async move |conn: &mut DbConnection| {
            let n = conn
                .execute(
                    Execute::sql(format!("UPDATE {table} SET n = 5 WHERE id = {ph}"))
                        .bind::<Integer, _>(1),
                )
                .await?;
            conn.batch_execute(&format!("UPDATE {table} SET n = 6 WHERE id = 2"))
                .await?;
            let q = diesel::sql_query(format!("UPDATE {table} SET n = 7 WHERE id = {ph}"))
                .bind::<Integer, _>(2);
            let m = on_each!(conn, c => q.execute(c).await)?;
            let ids: Vec<Id> = conn
                .load(diesel::sql_query(format!(
                    "SELECT id FROM {table} ORDER BY id"
                )))
                .await?;
            Ok((n, m, ids.iter().map(|r| r.id).collect::<Vec<_>>()))
        }))
        .await
        .unwrap();
    assert_eq!(rows, (1, 1, vec![1, 2]));
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    let story = closure_story(&drain(&rx));
    assert_eq!(
        story.iter().filter(|k| **k == Kind::Executing).count(),
        4,
        "{story:?}"
    );
    assert_eq!(
        story.iter().filter(|k| **k == Kind::Executed).count(),
        4,
        "{story:?}"
    );
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(every_closure_path_is_guarded);

/// Answers statements after a fixed delay (connects at once).
struct Slow(Duration);
impl Actor for Slow {
    type Context = Context<Self>;
}
impl Handler<Check> for Slow {
    type Result = ResponseFuture<Ruling>;
    fn handle(&mut self, check: Check, _: &mut Context<Self>) -> Self::Result {
        let wait = match check.subject {
            Subject::Connect { .. } => Duration::ZERO,
            _ => self.0,
        };
        Box::pin(async move {
            actix_rt::time::sleep(wait).await;
            Ruling::allow()
        })
    }
}

async fn an_actor_guard_deadline_holds_inside_a_closure(t: Target) {
    let sb = t
        .builder()
        .guard_actor(
            "slow",
            Slow(Duration::from_secs(30)).start().recipient(),
            GuardPolicy::default().deadline(Duration::from_millis(100)),
        )
        .start()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = sb
        .run(Transaction::new(async |conn: &mut DbConnection| {
            let q = diesel::sql_query("SELECT 1");
            on_each!(conn, c => q.execute(c).await)?;
            Ok(())
        }))
        .await
        .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(10));
    match &err {
        Error::Denied { guard, reason } => {
            assert_eq!(guard, "slow");
            assert!(reason.contains("did not answer within 100ms"), "{reason}");
            assert!(reason.contains("fails closed"), "{reason}");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    sb.shutdown().await.unwrap();

    // The same guard failing open lets the closure's statement run.
    let sb = t
        .builder()
        .guard_actor(
            "slow",
            Slow(Duration::from_secs(30)).start().recipient(),
            GuardPolicy::default()
                .deadline(Duration::from_millis(50))
                .fail_open(),
        )
        .start()
        .await
        .unwrap();
    let v: Vec<i32> = sb
        .run(Interact::new(async |conn: &mut DbConnection| {
            conn.load(diesel::select(4.into_sql::<Integer>())).await
        }))
        .await
        .unwrap();
    assert_eq!(v, [4]);
    sb.shutdown().await.unwrap();
}
each_backend!(an_actor_guard_deadline_holds_inside_a_closure);

async fn a_closure_statement_has_the_pools_time_limit(t: Target) {
    let sleep = match t.db {
        crate::support::Db::Postgres => "SELECT pg_sleep(5)",
        crate::support::Db::Mysql => "SELECT SLEEP(5)",
        // SQLite cannot be interrupted; its statements run to their end.
        crate::support::Db::Sqlite => return,
    };
    let sb = t
        .builder()
        .pool_size(1..=1)
        .statement_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            let q = diesel::sql_query(sleep);
            on_each!(conn, c => q.execute(c).await)?;
            Ok(())
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Timeout { .. }),
        "cancelled on the server: {err:?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    // The connection (or its replacement) serves the next caller.
    let v: Vec<i32> = sb
        .run(Interact::new(async |conn: &mut DbConnection| {
            conn.load(diesel::select(1.into_sql::<Integer>())).await
        }))
        .await
        .unwrap();
    assert_eq!(v, [1]);
    sb.shutdown().await.unwrap();
}
each_backend!(a_closure_statement_has_the_pools_time_limit);

/// A user-defined PostgreSQL type, whose OID only the driver can look up.
#[derive(diesel::sql_types::SqlType, diesel::query_builder::QueryId)]
#[diesel(postgres_type(name = "sb_guarded_mood"))]
struct MoodType;

#[derive(Debug, diesel::expression::AsExpression)]
#[diesel(sql_type = MoodType)]
struct Mood(&'static str);

impl diesel::serialize::ToSql<MoodType, diesel::pg::Pg> for Mood {
    fn to_sql<'b>(
        &'b self,
        out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
    ) -> diesel::serialize::Result {
        use std::io::Write;
        out.write_all(self.0.as_bytes())?;
        Ok(diesel::serialize::IsNull::No)
    }
}

/// Rewrites every UPDATE (to the same text): a rewrite to refuse.
struct RewriteUpdates;
impl switchboard::Guard for RewriteUpdates {
    fn name(&self) -> &str {
        "rewrite-updates"
    }
    fn check(&self, check: &Check) -> Ruling {
        match check.as_statement() {
            Some(s) if s.sql.starts_with("UPDATE") => Ruling::rewrite(s.sql.to_string(), "same"),
            _ => Ruling::allow(),
        }
    }
}

#[test]
fn user_defined_postgres_types_are_guarded_too() {
    let Some(t) = crate::support::target(crate::support::Db::Postgres, "pg_custom_type") else {
        return;
    };
    crate::support::run_local(async move {
        let sb = t
            .builder()
            .guard(NO_DELETES)
            .guard_with(RewriteUpdates, GuardPolicy::default().may_rewrite())
            .start()
            .await
            .unwrap();
        let table = t.table.clone();
        for sql in [
            "DROP TYPE IF EXISTS sb_guarded_mood CASCADE".to_owned(),
            "CREATE TYPE sb_guarded_mood AS ENUM ('happy', 'sad')".to_owned(),
            format!("CREATE TABLE {table} (id INTEGER PRIMARY KEY, mood sb_guarded_mood NOT NULL)"),
            format!("INSERT INTO {table} VALUES (1, 'sad')"),
        ] {
            sb.run(Execute::sql(sql)).await.unwrap();
        }
        let q = table.clone();
        let outcome = sb
            .run(Interact::new(async move |conn: &mut DbConnection| {
                let DbConnection::Postgres(c) = conn else {
                    unreachable!("a PostgreSQL pool")
                };
                let denied = diesel::sql_query(format!("DELETE FROM {q} WHERE mood = $1"))
                    .bind::<MoodType, _>(Mood("sad"))
                    .execute(c)
                    .await;
                let inserted = diesel::sql_query(format!("INSERT INTO {q} VALUES (2, $1)"))
                    .bind::<MoodType, _>(Mood("happy"))
                    .execute(c)
                    .await?;
                let rewritten = diesel::sql_query(format!("UPDATE {q} SET mood = $1"))
                    .bind::<MoodType, _>(Mood("happy"))
                    .execute(c)
                    .await;
                Ok((
                    denied.map_err(switchboard::Error::from),
                    inserted,
                    rewritten.map_err(switchboard::Error::from),
                ))
            }))
            .await
            .unwrap();
        assert!(
            matches!(&outcome.0, Err(Error::Denied { guard, .. }) if guard == "no-deletes"),
            "{:?}",
            outcome.0
        );
        assert_eq!(
            outcome.1, 1,
            "allowed statements run, the driver binding the type"
        );
        assert!(
            matches!(&outcome.2, Err(Error::Denied { reason, .. }) if reason.contains("user-defined PostgreSQL types")),
            "{:?}",
            outcome.2
        );
        assert_eq!(count_rows(&sb, &t).await, 2, "the DELETE never ran");
        let sad: Vec<Id> = sb
            .run(switchboard::Load::new(diesel::sql_query(format!(
                "SELECT id FROM {table} WHERE mood = 'sad'"
            ))))
            .await
            .unwrap();
        assert_eq!(sad.len(), 1, "the UPDATE never ran");
        drop_table(&sb, &t).await;
        sb.run(Execute::sql("DROP TYPE IF EXISTS sb_guarded_mood"))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
    });
}
