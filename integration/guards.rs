//! Guards asked before connects and statements: a denial never reaches the
//! database, failures fail closed, rewrites and shadow reports are events.

use std::time::Duration;

use actix::prelude::*;
use switchboard::guard::Subject;
use switchboard::{
    Check, DbConnection, Error, Event, Execute, Filter, Guard, GuardPolicy, Interact, Kind, Load,
    Payload, Ruling,
};

use crate::each_backend;
use crate::support::{
    DenyOperation, Target, count_rows, create_table, drain, drop_table, insert_two_rows, observed,
    run_local,
};

/// Denies every DELETE.
const NO_DELETES: DenyOperation = DenyOperation {
    guard: "no-deletes",
    operation: "DELETE",
    reason: "deletes are off today",
};

/// The events of one statement (by query id), as kinds.
fn statement_kinds(events: &[Event], query_id: u64) -> Vec<Kind> {
    events
        .iter()
        .filter(|e| match e.payload() {
            Payload::Executing { query_id: q, .. }
            | Payload::Executed { query_id: q, .. }
            | Payload::ExecuteFailed { query_id: q, .. }
            | Payload::Rewritten { query_id: q, .. } => *q == query_id,
            Payload::Denied { query_id: q, .. } | Payload::ShadowDenied { query_id: q, .. } => {
                *q == Some(query_id)
            }
            _ => false,
        })
        .map(|e| e.kind())
        .collect()
}

/// Every event published so far, once the bus has delivered them.
async fn settled(sb: &switchboard::Switchboard, rx: &switchboard::EventReceiver) -> Vec<Event> {
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    drain(rx)
}

fn last_query_id(events: &[Event]) -> u64 {
    events
        .iter()
        .rev()
        .find_map(|e| match e.payload() {
            Payload::Executing { query_id, .. } => Some(*query_id),
            _ => None,
        })
        .expect("an Executing event")
}

async fn denied_statement_never_reaches_the_database(t: Target) {
    let (bus, rx) = observed("guards", Filter::all(), 4096);
    let sb = t
        .builder()
        .bus(bus)
        .guard(NO_DELETES)
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    insert_two_rows(&sb, &t).await;
    drain(&rx);

    let err = sb
        .run(Execute::sql(format!("DELETE FROM {} WHERE id = 1", t.table)).label("tenant", "acme"))
        .await
        .unwrap_err();
    match &err {
        Error::Denied { guard, reason } => {
            assert_eq!(guard, "no-deletes");
            assert_eq!(reason, "deletes are off today");
        }
        other => panic!("expected Denied, got {other:?}"),
    }
    let events = settled(&sb, &rx).await;
    let q = last_query_id(&events);
    assert_eq!(statement_kinds(&events, q), [Kind::Executing, Kind::Denied]);
    let denied = events.iter().find(|e| e.kind() == Kind::Denied).unwrap();
    assert_eq!(denied.meta().labels.get("tenant"), Some("acme"));

    // The database never saw it: both rows are still there.
    assert_eq!(count_rows(&sb, &t).await, 2);
    // The pool still serves, and statements the guard allows run.
    sb.run(Execute::sql(format!("UPDATE {} SET n = 5", t.table)))
        .await
        .unwrap();
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(denied_statement_never_reaches_the_database);

/// Makes every DELETE harmless by adding a false condition.
struct Defang;

impl Guard for Defang {
    fn name(&self) -> &str {
        "defang"
    }
    fn check(&self, check: &Check) -> Ruling {
        match check.as_statement() {
            Some(s) if s.sql.starts_with("DELETE") && !s.sql.contains("1 = 0") => {
                Ruling::rewrite(format!("{} AND 1 = 0", s.sql), "dry-run deletes")
            }
            _ => Ruling::allow(),
        }
    }
}

async fn rewrite_runs_the_new_sql(t: Target) {
    let (bus, rx) = observed("rewrite", Filter::all(), 4096);
    let sb = t
        .builder()
        .bus(bus)
        .guard_with(Defang, GuardPolicy::default().may_rewrite())
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    sb.run(Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES (1, 'a', 1)",
        t.table
    )))
    .await
    .unwrap();
    drain(&rx);
    let deleted = sb
        .run(
            Execute::sql(format!("DELETE FROM {} WHERE id = {}", t.table, t.ph(1)))
                .bind::<diesel::sql_types::Integer, _>(1),
        )
        .await
        .unwrap();
    assert_eq!(deleted, 0);
    assert_eq!(count_rows(&sb, &t).await, 1);
    let events = settled(&sb, &rx).await;
    let q = events
        .iter()
        .find_map(|e| match e.payload() {
            Payload::Rewritten { query_id, sql, .. } => {
                assert!(sql.ends_with("AND 1 = 0"), "{sql}");
                Some(*query_id)
            }
            _ => None,
        })
        .expect("a Rewritten event");
    assert_eq!(
        statement_kinds(&events, q),
        [Kind::Executing, Kind::Rewritten, Kind::Executed]
    );
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(rewrite_runs_the_new_sql);

