//! How the bind parameters of a typed diesel query show to guards and in
//! events, from what diesel's bind collectors expose: each parameter's type
//! always, its value only under `ParamPolicy::Plain`.
//!
//! - PostgreSQL: the type is the one the driver sends (its OID, named for
//!   the built-in types; a user-defined type shows as `custom`), the value
//!   is decoded from the binary wire form for the common scalar types;
//! - MySQL/MariaDB: the wire type (`Long`, `String`, ...) and, for the
//!   common scalar types, the value;
//! - SQLite: the declared SQLite type (`Integer`, `Text`, ...), read from
//!   the collector's debug form (diesel keeps the list private), and the
//!   value as bound.
//!
//! A value that cannot be shown readably (bytes, dates) shows as
//! `<N bytes>`.

use std::sync::Arc;

#[cfg(feature = "mysql")]
use diesel::mysql::{Mysql, MysqlType};
#[cfg(feature = "postgres")]
use diesel::pg::{Pg, PgTypeMetadata};
#[cfg(feature = "sqlite")]
use diesel::query_builder::MoveableBindCollector;
#[cfg(any(feature = "postgres", feature = "mysql"))]
use diesel::query_builder::bind_collector::RawBytesBindCollector;
#[cfg(feature = "sqlite")]
use diesel::sqlite::Sqlite;
use std::borrow::Cow;

use switchboard_core::{ParamValue, Params};

fn param(sql_type: Cow<'static, str>, value: Option<String>) -> ParamValue {
    match value {
        Some(value) => ParamValue::Plain { sql_type, value },
        None => ParamValue::Redacted { sql_type },
    }
}

#[cfg(any(feature = "postgres", feature = "mysql"))]
fn bytes(b: &[u8]) -> String {
    format!("<{} bytes>", b.len())
}

/// The PostgreSQL built-in types a diesel query binds, by OID.
#[cfg(feature = "postgres")]
fn pg_type_name(oid: u32) -> &'static str {
    match oid {
        16 => "bool",
        17 => "bytea",
        18 => "char",
        19 => "name",
        20 => "int8",
        21 => "int2",
        23 => "int4",
        25 => "text",
        26 => "oid",
        114 => "json",
        650 => "cidr",
        700 => "float4",
        701 => "float8",
        790 => "money",
        869 => "inet",
        829 => "macaddr",
        1042 => "bpchar",
        1043 => "varchar",
        1082 => "date",
        1083 => "time",
        1114 => "timestamp",
        1184 => "timestamptz",
        1186 => "interval",
        1700 => "numeric",
        2950 => "uuid",
        3802 => "jsonb",
        1000 => "bool[]",
        1005 => "int2[]",
        1007 => "int4[]",
        1009 => "text[]",
        1015 => "varchar[]",
        1016 => "int8[]",
        1021 => "float4[]",
        1022 => "float8[]",
        2951 => "uuid[]",
        0 => "custom",
        _ => "other",
    }
}

#[cfg(feature = "postgres")]
fn pg_value(oid: u32, b: &[u8]) -> String {
    let int = |b: &[u8]| -> Option<i64> {
        Some(match b.len() {
            2 => i64::from(i16::from_be_bytes(b.try_into().ok()?)),
            4 => i64::from(i32::from_be_bytes(b.try_into().ok()?)),
            8 => i64::from_be_bytes(b.try_into().ok()?),
            _ => return None,
        })
    };
    let shown = match oid {
        16 => b.first().map(|v| (*v != 0).to_string()),
        20 | 21 | 23 => int(b).map(|v| v.to_string()),
        700 => b.try_into().ok().map(|a| f32::from_be_bytes(a).to_string()),
        701 => b.try_into().ok().map(|a| f64::from_be_bytes(a).to_string()),
        18 | 19 | 25 | 114 | 1042 | 1043 => std::str::from_utf8(b).ok().map(|s| format!("{s:?}")),
        _ => None,
    };
    shown.unwrap_or_else(|| bytes(b))
}

/// The parameters of a PostgreSQL query's collected binds.
#[cfg(feature = "postgres")]
pub(crate) fn pg(binds: &RawBytesBindCollector<Pg>, plain: bool) -> Params {
    let shown = binds
        .metadata
        .iter()
        .zip(&binds.binds)
        .map(|(meta, value): (&PgTypeMetadata, _)| {
            let oid = meta.oid().unwrap_or(0);
            let value = plain.then(|| match value {
                Some(b) => pg_value(oid, b),
                None => "NULL".to_owned(),
            });
            param(Cow::Borrowed(pg_type_name(oid)), value)
        })
        .collect::<Vec<_>>();
    Params(Arc::from(shown))
}

#[cfg(feature = "mysql")]
fn mysql_value(t: MysqlType, b: &[u8]) -> String {
    use MysqlType::*;
    let shown = match t {
        Tiny => b.try_into().ok().map(|a| i8::from_le_bytes(a).to_string()),
        UnsignedTiny => b.try_into().ok().map(|a| u8::from_le_bytes(a).to_string()),
        Short => b.try_into().ok().map(|a| i16::from_le_bytes(a).to_string()),
        UnsignedShort => b.try_into().ok().map(|a| u16::from_le_bytes(a).to_string()),
        Long => b.try_into().ok().map(|a| i32::from_le_bytes(a).to_string()),
        UnsignedLong => b.try_into().ok().map(|a| u32::from_le_bytes(a).to_string()),
        LongLong => b.try_into().ok().map(|a| i64::from_le_bytes(a).to_string()),
        UnsignedLongLong => b.try_into().ok().map(|a| u64::from_le_bytes(a).to_string()),
        Float => b.try_into().ok().map(|a| f32::from_le_bytes(a).to_string()),
        Double => b.try_into().ok().map(|a| f64::from_le_bytes(a).to_string()),
        String | Enum | Set | Numeric => std::str::from_utf8(b).ok().map(|s| format!("{s:?}")),
        _ => None,
    };
    shown.unwrap_or_else(|| bytes(b))
}

