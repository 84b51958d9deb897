//! Cutting, rewriting, extending, forging or replaying a signed log.

use super::*;

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
    std::fs::write(s.local(), &local[0]).unwrap();
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
    let s2 = Signed::new("anchored-cut-checkpoints");
    s2.write(5, key_a());
    let local = lines_of(&s2.local());
    std::fs::write(s2.local(), &local[0]).unwrap();
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
