use std::time::Duration;

use chrono::Duration as Span;
use serde_json::{Value, json};
use switchboard_core::{Backend, ErrorInfo, ErrorKind, Origin, Params, StatementClass};

use super::*;
use crate::testing::friday_10;

/// Recorded events, built from core's payload types with the metadata an
/// emitter would stamp on them.
#[derive(Default)]
struct Recording {
    next_id: u64,
    lines: Vec<String>,
}

impl Recording {
    fn push(
        &mut self,
        backend: Backend,
        connection: u64,
        secs: i64,
        labels: &[(&str, &str)],
        kind: Payload,
    ) -> &mut Self {
        self.next_id += 1;
        let mut event = serde_json::to_value(&kind).expect("payload serializes");
        let meta = json!({
            "id": self.next_id,
            "at": friday_10() + Span::seconds(secs),
            "pool": "app",
            "connection": connection,
            "seq": self.next_id,
            "backend": backend,
            "labels": labels.iter().copied().collect::<Labels>(),
        });
        if let (Value::Object(event), Value::Object(meta)) = (&mut event, meta) {
            event.extend(meta);
        }
        self.lines.push(event.to_string());
        self
    }

    fn executing(
        &mut self,
        backend: Backend,
        connection: u64,
        query_id: u64,
        secs: i64,
        labels: &[(&str, &str)],
        sql: &str,
    ) -> &mut Self {
        self.push(
            backend,
            connection,
            secs,
            labels,
            Payload::Executing {
                query_id,
                sql: sql.into(),
                params: Params::none(),
                class: StatementClass::Misc,
                origin: Origin::Execute,
            },
        )
    }

    fn executed(&mut self, connection: u64, query_id: u64, secs: i64) -> &mut Self {
        self.push(
            Backend::Postgres,
            connection,
            secs,
            &[],
            Payload::Executed {
                query_id,
                took: Duration::from_millis(3),
                rows: Some(1),
            },
        )
    }

    fn events(&self) -> Vec<Event> {
        self.lines
            .iter()
            .map(|l| Event::from_json(l).expect("valid event"))
            .collect()
    }

    fn text(&self) -> String {
        self.lines.join("\n")
    }
}

fn engine(text: &str) -> RuleEngine {
    RuleEngine::from_toml(text).expect("valid rules")
}

fn run(engine: &RuleEngine, recording: &Recording) -> ReplayReport {
    replay(engine, recording.events().into_iter().map(Ok::<_, String>))
}

#[test]
fn replay_reports_what_would_be_denied() {
    let e = engine(
        "[[rule]]\nname = \"no-unbounded-delete\"\nkind = \"require_where\"\n\n[[rule]]\nname = \"pay\"\nkind = \"deny_tables\"\ntables = [\"payroll\"]\nwhen = { tenant = \"acme\" }\n",
    );
    let mut rec = Recording::default();
    rec.executing(
        Backend::Postgres,
        1,
        10,
        0,
        &[("tenant", "acme")],
        "SELECT 1",
    )
    .executed(1, 10, 0)
    .executing(
        Backend::Postgres,
        1,
        11,
        5,
        &[("tenant", "acme")],
        "DELETE FROM orders",
    )
    .executed(1, 11, 5)
    .executing(
        Backend::Postgres,
        2,
        12,
        9,
        &[("tenant", "acme")],
        "SELECT * FROM payroll",
    )
    .executing(
        Backend::Postgres,
        2,
        13,
        9,
        &[("tenant", "globex")],
        "SELECT * FROM payroll",
    );
    let report = run(&e, &rec);
    assert_eq!(report.events, 6);
    assert_eq!(report.statements, 4);
    assert_eq!(report.would_deny_total, 2);
    let first = &report.would_deny[0];
    assert_eq!(first.event_id, 3);
    assert_eq!(first.query_id, 11);
    assert_eq!(first.at, friday_10() + Span::seconds(5));
    assert_eq!(first.labels.get("tenant"), Some("acme"));
    assert_eq!(&*first.sql, "DELETE FROM orders");
    assert_eq!(first.rule, Decider::Rule("no-unbounded-delete".into()));
    assert_eq!(
        first.reason,
        "rule \"no-unbounded-delete\": DELETE without WHERE"
    );
    assert_eq!(
        report.would_deny[1].reason,
        "rule \"pay\": table payroll is denied for tenant=acme"
    );
    assert_eq!(
        report.per_rule["pay"],
        RuleCounts {
            denied: 1,
            shadow: 0
        }
    );
    assert_eq!(report.per_rule["no-unbounded-delete"].denied, 1);
    assert_eq!(report.malformed_total, 0);
}

#[test]
fn statements_are_classified_in_their_backends_dialect() {
    let e = engine("[[rule]]\nname = \"pay\"\nkind = \"deny_tables\"\ntables = [\"hr.payroll\"]\n");
    let sql = "DELETE FROM `hr`.`payroll` WHERE id = ?";
    let mut rec = Recording::default();
    rec.executing(Backend::Mysql, 1, 1, 0, &[], sql)
        .executing(Backend::Sqlite, 2, 2, 0, &[], "SELECT * FROM `HR`.payroll")
        .executing(Backend::Postgres, 3, 3, 0, &[], sql);
    let report = run(&e, &rec);
    let rules: Vec<(&str, &str)> = report
        .would_deny
        .iter()
        .map(|d| (d.rule.name(), d.reason.as_str()))
        .collect();
    assert_eq!(
        rules[0],
        ("pay", "rule \"pay\": table hr.payroll is denied")
    );
    assert_eq!(
        rules[1],
        ("pay", "rule \"pay\": table hr.payroll is denied"),
        "SQLite names are reported folded"
    );
    assert_eq!(
        rules[2].0, "on_parse_error",
        "backticks are not PostgreSQL: {rules:?}"
    );
    assert_eq!(report.per_rule["on_parse_error"].denied, 1);
}

