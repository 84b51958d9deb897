//! A lease held past the leak threshold shows in the log and in the metrics.

mod support;

use std::time::Duration;

use support::{Capture, caught_up, sample};
use switchboard::{Bus, Checkout, Switchboard};
use switchboard_observe::metrics::names;
use switchboard_observe::{Exporter, Metrics, TracingLogger};
use tracing::Level;

#[test]
fn a_leak_is_logged_and_counted() {
    actix::System::new().block_on(async {
        let exporter = Exporter::builder()
            .listen("127.0.0.1:0")
            .start()
            .expect("exporter");
        let bus = Bus::new();
        let capture = Capture::default();
        let logger = TracingLogger::new()
            .dispatch(capture.dispatch(Level::INFO))
            .attach(&bus)
            .expect("logger");
        let metrics = Metrics::new()
            .recorder(exporter.recorder())
            .attach(&bus)
            .expect("metrics");
        let sb = Switchboard::builder("sqlite::memory:")
            .name("leaky")
            .leak_detection(Duration::from_millis(40))
            .bus(bus)
            .start()
            .await
            .expect("pool");

        let lease = sb
            .run_checkout(Checkout::new().label("request_id", "req-leak"))
            .await
            .expect("lease");
        let mut warned = Vec::new();
        for _ in 0..500 {
            caught_up(&logger);
            warned = capture.lines_with("possible connection leak");
            if !warned.is_empty() {
                break;
            }
            actix_rt::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(warned.len(), 1, "{}", capture.text());
        assert!(
            warned[0].starts_with(" WARN switchboard::pool"),
            "{}",
            warned[0]
        );
        assert!(warned[0].contains("req-leak"), "{}", warned[0]);
        assert!(warned[0].contains("pool=\"leaky\""), "{}", warned[0]);

        caught_up(metrics.subscription());
        let leaks = sample(
            &exporter.render(),
            names::LEAKS_SUSPECTED,
            &[("pool", "leaky"), ("backend", "sqlite")],
        );
        assert_eq!(leaks, 1.0, "{}", exporter.render());
        drop(lease);
        sb.shutdown().await.expect("shutdown");
    });
}
