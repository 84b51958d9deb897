//! [`AuditMonitor`]: a log's counters and verification, for code that
//! watches a log it does not own (the operations console).

use std::sync::Arc;

use crate::key::PublicKey;
use crate::segment::Segments;
use crate::stats::{AuditStats, Counters};
use crate::verify::{VerifyError, VerifyOptions, VerifyReport, verify_with};
use crate::witness::Feeds;

/// Reads an [`AuditLog`](crate::AuditLog)'s counters and verifies its
/// files, from any thread, while the log runs and after it closed. Made by
/// [`AuditLog::monitor`](crate::AuditLog::monitor); cheap to clone. It
/// holds no key that signs: only the public half, to verify with.
#[derive(Clone)]
pub struct AuditMonitor {
    pub(crate) name: Arc<str>,
    pub(crate) segments: Segments,
    pub(crate) stats: Arc<Counters>,
    /// The witness feeds, when the log signs checkpoints.
    pub(crate) feeds: Option<Arc<Feeds>>,
    pub(crate) public: Option<PublicKey>,
}

impl std::fmt::Debug for AuditMonitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuditMonitor")
            .field("name", &self.name)
            .field("dir", &self.segments.dir)
            .field("base", &self.segments.base)
            .field("signed", &self.public.is_some())
            .finish()
    }
}

impl AuditMonitor {
    /// The log's name (`AuditConfig::name`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the log signs checkpoints: [`verify`](Self::verify) then
    /// checks the log against them, not the hash chain alone.
    pub fn signed(&self) -> bool {
        self.public.is_some()
    }

    /// The log's counters so far.
    pub fn stats(&self) -> AuditStats {
        let mut stats = self.stats.snapshot();
        stats.witness_behind = self.feeds.as_ref().map_or(0, |f| f.behind());
        stats
    }

    /// Verifies the log's files, as [`AuditLog::verify`](crate::AuditLog::verify)
    /// does. Reads every file: on a large log, call it off the threads
    /// that serve requests.
    ///
    /// On a running log, the writer may start a file and sign a checkpoint
    /// over it between the listing of the files and the reading of the
    /// checkpoints, which reads as a log cut short. A log that disagrees
    /// with its checkpoints is therefore listed and read again once: a log
    /// that was cut or rewritten disagrees both times.
    pub fn verify(&self) -> Result<VerifyReport, VerifyError> {
        match self.verify_once() {
            Err(VerifyError::Tampered(_)) => self.verify_once(),
            outcome => outcome,
        }
    }

    fn verify_once(&self) -> Result<VerifyReport, VerifyError> {
        let files = self.segments.paths().map_err(|e| VerifyError::Io {
            path: self.segments.dir.clone(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let mut options = VerifyOptions::default().base(&self.segments.base);
        if let Some(key) = self.public {
            options = options.key(key);
        }
        verify_with(&files, options)
    }
}
