//! The handle: open a log, attach it to buses, flush, close.

use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use switchboard_core::subscriber::OwnedSubscriptions;
use switchboard_core::{Bus, Delivery, Gate, Subscriber, Subscription};
use tokio::sync::oneshot;

use crate::builder::Builder;
use crate::checkpoint::Anchoring;
use crate::config::AuditConfig;
use crate::error::{AuditError, Result};
use crate::gate::{AuditGate, Handshake};
use crate::intake::{Front, Shared};
use crate::key::{PublicKey, SecretKey};
use crate::monitor::AuditMonitor;
use crate::policy::Policy;
use crate::record::Recorder;
use crate::segment::{Segments, resume};
use crate::stats::{AuditStats, Counters};
use crate::verify::{VerifyError, VerifyReport};
use crate::writer::Writer;

/// A lossless, hash-chained audit trail of the statements on one or more
/// buses. See the [crate documentation](crate) for the record format.
pub struct AuditLog {
    name: Arc<str>,
    delivery: Delivery,
    policy: Arc<Policy>,
    segments: Segments,
    /// The intake every attached bus's subscriber thread feeds, and where
    /// flushes and closes are asked of the writer.
    shared: Arc<Shared>,
    gate: Arc<dyn Gate>,
    /// Shared with the gate and the writer; read here only by tests.
    #[cfg_attr(not(test), allow(dead_code))]
    handshake: Arc<Handshake>,
    stats: Arc<Counters>,
    /// Its subscriptions (and gates) on the buses attached to: flushed, and
    /// ended at close or drop, not when a handle `attach` gave is dropped.
    subscriptions: OwnedSubscriptions,
    /// The writer thread; joined by `close` or on drop.
    thread: Mutex<Option<JoinHandle<()>>>,
    /// Checkpoints and witnesses, when signed; stopped after the writer.
    anchoring: Option<Anchoring>,
    /// The public half of the signing key, to verify with.
    public: Option<PublicKey>,
}

impl std::fmt::Debug for AuditLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditLog")
            .field("name", &self.name)
            .field("dir", &self.segments.dir)
            .field("base", &self.segments.base)
            .finish()
    }
}

impl AuditLog {
    /// Starts configuring a log that writes into `dir`.
    pub fn builder(dir: impl Into<PathBuf>) -> Builder {
        Builder::new(dir)
    }

    /// Opens the log: creates the directory if needed, continues the chain
    /// of the files already there (after a torn tail, in a new file), and
    /// starts the writer thread. Attach it to a bus to record anything.
    pub fn open(config: AuditConfig) -> Result<AuditLog> {
        config.validate()?;
        std::fs::create_dir_all(&config.dir)
            .map_err(|e| AuditError::io("create", config.dir.clone(), e))?;
        let segments = Segments {
            dir: config.dir.clone(),
            base: config.base.clone(),
        };
        let resumed = resume(&segments, config.rotation.max_bytes)?;
        let stats = Arc::new(Counters::default());
        let anchoring = Anchoring::start(&config, &resumed, &stats)?;
        let (current, next_index) = match resumed.append_to {
            Some((index, len)) => {
                let marks = resumed.newest.as_ref().map(|n| n.2).unwrap_or_default();
                (segments.reopen(index, len, marks)?, resumed.next_index)
            }
            None => {
                Counters::add(&stats.rotations, u64::from(resumed.next_index > 1));
                (segments.create(resumed.next_index)?, resumed.next_index + 1)
            }
        };
        *stats.file.lock() = Some(current.path.clone());
        let policy = Arc::new(Policy::new(&config));
        let handshake = Arc::new(Handshake::default());
        let front = Front::new(
            Recorder::new(&config.params),
            policy.clone(),
            handshake.clone(),
            stats.clone(),
            resumed.head,
            config.queue_capacity,
        );
        let shared = Arc::new(Shared {
            front: Mutex::new(front),
            wake_writer: Condvar::new(),
            room: Condvar::new(),
        });
        let writer = Writer {
            shared: shared.clone(),
            handshake: handshake.clone(),
            stats: stats.clone(),
            segments: segments.clone(),
            rotation: config.rotation,
            retry_every: config.retry_every,
            current: Some(current),
            next_index,
            anchor: anchoring
                .as_ref()
                .map(|a| (a.anchor.clone(), a.records_due)),
        };
        let thread = std::thread::Builder::new()
            .name(format!("sb-audit-{}", config.name))
            .spawn(move || writer.run())
            .map_err(|e| AuditError::io("start a writer thread for", config.dir.clone(), e))?;
        let name: Arc<str> = Arc::from(config.name.as_str());
        let gate = Arc::new(AuditGate {
            name: name.clone(),
            policy: policy.clone(),
            handshake: handshake.clone(),
            deadline: config.strict_deadline,
        });
        Ok(AuditLog {
            name,
            delivery: Delivery::lossless(config.queue_capacity)
                .with_deadline(config.backpressure_deadline),
            policy,
            segments,
            shared,
            gate,
            handshake,
            stats,
            subscriptions: OwnedSubscriptions::new(),
            thread: Mutex::new(Some(thread)),
            anchoring,
            public: config.checkpoints.key.as_ref().map(SecretKey::public),
        })
    }