#[test]
fn time_rules_use_the_events_time() {
    let e = engine(
        "[[rule]]\nname = \"night\"\nkind = \"time_window\"\nfrom = \"22:00\"\nto = \"06:00\"\n",
    );
    let mut rec = Recording::default();
    rec.executing(Backend::Postgres, 1, 1, 0, &[], "SELECT 1")
        .executing(Backend::Postgres, 1, 2, 13 * 3600, &[], "SELECT 2");
    let report = run(&e, &rec);
    assert_eq!(report.would_deny_total, 1);
    assert_eq!(report.would_deny[0].query_id, 2);
}

#[test]
fn concurrency_places_are_held_until_the_statement_ends() {
    let e = engine(
        "[[rule]]\nname = \"one\"\nkind = \"max_concurrent\"\nlabel = \"tenant\"\nmax = 1\n",
    );
    let acme = [("tenant", "acme")];
    let mut rec = Recording::default();
    rec.executing(Backend::Postgres, 1, 1, 0, &acme, "SELECT 1")
        .executing(Backend::Postgres, 2, 2, 0, &acme, "SELECT 2") // 1 in flight: denied
        .executed(1, 1, 1)
        .executing(Backend::Postgres, 2, 3, 1, &acme, "SELECT 3") // allowed, in flight
        .push(
            Backend::Postgres,
            2,
            2,
            &acme,
            Payload::ExecuteFailed {
                query_id: 3,
                took: Duration::from_millis(1),
                error: ErrorInfo::new(ErrorKind::Database, None, "boom"),
            },
        )
        .executing(Backend::Postgres, 1, 4, 3, &acme, "SELECT 4") // allowed, in flight
        .push(
            Backend::Postgres,
            1,
            4,
            &[],
            Payload::Closed {
                lifetime: Duration::from_secs(9),
                statements: 3,
            },
        )
        .executing(Backend::Postgres, 3, 5, 5, &acme, "SELECT 5") // allowed: conn 1 closed
        .push(
            Backend::Postgres,
            3,
            6,
            &acme,
            Payload::Denied {
                query_id: Some(5),
                guard: "other".into(),
                reason: "no".into(),
            },
        )
        .executing(Backend::Postgres, 3, 6, 7, &acme, "SELECT 6") // allowed: 5 was denied
        .executing(Backend::Postgres, 4, 7, 7, &acme, "SELECT 7"); // denied: 6 in flight
    let report = run(&e, &rec);
    let denied: Vec<u64> = report.would_deny.iter().map(|d| d.query_id).collect();
    assert_eq!(denied, [2, 7]);
    assert_eq!(report.statements, 7);
}

#[test]
fn shadow_reports_are_counted_per_rule() {
    let e = engine("shadow = true\n[[rule]]\nname = \"where\"\nkind = \"require_where\"\n");
    let mut rec = Recording::default();
    rec.executing(Backend::Sqlite, 1, 1, 0, &[], "DELETE FROM t")
        .executing(Backend::Sqlite, 1, 2, 0, &[], "UPDATE t SET a = 1");
    let report = run(&e, &rec);
    assert_eq!(report.would_deny_total, 0);
    assert_eq!(report.shadow_total, 2);
    assert_eq!(
        report.shadow[1].reason,
        "rule \"where\": UPDATE without WHERE"
    );
    assert_eq!(
        report.per_rule["where"],
        RuleCounts {
            denied: 0,
            shadow: 2
        }
    );
}

#[test]
fn malformed_lines_are_reported_with_their_numbers() {
    let e = engine("[[rule]]\nkind = \"require_where\"\n");
    let mut rec = Recording::default();
    rec.executing(Backend::Postgres, 1, 1, 0, &[], "DELETE FROM t");
    let text = format!(
        "{}\n\nnot json\n{{\"kind\":\"Executing\"}}\n{}\n",
        rec.text(),
        rec.text()
    );
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\xff\xfe\n");
    let report = replay_jsonl(&e, bytes.as_slice()).expect("reads");
    assert_eq!(report.statements, 2);
    assert_eq!(report.would_deny_total, 2);
    let lines: Vec<u64> = report.malformed.iter().map(|m| m.line).collect();
    assert_eq!(lines, [3, 4, 6]);
    assert!(
        report.malformed[2].error.starts_with("not UTF-8"),
        "{:?}",
        report.malformed[2]
    );
}

#[test]
fn replay_numbers_errors_by_position() {
    let e = engine("");
    let items: Vec<Result<Event, &str>> = vec![Err("bad"), Err("worse")];
    let report = replay(&e, items);
    assert_eq!(report.malformed_total, 2);
    assert_eq!(
        report.malformed[1],
        Malformed {
            line: 2,
            error: "worse".into()
        }
    );
}

#[test]
fn reports_keep_a_bounded_number_of_entries() {
    let e = engine("[[rule]]\nkind = \"require_where\"\n");
    let mut rec = Recording::default();
    for q in 0..5 {
        rec.executing(Backend::Postgres, 1, q, 0, &[], "DELETE FROM t");
    }
    let mut replay = Replay::new(&e).keep(2);
    for event in rec.events() {
        replay.event(&event);
    }
    let report = replay.finish();
    assert_eq!(report.would_deny.len(), 2);
    assert_eq!(report.would_deny_total, 5);
}
