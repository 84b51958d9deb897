//! What runs: EXPLAIN, executable comments, lexing settings, reads that
//! may write.

use switchboard_core::StatementClass::{self, Misc, Read, Write};

use super::{Is, Unparsable, check};
use crate::Dialect::{Generic, Mysql, Postgres, Sqlite};

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
