//! Statement timeouts: the caller gets `Timeout` on time, the statement is
//! cancelled on the server, and the connection is clean again or replaced.

use std::time::{Duration, Instant};

use diesel::sql_types::BigInt;
use switchboard::{Error, Execute, Load, Switchboard};

use crate::support::{Db, run_local, server_url, target};

#[derive(Debug, diesel::QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn count(sb: &Switchboard, sql: &str) -> i64 {
    let rows: Vec<N> = sb.run(Load::new(diesel::sql_query(sql))).await.unwrap();
    rows[0].n
}

fn assert_timeout(err: &Error, started: Instant) {
    assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// Runs `sleep_sql` on a lease with a 300 ms timeout, then checks that the
/// same connection answers at once and the server no longer runs it.
async fn cancelled_on_the_server(sb: Switchboard, sleep_sql: &'static str, running_sql: String) {
    let lease = sb.checkout().await.unwrap();
    let started = Instant::now();
    let err = lease
        .send(Execute::sql(sleep_sql).timeout(Duration::from_millis(300)))
        .await
        .unwrap_err();
    assert_timeout(&err, started);
    // The same connection is usable right away: the cancel stopped it.
    let started = Instant::now();
    lease.send(Execute::sql("SELECT 1")).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    drop(lease);
    assert_eq!(
        count(&sb, &running_sql).await,
        0,
        "still running on the server"
    );
    sb.shutdown().await.unwrap();
}

/// [`cancelled_on_the_server`] on a pool of two on `db`'s shared server.
fn cancel_on(db: Db, name: &'static str, sleep_sql: &'static str, running_sql: &'static str) {
    let Some(url) = server_url(db) else {
        return;
    };
    run_local(async move {
        let sb = Switchboard::builder(url)
            .name(name)
            .pool_size(2..=2)
            .start()
            .await
            .unwrap();
        cancelled_on_the_server(sb, sleep_sql, running_sql.into()).await;
    });
}

#[test]
fn postgres_statement_is_cancelled() {
    cancel_on(
        Db::Postgres,
        "pg_cancel",
        "SELECT pg_sleep(20.5)",
        "SELECT COUNT(*) AS n FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(20.5)' AND state = 'active'",
    );
}

#[test]
fn mysql_statement_is_killed() {
    cancel_on(
        Db::Mysql,
        "my_cancel",
        "SELECT SLEEP(20.5)",
        "SELECT COUNT(*) AS n FROM information_schema.processlist WHERE info = 'SELECT SLEEP(20.5)'",
    );
}

#[test]
fn pool_statement_timeout_applies_without_a_message_timeout() {
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    run_local(async move {
        let sb = Switchboard::builder(url)
            .name("pg_pool_timeout")
            .pool_size(1..=1)
            .statement_timeout(Duration::from_millis(200))
            .start()
            .await
            .unwrap();
        let started = Instant::now();
        let err = sb
            .run(Execute::sql("SELECT pg_sleep(20.25)"))
            .await
            .unwrap_err();
        assert_timeout(&err, started);
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn sqlite_caller_is_answered_on_time_and_the_connection_stays_clean() {
    let t = target(Db::Sqlite, "sqlite_timeout").unwrap();
    run_local(async move {
        let sb = t.builder().pool_size(1..=1).start().await.unwrap();
        let first = sb.status().await.unwrap().connections[0].id;
        let started = Instant::now();
        let err = sb
            .run(
                Load::<_, N>::new(diesel::sql_query(
                    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3000000) SELECT COUNT(*) AS n FROM c",
                ))
                .timeout(Duration::from_millis(50)),
            )
            .await
            .unwrap_err();
        assert_timeout(&err, started);
        // The next caller waits for the statement SQLite cannot interrupt,
        // then gets the same, clean connection.
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        let now = sb.status().await.unwrap();
        assert_eq!(now.connections[0].id, first);
        sb.shutdown().await.unwrap();
    });
}

/// A message's timeout reads the same wherever it is reported: the caller's
/// error, the statement's `ExecuteFailed` and the connection's status say
/// the message's timeout and phase `request` (they said "after 200ms,
/// during request" and "199ms (statement)" before).
#[test]
fn a_timed_out_statement_reports_one_duration_and_one_phase() {
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    run_local(async move {
        let (bus, rx) = crate::support::observed(
            "one-timeout",
            switchboard::Filter::kinds([switchboard::Kind::ExecuteFailed]),
            64,
        );
        let sb = Switchboard::builder(url)
            .name("one-timeout")
            .bus(bus)
            .pool_size(1..=1)
            .start()
            .await
            .unwrap();
        let err = sb
            .run(Execute::sql("SELECT pg_sleep(5)").timeout(Duration::from_millis(200)))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Timeout {
                    after,
                    phase: switchboard::Phase::Request
                } if after == Duration::from_millis(200)
            ),
            "{err:?}"
        );
        // The connection cancels the statement as the caller's own timer
        // fires; its ExecuteFailed follows at once.
        // The connection cancels the statement as the caller's own timer
        // fires; its ExecuteFailed follows (polled: this thread runs the
        // actors, so it must not block).
        let deadline = Instant::now() + Duration::from_secs(5);
        let event = loop {
            if let Ok(event) = rx.try_recv() {
                break event;
            }
            assert!(Instant::now() < deadline, "no ExecuteFailed");
            actix_rt::time::sleep(Duration::from_millis(10)).await;
        };
        let switchboard::Payload::ExecuteFailed { error, .. } = event.payload() else {
            unreachable!("filtered")
        };
        assert_eq!(error.message, err.to_string());
        let status = sb.status().await.unwrap();
        let last = status.connections[0]
            .last_error
            .as_ref()
            .expect("the connection's last error");
        assert_eq!(last.message, err.to_string());
        sb.shutdown().await.unwrap();
    });
}

/// SQLite statements cannot be interrupted (diesel exposes no interrupt
/// handle, and the workspace forbids unsafe code): a shutdown waits for one
/// at most `shutdown_timeout`, then answers `Timeout { phase: shutdown }`;
/// the statement finishes on its blocking thread and its connection is
/// closed then.
#[test]
fn a_shutdown_waits_for_an_uninterruptible_sqlite_statement_no_longer_than_its_timeout() {
    crate::support::run(Db::Sqlite, "sqlite_slow_shutdown", async |t| {
        let sb = t
            .builder()
            .pool_size(1..=1)
            .shutdown_timeout(Duration::from_millis(500))
            .start()
            .await
            .unwrap();
        // A few seconds of work for SQLite, whatever the machine.
        let slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c \
                    WHERE x < 15000000) SELECT count(*) FROM c";
        let statement = sb.run(Execute::sql(slow).timeout(Duration::from_millis(100)));
        let started = Instant::now();
        let err = statement.await.unwrap_err();
        assert!(
            matches!(err, Error::Timeout { .. }),
            "{err:?} after {:?}",
            started.elapsed()
        );
        let stopping = Instant::now();
        let stopped = sb.shutdown().await;
        assert!(
            matches!(
                stopped,
                Err(Error::Timeout {
                    phase: switchboard::Phase::Shutdown,
                    ..
                })
            ),
            "{stopped:?}"
        );
        assert!(
            stopping.elapsed() < Duration::from_secs(3),
            "shutdown took {:?}",
            stopping.elapsed()
        );
    });
}
