//! What verification reports: a [`VerifyReport`] for a log that passed, a
//! [`VerifyError`] for one that did not (or could not be read).

use std::fmt;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use crate::chain::{Digest256, Head};
use crate::checkpoint::TornAside;
use crate::key::KeyId;

/// A write a crash cut short: bytes after the last newline of the newest
/// file that are not a complete record. Not tampering, but nothing vouches
/// for them either.
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

/// How far signed checkpoints vouch for the log.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Anchoring {
    /// No key was given: only the chain was checked. A log whose newest
    /// records were removed, or that was rewritten and re-chained whole,
    /// passes this check too.
    Unchecked,
    /// Checked against the checkpoints signed by the keys given.
    Signed(Box<Anchored>),
}

/// What the signed checkpoints said, for a log that agrees with them.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Anchored {
    /// Checkpoints checked (the log's and the witness's together).
    pub checkpoints: u64,
    /// The newest one.
    pub latest: Option<CheckpointInfo>,
    /// Records after it: no signature vouches for them yet (a log still
    /// running, or one that crashed since).
    pub unanchored: u64,
    /// When the oldest of them was recorded.
    pub oldest_unanchored: Option<DateTime<Utc>>,
    /// The keys that signed them.
    pub keys: Vec<KeyId>,
    /// The witness, when one was given.
    pub witness: Option<WitnessInfo>,
    /// Torn writes the log moved aside when it reopened after a crash.
    pub moved_aside: Vec<TornAside>,
    /// Bytes of a torn last line in the checkpoint file (a crash).
    pub torn_checkpoint: u64,
}

/// One checkpoint, in short.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CheckpointInfo {
    /// Its number.
    pub seq: u64,
    /// Records it covers.
    pub records: u64,
    /// When it was signed.
    pub at: DateTime<Utc>,
    /// By which key.
    pub key: KeyId,
}

/// What the witness held.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct WitnessInfo {
    /// Its checkpoints (all identical to the log's).
    pub checkpoints: u64,
    /// The log's newer checkpoints it does not hold yet.
    pub behind: u64,
}

