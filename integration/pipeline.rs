//! Pipelining on PostgreSQL: independent `Execute`/`Load` messages sharing
//! one connection (`PoolConfig::pipeline`), and what must not change for
//! them: each statement's own labels and outcome, failures kept to the
//! statement that failed, a cut connection replaced once, leases and
//! transactions still alone on their connection.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::IntoSql;
use diesel::sql_types::Integer;
use futures_util::future::join_all;
use switchboard::{
    DbConnection, Error, Event, EventKind, Execute, Filter, Kind, Load, Switchboard, Transaction,
};
use switchboard_core::testing::eventually;

use crate::support::proxy::{Mode, Proxy};
use crate::support::{
    Db, assert_gap_free, counted, drain, observed, run_local, server_url, target,
};

/// The most statements that were between `Executing` and their outcome at
/// once on any one connection.
fn most_in_flight(events: &[Event]) -> usize {
    let mut now = HashMap::<u64, usize>::new();
    let mut most = 0;
    for e in events {
        let conn = e.meta().connection.unwrap_or_default();
        match e.payload() {
            EventKind::Executing { .. } => {
                let n = now.entry(conn).or_default();
                *n += 1;
                most = most.max(*n);
            }
            EventKind::Executed { .. } | EventKind::ExecuteFailed { .. } => {
                *now.entry(conn).or_default() -= 1;
            }
            _ => {}
        }
    }
    most
}

/// Events in each connection's own order (the bus keeps that order per
/// connection; across connections the channel may interleave them).
fn by_connection(events: Vec<Event>) -> BTreeMap<u64, Vec<Event>> {
    let mut out = BTreeMap::<u64, Vec<Event>>::new();
    for e in events {
        if let Some(c) = e.meta().connection {
            out.entry(c).or_default().push(e);
        }
    }
    out
}

/// Resolves once `n` statements have begun (`Executing`).
async fn begun(started: &AtomicUsize, n: usize) {
    eventually(
        || started.load(Ordering::Relaxed) == n,
        Duration::from_secs(10),
    )
    .await;
}

fn pg_pool(name: &str, bus: switchboard::Bus) -> Option<switchboard::Builder> {
    let t = target(Db::Postgres, name)?;
    Some(
        Switchboard::builder(t.url.clone())
            .name(name)
            .bus(bus)
            .checkout_timeout(Duration::from_secs(20)),
    )
}

#[test]
fn independent_statements_share_a_connection_each_with_its_labels() {
    let (bus, rx) = observed("pipeline", Filter::all(), 8192);
    let Some(builder) = pg_pool("pipeline_share", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(1..=4).pipeline(8).start().await.unwrap();
        let calls = (0..16).map(|i| {
            let sb = sb.clone();
            async move {
                sb.run(
                    Execute::sql("SELECT pg_sleep(0.05)")
                        .label("caller", i.to_string())
                        .label("n", "execute"),
                )
                .await
            }
        });
        let loads = (0..16).map(|i| {
            let sb = sb.clone();
            async move {
                sb.run(
                    Load::<_, i32>::new(diesel::select(i.into_sql::<Integer>()))
                        .label("caller", i.to_string())
                        .label("n", "load"),
                )
                .await
            }
        });
        let (executed, loaded) = futures_util::join!(join_all(calls), join_all(loads));
        assert!(executed.iter().all(|r| r.is_ok()), "{executed:?}");
        for (i, rows) in loaded.into_iter().enumerate() {
            assert_eq!(rows.unwrap(), vec![i as i32]);
        }
        sb.shutdown().await.unwrap();

        let events = drain(&rx);
        assert_gap_free(&events);
        let executing: Vec<_> = events
            .iter()
            .filter(|e| e.kind() == Kind::Executing)
            .collect();
        assert_eq!(executing.len(), 32);
        // 32 callers, 8 to a connection: at most 4 connections, several
        // statements in flight on one of them at once.
        let used: std::collections::BTreeSet<_> =
            executing.iter().map(|e| e.meta().connection).collect();
        assert!(used.len() <= 4, "{used:?}");
        assert!(most_in_flight(&events) > 1, "nothing was pipelined");
        // Every event of a statement carries that statement's labels.
        let labels_of: HashMap<u64, _> = executing
            .iter()
            .filter_map(|e| match e.payload() {
                EventKind::Executing { query_id, .. } => Some((*query_id, e.meta().labels.clone())),
                _ => None,
            })
            .collect();
        for e in &events {
            if let EventKind::Executed { query_id, .. } = e.payload() {
                assert_eq!(labels_of.get(query_id), Some(&e.meta().labels), "{e:?}");
            }
        }
        // Loans pair up per connection: as many `CheckedIn` as `CheckedOut`,
        // and one per statement.
        let count = |k: Kind| events.iter().filter(|e| e.kind() == k).count();
        assert_eq!(count(Kind::CheckedOut), 32);
        assert_eq!(count(Kind::CheckedIn), 32);
    });
}

