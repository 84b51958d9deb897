//! What a source consumes and how it confirms delivery.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::{NatsError, Result};
use crate::stream::StreamSettings;
use switchboard_core::Backoff;

/// A check run after each batch reached the local bus and before the batch
/// is acknowledged to NATS (an audit log's `flush`: the events are on disk).
pub(crate) type Confirm =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = Result<(), String>>>> + Send + Sync>;

/// The source's configuration; every field has a documented default.
#[derive(Clone)]
#[non_exhaustive]
pub struct SourceConfig {
    /// Server address(es), comma-separated.
    pub url: String,
    /// The stream, created if missing or checked. Default
    /// [`StreamSettings::default`].
    pub stream: StreamSettings,
    /// The durable consumer's name: the server remembers what it has
    /// acknowledged, so a restarted source continues where it stopped.
    /// Default `switchboard-central`.
    pub durable: String,
    /// Only subjects matching this (`switchboard.orders.>`). Default all of
    /// the stream's.
    pub filter_subject: Option<String>,
    /// Events handed to the bus before each confirmation and ack. Default 256.
    pub batch: usize,
    /// How long the server waits for an ack before redelivering. Must
    /// exceed the time a batch takes to confirm. Default 30 s.
    pub ack_wait: Duration,
    /// Messages delivered and not yet acknowledged, at most. Default 4,096.
    pub max_ack_pending: usize,
    /// Bound on each attempt to hand a batch to the bus's lossless
    /// subscribers and confirm it; a failed attempt is retried with backoff,
    /// and the batch is not acknowledged until one succeeds. Default 10 s.
    pub confirm_within: Duration,
    /// Label set on each event to the service that exported it, unless the
    /// event already has one; `None` leaves events as they were. Default
    /// `Some("service")`.
    pub service_label: Option<String>,
    /// Message ids remembered to skip redeliveries and duplicates. Default
    /// 100,000.
    pub dedup_window: usize,
    /// Delay between reconnects and retries. Default 100 ms doubling to 5 s
    /// (each delay in the upper half of its step, at random).
    pub backoff: Backoff,
    /// How long `start` waits for the server, stream and consumer.
    /// Default 5 s.
    pub connect_timeout: Duration,
    pub(crate) confirms: Vec<Confirm>,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("url", &self.url)
            .field("stream", &self.stream)
            .field("durable", &self.durable)
            .field("filter_subject", &self.filter_subject)
            .field("batch", &self.batch)
            .field("ack_wait", &self.ack_wait)
            .field("confirms", &self.confirms.len())
            .finish_non_exhaustive()
    }
}

impl SourceConfig {
    /// The defaults, for this server.
    pub fn new(url: impl Into<String>) -> Self {
        SourceConfig {
            url: url.into(),
            stream: StreamSettings::default(),
            durable: "switchboard-central".to_owned(),
            filter_subject: None,
            batch: 256,
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 4096,
            confirm_within: Duration::from_secs(10),
            service_label: Some("service".to_owned()),
            dedup_window: 100_000,
            backoff: crate::link::default_backoff(),
            connect_timeout: Duration::from_secs(5),
            confirms: Vec::new(),
        }
    }

    /// Checks what can be checked without a server.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(NatsError::Config(m.to_owned()));
        if self.durable.is_empty() || self.durable.contains(['.', '*', '>', ' ']) {
            return bad("the durable name must be non-empty without '.', '*', '>' or spaces");
        }
        if self.batch == 0 || self.max_ack_pending < self.batch {
            return bad("batch must be at least 1 and max_ack_pending at least batch");
        }
        if self.ack_wait <= self.confirm_within {
            return bad(
                "ack_wait must exceed confirm_within, or batches are redelivered while confirming",
            );
        }
        self.stream.validate()
    }
}
