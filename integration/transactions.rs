//! Transactions users configure (isolation level, read only, deferrable)
//! and nest (named savepoints and diesel's nested transactions), with their
//! events.

use diesel::sql_types::Text;
use diesel_async::{AsyncConnection, RunQueryDsl};
use switchboard::{
    DbConnection, Error, Execute, Filter, Interact, Isolation, Kind, Load, Payload, Transaction,
};

use crate::each_backend;
use crate::support::{Db, Target, count_rows, create_table, drain, drop_table, observed};

#[derive(diesel::QueryableByName)]
struct Setting {
    #[diesel(sql_type = Text)]
    v: String,
}

/// The statements showing the current transaction's isolation level and
/// whether it is read only, as text. (MariaDB's variables show the
/// session's defaults, not the transaction's: InnoDB's own view does, once
/// the transaction has read something.)
fn show(db: Db, table: &str) -> Option<(String, String)> {
    match db {
        Db::Postgres => Some((
            "SELECT current_setting('transaction_isolation') AS v".into(),
            "SELECT current_setting('transaction_read_only') AS v".into(),
        )),
        Db::Mysql => Some((
            format!(
                "SELECT trx_isolation_level AS v FROM information_schema.innodb_trx \
                 WHERE trx_mysql_thread_id = CONNECTION_ID() AND (SELECT COUNT(*) FROM {table}) >= 0"
            ),
            "SELECT CAST(trx_is_read_only AS CHAR) AS v FROM information_schema.innodb_trx \
             WHERE trx_mysql_thread_id = CONNECTION_ID()"
                .into(),
        )),
        Db::Sqlite => None,
    }
}

