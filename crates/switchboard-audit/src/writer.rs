//! The writer thread: turns events into sealed records, appends them in
//! batches (one `write` per batch), fsyncs as the durability of what it wrote
//! requires, rotates files, and survives a failing disk without losing or
//! reordering anything.
//!
//! Everything since the last fsync stays in memory (`Pending`) until that
//! fsync succeeds. When a write or fsync fails, the writer stops taking
//! events (so the bus's lossless contract pushes back on connections), fails
//! the strict statements waiting for it, and retries: it cuts the file back
//! to its last durable byte (or, if it cannot, starts a new file) and writes
//! the pending records again.

use std::collections::{HashMap, VecDeque};
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, select};
use switchboard_core::{ConnectionId, Event, EventKind, StatementClass};
use tokio::sync::oneshot;

use crate::chain::{Head, seal};
use crate::config::{Durability, Rotation};
use crate::error::{AuditError, Result};
use crate::gate::Handshake;
use crate::policy::Policy;
use crate::record::Recorder;
use crate::segment::{Segment, Segments};
use crate::stats::Counters;

/// Most events taken from the channel before they are written and synced.
const MAX_BATCH: usize = 4096;
/// How long the writer sleeps when nothing is due.
const IDLE: Duration = Duration::from_secs(3600);

/// What the handle asks of the writer.
pub(crate) enum Control {
    /// Write and fsync everything received so far, then answer.
    Flush(oneshot::Sender<Result<(), String>>),
    /// The same, then stop.
    Close(oneshot::Sender<Result<(), String>>),
}

/// A statement between its `Executing` and its outcome.
struct InFlight {
    class: StatementClass,
    connection: Option<ConnectionId>,
    /// The `Executing` event's id, when the statement is held for the disk.
    held: Option<u64>,
}

/// Records written (or about to be) since the last fsync.
#[derive(Default)]
struct Pending {
    bytes: Vec<u8>,
    /// How much of `bytes` is already in the current file.
    written: usize,
    records: u64,
    /// A strict record is among them: fsync at the end of this batch.
    strict: bool,
    /// When the oldest batched record's wait ends.
    due: Option<Instant>,
    /// The smallest batch size among their durabilities.
    limit: Option<usize>,
    /// Held `Executing` events among them: (event id, query id).
    held: Vec<(u64, u64)>,
}

impl Pending {
    fn sync_needed(&self, now: Instant) -> bool {
        !self.bytes.is_empty()
            && (self.strict
                || self.limit.is_some_and(|l| self.records >= l as u64)
                || self.due.is_some_and(|d| d <= now))
    }
}

pub(crate) struct Writer {
    pub(crate) events: Receiver<Event>,
    pub(crate) control: Receiver<Control>,
    pub(crate) policy: Arc<Policy>,
    pub(crate) recorder: Recorder,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) stats: Arc<Counters>,
    pub(crate) segments: Segments,
    pub(crate) rotation: Rotation,
    pub(crate) retry_every: Duration,
    /// The file being appended to; `None` until one is (re)created.
    pub(crate) current: Option<Segment>,
    pub(crate) next_index: u64,
    pub(crate) head: Head,
}

/// The writer's moving parts besides its configuration.
#[derive(Default)]
struct Work {
    backlog: VecDeque<Event>,
    pending: Pending,
    in_flight: HashMap<u64, InFlight>,
    broken: Option<String>,
}

impl Writer {
    /// The thread's body; returns after `Close`, or when the handle is gone.
    pub(crate) fn run(mut self) {
        let mut work = Work::default();
        let never = crossbeam_channel::never();
        let mut events_open = true;
        loop {
            if let Some(reason) = work.broken.clone() {
                match self.control.recv_timeout(self.retry_every) {
                    Ok(Control::Flush(tx)) => drop(tx.send(Err(reason))),
                    Ok(Control::Close(tx)) => {
                        let _ = self.recover(&mut work);
                        drop(tx.send(self.finish(&mut work)));
                        return;
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                        if self.recover(&mut work) {
                            self.step(&mut work);
                        }
                    }
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => {
                        let _ = self.recover(&mut work);
                        let _ = self.finish(&mut work);
                        return;
                    }
                }
                continue;
            }
            if work.backlog.is_empty() {
                let wait = work
                    .pending
                    .due
                    .map_or(IDLE, |d| d.saturating_duration_since(Instant::now()));
                let events = if events_open { &self.events } else { &never };
                select! {
                    recv(events) -> event => match event {
                        Ok(event) => {
                            work.backlog.push_back(event);
                            self.drain(&mut work);
                        }
                        Err(_) => events_open = false,
                    },
                    recv(self.control) -> control => match control {
                        Ok(Control::Flush(tx)) => drop(tx.send(self.finish(&mut work))),
                        Ok(Control::Close(tx)) => {
                            drop(tx.send(self.finish(&mut work)));
                            return;
                        }
                        Err(_) => {
                            let _ = self.finish(&mut work);
                            return;
                        }
                    },
                    default(wait) => {}
                }
            }
            self.step(&mut work);
        }
    }

