//! Events into counters and histograms.

use std::sync::Arc;
use std::time::Duration;

use metrics::{Counter, Histogram};
use switchboard_core::{Backend, Meta, Payload, StatementClass};

use super::kept::{Kept, is_kept};
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
    /// The kept handles, by index (what `PoolHandles` holds), unless
    /// `kept` holds their metrics.
    histograms: Vec<Histogram>,
    counters: Vec<Counter>,
    /// The hottest families ([`kept::FAMILIES`]), held here rather than
    /// recorded, when keeping them; `PoolHandles` then holds indices in it.
    kept: Option<Kept>,
    /// The handles of the pool the last event came from.
    hot: Option<Hot>,
}

/// The hottest handles of one pool and backend, found without a scan by
/// name: a console's feed, and most subscribers, see one pool, and on a
/// tap the scans of `handles` and `statement_metrics` cost more than the
/// recording.
struct Hot {
    /// Compared by address.
    pool: Arc<str>,
    backend: Backend,
    /// Checkout wait and held time.
    checkouts: Option<(u32, u32)>,
    /// Successful statements' duration and count, by class (`as_str`).
    ok: Vec<(&'static str, (u32, u32))>,
}

/// One pool's handles for its hottest metrics (indices in the recorder's
/// `histograms` and `counters`, or in its `kept`). Few combinations occur
/// (a pool has one backend, five classes, one hot outcome), so they are
/// found by a scan comparing the labels' addresses (each a `&'static str`
/// of its enum's `as_str`), not by hashing their text on every event.
#[derive(Default)]
struct PoolHandles {
    /// Duration histogram (registered for outcomes that are timed) and
    /// count, by (backend, class, outcome).
    statements: Vec<(StatementKey, StatementSlots)>,
    /// Checkout wait and held time, by backend.
    checkouts: Vec<(&'static str, (u32, u32))>,
}

type StatementKey = (&'static str, &'static str, &'static str);

/// A statement's duration histogram and counter, once registered.
type StatementSlots = (Option<u32>, Option<u32>);

/// The index of `item`, pushed onto `list`.
fn pushed<T>(list: &mut Vec<T>, item: T) -> u32 {
    list.push(item);
    u32::try_from(list.len() - 1).unwrap_or(u32::MAX)
}

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
            kept: None,
            hot: None,
        }
    }

    /// The hot handles, if the last event came from `meta`'s pool and
    /// backend.
    #[inline]
    fn hot(&mut self, meta: &Meta) -> Option<&mut Hot> {
        self.hot
            .as_mut()
            .filter(|h| Arc::ptr_eq(&h.pool, &meta.pool) && h.backend == meta.backend)
    }

    /// The hot handles of `meta`'s pool and backend, started afresh when
    /// the last event came from another.
    fn hot_for(&mut self, meta: &Meta) -> &mut Hot {
        if self.hot(meta).is_none() {
            self.hot = None;
        }
        self.hot.get_or_insert_with(|| Hot {
            pool: meta.pool.clone(),
            backend: meta.backend,
            checkouts: None,
            ok: Vec::new(),
        })
    }

    /// A successful statement's duration histogram and counter.
    #[inline]
    fn statement_ok(&mut self, meta: &Meta, class: &'static str) -> (u32, u32) {
        let hot = self.hot(meta);
        let known = hot.and_then(|h| h.ok.iter().find(|(c, _)| same(c, class)));
        match known {
            Some((_, kept)) => *kept,
            None => self.register_ok(meta, class),
        }
    }

    #[cold]
    fn register_ok(&mut self, meta: &Meta, class: &'static str) -> (u32, u32) {
        let key = (meta.backend.as_str(), class, "ok");
        let (duration, count) = self.statement_metrics(&meta.pool, key, true);
        let kept = (duration.unwrap_or(u32::MAX), count);
        self.hot_for(meta).ok.push((class, kept));
        kept
    }

    /// A pool's checkout-wait and held-time histograms.
    #[inline]
    fn checkouts(&mut self, meta: &Meta) -> (u32, u32) {
        match self.hot(meta).and_then(|h| h.checkouts) {
            Some(kept) => kept,
            None => self.register_checkouts(meta),
        }
    }

    #[cold]
    fn register_checkouts(&mut self, meta: &Meta) -> (u32, u32) {
        let kept = self.checkout(&meta.pool, meta.backend.as_str());
        self.hot_for(meta).checkouts = Some(kept);
        kept
    }

    /// Holds the hottest families itself from now on, with these bucket
    /// bounds (only with handles kept).
    pub(super) fn keep_hot(&mut self, bounds: &[f64]) {
        if self.keep {
            self.pools.clear();
            self.hot = None;
            self.kept = Some(Kept::new(bounds));
        }
    }

    /// What is held instead of recorded, if anything.
    pub(super) fn kept(&self) -> Option<&Kept> {
        self.kept.as_ref()
    }

    /// Whether recording `payload` needs the `metrics` recorder (what is
    /// kept does not, once its handles are known).
    pub(super) fn needs_recorder(&self, payload: &Payload) -> bool {
        self.kept.is_none()
            || !matches!(
                payload,
                Payload::Executing { .. }
                    | Payload::Executed { .. }
                    | Payload::CheckedOut { .. }
                    | Payload::CheckedIn { .. }
            )
    }

