//! The statements of the catalogue, with what each backend answers.

use std::time::Duration;

use diesel::sql_types::{Integer, Nullable, Text};
use switchboard::{DbErrorKind, Execute};

use super::Variant::*;
use super::statements::{Case, Input};
use super::{Expect, Variant};
use crate::support::{Db, Target};

const fn err(variant: Variant, words: &'static [&'static str]) -> Expect {
    Expect::Err(variant, words)
}

fn sql(sql: impl Into<String>) -> Input {
    Input::Execute(Execute::sql(sql.into()))
}

/// The same expectation on every backend.
fn all(name: &'static str, input: fn(&Target) -> Input, expect: Expect) -> Case {
    Case {
        name,
        input,
        sqlite: expect,
        postgres: expect,
        mysql: expect,
    }
}

/// 64 MiB of SQL: one string literal, built in place.
fn huge_statement() -> String {
    const SIZE: usize = 64 << 20;
    let mut sql = String::with_capacity(SIZE);
    sql.push_str("SELECT '");
    sql.extend(std::iter::repeat_n('x', SIZE - sql.len() - 1));
    sql.push('\'');
    sql
}

/// A statement that runs for a few hundred milliseconds.
fn slow(t: &Target) -> &'static str {
    match t.db {
        Db::Sqlite => {
            "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 1000000) SELECT count(*) FROM c"
        }
        Db::Postgres => "SELECT pg_sleep(0.3)",
        Db::Mysql => "SELECT SLEEP(0.3)",
    }
}

const EMPTY_QUERY: Expect = err(Driver, &["empty query"]);
const MULTIPLE_COMMANDS: Expect = err(Database(None), &["cannot insert multiple commands"]);
const MYSQL_SYNTAX: Expect = err(Database(Some(DbErrorKind::Syntax)), &["SQL syntax"]);

