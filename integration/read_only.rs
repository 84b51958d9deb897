//! Read-only mode is enforced by the database too: a write the parser
//! misreads still fails, on every connection, switched as the mode changes.

use std::time::Duration;

use diesel::sql_types::Integer;
use switchboard::{DbConnection, Error, Execute, Load, ReadOnly, Transaction};
use switchboard_rules::RuleEngine;

use crate::each_backend;
use crate::support::{Db, Target, count_rows, create_table, drop_table};

/// A write the rule engine takes for something else: a read of a view
/// whose column calls a function that inserts (PostgreSQL, MariaDB: the
/// parser sees a plain `SELECT` from a table; a function called in the
/// statement itself is classed a write), or a `PRAGMA` that writes the
/// database header (SQLite, class misc).
async fn smuggled_write(sb: &switchboard::Switchboard, t: &Target) -> String {
    let f = format!("{}_f", t.table);
    match t.db {
        Db::Postgres => {
            sb.run(Execute::sql(format!(
                "CREATE FUNCTION {f}() RETURNS integer LANGUAGE sql VOLATILE AS \
                 $$ INSERT INTO {} (id, name, n) VALUES (99, 'smuggled', 0) RETURNING 1 $$",
                t.table
            )))
            .await
            .unwrap();
            view_of(sb, &f).await
        }
        Db::Mysql => {
            sb.run(Execute::sql(format!(
                "CREATE FUNCTION {f}() RETURNS INT MODIFIES SQL DATA NOT DETERMINISTIC \
                 BEGIN INSERT INTO {} (id, name, n) VALUES (99, 'smuggled', 0); RETURN 1; END",
                t.table
            )))
            .await
            .unwrap();
            view_of(sb, &f).await
        }
        Db::Sqlite => "PRAGMA user_version = 7".to_owned(),
    }
}

/// A view over function `f`, and a read of it.
async fn view_of(sb: &switchboard::Switchboard, f: &str) -> String {
    sb.run(Execute::sql(format!(
        "CREATE VIEW {f}_v AS SELECT {f}() AS x"
    )))
    .await
    .unwrap();
    format!("SELECT x FROM {f}_v")
}

async fn cleanup(sb: &switchboard::Switchboard, t: &Target) {
    if t.db != Db::Sqlite {
        sb.run(Execute::sql(format!("DROP VIEW {}_f_v", t.table)))
            .await
            .unwrap();
        sb.run(Execute::sql(format!("DROP FUNCTION {}_f", t.table)))
            .await
            .unwrap();
    }
    drop_table(sb, t).await;
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = Integer)]
    user_version: i32,
}

/// Whether the smuggled write took effect.
async fn written(sb: &switchboard::Switchboard, t: &Target) -> bool {
    match t.db {
        Db::Sqlite => {
            let v: Vec<Version> = sb
                .run(Load::new(diesel::sql_query("PRAGMA user_version")))
                .await
                .unwrap();
            v[0].user_version == 7
        }
        _ => count_rows(sb, t).await > 0,
    }
}

async fn a_write_the_parser_misreads_fails_in_read_only_mode(t: Target) {
    // Set up without the rules (they cannot parse MySQL's CREATE FUNCTION).
    let setup = t.builder().start().await.unwrap();
    create_table(&setup, &t).await;
    let write = smuggled_write(&setup, &t).await;
    setup.shutdown().await.unwrap();

    let engine = RuleEngine::from_toml("").unwrap();
    let sb = t
        .builder()
        .pool_size(2..=2)
        .guard(engine.clone())
        .start()
        .await
        .unwrap();

    engine.set_read_only(true);
    // The rule engine lets it through (a read, or a misc statement); the
    // database refuses it, on whichever connection it lands.
    for _ in 0..3 {
        let err = sb.run(Execute::sql(write.clone())).await.unwrap_err();
        assert!(
            matches!(err, Error::Database { .. }),
            "the database refuses: {err:?}"
        );
    }
    // Inside a transaction too, and the transaction rolls back.
    let w = write.clone();
    let err = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            conn.execute(Execute::sql(w)).await
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err:?}");
    assert!(!written(&sb, &t).await, "nothing was written");
    // Recognised writes are still refused by the rules first, with their
    // reason.
    let err = sb
        .run(Execute::sql(format!(
            "DELETE FROM {} WHERE id = 1",
            t.table
        )))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Denied { reason, .. } if reason.contains("read-only mode")),
        "{err:?}"
    );

    engine.set_read_only(false);
    sb.run(Execute::sql(write)).await.unwrap();
    assert!(
        written(&sb, &t).await,
        "writable again once the mode is off"
    );
    cleanup(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(a_write_the_parser_misreads_fails_in_read_only_mode);

/// The statements that would turn each backend's setting off again.
fn undo(db: Db) -> &'static [&'static str] {
    match db {
        Db::Postgres => &[
            "SET SESSION default_transaction_read_only = off",
            "SELECT set_config('default_transaction_read_only', 'off', false)",
            "RESET ALL",
            "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
        ],
        Db::Mysql => &[
            "SET SESSION TRANSACTION READ WRITE",
            "SET SESSION transaction_read_only = 0",
        ],
        Db::Sqlite => &["PRAGMA query_only = 0", "PRAGMA query_only = OFF"],
    }
}

