//! Turning diesel's errors into [`Error`] (feature `diesel`).
//!
//! diesel-async does not pass SQLSTATE codes or MySQL error numbers through
//! diesel's error type, so the kind comes from diesel's own classification
//! and, for syntax and missing-object errors, from the server's message; the
//! code is filled in where the kind pins it down exactly.

use diesel::result::{ConnectionError, DatabaseErrorKind, Error as DieselError};

use crate::error::{ConnectErrorKind, DbErrorKind, Error};

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
impl From<&DieselError> for Error {
    fn from(e: &DieselError) -> Self {
        if let DieselError::QueryBuilderError(inner) = e
            && let Some(carried) = inner.downcast_ref::<Error>()
        {
            return carried.clone();
        }
        match e {
            DieselError::DatabaseError(kind, info) => {
                let message = info.message().to_owned();
                let kind = db_kind(*kind, &message);
                match kind {
                    None => Error::ConnectionLost { message },
                    Some(kind) => Error::Database {
                        code: sqlstate(kind).map(str::to_owned),
                        kind,
                        message: with_detail(message, info.details(), info.hint()),
                    },
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

/// `None` means the connection itself is gone.
fn db_kind(kind: DatabaseErrorKind, message: &str) -> Option<DbErrorKind> {
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
        _ => classify_message(message),
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
fn sqlstate(kind: DbErrorKind) -> Option<&'static str> {
    Some(match kind {
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
mod tests {
    use super::*;

    fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
        Error::from(DieselError::DatabaseError(
            kind,
            Box::new(message.to_owned()),
        ))
    }

    #[test]
    fn a_session_the_server_ended_is_a_lost_connection() {
        for message in [
            "terminating connection due to administrator command",
            "FATAL: terminating connection due to idle-session timeout",
            "Server shutdown in progress",
        ] {
            let err = db_error(DatabaseErrorKind::Unknown, message);
            assert!(err.is_connection_lost(), "{message}: {err:?}");
        }
    }

    #[test]
    fn mysql_io_errors_reported_as_unknown_are_lost_connections() {
        for message in [
            "Input/output error: Connection to the server is closed",
            "Input/output error: packet too large",
        ] {
            let err = db_error(DatabaseErrorKind::Unknown, message);
            assert!(err.is_connection_lost(), "{message}: {err:?}");
        }
    }

    #[test]
    fn ordinary_errors_keep_their_kind() {
        let err = db_error(DatabaseErrorKind::Unknown, "relation \"x\" does not exist");
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
        let err = db_error(DatabaseErrorKind::UniqueViolation, "duplicate key value");
        assert!(matches!(
            err,
            Error::Database {
                kind: DbErrorKind::UniqueViolation,
                ..
            }
        ));
    }

    #[test]
    fn an_error_carried_through_diesel_comes_back_unchanged() {
        let denied = Error::Denied {
            guard: "rules".into(),
            reason: "DELETE without WHERE".into(),
        };
        let back = Error::from(denied.clone().into_diesel());
        assert_eq!(back.to_string(), denied.to_string());
        assert!(matches!(back, Error::Denied { ref guard, .. } if guard == "rules"));
        // Other query-builder errors stay driver errors.
        let other = DieselError::QueryBuilderError("bad query".into());
        assert!(matches!(Error::from(other), Error::Driver(_)));
    }
}
