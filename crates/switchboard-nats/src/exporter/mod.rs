//! [`NatsExporter`]: a bus subscriber that publishes every event it
//! receives into a JetStream stream, with acknowledged, de-duplicated
//! publishes.
//!
//! - `config`: what is exported, where, and what happens when NATS is away;
//! - `sink`: the bus side of the local buffer, where `OnFull` applies;
//! - `publisher`: the thread that publishes, awaits acks and retries;
//! - `stats`: counters, metrics and the connection state.

mod config;
mod publisher;
mod sink;
mod stats;

use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::Duration;

use async_nats::Client;
use parking_lot::Mutex;
use switchboard_core::subscriber::OwnedSubscriptions;
use switchboard_core::{Bus, Delivery, Event, Filter, Subscriber, Subscription};
use tokio::sync::{mpsc, oneshot, watch};

pub use config::{ExporterConfig, OnFull};
pub use stats::{
    ACKED, BUFFERED, CONNECTED, DROPPED, DUPLICATES, ExporterStats, PUBLISHED, RECONNECTS,
    REORDERED, RETRIES,
};

use crate::error::{NatsError, Result};
use crate::stream::StreamSettings;
use publisher::Publisher;
use sink::Sink;
use stats::Counters;
use switchboard_core::Backoff;

/// Publishes a bus's events to NATS JetStream, on
/// `<prefix>.<service>.<pool>.<kind>`, as the event's JSON, each with a
/// `Nats-Msg-Id` so that a retried publish is stored once.
///
/// Its bus subscription is lossless. Events wait in a bounded local buffer
/// until the server acknowledges them; when the buffer is full, the
/// [`OnFull`] contract applies. See the [crate documentation](crate).
pub struct NatsExporter {
    config: Arc<ExporterConfig>,
    counters: Arc<Counters>,
    /// The local buffer's sending end; each bus's closure holds a clone.
    /// Taken at close, so the publisher stops once the buffer is drained.
    events: Mutex<Option<mpsc::Sender<Event>>>,
    /// Acknowledged plus abandoned events, for `flush`.
    settled: watch::Receiver<u64>,
    /// Tells the publisher to give up on what it holds (close timed out).
    abandon: watch::Sender<bool>,
    /// The publisher's client, once it has one.
    client: Arc<OnceLock<Client>>,
    /// Its subscriptions on the buses attached to: flushed, and ended at
    /// close or drop, not when a handle `attach` gave is dropped.
    subscriptions: OwnedSubscriptions,
    /// The publisher thread; joined by `close`, detached on drop.
    thread: Mutex<Option<(JoinHandle<()>, oneshot::Receiver<()>)>>,
}

impl std::fmt::Debug for NatsExporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsExporter")
            .field("url", &self.config.url)
            .field("service", &self.config.service)
            .field("stream", &self.config.stream.name)
            .finish()
    }
}

/// Configures and starts a [`NatsExporter`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ExporterBuilder {
    config: ExporterConfig,
}

impl ExporterBuilder {
    /// Replaces the whole configuration.
    pub fn config(mut self, config: ExporterConfig) -> Self {
        self.config = config;
        self
    }

    /// First subject token (default `switchboard`).
    pub fn subject_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.subject_prefix = prefix.into();
        self
    }

    /// The stream to create or check (default [`StreamSettings::default`]).
    pub fn stream(mut self, stream: StreamSettings) -> Self {
        self.config.stream = stream;
        self
    }

    /// Which events to export (default all).
    pub fn filter(mut self, filter: impl Into<Filter>) -> Self {
        self.config.filter = filter.into();
        self
    }

    /// Events held until acknowledged (default 65,536).
    pub fn buffer(mut self, events: usize) -> Self {
        self.config.buffer = events;
        self
    }

    /// What happens when the buffer is full (default
    /// [`OnFull::Backpressure`]).
    pub fn on_full(mut self, on_full: OnFull) -> Self {
        self.config.on_full = on_full;
        self
    }

    /// The bus subscription's capacity and deadline (default 1,024, 5 s).
    pub fn bus_queue(mut self, capacity: usize, deadline: Duration) -> Self {
        self.config.bus_capacity = capacity;
        self.config.bus_deadline = deadline;
        self
    }

    /// Publishes in flight before acks are awaited (default 256).
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.config.max_in_flight = n;
        self
    }

    /// How long a publish waits for its ack before a retry (default 5 s).
    pub fn ack_timeout(mut self, timeout: Duration) -> Self {
        self.config.ack_timeout = timeout;
        self
    }

    /// Delay between reconnects and retries (default 100 ms doubling to 5 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// How long `start` waits for the server and stream (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Whether `start` fails when the server is unreachable (default false).
    pub fn fail_fast(mut self, yes: bool) -> Self {
        self.config.fail_fast = yes;
        self
    }

    /// The configuration as built so far.
    pub fn to_config(&self) -> ExporterConfig {
        self.config.clone()
    }

    /// Starts the publisher thread, which connects and creates or checks
    /// the stream. Waits for that up to `connect_timeout`: fails if the
    /// stream exists with other settings, or (with `fail_fast`) if the
    /// server cannot be reached; otherwise an unreachable server is logged
    /// and the exporter buffers until it connects. Call inside a tokio
    /// runtime (an actix `System` is one).
    pub async fn start(self) -> Result<NatsExporter> {
        self.config.validate()?;
        let config = Arc::new(self.config);
        let counters = Arc::new(Counters::new(&config.service));
        let (events_tx, events_rx) = mpsc::channel(config.buffer);
        let (settled_tx, settled_rx) = watch::channel(0);
        let (abandon_tx, abandon_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let client = Arc::new(OnceLock::new());
        let publisher = Publisher {
            config: config.clone(),
            events: events_rx,
            counters: counters.clone(),
            settled: settled_tx,
            abandon: abandon_rx,
            ready: Some(ready_tx),
            client: client.clone(),
        };
        // Ends when the buffer is closed and drained, or on abandon.
        let thread = std::thread::Builder::new()
            .name(format!("sb-nats-export-{}", config.service))
            .spawn(move || {
                publisher.run();
                drop(done_tx);
            })
            .map_err(|e| NatsError::Config(format!("cannot start the exporter thread: {e}")))?;
        let exporter = NatsExporter {
            config: config.clone(),
            counters,
            events: Mutex::new(Some(events_tx)),
            settled: settled_rx,
            abandon: abandon_tx,
            client,
            subscriptions: OwnedSubscriptions::new(),
            thread: Mutex::new(Some((thread, done_rx))),
        };
        match tokio::time::timeout(config.connect_timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(exporter),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(NatsError::Stopped("exporter")),
            Err(_) if config.fail_fast => {
                let message = exporter.stats().last_error.unwrap_or_default();
                let _ = exporter.abandon.send(true);
                Err(NatsError::Unreachable {
                    url: config.url.clone(),
                    after: config.connect_timeout,
                    message,
                })
            }
            Err(_) => {
                tracing::warn!(
                    url = %config.url,
                    service = %config.service,
                    "NATS not reachable within {:?}; buffering events until it is",
                    config.connect_timeout
                );
                Ok(exporter)
            }
        }
    }
}

