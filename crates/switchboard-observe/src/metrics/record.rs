//! Events into counters and histograms.

use std::sync::Arc;

use metrics::{Counter, Histogram};
use switchboard_core::{Meta, Payload, StatementClass};

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
    pools: Vec<(Arc<str>, PoolHandles)>,
    /// Whether handles are kept (a recorder of its own), or asked for per
    /// event (the global recorder, which may be installed after the first
    /// events).
    keep: bool,
}

/// One pool's handles for its hottest metrics. Few combinations occur (a
/// pool has one backend, five classes, one hot outcome), so they are found
/// by a scan comparing the labels' addresses (each a `&'static str` of its
/// enum's `as_str`), not by hashing their text on every event.
#[derive(Default)]
struct PoolHandles {
    /// Duration histogram and count, by (backend, class, outcome).
    statements: Vec<(StatementKey, (Histogram, Counter))>,
    /// Checkout wait and held time, by backend.
    checkouts: Vec<(&'static str, (Histogram, Histogram))>,
}

type StatementKey = (&'static str, &'static str, &'static str);

/// Whether two label values are the same `&'static str`.
fn same(a: &'static str, b: &'static str) -> bool {
    std::ptr::eq(a, b) || a == b
}

impl Recorder {
    pub(super) fn new(in_flight: usize, keep: bool) -> Self {
        Recorder {
            classes: InFlight::new(in_flight),
            pools: Vec::new(),
            keep,
        }
    }

    /// Records one event into the current `metrics` recorder.
    pub(super) fn record(&mut self, meta: &Meta, payload: &Payload) {
        let backend = meta.backend.as_str();
        match payload {
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
            other => self.record_rare(&meta.pool, backend, other),
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
        let found = handles
            .statements
            .iter()
            .position(|((b, c, o), _)| same(b, backend) && same(c, class) && same(o, outcome));
        let at = found.unwrap_or_else(|| {
            let labels = [
                ("pool", pool.to_string()),
                ("backend", backend.to_owned()),
                ("class", class.to_owned()),
                ("outcome", outcome.to_owned()),
            ];
            handles.statements.push((
                (backend, class, outcome),
                (
                    metrics::histogram!(STATEMENT_DURATION, &labels),
                    metrics::counter!(STATEMENTS, &labels),
                ),
            ));
            handles.statements.len() - 1
        });
        &handles.statements[at].1
    }

    /// `pool`'s handles: kept from earlier events, or (with the global
    /// recorder) asked for afresh.
    fn handles(&mut self, pool: &Arc<str>) -> &mut PoolHandles {
        if !self.keep {
            self.pools.clear();
        }
        // Found by the name's address (events of one pool share it), else
        // its text: cloning the name per event would write to its
        // reference count, a cache line the publishing thread writes too.
        let found = self
            .pools
            .iter()
            .position(|(p, _)| Arc::ptr_eq(p, pool) || p == pool);
        let at = found.unwrap_or_else(|| {
            self.pools.push((pool.clone(), PoolHandles::default()));
            self.pools.len() - 1
        });
        &mut self.pools[at].1
    }

    /// A pool's checkout-wait and held-time histograms.
    fn checkout(&mut self, pool: &Arc<str>, backend: &'static str) -> &(Histogram, Histogram) {
        let handles = self.handles(pool);
        let found = handles.checkouts.iter().position(|(b, _)| same(b, backend));
        let at = found.unwrap_or_else(|| {
            let pool = pool.to_string();
            handles.checkouts.push((
                backend,
                (
                    metrics::histogram!(CHECKOUT_WAIT, "pool" => pool.clone(), "backend" => backend),
                    metrics::histogram!(HELD, "pool" => pool, "backend" => backend),
                ),
            ));
            handles.checkouts.len() - 1
        });
        &handles.checkouts[at].1
    }

    /// The events that come once per connection or per failure: recorded
    /// through the `metrics` macros as they come.
    fn record_rare(&mut self, pool: &Arc<str>, backend: &'static str, payload: &Payload) {
        // The label is made only for what is recorded (a transaction's
        // events, say, are not).
        let pool = || pool.to_string();
        match payload {
            Payload::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                let class = self.class_of(*query_id);
                let labels = [
                    ("pool", pool()),
                    ("backend", backend.to_owned()),
                    ("class", class.to_owned()),
                    ("outcome", "error".to_owned()),
                ];
                metrics::histogram!(STATEMENT_DURATION, &labels).record(took.as_secs_f64());
                metrics::counter!(STATEMENTS, &labels).increment(1);
                metrics::counter!(STATEMENT_ERRORS, "pool" => pool(), "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Denied {
                query_id, guard, ..
            } => {
                if let Some(query_id) = query_id {
                    let class = self.class_of(*query_id);
                    metrics::counter!(STATEMENTS, "pool" => pool(), "backend" => backend,
                        "class" => class, "outcome" => "denied")
                    .increment(1);
                }
                metrics::counter!(DENIALS, "pool" => pool(), "backend" => backend,
                    "guard" => guard.clone())
                .increment(1);
            }
            Payload::ShadowDenied { guard, .. } => {
                metrics::counter!(SHADOW_DENIALS, "pool" => pool(), "backend" => backend,
                    "guard" => guard.clone())
                .increment(1);
            }
            Payload::Reset { took, .. } => {
                metrics::histogram!(RESET_DURATION, "pool" => pool(), "backend" => backend)
                    .record(took.as_secs_f64());
            }
            Payload::CheckoutTimedOut { unreachable, .. } => {
                metrics::counter!(CHECKOUT_TIMEOUTS, "pool" => pool(), "backend" => backend,
                    "unreachable" => if *unreachable { "true" } else { "false" })
                .increment(1);
            }
            Payload::Connected { took, .. } => {
                metrics::counter!(CONNECTS, "pool" => pool(), "backend" => backend).increment(1);
                metrics::histogram!(CONNECT_DURATION, "pool" => pool(), "backend" => backend)
                    .record(took.as_secs_f64());
            }
            Payload::ConnectFailed { error, .. } => {
                metrics::counter!(CONNECT_FAILURES, "pool" => pool(), "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Invalidated { .. } => {
                metrics::counter!(INVALIDATIONS, "pool" => pool(), "backend" => backend)
                    .increment(1);
            }
            Payload::LeakSuspected { .. } => {
                metrics::counter!(LEAKS_SUSPECTED, "pool" => pool(), "backend" => backend)
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
