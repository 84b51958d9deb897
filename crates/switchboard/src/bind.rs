//! Typed bind values that work on whichever backend the pool has.
//!
//! `Execute::sql("... $1").bind::<Integer, _>(42)` keeps the value with its
//! diesel SQL type; when the statement runs it is bound through diesel's
//! boxed SQL query of the pool's backend, so the value must be bindable on
//! all three (the usual scalar types are).

use std::fmt::Debug;
use std::marker::PhantomData;
use std::sync::Arc;

use diesel::mysql::Mysql;
use diesel::pg::Pg;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::serialize::ToSql;
use diesel::sql_types::HasSqlType;
use diesel::sqlite::Sqlite;
use switchboard_core::{ParamValue, Params};

/// A boxed raw SQL query of one backend.
pub(crate) type Boxed<DB> = BoxedSqlQuery<'static, DB, SqlQuery>;

/// A value with its SQL type, bindable on every backend.
pub trait BindValue: Send + Sync + 'static {
    /// Adds the value to a PostgreSQL query.
    fn bind_pg(&self, q: Boxed<Pg>) -> Boxed<Pg>;
    /// Adds the value to a MySQL query.
    fn bind_mysql(&self, q: Boxed<Mysql>) -> Boxed<Mysql>;
    /// Adds the value to a SQLite query.
    fn bind_sqlite(&self, q: Boxed<Sqlite>) -> Boxed<Sqlite>;
    /// How the value appears in events: its type, and its value only if
    /// `plain`.
    fn describe(&self, plain: bool) -> ParamValue;
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
    Pg: HasSqlType<ST>,
    Mysql: HasSqlType<ST>,
    Sqlite: HasSqlType<ST>,
    T: ToSql<ST, Pg> + ToSql<ST, Mysql> + ToSql<ST, Sqlite> + Clone + Debug + Send + Sync + 'static,
{
    fn bind_pg(&self, q: Boxed<Pg>) -> Boxed<Pg> {
        q.bind::<ST, T>(self.value.clone())
    }

    fn bind_mysql(&self, q: Boxed<Mysql>) -> Boxed<Mysql> {
        q.bind::<ST, T>(self.value.clone())
    }

    fn bind_sqlite(&self, q: Boxed<Sqlite>) -> Boxed<Sqlite> {
        q.bind::<ST, T>(self.value.clone())
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

/// `Execute`'s binds as events and guards show them: values only if
/// `plain`.
pub(crate) fn describe(binds: &[Arc<dyn BindValue>], plain: bool) -> Params {
    if binds.is_empty() {
        return Params::none();
    }
    Params(
        binds
            .iter()
            .map(|b| b.describe(plain))
            .collect::<Vec<ParamValue>>()
            .into(),
    )
}

/// `diesel::sql_types::Nullable<diesel::sql_types::Integer>` → `Nullable<Integer>`.
fn short_type_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::with_capacity(full.len());
    let mut segment = String::new();
    for ch in full.chars() {
        match ch {
            ':' => segment.clear(),
            '<' | '>' | ',' | ' ' => {
                out.push_str(&segment);
                segment.clear();
                out.push(ch);
            }
            c => segment.push(c),
        }
    }
    out.push_str(&segment);
    out
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
