//! Lending: which caller gets a free connection, and pipelining places.
//!
//! Where a statement goes (measured with the `workloads` bench; see
//! benches/README.md):
//! - A statement not known to be fast ([`Want::Whole`]: never measured, or
//!   measured slow, see `timings`), and any lease, transaction or closure,
//!   gets a connection to itself, so nothing ever waits behind it. A 50 ms
//!   statement pipelined with fast ones held each of them for its 50 ms
//!   (`mixed`: p50 50.6 ms; alone on its connection: 0.1 ms).
//! - A read known to be fast ([`Want::Read`]) joins the pipelining
//!   connection with the fewest statements that has room, else starts
//!   pipelining on an idle connection. Sharing a connection is what makes
//!   reads cheap: a caller's statement costs less than half the client CPU
//!   pipelined than alone (`SELECT 1` at concurrency 8: 7.8 against 16.7 µs
//!   per statement, 1.5 times deadpool's statements/s against 0.87 times),
//!   because the client writes and the server reads many statements per
//!   system call and wake-up. The pool's depth defaults to 32 for that
//!   reason: at concurrency 32, one connection carrying all the reads gave
//!   1.3 times the throughput of four carrying eight each.
//! - A write known to be fast ([`Want::Write`]) takes an idle connection
//!   first, and joins a pipeline only when none is idle: the server runs a
//!   connection's statements one after another, so autocommit writes
//!   pipelined on one connection each wait for their own log flush, where
//!   writes on several connections share one.
//! - Nothing joins a pipeline whose head statement (the one being
//!   answered) has run for [`STALLED_AFTER`]: however fast it used to be,
//!   it is slow now. A caller that finds no place queues, and is served
//!   when a place or a connection frees.
//! - Callers queued for a connection to themselves do not hold up
//!   statements that may share one: behind only such callers, a fast
//!   statement still joins a pipeline with room. So that those callers
//!   are not starved by pipelines that never empty, one pipelining
//!   connection (the one with the fewest statements) takes no new
//!   statement while they wait, and drains for them. Before, a slow
//!   statement queued for a whole connection made every fast statement
//!   after it wait until some pipeline emptied.

use std::time::{Duration, Instant};

use switchboard_core::{CloseReason, ConnectionId};

use super::{Action, Open, Place, PoolState, Use, Want};

