//! The pool's decisions as plain data: who gets which connection, in what
//! order, when to open, ping, close or retry, and when a drain is done.
//!
//! Nothing here touches actix, a clock or a database. The manager actor
//! feeds inputs (a caller arrives, a connection comes back, a connect
//! failed, a timer fired) and carries out the [`Action`]s that come out of
//! [`PoolState::next_action`], reporting back what it could not do (a
//! caller that gave up before its grant reached it: [`PoolState::refused`]).
//! Time is an input, so the tests drive it.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::time::Instant;

use switchboard_core::{CloseReason, ConnectionId};

use crate::FastMap;

mod actions;
mod lend;
mod limits;
mod size;

pub(crate) use actions::{Action, Arrival, Place, Refusal, Release, Want};
pub(crate) use limits::Limits;

/// Connection ids are unique in the process, so events of several pools
/// never share one.
static NEXT_CONNECTION_ID: AtomicU64 = AtomicU64::new(1);

/// A caller waiting in the queue.
pub(crate) type WaiterId = u64;

/// What an open connection is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Use {
    /// In the idle set.
    Idle,
    /// Lent whole to one caller.
    Lent,
    /// Being checked before a queued caller gets it.
    Pinging,
    /// Carrying `statements` pipelined statements. The one at the head
    /// (sent first, answered next) has been running since `head_since`:
    /// since it was placed on an empty pipeline, or since the statement
    /// before it was answered.
    Pipelined {
        statements: usize,
        head_since: Instant,
    },
}

#[derive(Debug)]
struct Open {
    opened: Instant,
    state: Use,
    /// `recycle()` asked for it to be replaced: closed instead of lent
    /// again, and takes no new pipelined statements.
    doomed: bool,
}

/// A connect slot: counted against the maximum from its first attempt
/// until it opens or is given up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Attempt `n` is under way.
    Attempting(u32),
    /// Waiting out the backoff before attempt `n`.
    BackingOff(u32),
}

#[derive(Debug)]
struct Waiter {
    id: WaiterId,
    since: Instant,
    want: Want,
}

/// The pool's bookkeeping. See the module doc.
#[derive(Debug)]
pub(crate) struct PoolState {
    limits: Limits,
    /// Every open connection and what it is doing.
    open: FastMap<ConnectionId, Open>,
    /// Idle connections with when they became idle, the most recently used
    /// last: lending from the end keeps a few connections warm and lets the
    /// rest reach the idle timeout.
    idle: Vec<(ConnectionId, Instant)>,
    /// Callers in arrival order.
    waiters: VecDeque<Waiter>,
    /// While a caller that needs a connection to itself waits and none is
    /// idle: the pipelining connection left to drain for it, which takes
    /// no new statement (see `arrive`).
    reserved: Option<ConnectionId>,
    /// Connections being opened.
    connecting: FastMap<ConnectionId, Slot>,
    /// Close requests not yet done.
    closing: usize,
    /// Set by `shutdown`: no new work; connections close as they come back.
    draining: bool,
    next_waiter: WaiterId,
    /// Actions not yet taken by the manager.
    out: VecDeque<Action>,
}

impl PoolState {
    pub(crate) fn new(limits: Limits) -> Self {
        PoolState {
            limits,
            open: FastMap::default(),
            idle: Vec::new(),
            waiters: VecDeque::new(),
            reserved: None,
            connecting: FastMap::default(),
            closing: 0,
            draining: false,
            next_waiter: 1,
            out: VecDeque::new(),
        }
    }

    /// Whether no action waits for the manager.
    pub(crate) fn settled(&self) -> bool {
        self.out.is_empty()
    }

    /// The next thing to do, in the order decided.
    pub(crate) fn next_action(&mut self) -> Option<Action> {
        self.out.pop_front()
    }

    // ---- inputs ----

    /// A caller asks for a connection, or a place on one (see [`Want`]).
    /// Served at once if nobody is queued before it and [`Self::place`]
    /// finds it a connection or a place; otherwise queued, and the pool
    /// pings an idle connection for it or grows.
    ///
    /// Callers that each need a connection to themselves do not hold up
    /// statements that may share one: behind only such callers, a
    /// statement joins a pipeline with room, if one has (never the
    /// connection left to drain for them, never an idle one). Otherwise a
    /// slow statement's caller, queued for a whole connection, made every
    /// fast statement after it wait until some pipeline emptied. Behind a
    /// caller that may share, it queues: that one found no room either.
    pub(crate) fn arrive(&mut self, want: Want, now: Instant) -> Arrival {
        if self.draining {
            return Arrival::ShuttingDown;
        }
        if let Some((conn, place)) = self.lend_now(want, now) {
            return Arrival::Now { conn, place };
        }
        if want.pipelinable()
            && self.limits.pipeline > 1
            && !self.waiters.iter().any(|w| w.want.pipelinable())
            && let Some(conn) = self.join_pipeline(now)
        {
            return Arrival::Now {
                conn,
                place: Place::Pipelined,
            };
        }
        let id = self.next_waiter;
        self.next_waiter += 1;
        self.waiters.push_back(Waiter {
            id,
            since: now,
            want,
        });
        self.grow();
        self.reserve();
        Arrival::Queued(id)
    }

