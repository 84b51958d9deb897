//! Typed bind values that work on whichever backend the pool has.
//!
//! `Execute::sql("... $1").bind::<Integer, _>(42)` keeps the value with its
//! diesel SQL type; when the statement runs it is bound through diesel's
//! boxed SQL query of the pool's backend, so the value must be bindable on
//! every backend this build has (the usual scalar types are on all three).

use std::borrow::Cow;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

#[cfg(feature = "mysql")]
use diesel::mysql::Mysql;
#[cfg(feature = "postgres")]
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
#[cfg(feature = "sqlite")]
use diesel::sqlite::Sqlite;
use switchboard_core::{ParamValue, Params};

/// A boxed raw SQL query of one backend.
pub(crate) type Boxed<DB> = BoxedSqlQuery<'static, DB, SqlQuery>;

/// Declares `$name<ST>`: what a Rust type needs to bind as SQL type `ST` on
/// one backend. With the backend's feature on, implemented for every type
/// diesel binds there; with it off, for every type (nothing to bind to).
macro_rules! bind_on {
    ($feature:literal, $name:ident, $db:ty, $backend:literal) => {
        #[doc = concat!("Binding a value as SQL type `ST` on ", $backend, ": implemented for every")]
        #[doc = concat!("type diesel binds there, and for every type when the `", $feature, "`")]
        #[doc = "feature is off. A bound of [`Typed`]'s [`BindValue`]."]
        #[cfg(feature = $feature)]
        pub trait $name<ST> {
            /// Adds the value to a query.
            fn bind_to(&self, q: Boxed<$db>) -> Boxed<$db>;
        }

        #[cfg(feature = $feature)]
        impl<ST, T> $name<ST> for T
        where
            ST: Send + 'static,
            $db: diesel::sql_types::HasSqlType<ST>,
            T: diesel::serialize::ToSql<ST, $db> + Clone + Send + 'static,
        {
            fn bind_to(&self, q: Boxed<$db>) -> Boxed<$db> {
                q.bind::<ST, T>(self.clone())
            }
        }

        #[doc = concat!("Binding a value as SQL type `ST` on ", $backend, ": this build has no")]
        #[doc = concat!("`", $feature, "` feature, so every type qualifies.")]
        #[cfg(not(feature = $feature))]
        pub trait $name<ST> {}

        #[cfg(not(feature = $feature))]
        impl<ST, T: ?Sized> $name<ST> for T {}
    };
}

bind_on!("postgres", BindPg, Pg, "PostgreSQL");
bind_on!("mysql", BindMysql, Mysql, "MySQL/MariaDB");
bind_on!("sqlite", BindSqlite, Sqlite, "SQLite");

/// A value with its SQL type, bindable on every backend this build has
/// (one method per backend feature).
pub trait BindValue: Send + Sync + 'static {
    /// Adds the value to a PostgreSQL query.
    #[cfg(feature = "postgres")]
    fn bind_pg(&self, q: Boxed<Pg>) -> Boxed<Pg>;
    /// Adds the value to a MySQL query.
    #[cfg(feature = "mysql")]
    fn bind_mysql(&self, q: Boxed<Mysql>) -> Boxed<Mysql>;
    /// Adds the value to a SQLite query.
    #[cfg(feature = "sqlite")]
    fn bind_sqlite(&self, q: Boxed<Sqlite>) -> Boxed<Sqlite>;
    /// How the value appears in events: its type, and its value only if
    /// `plain`.
    fn describe(&self, plain: bool) -> ParamValue;
    /// The value as a server would quote it in an error message (text as
    /// it is, a number in decimal), so that it can be scrubbed from one
    /// ([`Error::without_values`](switchboard_core::Error::without_values));
    /// `None` for a null, or a value with no such form (bytes). Defaults to
    /// `None`: only the message's shapes are scrubbed then.
    fn text(&self) -> Option<String> {
        None
    }
}

/// A value of Rust type `T` bound as SQL type `ST` (what
/// [`Execute::bind`](crate::Execute::bind) stores).
pub struct Typed<ST, T> {
    value: T,
    _sql_type: PhantomData<fn() -> ST>,
}

