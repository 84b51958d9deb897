//! The lifecycle event: common metadata plus a typed payload.
//!
//! An [`Event`] is an `Arc` underneath: fanning it out to many subscribers
//! clones a pointer, never the payload. Its JSON form (one object per line in
//! JSON Lines files and on the wire) flattens the metadata and the payload,
//! with the payload's variant in `"kind"`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::class::StatementClass;
use crate::serde_duration;

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

/// Caller-supplied labels (request id, tenant, user, ...) carried from a query
/// message onto every event it causes. Cheap to clone.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Labels(Option<Arc<BTreeMap<String, String>>>);

impl Labels {
    /// No labels.
    pub fn new() -> Self {
        Labels(None)
    }

    /// These labels plus `key = value` (replacing an earlier value of `key`).
    #[must_use]
    pub fn with(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let map = Arc::make_mut(self.0.get_or_insert_with(Default::default));
        map.insert(key.into(), value.into());
        self
    }

    /// The value of one label.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.as_ref()?.get(key).map(String::as_str)
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.0.as_ref().is_none_or(|m| m.is_empty())
    }

    /// All labels, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .flat_map(|m| m.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Labels {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        iter.into_iter()
            .fold(Labels::new(), |labels, (k, v)| labels.with(k, v))
    }
}

impl Serialize for Labels {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, String>::deserialize(d)?;
        Ok(if map.is_empty() {
            Labels(None)
        } else {
            Labels(Some(Arc::new(map)))
        })
    }
}

/// The metadata every event carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Meta {
    /// Process-wide id, strictly increasing in the order events were created.
    pub id: u64,
    /// Wall-clock time the event was created.
    pub at: DateTime<Utc>,
    /// The pool (manager) name.
    pub pool: Arc<str>,
    /// The connection the event is about; `None` for notices that belong to
    /// no connection (`Lagged`).
    pub connection: Option<ConnectionId>,
    /// Position in the connection's own stream, starting at 1 and gap-free:
    /// a subscriber that sees a jump knows it lost events. 0 when
    /// `connection` is `None`.
    pub seq: u64,
    /// The database the pool talks to.
    pub backend: Backend,
    /// Labels of the query message that caused the event.
    #[serde(default, skip_serializing_if = "Labels::is_empty")]
    pub labels: Labels,
}

static NEXT_EVENT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-wide event id.
pub fn next_event_id() -> u64 {
    NEXT_EVENT_ID.fetch_add(1, Ordering::Relaxed)
}

/// A short, secret-free description of an error, as carried in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ErrorInfo {
    /// Machine-readable kind (`database`, `connection_lost`, `timeout`, ...).
    pub kind: String,
    /// SQLSTATE (PostgreSQL) or error number (MySQL) when the database gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// Human-readable message, with any password removed.
    pub message: String,
}

impl ErrorInfo {
    /// An error description.
    pub fn new(kind: impl Into<String>, code: Option<String>, message: impl Into<String>) -> Self {
        ErrorInfo {
            kind: kind.into(),
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
}

/// One bind parameter as shown in events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ParamValue {
    /// The value is hidden (the default); only its SQL type is shown.
    Redacted {
        /// The diesel SQL type the value was bound as.
        sql_type: String,
    },
    /// The value, rendered with `Debug`, shown because the pool allows it.
    Plain {
        /// The diesel SQL type the value was bound as.
        sql_type: String,
        /// The rendered value.
        value: String,
    },
}

/// A statement's bind parameters as shown in events. Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Params(pub Arc<[ParamValue]>);

impl Params {
    /// No parameters. Shared, not allocated: every `Load` statement's
    /// `Executing` carries these.
    pub fn none() -> Self {
        thread_local! {
            static NONE: Params = Params(Arc::from(Vec::new()));
        }
        NONE.with(Params::clone)
    }

