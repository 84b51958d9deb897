//! The bus alone: events per second published by one connection's emitter
//! and fanned out to 1, 4 and 16 subscribers, Lossy and Lossless.
//!
//! The publisher does what a connection does per statement: awaits
//! `Bus::ready` (room in every lossless queue), then emits `Executing` and
//! `Executed`. Subscribers are closures on threads of their own that do
//! nothing, so what is measured is the bus: filters, queues, wake-ups,
//! pumps. Lossless rounds end with a flush (every event delivered); lossy
//! ones measure publishing, and the delivered/dropped counts are printed.
//! Allocations per event are counted by `bus_alloc`, a separate program,
//! so that counting does not slow this one.
//!
//! `cargo bench --bench bus_fanout` (add `-- --quick` for a short run).

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput};
use switchboard::{Backend, Bus, Delivery, Filter, Origin, StatementClass};
use switchboard_core::Emitter;
use switchboard_core::testing::emit_statement;

const EVENTS: u64 = 20_000;
const SUBSCRIBERS: [usize; 3] = [1, 4, 16];
const CAPACITY: usize = 1024;
const WAIT: Duration = Duration::from_secs(60);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a tokio runtime")
}

/// Publishes `events` events as `events / 2` statements.
async fn publish(emitter: &Emitter, bus: &Bus, events: u64) {
    let sql: Arc<str> = Arc::from("SELECT id, name FROM users WHERE id = $1");
    for query_id in 0..events / 2 {
        bus.ready().await.expect("room for the statement");
        emit_statement(emitter, query_id, &sql, StatementClass::Read, Origin::Load);
    }
}

struct Row {
    name: String,
    per_second: f64,
    delivered: u64,
    dropped: u64,
}

fn fanout(c: &mut Criterion, rows: &mut Vec<Row>) {
    let rt = runtime();
    for (label, delivery) in [
        ("lossy", Delivery::lossy(CAPACITY)),
        ("lossless", Delivery::lossless(CAPACITY)),
    ] {
        let mut group = c.benchmark_group(format!("bus_fanout_{label}"));
        group.throughput(Throughput::Elements(EVENTS));
        for n in SUBSCRIBERS {
            let bus = Bus::new();
            for i in 0..n {
                bus.subscribe_fn(&format!("sub{i}"), Filter::all(), delivery, |_| ())
                    .expect("a subscription");
            }
            let emitter = Emitter::new(bus.clone(), Arc::from("bench"), Backend::Postgres, 1);
            let mut events = 0u64;
            let mut spent = Duration::ZERO;
            group.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter_custom(|iters| {
                    let started = Instant::now();
                    rt.block_on(async {
                        for _ in 0..iters {
                            publish(&emitter, &bus, EVENTS).await;
                            if matches!(delivery, Delivery::Lossless { .. }) {
                                bus.flush(WAIT).await.expect("flushed");
                            }
                        }
                    });
                    let took = started.elapsed();
                    events += iters * EVENTS;
                    spent += took;
                    took
                });
            });
            let stats = bus.stats();
            let row = Row {
                name: format!("{label}/{n}"),
                per_second: events as f64 / spent.as_secs_f64(),
                delivered: stats.iter().map(|s| s.delivered).sum(),
                dropped: stats.iter().map(|s| s.dropped).sum(),
            };
            eprintln!(
                "  {}: {:.0} events/s, delivered {}, dropped {}",
                row.name, row.per_second, row.delivered, row.dropped
            );
            rows.push(row);
            for s in stats {
                bus.unsubscribe(s.id);
            }
        }
        group.finish();
    }
}

fn main() {
    // Listed by cargo nextest or `cargo test --benches`: nothing to list.
    // A bench's measured run is never part of the test suite.
    if std::env::args().any(|a| a == "--list") {
        return;
    }
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(10)
        .configure_from_args();
    let mut rows = Vec::new();
    fanout(&mut c, &mut rows);
    c.final_summary();
    println!();
    println!("## bus_fanout summary (events published per second, mean of the criterion rounds)");
    println!();
    println!("| contract/subscribers | events/s | delivered | dropped | delivered share |");
    println!("|---|---|---|---|---|");
    for r in &rows {
        let share = r.delivered as f64 / (r.delivered + r.dropped).max(1) as f64;
        println!(
            "| {} | {:.0} | {} | {} | {:.1}% |",
            r.name,
            r.per_second,
            r.delivered,
            r.dropped,
            share * 100.0
        );
    }
}
