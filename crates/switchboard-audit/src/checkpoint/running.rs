//! Starting and stopping the anchor thread and the witness threads of an
//! open log.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use parking_lot::Mutex;
use tokio::sync::oneshot;

use super::anchor::{Anchor, Cadence, Signer};
use super::{CheckpointFile, FileMark};
use crate::config::AuditConfig;
use crate::error::{AuditError, Result};
use crate::segment::Resume;
use crate::stats::Counters;
use crate::witness::{Feeds, spawn};

/// The checkpoint side of an open log.
pub(crate) struct Anchoring {
    /// Where the writer reports durable records.
    pub(crate) anchor: Arc<Anchor>,
    /// How many durable records make a checkpoint due.
    pub(crate) records_due: u64,
    feeds: Arc<Feeds>,
    /// The anchor thread; joined at close or drop.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// The witness threads, each with the receiver that closes when it ends.
    witnesses: Mutex<Vec<(JoinHandle<()>, oneshot::Receiver<()>)>>,
}

impl Anchoring {
    /// Continues the log's signature chain, signs the checkpoint it opens
    /// with (over what `resumed` found, after a crash what survived), and
    /// starts the anchor and witness threads. `None` without a key.
    pub(crate) fn start(
        config: &AuditConfig,
        resumed: &Resume,
        stats: &Arc<Counters>,
    ) -> Result<Option<Anchoring>> {
        let path = super::path(&config.dir, &config.base);
        let Some(key) = config.checkpoints.key.clone() else {
            if std::fs::metadata(&path).is_ok_and(|m| m.len() > 0) {
                return Err(AuditError::Config(format!(
                    "{} holds signed checkpoints, but no signing key was given: records written now would be unanchored; give the log its key (sign_checkpoints)",
                    path.display()
                )));
            }
            return Ok(None);
        };
        let (file, last) = CheckpointFile::open(&path)?;
        if let Some(last) = &last {
            let cp = &last.checkpoint;
            let head = resumed.head;
            if head.next < cp.records || (head.next == cp.records && head.prev != cp.head) {
                return Err(AuditError::Corrupt {
                    path: path.clone(),
                    line: crate::segment::line_count(&path).unwrap_or(0),
                    reason: format!(
                        "checkpoint {} signed {} records ending in {}, but the log holds {} ending in {}: it was truncated or rewritten; run `switchboard audit verify --key`",
                        cp.seq, cp.records, cp.head, head.next, head.prev
                    ),
                });
            }
        }
        let newest = last.as_ref().map(|l| l.checkpoint.seq);
        let feeds = Arc::new(Feeds::new(
            &config.base,
            path.clone(),
            stats.clone(),
            config.checkpoints.witnesses.len(),
            newest,
        ));
        let anchor = Arc::new(Anchor::new(resumed.head));
        let cadence = Cadence {
            every: config.checkpoints.every,
            records: config.checkpoints.records,
            retry_every: config.retry_every,
        };
        let mut signer = Signer {
            anchor: anchor.clone(),
            key,
            file,
            cadence,
            feeds: feeds.clone(),
            stats: stats.clone(),
            next_seq: newest.map_or(0, |s| s + 1),
            prev: last.map(|l| l.sig),
        };
        let files = resumed
            .newest
            .iter()
            .map(|(file, bytes, marks)| FileMark {
                file: file.clone(),
                first: marks.first.unwrap_or(0),
                records: marks.records,
                bytes: *bytes,
                last: marks.last,
                closed: resumed.append_to.is_none(),
            })
            .collect();
        signer.open(files, resumed.torn.clone())?;
        let mut witnesses = Vec::new();
        for (index, witness) in config.checkpoints.witnesses.iter().enumerate() {
            witnesses.push(
                spawn(feeds.clone(), index, witness.clone())
                    .map_err(|e| AuditError::io("start a witness thread for", &path, e))?,
            );
        }
        let thread = std::thread::Builder::new()
            .name(format!("sb-anchor-{}", config.name))
            .spawn(move || signer.run())
            .map_err(|e| AuditError::io("start a checkpoint thread for", &path, e))?;
        Ok(Some(Anchoring {
            anchor,
            records_due: cadence.records,
            feeds,
            thread: Mutex::new(Some(thread)),
            witnesses: Mutex::new(witnesses),
        }))
    }

    /// Signs the last checkpoint (the writer has stopped), then gives the
    /// witnesses until `deadline` to take what they lack. A witness still
    /// behind then is not an error: it is caught up at the next open.
    pub(crate) async fn close(&self, deadline: Instant, within: std::time::Duration) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.anchor.close(tx);
        let at = tokio::time::Instant::from_std(deadline);
        let result = match tokio::time::timeout_at(at, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(reason))) => Err(AuditError::Unwritable(reason)),
            Ok(Err(_)) => Err(AuditError::Stopped),
            Err(_) => Err(AuditError::Timeout(within)),
        };
        if result.is_ok()
            && let Some(thread) = self.thread.lock().take()
        {
            // It answered as its last act.
            let _ = thread.join();
        }
        self.feeds.stop_at(deadline);
        let witnesses = std::mem::take(&mut *self.witnesses.lock());
        for (thread, stopped) in witnesses {
            if tokio::time::timeout_at(at, stopped).await.is_ok() {
                let _ = thread.join();
            }
        }
        result
    }

    /// Without a close: signs the last checkpoint and stops every thread,
    /// waiting for the witness calls under way.
    pub(crate) fn close_now(&self) {
        if let Some(thread) = self.thread.lock().take() {
            let (tx, _rx) = oneshot::channel();
            self.anchor.close(tx);
            let _ = thread.join();
        }
        self.feeds.stop_at(Instant::now());
        for (thread, _) in self.witnesses.lock().drain(..) {
            let _ = thread.join();
        }
    }

    /// Checkpoints the slowest witness lacks.
    pub(crate) fn behind(&self) -> u64 {
        self.feeds.behind()
    }

    /// The witness feeds, for a monitor to read how far behind they are.
    pub(crate) fn feeds(&self) -> Arc<crate::witness::Feeds> {
        self.feeds.clone()
    }
}

/// An open that failed after the anchor started, or a handle dropped
/// without a close: the threads are stopped, never left waiting.
impl Drop for Anchoring {
    fn drop(&mut self) {
        self.close_now();
    }
}