impl NatsExporter {
    /// Starts configuring an exporter for `service` to the server at `url`.
    pub fn builder(url: impl Into<String>, service: impl Into<String>) -> ExporterBuilder {
        ExporterBuilder {
            config: ExporterConfig::new(url, service),
        }
    }

    /// Subscribes to `bus` losslessly (name `nats-exporter-<service>`).
    /// Several buses may be attached; their events share one buffer.
    ///
    /// The exporter keeps the subscription until it is
    /// [closed](Self::close) (or dropped): the returned handle is
    /// [kept](Subscription::kept), so dropping it ends nothing;
    /// [`detach`](Subscription::detach) on it stops exporting this bus.
    pub fn attach(&self, bus: &Bus) -> Result<Subscription> {
        let tx = self
            .events
            .lock()
            .clone()
            .ok_or(NatsError::Stopped("exporter"))?;
        let delivery =
            Delivery::lossless(self.config.bus_capacity).with_deadline(self.config.bus_deadline);
        let mut sink = Sink::new(tx, self.counters.clone(), self.config.on_full);
        let name = format!("nats-exporter-{}", self.config.service);
        let id = bus
            .subscribe_fn(&name, self.config.filter.clone(), delivery, move |event| {
                sink.take(event)
            })
            .map_err(NatsError::Subscribe)?;
        Ok(self.subscriptions.hold(bus, id, None))
    }

    /// Waits until every event published so far on the attached buses is
    /// acknowledged by the server, up to `within`.
    pub async fn flush(&self, within: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + within;
        self.subscriptions
            .flush(within)
            .await
            .map_err(NatsError::Bus)?;
        let target = self
            .counters
            .accepted
            .load(std::sync::atomic::Ordering::Acquire);
        let mut settled = self.settled.clone();
        let waited = tokio::time::timeout_at(deadline, settled.wait_for(|s| *s >= target)).await;
        match waited {
            Ok(Ok(_)) => Ok(()),
            _ if *self.settled.borrow() >= target => Ok(()),
            Ok(Err(_)) => Err(NatsError::Stopped("exporter")),
            Err(_) => Err(NatsError::Timeout {
                pending: target.saturating_sub(*self.settled.borrow()),
                after: within,
            }),
        }
    }

    /// Flushes (up to `within`), detaches from every bus and stops the
    /// publisher. Events still unacknowledged then are abandoned: counted
    /// (`stats().abandoned`), logged at ERROR, and reported as
    /// [`NatsError::Timeout`].
    pub async fn close(self, within: Duration) -> Result<()> {
        let flushed = self.flush(within).await;
        self.detach();
        if flushed.is_err() {
            let _ = self.abandon.send(true);
        }
        let thread = self.thread.lock().take();
        if let Some((thread, done)) = thread {
            // Prompt: the buffer is drained or abandoned.
            let _ = tokio::time::timeout(Duration::from_secs(5), done).await;
            if thread.is_finished() {
                let _ = thread.join();
            }
        }
        flushed
    }

    /// Drops the current connection and reconnects (after a server's
    /// maintenance, or to test retries). Unacknowledged publishes are
    /// retried with their message ids, so none is stored twice.
    pub async fn force_reconnect(&self) -> Result<()> {
        let client = self.client.get().ok_or(NatsError::Stopped("exporter"))?;
        client
            .force_reconnect()
            .await
            .map_err(|e| NatsError::Unreachable {
                url: self.config.url.clone(),
                after: Duration::ZERO,
                message: e.to_string(),
            })
    }

    /// Counters and connection state so far.
    pub fn stats(&self) -> ExporterStats {
        self.counters.snapshot()
    }

    /// The configuration in force.
    pub fn config(&self) -> &ExporterConfig {
        &self.config
    }

    fn detach(&self) {
        self.subscriptions.end_all();
        self.events.lock().take();
    }
}

impl Subscriber for &NatsExporter {
    type Error = NatsError;

    /// [`NatsExporter::attach`].
    fn attach(self, bus: &Bus) -> Result<Subscription> {
        NatsExporter::attach(self, bus)
    }
}

impl Drop for NatsExporter {
    /// Without [`close`](NatsExporter::close): detaches; the publisher keeps
    /// going on its thread until what it holds is acknowledged.
    fn drop(&mut self) {
        self.detach();
    }
}
