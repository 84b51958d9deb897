//! Pool behaviour: many callers on few connections, checkout timeouts,
//! leases, draining shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use futures_util::future::join_all;
use switchboard::{
    Checkout, DbConnection, Error, Execute, Filter, Interact, Kind, Load, Switchboard,
};
use switchboard_core::testing::eventually;

use crate::each_backend;
use crate::support::{Target, count_rows, create_table, drain, drop_table};

/// The test table's insert, in the backend's placeholders.
fn insert_sql(t: &Target) -> String {
    format!(
        "INSERT INTO {} (id, name, n) VALUES ({}, {}, {})",
        t.table,
        t.ph(1),
        t.ph(2),
        t.ph(3)
    )
}

/// The `Execute` inserting row `id` (named `item-{id}`) with `n`.
fn insert_stmt(insert: String, id: i32, n: i32) -> Execute {
    Execute::sql(insert)
        .bind::<diesel::sql_types::Integer, _>(id)
        .bind::<diesel::sql_types::Text, _>(format!("item-{id}"))
        .bind::<diesel::sql_types::Integer, _>(n)
}

/// Inserts row `id` (named `item-{id}`) with `n`, through `Execute`.
async fn insert_row(sb: &Switchboard, insert: String, id: i32, n: i32) -> Result<usize, Error> {
    sb.run(insert_stmt(insert, id, n)).await
}

/// `SELECT 1`, through `Load`.
async fn select_one(sb: &Switchboard) -> Result<Vec<i32>, Error> {
    sb.run(Load::new(diesel::select(diesel::dsl::sql::<
        diesel::sql_types::Integer,
    >("1"))))
        .await
}

/// The pool's sizes, read without the manager (`stats`, first) and from it
/// (`status`), must be `open` connections, every one idle, nobody waiting.
async fn assert_all_idle(sb: &Switchboard, open: usize, when: &str) {
    let stats = sb.stats();
    assert_eq!(
        (stats.open, stats.idle, stats.waiting),
        (open, open, 0),
        "{when}: {stats:?}"
    );
    let status = sb.status().await.unwrap();
    assert_eq!(
        (status.open, status.idle, status.waiting),
        (open, open, 0),
        "{when}: {status:?}"
    );
}

