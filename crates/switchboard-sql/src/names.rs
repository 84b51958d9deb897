//! Table names as the server resolves them, and how a listed name matches a
//! reported one.
//!
//! Each part of a reported name is normalized the way the dialect's server
//! reads an identifier:
//!
//! - **PostgreSQL** folds an unquoted identifier to lower case (ASCII only,
//!   as the server does under UTF-8) and keeps a quoted one as written; it
//!   truncates both to 63 bytes (`NAMEDATALEN - 1`), so a longer name *is*
//!   the 63-byte table.
//! - **MySQL / MariaDB** keep identifiers as written, quoted or not. Whether
//!   `Orders` and `orders` are one table depends on the server's
//!   `lower_case_table_names` (0 on Linux by default: distinct), which the
//!   text does not say.
//! - **SQLite** compares names ignoring ASCII case, quoted or not: names
//!   are reported lower-cased.
//! - **Generic**: as written.
//!
//! Matching ([`table_matches`]) then ignores case altogether, so that it
//! holds on every server configuration: two names a server may resolve to
//! one table always match. It may also match two distinct PostgreSQL tables
//! that differ only in case (`"Payroll"` and `payroll`); for a deny list,
//! denying both is the safe side.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart};

use crate::Dialect;

/// PostgreSQL's longest identifier, in bytes (`NAMEDATALEN - 1`).
pub(crate) const PG_MAX_IDENT: usize = 63;

/// One identifier as `dialect`'s server resolves it.
pub(crate) fn normalize(ident: &Ident, dialect: Dialect) -> String {
    let quoted = ident.quote_style.is_some();
    match dialect {
        Dialect::Postgres => {
            let mut name = if quoted {
                ident.value.clone()
            } else {
                ident.value.to_ascii_lowercase()
            };
            let cut = clip(&name, PG_MAX_IDENT).len();
            name.truncate(cut);
            name
        }
        Dialect::Sqlite => ident.value.to_ascii_lowercase(),
        Dialect::Mysql | Dialect::Generic => ident.value.clone(),
    }
}

/// A dotted name, each part normalized. A part that is not an identifier
/// (a dialect's function-like name part) is rendered as sqlparser writes it.
pub(crate) fn render(name: &ObjectName, dialect: Dialect) -> String {
    let mut rendered = String::new();
    for (index, part) in name.0.iter().enumerate() {
        if index > 0 {
            rendered.push('.');
        }
        match part {
            ObjectNamePart::Identifier(ident) => rendered.push_str(&normalize(ident, dialect)),
            ObjectNamePart::Function(function) => rendered.push_str(&function.to_string()),
        }
    }
    rendered
}

/// Renders a compound identifier (`SELECT ... INTO schema.t`) like a name.
pub(crate) fn render_idents(idents: &[Ident], dialect: Dialect) -> String {
    idents
        .iter()
        .map(|ident| normalize(ident, dialect))
        .collect::<Vec<_>>()
        .join(".")
}

