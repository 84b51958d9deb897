//! A stalled log sink never slows a statement: the logger's events are
//! dropped instead, the log says how many, and the metrics count them per
//! subscriber.

mod support;

use std::io::Write;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use support::{Capture, caught_up, sample};
use switchboard::{Bus, Execute, Switchboard};
use switchboard_observe::metrics::names;
use switchboard_observe::{Exporter, Metrics, TracingLogger};
use tracing::{Dispatch, Level};
use tracing_subscriber::fmt::MakeWriter;

/// A log sink whose first write blocks until the test releases it.
#[derive(Clone)]
struct Stalled {
    gate: Arc<Barrier>,
    passed: Arc<std::sync::atomic::AtomicBool>,
    inner: Capture,
}

impl<'a> MakeWriter<'a> for Stalled {
    type Writer = Box<dyn Write + 'a>;
    fn make_writer(&'a self) -> Self::Writer {
        if !self.passed.swap(true, std::sync::atomic::Ordering::SeqCst) {
            self.gate.wait();
        }
        Box::new(self.inner.make_writer())
    }
}

const STATEMENTS: usize = 200;

#[test]
fn a_stalled_sink_drops_events_and_says_so() {
    actix::System::new().block_on(async {
        let exporter = Exporter::builder()
            .listen("127.0.0.1:0")
            .start()
            .expect("exporter");
        let bus = Bus::new();
        let gate = Arc::new(Barrier::new(2));
        let sink = Stalled {
            gate: gate.clone(),
            passed: Arc::default(),
            inner: Capture::default(),
        };
        let dispatch = Dispatch::new(
            tracing_subscriber::fmt()
                .with_writer(sink.clone())
                .with_max_level(Level::INFO)
                .without_time()
                .finish(),
        );
        let logger = TracingLogger::new()
            .config({
                let mut c = switchboard_observe::LoggerConfig::default();
                c.name = "stalled-log".into();
                c.capacity = 8;
                c
            })
            .dispatch(dispatch)
            .attach(&bus)
            .expect("logger");
        let metrics = Metrics::new()
            .recorder(exporter.recorder())
            .attach(&bus)
            .expect("metrics");
        let sb = Switchboard::builder("sqlite::memory:")
            .name("lossy")
            .bus(bus)
            .start()
            .await
            .expect("pool");

        let started = Instant::now();
        for _ in 0..STATEMENTS {
            sb.run(Execute::sql("SELECT 1")).await.expect("statement");
        }
        let took = started.elapsed();
        // The logger is stuck on its first line the whole time.
        assert!(
            took < Duration::from_secs(20),
            "statements waited for the log: {took:?}"
        );
        let dropped = logger.dropped();
        assert!(dropped > 0, "nothing was dropped");

        gate.wait();
        caught_up(&logger);
        // The notice comes in place of the missing events, once the logger
        // gets its next event after the gap.
        sb.run(Execute::sql("SELECT 2")).await.expect("statement");
        caught_up(&logger);
        let text = sink.inner.text();
        let notices = sink.inner.lines_with("events were dropped and not logged");
        let announced: u64 = notices
            .iter()
            .filter_map(|l| {
                l.split("dropped=")
                    .nth(1)?
                    .split_whitespace()
                    .next()?
                    .parse::<u64>()
                    .ok()
            })
            .sum();
        assert_eq!(announced, dropped, "{text}");

        caught_up(metrics.subscription());
        metrics.sample();
        let counted = sample(
            &exporter.render(),
            names::BUS_DROPPED,
            &[("subscriber", "stalled-log")],
        );
        assert_eq!(counted, dropped as f64);
        assert_eq!(
            sample(
                &exporter.render(),
                names::BUS_DROPPED,
                &[("subscriber", "metrics")]
            ),
            0.0
        );
        sb.shutdown().await.expect("shutdown");
    });
}
