//! The bytes of a record line: every kind of event, every parameter mode
//! and timestamp precision give the line they always gave (a change here
//! changes what `verify` and readers of old logs see).

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use switchboard_core::{
    Backend, CloseReason, ErrorInfo, ErrorKind, Event, Labels, Origin, ParamValue, Params, Payload,
    StatementClass,
};

use crate::chain::Digest256;
use crate::config::ParamDisplay;
use crate::record::{Record, Recorder};

fn at(nanos: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 2, 10, 15, 3).unwrap()
        + chrono::Duration::nanoseconds(i64::from(nanos))
}

fn event(id: u64, nanos: u32, labels: Labels, kind: Payload) -> Event {
    // `Meta` cannot be built outside the core: go through the event's JSON.
    let mut json = serde_json::to_value(&kind).unwrap();
    let map = json.as_object_mut().unwrap();
    map.insert("id".into(), id.into());
    map.insert("at".into(), serde_json::to_value(at(nanos)).unwrap());
    map.insert("pool".into(), "app".into());
    map.insert("connection".into(), 3.into());
    map.insert("seq".into(), (id + 10).into());
    map.insert(
        "backend".into(),
        serde_json::to_value(Backend::Postgres).unwrap(),
    );
    map.insert("labels".into(), serde_json::to_value(&labels).unwrap());
    let event = Event::from_json(&json.to_string()).unwrap();
    assert_eq!(event.meta().at, at(nanos));
    event
}

fn params() -> Params {
    Params(Arc::from(vec![
        ParamValue::Plain {
            sql_type: "Integer".into(),
            value: "5".into(),
        },
        ParamValue::Redacted {
            sql_type: "Text".into(),
        },
        ParamValue::Plain {
            sql_type: "Text".into(),
            value: "\"bob \\\"quoted\\\"\"".into(),
        },
    ]))
}

/// Every kind the log records, with the class the writer gives it.
fn events() -> Vec<(Event, Option<StatementClass>)> {
    let labels = Labels::new().with("tenant", "acme").with("user", "ann\"e");
    let error = ErrorInfo::new(
        ErrorKind::Database,
        Some("23505".into()),
        "duplicate key \"x\"",
    );
    let q = Some(StatementClass::Write);
    vec![
        (
            event(
                1,
                0,
                labels.clone(),
                Payload::Executing {
                    query_id: 88,
                    sql: Arc::from("INSERT INTO shop.orders (id, note) VALUES ($1, 'a\tb')"),
                    params: params(),
                    class: StatementClass::Write,
                    origin: Origin::Execute,
                },
            ),
            q,
        ),
        (
            event(
                2,
                120_000_000,
                labels.clone(),
                Payload::Executed {
                    query_id: 88,
                    took: Duration::from_nanos(81_234),
                    rows: Some(1),
                },
            ),
            q,
        ),
        (
            event(
                3,
                120_456_000,
                Labels::new(),
                Payload::Executing {
                    query_id: 89,
                    sql: Arc::from("SELEC nonsense"),
                    params: Params::none(),
                    class: StatementClass::Misc,
                    origin: Origin::Load,
                },
            ),
            Some(StatementClass::Misc),
        ),
        (
            event(
                4,
                120_456_789,
                Labels::new(),
                Payload::ExecuteFailed {
                    query_id: 89,
                    took: Duration::from_micros(5),
                    error: error.clone(),
                },
            ),
            Some(StatementClass::Misc),
        ),
        (
            event(
                5,
                7,
                labels.clone(),
                Payload::Executed {
                    query_id: 90,
                    took: Duration::ZERO,
                    rows: None,
                },
            ),
            Some(StatementClass::Read),
        ),
        (
            event(
                6,
                0,
                labels.clone(),
                Payload::Denied {
                    query_id: Some(91),
                    guard: "rules".into(),
                    reason: "rule \"no-ddl\": DDL is refused".into(),
                },
            ),
            Some(StatementClass::Ddl),
        ),
        (
            event(
                7,
                0,
                Labels::new(),
                Payload::Denied {
                    query_id: None,
                    guard: "hours".into(),
                    reason: "closed at night".into(),
                },
            ),
            None,
        ),
        (
            event(
                8,
                0,
                labels.clone(),
                Payload::ShadowDenied {
                    query_id: Some(92),
                    guard: "rules".into(),
                    reason: "would deny".into(),
                },
            ),
            Some(StatementClass::Read),
        ),
        (
            event(
                9,
                0,
                labels,
                Payload::Rewritten {
                    query_id: 92,
                    guard: "limit".into(),
                    reason: "added a LIMIT".into(),
                    sql: Arc::from("SELECT * FROM users LIMIT 100"),
                },
            ),
            Some(StatementClass::Read),
        ),
        (
            event(
                10,
                0,
                Labels::new(),
                Payload::Connected {
                    server_version: "15.20".into(),
                    took: Duration::from_millis(2),
                },
            ),
            None,
        ),
        (
            event(
                11,
                0,
                Labels::new(),
                Payload::ConnectFailed {
                    error: error.clone(),
                    attempt: 2,
                    retry_in: Some(Duration::from_millis(250)),
                },
            ),
            None,
        ),
        (
            event(12, 0, Labels::new(), Payload::Invalidated { error }),
            None,
        ),
        (
            event(
                13,
                0,
                Labels::new(),
                Payload::Closing {
                    reason: CloseReason::Idle,
                },
            ),
            None,
        ),
        (
            event(
                14,
                0,
                Labels::new(),
                Payload::Closed {
                    lifetime: Duration::from_secs(3),
                    statements: 12,
                },
            ),
            None,
        ),
        (
            event(15, 0, Labels::new(), Payload::TxBegin { depth: 1 }),
            None,
        ),
    ]
}

fn modes() -> Vec<(&'static str, ParamDisplay)> {
    vec![
        ("redact", ParamDisplay::Redacted),
        ("plain", ParamDisplay::Plain),
        (
            "hash",
            ParamDisplay::Hashed {
                key: b"k3y".to_vec(),
            },
        ),
    ]
}

/// The line the recorder writes for `event` (unsealed).
fn line(recorder: &Recorder, event: &Event, class: Option<StatementClass>, n: u64) -> String {
    let prev = Digest256::of(&n.to_le_bytes());
    let mut out = Vec::new();
    recorder.write(&mut out, event, class, n, prev).unwrap();
    String::from_utf8(out).unwrap()
}

/// What the log wrote for [`events`] before it wrote lines straight from
/// events (it built an owned `Record` and serialized that), one
/// `<params mode>\t<line>` per line.
const GOLDEN: &str = include_str!("lines.golden");

#[test]
fn every_kind_of_record_keeps_its_bytes() {
    let mut golden = GOLDEN.lines();
    for (name, mode) in modes() {
        let recorder = Recorder::new(&mode);
        for (n, (event, class)) in events().iter().enumerate() {
            let expected = golden.next().unwrap();
            let got = format!("{name}\t{}", line(&recorder, event, *class, n as u64));
            assert_eq!(got, expected, "event {n}, params {name}");
        }
    }
    assert_eq!(golden.next(), None);
}

#[test]
fn a_parsed_record_serializes_to_the_line_it_came_from() {
    let recorder = Recorder::new(&ParamDisplay::Hashed {
        key: b"k3y".to_vec(),
    });
    for (n, (event, class)) in events().iter().enumerate() {
        let written = line(&recorder, event, *class, n as u64);
        let parsed = Record::parse(written.as_bytes()).unwrap();
        assert_eq!(
            serde_json::to_string(&parsed).unwrap(),
            written,
            "event {n}"
        );
    }
}
