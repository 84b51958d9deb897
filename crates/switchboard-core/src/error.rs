//! The one error type callers see, with messages that say what to do next.

use std::time::Duration;

use crate::event::{ErrorInfo, ErrorKind};

/// A `Result` with Switchboard's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What kind of database error the server reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DbErrorKind {
    /// The SQL did not parse (SQLSTATE 42601, MySQL 1064, SQLite "syntax error").
    Syntax,
    /// A unique constraint was violated.
    UniqueViolation,
    /// A foreign key constraint was violated.
    ForeignKeyViolation,
    /// A NOT NULL constraint was violated.
    NotNullViolation,
    /// A CHECK constraint was violated.
    CheckViolation,
    /// A table or column does not exist.
    UndefinedObject,
    /// The transaction was rolled back because of a serialization failure or
    /// deadlock; retrying it may succeed.
    SerializationFailure,
    /// The statement was cancelled (statement timeout or cancel request).
    Cancelled,
    /// The connection is in a failed transaction; roll it back.
    InFailedTransaction,
    /// Any other error the server reported.
    Other,
}

/// How a connect attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectErrorKind {
    /// Nothing accepted the TCP connection, or the host is unknown.
    Unreachable,
    /// The server rejected the user name or password.
    Authentication,
    /// The database named in the URL does not exist.
    UnknownDatabase,
    /// The SQLite file could not be opened.
    CannotOpen,
    /// Any other connect failure.
    Other,
}

/// Everything that can go wrong, for callers and in events.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The database URL could not be parsed.
    #[error("invalid database URL {url:?}: {reason}")]
    InvalidUrl {
        /// The URL with any password removed.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The URL's scheme names no supported backend.
    #[error(
        "unsupported database URL scheme {scheme:?}: use postgres://, postgresql://, mysql://, mariadb://, sqlite:// or sqlite::memory:"
    )]
    UnsupportedScheme {
        /// The scheme found.
        scheme: String,
    },
    /// The URL names a backend this build of switchboard left out: its
    /// cargo feature (`postgres`, `mysql` or `sqlite`) is off.
    #[error(
        "switchboard was built without the `{feature}` feature, so it cannot open {scheme}:// URLs; enable the feature (switchboard = {{ features = [\"{feature}\"] }})"
    )]
    BackendDisabled {
        /// The scheme found.
        scheme: String,
        /// The backend it names.
        backend: crate::Backend,
        /// The cargo feature that would enable it.
        feature: &'static str,
    },
    /// The configuration is inconsistent.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Connecting to the database failed.
    #[error("could not connect to {target}: {message}")]
    Connect {
        /// The URL with any password removed.
        target: String,
        /// Why.
        kind: ConnectErrorKind,
        /// The driver's message, password removed.
        message: String,
    },
    /// No connection became free within the checkout timeout.
    #[error(
        "pool {pool:?} timed out after {}ms waiting for a connection ({busy} busy of max {max}, {waiting} callers waiting); raise the pool's max size or checkout timeout, or hold connections for less time",
        waited.as_millis()
    )]
    PoolTimeout {
        /// The pool's name.
        pool: String,
        /// How long the caller waited.
        waited: Duration,
        /// Connections in use when the wait ended.
        busy: usize,
        /// The pool's maximum size.
        max: usize,
        /// Other callers still waiting.
        waiting: usize,
    },
    /// No connection could be opened within the checkout timeout: the
    /// database is unreachable, and the pool keeps retrying in the
    /// background.
    #[error(
        "pool {pool:?}: database unreachable after {attempts} connect attempts ({last_error}); retrying every {}ms; waited {}ms",
        retry_every.as_millis(),
        waited.as_millis()
    )]
    Unreachable {
        /// The pool's name.
        pool: String,
        /// How long the caller waited.
        waited: Duration,
        /// Consecutive failed connect attempts so far.
        attempts: u32,
        /// The last connect error (secret-free).
        last_error: String,
        /// The current delay between attempts.
        retry_every: Duration,
    },
    /// The database rejected the statement.
    #[error("database error{}: {message}", code_label(code.as_deref()))]
    Database {
        /// What kind of error it is.
        kind: DbErrorKind,
        /// The server's own code: the SQLSTATE on PostgreSQL (`42601`), the
        /// error number on MySQL and MariaDB (`1064`; its SQLSTATE is
        /// [`Error::sqlstate`]), none on SQLite.
        code: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The number of bind values does not match the placeholders in the SQL.
    #[error("the SQL has {expected} placeholder(s) but {given} value(s) were bound")]
    BindMismatch {
        /// Placeholders in the SQL.
        expected: usize,
        /// Values bound.
        given: usize,
    },
    /// The statement is empty.
    #[error("empty statement: there is no SQL to run")]
    EmptyStatement,
    /// The connection broke while it was in use.
    #[error("connection lost: {message}; the connection was discarded, retry on a new one")]
    ConnectionLost {
        /// What the driver said.
        message: String,
    },
    /// The message's timeout passed before it finished.
    #[error("timed out after {}ms ({phase})", after.as_millis())]
    Timeout {
        /// The timeout that passed.
        after: Duration,
        /// What was under way.
        phase: Phase,
    },
    /// A guard vetoed the statement or connect.
    #[error("denied by guard {guard:?}: {reason}")]
    Denied {
        /// The guard's name.
        guard: String,
        /// Its reason.
        reason: String,
    },
    /// A lossless subscriber did not keep up within its deadline, so the
    /// statement was refused rather than run unobserved.
    #[error(
        "lossless subscriber {subscriber:?} is {queued} events behind and did not catch up within {}ms; the statement was not run",
        deadline.as_millis()
    )]
    Backpressure {
        /// The subscriber's name.
        subscriber: String,
        /// Events waiting for it.
        queued: usize,
        /// The deadline that passed.
        deadline: Duration,
    },
    /// A durability gate (a strict audit log) could not make the record of
    /// this statement durable, so the statement was refused rather than run
    /// unaudited.
    #[error("{gate:?} could not make the statement's record durable, so it was not run: {reason}")]
    NotDurable {
        /// The gate's name.
        gate: String,
        /// What went wrong (disk full, file unwritable, deadline passed).
        reason: String,
    },
    /// The manager is shutting down and takes no new work.
    #[error("the pool {pool:?} is shutting down and takes no new work")]
    ShuttingDown {
        /// The pool's name.
        pool: String,
    },
    /// The manager or connection actor is gone (its actor system stopped).
    #[error("the {0} actor is gone; was its actix System stopped?")]
    Gone(ActorRole),
    /// An error raised by the caller's own closure (Transaction, Interact).
    #[error("{0}")]
    User(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// A caller's closure panicked while it had the connection; the
    /// connection was discarded, since its state is unknown.
    #[error("the closure panicked: {0}; its connection was discarded")]
    Panic(String),
    /// The driver failed in a way not covered above.
    #[error("driver error: {0}")]
    Driver(String),
}

