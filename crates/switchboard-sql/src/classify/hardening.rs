//! The misreadings of issue 16, one test per class, each member on each
//! dialect that has it: what the classifier must report, or that it must
//! refuse the text as unparsable.

use switchboard_core::StatementClass::{self, Misc, Read, Write};

use crate::Dialect::{self, Generic, Mysql, Postgres, Sqlite};
use crate::classify;

/// What a statement must classify as.
enum Expect {
    /// Class, tables and missing WHERE.
    Is(StatementClass, &'static [&'static str], bool),
    /// Unparsable: denied under `on_parse_error = "deny"`.
    Unparsable,
}
use Expect::{Is, Unparsable};

#[track_caller]
fn check(cases: &[(&str, &[Dialect], Expect)]) {
    let mut failures = Vec::new();
    for (sql, dialects, expect) in cases {
        for &dialect in *dialects {
            let got = classify(sql, dialect);
            let ok = match (expect, &got) {
                (Is(class, tables, missing_where), Ok(c)) => {
                    c.class == *class && c.tables == *tables && c.missing_where == *missing_where
                }
                (Unparsable, Err(_)) => true,
                _ => false,
            };
            if !ok {
                failures.push(format!("{dialect} {sql:?}\n    got {got:?}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

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
fn explain_runs_its_statement_under_every_spelling_of_analyze() {
    let runs = |sql| (sql, &[Postgres, Generic][..], Is(Write, &["users"], true));
    let plans = |sql| (sql, &[Postgres][..], Is(Read, &["users"], false));
    let refused = |sql| (sql, &[Postgres, Generic][..], Unparsable);
    check(&[
        runs("EXPLAIN ANALYZE DELETE FROM users"),
        runs("EXPLAIN (ANALYSE) DELETE FROM users"),
        runs("EXPLAIN (analyse, FORMAT JSON) DELETE FROM users"),
        runs("EXPLAIN (FORMAT JSON, ANALYZE) DELETE FROM users"),
        runs("EXPLAIN (ANALYZE true) DELETE FROM users"),
        runs("EXPLAIN (ANALYZE TRUE) DELETE FROM users"),
        runs("EXPLAIN (ANALYZE 1) DELETE FROM users"),
        runs("EXPLAIN (ANALYZE on) DELETE FROM users"),
        runs("EXPLAIN (ANALYZE 'ON') DELETE FROM users"),
        runs(r#"EXPLAIN (ANALYZE "on") DELETE FROM users"#),
        runs("EXPLAIN (ANALYZE off, ANALYSE on) DELETE FROM users"),
        plans("EXPLAIN DELETE FROM users"),
        plans("EXPLAIN (ANALYZE false) DELETE FROM users"),
        plans("EXPLAIN (ANALYSE 0) DELETE FROM users"),
        plans("EXPLAIN (ANALYZE 'off', VERBOSE, COSTS off, BUFFERS) DELETE FROM users"),
        refused("EXPLAIN (ANALYZE maybe) DELETE FROM users"),
        refused("EXPLAIN (ANALYZE 2) DELETE FROM users"),
        refused("EXPLAIN (ANALYZE +1) DELETE FROM users"),
        refused("EXPLAIN (EXECUTE) DELETE FROM users"),
        refused("EXPLAIN (VERBOSE, RUN) DELETE FROM users"),
        // The keyword spelled ANALYSE does not parse: unparsable.
        refused("EXPLAIN ANALYSE DELETE FROM users"),
        (
            "EXPLAIN ANALYZE DELETE FROM users",
            &[Mysql],
            Is(Write, &["users"], true),
        ),
        // MySQL and MariaDB plan an EXPLAIN'd DELETE without running it, but
        // treat it as the DELETE (they refuse it in a read-only
        // transaction): it takes the DELETE's class, not its missing WHERE.
        (
            "DESCRIBE DELETE FROM users",
            &[Mysql],
            Is(Write, &["users"], false),
        ),
        (
            "EXPLAIN DELETE FROM users",
            &[Mysql, Generic],
            Is(Write, &["users"], false),
        ),
        (
            "EXPLAIN (ANALYZE false) DELETE FROM users",
            &[Generic],
            Is(Write, &["users"], false),
        ),
        (
            "EXPLAIN SELECT * FROM users",
            &[Mysql],
            Is(Read, &["users"], false),
        ),
        // MariaDB's ANALYZE statement runs what it analyzes: unparsable.
        ("ANALYZE DELETE FROM users", &[Mysql], Unparsable),
        ("EXPLAIN (ANALYZE) DELETE FROM users", &[Mysql], Unparsable),
        (
            "EXPLAIN QUERY PLAN DELETE FROM users",
            &[Sqlite],
            Is(Read, &["users"], false),
        ),
        (
            "EXPLAIN DELETE FROM users",
            &[Sqlite],
            Is(Read, &["users"], false),
        ),
    ]);
}

#[test]
fn executable_comments_are_unparsable() {
    check(&[
        (
            "SELECT * FROM t /*! , payroll */",
            &[Mysql, Generic],
            Unparsable,
        ),
        (
            "SELECT 1 /*!50000 ; DELETE FROM users */",
            &[Mysql, Generic],
            Unparsable,
        ),
        (
            "SELECT 1 /*M!100400 ; DELETE FROM users */",
            &[Mysql, Generic],
            Unparsable,
        ),
        (
            "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE */",
            &[Mysql],
            Unparsable,
        ),
        (
            "SELECT * FROM t /*! , payroll */",
            &[Postgres, Sqlite],
            Is(Read, &["t"], false),
        ),
    ]);
}

#[test]
fn settings_that_change_lexing_are_unparsable() {
    let pg = &[Postgres, Generic][..];
    let my = &[Mysql, Generic][..];
    check(&[
        ("SET standard_conforming_strings = off", pg, Unparsable),
        (
            "SET SESSION standard_conforming_strings = 'off'",
            pg,
            Unparsable,
        ),
        (
            "SET LOCAL standard_conforming_strings TO false",
            pg,
            Unparsable,
        ),
        ("SET standard_conforming_strings = 0", pg, Unparsable),
        (r#"SET "standard_conforming_strings" = off"#, pg, Unparsable),
        ("SET backslash_quote = on", pg, Unparsable),
        ("SET client_encoding = 'SJIS'", pg, Unparsable),
        ("SET client_encoding TO 'BIG5'", pg, Unparsable),
        ("SET NAMES 'GBK'", pg, Unparsable),
        (
            "SELECT set_config('standard_conforming_strings', 'off', false)",
            pg,
            Unparsable,
        ),
        (
            "SELECT pg_catalog.set_config('client_encoding', 'sjis', true)",
            pg,
            Unparsable,
        ),
        ("SELECT set_config($1, $2, false)", &[Postgres], Unparsable),
        (
            "ALTER ROLE app SET standard_conforming_strings = off",
            &[Postgres],
            Unparsable,
        ),
        (
            "SET standard_conforming_strings = on",
            pg,
            Is(Misc, &[], false),
        ),
        (
            "SET standard_conforming_strings TO DEFAULT",
            pg,
            Is(Misc, &[], false),
        ),
        (
            "RESET standard_conforming_strings",
            pg,
            Is(Misc, &[], false),
        ),
        (
            "SET backslash_quote = safe_encoding",
            pg,
            Is(Misc, &[], false),
        ),
        ("SET CLIENT_ENCODING TO 'UTF8'", pg, Is(Misc, &[], false)),
        ("SET client_encoding = 'latin1'", pg, Is(Misc, &[], false)),
        (
            "ALTER ROLE app SET standard_conforming_strings TO DEFAULT",
            &[Postgres],
            Is(StatementClass::Role, &[], false),
        ),
        // set_config of another setting changes no lexing, but is not a
        // plain read.
        (
            "SELECT set_config('app.tenant', $1, true)",
            &[Postgres],
            Is(Write, &[], false),
        ),
        ("SET sql_mode = 'ANSI_QUOTES'", my, Unparsable),
        (
            "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
            my,
            Unparsable,
        ),
        ("SET @@sql_mode = 'ANSI'", my, Unparsable),
        ("SET @@GLOBAL.sql_mode = 'ORACLE'", my, Unparsable),
        (
            "SET @@session.sql_mode = 'STRICT_TRANS_TABLES,ansi_quotes'",
            my,
            Unparsable,
        ),
        (
            "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
            my,
            Unparsable,
        ),
        ("SET sql_mode = 4", my, Unparsable),
        ("SET sql_mode = @saved_mode", &[Mysql], Unparsable),
        (
            "SET sql_mode = 'ANSI_QUOTES', autocommit = 1",
            my,
            Unparsable,
        ),
        (
            "SET autocommit = 1, sql_mode = 'PIPES_AS_CONCAT'",
            my,
            Unparsable,
        ),
        ("SET NAMES gbk", my, Unparsable),
        ("SET NAMES 'sjis'", &[Mysql], Unparsable),
        ("SET character_set_client = big5", my, Unparsable),
        ("SET CHARACTER SET gbk", &[Mysql], Unparsable),
        (
            "SET sql_mode = 'STRICT_TRANS_TABLES,NO_ENGINE_SUBSTITUTION'",
            my,
            Is(Misc, &[], false),
        ),
        ("SET sql_mode = ''", my, Is(Misc, &[], false)),
        ("SET sql_mode = DEFAULT", my, Is(Misc, &[], false)),
        ("SET @sql_mode = 'ANSI'", &[Mysql], Is(Misc, &[], false)),
        ("SET NAMES utf8mb4", &[Mysql], Is(Misc, &[], false)),
        // Generic must suit every server: utf8 is a name both know.
        ("SET NAMES utf8", &[Mysql, Generic], Is(Misc, &[], false)),
        ("SET NAMES utf8mb4", &[Generic], Unparsable),
        (
            "SET NAMES utf8mb4 COLLATE utf8mb4_unicode_ci",
            &[Mysql],
            Is(Misc, &[], false),
        ),
        ("SET NAMES DEFAULT", &[Mysql], Is(Misc, &[], false)),
        (
            "SET character_set_client = 'utf8mb4'",
            my,
            Is(Misc, &[], false),
        ),
    ]);
}

#[test]
fn reads_that_may_write_are_not_reads() {
    let w = |sql, dialects| (sql, dialects, Is(Write, &[], false));
    let r = |sql, dialects| (sql, dialects, Is(Read, &[], false));
    let pg = &[Postgres][..];
    let my = &[Mysql][..];
    let lite = &[Sqlite][..];
    check(&[
        w("SELECT nextval('orders_id_seq')", pg),
        w("SELECT setval('orders_id_seq', 1)", pg),
        w("SELECT pg_advisory_lock(42)", pg),
        w("SELECT lo_unlink(16401)", pg),
        w("SELECT dblink_exec('dbname=x', 'DELETE FROM users')", pg),
        w("SELECT audit_and_return(1)", pg),
        w("SELECT public.lower('A')", pg),
        w("VALUES (nextval('s'))", pg),
        w("SELECT * FROM make_report()", pg),
        w("SELECT 1 WHERE EXISTS (SELECT f())", pg),
        w("EXPLAIN SELECT nextval('s')", pg),
        w("CALL archive_orders()", &[Postgres, Mysql]),
        w("SELECT GET_LOCK('job', 10)", my),
        w("SELECT NEXTVAL(order_seq)", my),
        w("SELECT shop.discount(1)", my),
        w("SELECT load_extension('evil')", lite),
        w("SELECT my_udf(1)", lite),
        r("SELECT now(), count(*), lower('A'), coalesce(NULL, 1)", pg),
        r("SELECT pg_catalog.lower('A'), pg_sleep(0)", pg),
        r("SELECT * FROM generate_series(1, 3)", pg),
        r("SELECT NOW(), IFNULL(NULL, 1), LAST_INSERT_ID()", my),
        r(
            "SELECT typeof(1), datetime('now'), json_extract('{}', '$.a')",
            lite,
        ),
    ]);
    check(&[
        (
            "SELECT * FROM t FOR UPDATE",
            &[Postgres, Mysql],
            Is(Write, &["t"], false),
        ),
        (
            "SELECT * FROM t FOR SHARE SKIP LOCKED",
            &[Postgres],
            Is(Write, &["t"], false),
        ),
        (
            "SELECT * FROM (SELECT * FROM t FOR UPDATE) AS x",
            &[Postgres, Mysql],
            Is(Write, &["t"], false),
        ),
        (
            "EXPLAIN SELECT * FROM t FOR UPDATE",
            &[Postgres],
            Is(Read, &["t"], false),
        ),
        (
            "COPY t TO '/tmp/t.csv'",
            &[Postgres],
            Is(Write, &["t"], false),
        ),
        (
            "COPY (SELECT * FROM t) TO PROGRAM 'gzip > /tmp/t.gz'",
            &[Postgres],
            Is(Write, &["t"], false),
        ),
        ("COPY t TO STDOUT", &[Postgres], Is(Read, &["t"], false)),
        ("SET @a = discount(1)", &[Mysql], Is(Write, &[], false)),
        ("SET @a = NOW()", &[Mysql], Is(Misc, &[], false)),
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
