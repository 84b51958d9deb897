//! Turning diesel's errors into [`Error`] (feature `diesel`).
//!
//! diesel-async passes neither PostgreSQL's SQLSTATE nor MySQL's error
//! number through diesel's error type: the kind comes from diesel's own
//! classification and the server's message. The code is the server's own:
//! on PostgreSQL the SQLSTATE where the kind pins it down; on MySQL and
//! MariaDB the error number (and its SQLSTATE) of the message's template
//! (see `mysql_codes`); none on SQLite, which has neither.

use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};

use crate::error::{ConnectErrorKind, DbErrorKind, Error};
use crate::event::Backend;
use crate::mysql_codes;

impl From<DieselError> for Error {
    fn from(e: DieselError) -> Self {
        Error::from(&e)
    }
}

impl Error {
    /// This error as diesel's, for code that must answer in diesel's terms
    /// (a guarded connection's `AsyncConnection` methods): converting it
    /// back gives this error again, so a denial a closure `?`s stays a
    /// denial.
    pub fn into_diesel(self) -> DieselError {
        DieselError::QueryBuilderError(Box::new(self))
    }
}

/// By reference, for diesel's instrumentation, which only lends its error.
/// The backend is told from the message (a MySQL or SQLite template, else
/// PostgreSQL); where the backend is known, [`Error::from_diesel`] is exact.
impl From<&DieselError> for Error {
    fn from(e: &DieselError) -> Self {
        let backend = match e {
            DieselError::DatabaseError(_, info) => guess_backend(info.message()),
            _ => Backend::Postgres,
        };
        Error::from_diesel(e, backend)
    }
}

impl Error {
    /// A diesel error from a connection of `backend`, with that server's
    /// codes: PostgreSQL's SQLSTATE, MySQL's error number, none for SQLite.
    pub fn from_diesel(e: &DieselError, backend: Backend) -> Self {
        if let DieselError::QueryBuilderError(inner) = e
            && let Some(carried) = inner.downcast_ref::<Error>()
        {
            return carried.clone();
        }
        match e {
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_owned();
                if let Some(explained) = explain_postgres_client_error(&message) {
                    return Error::Driver(explained);
                }
                let known = match backend {
                    Backend::Mysql => mysql_codes::recognize(&message),
                    _ => None,
                };
                let Some(kind) = db_kind(*kind, &message, known.map(|k| k.kind)) else {
                    return Error::ConnectionLost { message };
                };
                let code = match backend {
                    Backend::Postgres => postgres_sqlstate(kind, &message).map(str::to_owned),
                    Backend::Mysql => known.map(|k| k.errno.to_string()),
                    Backend::Sqlite => None,
                };
                Error::Database {
                    code,
                    kind,
                    message: with_detail(message, info.details(), info.hint()),
                }
            }
            DieselError::NotFound => Error::Database {
                kind: DbErrorKind::Other,
                code: None,
                message: "the query returned no rows where one was expected".into(),
            },
            DieselError::RollbackTransaction => Error::msg("transaction rolled back by the caller"),
            other => Error::Driver(other.to_string()),
        }
    }
}

/// Which server a message came from, by its wording: a known MySQL template,
/// one of SQLite's, else PostgreSQL.
fn guess_backend(message: &str) -> Backend {
    if mysql_codes::recognize(message).is_some() {
        Backend::Mysql
    } else if is_sqlite_message(message) {
        Backend::Sqlite
    } else {
        Backend::Postgres
    }
}

fn is_sqlite_message(message: &str) -> bool {
    message.ends_with(": syntax error")
        || message.starts_with("no such table: ")
        || message.starts_with("no such column: ")
        || [
            "UNIQUE constraint failed: ",
            "NOT NULL constraint failed: ",
            "CHECK constraint failed: ",
            "FOREIGN KEY constraint failed",
        ]
        .iter()
        .any(|p| message.starts_with(p))
}

/// tokio-postgres's errors that arise in the client, before anything reaches
/// the server, come through diesel-async as their bare `Display`, which
/// leaves out the cause (`tokio_postgres::Error` shows its kind only;
/// diesel-async keeps `to_string()`). What each of them can mean, so that
/// the caller can act on it.
fn explain_postgres_client_error(message: &str) -> Option<String> {
    let why = if message == "error encoding message to server" {
        "the SQL text contains a NUL character (\\0), which PostgreSQL cannot take \
         (remove it), or the statement has more than 65,535 bind values or is over \
         the protocol's 1 GiB message limit (split it)"
    } else if message.starts_with("error serializing parameter ") {
        "a bind value could not be encoded as its SQL type"
    } else if message.starts_with("error deserializing column ") {
        "a column's value could not be read as the Rust type asked for"
    } else {
        return None;
    };
    Some(format!("{message}: {why}"))
}

