//! The broadcast bus: fans each event out to subscriptions, each with a
//! filter and a delivery contract.
//!
//! Publishing is synchronous and cheap: for every subscription whose filter
//! matches, the shared event (an `Arc`) is pushed onto that subscription's
//! bounded queue. A pump per subscription delivers from the queue to the
//! subscriber (an actix actor, a supervised actor fed in its own context, a
//! crossbeam channel, or a closure on its own thread). Lossless
//! subscriptions push back on publishers through [`Bus::ready`], which a
//! connection awaits before it runs a statement.

mod close;
mod feed;
mod gate;
mod listen;
mod pump;
mod queue;
mod route;
mod supervise;
mod tap;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use crossbeam_queue::ArrayQueue;

use crate::error::{Error, Result};
use crate::event::{Event, Kind, Meta, Payload, Spare};
use crate::filter::Filter;
pub use close::PoolAttachment;
pub use gate::Gate;
pub use pump::{EventReceiver, Flow, MAX_REDELIVERIES};
use queue::Queue;
pub(crate) use route::Route;
pub use tap::Tap;
use tap::TapEntry;

/// How a subscription receives events when it falls behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Delivery {
    /// Never slows a statement. Holds up to `capacity` undelivered events;
    /// past that, events are dropped and counted, and the subscriber later
    /// receives one `Lagged { dropped }` notice with the exact count, in the
    /// place where the events went missing. For logging and metrics.
    Lossy {
        /// Undelivered events held before dropping.
        capacity: usize,
    },
    /// Never drops. While more than `capacity` events wait for this
    /// subscriber, connections hold back new statements; a statement that
    /// cannot start within `deadline` fails with [`Error::Backpressure`]
    /// instead of running unobserved. Connections held back resume once the
    /// subscriber is down to half its capacity (or, at the deadline, if it
    /// is back within it), so that they do not take turns with it event by
    /// event. For audit.
    Lossless {
        /// Undelivered events held before publishers wait.
        capacity: usize,
        /// How long a statement waits for room before failing.
        deadline: Duration,
    },
}

impl Delivery {
    /// `Lossy` with this capacity.
    pub fn lossy(capacity: usize) -> Self {
        Delivery::Lossy { capacity }
    }

    /// `Lossless` with this capacity and a 5 s deadline.
    pub fn lossless(capacity: usize) -> Self {
        Delivery::Lossless {
            capacity,
            deadline: Duration::from_secs(5),
        }
    }

    /// The same contract with another deadline (lossless only).
    #[must_use]
    pub fn with_deadline(self, deadline: Duration) -> Self {
        match self {
            Delivery::Lossless { capacity, .. } => Delivery::Lossless { capacity, deadline },
            other => other,
        }
    }

    fn capacity(self) -> usize {
        match self {
            Delivery::Lossy { capacity } | Delivery::Lossless { capacity, .. } => capacity,
        }
    }
}

impl Default for Delivery {
    /// `Lossy { capacity: 1024 }`.
    fn default() -> Self {
        Delivery::lossy(1024)
    }
}

/// Names a subscription, to unsubscribe it or read its counters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriptionId(u64);

/// Counters of one subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SubscriptionStats {
    /// The subscription.
    pub id: SubscriptionId,
    /// Its name.
    pub name: String,
    /// Events delivered and acknowledged.
    pub delivered: u64,
    /// Events dropped (lossy only).
    pub dropped: u64,
    /// Events waiting.
    pub queued: usize,
    /// Times the subscriber was restarted after a panic.
    pub restarts: u64,
}

/// One subscription as the bus keeps it: what it wants, how it is owed
/// events, and its queue. (What a subscriber holds is a
/// [`Subscription`](crate::Subscription).)
pub(crate) struct Entry {
    id: SubscriptionId,
    name: String,
    filter: Filter,
    delivery: Delivery,
    queue: Queue,
    restarts: AtomicU64,
}

