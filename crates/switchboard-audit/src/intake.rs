//! The log's intake: what runs on the subscriber thread of each attached
//! bus. An event becomes a sealed record right there (classified,
//! serialized, hashed into the chain) and joins the batch pending in
//! memory; the writer thread takes whole batches to the disk. The bus's
//! lossless queue is the only queue an event passes through: no second
//! channel, no second thread woken per event.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use switchboard_core::{ConnectionId, Event, Flow, Payload, StatementClass};
use tokio::sync::oneshot;

use crate::chain::{Digest256, Head, seal};
use crate::config::Durability;
use crate::gate::Handshake;
use crate::policy::Policy;
use crate::record::Recorder;
use crate::stats::Counters;

/// How the writer answers a flush or a close.
pub(crate) type Reply = oneshot::Sender<Result<(), String>>;

/// What the subscriber threads, the writer thread and the handle share.
pub(crate) struct Shared {
    /// The chain's head and the batch being filled. A subscriber holds it
    /// for one event, the writer to take or settle a batch: never across a
    /// write or an fsync.
    pub(crate) front: Mutex<Front>,
    /// Wakes the writer: a batch is due or full, or the handle asks for a
    /// flush or a close.
    pub(crate) wake_writer: Condvar,
    /// Wakes subscribers waiting for room in a full batch, or for the end.
    pub(crate) room: Condvar,
}

/// A statement between its `Executing` and its outcome.
struct InFlight {
    class: StatementClass,
    connection: Option<ConnectionId>,
    /// The `Executing` event's id, when the statement is held for the disk.
    held: Option<u64>,
}

/// Sealed records, one after another.
#[derive(Default)]
pub(crate) struct Records {
    /// Their lines, each ending in a newline.
    pub(crate) bytes: Vec<u8>,
    /// Where each record ends in `bytes`.
    pub(crate) ends: Vec<usize>,
    /// Held `Executing` events among them: (event id, query id).
    pub(crate) held: Vec<(u64, u64)>,
    /// The first one's `n` (set when the writer takes them).
    pub(crate) first: u64,
}

impl Records {
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// Where record `i` starts in `bytes`.
    pub(crate) fn start(&self, i: usize) -> usize {
        match i.checked_sub(1) {
            Some(before) => self.ends[before],
            None => 0,
        }
    }

    /// Record `i`'s hash, read back from the end of its line
    /// (`…,"hash":"<64 hex>"}` and a newline).
    pub(crate) fn hash(&self, i: usize) -> Digest256 {
        let end = self.ends[i];
        std::str::from_utf8(&self.bytes[end - 67..end - 3])
            .ok()
            .and_then(Digest256::from_hex)
            .unwrap_or_default()
    }

    pub(crate) fn clear(&mut self) {
        self.bytes.clear();
        self.ends.clear();
        self.held.clear();
    }
}

/// Records taken since the writer last took a batch.
pub(crate) struct Pending {
    pub(crate) records: Records,
    /// Most records held before subscribers wait for the writer (and so,
    /// through the bus's lossless contract, connections wait too).
    capacity: usize,
    /// A strict record is among them: take the batch at once.
    strict: bool,
    /// When the oldest batched record's wait ends.
    pub(crate) due: Option<Instant>,
    /// The `every` of the durability that set `due`: a record that may
    /// wait as long or longer cannot bring `due` forward, so it needs no
    /// clock reading.
    due_every: Duration,
    /// The smallest batch size among their durabilities.
    limit: Option<usize>,
}

impl Pending {
    fn new(capacity: usize) -> Self {
        Pending {
            records: Records::default(),
            capacity: capacity.max(1),
            strict: false,
            due: None,
            due_every: Duration::ZERO,
            limit: None,
        }
    }

    fn is_full(&self) -> bool {
        self.records.len() >= self.capacity
    }

    /// Whether the writer should take the batch now.
    pub(crate) fn due_now(&self, now: Instant) -> bool {
        self.records.len() > 0
            && (self.strict
                || self.is_full()
                || self.limit.is_some_and(|l| self.records.len() >= l)
                || self.due.is_some_and(|d| d <= now))
    }

    /// Notes the durability of a record just added; returns whether the
    /// writer must look again (the batch is due now, or has a new deadline).
    fn added(&mut self, durability: Durability) -> bool {
        match durability {
            Durability::Strict => {
                self.strict = true;
                true
            }
            Durability::Batched { every, records } => {
                let limit = self.limit.map_or(records, |l| l.min(records));
                self.limit = Some(limit);
                let sooner = self.due.is_none() || every < self.due_every;
                if sooner {
                    let due = Instant::now() + every;
                    if self.due.is_none_or(|d| due < d) {
                        self.due = Some(due);
                        self.due_every = every;
                    }
                }
                sooner || self.records.len() >= limit || self.is_full()
            }
        }
    }
}

/// The state subscribers change per event.
pub(crate) struct Front {
    recorder: Recorder,
    policy: Arc<Policy>,
    handshake: Arc<Handshake>,
    stats: Arc<Counters>,
    /// What the next record carries.
    head: Head,
    in_flight: HashMap<u64, InFlight>,
    pub(crate) pending: Pending,
    /// Flushes the handle asked for, answered by the writer.
    pub(crate) flushes: Vec<Reply>,
    /// A close the handle asked for.
    pub(crate) close: Option<Reply>,
    /// The writer stopped: subscribers stop too.
    pub(crate) closed: bool,
}

