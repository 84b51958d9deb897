//! Small values events carry: the backend, connection ids, why a connection
//! closed, what an error was, where a statement came from.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::ErrorKind;

/// Which database a pool talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Backend {
    /// PostgreSQL, through diesel-async's `AsyncPgConnection`.
    Postgres,
    /// MySQL or MariaDB, through diesel-async's `AsyncMysqlConnection`.
    Mysql,
    /// SQLite (bundled), through diesel-async's `SyncConnectionWrapper`.
    Sqlite,
}

impl Backend {
    /// The name used in events and by OpenTelemetry's `db.system`.
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Mysql => "mysql",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Identifies one physical connection for the lifetime of the process.
pub type ConnectionId = u64;

/// A short, secret-free description of an error, as carried in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// Machine-readable kind, serialized as `"database"`,
    /// `"connection_lost"`, `"timeout"`, ...
    pub kind: ErrorKind,
    /// SQLSTATE (PostgreSQL) or error number (MySQL) when the database gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable message, with any password removed.
    pub message: String,
}

impl ErrorInfo {
    /// An error description.
    pub fn new(kind: ErrorKind, code: Option<String>, message: impl Into<String>) -> Self {
        ErrorInfo {
            kind,
            code,
            message: message.into(),
        }
    }
}

/// Why a connection is being closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum CloseReason {
    /// Idle longer than the pool's idle timeout.
    Idle,
    /// Older than the pool's maximum lifetime.
    Lifetime,
    /// The manager is shutting down.
    Shutdown,
    /// An error left the connection unusable.
    Error,
    /// The connection was found broken and invalidated.
    Invalidated,
    /// Its session could only be reset by replacing it (MySQL/MariaDB:
    /// diesel-async keeps `COM_RESET_CONNECTION` out of reach).
    Reset,
    /// `recycle()` asked for every connection to be replaced.
    Recycled,
    /// The pool's checkout hook rejected it.
    Rejected,
}

/// Why a transaction rolled back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum RollbackReason {
    /// The caller or its closure rolled back (or failed).
    #[default]
    Caller,
    /// The pool rolled back a transaction the connection came back with.
    Reset,
}

impl RollbackReason {
    /// Whether this is the caller's own rollback (omitted from JSON).
    pub fn is_caller(&self) -> bool {
        *self == RollbackReason::Caller
    }
}

/// What a reset cleared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResetScope {
    /// Only an open transaction was rolled back.
    Rollback,
    /// The transaction and the session state (settings, temporary tables,
    /// prepared statements, locks, listeners).
    Session,
    /// The pool's custom reset SQL ran (after a rollback).
    Custom,
}

/// Where a statement came from: a query message, or a statement issued
/// inside an `Interact`/`Transaction` closure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Origin {
    /// An `Execute` message.
    Execute,
    /// A `Load` message.
    Load,
    /// A statement an `Interact` or `Transaction` closure sent through its
    /// connection (`execute`, `load`, `batch_execute` or diesel's own
    /// methods); guarded like the others.
    Closure,
}
