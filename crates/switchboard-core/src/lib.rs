//! Switchboard's core: what every other part depends on, and nothing that
//! talks to a database.
//!
//! - [`event`]: the lifecycle [`Event`], its metadata and payload kinds;
//! - [`bus`]: the broadcast [`Bus`], subscriptions, delivery contracts;
//! - [`subscriber`]: the [`Subscriber`] contract every observer attaches
//!   through, and the [`Subscription`] it returns;
//! - [`filter`]: which events a subscription receives;
//! - [`guard`]: guards, asked before a connect or statement, able to veto;
//! - [`emitter`]: stamps one connection's events with gap-free sequences;
//! - [`class`]: the pgAudit statement classes;
//! - [`read_only`]: the read-only switch a guard flips and connections obey;
//! - [`status`]: live status of a pool and its connections;
//! - [`backoff`]: the capped exponential [`Backoff`] between retries;
//! - [`redact`]: keeping passwords out of events, logs and errors;
//! - [`error`]: the error type callers see.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backoff;
pub mod bus;
pub mod class;
pub mod emitter;
pub mod error;
pub mod event;
pub mod filter;
pub mod guard;
mod mysql_codes;
pub mod read_only;
pub mod redact;
pub mod serde_duration;
pub mod status;
pub mod subscriber;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use backoff::Backoff;
pub use bus::{Bus, Delivery, EventReceiver, Flow, Gate, SubscriptionId, SubscriptionStats, Tap};
pub use class::{Classified, StatementClass};
pub use emitter::Emitter;
pub use error::{ActorRole, ConnectErrorKind, DbErrorKind, Error, Phase, Result};
pub use event::{
    Backend, CloseReason, ConnectionId, ErrorInfo, ErrorKind, Event, EventBody, Kind, Labels, Meta,
    Origin, ParamValue, Params, Payload, ResetScope, RollbackReason,
};
pub use filter::Filter;
pub use guard::{Check, Guard, GuardPolicy, Guards, Ruling, Verdict};
pub use read_only::ReadOnly;
pub use redact::DatabaseUrl;
pub use subscriber::{Subscriber, Subscription};

#[cfg(feature = "diesel")]
pub mod diesel_error;
