//! Compiled rules: what a `[[rule]]` becomes once loaded, and how a static
//! rule judges a statement. Everything a check needs is prepared at load
//! (class bitsets, table names, parsed times), so judging allocates only
//! the reason of a denial.

use std::fmt::{self, Write as _};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use switchboard_core::class::Classification;
use switchboard_core::guard::Statement;
use switchboard_core::{Labels, StatementClass};
use switchboard_sql::{Dialect, table_matches};

use crate::limit::{ConcurrencyLimit, RateLimit};
use crate::window::Window;

/// One rule, of a static kind (`Test`) or a stateful one (`Limit`).
#[derive(Debug)]
pub(crate) struct Rule<K> {
    pub name: Arc<str>,
    /// Reports instead of denying (the rule's own `shadow`, or the set's).
    pub shadow: bool,
    pub when: When,
    pub classes: ClassSet,
    pub kind: K,
}

/// What a static rule tests.
#[derive(Debug)]
pub(crate) enum Test {
    /// Every statement of the rule's classes is denied.
    DenyClass,
    DenyTables(TableNames),
    RequireWhere,
    TimeWindow(Window),
    MaxLength(usize),
}

/// A stateful rule.
#[derive(Debug)]
pub(crate) enum Limit {
    Rate(RateLimit),
    Concurrent(ConcurrencyLimit),
}

impl Limit {
    /// The label whose values it limits separately.
    pub(crate) fn label(&self) -> &str {
        match self {
            Limit::Rate(r) => &r.label,
            Limit::Concurrent(c) => &c.label,
        }
    }
}

impl<K> Rule<K> {
    /// Whether the rule is about a statement of `class` with `labels`.
    pub(crate) fn applies(&self, class: StatementClass, labels: &Labels) -> bool {
        self.classes.contains(class) && self.when.matches(labels)
    }

    /// `rule "name": ` and what follows, for reasons.
    pub(crate) fn reason(&self, what: fmt::Arguments<'_>, labels: &Labels) -> String {
        let mut reason = format!("rule \"{}\": {what}", self.name);
        self.when.describe(labels, None, &mut reason);
        reason
    }
}

impl Rule<Test> {
    /// Why the rule denies the statement, if it does. `parsed` is `None`
    /// when the statement could not be parsed: then only the class filter
    /// (as `misc`), the time and the length can be judged. `dialect` is the
    /// statement's backend's, for comparing table names as it resolves them.
    pub(crate) fn violation(
        &self,
        statement: &Statement,
        parsed: Option<&Classification>,
        dialect: Dialect,
        labels: &Labels,
        at: DateTime<Utc>,
    ) -> Option<String> {
        let class = statement.class();
        let operation = parsed.map_or("an unparsed statement", |c| c.operation.as_str());
        match &self.kind {
            Test::DenyClass => Some(self.reason(
                format_args!("{class} statements are denied ({operation})"),
                labels,
            )),
            Test::DenyTables(names) => {
                let table = names.first_denied(&parsed?.tables, dialect)?;
                Some(self.reason(format_args!("table {table} is denied"), labels))
            }
            Test::RequireWhere => {
                let parsed = parsed.filter(|c| c.missing_where)?;
                let operation = match parsed.operation.as_str() {
                    op @ ("UPDATE" | "DELETE") => op,
                    _ => "UPDATE or DELETE",
                };
                Some(self.reason(format_args!("{operation} without WHERE"), labels))
            }
            Test::TimeWindow(window) => window.contains(at).then(|| {
                self.reason(
                    format_args!("{class} statements are denied {window} ({operation})"),
                    labels,
                )
            }),
            Test::MaxLength(max) => {
                let len = statement.sql.len();
                (len > *max).then(|| {
                    self.reason(
                        format_args!("statement is {len} bytes long, over the limit of {max}"),
                        labels,
                    )
                })
            }
        }
    }
}

/// A set of statement classes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ClassSet(u8);

impl ClassSet {
    pub(crate) const ALL: ClassSet = ClassSet(0b1_1111);

    pub(crate) fn of(classes: &[StatementClass]) -> Self {
        ClassSet(classes.iter().fold(0, |bits, c| bits | Self::bit(*c)))
    }

    pub(crate) fn contains(self, class: StatementClass) -> bool {
        self.0 & Self::bit(class) != 0
    }

    fn bit(class: StatementClass) -> u8 {
        match class {
            StatementClass::Read => 1,
            StatementClass::Write => 2,
            StatementClass::Ddl => 4,
            StatementClass::Role => 8,
            // Misc, and any class added later: the catch-all class.
            _ => 16,
        }
    }
}

/// A rule's `when`: every listed label must have one of its values.
#[derive(Debug, Default)]
pub(crate) struct When(Box<[Condition]>);

/// One label of a `when`, with the values it accepts.
#[derive(Debug)]
pub(crate) struct Condition {
    label: Box<str>,
    values: Box<[Box<str>]>,
}

