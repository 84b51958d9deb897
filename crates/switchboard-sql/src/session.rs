//! Session settings that change how the server lexes SQL.
//!
//! The classifier reads every statement with its dialect's default lexer
//! (`lex.rs`). A few settings change that lexer for the statements that
//! follow on the same connection, and the classifier, which sees one
//! statement at a time, cannot follow them. So a statement that would move
//! a session (or, through a role or a global, future sessions) away from
//! the modelled lexer is refused as unparsable; one that keeps or restores
//! the model (`DEFAULT`, `RESET`, the default value) passes.
//!
//! - PostgreSQL: `standard_conforming_strings` (off: backslashes escape in
//!   every string), `backslash_quote` (whether `\'` ends a string),
//!   `client_encoding` / `SET NAMES` (an encoding such as SJIS or GBK whose
//!   multi-byte characters contain `\` or `'` bytes). Set by `SET`,
//!   `ALTER ROLE ... SET` or `set_config(...)`.
//! - MySQL / MariaDB: `sql_mode` (`ANSI_QUOTES`, `NO_BACKSLASH_ESCAPES`,
//!   `ANSI`, `ORACLE`, ...; only modes known not to touch the lexer pass),
//!   `character_set_client` / `SET NAMES` (as above), in any scope
//!   (`SESSION`, `GLOBAL`, `@@...`).
//!
//! A value that is not a literal (`SET sql_mode = @saved`, `set_config($1,
//! ...)`) cannot be checked and is refused.

use sqlparser::ast::{
    AlterRoleOperation, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArguments,
    ObjectName, ObjectNamePart, Set, SetConfigValue, Statement, Value,
};

use crate::lex::refusal;
use crate::{Dialect, ParseError};

/// A setting that changes lexing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Setting {
    StandardConformingStrings,
    BackslashQuote,
    /// PostgreSQL's `client_encoding`.
    ClientEncoding,
    SqlMode,
    /// MySQL's `character_set_client`.
    CharacterSetClient,
}

/// A value as written: a literal, `DEFAULT`, or something else.
enum Written<'a> {
    Text(String),
    Default,
    Other(&'a dyn std::fmt::Display),
}

/// Refuses `statement` if it would change a lexing setting away from the
/// modelled value.
pub(crate) fn check(statement: &Statement, dialect: Dialect) -> Result<(), ParseError> {
    match statement {
        Statement::Set(set) => check_set(set, dialect),
        Statement::AlterRole {
            operation:
                AlterRoleOperation::Set {
                    config_name,
                    config_value,
                    ..
                },
            ..
        } => {
            let value = match config_value {
                SetConfigValue::Default => Written::Default,
                SetConfigValue::FromCurrent => Written::Other(&"FROM CURRENT"),
                SetConfigValue::Value(expr) => written(expr),
            };
            assign(&variable_name(config_name), value, dialect)
        }
        _ => Ok(()),
    }
}