#[test]
fn pipeline_of_one_gives_each_statement_a_connection_to_itself() {
    let (bus, rx) = observed("no-pipeline", Filter::all(), 4096);
    let Some(builder) = pg_pool("pipeline_off", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(1..=4).pipeline(1).start().await.unwrap();
        let calls = (0..8).map(|_| sb.run(Execute::sql("SELECT pg_sleep(0.05)")));
        let results = join_all(calls).await;
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        sb.shutdown().await.unwrap();
        let events = drain(&rx);
        assert_eq!(most_in_flight(&events), 1);
    });
}

#[test]
fn messages_with_a_timeout_are_not_pipelined() {
    let (bus, rx) = observed("timed", Filter::all(), 4096);
    let Some(builder) = pg_pool("pipeline_timed", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(1..=2).start().await.unwrap();
        let calls = (0..6).map(|_| {
            sb.run(Execute::sql("SELECT pg_sleep(0.05)").timeout(Duration::from_secs(10)))
        });
        let results = join_all(calls).await;
        assert!(results.iter().all(|r| r.is_ok()), "{results:?}");
        sb.shutdown().await.unwrap();
        assert_eq!(most_in_flight(&drain(&rx)), 1);
    });
}

#[test]
fn a_failing_statement_leaves_its_neighbours_and_the_connection_alone() {
    let (bus, rx) = observed("pipeline-fail", Filter::all(), 4096);
    let Some(builder) = pg_pool("pipeline_fail", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(1..=1).start().await.unwrap();
        let calls = (0..12).map(|i| {
            let sb = sb.clone();
            async move {
                let sql = if i % 4 == 1 {
                    "SELECT * FROM sb_pipeline_no_such_table"
                } else {
                    "SELECT pg_sleep(0.02)"
                };
                (i, sb.run(Execute::sql(sql)).await)
            }
        });
        for (i, result) in join_all(calls).await {
            if i % 4 == 1 {
                assert!(
                    matches!(result, Err(Error::Database { .. })),
                    "{i}: {result:?}"
                );
            } else {
                assert!(result.is_ok(), "{i}: {result:?}");
            }
        }
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();
        let events = drain(&rx);
        assert!(most_in_flight(&events) > 1, "nothing was pipelined");
        assert!(
            !events.iter().any(|e| e.kind() == Kind::Invalidated),
            "a statement error invalidated the shared connection"
        );
        let connected = events
            .iter()
            .filter(|e| e.kind() == Kind::Connected)
            .count();
        assert_eq!(connected, 1, "the connection was replaced");
    });
}

