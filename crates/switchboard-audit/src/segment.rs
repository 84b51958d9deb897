//! The files of a log: naming, listing, creating, and finding where an
//! existing chain stops so a new start can continue it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::chain::{Head, SealError, unseal};
use crate::error::{AuditError, Result};

/// The files `<dir>/<base>.<NNNNNN>.jsonl` of one log.
#[derive(Debug, Clone)]
pub(crate) struct Segments {
    pub(crate) dir: PathBuf,
    pub(crate) base: String,
}

/// The file records are appended to.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) path: PathBuf,
    pub(crate) file: File,
    /// Bytes in the file that were written successfully.
    pub(crate) len: u64,
    /// Of those, the bytes known durable (fsynced, or there at the start):
    /// where a failed write is cut back to.
    pub(crate) synced: u64,
    pub(crate) opened: Instant,
}

impl Segments {
    pub(crate) fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{}.{index:06}.jsonl", self.base))
    }

    /// The log's files in chain order.
    pub(crate) fn list(&self) -> Result<Vec<(u64, PathBuf)>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| AuditError::io("list", self.dir.clone(), e))?;
        let prefix = format!("{}.", self.base);
        let mut found = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| AuditError::io("list", self.dir.clone(), e))?;
            let name = entry.file_name();
            let Some(index) = name
                .to_str()
                .and_then(|n| n.strip_prefix(&prefix))
                .and_then(|n| n.strip_suffix(".jsonl"))
                .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            found.push((index, entry.path()));
        }
        found.sort();
        Ok(found)
    }

    /// Creates segment `index` (never overwriting a file) and makes its
    /// directory entry durable.
    pub(crate) fn create(&self, index: u64) -> Result<Segment> {
        let path = self.path(index);
        let file = match OpenOptions::new().append(true).create_new(true).open(&path) {
            Ok(file) => file,
            // An earlier attempt made the file, then failed (syncing the
            // directory, say); an empty file holds no record, so it is
            // taken over rather than refused forever.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let file = OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .map_err(|e| AuditError::io("create", path.clone(), e))?;
                let len = file
                    .metadata()
                    .map_err(|e| AuditError::io("create", path.clone(), e))?
                    .len();
                if len != 0 {
                    return Err(AuditError::io("create", path.clone(), e));
                }
                file
            }
            Err(e) => return Err(AuditError::io("create", path.clone(), e)),
        };
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| AuditError::io("fsync the directory", self.dir.clone(), e))?;
        Ok(Segment {
            path,
            file,
            len: 0,
            synced: 0,
            opened: Instant::now(),
        })
    }

    /// Opens segment `index` to append after its `len` bytes.
    pub(crate) fn reopen(&self, index: u64, len: u64) -> Result<Segment> {
        let path = self.path(index);
        let file = OpenOptions::new()
            .append(true)
            .open(&path)
            .map_err(|e| AuditError::io("open", path.clone(), e))?;
        Ok(Segment {
            path,
            file,
            len,
            synced: len,
            opened: Instant::now(),
        })
    }
}

/// The files of the log `<dir>/<base>.<NNNNNN>.jsonl`, in chain order: what
/// [`verify`](crate::verify()) takes.
pub fn files(dir: impl AsRef<Path>, base: &str) -> Result<Vec<PathBuf>> {
    let segments = Segments {
        dir: dir.as_ref().to_path_buf(),
        base: base.to_owned(),
    };
    Ok(segments.list()?.into_iter().map(|(_, p)| p).collect())
}

/// The end of one file: its last complete line, and what follows it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Tail {
    /// The last line that ends with a newline (without the newline).
    pub(crate) last: Option<Vec<u8>>,
    /// Bytes after the last newline: a write cut short by a crash.
    pub(crate) torn: u64,
    /// The file's length.
    pub(crate) len: u64,
}

