//! MySQL and MariaDB error numbers, told from the server's message.
//!
//! diesel-async passes a MySQL server error on as its message alone: the
//! error number and SQLSTATE that mysql_async received are dropped
//! (`diesel-async` 0.9, `mysql/error_helper.rs`: `Box::new(e.message)`). The
//! messages are the server's fixed templates, so the common ones name their
//! error number exactly; this table maps them back. It knows the English
//! templates (`lc_messages = en_US`, the default), as MySQL 8 and MariaDB
//! 10-11 word them; a message it does not know has no number.
// Without the `diesel` feature only `Error`'s Display looks codes up;
// telling messages apart is for `diesel_error`.
#![cfg_attr(not(feature = "diesel"), allow(dead_code))]

use crate::error::DbErrorKind;

/// One error template of the server.
struct Template {
    /// The server's error number (`ER_…`).
    errno: u16,
    /// Its SQLSTATE, where MySQL and MariaDB agree on one.
    sqlstate: Option<&'static str>,
    kind: DbErrorKind,
    /// Fixed parts of the message, in order: the first starts it, the
    /// others follow somewhere after.
    parts: &'static [&'static str],
}

const fn t(
    errno: u16,
    sqlstate: Option<&'static str>,
    kind: DbErrorKind,
    parts: &'static [&'static str],
) -> Template {
    Template {
        errno,
        sqlstate,
        kind,
        parts,
    }
}

use DbErrorKind::*;

/// More specific templates before the ones they extend.
#[rustfmt::skip]
const TEMPLATES: &[Template] = &[
    t(1064, Some("42000"), Syntax, &["You have an error in your SQL syntax"]),
    t(1062, Some("23000"), UniqueViolation, &["Duplicate entry '", "' for key "]),
    t(1859, Some("23000"), UniqueViolation, &["Duplicate entry for key "]),
    t(1452, Some("23000"), ForeignKeyViolation, &["Cannot add or update a child row: a foreign key constraint fails"]),
    t(1451, Some("23000"), ForeignKeyViolation, &["Cannot delete or update a parent row: a foreign key constraint fails"]),
    t(1048, Some("23000"), NotNullViolation, &["Column '", "' cannot be null"]),
    t(1364, Some("HY000"), NotNullViolation, &["Field '", "' doesn't have a default value"]),
    t(3819, Some("HY000"), CheckViolation, &["Check constraint '", "' is violated"]),
    // MariaDB's CHECK constraints.
    t(4025, Some("23000"), CheckViolation, &["CONSTRAINT `", "` failed for "]),
    t(1146, Some("42S02"), UndefinedObject, &["Table '", "' doesn't exist"]),
    t(1051, Some("42S02"), UndefinedObject, &["Unknown table '"]),
    t(1054, Some("42S22"), UndefinedObject, &["Unknown column '"]),
    t(1305, Some("42000"), UndefinedObject, &["FUNCTION ", " does not exist"]),
    t(1305, Some("42000"), UndefinedObject, &["PROCEDURE ", " does not exist"]),
    t(1049, Some("42000"), Other, &["Unknown database '"]),
    t(1050, Some("42S01"), Other, &["Table '", "' already exists"]),
    t(1060, Some("42S21"), Other, &["Duplicate column name '"]),
    t(1136, Some("21S01"), Other, &["Column count doesn't match value count"]),
    t(1213, Some("40001"), SerializationFailure, &["Deadlock found when trying to get lock"]),
    t(1205, Some("HY000"), Other, &["Lock wait timeout exceeded"]),
    // MariaDB's max_statement_time, then MySQL's max_execution_time, then
    // KILL QUERY.
    t(1969, Some("70100"), Cancelled, &["Query execution was interrupted (max_statement_time exceeded)"]),
    t(3024, Some("HY000"), Cancelled, &["Query execution was interrupted, maximum statement execution time exceeded"]),
    t(1317, Some("70100"), Cancelled, &["Query execution was interrupted"]),
    t(1406, Some("22001"), Other, &["Data too long for column '"]),
    t(1264, Some("22003"), Other, &["Out of range value for column '"]),
    t(1292, Some("22007"), Other, &["Incorrect date value: '"]),
    t(1292, Some("22007"), Other, &["Incorrect datetime value: '"]),
    t(1292, Some("22007"), Other, &["Incorrect time value: '"]),
    t(1292, Some("22007"), Other, &["Truncated incorrect "]),
    // MariaDB says 22007, MySQL HY000.
    t(1366, None, Other, &["Incorrect ", " value: '", "' for column "]),
    t(1365, Some("22012"), Other, &["Division by 0"]),
    t(1792, Some("25006"), Other, &["Cannot execute statement in a READ ONLY transaction"]),
    t(1142, Some("42000"), Other, &[" command denied to user '"]),
    t(1044, Some("42000"), Other, &["Access denied for user '", "' to database '"]),
    t(1045, Some("28000"), Other, &["Access denied for user '", "(using password: "]),
    t(1040, Some("08004"), Other, &["Too many connections"]),
    t(1094, Some("HY000"), Other, &["Unknown thread id: "]),
];

/// What a MySQL message says about itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Known {
    pub(crate) errno: u16,
    pub(crate) sqlstate: Option<&'static str>,
    pub(crate) kind: DbErrorKind,
}

