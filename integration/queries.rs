//! Load, Transaction and Interact on every backend, checked against the
//! database itself.

use diesel::sql_types::{Integer, Text};
use switchboard::{DbConnection, Error, Execute, Filter, Interact, Kind, Load, Transaction};

use crate::each_backend;
use crate::support::{Target, count_rows, create_table, drain, drop_table, insert_two_rows};

#[derive(Debug, diesel::QueryableByName, PartialEq)]
struct Row {
    #[diesel(sql_type = Integer)]
    id: i32,
    #[diesel(sql_type = Text)]
    name: String,
}

async fn load_typed_queries(t: Target) {
    let sb = t.builder().start().await.unwrap();
    let answer: Vec<i32> = sb
        .run(Load::new(diesel::select(diesel::dsl::sql::<Integer>(
            "41 + 1",
        ))))
        .await
        .unwrap();
    assert_eq!(answer, vec![42]);
    create_table(&sb, &t).await;
    insert_two_rows(&sb, &t).await;
    let rows: Vec<Row> = sb
        .run(Load::new(diesel::sql_query(format!(
            "SELECT id, name FROM {} ORDER BY id",
            t.table
        ))))
        .await
        .unwrap();
    assert_eq!(
        rows,
        vec![
            Row {
                id: 1,
                name: "a".into()
            },
            Row {
                id: 2,
                name: "b".into()
            }
        ]
    );
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(load_typed_queries);

async fn transactions_commit_and_roll_back(t: Target) {
    let (bus, rx) = crate::support::observed(
        "tx",
        Filter::kinds([Kind::TxBegin, Kind::TxCommit, Kind::TxRollback]),
        64,
    );
    let sb = t.builder().bus(bus).start().await.unwrap();
    create_table(&sb, &t).await;
    let table = t.table.clone();
    let n = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            conn.execute(Execute::sql(format!(
                "INSERT INTO {table} (id, name, n) VALUES (1, 'kept', 1)"
            )))
            .await
        }))
        .await
        .unwrap();
    assert_eq!(n, 1);
    let table = t.table.clone();
    let err = sb
        .run(Transaction::new(async move |conn: &mut DbConnection| {
            conn.execute(Execute::sql(format!("DELETE FROM {table}")))
                .await?;
            Err::<(), _>(Error::msg("abort on purpose"))
        }))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("abort on purpose"));
    assert_eq!(count_rows(&sb, &t).await, 1, "the delete was rolled back");
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
    let kinds: Vec<Kind> = drain(&rx).iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::TxBegin,
            Kind::TxCommit,
            Kind::TxBegin,
            Kind::TxRollback
        ]
    );
}
each_backend!(transactions_commit_and_roll_back);

async fn interact_statements_are_reported(t: Target) {
    let (bus, rx) = crate::support::observed("interact", Filter::kinds([Kind::Executing]), 64);
    let sb = t.builder().bus(bus).start().await.unwrap();
    let v: Vec<i32> = sb
        .run(
            Interact::new(async |conn: &mut DbConnection| {
                conn.load(diesel::select(diesel::dsl::sql::<Integer>("7")))
                    .await
            })
            .label("tenant", "acme"),
        )
        .await
        .unwrap();
    assert_eq!(v, vec![7]);
    sb.shutdown().await.unwrap();
    let events = drain(&rx);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].meta().labels.get("tenant"), Some("acme"));
    match events[0].payload() {
        switchboard::Payload::Executing { sql, origin, .. } => {
            assert!(sql.contains('7'), "{sql}");
            assert_eq!(*origin, switchboard::Origin::Closure);
        }
        other => panic!("{other:?}"),
    }
}
each_backend!(interact_statements_are_reported);
