//! What statements leave behind, as the reset tracks it.

use std::sync::Arc;

use switchboard_sql::{Classifier, Dialect};

use super::*;

fn of(sql: &str, dialect: Dialect) -> Effect {
    let classified = Classifier::new(16).classify(sql, dialect);
    effect(sql, &classified)
}

fn pg(sql: &str) -> Effect {
    of(sql, Dialect::Postgres)
}

#[test]
fn plain_reads_and_writes_leave_nothing() {
    for sql in [
        "SELECT 1",
        "SELECT id, name FROM users WHERE id = $1",
        "INSERT INTO users (name) VALUES ($1)",
        "UPDATE users SET name = $1 WHERE id = $2",
        "DELETE FROM users WHERE id = $1",
        "WITH x AS (SELECT 1) SELECT * FROM x",
        "CREATE TABLE t (a int)",
        "DROP TABLE t",
        "ALTER TABLE t ADD COLUMN b int",
    ] {
        assert!(pg(sql).is_neutral(), "{sql}: {:?}", pg(sql));
    }
}

#[test]
fn transaction_control_opens_and_closes() {
    assert_eq!(pg("BEGIN").tx, Some(true));
    assert_eq!(
        pg("START TRANSACTION ISOLATION LEVEL SERIALIZABLE").tx,
        Some(true)
    );
    assert_eq!(pg("COMMIT").tx, Some(false));
    assert_eq!(pg("ROLLBACK").tx, Some(false));
    assert_eq!(pg("ROLLBACK TO SAVEPOINT a").tx, None);
    assert!(!pg("BEGIN").is_neutral(), "BEGIN must never be pipelined");
}

#[test]
fn session_changes_are_owed() {
    for sql in [
        "SET search_path = other",
        "SET ROLE someone",
        "SET app.tenant = '42'",
        "SELECT set_config('app.tenant', '42', false)",
        "SELECT pg_advisory_lock(1)",
        "CREATE TEMP TABLE t (a int)",
        "CREATE TEMPORARY VIEW v AS SELECT 1",
        "LISTEN channel",
        "DECLARE c CURSOR WITH HOLD FOR SELECT 1",
        "SELECT 1 INTO TEMP t2",
        "SELECT nextval('s')",
    ] {
        assert!(pg(sql).session, "{sql}: {:?}", pg(sql));
    }
    assert!(pg("PREPARE p AS SELECT 1").prepares);
}

#[test]
fn mysql_user_variables_are_owed() {
    for sql in ["SET @x = 1", "SELECT @x := 1", "SELECT 1 INTO @x"] {
        assert!(of(sql, Dialect::Mysql).session, "{sql}");
    }
}

#[test]
fn what_cannot_be_read_is_owed_in_full() {
    let e = pg("THIS IS NOT SQL");
    assert!(e.session && e.prepares);
    let e = pg("SELECT 1; SET x.y = 1");
    assert!(e.session, "several statements: {e:?}");
}

#[test]
fn a_debt_is_taken_once() {
    let debt = Debt::default();
    debt.note(pg("BEGIN"));
    debt.note(pg("SELECT 1"));
    debt.note(pg("SET a.b = 1"));
    let owed = debt.take();
    assert!(owed.tx_open && owed.session && !owed.prepared);
    assert!(debt.take().is_nothing());
    debt.note(pg("BEGIN"));
    debt.note(pg("COMMIT"));
    assert!(debt.take().is_nothing());
    let _ = Arc::new(());
}

#[test]
fn session_functions_are_found_in_any_case() {
    for sql in [
        "SELECT SET_CONFIG('app.tenant', '7', false)",
        "select Set_Config('app.tenant', '7', false)",
        "SELECT pg_advisory_lock(1)",
        "SELECT PG_ADVISORY_LOCK(1)",
        "SELECT NEXTVAL('s')",
        "SELECT 1 INTO TEMP t",
        "CREATE TEMP TABLE t (a int)",
        "CREATE TEMPORARY TABLE t (a int)",
    ] {
        assert!(pg(sql).session, "{sql}: {:?}", pg(sql));
    }
    assert_eq!(pg("ROLLBACK TO SAVEPOINT a").tx, None);
    assert_eq!(pg("rollback To savepoint a").tx, None);
    assert_eq!(pg("ROLLBACK").tx, Some(false));
}
