//! Stamps and publishes the events of one connection.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use chrono::Utc;
use parking_lot::Mutex;

use crate::bus::Bus;
use crate::event::{Backend, ConnectionId, Event, EventKind, Labels, Meta, next_event_id};

/// Publishes events for one connection with gap-free sequence numbers.
///
/// Shared (`Arc`) between a connection actor and the diesel instrumentation
/// of its driver connection, which may report from a blocking thread; the
/// connection never runs two pieces of work at once, so events of one
/// connection are published in the order they happened.
#[derive(Debug)]
pub struct Emitter {
    bus: Bus,
    pool: Arc<str>,
    backend: Backend,
    connection: ConnectionId,
    seq: AtomicU64,
    /// Labels of the work under way, stamped on every event it causes.
    labels: Mutex<Labels>,
}

impl Emitter {
    /// An emitter for one connection.
    pub fn new(bus: Bus, pool: Arc<str>, backend: Backend, connection: ConnectionId) -> Self {
        Emitter {
            bus,
            pool,
            backend,
            connection,
            seq: AtomicU64::new(0),
            labels: Mutex::new(Labels::new()),
        }
    }

    /// The bus events go to.
    pub fn bus(&self) -> &Bus {
        &self.bus
    }

    /// The connection.
    pub fn connection(&self) -> ConnectionId {
        self.connection
    }

    /// The pool name.
    pub fn pool(&self) -> &Arc<str> {
        &self.pool
    }

    /// The backend.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Sets the labels of the work now under way.
    pub fn set_labels(&self, labels: Labels) {
        *self.labels.lock() = labels;
    }

    /// Stamps `kind` with the next sequence number and publishes it.
    pub fn emit(&self, kind: EventKind) {
        self.publish(kind);
    }

    /// [`emit`](Self::emit), returning the event published.
    pub fn publish(&self, kind: EventKind) -> Event {
        let event = Event::new(
            Meta {
                id: next_event_id(),
                at: Utc::now(),
                pool: self.pool.clone(),
                connection: Some(self.connection),
                seq: self.seq.fetch_add(1, Ordering::Relaxed) + 1,
                backend: self.backend,
                labels: self.labels.lock().clone(),
            },
            kind,
        );
        self.bus.publish(&event);
        event
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.seq.load(Ordering::Relaxed)
    }
}