/// Refuses a PostgreSQL `set_config(name, value, is_local)` that would
/// change a lexing setting, or whose name is not a literal.
pub(crate) fn check_function(function: &Function, dialect: Dialect) -> Result<(), ParseError> {
    if !matches!(dialect, Dialect::Postgres | Dialect::Generic) {
        return Ok(());
    }
    let is_set_config = match function.name.0.as_slice() {
        [ObjectNamePart::Identifier(name)] => name.value.eq_ignore_ascii_case("set_config"),
        [
            ObjectNamePart::Identifier(schema),
            ObjectNamePart::Identifier(name),
        ] => {
            schema.value.eq_ignore_ascii_case("pg_catalog")
                && name.value.eq_ignore_ascii_case("set_config")
        }
        _ => false,
    };
    if !is_set_config {
        return Ok(());
    }
    let args: Vec<&Expr> = match &function.args {
        FunctionArguments::List(list) => list
            .args
            .iter()
            .filter_map(|arg| match arg {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(expr)) => Some(expr),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    let (Some(name), Some(value)) = (args.first(), args.get(1)) else {
        return Err(refusal(format!(
            "{function}: set_config's arguments are not plain"
        )));
    };
    match written(name) {
        Written::Text(name) => assign(&name.to_ascii_lowercase(), written(value), dialect),
        _ => Err(refusal(format!(
            "{function}: the setting's name is not a literal, so it may change how the server reads SQL"
        ))),
    }
}

fn check_set(set: &Set, dialect: Dialect) -> Result<(), ParseError> {
    match set {
        Set::SingleAssignment {
            variable, values, ..
        } => {
            let value = match values.as_slice() {
                [value] => written(value),
                _ => Written::Other(set),
            };
            assign(&variable_name(variable), value, dialect)
        }
        Set::MultipleAssignments { assignments } => assignments
            .iter()
            .try_for_each(|a| assign(&variable_name(&a.name), written(&a.value), dialect)),
        Set::ParenthesizedAssignments { variables, values } => {
            if variables.len() != values.len() {
                return Err(refusal(format!(
                    "{set}: as many values as variables expected"
                )));
            }
            variables
                .iter()
                .zip(values)
                .try_for_each(|(variable, value)| {
                    assign(&variable_name(variable), written(value), dialect)
                })
        }
        Set::SetNames { charset_name, .. } => {
            let name = if dialect == Dialect::Mysql {
                "character_set_client"
            } else {
                "client_encoding"
            };
            let value = Written::Text(charset_name.value.clone());
            assign(name, value, dialect)?;
            if dialect == Dialect::Generic {
                assign(
                    "character_set_client",
                    Written::Text(charset_name.value.clone()),
                    dialect,
                )?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// A system variable's name, lower-cased, without MySQL's `@@` and scope
/// (`@@session.sql_mode`, `@@GLOBAL.sql_mode`: `sql_mode`). A user
/// variable keeps its `@`.
fn variable_name(name: &ObjectName) -> String {
    let full = name
        .to_string()
        .to_ascii_lowercase()
        .replace(['`', '"'], "");
    let bare = full.strip_prefix("@@").unwrap_or(&full);
    ["session.", "global.", "local.", "persist.", "persist_only."]
        .iter()
        .find_map(|scope| bare.strip_prefix(scope))
        .unwrap_or(bare)
        .to_owned()
}

fn setting(name: &str, dialect: Dialect) -> Option<Setting> {
    let (postgres, mysql) = match dialect {
        Dialect::Postgres => (true, false),
        Dialect::Mysql => (false, true),
        Dialect::Sqlite => (false, false),
        Dialect::Generic => (true, true),
    };
    match name {
        "standard_conforming_strings" if postgres => Some(Setting::StandardConformingStrings),
        "backslash_quote" if postgres => Some(Setting::BackslashQuote),
        "client_encoding" | "names" if postgres => Some(Setting::ClientEncoding),
        "sql_mode" if mysql => Some(Setting::SqlMode),
        "character_set_client" | "names" | "charset" if mysql => Some(Setting::CharacterSetClient),
        _ => None,
    }
}

fn written(expr: &Expr) -> Written<'_> {
    match expr {
        Expr::Value(value) => match &value.value {
            Value::SingleQuotedString(text) | Value::DoubleQuotedString(text) => {
                Written::Text(text.clone())
            }
            Value::Number(number, _) => Written::Text(number.clone()),
            Value::Boolean(on) => Written::Text(on.to_string()),
            _ => Written::Other(expr),
        },
        Expr::Identifier(ident)
            if ident.quote_style.is_none() && ident.value.eq_ignore_ascii_case("default") =>
        {
            Written::Default
        }
        Expr::Identifier(ident) => Written::Text(ident.value.clone()),
        _ => Written::Other(expr),
    }
}

/// Refuses assigning `value` to the variable `name` if that changes lexing.
fn assign(name: &str, value: Written<'_>, dialect: Dialect) -> Result<(), ParseError> {
    let Some(setting) = setting(name, dialect) else {
        return Ok(());
    };
    let text = match value {
        Written::Default => return Ok(()),
        Written::Text(text) => text,
        Written::Other(shown) => {
            return Err(refusal(format!(
                "{name} set to {shown}, which is not a literal: it may change how the server reads SQL"
            )));
        }
    };
    if modelled(setting, &text) {
        Ok(())
    } else {
        Err(refusal(format!(
            "{name} = '{text}' changes how the server reads the SQL that follows (quotes, backslashes or characters); Switchboard classifies SQL only as the server reads it by default"
        )))
    }
}

/// Whether `value` leaves `setting` where the lexer model assumes it.
fn modelled(setting: Setting, value: &str) -> bool {
    let value = value.trim().to_ascii_lowercase();
    match setting {
        Setting::StandardConformingStrings => matches!(value.as_str(), "on" | "true" | "yes" | "1"),
        Setting::BackslashQuote => value == "safe_encoding",
        Setting::ClientEncoding => {
            let cleaned: String = value.chars().filter(char::is_ascii_alphanumeric).collect();
            ascii_safe_postgres_encoding(&cleaned)
        }
        Setting::CharacterSetClient => {
            matches!(
                value.as_str(),
                "utf8" | "utf8mb3" | "utf8mb4" | "latin1" | "ascii" | "binary"
            )
        }
        Setting::SqlMode => value
            .split(',')
            .map(str::trim)
            .filter(|mode| !mode.is_empty())
            .all(|mode| LEXER_NEUTRAL_MODES.contains(&mode)),
    }
}

/// Encodings in which every byte of a multi-byte character is above 0x7F,
/// so that no character hides a quote or a backslash (names as PostgreSQL
/// matches them: lower case, letters and digits only).
fn ascii_safe_postgres_encoding(name: &str) -> bool {
    const SAFE: &[&str] = &[
        "utf8",
        "unicode",
        "sqlascii",
        "eucjp",
        "euccn",
        "euckr",
        "euctw",
        "eucjis2004",
        "koi8r",
        "koi8u",
        "koi8",
        "win866",
        "win874",
        "win1250",
        "win1251",
        "win1252",
        "win1253",
        "win1254",
        "win1255",
        "win1256",
        "win1257",
        "win1258",
    ];
    SAFE.contains(&name)
        || name.strip_prefix("latin").is_some_and(|n| {
            matches!(
                n,
                "1" | "2" | "3" | "4" | "5" | "6" | "7" | "8" | "9" | "10"
            )
        })
        || name.strip_prefix("iso8859").is_some_and(|n| {
            matches!(
                n,
                "1" | "2"
                    | "3"
                    | "4"
                    | "5"
                    | "6"
                    | "7"
                    | "8"
                    | "9"
                    | "10"
                    | "13"
                    | "14"
                    | "15"
                    | "16"
            )
        })
}

/// MySQL and MariaDB SQL modes that change neither the lexer nor how a
/// statement's tables and clauses parse (lower case).
const LEXER_NEUTRAL_MODES: &[&str] = &[
    "allow_invalid_dates",
    "error_for_division_by_zero",
    "no_auto_create_user",
    "no_auto_value_on_zero",
    "no_dir_in_create",
    "no_engine_substitution",
    "no_unsigned_subtraction",
    "no_zero_date",
    "no_zero_in_date",
    "only_full_group_by",
    "pad_char_to_full_length",
    "real_as_float",
    "strict_all_tables",
    "strict_trans_tables",
    "time_truncate_fractional",
    "traditional",
    "no_key_options",
    "no_table_options",
    "no_field_options",
    "simultaneous_assignment",
];
