//! The anchor thread: signs a checkpoint over the durable records every so
//! many records or so much time, at every rotation and at close, appends it
//! to the log's checkpoint file (fsynced), and hands it to the witnesses.
//!
//! The writer only reports what became durable (one short lock per batch);
//! signing and the checkpoint's own fsync happen here, so checkpoints never
//! slow a statement down. A checkpoint only ever covers records already
//! fsynced, so no crash can leave one that claims more than the log holds.
//! When the anchor falls behind, the reports it has not signed yet merge:
//! the next checkpoint covers all of them, files finished meanwhile included.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::{Checkpoint, CheckpointFile, FileMark, Sig, TornAside, Why};
use crate::chain::Head;
use crate::error::Result;
use crate::intake::Reply;
use crate::key::SecretKey;
use crate::stats::Counters;
use crate::witness::Feeds;

/// When checkpoints are due (from [`crate::config::Checkpoints`]).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cadence {
    pub(crate) every: Duration,
    pub(crate) records: u64,
    pub(crate) retry_every: Duration,
}

/// What the writer reports and the anchor signs.
#[derive(Debug)]
struct Progress {
    /// The newest durable record's head.
    head: Head,
    /// Files finished since the last checkpoint was taken.
    finished: Vec<FileMark>,
    /// The file records go to, once it holds some.
    current: Option<FileMark>,
    /// Durable records no checkpoint covers yet.
    unanchored: u64,
    /// When the oldest of them became durable.
    since: Option<Instant>,
    /// The handle asks for the last checkpoint, and for the anchor to stop.
    close: Option<Reply>,
}

/// Shared by the writer (which reports), the handle (which closes) and the
/// anchor thread (which signs).
#[derive(Debug)]
pub(crate) struct Anchor {
    progress: Mutex<Progress>,
    /// Wakes the anchor: a checkpoint may be due, or a close is asked.
    wake: Condvar,
}

impl Anchor {
    pub(crate) fn new(head: Head) -> Self {
        Anchor {
            progress: Mutex::new(Progress {
                head,
                finished: Vec::new(),
                current: None,
                unanchored: 0,
                since: None,
                close: None,
            }),
            wake: Condvar::new(),
        }
    }

    /// The writer made `added` more records durable, up to `head`, the last
    /// of them in the file `current`.
    pub(crate) fn durable(&self, head: Head, added: u64, current: FileMark, records_due: u64) {
        let mut p = self.progress.lock();
        p.head = head;
        p.current = Some(current);
        p.unanchored += added;
        let first = p.since.is_none();
        p.since.get_or_insert_with(Instant::now);
        let due = p.unanchored >= records_due;
        drop(p);
        if first || due {
            self.wake.notify_one();
        }
    }

    /// The writer finished a file: no record will be added to it.
    pub(crate) fn finished(&self, mut mark: FileMark) {
        mark.closed = true;
        let mut p = self.progress.lock();
        if p.current.as_ref().is_some_and(|c| c.file == mark.file) {
            p.current = None;
        }
        p.finished.push(mark);
        drop(p);
        self.wake.notify_one();
    }

    /// Asks for the last checkpoint; `reply` answers once it is durable.
    pub(crate) fn close(&self, reply: Reply) {
        self.progress.lock().close = Some(reply);
        self.wake.notify_one();
    }
}

/// The anchor thread's own state: where the signature chain stands.
pub(crate) struct Signer {
    pub(crate) anchor: Arc<Anchor>,
    pub(crate) key: SecretKey,
    pub(crate) file: CheckpointFile,
    pub(crate) cadence: Cadence,
    pub(crate) feeds: Arc<Feeds>,
    pub(crate) stats: Arc<Counters>,
    /// The next checkpoint's `seq`.
    pub(crate) next_seq: u64,
    /// The last checkpoint's signature.
    pub(crate) prev: Option<Sig>,
}

/// What one checkpoint covers, taken from the progress.
struct Taken {
    why: Why,
    head: Head,
    files: Vec<FileMark>,
    unanchored: u64,
    since: Option<Instant>,
}

impl Signer {
    /// Signs and writes the checkpoint a log opens with.
    pub(crate) fn open(&mut self, files: Vec<FileMark>, torn: Option<TornAside>) -> Result<()> {
        let head = self.anchor.progress.lock().head;
        self.write(Why::Open, head, files, torn)
    }

    /// The thread's body; returns after a close.
    pub(crate) fn run(mut self) {
        let anchor = Arc::clone(&self.anchor);
        let mut p = anchor.progress.lock();
        let mut retry_at: Option<Instant> = None;
        loop {
            let now = Instant::now();
            if retry_at.is_some_and(|r| r <= now) {
                retry_at = None;
            }
            let closing = p.close.is_some();
            let why = if closing {
                Some(Why::Close)
            } else if retry_at.is_some() {
                None
            } else if !p.finished.is_empty() {
                Some(Why::Rotation)
            } else if p.unanchored >= self.cadence.records {
                Some(Why::Records)
            } else if p.since.is_some_and(|s| now >= s + self.cadence.every) {
                Some(Why::Interval)
            } else {
                None
            };
            let Some(why) = why else {
                let due = p.since.map(|s| s + self.cadence.every);
                match retry_at.into_iter().chain(due).max() {
                    Some(at) => drop(anchor.wake.wait_until(&mut p, at)),
                    None => anchor.wake.wait(&mut p),
                }
                continue;
            };
            let current = p.current.clone();
            let taken = Taken {
                why,
                head: p.head,
                files: p.finished.drain(..).chain(current).collect(),
                unanchored: std::mem::take(&mut p.unanchored),
                since: p.since.take(),
            };
            let reply = p.close.take();
            let written = parking_lot::MutexGuard::unlocked(&mut p, || {
                self.write(taken.why, taken.head, taken.files.clone(), None)
            });
            match (written, reply) {
                (Ok(()), Some(reply)) => {
                    drop(reply.send(Ok(())));
                    return;
                }
                (Err(e), Some(reply)) => {
                    drop(reply.send(Err(e.to_string())));
                    return;
                }
                (Ok(()), None) => retry_at = None,
                (Err(e), None) => {
                    tracing::error!(error = %e, "audit log could not write a checkpoint; it tries again");
                    // Nothing is lost: what it would have covered waits for
                    // the next one.
                    let finished = taken.files.into_iter().filter(|f| f.closed);
                    let later = std::mem::take(&mut p.finished);
                    p.finished = finished.chain(later).collect();
                    p.unanchored += taken.unanchored;
                    p.since = taken.since.or(p.since);
                    retry_at = Some(Instant::now() + self.cadence.retry_every);
                }
            }
        }
    }

    /// Signs one checkpoint, appends it to the log's checkpoint file, and
    /// hands it to the witnesses.
    fn write(
        &mut self,
        why: Why,
        head: Head,
        files: Vec<FileMark>,
        torn: Option<TornAside>,
    ) -> Result<()> {
        let checkpoint = Checkpoint {
            seq: self.next_seq,
            records: head.next,
            head: head.prev,
            at: chrono::Utc::now(),
            why,
            files,
            torn,
            prev: self.prev,
            key: self.key.id(),
        };
        let (line, sig) = checkpoint.sign(&self.key);
        if let Err(e) = self.file.append(&line) {
            Counters::add(&self.stats.errors, 1);
            return Err(e);
        }
        Counters::add(&self.stats.checkpoints, 1);
        self.prev = Some(sig);
        self.next_seq += 1;
        self.feeds.push(checkpoint.seq, &line[..line.len() - 1]);
        Ok(())
    }
}
