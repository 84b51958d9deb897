//! What an exporter publishes, where, and what it does when NATS is away.

use std::time::Duration;

use switchboard_core::Filter;

use crate::error::{NatsError, Result};
use crate::stream::StreamSettings;
use crate::subject::{matches, token};
use switchboard_core::Backoff;

/// What the exporter does when its local buffer is full (NATS is away or
/// slower than the bus).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum OnFull {
    /// Stop taking events: the bus's lossless queue fills, and connections
    /// hold back new statements until the buffer drains, failing them with
    /// `Error::Backpressure` after the bus deadline. Nothing is ever lost;
    /// the database work waits for NATS. The default.
    Backpressure,
    /// Keep the database going: events that do not fit are dropped, each one
    /// counted (`stats().dropped_full`, `switchboard_nats_dropped_total
    /// {reason="buffer_full"}`) and logged at ERROR (the first of each run
    /// of drops, then every 10,000th).
    Drop,
}

/// The exporter's configuration; every field has a documented default.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ExporterConfig {
    /// Server address(es), comma-separated (`nats://127.0.0.1:4222`).
    pub url: String,
    /// This service's name: the second subject token and part of each
    /// message id. Required.
    pub service: String,
    /// First subject token. Default `switchboard`.
    pub subject_prefix: String,
    /// The stream, created or checked at start. Default
    /// [`StreamSettings::default`] (`SWITCHBOARD`, `switchboard.>`).
    pub stream: StreamSettings,
    /// Which events are exported. Default all.
    pub filter: Filter,
    /// Events held locally, accepted from the bus but not yet acknowledged
    /// by the server. Default 65,536.
    pub buffer: usize,
    /// What happens when `buffer` is full. Default [`OnFull::Backpressure`].
    pub on_full: OnFull,
    /// Events the bus queues for the exporter before connections wait
    /// (its lossless subscription's capacity). Default 1,024.
    pub bus_capacity: usize,
    /// How long a connection waits for room in that queue before its
    /// statement fails with `Error::Backpressure`. Default 5 s.
    pub bus_deadline: Duration,
    /// Publishes sent before their acks are awaited (one batch). Default 256.
    pub max_in_flight: usize,
    /// How long one publish waits for its ack before it is retried.
    /// Default 5 s.
    pub ack_timeout: Duration,
    /// Delay between reconnect attempts and between publish retries.
    /// Default 100 ms doubling to 5 s, each delay a random point in the
    /// upper half of its step.
    pub backoff: Backoff,
    /// How long `start` waits for the server and the stream. Default 5 s.
    pub connect_timeout: Duration,
    /// Whether `start` fails when the server cannot be reached within
    /// `connect_timeout`. Default `false`: it starts disconnected, buffers,
    /// and connects in the background. A stream that exists with other
    /// settings always fails `start`.
    pub fail_fast: bool,
}

impl ExporterConfig {
    /// The defaults, for this server and service.
    pub fn new(url: impl Into<String>, service: impl Into<String>) -> Self {
        ExporterConfig {
            url: url.into(),
            service: service.into(),
            subject_prefix: "switchboard".to_owned(),
            stream: StreamSettings::default(),
            filter: Filter::all(),
            buffer: 65_536,
            on_full: OnFull::Backpressure,
            bus_capacity: 1024,
            bus_deadline: Duration::from_secs(5),
            max_in_flight: 256,
            ack_timeout: Duration::from_secs(5),
            backoff: crate::link::default_backoff(),
            connect_timeout: Duration::from_secs(5),
            fail_fast: false,
        }
    }

    /// Checks what can be checked without a server.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(NatsError::Config(m));
        if self.service.is_empty() {
            return bad("the exporter needs a service name".into());
        }
        if self.subject_prefix.is_empty() || self.subject_prefix.contains(['*', '>', ' ']) {
            return bad(format!(
                "subject prefix {:?} must be non-empty without wildcards or spaces",
                self.subject_prefix
            ));
        }
        if self.buffer == 0 || self.bus_capacity == 0 || self.max_in_flight == 0 {
            return bad("buffer, bus_capacity and max_in_flight must be at least 1".into());
        }
        if self.ack_timeout.is_zero() || self.connect_timeout.is_zero() {
            return bad("ack_timeout and connect_timeout must be positive".into());
        }
        self.stream.validate()?;
        let sample = format!(
            "{}.{}.pool.Executing",
            self.subject_prefix,
            token(&self.service)
        );
        if !self.stream.subjects.iter().any(|p| matches(p, &sample)) {
            return bad(format!(
                "stream {:?} captures {:?}, which does not include this exporter's subjects ({}.{}.<pool>.<kind>); add {}.> to the stream's subjects or change the prefix",
                self.stream.name,
                self.stream.subjects,
                self.subject_prefix,
                token(&self.service),
                self.subject_prefix
            ));
        }
        Ok(())
    }
}