    /// A caller arriving now served at once, if the pool is not draining,
    /// nobody is queued and [`Self::place`] finds it a connection or a
    /// place without a ping: what [`Self::arrive`] does first. Otherwise
    /// nothing changes and no action comes of it, so a caller may ask
    /// this without the manager (see `Ledger::lend_now`) and go to the
    /// manager on `None`.
    pub(crate) fn lend_now(&mut self, want: Want, now: Instant) -> Option<(ConnectionId, Place)> {
        if self.draining || !self.waiters.is_empty() {
            return None;
        }
        self.place(want, now)
    }

    /// A queued caller stopped waiting (it timed out or was dropped).
    pub(crate) fn abandon(&mut self, waiter: WaiterId) {
        self.waiters.retain(|w| w.id != waiter);
        self.reserve();
    }

    /// A grant could not be delivered: its caller had given up. The
    /// connection (or place) goes to the next caller.
    pub(crate) fn refused(&mut self, conn: ConnectionId, place: Place, now: Instant) {
        match place {
            Place::Whole => self.reuse(conn, now),
            Place::Pipelined => self.released(conn, Release::PlaceFreed, now),
        }
    }

    /// A connection came back from its holder.
    pub(crate) fn released(&mut self, conn: ConnectionId, how: Release, now: Instant) {
        let Some(open) = self.open.get_mut(&conn) else {
            // Already forgotten: closed by the pool, or gone before.
            return;
        };
        match how {
            Release::Gone => {
                self.forget(conn);
                self.replenish();
                self.check_drained();
            }
            Release::PlaceFreed => {
                let Use::Pipelined {
                    statements,
                    head_since,
                } = &mut open.state
                else {
                    return;
                };
                // Answers come in order: the next statement is the head now.
                *statements = statements.saturating_sub(1);
                *head_since = now;
                if *statements > 0 {
                    self.fill_pipeline(conn, now);
                } else {
                    self.reuse(conn, now);
                }
            }
            Release::Free => self.reuse(conn, now),
        }
        self.reserve();
    }

    /// Connect slot `id` opened its connection.
    pub(crate) fn connected(&mut self, id: ConnectionId, now: Instant) {
        self.connecting.remove(&id);
        self.open.insert(
            id,
            Open {
                opened: now,
                state: Use::Lent,
                doomed: false,
            },
        );
        if self.draining {
            self.close(id, CloseReason::Shutdown);
        } else if self.limits.check_every_lend && !self.waiters.is_empty() {
            // New connections are checked too before they are lent.
            self.set(id, Use::Pinging);
            self.out.push_back(Action::Ping { conn: id });
        } else {
            self.free(id, now);
        }
    }

    /// Connect slot `id` failed. `retryable`: another attempt could succeed
    /// (not a wrong password, a denial, or a failed warm-up that must fail
    /// fast). It is retried after a backoff while someone needs a
    /// connection. Returns whether it will be.
    pub(crate) fn connect_failed(&mut self, id: ConnectionId, retryable: bool) -> bool {
        let attempt = match self.connecting.remove(&id) {
            Some(Slot::Attempting(n) | Slot::BackingOff(n)) => n,
            None => return false,
        };
        let retry = retryable && !self.draining && self.demand();
        if retry {
            // The slot stays counted while it waits, so callers arriving
            // meanwhile do not start attempts of their own.
            let next = attempt + 1;
            self.connecting.insert(id, Slot::BackingOff(next));
            self.out.push_back(Action::Backoff { id, attempt: next });
            return true;
        }
        // The callers it was opened for may be served by idle connections
        // (no new attempt: one that cannot succeed would loop).
        self.ping_idle();
        if self.open.is_empty() && self.connecting.is_empty() {
            for w in self.waiters.drain(..) {
                self.out.push_back(Action::Refuse {
                    waiter: w.id,
                    why: Refusal::ConnectFailed,
                });
            }
        }
        self.check_drained();
        false
    }

