//! What goes into the pool's state machine and what comes out.

use std::time::Instant;

use switchboard_core::{CloseReason, ConnectionId};

#[allow(unused_imports)]
use super::PoolState;
use super::WaiterId;

/// What a grant gives: the connection to one caller, or one place among
/// the statements pipelined on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Place {
    Whole,
    Pipelined,
}

/// What a caller asks the pool for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Want {
    /// A connection to itself: a lease, a transaction, a closure, or a
    /// statement that may not share one.
    Whole,
    /// Room for one autocommit read (`Load`), which may be pipelined.
    Read,
    /// Room for one autocommit statement that may write (`Execute`), which
    /// may be pipelined.
    Write,
}

impl Want {
    pub(crate) fn pipelinable(self) -> bool {
        self != Want::Whole
    }
}

/// How a connection came back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Release {
    /// Its holder is done; the connection is usable.
    Free,
    /// One pipelined statement on it ended; others may still run.
    PlaceFreed,
    /// It is unusable and closes (or closed) itself.
    Gone,
}

/// Why a waiting caller is turned away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// The pool is draining.
    ShuttingDown,
    /// No connection is open or opening, and the last connect failed for
    /// good: nobody queued could ever be served.
    ConnectFailed,
}

/// What the manager must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// Lend `conn` to `waiter` (queued since `since`). A waiter that gave
    /// up meanwhile is reported back through [`PoolState::refused`].
    Grant {
        waiter: WaiterId,
        conn: ConnectionId,
        place: Place,
        since: Instant,
    },
    /// Turn `waiter` away.
    Refuse { waiter: WaiterId, why: Refusal },
    /// Start connect attempt `attempt` of connection `id`; its outcome comes
    /// back as [`PoolState::connected`] or [`PoolState::connect_failed`].
    Connect { id: ConnectionId, attempt: u32 },
    /// Wait out the backoff before attempt `attempt` of `id`, then call
    /// [`PoolState::retry_due`].
    Backoff { id: ConnectionId, attempt: u32 },
    /// Stop waiting out the backoff of `id`: nobody needs it.
    CancelBackoff { id: ConnectionId },
    /// Check `conn` before lending it; the outcome comes back as
    /// [`PoolState::pinged`].
    Ping { conn: ConnectionId },
    /// Close `conn`; [`PoolState::closed`] when it has.
    Close {
        conn: ConnectionId,
        reason: CloseReason,
    },
    /// The drain is complete: nothing is open, opening or closing.
    Drained,
}

/// What a caller arriving gets at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Arrival {
    /// A connection (or a place on one) free now; nobody was queued before.
    Now { conn: ConnectionId, place: Place },
    /// Queued; a [`Action::Grant`] or [`Action::Refuse`] for it comes later.
    Queued(WaiterId),
    /// The pool is draining.
    ShuttingDown,
}
