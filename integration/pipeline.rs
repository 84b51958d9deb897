//! Pipelining on PostgreSQL: independent `Execute`/`Load` messages sharing
//! one connection (`PoolConfig::pipeline`), and what must not change for
//! them: each statement's own labels and outcome, failures kept to the
//! statement that failed, a cut connection replaced once, leases and
//! transactions still alone on their connection.
//!
//! The pool pipelines only statements it has measured fast, so each test
//! first runs its statement texts fast (`pg_sleep($1)` bound to 0) until
//! they are pipelined, then sends the same texts bound to longer sleeps.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::IntoSql;
use diesel::sql_types::{BigInt, Double, Integer, Text};
use futures_util::future::join_all;
use switchboard::{
    DbConnection, Delivery, Error, Event, EventReceiver, Execute, Filter, HealthCheck, Kind, Load,
    Payload, Switchboard, Transaction,
};
use switchboard_core::testing::eventually;

use crate::support::proxy::{Mode, Proxy};
use crate::support::{
    Db, assert_gap_free, counted, drain, observed, run_local, server_url, target,
};

/// The most statements that were between `Executing` and their outcome at
/// once on any one connection.
fn most_in_flight(events: &[Event]) -> usize {
    most_open(
        events,
        &[Kind::Executing],
        &[Kind::Executed, Kind::ExecuteFailed],
    )
}

/// The most loans at once on any one connection (`CheckedOut` not yet
/// followed by its `CheckedIn`): more than one only when statements shared
/// it.
fn most_lent(events: &[Event]) -> usize {
    most_open(events, &[Kind::CheckedOut], &[Kind::CheckedIn])
}

