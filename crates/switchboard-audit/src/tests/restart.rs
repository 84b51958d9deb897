//! A log opened over existing files continues their chain: after a clean
//! close in the same file, after a torn tail in a new one; rotation keeps
//! the chain too.

use std::io::Write;

use super::{TempDir, files, records, written_log};
use crate::{AuditError, AuditLog, VerifyError, verify};

#[test]
fn reopening_continues_the_chain_in_the_same_file() {
    let dir = TempDir::new("reopen");
    written_log(&dir, 3, AuditLog::builder(dir.path()));
    let files = written_log(&dir, 2, AuditLog::builder(dir.path()));
    assert_eq!(files.len(), 1);
    let report = verify(&files).unwrap();
    assert_eq!(report.records, 10);
    let ns: Vec<u64> = records(dir.path()).iter().map(|r| r.n).collect();
    assert_eq!(ns, (0..10).collect::<Vec<_>>());
}

#[test]
fn after_a_torn_tail_the_torn_bytes_are_moved_aside_and_the_chain_continues() {
    let dir = TempDir::new("torn-restart");
    let first = written_log(&dir, 3, AuditLog::builder(dir.path()));
    let clean = std::fs::read(&first[0]).unwrap();
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&first[0])
        .unwrap();
    f.write_all(b"{\"n\":6,\"prev\":\"0123").unwrap();
    drop(f);
    let files = written_log(&dir, 2, AuditLog::builder(dir.path()));
    assert_eq!(files.len(), 1, "{files:?}");
    let report = verify(&files).unwrap();
    assert_eq!(report.records, 10);
    assert!(report.torn.is_empty(), "no torn bytes stay in the log");
    assert!(std::fs::read(&files[0]).unwrap().starts_with(&clean));
    // The torn bytes are kept, beside the log.
    let aside = dir
        .path()
        .join(format!("audit.000001.{}.torn", clean.len()));
    assert_eq!(std::fs::read(aside).unwrap(), b"{\"n\":6,\"prev\":\"0123");
}

#[test]
fn a_complete_record_without_its_newline_stops_the_log_from_opening() {
    let dir = TempDir::new("unterminated");
    let files = written_log(&dir, 2, AuditLog::builder(dir.path()));
    let mut bytes = std::fs::read(&files[0]).unwrap();
    bytes.pop();
    std::fs::write(&files[0], &bytes).unwrap();
    let err = AuditLog::builder(dir.path()).open().unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { .. }), "{err}");
    assert!(err.to_string().contains("without its newline"), "{err}");
    assert_eq!(
        std::fs::read(&files[0]).unwrap(),
        bytes,
        "nothing was moved"
    );
}

#[test]
fn a_damaged_last_record_stops_the_log_from_opening() {
    let dir = TempDir::new("damaged");
    let files = written_log(&dir, 2, AuditLog::builder(dir.path()));
    let mut bytes = std::fs::read(&files[0]).unwrap();
    let at = bytes.len() - 80;
    bytes[at] ^= 0x20;
    std::fs::write(&files[0], bytes).unwrap();
    let err = AuditLog::builder(dir.path()).open().unwrap_err();
    assert!(matches!(err, AuditError::Corrupt { line: 4, .. }), "{err}");
    assert!(
        err.to_string().contains("switchboard audit verify"),
        "{err}"
    );
}

#[test]
fn rotation_by_size_keeps_one_chain_across_files() {
    let dir = TempDir::new("rotate");
    let files = written_log(
        &dir,
        40,
        AuditLog::builder(dir.path()).rotate_at_size(2_000),
    );
    assert!(files.len() > 5, "{} files", files.len());
    for f in &files[..files.len() - 1] {
        let len = std::fs::metadata(f).unwrap().len();
        assert!(
            (2_000..3_000).contains(&len),
            "{} is {len} bytes",
            f.display()
        );
    }
    assert_eq!(verify(&files).unwrap().records, 80);

    // Dropping a middle file, or passing files out of order, is caught at
    // the file boundary.
    let mut without = files.clone();
    without.remove(2);
    let Err(VerifyError::Broken(b)) = verify(&without) else {
        panic!("a missing file went unnoticed")
    };
    assert_eq!((b.file.clone(), b.line), (files[3].clone(), 1));
    let mut swapped = files.clone();
    swapped.swap(1, 2);
    assert!(verify(&swapped).is_err());
}

#[test]
fn rotation_by_age_starts_new_files() {
    let dir = TempDir::new("rotate-age");
    let builder = AuditLog::builder(dir.path()).rotate_every(std::time::Duration::from_millis(30));
    super::block_on(async {
        let (log, bus) = super::attached(builder);
        let conn = super::Conn::new(&bus, 1);
        for i in 0..3 {
            conn.write(i).await.unwrap();
            log.flush(super::WAIT).await.unwrap();
            tokio::time::sleep(std::time::Duration::from_millis(40)).await;
        }
        log.close(super::WAIT).await.unwrap();
    });
    let files = files(dir.path());
    assert_eq!(files.len(), 3);
    assert_eq!(verify(&files).unwrap().records, 6);
}
