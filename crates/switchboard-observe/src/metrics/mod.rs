//! [`Metrics`]: the lifecycle as Prometheus-style metrics, through the
//! `metrics` facade.
//!
//! Statement, checkout and connect durations are histograms; statements,
//! connects, failures, denials, invalidations, leak warnings and bus drops
//! are counters; pool sizes and waiting callers are gauges. Names and
//! labels are in [`names`]. Metrics are recorded into the process-wide
//! `metrics` recorder, or into the one given to [`Metrics::recorder`]
//! (such as [`Exporter::recorder`](crate::Exporter::recorder)).

mod kept;
pub mod names;
mod record;
mod sampler;

use std::sync::Arc;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use switchboard_core::status::PoolGauges;
use switchboard_core::{Bus, Delivery, Event, Filter, Meta, Payload, Subscriber, Subscription};

use crate::error::{Error, Result};
pub use kept::Kept;
use record::Recorder;
use sampler::Sampler;

/// A `metrics` recorder shared between threads, such as an
/// [`Exporter`](crate::Exporter)'s.
pub type SharedRecorder = Arc<dyn metrics::Recorder + Send + Sync>;

/// How a [`Metrics`] subscriber behaves. Every field has a default.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MetricsConfig {
    /// Subscription name on the bus. Default `"metrics"`.
    pub name: String,
    /// Events held before the bus drops them (the subscriber is lossy: it
    /// never slows a statement; drops show in
    /// `switchboard_bus_dropped_total{subscriber="metrics"}`). Default 4096.
    pub capacity: usize,
    /// Statements remembered between their start and their outcome, for
    /// the `class` label. Default 4096.
    pub in_flight: usize,
    /// How often gauges and drop counters are read. Default 1 s.
    pub sample_every: Duration,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            name: "metrics".into(),
            capacity: 4096,
            in_flight: 4096,
            sample_every: Duration::from_secs(1),
        }
    }
}

/// Records the lifecycle of every connection on a bus as metrics.
///
/// ```no_run
/// # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
/// use switchboard::{Bus, Switchboard};
/// use switchboard_observe::{Exporter, Metrics};
///
/// // Serve Prometheus' text format and install it as the global recorder.
/// let exporter = Exporter::builder().listen("127.0.0.1:9000").install()?;
/// let bus = Bus::new();
/// let metrics = Metrics::new().attach(&bus)?;
/// let sb = Switchboard::builder("sqlite::memory:").bus(bus).start().await?;
/// metrics.watch(&sb); // pool gauges
/// println!("scrape http://{}/metrics", exporter.local_addr());
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
#[must_use]
pub struct Metrics {
    config: MetricsConfig,
    filter: Filter,
    recorder: Option<SharedRecorder>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("config", &self.config)
            .field("filter", &self.filter)
            .field("global_recorder", &self.recorder.is_none())
            .finish()
    }
}

impl Metrics {
    /// A subscriber with the default [`MetricsConfig`], recording into the
    /// global `metrics` recorder.
    pub fn new() -> Self {
        Metrics::default()
    }

    /// Replaces the whole configuration.
    pub fn config(mut self, config: MetricsConfig) -> Self {
        self.config = config;
        self
    }

    /// Records into this recorder instead of the global one.
    pub fn recorder(mut self, recorder: SharedRecorder) -> Self {
        self.recorder = Some(recorder);
        self
    }

    /// How often gauges and drop counters are read.
    pub fn sample_every(mut self, every: Duration) -> Self {
        self.config.sample_every = every;
        self
    }

