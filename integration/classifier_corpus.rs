//! The classifier against the servers: every corpus statement the
//! classifier calls a `read` runs on PostgreSQL and MariaDB inside a
//! read-only transaction that is rolled back, and the server must not
//! refuse it as a write. A statement that fails for another reason (a table
//! the corpus setup does not create, syntax the server lacks) is skipped;
//! enough of them must run for the check to mean something.
//!
//! Each run works in a schema (PostgreSQL) or database (MariaDB) of its own,
//! as a role or user with rights on nothing else, with the session's
//! transactions read-only by default too: a misclassified statement can
//! neither change the shared server nor escape the read-only transaction.

use std::path::Path;
use std::time::Instant;

use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel_async::{
    AsyncConnection, AsyncMysqlConnection, AsyncPgConnection, SimpleAsyncConnection,
};
use switchboard_sql::{Dialect, StatementClass, classify};

use crate::support::{Db, run_local, server_url};

/// The corpus statements of `dialect` that the classifier calls `read`.
fn reads(name: &str, dialect: Dialect) -> Vec<String> {
    let text = std::fs::read_to_string(corpus_path(&format!("{name}.jsonl"))).unwrap();
    text.lines()
        .filter(|line| !line.trim().is_empty())
        .map(|line| {
            let entry: serde_json::Value = serde_json::from_str(line).unwrap();
            entry["sql"].as_str().unwrap().to_owned()
        })
        .filter(|sql| {
            classify(sql, dialect)
                .is_ok_and(|c| c.class == StatementClass::Read && c.operation != "COPY")
        })
        .collect()
}

fn corpus_path(file: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("crates/switchboard-sql/tests/corpus")
        .join(file)
}

/// What running the read statements did.
#[derive(Debug, Default)]
struct Tally {
    /// Whether a known write run the same way was refused as one: proof
    /// that the harness can see a violation.
    probe_refused: bool,
    ran: usize,
    skipped: usize,
    /// Statements classified `read` that the server refused as writes.
    violations: Vec<String>,
}

impl Tally {
    fn note(&mut self, sql: &str, result: Result<(), DieselError>) {
        match result {
            Ok(()) => self.ran += 1,
            Err(e) if is_read_only_violation(&e) => self.violations.push(format!("{sql:?}: {e}")),
            Err(_) => self.skipped += 1,
        }
    }
}

/// PostgreSQL's SQLSTATE 25006 and MariaDB's error 1792, as diesel-async
/// reports them.
fn is_read_only_violation(e: &DieselError) -> bool {
    matches!(
        e,
        DieselError::DatabaseError(DatabaseErrorKind::ReadOnlyTransaction, _)
    )
}

fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{prefix}_{}_{nanos}", std::process::id())
}

/// Runs `sql` in a read-only transaction and rolls it back.
async fn in_read_only_transaction<C: SimpleAsyncConnection + Send>(
    conn: &mut C,
    begin: &str,
    sql: &str,
) -> Result<(), DieselError> {
    conn.batch_execute(begin).await?;
    let result = conn.batch_execute(sql).await;
    conn.batch_execute("ROLLBACK").await?;
    result
}

