//! A file of checkpoint lines: the log's own, or a directory witness's.
//! Appended to and fsynced one line at a time; read back whole.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{LineError, SignedCheckpoint};
use crate::error::{AuditError, Result};
use crate::segment::read_tail;

/// A checkpoint file open for appending.
#[derive(Debug)]
pub(crate) struct CheckpointFile {
    pub(crate) path: PathBuf,
    file: File,
}

impl CheckpointFile {
    /// Opens (or creates) the file, and returns its last checkpoint. A
    /// torn last line (a crash while it was written, before it was
    /// fsynced, so before anyone else got it) is cut off; a damaged
    /// complete one is an error.
    pub(crate) fn open(path: &Path) -> Result<(CheckpointFile, Option<SignedCheckpoint>)> {
        let io = |op, e| AuditError::io(op, path.to_path_buf(), e);
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| io("open", e))?;
        let tail = read_tail(path)?;
        if tail.torn > 0 {
            tracing::warn!(file = %path.display(), bytes = tail.torn, "the checkpoint file ends in a torn write (a crash); it is cut off");
            file.set_len(tail.len - tail.torn)
                .and_then(|()| file.sync_all())
                .map_err(|e| io("cut the torn end of", e))?;
        }
        let last = match tail.last {
            None => None,
            Some(line) => {
                Some(
                    SignedCheckpoint::parse(&line).map_err(|e| AuditError::Corrupt {
                        path: path.to_path_buf(),
                        line: crate::segment::line_count(path).unwrap_or(0),
                        reason: e.to_string(),
                    })?,
                )
            }
        };
        let file = CheckpointFile {
            path: path.to_path_buf(),
            file,
        };
        Ok((file, last))
    }

    /// Appends one line (with its newline) and makes it durable.
    pub(crate) fn append(&mut self, line: &[u8]) -> Result<()> {
        self.file
            .write_all(line)
            .map_err(|e| AuditError::io("write", self.path.clone(), e))?;
        self.file
            .sync_data()
            .map_err(|e| AuditError::io("fsync", self.path.clone(), e))
    }
}

/// Every line of a checkpoint file, read back.
#[derive(Debug, Default)]
pub(crate) struct Lines {
    /// (line number, what it holds), in file order.
    pub(crate) lines: Vec<(u64, Result<SignedCheckpoint, LineError>)>,
    /// Bytes after the last newline.
    pub(crate) torn: u64,
}

impl Lines {
    /// Lines held elsewhere (a witness read over the network), each
    /// without its newline.
    pub(crate) fn from_memory(lines: &[Vec<u8>]) -> Lines {
        Lines {
            lines: (1..)
                .zip(lines)
                .map(|(n, line)| (n, SignedCheckpoint::parse(line)))
                .collect(),
            torn: 0,
        }
    }
}

/// Reads a whole checkpoint file; `Ok(None)` when it does not exist.
pub(crate) fn read_all(path: &Path) -> std::io::Result<Option<Lines>> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut out = Lines::default();
    let mut rest = &bytes[..];
    let mut number = 0;
    while let Some(end) = rest.iter().position(|b| *b == b'\n') {
        number += 1;
        out.lines
            .push((number, SignedCheckpoint::parse(&rest[..end])));
        rest = &rest[end + 1..];
    }
    out.torn = rest.len() as u64;
    Ok(Some(out))
}
