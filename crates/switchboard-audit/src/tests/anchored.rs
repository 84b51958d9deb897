//! A signed log against its checkpoints and its witness: every way to cut,
//! rewrite, extend or replay it that the chain alone misses is found, and
//! an intact log passes, across a key rotation, a witness outage and a
//! crash.

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

fn key_a() -> SecretKey {
    SecretKey::from_bytes(&[0xa; 32])
}

fn key_b() -> SecretKey {
    SecretKey::from_bytes(&[0xb; 32])
}

/// A log directory and a witness directory beside it.
struct Signed {
    log: TempDir,
    witness: TempDir,
}

impl Signed {
    fn new(test: &str) -> Self {
        Signed {
            log: TempDir::new(test),
            witness: TempDir::new(&format!("{test}-witness")),
        }
    }

    fn builder(&self, key: SecretKey) -> Builder {
        AuditLog::builder(self.log.path())
            .sign_checkpoints(key)
            .witness_dir(self.witness.path())
    }

    fn write(&self, statements: i64, key: SecretKey) -> Vec<PathBuf> {
        written_log(&self.log, statements, self.builder(key))
    }

    fn files(&self) -> Vec<PathBuf> {
        files(self.log.path())
    }

    fn local(&self) -> PathBuf {
        checkpoint::path(self.log.path(), "audit")
    }

    fn options(&self, keys: &[&SecretKey]) -> VerifyOptions {
        keys.iter()
            .fold(VerifyOptions::default(), |o, k| o.key(k.public()))
    }

    /// Verifies with the keys, against the log's checkpoints only.
    fn alone(&self, keys: &[&SecretKey]) -> Result<crate::VerifyReport, VerifyError> {
        verify_with(&self.files(), self.options(keys))
    }

    /// Verifies with the keys and the witness.
    fn witnessed(&self, keys: &[&SecretKey]) -> Result<crate::VerifyReport, VerifyError> {
        verify_with(
            &self.files(),
            self.options(keys).witness(self.witness.path()),
        )
    }
}

fn finding(result: Result<crate::VerifyReport, VerifyError>) -> Finding {
    match result {
        Err(VerifyError::Tampered(t)) => t.finding,
        other => panic!("expected tampering, got {other:?}"),
    }
}

fn anchored(report: &crate::VerifyReport) -> &crate::Anchored {
    match &report.anchoring {
        Anchoring::Signed(a) => a,
        Anchoring::Unchecked => panic!("not anchored"),
    }
}

fn lines_of(file: &Path) -> Vec<Vec<u8>> {
    std::fs::read(file)
        .unwrap()
        .split_inclusive(|b| *b == b'\n')
        .map(<[u8]>::to_vec)
        .collect()
}

