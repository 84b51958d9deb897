//! Lending: which caller gets a free connection, and pipelining places.

use std::time::Instant;

use switchboard_core::{CloseReason, ConnectionId};

use super::{Action, Open, Place, PoolState, Use};

impl PoolState {
    pub(super) fn set(&mut self, conn: ConnectionId, state: Use) {
        if let Some(open) = self.open.get_mut(&conn) {
            open.state = state;
        }
    }

    pub(super) fn needs_ping(&self, idle_since: Instant, now: Instant) -> bool {
        self.limits.check_every_lend
            || self
                .limits
                .ping_after
                .is_some_and(|after| now.saturating_duration_since(idle_since) >= after)
    }

    pub(super) fn expired(&self, conn: ConnectionId, now: Instant) -> bool {
        match (self.limits.max_lifetime, self.open.get(&conn)) {
            (Some(lifetime), Some(open)) => now.saturating_duration_since(open.opened) >= lifetime,
            _ => false,
        }
    }

    /// The pipelining connection with the fewest statements, if it has room
    /// for another.
    pub(super) fn pipeline_room(&self) -> Option<ConnectionId> {
        self.open
            .iter()
            .filter_map(|(id, o)| match o.state {
                Use::Pipelined(n) if n < self.limits.pipeline && !o.doomed => Some((*id, n)),
                _ => None,
            })
            .min_by_key(|(_, n)| *n)
            .map(|(id, _)| id)
    }

    pub(super) fn take_place(&mut self, conn: ConnectionId) {
        if let Some(Open {
            state: Use::Pipelined(n),
            ..
        }) = self.open.get_mut(&conn)
        {
            *n += 1;
        }
    }

    /// A connection its holder gave back: closed if the pool drains or it
    /// outlived its lifetime, else handed on.
    pub(super) fn reuse(&mut self, conn: ConnectionId, now: Instant) {
        if self.draining {
            self.close(conn, CloseReason::Shutdown);
        } else if self.expired(conn, now) {
            self.close(conn, CloseReason::Lifetime);
            self.replenish();
        } else if self.open.get(&conn).is_some_and(|o| o.doomed) {
            self.close(conn, CloseReason::Recycled);
            self.replenish();
        } else {
            self.free(conn, now);
        }
    }

    /// Gives a free connection to the longest-waiting caller (and, if that
    /// one pipelines, to those right behind it that do too), or idles it.
    pub(super) fn free(&mut self, conn: ConnectionId, now: Instant) {
        let Some(front) = self.waiters.front() else {
            self.set(conn, Use::Idle);
            self.idle.push((conn, now));
            return;
        };
        if front.pipelinable && self.limits.pipeline > 1 {
            self.set(conn, Use::Pipelined(0));
            self.fill_pipeline(conn);
            return;
        }
        if let Some(w) = self.waiters.pop_front() {
            self.set(conn, Use::Lent);
            self.out.push_back(Action::Grant {
                waiter: w.id,
                conn,
                place: Place::Whole,
                since: w.since,
            });
        }
    }

    /// Gives places on pipelining connection `conn` to the callers at the
    /// front of the queue that may pipeline, while it has room.
    pub(super) fn fill_pipeline(&mut self, conn: ConnectionId) {
        let depth = self.limits.pipeline;
        loop {
            let Some(Open {
                state: Use::Pipelined(n),
                doomed: false,
                ..
            }) = self.open.get_mut(&conn)
            else {
                return;
            };
            if *n >= depth || !self.waiters.front().is_some_and(|w| w.pipelinable) {
                return;
            }
            *n += 1;
            if let Some(w) = self.waiters.pop_front() {
                self.out.push_back(Action::Grant {
                    waiter: w.id,
                    conn,
                    place: Place::Pipelined,
                    since: w.since,
                });
            }
        }
    }
}