/// Reads the end of `path` backwards, in growing windows, until it has the
/// last complete line.
pub(crate) fn read_tail(path: &Path) -> Result<Tail> {
    let io = |e| AuditError::io("read", path.to_path_buf(), e);
    let mut file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut window: u64 = 64 * 1024;
    loop {
        let start = len.saturating_sub(window);
        let mut buf = Vec::with_capacity(usize::try_from(len - start).unwrap_or(0));
        file.seek(SeekFrom::Start(start)).map_err(io)?;
        (&mut file)
            .take(len - start)
            .read_to_end(&mut buf)
            .map_err(io)?;
        let Some(end) = buf.iter().rposition(|b| *b == b'\n') else {
            if start == 0 {
                return Ok(Tail {
                    last: None,
                    torn: len,
                    len,
                });
            }
            window *= 2;
            continue;
        };
        let torn = (buf.len() - end - 1) as u64;
        let begin = match buf[..end].iter().rposition(|b| *b == b'\n') {
            Some(p) => p + 1,
            None if start == 0 => 0,
            None => {
                window *= 2;
                continue;
            }
        };
        return Ok(Tail {
            last: Some(buf[begin..end].to_vec()),
            torn,
            len,
        });
    }
}

/// Where a log's chain stops, and where the next record goes.
#[derive(Debug)]
pub(crate) struct Resume {
    pub(crate) head: Head,
    /// The newest file, when the next record may be appended to it.
    pub(crate) append_to: Option<(u64, u64)>,
    /// The index of the next new file.
    pub(crate) next_index: u64,
    /// A torn tail found at the end of the newest file (bytes).
    pub(crate) torn: u64,
}

#[derive(serde::Deserialize)]
struct Position {
    n: u64,
}

/// Finds the last complete record of the log, checks its seal, and decides
/// whether to append to the newest file (it ends cleanly and has room) or to
/// start a new one (it ends in a torn write, which is left as it is).
pub(crate) fn resume(segments: &Segments, max_bytes: Option<u64>) -> Result<Resume> {
    let files = segments.list()?;
    let next_index = files.last().map_or(1, |(i, _)| i + 1);
    let mut resume = Resume {
        head: Head::GENESIS,
        append_to: None,
        next_index,
        torn: 0,
    };
    for (pos, (index, path)) in files.iter().enumerate().rev() {
        let tail = read_tail(path)?;
        let newest = pos + 1 == files.len();
        if newest {
            resume.torn = tail.torn;
            if tail.torn == 0 && max_bytes.is_none_or(|max| tail.len < max) {
                resume.append_to = Some((*index, tail.len));
            }
        }
        let Some(line) = tail.last else { continue };
        let corrupt = |reason: String| AuditError::Corrupt {
            path: path.clone(),
            line: line_count(path).unwrap_or(0),
            reason,
        };
        let hash = unseal(&line).map_err(|e| match e {
            SealError::Missing => corrupt("it has no \"hash\" member at its end".into()),
            SealError::Mismatch { recorded, computed } => corrupt(format!(
                "its hash says {recorded} but its content hashes to {computed}"
            )),
        })?;
        let position: Position = serde_json::from_slice(&line)
            .map_err(|e| corrupt(format!("it is not a record: {e}")))?;
        resume.head = Head {
            next: position.n + 1,
            prev: hash,
        };
        return Ok(resume);
    }
    Ok(resume)
}

/// Complete lines in a file (only to name a damaged line in an error).
fn line_count(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    Some(bytes.iter().filter(|b| **b == b'\n').count() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh directory under the system's temp dir, removed on drop.
    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir(name: &str) -> Dir {
        let path = std::env::temp_dir().join(format!("sb-segment-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap();
        Dir(path)
    }

    #[test]
    fn an_empty_file_left_by_a_failed_create_is_taken_over() {
        let d = dir("empty");
        let segments = Segments {
            dir: d.0.clone(),
            base: "audit".into(),
        };
        // What a create that failed after making its file leaves behind.
        std::fs::write(segments.path(5), b"").unwrap();
        let seg = segments.create(5).expect("an empty segment is reused");
        assert_eq!(seg.len, 0);
    }

    #[test]
    fn a_file_with_records_is_never_taken_over() {
        let d = dir("full");
        let segments = Segments {
            dir: d.0.clone(),
            base: "audit".into(),
        };
        std::fs::write(segments.path(5), b"{\"n\":0}\n").unwrap();
        assert!(segments.create(5).is_err());
        assert_eq!(std::fs::read(segments.path(5)).unwrap(), b"{\"n\":0}\n");
    }
}
