//! The three backends behind one enum, chosen by URL scheme.
//!
//! | scheme | driver |
//! |---|---|
//! | `postgres://`, `postgresql://` | diesel-async `AsyncPgConnection` |
//! | `mysql://`, `mariadb://` | diesel-async `AsyncMysqlConnection` |
//! | `sqlite://path`, `sqlite::memory:` | diesel `SqliteConnection` (bundled) in diesel-async's `SyncConnectionWrapper` |
//!
//! Each backend is a cargo feature (`postgres`, `mysql`, `sqlite`; all three
//! by default): a build without one has no variant, driver or code for it,
//! and refuses its URLs with [`Error::BackendDisabled`].

#[cfg(feature = "sqlite")]
mod sqlite;

use std::time::{Duration, Instant};

use diesel::connection::Instrumentation;
#[cfg(feature = "sqlite")]
use diesel::sqlite::SqliteConnection;
#[cfg(feature = "mysql")]
use diesel_async::AsyncMysqlConnection;
#[cfg(feature = "postgres")]
use diesel_async::pg::AsyncPgConnection;
#[cfg(feature = "sqlite")]
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, SimpleAsyncConnection};
use switchboard_core::diesel_error::connect_error_kind;
use switchboard_core::{Backend, DatabaseUrl, Error, Result};

use crate::guarded::Guarded;

#[cfg(feature = "sqlite")]
pub(crate) use sqlite::{SESSION_PRAGMAS as SQLITE_SESSION_PRAGMAS, sqlite_target};

/// The SQLite connection type: diesel's blocking connection, run on
/// tokio's blocking pool by diesel-async's wrapper.
#[cfg(feature = "sqlite")]
pub type SqliteAsync = SyncConnectionWrapper<SqliteConnection>;

/// One connection, of whichever backend the URL named, as `Interact` and
/// `Transaction` closures receive it.
///
/// Every statement sent through it is guarded like an `Execute` or `Load`
/// message: [`execute`](Self::execute), [`load`](Self::load),
/// [`batch_execute`](Self::batch_execute), and diesel's own methods on the
/// backend's [`Guarded`] connection (match on the variant to use diesel-async
/// with its backend). There is no way to the unguarded driver connection.
///
/// Variants are not boxed: a connection is moved rarely (into and out of
/// its actor per job), and closures reach the driver without an extra
/// indirection.
#[allow(clippy::large_enum_variant)]
pub enum DbConnection {
    /// PostgreSQL (feature `postgres`).
    #[cfg(feature = "postgres")]
    Postgres(Guarded<AsyncPgConnection>),
    /// MySQL or MariaDB (feature `mysql`).
    #[cfg(feature = "mysql")]
    Mysql(Guarded<AsyncMysqlConnection>),
    /// SQLite (feature `sqlite`).
    #[cfg(feature = "sqlite")]
    Sqlite(Guarded<SqliteAsync>),
}

#[cfg(feature = "postgres")]
impl From<AsyncPgConnection> for DbConnection {
    fn from(c: AsyncPgConnection) -> Self {
        DbConnection::Postgres(Guarded::new(c))
    }
}

impl std::fmt::Debug for DbConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DbConnection::{:?}", self.backend())
    }
}

/// Applies the same expression to whichever driver connection is inside,
/// unguarded: for the pool's own statements (pings, transaction control,
/// the read-only switch) and for statements already guarded.
macro_rules! each {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(g) => {
                let $c = g.raw();
                $body
            }
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(g) => {
                let $c = g.raw();
                $body
            }
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(g) => {
                let $c = g.raw();
                $body
            }
        }
    };
}
pub(crate) use each;

/// Cancels a running statement from outside its connection. (SQLite has
/// none: `Driver::canceller` gives `None` there.)
pub(crate) enum Canceller {
    #[cfg(feature = "postgres")]
    Postgres(tokio_postgres::CancelToken),
    #[cfg(feature = "mysql")]
    Mysql(diesel_async::MysqlCancelToken),
}

