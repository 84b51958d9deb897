//! The pool's state shared with its connections: a connection that comes
//! back records that itself and wakes the manager only when there is
//! something to carry out.

use std::cell::{RefCell, RefMut};
use std::rc::Rc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix::prelude::*;
use switchboard_core::ConnectionId;

use super::Manager;
use super::state::{PoolState, Release};
use crate::shared::Shared;

/// A connection recorded its return in the [`Ledger`] itself, and that
/// left the manager something to do (a queued caller to serve, a
/// connection to close or check).
#[derive(Message)]
#[rtype(result = "()")]
pub(crate) struct Settle;

impl Handler<Settle> for Manager {
    type Result = ();

    fn handle(&mut self, _: Settle, ctx: &mut Self::Context) {
        self.carry_out(ctx);
    }
}

/// The pool's [`PoolState`], shared by the manager with the connection
/// actors it starts, which run on its thread (actix starts an actor on the
/// thread that starts it).
///
/// A connection that comes back records that here itself and tells the
/// manager only when the state has an action for it: before, every
/// statement ended with a `Released` message to the manager, an envelope
/// and a turn of the manager's mailbox and context for a bookkeeping
/// update. A lease, which may be dropped on any thread, still sends
/// `Released`.
///
/// Nothing borrows the state across an `.await` or an actor message, so a
/// borrow never meets another; if one ever did, the connection sends
/// `Released` instead (see [`Ledger::give_back`]).
#[derive(Clone)]
pub(crate) struct Ledger(Rc<RefCell<PoolState>>);

impl Ledger {
    pub(super) fn new(state: PoolState) -> Self {
        Ledger(Rc::new(RefCell::new(state)))
    }

    /// The state, borrowed until the guard is dropped.
    pub(super) fn get(&self) -> RefMut<'_, PoolState> {
        self.0.borrow_mut()
    }

    /// Records that connection `id` came back at `now` (`how`, not
    /// `Gone`: the manager forgets a connection that closed) and publishes
    /// the pool's sizes.
    pub(crate) fn give_back(
        &self,
        id: ConnectionId,
        how: Release,
        now: Instant,
        shared: &Shared,
    ) -> GivenBack {
        debug_assert!(
            how != Release::Gone,
            "a closed connection is the manager's to forget"
        );
        let Ok(mut state) = self.0.try_borrow_mut() else {
            return GivenBack::NotRecorded;
        };
        state.released(id, how, now);
        publish_stats(&state, shared);
        if state.settled() {
            GivenBack::Settled
        } else {
            GivenBack::ForTheManager
        }
    }
}

/// What [`Ledger::give_back`] left to do.
pub(crate) enum GivenBack {
    /// Nothing.
    Settled,
    /// Actions for the manager: send it [`Settle`].
    ForTheManager,
    /// Nothing recorded, as the state was borrowed: send `Released`.
    NotRecorded,
}

/// Publishes the pool's sizes for `PoolStatus` readers and gauges.
pub(super) fn publish_stats(state: &PoolState, shared: &Shared) {
    let counters = &shared.stats;
    counters.open.store(state.open_count(), Ordering::Relaxed);
    counters.idle.store(state.idle_count(), Ordering::Relaxed);
    counters.waiting.store(state.waiting(), Ordering::Relaxed);
    counters
        .connecting
        .store(state.connecting_count(), Ordering::Relaxed);
}
