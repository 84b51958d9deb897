//! The fields of one `[[rule]]`: which its kind takes, and the checks of
//! each that serde cannot make, with errors that name the rule and the line.

use std::ops::Range;

use toml::Spanned;

use super::line_of;
use crate::error::{Location, Result, RuleRef, RulesError};
use crate::file::{RuleKind, RuleSpec};
use crate::rule::{TableNames, When};
use crate::window::{Window, parse_time};

/// One `[[rule]]` being compiled, for error messages.
pub(super) struct Here<'a> {
    pub text: &'a str,
    pub rule: RuleRef,
    /// The line of the `[[rule]]` header.
    pub line: usize,
}

impl Here<'_> {
    /// An error about `field`, at `span` (or at the header when the field is
    /// missing).
    pub(super) fn invalid(
        &self,
        field: &'static str,
        span: Option<Range<usize>>,
        message: String,
    ) -> RulesError {
        RulesError::Invalid {
            location: Location {
                rule: Some(self.rule.clone()),
                line: Some(span.map_or(self.line, |s| line_of(self.text, s.start))),
            },
            field,
            message,
        }
    }

    /// The value of a field the rule's kind requires.
    pub(super) fn required<'s, T>(
        &self,
        field: &'static str,
        value: &'s Option<Spanned<T>>,
        kind: RuleKind,
    ) -> Result<&'s Spanned<T>> {
        value.as_ref().ok_or_else(|| self.missing(field, kind))
    }

    /// The error for a field the rule's kind requires and the rule lacks.
    pub(super) fn missing(&self, field: &'static str, kind: RuleKind) -> RulesError {
        let what = match field {
            "classes" => "the classes it denies",
            "tables" => "the tables it denies",
            "from" | "to" => "`from` and `to` (HH:MM, UTC)",
            "max_bytes" => "the longest statement allowed, in bytes",
            "label" => "the label whose values it limits separately",
            "per_second" => "the statements per second allowed",
            "max" => "the statements in flight allowed",
            _ => "it",
        };
        self.invalid(field, None, format!("missing; a {kind} rule needs {what}"))
    }
}

/// The fields of its own that each kind takes, besides `kind`, `name`,
/// `shadow`, `when` and `classes`.
pub(super) fn takes(kind: RuleKind) -> &'static [&'static str] {
    match kind {
        RuleKind::DenyClass => &["classes"],
        RuleKind::DenyTables => &["tables"],
        RuleKind::RequireWhere => &[],
        RuleKind::TimeWindow => &["from", "to", "days"],
        RuleKind::MaxLength => &["max_bytes"],
        RuleKind::RateLimit => &["label", "per_second", "burst"],
        RuleKind::MaxConcurrent => &["label", "max"],
    }
}

/// Rejects fields that the rule's kind does not take.
pub(super) fn check_fields(here: &Here<'_>, spec: &RuleSpec) -> Result<()> {
    let given: [(&'static str, Option<Range<usize>>); 9] = [
        ("tables", spec.tables.as_ref().map(Spanned::span)),
        ("days", spec.days.as_ref().map(Spanned::span)),
        ("from", spec.from.as_ref().map(Spanned::span)),
        ("to", spec.to.as_ref().map(Spanned::span)),
        ("label", spec.label.as_ref().map(Spanned::span)),
        ("per_second", spec.per_second.as_ref().map(Spanned::span)),
        ("burst", spec.burst.as_ref().map(Spanned::span)),
        ("max", spec.max.as_ref().map(Spanned::span)),
        ("max_bytes", spec.max_bytes.as_ref().map(Spanned::span)),
    ];
    let kind = spec.kind;
    let takes = takes(kind);
    for (field, span) in given {
        if let Some(span) = span
            && !takes.contains(&field)
        {
            let own = if takes.is_empty() {
                "no fields besides name, shadow, when and classes".to_owned()
            } else {
                format!("`{}`", takes.join("`, `"))
            };
            return Err(here.invalid(
                field,
                Some(span),
                format!("a {kind} rule does not take it; it takes {own}"),
            ));
        }
    }
    Ok(())
}

pub(super) fn when(here: &Here<'_>, spec: &RuleSpec) -> Result<When> {
    let Some(when) = &spec.when else {
        return Ok(When::default());
    };
    let mut conditions = Vec::with_capacity(when.get_ref().len());
    for (label, values) in when.get_ref() {
        if label.trim().is_empty() {
            return Err(here.invalid("when", Some(when.span()), "names an empty label".into()));
        }
        if values.0.is_empty() {
            return Err(here.invalid(
                "when",
                Some(when.span()),
                format!("label `{label}` lists no values; list at least one"),
            ));
        }
        conditions.push((label.clone(), values.0.clone()));
    }
    Ok(When::new(conditions))
}

pub(super) fn tables(here: &Here<'_>, spec: &RuleSpec) -> Result<TableNames> {
    let tables = here.required("tables", &spec.tables, spec.kind)?;
    if tables.get_ref().is_empty() {
        return Err(here.invalid(
            "tables",
            Some(tables.span()),
            "is empty; list at least one table".into(),
        ));
    }
    for table in tables.get_ref() {
        if table.contains(['"', '`', '[', ']']) {
            return Err(here.invalid(
                "tables",
                Some(tables.span()),
                format!(
                    "{table:?} is quoted; write names without quotes (`hr.payroll`): they are matched ignoring case against the tables a statement names, which are reported unquoted"
                ),
            ));
        }
        if table.is_empty() || table.split('.').any(|part| part.trim().is_empty()) {
            return Err(here.invalid(
                "tables",
                Some(tables.span()),
                format!(
                    "{table:?} is not a table name; write `table` or `schema.table`, without quotes"
                ),
            ));
        }
    }
    Ok(TableNames::new(tables.get_ref().clone()))
}

pub(super) fn window(here: &Here<'_>, spec: &RuleSpec) -> Result<Window> {
    let kind = spec.kind;
    let from = here.required("from", &spec.from, kind)?;
    let to = here.required("to", &spec.to, kind)?;
    let start = parse_time(from.get_ref(), false)
        .map_err(|m| here.invalid("from", Some(from.span()), m))?;
    let end = parse_time(to.get_ref(), true).map_err(|m| here.invalid("to", Some(to.span()), m))?;
    if start == end {
        return Err(here.invalid(
            "to",
            Some(to.span()),
            "equals `from`: the window would be empty (for the whole day, write from = \"00:00\", to = \"24:00\")".into(),
        ));
    }
    let days = match &spec.days {
        Some(days) if days.get_ref().is_empty() => {
            return Err(here.invalid(
                "days",
                Some(days.span()),
                "is empty; list days, or leave it out for every day".into(),
            ));
        }
        Some(days) => days.get_ref().as_slice(),
        None => &[],
    };
    Ok(Window::new(start, end, days))
}