impl Error {
    /// The variant's kind, as events carry it ([`ErrorInfo::kind`]).
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidUrl { .. } => ErrorKind::InvalidUrl,
            Error::UnsupportedScheme { .. } => ErrorKind::UnsupportedScheme,
            Error::BackendDisabled { .. } => ErrorKind::BackendDisabled,
            Error::Config(_) => ErrorKind::Config,
            Error::Connect { .. } => ErrorKind::Connect,
            Error::PoolTimeout { .. } => ErrorKind::PoolTimeout,
            Error::Unreachable { .. } => ErrorKind::Unreachable,
            Error::Database { .. } => ErrorKind::Database,
            Error::BindMismatch { .. } => ErrorKind::BindMismatch,
            Error::EmptyStatement => ErrorKind::EmptyStatement,
            Error::ConnectionLost { .. } => ErrorKind::ConnectionLost,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Denied { .. } => ErrorKind::Denied,
            Error::Backpressure { .. } => ErrorKind::Backpressure,
            Error::NotDurable { .. } => ErrorKind::NotDurable,
            Error::ShuttingDown { .. } => ErrorKind::ShuttingDown,
            Error::Gone(_) => ErrorKind::Gone,
            Error::User(_) => ErrorKind::User,
            Error::Panic(_) => ErrorKind::Panic,
            Error::Driver(_) => ErrorKind::Driver,
        }
    }

    /// The variant's machine-readable name, as serialized in events:
    /// [`kind`](Self::kind)`().as_str()`.
    pub fn kind_name(&self) -> &'static str {
        self.kind().as_str()
    }

    /// The secret-free description carried by events.
    pub fn info(&self) -> ErrorInfo {
        let code = match self {
            Error::Database { code, .. } => code.clone(),
            _ => None,
        };
        ErrorInfo::new(self.kind(), code, self.to_string())
    }

    /// The SQLSTATE of a [`Database`](Error::Database) error: its code on
    /// PostgreSQL, the one MySQL pairs with its error number on MySQL and
    /// MariaDB (`1064` → `42000`), where known.
    pub fn sqlstate(&self) -> Option<&str> {
        let Error::Database {
            code: Some(code), ..
        } = self
        else {
            return None;
        };
        if crate::mysql_codes::is_errno(code) {
            crate::mysql_codes::sqlstate(code)
        } else {
            Some(code)
        }
    }

    /// The error with the bind values and row values a server quoted in its
    /// text replaced by `***` ([`scrub_values`](crate::redact::scrub_values)
    /// says what goes and what stays); kind and code stay. Only the driver's
    /// text is touched (`Database`, `ConnectionLost`, `Driver`); other
    /// variants come back as they are.
    ///
    /// For a pool whose parameters are redacted (`ParamPolicy::Redacted`,
    /// the default): call it on every error of a statement before the error
    /// is returned, published in `ExecuteFailed`, recorded or logged, with
    /// the statement's bind values rendered as text (`values`), or `&[]`
    /// when they are unknown (a closure's statements).
    #[must_use]
    pub fn without_values<S: AsRef<str>>(self, values: &[S]) -> Self {
        let scrub = |m: String| crate::redact::scrub_values(&m, values);
        match self {
            Error::Database {
                kind,
                code,
                message,
            } => Error::Database {
                kind,
                code,
                message: scrub(message),
            },
            Error::ConnectionLost { message } => Error::ConnectionLost {
                message: scrub(message),
            },
            Error::Driver(message) => Error::Driver(scrub(message)),
            other => other,
        }
    }

    /// Wraps a caller's own error (from a `Transaction` or `Interact` closure).
    pub fn user(err: impl std::error::Error + Send + Sync + 'static) -> Self {
        Error::User(std::sync::Arc::new(err))
    }

    /// A caller's own error from a message.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::User(std::sync::Arc::new(UserMessage(message.into())))
    }
}

