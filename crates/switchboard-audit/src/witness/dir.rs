//! A witness directory: `<dir>/<log>.checkpoints.jsonl`, the same lines as
//! the log's own checkpoint file, on another disk or mount.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::{Witness, WitnessError};
use crate::checkpoint::SignedCheckpoint;
use crate::segment::read_tail;

/// Keeps checkpoints in a directory apart from the log's. The directory
/// must exist: a witness on a mount that is missing is down (and caught up
/// once it is back), not quietly replaced by a directory on the log's disk.
#[derive(Debug, Clone)]
pub struct DirWitness {
    dir: PathBuf,
}

impl DirWitness {
    /// A witness writing into `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirWitness { dir: dir.into() }
    }

    /// Its directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn file(&self, log: &str) -> Result<PathBuf, WitnessError> {
        if !self.dir.is_dir() {
            return Err(WitnessError::new(format!(
                "{} is not a directory (not mounted?)",
                self.dir.display()
            )));
        }
        Ok(crate::checkpoint::path(&self.dir, log))
    }
}

impl Witness for DirWitness {
    fn describe(&self) -> String {
        format!("dir {}", self.dir.display())
    }

    fn local_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }

    fn latest(&self, log: &str) -> Result<Option<u64>, WitnessError> {
        let path = self.file(log)?;
        if !path.exists() {
            return Ok(None);
        }
        let tail = read_tail(&path).map_err(WitnessError::new)?;
        if tail.torn > 0 {
            // A write of ours cut by a crash; the checkpoint is sent again.
            OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|f| {
                    f.set_len(tail.len - tail.torn)?;
                    f.sync_all()
                })
                .map_err(|e| WitnessError::new(format!("{}: {e}", path.display())))?;
        }
        match tail.last {
            None => Ok(None),
            Some(line) => SignedCheckpoint::parse(&line)
                .map(|c| Some(c.checkpoint.seq))
                .map_err(|e| WitnessError::new(format!("{}: last line: {e}", path.display()))),
        }
    }

    fn keep(&self, log: &str, _seq: u64, line: &[u8]) -> Result<(), WitnessError> {
        let path = self.file(log)?;
        let err = |e: std::io::Error| WitnessError::new(format!("{}: {e}", path.display()));
        let created = !path.exists();
        let mut file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(err)?;
        let mut bytes = Vec::with_capacity(line.len() + 1);
        bytes.extend_from_slice(line);
        bytes.push(b'\n');
        file.write_all(&bytes).map_err(err)?;
        file.sync_data().map_err(err)?;
        if created {
            File::open(&self.dir)
                .and_then(|d| d.sync_all())
                .map_err(err)?;
        }
        Ok(())
    }
}
