//! Every connection handed back clean: a transaction left open by a lease
//! or a closure is rolled back before the next caller gets the connection,
//! session state a holder changed is cleared (per `ResetPolicy`), and the
//! outcome is checked in the database, from a connection of its own.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use diesel_async::{AsyncConnection, RunQueryDsl};
use switchboard::{
    DbConnection, Error, Event, Execute, Filter, Kind, Load, Payload, ResetPolicy, RollbackReason,
    Transaction,
};

use crate::each_backend;
use crate::support::{Db, Target, create_table, drain, observed};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    c: i64,
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    v: String,
}

/// Rows of the test's table with `id`, counted on a connection of the
/// test's own (never the pool's).
async fn raw_count(t: &Target, id: i32) -> i64 {
    let sql = format!("SELECT COUNT(*) AS c FROM {} WHERE id = {id}", t.table);
    let rows: Vec<Count> = match t.db {
        Db::Postgres => {
            let mut c = diesel_async::AsyncPgConnection::establish(&t.url)
                .await
                .unwrap();
            diesel::sql_query(sql).load(&mut c).await.unwrap()
        }
        Db::Mysql => {
            let mut c = diesel_async::AsyncMysqlConnection::establish(&t.url)
                .await
                .unwrap();
            diesel::sql_query(sql).load(&mut c).await.unwrap()
        }
        Db::Sqlite => {
            use diesel::Connection;
            let path = t.url.trim_start_matches("sqlite://");
            let mut c = diesel::SqliteConnection::establish(path).unwrap();
            diesel::RunQueryDsl::load(diesel::sql_query(sql), &mut c).unwrap()
        }
    };
    rows[0].c
}

fn insert(t: &Target, id: i32) -> Execute {
    Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES ({id}, 'x', {id})",
        t.table
    ))
}

fn begin(t: &Target) -> Execute {
    Execute::sql(match t.db {
        Db::Mysql => "START TRANSACTION",
        _ => "BEGIN",
    })
}

fn kinds(events: &[Event]) -> Vec<Kind> {
    events.iter().map(|e| e.kind()).collect()
}

/// A pool of one: whatever the first holder leaves behind, the second
/// finds.
async fn one_connection(t: &Target, policy: ResetPolicy) -> switchboard::Switchboard {
    t.builder()
        .pool_size(1..=1)
        .reset_on_return(policy)
        .start()
        .await
        .unwrap()
}

async fn a_lease_left_in_a_transaction_does_not_swallow_the_next_write(t: Target) {
    let (bus, rx) = observed("handback", Filter::all(), 4096);
    let sb = t.builder().bus(bus).pool_size(1..=1).start().await.unwrap();
    create_table(&sb, &t).await;
    let lease = sb.checkout().await.unwrap();
    lease.send(begin(&t)).await.unwrap();
    lease.send(insert(&t, 1)).await.unwrap();
    drop(lease);
    assert_eq!(sb.run(insert(&t, 2)).await.unwrap(), 1);
    assert_eq!(
        raw_count(&t, 2).await,
        1,
        "the next caller's write is committed"
    );
    assert_eq!(
        raw_count(&t, 1).await,
        0,
        "the abandoned write is rolled back"
    );
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    let events = drain(&rx);
    let rollback = events.iter().position(|e| {
        matches!(
            e.payload(),
            Payload::TxRollback {
                reason: RollbackReason::Reset,
                ..
            }
        )
    });
    let reset = events
        .iter()
        .position(|e| matches!(e.payload(), Payload::Reset { .. }));
    let (Some(rollback), Some(reset)) = (rollback, reset) else {
        panic!("no TxRollback(reset) and Reset: {:?}", kinds(&events));
    };
    assert!(rollback < reset);
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
}
each_backend!(a_lease_left_in_a_transaction_does_not_swallow_the_next_write);

async fn a_transaction_whose_closure_panics_leaves_nothing(t: Target) {
    let sb = one_connection(&t, ResetPolicy::Session).await;
    create_table(&sb, &t).await;
    let table = t.table.clone();
    let panicked = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            conn.batch_execute(&format!(
                "INSERT INTO {table} (id, name, n) VALUES (1, 'x', 1)"
            ))
            .await?;
            panic!("the closure gives up");
            #[allow(unreachable_code)]
            Ok(())
        }))
        .await;
    assert!(matches!(panicked, Err(Error::Panic(_))), "{panicked:?}");
    sb.run(insert(&t, 2)).await.unwrap();
    assert_eq!(raw_count(&t, 2).await, 1);
    assert_eq!(raw_count(&t, 1).await, 0);
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
}
each_backend!(a_transaction_whose_closure_panics_leaves_nothing);

