//! Configurations that cannot work are refused before anything starts,
//! with a message that says what to change.
#![allow(clippy::unwrap_used)]

use switchboard_nats::{ExporterConfig, NatsError, NatsSource, SourceConfig, StreamSettings};

fn refused(config: &ExporterConfig) -> String {
    match config.validate() {
        Err(NatsError::Config(m)) => m,
        other => panic!("expected a config error, got {other:?}"),
    }
}

#[test]
fn the_defaults_are_valid() {
    ExporterConfig::new("nats://127.0.0.1:4222", "orders")
        .validate()
        .unwrap();
    SourceConfig::new("nats://127.0.0.1:4222")
        .validate()
        .unwrap();
}

#[test]
fn an_exporter_whose_subjects_the_stream_does_not_capture_is_refused() {
    let mut c = ExporterConfig::new("nats://x", "orders");
    c.subject_prefix = "events".into();
    assert!(refused(&c).contains("events.>"), "{}", refused(&c));
    c.stream = StreamSettings::new("EVENTS", ["events.>".to_owned()]);
    c.validate().unwrap();
}

#[test]
fn empty_names_and_zero_bounds_are_refused() {
    let mut c = ExporterConfig::new("nats://x", "");
    refused(&c);
    c.service = "orders".into();
    c.buffer = 0;
    refused(&c);
}

#[tokio::test]
async fn a_source_that_would_redeliver_while_confirming_is_refused() {
    let bus = switchboard_core::Bus::new();
    let err = NatsSource::builder("nats://127.0.0.1:1")
        .ack(std::time::Duration::from_secs(5), 4096)
        .start(&bus)
        .await
        .unwrap_err();
    assert!(matches!(err, NatsError::Config(_)), "{err}");
}