/// Turns a marker `SELECT` into an `UPDATE` of every row.
struct SelectToUpdate(String);

impl Guard for SelectToUpdate {
    fn name(&self) -> &str {
        "select-to-update"
    }
    fn check(&self, check: &Check) -> Ruling {
        match check.as_statement() {
            Some(s) if s.sql.contains("'bump-all'") => {
                Ruling::rewrite(format!("UPDATE {} SET n = n + 1", self.0), "bump instead")
            }
            _ => Ruling::allow(),
        }
    }
}

/// A statement rewritten from a read into a write reports the rows the
/// write changed (it reported 0, the count of the read it was).
async fn a_rewritten_statement_counts_the_rows_of_what_ran(t: Target) {
    let sb = t
        .builder()
        .guard_with(
            SelectToUpdate(t.table.clone()),
            GuardPolicy::default().may_rewrite(),
        )
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    sb.run(Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES (1, 'a', 1), (2, 'b', 1)",
        t.table
    )))
    .await
    .unwrap();
    let bumped = sb.run(Execute::sql("SELECT 'bump-all'")).await.unwrap();
    assert_eq!(bumped, 2);
    let in_closure = sb
        .run(Interact::new(async |conn: &mut DbConnection| {
            conn.execute(Execute::sql("SELECT 'bump-all'")).await
        }))
        .await
        .unwrap();
    assert_eq!(in_closure, 2);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(a_rewritten_statement_counts_the_rows_of_what_ran);

fn sqlite_target(test: &str) -> Option<Target> {
    crate::support::target(crate::support::Db::Sqlite, test)
}

#[test]
fn rewrite_without_permission_fails_closed() {
    let t = sqlite_target("rw_refused").unwrap();
    run_local(async move {
        let sb = t.builder().guard(Defang).start().await.unwrap();
        create_table(&sb, &t).await;
        let err = sb
            .run(Execute::sql(format!("DELETE FROM {}", t.table)))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Denied { guard, reason } if guard == "defang" && reason.contains("not allowed to rewrite")),
            "{err:?}"
        );
        drop_table(&sb, &t).await;
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn loads_are_guarded_too() {
    struct NoSelects;
    impl Guard for NoSelects {
        fn name(&self) -> &str {
            "no-selects"
        }
        fn check(&self, check: &Check) -> Ruling {
            match check.as_statement() {
                Some(s) if s.class() == switchboard::StatementClass::Read => {
                    Ruling::deny("reads are closed")
                }
                _ => Ruling::allow(),
            }
        }
    }
    let t = sqlite_target("load_guarded").unwrap();
    run_local(async move {
        let sb = t.builder().guard(NoSelects).start().await.unwrap();
        let err = sb
            .run(Load::<_, i32>::new(diesel::select(diesel::dsl::sql::<
                diesel::sql_types::Integer,
            >("1"))))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Denied { .. }), "{err:?}");
        sb.shutdown().await.unwrap();
    });
}

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

/// Panics on statements (allows connects).
struct Buggy;
impl Actor for Buggy {
    type Context = Context<Self>;
}
impl Handler<Check> for Buggy {
    type Result = Ruling;
    fn handle(&mut self, check: Check, _: &mut Context<Self>) -> Ruling {
        match check.subject {
            Subject::Connect { .. } => Ruling::allow(),
            _ => panic!("guard bug"),
        }
    }
}

