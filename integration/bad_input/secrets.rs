//! Secrets, looked for in every output a pool has ([`witness`](super::witness)):
//! `Debug` of the builder and the handle, every event (`Debug`, `Display`,
//! JSON), errors (`Display`, `Debug`), tracing (the process's and a
//! `TracingLogger`'s), the audit trail, and `Status`.
//!
//! - URLs whose password a driver reads differently from the URL parser
//!   redaction relies on (`postgres://app:#pw@db/app`), a libpq
//!   keyword/value string, and a URL the driver refuses (a MySQL
//!   `?password=`, a bad `sslmode`), which must fail at once rather than be
//!   retried: all refused as `InvalidUrl`, the sentinel password shown
//!   nowhere;
//! - bind values a server quotes in its error (`invalid input syntax for
//!   type integer: "…"`, `Key (name)=(…) already exists`, `Duplicate entry
//!   '…'`), on every backend, with the sentinel bind value shown nowhere.

use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use switchboard::{DbConnection, Error, Execute, Interact, Kind, Switchboard};

use super::connect::{Servers, fixed};
use super::statements::url_with_sentinel;
use super::witness::{Witness, leaks};
use super::{Failures, SENTINEL};
use crate::support::{Db, Target, run_local};

/// The bind value put in every statement that can carry one; it must never
/// show while parameters are redacted (the default).
pub const BIND: &str = "Sentinel-B1nd-v4lue";

struct UrlCase {
    name: &'static str,
    /// With [`SENTINEL`] as its password (`PW`); `None` when its server is
    /// missing.
    url: fn(&Servers) -> Option<String>,
    /// Words the `InvalidUrl` error must contain.
    words: &'static [&'static str],
}

fn url_cases() -> Vec<UrlCase> {
    let case = |name, url, words| UrlCase { name, url, words };
    vec![
        case(
            "# in a PostgreSQL password",
            |s| s.pg("postgres:#PW", "test"),
            &["%23"],
        ),
        case(
            "/ in a PostgreSQL password",
            |s| s.pg("postgres:/PW", "test"),
            &["%2F"],
        ),
        case(
            "? in a PostgreSQL password",
            |s| s.pg("postgres:?PW", "test"),
            &["%3F"],
        ),
        case(
            "@ in a PostgreSQL password",
            |s| s.pg("postgres:PW@x", "test"),
            &["%40"],
        ),
        case(
            "# in a MySQL password",
            |s| s.mysql("mysql", "root:#PW", "test"),
            &["%23"],
        ),
        case(
            "/ in a MariaDB password",
            |s| s.mysql("mariadb", "root:/PW", "test"),
            &["%2F"],
        ),
        case(
            "? in a MySQL password",
            |s| s.mysql("mysql", "root:?PW", "test"),
            &["%3F"],
        ),
        case(
            "a libpq keyword/value string",
            |s| {
                let addr = Servers::addr(s.pg_url(), 5432)?;
                let (host, port) = addr.rsplit_once(':')?;
                fixed(&format!(
                    "host={host} port={port} user=postgres password='PW x' dbname=test"
                ))
            },
            &["keyword/value", "password=…", "postgres://"],
        ),
        // Refused by the driver: a configuration error, not retried even
        // without fail_fast (start() used to succeed and retry for ever).
        case(
            "password as a MySQL query parameter",
            |s| s.mysql("mysql", "root", "test?password=PW"),
            &["Unknown connection URL parameter `password'", "user info"],
        ),
        case(
            "invalid sslmode",
            |s| s.pg("postgres:PW", "test?sslmode=bogus"),
            &["invalid connection string", "sslmode"],
        ),
    ]
}

/// Every URL case, started without fail_fast: each must fail at once with
/// `InvalidUrl`, after at most one connect attempt, and show its password
/// nowhere.
#[test]
fn urls_keep_their_passwords() {
    let servers = Servers::find();
    run_local(async {
        let mut failures = Failures::default();
        for case in url_cases() {
            let Some(url) = (case.url)(&servers) else {
                eprintln!(
                    "!!! SKIPPED secrets case {:?}: its server is missing",
                    case.name
                );
                continue;
            };
            failures.record(case.name, url_case(url, &case).await);
        }
        failures.assert_none("secrets in URLs");
    });
}

async fn url_case(url: String, case: &UrlCase) -> Vec<String> {
    let mut wrong = Vec::new();
    let mut w = Witness::new(case.name);
    let builder = Switchboard::builder(url)
        .bus(w.bus.clone())
        .fail_fast(false)
        .connect_timeout(Duration::from_secs(2))
        .checkout_timeout(Duration::from_secs(2));
    w.saw(format!("{builder:?}"));
    let started = tokio::time::timeout(Duration::from_secs(10), builder.start()).await;
    match started {
        Err(_) => wrong.push("start() did not return within 10 s".to_owned()),
        Ok(Ok(sb)) => {
            w.saw(format!("{sb:?}"));
            sb.shutdown().await.unwrap();
            wrong.push("expected InvalidUrl, start() succeeded".to_owned());
        }
        Ok(Err(e)) => {
            if !matches!(e, Error::InvalidUrl { .. }) {
                wrong.push(format!("expected InvalidUrl, got {e:?}"));
            }
            let shown = e.to_string();
            for word in case.words {
                if !shown.contains(word) {
                    wrong.push(format!("the error lacks {word:?}: {shown}"));
                }
            }
            w.saw(shown);
            w.saw(format!("{e:?}"));
        }
    }
    let (events, outputs) = w.finish().await;
    let attempts = events
        .iter()
        .filter(|e| e.kind() == Kind::ConnectFailed)
        .count();
    if attempts > 1 {
        wrong.push(format!("retried: {attempts} failed connect attempts"));
    }
    wrong.extend(leaks(&outputs, &[SENTINEL]));
    wrong
}

