//! Walking the records of a log: every one sealed, numbered in order and
//! linked to the one before it, across files; and, at the records signed
//! checkpoints name, the hash they signed.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::report::{Broken, Finding, Problem, TornTail, VerifyError};
use crate::chain::{Digest256, Head, SealError, unseal};

/// A hash a checkpoint signed for record `n`.
#[derive(Debug, Clone)]
pub(super) struct Pin {
    pub(super) hash: Digest256,
    pub(super) seq: u64,
    /// The checkpoint file it was read from, and the line.
    pub(super) file: PathBuf,
    pub(super) line: u64,
}

/// What the walk checks besides the chain.
#[derive(Debug, Default)]
pub(super) struct Pins {
    pub(super) by_n: HashMap<u64, Pin>,
    /// The record whose time to report (the first unanchored one).
    pub(super) time_of: Option<u64>,
}

/// One file as walked.
#[derive(Debug, Clone)]
pub(super) struct Walked {
    pub(super) name: String,
    pub(super) first: Option<u64>,
    pub(super) records: u64,
    /// Bytes up to the end of its last complete line.
    pub(super) bytes: u64,
}

#[derive(Debug)]
pub(super) struct Walk {
    pub(super) records: u64,
    /// The chain's end (`None` for no record).
    pub(super) head: Option<Head>,
    pub(super) files: Vec<Walked>,
    pub(super) torn: Vec<TornTail>,
    /// The time of `Pins::time_of`, if that record was seen.
    pub(super) time: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct Link<'a> {
    n: u64,
    prev: Digest256,
    #[serde(default)]
    id: Option<u64>,
    #[serde(default, borrow)]
    at: Option<std::borrow::Cow<'a, str>>,
}

pub(super) fn walk<P: AsRef<Path>>(
    paths: &[P],
    partial: bool,
    pins: &Pins,
) -> Result<Walk, VerifyError> {
    let mut head: Option<Head> = (!partial).then_some(Head::GENESIS);
    let mut out = Walk {
        records: 0,
        head: None,
        files: Vec::new(),
        torn: Vec::new(),
        time: None,
    };
    for (index, path) in paths.iter().enumerate() {
        let path = path.as_ref();
        let newest = index + 1 == paths.len();
        let io = |source| VerifyError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut reader = BufReader::new(File::open(path).map_err(io)?);
        let mut walked = Walked {
            name: crate::segment::file_name(path),
            first: None,
            records: 0,
            bytes: 0,
        };
        let mut line = Vec::new();
        let mut number = 0u64;
        loop {
            line.clear();
            if reader.read_until(b'\n', &mut line).map_err(io)? == 0 {
                break;
            }
            number += 1;
            let broken = |n, event_id, problem| {
                VerifyError::Broken(Box::new(Broken {
                    file: path.to_path_buf(),
                    line: number,
                    n,
                    event_id,
                    problem,
                    verified: out.records,
                }))
            };
            if line.last() != Some(&b'\n') {
                if !newest {
                    return Err(broken(None, None, Problem::MissingNewline));
                }
                if serde_json::from_slice::<serde::de::IgnoredAny>(&line).is_ok() {
                    return Err(broken(None, None, Problem::UnterminatedRecord));
                }
                out.torn.push(TornTail {
                    file: path.to_path_buf(),
                    line: number,
                    bytes: line.len() as u64,
                });
                break;
            }
            let length = line.len() as u64;
            line.pop();
            let sealed = unseal(&line);
            let link: Result<Link, _> = serde_json::from_slice(&line);
            let (n, id) = link.as_ref().map_or((None, None), |l| (Some(l.n), l.id));
            let hash = match sealed {
                Ok(hash) => hash,
                Err(SealError::Missing) => return Err(broken(n, id, Problem::Unsealed)),
                Err(SealError::NotCanonical) => return Err(broken(n, id, Problem::NotCanonical)),
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
            if let Some(pin) = pins.by_n.get(&link.n)
                && pin.hash != hash
            {
                let finding = Finding::Rewritten {
                    seq: pin.seq,
                    n: link.n,
                    signed: pin.hash,
                    found: hash,
                };
                return Err(VerifyError::tampered(&pin.file, Some(pin.line), finding));
            }
            if pins.time_of == Some(link.n) {
                out.time = link
                    .at
                    .and_then(|at| DateTime::parse_from_rfc3339(&at).ok())
                    .map(|at| at.with_timezone(&Utc));
            }
            walked.first.get_or_insert(link.n);
            walked.records += 1;
            walked.bytes += length;
            head = Some(Head {
                next: link.n + 1,
                prev: hash,
            });
            out.records += 1;
        }
        out.files.push(walked);
    }
    out.head = head.filter(|_| out.records > 0);
    Ok(out)
}
