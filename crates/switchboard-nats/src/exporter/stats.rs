//! The exporter's counters: read by `stats()`, mirrored into the `metrics`
//! facade (so the Prometheus exporter of `switchboard-observe` shows them),
//! and its connection state.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::link::{LinkState, SharedLinkState};

/// Counter: publishes sent to the server, retries included.
pub const PUBLISHED: &str = "switchboard_nats_published_total";
/// Counter: events the server acknowledged as stored.
pub const ACKED: &str = "switchboard_nats_acked_total";
/// Counter: retried publishes the server recognised as already stored.
pub const DUPLICATES: &str = "switchboard_nats_duplicates_total";
/// Counter: publishes sent again after a failed or missing ack.
pub const RETRIES: &str = "switchboard_nats_retries_total";
/// Counter: events that reached the stream after a later event of the same
/// exporter (lost with a dropped connection, retried after later ones landed).
pub const REORDERED: &str = "switchboard_nats_reordered_total";
/// Counter: events dropped, by `reason` (`buffer_full`, `abandoned`).
pub const DROPPED: &str = "switchboard_nats_dropped_total";
/// Counter: connections re-established after a loss.
pub const RECONNECTS: &str = "switchboard_nats_reconnects_total";
/// Gauge: events accepted and not yet acknowledged.
pub const BUFFERED: &str = "switchboard_nats_buffered";
/// Gauge: 1 while connected, else 0.
pub const CONNECTED: &str = "switchboard_nats_connected";

/// A snapshot of the exporter's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ExporterStats {
    /// The connection's state.
    pub state: LinkState,
    /// Events taken from the bus into the local buffer.
    pub accepted: u64,
    /// Publishes sent, retries included.
    pub published: u64,
    /// Events acknowledged by the server (each event once).
    pub acked: u64,
    /// Retried publishes that the server had already stored (de-duplicated
    /// by their `Nats-Msg-Id`).
    pub duplicates: u64,
    /// Publishes sent again after a failed or missing ack.
    pub retries: u64,
    /// Events accepted and not yet acknowledged.
    pub buffered: u64,
    /// Events dropped because the buffer was full (`OnFull::Drop`).
    pub dropped_full: u64,
    /// Events abandoned unacknowledged at close.
    pub abandoned: u64,
    /// Times the connection was re-established.
    pub reconnects: u64,
    /// Events that reached the stream after a later event of the same
    /// exporter did (a publish lost with a dropped connection and retried
    /// after later ones had landed).
    pub reordered: u64,
    /// The last publish or stream error, if any.
    pub last_error: Option<String>,
}

/// Shared by the handle, the bus-side closure, the publisher and the
/// client's event callback.
#[derive(Debug)]
pub(crate) struct Counters {
    pub service: String,
    state: SharedLinkState,
    pub accepted: AtomicU64,
    pub published: AtomicU64,
    pub acked: AtomicU64,
    pub duplicates: AtomicU64,
    pub retries: AtomicU64,
    pub dropped_full: AtomicU64,
    pub abandoned: AtomicU64,
    pub reconnects: AtomicU64,
    pub reordered: AtomicU64,
    /// Written on each failure, read by `stats()`.
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn new(service: &str) -> Self {
        Counters {
            service: service.to_owned(),
            state: SharedLinkState::new(),
            accepted: AtomicU64::new(0),
            published: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            retries: AtomicU64::new(0),
            dropped_full: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            reordered: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    pub fn state(&self) -> LinkState {
        self.state.get()
    }

    pub fn set_state(&self, state: LinkState) {
        let before = self.state.set(state);
        metrics::gauge!(CONNECTED, "service" => self.service.clone()).set(
            if state == LinkState::Connected {
                1.0
            } else {
                0.0
            },
        );
        if state == LinkState::Connected && before == LinkState::Disconnected {
            self.reconnects.fetch_add(1, Ordering::Relaxed);
            self.count(RECONNECTS, 1);
        }
    }

    pub fn add(&self, counter: &AtomicU64, metric: &'static str, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
            self.count(metric, n);
        }
    }

    pub fn dropped(&self, counter: &AtomicU64, reason: &'static str, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(DROPPED, "service" => self.service.clone(), "reason" => reason)
            .increment(n);
    }

    fn count(&self, metric: &'static str, n: u64) {
        metrics::counter!(metric, "service" => self.service.clone()).increment(n);
    }

    /// Events accepted and neither acknowledged nor abandoned.
    pub fn pending(&self) -> u64 {
        let done = self.acked.load(Ordering::Acquire) + self.abandoned.load(Ordering::Acquire);
        self.accepted.load(Ordering::Acquire).saturating_sub(done)
    }

    pub fn update_buffered_gauge(&self) {
        metrics::gauge!(BUFFERED, "service" => self.service.clone()).set(self.pending() as f64);
    }

    pub fn snapshot(&self) -> ExporterStats {
        let get = |c: &AtomicU64| c.load(Ordering::Acquire);
        ExporterStats {
            state: self.state(),
            accepted: get(&self.accepted),
            published: get(&self.published),
            acked: get(&self.acked),
            duplicates: get(&self.duplicates),
            retries: get(&self.retries),
            buffered: self.pending(),
            dropped_full: get(&self.dropped_full),
            abandoned: get(&self.abandoned),
            reconnects: get(&self.reconnects),
            reordered: get(&self.reordered),
            last_error: self.last_error.lock().clone(),
        }
    }
}