/// What was under way when a time limit passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Phase {
    /// Waiting for a connection for a lease (`Checkout`).
    Checkout,
    /// A whole message: waiting for a connection, then its work.
    Request,
    /// A statement on the database.
    Statement,
    /// The drain of a pool whose connections were still lent out.
    Shutdown,
    /// Resetting a connection handed back, before it is lent again.
    Reset,
    /// Setting up a new connection (`on_connect`).
    Setup,
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Phase::Checkout => "checkout",
            Phase::Request => "request",
            Phase::Statement => "statement",
            Phase::Shutdown => "shutdown: connections still lent out",
            Phase::Reset => "reset of a returned connection",
            Phase::Setup => "on_connect setup",
        })
    }
}

/// Which actor an [`Error::Gone`] found gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ActorRole {
    /// The pool's manager.
    Manager,
    /// A connection actor.
    Connection,
    /// One of the two; actix's mailbox error does not say which.
    ManagerOrConnection,
}

impl std::fmt::Display for ActorRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ActorRole::Manager => "manager",
            ActorRole::Connection => "connection",
            ActorRole::ManagerOrConnection => "manager or connection",
        })
    }
}

/// How a database error's code shows in its message: ` 42601` for a
/// PostgreSQL SQLSTATE, ` 1064 (42000)` for a MySQL error number, as the
/// `mysql` client shows it.
fn code_label(code: Option<&str>) -> String {
    match code {
        None => String::new(),
        Some(code) => match crate::mysql_codes::sqlstate(code) {
            Some(sqlstate) => format!(" {code} ({sqlstate})"),
            None => format!(" {code}"),
        },
    }
}

/// A plain-text error raised by a caller's closure through [`Error::msg`].
#[derive(Debug)]
struct UserMessage(String);

impl std::fmt::Display for UserMessage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UserMessage {}

impl Error {
    /// Whether the error says the connection can no longer be used.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, Error::ConnectionLost { .. })
    }
}

impl From<actix::MailboxError> for Error {
    fn from(_: actix::MailboxError) -> Self {
        Error::Gone(ActorRole::ManagerOrConnection)
    }
}

/// The text of a caught panic's payload.
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".into()
    }
}
