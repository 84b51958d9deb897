//! The link to NATS, the same for the exporter, the source and the witness:
//! connecting in the background, reconnecting forever with capped
//! exponential backoff, and where the connection stands ([`LinkState`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};

use crate::error::{NatsError, Result};
use switchboard_core::Backoff;

/// The exporter's, source's and witness's default backoff: 100 ms doubling
/// to 5 s, with jitter.
pub(crate) fn default_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// Where a connection to NATS stands (an exporter's or a source's).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkState {
    /// Not connected yet.
    Connecting,
    /// Connected; events flow.
    Connected,
    /// The connection was lost; the client reconnects with backoff (an
    /// exporter buffers events meanwhile).
    Disconnected,
    /// Closed; nothing more flows.
    Closed,
}

/// A [`LinkState`] shared between a client's callbacks and its handle.
#[derive(Debug)]
pub(crate) struct SharedLinkState(AtomicU8);

impl SharedLinkState {
    pub(crate) fn new() -> Self {
        SharedLinkState(AtomicU8::new(LinkState::Connecting as u8))
    }

    pub(crate) fn get(&self) -> LinkState {
        decode(self.0.load(Ordering::Relaxed))
    }

    /// Stores `state`; returns the one before.
    pub(crate) fn set(&self, state: LinkState) -> LinkState {
        decode(self.0.swap(state as u8, Ordering::Relaxed))
    }
}

fn decode(state: u8) -> LinkState {
    match state {
        0 => LinkState::Connecting,
        1 => LinkState::Connected,
        2 => LinkState::Disconnected,
        _ => LinkState::Closed,
    }
}

/// Connects to `url` without waiting for the server: the client connects and
/// reconnects in the background (`backoff` between attempts), and calls
/// `on_link` on every change (`Connected`, `Disconnected`, `Closed`). Fails
/// only on an unusable address.
pub(crate) async fn connect(
    url: &str,
    name: &str,
    backoff: Backoff,
    connect_timeout: Duration,
    on_link: Arc<dyn Fn(LinkState) + Send + Sync>,
) -> Result<Client> {
    let who = name.to_owned();
    ConnectOptions::new()
        .name(name)
        .retry_on_initial_connect()
        .connection_timeout(connect_timeout)
        .max_reconnects(None)
        .reconnect_delay_callback(move |attempts| {
            // `attempts` counts the failed ones so far.
            backoff.delay(u32::try_from(attempts).unwrap_or(u32::MAX))
        })
        .event_callback(move |event| {
            let on_link = on_link.clone();
            let who = who.clone();
            async move {
                match event {
                    Event::Connected => {
                        tracing::info!(client = %who, "connected to NATS");
                        on_link(LinkState::Connected);
                    }
                    Event::Disconnected => {
                        tracing::warn!(client = %who, "lost the NATS connection; reconnecting with backoff");
                        on_link(LinkState::Disconnected);
                    }
                    Event::Closed => on_link(LinkState::Closed),
                    other => tracing::warn!(client = %who, "NATS: {other}"),
                }
            }
        })
        .connect(url)
        .await
        .map_err(|e| NatsError::Unreachable {
            url: url.to_owned(),
            after: Duration::ZERO,
            message: e.to_string(),
        })
}
