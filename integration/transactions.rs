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

/// How a closure's first statement reaches the driver: each path must send
/// the transaction's `BEGIN` ahead of it (on PostgreSQL the two are
/// pipelined).
#[derive(Debug, Clone, Copy)]
enum First {
    /// diesel's `RunQueryDsl::execute` on the guarded connection.
    TypedExecute,
    /// diesel's `load` (an `INSERT ... RETURNING`).
    TypedLoad,
    /// `DbConnection::execute` with an `Execute` and its binds.
    Execute,
    /// `DbConnection::batch_execute`.
    Batch,
    /// A named savepoint around the write.
    Savepoint,
    /// diesel's nested `transaction` around the write.
    Nested,
}

/// The write `first` sends on `conn`, inserting row `id`.
async fn write_first(
    conn: &mut DbConnection,
    first: First,
    table: &str,
    ph: (String, String),
    id: i32,
) -> switchboard::Result<()> {
    let insert = format!("INSERT INTO {table} (id, name, n) VALUES ({id}, 'first', 1)");
    match first {
        First::TypedExecute => {
            let q = diesel::sql_query(insert);
            match conn {
                DbConnection::Postgres(c) => q.execute(c).await?,
                DbConnection::Mysql(c) => q.execute(c).await?,
                DbConnection::Sqlite(c) => q.execute(c).await?,
            };
        }
        First::TypedLoad => {
            let rows: Vec<Id> = conn
                .load(diesel::sql_query(format!("{insert} RETURNING id")))
                .await?;
            assert_eq!(rows.len(), 1);
        }
        First::Execute => {
            let sql = format!(
                "INSERT INTO {table} (id, name, n) VALUES ({id}, {}, {})",
                ph.0, ph.1
            );
            conn.execute(
                Execute::sql(sql)
                    .bind::<diesel::sql_types::Text, _>("first")
                    .bind::<diesel::sql_types::Integer, _>(1),
            )
            .await?;
        }
        First::Batch => conn.batch_execute(&insert).await?,
        First::Savepoint => {
            conn.savepoint("first", async move |conn: &mut DbConnection| {
                conn.execute(Execute::sql(insert)).await.map(drop)
            })
            .await?
        }
        First::Nested => {
            let q = diesel::sql_query(insert);
            match conn {
                DbConnection::Postgres(c) => {
                    c.transaction::<_, diesel::result::Error, _>(async |c| q.execute(c).await)
                        .await?
                }
                DbConnection::Mysql(c) => {
                    c.transaction::<_, diesel::result::Error, _>(async |c| q.execute(c).await)
                        .await?
                }
                DbConnection::Sqlite(c) => {
                    c.transaction::<_, diesel::result::Error, _>(async |c| q.execute(c).await)
                        .await?
                }
            };
        }
    }
    Ok(())
}

/// How a test transaction's closure ends: failing with `message`, or not.
fn ends(fail: bool, message: &str) -> switchboard::Result<()> {
    match fail {
        true => Err(Error::msg(message)),
        false => Ok(()),
    }
}

/// Checks that a transaction (`what`) failed if it was to, and that the
/// table holds one row per transaction committed so far (`expected`, which
/// a committed one raises): a failed one's first write was undone with it.
async fn tallied(
    sb: &switchboard::Switchboard,
    t: &Target,
    outcome: switchboard::Result<()>,
    fail: bool,
    expected: &mut i64,
    what: &str,
) {
    assert_eq!(outcome.is_err(), fail, "{what}: {outcome:?}");
    *expected += i64::from(!fail);
    assert_eq!(
        count_rows(sb, t).await,
        *expected,
        "{what}, failing: {fail}: the first statement must run inside the transaction"
    );
}

