//! NATS export throughput: events per second published by a `NatsExporter`
//! and acknowledged by JetStream (file storage), against the machine's NATS
//! (`SWITCHBOARD_NATS_URL`, default `nats://127.0.0.1:4222`), for a table of
//! publishes in flight per batch. Events are published straight onto a bus
//! (no database); each iteration exports 10,000 and waits for every ack.
//!
//! `cargo bench --bench nats_export` (add `-- --quick` for a short run).
//! Skipped, with a message, when NATS is not reachable.

use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use switchboard::{Bus, Event};
use switchboard_nats::{NatsExporter, StreamSettings};

const EVENTS: u64 = 10_000;
/// Publishes sent before their acks are awaited.
const IN_FLIGHT: [usize; 3] = [64, 256, 1024];

fn event(id: u64) -> Event {
    Event::from_json(&format!(
        r#"{{"id":{id},"at":"2026-11-27T01:20:03Z","pool":"app","connection":1,"seq":{id},"backend":"sqlite","kind":"Executing","query_id":{id},"sql":"INSERT INTO orders (id, item) VALUES ($1, $2)","params":[{{"redacted":{{"sql_type":"Integer"}}}},{{"redacted":{{"sql_type":"Text"}}}}],"class":"write","origin":"execute"}}"#
    ))
    .expect("a valid event")
}

fn nats_export(c: &mut Criterion) {
    let url = std::env::var("SWITCHBOARD_NATS_URL")
        .unwrap_or_else(|_| "nats://127.0.0.1:4222".to_owned());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let mut group = c.benchmark_group("nats_export");
    group.throughput(Throughput::Elements(EVENTS));
    group.sample_size(10);
    for in_flight in IN_FLIGHT {
        let prefix = format!("sbbench{}x{in_flight}", std::process::id());
        let stream = StreamSettings::new(prefix.to_uppercase(), [format!("{prefix}.>")]);
        let started = rt.block_on(
            NatsExporter::builder(&url, "bench")
                .subject_prefix(&prefix)
                .stream(stream.clone())
                .max_in_flight(in_flight)
                .fail_fast(true)
                .start(),
        );
        let exporter = match started {
            Ok(e) => e,
            Err(e) => {
                eprintln!("SKIPPED nats_export: {e}");
                return;
            }
        };
        let bus = Bus::new();
        let _exported = exporter.attach(&bus).expect("attached");
        let mut next = 0;
        group.bench_function(BenchmarkId::new("acked", in_flight), |b| {
            b.iter_custom(|iters| {
                let start = Instant::now();
                for _ in 0..iters {
                    rt.block_on(async {
                        for _ in 0..EVENTS {
                            next += 1;
                            bus.publish(&event(next));
                            if next % 512 == 0 {
                                bus.ready().await.expect("room on the bus");
                            }
                        }
                        exporter
                            .flush(Duration::from_secs(60))
                            .await
                            .expect("acked");
                    });
                }
                start.elapsed()
            });
        });
        rt.block_on(async {
            exporter
                .close(Duration::from_secs(10))
                .await
                .expect("closed");
            if let Ok(client) = async_nats::connect(&url).await {
                let _ = async_nats::jetstream::new(client)
                    .delete_stream(&stream.name)
                    .await;
            }
        });
    }
    group.finish();
}

criterion_group!(benches, nats_export);
criterion_main!(benches);
