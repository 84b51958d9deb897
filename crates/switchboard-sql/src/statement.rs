//! Facts about one statement node on its own: its pgAudit class, its
//! operation name, and the tables it names outside any `FROM` clause.
//!
//! Nothing here looks inside nested statements; `walk.rs` visits those and
//! combines what this module says about each of them.

use sqlparser::ast::{CopySource, ObjectName, ObjectType, Query, SetExpr, Statement};
use switchboard_core::StatementClass;

use crate::{Dialect, names};

/// The class of `statement` itself, ignoring any statement nested in it.
///
/// A `SELECT` is `Read` here even if a CTE inside it deletes rows: the walk
/// meets that `DELETE` as a statement of its own and raises the class.
pub(crate) fn own_class(statement: &Statement) -> StatementClass {
    use StatementClass::{Ddl, Misc, Read, Role, Write};
    match statement {
        Statement::Grant(_)
        | Statement::GrantRole(_)
        | Statement::Deny(_)
        | Statement::Revoke(_)
        | Statement::RevokeRole(_)
        | Statement::AlterDefaultPrivileges(_)
        | Statement::CreateRole(_)
        | Statement::AlterRole { .. }
        | Statement::CreateUser(_)
        | Statement::AlterUser(_) => Role,
        Statement::Drop { object_type, .. } => match object_type {
            ObjectType::Role | ObjectType::User | ObjectType::Group => Role,
            _ => Ddl,
        },

        Statement::CreateView(_)
        | Statement::CreateTable(_)
        | Statement::CreateVirtualTable { .. }
        | Statement::CreateIndex(_)
        | Statement::CreateSchema { .. }
        | Statement::CreateDatabase { .. }
        | Statement::CreateSequence { .. }
        | Statement::CreateType { .. }
        | Statement::CreateDomain(_)
        | Statement::CreateExtension(_)
        | Statement::CreateCollation(_)
        | Statement::CreateFunction(_)
        | Statement::CreateProcedure { .. }
        | Statement::CreateTrigger(_)
        | Statement::CreatePolicy(_)
        | Statement::CreateRule(_)
        | Statement::CreateServer(_)
        | Statement::CreateForeignTable(_)
        | Statement::CreateForeignDataWrapper(_)
        | Statement::CreateUserMapping(_)
        | Statement::CreateOperator(_)
        | Statement::CreateOperatorFamily(_)
        | Statement::CreateOperatorClass(_)
        | Statement::CreateTextSearch(_)
        | Statement::CreateAggregate(_)
        | Statement::CreateMacro { .. }
        | Statement::CreateSecret { .. }
        | Statement::CreateConnector(_)
        | Statement::CreateStage { .. }
        | Statement::CreateFileFormat { .. }
        | Statement::CreateWarehouse(_)
        | Statement::AlterTable(_)
        | Statement::AlterSchema(_)
        | Statement::AlterIndex { .. }
        | Statement::AlterView(_)
        | Statement::AlterFunction(_)
        | Statement::AlterType(_)
        | Statement::AlterCollation(_)
        | Statement::AlterOperator(_)
        | Statement::AlterOperatorFamily(_)
        | Statement::AlterOperatorClass(_)
        | Statement::AlterTextSearch(_)
        | Statement::AlterPolicy(_)
        | Statement::AlterTrigger(_)
        | Statement::AlterConnector { .. }
        | Statement::DropFunction(_)
        | Statement::DropDomain(_)
        | Statement::DropProcedure { .. }
        | Statement::DropTrigger(_)
        | Statement::DropExtension(_)
        | Statement::DropPolicy(_)
        | Statement::DropRule(_)
        | Statement::DropOperator(_)
        | Statement::DropOperatorFamily(_)
        | Statement::DropOperatorClass(_)
        | Statement::DropSecret { .. }
        | Statement::DropConnector { .. }
        | Statement::RenameTable(_)
        | Statement::Comment { .. }
        // PostgreSQL logs REFRESH MATERIALIZED VIEW at its DDL level.
        | Statement::RefreshMaterializedView(_) => Ddl,

        Statement::Insert(_)
        | Statement::Update(_)
        | Statement::Delete(_)
        | Statement::Merge(_)
        | Statement::Truncate(_)
        | Statement::Copy { to: false, .. }
        | Statement::CopyIntoSnowflake { .. }
        | Statement::LoadData { .. } => Write,

        Statement::Query(_)
        | Statement::Copy { to: true, .. }
        | Statement::Explain { .. }
        | Statement::ExplainTable { .. }
        | Statement::Unload { .. }
        | Statement::Directory { .. }
        | Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowProcessList { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowObjects(_)
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. } => Read,

        // Transactions, SET/RESET (including SET ROLE), VACUUM, ANALYZE,
        // PRAGMA, USE, DISCARD, LOCK, LISTEN/NOTIFY, PREPARE/EXECUTE/CALL,
        // cursors, ATTACH, ... A PREPARE is raised to the class of the
        // statement it prepares by the walk; EXECUTE and CALL are raised
        // to Write by it, because the text does not say what they run.
        _ => Misc,
    }
}

