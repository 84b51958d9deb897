//! One pass over the parsed statements with sqlparser's `Visitor`, gathering
//! everything `Classification` reports except the operation name, and
//! stopping at the first thing the classifier does not model.

use std::ops::ControlFlow;

use sqlparser::ast::{
    CopyTarget, Expr, Query, Select, Statement, TableFactor, Value, ValueWithSpan, Visit, Visitor,
};
use switchboard_core::StatementClass;

use crate::classify::most_privileged;
use crate::effects;
use crate::explain::{self, Explained};
use crate::names;
use crate::placeholders::Placeholders;
use crate::session;
use crate::statement;
use crate::tables::Tables;
use crate::{Dialect, ParseError};

/// What the walk has found so far.
#[derive(Debug)]
pub(crate) struct Walk {
    /// Decides name folding, CTE scoping, `SELECT ... INTO` (a new table in
    /// PostgreSQL, variables in MySQL) and which functions are built-ins.
    dialect: Dialect,
    /// The most privileged class of any statement that would run.
    pub(crate) class: StatementClass,
    /// Whether some `UPDATE` or `DELETE` that would run has no `WHERE`.
    pub(crate) missing_where: bool,
    /// Tables touched, with CTE names and table functions left out.
    pub(crate) tables: Tables,
    /// Bind parameters, numbered in the order the walk meets them.
    pub(crate) placeholders: Placeholders,
    /// How many `EXPLAIN`s (without `ANALYZE`) enclose the current node:
    /// their statements are planned, not run, so they neither raise the
    /// class nor count as a missing `WHERE`.
    planned_only: usize,
    /// How many `PREPARE`s enclose the current node: their `$n` are the
    /// prepared statement's parameters, bound later by `EXECUTE`, not binds
    /// of this text.
    prepared: usize,
    /// How many `SHOW TABLES IN schema`-like statements enclose the current
    /// node: the relation they name is a schema or database.
    listing_schema: usize,
}

impl Walk {
    pub(crate) fn new(dialect: Dialect) -> Self {
        Walk {
            dialect,
            class: StatementClass::Misc,
            missing_where: false,
            tables: Tables::new(dialect),
            placeholders: Placeholders::default(),
            planned_only: 0,
            prepared: 0,
            listing_schema: 0,
        }
    }

    /// Walks one top-level statement; an error is something the classifier
    /// does not model, which makes the whole text unparsable.
    pub(crate) fn statement(&mut self, statement: &Statement) -> Result<(), ParseError> {
        match statement.visit(self) {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(refused) => Err(refused),
        }
    }

    /// The depth counter that `statement` changes for what it encloses.
    fn depth_for(&mut self, statement: &Statement) -> Option<&mut usize> {
        // An EXPLAIN's own options were checked when it was entered.
        if let Ok(Some(Explained::Plans)) = explain::explained(statement, self.dialect) {
            Some(&mut self.planned_only)
        } else if let Statement::Prepare { .. } = statement {
            Some(&mut self.prepared)
        } else if statement::lists_schema(statement) {
            Some(&mut self.listing_schema)
        } else {
            None
        }
    }

    fn runs(&self) -> bool {
        self.planned_only == 0
    }

    /// Whether an `EXPLAIN` takes the class of what it explains even when
    /// it only plans it. MySQL and MariaDB treat `EXPLAIN DELETE` as the
    /// `DELETE` (they refuse it in a read-only transaction, as the corpus's
    /// differential test shows), though it deletes nothing; the Generic
    /// dialect follows the stricter servers.
    fn explain_takes_class(&self) -> bool {
        matches!(self.dialect, Dialect::Mysql | Dialect::Generic)
    }

    fn raise(&mut self, class: StatementClass) {
        self.class = most_privileged(self.class, class);
    }

    /// Raises to `write` what may write although it reads or runs nothing
    /// visible (a function call, `CALL`, a locking read).
    fn may_write(&mut self) {
        self.raise(StatementClass::Write);
    }
}

impl Visitor for Walk {
    type Break = ParseError;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<ParseError> {
        if let Err(refused) = explain::explained(statement, self.dialect)
            .and_then(|_| session::check(statement, self.dialect))
        {
            return ControlFlow::Break(refused);
        }
        if self.runs() || self.explain_takes_class() {
            self.raise(statement::own_class(statement));
        }
        if self.runs() {
            self.missing_where |= statement::lacks_where(statement);
            if statement::runs_unseen_code(statement) {
                self.may_write();
            }
            if let Statement::Copy {
                to: true,
                target: CopyTarget::File { .. } | CopyTarget::Program { .. },
                ..
            } = statement
            {
                // COPY ... TO a server file or program writes outside the
                // database.
                self.may_write();
            }
        }
        let dialect = self.dialect;
        statement::unvisited_tables(statement, dialect, |name| self.tables.add_rendered(name));
        self.tables.enter_statement(statement);
        if let Some(depth) = self.depth_for(statement) {
            *depth += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<ParseError> {
        if let Some(depth) = self.depth_for(statement) {
            *depth = depth.saturating_sub(1);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<ParseError> {
        self.tables.enter_query(query);
        // FOR UPDATE / FOR SHARE lock rows: PostgreSQL refuses them in a
        // read-only transaction.
        if !query.locks.is_empty() && (self.runs() || self.explain_takes_class()) {
            self.may_write();
        }
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<ParseError> {
        self.tables.leave_query();
        ControlFlow::Continue(())
    }

    /// `SELECT ... INTO new_table` creates and fills a table. pgAudit logs it
    /// as DDL; we call it a write (the data moves; no schema is altered by
    /// hand) and report the new table. In MySQL the targets are variables.
    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<ParseError> {
        let Some(into) = &select.into else {
            return ControlFlow::Continue(());
        };
        if self.dialect == Dialect::Mysql {
            return ControlFlow::Continue(());
        }
        for target in &into.targets {
            let name = match target {
                Expr::Identifier(ident) => names::normalize(ident, self.dialect),
                Expr::CompoundIdentifier(idents) => names::render_idents(idents, self.dialect),
                _ => continue,
            };
            self.tables.add_rendered(name);
            if self.runs() {
                self.raise(StatementClass::Write);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<ParseError> {
        self.tables.enter_table_factor(factor);
        let function = match factor {
            TableFactor::Table {
                name,
                args: Some(_),
                ..
            }
            | TableFactor::Function { name, .. } => Some(name),
            _ => None,
        };
        if function.is_some_and(|name| !effects::reads_only(name, self.dialect)) {
            self.may_write();
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(
        &mut self,
        relation: &sqlparser::ast::ObjectName,
    ) -> ControlFlow<ParseError> {
        if self.listing_schema == 0 {
            self.tables.relation(relation);
        }
        ControlFlow::Continue(())
    }

    /// Functions not known to change nothing make the statement may-write,
    /// even under EXPLAIN: planners may evaluate calls.
    fn pre_visit_expr(&mut self, expr: &Expr) -> ControlFlow<ParseError> {
        if let Expr::Function(function) = expr {
            if let Err(refused) = session::check_function(function, self.dialect) {
                return ControlFlow::Break(refused);
            }
            if !effects::reads_only(&function.name, self.dialect) {
                self.may_write();
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<ParseError> {
        if let Value::Placeholder(text) = &value.value
            && self.prepared == 0
        {
            self.placeholders.see(text);
        }
        ControlFlow::Continue(())
    }
}
