//! A log that cannot write: strict statements are refused, batched ones
//! fail with the backpressure deadline, nothing written is lost, and the
//! log writes again once it can.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchboard_core::{Error, ErrorKind, Kind};

use super::{Conn, TempDir, WAIT, attached, block_on, files, records};
use crate::{AuditLog, Builder, Durability, Outcome, verify};

/// Makes `dir` unusable for new files: moves it aside and puts a regular
/// file in its place. Returns where it went.
fn break_dir(dir: &Path) -> PathBuf {
    let aside = dir.with_extension("aside");
    std::fs::rename(dir, &aside).unwrap();
    std::fs::write(dir, b"not a directory").unwrap();
    aside
}

fn mend_dir(dir: &Path, aside: &Path) {
    std::fs::remove_file(dir).unwrap();
    std::fs::rename(aside, dir).unwrap();
}

/// Every record starts a new file, so the next record needs a new file.
fn rotating(dir: &TempDir) -> Builder {
    AuditLog::builder(dir.path())
        .rotate_at_size(1)
        .retry_every(Duration::from_millis(10))
}

#[test]
fn strict_statements_are_refused_while_no_file_can_be_written() {
    let dir = TempDir::new("strict-fail");
    let mut aside = None;
    let attempted = block_on(async {
        let (log, bus) = attached(rotating(&dir).durability_all(Durability::Strict));
        let conn = Conn::new(&bus, 1);
        conn.write(1).await.unwrap();
        conn.write(2).await.unwrap();
        log.flush(WAIT).await.unwrap();

        aside = Some(break_dir(dir.path()));
        let err = conn.write(3).await.unwrap_err();
        assert!(matches!(err, Error::NotDurable { .. }), "{err}");
        assert!(err.to_string().contains("could not create"), "{err}");
        let err = conn.write(4).await.unwrap_err();
        assert!(matches!(err, Error::NotDurable { .. }), "{err}");
        let stats = log.stats();
        assert!(stats.errors >= 1);
        assert!(stats.failing.is_some());
        assert!(matches!(
            log.flush(WAIT).await,
            Err(crate::AuditError::Unwritable(_))
        ));

        mend_dir(dir.path(), aside.as_ref().unwrap());
        let mut tries = 0;
        while conn.write(5).await.is_err() {
            tries += 1;
            assert!(tries < 500, "the log never wrote again");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(log.stats().failing.is_none());
        log.close(WAIT).await.unwrap();
        5 + tries
    });
    let files = files(dir.path());
    let report = verify(&files).unwrap();
    let recs = records(dir.path());
    assert_eq!(report.records, recs.len() as u64);
    let outcomes: Vec<_> = recs.iter().filter_map(|r| r.outcome).collect();
    assert_eq!(outcomes.len(), attempted, "one outcome per statement");
    let refused = recs
        .iter()
        .filter(|r| r.kind == Kind::ExecuteFailed)
        .filter(|r| r.error.as_ref().unwrap().kind == ErrorKind::NotDurable)
        .count();
    assert_eq!(refused, attempted - 3);
    assert_eq!(
        outcomes.iter().filter(|o| **o == Outcome::Executed).count(),
        3
    );
}

#[test]
fn batched_statements_fail_with_backpressure_while_no_file_can_be_written() {
    let dir = TempDir::new("batched-fail");
    let mut statements = 0;
    block_on(async {
        let builder = rotating(&dir).queue(4, Duration::from_millis(50));
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        conn.write(0).await.unwrap();
        statements += 1;
        log.flush(WAIT).await.unwrap();

        let aside = break_dir(dir.path());
        let err = loop {
            statements += 1;
            match conn.write(statements).await {
                Ok(_) => assert!(statements < 100, "never pushed back"),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, Error::Backpressure { .. }), "{err}");

        mend_dir(dir.path(), &aside);
        statements += 1;
        while conn.write(statements).await.is_err() {
            statements += 1;
            assert!(statements < 1000, "the log never wrote again");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        log.close(WAIT).await.unwrap();
    });
    let recs = records(dir.path());
    assert_eq!(
        verify(&files(dir.path())).unwrap().records,
        recs.len() as u64
    );
    let outcomes = recs.iter().filter(|r| r.outcome.is_some()).count();
    assert_eq!(outcomes as i64, statements, "one outcome per statement");
}
