//! Checking a log: every record sealed, numbered in order and linked to the
//! one before it, across files.

use std::fmt;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::chain::{Digest256, Head, SealError, unseal};

/// How to verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Accept a chain that does not start at record 0 (older files were
    /// archived or removed). By default the first record must be the
    /// chain's genesis, so deleting the first records is caught too.
    pub partial: bool,
}

impl VerifyOptions {
    /// Whether a chain may start after record 0 (see [`partial`](Self::partial)).
    #[must_use]
    pub fn allow_partial(mut self, yes: bool) -> Self {
        self.partial = yes;
        self
    }
}

/// A bad or lost write at the very end of a file: bytes after the last
/// newline, as a crash mid-write leaves them. Not tampering: the chain goes
/// on in the next file from the last complete record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TornTail {
    /// The file.
    pub file: PathBuf,
    /// The line the torn bytes begin (1-based).
    pub line: u64,
    /// How many bytes.
    pub bytes: u64,
}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Files checked.
    pub files: usize,
    /// Where the chain ends: keep `head.prev` somewhere else to detect a
    /// truncation of the newest records later.
    pub head: Head,
    /// Torn tails found (at the end of files only).
    pub torn: Vec<TornTail>,
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ok: {} records", self.records)?;
        if self.records > 0 {
            write!(
                f,
                " (last n={}, hash {})",
                self.head.next.saturating_sub(1),
                self.head.prev
            )?;
        }
        for t in &self.torn {
            write!(
                f,
                "\ntorn tail: {}:{}: {} bytes of an unfinished write (a crash, not tampering)",
                t.file.display(),
                t.line,
                t.bytes
            )?;
        }
        Ok(())
    }
}

/// What is wrong with the first broken record.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Problem {
    /// The line does not end with a `"hash"` member: not a sealed record.
    Unsealed,
    /// The record's content does not hash to its `hash`: it was edited.
    Edited {
        /// The hash the record carries.
        recorded: Digest256,
        /// The hash of its content.
        computed: Digest256,
    },
    /// The seal is intact but the line is not a record.
    Unparsable {
        /// The JSON parser's complaint.
        reason: String,
    },
    /// The record's `n` is not the next one: records before it were
    /// deleted, or records were inserted or reordered.
    OutOfOrder {
        /// The `n` expected here.
        expected: u64,
        /// The `n` found.
        found: u64,
    },
    /// The record's `prev` is not the hash of the record before it.
    Unlinked {
        /// The previous record's hash.
        expected: Digest256,
        /// The record's `prev`.
        found: Digest256,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Unsealed => f.write_str("the line has no \"hash\" member at its end"),
            Problem::Edited { recorded, computed } => write!(
                f,
                "the record was edited: its content hashes to {computed}, its hash says {recorded}"
            ),
            Problem::Unparsable { reason } => write!(f, "not a record: {reason}"),
            Problem::OutOfOrder { expected, found } if *found > *expected => write!(
                f,
                "record n={found} where n={expected} was expected: {} record(s) before it are missing, or records were reordered",
                found - expected
            ),
            Problem::OutOfOrder { expected, found } => write!(
                f,
                "record n={found} where n={expected} was expected: records were reordered, duplicated or inserted"
            ),
            Problem::Unlinked { expected, found } => write!(
                f,
                "prev is {found} but the record before hashes to {expected}: the chain is broken here"
            ),
        }
    }
}

/// The first record that does not verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Broken {
    /// The file.
    pub file: PathBuf,
    /// The line (1-based).
    pub line: u64,
    /// The record's `n`, if it could be read.
    pub n: Option<u64>,
    /// The record's event id, if it could be read.
    pub event_id: Option<u64>,
    /// What is wrong.
    pub problem: Problem,
    /// Records that verified before it.
    pub verified: u64,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "broken: {}:{}", self.file.display(), self.line)?;
        if let Some(id) = self.event_id {
            write!(f, " (event id {id})")?;
        }
        write!(
            f,
            ": {} ({} records before it verified)",
            self.problem, self.verified
        )
    }
}

/// Why verification did not pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A record does not verify.
    #[error("{0}")]
    Broken(Box<Broken>),
    /// A file could not be read.
    #[error("could not read {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// No file was given.
    #[error("no audit files given")]
    NoFiles,
}

#[derive(Deserialize)]
struct Link {
    n: u64,
    prev: Digest256,
    #[serde(default)]
    id: Option<u64>,
}

/// Verifies a chain spread over `paths`, in chain order (the log's own file
/// names sort in chain order), from its genesis record.
pub fn verify<P: AsRef<Path>>(paths: &[P]) -> Result<VerifyReport, VerifyError> {
    verify_with(paths, VerifyOptions::default())
}

/// [`verify`] with options.
pub fn verify_with<P: AsRef<Path>>(
    paths: &[P],
    options: VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    if paths.is_empty() {
        return Err(VerifyError::NoFiles);
    }
    let mut head: Option<Head> = (!options.partial).then_some(Head::GENESIS);
    let mut report = VerifyReport {
        records: 0,
        files: paths.len(),
        head: Head::GENESIS,
        torn: Vec::new(),
    };
    for path in paths {
        let path = path.as_ref();
        let io = |source| VerifyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io)?);
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
                break;
            }
            number += 1;
            if line.last() != Some(&b'\n') {
                report.torn.push(TornTail {
                    file: path.to_path_buf(),
                    line: number,
                    bytes: line.len() as u64,
                });
                break;
            }
            line.pop();
            let broken = |n, event_id, problem| {
                VerifyError::Broken(Box::new(Broken {
                    file: path.to_path_buf(),
                    line: number,
                    n,
                    event_id,
                    problem,
                    verified: report.records,
                }))
            };
            let sealed = unseal(&line);
            let link: Result<Link, _> = serde_json::from_slice(&line);
            let (n, id) = link.as_ref().map_or((None, None), |l| (Some(l.n), l.id));
            let hash = match sealed {
                Ok(hash) => hash,
                Err(SealError::Missing) => return Err(broken(n, id, Problem::Unsealed)),
                Err(SealError::Mismatch { recorded, computed }) => {
                    return Err(broken(n, id, Problem::Edited { recorded, computed }));
                }
            };
            let link = link.map_err(|e| {
                broken(
                    None,
                    None,
                    Problem::Unparsable {
                        reason: e.to_string(),
                    },
                )
            })?;
            if let Some(expected) = head {
                if link.n != expected.next {
                    let problem = Problem::OutOfOrder {
                        expected: expected.next,
                        found: link.n,
                    };
                    return Err(broken(n, id, problem));
                }
                if link.prev != expected.prev {
                    let problem = Problem::Unlinked {
                        expected: expected.prev,
                        found: link.prev,
                    };
                    return Err(broken(n, id, problem));
                }
            }
            let mut next = Head {
                next: link.n,
                prev: link.prev,
            };
            next.advance(hash);
            head = Some(next);
            report.records += 1;
        }
    }
    report.head = head.unwrap_or(Head::GENESIS);
    Ok(report)
}
