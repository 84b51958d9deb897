//! The manager's bookkeeping: open connections, the idle set and the FIFO
//! queue of waiting callers.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use actix::Addr;
use switchboard_core::{ConnectionId, Emitter, Result};
use tokio::sync::oneshot;

use crate::connection::ConnectionActor;
use crate::lease::Grant;
use crate::shared::Counters;

/// A caller waiting for a connection; its receiver may have given up.
pub(crate) struct Waiter {
    pub(crate) tx: oneshot::Sender<Result<Grant>>,
    pub(crate) since: Instant,
    /// Its message may share a connection with others (see
    /// `PoolConfig::pipeline`).
    pub(crate) pipelinable: bool,
}

#[derive(Default)]
pub(crate) struct PoolState {
    /// Every open connection.
    pub(crate) open: HashMap<ConnectionId, Arc<Addr<ConnectionActor>>>,
    /// The emitter of every open connection: its status and leak reports.
    pub(crate) emitters: HashMap<ConnectionId, Arc<Emitter>>,
    /// Open connections nobody has, with when they became idle; the most
    /// recently used last (LIFO keeps a few connections warm instead of
    /// cycling through all, and lets the rest reach the idle timeout).
    pub(crate) idle: Vec<(ConnectionId, Instant)>,
    /// Connections carrying pipelined statements, with how many: neither
    /// idle nor lent to one caller.
    pub(crate) pipelined: HashMap<ConnectionId, usize>,
    /// Callers in arrival order.
    pub(crate) waiters: VecDeque<Waiter>,
    /// Connect attempts under way.
    pub(crate) connecting: usize,
    /// Close requests under way.
    pub(crate) closing: usize,
}

impl PoolState {
    /// Open plus opening connections: what counts against the maximum.
    pub(crate) fn size(&self) -> usize {
        self.open.len() + self.connecting
    }

    /// Whether a connection is in the idle set.
    pub(crate) fn is_idle(&self, id: ConnectionId) -> bool {
        self.idle.iter().any(|(i, _)| *i == id)
    }

    /// The pipelining connection with the fewest statements, if it has
    /// room for another below `depth`.
    pub(crate) fn pipeline_room(&self, depth: usize) -> Option<ConnectionId> {
        self.pipelined
            .iter()
            .filter(|(_, n)| **n < depth)
            .min_by_key(|(_, n)| **n)
            .map(|(id, _)| *id)
    }

    /// Forgets callers that stopped waiting.
    pub(crate) fn prune_waiters(&mut self) {
        self.waiters.retain(|w| !w.tx.is_closed());
    }

    pub(crate) fn remove(&mut self, id: ConnectionId) -> Option<Arc<Addr<ConnectionActor>>> {
        self.idle.retain(|(i, _)| *i != id);
        self.pipelined.remove(&id);
        self.emitters.remove(&id);
        self.open.remove(&id)
    }

    /// Publishes the sizes for handles and errors to read.
    pub(crate) fn publish(&self, counters: &Counters) {
        counters.open.store(self.open.len(), Ordering::Relaxed);
        counters.idle.store(self.idle.len(), Ordering::Relaxed);
        counters
            .waiting
            .store(self.waiters.len(), Ordering::Relaxed);
        counters
            .connecting
            .store(self.connecting, Ordering::Relaxed);
    }
}
