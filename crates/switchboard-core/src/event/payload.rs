//! The payload of an event, one variant per kind.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{CloseReason, ErrorInfo, Kind, Origin, Params, ResetScope, RollbackReason};
use crate::class::StatementClass;
use crate::serde_duration;

/// The payload of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[non_exhaustive]
pub enum Payload {
    /// Before a connect attempt.
    Connecting {
        /// The database URL with its password replaced by `***`.
        target: String,
        /// 1 for the first attempt of this connection slot.
        attempt: u32,
    },
    /// A connect attempt succeeded.
    Connected {
        /// What the server reports as its version.
        server_version: String,
        /// How long the connect took.
        #[serde(rename = "took_ns", with = "serde_duration")]
        took: Duration,
    },
    /// A connect attempt failed.
    ConnectFailed {
        /// What went wrong.
        error: ErrorInfo,
        /// Which attempt failed.
        attempt: u32,
        /// When the next attempt is due, if one is planned.
        #[serde(default, rename = "retry_in_ns", with = "serde_duration::option")]
        retry_in: Option<Duration>,
    },
    /// The connection was lent to a caller.
    CheckedOut {
        /// How long the caller waited for it.
        #[serde(rename = "waited_ns", with = "serde_duration")]
        waited: Duration,
    },
    /// The caller returned the connection.
    CheckedIn {
        /// How long the caller held it.
        #[serde(rename = "held_ns", with = "serde_duration")]
        held: Duration,
    },
    /// A statement is about to run.
    Executing {
        /// Process-wide id shared by this statement's events.
        query_id: u64,
        /// The SQL text as sent (without bind values).
        sql: Arc<str>,
        /// Bind parameters, redacted unless the pool allows them.
        params: Params,
        /// What the statement does (pgAudit class).
        class: StatementClass,
        /// Where the statement came from.
        origin: Origin,
    },
    /// A statement finished.
    Executed {
        /// The statement's query id.
        query_id: u64,
        /// How long it ran.
        #[serde(rename = "took_ns", with = "serde_duration")]
        took: Duration,
        /// Rows affected (`Execute`) or returned (`Load`); `None` when the
        /// driver does not say (statements reported by instrumentation).
        rows: Option<u64>,
    },
    /// A statement failed.
    ExecuteFailed {
        /// The statement's query id.
        query_id: u64,
        /// How long it ran before failing.
        #[serde(rename = "took_ns", with = "serde_duration")]
        took: Duration,
        /// What went wrong.
        error: ErrorInfo,
    },
    /// A guard vetoed a connect or a statement: the statement's last event
    /// (it follows its `Executing`, and nothing reached the database), or a
    /// connect attempt's.
    Denied {
        /// The statement's query id; `None` for a vetoed connect.
        query_id: Option<u64>,
        /// The guard's name.
        guard: String,
        /// The guard's reason.
        reason: String,
    },
    /// A guard in shadow mode would have vetoed the statement or connect;
    /// it went ahead. How a new rule is tried on real traffic.
    ShadowDenied {
        /// The statement's query id; `None` for a connect.
        query_id: Option<u64>,
        /// The guard's name.
        guard: String,
        /// Why it would have denied.
        reason: String,
    },
    /// A guard allowed to rewrite replaced the statement's SQL; what runs is
    /// `sql`, not the text of the `Executing` event before it.
    Rewritten {
        /// The statement's query id.
        query_id: u64,
        /// The guard's name.
        guard: String,
        /// The guard's reason.
        reason: String,
        /// The SQL that runs instead.
        sql: Arc<str>,
    },
    /// A transaction began. (Savepoints inside it have events of their
    /// own: `Savepoint`, `SavepointReleased`, `SavepointRolledBack`.)
    TxBegin {
        /// Nesting depth after the begin: 1.
        depth: u32,
    },
    /// A transaction committed.
    TxCommit {
        /// Nesting depth of what committed: 1.
        depth: u32,
    },
    /// A transaction rolled back.
    TxRollback {
        /// Why: the caller's (or its closure's) rollback, or the pool's
        /// reset of a connection handed back with a transaction open.
        #[serde(default, skip_serializing_if = "RollbackReason::is_caller")]
        reason: RollbackReason,
        /// Nesting depth of what rolled back: 1.
        depth: u32,
    },
    /// The connection was found broken.
    Invalidated {
        /// What showed it broken.
        error: ErrorInfo,
    },
    /// The connection is about to close.
    Closing {
        /// Why.
        reason: CloseReason,
    },
    /// The connection closed.
    Closed {
        /// How long the connection lived.
        #[serde(rename = "lifetime_ns", with = "serde_duration")]
        lifetime: Duration,
        /// Statements it ran.
        statements: u64,
    },
    /// This (lossy) subscriber missed events because it fell behind.
    Lagged {
        /// Exactly how many events it missed since the last notice.
        dropped: u64,
    },
    /// The connection was set up after connecting (the pool's defaults and
    /// its `on_connect` SQL and hook), before its first lend.
    Initialized {
        /// How long the setup took.
        #[serde(rename = "took_ns", with = "serde_duration")]
        took: Duration,
    },
    /// The connection, handed back by its holder, was reset before the pool
    /// lends it again (an open transaction rolled back, session state
    /// cleared; see `ResetPolicy`).
    Reset {
        /// How long the reset took.
        #[serde(rename = "took_ns", with = "serde_duration")]
        took: Duration,
        /// What was reset.
        what: ResetScope,
    },
    /// The pool is starting; the first event of every pool (no connection:
    /// pool events carry none).
    PoolStarted {
        /// Connections the pool keeps open.
        min: usize,
        /// The pool's maximum size.
        max: usize,
    },
    /// The pool drained and stopped; its last event.
    PoolStopped {
        /// Whether every connection was given back and closed within the
        /// shutdown timeout.
        drained: bool,
    },
    /// A caller gave up waiting for a connection (with the caller's labels): every
    /// connection stayed busy, or none could be opened.
    CheckoutTimedOut {
        /// How long it waited.
        #[serde(rename = "waited_ns", with = "serde_duration")]
        waited: Duration,
        /// Callers still waiting behind it.
        waiting: usize,
        /// Connects were failing meanwhile (the caller got
        /// `Error::Unreachable`, not `Error::PoolTimeout`).
        unreachable: bool,
    },
    /// The connection has been lent out longer than the pool's leak
    /// threshold (once per loan); the event's labels are the holder's.
    LeakSuspected {
        /// How long it has been out so far.
        #[serde(rename = "held_ns", with = "serde_duration")]
        held: Duration,
    },
    /// A savepoint was set inside a transaction: a named one
    /// (`DbConnection::savepoint`), or diesel's for a nested
    /// `transaction` (`diesel_savepoint_1`, ...).
    Savepoint {
        /// The savepoint's name, as sent to the database.
        name: Arc<str>,
        /// Nesting depth after it was set: 2 for the first savepoint inside
        /// a transaction (which is depth 1).
        depth: u32,
    },
    /// A savepoint was released: the work since it joins the enclosing
    /// transaction (and commits or rolls back with it).
    SavepointReleased {
        /// The savepoint's name.
        name: Arc<str>,
        /// Its depth, as in its `Savepoint` event.
        depth: u32,
    },
    /// The work since a savepoint was rolled back; the enclosing
    /// transaction goes on.
    SavepointRolledBack {
        /// The savepoint's name.
        name: Arc<str>,
        /// Its depth, as in its `Savepoint` event.
        depth: u32,
    },
}

