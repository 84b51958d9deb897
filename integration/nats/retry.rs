//! A publish whose ack does not come is sent again with the same
//! `Nats-Msg-Id`, and the server stores it once.

use std::time::Duration;

use switchboard::Bus;
use switchboard_nats::{Backoff, NatsExporter};

use super::private_server::PrivateNats;
use super::{Names, assert_unique, delete_stream, event, shared_nats, stored_ids};
use crate::support::run_local;

/// Forced reconnects on the machine's server while batches are in flight:
/// the publishes whose acks went with the old connection are retried, and
/// every event is stored exactly once.
#[test]
fn publishes_retried_after_forced_reconnects_are_stored_once() {
    let Some(url) = shared_nats("nats forced reconnect") else {
        return;
    };
    let names = Names::new("reconnect");
    run_local(async {
        let bus = Bus::new();
        let exporter = NatsExporter::builder(&url, "svc")
            .subject_prefix(&names.prefix)
            .stream(names.stream.clone())
            .ack_timeout(Duration::from_millis(500))
            .backoff(Backoff::new(
                Duration::from_millis(20),
                Duration::from_millis(200),
            ))
            .start()
            .await
            .unwrap();
        let _exported = exporter.attach(&bus).unwrap();
        // Rounds of 5,000 events, reconnecting every few milliseconds while
        // they drain, until some reconnect caught a batch in flight.
        let mut sent = 0;
        for _round in 0..10 {
            for _ in 0..5000 {
                sent += 1;
                bus.publish(&event("app", sent));
            }
            for _ in 0..3 {
                tokio::time::sleep(Duration::from_millis(10)).await;
                exporter.force_reconnect().await.unwrap();
            }
            exporter.flush(Duration::from_secs(30)).await.unwrap();
            if exporter.stats().retries > 0 {
                break;
            }
        }
        exporter.flush(Duration::from_secs(60)).await.unwrap();
        let stats = exporter.stats();
        eprintln!("forced reconnects: {stats:?}");
        assert!(
            stats.retries > 0,
            "no reconnect caught a publish in flight: {stats:?}"
        );
        assert!(stats.reconnects >= 1, "{stats:?}");
        assert_eq!((stats.accepted, stats.acked), (sent, sent));
        let (ids, stored) = stored_ids(&url, &names.stream.name).await;
        assert_eq!(stored, sent, "{stats:?}");
        assert_eq!(assert_unique(&ids) as u64, sent);
        exporter.close(Duration::from_secs(5)).await.unwrap();
        delete_stream(&url, &names.stream.name).await;
    });
}

/// A server that stops answering (SIGSTOP) while publishes are in flight:
/// their acks time out, they are sent again, and when the server resumes it
/// stores the first copies and recognises the retries as duplicates.
#[test]
fn publishes_retried_after_lost_acks_are_deduplicated_by_the_server() {
    let Some(server) = PrivateNats::start("nats_lost_acks") else {
        return;
    };
    let names = Names::new("lost_acks");
    run_local(async {
        let bus = Bus::new();
        let exporter = NatsExporter::builder(&server.url, "svc")
            .subject_prefix(&names.prefix)
            .stream(names.stream.clone())
            .ack_timeout(Duration::from_millis(300))
            .backoff(Backoff::new(
                Duration::from_millis(50),
                Duration::from_millis(200),
            ))
            .start()
            .await
            .unwrap();
        let _exported = exporter.attach(&bus).unwrap();
        for seq in 1..=200 {
            bus.publish(&event("app", seq));
        }
        exporter.flush(Duration::from_secs(10)).await.unwrap();

        server.pause();
        for seq in 201..=500 {
            bus.publish(&event("app", seq));
        }
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let during = exporter.stats();
        server.resume();
        exporter.flush(Duration::from_secs(30)).await.unwrap();
        let stats = exporter.stats();
        eprintln!("lost acks: during {during:?}, after {stats:?}");
        assert!(during.retries > 0, "no publish was retried: {during:?}");
        assert!(during.buffered > 0);
        assert!(
            stats.duplicates > 0,
            "the server saw no retried copy: {stats:?}"
        );
        assert_eq!((stats.accepted, stats.acked), (500, 500));
        let (ids, stored) = stored_ids(&server.url, &names.stream.name).await;
        assert_eq!(stored, 500);
        assert_eq!(assert_unique(&ids), 500);
        exporter.close(Duration::from_secs(5)).await.unwrap();
    });
}