    fn observe(&mut self, histogram: u32, value: Duration) {
        match &mut self.kept {
            Some(kept) => kept.observe(histogram, value),
            None => {
                if let Some(h) = self.histograms.get(histogram as usize) {
                    h.record(value.as_secs_f64());
                }
            }
        }
    }

    fn count(&mut self, counter: u32) {
        match &mut self.kept {
            Some(kept) => kept.count(counter, 1),
            None => {
                if let Some(c) = self.counters.get(counter as usize) {
                    c.increment(1);
                }
            }
        }
    }

    /// Registers histogram `name` (held in `kept`, or a handle from the
    /// current recorder), returning its index.
    fn register_histogram(&mut self, name: &'static str, labels: &[(&'static str, String)]) -> u32 {
        match &mut self.kept {
            Some(kept) if is_kept(name) => kept.histogram(name, labels),
            _ => pushed(&mut self.histograms, metrics::histogram!(name, labels)),
        }
    }

    /// Registers counter `name`, as [`register_histogram`](Self::register_histogram).
    fn register_counter(&mut self, name: &'static str, labels: &[(&'static str, String)]) -> u32 {
        match &mut self.kept {
            Some(kept) if is_kept(name) => kept.counter(name, labels),
            _ => pushed(&mut self.counters, metrics::counter!(name, labels)),
        }
    }

    /// Records one event into the current `metrics` recorder.
    pub(super) fn record(&mut self, meta: &Meta, payload: &Payload) {
        if !self.keep {
            // Asked for afresh, from whatever recorder is installed now.
            self.pools.clear();
            self.histograms.clear();
            self.counters.clear();
            self.hot = None;
        }
        let backend = meta.backend.as_str();
        match payload {
            Payload::Executing {
                query_id, class, ..
            } => self.classes.insert(*query_id, *class),
            Payload::Executed { query_id, took, .. } => {
                let class = self.class_of(*query_id);
                let (duration, count) = self.statement_ok(meta, class);
                self.observe(duration, *took);
                self.count(count);
            }
            Payload::CheckedOut { waited } => {
                let (wait, _) = self.checkouts(meta);
                self.observe(wait, *waited);
            }
            Payload::CheckedIn { held } => {
                let (_, held_for) = self.checkouts(meta);
                self.observe(held_for, *held);
            }
            other => self.record_rare(&meta.pool, backend, other),
        }
    }

    /// Records a statement's duration and counts it, by (backend, class,
    /// outcome).
    fn statement(&mut self, pool: &Arc<str>, key: StatementKey, took: Duration) {
        let (duration, count) = self.statement_metrics(pool, key, true);
        if let Some(duration) = duration {
            self.observe(duration, took);
        }
        self.count(count);
    }

    /// The indices of a statement's duration histogram (when `timed`) and
    /// counter, registered at their first use.
    fn statement_metrics(
        &mut self,
        pool: &Arc<str>,
        key: StatementKey,
        timed: bool,
    ) -> (Option<u32>, u32) {
        let (backend, class, outcome) = key;
        let handles = self.handles(pool);
        let found = handles
            .statements
            .iter()
            .position(|((b, c, o), _)| same(b, backend) && same(c, class) && same(o, outcome));
        let at = found.unwrap_or_else(|| {
            handles.statements.push((key, (None, None)));
            handles.statements.len() - 1
        });
        match handles.statements[at].1 {
            (duration, Some(count)) if duration.is_some() || !timed => return (duration, count),
            _ => {}
        }
        let labels = [
            ("pool", pool.to_string()),
            ("backend", backend.to_owned()),
            ("class", class.to_owned()),
            ("outcome", outcome.to_owned()),
        ];
        let (duration, count) = self.handles(pool).statements[at].1;
        let duration = match duration {
            None if timed => Some(self.register_histogram(STATEMENT_DURATION, &labels)),
            kept => kept,
        };
        let count = match count {
            Some(count) => count,
            None => self.register_counter(STATEMENTS, &labels),
        };
        self.handles(pool).statements[at].1 = (duration, Some(count));
        (duration, count)
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
        let labels = [("pool", pool.to_string()), ("backend", backend.to_owned())];
        let kept = (
            self.register_histogram(CHECKOUT_WAIT, &labels),
            self.register_histogram(HELD, &labels),
        );
        self.handles(pool).checkouts.push((backend, kept));
        kept
    }

    /// The events that come once per connection or per failure: recorded
    /// through the `metrics` macros as they come.
    #[inline(never)]
    fn record_rare(&mut self, name: &Arc<str>, backend: &'static str, payload: &Payload) {
        // The label is made only for what is recorded (a transaction's
        // events, say, are not).
        let pool = || name.to_string();
        match payload {
            Payload::ExecuteFailed {
                query_id,
                took,
                error,
            } => {
                let class = self.class_of(*query_id);
                self.statement(name, (backend, class, "error"), *took);
                metrics::counter!(STATEMENT_ERRORS, "pool" => pool(), "backend" => backend,
                    "error_type" => error.kind.as_str())
                .increment(1);
            }
            Payload::Denied {
                query_id, guard, ..
            } => {
                if let Some(query_id) = query_id {
                    let class = self.class_of(*query_id);
                    let (_, count) =
                        self.statement_metrics(name, (backend, class, "denied"), false);
                    self.count(count);
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
