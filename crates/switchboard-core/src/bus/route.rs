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

use super::{Bus, Entry, TapEntry, kinds_of};
use crate::event::{Event, Kind, Meta, Payload};

/// A publisher's subscriptions, as of one version of the bus's list.
#[derive(Default)]
pub(crate) struct Route {
    /// The list's version this was built from; `None` before the first.
    version: Option<u64>,
    /// The subscriptions whose filter takes the publisher's pool.
    list: Vec<Arc<Entry>>,
    /// The taps whose filter takes it.
    taps: Vec<Arc<TapEntry>>,
    /// Every kind at least one subscription of `list` takes.
    queued: u32,
    /// Every kind at least one tap takes.
    tapped: u32,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Route")
            .field("version", &self.version)
            .field("subscriptions", &self.list.len())
            .field("taps", &self.taps.len())
            .finish()
    }
}

impl Route {
    /// Whether some subscription or tap of the route takes events of
    /// `kind`.
    pub(crate) fn hears(&self, kind: Kind) -> bool {
        (self.queued | self.tapped) & kind.bit() != 0
    }

    /// Whether some subscription of the route (a tap aside) takes events
    /// of `kind`: else an event of that kind need not be made.
    pub(crate) fn queues(&self, kind: Kind) -> bool {
        self.queued & kind.bit() != 0
    }

    /// Calls every tap of the route whose filter takes this event (of the
    /// route's pool).
    pub(crate) fn tap(&self, meta: &Meta, payload: &Payload) {
        let kind = payload.kind();
        if self.tapped & kind.bit() == 0 {
            return;
        }
        for tap in &self.taps {
            if tap.filter.takes_in_pool(kind, meta.connection) {
                tap.record(meta, payload);
            }
        }
    }

    /// Queues `event` (of the route's pool) for every subscription of the
    /// route whose filter takes it.
    pub(crate) fn publish(&self, event: &Event) {
        let (kind, connection) = (event.kind(), event.meta().connection);
        for sub in &self.list {
            if sub.filter.takes_in_pool(kind, connection) {
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
        route.taps.clear();
        route.taps.extend(
            subs.taps
                .iter()
                .filter(|t| t.filter.takes_pool(pool))
                .cloned(),
        );
        route.queued = kinds_of(route.list.iter().map(|s| &s.filter));
        route.tapped = kinds_of(route.taps.iter().map(|t| &t.filter));
        route.version = Some(version);
    }
}
