//! From the text of a rules file to a [`RuleSet`]: parse with serde, then
//! check what serde cannot (empty lists, times, limits, fields a kind does
//! not take, duplicate names) and prepare each rule for fast checks.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use crate::error::{Location, Result, RuleRef, RulesError};
use crate::file::{OnParseError, RuleKind, RuleSpec, RulesFile};
use crate::limit::{Buckets, ConcurrencyLimit, InFlight, RateLimit};
use crate::rule::{ClassSet, Limit, Rule, Test};

mod fields;
use fields::{Here, check_fields, tables, when, window};

/// The guard's name when the file gives none.
pub(crate) const DEFAULT_NAME: &str = "rules";
/// The default of `max_label_values`.
pub(crate) const DEFAULT_MAX_LABEL_VALUES: usize = 10_000;
/// Names that reasons and reports use for the set's own checks; no rule may
/// take them.
pub(crate) const READ_ONLY: &str = "read_only";
pub(crate) const PARSE_ERROR: &str = "on_parse_error";

/// A loaded rules file, ready to judge statements.
#[derive(Debug)]
pub(crate) struct RuleSet {
    pub name: Box<str>,
    pub shadow: bool,
    /// The file's `read_only`: the engine's mode when it is created.
    pub read_only: bool,
    pub on_parse_error: OnParseError,
    /// Static rules, in file order.
    pub statics: Box<[Rule<Test>]>,
    /// Stateful rules, in file order; asked after every static rule.
    pub limits: Box<[Rule<Limit>]>,
}

impl RuleSet {
    pub(crate) fn len(&self) -> usize {
        self.statics.len() + self.limits.len()
    }
}

/// Reads and checks a rules file. Stateful rules whose name, kind and
/// label are the same as in `previous` keep its counters.
pub(crate) fn compile(text: &str, previous: Option<&RuleSet>) -> Result<RuleSet> {
    let file: RulesFile = toml::from_str(text).map_err(RulesError::Syntax)?;
    let top = |field, span: Range<usize>, message: String| RulesError::Invalid {
        location: Location {
            rule: None,
            line: Some(line_of(text, span.start)),
        },
        field,
        message,
    };

    let name = match &file.name {
        Some(name) if name.get_ref().trim().is_empty() => {
            return Err(top("name", name.span(), "is empty; name the guard".into()));
        }
        Some(name) => name.get_ref().as_str(),
        None => DEFAULT_NAME,
    };
    let max_values = match &file.max_label_values {
        Some(v) => NonZeroUsize::new(*v.get_ref())
            .ok_or_else(|| top("max_label_values", v.span(), "must be at least 1".into()))?,
        None => NonZeroUsize::new(DEFAULT_MAX_LABEL_VALUES).unwrap_or(NonZeroUsize::MIN),
    };

    let mut compiler = Compiler {
        text,
        shadow: file.shadow,
        max_values,
        previous,
        names: HashMap::new(),
        statics: Vec::new(),
        limits: Vec::new(),
    };
    for (i, spec) in file.rules.iter().enumerate() {
        compiler.rule(i + 1, spec)?;
    }
    Ok(RuleSet {
        name: name.into(),
        shadow: file.shadow,
        read_only: file.read_only,
        on_parse_error: file.on_parse_error,
        statics: compiler.statics.into(),
        limits: compiler.limits.into(),
    })
}

struct Compiler<'a> {
    text: &'a str,
    shadow: bool,
    max_values: NonZeroUsize,
    previous: Option<&'a RuleSet>,
    /// Names taken so far, with the position and line of their rule.
    names: HashMap<String, (usize, usize)>,
    statics: Vec<Rule<Test>>,
    limits: Vec<Rule<Limit>>,
}

