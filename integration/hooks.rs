//! Acting on the lifecycle: connection setup (`on_connect`), throwing a
//! tainted connection away (`Lease::invalidate`), replacing every
//! connection without stopping (`recycle`).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Text};
use switchboard::{CloseReason, DbConnection, Error, Execute, Filter, Kind, Load, Payload};

use crate::each_backend;
use crate::support::{Db, Target, drain, observed};

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Text)]
    v: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    c: i64,
}

#[test]
fn on_connect_sql_runs_on_every_connection_of_the_pool() {
    crate::support::run(Db::Postgres, "pg_on_connect_name", async |t| {
        let name = format!("sb-app-{}", std::process::id());
        let sb = t
            .builder()
            .pool_size(3..=3)
            .on_connect_sql(format!("SET application_name = '{name}'"))
            .start()
            .await
            .unwrap();
        // Hold all three, so each is a different connection.
        let leases = [
            sb.checkout().await.unwrap(),
            sb.checkout().await.unwrap(),
            sb.checkout().await.unwrap(),
        ];
        let mine: Vec<Count> = leases[0]
            .send(Load::new(diesel::sql_query(format!(
                "SELECT COUNT(*) AS c FROM pg_stat_activity WHERE application_name = '{name}'"
            ))))
            .await
            .unwrap();
        assert_eq!(mine[0].c, 3, "every pool connection carries the name");
        drop(leases);
        // A session reset clears settings; the setup runs again after it.
        let lease = sb.checkout().await.unwrap();
        lease
            .send(Execute::sql("SET application_name = 'changed'"))
            .await
            .unwrap();
        drop(lease);
        let after: Vec<Value> = sb
            .run(Load::new(diesel::sql_query(
                "SELECT current_setting('application_name') AS v",
            )))
            .await
            .unwrap();
        assert_eq!(after[0].v, name);
        sb.shutdown().await.unwrap();
    });
}

async fn on_connect_sql_that_fails_fails_start_with_a_clear_error(t: Target) {
    let (bus, rx) = observed("bad-setup", Filter::all(), 1024);
    let started = t
        .builder()
        .bus(bus.clone())
        .pool_size(1..=2)
        .on_connect_sql("SET THIS IS NOT SQL")
        .start()
        .await;
    let err = started.expect_err("a pool whose setup fails must not start");
    let text = err.to_string();
    assert!(text.contains("on_connect SQL"), "{text}");
    bus.flush(Duration::from_secs(5)).await.unwrap();
    let events = drain(&rx);
    assert!(
        events
            .iter()
            .any(|e| matches!(e.payload(), Payload::ConnectFailed { retry_in: None, .. })),
        "ConnectFailed, not retried: {:?}",
        events.iter().map(|e| e.kind()).collect::<Vec<_>>()
    );
    assert!(!events.iter().any(|e| e.kind() == Kind::CheckedOut));
}
each_backend!(on_connect_sql_that_fails_fails_start_with_a_clear_error);

