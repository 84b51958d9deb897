//! What guards see of a statement, as SQLAlchemy's `before_execute` does:
//! bind parameter types always, values only under `ParamPolicy::Plain`,
//! for messages and closure statements alike; and a guard's rewrite of a
//! typed query, which runs the new text with the query's own binds.

use std::sync::Arc;

use diesel::IntoSql;
use diesel::sql_types::{Integer, Text};
use diesel_async::RunQueryDsl;
use parking_lot::Mutex;
use switchboard::{
    Backend, Check, DbConnection, Event, Execute, Filter, Guard, GuardPolicy, Interact, Kind, Load,
    ParamPolicy, ParamValue, Payload, Ruling,
};

use crate::each_backend;
use crate::support::{Target, create_table, drain, drop_table, insert_two_rows, observed};

/// Keeps the parameters of every statement it is asked about.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Vec<ParamValue>>>>);

impl Guard for Recorder {
    fn name(&self) -> &str {
        "recorder"
    }
    fn check(&self, check: &Check) -> Ruling {
        if let Some(s) = check.as_statement() {
            self.0.lock().push(s.params.0.to_vec());
        }
        Ruling::allow()
    }
}

fn sql_type(p: &ParamValue) -> &str {
    match p {
        ParamValue::Redacted { sql_type } | ParamValue::Plain { sql_type, .. } => sql_type,
        _ => "?",
    }
}

fn value(p: &ParamValue) -> Option<&str> {
    match p {
        ParamValue::Plain { value, .. } => Some(value),
        _ => None,
    }
}

/// The type name each backend's driver gives an `Integer` bind.
fn integer(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => "int4",
        Backend::Mysql => "Long",
        _ => "Integer",
    }
}

async fn guards_see_bind_types_and_values_only_when_plain(t: Target) {
    for policy in [ParamPolicy::Redacted, ParamPolicy::Plain] {
        let recorder = Recorder::default();
        let sb = t
            .builder()
            .params(policy)
            .guard(recorder.clone())
            .start()
            .await
            .unwrap();
        let ph = t.ph(1);
        sb.run(Execute::sql(format!("SELECT {ph} AS a")).bind::<Text, _>("secret-value"))
            .await
            .unwrap();
        let v: Vec<i32> = sb
            .run(Load::new(diesel::select(41.into_sql::<Integer>())))
            .await
            .unwrap();
        assert_eq!(v, [41]);
        let v: Vec<i32> = sb
            .run(Interact::new(async |conn: &mut DbConnection| {
                conn.load(diesel::select(42.into_sql::<Integer>())).await
            }))
            .await
            .unwrap();
        assert_eq!(v, [42]);
        sb.shutdown().await.unwrap();

        let seen = recorder.0.lock().clone();
        assert_eq!(seen.len(), 3, "{seen:?}");
        let shown: Vec<(&str, Option<&str>)> = seen
            .iter()
            .map(|p| (sql_type(&p[0]), value(&p[0])))
            .collect();
        let int = integer(t.backend());
        match policy {
            ParamPolicy::Redacted => {
                assert_eq!(shown, [("Text", None), (int, None), (int, None)]);
            }
            _ => assert_eq!(
                shown,
                [
                    ("Text", Some("\"secret-value\"")),
                    (int, Some("41")),
                    (int, Some("42"))
                ]
            ),
        }
    }
}
each_backend!(guards_see_bind_types_and_values_only_when_plain);

/// Shifts `WHERE id = <placeholder>` to the next row: a rewrite that keeps
/// the query's placeholder and its columns.
struct NextRow;

impl Guard for NextRow {
    fn name(&self) -> &str {
        "next-row"
    }
    fn check(&self, check: &Check) -> Ruling {
        match check.as_statement() {
            Some(s) if s.sql.contains("WHERE id = ") => Ruling::rewrite(
                s.sql.replace("WHERE id = ", "WHERE id - 1 = "),
                "one further",
            ),
            _ => Ruling::allow(),
        }
    }
}

#[derive(diesel::QueryableByName, Debug, PartialEq)]
struct Named {
    #[diesel(sql_type = Text)]
    name: String,
}

async fn a_guard_may_rewrite_typed_queries(t: Target) {
    let (bus, rx) = observed("rewrite-typed", Filter::all(), 4096);
    let sb = t
        .builder()
        .bus(bus)
        .guard_with(NextRow, GuardPolicy::default().may_rewrite())
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    insert_two_rows(&sb, &t).await;
    let select = format!("SELECT name FROM {} WHERE id = {}", t.table, t.ph(1));
    drain(&rx);

    // A Load message: the rewrite's text, the query's bind (1), row 2.
    let rows: Vec<Named> = sb
        .run(Load::new(
            diesel::sql_query(select.clone()).bind::<Integer, _>(1),
        ))
        .await
        .unwrap();
    assert_eq!(rows, [Named { name: "b".into() }]);

    // The same inside a closure, through `load` and through diesel.
    let q = select.clone();
    let (via_load, via_diesel) = sb
        .run(Interact::new(async move |conn: &mut DbConnection| {
            let a: Vec<Named> = conn
                .load(diesel::sql_query(q.clone()).bind::<Integer, _>(1))
                .await?;
            let query = diesel::sql_query(q).bind::<Integer, _>(1);
            let b: Vec<Named> = match conn {
                DbConnection::Postgres(c) => query.load(c).await?,
                DbConnection::Mysql(c) => query.load(c).await?,
                DbConnection::Sqlite(c) => query.load(c).await?,
            };
            Ok((a, b))
        }))
        .await
        .unwrap();
    assert_eq!(via_load, [Named { name: "b".into() }]);
    assert_eq!(via_diesel, [Named { name: "b".into() }]);

    sb.bus()
        .flush(std::time::Duration::from_secs(5))
        .await
        .unwrap();
    let events = drain(&rx);
    let rewritten: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind() == Kind::Rewritten)
        .collect();
    assert_eq!(rewritten.len(), 3, "{events:#?}");
    for e in rewritten {
        match e.payload() {
            Payload::Rewritten { sql, guard, .. } => {
                assert_eq!(guard, "next-row");
                assert!(sql.contains("WHERE id - 1 = "), "{sql}");
            }
            other => panic!("{other:?}"),
        }
    }
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(a_guard_may_rewrite_typed_queries);
