//! Checking a log against its signed checkpoints: every checkpoint signed by
//! a key given, chained to the one before, the same at the witness as in the
//! log's directory; then the log against them: as long as each says, with
//! the hashes each signed, and nothing after the one it closed with.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::chain::{Pin, Pins, Walk};
use super::report::{Anchored, CheckpointInfo, Finding, VerifyError, WitnessInfo};
use crate::checkpoint::{Lines, SignedCheckpoint, Why, read_all};
use crate::key::{KeyId, PublicKey};

/// One checkpoint file's checkpoints, each signed and chained.
#[derive(Debug, Default)]
struct Source {
    /// (line, checkpoint), in order.
    checkpoints: Vec<(u64, SignedCheckpoint)>,
    torn: u64,
}

/// Reads one checkpoint file; `None` when it does not exist.
pub(super) fn read(path: &Path) -> Result<Option<Lines>, VerifyError> {
    read_all(path).map_err(|source| VerifyError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Checks the lines of one checkpoint file (`path` names it in findings).
fn load(
    path: &Path,
    lines: Lines,
    keys: &[PublicKey],
    partial: bool,
) -> Result<Source, VerifyError> {
    let mut source = Source {
        checkpoints: Vec::new(),
        torn: lines.torn,
    };
    for (line, read) in lines.lines {
        let tampered = |finding| VerifyError::tampered(path, Some(line), finding);
        let signed = read.map_err(|e| {
            tampered(Finding::Unreadable {
                reason: e.to_string(),
            })
        })?;
        let cp = &signed.checkpoint;
        let seq = cp.seq;
        let key = keys
            .iter()
            .find(|k| k.id() == cp.key)
            .ok_or_else(|| tampered(Finding::UnknownKey { seq, key: cp.key }))?;
        if !signed.signed_by(key) {
            return Err(tampered(Finding::BadSignature { seq }));
        }
        let unchained = |reason: String| tampered(Finding::Unchained { seq, reason });
        match source.checkpoints.last() {
            None if !partial && (seq != 0 || cp.prev.is_some()) => {
                return Err(unchained(format!(
                    "the first checkpoint is {seq}, not 0: the ones before it were removed"
                )));
            }
            None => {}
            Some((_, before)) => {
                let before_cp = &before.checkpoint;
                if seq != before_cp.seq + 1 {
                    return Err(unchained(format!(
                        "it follows checkpoint {}: checkpoints were removed, reordered or replayed",
                        before_cp.seq
                    )));
                }
                if cp.prev != Some(before.sig) {
                    return Err(unchained(
                        "its prev is not the signature of the checkpoint before it: checkpoints were replaced or replayed".into(),
                    ));
                }
                if cp.records < before_cp.records {
                    return Err(unchained(format!(
                        "it signs {} records after checkpoint {} signed {}: the log went backwards",
                        cp.records, before_cp.seq, before_cp.records
                    )));
                }
            }
        }
        source.checkpoints.push((line, signed));
    }
    Ok(source)
}

/// The checkpoints of the log's directory and of the witness, checked and
/// merged, and the pins they put on the records.
#[derive(Debug)]
pub(super) struct Checked {
    /// seq → (file, line, checkpoint), from both sources.
    all: BTreeMap<u64, (PathBuf, u64, SignedCheckpoint)>,
    pub(super) pins: Pins,
    /// Checkpoints the witness holds and the log's directory lacks.
    removed: Option<(u64, u64)>,
    witness: Option<(PathBuf, WitnessInfo)>,
    torn: u64,
}

pub(super) fn check(
    local: &Path,
    witness: Option<(PathBuf, Lines)>,
    keys: &[PublicKey],
    partial: bool,
) -> Result<Checked, VerifyError> {
    let mine = match read(local)? {
        Some(lines) => load(local, lines, keys, partial)?,
        None => Source::default(),
    };
    let mut all = BTreeMap::new();
    for (line, cp) in &mine.checkpoints {
        all.insert(cp.checkpoint.seq, (local.to_path_buf(), *line, cp.clone()));
    }
    let local_seqs = mine
        .checkpoints
        .first()
        .zip(mine.checkpoints.last())
        .map(|((_, a), (_, b))| (a.checkpoint.seq, b.checkpoint.seq));
    let mut removed: Option<(u64, u64)> = None;
    let mut witnessed = None;
    if let Some((path, lines)) = witness {
        let path = path.as_path();
        // The witness may start later than the log (it was added later).
        let theirs = load(path, lines, keys, true)?;
        for (line, cp) in &theirs.checkpoints {
            let seq = cp.checkpoint.seq;
            match all.get(&seq) {
                Some((_, _, mine)) if mine.line != cp.line => {
                    return Err(VerifyError::tampered(
                        path,
                        Some(*line),
                        Finding::WitnessDisagrees { seq },
                    ));
                }
                Some(_) => {}
                None => {
                    let (from, to) = removed.unwrap_or((seq, seq));
                    removed = Some((from.min(seq), to.max(seq)));
                    all.insert(seq, (path.to_path_buf(), *line, cp.clone()));
                }
            }
        }
        let held = theirs.checkpoints.len() as u64;
        let newest = theirs.checkpoints.last().map(|(_, c)| c.checkpoint.seq);
        let behind = match (local_seqs, newest) {
            (Some((_, mine)), Some(theirs)) => mine.saturating_sub(theirs),
            (Some((first, last)), None) => last - first + 1,
            (None, _) => 0,
        };
        witnessed = Some((
            path.to_path_buf(),
            WitnessInfo {
                checkpoints: held,
                behind,
            },
        ));
    }
    let mut pins = Pins::default();
    for (file, line, signed) in all.values() {
        let cp = &signed.checkpoint;
        let heads = std::iter::once((cp.records, cp.head))
            .chain(cp.files.iter().map(|f| (f.first + f.records, f.last)));
        for (count, hash) in heads {
            let Some(n) = count.checked_sub(1) else {
                continue;
            };
            let pin = Pin {
                hash,
                seq: cp.seq,
                file: file.clone(),
                line: *line,
            };
            match pins.by_n.get(&n) {
                Some(other) if other.hash != hash => {
                    let reason = format!(
                        "it signs record n={n} as {hash}, checkpoint {} signed it as {}",
                        other.seq, other.hash
                    );
                    return Err(VerifyError::tampered(
                        file,
                        Some(*line),
                        Finding::Unchained {
                            seq: cp.seq,
                            reason,
                        },
                    ));
                }
                Some(_) => {}
                None => drop(pins.by_n.insert(n, pin)),
            }
        }
    }
    // The first record no checkpoint covers (all of them when none does).
    pins.time_of = Some(
        all.values()
            .next_back()
            .map_or(0, |(_, _, c)| c.checkpoint.records),
    );
    Ok(Checked {
        all,
        pins,
        removed,
        witness: witnessed,
        torn: mine.torn,
    })
}

/// The log (walked, its chain intact and the pinned hashes right) against
/// the checkpoints.
pub(super) fn conclude(
    checked: Checked,
    walk: &Walk,
    partial: bool,
) -> Result<Anchored, VerifyError> {
    let total = walk.head.map_or(0, |h| h.next);
    let latest = checked.all.values().next_back();
    if let Some((file, line, signed)) = latest {
        let cp = &signed.checkpoint;
        if cp.records > total {
            let finding = Finding::Truncated {
                seq: cp.seq,
                signed: cp.records,
                found: total,
            };
            return Err(VerifyError::tampered(file, Some(*line), finding));
        }
    }
    if let (Some((from, to)), Some((path, _))) = (checked.removed, &checked.witness) {
        return Err(VerifyError::tampered(
            path,
            None,
            Finding::CheckpointsRemoved { from, to },
        ));
    }
    let first_walked = walk.files.iter().find_map(|f| f.first);
    for (file, line, signed) in checked.all.values() {
        let cp = &signed.checkpoint;
        for mark in &cp.files {
            let changed = |reason: String| {
                VerifyError::tampered(
                    file,
                    Some(*line),
                    Finding::FileChanged {
                        seq: cp.seq,
                        file: mark.file.clone(),
                        reason,
                    },
                )
            };
            let Some(walked) = walk.files.iter().find(|w| w.name == mark.file) else {
                let archived =
                    partial && first_walked.is_some_and(|f| mark.first + mark.records <= f);
                if archived || mark.records == 0 {
                    continue;
                }
                return Err(changed("it is missing".into()));
            };
            if mark.records > 0 && walked.first != Some(mark.first) {
                return Err(changed(format!(
                    "its first record is {:?}, signed as n={}",
                    walked.first, mark.first
                )));
            }
            if walked.records < mark.records {
                return Err(changed(format!(
                    "it holds {} records, {} were signed",
                    walked.records, mark.records
                )));
            }
            if mark.closed && (walked.records != mark.records || walked.bytes != mark.bytes) {
                return Err(changed(format!(
                    "it was signed finished with {} records in {} bytes, it holds {} in {} bytes",
                    mark.records, mark.bytes, walked.records, walked.bytes
                )));
            }
        }
    }
    let latest_cp = latest.map(|(_, _, s)| &s.checkpoint);
    if let Some((file, line, signed)) = latest
        && signed.checkpoint.why == Why::Close
        && total > signed.checkpoint.records
    {
        let finding = Finding::AfterClose {
            seq: signed.checkpoint.seq,
            records: total - signed.checkpoint.records,
        };
        return Err(VerifyError::tampered(file, Some(*line), finding));
    }
    let mut keys: Vec<KeyId> = checked
        .all
        .values()
        .map(|(_, _, c)| c.checkpoint.key)
        .collect();
    keys.sort();
    keys.dedup();
    let unanchored = total.saturating_sub(latest_cp.map_or(0, |c| c.records));
    Ok(Anchored {
        checkpoints: checked.all.len() as u64,
        latest: latest_cp.map(|c| CheckpointInfo {
            seq: c.seq,
            records: c.records,
            at: c.at,
            key: c.key,
        }),
        unanchored,
        oldest_unanchored: if unanchored > 0 { walk.time } else { None },
        keys,
        witness: checked.witness.map(|(_, w)| w),
        moved_aside: checked
            .all
            .values()
            .filter_map(|(_, _, c)| c.checkpoint.torn.clone())
            .collect(),
        torn_checkpoint: checked.torn,
    })
}
