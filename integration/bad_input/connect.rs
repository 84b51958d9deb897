//! URLs that `start()` (or the first statement) must refuse with a typed,
//! secret-free error; and the runner the pool configuration cases share.

use std::time::Duration;

use switchboard::{Builder, Error, Execute, Filter, Shutdown, Switchboard};
use switchboard_core::ConnectErrorKind as CK;

use super::Variant::*;
use super::{Expect, Failures, SENTINEL, Variant, check};
use crate::support::{Db, drain, observed, run_local, server_url};

/// The servers the server-side cases connect to; `None` when missing (the
/// cases that need it are skipped, loudly).
pub(super) struct Servers {
    pg: Option<url::Url>,
    mysql: Option<url::Url>,
}

impl Servers {
    pub(super) fn find() -> Self {
        let parse = |db| server_url(db).map(|u| url::Url::parse(&u).unwrap());
        Servers {
            pg: parse(Db::Postgres),
            mysql: parse(Db::Mysql),
        }
    }

    /// `scheme://userinfo@host:port/rest` on a server's host and port, `PW`
    /// standing for [`SENTINEL`].
    fn with(server: &Option<url::Url>, scheme: &str, userinfo: &str, rest: &str) -> Option<String> {
        let u = server.as_ref()?;
        let host = u.host_str()?;
        let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
        fixed(&format!("{scheme}://{userinfo}@{host}{port}/{rest}"))
    }

    pub(super) fn pg(&self, userinfo: &str, rest: &str) -> Option<String> {
        Self::with(&self.pg, "postgres", userinfo, rest)
    }

    pub(super) fn mysql(&self, scheme: &str, userinfo: &str, rest: &str) -> Option<String> {
        Self::with(&self.mysql, scheme, userinfo, rest)
    }

    /// The PostgreSQL server's URL, if it is there.
    pub(super) fn pg_url(&self) -> &Option<url::Url> {
        &self.pg
    }

    /// `host:port` of a server, for pointing one backend's URL at the
    /// other's port.
    pub(super) fn addr(server: &Option<url::Url>, default_port: u16) -> Option<String> {
        let u = server.as_ref()?;
        Some(format!(
            "{}:{}",
            u.host_str()?,
            u.port().unwrap_or(default_port)
        ))
    }
}

/// What happens after the pool is configured.
#[derive(Debug, Clone, Copy)]
pub(super) enum Then {
    /// `start()` must fail.
    Start,
    /// `start()` succeeds; a statement gets the error.
    Statement,
    /// `start()` succeeds; with the only connection leased, a statement
    /// gets the error.
    WhileLeased,
    /// `start()` succeeds; a lease holds the pool open while shutdown is
    /// under way, and a statement sent then gets the error.
    WhileDraining,
}

pub(super) struct Case {
    pub(super) name: &'static str,
    /// The URL, with [`SENTINEL`] as its password where it can carry one;
    /// `None` when the server it needs is missing.
    pub(super) url: fn(&Servers) -> Option<String>,
    pub(super) config: fn(Builder) -> Builder,
    pub(super) then: Then,
    pub(super) expect: Expect,
}

pub(super) const fn err(variant: Variant, words: &'static [&'static str]) -> Expect {
    Expect::Err(variant, words)
}

pub(super) fn fixed(url: &str) -> Option<String> {
    Some(url.replace("PW", SENTINEL))
}

fn as_is(b: Builder) -> Builder {
    b
}

/// Every case fails within a second or two: short connect and checkout
/// timeouts, and `fail_fast` unless the case is about retrying.
fn quick(b: Builder) -> Builder {
    b.fail_fast(true)
        .connect_timeout(Duration::from_millis(500))
        .checkout_timeout(Duration::from_secs(5))
}

