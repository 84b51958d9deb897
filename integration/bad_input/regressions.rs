//! Bugs the catalogue found, each as the test that failed before its fix;
//! they guard against the bug coming back. Each says what is guaranteed,
//! and what went wrong before.

use std::time::Duration;

use switchboard::{Error, Execute, Filter, Switchboard};

use super::{Expect, SENTINEL, Variant, check};
use crate::support::{Db, drain, observed, run_local, server_url};

/// Starts a pool on `url` (fail fast); the error and the events it caused.
async fn start(url: String) -> (Error, Vec<switchboard::Event>) {
    let (bus, rx) = observed("regression", Filter::all(), 1024);
    let err = Switchboard::builder(url)
        .bus(bus.clone())
        .fail_fast(true)
        .start()
        .await
        .unwrap_err();
    bus.flush(Duration::from_secs(5)).await.unwrap();
    (err, drain(&rx))
}

fn assert_clean(outcome: Vec<String>) {
    assert!(outcome.is_empty(), "{}", outcome.join("\n"));
}

/// The `InvalidUrl` error of a URL that does not parse hides a
/// `?password=` parameter too, not only `user:password@` (it showed the
/// parameter before).
#[test]
fn unparsable_url_hides_its_password_parameter() {
    run_local(async {
        let url = format!("postgres://db.example:notaport/app?password={SENTINEL}");
        let (err, events) = start(url).await;
        assert_clean(check(
            Expect::Err(Variant::InvalidUrl, &["invalid port"]),
            &Err::<(), _>(err),
            &events,
        ));
    });
}

/// `postgres:user:pw@host/db` (no `//`) parses as a URL without an
/// authority, where no password is found to redact: it is refused as
/// invalid before it is used (the driver refused it before, and the
/// `Connect` error and the `Connecting` event showed it whole).
#[test]
fn url_without_slashes_hides_its_password() {
    run_local(async {
        let url = format!("postgres:app:{SENTINEL}@127.0.0.1:1/app");
        let (err, events) = start(url).await;
        assert_clean(check(
            Expect::Err(Variant::InvalidUrl, &["//"]),
            &Err::<(), _>(err),
            &events,
        ));
    });
}

/// A failed PostgreSQL connect says why: diesel-async reports only "error
/// connecting to server", and the pool adds the network cause it finds.
#[test]
fn postgres_connect_errors_say_why() {
    run_local(async {
        let (err, _) = start(format!("postgres://app:{SENTINEL}@127.0.0.1:1/app")).await;
        assert!(err.to_string().contains("refused"), "{err}");
        assert!(!err.to_string().contains(SENTINEL));
    });
}

/// A PostgreSQL statement the driver cannot encode says why. diesel-async
/// turns tokio-postgres errors into text with `to_string()`, which leaves
/// out their cause, so a NUL byte in the SQL said only "error encoding
/// message to server"; the error now says what that message can mean.
#[test]
fn postgres_driver_errors_keep_their_cause() {
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    run_local(async {
        let sb = Switchboard::builder(url).start().await.unwrap();
        let err = sb.run(Execute::sql("SELECT 'a\0b'")).await.unwrap_err();
        sb.shutdown().await.unwrap();
        assert!(matches!(err, Error::Driver(_)), "{err:?}");
        assert!(err.to_string().to_lowercase().contains("nul"), "{err}");
    });
}

/// A statement larger than MariaDB's `max_allowed_packet` (16 MiB here)
/// kills its connection: the statement gets `ConnectionLost` and the
/// connection is replaced. mysql_async's I/O errors reach Switchboard as
/// diesel `DatabaseErrorKind::Unknown`, which `db_kind` (switchboard-core,
/// diesel_error.rs) once never treated as a lost connection: the huge
/// statement got `Database` ("packet too large"), the dead connection went
/// back to the pool, and every later statement on it got `Database`
/// ("Connection to the server is closed") forever. The same held for any
/// MySQL connection that died (server restart, KILL, wait_timeout).
#[test]
fn mysql_connection_killed_by_a_huge_statement_is_replaced() {
    let Some(url) = server_url(Db::Mysql) else {
        return;
    };
    run_local(async {
        let sb = Switchboard::builder(url)
            .pool_size(1..=1)
            .start()
            .await
            .unwrap();
        let mut sql = String::with_capacity(64 << 20);
        sql.push_str("SELECT '");
        sql.extend(std::iter::repeat_n('x', (64 << 20) - 9));
        sql.push('\'');
        let err = sb.run(Execute::sql(sql)).await.unwrap_err();
        assert!(err.is_connection_lost(), "{err:?}");
        let next = sb.run(Execute::sql("SELECT 1")).await;
        sb.shutdown().await.unwrap();
        next.unwrap();
    });
}

/// Work sent after `shutdown()` finished hears that the pool was shut down
/// (`ShuttingDown`); it got `Gone("manager")` before, whose message asks
/// whether the actix System was stopped.
#[test]
fn work_after_shutdown_hears_the_pool_shut_down() {
    run_local(async {
        let sb = Switchboard::builder("sqlite::memory:")
            .name("closed")
            .start()
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
        let outcome = sb.run(Execute::sql("SELECT 1")).await;
        assert_clean(check(
            Expect::Err(Variant::ShuttingDown, &["\"closed\""]),
            &outcome,
            &[],
        ));
    });
}
