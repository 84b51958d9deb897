//! `listen`: a closure on an event kind, without writing an actor.
//!
//! | SQLAlchemy name | kind |
//! |---|---|
//! | `before_connect` | `Connecting` |
//! | `after_connect` | `Connected` |
//! | `before_execute` | `Executing` |
//! | `after_execute` | `Executed` |
//! | `before_close` | `Closing` |
//! | `after_close` | `Closed` |
//! | `checkout` / `checkin` | `CheckedOut` / `CheckedIn` |
//! | `handle_error` | `ExecuteFailed` |
//! | `begin` / `commit` / `rollback` | `TxBegin` / `TxCommit` / `TxRollback` |
//! | `invalidate` | `Invalidated` |

use super::{Bus, Delivery, Flow, SubscriptionId};
use crate::error::{Error, Result};
use crate::event::{Event, Kind};
use crate::filter::Filter;

impl Bus {
    /// Calls `f` with every event of `kind` published on this bus, on a
    /// thread of its own (lossy, 1024 events of slack): SQLAlchemy's
    /// `event.listen`. On a bus several pools share, that is every pool's
    /// events; for one pool's, use [`subscribe_fn`](Bus::subscribe_fn) with
    /// `Filter::from(kind).pool(name)`. Returning [`Flow::Stop`]
    /// unsubscribes.
    pub fn listen<F, R>(&self, kind: Kind, f: F) -> Result<SubscriptionId>
    where
        F: FnMut(Event) -> R + Send + 'static,
        R: Into<Flow>,
    {
        self.subscribe_fn(
            &format!("listen:{kind}"),
            Filter::from(kind),
            Delivery::lossy(1024),
            f,
        )
    }

    /// [`Bus::listen`] by SQLAlchemy event name (`before_execute`,
    /// `after_connect`, ...); an unknown name is an [`Error::Config`].
    pub fn listen_named<F, R>(&self, name: &str, f: F) -> Result<SubscriptionId>
    where
        F: FnMut(Event) -> R + Send + 'static,
        R: Into<Flow>,
    {
        let kind = Kind::from_sqlalchemy(name).ok_or_else(|| {
            Error::Config(format!(
                "unknown event name {name:?}; use before_connect, after_connect, before_execute, \
                 after_execute, before_close, after_close, checkout, checkin, handle_error, begin, \
                 commit, rollback, savepoint, release_savepoint, rollback_savepoint or invalidate"
            ))
        })?;
        self.listen(kind, f)
    }
}