pub(super) fn cases() -> Vec<Case> {
    vec![
        // Nothing to run.
        all(
            "empty statement",
            |_| sql(""),
            err(EmptyStatement, &["empty statement"]),
        ),
        all(
            "whitespace only",
            |_| sql(" \n\t "),
            err(EmptyStatement, &["no SQL"]),
        ),
        // Not blank, but no statement either: the backends disagree.
        Case {
            name: "comment only",
            input: |_| sql("-- nothing to run"),
            sqlite: EMPTY_QUERY,
            postgres: Expect::Ok,
            mysql: Expect::Ok,
        },
        Case {
            name: "a lone semicolon",
            input: |_| sql(";"),
            sqlite: EMPTY_QUERY,
            postgres: Expect::Ok,
            mysql: err(Database(None), &["Query was empty"]),
        },
        all(
            "truncated statement",
            |_| sql("INSERT INTO"),
            err(Database(Some(DbErrorKind::Syntax)), &[]),
        ),
        // Unterminated tokens. PostgreSQL and SQLite report them without the
        // word "syntax", so their kind is Other.
        Case {
            name: "unterminated string literal",
            input: |_| sql("SELECT 'abc"),
            sqlite: err(Database(None), &["unrecognized token", "'abc"]),
            postgres: err(Database(None), &["unterminated quoted string", "'abc"]),
            mysql: MYSQL_SYNTAX,
        },
        Case {
            name: "unterminated quoted identifier",
            input: |_| sql("SELECT \"abc"),
            sqlite: err(Database(None), &["unrecognized token"]),
            postgres: err(Database(None), &["unterminated quoted identifier"]),
            mysql: MYSQL_SYNTAX,
        },
        Case {
            name: "unterminated block comment",
            input: |_| sql("SELECT 1 /* abc"),
            // SQLite ends a comment at the end of its input.
            sqlite: Expect::Ok,
            postgres: err(Database(None), &["unterminated /* comment"]),
            mysql: MYSQL_SYNTAX,
        },
        // Several statements in one Execute. PostgreSQL's extended protocol
        // and MySQL's prepared statements refuse them; SQLite (through
        // diesel) prepares the first, runs it, and silently ignores the
        // rest: the stacked DROP TABLE below does not run (checked at the
        // end).
        Case {
            name: "two statements",
            input: |_| sql("SELECT 1; SELECT 2"),
            sqlite: Expect::Ok,
            postgres: MULTIPLE_COMMANDS,
            mysql: MYSQL_SYNTAX,
        },
        Case {
            name: "a stacked DROP TABLE",
            input: |t| sql(format!("SELECT 1; DROP TABLE {}", t.table)),
            sqlite: Expect::Ok,
            postgres: MULTIPLE_COMMANDS,
            mysql: MYSQL_SYNTAX,
        },
        Case {
            name: "two statements with a bind each",
            input: |t| {
                Input::Execute(
                    Execute::sql(format!("SELECT {}; SELECT {}", t.ph(1), t.ph(2)))
                        .bind::<Integer, _>(1)
                        .bind::<Integer, _>(2),
                )
            },
            // Only the first statement is prepared, with one parameter.
            sqlite: err(Database(None), &["column index out of range"]),
            postgres: MULTIPLE_COMMANDS,
            mysql: MYSQL_SYNTAX,
        },
        // Bind counts and types.
        all(
            "a bind for a statement without placeholders",
            |_| Input::Execute(Execute::sql("SELECT 1").bind::<Integer, _>(1)),
            err(
                BindMismatch {
                    expected: 0,
                    given: 1,
                },
                &["0 placeholder(s)", "1 value(s)"],
            ),
        ),
        all(
            "three placeholders, two binds",
            |t| {
                Input::Execute(
                    Execute::sql(format!(
                        "INSERT INTO {} (id, name, n) VALUES ({}, {}, {})",
                        t.table,
                        t.ph(1),
                        t.ph(2),
                        t.ph(3)
                    ))
                    .bind::<Integer, _>(7)
                    .bind::<Text, _>("seven"),
                )
            },
            err(
                BindMismatch {
                    expected: 3,
                    given: 2,
                },
                &["3 placeholder(s)", "2 value(s)"],
            ),
        ),
        Case {
            name: "the other backend's placeholder style",
            input: |t| {
                let p = if t.db == Db::Postgres { "?" } else { "$1" };
                Input::Execute(Execute::sql(format!("SELECT {p}")).bind::<Integer, _>(1))
            },
            // SQLite takes $1 too.
            sqlite: Expect::Ok,
            postgres: err(Database(Some(DbErrorKind::Syntax)), &["syntax error"]),
            mysql: err(
                BindMismatch {
                    expected: 0,
                    given: 1,
                },
                &["0 placeholder(s)"],
            ),
        },
        Case {
            name: "text bound to an integer column",
            input: |t| {
                Input::Execute(
                    Execute::sql(format!(
                        "INSERT INTO {} (id, name, n) VALUES (2, 'b', {})",
                        t.table,
                        t.ph(1)
                    ))
                    .bind::<Text, _>("abc"),
                )
            },
            // SQLite's type affinity stores the text as it is.
            sqlite: Expect::Ok,
            postgres: err(
                Database(None),
                &["column \"n\" is of type integer but expression is of type text"],
            ),
            // The bound value itself is redacted from the message.
            mysql: err(Database(None), &["Incorrect integer value: '"]),
        },
        all(
            "NULL bound to a NOT NULL column",
            |t| {
                Input::Execute(
                    Execute::sql(format!(
                        "INSERT INTO {} (id, name, n) VALUES (3, 'c', {})",
                        t.table,
                        t.ph(1)
                    ))
                    .bind::<Nullable<Integer>, _>(None::<i32>),
                )
            },
            err(Database(Some(DbErrorKind::NotNullViolation)), &["null"]),
        ),
        Case {
            name: "more binds than the protocol allows (70,000)",
            input: |t| {
                let marks: Vec<String> = (1..=70_000).map(|i| t.ph(i)).collect();
                let sql = format!("SELECT 1 WHERE 1 IN ({})", marks.join(","));
                let e = (0..70_000).fold(Execute::sql(sql), |e, i| e.bind::<Integer, _>(i));
                Input::Execute(e)
            },
            sqlite: err(Database(None), &["too many SQL variables"]),
            postgres: err(
                Driver,
                &["error encoding message to server", "65,535 bind values"],
            ),
            mysql: err(Database(None), &["too many placeholders"]),
        },
        // Constraints and names.
        Case {
            name: "duplicate primary key",
            input: |t| {
                sql(format!(
                    "INSERT INTO {} (id, name, n) VALUES (1, 'again', 1)",
                    t.table
                ))
            },
            sqlite: err(
                Database(Some(DbErrorKind::UniqueViolation)),
                &["UNIQUE constraint failed"],
            ),
            postgres: err(
                Database(Some(DbErrorKind::UniqueViolation)),
                // The row's values in the DETAIL are redacted.
                &["duplicate key", "(detail: "],
            ),
            mysql: err(
                Database(Some(DbErrorKind::UniqueViolation)),
                &["Duplicate entry '"],
            ),
        },
        all(
            "unknown column",
            |t| sql(format!("SELECT no_such_column_sb FROM {}", t.table)),
            err(
                Database(Some(DbErrorKind::UndefinedObject)),
                &["no_such_column_sb"],
            ),
        ),
        Case {
            name: "value too long for VARCHAR(64)",
            input: |t| {
                Input::Execute(
                    Execute::sql(format!(
                        "INSERT INTO {} (id, name, n) VALUES (4, {}, 4)",
                        t.table,
                        t.ph(1)
                    ))
                    .bind::<Text, _>("y".repeat(100)),
                )
            },
            // SQLite does not enforce VARCHAR lengths.
            sqlite: Expect::Ok,
            postgres: err(
                Database(None),
                &["value too long for type character varying(64)"],
            ),
            mysql: err(Database(None), &["Data too long for column 'name'"]),
        },
        // NUL bytes.
        Case {
            name: "NUL byte in the SQL text",
            input: |_| sql("SELECT 'a\0b'"),
            sqlite: err(Driver, &["nul byte"]),
            postgres: err(
                Driver,
                &["error encoding message to server", "NUL character"],
            ),
            mysql: Expect::Ok,
        },
        Case {
            name: "NUL byte in a text bind",
            input: |_| {
                Input::Execute(Execute::sql("SELECT 1 WHERE 'x' <> $1").bind::<Text, _>("a\0b"))
            },
            sqlite: Expect::Ok,
            postgres: err(
                Database(None),
                &["invalid byte sequence for encoding \"UTF8\": 0x00"],
            ),
            mysql: Expect::Skip("MySQL has no $1 placeholder; see the next case"),
        },
        Case {
            name: "NUL byte in a text bind, ? placeholder",
            input: |_| {
                Input::Execute(Execute::sql("SELECT 1 WHERE 'x' <> ?").bind::<Text, _>("a\0b"))
            },
            sqlite: Expect::Ok,
            postgres: Expect::Skip("PostgreSQL has no ? placeholder; see the previous case"),
            mysql: Expect::Ok,
        },
        // Invalid UTF-8 coming back from the server.
        Case {
            name: "bytes that are not UTF-8 read as text",
            input: |t| {
                Input::LoadText(
                    match t.db {
                        Db::Sqlite => "SELECT x'ff41' AS s",
                        Db::Postgres => "SELECT '\\xff41'::bytea AS s",
                        Db::Mysql => "SELECT CAST(x'ff41' AS BINARY) AS s",
                    }
                    .into(),
                )
            },
            sqlite: err(Driver, &["invalid utf-8"]),
            postgres: err(Driver, &["invalid utf-8"]),
            mysql: err(Driver, &["invalid utf-8"]),
        },
        Case {
            name: "invalid UTF-8 converted to text by the server",
            input: |t| {
                Input::LoadText(
                    match t.db {
                        Db::Sqlite => "SELECT CAST(x'ff41' AS TEXT) AS s",
                        Db::Postgres => "SELECT convert_from('\\xff41'::bytea, 'UTF8') AS s",
                        Db::Mysql => "SELECT CAST(x'ff41' AS CHAR) AS s",
                    }
                    .into(),
                )
            },
            sqlite: err(Driver, &["invalid utf-8"]),
            postgres: err(
                Database(None),
                &["invalid byte sequence for encoding \"UTF8\": 0xff"],
            ),
            // MariaDB replaces the byte with '?'.
            mysql: Expect::Ok,
        },
        // A zero timeout on the message: expired before the slow statement
        // ends (SQLite's statement still runs to its end on its connection).
        all(
            "zero message timeout",
            |t| Input::Execute(Execute::sql(slow(t)).timeout(Duration::ZERO)),
            err(Timeout, &["timed out after 0ms"]),
        ),
        Case {
            name: "64 MiB statement",
            input: |_| sql(huge_statement()),
            sqlite: Expect::Ok,
            postgres: Expect::Ok,
            mysql: Expect::Skip(
                "past max_allowed_packet the connection dies; tested on its own in regressions",
            ),
        },
    ]
}
