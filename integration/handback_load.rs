//! Clean hand-back under load: 32 callers mix leases that leave their
//! transaction open, leases that commit, and pipelined autocommit reads
//! and writes, 10,000 statements in all. Afterwards, from a connection of
//! the test's own: every committed write is there, no abandoned one is,
//! and no statement ran inside another caller's transaction (each row
//! records the transaction it ran in).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use diesel::QueryableByName;
use diesel::sql_types::BigInt;
use diesel_async::{AsyncConnection, RunQueryDsl};
use parking_lot::Mutex;
use switchboard::{Execute, Load, Switchboard};

use crate::support::{Db, Target};

const CALLERS: u64 = 32;
const STATEMENTS: u64 = 10_000;

#[derive(QueryableByName)]
struct Txid {
    #[diesel(sql_type = BigInt)]
    txid: i64,
}

#[derive(QueryableByName)]
struct Row {
    #[diesel(sql_type = BigInt)]
    k: i64,
    #[diesel(sql_type = BigInt)]
    txid: i64,
}

/// What the callers did, to check against the database afterwards.
#[derive(Default)]
struct Ledger {
    /// Keys of writes whose statement (or transaction) committed.
    committed: Mutex<HashSet<i64>>,
    /// Transactions left open by leases dropped without a COMMIT.
    abandoned: Mutex<HashSet<i64>>,
    statements: AtomicU64,
    next_key: AtomicU64,
}

impl Ledger {
    fn key(&self) -> i64 {
        self.next_key.fetch_add(1, Ordering::Relaxed) as i64
    }

    fn ran(&self, n: u64) -> bool {
        self.statements.fetch_add(n, Ordering::Relaxed) < STATEMENTS
    }
}

fn insert(t: &Target, k: i64) -> Execute {
    Execute::sql(format!(
        "INSERT INTO {} (k, txid) VALUES ($1, txid_current())",
        t.table
    ))
    .bind::<BigInt, _>(k)
}

async fn txid(lease: &switchboard::Lease) -> i64 {
    let rows: Vec<Txid> = lease
        .send(Load::new(diesel::sql_query(
            "SELECT txid_current() AS txid",
        )))
        .await
        .unwrap();
    rows[0].txid
}

async fn caller(sb: Switchboard, t: Arc<Target>, ledger: Arc<Ledger>, seed: u64) {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    loop {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        match x % 10 {
            // A lease that begins, writes, and is dropped with its
            // transaction open.
            0 => {
                if !ledger.ran(4) {
                    return;
                }
                let lease = sb.checkout().await.unwrap();
                lease.send(Execute::sql("BEGIN")).await.unwrap();
                lease.send(insert(&t, ledger.key())).await.unwrap();
                let open = txid(&lease).await;
                ledger.abandoned.lock().insert(open);
            }
            // A lease that commits.
            1 => {
                if !ledger.ran(3) {
                    return;
                }
                let lease = sb.checkout().await.unwrap();
                let k = ledger.key();
                lease.send(Execute::sql("BEGIN")).await.unwrap();
                lease.send(insert(&t, k)).await.unwrap();
                lease.send(Execute::sql("COMMIT")).await.unwrap();
                ledger.committed.lock().insert(k);
            }
            // Pipelined autocommit reads.
            2..=4 => {
                if !ledger.ran(1) {
                    return;
                }
                sb.run(Execute::sql(format!("SELECT COUNT(*) FROM {}", t.table)))
                    .await
                    .unwrap();
            }
            // Pipelined autocommit writes.
            _ => {
                if !ledger.ran(1) {
                    return;
                }
                let k = ledger.key();
                assert_eq!(sb.run(insert(&t, k)).await.unwrap(), 1);
                ledger.committed.lock().insert(k);
            }
        }
    }
}

#[test]
fn callers_mixing_abandoned_transactions_and_pipelined_writes_lose_nothing() {
    crate::support::run(Db::Postgres, "handback_load", async |t| {
        let sb = t
            .builder()
            .pool_size(8..=8)
            .pipeline(8)
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql(format!(
            "CREATE TABLE {} (k BIGINT PRIMARY KEY, txid BIGINT NOT NULL)",
            t.table
        )))
        .await
        .unwrap();
        let t = Arc::new(t);
        let ledger = Arc::new(Ledger::default());
        let callers: Vec<_> = (1..=CALLERS)
            .map(|seed| actix::spawn(caller(sb.clone(), t.clone(), ledger.clone(), seed)))
            .collect();
        for c in callers {
            c.await.unwrap();
        }

        let mut raw = diesel_async::AsyncPgConnection::establish(&t.url)
            .await
            .unwrap();
        let rows: Vec<Row> = diesel::sql_query(format!("SELECT k, txid FROM {}", t.table))
            .load(&mut raw)
            .await
            .unwrap();
        let committed = ledger.committed.lock().clone();
        let abandoned = ledger.abandoned.lock().clone();
        assert!(
            abandoned.len() > 50,
            "{} abandoned transactions",
            abandoned.len()
        );
        let present: HashSet<i64> = rows.iter().map(|r| r.k).collect();
        let missing: Vec<_> = committed.difference(&present).take(5).collect();
        assert!(
            missing.is_empty(),
            "committed writes missing (swallowed by someone's open transaction): {missing:?}"
        );
        assert_eq!(
            present.len(),
            committed.len(),
            "rows of abandoned transactions are visible"
        );
        let inside: Vec<_> = rows
            .iter()
            .filter(|r| abandoned.contains(&r.txid))
            .take(5)
            .map(|r| r.k)
            .collect();
        assert!(
            inside.is_empty(),
            "writes ran inside another caller's transaction: {inside:?}"
        );
        sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
    });
}