/// `$1::int` where the server needs the cast to reach the integer parser.
fn int_param(t: &Target) -> String {
    match t.db {
        Db::Postgres => "$1::int".to_owned(),
        _ => t.ph(1),
    }
}

/// `INSERT (id, name, n)` with all three bound.
fn insert(t: &Target, id: i32, name: String, n: i32) -> Execute {
    Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES ({}, {}, {})",
        t.table,
        t.ph(1),
        t.ph(2),
        t.ph(3)
    ))
    .bind::<Integer, _>(id)
    .bind::<Text, _>(name)
    .bind::<Integer, _>(n)
}

/// Statements whose server error quotes the sentinel bind value (PostgreSQL
/// and MariaDB; SQLite's errors quote no values, and are checked alike).
/// `Ok` where a backend accepts the statement.
fn statements(t: &Target) -> Vec<(&'static str, Execute)> {
    vec![
        (
            "a text bound where an integer goes",
            Execute::sql(format!(
                "INSERT INTO {} (id, name, n) VALUES ({}, 'x', 1)",
                t.table,
                int_param(t)
            ))
            .bind::<Text, _>(BIND),
        ),
        (
            "a unique violation on a bound value",
            insert(t, 2, BIND.to_owned(), 2),
        ),
        (
            "a CHECK violation quoting the row",
            insert(t, 3, format!("{BIND}-check"), -1),
        ),
    ]
}

/// Every statement case on one pool with the sentinel password in its URL
/// (where the server takes any), then a closure's statement quoting the
/// value, then the pool's status: the sentinels show nowhere.
async fn bind_values_stay_secret(t: Target) {
    let mut w = Witness::new(&t.table);
    let builder = Switchboard::builder(url_with_sentinel(&t))
        .name(t.table.clone())
        .pool_size(1..=1)
        .bus(w.bus.clone());
    w.saw(format!("{builder:?}"));
    let sb = builder.start().await.unwrap();
    w.saw(format!("{sb:?}"));
    sb.run(Execute::sql(format!(
        "CREATE TABLE {} (id INTEGER PRIMARY KEY, name VARCHAR(64) NOT NULL UNIQUE, n INTEGER NOT NULL CHECK (n > 0))",
        t.table
    )))
    .await
    .unwrap();
    sb.run(insert(&t, 1, BIND.to_owned(), 1)).await.unwrap();
    let mut failed = 0;
    for (name, statement) in statements(&t) {
        match sb.run(statement).await {
            Ok(n) => eprintln!("{:?} accepts {name:?} ({n} rows)", t.db),
            Err(e) => {
                failed += 1;
                assert!(matches!(e, Error::Database { .. }), "{name}: {e:?}");
                w.saw(format!("{e} {e:?}"));
            }
        }
        let status = sb.status().await.unwrap();
        w.saw(serde_json::to_string(&status).unwrap());
        w.saw(format!("{status:?}"));
    }
    assert!(failed >= 2, "{:?}: only {failed} statements failed", t.db);
    // The same unique violation from a closure: its statements' values are
    // unknown to the pool, and the message's shape must give them away.
    let again = insert(&t, 5, BIND.to_owned(), 5);
    let err = sb
        .run(Interact::new(async move |conn: &mut DbConnection| {
            conn.execute(again).await
        }))
        .await
        .unwrap_err();
    w.saw(format!("{err} {err:?}"));
    let status = sb.status().await.unwrap();
    assert!(
        status.connections.iter().any(|c| c.last_error.is_some()),
        "{status:?}"
    );
    w.saw(serde_json::to_string(&status).unwrap());
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
    let (_, outputs) = w.finish().await;
    assert!(
        outputs
            .iter()
            .any(|(source, text)| *source == "audit" && text.contains("\"failed\"")),
        "the audit log recorded no failed statement"
    );
    let found = leaks(&outputs, &[SENTINEL, BIND]);
    assert!(found.is_empty(), "{}", found.join("\n"));
}
/// `each_backend!`, with PostgreSQL's and MySQL's ignored until the
/// statement path scrubs driver messages: `Error::without_values` with the
/// statement's bind values (`BindValue::text`) where a statement's error is
/// made (connection/session.rs, shared.rs `db_error`, the closure outcome).
/// SQLite's errors quote no values, and pass already.
mod bind_values_stay_secret {
    use crate::support::{Db, run};

    #[test]
    fn sqlite() {
        run(
            Db::Sqlite,
            "bind_values_stay_secret",
            super::bind_values_stay_secret,
        );
    }

    #[test]
    fn postgres() {
        run(
            Db::Postgres,
            "bind_values_stay_secret",
            super::bind_values_stay_secret,
        );
    }

    #[test]
    fn mysql() {
        run(
            Db::Mysql,
            "bind_values_stay_secret",
            super::bind_values_stay_secret,
        );
    }
}