/// URLs: malformed, unknown schemes, bad ports and hosts, wrong users and
/// passwords, missing databases, a database that is down.
fn url_cases() -> Vec<Case> {
    let start = |name, url, expect| Case {
        name,
        url,
        config: as_is,
        then: Then::Start,
        expect,
    };
    vec![
        // Malformed URLs.
        start(
            "empty URL",
            |_| fixed(""),
            err(InvalidUrl, &["empty", "postgres://user@host/db"]),
        ),
        start(
            "blank URL",
            |_| fixed(" \t\n "),
            err(InvalidUrl, &["empty"]),
        ),
        start(
            "words, not a URL",
            |_| fixed("the app database"),
            err(InvalidUrl, &["relative URL"]),
        ),
        start(
            "host:port without a scheme",
            |_| fixed("localhost:5432"),
            err(UnsupportedScheme, &["\"localhost\"", "postgres://"]),
        ),
        start(
            "port not a number",
            |_| fixed("postgres://app:PW@db.example:notaport/app"),
            err(InvalidUrl, &["invalid port", "***"]),
        ),
        start(
            "port out of range",
            |_| fixed("postgres://app:PW@db.example:70000/app"),
            err(InvalidUrl, &["invalid port"]),
        ),
        start(
            "unclosed IPv6 host",
            |_| fixed("postgres://app:PW@[::1/app"),
            err(InvalidUrl, &["IPv6"]),
        ),
        // Unknown schemes.
        start(
            "unknown scheme",
            |_| fixed("oracle://app:PW@db.example/app"),
            err(UnsupportedScheme, &["\"oracle\"", "mysql://"]),
        ),
        start(
            "http URL",
            |_| fixed("http://app:PW@db.example/app"),
            err(UnsupportedScheme, &["\"http\""]),
        ),
        // Schemes are case-insensitive in RFC 3986; Switchboard takes only
        // lower case, but says which scheme it did not recognise.
        start(
            "upper-case scheme",
            |_| fixed("POSTGRES://app:PW@127.0.0.1:1/app"),
            err(UnsupportedScheme, &["\"POSTGRES\"", "postgres://"]),
        ),
        // SQLite paths.
        start(
            "SQLite without a path",
            |_| fixed("sqlite://"),
            err(InvalidUrl, &["no SQLite file"]),
        ),
        start(
            "NUL byte in a SQLite path",
            |_| fixed("sqlite:///tmp/a\0b.db"),
            err(InvalidUrl, &["NUL"]),
        ),
        start(
            "SQLite file in a missing directory",
            |_| fixed("sqlite:///no/such/dir/app.db"),
            err(
                Connect(CK::CannotOpen),
                &["unable to open", "/no/such/dir/app.db"],
            ),
        ),
        start(
            "SQLite path that is a directory",
            |_| fixed("sqlite:///tmp"),
            err(Connect(CK::CannotOpen), &["unable to open"]),
        ),
        // Bad ports and unknown hosts.
        start(
            "PostgreSQL port with nothing listening",
            |_| fixed("postgres://app:PW@127.0.0.1:1/app"),
            err(
                Connect(CK::Unreachable),
                &["could not connect", "127.0.0.1:1"],
            ),
        ),
        start(
            "MySQL port with nothing listening",
            |_| fixed("mysql://app:PW@127.0.0.1:1/app"),
            err(Connect(CK::Unreachable), &["refused"]),
        ),
        start(
            "unknown host, PostgreSQL",
            |_| fixed("postgres://app:PW@no-such-host.invalid/app"),
            err(Connect(CK::Unreachable), &["no-such-host.invalid"]),
        ),
        start(
            "unknown host, MySQL",
            |_| fixed("mysql://app:PW@no-such-host.invalid/app"),
            err(Connect(CK::Unreachable), &["lookup address"]),
        ),
        start(
            "PostgreSQL URL on the MySQL port",
            |s| {
                fixed(&format!(
                    "postgres://app:PW@{}/app",
                    Servers::addr(&s.mysql, 3306)?
                ))
            },
            err(Connect(CK::Other), &["unexpected message from server"]),
        ),
        Case {
            name: "MySQL URL on the PostgreSQL port (it never answers)",
            url: |s| {
                fixed(&format!(
                    "mysql://app:PW@{}/app",
                    Servers::addr(&s.pg, 5432)?
                ))
            },
            config: |b| b.connect_timeout(Duration::from_millis(300)),
            then: Then::Start,
            expect: err(
                Connect(CK::Unreachable),
                &["no answer within the connect timeout (300ms)"],
            ),
        },
        // Wrong user or password, missing database. The machine's
        // PostgreSQL trusts local users, so only an unknown role is refused.
        start(
            "unknown PostgreSQL role",
            |s| s.pg("no_such_role_bad_input:PW", "test"),
            err(
                Connect(CK::Authentication),
                &["role \"no_such_role_bad_input\" does not exist"],
            ),
        ),
        start(
            "wrong MySQL password",
            |s| s.mysql("mysql", "root:PW", "test"),
            err(
                Connect(CK::Authentication),
                &["Access denied", "using password: YES"],
            ),
        ),
        start(
            "missing PostgreSQL database",
            |s| s.pg("postgres:PW", "no_such_db_sb"),
            err(
                Connect(CK::UnknownDatabase),
                &["\"no_such_db_sb\" does not exist"],
            ),
        ),
        // Also shows a mariadb:// URL reaching the server (root has no
        // password there, so this URL carries none).
        start(
            "missing database, mariadb:// URL",
            |s| s.mysql("mariadb", "root", "no_such_db_sb"),
            err(
                Connect(CK::UnknownDatabase),
                &["Unknown database 'no_such_db_sb'"],
            ),
        ),
        // A configuration error the driver finds: not retried (see
        // secrets.rs for the same without fail_fast).
        start(
            "invalid sslmode",
            |s| s.pg("postgres:PW", "test?sslmode=bogus"),
            err(InvalidUrl, &["invalid connection string"]),
        ),
        start(
            "password as a MySQL query parameter",
            |s| s.mysql("mysql", "root", "test?password=PW"),
            err(InvalidUrl, &["Unknown connection URL parameter `password'"]),
        ),
        // Down, without fail_fast: start() succeeds, the statement waits
        // its checkout timeout and hears why.
        Case {
            name: "unreachable while the pool keeps retrying",
            url: |_| fixed("postgres://app:PW@127.0.0.1:1/app"),
            config: |b| {
                b.fail_fast(false)
                    .checkout_timeout(Duration::from_millis(300))
            },
            then: Then::Statement,
            expect: err(
                Unreachable,
                &["unreachable", "connect attempts", "retrying every"],
            ),
        },
    ]
}