impl When {
    pub(crate) fn new(conditions: Vec<(String, Vec<String>)>) -> Self {
        When(
            conditions
                .into_iter()
                .map(|(label, values)| Condition {
                    label: label.into_boxed_str(),
                    values: values.into_iter().map(String::into_boxed_str).collect(),
                })
                .collect(),
        )
    }

    pub(crate) fn matches(&self, labels: &Labels) -> bool {
        self.0.iter().all(|c| {
            labels
                .get(&c.label)
                .is_some_and(|value| c.values.iter().any(|v| **v == *value))
        })
    }

    /// Appends ` for k=v, ...` naming the conditioned labels and then
    /// `also` (a limit's label), as `labels` has them.
    pub(crate) fn describe(&self, labels: &Labels, also: Option<&str>, out: &mut String) {
        let keys = self
            .0
            .iter()
            .map(|c| &*c.label)
            .chain(also.filter(|l| !self.0.iter().any(|c| &*c.label == *l)));
        for (i, key) in keys.enumerate() {
            out.push_str(if i == 0 { " for " } else { ", " });
            let _ = write!(out, "{key}={}", labels.get(key).unwrap_or("(none)"));
        }
    }
}

/// The tables a `deny_tables` rule lists, unquoted dotted names.
///
/// A listed name matches a statement's table as
/// [`switchboard_sql::table_matches`] says: part by part from the right,
/// ignoring case, so `payroll` matches `payroll`, `hr.payroll` and
/// `db.hr.payroll`, and `hr.salaries` matches `hr.salaries` and
/// `db.hr.salaries` but not an unqualified `salaries`, whose schema the
/// statement does not say. Ignoring case is what makes the match hold on
/// every server: the classifier reports names folded as the server folds
/// them (PostgreSQL lower-cases unquoted names, SQLite ignores case), but
/// MySQL's case sensitivity is the server's setting, and a deny list must
/// rather deny PostgreSQL's `"Payroll"` along with `payroll` than miss one.
#[derive(Debug)]
pub(crate) struct TableNames(Box<[Box<str>]>);

impl TableNames {
    pub(crate) fn new(names: Vec<String>) -> Self {
        TableNames(names.into_iter().map(String::into_boxed_str).collect())
    }

    /// The first of `tables` that a listed name matches on `dialect`.
    pub(crate) fn first_denied<'t>(
        &self,
        tables: &'t [String],
        dialect: Dialect,
    ) -> Option<&'t str> {
        tables
            .iter()
            .find(|table| {
                self.0
                    .iter()
                    .any(|name| table_matches(table, name, dialect))
            })
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_names_match_trailing_components_ignoring_case() {
        let names = TableNames::new(vec!["payroll".into(), "HR.Salaries".into()]);
        let denied = |t: &str| {
            names
                .first_denied(&[t.to_owned()], Dialect::Postgres)
                .is_some()
        };
        assert!(denied("payroll"));
        assert!(denied("PAYROLL"));
        assert!(denied("hr.payroll"));
        assert!(denied("db.hr.Payroll"));
        assert!(!denied("payroll_archive"));
        assert!(!denied("old_payroll"));
        assert!(!denied("payroll.entries"));
        assert!(denied("hr.salaries"));
        assert!(denied("corp.hr.salaries"));
        assert!(!denied("salaries"), "unqualified: schema unknown");
        assert!(!denied("xhr.salaries"));
        assert!(!denied("é"), "short and non-ASCII tables do not panic");
    }

    #[test]
    fn the_first_denied_table_is_named() {
        let names = TableNames::new(vec!["b".into(), "c".into()]);
        let tables = ["a".to_owned(), "c".to_owned(), "b".to_owned()];
        assert_eq!(names.first_denied(&tables, Dialect::Sqlite), Some("c"));
    }

    #[test]
    fn when_needs_every_label_with_one_of_its_values() {
        let when = When::new(vec![
            ("tenant".into(), vec!["acme".into(), "globex".into()]),
            ("env".into(), vec!["prod".into()]),
        ]);
        let labels = |pairs: &[(&str, &str)]| pairs.iter().copied().collect::<Labels>();
        assert!(when.matches(&labels(&[("tenant", "acme"), ("env", "prod")])));
        assert!(when.matches(&labels(&[
            ("tenant", "globex"),
            ("env", "prod"),
            ("x", "y")
        ])));
        assert!(!when.matches(&labels(&[("tenant", "initech"), ("env", "prod")])));
        assert!(!when.matches(&labels(&[("tenant", "acme")])));
        assert!(!when.matches(&labels(&[("tenant", "ACME"), ("env", "prod")])));
        assert!(When::default().matches(&Labels::new()));
    }

    #[test]
    fn class_sets() {
        let set = ClassSet::of(&[StatementClass::Ddl, StatementClass::Role]);
        assert!(set.contains(StatementClass::Ddl));
        assert!(set.contains(StatementClass::Role));
        assert!(!set.contains(StatementClass::Read));
        assert!(!set.contains(StatementClass::Misc));
        assert!(
            StatementClass::ALL
                .iter()
                .all(|c| ClassSet::ALL.contains(*c))
        );
    }
}