async fn a_transaction_that_times_out_is_rolled_back_not_committed_later(t: Target) {
    let sb = one_connection(&t, ResetPolicy::Session).await;
    create_table(&sb, &t).await;
    let table = t.table.clone();
    let late = sb
        .run(
            Transaction::new(async move |conn: &mut DbConnection| {
                conn.batch_execute(&format!(
                    "INSERT INTO {table} (id, name, n) VALUES (1, 'x', 1)"
                ))
                .await?;
                tokio::time::sleep(Duration::from_millis(600)).await;
                Ok(())
            })
            .timeout(Duration::from_millis(200)),
        )
        .await;
    assert!(matches!(late, Err(Error::Timeout { .. })), "{late:?}");
    // Past the point where the closure would have committed.
    tokio::time::sleep(Duration::from_millis(800)).await;
    sb.run(insert(&t, 2)).await.unwrap();
    assert_eq!(raw_count(&t, 2).await, 1);
    assert_eq!(
        raw_count(&t, 1).await,
        0,
        "a transaction whose caller was told it timed out must not commit"
    );
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
}
each_backend!(a_transaction_that_times_out_is_rolled_back_not_committed_later);

/// The value of a setting as the next caller sees it.
async fn setting(sb: &switchboard::Switchboard, sql: &str) -> String {
    let rows: Vec<Value> = sb.run(Load::new(diesel::sql_query(sql))).await.unwrap();
    rows.into_iter().next().map(|r| r.v).unwrap_or_default()
}

const PG_TENANT: &str = "SELECT COALESCE(current_setting('app.tenant', true), '') AS v";

