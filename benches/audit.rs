//! Audit log throughput.
//!
//! - `audit_records`: records per second written by a batched log, events
//!   published straight onto a bus (no database), against the same events
//!   delivered to a lossless subscriber that does nothing (the bus alone),
//!   and the same log signing a checkpoint every 1,000 records (target:
//!   at least 0.95x the unsigned log);
//! - `audit_statements`: INSERT statements per second from 8 concurrent
//!   callers on a pool of 8 SQLite connections, with no audit log, a batched
//!   one, and a strict one (each statement waits for its record's fsync,
//!   shared by the statements waiting with it).
//!
//! `cargo bench --bench audit` (add `-- --quick` for a short run).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use futures_util::future::join_all;
use switchboard::{Backend, Bus, Delivery, Execute, Filter, Origin, Params, Payload, Switchboard};
use switchboard_audit::{AuditLog, Durability, SecretKey};
use switchboard_core::{Emitter, StatementClass};

const WAIT: Duration = Duration::from_secs(60);

/// A directory of its own under the system's temp dir, removed at the end.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("sb-bench-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Publishes `statements` write statements (an `Executing` and an
/// `Executed` each) on one connection, waiting for room as a connection does.
async fn publish(emitter: &Emitter, bus: &Bus, statements: u64) {
    let sql: Arc<str> = Arc::from("INSERT INTO orders (id, total) VALUES (?, ?)");
    for query_id in 0..statements {
        if query_id % 256 == 0 {
            bus.ready().await.expect("the subscriber keeps up");
        }
        emitter.emit(Payload::Executing {
            query_id,
            sql: sql.clone(),
            params: Params::none(),
            class: StatementClass::Write,
            origin: Origin::Execute,
        });
        emitter.emit(Payload::Executed {
            query_id,
            took: Duration::from_micros(30),
            rows: Some(1),
        });
    }
}

fn records(c: &mut Criterion) {
    const STATEMENTS: u64 = 10_000;
    let rt = runtime();
    let mut group = c.benchmark_group("audit_records");
    group.throughput(Throughput::Elements(2 * STATEMENTS));
    group.sample_size(10);

    group.bench_function("bus_only", |b| {
        let bus = Bus::new();
        bus.subscribe_fn("drain", Filter::all(), Delivery::lossless(8192), |_| ())
            .expect("a subscription");
        let emitter = Emitter::new(bus.clone(), Arc::from("bench"), Backend::Sqlite, 1);
        b.iter_custom(|iters| {
            let started = Instant::now();
            rt.block_on(async {
                for _ in 0..iters {
                    publish(&emitter, &bus, STATEMENTS).await;
                    bus.flush(WAIT).await.expect("flushed");
                }
            });
            started.elapsed()
        });
    });

    for (name, checkpoints) in [
        ("audit_batched", false),
        ("audit_batched_checkpoints_1000", true),
    ] {
        group.bench_function(name, |b| {
            let dir = TempDir::new(name);
            let mut builder = AuditLog::builder(&dir.0).rotate_at_size(64 << 20);
            if checkpoints {
                builder = builder
                    .sign_checkpoints(SecretKey::from_bytes(&[7; 32]))
                    .checkpoint_every(Duration::from_secs(1), 1_000);
            }
            let audit = builder.open().expect("an audit log");
            let bus = Bus::new();
            let _audited = audit.attach(&bus).expect("attached");
            let emitter = Emitter::new(bus.clone(), Arc::from("bench"), Backend::Sqlite, 1);
            b.iter_custom(|iters| {
                let started = Instant::now();
                rt.block_on(async {
                    for _ in 0..iters {
                        publish(&emitter, &bus, STATEMENTS).await;
                        audit.flush(WAIT).await.expect("flushed");
                    }
                });
                started.elapsed()
            });
            let stats = audit.stats();
            eprintln!(
                "{name}: {} records, {} fsyncs, {} bytes, {} checkpoints",
                stats.records, stats.fsyncs, stats.bytes, stats.checkpoints
            );
            rt.block_on(audit.close(WAIT)).expect("closed");
        });
    }
    group.finish();
}

/// How the statements bench audits.
#[derive(Clone, Copy, Debug)]
enum Mode {
    None,
    Batched,
    Strict,
}

fn statements(c: &mut Criterion) {
    const CALLERS: usize = 8;
    const PER_ITER: usize = 800;
    let mut group = c.benchmark_group("audit_statements");
    group.throughput(Throughput::Elements(PER_ITER as u64));
    group.sample_size(10);
    for mode in [Mode::None, Mode::Batched, Mode::Strict] {
        let dir = TempDir::new(&format!("statements-{mode:?}"));
        let system = actix::System::new();
        let bus = Bus::new();
        let audit = match mode {
            Mode::None => None,
            Mode::Batched | Mode::Strict => {
                let durability = match mode {
                    Mode::Strict => Durability::Strict,
                    _ => Durability::batched(),
                };
                let audit = AuditLog::builder(dir.0.join("log"))
                    .durability_all(durability)
                    .open()
                    .expect("an audit log");
                let _audited = audit.attach(&bus).expect("attached");
                Some(audit)
            }
        };
        let url = format!("sqlite://{}", dir.0.join("db.sqlite").display());
        let sb: Switchboard = system.block_on(async {
            let sb = Switchboard::builder(url)
                .bus(bus)
                .pool_size(CALLERS..=CALLERS)
                .start()
                .await
                .expect("a pool");
            sb.run(Execute::sql(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER)",
            ))
            .await
            .expect("a table");
            sb
        });
        group.bench_function(
            BenchmarkId::new("sqlite_8_connections", format!("{mode:?}")),
            |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    system.block_on(async {
                        for _ in 0..iters {
                            join_all((0..CALLERS).map(|_| {
                                let sb = sb.clone();
                                async move {
                                    for _ in 0..PER_ITER / CALLERS {
                                        sb.run(Execute::sql("INSERT INTO t (n) VALUES (1)"))
                                            .await
                                            .expect("an insert");
                                    }
                                }
                            }))
                            .await;
                        }
                    });
                    started.elapsed()
                });
            },
        );
        system.block_on(async {
            sb.shutdown().await.expect("shut down");
            if let Some(audit) = audit {
                let stats = audit.stats();
                eprintln!(
                    "{mode:?}: {} records, {} held, {} fsyncs",
                    stats.records, stats.held, stats.fsyncs
                );
                audit.close(WAIT).await.expect("closed");
            }
        });
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = records, statements
}
criterion_main!(benches);