#[test]
fn a_cut_under_pipelined_statements_fails_them_and_replaces_the_connection_once() {
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    let mut u = url::Url::parse(&url).unwrap();
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&(
        u.host_str().unwrap().to_owned(),
        u.port().unwrap_or(5432),
    ))
    .unwrap()
    .next()
    .unwrap();
    let proxy = Proxy::start(upstream, Mode::Forward);
    u.set_port(Some(proxy.port())).unwrap();
    let (bus, rx) = observed("pipeline-cut", Filter::all(), 4096);
    let started = counted(&bus, Kind::Executing);
    run_local(async move {
        let sb = Switchboard::builder(u.to_string())
            .name("pipeline-cut")
            .bus(bus)
            .pool_size(1..=1)
            .health_check(switchboard::HealthCheck::None)
            .backoff(switchboard::Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(100),
            ))
            .start()
            .await
            .unwrap();
        let calls = join_all((0..4).map(|_| sb.run(Execute::sql("SELECT pg_sleep(2)"))));
        let cut = async {
            // All four in the pipeline.
            begun(&started, 4).await;
            proxy.cut();
        };
        let (results, ()) = futures_util::join!(calls, cut);
        for r in &results {
            assert!(
                matches!(r, Err(Error::ConnectionLost { .. })),
                "{results:?}"
            );
        }
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();

        let per_conn = by_connection(drain(&rx));
        assert_eq!(per_conn.len(), 2, "{per_conn:?}");
        let (_, first) = per_conn.iter().next().unwrap();
        let kinds: Vec<Kind> = first.iter().map(|e| e.kind()).collect();
        let count = |k: Kind| kinds.iter().filter(|x| **x == k).count();
        assert_eq!(count(Kind::ExecuteFailed), 4, "{kinds:?}");
        assert_eq!(count(Kind::Invalidated), 1, "{kinds:?}");
        assert_eq!(count(Kind::Closed), 1, "{kinds:?}");
        assert!(
            kinds.ends_with(&[
                Kind::Invalidated,
                Kind::CheckedIn,
                Kind::Closing,
                Kind::Closed
            ]),
            "{kinds:?}"
        );
    });
}

#[test]
fn a_transaction_waits_for_the_pipeline_to_drain() {
    let (bus, rx) = observed("pipeline-tx", Filter::all(), 4096);
    let started = counted(&bus, Kind::Executing);
    let Some(builder) = pg_pool("pipeline_tx", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(1..=1).start().await.unwrap();
        let sleeps = join_all((0..4).map(|_| sb.run(Execute::sql("SELECT pg_sleep(0.1)"))));
        let tx = async {
            // Queued behind the pipelined statements already sent.
            begun(&started, 4).await;
            sb.run(Transaction::new(async |conn: &mut DbConnection| {
                use diesel_async::RunQueryDsl;
                let DbConnection::Postgres(c) = conn else {
                    unreachable!("a PostgreSQL pool")
                };
                diesel::sql_query("SELECT 1").execute(c).await?;
                Ok(())
            }))
            .await
        };
        let (sleeps, tx) = futures_util::join!(sleeps, tx);
        assert!(sleeps.iter().all(|r| r.is_ok()), "{sleeps:?}");
        tx.unwrap();
        sb.shutdown().await.unwrap();
        let kinds: Vec<Kind> = drain(&rx).iter().map(|e| e.kind()).collect();
        let begin = kinds.iter().position(|k| *k == Kind::TxBegin).unwrap();
        let last_executed = kinds
            .iter()
            .take(begin)
            .filter(|k| **k == Kind::Executed)
            .count();
        assert_eq!(
            last_executed, 4,
            "the transaction began mid-pipeline: {kinds:?}"
        );
    });
}

#[test]
fn shutdown_lets_pipelined_statements_finish() {
    let (bus, rx) = observed("pipeline-drain", Filter::all(), 4096);
    let started = counted(&bus, Kind::Executing);
    let Some(builder) = pg_pool("pipeline_drain", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(1..=1).start().await.unwrap();
        let sleeps = join_all((0..4).map(|_| sb.run(Execute::sql("SELECT pg_sleep(0.2)"))));
        let stop = async {
            begun(&started, 4).await;
            sb.shutdown().await
        };
        let (sleeps, stopped) = futures_util::join!(sleeps, stop);
        assert!(sleeps.iter().all(|r| r.is_ok()), "{sleeps:?}");
        stopped.unwrap();
        let kinds: Vec<Kind> = drain(&rx).iter().map(|e| e.kind()).collect();
        assert!(
            kinds.ends_with(&[Kind::Closing, Kind::Closed, Kind::PoolStopped]),
            "{kinds:?}"
        );
        assert_eq!(kinds.iter().filter(|k| **k == Kind::Executed).count(), 4);
    });
}