#[test]
fn postgres_session_state_is_gone_for_the_next_caller() {
    crate::support::run(Db::Postgres, "pg_session_reset", async |t| {
        let sb = one_connection(&t, ResetPolicy::Session).await;
        let lease = sb.checkout().await.unwrap();
        for sql in [
            "SET search_path = pg_catalog",
            "SET app.tenant = 'tenant-a'",
            "SET statement_timeout = '42s'",
            "CREATE TEMP TABLE leftover (a int)",
            "PREPARE leftover_stmt AS SELECT 1",
            "SET ROLE pg_monitor",
        ] {
            lease.send(Execute::sql(sql)).await.unwrap();
        }
        drop(lease);
        assert_eq!(
            setting(&sb, "SELECT current_setting('search_path') AS v")
                .await
                .replace(' ', ""),
            "\"$user\",public"
        );
        assert_eq!(setting(&sb, PG_TENANT).await, "");
        assert_eq!(
            setting(&sb, "SELECT current_setting('statement_timeout') AS v").await,
            "0"
        );
        assert_eq!(
            setting(&sb, "SELECT current_user::text AS v").await,
            "postgres"
        );
        assert_eq!(
            setting(
                &sb,
                "SELECT COUNT(*)::text AS v FROM pg_class WHERE relname = 'leftover' AND relpersistence = 't'"
            )
            .await,
            "0"
        );
        assert_eq!(
            setting(
                &sb,
                "SELECT COUNT(*)::text AS v FROM pg_prepared_statements WHERE from_sql"
            )
            .await,
            "0"
        );
        // The driver's own prepared statements survived: typed queries
        // still run.
        let again: Vec<i32> = sb
            .run(Load::new(diesel::select(diesel::dsl::sql::<
                diesel::sql_types::Integer,
            >("1"))))
            .await
            .unwrap();
        assert_eq!(again, [1]);
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn a_closure_setting_a_tenant_does_not_leak_it() {
    crate::support::run(Db::Postgres, "pg_closure_tenant", async |t| {
        let sb = one_connection(&t, ResetPolicy::Session).await;
        sb.run(switchboard::Interact::new(
            async |conn: &mut DbConnection| {
                conn.batch_execute("SELECT set_config('app.tenant', 'tenant-a', false)")
                    .await
            },
        ))
        .await
        .unwrap();
        assert_eq!(setting(&sb, PG_TENANT).await, "");
        // A Load setting it is as tracked as an Execute.
        let _: Vec<Value> = sb
            .run(Load::new(diesel::sql_query(
                "SELECT set_config('app.tenant', 'tenant-b', false) AS v",
            )))
            .await
            .unwrap();
        assert_eq!(setting(&sb, PG_TENANT).await, "");
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn with_reset_none_session_state_stays_but_transactions_do_not() {
    crate::support::run(Db::Postgres, "pg_reset_none", async |t| {
        let sb = one_connection(&t, ResetPolicy::None).await;
        create_table(&sb, &t).await;
        let lease = sb.checkout().await.unwrap();
        lease
            .send(Execute::sql("SET app.tenant = 'kept'"))
            .await
            .unwrap();
        lease.send(begin(&t)).await.unwrap();
        lease.send(insert(&t, 1)).await.unwrap();
        drop(lease);
        assert_eq!(setting(&sb, PG_TENANT).await, "kept");
        sb.run(insert(&t, 2)).await.unwrap();
        assert_eq!(raw_count(&t, 2).await, 1);
        assert_eq!(raw_count(&t, 1).await, 0);
        sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn mysql_user_variables_and_temporary_tables_are_gone_for_the_next_caller() {
    crate::support::run(Db::Mysql, "mysql_session_reset", async |t| {
        let (bus, rx) = observed("mysql-reset", Filter::all(), 4096);
        let sb = t.builder().bus(bus).pool_size(1..=1).start().await.unwrap();
        let lease = sb.checkout().await.unwrap();
        lease
            .send(Execute::sql("SET @leftover = 'x'"))
            .await
            .unwrap();
        lease
            .send(Execute::sql("CREATE TEMPORARY TABLE leftover (a int)"))
            .await
            .unwrap();
        drop(lease);
        assert_eq!(
            setting(&sb, "SELECT COALESCE(@leftover, '') AS v").await,
            ""
        );
        let temp = sb
            .run(Execute::sql("INSERT INTO leftover VALUES (1)"))
            .await;
        assert!(temp.is_err(), "the temporary table survived: {temp:?}");
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let closed_for_reset = drain(&rx).iter().any(|e| {
            matches!(
                e.payload(),
                Payload::Closing {
                    reason: switchboard::CloseReason::Reset
                }
            )
        });
        assert!(closed_for_reset, "MySQL resets by replacing the connection");
        sb.shutdown().await.unwrap();
    });
}

async fn plain_statements_cost_no_reset(t: Target) {
    let (bus, rx) = observed("no-reset", Filter::kinds([Kind::Reset]), 64);
    let sb = t.builder().bus(bus).pool_size(1..=1).start().await.unwrap();
    create_table(&sb, &t).await;
    sb.run(insert(&t, 1)).await.unwrap();
    let lease = sb.checkout().await.unwrap();
    lease
        .send(Execute::sql(format!("SELECT * FROM {}", t.table)))
        .await
        .unwrap();
    drop(lease);
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    // CREATE and DROP are DDL, not session state.
    assert!(drain(&rx).is_empty(), "a reset ran for plain statements");
    sb.shutdown().await.unwrap();
}
each_backend!(plain_statements_cost_no_reset);

#[test]
fn a_custom_reset_that_fails_replaces_the_connection() {
    crate::support::run(Db::Postgres, "pg_custom_reset_fails", async |t| {
        let (bus, rx) = observed("reset-fails", Filter::all(), 4096);
        let sb = t
            .builder()
            .bus(bus)
            .pool_size(1..=1)
            .reset_on_return(ResetPolicy::Custom("THIS IS NOT SQL".into()))
            .start()
            .await
            .unwrap();
        let lease = sb.checkout().await.unwrap();
        let first = lease.connection_id();
        lease
            .send(Execute::sql("SET app.tenant = 'a'"))
            .await
            .unwrap();
        drop(lease);
        let lease = sb.checkout().await.unwrap();
        assert_ne!(
            lease.connection_id(),
            first,
            "a connection whose reset failed was lent again"
        );
        drop(lease);
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let events = drain(&rx);
        assert!(
            events
                .iter()
                .any(|e| e.kind() == Kind::Invalidated && e.meta().connection == Some(first))
        );
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn a_set_statement_is_never_pipelined_with_other_callers() {
    crate::support::run(Db::Postgres, "pg_set_not_pipelined", async |t| {
        let sb = t
            .builder()
            .pool_size(1..=1)
            .pipeline(8)
            .start()
            .await
            .unwrap();
        let set = sb.run(Execute::sql("SET app.tenant = 'mine'"));
        let read = sb.run(Load::new(diesel::sql_query(PG_TENANT)));
        let (set, read) = futures_util::future::join(set, read).await;
        set.unwrap();
        let read: Vec<Value> = read.unwrap();
        assert_eq!(read[0].v, "", "another caller's SET reached this statement");
        sb.shutdown().await.unwrap();
    });
}