/// Whether `statement` is an `UPDATE` or `DELETE` without a `WHERE` clause.
pub(crate) fn lacks_where(statement: &Statement) -> bool {
    match statement {
        Statement::Update(update) => update.selection.is_none(),
        Statement::Delete(delete) => delete.selection.is_none(),
        _ => false,
    }
}

/// Whether `statement` runs code its text does not show: `CALL` of a
/// procedure, `EXECUTE` of a prepared statement. Either may write.
pub(crate) fn runs_unseen_code(statement: &Statement) -> bool {
    matches!(statement, Statement::Call(_) | Statement::Execute { .. })
}

/// Whether `statement` lists the objects of a schema or database
/// (`SHOW TABLES IN shop`): the name it gives is not a table.
pub(crate) fn lists_schema(statement: &Statement) -> bool {
    matches!(
        statement,
        Statement::ShowTables { .. }
            | Statement::ShowViews { .. }
            | Statement::ShowObjects(_)
            | Statement::ShowFunctions { .. }
            | Statement::ShowSchemas { .. }
            | Statement::ShowDatabases { .. }
            | Statement::ShowCatalogs { .. }
    )
}

/// Calls `found` with each table that `statement` names where sqlparser's
/// visitor does not report a relation: the targets of `DROP TABLE|VIEW`,
/// `COPY`, `RENAME TABLE` (both names), triggers, `VACUUM`, `LOCK TABLES`;
/// normalized for `dialect`.
pub(crate) fn unvisited_tables(
    statement: &Statement,
    dialect: Dialect,
    mut found: impl FnMut(String),
) {
    let mut name = |name: &ObjectName| found(names::render(name, dialect));
    match statement {
        Statement::Drop {
            object_type:
                ObjectType::Table
                | ObjectType::View
                | ObjectType::MaterializedView
                | ObjectType::ForeignTable,
            names,
            ..
        } => names.iter().for_each(name),
        Statement::Copy {
            source: CopySource::Table { table_name, .. },
            ..
        } => name(table_name),
        Statement::RenameTable(renames) => {
            for rename in renames {
                name(&rename.old_name);
                name(&rename.new_name);
            }
        }
        Statement::CreateTrigger(trigger) => name(&trigger.table_name),
        Statement::DropTrigger(trigger) => trigger.table_name.iter().for_each(name),
        Statement::Vacuum(vacuum) => vacuum.table_name.iter().for_each(name),
        Statement::LockTables { tables } => {
            for table in tables {
                found(names::normalize(&table.table, dialect));
            }
        }
        _ => {}
    }
}

