//! The source's counters, mirrored into the `metrics` facade.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

use crate::link::{LinkState, SharedLinkState};

/// Counter: events handed to the local bus, by `durable`.
pub const SOURCE_DELIVERED: &str = "switchboard_nats_source_delivered_total";
/// Counter: messages not handed to the bus, by `durable` and `reason`
/// (`duplicate`, `undecodable`).
pub const SOURCE_SKIPPED: &str = "switchboard_nats_source_skipped_total";

/// A snapshot of the source's counters.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SourceStats {
    /// The connection's state.
    pub state: LinkState,
    /// Messages received from the server, redeliveries included.
    pub received: u64,
    /// Events handed to the local bus and confirmed.
    pub delivered: u64,
    /// Messages acknowledged to the server.
    pub acked: u64,
    /// Redeliveries and duplicates skipped (their id was delivered lately).
    pub duplicates: u64,
    /// Messages that were not Switchboard events (terminated, logged).
    pub undecodable: u64,
    /// The last error, if any.
    pub last_error: Option<String>,
}

/// Shared by the handle and the source's thread.
#[derive(Debug)]
pub(crate) struct Counters {
    durable: String,
    state: SharedLinkState,
    pub received: AtomicU64,
    pub delivered: AtomicU64,
    pub acked: AtomicU64,
    pub duplicates: AtomicU64,
    pub undecodable: AtomicU64,
    /// Written on each failure, read by `stats()`.
    pub last_error: Mutex<Option<String>>,
}

impl Counters {
    pub fn new(durable: &str) -> Self {
        Counters {
            durable: durable.to_owned(),
            state: SharedLinkState::new(),
            received: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            acked: AtomicU64::new(0),
            duplicates: AtomicU64::new(0),
            undecodable: AtomicU64::new(0),
            last_error: Mutex::new(None),
        }
    }

    pub fn set_state(&self, state: LinkState) {
        self.state.set(state);
    }

    pub fn delivered(&self, n: u64) {
        self.delivered.fetch_add(n, Ordering::Relaxed);
        metrics::counter!(SOURCE_DELIVERED, "durable" => self.durable.clone()).increment(n);
    }

    pub fn skipped(&self, counter: &AtomicU64, reason: &'static str, n: u64) {
        if n > 0 {
            counter.fetch_add(n, Ordering::Relaxed);
            metrics::counter!(SOURCE_SKIPPED, "durable" => self.durable.clone(), "reason" => reason)
                .increment(n);
        }
    }

    pub fn snapshot(&self) -> SourceStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        SourceStats {
            state: self.state.get(),
            received: get(&self.received),
            delivered: get(&self.delivered),
            acked: get(&self.acked),
            duplicates: get(&self.duplicates),
            undecodable: get(&self.undecodable),
            last_error: self.last_error.lock().clone(),
        }
    }
}