impl Entry {
    /// Lossless and holding more than its capacity: publishers must wait.
    fn is_full(&self) -> bool {
        match self.delivery {
            Delivery::Lossless { capacity, .. } => self.queue.len() > capacity,
            Delivery::Lossy { .. } => false,
        }
    }

    fn stats(&self) -> SubscriptionStats {
        let (delivered, dropped) = self.queue.counts();
        SubscriptionStats {
            id: self.id,
            name: self.name.clone(),
            delivered,
            dropped,
            queued: self.queue.len(),
            restarts: self.restarts.load(Ordering::Relaxed),
        }
    }
}

/// The subscriptions, and every kind of event at least one of their
/// filters takes (pools and connections aside): a kind none takes need not
/// be made at all.
#[derive(Default)]
struct Subs {
    list: Vec<Arc<Entry>>,
    /// Taps ([`Bus::tap`]): called on the publisher's thread, no queue.
    taps: Vec<Arc<TapEntry>>,
    kinds: u32,
}

impl Subs {
    fn new(list: Vec<Arc<Entry>>, taps: Vec<Arc<TapEntry>>) -> Subs {
        let kinds = kinds_of(
            list.iter()
                .map(|s| &s.filter)
                .chain(taps.iter().map(|t| &t.filter)),
        );
        Subs { list, taps, kinds }
    }
}

/// Every kind at least one of `filters` takes, one bit each.
fn kinds_of<'a>(filters: impl Iterator<Item = &'a Filter>) -> u32 {
    filters.fold(0, |kinds, f| kinds | f.kind_bits())
}

impl std::ops::Deref for Subs {
    type Target = [Arc<Entry>];
    fn deref(&self) -> &[Arc<Entry>] {
        &self.list
    }
}

struct Inner {
    /// Read on every publish without locking; replaced whole on (un)subscribe.
    subs: ArcSwap<Subs>,
    /// Bumped after every change of `subs`, for publishers that keep a
    /// [`Route`] of their own to notice it with one load.
    version: AtomicU64,
    /// Durability gates a statement passes before it runs.
    gates: ArcSwap<Vec<Arc<dyn Gate>>>,
    /// Lossless subscriptions in `subs`, so that `ready` costs nothing on a
    /// bus that has none.
    lossless: AtomicUsize,
    next_id: AtomicU64,
    /// Pools publishing on this bus ([`Bus::attach_pool`]); the last to
    /// leave closes it.
    pools: AtomicUsize,
    /// Allocations of events the subscriber threads were last to let go,
    /// for the next events: a subscriber thread freeing what a publisher
    /// allocated takes the allocator's lock of the publisher's arena
    /// (glibc), and publishers then wait on that lock.
    spares: ArrayQueue<Spare>,
}

/// Spare event allocations a bus keeps at most (about 200 bytes each).
const SPARES: usize = 1024;

/// The broadcast bus. Cloning shares it; several managers may share one.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

impl Default for Bus {
    fn default() -> Self {
        Bus::new()
    }
}

impl std::fmt::Debug for Bus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bus")
            .field("subscriptions", &self.inner.subs.load().len())
            .finish()
    }
}

impl Bus {
    /// A bus with no subscriptions.
    pub fn new() -> Self {
        Bus {
            inner: Arc::new(Inner {
                subs: ArcSwap::from_pointee(Subs::default()),
                version: AtomicU64::new(0),
                gates: ArcSwap::from_pointee(Vec::new()),
                lossless: AtomicUsize::new(0),
                next_id: AtomicU64::new(1),
                pools: AtomicUsize::new(0),
                spares: ArrayQueue::new(SPARES),
            }),
        }
    }

    /// Whether any subscription (or tap) exists.
    pub fn is_empty(&self) -> bool {
        let subs = self.inner.subs.load();
        subs.is_empty() && subs.taps.is_empty()
    }

