//! Which tables a statement touches, and how they are named.

use switchboard_core::StatementClass::{self, Misc, Read, Write};

use super::{Is, Unparsable, check};
use crate::Dialect::{Generic, Mysql, Postgres, Sqlite};

#[test]
fn a_cte_never_hides_the_table_a_statement_modifies() {
    check(&[
        (
            "WITH users AS (SELECT 1) DELETE FROM users",
            &[Postgres, Mysql, Sqlite, Generic],
            Is(Write, &["users"], true),
        ),
        (
            "WITH users AS (SELECT 1) UPDATE users SET a = 1 WHERE id = 2",
            &[Postgres, Mysql, Sqlite],
            Is(Write, &["users"], false),
        ),
        (
            "WITH users AS (SELECT 1 AS a) INSERT INTO users SELECT a FROM users",
            &[Postgres, Mysql, Sqlite],
            Is(Write, &["users"], false),
        ),
        (
            "WITH t AS (SELECT 1 AS id) MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE",
            &[Postgres],
            Is(Write, &["t", "s"], false),
        ),
        // A sibling CTE is in scope inside a data-modifying CTE's body, but
        // its DELETE still targets the table.
        (
            "WITH users AS (SELECT 1), gone AS (DELETE FROM users RETURNING *) SELECT * FROM gone",
            &[Postgres],
            Is(Write, &["users"], true),
        ),
        // A CTE inside the statement's own subquery does not hide the target.
        (
            "DELETE FROM users WHERE id IN (WITH users AS (SELECT 1) SELECT * FROM users)",
            &[Postgres, Sqlite],
            Is(Write, &["users"], false),
        ),
    ]);
}

#[test]
fn cte_names_match_as_each_server_folds_them() {
    check(&[
        // PostgreSQL folds unquoted names to lower case, keeps quoted ones.
        (
            r#"WITH "Users" AS (SELECT 1) SELECT * FROM Users"#,
            &[Postgres],
            Is(Read, &["users"], false),
        ),
        (
            r#"WITH Users AS (SELECT 1) SELECT * FROM "Users""#,
            &[Postgres],
            Is(Read, &["Users"], false),
        ),
        (
            r#"WITH "users" AS (SELECT 1) SELECT * FROM USERS"#,
            &[Postgres],
            Is(Read, &[], false),
        ),
        // MySQL: case-sensitive unless lower_case_table_names says
        // otherwise, so only the exact name is certainly the CTE.
        (
            "WITH Recent AS (SELECT 1) SELECT * FROM recent",
            &[Mysql, Generic],
            Is(Read, &["recent"], false),
        ),
        (
            "WITH `recent` AS (SELECT 1) SELECT * FROM recent",
            &[Mysql],
            Is(Read, &[], false),
        ),
        // SQLite ignores case, quoted or not.
        (
            r#"WITH "Users" AS (SELECT 1) SELECT * FROM users"#,
            &[Sqlite],
            Is(Read, &[], false),
        ),
        (
            r#"WITH users AS (SELECT 1) SELECT * FROM "USERS""#,
            &[Sqlite],
            Is(Read, &[], false),
        ),
        // Which siblings a CTE body sees: in MySQL, not the later ones.
        (
            "WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
            &[Mysql, Generic],
            Is(Read, &["b"], false),
        ),
        (
            "WITH RECURSIVE a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
            &[Postgres, Sqlite],
            Is(Read, &[], false),
        ),
        (
            "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
            &[Sqlite],
            Is(Read, &[], false),
        ),
        (
            "WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a",
            &[Postgres, Mysql],
            Is(Read, &["b"], false),
        ),
    ]);
}

#[test]
fn table_bodies_read_their_table() {
    check(&[
        (
            "SELECT 1 UNION TABLE payroll",
            &[Postgres, Mysql, Generic],
            Is(Read, &["payroll"], false),
        ),
        (
            "SELECT * FROM (TABLE payroll) AS x",
            &[Postgres, Mysql],
            Is(Read, &["payroll"], false),
        ),
        (
            "WITH x AS (TABLE payroll) SELECT * FROM x",
            &[Postgres, Mysql],
            Is(Read, &["payroll"], false),
        ),
        (
            "SELECT * FROM t WHERE a IN (TABLE payroll)",
            &[Postgres],
            Is(Read, &["t", "payroll"], false),
        ),
        (
            "SELECT 1 EXCEPT (TABLE hr.payroll)",
            &[Postgres],
            Is(Read, &["hr.payroll"], false),
        ),
        (
            r#"SELECT 1 UNION TABLE HR."Payroll""#,
            &[Postgres],
            Is(Read, &["hr.Payroll"], false),
        ),
        // A CTE of that name is what TABLE reads.
        (
            "WITH payroll AS (SELECT 1) SELECT 1 UNION TABLE payroll",
            &[Postgres],
            Is(Read, &[], false),
        ),
        // sqlparser does not parse a top-level TABLE: unparsable, denied.
        ("TABLE payroll", &[Postgres, Mysql], Unparsable),
    ]);
}

#[test]
fn table_names_are_reported_as_the_server_resolves_them() {
    let long = format!("SELECT * FROM {}", "a".repeat(70));
    let clipped = "a".repeat(63);
    let expected: &'static [&'static str] = Box::leak(Box::new([clipped.leak() as &str]));
    check(&[
        (
            "SELECT * FROM Public.Users",
            &[Postgres],
            Is(Read, &["public.users"], false),
        ),
        (
            r#"SELECT * FROM "Public"."Users""#,
            &[Postgres],
            Is(Read, &["Public.Users"], false),
        ),
        (
            "SELECT * FROM Shop.Orders",
            &[Mysql, Generic],
            Is(Read, &["Shop.Orders"], false),
        ),
        (
            "SELECT * FROM `Shop`.`Orders`",
            &[Mysql],
            Is(Read, &["Shop.Orders"], false),
        ),
        (
            r#"SELECT * FROM "Main"."Notes""#,
            &[Sqlite],
            Is(Read, &["main.notes"], false),
        ),
        (
            "SELECT * FROM [Notes]",
            &[Sqlite],
            Is(Read, &["notes"], false),
        ),
        (
            "DROP TABLE Users",
            &[Postgres, Sqlite],
            Is(StatementClass::Ddl, &["users"], false),
        ),
        (
            r#"INSERT INTO "Users" VALUES (1)"#,
            &[Postgres],
            Is(Write, &["Users"], false),
        ),
        (
            "LOCK TABLES Orders WRITE",
            &[Mysql],
            Is(Misc, &["Orders"], false),
        ),
        (
            "SELECT * INTO NewTable FROM t",
            &[Postgres],
            Is(Write, &["newtable", "t"], false),
        ),
        (long.leak(), &[Postgres], Is(Read, expected, false)),
    ]);
}