impl Canceller {
    /// Asks the server to cancel; racy by nature (the statement may finish
    /// first). The error, if any, is a secret-free message.
    pub(crate) async fn cancel(self) -> std::result::Result<(), String> {
        match self {
            #[cfg(feature = "postgres")]
            Canceller::Postgres(token) => token
                .cancel_query(tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string()),
            #[cfg(feature = "mysql")]
            Canceller::Mysql(token) => token.cancel_query().await.map_err(|e| e.to_string()),
        }
    }
}

impl DbConnection {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            #[cfg(feature = "postgres")]
            DbConnection::Postgres(_) => Backend::Postgres,
            #[cfg(feature = "mysql")]
            DbConnection::Mysql(_) => Backend::Mysql,
            #[cfg(feature = "sqlite")]
            DbConnection::Sqlite(_) => Backend::Sqlite,
        }
    }

    /// A way to cancel the statement this connection is running, from
    /// outside it: PostgreSQL's cancel request, or MySQL's `KILL QUERY` from
    /// a side connection. `None` for SQLite, whose interrupt handle diesel
    /// does not expose.
    pub(crate) fn canceller(&mut self) -> Option<Canceller> {
        use crate::guarded::Driver;
        each!(self, c => c.canceller())
    }

    /// Runs SQL text on the driver connection, unguarded and unreported:
    /// the pool's own statements only (pings).
    pub(crate) async fn raw_batch_execute(&mut self, sql: &str) -> Result<()> {
        Ok(each!(self, c => c.batch_execute(sql).await)?)
    }

    pub(crate) fn set_instrumentation(&mut self, i: impl Instrumentation) {
        each!(self, c => c.set_instrumentation(i))
    }
}

/// The backend a URL names, or a typed error for anything else:
/// `UnsupportedScheme` for a scheme no build of switchboard knows,
/// `BackendDisabled` for one whose cargo feature is off in this build.
pub(crate) fn backend_of(url: &DatabaseUrl) -> Result<Backend> {
    let scheme = url.scheme();
    let backend = match scheme {
        "postgres" | "postgresql" => Backend::Postgres,
        "mysql" | "mariadb" => Backend::Mysql,
        "sqlite" => Backend::Sqlite,
        other => {
            return Err(Error::UnsupportedScheme {
                scheme: other.to_owned(),
            });
        }
    };
    match disabled_feature(backend) {
        None => Ok(backend),
        Some(feature) => Err(Error::BackendDisabled {
            scheme: scheme.to_owned(),
            backend,
            feature,
        }),
    }
}

/// The cargo feature `backend` needs, if this build left it out.
fn disabled_feature(backend: Backend) -> Option<&'static str> {
    let (feature, enabled) = match backend {
        Backend::Postgres => ("postgres", cfg!(feature = "postgres")),
        Backend::Mysql => ("mysql", cfg!(feature = "mysql")),
        Backend::Sqlite => ("sqlite", cfg!(feature = "sqlite")),
        _ => return None,
    };
    (!enabled).then_some(feature)
}

/// What a successful connect gives.
pub(crate) struct Connected {
    pub(crate) conn: DbConnection,
    pub(crate) server_version: String,
    pub(crate) took: Duration,
}

/// diesel-async reports a failed PostgreSQL connect as only "error
/// connecting to server", without tokio-postgres's cause. When that is all
/// it says, one plain TCP connect to the same host and port finds the cause
/// (connection refused, unknown host, timed out) and adds it.
#[cfg(feature = "postgres")]
async fn add_network_cause(err: &mut Error, url: &DatabaseUrl) {
    let Error::Connect { message, .. } = err else {
        return;
    };
    if !message.ends_with("error connecting to server") {
        return;
    }
    let Ok(parsed) = url::Url::parse(url.expose()) else {
        return;
    };
    let host = parsed.host_str().unwrap_or("localhost").to_owned();
    let port = parsed.port().unwrap_or(5432);
    let probe = tokio::net::TcpStream::connect((host.as_str(), port));
    let cause = match tokio::time::timeout(Duration::from_secs(2), probe).await {
        Ok(Ok(_)) => return,
        Ok(Err(e)) => e.to_string(),
        Err(_) => "no answer within 2 s".to_owned(),
    };
    message.push_str(&format!(": {host}:{port}: {cause}"));
}

