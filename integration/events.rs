//! The event stream of one connection, checked field by field.

use std::time::Duration;

use switchboard::{
    CloseReason, DbConnection, Event, Execute, Filter, Kind, Origin, Payload, StatementClass,
    Transaction,
};

use crate::each_backend;
use crate::support::{Target, drain};

/// SQL the transaction manager itself sends; backends differ in whether
/// instrumentation reports it, so the comparison leaves it out.
fn is_tx_statement(e: &Event) -> bool {
    match e.payload() {
        Payload::Executing { sql, origin, .. } => *origin == Origin::Closure && is_tx_sql(sql),
        _ => false,
    }
}

fn is_tx_sql(sql: &str) -> bool {
    let s = sql.trim().to_ascii_uppercase();
    s.starts_with("BEGIN")
        || s.starts_with("COMMIT")
        || s.starts_with("ROLLBACK")
        || s.starts_with("START TRANSACTION")
}

async fn event_order(t: Target) {
    let (bus, rx) = crate::support::observed("order", Filter::all(), 10_000);
    let sb = t
        .builder()
        .pool_size(1..=1)
        .bus(bus.clone())
        .start()
        .await
        .unwrap();
    let create = format!(
        "CREATE TABLE {} (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL, n INTEGER NOT NULL)",
        t.table
    );
    sb.run(Execute::sql(create.clone()).label("step", "create"))
        .await
        .unwrap();
    let insert = format!(
        "INSERT INTO {} (id, name, n) VALUES ({}, {}, {})",
        t.table,
        t.ph(1),
        t.ph(2),
        t.ph(3)
    );
    let rows = sb
        .run(
            Execute::sql(insert.clone())
                .bind::<diesel::sql_types::Integer, _>(1)
                .bind::<diesel::sql_types::Text, _>("one")
                .bind::<diesel::sql_types::Integer, _>(10)
                .label("step", "insert"),
        )
        .await
        .unwrap();
    assert_eq!(rows, 1);
    let table = t.table.clone();
    sb.run(
        Transaction::new(async move |conn: &mut DbConnection| {
            conn.batch_execute(&format!("UPDATE {table} SET n = n + 1 WHERE id = 1"))
                .await
        })
        .label("step", "tx"),
    )
    .await
    .unwrap();
    let drop_sql = format!("DROP TABLE {}", t.table);
    sb.run(Execute::sql(drop_sql)).await.unwrap();
    sb.shutdown().await.unwrap();

    let all = drain(&rx);
    let tx_ids: Vec<u64> = all
        .iter()
        .filter(|e| is_tx_statement(e))
        .filter_map(|e| match e.payload() {
            Payload::Executing { query_id, .. } => Some(*query_id),
            _ => None,
        })
        .collect();
    let events: Vec<Event> = all
        .into_iter()
        .filter(|e| match e.payload() {
            Payload::Executing { query_id, .. }
            | Payload::Executed { query_id, .. }
            | Payload::ExecuteFailed { query_id, .. } => !tx_ids.contains(query_id),
            _ => true,
        })
        .collect();
    // The pool's own events open and close the story; the rest is the
    // connection's.
    let pool_kinds: Vec<Kind> = events
        .iter()
        .filter(|e| e.meta().connection.is_none())
        .map(Event::kind)
        .collect();
    assert_eq!(pool_kinds, [Kind::PoolStarted, Kind::PoolStopped]);
    assert_eq!(events.first().map(Event::kind), Some(Kind::PoolStarted));
    assert_eq!(events.last().map(Event::kind), Some(Kind::PoolStopped));
    let events: Vec<Event> = events
        .into_iter()
        .filter(|e| e.meta().connection.is_some())
        .collect();
    let all_seqs: Vec<u64> = drain(&rx).iter().map(|e| e.meta().seq).collect();
    assert!(all_seqs.is_empty(), "everything was drained already");
    let kinds: Vec<Kind> = events.iter().map(Event::kind).collect();
    use Kind::*;
    let expected = vec![
        Connecting, Connected, CheckedOut, Executing, Executed, CheckedIn, CheckedOut, Executing,
        Executed, CheckedIn, CheckedOut, TxBegin, Executing, Executed, TxCommit, CheckedIn,
        CheckedOut, Executing, Executed, CheckedIn, Closing, Closed,
    ];
    assert_eq!(kinds, expected, "{events:#?}");

    // Metadata: one connection, one pool, one backend, ids increasing.
    let conn = events[0].meta().connection.expect("connection id");
    let mut last_id = 0;
    for e in &events {
        let m = e.meta();
        assert_eq!(m.connection, Some(conn));
        assert_eq!(&*m.pool, t.table.as_str());
        assert_eq!(m.backend, t.backend());
        assert!(m.id > last_id, "ids increase");
        last_id = m.id;
    }

    // Payloads, field by field.
    match events[0].payload() {
        Payload::Connecting { target, attempt } => {
            assert_eq!(*attempt, 1);
            assert!(!target.is_empty());
        }
        other => panic!("{other:?}"),
    }
    match events[1].payload() {
        Payload::Connected { server_version, .. } => {
            let v = server_version.to_ascii_lowercase();
            let expected = match t.backend() {
                switchboard::Backend::Postgres => "postgresql",
                switchboard::Backend::Mysql => "",
                _ => "sqlite",
            };
            assert!(v.contains(expected) && !v.is_empty(), "{server_version}");
        }
        other => panic!("{other:?}"),
    }
    let create_id = match events[3].payload() {
        Payload::Executing {
            query_id,
            sql,
            params,
            class,
            origin,
        } => {
            assert_eq!(&**sql, create.as_str());
            assert!(params.is_empty());
            assert_eq!(*class, StatementClass::Ddl);
            assert_eq!(*origin, Origin::Execute);
            *query_id
        }
        other => panic!("{other:?}"),
    };
    assert_eq!(events[3].meta().labels.get("step"), Some("create"));
    match events[4].payload() {
        Payload::Executed { query_id, .. } => assert_eq!(*query_id, create_id),
        other => panic!("{other:?}"),
    }
    match events[7].payload() {
        Payload::Executing {
            sql, params, class, ..
        } => {
            assert_eq!(&**sql, insert.as_str());
            assert_eq!(params.len(), 3);
            assert_eq!(*class, StatementClass::Write);
            let shown = serde_json::to_string(params).unwrap();
            assert!(!shown.contains("one"), "bind values are redacted: {shown}");
        }
        other => panic!("{other:?}"),
    }
    match events[8].payload() {
        Payload::Executed { rows, .. } => assert_eq!(*rows, Some(1)),
        other => panic!("{other:?}"),
    }
    assert_eq!(events[8].meta().labels.get("step"), Some("insert"));
    match (events[11].payload(), events[14].payload()) {
        (Payload::TxBegin { depth: 1 }, Payload::TxCommit { depth: 1 }) => {}
        other => panic!("{other:?}"),
    }
    match events[12].payload() {
        Payload::Executing {
            sql, origin, class, ..
        } => {
            assert!(sql.contains("UPDATE"), "{sql}");
            assert_eq!(*origin, Origin::Closure);
            assert_eq!(*class, StatementClass::Write);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(events[12].meta().labels.get("step"), Some("tx"));
    match events[20].payload() {
        Payload::Closing { reason } => assert_eq!(*reason, CloseReason::Shutdown),
        other => panic!("{other:?}"),
    }
    match events[21].payload() {
        Payload::Closed {
            statements,
            lifetime,
        } => {
            assert!(*statements >= 4, "{statements}");
            assert!(*lifetime > Duration::ZERO);
        }
        other => panic!("{other:?}"),
    }

    // Every event survives a JSON round trip unchanged.
    for e in &events {
        let back = Event::from_json(&e.to_json()).unwrap();
        assert_eq!(&back, e);
    }
}
each_backend!(event_order);

async fn sequences_are_gap_free(t: Target) {
    let (bus, rx) = crate::support::observed("seq", Filter::all(), 10_000);
    let sb = t.builder().pool_size(2..=2).bus(bus).start().await.unwrap();
    for i in 0..20 {
        if i % 5 == 0 {
            sb.run(Transaction::new(async |conn: &mut DbConnection| {
                conn.batch_execute("SELECT 1").await
            }))
            .await
            .unwrap();
        } else {
            sb.run(Execute::sql("SELECT 1")).await.unwrap();
        }
    }
    sb.shutdown().await.unwrap();
    let events = drain(&rx);
    assert_eq!(
        crate::support::assert_gap_free(&events),
        2,
        "two connections"
    );
}
each_backend!(sequences_are_gap_free);
