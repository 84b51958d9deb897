//! Ending a bus: every subscription ends once it has received what was
//! queued for it, when the last pool publishing on the bus has drained.
//!
//! Until then a channel subscriber's `for event in rx.iter()` waits for
//! more for ever, a `listen` thread parks, and an actor subscriber stays
//! subscribed (and alive). A pool [attaches](Bus::attach_pool) itself to
//! its bus when it starts and releases the attachment at the end of its
//! drain; the last release [closes](Bus::close) the bus, unless another
//! pool sharing the bus is still running.

use std::sync::atomic::{AtomicBool, Ordering};

use super::Bus;

impl Bus {
    /// Ends every current subscription once it has received what is queued
    /// for it: pushes to them stop, a lossy one gets its last `Lagged`
    /// notice, then channels disconnect (after the events already in them
    /// are read), `listen` and `subscribe_fn` threads return (dropping
    /// their closures), actor subscribers are let go (their `Recipient`
    /// dropped; a supervised actor's arbiter stopped), and each leaves the
    /// bus's list. [`flush`](Bus::flush) still waits for the lossless ones.
    ///
    /// Does not wait. The bus stays usable: a subscription made afterwards
    /// receives what is published afterwards. A pool calls this through
    /// [`PoolAttachment::release`]; call it directly for a bus no pool
    /// publishes on (one fed by a `NatsSource`, or by hand).
    pub fn close(&self) {
        for sub in self.inner.subs.load().iter() {
            sub.queue.finish();
        }
    }

    /// Counts a pool publishing on this bus until the returned attachment
    /// is released (or dropped); releasing the last one closes the bus
    /// ([`Bus::close`]). A pool's manager holds one from its start to the
    /// end of its drain, so that subscriptions end with the pool unless a
    /// pool still running shares the bus.
    pub fn attach_pool(&self) -> PoolAttachment {
        self.inner.pools.fetch_add(1, Ordering::AcqRel);
        PoolAttachment {
            bus: self.clone(),
            released: AtomicBool::new(false),
        }
    }

    /// Pools attached now ([`Bus::attach_pool`]).
    pub fn attached_pools(&self) -> usize {
        self.inner.pools.load(Ordering::Acquire)
    }
}

/// A pool publishing on a bus ([`Bus::attach_pool`]).
#[derive(Debug)]
#[must_use = "dropping the attachment releases it at once"]
pub struct PoolAttachment {
    bus: Bus,
    released: AtomicBool,
}

impl PoolAttachment {
    /// The pool has drained and publishes no more: if no other pool is
    /// attached to the bus, the bus closes ([`Bus::close`]). Only the first
    /// call counts.
    pub fn release(&self) {
        if self.released.swap(true, Ordering::AcqRel) {
            return;
        }
        if self.bus.inner.pools.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.bus.close();
        }
    }
}

impl Drop for PoolAttachment {
    /// A pool that is gone publishes no more, drained or not.
    fn drop(&mut self) {
        self.release();
    }
}
