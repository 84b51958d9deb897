//! Unit tests of the log as a whole, one file per behaviour, with events
//! published straight onto a bus (no database).

mod batching;
mod durability;
mod lines;
mod records;
mod restart;
mod signed;
mod strict;
mod tamper;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchboard_core::{
    Backend, Bus, Emitter, Error, ErrorInfo, ErrorKind, Labels, Origin, Params, Payload,
    StatementClass,
};

use crate::{AuditLog, Builder, Record};

/// A directory of its own, removed at the end of the test.
pub(crate) struct TempDir(PathBuf);

impl TempDir {
    pub(crate) fn new(test: &str) -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "sb-audit-{test}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Runs a test body on a runtime with timers, as the bus needs.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
        .block_on(f)
}

pub(crate) const WAIT: Duration = Duration::from_secs(10);

/// A fake connection: publishes a statement's events the way a real one
/// does (Executing, wait for room and for the gates, then the outcome).
pub(crate) struct Conn {
    pub(crate) emitter: Emitter,
    pub(crate) bus: Bus,
}

static NEXT_QUERY: AtomicU64 = AtomicU64::new(1);

/// How a fake statement ends.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum End {
    Runs,
    Fails,
    Denied,
}

impl Conn {
    pub(crate) fn new(bus: &Bus, connection: u64) -> Self {
        Conn {
            emitter: Emitter::new(bus.clone(), Arc::from("pool"), Backend::Sqlite, connection),
            bus: bus.clone(),
        }
    }

    /// Runs one statement; returns its query id, or the error a real
    /// connection would return.
    pub(crate) async fn run(
        &self,
        sql: &str,
        class: StatementClass,
        params: Params,
        end: End,
    ) -> Result<u64, Error> {
        let query_id = NEXT_QUERY.fetch_add(1, Ordering::Relaxed);
        let executing = self.emitter.publish(Payload::Executing {
            query_id,
            sql: Arc::from(sql),
            params,
            class,
            origin: Origin::Execute,
        });
        if end == End::Denied {
            self.emitter.emit(Payload::Denied {
                query_id: Some(query_id),
                guard: "no".into(),
                reason: "not today".into(),
            });
            return Ok(query_id);
        }
        let gated = async {
            self.bus.ready().await?;
            self.bus.pass_gates(&executing).await
        }
        .await;
        let took = Duration::from_micros(50);
        self.emitter.emit(match (&gated, end) {
            (Ok(()), End::Runs) => Payload::Executed {
                query_id,
                took,
                rows: Some(1),
            },
            (Ok(()), _) => Payload::ExecuteFailed {
                query_id,
                took,
                error: ErrorInfo::new(ErrorKind::Database, Some("23505".into()), "duplicate key"),
            },
            (Err(e), _) => Payload::ExecuteFailed {
                query_id,
                took,
                error: e.info(),
            },
        });
        gated.map(|()| query_id)
    }

    pub(crate) async fn write(&self, n: i64) -> Result<u64, Error> {
        let sql = format!("INSERT INTO t (id) VALUES ({n})");
        self.run(&sql, StatementClass::Write, Params::none(), End::Runs)
            .await
    }

    pub(crate) fn set_labels(&self, labels: Labels) {
        self.emitter.set_labels(labels);
    }
}

/// A log in `dir` attached to a fresh bus.
pub(crate) fn attached(builder: Builder) -> (AuditLog, Bus) {
    let log = builder.open().unwrap();
    let bus = Bus::new();
    let _audited = log.attach(&bus).unwrap();
    (log, bus)
}

/// Every record of the log's files, in order (torn tails skipped).
pub(crate) fn records(log_dir: &Path) -> Vec<Record> {
    lines(log_dir)
        .iter()
        .map(|l| Record::parse(l).unwrap())
        .collect()
}

/// Every complete line of the `audit.*.jsonl` files in `dir`.
pub(crate) fn lines(dir: &Path) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for file in files(dir) {
        let bytes = std::fs::read(file).unwrap();
        let mut rest = &bytes[..];
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            out.push(rest[..end].to_vec());
            rest = &rest[end + 1..];
        }
    }
    out
}

/// The log files `audit.NNNNNN.jsonl` in `dir`, in chain order.
pub(crate) fn files(dir: &Path) -> Vec<PathBuf> {
    crate::files(dir, "audit").unwrap()
}

/// A log with `n` write statements recorded and closed; returns its files.
pub(crate) fn written_log(dir: &TempDir, statements: i64, builder: Builder) -> Vec<PathBuf> {
    block_on(async {
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 1);
        for i in 0..statements {
            conn.write(i).await.unwrap();
        }
        log.close(WAIT).await.unwrap();
    });
    files(dir.path())
}
