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
//! | `savepoint` / `release_savepoint` / `rollback_savepoint` | `Savepoint` / `SavepointReleased` / `SavepointRolledBack` |
//! | `invalidate` | `Invalidated` |

use switchboard_core::{Bus, Delivery, Error, Event, Filter, Flow, Kind, Result, SubscriptionId};

pub(crate) fn listen<F, R>(bus: &Bus, pool: &str, kind: Kind, f: F) -> Result<SubscriptionId>
where
    F: FnMut(Event) -> R + Send + 'static,
    R: Into<Flow>,
{
    let filter = Filter::from(kind).pool(pool);
    bus.subscribe_fn(&format!("listen:{kind}"), filter, Delivery::lossy(1024), f)
}

pub(crate) fn kind_named(name: &str) -> Result<Kind> {
    Kind::from_sqlalchemy(name).ok_or_else(|| {
        Error::Config(format!(
            "unknown event name {name:?}; use before_connect, after_connect, before_execute, \
             after_execute, before_close, after_close, checkout, checkin, handle_error, begin, \
             commit, rollback, savepoint, release_savepoint, rollback_savepoint or invalidate"
        ))
    })
}
