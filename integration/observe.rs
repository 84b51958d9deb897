//! The TracingLogger and Metrics subscribers against real servers: the log
//! line's OpenTelemetry attributes come from the real (redacted) target,
//! metric counts equal the statement events, and a password in the URL is
//! never printed.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use diesel::sql_types::{Integer, Text};
use switchboard::Subscription;
use switchboard::{DbConnection, Event, Execute, Filter, Interact, Payload, Switchboard};
use switchboard_core::testing::eventually;
use switchboard_observe::metrics::names;
use switchboard_observe::{Exporter, Metrics, TracingLogger};
use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::each_backend;
use crate::support::{Db, Target, create_table, drain, drop_table, observed, server_url};

const SENTINEL: &str = "Sentinel-Pw-0b5e77";

/// What the logger printed, as text.
#[derive(Clone, Default)]
struct Printed(Arc<Mutex<Vec<u8>>>);

impl Write for Printed {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl MakeWriter<'_> for Printed {
    type Writer = Printed;
    fn make_writer(&self) -> Printed {
        self.clone()
    }
}

impl Printed {
    fn logger(&self, level: LevelFilter) -> TracingLogger {
        TracingLogger::new().dispatch(
            tracing_subscriber::fmt()
                .with_writer(self.clone())
                .with_max_level(level)
                .without_time()
                .finish(),
        )
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Waits until a subscriber has handled everything queued for it.
async fn caught_up(attached: &Subscription) {
    eventually(
        || attached.stats().is_none_or(|s| s.queued == 0),
        Duration::from_secs(10),
    )
    .await;
}

/// The sum of the samples of `name` whose labels include all of `want`.
fn sample(exposition: &str, name: &str, want: &[(&str, &str)]) -> f64 {
    exposition
        .lines()
        .filter_map(|l| {
            let (series, value) = l.rsplit_once(' ')?;
            let (metric, labels) = series.split_once('{')?;
            let all = want
                .iter()
                .all(|(k, v)| labels.contains(&format!("{k}=\"{v}\"")));
            (metric == name && all).then(|| value.parse::<f64>().ok())?
        })
        .sum()
}

fn outcomes(events: &[Event]) -> (f64, f64) {
    let ok = events
        .iter()
        .filter(|e| matches!(e.payload(), Payload::Executed { .. }))
        .count();
    let failed = events
        .iter()
        .filter(|e| matches!(e.payload(), Payload::ExecuteFailed { .. }))
        .count();
    (ok as f64, failed as f64)
}

async fn logs_and_counts(t: Target) {
    let exporter = Exporter::builder().listen("127.0.0.1:0").start().unwrap();
    let (bus, rx) = observed("truth", Filter::all(), 4096);
    let printed = Printed::default();
    let logger = printed.logger(LevelFilter::DEBUG).attach(&bus).unwrap();
    let metrics = Metrics::new()
        .recorder(exporter.recorder())
        .attach(&bus)
        .unwrap();
    let sb = t.builder().bus(bus).start().await.unwrap();
    create_table(&sb, &t).await;
    for id in 1..=5 {
        sb.run(
            Execute::sql(format!(
                "INSERT INTO {} (id, name, n) VALUES ({}, {}, {})",
                t.table,
                t.ph(1),
                t.ph(2),
                t.ph(3)
            ))
            .bind::<Integer, _>(id)
            .bind::<Text, _>(format!("name-{id}"))
            .bind::<Integer, _>(id),
        )
        .await
        .unwrap();
    }
    let duplicate = sb
        .run(Execute::sql(format!(
            "INSERT INTO {} (id, name, n) VALUES (1, 'again', 1)",
            t.table
        )))
        .await;
    assert!(duplicate.is_err());
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
    caught_up(&logger).await;
    caught_up(metrics.subscription()).await;

    // Metrics: the statement counts equal the statement events, per outcome.
    let (ok, failed) = outcomes(&drain(&rx));
    assert!(ok >= 7.0 && failed >= 1.0, "ok={ok} failed={failed}");
    let body = exporter.render();
    let count = |outcome| {
        sample(
            &body,
            &format!("{}_count", names::STATEMENT_DURATION),
            &[("pool", &t.table), ("outcome", outcome)],
        )
    };
    assert_eq!((count("ok"), count("error")), (ok, failed), "{body}");
    let backend = t.backend().as_str();
    assert_eq!(
        sample(
            &body,
            names::STATEMENTS,
            &[("backend", backend), ("class", "write"), ("outcome", "ok")]
        ),
        5.0,
        "{body}"
    );

    // The log: one INFO line per insert, with the target's attributes.
    let text = printed.text();
    let inserts: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with(" INFO switchboard::statement: INSERT"))
        .collect();
    assert_eq!(inserts.len(), 5, "{text}");
    let line = inserts[0];
    for field in [
        format!("db.system=\"{backend}\""),
        "db.operation.name=\"INSERT\"".to_owned(),
        format!("db.collection.name=\"{}\"", t.table),
        "rows=1".to_owned(),
        "outcome=\"ok\"".to_owned(),
    ] {
        assert!(line.contains(&field), "missing {field} in {line}");
    }
    if t.db != Db::Sqlite {
        let url = url::Url::parse(&t.url).unwrap();
        let port = url
            .port()
            .unwrap_or(if t.db == Db::Postgres { 5432 } else { 3306 });
        assert!(
            line.contains(&format!("server.address=\"{}\"", url.host_str().unwrap())),
            "{line}"
        );
        assert!(line.contains(&format!("server.port={port}")), "{line}");
        assert!(
            line.contains(&format!(
                "db.namespace=\"{}\"",
                url.path().trim_start_matches('/')
            )),
            "{line}"
        );
    }
    let failure: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("outcome=\"error\""))
        .collect();
    assert_eq!(failure.len(), 1, "{text}");
    assert!(failure[0].starts_with(" WARN switchboard::statement: INSERT"));
    assert!(failure[0].contains("error.type="), "{}", failure[0]);
    // The SQL is at DEBUG, bind values as their types only.
    assert!(text.contains("DEBUG switchboard::statement: executing INSERT"));
    assert!(
        text.contains("params=\"[Integer, Text, Integer]\""),
        "{text}"
    );
    assert!(!text.contains("name-1"), "{text}");
}
each_backend!(logs_and_counts);

