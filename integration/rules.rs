//! The RuleEngine as a pool's guard, on every backend: each SQL dialect is
//! classified by its own grammar, and what is denied never reaches the
//! database.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use actix::Actor;
use switchboard::{Check, Error, Event, Execute, Filter, Guard, Kind, Load, Payload, Ruling};
use switchboard_core::testing::eventually;
use switchboard_rules::{RuleEngine, SetReadOnly};

use crate::each_backend;
use crate::support::{Db, Target, count_rows, create_table, drain, drop_table, observed};

/// The test table as the backend quotes identifiers.
fn quoted(t: &Target) -> String {
    match t.db {
        Db::Mysql => format!("`{}`", t.table),
        _ => format!("\"{}\"", t.table),
    }
}

fn rules(t: &Target) -> String {
    format!(
        r#"
        name = "policy"

        [[rule]]
        name = "no-unbounded-writes"
        kind = "require_where"

        [[rule]]
        name = "acme-off-limits"
        kind = "deny_tables"
        tables = ["{table}"]
        when = {{ tenant = "acme" }}

        [[rule]]
        name = "no-roles"
        kind = "deny_class"
        classes = ["role"]

        [[rule]]
        name = "trial-long-statements"
        kind = "max_length"
        max_bytes = 180
        shadow = true
        "#,
        table = t.table
    )
}

fn denied_by(err: &Error, rule: &str) {
    match err {
        Error::Denied { guard, reason } => {
            assert_eq!(guard, "policy");
            assert!(reason.contains(rule), "{reason}");
        }
        other => panic!("expected a denial by {rule}, got {other:?}"),
    }
}

async fn rules_guard_every_backend(t: Target) {
    let engine = RuleEngine::from_toml(&rules(&t)).unwrap();
    let (bus, rx) = observed(
        "rules",
        Filter::kinds([Kind::Denied, Kind::ShadowDenied]),
        256,
    );
    let sb = t
        .builder()
        .bus(bus)
        .guard(engine.clone())
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    let table = quoted(&t);
    sb.run(Execute::sql(format!(
        "INSERT INTO {table} (id, name, n) VALUES (1, 'a', 1), (2, 'b', 2)"
    )))
    .await
    .unwrap();

    // DELETE without WHERE, written with the dialect's own quoting.
    let err = sb
        .run(Execute::sql(format!("DELETE FROM {table}")))
        .await
        .unwrap_err();
    denied_by(&err, "no-unbounded-writes");
    let err = sb
        .run(Execute::sql(format!("UPDATE {table} SET n = 0")))
        .await
        .unwrap_err();
    denied_by(&err, "no-unbounded-writes");
    assert_eq!(
        count_rows(&sb, &t).await,
        2,
        "the DELETE reached the database"
    );

    // A tenant blocked from the table; another tenant is not.
    let select = || Execute::sql(format!("SELECT id FROM {table} WHERE id = 1"));
    let err = sb.run(select().label("tenant", "acme")).await.unwrap_err();
    denied_by(&err, "acme-off-limits");
    sb.run(select().label("tenant", "initech")).await.unwrap();

    // Role statements are refused by class.
    let err = sb
        .run(Execute::sql("GRANT SELECT ON t1 TO someone"))
        .await
        .unwrap_err();
    denied_by(&err, "no-roles");

    // The shadowed rule reports a long statement but lets it run.
    let long = format!(
        "UPDATE {table} SET n = n + 1 WHERE id = 1 AND name = 'a' AND n >= 0 AND n < 1000000 AND id > 0 AND id < 1000000 AND name <> 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz'"
    );
    assert!(long.len() > 180);
    assert_eq!(sb.run(Execute::sql(long)).await.unwrap(), 1);

    // Text the parser cannot read is denied, before the database sees it.
    let err = sb
        .run(Execute::sql(format!("DELETE {table} EVERYTHING NOW")))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Denied { reason, .. } if reason.contains("could not be parsed")),
        "{err:?}"
    );

    sb.bus().flush(Duration::from_secs(5)).await.unwrap();
    let events: Vec<Event> = drain(&rx);
    let denied = events.iter().filter(|e| e.kind() == Kind::Denied).count();
    let shadow: Vec<&Event> = events
        .iter()
        .filter(|e| e.kind() == Kind::ShadowDenied)
        .collect();
    assert_eq!(denied, 5, "{events:?}");
    assert_eq!(shadow.len(), 1, "{events:?}");
    assert!(
        matches!(shadow[0].payload(), Payload::ShadowDenied { reason, .. } if reason.contains("trial-long-statements"))
    );
    assert_eq!(count_rows(&sb, &t).await, 2);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(rules_guard_every_backend);

