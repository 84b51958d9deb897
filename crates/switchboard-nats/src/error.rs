//! Errors of the NATS exporter and source.

use std::time::Duration;

/// A `Result` with this crate's [`NatsError`].
pub type Result<T, E = NatsError> = std::result::Result<T, E>;

/// What went wrong talking to NATS or configuring the bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NatsError {
    /// The configuration cannot work (empty name, zero capacity, ...).
    #[error("invalid NATS configuration: {0}")]
    Config(String),
    /// The server could not be reached within the connect timeout.
    #[error(
        "cannot reach NATS at {url} within {after:?}: {message}; check that nats-server runs with JetStream (-js) there"
    )]
    Unreachable {
        /// The server address as configured.
        url: String,
        /// How long it was tried.
        after: Duration,
        /// The client's last error.
        message: String,
    },
    /// A JetStream request about the stream or consumer failed.
    #[error("JetStream {what} failed for stream {stream:?}: {message}")]
    JetStream {
        /// What was asked (`create stream`, `create consumer`, ...).
        what: &'static str,
        /// The stream's name.
        stream: String,
        /// The server's or client's message.
        message: String,
    },
    /// The stream exists with settings that differ from the configured ones.
    #[error(
        "stream {stream:?} exists with {what} {found}, but {configured} is configured; configure the same, or update or delete the stream (nats stream edit / rm)"
    )]
    StreamMismatch {
        /// The stream's name.
        stream: String,
        /// Which setting differs.
        what: &'static str,
        /// The stream's value.
        found: String,
        /// The configured value.
        configured: String,
    },
    /// Subscribing to a bus failed.
    #[error("cannot subscribe to the bus: {0}")]
    Subscribe(#[source] switchboard_core::Error),
    /// Waiting for the bus's lossless subscriptions failed.
    #[error("the bus did not hand over its events: {0}")]
    Bus(#[source] switchboard_core::Error),
    /// `flush` or `close` did not finish in time; `pending` events were not
    /// yet acknowledged by the server.
    #[error(
        "{pending} events not yet acknowledged by NATS after {after:?}; is the server reachable? (see stats())"
    )]
    Timeout {
        /// Events accepted but not acknowledged.
        pending: u64,
        /// The time given.
        after: Duration,
    },
    /// The background thread could not start or has stopped.
    #[error("the NATS {0} thread is not running")]
    Stopped(&'static str),
}
