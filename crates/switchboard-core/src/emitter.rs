//! Stamps and publishes the events of one connection.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use parking_lot::Mutex;

use crate::bus::Bus;
use crate::event::{
    Backend, ConnectionId, ErrorInfo, Event, EventKind, Labels, Meta, next_event_id,
};
use crate::status::{ConnectionState, ConnectionStatus, CurrentStatement};

/// Publishes events for one connection with gap-free sequence numbers, and
/// keeps what they say about the connection for its status.
///
/// Shared (`Arc`) between a connection actor, the diesel instrumentation of
/// its driver connection (which may report from a blocking thread) and the
/// manager (leak warnings). Numbering and publishing happen under one lock,
/// so events of one connection reach every queue in sequence order.
#[derive(Debug)]
pub struct Emitter {
    bus: Bus,
    pool: Arc<str>,
    backend: Backend,
    connection: ConnectionId,
    opened: Instant,
    state: Mutex<Track>,
}

/// What the connection's events said so far.
#[derive(Debug, Default)]
struct Track {
    seq: u64,
    /// Labels of the work under way, stamped on every event it causes.
    labels: Labels,
    lent_since: Option<Instant>,
    leak_reported: bool,
    current: Option<(u64, Arc<str>, Instant)>,
    statements: u64,
    failures: u64,
    last_error: Option<ErrorInfo>,
}

impl Track {
    fn note(&mut self, kind: &EventKind, now: Instant) {
        match kind {
            EventKind::CheckedOut { .. } => {
                self.lent_since = Some(now);
                self.leak_reported = false;
            }
            EventKind::CheckedIn { .. } => self.lent_since = None,
            EventKind::Executing { query_id, sql, .. } => {
                self.current = Some((*query_id, sql.clone(), now));
            }
            EventKind::Executed { .. } => {
                self.current = None;
                self.statements += 1;
            }
            EventKind::ExecuteFailed { error, .. } => {
                self.current = None;
                self.statements += 1;
                self.failures += 1;
                self.last_error = Some(error.clone());
            }
            EventKind::Denied { .. } => self.current = None,
            EventKind::ConnectFailed { error, .. } | EventKind::Invalidated { error } => {
                self.last_error = Some(error.clone());
            }
            _ => {}
        }
    }
}

impl Emitter {
    /// An emitter for one connection.
    pub fn new(bus: Bus, pool: Arc<str>, backend: Backend, connection: ConnectionId) -> Self {
        Emitter {
            bus,
            pool,
            backend,
            connection,
            opened: Instant::now(),
            state: Mutex::new(Track::default()),
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

    /// How long since the emitter (the connection slot) was made.
    pub fn age(&self) -> Duration {
        self.opened.elapsed()
    }

    /// Sets the labels of the work now under way.
    pub fn set_labels(&self, labels: Labels) {
        self.state.lock().labels = labels;
    }

    /// Stamps `kind` with the next sequence number and publishes it.
    pub fn emit(&self, kind: EventKind) {
        self.publish(kind);
    }

    /// [`emit`](Self::emit), returning the event published.
    pub fn publish(&self, kind: EventKind) -> Event {
        let mut track = self.state.lock();
        self.publish_locked(&mut track, kind)
    }

    fn publish_locked(&self, track: &mut Track, kind: EventKind) -> Event {
        track.note(&kind, Instant::now());
        track.seq += 1;
        let event = Event::new(
            Meta {
                id: next_event_id(),
                at: Utc::now(),
                pool: self.pool.clone(),
                connection: Some(self.connection),
                seq: track.seq,
                backend: self.backend,
                labels: track.labels.clone(),
            },
            kind,
        );
        self.bus.publish(&event);
        event
    }

    /// Events published so far.
    pub fn published(&self) -> u64 {
        self.state.lock().seq
    }

    /// Publishes `LeakSuspected` if the connection has been lent out longer
    /// than `threshold` and this loan was not reported yet; returns how long
    /// it has been out, and the holder's labels, when it reports.
    pub fn report_leak(&self, threshold: Duration) -> Option<(Duration, Labels)> {
        let mut track = self.state.lock();
        let held = track.lent_since?.elapsed();
        if held < threshold || track.leak_reported {
            return None;
        }
        track.leak_reported = true;
        self.publish_locked(&mut track, EventKind::LeakSuspected { held });
        Some((held, track.labels.clone()))
    }

    /// The connection as its events describe it; `idle` says whether the
    /// manager holds it in its idle set.
    pub fn status(&self, idle: bool) -> ConnectionStatus {
        let track = self.state.lock();
        let now = Instant::now();
        let current = track
            .current
            .as_ref()
            .map(|(query_id, sql, since)| CurrentStatement {
                query_id: *query_id,
                sql: sql.clone(),
                running_for: now.saturating_duration_since(*since),
            });
        let state = if idle || track.lent_since.is_none() {
            ConnectionState::Idle
        } else if current.is_some() {
            ConnectionState::Running
        } else {
            ConnectionState::Lent
        };
        ConnectionStatus {
            id: self.connection,
            state,
            age: now.saturating_duration_since(self.opened),
            statements: track.statements,
            failures: track.failures,
            last_error: track.last_error.clone(),
            lent_for: track.lent_since.map(|t| now.saturating_duration_since(t)),
            holder: if track.lent_since.is_some() {
                track.labels.clone()
            } else {
                Labels::new()
            },
            current,
        }
    }
}