/// The error a MySQL or MariaDB server message stands for, if it is one
/// of the known templates.
pub(crate) fn recognize(message: &str) -> Option<Known> {
    TEMPLATES
        .iter()
        .find(|t| fits(message, t.parts))
        .map(|t| Known {
            errno: t.errno,
            sqlstate: t.sqlstate,
            kind: t.kind,
        })
}

/// The SQLSTATE of a MySQL error number this table produces (`"1064"` →
/// `42000`); `None` for any other code, PostgreSQL's SQLSTATEs included
/// (they have five characters, MySQL's numbers four).
pub(crate) fn sqlstate(code: &str) -> Option<&'static str> {
    let errno: u16 = code.parse().ok()?;
    if code.len() != 4 {
        return None;
    }
    TEMPLATES
        .iter()
        .find(|t| t.errno == errno)
        .and_then(|t| t.sqlstate)
}

/// Whether `code` is a MySQL error number of this table.
pub(crate) fn is_errno(code: &str) -> bool {
    code.len() == 4
        && code
            .parse::<u16>()
            .is_ok_and(|n| TEMPLATES.iter().any(|t| t.errno == n))
}

fn fits(message: &str, parts: &[&str]) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return false;
    };
    // `" command denied"` names no leading fixed text: it may sit anywhere.
    let mut at = if first.starts_with(' ') {
        match message.find(first) {
            Some(i) => i + first.len(),
            None => return false,
        }
    } else if message.starts_with(first) {
        first.len()
    } else {
        return false;
    };
    for part in rest {
        match message[at..].find(part) {
            Some(i) => at += i + part.len(),
            None => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Messages as MariaDB 10.11 sent them (`mysql` client, `ERROR n (s)`).
    #[test]
    fn mariadb_messages_get_their_number_and_sqlstate() {
        for (message, errno, sqlstate, kind) in [
            (
                "You have an error in your SQL syntax; check the manual that corresponds to your MariaDB server version for the right syntax to use near 'SELEC 1' at line 1",
                1064,
                Some("42000"),
                Syntax,
            ),
            (
                "Duplicate entry 'secretval' for key 'u'",
                1062,
                Some("23000"),
                UniqueViolation,
            ),
            (
                "Cannot add or update a child row: a foreign key constraint fails (`test`.`c`, CONSTRAINT `c_ibfk_1` FOREIGN KEY (`p`) REFERENCES `p` (`id`))",
                1452,
                Some("23000"),
                ForeignKeyViolation,
            ),
            (
                "Column 'name' cannot be null",
                1048,
                Some("23000"),
                NotNullViolation,
            ),
            (
                "Field 'name' doesn't have a default value",
                1364,
                Some("HY000"),
                NotNullViolation,
            ),
            (
                "CONSTRAINT `p.n` failed for `test`.`p`",
                4025,
                Some("23000"),
                CheckViolation,
            ),
            (
                "Incorrect integer value: 'x' for column `test`.`p`.`id` at row 1",
                1366,
                None,
                Other,
            ),
            (
                "Incorrect datetime value: 'nope' for column `test`.`d`.`d` at row 1",
                1292,
                Some("22007"),
                Other,
            ),
            (
                "Data too long for column 'name' at row 1",
                1406,
                Some("22001"),
                Other,
            ),
            (
                "Out of range value for column 'id' at row 1",
                1264,
                Some("22003"),
                Other,
            ),
            (
                "Table 'test.nope' doesn't exist",
                1146,
                Some("42S02"),
                UndefinedObject,
            ),
            (
                "Unknown column 'nope' in 'SELECT'",
                1054,
                Some("42S22"),
                UndefinedObject,
            ),
            (
                "FUNCTION test.nope does not exist",
                1305,
                Some("42000"),
                UndefinedObject,
            ),
            (
                "Table 'sb_probe_d' already exists",
                1050,
                Some("42S01"),
                Other,
            ),
            (
                "Query execution was interrupted",
                1317,
                Some("70100"),
                Cancelled,
            ),
            (
                "Query execution was interrupted (max_statement_time exceeded)",
                1969,
                Some("70100"),
                Cancelled,
            ),
            (
                "Cannot execute statement in a READ ONLY transaction",
                1792,
                Some("25006"),
                Other,
            ),
        ] {
            assert_eq!(
                recognize(message),
                Some(Known {
                    errno,
                    sqlstate,
                    kind
                }),
                "{message}"
            );
            assert_eq!(sqlstate_of(errno), sqlstate, "{errno}");
        }
    }

    fn sqlstate_of(errno: u16) -> Option<&'static str> {
        sqlstate(&errno.to_string())
    }

    #[test]
    fn postgresql_and_sqlite_messages_are_not_mysql_ones() {
        for message in [
            "syntax error at or near \"SELEC\"",
            "duplicate key value violates unique constraint \"t_pkey\"",
            "relation \"nope\" does not exist",
            "function nope() does not exist",
            "null value in column \"name\" of relation \"t\" violates not-null constraint",
            "UNIQUE constraint failed: t.id",
            "near \"SELEC\": syntax error",
            "no such table: nope",
        ] {
            assert_eq!(recognize(message), None, "{message}");
        }
    }

    #[test]
    fn postgresql_sqlstates_are_not_mysql_numbers() {
        assert_eq!(sqlstate("1064"), Some("42000"));
        assert!(is_errno("1062"));
        for code in ["42601", "23505", "10640", "9999", "abcd", ""] {
            assert_eq!(sqlstate(code), None, "{code}");
            assert!(!is_errno(code), "{code}");
        }
    }
}