#[test]
fn guard_past_its_deadline_fails_closed() {
    let t = sqlite_target("guard_slow").unwrap();
    run_local(async move {
        let (bus, rx) = observed("slow", Filter::kinds([Kind::Denied]), 64);
        let sb = t
            .builder()
            .bus(bus)
            .guard_actor(
                "slow",
                Slow(Duration::from_secs(30)).start().recipient(),
                GuardPolicy::default().deadline(Duration::from_millis(100)),
            )
            .start()
            .await
            .unwrap();
        let started = std::time::Instant::now();
        let err = sb.run(Execute::sql("SELECT 1")).await.unwrap_err();
        assert!(started.elapsed() < Duration::from_secs(10));
        match &err {
            Error::Denied { guard, reason } => {
                assert_eq!(guard, "slow");
                assert!(reason.contains("did not answer within 100ms"), "{reason}");
                assert!(reason.contains("fails closed"), "{reason}");
            }
            other => panic!("expected Denied, got {other:?}"),
        }
        assert_eq!(settled(&sb, &rx).await.len(), 1);
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn fail_open_guard_lets_work_through() {
    let t = sqlite_target("guard_open").unwrap();
    run_local(async move {
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
        create_table(&sb, &t).await;
        sb.run(Execute::sql(format!(
            "INSERT INTO {} (id, name, n) VALUES (1, 'a', 1)",
            t.table
        )))
        .await
        .unwrap();
        assert_eq!(count_rows(&sb, &t).await, 1);
        drop_table(&sb, &t).await;
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn panicking_guard_fails_closed_and_stays_closed() {
    let t = sqlite_target("guard_panic").unwrap();
    run_local(async move {
        let sb = t
            .builder()
            .guard_actor("buggy", Buggy.start().recipient(), GuardPolicy::default())
            .start()
            .await
            .unwrap();
        for _ in 0..2 {
            let err = sb.run(Execute::sql("SELECT 1")).await.unwrap_err();
            assert!(
                matches!(&err, Error::Denied { guard, .. } if guard == "buggy"),
                "{err:?}"
            );
        }
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn shadow_reports_without_denying() {
    struct Watcher;
    impl Guard for Watcher {
        fn name(&self) -> &str {
            "watcher"
        }
        fn check(&self, check: &Check) -> Ruling {
            match check.as_statement() {
                Some(_) => Ruling::allow().with_shadow("would deny: testing a new rule"),
                None => Ruling::allow(),
            }
        }
    }
    let t = sqlite_target("guard_shadow").unwrap();
    run_local(async move {
        let (bus, rx) = observed("shadow", Filter::all(), 4096);
        let sb = t.builder().bus(bus).guard(Watcher).start().await.unwrap();
        drain(&rx);
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        let events = settled(&sb, &rx).await;
        let q = last_query_id(&events);
        assert_eq!(
            statement_kinds(&events, q),
            [Kind::Executing, Kind::ShadowDenied, Kind::Executed]
        );
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn denied_connect_fails_start_with_the_reason() {
    struct NoConnects;
    impl Guard for NoConnects {
        fn name(&self) -> &str {
            "maintenance"
        }
        fn check(&self, check: &Check) -> Ruling {
            match check.subject {
                Subject::Connect { .. } => Ruling::deny("database in maintenance"),
                _ => Ruling::allow(),
            }
        }
    }
    let t = sqlite_target("guard_connect").unwrap();
    run_local(async move {
        let (bus, rx) = observed("connect", Filter::all(), 64);
        let err = t
            .builder()
            .bus(bus)
            .guard(NoConnects)
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Denied { guard, reason } if guard == "maintenance" && reason == "database in maintenance"),
            "{err:?}"
        );
        let kinds: Vec<Kind> = drain(&rx).iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            [
                Kind::PoolStarted,
                Kind::Connecting,
                Kind::Denied,
                Kind::PoolStopped
            ]
        );
    });
}
