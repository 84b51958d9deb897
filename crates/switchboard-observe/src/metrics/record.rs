//! Events into counters and histograms.

use std::collections::HashMap;
use std::sync::Arc;

use metrics::{Counter, Histogram};
use switchboard_core::{Event, Payload, StatementClass};

use super::names::*;
use crate::inflight::InFlight;

/// The Metrics subscriber's state, owned by its subscription thread.
pub(super) struct Recorder {
    /// Each statement's class, from its `Executing` to its outcome.
    classes: InFlight<StatementClass>,
    /// The handles of the metrics every statement and checkout records,
    /// by pool: registered once, where building the labels and looking the
    /// key up per event cost the subscriber thread more than the rest of
    /// its work (the console's `console_load` bench).
    pools: HashMap<Arc<str>, PoolHandles>,
    /// Whether handles are kept (a recorder of its own), or asked for per
    /// event (the global recorder, which may be installed after the first
    /// events).
    keep: bool,
}

/// One pool's handles for its hottest metrics.
#[derive(Default)]
struct PoolHandles {
    /// Duration histogram and count, by (backend, class, outcome).
    statements: HashMap<(&'static str, &'static str, &'static str), (Histogram, Counter)>,
    /// Checkout wait and held time, by backend.
    checkouts: HashMap<&'static str, (Histogram, Histogram)>,
}

impl Recorder {
    pub(super) fn new(in_flight: usize, keep: bool) -> Self {
        Recorder {
            classes: InFlight::new(in_flight),
            pools: HashMap::new(),
            keep,
        }
    }

    /// Records one event into the current `metrics` recorder.
    pub(super) fn record(&mut self, event: &Event) {
        let meta = event.meta();
        let backend = meta.backend.as_str();
        match event.payload() {
            Payload::Executing {
                query_id, class, ..
            } => self.classes.insert(*query_id, *class),
            Payload::Executed { query_id, took, .. } => {
                let class = self.class_of(*query_id);
                let (duration, count) = self.statement(&meta.pool, backend, class, "ok");
                duration.record(took.as_secs_f64());
                count.increment(1);
            }
            Payload::CheckedOut { waited } => {
                self.checkout(&meta.pool, backend)
                    .0
                    .record(waited.as_secs_f64());
            }
            Payload::CheckedIn { held } => {
                self.checkout(&meta.pool, backend)
                    .1
                    .record(held.as_secs_f64());
            }
            other => self.record_rare(meta.pool.to_string(), backend, other),
        }
    }

    /// A statement's duration histogram and counter, registered at its
    /// first use.
    fn statement(
        &mut self,
        pool: &Arc<str>,
        backend: &'static str,
        class: &'static str,
        outcome: &'static str,
    ) -> &(Histogram, Counter) {
        let handles = self.handles(pool);
        handles
            .statements
            .entry((backend, class, outcome))
            .or_insert_with(|| {
                let labels = [
                    ("pool", pool.to_string()),
                    ("backend", backend.to_owned()),
                    ("class", class.to_owned()),
                    ("outcome", outcome.to_owned()),
                ];
                (
                    metrics::histogram!(STATEMENT_DURATION, &labels),
                    metrics::counter!(STATEMENTS, &labels),
                )
            })
    }

    /// `pool`'s handles: kept from earlier events, or (with the global
    /// recorder) asked for afresh.
    fn handles(&mut self, pool: &Arc<str>) -> &mut PoolHandles {
        if !self.keep {
            self.pools.clear();
        }
        self.pools.entry(pool.clone()).or_default()
    }

    /// A pool's checkout-wait and held-time histograms.
    fn checkout(&mut self, pool: &Arc<str>, backend: &'static str) -> &(Histogram, Histogram) {
        let handles = self.handles(pool);
        handles.checkouts.entry(backend).or_insert_with(|| {
            let pool = pool.to_string();
            (
                metrics::histogram!(CHECKOUT_WAIT, "pool" => pool.clone(), "backend" => backend),
                metrics::histogram!(HELD, "pool" => pool, "backend" => backend),
            )
        })
    }

    /// The events that come once per connection or per failure: recorded
    /// through the `metrics` macros as they come.
    fn record_rare(&mut self, pool: String, backend: &'static str, payload: &Payload) {
        match payload {
            Payload::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                let class = self.class_of(*query_id);
                let labels = [
                    ("pool", pool.clone()),
                    ("backend", backend.to_owned()),
                    ("class", class.to_owned()),
                    ("outcome", "error".to_owned()),
                ];
                metrics::histogram!(STATEMENT_DURATION, &labels).record(took.as_secs_f64());
                metrics::counter!(STATEMENTS, &labels).increment(1);
                metrics::counter!(STATEMENT_ERRORS, "pool" => pool, "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Denied {
                query_id, guard, ..
            } => {
                if let Some(query_id) = query_id {
                    let class = self.class_of(*query_id);
                    metrics::counter!(STATEMENTS, "pool" => pool.clone(), "backend" => backend,
                        "class" => class, "outcome" => "denied")
                    .increment(1);
                }
                metrics::counter!(DENIALS, "pool" => pool, "backend" => backend,
                    "guard" => guard.clone())
                .increment(1);
            }
            Payload::ShadowDenied { guard, .. } => {
                metrics::counter!(SHADOW_DENIALS, "pool" => pool, "backend" => backend,
                    "guard" => guard.clone())
                .increment(1);
            }
            Payload::Reset { took, .. } => {
                metrics::histogram!(RESET_DURATION, "pool" => pool, "backend" => backend)
                    .record(took.as_secs_f64());
            }
            Payload::CheckoutTimedOut { unreachable, .. } => {
                metrics::counter!(CHECKOUT_TIMEOUTS, "pool" => pool, "backend" => backend,
                    "unreachable" => if *unreachable { "true" } else { "false" })
                .increment(1);
            }
            Payload::Connected { took, .. } => {
                metrics::counter!(CONNECTS, "pool" => pool.clone(), "backend" => backend)
                    .increment(1);
                metrics::histogram!(CONNECT_DURATION, "pool" => pool, "backend" => backend)
                    .record(took.as_secs_f64());
            }
            Payload::ConnectFailed { error, .. } => {
                metrics::counter!(CONNECT_FAILURES, "pool" => pool, "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Invalidated { .. } => {
                metrics::counter!(INVALIDATIONS, "pool" => pool, "backend" => backend).increment(1);
            }
            Payload::LeakSuspected { .. } => {
                metrics::counter!(LEAKS_SUSPECTED, "pool" => pool, "backend" => backend)
                    .increment(1);
            }
            // Drops are counted from the bus's own counters (the sampler),
            // which also covers every other lossy subscriber.
            _ => {}
        }
    }

    /// The class remembered from the statement's `Executing`, or `unknown`
    /// when that event was dropped or came before the subscription.
    fn class_of(&mut self, query_id: u64) -> &'static str {
        self.classes
            .remove(query_id)
            .map_or("unknown", StatementClass::as_str)
    }
}