async fn many_callers_few_connections(t: Target) {
    let sb = t.builder().pool_size(1..=4).start().await.unwrap();
    create_table(&sb, &t).await;
    let insert = insert_sql(&t);
    let calls = (0..64).map(|i| {
        let sb = sb.clone();
        let insert = insert.clone();
        async move { insert_row(&sb, insert, i, i * 2).await }
    });
    let results = join_all(calls).await;
    assert!(results.iter().all(|r| matches!(r, Ok(1))), "{results:?}");
    assert!(sb.stats().open <= 4);
    assert_eq!(count_rows(&sb, &t).await, 64);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(many_callers_few_connections);

/// A connection records its own return in the pool's state and wakes the
/// manager only when that leaves it something to do. Queued callers must
/// still be served (the manager is woken for them: without that wake-up
/// this test times out), the rows must all be in the database, and the
/// sizes read without asking the manager (which the connections now
/// publish) must be current when the last answer arrives: both
/// connections idle, nobody waiting.
async fn returns_recorded_by_connections_serve_queued_callers(t: Target) {
    let sb = t.builder().pool_size(2..=2).start().await.unwrap();
    create_table(&sb, &t).await;
    let insert = insert_sql(&t);
    for round in 0..3 {
        // 24 callers on 2 connections: most of them queue.
        let calls = (0..24).map(|i| {
            let sb = sb.clone();
            let insert = insert.clone();
            let id = round * 100 + i;
            async move { insert_row(&sb, insert, id, id).await }
        });
        let results = join_all(calls).await;
        assert!(results.iter().all(|r| matches!(r, Ok(1))), "{results:?}");
        assert_all_idle(&sb, 2, &format!("round {round}")).await;
        // Reads too (on PostgreSQL, pipelined once measured fast).
        let reads = (0..24).map(|_| {
            let sb = sb.clone();
            async move { select_one(&sb).await }
        });
        let reads: Vec<Result<Vec<i32>, Error>> = join_all(reads).await;
        assert!(
            reads.iter().all(|r| matches!(r.as_deref(), Ok([1]))),
            "{reads:?}"
        );
        assert_all_idle(&sb, 2, &format!("round {round}, after reads")).await;
    }
    assert_eq!(count_rows(&sb, &t).await, 72);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(returns_recorded_by_connections_serve_queued_callers);

/// Runs `work(0)` here and `work(1)`, `work(2)` each on a thread of its own
/// with a runtime of its own, as actix-web's workers run; returns the three
/// results, this thread's first.
async fn here_and_on_two_threads<F, Fut, T>(work: F) -> Vec<T>
where
    F: Fn(i32) -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = T>,
    T: Send + 'static,
{
    let threads: Vec<_> = (1..=2)
        .map(|k| {
            let work = work.clone();
            std::thread::spawn(move || {
                tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .expect("a runtime for the caller thread")
                    .block_on(work(k))
            })
        })
        .collect();
    let mut results = vec![work(0).await];
    for thread in threads {
        results.push(
            actix_rt::task::spawn_blocking(move || thread.join())
                .await
                .expect("the joining task")
                .expect("a caller thread"),
        );
    }
    results
}

/// Callers on other threads, as actix-web's workers are: their messages
/// cross to the manager's thread, where the connections run and record
/// their returns. Two threads with runtimes of their own and the test's
/// thread each run 40 concurrent inserts on a pool of at most 3
/// connections. Every row must be in the database and the sizes must be
/// current afterwards.
async fn callers_on_other_threads_share_the_pool(t: Target) {
    let sb = t.builder().pool_size(1..=3).start().await.unwrap();
    create_table(&sb, &t).await;
    let insert = insert_sql(&t);
    let inserts = |sb: Switchboard, insert: String, base: i32| async move {
        let calls = (0..40).map(|i| {
            let sb = sb.clone();
            let insert = insert.clone();
            async move { insert_row(&sb, insert, base + i, i).await }
        });
        join_all(calls).await
    };
    let (pool, sql) = (sb.clone(), insert.clone());
    let threads =
        here_and_on_two_threads(move |k| inserts(pool.clone(), sql.clone(), k * 1000)).await;
    for results in threads {
        assert!(results.iter().all(|r| matches!(r, Ok(1))), "{results:?}");
    }
    let stats = sb.stats();
    assert!(stats.open <= 3, "{stats:?}");
    assert_eq!((stats.idle, stats.waiting), (stats.open, 0), "{stats:?}");
    assert_eq!(count_rows(&sb, &t).await, 120);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(callers_on_other_threads_share_the_pool);

/// Statements sent with `run` that find a connection free take it from the
/// pool's state themselves, on whatever thread they run, while the
/// connections record their returns in the same state on the manager's
/// thread and other statements go through the manager (`send`, a lease,
/// a `timeout`). Three threads, each one caller in a loop, on a pool of
/// three connections: nearly every statement takes the direct path,
/// racing the others for the state. Every row must be in the database,
/// and afterwards every connection idle and nobody waiting.
async fn statements_on_other_threads_take_free_connections_themselves(t: Target) {
    let sb = t.builder().pool_size(3..=3).start().await.unwrap();
    create_table(&sb, &t).await;
    let insert = insert_sql(&t);
    let caller = |sb: Switchboard, insert: String, base: i32| async move {
        let mut inserted = 0;
        for i in 0..120 {
            let id = base + i;
            let stmt = insert_stmt(insert.clone(), id, i);
            let n = match i % 10 {
                // Through the manager: `send`, a time limit, a lease.
                3 => sb
                    .send(stmt)
                    .await
                    .map_err(|_| "manager gone".to_string())?,
                5 => sb.run(stmt.timeout(Duration::from_secs(10))).await,
                7 => {
                    let lease = sb.checkout().await.map_err(|e| e.to_string())?;
                    lease.send(stmt).await
                }
                _ => sb.run(stmt).await,
            }
            .map_err(|e| format!("insert {id}: {e}"))?;
            inserted += n;
            let one = select_one(&sb)
                .await
                .map_err(|e| format!("select {id}: {e}"))?;
            if one != [1] {
                return Err(format!("select {id}: {one:?}"));
            }
        }
        Ok::<usize, String>(inserted)
    };
    let (pool, sql) = (sb.clone(), insert.clone());
    let inserted: usize =
        here_and_on_two_threads(move |k| caller(pool.clone(), sql.clone(), k * 1000))
            .await
            .into_iter()
            .map(|r| r.unwrap())
            .sum();
    assert_eq!(inserted, 360);
    assert_eq!(count_rows(&sb, &t).await, 360);
    assert_all_idle(&sb, 3, "after the callers").await;
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(statements_on_other_threads_take_free_connections_themselves);

async fn held_lease_times_out_the_next_checkout(t: Target) {
    let sb = t
        .builder()
        .pool_size(1..=1)
        .checkout_timeout(Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let lease = sb.checkout().await.unwrap();
    let err = sb.checkout().await.unwrap_err();
    match &err {
        Error::PoolTimeout {
            max, busy, waited, ..
        } => {
            assert_eq!(*max, 1);
            assert_eq!(*busy, 1);
            assert!(*waited >= Duration::from_millis(200));
        }
        other => panic!("expected PoolTimeout, got {other:?}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("timed out after") && text.contains("max 1"),
        "{text}"
    );
    // Statements through the lease still run; dropping it frees the pool.
    lease.send(Execute::sql("SELECT 1")).await.unwrap();
    drop(lease);
    sb.run(Execute::sql("SELECT 1").timeout(Duration::from_secs(5)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
}
each_backend!(held_lease_times_out_the_next_checkout);

/// A connection that breaks inside a lease is given back to the pool as
/// broken and replaced; before, the lease's `Return` reached a stopped
/// actor and the pool counted the connection as busy for good.
async fn a_connection_broken_inside_a_lease_is_replaced(t: Target) {
    let sb = t
        .builder()
        .pool_size(1..=1)
        .checkout_timeout(Duration::from_secs(5))
        .start()
        .await
        .unwrap();
    let lease = sb.checkout().await.unwrap();
    let broken = lease.connection_id();
    let err = lease
        .send(Interact::new(
            async |_: &mut DbConnection| -> switchboard::Result<()> {
                panic!("a closure that panics inside a lease")
            },
        ))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Panic(_)), "{err:?}");
    drop(lease);
    // The only slot is free again: a new connection serves the next caller.
    sb.run(Execute::sql("SELECT 1")).await.unwrap();
    let next = sb.checkout().await.unwrap();
    assert_ne!(next.connection_id(), broken);
    drop(next);
    let status = sb.status().await.unwrap();
    assert_eq!(status.open, 1, "{status:?}");
    sb.shutdown().await.unwrap();
}
each_backend!(a_connection_broken_inside_a_lease_is_replaced);

/// Checkouts that time out around the moment their connection is lent
/// give it back once: the pool never holds one connection twice. (A
/// checkout that gave up while its lend sat in the connection's mailbox
/// made actix skip the lend, so the grant released the connection on its
/// drop and the lease's `Return` released it again.)
async fn checkouts_timing_out_while_lent_release_once(t: Target) {
    let sb = t.builder().pool_size(1..=1).start().await.unwrap();
    // Tasks that wake themselves keep the runtime busy, so that timers,
    // grants and lends interleave in many orders.
    let stop = std::rc::Rc::new(std::cell::Cell::new(false));
    let spinners: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            actix::spawn(async move {
                while !stop.get() {
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for round in 0..300u64 {
        let held = sb.checkout().await.unwrap();
        let sb2 = sb.clone();
        let late = actix::spawn(async move {
            let timeout = Duration::from_micros(100 + (round % 50) * 20);
            sb2.run_checkout(Checkout::new().timeout(timeout)).await
        });
        // Let go of the connection around the waiting checkout's deadline.
        tokio::time::sleep(Duration::from_micros(50 + (round % 37) * 30)).await;
        drop(held);
        if let Ok(Ok(lease)) = late.await {
            drop(lease);
        }
        let status = sb.status().await.unwrap();
        assert!(status.idle <= status.open, "round {round}: {status:?}");
    }
    stop.set(true);
    for s in spinners {
        let _ = s.await;
    }
    sb.shutdown().await.unwrap();
}
each_backend!(checkouts_timing_out_while_lent_release_once);

async fn lease_keeps_one_connection(t: Target) {
    let (bus, rx) = crate::support::observed(
        "lease",
        Filter::kinds([Kind::CheckedOut, Kind::CheckedIn, Kind::Executed]),
        1024,
    );
    let sb = t.builder().pool_size(2..=2).bus(bus).start().await.unwrap();
    create_table(&sb, &t).await;
    let lease = sb
        .run_checkout(Checkout::new().label("session", "s1"))
        .await
        .unwrap();
    for i in 0..3 {
        lease
            .send(Execute::sql(format!(
                "INSERT INTO {} (id, name, n) VALUES ({i}, 'x', {i})",
                t.table
            )))
            .await
            .unwrap();
    }
    let id = lease.connection_id();
    drop(lease);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
    let events = drain(&rx);
    let on_lease: Vec<_> = events
        .iter()
        .filter(|e| e.meta().labels.get("session") == Some("s1"))
        .collect();
    // One checkout, three statements, one checkin, all on the same connection.
    let kinds: Vec<Kind> = on_lease.iter().map(|e| e.kind()).collect();
    assert_eq!(
        kinds,
        vec![
            Kind::CheckedOut,
            Kind::Executed,
            Kind::Executed,
            Kind::Executed,
            Kind::CheckedIn
        ]
    );
    assert!(on_lease.iter().all(|e| e.meta().connection == Some(id)));
}
each_backend!(lease_keeps_one_connection);

async fn shutdown_drains_in_flight_work(t: Target) {
    let (bus, rx) = crate::support::observed("drain", Filter::all(), 100_000);
    let started = crate::support::counted(&bus, Kind::Executing);
    let sb = t.builder().pool_size(4..=4).bus(bus).start().await.unwrap();
    let sleep_sql = match t.db {
        crate::support::Db::Postgres => "SELECT pg_sleep(0.3)",
        crate::support::Db::Mysql => "SELECT SLEEP(0.3)",
        // A recursive CTE that takes a moment on SQLite.
        crate::support::Db::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 300000) SELECT COUNT(*) FROM c"
        }
    };
    let in_flight: Vec<_> = (0..4)
        .map(|_| {
            let sb = sb.clone();
            actix::spawn(async move { sb.run(Execute::sql(sleep_sql)).await })
        })
        .collect();
    // All four running before the shutdown.
    eventually(
        || started.load(Ordering::Relaxed) == 4,
        Duration::from_secs(10),
    )
    .await;
    sb.shutdown().await.unwrap();
    for task in in_flight {
        task.await.unwrap().unwrap();
    }
    // New work is refused.
    let late = sb.run(Execute::sql("SELECT 1")).await.unwrap_err();
    assert!(
        matches!(late, Error::Gone(_) | Error::ShuttingDown { .. }),
        "{late:?}"
    );
    let events = drain(&rx);
    let closed = events.iter().filter(|e| e.kind() == Kind::Closed).count();
    assert_eq!(closed, 4, "every connection closed");
    let executed = events.iter().filter(|e| e.kind() == Kind::Executed).count();
    assert_eq!(executed, 4, "in-flight statements finished");
    // For each connection, its Closing/Closed come after its last statement.
    for e in events.iter().filter(|e| e.kind() == Kind::Executed) {
        let conn = e.meta().connection;
        let closing = events
            .iter()
            .find(|c| c.kind() == Kind::Closing && c.meta().connection == conn)
            .unwrap();
        assert!(closing.meta().seq > e.meta().seq);
    }
}
each_backend!(shutdown_drains_in_flight_work);
