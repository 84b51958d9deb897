//! [`ErrorKind`]: what kind of error an event's [`ErrorInfo`](super::ErrorInfo)
//! describes.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of an error carried by an event, one per [`Error`](crate::Error)
/// variant and two for a connection invalidated without one. Serialized as
/// the snake_case names events have always carried (`"database"`,
/// `"connection_lost"`, `"timeout"`, ...); a name this version does not
/// know (from a newer publisher, over NATS) reads as
/// [`Unknown`](Self::Unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorKind {
    /// [`Error::InvalidUrl`](crate::Error::InvalidUrl).
    InvalidUrl,
    /// [`Error::UnsupportedScheme`](crate::Error::UnsupportedScheme).
    UnsupportedScheme,
    /// [`Error::BackendDisabled`](crate::Error::BackendDisabled).
    BackendDisabled,
    /// [`Error::Config`](crate::Error::Config).
    Config,
    /// [`Error::Connect`](crate::Error::Connect).
    Connect,
    /// [`Error::PoolTimeout`](crate::Error::PoolTimeout).
    PoolTimeout,
    /// [`Error::Unreachable`](crate::Error::Unreachable).
    Unreachable,
    /// [`Error::Database`](crate::Error::Database).
    Database,
    /// [`Error::BindMismatch`](crate::Error::BindMismatch).
    BindMismatch,
    /// [`Error::EmptyStatement`](crate::Error::EmptyStatement).
    EmptyStatement,
    /// [`Error::ConnectionLost`](crate::Error::ConnectionLost).
    ConnectionLost,
    /// [`Error::Timeout`](crate::Error::Timeout).
    Timeout,
    /// [`Error::Denied`](crate::Error::Denied).
    Denied,
    /// [`Error::Backpressure`](crate::Error::Backpressure).
    Backpressure,
    /// [`Error::NotDurable`](crate::Error::NotDurable).
    NotDurable,
    /// [`Error::ShuttingDown`](crate::Error::ShuttingDown).
    ShuttingDown,
    /// [`Error::Gone`](crate::Error::Gone).
    Gone,
    /// [`Error::User`](crate::Error::User).
    User,
    /// [`Error::Panic`](crate::Error::Panic).
    Panic,
    /// [`Error::Driver`](crate::Error::Driver).
    Driver,
    /// The lease holder invalidated the connection (no error).
    Invalidated,
    /// A connection found unusable without an error to say why, or a kind
    /// this version does not know.
    #[serde(other)]
    Unknown,
}

impl ErrorKind {
    /// The name events carry: `"database"`, `"connection_lost"`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidUrl => "invalid_url",
            ErrorKind::UnsupportedScheme => "unsupported_scheme",
            ErrorKind::BackendDisabled => "backend_disabled",
            ErrorKind::Config => "config",
            ErrorKind::Connect => "connect",
            ErrorKind::PoolTimeout => "pool_timeout",
            ErrorKind::Unreachable => "unreachable",
            ErrorKind::Database => "database",
            ErrorKind::BindMismatch => "bind_mismatch",
            ErrorKind::EmptyStatement => "empty_statement",
            ErrorKind::ConnectionLost => "connection_lost",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Denied => "denied",
            ErrorKind::Backpressure => "backpressure",
            ErrorKind::NotDurable => "not_durable",
            ErrorKind::ShuttingDown => "shutting_down",
            ErrorKind::Gone => "gone",
            ErrorKind::User => "user",
            ErrorKind::Panic => "panic",
            ErrorKind::Driver => "driver",
            ErrorKind::Invalidated => "invalidated",
            ErrorKind::Unknown => "unknown",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<str> for ErrorKind {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for ErrorKind {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [ErrorKind; 22] = [
        ErrorKind::InvalidUrl,
        ErrorKind::UnsupportedScheme,
        ErrorKind::BackendDisabled,
        ErrorKind::Config,
        ErrorKind::Connect,
        ErrorKind::PoolTimeout,
        ErrorKind::Unreachable,
        ErrorKind::Database,
        ErrorKind::BindMismatch,
        ErrorKind::EmptyStatement,
        ErrorKind::ConnectionLost,
        ErrorKind::Timeout,
        ErrorKind::Denied,
        ErrorKind::Backpressure,
        ErrorKind::NotDurable,
        ErrorKind::ShuttingDown,
        ErrorKind::Gone,
        ErrorKind::User,
        ErrorKind::Panic,
        ErrorKind::Driver,
        ErrorKind::Invalidated,
        ErrorKind::Unknown,
    ];

    #[test]
    fn serializes_as_its_name_and_reads_back() {
        for kind in ALL {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<ErrorKind>(&json).unwrap(), kind);
        }
        assert_eq!(
            serde_json::to_string(&ErrorKind::ConnectionLost).unwrap(),
            "\"connection_lost\""
        );
    }

    #[test]
    fn a_name_it_does_not_know_reads_as_unknown() {
        let kind: ErrorKind = serde_json::from_str("\"quantum_flux\"").unwrap();
        assert_eq!(kind, ErrorKind::Unknown);
    }
}
