//! A tap records what a subscriber would, and `sample_only` takes no
//! events.

use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder};
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

/// The lines of the families a tap may keep, sorted.
fn kept_lines(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .filter(|l| kept::FAMILIES.iter().any(|f| l.contains(f)))
        .map(str::to_owned)
        .collect();
    lines.sort();
    lines
}

#[test]
fn a_keeping_tap_renders_what_the_recorder_would() {
    let bounds = [0.000_01, 0.000_1, 0.001, 0.01];
    let recorder = || {
        PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Prefix("switchboard_".into()), &bounds)
            .unwrap()
            .build_recorder()
    };
    let plain = recorder();
    let plain_text = plain.handle();
    let mut recorded = Metrics::new().recorder(Arc::new(plain)).tap();
    let keeping = recorder();
    let keeping_text = keeping.handle();
    let mut kept = Metrics::new().recorder(Arc::new(keeping)).tap().kept(&[
        0.01,
        0.001,
        f64::NAN,
        0.000_1,
        0.000_01,
    ]);
    assert!(recorded.kept_metrics().is_none());

    let bus = Bus::new();
    let emitter = Emitter::new(bus.clone(), Arc::from("kept\"pool"), Backend::Sqlite, 1);
    let mut events = Vec::new();
    for q in 1..=3 {
        events.push(emitter.publish(Payload::CheckedOut {
            waited: Duration::from_micros(q * 7),
        }));
        events.extend(statement(&emitter, q));
        events.push(emitter.publish(Payload::CheckedIn {
            held: Duration::from_millis(q * 4),
        }));
    }
    // Every outcome, and a bucket edge: 10 µs is counted at `le="0.00001"`.
    events.push(emitter.publish(Payload::Executed {
        query_id: 40,
        took: Duration::from_micros(10),
        rows: None,
    }));
    events.push(emitter.publish(Payload::ExecuteFailed {
        query_id: 41,
        took: Duration::from_millis(2),
        error: switchboard_core::ErrorInfo::new(switchboard_core::ErrorKind::Database, None, "no"),
    }));
    events.push(emitter.publish(Payload::Denied {
        query_id: Some(42),
        guard: "rules".into(),
        reason: "no".into(),
    }));
    for event in &events {
        recorded.record(event);
        kept.record(event);
    }

    let mut text = keeping_text.render();
    // The recorder holds none of the kept families, only the rest.
    assert!(kept_lines(&text).is_empty(), "{text}");
    assert!(text.contains(names::STATEMENT_ERRORS), "{text}");
    Kept::render([kept.kept_metrics().unwrap()], &mut text);
    let expected = kept_lines(&plain_text.render());
    assert!(
        expected.iter().any(|l| l.contains(r#"outcome="denied""#)),
        "{expected:#?}"
    );
    assert!(
        expected.iter().any(|l| l.contains(r#"le="0.00001""#)
            && l.contains(r#"class="unknown""#)
            && l.ends_with(" 1")),
        "{expected:#?}"
    );
    assert_eq!(kept_lines(&text), expected);
}

#[test]
fn kept_families_are_rendered_once_for_several_taps() {
    let taps: Vec<MetricsTap> = ["a", "b"]
        .into_iter()
        .map(|pool| {
            let recorder: SharedRecorder = Arc::new(PrometheusBuilder::new().build_recorder());
            let mut tap = Metrics::new().recorder(recorder).tap().kept(&[0.001]);
            let bus = Bus::new();
            let emitter = Emitter::new(bus, Arc::from(pool), Backend::Sqlite, 1);
            for event in statement(&emitter, 1) {
                tap.record(&event);
            }
            tap
        })
        .collect();
    let mut text = String::new();
    Kept::render(taps.iter().filter_map(MetricsTap::kept_metrics), &mut text);
    for family in [names::STATEMENT_DURATION, names::STATEMENTS] {
        let heads = text
            .lines()
            .filter(|l| l.starts_with(&format!("# TYPE {family} ")))
            .count();
        assert_eq!(heads, 1, "{text}");
    }
    for pool in ["a", "b"] {
        let count = format!(
            r#"{}{{pool="{pool}",backend="sqlite",class="write",outcome="ok"}} 1"#,
            names::STATEMENTS
        );
        assert!(text.lines().any(|l| l == count), "{count} in\n{text}");
    }
}

#[test]
fn one_pool_name_on_two_backends_is_counted_apart() {
    // The recorder's last-pool cache is found by the name's address and
    // the backend: two emitters share one name (the same `Arc`) on two
    // backends, their events interleaved so that the cache switches at
    // every event, through a recording tap and a keeping one.
    let plain = PrometheusBuilder::new().build_recorder();
    let plain_text = plain.handle();
    let mut recorded = Metrics::new().recorder(Arc::new(plain)).tap();
    let keeping = PrometheusBuilder::new().build_recorder();
    let mut kept = Metrics::new()
        .recorder(Arc::new(keeping))
        .tap()
        .kept(&[0.001]);
    let bus = Bus::new();
    let name: Arc<str> = Arc::from("main");
    let pg = Emitter::new(bus.clone(), name.clone(), Backend::Postgres, 1);
    let sqlite = Emitter::new(bus.clone(), name, Backend::Sqlite, 2);
    let mut events = Vec::new();
    for q in 1..=5u64 {
        events.push(pg.publish(Payload::CheckedOut {
            waited: Duration::from_micros(1),
        }));
        events.push(sqlite.publish(Payload::CheckedOut {
            waited: Duration::from_micros(1),
        }));
        let [pg_start, pg_end] = statement(&pg, q);
        let [lite_start, lite_end] = statement(&sqlite, 100 + q);
        events.extend([pg_start, lite_start, pg_end]);
        // SQLite runs two statements for each of PostgreSQL's.
        events.push(lite_end);
        events.extend(statement(&sqlite, 200 + q));
    }
    for event in &events {
        recorded.record(event);
        kept.record(event);
    }
    let mut text = String::new();
    Kept::render([kept.kept_metrics().unwrap()], &mut text);
    for body in [plain_text.render(), text] {
        let value = |family: &str, backend: &str| {
            body.lines()
                .find(|l| {
                    l.starts_with(family)
                        && !l.starts_with(&format!("{family}_"))
                        && l.contains(&format!(r#"backend="{backend}""#))
                        && l.contains(r#"pool="main""#)
                })
                .unwrap_or_else(|| panic!("no {family} of {backend} in\n{body}"))
                .rsplit(' ')
                .next()
                .unwrap()
                .to_owned()
        };
        assert_eq!(value(names::STATEMENTS, "postgresql"), "5", "{body}");
        assert_eq!(value(names::STATEMENTS, "sqlite"), "10", "{body}");
        let waits = format!("{}_count", names::CHECKOUT_WAIT);
        assert_eq!(value(&waits, "postgresql"), "5", "{body}");
        assert_eq!(value(&waits, "sqlite"), "5", "{body}");
    }
}
