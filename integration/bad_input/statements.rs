//! Statements a healthy pool must refuse (or, where a backend accepts them,
//! run), one pool per backend; after all of them the same pool still runs
//! a statement, and the table a stacked `DROP TABLE` aimed at is intact.

use std::time::Duration;

use diesel::sql_types::Text;
use switchboard::{Error, Execute, Filter, Load, Payload};

use super::{Expect, Failures, SENTINEL, check};
use crate::each_backend;
use crate::support::{Db, Target, count_rows, create_table, drain, observed};

/// What a case sends.
pub(super) enum Input {
    Execute(Execute),
    /// A `Load` of one text column `s`.
    LoadText(String),
}

#[derive(Debug, diesel::QueryableByName)]
struct TextRow {
    #[diesel(sql_type = Text)]
    #[allow(dead_code)] // only shown in failure messages
    s: String,
}

pub(super) struct Case {
    pub(super) name: &'static str,
    pub(super) input: fn(&Target) -> Input,
    pub(super) sqlite: Expect,
    pub(super) postgres: Expect,
    pub(super) mysql: Expect,
}

impl Case {
    fn expect(&self, db: Db) -> Expect {
        match db {
            Db::Sqlite => self.sqlite,
            Db::Postgres => self.postgres,
            Db::Mysql => self.mysql,
        }
    }
}

/// The target's URL, with the sentinel as its password where the server
/// accepts any (PostgreSQL here trusts local users).
pub(super) fn url_with_sentinel(t: &Target) -> String {
    match t.db {
        Db::Postgres => {
            let mut u = url::Url::parse(&t.url).unwrap();
            u.set_password(Some(SENTINEL)).unwrap();
            u.to_string()
        }
        _ => t.url.clone(),
    }
}

async fn run(sb: &switchboard::Switchboard, input: Input) -> Result<String, Error> {
    match input {
        Input::Execute(e) => sb.run(e).await.map(|n| format!("{n} rows")),
        Input::LoadText(q) => {
            let rows: Vec<TextRow> = sb.run(Load::new(diesel::sql_query(q))).await?;
            Ok(format!("{rows:?}"))
        }
    }
}

async fn bad_statements_catalogue(t: Target) {
    let (bus, rx) = observed("bad-input", Filter::all(), 1024);
    let sb = switchboard::Switchboard::builder(url_with_sentinel(&t))
        .name(t.table.clone())
        .pool_size(1..=2)
        .bus(bus.clone())
        .start()
        .await
        .unwrap();
    create_table(&sb, &t).await;
    sb.run(Execute::sql(format!(
        "INSERT INTO {} (id, name, n) VALUES (1, 'a', 1)",
        t.table
    )))
    .await
    .unwrap();
    let mut failures = Failures::default();
    for case in super::statement_cases::cases() {
        let expect = case.expect(t.db);
        if let Expect::Skip(why) = expect {
            eprintln!(
                "bad-input case {:?} not run on {:?}: {why}",
                case.name, t.db
            );
            continue;
        }
        let outcome = run(&sb, (case.input)(&t)).await;
        bus.flush(Duration::from_secs(10)).await.unwrap();
        let events = drain(&rx);
        let mut wrong = check(expect, &outcome, &events);
        // The failure event says what the caller heard.
        if let Err(e) = &outcome {
            for event in &events {
                if let Payload::ExecuteFailed { error, .. } = event.payload()
                    && (error.kind != e.kind() || error.message != e.to_string())
                {
                    wrong.push(format!(
                        "ExecuteFailed says {error:?}, the caller got {e:?}"
                    ));
                }
            }
        }
        failures.record(case.name, wrong);
    }
    // Still healthy: a statement runs, and the stacked DROP TABLE did not
    // (the table still has its first row).
    let healthy = sb
        .run(Execute::sql("SELECT 1").timeout(Duration::from_secs(10)))
        .await;
    failures.record("a final statement", check(Expect::Ok, &healthy, &[]));
    assert!(count_rows(&sb, &t).await >= 1);
    sb.run(Execute::sql(format!("DROP TABLE {}", t.table)))
        .await
        .unwrap();
    sb.shutdown().await.unwrap();
    failures.assert_none(&format!("bad statements on {:?}", t.db));
}
each_backend!(bad_statements_catalogue);