    /// Moves what the channel holds into the backlog, up to a batch.
    fn drain(&self, work: &mut Work) {
        while work.backlog.len() < MAX_BATCH {
            match self.events.try_recv() {
                Ok(e) => work.backlog.push_back(e),
                Err(_) => break,
            }
        }
    }

    /// Records the backlog, writes it, and fsyncs if due.
    fn step(&mut self, work: &mut Work) {
        while let Some(event) = work.backlog.front().cloned() {
            if let Err(e) = self.take(work, &event) {
                return self.fail(work, &e);
            }
            work.backlog.pop_front();
        }
        let result = self.write_out(work).and_then(|()| {
            if work.pending.sync_needed(Instant::now()) {
                self.sync(work)
            } else {
                Ok(())
            }
        });
        if let Err(e) = result {
            self.fail(work, &e);
        }
    }

    /// Writes and fsyncs everything received so far.
    fn finish(&mut self, work: &mut Work) -> Result<(), String> {
        loop {
            if let Some(reason) = &work.broken {
                return Err(reason.clone());
            }
            self.drain(work);
            if work.backlog.is_empty() {
                break;
            }
            self.step(work);
        }
        if let Err(e) = self.write_out(work).and_then(|()| self.sync(work)) {
            self.fail(work, &e);
            return Err(e.to_string());
        }
        Ok(())
    }

    /// The class of the statement `event` belongs to, if any.
    fn class_of(&self, work: &Work, event: &Event) -> Option<StatementClass> {
        match event.payload() {
            EventKind::Executing { class, .. } => Some(*class),
            EventKind::Executed { query_id, .. }
            | EventKind::ExecuteFailed { query_id, .. }
            | EventKind::Rewritten { query_id, .. }
            | EventKind::Denied {
                query_id: Some(query_id),
                ..
            }
            | EventKind::ShadowDenied {
                query_id: Some(query_id),
                ..
            } => work.in_flight.get(query_id).map(|f| f.class),
            _ => None,
        }
    }

    /// Keeps track of statements in flight, and lets go of held ids whose
    /// statement ended.
    fn track(&self, work: &mut Work, event: &Event) {
        match event.payload() {
            EventKind::Executing {
                query_id, class, ..
            } => {
                let held = self.policy.holds(event).then_some(event.meta().id);
                let flight = InFlight {
                    class: *class,
                    connection: event.meta().connection,
                    held,
                };
                work.in_flight.insert(*query_id, flight);
            }
            EventKind::Executed { query_id, .. }
            | EventKind::ExecuteFailed { query_id, .. }
            | EventKind::Denied {
                query_id: Some(query_id),
                ..
            } => {
                if let Some(held) = work.in_flight.remove(query_id).and_then(|f| f.held) {
                    self.handshake.forget(held);
                }
            }
            EventKind::Closed { .. } => {
                let conn = event.meta().connection;
                work.in_flight.retain(|_, f| {
                    let keep = f.connection != conn;
                    if let (false, Some(held)) = (keep, f.held) {
                        self.handshake.forget(held);
                    }
                    keep
                });
            }
            _ => {}
        }
    }

    /// Takes one event: rotates if due (the only step that can fail, and it
    /// happens before anything changes), then tracks and records it.
    fn take(&mut self, work: &mut Work, event: &Event) -> Result<()> {
        let class = self.class_of(work, event);
        let audited = self.policy.audits_kind(event.kind()) && self.policy.audits_class(class);
        if audited && self.rotation_due(work) {
            self.rotate(work)?;
        }
        self.track(work, event);
        if !audited {
            return Ok(());
        }
        let pending = &mut work.pending;
        let start = pending.bytes.len();
        let record = self
            .recorder
            .record(event, class, self.head.next, self.head.prev);
        if let Err(e) = serde_json::to_writer(&mut pending.bytes, &record) {
            pending.bytes.truncate(start);
            Counters::add(&self.stats.errors, 1);
            tracing::error!(event = event.meta().id, error = %e, "audit record could not be serialized; skipped");
            return Ok(());
        }
        self.head.advance(seal(&mut pending.bytes, start));
        pending.records += 1;
        Counters::add(&self.stats.records, 1);
        match self.policy.durability(class) {
            Durability::Strict => pending.strict = true,
            Durability::Batched { every, records } => {
                let due = Instant::now() + every;
                pending.due = Some(pending.due.map_or(due, |d| d.min(due)));
                pending.limit = Some(pending.limit.map_or(records, |l| l.min(records)));
            }
        }
        if let (Some(held), EventKind::Executing { query_id, .. }) =
            (work.in_flight_held(event), event.payload())
        {
            work.pending.held.push((held, *query_id));
            Counters::add(&self.stats.held, 1);
        }
        Ok(())
    }