    /// An event to publish on this bus: in the allocation of one that
    /// nobody holds any more when the bus kept one, else a new one.
    pub(crate) fn make(&self, meta: Meta, kind: Payload) -> Event {
        match self.inner.spares.pop() {
            Some(spare) => Event::reuse(spare, meta, kind),
            None => Event::new(meta, kind),
        }
    }

    /// Lets go of `event`, keeping its allocation for [`Bus::make`] if
    /// this was its last holder.
    pub(crate) fn recycle(&self, event: Event) {
        if let Some(spare) = event.into_spare() {
            // Full: dropped as usual.
            let _ = self.inner.spares.push(spare);
        }
    }

    /// Whether some subscription's filter takes events of `kind` (whatever
    /// their pool and connection): when none does, an event of that kind
    /// published now would reach no one, and a publisher may skip making
    /// it. One atomic load; a subscription added right after is as if
    /// added a moment later.
    pub fn hears(&self, kind: Kind) -> bool {
        self.inner.subs.load().kinds & kind.bit() != 0
    }

    /// Queues `event` for every subscription whose filter matches. Never
    /// waits; lossless back-pressure is applied by [`Bus::ready`].
    pub fn publish(&self, event: &Event) {
        let subs = self.inner.subs.load();
        for sub in subs.iter() {
            if sub.filter.matches(event) {
                sub.queue.push(event);
            }
        }
        for tap in &subs.taps {
            if tap.filter.matches(event) {
                tap.record(event.meta(), event.payload());
            }
        }
    }

    /// Adds a durability gate: from now on, a statement whose `Executing`
    /// event the gate [holds](Gate::holds) runs only once the gate has
    /// [passed](Gate::pass) it.
    pub fn add_gate(&self, gate: Arc<dyn Gate>) {
        self.inner.gates.rcu(|gates| {
            let mut gates = Vec::clone(gates);
            gates.push(gate.clone());
            gates
        });
    }

    /// Removes a gate added with [`add_gate`](Self::add_gate), once: a gate
    /// added twice (one log attached twice) holds until removed twice.
    pub fn remove_gate(&self, gate: &Arc<dyn Gate>) {
        self.inner.gates.rcu(|gates| {
            let mut gates = Vec::clone(gates);
            if let Some(i) = gates.iter().position(|g| Arc::ptr_eq(g, gate)) {
                gates.remove(i);
            }
            gates
        });
    }

    /// Whether any durability gate is registered: when none is,
    /// [`Bus::pass_gates`] answers at once, and a caller may skip its future.
    pub fn has_gates(&self) -> bool {
        !self.inner.gates.load().is_empty()
    }

    /// Waits until every gate that holds `event` (a statement's
    /// `Executing`) has passed it. Free when there are no gates.
    pub async fn pass_gates(&self, event: &Event) -> Result<()> {
        let gates = self.inner.gates.load();
        if gates.is_empty() {
            return Ok(());
        }
        let gates = Arc::clone(&*gates);
        for gate in gates.iter().filter(|g| g.holds(event)) {
            gate.pass(event).await?;
        }
        Ok(())
    }

    /// Whether [`Bus::ready`] would answer at once: there is no lossless
    /// subscription, or every one has room. Nearly always true; checking
    /// it first spares a caller the wait's future.
    pub fn has_room(&self) -> bool {
        self.inner.lossless.load(Ordering::Relaxed) == 0
            || !self.inner.subs.load().iter().any(|s| s.is_full())
    }

    /// Waits until every lossless subscription has room again, each for at
    /// most its own deadline. A connection awaits this before it starts a
    /// statement, so a statement never runs while its audit trail is behind.
    pub async fn ready(&self) -> Result<()> {
        if self.has_room() {
            return Ok(());
        }
        let subs = self.inner.subs.load_full();
        for sub in subs.iter() {
            if let Delivery::Lossless { capacity, deadline } = sub.delivery
                && sub.queue.len() > capacity
            {
                sub.queue
                    .wait_len_at_most(capacity, deadline)
                    .await
                    .map_err(|queued| Error::Backpressure {
                        subscriber: sub.name.clone(),
                        queued,
                        deadline,
                    })?;
            }
        }
        Ok(())
    }

