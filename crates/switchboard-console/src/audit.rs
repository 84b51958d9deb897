//! The audit logs a console shows: their counters, read live, and their
//! last verification, run once when the console starts and again on the
//! `verify` action.

use std::time::Instant;

use chrono::{DateTime, Utc};
use parking_lot::Mutex;
use serde::Serialize;
use switchboard_audit::{Anchoring, AuditMonitor, AuditStats, VerifyError, VerifyReport};

/// One watched audit log.
pub(crate) struct WatchedAudit {
    pub(crate) monitor: AuditMonitor,
    /// The last verification's outcome; `None` until the first ends.
    pub(crate) last: Mutex<Option<Verified>>,
    /// Held while a verification runs: one at a time per log, so the
    /// outcome kept is always the one that started last (and a flood of
    /// requests reads the log once each, in turn, not all at once).
    running: Mutex<()>,
}

/// What `GET /api/audit` shows of one log.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct AuditView {
    pub(crate) name: String,
    /// Whether it signs checkpoints (verification is then anchored).
    pub(crate) signed: bool,
    #[serde(flatten)]
    pub(crate) stats: AuditStats,
    pub(crate) last_verify: Option<Verified>,
}

/// One verification's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Verified {
    /// When it ended.
    pub(crate) at: DateTime<Utc>,
    pub(crate) took_ms: u64,
    /// Whether the log verified.
    pub(crate) ok: bool,
    /// Records checked.
    pub(crate) records: Option<u64>,
    /// The last record's `n`.
    pub(crate) head: Option<u64>,
    /// The newest signed checkpoint: its number and the records it covers.
    pub(crate) checkpoint: Option<(u64, u64)>,
    /// Records after it, which no signature vouches for yet.
    pub(crate) unanchored: Option<u64>,
    /// Why it did not verify (tampering, a torn or missing file).
    pub(crate) error: Option<String>,
}

impl Verified {
    fn of(outcome: Result<VerifyReport, VerifyError>, started: Instant) -> Verified {
        let mut v = Verified {
            at: Utc::now(),
            took_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            ok: outcome.is_ok(),
            records: None,
            head: None,
            checkpoint: None,
            unanchored: None,
            error: None,
        };
        match outcome {
            Ok(report) => {
                v.records = Some(report.records);
                v.head = report.head.next.checked_sub(1);
                if let Anchoring::Signed(a) = &report.anchoring {
                    v.checkpoint = a.latest.as_ref().map(|c| (c.seq, c.records));
                    v.unanchored = Some(a.unanchored);
                }
            }
            Err(e) => v.error = Some(e.to_string()),
        }
        v
    }
}

impl WatchedAudit {
    pub(crate) fn new(monitor: AuditMonitor) -> WatchedAudit {
        WatchedAudit {
            monitor,
            last: Mutex::new(None),
            running: Mutex::new(()),
        }
    }

    /// Verifies the log now (reading every file: call it off the HTTP
    /// workers), keeps the outcome and returns it.
    pub(crate) fn verify(&self) -> Verified {
        let _one_at_a_time = self.running.lock();
        let started = Instant::now();
        let verified = Verified::of(self.monitor.verify(), started);
        if !verified.ok {
            tracing::warn!(
                target: "switchboard::console",
                audit = self.monitor.name(),
                error = verified.error.as_deref().unwrap_or(""),
                "the audit log did not verify"
            );
        }
        *self.last.lock() = Some(verified.clone());
        verified
    }

    pub(crate) fn view(&self) -> AuditView {
        AuditView {
            name: self.monitor.name().to_owned(),
            signed: self.monitor.signed(),
            stats: self.monitor.stats(),
            last_verify: self.last.lock().clone(),
        }
    }
}
