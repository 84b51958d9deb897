//! The kind of an event, without its payload: what filters select on.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The kind of an event, without its payload: what filters select on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[non_exhaustive]
#[repr(u8)]
pub enum Kind {
    /// Before a connect attempt.
    Connecting,
    /// A connect attempt succeeded.
    Connected,
    /// A connect attempt failed.
    ConnectFailed,
    /// A connection was lent to a caller.
    CheckedOut,
    /// A caller returned a connection.
    CheckedIn,
    /// A statement is about to run.
    Executing,
    /// A statement finished.
    Executed,
    /// A statement failed.
    ExecuteFailed,
    /// A guard vetoed a connect or a statement.
    Denied,
    /// A guard in shadow mode would have vetoed; the work went ahead.
    ShadowDenied,
    /// A guard rewrote a statement's SQL before it ran.
    Rewritten,
    /// A transaction or savepoint began.
    TxBegin,
    /// A transaction or savepoint committed.
    TxCommit,
    /// A transaction or savepoint rolled back.
    TxRollback,
    /// A connection was found broken.
    Invalidated,
    /// A connection is about to close.
    Closing,
    /// A connection closed.
    Closed,
    /// A lossy subscriber missed events.
    Lagged,
    /// A connection has been lent out longer than the leak threshold.
    LeakSuspected,
    /// A new connection was set up, before its first lend.
    Initialized,
    /// A connection was reset before being lent again.
    Reset,
    /// The pool started.
    PoolStarted,
    /// The pool stopped.
    PoolStopped,
    /// A caller gave up waiting for a connection.
    CheckoutTimedOut,
    /// A savepoint was set inside a transaction.
    Savepoint,
    /// A savepoint was released: its work joins the enclosing transaction.
    SavepointReleased,
    /// The work since a savepoint was rolled back.
    SavepointRolledBack,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 27] = [
        Kind::Connecting,
        Kind::Connected,
        Kind::ConnectFailed,
        Kind::CheckedOut,
        Kind::CheckedIn,
        Kind::Executing,
        Kind::Executed,
        Kind::ExecuteFailed,
        Kind::Denied,
        Kind::ShadowDenied,
        Kind::Rewritten,
        Kind::TxBegin,
        Kind::TxCommit,
        Kind::TxRollback,
        Kind::Invalidated,
        Kind::Closing,
        Kind::Closed,
        Kind::Lagged,
        Kind::LeakSuspected,
        Kind::Initialized,
        Kind::Reset,
        Kind::PoolStarted,
        Kind::PoolStopped,
        Kind::CheckoutTimedOut,
        Kind::Savepoint,
        Kind::SavepointReleased,
        Kind::SavepointRolledBack,
    ];

    /// The kind a SQLAlchemy connection-event name corresponds to
    /// (`before_connect`, `after_connect`, `before_execute`, `after_execute`,
    /// `before_close`, `after_close`, and also `checkout`, `checkin`,
    /// `handle_error`, `begin`, `commit`, `rollback`, `savepoint`,
    /// `release_savepoint`, `rollback_savepoint`, `invalidate`).
    pub fn from_sqlalchemy(name: &str) -> Option<Kind> {
        Some(match name {
            "before_connect" | "do_connect" => Kind::Connecting,
            "after_connect" | "connect" => Kind::Connected,
            "before_execute" | "before_cursor_execute" => Kind::Executing,
            "after_execute" | "after_cursor_execute" => Kind::Executed,
            "handle_error" => Kind::ExecuteFailed,
            "before_close" => Kind::Closing,
            "after_close" | "close" => Kind::Closed,
            "checkout" => Kind::CheckedOut,
            "checkin" => Kind::CheckedIn,
            "begin" => Kind::TxBegin,
            "commit" => Kind::TxCommit,
            "rollback" => Kind::TxRollback,
            "savepoint" => Kind::Savepoint,
            "release_savepoint" => Kind::SavepointReleased,
            "rollback_savepoint" => Kind::SavepointRolledBack,
            "invalidate" => Kind::Invalidated,
            _ => return None,
        })
    }

    /// The name used in JSON (`"Executing"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Connecting => "Connecting",
            Kind::Connected => "Connected",
            Kind::ConnectFailed => "ConnectFailed",
            Kind::CheckedOut => "CheckedOut",
            Kind::CheckedIn => "CheckedIn",
            Kind::Executing => "Executing",
            Kind::Executed => "Executed",
            Kind::ExecuteFailed => "ExecuteFailed",
            Kind::Denied => "Denied",
            Kind::ShadowDenied => "ShadowDenied",
            Kind::Rewritten => "Rewritten",
            Kind::TxBegin => "TxBegin",
            Kind::TxCommit => "TxCommit",
            Kind::TxRollback => "TxRollback",
            Kind::Invalidated => "Invalidated",
            Kind::Closing => "Closing",
            Kind::Closed => "Closed",
            Kind::Lagged => "Lagged",
            Kind::LeakSuspected => "LeakSuspected",
            Kind::Initialized => "Initialized",
            Kind::Reset => "Reset",
            Kind::PoolStarted => "PoolStarted",
            Kind::PoolStopped => "PoolStopped",
            Kind::CheckoutTimedOut => "CheckoutTimedOut",
            Kind::Savepoint => "Savepoint",
            Kind::SavepointReleased => "SavepointReleased",
            Kind::SavepointRolledBack => "SavepointRolledBack",
        }
    }

    pub(crate) fn bit(self) -> u32 {
        1 << (self as u8)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
