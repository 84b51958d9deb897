//! Bad input gets a clear typed error, leaks no secret, and leaves the pool
//! healthy.

use std::time::Duration;

use switchboard::{DbErrorKind, Error, Execute, Filter, Kind, Switchboard};
use switchboard_core::ConnectErrorKind;

use crate::each_backend;
use crate::support::{Db, Target, drain, run_local, server_url};

const SENTINEL: &str = "Sentinel-Pw-7c1e9b";

/// Asserts the sentinel password appears nowhere in an error.
fn no_secret(err: &Error) {
    assert!(!err.to_string().contains(SENTINEL), "{err}");
    assert!(!format!("{err:?}").contains(SENTINEL), "{err:?}");
}

/// Connect failures with a sentinel password: typed, and secret-free in
/// errors, events and Debug output.
fn connect_failure(url: String, expected: ConnectErrorKind) {
    run_local(async move {
        let (bus, rx) = crate::support::observed("connect", Filter::all(), 64);
        let builder = Switchboard::builder(url).bus(bus.clone()).fail_fast(true);
        assert!(!format!("{builder:?}").contains(SENTINEL));
        let err = builder.start().await.unwrap_err();
        no_secret(&err);
        match &err {
            Error::Connect { kind, target, .. } => {
                assert_eq!(*kind, expected, "{err}");
                assert!(target.contains("***"), "{target}");
            }
            other => panic!("expected a connect error, got {other:?}"),
        }
        let events = drain(&rx);
        assert!(!events.is_empty());
        for e in events {
            let json = e.to_json();
            assert!(!json.contains(SENTINEL), "{json}");
            assert!(!format!("{e:?}").contains(SENTINEL));
            assert!(!e.to_string().contains(SENTINEL));
        }
    });
}

#[test]
fn wrong_password_mysql() {
    let Some(url) = server_url(Db::Mysql) else {
        return;
    };
    let mut u = url::Url::parse(&url).unwrap();
    u.set_password(Some(SENTINEL)).unwrap();
    connect_failure(u.to_string(), ConnectErrorKind::Authentication);
}

#[test]
fn unknown_role_postgres() {
    // The machine's PostgreSQL trusts local users, so a wrong password alone
    // is accepted; an unknown role with a password is refused.
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    let mut u = url::Url::parse(&url).unwrap();
    u.set_username("no_such_role_sb").unwrap();
    u.set_password(Some(SENTINEL)).unwrap();
    connect_failure(u.to_string(), ConnectErrorKind::Authentication);
}

#[test]
fn unreachable_port_postgres() {
    connect_failure(
        format!("postgres://app:{SENTINEL}@127.0.0.1:1/test"),
        ConnectErrorKind::Unreachable,
    );
}

#[test]
fn unreachable_port_mysql() {
    connect_failure(
        format!("mysql://app:{SENTINEL}@127.0.0.1:1/test"),
        ConnectErrorKind::Unreachable,
    );
}

#[test]
fn sqlite_in_missing_directory() {
    run_local(async {
        let err = Switchboard::builder("sqlite:///no/such/dir/x.db")
            .start()
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::Connect {
                    kind: ConnectErrorKind::CannotOpen,
                    ..
                }
            ),
            "{err:?}"
        );
    });
}

#[test]
fn bad_urls_and_configs_are_typed() {
    run_local(async {
        type IsExpected = fn(&Error) -> bool;
        let cases: Vec<(String, IsExpected)> = vec![
            (String::new(), |e| matches!(e, Error::InvalidUrl { .. })),
            (format!("postgres://u:{SENTINEL}@host:notaport/db"), |e| {
                matches!(e, Error::InvalidUrl { .. })
            }),
            (format!("oracle://u:{SENTINEL}@host/db"), |e| {
                matches!(e, Error::UnsupportedScheme { .. })
            }),
            ("sqlite://".into(), |e| {
                matches!(e, Error::InvalidUrl { .. })
            }),
        ];
        for (url, ok) in cases {
            let err = Switchboard::builder(url.clone()).start().await.unwrap_err();
            assert!(ok(&err), "{url}: {err:?}");
            no_secret(&err);
        }
        let mut inverted = switchboard::PoolConfig::default();
        inverted.min_size = 3;
        inverted.max_size = 1;
        let err = Switchboard::builder("sqlite::memory:")
            .config(inverted)
            .start()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        let err = Switchboard::builder("sqlite::memory:")
            .checkout_timeout(Duration::ZERO)
            .start()
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
    });
}