    /// Subscribes the log to `bus` (losslessly) and, when some class is
    /// strict, adds its durability gate. Attach before the pool starts to
    /// record its first connects too. A log may be attached to several
    /// buses; their records share one chain.
    ///
    /// The log keeps the subscription until it is
    /// [closed](Self::close) (or dropped): the returned handle is
    /// [kept](Subscription::kept), so dropping it, even at once, never
    /// ends auditing; [`detach`](Subscription::detach) on it stops auditing
    /// this bus (and removes the gate from it).
    ///
    /// The bus's subscriber thread makes each record itself; the writer
    /// thread only writes and fsyncs batches of them.
    pub fn attach(&self, bus: &Bus) -> Result<Subscription> {
        let shared = self.shared.clone();
        let id = bus
            .subscribe_fn(
                &self.name,
                self.policy.filter(),
                self.delivery,
                move |event| shared.offer(&event),
            )
            .map_err(AuditError::Subscribe)?;
        let gate = self.policy.any_strict().then(|| self.gate.clone());
        Ok(self.subscriptions.hold(bus, id, gate))
    }

    /// The gate strict statements pass; [`attach`](Self::attach) adds it.
    pub fn gate(&self) -> Arc<dyn Gate> {
        self.gate.clone()
    }

    /// Waits until every event published so far on the attached buses is
    /// written and fsynced, up to `within`.
    pub async fn flush(&self, within: Duration) -> Result<()> {
        self.subscriptions
            .flush(within)
            .await
            .map_err(AuditError::Flush)?;
        self.ask(false, within).await
    }

    /// Detaches from every bus (after handing over what they hold), writes
    /// and fsyncs everything, and stops the writer. When signed, then
    /// signs the closing checkpoint and gives the witnesses what is left of
    /// `within` to take what they lack (one that cannot is caught up at the
    /// next open).
    pub async fn close(self, within: Duration) -> Result<()> {
        let deadline = std::time::Instant::now() + within;
        let flushed = self.flush(within).await;
        self.subscriptions.end_all();
        let closed = self.ask(true, within).await;
        if let Some(thread) = self.thread.lock().take() {
            // The writer answered `Close` as its last act: this returns at once.
            let _ = thread.join();
        }
        let anchored = match (&closed, &self.anchoring) {
            (Ok(()), Some(anchoring)) => anchoring.close(deadline, within).await,
            _ => Ok(()),
        };
        flushed.and(closed).and(anchored)
    }

    /// Asks the writer to write and fsync everything taken so far, and to
    /// stop after that when `close`.
    async fn ask(&self, close: bool, within: Duration) -> Result<()> {
        let rx = self.request(close).ok_or(AuditError::Stopped)?;
        match tokio::time::timeout(within, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(reason))) => Err(AuditError::Unwritable(reason)),
            Ok(Err(_)) => Err(AuditError::Stopped),
            Err(_) => Err(AuditError::Timeout(within)),
        }
    }

    /// Leaves a flush or close request for the writer; `None` once it
    /// stopped.
    fn request(&self, close: bool) -> Option<oneshot::Receiver<Result<(), String>>> {
        let (tx, rx) = oneshot::channel();
        let mut front = self.shared.front.lock();
        if front.closed {
            return None;
        }
        if close {
            front.close = Some(tx);
        } else {
            front.flushes.push(tx);
        }
        drop(front);
        self.shared.wake_writer.notify_one();
        Some(rx)
    }

    /// (held ids durable but not asked for, connections waiting).
    #[cfg(test)]
    pub(crate) fn handshake_sizes(&self) -> (usize, usize) {
        self.handshake.sizes()
    }

    /// Counters so far.
    pub fn stats(&self) -> AuditStats {
        let mut stats = self.stats.snapshot();
        stats.witness_behind = self.anchoring.as_ref().map_or(0, Anchoring::behind);
        stats
    }

    /// A handle that reads this log's counters and verifies its files from
    /// anywhere, without owning the log (see [`AuditMonitor`]).
    pub fn monitor(&self) -> AuditMonitor {
        AuditMonitor {
            name: self.name.clone(),
            segments: self.segments.clone(),
            stats: self.stats.clone(),
            feeds: self.anchoring.as_ref().map(Anchoring::feeds),
            public: self.public,
        }
    }

    /// The log's files, in chain order.
    pub fn files(&self) -> Result<Vec<PathBuf>> {
        self.segments.paths()
    }

    /// Verifies the log's files (see [`verify_with`]): against its own
    /// checkpoints when it signs them, the chain alone otherwise.
    ///
    /// [`verify_with`]: crate::verify::verify_with
    pub fn verify(&self) -> Result<VerifyReport, VerifyError> {
        self.monitor().verify()
    }
}

impl Subscriber for &AuditLog {
    type Error = AuditError;

    /// [`AuditLog::attach`].
    fn attach(self, bus: &Bus) -> Result<Subscription> {
        AuditLog::attach(self, bus)
    }
}

impl Drop for AuditLog {
    /// Without [`close`](AuditLog::close): detaches (events still queued on
    /// the buses are not recorded), then writes and fsyncs what the writer
    /// holds and waits for it to stop.
    fn drop(&mut self) {
        self.subscriptions.end_all();
        if let Some(thread) = self.thread.lock().take()
            && self.request(true).is_some()
        {
            let _ = thread.join();
        }
        // After a close this finds nothing left to stop.
        if let Some(anchoring) = &self.anchoring {
            anchoring.close_now();
        }
    }
}
