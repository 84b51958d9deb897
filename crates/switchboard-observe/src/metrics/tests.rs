//! A tap records what a subscriber would, and `sample_only` takes no
//! events.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::PrometheusBuilder;
use switchboard_core::{Backend, Bus, Emitter, Kind, Origin, Params, Payload, StatementClass};

use super::*;

fn statement(emitter: &Emitter, query_id: u64) -> [Event; 2] {
    [
        emitter.publish(Payload::Executing {
            query_id,
            sql: Arc::from("INSERT INTO t VALUES (1)"),
            params: Params::none(),
            class: StatementClass::Write,
            origin: Origin::Execute,
        }),
        emitter.publish(Payload::Executed {
            query_id,
            took: Duration::from_micros(40),
            rows: Some(1),
        }),
    ]
}

#[test]
fn a_tap_records_statements_and_sample_only_takes_no_events() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let render = recorder.handle();
    let recorder: SharedRecorder = Arc::new(recorder);
    let recorder_again = recorder.clone();
    let bus = Bus::new();
    let metrics = Metrics::new().recorder(recorder);
    let mut tap = metrics.tap();
    let handle = metrics.sample_only(&bus).unwrap();
    let emitter = Emitter::new(bus.clone(), Arc::from("tapped"), Backend::Sqlite, 1);
    // A second pool's statements, interleaved, counted apart (its name a
    // string of its own, equal to none of the first's).
    let second = Emitter::new(bus.clone(), Arc::from("second"), Backend::Sqlite, 3);
    for q in 1..=3 {
        for event in statement(&emitter, q) {
            tap.record(&event);
        }
        if q < 3 {
            for event in statement(&second, 100 + q) {
                tap.record(&event);
            }
        }
    }
    let body = render.render();
    let count = |pool: &str| {
        body.lines()
            .find(|l| {
                l.starts_with(names::STATEMENTS)
                    && l.contains(&format!(r#"pool="{pool}""#))
                    && l.contains(r#"class="write""#)
                    && l.contains(r#"outcome="ok""#)
            })
            .unwrap_or_else(|| panic!("no statement count of {pool} in\n{body}"))
            .to_owned()
    };
    assert!(count("tapped").ends_with(" 3"), "{body}");
    assert!(count("second").ends_with(" 2"), "{body}");
    // Ten events were published on the bus; the sampler's subscription
    // was handed none of them.
    let stats = bus.subscription_stats(handle.subscription().id()).unwrap();
    assert_eq!((stats.delivered, stats.dropped), (0, 0));
    drop(handle);
    assert!(bus.stats().is_empty());

    // A tap keeps its subscriber's filter.
    let mut only_checkouts = Metrics::new()
        .recorder(recorder_again)
        .filter(Filter::kinds([Kind::CheckedOut]))
        .tap();
    let other = Emitter::new(bus.clone(), Arc::from("filtered"), Backend::Sqlite, 2);
    for event in statement(&other, 9) {
        only_checkouts.record(&event);
    }
    assert!(
        !render.render().contains(r#"pool="filtered""#),
        "{}",
        render.render()
    );
}

#[test]
fn a_deferred_tap_holds_the_hot_samples_until_they_are_applied() {
    let recorder = PrometheusBuilder::new().build_recorder();
    let render = recorder.handle();
    let recorder: SharedRecorder = Arc::new(recorder);
    let mut tap = Metrics::new().recorder(recorder).tap().deferred();
    let bus = Bus::new();
    let emitter = Emitter::new(bus.clone(), Arc::from("deferred"), Backend::Sqlite, 1);
    // Statements counted, of every class (those below have no
    // `Executing`: class `unknown`).
    let count = || -> u64 {
        render
            .render()
            .lines()
            .filter(|l| {
                l.starts_with(&format!("{} ", names::STATEMENTS))
                    || l.starts_with(&format!("{}{{", names::STATEMENTS))
            })
            .filter(|l| l.contains(r#"pool="deferred""#) && l.contains(r#"outcome="ok""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
            .sum()
    };
    for q in 1..=3 {
        for event in statement(&emitter, q) {
            tap.record(&event);
        }
    }
    // Registered, but nothing counted yet.
    assert_eq!(count(), 0);
    tap.take_deferred().expect("held samples").apply();
    assert_eq!(count(), 3);
    assert!(tap.take_deferred().is_none(), "taken twice");

    // Nobody takes them: past its bound the tap records them itself, and
    // what it holds stays bounded.
    for q in 0..(MAX_DEFERRED as u64 + 10) {
        tap.record(&emitter.publish(Payload::Executed {
            query_id: 1_000 + q,
            took: Duration::from_micros(5),
            rows: None,
        }));
    }
    let counted = count();
    assert!(counted >= MAX_DEFERRED as u64, "{counted}");
    let rest = tap.take_deferred().expect("the rest");
    assert!(rest.samples.len() < MAX_DEFERRED);
    rest.apply();
    assert_eq!(count(), 3 + MAX_DEFERRED as u64 + 10);
}
