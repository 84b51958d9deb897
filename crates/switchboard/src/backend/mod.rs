//! The three backends behind one enum, chosen by URL scheme.
//!
//! | scheme | driver |
//! |---|---|
//! | `postgres://`, `postgresql://` | diesel-async `AsyncPgConnection` |
//! | `mysql://`, `mariadb://` | diesel-async `AsyncMysqlConnection` |
//! | `sqlite://path`, `sqlite::memory:` | diesel `SqliteConnection` (bundled) in diesel-async's `SyncConnectionWrapper` |

mod sqlite;

use std::time::{Duration, Instant};

use diesel::connection::Instrumentation;
use diesel::sqlite::SqliteConnection;
use diesel_async::pg::AsyncPgConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_async::{AsyncConnection, AsyncMysqlConnection, SimpleAsyncConnection};
use switchboard_core::diesel_error::connect_error_kind;
use switchboard_core::{Backend, DatabaseUrl, Error, Result};

use crate::guarded::Guarded;

pub(crate) use sqlite::{SESSION_PRAGMAS as SQLITE_SESSION_PRAGMAS, sqlite_target};

/// The SQLite connection type: diesel's blocking connection, run on
/// tokio's blocking pool by diesel-async's wrapper.
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
    /// PostgreSQL.
    Postgres(Guarded<AsyncPgConnection>),
    /// MySQL or MariaDB.
    Mysql(Guarded<AsyncMysqlConnection>),
    /// SQLite.
    Sqlite(Guarded<SqliteAsync>),
}

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
            DbConnection::Postgres(g) => {
                let $c = g.raw();
                $body
            }
            DbConnection::Mysql(g) => {
                let $c = g.raw();
                $body
            }
            DbConnection::Sqlite(g) => {
                let $c = g.raw();
                $body
            }
        }
    };
}
pub(crate) use each;

/// Cancels a running statement from outside its connection.
pub(crate) enum Canceller {
    Postgres(tokio_postgres::CancelToken),
    Mysql(diesel_async::MysqlCancelToken),
}

impl Canceller {
    /// Asks the server to cancel; racy by nature (the statement may finish
    /// first). The error, if any, is a secret-free message.
    pub(crate) async fn cancel(self) -> std::result::Result<(), String> {
        match self {
            Canceller::Postgres(token) => token
                .cancel_query(tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string()),
            Canceller::Mysql(token) => token.cancel_query().await.map_err(|e| e.to_string()),
        }
    }
}

impl DbConnection {
    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self {
            DbConnection::Postgres(_) => Backend::Postgres,
            DbConnection::Mysql(_) => Backend::Mysql,
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

/// The backend a URL names, or a typed error for anything else.
pub(crate) fn backend_of(url: &DatabaseUrl) -> Result<Backend> {
    match url.scheme() {
        "postgres" | "postgresql" => Ok(Backend::Postgres),
        "mysql" | "mariadb" => Ok(Backend::Mysql),
        "sqlite" => Ok(Backend::Sqlite),
        other => Err(Error::UnsupportedScheme {
            scheme: other.to_owned(),
        }),
    }
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
        Backend::Mysql => (
            DbConnection::Mysql(Guarded::new(
                AsyncMysqlConnection::establish(&url.expose().replacen("mariadb:", "mysql:", 1))
                    .await
                    .map_err(fail)?,
            )),
            "SELECT VERSION() AS v",
        ),
        _ => {
            let path = sqlite_path.unwrap_or(":memory:");
            let mut c = SqliteAsync::establish(path).await.map_err(fail)?;
            sqlite::prepare(&mut c, path, deadline).await?;
            (
                DbConnection::Sqlite(Guarded::new(c)),
                "SELECT 'SQLite ' || sqlite_version() AS v",
            )
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