impl Front {
    pub(crate) fn new(
        recorder: Recorder,
        policy: Arc<Policy>,
        handshake: Arc<Handshake>,
        stats: Arc<Counters>,
        head: Head,
        capacity: usize,
    ) -> Self {
        Front {
            recorder,
            policy,
            handshake,
            stats,
            head,
            in_flight: HashMap::new(),
            pending: Pending::new(capacity),
            flushes: Vec::new(),
            close: None,
            closed: false,
        }
    }

    /// The class of the statement `event` belongs to, if any.
    fn class_of(&self, event: &Event) -> Option<StatementClass> {
        match event.payload() {
            Payload::Executing { class, .. } => Some(*class),
            Payload::Executed { query_id, .. }
            | Payload::ExecuteFailed { query_id, .. }
            | Payload::Rewritten { query_id, .. }
            | Payload::Denied {
                query_id: Some(query_id),
                ..
            }
            | Payload::ShadowDenied {
                query_id: Some(query_id),
                ..
            } => self.in_flight.get(query_id).map(|f| f.class),
            _ => None,
        }
    }

    /// Keeps track of statements in flight, and lets go of held ids whose
    /// statement ended.
    fn track(&mut self, event: &Event) {
        match event.payload() {
            Payload::Executing {
                query_id, class, ..
            } => {
                let held = self.policy.holds(event).then_some(event.meta().id);
                let flight = InFlight {
                    class: *class,
                    connection: event.meta().connection,
                    held,
                };
                self.in_flight.insert(*query_id, flight);
            }
            Payload::Executed { query_id, .. }
            | Payload::ExecuteFailed { query_id, .. }
            | Payload::Denied {
                query_id: Some(query_id),
                ..
            } => {
                if let Some(held) = self.in_flight.remove(query_id).and_then(|f| f.held) {
                    self.handshake.forget(held);
                }
            }
            Payload::Closed { .. } => {
                let conn = event.meta().connection;
                let handshake = &self.handshake;
                self.in_flight.retain(|_, f| {
                    let keep = f.connection != conn;
                    if let (false, Some(held)) = (keep, f.held) {
                        handshake.forget(held);
                    }
                    keep
                });
            }
            _ => {}
        }
    }

    /// Takes one event: tracks it, and when it is audited, appends its
    /// sealed record to the batch. Returns whether the writer must look.
    fn take(&mut self, event: &Event) -> bool {
        let class = self.class_of(event);
        let audited = self.policy.audits_kind(event.kind()) && self.policy.audits_class(class);
        self.track(event);
        if !audited {
            return false;
        }
        let pending = &mut self.pending;
        // After the last complete record: a record half-written when a
        // subscriber panicked (the bus redelivers its event) is dropped.
        let start = pending.records.start(pending.records.len());
        let bytes = &mut pending.records.bytes;
        bytes.truncate(start);
        let (n, prev) = (self.head.next, self.head.prev);
        if let Err(e) = self.recorder.write(bytes, event, class, n, prev) {
            bytes.truncate(start);
            Counters::add(&self.stats.errors, 1);
            tracing::error!(event = event.meta().id, error = %e, "audit record could not be serialized; skipped");
            return false;
        }
        self.head.advance(seal(bytes, start));
        pending.records.ends.push(bytes.len());
        Counters::add(&self.stats.records, 1);
        let wake = pending.added(self.policy.durability(class));
        if let Payload::Executing { query_id, .. } = event.payload()
            && let Some(held) = self.in_flight.get(query_id).and_then(|f| f.held)
        {
            pending.records.held.push((held, *query_id));
            Counters::add(&self.stats.held, 1);
        }
        wake
    }

    /// Whether the statement `query` is still in flight and held for the
    /// event `id`: a statement that already ended (a guard denied it) is
    /// not waited for.
    pub(crate) fn still_held(&self, id: u64, query: u64) -> bool {
        self.in_flight
            .get(&query)
            .is_some_and(|f| f.held == Some(id))
    }

    /// Moves the pending records into `into` (empty), whose buffers the
    /// next batch fills.
    pub(crate) fn take_batch(&mut self, into: &mut Records) {
        let pending = &mut self.pending;
        std::mem::swap(&mut pending.records, into);
        into.first = self.head.next - into.len() as u64;
        pending.records.clear();
        pending.strict = false;
        pending.due = None;
        pending.limit = None;
    }
}

impl Shared {
    /// Takes one event from a bus, on that bus's subscriber thread. Waits
    /// while the batch is full (the writer is behind, or cannot write);
    /// says `Stop` once the log is closed.
    pub(crate) fn offer(&self, event: &Event) -> Flow {
        let mut front = self.front.lock();
        while front.pending.is_full() && !front.closed {
            self.wake_writer.notify_one();
            self.room.wait(&mut front);
        }
        if front.closed {
            return Flow::Stop;
        }
        let wake = front.take(event);
        drop(front);
        if wake {
            self.wake_writer.notify_one();
        }
        Flow::Continue
    }
}
