//! A signed log against its checkpoints and its witness: every way to cut,
//! rewrite, extend or replay it that the chain alone misses is found
//! (`tamper`), and an intact log passes, across a key rotation, a witness
//! outage and a crash (`running`).

mod running;
mod tamper;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::{Conn, TempDir, WAIT, attached, block_on, files, written_log};
use crate::chain::{Digest256, seal};
use crate::checkpoint::{self, SignedCheckpoint};
use crate::{
    Anchoring, AuditError, AuditLog, Builder, Finding, SecretKey, VerifyError, VerifyOptions, Why,
    verify, verify_with,
};

pub(super) fn key_a() -> SecretKey {
    SecretKey::from_bytes(&[0xa; 32])
}

pub(super) fn key_b() -> SecretKey {
    SecretKey::from_bytes(&[0xb; 32])
}

/// A log directory and a witness directory beside it.
pub(super) struct Signed {
    pub(super) log: TempDir,
    pub(super) witness: TempDir,
}

impl Signed {
    pub(super) fn new(test: &str) -> Self {
        Signed {
            log: TempDir::new(test),
            witness: TempDir::new(&format!("{test}-witness")),
        }
    }

    pub(super) fn builder(&self, key: SecretKey) -> Builder {
        AuditLog::builder(self.log.path())
            .sign_checkpoints(key)
            .witness_dir(self.witness.path())
    }

    pub(super) fn write(&self, statements: i64, key: SecretKey) -> Vec<PathBuf> {
        written_log(&self.log, statements, self.builder(key))
    }

    pub(super) fn files(&self) -> Vec<PathBuf> {
        files(self.log.path())
    }

    pub(super) fn local(&self) -> PathBuf {
        checkpoint::path(self.log.path(), "audit")
    }

    pub(super) fn options(&self, keys: &[&SecretKey]) -> VerifyOptions {
        keys.iter()
            .fold(VerifyOptions::default(), |o, k| o.key(k.public()))
    }

    /// Verifies with the keys, against the log's checkpoints only.
    pub(super) fn alone(&self, keys: &[&SecretKey]) -> Result<crate::VerifyReport, VerifyError> {
        verify_with(&self.files(), self.options(keys))
    }

    /// Verifies with the keys and the witness.
    pub(super) fn witnessed(
        &self,
        keys: &[&SecretKey],
    ) -> Result<crate::VerifyReport, VerifyError> {
        verify_with(
            &self.files(),
            self.options(keys).witness(self.witness.path()),
        )
    }
}

pub(super) fn finding(result: Result<crate::VerifyReport, VerifyError>) -> Finding {
    match result {
        Err(VerifyError::Tampered(t)) => t.finding,
        other => panic!("expected tampering, got {other:?}"),
    }
}

pub(super) fn anchored(report: &crate::VerifyReport) -> &crate::Anchored {
    match &report.anchoring {
        Anchoring::Signed(a) => a,
        Anchoring::Unchecked => panic!("not anchored"),
    }
}

pub(super) fn lines_of(file: &Path) -> Vec<Vec<u8>> {
    std::fs::read(file)
        .unwrap()
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Reseals every line from `from` on, each linked to the one before: what
/// anyone can do, nothing secret going into a hash.
pub(super) fn rechain(lines: &mut [Vec<u8>], from: usize) {
    let mut prev = if from == 0 {
        Digest256::GENESIS
    } else {
        let l = &lines[from - 1];
        Digest256::from_hex(std::str::from_utf8(&l[l.len() - 67..l.len() - 3]).unwrap()).unwrap()
    };
    for line in &mut lines[from..] {
        let text = String::from_utf8(line.clone()).unwrap();
        let body = &text[..text.find(",\"hash\":").unwrap()];
        let at = body.find("\"prev\":\"").unwrap() + 8;
        let mut relinked = format!("{}{prev}{}}}", &body[..at], &body[at + 64..]).into_bytes();
        prev = seal(&mut relinked, 0);
        *line = relinked;
    }
}
