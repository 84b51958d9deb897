//! Which tables a statement touches, without mistaking a CTE or a table
//! function for a table.
//!
//! sqlparser's visitor reports every name in a `FROM` position as a
//! relation, including references to CTEs (`WITH x AS (...) SELECT * FROM x`)
//! and table functions (`FROM generate_series(1, 3)`). A CTE hides a table
//! only where it is in scope, and a rule engine must not be fooled by
//! `WITH secrets AS (SELECT * FROM secrets) SELECT * FROM secrets`: the
//! inner `secrets` is the real table. So this collector follows SQL's
//! scoping: a query's CTE names are visible in its body and its subqueries;
//! a CTE's own body sees only the CTEs declared before it, or all of its
//! siblings when the `WITH` is `RECURSIVE`.

use sqlparser::ast::{Ident, ObjectName, ObjectNamePart, Query, TableFactor};

/// The name of a CTE, kept with its quoting because quoting decides whether
/// case matters when a reference is matched against it.
#[derive(Debug, Clone)]
struct CteName {
    value: String,
    quoted: bool,
}

impl CteName {
    fn new(ident: &Ident) -> Self {
        CteName {
            value: ident.value.clone(),
            quoted: ident.quote_style.is_some(),
        }
    }

    /// Whether a one-part reference names this CTE. Unquoted names match
    /// case-insensitively; anything less certain counts as a table, because
    /// reporting a CTE as a table is harmless and the reverse is not.
    fn matches(&self, reference: &Ident) -> bool {
        reference.value == self.value
            || (!self.quoted
                && reference.quote_style.is_none()
                && reference.value.eq_ignore_ascii_case(&self.value))
    }
}

/// Collects table names in first-seen order while the walk enters and
/// leaves queries.
///
/// Queries and names are recognised by address (`std::ptr::eq`): the visitor
/// hands out short-lived references, and the AST does not move during a
/// walk, so an address identifies one node for the walk's duration.
#[derive(Debug, Default)]
pub(crate) struct Tables {
    /// Deduplicated, in first-seen order.
    names: Vec<String>,
    /// The CTE names visible in each query being walked, innermost last.
    scopes: Vec<Vec<CteName>>,
    /// CTE bodies announced by their `WITH` but not entered yet, with the
    /// names each may see.
    pending_bodies: Vec<(*const Query, Vec<CteName>)>,
    /// A table function's name that the visitor is about to report as a
    /// relation; it is not a table.
    table_function: Option<*const ObjectName>,
}

impl Tables {
    /// The collected names.
    pub(crate) fn into_names(self) -> Vec<String> {
        self.names
    }

    /// Records a table by name (no CTE check: used for `DROP`, `COPY`, ...).
    pub(crate) fn add(&mut self, name: &ObjectName) {
        self.add_rendered(render(name));
    }

    /// Records a table given as an already unquoted, dotted name.
    pub(crate) fn add_rendered(&mut self, name: String) {
        if !self.names.contains(&name) {
            self.names.push(name);
        }
    }

    /// Called before a query's parts are visited: opens its CTE scope.
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
            let declared: Vec<CteName> = with
                .cte_tables
                .iter()
                .map(|cte| CteName::new(&cte.alias.name))
                .collect();
            for (index, cte) in with.cte_tables.iter().enumerate() {
                let seen_by_body = if with.recursive {
                    &declared[..]
                } else {
                    &declared[..index]
                };
                let mut body_scope = visible.clone();
                body_scope.extend_from_slice(seen_by_body);
                self.pending_bodies.push((&*cte.query, body_scope));
            }
            visible.extend(declared);
        }
        self.scopes.push(visible);
    }

    /// Called after a query's parts are visited: closes its CTE scope.
    pub(crate) fn leave_query(&mut self) {
        self.scopes.pop();
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
            .table_function
            .is_some_and(|function| std::ptr::eq(function, name))
        {
            self.table_function = None;
            return;
        }
        if let [ObjectNamePart::Identifier(ident)] = name.0.as_slice()
            && self
                .scopes
                .last()
                .is_some_and(|ctes| ctes.iter().any(|cte| cte.matches(ident)))
        {
            return;
        }
        self.add(name);
    }
}

/// `schema.table` without quotes, as written (case is kept).
pub(crate) fn render(name: &ObjectName) -> String {
    let mut rendered = String::new();
    for (index, part) in name.0.iter().enumerate() {
        if index > 0 {
            rendered.push('.');
        }
        match part {
            ObjectNamePart::Identifier(ident) => rendered.push_str(&ident.value),
            ObjectNamePart::Function(function) => rendered.push_str(&function.to_string()),
        }
    }
    rendered
}

/// Renders a compound identifier (`SELECT ... INTO schema.t`) like a name.
pub(crate) fn render_idents(idents: &[Ident]) -> String {
    idents
        .iter()
        .map(|ident| ident.value.as_str())
        .collect::<Vec<_>>()
        .join(".")
}