/// Why the driver refused the URL itself, when it did: a configuration
/// error no retry can fix, reported as `InvalidUrl` (which the pool does not
/// retry) rather than as a connect failure (which it retries for ever).
/// mysql_async refuses an unknown query parameter, such as `?password=`;
/// tokio-postgres an unknown option or an invalid value (`sslmode=bogus`),
/// which diesel-async reports without the option's name.
fn refused_url(e: &diesel::ConnectionError, message: &str) -> Option<String> {
    match e {
        diesel::ConnectionError::InvalidConnectionUrl(_) => {
            let password = ["`password'", "`pass'", "`pwd'"]
                .iter()
                .any(|p| message.contains(p));
            Some(if password {
                format!(
                    "the MySQL driver refused it: {message}; the password belongs in the \
                     user info: mysql://user:password@host/db (percent-encoded)"
                )
            } else {
                format!("the MySQL driver refused it: {message}")
            })
        }
        diesel::ConnectionError::CouldntSetupConfiguration(_)
            if message == "invalid connection string" || message == "invalid configuration" =>
        {
            Some(format!(
                "the PostgreSQL driver refused it: {message} (an unknown query parameter, or \
                 an invalid value such as sslmode=bogus)"
            ))
        }
        _ => None,
    }
}

/// Opens one connection and asks the server its version.
pub(crate) async fn connect(
    url: &DatabaseUrl,
    backend: Backend,
    sqlite_path: Option<&str>,
    deadline: Instant,
) -> Result<Connected> {
    #[cfg(not(feature = "sqlite"))]
    let _ = (sqlite_path, deadline);
    let started = Instant::now();
    let scrubber = url.scrubber();
    let fail = |e: diesel::ConnectionError| {
        let message = scrubber.scrub(&e.to_string());
        if let Some(reason) = refused_url(&e, &message) {
            return Error::InvalidUrl {
                url: url.redacted().to_owned(),
                reason,
            };
        }
        Error::Connect {
            target: url.redacted().to_owned(),
            kind: connect_error_kind(&e, &message),
            message,
        }
    };
    let (conn, version_sql) = match backend {
        #[cfg(feature = "postgres")]
        Backend::Postgres => (
            DbConnection::from(match AsyncPgConnection::establish(url.expose()).await {
                Ok(c) => c,
                Err(e) => {
                    let mut err = fail(e);
                    add_network_cause(&mut err, url).await;
                    return Err(err);
                }
            }),
            "SELECT version() AS v",
        ),
        #[cfg(feature = "mysql")]
        Backend::Mysql => (
            DbConnection::Mysql(Guarded::new(
                AsyncMysqlConnection::establish(&url.expose().replacen("mariadb:", "mysql:", 1))
                    .await
                    .map_err(fail)?,
            )),
            "SELECT VERSION() AS v",
        ),
        #[cfg(feature = "sqlite")]
        Backend::Sqlite => {
            let path = sqlite_path.unwrap_or(":memory:");
            let mut c = SqliteAsync::establish(path).await.map_err(fail)?;
            sqlite::prepare(&mut c, path, deadline).await?;
            (
                DbConnection::Sqlite(Guarded::new(c)),
                "SELECT 'SQLite ' || sqlite_version() AS v",
            )
        }
        // `backend_of` refused its URL already; a caller naming the backend
        // itself gets the same error.
        _ => {
            return Err(match disabled_feature(backend) {
                Some(feature) => Error::BackendDisabled {
                    scheme: url.scheme().to_owned(),
                    backend,
                    feature,
                },
                None => Error::UnsupportedScheme {
                    scheme: url.scheme().to_owned(),
                },
            });
        }
    };
    let mut conn = conn;
    let server_version =
        server_version(&mut conn, version_sql)
            .await
            .map_err(|e| Error::Connect {
                target: url.redacted().to_owned(),
                kind: switchboard_core::ConnectErrorKind::Other,
                message: scrubber.scrub(&e.to_string()),
            })?;
    Ok(Connected {
        conn,
        server_version,
        took: started.elapsed(),
    })
}

