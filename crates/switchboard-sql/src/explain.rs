//! Whether an `EXPLAIN` runs the statement it explains.
//!
//! PostgreSQL runs it under `ANALYZE` — spelled `ANALYZE` or `ANALYSE`,
//! in the keyword form or as an option, `(ANALYZE)`, `(ANALYZE true)`,
//! `(ANALYZE 1)`, `(ANALYZE 'on')`, ... — MySQL under `EXPLAIN ANALYZE`;
//! SQLite never does. Only the option spellings that PostgreSQL's
//! `defGetBoolean` accepts are read (`true`/`false`/`on`/`off` in any case
//! and quoting, `0`/`1`, nothing for true); any other value, or an option
//! name PostgreSQL does not document, makes the statement unparsable rather
//! than a guess.

use sqlparser::ast::{Expr, Statement, UtilityOption, Value};

use crate::lex::refusal;
use crate::{Dialect, ParseError};

/// What an `EXPLAIN` does with its statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Explained {
    /// Plans it only: it does not run.
    Plans,
    /// Runs it (`ANALYZE`).
    Runs,
}

/// PostgreSQL's `EXPLAIN` options besides `ANALYZE`; none of them runs the
/// statement.
const PLANNING_OPTIONS: &[&str] = &[
    "verbose",
    "costs",
    "settings",
    "generic_plan",
    "buffers",
    "serialize",
    "wal",
    "timing",
    "summary",
    "memory",
    "format",
];

/// For an `EXPLAIN`, whether it runs what it explains; `None` for any other
/// statement.
pub(crate) fn explained(
    statement: &Statement,
    dialect: Dialect,
) -> Result<Option<Explained>, ParseError> {
    let Statement::Explain {
        analyze,
        estimate,
        options,
        ..
    } = statement
    else {
        return Ok(None);
    };
    if *estimate {
        return Err(refusal("EXPLAIN ESTIMATE is not modelled".to_owned()));
    }
    let mut runs = *analyze;
    if let Some(options) = options {
        if !matches!(dialect, Dialect::Postgres | Dialect::Generic) {
            return Err(refusal(format!(
                "EXPLAIN with an option list is PostgreSQL syntax, not {dialect}'s"
            )));
        }
        for option in options {
            runs |= analyzes(option)?;
        }
    }
    Ok(Some(if runs {
        Explained::Runs
    } else {
        Explained::Plans
    }))
}

/// Whether one option turns `ANALYZE` on; refuses unknown options and
/// values.
fn analyzes(option: &UtilityOption) -> Result<bool, ParseError> {
    let name = option.name.value.to_ascii_lowercase();
    if name == "analyze" || name == "analyse" {
        return match &option.arg {
            None => Ok(true),
            Some(arg) => boolean(arg).ok_or_else(|| {
                refusal(format!(
                    "EXPLAIN option {} {arg}: not a value PostgreSQL reads as true or false",
                    option.name
                ))
            }),
        };
    }
    if PLANNING_OPTIONS.contains(&name.as_str()) {
        return Ok(false);
    }
    Err(refusal(format!(
        "EXPLAIN option {} is not one Switchboard knows; it may change what EXPLAIN does",
        option.name
    )))
}

/// The value of a boolean option, as `defGetBoolean` reads it.
fn boolean(arg: &Expr) -> Option<bool> {
    let text = match arg {
        Expr::Value(value) => match &value.value {
            Value::Boolean(on) => return Some(*on),
            Value::Number(number, _) => number.as_str(),
            Value::SingleQuotedString(text) => text.as_str(),
            _ => return None,
        },
        Expr::Identifier(ident) => ident.value.as_str(),
        // `+1`, `-0`, expressions: left to the server, refused here.
        _ => return None,
    };
    match text.to_ascii_lowercase().as_str() {
        "true" | "on" | "1" => Some(true),
        "false" | "off" | "0" => Some(false),
        _ => None,
    }
}
