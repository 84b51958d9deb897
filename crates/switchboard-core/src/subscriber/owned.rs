//! The subscriptions of a subscriber that outlives its attachments (an
//! audit log, an exporter): it may be attached to several buses, flushes
//! them all, and ends them all when it is closed.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

use super::Subscription;
use crate::bus::{Bus, Gate, SubscriptionId};
use crate::error::Result;

/// One subscription an owner holds: the bus, and the gate it added there.
struct Held {
    bus: Bus,
    id: SubscriptionId,
    gate: Option<Arc<dyn Gate>>,
}

/// The subscriptions a subscriber owns, on any number of buses. It hands
/// out [kept](Subscription::kept) handles (dropping one ends nothing;
/// detaching one ends that subscription and removes its gate), and
/// [`end_all`](Self::end_all) ends what is left when the owner is closed.
/// Cloning shares the list.
#[derive(Clone, Default)]
pub struct OwnedSubscriptions {
    /// Locked briefly by attach, detach, flush (to list the buses) and
    /// close; never across an await.
    held: Arc<Mutex<Vec<Held>>>,
}

impl std::fmt::Debug for OwnedSubscriptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OwnedSubscriptions")
            .field("subscriptions", &self.held.lock().len())
            .finish()
    }
}

impl OwnedSubscriptions {
    /// No subscriptions.
    pub fn new() -> Self {
        OwnedSubscriptions::default()
    }

    /// Takes subscription `id` on `bus` into the owner's keeping, adding
    /// `gate` to the bus for as long as it lasts, and returns its kept
    /// handle.
    pub fn hold(&self, bus: &Bus, id: SubscriptionId, gate: Option<Arc<dyn Gate>>) -> Subscription {
        if let Some(gate) = &gate {
            bus.add_gate(gate.clone());
        }
        self.held.lock().push(Held {
            bus: bus.clone(),
            id,
            gate,
        });
        let owner = self.clone();
        let on = bus.clone();
        Subscription::new(bus, id)
            .on_end(move || owner.end(&on, id))
            .kept()
    }

    /// Ends subscription `id` on `bus`, if held: unsubscribes it and
    /// removes its gate. (Ids are numbered per bus: the same id on another
    /// bus is another subscription.)
    pub fn end(&self, bus: &Bus, id: SubscriptionId) {
        let mut held = self.held.lock();
        let Some(i) = held.iter().position(|h| h.id == id && h.bus.is(bus)) else {
            return;
        };
        let gone = held.swap_remove(i);
        drop(held);
        release(gone);
    }

    /// Ends every subscription held.
    pub fn end_all(&self) {
        let gone = std::mem::take(&mut *self.held.lock());
        gone.into_iter().for_each(release);
    }

    /// The buses held subscriptions are on (one entry per subscription).
    pub fn buses(&self) -> Vec<Bus> {
        self.held.lock().iter().map(|h| h.bus.clone()).collect()
    }

    /// Whether no subscription is held.
    pub fn is_empty(&self) -> bool {
        self.held.lock().is_empty()
    }

    /// Waits until every lossless subscription of every bus held has
    /// received what was published so far ([`Bus::flush`]), up to `within`
    /// for each bus.
    pub async fn flush(&self, within: Duration) -> Result<()> {
        for bus in self.buses() {
            bus.flush(within).await?;
        }
        Ok(())
    }
}

fn release(held: Held) {
    held.bus.unsubscribe(held.id);
    if let Some(gate) = &held.gate {
        held.bus.remove_gate(gate);
    }
}
