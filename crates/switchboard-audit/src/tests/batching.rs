//! Batched durability with nobody asking: records reach the disk once
//! `every` has passed or `records` are waiting, even when no event follows
//! them and nobody flushes.

use std::time::{Duration, Instant};

use super::{Conn, TempDir, WAIT, attached, block_on, records};
use crate::{AuditLog, Durability};

/// Polls until `done`, for at most `within`.
async fn eventually(within: Duration, done: impl Fn() -> bool) -> bool {
    let until = Instant::now() + within;
    while !done() {
        if Instant::now() > until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    true
}

#[test]
fn the_last_records_are_synced_once_their_wait_is_over() {
    let dir = TempDir::new("batch-wait");
    block_on(async {
        let every = Duration::from_millis(30);
        let builder = AuditLog::builder(dir.path()).durability_all(Durability::Batched {
            every,
            records: 1000,
        });
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        let started = Instant::now();
        conn.write(1).await.unwrap();
        assert!(eventually(WAIT, || log.stats().fsyncs >= 1).await);
        assert!(started.elapsed() >= every);
        assert_eq!(records(dir.path()).len(), 2);
        log.close(WAIT).await.unwrap();
    });
}

#[test]
fn a_full_batch_is_synced_without_waiting() {
    let dir = TempDir::new("batch-full");
    block_on(async {
        let builder = AuditLog::builder(dir.path()).durability_all(Durability::Batched {
            every: Duration::from_secs(3600),
            records: 10,
        });
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        for i in 0..5 {
            conn.write(i).await.unwrap();
        }
        assert!(eventually(WAIT, || log.stats().fsyncs >= 1).await);
        assert_eq!(records(dir.path()).len(), 10);
        log.close(WAIT).await.unwrap();
    });
}