async fn bad_statements(t: Target) {
    let sb = t.builder().pool_size(1..=2).start().await.unwrap();
    // Malformed SQL.
    let err = sb
        .run(Execute::sql("SELEC nonsense FROM"))
        .await
        .unwrap_err();
    match &err {
        Error::Database { kind, .. } => assert_eq!(*kind, DbErrorKind::Syntax, "{err}"),
        other => panic!("expected a syntax error, got {other:?}"),
    }
    // Bind count mismatch, caught before the statement is sent.
    let sql = format!("SELECT {} + {}", t.ph(1), t.ph(2));
    let err = sb
        .run(Execute::sql(sql).bind::<diesel::sql_types::Integer, _>(1))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::BindMismatch {
                expected: 2,
                given: 1
            }
        ),
        "{err:?}"
    );
    // Empty statement.
    let err = sb.run(Execute::sql("   ")).await.unwrap_err();
    assert!(matches!(err, Error::EmptyStatement), "{err:?}");
    // Missing table.
    let err = sb
        .run(Execute::sql(format!("SELECT * FROM {}_missing", t.table)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Database {
                kind: DbErrorKind::UndefinedObject,
                ..
            }
        ),
        "{err:?}"
    );
    // The pool is still healthy.
    sb.run(Execute::sql("SELECT 1")).await.unwrap();
    sb.shutdown().await.unwrap();
}
each_backend!(bad_statements);

async fn closure_panic_discards_connection(t: Target) {
    let sb = t.builder().pool_size(1..=1).start().await.unwrap();
    let err = sb
        .run(switchboard::Interact::new(
            async |_conn: &mut switchboard::DbConnection| -> switchboard::Result<()> {
                panic!("user bug")
            },
        ))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Panic(m) if m.contains("user bug")),
        "{err:?}"
    );
    // A fresh connection replaces the discarded one.
    sb.run(Execute::sql("SELECT 1").timeout(Duration::from_secs(10)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
}
each_backend!(closure_panic_discards_connection);

/// Each backend's errors carry that server's own code: PostgreSQL's
/// SQLSTATE, MySQL's error number with its SQLSTATE (MariaDB's syntax error
/// was labelled `42601`, PostgreSQL's, before), none on SQLite. Also on the
/// `ExecuteFailed` event, and for a closure's statement.
async fn errors_carry_their_servers_codes(t: Target) {
    let (bus, rx) = crate::support::observed("codes", Filter::kinds([Kind::ExecuteFailed]), 64);
    let sb = t.builder().bus(bus.clone()).start().await.unwrap();
    crate::support::create_table(&sb, &t).await;
    let insert = format!("INSERT INTO {} (id, name, n) VALUES (1, 'a', 1)", t.table);
    sb.run(Execute::sql(insert.clone())).await.unwrap();
    let (syntax, duplicate, label) = match t.db {
        Db::Postgres => (Some("42601"), Some("23505"), " 42601: "),
        Db::Mysql => (Some("1064"), Some("1062"), " 1064 (42000): "),
        Db::Sqlite => (None, None, "database error: "),
    };
    let sqlstates = match t.db {
        Db::Postgres => (Some("42601"), Some("23505")),
        Db::Mysql => (Some("42000"), Some("23000")),
        Db::Sqlite => (None, None),
    };
    let code = |e: &Error| match e {
        Error::Database { code, .. } => code.clone(),
        other => panic!("expected a database error, got {other:?}"),
    };
    let err = sb.run(Execute::sql("SELEC 1")).await.unwrap_err();
    assert_eq!(code(&err).as_deref(), syntax, "{err}");
    assert_eq!(err.sqlstate(), sqlstates.0, "{err}");
    assert!(err.to_string().contains(label), "{err}");
    let err = sb.run(Execute::sql(insert.clone())).await.unwrap_err();
    assert_eq!(code(&err).as_deref(), duplicate, "{err}");
    assert_eq!(err.sqlstate(), sqlstates.1, "{err}");
    // A closure's statement, through `DbConnection` and diesel's
    // instrumentation.
    let err = sb
        .run(switchboard::Interact::new(
            async |conn: &mut switchboard::DbConnection| conn.batch_execute("SELEC 1").await,
        ))
        .await
        .unwrap_err();
    assert_eq!(code(&err).as_deref(), syntax, "{err}");
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
    bus.flush(Duration::from_secs(5)).await.unwrap();
    let failed: Vec<_> = drain(&rx)
        .into_iter()
        .filter_map(|e| match e.payload() {
            switchboard::Payload::ExecuteFailed { error, .. } => Some(error.code.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(
        failed,
        [
            syntax.map(str::to_owned),
            duplicate.map(str::to_owned),
            syntax.map(str::to_owned)
        ],
        "ExecuteFailed codes"
    );
}
each_backend!(errors_carry_their_servers_codes);
