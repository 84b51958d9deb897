//! `Execute` keeps the statements a connection runs again prepared, so a
//! repeated statement costs one round trip, and keeps at most 64 texts per
//! connection (PostgreSQL's `pg_prepared_statements` and MariaDB's
//! `Com_stmt_prepare` show what the server prepared).

use diesel::sql_types::{Integer, Text};
use switchboard::{Execute, Load, Switchboard};

use crate::support::{Db, Target, create_table, drop_table, run};

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    c: i64,
}

#[derive(diesel::QueryableByName)]
struct Status {
    #[diesel(sql_type = Text, column_name = "Value")]
    value: String,
}

/// A pool of one connection, so that every statement runs on it.
async fn one_connection(t: &Target) -> Switchboard {
    t.builder().pool_size(1..=1).start().await.unwrap()
}

/// Statements PostgreSQL keeps prepared on the connection whose text
/// starts with `prefix`.
async fn pg_prepared(sb: &Switchboard, prefix: &str) -> i64 {
    let rows: Vec<Count> = sb
        .run(Load::new(
            diesel::sql_query(
                "SELECT COUNT(*) AS c FROM pg_prepared_statements WHERE starts_with(statement, $1)",
            )
            .bind::<Text, _>(prefix.to_owned()),
        ))
        .await
        .unwrap();
    rows[0].c
}

/// Statements MariaDB prepared on the connection so far (the query asking
/// is one of them).
async fn mysql_prepares(sb: &Switchboard) -> i64 {
    let rows: Vec<Status> = sb
        .run(Load::new(diesel::sql_query(
            "SHOW SESSION STATUS LIKE 'Com_stmt_prepare'",
        )))
        .await
        .unwrap();
    rows[0].value.parse().unwrap()
}

fn insert(t: &Target, i: i32) -> Execute {
    Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES ({}, {}, {})",
        t.table,
        t.ph(1),
        t.ph(2),
        t.ph(3)
    ))
    .bind::<Integer, _>(i)
    .bind::<Text, _>(format!("row {i}"))
    .bind::<Integer, _>(i)
}

#[test]
fn a_repeated_statement_is_prepared_once_postgres() {
    run(Db::Postgres, "prepared_once", |t| async move {
        let sb = one_connection(&t).await;
        create_table(&sb, &t).await;
        for i in 0..5 {
            assert_eq!(sb.run(insert(&t, i)).await.unwrap(), 1);
        }
        let prefix = format!("INSERT INTO {} ", t.table);
        assert_eq!(pg_prepared(&sb, &prefix).await, 1);
        drop_table(&sb, &t).await;
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn a_repeated_statement_is_prepared_once_mysql() {
    run(Db::Mysql, "prepared_once", |t| async move {
        let sb = one_connection(&t).await;
        create_table(&sb, &t).await;
        let before = mysql_prepares(&sb).await;
        for i in 0..5 {
            assert_eq!(sb.run(insert(&t, i)).await.unwrap(), 1);
        }
        // The first run prepares and forgets (a text run once is never
        // kept), the second prepares and keeps, the rest reuse; the query
        // asking is prepared too.
        assert_eq!(mysql_prepares(&sb).await - before, 3);
        drop_table(&sb, &t).await;
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn a_connection_keeps_at_most_64_statements_prepared() {
    run(Db::Postgres, "prepared_bound", |t| async move {
        let sb = one_connection(&t).await;
        for i in 0..80 {
            for _ in 0..3 {
                let sql = format!("SELECT $1::int + {i} AS {}", t.table);
                sb.run(Execute::sql(sql).bind::<Integer, _>(1))
                    .await
                    .unwrap();
            }
        }
        assert_eq!(pg_prepared(&sb, "SELECT $1::int + ").await, 64);
        sb.shutdown().await.unwrap();
    });
}
