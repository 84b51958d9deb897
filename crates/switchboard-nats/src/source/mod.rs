//! [`NatsSource`]: consumes the stream with a durable consumer and
//! publishes its events on a local bus, so the same subscribers (an audit
//! log, metrics, your actors) run in a central process.
//!
//! - `config`: what is consumed and how a batch is confirmed;
//! - `consumer`: the thread that pulls, delivers, confirms and acks;
//! - `dedup`: skipping redeliveries;
//! - `stats`: counters and metrics.

mod config;
mod consumer;
mod dedup;
mod stats;

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::Mutex;
use switchboard_core::Bus;
use tokio::sync::{oneshot, watch};

pub use config::SourceConfig;
pub use stats::{SOURCE_DELIVERED, SOURCE_SKIPPED, SourceStats};

use crate::error::{NatsError, Result};
use crate::stream::StreamSettings;
use consumer::Consumer;
use stats::Counters;
use switchboard_core::Backoff;

/// Delivers a JetStream stream's events into a local [`Bus`].
///
/// Each batch is published on the bus, then the source waits until every
/// lossless subscription has received it (`Bus::flush`) and every confirm
/// hook agrees (for an audit log: its `flush`, so the records are written
/// and fsynced), and only then acknowledges the batch. What was not
/// acknowledged is redelivered by the server, after a crash too; message ids
/// delivered lately are skipped, so subscribers see each event once.
pub struct NatsSource {
    config: SourceConfig,
    counters: Arc<Counters>,
    /// Tells the thread to stop after the batch in hand.
    stop: watch::Sender<bool>,
    /// The consumer thread and its end signal; joined by `close`.
    thread: Mutex<Option<(JoinHandle<()>, oneshot::Receiver<()>)>>,
}

impl std::fmt::Debug for NatsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSource")
            .field("url", &self.config.url)
            .field("stream", &self.config.stream.name)
            .field("durable", &self.config.durable)
            .finish()
    }
}

/// Configures and starts a [`NatsSource`].
#[derive(Debug, Clone)]
#[must_use]
pub struct SourceBuilder {
    config: SourceConfig,
}

impl SourceBuilder {
    /// The stream to consume (default [`StreamSettings::default`]).
    pub fn stream(mut self, stream: StreamSettings) -> Self {
        self.config.stream = stream;
        self
    }

    /// The durable consumer's name (default `switchboard-central`).
    pub fn durable(mut self, name: impl Into<String>) -> Self {
        self.config.durable = name.into();
        self
    }

    /// Only subjects matching this (default all of the stream's).
    pub fn filter_subject(mut self, subject: impl Into<String>) -> Self {
        self.config.filter_subject = Some(subject.into());
        self
    }

    /// Events per batch (default 256).
    pub fn batch(mut self, events: usize) -> Self {
        self.config.batch = events;
        self
    }

    /// The server's redelivery timer and the in-flight bound (default
    /// 30 s, 4,096).
    pub fn ack(mut self, ack_wait: Duration, max_ack_pending: usize) -> Self {
        self.config.ack_wait = ack_wait;
        self.config.max_ack_pending = max_ack_pending;
        self
    }

    /// Bound on one attempt to confirm a batch (default 10 s).
    pub fn confirm_within(mut self, within: Duration) -> Self {
        self.config.confirm_within = within;
        self
    }

    /// Label that names the exporting service (default `Some("service")`).
    pub fn service_label(mut self, label: Option<&str>) -> Self {
        self.config.service_label = label.map(str::to_owned);
        self
    }

    /// Message ids remembered to skip redeliveries (default 100,000).
    pub fn dedup_window(mut self, ids: usize) -> Self {
        self.config.dedup_window = ids;
        self
    }

    /// Delay between reconnects and retries (default 100 ms doubling to 5 s).
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.config.backoff = backoff;
        self
    }

    /// How long `start` waits for server, stream and consumer (default 5 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.config.connect_timeout = timeout;
        self
    }

    /// Adds a check run after each batch reached the bus and before it is
    /// acknowledged; an error holds the batch back and is retried. For an
    /// audit log: `move || { let log = log.clone(); async move { log.flush(d).await } }`.
    pub fn confirm<F, Fut, E>(mut self, check: F) -> Self
    where
        F: Fn() -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), E>> + 'static,
        E: Display,
    {
        self.config.confirms.push(Arc::new(move || {
            let fut = check();
            Box::pin(async move { fut.await.map_err(|e| e.to_string()) })
        }));
        self
    }

    /// Starts consuming into `bus`. Waits up to `connect_timeout` for the
    /// stream and the durable consumer, and fails if they cannot be had
    /// (server unreachable, stream with other settings). Call inside a
    /// tokio runtime.
    pub async fn start(self, bus: &Bus) -> Result<NatsSource> {
        self.config.validate()?;
        let counters = Arc::new(Counters::new(&self.config.durable));
        let (stop_tx, stop_rx) = watch::channel(false);
        let (ready_tx, ready_rx) = oneshot::channel();
        let (done_tx, done_rx) = oneshot::channel::<()>();
        let consumer = Consumer {
            config: self.config.clone(),
            bus: bus.clone(),
            counters: counters.clone(),
            stop: stop_rx,
            ready: Some(ready_tx),
        };
        // Ends when `close` (or drop) sets `stop`.
        let thread = std::thread::Builder::new()
            .name(format!("sb-nats-source-{}", self.config.durable))
            .spawn(move || {
                consumer.run();
                drop(done_tx);
            })
            .map_err(|e| NatsError::Config(format!("cannot start the source thread: {e}")))?;
        let source = NatsSource {
            config: self.config,
            counters,
            stop: stop_tx,
            thread: Mutex::new(Some((thread, done_rx))),
        };
        match tokio::time::timeout(source.config.connect_timeout, ready_rx).await {
            Ok(Ok(Ok(()))) => Ok(source),
            Ok(Ok(Err(e))) => Err(e),
            Ok(Err(_)) => Err(NatsError::Stopped("source")),
            Err(_) => Err(NatsError::Unreachable {
                url: source.config.url.clone(),
                after: source.config.connect_timeout,
                message: source.stats().last_error.unwrap_or_default(),
            }),
        }
    }
}

impl NatsSource {
    /// Starts configuring a source reading from the server at `url`.
    pub fn builder(url: impl Into<String>) -> SourceBuilder {
        SourceBuilder {
            config: SourceConfig::new(url),
        }
    }

    /// Counters and connection state so far.
    pub fn stats(&self) -> SourceStats {
        self.counters.snapshot()
    }

    /// The configuration in force.
    pub fn config(&self) -> &SourceConfig {
        &self.config
    }

    /// Stops after the batch in hand is confirmed and acknowledged, waiting
    /// up to `within`.
    pub async fn close(self, within: Duration) -> Result<()> {
        let _ = self.stop.send(true);
        let thread = self.thread.lock().take();
        if let Some((thread, done)) = thread {
            if tokio::time::timeout(within, done).await.is_err() {
                return Err(NatsError::Timeout {
                    pending: 0,
                    after: within,
                });
            }
            let _ = thread.join();
        }
        Ok(())
    }
}

impl Drop for NatsSource {
    /// Without [`close`](NatsSource::close): stops the thread after its
    /// batch in hand, without waiting.
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}
