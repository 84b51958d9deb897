//! Signed checkpoints: what a log vouches for, and how a checkpoint line is
//! signed and read back.
//!
//! A checkpoint is one JSON line in `<dir>/<base>.checkpoints.jsonl` (and
//! in each witness), its signature last:
//!
//! ```text
//! {"seq":4,"records":5000,"head":"<hash of record 4999>","at":"2026-…Z","why":"rotation",
//!  "files":[{"file":"audit.000002.jsonl","first":3000,"records":1800,"bytes":612345,
//!  "last":"<hash of record 4799>","closed":true},…],"prev":"<signature of checkpoint 3>",
//!  "key":"<key id>","sig":"<Ed25519 signature of every byte before ,\"sig\">"}
//! ```
//!
//! `records` and `head` pin the chain: a log that holds fewer records was
//! truncated, one whose record `records - 1` hashes otherwise was
//! rewritten. `prev` chains the checkpoints, so one cannot be removed,
//! reordered or replayed without breaking the signature chain; `key` names
//! the key that signed it, so the key can change mid-log.

mod anchor;
mod file;
mod running;

use std::fmt;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::chain::Digest256;
use crate::key::{KeyId, PublicKey, SecretKey};

pub(crate) use anchor::Anchor;
pub(crate) use file::{CheckpointFile, Lines, read_all};
pub(crate) use running::Anchoring;

/// What a signature signs before the line's bytes: a checkpoint signature
/// can never be taken for a signature of anything else made with the key.
const CONTEXT: &[u8] = b"switchboard-audit checkpoint v1\n";
/// What precedes the signature at the end of a line.
const SIG_PREFIX: &[u8] = b",\"sig\":\"";
/// Bytes after the signed content: `,"sig":"` + 128 hex + `"}`.
const SIG_LEN: usize = SIG_PREFIX.len() + 128 + 2;

/// The local checkpoint file of the log `<dir>/<base>.*.jsonl`.
pub fn path(dir: impl AsRef<Path>, base: &str) -> PathBuf {
    dir.as_ref().join(format!("{base}.checkpoints.jsonl"))
}

/// Why a checkpoint was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Why {
    /// The log was opened: it vouches for what it found (after a crash,
    /// what survived).
    Open,
    /// Records have waited for a checkpoint as long as allowed.
    Interval,
    /// As many records as allowed await a checkpoint.
    Records,
    /// A file was finished.
    Rotation,
    /// The log was closed: no record follows until it opens again (which
    /// writes an `open` checkpoint first).
    Close,
}

/// One file of the log as a checkpoint saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct FileMark {
    /// Its name in the log's directory.
    pub file: String,
    /// Its first record's `n`.
    pub first: u64,
    /// Records in it.
    pub records: u64,
    /// Its bytes up to the end of its last record.
    pub bytes: u64,
    /// Its last record's hash.
    pub last: Digest256,
    /// No record will be added to it.
    pub closed: bool,
}

/// A torn write a crash left, moved aside when the log reopened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TornAside {
    /// The file it ended.
    pub file: String,
    /// Where it began in that file.
    pub offset: u64,
    /// Its length.
    pub bytes: u64,
    /// The file it was moved to.
    pub aside: String,
}

/// An Ed25519 signature, shown as 128 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Sig(pub [u8; 64]);

impl fmt::Debug for Sig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sig({}…)", &crate::hex::encode(&self.0[..8]))
    }
}

impl Serialize for Sig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::hex::encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Sig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::hex::decode(s.as_bytes())
            .map(Sig)
            .ok_or_else(|| serde::de::Error::custom("expected 128 lowercase hex digits"))
    }
}

/// What a checkpoint vouches for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Checkpoint {
    /// Its number: 0 for a log's first, then +1.
    pub seq: u64,
    /// Records in the chain (the next record's `n`).
    pub records: u64,
    /// The last record's hash (64 zeros for no record).
    pub head: Digest256,
    /// When it was made.
    pub at: DateTime<Utc>,
    /// Why.
    pub why: Why,
    /// The files written since the checkpoint before (those finished since,
    /// and the current one).
    pub files: Vec<FileMark>,
    /// A torn write moved aside at this (`open`) checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub torn: Option<TornAside>,
    /// The signature of checkpoint `seq - 1` (`null` for the first).
    pub prev: Option<Sig>,
    /// The key that signs it.
    pub key: KeyId,
}