    /// The backoff of slot `id` is over: the next attempt starts if someone
    /// still needs a connection.
    pub(crate) fn retry_due(&mut self, id: ConnectionId) {
        let Some(Slot::BackingOff(attempt)) = self.connecting.remove(&id) else {
            return;
        };
        // Asked with the slot not counted, or it would meet its own demand.
        if !self.draining && self.demand() {
            self.connecting.insert(id, Slot::Attempting(attempt));
            self.out.push_back(Action::Connect { id, attempt });
        } else {
            self.check_drained();
        }
    }

    /// The ping of `conn` ended; a connection that failed it closed itself.
    pub(crate) fn pinged(&mut self, conn: ConnectionId, ok: bool, now: Instant) {
        if !self.open.contains_key(&conn) {
            return;
        }
        if !ok {
            self.forget(conn);
            self.replenish();
            self.check_drained();
        } else {
            self.reuse(conn, now);
        }
    }

    /// A close the pool asked for is done.
    pub(crate) fn closed(&mut self) {
        self.closing = self.closing.saturating_sub(1);
        self.check_drained();
    }

    /// Closes idle connections past their lifetime, or idle too long while
    /// the pool is above its minimum; then refills to the minimum.
    pub(crate) fn reap(&mut self, now: Instant) {
        if self.draining {
            return;
        }
        let mut keep = self.open.len();
        let mut doomed = Vec::new();
        // Oldest idle first: those are the ones past the idle timeout.
        for &(conn, since) in &self.idle {
            if self.expired(conn, now) {
                doomed.push((conn, CloseReason::Lifetime));
                keep -= 1;
            } else if self
                .limits
                .idle_timeout
                .is_some_and(|t| now.saturating_duration_since(since) >= t)
                && keep > self.limits.min
            {
                doomed.push((conn, CloseReason::Idle));
                keep -= 1;
            }
        }
        if doomed.is_empty() {
            return;
        }
        for (conn, reason) in doomed {
            self.close(conn, reason);
        }
        self.replenish();
    }

    /// Replaces every connection, without stopping the pool (HikariCP's
    /// `softEvictConnections`): idle ones now, the others as they come
    /// back; new ones open for callers and the minimum meanwhile. Returns
    /// `false` during a drain, when there is nothing to replace them for.
    pub(crate) fn recycle(&mut self) -> bool {
        if self.draining {
            return false;
        }
        for open in self.open.values_mut() {
            open.doomed = true;
        }
        for (conn, _) in std::mem::take(&mut self.idle) {
            self.close(conn, CloseReason::Recycled);
        }
        self.replenish();
        true
    }

    /// Opens the minimum number of connections; returns their slots.
    pub(crate) fn warm(&mut self) -> Vec<ConnectionId> {
        (0..self.limits.min).map(|_| self.spawn()).collect()
    }

    /// Starts the drain: waiting callers are turned away, idle connections
    /// closed, backoffs cancelled; the rest close as they come back.
    pub(crate) fn shutdown(&mut self) {
        if !self.draining {
            self.draining = true;
            for w in self.waiters.drain(..) {
                self.out.push_back(Action::Refuse {
                    waiter: w.id,
                    why: Refusal::ShuttingDown,
                });
            }
            for (conn, _) in std::mem::take(&mut self.idle) {
                self.close(conn, CloseReason::Shutdown);
            }
            let backing_off: Vec<_> = self
                .connecting
                .iter()
                .filter(|(_, s)| matches!(s, Slot::BackingOff(_)))
                .map(|(id, _)| *id)
                .collect();
            for id in backing_off {
                self.connecting.remove(&id);
                self.out.push_back(Action::CancelBackoff { id });
            }
        }
        self.check_drained();
    }

    // ---- what the manager reads ----

    pub(crate) fn open_count(&self) -> usize {
        self.open.len()
    }

    pub(crate) fn idle_count(&self) -> usize {
        self.idle.len()
    }

    pub(crate) fn waiting(&self) -> usize {
        self.waiters.len()
    }

    pub(crate) fn connecting_count(&self) -> usize {
        self.connecting.len()
    }

    pub(crate) fn is_idle(&self, conn: ConnectionId) -> bool {
        self.open.get(&conn).is_some_and(|o| o.state == Use::Idle)
    }

    pub(crate) fn is_connecting(&self, id: ConnectionId) -> bool {
        self.connecting.contains_key(&id)
    }
}

#[cfg(test)]
mod invariants;
#[cfg(test)]
mod tests;
