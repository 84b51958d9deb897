//! The classification table: one row per statement, exact expectations.

use switchboard_core::StatementClass::{self, Ddl, Misc, Read, Role, Write};

use crate::Dialect::{self, Generic, Mysql, Postgres, Sqlite};
use crate::{Classification, ParseError, classify};

/// One row: what `classify(sql, dialect)` must report.
struct Case {
    sql: &'static str,
    dialect: Dialect,
    class: StatementClass,
    operation: &'static str,
    tables: &'static [&'static str],
    missing_where: bool,
    statements: usize,
    placeholders: usize,
}

#[rustfmt::skip]
#[expect(clippy::too_many_arguments, reason = "one argument per column of the table")]
const fn case(
    sql: &'static str, dialect: Dialect, class: StatementClass, operation: &'static str,
    tables: &'static [&'static str], missing_where: bool, statements: usize, placeholders: usize,
) -> Case {
    Case { sql, dialect, class, operation, tables, missing_where, statements, placeholders }
}

// Columns: sql, dialect, class, operation, tables, missing_where, statements, placeholders.
#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- PostgreSQL: reads, joins, subqueries, quoting, schemas ---
    case("SELECT 1", Postgres, Read, "SELECT", &[], false, 1, 0),
    case("SELECT u.id, o.total FROM public.users u JOIN orders o ON o.user_id = u.id WHERE u.id = $1",
         Postgres, Read, "SELECT", &["public.users", "orders"], false, 1, 1),
    case(r#"SELECT * FROM "Sales"."Order Items" WHERE id = $2 OR id = $1"#,
         Postgres, Read, "SELECT", &["Sales.Order Items"], false, 1, 2),
    case("SELECT * FROM users WHERE id IN (SELECT user_id FROM bans) \
          AND EXISTS (SELECT 1 FROM audit.events e WHERE e.user_id = users.id)",
         Postgres, Read, "SELECT", &["users", "bans", "audit.events"], false, 1, 0),
    case("SELECT * FROM (SELECT * FROM inner_t) AS sub, inner_t", Postgres, Read, "SELECT", &["inner_t"], false, 1, 0),
    case("SELECT * FROM generate_series(1, 3) AS g JOIN t ON true", Postgres, Read, "SELECT", &["t"], false, 1, 0),
    case("SELECT * FROM pg_catalog.generate_series(1, $1)", Postgres, Read, "SELECT", &[], false, 1, 1),
    // A locking read may write: PostgreSQL refuses it in a read-only transaction.
    case("SELECT * FROM users FOR UPDATE", Postgres, Write, "SELECT", &["users"], false, 1, 0),
    case("VALUES (1), (2)", Postgres, Read, "VALUES", &[], false, 1, 0),
    case("SHOW search_path", Postgres, Read, "SHOW", &[], false, 1, 0),
    // --- PostgreSQL: CTEs ---
    case("WITH recent AS (SELECT * FROM orders WHERE created_at > $1) SELECT count(*) FROM recent",
         Postgres, Read, "SELECT", &["orders"], false, 1, 1),
    case("WITH a AS (SELECT * FROM t1), b AS (SELECT * FROM a JOIN t2 ON true) SELECT * FROM b",
         Postgres, Read, "SELECT", &["t1", "t2"], false, 1, 0),
    // A CTE's own body refers to the real table of the same name.
    case("WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets",
         Postgres, Read, "SELECT", &["secrets"], false, 1, 0),
    // ... and a later CTE is not visible in an earlier one's body.
    case("WITH a AS (SELECT * FROM b), b AS (SELECT 1) SELECT * FROM a, b",
         Postgres, Read, "SELECT", &["b"], false, 1, 0),
    case("WITH RECURSIVE tree AS (SELECT id FROM nodes WHERE parent IS NULL \
          UNION ALL SELECT n.id FROM nodes n JOIN tree t ON n.parent = t.id) SELECT * FROM tree",
         Postgres, Read, "SELECT", &["nodes"], false, 1, 0),
    case("WITH gone AS (DELETE FROM sessions WHERE expires_at < now() RETURNING user_id) \
          SELECT * FROM users WHERE id IN (SELECT user_id FROM gone)",
         Postgres, Write, "SELECT", &["sessions", "users"], false, 1, 0),
    // A CTE in a subquery shadows only inside that subquery.
    case("SELECT * FROM (WITH t AS (SELECT * FROM real_t) SELECT * FROM t) AS s JOIN t ON true",
         Postgres, Read, "SELECT", &["real_t", "t"], false, 1, 0),
    // Unquoted names match a CTE in any case; a quoted CTE name only exactly.
    case("WITH recent AS (SELECT 1) SELECT * FROM RECENT", Postgres, Read, "SELECT", &[], false, 1, 0),
    case(r#"WITH "Recent" AS (SELECT 1) SELECT * FROM recent"#, Postgres, Read, "SELECT", &["recent"], false, 1, 0),
    case("WITH recent AS (SELECT 1) SELECT * FROM app.recent", Postgres, Read, "SELECT", &["app.recent"], false, 1, 0),
    case("WITH x AS (SELECT 1) UPDATE accounts SET balance = 0",
         Postgres, Write, "UPDATE", &["accounts"], true, 1, 0),
    // --- PostgreSQL: writes ---
    case("INSERT INTO archive (id, body) SELECT id, body FROM posts WHERE created_at < $1",
         Postgres, Write, "INSERT", &["archive", "posts"], false, 1, 1),
    case("UPDATE users SET name = $1 WHERE id = $2", Postgres, Write, "UPDATE", &["users"], false, 1, 2),
    case("UPDATE users SET active = false", Postgres, Write, "UPDATE", &["users"], true, 1, 0),
    case("UPDATE orders o SET total = s.sum FROM order_sums s WHERE s.id = o.id",
         Postgres, Write, "UPDATE", &["orders", "order_sums"], false, 1, 0),
    case("DELETE FROM public.sessions", Postgres, Write, "DELETE", &["public.sessions"], true, 1, 0),
    case("DELETE FROM sessions WHERE user_id = $1", Postgres, Write, "DELETE", &["sessions"], false, 1, 1),
    case("MERGE INTO stock s USING deliveries d ON s.item = d.item \
          WHEN MATCHED THEN UPDATE SET qty = s.qty + d.qty",
         Postgres, Write, "MERGE", &["stock", "deliveries"], false, 1, 0),
    case("TRUNCATE orders, order_items", Postgres, Write, "TRUNCATE", &["orders", "order_items"], false, 1, 0),
    case("COPY users FROM STDIN", Postgres, Write, "COPY", &["users"], false, 1, 0),
    case("COPY (SELECT * FROM users) TO STDOUT", Postgres, Read, "COPY", &["users"], false, 1, 0),
    case("SELECT * INTO users_backup FROM users", Postgres, Write, "SELECT", &["users_backup", "users"], false, 1, 0),
    // --- PostgreSQL: DDL ---
    case("CREATE TABLE public.accounts (id bigint PRIMARY KEY, name text)",
         Postgres, Ddl, "CREATE TABLE", &["public.accounts"], false, 1, 0),
    case("CREATE INDEX accounts_name ON accounts (name)", Postgres, Ddl, "CREATE INDEX", &["accounts"], false, 1, 0),
    case("ALTER TABLE accounts ADD COLUMN email text", Postgres, Ddl, "ALTER TABLE", &["accounts"], false, 1, 0),
    case("DROP TABLE IF EXISTS a, public.b", Postgres, Ddl, "DROP TABLE", &["a", "public.b"], false, 1, 0),
    case("CREATE VIEW active_users AS SELECT * FROM users WHERE active",
         Postgres, Ddl, "CREATE VIEW", &["active_users", "users"], false, 1, 0),
    case("CREATE TABLE users_copy AS SELECT * FROM users",
         Postgres, Ddl, "CREATE TABLE", &["users_copy", "users"], false, 1, 0),
    case("CREATE EXTENSION pgcrypto", Postgres, Ddl, "CREATE EXTENSION", &[], false, 1, 0),
    case("COMMENT ON TABLE users IS 'people'", Postgres, Ddl, "COMMENT", &[], false, 1, 0),
    // --- PostgreSQL: roles ---
    case("GRANT SELECT, INSERT ON public.users TO app", Postgres, Role, "GRANT", &[], false, 1, 0),
    case("REVOKE ALL ON users FROM app", Postgres, Role, "REVOKE", &[], false, 1, 0),
    case("GRANT admin TO bob", Postgres, Role, "GRANT", &[], false, 1, 0),
    case("CREATE ROLE reporting WITH LOGIN PASSWORD 'x'", Postgres, Role, "CREATE ROLE", &[], false, 1, 0),
    case("CREATE USER bob", Postgres, Role, "CREATE USER", &[], false, 1, 0),
    case("ALTER USER bob WITH PASSWORD 'y'", Postgres, Role, "ALTER ROLE", &[], false, 1, 0),
    case("DROP ROLE reporting", Postgres, Role, "DROP ROLE", &[], false, 1, 0),
    // --- PostgreSQL: misc, EXPLAIN, PREPARE ---
    case("BEGIN", Postgres, Misc, "BEGIN", &[], false, 1, 0),
    case("SET search_path TO app, public", Postgres, Misc, "SET", &[], false, 1, 0),
    case("SET ROLE admin", Postgres, Misc, "SET", &[], false, 1, 0),
    case("DISCARD ALL", Postgres, Misc, "DISCARD", &[], false, 1, 0),
    case("EXPLAIN SELECT * FROM users", Postgres, Read, "EXPLAIN", &["users"], false, 1, 0),
    case("EXPLAIN DELETE FROM users", Postgres, Read, "EXPLAIN", &["users"], false, 1, 0),
    case("EXPLAIN ANALYZE DELETE FROM users", Postgres, Write, "EXPLAIN", &["users"], true, 1, 0),
    case("EXPLAIN (ANALYZE, BUFFERS) DELETE FROM users", Postgres, Write, "EXPLAIN", &["users"], true, 1, 0),
    case("EXPLAIN (ANALYZE off) DELETE FROM users", Postgres, Read, "EXPLAIN", &["users"], false, 1, 0),
    case("VACUUM users", Postgres, Misc, "VACUUM", &["users"], false, 1, 0),
    case("PREPARE upd AS UPDATE users SET a = $1", Postgres, Write, "PREPARE", &["users"], true, 1, 0),
    // EXECUTE runs what an earlier PREPARE prepared: it may write.
    case("EXECUTE upd(1)", Postgres, Write, "EXECUTE", &[], false, 1, 0),
    // --- PostgreSQL: several statements ---
    case("BEGIN; UPDATE accounts SET balance = balance - $1 WHERE id = $2; COMMIT",
         Postgres, Write, "BEGIN", &["accounts"], false, 3, 2),
    case("SELECT 1; DROP TABLE users", Postgres, Ddl, "SELECT", &["users"], false, 2, 0),
    case("SELECT 1;", Postgres, Read, "SELECT", &[], false, 1, 0),

    // --- MySQL ---
    case("SELECT * FROM `shop`.`orders` WHERE id = ?", Mysql, Read, "SELECT", &["shop.orders"], false, 1, 1),
    case("SELECT o.id FROM `orders` o LEFT JOIN `customers` c ON c.id = o.customer_id WHERE c.country = ? LIMIT ?",
         Mysql, Read, "SELECT", &["orders", "customers"], false, 1, 2),
    case("SELECT * FROM t WHERE a = @limit", Mysql, Read, "SELECT", &["t"], false, 1, 0),
    case("SELECT id INTO @last FROM orders ORDER BY id DESC LIMIT 1", Mysql, Read, "SELECT", &["orders"], false, 1, 0),
    case("INSERT INTO `users` (`name`, `email`) VALUES (?, ?), (?, ?)", Mysql, Write, "INSERT", &["users"], false, 1, 4),
    case("REPLACE INTO kv (k, v) VALUES (?, ?)", Mysql, Write, "REPLACE", &["kv"], false, 1, 2),
    case("UPDATE `users` SET `active` = 0", Mysql, Write, "UPDATE", &["users"], true, 1, 0),
    case("UPDATE users u JOIN bans b ON b.user_id = u.id SET u.active = 0 WHERE b.until > NOW()",
         Mysql, Write, "UPDATE", &["users", "bans"], false, 1, 0),
    case("DELETE FROM logs ORDER BY id LIMIT 100", Mysql, Write, "DELETE", &["logs"], true, 1, 0),
    case("DELETE FROM logs WHERE created < ?", Mysql, Write, "DELETE", &["logs"], false, 1, 1),
    case("TRUNCATE TABLE `sessions`", Mysql, Write, "TRUNCATE", &["sessions"], false, 1, 0),
    case("RENAME TABLE old_orders TO orders_2024", Mysql, Ddl, "RENAME TABLE", &["old_orders", "orders_2024"], false, 1, 0),
    case("CREATE USER bob", Mysql, Role, "CREATE USER", &[], false, 1, 0),
    case("DROP USER bob", Mysql, Role, "DROP USER", &[], false, 1, 0),
    case("GRANT SELECT ON shop.orders TO bob", Mysql, Role, "GRANT", &[], false, 1, 0),
    case("REVOKE INSERT ON shop.orders FROM bob", Mysql, Role, "REVOKE", &[], false, 1, 0),
    case("SET NAMES utf8mb4", Mysql, Misc, "SET", &[], false, 1, 0),
    case("USE shop", Mysql, Misc, "USE", &[], false, 1, 0),
    case("SHOW TABLES", Mysql, Read, "SHOW", &[], false, 1, 0),
    case("SHOW TABLES IN shop", Mysql, Read, "SHOW", &[], false, 1, 0),
    case("SHOW COLUMNS FROM orders", Mysql, Read, "SHOW", &["orders"], false, 1, 0),
    case("DESCRIBE orders", Mysql, Read, "DESCRIBE", &["orders"], false, 1, 0),
    case("LOCK TABLES orders WRITE, items READ", Mysql, Misc, "LOCK TABLES", &["orders", "items"], false, 1, 0),
    case("START TRANSACTION; DELETE FROM carts; COMMIT", Mysql, Write, "START TRANSACTION", &["carts"], true, 3, 0),

    // --- SQLite ---
    case("SELECT * FROM users WHERE id = ?1 OR parent = ?1", Sqlite, Read, "SELECT", &["users"], false, 1, 1),
    case("SELECT * FROM notes WHERE tag = $tag OR owner = $tag", Sqlite, Read, "SELECT", &["notes"], false, 1, 1),
    case("SELECT * FROM a WHERE x = ? AND y = :y AND z = ?", Sqlite, Read, "SELECT", &["a"], false, 1, 3),
    case(r#"SELECT * FROM "main"."notes""#, Sqlite, Read, "SELECT", &["main.notes"], false, 1, 0),
    case("SELECT * FROM `notes`", Sqlite, Read, "SELECT", &["notes"], false, 1, 0),
    case("INSERT INTO notes (id, body) VALUES (:id, :body) ON CONFLICT (id) DO UPDATE SET body = excluded.body",
         Sqlite, Write, "INSERT", &["notes"], false, 1, 2),
    case("INSERT OR REPLACE INTO kv VALUES (?, ?)", Sqlite, Write, "INSERT", &["kv"], false, 1, 2),
    case("UPDATE notes SET body = @body WHERE id = @id", Sqlite, Write, "UPDATE", &["notes"], false, 1, 2),
    case("DELETE FROM kv", Sqlite, Write, "DELETE", &["kv"], true, 1, 0),
    case("CREATE TABLE IF NOT EXISTS kv (k TEXT PRIMARY KEY, v BLOB)", Sqlite, Ddl, "CREATE TABLE", &["kv"], false, 1, 0),
    case("CREATE VIRTUAL TABLE docs USING fts5(body)", Sqlite, Ddl, "CREATE VIRTUAL TABLE", &["docs"], false, 1, 0),
    case("ALTER TABLE notes RENAME TO memos", Sqlite, Ddl, "ALTER TABLE", &["notes"], false, 1, 0),
    case("DROP INDEX IF EXISTS notes_by_tag", Sqlite, Ddl, "DROP INDEX", &[], false, 1, 0),
    case("PRAGMA journal_mode = 'wal'", Sqlite, Misc, "PRAGMA", &[], false, 1, 0),
    // The trigger body's UPDATE has no WHERE: it will run on every insert.
    case("CREATE TRIGGER bump AFTER INSERT ON notes BEGIN UPDATE counts SET n = n + 1; END",
         Sqlite, Ddl, "CREATE TRIGGER", &["notes", "counts"], true, 1, 0),
    case("ATTACH DATABASE 'aux.db' AS aux", Sqlite, Misc, "ATTACH", &[], false, 1, 0),
    case("VACUUM", Sqlite, Misc, "VACUUM", &[], false, 1, 0),
    case("SAVEPOINT s1; RELEASE SAVEPOINT s1; ROLLBACK", Sqlite, Misc, "SAVEPOINT", &[], false, 3, 0),

    // --- Generic ---
    case("select * from Users where ID = ?", Generic, Read, "SELECT", &["Users"], false, 1, 1),
    case("GRANT SELECT ON t TO app; CREATE TABLE t2 (a int); DELETE FROM t3",
         Generic, Role, "GRANT", &["t2", "t3"], true, 3, 0),
];

#[test]
fn every_case_classifies_exactly() {
    let mut failures = Vec::new();
    for case in CASES {
        let expected = Classification {
            class: case.class,
            operation: case.operation.to_owned(),
            tables: case
                .tables
                .iter()
                .map(|table| (*table).to_owned())
                .collect(),
            missing_where: case.missing_where,
            statements: case.statements,
            placeholders: case.placeholders,
        };
        match classify(case.sql, case.dialect) {
            Ok(actual) if actual == expected => {}
            other => failures.push(format!(
                "{:?} {}\n    expected {expected:?}\n    got      {other:?}",
                case.dialect, case.sql
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CASES.len(),
        failures.join("\n")
    );
}

#[test]
fn the_table_covers_every_dialect_and_class() {
    assert!(CASES.len() >= 40);
    for dialect in Dialect::ALL {
        assert!(
            CASES.iter().any(|case| case.dialect == dialect),
            "{dialect}"
        );
    }
    for class in StatementClass::ALL {
        assert!(CASES.iter().any(|case| case.class == class), "{class}");
    }
}

/// (sql, dialect, exact error message)
const ERRORS: &[(&str, Dialect, &str)] = &[
    ("", Postgres, "empty statement"),
    ("   \n\t ", Mysql, "empty statement"),
    (
        "-- nothing here\n/* or here */ ;",
        Sqlite,
        "empty statement",
    ),
    (";;", Generic, "empty statement"),
    (
        "SELEC 1",
        Postgres,
        "Expected: an SQL statement, found: SELEC at Line: 1, Column: 1",
    ),
    ("SELECT * FROM", Mysql, "Expected: identifier, found: EOF"),
    (
        "SELECT * FROM t WHERE id = ?",
        Postgres,
        "Expected: an expression, found: ? at Line: 1, Column: 28",
    ),
    (
        "SELECT 'unterminated",
        Sqlite,
        "Unterminated string literal at Line: 1, Column: 8",
    ),
    (
        "SELECT ((((((((((((((((((((((((((((((((((((((((((((((((((((((((1))))))))))))))))))))))))))))))))))))))))))))))))))))))))",
        Generic,
        "statement nested too deeply (sqlparser's recursion limit)",
    ),
    (
        "CREATE USER 'bob'@'%' IDENTIFIED BY 'x'",
        Mysql,
        "Expected: another option, EOF, SemiColon, Comma or ')', found: '%' at Line: 1, Column: 19",
    ),
];

#[test]
fn unparseable_and_empty_sql_are_errors() {
    for (sql, dialect, message) in ERRORS {
        let expected = ParseError {
            message: (*message).to_owned(),
        };
        assert_eq!(classify(sql, *dialect), Err(expected), "{dialect} {sql:?}");
    }
}

#[test]
fn parse_errors_say_what_failed() {
    let err = classify("  ", Postgres).expect_err("blank SQL has no statement");
    assert_eq!(err.to_string(), "could not parse SQL: empty statement");
}

#[test]
fn the_same_text_differs_between_dialects() {
    let sql = "SELECT * FROM t WHERE a = ?";
    assert_eq!(classify(sql, Mysql).map(|c| c.placeholders), Ok(1));
    assert!(classify(sql, Postgres).is_err());
}

/// What diesel and diesel-async send on their own (connection setup,
/// transactions, savepoints) and what their query builders write: a guard
/// sees these too, so none may be unparsable.
#[test]
fn the_statements_diesel_writes_classify() {
    let misc = [
        (Postgres, "SET TIME ZONE 'UTC'"),
        (Postgres, "SET CLIENT_ENCODING TO 'UTF8'"),
        (
            Postgres,
            "BEGIN TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY",
        ),
        (Postgres, "SET TRANSACTION ISOLATION LEVEL SERIALIZABLE"),
        (Mysql, "SET time_zone = '+00:00';"),
        (Mysql, "SET character_set_client = 'utf8mb4'"),
        (Mysql, "SET character_set_connection = 'utf8mb4'"),
        (Mysql, "SET character_set_results = 'utf8mb4'"),
        (Sqlite, "BEGIN IMMEDIATE"),
        (Sqlite, "BEGIN EXCLUSIVE"),
    ];
    // diesel's `.deferrable()` writes `... DEFERRABLE`, which sqlparser 0.64
    // does not parse: unparsable, like any text it fails on.
    assert!(classify("BEGIN TRANSACTION DEFERRABLE", Postgres).is_err());
    let transactions = [
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT diesel_savepoint_1",
        "RELEASE SAVEPOINT diesel_savepoint_1",
        "ROLLBACK TO SAVEPOINT diesel_savepoint_1",
    ];
    let all = [Postgres, Mysql, Sqlite];
    let cases = misc
        .into_iter()
        .chain(all.iter().flat_map(|&d| transactions.map(|sql| (d, sql))));
    for (dialect, sql) in cases {
        assert_eq!(
            classify(sql, dialect).map(|c| c.class),
            Ok(Misc),
            "{dialect} {sql}"
        );
    }
    let built = [
        (
            Postgres,
            r#"SELECT "users"."id", "users"."name" FROM "users" WHERE ("users"."id" = $1) LIMIT $2"#,
            Read,
        ),
        (
            Postgres,
            r#"INSERT INTO "users" ("name") VALUES ($1) RETURNING "users"."id""#,
            Write,
        ),
        (
            Mysql,
            "SELECT `users`.`id` FROM `users` WHERE (`users`.`id` = ?)",
            Read,
        ),
        (
            Sqlite,
            "UPDATE `users` SET `name` = ? WHERE (`users`.`id` = ?)",
            Write,
        ),
    ];
    for (dialect, sql, class) in built {
        let c = classify(sql, dialect).expect("diesel's SQL classifies");
        assert_eq!(
            (c.class, c.tables.as_slice()),
            (class, &["users".to_owned()][..]),
            "{dialect} {sql}"
        );
    }
}
