//! Sizing: opening connections for callers and the minimum, closing, and
//! knowing when a drain is done.

use std::sync::atomic::Ordering;

use switchboard_core::{CloseReason, ConnectionId};

use super::{Action, NEXT_CONNECTION_ID, PoolState, Slot, Use};

impl PoolState {
    /// Open plus opening connections: what counts against the maximum.
    pub(super) fn size(&self) -> usize {
        self.open.len() + self.connecting.len()
    }

    /// Whether a connect attempt would serve anyone: callers wait, or the
    /// pool is below its minimum.
    pub(super) fn demand(&self) -> bool {
        !self.waiters.is_empty() || self.size() < self.limits.min
    }

    /// Finds connections for the queue: idle ones (each needs a ping, or it
    /// had been lent at once) are pinged, one per waiting caller, and the
    /// pool opens more while callers outnumber the connections on their way
    /// and it is below its maximum.
    pub(super) fn grow(&mut self) {
        let mut coming = self.ping_idle();
        while self.waiters.len() > coming && self.size() < self.limits.max {
            self.spawn();
            coming += 1;
        }
    }

    /// Pings idle connections (each needs a ping, or it had been lent at
    /// once), one per waiting caller that no connect or ping under way
    /// serves; returns how many connections are on their way to callers.
    pub(super) fn ping_idle(&mut self) -> usize {
        let mut coming = self.connecting.len() + self.pinging();
        while self.waiters.len() > coming
            && let Some((conn, _)) = self.idle.pop()
        {
            self.set(conn, Use::Pinging);
            self.out.push_back(Action::Ping { conn });
            coming += 1;
        }
        coming
    }

    pub(super) fn pinging(&self) -> usize {
        self.open
            .values()
            .filter(|o| o.state == Use::Pinging)
            .count()
    }

    /// Opens connections for waiting callers, and up to the minimum size.
    pub(super) fn replenish(&mut self) {
        if self.draining {
            return;
        }
        self.grow();
        while self.size() < self.limits.min {
            self.spawn();
        }
    }

    pub(super) fn spawn(&mut self) -> ConnectionId {
        let id = NEXT_CONNECTION_ID.fetch_add(1, Ordering::Relaxed);
        self.connecting.insert(id, Slot::Attempting(1));
        self.out.push_back(Action::Connect { id, attempt: 1 });
        id
    }

    pub(super) fn close(&mut self, conn: ConnectionId, reason: CloseReason) {
        if self.forget(conn) {
            self.closing += 1;
            self.out.push_back(Action::Close { conn, reason });
        }
    }

    /// Drops `conn` from the books; whether it was there.
    pub(super) fn forget(&mut self, conn: ConnectionId) -> bool {
        self.idle.retain(|(c, _)| *c != conn);
        self.open.remove(&conn).is_some()
    }

    pub(super) fn check_drained(&mut self) {
        if self.draining && self.open.is_empty() && self.connecting.is_empty() && self.closing == 0
        {
            self.out.push_back(Action::Drained);
        }
    }
}
