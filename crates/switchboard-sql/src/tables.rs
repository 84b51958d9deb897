//! Which tables a statement touches, named as the server resolves them,
//! without mistaking a CTE or a table function for a table, and without
//! letting a CTE hide a real one.
//!
//! sqlparser's visitor reports every name in a `FROM` position as a
//! relation, including references to CTEs (`WITH x AS (...) SELECT * FROM x`)
//! and table functions (`FROM generate_series(1, 3)`). A CTE hides a table
//! only where the server says it does, so this collector follows each
//! dialect's scoping:
//!
//! - a query's CTE names are visible in its body and its subqueries;
//! - a CTE's own body sees the CTEs declared before it; with `RECURSIVE`,
//!   PostgreSQL lets it see all of its siblings and MySQL itself as well;
//!   SQLite lets every CTE body see every sibling, `RECURSIVE` or not;
//! - a reference names a CTE only if the server would compare the two names
//!   as equal (PostgreSQL folds unquoted names to lower case, SQLite ignores
//!   case, MySQL compares as written);
//! - the target of `INSERT`, `UPDATE`, `DELETE` and `MERGE` is always a real
//!   table: PostgreSQL and SQLite never resolve it to a CTE, and MySQL
//!   refuses to modify one.
//!
//! Where a dialect's rule is uncertain (MySQL's case sensitivity, the
//! Generic dialect), a name counts as a table: reporting a CTE as a table is
//! harmless, the reverse hides a table from the rules.

use sqlparser::ast::{
    FromTable, Ident, ObjectName, ObjectNamePart, Query, SetExpr, Statement, TableFactor,
    TableObject, TableWithJoins,
};

use crate::Dialect;
use crate::names;

/// Collects table names in first-seen order while the walk enters and
/// leaves queries.
///
/// Queries and names are recognised by address (`std::ptr::eq`): the visitor
/// hands out short-lived references, and the AST does not move during a
/// walk, so an address identifies one node for the walk's duration.
#[derive(Debug)]
pub(crate) struct Tables {
    /// Decides name folding and CTE scoping.
    dialect: Dialect,
    /// Normalized, deduplicated, in first-seen order.
    names: Vec<String>,
    /// The CTE names visible in each query being walked, innermost last.
    scopes: Vec<Vec<Ident>>,
    /// CTE bodies announced by their `WITH` but not entered yet, with the
    /// names each may see.
    pending_bodies: Vec<(*const Query, Vec<Ident>)>,
    /// A table function's name that the visitor is about to report as a
    /// relation; it is not a table.
    table_function: Option<*const ObjectName>,
    /// Targets of data-modifying statements: tables, whatever CTE is in
    /// scope.
    targets: Vec<*const ObjectName>,
}

