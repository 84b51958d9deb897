//! [`Route`]: one publisher's own copy of the subscriptions that may take
//! its events.
//!
//! [`Bus::publish`] loads the shared list and checks every filter against
//! every event, the pool name included. A connection's emitter publishes
//! four events per statement, always of one pool: it keeps the
//! subscriptions whose filter takes that pool, and the kinds they take,
//! and rebuilds them only when the bus's version says the list changed.
//! Publishing then costs one atomic load and, per subscription, a bit test
//! (and a connection compare), with no pool name compared.
//!
//! A route holds its subscriptions' entries: one ended meanwhile (its
//! queue closed, so pushes to it are refused) is let go at the
//! publisher's next event, or when the publisher goes.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::{Bus, Entry};
use crate::event::{Event, Kind};

/// A publisher's subscriptions, as of one version of the bus's list.
#[derive(Default)]
pub(crate) struct Route {
    /// The list's version this was built from; `None` before the first.
    version: Option<u64>,
    /// The subscriptions whose filter takes the publisher's pool.
    list: Vec<Arc<Entry>>,
    /// Every kind at least one of them takes.
    kinds: u32,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("version", &self.version)
            .field("subscriptions", &self.list.len())
            .finish()
    }
}

impl Route {
    /// Whether some subscription of the route takes events of `kind`.
    pub(crate) fn hears(&self, kind: Kind) -> bool {
        self.kinds & kind.bit() != 0
    }

    /// Queues `event` (of the route's pool) for every subscription of the
    /// route whose filter takes it.
    pub(crate) fn publish(&self, event: &Event) {
        let bit = event.kind().bit();
        for sub in &self.list {
            if sub.filter.kind_bits() & bit != 0 && sub.filter.takes_connection(event) {
                sub.queue.push(event);
            }
        }
    }
}

impl Bus {
    /// Brings `route` up to date for a publisher of `pool`: rebuilt only
    /// when the subscriptions changed since it was built. A subscription
    /// added while this runs is seen by the next call, as if it had been
    /// added a moment later (as with [`Bus::publish`]).
    pub(crate) fn refresh(&self, pool: &str, route: &mut Route) {
        // Read before the list: a change stored after this read bumps the
        // version again, and the next call rebuilds.
        let version = self.inner.version.load(Ordering::Acquire);
        if route.version == Some(version) {
            return;
        }
        let subs = self.inner.subs.load();
        route.list.clear();
        route
            .list
            .extend(subs.iter().filter(|s| s.filter.takes_pool(pool)).cloned());
        route.kinds = route
            .list
            .iter()
            .fold(0, |kinds, s| kinds | s.filter.kind_bits());
        route.version = Some(version);
    }
}
