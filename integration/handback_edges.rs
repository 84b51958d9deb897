//! Edges of hand-back found in review: what a setup hook sets is not a
//! debt, a closure abandoned at its deadline has its statement cancelled on
//! the server, and a guard cannot rewrite a shared (pipelined) statement
//! into one that changes the session.

use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use switchboard::{
    Check, DbConnection, Error, Execute, Filter, Guard, GuardPolicy, Interact, Kind, Load,
    ResetPolicy, Ruling,
};

use crate::support::{Db, Target, drain, observed};

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    c: i64,
}

/// A setup hook that sets session state runs again after each session
/// reset. What it sets is what every new connection has, so it is no debt:
/// plain loans after a reset pay nothing. (Before, the hook's own `SET`
/// was noted as owed, and every later loan paid a full reset: 3 resets
/// here instead of 1.)
#[test]
fn what_a_setup_hook_sets_is_not_owed_after_a_reset() {
    crate::support::run(Db::Postgres, "hook_debt", async |t: Target| {
        let (bus, rx) = observed("hook-debt", Filter::all(), 4096);
        let sb = t
            .builder()
            .bus(bus)
            .pool_size(1..=1)
            .reset_on_return(ResetPolicy::Session)
            .on_connect(|conn: &mut DbConnection| {
                Box::pin(async move { conn.batch_execute("SET application_name = 'edges'").await })
            })
            .start()
            .await
            .unwrap();
        // One loan that changes the session: one reset.
        sb.run(Execute::sql("SET work_mem = '8MB'")).await.unwrap();
        // Plain loans: nothing owed.
        for _ in 0..3 {
            let lease = sb.checkout().await.unwrap();
            lease.send(Execute::sql("SELECT 1")).await.unwrap();
            drop(lease);
        }
        // Holding the connection waits for any reset of the last loan.
        let held = sb.checkout().await.unwrap();
        sb.bus().flush(Duration::from_secs(5)).await.unwrap();
        let resets = drain(&rx)
            .iter()
            .filter(|e| e.kind() == Kind::Reset)
            .count();
        drop(held);
        sb.shutdown().await.unwrap();
        assert_eq!(resets, 1, "plain loans after the reset paid one each");
    });
}

/// Statements of `url`'s server still running with `marker` in their text.
async fn running(t: &Target, marker: &str) -> i64 {
    let sb = t.builder().pool_size(1..=1).start().await.unwrap();
    let sql = match t.db {
        Db::Postgres => format!(
            "SELECT COUNT(*) AS c FROM pg_stat_activity WHERE state = 'active' \
             AND query LIKE '%{marker}%' AND pid <> pg_backend_pid()"
        ),
        _ => format!(
            "SELECT COUNT(*) AS c FROM information_schema.processlist \
             WHERE info LIKE '%{marker}%' AND id <> CONNECTION_ID()"
        ),
    };
    let rows: Vec<Count> = sb.run(Load::new(diesel::sql_query(sql))).await.unwrap();
    sb.shutdown().await.unwrap();
    rows[0].c
}

/// A closure whose statement still runs at its message's deadline is
/// abandoned, and the statement cancelled on the server: dropping the
/// connection alone left it running (with its transaction's locks) until
/// the server noticed. (Before: still running 1.5 s after the timeout.)
fn a_closure_abandoned_at_its_deadline_has_its_statement_cancelled(db: Db, test: &str) {
    crate::support::run(db, test, async |t: Target| {
        let marker = format!("edges_{}", t.table);
        let sql = match t.db {
            Db::Postgres => format!("SELECT pg_sleep(8) /* {marker} */"),
            _ => format!("SELECT SLEEP(8) /* {marker} */"),
        };
        let sb = t.builder().pool_size(1..=2).start().await.unwrap();
        let err = sb
            .run(
                Interact::new(async move |conn: &mut DbConnection| conn.batch_execute(&sql).await)
                    .timeout(Duration::from_millis(500)),
            )
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Timeout { .. }), "{err:?}");
        let mut left = 1;
        for _ in 0..15 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            left = running(&t, &marker).await;
            if left == 0 {
                break;
            }
        }
        sb.shutdown().await.unwrap();
        assert_eq!(left, 0, "the abandoned closure's statement still runs");
    });
}

#[test]
fn a_closure_abandoned_at_its_deadline_has_its_statement_cancelled_postgres() {
    a_closure_abandoned_at_its_deadline_has_its_statement_cancelled(Db::Postgres, "abandon_pg");
}

#[test]
fn a_closure_abandoned_at_its_deadline_has_its_statement_cancelled_mysql() {
    a_closure_abandoned_at_its_deadline_has_its_statement_cancelled(Db::Mysql, "abandon_my");
}

/// Rewrites `SELECT 2` into a `SET`: harmless on a connection of its own
/// (the pool resets it), not on a shared one.
struct IntoSet;

impl Guard for IntoSet {
    fn name(&self) -> &str {
        "into-set"
    }
    fn check(&self, check: &Check) -> Ruling {
        match check.as_statement() {
            Some(s) if s.sql.contains("SELECT 2") => {
                Ruling::rewrite("SET application_name = 'rewritten'", "test")
            }
            _ => Ruling::allow(),
        }
    }
}

/// A guard's rewrite of a statement that shares a connection must not
/// change the session: a shared connection is never reset, so the `SET`
/// would reach the other statements on it. Such a rewrite is denied;
/// the same rewrite on a connection of its own runs (and is reset after).
#[test]
fn a_rewrite_into_a_session_change_is_refused_on_a_shared_connection() {
    crate::support::run(Db::Postgres, "rewrite_shared", async |t: Target| {
        let sb = t
            .builder()
            .pool_size(1..=1)
            .guard_with(IntoSet, GuardPolicy::default().may_rewrite())
            .start()
            .await
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let mut refused = 0;
        while refused == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "no rewrite of a pipelined SELECT 2 was refused within 20 s"
            );
            let burst = (0..8).map(|_| sb.run(Execute::sql("SELECT 2")));
            for result in futures_util::future::join_all(burst).await {
                match result {
                    Ok(_) => {}
                    Err(Error::Denied { guard, .. }) if guard == "pipeline" => refused += 1,
                    Err(e) => panic!("{e:?}"),
                }
            }
        }
        // Whatever ran whole was reset: the session is clean.
        let name: Vec<Name> = sb
            .run(Load::new(diesel::sql_query(
                "SELECT current_setting('application_name') AS v",
            )))
            .await
            .unwrap();
        assert_ne!(name[0].v, "rewritten");
        sb.shutdown().await.unwrap();
    });
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}
