//! The soak workload, shared by `benches/soak.rs` (a million statements) and
//! `integration/soak.rs` (a short run in the test suite): many callers run
//! statements on a pool of SQLite connections (a file in the temp dir, WAL)
//! while three subscribers listen ([`listeners`]). The run ends with a
//! shutdown, so every connection's last event is `Closed`, and a
//! reconciliation of what the subscribers saw.

#[path = "listeners.rs"]
mod listeners;

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::sql_types::{BigInt, Integer};
use futures_util::future::join_all;
use parking_lot::Mutex;
use switchboard::{Bus, Execute, Switchboard};

use listeners::Listeners;
pub use listeners::Seen;

/// What to run.
pub struct Plan {
    pub statements: u64,
    pub callers: usize,
    pub connections: usize,
    /// `faulty` panics on every this-many-th delivery.
    pub fault_every: u64,
    /// `sleepy` sleeps `stall` after every this-many events.
    pub stall_every: u64,
    pub stall: Duration,
    /// Resident memory is sampled every this many statements.
    pub sample_every: u64,
}

/// What happened.
pub struct Outcome {
    pub elapsed: Duration,
    pub failed_statements: u64,
    /// (statements done, resident KiB); the first before any statement, the
    /// last after shutdown.
    pub rss: Vec<(u64, u64)>,
    /// What the subscribers saw, and what contradicts the contracts.
    pub seen: Seen,
}

impl Outcome {
    /// One paragraph: throughput, delivery, memory at the end.
    pub fn summary(&self, statements: u64) -> String {
        let secs = self.elapsed.as_secs_f64();
        let (_, rss) = self.rss.last().copied().unwrap_or_default();
        format!(
            "{statements} statements in {secs:.1} s ({:.0}/s), {} failed\n\
             lossless: {} events published on {} connections, {} delivered to the faulty subscriber across {} restarts\n\
             lossy: {} seen, {} dropped and reported\n\
             resident memory at the end: {:.1} MiB",
            statements as f64 / secs,
            self.failed_statements,
            self.seen.published,
            self.seen.connections,
            self.seen.delivered,
            self.seen.restarts,
            self.seen.sleepy_seen,
            self.seen.sleepy_dropped,
            rss as f64 / 1024.0
        )
    }
}

/// Resident memory of this process in KiB (`VmRSS`), 0 if unknown.
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?;
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

/// A SQLite file removed (with its WAL) when dropped.
struct TempDb(PathBuf);

impl Drop for TempDb {
    fn drop(&mut self) {
        for suffix in ["", "-wal", "-shm"] {
            let mut p = self.0.clone().into_os_string();
            p.push(suffix);
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Runs the plan inside the current actix System.
pub async fn run(plan: &Plan) -> Outcome {
    static RUN: AtomicU64 = AtomicU64::new(0);
    let db = TempDb(std::env::temp_dir().join(format!(
        "sb-soak-{}-{}.db",
        std::process::id(),
        RUN.fetch_add(1, Ordering::Relaxed)
    )));
    let bus = Bus::new();
    let listeners = Listeners::attach(&bus, plan);
    let sb = Switchboard::builder(format!("sqlite://{}", db.0.display()))
        .name("soak")
        .pool_size(plan.connections..=plan.connections)
        .checkout_timeout(Duration::from_secs(60))
        .bus(bus.clone())
        .start()
        .await
        .expect("a SQLite pool");
    sb.run(Execute::sql(
        "CREATE TABLE soak (id INTEGER PRIMARY KEY, caller INTEGER NOT NULL, k BIGINT NOT NULL)",
    ))
    .await
    .expect("the soak table");

    let rss = Arc::new(Mutex::new(vec![(0, rss_kib())]));
    let started = Instant::now();
    let failed = drive(&sb, plan, &rss).await;
    let elapsed = started.elapsed();
    sb.shutdown().await.expect("a clean shutdown");
    // The statements, and the CREATE TABLE.
    let seen = listeners.settle(&bus, plan.statements + 1, failed).await;
    rss.lock().push((plan.statements, rss_kib()));
    Outcome {
        elapsed,
        failed_statements: failed,
        rss: rss.lock().clone(),
        seen,
    }
}

/// Runs the plan's statements from its callers: one in ten an INSERT, the
/// rest a SELECT whose text differs per caller. Samples resident memory
/// into `rss`; returns how many statements failed.
async fn drive(sb: &Switchboard, plan: &Plan, rss: &Mutex<Vec<(u64, u64)>>) -> u64 {
    let next = AtomicU64::new(0);
    let failed = AtomicU64::new(0);
    let callers = (0..plan.callers).map(|caller| {
        let (next, failed) = (&next, &failed);
        async move {
            let select = format!("SELECT ? + {caller}");
            loop {
                let k = next.fetch_add(1, Ordering::Relaxed);
                if k >= plan.statements {
                    break;
                }
                let statement = if k % 10 == 0 {
                    Execute::sql("INSERT INTO soak (caller, k) VALUES (?, ?)")
                        .bind::<Integer, _>(caller as i32)
                        .bind::<BigInt, _>(k as i64)
                } else {
                    Execute::sql(select.as_str()).bind::<BigInt, _>(k as i64)
                };
                if let Err(e) = sb.run(statement).await
                    && failed.fetch_add(1, Ordering::Relaxed) < 5
                {
                    eprintln!("statement {k} failed: {e}");
                }
                if (k + 1).is_multiple_of(plan.sample_every) {
                    rss.lock().push((k + 1, rss_kib()));
                }
            }
        }
    });
    join_all(callers).await;
    failed.into_inner()
}