/// The upper-case short name of what `statement` does, in the style of
/// OpenTelemetry's `db.operation.name`: `SELECT`, `CREATE TABLE`, `GRANT`.
pub(crate) fn operation(statement: &Statement) -> String {
    let name = match statement {
        Statement::Query(query) => return query_operation(query),
        Statement::Insert(insert) if insert.replace_into => "REPLACE",
        Statement::Insert(_) => "INSERT",
        Statement::Update(_) => "UPDATE",
        Statement::Delete(_) => "DELETE",
        Statement::Merge(_) => "MERGE",
        Statement::Truncate(_) => "TRUNCATE",
        Statement::Copy { .. } => "COPY",
        Statement::CreateTable(_) => "CREATE TABLE",
        Statement::CreateVirtualTable { .. } => "CREATE VIRTUAL TABLE",
        Statement::CreateView(view) if view.materialized => "CREATE MATERIALIZED VIEW",
        Statement::CreateView(_) => "CREATE VIEW",
        Statement::CreateIndex(_) => "CREATE INDEX",
        Statement::CreateSchema { .. } => "CREATE SCHEMA",
        Statement::CreateDatabase { .. } => "CREATE DATABASE",
        Statement::CreateSequence { .. } => "CREATE SEQUENCE",
        Statement::CreateType { .. } => "CREATE TYPE",
        Statement::CreateDomain(_) => "CREATE DOMAIN",
        Statement::CreateExtension(_) => "CREATE EXTENSION",
        Statement::CreateFunction(_) => "CREATE FUNCTION",
        Statement::CreateProcedure { .. } => "CREATE PROCEDURE",
        Statement::CreateTrigger(_) => "CREATE TRIGGER",
        Statement::CreatePolicy(_) => "CREATE POLICY",
        Statement::CreateRole(_) => "CREATE ROLE",
        Statement::CreateUser(_) => "CREATE USER",
        Statement::AlterTable(_) => "ALTER TABLE",
        Statement::AlterSchema(_) => "ALTER SCHEMA",
        Statement::AlterIndex { .. } => "ALTER INDEX",
        Statement::AlterView(_) => "ALTER VIEW",
        Statement::AlterFunction(_) => "ALTER FUNCTION",
        Statement::AlterType(_) => "ALTER TYPE",
        Statement::AlterPolicy(_) => "ALTER POLICY",
        Statement::AlterTrigger(_) => "ALTER TRIGGER",
        // sqlparser parses PostgreSQL's ALTER USER as ALTER ROLE.
        Statement::AlterRole { .. } => "ALTER ROLE",
        Statement::AlterUser(_) => "ALTER USER",
        Statement::Drop { object_type, .. } => return format!("DROP {object_type}"),
        Statement::DropFunction(_) => "DROP FUNCTION",
        Statement::DropProcedure { .. } => "DROP PROCEDURE",
        Statement::DropTrigger(_) => "DROP TRIGGER",
        Statement::DropExtension(_) => "DROP EXTENSION",
        Statement::DropDomain(_) => "DROP DOMAIN",
        Statement::DropPolicy(_) => "DROP POLICY",
        Statement::RenameTable(_) => "RENAME TABLE",
        Statement::Comment { .. } => "COMMENT",
        Statement::RefreshMaterializedView(_) => "REFRESH MATERIALIZED VIEW",
        Statement::Grant(_) | Statement::GrantRole(_) => "GRANT",
        Statement::Revoke(_) | Statement::RevokeRole(_) => "REVOKE",
        Statement::Deny(_) => "DENY",
        Statement::AlterDefaultPrivileges(_) => "ALTER DEFAULT PRIVILEGES",
        Statement::StartTransaction { begin: true, .. } => "BEGIN",
        Statement::StartTransaction { .. } => "START TRANSACTION",
        Statement::Commit { .. } => "COMMIT",
        Statement::Rollback { .. } => "ROLLBACK",
        Statement::Savepoint { .. } => "SAVEPOINT",
        Statement::ReleaseSavepoint { .. } => "RELEASE SAVEPOINT",
        Statement::Set(_) => "SET",
        Statement::Reset(_) => "RESET",
        Statement::Explain { describe_alias, .. }
        | Statement::ExplainTable { describe_alias, .. } => return describe_alias.to_string(),
        Statement::ShowFunctions { .. }
        | Statement::ShowVariable { .. }
        | Statement::ShowStatus { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowCreate { .. }
        | Statement::ShowColumns { .. }
        | Statement::ShowCatalogs { .. }
        | Statement::ShowDatabases { .. }
        | Statement::ShowProcessList { .. }
        | Statement::ShowSchemas { .. }
        | Statement::ShowCharset(_)
        | Statement::ShowObjects(_)
        | Statement::ShowTables { .. }
        | Statement::ShowViews { .. }
        | Statement::ShowCollation { .. } => "SHOW",
        Statement::Analyze(_) => "ANALYZE",
        Statement::Vacuum(_) => "VACUUM",
        Statement::Pragma { .. } => "PRAGMA",
        Statement::Use(_) => "USE",
        Statement::Discard { .. } => "DISCARD",
        Statement::Lock(_) => "LOCK",
        Statement::LockTables { .. } => "LOCK TABLES",
        Statement::UnlockTables => "UNLOCK TABLES",
        Statement::Prepare { .. } => "PREPARE",
        Statement::Execute { .. } => "EXECUTE",
        Statement::Deallocate { .. } => "DEALLOCATE",
        Statement::Call(_) => "CALL",
        Statement::Declare { .. } => "DECLARE",
        Statement::Fetch { .. } => "FETCH",
        Statement::Close { .. } => "CLOSE",
        Statement::LISTEN { .. } => "LISTEN",
        Statement::UNLISTEN { .. } => "UNLISTEN",
        Statement::NOTIFY { .. } => "NOTIFY",
        Statement::AttachDatabase { .. } => "ATTACH",
        Statement::Kill { .. } => "KILL",
        Statement::Flush { .. } => "FLUSH",
        _ => return leading_keyword(statement),
    };
    name.to_owned()
}

/// The operation of a query: what its body does (`WITH ... UPDATE` is an
/// `UPDATE`, a `UNION` of selects is a `SELECT`).
fn query_operation(query: &Query) -> String {
    let mut body = &*query.body;
    loop {
        match body {
            SetExpr::Select(_) => return "SELECT".to_owned(),
            SetExpr::Values(_) => return "VALUES".to_owned(),
            SetExpr::Table(_) => return "TABLE".to_owned(),
            SetExpr::SetOperation { left, .. } => body = left,
            SetExpr::Query(inner) => body = &inner.body,
            SetExpr::Insert(statement)
            | SetExpr::Update(statement)
            | SetExpr::Delete(statement)
            | SetExpr::Merge(statement) => return operation(statement),
        }
    }
}

/// For statements rare enough not to be named above: the first word of
/// sqlparser's rendering of the statement, which is always a keyword.
fn leading_keyword(statement: &Statement) -> String {
    let text = statement.to_string();
    text.split_whitespace()
        .next()
        .unwrap_or("UNKNOWN")
        .to_ascii_uppercase()
}