/// `None` means the connection itself is gone. `template` is the kind a
/// MySQL message's template names, used where diesel's is unspecific.
fn db_kind(
    kind: DatabaseErrorKind,
    message: &str,
    template: Option<DbErrorKind>,
) -> Option<DbErrorKind> {
    Some(match kind {
        DatabaseErrorKind::UniqueViolation => DbErrorKind::UniqueViolation,
        DatabaseErrorKind::ForeignKeyViolation => DbErrorKind::ForeignKeyViolation,
        DatabaseErrorKind::NotNullViolation => DbErrorKind::NotNullViolation,
        DatabaseErrorKind::CheckViolation => DbErrorKind::CheckViolation,
        DatabaseErrorKind::SerializationFailure => DbErrorKind::SerializationFailure,
        // mysql_async's I/O errors arrive as `Unknown`, and so does a
        // session the server ends itself (PostgreSQL 57P01 on shutdown or
        // pg_terminate_backend, MySQL's shutdown in progress).
        DatabaseErrorKind::ClosedConnection
        | DatabaseErrorKind::UnableToSendCommand
        | DatabaseErrorKind::Unknown
            if looks_disconnected(message) =>
        {
            return None;
        }
        _ => template.unwrap_or_else(|| classify_message(message)),
    })
}

fn classify_message(message: &str) -> DbErrorKind {
    let m = message.to_ascii_lowercase();
    if m.contains("syntax error")
        || m.contains("error in your sql syntax")
        || m.contains("incomplete input")
    {
        DbErrorKind::Syntax
    } else if m.contains("does not exist")
        || m.contains("doesn't exist")
        || m.contains("no such table")
        || m.contains("no such column")
        || m.contains("unknown column")
    {
        DbErrorKind::UndefinedObject
    } else if m.contains("canceling statement")
        || m.contains("query execution was interrupted")
        || m.contains("interrupted")
    {
        DbErrorKind::Cancelled
    } else if m.contains("current transaction is aborted") {
        DbErrorKind::InFailedTransaction
    } else if m.contains("deadlock") {
        DbErrorKind::SerializationFailure
    } else {
        DbErrorKind::Other
    }
}

fn looks_disconnected(message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    [
        "connection closed",
        "closed",
        "broken pipe",
        "connection reset",
        "unexpected eof",
        "io error",
        "terminating connection",
        "server shutdown in progress",
        "the database system is shutting down",
        "server has gone away",
        "lost connection",
        "not connected",
        "input/output error",
        // MySQL closes the connection after a packet over max_allowed_packet.
        "max_allowed_packet",
        "packet too large",
    ]
    .iter()
    .any(|s| m.contains(s))
}

/// The PostgreSQL SQLSTATE a kind stands for, where it is one code.
fn postgres_sqlstate(kind: DbErrorKind, message: &str) -> Option<&'static str> {
    Some(match kind {
        DbErrorKind::SerializationFailure if message.contains("deadlock detected") => "40P01",
        DbErrorKind::Syntax => "42601",
        DbErrorKind::UniqueViolation => "23505",
        DbErrorKind::ForeignKeyViolation => "23503",
        DbErrorKind::NotNullViolation => "23502",
        DbErrorKind::CheckViolation => "23514",
        DbErrorKind::SerializationFailure => "40001",
        DbErrorKind::InFailedTransaction => "25P02",
        DbErrorKind::Cancelled => "57014",
        _ => return None,
    })
}

fn with_detail(message: String, detail: Option<&str>, hint: Option<&str>) -> String {
    let mut out = message;
    if let Some(d) = detail {
        out.push_str(" (detail: ");
        out.push_str(d);
        out.push(')');
    }
    if let Some(h) = hint {
        out.push_str(" (hint: ");
        out.push_str(h);
        out.push(')');
    }
    out
}

/// What kind of connect failure a driver's message describes.
pub fn connect_error_kind(e: &ConnectionError, message: &str) -> ConnectErrorKind {
    if let ConnectionError::InvalidConnectionUrl(_) = e {
        return ConnectErrorKind::Other;
    }
    let m = message.to_ascii_lowercase();
    if m.contains("password")
        || m.contains("access denied")
        || m.contains("authentication")
        || (m.contains("role") && m.contains("does not exist"))
    {
        ConnectErrorKind::Authentication
    } else if m.contains("unknown database")
        || (m.contains("database") && m.contains("does not exist"))
    {
        ConnectErrorKind::UnknownDatabase
    } else if m.contains("unable to open database") || m.contains("cannot open") {
        ConnectErrorKind::CannotOpen
    } else if m.contains("refused")
        || m.contains("lookup")
        || m.contains("resolve")
        || m.contains("unreachable")
        || m.contains("timed out")
        || m.contains("no route")
        || m.contains("error connecting")
        || m.contains("io error")
        || m.contains("name or service")
    {
        ConnectErrorKind::Unreachable
    } else {
        ConnectErrorKind::Other
    }
}

#[cfg(test)]
mod tests;
