//! The bus side of the exporter's local buffer: where an event is accepted,
//! or the [`OnFull`] contract applies when the buffer is full.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchboard_core::{Event, Flow};
use tokio::sync::mpsc::{self, error::TrySendError};

use super::config::OnFull;
use super::stats::Counters;

/// The bus side of the buffer: runs on the subscription's own thread.
pub(super) struct Sink {
    tx: mpsc::Sender<Event>,
    counters: Arc<Counters>,
    on_full: OnFull,
    /// Events dropped since the buffer last had room (`OnFull::Drop`).
    run: u64,
}

impl Sink {
    pub fn new(tx: mpsc::Sender<Event>, counters: Arc<Counters>, on_full: OnFull) -> Self {
        Sink {
            tx,
            counters,
            on_full,
            run: 0,
        }
    }

    pub fn take(&mut self, event: Event) -> Flow {
        let c = &self.counters;
        let event = match self.tx.try_send(event) {
            Ok(()) => {
                self.accepted();
                return Flow::Continue;
            }
            Err(TrySendError::Closed(_)) => return Flow::Stop,
            Err(TrySendError::Full(event)) => event,
        };
        match self.on_full {
            OnFull::Backpressure => {
                tracing::warn!(
                    service = %c.service,
                    buffered = c.pending(),
                    state = ?c.state(),
                    "NATS export buffer full; holding the bus (statements wait, then fail with Backpressure)"
                );
                // A plain thread (the bus runs closures on their own), so
                // blocking here is what pushes back on the bus.
                match self.tx.blocking_send(event) {
                    Ok(()) => {
                        self.accepted();
                        Flow::Continue
                    }
                    Err(_) => Flow::Stop,
                }
            }
            OnFull::Drop => {
                self.run += 1;
                c.dropped(&c.dropped_full, "buffer_full", 1);
                let total = c.dropped_full.load(Ordering::Relaxed);
                if self.run == 1 || total.is_multiple_of(10_000) {
                    tracing::error!(
                        service = %c.service,
                        dropped_total = total,
                        buffered = c.pending(),
                        state = ?c.state(),
                        "NATS export buffer full; dropping events (on_full = Drop)"
                    );
                }
                Flow::Continue
            }
        }
    }

    fn accepted(&mut self) {
        let c = &self.counters;
        c.accepted.fetch_add(1, Ordering::AcqRel);
        if self.run > 0 {
            tracing::error!(service = %c.service, dropped = self.run, "NATS export buffer has room again after dropping events");
            self.run = 0;
        }
    }
}
