//! The exporter's delivery contract when its server cannot be reached at
//! all (a refused port): it starts anyway unless told to fail fast, holds
//! what fits in its buffer, and then drops-and-counts or pushes back on the
//! bus, as configured. Never a silent loss.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use common::{event, nowhere};
use switchboard_core::{Bus, Error};
use switchboard_nats::{Backoff, LinkState, NatsError, NatsExporter, OnFull};

fn builder(url: &str) -> switchboard_nats::ExporterBuilder {
    NatsExporter::builder(url, "svc")
        .connect_timeout(Duration::from_millis(200))
        .backoff(Backoff::new(
            Duration::from_millis(20),
            Duration::from_millis(100),
        ))
}

#[tokio::test]
async fn fail_fast_refuses_to_start_without_a_server() {
    let err = builder(&nowhere())
        .fail_fast(true)
        .start()
        .await
        .unwrap_err();
    assert!(matches!(err, NatsError::Unreachable { .. }), "{err}");
    assert!(
        err.to_string().contains("nats-server"),
        "says what to check: {err}"
    );
}

#[tokio::test]
async fn on_full_drop_holds_the_buffer_then_drops_and_counts_the_rest() {
    let exporter = builder(&nowhere())
        .buffer(10)
        .on_full(OnFull::Drop)
        .start()
        .await
        .unwrap();
    let bus = Bus::new();
    let _exported = exporter.attach(&bus).unwrap();
    for seq in 1..=100 {
        bus.publish(&event(seq));
    }
    bus.flush(Duration::from_secs(5)).await.unwrap();
    let stats = exporter.stats();
    assert_ne!(stats.state, LinkState::Connected);
    assert_eq!((stats.accepted, stats.dropped_full), (10, 90), "{stats:?}");
    assert_eq!(stats.buffered, 10);

    // Closing with events never acknowledged: abandoned, counted, an error.
    let err = exporter
        .close(Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(
        matches!(err, NatsError::Timeout { pending: 10, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn on_full_backpressure_makes_the_bus_refuse_new_work_after_its_deadline() {
    let exporter = builder(&nowhere())
        .buffer(10)
        .bus_queue(5, Duration::from_millis(200))
        .start()
        .await
        .unwrap();
    let bus = Bus::new();
    let _exported = exporter.attach(&bus).unwrap();
    for seq in 1..=100 {
        bus.publish(&event(seq));
    }
    let err = bus.ready().await.unwrap_err();
    assert!(
        matches!(&err, Error::Backpressure { subscriber, .. } if subscriber == "nats-exporter-svc"),
        "{err:?}"
    );
    let stats = exporter.stats();
    assert_eq!(stats.dropped_full, 0, "nothing dropped: {stats:?}");
    assert!(
        stats.accepted <= 11,
        "the buffer holds its bound: {stats:?}"
    );
}

/// The handle `attach` returns is kept: dropping it ends nothing (the
/// exporter ends its subscriptions when it is closed), detaching it ends
/// that bus's subscription at once.
#[tokio::test]
async fn the_exporter_keeps_its_subscriptions_until_it_is_closed() {
    let exporter = builder(&nowhere()).start().await.unwrap();
    let bus = Bus::new();
    let handle = exporter.attach(&bus).unwrap();
    assert!(!handle.ends_on_drop());
    drop(handle);
    bus.publish(&event(1));
    bus.flush(Duration::from_secs(5)).await.unwrap();
    assert_eq!(exporter.stats().accepted, 1, "the dropped handle ended it");

    let other = Bus::new();
    exporter.attach(&other).unwrap().detach();
    assert!(other.stats().is_empty(), "detach left the subscription");
    assert_eq!(bus.stats().len(), 1, "detaching on another bus ended it");

    // The event is never acknowledged: closing abandons it.
    let closed = exporter.close(Duration::from_millis(200)).await;
    assert!(closed.is_err(), "{closed:?}");
    assert!(bus.stats().is_empty(), "close left the subscription");
}
