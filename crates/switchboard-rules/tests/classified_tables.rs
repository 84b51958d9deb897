//! `deny_tables` and read-only mode judged on real classifications: a table
//! is denied however a statement spells or hides it, on each backend, and a
//! read that may write is not let through as a read.

use std::sync::Arc;

use switchboard_core::guard::{Check, Statement};
use switchboard_core::{Backend, Guard, Labels, Origin, Verdict};
use switchboard_rules::RuleEngine;
use switchboard_sql::{Dialect, classify};

const RULES: &str = r#"
[[rule]]
name = "no-payroll"
kind = "deny_tables"
tables = ["payroll", "hr.salaries"]
"#;

fn check(sql: &str, backend: Backend) -> Check {
    let classified = Arc::new(classify(sql, Dialect::for_backend(backend)));
    let statement = Statement::new(1, sql.into(), Origin::Execute, classified);
    Check::statement("app".into(), backend, 1, Labels::new(), statement)
}

fn denied(engine: &RuleEngine, sql: &str, backend: Backend) -> bool {
    matches!(
        engine.check(&check(sql, backend)).verdict,
        Verdict::Deny { .. }
    )
}

#[test]
fn a_denied_table_is_denied_however_the_statement_names_it() {
    let engine = RuleEngine::from_toml(RULES).expect("valid rules");
    let cases: &[(&str, &[Backend])] = &[
        (
            "SELECT * FROM payroll",
            &[Backend::Postgres, Backend::Mysql, Backend::Sqlite],
        ),
        (
            "SELECT * FROM PAYROLL",
            &[Backend::Postgres, Backend::Mysql, Backend::Sqlite],
        ),
        (
            r#"SELECT * FROM "payroll""#,
            &[Backend::Postgres, Backend::Sqlite],
        ),
        (
            "SELECT * FROM `Payroll`",
            &[Backend::Mysql, Backend::Sqlite],
        ),
        ("SELECT * FROM [PayRoll]", &[Backend::Sqlite]),
        ("SELECT * FROM public.payroll", &[Backend::Postgres]),
        ("SELECT * FROM Shop.PAYROLL", &[Backend::Mysql]),
        (
            "SELECT * FROM HR.Salaries",
            &[Backend::Postgres, Backend::Mysql],
        ),
        // A CTE named like the table does not hide the table a DELETE targets.
        (
            "WITH payroll AS (SELECT 1) DELETE FROM payroll",
            &[Backend::Postgres, Backend::Mysql, Backend::Sqlite],
        ),
        // A quoted CTE does not hide the unquoted (folded) table.
        (
            r#"WITH "PAYROLL" AS (SELECT 1) SELECT * FROM PAYROLL"#,
            &[Backend::Postgres],
        ),
        (
            "SELECT 1 UNION TABLE payroll",
            &[Backend::Postgres, Backend::Mysql],
        ),
        ("SELECT * FROM (TABLE payroll) AS p", &[Backend::Postgres]),
        // Unparsable (an executable comment): denied by on_parse_error.
        ("SELECT * FROM t /*! , payroll */", &[Backend::Mysql]),
    ];
    for (sql, backends) in cases {
        for &backend in *backends {
            assert!(
                denied(&engine, sql, backend),
                "{backend:?} should deny {sql:?}"
            );
        }
    }
    assert!(
        !denied(&engine, "SELECT * FROM salaries", Backend::Postgres),
        "schema unknown"
    );
    assert!(!denied(
        &engine,
        "SELECT * FROM payroll_archive",
        Backend::Postgres
    ));
    assert!(!denied(
        &engine,
        "WITH payroll AS (SELECT 1) SELECT * FROM payroll",
        Backend::Postgres
    ));
}

#[test]
fn postgres_long_names_are_clipped_on_both_sides() {
    let long = "p".repeat(63);
    let rules = format!("[[rule]]\nkind = \"deny_tables\"\ntables = [\"{long}_listed_longer\"]\n");
    let engine = RuleEngine::from_toml(&rules).expect("valid rules");
    // PostgreSQL reads a 70-character name as its first 63 bytes.
    let sql = format!("SELECT * FROM {long}_anything");
    assert!(denied(&engine, &sql, Backend::Postgres));
    assert!(
        !denied(&engine, &sql, Backend::Mysql),
        "MySQL rejects long names, never clips"
    );
}

#[test]
fn read_only_mode_refuses_reads_that_may_write_and_what_it_cannot_model() {
    let engine = RuleEngine::from_toml("on_parse_error = \"allow\"\n").expect("valid rules");
    engine.set_read_only(true);
    for (sql, backend) in [
        ("SELECT nextval('orders_id_seq')", Backend::Postgres),
        ("SELECT * FROM orders FOR UPDATE", Backend::Postgres),
        ("SELECT pg_advisory_lock(1)", Backend::Postgres),
        ("EXPLAIN (ANALYSE) DELETE FROM orders", Backend::Postgres),
        ("CALL archive()", Backend::Mysql),
        ("SELECT GET_LOCK('a', 1)", Backend::Mysql),
        ("SELECT 1 /*!50000 ; DELETE FROM orders */", Backend::Mysql),
        ("SET standard_conforming_strings = off", Backend::Postgres),
        ("SELECT load_extension('x')", Backend::Sqlite),
    ] {
        assert!(
            denied(&engine, sql, backend),
            "{backend:?} read-only should deny {sql:?}"
        );
    }
    for (sql, backend) in [
        ("SELECT count(*), now() FROM orders", Backend::Postgres),
        (
            "EXPLAIN (ANALYZE off) DELETE FROM orders",
            Backend::Postgres,
        ),
        ("SET NAMES utf8mb4", Backend::Mysql),
    ] {
        assert!(
            !denied(&engine, sql, backend),
            "{backend:?} read-only should allow {sql:?}"
        );
    }
}
