//! One pass over the parsed statements with sqlparser's `Visitor`, gathering
//! everything `Classification` reports except the operation name.

use std::convert::Infallible;
use std::ops::ControlFlow;

use sqlparser::ast::{
    Expr, ObjectName, Query, Select, Statement, TableFactor, Value, ValueWithSpan, Visit, Visitor,
};
use switchboard_core::StatementClass;

use crate::Dialect;
use crate::classify::most_privileged;
use crate::placeholders::Placeholders;
use crate::statement;
use crate::tables::{self, Tables};

/// What the walk has found so far.
#[derive(Debug)]
pub(crate) struct Walk {
    /// Decides whether `SELECT ... INTO x` creates a table (PostgreSQL) or
    /// assigns variables (MySQL).
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
            tables: Tables::default(),
            placeholders: Placeholders::default(),
            planned_only: 0,
            prepared: 0,
            listing_schema: 0,
        }
    }

    /// Walks one top-level statement.
    pub(crate) fn statement(&mut self, statement: &Statement) {
        match statement.visit(self) {
            ControlFlow::Continue(()) => {}
            ControlFlow::Break(never) => match never {},
        }
    }

    /// The depth counter that `statement` changes for what it encloses.
    fn depth_for(&mut self, statement: &Statement) -> Option<&mut usize> {
        if statement::plans_only(statement) {
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

    fn raise(&mut self, class: StatementClass) {
        self.class = most_privileged(self.class, class);
    }
}

impl Visitor for Walk {
    type Break = Infallible;

    fn pre_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Infallible> {
        if self.runs() {
            self.raise(statement::own_class(statement));
            self.missing_where |= statement::lacks_where(statement);
        }
        statement::unvisited_tables(statement, |name| self.tables.add_rendered(name));
        if let Some(depth) = self.depth_for(statement) {
            *depth += 1;
        }
        ControlFlow::Continue(())
    }

    fn post_visit_statement(&mut self, statement: &Statement) -> ControlFlow<Infallible> {
        if let Some(depth) = self.depth_for(statement) {
            *depth = depth.saturating_sub(1);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_query(&mut self, query: &Query) -> ControlFlow<Infallible> {
        self.tables.enter_query(query);
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _query: &Query) -> ControlFlow<Infallible> {
        self.tables.leave_query();
        ControlFlow::Continue(())
    }

    /// `SELECT ... INTO new_table` creates and fills a table. pgAudit logs it
    /// as DDL; we call it a write (the data moves; no schema is altered by
    /// hand) and report the new table. In MySQL the targets are variables.
    fn pre_visit_select(&mut self, select: &Select) -> ControlFlow<Infallible> {
        let Some(into) = &select.into else {
            return ControlFlow::Continue(());
        };
        if self.dialect == Dialect::Mysql {
            return ControlFlow::Continue(());
        }
        for target in &into.targets {
            let name = match target {
                Expr::Identifier(ident) => ident.value.clone(),
                Expr::CompoundIdentifier(idents) => tables::render_idents(idents),
                _ => continue,
            };
            self.tables.add_rendered(name);
            if self.runs() {
                self.raise(StatementClass::Write);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &TableFactor) -> ControlFlow<Infallible> {
        self.tables.enter_table_factor(factor);
        ControlFlow::Continue(())
    }

    fn pre_visit_relation(&mut self, relation: &ObjectName) -> ControlFlow<Infallible> {
        if self.listing_schema == 0 {
            self.tables.relation(relation);
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_value(&mut self, value: &ValueWithSpan) -> ControlFlow<Infallible> {
        if let Value::Placeholder(text) = &value.value
            && self.prepared == 0
        {
            self.placeholders.see(text);
        }
        ControlFlow::Continue(())
    }
}
