//! `install` makes the exporter the process-wide `metrics` recorder: a
//! Metrics subscriber without a recorder of its own records into it, and a
//! second install is a typed error. (One test: the global recorder is set
//! once per process.)

mod support;

use std::sync::Arc;
use std::time::Duration;

use support::{caught_up, http_get, sample};
use switchboard_core::{Backend, Bus, Emitter, Payload};
use switchboard_observe::metrics::names;
use switchboard_observe::{Error, Exporter, Metrics};

#[test]
fn the_installed_exporter_receives_what_metrics_records() {
    let exporter = Exporter::builder()
        .listen("127.0.0.1:0")
        .install()
        .expect("the first install");
    let second = Exporter::builder().listen("127.0.0.1:0").install();
    assert!(
        matches!(second, Err(Error::RecorderInstalled)),
        "{second:?}"
    );

    let bus = Bus::new();
    let metrics = Metrics::new().attach(&bus).expect("metrics");
    let emitter = Emitter::new(bus, Arc::from("global"), Backend::Mysql, 1);
    emitter.emit(Payload::Connected {
        server_version: "11".into(),
        took: Duration::from_millis(3),
    });
    caught_up(metrics.subscription());

    let body = http_get(exporter.local_addr(), "/metrics");
    assert_eq!(
        sample(
            &body,
            names::CONNECTS,
            &[("pool", "global"), ("backend", "mysql")]
        ),
        1.0,
        "{body}"
    );
    // The application's own metrics go to the same place.
    metrics::counter!("app_requests_total").increment(2);
    assert_eq!(sample(&exporter.render(), "app_requests_total", &[]), 2.0);
}