/// The most events of the `opens` kinds not yet followed by one of the
/// `closes` kinds, at once on any one connection. An end before its start
/// fails the test: the subscription saw the work from its beginning.
fn most_open(events: &[Event], opens: &[Kind], closes: &[Kind]) -> usize {
    let mut now = HashMap::<u64, usize>::new();
    let mut most = 0;
    for e in events {
        let n = now
            .entry(e.meta().connection.unwrap_or_default())
            .or_default();
        if opens.contains(&e.kind()) {
            *n += 1;
            most = most.max(*n);
        } else if closes.contains(&e.kind()) {
            *n = n.checked_sub(1).expect("an end with no start before it");
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

/// `SELECT pg_sleep($1)` bound to `secs`: one text, fast or slow.
fn sleep(secs: f64) -> Execute {
    Execute::sql("SELECT pg_sleep($1)").bind::<Double, _>(secs)
}

/// Runs `burst` (statements of the texts a test goes on to pipeline, run
/// fast) until the pool pipelines it: it pipelines only statements it has
/// measured fast. Returns the events meanwhile.
async fn until_pipelined<F, Fut>(sb: &Switchboard, rx: &EventReceiver, mut burst: F) -> Vec<Event>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut seen = Vec::new();
    loop {
        burst().await;
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let events = drain(rx);
        let pipelined = most_in_flight(&events) > 1;
        seen.extend(events);
        if pipelined {
            return seen;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the warm-up statements were never pipelined"
        );
    }
}

/// Events of the statements labelled `n`.
fn labelled(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| e.meta().labels.get("n").is_some())
        .cloned()
        .collect()
}

/// Resolves once `n` statements have begun (`Executing`), counted since
/// the bus was observed (warm-up statements included).
async fn begun(started: &AtomicUsize, n: usize) {
    eventually(
        || started.load(Ordering::Relaxed) >= n,
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
        let warm = until_pipelined(&sb, &rx, || async {
            let loads = (0..4)
                .map(|i| sb.run(Load::<_, i32>::new(diesel::select(i.into_sql::<Integer>()))));
            let sleeps = (0..4).map(|_| sb.run(sleep(0.0)));
            let (loads, sleeps) = futures_util::join!(join_all(loads), join_all(sleeps));
            assert!(loads.iter().all(|r| r.is_ok()) && sleeps.iter().all(|r| r.is_ok()));
        })
        .await;
        let calls = (0..16).map(|i| {
            let sb = sb.clone();
            async move {
                sb.run(
                    sleep(0.05)
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

        let mut events = warm;
        events.extend(drain(&rx));
        assert_gap_free(&events);
        let events = labelled(&events);
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
                Payload::Executing { query_id, .. } => Some((*query_id, e.meta().labels.clone())),
                _ => None,
            })
            .collect();
        for e in &events {
            if let Payload::Executed { query_id, .. } = e.payload() {
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
        let missing = "SELECT * FROM sb_pipeline_no_such_table";
        let warm = until_pipelined(&sb, &rx, || async {
            let fails = (0..2).map(|_| sb.run(Execute::sql(missing)));
            let sleeps = (0..4).map(|_| sb.run(sleep(0.0)));
            futures_util::join!(join_all(fails), join_all(sleeps));
        })
        .await;
        let calls = (0..12).map(|i| {
            let sb = sb.clone();
            async move {
                let statement = if i % 4 == 1 {
                    Execute::sql(missing)
                } else {
                    sleep(0.02)
                };
                (i, sb.run(statement).await)
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
        let after = drain(&rx);
        assert!(most_in_flight(&after) > 1, "nothing was pipelined");
        let mut events = warm;
        events.extend(after);
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
        until_pipelined(&sb, &rx, || async {
            join_all((0..4).map(|_| sb.run(sleep(0.0)))).await;
        })
        .await;
        let warmed = started.load(Ordering::Relaxed);
        let calls = join_all((0..4).map(|_| sb.run(sleep(2.0))));
        let cut = async {
            // All four in the pipeline.
            begun(&started, warmed + 4).await;
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
        until_pipelined(&sb, &rx, || async {
            join_all((0..4).map(|_| sb.run(sleep(0.0)))).await;
        })
        .await;
        let warmed = started.load(Ordering::Relaxed);
        let sleeps = join_all((0..4).map(|_| sb.run(sleep(0.1))));
        let tx = async {
            // Queued behind the pipelined statements already sent.
            begun(&started, warmed + 4).await;
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
        until_pipelined(&sb, &rx, || async {
            join_all((0..4).map(|_| sb.run(sleep(0.0)))).await;
        })
        .await;
        let warmed = started.load(Ordering::Relaxed);
        let sleeps = join_all((0..4).map(|_| sb.run(sleep(0.2))));
        let stop = async {
            begun(&started, warmed + 4).await;
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

#[test]
fn fast_statements_are_never_pipelined_behind_a_slow_one() {
    let (bus, rx) = observed("pipeline-slow", Filter::all(), 8192);
    let Some(builder) = pg_pool("pipeline_slow", bus) else {
        return;
    };
    run_local(async move {
        let sb = builder.pool_size(2..=2).start().await.unwrap();
        let fast = || Load::<_, i32>::new(diesel::select(1.into_sql::<Integer>()));
        let mut events = until_pipelined(&sb, &rx, || async {
            join_all((0..4).map(|_| sb.run(fast()))).await;
        })
        .await;
        let slow = actix_rt::spawn({
            let sb = sb.clone();
            async move { sb.run(sleep(0.5).label("n", "slow")).await }
        });
        // Once the slow statement runs, fast ones follow, in bursts that
        // would share its connection if they could.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let slow_conn = loop {
            sb.bus().flush(Duration::from_secs(5)).await.unwrap();
            let now = drain(&rx);
            let started = now.iter().find_map(|e| match e.payload() {
                Payload::Executing { .. } if e.meta().labels.get("n") == Some("slow") => {
                    e.meta().connection
                }
                _ => None,
            });
            events.extend(now);
            if let Some(conn) = started {
                break conn;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the slow statement never started"
            );
            tokio::task::yield_now().await;
        };
        for _ in 0..10 {
            let burst = (0..4).map(|_| sb.run(fast().label("n", "fast")));
            assert!(join_all(burst).await.iter().all(|r| r.is_ok()));
        }
        slow.await.unwrap().unwrap();
        sb.shutdown().await.unwrap();
        events.extend(drain(&rx));
        let fast_conns: std::collections::BTreeSet<_> = events
            .iter()
            .filter(|e| e.kind() == Kind::Executing && e.meta().labels.get("n") == Some("fast"))
            .map(|e| e.meta().connection)
            .collect();
        assert_eq!(fast_conns.len(), 1, "{fast_conns:?}");
        assert!(
            !fast_conns.contains(&Some(slow_conn)),
            "a fast statement ran on the slow statement's connection"
        );
        assert!(
            most_in_flight(&labelled(&events)) > 1,
            "the fast ones were not pipelined"
        );
    });
}

/// The pool's one connection goes from pipelined statements to whole use
/// and back, over and over: a ping before every lend from idle, a lease
/// that leaves session state behind, a transaction, and pipelined writes
/// and reads between them. First with no subscription taking `Executing`
/// (statements make none), watched through checkouts only, until it was
/// seen pipelining; then with a subscriber added late, which must see each
/// `Executing` with its binds described. The table holds every row once,
/// and no pipelined statement sees the lease's session state.
#[test]
fn one_connection_goes_from_pipelined_to_whole_and_back_losing_nothing() {
    let Some(t) = target(Db::Postgres, "pipeline_whole") else {
        return;
    };
    run_local(async move {
        let sb = t
            .builder()
            .pool_size(1..=1)
            .health_check(HealthCheck::PingIfIdle(Duration::ZERO))
            .start()
            .await
            .unwrap();
        let loans = sb
            .bus()
            .subscribe_channel(
                "loans",
                Filter::kinds([Kind::CheckedOut, Kind::CheckedIn]),
                Delivery::lossless(8192),
            )
            .unwrap();
        let table = t.table.clone();
        sb.run(Execute::sql(format!(
            "CREATE TABLE {table} (id INT PRIMARY KEY, how TEXT NOT NULL)"
        )))
        .await
        .unwrap();
        let insert = |id: i32, how: &str| {
            Execute::sql(format!("INSERT INTO {table} (id, how) VALUES ($1, $2)"))
                .bind::<Integer, _>(id)
                .bind::<Text, _>(how.to_owned())
        };
        let app_name = || {
            Load::<_, String>::new(diesel::dsl::sql::<Text>(
                "SELECT current_setting('application_name')",
            ))
        };
        // One round: pipelined writes and reads, a lease, a transaction.
        let round = async |round: i32| {
            let base = round * 100;
            let writes = (0..4).map(|k| sb.run(insert(base + k, "pipelined")));
            let reads = (0..4).map(|_| sb.run(app_name()));
            let (writes, reads) = futures_util::join!(join_all(writes), join_all(reads));
            for w in writes {
                assert_eq!(w.unwrap(), 1);
            }
            for r in reads {
                assert_ne!(r.unwrap(), vec!["whole".to_owned()], "round {round}");
            }
            let lease = sb.checkout().await.unwrap();
            lease
                .send(Execute::sql("SET application_name = 'whole'"))
                .await
                .unwrap();
            lease.send(insert(base + 10, "lease")).await.unwrap();
            drop(lease);
            let row = insert(base + 20, "transaction");
            sb.run(Transaction::new(async move |conn: &mut DbConnection| {
                conn.execute(row).await
            }))
            .await
            .unwrap();
        };
        // Until the connection was seen shared: the pool pipelines only
        // statements it measured fast, which a busy machine may delay.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let (mut rounds, mut seen) = (0, Vec::new());
        while rounds < 3 || most_lent(&seen) < 2 {
            assert!(
                std::time::Instant::now() < deadline,
                "never pipelined in {rounds} rounds"
            );
            round(rounds).await;
            rounds += 1;
            sb.bus().flush(Duration::from_secs(5)).await.unwrap();
            seen.extend(drain(&loans));
        }
        let late = sb
            .bus()
            .subscribe_channel("late", Filter::all(), Delivery::lossless(8192))
            .unwrap();
        for r in rounds..rounds + 3 {
            round(r).await;
        }
        let rows: Vec<i64> = sb
            .run(Load::new(diesel::dsl::sql::<BigInt>(&format!(
                "SELECT count(DISTINCT id) FROM {table}"
            ))))
            .await
            .unwrap();
        assert_eq!(rows, vec![i64::from(rounds + 3) * 6]);
        sb.run(Execute::sql(format!("DROP TABLE {table}")))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();

        let inserts: Vec<_> = drain(&late)
            .iter()
            .filter_map(|e| match e.payload() {
                Payload::Executing { sql, params, .. } if sql.starts_with("INSERT") => {
                    Some(params.clone())
                }
                _ => None,
            })
            .collect();
        assert_eq!(inserts.len(), 3 * 6, "{inserts:?}");
        for params in inserts {
            assert_eq!(params.len(), 2, "{params:?}");
        }
    });
}
