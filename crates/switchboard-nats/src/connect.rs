//! Connecting to NATS the same way for the exporter and the source: in the
//! background, reconnecting forever with capped exponential backoff, and
//! reporting connection changes.

use std::sync::Arc;
use std::time::Duration;

use async_nats::{Client, ConnectOptions, Event};

use crate::error::{NatsError, Result};
use switchboard_core::Backoff;

/// The exporter's, source's and witness's default backoff: 100 ms doubling
/// to 5 s, with jitter.
pub(crate) fn default_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(100), Duration::from_secs(5))
}

/// A connection change, as the client reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Link {
    Up,
    Down,
    Closed,
}

/// Connects to `url` without waiting for the server: the client connects and
/// reconnects in the background (`backoff` between attempts), and calls
/// `on_link` on every change. Fails only on an unusable address.
pub(crate) async fn connect(
    url: &str,
    name: &str,
    backoff: Backoff,
    connect_timeout: Duration,
    on_link: Arc<dyn Fn(Link) + Send + Sync>,
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
                        on_link(Link::Up);
                    }
                    Event::Disconnected => {
                        tracing::warn!(client = %who, "lost the NATS connection; reconnecting with backoff");
                        on_link(Link::Down);
                    }
                    Event::Closed => on_link(Link::Closed),
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
