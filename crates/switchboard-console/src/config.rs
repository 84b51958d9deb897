//! [`ConsoleConfig`]: how a console listens, whom it lets in, and its
//! bounds. Every field has a default.

use std::time::Duration;

use crate::token::Token;

/// How a console is set up. Every field has a documented default; set the
/// public fields of `ConsoleConfig::default()` and pass it to
/// [`ConsoleBuilder::config`](crate::ConsoleBuilder::config), or use the
/// builder's methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct ConsoleConfig {
    /// `HOST:PORT` to listen on; port 0 picks a free one. Default
    /// `127.0.0.1:9100`: only this machine can connect until you choose a
    /// wider address (then set a `token`).
    pub listen: String,
    /// Bearer token every request for data must carry (`/api/...`,
    /// `/metrics`). Default none: anyone who can connect may read. The page
    /// itself (`/` and its script and style) holds no data and is served
    /// without it; it asks for the token. `/healthz` answers without it.
    pub token: Option<Token>,
    /// Bearer token for actions (read-only switch, rules reload). Default
    /// none: actions are off, and answer 403. Requests carrying it may
    /// also read.
    pub actions: Option<Token>,
    /// Event stream clients at once; more get 503. Default 8.
    pub max_clients: usize,
    /// Entries a client may have waiting to be written; a client that
    /// falls this far behind is dropped (its stream ends with a `dropped`
    /// event, and it may resume with `Last-Event-ID`). Default 1024.
    pub client_buffer: usize,
    /// Entries kept for clients resuming with `Last-Event-ID`. Default 4096.
    pub ring: usize,
    /// Frequent events (checkouts, statements, transactions) streamed per
    /// pool and second at most; the rest are counted as skipped. Denials,
    /// failures, connects, closes and leaks are always streamed. Default
    /// 1000.
    pub stream_rate: u32,
    /// Events to stream that a pool's feed holds for its streaming thread
    /// before dropping them (counted in
    /// `switchboard_console_missed_events_total`). Default 8192.
    pub feed_capacity: usize,
    /// How far back the charts and the slowest-statements list go. Default
    /// 5 minutes.
    pub history: Duration,
    /// Idle time after which an event stream sends a comment, so proxies
    /// keep it open and a vanished client is noticed. Default 15 s.
    pub keep_alive: Duration,
    /// Whether `/metrics` serves Prometheus metrics recorded by
    /// `switchboard-observe`'s `Metrics` (recorded by the console's feed,
    /// a tap that sees every event anyway, through a `MetricsTap` that
    /// keeps the statement, checkout and held-time histograms and the
    /// statement counts itself). Default true.
    pub metrics: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            listen: "127.0.0.1:9100".into(),
            token: None,
            actions: None,
            max_clients: 8,
            client_buffer: 1024,
            ring: 4096,
            stream_rate: 1000,
            feed_capacity: 8192,
            history: Duration::from_secs(300),
            keep_alive: Duration::from_secs(15),
            metrics: true,
        }
    }
}

impl ConsoleConfig {
    /// Why this configuration cannot work, if it cannot.
    pub(crate) fn check(&self) -> Result<(), String> {
        for (name, value) in [
            ("max_clients", self.max_clients),
            ("client_buffer", self.client_buffer),
            ("ring", self.ring),
            ("feed_capacity", self.feed_capacity),
            ("stream_rate", self.stream_rate as usize),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.history < Duration::from_secs(1) {
            return Err("history must be at least 1 s".into());
        }
        if self.keep_alive < Duration::from_millis(10) {
            return Err("keep_alive must be at least 10 ms".into());
        }
        Ok(())
    }
}
