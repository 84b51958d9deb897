//! The lexer models: text the server and sqlparser would split differently
//! is refused, text they read alike is classified.

use crate::Dialect::{self, Generic, Mysql, Postgres, Sqlite};
use crate::classify;

/// Whether `sql` is refused as not classifiable with certainty.
fn refused(sql: &str, dialect: Dialect) -> bool {
    match classify(sql, dialect) {
        Err(e) => e.message.starts_with("cannot be classified with certainty"),
        Ok(_) => false,
    }
}

#[track_caller]
fn assert_refused(sql: &str, dialects: &[Dialect]) {
    for &dialect in dialects {
        assert!(
            refused(sql, dialect),
            "{dialect} should refuse {sql:?}, got {:?}",
            classify(sql, dialect)
        );
    }
}

#[track_caller]
fn assert_classified(sql: &str, dialects: &[Dialect]) {
    for &dialect in dialects {
        assert!(
            classify(sql, dialect).is_ok(),
            "{dialect} should classify {sql:?}: {:?}",
            classify(sql, dialect)
        );
    }
}

#[test]
fn executable_comments_are_refused_in_mysql() {
    for sql in [
        "SELECT 1 /*! , (SELECT 1 FROM payroll) */",
        "SELECT 1 /*!50000 ; DELETE FROM users */",
        "SELECT 1 /*!100101 UNION SELECT * FROM payroll */",
        "SELECT 1 /*M! ; DELETE FROM users */",
        "SELECT 1 /*M!100500 ; DELETE FROM users */",
        "/*!40101 SET NAMES utf8 */",
        "SELECT 1/*!*/",
    ] {
        assert_refused(sql, &[Mysql, Generic]);
    }
    // Elsewhere they are plain comments, and in strings they are text.
    assert_classified("SELECT 1 /*! , 2 */", &[Postgres, Sqlite]);
    assert_classified("SELECT '/*! x */' FROM t", &[Mysql]);
    assert_classified("SELECT 1 /*+ MAX_EXECUTION_TIME(10) */", &[Mysql]);
}

#[test]
fn a_carriage_return_ends_a_postgres_line_comment() {
    // PostgreSQL runs the DELETE after the carriage return.
    let c = classify("SELECT 1 --x\r; DELETE FROM users", Postgres).expect("two statements");
    assert_eq!((c.statements, c.missing_where), (2, true));
    // MySQL and SQLite end `--` comments at the line feed only, as sqlparser.
    assert_classified("SELECT 1 -- x\r DELETE FROM users", &[Mysql, Sqlite]);
    assert_classified("SELECT 1 -- fine\r\nFROM t", &[Postgres]);
}

#[test]
fn mysql_double_dash_needs_a_space_or_control_character() {
    assert_classified("SELECT 1--1", &[Mysql]);
    assert_classified("SELECT 1 -- comment\nFROM t", &[Mysql]);
    assert_classified("SELECT 1 #comment\nFROM t", &[Mysql]);
    // `--` before a tab or a control character is a comment in MySQL.
    for sql in [
        "SELECT 1 --\t; DELETE FROM users",
        "SELECT 1 --\u{1}\n; DELETE FROM users",
    ] {
        let c = classify(sql, Mysql);
        assert!(
            refused(sql, Mysql) || c.as_ref().is_ok_and(|c| c.statements == 1),
            "{sql:?}: {c:?}"
        );
    }
}

#[test]
fn nested_comments_nest_only_in_postgres() {
    assert_classified("SELECT 1 /* a /* b */ c */ FROM t", &[Postgres]);
    // MySQL and SQLite end the comment at the first `*/`.
    let c = classify("SELECT 1 /* /* */, 2 /* */", Mysql).expect("parses");
    assert_eq!(c.statements, 1);
}

#[test]
fn backslashes_escape_only_where_the_server_says() {
    // PostgreSQL: a standard string ends at the second quote...
    let c = classify(r"SELECT '\'; DELETE FROM users; --'", Postgres).expect("two statements");
    assert_eq!(
        (c.statements, c.tables.as_slice()),
        (2, &["users".to_owned()][..])
    );
    let c = classify(r"SELECT 'a\' AS x FROM t", Postgres).expect("standard string");
    assert_eq!(c.tables, ["t"]);
    // ... an E string takes escapes.
    let c = classify(r"SELECT E'a\'b' FROM t", Postgres).expect("escape string");
    assert_eq!(c.tables, ["t"]);
    // MySQL escapes in both quote styles.
    let c = classify(r#"SELECT 'a\'b', "c\"d" FROM t"#, Mysql).expect("escapes");
    assert_eq!(c.tables, ["t"]);
    // SQLite has no escapes.
    let c = classify(r"SELECT 'a\' FROM t", Sqlite).expect("no escapes");
    assert_eq!(c.tables, ["t"]);
}

#[test]
fn sqlite_tcl_variables_hide_their_parenthesised_text() {
    // SQLite reads `$a(...)` as one variable; the parser would see a call.
    assert_refused("SELECT $a(;DELETE/**/FROM/**/t;), 5", &[Sqlite]);
    assert_refused(
        "SELECT $a('), 1 FROM t; DELETE FROM users; SELECT (')",
        &[Sqlite],
    );
    assert_classified(
        "SELECT * FROM t WHERE a = $a AND b = :b AND c = @c",
        &[Sqlite],
    );
}

#[test]
fn nul_and_non_ascii_spaces_are_refused() {
    assert_refused(
        "DELETE FROM users\0 WHERE id = 1",
        &[Postgres, Mysql, Sqlite, Generic],
    );
    assert_refused(
        "DELETE FROM users\u{a0}WHERE id = 1",
        &[Postgres, Mysql, Sqlite],
    );
    assert_refused("SELECT 1\u{2028}FROM t", &[Postgres]);
    // In strings and comments they are only text.
    assert_classified(
        "SELECT 'a\u{a0}b' FROM t -- \u{a0}",
        &[Postgres, Mysql, Sqlite],
    );
}

#[test]
fn dollar_quotes_follow_postgres_names() {
    let c = classify("SELECT $body$ ; DELETE FROM users; $body$ FROM t", Postgres)
        .expect("dollar string");
    assert_eq!(c.tables, ["t"]);
    assert_eq!(c.statements, 1);
    let c = classify("SELECT $$a$b$$, $x$ $$ $x$ FROM t", Postgres).expect("nested tags");
    assert_eq!(c.tables, ["t"]);
    // `x$a$` is a name in PostgreSQL (names take `$`), not a dollar quote.
    assert!(classify("SELECT 1 AS x$a$, 2 $a$", Postgres).is_err());
}

#[test]
fn quoted_names_and_strings_in_every_style_agree() {
    assert_classified(r#"SELECT "a""b", 'c''d' FROM "t""x""#, &[Postgres, Sqlite]);
    assert_classified("SELECT `a``b` FROM `t`", &[Mysql, Sqlite]);
    assert_classified("SELECT [a b] FROM [t]", &[Sqlite]);
    assert_classified("SELECT N'x', X'41', B'01' FROM t", &[Postgres]);
    assert_classified("SELECT _utf8mb4'x', X'41', b'01', N'y' FROM t", &[Mysql]);
    assert_classified("SELECT U&'d\\0061t' FROM t", &[Postgres]);
    assert_classified(
        "SELECT 'é', \"ü\" FROM t\n-- ü\n/* ü */ WHERE a = 'ö'",
        &[Postgres, Sqlite],
    );
}