#[test]
fn postgres_password_in_the_url_is_never_logged() {
    // The machine's PostgreSQL trusts local users: the sentinel password is
    // sent, ignored, and the pool works.
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    let mut u = url::Url::parse(&url).unwrap();
    u.set_password(Some(SENTINEL)).unwrap();
    actix::System::new().block_on(async move {
        let bus = switchboard::Bus::new();
        let printed = Printed::default();
        let logger = printed.logger(LevelFilter::TRACE).attach(&bus).unwrap();
        let sb = Switchboard::builder(u.to_string())
            .name("observe_pw")
            .bus(bus)
            .start()
            .await
            .unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();
        caught_up(&logger).await;
        let text = printed.text();
        assert!(
            text.contains("INFO switchboard::connection: connected"),
            "{text}"
        );
        assert!(text.contains("server.address="), "{text}");
        assert!(!text.contains(SENTINEL), "the password was logged:\n{text}");
    });
}

#[test]
fn mysql_failed_connect_never_logs_the_password() {
    let Some(url) = server_url(Db::Mysql) else {
        return;
    };
    let mut u = url::Url::parse(&url).unwrap();
    u.set_password(Some(SENTINEL)).unwrap();
    actix::System::new().block_on(async move {
        let bus = switchboard::Bus::new();
        let printed = Printed::default();
        let logger = printed.logger(LevelFilter::TRACE).attach(&bus).unwrap();
        let started = Switchboard::builder(u.to_string())
            .bus(bus)
            .fail_fast(true)
            .start()
            .await;
        assert!(started.is_err());
        caught_up(&logger).await;
        let text = printed.text();
        assert!(text.contains("connect failed"), "{text}");
        assert!(!text.contains(SENTINEL), "the password was logged:\n{text}");
    });
}