/// A pipeline whose head statement has run this long takes no more
/// statements behind it. Fast statements take tens of microseconds; on a
/// busy machine a few run longer, and then the statements that would have
/// joined them take an idle connection or wait for a place instead.
pub(crate) const STALLED_AFTER: Duration = Duration::from_millis(1);

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

    /// Where a caller arriving now goes, if a connection or a place is free
    /// for it without a ping: see the module doc.
    pub(super) fn place(&mut self, want: Want, now: Instant) -> Option<(ConnectionId, Place)> {
        let pipelines = want.pipelinable() && self.limits.pipeline > 1;
        if want == Want::Read
            && pipelines
            && let Some(conn) = self.join_pipeline(now)
        {
            return Some((conn, Place::Pipelined));
        }
        if let Some(&(conn, since)) = self.idle.last()
            && !self.needs_ping(since, now)
        {
            self.idle.pop();
            if pipelines {
                self.set(
                    conn,
                    Use::Pipelined {
                        statements: 1,
                        head_since: now,
                    },
                );
                return Some((conn, Place::Pipelined));
            }
            self.set(conn, Use::Lent);
            return Some((conn, Place::Whole));
        }
        if pipelines && let Some(conn) = self.join_pipeline(now) {
            return Some((conn, Place::Pipelined));
        }
        None
    }

    /// A place on the pipeline [`pipeline_room`](Self::pipeline_room)
    /// finds, taken.
    pub(super) fn join_pipeline(&mut self, now: Instant) -> Option<ConnectionId> {
        let conn = self.pipeline_room(now)?;
        self.take_place(conn);
        Some(conn)
    }

    /// Whether the statement at the head of a pipeline placed at
    /// `head_since` has run long enough to be taken for a slow one.
    fn stalled(&self, head_since: Instant, now: Instant) -> bool {
        now.saturating_duration_since(head_since) >= STALLED_AFTER
    }

    /// The pipelining connection with the fewest statements that has room
    /// for another, is not stalled behind a slow statement, and is not
    /// draining for a caller that needs a connection to itself.
    pub(super) fn pipeline_room(&self, now: Instant) -> Option<ConnectionId> {
        let drains = self.draining_for_whole();
        self.least_busy_pipeline(|id, statements, head_since| {
            statements < self.limits.pipeline
                && drains != Some(id)
                && !self.stalled(head_since, now)
        })
    }

    /// The pipelining connection, not doomed, with the fewest statements
    /// among those `admits` (given its id, statements and head's start).
    fn least_busy_pipeline(
        &self,
        admits: impl Fn(ConnectionId, usize, Instant) -> bool,
    ) -> Option<ConnectionId> {
        self.open
            .iter()
            .filter_map(|(&id, o)| match o.state {
                Use::Pipelined {
                    statements,
                    head_since,
                } if !o.doomed && admits(id, statements, head_since) => Some((id, statements)),
                _ => None,
            })
            .min_by_key(|(_, n)| *n)
            .map(|(id, _)| id)
    }

    /// The connection left to drain for a caller that needs a connection
    /// to itself, while one waits.
    fn draining_for_whole(&self) -> Option<ConnectionId> {
        self.reserved.filter(|_| self.whole_waits())
    }

    /// Whether a caller that needs a connection to itself waits.
    fn whole_waits(&self) -> bool {
        self.waiters.iter().any(|w| w.want == Want::Whole)
    }

    /// Picks the connection to drain for a caller waiting for a connection
    /// to itself, when one waits, none is idle, and none was picked (or the
    /// one picked no longer pipelines): the pipelining connection with the
    /// fewest statements. Forgets it when no such caller waits.
    pub(super) fn reserve(&mut self) {
        let whole_waits = self.whole_waits();
        let pipelining = |s: &Self, c: ConnectionId| {
            matches!(s.open.get(&c).map(|o| o.state), Some(Use::Pipelined { .. }))
        };
        self.reserved = match self.reserved {
            _ if !whole_waits => None,
            Some(c) if pipelining(self, c) => Some(c),
            _ if !self.idle.is_empty() => None,
            _ => self.least_busy_pipeline(|_, _, _| true),
        };
    }

    pub(super) fn take_place(&mut self, conn: ConnectionId) {
        if let Some(Open {
            state: Use::Pipelined { statements, .. },
            ..
        }) = self.open.get_mut(&conn)
        {
            *statements += 1;
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
        // Drained: whoever is first in the queue gets it now.
        if self.reserved == Some(conn) {
            self.reserved = None;
        }
        let Some(front) = self.waiters.front() else {
            self.set(conn, Use::Idle);
            self.idle.push((conn, now));
            return;
        };
        if front.want.pipelinable() && self.limits.pipeline > 1 {
            self.set(
                conn,
                Use::Pipelined {
                    statements: 0,
                    head_since: now,
                },
            );
            self.fill_pipeline(conn, now);
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
    /// front of the queue that may pipeline, while it has room. Called when
    /// its head statement just changed (or it just started pipelining), so
    /// it is never stalled here.
    pub(super) fn fill_pipeline(&mut self, conn: ConnectionId, _now: Instant) {
        // Left to drain for a caller that needs a connection to itself.
        if self.draining_for_whole() == Some(conn) {
            return;
        }
        let depth = self.limits.pipeline;
        loop {
            let Some(Open {
                state: Use::Pipelined { statements, .. },
                doomed: false,
                ..
            }) = self.open.get_mut(&conn)
            else {
                return;
            };
            // The first caller that may share: only callers that need a
            // connection to themselves are before it, and they do not
            // hold it up (see `arrive`).
            let next = self.waiters.iter().position(|w| w.want.pipelinable());
            let Some(next) = next.filter(|_| *statements < depth) else {
                return;
            };
            *statements += 1;
            if let Some(w) = self.waiters.remove(next) {
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