#[test]
fn postgres_accepts_every_read_in_a_read_only_transaction() {
    let Some(url) = server_url(Db::Postgres) else {
        return;
    };
    let statements = reads("postgres", Dialect::Postgres);
    let setup = std::fs::read_to_string(corpus_path("setup.postgres.sql")).unwrap();
    run_local(async move {
        let started = Instant::now();
        let mut admin = AsyncPgConnection::establish(&url).await.unwrap();
        let name = unique("sb_corpus");
        admin
            .batch_execute(&format!(
                "CREATE ROLE {name} NOLOGIN; CREATE SCHEMA {name} AUTHORIZATION {name}"
            ))
            .await
            .unwrap();

        let mut conn = AsyncPgConnection::establish(&url).await.unwrap();
        let outcome = async {
            conn.batch_execute(&format!(
                "SET ROLE {name}; SET search_path TO {name}; {setup}; \
                 SET statement_timeout = '2s'; SET lock_timeout = '1s'; \
                 SET default_transaction_read_only = on"
            ))
            .await?;
            let mut tally = Tally::default();
            // The harness must see a write for what it is.
            let probe = in_read_only_transaction(
                &mut conn,
                "BEGIN READ ONLY",
                "SELECT nextval('order_seq')",
            )
            .await;
            tally.probe_refused = probe.as_ref().is_err_and(is_read_only_violation);
            for sql in &statements {
                let result = in_read_only_transaction(&mut conn, "BEGIN READ ONLY", sql).await;
                tally.note(sql, result);
                // Prepared statements outlive the rollback.
                conn.batch_execute("DEALLOCATE ALL").await?;
            }
            Ok::<_, DieselError>(tally)
        }
        .await;

        drop(conn);
        admin
            .batch_execute(&format!("DROP SCHEMA {name} CASCADE; DROP ROLE {name}"))
            .await
            .unwrap();

        let tally = outcome.unwrap();
        eprintln!("postgres corpus: {tally:?} in {:?}", started.elapsed());
        assert!(
            tally.probe_refused,
            "nextval in a read-only transaction must be refused: {tally:?}"
        );
        assert!(
            tally.violations.is_empty(),
            "classified read, refused as a write:\n{}",
            tally.violations.join("\n")
        );
        assert!(
            tally.ran >= 120,
            "too few reads ran to mean anything: {tally:?}"
        );
    });
}

#[test]
fn mariadb_accepts_every_read_in_a_read_only_transaction() {
    let Some(url) = server_url(Db::Mysql) else {
        return;
    };
    let statements = reads("mysql", Dialect::Mysql);
    let setup = std::fs::read_to_string(corpus_path("setup.mysql.sql")).unwrap();
    run_local(async move {
        let started = Instant::now();
        let mut admin = AsyncMysqlConnection::establish(&url).await.unwrap();
        let name = unique("sb_corpus");
        let password = unique("pw");
        admin
            .batch_execute(&format!(
                "CREATE DATABASE {name}; CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; \
                 GRANT ALL ON {name}.* TO '{name}'@'%'"
            ))
            .await
            .unwrap();

        let mut user_url = url::Url::parse(&url).unwrap();
        user_url.set_username(&name).unwrap();
        user_url.set_password(Some(&password)).unwrap();
        user_url.set_path(&name);
        let outcome = async {
            let mut conn = AsyncMysqlConnection::establish(user_url.as_str())
                .await
                .map_err(|e| e.to_string())?;
            conn.batch_execute(&setup)
                .await
                .map_err(|e| e.to_string())?;
            conn.batch_execute(
                "SET SESSION max_statement_time = 2; SET SESSION TRANSACTION READ ONLY",
            )
            .await
            .map_err(|e| e.to_string())?;
            let mut tally = Tally::default();
            let probe = in_read_only_transaction(
                &mut conn,
                "START TRANSACTION READ ONLY",
                "DELETE FROM users",
            )
            .await;
            tally.probe_refused = probe.as_ref().is_err_and(is_read_only_violation);
            for sql in &statements {
                let result =
                    in_read_only_transaction(&mut conn, "START TRANSACTION READ ONLY", sql).await;
                tally.note(sql, result);
            }
            Ok::<_, String>(tally)
        }
        .await;

        admin
            .batch_execute(&format!("DROP DATABASE {name}; DROP USER '{name}'@'%'"))
            .await
            .unwrap();

        let tally = outcome.unwrap();
        eprintln!("mariadb corpus: {tally:?} in {:?}", started.elapsed());
        assert!(
            tally.probe_refused,
            "DELETE in a read-only transaction must be refused: {tally:?}"
        );
        assert!(
            tally.violations.is_empty(),
            "classified read, refused as a write:\n{}",
            tally.violations.join("\n")
        );
        assert!(
            tally.ran >= 120,
            "too few reads ran to mean anything: {tally:?}"
        );
    });
}