/// Reseals every line from `from` on, each linked to the one before: what
/// anyone can do, nothing secret going into a hash.
fn rechain(lines: &mut [Vec<u8>], from: usize) {
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

#[test]
fn an_intact_signed_log_is_anchored_up_to_its_close() {
    let s = Signed::new("anchored-intact");
    s.write(30, key_a());
    let report = s.witnessed(&[&key_a()]).unwrap();
    let a = anchored(&report);
    assert_eq!(report.records, 60);
    assert_eq!(a.unanchored, 0);
    assert_eq!(a.latest.as_ref().unwrap().records, 60);
    assert_eq!(a.keys, [key_a().id()]);
    let w = a.witness.as_ref().unwrap();
    assert_eq!((w.checkpoints, w.behind), (a.checkpoints, 0));
    let text = report.to_string();
    assert!(text.starts_with("ok: 60 records"), "{text}");
    assert!(text.contains("anchored: "), "{text}");
    // No key: the chain only, and said so.
    let chain_only = verify(&s.files()).unwrap().to_string();
    assert!(
        chain_only.contains("unanchored: no key given"),
        "{chain_only}"
    );
    // The secret never reaches the log's directory or the witness.
    let secret = crate::hex::encode(&[0xa; 32]);
    for dir in [s.log.path(), s.witness.path()] {
        for entry in std::fs::read_dir(dir).unwrap() {
            let text = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            assert!(!text.contains(&secret));
        }
    }
}

#[test]
fn removing_the_last_records_is_truncation() {
    let s = Signed::new("anchored-cut-records");
    let files = s.write(10, key_a());
    let mut lines = lines_of(&files[0]);
    lines.truncate(lines.len() - 2);
    std::fs::write(&files[0], lines.concat()).unwrap();
    verify(&files).expect("the chain alone misses it");
    let found = finding(s.alone(&[&key_a()]));
    assert!(
        matches!(
            found,
            Finding::Truncated {
                signed: 20,
                found: 18,
                ..
            }
        ),
        "{found:?}"
    );
}

#[test]
fn removing_the_last_file_is_truncation() {
    let s = Signed::new("anchored-cut-file");
    let files = written_log(&s.log, 20, s.builder(key_a()).rotate_at_size(2_000));
    assert!(files.len() > 2);
    std::fs::remove_file(files.last().unwrap()).unwrap();
    verify(&s.files()).expect("the chain alone misses it");
    assert!(matches!(
        finding(s.alone(&[&key_a()])),
        Finding::Truncated { .. }
    ));
}

#[test]
fn an_edit_with_the_chain_recomputed_is_a_rewrite() {
    let s = Signed::new("anchored-rechain");
    let files = s.write(10, key_a());
    let mut lines = lines_of(&files[0]);
    let edited = String::from_utf8(lines[5].clone())
        .unwrap()
        .replace("\"rows\":1", "\"rows\":0");
    lines[5] = edited.into_bytes();
    rechain(&mut lines, 5);
    std::fs::write(&files[0], lines.concat()).unwrap();
    verify(&files).expect("the chain alone misses it");
    let found = finding(s.alone(&[&key_a()]));
    assert!(
        matches!(found, Finding::Rewritten { n: 19, .. }),
        "{found:?}"
    );
}

#[test]
fn a_correctly_chained_record_appended_after_the_close_is_found() {
    let s = Signed::new("anchored-append");
    let files = s.write(3, key_a());
    let mut lines = lines_of(&files[0]);
    let last = String::from_utf8(lines[5].clone()).unwrap();
    let forged = last.replacen("\"n\":5,", "\"n\":6,", 1).into_bytes();
    lines.push(forged);
    rechain(&mut lines, 6);
    std::fs::write(&files[0], lines.concat()).unwrap();
    assert_eq!(
        verify(&files).unwrap().records,
        7,
        "the chain alone misses it"
    );
    let found = finding(s.alone(&[&key_a()]));
    assert!(
        matches!(found, Finding::AfterClose { records: 1, .. }),
        "{found:?}"
    );
}

#[test]
fn removing_the_last_checkpoints_with_the_records_is_seen_by_the_witness() {
    let s = Signed::new("anchored-cut-both");
    let files = s.write(5, key_a());
    // Back to what the opening checkpoint signed: no record.
    let local = lines_of(&s.local());
    assert!(local.len() >= 2);
    std::fs::write(&s.local(), &local[0]).unwrap();
    std::fs::write(&files[0], b"").unwrap();
    let report = s
        .alone(&[&key_a()])
        .expect("consistent without the witness");
    assert_eq!(report.records, 0);
    let found = finding(s.witnessed(&[&key_a()]));
    assert!(
        matches!(
            found,
            Finding::Truncated {
                signed: 10,
                found: 0,
                ..
            }
        ),
        "{found:?}"
    );
    // Only the checkpoints removed, the records kept: still seen.
    std::fs::write(&s.local(), &local[0]).unwrap();
    let s2 = Signed::new("anchored-cut-checkpoints");
    s2.write(5, key_a());
    let local = lines_of(&s2.local());
    std::fs::write(&s2.local(), &local[0]).unwrap();
    let found = finding(s2.witnessed(&[&key_a()]));
    assert!(
        matches!(found, Finding::CheckpointsRemoved { from: 1, .. }),
        "{found:?}"
    );
}

#[test]
fn a_log_and_checkpoints_rewritten_without_the_key_do_not_verify() {
    let s = Signed::new("anchored-forged");
    let files = s.write(5, key_a());
    let mut lines = lines_of(&files[0]);
    lines[2] = String::from_utf8(lines[2].clone())
        .unwrap()
        .replace("VALUES (1)", "VALUES (7)")
        .into_bytes();
    rechain(&mut lines, 2);
    std::fs::write(&files[0], lines.concat()).unwrap();
    let head = crate::verify(&files).unwrap().head;
    // Every checkpoint re-signed over the new chain, with a key of one's own.
    let forger = SecretKey::from_bytes(&[0xf; 32]);
    let forge = |sign_with: &SecretKey, claim: crate::KeyId| {
        let mut out = Vec::new();
        let mut prev = None;
        for line in lines_of(&s.local()) {
            let mut cp = SignedCheckpoint::parse(&line[..line.len() - 1])
                .unwrap()
                .checkpoint;
            if cp.records == head.next {
                cp.head = head.prev;
            }
            cp.files.clear();
            cp.prev = prev;
            cp.key = claim;
            let (signed, sig) = cp.sign(sign_with);
            prev = Some(sig);
            out.extend(signed);
        }
        out
    };
    let original = std::fs::read(s.local()).unwrap();
    std::fs::write(s.local(), forge(&forger, forger.id())).unwrap();
    let found = finding(s.alone(&[&key_a()]));
    assert!(
        matches!(found, Finding::UnknownKey { seq: 0, .. }),
        "{found:?}"
    );
    std::fs::write(s.local(), forge(&forger, key_a().id())).unwrap();
    let found = finding(s.alone(&[&key_a()]));
    assert!(
        matches!(found, Finding::BadSignature { seq: 0 }),
        "{found:?}"
    );
    // The untouched checkpoints catch the rewrite itself.
    std::fs::write(s.local(), original).unwrap();
    assert!(matches!(
        finding(s.alone(&[&key_a()])),
        Finding::Rewritten { .. }
    ));
}

#[test]
fn a_replayed_checkpoint_or_an_older_checkpoint_set_is_found() {
    let s = Signed::new("anchored-replay");
    s.write(3, key_a());
    // An older checkpoint put back at the end: the chain goes backwards.
    let local = lines_of(&s.local());
    let mut replayed = local.clone();
    replayed.push(local[0].clone());
    std::fs::write(s.local(), replayed.concat()).unwrap();
    assert!(matches!(
        finding(s.alone(&[&key_a()])),
        Finding::Unchained { .. }
    ));
    std::fs::write(s.local(), local.concat()).unwrap();

    // The whole directory put back as it was before later records: alone
    // it is consistent, the witness holds the later checkpoints.
    let snapshot: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(s.log.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.clone(), std::fs::read(p).unwrap()))
        .collect();
    written_log(&s.log, 4, s.builder(key_a()));
    s.witnessed(&[&key_a()]).unwrap();
    for (path, bytes) in snapshot {
        std::fs::write(path, bytes).unwrap();
    }
    s.alone(&[&key_a()])
        .expect("consistent without the witness");
    let found = finding(s.witnessed(&[&key_a()]));
    assert!(matches!(found, Finding::Truncated { .. }), "{found:?}");
}