/// A log that verified.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyReport {
    /// Records checked.
    pub records: u64,
    /// Files checked.
    pub files: usize,
    /// Where the chain ends.
    pub head: Head,
    /// A torn tail at the end of the newest file, if any.
    pub torn: Vec<TornTail>,
    /// How far signed checkpoints vouch for it.
    pub anchoring: Anchoring,
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
        match &self.anchoring {
            Anchoring::Unchecked => f.write_str(
                "\nunanchored: no key given, so only the hash chain was checked; a log cut short at its end, or rewritten and re-chained whole, passes this check too (verify with --key)",
            )?,
            Anchoring::Signed(a) => write!(f, "\n{a}")?,
        }
        for t in &self.torn {
            write!(
                f,
                "\ntorn tail: {}:{}: {} bytes of an unfinished write at the end of the newest file (a crash, not tampering; nothing vouches for them)",
                t.file.display(),
                t.line,
                t.bytes
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for Anchored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.latest {
            Some(cp) => write!(
                f,
                "anchored: {} signed checkpoints (keys {}) agree with the log; the latest, {} at {}, covers {} records",
                self.checkpoints,
                self.keys
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                cp.seq,
                cp.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                cp.records
            )?,
            None => f.write_str("anchored: no signed checkpoint found")?,
        }
        match &self.witness {
            Some(w) if w.behind > 0 => write!(
                f,
                "\nwitness: {} checkpoints, identical to the log's; {} newer ones not there yet",
                w.checkpoints, w.behind
            )?,
            Some(w) => write!(
                f,
                "\nwitness: {} checkpoints, identical to the log's",
                w.checkpoints
            )?,
            None => f.write_str(
                "\nwitness: none given; removing the log's newest records together with its newest checkpoints would not be seen",
            )?,
        }
        if self.unanchored > 0 {
            write!(
                f,
                "\nunanchored: {} records after the latest checkpoint",
                self.unanchored
            )?;
            if let Some(at) = self.oldest_unanchored {
                write!(
                    f,
                    ", the oldest recorded at {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
                )?;
            }
        }
        for t in &self.moved_aside {
            write!(
                f,
                "\nmoved aside: {} torn bytes at offset {} of {} (a crash), now in {}",
                t.bytes, t.offset, t.file, t.aside
            )?;
        }
        if self.torn_checkpoint > 0 {
            write!(
                f,
                "\ntorn checkpoint: {} bytes of an unfinished checkpoint write (a crash)",
                self.torn_checkpoint
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
    /// The hash is not in lowercase hex, the only spelling the log
    /// writes: the line was edited.
    NotCanonical,
    /// A line without a newline that is not the end of the newest file:
    /// bytes were added, or a file was cut, in the middle of the log.
    MissingNewline,
    /// The newest file ends in a complete record without its newline,
    /// which no crash leaves (a torn write is never a whole record).
    UnterminatedRecord,
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
            Problem::NotCanonical => f.write_str(
                "the record was edited: its hash is not written in lowercase hex, as the log writes it",
            ),
            Problem::MissingNewline => f.write_str(
                "the line has no newline but is not the end of the newest file: bytes were added or a file was cut here",
            ),
            Problem::UnterminatedRecord => f.write_str(
                "the newest file ends in a complete record without its newline, which no crash leaves: it was added or edited",
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

/// How the log and its signed checkpoints disagree.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Finding {
    /// A checkpoint line is not a signed checkpoint.
    Unreadable {
        /// Why.
        reason: String,
    },
    /// A checkpoint names a key not among those given.
    UnknownKey {
        /// The checkpoint.
        seq: u64,
        /// The key it names.
        key: KeyId,
    },
    /// A checkpoint's signature does not verify under the key it names.
    BadSignature {
        /// The checkpoint.
        seq: u64,
    },
    /// Checkpoints are out of order, or one does not chain to the one
    /// before it (removed, reordered, replayed).
    Unchained {
        /// The checkpoint.
        seq: u64,
        /// What is wrong.
        reason: String,
    },
    /// The witness and the log's directory hold different checkpoints.
    WitnessDisagrees {
        /// The checkpoint.
        seq: u64,
    },
    /// The witness holds checkpoints the log's directory lacks.
    CheckpointsRemoved {
        /// The first one missing.
        from: u64,
        /// The last one missing.
        to: u64,
    },
    /// The log holds fewer records than a checkpoint signed.
    Truncated {
        /// The checkpoint.
        seq: u64,
        /// Records it signed.
        signed: u64,
        /// Records the log holds.
        found: u64,
    },
    /// A record's hash is not the one a checkpoint signed for it.
    Rewritten {
        /// The checkpoint.
        seq: u64,
        /// The record.
        n: u64,
        /// The hash signed.
        signed: Digest256,
        /// The record's hash.
        found: Digest256,
    },
    /// A file is not as a checkpoint describes it.
    FileChanged {
        /// The checkpoint.
        seq: u64,
        /// The file's name.
        file: String,
        /// What differs.
        reason: String,
    },
    /// Records follow the checkpoint the log wrote when it closed.
    AfterClose {
        /// The close checkpoint.
        seq: u64,
        /// Records after it.
        records: u64,
    },
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Finding::Unreadable { reason } => write!(f, "not a signed checkpoint: {reason}"),
            Finding::UnknownKey { seq, key } => write!(
                f,
                "checkpoint {seq} is signed by key {key}, which is not among the keys given: pass its public key with --key, or the checkpoint is forged"
            ),
            Finding::BadSignature { seq } => write!(
                f,
                "checkpoint {seq}'s signature does not verify: it was edited or forged"
            ),
            Finding::Unchained { seq, reason } => write!(f, "checkpoint {seq}: {reason}"),
            Finding::WitnessDisagrees { seq } => write!(
                f,
                "checkpoint {seq} differs between the log's directory and the witness"
            ),
            Finding::CheckpointsRemoved { from, to } => write!(
                f,
                "the witness holds checkpoints {from}..={to}, which the log's directory lacks: they were removed"
            ),
            Finding::Truncated { seq, signed, found } => write!(
                f,
                "truncated: checkpoint {seq} signed {signed} records, the log holds {found}"
            ),
            Finding::Rewritten {
                seq,
                n,
                signed,
                found,
            } => write!(
                f,
                "rewritten: checkpoint {seq} signed record n={n} as {signed}, the log's record n={n} hashes to {found}"
            ),
            Finding::FileChanged { seq, file, reason } => {
                write!(
                    f,
                    "file {file} is not as checkpoint {seq} signed it: {reason}"
                )
            }
            Finding::AfterClose { seq, records } => write!(
                f,
                "{records} record(s) follow checkpoint {seq}, which the log signed as it closed (an opening log signs a checkpoint first): they were added"
            ),
        }
    }
}

/// The log or its checkpoints were tampered with.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Tampered {
    /// Where it shows: a checkpoint file, or a log file.
    pub file: PathBuf,
    /// The line, when one line shows it.
    pub line: Option<u64>,
    /// What was found.
    pub finding: Finding,
}

impl fmt::Display for Tampered {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tampered: {}", self.file.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
        }
        write!(f, ": {}", self.finding)
    }
}

/// Why verification did not pass.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VerifyError {
    /// A record does not verify.
    #[error("{0}")]
    Broken(Box<Broken>),
    /// The log disagrees with its signed checkpoints, or they are forged.
    #[error("{0}")]
    Tampered(Box<Tampered>),
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

impl VerifyError {
    /// Whether the log was tampered with (as opposed to unreadable).
    pub fn is_tampering(&self) -> bool {
        matches!(self, VerifyError::Broken(_) | VerifyError::Tampered(_))
    }

    pub(crate) fn tampered(file: impl Into<PathBuf>, line: Option<u64>, finding: Finding) -> Self {
        VerifyError::Tampered(Box::new(Tampered {
            file: file.into(),
            line,
            finding,
        }))
    }
}