    /// Events held before the bus drops them.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = capacity;
        self
    }

    /// Records only what this filter selects (default: everything).
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Subscribes to `bus` (lossy), and starts the sampler thread that keeps
    /// the gauges of [watched](MetricsHandle::watch) pools and the bus drop
    /// counters. Both stop when the returned handle is dropped; the sampler
    /// also stops once the subscription has ended otherwise (the bus
    /// closed).
    pub fn attach(self, bus: &Bus) -> Result<MetricsHandle> {
        let mut events = self.tap().events;
        let filter = self.filter.clone();
        self.start(bus, filter, move |event| {
            events.record(event.meta(), event.payload())
        })
    }

    /// The recording half alone: a [`MetricsTap`] records the events it is
    /// handed, into this subscriber's recorder. For code that already
    /// receives every event through a subscription of its own (as the
    /// operations console's feed does): recording there, with the gauges
    /// and drop counters kept by [`sample_only`](Self::sample_only), costs
    /// the bus one delivery per event instead of two.
    ///
    /// The tap applies this subscriber's [`filter`](Self::filter), and
    /// describes the metrics to the recorder when made.
    pub fn tap(&self) -> MetricsTap {
        within(&self.recorder, names::describe);
        MetricsTap {
            takes_all: self.filter == Filter::all(),
            filter: self.filter.clone(),
            // Handles are kept only for a recorder given here: one taken
            // from the global recorder before it was installed would
            // record nothing for good.
            events: Recorder::new(self.config.in_flight, self.recorder.is_some()),
            recorder: self.recorder.clone(),
        }
    }

    /// [`attach`](Self::attach) without events: the handle keeps the gauges
    /// of watched pools and the bus drop counters, and its subscription
    /// takes no events (hand them to a [`tap`](Self::tap)).
    pub fn sample_only(self, bus: &Bus) -> Result<MetricsHandle> {
        // Only `Lagged` passes such a filter, and this queue, never
        // pushed to, never lags.
        self.start(bus, Filter::kinds([]), |_| {})
    }

    /// Subscribes `record` to `bus` with `filter`, and starts the sampler.
    fn start(
        self,
        bus: &Bus,
        filter: Filter,
        mut record: impl FnMut(Event) + Send + 'static,
    ) -> Result<MetricsHandle> {
        let Metrics {
            config,
            filter: _,
            recorder,
        } = self;
        within(&recorder, names::describe);

        let events_recorder = recorder.clone();
        let id = bus.subscribe_fn(
            &config.name,
            filter,
            Delivery::lossy(config.capacity),
            move |event| within(&events_recorder, || record(event)),
        )?;
        // Made first, so that a sampler that cannot start ends it.
        let subscription = Subscription::new(bus, id);

        let sampler = Arc::new(Sampler::new(bus.clone(), id));
        // Only ever holds the one stop signal, sent when the handle ends the
        // subscription. A handle let go without ending it (kept, as through
        // a pool's builder) drops the sender: the sampler then runs on until
        // the subscription ends otherwise.
        let (stop, stopped) = mpsc::sync_channel::<()>(1);
        let thread_sampler = sampler.clone();
        let thread_recorder = recorder.clone();
        let every = config.sample_every;
        // Ends when the subscription ends through its handle (stop signal),
        // or is found gone at a tick (the bus closed, or unsubscribed by id).
        let thread = std::thread::Builder::new()
            .name("sb-metrics-sampler".into())
            .spawn(move || {
                loop {
                    match stopped.recv_timeout(every) {
                        Ok(()) => break,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => std::thread::sleep(every),
                    }
                    if !thread_sampler.subscribed() {
                        break;
                    }
                    within(&thread_recorder, || thread_sampler.sample());
                }
            })
            .map_err(|source| Error::Thread {
                what: "metrics sampler",
                source,
            })?;
        let subscription = subscription.on_end(move || {
            let _ = stop.try_send(());
            let _ = thread.join();
        });
        Ok(MetricsHandle {
            subscription,
            sampler,
            recorder,
        })
    }
}

/// Records the events it is handed as [`Metrics`] would (see
/// [`Metrics::tap`]); owned by the thread that receives them.
pub struct MetricsTap {
    filter: Filter,
    /// Whether `filter` takes every event (checked once, not per event).
    takes_all: bool,
    events: Recorder,
    recorder: Option<SharedRecorder>,
}