#[derive(diesel::QueryableByName)]
struct Version {
    #[diesel(sql_type = diesel::sql_types::Text)]
    v: String,
}

async fn server_version(conn: &mut DbConnection, sql: &'static str) -> Result<String> {
    use diesel_async::RunQueryDsl;
    let rows: Vec<Version> = each!(conn, c => diesel::sql_query(sql).load(c).await)?;
    Ok(rows.into_iter().next().map(|r| r.v).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(url: &str) -> Result<Backend> {
        backend_of(&DatabaseUrl::parse(url).expect("a URL"))
    }

    #[test]
    fn a_scheme_no_build_knows_is_unsupported() {
        assert!(
            matches!(of("oracle://db/x"), Err(Error::UnsupportedScheme { scheme }) if scheme == "oracle")
        );
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn postgres_urls_name_postgres() {
        assert_eq!(
            of("postgres://u@127.0.0.1/db").ok(),
            Some(Backend::Postgres)
        );
        assert_eq!(
            of("postgresql://u@127.0.0.1/db").ok(),
            Some(Backend::Postgres)
        );
    }

    /// A backend left out of the build is refused by name, with the
    /// feature that would enable it.
    #[cfg(not(all(feature = "postgres", feature = "mysql", feature = "sqlite")))]
    fn refused(url: &str, backend: Backend, feature: &str) {
        match of(url) {
            Err(e @ Error::BackendDisabled { .. }) => {
                let message = e.to_string();
                assert!(
                    message.contains(&format!("built without the `{feature}` feature")),
                    "{message}"
                );
                let Error::BackendDisabled {
                    backend: b,
                    feature: f,
                    ..
                } = e
                else {
                    unreachable!()
                };
                assert_eq!((b, f), (backend, feature));
                assert_eq!(
                    Error::BackendDisabled {
                        scheme: String::new(),
                        backend,
                        feature: "x"
                    }
                    .kind_name(),
                    "backend_disabled"
                );
            }
            other => panic!("{url}: expected BackendDisabled, got {other:?}"),
        }
    }

    #[cfg(not(feature = "postgres"))]
    #[test]
    fn postgres_urls_are_refused_without_the_feature() {
        refused("postgres://u@127.0.0.1/db", Backend::Postgres, "postgres");
        refused("postgresql://u@127.0.0.1/db", Backend::Postgres, "postgres");
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_urls_name_mysql() {
        assert_eq!(of("mysql://root@127.0.0.1/test").ok(), Some(Backend::Mysql));
        assert_eq!(
            of("mariadb://root@127.0.0.1/test").ok(),
            Some(Backend::Mysql)
        );
    }

    #[cfg(not(feature = "mysql"))]
    #[test]
    fn mysql_urls_are_refused_without_the_feature() {
        refused("mysql://root@127.0.0.1/test", Backend::Mysql, "mysql");
        refused("mariadb://root@127.0.0.1/test", Backend::Mysql, "mysql");
    }

    #[cfg(feature = "sqlite")]
    #[test]
    fn sqlite_urls_name_sqlite() {
        assert_eq!(of("sqlite::memory:").ok(), Some(Backend::Sqlite));
    }

    #[cfg(not(feature = "sqlite"))]
    #[test]
    fn sqlite_urls_are_refused_without_the_feature() {
        refused("sqlite::memory:", Backend::Sqlite, "sqlite");
        refused("sqlite://data.db", Backend::Sqlite, "sqlite");
    }
}
