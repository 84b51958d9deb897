//! The SQL dialects Switchboard's backends speak, mapped to sqlparser's.

use sqlparser::dialect::{GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use switchboard_core::Backend;

/// Which grammar to parse a statement with: one per backend, plus a
/// permissive fallback.
///
/// The dialect matters: backticks quote identifiers only in MySQL and SQLite,
/// `?` is a bind parameter in MySQL and SQLite but an operator in PostgreSQL,
/// and `@name` is a MySQL user variable but a bind parameter in SQLite.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// PostgreSQL (`sqlparser`'s `PostgreSqlDialect`).
    Postgres,
    /// MySQL and MariaDB (`MySqlDialect`).
    Mysql,
    /// SQLite (`SQLiteDialect`).
    Sqlite,
    /// No particular database (`GenericDialect`): accepts most syntax, for
    /// tools that do not know the backend.
    Generic,
}

impl Dialect {
    /// Every dialect, in declaration order.
    pub const ALL: [Dialect; 4] = [
        Dialect::Postgres,
        Dialect::Mysql,
        Dialect::Sqlite,
        Dialect::Generic,
    ];

    /// The lowercase name used in configuration and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
            Dialect::Sqlite => "sqlite",
            Dialect::Generic => "generic",
        }
    }

    /// The dialect a backend speaks.
    pub fn for_backend(backend: Backend) -> Self {
        match backend {
            Backend::Postgres => Dialect::Postgres,
            Backend::Mysql => Dialect::Mysql,
            Backend::Sqlite => Dialect::Sqlite,
            _ => Dialect::Generic,
        }
    }

    /// The sqlparser grammar for this dialect. The dialect types are unit
    /// structs, so this is free.
    pub(crate) fn parser_dialect(self) -> &'static dyn sqlparser::dialect::Dialect {
        match self {
            Dialect::Postgres => &PostgreSqlDialect {},
            Dialect::Mysql => &MySqlDialect {},
            Dialect::Sqlite => &SQLiteDialect {},
            Dialect::Generic => &GenericDialect {},
        }
    }
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
