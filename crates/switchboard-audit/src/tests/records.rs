//! What records hold: statement fields, one outcome per statement,
//! parameters as configured, only the classes and kinds asked for.

use switchboard_core::{ErrorKind, Kind, Labels, ParamValue, Params, StatementClass};

use super::{Conn, End, TempDir, WAIT, attached, block_on, records};
use crate::{AuditLog, Builder, Outcome, ParamDisplay, Record};

fn recorded(builder: Builder, body: impl AsyncFnOnce(&Conn)) -> Vec<Record> {
    let dir = builder.to_config().dir;
    block_on(async {
        let (log, bus) = attached(builder);
        let conn = Conn::new(&bus, 7);
        body(&conn).await;
        log.close(WAIT).await.unwrap();
    });
    records(&dir)
}

fn params(values: &[&str]) -> Params {
    Params(
        values
            .iter()
            .map(|v| ParamValue::Plain {
                sql_type: "Text".into(),
                value: format!("{v:?}"),
            })
            .collect::<Vec<_>>()
            .into(),
    )
}

#[test]
fn a_statement_has_an_executing_record_and_one_outcome_record() {
    let dir = TempDir::new("fields");
    let recs = recorded(AuditLog::builder(dir.path()), async |c| {
        c.set_labels(Labels::new().with("tenant", "acme").with("user", "ann"));
        let sql = "UPDATE shop.orders SET paid = 1 WHERE id = ?";
        c.run(sql, StatementClass::Write, params(&["7"]), End::Runs)
            .await
            .unwrap();
        c.run(
            "SELECT * FROM nope",
            StatementClass::Read,
            Params::none(),
            End::Fails,
        )
        .await
        .unwrap();
        c.run(
            "DROP TABLE users",
            StatementClass::Ddl,
            Params::none(),
            End::Denied,
        )
        .await
        .unwrap();
    });
    let kinds: Vec<Kind> = recs.iter().map(|r| r.kind).collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
            Executing,
            Executed,
            Executing,
            ExecuteFailed,
            Executing,
            Denied
        ]
    );

    let (ex, done) = (&recs[0], &recs[1]);
    assert_eq!(ex.class, Some(StatementClass::Write));
    assert_eq!(ex.operation.as_deref(), Some("UPDATE"));
    assert_eq!(ex.tables.as_deref(), Some(&["shop.orders".to_owned()][..]));
    assert_eq!(
        ex.sql.as_deref(),
        Some("UPDATE shop.orders SET paid = 1 WHERE id = ?")
    );
    assert_eq!(ex.labels.get("tenant"), Some("acme"));
    assert_eq!(ex.connection, Some(7));
    assert_eq!(ex.pool.as_ref(), "pool");
    let p = &ex.params.as_ref().unwrap()[0];
    assert_eq!(
        (p.sql_type.as_str(), &p.value, &p.hmac),
        ("Text", &None, &None)
    );

    assert_eq!(done.query_id, ex.query_id);
    assert_eq!(done.class, Some(StatementClass::Write));
    assert_eq!(done.outcome, Some(Outcome::Executed));
    assert_eq!((done.rows, done.took_ns), (Some(1), Some(50_000)));
    assert_eq!(done.labels.get("user"), Some("ann"));

    assert_eq!(recs[3].outcome, Some(Outcome::Failed));
    assert_eq!(recs[3].error.as_ref().unwrap().kind, ErrorKind::Database);
    assert_eq!(recs[5].outcome, Some(Outcome::Denied));
    assert_eq!(recs[5].class, Some(StatementClass::Ddl));
    assert_eq!(recs[5].guard.as_deref(), Some("no"));
    assert_eq!(recs[5].reason.as_deref(), Some("not today"));
}

#[test]
fn hashed_parameters_correlate_without_revealing() {
    let dir = TempDir::new("hash");
    let mode = ParamDisplay::Hashed {
        key: b"k3y".to_vec(),
    };
    let recs = recorded(AuditLog::builder(dir.path()).params(mode), async |c| {
        let sql = "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?";
        c.run(
            sql,
            StatementClass::Read,
            params(&["secret", "secret", "other"]),
            End::Runs,
        )
        .await
        .unwrap();
    });
    let ps = recs[0].params.clone().unwrap();
    let hmacs: Vec<&str> = ps.iter().map(|p| p.hmac.as_deref().unwrap()).collect();
    assert_eq!(hmacs[0], hmacs[1]);
    assert_ne!(hmacs[0], hmacs[2]);
    assert_eq!(hmacs[0].len(), 64);
    assert!(ps.iter().all(|p| p.value.is_none()));
    let line = std::fs::read_to_string(&super::files(dir.path())[0]).unwrap();
    assert!(!line.contains("secret"));
}

#[test]
fn plain_parameters_only_when_configured() {
    let dir = TempDir::new("plain");
    let recs = recorded(
        AuditLog::builder(dir.path()).params(ParamDisplay::Plain),
        async |c| {
            c.run("SELECT ?", StatementClass::Read, params(&["v"]), End::Runs)
                .await
                .unwrap();
        },
    );
    let p = &recs[0].params.as_ref().unwrap()[0];
    assert_eq!(p.value.as_deref(), Some("\"v\""));
}

#[test]
fn only_the_configured_classes_and_kinds_are_recorded() {
    let dir = TempDir::new("classes");
    let builder = AuditLog::builder(dir.path())
        .classes([StatementClass::Ddl, StatementClass::Write])
        .kinds([Kind::Executed, Kind::ExecuteFailed, Kind::Denied]);
    let recs = recorded(builder, async |c| {
        for (sql, class) in [
            ("SELECT 1", StatementClass::Read),
            ("CREATE TABLE t (a INT)", StatementClass::Ddl),
            ("INSERT INTO t VALUES (1)", StatementClass::Write),
            ("SET x = 1", StatementClass::Misc),
        ] {
            c.run(sql, class, Params::none(), End::Runs).await.unwrap();
        }
    });
    let got: Vec<(Kind, Option<StatementClass>)> = recs.iter().map(|r| (r.kind, r.class)).collect();
    assert_eq!(
        got,
        [
            (Kind::Executed, Some(StatementClass::Ddl)),
            (Kind::Executed, Some(StatementClass::Write)),
        ]
    );
}

#[test]
fn connection_events_are_recorded_with_their_details() {
    let dir = TempDir::new("conn");
    let recs = recorded(AuditLog::builder(dir.path()), async |c| {
        c.emitter.emit(switchboard_core::Payload::Connected {
            server_version: "3.50".into(),
            took: std::time::Duration::from_millis(2),
        });
        c.emitter.emit(switchboard_core::Payload::Denied {
            query_id: None,
            guard: "hours".into(),
            reason: "closed at night".into(),
        });
    });
    assert_eq!(recs[0].kind, Kind::Connected);
    assert_eq!(recs[0].detail.as_ref().unwrap()["server_version"], "3.50");
    assert_eq!(recs[1].outcome, Some(Outcome::Denied));
    assert_eq!(recs[1].query_id, None);
    assert_eq!(recs[1].class, None);
}
