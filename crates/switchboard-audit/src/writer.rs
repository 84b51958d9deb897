//! The writer thread: takes the batches of sealed records the intake
//! fills, appends each in one `write` and fsyncs it, rotates files, answers
//! flushes and closes, and survives a failing disk without losing or
//! reordering anything.
//!
//! A batch is taken when one of its records is strict (group commit: the
//! strict statements that arrive while an fsync runs share the next one),
//! when `every` has passed since its oldest batched record, when it holds
//! `records` of them, or when it is full. The writer holds the intake's lock
//! only to take a batch and to release the statements held for it, never
//! across a write or an fsync, so subscribers keep recording meanwhile.
//!
//! A batch stays in memory until it is durable. When a write or fsync
//! fails, the writer takes no new batch (so, once the intake's batch is
//! full, the bus's lossless contract pushes back on connections), fails the
//! strict statements waiting for it, and retries: it cuts the file back to
//! its last durable byte (or, if it cannot, starts a new file) and writes
//! the rest of the batch again.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::MutexGuard;

use crate::chain::Head;
use crate::checkpoint::{Anchor, FileMark};
use crate::config::Rotation;
use crate::error::{AuditError, Result};
use crate::gate::Handshake;
use crate::intake::{Front, Records, Shared};
use crate::segment::{Segment, Segments, file_name};
use crate::stats::Counters;

/// Why the writer cannot write, and when it tries again.
struct Broken {
    reason: String,
    retry_at: Instant,
}

pub(crate) struct Writer {
    pub(crate) shared: Arc<Shared>,
    pub(crate) handshake: Arc<Handshake>,
    pub(crate) stats: Arc<Counters>,
    pub(crate) segments: Segments,
    pub(crate) rotation: Rotation,
    pub(crate) retry_every: Duration,
    /// The file being appended to; `None` until one is (re)created.
    pub(crate) current: Option<Segment>,
    pub(crate) next_index: u64,
    /// Where durable records are reported for checkpoints, when signed.
    pub(crate) anchor: Option<(Arc<Anchor>, u64)>,
}

/// The batch taken from the intake, until it is durable.
#[derive(Default)]
struct Batch {
    records: Records,
    /// Records already written and fsynced.
    durable: usize,
}

/// Marks the log closed when the writer stops, even by a panic, so that
/// subscribers waiting for room stop instead of waiting forever.
struct Stopped<'a>(&'a Shared);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.front.lock().closed = true;
        self.0.room.notify_all();
    }
}