impl<ST, T> Typed<ST, T> {
    pub(crate) fn boxed(value: T) -> Arc<dyn BindValue>
    where
        Self: BindValue,
    {
        Arc::new(Typed {
            value,
            _sql_type: PhantomData,
        })
    }
}

impl<ST, T> BindValue for Typed<ST, T>
where
    ST: Send + 'static,
    T: BindPg<ST> + BindMysql<ST> + BindSqlite<ST> + Clone + Debug + Send + Sync + 'static,
{
    #[cfg(feature = "postgres")]
    fn bind_pg(&self, q: Boxed<Pg>) -> Boxed<Pg> {
        BindPg::<ST>::bind_to(&self.value, q)
    }

    #[cfg(feature = "mysql")]
    fn bind_mysql(&self, q: Boxed<Mysql>) -> Boxed<Mysql> {
        BindMysql::<ST>::bind_to(&self.value, q)
    }

    #[cfg(feature = "sqlite")]
    fn bind_sqlite(&self, q: Boxed<Sqlite>) -> Boxed<Sqlite> {
        BindSqlite::<ST>::bind_to(&self.value, q)
    }

    fn text(&self) -> Option<String> {
        text_of(&self.value)
    }

    fn describe(&self, plain: bool) -> ParamValue {
        let sql_type = short_type_name::<ST>();
        if plain {
            ParamValue::Plain {
                sql_type,
                value: format!("{:?}", self.value),
            }
        } else {
            ParamValue::Redacted { sql_type }
        }
    }
}

/// A bound value as text: text types as they are; anything else from its
/// `Debug`, which is its plain form for numbers, booleans, dates and times
/// (chrono), with `Some(..)` unwrapped and a quoted string unescaped.
fn text_of<T: Debug + 'static>(value: &T) -> Option<String> {
    let any: &dyn std::any::Any = value;
    if let Some(s) = any.downcast_ref::<String>() {
        return Some(s.clone());
    }
    if let Some(s) = any.downcast_ref::<&'static str>() {
        return Some((*s).to_owned());
    }
    if let Some(s) = any.downcast_ref::<Option<String>>() {
        return s.clone();
    }
    if let Some(s) = any.downcast_ref::<Option<&'static str>>() {
        return s.map(str::to_owned);
    }
    from_debug(&format!("{value:?}"))
}

fn from_debug(debug: &str) -> Option<String> {
    let inner = match debug.strip_prefix("Some(") {
        Some(rest) => rest.strip_suffix(')')?,
        None => debug,
    };
    if inner == "None" || inner.starts_with('[') {
        return None;
    }
    match inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        Some(quoted) => Some(unescape_debug(quoted)),
        None => Some(inner.to_owned()),
    }
}