impl Compiler<'_> {
    fn rule(&mut self, position: usize, spec: &Spanned<RuleSpec>) -> Result<()> {
        let header = line_of(self.text, spec.span().start);
        let spec = spec.get_ref();
        let kind = spec.kind;
        let here = Here {
            text: self.text,
            rule: RuleRef {
                name: spec.name.as_ref().map(|n| n.get_ref().clone()),
                position,
            },
            line: header,
        };

        let name = self.name(&here, spec, position, header)?;
        check_fields(&here, spec)?;

        let classes = match &spec.classes {
            Some(classes) if classes.get_ref().is_empty() => {
                let hint = if kind == RuleKind::DenyClass {
                    "list the classes to deny: read, write, ddl, role, misc"
                } else {
                    "list some of read, write, ddl, role, misc, or leave it out for every class"
                };
                return Err(here.invalid(
                    "classes",
                    Some(classes.span()),
                    format!("is empty; {hint}"),
                ));
            }
            Some(classes) => ClassSet::of(classes.get_ref()),
            None if kind == RuleKind::DenyClass => return Err(here.missing("classes", kind)),
            None => ClassSet::ALL,
        };
        let when = when(&here, spec)?;
        let shadow = self.shadow || spec.shadow;

        let test = match kind {
            RuleKind::DenyClass => Some(Test::DenyClass),
            RuleKind::DenyTables => Some(Test::DenyTables(tables(&here, spec)?)),
            RuleKind::RequireWhere => Some(Test::RequireWhere),
            RuleKind::TimeWindow => Some(Test::TimeWindow(window(&here, spec)?)),
            RuleKind::MaxLength => {
                let max = here.required("max_bytes", &spec.max_bytes, kind)?;
                if *max.get_ref() == 0 {
                    return Err(here.invalid(
                        "max_bytes",
                        Some(max.span()),
                        "must be at least 1".into(),
                    ));
                }
                Some(Test::MaxLength(*max.get_ref()))
            }
            RuleKind::RateLimit | RuleKind::MaxConcurrent => None,
        };
        match test {
            Some(kind) => self.statics.push(Rule {
                name,
                shadow,
                when,
                classes,
                kind,
            }),
            None => {
                let kind = self.limit(&here, spec, &name)?;
                self.limits.push(Rule {
                    name,
                    shadow,
                    when,
                    classes,
                    kind,
                });
            }
        }
        Ok(())
    }

    /// The rule's name (given or `rule N (kind)`), unique in the file.
    fn name(
        &mut self,
        here: &Here<'_>,
        spec: &RuleSpec,
        position: usize,
        header: usize,
    ) -> Result<Arc<str>> {
        let (name, line) = match &spec.name {
            Some(n) => {
                let name = n.get_ref().trim();
                if name.is_empty() {
                    return Err(here.invalid(
                        "name",
                        Some(n.span()),
                        "is empty; name the rule or leave `name` out".into(),
                    ));
                }
                if name == READ_ONLY || name == PARSE_ERROR {
                    return Err(here.invalid(
                        "name",
                        Some(n.span()),
                        format!(
                            "\"{name}\" is reserved for the setting of that name; choose another"
                        ),
                    ));
                }
                (name.to_owned(), line_of(self.text, n.span().start))
            }
            None => (format!("rule {position} ({})", spec.kind), header),
        };
        if let Some((first, first_line)) = self.names.get(&name) {
            return Err(here.invalid(
                "name",
                spec.name.as_ref().map(Spanned::span),
                format!(
                    "\"{name}\" is also the name of the {} [[rule]] (line {first_line}); rule names must be unique",
                    crate::error::Ordinal(*first)
                ),
            ));
        }
        self.names.insert(name.clone(), (position, line));
        Ok(name.into())
    }

    /// A stateful rule, keeping the counters of the previous rule of the
    /// same name, kind and label.
    fn limit(&self, here: &Here<'_>, spec: &RuleSpec, name: &str) -> Result<Limit> {
        let kind = spec.kind;
        let label = here.required("label", &spec.label, kind)?;
        if label.get_ref().trim().is_empty() {
            return Err(here.invalid(
                "label",
                Some(label.span()),
                "is empty; name the label whose values are limited".into(),
            ));
        }
        let label: Box<str> = label.get_ref().as_str().into();
        let previous = self
            .previous
            .and_then(|set| set.limits.iter().find(|r| &*r.name == name))
            .map(|rule| &rule.kind)
            .filter(|limit| limit.label() == &*label);

        if kind == RuleKind::RateLimit {
            let per_second = here.required("per_second", &spec.per_second, kind)?;
            let rate = *per_second.get_ref();
            if !(rate.is_finite() && rate > 0.0) {
                return Err(here.invalid(
                    "per_second",
                    Some(per_second.span()),
                    format!("must be a number of statements per second above 0, not {rate}"),
                ));
            }
            let burst = match &spec.burst {
                Some(b) if *b.get_ref() == 0 => {
                    return Err(here.invalid("burst", Some(b.span()), "must be at least 1".into()));
                }
                Some(b) => f64::from(*b.get_ref()),
                None => rate.ceil().max(1.0),
            };
            let state = match previous {
                Some(Limit::Rate(old)) => {
                    old.state.resize(self.max_values);
                    Arc::clone(&old.state)
                }
                _ => Buckets::new(self.max_values),
            };
            Ok(Limit::Rate(RateLimit {
                label,
                per_second: rate,
                burst,
                state,
            }))
        } else {
            let max = here.required("max", &spec.max, kind)?;
            if *max.get_ref() == 0 {
                return Err(here.invalid(
                    "max",
                    Some(max.span()),
                    "must be at least 1 (to deny every statement, use a deny_class rule)".into(),
                ));
            }
            let state = match previous {
                Some(Limit::Concurrent(old)) => Arc::clone(&old.state),
                _ => InFlight::new(),
            };
            Ok(Limit::Concurrent(ConcurrencyLimit {
                label,
                max: *max.get_ref(),
                values: self.max_values.get(),
                state,
            }))
        }
    }
}

/// The 1-based line of byte `offset` in `text`.
pub(crate) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

#[cfg(test)]
mod tests;