impl Writer {
    /// The thread's body; returns after a close.
    pub(crate) fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let _stopped = Stopped(&shared);
        let mut batch = Batch::default();
        let mut broken: Option<Broken> = None;
        let mut front = shared.front.lock();
        loop {
            if let Some(reply) = front.close.take() {
                if broken.is_some() {
                    self.retry(&mut front, &mut batch, &mut broken);
                }
                let result = match &broken {
                    Some(b) => Err(b.reason.clone()),
                    None => self.commit(&mut front, &mut batch, &mut broken),
                };
                for flush in front.flushes.drain(..) {
                    drop(flush.send(result.clone()));
                }
                drop(reply.send(result));
                return;
            }
            let flushes = std::mem::take(&mut front.flushes);
            if let Some(b) = &broken {
                for flush in flushes {
                    drop(flush.send(Err(b.reason.clone())));
                }
                let retry_at = b.retry_at;
                if Instant::now() >= retry_at {
                    self.retry(&mut front, &mut batch, &mut broken);
                } else {
                    shared.wake_writer.wait_until(&mut front, retry_at);
                }
                continue;
            }
            if !flushes.is_empty() || front.pending.due_now(Instant::now()) {
                let result = self.commit(&mut front, &mut batch, &mut broken);
                for flush in flushes {
                    drop(flush.send(result.clone()));
                }
                continue;
            }
            match front.pending.due {
                Some(due) => drop(shared.wake_writer.wait_until(&mut front, due)),
                None => shared.wake_writer.wait(&mut front),
            }
        }
    }

    /// Takes the pending records and makes them durable.
    fn commit(
        &mut self,
        front: &mut MutexGuard<'_, Front>,
        batch: &mut Batch,
        broken: &mut Option<Broken>,
    ) -> Result<(), String> {
        front.take_batch(&mut batch.records);
        batch.durable = 0;
        self.shared.room.notify_all();
        match MutexGuard::unlocked(front, || self.write(batch)) {
            Ok(()) => {
                self.release(front, batch);
                Ok(())
            }
            Err(e) => {
                let reason = e.to_string();
                tracing::error!(error = %reason, "audit log cannot write; statements are held back until it can");
                self.broke(&reason, broken);
                Err(reason)
            }
        }
    }

    /// Cuts the file back to its durable end (or gives it up for a new
    /// one), and writes the rest of the batch again.
    fn retry(
        &mut self,
        front: &mut MutexGuard<'_, Front>,
        batch: &mut Batch,
        broken: &mut Option<Broken>,
    ) {
        let written = MutexGuard::unlocked(front, || {
            if let Some(seg) = self.current.as_mut() {
                match seg
                    .file
                    .set_len(seg.synced)
                    .and_then(|()| seg.file.sync_all())
                {
                    Ok(()) => seg.len = seg.synced,
                    Err(e) => {
                        tracing::error!(file = %seg.path.display(), error = %e, "could not cut the audit file back to its last durable record; continuing in a new file");
                        self.finish_current();
                    }
                }
            }
            self.write(batch)
        });
        match written {
            Ok(()) => {
                self.release(front, batch);
                tracing::info!("audit log writes again");
                *broken = None;
                *self.stats.failing.lock() = None;
                self.handshake.mend();
            }
            Err(e) => self.broke(&e.to_string(), broken),
        }
    }

    /// The batch is durable: wakes the statements held for it.
    fn release(&self, front: &Front, batch: &mut Batch) {
        let held = batch.records.held.drain(..);
        self.handshake.made_durable(
            held.filter(|(id, query)| front.still_held(*id, *query))
                .map(|(id, _)| id),
        );
        batch.records.clear();
        batch.durable = 0;
    }

    fn broke(&self, reason: &str, broken: &mut Option<Broken>) {
        Counters::add(&self.stats.errors, 1);
        *self.stats.failing.lock() = Some(reason.to_owned());
        self.handshake.break_all(reason);
        *broken = Some(Broken {
            reason: reason.to_owned(),
            retry_at: Instant::now() + self.retry_every,
        });
    }

    /// Writes and fsyncs the batch's records that are not durable yet,
    /// starting new files as the rotation asks.
    fn write(&mut self, batch: &mut Batch) -> Result<()> {
        let records = &batch.records;
        while batch.durable < records.len() {
            self.ensure_segment()?;
            let Some(seg) = self.current.as_mut() else {
                continue;
            };
            let (from, start) = (batch.durable, records.start(batch.durable));
            let aged = self
                .rotation
                .every
                .is_some_and(|e| seg.opened.elapsed() >= e);
            // The records that go into this file: the one that makes it
            // reach the size limit stays in it.
            let mut to = from;
            while to < records.len() {
                let size = seg.len + (records.start(to) - start) as u64;
                let full = self.rotation.max_bytes.is_some_and(|max| size >= max);
                if size > 0 && (full || aged) {
                    break;
                }
                to += 1;
            }
            if to == from {
                // Full or old, and durable: the next record starts a file.
                self.finish_current();
                continue;
            }
            let bytes = &records.bytes[start..records.start(to)];
            seg.file
                .write_all(bytes)
                .map_err(|e| AuditError::io("write", seg.path.clone(), e))?;
            seg.len += bytes.len() as u64;
            Counters::add(&self.stats.bytes, bytes.len() as u64);
            seg.file
                .sync_data()
                .map_err(|e| AuditError::io("fsync", seg.path.clone(), e))?;
            Counters::add(&self.stats.fsyncs, 1);
            seg.synced = seg.len;
            batch.durable = to;
            let marks = &mut seg.marks;
            marks.first.get_or_insert(records.first + from as u64);
            marks.records += (to - from) as u64;
            marks.last = records.hash(to - 1);
            if let Some((anchor, due)) = &self.anchor {
                let head = Head {
                    next: records.first + to as u64,
                    prev: marks.last,
                };
                anchor.durable(head, (to - from) as u64, mark(seg), *due);
            }
        }
        Ok(())
    }

    /// Gives up the current file: no record will be added to it.
    fn finish_current(&mut self) {
        if let Some(seg) = self.current.take()
            && let Some((anchor, _)) = &self.anchor
            && seg.marks.records > 0
        {
            anchor.finished(mark(&seg));
        }
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
}

/// What a checkpoint says of a file's durable records.
fn mark(seg: &Segment) -> FileMark {
    FileMark {
        file: file_name(&seg.path),
        first: seg.marks.first.unwrap_or(0),
        records: seg.marks.records,
        bytes: seg.synced,
        last: seg.marks.last,
        closed: false,
    }
}