/// A leak is one log line, the logger's (the manager logged it too, so it
/// showed twice with the TracingLogger attached).
#[test]
fn a_leak_is_logged_once() {
    let printed = Printed::default();
    let process_wide = tracing_subscriber::fmt()
        .with_writer(printed.clone())
        .without_time()
        .finish();
    // The manager runs on this thread, inside this test's actix System.
    let _default = tracing_subscriber::util::SubscriberInitExt::set_default(process_wide);
    crate::support::run(Db::Sqlite, "leak_once", async |t| {
        let bus = switchboard::Bus::new();
        let attached = printed.logger(LevelFilter::WARN).attach(&bus).unwrap();
        let sb = t
            .builder()
            .bus(bus)
            .pool_size(1..=1)
            .leak_detection(Duration::from_millis(50))
            .start()
            .await
            .unwrap();
        let lease = sb.checkout().await.unwrap();
        actix_rt::time::sleep(Duration::from_millis(300)).await;
        drop(lease);
        caught_up(&attached).await;
        let text = printed.text();
        let lines = text.lines().filter(|l| l.contains("leak")).count();
        assert_eq!(lines, 1, "{text}");
        sb.shutdown().await.unwrap();
    });
}

async fn execute_counts_rows_changed_and_nothing_else(t: Target) {
    let sb = t.builder().pool_size(1..=1).start().await.unwrap();
    create_table(&sb, &t).await;
    for id in 1..=5 {
        sb.run(Execute::sql(format!(
            "INSERT INTO {} (id, name, n) VALUES ({id}, 'x', 0)",
            t.table
        )))
        .await
        .unwrap();
    }
    let updated = sb
        .run(Execute::sql(format!("UPDATE {} SET n = n + 1", t.table)))
        .await
        .unwrap();
    assert_eq!(updated, 5);
    // SQLite said 5 here (the last write's count), PostgreSQL 1.
    assert_eq!(sb.run(Execute::sql("SELECT 1")).await.unwrap(), 0);
    assert_eq!(
        sb.run(Execute::sql(format!("SELECT * FROM {}", t.table)))
            .await
            .unwrap(),
        0
    );
    let deleted = sb
        .run(Execute::sql(format!(
            "DELETE FROM {} WHERE id <= 2",
            t.table
        )))
        .await
        .unwrap();
    assert_eq!(deleted, 2);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(execute_counts_rows_changed_and_nothing_else);

/// The same counts for `conn.execute` inside a closure (it returned the
/// driver's count: on SQLite, a `SELECT` after a write said 3).
async fn closure_execute_counts_rows_changed_and_nothing_else(t: Target) {
    let sb = t.builder().pool_size(1..=1).start().await.unwrap();
    create_table(&sb, &t).await;
    let table = t.table.clone();
    let counts = sb
        .run(Interact::new(async move |conn: &mut DbConnection| {
            let inserted = conn
                .execute(Execute::sql(format!(
                    "INSERT INTO {table} (id, name, n) VALUES (1, 'x', 0), (2, 'y', 0), (3, 'z', 0)"
                )))
                .await?;
            let selected = conn.execute(Execute::sql("SELECT 1")).await?;
            let read = conn
                .execute(Execute::sql(format!("SELECT * FROM {table}")))
                .await?;
            let updated = conn
                .execute(Execute::sql(format!(
                    "UPDATE {table} SET n = n + 1 WHERE id < 3"
                )))
                .await?;
            Ok((inserted, selected, read, updated))
        }))
        .await
        .unwrap();
    assert_eq!(counts, (3, 0, 0, 2));
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(closure_execute_counts_rows_changed_and_nothing_else);
