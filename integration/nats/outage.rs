//! The exporter while its NATS server is down (SIGKILL, then restarted on
//! the same port and store): it buffers, reconnects with backoff, and then
//! either holds the database back (`Backpressure`) or drops and counts
//! (`Drop`); never a silent loss.

use std::time::{Duration, Instant};

use switchboard::{Bus, Delivery, Error, Execute, Filter, Switchboard};
use switchboard_nats::{Backoff, LinkState, NatsExporter, OnFull};

use super::private_server::PrivateNats;
use super::{Names, assert_unique, stored_ids};
use crate::support::{drain, run_local};

async fn pool(bus: &Bus) -> Switchboard {
    let sb = Switchboard::builder("sqlite::memory:")
        .name("app")
        .pool_size(1..=2)
        .bus(bus.clone())
        .start()
        .await
        .unwrap();
    sb.run(Execute::sql("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
        .await
        .unwrap();
    sb
}

async fn insert(sb: &Switchboard, from: usize, n: usize) -> Result<(), Error> {
    for i in from..from + n {
        sb.run(Execute::sql(format!("INSERT INTO t (id) VALUES ({i})")))
            .await?;
    }
    Ok(())
}

async fn wait_for_state(exporter: &NatsExporter, state: LinkState) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while exporter.stats().state != state {
        assert!(
            Instant::now() < deadline,
            "never {state:?}: {:?}",
            exporter.stats()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn quick_backoff() -> Backoff {
    Backoff::new(Duration::from_millis(20), Duration::from_millis(200))
}

#[test]
fn events_buffered_while_nats_is_down_arrive_once_after_it_returns() {
    let Some(mut server) = PrivateNats::start("nats_outage") else {
        return;
    };
    let names = Names::new("outage");
    run_local(async {
        let bus = Bus::new();
        let exporter = NatsExporter::builder(&server.url, "svc")
            .subject_prefix(&names.prefix)
            .stream(names.stream.clone())
            .ack_timeout(Duration::from_millis(500))
            .backoff(quick_backoff())
            .start()
            .await
            .unwrap();
        let _exported = exporter.attach(&bus).unwrap();
        let sb = pool(&bus).await;
        insert(&sb, 0, 50).await.unwrap();
        exporter.flush(Duration::from_secs(10)).await.unwrap();

        server.kill();
        wait_for_state(&exporter, LinkState::Disconnected).await;
        insert(&sb, 50, 100).await.unwrap();
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let down = exporter.stats();
        assert!(down.buffered >= 400, "{down:?}");

        server.restart();
        exporter.flush(Duration::from_secs(30)).await.unwrap();
        let stats = exporter.stats();
        assert_eq!(stats.state, LinkState::Connected);
        assert!(stats.reconnects >= 1, "{stats:?}");
        assert_eq!(stats.acked, stats.accepted);
        let (ids, stored) = stored_ids(&server.url, &names.stream.name).await;
        assert_eq!(stored, stats.accepted, "{stats:?}");
        assert_unique(&ids);
        sb.shutdown().await.unwrap();
        exporter.close(Duration::from_secs(5)).await.unwrap();
    });
}

#[test]
fn with_on_full_drop_a_full_buffer_drops_and_counts_every_event_it_cannot_hold() {
    let Some(mut server) = PrivateNats::start("nats_drop") else {
        return;
    };
    let names = Names::new("drop");
    run_local(async {
        let bus = Bus::new();
        let exporter = NatsExporter::builder(&server.url, "svc")
            .subject_prefix(&names.prefix)
            .stream(names.stream.clone())
            .buffer(50)
            .on_full(OnFull::Drop)
            .ack_timeout(Duration::from_millis(500))
            .backoff(quick_backoff())
            .start()
            .await
            .unwrap();
        let sub = exporter.attach(&bus).unwrap();
        let sb = pool(&bus).await;
        exporter.flush(Duration::from_secs(10)).await.unwrap();

        server.kill();
        wait_for_state(&exporter, LinkState::Disconnected).await;
        // The database keeps going: no statement waits for NATS.
        insert(&sb, 0, 100).await.unwrap();
        bus.flush(Duration::from_secs(5)).await.unwrap();
        let offered = sub.stats().unwrap().delivered;
        let stats = exporter.stats();
        assert!(stats.dropped_full > 0, "{stats:?}");
        assert_eq!(
            stats.accepted + stats.dropped_full,
            offered,
            "every event accounted for"
        );

        server.restart();
        exporter.flush(Duration::from_secs(30)).await.unwrap();
        let stats = exporter.stats();
        let (ids, stored) = stored_ids(&server.url, &names.stream.name).await;
        assert_eq!(stored, stats.accepted, "{stats:?}");
        assert_unique(&ids);
        sb.shutdown().await.unwrap();
        exporter.close(Duration::from_secs(5)).await.unwrap();
    });
}

#[test]
fn with_backpressure_statements_fail_loudly_instead_of_running_unexported() {
    let Some(mut server) = PrivateNats::start("nats_backpressure") else {
        return;
    };
    let names = Names::new("backpressure");
    run_local(async {
        let bus = Bus::new();
        let exporter = NatsExporter::builder(&server.url, "svc")
            .subject_prefix(&names.prefix)
            .stream(names.stream.clone())
            .buffer(20)
            .bus_queue(16, Duration::from_millis(300))
            .ack_timeout(Duration::from_millis(500))
            .backoff(quick_backoff())
            .start()
            .await
            .unwrap();
        let _exported = exporter.attach(&bus).unwrap();
        // What the exporter is offered (its filter is all events): its own
        // subscription ends with the pool, and its counters with it.
        let offered = bus
            .subscribe_channel("offered", Filter::all(), Delivery::lossless(100_000))
            .unwrap();
        let sb = pool(&bus).await;
        exporter.flush(Duration::from_secs(10)).await.unwrap();

        server.kill();
        wait_for_state(&exporter, LinkState::Disconnected).await;
        let failed = insert(&sb, 0, 100).await.unwrap_err();
        assert!(
            matches!(&failed, Error::Backpressure { subscriber, .. } if subscriber == "nats-exporter-svc"),
            "{failed:?}"
        );

        server.restart();
        exporter.flush(Duration::from_secs(30)).await.unwrap();
        insert(&sb, 1000, 10).await.unwrap();
        sb.shutdown().await.unwrap();
        exporter.flush(Duration::from_secs(30)).await.unwrap();
        let stats = exporter.stats();
        let offered = drain(&offered).len() as u64;
        assert_eq!((stats.dropped_full, stats.abandoned), (0, 0));
        assert_eq!(stats.accepted, offered, "nothing lost");
        let (ids, stored) = stored_ids(&server.url, &names.stream.name).await;
        assert_eq!(stored, stats.accepted, "{stats:?}");
        assert_unique(&ids);
        exporter.close(Duration::from_secs(5)).await.unwrap();
    });
}