/// Undoes `str`'s `Debug` escapes (`\"`, `\\`, `\n`, `\t`, `\r`, `\0`,
/// `\'`, `\u{..}`).
fn unescape_debug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('0') => out.push('\0'),
            Some('u') => {
                let code: String = chars
                    .by_ref()
                    .skip_while(|&c| c == '{')
                    .take_while(|&c| c != '}')
                    .collect();
                if let Some(c) = u32::from_str_radix(&code, 16).ok().and_then(char::from_u32) {
                    out.push(c);
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

/// `Execute`'s binds as events and guards show them: values only if
/// `plain`.
pub(crate) fn describe(binds: &[Arc<dyn BindValue>], plain: bool) -> Params {
    if binds.is_empty() {
        return Params::none();
    }
    // Collected straight into the shared slice: one allocation.
    Params(binds.iter().map(|b| b.describe(plain)).collect())
}

/// `diesel::sql_types::Nullable<diesel::sql_types::Integer>` → `Nullable<Integer>`.
fn short_type_name<T>() -> Cow<'static, str> {
    let full = std::any::type_name::<T>();
    // Most SQL types are plain paths (`diesel::sql_types::Integer`): the
    // last segment, without walking the name a character at a time (this
    // runs for every bind of every statement).
    if !full.contains(['<', '>', ',', ' ', '(', ')']) {
        return Cow::Borrowed(&full[full.rfind(':').map_or(0, |i| i + 1)..]);
    }
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for ch in full.chars() {
        match ch {
            ':' => segment.clear(),
            '<' | '>' | ',' | ' ' | '(' | ')' => {
                out.push_str(&segment);
                segment.clear();
                out.push(ch);
            }
            c => segment.push(c),
        }
    }
    out.push_str(&segment);
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_are_short() {
        assert_eq!(
            short_type_name::<diesel::sql_types::Nullable<diesel::sql_types::Integer>>(),
            "Nullable<Integer>"
        );
        assert_eq!(short_type_name::<diesel::sql_types::Integer>(), "Integer");
        assert_eq!(short_type_name::<u8>(), "u8");
        assert_eq!(
            short_type_name::<(diesel::sql_types::Text, diesel::sql_types::Integer)>(),
            "(Text, Integer)"
        );
        // A plain path's name is borrowed from the type's own: no
        // allocation per bind.
        assert!(matches!(
            short_type_name::<diesel::sql_types::Integer>(),
            Cow::Borrowed("Integer")
        ));
    }

    #[test]
    fn binds_are_described_in_order_with_their_types() {
        let binds: Vec<Arc<dyn BindValue>> = vec![
            Typed::<diesel::sql_types::Integer, i32>::boxed(7),
            Typed::<diesel::sql_types::Text, String>::boxed("secret-value".to_owned()),
        ];
        let redacted = describe(&binds, false);
        assert_eq!(
            &redacted.0[..],
            &[
                ParamValue::Redacted {
                    sql_type: "Integer".into()
                },
                ParamValue::Redacted {
                    sql_type: "Text".into()
                }
            ]
        );
        let plain = describe(&binds, true);
        assert!(
            matches!(&plain.0[1], ParamValue::Plain { sql_type, value } if sql_type == "Text" && value.contains("secret-value"))
        );
        assert!(describe(&[], true).is_empty());
    }

    #[test]
    fn values_render_as_a_server_quotes_them() {
        use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
        let text = |v: Arc<dyn BindValue>| v.text();
        assert_eq!(
            text(Typed::<Text, String>::boxed("a \"b\"\n\\c".into())).as_deref(),
            Some("a \"b\"\n\\c")
        );
        assert_eq!(
            text(Typed::<Text, &str>::boxed("x'y")).as_deref(),
            Some("x'y")
        );
        assert_eq!(
            text(Typed::<BigInt, i64>::boxed(-42)).as_deref(),
            Some("-42")
        );
        assert_eq!(
            text(Typed::<Double, f64>::boxed(1.5)).as_deref(),
            Some("1.5")
        );
        assert_eq!(
            text(Typed::<Bool, bool>::boxed(true)).as_deref(),
            Some("true")
        );
        assert_eq!(
            text(Typed::<Nullable<BigInt>, Option<i64>>::boxed(Some(7))).as_deref(),
            Some("7")
        );
        assert_eq!(
            text(Typed::<Nullable<BigInt>, Option<i64>>::boxed(None)),
            None
        );
        assert_eq!(
            text(Typed::<diesel::sql_types::Binary, Vec<u8>>::boxed(vec![
                1, 2
            ])),
            None
        );
        // A string type other than String and &str goes through its Debug.
        assert_eq!(
            text(Typed::<Text, std::borrow::Cow<'static, str>>::boxed(
                "é\u{301}\t".into()
            ))
            .as_deref(),
            Some("é\u{301}\t")
        );
    }

    #[test]
    fn values_are_redacted_unless_plain() {
        let v = Typed::<diesel::sql_types::Text, String>::boxed("secret-value".into());
        assert_eq!(
            v.describe(false),
            ParamValue::Redacted {
                sql_type: "Text".into()
            }
        );
        assert!(
            matches!(v.describe(true), ParamValue::Plain { value, .. } if value.contains("secret-value"))
        );
    }
}