impl Payload {
    /// The kind, without payload.
    pub fn kind(&self) -> Kind {
        match self {
            Payload::Connecting { .. } => Kind::Connecting,
            Payload::Connected { .. } => Kind::Connected,
            Payload::ConnectFailed { .. } => Kind::ConnectFailed,
            Payload::CheckedOut { .. } => Kind::CheckedOut,
            Payload::CheckedIn { .. } => Kind::CheckedIn,
            Payload::Executing { .. } => Kind::Executing,
            Payload::Executed { .. } => Kind::Executed,
            Payload::ExecuteFailed { .. } => Kind::ExecuteFailed,
            Payload::Denied { .. } => Kind::Denied,
            Payload::ShadowDenied { .. } => Kind::ShadowDenied,
            Payload::Rewritten { .. } => Kind::Rewritten,
            Payload::TxBegin { .. } => Kind::TxBegin,
            Payload::TxCommit { .. } => Kind::TxCommit,
            Payload::TxRollback { .. } => Kind::TxRollback,
            Payload::Invalidated { .. } => Kind::Invalidated,
            Payload::Closing { .. } => Kind::Closing,
            Payload::Closed { .. } => Kind::Closed,
            Payload::Lagged { .. } => Kind::Lagged,
            Payload::LeakSuspected { .. } => Kind::LeakSuspected,
            Payload::Initialized { .. } => Kind::Initialized,
            Payload::Reset { .. } => Kind::Reset,
            Payload::PoolStarted { .. } => Kind::PoolStarted,
            Payload::PoolStopped { .. } => Kind::PoolStopped,
            Payload::CheckoutTimedOut { .. } => Kind::CheckoutTimedOut,
            Payload::Savepoint { .. } => Kind::Savepoint,
            Payload::SavepointReleased { .. } => Kind::SavepointReleased,
            Payload::SavepointRolledBack { .. } => Kind::SavepointRolledBack,
        }
    }
}