async fn an_on_connect_hook_runs_before_the_first_lend(t: Target) {
    let (bus, rx) = observed("hook", Filter::all(), 1024);
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = calls.clone();
    let sb = t
        .builder()
        .bus(bus)
        .pool_size(1..=1)
        .on_connect(move |conn: &mut DbConnection| {
            let seen = seen.clone();
            Box::pin(async move {
                conn.batch_execute("SELECT 1").await?;
                seen.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .start()
        .await
        .unwrap();
    sb.run(Execute::sql("SELECT 1")).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    let kinds: Vec<Kind> = drain(&rx).iter().map(|e| e.kind()).collect();
    let connected = kinds.iter().position(|k| *k == Kind::Connected).unwrap();
    let initialized = kinds.iter().position(|k| *k == Kind::Initialized).unwrap();
    let lent = kinds.iter().position(|k| *k == Kind::CheckedOut).unwrap();
    assert!(connected < initialized && initialized < lent, "{kinds:?}");
    sb.shutdown().await.unwrap();
}
each_backend!(an_on_connect_hook_runs_before_the_first_lend);

#[test]
fn an_on_connect_hook_that_panics_or_hangs_fails_the_connect() {
    // PostgreSQL: a SQLite connect is not timed out from outside (its
    // blocking calls must not be abandoned half-way).
    crate::support::run(Db::Postgres, "hook_panics", async |t| {
        let panics = t
            .builder()
            .on_connect(|_: &mut DbConnection| Box::pin(async { panic!("setup bug") }))
            .start()
            .await;
        assert!(
            matches!(&panics, Err(Error::Panic(m)) if m.contains("setup bug")),
            "{panics:?}"
        );
        let hangs = t
            .builder()
            .connect_timeout(Duration::from_millis(200))
            .fail_fast(true)
            .on_connect(|_: &mut DbConnection| {
                Box::pin(async {
                    std::future::pending::<()>().await;
                    Ok(())
                })
            })
            .start()
            .await;
        assert!(matches!(hangs, Err(Error::Timeout { .. })), "{hangs:?}");
    });
}

async fn an_invalidated_lease_connection_is_replaced(t: Target) {
    let (bus, rx) = observed("invalidate", Filter::all(), 1024);
    let sb = t.builder().bus(bus).pool_size(1..=1).start().await.unwrap();
    let lease = sb.checkout().await.unwrap();
    let first = lease.connection_id();
    lease.send(Execute::sql("SELECT 1")).await.unwrap();
    lease.invalidate();
    let next = sb.checkout().await.unwrap();
    assert_ne!(next.connection_id(), first);
    drop(next);
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    let first_events: Vec<Kind> = drain(&rx)
        .iter()
        .filter(|e| e.meta().connection == Some(first))
        .map(|e| e.kind())
        .collect();
    let tail = &first_events[first_events.len() - 4..];
    assert_eq!(
        tail,
        [
            Kind::Invalidated,
            Kind::CheckedIn,
            Kind::Closing,
            Kind::Closed
        ]
    );
    sb.shutdown().await.unwrap();
}
each_backend!(an_invalidated_lease_connection_is_replaced);

#[test]
fn recycle_under_load_replaces_every_connection_and_fails_no_caller() {
    crate::support::run(Db::Postgres, "pg_recycle", async |t| {
        let (bus, rx) = observed("recycle", Filter::all(), 1 << 16);
        let sb = t.builder().bus(bus).pool_size(2..=4).start().await.unwrap();
        let before: Vec<u64> = sb
            .status()
            .await
            .unwrap()
            .connections
            .iter()
            .map(|c| c.id)
            .collect();
        let load = async {
            let mut tasks = Vec::new();
            for i in 0..8 {
                let sb = sb.clone();
                tasks.push(actix::spawn(async move {
                    for _ in 0..50 {
                        sb.run(Execute::sql("SELECT pg_sleep(0.001)"))
                            .await
                            .unwrap_or_else(|e| panic!("caller {i} failed: {e}"));
                    }
                }));
            }
            for task in tasks {
                task.await.unwrap();
            }
        };
        let recycle = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            sb.recycle().await.unwrap();
        };
        futures_util::future::join(load, recycle).await;
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        let after: Vec<u64> = sb
            .status()
            .await
            .unwrap()
            .connections
            .iter()
            .map(|c| c.id)
            .collect();
        assert!(
            after.iter().all(|id| !before.contains(id)),
            "before {before:?}, after {after:?}"
        );
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let recycled = drain(&rx)
            .iter()
            .filter(|e| {
                matches!(
                    e.payload(),
                    Payload::Closing {
                        reason: CloseReason::Recycled
                    }
                )
            })
            .count();
        assert!(recycled >= before.len(), "{recycled} recycled");
        sb.shutdown().await.unwrap();
        assert!(matches!(
            sb.recycle().await,
            Err(Error::ShuttingDown { .. }) | Err(Error::Gone(_))
        ));
    });
}

async fn a_checkout_hook_rejects_connections_and_another_is_tried(t: Target) {
    let (bus, rx) = observed("checkout-hook", Filter::all(), 4096);
    let asked = Arc::new(AtomicUsize::new(0));
    let seen = asked.clone();
    let sb = t
        .builder()
        .bus(bus)
        .pool_size(1..=2)
        // Every other connection asked about is rejected.
        .on_checkout(move |conn: &mut DbConnection| {
            let n = seen.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                conn.batch_execute("SELECT 1").await?;
                Ok(n % 2 == 1)
            })
        })
        .start()
        .await
        .unwrap();
    for _ in 0..3 {
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
    }
    assert!(asked.load(Ordering::SeqCst) >= 4);
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    let rejected = drain(&rx)
        .iter()
        .filter(|e| {
            matches!(
                e.payload(),
                Payload::Closing {
                    reason: CloseReason::Rejected
                }
            )
        })
        .count();
    assert!(rejected >= 2, "{rejected} rejected");
    sb.shutdown().await.unwrap();
}
each_backend!(a_checkout_hook_rejects_connections_and_another_is_tried);

#[test]
fn an_error_classified_as_a_disconnect_invalidates_and_retries() {
    crate::support::run(Db::Postgres, "pg_disconnect_hook", async |t| {
        let (bus, rx) = observed("disconnect-hook", Filter::all(), 4096);
        let sb = t
            .builder()
            .bus(bus)
            .pool_size(1..=1)
            // A failover proxy's error, as a proxy would word it.
            .treat_as_disconnect(|e| e.to_string().contains("sb_failover_marker"))
            .start()
            .await
            .unwrap();
        let raised = "DO $$ BEGIN RAISE EXCEPTION 'sb_failover_marker'; END $$";
        let once = sb.run(Execute::sql(raised)).await;
        assert!(
            matches!(once, Err(Error::ConnectionLost { .. })),
            "{once:?}"
        );
        let retried = sb.run(Execute::sql(raised).retryable(1)).await;
        assert!(
            matches!(retried, Err(Error::ConnectionLost { .. })),
            "{retried:?}"
        );
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let events = drain(&rx);
        let invalidated = events
            .iter()
            .filter(|e| e.kind() == Kind::Invalidated)
            .count();
        // The first statement, and both attempts of the retried one.
        assert_eq!(
            invalidated,
            3,
            "{:?}",
            events.iter().map(|e| e.kind()).collect::<Vec<_>>()
        );
        let attempts = events
            .iter()
            .filter(|e| e.kind() == Kind::Executing && e.meta().labels.get("attempt") == Some("2"))
            .count();
        assert_eq!(attempts, 1, "the retryable statement was sent again");
        sb.shutdown().await.unwrap();
    });
}

/// A hook is no way around the rules: what `on_connect` and `on_checkout`
/// send through their connection is guarded like a closure's statements.
/// (Before, a hook's statements reached the driver unguarded: the table
/// was dropped.)
async fn statements_a_hook_sends_are_guarded(t: Target) {
    let setup = t.builder().start().await.unwrap();
    crate::support::create_table(&setup, &t).await;
    setup.shutdown().await.unwrap();
    let engine = switchboard_rules::RuleEngine::from_toml(&format!(
        "[[rule]]\nkind = \"deny_tables\"\ntables = [\"{}\"]\nclasses = [\"ddl\", \"write\"]\n",
        t.table
    ))
    .unwrap();
    let drop_sql = format!("DROP TABLE {}", t.table);

    // In the setup hook: the connect fails with the guard's denial.
    let sql = drop_sql.clone();
    let err = t
        .builder()
        .guard(engine.clone())
        .on_connect(move |conn: &mut DbConnection| {
            let sql = sql.clone();
            Box::pin(async move { conn.batch_execute(&sql).await })
        })
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Denied { .. }), "{err:?}");

    // In the checkout hook: the hook sees the denial as its error, and the
    // connection is rejected.
    let (bus, rx) = observed("hook-guarded", Filter::all(), 4096);
    let sql = drop_sql.clone();
    let denied = Arc::new(AtomicUsize::new(0));
    let seen = denied.clone();
    let sb = t
        .builder()
        .bus(bus)
        .pool_size(1..=1)
        .guard(engine)
        .on_checkout(move |conn: &mut DbConnection| {
            let (sql, seen) = (sql.clone(), seen.clone());
            Box::pin(async move {
                if let Err(Error::Denied { .. }) = conn.batch_execute(&sql).await {
                    seen.fetch_add(1, Ordering::SeqCst);
                }
                Ok(true)
            })
        })
        .start()
        .await
        .unwrap();
    // The table is still there, for the pool's own reads.
    let n = crate::support::count_rows(&sb, &t).await;
    assert_eq!(n, 0);
    assert!(denied.load(Ordering::SeqCst) >= 1);
    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    assert!(
        drain(&rx).iter().any(|e| e.kind() == Kind::Denied),
        "the hook's statement was reported, and denied"
    );
    sb.shutdown().await.unwrap();
    let cleanup = t.builder().start().await.unwrap();
    crate::support::drop_table(&cleanup, &t).await;
    cleanup.shutdown().await.unwrap();
}
each_backend!(statements_a_hook_sends_are_guarded);