async fn read_only_mode_switches_by_message(t: Target) {
    let engine = RuleEngine::from_toml("").unwrap();
    let control = engine.clone().start();
    let sb = t.builder().guard(engine.clone()).start().await.unwrap();
    create_table(&sb, &t).await;
    let insert = |id: i32| {
        Execute::sql(format!(
            "INSERT INTO {} (id, name, n) VALUES ({id}, 'x', 0)",
            t.table
        ))
    };
    sb.run(insert(1)).await.unwrap();

    control.send(SetReadOnly(true)).await.unwrap();
    let err = sb.run(insert(2)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Denied { reason, .. } if reason.contains("read-only")),
        "{err:?}"
    );
    assert_eq!(count_rows(&sb, &t).await, 1, "reads still run");

    control.send(SetReadOnly(false)).await.unwrap();
    sb.run(insert(3)).await.unwrap();
    assert_eq!(count_rows(&sb, &t).await, 2);
    drop_table(&sb, &t).await;
    sb.shutdown().await.unwrap();
}
each_backend!(read_only_mode_switches_by_message);

#[test]
fn a_bad_reload_keeps_the_old_rules_in_force() {
    let t = crate::support::target(Db::Sqlite, "rules_reload").unwrap();
    actix::System::new().block_on(async move {
        let engine = RuleEngine::from_toml(
            r#"
            [[rule]]
            name = "no-ddl"
            kind = "deny_class"
            classes = ["ddl"]
            "#,
        )
        .unwrap();
        let sb = t.builder().guard(engine.clone()).start().await.unwrap();
        let broken = r#"
            [[rule]]
            name = "typo"
            kind = "deny_class"
            clases = ["ddl"]
        "#;
        let err = engine.reload_toml(broken).unwrap_err().to_string();
        assert!(err.contains("line 5") && err.contains("clases"), "{err}");
        let err = sb
            .run(Execute::sql("CREATE TABLE should_not_exist (id INTEGER)"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::Denied { .. }), "{err:?}");

        // A good reload takes effect on the next statement.
        engine.reload_toml("").unwrap();
        sb.run(Execute::sql(format!(
            "CREATE TABLE {} (id INTEGER)",
            t.table
        )))
        .await
        .unwrap();
        sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
    });
}

#[test]
fn rate_limit_per_tenant() {
    let t = crate::support::target(Db::Sqlite, "rules_rate").unwrap();
    actix::System::new().block_on(async move {
        let engine = RuleEngine::from_toml(
            r#"
            [[rule]]
            name = "tenant-rate"
            kind = "rate_limit"
            label = "tenant"
            per_second = 0.01
            burst = 3
            "#,
        )
        .unwrap();
        let sb = t.builder().guard(engine).start().await.unwrap();
        let q = |tenant: &str| {
            Load::<_, i32>::new(diesel::select(
                diesel::dsl::sql::<diesel::sql_types::Integer>("1"),
            ))
            .label("tenant", tenant)
        };
        for _ in 0..3 {
            sb.run(q("acme")).await.unwrap();
        }
        let err = sb.run(q("acme")).await.unwrap_err();
        assert!(
            matches!(&err, Error::Denied { reason, .. } if reason.contains("tenant-rate")),
            "{err:?}"
        );
        // Another tenant has its own bucket; unlabelled work is not limited.
        sb.run(q("initech")).await.unwrap();
        sb.run(Execute::sql("SELECT 1")).await.unwrap();
        sb.shutdown().await.unwrap();
    });
}

/// Counts the statements of tenant `acme` the guards before it let through.
struct Admitted(Arc<AtomicUsize>);

impl Guard for Admitted {
    fn name(&self) -> &str {
        "admitted"
    }

    fn check(&self, check: &Check) -> Ruling {
        if check.as_statement().is_some() && check.labels.get("tenant") == Some("acme") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ruling::allow()
    }
}

#[test]
fn concurrency_limit_per_tenant_on_postgres() {
    let Some(url) = crate::support::server_url(Db::Postgres) else {
        return;
    };
    actix::System::new().block_on(async move {
        let engine = RuleEngine::from_toml(
            r#"
            [[rule]]
            name = "one-at-a-time"
            kind = "max_concurrent"
            label = "tenant"
            max = 1
            "#,
        )
        .unwrap();
        let admitted = Arc::new(AtomicUsize::new(0));
        let sb = switchboard::Switchboard::builder(url)
            .name("rules_concurrency")
            .pool_size(2..=2)
            .guard(engine)
            .guard(Admitted(admitted.clone()))
            .start()
            .await
            .unwrap();
        let slow = {
            let sb = sb.clone();
            actix_rt::spawn(async move {
                sb.run(Execute::sql("SELECT pg_sleep(0.5)").label("tenant", "acme"))
                    .await
            })
        };
        // The slow statement holds its permit once the engine let it through.
        eventually(
            || admitted.load(Ordering::SeqCst) == 1,
            Duration::from_secs(10),
        )
        .await;
        let err = sb
            .run(Execute::sql("SELECT 1").label("tenant", "acme"))
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::Denied { reason, .. } if reason.contains("one-at-a-time")),
            "{err:?}"
        );
        sb.run(Execute::sql("SELECT 1").label("tenant", "initech"))
            .await
            .unwrap();
        slow.await.unwrap().unwrap();
        // The permit was released when the slow statement ended.
        sb.run(Execute::sql("SELECT 1").label("tenant", "acme"))
            .await
            .unwrap();
        sb.shutdown().await.unwrap();
    });
}