/// The parameters of a MySQL query's collected binds.
#[cfg(feature = "mysql")]
pub(crate) fn mysql(binds: &RawBytesBindCollector<Mysql>, plain: bool) -> Params {
    let shown = binds
        .metadata
        .iter()
        .zip(&binds.binds)
        .map(|(t, value)| {
            let value = plain.then(|| match value {
                Some(b) => mysql_value(*t, b),
                None => "NULL".to_owned(),
            });
            param(Cow::Owned(format!("{t:?}")), value)
        })
        .collect::<Vec<_>>();
    Params(Arc::from(shown))
}

/// The parameters of a SQLite query's collected binds.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite<B>(binds: &B, plain: bool) -> Params
where
    B: std::fmt::Debug,
    for<'a> <Sqlite as diesel::backend::Backend>::BindCollector<'a>:
        MoveableBindCollector<Sqlite, BindData = B>,
{
    let types = sqlite_types(&format!("{binds:?}"));
    let values = plain.then(|| {
        let mut shown = Vec::new();
        <<Sqlite as diesel::backend::Backend>::BindCollector<'_> as MoveableBindCollector<
            Sqlite,
        >>::push_debug_binds(binds, &mut shown);
        shown
            .iter()
            .map(|v| unwrap_variant(&format!("{v:?}")))
            .collect::<Vec<_>>()
    });
    let shown = types
        .iter()
        .enumerate()
        .map(|(i, t)| {
            let value = values
                .as_ref()
                .map(|v| v.get(i).cloned().unwrap_or_default());
            param(Cow::Owned(t.clone()), value)
        })
        .collect::<Vec<_>>();
    Params(Arc::from(shown))
}

/// `I32(5)` → `5`, `String("a")` → `"a"`, `Null` → `NULL`.
#[cfg(feature = "sqlite")]
fn unwrap_variant(shown: &str) -> String {
    match shown.split_once('(') {
        Some((_, rest)) => rest.strip_suffix(')').unwrap_or(rest).to_owned(),
        None if shown == "Null" => "NULL".to_owned(),
        None => shown.to_owned(),
    }
}

/// The declared types in the debug form of SQLite's collected binds,
/// `SqliteBindCollectorData { binds: [(I32(1), Integer), (String("a, b)"), Text)] }`:
/// the last item of each pair, found by walking the list outside string
/// literals.
#[cfg(feature = "sqlite")]
fn sqlite_types(shown: &str) -> Vec<String> {
    let Some(start) = shown.find('[') else {
        return Vec::new();
    };
    let mut types = Vec::new();
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    let mut last_comma = None;
    for (i, ch) in shown[start..].char_indices() {
        let at = start + i;
        if in_string {
            match (escaped, ch) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
            continue;
        }
        match ch {
            '"' => in_string = true,
            '[' | '(' | '{' => {
                depth += 1;
                if depth == 2 && ch == '(' {
                    last_comma = None;
                }
            }
            ',' if depth == 2 => last_comma = Some(at),
            ')' | ']' | '}' => {
                if depth == 2
                    && ch == ')'
                    && let Some(comma) = last_comma.take()
                {
                    types.push(shown[comma + 1..at].trim().to_owned());
                }
                depth = depth.saturating_sub(1);
            }
            _ => {}
        }
    }
    types
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[cfg(feature = "sqlite")]
    fn sqlite_types_are_read_past_tricky_strings() {
        let shown = r#"SqliteBindCollectorData { binds: [(I32(1), Integer), (String("a), (b\" ,T"), Text), (Binary([1, 2]), Binary), (Null, Double)] }"#;
        assert_eq!(sqlite_types(shown), ["Integer", "Text", "Binary", "Double"]);
        assert!(sqlite_types("SqliteBindCollectorData { binds: [] }").is_empty());
    }

    #[test]
    #[cfg(feature = "sqlite")]
    fn values_unwrap_from_their_variant() {
        assert_eq!(unwrap_variant("I32(5)"), "5");
        assert_eq!(unwrap_variant("String(\"a(b)\")"), "\"a(b)\"");
        assert_eq!(unwrap_variant("Null"), "NULL");
    }

    #[cfg(feature = "postgres")]
    #[test]
    fn pg_wire_values_decode_for_common_types() {
        assert_eq!(pg_value(23, &42i32.to_be_bytes()), "42");
        assert_eq!(pg_value(20, &(-7i64).to_be_bytes()), "-7");
        assert_eq!(pg_value(16, &[1]), "true");
        assert_eq!(pg_value(25, b"ada"), "\"ada\"");
        assert_eq!(pg_value(17, &[0, 1, 2]), "<3 bytes>");
    }

    #[cfg(feature = "mysql")]
    #[test]
    fn mysql_wire_values_decode_for_common_types() {
        assert_eq!(mysql_value(MysqlType::Long, &42i32.to_le_bytes()), "42");
        assert_eq!(mysql_value(MysqlType::String, b"x"), "\"x\"");
        assert_eq!(mysql_value(MysqlType::Blob, b"xy"), "<2 bytes>");
    }
}
