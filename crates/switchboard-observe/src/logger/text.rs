//! Turning a statement into short, secret-free text for a log line.

use std::fmt::{self, Write as _};
use std::time::Duration;

use switchboard_core::{ParamValue, Params};

use super::ParamDisplay;

/// Shown instead of SQL text that may hold a password.
pub(super) const WITHHELD: &str = "<withheld: the statement may hold a password>";

/// Whether SQL text may carry a password in a literal (`CREATE USER ...
/// PASSWORD '...'`, `ALTER USER ... IDENTIFIED BY '...'`, `SET PASSWORD`).
/// A keyword check, not a parse: text the SQL parser cannot read (it does
/// not know PostgreSQL's `CREATE USER ... WITH PASSWORD`) must still be
/// caught, and withholding a harmless statement costs nothing.
pub(super) fn may_hold_password(sql: &str) -> bool {
    ["password", "identified"]
        .iter()
        .any(|word| contains_ignore_case(sql, word))
}

fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    haystack
        .as_bytes()
        .windows(needle.len())
        .any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The SQL text as it may be logged.
pub(super) fn shown_sql(sql: &str) -> &str {
    if may_hold_password(sql) {
        WITHHELD
    } else {
        sql
    }
}

/// `[Integer, Text]`, or with values shown `[Integer=5, Text="bob"]`.
pub(super) fn shown_params(params: &Params, display: ParamDisplay, sql: &str) -> String {
    let values = display == ParamDisplay::Plain && !may_hold_password(sql);
    let mut out = String::from("[");
    for (i, param) in params.0.iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        // Writing to a String cannot fail.
        let _ = match param {
            ParamValue::Plain { sql_type, value } if values => write!(out, "{sql_type}={value}"),
            ParamValue::Plain { sql_type, .. } | ParamValue::Redacted { sql_type } => {
                write!(out, "{sql_type}")
            }
            _ => write!(out, "?"),
        };
    }
    out.push(']');
    out
}

/// `SELECT users`, `SELECT`, or `statement` when nothing is known;
/// written only when a line is.
pub(super) struct Summary<'a> {
    pub(super) operation: Option<&'a str>,
    pub(super) table: Option<&'a str>,
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.operation, self.table) {
            (Some(op), Some(t)) => write!(f, "{op} {t}"),
            (Some(op), None) => f.write_str(op),
            (None, _) => f.write_str("statement"),
        }
    }
}

/// Milliseconds with microsecond precision, for `duration_ms` fields.
pub(super) fn ms(d: Duration) -> f64 {
    let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
    micros as f64 / 1000.0
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn statements_that_may_carry_passwords_are_caught_in_any_case() {
        assert!(may_hold_password("CREATE USER app WITH PASSWORD 'hunter2'"));
        assert!(may_hold_password("alter user x identified by 'pw'"));
        assert!(may_hold_password("SET PASSWORD = 'x'"));
        assert!(!may_hold_password("SELECT * FROM users WHERE id = $1"));
        assert!(!may_hold_password("SELECT pass FROM t"));
        assert_eq!(shown_sql("ALTER ROLE a PASSWORD 'x'"), WITHHELD);
    }

    #[test]
    fn params_show_types_unless_values_are_asked_for() {
        let params = Params(Arc::from(vec![
            ParamValue::Plain {
                sql_type: "Integer".into(),
                value: "5".into(),
            },
            ParamValue::Redacted {
                sql_type: "Text".into(),
            },
        ]));
        let sql = "SELECT 1 WHERE 1 = $1 AND 'a' = $2";
        assert_eq!(
            shown_params(&params, ParamDisplay::Redacted, sql),
            "[Integer, Text]"
        );
        assert_eq!(
            shown_params(&params, ParamDisplay::Plain, sql),
            "[Integer=5, Text]"
        );
        assert_eq!(
            shown_params(&params, ParamDisplay::Plain, "ALTER USER a PASSWORD $1"),
            "[Integer, Text]"
        );
    }

    #[test]
    fn durations_in_milliseconds() {
        assert_eq!(ms(Duration::from_micros(1234)), 1.234);
    }
}