    /// Waits until every lossless subscription has received everything
    /// queued for it, up to `within` in all.
    pub async fn flush(&self, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        let subs = self.inner.subs.load_full();
        for sub in subs.iter() {
            if let Delivery::Lossless { .. } = sub.delivery {
                let left = deadline.saturating_duration_since(tokio::time::Instant::now());
                sub.queue
                    .wait_len_at_most(0, left)
                    .await
                    .map_err(|queued| Error::Backpressure {
                        subscriber: sub.name.clone(),
                        queued,
                        deadline: within,
                    })?;
            }
        }
        Ok(())
    }

    /// Whether `other` is this bus (a clone of the same handle).
    /// Subscription ids are numbered per bus, so an id alone does not say
    /// which bus it is on.
    pub(crate) fn is(&self, other: &Bus) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Removes a subscription; its pump stops. Returns whether it existed.
    pub fn unsubscribe(&self, id: SubscriptionId) -> bool {
        let mut removed = None;
        let mut untapped = false;
        self.change_subs(|subs| {
            let mut next: Vec<_> = subs.iter().cloned().collect();
            removed = next.iter().position(|s| s.id == id).map(|i| next.remove(i));
            let mut taps = subs.taps.clone();
            let before = taps.len();
            taps.retain(|t| t.id != id);
            untapped = taps.len() < before;
            Subs::new(next, taps)
        });
        if untapped {
            return true;
        }
        match removed {
            Some(sub) => {
                if matches!(sub.delivery, Delivery::Lossless { .. }) {
                    self.inner.lossless.fetch_sub(1, Ordering::Relaxed);
                }
                sub.queue.close();
                true
            }
            None => false,
        }
    }

    /// Counters of every subscription.
    pub fn stats(&self) -> Vec<SubscriptionStats> {
        let subs = self.inner.subs.load();
        subs.iter()
            .map(|s| s.stats())
            .chain(subs.taps.iter().map(|t| t.stats()))
            .collect()
    }

    /// Counters of one subscription.
    pub fn subscription_stats(&self, id: SubscriptionId) -> Option<SubscriptionStats> {
        let subs = self.inner.subs.load();
        match subs.iter().find(|s| s.id == id) {
            Some(s) => Some(s.stats()),
            None => subs.taps.iter().find(|t| t.id == id).map(|t| t.stats()),
        }
    }

    fn add(&self, name: &str, filter: Filter, delivery: Delivery) -> Arc<Entry> {
        let id = SubscriptionId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let lossless = matches!(delivery, Delivery::Lossless { .. });
        let sub = Arc::new(Entry {
            id,
            name: name.to_owned(),
            filter,
            delivery,
            queue: Queue::new(delivery.capacity(), lossless),
            restarts: AtomicU64::new(0),
        });
        if lossless {
            self.inner.lossless.fetch_add(1, Ordering::Relaxed);
        }
        self.change_subs(|subs| {
            let mut next: Vec<_> = subs.iter().cloned().collect();
            next.push(sub.clone());
            Subs::new(next, subs.taps.clone())
        });
        sub
    }

    /// Replaces the subscriptions with what `change` makes of them (called
    /// again if another change raced it), then bumps the version that
    /// publishers' [`Route`]s are built from: every change goes through
    /// here, so none is missed by a route.
    fn change_subs(&self, change: impl FnMut(&Arc<Subs>) -> Subs) {
        self.inner.subs.rcu(change);
        self.inner.version.fetch_add(1, Ordering::Release);
    }

    /// Drops the subscription from the list after its pump ended: the
    /// subscriber was gone, or everything was delivered after a close.
    fn remove_dead(&self, id: SubscriptionId) {
        self.unsubscribe(id);
    }
}

#[cfg(test)]
mod tests;
