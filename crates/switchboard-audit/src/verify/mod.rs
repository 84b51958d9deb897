//! Checking a log: every record sealed, numbered in order and linked to the
//! one before it, across files (`chain`); and, given the public keys, the
//! log against its signed checkpoints and a witness's copy of them
//! (`anchored`).
//!
//! Without a key only the chain is checked, which cannot tell a log whose
//! newest records were removed, or that was rewritten and re-chained whole,
//! from an intact one; the report says so ([`Anchoring::Unchecked`]).

mod anchored;
mod chain;
mod report;

use std::path::{Path, PathBuf};

pub use report::{
    Anchored, Anchoring, Broken, CheckpointInfo, Finding, Problem, Tampered, TornTail, VerifyError,
    VerifyReport, WitnessInfo,
};

use crate::chain::Head;
use crate::key::PublicKey;

/// How to verify.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct VerifyOptions {
    /// Accept a chain that does not start at record 0 (older files were
    /// archived or removed). By default the first record must be the
    /// chain's genesis, so deleting the first records is caught too.
    pub partial: bool,
    /// The public keys checkpoints may be signed with (several across a
    /// key rotation). None: the chain alone is checked.
    pub keys: Vec<PublicKey>,
    /// The log's base name, which names its checkpoint files. Default
    /// `"audit"`.
    pub base: String,
    /// The log's checkpoint file. Default `<base>.checkpoints.jsonl` beside
    /// the first log file.
    pub checkpoints: Option<PathBuf>,
    /// A witness directory holding `<base>.checkpoints.jsonl`.
    pub witness: Option<PathBuf>,
    /// A witness's checkpoint lines read elsewhere (a NATS witness's
    /// `read`), with a name for findings; instead of [`witness`](Self::witness).
    pub witness_lines: Option<(String, Vec<Vec<u8>>)>,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            partial: false,
            keys: Vec::new(),
            base: "audit".into(),
            checkpoints: None,
            witness: None,
            witness_lines: None,
        }
    }
}

impl VerifyOptions {
    /// Whether a chain may start after record 0 (see [`partial`](Self::partial)).
    #[must_use]
    pub fn allow_partial(mut self, yes: bool) -> Self {
        self.partial = yes;
        self
    }

    /// Checks checkpoints against `key` too.
    #[must_use]
    pub fn key(mut self, key: PublicKey) -> Self {
        self.keys.push(key);
        self
    }

    /// The log's base name (default `"audit"`).
    #[must_use]
    pub fn base(mut self, base: impl Into<String>) -> Self {
        self.base = base.into();
        self
    }

    /// Reads the log's checkpoints from `file`.
    #[must_use]
    pub fn checkpoints(mut self, file: impl Into<PathBuf>) -> Self {
        self.checkpoints = Some(file.into());
        self
    }

    /// Compares with the witness directory `dir`.
    #[must_use]
    pub fn witness(mut self, dir: impl Into<PathBuf>) -> Self {
        self.witness = Some(dir.into());
        self
    }

    /// Compares with checkpoint `lines` (each without its newline) a
    /// witness holds, `name` saying which in findings.
    #[must_use]
    pub fn witness_lines(mut self, name: impl Into<String>, lines: Vec<Vec<u8>>) -> Self {
        self.witness_lines = Some((name.into(), lines));
        self
    }
}

/// Verifies a chain spread over `paths`, in chain order (the log's own file
/// names sort in chain order), from its genesis record. The chain only:
/// see [`verify_with`] to check signed checkpoints too.
pub fn verify<P: AsRef<Path>>(paths: &[P]) -> Result<VerifyReport, VerifyError> {
    verify_with(paths, VerifyOptions::default())
}

/// [`verify`] with options: with keys, the log is also checked against its
/// signed checkpoints (and the witness's copy, when given).
pub fn verify_with<P: AsRef<Path>>(
    paths: &[P],
    options: VerifyOptions,
) -> Result<VerifyReport, VerifyError> {
    let first = paths.first().ok_or(VerifyError::NoFiles)?.as_ref();
    if options.keys.is_empty() {
        let walk = chain::walk(paths, options.partial, &chain::Pins::default())?;
        return Ok(report(paths.len(), walk, report::Anchoring::Unchecked));
    }
    let local = options.checkpoints.clone().unwrap_or_else(|| {
        crate::checkpoint::path(first.parent().unwrap_or(Path::new(".")), &options.base)
    });
    let witness = match &options.witness {
        Some(dir) if !dir.is_dir() => {
            return Err(VerifyError::Io {
                path: dir.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "the witness is not a directory",
                ),
            });
        }
        Some(dir) => {
            let path = crate::checkpoint::path(dir, &options.base);
            let lines = anchored::read(&path)?.unwrap_or_default();
            Some((path, lines))
        }
        None => options.witness_lines.as_ref().map(|(name, lines)| {
            (
                PathBuf::from(name),
                crate::checkpoint::Lines::from_memory(lines),
            )
        }),
    };
    let checked = anchored::check(&local, witness, &options.keys, options.partial)?;
    let walk = chain::walk(paths, options.partial, &checked.pins)?;
    let anchored = anchored::conclude(checked, &walk, options.partial)?;
    Ok(report(
        paths.len(),
        walk,
        report::Anchoring::Signed(Box::new(anchored)),
    ))
}

fn report(files: usize, walk: chain::Walk, anchoring: Anchoring) -> VerifyReport {
    VerifyReport {
        records: walk.records,
        files,
        head: walk.head.unwrap_or(Head::GENESIS),
        torn: walk.torn,
        anchoring,
    }
}