/// Runs a case: starts the pool and does what `then` says; the error (if
/// any) and every event published meanwhile.
async fn run(url: String, case: &Case) -> (Result<(), Error>, Vec<switchboard::Event>) {
    let (bus, rx) = observed("bad-input", Filter::all(), 1024);
    let builder = (case.config)(quick(Switchboard::builder(url)).bus(bus.clone()));
    assert!(!format!("{builder:?}").contains(SENTINEL), "{builder:?}");
    let started = builder.start().await;
    let outcome = match (case.then, started) {
        (_, Err(e)) => Err(e),
        (Then::Start, Ok(sb)) => {
            sb.shutdown().await.unwrap();
            Ok(())
        }
        (then, Ok(sb)) => {
            let lease = match then {
                Then::WhileLeased | Then::WhileDraining => Some(sb.checkout().await.unwrap()),
                _ => None,
            };
            // Queued now, before the statement below: the manager drains
            // while the lease keeps it from finishing.
            let draining = matches!(then, Then::WhileDraining).then(|| sb.send(Shutdown));
            let outcome = sb.run(Execute::sql("SELECT 1")).await.map(drop);
            drop(lease);
            if let Some(shutdown) = draining {
                shutdown.await.unwrap().unwrap();
            }
            sb.shutdown().await.unwrap();
            outcome
        }
    };
    bus.flush(Duration::from_secs(5)).await.unwrap();
    (outcome, drain(&rx))
}

/// Runs every case of a catalogue and reports the failures together.
pub(super) fn run_catalogue(catalogue: &str, cases: Vec<Case>) {
    let servers = Servers::find();
    run_local(async {
        let mut failures = Failures::default();
        for case in cases {
            let Some(url) = (case.url)(&servers) else {
                eprintln!(
                    "!!! SKIPPED bad-input case {:?}: its server is missing",
                    case.name
                );
                continue;
            };
            let (outcome, events) = run(url, &case).await;
            failures.record(case.name, check(case.expect, &outcome, &events));
        }
        failures.assert_none(catalogue);
    });
}

#[test]
fn urls() {
    run_catalogue("URLs", url_cases());
}