#[test]
fn a_key_rotated_mid_log_verifies_with_both_keys() {
    let s = Signed::new("anchored-rotation");
    s.write(3, key_a());
    s.write(3, key_b());
    let report = s.witnessed(&[&key_a(), &key_b()]).unwrap();
    let mut both = vec![key_a().id(), key_b().id()];
    both.sort();
    assert_eq!(anchored(&report).keys, both);
    assert_eq!(report.records, 12);
    let found = finding(s.alone(&[&key_b()]));
    assert!(
        matches!(found, Finding::UnknownKey { seq: 0, .. }),
        "{found:?}"
    );
}

#[test]
fn a_witness_down_for_a_while_is_caught_up() {
    let s = Signed::new("anchored-witness-down");
    let down = s.witness.path().join("mount");
    let builder = AuditLog::builder(s.log.path())
        .sign_checkpoints(key_a())
        .checkpoint_every(Duration::from_millis(20), 1_000)
        .witness_dir(&down);
    block_on(async {
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        for i in 0..3 {
            conn.write(i).await.unwrap();
        }
        log.flush(WAIT).await.unwrap();
        let deadline = Instant::now() + WAIT;
        while log.stats().witness_errors == 0 || log.stats().checkpoints < 2 {
            assert!(Instant::now() < deadline, "{:?}", log.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(log.stats().witness_behind >= 2, "{:?}", log.stats());
        // The mount is back.
        std::fs::create_dir(&down).unwrap();
        conn.write(3).await.unwrap();
        log.flush(WAIT).await.unwrap();
        while log.stats().witness_behind > 0 {
            assert!(Instant::now() < deadline, "{:?}", log.stats());
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        log.close(WAIT).await.unwrap();
    });
    let report = verify_with(
        &s.files(),
        VerifyOptions::default()
            .key(key_a().public())
            .witness(&down),
    )
    .unwrap();
    let a = anchored(&report);
    assert_eq!(a.witness.as_ref().unwrap().behind, 0, "{report}");
    assert_eq!(a.unanchored, 0);
}

#[test]
fn records_wait_for_a_checkpoint_at_most_the_interval() {
    let s = Signed::new("anchored-interval");
    let builder = s
        .builder(key_a())
        .checkpoint_every(Duration::from_millis(30), 1_000_000);
    block_on(async {
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        for i in 0..5 {
            conn.write(i).await.unwrap();
        }
        log.flush(WAIT).await.unwrap();
        let deadline = Instant::now() + WAIT;
        loop {
            let a = s.alone(&[&key_a()]).unwrap();
            if anchored(&a).unanchored == 0 {
                assert_eq!(a.records, 10);
                break;
            }
            assert!(Instant::now() < deadline, "never anchored: {a}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        log.close(WAIT).await.unwrap();
    });
}

#[test]
fn after_a_crash_the_reopened_log_anchors_what_survived() {
    let s = Signed::new("anchored-crash");
    let files = s.write(3, key_a());
    // What a crash mid-write leaves: a torn record, and no close checkpoint
    // (here or at the witness).
    let witness = checkpoint::path(s.witness.path(), "audit");
    for file in [s.local(), witness] {
        let lines = lines_of(&file);
        std::fs::write(&file, lines[..lines.len() - 1].concat()).unwrap();
    }
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&files[0])
        .unwrap();
    f.write_all(b"{\"n\":6,\"prev\":\"ab").unwrap();
    drop(f);
    let report = s.alone(&[&key_a()]).unwrap();
    assert_eq!(report.torn.len(), 1);
    s.write(1, key_a());
    let report = s.witnessed(&[&key_a()]).unwrap();
    let a = anchored(&report);
    assert!(report.torn.is_empty());
    assert_eq!((report.records, a.unanchored), (8, 0));
    assert_eq!(a.moved_aside.len(), 1, "{report}");
    assert!(
        report.to_string().contains("moved aside: 17 torn bytes"),
        "{report}"
    );
}

#[test]
fn a_signed_log_cut_short_refuses_to_open_and_needs_its_key() {
    let s = Signed::new("anchored-open");
    let files = s.write(3, key_a());
    let lines = lines_of(&files[0]);
    std::fs::write(&files[0], lines[..4].concat()).unwrap();
    let err = s.builder(key_a()).open().unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("truncated or rewritten"), "{err}");
    std::fs::write(&files[0], lines.concat()).unwrap();
    let err = AuditLog::builder(s.log.path()).open().unwrap_err();
    assert!(
        err.to_string().contains("no signing key was given"),
        "{err}"
    );
    let inside = AuditLog::builder(s.log.path())
        .sign_checkpoints(key_a())
        .witness_dir(s.log.path().join("w"));
    std::fs::create_dir(s.log.path().join("w")).unwrap();
    assert!(matches!(inside.open(), Err(AuditError::Config(_))));
}

#[test]
fn checkpoints_name_why_they_were_written() {
    let s = Signed::new("anchored-why");
    written_log(&s.log, 20, s.builder(key_a()).rotate_at_size(2_000));
    let whys: Vec<Why> = lines_of(&s.local())
        .iter()
        .map(|l| {
            SignedCheckpoint::parse(&l[..l.len() - 1])
                .unwrap()
                .checkpoint
                .why
        })
        .collect();
    assert_eq!(whys.first(), Some(&Why::Open));
    assert_eq!(whys.last(), Some(&Why::Close));
    assert!(whys.contains(&Why::Rotation), "{whys:?}");
    assert_eq!(
        lines_of(&s.local()),
        lines_of(&checkpoint::path(s.witness.path(), "audit"))
    );
}