    /// Number of parameters.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no parameters.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
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
    /// A savepoint was set inside a transaction.
    Savepoint,
    /// A savepoint was released: its work joins the enclosing transaction.
    SavepointReleased,
    /// The work since a savepoint was rolled back.
    SavepointRolledBack,
}

impl Kind {
    /// Every kind, in declaration order.
    pub const ALL: [Kind; 22] = [
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

/// The payload of an event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind")]
#[non_exhaustive]
pub enum EventKind {
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

impl EventKind {
    /// The kind, without payload.
    pub fn kind(&self) -> Kind {
        match self {
            EventKind::Connecting { .. } => Kind::Connecting,
            EventKind::Connected { .. } => Kind::Connected,
            EventKind::ConnectFailed { .. } => Kind::ConnectFailed,
            EventKind::CheckedOut { .. } => Kind::CheckedOut,
            EventKind::CheckedIn { .. } => Kind::CheckedIn,
            EventKind::Executing { .. } => Kind::Executing,
            EventKind::Executed { .. } => Kind::Executed,
            EventKind::ExecuteFailed { .. } => Kind::ExecuteFailed,
            EventKind::Denied { .. } => Kind::Denied,
            EventKind::ShadowDenied { .. } => Kind::ShadowDenied,
            EventKind::Rewritten { .. } => Kind::Rewritten,
            EventKind::TxBegin { .. } => Kind::TxBegin,
            EventKind::TxCommit { .. } => Kind::TxCommit,
            EventKind::TxRollback { .. } => Kind::TxRollback,
            EventKind::Invalidated { .. } => Kind::Invalidated,
            EventKind::Closing { .. } => Kind::Closing,
            EventKind::Closed { .. } => Kind::Closed,
            EventKind::Lagged { .. } => Kind::Lagged,
            EventKind::LeakSuspected { .. } => Kind::LeakSuspected,
            EventKind::Savepoint { .. } => Kind::Savepoint,
            EventKind::SavepointReleased { .. } => Kind::SavepointReleased,
            EventKind::SavepointRolledBack { .. } => Kind::SavepointRolledBack,
        }
    }
}

/// What an [`Event`] holds: metadata and payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventBody {
    /// Metadata common to every event.
    #[serde(flatten)]
    pub meta: Meta,
    /// The payload.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// One lifecycle event. Cloning shares it.
#[derive(Clone, PartialEq)]
pub struct Event(Arc<EventBody>);

/// The allocation of an event whose last holder let it go, kept by the bus
/// for the next event (see `Bus::make`).
pub(crate) struct Spare(Arc<EventBody>);

impl Event {
    /// Wraps metadata and payload.
    pub fn new(meta: Meta, kind: EventKind) -> Self {
        Event(Arc::new(EventBody { meta, kind }))
    }

    /// Wraps metadata and payload in `spare`, the allocation of an event
    /// nobody holds any more, instead of a new one.
    pub(crate) fn reuse(mut spare: Spare, meta: Meta, kind: EventKind) -> Self {
        match Arc::get_mut(&mut spare.0) {
            Some(body) => {
                // The old event's contents are dropped here.
                *body = EventBody { meta, kind };
                Event(spare.0)
            }
            // Unreachable: a spare is made only from a sole holder.
            None => Event::new(meta, kind),
        }
    }

    /// The event's allocation, for reuse, if this is its last holder. Its
    /// payload and labels are dropped now: a kept allocation holds no SQL
    /// text, bind values or labels while it waits.
    pub(crate) fn into_spare(mut self) -> Option<Spare> {
        // Only this holder is left, and no other can appear: events never
        // hand out weak references.
        let body = Arc::get_mut(&mut self.0)?;
        body.kind = EventKind::Lagged { dropped: 0 };
        body.meta.labels = Labels::new();
        Some(Spare(self.0))
    }

    /// A `Lagged` notice for a subscriber that missed `dropped` events.
    pub fn lagged(pool: Arc<str>, backend: Backend, dropped: u64) -> Self {
        Event::new(
            Meta {
                id: next_event_id(),
                at: Utc::now(),
                pool,
                connection: None,
                seq: 0,
                backend,
                labels: Labels::new(),
            },
            EventKind::Lagged { dropped },
        )
    }

    /// The metadata.
    pub fn meta(&self) -> &Meta {
        &self.0.meta
    }

    /// The payload.
    pub fn payload(&self) -> &EventKind {
        &self.0.kind
    }

    /// The kind, without payload.
    pub fn kind(&self) -> Kind {
        self.0.kind.kind()
    }

    /// The event as one line of JSON.
    pub fn to_json(&self) -> String {
        // Serializing plain data with string keys cannot fail.
        serde_json::to_string(&*self.0).unwrap_or_default()
    }

    /// Parses one line of JSON.
    pub fn from_json(line: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str::<EventBody>(line).map(|b| Event(Arc::new(b)))
    }
}

impl std::ops::Deref for Event {
    type Target = EventBody;
    fn deref(&self) -> &EventBody {
        &self.0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

/// One line: `#id pool conn#c seq=s Kind {payload}`; what the quickstart prints.
impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let m = &self.0.meta;
        write!(f, "#{:<5} {} ", m.id, m.pool)?;
        match m.connection {
            Some(c) => write!(f, "conn#{c} seq={:<3} ", m.seq)?,
            None => f.write_str("-             ")?,
        }
        write!(f, "{:<13}", self.kind().as_str())?;
        match &self.0.kind {
            EventKind::Connecting { target, attempt } => write!(f, " {target} attempt={attempt}"),
            EventKind::Connected {
                server_version,
                took,
            } => {
                write!(f, " server={server_version:?} took={took:?}")
            }
            EventKind::ConnectFailed { error, attempt, .. } => {
                write!(f, " attempt={attempt} {}: {}", error.kind, error.message)
            }
            EventKind::CheckedOut { waited } => write!(f, " waited={waited:?}"),
            EventKind::CheckedIn { held } => write!(f, " held={held:?}"),
            EventKind::Executing {
                query_id,
                sql,
                params,
                class,
                ..
            } => {
                write!(f, " q{query_id} [{class}] {sql}")?;
                if !params.is_empty() {
                    write!(f, " ({} params)", params.len())?;
                }
                Ok(())
            }
            EventKind::Executed {
                query_id,
                took,
                rows,
            } => {
                write!(f, " q{query_id} took={took:?}")?;
                match rows {
                    Some(r) => write!(f, " rows={r}"),
                    None => Ok(()),
                }
            }
            EventKind::ExecuteFailed {
                query_id, error, ..
            } => {
                write!(f, " q{query_id} {}: {}", error.kind, error.message)
            }
            EventKind::Denied { guard, reason, .. } => write!(f, " by {guard}: {reason}"),
            EventKind::ShadowDenied { guard, reason, .. } => {
                write!(f, " (shadow) by {guard}: {reason}")
            }
            EventKind::Rewritten {
                query_id,
                guard,
                sql,
                ..
            } => write!(f, " q{query_id} by {guard} to: {sql}"),
            EventKind::TxBegin { depth }
            | EventKind::TxCommit { depth }
            | EventKind::TxRollback { depth } => write!(f, " depth={depth}"),
            EventKind::Invalidated { error } => write!(f, " {}: {}", error.kind, error.message),
            EventKind::Closing { reason } => write!(f, " reason={reason:?}"),
            EventKind::Closed {
                lifetime,
                statements,
            } => {
                write!(f, " lifetime={lifetime:?} statements={statements}")
            }
            EventKind::Lagged { dropped } => write!(f, " dropped={dropped}"),
            EventKind::LeakSuspected { held } => write!(f, " lent out for {held:?}"),
            EventKind::Savepoint { name, depth }
            | EventKind::SavepointReleased { name, depth }
            | EventKind::SavepointRolledBack { name, depth } => {
                write!(f, " {name} depth={depth}")
            }
        }?;
        if !m.labels.is_empty() {
            write!(f, " labels={:?}", m.labels)?;
        }
        Ok(())
    }
}

impl Serialize for Event {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Event {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EventBody::deserialize(d).map(|b| Event(Arc::new(b)))
    }
}

impl actix::Message for Event {
    type Result = ();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_parameters_are_shared_not_allocated() {
        let (a, b) = (Params::none(), Params::none());
        assert!(Arc::ptr_eq(&a.0, &b.0));
        assert!(a.is_empty());
    }
}
