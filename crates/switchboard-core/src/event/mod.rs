//! The lifecycle event: common metadata plus a typed payload.
//!
//! An [`Event`] is an `Arc` underneath: fanning it out to many subscribers
//! clones a pointer, never the payload. Its JSON form (one object per line in
//! JSON Lines files and on the wire) flattens the metadata and the payload,
//! with the payload's variant in `"kind"`.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

mod error_kind;
mod kind;
mod labels;
mod params;
mod payload;
mod values;

pub use error_kind::ErrorKind;
pub use kind::Kind;
pub use labels::Labels;
pub use params::{ParamValue, Params};
pub use payload::Payload;
pub use values::{
    Backend, CloseReason, ConnectionId, ErrorInfo, Origin, ResetScope, RollbackReason,
};

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

/// A fresh event id, unique in the process, above every id handed out
/// before.
pub fn next_event_id() -> u64 {
    NEXT_EVENT_ID.fetch_add(1, Ordering::Relaxed)
}

/// `n` fresh event ids, the first returned: for a publisher that takes
/// its ids in blocks (a connection's emitter), an atomic add per block
/// rather than per event.
pub(crate) fn event_ids(n: u64) -> u64 {
    NEXT_EVENT_ID.fetch_add(n, Ordering::Relaxed)
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
    pub payload: Payload,
}

/// One lifecycle event. Cloning shares it.
#[derive(Clone, PartialEq)]
pub struct Event(Arc<EventBody>);

/// The allocation of an event whose last holder let it go, kept by the bus
/// for the next event (see `Bus::make`).
pub(crate) struct Spare(Arc<EventBody>);

impl Event {
    /// Wraps metadata and payload.
    pub fn new(meta: Meta, payload: Payload) -> Self {
        Event(Arc::new(EventBody { meta, payload }))
    }

    /// Wraps metadata and payload in `spare`, the allocation of an event
    /// nobody holds any more, instead of a new one.
    pub(crate) fn reuse(mut spare: Spare, meta: Meta, payload: Payload) -> Self {
        match Arc::get_mut(&mut spare.0) {
            Some(body) => {
                // The old event's contents are dropped here.
                *body = EventBody { meta, payload };
                Event(spare.0)
            }
            // Unreachable: a spare is made only from a sole holder.
            None => Event::new(meta, payload),
        }
    }

    /// The event's allocation, for reuse, if this is its last holder. Its
    /// payload and labels are dropped now: a kept allocation holds no SQL
    /// text, bind values or labels while it waits.
    pub(crate) fn into_spare(mut self) -> Option<Spare> {
        // Only this holder is left, and no other can appear: events never
        // hand out weak references.
        let body = Arc::get_mut(&mut self.0)?;
        body.payload = Payload::Lagged { dropped: 0 };
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
            Payload::Lagged { dropped },
        )
    }

    /// The metadata.
    pub fn meta(&self) -> &Meta {
        &self.0.meta
    }

    /// The payload.
    pub fn payload(&self) -> &Payload {
        &self.0.payload
    }

    /// The kind, without payload.
    pub fn kind(&self) -> Kind {
        self.0.payload.kind()
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
        match &self.0.payload {
            Payload::Connecting { target, attempt } => write!(f, " {target} attempt={attempt}"),
            Payload::Connected {
                server_version,
                took,
            } => {
                write!(f, " server={server_version:?} took={took:?}")
            }
            Payload::ConnectFailed { error, attempt, .. } => {
                write!(f, " attempt={attempt} {}: {}", error.kind, error.message)
            }
            Payload::CheckedOut { waited } => write!(f, " waited={waited:?}"),
            Payload::CheckedIn { held } => write!(f, " held={held:?}"),
            Payload::Executing {
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
            Payload::Executed {
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
            Payload::ExecuteFailed {
                query_id, error, ..
            } => {
                write!(f, " q{query_id} {}: {}", error.kind, error.message)
            }
            Payload::Denied { guard, reason, .. } => write!(f, " by {guard}: {reason}"),
            Payload::ShadowDenied { guard, reason, .. } => {
                write!(f, " (shadow) by {guard}: {reason}")
            }
            Payload::Rewritten {
                query_id,
                guard,
                sql,
                ..
            } => write!(f, " q{query_id} by {guard} to: {sql}"),
            Payload::TxBegin { depth } | Payload::TxCommit { depth } => {
                write!(f, " depth={depth}")
            }
            Payload::TxRollback { depth, reason } => match reason {
                RollbackReason::Caller => write!(f, " depth={depth}"),
                RollbackReason::Reset => write!(f, " depth={depth} reason=reset"),
            },
            Payload::Invalidated { error } => write!(f, " {}: {}", error.kind, error.message),
            Payload::Closing { reason } => write!(f, " reason={reason:?}"),
            Payload::Closed {
                lifetime,
                statements,
            } => {
                write!(f, " lifetime={lifetime:?} statements={statements}")
            }
            Payload::Lagged { dropped } => write!(f, " dropped={dropped}"),
            Payload::LeakSuspected { held } => write!(f, " lent out for {held:?}"),
            Payload::Savepoint { name, depth }
            | Payload::SavepointReleased { name, depth }
            | Payload::SavepointRolledBack { name, depth } => {
                write!(f, " {name} depth={depth}")
            }
            Payload::Initialized { took } => write!(f, " took={took:?}"),
            Payload::Reset { took, what } => {
                let what = format!("{what:?}").to_lowercase();
                write!(f, " what={what} took={took:?}")
            }
            Payload::PoolStarted { min, max } => write!(f, " min={min} max={max}"),
            Payload::PoolStopped { drained } => write!(f, " drained={drained}"),
            Payload::CheckoutTimedOut {
                waited,
                waiting,
                unreachable,
            } => write!(
                f,
                " waited={waited:?} waiting={waiting} unreachable={unreachable}"
            ),
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