impl Tables {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Tables {
            dialect,
            names: Vec::new(),
            scopes: Vec::new(),
            pending_bodies: Vec::new(),
            table_function: None,
            targets: Vec::new(),
        }
    }

    /// The collected names.
    pub(crate) fn into_names(self) -> Vec<String> {
        self.names
    }

    /// Records a table by name, with no CTE check (`DROP`, `COPY`, ...).
    pub(crate) fn add(&mut self, name: &ObjectName) {
        self.add_rendered(names::render(name, self.dialect));
    }

    /// Records a table given as an already normalized, dotted name.
    pub(crate) fn add_rendered(&mut self, name: String) {
        if !self.names.contains(&name) {
            self.names.push(name);
        }
    }

    /// Called before a statement's parts are visited: notes the tables it
    /// modifies, which no CTE may hide.
    pub(crate) fn enter_statement(&mut self, statement: &Statement) {
        let targets = &mut self.targets;
        match statement {
            Statement::Insert(insert) => {
                if let TableObject::TableName(name) = &insert.table {
                    targets.push(name);
                }
            }
            // MySQL updates any table of the join whose columns it sets.
            Statement::Update(update) => joined(std::slice::from_ref(&update.table), targets),
            Statement::Delete(delete) => {
                let (FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from)) =
                    &delete.from;
                if !delete.tables.is_empty() {
                    // MySQL's `DELETE t1, t2 FROM t1 JOIN t2 ...` deletes
                    // from the tables of the FROM list that `tables` names.
                    joined(from, targets);
                } else if let Some(first) = from.first() {
                    target(&first.relation, targets);
                }
            }
            Statement::Merge(merge) => target(&merge.table, targets),
            _ => {}
        }
    }

    /// Called before a query's parts are visited: opens its CTE scope and
    /// reports the tables of `TABLE name` bodies, which the visitor does not
    /// report as relations.
    pub(crate) fn enter_query(&mut self, query: &Query) {
        let position = self
            .pending_bodies
            .iter()
            .position(|(body, _)| std::ptr::eq(*body, query));
        let mut visible = match position {
            Some(index) => self.pending_bodies.swap_remove(index).1,
            None => self.scopes.last().cloned().unwrap_or_default(),
        };
        if let Some(with) = &query.with {
            let declared: Vec<Ident> = with
                .cte_tables
                .iter()
                .map(|cte| cte.alias.name.clone())
                .collect();
            for (index, cte) in with.cte_tables.iter().enumerate() {
                let seen = match (self.dialect, with.recursive) {
                    (Dialect::Sqlite, _) | (Dialect::Postgres, true) => &declared[..],
                    (Dialect::Mysql | Dialect::Generic, true) => &declared[..=index],
                    (_, false) => &declared[..index],
                };
                let mut body_scope = visible.clone();
                body_scope.extend_from_slice(seen);
                self.pending_bodies.push((&*cte.query, body_scope));
            }
            visible.extend(declared);
        }
        self.scopes.push(visible);
        self.table_bodies(&query.body);
    }

    /// Called after a query's parts are visited: closes its CTE scope.
    pub(crate) fn leave_query(&mut self) {
        self.scopes.pop();
    }

    /// `TABLE name` as a query body, or as an operand of `UNION` and the
    /// like, reads `name` (a CTE, when one of that name is in scope).
    /// Nested queries are entered on their own.
    fn table_bodies(&mut self, body: &SetExpr) {
        match body {
            SetExpr::Table(table) => {
                let parts: Vec<ObjectNamePart> = [&table.schema_name, &table.table_name]
                    .into_iter()
                    .flatten()
                    .map(|ident| ObjectNamePart::Identifier(ident.clone()))
                    .collect();
                if !parts.is_empty() {
                    self.reference(&ObjectName(parts));
                }
            }
            SetExpr::SetOperation { left, right, .. } => {
                self.table_bodies(left);
                self.table_bodies(right);
            }
            _ => {}
        }
    }

    /// Called before a `FROM` item's parts are visited.
    pub(crate) fn enter_table_factor(&mut self, factor: &TableFactor) {
        if let TableFactor::Table {
            name,
            args: Some(_),
            ..
        } = factor
        {
            self.table_function = Some(name);
        }
    }

    /// Called for every name the visitor reports as a relation.
    pub(crate) fn relation(&mut self, name: &ObjectName) {
        if self
            .targets
            .iter()
            .any(|target| std::ptr::eq(*target, name))
        {
            self.add(name);
            return;
        }
        if self
            .table_function
            .is_some_and(|function| std::ptr::eq(function, name))
        {
            self.table_function = None;
            return;
        }
        self.reference(name);
    }

    /// A name that is a CTE if a visible CTE has it, else a table.
    fn reference(&mut self, name: &ObjectName) {
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && self
                .scopes
                .last()
                .is_some_and(|ctes| ctes.iter().any(|cte| self.same_cte(cte, ident)))
        {
            return;
        }
        self.add(name);
    }

    /// Whether the server resolves `reference` to the CTE named `cte`.
    fn same_cte(&self, cte: &Ident, reference: &Ident) -> bool {
        let folded =
            |dialect| names::normalize(cte, dialect) == names::normalize(reference, dialect);
        match self.dialect {
            Dialect::Postgres => folded(Dialect::Postgres),
            Dialect::Sqlite => folded(Dialect::Sqlite),
            // Case-sensitive unless lower_case_table_names says otherwise:
            // only an exact match is certainly the CTE.
            Dialect::Mysql => cte.value == reference.value,
            Dialect::Generic => cte.value == reference.value && folded(Dialect::Postgres),
        }
    }
}

/// Notes a `FROM` item as a target when it names a table.
fn target(factor: &TableFactor, targets: &mut Vec<*const ObjectName>) {
    if let TableFactor::Table { name, .. } = factor {
        targets.push(name);
    }
}

/// Notes every table of a `FROM` list, joins included, as a target.
fn joined(tables: &[TableWithJoins], targets: &mut Vec<*const ObjectName>) {
    for table in tables {
        target(&table.relation, targets);
        for join in &table.joins {
            target(&join.relation, targets);
        }
    }
}