async fn isolation_and_read_only_are_applied(t: Target) {
    let sb = t.builder().pool_size(1..=1).start().await.unwrap();
    create_table(&sb, &t).await;
    let insert = format!("INSERT INTO {} (id, name, n) VALUES (1, 'a', 1)", t.table);
    let shown = show(t.db, &t.table);
    let (level, read_only) = sb
        .run(
            Transaction::new(async move |conn: &mut DbConnection| {
                let Some((level, read_only)) = shown else {
                    return Ok((String::new(), String::new()));
                };
                let l: Vec<Setting> = conn.load(diesel::sql_query(level)).await?;
                let r: Vec<Setting> = conn.load(diesel::sql_query(read_only)).await?;
                Ok((l[0].v.clone(), r[0].v.clone()))
            })
            .isolation(Isolation::Serializable)
            .read_only(),
        )
        .await
        .unwrap();
    match t.db {
        Db::Postgres => assert_eq!((level.as_str(), read_only.as_str()), ("serializable", "on")),
        Db::Mysql => assert_eq!((level.as_str(), read_only.as_str()), ("SERIALIZABLE", "1")),
        Db::Sqlite => {}
    }
    // A read-only transaction cannot write: the database refuses.
    let i = insert.clone();
    let err = sb
        .run(
            Transaction::new(async move |conn: &mut DbConnection| {
                conn.execute(Execute::sql(i)).await
            })
            .read_only(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err:?}");
    // The next transaction on the same connection is an ordinary one again.
    let i = insert.clone();
    sb.run(Transaction::new(async move |conn: &mut DbConnection| {
        conn.execute(Execute::sql(i)).await
    }))
    .await
    .unwrap();
    assert_eq!(count_rows(&sb, &t).await, 1);
    // Deferrable exists on PostgreSQL only; elsewhere it is refused before
    // anything begins.
    let outcome = sb
        .run(
            Transaction::new(async |_: &mut DbConnection| Ok(()))
                .isolation(Isolation::Serializable)
                .read_only()
                .deferrable(),
        )
        .await;
    match t.db {
        Db::Postgres => outcome.unwrap(),
        _ => assert!(
            matches!(&outcome, Err(Error::Config(m)) if m.contains("DEFERRABLE")),
            "{outcome:?}"
        ),
    }
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(isolation_and_read_only_are_applied);

async fn savepoints_nest_with_their_own_events(t: Target) {
    let (bus, rx) = observed(
        "savepoints",
        Filter::kinds([
            Kind::TxBegin,
            Kind::TxCommit,
            Kind::TxRollback,
            Kind::Savepoint,
            Kind::SavepointReleased,
            Kind::SavepointRolledBack,
        ]),
        1024,
    );
    let sb = t.builder().bus(bus).start().await.unwrap();
    create_table(&sb, &t).await;
    let table = t.table.clone();
    let insert =
        move |id: i32| format!("INSERT INTO {table} (id, name, n) VALUES ({id}, 'x', {id})");
    sb.run(Transaction::new(async move |conn: &mut DbConnection| {
        conn.execute(Execute::sql(insert(1))).await?;
        let undone = conn
            .savepoint("undone", async |conn: &mut DbConnection| {
                conn.execute(Execute::sql(insert(2))).await?;
                Err::<(), _>(Error::msg("changed my mind"))
            })
            .await;
        assert!(undone.is_err());
        conn.savepoint("kept", async |conn: &mut DbConnection| {
            conn.execute(Execute::sql(insert(3))).await?;
            // diesel's own nesting inside a named savepoint.
            let nested = insert(4);
            match conn {
                DbConnection::Postgres(c) => {
                    c.transaction::<_, diesel::result::Error, _>(async |c| {
                        diesel::sql_query(nested.clone()).execute(c).await
                    })
                    .await?
                }
                DbConnection::Mysql(c) => {
                    c.transaction::<_, diesel::result::Error, _>(async |c| {
                        diesel::sql_query(nested.clone()).execute(c).await
                    })
                    .await?
                }
                DbConnection::Sqlite(c) => {
                    c.transaction::<_, diesel::result::Error, _>(async |c| {
                        diesel::sql_query(nested.clone()).execute(c).await
                    })
                    .await?
                }
            };
            Ok(())
        })
        .await
    }))
    .await
    .unwrap();
    let ids: Vec<Id> = sb
        .run(Load::new(diesel::sql_query(format!(
            "SELECT id FROM {} ORDER BY id",
            t.table
        ))))
        .await
        .unwrap();
    assert_eq!(ids.iter().map(|r| r.id).collect::<Vec<_>>(), [1, 3, 4]);

    // Savepoints need a transaction, and a name that is an identifier.
    let err = sb
        .run(Interact::new(async |conn: &mut DbConnection| {
            conn.savepoint("lonely", async |_: &mut DbConnection| Ok(()))
                .await
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("needs a transaction")),
        "{err:?}"
    );
    let err = sb
        .run(Transaction::new(async |conn: &mut DbConnection| {
            conn.savepoint("x; DROP TABLE t", async |_: &mut DbConnection| Ok(()))
                .await
        }))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("not allowed")),
        "{err:?}"
    );
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();

    let events: Vec<(Kind, Option<(String, u32)>)> = drain(&rx)
        .iter()
        .map(|e| {
            let named = match e.payload() {
                Payload::Savepoint { name, depth }
                | Payload::SavepointReleased { name, depth }
                | Payload::SavepointRolledBack { name, depth } => Some((name.to_string(), *depth)),
                _ => None,
            };
            (e.kind(), named)
        })
        .collect();
    let sp = |k: Kind, name: &str, depth: u32| (k, Some((name.to_owned(), depth)));
    assert_eq!(
        events,
        [
            (Kind::TxBegin, None),
            sp(Kind::Savepoint, "undone", 2),
            sp(Kind::SavepointRolledBack, "undone", 2),
            sp(Kind::Savepoint, "kept", 2),
            sp(Kind::Savepoint, "diesel_savepoint_2", 3),
            sp(Kind::SavepointReleased, "diesel_savepoint_2", 3),
            sp(Kind::SavepointReleased, "kept", 2),
            (Kind::TxCommit, None),
            // The failed savepoint attempts: the first had no transaction;
            // the second began one, and rolled it back.
            (Kind::TxBegin, None),
            (Kind::TxRollback, None),
        ]
    );
}
each_backend!(savepoints_nest_with_their_own_events);

#[derive(diesel::QueryableByName)]
struct Id {
    #[diesel(sql_type = diesel::sql_types::Integer)]
    id: i32,
}
