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
    /// The kept handles, by index (what `PoolHandles` holds).
    histograms: Vec<Histogram>,
    counters: Vec<Counter>,
    /// Samples and counts of the hottest metrics held back for
    /// [`take_deferred`](Self::take_deferred), when deferring.
    deferred: Option<Deferred>,
}

/// Histogram samples and counter increments held back by a deferring
/// recorder, to record elsewhere ([`Deferred::apply`]).
#[derive(Default)]
pub struct Deferred {
    histograms: Vec<Histogram>,
    counters: Vec<Counter>,
    /// (index in `histograms`, value)
    pub(super) samples: Vec<(u32, f64)>,
    /// Increments by index in `counters`.
    counts: Vec<u64>,
}

impl Deferred {
    /// Records what was held back into its metrics.
    pub fn apply(self) {
        for (h, value) in self.samples {
            if let Some(histogram) = self.histograms.get(h as usize) {
                histogram.record(value);
            }
        }
        for (counter, n) in self.counters.iter().zip(self.counts) {
            if n > 0 {
                counter.increment(n);
            }
        }
    }

    fn is_empty(&self) -> bool {
        self.samples.is_empty() && self.counts.iter().all(|&n| n == 0)
    }
}

/// Samples a deferring recorder holds at most: past this (nobody takes
/// them), it records them itself.
pub(super) const MAX_DEFERRED: usize = 1 << 17;

/// One pool's handles for its hottest metrics (indices in the recorder's
/// `histograms` and `counters`). Few combinations occur (a
/// pool has one backend, five classes, one hot outcome), so they are found
/// by a scan comparing the labels' addresses (each a `&'static str` of its
/// enum's `as_str`), not by hashing their text on every event.
#[derive(Default)]
struct PoolHandles {
    /// Duration histogram and count, by (backend, class, outcome).
    statements: Vec<(StatementKey, (u32, u32))>,
    /// Checkout wait and held time, by backend.
    checkouts: Vec<(&'static str, (u32, u32))>,
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
            histograms: Vec::new(),
            counters: Vec::new(),
            deferred: None,
        }
    }

    /// Holds the hottest metrics' samples back for
    /// [`take_deferred`](Self::take_deferred) (only with handles kept).
    pub(super) fn defer(&mut self) {
        if self.keep {
            self.deferred = Some(Deferred::default());
        }
    }

    /// What was held back since the last call, if anything.
    pub(super) fn take_deferred(&mut self) -> Option<Deferred> {
        let held = self.deferred.as_mut()?;
        if held.is_empty() {
            return None;
        }
        let mut taken = std::mem::take(held);
        taken.histograms = self.histograms.clone();
        taken.counters = self.counters.clone();
        Some(taken)
    }

    fn observe(&mut self, histogram: u32, value: f64) {
        match &mut self.deferred {
            Some(held) => {
                held.samples.push((histogram, value));
                if held.samples.len() >= MAX_DEFERRED
                    && let Some(taken) = self.take_deferred()
                {
                    taken.apply();
                }
            }
            None => {
                if let Some(h) = self.histograms.get(histogram as usize) {
                    h.record(value);
                }
            }
        }
    }

    fn count(&mut self, counter: u32) {
        match &mut self.deferred {
            Some(held) => {
                let i = counter as usize;
                if held.counts.len() <= i {
                    held.counts.resize(i + 1, 0);
                }
                held.counts[i] += 1;
            }
            None => {
                if let Some(c) = self.counters.get(counter as usize) {
                    c.increment(1);
                }
            }
        }
    }

    fn keep_histogram(&mut self, h: Histogram) -> u32 {
        self.histograms.push(h);
        u32::try_from(self.histograms.len() - 1).unwrap_or(u32::MAX)
    }

    fn keep_counter(&mut self, c: Counter) -> u32 {
        self.counters.push(c);
        u32::try_from(self.counters.len() - 1).unwrap_or(u32::MAX)
    }

    /// Records one event into the current `metrics` recorder.
    pub(super) fn record(&mut self, meta: &Meta, payload: &Payload) {
        if !self.keep {
            // Asked for afresh, from whatever recorder is installed now.
            self.pools.clear();
            self.histograms.clear();
            self.counters.clear();
        }
        let backend = meta.backend.as_str();
        match payload {
            Payload::Executing {
                query_id, class, ..
            } => self.classes.insert(*query_id, *class),
            Payload::Executed { query_id, took, .. } => {
                let class = self.class_of(*query_id);
                let (duration, count) = self.statement(&meta.pool, backend, class, "ok");
                self.observe(duration, took.as_secs_f64());
                self.count(count);
            }
            Payload::CheckedOut { waited } => {
                let (wait, _) = self.checkout(&meta.pool, backend);
                self.observe(wait, waited.as_secs_f64());
            }
            Payload::CheckedIn { held } => {
                let (_, held_for) = self.checkout(&meta.pool, backend);
                self.observe(held_for, held.as_secs_f64());
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
    ) -> (u32, u32) {
        let handles = self.handles(pool);
        let found = handles
            .statements
            .iter()
            .find(|((b, c, o), _)| same(b, backend) && same(c, class) && same(o, outcome));
        if let Some((_, kept)) = found {
            return *kept;
        }
        let labels = [
            ("pool", pool.to_string()),
            ("backend", backend.to_owned()),
            ("class", class.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        let kept = (
            self.keep_histogram(metrics::histogram!(STATEMENT_DURATION, &labels)),
            self.keep_counter(metrics::counter!(STATEMENTS, &labels)),
        );
        self.handles(pool)
            .statements
            .push(((backend, class, outcome), kept));
        kept
    }

    /// `pool`'s handles: kept from earlier events, or (with the global
    /// recorder) asked for afresh.
    fn handles(&mut self, pool: &Arc<str>) -> &mut PoolHandles {
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
    fn checkout(&mut self, pool: &Arc<str>, backend: &'static str) -> (u32, u32) {
        let handles = self.handles(pool);
        if let Some((_, kept)) = handles.checkouts.iter().find(|(b, _)| same(b, backend)) {
            return *kept;
        }
        let name = pool.to_string();
        let kept = (
            self.keep_histogram(
                metrics::histogram!(CHECKOUT_WAIT, "pool" => name.clone(), "backend" => backend),
            ),
            self.keep_histogram(metrics::histogram!(HELD, "pool" => name, "backend" => backend)),
        );
        self.handles(pool).checkouts.push((backend, kept));
        kept
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
