//! The handle an observer returns when it is attached to a bus.

use switchboard_core::{Bus, SubscriptionId, SubscriptionStats};

/// An observer's subscription on a bus. Dropping it (or calling
/// [`detach`](Self::detach)) ends the subscription and stops its thread;
/// keep it for as long as the observer should run.
#[derive(Debug)]
#[must_use = "dropping the handle detaches the observer at once"]
pub struct Attached {
    /// The bus subscribed to; kept to unsubscribe and to read counters.
    bus: Bus,
    id: SubscriptionId,
}

impl Attached {
    pub(crate) fn new(bus: Bus, id: SubscriptionId) -> Self {
        Attached { bus, id }
    }

    /// The subscription on the bus.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The subscription's counters (delivered, dropped, queued, restarts).
    pub fn stats(&self) -> Option<SubscriptionStats> {
        self.bus.subscription_stats(self.id)
    }

    /// Events the bus dropped because this observer fell behind (it is a
    /// lossy subscriber: a stalled observer never slows a statement).
    pub fn dropped(&self) -> u64 {
        self.stats().map_or(0, |s| s.dropped)
    }

    /// Ends the subscription now.
    pub fn detach(self) {
        // Drop does the work.
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.bus.unsubscribe(self.id);
    }
}