impl std::fmt::Debug for MetricsTap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsTap")
            .field("global_recorder", &self.recorder.is_none())
            .finish_non_exhaustive()
    }
}

impl MetricsTap {
    /// Records one event.
    pub fn record(&mut self, event: &Event) {
        self.record_parts(event.meta(), event.payload());
    }

    /// Keeps the hottest metrics in the tap itself, as plain counts rather
    /// than through the recorder: statement durations and counts, checkout
    /// waits and held times ([`Kept`], every series of those four
    /// families), with histogram buckets `bounds` (seconds). For a tap
    /// called on a connection's own thread, where a histogram sample
    /// recorded through the facade (an atomic bucket push, sorted into
    /// buckets at each scrape) costs more than all the other work of an
    /// event. Whoever owns the tap renders them with [`Kept::render`]
    /// after its recorder's own text (the families never overlap). Only
    /// with a recorder given to [`Metrics::recorder`] (else this does
    /// nothing).
    #[must_use]
    pub fn kept(mut self, bounds: &[f64]) -> Self {
        self.events.keep_hot(bounds);
        self
    }

    /// The metrics this tap keeps itself ([`kept`](Self::kept)), if it does.
    pub fn kept_metrics(&self) -> Option<&Kept> {
        self.events.kept()
    }

    /// Records one event from its parts, as a [`Tap`](switchboard_core::Tap)
    /// is handed them.
    pub fn record_parts(&mut self, meta: &Meta, payload: &Payload) {
        if !self.takes_all && !self.filter.takes_parts(meta, payload.kind()) {
            return;
        }
        if self.events.needs_recorder(payload) {
            within(&self.recorder, || self.events.record(meta, payload));
        } else {
            self.events.record(meta, payload);
        }
    }
}

impl Subscriber for Metrics {
    type Error = Error;

    /// [`Metrics::attach`], keeping only the subscription: events and bus
    /// drops are recorded, but no pool can be
    /// [watched](MetricsHandle::watch) for its gauges.
    fn attach(self, bus: &Bus) -> Result<Subscription> {
        Metrics::attach(self, bus).map(MetricsHandle::into_subscription)
    }
}

/// A running [`Metrics`] subscriber. Dropping it unsubscribes it and stops
/// its sampler.
#[must_use = "dropping the handle stops recording at once"]
pub struct MetricsHandle {
    /// Ends the event subscription and stops the sampler thread.
    subscription: Subscription,
    sampler: Arc<Sampler>,
    recorder: Option<SharedRecorder>,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MetricsHandle")
            .field("subscription", &self.subscription)
            .finish_non_exhaustive()
    }
}

impl MetricsHandle {
    /// Keeps the gauges of this pool (size, idle, busy, connecting, max,
    /// waiting callers), read every `sample_every` and at once now. A
    /// clone of the pool's handle is held until [`unwatch`](Self::unwatch)
    /// or until this handle is dropped.
    pub fn watch<P: PoolGauges + Clone + 'static>(&self, pool: &P) {
        self.sampler.watch(Arc::new(pool.clone()));
        self.sample();
    }

    /// Stops keeping a pool's gauges (they keep their last values).
    /// Returns whether the pool was watched.
    pub fn unwatch(&self, pool: &str) -> bool {
        self.sampler.unwatch(pool)
    }

    /// Reads gauges and drop counters now rather than at the next tick.
    pub fn sample(&self) {
        within(&self.recorder, || self.sampler.sample());
    }

    /// The event subscription (its counters, including drops).
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// The subscription alone: recording goes on until it is dropped, with
    /// the pools watched so far, but no more can be watched.
    pub fn into_subscription(self) -> Subscription {
        self.subscription
    }
}

/// Runs `f` with `recorder` as the current `metrics` recorder, or with the
/// global one when there is none.
fn within<T>(recorder: &Option<SharedRecorder>, f: impl FnOnce() -> T) -> T {
    match recorder {
        Some(r) => metrics::with_local_recorder(&**r, f),
        None => f(),
    }
}

#[cfg(test)]
mod tests;