/// A transaction's first statement runs inside it, whichever way it is
/// sent: the transaction's `BEGIN` may travel with it (PostgreSQL pipelines
/// the two), never after it. Proven in the database: a transaction that
/// fails after its first write leaves no row, one that succeeds leaves it;
/// a first statement a guard denies leaves the `BEGIN` owed to the next
/// one; a transaction with no statement commits.
async fn a_transactions_first_statement_runs_inside_it(t: Target) {
    let (bus, rx) = observed(
        "first-statement",
        Filter::kinds([Kind::TxBegin, Kind::TxCommit, Kind::TxRollback]),
        1024,
    );
    let sb = t
        .builder()
        .bus(bus)
        .guard(crate::support::DenyOperation {
            guard: "no-deletes",
            operation: "DELETE",
            reason: "deletes are off in this test",
        })
        .pool_size(1..=1)
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    let firsts = [
        First::TypedExecute,
        First::TypedLoad,
        First::Execute,
        First::Batch,
        First::Savepoint,
        First::Nested,
    ];
    let mut id = 0;
    let mut expected = 0;
    // Each path without a time limit, and one with: with a time limit the
    // BEGIN goes alone (a cancel request must never land on it), and the
    // first statement is inside the transaction all the same.
    let timeout = std::time::Duration::from_secs(30);
    let cases = firsts
        .map(|first| (first, None))
        .into_iter()
        .chain([(First::TypedExecute, Some(timeout))]);
    for (first, limit) in cases {
        for fail in [true, false] {
            id += 1;
            let (table, ph) = (t.table.clone(), (t.ph(1), t.ph(2)));
            let tx = Transaction::new(async move |conn: &mut DbConnection| {
                write_first(conn, first, &table, ph, id).await?;
                ends(fail, "fails after its first statement")
            });
            let tx = match limit {
                Some(limit) => tx.timeout(limit),
                None => tx,
            };
            let outcome = sb.run(tx).await;
            let what = format!("{first:?}, time limit {limit:?}");
            tallied(&sb, &t, outcome, fail, &mut expected, &what).await;
        }
    }

    // A denied first statement: the BEGIN goes with the next one, and the
    // transaction still rolls back whole.
    for fail in [true, false] {
        id += 1;
        let table = t.table.clone();
        let outcome = sb
            .run(Transaction::new(async move |conn: &mut DbConnection| {
                let denied = conn
                    .execute(Execute::sql(format!("DELETE FROM {table}")))
                    .await;
                assert!(matches!(denied, Err(Error::Denied { .. })), "{denied:?}");
                conn.execute(Execute::sql(format!(
                    "INSERT INTO {table} (id, name, n) VALUES ({id}, 'second', 2)"
                )))
                .await?;
                ends(fail, "fails after its second statement")
            }))
            .await;
        tallied(&sb, &t, outcome, fail, &mut expected, "after a denial").await;
    }

    // A first statement the database refuses (a duplicate key): the
    // transaction rolls back, and the connection (the pool's only one)
    // serves the next transaction, which commits.
    let (table, taken) = (t.table.clone(), id);
    let err = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            conn.execute(Execute::sql(format!(
                "INSERT INTO {table} (id, name, n) VALUES ({taken}, 'again', 4)"
            )))
            .await
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Database { .. }), "{err:?}");
    id += 1;
    let table = t.table.clone();
    sb.run(Transaction::new(async move |conn: &mut DbConnection| {
        conn.execute(Execute::sql(format!(
            "INSERT INTO {table} (id, name, n) VALUES ({id}, 'after', 5)"
        )))
        .await
    }))
    .await
    .unwrap();
    expected += 1;
    assert_eq!(
        count_rows(&sb, &t).await,
        expected,
        "after a refused first statement"
    );

    // No statement at all: it commits, or rolls back, and the connection
    // is clean for the next caller (an autocommit write stays).
    sb.run(Transaction::new(async |_: &mut DbConnection| Ok(())))
        .await
        .unwrap();
    let err = sb
        .run(Transaction::new(async |_: &mut DbConnection| {
            Err::<(), _>(Error::msg("nothing done"))
        }))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::User(_)), "{err:?}");
    id += 1;
    sb.run(Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES ({id}, 'autocommit', 3)",
        t.table
    )))
    .await
    .unwrap();
    expected += 1;
    assert_eq!(count_rows(&sb, &t).await, expected);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();

    // Each transaction told its beginning and its end, in turn.
    let kinds: Vec<Kind> = drain(&rx).iter().map(|e| e.kind()).collect();
    let transactions = firsts.len() * 2 + 2 + 2 + 2 + 2;
    assert_eq!(kinds.len(), transactions * 2, "{kinds:?}");
    for pair in kinds.chunks(2) {
        assert_eq!(pair[0], Kind::TxBegin, "{kinds:?}");
        assert!(
            matches!(pair[1], Kind::TxCommit | Kind::TxRollback),
            "{kinds:?}"
        );
    }
}
each_backend!(a_transactions_first_statement_runs_inside_it);