/// The longest prefix of `text` of at most `max` bytes that ends on a
/// character boundary, as PostgreSQL's `pg_mbcliplen` clips.
pub(crate) fn clip(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// Whether a table name reported in a [`Classification`](crate::Classification)
/// is the table that `listed` names, on `dialect`'s server.
///
/// Both are dotted names, unquoted (`payroll`, `hr.payroll`). They are
/// compared part by part from the right, ignoring case (Unicode lower case,
/// which covers MySQL's `lower_case_table_names = 1` as well as
/// PostgreSQL's and SQLite's ASCII folding): `payroll` matches `payroll`,
/// `PAYROLL`, `hr.payroll` and `db.hr.payroll`; `hr.payroll` matches
/// `hr.payroll` but not a bare `payroll`, whose schema the statement does
/// not say (the session's search path or database decides). To catch a
/// table however it is written, list its bare name. On PostgreSQL, listed
/// parts are clipped to 63 bytes like the server clips identifiers.
///
/// A name part containing a dot cannot be told from two parts, in either
/// string; such names match as if split, which may match more, never less.
///
/// ```
/// use switchboard_sql::{Dialect, classify, table_matches};
///
/// let c = classify(r#"SELECT * FROM HR."Payroll""#, Dialect::Postgres)?;
/// assert_eq!(c.tables, ["hr.Payroll"]);
/// assert!(table_matches(&c.tables[0], "payroll", Dialect::Postgres));
/// assert!(table_matches(&c.tables[0], "hr.payroll", Dialect::Postgres));
/// assert!(!table_matches(&c.tables[0], "other.payroll", Dialect::Postgres));
/// # Ok::<(), switchboard_sql::ParseError>(())
/// ```
pub fn table_matches(reported: &str, listed: &str, dialect: Dialect) -> bool {
    let mut reported_parts = reported.rsplit('.');
    for listed_part in listed.rsplit('.') {
        let listed_part = match dialect {
            Dialect::Postgres => clip(listed_part, PG_MAX_IDENT),
            _ => listed_part,
        };
        match reported_parts.next() {
            Some(part) if same_ignoring_case(part, listed_part) => {}
            _ => return false,
        }
    }
    true
}

/// Equal after Unicode lower-casing, without allocating.
fn same_ignoring_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || a.chars()
            .flat_map(char::to_lowercase)
            .eq(b.chars().flat_map(char::to_lowercase))
}

#[cfg(test)]
mod tests {
    use super::*;
    use Dialect::{Generic, Mysql, Postgres, Sqlite};

    fn ident(value: &str, quoted: bool) -> Ident {
        match quoted {
            true => Ident::with_quote('"', value),
            false => Ident::new(value),
        }
    }

    #[test]
    fn each_dialect_folds_as_its_server_does() {
        let cases = [
            ("Users", false, Postgres, "users"),
            ("Users", true, Postgres, "Users"),
            ("ÜBER", false, Postgres, "Über"),
            ("Users", false, Mysql, "Users"),
            ("Users", true, Mysql, "Users"),
            ("Users", false, Sqlite, "users"),
            ("Users", true, Sqlite, "users"),
            ("Users", true, Generic, "Users"),
        ];
        for (value, quoted, dialect, expected) in cases {
            assert_eq!(
                normalize(&ident(value, quoted), dialect),
                expected,
                "{dialect} {value}"
            );
        }
    }

    #[test]
    fn postgres_clips_long_names_to_63_bytes_on_a_char_boundary() {
        let long = "a".repeat(70);
        assert_eq!(normalize(&ident(&long, false), Postgres), "a".repeat(63));
        // 62 ASCII bytes and a two-byte é: the é would straddle byte 63.
        let straddling = format!("{}é", "b".repeat(62));
        assert_eq!(
            normalize(&ident(&straddling, true), Postgres),
            "b".repeat(62)
        );
        assert_eq!(normalize(&ident(&long, false), Mysql), long);
    }

    #[test]
    fn listed_names_match_trailing_parts_ignoring_case() {
        let m = |reported, listed| table_matches(reported, listed, Mysql);
        assert!(m("payroll", "payroll"));
        assert!(m("PAYROLL", "payroll"));
        assert!(m("hr.payroll", "payroll"));
        assert!(m("db.hr.Payroll", "HR.payroll"));
        assert!(!m("payroll", "hr.payroll"), "schema unknown");
        assert!(!m("payroll_archive", "payroll"));
        assert!(!m("old_payroll", "payroll"));
        assert!(!m("payroll.entries", "payroll"));
        assert!(!m("xhr.payroll", "hr.payroll"));
        assert!(m("PAYRÖLL", "payröll"), "MySQL folds non-ASCII names too");
        assert!(!m("é", "e"));
    }

    #[test]
    fn postgres_clips_listed_names_like_the_server() {
        let table = "a".repeat(63);
        let listed = "a".repeat(80);
        assert!(table_matches(&table, &listed, Postgres));
        assert!(!table_matches(&table, &listed, Mysql));
    }
}
