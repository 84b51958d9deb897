//! The statement classes of pgAudit, shared by events, rules and audit.

use serde::{Deserialize, Serialize};

/// What a statement does, in the classes pgAudit uses for `pgaudit.log`.
///
/// Computed by `switchboard-sql` with a real SQL parser; carried on every
/// `Executing` event so subscribers (audit, rules, metrics) agree on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum StatementClass {
    /// `SELECT`, `COPY ... TO`, `SHOW`, `EXPLAIN` of a read, `WITH` without writes.
    Read,
    /// `INSERT`, `UPDATE`, `DELETE`, `MERGE`, `TRUNCATE`, `COPY ... FROM`.
    Write,
    /// Schema changes: `CREATE`, `ALTER`, `DROP` of tables, indexes, views, ...
    Ddl,
    /// Privileges and roles: `GRANT`, `REVOKE`, `CREATE/ALTER/DROP ROLE|USER`.
    Role,
    /// Everything else: `SET`, `BEGIN`, `VACUUM`, `PRAGMA`, ...; also a
    /// statement that could not be parsed.
    Misc,
}

impl StatementClass {
    /// Every class, in declaration order.
    pub const ALL: [StatementClass; 5] = [
        StatementClass::Read,
        StatementClass::Write,
        StatementClass::Ddl,
        StatementClass::Role,
        StatementClass::Misc,
    ];

    /// The lowercase name used in JSON, TOML and logs.
    pub fn as_str(self) -> &'static str {
        match self {
            StatementClass::Read => "read",
            StatementClass::Write => "write",
            StatementClass::Ddl => "ddl",
            StatementClass::Role => "role",
            StatementClass::Misc => "misc",
        }
    }
}

impl std::fmt::Display for StatementClass {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