    fn rotation_due(&self, work: &Work) -> bool {
        let Some(seg) = &self.current else {
            return true;
        };
        let size = seg.len + (work.pending.bytes.len() - work.pending.written) as u64;
        size > 0
            && (self.rotation.max_bytes.is_some_and(|max| size >= max)
                || self
                    .rotation
                    .every
                    .is_some_and(|e| seg.opened.elapsed() >= e))
    }

    /// Makes the current file durable and starts the next one.
    fn rotate(&mut self, work: &mut Work) -> Result<()> {
        if self.current.is_some() {
            self.write_out(work)?;
            self.sync(work)?;
            self.current = None;
        }
        self.ensure_segment()
    }

    fn ensure_segment(&mut self) -> Result<()> {
        if self.current.is_none() {
            let seg = self.segments.create(self.next_index)?;
            self.next_index += 1;
            Counters::add(&self.stats.rotations, 1);
            *self.stats.file.lock() = Some(seg.path.clone());
            self.current = Some(seg);
        }
        Ok(())
    }

    /// Appends what is pending and not yet in the file, in one write.
    fn write_out(&mut self, work: &mut Work) -> Result<()> {
        let pending = &mut work.pending;
        if pending.written == pending.bytes.len() {
            return Ok(());
        }
        self.ensure_segment()?;
        let Some(seg) = self.current.as_mut() else {
            return Ok(());
        };
        let bytes = &pending.bytes[pending.written..];
        seg.file
            .write_all(bytes)
            .map_err(|e| AuditError::io("write", seg.path.clone(), e))?;
        seg.len += bytes.len() as u64;
        Counters::add(&self.stats.bytes, bytes.len() as u64);
        pending.written = pending.bytes.len();
        Ok(())
    }

    /// fsyncs the written records, then releases the statements held for
    /// them (one fsync for all of them: the group commit).
    fn sync(&mut self, work: &mut Work) -> Result<()> {
        if work.pending.bytes.is_empty() {
            return Ok(());
        }
        let Some(seg) = self.current.as_mut() else {
            return Ok(());
        };
        seg.file
            .sync_data()
            .map_err(|e| AuditError::io("fsync", seg.path.clone(), e))?;
        Counters::add(&self.stats.fsyncs, 1);
        let pending = std::mem::take(&mut work.pending);
        // A statement that already ended (a guard denied it) is not waited for.
        let still_waiting = pending.held.into_iter().filter_map(|(id, query)| {
            let flight = work.in_flight.get(&query)?;
            (flight.held == Some(id)).then_some(id)
        });
        self.handshake.made_durable(still_waiting);
        work.pending.bytes = pending.bytes;
        work.pending.bytes.clear();
        Ok(())
    }

    fn fail(&mut self, work: &mut Work, error: &AuditError) {
        let reason = error.to_string();
        tracing::error!(error = %reason, "audit log cannot write; statements are held back until it can");
        Counters::add(&self.stats.errors, 1);
        *self.stats.failing.lock() = Some(reason.clone());
        self.handshake.break_all(&reason);
        work.broken = Some(reason);
    }

    /// Cuts the file back to its durable end (or gives it up for a new
    /// one), writes the pending records again and fsyncs them. Returns
    /// whether the writer works again.
    fn recover(&mut self, work: &mut Work) -> bool {
        if let Some(seg) = self.current.as_mut() {
            let durable = seg.len - work.pending.written as u64;
            match seg.file.set_len(durable).and_then(|()| seg.file.sync_all()) {
                Ok(()) => seg.len = durable,
                Err(e) => {
                    tracing::error!(file = %seg.path.display(), error = %e, "could not cut the audit file back to its last durable record; continuing in a new file");
                    self.current = None;
                }
            }
        }
        work.pending.written = 0;
        let result = self.ensure_segment().and_then(|()| {
            self.write_out(work)?;
            self.sync(work)
        });
        match result {
            Ok(()) => {
                tracing::info!("audit log writes again");
                work.broken = None;
                *self.stats.failing.lock() = None;
                self.handshake.mend();
                true
            }
            Err(e) => {
                Counters::add(&self.stats.errors, 1);
                let reason = e.to_string();
                *self.stats.failing.lock() = Some(reason.clone());
                self.handshake.break_all(&reason);
                work.broken = Some(reason);
                false
            }
        }
    }
}

impl Work {
    /// The held id of the statement `event` (an `Executing`) begins.
    fn in_flight_held(&self, event: &Event) -> Option<u64> {
        match event.payload() {
            EventKind::Executing { query_id, .. } => self.in_flight.get(query_id)?.held,
            _ => None,
        }
    }
}
