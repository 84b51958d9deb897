//! How diesel errors become `Error`s: kinds, lost connections, codes.

use super::*;

fn db_error(kind: DatabaseErrorKind, message: &str) -> Error {
    Error::from(DieselError::DatabaseError(
        kind,
        Box::new(message.to_owned()),
    ))
}

#[test]
fn a_session_the_server_ended_is_a_lost_connection() {
    for message in [
        "terminating connection due to administrator command",
        "FATAL: terminating connection due to idle-session timeout",
        "Server shutdown in progress",
    ] {
        let err = db_error(DatabaseErrorKind::Unknown, message);
        assert!(err.is_connection_lost(), "{message}: {err:?}");
    }
}

#[test]
fn mysql_io_errors_reported_as_unknown_are_lost_connections() {
    for message in [
        "Input/output error: Connection to the server is closed",
        "Input/output error: packet too large",
    ] {
        let err = db_error(DatabaseErrorKind::Unknown, message);
        assert!(err.is_connection_lost(), "{message}: {err:?}");
    }
}

#[test]
fn ordinary_errors_keep_their_kind() {
    let err = db_error(DatabaseErrorKind::Unknown, "relation \"x\" does not exist");
    assert!(
        matches!(
            err,
            Error::Database {
                kind: DbErrorKind::UndefinedObject,
                ..
            }
        ),
        "{err:?}"
    );
    let err = db_error(DatabaseErrorKind::UniqueViolation, "duplicate key value");
    assert!(matches!(
        err,
        Error::Database {
            kind: DbErrorKind::UniqueViolation,
            ..
        }
    ));
}

fn on(backend: Backend, kind: DatabaseErrorKind, message: &str) -> Error {
    let e = DieselError::DatabaseError(kind, Box::new(message.to_owned()));
    Error::from_diesel(&e, backend)
}

fn code(e: &Error) -> Option<&str> {
    match e {
        Error::Database { code, .. } => code.as_deref(),
        _ => panic!("not a database error: {e:?}"),
    }
}

const MARIADB_SYNTAX: &str = "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELEC 1' at line 1";

#[test]
fn mysql_errors_carry_mysql_numbers_not_postgresql_sqlstates() {
    let e = on(Backend::Mysql, DatabaseErrorKind::Unknown, MARIADB_SYNTAX);
    assert_eq!(code(&e), Some("1064"));
    assert_eq!(e.sqlstate(), Some("42000"));
    assert!(
        e.to_string()
            .starts_with("database error 1064 (42000): You have an error"),
        "{e}"
    );
    let e = on(
        Backend::Mysql,
        DatabaseErrorKind::UniqueViolation,
        "Duplicate entry '1' for key 'PRIMARY'",
    );
    assert_eq!((code(&e), e.sqlstate()), (Some("1062"), Some("23000")));
}

#[test]
fn a_mysql_message_of_no_known_template_has_no_code() {
    // A server speaking another language: diesel still knows the kind.
    let e = on(
        Backend::Mysql,
        DatabaseErrorKind::UniqueViolation,
        "Doppelter Eintrag '1' für Schlüssel 'PRIMARY'",
    );
    assert!(matches!(
        e,
        Error::Database {
            kind: DbErrorKind::UniqueViolation,
            code: None,
            ..
        }
    ));
}

#[test]
fn mariadb_check_constraints_are_check_violations() {
    let e = on(
        Backend::Mysql,
        DatabaseErrorKind::Unknown,
        "CONSTRAINT `t.n` failed for `test`.`t`",
    );
    assert!(matches!(
        e,
        Error::Database {
            kind: DbErrorKind::CheckViolation,
            ..
        }
    ));
    assert_eq!(code(&e), Some("4025"));
}

#[test]
fn postgresql_keeps_its_sqlstates() {
    let e = on(
        Backend::Postgres,
        DatabaseErrorKind::Unknown,
        "syntax error at or near \"SELEC\"",
    );
    assert_eq!((code(&e), e.sqlstate()), (Some("42601"), Some("42601")));
    assert_eq!(
        e.to_string(),
        "database error 42601: syntax error at or near \"SELEC\""
    );
    let e = on(
        Backend::Postgres,
        DatabaseErrorKind::Unknown,
        "deadlock detected",
    );
    assert_eq!(code(&e), Some("40P01"));
}

#[test]
fn sqlite_errors_have_no_code() {
    let e = on(
        Backend::Sqlite,
        DatabaseErrorKind::UniqueViolation,
        "UNIQUE constraint failed: t.id",
    );
    assert_eq!((code(&e), e.sqlstate()), (None, None));
}

/// `?` in a closure knows no backend: the message tells.
#[test]
fn without_a_backend_the_message_tells_which_server_spoke() {
    let e = Error::from(DieselError::DatabaseError(
        DatabaseErrorKind::Unknown,
        Box::new(MARIADB_SYNTAX.to_owned()),
    ));
    assert_eq!(code(&e), Some("1064"));
    let e = Error::from(DieselError::DatabaseError(
        DatabaseErrorKind::UniqueViolation,
        Box::new("UNIQUE constraint failed: t.id".to_owned()),
    ));
    assert_eq!(code(&e), None);
    let e = Error::from(DieselError::DatabaseError(
        DatabaseErrorKind::UniqueViolation,
        Box::new("duplicate key value violates unique constraint \"t_pkey\"".to_owned()),
    ));
    assert_eq!(code(&e), Some("23505"));
}

/// diesel-async keeps only tokio-postgres's `to_string()`, which leaves
/// out the cause (a NUL in the SQL says only "error encoding message to
/// server").
#[test]
fn postgresql_client_errors_say_what_they_can_mean() {
    let e = on(
        Backend::Postgres,
        DatabaseErrorKind::UnableToSendCommand,
        "error encoding message to server",
    );
    let Error::Driver(message) = &e else {
        panic!("{e:?}");
    };
    assert!(message.contains("NUL character (\\0)"), "{message}");
    assert!(message.contains("65,535 bind values"), "{message}");
    let e = on(
        Backend::Postgres,
        DatabaseErrorKind::UnableToSendCommand,
        "error serializing parameter 3",
    );
    assert!(e.to_string().contains("could not be encoded"), "{e}");
}

#[test]
fn an_error_carried_through_diesel_comes_back_unchanged() {
    let denied = Error::Denied {
        guard: "rules".into(),
        reason: "DELETE without WHERE".into(),
    };
    let back = Error::from(denied.clone().into_diesel());
    assert_eq!(back.to_string(), denied.to_string());
    assert!(matches!(back, Error::Denied { ref guard, .. } if guard == "rules"));
    // Other query-builder errors stay driver errors.
    let other = DieselError::QueryBuilderError("bad query".into());
    assert!(matches!(Error::from(other), Error::Driver(_)));
}
