//! Pool gauges and bus drop counters, read from their sources on a timer.
//!
//! Pool sizes and waiting callers are not all visible in events (a caller
//! that starts waiting publishes nothing), so the gauges come from each
//! watched pool's own cheap counters ([`PoolGauges::stats`]), and the drops
//! from the bus's per-subscription counters.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use switchboard_core::status::PoolGauges;
use switchboard_core::{Bus, SubscriptionId};

use super::names::*;

/// What the sampler reads; shared by the sampler thread and the handle.
pub(super) struct Sampler {
    bus: Bus,
    /// The metrics' own event subscription: the sampler stops once it is
    /// gone.
    id: SubscriptionId,
    /// The pools whose gauges are kept; a mutex because `watch` is called
    /// from the user's thread while the sampler thread reads. A handle is
    /// held until `unwatch` or until the Metrics handle is dropped.
    pools: Mutex<Vec<Arc<dyn PoolGauges>>>,
    /// Drops already counted, per subscription, so each sample adds only
    /// the new ones; only the sampler thread and `sample()` callers lock it.
    counted: Mutex<HashMap<SubscriptionId, u64>>,
}

impl Sampler {
    pub(super) fn new(bus: Bus, id: SubscriptionId) -> Self {
        Sampler {
            bus,
            id,
            pools: Mutex::new(Vec::new()),
            counted: Mutex::new(HashMap::new()),
        }
    }

    /// Adds a pool (replacing one of the same name).
    pub(super) fn watch(&self, pool: Arc<dyn PoolGauges>) {
        let mut pools = self.pools.lock();
        pools.retain(|p| p.name() != pool.name());
        pools.push(pool);
    }

    /// Whether the metrics' event subscription is still on the bus.
    pub(super) fn subscribed(&self) -> bool {
        self.bus.subscription_stats(self.id).is_some()
    }

    /// Stops keeping a pool's gauges. Returns whether it was watched.
    pub(super) fn unwatch(&self, name: &str) -> bool {
        let mut pools = self.pools.lock();
        let before = pools.len();
        pools.retain(|p| p.name() != name);
        pools.len() != before
    }

    /// Sets every gauge and adds new drops, into the current recorder.
    pub(super) fn sample(&self) {
        for pool in self.pools.lock().iter() {
            let stats = pool.stats();
            let labels = [
                ("pool", pool.name().to_owned()),
                ("backend", pool.backend().as_str().to_owned()),
            ];
            for (name, value) in [
                (POOL_OPEN, stats.open),
                (POOL_IDLE, stats.idle),
                (POOL_BUSY, stats.busy),
                (POOL_CONNECTING, stats.connecting),
                (POOL_MAX, stats.max),
                (POOL_WAITING, stats.waiting),
            ] {
                metrics::gauge!(name, &labels).set(value as f64);
            }
        }
        let mut counted = self.counted.lock();
        let subs = self.bus.stats();
        counted.retain(|id, _| subs.iter().any(|s| s.id == *id));
        for sub in subs {
            let seen = counted.entry(sub.id).or_insert(0);
            metrics::counter!(BUS_DROPPED, "subscriber" => sub.name)
                .increment(sub.dropped.saturating_sub(*seen));
            *seen = sub.dropped;
        }
    }
}
