//! The pool's state shared with its connections and handles: a connection
//! that comes back records that itself, and a statement that finds a
//! connection free takes it itself; either wakes the manager only when
//! there is something to carry out.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use actix::WeakAddr;
use actix::prelude::*;
use parking_lot::{MappedMutexGuard, Mutex, MutexGuard};
use switchboard_core::ConnectionId;

use super::Manager;
use super::state::{Place, PoolState, Release, Want};
use crate::FastMap;
use crate::connection::ConnectionActor;
use crate::lease::Grant;
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
/// actors it starts and with the pool's handles.
///
/// A connection that comes back records that here itself and tells the
/// manager only when the state has an action for it: before, every
/// statement ended with a `Released` message to the manager, an envelope
/// and a turn of the manager's mailbox and context for a bookkeeping
/// update. A lease, which may be dropped on any thread, still sends
/// `Released`.
///
/// A caller whose statement finds a connection free takes it here itself
/// ([`Ledger::lend_now`]) and sends its work straight to that connection:
/// before, every statement went to the manager first, an envelope and a
/// turn of the manager's mailbox for a decision that needs only this state
/// (callgrind, MariaDB `SELECT 1`: 31,122 instructions before, 29,467
/// after, the mutex and the caller's own reply channel included). The
/// ledger therefore also holds the connections' addresses. Callers may
/// run on any thread, so the state sits behind a mutex. Nothing holds it
/// across an `.await` or an actor message, nor locks it twice on one
/// thread (that would deadlock, where the `RefCell` it replaced would have
/// panicked); a connection that finds it held (by a caller on another
/// thread) sends `Released` instead of waiting (see
/// [`Ledger::give_back`]).
#[derive(Clone)]
pub(crate) struct Ledger(Arc<Mutex<Book>>);

/// What the ledger guards: the state, and what a grant is made of.
struct Book {
    state: PoolState,
    /// The actor of every open connection, as the manager admitted it:
    /// the pool's one record of their addresses.
    lenders: FastMap<ConnectionId, Arc<Addr<ConnectionActor>>>,
    /// The manager, for grants to give a connection back through; set
    /// once it runs.
    manager: Option<WeakAddr<Manager>>,
}

impl Ledger {
    pub(super) fn new(state: PoolState) -> Self {
        Ledger(Arc::new(Mutex::new(Book {
            state,
            lenders: FastMap::default(),
            manager: None,
        })))
    }

    /// The state, locked until the guard is dropped.
    pub(super) fn get(&self) -> MappedMutexGuard<'_, PoolState> {
        MutexGuard::map(self.0.lock(), |book| &mut book.state)
    }

    /// The manager runs: grants give connections back to `manager`.
    pub(super) fn run_by(&self, manager: WeakAddr<Manager>) {
        self.0.lock().manager = Some(manager);
    }

    /// Connection `id` opened: grants of it go to `addr`.
    pub(super) fn enroll(&self, id: ConnectionId, addr: Arc<Addr<ConnectionActor>>) {
        self.0.lock().lenders.insert(id, addr);
    }

    /// Connection `id` is no longer the pool's to lend; returns its actor.
    pub(super) fn strike(&self, id: ConnectionId) -> Option<Arc<Addr<ConnectionActor>>> {
        self.0.lock().lenders.remove(&id)
    }

    /// The actor of open connection `id`.
    pub(super) fn lender(&self, id: ConnectionId) -> Option<Arc<Addr<ConnectionActor>>> {
        self.0.lock().lenders.get(&id).cloned()
    }

    /// The manager stopped: no more grants, and the addresses go (they
    /// would keep the connection actors alive).
    pub(super) fn close_book(&self) {
        let mut book = self.0.lock();
        book.lenders.clear();
        book.manager = None;
    }

    /// A grant of connection `id`, lent since `since`, if the pool has
    /// that connection and a running manager.
    pub(super) fn grant(&self, id: ConnectionId, since: Instant, place: Place) -> Option<Grant> {
        let book = self.0.lock();
        book.grant(id, since.elapsed(), place)
    }

    /// A connection (or a place on one) for a caller arriving now, if one
    /// is free for it with nobody queued before it and nothing for the
    /// manager to do (see [`PoolState::lend_now`]); `None` sends the caller
    /// to the manager, which queues it, pings or grows.
    pub(crate) fn lend_now(&self, want: Want, shared: &Shared) -> Option<Grant> {
        let mut book = self.0.lock();
        book.manager.as_ref()?;
        let now = Instant::now();
        let (conn, place) = book.state.lend_now(want, now)?;
        let Some(grant) = book.grant(conn, Duration::ZERO, place) else {
            // Closing meanwhile: the manager forgets it when told.
            book.state.refused(conn, place, now);
            return None;
        };
        publish_stats(&book.state, shared);
        Some(grant)
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
        let Some(mut book) = self.0.try_lock() else {
            return GivenBack::NotRecorded;
        };
        let state = &mut book.state;
        state.released(id, how, now);
        publish_stats(state, shared);
        if state.settled() {
            GivenBack::Settled
        } else {
            GivenBack::ForTheManager
        }
    }
}

impl Book {
    fn grant(&self, id: ConnectionId, waited: Duration, place: Place) -> Option<Grant> {
        let addr = self.lenders.get(&id)?.clone();
        let manager = self.manager.clone()?;
        Some(Grant::new(id, addr, manager, waited, place))
    }
}

/// What [`Ledger::give_back`] left to do.
pub(crate) enum GivenBack {
    /// Nothing.
    Settled,
    /// Actions for the manager: send it [`Settle`].
    ForTheManager,
    /// Nothing recorded, as the state was held: send `Released`.
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
