//! Two services, each with its own manager, bus and exporter, and one
//! central process (a source into a local bus, with an audit log and a
//! collecting subscriber): every event arrives once, in per-connection
//! order, and one verifiable audit file holds both services.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::future::join_all;
use switchboard::{Bus, Delivery, Execute, Filter, Kind, Switchboard};
use switchboard_audit::AuditLog;
use switchboard_nats::{NatsExporter, NatsSource};

use super::{Names, assert_unique, delete_stream, shared_nats, stored_ids};
use crate::support::run_local;

const SERVICES: [&str; 2] = ["orders", "billing"];
/// INSERTs per service: 4 events each (CheckedOut, Executing, Executed,
/// CheckedIn), so more than 5,000 events per service with connects and
/// closes.
const STATEMENTS: usize = 1250;

#[test]
fn ten_thousand_events_from_two_managers_arrive_once_each_in_per_connection_order() {
    let Some(url) = shared_nats("nats fleet") else {
        return;
    };
    let names = Names::new("fleet");
    let dir = std::env::temp_dir().join(format!("{}-audit", names.prefix));
    let _ = std::fs::remove_dir_all(&dir);
    run_local(async {
        // The central process.
        let central = Bus::new();
        let collected = central
            .subscribe_channel("collector", Filter::all(), Delivery::lossless(100_000))
            .unwrap();
        let audit = Arc::new(AuditLog::builder(&dir).open().unwrap());
        let _audited = audit.attach(&central).unwrap();
        let log = audit.clone();
        let source = NatsSource::builder(&url)
            .stream(names.stream.clone())
            .durable("central")
            .confirm(move || {
                let log = log.clone();
                async move { log.flush(Duration::from_secs(5)).await }
            })
            .start(&central)
            .await
            .unwrap();

        // Two services, same pool name: only the service tells them apart.
        let mut services = Vec::new();
        for service in SERVICES {
            let bus = Bus::new();
            let exporter = NatsExporter::builder(&url, service)
                .subject_prefix(&names.prefix)
                .stream(names.stream.clone())
                .start()
                .await
                .unwrap();
            let _exported = exporter.attach(&bus).unwrap();
            let sb = Switchboard::builder("sqlite::memory:")
                .name("app")
                .pool_size(1..=4)
                .bus(bus)
                .start()
                .await
                .unwrap();
            sb.run(Execute::sql(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)",
            ))
            .await
            .unwrap();
            services.push((service, sb, exporter));
        }

        let started = Instant::now();
        let work = services.iter().map(|(_, sb, _)| async move {
            for chunk in (0..STATEMENTS).collect::<Vec<_>>().chunks(8) {
                join_all(chunk.iter().map(|i| {
                    sb.run(Execute::sql(format!(
                        "INSERT INTO t (id, v) VALUES ({i}, 'x')"
                    )))
                }))
                .await
                .into_iter()
                .for_each(|r| {
                    r.unwrap();
                });
            }
        });
        join_all(work).await;
        let mut exported = BTreeMap::new();
        for (service, sb, exporter) in &services {
            sb.shutdown().await.unwrap();
            exporter.flush(Duration::from_secs(60)).await.unwrap();
            let stats = exporter.stats();
            assert_eq!(stats.acked, stats.accepted, "{service}: {stats:?}");
            assert_eq!(stats.dropped_full + stats.abandoned, 0);
            exported.insert(service.to_string(), stats.accepted);
        }
        let elapsed = started.elapsed();
        let total: u64 = exported.values().sum();
        assert!(total >= 10_000, "only {total} events: {exported:?}");
        eprintln!(
            "nats fleet: {total} events from 2 services exported and acknowledged in {elapsed:?} ({:.0} events/s, SQLite statements included)",
            total as f64 / elapsed.as_secs_f64()
        );

        // Each event once, keyed by (service, id); per connection, in order.
        let mut seen = BTreeSet::new();
        let mut last_seq: BTreeMap<(String, String, u64), u64> = BTreeMap::new();
        let mut per_service: BTreeMap<String, u64> = BTreeMap::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        while (seen.len() as u64) < total {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = collected
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("central got {} of {total} events", seen.len()));
            let m = event.meta();
            let service = m.labels.get("service").expect("service label").to_owned();
            assert!(
                seen.insert((service.clone(), m.id)),
                "{service} event {} twice",
                m.id
            );
            *per_service.entry(service.clone()).or_default() += 1;
            // The pool's own events count their own sequence, as connection 0.
            let conn = m.connection.unwrap_or(0);
            let last = last_seq
                .insert((service.clone(), m.pool.to_string(), conn), m.seq)
                .unwrap_or(0);
            assert_eq!(
                m.seq,
                last + 1,
                "{service} conn#{conn}: seq {} after {last}",
                m.seq
            );
        }
        assert_eq!(per_service, exported);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            collected.try_recv().is_err(),
            "more events than were exported"
        );

        let (ids, stored) = stored_ids(&url, &names.stream.name).await;
        assert_eq!(stored, total);
        assert_unique(&ids);

        // One audit file, verifiable, with both services' statements.
        audit.flush(Duration::from_secs(10)).await.unwrap();
        let report = audit.verify().unwrap();
        let records = audit
            .files()
            .unwrap()
            .iter()
            .flat_map(|f| {
                std::fs::read_to_string(f)
                    .unwrap()
                    .lines()
                    .map(|l| switchboard_audit::Record::parse(l.as_bytes()).unwrap())
                    .collect::<Vec<_>>()
            })
            .collect::<Vec<_>>();
        assert_eq!(report.records, records.len() as u64);
        for service in SERVICES {
            let executed = records
                .iter()
                .filter(|r| r.kind == Kind::Executed && r.labels.get("service") == Some(service))
                .count();
            assert_eq!(executed, STATEMENTS + 1, "{service}: Executed records");
        }

        source.close(Duration::from_secs(10)).await.unwrap();
        for (_, _, exporter) in services {
            exporter.close(Duration::from_secs(10)).await.unwrap();
        }
        delete_stream(&url, &names.stream.name).await;
    });
    let _ = std::fs::remove_dir_all(&dir);
}