/// A checkpoint line read back, its signature not yet checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// What it says.
    pub checkpoint: Checkpoint,
    /// Its signature.
    pub sig: Sig,
    /// The line, without its newline.
    pub line: Vec<u8>,
}

/// Why a line is not a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LineError {
    /// It does not end with a `"sig"` member of 128 lowercase hex digits.
    Unsigned,
    /// It is signed but is not a checkpoint.
    Unparsable(String),
}

impl std::error::Error for LineError {}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineError::Unsigned => {
                f.write_str("no \"sig\" member of 128 lowercase hex digits at its end")
            }
            LineError::Unparsable(reason) => write!(f, "not a checkpoint: {reason}"),
        }
    }
}

impl Checkpoint {
    /// The line (with its newline) of this checkpoint signed by `key`, and
    /// its signature.
    pub(crate) fn sign(&self, key: &SecretKey) -> (Vec<u8>, Sig) {
        let mut line = serde_json::to_vec(self).unwrap_or_default();
        line.pop(); // the closing brace
        let sig = Sig(key.sign(&message(&line)));
        line.extend_from_slice(SIG_PREFIX);
        crate::hex::encode_into(&sig.0, &mut line);
        line.extend_from_slice(b"\"}\n");
        (line, sig)
    }
}

fn message(content: &[u8]) -> Vec<u8> {
    [CONTEXT, content].concat()
}

impl SignedCheckpoint {
    /// Reads one line (without its newline); checks no signature.
    pub fn parse(line: &[u8]) -> Result<SignedCheckpoint, LineError> {
        let content_len = line.len().checked_sub(SIG_LEN).ok_or(LineError::Unsigned)?;
        let (content, tail) = line.split_at(content_len);
        let sig = tail
            .strip_prefix(SIG_PREFIX)
            .and_then(|rest| rest.strip_suffix(b"\"}"))
            .and_then(crate::hex::decode)
            .map(Sig)
            .ok_or(LineError::Unsigned)?;
        let mut json = content.to_vec();
        json.push(b'}');
        let checkpoint = serde_json::from_slice(&json)
            .map_err(|e: serde_json::Error| LineError::Unparsable(e.to_string()))?;
        Ok(SignedCheckpoint {
            checkpoint,
            sig,
            line: line.to_vec(),
        })
    }

    /// Whether `key` made its signature.
    pub fn signed_by(&self, key: &PublicKey) -> bool {
        let content = &self.line[..self.line.len() - SIG_LEN];
        key.verifies(&message(content), &self.sig.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(key: &SecretKey) -> Checkpoint {
        Checkpoint {
            seq: 3,
            records: 10,
            head: Digest256::of(b"nine"),
            at: DateTime::from_timestamp(1_800_000_000, 0).unwrap(),
            why: Why::Rotation,
            files: vec![FileMark {
                file: "audit.000001.jsonl".into(),
                first: 0,
                records: 10,
                bytes: 3000,
                last: Digest256::of(b"nine"),
                closed: true,
            }],
            torn: None,
            prev: Some(Sig([9; 64])),
            key: key.id(),
        }
    }

    #[test]
    fn a_signed_line_reads_back_and_verifies_under_its_key_only() {
        let key = SecretKey::from_bytes(&[1; 32]);
        let cp = checkpoint(&key);
        let (line, sig) = cp.sign(&key);
        assert_eq!(line.last(), Some(&b'\n'));
        let read = SignedCheckpoint::parse(&line[..line.len() - 1]).unwrap();
        assert_eq!(read.checkpoint, cp);
        assert_eq!(read.sig, sig);
        assert!(read.signed_by(&key.public()));
        assert!(!read.signed_by(&SecretKey::from_bytes(&[2; 32]).public()));
    }

    #[test]
    fn any_edited_byte_breaks_the_signature_or_the_line() {
        let key = SecretKey::from_bytes(&[1; 32]);
        let (line, _) = checkpoint(&key).sign(&key);
        let line = &line[..line.len() - 1];
        for i in 0..line.len() {
            let mut edited = line.to_vec();
            edited[i] ^= 0x01;
            let ok = SignedCheckpoint::parse(&edited).is_ok_and(|c| c.signed_by(&key.public()));
            assert!(!ok, "edit at byte {i} went unnoticed");
        }
    }
}
