//! Errors of the audit log itself (opening, attaching, flushing). What a
//! statement sees when its record cannot be made durable is switchboard's own
//! `Error::NotDurable` or `Error::Backpressure`.

use std::path::PathBuf;

/// A `Result` with [`AuditError`].
pub type Result<T, E = AuditError> = std::result::Result<T, E>;

/// What went wrong with the audit log.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuditError {
    /// The configuration is inconsistent.
    #[error("invalid audit configuration: {0}")]
    Config(String),
    /// A file operation failed.
    #[error("audit log: could not {op} {}: {source}; check that the directory exists, is writable and has space", path.display())]
    Io {
        /// What was being done (`create`, `write`, `fsync`, ...).
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The last record of an existing log is damaged, so the chain cannot be
    /// continued safely.
    #[error("audit log {}: line {line} is damaged ({reason}); run `switchboard audit verify` on the files and move them aside before starting a new chain", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: u64,
        /// What is wrong with it.
        reason: String,
    },
    /// The writer could not make records durable (disk full, file
    /// unwritable); it keeps retrying and holds everything not yet written.
    #[error("audit log cannot write: {0}")]
    Unwritable(String),
    /// Subscribing to the bus failed.
    #[error("audit log could not subscribe: {0}")]
    Subscribe(#[source] switchboard_core::Error),
    /// The bus did not hand over queued events in time.
    #[error("audit log flush: {0}")]
    Flush(#[source] switchboard_core::Error),
    /// The flush or close did not finish within its time limit.
    #[error("audit log: the writer did not finish within {}ms", .0.as_millis())]
    Timeout(std::time::Duration),
    /// The writer thread is gone (it was closed, or it panicked).
    #[error("the audit log's writer has stopped")]
    Stopped,
}

impl AuditError {
    pub(crate) fn io(op: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        AuditError::Io {
            op,
            path: path.into(),
            source,
        }
    }
}
