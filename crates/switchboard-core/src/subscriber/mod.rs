//! The subscriber contract: how every observer of a bus attaches to it, and
//! the one handle it returns.
//!
//! As in `tracing`, producers and consumers meet on a small core: the audit
//! log, the NATS exporter, the metrics and the logger each implement
//! [`Subscriber`], so a pool's builder and handle take any of them through
//! one `attach`, and each gives back a [`Subscription`]. The bus's own
//! methods (`subscribe`, `subscribe_supervised`, `subscribe_fn`,
//! `subscribe_channel`, `listen`) stay the raw layer underneath, returning
//! bare [`SubscriptionId`]s.

mod owned;

use parking_lot::Mutex;

use crate::bus::{Bus, SubscriptionId, SubscriptionStats};
pub use owned::OwnedSubscriptions;

/// Something that observes a bus: it subscribes itself (and starts whatever
/// threads or gates it needs) and hands back the subscription.
///
/// Implemented by value for subscribers that are consumed by attaching
/// (a logger, metrics), and by reference for those that live on after it,
/// to be flushed and closed (`&AuditLog`, `&NatsExporter`), which may be
/// attached to several buses.
pub trait Subscriber {
    /// What attaching can fail with.
    type Error: std::error::Error + Send + Sync + 'static;

    /// Subscribes to `bus`.
    fn attach(self, bus: &Bus) -> Result<Subscription, Self::Error>;
}

/// Work that ends with a subscription (a gate to remove, a thread to stop).
type OnEnd = Box<dyn FnOnce() + Send>;

/// A subscription on a bus, as its subscriber hands it back: its id and
/// counters, and the way to end it.
///
/// Dropping it, or calling [`detach`](Self::detach), ends the subscription:
/// the bus stops queueing for it and its pump stops, and whatever the
/// subscriber tied to it (a sampler thread, a durability gate) ends too.
/// The one exception is a subscriber that owns its subscriptions and ends
/// them itself when it is closed, so that a handle dropped by mistake
/// cannot silently end an audit trail: `switchboard-audit`'s `AuditLog`
/// and `switchboard-nats`'s `NatsExporter` return handles
/// [kept](Self::kept) that way ([`ends_on_drop`](Self::ends_on_drop) says
/// which it is), and end their subscriptions when they are closed or
/// dropped ([`OwnedSubscriptions`]); `detach` on such a handle still ends
/// the subscription at once.
#[must_use = "dropping a Subscription ends it at once (unless its subscriber keeps it): bind it, or call `detach`"]
pub struct Subscription {
    /// The bus subscribed to; kept to unsubscribe and to read counters.
    bus: Bus,
    id: SubscriptionId,
    /// Run once when this handle ends the subscription. A mutex only so
    /// that the handle is `Sync` (the boxes are `Send` but not `Sync`); it
    /// is taken once, by `detach` or drop.
    on_end: Mutex<Vec<OnEnd>>,
    /// Whether dropping the handle ends the subscription.
    ends_on_drop: bool,
}

impl std::fmt::Debug for Subscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("ends_on_drop", &self.ends_on_drop)
            .finish_non_exhaustive()
    }
}

impl Subscription {
    /// The handle of subscription `id` on `bus`, which ends it when
    /// dropped. For subscribers built on the bus's raw methods.
    pub fn new(bus: &Bus, id: SubscriptionId) -> Self {
        Subscription {
            bus: bus.clone(),
            id,
            on_end: Mutex::new(Vec::new()),
            ends_on_drop: true,
        }
    }

    /// Also runs `f` when this handle ends the subscription (after it has
    /// left the bus): to stop a thread or remove a gate that exists for it.
    pub fn on_end(self, f: impl FnOnce() + Send + 'static) -> Self {
        self.on_end.lock().push(Box::new(f));
        self
    }

    /// The same handle, except that dropping it no longer ends the
    /// subscription: it runs on until [`detach`](Self::detach),
    /// [`Bus::unsubscribe`] with its id, its subscriber stops, or the bus
    /// [closes](Bus::close).
    pub fn kept(mut self) -> Self {
        self.ends_on_drop = false;
        self
    }

    /// Whether dropping this handle ends the subscription (see
    /// [`kept`](Self::kept)).
    pub fn ends_on_drop(&self) -> bool {
        self.ends_on_drop
    }

    /// The subscription's id on the bus.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The bus.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The subscription's counters (delivered, dropped, queued, restarts);
    /// `None` once it has ended.
    pub fn stats(&self) -> Option<SubscriptionStats> {
        self.bus.subscription_stats(self.id)
    }

    /// Events the bus dropped because this subscriber fell behind (lossy
    /// subscriptions only: a lossless one holds statements back instead).
    pub fn dropped(&self) -> u64 {
        self.stats().map_or(0, |s| s.dropped)
    }

    /// Ends the subscription now, kept or not.
    pub fn detach(mut self) {
        self.end();
    }

    fn end(&mut self) {
        self.bus.unsubscribe(self.id);
        for f in std::mem::take(&mut *self.on_end.lock()) {
            f();
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        if self.ends_on_drop {
            self.end();
        }
    }
}

#[cfg(test)]
mod tests;
