//! Counters of an audit log, shared by the intake and the writer (which
//! count) and the handle (which reads).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// What an audit log has done so far.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize)]
#[non_exhaustive]
pub struct AuditStats {
    /// Records made (durable, or waiting in memory for their write and
    /// fsync).
    pub records: u64,
    /// Records of strict statements that were held for the disk.
    pub held: u64,
    /// fsyncs of record data.
    pub fsyncs: u64,
    /// Bytes written.
    pub bytes: u64,
    /// New files started (rotations, and starts whose newest file was full).
    pub rotations: u64,
    /// Write, fsync or file errors.
    pub errors: u64,
    /// The last error, while the writer cannot write; `None` once it can.
    pub failing: Option<String>,
    /// The file being written. Serialized as text, with any bytes that
    /// are not UTF-8 replaced (U+FFFD): a path is not always text.
    #[serde(serialize_with = "lossy_path")]
    pub file: Option<PathBuf>,
    /// Signed checkpoints written to the log's checkpoint file.
    pub checkpoints: u64,
    /// Failed attempts to reach a witness (each is retried).
    pub witness_errors: u64,
    /// Checkpoints the slowest witness does not hold yet, as last known.
    pub witness_behind: u64,
}

/// A path as text, lossily: serde's own `Path` serializer fails on a path
/// that is not UTF-8, which would fail the whole `AuditStats`.
fn lossy_path<S: serde::Serializer>(path: &Option<PathBuf>, s: S) -> Result<S::Ok, S::Error> {
    match path {
        Some(path) => s.serialize_some(&path.to_string_lossy()),
        None => s.serialize_none(),
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records: AtomicU64,
    pub(crate) held: AtomicU64,
    pub(crate) fsyncs: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) rotations: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) checkpoints: AtomicU64,
    pub(crate) witness_errors: AtomicU64,
    /// Written by the writer when it fails or recovers, or starts a file.
    pub(crate) failing: Mutex<Option<String>>,
    pub(crate) file: Mutex<Option<PathBuf>>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> AuditStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        AuditStats {
            records: get(&self.records),
            held: get(&self.held),
            fsyncs: get(&self.fsyncs),
            bytes: get(&self.bytes),
            rotations: get(&self.rotations),
            errors: get(&self.errors),
            failing: self.failing.lock().clone(),
            file: self.file.lock().clone(),
            checkpoints: get(&self.checkpoints),
            witness_errors: get(&self.witness_errors),
            witness_behind: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_serialize_whatever_bytes_their_file_path_holds() {
        let plain = AuditStats {
            file: Some(PathBuf::from("/var/log/audit-1.jsonl")),
            ..AuditStats::default()
        };
        let json = serde_json::to_value(&plain).unwrap();
        assert_eq!(json["file"], "/var/log/audit-1.jsonl");
        assert_eq!(
            serde_json::to_value(AuditStats::default()).unwrap()["file"],
            serde_json::Value::Null
        );
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            let odd = AuditStats {
                file: Some(PathBuf::from(std::ffi::OsStr::from_bytes(
                    b"/tmp/au\xffdit.jsonl",
                ))),
                ..AuditStats::default()
            };
            let json =
                serde_json::to_value(&odd).expect("a path that is not UTF-8 still serializes");
            assert_eq!(json["file"], "/tmp/au\u{fffd}dit.jsonl");
        }
    }
}
