//! Bind values stay out of the log unless the logger is asked to show them,
//! even when the pool puts them in its events.

mod support;

use support::{Capture, caught_up};
use switchboard::diesel::sql_types::Text;
use switchboard::{Bus, Execute, ParamPolicy, Switchboard};
use switchboard_observe::{ParamDisplay, TracingLogger};
use tracing::Level;

const SENTINEL: &str = "sentinel-value-7f3a";

#[test]
fn a_redacting_logger_never_prints_a_plain_parameter() {
    actix::System::new().block_on(async {
        let bus = Bus::new();
        let redacted = Capture::default();
        let shown = Capture::default();
        // Both at TRACE, the most verbose: everything they would ever print.
        let redacting = TracingLogger::new()
            .dispatch(redacted.dispatch(Level::TRACE))
            .attach(&bus)
            .expect("attach");
        let showing = TracingLogger::new()
            .params(ParamDisplay::Plain)
            .dispatch(shown.dispatch(Level::TRACE))
            .attach(&bus)
            .expect("attach");
        let sb = Switchboard::builder("sqlite::memory:")
            .params(ParamPolicy::Plain)
            .bus(bus)
            .start()
            .await
            .expect("pool");
        sb.run(Execute::sql("SELECT ? AS v").bind::<Text, _>(SENTINEL))
            .await
            .expect("statement");
        caught_up(&redacting);
        caught_up(&showing);

        let text = redacted.text();
        assert!(!text.contains(SENTINEL), "a parameter was printed:\n{text}");
        assert!(text.contains("params=\"[Text]\""), "{text}");
        // The event did carry the value: a logger asked to show it does.
        assert!(shown.text().contains(SENTINEL), "{}", shown.text());
        sb.shutdown().await.expect("shutdown");
    });
}
