//! The files of a log: naming, listing, creating, and finding where an
//! existing chain stops so a new start can continue it.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::chain::{Digest256, Head, SealError, unseal};
use crate::checkpoint::TornAside;
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
    /// Its durable records: what a checkpoint says of the file.
    pub(crate) marks: Marks,
}

/// A file's durable records, as a checkpoint lists them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Marks {
    /// The first record's `n` (`None` while the file holds none).
    pub(crate) first: Option<u64>,
    pub(crate) records: u64,
    /// The last record's hash.
    pub(crate) last: Digest256,
}

impl Segments {
    pub(crate) fn path(&self, index: u64) -> PathBuf {
        self.dir.join(format!("{}.{index:06}.jsonl", self.base))
    }

    /// The log's files alone, in chain order.
    pub(crate) fn paths(&self) -> Result<Vec<PathBuf>> {
        Ok(self.list()?.into_iter().map(|(_, p)| p).collect())
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
            marks: Marks::default(),
        })
    }

    /// Opens segment `index` to append after its `len` bytes, which hold
    /// the records `marks` says.
    pub(crate) fn reopen(&self, index: u64, len: u64, marks: Marks) -> Result<Segment> {
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
            marks,
        })
    }
}

/// The files of the log `<dir>/<base>.<NNNNNN>.jsonl`, in chain order: what
/// [`verify`](crate::verify()) takes.
pub fn files(dir: impl AsRef<Path>, base: &str) -> Result<Vec<PathBuf>> {
    Segments {
        dir: dir.as_ref().to_path_buf(),
        base: base.to_owned(),
    }
    .paths()
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
    /// The newest file, when the next record may be appended to it: its
    /// index and length.
    pub(crate) append_to: Option<(u64, u64)>,
    /// The index of the next new file.
    pub(crate) next_index: u64,
    /// The newest file's name and records, if it holds any.
    pub(crate) newest: Option<(String, u64, Marks)>,
    /// A torn write found at the end of the newest file, moved aside.
    pub(crate) torn: Option<TornAside>,
}

#[derive(serde::Deserialize)]
struct Position {
    n: u64,
}

/// Finds the last complete record of the log, checks its seal, and decides
/// whether to append to the newest file (it has room) or to start a new
/// one. A torn write at the end of the newest file (a crash) is moved
/// aside first, so the file ends with its last complete record and no
/// torn bytes ever sit in the middle of the log.
pub(crate) fn resume(segments: &Segments, max_bytes: Option<u64>) -> Result<Resume> {
    let files = segments.list()?;
    let next_index = files.last().map_or(1, |(i, _)| i + 1);
    let mut resume = Resume {
        head: Head::GENESIS,
        append_to: None,
        next_index,
        newest: None,
        torn: None,
    };
    for (pos, (index, path)) in files.iter().enumerate().rev() {
        let mut tail = read_tail(path)?;
        let newest = pos + 1 == files.len();
        if newest {
            if tail.torn > 0 {
                resume.torn = Some(move_torn_aside(path, &tail)?);
                tail.len -= tail.torn;
                tail.torn = 0;
            }
            if max_bytes.is_none_or(|max| tail.len < max) {
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
            SealError::NotCanonical => {
                corrupt("its hash is not written in lowercase hex: it was edited".into())
            }
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
        if newest {
            let first = first_n(path)?.unwrap_or(position.n);
            let marks = Marks {
                first: Some(first),
                records: (position.n + 1).saturating_sub(first),
                last: hash,
            };
            resume.newest = Some((file_name(path), tail.len, marks));
        }
        return Ok(resume);
    }
    Ok(resume)
}

/// A file's name, as checkpoints list it.
pub(crate) fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The `n` of a file's first record.
fn first_n(path: &Path) -> Result<Option<u64>> {
    use std::io::BufRead;
    let io = |e| AuditError::io("read", path.to_path_buf(), e);
    let mut line = Vec::new();
    std::io::BufReader::new(File::open(path).map_err(io)?)
        .read_until(b'\n', &mut line)
        .map_err(io)?;
    Ok(serde_json::from_slice::<Position>(line.trim_ascii_end())
        .ok()
        .map(|p| p.n))
}

/// Moves the torn end of `path` into `<file>.<offset>.torn` beside it
/// (fsynced), then cuts it off the file. A torn write is never a complete
/// record: bytes that parse as one, newline missing, are refused as an
/// edit, not moved.
fn move_torn_aside(path: &Path, tail: &Tail) -> Result<TornAside> {
    let offset = tail.len - tail.torn;
    let io = |op, e| AuditError::io(op, path.to_path_buf(), e);
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(|e| io("open", e))?;
    let mut torn = Vec::new();
    file.seek(SeekFrom::Start(offset))
        .and_then(|_| file.read_to_end(&mut torn))
        .map_err(|e| io("read", e))?;
    if serde_json::from_slice::<serde::de::IgnoredAny>(&torn).is_ok() {
        return Err(AuditError::Corrupt {
            path: path.to_path_buf(),
            line: line_count(path).unwrap_or(0) + 1,
            reason: "its last line is a complete record without its newline, which no crash leaves: it was edited".into(),
        });
    }
    let name = file_name(path);
    let aside_name = format!(
        "{}.{offset}.torn",
        name.strip_suffix(".jsonl").unwrap_or(&name)
    );
    let aside = path.with_file_name(&aside_name);
    match OpenOptions::new().write(true).create_new(true).open(&aside) {
        Ok(mut f) => f
            .write_all(&torn)
            .and_then(|()| f.sync_all())
            .map_err(|e| AuditError::io("write", aside.clone(), e))?,
        // A start that crashed after moving them and before cutting them.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            if std::fs::read(&aside).ok().as_deref() != Some(&torn[..]) {
                return Err(AuditError::io("create", aside.clone(), e));
            }
        }
        Err(e) => return Err(AuditError::io("create", aside.clone(), e)),
    }
    if let Some(dir) = path.parent() {
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| AuditError::io("fsync the directory", dir.to_path_buf(), e))?;
    }
    file.set_len(offset)
        .and_then(|()| file.sync_all())
        .map_err(|e| io("cut the torn end of", e))?;
    tracing::warn!(
        file = %path.display(),
        bytes = tail.torn,
        aside = %aside.display(),
        "audit log ended in a torn write (a crash); it is moved aside and the chain continues after the last complete record"
    );
    Ok(TornAside {
        file: name,
        offset,
        bytes: tail.torn,
        aside: aside_name,
    })
}

/// Complete lines in a file (only to name a damaged line in an error).
pub(crate) fn line_count(path: &Path) -> Option<u64> {
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