async fn statements_that_undo_the_backstop_are_refused(t: Target) {
    let switch = ReadOnly::new(false);
    let sb = t
        .builder()
        .pool_size(1..=1)
        .read_only(switch.clone())
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    let insert = format!("INSERT INTO {} (id, name, n) VALUES (1, 'a', 1)", t.table);

    // No guard at all: only the database stands in the way.
    switch.set(true);
    for sql in undo(t.db) {
        let err = sb.run(Execute::sql(*sql)).await.unwrap_err();
        assert!(
            matches!(&err, Error::Denied { guard, .. } if guard == "read-only"),
            "{sql}: {err:?}"
        );
        let err = sb.run(Execute::sql(insert.clone())).await.unwrap_err();
        assert!(
            matches!(err, Error::Database { .. }),
            "after {sql}: {err:?}"
        );
    }
    // A rolled-back transaction that set nothing leaves the setting on.
    let i = insert.clone();
    let _ = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            conn.execute(Execute::sql(i)).await
        }))
        .await
        .unwrap_err();
    assert!(sb.run(Execute::sql(insert.clone())).await.is_err());
    assert_eq!(count_rows(&sb, &t).await, 0);

    switch.set(false);
    sb.run(Execute::sql(insert)).await.unwrap();
    assert_eq!(count_rows(&sb, &t).await, 1);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(statements_that_undo_the_backstop_are_refused);

async fn new_and_idle_connections_follow_the_mode(t: Target) {
    let setup = t.builder().start().await.unwrap();
    create_table(&setup, &t).await;
    let write = smuggled_write(&setup, &t).await;
    setup.shutdown().await.unwrap();

    // On from the start: the first connection comes up read-only, and so
    // does every connection the pool opens as six callers arrive at once.
    let engine = RuleEngine::from_toml("read_only = true").unwrap();
    let sb = t
        .builder()
        .pool_size(1..=3)
        .pipeline(1)
        .idle_timeout(None)
        .guard(engine.clone())
        .start()
        .await
        .unwrap();
    for round in 0..2 {
        let calls =
            (0..6).map(|_| sb.run(Execute::sql(write.clone()).timeout(Duration::from_secs(20))));
        let results = futures_util::future::join_all(calls).await;
        assert!(
            results
                .iter()
                .all(|r| matches!(r, Err(Error::Database { .. }))),
            "round {round}: {results:?}"
        );
        assert!(!written(&sb, &t).await);
        if round == 0 {
            // The callers queued behind the one connection made the pool
            // open more. The statements may all have ended on the first
            // one before those are up (the database refuses them at
            // once), so let them come up, while the mode is on, before the
            // next round uses them.
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while sb.stats().connecting > 0 && std::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        // Off and on again while they sit idle: switched before next use.
        engine.set_read_only(false);
        engine.set_read_only(true);
    }
    assert!(sb.stats().open > 1, "the pool grew: {:?}", sb.stats());
    engine.set_read_only(false);
    sb.run(Execute::sql(write)).await.unwrap();
    assert!(written(&sb, &t).await);
    sb.shutdown().await.unwrap();
    let setup = t.builder().start().await.unwrap();
    cleanup(&setup, &t).await;
    setup.shutdown().await.unwrap();
}
each_backend!(new_and_idle_connections_follow_the_mode);
